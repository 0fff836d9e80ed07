"""Native graph formats: versioned JSON (exact round trip) and a compact binary form (.npz)."""
from __future__ import annotations

import difflib
import json
import reprlib
from pathlib import Path
from typing import Any

import numpy as np

from mcmcore.errors import InvalidGraphError
from mcmcore.graph import Graph, _check_n_nodes

__all__ = ["graph_to_dict", "graph_from_dict", "save_graph", "load_graph", "FORMAT", "VERSION"]

FORMAT = "mcmcore-graph"
VERSION = 1
_OPTIONAL = ("latency", "supported", "comm_time", "color", "pin", "backward")
#: Every top-level field of a native JSON document; anything else is a mistake (a misspelled "flop" silently
#: dropped would give a graph with zero FLOPs).
_FIELDS = ("format", "version", "name", "n_nodes", "names", "ops", "flops", "mem_bytes", "weight_bytes",
           "out_bytes") + _OPTIONAL + ("edges",)
#: Every array of the binary form (a misspelled array, like a misspelled JSON field, is an error, not dropped).
_NPZ_ARRAYS = ("meta", "names", "name_lengths", "op_index", "succ_ptr", "succ_idx", "flops", "mem_bytes",
               "weight_bytes", "out_bytes") + _OPTIONAL


def graph_to_dict(g: Graph) -> dict[str, Any]:
    """The native JSON document of a graph. Floats are written with repr, so loading gives identical values."""
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION, "name": g.name, "n_nodes": g.n_nodes,
                           "names": list(g.names), "ops": list(g.ops)}
    for f in ("flops", "mem_bytes", "weight_bytes", "out_bytes"):
        doc[f] = getattr(g, f).tolist()
    for f in _OPTIONAL:
        v = getattr(g, f)
        doc[f] = None if v is None else v.tolist()
    doc["edges"] = g.edges.tolist()
    return doc


def graph_from_dict(doc: Any, *, source: str = "graph") -> Graph:
    """Build a graph from a native JSON document; errors name ``source`` and the field."""
    if not isinstance(doc, dict):
        raise InvalidGraphError(f"{source}: expected a JSON object at the top level, got {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        got = reprlib.repr(doc.get("format"))
        raise InvalidGraphError(f"{source}: not an mcmcore graph (field 'format' is {got}, expected {FORMAT!r})")
    version = doc.get("version")
    if version != VERSION or isinstance(version, bool):  # True == 1
        raise InvalidGraphError(f"{source}: unsupported graph format version {reprlib.repr(version)} (this mcmcore "
                                f"reads version {VERSION})")
    unknown = [k for k in doc if k not in _FIELDS]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), _FIELDS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(_FIELDS)}"
        raise InvalidGraphError(f"{source}: unknown field {key!r} ({hint})")
    for req in ("n_nodes", "edges"):
        if req not in doc:
            raise InvalidGraphError(f"{source}: missing field {req!r}")
    n = doc["n_nodes"]
    fields = {f: doc.get(f) for f in ("flops", "mem_bytes", "weight_bytes", "out_bytes") + _OPTIONAL}
    try:
        _check_graph_name(doc.get("name"))
        # No int cast here: from_edges rejects non-integer ids (a cast would truncate 0.5 to node 0).
        edges = doc["edges"] if doc["edges"] is not None else []
        return Graph.from_edges(n, edges,
                                names=doc.get("names"), ops=doc.get("ops"), name=doc.get("name"), **fields)
    except InvalidGraphError as exc:
        raise type(exc)(f"{source}: {exc}", *([exc.cycle] if hasattr(exc, "cycle") else [])) from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidGraphError(f"{source}: malformed graph ({exc})") from None


def _check_graph_name(name) -> None:
    """The graph's name is text or null; str() would turn 5 or ["a"] into a name nobody wrote."""
    if name is not None and not isinstance(name, str):
        raise InvalidGraphError(f"name (of the graph) must be a string or null, got {reprlib.repr(name)}")


def save_graph(g: Graph, path) -> None:
    """Write ``g`` as native JSON (``.json``, the default) or the binary form (``.npz``)."""
    path = Path(path)
    if path.suffix == ".npz":
        arrays: dict[str, Any] = {
            "meta": np.frombuffer(json.dumps({"format": FORMAT, "version": VERSION, "name": g.name,
                                              "n_nodes": g.n_nodes, "op_types": list(g.op_types)}).encode(),
                                  dtype=np.uint8),
            # Names as concatenated UTF-8 plus byte lengths, so any name (even one holding "\0") round-trips.
            "names": np.frombuffer("".join(g.names).encode(), dtype=np.uint8),
            "name_lengths": np.array([len(x.encode()) for x in g.names], dtype=np.int64),
            "op_index": g.op_index, "succ_ptr": g.succ_ptr, "succ_idx": g.succ_idx,
        }
        for f in ("flops", "mem_bytes", "weight_bytes", "out_bytes") + _OPTIONAL:
            v = getattr(g, f)
            if v is not None:
                arrays[f] = v
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
        return
    path.write_text(json.dumps(graph_to_dict(g), separators=(",", ":")))


def load_graph(path) -> Graph:
    """Load a graph from native JSON or the binary ``.npz`` form.

    Raises
    ------
    InvalidGraphError
        Naming the file: not found, truncated or malformed JSON, a missing field, a bad value.
    """
    path = Path(path)
    if path.suffix == ".npz" and path.exists():
        return _load_npz(path)
    return graph_from_dict(read_json_document(path), source=str(path))


def read_json_document(path) -> Any:
    """Parse a JSON file; every failure is an InvalidGraphError that names the file (missing, truncated or
    malformed JSON, not text, unreadable)."""
    path = Path(path)
    if not path.exists():
        raise InvalidGraphError(f"{path}: no such file")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidGraphError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                                f"is the file truncated?") from None
    except UnicodeDecodeError:
        raise InvalidGraphError(f"{path}: not a text file") from None
    except OSError as exc:  # a directory, no permission, ...
        raise InvalidGraphError(f"{path}: cannot read the file ({exc.strerror or exc})") from None


def _load_npz(path: Path) -> Graph:
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError
        raise InvalidGraphError(f"{path}: not a valid .npz graph ({exc})") from None
    try:
        return _graph_from_arrays(data)
    except InvalidGraphError as exc:
        raise type(exc)(f"{path}: {exc}", *([exc.cycle] if hasattr(exc, "cycle") else [])) from None
    except (KeyError, ValueError, TypeError, IndexError, OverflowError) as exc:
        raise InvalidGraphError(f"{path}: malformed .npz graph ({exc})") from None


def _graph_from_arrays(data: dict[str, np.ndarray]) -> Graph:
    """The graph held by the arrays of a .npz file. The structural arrays (CSR, op and name indices) are checked
    here, since numpy would wrap a negative index round, truncate a float one or read a bad offset silently;
    the costs and flags are checked by ``Graph.from_edges``. Errors name the array; the caller adds the file."""
    for key in ("meta", "names", "op_index", "succ_ptr", "succ_idx"):
        if key not in data:
            raise InvalidGraphError(f"malformed .npz graph: array {key!r} is missing")
    unknown = [k for k in data if k not in _NPZ_ARRAYS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], _NPZ_ARRAYS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known arrays: {', '.join(_NPZ_ARRAYS)}"
        raise InvalidGraphError(f"unknown array {unknown[0]!r} ({hint})")

    meta_bytes = _byte_array("meta", data["meta"])
    try:
        meta = json.loads(meta_bytes.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidGraphError(f"meta is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise InvalidGraphError(f"meta must be a JSON object, got {type(meta).__name__} {reprlib.repr(meta)}")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION or isinstance(meta.get("version"), bool):
        raise InvalidGraphError(f"not an mcmcore graph of version {VERSION} (meta has format "
                                f"{reprlib.repr(meta.get('format'))}, version {reprlib.repr(meta.get('version'))})")
    for key in ("n_nodes", "op_types"):
        if key not in meta:
            raise InvalidGraphError(f"meta has no {key!r}")
    n = _check_n_nodes(meta["n_nodes"])
    _check_graph_name(meta.get("name"))
    op_types = meta["op_types"]
    if not isinstance(op_types, list) or not all(isinstance(x, str) for x in op_types):
        raise InvalidGraphError(f"meta op_types must be a list of strings, got {reprlib.repr(op_types)}")

    # CSR: succ_ptr[i]:succ_ptr[i + 1] are the successors of node i in succ_idx.
    ptr = _index_array("succ_ptr", data["succ_ptr"], n + 1, f"n_nodes + 1; meta gives n_nodes = {n}")
    idx = _index_array("succ_idx", data["succ_idx"])
    if ptr[0] != 0:
        raise InvalidGraphError(f"succ_ptr must start at 0, got {ptr[0]}")
    drop = np.flatnonzero(ptr[1:] < ptr[:-1])
    if drop.size:
        i = int(drop[0])
        raise InvalidGraphError(f"succ_ptr must be non-decreasing: succ_ptr[{i + 1}] = {ptr[i + 1]} < "
                                f"succ_ptr[{i}] = {ptr[i]}")
    if ptr[-1] != len(idx):
        raise InvalidGraphError(f"succ_ptr must end at the length of succ_idx ({len(idx)}), got {ptr[-1]}")
    bad = np.flatnonzero((idx < 0) | (idx >= n))
    if bad.size:
        j = int(bad[0])
        raise InvalidGraphError(f"succ_idx[{j}] is {idx[j]}: node {idx[j]} does not exist (the graph has {n} "
                                f"nodes)")
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr.astype(np.int64)))
    edges = np.stack([src, idx.astype(np.int64)], axis=1)

    op_index = _index_array("op_index", data["op_index"], n, f"one per node; meta gives n_nodes = {n}")
    bad = np.flatnonzero((op_index < 0) | (op_index >= len(op_types)))
    if bad.size:
        i = int(bad[0])
        raise InvalidGraphError(f"op_index of node {i} is {op_index[i]}, not an index into meta op_types "
                                f"({len(op_types)} entries)")
    ops = [op_types[i] for i in op_index.tolist()]

    # Names: concatenated UTF-8 and the byte length of each (files written before name_lengths join by "\0").
    raw = _byte_array("names", data["names"])
    if "name_lengths" in data:
        lengths = _index_array("name_lengths", data["name_lengths"], n,
                               f"one per node; meta gives n_nodes = {n}")
        bad = np.flatnonzero((lengths < 0) | (lengths > len(raw)))
        if bad.size:
            i = int(bad[0])
            raise InvalidGraphError(f"name_lengths of node {i} is {lengths[i]}; a length must be >= 0 and at most "
                                    f"the {len(raw)} bytes of names")
        ends = np.cumsum(lengths.astype(np.int64)).tolist()
        if (ends[-1] if ends else 0) != len(raw):
            raise InvalidGraphError(f"name_lengths add up to {ends[-1] if ends else 0} bytes but names holds "
                                    f"{len(raw)}")
        chunks = [raw[a:b] for a, b in zip([0] + ends[:-1], ends)]
    else:
        chunks = raw.split(b"\0") if n else []
    try:
        names = [chunk.decode() for chunk in chunks]
    except UnicodeDecodeError:
        for i, chunk in enumerate(chunks):
            try:
                chunk.decode()
            except UnicodeDecodeError as exc:
                raise InvalidGraphError(f"name of node {i} is not valid UTF-8 ({exc.reason} at byte "
                                        f"{exc.start})") from None
        raise

    fields = {f: data.get(f) for f in ("flops", "mem_bytes", "weight_bytes", "out_bytes") + _OPTIONAL}
    return Graph.from_edges(n, edges, names=names, ops=ops, name=meta.get("name"), **fields)


def _byte_array(key: str, a: np.ndarray) -> bytes:
    """A 1-D uint8 array as bytes (``bytes()`` of any other array would read its raw memory as text)."""
    if a.dtype != np.uint8 or a.ndim != 1:
        raise InvalidGraphError(f"{key} must be a 1-D uint8 array (UTF-8 bytes), got {a.dtype} of shape {a.shape}")
    return a.tobytes()


def _index_array(key: str, a: np.ndarray, length: int | None = None, why: str = "") -> np.ndarray:
    """A 1-D integer array (of ``length`` entries): a float one would be truncated, a bool one read as 0/1."""
    if a.dtype.kind not in "iu":
        raise InvalidGraphError(f"{key} must be an integer array, got {a.dtype}")
    if a.ndim != 1:
        raise InvalidGraphError(f"{key} must be 1-D, got shape {a.shape}")
    if length is not None and len(a) != length:
        raise InvalidGraphError(f"{key} has {len(a)} entries, expected {length} ({why})")
    return a

"""Native graph formats: versioned JSON (exact round trip) and a compact binary form (.npz)."""
from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import numpy as np

from mcmcore.errors import InvalidGraphError
from mcmcore.graph import Graph

__all__ = ["graph_to_dict", "graph_from_dict", "save_graph", "load_graph", "FORMAT", "VERSION"]

FORMAT = "mcmcore-graph"
VERSION = 1
_OPTIONAL = ("latency", "supported", "comm_time", "color", "pin", "backward")
#: Every top-level field of a native JSON document; anything else is a mistake (a misspelled "flop" silently
#: dropped would give a graph with zero FLOPs).
_FIELDS = ("format", "version", "name", "n_nodes", "names", "ops", "flops", "mem_bytes", "weight_bytes",
           "out_bytes") + _OPTIONAL + ("edges",)


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
        raise InvalidGraphError(f"{source}: not an mcmcore graph (field 'format' is {doc.get('format')!r}, "
                                f"expected {FORMAT!r})")
    version = doc.get("version")
    if version != VERSION:
        raise InvalidGraphError(f"{source}: unsupported graph format version {version!r} (this mcmcore reads "
                                f"version {VERSION})")
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
        # No int cast here: from_edges rejects non-integer ids (a cast would truncate 0.5 to node 0).
        edges = doc["edges"] if doc["edges"] is not None else []
        return Graph.from_edges(n, edges,
                                names=doc.get("names"), ops=doc.get("ops"), name=doc.get("name"), **fields)
    except InvalidGraphError as exc:
        raise type(exc)(f"{source}: {exc}", *([exc.cycle] if hasattr(exc, "cycle") else [])) from None
    except (TypeError, ValueError) as exc:
        raise InvalidGraphError(f"{source}: malformed graph ({exc})") from None


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
        meta = json.loads(bytes(data["meta"]).decode())
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise InvalidGraphError(f"{path}: not an mcmcore graph of version {VERSION}")
        n = int(meta["n_nodes"])
        raw = bytes(data["names"])
        if "name_lengths" in data:
            ends = np.cumsum(data["name_lengths"]).tolist()
            names = [raw[a:b].decode() for a, b in zip([0] + ends[:-1], ends)]
        else:  # files written before name_lengths: names joined by "\0"
            names = raw.decode().split("\0") if n else []
        op_types = meta["op_types"]
        ops = [op_types[i] for i in data["op_index"]]
        ptr, idx = data["succ_ptr"], data["succ_idx"]
        src = np.repeat(np.arange(n, dtype=np.int64), np.diff(ptr))
        edges = np.stack([src, idx.astype(np.int64)], axis=1)
        fields = {f: data.get(f) for f in ("flops", "mem_bytes", "weight_bytes", "out_bytes") + _OPTIONAL}
        return Graph.from_edges(n, edges, names=names, ops=ops, name=meta.get("name"), **fields)
    except InvalidGraphError as exc:
        if str(exc).startswith(f"{path}: "):
            raise
        raise type(exc)(f"{path}: {exc}", *([exc.cycle] if hasattr(exc, "cycle") else [])) from None
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise InvalidGraphError(f"{path}: malformed .npz graph ({exc})") from None

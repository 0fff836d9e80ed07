"""The computation graph: an immutable DAG of operators in CSR form with per-node costs (DESIGN.md, data model)."""
from __future__ import annotations

import hashlib
import itertools
import math
import numbers
import reprlib
from typing import Any, Iterable, Sequence

import numpy as np

from mcmcore import _core
from mcmcore.errors import GraphCycleError, InvalidGraphError
from mcmcore.package import _has_bool

__all__ = ["Graph"]

_COST_FIELDS = ("flops", "mem_bytes", "weight_bytes", "out_bytes")
_NODE_FIELDS = _COST_FIELDS + ("latency", "supported", "comm_time", "color", "pin", "backward")


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


class Graph:
    """An immutable DAG of operators with per-node costs, stored in CSR form.

    Build one with :meth:`Graph.from_edges`, :meth:`Graph.from_networkx` or :func:`mcmcore.load_graph`. Every
    per-node field is a read-only numpy array of length ``n_nodes``:

    - ``flops`` (a multiply-add counts 2), ``mem_bytes`` (bytes moved to and from local memory),
      ``weight_bytes`` (resident on the device), ``out_bytes`` (size of the output tensor): float64, finite, >= 0;
    - ``latency``: None, or (n_nodes, n_kinds) seconds per device kind, overriding the roofline;
    - ``supported``: None (every kind), or (n_nodes, n_kinds) bool: which device kinds can run the node;
    - ``comm_time``: None, or seconds to ship the output once (overrides out_bytes / bandwidth, port model);
    - ``color``: None, or ints (-1 = none): nodes of one color must share a device;
    - ``pin``: None, or device ids (-1 = none);
    - ``backward``: None, or bools marking training backward nodes (exempt from the dataflow constraint).

    Edges are deduplicated; a self-loop or a cycle raises :class:`GraphCycleError`, any malformed value
    :class:`InvalidGraphError`.
    """

    __slots__ = ("name", "n_nodes", "n_edges", "succ_ptr", "succ_idx", "pred_ptr", "pred_idx", "topo_order",
                 "flops", "mem_bytes", "weight_bytes", "out_bytes", "latency", "supported", "comm_time", "color",
                 "pin", "backward", "n_colors", "_color_compact", "_color_ptr", "_color_members", "_names",
                 "_op_types", "_op_index", "_digest", "__weakref__")

    def __init__(self, *args, **kwargs):
        raise TypeError("build a Graph with Graph.from_edges, Graph.from_networkx or mcmcore.load_graph")

    def __setattr__(self, key, value):
        raise AttributeError("Graph is immutable")

    # ------------------------------------------------------------------------------------------------ construction
    @classmethod
    def from_edges(cls, n_nodes: int, edges: Any, *, flops=None, mem_bytes=None, weight_bytes=None,
                   out_bytes=None, latency=None, comm_time=None, color=None, pin=None, backward=None,
                   supported=None, names: Sequence[str] | None = None, ops: Sequence[str] | None = None,
                   name: str | None = None) -> "Graph":
        """Build a graph from ``n_nodes`` and an (E, 2) array-like of ``(src, dst)`` edges.

        Parameters
        ----------
        n_nodes : int
            Number of nodes; ids are ``0 .. n_nodes - 1``.
        edges : array-like of shape (E, 2)
            Directed edges ``src -> dst``. Duplicates are merged.
        flops, mem_bytes, weight_bytes, out_bytes : array-like of shape (n_nodes,), optional
            Costs (default zeros); finite and non-negative.
        latency : array-like of shape (n_nodes,) or (n_nodes, n_kinds), optional
            Seconds per device kind (a 1-D array is one kind).
        comm_time : array-like of shape (n_nodes,), optional
            Seconds to ship each node's output once.
        color, pin : array-like of int of shape (n_nodes,), optional
            -1 = none.
        backward : array-like of bool of shape (n_nodes,), optional
        supported : array-like of bool of shape (n_nodes, n_kinds), optional
        names : sequence of str, optional
            Unique node names (default ``"n0"``, ``"n1"``, ...).
        ops : sequence of str, optional
            Operator type of each node (default ``"op"``).
        name : str, optional
            Name of the graph.

        Raises
        ------
        GraphCycleError
            If the edges form a cycle (the message names one).
        InvalidGraphError
            On a dangling edge, a NaN / negative / infinite cost, a wrong array length, a duplicate name, or a
            value numpy would coerce silently: a bool where a number or id belongs (even among numbers), a complex,
            an integer too large for its field, a name or op that is not a string.
        """
        n = _check_n_nodes(n_nodes)
        src, dst = _check_edges(edges, n, names)
        fields = {
            "flops": flops, "mem_bytes": mem_bytes, "weight_bytes": weight_bytes, "out_bytes": out_bytes,
            "latency": latency, "comm_time": comm_time, "color": color, "pin": pin, "backward": backward,
            "supported": supported,
        }
        return cls._build(n, src, dst, fields, names=names, ops=ops, name=name)

    @classmethod
    def _build(cls, n: int, src: np.ndarray, dst: np.ndarray, fields: dict, *, names=None, ops=None,
               name=None) -> "Graph":
        g = object.__new__(cls)
        s = object.__setattr__
        s(g, "name", None if name is None else str(name))
        s(g, "n_nodes", n)
        s(g, "_digest", None)

        # Names first: later error messages use them.
        if names is not None:
            names = _check_strings("names", "name", names, n, label=str)
            _check_utf8("name", names)
            if len(set(names)) != n:
                seen: dict[str, int] = {}
                for i, x in enumerate(names):
                    if x in seen:
                        raise InvalidGraphError(f"duplicate node name {x!r} (nodes {seen[x]} and {i})")
                    seen[x] = i
            s(g, "_names", tuple(names))
        else:
            s(g, "_names", None)
        if ops is not None:
            ops = _check_strings("ops", "op", ops, n, label=g._label)
            op_types, op_index = np.unique(np.asarray(ops, dtype=object), return_inverse=True)
            s(g, "_op_types", tuple(str(x) for x in op_types))
            s(g, "_op_index", _readonly(op_index.astype(np.int32)))
        else:
            s(g, "_op_types", ("op",))
            s(g, "_op_index", None)

        for f in _COST_FIELDS:
            s(g, f, _readonly(g._cost_array(f, fields.get(f))))
        lat = fields.get("latency")
        if lat is not None:
            lat = g._float_array("latency", lat)
            if lat.ndim == 1:
                lat = lat.reshape(-1, 1)
            if lat.ndim != 2 or lat.shape[0] != n or lat.shape[1] < 1:
                raise InvalidGraphError(f"latency has shape {lat.shape}, expected ({n},) or ({n}, n_kinds)")
            g._check_costs("latency", lat)
            lat = _readonly(lat + 0.0)  # -0.0 -> 0.0, so equal graphs hash equal
        s(g, "latency", lat)
        sup = fields.get("supported")
        if sup is not None:
            sup = g._bool_array("supported", sup)
            if sup.ndim == 1:
                sup = sup.reshape(-1, 1)
            if sup.ndim != 2 or sup.shape[0] != n:
                raise InvalidGraphError(f"supported has shape {sup.shape}, expected ({n}, n_kinds)")
            if lat is not None and sup.shape[1] != lat.shape[1]:
                raise InvalidGraphError(f"supported has {sup.shape[1]} kinds but latency has {lat.shape[1]}")
            sup = _readonly(sup)
            bad = np.flatnonzero(~sup.any(axis=1))
            if bad.size:
                raise InvalidGraphError(f"node {g._label(int(bad[0]))} is supported on no device kind")
        s(g, "supported", sup)
        ct = fields.get("comm_time")
        s(g, "comm_time", None if ct is None else _readonly(g._cost_array("comm_time", ct)))
        for f in ("color", "pin"):
            v = fields.get(f)
            if v is not None:
                v = g._int_array(f, v)
            s(g, f, v)
        bw = fields.get("backward")
        if bw is not None:
            bw = g._bool_array("backward", bw)
            if bw.shape != (n,):
                raise InvalidGraphError(f"backward has shape {bw.shape}, expected ({n},)")
            bw = _readonly(bw)
        s(g, "backward", bw)

        # Colors: compact ids and member lists (the first member of a color anchors the color constraint).
        color = g.color
        if color is not None and (color >= 0).any():
            used = color >= 0
            uniq, compact_used = np.unique(color[used], return_inverse=True)
            compact = np.full(n, -1, dtype=np.int32)
            compact[used] = compact_used
            members = np.flatnonzero(used)[np.argsort(compact_used, kind="stable")].astype(np.int32)
            ptr = np.zeros(len(uniq) + 1, dtype=np.int32)
            np.cumsum(np.bincount(compact_used, minlength=len(uniq)), out=ptr[1:])
            s(g, "n_colors", int(len(uniq)))
            s(g, "_color_compact", _readonly(compact))
            s(g, "_color_ptr", _readonly(ptr))
            s(g, "_color_members", _readonly(members))
        else:
            s(g, "n_colors", 0)
            s(g, "_color_compact", None)
            s(g, "_color_ptr", None)
            s(g, "_color_members", None)

        # CSR: sort and deduplicate (src, dst) pairs; successors come out in increasing order.
        keys = np.unique(src.astype(np.int64) * max(n, 1) + dst.astype(np.int64))
        usrc = (keys // max(n, 1)).astype(np.int32)
        udst = (keys % max(n, 1)).astype(np.int32)
        succ_ptr = np.zeros(n + 1, dtype=np.int32)
        if n:
            np.cumsum(np.bincount(usrc, minlength=n), out=succ_ptr[1:])
        s(g, "n_edges", int(len(keys)))
        s(g, "succ_ptr", _readonly(succ_ptr))
        s(g, "succ_idx", _readonly(udst))
        pred_ptr, pred_idx, topo, cycle = _core.derive_graph(succ_ptr, udst)
        if cycle is not None:
            path = " -> ".join(g._label(int(i)) for i in list(cycle) + [int(cycle[0])])
            raise GraphCycleError(f"graph has a cycle: {path}", cycle=[int(i) for i in cycle])
        s(g, "pred_ptr", _readonly(pred_ptr))
        s(g, "pred_idx", _readonly(pred_idx))
        s(g, "topo_order", _readonly(topo))
        return g

    def _label(self, i: int) -> str:
        if self._names is not None:
            return f"{self._names[i]!r} (id {i})"
        return f"{i}"

    def _cost_array(self, field: str, values) -> np.ndarray:
        n = self.n_nodes
        if values is None:
            return np.zeros(n, dtype=np.float64)
        a = self._float_array(field, values)
        if a.ndim == 0:
            a = np.full(n, float(a))
        if a.shape != (n,):
            raise InvalidGraphError(f"{field} has {a.size} entries (shape {a.shape}), expected {n} (one per node)")
        self._check_costs(field, a)
        # -0.0 + 0.0 == +0.0: equality compares values but the digest compares bytes, so normalise the sign.
        return a + 0.0

    def _float_array(self, field: str, values) -> np.ndarray:
        """``values`` as float64. An entry that is not a number (a string, even ``'1.5'``, None, a bool, also
        among numbers, a complex, an integer too large for a float64) is an error naming the node and the value
        rather than a silent conversion."""
        try:
            raw = np.asarray(values)
        except (TypeError, ValueError, OverflowError) as exc:  # ragged rows
            raise InvalidGraphError(f"{field} must be numbers, one per node (or one row per node): {exc}") from None
        if raw.dtype.kind in "iuf" and not _holds_bool(values):
            return raw.astype(np.float64)
        where = _first_bad(values, _is_number)
        if where is None:
            try:
                return raw.astype(np.float64)  # an object array of numbers (Fraction, Decimal, ...)
            except (TypeError, ValueError, OverflowError) as exc:
                raise InvalidGraphError(f"{field} must be numbers: {exc}") from None
        i, value = where
        raise InvalidGraphError(f"{field} must be numbers: {field} of node {self._node_label(i)} is "
                                f"{_show(value)}{_why_not_a_number(value)}")

    def _bool_array(self, field: str, values) -> np.ndarray:
        """``values`` as bool. Booleans and the numbers 0 and 1 are accepted; anything else (a string such as
        ``'no'``, which ``bool()`` would turn into True, None, 2, 0.5) is an error naming the node and the value."""
        need = f"{field} must hold booleans (True/False, or 0/1)"
        try:
            a = np.asarray(values)
        except (TypeError, ValueError) as exc:  # ragged rows
            raise InvalidGraphError(f"{need}, one per node (or one row per node): {exc}") from None
        if a.dtype == np.bool_:
            return a
        if a.dtype.kind in "iuf":
            ok = (a == 0) | (a == 1)
            if ok.all():
                return a.astype(bool)
            pos = tuple(np.argwhere(~ok)[0])
            i = int(pos[0]) if pos else 0
            raise InvalidGraphError(f"{need}: {field} of node {self._node_label(i)} is {_show(a[pos])}")
        where = _first_bad(values, _is_bool)
        i, value = where if where is not None else (0, values)
        raise InvalidGraphError(f"{need}: {field} of node {self._node_label(i)} is {_show(value)}")

    def _node_label(self, i: int) -> str:
        """``_label`` that tolerates an index beyond the names (a field longer than the graph)."""
        if self._names is not None and 0 <= i < len(self._names):
            return self._label(i)
        return f"{i}"

    def _check_costs(self, field: str, a: np.ndarray) -> None:
        bad = ~np.isfinite(a) | (a < 0)
        if bad.any():
            i = int(np.argwhere(bad)[0][0])
            row = a[i]
            value = row if np.ndim(row) == 0 else row[np.argwhere(bad[i])[0][0]]
            what = "NaN" if np.isnan(value) else ("infinite" if np.isinf(value) else "negative")
            raise InvalidGraphError(f"{field} of node {self._label(i)} is {what} ({float(value)!r}); "
                                    f"costs must be finite and >= 0")

    def _int_array(self, field: str, values) -> np.ndarray:
        """``values`` as int32 ids, -1 = none. A bool (also among integers), a string, None, a fraction, a
        non-finite float or an id beyond int32 is an error naming the node and the value."""
        n = self.n_nodes
        need = f"{field} must be integers (-1 = none)"
        try:
            a = np.asarray(values)
        except (TypeError, ValueError, OverflowError) as exc:  # ragged rows
            raise InvalidGraphError(f"{need}, one per node: {exc}") from None
        if a.shape != (n,):
            raise InvalidGraphError(f"{field} has shape {a.shape}, expected ({n},)")
        where = _first_non_integer(a, values)
        if where is not None:
            i, value = where
            raise InvalidGraphError(f"{need}: {field} of node {self._node_label(i)} is {_show(value)}")
        # Compared before the cast, which would wrap 2**63 or 1e300 round to a negative id.
        bad = np.flatnonzero(a < -1)
        if bad.size:
            i = int(bad[0])
            raise InvalidGraphError(f"{field} of node {self._label(i)} is {_show(_given(values, a, (i,)))}; "
                                    f"use -1 for none")
        bad = np.flatnonzero(a > np.iinfo(np.int32).max)
        if bad.size:
            i = int(bad[0])
            raise InvalidGraphError(f"{field} of node {self._label(i)} is {_show(_given(values, a, (i,)))}; "
                                    f"values must fit in int32")
        return _readonly(a.astype(np.int32))

    # ---------------------------------------------------------------------------------------------- accessors
    @property
    def names(self) -> tuple[str, ...]:
        """Node names (generated as ``n0, n1, ...`` when none were given)."""
        if self._names is None:
            object.__setattr__(self, "_names", tuple(f"n{i}" for i in range(self.n_nodes)))
        return self._names

    @property
    def ops(self) -> tuple[str, ...]:
        """Operator type of each node."""
        if self._op_index is None:
            return ("op",) * self.n_nodes
        return tuple(self._op_types[i] for i in self._op_index)

    @property
    def op_types(self) -> tuple[str, ...]:
        """Distinct operator types, sorted; ``op_index`` indexes into it."""
        return self._op_types

    @property
    def op_index(self) -> np.ndarray:
        if self._op_index is None:
            return _readonly(np.zeros(self.n_nodes, dtype=np.int32))
        return self._op_index

    @property
    def n_kinds(self) -> int:
        """Device kinds the graph gives latency or support for (0 when neither is given)."""
        if self.latency is not None:
            return int(self.latency.shape[1])
        if self.supported is not None:
            return int(self.supported.shape[1])
        return 0

    @property
    def edges(self) -> np.ndarray:
        """(E, 2) int32 array of edges, sorted by (src, dst)."""
        src = np.repeat(np.arange(self.n_nodes, dtype=np.int32), np.diff(self.succ_ptr))
        return np.stack([src, self.succ_idx], axis=1)

    def successors(self, i: int) -> np.ndarray:
        return self.succ_idx[self.succ_ptr[i]:self.succ_ptr[i + 1]]

    def predecessors(self, i: int) -> np.ndarray:
        return self.pred_idx[self.pred_ptr[i]:self.pred_ptr[i + 1]]

    def index(self, name: str) -> int:
        """Id of the node called ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no node named {name!r}") from None

    @property
    def total_flops(self) -> float:
        return float(self.flops.sum())

    @property
    def total_weight_bytes(self) -> float:
        return float(self.weight_bytes.sum())

    def __len__(self) -> int:
        return self.n_nodes

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return (f"<Graph{label}: {self.n_nodes} nodes, {self.n_edges} edges, "
                f"{self.total_flops / 1e9:.3g} GFLOP, {self.total_weight_bytes / 2**20:.3g} MiB weights>")

    # ------------------------------------------------------------------------------------------------ equality
    def _fields(self) -> dict[str, Any]:
        return {"name": self.name, "n_nodes": self.n_nodes, "names": self.names, "ops": self.ops,
                "succ_ptr": self.succ_ptr, "succ_idx": self.succ_idx,
                **{f: getattr(self, f) for f in _NODE_FIELDS}}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        if self is other:
            return True
        a, b = self._fields(), other._fields()
        for k in a:
            x, y = a[k], b[k]
            if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
                if x is None or y is None or x.shape != y.shape or not np.array_equal(x, y):
                    return False
            elif x != y:
                return False
        return True

    def __hash__(self) -> int:
        return int.from_bytes(self.digest()[:8], "little")

    def digest(self) -> bytes:
        """A content hash of the graph (structure, costs, names), stable across processes."""
        if self._digest is None:
            h = hashlib.blake2b(digest_size=16)
            h.update(repr((self.name, self.n_nodes)).encode())
            for k, v in self._fields().items():
                h.update(k.encode())
                if isinstance(v, np.ndarray):
                    h.update(str(v.dtype).encode() + str(v.shape).encode())
                    h.update(np.ascontiguousarray(v).tobytes())
                else:
                    h.update(repr(v).encode())
            object.__setattr__(self, "_digest", h.digest())
        return self._digest

    # ------------------------------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        """The native JSON document (see :mod:`mcmcore.io.native`)."""
        from mcmcore.io.native import graph_to_dict

        return graph_to_dict(self)

    def save(self, path) -> None:
        """Write the graph to ``path``: native JSON (``.json``) or the compact binary form (``.npz``)."""
        from mcmcore.io.native import save_graph

        save_graph(self, path)

    # ----------------------------------------------------------------------------------------------- networkx
    @classmethod
    def from_networkx(cls, g, *, name: str | None = None) -> "Graph":
        """Build from a ``networkx.DiGraph`` whose node attributes carry the per-node fields.

        Node keys become names (``str(key)``) unless a node has a ``name`` attribute; attributes ``flops``,
        ``mem_bytes``, ``weight_bytes``, ``out_bytes``, ``latency``, ``comm_time``, ``color``, ``pin``,
        ``backward``, ``supported`` and ``op`` are read when present (missing costs are 0).
        """
        import networkx as nx

        if not isinstance(g, nx.DiGraph):
            raise InvalidGraphError(f"from_networkx needs a networkx.DiGraph, got {type(g).__name__}")
        keys = list(g.nodes)
        index = {k: i for i, k in enumerate(keys)}
        data = [g.nodes[k] for k in keys]
        # A MultiDiGraph yields (u, v, key): parallel edges collapse into one, as from_edges deduplicates.
        edges = np.array([(index[e[0]], index[e[1]]) for e in g.edges], dtype=np.int64).reshape(-1, 2)
        fields: dict[str, Any] = {}
        for f in _COST_FIELDS:
            fields[f] = [_nx_number(f, keys[i], d.get(f, 0.0)) for i, d in enumerate(data)]
        for f, default in (("latency", None), ("comm_time", None), ("supported", None)):
            if any(f in d for d in data):
                missing = [keys[i] for i, d in enumerate(data) if f not in d]
                if missing:
                    raise InvalidGraphError(f"{f} is given for some nodes but not for {missing[0]!r}")
                fields[f] = [d[f] for d in data]
        for f, default in (("color", -1), ("pin", -1), ("backward", False)):
            if any(f in d for d in data):
                fields[f] = [d.get(f, default) for d in data]
        for attr in ("name", "op"):  # keys may be anything (str(key) names them), these attributes are text
            for k, d in zip(keys, data):
                if attr in d and not isinstance(d[attr], str):
                    raise InvalidGraphError(f"{attr} of node {k!r} must be a string, got {_show(d[attr])}")
        names = [str(d.get("name", k)) for k, d in zip(keys, data)]
        ops = [str(d.get("op", "op")) for d in data]
        return cls.from_edges(len(keys), edges, names=names, ops=ops, name=name or g.graph.get("name"), **fields)

    def to_networkx(self):
        """A ``networkx.DiGraph`` keyed by node name, with every per-node field as attributes."""
        import networkx as nx

        g = nx.DiGraph(name=self.name)
        names, ops = self.names, self.ops
        for i in range(self.n_nodes):
            attrs: dict[str, Any] = {"op": ops[i]}
            for f in _COST_FIELDS:
                attrs[f] = float(getattr(self, f)[i])
            if self.latency is not None:
                attrs["latency"] = [float(x) for x in self.latency[i]]
            if self.supported is not None:
                attrs["supported"] = [bool(x) for x in self.supported[i]]
            if self.comm_time is not None:
                attrs["comm_time"] = float(self.comm_time[i])
            for f in ("color", "pin"):
                v = getattr(self, f)
                if v is not None:
                    attrs[f] = int(v[i])
            if self.backward is not None:
                attrs["backward"] = bool(self.backward[i])
            g.add_node(names[i], **attrs)
        for u, v in self.edges:
            g.add_edge(names[u], names[v])
        return g


def _is_number(x) -> bool:
    # np.complex128(1+2j) converts to 1.0 with only a warning: a complex is never a number here
    if isinstance(x, (str, bytes, bool, np.bool_, complex, np.complexfloating)) or x is None:
        return False
    try:
        float(x)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _is_integral(x) -> bool:
    """An integer (of any size) or an integral, finite float; not a bool, a string, None or a complex."""
    if isinstance(x, (str, bytes, bool, np.bool_, complex, np.complexfloating)) or x is None:
        return False
    if isinstance(x, numbers.Integral):
        return True
    if not isinstance(x, numbers.Real):
        return False
    try:
        x = float(x)
    except (TypeError, ValueError, OverflowError):
        return False
    return math.isfinite(x) and x.is_integer()


def _holds_bool(values) -> bool:
    """Whether a list (or nested list) that numpy would read as numbers hides a bool, which it would read as 1.
    ``package._has_bool`` does the work; a list of scalars or of rows of scalars (a JSON file's, maybe a million
    long) is first scanned by type at C speed."""
    if isinstance(values, np.ndarray):
        return values.dtype == np.bool_ or (values.dtype == object and _has_bool(values))
    if isinstance(values, list):
        kinds = set(map(type, values))
        if values and kinds <= {list, tuple}:  # rows: edges, latency
            kinds = set(map(type, itertools.chain.from_iterable(values)))
        if not kinds & {list, tuple, np.ndarray}:
            return bool(kinds & {bool, np.bool_})
    return _has_bool(values)


def _first_non_integer(a: np.ndarray, values) -> tuple[int, Any] | None:
    """``(row, value)`` of the first entry of ``values`` (read by numpy as ``a``) that is not an integer id, or
    None: a bool, even among integers, a string, None, a complex, a non-integral or non-finite float."""
    if a.size == 0 or (a.dtype.kind in "iu" and not _holds_bool(values)):
        return None
    if a.dtype.kind == "f" and not _holds_bool(values):
        bad = ~np.isfinite(a) | (a != np.round(a))
        if not bad.any():
            return None
        pos = tuple(np.argwhere(bad)[0])
        return int(pos[0]), a[pos].item()
    return _first_bad(values, _is_integral)


def _show(value) -> str:
    """``repr`` of a value for a message, shortened (a 400-digit integer from a JSON file stays readable)."""
    if isinstance(value, np.generic):
        value = value.item()
    return reprlib.repr(value)


def _why_not_a_number(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return " (a boolean)"
    if isinstance(value, numbers.Integral):
        return " (an integer too large for a float64)"
    if isinstance(value, (complex, np.complexfloating)):
        return " (a complex number)"
    return ""


def _check_strings(field: str, what: str, values, n: int, *, label) -> list[str]:
    """``names`` or ``ops``: one ``str`` per node (numpy's ``str_`` too). None, a number or a list is an error
    naming the node: ``str()`` would turn it into the text "None", "1" or "['a']" without a word."""
    if isinstance(values, (str, bytes)):
        raise InvalidGraphError(f"{field} must be a sequence of strings, one per node, got a string {_show(values)}")
    if not isinstance(values, Iterable):
        raise InvalidGraphError(f"{field} must be a sequence of strings, one per node, got {_show(values)}")
    values = list(values)
    if len(values) != n:
        raise InvalidGraphError(f"{field} has {len(values)} entries, expected {n} (one per node)")
    if set(map(type, values)) <= {str}:  # the common case, checked at C speed
        return values
    for i, x in enumerate(values):
        if not isinstance(x, str):
            raise InvalidGraphError(f"{field} must be strings: {what} of node {label(i)} is {_show(x)} "
                                    f"({type(x).__name__})")
    return [str(x) for x in values]  # numpy's str_ -> str


def _is_bool(x) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return True
    return isinstance(x, (int, float, np.integer, np.floating)) and x in (0, 1)


def _first_bad(values, ok) -> tuple[int, Any] | None:
    """``(node, value)`` of the first entry of a 1-D or 2-D array-like that fails ``ok``, or None."""
    def plain(x):  # np.str_('no') -> 'no', so the message shows the value as the user wrote it
        return x.item() if isinstance(x, np.generic) else x

    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        return None if ok(values) else (0, plain(values))
    for i, row in enumerate(values):
        if isinstance(row, (str, bytes)) or not isinstance(row, Iterable):
            if not ok(row):
                return i, plain(row)
            continue
        for x in row:
            if not ok(x):
                return i, plain(x)
    return None


def _nx_number(field: str, key, value) -> float:
    """A cost attribute of a networkx node (missing = 0); None, a string or a bool is an error naming both."""
    if not _is_number(value):
        raise InvalidGraphError(f"{field} of node {key!r} must be a number, got {value!r}")
    return float(value)


def _given(values, a: np.ndarray, pos: tuple[int, ...]):
    """The entry at ``pos`` as the caller wrote it: numpy reads the list [0, 2**63] as floats, and a message
    should not show 9.223372036854776e+18 for the integer in the file."""
    x = values
    try:
        for p in pos:
            x = x[p]
    except (TypeError, IndexError, KeyError):
        return a[pos]
    return x if isinstance(x, (numbers.Real, np.generic)) else a[pos]


def _node_id(x):
    """An integral id as a Python int for a message (a float beyond int64 stays a float: 1e+300, not 301 digits)."""
    if isinstance(x, np.generic):
        x = x.item()
    return int(x) if not isinstance(x, float) or abs(x) < 2**63 else x


def _check_utf8(what: str, texts: Sequence[str]) -> None:
    """Reject text that cannot be written as UTF-8 (a lone surrogate such as ``'\\ud800'``, e.g. from a
    file name decoded with ``surrogateescape``): the native formats store names as UTF-8."""
    try:
        "".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        for i, x in enumerate(texts):
            try:
                x.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidGraphError(f"{what} of node {i} is {x!r}, which holds a lone surrogate "
                                        f"({x[exc.start]!r} at position {exc.start}) and cannot be written as "
                                        f"UTF-8") from None


def _check_n_nodes(n_nodes) -> int:
    """An int, or an integral float (a JSON writer may write 3.0); a bool, a string or inf is an error."""
    if isinstance(n_nodes, (bool, np.bool_)):
        raise InvalidGraphError(f"n_nodes must be an integer, got {_show(n_nodes)} (a boolean)")
    if not isinstance(n_nodes, numbers.Real):
        raise InvalidGraphError(f"n_nodes must be an integer, got {_show(n_nodes)}")
    if not isinstance(n_nodes, numbers.Integral) and not _is_integral(n_nodes):
        raise InvalidGraphError(f"n_nodes must be a non-negative integer, got {_show(n_nodes)}")
    n = int(n_nodes)
    if n < 0:
        raise InvalidGraphError(f"n_nodes must be a non-negative integer, got {_show(n_nodes)}")
    if n >= 2**31 - 1:
        raise InvalidGraphError(f"n_nodes={_show(n)} is too large (at most {2**31 - 2})")
    return n


def _check_edges(edges, n: int, names=None) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(edges, Iterable) and not isinstance(edges, np.ndarray):
        edges = list(edges)
    try:
        e = np.asarray(edges)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidGraphError(f"edges must be an (E, 2) array of node ids: {exc}") from None
    if e.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if e.ndim != 2 or e.shape[1] != 2:
        raise InvalidGraphError(f"edges must have shape (E, 2), got {e.shape}")
    where = _first_non_integer(e, edges)
    if where is not None:
        k, value = where
        raise InvalidGraphError(f"edges must hold integer node ids: edge {k} holds {_show(value)}"
                                + (" (a boolean)" if isinstance(value, (bool, np.bool_)) else ""))
    # Checked before the cast to int64, which would wrap 2**63 or 1e300 round to a negative id.
    bad = np.flatnonzero((e < 0).any(axis=1) | (e >= n).any(axis=1))
    if bad.size:
        k = int(bad[0])
        u, v = _node_id(_given(edges, e, (k, 0))), _node_id(_given(edges, e, (k, 1)))
        missing = u if not 0 <= u < n else v
        raise InvalidGraphError(f"dangling edge {k} ({_show(u)} -> {_show(v)}): node {_show(missing)} does not "
                                f"exist (the graph has {n} nodes)")
    e = e.astype(np.int64)
    loops = np.flatnonzero(e[:, 0] == e[:, 1])
    if loops.size:
        i = int(e[loops[0], 0])
        label = f"{names[i]!r} (id {i})" if names is not None and len(names) == n else str(i)
        raise GraphCycleError(f"graph has a cycle: self-loop on node {label}", cycle=[i])
    if len(e) >= 2**31 - 1:
        raise InvalidGraphError("too many edges (at most 2**31 - 2)")
    return e[:, 0], e[:, 1]

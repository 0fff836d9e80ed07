"""Evaluation of placements: full reports, batches without the GIL, and incremental single-node moves."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcmcore import _core
from mcmcore.constraints import VIOLATION_NAMES, Constraints
from mcmcore.errors import InvalidPackageError, InvalidPlacementError
from mcmcore.graph import Graph
from mcmcore.package import Package

__all__ = ["CostReport", "evaluate", "evaluate_batch", "IncrementalEvaluator", "as_placement", "default_threads"]


def default_threads() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class CostReport:
    """The cost of one placement (DESIGN.md, cost model).

    Attributes
    ----------
    interval : float
        Seconds between successive samples in steady-state pipelining.
    throughput : float
        Samples per second, ``1 / interval``.
    latency : float
        Seconds for one sample (list schedule in the graph's topological order).
    compute, comm, memory : ndarray of shape (K,)
        Per device: compute time C_k, port-model communication time X_k (zeros in the links model), weight bytes.
    node_count : ndarray of shape (K,)
    traffic, link_time : ndarray of shape (n_links,)
        Per directed link: bytes per sample and seconds per sample (links model; empty for port).
    violations : dict
        Constraint name -> number of offending devices / edges / nodes, for the constraints that are on.
    valid : bool
        True when every violation count is 0.
    """

    interval: float
    throughput: float
    latency: float
    compute: np.ndarray
    comm: np.ndarray
    memory: np.ndarray
    node_count: np.ndarray
    traffic: np.ndarray
    link_time: np.ndarray
    violations: dict[str, int]
    valid: bool
    overlap: bool
    interconnect: str
    start: np.ndarray | None = field(default=None, repr=False)
    finish: np.ndarray | None = field(default=None, repr=False)

    @property
    def total_violations(self) -> int:
        return int(sum(self.violations.values()))

    @property
    def bottleneck(self) -> str:
        """What sets the interval: ``device k compute``, ``device k compute+comm``, ``link l`` ..."""
        iv = self.interval
        if iv == 0:
            return "nothing (zero cost)"
        if self.interconnect == "port" and not self.overlap:
            k = int(np.argmax(self.compute + self.comm))
            return f"device {k} compute+comm"
        k = int(np.argmax(self.compute))
        if self.compute[k] >= iv:
            return f"device {k} compute"
        if self.interconnect == "port":
            return f"device {int(np.argmax(self.comm))} comm"
        return f"link {int(np.argmax(self.link_time))}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays as lists)."""
        out: dict[str, Any] = {}
        for k in ("interval", "throughput", "latency", "valid", "overlap", "interconnect"):
            out[k] = getattr(self, k)
        for k in ("compute", "comm", "memory", "node_count", "traffic", "link_time"):
            out[k] = getattr(self, k).tolist()
        out["violations"] = dict(self.violations)
        out["bottleneck"] = self.bottleneck
        return out

    def __str__(self) -> str:
        state = "valid" if self.valid else "INVALID (" + ", ".join(
            f"{k}={v}" for k, v in self.violations.items() if v) + ")"
        return (f"interval {self.interval:.6g} s ({self.throughput:.6g} samples/s), latency {self.latency:.6g} s, "
                f"{state}; bottleneck: {self.bottleneck}")


# ------------------------------------------------------------------------------------------------ problem cache
_CACHE: "OrderedDict[tuple, _core.Problem]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 16


def _check_fit(graph: Graph, package: Package, constraints: Constraints) -> None:
    """The core's graph-versus-package checks, done here first so the messages can name nodes and kinds."""
    n_kinds = graph.n_kinds
    if n_kinds:  # the graph's latency / supported columns are indexed by device kind
        bad = np.flatnonzero((package.kinds < 0) | (package.kinds >= n_kinds))
        if bad.size:
            d = int(bad[0])
            k = int(package.kinds[d])
            kind = f" ({package.kind_names[k]!r})" if 0 <= k < len(package.kind_names) else ""
            raise InvalidPackageError(f"device {d} has kind {k}, but the graph gives latency/support for {n_kinds} "
                                      f"device kind(s): kind {k}{kind} has no column in the graph")
    if constraints.pins and graph.pin is not None:
        bad = np.flatnonzero(graph.pin >= package.n_devices)
        if bad.size:
            i = int(bad[0])
            raise InvalidPackageError(f"node {graph.names[i]!r} (id {i}) is pinned to device {int(graph.pin[i])}, "
                                      f"but the package has {package.n_devices} devices")


def _problem(graph: Graph, package: Package, constraints: Constraints | None, overlap: bool | None):
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be an mcmcore.Graph, got {type(graph).__name__}")
    if not isinstance(package, Package):
        raise TypeError(f"package must be an mcmcore.Package, got {type(package).__name__}")
    constraints = Constraints() if constraints is None else constraints
    if not isinstance(constraints, Constraints):
        raise TypeError(f"constraints must be an mcmcore.Constraints, got {type(constraints).__name__}")
    if overlap is None:
        overlap = package.default_overlap
    elif package.interconnect == "links" and not overlap:
        raise ValueError("the links model always overlaps compute and communication; overlap=False needs a "
                         "port package")
    key = (id(graph), id(package), constraints, bool(overlap))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit.graph is graph and hit.package is package:
            _CACHE.move_to_end(key)
            return hit, constraints
    _check_fit(graph, package, constraints)
    try:
        problem = _core.Problem(graph, package, constraints.as_tuple(package), bool(overlap))
    except ValueError as exc:
        raise InvalidPackageError(f"graph and package do not fit together: {exc}") from None
    with _CACHE_LOCK:
        _CACHE[key] = problem
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return problem, constraints


def whole_numbers(a: np.ndarray) -> bool:
    """True when an array of ids holds integers, or floats that are whole numbers (never truncated silently)."""
    if not a.size or np.issubdtype(a.dtype, np.integer):
        return True
    return bool(np.issubdtype(a.dtype, np.floating) and np.all(a == np.round(a)))


def as_placement(placement, graph: Graph, package: Package) -> np.ndarray:
    """Check and convert a placement (array-like of device ids, or a mapping node name -> device)."""
    if isinstance(placement, dict):
        arr = np.full(graph.n_nodes, -1, dtype=np.int64)
        placed = np.zeros(graph.n_nodes, dtype=bool)
        for name, dev in placement.items():
            if isinstance(name, str):
                try:
                    i = graph.index(name)
                except (KeyError, ValueError):
                    raise InvalidPlacementError(f"placement names node {name!r}, which the graph does not have") \
                        from None
            elif isinstance(name, (int, np.integer)) and not isinstance(name, bool) and 0 <= name < graph.n_nodes:
                i = int(name)
            else:
                raise InvalidPlacementError(f"placement key {name!r} is neither a node name nor a node id in "
                                            f"0..{graph.n_nodes - 1}")
            if not isinstance(dev, (int, np.integer)) or isinstance(dev, bool) or \
                    not 0 <= dev < package.n_devices:
                raise InvalidPlacementError(f"placement puts node {graph.names[i]!r} on {dev!r}, not a device id in "
                                            f"0..{package.n_devices - 1}")
            arr[i] = int(dev)
            placed[i] = True
        missing = np.flatnonzero(~placed)
        if missing.size:
            raise InvalidPlacementError(f"placement does not place node {graph.names[int(missing[0])]!r}")
        placement = arr
    elif isinstance(placement, (list, tuple)):  # numpy reads True in a list of ints as device 1
        i = next((i for i, x in enumerate(placement) if isinstance(x, (bool, np.bool_))), None)
        if i is not None:
            raise InvalidPlacementError(f"placement entry {i} is {bool(placement[i])}, not a device id")
    a = np.asarray(placement)
    if a.ndim != 1 or a.shape[0] != graph.n_nodes:
        raise InvalidPlacementError(f"placement must have one device per node: shape {a.shape}, "
                                    f"expected ({graph.n_nodes},)")
    if not whole_numbers(a):
        raise InvalidPlacementError(f"placement must hold integer device ids, got dtype {a.dtype}")
    bad = np.flatnonzero((a < 0) | (a >= package.n_devices)) if a.size else np.zeros(0, dtype=int)
    if bad.size:
        i = int(bad[0])
        raise InvalidPlacementError(f"placement puts node {graph.names[i]!r} (id {i}) on device {a[i]}, but the "
                                    f"package has {package.n_devices} devices (0..{package.n_devices - 1})")
    return np.ascontiguousarray(a, dtype=np.int32)


def _report(raw: dict, constraints: Constraints, package: Package, overlap: bool) -> CostReport:
    active = constraints.active(package)
    counts = raw["violations"]
    violations = {name: int(counts[i]) for i, name in enumerate(VIOLATION_NAMES) if name in active}
    interval = float(raw["interval"])
    for k in ("compute", "comm", "memory", "node_count", "traffic", "link_time", "start", "finish"):
        if raw.get(k) is not None:
            raw[k].setflags(write=False)
    return CostReport(
        interval=interval, throughput=(1.0 / interval) if interval > 0 else float("inf"),
        latency=float(raw["latency"]), compute=raw["compute"], comm=raw["comm"], memory=raw["memory"],
        node_count=raw["node_count"], traffic=raw["traffic"], link_time=raw["link_time"], violations=violations,
        valid=not any(violations.values()), overlap=overlap, interconnect=package.interconnect,
        start=raw.get("start"), finish=raw.get("finish"))


def evaluate(graph: Graph, package: Package, placement, *, constraints: Constraints | None = None,
             overlap: bool | None = None, schedule: bool = False) -> CostReport:
    """Evaluate one placement under the cost model and the constraints of DESIGN.md.

    Parameters
    ----------
    graph : Graph
    package : Package
    placement : array-like of int, shape (n_nodes,), or dict name -> device
        Device of each node.
    constraints : Constraints, optional
        Default ``Constraints()``: capacity, dataflow (auto), colors, pins, support.
    overlap : bool, optional
        Overlap compute and communication (default: False for port packages; links always overlap).
    schedule : bool
        Also return the list schedule's per-node ``start`` and ``finish`` times.

    Returns
    -------
    CostReport

    Raises
    ------
    InvalidPlacementError
        Wrong length, non-integer entries, or a device outside the package.
    InvalidPackageError
        The graph and the package do not fit (a pin or a latency kind beyond the package).
    """
    problem, constraints = _problem(graph, package, constraints, overlap)
    pl = as_placement(placement, graph, package)
    raw = problem.evaluate(pl, True, schedule)
    return _report(raw, constraints, package, problem.overlap)


def evaluate_batch(graph: Graph, package: Package, placements, *, constraints: Constraints | None = None,
                   overlap: bool | None = None, n_threads: int | None = None, objective: str = "interval",
                   return_violations: bool = False):
    """Evaluate a (B, n_nodes) array of placements on ``n_threads`` native threads, without the GIL.

    Returns the interval of each placement (float64, shape (B,)), or the latency with ``objective="latency"``;
    with ``return_violations=True`` also the total violation count of each (int64, shape (B,)).
    """
    if objective not in ("interval", "latency"):
        raise ValueError(f"objective must be 'interval' or 'latency', got {objective!r}")
    problem, constraints = _problem(graph, package, constraints, overlap)
    a = np.asarray(placements)
    if a.ndim != 2 or a.shape[1] != graph.n_nodes:
        raise InvalidPlacementError(f"placements must have shape (B, {graph.n_nodes}), got {a.shape}")
    if a.dtype != np.int32:
        # Converting would wrap out-of-range ids into valid ones: check before. (int32 input is checked by the
        # core inside its threads, so the common case pays for no extra pass over the batch.)
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise InvalidPlacementError(f"placements must hold integer device ids, got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= package.n_devices):
            _raise_bad_batch(a, graph, package)
        a = a.astype(np.int32)
    a = np.ascontiguousarray(a)
    n_threads = default_threads() if n_threads is None else int(n_threads)
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    try:
        interval, latency, viol = problem.evaluate_batch(a, n_threads, objective == "latency", return_violations)
    except ValueError:
        _raise_bad_batch(a, graph, package)
    values = latency if objective == "latency" else interval
    if return_violations:
        active = [i for i, name in enumerate(VIOLATION_NAMES) if name in constraints.active(package)]
        return values, viol[:, active].sum(axis=1)
    return values


def _raise_bad_batch(a: np.ndarray, graph: Graph, package: Package):
    row, col = np.argwhere((a < 0) | (a >= package.n_devices))[0]
    raise InvalidPlacementError(f"placement {row} puts node {graph.names[col]!r} on device {a[row, col]}, but "
                                f"the package has {package.n_devices} devices")


def _int32_ids(values, name: str) -> np.ndarray:
    """A 1-D int32 array of ids; floats only when they hold whole numbers (no silent truncation)."""
    a = np.asarray(values)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of ids, got shape {a.shape}")
    if not whole_numbers(a):
        raise ValueError(f"{name} must hold integer ids, got dtype {a.dtype}")
    if a.size and (a.min() < np.iinfo(np.int32).min or a.max() > np.iinfo(np.int32).max):
        raise ValueError(f"{name} holds ids outside the 32-bit range")
    return np.ascontiguousarray(a, dtype=np.int32)


class IncrementalEvaluator:
    """Evaluate single-node moves in O(degree + K + route length), with undo.

    ``move(node, device)`` returns the new interval; the violation counts are kept up to date as well, so a
    search can walk through invalid placements with penalties.

    Parameters
    ----------
    graph, package, placement, constraints, overlap
        As for :func:`evaluate`.
    """

    def __init__(self, graph: Graph, package: Package, placement, *, constraints: Constraints | None = None,
                 overlap: bool | None = None):
        problem, constraints = _problem(graph, package, constraints, overlap)
        self.graph = graph
        self.package = package
        self.constraints = constraints
        self._active = [i for i, name in enumerate(VIOLATION_NAMES) if name in constraints.active(package)]
        self._inc = _core.Incremental(problem, as_placement(placement, graph, package))

    def move(self, node: int, device: int) -> float:
        """Move ``node`` to ``device``; returns the new interval."""
        if not (isinstance(node, (int, np.integer)) and isinstance(device, (int, np.integer))) or \
                isinstance(node, bool) or isinstance(device, bool):
            raise TypeError(f"move takes an integer node id and device id, got {node!r} and {device!r}")
        return self._inc.move(node, device)

    def undo(self) -> None:
        """Undo the last move (one level)."""
        self._inc.undo()

    def apply_moves(self, nodes, devices, *, undo: bool = False) -> np.ndarray:
        """Apply many moves in the native loop; with ``undo`` each is undone right away (trial moves).
        Returns the interval after each move."""
        return self._inc.apply_moves(_int32_ids(nodes, "nodes"), _int32_ids(devices, "devices"), undo)

    @property
    def interval(self) -> float:
        return self._inc.interval

    @property
    def throughput(self) -> float:
        iv = self._inc.interval
        return 1.0 / iv if iv > 0 else float("inf")

    @property
    def placement(self) -> np.ndarray:
        """A copy of the current placement."""
        return self._inc.placement

    @property
    def violations(self) -> dict[str, int]:
        counts = self._inc.violations
        return {VIOLATION_NAMES[i]: int(counts[i]) for i in self._active}

    @property
    def total_violations(self) -> int:
        return int(self._inc.total_violations)

    @property
    def valid(self) -> bool:
        return self._inc.total_violations == 0

    def report(self) -> CostReport:
        """Full report of the current placement."""
        return evaluate(self.graph, self.package, self.placement, constraints=self.constraints,
                        overlap=self._inc.problem.overlap)

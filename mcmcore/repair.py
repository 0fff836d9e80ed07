"""Constraint repair: the nearest valid placement to a candidate (DESIGN.md, repair).

Two engines: the native heuristic (csrc/repair.c; microseconds, the inner loop of search) and an exact CP-SAT
model (minimal change, time-limited, reports optimality). ``check_feasibility`` explains infeasible instances in
words before any search.
"""
from __future__ import annotations

import enum
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from mcmcore import _core
from mcmcore._checks import check_seconds, check_seed, check_threads
from mcmcore.constraints import Constraints
from mcmcore.errors import InfeasibleError
from mcmcore.evaluate import _problem, as_placement, default_threads, whole_numbers
from mcmcore.graph import Graph
from mcmcore.package import Package

__all__ = ["RepairStatus", "RepairResult", "repair", "repair_batch", "random_valid", "check_feasibility"]

_METHODS = ("heuristic", "cpsat", "auto")


class RepairStatus(enum.Enum):
    """OPTIMAL: proven minimal change (CP-SAT). FEASIBLE: valid, not proven minimal. INFEASIBLE: the heuristic
    found no valid placement (``method="heuristic"`` only; the placement is its best effort and is NOT valid; a
    proof of infeasibility raises :class:`InfeasibleError` instead)."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"


@dataclass(frozen=True)
class RepairResult:
    """A repaired placement.

    Attributes
    ----------
    placement : ndarray of int32, shape (n_nodes,)
        Valid per :func:`mcmcore.evaluate` with the same constraints (unless status is INFEASIBLE).
    moved : int
        Nodes whose device changed.
    moved_weight : float
        Sum of the ``weights`` of the moved nodes (``moved`` when no weights were given).
    status : RepairStatus
    engine : str
        ``"heuristic"`` or ``"cpsat"``.
    seconds : float
    """

    placement: np.ndarray
    moved: int
    moved_weight: float
    status: RepairStatus
    engine: str
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------------ contexts
_CTX: "OrderedDict[tuple, _core.Repairer]" = OrderedDict()
_CTX_LOCK = threading.Lock()


def _repairer(graph, package, constraints, weights):
    problem, constraints = _problem(graph, package, constraints, None)
    key = (id(problem), constraints)
    if weights is None:
        with _CTX_LOCK:
            hit = _CTX.get(key)
            if hit is not None and hit.problem is problem:
                _CTX.move_to_end(key)
                return hit, constraints
    try:
        rep = _core.Repairer(problem, weights)
    except _core.RepairInfeasible as exc:
        raise InfeasibleError(_names(graph, str(exc))) from None
    if weights is None:
        with _CTX_LOCK:
            _CTX[key] = rep
            while len(_CTX) > 16:
                _CTX.popitem(last=False)
    return rep, constraints


def _names(graph: Graph, msg: str) -> str:
    """Replace 'node <id>' in a core message by the node's name."""
    import re

    def name(m):
        out = f"{m.group(1)} {graph._label(int(m.group(2)))}"
        return out + (f" and {graph._label(int(m.group(4)))}" if m.group(4) else "")

    return re.sub(r"\b(nodes?) (\d+)( and (\d+))?", name, msg)


#: largest sum of repair weights (the native scores are single precision; MCM_REPAIR_MAX_WEIGHT_SUM in mcm.h)
MAX_WEIGHT_SUM = 1e30


def _weights(weights, graph):
    if weights is None:
        return None
    try:
        w = np.ascontiguousarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"weights must be {graph.n_nodes} finite non-negative numbers") from None
    if w.shape != (graph.n_nodes,):
        raise ValueError(f"weights must be {graph.n_nodes} finite non-negative numbers, got shape {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"weights must be finite non-negative numbers: node {graph._label(i)} has {float(w[i])!r}")
    if not (w.sum() <= MAX_WEIGHT_SUM):
        raise ValueError(f"weights sum to {w.sum():.3g}, past {MAX_WEIGHT_SUM:g}: the native repair scores in single "
                         f"precision; scale them down")
    return w


# ------------------------------------------------------------------------------------------------ feasibility
def check_feasibility(graph: Graph, package: Package, *, constraints: Constraints | None = None) -> None:
    """Raise :class:`InfeasibleError` with the reason in words when a cheap argument proves that no valid
    placement exists; return None otherwise (which does not prove feasibility).

    Checks: a node supported on no device kind of the package; a node (or a color class) larger than every SRAM
    it may use; total weights over total SRAM; conflicting pins in a color class; pinned nodes whose pins
    contradict the dataflow order (or, with ``max_skip``, lie further apart than the path between them allows);
    ``all_used`` with fewer co-location units than devices; the native repair's proofs (conflicting pins in a
    co-location unit closed under the dataflow order, a unit allowed on no device).
    """
    _, constraints = _problem(graph, package, constraints, None)
    n, k_dev = graph.n_nodes, package.n_devices
    dataflow = constraints.resolved_dataflow(package)
    label = graph._label
    allowed = np.ones((n, k_dev), dtype=bool)
    if constraints.support and graph.supported is not None:
        allowed &= graph.supported[:, package.kinds]
        bad = np.flatnonzero(~allowed.any(axis=1))
        if bad.size:
            kinds = sorted({package.kind_names[k] if k < len(package.kind_names) else str(k)
                            for k in package.kinds.tolist()})
            raise InfeasibleError(f"node {label(int(bad[0]))} is supported on no device kind of the package "
                                  f"(the package has {', '.join(kinds)})")
    pins = graph.pin if (constraints.pins and graph.pin is not None) else None
    if pins is not None:
        for i in np.flatnonzero(pins >= 0):
            if not allowed[i, pins[i]]:
                raise InfeasibleError(f"node {label(int(i))} is pinned to device {pins[i]}, whose kind it does not "
                                      f"support")
    # Co-location classes (colors).
    groups: dict[int, np.ndarray] = {}
    if constraints.colors and graph.color is not None:
        col = graph.color
        for c in np.unique(col[col >= 0]):
            groups[int(c)] = np.flatnonzero(col == c)
        for c, members in groups.items():
            if pins is not None:
                pinned = {int(pins[i]) for i in members if pins[i] >= 0}
                if len(pinned) > 1:
                    raise InfeasibleError(f"color {c} must share one device but its nodes are pinned to devices "
                                          f"{sorted(pinned)}")
            if not allowed[members].all(axis=0).any():
                raise InfeasibleError(f"color {c} must share one device but no device kind supports all of its "
                                      f"{len(members)} nodes")
    sram = np.asarray(package.sram_bytes, dtype=np.float64)
    tol = 1 + 1e-9
    if constraints.capacity:
        w = np.asarray(graph.weight_bytes)
        cap_allowed = np.where(allowed, sram[None, :], -np.inf).max(axis=1)
        over = np.flatnonzero(w > cap_allowed * tol)
        if over.size:
            i = int(over[np.argmax(w[over])])
            raise InfeasibleError(f"node {label(i)} has {w[i]:.6g} weight bytes, more than the SRAM of every device "
                                  f"it may use (at most {cap_allowed[i]:.6g})")
        for c, members in groups.items():
            total = float(w[members].sum())
            best = float(np.where(allowed[members].all(axis=0), sram, -np.inf).max())
            if total > best * tol:
                raise InfeasibleError(f"color {c} ({len(members)} nodes, {total:.6g} weight bytes) is too big for "
                                      f"one device (largest SRAM it may use: {best:.6g})")
        total = float(w.sum())
        if total > float(sram.sum()) * tol:
            raise InfeasibleError(f"the nodes' weights ({total:.6g} bytes) exceed the package's total SRAM "
                                  f"({float(sram.sum()):.6g} bytes)")
    if constraints.all_used:
        n_units = n - sum(len(m) - 1 for m in groups.values())
        if n_units < k_dev:
            raise InfeasibleError(f"all_used needs every one of the {k_dev} devices busy, but the graph has only "
                                  f"{n_units} co-location unit(s)")
    if dataflow and pins is not None:
        _check_pins_order(graph, package, pins, dataflow, constraints.max_skip)
    # The native repair's own proofs (cached context, linear time): with the dataflow order, co-location closes
    # over the nodes between two of the same color, whose pins may then conflict.
    _repairer(graph, package, constraints, None)


def _check_pins_order(graph, package, pins, dataflow, max_skip, limit=256):
    """Pinned u ->...-> pinned v (forward path) with the pins against the order, or too far for max_skip."""
    pinned = np.flatnonzero(pins >= 0)
    if pinned.size < 2 or pinned.size > limit:
        return
    forward = np.ones(graph.n_nodes, bool) if graph.backward is None else ~graph.backward
    label = graph._label
    forced = set()
    for u in pinned:
        if not forward[u]:
            continue
        # BFS over forward edges: shortest path length to every reachable node.
        dist = {int(u): 0}
        frontier = [int(u)]
        while frontier:
            nxt = []
            for a in frontier:
                for b in graph.successors(a):
                    b = int(b)
                    if forward[b] and b not in dist:
                        dist[b] = dist[a] + 1
                        nxt.append(b)
            frontier = nxt
        for v, d in dist.items():
            if v == u or pins[v] < 0:
                continue
            du, dv = int(pins[u]), int(pins[v])
            if dataflow == "ordered":
                pu, pv = int(package.position[du]), int(package.position[dv])
                if pu > pv:
                    raise InfeasibleError(f"pins contradict the dataflow order: {label(int(u))} is pinned to device "
                                          f"{du} (position {pu}) but its descendant {label(v)} is pinned to device "
                                          f"{dv} (position {pv})")
                if max_skip is not None and pv - pu > max_skip * d:
                    raise InfeasibleError(f"a chain longer than max_skip={max_skip} allows: {label(int(u))} is pinned "
                                          f"to position {pu} and {label(v)}, {d} edge(s) later, to position {pv}")
            elif du != dv:
                forced.add((du, dv))
    if dataflow == "acyclic" and forced:
        # A cycle in the device graph that the pins force.
        succ: dict[int, set[int]] = {}
        for a, b in forced:
            succ.setdefault(a, set()).add(b)
        state: dict[int, int] = {}

        def dfs(a, stack):
            state[a] = 1
            stack.append(a)
            for b in succ.get(a, ()):
                if state.get(b) == 1:
                    cyc = stack[stack.index(b):] + [b]
                    raise InfeasibleError("pins contradict the dataflow order: pinned paths force the device cycle "
                                          + " -> ".join(map(str, cyc)))
                if b not in state:
                    dfs(b, stack)
            stack.pop()
            state[a] = 2

        for a in list(succ):
            if a not in state:
                dfs(a, [])


# ------------------------------------------------------------------------------------------------ repair
def repair(graph: Graph, package: Package, placement, *, constraints: Constraints | None = None,
           method: str = "heuristic", weights=None, max_seconds: float | None = None,
           seed: int | None = None) -> RepairResult:
    """The valid placement nearest to ``placement`` (fewest moved nodes, optionally weighted).

    Parameters
    ----------
    graph, package : Graph, Package
    placement : array-like of int, shape (n_nodes,)
        The candidate (may violate any constraint).
    constraints : Constraints, optional
        Default ``Constraints()``.
    method : {"heuristic", "cpsat", "auto"}
        ``heuristic``: the native engine (deterministic, microseconds); ``cpsat``: exact minimal change with
        OR-tools CP-SAT; ``auto``: the heuristic, falling back to CP-SAT when it finds no valid placement.
    weights : array-like of float, shape (n_nodes,), optional
        Cost of moving each node (default 1 each).
    max_seconds : float, optional
        CP-SAT time limit (default 10 s for ``auto``'s fallback, none for ``cpsat``).
    seed : int, optional
        CP-SAT's random seed (the heuristic is deterministic).

    Returns
    -------
    RepairResult
        A valid placement is returned unchanged (``moved == 0``).

    Raises
    ------
    InfeasibleError
        When no valid placement exists (the message says why), or CP-SAT proved it.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    max_seconds = check_seconds(max_seconds)
    if seed is not None:
        seed = check_seed(seed) % 2 ** 31  # CP-SAT's random_seed is a 32-bit field
    t0 = time.perf_counter()
    pl = as_placement(placement, graph, package)
    w = _weights(weights, graph)
    check_feasibility(graph, package, constraints=constraints)
    rep, constraints = _repairer(graph, package, constraints, w)
    if method in ("heuristic", "auto"):
        out, moved, mw, ok = rep.run(pl)
        if ok or method == "heuristic":
            status = RepairStatus.OPTIMAL if ok and moved == 0 else (
                RepairStatus.FEASIBLE if ok else RepairStatus.INFEASIBLE)
            return RepairResult(out, moved, mw, status, "heuristic", time.perf_counter() - t0)
        if max_seconds is None:
            max_seconds = 10.0
    return _cpsat(graph, package, pl, constraints, w, max_seconds, seed, t0)


def _cpsat(graph, package, pl, constraints, w, max_seconds, seed, t0) -> RepairResult:
    from mcmcore import repair_cpsat

    res = repair_cpsat.solve(graph, package, pl, constraints, weights=w, max_seconds=max_seconds, seed=seed)
    if res.status == "INFEASIBLE":
        raise InfeasibleError("CP-SAT proved that no placement satisfies the constraints "
                              f"({', '.join(constraints.active(package))}); none of the simple causes applies")
    if res.placement is None:
        raise TimeoutError(f"CP-SAT found no valid placement within max_seconds={max_seconds}")
    changed = res.placement != pl
    moved = int(changed.sum())
    mw = float(w[changed].sum()) if w is not None else float(moved)
    status = RepairStatus.OPTIMAL if res.status == "OPTIMAL" else RepairStatus.FEASIBLE
    return RepairResult(res.placement, moved, mw, status, "cpsat", time.perf_counter() - t0)


def repair_batch(graph: Graph, package: Package, placements, *, constraints: Constraints | None = None,
                 weights=None, n_threads: int | None = None):
    """Heuristic repair of a (B, n_nodes) array on native threads without the GIL.

    Returns ``(placements, moved, ok)``: the repaired (B, n_nodes) int32 array, the moved count of each row, and
    whether each row is valid (False: the heuristic found none for that row).
    """
    a = np.asarray(placements)
    if a.ndim != 2 or a.shape[1] != graph.n_nodes:
        raise ValueError(f"placements must have shape (B, {graph.n_nodes}), got {a.shape}")
    if not whole_numbers(a):
        raise ValueError(f"placements must hold integer device ids, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= package.n_devices):
        raise ValueError(f"placements name devices outside 0..{package.n_devices - 1}")
    rep, _ = _repairer(graph, package, constraints, _weights(weights, graph))
    n_threads = default_threads() if n_threads is None else int(n_threads)
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    out, moved, _, ok = rep.run_batch(np.ascontiguousarray(a, dtype=np.int32), n_threads)
    return out, moved, ok


def random_valid(graph: Graph, package: Package, *, constraints: Constraints | None = None,
                 seed: int | None = None, n: int = 1, n_threads: int | None = None) -> np.ndarray:
    """``n`` random valid placements at native speed (starting points of search).

    Each is a random topological order of the co-location units cut at random points into pipeline stages, then
    repaired. Row ``b`` depends only on ``(seed, b)``, whatever ``n_threads``.

    Returns
    -------
    ndarray of int32, shape (n, n_nodes)
        Always 2-D, also for ``n == 1``.

    Raises
    ------
    InfeasibleError
        When the instance is infeasible, or no valid placement was found for some row.
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if seed is not None:
        check_seed(seed)
    n_threads = check_threads(n_threads)
    check_feasibility(graph, package, constraints=constraints)
    rep, constraints = _repairer(graph, package, constraints, None)
    n_threads = default_threads() if n_threads is None else int(n_threads)
    seed_val = int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0]) if seed is not None else \
        int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    out, ok = rep.random_valid(seed_val, int(n), max(1, n_threads))
    if not ok.all():
        raise InfeasibleError(f"no valid placement found for {int((~ok).sum())} of {n} random draws (the heuristic "
                              f"gave up; use repair(..., method='cpsat') to decide feasibility)")
    return out

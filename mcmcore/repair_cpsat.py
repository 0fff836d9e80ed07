"""Exact minimal-change repair with OR-tools CP-SAT (DESIGN.md, repair).

One boolean per (node, device) it may use; the objective counts (weighted) nodes that leave their candidate
device. Dataflow ``ordered`` uses the package's pipeline positions; ``acyclic`` adds one integer position per
device (a permutation) and per node, so that every forward edge goes forward in that order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CpsatOutcome", "solve", "placement_model"]


@dataclass(frozen=True)
class CpsatOutcome:
    status: str            # "OPTIMAL", "FEASIBLE", "INFEASIBLE" or "UNKNOWN" (time limit without a solution)
    placement: np.ndarray | None
    seconds: float


def _int_weights(graph) -> tuple[np.ndarray, int]:
    """Weight bytes as integers for the capacity rows, with a scale that keeps fractional bytes exact enough."""
    w = np.asarray(graph.weight_bytes, dtype=np.float64)
    if w.size == 0 or np.all(w == np.round(w)):
        return w.astype(np.int64), 1
    scale = 1000
    return np.ceil(w * scale).astype(np.int64), scale


def placement_model(m, graph, package, constraints):
    """Add the placement variables and every switched-on constraint to the CP-SAT model ``m``.

    Returns ``x``, a dict ``(node, device) -> BoolVar`` over the allowed pairs (support and pins), each node on
    exactly one device; None when some node has no allowed device. Shared by the repair model and the ``exact``
    search method.
    """
    n, k_dev = graph.n_nodes, package.n_devices
    dataflow = constraints.resolved_dataflow(package)
    max_skip = constraints.max_skip if dataflow == "ordered" else None
    allowed = np.ones((n, k_dev), dtype=bool)
    if constraints.support and graph.supported is not None:
        allowed &= graph.supported[:, package.kinds]
    if constraints.pins and graph.pin is not None:
        for i in np.flatnonzero(graph.pin >= 0):
            row = np.zeros(k_dev, dtype=bool)
            row[graph.pin[i]] = True
            allowed[i] &= row

    x = {}
    for i in range(n):
        devs = np.flatnonzero(allowed[i])
        if devs.size == 0:
            return None
        for d in devs:
            x[i, int(d)] = m.NewBoolVar(f"x{i}_{d}")
        m.AddExactlyOne(x[i, int(d)] for d in devs)

    def dev_expr(i, values):
        return sum(int(values[d]) * x[i, d] for d in range(k_dev) if (i, d) in x)

    forward = np.ones(n, dtype=bool) if graph.backward is None else ~graph.backward
    edges = [(int(u), int(v)) for u, v in graph.edges if forward[u] and forward[v]] if dataflow else []
    if dataflow == "ordered":
        pos = package.position
        p = [m.NewIntVar(0, k_dev - 1, f"p{i}") for i in range(n)]
        for i in range(n):
            m.Add(p[i] == dev_expr(i, pos))
        for u, v in edges:
            m.Add(p[u] <= p[v])
            if max_skip is not None:
                m.Add(p[v] - p[u] <= max_skip)
    elif dataflow == "acyclic":
        order = [m.NewIntVar(0, k_dev - 1, f"o{d}") for d in range(k_dev)]
        m.AddAllDifferent(order)
        p = [m.NewIntVar(0, k_dev - 1, f"p{i}") for i in range(n)]
        for i in range(n):
            for d in range(k_dev):
                if (i, d) in x:
                    m.Add(p[i] == order[d]).OnlyEnforceIf(x[i, d])
        for u, v in edges:
            m.Add(p[u] <= p[v])
        # Symmetry: devices of one class are interchangeable, but the candidate breaks ties; leave it to CP-SAT.
    if constraints.colors and graph.color is not None:
        groups: dict[int, list[int]] = {}
        for i in np.flatnonzero(graph.color >= 0):
            groups.setdefault(int(graph.color[i]), []).append(int(i))
        for members in groups.values():
            a = members[0]
            for b in members[1:]:
                for d in range(k_dev):
                    xa, xb = x.get((a, d)), x.get((b, d))
                    if xa is None and xb is None:
                        continue
                    if xa is None:
                        m.Add(xb == 0)
                    elif xb is None:
                        m.Add(xa == 0)
                    else:
                        m.Add(xa == xb)
    if constraints.capacity:
        wi, scale = _int_weights(graph)
        for d in range(k_dev):
            cap = float(package.sram_bytes[d])
            if not math.isfinite(cap):
                continue
            terms = [(int(wi[i]), x[i, d]) for i in range(n) if (i, d) in x and wi[i] > 0]
            if terms:
                limit = int(math.floor(cap * scale * (1 + 1e-9)))
                m.Add(sum(c * v for c, v in terms) <= limit)
    if constraints.all_used:
        for d in range(k_dev):
            m.AddBoolOr([x[i, d] for i in range(n) if (i, d) in x] or [m.NewConstant(0)])
    return x


def solve(graph, package, placement: np.ndarray, constraints, *, weights=None, max_seconds: float | None = None,
          seed: int | None = None, n_workers: int = 1) -> CpsatOutcome:
    """Minimise the weighted number of changed nodes subject to every switched-on constraint."""
    from ortools.sat.python import cp_model

    n, k_dev = graph.n_nodes, package.n_devices
    cand = np.asarray(placement, dtype=np.int64)
    cost = np.ones(n, dtype=np.int64) if weights is None else None
    if weights is not None:
        wf = np.asarray(weights, dtype=np.float64)
        top = float(wf.max(initial=0.0))
        if np.all(wf == np.round(wf)) and top <= 1e9:
            cost = wf.astype(np.int64)
        else:  # CP-SAT wants integers: the ratios to 1e-6 of the largest weight (any magnitude fits int64)
            cost = np.round(wf * (1e6 / top)).astype(np.int64) if top > 0 else np.zeros(n, dtype=np.int64)

    m = cp_model.CpModel()
    x = placement_model(m, graph, package, constraints)
    if x is None:
        return CpsatOutcome("INFEASIBLE", None, 0.0)
    # Objective: keep as many (weighted) nodes as possible on their candidate device.
    kept = [(int(cost[i]), x[i, int(cand[i])]) for i in range(n) if (i, int(cand[i])) in x]
    m.Maximize(sum(c * v for c, v in kept))
    for i in range(n):
        for d in range(k_dev):
            if (i, d) in x:
                m.AddHint(x[i, d], int(cand[i]) == d)

    solver = cp_model.CpSolver()
    if max_seconds is not None:
        solver.parameters.max_time_in_seconds = float(max_seconds)
    solver.parameters.num_workers = int(n_workers)
    solver.parameters.random_seed = int(seed or 0)
    status = solver.Solve(m)
    name = solver.StatusName(status)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        out = np.empty(n, dtype=np.int32)
        for i in range(n):
            for d in range(k_dev):
                if (i, d) in x and solver.Value(x[i, d]):
                    out[i] = d
                    break
        return CpsatOutcome(name, out, solver.WallTime())
    return CpsatOutcome("INFEASIBLE" if status == cp_model.INFEASIBLE else "UNKNOWN", None, solver.WallTime())

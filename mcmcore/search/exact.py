"""``exact`` method: a CP-SAT model of the whole placement problem, for small instances.

The model: ``x[i, d]`` (node i on device d) with every constraint of DESIGN.md, built by the repair model's
:func:`mcmcore.repair_cpsat.placement_model` (support, pins, colors, capacity, dataflow ``ordered`` with
``max_skip`` or ``acyclic`` with a device permutation, all_used); ``y[u, d]`` (the output of u is received on
device d, not its own) and ``s[u]`` (u sends at all). The interval is an integer variable ``T`` minimised subject to,
per device, ``C_d + X_d <= T`` (port model without overlap), ``C_d <= T`` and ``X_d <= T`` (overlap), and in the
links model ``C_d <= T`` and, per directed link, ``traffic_l / bandwidth_l <= T`` where a message (u, a -> d) loads
every link of ``package.route(a, d)`` (variables ``x[u, a] and y[u, d]``: N K^2 of them, fine for small K).

Times are scaled to integers with ``RESOLUTION`` units per upper bound and rounded *down*, so every model value is
at most the true interval: CP-SAT's best bound, scaled back, is a safe lower bound, and OPTIMAL proves the
optimum up to the rounding (at most ``terms / RESOLUTION`` relative); the placement is re-evaluated exactly before
it is offered, and optimality is claimed only when that value is within ``OPTIMALITY_TOLERANCE`` of the bound.

Only the throughput objective is modelled; with ``objective="latency"`` the method offers the pipeline split and
stops.
"""
from __future__ import annotations

import math

import numpy as np

from mcmcore.search.base import SearchProblem, Tracker
from mcmcore.search.bounds import compute_time_matrix, lower_bound

__all__ = ["run", "RESOLUTION", "DEFAULT_MAX_SECONDS", "OPTIMALITY_TOLERANCE"]

#: Integer units per upper bound on the interval.
RESOLUTION = 1e9
#: CP-SAT time limit when the search has no time budget.
DEFAULT_MAX_SECONDS = 60.0
#: Relative gap between the exact value and CP-SAT's bound under which the optimum counts as proven.
OPTIMALITY_TOLERANCE = 1e-6


def _hint(problem: SearchProblem, tracker: Tracker) -> np.ndarray | None:
    """The best placement known: the tracker's, else the best pipeline split (if valid)."""
    if tracker.best_placement is not None:
        return tracker.best_placement
    from mcmcore.search.dp import offer_repaired, pipeline_split

    placement, _ = pipeline_split(problem)
    if placement is not None:
        offer_repaired(problem, tracker, placement)
    return tracker.best_placement


def run(problem: SearchProblem, tracker: Tracker, *, seed: int = 0, n_threads=None, max_seconds: float | None = None,
        **options) -> None:
    """Solve the instance with CP-SAT within the tracker's time budget (``max_seconds`` caps it further)."""
    if options:
        raise ValueError(f"unknown exact option(s): {', '.join(sorted(options))} (exact takes max_seconds)")
    from ortools.sat.python import cp_model

    from mcmcore.repair_cpsat import placement_model  # the constraint model shared with exact repair

    g, pkg, cons = problem.graph, problem.package, problem.constraints
    n, k_dev = g.n_nodes, pkg.n_devices
    hint = _hint(problem, tracker)
    if problem.objective != "throughput" or n == 0 or tracker.proven_optimal:
        return
    overlap = bool(problem.overlap) if problem.overlap is not None else pkg.default_overlap
    ct = compute_time_matrix(g, pkg)
    lb0 = lower_bound(g, pkg, constraints=cons)
    ub = tracker.best_value if math.isfinite(tracker.best_value) else None
    if pkg.interconnect == "port":
        t = np.asarray(g.comm_time if g.comm_time is not None else g.out_bytes / pkg.bandwidth, dtype=np.float64)
    else:
        t = np.asarray(g.out_bytes, dtype=np.float64)
    ref = ub if ub is not None and ub > 0 else max(lb0, float(ct.max(initial=0.0)), 1e-290)
    scale = RESOLUTION / ref  # finite: RESOLUTION is far below 1e18

    def units(value: float) -> int:
        return int(math.floor(value * scale))

    m = cp_model.CpModel()
    x = placement_model(m, g, pkg, cons)
    if x is None:
        tracker.proven_infeasible = True
        tracker.info["infeasible_reason"] = "some node may run on no device (support and pins)"
        return
    succ = [g.successors(u) for u in range(n)]
    loads_c = [[] for _ in range(k_dev)]    # compute terms per device
    loads_x = [[] for _ in range(k_dev)]    # port-model communication terms per device
    for (i, d), var in x.items():
        c = units(ct[i, d])
        if c:
            loads_c[d].append(c * var)
    zero = m.NewConstant(0)
    y = {}
    for u in range(n):
        if len(succ[u]) == 0 or t[u] <= 0:
            continue
        for d in range(k_dev):
            feeds = [x[int(v), d] for v in succ[u] if (int(v), d) in x]
            if not feeds:
                continue
            yv = m.NewBoolVar(f"y{u}_{d}")
            xu = x.get((u, d), zero)
            for f in feeds:
                m.Add(yv >= f - xu)
            y[u, d] = yv
    links_terms: list[list] = [[] for _ in range(pkg.n_links)]
    if pkg.interconnect == "port":
        for u in range(n):
            ys = [y[u, d] for d in range(k_dev) if (u, d) in y]
            if not ys:
                continue
            s = m.NewBoolVar(f"s{u}")
            for yv in ys:
                m.Add(s >= yv)
            for d in range(k_dev):
                cu = units(t[u] * float(pkg.comm_factor[d]))
                if cu == 0:
                    continue
                if (u, d) in y:
                    loads_x[d].append(cu * y[u, d])
                if (u, d) in x:
                    z = m.NewBoolVar(f"z{u}_{d}")
                    m.Add(z >= s + x[u, d] - 1)
                    loads_x[d].append(cu * z)
    else:
        for (u, d), yv in y.items():
            for a in range(k_dev):
                if a == d or (u, a) not in x:
                    continue
                route = pkg.route(a, d)
                if not route:
                    continue
                w = m.NewBoolVar(f"w{u}_{a}_{d}")
                m.Add(w >= x[u, a] + yv - 1)
                for link in route:
                    cu = units(t[u] / float(pkg.link_bandwidth[link]))
                    if cu:
                        links_terms[link].append(cu * w)
    total = sum(units(ct[i].max()) for i in range(n)) + sum(units(t[u]) * 2 * k_dev * max(
        1.0, float(np.max(pkg.comm_factor))) for u in range(n)) + 1
    # with a known upper bound the model's optimum is at most the hint's model value <= RESOLUTION
    horizon = int(min(total, RESOLUTION + 1)) if ub is not None else int(total)
    T = m.NewIntVar(0, max(horizon, 1), "interval")
    for d in range(k_dev):
        if overlap or pkg.interconnect == "links":
            if loads_c[d]:
                m.Add(sum(loads_c[d]) <= T)
            if loads_x[d]:
                m.Add(sum(loads_x[d]) <= T)
        elif loads_c[d] or loads_x[d]:
            m.Add(sum(loads_c[d]) + sum(loads_x[d]) <= T)
    for terms in links_terms:
        if terms:
            m.Add(sum(terms) <= T)
    m.Minimize(T)
    if hint is not None:
        for (i, d), var in x.items():
            m.AddHint(var, int(hint[i]) == d)

    limit = tracker.remaining_seconds()
    limit = DEFAULT_MAX_SECONDS if not math.isfinite(limit) else limit
    if max_seconds is not None:
        limit = min(limit, float(max_seconds))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, float(limit))
    solver.parameters.num_workers = int(n_threads) if n_threads else 1
    solver.parameters.random_seed = int(seed)
    status = solver.Solve(m)
    tracker.info["exact"] = {"status": solver.StatusName(status), "seconds": solver.WallTime(),
                             "variables": len(m.Proto().variables), "scale": scale}
    if status == cp_model.INFEASIBLE:
        tracker.proven_infeasible = True
        tracker.info["infeasible_reason"] = "CP-SAT proved that no placement satisfies the constraints"
        return
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return
    placement = np.empty(n, dtype=np.int32)
    for (i, d), var in x.items():
        if solver.Value(var):
            placement[i] = d
    rep = problem.evaluate(placement)
    tracker.offer(placement, problem.value_of(rep), valid=rep.valid)
    # The model rounds every coefficient down: its bound, scaled back, never exceeds the true optimum.
    bound = max(0.0, float(solver.BestObjectiveBound()) / scale * (1 - 1e-12))
    tracker.lower_bound = max(tracker.lower_bound, min(bound, tracker.best_value))
    best = tracker.best_value
    if status == cp_model.OPTIMAL and (best - bound) <= OPTIMALITY_TOLERANCE * best:
        tracker.proven_optimal = True

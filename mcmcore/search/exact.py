"""``exact`` method: a CP-SAT model of the whole placement problem, for small instances.

The model: ``x[i, d]`` (node i on device d) with every constraint of DESIGN.md, built by the repair model's
:func:`mcmcore.repair_cpsat.placement_model` (support, pins, colors, capacity, dataflow ``ordered`` with
``max_skip`` or ``acyclic`` with a device permutation, all_used).

Throughput objective: ``y[u, d]`` (the output of u is received on device d, not its own) and ``s[u]`` (u sends at
all). The interval is an integer variable ``T`` minimised subject to, per device, ``C_d + X_d <= T`` (port model
without overlap), ``C_d <= T`` and ``X_d <= T`` (overlap), and in the links model ``C_d <= T`` and, per directed
link, ``traffic_l / bandwidth_l <= T`` where a message (u, a -> d) loads every link of ``package.route(a, d)``
(variables ``x[u, a] and y[u, d]``: N K^2 of them, fine for small K).

Latency objective: the list schedule of the cost model in the graph's fixed topological order. Start and finish
times per node; a node starts after the previous node on its device finishes (one running "device free" time per
device and position in the order) and after each input has arrived (the producer's finish plus, when remote, the
transfer time; with links ``hops * hop_latency`` plus the bytes over the slowest link of the route). The latency
``L >= finish`` is minimised; every time only has lower bounds, so the optimum is the earliest (list) schedule. The
search decides the placement first, then each time at its smallest value (CP-SAT's default search lowers ``L`` one
unit per solution through the slack of the times and proves nothing, even on three nodes).

Times are in seconds, scaled to integers of ``max(lower_bound / RESOLUTION, horizon / MAX_UNITS)`` seconds (the
horizon: the best known value, else a bound on every row or time of the model) and rounded *down*, so every model
value is at most the true value: CP-SAT's best bound, scaled back, is a safe lower bound, and OPTIMAL proves the
optimum up to the rounding; every solution is re-evaluated exactly when offered, and optimality is claimed only
when that value is within ``OPTIMALITY_TOLERANCE`` of the bound. Coefficients are clamped to the horizon (a term
above it only forbids its placement, as the unclamped one would). ``MAX_UNITS`` (2**30) keeps the product of any two
coefficients or bounds inside int64: with horizons near 2**32 units OR-tools 9.15's presolve certified wrong optima.
When the best value found falls far below the horizon (no hint, or a poor one), or the optimum is not proven for the
rounding, the model is built and solved again with the finer unit that value allows (at most ``MAX_ROUNDS`` times).

Budget: the model is built only when its estimated size (:func:`estimate_model_size`) fits ``MAX_MODEL_SIZE`` and
its estimated build time ``BUILD_SHARE`` of the time left; the clock is checked while building, and the solver gets
the time that is left. Otherwise the best placement known (the pipeline split, the hint) is the result and
``info["exact"]`` says why. ``max_evals`` counts placements: the hint's evaluations and each solution CP-SAT
reports (the solver stops when they reach the budget). Without ``max_seconds`` the solver runs at most
``DEFAULT_MAX_SECONDS`` (CP-SAT's deterministic time, so the result is reproducible, and wall time as a safeguard).
"""
from __future__ import annotations

import functools
import math
import time
import warnings

import numpy as np

from mcmcore._checks import check_seconds
from mcmcore.errors import ExactModelError
from mcmcore.search.base import SearchProblem, Tracker
from mcmcore.search.bounds import compute_time_matrix

__all__ = ["run", "estimate_model_size", "ExactModelError", "RESOLUTION", "MAX_UNITS", "DEFAULT_MAX_SECONDS",
           "OPTIMALITY_TOLERANCE", "MAX_ROUNDS", "COARSE_UNITS", "MAX_MODEL_SIZE", "BUILD_SECONDS_PER_ITEM",
           "BUILD_SHARE"]

#: Integer units per lower bound on the objective (when it is positive and the horizon allows).
RESOLUTION = 1e9
#: Largest time the model represents, in units. Coefficients are clamped to it, so a row of ``MAX_MODEL_SIZE``
#: terms stays inside int64 (CP-SAT rejects a model whose sums may overflow), and so does the product of two of
#: them: with horizons near 2**32 units OR-tools 9.15's presolve certified wrong optima (an overflow of such
#: products, apparently; tests/test_search_exact.py keeps the instance).
MAX_UNITS = 2 ** 30
#: CP-SAT time limit when the search has no time budget (``max_evals`` only).
DEFAULT_MAX_SECONDS = 60.0
#: Relative gap between the exact value and CP-SAT's bound under which the optimum counts as proven.
OPTIMALITY_TOLERANCE = 1e-6
#: Largest model (variables + constraints + linear terms, as estimated) the method builds at all.
MAX_MODEL_SIZE = 2_000_000
#: Seconds to build one item of the model in Python (measured: 1.5-4 us; rounded up).
BUILD_SECONDS_PER_ITEM = 5e-6
#: Share of the time budget the model's estimated build time may take (the rest is the solver's).
BUILD_SHARE = 0.5
#: Solves at most: a round whose optimum is not proven for the rounding, or whose solutions fall far below the
#: horizon a poor known placement set, gets another with the finer unit the best value allows.
MAX_ROUNDS = 4
#: A search whose best value falls under this many units stops for a model with a finer unit.
COARSE_UNITS = 2 ** 17
#: Items built between two looks at the clock.
_CHECK_EVERY = 4096


class _OutOfTime(Exception):
    """Building the model ran past its share of the budget."""


class _Clock:
    """Counts built items and raises :class:`_OutOfTime` once the build deadline has passed."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.items = 0
        self._next = _CHECK_EVERY

    def tick(self, n: int = 1) -> None:
        self.items += n
        if self.items >= self._next:
            self._next = self.items + _CHECK_EVERY
            self.check()

    def check(self) -> None:
        if time.perf_counter() > self.deadline:
            raise _OutOfTime


def _hint(problem: SearchProblem, tracker: Tracker) -> np.ndarray | None:
    """The best placement known: the tracker's, else the best pipeline split (if valid, or repaired)."""
    if tracker.best_placement is not None:
        return tracker.best_placement
    from mcmcore.search.dp import offer_repaired, pipeline_split

    placement, _ = pipeline_split(problem)
    if placement is not None:
        offer_repaired(problem, tracker, placement)
    return tracker.best_placement


def _allowed(problem: SearchProblem) -> np.ndarray:
    """(n, K) bool: the pairs placement_model creates a variable for (support and pins)."""
    g, pkg, cons = problem.graph, problem.package, problem.constraints
    allowed = np.ones((g.n_nodes, pkg.n_devices), dtype=bool)
    if cons.support and g.supported is not None:
        allowed &= g.supported[:, pkg.kinds]
    if cons.pins and g.pin is not None:
        pinned = np.flatnonzero(g.pin >= 0)
        row = allowed[pinned, g.pin[pinned]]
        allowed[pinned] = False
        allowed[pinned, g.pin[pinned]] = row
    return allowed


def _transfer_times(problem: SearchProblem) -> np.ndarray:
    """Port model: seconds to ship each node's output once; links model: its bytes."""
    g, pkg = problem.graph, problem.package
    if pkg.interconnect == "port":
        return np.asarray(g.comm_time if g.comm_time is not None else g.out_bytes / pkg.bandwidth, dtype=np.float64)
    return np.asarray(g.out_bytes, dtype=np.float64)


def _route_tables(pkg) -> tuple[np.ndarray, np.ndarray]:
    """Links model, per device pair: hops and 1 / (the slowest bandwidth on the route) (0 on the diagonal)."""
    k_dev = pkg.n_devices
    hops = np.zeros((k_dev, k_dev))
    inv_bw = np.zeros((k_dev, k_dev))
    for a in range(k_dev):
        for b in range(k_dev):
            route = pkg.route(a, b)
            if route:
                hops[a, b] = pkg.hops(a, b)
                inv_bw[a, b] = 1.0 / min(float(pkg.link_bandwidth[link]) for link in route)
    return hops, inv_bw


def estimate_model_size(problem: SearchProblem) -> int:
    """The number of variables, constraints and linear terms the ``exact`` model of ``problem`` will have
    (approximately, from the graph's degrees and the allowed node-device pairs; no model is built). Building
    takes about ``BUILD_SECONDS_PER_ITEM`` seconds per item."""
    g, pkg = problem.graph, problem.package
    n, k_dev, n_edges = g.n_nodes, pkg.n_devices, int(g.n_edges)
    if n == 0:
        return 0
    allowed = _allowed(problem)
    per_node = allowed.sum(axis=1).astype(np.float64)  # devices each node may use
    n_x = float(per_node.sum())
    # placement_model: x, exactly-one rows, positions and their links, capacity and all_used rows, dataflow edges
    size = 5.0 * n_x + 3.0 * n + 3.0 * n_edges + 2.0 * k_dev
    links = pkg.interconnect == "links"
    if links:
        mean_hops = float(_route_tables(pkg)[0].sum()) / max(1, k_dev * (k_dev - 1))
    if problem.objective == "latency":
        size += 4.0 * n + 4.0 * n_x  # start, finish, device-free times and their rows
        if links:
            size += 3.0 * n_edges * (k_dev * k_dev + 1)  # one enforced row per pair of devices and edge
        else:
            size += n_edges * (3.0 * k_dev + 3.0)  # remote indicator and its rows
        return int(size)
    size += n_x  # compute terms
    ptr = np.asarray(g.succ_ptr, dtype=np.int64)
    deg = np.diff(ptr)
    senders = np.flatnonzero((deg > 0) & (_transfer_times(problem) > 0))
    if senders.size == 0:
        return int(size)
    # feeds[u, d]: successors of u that may sit on d; y[u, d] exists where there is one
    feeds = np.add.reduceat(allowed[np.asarray(g.succ_idx, dtype=np.int64)].astype(np.int64), ptr[:-1][deg > 0],
                            axis=0)[np.searchsorted(np.flatnonzero(deg > 0), senders)]
    n_y_per = (feeds > 0).sum(axis=1).astype(np.float64)
    size += 2.0 * n_y_per.sum() + 2.0 * float(feeds.sum())  # y variables, y >= feed - x rows
    if links:
        n_w = float((n_y_per * per_node[senders]).sum())  # w[u, a, d] per y and allowed sender device
        size += n_w * (3.0 + mean_hops)
    else:
        size += 3.0 * senders.size + 2.0 * n_y_per.sum() + 4.0 * float(per_node[senders].sum())  # s, z and terms
    return int(size)


def run(problem: SearchProblem, tracker: Tracker, *, seed: int = 0, n_threads=None, max_seconds: float | None = None,
        **options) -> None:
    """Solve the instance with CP-SAT within the tracker's budget (``max_seconds`` caps its time further).

    Parameters
    ----------
    problem, tracker : SearchProblem, Tracker
    seed : int
        CP-SAT's random seed.
    n_threads : int, optional
        CP-SAT workers (default 1: one worker is deterministic).
    max_seconds : float, optional
        Time limit of this method, within the tracker's.

    Notes
    -----
    Time budget: the model is built only when its estimated size and build time fit (``MAX_MODEL_SIZE``, and
    ``BUILD_SHARE`` of the time left at ``BUILD_SECONDS_PER_ITEM`` per item); building stops when it runs past
    that share; the solver gets the rest. ``max_evals`` counts the hint's evaluations and each solution CP-SAT
    reports (each is evaluated exactly), and stops the solver when reached; a budget the hint spent leaves CP-SAT
    out. Without a time budget (``max_evals`` only) each solve is capped at ``DEFAULT_MAX_SECONDS`` of CP-SAT's
    deterministic time (the same result every run) and all of them at as many seconds of wall time.

    When the model is not built or not solved, the best placement known (the tracker's, else the pipeline split)
    is the result and ``tracker.info["exact"]["status"]`` says why: ``ALREADY_OPTIMAL``, ``NO_BUDGET``,
    ``TOO_LARGE`` or ``OUT_OF_TIME`` (with a ``reason``); otherwise it is CP-SAT's status (``OPTIMAL``,
    ``FEASIBLE``, ``UNKNOWN``, ``INFEASIBLE``), with the seconds, model size, unit, rounds and solutions.

    Raises
    ------
    ExactModelError
        CP-SAT rejected the model (an mcmcore bug) and no valid placement is known to fall back on; with one, a
        ``RuntimeWarning`` is issued instead and the placement stays the result.
    """
    if options:
        raise ValueError(f"unknown exact option(s): {', '.join(sorted(options))} (exact takes max_seconds)")
    max_seconds = check_seconds(max_seconds, "exact's max_seconds")
    n = problem.graph.n_nodes
    if n == 0:
        return
    info: dict = {}
    tracker.info["exact"] = info
    _hint(problem, tracker)
    if tracker.proven_optimal:
        info.update(status="ALREADY_OPTIMAL", reason="the known placement reaches the lower bound")
        return
    timed = math.isfinite(tracker.remaining_seconds()) or max_seconds is not None
    limit = tracker.remaining_seconds() if math.isfinite(tracker.remaining_seconds()) else DEFAULT_MAX_SECONDS
    if max_seconds is not None:
        limit = min(limit, max_seconds)
    deadline = time.perf_counter() + limit
    if limit <= 0 or tracker.remaining_evals() <= 0:
        info.update(status="NO_BUDGET", reason="the budget was spent on the start placement (the pipeline split)")
        return
    size = estimate_model_size(problem)
    info["model_size"] = size
    for rounds in range(1, MAX_ROUNDS + 1):
        info["rounds"] = rounds
        unit, refine = _solve_round(problem, tracker, info, size, deadline, timed, seed, n_threads)
        if unit is None or tracker.exhausted() or time.perf_counter() >= deadline:
            return
        if not refine:  # stopped by itself: OPTIMAL up to the rounding but not proven, a finer unit may prove it
            finer = _scaling(tracker.lower_bound, tracker.best_value, math.inf)[0]
            if info["status"] != "OPTIMAL" or not finer < 0.5 * unit:
                return


def _solve_round(problem: SearchProblem, tracker: Tracker, info: dict, size: int, deadline: float, timed: bool,
                 seed: int, n_threads) -> tuple[float | None, bool]:
    """Build the model (when it fits the time left) and solve it. Returns the seconds per unit (None when it was
    not solved: ``info`` says why) and whether the search stopped early because the solutions found allow a much
    finer unit (the horizon was set by a poor known placement)."""
    from ortools.sat.python import cp_model

    left = deadline - time.perf_counter()
    build_seconds = size * BUILD_SECONDS_PER_ITEM
    if size > MAX_MODEL_SIZE or build_seconds > BUILD_SHARE * left:
        why = (f"over the limit of {MAX_MODEL_SIZE:,} items" if size > MAX_MODEL_SIZE else
               f"an estimated {build_seconds:.2g} s to build, over {BUILD_SHARE:.0%} of the {max(left, 0.0):.3g} s "
               f"left")
        info.update(status="TOO_LARGE", reason=f"the CP-SAT model would have about {size:,} variables, constraints "
                                               f"and terms ({why}); the best placement known is the result")
        return None, False
    try:
        built = _build(problem, tracker, _Clock(time.perf_counter() + BUILD_SHARE * left))
    except _OutOfTime:
        info.update(status="OUT_OF_TIME", reason=f"building the CP-SAT model took over {BUILD_SHARE:.0%} of the "
                                                 f"{left:.3g} s left (estimated {size:,} items)")
        return None, False
    if built is None:
        tracker.proven_infeasible = True
        tracker.info["infeasible_reason"] = "some node may run on no device (support and pins)"
        info.update(status="INFEASIBLE")
        return None, False
    m, x, unit = built
    left = deadline - time.perf_counter()
    if left <= 0:
        info.update(status="OUT_OF_TIME", reason="no time left to solve after building the model")
        return None, False
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(left)
    if not timed:  # max_evals only: a deterministic limit (the same every run) makes the result reproducible
        solver.parameters.max_deterministic_time = DEFAULT_MAX_SECONDS
    solver.parameters.num_workers = int(n_threads) if n_threads else 1
    if problem.objective == "latency" and solver.parameters.num_workers == 1:
        solver.parameters.search_branching = cp_model.FIXED_SEARCH  # the model's strategy (with several workers
        # one of them follows it)
    solver.parameters.random_seed = int(seed) % (2 ** 31)
    # OR-tools 9.15's presolve may certify a wrong optimum through its inclusion detection on linear models with
    # exactly-one rows, like these (google/or-tools#5293); switched off, it costs nothing measurable here.
    solver.parameters.presolve_inclusion_work_limit = 0
    known = tracker.best_placement is not None
    observer = _Observer(problem, tracker, x, unit)
    status = solver.Solve(m, observer.callback)
    if observer.error is not None:
        raise observer.error
    info.update(status=solver.StatusName(status), seconds=info.get("seconds", 0.0) + solver.WallTime(),
                variables=len(m.Proto().variables), unit_seconds=unit,
                solutions=info.get("solutions", 0) + observer.solutions)
    info.pop("reason", None)
    if status == cp_model.MODEL_INVALID or (status == cp_model.INFEASIBLE and known):
        reason = m.Validate() if status == cp_model.MODEL_INVALID else (
            "CP-SAT proved the model infeasible, but a valid placement is known")
        message = f"the exact method's CP-SAT model is wrong ({solver.StatusName(status)}: {reason})"
        info["error"] = message
        if tracker.best_placement is None:
            raise ExactModelError(message + "; please report this instance")
        warnings.warn(message + "; the best placement known is the result", RuntimeWarning, stacklevel=3)
        return None, False
    if status == cp_model.INFEASIBLE:
        tracker.proven_infeasible = True
        tracker.info["infeasible_reason"] = "CP-SAT proved that no placement satisfies the constraints"
        return None, False
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    observer.offer(solver.BooleanValue, count=False)  # the final solution, seen or not
    # The model rounds every coefficient down: its bound, scaled back, never exceeds the true optimum.
    bound = max(0.0, float(solver.BestObjectiveBound()) * unit * (1 - 1e-12))
    tracker.lower_bound = max(tracker.lower_bound, min(bound, tracker.best_value))
    best = tracker.best_value
    if status == cp_model.OPTIMAL and (best - bound) <= OPTIMALITY_TOLERANCE * best:
        tracker.proven_optimal = True
    return unit, observer.refine


class _Observer:
    """Offers each solution CP-SAT finds (one evaluation each) and stops the search when the tracker's budget is
    spent; an exception raised while offering stops the search and is re-raised after it. (The CP-SAT callback
    class that calls it is made on first use: ortools is an optional dependency.)"""

    def __init__(self, problem: SearchProblem, tracker: Tracker, x: dict, unit: float):
        self.problem, self.tracker = problem, tracker
        self.unit = unit
        self.refine = False
        self.items = list(x.items())
        self.solutions = 0
        self.error: BaseException | None = None
        self.callback = _callback_class()(self)

    def offer(self, value_of, count: bool = True) -> None:
        placement = np.zeros(self.problem.graph.n_nodes, dtype=np.int32)
        for (i, d), var in self.items:
            if value_of(var):
                placement[i] = d
        rep = self.problem.evaluate(placement)
        self.tracker.offer(placement, self.problem.value_of(rep), valid=rep.valid, count=count)

    def _too_coarse(self) -> bool:
        """The best value is under ``COARSE_UNITS`` units and a 4x finer unit would hold it: the horizon came
        from a much worse placement (or none), and the rounding hides the differences that are left."""
        best = self.tracker.best_value
        return best < COARSE_UNITS * self.unit and _scaling(self.tracker.lower_bound, best, math.inf)[0] < self.unit / 4

    def on_solution(self, callback) -> None:
        try:
            self.solutions += 1
            self.offer(callback.BooleanValue)
            if self.tracker.exhausted():
                callback.StopSearch()
            elif self._too_coarse():
                self.refine = True
                callback.StopSearch()
        except BaseException as exc:  # CP-SAT's C++ caller cannot carry it: keep it for run()
            self.error = exc
            callback.StopSearch()


@functools.cache
def _callback_class():
    from ortools.sat.python import cp_model

    class _Callback(cp_model.CpSolverSolutionCallback):
        def __init__(self, observer: _Observer):
            super().__init__()
            self.observer = observer

        def on_solution_callback(self) -> None:
            self.observer.on_solution(self)

    return _Callback


def _scaling(lower: float, upper: float | None, top: float) -> tuple[float, int]:
    """Seconds per model unit and the horizon (largest time, in units).

    ``lower``: a lower bound on the optimum (0 when none); ``upper``: the best known value (None when none);
    ``top``: an upper bound on every model row in seconds. The unit gives the optimum about ``RESOLUTION`` units
    when a positive lower bound is known, and keeps the horizon within ``MAX_UNITS``.
    """
    if upper is not None:
        top = min(top, upper)  # only placements better than the known one matter
    if not top > 0:  # only placements of value 0 matter: any positive term forbids its placement
        return float(np.finfo(np.float64).tiny), 0
    top = min(top, np.finfo(np.float64).max)
    ref = lower if lower > 0 else top
    unit = max(ref / RESOLUTION, top / MAX_UNITS, np.finfo(np.float64).tiny)
    slack = 1e-6 if upper is not None else 1e-9  # the known placement's model value stays inside the horizon
    horizon = int(min(top / unit * (1 + slack), 2.0 * MAX_UNITS)) + 2
    return unit, horizon


def _units(unit: float, horizon: int):
    """Seconds -> integer units, rounded down and clamped to ``horizon + 1`` (a larger term only forbids its
    placement, as this one does)."""
    cap = horizon + 1

    def units(seconds: float) -> int:
        value = seconds / unit
        return cap if value >= cap else int(value)

    return units


def _build(problem: SearchProblem, tracker: Tracker, clock: _Clock):
    """The CP-SAT model: ``(model, x, seconds per unit)``, or None when some node has no allowed device."""
    from ortools.sat.python import cp_model

    from mcmcore.repair_cpsat import placement_model  # the constraint model shared with exact repair

    g, pkg = problem.graph, problem.package
    m = cp_model.CpModel()
    x = placement_model(m, g, pkg, problem.constraints)
    if x is None:
        return None
    clock.tick(5 * len(x))
    clock.check()
    upper = tracker.best_value if math.isfinite(tracker.best_value) else None
    if problem.objective == "latency":
        unit, objective = _latency_model(problem, m, x, clock, tracker.lower_bound, upper)
    else:
        unit, objective = _throughput_model(problem, m, x, clock, tracker.lower_bound, upper)
    m.Minimize(objective)
    if tracker.best_placement is not None:
        hint = tracker.best_placement
        for (i, d), var in x.items():
            m.AddHint(var, int(hint[i]) == d)
    clock.check()
    return m, x, unit


def _throughput_model(problem, m, x, clock, lower, upper):
    """Rows of the interval: (seconds, variable) terms per device and link, then ``sum <= T``. Returns the unit
    and ``T``."""
    g, pkg = problem.graph, problem.package
    n, k_dev = g.n_nodes, pkg.n_devices
    links = pkg.interconnect == "links"
    overlap = True if links else (bool(problem.overlap) if problem.overlap is not None else pkg.default_overlap)
    ct = compute_time_matrix(g, pkg)
    t = _transfer_times(problem)
    rows_c = [[] for _ in range(k_dev)]    # compute terms per device
    rows_x = [[] for _ in range(k_dev)]    # port-model communication terms per device
    rows_l = [[] for _ in range(pkg.n_links)]
    for (i, d), var in x.items():
        if ct[i, d] > 0:
            rows_c[d].append((float(ct[i, d]), var))
    clock.tick(len(x))
    zero = m.NewConstant(0)
    y = {}
    for u in range(n):
        succ = g.successors(u)
        if len(succ) == 0 or t[u] <= 0:
            continue
        for d in range(k_dev):
            feeds = [x[int(v), d] for v in succ if (int(v), d) in x]
            if not feeds:
                continue
            yv = m.NewBoolVar(f"y{u}_{d}")
            xu = x.get((u, d), zero)
            for f in feeds:
                m.Add(yv >= f - xu)
            y[u, d] = yv
            clock.tick(2 + 2 * len(feeds))
    if not links:
        for u in range(n):
            ys = [y[u, d] for d in range(k_dev) if (u, d) in y]
            if not ys:
                continue
            s = m.NewBoolVar(f"s{u}")
            for yv in ys:
                m.Add(s >= yv)
            for d in range(k_dev):
                cost = float(t[u]) * float(pkg.comm_factor[d])
                if cost <= 0:
                    continue
                if (u, d) in y:
                    rows_x[d].append((cost, y[u, d]))
                if (u, d) in x:
                    z = m.NewBoolVar(f"z{u}_{d}")
                    m.Add(z >= s + x[u, d] - 1)
                    rows_x[d].append((cost, z))
            clock.tick(3 + 5 * len(ys))
    else:
        routes = {(a, d): pkg.route(a, d) for a in range(k_dev) for d in range(k_dev) if a != d}
        bw = [float(b) for b in pkg.link_bandwidth]
        for (u, d), yv in y.items():
            for a in range(k_dev):
                if a == d or (u, a) not in x or not routes[a, d]:
                    continue
                w = m.NewBoolVar(f"w{u}_{a}_{d}")
                m.Add(w >= x[u, a] + yv - 1)
                for link in routes[a, d]:
                    rows_l[link].append((float(t[u]) / bw[link], w))
                clock.tick(3 + len(routes[a, d]))
    if overlap:
        rows = rows_c + rows_x + rows_l
    else:
        rows = [rows_c[d] + rows_x[d] for d in range(k_dev)]
    rows = [row for row in rows if row]
    top = max((math.fsum(c for c, _ in row) for row in rows), default=0.0)
    unit, horizon = _scaling(lower, upper, top)
    units = _units(unit, horizon)
    T = m.NewIntVar(0, horizon, "interval")
    for row in rows:
        terms = [(units(c), var) for c, var in row]
        terms = [(c, var) for c, var in terms if c]
        if terms:
            m.Add(sum(c * var for c, var in terms) <= T)
        clock.tick(len(row))
    return unit, T


def _latency_model(problem, m, x, clock, lower, upper):
    """The list schedule in the graph's topological order (module docstring), with a search strategy for it
    (solve it with ``FIXED_SEARCH``). Returns the unit and ``L``."""
    from ortools.sat.python import cp_model

    g, pkg = problem.graph, problem.package
    n, k_dev = g.n_nodes, pkg.n_devices
    links = pkg.interconnect == "links"
    ct = compute_time_matrix(g, pkg)
    t = _transfer_times(problem)
    has_succ = np.diff(np.asarray(g.succ_ptr, dtype=np.int64)) > 0
    if links:
        hops, inv_bw = _route_tables(pkg)
        hop_seconds = hops * float(pkg.hop_latency)

        def delay(q, a, b):
            return float(hop_seconds[a, b] + t[q] * inv_bw[a, b])

        worst_delay = np.where(has_succ, float(hop_seconds.max()) + t * float(inv_bw.max()), 0.0)
    else:
        worst_delay = np.where(has_succ, t, 0.0)
    # every chain of the schedule passes each node once: its compute plus at most one of its output's delays
    worst_ct = [max(float(ct[i, d]) for d in range(k_dev) if (i, d) in x) for i in range(n)]
    top = math.fsum(worst_ct) + math.fsum(float(v) for v in worst_delay)
    unit, horizon = _scaling(lower, upper, top)
    units = _units(unit, horizon)
    start = [m.NewIntVar(0, horizon, f"start{i}") for i in range(n)]
    finish = [m.NewIntVar(0, horizon, f"finish{i}") for i in range(n)]
    for i in range(n):
        m.Add(finish[i] == start[i] + sum(units(float(ct[i, d])) * x[i, d] for d in range(k_dev) if (i, d) in x))
    clock.tick(4 * n)
    free = [None] * k_dev  # per device: the finish of the last node placed on it so far (None: nothing yet)
    for i in (int(v) for v in g.topo_order):
        for d in range(k_dev):
            if (i, d) not in x:
                continue
            if free[d] is not None:
                m.Add(start[i] >= free[d]).OnlyEnforceIf(x[i, d])
            after = m.NewIntVar(0, horizon, f"free{i}_{d}")
            m.Add(after >= finish[i]).OnlyEnforceIf(x[i, d])
            if free[d] is not None:
                m.Add(after >= free[d])
            free[d] = after
        clock.tick(4 * k_dev)
        for q in (int(v) for v in g.predecessors(i)):
            m.Add(start[i] >= finish[q])
            if links:
                for a in range(k_dev):
                    if (q, a) not in x:
                        continue
                    for b in range(k_dev):
                        if a == b or (i, b) not in x:
                            continue
                        late = units(delay(q, a, b))
                        if late:
                            m.Add(start[i] >= finish[q] + late).OnlyEnforceIf([x[q, a], x[i, b]])
                clock.tick(3 * k_dev * k_dev + 1)
            else:
                late = units(float(t[q]))
                if late:
                    remote = m.NewBoolVar(f"r{q}_{i}")
                    for d in range(k_dev):
                        if (i, d) in x:
                            m.Add(remote >= x[i, d] - x.get((q, d), 0))
                    m.Add(start[i] >= finish[q] + late * remote)
                clock.tick(3 * k_dev + 3)
    latency = m.NewIntVar(0, horizon, "latency")
    for f in free:
        if f is not None:
            m.Add(latency >= f)
    # Search placements first (in topological order), then each time at its smallest value: that is the list
    # schedule of the placement, its best. CP-SAT's default search instead lowers the latency one unit per solution
    # through the slack of the times and proves nothing even on 3 nodes.
    order = [int(v) for v in g.topo_order]
    m.AddDecisionStrategy([x[i, d] for i in order for d in range(k_dev) if (i, d) in x], cp_model.CHOOSE_FIRST,
                          cp_model.SELECT_MAX_VALUE)
    m.AddDecisionStrategy([v for i in order for v in (start[i], finish[i])] + [latency], cp_model.CHOOSE_FIRST,
                          cp_model.SELECT_MIN_VALUE)
    return unit, latency

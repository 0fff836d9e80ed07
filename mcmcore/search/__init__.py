"""Search for the best valid placement: one entry point, :func:`partition`, over a registry of methods.

A method is a function ``run(problem, tracker, *, seed, n_threads, **options)`` that offers placements to the
:class:`~mcmcore.search.base.Tracker` until the tracker's budget is exhausted (or it has proven optimality). Methods
share the lower layers (the C annealing loop, repair, random_valid), never ``partition`` itself.
"""
from __future__ import annotations

import importlib
import math
from typing import Any, Callable

import numpy as np

from mcmcore._checks import check_count, check_seconds, check_seed, check_threads
from mcmcore._progress import ProgressBar, format_seconds
from mcmcore.constraints import Constraints
from mcmcore.errors import InfeasibleError
from mcmcore.graph import Graph
from mcmcore.package import Package
from mcmcore.search.base import OBJECTIVES, History, SearchProblem, SearchResult, SearchStatus, Tracker
from mcmcore.search.bounds import lower_bound
from mcmcore.search.warmup import warm_up

__all__ = ["partition", "METHODS", "register_method", "SearchResult", "SearchStatus", "History", "lower_bound",
           "DEFAULT_MAX_SECONDS", "warm_up", "is_interrupt"]

#: Budget when neither max_evals nor max_seconds is given.
DEFAULT_MAX_SECONDS = 10.0

#: name -> "module:function" (imported lazily, so optional dependencies load only when used)
METHODS: dict[str, str] = {
    "random": "mcmcore.search.random_search:run",
    "anneal": "mcmcore.search.anneal:run",
    "dp": "mcmcore.search.dp:run",
    "exact": "mcmcore.search.exact:run",
    "auto": "mcmcore.search.auto:run",
    "metis": "mcmcore.search.partitioners:run_metis",
    "kahypar": "mcmcore.search.partitioners:run_kahypar",
    "multilevel": "mcmcore.search.multilevel:run",
    "rl": "mcmcore.rl.search:run",
}


def register_method(name: str, target: str | Callable) -> None:
    """Add a method: ``target`` is a callable or a ``"module:function"`` string."""
    METHODS[name] = target


def _resolve(name: str) -> Callable:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; methods are {', '.join(sorted(METHODS))}")
    target = METHODS[name]
    if callable(target):
        return target
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


class _Progress:
    """The search's progress: best objective and evaluations/s (refreshed at most 10 times a second)."""

    def __init__(self, method: str, tracker: Tracker, enabled: bool):
        self.tracker = tracker
        self._last = -1.0
        self._bar = ProgressBar(method, 1000, enabled=enabled, count=False)

    def __call__(self, tracker: Tracker) -> None:
        if not self._bar.enabled:
            return
        now = tracker.elapsed()
        if now - self._last < 0.1:
            return
        self._last = now
        best = tracker.best_value
        rate = tracker.evals / max(now, 1e-9)
        status = (f"best {format_seconds(best)}" if math.isfinite(best) else "no valid placement yet") + \
                 f" | {tracker.evals:,} evals ({rate:,.0f}/s)"
        self._bar.update(completed=int(1000 * tracker.fraction()), status=status)

    def close(self, finished: bool = True) -> None:
        """Draw the last state; a search that ended (budget spent, or optimum proven early) shows full."""
        self._last = -1.0
        self(self.tracker)
        if finished:
            self._bar.update(completed=1000)
        self._bar.close()


def partition(graph: Graph, package: Package, *, method: str = "auto", constraints: Constraints | None = None,
              objective: str = "throughput", max_evals: int | None = None, max_seconds: float | None = None,
              seed: int = 0, n_threads: int | None = None, progress: bool = True, overlap: bool | None = None,
              start=None, **options: Any) -> SearchResult:
    """Find the valid placement with the best throughput (or latency).

    Parameters
    ----------
    graph, package : Graph, Package
    method : str
        ``auto`` (default), ``random``, ``anneal``, ``dp``, ``exact``, ``metis``, ``kahypar``, ``multilevel``,
        ``rl`` -- see :data:`METHODS`.
    constraints : Constraints, optional
    objective : {"throughput", "latency"}
        Throughput minimises the pipeline interval; latency the single-sample latency.
    max_evals, max_seconds : optional
        Budget. Without either, ``max_seconds`` = :data:`DEFAULT_MAX_SECONDS`. The seconds count from after the
        numba kernels are ready (:func:`mcmcore.search.warmup.warm_up`: compiled on first use, 10-20 s once,
        then loaded from numba's cache).
    seed : int
        Same seed and ``max_evals`` budget, same result.
    n_threads : int, optional
        Threads for methods that run several chains or batches (default: all CPUs this process may use).
    progress : bool
        Show a progress line on stderr.
    start : array-like or SearchResult, optional
        A placement to continue from, e.g. the result of an interrupted run: it is evaluated first (one
        evaluation), so the result is never worse, and annealing (``anneal``, ``auto``) starts from it when it is
        valid.
    **options
        Passed to the method.

    Returns
    -------
    SearchResult
        Interrupted (Ctrl-C, or SIGTERM under ``mcm``) after a valid placement was found, the best so far, with
        ``info["interrupted"] = True``; before that the ``KeyboardInterrupt`` propagates.

    Raises
    ------
    InfeasibleError
        When the instance is proven to have no valid placement (the message says why).
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be an mcmcore.Graph, got {type(graph).__name__}")
    if not isinstance(package, Package):
        raise TypeError(f"package must be an mcmcore.Package (e.g. Package.preset('ring4')), got "
                        f"{type(package).__name__}")
    if not isinstance(method, str):
        raise TypeError(f"method must be a method name (a string), got {method!r}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    max_evals = check_count(max_evals, "max_evals")
    max_seconds = check_seconds(max_seconds)
    seed = check_seed(seed)
    n_threads = check_threads(n_threads)
    if overlap is not None and not isinstance(overlap, (bool, np.bool_)):
        raise TypeError(f"overlap must be True, False or None, got {overlap!r}")
    if max_evals is None and max_seconds is None:
        max_seconds = DEFAULT_MAX_SECONDS
    constraints = Constraints() if constraints is None else constraints
    if not isinstance(constraints, Constraints):
        raise TypeError(f"constraints must be an mcmcore.Constraints, got {type(constraints).__name__}")
    run = _resolve(method)
    problem = SearchProblem(graph, package, constraints, objective, overlap)
    first = problem.evaluate(np.zeros(graph.n_nodes, dtype=np.int32))  # validates graph/package fit early
    if not (math.isfinite(first.interval) and math.isfinite(first.latency)):
        raise ValueError(f"the graph's times on this package overflow: with every node on device 0 the interval is "
                         f"{first.interval!r} s; check the units of the costs (flops, bytes, latency) and the "
                         f"package's rates")
    _check_feasible(problem)
    if method in METHODS and method != "random":  # they use the split or the DP: compile before the clock starts
        seconds = warm_up()
        if progress and seconds > 2.0:
            import sys

            print(f"compiled the search kernels in {seconds:.1f} s (first use only: numba caches them on disk)",
                  file=sys.stderr)
    tracker = Tracker(problem, max_evals=max_evals, max_seconds=max_seconds)
    # a placement that reaches the compute bound is optimal: every method stops there (exhausted())
    tracker.lower_bound = lower_bound(graph, package, objective=objective, constraints=constraints)
    bar = _Progress(method, tracker, progress)
    tracker.on_progress = bar
    try:
        if start is not None:
            tracker.offer(_start_placement(start, graph, package))
            if tracker.best_placement is not None:
                tracker.info["started_from"] = tracker.best_value
        run(problem, tracker, seed=int(seed), n_threads=n_threads, **options)
    except BaseException as exc:
        if not is_interrupt(exc):
            raise
        tracker.info["interrupted"] = True
        if tracker.best_placement is None:
            raise KeyboardInterrupt from None
    finally:
        bar.close(finished=not tracker.info.get("interrupted"))
    return finish(problem, tracker, method, seed)


def is_interrupt(exc: BaseException) -> bool:
    """True for a ``KeyboardInterrupt``, also when it arrived inside a compiled (numba) call and surfaces as the
    ``SystemError`` "returned a result with an exception set" that wraps it."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, KeyboardInterrupt):
            return True
        if not isinstance(exc, SystemError):
            return False
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _start_placement(start, graph: Graph, package: Package) -> np.ndarray:
    from mcmcore.evaluate import as_placement

    if isinstance(start, SearchResult):
        start = start.placement
    if start is None:
        raise ValueError("start has no placement (the run it comes from found none)")
    return as_placement(start, graph, package)


def _check_feasible(problem: SearchProblem) -> None:
    """Cheap infeasibility proofs (repair's checks) before any search."""
    try:
        from mcmcore.repair import check_feasibility
    except ImportError:  # repair not available in this build
        return
    check_feasibility(problem.graph, problem.package, constraints=problem.constraints)


def finish(problem: SearchProblem, tracker: Tracker, method: str, seed: int) -> SearchResult:
    """Turn a tracker into a SearchResult (status, bound, gap, report)."""
    lb = max(tracker.lower_bound, lower_bound(problem.graph, problem.package, objective=problem.objective,
                                              constraints=problem.constraints))
    if tracker.best_placement is None:
        if tracker.proven_infeasible:
            raise InfeasibleError(tracker.info.get("infeasible_reason", f"{method} proved the instance infeasible"))
        return SearchResult(None, None, SearchStatus.NO_SOLUTION, method, problem.objective, math.inf, lb, 1.0,
                            tracker.history(), tracker.evals, tracker.elapsed(), seed, dict(tracker.info))
    report = problem.evaluate(tracker.best_placement)
    value = problem.value_of(report)
    if lb > value:  # numerical noise only: a bound can never exceed a feasible value
        lb = value
    gap = 0.0 if value <= 0 else max(0.0, (value - lb) / value)
    optimal = tracker.proven_optimal or gap <= 1e-12
    status = SearchStatus.OPTIMAL if optimal else SearchStatus.FEASIBLE
    return SearchResult(tracker.best_placement, report, status, method, problem.objective, value, lb,
                        0.0 if optimal else gap, tracker.history(), tracker.evals, tracker.elapsed(), seed,
                        dict(tracker.info))

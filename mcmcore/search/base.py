"""Shared pieces of every search method: the problem, budgets, the best-so-far tracker and the result type."""
from __future__ import annotations

import contextlib
import enum
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mcmcore._json import dumps
from mcmcore.constraints import Constraints
from mcmcore.evaluate import CostReport, evaluate, evaluate_batch
from mcmcore.graph import Graph
from mcmcore.package import Package

__all__ = ["SearchStatus", "SearchResult", "History", "SearchProblem", "Tracker", "OBJECTIVES"]

OBJECTIVES = ("throughput", "latency")


class SearchStatus(enum.Enum):
    """Outcome of a search (python-mip style)."""

    OPTIMAL = "optimal"          #: the placement is proven optimal
    FEASIBLE = "feasible"        #: a valid placement, optimality not proven
    INFEASIBLE = "infeasible"    #: proven: no valid placement exists
    NO_SOLUTION = "no_solution"  #: no valid placement found within the budget


@dataclass(frozen=True)
class History:
    """Best objective value so far, against evaluations and seconds (one row per improvement)."""

    evals: np.ndarray
    seconds: np.ndarray
    best: np.ndarray

    def to_dict(self) -> dict[str, list]:
        return {"evals": self.evals.tolist(), "seconds": self.seconds.tolist(), "best": self.best.tolist()}


@dataclass(frozen=True)
class SearchResult:
    """The outcome of :func:`mcmcore.partition`.

    Attributes
    ----------
    placement : ndarray of int32, shape (n_nodes,)
        The best valid placement found (None when status is NO_SOLUTION or INFEASIBLE).
    report : CostReport or None
    status : SearchStatus
    method : str
    objective : {"throughput", "latency"}
    value : float
        Objective value in seconds: the interval (throughput objective) or the latency.
    lower_bound : float
        A proven lower bound on ``value`` (0 when none is known).
    gap : float
        ``(value - lower_bound) / value``; 0 means proven optimal.
    history : History
    evals : int
        Placements evaluated.
    seconds : float
    seed : int
    """

    placement: np.ndarray | None
    report: CostReport | None
    status: SearchStatus
    method: str
    objective: str
    value: float
    lower_bound: float
    gap: float
    history: History
    evals: int
    seconds: float
    seed: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.placement is not None and self.report is not None and self.report.valid

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "mcmcore-result", "version": 1, "method": self.method, "objective": self.objective,
            "status": self.status.value, "value": self.value, "lower_bound": self.lower_bound, "gap": self.gap,
            "evals": self.evals, "seconds": self.seconds, "seed": self.seed,
            "placement": None if self.placement is None else self.placement.tolist(),
            "report": None if self.report is None else self.report.to_dict(),
            "history": self.history.to_dict(), "info": self.info,
        }

    def save(self, path) -> None:
        """Write the result as JSON (``mcm evaluate --placement`` reads it back)."""
        Path(path).write_text(dumps(self.to_dict(), indent=1))

    def __str__(self) -> str:
        head = f"{self.method}: {self.status.value}"
        if self.placement is None:
            return head
        return (f"{head}, {self.objective} objective {self.value:.6g} s (lower bound {self.lower_bound:.6g}, gap "
                f"{100 * self.gap:.2f}%), {self.evals:,} evaluations in {self.seconds:.2f} s")


@dataclass(frozen=True)
class SearchProblem:
    """What every method receives: the instance and how to score a placement."""

    graph: Graph
    package: Package
    constraints: Constraints
    objective: str
    overlap: bool | None = None

    def value_of(self, report: CostReport) -> float:
        return report.interval if self.objective == "throughput" else report.latency

    def evaluate(self, placement) -> CostReport:
        return evaluate(self.graph, self.package, placement, constraints=self.constraints, overlap=self.overlap)

    def evaluate_many(self, placements: np.ndarray, n_threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Objective values and total violations of a (B, N) batch."""
        return evaluate_batch(self.graph, self.package, placements, constraints=self.constraints,
                              overlap=self.overlap, n_threads=n_threads,
                              objective="interval" if self.objective == "throughput" else "latency",
                              return_violations=True)


class Tracker:
    """Keeps the best valid placement, the history, the evaluation count and the budget of one search.

    Methods call :meth:`offer` with candidate placements (or :meth:`offer_batch`), :meth:`count` for evaluations
    done elsewhere (the C annealing loop), and stop when :meth:`exhausted` says so.
    """

    def __init__(self, problem: SearchProblem, *, max_evals: int | None, max_seconds: float | None,
                 on_improve: Callable[["Tracker"], None] | None = None, on_progress=None):
        self.problem = problem
        self.max_evals = max_evals
        self.max_seconds = max_seconds
        self.start = time.perf_counter()
        self.evals = 0
        self.best_value = math.inf
        self.best_placement: np.ndarray | None = None
        self._hist_evals: list[int] = []
        self._hist_seconds: list[float] = []
        self._hist_best: list[float] = []
        self.on_improve = on_improve
        self.on_progress = on_progress
        self.lower_bound = 0.0
        self.proven_optimal = False
        self.proven_infeasible = False
        self.info: dict[str, Any] = {}

    # budget --------------------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining_seconds(self) -> float:
        return math.inf if self.max_seconds is None else self.max_seconds - self.elapsed()

    def remaining_evals(self) -> float:
        return math.inf if self.max_evals is None else self.max_evals - self.evals

    def fraction(self) -> float:
        """How much of the budget is used, in [0, 1]."""
        f = 0.0
        if self.max_seconds is not None and self.max_seconds > 0:
            f = max(f, self.elapsed() / self.max_seconds)
        if self.max_evals is not None and self.max_evals > 0:
            f = max(f, self.evals / self.max_evals)
        return min(1.0, f)

    @contextlib.contextmanager
    def narrowed(self, share: float):
        """Within the block, the budget ends after ``share`` of what remains (a stage of a composite method)."""
        saved = (self.max_evals, self.max_seconds)
        if self.max_seconds is not None:
            self.max_seconds = self.elapsed() + share * max(0.0, self.remaining_seconds())
        if self.max_evals is not None:
            self.max_evals = self.evals + max(1, int(share * max(0.0, self.remaining_evals())))
        try:
            yield self
        finally:
            self.max_evals, self.max_seconds = saved

    def exhausted(self) -> bool:
        return self.proven_optimal or self.remaining_seconds() <= 0 or self.remaining_evals() <= 0

    # results -------------------------------------------------------------------------------------------------
    def count(self, n: int) -> None:
        self.evals += int(n)
        if self.on_progress is not None:
            self.on_progress(self)

    def offer(self, placement, value: float | None = None, *, valid: bool | None = None, count: bool = True) -> bool:
        """Consider a placement; evaluates it unless ``value`` and ``valid`` are given. True when it improves."""
        if value is None or valid is None:
            rep = self.problem.evaluate(placement)
            value, valid = self.problem.value_of(rep), rep.valid
        if count:
            self.evals += 1
        improved = bool(valid) and value < self.best_value
        if improved:
            self.best_value = float(value)
            if self.best_value <= self.lower_bound * (1 + 1e-12):  # the bound is reached: nothing left to find
                self.proven_optimal = True
            self.best_placement = np.array(placement, dtype=np.int32, copy=True)
            self._hist_evals.append(self.evals)
            self._hist_seconds.append(self.elapsed())
            self._hist_best.append(self.best_value)
            if self.on_improve is not None:
                self.on_improve(self)
        if count and self.on_progress is not None:
            self.on_progress(self)
        return improved

    def offer_batch(self, placements: np.ndarray, values: np.ndarray | None = None,
                    violations: np.ndarray | None = None) -> bool:
        """Consider a batch of placements (evaluated unless ``values`` and ``violations`` are given). The best one
        is offered; an improvement enters the history at the evaluation count of the first sample in the batch
        that reached it, so "samples needed" is exact and not rounded up to the batch."""
        if values is None or violations is None:
            values, violations = self.problem.evaluate_many(placements)
        start = self.evals
        ok = np.flatnonzero(violations == 0)
        improved = False
        if ok.size:
            i = int(ok[np.argmin(values[ok])])  # argmin: the first of equal values
            self.evals = start + i + 1
            improved = self.offer(placements[i], float(values[i]), valid=True, count=False)
        self.evals = start + len(placements)
        if self.on_progress is not None:
            self.on_progress(self)
        return improved

    def history(self) -> History:
        return History(np.asarray(self._hist_evals, dtype=np.int64), np.asarray(self._hist_seconds),
                       np.asarray(self._hist_best))

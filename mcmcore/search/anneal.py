"""``anneal``: simulated annealing whose inner loop runs in the C core with incremental evaluation.

Independent chains (default 2, whatever the thread count, so the result does not depend on it) run on native
threads without the GIL, slice by slice; between slices the best valid placements are reported to the tracker,
the progress line is refreshed and the budget is checked. The start is the best pipeline split (``dp``) when the
dataflow constraint is ``ordered``, else a random valid placement. With ``restarts`` > 1 the budget is cut into
consecutive runs, each reheated from the best placement so far.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import math
from dataclasses import dataclass

import numpy as np

from mcmcore import _core
from mcmcore._checks import check_positive, is_int, is_real
from mcmcore.errors import InfeasibleError
from mcmcore.evaluate import _problem, default_threads
from mcmcore.search import dp  # imported with the method, so numba's start-up is not charged to the budget
from mcmcore.search.base import SearchProblem, Tracker

__all__ = ["AnnealParams", "run", "anneal_from"]

_DEFAULTS = _core.anneal_defaults()


@dataclass(frozen=True)
class AnnealParams:
    """Tunable parameters of the annealing schedule (defaults tuned on the zoo; see BENCHMARKS.md)."""

    #: start temperature, relative to the start interval
    t_start: float = _DEFAULTS["t_start"]
    #: end temperature, relative to the start interval
    t_end: float = _DEFAULTS["t_end"]
    #: soft-max sharpness of the energy (0 = the bare maximum)
    beta: float = _DEFAULTS["beta"]
    #: energy of one constraint violation, relative to the start interval
    penalty: float = _DEFAULTS["penalty"]
    #: probability of a block move (node + same-device descendants/ancestors to the adjacent stage)
    p_block: float = _DEFAULTS["p_block"]
    #: probability of a swap of two nodes on adjacent devices
    p_swap: float = _DEFAULTS["p_swap"]
    #: largest block moved at once
    block_limit: int = 1 << 30
    #: independent chains
    chains: int = 2
    #: consecutive reheated runs
    restarts: int = 1
    #: proposals per slice when the budget is in evaluations (slices are also capped by time)
    slice_iters: int = 20000

    def __post_init__(self):
        for name in ("t_start", "t_end", "penalty"):
            check_positive(getattr(self, name), name)
        if not (is_real(self.beta) and math.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"beta must be a finite number >= 0, got {self.beta!r}")
        for name in ("p_block", "p_swap"):
            value = getattr(self, name)
            if not (is_real(value) and 0 <= value <= 1):
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        if self.p_block + self.p_swap > 1:
            raise ValueError(f"p_block + p_swap must be at most 1, got {self.p_block} + {self.p_swap}")
        for name, top in (("block_limit", 1 << 30), ("chains", 1024), ("restarts", 1 << 20),
                          ("slice_iters", 1 << 40)):
            value = getattr(self, name)
            if not (is_int(value) and 1 <= value <= top):
                raise ValueError(f"{name} must be an integer in 1..{top}, got {value!r}")


#: Random valid placements drawn beside the best split for the annealer's start (when the budget allows 8x
#: as many evaluations): a split puts a contiguous tail of the order on the last device, and on hetero3 (a slow
#: CPU last) BERT-large's best split is 53% slower than the best of a few random draws, a basin annealing did
#: not leave with 200,000 evaluations.
RANDOM_STARTS = 16


def _start_placement(problem: SearchProblem, seed: int, tracker: Tracker | None = None) -> np.ndarray:
    """The annealer's default start: the best of the best valid pipeline split (a split follows the pipeline
    order, so it suits every dataflow form) and, with a ``tracker`` (which is offered and charged both),
    :data:`RANDOM_STARTS` random valid placements. Without any valid one, the first split that the heuristic
    could not repair (the chains walk through invalid placements with a penalty, and the end repairs their
    start)."""
    from mcmcore.repair import random_valid

    best, _, _ = dp.best_split(problem)
    if tracker is not None:
        if best is not None:
            tracker.offer(best)
        if tracker.remaining_evals() >= 8 * RANDOM_STARTS and not tracker.exhausted():
            try:
                draws = random_valid(problem.graph, problem.package, constraints=problem.constraints, seed=seed,
                                     n=RANDOM_STARTS, n_threads=1)
            except InfeasibleError:  # the heuristic gave up on a draw (infeasibility was ruled out before)
                draws = None
            if draws is not None:
                tracker.offer_batch(draws)
        if tracker.best_placement is not None:
            return tracker.best_placement
    if best is not None:
        return best
    try:
        return random_valid(problem.graph, problem.package, constraints=problem.constraints, seed=seed,
                            n=1, n_threads=1)[0]
    except InfeasibleError:
        split, _ = dp.pipeline_split(problem)
        return split if split is not None else np.zeros(problem.graph.n_nodes, dtype=np.int32)


def anneal_from(problem: SearchProblem, tracker: Tracker, starts: list[np.ndarray], *, seed: int,
                n_threads: int | None, params: AnnealParams, budget_fraction: tuple[float, float] = (0.0, 1.0)):
    """Run one annealing chain from each start until the tracker's budget reaches ``budget_fraction[1]``.

    The schedule runs from the tracker's budget fraction ``budget_fraction[0]`` to ``[1]``. Returns the chains'
    best (value, placement) pairs.
    """
    core_problem, _ = _problem(problem.graph, problem.package, problem.constraints, problem.overlap)
    latency = problem.objective == "latency"
    chains = [
        _core.Annealer(core_problem, np.ascontiguousarray(s, dtype=np.int32), t_start=params.t_start,
                       t_end=params.t_end, beta=params.beta, penalty=params.penalty, p_block=params.p_block,
                       block_limit=params.block_limit, latency=latency, p_swap=params.p_swap,
                       seed=(seed * 1_000_003 + 7919 * i + 1) & 0xFFFFFFFFFFFFFFFF)
        for i, s in enumerate(starts)
    ]
    threads = max(1, min(len(chains), default_threads() if n_threads is None else n_threads))
    f_lo, f_hi = budget_fraction
    span = max(f_hi - f_lo, 1e-12)
    per_chain_evals = None
    if tracker.max_evals is not None:
        per_chain_evals = max(1, int((tracker.max_evals * f_hi - tracker.evals) / len(chains)))
    done = [0] * len(chains)
    counted = [c.evals for c in chains]
    slice_iters = params.slice_iters
    seconds_per_iter = None

    def schedule_fraction() -> float:
        if per_chain_evals is not None and tracker.max_seconds is None:
            return min(1.0, min(done) / per_chain_evals)
        return min(1.0, max(0.0, (tracker.fraction() - f_lo) / span))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        while True:
            f0 = schedule_fraction()
            if f0 >= 1.0 or tracker.proven_optimal:
                break
            n = slice_iters
            if per_chain_evals is not None:
                n = min(n, per_chain_evals - min(done))
            if tracker.max_seconds is not None and seconds_per_iter:
                # keep slices near 50 ms so the budget is honoured and progress stays live
                n = max(100, min(n, int(0.05 / seconds_per_iter)))
                n = max(1, min(n, int(max(tracker.remaining_seconds(), 0.0) / seconds_per_iter) + 1))
            if per_chain_evals is not None and tracker.max_seconds is None:
                f1 = min(1.0, (min(done) + n) / per_chain_evals)
            else:
                f1 = f0 + (n * seconds_per_iter / tracker.max_seconds / span if seconds_per_iter and
                           tracker.max_seconds else 0.01)
                f1 = min(1.0, max(f1, f0))
            t0 = tracker.elapsed()
            list(pool.map(lambda c: c.run(n, f0, f1), chains))
            dt = tracker.elapsed() - t0
            seconds_per_iter = max(dt / max(n, 1), 1e-9)
            for i, c in enumerate(chains):
                done[i] += n
                value, placement = c.best()
                if placement is not None:
                    tracker.offer(placement, value, valid=True, count=False)
                tracker.count(c.evals - counted[i])
                counted[i] = c.evals
            if tracker.exhausted() or (tracker.max_evals is not None and tracker.evals >= tracker.max_evals * f_hi):
                break
            if per_chain_evals is not None and min(done) >= per_chain_evals:
                break
    tracker.info["anneal_accept_rate"] = float(sum(c.accepted for c in chains) / max(1, sum(c.evals for c in chains)))
    return [c.best() for c in chains]


def run(problem: SearchProblem, tracker: Tracker, *, seed: int = 0, n_threads: int | None = None,
        start: np.ndarray | None = None, params: AnnealParams | None = None, **options) -> None:
    """``anneal`` method. Options: ``start`` (a placement; default the tracker's best when ``partition`` was given
    one, else the best of the best pipeline split and a few random valid placements), ``params`` (AnnealParams)
    or its fields."""
    if params is None:
        params = AnnealParams(**{k: v for k, v in options.items() if k in AnnealParams.__dataclass_fields__})
    elif not isinstance(params, AnnealParams):
        raise TypeError(f"params must be an AnnealParams (or give its fields as options), got {params!r}")
    unknown = set(options) - set(AnnealParams.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown anneal option(s): {', '.join(sorted(unknown))}")
    if start is None and tracker.best_placement is not None:  # partition(start=...): continue from it
        start = tracker.best_placement
    if start is None:
        start = _start_placement(problem, seed, tracker)
    else:
        from mcmcore.evaluate import as_placement

        start = as_placement(start, problem.graph, problem.package)
        tracker.offer(start)
    current = [start] * params.chains
    restarts = max(1, int(params.restarts))
    for r in range(restarts):
        lo, hi = r / restarts, (r + 1) / restarts
        results = anneal_from(problem, tracker, current, seed=seed + 104729 * r, n_threads=n_threads,
                              params=params, budget_fraction=(lo, hi))
        if tracker.exhausted() and r < restarts - 1 and tracker.fraction() >= 1.0:
            break
        if tracker.best_placement is not None:
            current = [tracker.best_placement] * params.chains
        else:
            current = [p if p is not None else start for _, p in results]
    if tracker.best_placement is None:
        # The walk through invalid space found nothing valid: repair the start (the usual way out).
        from mcmcore.search.dp import offer_repaired

        offer_repaired(problem, tracker, start, seed=seed)

"""``multilevel``: coarsen, solve the small graph, uncoarsen, refine with annealing on the full graph.

1. :func:`mcmcore.coarsen.coarsen` fuses chains and cheap ops (colors, pins, support and forward/backward kept
   legal), down to about ``coarse_ratio`` of the nodes. Sole-producer fusion is on (``exact_comm=False``): on
   branchy graphs sole-consumer fusion alone barely shrinks the graph (2,000 -> 1,300 nodes on a layered DAG,
   against ~550), and the coarse costs only guide the start; the refinement runs on the exact fine costs. A fused node that no longer fits any SRAM makes the coarse
   instance infeasible; the coarsening is then retried with a finer target, and finally skipped.
2. On the coarse graph: the best pipeline split (``dp``) over the candidate topological orders, repaired, then a
   short annealing run from it (``coarse_share`` of the budget, 30% by default). A placement valid on the coarse
   graph is valid on the fine one.
3. The best coarse placement is uncoarsened and refined with annealing on the full graph for the rest of the
   budget (the fine graph's own pipeline split is computed only with ``fine_split=True`` or when the coarse
   phase found nothing).
"""
from __future__ import annotations

import math

import numpy as np

from mcmcore.coarsen import coarsen, uncoarsen
from mcmcore.errors import InfeasibleError
from mcmcore.search.anneal import AnnealParams, anneal_from
from mcmcore.search.base import SearchProblem, Tracker
from mcmcore.search.dp import offer_repaired, pipeline_split, topological_orders

__all__ = ["run"]


def _coarse_problem(problem: SearchProblem, target: int, exact_comm: bool):
    coarse, mapping = coarsen(problem.graph, target_nodes=target, exact_comm=exact_comm)
    cp = SearchProblem(coarse, problem.package, problem.constraints, problem.objective, problem.overlap)
    from mcmcore.repair import check_feasibility

    check_feasibility(coarse, problem.package, constraints=problem.constraints)
    return cp, mapping


def _sub_budget(tracker: Tracker, share: float) -> tuple[int | None, float | None]:
    evals = None if tracker.max_evals is None else max(1, int(share * tracker.remaining_evals()))
    seconds = None if tracker.max_seconds is None else max(1e-3, share * tracker.remaining_seconds())
    return evals, seconds


def run(problem: SearchProblem, tracker: Tracker, *, seed: int = 0, n_threads: int | None = None,
        coarse_ratio: float = 0.2, coarse_share: float = 0.3, exact_comm: bool = False, fine_split: bool = False,
        params: AnnealParams | None = None,
        **options) -> None:
    """``multilevel`` method. Options: ``coarse_ratio`` (coarse nodes / fine nodes, default 0.2),
    ``coarse_share`` (share of the budget spent on the coarse graph, default 0.3), ``exact_comm`` (passed to
    :func:`~mcmcore.coarsen.coarsen`; default False: fuse more, the fine refinement corrects the estimate),
    ``fine_split`` (also start a refinement chain from the fine graph's own pipeline split; default False: that
    split costs O(K N^2) and is used only when the coarse phase gives no start), ``params`` (AnnealParams, or
    its fields as options)."""
    if params is None:
        params = AnnealParams(**{k: v for k, v in options.items() if k in AnnealParams.__dataclass_fields__})
    unknown = set(options) - set(AnnealParams.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown multilevel option(s): {', '.join(sorted(unknown))}")
    if not 0 < coarse_ratio <= 1:
        raise ValueError(f"coarse_ratio must be in (0, 1], got {coarse_ratio!r}")
    if not 0 <= coarse_share < 1:
        raise ValueError(f"coarse_share must be in [0, 1), got {coarse_share!r}")
    g, K = problem.graph, problem.package.n_devices
    starts: list[np.ndarray] = []

    # 1-2. coarse graph: pipeline split + short anneal
    coarse = None
    for ratio in (coarse_ratio, min(1.0, 2.5 * coarse_ratio)):
        target = max(4 * K, int(math.ceil(ratio * g.n_nodes)))
        if target >= g.n_nodes:
            break
        try:
            coarse = _coarse_problem(problem, target, bool(exact_comm))
            break
        except InfeasibleError:
            continue
    if coarse is not None and coarse_share > 0:
        cp, mapping = coarse
        evals, seconds = _sub_budget(tracker, coarse_share)
        sub = Tracker(cp, max_evals=evals, max_seconds=seconds)
        for order in topological_orders(cp.graph):
            pl, _ = pipeline_split(cp, order)
            if pl is not None:
                offer_repaired(cp, sub, pl, seed=seed)
        if sub.best_placement is not None and not sub.exhausted():
            anneal_from(cp, sub, [sub.best_placement] * max(1, params.chains), seed=seed, n_threads=n_threads,
                        params=params)
        tracker.count(sub.evals)
        tracker.info["multilevel_coarse_nodes"] = cp.graph.n_nodes
        tracker.info["multilevel_coarse_value"] = sub.best_value
        if sub.best_placement is not None:
            fine = uncoarsen(sub.best_placement, mapping)
            tracker.offer(fine)
            starts.append(fine)

    # The fine graph's own pipeline split: a second start, or the only one when the coarse phase failed.
    if tracker.exhausted() and tracker.best_placement is not None:
        return
    best_split, best_value = None, math.inf
    for order in (topological_orders(g) if (fine_split or not starts) else ()):
        pl, _ = pipeline_split(problem, order)
        if pl is None:
            continue
        rep = problem.evaluate(pl)
        tracker.count(1)
        if not rep.valid:
            continue
        tracker.offer(pl, problem.value_of(rep), valid=True, count=False)
        if problem.value_of(rep) < best_value:
            best_split, best_value = pl, problem.value_of(rep)
    if not starts:
        if tracker.best_placement is not None:
            starts.append(tracker.best_placement)
        else:  # no valid split: anneal's own start (a repaired split or a random valid placement)
            from mcmcore.search.anneal import _start_placement

            start = _start_placement(problem, seed)
            tracker.offer(start)
            starts.append(start)

    # 3. refine on the full graph
    if tracker.exhausted():
        return
    chains = max(1, params.chains)
    if best_split is not None and chains > 1:
        refine = [starts[0]] * (chains - 1) + [best_split]
    else:
        refine = [starts[0]] * chains
    anneal_from(problem, tracker, refine, seed=seed + 1, n_threads=n_threads, params=params,
                budget_fraction=(tracker.fraction(), 1.0))

"""``auto``: what a user would do with the budget.

1. The exact DP over ideals when the DAG has few of them (chain-like graphs solve in well under a second) and
   its estimated time fits its share of the budget (``DP_SHARE_EXACT`` where it models the instance exactly,
   ``DP_SHARE_RELAXED`` on link topologies): done when it proves the optimum.
2. The best pipeline split over the candidate topological orders (colors contracted into units) as the start.
3. Annealing in the C core from that start with the rest of the budget; for very large graphs
   (> ``MULTILEVEL_NODES`` nodes) 70% of it, then multilevel refinement (coarsen, solve, uncoarsen, anneal).
Every stage offers its placements to the same tracker, so the result is the best of all of them. (On the zoo
benchmark multilevel never beat plain annealing from the split, and splitting the budget made ``auto`` lose to
``anneal`` alone on one instance, hence multilevel only where annealing cannot cover the graph.)
"""
from __future__ import annotations

from mcmcore.search.base import SearchProblem, Tracker

__all__ = ["run", "MULTILEVEL_NODES", "DP_SHARE_EXACT", "DP_SHARE_RELAXED"]

#: graphs larger than this also get multilevel refinement
MULTILEVEL_NODES = 20_000
#: share of the budget the exact DP may take (it is skipped when its estimate is over it): where it models the
#: instance exactly, and where it solves a relaxation
DP_SHARE_EXACT = 0.8
DP_SHARE_RELAXED = 0.5


def run(problem: SearchProblem, tracker: Tracker, *, seed: int = 0, n_threads=None, **options) -> None:
    """``auto`` method. Options: those of ``anneal`` (:class:`~mcmcore.search.anneal.AnnealParams` fields or
    ``params``), for its annealing stage."""
    from mcmcore.search import anneal, dp

    unknown = set(options) - set(anneal.AnnealParams.__dataclass_fields__) - {"params"}
    if unknown:
        raise ValueError(f"unknown auto option(s): {', '.join(sorted(unknown))} (auto takes the anneal options)")

    try:
        from mcmcore.search import ideals
    except ImportError:
        ideals = None
    if ideals is not None and ideals.tractable(problem):
        # where the DP models the instance exactly its placement is the optimum: it may take most of the budget;
        # on link topologies (a relaxation, proven only when the links do not bind) annealing keeps half
        with tracker.narrowed(DP_SHARE_EXACT if ideals.models_exactly(problem) else DP_SHARE_RELAXED):
            ideals.run(problem, tracker, seed=seed, n_threads=n_threads)
        if tracker.proven_optimal:
            return
    units = dp.UnitView(problem)
    for order in dp.topological_orders(units.graph):
        placement, _ = dp.pipeline_split(problem, order, units)
        if placement is not None:
            dp.offer_repaired(problem, tracker, placement, seed=seed)
    if tracker.exhausted():
        return
    multilevel = None
    if problem.graph.n_nodes > MULTILEVEL_NODES:
        try:
            from mcmcore.search import multilevel
        except ImportError:
            multilevel = None
    share = 0.7 if multilevel is not None else 1.0
    with tracker.narrowed(share):
        anneal.run(problem, tracker, seed=seed, n_threads=n_threads, start=tracker.best_placement, **options)
    if multilevel is not None and not tracker.exhausted():
        multilevel.run(problem, tracker, seed=seed + 1, n_threads=n_threads)

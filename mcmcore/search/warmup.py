"""Compile (or load from numba's on-disk cache) the search kernels before a budget starts counting.

The exact DP over ideals and the optimal pipeline split are numba kernels. The first use after installing (or
after changing their source) compiles them, which takes 10-20 s on one core; later processes load them from the
cache in well under a second. :func:`partition` calls :func:`warm_up` before its clock starts, so ``max_seconds``
is spent searching; a compiler that embeds mcmcore can call it once at start-up.
"""
from __future__ import annotations

import time

__all__ = ["warm_up"]

_DONE = False


def warm_up() -> float:
    """Make the split and DP kernels ready in this process; returns the seconds it took (0 when already done).

    It solves two tiny problems, a port package and a link topology, through the same code paths as any graph
    with fewer than :data:`mcmcore.search.dp.MAX_EXACT_NODES` units, so the same kernel signatures are compiled
    (a test checks that real zoo problems add none)."""
    global _DONE
    if _DONE:
        return 0.0
    t0 = time.perf_counter()
    from mcmcore.constraints import Constraints
    from mcmcore.generate import layered_dag
    from mcmcore.package import Package
    from mcmcore.search import dp, ideals
    from mcmcore.search.base import SearchProblem

    graph = layered_dag(12, seed=0)
    for preset in ("port4", "ring4"):
        problem = SearchProblem(graph, Package.preset(preset), Constraints(), "throughput")
        dp.best_split(problem)
        ideals.solve(problem, upper_bound=1.0)
    _DONE = True
    return time.perf_counter() - t0

"""``random``: random valid placements at native speed, alternating with random + repair.

Even batches draw :func:`mcmcore.repair.random_valid` placements (a random topological order of the co-location
units cut at random points into pipeline stages, repaired); odd batches draw uniformly random placements and
repair them with the native batch heuristic (:func:`mcmcore.repair.repair_batch`), the "random + repair" of the
MLSys 2022 study. Every batch is evaluated on native threads (``evaluate_many``) and offered to the tracker.
Batch ``b`` depends only on ``(seed, b)`` and its size only on the evaluations left, so the same seed and
``max_evals`` give the same result whatever the thread count.
"""
from __future__ import annotations

import numpy as np

from mcmcore.errors import InfeasibleError
from mcmcore.search.base import SearchProblem, Tracker

__all__ = ["run", "BATCH"]

#: Placements per batch (smaller when the evaluation budget or the time left asks for it).
BATCH = 256


def _batch_seed(seed: int, b: int) -> int:
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, b]).generate_state(1, np.uint32)[0])


def run(problem: SearchProblem, tracker: Tracker, *, seed: int = 0, n_threads: int | None = None,
        batch: int = BATCH, repair_share: float = 0.5, **options) -> None:
    """``random`` method. Options: ``batch`` (placements per batch) and ``repair_share`` (share of the batches
    that are random + repair, 0..1; default 0.5: alternate)."""
    if options:
        raise ValueError(f"unknown random option(s): {', '.join(sorted(options))}")
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    if not 0.0 <= float(repair_share) <= 1.0:
        raise ValueError(f"repair_share must be in [0, 1], got {repair_share!r}")
    from mcmcore.repair import random_valid, repair_batch

    g, pkg = problem.graph, problem.package
    n, K = g.n_nodes, pkg.n_devices
    seconds_per_row = None
    b = 0
    credit = 0.0
    while not tracker.exhausted():
        size = int(min(batch, tracker.remaining_evals()))
        if tracker.max_seconds is not None and seconds_per_row:
            size = max(1, min(size, int(tracker.remaining_seconds() / seconds_per_row) + 1))
        s = _batch_seed(seed, b)
        # Alternate deterministically: batch b repairs when the accumulated share reaches one.
        credit += float(repair_share)
        use_repair = credit >= 1.0 - 1e-12
        if use_repair:
            credit -= 1.0
        t0 = tracker.elapsed()
        try:
            if use_repair:
                rng = np.random.default_rng(s)
                raw = rng.integers(0, K, size=(size, n), dtype=np.int32)
                placements, _, ok = repair_batch(g, pkg, raw, constraints=problem.constraints, n_threads=n_threads)
            else:
                placements = random_valid(g, pkg, constraints=problem.constraints, seed=s, n=size,
                                          n_threads=n_threads)
                ok = np.ones(size, dtype=bool)
        except InfeasibleError:
            # The heuristic gave up on some draw of this batch: count it and go on with the next.
            tracker.count(size)
            b += 1
            continue
        values, violations = problem.evaluate_many(placements, n_threads=n_threads)
        violations = np.where(ok, violations, np.maximum(violations, 1))
        tracker.offer_batch(placements, values, violations)
        seconds_per_row = max((tracker.elapsed() - t0) / size, 1e-9)
        b += 1
    tracker.info["random_batches"] = b

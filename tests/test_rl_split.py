"""The pruned pipeline split (used by RL's re-cut of every proposal) returns exactly the unpruned DP's split."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

from mcmcore import Package
from mcmcore.constraints import Constraints
from mcmcore.generate import layered_dag
from mcmcore.search import dp
from mcmcore.search.base import SearchProblem


def _unpruned(problem, units, order):
    """The split from the plain DP (no bound), traced back the same way."""
    args = dp._split_arguments(problem, units)
    (pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, ct_prefix, w_prefix,
     cmin_prefix, bwd) = dp._prepare_order(order, *args[:7], *args[15:])
    cls_at, cf_at, sram_at, link_bw_at, overlap, links, all_used, dev_at = args[7:15]
    best, parent = dp._split_dp(pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, bwd, ct_prefix, w_prefix,
                                cls_at, cf_at, sram_at, link_bw_at, overlap, links, all_used, cmin_prefix, np.inf, False)
    n, k = len(order), len(cls_at)
    value = best[k - 1, n]
    if not np.isfinite(value):
        return None, np.inf
    by_index = np.empty(n, dtype=np.int32)
    j = n
    for p in range(k - 1, -1, -1):
        i = int(parent[p, j]) if p > 0 else 0
        by_index[i:j] = dev_at[p]
        j = i
    by_unit = np.empty(n, dtype=np.int32)
    by_unit[order] = by_index
    return by_unit[units.unit_of], float(value)


@pytest.mark.parametrize("preset", ["ring4", "ring8", "mesh4x4", "port4", "hetero3", "torus4x4"])
@pytest.mark.parametrize("all_used", [False, True])
@pytest.mark.parametrize("overlap", [None, True])
@pytest.mark.parametrize("training", [False, True])
def test_pruned_split_equals_unpruned(preset, all_used, overlap, training):
    from mcmcore.zoo import training_graph

    rng = np.random.default_rng(zlib.crc32(f"{preset}/{all_used}/{overlap}".encode()))
    pkg = Package.preset(preset)
    for seed in range(3):
        g = layered_dag(int(rng.integers(20, 80)), seed=seed)
        if training:  # gradients flow against the order: the backward charges in every pruned step
            g = training_graph(g)
        problem = SearchProblem(g, pkg, Constraints(all_used=all_used), "throughput", overlap)
        units = dp.UnitView(problem)
        ug = units.graph
        orders = list(dp.topological_orders(ug))
        for _ in range(4):  # random topological orders (Kahn's algorithm with random priorities)
            key = rng.random(ug.n_nodes)
            indeg = np.diff(ug.pred_ptr).copy()
            ready = set(np.flatnonzero(indeg == 0).tolist())
            out = []
            while ready:
                u = min(ready, key=lambda v: key[v])
                ready.remove(u)
                out.append(u)
                for w in ug.successors(u):
                    indeg[w] -= 1
                    if indeg[w] == 0:
                        ready.add(int(w))
            orders.append(np.asarray(out, dtype=np.int64))
        for order in orders:
            got, v = dp.pipeline_split(problem, order, units)
            want, w = _unpruned(problem, units, order)
            if want is None:
                assert got is None
            else:
                assert v == w and np.array_equal(got, want)


@pytest.mark.parametrize("share", [2.5, 4.5])
def test_pruned_split_with_tight_capacity(share):
    g = layered_dag(60, seed=3)
    w = float(np.asarray(g.weight_bytes).sum())
    pkg = Package.preset("ring8").replace(sram_bytes=[w / share] * 8)
    problem = SearchProblem(g, pkg, Constraints(), "throughput")
    units = dp.UnitView(problem)
    for order in dp.topological_orders(units.graph):
        got, v = dp.pipeline_split(problem, order, units)
        want, x = _unpruned(problem, units, order)
        assert (got is None and want is None) or (v == x and np.array_equal(got, want))

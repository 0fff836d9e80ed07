"""Generated graphs for tests, benchmarks and RL pre-training: seeded, with realistic cost distributions."""
from __future__ import annotations

import numpy as np

from mcmcore.graph import Graph

__all__ = ["layered_dag"]


def layered_dag(n_nodes: int, n_edges: int | None = None, *, width: int | None = None, seed: int = 0,
                name: str | None = None) -> Graph:
    """A random layered DAG with ML-like costs.

    Nodes are split into layers of about ``width`` nodes; every node after the first layer has one input from
    the previous layer (so the graph is connected front to back), and the remaining ``n_edges - (n_nodes -
    width)`` edges join random earlier nodes to later ones, mostly from nearby layers (skip connections).
    FLOPs and bytes are log-normal, like the operators of real networks: a few heavy matmuls, many cheap
    element-wise ops.

    Parameters
    ----------
    n_nodes : int
    n_edges : int, optional
        Target edge count (default 1.4 * n_nodes); duplicates are merged, so the result may have slightly fewer.
    width : int, optional
        Nodes per layer (default about sqrt(n_nodes) / 2).
    seed : int
    """
    rng = np.random.default_rng(seed)
    n = int(n_nodes)
    if n < 1:
        raise ValueError(f"n_nodes must be >= 1, got {n_nodes}")
    if n_edges is None:
        n_edges = int(1.4 * n)
    if width is None:
        width = max(1, int(np.sqrt(n) / 2))
    layer = np.arange(n) // width
    n_layers = int(layer[-1]) + 1
    starts = np.arange(n_layers) * width
    src, dst = [], []
    later = np.flatnonzero(layer > 0)
    # One input from the previous layer for every node after the first layer.
    prev_start = starts[layer[later] - 1]
    prev_size = np.minimum(width, n - prev_start)
    src.append(prev_start + rng.integers(0, 2**31, size=len(later)) % prev_size)
    dst.append(later)
    extra = max(0, int(n_edges) - len(later))
    if extra and len(later):
        v = later[rng.integers(0, len(later), size=extra)]
        # Distance back in layers: geometric, mostly 1-2 layers (residual-like skips).
        back = np.minimum(layer[v], 1 + rng.geometric(0.5, size=extra) - 1 + 0)
        back = np.maximum(back, 1)
        s_layer = layer[v] - back
        s_start = starts[s_layer]
        s_size = np.minimum(width, n - s_start)
        src.append(s_start + rng.integers(0, 2**31, size=extra) % s_size)
        dst.append(v)
    edges = np.stack([np.concatenate(src), np.concatenate(dst)], axis=1) if src else np.zeros((0, 2), np.int64)
    heavy = rng.random(n) < 0.3
    flops = np.where(heavy, rng.lognormal(np.log(2e9), 1.0, n), rng.lognormal(np.log(2e6), 1.0, n))
    out_bytes = np.round(rng.lognormal(np.log(256 * 1024), 0.8, n))
    mem_bytes = np.round(out_bytes * rng.uniform(1.5, 3.0, n))
    weight_bytes = np.where(heavy, np.round(rng.lognormal(np.log(4 * 2**20), 0.7, n)), 0.0)
    flops = np.round(flops)
    ops = np.where(heavy, "matmul", "elementwise")
    return Graph.from_edges(n, edges, flops=flops, mem_bytes=mem_bytes, weight_bytes=weight_bytes,
                            out_bytes=out_bytes, ops=list(ops), name=name or f"layered-{n}-s{seed}")

"""Generated graphs for tests, benchmarks and RL pre-training: seeded, with realistic cost distributions."""
from __future__ import annotations

import numpy as np

from mcmcore.graph import Graph

__all__ = ["layered_dag", "residual_chain", "transformer_blocks"]


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


def _jitter(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    return rng.lognormal(0.0, sigma, n) if sigma > 0 else np.ones(n)


def residual_chain(n_blocks: int, *, block_len: int = 3, seed: int = 0, name: str | None = None) -> Graph:
    """A chain of residual blocks, like a ResNet trunk.

    Each block is ``block_len`` ops in a row (heavy convolution-like ops alternating with cheap element-wise
    ones) ending in an ``add`` that also takes the block's input (the skip connection). Costs are log-normal
    around ResNet-like values; the channel count doubles (and the activation halves) every quarter of the chain.

    Parameters
    ----------
    n_blocks : int
        Number of residual blocks (>= 1).
    block_len : int
        Ops per block before the ``add`` (>= 1).
    seed : int
    """
    rng = np.random.default_rng(seed)
    if int(n_blocks) < 1 or int(block_len) < 1:
        raise ValueError(f"n_blocks and block_len must be >= 1, got {n_blocks}, {block_len}")
    n_blocks, block_len = int(n_blocks), int(block_len)
    n = 1 + n_blocks * (block_len + 1)  # a stem, then blocks of block_len ops + add
    ops = ["conv"] * n
    edges = []
    stage = np.zeros(n, dtype=np.int64)
    heavy = np.zeros(n, dtype=bool)
    heavy[0] = True
    prev = 0
    for b in range(n_blocks):
        start = 1 + b * (block_len + 1)
        stage[start:start + block_len + 1] = min(3, 4 * b // n_blocks)
        node = prev
        for j in range(block_len):
            i = start + j
            edges.append((node, i))
            heavy[i] = j % 2 == 0
            ops[i] = "conv" if heavy[i] else "relu"
            node = i
        add = start + block_len
        edges += [(node, add), (prev, add)]
        ops[add] = "add"
        prev = add
    act = 4.0 * 56 * 56 * 256 / 2.0 ** stage  # activation bytes halve per stage
    channels = 256.0 * 2.0 ** stage
    out_bytes = np.round(act * _jitter(rng, n, 0.2))
    flops = np.where(heavy, 2.0 * (act / 4) * channels / 4 * 9, act / 4) * _jitter(rng, n, 0.3)
    weight_bytes = np.where(heavy, np.round(4.0 * channels * channels / 4 * 9 / 4 * _jitter(rng, n, 0.2)), 0.0)
    mem_bytes = np.round(2 * out_bytes + weight_bytes)
    return Graph.from_edges(n, np.asarray(edges), flops=np.round(flops), mem_bytes=mem_bytes,
                            weight_bytes=weight_bytes, out_bytes=out_bytes, ops=ops,
                            name=name or f"residual-{n_blocks}x{block_len}-s{seed}")


def transformer_blocks(n_layers: int, *, hidden: int = 768, seq: int = 128, heads: int = 12,
                       ffn: int | None = None, batch: int = 1, noise: float = 0.05, seed: int = 0,
                       name: str | None = None) -> Graph:
    """A stack of transformer encoder layers with costs from the layer dimensions.

    Per layer: ``ln1 -> q, k, v (three matmuls) -> attention -> out_proj -> add (residual) -> ln2 -> fc1 ->
    gelu -> fc2 -> add (residual)``: 12 nodes and 14 edges, plus 2 edges from the previous layer (ids follow
    that order, layer after layer). FLOPs
    count a multiply-add as 2, bytes are fp32; ``noise`` multiplies every cost by a seeded log-normal factor
    (0 gives the exact formulas).

    Parameters
    ----------
    n_layers : int
    hidden, seq, heads, ffn, batch : int
        Model dimensions (``ffn`` defaults to 4 * hidden).
    noise : float
        Standard deviation of the log-normal cost jitter.
    seed : int
    """
    rng = np.random.default_rng(seed)
    L = int(n_layers)
    if L < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    d, s, b = int(hidden), int(seq), int(batch)
    f = int(ffn) if ffn is not None else 4 * d
    if d % int(heads):
        raise ValueError(f"hidden={d} is not a multiple of heads={heads}")
    tokens = b * s
    act = 4.0 * tokens * d
    per_layer = [
        # op, flops, weight bytes, out bytes
        ("layer_norm", 5.0 * tokens * d, 8.0 * d, act),
        ("linear_q", 2.0 * tokens * d * d, 4.0 * (d * d + d), act),
        ("linear_k", 2.0 * tokens * d * d, 4.0 * (d * d + d), act),
        ("linear_v", 2.0 * tokens * d * d, 4.0 * (d * d + d), act),
        ("attention", 4.0 * b * s * s * d + 5.0 * b * int(heads) * s * s, 0.0, act),
        ("linear_o", 2.0 * tokens * d * d, 4.0 * (d * d + d), act),
        ("add", 1.0 * tokens * d, 0.0, act),
        ("layer_norm", 5.0 * tokens * d, 8.0 * d, act),
        ("linear_fc1", 2.0 * tokens * d * f, 4.0 * (d * f + f), 4.0 * tokens * f),
        ("gelu", 8.0 * tokens * f, 0.0, 4.0 * tokens * f),
        ("linear_fc2", 2.0 * tokens * d * f, 4.0 * (d * f + d), act),
        ("add", 1.0 * tokens * d, 0.0, act),
    ]
    # Local edges inside a layer (indices into per_layer) and the residual inputs.
    local = [(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 9), (9, 10),
             (10, 11), (6, 11)]
    k = len(per_layer)
    n = L * k
    edges = []
    for layer in range(L):
        base = layer * k
        edges += [(base + u, base + v) for u, v in local]
        if layer:
            prev_out = base - 1
            edges += [(prev_out, base), (prev_out, base + 6)]
    ops = [op for _ in range(L) for op, *_ in per_layer]
    flops = np.tile([x[1] for x in per_layer], L) * _jitter(rng, n, noise)
    weight_bytes = np.round(np.tile([x[2] for x in per_layer], L) * _jitter(rng, n, noise))
    out_bytes = np.round(np.tile([x[3] for x in per_layer], L) * _jitter(rng, n, noise))
    in_bytes = np.zeros(n)
    e = np.asarray(edges)
    np.add.at(in_bytes, e[:, 1], out_bytes[e[:, 0]])
    mem_bytes = in_bytes + out_bytes + weight_bytes
    return Graph.from_edges(n, e, flops=np.round(flops), mem_bytes=mem_bytes, weight_bytes=weight_bytes,
                            out_bytes=out_bytes, ops=ops, name=name or f"transformer-{L}x{d}-s{seed}")

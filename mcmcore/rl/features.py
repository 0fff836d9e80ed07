"""Node features of one (graph, package) instance for the placement policy.

Every feature is a function of the graph and of a few package-level scalars, so one policy serves any graph
size and any number of chiplets. Columns (:data:`FEATURE_NAMES`):

- op type: a one-hot over a fixed vocabulary (:data:`OP_VOCAB`, matched on the op name with any ``_grad`` suffix
  and ``linear_*``/``conv*`` variants folded) plus a one-hot hash bucket of the raw name (:data:`N_HASH` buckets),
  so unseen op names still get a stable, if shared, code;
- ``backward``: the node is a training backward node;
- costs: log10 of FLOPs, memory bytes, weight bytes and output bytes (scaled to about [0, 1]) and the node's
  shares of the total work and of the total weights (times ``n_nodes``, clipped);
- structure: depth / max depth, topological rank / n_nodes, log in/out degree;
- pipeline progress: the prefix sums, in topological order, of work and of weight bytes as fractions of their
  totals (where a balanced pipeline would cut, node by node);
- package: log2 K, 1 / K and the ratio of the graph's weights to the package's total SRAM (broadcast).
"""
from __future__ import annotations

import math
import zlib

import numpy as np

from mcmcore.graph import Graph
from mcmcore.package import Package

__all__ = ["FEATURE_BOUND", "OP_VOCAB", "N_HASH", "FEATURE_NAMES", "N_FEATURES", "node_features", "node_work",
           "RANK_COLUMN"]

#: Op names with their own one-hot column (after folding suffixes); anything else is "other".
OP_VOCAB = ("linear", "matmul", "addmm", "bmm", "conv", "add", "mul", "elementwise", "layer_norm", "batch_norm",
            "softmax", "attention", "gelu", "relu", "tanh", "pool", "embedding", "cat", "index", "other")
#: Hash buckets of the raw op name.
N_HASH = 8

_COSTS = ("log_flops", "log_mem_bytes", "log_weight_bytes", "log_out_bytes", "work_share", "weight_share")
_STRUCT = ("depth", "topo_rank", "log_in_degree", "log_out_degree", "cum_work", "cum_weight")
_PKG = ("log2_devices", "inv_devices", "weights_over_sram")
FEATURE_NAMES = tuple(f"op_{o}" for o in OP_VOCAB) + tuple(f"hash_{i}" for i in range(N_HASH)) + \
    ("backward",) + _COSTS + _STRUCT + _PKG
N_FEATURES = len(FEATURE_NAMES)
#: Every feature lies in [-FEATURE_BOUND, FEATURE_BOUND] (clipped).
FEATURE_BOUND = 10.0
#: Column of the topological rank (the policy orders its attention by it).
RANK_COLUMN = FEATURE_NAMES.index("topo_rank")


def _fold(op: str) -> str:
    base = op[:-5] if op.endswith("_grad") else op
    if base.startswith("linear"):
        return "linear"
    if base.startswith("conv"):
        return "conv"
    if "attention" in base:
        return "attention"
    if "pool" in base:
        return "pool"
    if base in ("sub", "div", "pow", "dropout"):
        return "elementwise"
    return base if base in OP_VOCAB else "other"


def node_work(graph: Graph, package: Package) -> np.ndarray:
    """Roofline seconds of each node on an average device of ``package`` (``latency`` when the graph has it)."""
    if graph.latency is not None:
        return np.asarray(graph.latency, dtype=np.float64).mean(axis=1)
    peak = float(np.mean(package.peak_flops))
    bw = float(np.mean(package.mem_bw))
    return np.maximum(np.asarray(graph.flops) / peak, np.asarray(graph.mem_bytes) / bw)


def _log_scaled(a, scale: float) -> np.ndarray:
    return np.log10(1.0 + np.asarray(a, dtype=np.float64)) / scale


def node_features(graph: Graph, package: Package) -> np.ndarray:
    """The (n_nodes, :data:`N_FEATURES`) float32 feature matrix of ``graph`` on ``package``."""
    n = graph.n_nodes
    x = np.zeros((n, N_FEATURES), dtype=np.float64)
    ops = graph.ops if graph.ops else ("other",) * n
    vocab = {o: i for i, o in enumerate(OP_VOCAB)}
    col = len(OP_VOCAB)
    backward = np.zeros(n, dtype=bool) if graph.backward is None else np.array(graph.backward, dtype=bool)
    for i, op in enumerate(ops):
        x[i, vocab[_fold(op)]] = 1.0
        x[i, col + zlib.crc32(op.encode()) % N_HASH] = 1.0
        if op.endswith("_grad"):
            backward[i] = True
    col += N_HASH
    x[:, col] = backward
    col += 1
    work = node_work(graph, package)
    weights = np.asarray(graph.weight_bytes, dtype=np.float64)
    x[:, col + 0] = _log_scaled(graph.flops, 13.0)
    x[:, col + 1] = _log_scaled(graph.mem_bytes, 10.0)
    x[:, col + 2] = _log_scaled(weights, 10.0)
    x[:, col + 3] = _log_scaled(graph.out_bytes, 10.0)
    x[:, col + 4] = np.clip(work / max(work.sum(), 1e-30) * n, 0, 20) / 4
    x[:, col + 5] = np.clip(weights / max(weights.sum(), 1e-30) * n, 0, 20) / 4
    col += len(_COSTS)
    topo = np.asarray(graph.topo_order)
    rank = np.empty(n, dtype=np.int64)
    rank[topo] = np.arange(n)
    depth = np.zeros(n)
    pp, pi = np.asarray(graph.pred_ptr), np.asarray(graph.pred_idx)
    for v in topo:
        preds = pi[pp[v]:pp[v + 1]]
        if preds.size:
            depth[v] = depth[preds].max() + 1
    indeg = np.diff(pp)
    outdeg = np.diff(np.asarray(graph.succ_ptr))
    x[:, col + 0] = depth / max(depth.max(), 1.0)
    x[:, col + 1] = rank / max(n - 1, 1)
    x[:, col + 2] = np.log1p(indeg) / 2
    x[:, col + 3] = np.log1p(outdeg) / 2
    # prefix sums in topological order, the node's own share counted half (its midpoint)
    for j, a in ((4, work), (5, weights)):
        s = a[topo]
        cum = np.cumsum(s) - 0.5 * s
        out = np.empty(n)
        out[topo] = cum / max(a.sum(), 1e-30)
        x[:, col + j] = out
    col += len(_STRUCT)
    k = package.n_devices
    x[:, col + 0] = math.log2(k) / 5
    x[:, col + 1] = 1.0 / k
    sram = np.asarray(package.sram_bytes, dtype=np.float64)
    total_sram = float(sram[np.isfinite(sram)].sum()) if np.isfinite(sram).any() else math.inf
    x[:, col + 2] = min(weights.sum() / total_sram, 4.0) if math.isfinite(total_sram) and total_sram > 0 else 0.0
    return np.clip(x, -FEATURE_BOUND, FEATURE_BOUND).astype(np.float32)

"""``metis`` and ``kahypar``: the baseline a practitioner would use (DESIGN.md, search).

A balanced K-way partition by compute with a general graph partitioner, mapped to the chiplets, then repaired:

1. Nodes of one color are contracted into one unit (the partitioner cannot split them anyway).
2. Node weight = the unit's compute time on its fastest device kind; part targets are proportional to each
   device's speed (equal on homogeneous packages).
3. ``metis`` (pymetis) partitions the undirected graph whose edge weights are the communication time of the
   producer (``comm_time``, or ``out_bytes`` / bandwidth); ``kahypar`` (Mt-KaHyPar) partitions the hypergraph
   with one net per producer (the node and its consumers, weight ``out_bytes``) under the connectivity (km1)
   objective, which is exactly what the port model charges: one message per distinct receiving device.
4. Parts go to devices: with the ``ordered`` dataflow they are sorted by the mean topological rank of their nodes
   and laid along the pipeline in that order; otherwise (``acyclic``, none) part ``k`` goes to device ``k``.
5. :func:`mcmcore.repair.repair` makes the placement valid; it is offered to the tracker.

The rest of the budget goes to further seeds and imbalance settings (each result offered), up to
``max_attempts``; a further attempt starts only when the slowest one so far still fits in the time left. Each attempt is deterministic for its seed (METIS' own seed; Mt-KaHyPar's deterministic preset).
"""
from __future__ import annotations

import threading

import numpy as np

from mcmcore.search.base import SearchProblem, Tracker
from mcmcore.search.bounds import compute_time_matrix

__all__ = ["run_metis", "run_kahypar", "IMBALANCES"]

#: Allowed imbalance settings cycled through (METIS ufactor = 1000 * imbalance; Mt-KaHyPar epsilon).
IMBALANCES = (0.03, 0.01, 0.1, 0.3)

#: Integer scale of the weights handed to the partitioners (they take integers).
_WEIGHT_SCALE = 1_000_000


def _import(name: str, extra_hint: str):
    try:
        return __import__(name)
    except ImportError as exc:
        raise ImportError(f"the {extra_hint!r} method needs the {name!r} package: pip install {name} "
                          f"(or pip install 'mcmcore[partitioners]')") from exc


# ------------------------------------------------------------------------------------------------ the instance
class _Units:
    """Co-location units (color classes contracted) with integer weights for a partitioner."""

    def __init__(self, problem: SearchProblem):
        g, pkg = problem.graph, problem.package
        n = g.n_nodes
        if g.color is not None and problem.constraints.colors and (g.color >= 0).any():
            key = np.where(g.color >= 0, -1 - g.color.astype(np.int64), np.arange(n))
            _, unit = np.unique(key, return_inverse=True)
        else:
            unit = np.arange(n)
        self.unit = unit.astype(np.int64).reshape(-1)
        self.n = int(self.unit.max()) + 1 if n else 0
        ct = compute_time_matrix(g, pkg)
        if g.supported is not None and problem.constraints.support:
            ct = np.where(g.supported[:, pkg.kinds], ct, np.inf)
        fastest = ct.min(axis=1)
        fastest = np.where(np.isfinite(fastest), fastest, 0.0)
        w = np.bincount(self.unit, weights=fastest, minlength=self.n)
        self.node_weight = _to_int(w)
        # Device targets proportional to speed: total fastest time / total time on device k.
        total_on = np.where(np.isfinite(ct), ct, 0.0).sum(axis=0)
        speed = np.where(total_on > 0, fastest.sum() / np.maximum(total_on, 1e-300), 1.0)
        self.targets = speed / speed.sum() if speed.sum() > 0 else np.full(pkg.n_devices, 1.0 / pkg.n_devices)
        self.uniform = bool(np.allclose(self.targets, self.targets[0], rtol=1e-6))
        # Communication of each producer: time in the port model, bytes otherwise.
        if pkg.interconnect == "port" and g.comm_time is not None:
            t = np.asarray(g.comm_time, dtype=np.float64)
        else:
            t = np.asarray(g.out_bytes, dtype=np.float64)
        self.comm = t
        self.edges = np.asarray(g.edges, dtype=np.int64).reshape(-1, 2)
        rank = np.empty(n, dtype=np.float64)
        rank[np.asarray(g.topo_order)] = np.arange(n)
        self.rank = rank

    # METIS: an undirected weighted graph over the units in CSR form.
    def csr(self):
        e = self.edges
        if not len(e):
            return np.zeros(self.n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        a, b = self.unit[e[:, 0]], self.unit[e[:, 1]]
        w = self.comm[e[:, 0]]
        keep = a != b
        a, b, w = a[keep], b[keep], w[keep]
        src = np.concatenate([a, b])
        dst = np.concatenate([b, a])
        ww = np.concatenate([w, w])
        key = src * self.n + dst
        uniq, inv = np.unique(key, return_inverse=True)
        wsum = np.bincount(inv.reshape(-1), weights=ww)
        src, dst = uniq // self.n, uniq % self.n
        xadj = np.zeros(self.n + 1, dtype=np.int64)
        np.add.at(xadj, src + 1, 1)
        xadj = np.cumsum(xadj)
        return xadj, dst.astype(np.int64), _to_int(wsum)

    # Mt-KaHyPar: one net per producer unit (the unit and the units consuming it).
    def nets(self):
        nets, weights = [], []
        e = self.edges
        if not len(e):
            return nets, weights
        a, b = self.unit[e[:, 0]], self.unit[e[:, 1]]
        keep = a != b
        src_node, a, b = e[keep, 0], a[keep], b[keep]
        if not len(src_node):  # every edge inside one unit (a colour)
            return nets, weights
        order = np.lexsort((b, src_node))
        src_node, a, b = src_node[order], a[order], b[order]
        cut = np.flatnonzero(np.diff(src_node)) + 1
        w = _to_int(self.comm[src_node[np.r_[0, cut]]])
        for i, (bs, head) in enumerate(zip(np.split(b, cut), a[np.r_[0, cut]])):
            pins = np.unique(np.r_[head, bs])
            if len(pins) > 1:
                nets.append(pins.tolist())
                weights.append(int(w[i]))
        return nets, weights

    def to_placement(self, parts: np.ndarray, problem: SearchProblem) -> np.ndarray:
        """Unit parts -> node placement (parts laid along the pipeline by mean topological rank when ordered)."""
        pkg = problem.package
        K = pkg.n_devices
        node_part = np.asarray(parts, dtype=np.int64)[self.unit]
        dataflow = problem.constraints.resolved_dataflow(pkg)
        if dataflow == "ordered":
            count = np.bincount(node_part, minlength=K)
            mean = np.bincount(node_part, weights=self.rank, minlength=K) / np.maximum(count, 1)
            mean = np.where(count > 0, mean, np.inf)
            by_rank = np.argsort(mean, kind="stable")
            device_of_part = np.empty(K, dtype=np.int64)
            device_of_part[by_rank] = np.asarray(pkg.order, dtype=np.int64)
        else:
            device_of_part = np.arange(K)
        return device_of_part[node_part].astype(np.int32)


def _to_int(x: np.ndarray) -> np.ndarray:
    """Non-negative floats -> positive integers with a common scale (relative precision ~1e-6 of the largest)."""
    x = np.asarray(x, dtype=np.float64)
    top = float(x.max()) if x.size else 0.0
    if not top > 0:
        return np.ones(x.shape, dtype=np.int64)
    return np.maximum(1, np.rint(x / top * _WEIGHT_SCALE)).astype(np.int64)


# ------------------------------------------------------------------------------------------------ partitioners
def _metis_parts(units: _Units, K: int, imbalance: float, seed: int, targets) -> np.ndarray:
    pymetis = _import("pymetis", "metis")
    xadj, adjncy, ew = units.csr()
    options = pymetis.Options(seed=int(seed) & 0x7FFFFFFF, ufactor=max(1, int(round(1000 * imbalance))))
    kw = {}
    if targets is not None:
        kw["tpwgts"] = [float(t) for t in targets / targets.sum() * (1 - 1e-9)]
    res = pymetis.part_graph(K, adjacency=pymetis.CSRAdjacency(xadj.tolist(), adjncy.tolist()),
                             vweights=units.node_weight.tolist(), eweights=ew.tolist() if len(ew) else None,
                             options=options, **kw)
    return np.asarray(res.vertex_part, dtype=np.int64)


_KAHYPAR = None
_KAHYPAR_LOCK = threading.Lock()


def _kahypar():
    """Mt-KaHyPar's thread pool is process-wide and initialised once."""
    global _KAHYPAR
    mtk = _import("mtkahypar", "kahypar")
    with _KAHYPAR_LOCK:
        if _KAHYPAR is None:
            _KAHYPAR = mtk.initialize(1, False)
    return mtk, _KAHYPAR


def _kahypar_parts(units: _Units, K: int, imbalance: float, seed: int, targets) -> np.ndarray:
    mtk, init = _kahypar()
    ctx = init.context_from_preset(mtk.PresetType.DETERMINISTIC)
    ctx.set_partitioning_parameters(K, float(imbalance), mtk.Objective.KM1)
    ctx.logging = False
    total = int(units.node_weight.sum())
    if targets is not None:
        cap = np.ceil(targets / targets.sum() * total * (1 + imbalance)).astype(np.int64) + 1
        ctx.set_individual_target_block_weights(cap.tolist())
    mtk.set_seed(int(seed) & 0x7FFFFFFF)
    nets, weights = units.nets()
    hg = init.create_hypergraph(ctx, units.n, len(nets), nets, units.node_weight.tolist(), weights)
    part = hg.partition(ctx)
    return np.asarray(part.get_partition(), dtype=np.int64)


# ------------------------------------------------------------------------------------------------ the method
def _run(problem: SearchProblem, tracker: Tracker, partitioner, name: str, *, seed: int, max_attempts: int):
    from mcmcore.search.dp import offer_repaired

    g, pkg = problem.graph, problem.package
    K = pkg.n_devices
    if g.n_nodes == 0:
        tracker.offer(np.zeros(0, dtype=np.int32))
        return
    units = _Units(problem)
    dataflow = problem.constraints.resolved_dataflow(pkg)
    # Speed-proportional targets only where part k is device k (the ordered mapping permutes parts).
    targets = None if (units.uniform or dataflow == "ordered") else units.targets
    attempts = 0
    slowest = 0.0
    while attempts < max_attempts and not tracker.exhausted():
        # A partitioner call cannot be interrupted: start another only if one fits in the time left.
        if attempts and tracker.remaining_seconds() < slowest:
            break
        t0 = tracker.elapsed()
        imbalance = IMBALANCES[attempts % len(IMBALANCES)]
        part_seed = seed * 7919 + attempts // len(IMBALANCES)
        if units.n <= K:
            parts = np.arange(units.n) % K
        else:
            parts = partitioner(units, K, imbalance, part_seed, targets)
        placement = units.to_placement(parts, problem)
        offer_repaired(problem, tracker, placement, seed=seed)
        attempts += 1
        slowest = max(slowest, tracker.elapsed() - t0)
    tracker.info[f"{name}_attempts"] = attempts


def run_metis(problem: SearchProblem, tracker: Tracker, *, seed: int = 0, n_threads=None, max_attempts: int = 64,
              **options) -> None:
    """``metis`` method (pymetis). Option: ``max_attempts`` (seeds x imbalance settings tried, default 64)."""
    if options:
        raise ValueError(f"unknown metis option(s): {', '.join(sorted(options))}")
    _import("pymetis", "metis")
    _run(problem, tracker, _metis_parts, "metis", seed=seed, max_attempts=int(max_attempts))


def run_kahypar(problem: SearchProblem, tracker: Tracker, *, seed: int = 0, n_threads=None, max_attempts: int = 64,
                **options) -> None:
    """``kahypar`` method (Mt-KaHyPar, deterministic preset, km1 objective). Option: ``max_attempts``."""
    if options:
        raise ValueError(f"unknown kahypar option(s): {', '.join(sorted(options))}")
    _import("mtkahypar", "kahypar")
    _run(problem, tracker, _kahypar_parts, "kahypar", seed=seed, max_attempts=int(max_attempts))

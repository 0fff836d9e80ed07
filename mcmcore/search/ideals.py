"""Exact dynamic program over the ideals (downsets) of the DAG (Tarnawski et al., NeurIPS 2020).

What it optimises
-----------------
Every placement whose device-level graph is acyclic is a chain of ideals ``∅ = I_0 ⊆ I_1 ⊆ ... ⊆ I_K = V``:
device ``d_p`` (the p-th device in a topological order of the device graph) takes ``I_p \\ I_{p-1}``. In the port
model the cost of a device depends only on its own node set ``S`` (its compute, its memory, and the outputs it
sends / receives across the boundary of ``S``), so the interval is ``max_p cost(d_p, S_p)`` and

    best[u][I] = min over ideals I' ⊆ I and device classes c with u_c >= 1 of
                 max(best[u - e_c][I'], cost_c(I \\ I'))

is exact, where ``u`` counts how many devices of each *class* are used so far. Devices of one class (same kind,
peak_flops, mem_bw, comm_factor and SRAM, and no pinned node) are interchangeable, so the DP over class counts
covers every acyclic placement up to relabelling devices within a class: it proves the optimum over *all*
placements satisfying ``acyclic`` dataflow (and capacity, colors, pins, support, all_used) -- not only over one
fixed device order. A device with pinned nodes is a class of its own. With ``ordered`` dataflow the devices are
taken in the package's pipeline order instead (``u`` = position), which is exact too. Stages may be empty (unused
devices, anywhere in the pipeline) unless ``all_used``.

Co-location: nodes of one color, and then every strongly connected component of the color-contracted dataflow graph
(whose nodes must share a device under either dataflow form), are contracted into *units* before the ideals are
enumerated, so a color is never split. Backward nodes are exempt from dataflow: their edges carry communication
but impose no order, so a backward node whose color does not tie it to a forward node is a free unit (it doubles the
ideal count: tractable() decides). With dataflow switched off every subset is an ideal: the DP is then exact over
all placements (tiny graphs only).

The links model: link traffic depends on which stages each message passes, so the stage cost is not separable.
The DP then solves a relaxation without the link term (interval = the largest stage compute, every other
constraint kept). Its value is still a lower bound on every valid placement, and its placement, evaluated exactly,
is proven optimal when the links are not its bottleneck (the evaluation equals the bound), as on the zoo's
pipelines over rings and meshes. Likewise ``max_skip`` below K-1 is left out (a relaxation: the bound holds, the
placement may need repair). The latency objective is not handled at all: tractable() is False.

Cost: the ideals are enumerated by reverse search (each exactly once, aborting past ``max_ideals``). The DP
tests pairs of ideals for inclusion. Without a bound that is M^2/2 pairs times the words of a bitset. With an upper
bound on the optimum (the best pipeline split's interval, or the search's best) it skips most of them. A stage costs
at least the fastest compute of its units, so an ideal needs a key (its units' fastest compute summed) near one of
the K - 1 stage boundaries, and a pair needs keys within the bound. On Inception-V3 and 8 chiplets, 3,613 of the
34,002 ideals remain, and the DP takes 0.04 s instead of 24 s. Chain-like graphs have about one ideal per node.
With communication each pair also charges the boundary nodes of both ideals and the order-free nodes (gradients
of a training graph); those with a single successor unit go through two bitsets per ideal, one word operation
per 64 of them (Inception-V3 training on port4: 250 s -> 18 s).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from mcmcore.search.base import SearchProblem, Tracker
from mcmcore.search.bounds import compute_time_matrix

__all__ = ["tractable", "run", "solve", "models_exactly", "IdealsResult", "MAX_IDEALS", "MAX_WORK", "MAX_STATES"]

#: Default limit on the number of ideals (the enumeration of 50,000 takes well under a second).
MAX_IDEALS = 50_000
#: Default limit on the DP's work (:func:`_work`; about a minute on one core).
MAX_WORK = 5e10
#: Default limit on the number of device-usage states (product over classes of count + 1).
MAX_STATES = 4096

_ONE = np.uint64(1)


# ------------------------------------------------------------------------------------------------ numba kernels
@njit(cache=True)
def _enumerate(pred_ptr, pred_idx, succ_ptr, succ_idx, n_units, n_words, limit):
    """All ideals of the unit DAG as bitsets, in non-decreasing size (BFS of a reverse search: the parent of a
    non-empty ideal J is J minus its highest-index sink, so every ideal is generated once). Returns (ideals,
    count); count = -1 when there are more than ``limit``."""
    out = np.zeros((limit + 1, n_words), dtype=np.uint64)
    count = 1
    head = 0
    is_sink = np.zeros(n_units, dtype=np.bool_)
    while head < count:
        # sinks of out[head]
        for s in range(n_units):
            in_i = (out[head, s >> 6] >> np.uint64(s & 63)) & _ONE
            if in_i == 0:
                is_sink[s] = False
                continue
            sink = True
            for e in range(succ_ptr[s], succ_ptr[s + 1]):
                w = succ_idx[e]
                if (out[head, w >> 6] >> np.uint64(w & 63)) & _ONE:
                    sink = False
                    break
            is_sink[s] = sink
        for v in range(n_units):
            if (out[head, v >> 6] >> np.uint64(v & 63)) & _ONE:
                continue
            ok = True
            for e in range(pred_ptr[v], pred_ptr[v + 1]):
                u = pred_idx[e]
                if not ((out[head, u >> 6] >> np.uint64(u & 63)) & _ONE):
                    ok = False
                    break
            if not ok:
                continue
            # v must be the highest-index sink of I + {v}: every sink of I above v must be a predecessor of v.
            for s in range(v + 1, n_units):
                if is_sink[s]:
                    is_pred = False
                    for e in range(pred_ptr[v], pred_ptr[v + 1]):
                        if pred_idx[e] == s:
                            is_pred = True
                            break
                    if not is_pred:
                        ok = False
                        break
            if not ok:
                continue
            if count > limit - 1:
                return out, -1
            for w in range(n_words):
                out[count, w] = out[head, w]
            out[count, v >> 6] |= _ONE << np.uint64(v & 63)
            count += 1
        head += 1
    return out[:count], count


@njit(cache=True)
def _aggregate(ideals, unit_comp, unit_wt, node_unit, succ_units, is_extra):
    """Per ideal: compute per class, weight, and the boundary nodes (in the ideal, a successor outside; the
    order-free ``extra`` nodes are left out, the DP charges them on their own)."""
    m, n_words = ideals.shape
    n_units, n_cls = unit_comp.shape
    n = node_unit.shape[0]
    comp = np.zeros((m, n_cls))
    wt = np.zeros(m)
    bptr = np.zeros(m + 1, dtype=np.int64)
    bidx_list = []
    for j in range(m):
        for a in range(n_units):
            if (ideals[j, a >> 6] >> np.uint64(a & 63)) & _ONE:
                for c in range(n_cls):
                    comp[j, c] += unit_comp[a, c]
                wt[j] += unit_wt[a]
        cnt = 0
        for u in range(n):
            a = node_unit[u]
            if is_extra[u] or not ((ideals[j, a >> 6] >> np.uint64(a & 63)) & _ONE):
                continue
            out = False
            for w in range(n_words):
                if succ_units[u, w] & ~ideals[j, w]:
                    out = True
                    break
            if out:
                bidx_list.append(u)
                cnt += 1
        bptr[j + 1] = bptr[j] + cnt
    bidx = np.empty(len(bidx_list), dtype=np.int64)
    for i in range(len(bidx_list)):
        bidx[i] = bidx_list[i]
    return comp, wt, bptr, bidx


@njit(cache=True, inline="always")
def _stage_cost(compute, comm, overlap):
    """A stage's cost from its compute and communication times: the larger when they overlap, else the sum."""
    if overlap:
        return compute if compute > comm else comm
    return compute + comm


@njit(cache=True)
def _can_improve(i, j, cost, rel, best, trans_ptr, trans_prev, trans_cls, ub):
    """Whether a stage from ideal i to ideal j costing at least ``cost[c]`` on class c could lower ``best[u, j]``
    (within ``ub``) for some usage state u that matters (``rel``)."""
    for u in range(1, best.shape[0]):
        if not rel[u]:
            continue
        for q in range(trans_ptr[u], trans_ptr[u + 1]):
            prev = best[trans_prev[q], i]
            c = cost[trans_cls[q]]
            v = prev if prev > c else c
            if v < best[u, j] and v <= ub:
                return True
    return False


@njit(cache=True)
def _dp(ideals, sizes, keys, ub, comp, wt, bptr, bidx, extra, xu, xw, t_single, db_index, node_unit, succ_units, t,
        has_comm, cls_sram, cls_cf, allowed, overlap, all_used, trans_ptr, trans_prev, trans_cls, n_states, caps,
        prune=True):
    """best[u, j]: the smallest largest-stage cost of placing ideal j on the devices of usage state u.

    The ideals come sorted by (key, size), where ``keys[j]`` sums every unit's fastest compute time over ideal j,
    so a proper subset precedes its supersets and a stage J minus I costs at least ``keys[j] - keys[i]`` on any
    device: scanning i downwards from j, the scan stops once that exceeds ``ub`` (an upper bound on the optimum;
    inf scans every pair), and values above ``ub`` are dropped. With ``prune`` (the result is the same):

    - a usage state is skipped for j when j cannot fit on its devices, or the rest of the graph on the others,
      with every stage within ``ub`` (the test of :func:`_usable`, per state);
    - a pair whose stage cost, bounded below per class by its compute and by ``|out[j] - out[i]|`` of
      communication, cannot beat the best found for j in any state is skipped, first from these aggregates
      (before its subset test), then also with the stage's fit and allowed units (before the scan of its
      communication). Such a pair would not have changed ``best``: strictly smaller wins.

    Empty stages (an unused device, anywhere in the pipeline) are closed per ideal, after all its non-empty
    transitions, so they can lead, sit between stages or trail."""
    m, n_words = ideals.shape
    n_cls = cls_sram.shape[0]
    INF = np.inf
    best = np.full((n_states, m), INF)
    par_i = np.full((n_states, m), -1, dtype=np.int64)
    par_t = np.full((n_states, m), -1, dtype=np.int64)
    best[0, 0] = 0.0
    stamp = np.full(node_unit.shape[0], -1, dtype=np.int64)
    stage = np.empty(n_words, dtype=np.uint64)
    cost = np.empty(n_cls)
    lbc = np.empty(n_cls)
    zero = np.zeros(n_cls)
    out = np.zeros(m)  # per ideal: the send time of its boundary nodes
    for j in range(m):
        for q in range(bptr[j], bptr[j + 1]):
            out[j] += t[bidx[q]]
    # a state u matters for ideal j only when j fits on its devices and the rest on the others, every stage
    # within ub (caps: what each state's devices hold per unit of interval): the test of _usable, per state
    total = keys[m - 1]
    slack = 1e-9 * max(total, 1e-300)
    eps = 1e-9 * max(caps[n_states - 1], 1.0)
    rel = np.ones(n_states, dtype=np.bool_)
    pair = 0
    for j in range(m):
        if prune and ub < INF and ub > 0.0:
            lo = (keys[j] - slack) / ub
            hi = caps[n_states - 1] - max(total - keys[j] - slack, 0.0) / ub
            for u in range(1, n_states):
                rel[u] = lo - eps <= caps[u] <= hi + eps
        for i in range(j - 1, -1, -1):
            if keys[j] - keys[i] > ub:
                break
            if sizes[i] >= sizes[j]:
                continue
            # A lower bound on the stage's communication: what leaves J but not I is sent by the stage, what
            # leaves I but not J is received by it (scaled down by the rounding of the scanned sum). A pair that
            # cannot beat the best found for j even so is skipped: first from the aggregates alone, before the
            # subset test; then with the stage's fit and allowed units, before the scan of its communication.
            # Such a pair would not have changed best (strictly smaller wins), so the result is the same.
            comm_lb = abs(out[j] - out[i]) * (1.0 - 1e-9)
            if prune:
                if not _can_improve(i, j, zero, rel, best, trans_ptr, trans_prev, trans_cls, ub):
                    continue  # i's own best already loses, whatever the stage costs
                for c in range(n_cls):
                    cc = comp[j, c] - comp[i, c]
                    cost[c] = _stage_cost(cc if cc > 0.0 else 0.0, cls_cf[c] * comm_lb, overlap)
                if not _can_improve(i, j, cost, rel, best, trans_ptr, trans_prev, trans_cls, ub):
                    continue
            sub = True
            for w in range(n_words):
                if ideals[i, w] & ~ideals[j, w]:
                    sub = False
                    break
            if not sub:
                continue
            for w in range(n_words):
                stage[w] = ideals[j, w] & ~ideals[i, w]
            # the stage's compute per class: inf where it does not fit or is not allowed
            sw = wt[j] - wt[i]
            for c in range(n_cls):
                lbc[c] = INF
                cost[c] = INF
                if sw > cls_sram[c]:
                    continue
                ok = True
                for w in range(n_words):
                    if stage[w] & ~allowed[c, w]:
                        ok = False
                        break
                if not ok:
                    continue
                cc = comp[j, c] - comp[i, c]
                lbc[c] = cc if cc > 0.0 else 0.0
                cost[c] = _stage_cost(lbc[c], cls_cf[c] * comm_lb, overlap)
            if prune and not _can_improve(i, j, cost, rel, best, trans_ptr, trans_prev, trans_cls, ub):
                continue
            # communication of the stage: candidates are the boundary nodes of I and I' and the extra nodes
            pair += 1
            comm = 0.0
            for part in range(3 if has_comm else 0):
                if part == 0:
                    lo, hi = bptr[j], bptr[j + 1]
                elif part == 1:
                    lo, hi = bptr[i], bptr[i + 1]
                else:
                    lo, hi = 0, extra.shape[0]
                for q in range(lo, hi):
                    u = bidx[q] if part < 2 else extra[q]
                    if stamp[u] == pair:
                        continue
                    stamp[u] = pair
                    a = node_unit[u]
                    if (stage[a >> 6] >> np.uint64(a & 63)) & _ONE:
                        for w in range(n_words):
                            if succ_units[u, w] & ~stage[w]:
                                comm += t[u]
                                break
                    else:
                        for w in range(n_words):
                            if succ_units[u, w] & stage[w]:
                                comm += t[u]
                                break
            if has_comm:  # single-successor order-free nodes: charged when exactly one of u, w is in the stage
                for w in range(xu.shape[1]):
                    x = (xu[j, w] & ~xu[i, w]) ^ (xw[j, w] & ~xw[i, w])
                    while x:
                        low = x & (~x + _ONE)
                        comm += t_single[w * 64 + db_index[(low * _DEBRUIJN) >> np.uint64(58)]]
                        x ^= low
            any_ok = False
            for c in range(n_cls):
                cost[c] = INF
                if lbc[c] == INF:
                    continue
                cost[c] = _stage_cost(lbc[c], cls_cf[c] * comm, overlap)
                any_ok = True
            if not any_ok:
                continue
            for u in range(1, n_states):
                if not rel[u]:
                    continue
                for q in range(trans_ptr[u], trans_ptr[u + 1]):
                    c = trans_cls[q]
                    if cost[c] == INF:
                        continue
                    prev = best[trans_prev[q], i]
                    v = prev if prev > cost[c] else cost[c]
                    if v < best[u, j] and v <= ub:
                        best[u, j] = v
                        par_i[u, j] = i
                        par_t[u, j] = q
        if not all_used:  # empty stages: u ascending, so a chain of unused devices closes in one pass
            for u in range(1, n_states):
                if not rel[u]:
                    continue
                for q in range(trans_ptr[u], trans_ptr[u + 1]):
                    v = best[trans_prev[q], j]
                    if v < best[u, j]:
                        best[u, j] = v
                        par_i[u, j] = j
                        par_t[u, j] = q
    return best, par_i, par_t


def _lowest_bit(words: np.ndarray) -> int:
    for w, x in enumerate(words.tolist()):
        if x:
            return 64 * w + (int(x) & -int(x)).bit_length() - 1
    return -1


@njit(cache=True)
def _single_bits(ideals, unit_of, to_unit):
    """Per ideal, two bitsets over the single-successor order-free nodes: whose own unit is in the ideal, and
    whose successor unit is."""
    m = ideals.shape[0]
    e = unit_of.shape[0]
    n_words = max(1, (e + 63) // 64)
    xu = np.zeros((m, n_words), dtype=np.uint64)
    xw = np.zeros((m, n_words), dtype=np.uint64)
    for j in range(m):
        for q in range(e):
            a, b = unit_of[q], to_unit[q]
            bit = _ONE << np.uint64(q & 63)
            if (ideals[j, a >> 6] >> np.uint64(a & 63)) & _ONE:
                xu[j, q >> 6] |= bit
            if (ideals[j, b >> 6] >> np.uint64(b & 63)) & _ONE:
                xw[j, q >> 6] |= bit
    return xu, xw


def _debruijn_index(multiplier: int) -> np.ndarray:
    """Lowest-set-bit table: for x = 2^b, ``table[(x * multiplier mod 2^64) >> 58] == b``."""
    table = np.zeros(64, dtype=np.int64)
    for b in range(64):
        table[((1 << b) * multiplier % 2 ** 64) >> 58] = b
    return table


#: de Bruijn sequence and its table: the index of the lowest set bit of a 64-bit word in one multiply
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_INDEX = _debruijn_index(0x03F79D71B4CB0A89)


@njit(cache=True)
def _sizes_and_keys(ideals, unit_key):
    """Per ideal: its number of units and the sum of their fastest compute times (summed in unit order, so a
    superset's key is never below a subset's, rounding included)."""
    m, n_words = ideals.shape
    sizes = np.zeros(m, dtype=np.int64)
    keys = np.zeros(m)
    for j in range(m):
        for a in range(unit_key.shape[0]):
            if (ideals[j, a >> 6] >> np.uint64(a & 63)) & _ONE:
                sizes[j] += 1
                keys[j] += unit_key[a]
    return sizes, keys


# ------------------------------------------------------------------------------------------------ preparation
def _scc(n: int, succ: list[list[int]]) -> np.ndarray:
    """Strongly connected components (iterative Tarjan); component ids."""
    index = [-1] * n
    low = [0] * n
    on = [False] * n
    comp = [-1] * n
    stack: list[int] = []
    counter = 0
    n_comp = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on[root] = True
        while work:
            v, k = work[-1]
            if k < len(succ[v]):
                work[-1] = (v, k + 1)
                w = succ[v][k]
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on[w] = True
                    work.append((w, 0))
                elif on[w]:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    while True:
                        w = stack.pop()
                        on[w] = False
                        comp[w] = n_comp
                        if w == v:
                            break
                    n_comp += 1
    return np.asarray(comp, dtype=np.int64)


class _Prepared:
    """Units, device classes and the usage-state transitions of one problem."""

    def __init__(self, problem: SearchProblem):
        g, pkg, cons = problem.graph, problem.package, problem.constraints
        n, k_dev = g.n_nodes, pkg.n_devices
        self.dataflow = cons.resolved_dataflow(pkg)
        fwd = np.ones(n, dtype=bool) if g.backward is None else ~np.asarray(g.backward, dtype=bool)
        edges = g.edges.astype(np.int64).reshape(-1, 2)
        self.is_flow = (fwd[edges[:, 0]] & fwd[edges[:, 1]]) if self.dataflow is not None else \
            np.zeros(len(edges), dtype=bool)
        # 1. colors -> groups
        group = np.arange(n, dtype=np.int64)
        if cons.colors and g.color is not None:
            first: dict[int, int] = {}
            for i in np.flatnonzero(g.color >= 0):
                group[i] = first.setdefault(int(g.color[i]), int(i))
        _, group = np.unique(group, return_inverse=True)
        n_groups = int(group.max()) + 1 if n else 0
        # 2. SCCs of the group graph under the dataflow edges -> units
        succ: list[list[int]] = [[] for _ in range(n_groups)]
        for (u, v), f in zip(edges.tolist(), self.is_flow.tolist()):
            if f and group[u] != group[v]:
                succ[group[u]].append(int(group[v]))
        comp = _scc(n_groups, succ) if n_groups else np.zeros(0, dtype=np.int64)
        unit = comp[group] if n else np.zeros(0, dtype=np.int64)
        self.n_units = n_units = int(unit.max()) + 1 if n else 0
        self.node_unit = unit.astype(np.int64)
        self.n_words = n_words = max(1, (n_units + 63) // 64)
        upairs = set()
        for (u, v), f in zip(edges.tolist(), self.is_flow.tolist()):
            if f and unit[u] != unit[v]:
                upairs.add((int(unit[u]), int(unit[v])))
        up = np.array(sorted(upairs), dtype=np.int64).reshape(-1, 2)
        self.pred_ptr, self.pred_idx = _csr(n_units, up[:, 1], up[:, 0])
        self.succ_ptr, self.succ_idx = _csr(n_units, up[:, 0], up[:, 1])
        # communication: successor units of each node (other than its own), and the nodes with a cross-unit edge
        # that imposes no order (they may send into, or receive from, either side of a stage)
        self.succ_units = np.zeros((n, n_words), dtype=np.uint64)
        extra = set()
        for (u, v), f in zip(edges.tolist(), self.is_flow.tolist()):
            a, b = unit[u], unit[v]
            if a == b:
                continue
            self.succ_units[u, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
            if not f:
                extra.add(u)
        extra_all = np.array(sorted(extra), dtype=np.int64)
        self.is_extra = np.zeros(n, dtype=np.bool_)
        self.is_extra[extra_all] = True
        # order-free nodes with a single successor unit w are charged through bitsets over them (u in the stage
        # xor w in the stage, see _dp); the others (``extra``) by a scan of their successor units
        n_succ = np.array([sum(bin(int(x)).count("1") for x in self.succ_units[u]) for u in extra_all],
                          dtype=np.int64)
        self.single = extra_all[n_succ == 1]
        self.single_to = np.array([_lowest_bit(self.succ_units[u]) for u in self.single], dtype=np.int64)
        self.extra = extra_all[n_succ != 1]
        if pkg.interconnect == "port":
            self.t = np.asarray(g.comm_time if g.comm_time is not None else g.out_bytes / pkg.bandwidth,
                                dtype=np.float64)
        else:
            self.t = np.zeros(n)
        # 3. device classes
        ct = compute_time_matrix(g, pkg)
        pins = g.pin if (cons.pins and g.pin is not None) else None
        pinned_dev = set(pins[pins >= 0].tolist()) if pins is not None else set()
        sram = np.asarray(pkg.sram_bytes, dtype=np.float64) if cons.capacity else np.full(k_dev, np.inf)
        supported = g.supported[:, pkg.kinds] if (cons.support and g.supported is not None) else None
        self.ordered = self.dataflow == "ordered"
        if self.ordered:
            cls_devices = [[int(d)] for d in pkg.order]
        else:
            keys: dict[tuple, int] = {}
            cls_devices = []
            for d in range(k_dev):
                key = (int(pkg.kinds[d]), float(pkg.peak_flops[d]), float(pkg.mem_bw[d]),
                       float(pkg.comm_factor[d]), float(sram[d]), d if d in pinned_dev else -1)
                if key not in keys:
                    keys[key] = len(cls_devices)
                    cls_devices.append([])
                cls_devices[keys[key]].append(d)
        self.cls_devices = cls_devices
        n_cls = len(cls_devices)
        rep = np.array([c[0] for c in cls_devices], dtype=np.int64)
        self.cls_sram = sram[rep] * (1 + 1e-12)  # weights are compared as differences of sums
        self.cls_cf = np.asarray(pkg.comm_factor, dtype=np.float64)[rep]
        self.unit_comp = np.zeros((n_units, n_cls))
        np.add.at(self.unit_comp, unit, ct[:, rep])
        self.unit_wt = np.zeros(n_units)
        np.add.at(self.unit_wt, unit, np.asarray(g.weight_bytes, dtype=np.float64))
        unit_ok = np.ones((n_units, n_cls), dtype=bool)
        if supported is not None:
            bad = ~supported[:, rep]
            for c in range(n_cls):
                unit_ok[unit[bad[:, c]], c] = False
        if pins is not None:
            for i in np.flatnonzero(pins >= 0):
                for c in range(n_cls):
                    if int(pins[i]) not in cls_devices[c]:
                        unit_ok[unit[i], c] = False
        self.allowed = np.zeros((n_cls, n_words), dtype=np.uint64)
        for c in range(n_cls):
            for a in np.flatnonzero(unit_ok[:, c]):
                self.allowed[c, a >> 6] |= np.uint64(1) << np.uint64(int(a) & 63)
        # 4. usage states: ordered -> positions 0..K; otherwise mixed radix over the class counts
        if self.ordered:
            self.n_states = k_dev + 1
            self.trans_ptr = np.concatenate([[0, 0], np.arange(1, k_dev + 1)]).astype(np.int64)
            self.trans_prev = np.arange(k_dev, dtype=np.int64)
            self.trans_cls = np.arange(k_dev, dtype=np.int64)
        else:
            counts = [len(c) for c in cls_devices]
            self.n_states = int(np.prod([c + 1 for c in counts]))
            self.radix = counts
            ptr, prev, cl = [0], [], []
            if self.n_states <= MAX_STATES * 16:
                strides = np.cumprod([1] + [c + 1 for c in counts[:-1]]).astype(np.int64)
                for u in range(self.n_states):
                    if u:
                        for c in range(n_cls):
                            if (u // strides[c]) % (counts[c] + 1) >= 1:
                                prev.append(u - int(strides[c]))
                                cl.append(c)
                    ptr.append(len(prev))
            self.trans_ptr = np.asarray(ptr, dtype=np.int64)
            self.trans_prev = np.asarray(prev, dtype=np.int64)
            self.trans_cls = np.asarray(cl, dtype=np.int64)
        self.ideals = None
        self.n_ideals = -1
        self._sorted = None
        self._split = None
        self._caps = None
        self._work = {}  # upper bound -> work estimate (tractable() and run() ask for the same one)

    def sorted_ideals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ideals, sizes, keys) sorted by (key, size): ``keys`` sums each unit's fastest compute time, so a
        proper subset comes before its supersets, the empty ideal first and the full one last."""
        if self._sorted is None:
            unit_key = self.unit_comp.min(axis=1) if self.unit_comp.shape[1] else np.zeros(self.n_units)
            sizes, keys = _sizes_and_keys(self.ideals, np.ascontiguousarray(unit_key))
            order = np.lexsort((sizes, keys))
            self._sorted = (np.ascontiguousarray(self.ideals[order]), sizes[order], keys[order])
        return self._sorted

    def capacities(self) -> np.ndarray:
        """Per usage state, how much key (the units' fastest compute time) its devices can hold per unit of
        interval: a device of class c holds at most ``rho[c]`` times the interval, where ``rho[c]`` is the largest
        ratio of a unit's key to its compute time on class c (1 for the fastest class; a device 20x slower on every
        unit holds 1/20). The last state uses every device."""
        if self._caps is None:
            comp = self.unit_comp
            key = comp.min(axis=1) if comp.shape[1] else np.zeros(self.n_units)
            rho = np.ones(comp.shape[1])
            for c in range(comp.shape[1]):
                ok = np.isfinite(comp[:, c]) & (comp[:, c] > 0)
                if np.any(ok):
                    rho[c] = min(1.0, float(np.max(key[ok] / comp[ok, c])))
            caps = np.zeros(self.n_states)
            for u in range(1, self.n_states):
                q = self.trans_ptr[u]
                caps[u] = caps[self.trans_prev[q]] + rho[self.trans_cls[q]]
            self._caps = caps
        return self._caps

    def split(self, problem: SearchProblem) -> tuple[np.ndarray | None, float]:
        """The best valid pipeline split over the candidate topological orders and its interval (None, inf when
        none is valid): an upper bound for the DP."""
        if self._split is None:
            from mcmcore.search.dp import best_split

            best, best_v, _ = best_split(problem)
            self._split = (best, best_v)
        return self._split

    def enumerate(self, limit: int) -> int:
        ideals, count = _enumerate(self.pred_ptr, self.pred_idx, self.succ_ptr, self.succ_idx, self.n_units,
                                   self.n_words, int(limit))
        self.n_ideals = count
        self.ideals = ideals if count >= 0 else None
        return count


def _csr(n: int, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(src, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(ptr, src + 1, 1)
    return np.cumsum(ptr).astype(np.int64), dst[order].astype(np.int64)


def _applicable(problem: SearchProblem) -> bool:
    """The throughput objective, in either interconnect model (exactly in the port model, as a relaxation with
    the links model: see the module docstring)."""
    return problem.objective == "throughput"


def models_exactly(problem: SearchProblem) -> bool:
    """True when the DP's optimum is the instance's optimum (see the module docstring)."""
    cons, pkg = problem.constraints, problem.package
    if not _applicable(problem) or pkg.interconnect != "port":
        return False
    if cons.resolved_dataflow(pkg) == "ordered" and cons.max_skip is not None and cons.max_skip < pkg.n_devices - 1:
        return False
    return True


_CACHE: dict[int, tuple] = {}


def _prepare(problem: SearchProblem, max_ideals: int) -> _Prepared | None:
    key = id(problem)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is problem and hit[1] >= max_ideals:
        return hit[2]
    prep = _Prepared(problem)
    if prep.n_states > MAX_STATES:
        prep = None
    elif prep.enumerate(max_ideals) < 0:
        prep = None
    _CACHE.clear()
    _CACHE[key] = (problem, max_ideals, prep)
    return prep


def tractable(problem: SearchProblem, *, max_ideals: int = MAX_IDEALS, max_work: float = MAX_WORK) -> bool:
    """Whether the ideal DP applies (throughput objective) and its size stays under the limits: at most
    ``max_ideals`` ideals (the enumeration aborts past it), at most :data:`MAX_STATES` device-usage states, and
    about ``max_work`` pair tests once the best pipeline split bounds the stages (see :func:`solve`)."""
    if not _applicable(problem) or problem.graph.n_nodes == 0:
        return _applicable(problem)
    prep = _prepare(problem, max_ideals)
    if prep is None:
        return False
    return _work(prep, prep.split(problem)[1]) <= max_work


#: Work per second of the DP kernel, in the units of :func:`_work` (measured on one core: 1.8e9-1.9e9 on the
#: Inception-V3 rows of bench/bench_ideals.py and on a wide layered DAG, 4-7 ns per pair of ideals within the
#: bound; single runs on a shared machine are up to 1.5x slower; taken low, so the estimate errs long).
_WORK_PER_SECOND = 1e9
#: Fixed cost of a pair within the bound (loop, size and bound tests), in the units of :func:`_work`.
_PAIR_OVERHEAD = 5
#: Share of the pairs whose communication the DP scans (the others lose on their compute and a bound on their
#: communication, or lie outside the usage states that matter): 0.45-0.86% on the zoo's Inception-V3 rows; taken
#: high.
_SCANNED_SHARE = 0.02


def _work(prep: _Prepared, ub: float = math.inf) -> float:
    """The DP's pair tests, each weighted by what it costs, when the stages are bounded by ``ub``: per usable
    ideal, the ideals within ``ub`` of its key. A pair costs a bitset test, its compute per class and the
    transitions; with communication, the pairs that pass the compute bound (:data:`_SCANNED_SHARE` of them)
    also a scan of the boundary nodes of both ideals and of the order-free (``extra``) nodes."""
    if ub in prep._work:
        return prep._work[ub]
    ideals, _, keys = prep.sorted_ideals()
    keep = _usable(keys, ub * (1 + 1e-9), prep.capacities()) if math.isfinite(ub) else np.ones(len(keys), bool)
    keys = keys[keep]
    if math.isfinite(ub):
        lo = np.searchsorted(keys, keys - ub * (1 + 1e-9), side="left")
        pairs = float(np.sum(np.arange(len(keys)) - lo))
    else:
        pairs = len(keys) * (len(keys) - 1) / 2
    per_pair = _PAIR_OVERHEAD + prep.n_words + len(prep.trans_cls) / 4 + len(prep.cls_sram)
    if np.any(prep.t > 0):
        _, _, bptr, _ = _aggregate(np.ascontiguousarray(ideals[keep]), prep.unit_comp, prep.unit_wt,
                                   prep.node_unit, prep.succ_units, prep.is_extra)
        scanned = 2 * bptr[-1] / max(len(keys), 1) + len(prep.extra) + len(prep.single) / 32
        per_pair += _SCANNED_SHARE * scanned * (1 + prep.n_words / 2)
    prep._work[ub] = pairs * per_pair
    return prep._work[ub]


class IdealsResult:
    """The DP's outcome: ``placement`` (None when no contiguous placement is feasible), ``value`` (the DP's
    interval: a lower bound on every valid placement's interval, since the DP only leaves out costs and
    constraints), ``n_ideals``, ``n_units`` and ``exact`` (whether the DP models the instance exactly, so that its
    optimum is the instance's optimum; without it the placement is proven optimal only when its exact evaluation
    equals ``value``) and ``rerun`` (the upper bound given was below the optimum, so the DP ran again without
    it)."""

    def __init__(self, placement, value, n_ideals, n_units, exact, rerun=False):
        self.placement, self.value, self.n_ideals, self.n_units, self.exact = (placement, value, n_ideals,
                                                                               n_units, exact)
        self.rerun = rerun


def _usable(keys: np.ndarray, ub: float, caps: np.ndarray) -> np.ndarray:
    """Which ideals (sorted by key, the empty one first and the full one last) can lie on a chain whose every
    stage costs at most ``ub``: a stage costs at least its key difference on the fastest class, and at least
    that over ``rho`` on another (:meth:`_Prepared.capacities`, ``caps`` per usage state, the last one every
    device), so an ideal reached in state u needs ``key <= caps[u] * ub`` and ``total - key <= (caps[-1] -
    caps[u]) * ub`` for some u. With ``ub`` near the optimum only the ideals near the stage boundaries remain.
    All of them when ``ub`` is inf."""
    if not math.isfinite(ub) or ub <= 0 or len(keys) < 2:
        return np.ones(len(keys), dtype=bool)
    total = float(keys[-1])
    slack = 1e-9 * max(total, 1e-300)
    eps = 1e-9 * max(float(caps[-1]), 1.0)
    levels = np.unique(np.asarray(caps, dtype=np.float64))
    lo = (keys - slack) / ub  # the capacity that holds the ideal
    hi = caps[-1] - np.maximum(total - keys - slack, 0.0) / ub  # the most that leaves enough for the rest
    idx = np.searchsorted(levels, lo - eps, side="left")
    keep = idx < len(levels)
    keep[keep] = levels[idx[keep]] <= hi[keep] + eps
    keep[0] = keep[-1] = True
    return keep


def solve(problem: SearchProblem, *, max_ideals: int = MAX_IDEALS, upper_bound: float = math.inf,
          prune: bool = True) -> IdealsResult | None:
    """Run the DP; None when it is not tractable under ``max_ideals``.

    ``upper_bound``: an interval that some valid placement reaches (e.g. the best pipeline split's); pairs of
    ideals whose stage alone would exceed it are skipped, which leaves the optimum unchanged and, with K stages,
    skips most of the M^2/2 pairs. Should the DP find nothing under it (a bound below the optimum), it reruns
    without one.

    ``prune``: skip the usage states that cannot lie on a chain within the bound, and the pairs whose stage,
    bounded below by its compute and a bound on its communication, cannot beat the best found for their superset
    (the same result; False runs the plain DP, for testing)."""
    g = problem.graph
    if not _applicable(problem):
        return None
    if g.n_nodes == 0:  # nothing to place: feasible unless every device must be used
        if problem.constraints.all_used and problem.package.n_devices > 0:
            return IdealsResult(None, math.inf, 1, 0, models_exactly(problem))
        return IdealsResult(np.zeros(0, dtype=np.int32), 0.0, 1, 0, models_exactly(problem))
    prep = _prepare(problem, max_ideals)
    if prep is None:
        return None
    all_ideals, sizes, keys = prep.sorted_ideals()
    overlap = (bool(problem.overlap) if problem.overlap is not None else problem.package.default_overlap) \
        or problem.package.interconnect != "port"
    has_comm = bool(np.any(prep.t > 0))
    rerun = False
    for ub in ((upper_bound * (1 + 1e-9), math.inf) if math.isfinite(upper_bound) else (math.inf,)):
        rerun = math.isfinite(upper_bound) and not math.isfinite(ub)
        keep = _usable(keys, ub, prep.capacities())
        ideals = np.ascontiguousarray(all_ideals[keep])
        m = len(ideals)
        comp, wt, bptr, bidx = _aggregate(ideals, prep.unit_comp, prep.unit_wt, prep.node_unit, prep.succ_units,
                                          prep.is_extra)
        xu, xw = _single_bits(ideals, prep.node_unit[prep.single], prep.single_to)
        best, par_i, par_t = _dp(ideals, sizes[keep], keys[keep], ub, comp, wt, bptr, bidx, prep.extra, xu, xw,
                                 prep.t[prep.single], _DEBRUIJN_INDEX, prep.node_unit, prep.succ_units, prep.t,
                                 has_comm, prep.cls_sram, prep.cls_cf,
                                 prep.allowed, overlap, bool(problem.constraints.all_used), prep.trans_ptr,
                                 prep.trans_prev, prep.trans_cls, prep.n_states, prep.capacities(), prune)
        if math.isfinite(best[prep.n_states - 1, m - 1]):
            break
    final = prep.n_states - 1
    value = float(best[final, m - 1])
    exact = models_exactly(problem)
    if not math.isfinite(value):
        return IdealsResult(None, math.inf, len(all_ideals), prep.n_units, exact, rerun)
    unit_dev = np.full(prep.n_units, -1, dtype=np.int64)
    free = [list(devs) for devs in prep.cls_devices]
    u, j = final, m - 1
    while u > 0:
        i, q = int(par_i[u, j]), int(par_t[u, j])
        c = int(prep.trans_cls[q])
        dev = free[c].pop(0)
        stage = ideals[j] & ~ideals[i]
        for a in range(prep.n_units):
            if (int(stage[a >> 6]) >> (a & 63)) & 1:
                unit_dev[a] = dev
        u, j = int(prep.trans_prev[q]), i
    placement = unit_dev[prep.node_unit].astype(np.int32)
    return IdealsResult(placement, value, len(all_ideals), prep.n_units, exact, rerun)


def run(problem: SearchProblem, tracker: Tracker, *, seed: int = 0, n_threads=None,
        max_ideals: int = MAX_IDEALS, **options) -> None:
    """Offer the DP's placement, raise the tracker's lower bound to the DP's value, and prove the placement
    optimal when its exact evaluation reaches that value (always so when the DP models the instance exactly), or
    the instance infeasible when the DP finds no placement. The best valid placement known (the tracker's, else
    the best pipeline split's, offered first) bounds the DP from above."""
    if options:
        raise ValueError(f"unknown dp option(s): {', '.join(sorted(options))} (dp takes max_ideals)")
    ub = math.inf
    if problem.graph.n_nodes:
        prep = _prepare(problem, max_ideals)
        if prep is None:
            return
        placement, value = prep.split(problem)
        if placement is not None:
            tracker.offer(placement, value, valid=True)
        if tracker.proven_optimal:  # the split reaches the compute bound: nothing for the DP to find
            return
        ub = min(float(tracker.best_value), value)
        if _work(prep, ub) / _WORK_PER_SECOND > tracker.remaining_seconds():
            tracker.info["ideals"] = {"n_ideals": prep.n_ideals, "skipped": "estimated time over the budget"}
            return
    res = solve(problem, max_ideals=max_ideals, upper_bound=ub)
    if res is None:
        return
    tracker.info["ideals"] = {"n_ideals": res.n_ideals, "n_units": res.n_units, "exact": res.exact,
                              "value": res.value}
    if res.placement is None:  # nothing satisfies even the constraints the DP models: the instance is infeasible
        tracker.proven_infeasible = True
        tracker.info["infeasible_reason"] = ("the exact DP over the ideals of the DAG found no placement that "
                                             "satisfies the constraints")
        return
    rep = problem.evaluate(res.placement)
    value = problem.value_of(rep)
    tracker.offer(res.placement, value, valid=rep.valid)
    # The DP's value bounds every valid placement from below (it is exact, or a relaxation); the placement is
    # optimal when its exact evaluation is valid and reaches that bound (up to rounding).
    tracker.lower_bound = max(tracker.lower_bound, res.value * (1 - 1e-12))
    if rep.valid and value <= res.value * (1 + 1e-9) and tracker.best_value <= value:
        tracker.proven_optimal = True

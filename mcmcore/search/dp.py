"""Optimal split of a topological order into contiguous pipeline stages (the ``dp`` method's fast part).

For one fixed topological order, the K devices in pipeline order each take one contiguous segment (possibly
empty). With the port model the stage cost is exact: compute on that device plus, for communication, each node of
the segment with a consumer in a later segment (sent once) and each earlier node feeding the segment (received
once), times the device's comm_factor; ``overlap`` takes the max instead of the sum. Training graphs also send
gradients against the order (a backward node's output goes to the units of earlier forward nodes): the port
model counts those too, sent by a unit whose backward output has a consumer outside the segment and received
once by a segment from each unit outside it that feeds it backward. With the links model the
stage cost uses the bytes leaving the stage over the link to the next stage (exact when all traffic goes to the
next stage, an estimate otherwise); every split is re-evaluated exactly by the core afterwards.

Segments whose weights exceed the device's SRAM are not allowed. The dynamic program is O(K N^2 + N E) for
N <= ``MAX_EXACT_NODES``; longer orders use a bisection on the bottleneck with greedy packing (compute only).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from mcmcore._checks import is_int
from mcmcore.errors import InfeasibleError
from mcmcore.search.base import SearchProblem, Tracker
from mcmcore.search.bounds import compute_time_matrix

__all__ = ["pipeline_split", "best_split", "topological_orders", "priority_topological_order", "split_by_priority",
           "run", "UnitView", "offer_repaired", "MAX_EXACT_NODES"]

MAX_EXACT_NODES = 6000


@njit(cache=True, inline="always")
def _extend_segment(i, j, S, R, Sb, Rb, stamp, stampb, mark, pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx,
                    bp_ptr, bp_idx, tb, firstb, lastb, bb_ptr, bb_idx):
    """Grow the segment [i, j - 1) by node x = j - 1: returns its send and receive charges (S, R) and those of
    backward outputs (Sb, Rb) updated (``stamp[u] == mark``: u's output already counted as received by this
    segment; ``stampb`` the same for backward outputs; ``bp_ptr`` to ``bb_idx``: :func:`_prepare_order`'s backward
    arrays). One place for this step, so that the DP, the cost of a given segment and the greedy bound add the same
    terms in the same order."""
    x = j - 1
    # backward outputs (gradients): received once from each unit outside the segment that feeds x; x's own, if
    # received until now, is internal from here on (its stamp can stay: no later step of this segment reads it)
    for e in range(bp_ptr[x], bp_ptr[x + 1]):
        y = bp_idx[e]
        if (y < i or y > x) and stampb[y] != mark:
            stampb[y] = mark
            Rb += tb[y]
    # (both steps without a branch: a conditional here keeps numba from pruning the reference counting of the
    # arrays of this inlined step, and the DP then runs ~20x slower)
    Rb -= tb[x] * (stampb[x] == mark)
    # x sends its backward output when a consumer lies outside the segment (before it, or beyond x so far)
    Sb += tb[x] * ((firstb[x] < i) | (lastb[x] >= j))
    for b in range(bb_ptr[j - 1], bb_ptr[j]):
        y = bb_idx[b]
        if y >= i and y < j - 1 and firstb[y] >= i:
            Sb -= tb[y]
    # receive: earlier nodes feeding x, once each
    for e in range(pred_ptr[x], pred_ptr[x + 1]):
        u = pred_idx[e]
        if u < i and stamp[u] != mark:
            stamp[u] = mark
            R += t[u]
    # send: x sends when its last consumer is beyond the segment
    if last[x] >= j:
        S += t[x]
    # nodes of the segment whose last consumer is x (index j - 1) no longer send
    for b in range(bucket_ptr[j - 1], bucket_ptr[j]):
        y = bucket_idx[b]
        if y >= i and y < j - 1:
            S -= t[y]
    return S, R, Sb, Rb


@njit(cache=True, inline="always")
def _stage_cost(c, S, comm_units, cf, bw, has_next, overlap, links):
    """The cost of a stage with compute c, sends S and all charges comm_units (port model: times the comm factor
    cf, added to compute or, with overlap, max-ed with it; links: S over the link bandwidth bw to the next stage).
    Scalars only: one place for the formula the DP, the segment cost and the greedy bound share."""
    if links:
        comm = S / bw if has_next else 0.0
        return c if c > comm else comm
    if overlap:
        comm = cf * comm_units
        return c if c > comm else comm
    return c + cf * comm_units


@njit(cache=True)
def _split_dp(pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, bwd, ct_prefix, w_prefix, cls_at, cf_at, sram_at,
              link_bw_at, overlap, links, all_used, cmin_prefix, bound, lead_empty):
    """best[p, j]: minimal bottleneck placing the first j nodes of the order on positions 0..p.

    Empty positions are carried over (not with ``all_used``); with ``lead_empty`` the pipeline may also start
    after position 0 (a first device too small for the first node). That is the caller's fallback only, so that
    among equal splits the one starting at position 0 stays the one returned.

    ``bound`` (inf: no pruning) prunes with an upper bound on the optimum: segments whose compute alone
    (``cmin_prefix``: prefix sums of each node's cheapest compute time) exceeds it, states best[p - 1, i] above
    it, and states (p, j) whose remaining compute cannot fit in the K - 1 - p positions left. Pruning only drops
    candidates whose value exceeds the bound, so every state with a completion within the bound keeps its value
    and parent exactly: when the optimum is within the bound the result is identical to the unpruned run (the
    caller checks ``best[K - 1, n] <= bound`` and re-runs without a bound otherwise).
    """
    bp_ptr, bp_idx, tb, firstb, lastb, bb_ptr, bb_idx = bwd  # once, outside the loops
    n = t.shape[0]
    K = cls_at.shape[0]
    INF = np.inf
    best = np.full((K, n + 1), INF)
    parent = np.full((K, n + 1), -1, dtype=np.int64)
    stamp = np.full(n, -1, dtype=np.int64)
    stampb = np.full(n, -1, dtype=np.int64)
    prune = bound < INF
    if lead_empty and not all_used:
        best[0, 0] = 0.0
    # p_hi[j]: the last position p for which the nodes after j still fit in positions p+1..K-1 within the bound:
    # K - 1 minus the fewest segments of compute (cheapest class) at most the bound covering them, which greedy
    # packing from j finds (the segment test is monotone); right to left with a second pointer
    p_hi = np.full(n + 1, K - 1, dtype=np.int64)
    if prune:
        need = np.zeros(n + 1, dtype=np.int64)
        far = n
        for j in range(n - 1, -1, -1):
            while cmin_prefix[far] - cmin_prefix[j] > bound:
                far -= 1
            need[j] = K if far == j else min(K, 1 + need[far])
            p_hi[j] = K - 1 - need[j]
    # per compute class and first position p: the smallest comm factor among positions >= p of that class (inf:
    # none), for a lower bound on a segment's cost at any position a predecessor state within the bound allows
    n_cls = ct_prefix.shape[0]
    cf_suffix = np.full((n_cls, K + 1), INF)
    for p in range(K - 1, -1, -1):
        for c in range(n_cls):
            cf_suffix[c, p] = cf_suffix[c, p + 1]
        c = cls_at[p]
        if cf_at[p] < cf_suffix[c, p]:
            cf_suffix[c, p] = cf_at[p]
    for i in range(n + 1):
        # Empty segment at position p: carry best[p-1][i] over (not with all_used).
        if not all_used:
            for p in range(1, K):
                if best[p - 1, i] < best[p, i]:
                    best[p, i] = best[p - 1, i]
                    parent[p, i] = i
        if i == n:
            break
        # first position whose predecessor state is within the bound (best[., i] is non-increasing in p after
        # the carry; with all_used it is not, and the per-position test below still applies)
        p_lo = 0
        if prune and i > 0:
            p_lo = K
            for p in range(1, K):
                if best[p - 1, i] <= bound:
                    p_lo = p
                    break
            if p_lo == K:
                continue
        # Extend the segment [i, j) node by node, keeping its send and receive charges up to date.
        S = 0.0
        R = 0.0
        Sb = 0.0
        Rb = 0.0
        for j in range(i + 1, n + 1):
            S, R, Sb, Rb = _extend_segment(i, j, S, R, Sb, Rb, stamp, stampb, i, pred_ptr, pred_idx, t, last,
                                           bucket_ptr, bucket_idx, bp_ptr, bp_idx, tb, firstb, lastb, bb_ptr, bb_idx)
            comm_units = S + R + Sb + Rb
            if prune:
                # a lower bound on the segment's cost at any position >= p_lo, non-decreasing in j (compute and
                # the receive charges of forward outputs only grow; the other charges are >= 0): once above the
                # bound for every class, no longer segment helps
                dead = True
                for c in range(n_cls):
                    cf_lo = cf_suffix[c, p_lo]
                    if cf_lo == INF:
                        continue
                    low = ct_prefix[c, j] - ct_prefix[c, i]
                    if not links and cf_lo > 0.0:
                        r = cf_lo * R
                        if overlap:
                            low = low if low > r else r
                        else:
                            low = low + r
                    if low <= bound:
                        dead = False
                        break
                if dead:
                    break
            for p in range(p_lo, p_hi[j] + 1):
                if p == 0:
                    if i != 0:
                        continue
                    prev = 0.0
                else:
                    prev = best[p - 1, i]
                    if prev == INF or prev > bound:
                        continue
                if w_prefix[j] - w_prefix[i] > sram_at[p]:
                    continue
                c = ct_prefix[cls_at[p], j] - ct_prefix[cls_at[p], i]
                cost = _stage_cost(c, S, comm_units, cf_at[p], link_bw_at[p], p + 1 < K, overlap, links)
                v = prev if prev > cost else cost
                if v < best[p, j]:
                    best[p, j] = v
                    parent[p, j] = i
    return best, parent


@njit(cache=True)
def _segment_cost(i, j_end, p, stamp, stampb, pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, bwd, ct_prefix,
                  w_prefix, cls_at, cf_at, sram_at, link_bw_at, overlap, links):
    """The cost of segment [i, j_end) at position p, computed with exactly the operations of :func:`_split_dp`
    (inf when it breaks capacity)."""
    bp_ptr, bp_idx, tb, firstb, lastb, bb_ptr, bb_idx = bwd  # once, outside the loops
    K = cls_at.shape[0]
    if w_prefix[j_end] - w_prefix[i] > sram_at[p]:
        return np.inf
    S = 0.0
    R = 0.0
    Sb = 0.0
    Rb = 0.0
    for j in range(i + 1, j_end + 1):
        S, R, Sb, Rb = _extend_segment(i, j, S, R, Sb, Rb, stamp, stampb, i, pred_ptr, pred_idx, t, last, bucket_ptr,
                                       bucket_idx, bp_ptr, bp_idx, tb, firstb, lastb, bb_ptr, bb_idx)
    comm_units = S + R + Sb + Rb
    c = ct_prefix[cls_at[p], j_end] - ct_prefix[cls_at[p], i]
    return _stage_cost(c, S, comm_units, cf_at[p], link_bw_at[p], p + 1 < K, overlap, links)


@njit(cache=True, inline="always")
def _greedy_cut(i, p, limit, ct_prefix, cls_at, w_prefix, sram_at):
    """The end of the longest segment from i at position p whose compute stays within limit and whose weights fit
    (at least i: an empty segment)."""
    n = w_prefix.shape[0] - 1
    row = ct_prefix[cls_at[p]]
    j = np.searchsorted(row, row[i] + limit, side="right") - 1
    jm = np.searchsorted(w_prefix, w_prefix[i] + sram_at[p], side="right") - 1
    if jm < j:
        j = jm
    if j > n:
        j = n
    if j < i:
        j = i
    return j


@njit(cache=True)
def _greedy_bound(pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, bwd, ct_prefix, w_prefix, cls_at, cf_at,
                  sram_at, link_bw_at, overlap, links, all_used):
    """An upper bound on :func:`_split_dp`'s optimum: the exact cost (same model) of a feasible split, the greedy
    packing at the smallest compute-only bottleneck (bisection); inf when it finds none."""
    n = t.shape[0]
    K = cls_at.shape[0]
    cuts = np.zeros(K + 1, dtype=np.int64)
    hi = 0.0
    for c in range(ct_prefix.shape[0]):
        if ct_prefix[c, n] > hi:
            hi = ct_prefix[c, n]
    lo = 0.0
    ok_hi = False
    for it in range(48):
        limit = hi if it == 0 else 0.5 * (lo + hi)
        i = 0
        for p in range(K):
            i = _greedy_cut(i, p, limit, ct_prefix, cls_at, w_prefix, sram_at)
        if i >= n:
            hi = limit
            ok_hi = True
        elif it == 0:
            return np.inf
        else:
            lo = limit
    if not ok_hi:
        return np.inf
    i = 0
    for p in range(K):
        j = _greedy_cut(i, p, hi, ct_prefix, cls_at, w_prefix, sram_at)
        cuts[p + 1] = j
        i = j
    if i < n:
        return np.inf
    stamp = np.full(n, -1, dtype=np.int64)
    stampb = np.full(n, -1, dtype=np.int64)
    value = 0.0
    for p in range(K):
        i, j = cuts[p], cuts[p + 1]
        if j == i:
            if all_used:
                return np.inf
            continue
        cost = _segment_cost(i, j, p, stamp, stampb, pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, bwd,
                             ct_prefix, w_prefix, cls_at, cf_at, sram_at, link_bw_at, overlap, links)
        if cost > value:
            value = cost
    if not links and value > hi:
        # the port model adds communication to compute: a second bisection packs with the full segment cost
        full = _greedy_full_bound(pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, bwd, ct_prefix, w_prefix,
                                  cls_at, cf_at, sram_at, link_bw_at, overlap, links, all_used, hi, value)
        if full < value:
            value = full
    return value


@njit(cache=True)
def _greedy_full_bound(pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, bwd, ct_prefix, w_prefix, cls_at, cf_at,
                       sram_at, link_bw_at, overlap, links, all_used, lo, hi):
    """The smallest cost (exact, as :func:`_segment_cost`) of a split found by greedy packing with the full
    segment cost (compute and communication) at most a limit, bisected in [lo, hi]; inf when none is found."""
    bp_ptr, bp_idx, tb, firstb, lastb, bb_ptr, bb_idx = bwd  # once, outside the loops
    n = t.shape[0]
    K = cls_at.shape[0]
    cuts = np.zeros(K + 1, dtype=np.int64)
    stamp = np.full(n, -1, dtype=np.int64)
    stampb = np.full(n, -1, dtype=np.int64)
    mark = 0
    found = np.inf
    for it in range(24):
        if hi - lo <= 2e-3 * hi:  # a bound within 0.2% prunes as well as the exact one
            break
        limit = 0.5 * (lo + hi)
        i = 0
        for p in range(K):
            mark += 1
            S = 0.0
            R = 0.0
            Sb = 0.0
            Rb = 0.0
            j = i
            jj = i
            # the farthest end within the limit (communication can fall as the segment absorbs consumers), up to
            # where compute alone or capacity exceeds it
            while jj < n:
                jj += 1
                if w_prefix[jj] - w_prefix[i] > sram_at[p]:
                    break
                S, R, Sb, Rb = _extend_segment(i, jj, S, R, Sb, Rb, stamp, stampb, mark, pred_ptr, pred_idx, t,
                                               last, bucket_ptr, bucket_idx, bp_ptr, bp_idx, tb, firstb, lastb,
                                               bb_ptr, bb_idx)
                c = ct_prefix[cls_at[p], jj] - ct_prefix[cls_at[p], i]
                cost = _stage_cost(c, S, S + R + Sb + Rb, cf_at[p], link_bw_at[p], p + 1 < K, overlap, links)
                if c > limit:
                    break
                if cost <= limit:
                    j = jj
            cuts[p + 1] = j
            i = j
        if i < n:
            lo = limit
            continue
        hi = limit
        value = 0.0
        fresh = np.full(n, -1, dtype=np.int64)  # _segment_cost marks by segment start
        freshb = np.full(n, -1, dtype=np.int64)
        for p in range(K):
            a, b = cuts[p], cuts[p + 1]
            if a == b:
                if all_used:
                    value = np.inf
                    break
                continue
            cost = _segment_cost(a, b, p, fresh, freshb, pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, bwd,
                                 ct_prefix, w_prefix, cls_at, cf_at, sram_at, link_bw_at, overlap, links)
            if cost > value:
                value = cost
        if value < found:
            found = value
    return found


@njit(cache=True)
def _buckets(last):
    """CSR of the nodes by ``last[y]`` (nodes with -1 left out), each bucket in increasing node order."""
    n = last.shape[0]
    ptr = np.zeros(n + 1, dtype=np.int64)
    for y in range(n):
        if last[y] >= 0:
            ptr[last[y] + 1] += 1
    for j in range(n):
        ptr[j + 1] += ptr[j]
    fill = ptr[:n].copy()
    idx = np.empty(ptr[n], dtype=np.int64)
    for y in range(n):
        if last[y] >= 0:
            idx[fill[last[y]]] = y
            fill[last[y]] += 1
    return ptr, idx


@njit(cache=True)
def _prepare_order(order, u_pred_ptr, u_pred_idx, u_succ_ptr, u_succ_idx, cols, weight, t_units, b_ptr, b_idx,
                   tb_units):
    """The DP's inputs for one order of the units, in order-index space (the same arrays, summed in the same
    order, as the vectorised numpy set-up: cumulative sums are sequential, buckets list nodes by index).

    ``b_ptr``, ``b_idx``: per unit, the units whose backward output (send time ``tb_units``) it consumes. The last
    element returned, ``bwd``, holds them in order-index space with each producer's first and last consumer and
    the producers bucketed by their last consumer."""
    n = order.shape[0]
    n_cls = cols.shape[0]
    index = np.empty(n, dtype=np.int64)
    for x in range(n):
        index[order[x]] = x
    ct_prefix = np.zeros((n_cls, n + 1))
    for c in range(n_cls):
        acc = 0.0
        for x in range(n):
            acc += cols[c, order[x]]
            ct_prefix[c, x + 1] = acc
    w_prefix = np.zeros(n + 1)
    cmin_prefix = np.zeros(n + 1)
    t = np.empty(n)
    acc = 0.0
    accm = 0.0
    for x in range(n):
        u = order[x]
        acc += weight[u]
        w_prefix[x + 1] = acc
        m = cols[0, u]
        for c in range(1, n_cls):
            if cols[c, u] < m:
                m = cols[c, u]
        accm += m
        cmin_prefix[x + 1] = accm
        t[x] = t_units[u]
    pred_ptr = np.zeros(n + 1, dtype=np.int64)
    for x in range(n):
        u = order[x]
        pred_ptr[x + 1] = pred_ptr[x] + (u_pred_ptr[u + 1] - u_pred_ptr[u])
    pred_idx = np.empty(pred_ptr[n], dtype=np.int64)
    for x in range(n):
        u = order[x]
        k = pred_ptr[x]
        for e in range(u_pred_ptr[u], u_pred_ptr[u + 1]):
            pred_idx[k] = index[u_pred_idx[e]]
            k += 1
    last = np.full(n, -1, dtype=np.int64)
    for u in range(n):
        a = index[u]
        for e in range(u_succ_ptr[u], u_succ_ptr[u + 1]):
            b = index[u_succ_idx[e]]
            if b > last[a]:
                last[a] = b
    bucket_ptr, bucket_idx = _buckets(last)
    # backward outputs
    bp_ptr = np.zeros(n + 1, dtype=np.int64)
    for x in range(n):
        u = order[x]
        bp_ptr[x + 1] = bp_ptr[x] + (b_ptr[u + 1] - b_ptr[u])
    bp_idx = np.empty(bp_ptr[n], dtype=np.int64)
    tb = np.empty(n)
    firstb = np.full(n, n, dtype=np.int64)
    lastb = np.full(n, -1, dtype=np.int64)
    for x in range(n):
        u = order[x]
        tb[x] = tb_units[u]
        k = bp_ptr[x]
        for e in range(b_ptr[u], b_ptr[u + 1]):
            y = index[b_idx[e]]
            bp_idx[k] = y
            k += 1
            if x < firstb[y]:
                firstb[y] = x
            if x > lastb[y]:
                lastb[y] = x
    bb_ptr, bb_idx = _buckets(lastb)
    bwd = (bp_ptr, bp_idx, tb, firstb, lastb, bb_ptr, bb_idx)
    return pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, ct_prefix, w_prefix, cmin_prefix, bwd


@njit(cache=True)
def _split_order(order, u_pred_ptr, u_pred_idx, u_succ_ptr, u_succ_idx, cols, weight, t_units, cls_at, cf_at,
                 sram_at, link_bw_at, overlap, links, all_used, dev_at, b_ptr, b_idx, tb_units):
    """:func:`pipeline_split`'s exact path for one order in one call: set-up, greedy bound, pruned DP (re-run
    unpruned when the optimum is above the bound) and traceback. Returns (device of each unit by unit id, value);
    the devices are empty when no split satisfies capacity."""
    n = order.shape[0]
    K = cls_at.shape[0]
    pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, ct_prefix, w_prefix, cmin_prefix, bwd = _prepare_order(
        order, u_pred_ptr, u_pred_idx, u_succ_ptr, u_succ_idx, cols, weight, t_units, b_ptr, b_idx, tb_units)
    bound = _greedy_bound(pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, bwd, ct_prefix, w_prefix, cls_at,
                          cf_at, sram_at, link_bw_at, overlap, links, all_used) * (1.0 + 1e-9)
    best, parent = _split_dp(pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, bwd, ct_prefix, w_prefix, cls_at,
                             cf_at, sram_at, link_bw_at, overlap, links, all_used, cmin_prefix, bound, False)
    if not best[K - 1, n] <= bound:
        best, parent = _split_dp(pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, bwd, ct_prefix, w_prefix,
                                 cls_at, cf_at, sram_at, link_bw_at, overlap, links, all_used, cmin_prefix, np.inf,
                                 False)
    if not best[K - 1, n] < np.inf and not all_used:  # the first device cannot hold the first node(s)
        best, parent = _split_dp(pred_ptr, pred_idx, t, last, bucket_ptr, bucket_idx, bwd, ct_prefix, w_prefix,
                                 cls_at, cf_at, sram_at, link_bw_at, overlap, links, all_used, cmin_prefix, np.inf,
                                 True)
    value = best[K - 1, n]
    if not value < np.inf:
        return np.empty(0, dtype=np.int32), value
    by_unit = np.empty(n, dtype=np.int32)
    j = n
    for p in range(K - 1, -1, -1):
        i = parent[p, j] if p > 0 else 0
        for x in range(i, j):
            by_unit[order[x]] = dev_at[p]
        j = i
    return by_unit, value


@njit(cache=True)
def _heap_push(hk, hv, size, k, v):
    """Push (k, v) on the binary min-heap of (key, id) pairs hk[:size], hv[:size]; returns the new size."""
    x = size
    while x > 0:
        parent = (x - 1) >> 1
        if hk[parent] < k or (hk[parent] == k and hv[parent] < v):
            break
        hk[x] = hk[parent]
        hv[x] = hv[parent]
        x = parent
    hk[x] = k
    hv[x] = v
    return size + 1


@njit(cache=True)
def _heap_pop(hk, hv, size):
    """Pop the smallest (key, id) pair's id; the heap then holds size - 1 pairs."""
    top = hv[0]
    size -= 1
    k = hk[size]
    v = hv[size]
    x = 0
    while True:
        c = 2 * x + 1
        if c >= size:
            break
        if c + 1 < size and (hk[c + 1] < hk[c] or (hk[c + 1] == hk[c] and hv[c + 1] < hv[c])):
            c += 1
        if k < hk[c] or (k == hk[c] and v < hv[c]):
            break
        hk[x] = hk[c]
        hv[x] = hv[c]
        x = c
    hk[x] = k
    hv[x] = v
    return top


@njit(cache=True)
def priority_topological_order(pred_count, succ_ptr, succ_idx, key):
    """Kahn's algorithm taking, among the ready nodes, the one of smallest ``key`` (ties: the smaller id), with a
    heap (O(n log n)). Shorter than n when the graph has a cycle."""
    n = key.shape[0]
    indeg = pred_count.copy()
    hk = np.empty(n)
    hv = np.empty(n, dtype=np.int64)
    size = 0
    for v in range(n):
        if indeg[v] == 0:
            size = _heap_push(hk, hv, size, key[v], v)
    out = np.empty(n, dtype=np.int64)
    i = 0
    while size > 0:
        best = _heap_pop(hk, hv, size)
        size -= 1
        out[i] = best
        i += 1
        for e in range(succ_ptr[best], succ_ptr[best + 1]):
            w = succ_idx[e]
            indeg[w] -= 1
            if indeg[w] == 0:
                size = _heap_push(hk, hv, size, key[w], w)
    return out[:i]


@njit(cache=True)
def split_by_priority(new_pos, unit_of, count, rank, pred_count, u_succ_ptr, u_succ_idx, u_pred_ptr, u_pred_idx,
                      cols, weight, t_units, cls_at, cf_at, sram_at, link_bw_at, overlap, links, all_used, dev_at,
                      b_ptr, b_idx, tb_units):
    """RL's re-cut of a batch of proposals: per row of ``new_pos`` (a pipeline position for every node), order the
    units by (mean position of their nodes, ``rank``) with :func:`priority_topological_order` and split that
    order optimally (:func:`_split_order`; the arguments after ``u_succ_idx`` are :func:`_split_arguments`'s).
    Returns (device of each unit, ok) per row; a row is not ok when no split satisfies capacity."""
    m = new_pos.shape[0]
    n_fine = new_pos.shape[1]
    nu = count.shape[0]
    out = np.zeros((m, nu), dtype=np.int32)
    ok = np.zeros(m, dtype=np.bool_)
    upos = np.empty(nu)
    key = np.empty(nu)
    for r in range(m):
        upos[:] = 0.0
        for v in range(n_fine):
            upos[unit_of[v]] += new_pos[r, v]
        for u in range(nu):
            key[u] = upos[u] / count[u] * (nu + 1) + rank[u]
        order = priority_topological_order(pred_count, u_succ_ptr, u_succ_idx, key)
        if order.shape[0] != nu:
            continue
        by_unit, value = _split_order(order, u_pred_ptr, u_pred_idx, u_succ_ptr, u_succ_idx, cols, weight, t_units,
                                      cls_at, cf_at, sram_at, link_bw_at, overlap, links, all_used, dev_at, b_ptr,
                                      b_idx, tb_units)
        if by_unit.shape[0]:
            out[r] = by_unit
            ok[r] = True
    return out, ok


def topological_orders(graph) -> list[np.ndarray]:
    """Candidate orders: the graph's own (smallest ready id first) and a depth-first one (reverse postorder),
    which keeps chains and branches together."""
    orders = [np.asarray(graph.topo_order, dtype=np.int64)]
    n = graph.n_nodes
    if n == 0:
        return orders
    indeg = np.diff(graph.pred_ptr)
    visited = np.zeros(n, dtype=bool)
    post: list[int] = []
    succ_ptr, succ_idx = graph.succ_ptr, graph.succ_idx
    for root in np.flatnonzero(indeg == 0)[::-1]:
        if visited[root]:
            continue
        stack = [(int(root), int(succ_ptr[root]))]
        visited[root] = True
        while stack:
            u, e = stack[-1]
            if e < succ_ptr[u + 1]:
                stack[-1] = (u, e + 1)
                w = int(succ_idx[succ_ptr[u + 1] - 1 - (e - succ_ptr[u])])
                if not visited[w]:
                    visited[w] = True
                    stack.append((w, int(succ_ptr[w])))
            else:
                post.append(u)
                stack.pop()
    dfs = np.asarray(post[::-1], dtype=np.int64)
    if not np.array_equal(dfs, orders[0]):
        orders.append(dfs)
    return orders


class UnitView:
    """The graph as the pipeline split sees it: color classes contracted into units (they must share a device),
    joined by forward edges only (backward nodes are exempt from the dataflow constraint and follow their forward
    nodes through colors). ``graph`` is the unit DAG; ``unit_of[node]`` maps back.

    Communication: ``t[unit]`` is the send time of its forward nodes that have a consumer in another unit, ``tb``
    that of its backward nodes (gradients, which flow against the order); ``b_ptr``/``b_idx`` list, per unit, the
    units whose backward output it consumes (empty for inference graphs)."""

    def __init__(self, problem: SearchProblem):
        g, pkg = problem.graph, problem.package
        n = g.n_nodes
        unit_of = np.arange(n, dtype=np.int64)
        use_colors = problem.constraints.colors and g.n_colors > 0
        if use_colors:
            colored = g._color_compact >= 0
            unit_of = np.where(colored, g._color_compact, g.n_colors + np.arange(n))
            _, unit_of = np.unique(unit_of, return_inverse=True)
        n_units = int(unit_of.max()) + 1 if n else 0
        edges = g.edges.astype(np.int64)
        if g.backward is not None:
            fwd = ~g.backward
            edges = edges[fwd[edges[:, 0]] & fwd[edges[:, 1]]]
        ue = unit_of[edges]
        ue = ue[ue[:, 0] != ue[:, 1]]
        from mcmcore.errors import GraphCycleError
        from mcmcore.graph import Graph

        try:
            self.graph = Graph.from_edges(n_units, ue)
        except GraphCycleError:
            # colors that join incomparable nodes can close a cycle: fall back to plain nodes
            unit_of = np.arange(n, dtype=np.int64)
            n_units = n
            self.graph = Graph.from_edges(n, edges)
        self.unit_of = unit_of
        self.n_units = n_units
        ct = compute_time_matrix(g, pkg)
        self.ct = np.zeros((n_units, pkg.n_devices))
        np.add.at(self.ct, unit_of, ct)
        self.weight = np.bincount(unit_of, weights=g.weight_bytes, minlength=n_units)
        if pkg.interconnect == "port":
            t = g.comm_time if g.comm_time is not None else g.out_bytes / pkg.bandwidth
        else:
            t = g.out_bytes.astype(np.float64)
        # a unit sends the outputs of its members that have a consumer outside the unit: forward members in t,
        # backward members (gradients) in tb
        src = np.repeat(np.arange(n), np.diff(g.succ_ptr))
        outside = unit_of[src] != unit_of[g.succ_idx]
        sends = np.zeros(n, dtype=bool)
        sends[src[outside]] = True
        bwd = np.asarray(g.backward, dtype=bool) if g.backward is not None else np.zeros(n, dtype=bool)
        self.t = np.bincount(unit_of, weights=np.where(sends & ~bwd, t, 0.0), minlength=n_units)
        self.tb = np.bincount(unit_of, weights=np.where(sends & bwd, t, 0.0), minlength=n_units)
        # per consumer unit, the units whose backward output it takes (deduplicated, by producer)
        sel = outside & bwd[src]
        pairs = np.unique(np.stack([unit_of[g.succ_idx[sel]], unit_of[src[sel]]], axis=1), axis=0) if sel.any() \
            else np.zeros((0, 2), dtype=np.int64)
        self.b_ptr = np.zeros(n_units + 1, dtype=np.int64)
        np.add.at(self.b_ptr, pairs[:, 0] + 1, 1)
        self.b_ptr = np.cumsum(self.b_ptr)
        self.b_idx = np.ascontiguousarray(pairs[:, 1], dtype=np.int64)
        #: (distinct compute-time columns of the devices in pipeline order, class of each position), set lazily
        self.device_classes = None


def _unit_order_from_node_order(units: UnitView, node_order: np.ndarray) -> np.ndarray:
    """A topological order of the units that follows a node order as closely as possible (Kahn's algorithm,
    ready units taken by the rank of their first node in ``node_order``)."""
    import heapq

    ug = units.graph
    rank = np.full(units.n_units, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(rank, units.unit_of[node_order], np.arange(len(node_order)))
    indeg = np.diff(ug.pred_ptr).copy()
    heap = [(int(rank[u]), int(u)) for u in np.flatnonzero(indeg == 0)]
    heapq.heapify(heap)
    out = []
    while heap:
        _, u = heapq.heappop(heap)
        out.append(u)
        for w in ug.successors(u):
            indeg[w] -= 1
            if indeg[w] == 0:
                heapq.heappush(heap, (int(rank[w]), int(w)))
    return np.asarray(out, dtype=np.int64)


def pipeline_split(problem: SearchProblem, order: np.ndarray | None = None,
                   units: UnitView | None = None) -> tuple[np.ndarray | None, float]:
    """The optimal contiguous split of a topological order of the units along the pipeline.

    ``order`` is an order of ``units.graph`` (default: its own topological order). Returns ``(placement,
    estimated_value)``; placement is None when no split satisfies capacity.
    """
    g, pkg = problem.graph, problem.package
    units = UnitView(problem) if units is None else units
    ug = units.graph
    n, K = ug.n_nodes, pkg.n_devices
    if order is not None and len(order) != n:
        order = _unit_order_from_node_order(units, np.asarray(order, dtype=np.int64))
    order = np.asarray(ug.topo_order if order is None else order, dtype=np.int64)
    if n == 0:
        return np.zeros(g.n_nodes, dtype=np.int32), 0.0
    split_args = _split_arguments(problem, units)
    if n > MAX_EXACT_NODES:
        return _long_order_split(problem, units, order, split_args)
    by_unit, value = _split_order(order, *split_args)
    if not by_unit.shape[0]:
        return None, float("inf")
    return by_unit[units.unit_of], float(value)


def _split_arguments(problem: SearchProblem, units: UnitView) -> tuple:
    """The order-independent arguments of :func:`_split_order` (after the order): the unit graph's CSR arrays,
    compute-time classes, per-position comm factor, SRAM, link bandwidth to the next position, the cost model's
    switches, the device at each position, and the backward outputs (consumer CSR and send times, see
    :class:`UnitView`). The package-only parts are cached on ``units``."""
    pkg = problem.package
    K = pkg.n_devices
    ug = units.graph
    dev_at = np.asarray(pkg.order, dtype=np.int64)
    cached = getattr(units, "_split_cache", None)
    if cached is None or cached[0] is not pkg:
        # compute-time classes of the devices in pipeline order (independent of the order)
        if units.device_classes is None:
            cols, cls_at = np.unique(units.ct[:, dev_at].T, axis=0, return_inverse=True)
            units.device_classes = (cols, cls_at.reshape(-1).astype(np.int64))
        cols, cls_at = units.device_classes
        if pkg.interconnect == "links":
            link_bw_at = np.full(K, np.inf)
            for p in range(K - 1):
                route = pkg.route(int(dev_at[p]), int(dev_at[p + 1]))
                link_bw_at[p] = min(pkg.link_bandwidth[l] for l in route) if route else np.inf
        else:
            link_bw_at = np.ones(K)
        csr = (np.asarray(ug.pred_ptr, dtype=np.int64), np.asarray(ug.pred_idx, dtype=np.int64),
               np.asarray(ug.succ_ptr, dtype=np.int64), np.asarray(ug.succ_idx, dtype=np.int64))
        cached = (pkg, csr, np.ascontiguousarray(cols, dtype=np.float64), cls_at,
                  np.asarray(pkg.comm_factor, dtype=np.float64)[dev_at], link_bw_at,
                  np.asarray(pkg.sram_bytes, dtype=np.float64)[dev_at])
        units._split_cache = cached
    _, csr, cols, cls_at, cf_at, link_bw_at, sram_cap = cached
    sram_at = sram_cap if problem.constraints.capacity else np.full(K, np.inf)
    overlap = bool(problem.overlap) if problem.overlap is not None else pkg.default_overlap
    return (*csr, cols, np.asarray(units.weight, dtype=np.float64), np.asarray(units.t, dtype=np.float64), cls_at,
            cf_at, sram_at, link_bw_at, bool(overlap), pkg.interconnect == "links",
            bool(problem.constraints.all_used), dev_at, units.b_ptr, units.b_idx, units.tb)


def _long_order_split(problem: SearchProblem, units: UnitView, order: np.ndarray, split_args: tuple):
    """Orders longer than ``MAX_EXACT_NODES``: bisection with greedy packing (compute only)."""
    n = len(order)
    *_, cols, weight, _t, cls_at, _cf, sram_at, _bw, _ov, _links, _all, dev_at, _bp, _bi, _tb = split_args
    ct_prefix = np.zeros((len(cols), n + 1))
    ct_prefix[:, 1:] = np.cumsum(cols[:, order], axis=1)
    w_prefix = np.zeros(n + 1)
    w_prefix[1:] = np.cumsum(weight[order])
    by_unit, value = _greedy_split(problem, order, ct_prefix, cls_at, w_prefix, sram_at, dev_at)
    if by_unit is None:
        return None, float("inf")
    return by_unit[units.unit_of].astype(np.int32), float(value)


def _greedy_split(problem, order, ct_prefix, cls_at, w_prefix, sram_at, dev_at):
    """Bisection on the bottleneck (compute only) with greedy packing: for very long orders."""
    n, K = len(order), len(dev_at)
    lo, hi = 0.0, float(max(ct_prefix[:, -1]))

    def pack(limit):
        cuts, i = [0], 0
        for p in range(K):
            c = ct_prefix[cls_at[p]]
            # largest j with compute and memory within the limit
            j = int(np.searchsorted(c, c[i] + limit, side="right")) - 1
            jm = int(np.searchsorted(w_prefix, w_prefix[i] + sram_at[p], side="right")) - 1
            j = max(i, min(j, jm, n))
            cuts.append(j)
            i = j
        return cuts if i >= n else None

    for _ in range(60):
        mid = (lo + hi) / 2
        if pack(mid) is None:
            lo = mid
        else:
            hi = mid
    cuts = pack(hi)
    if cuts is None:
        return None, float("inf")
    by_index = np.empty(n, dtype=np.int32)
    for p in range(K):
        by_index[cuts[p]:cuts[p + 1]] = dev_at[p]
    by_unit = np.empty(n, dtype=np.int32)
    by_unit[order] = by_index
    return by_unit, hi


def best_split(problem: SearchProblem, units: UnitView | None = None) -> tuple[np.ndarray | None, float, int]:
    """The best *valid* pipeline split over :func:`topological_orders`: ``(placement or None, its value or inf,
    number of splits made)``."""
    units = units if units is not None else UnitView(problem)
    best, best_value, n = None, math.inf, 0
    for order in topological_orders(units.graph):
        placement, _ = pipeline_split(problem, order, units)
        if placement is None:
            continue
        n += 1
        rep = problem.evaluate(placement)
        value = problem.value_of(rep)
        if rep.valid and value < best_value:
            best, best_value = np.asarray(placement, dtype=np.int32), value
    return best, best_value, n


def run(problem: SearchProblem, tracker: Tracker, *, seed: int = 0, n_threads=None, **options) -> None:
    """``dp`` method: the best pipeline split over the candidate topological orders, repaired when needed.

    (The exact dynamic program over the ideals of the DAG, for graphs where it is tractable, lives in
    :mod:`mcmcore.search.ideals` and is tried first when registered.) Option: ``max_ideals``, its size limit.
    """
    unknown = set(options) - {"max_ideals"}
    if unknown:
        raise ValueError(f"unknown dp option(s): {', '.join(sorted(unknown))} (dp takes max_ideals)")
    if "max_ideals" in options and not (is_int(options["max_ideals"]) and options["max_ideals"] >= 1):
        raise ValueError(f"max_ideals must be a positive integer, got {options['max_ideals']!r}")
    try:
        from mcmcore.search import ideals
    except ImportError:
        ideals = None
    if ideals is not None and ideals.tractable(problem):
        ideals.run(problem, tracker, seed=seed, n_threads=n_threads, **options)
        if tracker.proven_optimal:
            return
    units = UnitView(problem)
    first = None
    for order in topological_orders(units.graph):
        placement, _ = pipeline_split(problem, order, units)
        if placement is None:
            continue
        first = placement if first is None else first
        offer_repaired(problem, tracker, placement, seed=seed)
    if not math.isfinite(tracker.best_value) and not tracker.exhausted():
        # the heuristic repair gave up on every split (or no split fits): the exact repair, in the time left
        start = first if first is not None else np.zeros(problem.graph.n_nodes, dtype=np.int32)
        offer_repaired(problem, tracker, start, seed=seed, exact_seconds=min(10.0, tracker.remaining_seconds()))


def offer_repaired(problem: SearchProblem, tracker: Tracker, placement: np.ndarray, *, seed: int = 0,
                   exact_seconds: float | None = None) -> bool:
    """Offer a placement; when it is invalid, offer its repair instead: the native heuristic, or with
    ``exact_seconds`` CP-SAT's minimal repair within that time (an :class:`InfeasibleError` when it proves that
    no valid placement exists)."""
    from mcmcore.repair import RepairStatus, repair

    rep = problem.evaluate(placement)
    if rep.valid:
        return tracker.offer(placement, problem.value_of(rep), valid=True)
    tracker.count(1)
    if exact_seconds is None:
        try:
            fixed = repair(problem.graph, problem.package, placement, constraints=problem.constraints, seed=seed)
        except InfeasibleError:  # a sub-problem (multilevel's coarse graph) may be infeasible: nothing to offer
            return False
        return fixed.status != RepairStatus.INFEASIBLE and tracker.offer(fixed.placement)
    try:
        fixed = repair(problem.graph, problem.package, placement, constraints=problem.constraints, method="cpsat",
                       max_seconds=max(exact_seconds, 0.01), seed=seed)
    except TimeoutError:  # no valid placement found in time: nothing to offer
        return False
    return tracker.offer(fixed.placement)

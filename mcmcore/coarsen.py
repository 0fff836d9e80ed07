"""Graph coarsening: fuse chains and cheap ops into their neighbours, keeping colors, pins and support legal.

An edge ``u -> v`` is contracted only when ``u`` has no other successor (or, with ``exact_comm=False``, ``v`` no
other predecessor). Such a
contraction can never create a cycle, even when many disjoint ones are made at once: a path that enters the fused
node and leaves it again always corresponds to a path of the original graph. Two nodes are fused only when their
colors and pins agree (or one of them has none), both are forward or both backward, and some device kind supports
both. A placement of the coarse graph maps back with :func:`uncoarsen`; it is valid for the fine graph whenever it
is valid for the coarse one.
"""
from __future__ import annotations

import numpy as np

from mcmcore._checks import check_count
from mcmcore.graph import Graph

__all__ = ["coarsen", "uncoarsen"]


def _work(g: Graph) -> np.ndarray:
    """A normalised cost per node (FLOPs, memory traffic and latency shares)."""
    w = np.zeros(g.n_nodes)
    for a in (g.flops, g.mem_bytes):
        total = float(a.sum())
        if total > 0:
            w += a / total
    if g.latency is not None:
        lat = g.latency.min(axis=1)
        total = float(lat.sum())
        if total > 0:
            w += lat / total
    if not w.any():
        w[:] = 1.0 / max(1, g.n_nodes)
    return w


def _compatible(g: Graph, u: int, v: int) -> bool:
    for a in (g.color, g.pin):
        if a is not None and a[u] >= 0 and a[v] >= 0 and a[u] != a[v]:
            return False
    if g.backward is not None and g.backward[u] != g.backward[v]:
        return False
    if g.supported is not None and not (g.supported[u] & g.supported[v]).any():
        return False
    return True


def _one_pass(g: Graph, work: np.ndarray, cap: float, budget: int, exact_comm: bool) -> np.ndarray | None:
    """A matching of contractible edges, cheapest fused cost first; returns the node -> group map or None."""
    edges = g.edges
    if not len(edges):
        return None
    out_deg = np.diff(g.succ_ptr)
    in_deg = np.diff(g.pred_ptr)
    u, v = edges[:, 0], edges[:, 1]
    ok = out_deg[u] == 1
    if not exact_comm:
        ok |= in_deg[v] == 1
    fused = work[u] + work[v]
    ok &= fused <= cap
    cand = np.flatnonzero(ok)
    if not cand.size:
        return None
    cand = cand[np.argsort(fused[cand], kind="stable")]
    group = np.arange(g.n_nodes)
    taken = np.zeros(g.n_nodes, dtype=bool)
    merged = 0
    for e in cand:
        a, b = int(u[e]), int(v[e])
        if taken[a] or taken[b] or not _compatible(g, a, b):
            continue
        taken[a] = taken[b] = True
        group[b] = a
        merged += 1
        if merged >= budget:
            break
    if not merged:
        return None
    return group


def _contract(g: Graph, group: np.ndarray) -> tuple[Graph, np.ndarray]:
    """Fuse the nodes of each group (group[i] = representative); returns the coarse graph and fine -> coarse."""
    reps, mapping = np.unique(group, return_inverse=True)
    mapping = mapping.astype(np.int32)
    m = len(reps)

    def total(a):
        out = np.zeros((m,) + a.shape[1:])
        np.add.at(out, mapping, a)
        return out

    # The fused node's output is that of its last member (the one with no successor inside the group).
    edges = g.edges
    internal = mapping[edges[:, 0]] == mapping[edges[:, 1]]
    has_internal_succ = np.zeros(g.n_nodes, dtype=bool)
    has_internal_succ[edges[internal, 0]] = True
    tail = np.zeros(m, dtype=np.int64)
    for i in range(g.n_nodes):
        if not has_internal_succ[i]:
            tail[mapping[i]] = i
    head = np.full(m, -1, dtype=np.int64)
    for i in g.topo_order:
        if head[mapping[i]] < 0:
            head[mapping[i]] = i
    work = _work(g)
    heaviest = np.full(m, -1, dtype=np.int64)
    for i in range(g.n_nodes):
        c = mapping[i]
        if heaviest[c] < 0 or work[i] > work[heaviest[c]]:
            heaviest[c] = i

    names, ops = g.names, g.ops  # Graph.ops builds a new tuple on every access: fetch it once
    kw = dict(flops=total(g.flops), mem_bytes=total(g.mem_bytes), weight_bytes=total(g.weight_bytes),
              out_bytes=g.out_bytes[tail], names=[names[i] for i in head],
              ops=[ops[i] for i in heaviest], name=g.name)
    if g.latency is not None:
        kw["latency"] = total(g.latency)
    if g.comm_time is not None:
        kw["comm_time"] = g.comm_time[tail]
    if g.supported is not None:
        sup = np.ones((m, g.supported.shape[1]), dtype=bool)
        np.logical_and.at(sup, mapping, g.supported)
        kw["supported"] = sup
    for f in ("color", "pin"):
        a = getattr(g, f)
        if a is not None:
            out = np.full(m, -1, dtype=np.int64)
            np.maximum.at(out, mapping, a)
            kw[f] = out
    if g.backward is not None:
        bw = np.zeros(m, dtype=bool)
        bw[mapping] = g.backward
        kw["backward"] = bw
    cedges = np.stack([mapping[edges[~internal, 0]], mapping[edges[~internal, 1]]], axis=1)
    return Graph.from_edges(m, cedges, **kw), mapping


def coarsen(graph: Graph, *, target_nodes: int | None = None, max_node_share: float | None = None,
            exact_comm: bool = True, max_passes: int = 64) -> tuple[Graph, np.ndarray]:
    """Fuse chains and cheap ops until the graph has at most ``target_nodes`` nodes or nothing may be fused.

    Parameters
    ----------
    graph : Graph
    target_nodes : int, optional
        Stop once the coarse graph has this many nodes or fewer (default: fuse as long as allowed).
    max_node_share : float, optional
        No fused node may hold more than this share of the graph's total cost (FLOPs, bytes and latency shares,
        each normalised). Default: ``2 / target_nodes`` with a target, else the cost of the heaviest single node,
        so cheap ops fold into their neighbours without making new hot spots.
    exact_comm : bool
        Contract ``u -> v`` only when ``v`` is ``u``'s sole consumer (default). Every fused node then ships exactly
        the output of its last member to the same consumers, so with per-node ``latency`` the port-model cost of
        ``uncoarsen(p)`` equals that of ``p`` on the coarse graph. False also fuses ``v`` into ``u`` when ``u`` is
        ``v``'s sole producer (more fusion; the fused node ships only its last member's output).
    max_passes : int
        Bound on matching passes.

    Returns
    -------
    (Graph, ndarray)
        The coarse graph and ``mapping``: coarse node id of every fine node.
    """
    target_nodes = check_count(target_nodes, "target_nodes")
    mapping = np.arange(graph.n_nodes, dtype=np.int32)
    if graph.n_nodes == 0:
        return graph, mapping
    work0 = _work(graph)
    kinds = max(1.0, float(work0.sum()))  # _work sums one normalised share per cost kind
    if max_node_share is not None:
        cap = float(max_node_share) * kinds
    elif target_nodes is not None:
        cap = 2.0 / int(target_nodes) * kinds
    else:
        cap = float(work0.max())
    g = graph
    for _ in range(max_passes):
        if target_nodes is not None and g.n_nodes <= target_nodes:
            break
        budget = g.n_nodes - int(target_nodes) if target_nodes is not None else g.n_nodes
        group = _one_pass(g, _work_like(g, graph, work0, mapping), cap, budget, exact_comm)
        if group is None:
            break
        g, step = _contract(g, group)
        mapping = step[mapping]
    return g, mapping


def _work_like(g: Graph, fine: Graph, work0: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Work of the coarse nodes measured on the fine graph's scale (so the cap means the same in every pass)."""
    out = np.zeros(g.n_nodes)
    np.add.at(out, mapping, work0)
    return out


def uncoarsen(placement, mapping) -> np.ndarray:
    """The fine placement of a coarse one: ``placement[mapping]``."""
    p = np.asarray(placement)
    mapping = np.asarray(mapping)
    if mapping.size and (mapping.min() < 0 or mapping.max() >= len(p)):
        raise ValueError(f"mapping names coarse node {int(mapping.max())}, the placement has {len(p)} entries")
    return p[mapping].astype(np.int32)

"""A slow, obviously correct reference evaluator, written from DESIGN.md ("Cost model", "Constraints") alone.

It walks the graph with plain Python loops over edges, successors and predecessors; it shares no code with the
native core (csrc/) beyond reading the public attributes of Graph, Package and Constraints (including the routes
the package exposes through ``Package.route`` and ``Package.hops``, which are checked separately against the
routing rules in tests/test_differential.py). The fast core is checked against it on random inputs.
"""
from __future__ import annotations

import math

import networkx as nx

__all__ = ["reference_evaluate", "compute_time", "transfer_time", "isclose", "CAPACITY_SLACK"]

#: A device is over capacity only when its memory exceeds ``sram_bytes * (1 + CAPACITY_SLACK)``: sums of
#: weight bytes in different orders must not flip the verdict.
CAPACITY_SLACK = 1e-9


def _max0(values) -> float:
    """Maximum of non-negative values; 0 for none."""
    best = 0.0
    for v in values:
        if v > best:
            best = v
    return best


def compute_time(graph, package, node: int, device: int) -> float:
    """Seconds node ``node`` runs on ``device``: the per-kind latency when given, else the roofline."""
    if graph.latency is not None:
        return float(graph.latency[node][int(package.kinds[device])])
    flops = float(graph.flops[node])
    mem = float(graph.mem_bytes[node])
    return max(flops / float(package.peak_flops[device]), mem / float(package.mem_bw[device]))


def transfer_time(graph, package, node: int) -> float:
    """Port model: seconds to ship node ``node``'s output once."""
    if graph.comm_time is not None:
        return float(graph.comm_time[node])
    return float(graph.out_bytes[node]) / float(package.bandwidth)


def _links_arrival_delay(graph, package, node: int, src: int, dst: int) -> float:
    """Links model: time from the producer's finish on ``src`` to the arrival of its output on ``dst``."""
    route = package.route(src, dst)
    slowest = min(float(package.link_bandwidth[l]) for l in route)
    return package.hops(src, dst) * package.hop_latency + float(graph.out_bytes[node]) / slowest


def reference_evaluate(graph, package, placement, constraints, overlap=None) -> dict:
    """Evaluate ``placement`` (a sequence of device ids, one per node) the slow way.

    Returns a dict with ``interval``, ``latency``, ``compute``, ``comm``, ``memory`` (lists of K floats),
    ``traffic``, ``link_time`` (lists of n_links floats), ``start``, ``finish`` (the list schedule, lists of
    n_nodes floats), ``violations`` (name -> count, for the constraints that ``constraints.active(package)``
    switches on) and ``valid``.
    """
    n = graph.n_nodes
    K = package.n_devices
    dev = [int(placement[i]) for i in range(n)]
    links_model = package.interconnect == "links"
    if overlap is None:
        overlap = package.default_overlap
    if links_model:
        overlap = True  # the links model always overlaps compute and communication

    # Distinct devices other than its own on which each node's output is consumed.
    remote = []
    for u in range(n):
        ds = []
        for v in graph.successors(u):
            d = dev[int(v)]
            if d != dev[u] and d not in ds:
                ds.append(d)
        remote.append(ds)

    # ---------------------------------------------------------------------------------------- loads per device
    compute = [0.0] * K
    memory = [0.0] * K
    for i in range(n):
        compute[dev[i]] += compute_time(graph, package, i, dev[i])
        memory[dev[i]] += float(graph.weight_bytes[i])

    comm = [0.0] * K
    n_links = package.n_links
    traffic = [0.0] * n_links
    for u in range(n):
        if not remote[u]:
            continue
        if links_model:
            for d in remote[u]:
                for l in package.route(dev[u], d):
                    traffic[l] += float(graph.out_bytes[u])
        else:
            t = transfer_time(graph, package, u)
            comm[dev[u]] += t * float(package.comm_factor[dev[u]])  # the sender pays once
            for d in remote[u]:
                comm[d] += t * float(package.comm_factor[d])  # each receiving device pays once
    link_time = [traffic[l] / float(package.link_bandwidth[l]) for l in range(n_links)]

    # ------------------------------------------------------------------------------------------------ interval
    if links_model:
        interval = max(_max0(compute), _max0(link_time))
    elif overlap:
        interval = max(_max0(compute), _max0(comm))
    else:
        interval = _max0([compute[k] + comm[k] for k in range(K)])

    # --------------------------------------------------------------------------------------------------- latency
    device_free = [0.0] * K
    start_time = [0.0] * n
    finish = [0.0] * n
    for i in (int(x) for x in graph.topo_order):
        start = device_free[dev[i]]
        for q in (int(x) for x in graph.predecessors(i)):
            arrival = finish[q]
            if dev[q] != dev[i]:
                if links_model:
                    arrival += _links_arrival_delay(graph, package, q, dev[q], dev[i])
                else:
                    arrival += transfer_time(graph, package, q)
            start = max(start, arrival)
        start_time[i] = start
        finish[i] = start + compute_time(graph, package, i, dev[i])
        device_free[dev[i]] = finish[i]
    latency = _max0(finish)

    # ----------------------------------------------------------------------------------------------- violations
    active = constraints.active(package)
    dataflow = constraints.resolved_dataflow(package)
    violations = {}
    if "capacity" in active:
        violations["capacity"] = sum(
            1 for k in range(K) if memory[k] > float(package.sram_bytes[k]) * (1 + CAPACITY_SLACK))

    forward_edges = []
    for u in range(n):
        for v in (int(x) for x in graph.successors(u)):
            if graph.backward is None or (not graph.backward[u] and not graph.backward[v]):
                forward_edges.append((u, v))
    pos = [int(package.position[k]) for k in range(K)]
    if "dataflow" in active:
        if dataflow == "ordered":
            violations["dataflow"] = sum(1 for u, v in forward_edges if pos[dev[u]] > pos[dev[v]])
        else:  # acyclic: an edge between devices of one strongly connected component closes a device cycle
            device_graph = nx.DiGraph()
            device_graph.add_nodes_from(range(K))
            for u, v in forward_edges:
                if dev[u] != dev[v]:
                    device_graph.add_edge(dev[u], dev[v])
            component = {}
            for c, members in enumerate(nx.strongly_connected_components(device_graph)):
                for k in members:
                    component[k] = c
            violations["dataflow"] = sum(
                1 for u, v in forward_edges if dev[u] != dev[v] and component[dev[u]] == component[dev[v]])
    if "skip" in active:
        violations["skip"] = sum(
            1 for u, v in forward_edges if pos[dev[v]] - pos[dev[u]] > constraints.max_skip)
    if "colors" in active:
        anchor_of_color = {}
        count = 0
        if graph.color is not None:
            for i in range(n):  # ascending ids: the first member seen is the anchor
                c = int(graph.color[i])
                if c < 0:
                    continue
                if c not in anchor_of_color:
                    anchor_of_color[c] = i
                elif dev[i] != dev[anchor_of_color[c]]:
                    count += 1
        violations["colors"] = count
    if "pins" in active:
        count = 0
        if graph.pin is not None:
            for i in range(n):
                if graph.pin[i] >= 0 and dev[i] != int(graph.pin[i]):
                    count += 1
        violations["pins"] = count
    if "support" in active:
        count = 0
        if graph.supported is not None:
            for i in range(n):
                if not graph.supported[i][int(package.kinds[dev[i]])]:
                    count += 1
        violations["support"] = count
    if "all_used" in active:
        used = set(dev)
        violations["all_used"] = sum(1 for k in range(K) if k not in used)

    return {
        "interval": float(interval),
        "latency": float(latency),
        "compute": compute,
        "comm": comm,
        "memory": memory,
        "traffic": traffic,
        "link_time": link_time,
        "start": start_time,
        "finish": finish,
        "violations": violations,
        "valid": not any(violations.values()),
    }


def isclose(a: float, b: float) -> bool:
    """The contract's tolerance: 1e-9 relative (DESIGN.md, cost model)."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300)

"""Hypothesis strategies for random graphs, packages, placements and constraint switches.

Everything drawn here is valid input: a problem strategy returns a graph, a package, a placement, constraints
and an overlap flag that ``mcmcore.evaluate`` must accept.
"""
from __future__ import annotations

from hypothesis import strategies as st

from mcmcore import Constraints, Graph, Package

__all__ = ["TOPOLOGIES", "WEIGHTED_TOPOLOGIES", "costs", "packages", "graphs", "placements", "constraints_for",
           "overlap_for", "problems"]

#: Node costs: zeros, integers (exact sums) and arbitrary floats.
costs = st.one_of(
    st.just(0.0),
    st.integers(0, 10**6).map(float),
    st.floats(1e-6, 1e9, allow_nan=False, allow_infinity=False),
)
#: Positive device rates (flop/s, bytes/s).
rates = st.one_of(
    st.sampled_from([1.0, 2.0, 1e3, 1e9, 1e12]),
    st.floats(1e-3, 1e13, allow_nan=False, allow_infinity=False),
)
#: SRAM sizes: small enough to be exceeded now and then, and unlimited (a host CPU).
srams = st.one_of(
    st.just(float("inf")),
    st.sampled_from([0.5, 1.0, 1e3, 1e6]),
    st.floats(1e-3, 1e7, allow_nan=False, allow_infinity=False),
)
#: Communication factors: 1 (pays), 0 (a CPU that does not pay) and anything in between or above.
comm_factors = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 4.0, allow_nan=False))
#: Per-hop latencies (links model).
hop_latencies = st.one_of(st.sampled_from([0.0, 1e-9, 1.0]), st.floats(0.0, 10.0, allow_nan=False))

TOPOLOGIES = ("port", "ring", "mesh", "torus", "full", "custom")
#: The port model has the most cases (overlap or not, comm_time, comm_factor): draw it more often.
WEIGHTED_TOPOLOGIES = ("port", "port", "port") + TOPOLOGIES[1:]


def _per_device(draw, values, k: int):
    """A scalar (the same for every device) or one value per device."""
    if draw(st.booleans()):
        return draw(values)
    return draw(st.lists(values, min_size=k, max_size=k))


def _custom_links(draw, k: int):
    """A random strongly connected set of directed links: a ring in a random order plus random extras."""
    cycle = draw(st.permutations(list(range(k))))
    pairs = [(cycle[i], cycle[(i + 1) % k]) for i in range(k)] if k > 1 else []
    extras = draw(st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), max_size=2 * k))
    for a, b in extras:
        if a != b and (a, b) not in pairs:
            pairs.append((a, b))
    perm = draw(st.permutations(list(range(len(pairs)))))  # link ids in a random order
    return [pairs[i] for i in perm]


@st.composite
def packages(draw, topologies=TOPOLOGIES, max_devices: int = 6, max_kinds: int = 2, min_devices: int = 1,
             grid_sides: tuple[int, int] = (1, 3)):
    """A random package of any topology, with heterogeneous per-device and per-link values.

    Meshes and tori have ``grid_sides[0]..grid_sides[1]`` rows and columns; other topologies
    ``min_devices..max_devices`` devices.
    """
    topology = draw(st.sampled_from(topologies))
    if topology in ("mesh", "torus"):
        rows, cols = draw(st.integers(*grid_sides)), draw(st.integers(*grid_sides))
        k = rows * cols
    elif topology == "custom":
        k = draw(st.integers(max(2, min_devices), max_devices))
    else:
        k = draw(st.integers(min_devices, max_devices))
    n_kinds = draw(st.integers(1, max_kinds))
    common = dict(
        peak_flops=_per_device(draw, rates, k),
        mem_bw=_per_device(draw, rates, k),
        sram_bytes=_per_device(draw, srams, k),
        kinds=draw(st.lists(st.integers(0, n_kinds - 1), min_size=k, max_size=k)),
        comm_factor=_per_device(draw, comm_factors, k),
        order=draw(st.one_of(st.none(), st.permutations(list(range(k))))),
    )
    if topology == "port":
        return Package.port(k, bandwidth=draw(rates), **common)
    hop_latency = draw(hop_latencies)
    if topology == "custom":
        links = [(a, b, draw(rates)) for a, b in _custom_links(draw, k)]
        return Package.custom(k, links, hop_latency=hop_latency, **common)

    def build(link_bandwidth):
        if topology == "ring":
            return Package.ring(k, link_bandwidth=link_bandwidth, hop_latency=hop_latency,
                                bidirectional=bidirectional, **common)
        if topology == "full":
            return Package.full(k, link_bandwidth=link_bandwidth, hop_latency=hop_latency, **common)
        builder = Package.mesh if topology == "mesh" else Package.torus
        return builder(rows, cols, link_bandwidth=link_bandwidth, hop_latency=hop_latency, **common)

    bidirectional = draw(st.booleans()) if topology == "ring" else True
    package = build(draw(rates))
    if package.n_links and draw(st.booleans()):  # one bandwidth per directed link
        package = build(draw(st.lists(rates, min_size=package.n_links, max_size=package.n_links)))
    return package


@st.composite
def graphs(draw, n_devices: int = 4, package_kinds: int = 1, max_nodes: int = 12, min_nodes: int = 0):
    """A random DAG whose node ids are not always in topological order, with optional fields.

    ``package_kinds`` is the number of device kinds of the package it will be evaluated on (per-kind arrays get
    at least that many columns); pins stay below ``n_devices``.
    """
    n = draw(st.integers(min_nodes, max_nodes))
    perm = draw(st.permutations(list(range(n))))
    edges = []
    if n > 1:
        n_raw = draw(st.integers(0, 3 * n))  # hypothesis favours short lists: ask for a length explicitly
        raw = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                            min_size=n_raw, max_size=n_raw))
        for a, b in raw:
            if a != b:  # edges go from the lower to the higher rank of a random permutation: a DAG
                a, b = min(a, b), max(a, b)
                edges.append((perm[a], perm[b]))

    def node_values(values):
        return draw(st.lists(values, min_size=n, max_size=n))

    fields = {f: node_values(costs) for f in ("flops", "mem_bytes", "weight_bytes", "out_bytes")}
    n_kinds = draw(st.integers(package_kinds, 2)) if package_kinds <= 2 else package_kinds
    if draw(st.booleans()):
        fields["latency"] = [node_values(costs) for _ in range(n_kinds)]
        fields["latency"] = [[fields["latency"][k][i] for k in range(n_kinds)] for i in range(n)]
    if draw(st.booleans()):
        fields["comm_time"] = node_values(costs)
    if draw(st.booleans()):
        fields["color"] = node_values(st.integers(-1, 3))
    if draw(st.booleans()):
        fields["pin"] = node_values(st.one_of(st.just(-1), st.just(-1), st.integers(-1, n_devices - 1)))
    if draw(st.booleans()):
        fields["backward"] = node_values(st.booleans())
    if draw(st.booleans()):
        rows = []
        for _ in range(n):
            row = draw(st.lists(st.booleans(), min_size=n_kinds, max_size=n_kinds))
            if not any(row):  # every node runs on at least one kind
                row[draw(st.integers(0, n_kinds - 1))] = True
            rows.append(row)
        fields["supported"] = rows
    if n == 0:
        fields = {k: v for k, v in fields.items() if k not in ("latency", "supported")}
    return Graph.from_edges(n, edges, **fields)


def placements(graph: Graph, package: Package):
    """A placement of ``graph`` on ``package``."""
    return st.lists(st.integers(0, package.n_devices - 1), min_size=graph.n_nodes, max_size=graph.n_nodes)


@st.composite
def constraints_for(draw, package: Package):
    """Random switches that are valid for ``package`` (max_skip only where dataflow resolves to ordered)."""
    dataflow = draw(st.sampled_from(["auto", "ordered", "acyclic", None]))
    resolved = package.default_dataflow if dataflow == "auto" else dataflow
    max_skip = draw(st.one_of(st.none(), st.integers(1, 4))) if resolved == "ordered" else None
    flags = {name: draw(st.booleans()) for name in ("capacity", "colors", "pins", "support", "all_used")}
    return Constraints(dataflow=dataflow, max_skip=max_skip, **flags)


def overlap_for(package: Package):
    """None (the package's default) or an explicit overlap the package accepts."""
    if package.interconnect == "port":
        return st.sampled_from([None, True, False])
    return st.sampled_from([None, True])


@st.composite
def problems(draw, topologies=WEIGHTED_TOPOLOGIES, max_devices: int = 6, max_nodes: int = 12, min_nodes: int = 0,
             min_devices: int = 1, grid_sides: tuple[int, int] = (1, 3)):
    """``(graph, package, placement, constraints, overlap)``."""
    package = draw(packages(topologies=topologies, max_devices=max_devices, min_devices=min_devices,
                            grid_sides=grid_sides))
    graph = draw(graphs(n_devices=package.n_devices, package_kinds=int(max(package.kinds)) + 1,
                        max_nodes=max_nodes, min_nodes=min_nodes))
    placement = draw(placements(graph, package))
    return graph, package, placement, draw(constraints_for(package)), draw(overlap_for(package))

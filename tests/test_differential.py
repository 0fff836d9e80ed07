"""The native evaluator against the slow reference (tests/reference.py) on random inputs and on hand-computed
cases. Tolerance: the contract's 1e-9 relative (DESIGN.md, cost model); violation counts exactly."""
from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mcmcore
from mcmcore import Constraints, Graph, Package
from reference import isclose, reference_evaluate
from strategies import packages, placements, problems

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_close(got, expected, what):
    assert isclose(float(got), float(expected)), f"{what}: core {got!r}, reference {expected!r}"


def assert_all_close(got, expected, what):
    got = [float(x) for x in got]
    assert len(got) == len(expected), f"{what}: core has {len(got)} entries, reference {len(expected)}"
    bad = [(i, g, e) for i, (g, e) in enumerate(zip(got, expected)) if not isclose(g, e)]
    assert not bad, f"{what}: mismatches (index, core, reference) {bad[:5]}"


def assert_report_matches(report, ref):
    assert_close(report.interval, ref["interval"], "interval")
    assert_close(report.latency, ref["latency"], "latency")
    for key in ("compute", "comm", "memory", "traffic", "link_time"):
        assert_all_close(getattr(report, key), ref[key], key)
    assert report.violations == ref["violations"]
    assert report.valid == ref["valid"]


# ------------------------------------------------------------------------------------------------- random inputs
@SETTINGS
@given(problems())
def test_evaluate_matches_reference(problem):
    graph, package, placement, constraints, overlap = problem
    report = mcmcore.evaluate(graph, package, placement, constraints=constraints, overlap=overlap, schedule=True)
    ref = reference_evaluate(graph, package, placement, constraints, overlap)
    assert_report_matches(report, ref)
    assert_all_close(report.start, ref["start"], "start")
    assert_all_close(report.finish, ref["finish"], "finish")
    assert report.throughput == (1.0 / report.interval if report.interval > 0 else float("inf"))


#: More than 64 devices: the core has separate code paths for K <= 64 (device bit masks) and above.
MANY_DEVICES = dict(min_devices=60, max_devices=80, grid_sides=(8, 9), max_nodes=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(problems(**MANY_DEVICES))
def test_evaluate_matches_reference_with_many_devices(problem):
    graph, package, placement, constraints, overlap = problem
    report = mcmcore.evaluate(graph, package, placement, constraints=constraints, overlap=overlap)
    assert_report_matches(report, reference_evaluate(graph, package, placement, constraints, overlap))


@st.composite
def batch_problems(draw):
    many = draw(st.integers(0, 9)) == 0  # now and then more than 64 devices
    graph, package, placement, constraints, overlap = draw(problems(**MANY_DEVICES) if many else
                                                           problems(max_nodes=10))
    rows = draw(st.lists(placements(graph, package), min_size=0, max_size=4))
    batch = np.array([placement] + rows, dtype=np.int64).reshape(len(rows) + 1, graph.n_nodes)
    return graph, package, batch, constraints, overlap


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch_problems(), st.sampled_from([1, 2]))
def test_evaluate_batch_matches_evaluate(problem, n_threads):
    graph, package, batch, constraints, overlap = problem
    kw = dict(constraints=constraints, overlap=overlap, n_threads=n_threads)
    intervals = mcmcore.evaluate_batch(graph, package, batch, **kw)
    latencies = mcmcore.evaluate_batch(graph, package, batch, objective="latency", **kw)
    values, totals = mcmcore.evaluate_batch(graph, package, batch, return_violations=True, **kw)
    assert intervals.shape == latencies.shape == totals.shape == (len(batch),)
    for b, row in enumerate(batch):
        report = mcmcore.evaluate(graph, package, row, constraints=constraints, overlap=overlap)
        ref = reference_evaluate(graph, package, row, constraints, overlap)
        assert_close(intervals[b], report.interval, f"row {b} interval vs evaluate")
        assert_close(values[b], report.interval, f"row {b} interval (return_violations) vs evaluate")
        assert_close(latencies[b], report.latency, f"row {b} latency vs evaluate")
        assert_close(intervals[b], ref["interval"], f"row {b} interval vs reference")
        assert_close(latencies[b], ref["latency"], f"row {b} latency vs reference")
        assert totals[b] == report.total_violations == sum(ref["violations"].values())


# -------------------------------------------------------------------------------------------------------- routes
def _bfs_distance(package, src, dst):
    out = {}
    for link in range(package.n_links):
        out.setdefault(int(package.link_src[link]), []).append(int(package.link_dst[link]))
    seen, queue = {src: 0}, deque([src])
    while queue:
        x = queue.popleft()
        for y in out.get(x, []):
            if y not in seen:
                seen[y] = seen[x] + 1
                queue.append(y)
    return seen[dst]


@settings(max_examples=150, deadline=None)
@given(packages(topologies=("ring", "mesh", "torus", "full", "custom")))
def test_routes_follow_the_routing_rules(package):
    """The reference trusts Package.route / hops; check them here against DESIGN.md's routing rules."""
    K = package.n_devices
    for a in range(K):
        for b in range(K):
            route = package.route(a, b)
            assert package.hops(a, b) == len(route)
            if package._route_bw is not None:  # the bottleneck bandwidth the evaluator divides by
                slowest = min((float(package.link_bandwidth[link]) for link in route), default=np.inf)
                assert package._route_bw[a, b] == slowest
            path = [a]
            for link in route:  # a chain of directed links from a to b
                assert int(package.link_src[link]) == path[-1]
                path.append(int(package.link_dst[link]))
            assert path[-1] == b
            if a == b:
                assert route == []
                continue
            assert len(route) == _bfs_distance(package, a, b), "routes are shortest paths"
            if package.topology in ("mesh", "torus"):
                rows, cols = package.shape
                coords = [divmod(x, cols) for x in path]
                # XY: the column changes first (along the row), then the row; one step at a time.
                turn = next((i for i, (r, _) in enumerate(coords) if r != coords[0][0]), len(coords))
                assert all(c == coords[-1][1] for _, c in coords[turn - 1:]), f"not XY: {path}"
                assert all(r == coords[0][0] for r, _ in coords[:turn])
            if package.topology == "ring" and K > 2:
                forward = (b - a) % K
                step = 1 if forward <= K - forward else -1  # the shorter way, ties clockwise
                assert path == [(a + step * i) % K for i in range(len(path))]


# -------------------------------------------------------------------------------------------- hand-computed cases
def _chain_graph(**extra):
    # 0 -> 1 -> 2 and 0 -> 2; flops 4, 6, 2; outputs 10, 20, 5 bytes.
    return Graph.from_edges(3, [(0, 1), (1, 2), (0, 2)], flops=[4, 6, 2], out_bytes=[10, 20, 5], **extra)


def _port2(**extra):
    # Device 0: 2 flop/s, device 1: 1 flop/s; ports of 10 bytes/s.
    kw = dict(bandwidth=10.0, peak_flops=[2.0, 1.0], mem_bw=1.0, sram_bytes=float("inf"))
    kw.update(extra)
    return Package.port(2, **kw)


def test_port_without_overlap_by_hand():
    graph, package, placement = _chain_graph(), _port2(), [0, 1, 0]
    # C_0 = 4/2 + 2/2 = 3, C_1 = 6/1 = 6.
    # Node 0 (t = 10/10 = 1) is consumed on device 1: device 0 pays 1 to send, device 1 pays 1 to receive.
    # Node 1 (t = 20/10 = 2) is consumed on device 0: device 1 pays 2, device 0 pays 2.  X = [3, 3].
    # Interval = max(3 + 3, 6 + 3) = 9.
    # Schedule: node 0 on d0 [0, 2]; node 1 on d1 waits for 2 + 1: [3, 9]; node 2 on d0 waits for 9 + 2: [11, 12].
    # Acyclic dataflow: d0 -> d1 (edge 0->1) and d1 -> d0 (edge 1->2) form a cycle: 2 offending edges.
    report = mcmcore.evaluate(graph, package, placement, schedule=True)
    assert report.overlap is False
    assert report.compute.tolist() == [3.0, 6.0]
    assert report.comm.tolist() == [3.0, 3.0]
    assert report.interval == 9.0
    assert report.latency == 12.0
    assert report.start.tolist() == [0.0, 3.0, 11.0]
    assert report.finish.tolist() == [2.0, 9.0, 12.0]
    assert report.violations == {"capacity": 0, "dataflow": 2, "colors": 0, "pins": 0, "support": 0}
    assert not report.valid
    assert report.traffic.size == 0
    # All on one device: C = [9, 0], no communication, interval 9, latency 4/2 + 6/2 + 2/2 = 6; dataflow holds.
    one = mcmcore.evaluate(graph, package, [0, 0, 0])
    assert (one.interval, one.latency, one.valid) == (6.0, 6.0, True)
    assert one.comm.tolist() == [0.0, 0.0]
    assert_report_matches(report, reference_evaluate(graph, package, placement, Constraints(), None))


def test_port_with_overlap_by_hand():
    graph, package, placement = _chain_graph(), _port2(), [0, 1, 0]
    # Same loads as without overlap: C = [3, 6], X = [3, 3]; interval = max(max C, max X) = 6. Latency unchanged.
    report = mcmcore.evaluate(graph, package, placement, overlap=True)
    assert report.overlap is True
    assert report.interval == 6.0
    assert report.latency == 12.0
    # Communication bound: make the port 10x slower: X = [30, 30] > C.
    slow = _port2(bandwidth=1.0)
    assert mcmcore.evaluate(graph, slow, placement, overlap=True).interval == 30.0
    assert mcmcore.evaluate(graph, slow, placement, overlap=False).interval == 36.0


def test_cpu_with_comm_factor_zero_by_hand():
    # NeurIPS-2020 style: per-kind latencies (accelerator, CPU), comm_time, the CPU pays no communication and has
    # no capacity limit.
    graph = Graph.from_edges(3, [(0, 1), (1, 2), (0, 2)], latency=[[2, 4], [3, 6], [1, 2]],
                             comm_time=[1, 2, 0.5], weight_bytes=[5, 100, 5])
    package = Package.port(2, bandwidth=1e-3, peak_flops=1.0, mem_bw=1.0, sram_bytes=[8.0, float("inf")],
                           kinds=[0, 1], comm_factor=[1.0, 0.0])
    placement = [0, 1, 0]
    # C_0 = 2 + 1 = 3 (kind 0), C_1 = 6 (kind 1).
    # X_0 = 1 (sends node 0) + 2 (receives node 1) = 3; X_1 = 0 (comm_factor 0). Interval = max(3+3, 6+0) = 6.
    # Schedule (transfers still take comm_time): node 0 [0, 2], node 1 [2+1, 9], node 2 [max(2, 9+2), 12].
    # Memory: d0 = 5 + 5 = 10 > 8 (1 capacity violation); d1 = 100 < inf.
    report = mcmcore.evaluate(graph, package, placement)
    assert report.compute.tolist() == [3.0, 6.0]
    assert report.comm.tolist() == [3.0, 0.0]
    assert report.memory.tolist() == [10.0, 100.0]
    assert report.interval == 6.0
    assert report.latency == 12.0
    assert report.violations["capacity"] == 1
    # With comm_factor 1 on both, X = [3, 3] and the interval is 9, as in the plain port case.
    paying = Package.port(2, bandwidth=1e-3, peak_flops=1.0, mem_bw=1.0, sram_bytes=[8.0, float("inf")],
                          kinds=[0, 1])
    assert mcmcore.evaluate(graph, paying, placement).interval == 9.0
    assert_report_matches(report, reference_evaluate(graph, package, placement, Constraints(), None))


def test_mesh_2x2_xy_routing_by_hand():
    # Devices row-major: 0 (r0 c0), 1 (r0 c1), 2 (r1 c0), 3 (r1 c1). Links in build order:
    # 0: 0->1, 1: 1->0, 2: 0->2, 3: 2->0, 4: 1->3, 5: 3->1, 6: 2->3, 7: 3->2. Snake order: 0, 1, 3, 2.
    package = Package.mesh(2, 2, link_bandwidth=1.0, hop_latency=0.5, peak_flops=1.0, mem_bw=1.0,
                           sram_bytes=float("inf"))
    assert [(int(s), int(d)) for s, d in zip(package.link_src, package.link_dst)] == [
        (0, 1), (1, 0), (0, 2), (2, 0), (1, 3), (3, 1), (2, 3), (3, 2)]
    assert package.route(0, 3) == [0, 4]  # along the row to column 1 first, then down
    assert package.route(3, 0) == [7, 3]
    assert package.route(1, 2) == [1, 2]
    assert package.route(2, 1) == [6, 5]
    graph = Graph.from_edges(4, [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)], flops=[10, 20, 30, 5],
                             out_bytes=[100, 40, 60, 0])
    placement = [0, 3, 3, 2]
    # Node 0's output goes once to device 3 (nodes 1 and 2): 100 bytes on links 0 (0->1) and 4 (1->3).
    # Nodes 1 and 2 send 40 + 60 bytes to device 2 over link 7 (3->2). Link times = bytes / 1.
    # C = [10, 0, 5, 50]; interval = max(50, 100) = 100; comm is all zeros in the links model.
    # Schedule (topological order 0, 1, 2, 3): node 0 [0, 10]; its output reaches d3 at 10 + 2 * 0.5 + 100 = 111;
    # node 1 [111, 131], node 2 [131, 161] (after node 1 on the same device);
    # node 3 waits for max(131 + 0.5 + 40, 161 + 0.5 + 60) = 221.5: [221.5, 226.5].
    # Positions (snake): d0 0, d1 1, d3 2, d2 3. Edges 0->1, 0->2 advance 2 positions: 2 skips with max_skip 1;
    # device 1 is empty: 1 all_used violation. No edge goes backwards.
    constraints = Constraints(max_skip=1, all_used=True)
    report = mcmcore.evaluate(graph, package, placement, constraints=constraints, schedule=True)
    assert report.traffic.tolist() == [100, 0, 0, 0, 100, 0, 0, 100]
    assert report.link_time.tolist() == [100, 0, 0, 0, 100, 0, 0, 100]
    assert report.compute.tolist() == [10, 0, 5, 50]
    assert report.comm.tolist() == [0, 0, 0, 0]
    assert report.interval == 100.0
    assert report.finish.tolist() == [10.0, 131.0, 161.0, 226.5]
    assert report.latency == 226.5
    assert report.violations == {"capacity": 0, "dataflow": 0, "skip": 2, "colors": 0, "pins": 0, "support": 0,
                                 "all_used": 1}
    # Moving node 3 to device 0 sends data backwards (positions 2 -> 0) on edges 1->3 and 2->3.
    back = mcmcore.evaluate(graph, package, [0, 3, 3, 0], constraints=constraints)
    assert back.violations["dataflow"] == 2
    assert_report_matches(report, reference_evaluate(graph, package, placement, constraints, None))


def test_latency_with_hop_latency_and_slowest_link_by_hand():
    # Bidirectional 4-ring: links 0..3 are i -> i+1, links 4..7 are i+1 -> i. From 0 to 2 the two ways tie, so the
    # route goes clockwise: 0 -> 1 -> 2 over links 0 and 1, with 4 and 2 bytes/s.
    bw = [4.0, 2.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0]
    package = Package.ring(4, link_bandwidth=bw, hop_latency=0.25, peak_flops=1.0, mem_bw=1.0,
                           sram_bytes=float("inf"))
    assert package.route(0, 2) == [0, 1]
    graph = Graph.from_edges(2, [(0, 1)], flops=[1, 1], out_bytes=[8, 0])
    # Node 0 [0, 1]; arrival on device 2 at 1 + 2 hops * 0.25 + 8 / min(4, 2) = 5.5; node 1 [5.5, 6.5].
    # Link times: 8/4 = 2 and 8/2 = 4; interval = max(C = 1, 4) = 4.
    report = mcmcore.evaluate(graph, package, [0, 2], constraints=Constraints.none())
    assert report.latency == 6.5
    assert report.interval == 4.0
    assert report.link_time.tolist() == [2.0, 4.0, 0, 0, 0, 0, 0, 0]
    assert report.violations == {}
    # Same device: no transfer at all, latency 1 + 1.
    assert mcmcore.evaluate(graph, package, [2, 2], constraints=Constraints.none()).latency == 2.0


def test_links_model_rejects_overlap_false():
    package = Package.ring(2, link_bandwidth=1.0, peak_flops=1.0, mem_bw=1.0, sram_bytes=1.0)
    graph = Graph.from_edges(1, [])
    with pytest.raises(ValueError):
        mcmcore.evaluate(graph, package, [0], overlap=False)


def test_schedule_of_empty_graph_is_empty():
    # Regression: the first core returned start = finish = None here (fixed in a890c9e).
    graph = Graph.from_edges(0, [])
    report = mcmcore.evaluate(graph, _port2(), [], schedule=True)
    assert report.start is not None and report.start.shape == (0,)
    assert report.finish is not None and report.finish.shape == (0,)
    assert report.latency == 0.0 and report.interval == 0.0


def test_batch_of_empty_graph_counts_empty_devices():
    # Regression: the first core zero-filled the batch's violations for a graph with no nodes (fixed in a890c9e).
    graph = Graph.from_edges(0, [])
    package = _port2()
    constraints = Constraints(all_used=True)
    assert mcmcore.evaluate(graph, package, [], constraints=constraints).violations["all_used"] == 2
    _, totals = mcmcore.evaluate_batch(graph, package, np.zeros((3, 0), dtype=np.int32), constraints=constraints,
                                       return_violations=True, n_threads=1)
    assert totals.tolist() == [2, 2, 2]

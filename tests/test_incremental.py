"""The incremental move evaluator against full evaluation and the reference.

(a) 10^5 random moves (with random undo) per configuration on graphs of 200-500 nodes, covering the port and
links models, K above and below 64, and every constraint; (b) short random move/undo sequences on small hypothesis inputs, checked
after every step against both ``mcmcore.evaluate`` and tests/reference.py; (c) errors.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mcmcore
from mcmcore import Constraints, Graph, IncrementalEvaluator, Package
from reference import isclose, reference_evaluate
from strategies import problems

N_MOVES = 100_000
N_CHECKED_MOVES = 2_000  # moves checked one by one (move / undo) before the native loop takes over
CHUNK = 1_000


# ----------------------------------------------------------------------------------------- large random instances
# A uniformly random walk over placements of a few hundred nodes never comes near a valid placement, so the
# violation bookkeeping would only ever see large counts. Each instance is therefore built around two target
# placements: T1, a contiguous split of a hidden topological order along the pipeline order (valid for every
# constraint but capacity margins), and T2, the same with one device emptied into its neighbour. The walk
# alternates random scattering with convergence onto T1 or T2, so every counter goes down to 0 and back up.
def random_instance(rng: np.random.Generator, n: int, package: Package, *, n_kinds: int = 1,
                    per_kind_latency: bool = False, comm_time: bool = False):
    """``(graph, package, targets)``: a random DAG of ``n`` nodes with shuffled ids (not in topological order),
    integer byte and flop counts, and colors, pins, backward nodes, support masks and SRAM sizes that T1 meets."""
    K = package.n_devices
    rank_to_node = rng.permutation(n)  # the node at rank r of a hidden topological order
    edges = []
    for r in range(1, n):
        for s in set(int(x) for x in rng.integers(max(0, r - 8), r, int(rng.integers(1, 4)))):
            edges.append((rank_to_node[s], rank_to_node[r]))  # short-range edges: T1 makes no skips

    def split(devices_in_order):
        target = np.empty(n, dtype=np.int32)
        bounds = np.linspace(0, n, len(devices_in_order) + 1).astype(int)
        for c, device in enumerate(devices_in_order):
            target[rank_to_node[bounds[c]:bounds[c + 1]]] = device
        return target

    order = [int(x) for x in package.order]
    t1 = split(order)
    gone = int(rng.integers(1, K))  # a device other than the first stage is emptied into its predecessor
    t2 = t1.copy()
    t2[t1 == order[gone]] = order[gone - 1]

    fields = dict(
        flops=rng.integers(0, 10**9, n).astype(float),
        mem_bytes=rng.integers(0, 10**7, n).astype(float),
        weight_bytes=rng.integers(0, 10**6, n).astype(float) * (rng.random(n) < 0.7),
        out_bytes=rng.integers(0, 10**6, n).astype(float),
    )
    if per_kind_latency:
        fields["latency"] = rng.integers(0, 1000, (n, n_kinds)) * 1e-6
    if comm_time:
        fields["comm_time"] = rng.integers(0, 500, n) * 1e-6
    node_rank = np.empty(n, dtype=np.int64)
    node_rank[rank_to_node] = np.arange(n)
    color = np.where(rng.random(n) < 0.3, t1 * 1000 + node_rank // 6, -1)  # colors inside T1's stages
    pin = np.where(rng.random(n) < 0.03, t1, -1)
    backward = rng.random(n) < 0.15
    supported = rng.random((n, n_kinds)) < 0.6
    supported[np.arange(n), package.kinds[t1]] = True
    graph = Graph.from_edges(n, edges, color=color, pin=pin, backward=backward, supported=supported, **fields)

    # SRAM: 3% above the largest of T1's and T2's memory on each device, so that scattering overflows it.
    memory = np.zeros((2, K))
    for row, target in enumerate((t1, t2)):
        np.add.at(memory[row], target, graph.weight_bytes)
    sram = np.where(np.isinf(package.sram_bytes), np.inf, memory.max(axis=0) * 1.03 + 1.0)
    sram = [float(x) for x in sram]  # devices without a capacity limit keep it
    return graph, package.replace(sram_bytes=sram), (t1, t2)


def _configs():
    """(id, graph, package, targets, constraints, overlap) covering both interconnects and every constraint."""
    rng = np.random.default_rng(20261122)
    out = []
    port = Package.port(4, bandwidth=25e9, peak_flops=[3e12, 3e12, 3e12, 1e11], mem_bw=[1e12, 1e12, 1e12, 1e11],
                        sram_bytes=[1.0, 1.0, 1.0, float("inf")], kinds=[0, 0, 0, 1],
                        comm_factor=[1.0, 1.0, 1.0, 0.0], order=[3, 0, 2, 1])
    out.append(("port-roofline-acyclic", *random_instance(rng, 300, port, n_kinds=2),
                Constraints(all_used=True), False))
    out.append(("port-latency-overlap", *random_instance(rng, 400, port, n_kinds=2, per_kind_latency=True,
                                                         comm_time=True),
                Constraints(all_used=True), True))
    ring = Package.ring(6, link_bandwidth=50e9, hop_latency=2e-8, sram_bytes=1.0, order=[2, 0, 1, 3, 5, 4],
                        kinds=[0, 1, 0, 1, 0, 0], peak_flops=[3e12, 2e12, 5e12, 1e12, 3e12, 2e12],
                        mem_bw=[1e12, 2e12, 1e12, 3e11, 1e12, 1e12])
    out.append(("ring-ordered-skip1", *random_instance(rng, 500, ring, n_kinds=2),
                Constraints(max_skip=1, all_used=True), None))
    mesh = Package.mesh(3, 3, link_bandwidth=[float(x) for x in rng.integers(1, 10, 24) * 1e10], hop_latency=1e-8,
                        peak_flops=2e12, mem_bw=1e12, sram_bytes=1.0, kinds=[0, 1, 0, 1, 0, 1, 0, 1, 0])
    out.append(("mesh-ordered-skip2", *random_instance(rng, 300, mesh, n_kinds=2),
                Constraints(max_skip=2, all_used=True), True))
    links = [(0, 1, 4e10), (1, 2, 5e10), (2, 3, 6e10), (3, 4, 3e10), (4, 0, 8e10), (0, 2, 2e10), (3, 1, 7e10)]
    custom = Package.custom(5, links, peak_flops=2e12, mem_bw=1e12, sram_bytes=1.0, kinds=[0, 0, 1, 1, 0],
                            hop_latency=5e-9)
    out.append(("custom-acyclic", *random_instance(rng, 250, custom, n_kinds=2, per_kind_latency=True),
                Constraints(dataflow="acyclic", all_used=True), None))
    torus = Package.torus(2, 3, link_bandwidth=1e11, peak_flops=2e12, mem_bw=1e12, sram_bytes=1.0,
                          kinds=[0, 1, 1, 0, 0, 1])
    out.append(("torus-no-dataflow", *random_instance(rng, 200, torus, n_kinds=2),
                Constraints(dataflow=None, all_used=True), None))
    # More than 64 devices: the core has separate code paths for K <= 64 (device bit masks) and above.
    wide_port = Package.port(70, bandwidth=10e9, peak_flops=[float(x) for x in rng.integers(1, 5, 70) * 1e12],
                             mem_bw=1e12, sram_bytes=1.0, kinds=[i % 2 for i in range(70)],
                             comm_factor=[0.0 if i % 7 == 0 else 1.0 for i in range(70)],
                             order=[int(x) for x in rng.permutation(70)])
    out.append(("port-70-acyclic", *random_instance(rng, 400, wide_port, n_kinds=2), Constraints(all_used=True),
                False))
    wide_mesh = Package.mesh(9, 8, link_bandwidth=1e11, hop_latency=1e-8, peak_flops=2e12, mem_bw=1e12,
                             sram_bytes=1.0, kinds=[i % 3 for i in range(72)])
    out.append(("mesh-9x8-ordered-skip3", *random_instance(rng, 450, wide_mesh, n_kinds=3),
                Constraints(max_skip=3, all_used=True), None))
    return out


CONFIGS = _configs()


def _check_against_full(inc, graph, package, constraints, overlap, placement, what, reference=False):
    assert np.array_equal(inc.placement, placement), f"{what}: placement drifted"
    report = mcmcore.evaluate(graph, package, placement, constraints=constraints, overlap=overlap)
    assert isclose(inc.interval, report.interval), f"{what}: incremental {inc.interval!r}, full {report.interval!r}"
    assert inc.violations == report.violations, f"{what}: {inc.violations} vs {report.violations}"
    assert inc.total_violations == report.total_violations
    assert inc.valid == report.valid
    if reference:
        ref = reference_evaluate(graph, package, placement, constraints, overlap)
        assert isclose(inc.interval, ref["interval"]), f"{what}: incremental {inc.interval!r}, ref {ref['interval']!r}"
        assert inc.violations == ref["violations"]
    return report


@pytest.mark.parametrize("config", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_targets_are_valid_where_intended(config):
    """The premise of the walk below: T1 meets every constraint, T2 leaves a device empty."""
    name, graph, package, (t1, t2), constraints, overlap = config
    first = mcmcore.evaluate(graph, package, t1, constraints=constraints, overlap=overlap)
    assert first.valid, first.violations
    second = mcmcore.evaluate(graph, package, t2, constraints=constraints, overlap=overlap)
    assert second.violations["all_used"] == 1


@pytest.mark.parametrize("config", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_many_random_moves_agree_with_full_evaluation(config):
    name, graph, package, targets, constraints, overlap = config
    rng = np.random.default_rng(sum(map(ord, name)))
    n, K = graph.n_nodes, package.n_devices
    placement = rng.integers(0, K, n).astype(np.int32)
    inc = IncrementalEvaluator(graph, package, placement, constraints=constraints, overlap=overlap)
    _check_against_full(inc, graph, package, constraints, overlap, placement, "start", reference=True)
    counts_seen = {key: set() for key in inc.violations}
    moves = 0

    def checked_move(node, device, undo_probability, redo):
        nonlocal placement, moves
        before = placement.copy()
        placement[node] = device
        interval = inc.move(node, device)
        moves += 1
        report = _check_against_full(inc, graph, package, constraints, overlap, placement, f"move {moves}")
        assert interval == inc.interval
        for key, value in report.violations.items():
            counts_seen[key].add(value)
        if rng.random() < undo_probability:
            inc.undo()
            placement = before
            _check_against_full(inc, graph, package, constraints, overlap, placement, f"undo of move {moves}")
            if redo:
                inc.move(node, device)
                placement[node] = device
                _check_against_full(inc, graph, package, constraints, overlap, placement, f"redo of move {moves}")

    # One move at a time, each checked: scatter (a third undone), then converge onto T1 or T2 (some moves undone
    # and redone), until N_CHECKED_MOVES.
    cycle = 0
    while moves < N_CHECKED_MOVES:
        for _ in range(int(rng.integers(1, 80))):
            checked_move(int(rng.integers(n)), int(rng.integers(K)), 0.3, redo=False)
        target = targets[cycle % 2]
        for node in rng.permutation(np.flatnonzero(placement != target)):
            checked_move(int(node), int(target[node]), 0.1, redo=True)
        assert np.array_equal(placement, target)
        cycle += 1
    for key, values in counts_seen.items():
        assert min(values) == 0 and max(values) > 0, f"{key} did not go both to 0 and above: {sorted(values)[:10]}"

    # The rest in the native loop, in chunks of committed moves (sometimes undoing the last one), of trial moves
    # (each undone), and of convergence onto a target.
    chunk_index = 0
    while moves < N_MOVES:
        kind = ("random", "trial", "neighbour", "converge")[chunk_index % 4]
        if kind == "converge":
            target = targets[(chunk_index // 4) % 2]
            nodes = rng.permutation(np.flatnonzero(placement != target)).astype(np.int32)
            devices = target[nodes].astype(np.int32)
        else:
            nodes = rng.integers(0, n, min(CHUNK, N_MOVES - moves)).astype(np.int32)
            if kind == "neighbour":  # to a neighbouring pipeline stage
                pos = package.position[placement[nodes]] + rng.choice([-1, 1], len(nodes))
                devices = package.order[np.clip(pos, 0, K - 1)].astype(np.int32)
            else:
                devices = rng.integers(0, K, len(nodes)).astype(np.int32)
        size = len(nodes)
        trial = kind == "trial"
        intervals = inc.apply_moves(nodes, devices, undo=trial)
        assert intervals.shape == (size,)
        # Spot-check a few of the intervals the loop returned, rebuilding the placement each one saw.
        for j in sorted(rng.choice(size, min(3, size), replace=False)):
            seen = placement.copy()
            if trial:
                seen[nodes[j]] = devices[j]
            else:
                for m in range(j + 1):  # in order: a node may move more than once
                    seen[nodes[m]] = devices[m]
            expected = mcmcore.evaluate(graph, package, seen, constraints=constraints, overlap=overlap).interval
            assert isclose(intervals[j], expected), f"chunk {chunk_index} move {j}: {intervals[j]!r} vs {expected!r}"
        if not trial and size:
            for m in range(size - 1):
                placement[nodes[m]] = devices[m]
            before_last = placement.copy()
            placement[nodes[-1]] = devices[-1]
            if kind != "converge" and rng.random() < 0.5:  # undo the chunk's last move
                inc.undo()
                placement = before_last
        report = _check_against_full(inc, graph, package, constraints, overlap, placement,
                                     f"after chunk {chunk_index} ({kind})", reference=chunk_index % 25 == 0)
        if kind == "converge":
            assert report.violations == mcmcore.evaluate(graph, package, target, constraints=constraints).violations
        moves += size
        chunk_index += 1
    _check_against_full(inc, graph, package, constraints, overlap, placement, "end", reference=True)


# ------------------------------------------------------------------------------------------ small random sequences
@st.composite
def move_sequences(draw, **sizes):
    sizes = {"max_nodes": 10, **sizes}
    graph, package, placement, constraints, overlap = draw(problems(min_nodes=1, **sizes))
    ops = draw(st.lists(st.one_of(
        st.tuples(st.just("move"), st.integers(0, graph.n_nodes - 1), st.integers(0, package.n_devices - 1)),
        st.tuples(st.just("undo"), st.just(0), st.just(0)),
    ), min_size=1, max_size=25))
    return graph, package, placement, constraints, overlap, ops


def _run_move_sequence(case):
    """Apply the moves and undos of ``case``, checking against evaluate and the reference after each."""
    graph, package, placement, constraints, overlap, ops = case
    placement = np.array(placement, dtype=np.int32)
    inc = IncrementalEvaluator(graph, package, placement, constraints=constraints, overlap=overlap)
    _check_against_full(inc, graph, package, constraints, overlap, placement, "start", reference=True)
    before = None  # placement before the last move, while it can still be undone (one level)
    for step, (op, node, device) in enumerate(ops):
        if op == "move":
            before = placement.copy()
            placement[node] = device
            interval = inc.move(node, device)
            assert interval == inc.interval
        elif before is not None:
            inc.undo()
            placement, before = before, None
        else:
            continue
        _check_against_full(inc, graph, package, constraints, overlap, placement, f"{op} {step}", reference=True)
        assert inc.throughput == (1.0 / inc.interval if inc.interval > 0 else float("inf"))
    report = inc.report()
    assert isclose(report.interval, inc.interval)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(move_sequences())
def test_moves_and_undos_agree_with_evaluate_and_reference(case):
    _run_move_sequence(case)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(move_sequences(min_devices=60, max_devices=80, grid_sides=(8, 9), max_nodes=30))
def test_moves_and_undos_with_many_devices(case):
    """More than 64 devices: the core has separate code paths for K <= 64 (device bit masks) and above."""
    _run_move_sequence(case)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_nodes=10, min_nodes=1), st.data())
def test_apply_moves_matches_single_moves(problem, data):
    graph, package, placement, constraints, overlap = problem
    k = data.draw(st.integers(1, 15))
    nodes = data.draw(st.lists(st.integers(0, graph.n_nodes - 1), min_size=k, max_size=k))
    devices = data.draw(st.lists(st.integers(0, package.n_devices - 1), min_size=k, max_size=k))
    undo = data.draw(st.booleans())
    batch = IncrementalEvaluator(graph, package, placement, constraints=constraints, overlap=overlap)
    single = IncrementalEvaluator(graph, package, placement, constraints=constraints, overlap=overlap)
    got = batch.apply_moves(nodes, devices, undo=undo)
    for j, (node, device) in enumerate(zip(nodes, devices)):
        assert got[j] == single.move(node, device)
        if undo:
            single.undo()
    assert np.array_equal(batch.placement, single.placement)
    assert batch.violations == single.violations
    expected = np.array(placement, dtype=np.int32)
    if not undo:
        for node, device in zip(nodes, devices):
            expected[node] = device
    assert np.array_equal(batch.placement, expected)
    _check_against_full(batch, graph, package, constraints, overlap, expected, "after apply_moves", reference=True)


# ---------------------------------------------------------------------------------------------------------- errors
def _small():
    graph = Graph.from_edges(3, [(0, 1), (1, 2)], flops=[1, 2, 3], out_bytes=[4, 5, 6])
    package = Package.port(2, bandwidth=1.0, peak_flops=1.0, mem_bw=1.0, sram_bytes=float("inf"))
    return graph, package


@pytest.mark.parametrize("node, device, error", [
    (-1, 0, IndexError), (3, 0, IndexError), (10**6, 1, IndexError),
    (0, -1, ValueError), (0, 2, ValueError), (2, 10**6, ValueError),
])
def test_move_out_of_range_raises_and_changes_nothing(node, device, error):
    graph, package = _small()
    inc = IncrementalEvaluator(graph, package, [0, 1, 0])
    interval, violations = inc.interval, inc.violations
    with pytest.raises(error):
        inc.move(node, device)
    assert inc.placement.tolist() == [0, 1, 0]
    assert inc.interval == interval and inc.violations == violations
    # Still usable afterwards.
    assert inc.move(1, 0) == mcmcore.evaluate(graph, package, [0, 0, 0]).interval


@pytest.mark.parametrize("nodes, devices", [([0, 3], [0, 0]), ([0, -1], [1, 1]), ([0, 1], [1, 2]), ([0], [0, 1])])
def test_apply_moves_out_of_range_raises_and_changes_nothing(nodes, devices):
    graph, package = _small()
    inc = IncrementalEvaluator(graph, package, [0, 1, 0])
    with pytest.raises(ValueError):
        inc.apply_moves(nodes, devices)
    assert inc.placement.tolist() == [0, 1, 0]


@pytest.mark.parametrize("placement", [[0, 1, 2], [0, -1, 0], [0, 1], [0, 1, 0, 1], [[0, 1, 0]], [0.5, 1, 0]])
def test_bad_placement_raises_invalid_placement_error(placement):
    graph, package = _small()
    with pytest.raises(mcmcore.InvalidPlacementError):
        IncrementalEvaluator(graph, package, placement)
    with pytest.raises(mcmcore.InvalidPlacementError):
        mcmcore.evaluate(graph, package, placement)


@pytest.mark.parametrize("bad", [2, -1])
def test_batch_with_bad_device_raises_invalid_placement_error(bad):
    graph, package = _small()
    with pytest.raises(mcmcore.InvalidPlacementError):
        mcmcore.evaluate_batch(graph, package, [[0, 1, 0], [0, bad, 1]], n_threads=1)

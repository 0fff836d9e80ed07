"""The exact methods: the DP over ideals (``dp``) and CP-SAT (``exact``) agree with brute force on small instances."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from mcmcore import Constraints, Graph, Package
from mcmcore.errors import InfeasibleError
from mcmcore.evaluate import evaluate_batch
from mcmcore.search import SearchStatus, partition
from mcmcore.search import ideals
from mcmcore.search.base import SearchProblem
from strategies import problems

pytest.importorskip("ortools")


def brute_force(graph, package, constraints, overlap=None) -> float:
    """The best interval over all K^N placements that satisfy the constraints (inf when none does)."""
    k, n = package.n_devices, graph.n_nodes
    every = np.array(list(itertools.product(range(k), repeat=n)), dtype=np.int32)
    values, violations = evaluate_batch(graph, package, every, constraints=constraints, overlap=overlap,
                                        n_threads=1, return_violations=True)
    ok = violations == 0
    return float(values[ok].min()) if ok.any() else float("inf")


def random_instance(rng, *, n_nodes, n_devices, kinds=False, extras=False, links=False):
    """A random DAG with roofline or per-kind costs, and optionally colors, pins, backward nodes, comm_time."""
    n = n_nodes
    edges = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.35]
    fields = dict(flops=rng.integers(1, 20, n).astype(float), out_bytes=rng.integers(0, 8, n).astype(float),
                  weight_bytes=rng.integers(0, 4, n).astype(float))
    n_kinds = 2 if kinds else 1
    if kinds:
        fields["latency"] = rng.uniform(0.5, 10.0, (n, 2))
    if extras:
        fields["comm_time"] = rng.uniform(0.0, 3.0, n)
        color = np.full(n, -1)
        a, b = rng.choice(n, 2, replace=False)
        color[[a, b]] = 0
        fields["color"] = color
        pin = np.full(n, -1)
        pin[int(rng.integers(n))] = int(rng.integers(n_devices))
        fields["pin"] = pin
        backward = np.zeros(n, dtype=bool)
        backward[n - 1] = True
        color[n - 1] = 1
        color[int(rng.integers(n - 1))] = 1  # the backward node follows a forward node through its color
        fields["backward"] = backward
    graph = Graph.from_edges(n, edges, **fields)
    common = dict(peak_flops=1.0, mem_bw=1.0, sram_bytes=float(rng.choice([np.inf, 6.0, 10.0])))
    if links:
        return graph, Package.ring(n_devices, link_bandwidth=float(rng.choice([1.0, 2.0])), **common)
    kinds_arr = [int(x) for x in rng.integers(0, n_kinds, n_devices)] if kinds else None
    comm = [float(x) for x in rng.choice([0.0, 0.5, 1.0], n_devices)]
    return graph, Package.port(n_devices, bandwidth=float(rng.choice([1.0, 4.0])), kinds=kinds_arr,
                               comm_factor=comm, **common)


def _run(graph, package, constraints, method, overlap=None):
    return partition(graph, package, method=method, constraints=constraints, overlap=overlap, progress=False,
                     max_seconds=30, seed=0, n_threads=1)


def _check_all(graph, package, constraints, overlap=None, *, dp_exact=True):
    best = brute_force(graph, package, constraints, overlap)
    if not np.isfinite(best):
        for method in ("dp", "exact"):
            with pytest.raises(InfeasibleError):
                _run(graph, package, constraints, method, overlap)
        return None
    ex = _run(graph, package, constraints, "exact", overlap)
    assert ex.valid
    assert ex.status is SearchStatus.OPTIMAL
    assert ex.value == pytest.approx(best, rel=1e-6)
    assert ex.lower_bound <= best * (1 + 1e-9)
    dp = _run(graph, package, constraints, "dp", overlap)
    assert dp.valid
    if dp_exact:
        assert dp.status is SearchStatus.OPTIMAL
        assert dp.value == pytest.approx(best, rel=1e-9)
        assert dp.value == pytest.approx(ex.value, rel=1e-6)
    else:
        assert dp.value >= best * (1 - 1e-9)
    return best


@pytest.mark.parametrize("seed", range(8))
def test_port_acyclic_agrees_with_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_devices = 2 + seed % 2
    graph, package = random_instance(rng, n_nodes=int(rng.integers(5, 9 if n_devices == 3 else 11)),
                                     n_devices=n_devices, kinds=seed % 4 >= 2, extras=seed % 3 == 0)
    _check_all(graph, package, Constraints(), overlap=bool(seed % 2))


@pytest.mark.parametrize("seed", range(3))
def test_port_ordered_and_all_used(seed):
    rng = np.random.default_rng(100 + seed)
    graph, package = random_instance(rng, n_nodes=7, n_devices=3)
    _check_all(graph, package, Constraints(dataflow="ordered", all_used=seed == 1))


@pytest.mark.parametrize("seed", range(8))
def test_ring_ordered_exact_agrees_with_brute_force(seed):
    """Links model: CP-SAT is exact; the ideal DP solves a relaxation (link traffic left out), so its value is a
    lower bound, and its placement is proven optimal only when the exact evaluation reaches that bound."""
    rng = np.random.default_rng(200 + seed)
    graph, package = random_instance(rng, n_nodes=7, n_devices=3, links=True)
    cons = Constraints(max_skip=1 if seed % 2 else None)
    problem = SearchProblem(graph, package, cons, "throughput")
    assert ideals.tractable(problem)
    best = _check_all(graph, package, cons, dp_exact=False)
    res = ideals.solve(problem)
    assert not res.exact
    if best is None:
        return
    assert res.value <= best * (1 + 1e-9)
    dp = _run(graph, package, cons, "dp")
    assert dp.lower_bound <= best * (1 + 1e-9)
    if dp.status is SearchStatus.OPTIMAL:
        assert dp.value == pytest.approx(best, rel=1e-9)


def test_links_relaxation_proves_the_optimum_when_links_are_fast():
    """With link bandwidth to spare the relaxation is tight: the DP's placement is proven optimal."""
    rng = np.random.default_rng(7)
    graph, package = random_instance(rng, n_nodes=8, n_devices=3, links=True)
    package = package.replace(link_bandwidth=1e6)
    res = _run(graph, package, Constraints(), "dp")
    assert res.status is SearchStatus.OPTIMAL
    assert res.value == pytest.approx(brute_force(graph, package, Constraints()), rel=1e-9)


def test_ordered_pipeline_may_leave_any_device_empty():
    """Regression: the DP only let trailing devices stay empty, so with a slow first device it claimed a worse
    placement optimal. Here the best placement skips device 0."""
    graph = Graph.from_edges(3, [(0, 1), (1, 2)], flops=[4.0, 4.0, 4.0], out_bytes=[0.0] * 3)
    package = Package.port(3, bandwidth=1.0, peak_flops=[0.1, 1.0, 1.0], mem_bw=1.0, sram_bytes=np.inf)
    cons = Constraints(dataflow="ordered")
    assert brute_force(graph, package, cons) == pytest.approx(8.0)
    res = _run(graph, package, cons, "dp")
    assert res.status is SearchStatus.OPTIMAL and res.value == pytest.approx(8.0)
    assert 0 not in set(res.placement.tolist())


@pytest.mark.parametrize("seed", range(6))
def test_ordered_heterogeneous_devices_agree_with_brute_force(seed):
    """Devices of different speeds in a fixed pipeline order: the best placement may leave any of them empty."""
    rng = np.random.default_rng(300 + seed)
    graph, package = random_instance(rng, n_nodes=7, n_devices=3, links=seed % 2 == 1)
    package = package.replace(peak_flops=[float(x) for x in rng.choice([0.1, 0.5, 1.0, 2.0], 3)])
    cons = Constraints(dataflow="ordered")
    best = brute_force(graph, package, cons)
    res = ideals.solve(SearchProblem(graph, package, cons, "throughput"))
    if not np.isfinite(best):
        assert res.placement is None
        return
    assert res.value <= best * (1 + 1e-9)
    if res.exact:
        assert res.value == pytest.approx(best, rel=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_upper_bound_pruning_keeps_the_optimum(seed):
    """Bounding the stages by a reachable interval (tight, or loose) skips pairs of ideals, never the optimum."""
    rng = np.random.default_rng(400 + seed)
    graph, package = random_instance(rng, n_nodes=9, n_devices=2 + seed % 3, links=seed % 2 == 1,
                                     kinds=seed % 4 == 2)
    problem = SearchProblem(graph, package, Constraints(), "throughput")
    full = ideals.solve(problem)
    if full.placement is None:
        return
    rep = problem.evaluate(full.placement)
    for ub in (problem.value_of(rep), full.value, 2 * problem.value_of(rep)):
        res = ideals.solve(problem, upper_bound=ub)
        assert not res.rerun
        assert res.value == pytest.approx(full.value, rel=1e-12)
    # a bound below the optimum, even just below, finds nothing under it, and the DP reruns without it
    for factor in (0.5, 0.999):
        low = ideals.solve(problem, upper_bound=factor * full.value)
        assert low.rerun and low.value == pytest.approx(full.value, rel=1e-12)


def test_infeasible_instance_raises_for_both_methods():
    # three nodes of weight 1, two devices of 1.5 bytes: the total fits (3 <= 3), no split does
    graph = Graph.from_edges(3, [(0, 1), (1, 2)], flops=[1.0, 1.0, 1.0], weight_bytes=[1.0, 1.0, 1.0])
    package = Package.port(2, bandwidth=1.0, peak_flops=1.0, mem_bw=1.0, sram_bytes=1.5)
    for method in ("dp", "exact"):
        with pytest.raises(InfeasibleError):
            _run(graph, package, Constraints(), method)


def test_exact_tiny_instance_is_optimal_with_zero_gap():
    graph = Graph.from_edges(4, [(0, 1), (1, 2), (2, 3)], flops=[4.0, 1.0, 1.0, 4.0], out_bytes=[1.0] * 4)
    package = Package.port(2, bandwidth=2.0, peak_flops=1.0, mem_bw=1.0, sram_bytes=np.inf)
    res = _run(graph, package, Constraints(), "exact")
    assert res.status is SearchStatus.OPTIMAL and res.gap == 0.0
    assert res.value == pytest.approx(brute_force(graph, package, Constraints()), rel=1e-9)


def test_ideals_chain_is_tractable_and_fast():
    n = 300
    graph = Graph.from_edges(n, [(i, i + 1) for i in range(n - 1)], flops=np.arange(1.0, n + 1),
                             out_bytes=np.ones(n))
    package = Package.port(4, bandwidth=1.0, peak_flops=1.0, mem_bw=1.0, sram_bytes=np.inf)
    problem = SearchProblem(graph, package, Constraints(), "throughput")
    assert ideals.tractable(problem)
    res = ideals.solve(problem)
    assert res.n_ideals == n + 1 and res.exact
    out = _run(graph, package, Constraints(), "dp")
    assert out.status is SearchStatus.OPTIMAL and out.value == pytest.approx(res.value, rel=1e-9)


def test_ideals_limit_and_latency_not_tractable():
    # 14 independent nodes: 2^14 ideals, over a limit of 1000
    graph = Graph.from_edges(14, [], flops=np.ones(14))
    package = Package.port(2, bandwidth=1.0, peak_flops=1.0, mem_bw=1.0, sram_bytes=np.inf)
    problem = SearchProblem(graph, package, Constraints(), "throughput")
    assert not ideals.tractable(problem, max_ideals=1000)
    assert ideals.solve(problem, max_ideals=1000) is None
    assert not ideals.tractable(SearchProblem(graph, package, Constraints(), "latency"))


def test_dp_over_its_time_budget_is_skipped_not_overrun(monkeypatch):
    """The DP runs only when its work estimate fits the remaining budget (pruning shrinks the estimate)."""
    from mcmcore.search.base import Tracker

    rng = np.random.default_rng(11)
    graph, package = random_instance(rng, n_nodes=10, n_devices=3)
    problem = SearchProblem(graph, package, Constraints(), "throughput")
    prep = ideals._prepare(problem, ideals.MAX_IDEALS)
    ub = prep.split(problem)[1]
    assert 0 < ideals._work(prep, ub) <= ideals._work(prep)
    monkeypatch.setattr(ideals, "_WORK_PER_SECOND", 1e-6)  # every DP now looks far too long
    tracker = Tracker(problem, max_evals=None, max_seconds=5.0)
    ideals.run(problem, tracker)
    assert tracker.info["ideals"]["skipped"] == "estimated time over the budget"
    assert not tracker.proven_optimal and math.isfinite(tracker.best_value)  # the split was still offered


@pytest.mark.parametrize("preset, runs", [("port4", True), ("ring4", False)])
def test_auto_gives_an_exact_dp_most_of_the_budget(preset, runs, monkeypatch):
    """auto lets the DP take up to 80% of the budget where it models the instance exactly (its placement is the
    optimum), and 50% on link topologies (a relaxation: annealing may still be needed). A DP estimated at 65% of
    the budget runs on port4 and is skipped on ring4."""
    from mcmcore import zoo
    from mcmcore.search import auto

    assert auto.DP_SHARE_RELAXED < 0.65 < auto.DP_SHARE_EXACT
    graph = zoo.load("resnet50")
    package = Package.preset(preset)
    assert ideals.models_exactly(SearchProblem(graph, package, Constraints(), "throughput")) == runs
    monkeypatch.setattr(ideals, "_work", lambda prep, ub=math.inf: 0.65 * 50.0 * ideals._WORK_PER_SECOND)
    res = partition(graph, package, method="auto", max_seconds=50.0, max_evals=20_000, progress=False)
    info = res.info["ideals"]
    assert ("skipped" not in info) == runs
    if runs:
        assert res.status == SearchStatus.OPTIMAL


@pytest.mark.parametrize("seed", range(6))
def test_training_graph_gradients_are_charged_like_brute_force(seed):
    """A training-like graph: forward chain with a skip, backward mirror, each backward node colored with its
    forward node. The gradient edges impose no order; their traffic goes through the DP's bitset path (single
    successor unit) or its scan (several), and must match the evaluator."""
    rng = np.random.default_rng(500 + seed)
    f = 4
    edges = [(i, i + 1) for i in range(f - 1)] + [(0, 2)]  # forward, with a skip
    edges += [(f + i + 1, f + i) for i in range(f - 1)]  # gradients flow back
    edges += [(i, f + i) for i in range(f)]  # stashed activations
    if seed % 2:
        edges += [(f + 2, f + 0)]  # a second successor unit for one gradient
    backward = np.array([False] * f + [True] * f)
    graph = Graph.from_edges(2 * f, edges, flops=rng.integers(1, 20, 2 * f).astype(float),
                             out_bytes=rng.integers(1, 8, 2 * f).astype(float), backward=backward,
                             color=np.concatenate([np.arange(f), np.arange(f)]))
    package = Package.port(3, bandwidth=float(rng.choice([1.0, 4.0])), peak_flops=1.0, mem_bw=1.0,
                           sram_bytes=np.inf, comm_factor=[float(x) for x in rng.choice([0.5, 1.0], 3)])
    problem = SearchProblem(graph, package, Constraints(), "throughput")
    prep = ideals._prepare(problem, ideals.MAX_IDEALS)
    assert len(prep.single) >= 2  # the bitset path is exercised
    best = brute_force(graph, package, Constraints())
    res = ideals.solve(problem)
    assert res.exact and res.value == pytest.approx(best, rel=1e-9)
    assert problem.value_of(problem.evaluate(res.placement)) == pytest.approx(best, rel=1e-9)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_devices=3, max_nodes=7))
def test_ideals_dp_is_a_sound_bound_on_random_problems(problem):
    """Any package, constraints and overlap: the DP's value never exceeds the brute-force optimum (it is exact, or
    a relaxation), equals it when the DP models the instance exactly, and the bound-pruned DP finds the same value.
    A placement proven by its exact evaluation is a true optimum; no placement means the instance is infeasible."""
    graph, package, _, constraints, overlap = problem
    sp = SearchProblem(graph, package, constraints, "throughput", overlap)
    res = ideals.solve(sp)
    best = brute_force(graph, package, constraints, overlap)
    if res.placement is None:
        assert not np.isfinite(best)
        return
    assert res.value <= best * (1 + 1e-9)
    if res.exact:
        assert res.value == pytest.approx(best, rel=1e-9)
    if np.isfinite(best):
        bounded = ideals.solve(sp, upper_bound=best)
        assert not bounded.rerun and bounded.value == pytest.approx(res.value, rel=1e-12)
        rep = sp.evaluate(res.placement)
        if rep.valid and sp.value_of(rep) <= res.value * (1 + 1e-9):
            assert sp.value_of(rep) == pytest.approx(best, rel=1e-9)


@pytest.mark.parametrize("package_name", ["port4", "hetero3", "ring4"])
@pytest.mark.parametrize("seed", range(4))
def test_ideals_pair_pruning_leaves_the_dp_unchanged(package_name, seed):
    """Skipping the pairs that cannot beat the best found (by compute and a bound on communication) and the usage
    states that cannot lie on a chain within the upper bound gives the plain DP's value and placement, with and
    without an upper bound (loose and tight), on graphs with many ideals."""
    from mcmcore.generate import layered_dag

    graph = layered_dag(24, width=4, seed=seed)
    package = Package.preset(package_name)
    sp = SearchProblem(graph, package, Constraints(), "throughput")
    plain = ideals.solve(sp, prune=False)
    assert plain.n_ideals > 1000  # wide enough that most pairs are incomparable or pruned
    for ub in (math.inf, plain.value * 1.05, plain.value * (1 + 1e-9)):
        pruned = ideals.solve(sp, upper_bound=ub)
        assert not pruned.rerun  # the bound held: no fallback to the unbounded DP hid a wrong pruning
        assert pruned.value == plain.value
        np.testing.assert_array_equal(pruned.placement, plain.placement)


@pytest.mark.parametrize("package_name", ["port4", "hetero3"])
def test_ideals_pair_pruning_on_a_training_graph(package_name):
    """The same on a zoo training graph, where gradients add order-free communication."""
    from mcmcore import zoo

    sp = SearchProblem(zoo.load("resnet50", training=True), Package.preset(package_name), Constraints(),
                       "throughput")
    plain = ideals.solve(sp, prune=False)
    pruned = ideals.solve(sp)
    assert pruned.value == plain.value
    np.testing.assert_array_equal(pruned.placement, plain.placement)


@pytest.mark.parametrize("seed", range(4))
def test_ideals_capacity_pruning_on_mixed_speed_ratios(seed):
    """A slow device whose slowdown differs per operator (compute-bound 32x, memory-bound 5x) holds at most its
    smallest slowdown's share of the work: the pruning by per-class capacities keeps the plain DP's result."""
    from mcmcore.generate import layered_dag

    g = layered_dag(24, width=4, seed=seed)
    rng = np.random.default_rng(seed)
    memory_bound = rng.random(g.n_nodes) < 0.7  # little compute, much traffic: 5x slower on the slow device
    flops = np.where(memory_bound, 1e3, np.asarray(g.flops) + 1e9)
    edges = [(int(a), int(b)) for a in range(g.n_nodes) for b in g.succ_idx[g.succ_ptr[a]:g.succ_ptr[a + 1]]]
    graph = Graph.from_edges(g.n_nodes, edges, flops=flops, mem_bytes=np.asarray(g.mem_bytes) + 1e8,
                             weight_bytes=g.weight_bytes, out_bytes=g.out_bytes)
    package = Package.port(3, bandwidth=50e9, peak_flops=[32e12, 32e12, 1e12], mem_bw=[2e12, 2e12, 4e11],
                           sram_bytes=[2.0 ** 29, 2.0 ** 29, np.inf], kinds=[0, 0, 1], comm_factor=[1, 1, 0])
    sp = SearchProblem(graph, package, Constraints(), "throughput")
    prep = ideals._prepare(sp, ideals.MAX_IDEALS)
    assert 2 < prep.capacities()[-1] < 3  # the slow device holds less than a fast one
    plain = ideals.solve(sp, prune=False)
    assert np.any(plain.placement == 2)  # the optimum puts work on the slow device
    for ub in (plain.value * 1.05, plain.value * (1 + 1e-9)):
        pruned = ideals.solve(sp, upper_bound=ub)
        assert not pruned.rerun
        assert pruned.value == plain.value
        np.testing.assert_array_equal(pruned.placement, plain.placement)


# --------------------------------------------------------------------------------------------- exact: audit fixes
def _no_hint(monkeypatch):
    """Make ``exact`` start without the pipeline split (as when the split finds no placement)."""
    from mcmcore.search import exact

    monkeypatch.setattr(exact, "_hint", lambda problem, tracker: tracker.best_placement)


def brute_force_latency(graph, package, constraints, overlap=None) -> float:
    """The best latency over all K^N placements that satisfy the constraints (inf when none does)."""
    k, n = package.n_devices, graph.n_nodes
    every = np.array(list(itertools.product(range(k), repeat=n)), dtype=np.int32).reshape(-1, n)
    values, violations = evaluate_batch(graph, package, every, constraints=constraints, overlap=overlap,
                                        objective="latency", n_threads=1, return_violations=True)
    ok = violations == 0
    return float(values[ok].min()) if ok.any() else float("inf")


@pytest.mark.parametrize("out_bytes", [1e6, 1e7])
@pytest.mark.parametrize("hint", [True, False])
def test_exact_links_model_in_seconds_not_bytes(out_bytes, hint, monkeypatch):
    """Regression: the links model's horizon added bytes as if seconds; without the split's bound the interval's
    domain overflowed (a TypeError from CP-SAT, or MODEL_INVALID reported as NO_SOLUTION). Device 0 cannot hold a
    node, which used to leave the pipeline split empty."""
    if not hint:
        _no_hint(monkeypatch)
    graph = Graph.from_edges(3, [(0, 1), (1, 2)], flops=[1e9, 2e9, 1e9], out_bytes=[out_bytes, out_bytes, 0.0],
                             weight_bytes=[3e6] * 3)
    package = Package.ring(3, link_bandwidth=1e10, peak_flops=1e12, mem_bw=1e12, sram_bytes=[2e6, 1e9, 1e9])
    best = brute_force(graph, package, Constraints())
    res = partition(graph, package, method="exact", max_evals=100, progress=False, n_threads=1)
    assert res.status is SearchStatus.OPTIMAL and res.info["exact"]["status"] != "MODEL_INVALID"
    assert res.value == pytest.approx(best, rel=1e-6)
    assert 0 not in set(res.placement.tolist())


@pytest.mark.parametrize("dataflow", ["auto", "ordered"])
def test_exact_with_no_compute_at_all(dataflow, monkeypatch):
    """Regression: with every compute time 0 and no split, the time unit fell to ~1e-299 s and the coefficients
    overflowed. The best placement keeps all on one device that holds them: interval 0."""
    _no_hint(monkeypatch)
    graph = Graph.from_edges(3, [(0, 1), (1, 2)], flops=[0.0] * 3, out_bytes=[1e7, 1e7, 0.0], weight_bytes=[3e6] * 3)
    package = Package.port(3, bandwidth=1e10, peak_flops=1e12, mem_bw=1e12, sram_bytes=[2e6, 1e9, 1e9])
    cons = Constraints(dataflow=dataflow)
    res = partition(graph, package, method="exact", constraints=cons, max_evals=100, progress=False, n_threads=1)
    assert res.status is SearchStatus.OPTIMAL and res.value == 0.0 == brute_force(graph, package, cons)


def test_exact_far_from_its_bound_without_a_hint_still_proves_the_optimum(monkeypatch):
    """Without a known placement the horizon covers the worst placement (here a slow transfer, 1e6 x the optimum):
    the first unit is too coarse to tell the best placements apart, so exact solves again with the unit that the
    best value found allows, and proves the optimum."""
    _no_hint(monkeypatch)
    graph = Graph.from_edges(4, [(0, 1), (1, 2), (2, 3)], flops=[1.0, 2.0, 1.0, 2.0],
                             comm_time=[1e6, 1e-3, 1e6, 0.0])
    package = Package.port(2, bandwidth=1.0, peak_flops=1e3, mem_bw=1e3, sram_bytes=np.inf)
    best = brute_force(graph, package, Constraints())
    res = partition(graph, package, method="exact", max_seconds=30, progress=False, n_threads=1)
    assert res.status is SearchStatus.OPTIMAL and res.value == pytest.approx(best, rel=1e-9)
    assert res.info["exact"]["rounds"] >= 2


def test_exact_latency_without_a_split(monkeypatch):
    """The audit's case: the first pipeline device cannot hold the first node, and the objective is latency. exact
    used to offer the split and stop (NO_SOLUTION without one); it now solves the latency model."""
    _no_hint(monkeypatch)
    graph = Graph.from_edges(2, [(0, 1)], flops=[1e9, 1e9], weight_bytes=[3e6, 1e6], out_bytes=[1e6, 0.0])
    package = Package.port(2, bandwidth=1e10, peak_flops=1e12, mem_bw=1e12, sram_bytes=[2e6, 1e9])
    res = partition(graph, package, method="exact", objective="latency", max_evals=100, progress=False,
                    n_threads=1)
    assert res.status is SearchStatus.OPTIMAL
    assert res.value == pytest.approx(brute_force_latency(graph, package, Constraints()), rel=1e-9)
    assert res.placement.tolist() == [1, 1]


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("hint", [True, False])
def test_exact_latency_agrees_with_brute_force(seed, hint, monkeypatch):
    """The latency model (list schedule in the fixed topological order, remote inputs delayed by the transfer, or
    by hops * hop_latency + bytes over the slowest link) finds and proves the brute-force optimum."""
    if not hint:
        _no_hint(monkeypatch)
    rng = np.random.default_rng(600 + seed)
    links = seed % 2 == 1
    graph, package = random_instance(rng, n_nodes=int(rng.integers(4, 7)), n_devices=3, links=links,
                                     kinds=seed % 4 == 2, extras=seed % 5 == 0)
    if links:
        package = package.replace(hop_latency=float(rng.choice([0.0, 0.5, 3.0])))
    cons = Constraints(dataflow="ordered") if seed % 3 == 0 else Constraints()
    best = brute_force_latency(graph, package, cons)
    if not np.isfinite(best):
        with pytest.raises(InfeasibleError):
            partition(graph, package, method="exact", objective="latency", constraints=cons, max_seconds=30,
                      progress=False, n_threads=1)
        return
    res = partition(graph, package, method="exact", objective="latency", constraints=cons, max_seconds=30,
                    progress=False, n_threads=1)
    assert res.valid and res.status is SearchStatus.OPTIMAL
    assert res.value == pytest.approx(best, rel=1e-6)
    assert res.lower_bound <= best * (1 + 1e-9)


def test_exact_latency_with_large_units_keeps_the_true_optimum(monkeypatch):
    """Regression (found by hypothesis): with horizons near 2**33 units, CP-SAT 9.15's presolve certified a wrong
    latency optimum (1.5 instead of 0.25: all on device 0). Units stay under 2**30 now."""
    from mcmcore.search import exact

    assert exact.MAX_UNITS <= 2 ** 30
    _no_hint(monkeypatch)
    graph = Graph.from_edges(3, [(0, 2)], flops=[0.0] * 3, mem_bytes=[0.0, 0.0, 0.5], out_bytes=[0.0] * 3)
    package = Package.from_spec({
        "format": "mcmcore-package", "version": 1, "topology": "custom", "n_devices": 3, "peak_flops": 1.0,
        "mem_bw": [2.0, 1.0, 1.0], "sram_bytes": "inf", "order": [0, 1, 2], "hop_latency": 1.0,
        "links": [[0, 1, 1.0], [1, 2, 1.0], [2, 0, 1.0]]})
    cons = Constraints(capacity=False, colors=False, pins=False, support=False)
    assert brute_force_latency(graph, package, cons) == pytest.approx(0.25)
    res = partition(graph, package, method="exact", objective="latency", constraints=cons, max_seconds=30,
                    progress=False, n_threads=1)
    assert res.status is SearchStatus.OPTIMAL and res.value == pytest.approx(0.25)
    assert res.lower_bound <= 0.25 * (1 + 1e-9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_devices=3, max_nodes=6, min_nodes=1))
def test_exact_is_sound_on_random_problems(problem):
    """Any package, constraints, overlap and cost magnitudes, both objectives, without the split's hint: exact's
    bound never exceeds the brute-force optimum, and OPTIMAL means the optimum."""
    from mcmcore.search import exact

    graph, package, _, constraints, overlap = problem
    saved = exact._hint
    exact._hint = lambda p, tracker: tracker.best_placement
    try:
        for objective, truth in (("throughput", brute_force), ("latency", brute_force_latency)):
            best = truth(graph, package, constraints, overlap)
            if not np.isfinite(best):
                with pytest.raises(InfeasibleError):
                    partition(graph, package, method="exact", objective=objective, constraints=constraints,
                              overlap=overlap, max_seconds=20, progress=False, n_threads=1)
                continue
            res = partition(graph, package, method="exact", objective=objective, constraints=constraints,
                            overlap=overlap, max_seconds=20, progress=False, n_threads=1)
            assert res.valid and res.value >= best * (1 - 1e-9)
            assert res.lower_bound <= best * (1 + 1e-9)
            if res.status is SearchStatus.OPTIMAL:
                assert res.value <= best * (1 + 1e-6)
    finally:
        exact._hint = saved


def test_exact_estimates_its_model_size():
    """The estimate (used to decide whether the model fits the budget) is of the order of the model built."""
    from mcmcore.generate import layered_dag
    from mcmcore.search import exact
    from mcmcore.search.base import Tracker

    graph = layered_dag(30, width=3, seed=5)
    for preset in ("port4", "ring4", "hetero3", "mesh4x4"):
        for objective in ("throughput", "latency"):
            problem = SearchProblem(graph, Package.preset(preset), Constraints(), objective)
            size = exact.estimate_model_size(problem)
            m, _, _ = exact._build(problem, Tracker(problem, max_evals=None, max_seconds=60), exact._Clock(math.inf))
            proto = m.Proto()
            built = len(proto.variables) + len(proto.constraints)
            assert built <= size <= 20 * built, (preset, objective, size, built)


@pytest.mark.parametrize("budget", [dict(max_seconds=0.5), dict(max_evals=1000)])
def test_exact_skips_a_model_too_large_for_the_budget(budget, monkeypatch):
    """A model estimated over the budget (its build time over half the seconds, or over MAX_MODEL_SIZE items) is
    not built: the split is the result, FEASIBLE, and info says why."""
    from mcmcore.generate import layered_dag
    from mcmcore.search import exact

    graph = layered_dag(200, width=5, seed=1)  # the split is 10% above the lower bound: not proven optimal
    package = Package.preset("ring8")
    size = exact.estimate_model_size(SearchProblem(graph, package, Constraints(), "throughput"))
    assert size * exact.BUILD_SECONDS_PER_ITEM > 0.5 * 0.5  # too long to build in half of 0.5 s
    if "max_evals" in budget:
        monkeypatch.setattr(exact, "MAX_MODEL_SIZE", size - 1)

    def never(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(exact, "_build", never)
    res = partition(graph, package, method="exact", progress=False, n_threads=1, **budget)
    info = res.info["exact"]
    assert info["status"] == "TOO_LARGE" and info["model_size"] == size and f"{size:,}" in info["reason"]
    assert res.valid and res.status in (SearchStatus.FEASIBLE, SearchStatus.OPTIMAL)


def test_exact_stops_building_past_its_share_of_the_time(monkeypatch):
    """When the build runs past its share of the time (the estimate was wrong), it stops: OUT_OF_TIME."""
    from mcmcore.search import exact

    monkeypatch.setattr(exact, "BUILD_SECONDS_PER_ITEM", 0.0)  # the estimate says it fits
    monkeypatch.setattr(exact, "BUILD_SHARE", 1e-12)  # but the build may take no time at all
    rng = np.random.default_rng(3)
    graph, package = random_instance(rng, n_nodes=8, n_devices=3)
    res = partition(graph, package, method="exact", max_seconds=5, progress=False, n_threads=1)
    assert res.info["exact"]["status"] == "OUT_OF_TIME"
    assert res.valid  # the split


def test_exact_counts_its_solutions_against_max_evals(monkeypatch):
    """max_evals counts the split's evaluations and each CP-SAT solution; a budget spent on the split leaves
    CP-SAT out (NO_BUDGET) instead of running it for DEFAULT_MAX_SECONDS."""
    _no_hint(monkeypatch)
    rng = np.random.default_rng(4)
    graph, package = random_instance(rng, n_nodes=9, n_devices=3)
    one = partition(graph, package, method="exact", max_evals=1, progress=False, n_threads=1)
    assert one.evals == 1 and one.valid and one.info["exact"]["solutions"] == 1
    monkeypatch.undo()
    spent = partition(graph, package, method="exact", max_evals=1, progress=False, n_threads=1)
    assert spent.evals == 1 and spent.info["exact"]["status"] in ("NO_BUDGET", "ALREADY_OPTIMAL")
    for _ in range(2):  # max_evals only: deterministic
        res = partition(graph, package, method="exact", max_evals=50, progress=False, n_threads=1)
        assert res.evals <= 50
    assert res.placement.tolist() == partition(graph, package, method="exact", max_evals=50, progress=False,
                                               n_threads=1).placement.tolist()


@pytest.mark.parametrize("hint", [True, False])
def test_exact_reports_a_model_cpsat_rejects(hint, monkeypatch):
    """A model CP-SAT rejects (MODEL_INVALID: here units forced past int64) is a bug of ours: never a silent
    NO_SOLUTION. With a known placement it stays the result with a RuntimeWarning; without one, ExactModelError."""
    from mcmcore.search import exact

    monkeypatch.setattr(exact, "MAX_UNITS", 2 ** 62)
    monkeypatch.setattr(exact, "RESOLUTION", 4e18)
    if not hint:
        _no_hint(monkeypatch)
    rng = np.random.default_rng(5)
    graph, package = random_instance(rng, n_nodes=6, n_devices=3)
    if hint:
        with pytest.warns(RuntimeWarning, match="MODEL_INVALID"):
            res = partition(graph, package, method="exact", max_seconds=5, progress=False, n_threads=1)
        assert res.valid and "MODEL_INVALID" in res.info["exact"]["error"]
    else:
        with pytest.raises(exact.ExactModelError, match="MODEL_INVALID"):
            partition(graph, package, method="exact", max_seconds=5, progress=False, n_threads=1)

"""partition(): the API contract, the auto method, bounds, the pipeline split and annealing."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mcmcore
from mcmcore import Constraints, InfeasibleError, Package, SearchStatus, partition
from mcmcore.generate import layered_dag
from mcmcore.search import dp
from mcmcore.search.base import SearchProblem


def ring(k=3, sram=2**40):
    return Package.ring(k, link_bandwidth=1e9, peak_flops=1e12, mem_bw=1e12, sram_bytes=sram)


def port(k=3, sram=2**40):
    return Package.port(k, bandwidth=1e9, peak_flops=1e12, mem_bw=1e12, sram_bytes=sram)


# --------------------------------------------------------------------------------------------------- API checks
@pytest.mark.parametrize("kwargs, match", [
    ({"objective": "speed"}, "objective"),
    ({"max_evals": 0}, "max_evals"),
    ({"max_evals": 2.5}, "max_evals"),
    ({"max_seconds": -1}, "max_seconds"),
    ({"method": "magic"}, "unknown method"),
])
def test_bad_arguments_are_named(kwargs, match):
    g = layered_dag(20, seed=1)
    with pytest.raises(ValueError, match=match):
        partition(g, ring(), progress=False, **{"max_evals": 100, **kwargs})


def test_infeasible_instance_raises_before_search():
    g = mcmcore.Graph.from_edges(3, [(0, 1), (1, 2)], weight_bytes=[10, 10, 500], names=["a", "b", "big"])
    with pytest.raises(InfeasibleError, match="big"):
        partition(g, ring(sram=100), method="anneal", max_evals=100, progress=False)


@pytest.mark.parametrize("method", ["auto", "anneal", "dp", "random", "multilevel"])
@pytest.mark.parametrize("package", [ring(4), port(3), Package.preset("mesh4x4")], ids=["ring", "port", "mesh"])
def test_every_method_returns_a_valid_placement_with_a_consistent_report(method, package):
    g = layered_dag(80, seed=3)
    r = partition(g, package, method=method, max_evals=3000, seed=1, progress=False)
    assert r.status in (SearchStatus.FEASIBLE, SearchStatus.OPTIMAL)
    rep = mcmcore.evaluate(g, package, r.placement)
    assert rep.valid and r.report.valid
    assert math.isclose(rep.interval, r.value, rel_tol=1e-12)
    assert 0 < r.lower_bound <= r.value * (1 + 1e-12)
    assert 0 <= r.gap < 1
    h = r.history
    assert len(h.best) >= 1 and np.all(np.diff(h.best) < 0) and np.all(np.diff(h.evals) >= 0)
    assert h.best[-1] == pytest.approx(r.value)


def test_same_seed_same_result_whatever_the_thread_count():
    g = layered_dag(150, seed=4)
    pkg = Package.preset("mesh4x4")
    a = partition(g, pkg, method="anneal", max_evals=20000, seed=7, n_threads=1, progress=False)
    b = partition(g, pkg, method="anneal", max_evals=20000, seed=7, n_threads=2, progress=False)
    assert np.array_equal(a.placement, b.placement) and a.value == b.value


def test_latency_objective_minimises_latency():
    g = layered_dag(60, seed=5)
    pkg = ring(3)
    r = partition(g, pkg, method="anneal", objective="latency", max_evals=5000, progress=False)
    assert r.objective == "latency"
    assert r.value == pytest.approx(mcmcore.evaluate(g, pkg, r.placement).latency)
    assert r.lower_bound <= r.value


def test_result_round_trips_through_json_and_the_cli(tmp_path):
    g = layered_dag(40, seed=6)
    pkg = ring(3)
    r = partition(g, pkg, method="auto", max_evals=2000, progress=False)
    r.save(tmp_path / "r.json")
    g.save(tmp_path / "g.json")
    pkg.save(tmp_path / "p.json")
    from mcmcore.cli import load_placement

    pl = load_placement(str(tmp_path / "r.json"), g.n_nodes)
    assert np.array_equal(pl, r.placement)


# -------------------------------------------------------------------------------------------- lower bounds
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(4, 9), st.integers(2, 3), st.integers(0, 10_000), st.sampled_from(["throughput", "latency"]))
def test_lower_bound_never_exceeds_any_valid_placement(n, k, seed, objective):
    g = layered_dag(n, seed=seed)
    pkg = port(k) if seed % 2 else ring(k)
    cons = Constraints()
    lb = mcmcore.lower_bound(g, pkg, objective=objective, constraints=cons)
    pls = np.array(list(itertools.product(range(k), repeat=n)), dtype=np.int32)
    values, viol = mcmcore.evaluate_batch(g, pkg, pls, constraints=cons, return_violations=True,
                                          objective="interval" if objective == "throughput" else "latency")
    assert np.all(values[viol == 0] >= lb * (1 - 1e-12))


# ----------------------------------------------------------------------------------------- pipeline split
def _best_contiguous_split(problem, order):
    """Brute force: every split of ``order`` into K (possibly empty) contiguous segments along the pipeline."""
    g, pkg = problem.graph, problem.package
    n, K = g.n_nodes, pkg.n_devices
    best = math.inf
    for cuts in itertools.combinations_with_replacement(range(n + 1), K - 1):
        bounds = (0, *cuts, n)
        pl = np.empty(n, dtype=np.int32)
        for p in range(K):
            pl[order[bounds[p]:bounds[p + 1]]] = pkg.order[p]
        rep = problem.evaluate(pl)
        if rep.valid:
            best = min(best, rep.interval)
    return best


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(3, 8), st.integers(2, 3), st.integers(0, 10_000), st.booleans())
def test_pipeline_split_is_exact_on_training_graphs(n, k, seed, overlap):
    # gradients flow against the order; the port model charges them (sent by the unit whose backward node has a
    # consumer in another segment, received once per segment): the split's estimate is the evaluator's interval,
    # and it is the best contiguous split of its order
    from mcmcore.zoo import training_graph

    g = training_graph(layered_dag(n, seed=seed))
    pkg = port(k)
    problem = SearchProblem(g, pkg, Constraints(dataflow="ordered"), "throughput", overlap)
    units = dp.UnitView(problem)
    order = np.asarray(units.graph.topo_order)
    placement, estimate = dp.pipeline_split(problem, order, units)
    exact = problem.evaluate(placement)
    assert exact.valid
    assert exact.interval == pytest.approx(estimate, rel=1e-9)
    best = math.inf
    for cuts in itertools.combinations_with_replacement(range(len(order) + 1), k - 1):
        bounds = (0, *cuts, len(order))
        by_unit = np.empty(len(order), dtype=np.int32)
        for p in range(k):
            by_unit[order[bounds[p]:bounds[p + 1]]] = pkg.order[p]
        rep = problem.evaluate(by_unit[units.unit_of])
        if rep.valid:
            best = min(best, rep.interval)
    assert estimate == pytest.approx(best, rel=1e-9)

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(3, 9), st.integers(2, 3), st.integers(0, 10_000), st.booleans())
def test_pipeline_split_is_optimal_for_its_order_on_port_packages(n, k, seed, overlap):
    g = layered_dag(n, seed=seed)
    pkg = port(k)
    problem = SearchProblem(g, pkg, Constraints(dataflow="ordered"), "throughput", overlap)
    order = np.asarray(g.topo_order)
    placement, estimate = dp.pipeline_split(problem, order)
    exact = problem.evaluate(placement)
    assert exact.valid
    assert exact.interval == pytest.approx(estimate, rel=1e-9)
    assert exact.interval == pytest.approx(_best_contiguous_split(problem, order), rel=1e-9)


def test_pipeline_split_respects_capacity():
    g = layered_dag(30, seed=2)
    w = np.asarray(g.weight_bytes)
    pkg = ring(3, sram=float(w.sum()) / 2.5)
    problem = SearchProblem(g, pkg, Constraints(), "throughput")
    placement, _ = dp.pipeline_split(problem)
    if placement is not None:
        assert problem.evaluate(placement).violations["capacity"] == 0


def test_training_graph_split_keeps_colors_together():
    g = mcmcore.zoo.load("resnet50", training=True)
    pkg = Package.preset("ring4")
    problem = SearchProblem(g, pkg, Constraints(), "throughput")
    placement, _ = dp.pipeline_split(problem)
    rep = problem.evaluate(placement)
    assert rep.violations["colors"] == 0 and rep.valid


# ---------------------------------------------------------------------------------------------------- auto
def test_auto_proves_the_optimum_on_a_chain():
    n = 12
    g = mcmcore.Graph.from_edges(n, [(i, i + 1) for i in range(n - 1)], flops=np.arange(1, n + 1) * 1e9,
                                 out_bytes=np.full(n, 1e3))
    r = partition(g, port(3), max_seconds=5, progress=False)
    assert r.status == SearchStatus.OPTIMAL and r.gap == 0


def test_anneal_improves_on_a_bad_start():
    g = layered_dag(200, seed=8)
    pkg = Package.preset("mesh4x4")
    start = mcmcore.random_valid(g, pkg, seed=0, n=1)[0]
    r = partition(g, pkg, method="anneal", start=start, max_evals=50000, progress=False)
    assert r.value < mcmcore.evaluate(g, pkg, start).interval


def test_offer_batch_history_counts_the_sample_that_improved():
    # an improvement found by the 3rd sample of a batch of 5 is recorded at 3 evaluations (then 5 counted), not
    # rounded up to the end of the batch; ties go to the first sample reaching the value
    from mcmcore.search.base import Tracker

    g = layered_dag(6, seed=0)
    problem = SearchProblem(g, port(2), Constraints(), "throughput")
    tracker = Tracker(problem, max_evals=100, max_seconds=None)
    pl = np.zeros((5, g.n_nodes), dtype=np.int32)
    tracker.offer_batch(pl, np.array([5.0, 4.0, 3.0, 3.0, 6.0]), np.array([0, 0, 0, 0, 0]))
    tracker.offer_batch(pl, np.array([9.0, 2.0, 1.0, 1.0, 8.0]), np.array([0, 0, 1, 0, 0]))
    h = tracker.history()
    assert h.evals.tolist() == [3, 9] and h.best.tolist() == [3.0, 1.0]
    assert tracker.evals == 10


@pytest.mark.parametrize("method", ["random", "anneal", "auto"])
def test_search_stops_once_it_reaches_the_compute_bound(method):
    """A placement at the compute lower bound is optimal: the search ends there, well before its budget."""
    g = layered_dag(30, seed=9)  # its pipeline split already reaches the bound on ring4
    pkg = Package.preset("ring4")
    assert dp.pipeline_split(SearchProblem(g, pkg, Constraints(), "throughput"))[0] is not None
    res = partition(g, pkg, method=method, max_evals=200_000, seed=0, progress=False, n_threads=1)
    assert res.status is SearchStatus.OPTIMAL and res.gap == 0.0
    assert res.value <= mcmcore.lower_bound(g, pkg) * (1 + 1e-12)
    assert res.evals < 200_000

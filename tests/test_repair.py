"""Repair: the heuristic and CP-SAT return valid placements, keep valid ones, explain infeasibility."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mcmcore
from mcmcore import Constraints, Graph, InfeasibleError, Package, RepairStatus, evaluate, random_valid, repair
from mcmcore.generate import layered_dag
from mcmcore.repair import check_feasibility, repair_batch


def _dag(draw, n):
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    return [(a, b) for a, b in edges if a < b]


@st.composite
def instances(draw, max_nodes=9, max_devices=4):
    """A small graph, a ring (ordered) or port (acyclic) package, constraints and a random candidate."""
    n = draw(st.integers(1, max_nodes))
    k = draw(st.integers(1, max_devices))
    edges = _dag(draw, n)
    weight = draw(st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.0]), min_size=n, max_size=n))
    color = None
    if draw(st.booleans()):
        color = draw(st.lists(st.sampled_from([-1, -1, 0, 1]), min_size=n, max_size=n))
    g = Graph.from_edges(n, edges, weight_bytes=weight, flops=[1.0] * n, color=color)
    sram = float(draw(st.sampled_from([4.0, 6.0, 10.0, float("inf")])))
    if draw(st.booleans()):
        p = Package.ring(k, link_bandwidth=1e9, peak_flops=1e12, mem_bw=1e12, sram_bytes=sram)
        skip = draw(st.sampled_from([None, 1, 2]))
    else:
        p = Package.port(k, bandwidth=1e9, peak_flops=1e12, mem_bw=1e12, sram_bytes=sram)
        skip = None
    cons = Constraints(max_skip=skip, all_used=draw(st.booleans()) and n >= k)
    cand = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.int32)
    return g, p, cons, cand


def _feasible(g, p, cons):
    try:
        check_feasibility(g, p, constraints=cons)
    except InfeasibleError:
        return False
    return True


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_heuristic_valid_or_reported(inst):
    g, p, cons, cand = inst
    if not _feasible(g, p, cons):
        return
    res = repair(g, p, cand, constraints=cons, method="heuristic")
    assert res.engine == "heuristic"
    if res.status is not RepairStatus.INFEASIBLE:
        assert evaluate(g, p, res.placement, constraints=cons).valid
        assert res.moved == int((res.placement != cand).sum())
    # Repairing the result changes nothing when it is valid.
    if evaluate(g, p, res.placement, constraints=cons).valid:
        again = repair(g, p, res.placement, constraints=cons)
        assert again.moved == 0 and np.array_equal(again.placement, res.placement)


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_nodes=7, max_devices=3))
def test_cpsat_optimal_and_heuristic_not_better(inst):
    g, p, cons, cand = inst
    if not _feasible(g, p, cons):
        with pytest.raises(InfeasibleError):
            repair(g, p, cand, constraints=cons, method="cpsat", seed=0)
        return
    try:
        exact = repair(g, p, cand, constraints=cons, method="cpsat", seed=0, max_seconds=10)
    except InfeasibleError as exc:
        assert "CP-SAT" in str(exc)
        heur = repair(g, p, cand, constraints=cons, method="heuristic")
        assert heur.status is RepairStatus.INFEASIBLE
        return
    assert exact.status is RepairStatus.OPTIMAL
    assert evaluate(g, p, exact.placement, constraints=cons).valid
    heur = repair(g, p, cand, constraints=cons, method="heuristic")
    if heur.status is not RepairStatus.INFEASIBLE:
        assert heur.moved >= exact.moved
    auto = repair(g, p, cand, constraints=cons, method="auto", seed=0)
    assert evaluate(g, p, auto.placement, constraints=cons).valid


def test_heuristic_quality_vs_cpsat():
    """Average extra moved nodes over CP-SAT's optimum on small random ordered instances (loose bound; the
    benchmark reports the exact figure)."""
    rng = np.random.default_rng(1)
    p = Package.ring(4, link_bandwidth=1e9, peak_flops=1e12, mem_bw=1e12, sram_bytes=64.0)
    cons = Constraints()
    h_total = e_total = 0
    for t in range(25):
        g = layered_dag(24, 34, seed=t)
        g = Graph.from_edges(g.n_nodes, g.edges, weight_bytes=rng.integers(0, 8, g.n_nodes).astype(float))
        cand = rng.integers(0, 4, g.n_nodes).astype(np.int32)
        exact = repair(g, p, cand, constraints=cons, method="cpsat", seed=0, max_seconds=20)
        heur = repair(g, p, cand, constraints=cons, method="heuristic")
        assert heur.status is not RepairStatus.INFEASIBLE
        assert evaluate(g, p, heur.placement, constraints=cons).valid
        h_total += heur.moved
        e_total += exact.moved
    assert h_total <= 1.5 * e_total


def test_valid_placement_unchanged_large():
    g = layered_dag(500, 700)
    p = Package.preset("mesh4x4")
    pl = random_valid(g, p, seed=3)[0]
    assert evaluate(g, p, pl).valid
    res = repair(g, p, pl)
    assert res.moved == 0 and res.status is RepairStatus.OPTIMAL and np.array_equal(res.placement, pl)


def test_random_valid_deterministic_and_valid():
    g = layered_dag(300, 420, seed=2)
    p = Package.preset("mesh4x4")
    for cons in (Constraints(), Constraints(max_skip=2)):
        a = random_valid(g, p, constraints=cons, seed=7, n=6, n_threads=1)
        b = random_valid(g, p, constraints=cons, seed=7, n=6, n_threads=2)
        assert a.shape == (6, g.n_nodes) and np.array_equal(a, b)
        assert all(evaluate(g, p, row, constraints=cons).valid for row in a)
    assert random_valid(g, p, seed=1).shape == (1, g.n_nodes)


def test_batch_matches_single():
    g = layered_dag(200, 280, seed=4)
    p = Package.preset("ring8")
    cands = np.random.default_rng(0).integers(0, 8, (5, g.n_nodes)).astype(np.int32)
    out, moved, ok = repair_batch(g, p, cands, n_threads=2)
    for row, c in enumerate(cands):
        single = repair(g, p, c)
        assert np.array_equal(single.placement, out[row]) and single.moved == moved[row]
        assert ok[row] and evaluate(g, p, out[row]).valid


def _ring(k, sram=10.0):
    return Package.ring(k, link_bandwidth=1e9, peak_flops=1e12, mem_bw=1e12, sram_bytes=sram)


def test_infeasible_reasons():
    p = _ring(3)
    big = Graph.from_edges(3, [(0, 1)], weight_bytes=[1, 50, 1], names=["a", "huge", "c"])
    with pytest.raises(InfeasibleError, match="huge.*SRAM"):
        repair(big, p, [0, 0, 0])
    total = Graph.from_edges(4, [], weight_bytes=[9, 9, 9, 9])
    with pytest.raises(InfeasibleError, match="total SRAM"):
        repair(total, p, [0, 0, 0, 0])
    colored = Graph.from_edges(3, [], weight_bytes=[6, 6, 0], color=[1, 1, -1])
    with pytest.raises(InfeasibleError, match="color 1.*too big"):
        repair(colored, p, [0, 0, 0])
    pinned = Graph.from_edges(3, [(0, 1), (1, 2)], pin=[2, -1, 0], names=["x", "y", "z"])
    with pytest.raises(InfeasibleError, match="pins contradict.*x.*z"):
        repair(pinned, p, [0, 0, 0], constraints=Constraints(capacity=False))
    chain = Graph.from_edges(2, [(0, 1)], pin=[0, 2])
    with pytest.raises(InfeasibleError, match="max_skip"):
        repair(chain, p, [0, 0], constraints=Constraints(max_skip=1))
    few = Graph.from_edges(2, [(0, 1)])
    with pytest.raises(InfeasibleError, match="all_used"):
        repair(few, p, [0, 0], constraints=Constraints(all_used=True))
    unsupported = Graph.from_edges(2, [(0, 1)], supported=[[True, False], [False, True]])
    with pytest.raises(InfeasibleError, match="supported on no device kind"):
        repair(unsupported, _ring(2), [0, 0])
    cyc = Graph.from_edges(4, [(0, 1), (2, 3)], pin=[0, 1, 1, 0])
    port = Package.port(2, bandwidth=1e9, peak_flops=1e12, mem_bw=1e12, sram_bytes=10.0)
    with pytest.raises(InfeasibleError, match="device cycle"):
        repair(cyc, port, [0, 0, 0, 0])


def test_cpsat_proof_when_nothing_simpler():
    # Two nodes of 6 bytes on two 10-byte devices, but the edge order and max_skip leave no split, plus all_used.
    g = Graph.from_edges(3, [(0, 1), (1, 2)], weight_bytes=[6, 6, 6])
    p = _ring(3, sram=10.0)
    cons = Constraints(all_used=True, max_skip=1, pins=True)
    pinned = Graph.from_edges(3, [(0, 1), (0, 2)], weight_bytes=[6, 6, 6], pin=[1, -1, -1])
    # 0 pinned to position 1; 1 and 2 must be at >= 1, so position 0 stays empty: infeasible with all_used.
    with pytest.raises(InfeasibleError, match="CP-SAT"):
        repair(pinned, p, [0, 0, 0], constraints=cons, method="auto", seed=0)
    assert repair(g, p, [0, 0, 0], constraints=cons, method="cpsat", seed=0).status is RepairStatus.OPTIMAL


def test_bad_arguments():
    g = Graph.from_edges(2, [(0, 1)])
    p = _ring(2)
    with pytest.raises(ValueError, match="method"):
        repair(g, p, [0, 0], method="magic")
    with pytest.raises(mcmcore.InvalidPlacementError):
        repair(g, p, [0, 5])
    with pytest.raises(ValueError, match="weights"):
        repair(g, p, [0, 0], weights=[1.0])


def test_weights_steer_the_choice():
    # 0 -> 1 placed backwards; moving the cheap node is the better repair.
    g = Graph.from_edges(2, [(0, 1)])
    p = _ring(2)
    res = repair(g, p, [1, 0], weights=[10.0, 1.0], method="cpsat", seed=0)
    assert res.placement.tolist() == [1, 1] and res.moved_weight == 1.0
    res = repair(g, p, [1, 0], weights=[1.0, 10.0], method="cpsat", seed=0)
    assert res.placement.tolist() == [0, 0]
    res = repair(g, p, [1, 0], weights=[1.0, 10.0])
    assert res.placement.tolist() == [0, 0] and res.moved_weight == 1.0


@pytest.mark.parametrize("weighted", [False, True])
def test_moved_counts_match_the_placements(weighted):
    # moved / moved_weight are recomputed from the placements (unit weights take a shortcut in the core: the
    # weighted count is the count, no floating-point sum)
    g = layered_dag(300, 420, seed=3)
    p = Package.preset("mesh4x4")
    rng = np.random.default_rng(5)
    w = rng.uniform(0.5, 4.0, g.n_nodes) if weighted else None
    for cons in (Constraints(), Constraints(capacity=False), Constraints(max_skip=2)):
        cand = rng.integers(0, p.n_devices, g.n_nodes).astype(np.int32)
        res = repair(g, p, cand, constraints=cons, weights=w)
        off = res.placement != cand
        assert res.moved == int(off.sum())
        expected = float(np.sum(np.where(off, w, 0.0))) if weighted else float(off.sum())
        assert res.moved_weight == pytest.approx(expected, rel=1e-12)
        if not weighted:
            assert res.moved_weight == res.moved


# ------------------------------------------------------------------------------ SIMD paths agree with portable C
#: the environment that selects each scoring pass (where the processor and the instance allow it)
_PASS_ENV = {"avx512": {}, "avx2": {"MCM_NO_AVX512": "1"}, "portable": {"MCM_NO_AVX512": "1", "MCM_NO_AVX2": "1"}}
_PASS_CODE = {"avx512": 2, "avx2": 3}


def _repairer_with(problem, mp, which):
    from mcmcore import _core

    for var in ("MCM_NO_AVX512", "MCM_NO_AVX2"):
        mp.delenv(var, raising=False)
    for var, val in _PASS_ENV[which].items():
        mp.setenv(var, val)
    try:
        return _core.Repairer(problem)
    finally:
        for var in ("MCM_NO_AVX512", "MCM_NO_AVX2"):
            mp.delenv(var, raising=False)


def _repairers(g, p, cons, monkeypatch, which="avx512"):
    from mcmcore.repair import _problem

    problem, _ = _problem(g, p, cons, None)
    return _repairer_with(problem, monkeypatch, which), _repairer_with(problem, monkeypatch, "portable")


@pytest.mark.parametrize("k,preset_kind", [(16, "mesh"), (8, "ring"), (6, "ring"), (20, "ring"), (36, "mesh"),
                                           (12, "port"), (16, "port-colors")])
@pytest.mark.parametrize("cons", [Constraints(), Constraints(max_skip=2), Constraints(capacity=False),
                                  Constraints(all_used=True)], ids=["default", "skip2", "nocap", "all_used"])
@pytest.mark.parametrize("which", ["avx512", "avx2"])
def test_simd_pass_matches_portable_pass(k, preset_kind, cons, which, monkeypatch):
    """The AVX-512 and AVX2 scoring passes give bit-identical placements to the SSE2 / portable one."""
    if preset_kind.startswith("port") and cons.max_skip is not None:
        pytest.skip("max_skip needs ordered dataflow; port packages resolve to acyclic")
    g0 = layered_dag(600, 900, seed=k)
    rng = np.random.default_rng(k)
    w = rng.uniform(0, 1, g0.n_nodes) * (rng.random(g0.n_nodes) < 0.6)
    color = None
    if preset_kind == "port-colors":  # co-located groups: units of several nodes, weighted majorities
        color = np.where(rng.random(g0.n_nodes) < 0.1, rng.integers(0, 20, g0.n_nodes), -1)
    g = Graph.from_edges(g0.n_nodes, g0.edges, weight_bytes=w, flops=np.ones(g0.n_nodes), color=color)
    sram = float(w.sum()) / k * 1.3
    if preset_kind.startswith("port"):  # acyclic dataflow: the device order comes from the candidate
        p = Package.port(k, bandwidth=1e9, peak_flops=1e12, mem_bw=1e12, sram_bytes=sram)
    elif preset_kind == "mesh":
        side = int(round(k ** 0.5))
        p = Package.mesh(side, side, link_bandwidth=1e9, peak_flops=1e12, mem_bw=1e12, sram_bytes=sram)
    else:
        p = Package.ring(k, link_bandwidth=1e9, peak_flops=1e12, mem_bw=1e12, sram_bytes=sram)
    fast, slow = _repairers(g, p, cons, monkeypatch, which)
    if fast.simd != _PASS_CODE[which]:
        pytest.skip(f"no {which} pass here (processor, or K > 16 / max_skip / pins for AVX2)")
    assert slow.simd in (0, 1)
    X = rng.integers(0, k, (40, g.n_nodes)).astype(np.int32)
    a = fast.run_batch(X, 1)
    b = slow.run_batch(X, 1)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[3], b[3])
    if cons.max_skip is None and not preset_kind.startswith("port"):
        # (max_skip=2 on 36 stages, or a device order drawn from a random candidate, may defeat the heuristic:
        # identically on both passes)
        assert a[3].mean() > 0.9
    # an already valid placement stays as it is on both paths
    ok = a[0][a[3]][:3]
    np.testing.assert_array_equal(fast.run_batch(ok, 1)[0], ok)


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_nodes=12, max_devices=6))
def test_simd_passes_match_portable_pass_small(inst):
    """Edge cases of the scoring passes (one device, one unit, colors, skip, all_used, tight capacity): the same
    placement, moved count and verdict on the AVX-512, AVX2 and portable passes."""
    g, p, cons, cand = inst
    from mcmcore import _core
    from mcmcore.repair import _problem

    try:
        problem, _ = _problem(g, p, cons, None)
    except mcmcore.errors.MCMError:
        return
    with pytest.MonkeyPatch.context() as mp:
        try:
            passes = [_repairer_with(problem, mp, which) for which in ("avx512", "avx2", "portable")]
        except _core.RepairInfeasible:
            return
    b = passes[-1].run(cand)
    for rep in passes[:-1]:
        a = rep.run(cand)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:] == b[1:]

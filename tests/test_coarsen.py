"""Coarsening: acyclic, legal colors / pins / support, exact port-model cost with latencies, uncoarsen."""
import numpy as np
import pytest

from mcmcore import Constraints, Graph, evaluate
from mcmcore.coarsen import coarsen, uncoarsen
from mcmcore.generate import layered_dag, transformer_blocks
from mcmcore.package import Package


def with_latency(g: Graph, seed=0, colors=False) -> Graph:
    rng = np.random.default_rng(seed)
    n = g.n_nodes
    kw = {}
    if colors:
        color = np.full(n, -1)
        color[rng.choice(n, n // 5, replace=False)] = rng.integers(0, 4, n // 5)
        pin = np.full(n, -1)
        pin[rng.choice(n, n // 10, replace=False)] = rng.integers(0, 3, n // 10)
        kw = dict(color=color, pin=pin, backward=rng.random(n) < 0.2)
    return Graph.from_edges(n, g.edges, latency=rng.uniform(0, 1, (n, 2)), comm_time=rng.uniform(0, 0.5, n),
                            weight_bytes=g.weight_bytes, supported=np.c_[rng.random(n) < 0.8, np.ones(n, bool)],
                            **kw)


def hetero():
    return Package.port(3, bandwidth=1.0, peak_flops=1, mem_bw=1, kinds=[0, 0, 1], sram_bytes=np.inf,
                        comm_factor=[1, 1, 0])


@pytest.mark.parametrize("seed", range(3))
def test_cost_is_exact_with_latency(seed):
    g = with_latency(layered_dag(300, seed=seed), seed)
    c, mapping = coarsen(g, target_nodes=60)
    assert c.n_nodes < g.n_nodes
    assert mapping.shape == (g.n_nodes,) and mapping.max() == c.n_nodes - 1
    np.testing.assert_allclose(c.latency.sum(axis=0), g.latency.sum(axis=0))
    assert c.total_weight_bytes == pytest.approx(g.total_weight_bytes)
    rng = np.random.default_rng(seed)
    pkg = hetero()
    for _ in range(5):
        p = rng.integers(0, 3, c.n_nodes)
        rc = evaluate(c, pkg, p, constraints=Constraints.none())
        rf = evaluate(g, pkg, uncoarsen(p, mapping), constraints=Constraints.none())
        assert rf.interval == pytest.approx(rc.interval, rel=1e-9)
        np.testing.assert_allclose(rf.comm, rc.comm, rtol=1e-9, atol=1e-12)


def test_groups_are_legal():
    g = with_latency(layered_dag(400, seed=7), 7, colors=True)
    c, mapping = coarsen(g, exact_comm=False, max_node_share=0.2)
    assert c.n_nodes < g.n_nodes
    for k in range(c.n_nodes):
        members = np.flatnonzero(mapping == k)
        colors = set(g.color[members].tolist()) - {-1}
        pins = set(g.pin[members].tolist()) - {-1}
        assert len(colors) <= 1 and len(pins) <= 1
        assert len(set(g.backward[members].tolist())) == 1
        assert g.supported[members].all(axis=0).any()
        assert c.color[k] == (colors.pop() if colors else -1)
        assert c.pin[k] == (pins.pop() if pins else -1)
        np.testing.assert_array_equal(c.supported[k], g.supported[members].all(axis=0))
    # A valid coarse placement is a valid fine one.
    pkg = hetero()
    p = np.where(c.pin >= 0, c.pin, np.where(c.supported[:, 0], 0, 2))
    rc = evaluate(c, pkg, p, constraints=Constraints(dataflow=None, colors=False))
    rf = evaluate(g, pkg, uncoarsen(p, mapping), constraints=Constraints(dataflow=None, colors=False))
    assert rc.valid == rf.valid


def test_chains_fuse_and_costs_add():
    g = transformer_blocks(2, noise=0)
    c, mapping = coarsen(g)
    assert c.n_nodes < g.n_nodes
    assert c.total_flops == pytest.approx(g.total_flops)
    assert c.n_nodes <= g.n_nodes and (c.flops.max() <= g.flops.max() * (1 + 1e-9) or c.n_nodes == 1)
    # Names come from the first member; every fine node has one coarse node.
    assert len(set(c.names)) == c.n_nodes
    assert coarsen(g, target_nodes=g.n_nodes)[0] is g


def test_uncoarsen_and_errors():
    np.testing.assert_array_equal(uncoarsen([2, 0], [0, 0, 1]), [2, 2, 0])
    with pytest.raises(ValueError):
        uncoarsen([0], [0, 1])
    with pytest.raises(ValueError):
        coarsen(layered_dag(10), target_nodes=0)
    empty = Graph.from_edges(0, [])
    assert coarsen(empty)[0].n_nodes == 0

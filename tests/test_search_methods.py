"""The random, metis, kahypar and multilevel search methods: valid results, determinism, budgets."""
import importlib.util

import numpy as np
import pytest

from mcmcore import partition
from mcmcore.generate import layered_dag
from mcmcore.package import Package
from mcmcore.search import METHODS

_NEEDS = {"metis": "pymetis", "kahypar": "mtkahypar"}
METHOD_NAMES = ["random", "multilevel", "metis", "kahypar"]
PRESETS = ["ring4", "mesh4x4", "port4"]


def _skip_missing(method):
    if method in _NEEDS:
        pytest.importorskip(_NEEDS[method])


@pytest.fixture(scope="module")
def graphs():
    return {n: layered_dag(n, seed=n) for n in (60, 200)}


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_registered(method):
    assert method in METHODS


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("method", METHOD_NAMES)
def test_valid_and_deterministic(method, preset, graphs):
    _skip_missing(method)
    g, pkg = graphs[200 if preset == "mesh4x4" else 60], Package.preset(preset)
    a = partition(g, pkg, method=method, max_evals=40, seed=3, progress=False)
    b = partition(g, pkg, method=method, max_evals=40, seed=3, progress=False, n_threads=1)
    assert a.valid and a.report.valid
    assert a.evals <= 40 + 2
    np.testing.assert_array_equal(a.placement, b.placement)
    assert a.value == b.value


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_time_budget(method, graphs):
    _skip_missing(method)
    r = partition(graphs[200], Package.preset("mesh4x4"), method=method, max_seconds=0.5, seed=0, progress=False)
    assert r.valid
    assert r.seconds < 1.5


def test_random_repair_share_extremes(graphs):
    g, pkg = graphs[60], Package.preset("ring4")
    for share in (0.0, 1.0):
        r = partition(g, pkg, method="random", max_evals=64, seed=1, progress=False, repair_share=share, batch=32)
        assert r.valid and r.evals == 64


def test_unknown_option_is_an_error(graphs):
    with pytest.raises(ValueError, match="unknown"):
        partition(graphs[60], Package.preset("ring4"), method="random", max_evals=8, progress=False, bogus=1)


def test_missing_partitioner_names_the_package(monkeypatch, graphs):
    import builtins

    real_import = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "pymetis":
            raise ImportError("no pymetis here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match="pip install pymetis"):
        partition(graphs[60], Package.preset("ring4"), method="metis", max_evals=8, progress=False)


@pytest.mark.skipif(importlib.util.find_spec("pymetis") is None, reason="pymetis not installed")
def test_metis_colors_share_a_device():
    g0 = layered_dag(80, seed=5)
    color = np.full(g0.n_nodes, -1)
    color[[3, 40, 70]] = 0
    from mcmcore.graph import Graph

    g = Graph.from_edges(g0.n_nodes, g0.edges, flops=g0.flops, mem_bytes=g0.mem_bytes,
                         weight_bytes=g0.weight_bytes, out_bytes=g0.out_bytes, color=color)
    r = partition(g, Package.preset("port4"), method="metis", max_evals=10, progress=False)
    assert r.valid
    assert len(set(r.placement[[3, 40, 70]].tolist())) == 1

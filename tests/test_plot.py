"""mcmcore.plot: placement and convergence figures (Agg, PNG files) on mesh, ring, torus and port packages."""
from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from mcmcore import Package, evaluate  # noqa: E402
from mcmcore.generate import layered_dag  # noqa: E402
from mcmcore.plot import device_positions, plot_convergence, plot_placement  # noqa: E402
from mcmcore.search import History, SearchResult, SearchStatus  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(path) -> None:
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG


@pytest.fixture(scope="module")
def graph():
    return layered_dag(40, seed=3)


def forward_split(graph, package) -> np.ndarray:
    """Contiguous stages along the pipeline order (node ids of a generated DAG are topological)."""
    k = package.n_devices
    return package.order[np.arange(graph.n_nodes) * k // graph.n_nodes].astype(np.int32)


@pytest.mark.parametrize("preset", ["mesh4x4", "ring4", "port4", "torus4x4", "hetero3"])
def test_plot_placement_writes_png(tmp_path, graph, preset):
    package = Package.preset(preset)
    path = tmp_path / f"{preset}.png"
    fig = plot_placement(graph, package, forward_split(graph, package), path=path)
    assert_png(path)
    assert len(fig.axes) >= 3  # package, pipeline (+ its memory axis), colorbar


def test_plot_placement_reuses_a_result_report_and_draws_into_given_axes(graph):
    from matplotlib.figure import Figure

    package = Package.preset("ring4")
    placement = forward_split(graph, package)
    report = evaluate(graph, package, placement)
    result = SearchResult(placement, report, SearchStatus.FEASIBLE, "test", "throughput", report.interval, 0.0,
                          1.0, History(np.array([1]), np.array([0.1]), np.array([report.interval])), 1, 0.1, 0)
    fig = Figure()
    ax = fig.subplots()
    assert plot_placement(graph, package, result, ax=ax) is fig
    fig2 = Figure()
    pair = fig2.subplots(1, 2)
    assert plot_placement(graph, package, result, ax=pair) is fig2


def test_device_positions_follow_the_topology():
    mesh = device_positions(Package.preset("mesh4x4"))
    assert mesh.shape == (16, 2)
    # row-major: device 1 is right of device 0, device 4 below it
    assert mesh[1, 0] > mesh[0, 0] and mesh[1, 1] == mesh[0, 1]
    assert mesh[4, 1] < mesh[0, 1] and mesh[4, 0] == mesh[0, 0]
    ring = device_positions(Package.preset("ring8"))
    radii = np.hypot(ring[:, 0], ring[:, 1])
    assert np.allclose(radii, radii[0]) and len(np.unique(ring.round(6), axis=0)) == 8


def fake_result(method, seed, values, evals, seconds, bound=0.5):
    h = History(np.asarray(evals, dtype=np.int64), np.asarray(seconds, dtype=float), np.asarray(values, dtype=float))
    if not values:
        return SearchResult(None, None, SearchStatus.NO_SOLUTION, method, "throughput", float("inf"), bound, 1.0, h,
                            10, 0.2, seed)
    return SearchResult(None, None, SearchStatus.FEASIBLE, method, "throughput", float(values[-1]), bound, 0.1, h,
                        int(evals[-1]) * 2, float(seconds[-1]) * 2, seed)


@pytest.mark.parametrize("x", ["seconds", "evals"])
def test_plot_convergence(tmp_path, x):
    results = [fake_result("anneal", 0, [2.0, 1.0, 0.8], [1, 10, 100], [0.0, 0.01, 0.1]),
               fake_result("anneal", 1, [1.5, 0.9], [1, 50], [0.001, 0.05]),
               fake_result("random", 0, [], [], [])]
    path = tmp_path / "curves.png"
    fig = plot_convergence(results, path, x=x)
    assert_png(path)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("anneal (seed 0)" in s for s in labels) and any("no solution" in s for s in labels)
    assert any("lower bound" in s for s in labels)
    # a dict names the curves
    fig = plot_convergence({"mine": results[0]}, x=x)
    assert "mine" in fig.axes[0].get_legend().get_texts()[0].get_text()


def test_plot_convergence_rejects_unknown_axis():
    with pytest.raises(ValueError, match="x must be"):
        plot_convergence([], x="minutes")


def test_missing_matplotlib_names_the_extra(monkeypatch, graph):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import matplotlib.figure now fails
    with pytest.raises(ImportError, match=r"mcmcore\[plot\]"):
        plot_convergence([fake_result("anneal", 0, [1.0], [1], [0.1])])

"""`mcm partition` and `mcm compare`, run in-process with tiny budgets (python-mip / CleanRL style)."""
from __future__ import annotations

import json

import pytest

from mcmcore.cli import main
from mcmcore.generate import layered_dag
from mcmcore.io.native import save_graph
from mcmcore.search import METHODS

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("graph") / "g.json"
    save_graph(layered_dag(80), path)
    return str(path)


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_png(path) -> None:
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG


@pytest.mark.parametrize("package, method", [("ring4", "anneal"), ("port4", "dp")])
def test_partition_writes_a_result_that_evaluates_to_the_same_interval(capsys, tmp_path, graph_file, package,
                                                                       method):
    pytest.importorskip("matplotlib")
    out_json, png = tmp_path / "result.json", tmp_path / "placement.png"
    rc, out, _ = run(capsys, "partition", graph_file, "--package", package, "--method", method, "--max-evals", 2000,
                     "--seed", 1, "--no-progress", "--out", out_json, "--plot", png)
    assert rc == 0
    assert f"{method}: " in out and "lower bound" in out and "gap" in out
    doc = json.loads(out_json.read_text())
    assert doc["format"] == "mcmcore-result" and doc["method"] == method and doc["seed"] == 1
    assert doc["status"] in ("feasible", "optimal") and len(doc["placement"]) == 80
    assert doc["report"]["valid"] and 0 <= doc["lower_bound"] <= doc["value"]
    assert_png(png)

    rc, out, _ = run(capsys, "evaluate", graph_file, "--package", package, "--placement", out_json, "--json")
    assert rc == 0
    report = json.loads(out)
    assert report["valid"]
    assert report["interval"] == pytest.approx(doc["value"], rel=1e-9)
    assert report["interval"] == pytest.approx(doc["report"]["interval"], rel=1e-9)


def test_partition_reports_bad_method_and_budget(capsys, graph_file):
    rc, _, err = run(capsys, "partition", graph_file, "--package", "ring4", "--method", "nosuch", "--max-evals", 10,
                     "--no-progress")
    assert rc == 1 and "unknown method 'nosuch'" in err
    with pytest.raises(SystemExit):  # argparse rejects a non-positive budget
        main(["partition", graph_file, "--package", "ring4", "--max-seconds", "0"])


def test_partition_missing_optional_method_is_a_clear_error(capsys, monkeypatch, graph_file):
    monkeypatch.setitem(METHODS, "ghost", "mcmcore.search._no_such_module:run")
    rc, _, err = run(capsys, "partition", graph_file, "--package", "ring4", "--method", "ghost", "--max-evals", 10,
                     "--no-progress")
    assert rc == 1 and "'ghost' is not available" in err


def test_compare_table_json_and_plot(capsys, monkeypatch, tmp_path, graph_file):
    pytest.importorskip("matplotlib")
    # A registered method whose optional dependency is missing is skipped with its reason, not a crash.
    monkeypatch.setitem(METHODS, "ghost", "mcmcore.search._no_such_module:run")
    png = tmp_path / "curves.png"
    rc, out, _ = run(capsys, "compare", graph_file, "--package", "ring4", "--methods", "anneal,dp,ghost",
                     "--max-evals", 2000, "--seeds", "0,1", "--no-progress", "--plot", png, "--json")
    assert rc == 0
    doc = json.loads(out)
    rows = doc["runs"]
    assert [(r["method"], r["seed"]) for r in rows] == [("anneal", 0), ("anneal", 1), ("dp", 0), ("dp", 1),
                                                        ("ghost", 0)]
    ghost = rows[-1]
    assert ghost["status"] == "skipped" and "not available" in ghost["note"] and ghost["value"] is None
    ran = rows[:-1]
    assert all(r["status"] in ("feasible", "optimal") for r in ran)
    best = min(r["value"] for r in ran)
    assert doc["best"] == pytest.approx(best)
    assert min(r["vs_best"] for r in ran) == 0.0
    assert all(r["vs_best"] == pytest.approx(r["value"] / best - 1) for r in ran)
    assert all(0 <= doc["lower_bound"] <= r["value"] for r in ran)
    # every gap is against the best bound of the comparison
    assert all(r["gap"] == pytest.approx((r["value"] - doc["lower_bound"]) / r["value"], abs=1e-12) for r in ran)
    assert all(r["evals"] <= 2000 and r["evals_per_s"] > 0 for r in ran)
    assert_png(png)

    rc, out, _ = run(capsys, "compare", graph_file, "--package", "port4", "--methods", "dp,ghost",
                     "--max-seconds", 0.3, "--no-progress")
    assert rc == 0
    assert "dp" in out and "skipped" in out and "gap" in out and "vs best" in out


def test_compare_rejects_unknown_methods(capsys, graph_file):
    rc, _, err = run(capsys, "compare", graph_file, "--package", "ring4", "--methods", "anneal,nosuch",
                     "--max-evals", 10, "--no-progress")
    assert rc == 1 and "nosuch" in err

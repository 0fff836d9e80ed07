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


# -------------------------------------------------------------------------------------- interrupts, --start
def _interrupting(wrap_like_numba: bool):
    """A method that finds a placement, then is interrupted: a KeyboardInterrupt, or the SystemError a compiled
    (numba) call turns it into when Ctrl-C arrives inside it."""
    from mcmcore.search import anneal

    def run(problem, tracker, *, seed=0, n_threads=None, **options):
        with tracker.narrowed(0.5):
            anneal.run(problem, tracker, seed=seed, n_threads=1)
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            if not wrap_like_numba:
                raise
            raise SystemError("CPUDispatcher(<function _dp>) returned a result with an exception set") from ki
    return run


@pytest.fixture
def interrupting_methods(monkeypatch):
    monkeypatch.setitem(METHODS, "ctrl-c", _interrupting(False))
    monkeypatch.setitem(METHODS, "ctrl-c-numba", _interrupting(True))


@pytest.mark.parametrize("method", ["ctrl-c", "ctrl-c-numba"])
def test_interrupted_partition_keeps_the_best_and_continues_with_start(capsys, tmp_path, graph_file,
                                                                       interrupting_methods, method):
    out_json = tmp_path / "r.json"
    rc, out, err = run(capsys, "partition", graph_file, "--package", "ring4", "--method", method, "--max-evals",
                       400, "--no-progress", "--out", out_json)
    assert rc == 130 and "interrupted" in err and f"--start {out_json}" in err
    doc = json.loads(out_json.read_text())
    assert doc["info"]["interrupted"] and doc["report"]["valid"]
    rc, out, err = run(capsys, "partition", graph_file, "--package", "ring4", "--method", "anneal", "--max-evals",
                       50, "--no-progress", "--start", out_json, "--out", tmp_path / "r2.json")
    assert rc == 0
    doc2 = json.loads((tmp_path / "r2.json").read_text())
    assert doc2["value"] <= doc["value"] and doc2["info"]["started_from"] == pytest.approx(doc["value"])
    assert doc2["history"]["best"][0] == pytest.approx(doc["value"])  # the first evaluation is the start


def test_a_system_error_that_is_not_an_interrupt_propagates(monkeypatch, graph_file):
    from mcmcore.io.native import load_graph
    from mcmcore import Package
    from mcmcore.search import partition

    def broken(problem, tracker, **kw):
        tracker.offer([0] * problem.graph.n_nodes)
        raise SystemError("a real bug")

    monkeypatch.setitem(METHODS, "broken", broken)
    with pytest.raises(SystemError, match="a real bug"):
        partition(load_graph(graph_file), Package.preset("ring4"), method="broken", max_evals=10, progress=False)


def test_start_must_fit_the_graph(capsys, tmp_path, graph_file):
    (tmp_path / "short.json").write_text("[0, 1]")
    rc, _, err = run(capsys, "partition", graph_file, "--package", "ring4", "--max-evals", 10, "--no-progress",
                     "--start", tmp_path / "short.json")
    assert rc == 1 and "2 entries" in err


def test_interrupted_compare_stops_and_marks_the_cut_run(capsys, graph_file, interrupting_methods):
    rc, out, err = run(capsys, "compare", graph_file, "--package", "ring4", "--methods", "random,ctrl-c,anneal",
                       "--max-evals", 300, "--no-progress", "--json")
    assert rc == 130 and "interrupted" in err
    rows = json.loads(out)["runs"]
    assert [(r["method"], r["status"]) for r in rows][1] == ("ctrl-c", "interrupted")
    assert [r["method"] for r in rows] == ["random", "ctrl-c"]  # anneal never started


def test_sigterm_to_mcm_partition_writes_the_best_so_far(tmp_path, graph_file):
    """`kill PID` (as a batch scheduler or `timeout` sends it) keeps the best placement, as Ctrl-C does."""
    import signal
    import subprocess
    import sys
    import time

    out_json, marker = tmp_path / "r.json", tmp_path / "found"
    code = f"""
import sys
from pathlib import Path
from mcmcore.cli import main
from mcmcore.search import METHODS, random_search

def run(problem, tracker, **kw):  # random search that says when it has a placement
    tracker.on_improve = lambda t: Path({str(marker)!r}).touch()
    random_search.run(problem, tracker, **kw)

METHODS["marked"] = run
sys.exit(main(["partition", {graph_file!r}, "--package", "ring4", "--method", "marked", "--max-seconds", "300",
               "--out", {str(out_json)!r}]))
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not marker.exists():
            time.sleep(0.05)
        assert marker.exists() and proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out + err).decode(errors="replace")
    assert b"interrupted" in err and b"--start" in err
    doc = json.loads(out_json.read_text())
    assert doc["info"]["interrupted"] and doc["report"]["valid"] and doc["seconds"] < 200

"""Sweeps: spec expansion and trial ids, the results file (append, resume, repair), failing trials, the local
process pool, resume after SIGKILL, the CLI and the example spec. The Ray backend is in test_sweep_ray.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mcmcore.cli import main
from mcmcore.generate import layered_dag
from mcmcore.io.native import save_graph
from mcmcore.sweep import (SweepResultsError, SweepSpecError, expand_spec, plot_summary, read_results, run_trial,
                           summarize, sweep)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def small_spec(tmp_path: Path, **changes) -> dict:
    path = tmp_path / "g.json"
    if not path.exists():
        save_graph(layered_dag(40, seed=2, name="layered40"), path)
    spec = {"graphs": ["resnet50", str(path)], "packages": ["ring4"],
            "methods": [{"name": "anneal", "max_evals": 200}, {"name": "random", "max_evals": 200}],
            "seeds": [0, 1]}
    spec.update(changes)
    return spec


def without_timings(records) -> dict:
    out = {}
    for r in records:
        r = dict(r)
        r.pop("timings")
        out[r["trial_id"]] = r
    return out


# ------------------------------------------------------------------------------------------------ spec
def test_expand_spec_ids_are_stable_and_unique(tmp_path):
    trials = expand_spec(small_spec(tmp_path))
    assert len(trials) == 2 * 1 * 2 * 2
    assert len({t.trial_id for t in trials}) == len(trials)
    again = expand_spec(small_spec(tmp_path))
    assert [t.trial_id for t in again] == [t.trial_id for t in trials]
    # the same trial in another spec keeps its id; a listed duplicate runs once
    other = expand_spec(small_spec(tmp_path, seeds=[1], packages=["ring4", "ring4"]))
    assert {t.trial_id for t in other} <= {t.trial_id for t in trials} and len(other) == 4
    assert trials[0].inputs["package"]["topology"] == "ring"
    assert trials[0].labels == {"graph": "resnet50", "package": "ring4", "method": "anneal"}


def test_expand_spec_training_space_and_random_sampling(tmp_path):
    spec = {"graphs": ["vit-b16:train", {"zoo": "gpt2"}],
            "packages": [{"space": {"base": "ring4", "link_bandwidth": [50e9, 100e9], "sram_bytes": [2**28]}}],
            "methods": ["anneal"], "max_evals": 100, "seeds": 3}
    trials = expand_spec(spec)
    assert len(trials) == 2 * 2 * 3
    assert trials[0].inputs["graph"] == {"zoo": "vit-b16", "training": True}
    assert {t.inputs["package"]["link_bandwidth"] for t in trials} == {50e9, 100e9}
    sampled = expand_spec({**spec, "sampling": {"random": 5, "seed": 1}})
    assert len(sampled) == 5 and {t.trial_id for t in sampled} <= {t.trial_id for t in trials}
    assert [t.trial_id for t in sampled] == [t.trial_id for t in expand_spec({**spec, "sampling": {"random": 5,
                                                                                                    "seed": 1}})]


@pytest.mark.parametrize("change, match", [
    ({"graphs": ["no-such-model"]}, "neither a zoo model"),
    ({"packages": ["ring99"]}, "neither a preset"),
    ({"methods": [{"name": "annealing", "max_evals": 10}]}, "unknown method 'annealing'"),
    ({"methods": [{"name": "anneal"}]}, "needs a budget"),
    ({"methods": [{"name": "anneal", "max_evals": 0}]}, "max_evals must be a positive integer, got 0"),
    ({"seeds": "zero"}, "seeds must be"),
    ({"sampling": "latin"}, "sampling must be"),
    ({"graph": ["resnet50"]}, "unknown sweep spec field"),
    ({"packages": [{"space": {"base": "mesh4x4", "sram_bytes": []}}]},
     "package space field 'sram_bytes' has no values"),
    ({"packages": [{"space": 5}]}, "package space must be a mapping .* got 5"),
    ({"max_seconds": float("inf"), "methods": ["anneal"]}, "max_seconds must be a positive finite number, got inf"),
    ({"methods": [{"name": "anneal", "max_seconds": float("nan")}]}, "max_seconds must be a positive finite number"),
    ({"methods": [{"name": "anneal", "max_seconds": True}]}, "max_seconds must be a positive finite number"),
    ({"methods": [{"name": ["anneal"], "max_evals": 10}]}, "a method entry is a name or a mapping with 'name'"),
    ({"graphs": [{"file": 5}]}, "a graph file entry is {file: PATH}, got {'file': 5}"),
    ({"seeds": [-1]}, "seeds must be a list of integers in 0..2\\*\\*63-1"),
    ({"sampling": {"random": 2, "seed": "x"}}, "sampling.seed must be an integer"),
])
def test_bad_specs_are_rejected_with_the_value(tmp_path, change, match):
    with pytest.raises(SweepSpecError, match=match):
        expand_spec(small_spec(tmp_path, **change))


def test_spec_files_that_are_not_text_are_named(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"\xff\xfe\x00graphs\x80")
    with pytest.raises(SweepSpecError, match=r"spec.yaml: not a text file \(not UTF-8"):
        expand_spec(path)
    path.write_text(yaml.safe_dump(small_spec(tmp_path, max_seconds=float("inf"), methods=["anneal"])))
    with pytest.raises(SweepSpecError, match="max_seconds must be a positive finite number, got inf"):
        expand_spec(path)


# ------------------------------------------------------------------------------------------------ results file
GOOD_RECORD = {"format": "mcmcore-sweep-trial", "trial_id": "a1", "inputs": {"method": "anneal"},
               "labels": {"graph": "g", "package": "ring4", "method": "anneal"}, "status": "feasible",
               "result": {"value": 1e-3}, "timings": {"trial_s": 0.5}}


def test_incomplete_records_are_skipped_with_their_line_number(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    lines = [{"format": "mcmcore-sweep-trial", "trial_id": "x"},  # a partial record
             {**GOOD_RECORD, "trial_id": "b", "result": {"value": "fast"}},
             {**GOOD_RECORD, "trial_id": "c", "timings": None},
             {**GOOD_RECORD, "trial_id": "d", "status": "done"},
             GOOD_RECORD, [1, 2]]
    out.write_text("\n".join(json.dumps(x) for x in lines) + "\n{not json\n")
    records = read_results(out)
    assert [r["trial_id"] for r in records] == ["a1"]
    err = capsys.readouterr().err
    for n, what in [(1, "'inputs'"), (2, "'result.value'"), (3, "'timings'"), (4, "'status'"),
                    (6, "JSON object"), (7, "unreadable")]:
        assert f"line {n}" in err and what in err
    assert "line 5" not in err
    assert summarize(records)[0]["best"] == 1e-3
    with pytest.raises(SweepResultsError, match="trial record 0 is not complete: 'inputs'"):
        summarize([{"trial_id": "x"}])


def test_report_on_an_empty_file_or_a_folder_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(SweepResultsError, match="no trials in empty.jsonl"):
        plot_summary(summarize(read_results(empty)), title=empty.name)
    with pytest.raises(SweepResultsError, match="is a folder"):
        read_results(tmp_path)
    with pytest.raises(SweepResultsError, match="is a folder"):
        sweep(small_spec(tmp_path, graphs=["resnet50"]), out=tmp_path, progress=False)
    assert main(["sweep-report", str(empty), "--plot", str(tmp_path / "e.png")]) == 1
    assert "no trials in empty.jsonl" in capsys.readouterr().err
    assert main(["sweep-report", str(tmp_path)]) == 1
    assert f"{tmp_path} is a folder, not a results file" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"format": "mcmcore-sweep-trial", "trial_id": "x"}) + "\n" + json.dumps(GOOD_RECORD)
                   + "\n")
    assert main(["sweep-report", str(bad)]) == 0
    captured = capsys.readouterr()
    assert "1 trials, 0 failed" in captured.out and "skipping line 1" in captured.err


# ------------------------------------------------------------------------------------------------ running
def test_failing_trial_is_recorded_and_the_sweep_continues(tmp_path):
    spec = small_spec(tmp_path, methods=[{"name": "anneal", "max_evals": 200, "options": {"no_such_option": 1}},
                                         {"name": "random", "max_evals": 200}])
    out = tmp_path / "r.jsonl"
    res = sweep(spec, out=out, n_workers=2, progress=False)
    assert res.n_trials == 8 and res.n_run == 8 and res.n_failed == 4
    records = read_results(out)
    assert len(records) == 8
    failed = [r for r in records if r["status"] == "error"]
    assert len(failed) == 4 and all(r["inputs"]["method"] == "anneal" for r in failed)
    assert "no_such_option" in failed[0]["error"]["message"] and failed[0]["error"]["type"] == "ValueError"
    ok = [r for r in records if r["status"] != "error"]
    assert all(r["result"]["value"] > 0 and len(r["result"]["placement"]) > 0 for r in ok)
    assert set(ok[0]["versions"]) == {"mcmcore", "numpy", "python"}
    rows = summarize(records)
    assert sum(r["failed"] for r in rows) == 4 and sum(r["trials"] for r in rows) == 8
    # resuming runs nothing; resume=False starts again
    again = sweep(spec, out=out, n_workers=2, progress=False)
    assert again.n_run == 0 and again.n_skipped == 8 and len(read_results(out)) == 8
    assert without_timings(again.records) == without_timings(records)


def test_trial_is_deterministic_in_process():
    trial = expand_spec({"graphs": ["resnet50"], "packages": ["mesh4x4"],
                         "methods": [{"name": "anneal", "max_evals": 300}], "seeds": [3]})[0]
    a, b = run_trial(trial), run_trial(trial)
    assert a["status"] in ("feasible", "optimal")
    a.pop("timings"), b.pop("timings")
    assert a == b


def test_truncated_last_line_is_repaired(tmp_path):
    spec = small_spec(tmp_path, graphs=["resnet50"], methods=[{"name": "random", "max_evals": 100}])
    out = tmp_path / "r.jsonl"
    sweep(spec, out=out, n_workers=1, progress=False)
    whole = out.read_bytes()
    lines = whole.splitlines(keepends=True)
    out.write_bytes(lines[0] + lines[1][: len(lines[1]) // 2])  # a write cut by a crash
    assert len(read_results(out)) == 1
    res = sweep(spec, out=out, n_workers=1, progress=False)
    assert res.n_skipped == 1 and res.n_run == 1
    records = read_results(out)
    assert len(records) == 2 and out.read_bytes().count(b"\n") == 2


def test_sigkilled_sweep_resumes_to_the_same_set(tmp_path):
    spec = small_spec(tmp_path, graphs=["resnet50"], methods=[{"name": "random", "max_evals": 10000}],
                      seeds=list(range(8)))
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "killed.jsonl"
    code = (f"from mcmcore.sweep import sweep; sweep({str(spec_path)!r}, out={str(out)!r}, n_workers=1, "
            f"progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker, mid-sweep
        proc.wait()
    n_before = out.read_bytes().count(b"\n")
    assert 3 <= n_before < 8  # killed mid-sweep
    with open(out, "ab") as f:  # as if the kill had cut a write
        f.write(b'{"trial_id": "0123')
    resumed = sweep(spec_path, out=out, n_workers=2, progress=False)
    assert resumed.n_skipped == n_before and resumed.n_run == 8 - n_before
    ids = [json.loads(line)["trial_id"] for line in out.read_bytes().splitlines()]
    assert len(ids) == 8 == len(set(ids))
    fresh = sweep(spec_path, out=tmp_path / "fresh.jsonl", n_workers=2, progress=False)
    assert without_timings(read_results(out)) == without_timings(fresh.records)


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (from /proc; zombies excluded)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_the_sweep_process_alone_leaves_no_worker_behind(tmp_path, sig):
    """`kill PID` (SIGTERM) of `mcm sweep` stops its workers and keeps the finished trials; after SIGKILL, which
    cannot be handled, the workers notice their parent is gone and exit."""
    spec = small_spec(tmp_path, graphs=["resnet50"], methods=[{"name": "random", "max_evals": 300000}],
                      seeds=list(range(12)))
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "r.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "mcmcore.cli", "sweep", str(spec_path), "--out", str(out),
                             "--workers", "2", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    workers = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 1:
                workers = [c for c in _children(proc.pid)]
                if len(workers) >= 2:
                    break
            time.sleep(0.05)
        assert proc.poll() is None and workers, "the sweep finished before it could be killed"
        proc.send_signal(sig)  # the sweep process only, as `kill PID` does
        _, err = proc.communicate(timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)]
        if sig == signal.SIGTERM:
            assert proc.returncode == 130 and b"kept in" in err
        kept = read_results(out)
        assert 1 <= len(kept) < 12 and all(r["result"]["value"] > 0 for r in kept)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


# ------------------------------------------------------------------------------------------------ CLI, example
def test_cli_sweep_and_report(tmp_path, capsys):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(small_spec(tmp_path, seeds=[0])))
    out, png = tmp_path / "r.jsonl", tmp_path / "r.png"
    rc = main(["sweep", str(spec_path), "--out", str(out), "--workers", "2", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0 and "4 run (0 failed)" in text
    pytest.importorskip("matplotlib")
    rc = main(["sweep-report", str(out), "--plot", str(png), "--json", str(tmp_path / "t.json")])
    text = capsys.readouterr().out
    assert rc == 0 and "resnet50" in text and "\ng " in text and "4 trials, 0 failed" in text
    assert png.stat().st_size > 1000 and len(json.loads((tmp_path / "t.json").read_text())) == 4
    assert main(["sweep-report", str(tmp_path / "missing.jsonl")]) == 1


def test_example_spec_runs_with_tiny_budgets(tmp_path):
    doc = yaml.safe_load((EXAMPLES / "sweep.yaml").read_text())
    trials = expand_spec(EXAMPLES / "sweep.yaml")
    assert len(trials) == 16 and len(doc["packages"]) == 2 and len(doc["methods"]) == 2
    for m in doc["methods"]:
        m["max_evals"] = 100
    res = sweep(doc, out=tmp_path / "r.jsonl", n_workers=2, progress=False)
    assert res.n_run == 16 and res.n_failed == 0


def test_package_labels_keep_changed_presets_apart():
    spec = {"graphs": ["resnet50"], "methods": [{"name": "random", "max_evals": 10}], "seeds": [0],
            "packages": ["ring8", {"preset": "ring8", "link_bandwidth": 1e9}, {"preset": "ring8", "name": "slow"},
                     {"preset": "ring8", "link_bandwidth": 1e9, "hop_latency": 1e-9}]}
    labels = [t.labels["package"] for t in expand_spec(spec)]
    assert labels == ["ring8", "ring8(link_bandwidth=1e+09)", "slow",
                      "ring8(link_bandwidth=1e+09,hop_latency=1e-09)"]


# ------------------------------------------------------------------------------------------------ failures on resume
def failing_spec() -> dict:
    """4 trials: 2 that run, 2 that fail deterministically (an option the method does not take)."""
    return {"graphs": ["resnet50"], "packages": ["ring4"],
            "methods": [{"name": "random", "max_evals": 100},
                        {"name": "anneal", "max_evals": 100, "options": {"no_such_option": 1}}],
            "seeds": [0, 1]}


def test_transient_failures_run_again_on_resume_and_kept_failures_still_fail_the_sweep(tmp_path, capsys):
    from mcmcore.sweep import _lost_record

    spec = failing_spec()
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "r.jsonl"
    first = sweep(spec, out=out, n_workers=1, progress=False)
    assert (first.n_run, first.n_failed) == (4, 2)
    # the worker of one trial was killed (an OOM kill, kill -9) more often than max_retries: its record is WorkerLost
    lost = next(t for t in expand_spec(spec) if t.inputs["method"] == "random")
    lines = [line for line in out.read_bytes().splitlines(keepends=True)
             if json.loads(line)["trial_id"] != lost.trial_id]
    out.write_bytes(b"".join(lines) + (json.dumps(_lost_record(lost, "worker process died 4 times")) + "\n").encode())

    resumed = sweep(spec, out=out, n_workers=1, progress=False)
    assert resumed.n_run == 1 and resumed.n_failed == 0  # only the lost trial runs again
    assert resumed.n_retried == 1
    assert (resumed.n_skipped, resumed.n_failed_earlier, resumed.n_failed_total) == (3, 2, 2)
    assert str(resumed).startswith("4 trials: 1 already done, 2 failed earlier (kept; --retry-failed reruns them), "
                                   "1 run (0 failed; 1 retried after failing earlier)")
    # the file is append-only: the lost trial has two records, and readers take the newest
    assert out.read_bytes().count(b"\n") == 5
    newest = {r["trial_id"]: r for r in read_results(out)}
    assert len(newest) == 4 and newest[lost.trial_id]["result"]["value"] > 0
    assert [r["trial_id"] for r in resumed.records] == [t.trial_id for t in expand_spec(spec)]
    assert {(r["method"], r["failed"]) for r in summarize(read_results(out))} == {("random", 0), ("anneal", 2)}

    # a rerun "to continue" runs nothing, but does not report success while failures remain in the file
    assert main(["sweep", str(spec_path), "--out", str(out), "--workers", "1", "--no-progress"]) == 4
    text = capsys.readouterr().out
    assert "2 already done, 2 failed earlier (kept; --retry-failed reruns them), 0 run (0 failed)" in text
    # --retry-failed runs the deterministic failures again (they fail again)
    assert main(["sweep", str(spec_path), "--out", str(out), "--workers", "1", "--no-progress",
                 "--retry-failed"]) == 4
    assert "2 run (2 failed; 2 retried after failing earlier)" in capsys.readouterr().out
    assert out.read_bytes().count(b"\n") == 7 and len(read_results(out)) == 4
    assert main(["sweep-report", str(out)]) == 0
    assert "4 trials, 2 failed" in capsys.readouterr().out


def test_readers_take_the_newest_record_of_a_trial(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    failed = {**GOOD_RECORD, "status": "error", "result": None, "error": {"type": "WorkerLost", "message": "x"}}
    other = {**GOOD_RECORD, "trial_id": "b2"}
    out.write_text("".join(json.dumps(r) + "\n" for r in (failed, other, GOOD_RECORD)))
    assert [(r["trial_id"], r["status"]) for r in read_results(out)] == [("b2", "feasible"), ("a1", "feasible")]
    assert main(["sweep-report", str(out)]) == 0
    assert "2 trials, 0 failed" in capsys.readouterr().out


def test_an_interrupted_search_is_a_transient_failure_not_a_result(monkeypatch):
    """Ctrl-C reaches the workers too; a search that returns its best so far must not be recorded as the trial's
    result (it would never run again)."""
    from mcmcore.search import METHODS
    from mcmcore.search.random_search import run as random_run

    def cut(problem, tracker, **kw):
        random_run(problem, tracker, **kw)
        raise KeyboardInterrupt

    monkeypatch.setitem(METHODS, "cut", cut)
    trial = expand_spec({"graphs": ["resnet50"], "packages": ["ring4"], "methods": [{"name": "cut", "max_evals": 50}],
                         "seeds": [0]})[0]
    record = run_trial(trial)
    assert record["status"] == "error" and record["result"] is None and record["error"]["type"] == "Interrupted"
    from mcmcore.sweep import is_transient_failure

    assert is_transient_failure(record)
    assert not is_transient_failure({**record, "error": {"type": "ValueError", "message": "no_such_option"}})
    assert not is_transient_failure({**record, "status": "feasible", "error": None})


# ------------------------------------------------------------------------------------------------ one writer per file
def test_a_second_sweep_on_the_same_file_fails_at_once_and_changes_nothing(tmp_path, capsys):
    import fcntl

    spec = small_spec(tmp_path, graphs=["resnet50"], methods=[{"name": "random", "max_evals": 100}])
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "r.jsonl"
    sweep(spec, out=out, n_workers=1, progress=False)
    with open(out, "rb") as f:  # drop one trial: the second sweep would have work to do
        first_line = f.readline()
    out.write_bytes(first_line)
    with open(out, "ab") as held:  # the lock of a sweep that is running
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for resume in (True, False):
            with pytest.raises(SweepResultsError, match="another sweep is writing to .*r.jsonl"):
                sweep(spec, out=out, resume=resume, n_workers=1, progress=False)
        assert main(["sweep", str(spec_path), "--out", str(out), "--no-resume", "--no-progress"]) == 1
        assert "another sweep is writing to" in capsys.readouterr().err
        assert out.read_bytes() == first_line  # neither emptied nor appended to
    res = sweep(spec, out=out, n_workers=1, progress=False)  # the lock released: it runs
    assert res.n_skipped == 1 and res.n_run == 1


def test_the_lock_is_released_on_interrupt_and_resume_in_the_same_process_works(tmp_path, monkeypatch):
    import fcntl
    import importlib

    sweep_module = importlib.import_module("mcmcore.sweep")  # `import mcmcore.sweep as m` gives the function

    spec = small_spec(tmp_path, graphs=["resnet50"], methods=[{"name": "random", "max_evals": 100}], seeds=[0, 1, 2])
    out = tmp_path / "r.jsonl"

    def one_then_ctrl_c(trials, n_workers, max_retries):
        yield run_trial(trials[0])
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(sweep_module, "_run_local", one_then_ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            sweep(spec, out=out, n_workers=1, progress=False)
    with open(out, "ab") as f:  # free again
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(f, fcntl.LOCK_UN)
    res = sweep(spec, out=out, n_workers=1, progress=False)
    assert (res.n_skipped, res.n_run) == (1, 2) and len(read_results(out)) == 3


# ------------------------------------------------------------------------------------------------ not a results file
def test_a_file_that_is_not_a_results_file_is_refused_and_left_untouched(tmp_path, capsys):
    spec = small_spec(tmp_path, graphs=["resnet50"], methods=[{"name": "random", "max_evals": 50}], seeds=[0])
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    placement = tmp_path / "placement.json"
    assert main(["partition", "resnet50", "--package", "ring4", "--method", "random", "--max-evals", "50",
                 "--out", str(placement)]) == 0
    capsys.readouterr()
    message = r"placement.json is not a sweep results file \(no trial records\); choose another --out"
    for content in (placement.read_bytes(), b'{"placement": [0, 1]}', b"notes\nmore notes\n"):
        placement.write_bytes(content)
        for resume in (True, False):
            with pytest.raises(SweepResultsError, match=message):
                sweep(spec, out=placement, resume=resume, n_workers=1, progress=False)
            assert placement.read_bytes() == content
        assert main(["sweep", str(spec_path), "--out", str(placement), "--no-progress"]) == 1
        err = capsys.readouterr().err
        assert "is not a sweep results file" in err and "skipping" not in err  # one error, not a line per line
        assert placement.read_bytes() == content
    # a first record cut by a kill is a results file: repaired, as a torn last line is
    placement.write_bytes(b'{"error":null,"format":"mcmcore-sweep-tr')
    res = sweep(spec, out=placement, n_workers=1, progress=False)
    assert res.n_run == 1 and placement.read_bytes().count(b"\n") == 1 and len(read_results(placement)) == 1

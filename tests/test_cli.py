"""The ``mcm`` command line, run in-process through ``mcmcore.cli.main`` (and as a real process for --help, the
``python -m`` form and the installed ``mcm`` script)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcmcore import Constraints, Package, evaluate
from mcmcore.cli import COMMANDS, main
from mcmcore.generate import layered_dag
from mcmcore.io.native import save_graph

N = 12
#: Forward along ring4's pipeline order (0, 1, 2, 3): valid under every default constraint.
FORWARD = np.arange(N) * 4 // N
#: The same split run backwards: breaks the ordered dataflow constraint of a ring.
BACKWARD = 3 - FORWARD
#: Half the nodes on device 0, half on device 3: a pipeline step of 3 positions.
SKIP = np.r_[[0] * (N // 2), [3] * (N - N // 2)]


@pytest.fixture
def graph(tmp_path):
    g = layered_dag(N, seed=1)
    path = tmp_path / "g.json"
    save_graph(g, path)
    return g, str(path)


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def write_placement(path: Path, placement, form: str) -> str:
    placement = [int(x) for x in placement]
    if form == "list":
        path = path.with_suffix(".json")
        path.write_text(json.dumps(placement))
    elif form == "result":
        path = path.with_suffix(".json")
        path.write_text(json.dumps({"placement": placement, "interval": 1.0, "method": "greedy"}))
    elif form == "npy":
        path = path.with_suffix(".npy")
        np.save(path, np.asarray(placement, dtype=np.int64))
    elif form == "text":
        path = path.with_suffix(".txt")
        path.write_text("\n".join(map(str, placement)) + "\n")
    else:  # pragma: no cover
        raise ValueError(form)
    return str(path)


def as_json(report) -> dict:
    """What ``--json`` should print for ``report``, after a JSON round trip."""
    return json.loads(json.dumps(report.to_dict()))


def assert_one_line_error(rc: int, err: str, *needles: str, command: str = "evaluate") -> None:
    assert rc == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"mcm {command}: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, err)


# ---------------------------------------------------------------------------------------------- help, version
def test_help_lists_every_registered_command(capsys):
    assert {"evaluate", "presets"} <= set(COMMANDS)
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mcm")
    for name, (help_text, _add, _run) in COMMANDS.items():
        assert name in out
        assert help_text.split()[0] in out


def test_subcommand_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--package", "--placement", "--json", "--overlap", "--no-overlap", "--dataflow", "--max-skip",
                 "--all-used", "--no-capacity"):
        assert flag in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: mcm" in capsys.readouterr().out


def test_version(capsys):
    from mcmcore import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mcmcore {__version__}"


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "g.json"])  # --package and --placement are required
    assert info.value.code == 2
    assert "--package" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2


def _mcm_script() -> str:
    found = Path(sys.executable).parent / "mcm"
    if found.exists():
        return str(found)
    found = shutil.which("mcm")
    if found is None:
        pytest.skip("the mcm entry point is not installed")
    return found


def test_python_m_and_entry_point(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for cmd in ([sys.executable, "-m", "mcmcore.cli", "--help"], [_mcm_script(), "--help"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage: mcm")
        for name in COMMANDS:
            assert name in done.stdout
    # The script turns main()'s return value into the process exit code, and errors are one line.
    missing = tmp_path / "missing.json"
    done = subprocess.run([_mcm_script(), "evaluate", str(missing), "--package", "ring4", "--placement",
                           str(tmp_path / "p.json")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert_one_line_error(done.returncode, done.stderr, str(missing))


# ----------------------------------------------------------------------------------------------------- presets
def test_presets_table(capsys):
    rc, out, _ = run(capsys, "presets")
    assert rc == 0
    for name in Package.presets():
        assert name in out


def test_presets_json(capsys):
    rc, out, _ = run(capsys, "presets", "--json")
    assert rc == 0
    specs = json.loads(out)
    assert list(specs) == list(Package.presets())
    for name, spec in specs.items():
        assert Package.from_spec(spec) == Package.preset(name)


# ---------------------------------------------------------------------------------------------------- evaluate
@pytest.mark.parametrize("form", ["list", "result", "npy", "text"])
def test_evaluate_placement_forms(capsys, tmp_path, graph, form):
    g, gpath = graph
    place = write_placement(tmp_path / "p", FORWARD, form)
    rc, out, err = run(capsys, "evaluate", gpath, "--package", "ring4", "--placement", place, "--json")
    assert rc == 0, err
    got = json.loads(out)
    assert got == as_json(evaluate(g, Package.preset("ring4"), FORWARD))
    assert got["valid"] is True


def test_evaluate_table(capsys, tmp_path, graph):
    g, gpath = graph
    place = write_placement(tmp_path / "p", FORWARD, "list")
    rc, out, _ = run(capsys, "evaluate", gpath, "--package", "ring4", "--placement", place)
    assert rc == 0
    assert g.name in out and "valid" in out and "INVALID" not in out
    assert "devices" in out and "busiest links" in out and "violations:" in out


def test_evaluate_package_spec_file(capsys, tmp_path, graph):
    g, gpath = graph
    spec = tmp_path / "pkg.json"
    spec.write_text(json.dumps({"preset": "ring4", "sram_bytes": 1e6}))
    place = write_placement(tmp_path / "p", FORWARD, "list")
    rc, out, _ = run(capsys, "evaluate", gpath, "--package", spec, "--placement", place, "--json")
    assert rc == 3
    got = json.loads(out)
    assert got == as_json(evaluate(g, Package.from_spec({"preset": "ring4", "sram_bytes": 1e6}), FORWARD))
    assert got["violations"]["capacity"] > 0


def test_invalid_placement_exit_3(capsys, tmp_path, graph):
    g, gpath = graph
    place = write_placement(tmp_path / "p", BACKWARD, "list")
    rc, out, _ = run(capsys, "evaluate", gpath, "--package", "ring4", "--placement", place, "--json")
    assert rc == 3
    got = json.loads(out)
    assert got["valid"] is False and got["violations"]["dataflow"] > 0
    assert got == as_json(evaluate(g, Package.preset("ring4"), BACKWARD))
    rc, out, _ = run(capsys, "evaluate", gpath, "--package", "ring4", "--placement", place)
    assert rc == 3
    assert "INVALID" in out


def test_text_placement_with_a_byte_order_mark(capsys, tmp_path, graph):
    _, gpath = graph
    place = tmp_path / "p.txt"
    place.write_bytes(b"\xef\xbb\xbf" + "\n".join(str(int(d)) for d in FORWARD).encode())
    rc, _, _ = run(capsys, "evaluate", gpath, "--package", "ring4", "--placement", place)
    assert rc == 0


def test_one_node_text_placement(capsys, tmp_path):
    """A one-line text file holding a single id is a placement, even though it also parses as a JSON number."""
    g = layered_dag(1)
    gpath = tmp_path / "one.json"
    save_graph(g, gpath)
    place = tmp_path / "p.txt"
    place.write_text("2\n")
    rc, out, err = run(capsys, "evaluate", gpath, "--package", "ring4", "--placement", place, "--json")
    assert rc == 0, err
    assert json.loads(out) == as_json(evaluate(g, Package.preset("ring4"), [2]))


# ------------------------------------------------------------------------------------------------------ errors
def test_error_missing_graph_file(capsys, tmp_path):
    missing = tmp_path / "nope.json"
    place = write_placement(tmp_path / "p", FORWARD, "list")
    rc, _, err = run(capsys, "evaluate", missing, "--package", "ring4", "--placement", place)
    assert_one_line_error(rc, err, str(missing))


def test_error_malformed_graph_json(capsys, tmp_path, graph):
    _, gpath = graph
    text = Path(gpath).read_text()
    Path(gpath).write_text(text[: len(text) // 2])
    place = write_placement(tmp_path / "p", FORWARD, "list")
    rc, _, err = run(capsys, "evaluate", gpath, "--package", "ring4", "--placement", place)
    assert_one_line_error(rc, err, gpath, "not valid JSON")


def test_error_unknown_preset(capsys, tmp_path, graph):
    _, gpath = graph
    place = write_placement(tmp_path / "p", FORWARD, "list")
    rc, _, err = run(capsys, "evaluate", gpath, "--package", "ring5", "--placement", place)
    assert_one_line_error(rc, err, "'ring5'", "ring4")  # names the bad value and lists the presets


@pytest.mark.parametrize("form", ["list", "result", "npy", "text"])
def test_error_placement_wrong_length(capsys, tmp_path, graph, form):
    _, gpath = graph
    place = write_placement(tmp_path / "p", FORWARD[:-1], form)
    rc, out, err = run(capsys, "evaluate", gpath, "--package", "ring4", "--placement", place)
    assert out == ""
    assert_one_line_error(rc, err, place, f"{N - 1} entries", f"{N} nodes")


@pytest.mark.parametrize("device", [4, -1])
def test_error_placement_device_out_of_range(capsys, tmp_path, graph, device):
    _, gpath = graph
    bad = FORWARD.copy()
    bad[5] = device
    place = write_placement(tmp_path / "p", bad, "list")
    rc, out, err = run(capsys, "evaluate", gpath, "--package", "ring4", "--placement", place)
    assert out == ""
    assert_one_line_error(rc, err, "'n5'", f"device {device}", "4 devices")


@pytest.mark.parametrize("name, content, needle", [
    ("p.txt", "0 1 x", "not a placement"),
    ("p.json", '{"interval": 1.0}', "without a 'placement' field"),
    ("p.json", json.dumps([0.5] * N), "integer device ids"),
    ("p.json", json.dumps([["a"]] * N), "flat list"),
    ("p.json", json.dumps([[0, 1]] * N), "flat list"),
    ("p.json", json.dumps([0, [1, 2]] + [0] * (N - 2)), "flat list"),
    ("p.json", json.dumps(["a"] * N), "integer device ids"),
    ("p.json", "true", "flat list"),
    ("p.npy", "not numpy", "p.npy"),
    ("p.npy", "", "p.npy: cannot read the placement"),  # empty: numpy raised EOFError
    ("p.json", '{"placement": null, "status": "infeasible"}', "the result holds no placement"),
    ("p.txt", b"\xff\xfe\x00", "p.txt"),
])
def test_error_unreadable_placement(capsys, tmp_path, graph, name, content, needle):
    _, gpath = graph
    place = tmp_path / name
    if isinstance(content, bytes):
        place.write_bytes(content)
    else:
        place.write_text(content)
    rc, _, err = run(capsys, "evaluate", gpath, "--package", "ring4", "--placement", place)
    assert_one_line_error(rc, err, needle)


def test_error_missing_placement_file(capsys, tmp_path, graph):
    _, gpath = graph
    rc, _, err = run(capsys, "evaluate", gpath, "--package", "ring4", "--placement", tmp_path / "nope.json")
    assert_one_line_error(rc, err, "nope.json", "no such placement file")


@pytest.mark.parametrize("flags, needle", [
    (["--package", "port4", "--max-skip", "1"], "max_skip"),  # auto dataflow on a port package is acyclic
    (["--package", "ring4", "--dataflow", "none", "--max-skip", "1"], "max_skip"),
    (["--package", "ring4", "--max-skip", "0"], "max_skip"),
    (["--package", "ring4", "--no-overlap"], "overlap"),  # links always overlap
])
def test_error_contradicting_options(capsys, tmp_path, graph, flags, needle):
    _, gpath = graph
    place = write_placement(tmp_path / "p", FORWARD, "list")
    rc, out, err = run(capsys, "evaluate", gpath, "--placement", place, *flags)
    assert out == ""
    assert_one_line_error(rc, err, needle)


# ------------------------------------------------------------------------------------------ constraint flags
def _evaluate_json(capsys, tmp_path, gpath, placement, *flags, package="ring4"):
    place = write_placement(tmp_path / "p", placement, "list")
    rc, out, err = run(capsys, "evaluate", gpath, "--package", package, "--placement", place, "--json", *flags)
    assert rc in (0, 3), err
    got = json.loads(out)
    assert rc == (0 if got["valid"] else 3)
    return got


def test_dataflow_flag(capsys, tmp_path, graph):
    g, gpath = graph
    ring4 = Package.preset("ring4")
    off = _evaluate_json(capsys, tmp_path, gpath, BACKWARD, "--dataflow", "none")
    assert off["valid"] and "dataflow" not in off["violations"]
    assert off == as_json(evaluate(g, ring4, BACKWARD, constraints=Constraints(dataflow=None)))
    for mode in ("auto", "ordered", "acyclic"):
        got = _evaluate_json(capsys, tmp_path, gpath, BACKWARD, "--dataflow", mode)
        assert got == as_json(evaluate(g, ring4, BACKWARD, constraints=Constraints(dataflow=mode)))
    assert not _evaluate_json(capsys, tmp_path, gpath, BACKWARD, "--dataflow", "ordered")["valid"]
    # Backwards through the ring is still an acyclic device graph.
    assert _evaluate_json(capsys, tmp_path, gpath, BACKWARD, "--dataflow", "acyclic")["valid"]


def test_max_skip_flag(capsys, tmp_path, graph):
    g, gpath = graph
    ring4 = Package.preset("ring4")
    assert _evaluate_json(capsys, tmp_path, gpath, SKIP)["valid"]
    got = _evaluate_json(capsys, tmp_path, gpath, SKIP, "--max-skip", "1")
    assert got["violations"]["skip"] > 0 and not got["valid"]
    assert got == as_json(evaluate(g, ring4, SKIP, constraints=Constraints(max_skip=1)))
    assert _evaluate_json(capsys, tmp_path, gpath, SKIP, "--max-skip", "3")["valid"]


def test_all_used_flag(capsys, tmp_path, graph):
    g, gpath = graph
    zeros = np.zeros(N, dtype=int)
    assert _evaluate_json(capsys, tmp_path, gpath, zeros)["valid"]
    got = _evaluate_json(capsys, tmp_path, gpath, zeros, "--all-used")
    assert got["violations"]["all_used"] == 3
    assert got == as_json(evaluate(g, Package.preset("ring4"), zeros, constraints=Constraints(all_used=True)))
    assert _evaluate_json(capsys, tmp_path, gpath, FORWARD, "--all-used")["valid"]


def test_no_capacity_flag(capsys, tmp_path, graph):
    g, gpath = graph
    spec = tmp_path / "small.json"
    spec.write_text(json.dumps({"preset": "ring4", "sram_bytes": 1e6}))
    small = Package.from_spec({"preset": "ring4", "sram_bytes": 1e6})
    assert _evaluate_json(capsys, tmp_path, gpath, FORWARD, package=spec)["violations"]["capacity"] > 0
    got = _evaluate_json(capsys, tmp_path, gpath, FORWARD, "--no-capacity", package=spec)
    assert got["valid"] and "capacity" not in got["violations"]
    assert got == as_json(evaluate(g, small, FORWARD, constraints=Constraints(capacity=False)))


def test_overlap_flags(capsys, tmp_path, graph):
    g, gpath = graph
    port4 = Package.preset("port4")
    default = _evaluate_json(capsys, tmp_path, gpath, FORWARD, package="port4")
    on = _evaluate_json(capsys, tmp_path, gpath, FORWARD, "--overlap", package="port4")
    off = _evaluate_json(capsys, tmp_path, gpath, FORWARD, "--no-overlap", package="port4")
    assert default["overlap"] is False and on["overlap"] is True and off["overlap"] is False
    assert on == as_json(evaluate(g, port4, FORWARD, overlap=True))
    assert off == default == as_json(evaluate(g, port4, FORWARD, overlap=False))
    assert on["interval"] <= off["interval"]
    # Links always overlap: --overlap is accepted (and is the default) on a ring.
    ring = _evaluate_json(capsys, tmp_path, gpath, FORWARD, "--overlap")
    assert ring["overlap"] is True and ring == _evaluate_json(capsys, tmp_path, gpath, FORWARD)


def test_progress_off_a_terminal_is_plain_periodic_lines(capsys):
    """In a log file rich's bar would draw only at the end: long runs print a plain line every few seconds."""
    from mcmcore._progress import ProgressBar

    bar = ProgressBar("sweep", 3, every=0.0)
    for i in range(3):
        bar.update(advance=1, status=f"{i} failed")
    bar.close()
    bar.close()  # a second close draws nothing
    err = capsys.readouterr().err.splitlines()
    assert err[:3] == ["sweep: 1/3 0 failed [0 s]", "sweep: 2/3 1 failed [0 s]", "sweep: 3/3 2 failed [0 s]"]
    assert len(err) == 4 and err[3].startswith("sweep: 3/3")
    quiet = ProgressBar("x", 3, enabled=False)
    quiet.update(advance=1)
    quiet.close()
    assert capsys.readouterr().err == ""


def test_json_output_is_strict_for_a_zero_interval(capsys, tmp_path):
    # an empty graph has interval 0 and an infinite throughput: strict JSON has no Infinity, so it is null
    from mcmcore import Graph

    gpath = tmp_path / "empty.json"
    save_graph(Graph.from_edges(0, []), gpath)
    place = tmp_path / "p.json"
    place.write_text("[]")
    rc, out, _ = run(capsys, "evaluate", gpath, "--package", "ring4", "--placement", place, "--json")
    assert rc == 0 and "Infinity" not in out
    assert json.loads(out)["throughput"] is None
    result = tmp_path / "r.json"
    rc, _, _ = run(capsys, "partition", gpath, "--package", "ring4", "--max-evals", "5", "--out", result,
                   "--no-progress")
    text = result.read_text()
    assert rc == 0 and "Infinity" not in text and json.loads(text)["report"]["throughput"] is None


def test_import_of_a_binary_json_file_is_named(capsys, tmp_path):
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(bytes(range(256)) * 2)
    rc, _, err = run(capsys, "import", garbage, "-o", tmp_path / "out.json")
    assert_one_line_error(rc, err, "garbage.json: not a text file", command="import")


def test_model_and_problem_files_point_to_import(capsys, tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x08\x07")
    rc, _, err = run(capsys, "info", model)
    assert_one_line_error(rc, err, "a model file, not a graph", "mcm import", command="info")
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps({"maxFPGAs": 2, "maxCPUs": 1, "maxSizePerFPGA": 10, "nodes": [], "edges": []}))
    rc, _, err = run(capsys, "info", problem)
    assert_one_line_error(rc, err, "NeurIPS 2020 device-placement problem", "mcm import", command="info")


def test_a_closed_pipe_stops_quietly():
    # `mcm presets --json | head -c1`: the reader is gone; no "error: Broken pipe" and no traceback
    code = ("import os, sys\nr, w = os.pipe()\nos.close(r)\nos.dup2(w, 1)\nfrom mcmcore.cli import main\n"
            "sys.exit(main(['presets', '--json']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 141 and proc.stderr == ""

"""Co-search: the design space, the area model, the workload transforms (micro-batch, stash / recompute), and the
Pareto front checked against an exhaustive enumeration of every design and every placement."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from mcmcore.cli import main
from mcmcore.cosearch import (AreaModel, SpaceError, cosearch, design_graph, design_package, designs,
                              pareto_front, plot_pareto)
from mcmcore.evaluate import evaluate_batch
from mcmcore.generate import layered_dag
from mcmcore.zoo import training_graph

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

SPACE = {"chiplets": [1, 2, 3], "topology": ["ring"], "tensor_units": [1, 2], "array": [[8, 8]],
         "sram_mib": [4, 8], "link_gbps": [1, 20], "micro_batch": [1, 2], "activations": ["stash", "recompute"],
         "area_budget_mm2": 60}


@pytest.fixture(scope="module")
def train5():
    return training_graph(layered_dag(4, seed=1))


def exhaustive(graph, space, area_model=AreaModel()):
    """(area, throughput, design) of every design within the area budget, each with its best placement found by
    evaluating all K^N placements."""
    out = []
    for d in designs(space, training=True):
        area = area_model.area(d)
        if area > space["area_budget_mm2"]:
            continue
        g, p = design_graph(graph, d), design_package(d)
        every = np.array(list(itertools.product(range(p.n_devices), repeat=g.n_nodes)), dtype=np.int32)
        values, violations = evaluate_batch(g, p, every, return_violations=True)
        ok = violations == 0
        out.append((area, d["micro_batch"] / values[ok].min() if ok.any() else 0.0, d))
    return out


def test_cosearch_finds_the_exhaustive_optimum_and_front(train5):
    truth = exhaustive(train5, SPACE)
    assert len(truth) > 20 and any(t == 0.0 for _, t, _ in truth)  # the space has designs that do not fit
    result = cosearch(train5, SPACE, method="exact", max_evals_per_design=2000, progress=False)
    assert len(result.points) == len(truth) and result.n_over_budget == result.n_designs - len(truth)
    best = max(t for _, t, _ in truth)
    assert result.best.throughput == pytest.approx(best, rel=1e-9)
    # the front: for every area on it, the best exhaustive throughput at that area or less
    front = [(p.area_mm2, p.throughput) for p in result.front]
    expected, top = [], 0.0
    for area, tput, _ in sorted(truth, key=lambda x: (x[0], -x[1])):
        if tput > top * (1 + 1e-9) and tput > 0:
            expected.append((area, tput))
            top = tput
    assert [a for a, _ in front] == pytest.approx([a for a, _ in expected])
    assert [t for _, t in front] == pytest.approx([t for _, t in expected], rel=1e-9)
    for p in result.front:  # each point carries its package and a placement that achieves its throughput
        assert p.package["n_devices"] == p.design["chiplets"] and len(p.placement) == train5.n_nodes
    # a design sample (budget) is a seeded subset
    sub = cosearch(train5, SPACE, method="auto", max_evals_per_design=200, budget=5, seed=1, progress=False)
    assert len(sub.points) == 5
    assert all(any(p.design == d for _, _, d in truth) for p in sub.points)


def test_workload_transforms(train5):
    n = train5.n_nodes // 2
    base = {"micro_batch": 1, "activations": "stash"}
    stash = design_graph(train5, base)
    recompute = design_graph(train5, {**base, "activations": "recompute"})
    mb4 = design_graph(train5, {**base, "micro_batch": 4})
    fwd, bwd = np.arange(n), np.arange(n, 2 * n)
    # stash: activations held on the device count as memory; recompute: no memory, forward FLOPs again
    assert np.allclose(stash.weight_bytes[fwd], train5.weight_bytes[fwd] + train5.out_bytes[fwd])
    assert np.allclose(recompute.weight_bytes, train5.weight_bytes)
    assert np.allclose(recompute.flops[bwd], train5.flops[bwd] + train5.flops[fwd])
    assert np.allclose(stash.flops, train5.flops)
    # micro-batch: FLOPs and outputs scale, weights do not
    assert np.allclose(mb4.flops, 4 * train5.flops) and np.allclose(mb4.out_bytes, 4 * train5.out_bytes)
    assert np.allclose(mb4.weight_bytes[fwd] - 4 * train5.out_bytes[fwd], train5.weight_bytes[fwd])
    assert np.array_equal(mb4.edges, train5.edges) and np.array_equal(mb4.color, train5.color)
    forward_only = layered_dag(4, seed=1)
    assert design_graph(forward_only, base) is forward_only
    assert len(designs(SPACE, training=False)) == len(designs(SPACE, training=True)) // 2


def test_area_model_and_packages():
    d = designs({"chiplets": 4, "topology": "mesh", "tensor_units": 2, "array": [16, 16], "sram_mib": 10,
                 "link_gbps": 50})[0]
    m = AreaModel(mm2_per_mac=0.001, mm2_per_mib_sram=0.5, mm2_per_link=0.3, mm2_per_link_gbps=0.01,
                  mm2_per_chiplet=2.0)
    # 2x2 mesh: 8 directed links
    assert m.area(d) == pytest.approx(4 * (2.0 + 512 * 0.001 + 10 * 0.5) + 8 * (0.3 + 50 * 0.01))
    p = design_package(d)
    assert p.topology == "mesh" and p.shape == (2, 2)
    assert p.peak_flops[0] == pytest.approx(2 * 2 * 16 * 16 * 1e9) and p.sram_bytes[0] == 10 * 2**20
    assert design_package({**d, "chiplets": 1}).n_devices == 1
    with pytest.raises(SpaceError, match="topology must be 'ring' or 'mesh', got 'torus'"):
        designs({"topology": ["torus"]})
    with pytest.raises(SpaceError, match="unknown design-space field"):
        designs({"chiplet": [2]})
    assert pareto_front([]) == []


@pytest.mark.parametrize("space, match", [
    ({"area_model": {"mm2_per_mac": -1}}, "area_model field mm2_per_mac must be a finite number >= 0.*got -1"),
    ({"area_model": {"mm2_per_link": float("nan")}}, "area_model field mm2_per_link .* got nan"),
    ({"area_model": {"mm2_per_chiplet": "big"}}, "area_model field mm2_per_chiplet .* got 'big'"),
    ({"area_model": {"mm2_per_chiplet": 0, "mm2_per_mac": 0, "mm2_per_mib_sram": 0}}, "chiplet would have no area"),
    ({"area_model": 5}, "area_model must be a mapping.*got 5"),
    ({"array": []}, "design parameter 'array' has no values"),
    ({"sram_mib": []}, "design parameter 'sram_mib' has no values"),
    ({"micro_batch": 10 ** 300}, "micro_batch must be integers in 1..1048576"),
    ({"micro_batch": 1e300}, "micro_batch must be integers in 1..1048576, got 1e\\+300"),
    ({"chiplets": [30000]}, "chiplets must be integers in 1..1024, got 30000"),
    ({"chiplets": [True]}, "chiplets must be integers in 1..1024, got True"),
    ({"array": [16, 10 ** 9]}, "array must be \\[rows, cols\\] \\(integers in 1..4096\\)"),
    ({"clock_ghz": float("inf")}, "clock_ghz must be positive, finite numbers, got inf"),
    ({"area_budget_mm2": float("inf")}, "area_budget .* must be a positive, finite number of mm\\^2, got inf"),
])
def test_bad_spaces_are_rejected_with_the_field_and_value(space, match):
    with pytest.raises(SpaceError, match=match):
        cosearch(layered_dag(4, seed=1), space, max_evals_per_design=10, progress=False)


def test_area_model_fields_are_checked():
    with pytest.raises(SpaceError, match="mm2_per_link must be a finite number >= 0"):
        AreaModel(mm2_per_link=-0.3)
    assert AreaModel(mm2_per_link=0, mm2_per_link_gbps=0).area(designs({"chiplets": 2})[0]) > 0


def test_cli_cosearch_rejects_a_bad_space_cleanly(tmp_path, capsys):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"chiplets": [2], "area_model": {"mm2_per_mac": -1}}))
    assert main(["cosearch", "resnet50", "--space", str(space), "--max-evals", "10", "--no-progress"]) == 1
    assert "area_model field mm2_per_mac must be a finite number >= 0 (mm^2), got -1" in capsys.readouterr().err


def test_cli_cosearch_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, png = tmp_path / "c.json", tmp_path / "c.png"
    rc = main(["cosearch", "resnet50", "--training", "--space", str(EXAMPLES / "space.yaml"), "--budget", "4",
               "--max-evals", "100", "--no-progress", "--out", str(out), "--plot", str(png)])
    text = capsys.readouterr().out
    assert rc == 0 and "Pareto front" in text
    doc = json.loads(out.read_text())
    assert doc["format"] == "mcmcore-cosearch" and len(doc["points"]) == 4 and doc["front"]
    assert png.stat().st_size > 1000


def test_plot_pareto_returns_a_figure(train5):
    pytest.importorskip("matplotlib")
    result = cosearch(train5, {**SPACE, "chiplets": [1, 2]}, method="dp", max_evals_per_design=100,
                      progress=False)
    fig = plot_pareto(result)
    assert fig.axes and fig.axes[0].get_xlabel().startswith("area")


def test_interrupted_cosearch_keeps_finished_designs_and_resumes_to_the_same_result(train5, tmp_path, monkeypatch):
    from mcmcore.search import METHODS
    from mcmcore.search import exact

    calls, interrupt_at = [], [-1]

    def flaky(problem, tracker, **kw):  # the exact method, interrupted (Ctrl-C) in the chosen search
        calls.append(1)
        exact.run(problem, tracker, **kw)
        if len(calls) == interrupt_at[0]:
            raise KeyboardInterrupt

    monkeypatch.setitem(METHODS, "flaky", flaky)
    journal = tmp_path / "designs.jsonl"
    kw = dict(method="flaky", max_evals_per_design=500, budget=6, seed=2, progress=False)
    straight = cosearch(train5, SPACE, **kw)
    n_searched = len(calls)  # some designs are proven infeasible before any search: they take no call
    assert n_searched >= 4
    cut = next(i for i, p in enumerate(straight.points) if p.status != "infeasible" and
               sum(q.status != "infeasible" for q in straight.points[:i + 1]) == 3)
    calls.clear()
    interrupt_at[0] = 3
    with pytest.raises(KeyboardInterrupt):
        cosearch(train5, SPACE, journal=journal, **kw)
    assert len(journal.read_text().splitlines()) == cut  # the designs before the cut one; it is not kept
    calls.clear()
    interrupt_at[0] = -1
    resumed = cosearch(train5, SPACE, journal=journal, **kw)
    assert len(calls) == n_searched - 2  # only the designs not in the journal are searched

    def same(r):
        d = r.to_dict()
        d.pop("seconds")
        return d

    assert same(resumed) == same(straight)
    # another run (seed) ignores the journal's lines
    calls.clear()
    other = cosearch(train5, SPACE, journal=journal, **dict(kw, seed=3))
    assert len(calls) == sum(p.status != "infeasible" for p in other.points)


def test_cli_cosearch_journal_is_removed_once_the_result_is_written(tmp_path, capsys):
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    g = tmp_path / "g.json"
    training_graph(layered_dag(4, seed=1)).save(g)
    out = tmp_path / "cs.json"
    assert main(["cosearch", str(g), "--space", str(space), "--max-evals", "50", "--budget", "3", "--out", str(out),
                 "--no-progress"]) == 0
    assert out.is_file() and not (tmp_path / "cs.json.designs.jsonl").exists()


def test_the_module_docstring_space_is_valid():
    """The example space in the module docstring parses (YAML reads 1.0e12 as a string) and yields designs."""
    import importlib

    import yaml

    doc = importlib.import_module("mcmcore.cosearch").__doc__  # mcmcore.cosearch is also the function
    block = doc[doc.index("value of each. Scalars are fixed::") + len("value of each. Scalars are fixed::"):]
    block = block[:block.index("\n\n", 2)]
    space = yaml.safe_load("\n".join(line[4:] for line in block.strip("\n").splitlines()))
    assert space["mem_bw"] == 1e12
    assert len(designs(space, training=True)) > 100


def test_a_torn_journal_line_is_cut_before_appending_and_not_counted(tmp_path, capsys, monkeypatch):
    """A SIGKILL in the middle of a journal write leaves a torn last line: the next run cuts it off before it
    appends (else the next design's record is glued onto it and lost), and the interrupt message counts only
    readable design records."""
    import importlib

    cosearch_module = importlib.import_module("mcmcore.cosearch")  # `import mcmcore.cosearch` gives the function
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    g = tmp_path / "g.json"
    training_graph(layered_dag(4, seed=1)).save(g)
    journal = tmp_path / "designs.jsonl"
    cmd = ["cosearch", str(g), "--space", str(space), "--max-evals", "50", "--budget", "3", "--journal",
           str(journal), "--no-progress", "--out"]
    assert main(cmd + [str(tmp_path / "straight.json")]) == 0
    lines = journal.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3
    journal.write_bytes(b"".join(lines[:2]) + lines[2][: len(lines[2]) // 2])  # killed while writing the third
    capsys.readouterr()

    def interrupted(design):  # Ctrl-C while the first design not in the journal is set up
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(cosearch_module, "design_package", interrupted)
        assert main(cmd + [str(tmp_path / "resumed.json")]) == 130
    assert f"kept in {journal} (2 design(s))" in capsys.readouterr().err
    assert journal.read_bytes() == b"".join(lines[:2])  # the torn line is gone, nothing else changed
    assert main(cmd + [str(tmp_path / "resumed.json")]) == 0
    assert [json.loads(line)["design_key"] for line in journal.read_bytes().splitlines()] == \
        [json.loads(line)["design_key"] for line in lines]

    def same(path):
        d = json.loads(path.read_text())
        d.pop("seconds")
        return d

    assert same(tmp_path / "resumed.json") == same(tmp_path / "straight.json")


def test_a_file_that_is_not_a_journal_is_refused_and_left_untouched(train5, tmp_path, capsys):
    from mcmcore.cosearch import JournalError, journal_size

    notes = tmp_path / "notes.json"
    notes.write_text('{"placement": [0, 1, 1]}')
    with pytest.raises(JournalError, match=r"notes.json is not a co-search journal \(no design records\)"):
        cosearch(train5, SPACE, budget=2, max_evals_per_design=50, progress=False, journal=notes)
    assert notes.read_text() == '{"placement": [0, 1, 1]}' and journal_size(notes) == 0
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    assert main(["cosearch", "resnet50", "--space", str(space), "--budget", "2", "--max-evals", "50",
                 "--journal", str(notes), "--no-progress"]) == 1
    assert "choose another --journal" in capsys.readouterr().err
    assert notes.read_text() == '{"placement": [0, 1, 1]}'

"""Bad input to the search, repair, evaluation and RL entry points, and to the CLI: each gets an error that names
the problem (never a crash deep inside, a silent coercion or a garbage answer)."""
from __future__ import annotations

import numpy as np
import pytest

from mcmcore import Constraints, Graph, Package, coarsen, evaluate, lower_bound, repair
from mcmcore.errors import InfeasibleError, InvalidPlacementError
from mcmcore.evaluate import IncrementalEvaluator
from mcmcore.repair import repair_batch
from mcmcore.search import SearchStatus, partition

G4 = Graph.from_edges(4, [(0, 1), (1, 2), (2, 3)], flops=[1e9] * 4, weight_bytes=[1e6] * 4, out_bytes=[1e5] * 4,
                      names=["a", "b", "c", "d"])
R4 = Package.preset("ring4")


@pytest.mark.parametrize("kw, match", [
    (dict(seed=1.7), "seed must be an integer"),
    (dict(seed=-1), "seed must be an integer"),
    (dict(seed=2 ** 70), "seed must be an integer"),
    (dict(max_seconds=float("inf")), "max_seconds must be a positive, finite"),
    (dict(max_seconds="5"), "max_seconds must be a positive, finite"),
    (dict(max_evals=True), "max_evals must be a positive integer"),
    (dict(n_threads=-1), "n_threads must be a positive integer"),
    (dict(method="auto", foo=1), "unknown auto option"),
    (dict(method="dp", foo=1), "unknown dp option"),
    (dict(method="exact", foo=1), "unknown exact option"),
])
def test_partition_arguments_are_checked(kw, match):
    with pytest.raises(ValueError, match=match):
        partition(G4, R4, progress=False, **({"max_evals": 10} | kw))


@pytest.mark.parametrize("args, kw, match", [
    ((None, R4), {}, "graph must be an mcmcore.Graph"),
    ((G4, "ring4"), {}, "package must be an mcmcore.Package"),
    ((G4, R4), dict(method=["auto"]), "method must be a method name"),
    ((G4, R4), dict(constraints="ordered"), "constraints must be an mcmcore.Constraints"),
    ((G4, R4), dict(overlap="yes"), "overlap must be"),
])
def test_partition_argument_types(args, kw, match):
    with pytest.raises(TypeError, match=match):
        partition(*args, max_evals=10, progress=False, **kw)


def test_lower_bound_arguments():
    with pytest.raises(ValueError, match="objective"):
        lower_bound(G4, R4, objective="x")
    with pytest.raises(TypeError, match="graph"):
        lower_bound(None, R4)


def test_times_that_overflow_are_an_error_not_an_infinite_optimum():
    slow = Package.ring(4, link_bandwidth=1e9, peak_flops=1e-300, mem_bw=1e12, sram_bytes=1e12)
    for method in ("auto", "random", "dp"):
        with pytest.raises(ValueError, match="overflow"):
            partition(G4, slow, method=method, max_evals=10, progress=False)


def test_exact_on_a_graph_without_costs():
    res = partition(Graph.from_edges(3, [(0, 1), (1, 2)]), R4, method="exact", max_evals=10, progress=False)
    assert res.status == SearchStatus.OPTIMAL and res.value == 0.0


@pytest.mark.parametrize("method", ["random", "anneal", "auto", "dp", "metis", "multilevel"])
def test_infeasibility_found_by_the_native_repair_is_reported_by_every_method(method):
    # 0 -> 1 -> 2 with 0 and 2 co-located: 1 must share their device (ordered dataflow), but 0 and 1 are pinned apart
    g = Graph.from_edges(3, [(0, 1), (1, 2)], pin=[0, 1, -1], color=[7, -1, 7])
    if method == "metis":
        pytest.importorskip("pymetis")
    with pytest.raises(InfeasibleError, match="pinned to devices 0 and 1"):
        partition(g, R4, method=method, max_evals=10, progress=False)


@pytest.mark.parametrize("weights, match", [
    ([1e39] * 4, "past 1e\\+30"),
    ([4e29] * 4, "past 1e\\+30"),  # each fits, the sum does not
    ([float("nan"), 1, 1, 1], "node 'a' \\(id 0\\) has nan"),
    ([-1, 1, 1, 1], "node 'a' \\(id 0\\) has -1"),
    (["x"] * 4, "weights must be 4 finite"),
    ([1, 1], "got shape"),
])
def test_repair_weights_the_native_scores_cannot_hold_are_refused(weights, match):
    with pytest.raises(ValueError, match=match):
        repair(G4, R4, [3, 2, 1, 0], weights=weights)


def test_large_but_valid_weights_give_a_valid_placement():
    for method in ("heuristic", "cpsat"):
        res = repair(G4, R4, [3, 2, 1, 0], weights=[1e20, 1, 1, 1], method=method, seed=5)
        assert evaluate(G4, R4, res.placement).valid
        assert set(res.placement.tolist()) <= set(range(4))


def test_repair_batch_refuses_fractional_device_ids():
    with pytest.raises(ValueError, match="integer device ids"):
        repair_batch(G4, R4, np.array([[0.5, 1, 2, 3]]))
    out, _, ok = repair_batch(G4, R4, np.array([[3.0, 2.0, 1.0, 0.0]]))
    assert ok.all()


@pytest.mark.parametrize("placement, match", [
    ({"a": 1.7, "b": 1, "c": 2, "d": 3}, "on 1.7, not a device id"),
    ({"a": -1, "b": 1, "c": 2, "d": 3}, "on -1, not a device id"),
    ({"a": "x", "b": 1, "c": 2, "d": 3}, "on 'x', not a device id"),
    ({"a": 2 ** 70, "b": 1, "c": 2, "d": 3}, "not a device id"),
    ({7: 0, "b": 1, "c": 2, "d": 3}, "key 7 is neither"),
    ({"zz": 0, "b": 1, "c": 2, "d": 3}, "node 'zz', which the graph does not have"),
    ({"b": 1, "c": 2, "d": 3}, "does not place node 'a'"),
])
def test_placement_dicts_are_checked(placement, match):
    with pytest.raises(InvalidPlacementError, match=match):
        evaluate(G4, R4, placement)


@pytest.mark.parametrize("placement", [[True, 1, 2, 3], (0, 1, np.bool_(True), 3)])
def test_booleans_in_a_placement_list_are_not_device_ids(placement):
    with pytest.raises(InvalidPlacementError, match="is True, not a device id"):
        evaluate(G4, R4, placement)


def test_incremental_moves_take_integer_ids():
    inc = IncrementalEvaluator(G4, R4, [0, 1, 2, 3])
    with pytest.raises(TypeError, match="integer node id"):
        inc.move(0.5, 1)
    with pytest.raises(ValueError, match="integer ids"):
        inc.apply_moves([0.7], [1])
    assert inc.apply_moves(np.array([0.0]), np.array([1.0]))[0] == pytest.approx(inc.interval)


def test_coarsen_target_nodes_is_a_positive_integer():
    for bad in ("2", 2.5, 0):
        with pytest.raises(ValueError, match="target_nodes"):
            coarsen(G4, target_nodes=bad)


def test_constraints_object_is_required():
    with pytest.raises(TypeError):
        partition(G4, R4, constraints=Constraints, max_evals=10, progress=False)


# ----------------------------------------------------------------------------------------------------- CLI
def _cli(capsys, *argv):
    from mcmcore.cli import main

    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def test_cli_checks_output_paths_before_any_work(capsys, tmp_path):
    rc, err = _cli(capsys, "partition", "resnet50", "--package", "ring4", "--max-evals", 10, "--no-progress",
                   "--out", tmp_path / "missing" / "r.json")
    assert rc == 1 and "does not exist" in err and "Traceback" not in err
    rc, err = _cli(capsys, "partition", "resnet50", "--package", "ring4", "--max-evals", 10, "--no-progress",
                   "--plot", tmp_path)
    assert rc == 1 and "is a folder" in err
    rc, err = _cli(capsys, "rl", "pretrain", "--corpus", "generated", "--out", tmp_path / "no" / "p.pt")
    assert rc == 1 and "does not exist" in err


def test_cli_reports_unreadable_inputs(capsys, tmp_path):
    (tmp_path / "pkg.json").mkdir()
    rc, err = _cli(capsys, "partition", "resnet50", "--package", tmp_path / "pkg.json", "--max-evals", 10)
    assert rc == 1 and "pkg.json" in err
    (tmp_path / "bad.pt2").write_bytes(b"junk")
    rc, err = _cli(capsys, "import", tmp_path / "bad.pt2", "-o", tmp_path / "g.json")
    assert rc == 1 and "not a torch.export program" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, match", [
    (["--teacher", "nope"], "unknown teacher method 'nope'"),
    (["--device", "bogus"], "unknown torch device"),
    (["--lr", "inf"], None),  # argparse: exit 2
])
def test_cli_rl_options_are_checked(capsys, tmp_path, argv, match):
    pytest.importorskip("torch")
    from mcmcore.cli import main

    common = ["rl", "pretrain", "--corpus", "generated", "--generated", "2", "--packages", "ring4", "--updates", "1",
              "--samples-per-update", "4", "--hidden", "16", "--no-progress", "--out", str(tmp_path / "p.pt")]
    if match is None:
        with pytest.raises(SystemExit) as exc:
            main(common + argv)
        assert exc.value.code == 2 and "finite" in capsys.readouterr().err
        return
    rc, err = _cli(capsys, *(common + argv))
    assert rc == 1 and match in err


def test_bad_policy_files_are_named(capsys, tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    for policy, match in ((tmp_path / "junk.pt", "not an mcmcore RL policy file"),
                          (tmp_path / "none.pt", "no such policy file")):
        rc, err = _cli(capsys, "partition", "resnet50", "--package", "ring4", "--method", "rl", "--policy", policy,
                       "--max-evals", 10, "--no-progress")
        assert rc == 1 and match in err


def test_ppo_config_is_checked():
    pytest.importorskip("torch")
    from mcmcore.rl import PPOConfig

    for kw in (dict(lr=float("inf")), dict(epochs=0), dict(regularizer="x"), dict(samples_per_update=True)):
        with pytest.raises(ValueError, match="PPOConfig"):
            PPOConfig(**kw)


# ------------------------------------------------------------------------------- malformed graph files via the CLI
def test_cli_names_the_file_and_field_of_a_malformed_graph(capsys, tmp_path):
    """Numbers that overflow, booleans read as 1 and broken .npz arrays: an error naming the file and the field,
    never a traceback (an OverflowError used to escape) or a silently wrong graph."""
    import json

    head = '{"format":"mcmcore-graph","version":1,'
    bad_json = {
        "inf.json": (head + '"n_nodes":1e400,"edges":[]}', "n_nodes must be a non-negative integer, got inf"),
        "bool.json": (head + '"n_nodes":2,"flops":[true,2.0],"edges":[]}', "flops of node 0 is True (a boolean)"),
        "edge.json": (head + '"n_nodes":2,"edges":[[true,1]]}', "edge 0 holds True (a boolean)"),
        "names.json": (head + '"n_nodes":2,"names":[null,"a"],"edges":[]}', "name of node 0 is None"),
    }
    for file, (text, match) in bad_json.items():
        (tmp_path / file).write_text(text)
        rc, err = _cli(capsys, "info", tmp_path / file)
        assert rc == 1 and f"{tmp_path / file}: " in err and match in err and "Traceback" not in err, err

    G4.save(tmp_path / "g.npz")
    with np.load(tmp_path / "g.npz") as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta"].tobytes())
    bad_npz = {
        "meta_inf.npz": ({"meta": np.frombuffer(json.dumps(meta | {"n_nodes": float("inf")}).encode(), np.uint8)},
                         "n_nodes must be a non-negative integer, got inf"),
        "meta_list.npz": ({"meta": np.frombuffer(b"[]", np.uint8)}, "meta must be a JSON object, got list"),
        "op_index.npz": ({"op_index": np.array([-1, 0, 0, 0], np.int32)}, "op_index of node 0 is -1"),
        "succ_idx.npz": ({"succ_idx": np.array([1.5, 2.0, 3.0])}, "succ_idx must be an integer array"),
        "succ_ptr.npz": ({"succ_ptr": np.array([0, 2, 1, 3, 3], np.int32)}, "succ_ptr must be non-decreasing"),
        "complex.npz": ({"flops": np.array([1e9, 1e9 + 1j, 1e9, 1e9])}, "(a complex number)"),
    }
    for file, (changes, match) in bad_npz.items():
        np.savez(tmp_path / file, **(arrays | changes))
        rc, err = _cli(capsys, "info", tmp_path / file)
        assert rc == 1 and f"{tmp_path / file}: " in err and match in err and "Traceback" not in err, err

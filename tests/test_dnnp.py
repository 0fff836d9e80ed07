"""The NeurIPS 2020 device-placement JSON: import, max-load by hand, split export, bad input."""
import json
import math

import numpy as np
import pytest

from mcmcore import Constraints, GraphCycleError, InvalidGraphError, InvalidPlacementError, evaluate
from mcmcore.io import read_dnnp, read_dnnp_split, write_dnnp_split


def problem(**top):
    """Four nodes with ids 100..103 (positions 0..3).

    100 -> 101 (cost 0.5), 100 -> 102 (cost 0.5), 101 -> 103 (cost 0.25), 102 -> 103 (cost 0.1).
    102 runs only on the CPU; 103 is a backward node sharing color 7 with 100.
    """
    doc = {
        "maxSizePerFPGA": 10, "maxFPGAs": 2, "maxCPUs": 1,
        "nodes": [
            {"id": 100, "supportedOnFpga": 1, "fpgaLatency": 1.0, "cpuLatency": 10.0, "isBackwardNode": 0,
             "size": 4, "colorClass": 7},
            {"id": 101, "supportedOnFpga": True, "fpgaLatency": 2.0, "cpuLatency": 20.0, "isBackwardNode": False,
             "size": 4},
            {"id": 102, "supportedOnFpga": 0, "fpgaLatency": 3.0, "cpuLatency": 2.0, "isBackwardNode": 0},
            {"id": 103, "supportedOnFpga": 1, "fpgaLatency": 1.0, "cpuLatency": 2.0, "isBackwardNode": 1,
             "size": 1, "colorClass": 7},
        ],
        "edges": [
            {"sourceId": 100, "destId": 101, "cost": 0.5},
            {"sourceId": 100, "destId": 102, "cost": 0.5},
            {"sourceId": 101, "destId": 103, "cost": 0.25},
            {"sourceId": 102, "destId": 103, "cost": 0.1},
        ],
    }
    doc.update(top)
    return doc


def write(tmp_path, doc, name="p.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def test_mapping(tmp_path):
    g, p = read_dnnp(write(tmp_path, problem()))
    assert g.n_nodes == 4 and g.n_edges == 4
    assert g.names == ("100", "101", "102", "103")
    np.testing.assert_array_equal(g.latency, [[1, 10], [2, 20], [3, 2], [1, 2]])
    np.testing.assert_array_equal(g.supported[:, 0], [True, True, False, True])
    assert g.supported[:, 1].all()
    np.testing.assert_array_equal(g.weight_bytes, [4, 4, 0, 1])
    np.testing.assert_array_equal(g.comm_time, [0.5, 0.25, 0.1, 0.0])
    np.testing.assert_array_equal(g.color, [7, -1, -1, 7])
    np.testing.assert_array_equal(g.backward, [False, False, False, True])
    assert p.n_devices == 3 and p.interconnect == "port"
    assert list(p.kinds) == [0, 0, 1] and p.kind_names[:2] == ("fpga", "cpu")
    assert list(p.sram_bytes) == [10, 10, math.inf]
    assert list(p.comm_factor) == [1, 1, 0]


def test_max_load_by_hand(tmp_path):
    g, p = read_dnnp(write(tmp_path, problem()))
    # 100 on F0, 101 on F1, 102 on CPU, 103 (backward, color 7) on F0 with 100.
    # F0: latencies 1 + 1; 100 has remote consumers -> +0.5; remote producers of 103: 101 (0.25), 102 (0.1)
    #     = 2.85
    # F1: latency 2; 101 has a remote consumer -> +0.25; remote producer 100 -> +0.5 = 2.75
    # CPU: latency 2, communication free (comm_factor 0) = 2
    r = evaluate(g, p, [0, 1, 2, 0])
    assert r.valid, r.violations
    assert r.interval == pytest.approx(2.85, rel=1e-12)
    np.testing.assert_allclose(r.compute + r.comm, [2.85, 2.75, 2.0])
    np.testing.assert_allclose(r.memory, [5, 4, 0])
    # Everything on the CPU: 10 + 20 + 2 + 2 = 34, no communication.
    r = evaluate(g, p, [2, 2, 2, 2])
    assert r.valid and r.interval == pytest.approx(34.0)
    # Everything on F0 but 102 (CPU): F0 = 1 + 2 + 1 + 0.5 (100 -> CPU) + 0.1 (102 -> 103) = 4.6
    r = evaluate(g, p, [0, 0, 2, 0])
    assert r.valid and r.interval == pytest.approx(4.6)


def test_constraints(tmp_path):
    g, p = read_dnnp(write(tmp_path, problem()))
    assert p.default_dataflow == "acyclic"
    # 102 is not supported on an FPGA.
    assert evaluate(g, p, [0, 0, 0, 0]).violations["support"] > 0
    # Colors: 100 and 103 must share a device.
    assert evaluate(g, p, [0, 1, 2, 1]).violations["colors"] > 0
    # Capacity: 100 + 101 + 103 = 9 bytes on one FPGA fits 10 but not 8.
    assert evaluate(g, p, [0, 0, 2, 0]).violations["capacity"] == 0
    g8, p8 = read_dnnp(write(tmp_path, problem(maxSizePerFPGA=8)))
    assert evaluate(g8, p8, [0, 0, 2, 0]).violations["capacity"] > 0
    # Dataflow between forward nodes: 100 on F1 -> 101 on F0 and 101 -> ... is fine alone, but a forward
    # cycle F0 -> CPU -> F0 is not: 100 on F0, 102 on CPU, and a forward edge back to F0 needs a forward node.
    doc = problem()
    doc["nodes"][3]["isBackwardNode"] = 0
    g2, p2 = read_dnnp(write(tmp_path, doc, "fw.json"))
    assert evaluate(g2, p2, [0, 1, 2, 0]).violations["dataflow"] > 0
    assert evaluate(g2, p2, [0, 1, 2, 0], constraints=Constraints(dataflow=None)).valid


def test_split_roundtrip(tmp_path):
    g, p = read_dnnp(write(tmp_path, problem()))
    out = tmp_path / "split.json"
    write_dnnp_split(out, g, p, [0, 1, 2, 0])
    assert json.loads(out.read_text()) == {"fpgas": [[100, 103], [101]], "cpus": [[102]]}
    np.testing.assert_array_equal(read_dnnp_split(out, g, p), [0, 1, 2, 0])
    with pytest.raises(ValueError):
        write_dnnp_split(out, g, p, [0, 1, 5, 0])


@pytest.mark.parametrize("placement, words", [
    ([0.5, 1.5, 2.0, 0.0], "integer device ids"),
    ([0, 1, 2], "one device per node"),
    ([0, 1, 3, 0], "on device 3"),
    ([0, -1, 2, 0], "on device -1"),
])
def test_write_split_checks_placement(tmp_path, placement, words):
    g, p = read_dnnp(write(tmp_path, problem()))
    out = tmp_path / "split.json"
    with pytest.raises(InvalidPlacementError, match=words):
        write_dnnp_split(out, g, p, placement)
    assert not out.exists()  # nothing written, not even an empty split


def test_read_split_node_on_two_devices(tmp_path):
    g, p = read_dnnp(write(tmp_path, problem()))
    split = write(tmp_path, {"fpgas": [[100, 103], [101, 100]], "cpus": [[102]]}, "split.json")
    with pytest.raises(InvalidGraphError, match=r"node 100 is listed twice, in fpgas\[0\] \(device 0\) and in "
                                                r"fpgas\[1\] \(device 1\)"):
        read_dnnp_split(split, g, p)
    split = write(tmp_path, {"fpgas": [[100, 103, 101]], "cpus": [[102, 101]]}, "split2.json")
    with pytest.raises(InvalidGraphError, match=r"node 101 .* fpgas\[0\] \(device 0\) and in cpus\[0\] "
                                                r"\(device 2\)"):
        read_dnnp_split(split, g, p)
    with pytest.raises(InvalidGraphError, match="'cpus' must be a list of lists"):
        read_dnnp_split(write(tmp_path, {"fpgas": [[100, 101, 103]], "cpus": [102]}, "split3.json"), g, p)


def test_no_outgoing_edges_and_no_fpga(tmp_path):
    doc = problem(maxFPGAs=0, maxCPUs=2)
    g, p = read_dnnp(write(tmp_path, doc))
    assert list(p.kinds) == [1, 1]
    assert g.comm_time[3] == 0.0
    # CPUs pay no communication: 10 + 2 on one CPU, 20 + 2 on the other.
    r = evaluate(g, p, [0, 1, 0, 1], constraints=Constraints(colors=False))
    assert r.interval == pytest.approx(22.0)


@pytest.mark.parametrize("mutate, error, words", [
    (lambda d: d.pop("maxFPGAs"), InvalidGraphError, ["maxFPGAs"]),
    (lambda d: d["nodes"][1].pop("cpuLatency"), InvalidGraphError, ["node 101", "cpuLatency"]),
    (lambda d: d["nodes"][2].update(size=-3), InvalidGraphError, ["node 102", "size"]),
    (lambda d: d["nodes"][0].update(fpgaLatency=float("nan")), InvalidGraphError, ["node 100", "fpgaLatency"]),
    (lambda d: d["edges"].append({"sourceId": 103, "destId": 100, "cost": 0.0}), GraphCycleError, ["cycle"]),
    (lambda d: d["edges"].append({"sourceId": 100, "destId": 103, "cost": 0.9}), InvalidGraphError,
     ["node 100", "different cost"]),
    (lambda d: d["edges"].append({"sourceId": 100, "destId": 999, "cost": 0.5}), InvalidGraphError, ["999"]),
    (lambda d: d["edges"][0].pop("cost"), InvalidGraphError, ["edge #0", "cost"]),
    (lambda d: d["nodes"].append(dict(d["nodes"][0])), InvalidGraphError, ["duplicate node id 100"]),
    (lambda d: d["edges"][1].update(cost=-1), InvalidGraphError, ["cost"]),
    # the device cap is checked before a list of maxFPGAs devices is built (1e9 ran out of memory)
    (lambda d: d.update(maxFPGAs=1e9), InvalidGraphError, ["maxFPGAs is 1000000000.0, too large", "65536"]),
    (lambda d: d.update(maxFPGAs=100000), InvalidGraphError, ["maxFPGAs is 100000, too large", "65536"]),
    (lambda d: d.update(maxCPUs=70000), InvalidGraphError, ["maxCPUs is 70000, too large"]),
    (lambda d: d.update(maxFPGAs=40000, maxCPUs=40000), InvalidGraphError, ["maxFPGAs + maxCPUs is 80000"]),
    (lambda d: d.update(maxFPGAs=1.5), InvalidGraphError, ["maxFPGAs must be an integer"]),
    (lambda d: d.update(maxSizePerFPGA=0), InvalidGraphError, ["maxSizePerFPGA is 0", "> 0"]),
    # integers past the float or int32 range were raw OverflowErrors
    (lambda d: d["nodes"][0].update(size=10 ** 400), InvalidGraphError, ["node 100", "size is too large"]),
    (lambda d: d.update(maxSizePerFPGA=10 ** 400), InvalidGraphError, ["maxSizePerFPGA is too large"]),
    (lambda d: d["nodes"][0].update(colorClass=2 ** 70), InvalidGraphError, ["node 100", "colorClass"]),
])
def test_bad_input(tmp_path, mutate, error, words):
    doc = problem()
    mutate(doc)
    path = write(tmp_path, doc)
    with pytest.raises(error) as info:
        read_dnnp(path)
    msg = str(info.value)
    assert str(path) in msg
    for w in words:
        assert w in msg


def test_read_split_of_a_binary_file(tmp_path):
    graph, package = read_dnnp(write(tmp_path, problem()))
    split = tmp_path / "split.json"
    split.write_bytes(b"\xff\xfe\x00\x80")
    with pytest.raises(InvalidGraphError, match="split.json: not a text file"):
        read_dnnp_split(split, graph, package)


def test_truncated_and_missing(tmp_path):
    text = json.dumps(problem())
    path = write(tmp_path, text[: len(text) // 2])
    with pytest.raises(InvalidGraphError, match="truncated"):
        read_dnnp(path)
    with pytest.raises(InvalidGraphError, match="no such file"):
        read_dnnp(tmp_path / "nope.json")
    with pytest.raises(InvalidGraphError, match="top level"):
        read_dnnp(write(tmp_path, "[1, 2]"))


def test_cli_import(tmp_path, capsys):
    from mcmcore import load_graph, load_package
    from mcmcore.cli import main

    src = write(tmp_path, problem())
    out, pkg = tmp_path / "g.json", tmp_path / "pkg.json"
    assert main(["import", str(src), "-o", str(out), "--package-output", str(pkg)]) == 0
    g, p = read_dnnp(src)
    assert load_graph(out) == g
    r = evaluate(load_graph(out), load_package(pkg), [0, 1, 2, 0])
    assert r.interval == pytest.approx(2.85)
    bad = write(tmp_path, "{", "bad.json")
    assert main(["import", str(bad), "-o", str(out)]) == 1
    assert "bad.json" in capsys.readouterr().err

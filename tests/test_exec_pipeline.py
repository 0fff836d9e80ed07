"""The executor and the profiler with real worker processes (small: 2 workers, a few samples, no timing asserts)."""
import math
import multiprocessing as mp

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
torch.set_num_threads(1)

from mcmcore import Constraints, Package, evaluate  # noqa: E402
from mcmcore.exec import PipelineError, profile, run_pipeline  # noqa: E402
from mcmcore.io import from_torch  # noqa: E402

from exec_models import tiny_bert  # noqa: E402


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(8, 8)
        self.b = torch.nn.Linear(8, 8)
        self.c = torch.nn.Linear(8, 4)

    def forward(self, x):
        h = torch.relu(self.a(x)).view(2, 8)
        return self.c(torch.relu(self.b(h)) + h)


def test_two_stage_bert_pipeline_matches_the_model():
    model, inputs = tiny_bert()
    with torch.no_grad():
        graph = from_torch(model, inputs, warn_unknown=False)
        reference = model(*inputs)
    pl = (np.arange(graph.n_nodes) * 2 // graph.n_nodes).astype(np.int32)
    m = run_pipeline(model, inputs, graph, pl, n_samples=6, warmup=1, workers=2, latency_samples=3)
    torch.testing.assert_close(m.outputs, reference)
    assert [s.device for s in m.stages] == [0, 1]
    assert sum(s.n_nodes for s in m.stages) == graph.n_nodes
    assert m.throughput > 0 and math.isclose(m.throughput * m.interval, 1.0)
    assert 0 < m.latency_median <= m.latency_p90 and m.latency_mean > 0
    assert all(s.compute > 0 and s.cpu_busy > 0 for s in m.stages) and m.cpu_interval > 0
    assert set(m.to_dict()) >= {"throughput", "latency_median", "stages"}
    assert mp.active_children() == []


def test_spawned_workers_give_the_same_outputs():
    model = Small().eval()
    x = torch.randn(2, 8)
    graph = from_torch(model, (x,))
    m = run_pipeline(model, (x,), graph, [0, 0, 1, 1, 1, 1], n_samples=2, warmup=0, latency_samples=1,
                     start_method="spawn")
    with torch.no_grad():
        torch.testing.assert_close(m.outputs, model(x))
    assert mp.active_children() == []


class ManyWeights(torch.nn.Module):
    """300 parameters in one stage: more file descriptors than forkserver passes (256) if sent one by one."""

    def __init__(self, n: int = 300):
        super().__init__()
        self.biases = torch.nn.ParameterList(torch.nn.Parameter(torch.randn(4)) for _ in range(n))

    def forward(self, x):
        for b in self.biases:
            x = x + b
        return x


def test_a_stage_with_hundreds_of_weights_runs():
    # ResNet-50 on one device failed with "too many fds" (267 weight tensors)
    model = ManyWeights().eval()
    x = torch.randn(2, 4)
    m = run_pipeline(model, (x,), None, np.zeros(300, dtype=int), n_samples=2, warmup=0, workers=1,
                     latency_samples=1)
    with torch.no_grad():
        torch.testing.assert_close(m.outputs, model(x))
    assert mp.active_children() == []


def test_packed_weights_round_trip():
    from mcmcore.exec.pipeline import pack_weights, unpack_weights

    tensors = [torch.randn(3, 5), torch.randn(4, 6).t(), torch.tensor(2.5, dtype=torch.float16),
               torch.tensor([True, False, True]), torch.arange(7, dtype=torch.int64), torch.zeros(0, 3)]
    flat, metas = pack_weights(tensors)
    back = unpack_weights(flat, metas)
    for a, b in zip(tensors, back):
        assert a.dtype == b.dtype and a.shape == b.shape
        torch.testing.assert_close(a, b)


def test_workers_are_pinned_when_a_core_is_left_for_the_driver():
    import os

    from mcmcore.exec.pipeline import _core_sets

    assert _core_sets(2, (0, 1), None) == ([None, None], [1, 1]) or len(os.sched_getaffinity(0)) > 2
    model = Small().eval()
    x = torch.randn(2, 8)
    m = run_pipeline(model, (x,), None, np.zeros(6, dtype=int), n_samples=2, warmup=0, workers=1,
                     latency_samples=1)
    avail = sorted(os.sched_getaffinity(0))
    if len(avail) > 1:  # one device slot: it gets every core but one
        assert m.stages[0].cores == tuple(avail[:len(avail) - 1]) and m.stages[0].n_threads == len(avail) - 1
    torch.testing.assert_close(m.outputs, model(x).detach())


@pytest.mark.parametrize("fault", ["raise", "exit"])
def test_a_dying_worker_is_reported_with_its_stage_and_leaves_no_process(fault):
    model = Small().eval()
    x = torch.randn(2, 8)
    graph = from_torch(model, (x,))
    pl = np.array([0, 0, 1, 1, 1, 1])
    assert graph.n_nodes == len(pl)
    with pytest.raises(PipelineError, match="stage 1 \\(device 1\\)") as info:
        run_pipeline(model, (x,), graph, pl, n_samples=4, warmup=1, _fault=(1, fault))
    assert info.value.stage == 1 and info.value.device == 1
    assert ("injected fault" in str(info.value)) == (fault == "raise")
    assert mp.active_children() == []


def test_profile_writes_measured_latency_and_comm_time():
    model = Small().eval()
    x = torch.randn(2, 8)
    graph = profile(model, (x,), repeats=3, transfer_rounds=3)
    assert graph.latency.shape == (graph.n_nodes, 1) and (graph.latency > 0).all()
    assert graph.comm_time is not None and (graph.comm_time > 0).all()
    assert graph.names == from_torch(model, (x,)).names
    package = Package.port(2, bandwidth=1e9, peak_flops=1e12, mem_bw=1e11, sram_bytes=1e12)
    report = evaluate(graph, package, np.zeros(graph.n_nodes, dtype=np.int32),
                      constraints=Constraints(dataflow="ordered"))
    assert math.isclose(report.interval, graph.latency.sum())
    assert mp.active_children() == []


def test_mcm_run_on_a_saved_program(tmp_path, capsys):
    import json

    from mcmcore.cli import main

    model = Small().eval()
    x = torch.randn(2, 8)
    with torch.no_grad():
        ep = torch.export.export(model, (x,))
    torch.export.save(ep, str(tmp_path / "small.pt2"))
    (tmp_path / "result.json").write_text(json.dumps({"placement": [0, 0, 0, 1, 1, 1]}))
    rc = main(["run", str(tmp_path / "small.pt2"), "--placement", str(tmp_path / "result.json"), "--samples", "3",
               "--warmup", "0", "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    doc = json.loads(out)
    assert doc["throughput"] > 0 and [s["device"] for s in doc["stages"]] == [0, 1]
    (tmp_path / "back.json").write_text(json.dumps([1, 1, 1, 0, 0, 0]))
    assert main(["run", str(tmp_path / "small.pt2"), "--placement", str(tmp_path / "back.json")]) == 1
    assert "pipeline order" in capsys.readouterr().err
    assert mp.active_children() == []

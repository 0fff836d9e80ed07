"""Splitting an exported program by a placement (mcmcore.exec.stages), checked in-process: no workers."""
import multiprocessing as mp

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
torch.set_num_threads(1)

from mcmcore import Constraints, Package, random_valid  # noqa: E402
from mcmcore.exec import DataflowOrderError, run_pipeline, split_program  # noqa: E402
from mcmcore.exec.pipeline import export_program, run_inline  # noqa: E402
from mcmcore.io.torch_export import from_exported_program  # noqa: E402

from exec_models import tiny_bert  # noqa: E402


@pytest.fixture(scope="module")
def bert():
    model, inputs = tiny_bert()
    ep = export_program(model, inputs)
    graph = from_exported_program(ep, warn_unknown=False)
    with torch.no_grad():
        reference = model(*inputs)
    return model, inputs, ep, graph, reference


def _package(k):
    return Package.port(k, bandwidth=1e9, peak_flops=1e12, mem_bw=1e11, sram_bytes=1e12)


@pytest.mark.parametrize("k", [2, 3])
def test_random_ordered_placements_split_into_stages_that_compute_the_model(bert, k):
    model, inputs, ep, graph, reference = bert
    placements = random_valid(graph, _package(k), constraints=Constraints(dataflow="ordered"), seed=k, n=8)
    for pl in placements:
        plan = split_program(ep, graph, pl)
        assert plan.devices == tuple(sorted(set(pl.tolist())))
        owned = sorted(i for st in plan.stages for i in st.graph_nodes)
        assert owned == list(range(graph.n_nodes))  # every graph node runs on exactly one stage
        for (src, dst) in plan.transfers:
            assert src < dst  # values only flow forward
        (out,) = run_inline(plan, inputs)
        torch.testing.assert_close(out, reference)


def test_stages_follow_the_package_order(bert):
    model, inputs, ep, graph, reference = bert
    pl = np.where(np.arange(graph.n_nodes) < graph.n_nodes // 2, 1, 0)  # device 1 first
    package = Package.port(2, bandwidth=1e9, peak_flops=1e12, mem_bw=1e11, sram_bytes=1e12, order=[1, 0])
    plan = split_program(ep, graph, pl, order=package.order)
    assert plan.devices == (1, 0)
    torch.testing.assert_close(run_inline(plan, inputs)[0], reference)
    with pytest.raises(DataflowOrderError):
        split_program(ep, graph, pl)  # by device id, device 0 comes first: a backward read


def test_backward_placement_is_refused_before_any_worker_starts(bert):
    model, inputs, ep, graph, reference = bert
    pl = np.where(np.arange(graph.n_nodes) < graph.n_nodes // 2, 1, 0)
    with pytest.raises(DataflowOrderError, match="later stage"):
        run_pipeline(model, inputs, graph, pl, n_samples=2, warmup=0)
    assert mp.active_children() == []


def test_wrong_graph_and_wrong_length_are_refused(bert):
    from mcmcore import InvalidPlacementError
    from mcmcore.generate import layered_dag

    model, inputs, ep, graph, reference = bert
    with pytest.raises(InvalidPlacementError, match="nodes"):
        split_program(ep, graph, np.zeros(graph.n_nodes + 1, dtype=int))
    other = layered_dag(graph.n_nodes, seed=0)
    with pytest.raises(InvalidPlacementError, match="does not come from this model"):
        split_program(ep, other, np.zeros(graph.n_nodes, dtype=int))


def test_load_model_refuses_unknown_models_and_options(tmp_path):
    from mcmcore import MCMError
    from mcmcore.exec.models import load_model

    with pytest.raises(MCMError, match="unknown zoo model"):
        load_model("no-such-model")
    with pytest.raises(MCMError, match="no option 'depth'"):
        load_model("bert-base", depth=3)
    with pytest.raises(MCMError, match="no such file"):
        load_model(str(tmp_path / "missing.pt2"))


def test_core_chunks_leave_one_core_to_the_driver(monkeypatch):
    import os

    from mcmcore.exec.pipeline import _core_sets

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(9)))
    assert _core_sets(2, (0, 1), None) == ([(0, 1, 2, 3), (4, 5, 6, 7)], [4, 4])
    assert _core_sets(4, (1, 3), 1) == ([(2, 3), (6, 7)], [1, 1])  # only used devices get a worker
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert _core_sets(2, (0, 1), None) == ([None, None], [1, 1])  # no spare core: not pinned


class TwoOutputs(torch.nn.Module):
    """Outputs from two stages, one of them a view of the input only (recomputed, never shipped)."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(6, 6)
        self.b = torch.nn.Linear(6, 3)

    def forward(self, x):
        h = torch.relu(self.a(x))
        parts = h.split(3, dim=1)  # a list value, folded
        return self.b(parts[0].repeat(1, 2) + parts[1].repeat(1, 2)), h, x.view(-1)


def test_several_outputs_lists_and_input_views():
    from mcmcore.io.torch_export import from_exported_program

    model = TwoOutputs().eval()
    x = torch.randn(4, 6)
    ep = export_program(model, (x,))
    graph = from_exported_program(ep, warn_unknown=False)
    with torch.no_grad():
        ref = model(x)
    for cut in range(graph.n_nodes + 1):
        pl = (np.arange(graph.n_nodes) >= cut).astype(int)
        plan = split_program(ep, graph, pl)
        out = run_inline(plan, (x,))
        for a, b in zip(out, ref):
            torch.testing.assert_close(a, b)

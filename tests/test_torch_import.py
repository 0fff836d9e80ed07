"""The torch.export importer: FLOPs and bytes per op, folding of views, weights, unknown ops."""
import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)

from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mcmcore import InvalidGraphError  # noqa: E402
from mcmcore.io import from_torch  # noqa: E402
from mcmcore.io.torch_export import UnknownOpWarning  # noqa: E402


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 8, bias=False)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        h = h.view(4, 32).transpose(0, 1).transpose(0, 1)  # folded
        return self.fc2(h)


def test_mlp_costs():
    g = from_torch(MLP(), (torch.randn(4, 16),))
    assert g.ops == ("linear", "relu", "linear")
    assert g.n_edges == 2
    # fc1: 2 * 4 * 32 * 16 + bias 4 * 32; relu: 4 * 32; fc2: 2 * 4 * 8 * 32.
    np.testing.assert_array_equal(g.flops, [2 * 4 * 32 * 16 + 128, 128, 2 * 4 * 8 * 32])
    np.testing.assert_array_equal(g.weight_bytes, [(16 * 32 + 32) * 4, 0, 32 * 8 * 4])
    np.testing.assert_array_equal(g.out_bytes, [4 * 32 * 4, 4 * 32 * 4, 4 * 8 * 4])
    # Bytes moved: inputs (parameters included) + output.
    assert g.mem_bytes[0] == (4 * 16 + 16 * 32 + 32) * 4 + 4 * 32 * 4
    assert g.name == "MLP"


class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        y = self.bn(self.conv(x))
        return y.sum(dim=(2, 3)) + F.softmax(y.mean(dim=(2, 3)), dim=-1)


def test_conv_norm_reduction():
    g = from_torch(Conv().eval(), (torch.randn(1, 3, 10, 10),))
    flops = dict(zip(g.ops, g.flops))
    assert flops["conv2d"] == 2 * 8 * 10 * 10 * 3 * 3 * 3
    assert flops["sum"] == 800 and flops["mean"] == 800
    assert flops["softmax"] == 5 * 8
    # batch-norm weights, bias, running mean and variance are its weight bytes (buffers count too).
    bn = [i for i, op in enumerate(g.ops) if "batch_norm" in op][0]
    assert g.weight_bytes[bn] == 4 * 8 * 4


class Attention(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


def test_attention():
    q, k, v = torch.randn(2, 4, 16, 8), torch.randn(2, 4, 32, 8), torch.randn(2, 4, 32, 8)
    g = from_torch(Attention(), (q, k, v))
    assert g.n_nodes == 1
    assert g.flops[0] == 2 * 8 * 16 * 32 * 8 * 2 + 5 * 8 * 16 * 32


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)

    def forward(self, ids):
        return self.emb(ids) @ self.emb.weight.t()


def test_tied_weights_counted_once():
    g = from_torch(Tied(), (torch.tensor([[1, 2, 3]]),))
    assert g.total_weight_bytes == 10 * 4 * 4


class Odd(nn.Module):
    def forward(self, x):
        return torch.cumprod(torch.fft.fft(x).real, 0) + torch.special.i0(x)


def test_unknown_ops_warn_once():
    with pytest.warns(UnknownOpWarning) as rec:
        g = from_torch(Odd(), (torch.randn(8),))
    assert len([w for w in rec if issubclass(w.category, UnknownOpWarning)]) == 1
    assert g.n_nodes >= 2 and (g.mem_bytes > 0).all()


def test_export_failure_is_clear():
    class Bad(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow cannot be exported
                return x
            return -x

    with pytest.raises(InvalidGraphError, match="torch.export could not trace Bad"):
        from_torch(Bad(), (torch.randn(3),))


def test_bert_base_flops(bert_base):
    # 12 layers x (4 * 768^2 + 2 * 768 * 3072) * 128 * 2 + attention: about 22 GFLOPs.
    assert bert_base.total_flops == pytest.approx(22e9, rel=0.10)
    assert bert_base.total_weight_bytes == pytest.approx(4 * 109.5e6, rel=0.05)


def test_resnet50_flops(resnet50):
    assert resnet50.total_flops == pytest.approx(8.2e9, rel=0.10)
    assert resnet50.total_weight_bytes == pytest.approx(4 * 25.6e6, rel=0.05)


def test_gpt2_from_config():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=100, n_positions=64)
    m = transformers.GPT2Model(cfg).eval()
    g = from_torch(m, (torch.randint(0, 100, (1, 16)),), kwargs={"use_cache": False}, warn_unknown=False)
    assert "scaled_dot_product_attention" in g.ops
    assert g.n_nodes > 10


@pytest.fixture(scope="module")
def bert_base():
    pytest.importorskip("transformers")
    from zoo_cache import built

    return built("bert-base")


@pytest.fixture(scope="module")
def resnet50():
    from zoo_cache import built

    return built("resnet50")


# torch.no_grad() / torch.autocast regions: torch.export wraps them in higher-order ops whose bodies are submodules.
class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 16)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class NoGradRegion(Plain):
    def forward(self, x):
        with torch.no_grad():
            h = self.fc1(x)
        return self.fc2(torch.relu(h))


class AutocastRegions(Plain):
    def forward(self, x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            h = self.fc1(x)
            with torch.no_grad():
                y = self.fc2(torch.relu(h))
        return y, h  # two outputs of the region, read in reverse order


def test_no_grad_region_is_inlined(tmp_path):
    from mcmcore.io.torch_export import from_exported_program, load_exported_program

    x = torch.randn(8, 64)
    plain = from_torch(Plain().eval(), (x,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no UnknownOpWarning for the wrapper
        g = from_torch(NoGradRegion().eval(), (x,))
    # The Linear inside the region is costed as if the region were not there (it used to be a 0-FLOP wrapper).
    assert g.ops == plain.ops == ("linear", "relu", "linear")
    for field in ("flops", "mem_bytes", "out_bytes", "weight_bytes"):
        np.testing.assert_array_equal(getattr(g, field), getattr(plain, field), err_msg=field)
    assert g.flops[0] == 2 * 8 * 32 * 64 + 8 * 32
    assert [list(g.successors(v)) for v in range(3)] == [[1], [2], []]
    assert g.names[0].endswith(".linear") and g.names[1:] == ("relu", "linear_1")  # named by its submodule path
    # The same from a saved program (what `mcm import model.pt2` reads).
    path = tmp_path / "region.pt2"
    torch.export.save(torch.export.export(NoGradRegion().eval(), (x,)), str(path))
    loaded = from_exported_program(load_exported_program(path), name="region")
    np.testing.assert_array_equal(loaded.flops, plain.flops)


def test_nested_autocast_region_is_inlined():
    x = torch.randn(8, 64)
    plain = from_torch(Plain().eval(), (x,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = from_torch(AutocastRegions().eval(), (x,))
    assert g.ops == ("linear", "relu", "linear")
    np.testing.assert_array_equal(g.flops, plain.flops)
    np.testing.assert_array_equal(g.weight_bytes, plain.weight_bytes)
    np.testing.assert_array_equal(g.out_bytes, plain.out_bytes / 2)  # bfloat16 outputs under autocast
    assert [list(g.successors(v)) for v in range(3)] == [[1], [2], []]


class Branches(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda t: self.fc(t), lambda t: t.relu(), (x,))


def test_cond_is_refused():
    # Which branch runs depends on the data: no static cost graph is honest, so the importer refuses it clearly
    # (it used to become one 0-FLOP node, dropping the Linear).
    with pytest.raises(InvalidGraphError, match=r"Branches: node 'cond' is torch\.cond, data-dependent control flow"):
        from_torch(Branches().eval(), (torch.randn(4, 16),))


def test_other_higher_order_op_is_refused():
    from torch.nn.attention.flex_attention import flex_attention

    class Flex(nn.Module):
        def forward(self, q, k, v):
            return flex_attention(q, k, v)

    q = torch.randn(1, 1, 16, 8)
    with pytest.raises(InvalidGraphError, match="node 'flex_attention' is the higher-order op 'flex_attention', "
                                                "which runs the subgraph"):
        from_torch(Flex(), (q, q, q))

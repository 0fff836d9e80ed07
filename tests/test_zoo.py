"""The model zoo: shipped graphs load without torch, equal a fresh build, training variants, options."""
import subprocess
import sys

import numpy as np
import pytest

from mcmcore import MCMError, evaluate
from mcmcore import zoo
from mcmcore.package import Package

EXPECTED = {"bert-base", "bert-large", "gpt2", "resnet50", "inception-v3", "vit-b16"}
TEXT_MODELS = ("bert-base", "bert-large", "gpt2")  # built from transformers configs
# Total FLOPs (a multiply-add counts 2) of the default graphs, from the architectures' published MAC counts.
GFLOPS = {"bert-base": 22.4, "bert-large": 79.0, "gpt2": 22.4, "resnet50": 8.2, "inception-v3": 11.5,
          "vit-b16": 35.2}


def test_names():
    assert EXPECTED <= set(zoo.names())
    with pytest.raises(MCMError, match="unknown zoo model"):
        zoo.load("alexnet")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_graphs(name):
    g = zoo.load(name)
    assert g.name == name
    assert g.total_flops == pytest.approx(GFLOPS[name] * 1e9, rel=0.10)
    assert g.n_nodes > 100 and (g.weight_bytes > 0).any()
    # Every shipped graph evaluates on a preset package.
    r = evaluate(g, Package.preset("port4"), np.zeros(g.n_nodes, dtype=np.int32))
    assert r.interval > 0


def test_load_needs_no_torch():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
            "from mcmcore import zoo\n"
            "g = zoo.load('bert-large'); print(g.n_nodes)\n"
            "try:\n    zoo.build('resnet50')\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "MCMError" in out and "needs torch" in out


def test_training_variant():
    g = zoo.load("bert-base")
    t = zoo.load("bert-base", training=True)
    n = g.n_nodes
    assert t.n_nodes == 2 * n
    assert t.n_edges == 2 * g.n_edges + n
    np.testing.assert_array_equal(t.flops[n:], 2 * g.flops)
    assert t.backward[n:].all() and not t.backward[:n].any()
    np.testing.assert_array_equal(t.color[:n], t.color[n:])
    assert len(set(t.color[:n].tolist())) == n
    # Backward edges are the forward edges reversed.
    u, v = g.edges[0]
    assert v + n in t.predecessors(u + n)
    assert t.total_weight_bytes == g.total_weight_bytes
    with pytest.raises(MCMError):
        zoo.training_graph(t)


def test_bad_options():
    with pytest.raises(MCMError, match="no option 'seq'"):
        zoo.build("resnet50", seq=3)
    with pytest.raises(MCMError, match="positive integer"):
        zoo.build("bert-base", batch=0)


# ------------------------------------------------------------------------------------------- needs torch
# Every shipped graph is compared with a fresh build (bert-large takes the longest: a few seconds).
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_equals_fresh_build(name):
    pytest.importorskip("torch")
    if name in TEXT_MODELS:
        pytest.importorskip("transformers")
    from zoo_cache import built

    _skip_unless_built_with_these_versions(name)
    assert built(name) == zoo.load(name), f"{name}: shipped graph is stale; run scripts/regenerate_zoo.py"


def _skip_unless_built_with_these_versions(name):
    import importlib

    wanted = zoo.built_with()
    assert {"torch", "transformers"} <= set(wanted), "mcmcore/zoo/data/built_with.json is missing or incomplete"
    for lib in ("torch",) + (("transformers",) if name in TEXT_MODELS else ()):
        have = importlib.import_module(lib).__version__.split("+")[0]
        if have != wanted[lib]:
            pytest.skip(f"the shipped graphs were exported with {lib} {wanted[lib]}, this is {have}: torch.export's "
                        f"graphs differ between versions")


def test_build_options():
    pytest.importorskip("torch")
    g = zoo.build("vit-b16", batch=2, image_size=64, training=True)
    assert g.name == "vit-b16(batch=2,image_size=64)-train"
    base = zoo.load("vit-b16")
    # 64x64 has 17 tokens instead of 197; two samples: far fewer FLOPs than the default, but still a ViT.
    assert 0 < g.total_flops < base.total_flops
    assert g.n_nodes == 2 * base.n_nodes


# ---------------------------------------------------------------------------------------------------- CLI
def test_cli_zoo_and_info(tmp_path, capsys):
    from mcmcore.cli import main
    from mcmcore.io import load_graph

    assert main(["zoo", "list"]) == 0
    assert "bert-large" in capsys.readouterr().out
    out = tmp_path / "g.json"
    assert main(["zoo", "build", "resnet50", "-o", str(out)]) == 0
    assert load_graph(out) == zoo.load("resnet50")
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{zoo.load('resnet50').n_nodes} nodes" in text
    assert "conv2d" in text and "critical path" in text
    assert main(["info", "bert-base", "--json"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert info["op_histogram"]["linear"] == 72 and info["critical_path_nodes"] > 12
    assert main(["zoo", "build", "alexnet", "-o", str(out)]) == 1
    assert "unknown zoo model" in capsys.readouterr().err

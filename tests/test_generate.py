"""Generated graphs: seeded, acyclic, realistic costs."""
import numpy as np
import pytest

from mcmcore.generate import layered_dag, residual_chain, transformer_blocks


def test_layered_dag_unchanged_and_seeded():
    a, b = layered_dag(200, seed=3), layered_dag(200, seed=3)
    assert a == b and a != layered_dag(200, seed=4)
    assert a.n_nodes == 200 and a.name == "layered-200-s3"


def test_residual_chain():
    g = residual_chain(8, block_len=3, seed=1)
    assert g.n_nodes == 1 + 8 * 4
    assert g == residual_chain(8, block_len=3, seed=1) and g != residual_chain(8, block_len=3, seed=2)
    # Each add has the block's last op and the skip connection as inputs.
    adds = [i for i, op in enumerate(g.ops) if op == "add"]
    assert len(adds) == 8 and all(len(g.predecessors(i)) == 2 for i in adds)
    assert (g.flops > 0).all() and (g.weight_bytes[np.array(g.ops) == "relu"] == 0).all()
    with pytest.raises(ValueError):
        residual_chain(0)


def test_transformer_blocks_match_bert_base():
    g = transformer_blocks(12, noise=0)
    assert g.n_nodes == 12 * 12 and g.n_edges == 12 * 14 + 11 * 2
    # 12 BERT-base layers at sequence 128: about 22 GFLOPs and 85M parameters.
    assert g.total_flops == pytest.approx(22.3e9, rel=0.02)
    assert g.total_weight_bytes == pytest.approx(4 * 85e6, rel=0.02)
    noisy = transformer_blocks(12, seed=5)
    assert noisy == transformer_blocks(12, seed=5) and noisy.total_flops != g.total_flops
    assert noisy.total_flops == pytest.approx(g.total_flops, rel=0.1)
    with pytest.raises(ValueError):
        transformer_blocks(2, hidden=100, heads=12)

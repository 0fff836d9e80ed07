"""Tiny models shared by the tests of mcmcore.exec (kept small: the CI machine has 2 shared cores)."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def tiny_bert(layers: int = 2, seq: int = 16):
    """A ``layers``-layer BERT encoder (hidden 32) with random weights, and its example input."""
    import torch
    from transformers import BertConfig, BertModel

    from mcmcore.zoo.models import _Backbone

    torch.manual_seed(0)
    cfg = BertConfig(hidden_size=32, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=64,
                     vocab_size=500, max_position_embeddings=64)
    cfg._attn_implementation = "sdpa"
    model = _Backbone(BertModel(cfg, add_pooling_layer=False)).eval()
    return model, (torch.randint(0, 500, (1, seq)),)

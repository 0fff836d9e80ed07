"""The zoo's networks written in plain ``torch.nn`` (torchvision is not used), plus transformers backbones built
from configs with random weights. Importing this module needs torch; building a transformer needs transformers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ResNet50", "InceptionV3", "ViT", "bert", "gpt2"]


# ------------------------------------------------------------------------------------------------------ ResNet-50
class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + identity)


class ResNet50(nn.Module):
    """ResNet-50 v1.5 (stride in the 3x3 convolution), 1000 classes."""

    def __init__(self, num_classes: int = 1000, layers=(3, 4, 6, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for i, (n, width) in enumerate(zip(layers, (64, 128, 256, 512))):
            for j in range(n):
                blocks.append(_Bottleneck(cin, width, 2 if (j == 0 and i > 0) else 1))
                cin = width * 4
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        x = self.blocks(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


# ---------------------------------------------------------------------------------------------------- Inception-V3
class _ConvBN(nn.Module):
    def __init__(self, cin, cout, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class _InceptionA(nn.Module):
    def __init__(self, cin, pool_features):
        super().__init__()
        self.b1 = _ConvBN(cin, 64, 1)
        self.b5 = nn.Sequential(_ConvBN(cin, 48, 1), _ConvBN(48, 64, 5, padding=2))
        self.b3 = nn.Sequential(_ConvBN(cin, 64, 1), _ConvBN(64, 96, 3, padding=1), _ConvBN(96, 96, 3, padding=1))
        self.bp = _ConvBN(cin, pool_features, 1)

    def forward(self, x):
        p = self.bp(F.avg_pool2d(x, 3, stride=1, padding=1))
        return torch.cat([self.b1(x), self.b5(x), self.b3(x), p], 1)


class _InceptionB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.b3 = _ConvBN(cin, 384, 3, stride=2)
        self.bd = nn.Sequential(_ConvBN(cin, 64, 1), _ConvBN(64, 96, 3, padding=1), _ConvBN(96, 96, 3, stride=2))

    def forward(self, x):
        return torch.cat([self.b3(x), self.bd(x), F.max_pool2d(x, 3, stride=2)], 1)


class _InceptionC(nn.Module):
    def __init__(self, cin, c7):
        super().__init__()
        self.b1 = _ConvBN(cin, 192, 1)
        self.b7 = nn.Sequential(_ConvBN(cin, c7, 1), _ConvBN(c7, c7, (1, 7), padding=(0, 3)),
                                _ConvBN(c7, 192, (7, 1), padding=(3, 0)))
        self.bd = nn.Sequential(_ConvBN(cin, c7, 1), _ConvBN(c7, c7, (7, 1), padding=(3, 0)),
                                _ConvBN(c7, c7, (1, 7), padding=(0, 3)), _ConvBN(c7, c7, (7, 1), padding=(3, 0)),
                                _ConvBN(c7, 192, (1, 7), padding=(0, 3)))
        self.bp = _ConvBN(cin, 192, 1)

    def forward(self, x):
        p = self.bp(F.avg_pool2d(x, 3, stride=1, padding=1))
        return torch.cat([self.b1(x), self.b7(x), self.bd(x), p], 1)


class _InceptionD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.b3 = nn.Sequential(_ConvBN(cin, 192, 1), _ConvBN(192, 320, 3, stride=2))
        self.b7 = nn.Sequential(_ConvBN(cin, 192, 1), _ConvBN(192, 192, (1, 7), padding=(0, 3)),
                                _ConvBN(192, 192, (7, 1), padding=(3, 0)), _ConvBN(192, 192, 3, stride=2))

    def forward(self, x):
        return torch.cat([self.b3(x), self.b7(x), F.max_pool2d(x, 3, stride=2)], 1)


class _InceptionE(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.b1 = _ConvBN(cin, 320, 1)
        self.b3 = _ConvBN(cin, 384, 1)
        self.b3a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.b3b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.bd1 = _ConvBN(cin, 448, 1)
        self.bd2 = _ConvBN(448, 384, 3, padding=1)
        self.bda = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.bdb = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.bp = _ConvBN(cin, 192, 1)

    def forward(self, x):
        y3 = self.b3(x)
        yd = self.bd2(self.bd1(x))
        p = self.bp(F.avg_pool2d(x, 3, stride=1, padding=1))
        return torch.cat([self.b1(x), self.b3a(y3), self.b3b(y3), self.bda(yd), self.bdb(yd), p], 1)


class InceptionV3(nn.Module):
    """Inception-V3 (Szegedy et al. 2016) without the auxiliary classifier, 1000 classes, 299x299 input."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(_ConvBN(3, 32, 3, stride=2), _ConvBN(32, 32, 3), _ConvBN(32, 64, 3, padding=1))
        self.stem2 = nn.Sequential(_ConvBN(64, 80, 1), _ConvBN(80, 192, 3))
        self.mixed = nn.Sequential(
            _InceptionA(192, 32), _InceptionA(256, 64), _InceptionA(288, 64), _InceptionB(288),
            _InceptionC(768, 128), _InceptionC(768, 160), _InceptionC(768, 160), _InceptionC(768, 192),
            _InceptionD(768), _InceptionE(1280), _InceptionE(2048))
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 3, stride=2)
        x = F.max_pool2d(self.stem2(x), 3, stride=2)
        x = self.mixed(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


# ------------------------------------------------------------------------------------------------------------ ViT
class _EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, mlp)
        self.fc2 = nn.Linear(mlp, dim)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + self.proj(a)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class ViT(nn.Module):
    """Vision Transformer (Dosovitskiy et al. 2021); defaults are ViT-B/16 at 224x224, 1000 classes."""

    def __init__(self, image_size: int = 224, patch: int = 16, dim: int = 768, depth: int = 12, heads: int = 12,
                 mlp: int = 3072, num_classes: int = 1000):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        n_patches = (image_size // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, n_patches + 1, dim))
        self.blocks = nn.Sequential(*[_EncoderBlock(dim, heads, mlp) for _ in range(depth)])
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        x = self.ln(self.blocks(x))
        return self.head(x[:, 0])


# ---------------------------------------------------------------------------------------------- transformers
class _Backbone(nn.Module):
    """Wraps a transformers model so the exported program returns one tensor (no cache objects)."""

    def __init__(self, model, **call_kwargs):
        super().__init__()
        self.model = model
        self.call_kwargs = call_kwargs

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, **self.call_kwargs).last_hidden_state


def bert(size: str = "base") -> nn.Module:
    """BERT (Devlin et al. 2019) from a config with random weights: ``size`` ``"base"`` or ``"large"``."""
    from transformers import BertConfig, BertModel

    if size == "base":
        cfg = BertConfig()
    else:
        cfg = BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)
    cfg._attn_implementation = "sdpa"
    return _Backbone(BertModel(cfg, add_pooling_layer=False))


def gpt2() -> nn.Module:
    """GPT-2 small (124M) from a config with random weights, without the LM head."""
    from transformers import GPT2Config, GPT2Model

    cfg = GPT2Config()
    cfg._attn_implementation = "sdpa"
    return _Backbone(GPT2Model(cfg), use_cache=False)

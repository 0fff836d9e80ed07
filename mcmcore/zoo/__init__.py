"""The model zoo: real networks built in code with random weights (no downloads), imported through torch.export.

``build(name, **options)`` builds a graph (needs torch, and transformers for the BERT / GPT-2 entries);
``load(name)`` reads the default-option graph shipped in ``mcmcore/zoo/data`` (needs nothing but mcmcore), so
``mcm partition bert-large ...`` works on a plain install. ``scripts/regenerate_zoo.py`` rebuilds the shipped
files; a test checks that they equal a fresh build.

Options: ``batch`` (all models), ``seq`` (transformers), ``image_size`` (CNNs and ViT) and ``training``: with
``training=True`` every forward compute node gets a backward node (see :func:`training_graph`).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable

import numpy as np

from mcmcore.errors import MCMError
from mcmcore.graph import Graph

__all__ = ["names", "build", "load", "describe", "training_graph", "data_file", "built_with", "ZooEntry"]


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: how to build its module and its example input."""

    description: str
    kind: str  # "text" (token ids of shape (batch, seq)) or "image" ((batch, 3, size, size))
    defaults: dict[str, Any]
    module: Callable[[], Any]


def _bert_base():
    from mcmcore.zoo.models import bert

    return bert("base")


def _bert_large():
    from mcmcore.zoo.models import bert

    return bert("large")


def _gpt2():
    from mcmcore.zoo.models import gpt2

    return gpt2()


def _resnet50():
    from mcmcore.zoo.models import ResNet50

    return ResNet50()


def _inception_v3():
    from mcmcore.zoo.models import InceptionV3

    return InceptionV3()


def _vit_b16(image_size: int = 224):
    from mcmcore.zoo.models import ViT

    return ViT(image_size=image_size)


_ZOO: dict[str, ZooEntry] = {
    "bert-base": ZooEntry("BERT-base encoder (12 layers, hidden 768), transformers config, random weights",
                          "text", {"batch": 1, "seq": 128}, _bert_base),
    "bert-large": ZooEntry("BERT-large encoder (24 layers, hidden 1024), transformers config, random weights",
                           "text", {"batch": 1, "seq": 128}, _bert_large),
    "gpt2": ZooEntry("GPT-2 small (12 layers, hidden 768) without LM head, transformers config, random weights",
                     "text", {"batch": 1, "seq": 128}, _gpt2),
    "resnet50": ZooEntry("ResNet-50 v1.5, written in torch.nn", "image", {"batch": 1, "image_size": 224},
                         _resnet50),
    "inception-v3": ZooEntry("Inception-V3 (no auxiliary head), written in torch.nn", "image",
                             {"batch": 1, "image_size": 299}, _inception_v3),
    "vit-b16": ZooEntry("ViT-B/16, written in torch.nn", "image", {"batch": 1, "image_size": 224}, _vit_b16),
}


def names() -> list[str]:
    """Names of the zoo models."""
    return list(_ZOO)


def describe(name: str) -> str:
    """One line about model ``name``."""
    return _entry(name).description


def _entry(name: str) -> ZooEntry:
    try:
        return _ZOO[name]
    except KeyError:
        raise MCMError(f"unknown zoo model {name!r}; the zoo has: {', '.join(_ZOO)}") from None


def defaults(name: str) -> dict[str, Any]:
    """The default options of model ``name`` (those of its shipped graph), ``training`` excluded."""
    return dict(_entry(name).defaults)


def data_file(name: str):
    """The shipped data file of model ``name`` (a ``Traversable``; it may not exist in a source checkout)."""
    _entry(name)
    return resources.files("mcmcore.zoo").joinpath("data", f"{name}.npz")


def built_with() -> dict[str, str]:
    """The versions of the libraries the shipped graphs were exported with (``{"torch": ..., "transformers":
    ...}``; empty when unknown). torch.export's output changes between versions (GPT-2 has 221 nodes under torch
    2.11 and transformers 5.17, 223 under torch 2.13 and transformers 5.23), so a fresh :func:`build` equals
    :func:`load` only under these."""
    import json

    f = resources.files("mcmcore.zoo").joinpath("data", "built_with.json")
    return json.loads(f.read_text()) if f.is_file() else {}


def build(name: str, *, training: bool = False, **options) -> Graph:
    """Build zoo model ``name`` through torch.export.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    training : bool
        Add one backward node per forward compute node (see :func:`training_graph`).
    **options
        ``batch`` and ``seq`` (text models) or ``batch`` and ``image_size`` (image models).

    Raises
    ------
    MCMError
        Unknown model or option, or torch / transformers missing.
    """
    entry = _entry(name)
    unknown = set(options) - set(entry.defaults)
    if unknown:
        raise MCMError(f"zoo model {name!r} has no option {sorted(unknown)[0]!r} "
                       f"(options: {', '.join(entry.defaults)}, training)")
    opts = {**entry.defaults, **options}
    for k, v in opts.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise MCMError(f"zoo option {k} must be a positive integer, got {v!r}")
    try:
        import torch
    except ImportError:
        raise MCMError(f"building zoo model {name!r} needs torch (pip install 'mcmcore[models]'); "
                       f"zoo.load({name!r}) reads the shipped default graph without it") from None
    from mcmcore.io.torch_export import from_torch

    torch.manual_seed(0)
    try:
        module = entry.module(opts["image_size"]) if name == "vit-b16" else entry.module()
    except ImportError as exc:
        raise MCMError(f"building zoo model {name!r} needs {exc.name or 'transformers'} "
                       f"(pip install 'mcmcore[models]')") from None
    module.eval()
    if entry.kind == "text":
        example = torch.randint(0, 1000, (opts["batch"], opts["seq"]))
    else:
        example = torch.randn(opts["batch"], 3, opts["image_size"], opts["image_size"])
    changed = {k: v for k, v in opts.items() if v != entry.defaults[k]}
    label = name + ("(" + ",".join(f"{k}={v}" for k, v in changed.items()) + ")" if changed else "")
    with torch.no_grad():
        graph = from_torch(module, (example,), name=label, warn_unknown=False)
    return training_graph(graph) if training else graph


def load(name: str, *, training: bool = False) -> Graph:
    """The shipped default-option graph of model ``name`` (no torch needed).

    With ``training=True`` the backward nodes are added (:func:`training_graph`).
    """
    from mcmcore.io.native import load_graph

    f = data_file(name)
    if not f.is_file():
        raise MCMError(f"zoo model {name!r} has no shipped data file ({f}); run scripts/regenerate_zoo.py "
                       f"or use zoo.build({name!r})")
    with resources.as_file(f) as path:
        graph = load_graph(path)
    return training_graph(graph) if training else graph


def training_graph(graph: Graph) -> Graph:
    """The training version of a forward graph, as in the training workloads of the published tools.

    Every forward node ``i`` gets a backward node ``i'`` named ``"<name>_grad"`` with twice its FLOPs and memory
    traffic, no weights, and an output the size of the largest input gradient it sends. Edges: the forward edges,
    the reversed edges among the backward nodes (``v' -> u'`` for ``u -> v``) and ``i -> i'`` (the stashed
    activation). Each forward node gets a unique color shared by its backward node, so both land on one device;
    backward nodes are marked ``backward`` (exempt from the dataflow constraint).
    """
    n = graph.n_nodes
    if graph.backward is not None and graph.backward.any():
        raise MCMError("training_graph needs a forward-only graph (this one already has backward nodes)")
    fwd = graph.edges.astype(np.int64)
    bwd = np.stack([fwd[:, 1] + n, fwd[:, 0] + n], axis=1)
    stash = np.stack([np.arange(n), np.arange(n) + n], axis=1)
    edges = np.concatenate([fwd, bwd, stash])
    grad_out = np.array(graph.out_bytes, dtype=np.float64)  # nodes without inputs send their own size
    for v in range(n):
        preds = graph.predecessors(v)
        if len(preds):
            grad_out[v] = float(graph.out_bytes[preds].max())
    color = np.arange(n, dtype=np.int64)
    kw: dict[str, Any] = dict(
        flops=np.concatenate([graph.flops, 2 * graph.flops]),
        mem_bytes=np.concatenate([graph.mem_bytes, 2 * graph.mem_bytes]),
        weight_bytes=np.concatenate([graph.weight_bytes, np.zeros(n)]),
        out_bytes=np.concatenate([graph.out_bytes, grad_out]),
        color=np.concatenate([color, color]),
        backward=np.concatenate([np.zeros(n, bool), np.ones(n, bool)]),
        names=list(graph.names) + [f"{x}_grad" for x in graph.names],
        ops=list(graph.ops) + [f"{x}_grad" for x in graph.ops],
        name=f"{graph.name or 'graph'}-train",
    )
    if graph.latency is not None:
        kw["latency"] = np.concatenate([graph.latency, 2 * graph.latency])
    if graph.supported is not None:
        kw["supported"] = np.concatenate([graph.supported, graph.supported])
    if graph.comm_time is not None:
        kw["comm_time"] = np.concatenate([graph.comm_time, graph.comm_time])
    if graph.pin is not None:
        kw["pin"] = np.concatenate([graph.pin, graph.pin])
    return Graph.from_edges(2 * n, edges, **kw)

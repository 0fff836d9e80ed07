"""Readers and writers of graphs and placements."""
from mcmcore.io.dnnp import read_dnnp, read_dnnp_split, write_dnnp_split
from mcmcore.io.native import load_graph, save_graph


def from_torch(model, example_inputs, **options):
    """Import a PyTorch module through ``torch.export`` (see :mod:`mcmcore.io.torch_export`; needs torch)."""
    from mcmcore.io.torch_export import from_torch as _from_torch

    return _from_torch(model, example_inputs, **options)


def from_onnx(model, **options):
    """Import an ONNX model (see :mod:`mcmcore.io.onnx_import`; needs onnx)."""
    from mcmcore.io.onnx_import import from_onnx as _from_onnx

    return _from_onnx(model, **options)


__all__ = ["load_graph", "save_graph", "read_dnnp", "read_dnnp_split", "write_dnnp_split", "from_torch",
           "from_onnx"]

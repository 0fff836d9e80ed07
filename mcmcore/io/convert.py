"""Import any supported model or graph file by its type, and summarise a graph (``mcm import`` / ``mcm info``)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from mcmcore.errors import InvalidGraphError
from mcmcore.graph import Graph
from mcmcore.io.native import read_json_document
from mcmcore.package import Package

__all__ = ["import_graph", "graph_info"]


def import_graph(path, *, dims: dict[str, int] | None = None) -> tuple[Graph, Package | None]:
    """Read ``path`` by its type: ONNX (``.onnx``), a saved ``torch.export`` program (``.pt2``), the NeurIPS 2020
    device-placement JSON (a ``.json`` with ``maxFPGAs``; it also yields its package), or a native graph (``.json``
    / ``.npz``). ``dims`` gives the sizes of an ONNX model's symbolic dimensions (``{"batch": 8}``, see
    :func:`~mcmcore.io.onnx_import.from_onnx`); other files have none, so it is refused for them.

    Returns
    -------
    (Graph, Package or None)
    """
    path = Path(path)
    if not path.exists():
        raise InvalidGraphError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if dims and suffix != ".onnx":
        raise InvalidGraphError(f"{path}: symbolic dimension sizes (dims, --dim) apply only to ONNX models")
    if suffix == ".onnx":
        from mcmcore.io.onnx_import import from_onnx

        return from_onnx(path, dims=dims), None
    if suffix == ".pt2":
        try:
            import torch
        except ImportError:
            raise InvalidGraphError(f"{path}: reading a torch.export program needs torch") from None
        from mcmcore.io.torch_export import from_exported_program, load_exported_program

        return from_exported_program(load_exported_program(path), name=path.stem), None
    if suffix == ".json":
        doc = read_json_document(path)
        if isinstance(doc, dict) and "maxFPGAs" in doc:
            from mcmcore.io.dnnp import dnnp_from_dict

            return dnnp_from_dict(doc, source=str(path), name=path.stem)
        from mcmcore.io.native import graph_from_dict

        return graph_from_dict(doc, source=str(path)), None
    if suffix == ".npz":
        from mcmcore.io.native import load_graph

        return load_graph(path), None
    raise InvalidGraphError(f"{path}: unknown file type {suffix!r} (expected .onnx, .pt2, .json or .npz)")


def graph_info(graph: Graph) -> dict[str, Any]:
    """Counts, totals, the critical path (the path of most FLOPs) and a histogram of op types."""
    n = graph.n_nodes
    best = np.zeros(n)
    prev = np.full(n, -1, dtype=np.int64)
    flops = graph.flops
    for v in graph.topo_order:
        preds = graph.predecessors(v)
        if len(preds):
            p = preds[int(np.argmax(best[preds]))]
            best[v] = best[p] + flops[v]
            prev[v] = p
        else:
            best[v] = flops[v]
    path: list[int] = []
    if n:
        v = int(np.argmax(best))
        while v >= 0:
            path.append(v)
            v = int(prev[v])
        path.reverse()
    return {
        "name": graph.name,
        "nodes": n,
        "edges": graph.n_edges,
        "flops": graph.total_flops,
        "weight_bytes": graph.total_weight_bytes,
        "mem_bytes": float(graph.mem_bytes.sum()),
        "out_bytes": float(graph.out_bytes.sum()),
        "backward_nodes": int(graph.backward.sum()) if graph.backward is not None else 0,
        "colors": graph.n_colors,
        "kinds": graph.n_kinds,
        "critical_path_flops": float(best.max()) if n else 0.0,
        "critical_path_nodes": len(path),
        "critical_path": [graph.names[i] for i in path],
        "op_histogram": dict(Counter(graph.ops).most_common()),
    }

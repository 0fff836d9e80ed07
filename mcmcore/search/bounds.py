"""Lower bounds on the objective, valid for every placement that satisfies the constraints."""
from __future__ import annotations

import numpy as np

from mcmcore.graph import Graph
from mcmcore.package import Package

__all__ = ["compute_time_matrix", "lower_bound"]


def compute_time_matrix(graph: Graph, package: Package) -> np.ndarray:
    """Compute time of every node on every device, shape (n_nodes, n_devices) (the cost model's rule:
    per-kind latency when given, else the roofline max(flops / peak_flops, mem_bytes / mem_bw))."""
    if graph.latency is not None:
        return np.ascontiguousarray(graph.latency[:, package.kinds])
    return np.maximum(graph.flops[:, None] / package.peak_flops[None, :],
                      graph.mem_bytes[:, None] / package.mem_bw[None, :])


def lower_bound(graph: Graph, package: Package, *, objective: str = "throughput", constraints=None) -> float:
    """A lower bound on the interval (throughput objective) or the latency.

    Interval: the largest of (a) the heaviest co-location unit (a color class, or a node) on its fastest allowed
    device, (b) the total of each node's fastest compute time spread over all devices, (c) the compute pinned to
    any one device. Latency: the longest path with every node at its fastest compute time, and (b).
    Communication is ignored, so the bound holds for every interconnect model.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be an mcmcore.Graph, got {type(graph).__name__}")
    if not isinstance(package, Package):
        raise TypeError(f"package must be an mcmcore.Package, got {type(package).__name__}")
    if objective not in ("throughput", "latency"):
        raise ValueError(f"objective must be 'throughput' or 'latency', got {objective!r}")
    if graph.n_nodes == 0:
        return 0.0
    ct = compute_time_matrix(graph, package)
    if graph.supported is not None and (constraints is None or constraints.support):
        ct = np.where(graph.supported[:, package.kinds], ct, np.inf)
    fastest = ct.min(axis=1)
    fastest = np.where(np.isfinite(fastest), fastest, 0.0)
    spread = float(fastest.sum()) / package.n_devices
    if objective == "latency":
        finish = np.zeros(graph.n_nodes)
        for i in graph.topo_order:
            preds = graph.predecessors(i)
            start = finish[preds].max() if len(preds) else 0.0
            finish[i] = start + fastest[i]
        return max(float(finish.max()), spread)
    unit = float(fastest.max())
    colors_on = constraints is None or constraints.colors
    if graph.n_colors and colors_on:
        members = graph._color_members
        ptr = graph._color_ptr
        for c in range(graph.n_colors):
            idx = members[ptr[c]:ptr[c + 1]]
            per_device = ct[idx].sum(axis=0)
            best = per_device[np.isfinite(per_device)]
            if best.size:
                unit = max(unit, float(best.min()))
    pinned = 0.0
    if graph.pin is not None and (constraints is None or constraints.pins):
        on = graph.pin >= 0
        if on.any():
            pins = graph.pin[on]
            loads = np.bincount(pins, weights=ct[np.flatnonzero(on), pins], minlength=package.n_devices)
            pinned = float(loads.max())
    return max(unit, spread, pinned)

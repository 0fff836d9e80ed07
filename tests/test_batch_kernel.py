"""The port-model pass for small packages (K <= 8 devices: device sets held in a byte) against the reference.

Graphs of a few hundred nodes, so the unrolled node and edge loops run with every remainder, K = 1..8 (the random
differential tests draw at most 6 port devices), one or several compute classes, backward nodes, colors, pins,
per-node comm_time, every dataflow form, all_used on and off; batch rows against evaluate and the reference.
"""
from __future__ import annotations

import numpy as np
import pytest

import mcmcore
from mcmcore import Constraints, Graph, Package
from reference import isclose, reference_evaluate


def _graph(rng, n, extra):
    edges = set()
    for v in range(1, n):
        edges.add((int(rng.integers(0, v)), v))
    for _ in range(extra):
        a, b = sorted(int(x) for x in rng.integers(0, n, size=2))
        if a != b:
            edges.add((a, b))
    fields = {f: list(rng.lognormal(10, 2, size=n)) for f in ("flops", "mem_bytes", "weight_bytes", "out_bytes")}
    if rng.random() < 0.5:
        fields["comm_time"] = list(rng.random(n))
    if rng.random() < 0.5:
        fields["backward"] = list(rng.random(n) < 0.3)
    if rng.random() < 0.5:
        fields["color"] = list(rng.integers(-1, 5, size=n))
    return Graph.from_edges(n, sorted(edges), **fields), fields, edges


@pytest.mark.parametrize("K", range(1, 9))
@pytest.mark.parametrize("seed", range(3))
def test_small_port_pass_matches_reference(K, seed):
    rng = np.random.default_rng(100 * K + seed)
    n = int(rng.integers(150, 260))
    graph, fields, edges = _graph(rng, n, int(rng.integers(0, 2 * n)))
    if seed != 1:  # pins below K
        graph = Graph.from_edges(n, sorted(edges), pin=list(np.maximum(rng.integers(-4, K, size=n), -1)), **fields)
    classes = seed == 1  # devices of different speeds: several compute classes
    peak = [1e12 * (1 + (k % 3 if classes else 0)) for k in range(K)]
    package = Package.port(K, bandwidth=5e9, peak_flops=peak, mem_bw=[1e11] * K,
                           sram_bytes=[float(rng.lognormal(10, 2)) * n / K] * K,
                           comm_factor=[float(k % 2) if seed == 2 else 1.0 for k in range(K)])
    batch = rng.integers(0, K, size=(int(rng.integers(1, 12)), n))
    batch[-1] = np.arange(n) * K // n  # contiguous stages: the device graph is a DAG
    for dataflow in ("acyclic", "ordered", None):
        for all_used in (False, True):
            constraints = Constraints(dataflow=dataflow, all_used=all_used,
                                      max_skip=1 if dataflow == "ordered" else None)
            for overlap in (False, True):
                kw = dict(constraints=constraints, overlap=overlap)
                for n_threads in (1, 2):
                    values, totals = mcmcore.evaluate_batch(graph, package, batch, return_violations=True,
                                                            n_threads=n_threads, **kw)
                    for b, row in enumerate(batch):
                        report = mcmcore.evaluate(graph, package, row, **kw)
                        ref = reference_evaluate(graph, package, row, constraints, overlap)
                        assert isclose(float(values[b]), ref["interval"]), (b, values[b], ref["interval"])
                        assert isclose(float(report.interval), ref["interval"])
                        assert report.violations == ref["violations"]
                        assert totals[b] == sum(ref["violations"].values())
                        for key in ("compute", "comm", "memory"):
                            got = [float(x) for x in getattr(report, key)]
                            assert all(isclose(g, e) for g, e in zip(got, ref[key])), key

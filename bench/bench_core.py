"""Benchmarks of the native evaluator (issue: native core). Prints a table; never fails on a timing.

    python bench/bench_core.py            # full run (about a minute)
    python bench/bench_core.py --quick    # smaller counts

Measured on a generated 2,000-node / 2,800-edge DAG (mcmcore.generate.layered_dag) unless stated.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

import mcmcore
from mcmcore.generate import layered_dag

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def rate(fn, count: int, repeat: int = 3) -> float:
    """Best-of-``repeat`` items per second of ``fn()``, which processes ``count`` items."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return count / best


def port6():
    return mcmcore.Package.port(6, bandwidth=50e9, peak_flops=32e12, mem_bw=2e12, sram_bytes=2**40)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    quick = args.quick
    rows: list[tuple[str, str, str]] = []

    def row(what, value, target=""):
        rows.append((what, value, target))
        print(f"{what:<62} {value:>22} {target}", flush=True)

    g = layered_dag(2000, 2800, seed=1)
    rng = np.random.default_rng(0)
    B = 4000 if quick else 20000
    cons = mcmcore.Constraints()
    print(f"graph: {g}")
    print(f"cpus: {mcmcore.evaluate.__module__ and os.cpu_count()}")

    for label, pkg in (("port, K=6", port6()), ("links, 6x6 mesh (simba6x6)", mcmcore.Package.preset("simba6x6"))):
        K = pkg.n_devices
        # Batches of 2,000 placements (16 MB, like a search's batch), evaluated B / 2,000 times.
        pls = rng.integers(0, K, size=(2000, g.n_nodes)).astype(np.int32)
        reps = max(1, B // 2000)
        mcmcore.evaluate_batch(g, pkg, pls[:10], n_threads=1)  # warm the problem cache

        def batches(**kw):
            for _ in range(reps):
                mcmcore.evaluate_batch(g, pkg, pls, constraints=cons, **kw)

        r1 = rate(lambda: batches(n_threads=1), reps * 2000)
        target = ">= 200,000/s" if K == 6 else ">= 50,000/s"
        row(f"full evaluation, 1 thread, {label}", f"{r1:,.0f} /s", target)
        rl = rate(lambda: batches(n_threads=1, objective="latency"), reps * 2000)
        row("  ... with latency (list schedule), 1 thread", f"{rl:,.0f} /s")
        r2 = rate(lambda: batches(n_threads=2), reps * 2000)
        row(f"evaluate_batch, 2 threads / 1 thread, {label}", f"{r2 / r1:.2f}x", ">= 1.8x")
        inc = mcmcore.IncrementalEvaluator(g, pkg, pls[0], constraints=cons)
        M = 1_000_000 if not quick else 200_000
        nodes = rng.integers(0, g.n_nodes, size=M).astype(np.int32)
        devs = rng.integers(0, K, size=M).astype(np.int32)
        rm = rate(lambda: inc.apply_moves(nodes, devs), M)
        row(f"incremental moves, {label}", f"{rm:,.0f} /s", ">= 5,000,000/s" if K == 6 else "")
        rmu = rate(lambda: inc.apply_moves(nodes, devs, undo=True), M)
        row(f"incremental trial moves (move + undo), {label}", f"{rmu:,.0f} /s")
        # Python-call overhead included: one move per call from Python.
        small = 100_000 if not quick else 20_000
        mv = inc.move
        def py_moves():
            for i in range(small):
                mv(int(nodes[i]), int(devs[i]))
        rp = rate(py_moves, small, repeat=1)
        row("  ... called one by one from Python", f"{rp:,.0f} /s")

    # Against the pure-Python reference (tests/reference.py), measured in the same run.
    try:
        from reference import reference_evaluate
    except ImportError:
        reference_evaluate = None
    if reference_evaluate is not None:
        for label, pkg in (("port, K=6", port6()), ("links, 6x6 mesh", mcmcore.Package.preset("simba6x6"))):
            pl = rng.integers(0, pkg.n_devices, size=g.n_nodes).astype(np.int32)
            n_ref = 3 if not quick else 1
            r_ref = rate(lambda: [reference_evaluate(g, pkg, pl, cons, None) for _ in range(n_ref)], n_ref, 1)
            r_nat = rate(lambda: [mcmcore.evaluate(g, pkg, pl, constraints=cons) for _ in range(200)], 200)
            row(f"native evaluate() / Python reference, {label}", f"{r_nat / r_ref:,.0f}x", ">= 100x")

    # Scale: time and memory grow linearly with the graph.
    sizes = (10_000, 100_000, 1_000_000) if not quick else (10_000, 100_000)
    for n in sizes:
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        big = layered_dag(n, int(1.4 * n), seed=2)
        build = time.perf_counter() - t0
        nbytes = sum(getattr(big, f).nbytes for f in ("succ_ptr", "succ_idx", "pred_ptr", "pred_idx", "topo_order",
                                                       "flops", "mem_bytes", "weight_bytes", "out_bytes"))
        contiguous = np.empty(n, dtype=np.int32)
        for label, pkg in (("port K=6", port6()), ("32x32 mesh, 1,024 chiplets",
                                                    mcmcore.Package.mesh(32, 32, link_bandwidth=100e9,
                                                                         peak_flops=4e12, mem_bw=1e12,
                                                                         sram_bytes=2**40))):
            K = pkg.n_devices
            pls = rng.integers(0, K, size=(4, n)).astype(np.int32)
            contiguous[np.asarray(big.topo_order)] = np.arange(n) * K // n  # stages along the order
            mcmcore.evaluate_batch(big, pkg, pls[:1], n_threads=1)
            r = rate(lambda: mcmcore.evaluate_batch(big, pkg, pls, n_threads=1), 4, repeat=2)
            rc = rate(lambda: mcmcore.evaluate_batch(big, pkg, contiguous[None, :], n_threads=1), 1, repeat=3)
            row(f"{n:>9,} nodes, {label}: evaluation, random / contiguous",
                f"{r * n / 1e6:,.1f} / {rc * n / 1e6:,.1f} M nodes/s", f"({1e3 / r:.2f} / {1e3 / rc:.2f} ms each)")
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        row(f"{n:>9,} nodes: graph arrays / peak RSS growth / build time",
            f"{nbytes / 2**20:,.1f} MiB / {(rss1 - rss0) / 1024:,.0f} MiB", f"built in {build:.2f} s")

    print()
    print("| benchmark | result | target |")
    print("|---|---|---|")
    for what, value, target in rows:
        print(f"| {what.strip()} | {value} | {target} |")


if __name__ == "__main__":
    main()

"""Native batch kernels on many threads: evaluate_batch and repair_batch from 1 thread to every core. Prints a
table; never fails on a timing.

    python bench/bench_threads.py              # threads 1, 2, 4, ... up to os.cpu_count()
    python bench/bench_threads.py --quick

On a generated 2,000-node / 2,800-edge DAG (mcmcore.generate.layered_dag), batches of 20,000 random placements
(repair: 2,000 random placements under the default constraints), best of 5 repeats, so that even 16 threads get
tens of milliseconds of work per call. Speed-up is against 1 thread in the same run.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

import mcmcore
from mcmcore.repair import repair_batch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import rate  # noqa: E402  (best of N, items per second)
from mcmcore.generate import layered_dag


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default=None, help="comma-separated thread counts (default powers of 2 to cpus)")
    ap.add_argument("--quick", action="store_true", help="smaller batches")
    args = ap.parse_args(argv)
    cpus = os.cpu_count() or 1
    if args.threads:
        counts = [int(t) for t in args.threads.split(",")]
    else:
        counts = sorted({min(2 ** i, cpus) for i in range(cpus.bit_length() + 1)})
    g = layered_dag(2000, 2800, seed=1)
    rng = np.random.default_rng(0)
    port6 = mcmcore.Package.port(6, bandwidth=50e9, peak_flops=32e12, mem_bw=2e12, sram_bytes=2**40)
    mesh = mcmcore.Package.preset("simba6x6")
    batch = 2000 if args.quick else 20000
    rows = []
    for label, pkg in (("evaluate_batch, port K=6", port6), ("evaluate_batch, links 6x6 mesh", mesh)):
        pls = rng.integers(0, pkg.n_devices, size=(batch, g.n_nodes)).astype(np.int32)
        mcmcore.evaluate_batch(g, pkg, pls[:4], n_threads=1)  # warm the problem cache
        rows.append((label, [rate(lambda t=t: mcmcore.evaluate_batch(g, pkg, pls, n_threads=t), batch, 5)
                             for t in counts]))
    cap = mcmcore.Package.preset("simba6x6")
    cons = mcmcore.Constraints()
    rb = batch // 10
    pls = rng.integers(0, cap.n_devices, size=(rb, g.n_nodes)).astype(np.int32)
    repair_batch(g, cap, pls[:2], constraints=cons, n_threads=1)
    rows.append(("repair_batch, 6x6 mesh", [
        rate(lambda t=t: repair_batch(g, cap, pls, constraints=cons, n_threads=t), rb, 5)
        for t in counts]))
    print(f"machine: {cpus} CPUs; graph {g.n_nodes} nodes\n")
    print("| kernel | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in counts) + " |")
    print("|---|" + "---|" * len(counts))
    for label, rates in rows:
        print(f"| {label} | " + " | ".join(
            f"{r:,.0f}/s" + (f" ({r / rates[0]:.1f}x)" if i else "") for i, r in enumerate(rates)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

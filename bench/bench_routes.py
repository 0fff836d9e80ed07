"""Package construction time on large link topologies: the K x K routing tables (next link, hops, bottleneck
bandwidth) that the evaluator reads. Prints a table; never fails on a timing.

Usage: python bench/bench_routes.py [--repeat N] [--sizes 256,1024,4096]
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

from mcmcore import Package

RATES = dict(peak_flops=1e12, mem_bw=1e12, sram_bytes=1e9)


def builders(k: int):
    side = math.isqrt(k)
    out = {"ring": lambda: Package.ring(k, link_bandwidth=50e9, **RATES)}
    if side * side == k:
        out["mesh"] = lambda: Package.mesh(side, side, link_bandwidth=50e9, **RATES)
        out["torus"] = lambda: Package.torus(side, side, link_bandwidth=50e9, **RATES)
    # custom: a bidirectional ring with chords every 16 devices (routes by breadth-first search)
    links = [(i, (i + 1) % k) for i in range(k)] + [((i + 1) % k, i) for i in range(k)]
    links += [(i, (i + 16) % k) for i in range(0, k, 16)] + [((i + 16) % k, i) for i in range(0, k, 16)]
    out["custom"] = lambda: Package.custom(k, links, link_bandwidth=50e9, **RATES)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="256,1024,4096")
    args = ap.parse_args()
    print("| devices | topology | build (median) | build (fastest) |")
    print("|---|---|---|---|")
    for k in (int(x) for x in args.sizes.split(",")):
        for name, build in builders(k).items():
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                build()
                times.append(time.perf_counter() - t0)
            print(f"| {k:,} | {name} | {statistics.median(times):.3f} s | {min(times):.3f} s |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The exact DP over ideals (mcmcore.search.ideals): size, pruning and time per zoo instance. Prints a markdown table.

    python bench/bench_ideals.py                              # the default instances
    python bench/bench_ideals.py --instances inception-v3@ring8 --unpruned
    python bench/bench_ideals.py --unpruned --repeat 3        # the fastest of 3 runs per DP (as in BENCHMARKS.md)

Per instance (graph[:training]@package): the ideals of the unit DAG, the upper bound (the best pipeline split's
interval), the ideals that can lie on a chain under it, the work estimate, the DP's wall time with the bound (and,
with ``--unpruned``, without it, when the estimate is under a minute), its value, the exact evaluation of its
placement, and whether that proves the optimum. On link topologies the DP solves the compute relaxation: its value
is a lower bound, and the placement is proven optimal when the exact evaluation reaches it. The first call compiles
the kernels (not timed: a warm-up instance runs first). Benchmarks never fail CI.
"""
from __future__ import annotations

import argparse
import math
import time

DEFAULT_INSTANCES = ("bert-large@simba6x6,bert-large:training@port4,gpt2@simba6x6,resnet50@mesh4x4,"
                     "resnet50:training@mesh4x4,inception-v3@ring8,inception-v3@port4,inception-v3:training@port4,"
                     "inception-v3:training@hetero3")


def main(argv=None) -> int:
    import numpy as np

    from mcmcore import Constraints, Package, zoo
    from mcmcore.search import ideals
    from mcmcore.search.base import SearchProblem

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", default=DEFAULT_INSTANCES, help="comma-separated graph[:training]@package")
    ap.add_argument("--unpruned", action="store_true", help="also time the DP without the bound (under a minute)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="time each DP this many times and print the fastest (a shared machine is noisy)")
    args = ap.parse_args(argv)

    def problem_of(spec: str) -> SearchProblem:
        gspec, pkg = spec.split("@")
        name, _, mode = gspec.partition(":")
        return SearchProblem(zoo.load(name, training=mode == "training"), Package.preset(pkg), Constraints(),
                             "throughput")

    warm = problem_of("resnet50@mesh4x4")  # compiles (or loads) every numba kernel
    ideals.solve(warm, upper_bound=ideals._prepare(warm, ideals.MAX_IDEALS).split(warm)[1])
    print("| instance | model | ideals | usable under the bound | split (bound) | work estimate | DP time | "
          "DP time unpruned | DP value | evaluated | proven optimal |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for spec in args.instances.split(","):
        problem = problem_of(spec)
        model = "exact" if problem.package.interconnect == "port" else "relaxation"
        prep = ideals._prepare(problem, 10 ** 6)
        if prep is None:
            print(f"| {spec} | {model} | over 10^6 | | | | | | | | |")
            continue
        _, ub = prep.split(problem)
        _, _, keys = prep.sorted_ideals()
        usable = int(np.sum(ideals._usable(keys, ub * (1 + 1e-9), prep.capacities())))
        work = ideals._work(prep, ub)
        seconds = math.inf
        for _ in range(max(args.repeat, 1)):
            t0 = time.perf_counter()
            res = ideals.solve(problem, max_ideals=10 ** 6, upper_bound=ub)
            seconds = min(seconds, time.perf_counter() - t0)
        unpruned = "-"
        if args.unpruned and ideals._work(prep) / ideals._WORK_PER_SECOND < 60:
            best = math.inf
            for _ in range(max(args.repeat, 1)):
                t0 = time.perf_counter()
                full = ideals.solve(problem, max_ideals=10 ** 6)
                best = min(best, time.perf_counter() - t0)
            unpruned = f"{best:.3g} s"
            assert full.value == res.value, (full.value, res.value)
        rep = problem.evaluate(res.placement)
        value = problem.value_of(rep)
        proven = rep.valid and value <= res.value * (1 + 1e-9)
        print(f"| {spec} | {model} | {prep.n_ideals:,} | {usable:,} | {ub * 1e6:.1f} us | {work:.2g} | "
              f"{seconds:.3g} s | {unpruned} | {res.value * 1e6:.3f} us | {value * 1e6:.3f} us | "
              f"{'yes' if proven else 'no'} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

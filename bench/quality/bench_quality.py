"""Search quality on the zoo (issue: search). Prints markdown tables; never fails on a timing.

    python bench/quality/bench_quality.py                      # default subset, 5 s per run
    python bench/quality/bench_quality.py --seconds 2 --graphs bert-base,resnet50 --packages ring4

For every (graph, package): each method at the same wall-clock budget on one thread, then ``auto`` with ten
times the budget as the best-known reference. Columns: interval relative to the best known and to the lower
bound, evaluations/s, wall time. A second table checks the acceptance criteria of the search issue:
- where ``dp`` (ideals) or ``exact`` proves the optimum: ``auto`` within 0.1% of it in 5 s, ``anneal`` within 1%
  in 10 s (one thread);
- elsewhere: ``auto`` within 1% of the best placement any method finds with ten times the budget;
- BERT-large (inference and training) on simba6x6: ``anneal`` at least 5% better than ``metis`` and ``random``.
"""
from __future__ import annotations

import argparse
import math
import time

import mcmcore
from mcmcore import zoo

METHODS = ("random", "metis", "dp", "anneal", "multilevel", "auto")


def run(graph, package, method, seconds, seed=0):
    t0 = time.perf_counter()
    try:
        r = mcmcore.partition(graph, package, method=method, max_seconds=seconds, seed=seed, n_threads=1,
                              progress=False)
    except Exception as exc:  # a baseline whose dependency is missing, an infeasible instance...
        return {"method": method, "error": f"{type(exc).__name__}: {exc}"}
    return {"method": method, "value": r.value, "status": r.status.value, "lb": r.lower_bound, "evals": r.evals,
            "wall": time.perf_counter() - t0}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--graphs", default="bert-base,bert-large,bert-large:train,resnet50,inception-v3:train,gpt2")
    ap.add_argument("--packages", default="simba6x6,port4")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--reference-factor", type=float, default=10.0)
    args = ap.parse_args(argv)
    methods = args.methods.split(",")
    print("| graph | package | method | interval | vs best known | vs lower bound | evals/s | wall |")
    print("|---|---|---|---|---|---|---|---|")
    checks = []
    for gname in args.graphs.split(","):
        name, _, variant = gname.partition(":")
        graph = zoo.load(name, training=variant == "train")
        for pname in args.packages.split(","):
            package = mcmcore.Package.preset(pname)
            rows = [run(graph, package, m, args.seconds) for m in methods]
            ref = run(graph, package, "auto", args.seconds * args.reference_factor, seed=1)
            values = [r["value"] for r in rows + [ref] if "value" in r and math.isfinite(r["value"])]
            best = min(values) if values else math.inf
            proven = ref.get("status") == "optimal" or any(r.get("status") == "optimal" and r["method"] == "dp"
                                                          for r in rows)
            for r in rows:
                if "error" in r:
                    print(f"| {gname} | {pname} | {r['method']} | skipped: {r['error'][:60]} | | | | |")
                    continue
                rel = r["value"] / best - 1
                vs_lb = r["value"] / r["lb"] - 1 if r["lb"] > 0 else math.nan
                print(f"| {gname} | {pname} | {r['method']} | {r['value'] * 1e6:.1f} us | {rel:+.2%} | "
                      f"{vs_lb:+.2%} | {r['evals'] / max(r['wall'], 1e-9):,.0f} | {r['wall']:.2f} s |", flush=True)
            by = {r["method"]: r for r in rows if "value" in r}
            if "auto" in by:
                tol = 0.001 if proven else 0.01
                what = "optimum (proven)" if proven else f"best with {args.reference_factor:g}x budget"
                checks.append((gname, pname, f"auto within {tol:.1%} of {what}",
                               by["auto"]["value"] <= best * (1 + tol), by["auto"]["value"] / best - 1))
            if proven and "anneal" in by:
                a10 = run(graph, package, "anneal", 2 * args.seconds)
                checks.append((gname, pname, "anneal (2x budget) within 1% of the optimum",
                               a10["value"] <= best * 1.01, a10["value"] / best - 1))
            if name == "bert-large" and pname == "simba6x6" and "anneal" in by:
                for base in ("metis", "random"):
                    if base in by:
                        gain = by[base]["value"] / by["anneal"]["value"] - 1
                        checks.append((gname, pname, f"anneal >= 5% better than {base}", gain >= 0.05, gain))
    print()
    print("| graph | package | criterion | holds | margin |")
    print("|---|---|---|---|---|")
    for gname, pname, what, ok, margin in checks:
        print(f"| {gname} | {pname} | {what} | {'yes' if ok else 'NO'} | {margin:+.2%} |")


if __name__ == "__main__":
    main()

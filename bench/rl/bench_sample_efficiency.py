"""Sample efficiency of learned placement: best interval against evaluated samples on held-out graphs.

Methods: ``rl-finetuned`` (the shipped pre-trained policy, or ``--policy``, fine-tuned on the instance),
``rl-scratch`` (the same PPO from random weights, given ``--scratch-factor`` times the budget), ``random`` and
``anneal`` (both at the fine-tuning budget). Every graph is held out from pre-training (mcmcore.rl.HELD_OUT:
bert-large, inception-v3 and resnet50, inference and training graphs; asserted below). The default instances
(``--instances``, graph[:training]@package) are chosen where search matters: on most (graph, package) pairs the
optimal pipeline split is already the best placement anyone finds (every method ties at sample 1); the BERT row is
such a trivial instance (proven optimal by CP-SAT) and is kept for honesty. ``--graphs`` with ``--packages`` runs
their cross product instead. Prints markdown tables (also written next to ``--out`` as sample_efficiency.md) and
writes a PNG. For scale, each row also gets its optimum, proven by the exact DP over ideals
(mcmcore.search.ideals; a relaxation on link packages, proven where the exact evaluation reaches it), with its wall
time; ``--no-optimum`` skips it.

    python bench/rl/bench_sample_efficiency.py --samples 1000 --scratch-factor 20 --out bench/rl/sample_efficiency.png

Notes: ``anneal`` counts incremental single-node moves as evaluations and starts from the ``dp`` pipeline split on
link topologies (so its first "sample" is already a near-optimal split); ``random`` draws random valid placements
and random + repair. The shipped policy is residual (mcmcore.rl.env): its first sample is the same ``dp`` split
(the "rl first sample" column), and every later sample moves nodes relative to the best placement found so far,
re-cut optimally; rl-scratch has the same parametrisation from random weights. Benchmarks never fail CI.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np


#: (graph[:training]@package): a trivial BERT row, and instances where the optimal pipeline split leaves room
DEFAULT_INSTANCES = ("bert-large@ring8,inception-v3@ring8,inception-v3@port4,inception-v3:training@port4,"
                     "inception-v3:training@hetero3,resnet50:training@mesh4x4,resnet50@mesh4x4")


def best_at(result, n: int) -> float:
    """Best value among the first ``n`` evaluations (inf when none was valid by then)."""
    h = result.history
    ok = np.flatnonzero(h.evals <= n)
    return float(h.best[ok[-1]]) if ok.size else math.inf


def samples_to_reach(result, target: float) -> float:
    h = result.history
    ok = np.flatnonzero(h.best <= target * (1 + 1e-9))
    return float(h.evals[ok[0]]) if ok.size else math.inf


def proven_optimum(graph, package, upper_bound: float) -> tuple[float, float]:
    """(optimum, seconds) from the exact DP over ideals bounded by the best interval any method found (so the
    pruning is tight), without the time limits ``partition`` puts on it; (nan, seconds) when not proven."""
    import time

    from mcmcore import Constraints
    from mcmcore.search import ideals
    from mcmcore.search.base import SearchProblem

    problem = SearchProblem(graph, package, Constraints(), "throughput")
    t0 = time.perf_counter()
    res = ideals.solve(problem, max_ideals=10 ** 6, upper_bound=upper_bound)
    seconds = time.perf_counter() - t0
    if res is None or res.placement is None:
        return math.nan, seconds
    rep = problem.evaluate(res.placement)
    value = problem.value_of(rep)
    return (value, seconds) if rep.valid and value <= res.value * (1 + 1e-9) else (math.nan, seconds)


def main(argv=None) -> int:
    import torch

    from mcmcore import Package, zoo
    from mcmcore.search import partition

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000, help="budget of rl-finetuned, random and anneal")
    ap.add_argument("--scratch-factor", type=int, default=20, help="rl-scratch budget = samples x this")
    ap.add_argument("--instances", default=DEFAULT_INSTANCES,
                    help="comma-separated graph[:training]@package (default: instances where search matters)")
    ap.add_argument("--packages", default=None, help="with --graphs: run the cross product instead of --instances")
    ap.add_argument("--graphs", default=None, help="e.g. bert-large,inception-v3,resnet50:training")
    ap.add_argument("--policy", default=None, help="pre-trained policy file (default: the shipped one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extra-seeds", default="1,2",
                    help="also run rl-finetuned, random and anneal with these seeds (robustness table; '' for none)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-optimum", dest="optimum", action="store_false",
                    help="skip the exact DP over ideals that proves each row's optimum (minutes on training graphs)")
    ap.add_argument("--out", default="bench/rl/sample_efficiency.png")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    S = args.samples
    rows, curves = [], []
    from mcmcore.rl import HELD_OUT

    if args.graphs or args.packages:
        if not (args.graphs and args.packages):
            ap.error("--graphs and --packages go together")
        instances = [(g, pk) for g in args.graphs.split(",") for pk in args.packages.split(",")]
    else:
        instances = [tuple(x.split("@")) for x in args.instances.split(",")]
    for spec, pk in instances:
        name, _, mode = spec.partition(":")
        assert name in HELD_OUT, f"{name} is not held out from pre-training"
        graph = zoo.load(name, training=mode == "training")
        package = Package.preset(pk)
        common = dict(seed=args.seed, progress=False, n_threads=args.threads)
        if not rows:  # warm-up (numba cache loads and compiles, torch first calls): not timed
            partition(graph, package, method="rl", policy=args.policy, max_evals=150, **common)
            if args.optimum:
                from mcmcore.generate import layered_dag

                proven_optimum(layered_dag(20, seed=0), package, math.inf)  # a small graph: compiles the DP
        if True:
            res = {
                "rl-finetuned": partition(graph, package, method="rl", policy=args.policy, max_evals=S, **common),
                "rl-scratch": partition(graph, package, method="rl", policy="scratch",
                                        max_evals=S * args.scratch_factor, **common),
                "random": partition(graph, package, method="random", max_evals=S, **common),
                "anneal": partition(graph, package, method="anneal", max_evals=S, **common),
            }
            ft, sc = res["rl-finetuned"], res["rl-scratch"]
            opt, opt_s = proven_optimum(graph, package, min(r.value for r in res.values())) \
                if args.optimum else (math.nan, math.nan)
            reach = samples_to_reach(ft, sc.value)
            info = ft.info
            solver = info["rl_seconds_repair"] + info["rl_seconds_evaluate"] + info.get("rl_seconds_resplit", 0.0)
            loop = info["rl_seconds_policy"] + info["rl_seconds_update"] + solver
            rows.append({
                "instance": f"{graph.name} / {pk}",
                "ft": ft.value, "ft_first": best_at(ft, 1), "sc_S": best_at(sc, S), "sc": sc.value,
                "rand": res["random"].value, "ann": res["anneal"].value, "lb": ft.lower_bound,
                "opt": opt, "opt_s": opt_s,
                "reach": reach, "ratio": sc.evals / reach if reach > 0 else math.inf,
                "sc_reach": samples_to_reach(sc, sc.value),
                "sps": ft.evals / ft.seconds, "share_solver": solver / max(loop, 1e-9),
                "share_update": info["rl_seconds_update"] / max(loop, 1e-9),
                "share_policy": info["rl_seconds_policy"] / max(loop, 1e-9),
                "sc_sps": sc.evals / sc.seconds})
            extra = [int(x) for x in args.extra_seeds.split(",") if x.strip()]
            seeds = {m: [res[m]] for m in ("rl-finetuned", "random", "anneal", "rl-scratch")}
            for sd in extra:
                c = dict(common, seed=sd)
                seeds["rl-finetuned"].append(partition(graph, package, method="rl", policy=args.policy,
                                                       max_evals=S, **c))
                seeds["rl-scratch"].append(partition(graph, package, method="rl", policy="scratch",
                                                     max_evals=S * args.scratch_factor, **c))
                seeds["random"].append(partition(graph, package, method="random", max_evals=S, **c))
                seeds["anneal"].append(partition(graph, package, method="anneal", max_evals=S, **c))
            rows[-1]["seeds"] = {m: [r.value for r in rs] for m, rs in seeds.items()}
            # each fine-tuning seed against the scratch run of the same seed
            rows[-1]["seed_reach"] = [samples_to_reach(f, s.value)
                                      for f, s in zip(seeds["rl-finetuned"], seeds["rl-scratch"])]
            rows[-1]["seed_sc_reach"] = [samples_to_reach(s, s.value) for s in seeds["rl-scratch"]]
            curves.append((rows[-1]["instance"], res))
            print(f"done {rows[-1]['instance']}", flush=True)

    def us(x):
        return f"{x * 1e6:.1f}" if math.isfinite(x) else "-"

    def optimum(r):
        return f"{us(r['opt'])} ({r['opt_s']:.2g} s)" if math.isfinite(r["opt"]) else "not proven"

    def at_opt(values, r):
        return f"{sum(v <= r['opt'] * (1 + 1e-9) for v in values)}/{len(values)}" if math.isfinite(r["opt"]) else "-"

    def count(x):
        return f"{x:.0f}" if math.isfinite(x) else "not reached"

    lines = [f"Best interval (us) at {S} samples; rl-scratch also at {S * args.scratch_factor}; for scale the "
             "compute lower bound and the optimum proven by the exact DP over ideals (its wall time, bounded by the "
             "best interval found). Trivial: every method's best equals the optimal pipeline split (the first "
             "sample).", "",
             "| instance | lower bound | proven optimum (dp time) | rl first sample (dp split) | rl-finetuned | "
             f"random | anneal | rl-scratch @{S} | rl-scratch @{S * args.scratch_factor} | ft vs random | "
             "ft vs anneal | ft samples to reach scratch final | scratch samples to its final | "
             "ratio (scratch's samples to its final / ft's) | ratio (scratch budget / ft samples) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        trivial = all(r[k] >= r["ft_first"] * (1 - 1e-9) for k in ("ft", "sc", "rand", "ann"))
        ratio = f"{r['ratio']:.0f}x" if math.isfinite(r["reach"]) else "-"
        own = f"{r['sc_reach'] / r['reach']:.1f}x" if math.isfinite(r["reach"]) else "-"
        lines.append(f"| {r['instance']}{' (trivial)' if trivial else ''} | {us(r['lb'])} | {optimum(r)} | "
                     f"{us(r['ft_first'])} | "
                     f"{us(r['ft'])} | {us(r['rand'])} | {us(r['ann'])} | {us(r['sc_S'])} | {us(r['sc'])} | "
                     f"{100 * (r['rand'] / r['ft'] - 1):+.1f}% | {100 * (r['ann'] / r['ft'] - 1):+.1f}% | "
                     f"{count(r['reach'])} | {count(r['sc_reach'])} | {own} | {ratio} |")
    lines += ["", "(ft vs X: how much longer X's interval is than rl-finetuned's; positive = fine-tuned better)", "",
              "| instance | rl-finetuned samples/s | solver share (resplit + repair + evaluate) | PPO update share | "
              "policy sampling share | rl-scratch samples/s |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['instance']} | {r['sps']:,.0f} | {100 * r['share_solver']:.0f}% | "
                     f"{100 * r['share_update']:.0f}% | {100 * r['share_policy']:.0f}% | {r['sc_sps']:,.0f} |")
    lines += ["", "(shares of the fine-tuning loop's time; samples/s is evaluated samples over the whole run, set-up "
              "included)"]
    if any(len(r["seeds"]["rl-finetuned"]) > 1 for r in rows):
        all_seeds = [args.seed] + [int(x) for x in args.extra_seeds.split(",") if x.strip()]
        lines += ["", f"Robustness over seeds {', '.join(map(str, all_seeds))} at {S} samples: best interval (us), "
                  f"median [min, max]; ft vs anneal compares the medians; rl-scratch runs {S * args.scratch_factor} "
                  "samples with each seed, and each fine-tuning seed is compared with the scratch run of the same "
                  "seed.", "",
                  "| instance | rl-finetuned | random | anneal | ft vs anneal (medians) | seeds where ft beats anneal "
                  f"/ ties / loses | rl-scratch @{S * args.scratch_factor} | ft samples to reach scratch final, per "
                  "seed | scratch samples to its final, per seed | seeds at the proven optimum: ft / scratch |",
                  "|---|---|---|---|---|---|---|---|---|---|"]

        def spread(v):
            v = np.asarray(v)
            return f"{us(float(np.median(v)))} [{us(float(v.min()))}, {us(float(v.max()))}]"

        for r in rows:
            sd = r["seeds"]
            ft, ann = np.asarray(sd["rl-finetuned"]), np.asarray(sd["anneal"])
            win = int(np.sum(ft < ann * (1 - 1e-9)))
            lose = int(np.sum(ft > ann * (1 + 1e-9)))
            lines.append(f"| {r['instance']} | {spread(ft)} | {spread(sd['random'])} | {spread(ann)} | "
                         f"{100 * (np.median(ann) / np.median(ft) - 1):+.1f}% | {win} / {len(ft) - win - lose} / "
                         f"{lose} | {spread(sd['rl-scratch'])} | {', '.join(count(x) for x in r['seed_reach'])} | "
                         f"{', '.join(count(x) for x in r['seed_sc_reach'])} | "
                         f"{at_opt(ft, r)} / {at_opt(sd['rl-scratch'], r)} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    md = str(Path(args.out).with_suffix(".md"))
    Path(md).write_text(f"`python bench/rl/bench_sample_efficiency.py {' '.join(argv or sys.argv[1:])}`\n\n" + text)
    print(f"wrote {md}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return 0
    n = len(curves)
    cols = 2 if n > 1 else 1
    fig, axes = plt.subplots(math.ceil(n / cols), cols, figsize=(5.5 * cols, 3.6 * math.ceil(n / cols)),
                             squeeze=False)
    for ax, (title, res) in zip(axes.flat, curves):
        for label, r in res.items():
            h = r.history
            if len(h.evals):
                x = np.append(h.evals, r.evals)
                y = np.append(h.best, h.best[-1]) * 1e6
                ax.step(x, y, where="post", label=label)
        ax.set_xscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("samples evaluated")
        ax.set_ylabel("best interval (us)")
    for ax in axes.flat[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Sample efficiency of learned placement: best interval against evaluated samples on held-out graphs.

Methods: ``rl-finetuned`` (the shipped pre-trained policy, or ``--policy``, fine-tuned on the instance),
``rl-scratch`` (the same PPO from random weights, given ``--scratch-factor`` times the budget), ``random`` and
``anneal`` (both at the fine-tuning budget). Graphs are held out from pre-training (mcmcore.rl.HELD_OUT):
bert-large, inception-v3 and the resnet50 training graph. Prints a markdown table and writes a PNG.

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

import numpy as np


def best_at(result, n: int) -> float:
    """Best value among the first ``n`` evaluations (inf when none was valid by then)."""
    h = result.history
    ok = np.flatnonzero(h.evals <= n)
    return float(h.best[ok[-1]]) if ok.size else math.inf


def samples_to_reach(result, target: float) -> float:
    h = result.history
    ok = np.flatnonzero(h.best <= target * (1 + 1e-9))
    return float(h.evals[ok[0]]) if ok.size else math.inf


def main(argv=None) -> int:
    import torch

    from mcmcore import Package, zoo
    from mcmcore.search import partition

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000, help="budget of rl-finetuned, random and anneal")
    ap.add_argument("--scratch-factor", type=int, default=20, help="rl-scratch budget = samples x this")
    ap.add_argument("--packages", default="ring8,mesh4x4")
    ap.add_argument("--graphs", default="bert-large,inception-v3,resnet50:training")
    ap.add_argument("--policy", default=None, help="pre-trained policy file (default: the shipped one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="bench/rl/sample_efficiency.png")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    S = args.samples
    rows, curves = [], []
    for spec in args.graphs.split(","):
        name, _, mode = spec.partition(":")
        graph = zoo.load(name, training=mode == "training")
        for pk in args.packages.split(","):
            package = Package.preset(pk)
            common = dict(seed=args.seed, progress=False, n_threads=args.threads)
            res = {
                "rl-finetuned": partition(graph, package, method="rl", policy=args.policy, max_evals=S, **common),
                "rl-scratch": partition(graph, package, method="rl", policy="scratch",
                                        max_evals=S * args.scratch_factor, **common),
                "random": partition(graph, package, method="random", max_evals=S, **common),
                "anneal": partition(graph, package, method="anneal", max_evals=S, **common),
            }
            ft, sc = res["rl-finetuned"], res["rl-scratch"]
            reach = samples_to_reach(ft, sc.value)
            info = ft.info
            solver = info["rl_seconds_repair"] + info["rl_seconds_evaluate"] + info.get("rl_seconds_resplit", 0.0)
            loop = info["rl_seconds_policy"] + info["rl_seconds_update"] + solver
            rows.append({
                "instance": f"{graph.name} / {pk}",
                "ft": ft.value, "ft_first": best_at(ft, 1), "sc_S": best_at(sc, S), "sc": sc.value,
                "rand": res["random"].value, "ann": res["anneal"].value, "lb": ft.lower_bound,
                "reach": reach, "ratio": sc.evals / reach if reach > 0 else math.inf,
                "sc_reach": samples_to_reach(sc, sc.value),
                "sps": ft.evals / ft.seconds, "share_solver": solver / max(loop, 1e-9),
                "share_update": info["rl_seconds_update"] / max(loop, 1e-9),
                "sc_sps": sc.evals / sc.seconds})
            curves.append((rows[-1]["instance"], res))
            print(f"done {rows[-1]['instance']}", flush=True)

    def us(x):
        return f"{x * 1e6:.1f}" if math.isfinite(x) else "-"

    print(f"\nBest interval (us) at {S} samples; rl-scratch also at {S * args.scratch_factor}; lower bound for scale\n")
    print("| instance | lower bound | rl first sample | rl-finetuned | random | anneal | rl-scratch "
          f"@{S} | rl-scratch @{S * args.scratch_factor} | ft vs random | ft vs anneal | ft samples to reach scratch "
          "final | scratch samples to its final | sample ratio (scratch budget / ft samples) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['instance']} | {us(r['lb'])} | {us(r['ft_first'])} | {us(r['ft'])} | {us(r['rand'])} | "
              f"{us(r['ann'])} | {us(r['sc_S'])} | {us(r['sc'])} | {100 * (r['rand'] / r['ft'] - 1):+.1f}% | "
              f"{100 * (r['ann'] / r['ft'] - 1):+.1f}% | {r['reach']:.0f} | {r['sc_reach']:.0f} | "
              f"{r['ratio']:.0f}x |")
    print("\n(ft vs X: how much longer X's interval is than rl-finetuned's; positive = fine-tuned better)\n")
    print("| instance | rl-finetuned samples/s | solver share (resplit + repair + evaluate) | PPO update share | "
          "rl-scratch samples/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['instance']} | {r['sps']:,.0f} | {100 * r['share_solver']:.0f}% | {100 * r['share_update']:.0f}% |"
              f" {r['sc_sps']:,.0f} |")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return 0
    n = len(curves)
    cols = len(args.packages.split(","))
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
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

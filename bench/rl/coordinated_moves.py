"""Why fine-tuning stalls where scratch goes on: the coordinated moves between two local optima.

Runs ``rl`` fine-tuned from the shipped policy (``--samples``) and ``rl`` from scratch (``--scratch-samples``) on
one instance with one seed, then takes the nodes whose pipeline position differs between the two best placements
and groups them by the stage boundary they cross. For every subset of groups it prints the interval of the
fine-tuned placement with those groups changed as in scratch's, and the residual action that gives the same
placement from the fine-tuned one as base: the fewest node moves (others found by dropping moves while the env's
re-cut still returns that placement), and the chance that a policy at its prior (the stay bias, every other move
equally likely) samples at least those moves at once. Last, the single-node neighbourhood of the fine-tuned
placement, and with ``--walk N`` a random walk of N steps over placements of the same interval (an escape by
neutral moves), with the improving single-node moves at each step.

    python bench/rl/coordinated_moves.py --instance inception-v3@ring8 --seed 1

With the defaults this reproduces the analysis in BENCHMARKS.md (Learned placement). Benchmarks never fail CI.
"""
from __future__ import annotations

import argparse
import itertools
import math

import numpy as np


def main(argv=None) -> int:
    import torch

    from mcmcore import Constraints, Package, zoo
    from mcmcore.rl.env import PlacementEnv
    from mcmcore.rl.search import load_policy
    from mcmcore.search import partition
    from mcmcore.search.base import SearchProblem

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instance", default="inception-v3@ring8", help="graph[:training]@package")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--samples", type=int, default=1000, help="fine-tuning budget")
    ap.add_argument("--scratch-samples", type=int, default=6000, help="rl-scratch budget")
    ap.add_argument("--walk", type=int, default=0,
                    help="then walk this many steps on the plateau (a random single-node move that keeps the "
                         "interval, each step) and count the improving single-node moves at every step")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    spec, pkg_name = args.instance.split("@")
    name, _, mode = spec.partition(":")
    graph, package = zoo.load(name, training=mode == "training"), Package.preset(pkg_name)
    ft = partition(graph, package, method="rl", max_evals=args.samples, seed=args.seed, progress=False)
    sc = partition(graph, package, method="rl", policy="scratch", max_evals=args.scratch_samples, seed=args.seed,
                   progress=False)
    a, b = np.asarray(ft.placement), np.asarray(sc.placement)
    pos = np.asarray(package.position, dtype=np.int64)
    print(f"{args.instance}, seed {args.seed}: fine-tuned {ft.value * 1e6:.3f} us after {args.samples} samples, "
          f"scratch {sc.value * 1e6:.3f} us after {args.scratch_samples}")
    diff = np.flatnonzero(a != b)
    if diff.size == 0:
        print("the two placements are the same")
        return 0
    boundary = np.minimum(pos[a], pos[b])  # the boundary crossed: between stage s and s + 1
    groups = {}
    for i in diff:
        groups.setdefault(int(boundary[i]) if abs(int(pos[a[i]] - pos[b[i]])) == 1 else -1 - int(i), []).append(i)
    keys = sorted(groups)
    for g, k in enumerate(keys):
        label = f"stages {k}|{k + 1}" if k >= 0 else "a jump over stages"
        print(f"group {g} ({label}): {len(groups[k])} nodes, " + ", ".join(
            f"{graph.names[i]} {pos[a[i]]}->{pos[b[i]]}" for i in groups[k]))

    problem = SearchProblem(graph, package, Constraints(), "throughput", None)
    net = load_policy("scratch", seed=args.seed)
    nd = net.config.n_deltas
    env = PlacementEnv(graph, package, action="residual", n_deltas=nd, resplit=net.config.resplit, baseline="bound")
    env.reset(seed=0)
    env.set_base(a, ft.value)
    p_stay = math.exp(net.config.stay_bias) / (math.exp(net.config.stay_bias) + nd - 1)
    p_move = (1 - p_stay) / (nd - 1)  # one given non-zero move of one node

    def recut(delta):
        out = env.evaluate_placements(env.proposals_to_placements((delta + nd // 2)[None, :]))
        return out["placements"][0], float(out["values"][0]), bool(out["valid"][0])

    print()
    print("| groups changed | interval of the placement (us) | via the re-cut: fewest node moves | interval (us) | "
          "chance per sample at the prior |")
    print("|---|---|---|---|---|")
    for r in range(len(keys) + 1):
        for subset in itertools.combinations(range(len(keys)), r):
            x = a.copy()
            for g in subset:
                x[groups[keys[g]]] = b[groups[keys[g]]]
            rep = problem.evaluate(x)
            value = problem.value_of(rep) * 1e6 if rep.valid else math.inf
            delta = np.clip(pos[x] - pos[a], -(nd // 2), nd // 2)
            target, v_cut, ok = recut(delta)
            for i in np.flatnonzero(delta):  # drop moves the re-cut does not need
                trial = delta.copy()
                trial[i] = 0
                if np.array_equal(recut(trial)[0], target):
                    delta = trial
            n = int(np.count_nonzero(delta))
            chance = p_move ** n
            print(f"| {', '.join(map(str, subset)) or 'none'} | {value:.3f} | {n} "
                  f"({', '.join(f'{graph.names[i]} {int(delta[i]):+d}' for i in np.flatnonzero(delta)) or '-'}) | "
                  f"{v_cut * 1e6 if ok else math.inf:.3f} | {chance:.1e} |")
    print(f"\n(prior: stay with probability {p_stay:.3f}; each non-zero move of a node {p_move:.4f})")

    # every single-node move (re-cut) from a base: one batch through the env
    moves = np.full((graph.n_nodes * (nd - 1), graph.n_nodes), nd // 2, dtype=np.int64)
    for i in range(graph.n_nodes):
        moves[i * (nd - 1):(i + 1) * (nd - 1), i] = [d for d in range(nd) if d != nd // 2]

    def neighbours(base):
        """(values, back to the base, other placements keeping the interval: row -> placement)"""
        env.set_base(base, ft.value)
        out = env.evaluate_placements(env.proposals_to_placements(moves))
        values = np.where(out["valid"], out["values"], np.inf)
        back = (out["placements"] == base[None, :]).all(axis=1)
        tied = np.flatnonzero(~back & np.isclose(values, ft.value, rtol=1e-12, atol=0))
        return values, back, {int(i): out["placements"][i] for i in tied}

    values, back, tied = neighbours(a)
    better = values < ft.value * (1 - 1e-12)
    print(f"single-node moves from the fine-tuned placement (of {values.size}): {np.count_nonzero(better)} improve, "
          f"{np.count_nonzero(back)} are re-cut back to the same placement, {len(tied)} give one of "
          f"{len({pl.tobytes() for pl in tied.values()})} other placements with the same interval, "
          f"{np.count_nonzero(~better & ~back) - len(tied)} make it worse")
    rng = np.random.default_rng(args.seed)
    current, visited = a, {a.tobytes()}
    for step in range(args.walk):  # a random walk over placements of the same interval
        if not tied:
            break
        current = list(tied.values())[rng.integers(len(tied))].copy()
        visited.add(current.tobytes())
        values, back, tied = neighbours(current)
        print(f"walk step {step + 1}: {np.count_nonzero(values < ft.value * (1 - 1e-12))} improving single-node "
              f"moves, {len({pl.tobytes() for pl in tied.values()})} other placements with the same interval")
        if np.any(values < ft.value * (1 - 1e-12)):
            break
    if args.walk:
        print(f"the walk visited {len(visited)} distinct placements")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

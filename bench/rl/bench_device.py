"""The RL loop on CPU threads and on a GPU: where the time goes and what a GPU buys. Prints markdown tables.

    python bench/rl/bench_device.py                 # every device torch sees (cpu; cuda when present)
    python bench/rl/bench_device.py --quick         # fewer updates, smaller graphs

Three measurements per device (and per CPU thread count in ``--cpu-threads``):

On a GPU each is measured with deterministic kernels (the default, bit-reproducible) and with CUDA's fastest.

1. pre-training: the shipped policy's recipe (scripts/pretrain_policy.py: residual actions, hidden 64, 64 samples
   and 2 epochs per update) over its corpus and packages, ``--updates`` updates: updates/s, samples/s and the
   shares of policy sampling, solver (re-cut + repair + evaluate) and PPO update;
2. fine-tuning: ``partition(inception-v3, ring8, method="rl", max_evals=1000, seed=0, device=...)``: samples/s
   and the interval found (a GPU's float rounding may change the search's path, so the interval may differ);
3. one PPO update (sampling excluded: policy forward + backward, 2 epochs, 64 samples) on generated DAGs of
   growing size, uncoarsened: where the GPU overtakes the CPU.

Timings are wall-clock on whatever else the machine runs; compare rows of one run. Benchmarks never fail CI.
"""
from __future__ import annotations

import argparse
import time


def _devices(arg: str | None) -> list[str]:
    import torch

    if arg:
        return arg.split(",")
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def pretrain_rate(device: str, updates: int, deterministic: bool = True) -> dict:
    from mcmcore import Package
    from mcmcore.rl import PlacementEnv, PolicyConfig, PPO, PPOConfig
    from mcmcore.rl.pretrain import DEFAULT_PACKAGES, corpus_graphs

    graphs = corpus_graphs("zoo+generated", n_generated=24)
    env = PlacementEnv(graphs, [Package.preset(p) for p in DEFAULT_PACKAGES], action="residual", n_deltas=5,
                       resplit=True, n_threads=1)  # as pretrain() builds it
    config = PPOConfig(seed=0, samples_per_update=64, epochs=2, lr=1e-3, device=device, deterministic=deterministic,
                       policy=PolicyConfig(hidden=64, action="residual", n_deltas=5, resplit=True))
    trainer = PPO(env, config=config)
    trainer.train(2)  # warm-up: kernels, CUDA context (instances first drawn later set up within the timing)
    _sync(device)
    t0 = time.perf_counter()
    rows = trainer.train(updates)
    _sync(device)
    wall = time.perf_counter() - t0
    parts = {k: sum(r[f"seconds_{k}"] for r in rows) for k in ("sample", "solver", "update")}
    return {"wall": wall, "updates/s": updates / wall, "samples/s": 64 * updates / wall,
            **{k: v / wall for k, v in parts.items()}}


def finetune_rate(device: str, samples: int, deterministic: bool = True) -> dict:
    from mcmcore import Package, zoo
    from mcmcore.search import partition

    g, pkg = zoo.load("inception-v3"), Package.preset("ring8")
    kw = dict(method="rl", seed=0, device=device, deterministic=deterministic, progress=False, n_threads=1)
    partition(g, pkg, max_evals=64, **kw)  # warm-up
    t0 = time.perf_counter()
    res = partition(g, pkg, max_evals=samples, **kw)
    wall = time.perf_counter() - t0
    return {"wall": wall, "samples/s": samples / wall, "interval_us": res.value * 1e6}


def update_time(device: str, n: int, deterministic: bool = True, repeat: int = 3) -> float:
    """Seconds of one PPO update's optimisation (2 epochs over 64 samples) on a generated DAG of ``n`` nodes."""
    import torch

    from mcmcore import Package
    from mcmcore.generate import layered_dag
    from mcmcore.rl import PlacementEnv, PolicyConfig, PPO, PPOConfig

    env = PlacementEnv(layered_dag(n, int(1.4 * n), seed=1), Package.preset("ring8"), baseline="bound",
                       action="residual", n_deltas=5, resplit=False, coarsen_above=None, n_threads=1)
    trainer = PPO(env, config=PPOConfig(seed=0, samples_per_update=64, epochs=2, device=device,
                                        deterministic=deterministic, policy=PolicyConfig(hidden=64, action="residual", n_deltas=5)))
    _, (x, edges) = trainer._observe()
    actions, logp = trainer.sample(x, edges, 64)
    rewards = torch.rand(64, device=trainer.device)
    actions, logp = actions.to(trainer.device), logp.to(trainer.device)
    best = float("inf")
    for _ in range(repeat + 1):  # the first is a warm-up
        _sync(device)
        t0 = time.perf_counter()
        trainer._optimise(x, edges, actions, logp, rewards)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    import os

    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default=None, help="comma-separated torch devices (default: cpu, and cuda if any)")
    ap.add_argument("--cpu-threads", default="1", help="comma-separated torch thread counts for the cpu rows")
    ap.add_argument("--updates", type=int, default=40, help="pre-training updates timed")
    ap.add_argument("--samples", type=int, default=1000, help="fine-tuning samples")
    ap.add_argument("--sizes", default="300,1000,4000,16000", help="graph sizes of the update timing")
    ap.add_argument("--quick", action="store_true", help="10 updates, 300 samples, sizes 300,1000")
    args = ap.parse_args(argv)
    if args.quick:
        args.updates, args.samples, args.sizes = 10, 300, "300,1000"
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = []
    for device in _devices(args.devices):
        modes = [(int(t), True) for t in args.cpu_threads.split(",")] if device == "cpu" else [(1, True), (1, False)]
        for threads, det in modes:
            torch.set_num_threads(threads)
            if device == "cpu":
                label = f"cpu, {threads} torch thread{'s' if threads > 1 else ''}"
            else:
                label = f"{device} ({torch.cuda.get_device_name(0)}), {'deterministic' if det else 'fast'} kernels"
            runs.append((label, pretrain_rate(device, args.updates, det), finetune_rate(device, args.samples, det),
                         [update_time(device, n, det) for n in sizes]))
            print(f"done: {label}", flush=True)
    print(f"\nmachine: {os.cpu_count()} CPUs; torch {torch.__version__}")
    print(f"\nPre-training ({args.updates} updates of 64 samples, the shipped recipe's corpus and packages):\n")
    print("| device | updates/s | samples/s | policy sampling share | solver share | PPO update share |")
    print("|---|---|---|---|---|---|")
    for label, pre, _, _ in runs:
        print(f"| {label} | {pre['updates/s']:.1f} | {pre['samples/s']:,.0f} | {pre['sample']:.0%} | "
              f"{pre['solver']:.0%} | {pre['update']:.0%} |")
    print(f"\nFine-tuning on inception-v3 / ring8 ({args.samples} samples, seed 0):\n")
    print("| device | samples/s | seconds | interval (us) |")
    print("|---|---|---|---|")
    for label, _, ft, _ in runs:
        print(f"| {label} | {ft['samples/s']:,.0f} | {ft['wall']:.2f} | {ft['interval_us']:.3f} |")
    print("\nOne PPO update's optimisation (2 epochs, 64 samples), ms, on layered_dag(n, 1.4 n):\n")
    print("| device | " + " | ".join(f"n = {n:,}" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for label, _, _, times in runs:
        print(f"| {label} | " + " | ".join(f"{t * 1e3:,.1f}" for t in times) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

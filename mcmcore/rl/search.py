"""Search method ``rl``: fine-tune a pre-trained placement policy on the instance within the tracker's budget.

Every placement the policy samples is repaired, evaluated and offered to the tracker, so the result is the best
valid placement seen (with its history) and the budget counts every sample. The first evaluation is the policy's
greedy placement (each node's most likely position). A residual policy (``action="residual"``, the shipped one)
acts on moves relative to the optimal contiguous pipeline split (the ``dp`` split, best over its candidate
orders; every split evaluated is offered and counted), which is its first evaluation; the base then follows the
best placement found so far, so fine-tuning is a learned local search from the split. The reward normaliser is the
instance's lower bound (``baseline="bound"``), so no samples are spent on a baseline. Fine-tuning regularises towards
the policy's initial distribution (few nodes move) rather than towards uniform (most nodes move): the shipped policy
learned in pre-training to move most nodes, which finds improvements early, and the pull lets it turn to the small
moves that improve a near-optimal incumbent.
"""
from __future__ import annotations

import copy

import numpy as np

from mcmcore.search.base import SearchProblem, Tracker

__all__ = ["run", "load_policy"]


def load_policy(policy, *, seed: int = 0):
    """A :class:`~mcmcore.rl.policy.PlacementPolicy` from a path, a policy (copied), ``None`` (the shipped
    pre-trained one) or ``"scratch"`` (new random weights seeded by ``seed``, with the shipped policy's
    architecture and action parametrisation, so scratch and fine-tuned differ only in the pre-training)."""
    import torch

    from mcmcore.rl.policy import PlacementPolicy
    from mcmcore.rl.pretrain import default_policy_path

    if policy is None:
        return PlacementPolicy.load(default_policy_path())
    if isinstance(policy, PlacementPolicy):
        return copy.deepcopy(policy)
    if isinstance(policy, str) and policy == "scratch":
        try:
            config = copy.deepcopy(PlacementPolicy.load(default_policy_path()).config)
        except Exception:  # no shipped policy: the default architecture
            config = None
        torch.manual_seed(int(seed))
        return PlacementPolicy(config)
    return PlacementPolicy.load(policy)


def run(problem: SearchProblem, tracker: Tracker, *, seed: int = 0, n_threads: int | None = None, policy=None,
        batch: int = 64, epochs: int = 4, lr: float = 3e-4, ent_coef: float = 0.1, regularizer: str = "prior",
        temperature: float = 1.0, device: str | None = None, deterministic: bool = True,
        coarsen_above: int | None = 1000, top_quantile: float | None = None, **options) -> None:
    """``rl`` method. Options: ``policy`` (a policy file, a PlacementPolicy, ``"scratch"``, default the shipped
    pre-trained policy), ``batch`` (samples per PPO update), ``epochs``, ``lr``, ``ent_coef`` and ``regularizer``
    (the exploration regulariser and its weight, :class:`~mcmcore.rl.ppo.PPOConfig`; by default the pull towards
    the policy's initial few-moves distribution, which lets fine-tuning leave a pre-trained policy's many-moves
    habit once the incumbent nears a local optimum), ``temperature``, ``device`` (default cpu), ``deterministic``
    (on a GPU, PyTorch's deterministic kernels, so a seed gives the same result there too; default True),
    ``coarsen_above`` (act on a coarsened graph above this many nodes), ``top_quantile`` (risk-seeking share of
    each batch that is reinforced; default 0: the usual value baseline).

    Every sample counts against the budget, repeats included (the re-cut maps many different moves to the same
    split; the env serves a repeat from its cache instead of repairing and evaluating it again);
    ``info["rl_distinct_placements"]`` counts the distinct placements evaluated."""
    if options:
        raise ValueError(f"unknown rl option(s): {', '.join(sorted(options))}")
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    import torch

    from mcmcore.rl.env import PlacementEnv
    from mcmcore.rl.ppo import PPO, PPOConfig

    net = load_policy(policy, seed=seed)
    env = PlacementEnv(problem.graph, problem.package, constraints=problem.constraints,
                       objective=problem.objective, baseline="bound", n_threads=n_threads,
                       overlap=problem.overlap, coarsen_above=coarsen_above, action=net.config.action,
                       n_deltas=net.config.n_deltas, resplit=net.config.resplit)
    config = PPOConfig(seed=seed, samples_per_update=int(batch), epochs=int(epochs), lr=float(lr),
                       ent_coef=float(ent_coef), regularizer=regularizer, temperature=float(temperature),
                       device=device or "cpu", deterministic=deterministic,
                       top_quantile=float(top_quantile or 0.0))
    trainer = PPO(env, net, config)

    distinct = [0]  # placements evaluated for the first time (the env serves repeats from its cache)

    def offer(info):
        distinct[0] += int(np.count_nonzero(info.get("fresh", True)))
        tracker.offer_batch(info["placements"], info["values"], info["violations"])

    idx, (x, edges) = trainer._observe()
    if env.residual:
        # the base (the dp split) first; the splits tried to find it count as evaluations
        inst = env.instance
        offer(env.evaluate_placements(inst.base_placement[None, :]))
        if inst.base_evals > 1 and not tracker.exhausted():
            tracker.count(int(min(inst.base_evals - 1, tracker.remaining_evals())))
    else:
        # the greedy placement first: a pre-trained policy's single best guess
        with torch.no_grad(), trainer.kernels(x.shape[0]):
            logits, _ = trainer.policy(x, edges, env.n_bins)
        greedy = logits.argmax(-1).cpu().numpy()[None, :]
        offer(env.evaluate_placements(env.proposals_to_placements(greedy)))
    while not tracker.exhausted():
        m = int(min(batch, tracker.remaining_evals()))
        trainer.step(offer, m=m)
    tracker.info.update({"rl_updates": trainer.updates, "rl_distinct_placements": distinct[0], "rl_seconds_policy": trainer.timing["policy"],
                         "rl_seconds_update": trainer.timing["update"],
                         "rl_seconds_repair": env.timing["repair"], "rl_seconds_evaluate": env.timing["evaluate"],
                         "rl_seconds_resplit": env.timing.get("resplit", 0.0)})

"""Pre-training the placement policy on a corpus of graphs, and the shipped pre-trained policy.

The corpus never contains the evaluation graphs: every graph of the zoo models in :data:`HELD_OUT` (bert-large,
inception-v3 and resnet50, inference *and* training graphs) is excluded, whatever ``corpus`` says. The benchmark
(bench/rl) evaluates on bert-large, inception-v3 and the resnet50 training graph.

``corpus`` is ``"zoo"``, ``"generated"`` or ``"zoo+generated"``:

- zoo: the remaining zoo models (bert-base, gpt2, vit-b16), inference and training graphs (shipped files, no torch
  model building);
- generated: :func:`~mcmcore.generate.layered_dag`, :func:`~mcmcore.generate.residual_chain` and
  :func:`~mcmcore.generate.transformer_blocks` graphs of 30 to 300 nodes (``n_generated`` of them, seeded).
"""
from __future__ import annotations

from importlib import resources
from typing import Sequence

import numpy as np

from mcmcore.graph import Graph
from mcmcore.package import Package

__all__ = ["HELD_OUT", "corpus_graphs", "pretrain", "default_policy_path", "DEFAULT_PACKAGES"]

#: Zoo models never used for pre-training (all their graphs are evaluation graphs).
HELD_OUT = ("bert-large", "inception-v3", "resnet50")
#: Packages of the pre-training instances.
DEFAULT_PACKAGES = ("ring4", "ring8", "mesh4x4", "port4")


def default_policy_path():
    """The shipped pre-trained policy (``mcmcore/rl/data/policy.pt``)."""
    return resources.files("mcmcore.rl").joinpath("data", "policy.pt")


def corpus_graphs(corpus: str = "zoo+generated", *, n_generated: int = 24, seed: int = 0) -> list[Graph]:
    """The pre-training graphs (never a graph of :data:`HELD_OUT`)."""
    parts = set(corpus.split("+"))
    if not parts or not parts <= {"zoo", "generated"}:
        raise ValueError(f"corpus must be 'zoo', 'generated' or 'zoo+generated', got {corpus!r}")
    graphs: list[Graph] = []
    if "zoo" in parts:
        from mcmcore import zoo

        for name in zoo.names():
            if name in HELD_OUT:
                continue
            graphs.append(zoo.load(name))
            graphs.append(zoo.load(name, training=True))
    if "generated" in parts:
        from mcmcore.generate import layered_dag, residual_chain, transformer_blocks

        rng = np.random.default_rng(seed)
        for i in range(int(n_generated)):
            s = int(rng.integers(1 << 30))
            kind = i % 3
            if kind == 0:
                n = int(rng.integers(30, 300))
                graphs.append(layered_dag(n, seed=s, width=int(rng.integers(2, 8))))
            elif kind == 1:
                graphs.append(residual_chain(int(rng.integers(8, 60)), block_len=int(rng.integers(2, 5)), seed=s))
            else:
                layers = int(rng.integers(2, 20))
                hidden = int(rng.choice([256, 512, 768, 1024]))
                graphs.append(transformer_blocks(layers, hidden=hidden,
                                                 seq=int(rng.choice([64, 128, 256, 512])), heads=8,
                                                 seed=s))
    for g in graphs:
        for h in HELD_OUT:
            if g.name and g.name.startswith(h):
                raise AssertionError(f"held-out graph {g.name} in the corpus")
    return graphs


def pretrain(corpus: str = "zoo+generated", *, packages: Sequence[str | Package] = DEFAULT_PACKAGES,
             updates: int | None = None, n_generated: int = 24, config=None, out=None, resume=None, n_threads=None,
             teacher: str | None = None):
    """Pre-train a policy with PPO over every (corpus graph, package) instance.

    Parameters
    ----------
    corpus : str
        ``"zoo"``, ``"generated"`` or ``"zoo+generated"`` (see the module docstring).
    packages : sequence of preset names or Package
    updates : int, optional
        PPO updates in all (each one instance, ``config.samples_per_update`` samples). Default 1000, or when
        resuming the total the checkpoint's run was started with.
    n_generated : int
        Generated graphs in the corpus.
    config : PPOConfig, optional
    out : path, optional
        Write the trained policy here (:meth:`PlacementPolicy.save`).
    resume : path, optional
        Continue from this checkpoint (``updates`` counts the total). The checkpoint's hyper-parameters and
        architecture are kept: a ``config`` that sets one of them (away from its default) to another value is an
        error. Where and how the run reports (:data:`~mcmcore.rl.ppo.RUN_CONTROL_FIELDS`: log, checkpoint path and
        interval, progress, device) follow ``config`` when one is given, else the checkpoint.
    n_threads : int, optional
    teacher : str, optional
        A search method (``"dp"``) whose placement of each corpus instance seeds the self-imitation memory.

    Returns
    -------
    PPO
        The trainer (``.policy`` is the trained policy).
    """
    from mcmcore.rl.env import PlacementEnv
    from mcmcore.rl.ppo import PPO, PPOConfig, load_checkpoint

    pkgs = [p if isinstance(p, Package) else Package.preset(p) for p in packages]
    given = config is not None
    config = PPOConfig() if config is None else config
    pol = config.policy
    overrides = {}
    if resume:  # the checkpoint's parametrisation wins
        state = load_checkpoint(resume)
        overrides = resume_overrides(config, state["config"]) if given else {}
        pol = type(config.policy)(**state["policy"]["config"])
        seed = int(state["config"]["seed"])
    else:
        seed = config.seed
    graphs = corpus_graphs(corpus, n_generated=n_generated, seed=seed)
    env = PlacementEnv(graphs, pkgs, n_threads=n_threads, teacher=teacher, action=pol.action,
                       n_deltas=pol.n_deltas, resplit=pol.resplit)
    trainer = PPO.resume(resume, env, **overrides) if resume else PPO(env, None, config)
    try:
        if updates is None:
            updates = trainer.target_updates or 1000
        trainer.target_updates = int(updates)
        trainer.train(max(0, int(updates) - trainer.updates))
    finally:  # also when interrupted: the policy as far as it got (train() has written the checkpoint)
        if out and trainer.updates:
            trainer.policy.to("cpu").save(out)
            trainer.policy.to(trainer.device)
    return trainer


def resume_overrides(config, saved: dict) -> dict:
    """The config fields a resumed run takes from ``config``: the run-control fields. ValueError when ``config``
    sets a hyper-parameter or the architecture (away from its default) to another value than ``saved`` (the
    checkpoint's config, as a dict)."""
    from dataclasses import asdict

    from mcmcore.rl.ppo import RUN_CONTROL_FIELDS, PPOConfig

    given, default = asdict(config), asdict(PPOConfig())
    overrides, conflicts = {}, []
    for name, value in given.items():
        if name in RUN_CONTROL_FIELDS:
            overrides[name] = value
        elif value == default[name]:
            continue
        elif name == "policy":
            for k, v in value.items():
                if v != default["policy"][k] and v != saved["policy"].get(k):
                    conflicts.append(f"policy.{k}={v!r} (the checkpoint has {saved['policy'].get(k)!r})")
        elif value != saved.get(name):
            conflicts.append(f"{name}={value!r} (the checkpoint has {saved.get(name)!r})")
    if conflicts:
        raise ValueError("a resumed run keeps its checkpoint's hyper-parameters; these differ: " + ", ".join(conflicts))
    return overrides

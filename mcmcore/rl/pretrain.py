"""Pre-training the placement policy on a corpus of graphs, and the shipped pre-trained policy.

The corpus never contains the evaluation graphs: every graph of the zoo models in :data:`HELD_OUT` (bert-large,
inception-v3 and resnet50, inference *and* training graphs) is excluded, whatever ``corpus`` says. The benchmark
(bench/rl) evaluates on bert-large, inception-v3 and the resnet50 training graph.

``corpus`` is ``"zoo"``, ``"generated"`` or ``"zoo+generated"``:

- zoo: the remaining zoo models (bert-base, gpt2, vit-b16), inference and training graphs (shipped files, no torch
  model building);
- generated: :func:`~mcmcore.generate.layered_dag`, :func:`~mcmcore.generate.residual_chain` and
  :func:`~mcmcore.generate.transformer_blocks` graphs of 30 to 300 nodes (``n_generated`` of them, seeded).

A pre-training checkpoint records what the run trains on (corpus, ``n_generated``, packages, teacher, and the
names and sizes of the corpus graphs): a resumed run rebuilds exactly those instances (the checkpoint's
self-imitation memory and incumbents are keyed by instance), and an explicitly given setting that differs is an
error (:func:`resume_training_data`).
"""
from __future__ import annotations

from importlib import resources
from typing import Sequence

import numpy as np

from mcmcore._checks import is_int
from mcmcore.graph import Graph
from mcmcore.package import Package

__all__ = ["HELD_OUT", "corpus_graphs", "pretrain", "default_policy_path", "DEFAULT_CORPUS", "DEFAULT_PACKAGES",
           "DEFAULT_N_GENERATED", "resume_training_data"]

#: Zoo models never used for pre-training (all their graphs are evaluation graphs).
HELD_OUT = ("bert-large", "inception-v3", "resnet50")
#: Corpus of a new pre-training run.
DEFAULT_CORPUS = "zoo+generated"
#: Packages of the pre-training instances (of a new run).
DEFAULT_PACKAGES = ("ring4", "ring8", "mesh4x4", "port4")
#: Generated graphs in a new run's corpus.
DEFAULT_N_GENERATED = 24


def default_policy_path():
    """The shipped pre-trained policy (``mcmcore/rl/data/policy.pt``)."""
    return resources.files("mcmcore.rl").joinpath("data", "policy.pt")


def _canonical_corpus(corpus) -> str:
    """``corpus`` checked and spelt one way (``"generated+zoo"`` is ``"zoo+generated"``: the zoo comes first)."""
    parts = set(corpus.split("+")) if isinstance(corpus, str) else set()
    if not parts or not parts <= {"zoo", "generated"}:
        raise ValueError(f"corpus must be 'zoo', 'generated' or 'zoo+generated', got {corpus!r}")
    return "+".join(p for p in ("zoo", "generated") if p in parts)


def corpus_graphs(corpus: str = DEFAULT_CORPUS, *, n_generated: int = DEFAULT_N_GENERATED,
                  seed: int = 0) -> list[Graph]:
    """The pre-training graphs (never a graph of :data:`HELD_OUT`)."""
    parts = set(_canonical_corpus(corpus).split("+"))
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


def pretrain(corpus: str | None = None, *, packages: Sequence[str | Package] | None = None,
             updates: int | None = None, n_generated: int | None = None, config=None, out=None, resume=None,
             n_threads=None, teacher: str | None = None):
    """Pre-train a policy with PPO over every (corpus graph, package) instance.

    Parameters
    ----------
    corpus : str, optional
        ``"zoo"``, ``"generated"`` or ``"zoo+generated"`` (see the module docstring). Default
        :data:`DEFAULT_CORPUS`, or when resuming the checkpoint's.
    packages : sequence of preset names or Package, optional
        Default :data:`DEFAULT_PACKAGES`, or when resuming the checkpoint's.
    updates : int, optional
        PPO updates in all (each one instance, ``config.samples_per_update`` samples). Default 1000, or when
        resuming the total the checkpoint's run was started with.
    n_generated : int, optional
        Generated graphs in the corpus. Default :data:`DEFAULT_N_GENERATED`, or when resuming the checkpoint's.
    config : PPOConfig, optional
    out : path, optional
        Write the trained policy here (:meth:`PlacementPolicy.save`).
    resume : path, optional
        Continue from this checkpoint (``updates`` counts the total). The checkpoint's hyper-parameters and
        architecture are kept: a ``config`` that sets one of them (away from its default) to another value is an
        error. So is its training data: ``corpus``, ``packages``, ``n_generated`` and ``teacher`` left at None
        are the checkpoint's, and a value given that differs from it is an error (a checkpoint written before
        they were recorded needs them given; see :func:`resume_training_data`). Where and how the run reports
        (:data:`~mcmcore.rl.ppo.RUN_CONTROL_FIELDS`: log, checkpoint path and interval, progress, device) follow
        ``config`` when one is given, else the checkpoint.
    n_threads : int, optional
    teacher : str, optional
        A search method (``"dp"``) whose placement of each corpus instance seeds the self-imitation memory
        (default none, or when resuming the checkpoint's).

    Returns
    -------
    PPO
        The trainer (``.policy`` is the trained policy).

    Raises
    ------
    ValueError
        A bad corpus, package or checkpoint; resuming: a setting that differs from the checkpoint's, a checkpoint
        without recorded training data and not all of it given, or a corpus rebuilt from the checkpoint's
        settings that is not the one it was trained on (another mcmcore version).
    """
    from mcmcore.rl.env import PlacementEnv
    from mcmcore.rl.ppo import PPO, PPOConfig, load_checkpoint

    given = config is not None
    config = PPOConfig() if config is None else config
    pol = config.policy
    overrides = {}
    saved_graphs = None
    if resume:  # the checkpoint's parametrisation and training data win
        state = load_checkpoint(resume)
        data = resume_training_data(state, resume, corpus=corpus, packages=packages, n_generated=n_generated,
                                    teacher=teacher)
        saved_graphs = (state.get("training_data") or {}).get("graphs")
        overrides = resume_overrides(config, state["config"]) if given else {}
        pol = type(config.policy)(**state["policy"]["config"])
        seed = int(state["config"]["seed"])
    else:
        data = {"corpus": _canonical_corpus(DEFAULT_CORPUS if corpus is None else corpus),
                "packages": _packages(DEFAULT_PACKAGES if packages is None else packages),
                "n_generated": _n_generated(DEFAULT_N_GENERATED if n_generated is None else n_generated),
                "teacher": teacher}
        seed = config.seed
    graphs = corpus_graphs(data["corpus"], n_generated=data["n_generated"], seed=seed)
    fingerprint = [[g.name, int(g.n_nodes), int(g.n_edges)] for g in graphs]
    if saved_graphs is not None and saved_graphs != fingerprint:
        diff = next((f"{a} here, {b} in the checkpoint" for a, b in zip(fingerprint, saved_graphs) if a != b),
                    f"{len(fingerprint)} graphs here, {len(saved_graphs)} in the checkpoint")
        raise ValueError(f"{resume}: the corpus rebuilt from the checkpoint's settings is not the one it was trained "
                         f"on ({diff}; [name, nodes, edges]): was it written by another mcmcore version?")
    env = PlacementEnv(graphs, data["packages"], n_threads=n_threads, teacher=data["teacher"], action=pol.action,
                       n_deltas=pol.n_deltas, resplit=pol.resplit)
    trainer = PPO.resume(resume, env, **overrides) if resume else PPO(env, None, config)
    trainer.training_data = {"corpus": data["corpus"], "n_generated": data["n_generated"],
                             "packages": [p.to_spec() for p in data["packages"]], "teacher": data["teacher"],
                             "graphs": fingerprint}
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


def _packages(packages) -> list[Package]:
    if isinstance(packages, (str, Package)):  # one package, not a sequence of preset names' letters
        packages = [packages]
    return [p if isinstance(p, Package) else Package.preset(p) for p in packages]


def _n_generated(n_generated) -> int:
    if not is_int(n_generated) or int(n_generated) < 0:
        raise ValueError(f"n_generated must be a non-negative integer, got {n_generated!r}")
    return int(n_generated)


def _show(name: str, value) -> str:
    """A training-data setting as the user would spell it."""
    if name == "packages":
        return ",".join(p.name or repr(p) for p in value)
    return "none" if value is None else str(value)


def resume_training_data(state: dict, path, *, corpus: str | None = None,
                         packages: Sequence[str | Package] | None = None, n_generated: int | None = None,
                         teacher: str | None = None, names: dict[str, str] | None = None) -> dict:
    """The training data of a run resumed from a checkpoint: the checkpoint's, checked against the values given.

    Parameters
    ----------
    state : dict
        The checkpoint (:func:`~mcmcore.rl.ppo.load_checkpoint`).
    path : path
        Where it was read from (for messages).
    corpus, packages, n_generated, teacher : optional
        The values given for the resumed run, None where not given (then the checkpoint's are used).
    names : dict, optional
        How messages call each setting (the CLI passes its options: ``{"n_generated": "--generated", ...}``);
        default the parameter names.

    Returns
    -------
    dict
        ``corpus`` (canonical spelling), ``packages`` (list of Package), ``n_generated`` and ``teacher``.

    Raises
    ------
    ValueError
        A given value differs from the checkpoint's (``n_generated`` only counts when the corpus has generated
        graphs), naming the setting and both values. Or the checkpoint predates recorded training data (mcmcore
        wrote none before) and ``corpus``, ``packages`` or (for a corpus with generated graphs) ``n_generated`` is
        not given: such a run can go on only with them given as it was started, which this checkpoint cannot
        check; ``teacher`` is then taken as given (none when not given).
    """
    names = {k: (names or {}).get(k, k) for k in ("corpus", "packages", "n_generated", "teacher")}
    given = {"corpus": None if corpus is None else _canonical_corpus(corpus),
             "packages": None if packages is None else _packages(packages),
             "n_generated": None if n_generated is None else _n_generated(n_generated), "teacher": teacher}
    recorded = state.get("training_data")
    if recorded is None:  # written before checkpoints recorded it: the values given are all there is to go on
        corpus_ = given["corpus"]
        missing = [names[k] for k in ("corpus", "packages", "n_generated") if given[k] is None
                   and (k != "n_generated" or corpus_ is None or "generated" in corpus_)]
        if missing:
            raise ValueError(f"{path} predates checkpoints that record their corpus and packages: resuming it needs "
                             f"{' and '.join(missing)} given as the interrupted run had them (and {names['teacher']} "
                             f"if it used one)")
        if given["n_generated"] is None:  # a zoo-only corpus: not used
            given["n_generated"] = DEFAULT_N_GENERATED
        return given
    saved = {"corpus": recorded["corpus"], "packages": [Package.from_spec(s) for s in recorded["packages"]],
             "n_generated": int(recorded["n_generated"]), "teacher": recorded["teacher"]}
    differ = [k for k, v in given.items() if v is not None and v != saved[k]
              and (k != "n_generated" or "generated" in saved["corpus"])]  # else no generated graphs either way
    if differ:
        raise ValueError("; ".join(f"{names[k]} {_show(k, given[k])} differs from the checkpoint's "
                                   f"{_show(k, saved[k])}" for k in differ)
                         + ": a resumed run trains on its checkpoint's corpus and packages (leave "
                         + " and ".join(names[k] for k in differ) + " out to use them)")
    return saved


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

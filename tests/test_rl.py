"""The RL layer: environment (check_env), policy, PPO (exact resume), the ``rl`` search method and the CLI."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")

from mcmcore import Package, evaluate  # noqa: E402
from mcmcore.generate import layered_dag  # noqa: E402
from mcmcore.rl import (HELD_OUT, PPO, N_FEATURES, PlacementEnv, PlacementPolicy, PolicyConfig, PPOConfig,  # noqa: E402
                        corpus_graphs, default_policy_path, obs_to_tensors)

torch.set_num_threads(1)
TINY = PolicyConfig(hidden=16, gnn_layers=2, attention_layers=1, heads=2, n_bins=8)


def _env(**kw):
    graphs = [layered_dag(20, seed=1), layered_dag(16, seed=2)]
    return PlacementEnv(graphs, [Package.preset("ring4"), Package.preset("port4")], n_threads=1, **kw)


def test_check_env():
    from gymnasium.utils.env_checker import check_env

    env = _env()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no spec / render-mode notices
        check_env(env, skip_render_check=True)


def test_step_is_repaired_and_rewarded():
    env = _env()
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert obs["nodes"].shape[1] == N_FEATURES
    action = env.action_space.sample()
    _, reward, terminated, truncated, step_info = env.step(action)
    assert terminated and not truncated and reward > 0
    inst = env.instance
    rep = evaluate(inst.graph, inst.package, step_info["placements"])
    assert rep.valid and rep.interval == pytest.approx(step_info["values"])
    assert reward == pytest.approx(env.baseline() / rep.interval)


def test_step_batch_matches_step():
    env = _env()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, env.n_bins, size=(5, env.max_nodes))
    rewards, info = env.step_batch(actions)
    for i in range(5):
        _, r, *_ = env.step(actions[i])
        assert r == pytest.approx(rewards[i])
    assert info["placements"].shape == (5, env.instance.graph.n_nodes)


def test_coarsened_instance_maps_back():
    g = layered_dag(60, seed=4)
    env = PlacementEnv(g, Package.preset("ring4"), coarsen_above=30, coarsen_target=20, baseline="bound", n_threads=1)
    obs, _ = env.reset(seed=0)
    assert int(obs["node_mask"].sum()) < 60
    rewards, info = env.step_batch(np.zeros((2, env.max_nodes), dtype=np.int64))
    assert info["placements"].shape == (2, 60) and info["valid"].all()


def test_policy_any_size_and_bins():
    torch.manual_seed(0)
    policy = PlacementPolicy(TINY)
    env = _env()
    obs, _ = env.reset(seed=1)
    x, edges = obs_to_tensors(obs)
    logits, value = policy(x, edges, 13)
    assert logits.shape == (x.shape[0], 13) and value.shape == ()
    # permuting node ids permutes the outputs (no dependence on the numbering)
    perm = torch.randperm(x.shape[0])
    inv = torch.argsort(perm)
    logits2, value2 = policy(x[perm], inv[edges], 13)
    assert torch.allclose(logits2, logits[perm], atol=1e-5) and torch.allclose(value, value2, atol=1e-5)


def test_policy_save_load(tmp_path):
    torch.manual_seed(0)
    policy = PlacementPolicy(TINY)
    policy.save(tmp_path / "p.pt")
    again = PlacementPolicy.load(tmp_path / "p.pt")
    for a, b in zip(policy.parameters(), again.parameters()):
        assert torch.equal(a, b)


def _config(tmp_path=None, **kw):
    return PPOConfig(seed=7, samples_per_update=16, epochs=2, policy=TINY, **kw)


def test_ppo_resume_is_exact(tmp_path):
    straight = PPO(_env(), config=_config())
    straight.train(4)
    first = PPO(_env(), config=_config(checkpoint_path=str(tmp_path / "ck.pt")))
    first.train(2)
    resumed = PPO.resume(tmp_path / "ck.pt", _env(), checkpoint_path=None)
    resumed.train(2)
    assert resumed.updates == 4 and resumed.samples == straight.samples
    for a, b in zip(straight.policy.parameters(), resumed.policy.parameters()):
        assert torch.equal(a, b)


def test_ppo_interrupt_finishes_the_update_saves_and_resumes_exactly(tmp_path):
    import shutil
    import signal

    straight = PPO(_env(), config=_config())
    straight.train(4)
    ck, log = tmp_path / "ck.pt", tmp_path / "log.jsonl"
    first = PPO(_env(), config=_config(checkpoint_path=str(ck), log_path=str(log)))
    calls = []

    def ctrl_c_in_the_second_update(info):
        calls.append(1)
        if len(calls) == 2:
            signal.raise_signal(signal.SIGINT)  # arrives mid-update: the update must still finish

    with pytest.raises(KeyboardInterrupt):
        first.train(4, on_batch=ctrl_c_in_the_second_update)
    assert first.updates == 2 and len(calls) == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    assert [json.loads(line)["update"] for line in log.read_text().splitlines()] == [1, 2]
    # a run that went on past its last checkpoint, then died: its log has an update the resumed run repeats
    shutil.copy(ck, tmp_path / "ck2.pt")
    first.train(1)
    assert len(log.read_text().splitlines()) == 3
    resumed = PPO.resume(tmp_path / "ck2.pt", _env(), checkpoint_path=None)
    resumed.train(2)
    assert [json.loads(line)["update"] for line in log.read_text().splitlines()] == [1, 2, 3, 4]
    for a, b in zip(straight.policy.parameters(), resumed.policy.parameters()):
        assert torch.equal(a, b)


def test_pretrain_resume_keeps_the_checkpoint_hyper_parameters(tmp_path, capsys):
    from mcmcore.cli import main
    from mcmcore.rl.pretrain import resume_overrides

    common = ["rl", "pretrain", "--corpus", "generated", "--generated", "2", "--packages", "ring4",
              "--samples-per-update", "8", "--hidden", "16", "--no-progress", "--threads", "1",
              "--out", str(tmp_path / "q.pt")]
    assert main(common + ["--updates", "1", "--lr", "1e-3", "--log", str(tmp_path / "a.jsonl")]) == 0
    ck = tmp_path / "q.pt.ckpt"  # the default checkpoint next to --out
    assert ck.is_file()
    capsys.readouterr()
    assert main(common + ["--updates", "2", "--resume", str(ck), "--lr", "3e-4"]) == 1
    assert "--lr" in capsys.readouterr().err
    # resumed without --lr: the checkpoint's; a new --log is honoured
    assert main(common + ["--updates", "2", "--resume", str(ck), "--log", str(tmp_path / "b.jsonl")]) == 0
    assert [json.loads(line)["update"] for line in (tmp_path / "b.jsonl").read_text().splitlines()] == [2]
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 1
    capsys.readouterr()
    # without --updates a resumed run keeps the total it was started with (here the 2 of the last run)
    assert main(common + ["--resume", str(ck)]) == 0
    assert "pre-trained 2 updates" in capsys.readouterr().out
    saved = torch.load(ck, weights_only=False)["config"]
    assert saved["lr"] == 1e-3
    with pytest.raises(ValueError, match="epochs"):
        resume_overrides(PPOConfig(epochs=9), saved)
    assert resume_overrides(PPOConfig(log_path="x", epochs=saved["epochs"]), saved)["log_path"] == "x"


def test_ppo_logs_json_lines(tmp_path):
    log = tmp_path / "log.jsonl"
    trainer = PPO(_env(), config=_config(log_path=str(log)))
    trainer.train(2)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["update"] for r in rows] == [1, 2]
    assert {"reward_mean", "loss_pi", "entropy", "seconds_solver"} <= set(rows[0])


def test_ppo_update_favours_the_better_samples():
    env = PlacementEnv(layered_dag(20, seed=1), Package.preset("ring4"), n_threads=1)
    trainer = PPO(env, config=PPOConfig(seed=0, samples_per_update=32, lr=3e-3, sil_coef=0.0, ent_coef=0.0,
                                        policy=TINY))
    _, (x, edges) = trainer._observe()
    actions, old_logp = trainer.sample(x, edges, 32)
    rewards, _ = env.step_batch(actions.numpy())
    trainer._optimise(x, edges, actions, old_logp, torch.as_tensor(rewards, dtype=torch.float32))
    with torch.no_grad():
        logits, _ = trainer.policy(x, edges, env.n_bins)
        new_logp = torch.log_softmax(logits, -1).gather(1, actions.T).T
    gain = (new_logp - old_logp).sum(1).numpy()
    best, worst = np.argsort(rewards)[-8:], np.argsort(rewards)[:8]
    assert gain[best].mean() > gain[worst].mean()


def test_teacher_seeds_self_imitation():
    env = PlacementEnv(layered_dag(20, seed=3), Package.preset("ring4"), n_threads=1, teacher="dp")
    trainer = PPO(env, config=_config())
    trainer.train(1)
    env.reset(options={"instance": 0})
    assert env.instance.teacher_placement is not None
    assert trainer.best[0][0] >= 1.0  # at least as good as the best random valid placement


def test_corpus_excludes_held_out():
    graphs = corpus_graphs("zoo+generated", n_generated=3)
    assert graphs and not any(g.name.startswith(h) for g in graphs for h in HELD_OUT)
    with pytest.raises(ValueError):
        corpus_graphs("imagenet")


def test_rl_method_offers_every_sample():
    from mcmcore.search import partition

    g = layered_dag(20, seed=5)
    pkg = Package.preset("ring4")
    policy = PlacementPolicy(TINY)
    res = partition(g, pkg, method="rl", policy=policy, max_evals=50, batch=16, seed=0, progress=False, n_threads=1)
    assert res.valid and res.evals == 50
    assert res.value == pytest.approx(evaluate(g, pkg, res.placement).interval)
    assert res.info["rl_updates"] == 4  # 1 greedy + 16 + 16 + 16 + 1
    again = partition(g, pkg, method="rl", policy=policy, max_evals=50, batch=16, seed=0, progress=False,
                      n_threads=1)
    assert again.value == res.value and np.array_equal(again.placement, res.placement)


def test_shipped_policy_out_of_the_box():
    from mcmcore.search import partition

    assert default_policy_path().is_file()
    res = partition(layered_dag(20, seed=6), Package.preset("ring4"), method="rl", max_evals=40, progress=False,
                    n_threads=1)
    assert res.valid


def test_cli_partition_and_pretrain(tmp_path, capsys):
    from mcmcore.cli import main

    g = layered_dag(20, seed=8)
    g.save(tmp_path / "g.json")
    policy = tmp_path / "p.pt"
    PlacementPolicy(TINY).save(policy)
    assert main(["partition", str(tmp_path / "g.json"), "--package", "ring4", "--method", "rl", "--policy",
                 str(policy), "--max-evals", "40", "--no-progress", "--threads", "1"]) == 0
    assert "rl:" in capsys.readouterr().out
    assert main(["rl", "pretrain", "--corpus", "generated", "--generated", "2", "--packages", "ring4",
                 "--updates", "2", "--samples-per-update", "8", "--hidden", "16", "--out", str(tmp_path / "q.pt"),
                 "--no-progress", "--threads", "1"]) == 0
    assert PlacementPolicy.load(tmp_path / "q.pt").config.hidden == 16


def test_cli_device_options_need_method_rl_and_a_gpu(tmp_path, capsys):
    from mcmcore.cli import main

    layered_dag(20, seed=8).save(tmp_path / "g.json")
    base = ["partition", str(tmp_path / "g.json"), "--package", "ring4", "--no-progress", "--max-evals", "20"]
    assert main(base + ["--device", "cpu"]) == 1
    assert "--device needs --method rl" in capsys.readouterr().err
    assert main(base + ["--fast-gpu-kernels"]) == 1
    assert "--fast-gpu-kernels needs --method rl" in capsys.readouterr().err
    assert main(base + ["--policy", "scratch"]) == 1
    assert "--policy needs --method rl" in capsys.readouterr().err
    assert main(base + ["--method", "rl", "--device", "cpu", "--fast-gpu-kernels"]) == 0  # no effect on the CPU
    if not torch.cuda.is_available():
        assert main(base + ["--method", "rl", "--device", "cuda"]) == 1
        assert "CUDA is not available" in capsys.readouterr().err
    with pytest.raises(ValueError, match="deterministic"):
        PPOConfig(deterministic="yes")


# ------------------------------------------------------------------------------------------ residual actions
RES = PolicyConfig(hidden=16, gnn_layers=2, attention_layers=1, heads=2, action="residual", n_deltas=5)


def test_residual_check_env_and_zero_action_is_the_dp_split():
    from gymnasium.utils.env_checker import check_env

    from mcmcore.rl.env import dp_base

    env = _env(action="residual")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs) and "base" in obs
    inst = env.instance
    split, _ = dp_base(inst.graph, inst.package, env.constraints)
    zero = np.full((1, env.max_nodes), env.n_deltas // 2)
    rewards, info = env.step_batch(zero)
    assert np.array_equal(info["placements"][0], split) and rewards[0] == pytest.approx(1.0)
    assert info["moved"][0] == 0


def test_residual_set_base_moves_the_origin():
    env = PlacementEnv(layered_dag(20, seed=1), Package.preset("ring4"), n_threads=1, action="residual")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    _, info = env.step_batch(rng.integers(0, env.n_deltas, size=(8, env.max_nodes)))
    i = int(np.flatnonzero(info["valid"])[0])
    env.set_base(info["placements"][i])
    assert env.instance.base_value == pytest.approx(info["values"][i])
    zero = np.full((1, env.max_nodes), env.n_deltas // 2)
    assert np.array_equal(env.step_batch(zero)[1]["placements"][0], info["placements"][i])


@pytest.mark.parametrize("regularizer", ["entropy", "prior"])
def test_residual_policy_and_ppo_resume_exact(tmp_path, regularizer):
    cfg = dict(seed=3, samples_per_update=16, epochs=2, policy=RES, top_quantile=0.25, regularizer=regularizer)
    straight = PPO(_env(action="residual"), config=PPOConfig(**cfg))
    straight.train(4)
    first = PPO(_env(action="residual"), config=PPOConfig(checkpoint_path=str(tmp_path / "ck.pt"), **cfg))
    first.train(2)
    resumed = PPO.resume(tmp_path / "ck.pt", _env(action="residual"), checkpoint_path=None)
    resumed.train(2)
    for a, b in zip(straight.policy.parameters(), resumed.policy.parameters()):
        assert torch.equal(a, b)
    assert straight.incumbents.keys() == resumed.incumbents.keys()
    with pytest.raises(ValueError):
        PPO(_env(), PlacementPolicy(RES))  # a residual policy on an absolute env


@pytest.mark.parametrize("graph_seed", [9, 11])
def test_rl_method_residual_starts_from_the_split(graph_seed):
    from mcmcore import Constraints, lower_bound
    from mcmcore.rl.env import dp_base
    from mcmcore.search import SearchStatus, partition

    g = layered_dag(30, seed=graph_seed)
    pkg = Package.preset("ring4")
    split, _ = dp_base(g, pkg, Constraints())
    split_value = evaluate(g, pkg, split).interval
    res = partition(g, pkg, method="rl", policy=PlacementPolicy(RES), max_evals=60, batch=16, seed=0,
                    progress=False, n_threads=1)
    assert res.valid and res.value <= split_value * (1 + 1e-9)
    assert res.history.evals[0] == 1 and res.history.best[0] == pytest.approx(split_value, rel=1e-12)
    assert res.value == pytest.approx(evaluate(g, pkg, res.placement).interval)
    # a placement at the compute bound is optimal and ends the search there (seed 9); otherwise the whole budget
    # runs (seed 11)
    at_bound = split_value <= lower_bound(g, pkg) * (1 + 1e-12)
    assert at_bound == (graph_seed == 9)
    assert res.evals == (1 if at_bound else 60)
    assert res.status is SearchStatus.OPTIMAL or not at_bound


def test_resplit_proposals_are_clean_pipelines():
    env = PlacementEnv(layered_dag(30, seed=2), Package.preset("ring4"), n_threads=1, action="residual",
                       resplit=True)
    env.reset(seed=0)
    inst = env.instance
    zero = np.full((1, env.max_nodes), env.n_deltas // 2)
    _, info = env.step_batch(zero)
    assert info["valid"][0] and info["values"][0] <= inst.base_value * (1 + 1e-9)
    rng = np.random.default_rng(1)
    _, info = env.step_batch(rng.integers(0, env.n_deltas, size=(6, env.max_nodes)))
    assert info["valid"].all() and (info["moved"] == 0).all()  # a split needs no repair


def test_resplit_cache_overflow_keeps_serving_the_batch():
    # a batch mixing cached and new proposals that overflows the cache: the cached rows must still be served
    env = PlacementEnv(layered_dag(30, seed=2), Package.preset("ring4"), n_threads=1, action="residual",
                       resplit=True)
    env.resplit_cache_size = 8
    env.reset(seed=0)
    rng = np.random.default_rng(3)
    first = rng.integers(0, env.n_deltas, size=(6, env.max_nodes))
    _, info_first = env.step_batch(first)
    mixed = np.concatenate([first, rng.integers(0, env.n_deltas, size=(6, env.max_nodes))])
    _, info = env.step_batch(mixed)
    assert np.array_equal(info["placements"][:6], info_first["placements"])
    fresh = PlacementEnv(layered_dag(30, seed=2), Package.preset("ring4"), n_threads=1, action="residual",
                         resplit=True)
    fresh.reset(seed=0)
    assert np.array_equal(fresh.step_batch(mixed)[1]["placements"], info["placements"])


def test_rl_method_counts_every_sample_and_reports_distinct_placements():
    from mcmcore.search import partition

    g = layered_dag(30, seed=11)  # its split is above the compute bound: the search runs its whole budget
    pkg = Package.preset("ring4")
    res = partition(g, pkg, method="rl", policy=PlacementPolicy(RES), max_evals=60, batch=16, seed=0,
                    progress=False, n_threads=1)
    assert res.evals == 60
    assert 1 <= res.info["rl_distinct_placements"] <= 60


def test_env_cache_matches_a_fresh_evaluation():
    env = PlacementEnv(layered_dag(30, seed=2), Package.preset("ring4"), n_threads=1, action="residual",
                       resplit=True)
    env.reset(seed=0)
    rng = np.random.default_rng(3)
    acts = rng.integers(0, env.n_deltas, size=(8, env.max_nodes))
    acts[4:] = acts[:4]
    r1, i1 = env.step_batch(acts)
    assert i1["fresh"][:4].sum() == len({a.tobytes() for a in env.proposals_to_placements(acts[:4])})
    assert not i1["fresh"][4:].any()
    r2, i2 = env.step_batch(acts)
    assert not i2["fresh"].any()
    other = PlacementEnv(layered_dag(30, seed=2), Package.preset("ring4"), n_threads=1, action="residual",
                         resplit=True)
    other.reset(seed=0)
    r3, i3 = other.step_batch(acts)
    assert np.array_equal(r1, r2) and np.array_equal(r1, r3)
    assert np.array_equal(i1["placements"], i3["placements"]) and np.array_equal(i1["values"], i3["values"])


def _stay_probability(trainer) -> float:
    _, (x, edges) = trainer._observe()
    with torch.no_grad():
        logits, _ = trainer.policy(x, edges, trainer.env.n_actions)
    return float(torch.softmax(logits, -1)[:, trainer.env.n_deltas // 2].mean())


@pytest.mark.parametrize("regularizer", ["entropy", "prior"])
def test_prior_regularizer_pulls_a_residual_policy_towards_few_moves(regularizer):
    # a policy that moves most nodes (uniform moves), trained with a dominant regulariser: the entropy keeps it
    # moving most nodes, the prior (stay-biased) pulls it back towards staying
    policy = PlacementPolicy(RES)
    with torch.no_grad():
        policy.head[-1].bias.zero_()
    cfg = PPOConfig(seed=0, samples_per_update=16, epochs=4, lr=3e-3, ent_coef=20.0, regularizer=regularizer,
                    policy=RES)
    trainer = PPO(_env(action="residual"), policy, cfg)
    before = _stay_probability(trainer)
    trainer.train(6)
    after = _stay_probability(trainer)
    assert before < 0.3
    if regularizer == "prior":
        assert after > 0.6
    else:
        assert after < 0.3


def test_prior_regularizer_is_the_entropy_for_absolute_policies():
    # KL to the uniform distribution = log(n) - entropy: the same gradients, so the same weights
    trained = []
    for regularizer in ("entropy", "prior"):
        trainer = PPO(_env(), config=PPOConfig(seed=5, samples_per_update=8, epochs=2, policy=TINY,
                                               regularizer=regularizer))
        trainer.train(3)
        trained.append(list(trainer.policy.parameters()))
    for a, b in zip(*trained):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="regularizer"):
        PPO(_env(), config=PPOConfig(policy=TINY, regularizer="kl"))


# ------------------------------------------------------------------- resuming pre-training keeps its training data
_PRETRAIN_DATA = {"corpus": "generated", "n_generated": 2, "packages": ("ring4", "port4")}  # none of them defaults


def _pretrain_config(**kw):
    return PPOConfig(seed=3, samples_per_update=4, epochs=1,
                     policy=PolicyConfig(hidden=8, gnn_layers=2, attention_layers=1, heads=2), **kw)


def test_pretrain_resume_reuses_the_checkpoints_corpus_and_packages(tmp_path):
    from mcmcore.rl import pretrain

    straight = pretrain(**_PRETRAIN_DATA, updates=4, config=_pretrain_config(), n_threads=1)
    ck = tmp_path / "ck.pt"
    pretrain(**_PRETRAIN_DATA, updates=2, config=_pretrain_config(checkpoint_path=str(ck)), n_threads=1)
    # no corpus, packages or n_generated given: the checkpoint's, not the defaults
    resumed = pretrain(updates=4, resume=ck, n_threads=1)
    assert resumed.updates == 4 and len(resumed.env.instances) == 4
    assert resumed.training_data["corpus"] == "generated" and resumed.training_data["n_generated"] == 2
    assert [p["name"] for p in resumed.training_data["packages"]] == ["ring4", "port4"]
    for a, b in zip(straight.policy.parameters(), resumed.policy.parameters()):
        assert torch.equal(a, b)
    # the same values given (the corpus spelt another way) are accepted; others are refused, naming both values
    again = pretrain(corpus="generated", packages=[Package.preset("ring4"), "port4"], n_generated=2, updates=4,
                     resume=ck, n_threads=1)
    assert again.updates == 4
    with pytest.raises(ValueError, match=r"packages ring4 differs from the checkpoint's ring4,port4"):
        pretrain(packages=["ring4"], updates=5, resume=ck, n_threads=1)
    with pytest.raises(ValueError, match=r"corpus zoo\+generated differs from the checkpoint's generated"):
        pretrain(corpus="generated+zoo", updates=5, resume=ck, n_threads=1)
    with pytest.raises(ValueError, match=r"n_generated 3 differs .* 2.*teacher dp differs .* none"):
        pretrain(n_generated=3, teacher="dp", updates=5, resume=ck, n_threads=1)
    # a corpus that rebuilds differently (another mcmcore version) is refused, not trained on
    state = torch.load(ck, weights_only=False)
    state["training_data"]["graphs"][0][1] += 1
    torch.save(state, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not the one it was trained on"):
        pretrain(updates=5, resume=tmp_path / "other.pt", n_threads=1)


def test_cli_pretrain_resume_as_the_interrupt_message_says_keeps_the_corpus(tmp_path, capsys, monkeypatch):
    import signal

    from mcmcore.cli import main

    common = ["rl", "pretrain", "--corpus", "generated", "--generated", "2", "--packages", "ring4,port4",
              "--samples-per-update", "4", "--hidden", "8", "--epochs", "1", "--no-progress", "--threads", "1"]
    assert main(common + ["--updates", "4", "--out", str(tmp_path / "full.pt")]) == 0
    step = PPO.step

    def step_then_ctrl_c(self, *args, **kw):
        stats = step(self, *args, **kw)
        if self.updates == 2:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C during update 2: the run stops after it
        return stats

    monkeypatch.setattr(PPO, "step", step_then_ctrl_c)
    out, ck = tmp_path / "int.pt", tmp_path / "int.pt.ckpt"
    assert main(common + ["--updates", "4", "--out", str(out)]) == 130
    monkeypatch.undo()
    assert f"continue with --resume {ck}" in capsys.readouterr().err
    assert torch.load(ck, weights_only=False)["updates"] == 2
    old = torch.load(ck, weights_only=False)
    old.pop("training_data", None)  # as checkpoints were before they recorded it
    torch.save(old, tmp_path / "old.ckpt")

    # resumed exactly as the message says: the same corpus, so the same weights as the uninterrupted run
    assert main(["rl", "pretrain", "--resume", str(ck), "--out", str(out), "--no-progress", "--threads", "1"]) == 0
    assert "pre-trained 4 updates" in capsys.readouterr().out
    full, resumed = PlacementPolicy.load(tmp_path / "full.pt"), PlacementPolicy.load(out)
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    # conflicting corpus settings are refused, naming the option and both values
    for flags, named in [(["--packages", "ring4"], "--packages ring4 differs from the checkpoint's ring4,port4"),
                         (["--corpus", "zoo"], "--corpus zoo differs from the checkpoint's generated"),
                         (["--generated", "5"], "--generated 5 differs from the checkpoint's 2")]:
        assert main(["rl", "pretrain", "--resume", str(ck), "--out", str(out), "--no-progress", *flags]) == 1
        assert named in capsys.readouterr().err

    # a checkpoint that predates the record: refused without the corpus options, continued exactly with them
    old_out = tmp_path / "old.pt"
    assert main(["rl", "pretrain", "--resume", str(tmp_path / "old.ckpt"), "--out", str(old_out),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "predates" in err and "--corpus and --packages and --generated" in err
    assert main(["rl", "pretrain", "--resume", str(tmp_path / "old.ckpt"), "--out", str(old_out), "--no-progress",
                 "--threads", "1", "--corpus", "generated", "--generated", "2", "--packages", "ring4,port4"]) == 0
    for a, b in zip(full.parameters(), PlacementPolicy.load(old_out).parameters()):
        assert torch.equal(a, b)

"""The RL stack on a GPU (``device="cuda"``): skipped where torch sees no CUDA device, as on CI.

Checked on a GPU machine with ``pytest tests/test_rl_cuda.py`` (see BENCHMARKS.md, Learned placement on a GPU)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from mcmcore import Package, evaluate  # noqa: E402
from mcmcore.generate import layered_dag  # noqa: E402
from mcmcore.rl import PPO, PlacementEnv, PlacementPolicy, PolicyConfig, PPOConfig  # noqa: E402

torch.set_num_threads(1)
RES = PolicyConfig(hidden=16, gnn_layers=2, attention_layers=1, heads=2, action="residual", n_deltas=5,
                   resplit=True)


def _env():
    graphs = [layered_dag(20, seed=1), layered_dag(16, seed=2)]
    return PlacementEnv(graphs, [Package.preset("ring4"), Package.preset("port4")], n_threads=1, action="residual",
                        n_deltas=5, resplit=True)


def _config(device, **kw):
    return PPOConfig(seed=7, samples_per_update=16, epochs=2, policy=RES, device=device, **kw)


def test_ppo_trains_on_the_gpu():
    trainer = PPO(_env(), config=_config("cuda"))
    history = trainer.train(3)
    assert all(p.is_cuda for p in trainer.policy.parameters())
    assert trainer.updates == 3 and trainer.samples == 48
    for row in history:
        assert np.isfinite([row["loss_pi"], row["loss_v"], row["entropy"]]).all()


def test_gpu_training_follows_the_cpu_one():
    """The same seed on both devices samples the same first batch (sampling runs on the CPU generator) and
    computes the same losses on it, up to float rounding."""
    cpu, gpu = PPO(_env(), config=_config("cpu")), PPO(_env(), config=_config("cuda"))
    _, (x, e) = cpu._observe()
    _, (xg, eg) = gpu._observe()
    assert xg.is_cuda and torch.equal(x, xg.cpu())
    a_cpu, lp_cpu = PPO(_env(), config=_config("cpu")).sample(x, e, 16)
    a_gpu, lp_gpu = PPO(_env(), config=_config("cuda")).sample(xg, eg, 16)
    assert torch.equal(a_cpu, a_gpu)
    assert torch.allclose(lp_cpu, lp_gpu, atol=1e-4)
    c_row, g_row = cpu.step(), gpu.step()
    assert c_row["reward_mean"] == g_row["reward_mean"] and c_row["best_value"] == g_row["best_value"]
    for key in ("loss_v", "entropy", "value"):
        assert g_row[key] == pytest.approx(c_row[key], rel=1e-3, abs=1e-4)


def test_same_seed_same_run_on_the_gpu():
    runs = [PPO(_env(), config=_config("cuda")) for _ in range(2)]
    for trainer in runs:
        trainer.train(3)
    for a, b in zip(runs[0].policy.parameters(), runs[1].policy.parameters()):
        assert torch.equal(a, b)
    assert not torch.are_deterministic_algorithms_enabled()  # the caller's setting is back


def test_fast_kernels_train_too():
    trainer = PPO(_env(), config=_config("cuda", deterministic=False))
    rows = trainer.train(2)
    assert trainer.updates == 2 and np.isfinite(rows[-1]["loss_pi"])


def test_gpu_checkpoint_resumes_exactly_on_the_gpu_and_loads_on_the_cpu(tmp_path):
    straight = PPO(_env(), config=_config("cuda"))
    straight.train(4)
    first = PPO(_env(), config=_config("cuda", checkpoint_path=str(tmp_path / "ck.pt")))
    first.train(2)
    resumed = PPO.resume(tmp_path / "ck.pt", _env(), checkpoint_path=None)
    assert resumed.device.type == "cuda"
    resumed.train(2)
    for a, b in zip(straight.policy.parameters(), resumed.policy.parameters()):
        assert torch.equal(a, b)
    on_cpu = PPO.resume(tmp_path / "ck.pt", _env(), checkpoint_path=None, device="cpu")
    on_cpu.train(1)
    assert all(not p.is_cuda for p in on_cpu.policy.parameters())
    first.policy.save(tmp_path / "p.pt")
    assert all(not t.is_cuda for t in PlacementPolicy.load(tmp_path / "p.pt").state_dict().values())


def test_rl_method_on_the_gpu_is_valid_and_repeatable():
    from mcmcore.search import partition

    g, pkg = layered_dag(40, seed=3), Package.preset("port4")  # the split is not optimal: the budget runs out
    policy = PlacementPolicy(RES)
    runs = [partition(g, pkg, method="rl", policy=policy, device="cuda", max_evals=80, batch=16, seed=0,
                      progress=False, n_threads=1) for _ in range(2)]
    assert runs[0].valid and runs[0].evals == 80 and runs[0].info["rl_updates"] == 5
    assert runs[0].value == pytest.approx(evaluate(g, pkg, runs[0].placement).interval)
    assert runs[1].value == runs[0].value and np.array_equal(runs[1].placement, runs[0].placement)


def test_cli_on_the_gpu(tmp_path, capsys):
    from mcmcore.cli import main

    layered_dag(40, seed=3).save(tmp_path / "g.json")
    args = ["partition", str(tmp_path / "g.json"), "--package", "port4", "--method", "rl", "--device", "cuda",
            "--no-progress", "--max-evals", "80", "--out", str(tmp_path / "r.json")]
    assert main(args) == 0
    assert "rl:" in capsys.readouterr().out
    assert main(["rl", "pretrain", "--corpus", "generated", "--generated", "2", "--packages", "ring4", "--updates",
                 "2", "--samples-per-update", "8", "--hidden", "16", "--device", "cuda", "--no-progress",
                 "--threads", "1", "--out", str(tmp_path / "q.pt")]) == 0
    assert PlacementPolicy.load(tmp_path / "q.pt").config.hidden == 16

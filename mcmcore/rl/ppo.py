"""PPO for one-step placement episodes (the algorithm layer; the environment is :class:`~mcmcore.rl.env.PlacementEnv`).

Each update draws an instance (``env.reset``), samples ``samples_per_update`` whole placements from the policy for
it, has the environment repair and score them in one vectorised call (``env.step_batch``), and runs ``epochs``
passes of the clipped PPO objective. Episodes are one step, so the return is the reward and the advantage is
``reward - V(graph)`` (the value head reads a pooled graph embedding), normalised over the batch. A placement is a
product of per-node choices; the ratio is taken per node (each node's choice shares its placement's advantage), which
keeps ratios near one on graphs of hundreds of nodes where the ratio of whole-placement probabilities would explode.
A self-imitation term (Oh et al., 2018) pulls each node's distribution towards the bin of the best *repaired*
placement seen so far on the instance (:attr:`PPOConfig.sil_coef`; the env's best random valid placement, when it
computed one for its baseline, seeds that memory, and so does a teacher's placement when the env has a ``teacher``,
e.g. the ``dp`` pipeline split during pre-training): independent per-node proposals are rarely
monotone, so the solver moves most nodes and the proposal alone carries little signal; its correction does.

With residual actions (``env.action == "residual"``, the policy's ``action`` too) every sample is a set of per-node
moves relative to the env's base placement, which starts as the optimal contiguous pipeline split; with
:attr:`PPOConfig.incumbent` the base follows the best valid placement found so far on each instance (a learned
local search, like annealing's proposal distribution), and the reward ``base_value / value`` rewards improvements
on it. Self-imitation is not used there (the best placement *is* the base: its target would be "move nothing").

Everything random flows from :attr:`PPOConfig.seed`: the initial weights, the env's ``np_random`` (seeded on the
first reset) and a torch generator for the samples. A checkpoint holds the policy, the optimiser, both generator
states and the update count, so ``train(n)`` equals ``train(k)``, save, :meth:`PPO.resume`, ``train(n - k)``.
On a GPU this holds bit for bit too: the policy's forward and update passes run with PyTorch's deterministic
kernels (:attr:`PPOConfig.deterministic`; the message passing's ``index_add_`` otherwise sums in a different order
from run to run on CUDA), and sampling always draws on the CPU generator.
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from mcmcore.rl.env import PlacementEnv
from mcmcore.rl.policy import PlacementPolicy, PolicyConfig, obs_to_tensors

__all__ = ["PPOConfig", "PPO", "default_device"]


def default_device() -> str:
    """``"cuda"`` when a GPU is usable, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class PPOConfig:
    """Hyper-parameters of :class:`PPO` (one place, each documented)."""

    seed: int = 0
    """seed of the initial weights, the instance draws and the samples"""
    samples_per_update: int = 64
    """placements sampled (and repaired and evaluated) per update, all for one instance"""
    epochs: int = 4
    """optimisation passes over each batch"""
    lr: float = 3e-4
    """Adam learning rate"""
    clip: float = 0.2
    """PPO ratio clip"""
    ent_coef: float = 0.01
    """weight of the exploration regulariser (:attr:`regularizer`)"""
    regularizer: str = "entropy"
    """exploration regulariser, averaged over nodes: ``"entropy"``, the entropy bonus (pulls every node's
    distribution towards uniform), or ``"prior"``, minus the KL divergence to the policy's initial distribution:
    for a residual policy the stay-biased one (:attr:`PolicyConfig.stay_bias`), so the pull is towards moving few
    nodes, where the entropy bonus pulls towards moving most of them; for an absolute policy the prior is uniform
    and ``"prior"`` equals ``"entropy"`` up to a constant. Pre-training uses the entropy (a policy that learns to
    move many nodes finds improvements early on a new instance); fine-tuning uses the prior (near a local optimum
    the improving moves are small ones)."""
    vf_coef: float = 0.5
    """weight of the value loss"""
    max_grad_norm: float = 0.5
    """gradient norm clip"""
    sil_coef: float = 0.5
    """weight of the self-imitation loss: cross-entropy of the per-node distributions towards the bins of the best
    repaired placement seen so far on the instance (the solver's correction teaches the policy; 0: off)"""
    temperature: float = 1.0
    """sampling temperature of the per-node distributions (the update uses the same one)"""
    device: str = "cpu"
    """torch device; ``"cuda"`` uses a GPU when present (sampling stays on the CPU generator)"""
    deterministic: bool = True
    """on a GPU, run the policy with PyTorch's deterministic kernels, so that a seed gives the same run and a resumed
    run continues bit for bit (the caller's setting is restored after each pass; ``CUBLAS_WORKSPACE_CONFIG`` is set to
    ``:4096:8`` unless already set). False: CUDA's fastest kernels, reproducible only to float rounding. No effect
    on the CPU, which is always deterministic."""
    log_path: str | None = None
    """append one JSON line per update here (None: no log)"""
    checkpoint_path: str | None = None
    """write a resumable checkpoint here every ``checkpoint_every`` updates and at the end of ``train``"""
    checkpoint_every: int = 0
    """updates between checkpoints (0: only at the end of ``train``)"""
    progress: bool = False
    """show a rich progress bar"""
    incumbent: bool = True
    """residual actions: move the env's base to the best valid placement found so far on the instance"""
    repeat_reward: float = 0.0
    """residual actions: reward of a sample whose repaired placement equals the base (a wasted evaluation; without
    it the policy learns to move nothing, since most moves make the base worse)"""
    top_quantile: float = 0.0
    """risk-seeking policy gradient (Petersen et al., 2021): when > 0, only the samples at or above the batch's
    ``1 - top_quantile`` reward quantile are reinforced, with advantage ``reward - quantile`` (scaled by the batch's
    reward std): search keeps the best sample, not the mean one (0: the usual value baseline)"""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    """architecture of a new policy (ignored when a policy is passed in)"""

    def __post_init__(self):
        import math

        from mcmcore._checks import check_count, check_positive, is_real

        def bad(name, what):
            raise ValueError(f"PPOConfig.{name} must be {what}, got {getattr(self, name)!r}")

        for name in ("samples_per_update", "epochs"):
            check_count(getattr(self, name), f"PPOConfig.{name}")
        for name in ("lr", "clip", "temperature", "max_grad_norm"):
            check_positive(getattr(self, name), f"PPOConfig.{name}")
        for name in ("ent_coef", "vf_coef", "sil_coef", "repeat_reward"):
            v = getattr(self, name)
            if not (is_real(v) and math.isfinite(v) and (name == "repeat_reward" or v >= 0)):
                bad(name, "a finite number" + ("" if name == "repeat_reward" else " >= 0"))
        for name in ("deterministic", "incumbent", "progress"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                bad(name, "True or False")
        if not 0.0 <= self.top_quantile < 1.0:
            bad("top_quantile", "in [0, 1)")
        if self.regularizer not in ("entropy", "prior"):
            bad("regularizer", "'entropy' or 'prior'")
        if self.checkpoint_every < 0:
            bad("checkpoint_every", "a non-negative integer")


#: PPOConfig fields that say where and how a run reports, not what it learns: a resumed run may change them
RUN_CONTROL_FIELDS = ("log_path", "checkpoint_path", "checkpoint_every", "progress", "device", "deterministic")


def load_checkpoint(path) -> dict:
    """The state dict of a checkpoint written by :meth:`PPO.save_checkpoint` (ValueError when it is not one)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # truncated, not a torch file
        raise ValueError(f"{path} is not an mcmcore RL checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != "mcmcore-rl-checkpoint":
        raise ValueError(f"{path} is not an mcmcore RL checkpoint")
    return state


def _truncate_log(path, updates: int) -> None:
    """Drop the JSON lines of updates after ``updates`` (written after the checkpoint a run resumes from)."""
    p = Path(path)
    if not p.exists():
        return
    keep = []
    for line in p.read_text().splitlines():
        try:
            if int(json.loads(line).get("update", 0)) > updates:
                continue
        except (ValueError, TypeError, AttributeError):  # a line cut by a crash
            continue
        keep.append(line)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    tmp.replace(p)


class _DeferredInterrupt:
    """While training in the main thread, Ctrl-C and SIGTERM set ``requested`` instead of raising, so the running
    update finishes and the checkpoint is consistent; a second signal raises at once."""

    def __init__(self):
        import signal
        import threading

        self.requested = False
        self._previous = {}
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):  # pragma: no cover - not allowed here
                pass

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        import signal

        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


class PPO:
    """Trains a :class:`PlacementPolicy` on a :class:`PlacementEnv`.

    Parameters
    ----------
    env : PlacementEnv
    policy : PlacementPolicy, optional
        Start from this policy (fine-tuning); default a new one from ``config.policy`` seeded by ``config.seed``.
    config : PPOConfig, optional
    """

    def __init__(self, env: PlacementEnv, policy: PlacementPolicy | None = None, config: PPOConfig | None = None):
        self.env = env
        self.config = config = PPOConfig() if config is None else config
        if policy is None:
            torch.manual_seed(config.seed)
            policy = PlacementPolicy(config.policy)
        try:
            self.device = torch.device(config.device)
        except (RuntimeError, TypeError):
            raise ValueError(f"unknown torch device {config.device!r} (cpu, cuda, cuda:N)") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {config.device!r}: CUDA is not available here (this torch build or machine has "
                             f"no GPU); use device='cpu'")
        if self.device.type == "cuda" and config.deterministic:
            # cuBLAS is deterministic only with a fixed workspace; read when the first handle is made
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        self.policy = policy.to(self.device)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr, eps=1e-5)
        self.generator = torch.Generator().manual_seed(int(config.seed))
        self.updates = 0
        self.target_updates: int | None = None  # the run's planned total (pretrain), kept in checkpoints
        #: what the run trains on (pretrain: corpus, n_generated, package specs, teacher, the corpus graphs' names
        #: and sizes), kept in checkpoints so that a resumed run rebuilds the same env; None: not recorded
        self.training_data: dict | None = None
        self.samples = 0
        self._env_seeded = False
        self.timing = {"policy": 0.0, "update": 0.0}
        self._tensors: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        #: per instance: (best reward, bins of its repaired placement) for self-imitation
        self.best: dict[int, tuple[float, torch.Tensor]] = {}
        self._taught: dict[int, bool] = {}
        #: residual actions: per instance, (value, placement) of the best valid placement found so far
        self.incumbents: dict[int, tuple[float, np.ndarray]] = {}
        if config.regularizer not in ("entropy", "prior"):
            raise ValueError(f"regularizer must be 'entropy' or 'prior', got {config.regularizer!r}")
        if getattr(self.policy, "residual", False) != env.residual:
            raise ValueError(f"the policy's action ({self.policy.config.action!r}) does not match the env's "
                             f"({env.action!r})")

    # -------------------------------------------------------------------------------------------- one update
    @contextmanager
    def kernels(self, n_nodes: int = 0):
        """The policy's passes (over a graph of ``n_nodes``) run inside this: PyTorch's deterministic kernels on a
        GPU when :attr:`PPOConfig.deterministic` (the caller's setting is restored after), nothing on the CPU.

        The deterministic backward of the memory-efficient attention kernel is slow (1.3 s against 33 ms for 16,000
        nodes on an H100), so attention then takes the plain matrix-product form, which is deterministic and fast
        but holds the attention matrices: when they fit in half the free GPU memory (about 16 bytes per head, layer
        and node pair; 15 GiB at 16,000 nodes)."""
        if self.device.type != "cuda" or not self.config.deterministic:
            yield
            return
        from contextlib import nullcontext

        from torch.nn.attention import SDPBackend, sdpa_kernel

        cfg = self.policy.config
        need = 16.0 * cfg.heads * max(cfg.attention_layers, 1) * float(n_nodes) ** 2
        free = torch.cuda.mem_get_info(self.device)[0]
        attention = sdpa_kernel([SDPBackend.MATH]) if need <= 0.5 * free else nullcontext()
        before = torch.are_deterministic_algorithms_enabled()
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        torch.use_deterministic_algorithms(True)
        try:
            with attention:
                yield
        finally:
            torch.use_deterministic_algorithms(before, warn_only=warn_only)

    def _observe(self):
        if self._env_seeded:
            obs, info = self.env.reset()
        else:
            obs, info = self.env.reset(seed=int(self.config.seed))
            self._env_seeded = True
        idx = info["instance"]
        if self.env.residual:  # the base moves: features are recomputed for the current one
            if self.config.incumbent and idx in self.incumbents:
                value, placement = self.incumbents[idx]
                inst = self.env.instance
                if inst.base_placement is None or not np.array_equal(inst.base_placement, placement):
                    self.env.set_base(placement, value)
                obs = self.env.observation()
            return idx, obs_to_tensors(obs, self.device)
        if idx not in self._tensors:
            self._tensors[idx] = obs_to_tensors(obs, self.device)
        return idx, self._tensors[idx]

    def sample(self, x: torch.Tensor, edges: torch.Tensor, m: int):
        """``m`` placements (bins, (m, N) long, CPU) and their per-node log-probabilities under the policy."""
        with torch.no_grad(), self.kernels(x.shape[0]):
            logits, _ = self.policy(x, edges, self.env.n_actions)
            logp = F.log_softmax(logits.float().cpu() / self.config.temperature, dim=-1)
        actions = torch.multinomial(logp.exp(), m, replacement=True, generator=self.generator).T.contiguous()
        return actions, logp.gather(1, actions.T).T.contiguous()

    def step(self, on_batch: Callable[[dict], None] | None = None, m: int | None = None) -> dict:
        """One update: sample, repair + evaluate (the env), PPO epochs. Returns the update's statistics."""
        cfg = self.config
        m = int(m or cfg.samples_per_update)
        t0 = time.perf_counter()
        idx, (x, edges) = self._observe()
        actions, old_logp = self.sample(x, edges, m)
        t1 = time.perf_counter()
        rewards, info = self.env.step_batch(actions.numpy())
        t2 = time.perf_counter()
        if on_batch is not None:
            on_batch(info)
        if self.env.residual:
            base = self.env.instance.base_placement
            same = (info["placements"] == base[None, :]).all(axis=1)
            rewards = np.where(same, float(cfg.repeat_reward), rewards)
            self._remember_incumbent(idx, info)
            target = None
        else:
            self._remember_best(idx, rewards, info)
            target = self.best[idx][1].to(self.device) if idx in self.best else None
        stats = self._optimise(x, edges, actions.to(self.device), old_logp.to(self.device),
                               torch.as_tensor(rewards, dtype=torch.float32, device=self.device), target)
        t3 = time.perf_counter()
        self.timing["policy"] += t1 - t0
        self.timing["update"] += t3 - t2
        self.updates += 1
        self.samples += m
        valid = info["valid"]
        stats.update({
            "update": self.updates, "samples": self.samples, "instance": idx,
            "graph": self.env.instance.graph.name, "n_devices": self.env.instance.package.n_devices,
            "reward_mean": float(rewards.mean()), "reward_max": float(rewards.max()),
            "valid_share": float(valid.mean()),
            "best_value": float(info["values"][valid].min()) if valid.any() else None,
            "moved_mean": float(info["moved"].mean()), "seconds_sample": t1 - t0, "seconds_solver": t2 - t1,
            "seconds_update": t3 - t2})
        if cfg.log_path:
            with open(cfg.log_path, "a") as f:
                f.write(json.dumps(stats) + "\n")
        return stats

    def _remember_incumbent(self, idx: int, info: dict) -> None:
        inst = self.env.instance
        if idx not in self.incumbents and inst.base_placement is not None and np.isfinite(inst.base_value):
            self.incumbents[idx] = (float(inst.base_value), inst.base_placement.copy())
        if not info["valid"].any():
            return
        i = int(np.argmin(np.where(info["valid"], info["values"], np.inf)))
        if idx not in self.incumbents or info["values"][i] < self.incumbents[idx][0]:
            self.incumbents[idx] = (float(info["values"][i]), np.asarray(info["placements"][i]).copy())

    def _remember_best(self, idx: int, rewards: np.ndarray, info: dict) -> None:
        inst = self.env.instance
        if idx not in self.best and inst.baseline_placement is not None:
            # the baseline's best random valid placement (reward 1) seeds the memory
            self._store(idx, 1.0, inst.baseline_placement)
        if idx not in self.best or (inst.teacher_placement is not None and not self._taught.get(idx)):
            self._taught[idx] = True
            if inst.teacher_placement is not None:  # and the teacher's placement, when better
                r, t_info = self.env.step_batch_placements(inst.teacher_placement[None, :])
                if t_info["valid"][0] and (idx not in self.best or r[0] > self.best[idx][0]):
                    self._store(idx, float(r[0]), t_info["placements"][0])
        if not info["valid"].any():
            return
        i = int(np.argmax(np.where(info["valid"], rewards, -np.inf)))
        if idx not in self.best or rewards[i] > self.best[idx][0]:
            self._store(idx, float(rewards[i]), info["placements"][i])

    def _store(self, idx: int, reward: float, placement: np.ndarray) -> None:
        inst = self.env.instance
        pkg = inst.package
        pos = np.asarray(pkg.position)[placement]
        bins = np.minimum(((pos + 0.5) * self.env.n_bins / pkg.n_devices).astype(np.int64), self.env.n_bins - 1)
        if inst.mapping is not None:  # a coarse node takes the bin of (one of) its members
            coarse = np.zeros(inst.n_nodes, dtype=np.int64)
            coarse[inst.mapping] = bins
            bins = coarse
        self.best[idx] = (reward, torch.as_tensor(bins))

    def _optimise(self, x, edges, actions, old_logp, rewards, target=None) -> dict:
        with self.kernels(x.shape[0]):
            return self._optimise_epochs(x, edges, actions, old_logp, rewards, target)

    def _optimise_epochs(self, x, edges, actions, old_logp, rewards, target) -> dict:
        cfg = self.config
        out = {}
        for _ in range(cfg.epochs):
            logits, value = self.policy(x, edges, self.env.n_actions)
            logp_all = F.log_softmax(logits / cfg.temperature, dim=-1)              # (N, B)
            new_logp = logp_all.gather(1, actions.T).T                              # (M, N)
            if cfg.top_quantile > 0 and rewards.numel() > 1:
                q = torch.quantile(rewards, 1.0 - float(cfg.top_quantile))
                adv = (rewards - q).clamp(min=0.0) / (rewards.std() + 1e-8)
            else:
                adv = rewards - value.detach()
                if adv.numel() > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            ratio = torch.exp(new_logp - old_logp)
            adv = adv[:, None]
            loss_pi = -torch.min(ratio * adv, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * adv).mean()
            loss_v = (value - rewards).pow(2).mean()
            entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
            loss = loss_pi + cfg.vf_coef * loss_v - cfg.ent_coef * self._regularizer(logp_all, entropy)
            if target is not None and cfg.sil_coef > 0:
                loss = loss + cfg.sil_coef * F.nll_loss(logp_all, target)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
            self.optimizer.step()
            with torch.no_grad():
                approx_kl = ((ratio - 1) - (new_logp - old_logp)).mean()
            out = {"loss_pi": loss_pi.item(), "loss_v": loss_v.item(), "entropy": entropy.item(),
                   "approx_kl": approx_kl.item(), "value": value.item()}
        return out

    def _regularizer(self, logp_all: torch.Tensor, entropy: torch.Tensor) -> torch.Tensor:
        """The exploration bonus (maximised): the entropy, or minus the mean per-node KL to the prior."""
        if self.config.regularizer == "entropy":
            return entropy
        prior = self._prior_logp(logp_all.shape[1]).to(logp_all.device)
        return -(logp_all.exp() * (logp_all - prior[None, :])).sum(-1).mean()

    def _prior_logp(self, n_actions: int) -> torch.Tensor:
        """Log-probabilities of a new policy's per-node distribution (residual: the zero move's logit carries
        ``stay_bias``; absolute: uniform)."""
        logits = torch.zeros(n_actions)
        if self.env.residual:
            logits[n_actions // 2] = float(self.policy.config.stay_bias)
        return F.log_softmax(logits, -1)

    # ---------------------------------------------------------------------------------------------- training
    def train(self, n_updates: int, *, on_batch: Callable[[dict], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> list[dict]:
        """Run ``n_updates`` updates (fewer when ``should_stop()`` turns true); returns their statistics.

        Ctrl-C (and SIGTERM, when called from the main thread) lets the running update finish, writes the
        checkpoint (``config.checkpoint_path``) and then raises ``KeyboardInterrupt``: resuming from it continues
        exactly; a second Ctrl-C stops at once."""
        cfg = self.config
        history = []
        from mcmcore._progress import ProgressBar

        bar = ProgressBar("ppo", int(n_updates), enabled=cfg.progress)
        stop = _DeferredInterrupt()
        try:
            for _ in range(int(n_updates)):
                if should_stop is not None and should_stop():
                    break
                if stop.requested:
                    break
                stats = self.step(on_batch)
                history.append(stats)
                bar.update(advance=1, status=f"{stats['graph']} K={stats['n_devices']} reward "
                                             f"{stats['reward_mean']:.3f} (max {stats['reward_max']:.3f})")
                if cfg.checkpoint_path and cfg.checkpoint_every and self.updates % cfg.checkpoint_every == 0:
                    self.save_checkpoint(cfg.checkpoint_path)
        finally:
            stop.restore()
            bar.close()
        if cfg.checkpoint_path:
            self.save_checkpoint(cfg.checkpoint_path)
        if stop.requested:
            raise KeyboardInterrupt(f"stopped after update {self.updates}")
        return history

    # ----------------------------------------------------------------------------------------- checkpoints
    def save_checkpoint(self, path) -> None:
        """Everything needed to resume exactly (policy, optimiser, generators, self-imitation memory, counters,
        config, and :attr:`training_data`, from which the caller rebuilds the env)."""
        cfg = asdict(self.config)
        state = {"format": "mcmcore-rl-checkpoint", "version": 1, "policy": self.policy.to_dict(),
                 "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                 "env_rng": self.env.np_random.bit_generator.state if self._env_seeded else None,
                 "env_seeded": self._env_seeded, "best": self.best, "taught": self._taught,
                 "incumbents": self.incumbents, "updates": self.updates, "target_updates": self.target_updates,
                 "samples": self.samples, "config": cfg, "training_data": self.training_data}
        tmp = Path(str(path) + ".tmp")
        torch.save(state, tmp)
        tmp.replace(path)

    @classmethod
    def resume(cls, path, env: PlacementEnv, **overrides) -> "PPO":
        """A trainer restored from :meth:`save_checkpoint` (``overrides``: config fields to change, e.g. log_path).

        ``env`` must be the checkpoint's: the self-imitation memory and incumbents are keyed by its instances
        (:func:`~mcmcore.rl.pretrain.pretrain` rebuilds it from the checkpoint's ``training_data``).

        The log (``config.log_path``) loses the lines of updates after the checkpoint's, which the resumed run
        writes again."""
        state = load_checkpoint(path)
        cfg = dict(state["config"])
        cfg["policy"] = PolicyConfig(**cfg["policy"])
        cfg.update(overrides)
        config = PPOConfig(**cfg)
        if config.log_path:
            _truncate_log(config.log_path, int(state["updates"]))
        policy = PlacementPolicy(PolicyConfig(**state["policy"]["config"]))
        policy.load_state_dict(state["policy"]["state_dict"])
        trainer = cls(env, policy, config)
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.generator.set_state(state["generator"])
        trainer.updates = int(state["updates"])
        trainer.target_updates = state.get("target_updates")
        trainer.training_data = state.get("training_data")
        trainer.samples = int(state["samples"])
        trainer._env_seeded = bool(state["env_seeded"])
        trainer.best = dict(state.get("best", {}))
        trainer._taught = dict(state.get("taught", {}))
        trainer.incumbents = dict(state.get("incumbents", {}))
        if state["env_rng"] is not None:
            rng = np.random.Generator(np.random.PCG64())
            rng.bit_generator.state = state["env_rng"]
            env.np_random = rng
        return trainer

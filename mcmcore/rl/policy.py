"""The placement policy: a directed GraphSAGE-style encoder, attention over the nodes in topological order, and
per node a categorical distribution over relative pipeline positions.

Message passing is written in plain torch (``index_add_``), no torch_geometric: each layer updates a node from
itself, the mean of its predecessors (messages along edges) and the mean of its successors (messages against
edges), with separate weights, a LayerNorm and a residual connection. One transformer encoder layer then lets
every node attend to every other, with a sinusoidal encoding of its topological rank, so the policy sees the
whole pipeline at once. The head emits ``n_bins`` logits per node (:attr:`PolicyConfig.n_bins`); when an
environment asks for more bins (a package with more chiplets) the logits are linearly interpolated, so one policy
serves any K and any graph size. The value head reads the mean and max pooled node embeddings.

With ``action="residual"`` (:class:`PolicyConfig`) the input also holds the env's ``base`` columns (each node's
place in the current base placement) and the head emits ``n_deltas`` logits per node: a move relative to the base.
The zero move's logit starts with a bias (:attr:`PolicyConfig.stay_bias`), so a new policy moves few nodes.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from mcmcore.rl.features import N_FEATURES, RANK_COLUMN

__all__ = ["PolicyConfig", "PlacementPolicy", "obs_to_tensors"]


@dataclass
class PolicyConfig:
    """Architecture of :class:`PlacementPolicy` (stored in every policy file)."""

    hidden: int = 64
    """width of the node embeddings"""
    gnn_layers: int = 3
    """directed message-passing layers"""
    attention_layers: int = 1
    """transformer encoder layers over the nodes in topological order (0: none)"""
    heads: int = 4
    """attention heads"""
    n_bins: int = 16
    """relative pipeline positions the head scores (interpolated when an env asks for another count)"""
    in_features: int = N_FEATURES
    """node feature columns (set by :mod:`mcmcore.rl.features`)"""
    action: str = "absolute"
    """"absolute" (``n_bins`` positions per node) or "residual" (``n_deltas`` moves relative to a base placement)"""
    n_deltas: int = 5
    """residual: moves per node (-n_deltas // 2 .. n_deltas // 2 pipeline positions)"""
    base_features: int = 0
    """residual: extra input columns describing the base (the env's ``base`` observation; 0 for absolute)"""
    stay_bias: float = 4.0
    """residual: initial logit bias of the zero move"""
    resplit: bool = False
    """residual: the env re-cuts each moved order optimally (``PlacementEnv(resplit=True)``)"""

    def __post_init__(self):
        if self.action not in ("absolute", "residual"):
            raise ValueError(f"action must be 'absolute' or 'residual', got {self.action!r}")
        if self.action == "residual" and not self.base_features:
            from mcmcore.rl.env import N_BASE_FEATURES

            self.base_features = N_BASE_FEATURES


class _DirectedSAGE(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.self_lin = nn.Linear(d, d)
        self.in_lin = nn.Linear(d, d, bias=False)
        self.out_lin = nn.Linear(d, d, bias=False)
        self.norm = nn.LayerNorm(d)

    def forward(self, h: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, inv_in: torch.Tensor,
                inv_out: torch.Tensor) -> torch.Tensor:
        agg_in = torch.zeros_like(h).index_add_(0, dst, h[src]) * inv_in     # mean over predecessors
        agg_out = torch.zeros_like(h).index_add_(0, src, h[dst]) * inv_out   # mean over successors
        return h + F.gelu(self.norm(self.self_lin(h) + self.in_lin(agg_in) + self.out_lin(agg_out)))


def _sinusoid(rank: torch.Tensor, d: int) -> torch.Tensor:
    """Sinusoidal encoding of integer positions (Vaswani et al.)."""
    half = d // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=rank.device, dtype=torch.float32) / half)
    ang = rank.float()[:, None] * freq[None, :]
    out = torch.zeros(rank.shape[0], d, device=rank.device)
    out[:, 0:2 * half:2] = torch.sin(ang)
    out[:, 1:2 * half:2] = torch.cos(ang)
    return out


class PlacementPolicy(nn.Module):
    """Actor-critic over one graph: ``forward(x, edges, n_bins) -> (logits (N, n_bins), value ())``."""

    def __init__(self, config: PolicyConfig | None = None):
        super().__init__()
        self.config = config = PolicyConfig() if config is None else config
        d = config.hidden
        self.residual = config.action == "residual"
        self.embed = nn.Sequential(nn.Linear(config.in_features + config.base_features, d), nn.GELU(),
                                   nn.Linear(d, d))
        self.gnn = nn.ModuleList(_DirectedSAGE(d) for _ in range(config.gnn_layers))
        self.attention = nn.ModuleList(
            nn.TransformerEncoderLayer(d, config.heads, dim_feedforward=2 * d, dropout=0.0, batch_first=True,
                                       norm_first=True)
            for _ in range(config.attention_layers))
        n_out = config.n_deltas if self.residual else config.n_bins
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, n_out))
        if self.residual:
            with torch.no_grad():
                self.head[-1].weight.mul_(0.1)
                self.head[-1].bias.zero_()
                self.head[-1].bias[config.n_deltas // 2] = float(config.stay_bias)
        self.value_head = nn.Sequential(nn.Linear(2 * d, d), nn.GELU(), nn.Linear(d, 1))

    def encode(self, x: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        """Node embeddings (N, hidden) of one graph: ``x`` (N, F) features, ``edges`` (E, 2) long."""
        n = x.shape[0]
        src, dst = edges[:, 0], edges[:, 1]
        ones = torch.ones(src.shape[0], device=x.device)
        deg_in = torch.zeros(n, device=x.device).index_add_(0, dst, ones)
        deg_out = torch.zeros(n, device=x.device).index_add_(0, src, ones)
        inv_in = (1.0 / deg_in.clamp(min=1.0))[:, None]
        inv_out = (1.0 / deg_out.clamp(min=1.0))[:, None]
        h = self.embed(x)
        for layer in self.gnn:
            h = layer(h, src, dst, inv_in, inv_out)
        if len(self.attention):
            order = torch.argsort(x[:, RANK_COLUMN], stable=True)  # topological order
            seq = h[order] + _sinusoid(torch.arange(n, device=x.device), h.shape[1])
            seq = seq[None]
            for layer in self.attention:
                seq = layer(seq)
            h = torch.empty_like(h).index_copy_(0, order, seq[0])
        return h

    def forward(self, x: torch.Tensor, edges: torch.Tensor, n_bins: int | None = None):
        h = self.encode(x, edges)
        logits = self.head(h)
        if self.residual:
            if n_bins is not None and n_bins != logits.shape[1]:
                raise ValueError(f"a residual policy emits {logits.shape[1]} moves per node, asked for {n_bins}")
        elif n_bins is not None and n_bins != logits.shape[1]:
            logits = F.interpolate(logits[None], size=int(n_bins), mode="linear", align_corners=True)[0]
        value = self.value_head(torch.cat([h.mean(0), h.max(0).values]))[0]
        return logits, value

    def to_dict(self) -> dict:
        return {"format": "mcmcore-rl-policy", "version": 1, "config": asdict(self.config),
                "state_dict": self.state_dict()}

    def save(self, path) -> None:
        """Write the policy (architecture + weights) to ``path`` (a torch file)."""
        torch.save(self.to_dict(), path)

    @classmethod
    def load(cls, path, map_location="cpu") -> "PlacementPolicy":
        """A policy written by :meth:`save`, or the ``policy`` entry of a training checkpoint."""
        from pathlib import Path

        if not Path(path).is_file():
            raise ValueError(f"{path}: no such policy file")
        try:
            data = torch.load(path, map_location=map_location, weights_only=False)
        except Exception as exc:  # truncated, not a torch file
            raise ValueError(f"{path} is not an mcmcore RL policy file ({type(exc).__name__}: {exc})") from None
        if isinstance(data, dict) and data.get("format") == "mcmcore-rl-checkpoint":
            data = data["policy"]
        if not isinstance(data, dict) or data.get("format") != "mcmcore-rl-policy":
            raise ValueError(f"{path} is not an mcmcore RL policy file")
        try:
            policy = cls(PolicyConfig(**data["config"]))
            policy.load_state_dict(data["state_dict"])
        except (KeyError, TypeError, RuntimeError) as exc:  # fields or tensors of another version
            raise ValueError(f"{path}: the policy does not load ({type(exc).__name__}: {exc})") from None
        bad = [name for name, t in policy.state_dict().items() if not torch.isfinite(t).all()]
        if bad:
            raise ValueError(f"{path}: the policy has non-finite weights ({bad[0]}; a diverged training run?)")
        return policy


def obs_to_tensors(obs: dict, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Strip the padding of a :class:`~mcmcore.rl.env.PlacementEnv` observation: ``(x (N, F), edges (E, 2))``."""
    n = int(obs["node_mask"].sum())
    e = int(obs["edge_mask"].sum())
    x = torch.as_tensor(obs["nodes"][:n], dtype=torch.float32, device=device)
    if "base" in obs:  # residual actions: the base placement's columns follow the node features
        x = torch.cat([x, torch.as_tensor(obs["base"][:n], dtype=torch.float32, device=device)], dim=1)
    edges = torch.as_tensor(obs["edges"][:e], dtype=torch.long, device=device)
    return x, edges

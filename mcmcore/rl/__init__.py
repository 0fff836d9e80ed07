"""Learned placement: a Gymnasium environment, a GNN + attention policy, PPO, pre-training and fine-tuning.

Needs the ``rl`` extra (torch, gymnasium). ``partition(graph, package, method="rl")`` fine-tunes the shipped
pre-trained policy on the instance (:mod:`mcmcore.rl.search`). The shipped policy is *residual*: it proposes
per-node moves relative to the optimal contiguous pipeline split (then the best placement found), each moved
order re-cut optimally (``PlacementEnv(action="residual", resplit=True)``).
"""
from mcmcore.rl.env import BASE_FEATURE_NAMES, N_BASE_FEATURES, PlacementEnv, bins_to_devices, dp_base
from mcmcore.rl.features import FEATURE_NAMES, N_FEATURES, node_features
from mcmcore.rl.policy import PlacementPolicy, PolicyConfig, obs_to_tensors
from mcmcore.rl.ppo import PPO, PPOConfig, default_device
from mcmcore.rl.pretrain import HELD_OUT, corpus_graphs, default_policy_path, pretrain

__all__ = ["PlacementEnv", "bins_to_devices", "BASE_FEATURE_NAMES", "N_BASE_FEATURES", "dp_base", "FEATURE_NAMES", "N_FEATURES", "node_features", "PlacementPolicy",
           "PolicyConfig", "obs_to_tensors", "PPO", "PPOConfig", "default_device", "HELD_OUT", "corpus_graphs",
           "default_policy_path", "pretrain"]

"""Recipe of the shipped pre-trained policy (mcmcore/rl/data/policy.pt): a residual policy (per-node moves
relative to the optimal contiguous pipeline split, each moved order re-cut optimally, the base following the best
placement found; see mcmcore.rl.env).

    python scripts/pretrain_policy.py            # ~85 s on one CPU thread (the re-cut is a pruned DP)

which is exactly

    pretrain("zoo+generated", packages=("ring4", "ring8", "mesh4x4", "port4"), updates=2500, n_generated=24,
             config=PPOConfig(seed=0, samples_per_update=64, epochs=2, lr=1e-3, top_quantile=0.0, repeat_reward=0.0,
                              log_path="pretrain.jsonl", checkpoint_path="pretrain.ckpt", checkpoint_every=25,
                              policy=PolicyConfig(hidden=64, action="residual", n_deltas=5, resplit=True)),
             out="mcmcore/rl/data/policy.pt")

The same from the command line: ``mcm rl pretrain --corpus zoo+generated --packages ring4,ring8,mesh4x4,port4
--updates 2500 --generated 24 --samples-per-update 64 --epochs 2 --lr 1e-3 --hidden 64 --action residual
--n-deltas 5 --seed 0 --out policy.pt``. The corpus never contains bert-large,
inception-v3 or resnet50 (mcmcore.rl.HELD_OUT), the benchmark's graphs. Interrupted? ``--resume`` continues
exactly from pretrain.ckpt.
"""
import sys

import torch

from mcmcore.rl import PolicyConfig, PPOConfig, pretrain

UPDATES = 2500


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(1)
    config = PPOConfig(seed=0, samples_per_update=64, epochs=2, lr=1e-3, top_quantile=0.0, repeat_reward=0.0,
                       log_path="pretrain.jsonl", checkpoint_path="pretrain.ckpt", checkpoint_every=25, progress=False,
                       policy=PolicyConfig(hidden=64, action="residual", n_deltas=5, resplit=True))
    pretrain("zoo+generated", packages=("ring4", "ring8", "mesh4x4", "port4"), updates=UPDATES, n_generated=24,
             config=config, out="mcmcore/rl/data/policy.pt",
             resume="pretrain.ckpt" if "--resume" in argv else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

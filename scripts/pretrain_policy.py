"""Recipe of the shipped pre-trained policy (mcmcore/rl/data/policy.pt).

    python scripts/pretrain_policy.py            # ~15 min on 2 busy CPU cores; same as:
    mcm rl pretrain --corpus zoo+generated --packages ring4,ring8,mesh4x4,port4 --updates 400 --epochs 2 \
        --teacher dp --samples-per-update 64 --hidden 64 --lr 1e-3 --seed 0 --out mcmcore/rl/data/policy.pt \
        --log pretrain.jsonl --checkpoint pretrain.ckpt

The corpus never contains bert-large, inception-v3 or resnet50 (mcmcore.rl.HELD_OUT), the benchmark's graphs.
Interrupted? Add ``--resume pretrain.ckpt`` to continue exactly where the last checkpoint left off.
"""
import sys

from mcmcore.cli import main

ARGS = ["rl", "pretrain", "--corpus", "zoo+generated", "--packages", "ring4,ring8,mesh4x4,port4",
        "--updates", "400", "--epochs", "2", "--teacher", "dp",
        "--samples-per-update", "64", "--hidden", "64", "--lr", "1e-3", "--seed", "0",
        "--out", "mcmcore/rl/data/policy.pt", "--log", "pretrain.jsonl", "--checkpoint", "pretrain.ckpt"]

if __name__ == "__main__":
    sys.exit(main(ARGS + sys.argv[1:]))

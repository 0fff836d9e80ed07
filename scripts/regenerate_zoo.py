"""Rebuild the shipped zoo graphs (mcmcore/zoo/data/<name>.npz) from code with the default options.

Usage: python scripts/regenerate_zoo.py [NAME ...]   (needs torch and transformers; no downloads)

Also records the torch and transformers versions in mcmcore/zoo/data/built_with.json (mcmcore.zoo.built_with):
torch.export's graphs differ between versions, so regenerate every model with one environment (the pinned
torch==2.13.0).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str]) -> int:
    import torch

    from mcmcore import zoo

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    out_dir = Path(__file__).resolve().parent.parent / "mcmcore" / "zoo" / "data"
    out_dir.mkdir(parents=True, exist_ok=True)
    import transformers

    base = lambda v: v.split("+")[0]  # noqa: E731  (2.13.0+cpu -> 2.13.0)
    versions = {"torch": base(torch.__version__), "transformers": base(transformers.__version__)}
    for name in argv or zoo.names():
        t0 = time.perf_counter()
        graph = zoo.build(name)
        path = out_dir / f"{name}.npz"
        graph.save(path)
        print(f"{name:14s} {graph.n_nodes:5d} nodes {graph.n_edges:5d} edges {graph.total_flops / 1e9:8.2f} GFLOP "
              f"{path.stat().st_size / 1024:7.1f} KiB  {time.perf_counter() - t0:5.1f} s")
    (out_dir / "built_with.json").write_text(json.dumps(versions, indent=1) + "\n")
    print(f"built with {versions}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

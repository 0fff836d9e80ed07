"""Import and load timings (issue 3): BERT-base through torch.export, a 2,000-node graph from native JSON and
.npz, a shipped zoo graph. Prints a table; never fails on a timing.

Usage: python bench/bench_import.py [--repeat N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from mcmcore.generate import layered_dag
    from mcmcore.io import load_graph
    from mcmcore import zoo

    rows = []
    g = layered_dag(2000, seed=0)
    with tempfile.TemporaryDirectory() as d:
        js, npz = Path(d) / "g.json", Path(d) / "g.npz"
        g.save(js)
        g.save(npz)
        for label, path in (("load 2,000-node native JSON", js), ("load 2,000-node .npz", npz)):
            med, best = timed(lambda p=path: load_graph(p), args.repeat)
            rows.append((label, med, best, f"{path.stat().st_size / 1024:.0f} KiB"))
    med, best = timed(lambda: zoo.load("bert-large"), args.repeat)
    rows.append(("zoo.load('bert-large') (shipped .npz)", med, best, ""))
    try:
        import torch

        torch.set_num_threads(1)
        from mcmcore.io import from_torch
        from mcmcore.zoo.models import bert

        t0 = time.perf_counter()
        model = bert("base").eval()
        build = time.perf_counter() - t0
        ids = torch.randint(0, 1000, (1, 128))

        def imp():
            with torch.no_grad():
                return from_torch(model, (ids,), warn_unknown=False)

        med, best = timed(imp, max(1, args.repeat // 2))
        rows.append(("BERT-base torch.export import (seq 128)", med, best, f"model built in {build:.1f} s"))
    except ImportError:
        rows.append(("BERT-base torch.export import", float("nan"), float("nan"), "torch not installed"))

    print(f"{'benchmark':44s} {'median':>10s} {'best':>10s}  note")
    for label, med, best, note in rows:
        print(f"{label:44s} {med * 1e3:8.1f}ms {best * 1e3:8.1f}ms  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

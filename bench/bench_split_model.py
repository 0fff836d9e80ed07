"""How faithful the pipeline split's cost model is: its estimate of the split it picks against the evaluator's
interval, for zoo graphs (inference and training) on the package presets. Prints a table; never fails.

    python bench/bench_split_model.py [--graphs resnet50,inception-v3,bert-base] [--packages ring8,port4,...]

With the port model the split is exact (estimate == interval) for inference and training graphs; with link
topologies it is an estimate (traffic that skips stages is charged to the next link only).
"""
from __future__ import annotations

import argparse

from mcmcore import Constraints, Package, evaluate, zoo
from mcmcore.search.base import SearchProblem
from mcmcore.search.dp import pipeline_split


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graphs", default="resnet50,inception-v3,bert-base")
    ap.add_argument("--packages", default="ring8,port4,hetero3,mesh4x4")
    args = ap.parse_args(argv)
    print(f"{'graph':<22}{'package':<10}{'estimate (us)':>15}{'interval (us)':>15}{'error':>9}")
    for name in args.graphs.split(","):
        for training in (False, True):
            g = zoo.load(name, training=training)
            for pk in args.packages.split(","):
                p = Package.preset(pk)
                placement, estimate = pipeline_split(SearchProblem(g, p, Constraints(), "throughput", None))
                label = f"{name}{':train' if training else ''}"
                if placement is None:
                    print(f"{label:<22}{pk:<10}{'no split fits':>15}")
                    continue
                true = evaluate(g, p, placement).interval
                print(f"{label:<22}{pk:<10}{estimate * 1e6:>15.1f}{true * 1e6:>15.1f}{100 * (true / estimate - 1):>+8.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

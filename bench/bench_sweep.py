"""Sweep throughput and overhead: trials/s of a 200-trial sweep of tiny trials (local, 2 processes), Ray's
overhead per trial, and the sweep's own bookkeeping cost relative to trial time for trials of about 1 s.

    python bench/bench_sweep.py [--trials 200] [--workers 2] [--long-trials 12] [--no-ray]

Bookkeeping is measured two ways: per trial, the driver's work for one finished trial (serialise the record,
one O_APPEND write, fsync, progress) plus the trial function's work outside the search (graph from the cache,
package from its spec, record building); and end to end, ``(workers x wall - sum of search times) / sum of search
times`` for the whole sweep, pool start-up included. Timings on a shared machine are noisy: this prints a table and
never fails.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mcmcore.sweep import _Writer, expand_spec, run_trial, sweep


def tiny_spec(n_trials: int) -> dict:
    return {"graphs": ["resnet50"], "packages": ["ring4", "mesh4x4"],
            "methods": [{"name": "random", "max_evals": 50}], "seeds": n_trials // 2}


def long_spec(n_trials: int, evals: int) -> dict:
    return {"graphs": ["resnet50"], "packages": ["mesh4x4"], "methods": [{"name": "anneal", "max_evals": evals}],
            "seeds": n_trials}


def calibrate_one_second() -> int:
    """max_evals of anneal on resnet50 / mesh4x4 that takes about 1 s here."""
    evals = 100_000
    for _ in range(3):
        trial = expand_spec(long_spec(1, evals))[0]
        rec = run_trial(trial)
        evals = max(1000, int(evals / max(rec["timings"]["search_s"], 1e-3)))
    return evals


def end_to_end(res, n_workers: int) -> tuple[float, float]:
    search = sum(r["timings"]["search_s"] for r in res.records)
    return search, (n_workers * res.seconds - search) / search


def overhead_per_trial(res, n_workers: int) -> float:
    """Seconds per trial of worker time not spent inside run_trial (start-up, IPC, scheduling, writing)."""
    return (n_workers * res.seconds - sum(r["timings"]["trial_s"] for r in res.records)) / res.n_run


def steady_state(res, t_start: float) -> tuple[float, float, float]:
    """For a one-worker sweep started at wall-clock ``t_start``: (start-up seconds before the first trial, the
    gaps between consecutive trials as a fraction of trial time, seconds from the last trial's end to the return
    of ``sweep`` -- the pool's shutdown)."""
    rs = sorted(res.records, key=lambda r: r["timings"]["started"])
    gaps = sum(b["timings"]["started"] - a["timings"]["started"] - a["timings"]["trial_s"] for a, b in zip(rs, rs[1:]))
    trial = sum(r["timings"]["trial_s"] for r in rs[:-1])
    last = rs[-1]["timings"]
    return rs[0]["timings"]["started"] - t_start, gaps / trial, t_start + res.seconds - last["started"] - last["trial_s"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--long-trials", type=int, default=12)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args(argv)
    if args.long_trials < 4:
        ap.error("--long-trials must be at least 4 (half of them run on one worker to time the gaps between trials)")
    if args.trials < 2 or args.workers < 1:
        ap.error("--trials must be at least 2 and --workers at least 1")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mcmsweep", dir=os.environ.get("MCM_BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        # 1. tiny trials, local pool ----------------------------------------------------------------------
        spec = tiny_spec(args.trials)
        for fsync in (True, False):
            res = sweep(spec, out=tmp / f"tiny-{fsync}.jsonl", n_workers=args.workers, progress=False, fsync=fsync)
            mean_trial = statistics.mean(r["timings"]["trial_s"] for r in res.records)
            rows.append((f"{res.n_run} tiny trials, local x{args.workers}, fsync={fsync}",
                         f"{res.n_run / res.seconds:8.1f} trials/s", f"mean trial {1e3 * mean_trial:.1f} ms, "
                         f"overhead {1e3 * overhead_per_trial(res, args.workers):.1f} ms/trial",
                         f"wall {res.seconds:.2f} s (pool start-up included)"))
        # 2. per-trial bookkeeping of the driver: one record written (json + O_APPEND write + fsync) ----------
        record = res.records[0]
        w = _Writer(tmp / "writes.jsonl", fsync=True)
        t0 = time.perf_counter()
        for _ in range(200):
            w.write(record)
        write_s = (time.perf_counter() - t0) / 200
        w.close()
        outside = statistics.mean(r["timings"]["trial_s"] - r["timings"]["search_s"] for r in res.records[1:])
        # 3. Ray --------------------------------------------------------------------------------------------
        if not args.no_ray:
            try:
                import ray
            except ImportError:
                rows.append(("ray", "not installed", "", ""))
            else:
                os.environ.setdefault("RAY_AUTH_MODE", "disabled")
                t0 = time.perf_counter()
                ray.init(num_cpus=args.workers, _temp_dir=str(tmp / "ray"), include_dashboard=False,
                         log_to_driver=False)
                init_s = time.perf_counter() - t0
                try:
                    res_r = sweep(spec, out=tmp / "tiny-ray.jsonl", backend="ray", progress=False)
                    res_r2 = sweep(spec, out=tmp / "tiny-ray2.jsonl", backend="ray", progress=False)  # warm workers
                finally:
                    ray.shutdown()
                for label, r in (("cold", res_r), ("warm", res_r2)):
                    rows.append((f"{r.n_run} tiny trials, ray x{args.workers} ({label} workers)",
                                 f"{r.n_run / r.seconds:8.1f} trials/s",
                                 f"overhead {1e3 * overhead_per_trial(r, args.workers):.1f} ms/trial",
                                 f"wall {r.seconds:.2f} s (+ ray.init {init_s:.1f} s)"))
        # 4. ~1 s trials: bookkeeping relative to trial time ----------------------------------------------
        evals = calibrate_one_second()
        res = sweep(long_spec(args.long_trials, evals), out=tmp / "long.jsonl", n_workers=args.workers,
                    progress=False)
        search, frac = end_to_end(res, args.workers)
        t_start = time.time()
        res1 = sweep(long_spec(args.long_trials // 2, evals + 1), out=tmp / "long1.jsonl", n_workers=1,
                     progress=False)
        startup, steady, tail = steady_state(res1, t_start)
        mean_search = search / res.n_run
        mean_outside = statistics.mean(r["timings"]["trial_s"] - r["timings"]["search_s"] for r in res.records)
        per_trial = (write_s + mean_outside) / mean_search
        rows.append((f"{res.n_run} trials of ~1 s (anneal, {evals:,} evals), local x{args.workers}",
                     f"{res.n_run / res.seconds:8.2f} trials/s", f"mean search {mean_search:.2f} s",
                     f"wall {res.seconds:.1f} s"))
        rows.append(("bookkeeping per trial (driver write+fsync, trial outside search)",
                     f"{1e3 * (write_s + mean_outside):8.2f} ms", f"{100 * per_trial:.2f}% of a trial",
                     f"write {1e3 * write_s:.2f} ms, trial extras {1e3 * mean_outside:.2f} ms"))
        rows.append(("end to end (workers x wall - search) / search, pool start-up included",
                     f"{100 * frac:8.1f} %", "(includes the tail: idle workers at the end)",
                     f"tiny-trial extras {1e3 * outside:.2f} ms"))
        rows.append((f"1 worker, {res1.n_run} trials: gaps between trials / trial time (steady state)",
                     f"{100 * steady:8.2f} %", f"pool start-up {startup:.2f} s, shutdown {tail:.2f} s",
                     "(once per sweep)"))
    width = max(len(r[0]) for r in rows)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f})")
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>18}  {r[2]:<44} {r[3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

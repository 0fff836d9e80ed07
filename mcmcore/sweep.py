"""Sweeps at scale: many (graph x package x method x seed) searches, resumable, on local processes or Ray.

A *spec* (a dict, or a YAML / JSON file) names what to run::

    name: example                      # optional
    objective: throughput              # or latency
    graphs:                            # zoo names ("bert-base", "resnet50:train" for the training variant),
      - resnet50                       # graph files (relative to the spec file), or {zoo: NAME, training: true}
      - {zoo: vit-b16, training: true} # or {file: PATH}
    packages:                          # presets, package files, inline specs, or a design space
      - ring4
      - {preset: ring8, link_bandwidth: 100.0e+9}
      - {space: {base: mesh4x4, sram_bytes: [134217728, 268435456]}}   # product of the listed values
    methods:                           # with their budgets; max_evals makes a trial reproducible
      - {name: anneal, max_evals: 20000}
      - {name: random, max_evals: 20000, options: {}}
    seeds: [0, 1]                      # or a count: seeds: 2  ->  [0, 1]
    sampling: grid                     # or {random: 20, seed: 0}: 20 trials drawn from the grid

Each trial (one graph, package, method with budget, seed) has a stable ``trial_id``: the first 16 hex digits of
the SHA-256 of its canonical inputs (the graph reference -- zoo name or file content digest --, the full package
spec, the method, options, budget, seed and objective). The same trial in another spec has the same id.

Results file
------------
One JSON object per line (``format: mcmcore-sweep-trial``): ``trial_id``, ``inputs``, ``labels``, ``status``
(``optimal``, ``feasible``, ``no_solution``, ``infeasible`` or ``error``), ``result`` (value, throughput, lower bound,
gap, evaluations, placement), ``error`` (type, message, traceback) for a failed trial, ``timings`` and
``versions`` (mcmcore, numpy, python). Everything but ``timings`` is a function of the inputs, so two runs of
one spec -- local or Ray, any worker count -- give the same lines once ``timings`` is removed.

Atomicity: only the driver process writes, and each trial is one ``os.write`` of the complete line (newline
included) on a file descriptor opened with ``O_APPEND``, followed by ``fsync``. A crash therefore loses at most
the line being written; on resume a truncated last line (a SIGKILL in the middle of the write) is cut off, and
trials whose ``trial_id`` is in the file are skipped, so a resumed sweep neither loses nor repeats a trial.
The driver holds an exclusive ``flock`` on the file while it runs (the kernel drops it when the process ends,
however it ends): a second sweep on the same file stops at once. A file that is not empty and holds no trial
record is refused, never repaired or written to.

Failed trials: a resumed sweep runs a trial again when its record is a failure with a transient cause
(:data:`TRANSIENT_ERRORS`: ``WorkerLost``, ``Interrupted``, ``MemoryError``); other failures (a bad option, an
error raised by the search) are kept, and ``retry_failed=True`` (``mcm sweep --retry-failed``) runs them again
too. The file stays append-only, so a trial run again has several records: readers take the last one.

Backends
--------
``local`` (default): a process pool (``spawn``; workers load graphs themselves from the spec and cache them) of
``n_workers`` processes (default: the CPUs this process may use). A worker that dies (a crash in native code)
breaks the pool; the pool is restarted and its unfinished trials are retried up to ``max_retries`` times, then
recorded as errors (``WorkerLost``, which the next resume runs again). The pool cannot tell which trial killed
it, so a trial that was merely in flight beside the culprit also uses up an attempt; give ``max_retries`` some
room when crashes are expected.

``ray``: the same trial function as Ray tasks (``max_retries`` for worker failures). Without ``address`` (and
with no Ray already initialised in the process) a local Ray instance is started with ``n_workers`` CPUs and its
temp dir beside the results file. On a cluster::

    # on the head node
    ray start --head --port=6379
    # on every other node (mcmcore installed, same version; graph files at the same paths, or zoo names)
    ray start --address=HEAD:6379
    # anywhere that can reach the head
    mcm sweep spec.yaml --out results.jsonl --backend ray --address HEAD:6379

Each trial runs its search with ``n_threads=1`` (the sweep's parallelism is across trials), which also keeps
results independent of the machine.
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import os
import platform
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from mcmcore._checks import MAX_SEED, is_real
from mcmcore._json import finite_or_none, plain
from mcmcore.errors import MCMError

__all__ = ["sweep", "expand_spec", "load_spec", "run_trial", "read_results", "summarize", "plot_summary",
           "is_transient_failure", "SweepResult", "Trial", "SweepSpecError", "SweepResultsError", "TRIAL_FORMAT",
           "TRANSIENT_ERRORS"]

TRIAL_FORMAT = "mcmcore-sweep-trial"
TRIAL_VERSION = 1
_SPEC_KEYS = {"name", "description", "objective", "graphs", "packages", "methods", "seeds", "sampling",
              "max_evals", "max_seconds"}


class SweepSpecError(MCMError, ValueError):
    """A sweep spec that cannot be expanded into trials (the message names the field and the value)."""


class SweepResultsError(MCMError, ValueError):
    """A results file that cannot be read or reported on (a folder, no trials to plot, a malformed record)."""


# ---------------------------------------------------------------------------------------------- spec -> trials
@dataclass(frozen=True)
class Trial:
    """One search of a sweep.

    Attributes
    ----------
    trial_id : str
        16 hex digits of the SHA-256 of ``inputs`` (canonical JSON).
    inputs : dict
        Everything that determines the result: ``graph`` (a reference: ``{"zoo": name, "training": bool}`` or
        ``{"file": name, "sha256": digest}``), ``package`` (full spec), ``method``, ``options``, ``max_evals``,
        ``max_seconds``, ``seed``, ``objective``.
    labels : dict
        Short names of the graph, package and method for tables and plots.
    load : dict
        Where a worker finds the graph (``{"file": absolute path}`` for files); not part of the id.
    """

    trial_id: str
    inputs: dict
    labels: dict
    load: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"trial_id": self.trial_id, "inputs": self.inputs, "labels": self.labels, "load": self.load}


def canonical_json(obj: Any) -> str:
    """The JSON text that stable ids hash: sorted keys, no spaces, numpy scalars and arrays as plain values."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=plain)


def trial_id_of(inputs: Mapping[str, Any]) -> str:
    """The stable id of a trial: 16 hex digits of the SHA-256 of its canonical inputs."""
    return hashlib.sha256(canonical_json(inputs).encode()).hexdigest()[:16]


def load_spec(spec: Any) -> tuple[dict, Path]:
    """A spec dict and the folder its relative paths are resolved against (a YAML/JSON file's folder)."""
    if isinstance(spec, Mapping):
        return dict(spec), Path.cwd()
    path = Path(spec)
    if not path.is_file():
        raise SweepSpecError(f"sweep spec {str(spec)!r} is not a file (nor a dict)")
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise SweepSpecError(f"{path}: not a text file (not UTF-8: {exc.reason} at byte {exc.start})") from None
    try:
        if path.suffix == ".json":
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError
        raise SweepSpecError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({exc})") from None
    if not isinstance(doc, dict):
        raise SweepSpecError(f"{path}: a sweep spec is a mapping, got {type(doc).__name__}")
    return doc, path.resolve().parent


def _as_list(spec: dict, key: str) -> list:
    v = spec.get(key)
    if v is None:
        raise SweepSpecError(f"sweep spec needs {key!r} (a list)")
    if not isinstance(v, list) or not v:
        v = [v] if isinstance(v, (str, dict)) else v
    if not isinstance(v, list) or not v:
        raise SweepSpecError(f"sweep spec field {key!r} must be a non-empty list, got {v!r}")
    return v


def _graph_entries(spec: dict, base: Path) -> list[tuple[dict, str, dict]]:
    """(reference, label, load) per graph entry."""
    from mcmcore import zoo

    out = []
    for entry in _as_list(spec, "graphs"):
        if isinstance(entry, str):
            name, _, variant = entry.partition(":")
            if name in zoo.names() and variant in ("", "train", "training"):
                entry = {"zoo": name, "training": bool(variant)}
            elif variant and name in zoo.names():
                raise SweepSpecError(f"graph {entry!r}: the only zoo variant is ':train'")
            else:
                entry = {"file": entry}
        if not isinstance(entry, dict):
            raise SweepSpecError(f"a graph entry is a zoo name, a file or a mapping, got {entry!r}")
        if "zoo" in entry:
            unknown = set(entry) - {"zoo", "training"}
            if unknown or entry["zoo"] not in zoo.names():
                raise SweepSpecError(f"graph {entry!r}: unknown zoo model or field (zoo: {', '.join(zoo.names())})")
            training = bool(entry.get("training", False))
            ref = {"zoo": entry["zoo"], "training": training}
            out.append((ref, entry["zoo"] + (":train" if training else ""), {}))
        elif "file" in entry:
            if not isinstance(entry["file"], str) or set(entry) != {"file"}:
                raise SweepSpecError(f"a graph file entry is {{file: PATH}}, got {entry!r}")
            path = Path(entry["file"])
            path = path if path.is_absolute() else base / path
            if not path.is_file():
                raise SweepSpecError(f"graph {entry['file']!r} is neither a zoo model ({', '.join(zoo.names())}) "
                                     f"nor a file (looked for {path})")
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            ref = {"file": Path(entry["file"]).name, "sha256": digest}
            out.append((ref, path.stem, {"file": str(path)}))
        else:
            raise SweepSpecError(f"a graph mapping needs 'zoo' or 'file', got {entry!r}")
    return out


def _package_entries(spec: dict, base: Path) -> list[tuple[dict, str]]:
    """(full package spec, label) per package; a design space expands into its product."""
    from mcmcore.package import PRESETS, Package, load_package

    def one(entry) -> tuple[Package, str]:
        if isinstance(entry, str):
            if entry in PRESETS:
                return Package.preset(entry), entry
            path = Path(entry)
            path = path if path.is_absolute() else base / path
            if not path.is_file():
                raise SweepSpecError(f"package {entry!r} is neither a preset ({', '.join(PRESETS)}) nor a file")
            return load_package(path), path.stem
        if isinstance(entry, dict):
            if entry.get("name"):
                return Package.from_spec(entry), str(entry["name"])
            # a preset with changes (or an inline spec): the changes are part of the label, so the report does not
            # merge it with the plain preset
            head = entry.get("preset") or entry.get("topology", "package")
            changes = {k: v for k, v in entry.items() if k not in ("preset", "topology")}
            return Package.from_spec(entry), str(head) + (_changes_label(changes) if changes else "")
        raise SweepSpecError(f"a package entry is a preset, a file or a mapping, got {entry!r}")

    out = []
    for entry in _as_list(spec, "packages"):
        if isinstance(entry, dict) and "space" in entry:
            if set(entry) != {"space"}:
                raise SweepSpecError(f"a package space entry has only 'space', got the field(s) "
                                     f"{', '.join(sorted(map(str, set(entry) - {'space'})))}")
            if not isinstance(entry["space"], dict):
                raise SweepSpecError(f"package space must be a mapping of package fields to values (e.g. "
                                     f"{{base: ring4, sram_bytes: [1.0e+8, 2.0e+8]}}), got {entry['space']!r}")
            space = dict(entry["space"])
            base_pkg, base_label = one(space.pop("base", None) or "ring4")
            keys = sorted(space)
            values = [v if isinstance(v, list) else [v] for v in (space[k] for k in keys)]
            for k, v in zip(keys, values):
                if not v:
                    raise SweepSpecError(f"package space field {k!r} has no values (an empty list)")
            for combo in itertools.product(*values):
                changes = dict(zip(keys, combo))
                if "n_devices" in changes and base_pkg.topology in ("mesh", "torus"):
                    raise SweepSpecError("vary rows and cols of a mesh/torus, not n_devices")
                pkg = base_pkg.replace(**changes)
                out.append((pkg, base_label + _changes_label(changes)))
        else:
            out.append(one(entry))
    specs, seen = [], {}
    for pkg, label in out:
        s = pkg.to_spec()
        s.pop("description", None)
        seen[label] = seen.get(label, 0) + 1
        specs.append((s, label if seen[label] == 1 else f"{label}#{seen[label]}"))  # labels stay distinct
    return specs


def _changes_label(changes: dict) -> str:
    return "(" + ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in changes.items()) + ")"


def _method_entries(spec: dict) -> list[tuple[dict, str]]:
    from mcmcore.search import METHODS

    default_evals, default_seconds = spec.get("max_evals"), spec.get("max_seconds")
    out = []
    for entry in _as_list(spec, "methods"):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SweepSpecError(f"a method entry is a name or a mapping with 'name', got {entry!r}")
        unknown = set(entry) - {"name", "max_evals", "max_seconds", "options", "label"}
        if unknown:
            raise SweepSpecError(f"method {entry['name']!r}: unknown field(s) {', '.join(sorted(unknown))}")
        if entry["name"] not in METHODS:
            raise SweepSpecError(f"unknown method {entry['name']!r}; methods are {', '.join(sorted(METHODS))}")
        max_evals = entry.get("max_evals", default_evals)
        max_seconds = entry.get("max_seconds", default_seconds)
        if max_evals is None and max_seconds is None:
            raise SweepSpecError(f"method {entry['name']!r} needs a budget (max_evals, preferred, or max_seconds)")
        if max_evals is not None and (not isinstance(max_evals, int) or isinstance(max_evals, bool)
                                      or max_evals < 1):
            raise SweepSpecError(f"method {entry['name']!r}: max_evals must be a positive integer, got {max_evals!r}")
        if max_seconds is not None and not (isinstance(max_seconds, (int, float)) and not isinstance(max_seconds, bool)
                                            and math.isfinite(max_seconds) and max_seconds > 0):
            raise SweepSpecError(f"method {entry['name']!r}: max_seconds must be a positive finite number, "
                                 f"got {max_seconds!r}")
        options = entry.get("options") or {}
        if not isinstance(options, dict):
            raise SweepSpecError(f"method {entry['name']!r}: options must be a mapping, got {options!r}")
        m = {"method": entry["name"], "options": options, "max_evals": max_evals,
             "max_seconds": None if max_seconds is None else float(max_seconds)}
        out.append((m, str(entry.get("label", entry["name"]))))
    return out


def _seeds(spec: dict) -> list[int]:
    seeds = spec.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise SweepSpecError(f"seeds as a count must be >= 1, got {seeds}")
        return list(range(seeds))
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                          and 0 <= s <= MAX_SEED for s in seeds):
        raise SweepSpecError(f"seeds must be a list of integers in 0..2**63-1 or a count, got {seeds!r}")
    return seeds


def expand_spec(spec: Any) -> list[Trial]:
    """The trials of a spec (dict or file), in a deterministic order, duplicates removed.

    Raises
    ------
    SweepSpecError
        Unknown fields, graphs, packages or methods, missing budgets (the message shows the value).
    """
    doc, base = load_spec(spec)
    unknown = set(doc) - _SPEC_KEYS
    if unknown:
        raise SweepSpecError(f"unknown sweep spec field(s): {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(sorted(_SPEC_KEYS))})")
    objective = doc.get("objective", "throughput")
    if objective not in ("throughput", "latency"):
        raise SweepSpecError(f"objective must be 'throughput' or 'latency', got {objective!r}")
    axes = [_graph_entries(doc, base), _package_entries(doc, base), _method_entries(doc), _seeds(doc)]
    sizes = [len(a) for a in axes]
    total = math.prod(sizes)
    sampling = doc.get("sampling", "grid")
    if sampling == "grid":
        indices: Iterable[int] = range(total)
    elif isinstance(sampling, dict) and set(sampling) <= {"random", "seed"} and "random" in sampling:
        n, sample_seed = sampling["random"], sampling.get("seed", 0)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise SweepSpecError(f"sampling.random must be a positive integer, got {n!r}")
        if not isinstance(sample_seed, int) or isinstance(sample_seed, bool) or not 0 <= sample_seed <= MAX_SEED:
            raise SweepSpecError(f"sampling.seed must be an integer in 0..2**63-1, got {sample_seed!r}")
        rng = np.random.default_rng(sample_seed)
        indices = sorted(rng.choice(total, size=min(n, total), replace=False).tolist())
    else:
        raise SweepSpecError(f"sampling must be 'grid' or {{random: N, seed: S}}, got {sampling!r}")
    trials, seen = [], set()
    for idx in indices:
        parts = []
        for size in reversed(sizes):  # mixed radix, the last axis (seeds) fastest
            idx, r = divmod(idx, size)
            parts.append(r)
        gi, pi, mi, si = reversed(parts)
        (gref, glabel, gload), (pspec, plabel), (m, mlabel), seed = (axes[0][gi], axes[1][pi], axes[2][mi],
                                                                    axes[3][si])
        inputs = {"graph": gref, "package": pspec, **m, "seed": int(seed), "objective": objective}
        tid = trial_id_of(inputs)
        if tid in seen:
            continue
        seen.add(tid)
        trials.append(Trial(tid, inputs, {"graph": glabel, "package": plabel, "method": mlabel}, gload))
    return trials


# ---------------------------------------------------------------------------------------------- one trial
_GRAPH_CACHE: dict[str, Any] = {}


def _load_graph(ref: dict, load: dict):
    key = canonical_json(ref)
    g = _GRAPH_CACHE.get(key)
    if g is None:
        if "zoo" in ref:
            from mcmcore import zoo

            g = zoo.load(ref["zoo"], training=bool(ref.get("training")))
        else:
            from mcmcore.io.native import load_graph

            g = load_graph(load["file"])
        if len(_GRAPH_CACHE) > 16:
            _GRAPH_CACHE.clear()
        _GRAPH_CACHE[key] = g
    return g


def versions() -> dict[str, str]:
    """Versions recorded with every trial."""
    from mcmcore import __version__

    return {"mcmcore": __version__, "numpy": np.__version__, "python": platform.python_version()}


def run_trial(trial: Trial | Mapping[str, Any]) -> dict:
    """Run one trial and return its record (never raises for a failing search: the error is recorded).

    The same function runs in local worker processes and as a Ray task.
    """
    if isinstance(trial, Trial):
        trial = trial.to_dict()
    inputs = trial["inputs"]
    t0 = time.perf_counter()
    started = time.time()
    record: dict[str, Any] = {"format": TRIAL_FORMAT, "version": TRIAL_VERSION, "trial_id": trial["trial_id"],
                              "inputs": inputs, "labels": trial.get("labels", {}), "versions": versions()}
    load_s = search_s = 0.0
    try:
        from mcmcore.errors import InfeasibleError
        from mcmcore.package import Package
        from mcmcore.search import partition

        graph = _load_graph(inputs["graph"], trial.get("load") or {})
        package = Package.from_spec(inputs["package"])
        load_s = time.perf_counter() - t0
        try:
            res = partition(graph, package, method=inputs["method"], objective=inputs["objective"],
                            max_evals=inputs["max_evals"], max_seconds=inputs["max_seconds"], seed=inputs["seed"],
                            n_threads=1, progress=False, **inputs["options"])
        except InfeasibleError as exc:
            search_s = time.perf_counter() - t0 - load_s
            record.update(status="infeasible", result=None, error={"type": "InfeasibleError", "message": str(exc)})
        else:
            search_s = time.perf_counter() - t0 - load_s
            value = finite_or_none(res.value)
            record.update(status=res.status.value, error=None, result={
                "value": value, "throughput": None if not value else 1.0 / value,
                "lower_bound": finite_or_none(res.lower_bound), "gap": finite_or_none(res.gap),
                "evals": int(res.evals),
                "placement": None if res.placement is None else [int(x) for x in res.placement],
            })
            if inputs["max_seconds"] is not None:  # a time budget: evals and results depend on the machine
                record["result"]["time_budget"] = True
            if res.info.get("interrupted"):
                # Ctrl-C reached the worker too (a terminal signals the whole process group) and the search
                # returned its best so far: not this trial's result, so a failure that a resumed sweep reruns
                record.update(status="error", result=None, error={
                    "type": "Interrupted", "message": f"the search was interrupted (Ctrl-C / SIGTERM) after "
                                                      f"{int(res.evals)} evaluations"})
    except Exception as exc:  # a failing trial is data, not the end of the sweep
        record.update(status="error", result=None, error={
            "type": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])})
    record["timings"] = {"started": started, "trial_s": time.perf_counter() - t0, "load_s": load_s,
                         "search_s": search_s, "host": socket.gethostname(), "pid": os.getpid()}
    return record


#: error types of a failed trial that say nothing about the trial itself -- its worker died (a crash, an OOM kill,
#: an external kill: ``WorkerLost``), its search was cut short by Ctrl-C (``Interrupted``), or memory ran out
#: while other trials ran beside it (``MemoryError``) -- so a resumed sweep runs such trials again
TRANSIENT_ERRORS = frozenset({"WorkerLost", "Interrupted", "MemoryError"})


def is_transient_failure(record: Mapping[str, Any]) -> bool:
    """Whether a trial record is a failure that a resumed sweep runs again (its error type is in
    :data:`TRANSIENT_ERRORS`); other failures (a bad option, an error of the search) are kept unless
    ``retry_failed=True``."""
    error = record.get("error")
    return (record.get("status") == "error" and isinstance(error, dict) and isinstance(error.get("type"), str)
            and error["type"] in TRANSIENT_ERRORS)


def _lost_record(trial: Trial, message: str) -> dict:
    return {"format": TRIAL_FORMAT, "version": TRIAL_VERSION, "trial_id": trial.trial_id, "inputs": trial.inputs,
            "labels": trial.labels, "versions": versions(), "status": "error", "result": None,
            "error": {"type": "WorkerLost", "message": message},
            "timings": {"started": time.time(), "trial_s": 0.0, "load_s": 0.0, "search_s": 0.0,
                        "host": socket.gethostname(), "pid": os.getpid()}}


# ---------------------------------------------------------------------------------------------- results file
def _is_number(x: Any) -> bool:
    return is_real(x) and math.isfinite(x)


@functools.lru_cache(maxsize=None)
def _statuses() -> tuple[str, ...]:
    from mcmcore.search.base import SearchStatus

    return tuple(sorted({s.value for s in SearchStatus} | {"error"}))


def _record_problem(rec: Any) -> str | None:
    """Why a trial record cannot be reported on (what :func:`summarize` reads), or None when it can."""
    if not isinstance(rec, dict):
        return f"a trial record is a JSON object, got {type(rec).__name__}"
    if not isinstance(rec.get("trial_id"), str) or not rec["trial_id"]:
        return f"'trial_id' must be a non-empty string, got {rec.get('trial_id')!r}"
    inputs = rec.get("inputs")
    if not isinstance(inputs, dict) or not isinstance(inputs.get("method"), str):
        return f"'inputs' must be a mapping with a 'method' name, got {inputs!r}"
    labels = rec.get("labels")
    if labels is not None and not (isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())):
        return f"'labels' must be a mapping of names, got {labels!r}"
    statuses = _statuses()
    if rec.get("status") not in statuses:
        return f"'status' must be one of {', '.join(statuses)}, got {rec.get('status')!r}"
    result = rec.get("result")
    if result is not None:
        if not isinstance(result, dict):
            return f"'result' must be a mapping or null, got {result!r}"
        if result.get("value") is not None and not _is_number(result["value"]):
            return f"'result.value' must be a finite number or null, got {result['value']!r}"
    timings = rec.get("timings")
    if not isinstance(timings, dict) or not _is_number(timings.get("trial_s")):
        return f"'timings' must be a mapping with a number 'trial_s', got {timings!r}"
    return None


def _read_jsonl(path: Path, *, check: Callable[[Any], str | None], repair: bool, what: str, foreign: str,
                error: type[Exception], warn: str | None = None) -> list[tuple[int, Any]]:
    """The records of a JSON-lines file that one append-only writer keeps (a sweep's results file, a co-search
    journal), as (line number, record) in file order.

    A last line without its newline (a write cut by a crash) is not read, and with ``repair=True`` it is cut off
    the file, so that the next record appended starts a line of its own. A line that does not parse, or that
    ``check`` rejects (it returns why, else None), is skipped; with ``warn`` (the warning's prefix) it is named on
    stderr.

    With ``repair=True`` a non-empty file that holds no record ``check`` accepts is some other file given by
    mistake (a placement JSON, another tool's log): ``error`` is raised with the message "PATH ``foreign``", and
    the file is left as it is. The one exception is a file whose only content is a first record cut short, which is
    repaired (emptied) like any torn last line.
    """
    if path.is_dir():
        raise error(f"{path} is a folder, not a {what}")
    if not path.exists():
        return []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    records: list[tuple[int, Any]] = []
    problems: list[str] = []
    good_end = pos = lineno = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:  # a torn last line
            break
        line = data[pos:nl]
        pos = nl + 1
        lineno += 1
        good_end = pos
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:  # also bytes that are not UTF-8
            problems.append(f"skipping an unreadable line {lineno} (byte {pos - len(line) - 1})")
            continue
        problem = check(rec)
        if problem is not None:
            problems.append(f"skipping line {lineno}, {problem}")
            continue
        records.append((lineno, rec))
    if repair and not records and data.strip() and not (good_end == 0 and _is_torn_record(data, check)):
        raise error(f"{path} {foreign}")
    if warn is not None:
        for message in problems:
            print(f"{warn}: {path}: {message}", file=sys.stderr)
    if repair and good_end < len(data):
        with open(path, "r+b") as f:
            f.truncate(good_end)
            f.flush()
            os.fsync(f.fileno())
    return records


def _is_torn_record(data: bytes, check: Callable[[Any], str | None]) -> bool:
    """Whether ``data`` (a file without one complete line) is the start of a record whose write was cut: the
    writers write JSON objects without leading space, and a cut object does not parse (or, cut just before its
    newline, is a whole record)."""
    if not data.startswith(b"{"):
        return False
    try:
        rec = json.loads(data)
    except ValueError:
        return True
    return check(rec) is None


def _trial_problem(rec: Any) -> str | None:
    problem = _record_problem(rec)
    return None if problem is None else f"not a complete trial record: {problem}"


def read_results(path, *, repair: bool = False) -> list[dict]:
    """The trial records of a results file, the newest one of each trial, in file order.

    A last line without its newline (the write was cut by a crash) is ignored, and with ``repair=True`` cut off
    the file. An unreadable line elsewhere, or a record without the fields a report reads (``trial_id``,
    ``inputs.method``, ``status``, ``result``, ``timings.trial_s``) or with a wrong type, is skipped with a
    warning on stderr that names its line. A trial that appears more than once (a failed trial run again on
    resume appends its new record; the file is append-only) is read as its last record, at that record's place.

    Raises
    ------
    SweepResultsError
        ``path`` is a folder or cannot be read; with ``repair=True``, a non-empty file that holds no trial record
        (not a sweep results file: it is left untouched).
    """
    return _read_results(Path(path), repair=repair, warn=True)


def _read_results(path: Path, *, repair: bool, warn: bool) -> list[dict]:
    newest: dict[str, dict] = {}
    for _, rec in _read_jsonl(path, check=_trial_problem, repair=repair, error=SweepResultsError,
                              what="results file", foreign="is not a sweep results file (no trial records); "
                                                           "choose another --out",
                              warn="mcmcore.sweep" if warn else None):
        newest.pop(rec["trial_id"], None)  # re-inserted: the newest record's place in the file
        newest[rec["trial_id"]] = rec
    return list(newest.values())


class _Writer:
    """Appends one record per ``os.write`` on an O_APPEND descriptor, then fsyncs (see the module docstring).

    With ``lock`` the file is locked (``flock``, exclusive, not waiting) as it is opened, until :meth:`close`:
    a second writer fails at once with ``SweepResultsError`` ("another sweep is writing to ...").
    """

    def __init__(self, path: Path, fsync: bool = True, *, lock: bool = False):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)  # not inherited by workers
        self.fsync = fsync
        if lock:
            try:
                _lock(self.fd, path)
            except BaseException:
                os.close(self.fd)
                raise

    def write(self, record: dict) -> None:
        self.write_line((json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False,
                                    default=plain) + "\n").encode())

    def write_line(self, line: bytes) -> None:
        """Append ``line`` (a whole line, its newline included) in one write."""
        view = memoryview(line)
        while view:  # os.write on a regular file writes everything at once; loop only for safety
            n = os.write(self.fd, view)
            view = view[n:]
        if self.fsync:
            os.fsync(self.fd)

    def truncate(self) -> None:
        os.ftruncate(self.fd, 0)
        if self.fsync:
            os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


def _lock(fd: int, path: Path) -> None:
    """An exclusive ``flock`` on ``fd`` without waiting. The lock goes with the descriptor: it is released when
    the descriptor is closed, also by the kernel when the process dies (SIGKILL), so no stale lock is left."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SweepResultsError(f"another sweep is writing to {path}; wait for it to finish, or choose another "
                                f"--out") from None
    except OSError as exc:  # a file system without locks (some network mounts): run, but say what is unchecked
        print(f"mcmcore.sweep: {path}: cannot lock the results file ({exc.strerror or exc}); make sure no other "
              f"sweep writes to it", file=sys.stderr)


# ---------------------------------------------------------------------------------------------- progress
class _Bar:
    def __init__(self, total: int, enabled: bool, label: str):
        from mcmcore._progress import ProgressBar

        self.failed = 0
        self._bar = ProgressBar(label, total, enabled=enabled and total > 0, eta=True)

    def advance(self, record: dict) -> None:
        if record["status"] == "error":
            self.failed += 1
        self._bar.update(advance=1, status=f"{self.failed} failed" if self.failed else "")

    def close(self) -> None:
        self._bar.close()


# ---------------------------------------------------------------------------------------------- backends
def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _run_local(trials: Sequence[Trial], n_workers: int, max_retries: int) -> Iterator[dict]:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    queue = list(reversed(trials))
    attempts: dict[str, int] = {}
    ctx = mp.get_context("spawn")
    while queue:
        pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=_exit_with_parent,
                                   initargs=(os.getpid(),))
        running: dict = {}
        broken = False
        try:
            while queue or running:
                while queue and len(running) < 2 * n_workers:  # bounded in flight: results stream to the file
                    t = queue.pop()
                    running[pool.submit(run_trial, t.to_dict())] = t
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    t = running.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        broken = True
                        running[fut] = t  # handled below with the others
                if broken:
                    break
        except BaseException:  # Ctrl-C / SIGTERM, or the consumer stopped: do not wait for the running trials
            broken = True
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
            raise
        finally:
            pool.shutdown(wait=not broken, cancel_futures=True)
        if broken:
            # A worker died (native crash, OOM kill): we cannot tell which trial killed it, so every unfinished
            # trial is retried, each up to max_retries times.
            for fut, t in running.items():
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    yield fut.result()
                    continue
                attempts[t.trial_id] = attempts.get(t.trial_id, 0) + 1
                if attempts[t.trial_id] > max_retries:
                    yield _lost_record(t, f"worker process died {attempts[t.trial_id]} times running this trial")
                else:
                    queue.append(t)


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: exit when the sweep's process is gone (killed without the chance to stop its pool), so
    no worker is left behind running a trial whose result nobody will read."""
    import threading

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="mcmcore-parent-watch").start()


def _run_ray(trials: Sequence[Trial], address: str | None, n_workers: int, max_retries: int,
             temp_dir: Path) -> Iterator[dict]:
    try:
        import ray
    except ImportError:
        raise MCMError("the ray backend needs ray: pip install 'mcmcore[dist]'") from None
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kw["address"] = address
        else:
            kw.update(num_cpus=n_workers, _temp_dir=str(temp_dir))
        ray.init(**kw)
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=False)(run_trial)
        queue = list(reversed(trials))
        cap = 2 * max(1, int(ray.cluster_resources().get("CPU", n_workers)))
        running: dict = {}
        while queue or running:
            while queue and len(running) < cap:
                t = queue.pop()
                running[remote.remote(t.to_dict())] = t
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                t = running.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:  # retries exhausted (ray.exceptions.WorkerCrashedError, ...)
                    yield _lost_record(t, f"ray task failed after {max_retries} retries: {type(exc).__name__}: "
                                          f"{exc}")
    finally:
        if started:
            ray.shutdown()


# ---------------------------------------------------------------------------------------------- sweep
@dataclass(frozen=True)
class SweepResult:
    """What :func:`sweep` did.

    Attributes
    ----------
    path : Path
        The results file.
    n_trials : int
        Trials in the spec.
    n_skipped : int
        Trials not run now: their record is already in the file (finished, or failed and kept).
    n_run : int
        Trials run now (new ones, and failed ones run again).
    n_failed : int
        Of those, trials recorded with status ``error``.
    seconds : float
    records : list of dict
        The newest record of each of the spec's trials in the file, in spec order.
    n_retried : int
        Of the trials run now, those whose record in the file was a failure (a transient one, see
        :data:`TRANSIENT_ERRORS`, or any with ``retry_failed=True``).
    n_failed_earlier : int
        Of the skipped trials, those whose record is a failure kept from an earlier run (``retry_failed=True``
        runs them again).
    """

    path: Path
    n_trials: int
    n_skipped: int
    n_run: int
    n_failed: int
    seconds: float
    records: list
    n_retried: int = 0
    n_failed_earlier: int = 0

    @property
    def n_failed_total(self) -> int:
        """Trials of the spec whose record in the file is a failure: failed now, or failed earlier and kept."""
        return self.n_failed + self.n_failed_earlier

    def __str__(self) -> str:
        rate = self.n_run / max(self.seconds, 1e-9)
        text = f"{self.n_trials} trials: {self.n_skipped - self.n_failed_earlier} already done, "
        if self.n_failed_earlier:
            text += f"{self.n_failed_earlier} failed earlier (kept; --retry-failed reruns them), "
        retried = f"; {self.n_retried} retried after failing earlier" if self.n_retried else ""
        return (text + f"{self.n_run} run ({self.n_failed} failed{retried}) in {self.seconds:.1f} s "
                f"({rate:.2f} trials/s); results in {self.path}")


def sweep(spec: Any, *, backend: str = "local", address: str | None = None, out="sweep-results.jsonl",
          resume: bool = True, retry_failed: bool = False, n_workers: int | None = None, max_retries: int = 3,
          progress: bool = True, fsync: bool = True) -> SweepResult:
    """Run every trial of a sweep spec and append one JSON line per finished trial to ``out``.

    Parameters
    ----------
    spec : dict or path
        The sweep spec (see the module docstring), or a YAML / JSON file holding it.
    backend : {"local", "ray"}
        Local worker processes, or Ray tasks (``pip install 'mcmcore[dist]'``).
    address : str, optional
        Ray cluster address (``HOST:PORT``); without it a local Ray instance is started (or the one already
        initialised in this process is used).
    out : path
        Results file (JSON lines). It is locked while the sweep runs: a second sweep writing to it fails at once.
    resume : bool
        Skip trials already in ``out`` (the default), except failures whose cause was transient (their error
        type is in :data:`TRANSIENT_ERRORS`: a worker that died, an interrupted search), which run again.
        False empties ``out`` and starts again.
    retry_failed : bool
        On resume, also run again every trial whose record is a failure (deterministic errors included).
    n_workers : int, optional
        Worker processes (local) or CPUs of the local Ray instance; default: the CPUs this process may use.
    max_retries : int
        Retries of a trial whose worker died.
    progress : bool
        A progress bar with ETA on stderr.
    fsync : bool
        fsync after every line (the default): a finished trial survives a power loss, not only a crash.

    Returns
    -------
    SweepResult
        ``n_failed_total`` counts the spec's trials whose record is a failure, including failures kept from an
        earlier run.

    Raises
    ------
    SweepSpecError
        The spec is invalid (nothing is run).
    SweepResultsError
        ``out`` is a folder, a non-empty file that is not a sweep results file (left untouched), or locked by
        another sweep.
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    if address is not None and backend != "ray":
        raise ValueError(f"address={address!r} needs backend='ray'")
    if n_workers is None:
        n_workers = _cpu_count()
    if not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1:
        raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}")
    if not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be a non-negative integer, got {max_retries!r}")
    for name, flag in (("resume", resume), ("retry_failed", retry_failed)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    t0 = time.perf_counter()
    trials = expand_spec(spec)
    out = Path(out)
    if out.is_dir():
        raise SweepResultsError(f"out={str(out)!r} is a folder, not a results file")
    # The lock is taken before the file is read, repaired or emptied: a second sweep on the same file stops here,
    # before it can cut a line the first one is writing.
    writer = _Writer(out, fsync=fsync, lock=True)
    try:
        # checked to be a results file even when it is to be emptied: never empty somebody else's file
        previous = {r["trial_id"]: r for r in _read_results(out, repair=True, warn=resume)}
        if not resume:
            writer.truncate()
            previous = {}

        def rerun(record: dict | None) -> bool:
            return record is None or (record["status"] == "error"
                                      and (retry_failed or is_transient_failure(record)))

        todo = [t for t in trials if rerun(previous.get(t.trial_id))]
        n_retried = sum(t.trial_id in previous for t in todo)
        n_failed_earlier = sum(1 for t in trials if t.trial_id in previous and not rerun(previous[t.trial_id])
                               and previous[t.trial_id]["status"] == "error")
        new: dict[str, dict] = {}
        bar = _Bar(len(todo), progress, f"sweep ({backend})")
        try:
            if todo:
                if backend == "local":
                    stream = _run_local(todo, min(n_workers, len(todo)), max_retries)
                else:
                    stream = _run_ray(todo, address, n_workers, max_retries, out.resolve().parent / ".ray")
                for record in stream:
                    if record["trial_id"] in new:  # a retried trial that finished twice: keep the first
                        continue
                    writer.write(record)
                    new[record["trial_id"]] = record
                    bar.advance(record)
        finally:
            bar.close()
    finally:
        writer.close()  # releases the lock, also on Ctrl-C
    records = [new.get(t.trial_id) or previous[t.trial_id] for t in trials
               if t.trial_id in new or t.trial_id in previous]
    return SweepResult(out, len(trials), len(trials) - len(todo), len(new),
                       sum(1 for r in new.values() if r["status"] == "error"), time.perf_counter() - t0, records,
                       n_retried=n_retried, n_failed_earlier=n_failed_earlier)


# ---------------------------------------------------------------------------------------------- report
def summarize(records: Iterable[dict]) -> list[dict]:
    """One row per (graph, package, method): trials, failures, best and mean value over seeds.

    ``value`` is the objective in seconds (interval or latency; lower is better); failures count ``error``
    trials; ``no_valid`` counts trials without a valid placement (no solution found, or infeasible).

    Raises
    ------
    SweepResultsError
        A record lacks a field the summary reads, or has a wrong type (:func:`read_results` skips such lines).
    """
    groups: dict[tuple, list[dict]] = {}
    for i, r in enumerate(records):
        problem = _record_problem(r)
        if problem is not None:
            raise SweepResultsError(f"trial record {i} is not complete: {problem}")
        lab = r.get("labels") or {}
        key = (lab.get("graph", "?"), lab.get("package", "?"), lab.get("method", r["inputs"]["method"]))
        groups.setdefault(key, []).append(r)
    rows = []
    for (g, p, m), rs in groups.items():
        values = [r["result"]["value"] for r in rs if r.get("result") and r["result"].get("value") is not None]
        rows.append({"graph": g, "package": p, "method": m, "trials": len(rs),
                     "failed": sum(r["status"] == "error" for r in rs),
                     "no_valid": sum(r["status"] in ("infeasible", "no_solution") for r in rs),
                     "best": min(values) if values else None,
                     "mean": float(np.mean(values)) if values else None,
                     "std": float(np.std(values)) if len(values) > 1 else (0.0 if values else None),
                     "trial_s": float(np.mean([r["timings"]["trial_s"] for r in rs])) if rs else 0.0})
    return rows


def plot_summary(rows: Sequence[dict], *, path=None, title: str | None = None):
    """Bar chart of the best (and mean) value per (package, method), one panel per graph; returns the Figure.

    matplotlib is imported here (``pip install 'mcmcore[plot]'``).

    Raises
    ------
    SweepResultsError
        No rows (``title``, the results file's name in ``mcm sweep-report``, names what had no trials).
    """
    if not rows:
        raise SweepResultsError(f"no trials in {title}: nothing to plot" if title else "no trials: nothing to plot")
    from mcmcore.plot import _figure_class

    Figure = _figure_class()
    graphs = sorted({r["graph"] for r in rows})
    fig = Figure(figsize=(max(6.0, 1.2 * max(1, len(rows) // max(1, len(graphs))) + 3), 3.2 * len(graphs)),
                 constrained_layout=True)
    axes = fig.subplots(len(graphs), 1, squeeze=False)[:, 0]
    for ax, g in zip(axes, graphs):
        rs = [r for r in rows if r["graph"] == g]
        labels = [f"{r['package']}\n{r['method']}" for r in rs]
        x = np.arange(len(rs))
        best = [r["best"] * 1e6 if r["best"] is not None else np.nan for r in rs]
        mean = [r["mean"] * 1e6 if r["mean"] is not None else np.nan for r in rs]
        ax.bar(x - 0.2, best, 0.4, label="best over seeds")
        ax.bar(x + 0.2, mean, 0.4, label="mean over seeds", alpha=0.6)
        for xi, r in zip(x, rs):
            if r["failed"]:
                ax.annotate(f"{r['failed']} failed", (xi, 0), ha="center", va="bottom", color="red", fontsize=7)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel("objective (µs, lower is better)")
        ax.set_title(g)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig

"""The ``mcm`` command line. It parses arguments and prints; every decision lives in the library."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from mcmcore._json import dumps, finite_or_none
from mcmcore._progress import format_seconds
from mcmcore.errors import InvalidGraphError, MCMError

__all__ = ["main", "build_parser", "load_graph_arg", "load_placement"]

# Subcommands register here: name -> (help, add_arguments(parser), run(args) -> int).
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help: str):
    """Register ``run(args)`` as subcommand ``name``; its ``arguments`` attribute adds the options."""

    def wrap(run):
        COMMANDS[name] = (help, getattr(run, "arguments", lambda p: None), run)
        return run

    return wrap


def arguments(add: Callable[[argparse.ArgumentParser], None]):
    def wrap(run):
        run.arguments = add
        return run

    return wrap


# --------------------------------------------------------------------------------------------------- helpers
def load_graph_arg(spec: str):
    """A graph from a file (native .json / .npz), or a zoo model name when the zoo is available."""
    from mcmcore.io.native import load_graph

    path = Path(spec)
    if path.exists():
        convert = f"convert it first with `mcm import {spec} -o graph.json`"
        if path.suffix.lower() in (".onnx", ".pt2"):
            raise MCMError(f"{spec}: a model file, not a graph; {convert}")
        try:
            return load_graph(path)
        except InvalidGraphError:
            if path.suffix.lower() == ".json" and _is_dnnp(path):
                raise MCMError(f"{spec}: a NeurIPS 2020 device-placement problem, not a graph; {convert}") from None
            raise
    try:
        from mcmcore import zoo  # the model zoo (optional at this layer)
    except ImportError:
        zoo = None
    if zoo is not None and spec in zoo.names():
        return zoo.load(spec)
    raise MCMError(f"{spec!r} is neither a graph file nor a zoo model"
                   + (f" (zoo models: {', '.join(zoo.names())})" if zoo is not None else ""))


def _is_dnnp(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "maxFPGAs" in doc


def load_placement(path: str, n_nodes: int) -> np.ndarray:
    """Read a placement: a JSON list, a JSON object with a ``placement`` list (a result file), a ``.npy`` array,
    or a text file with one device id per line."""
    p = Path(path)
    if not p.exists():
        raise MCMError(f"{path}: no such placement file")
    try:
        if p.suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        else:
            text = p.read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors) is not an id
    except (OSError, ValueError, EOFError) as exc:  # a directory, a corrupt, pickled or empty .npy, not UTF-8
        raise MCMError(f"{path}: cannot read the placement ({exc or 'empty file'})") from None
    if p.suffix != ".npy":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None
        # A lone number is a one-line text file (the placement of a one-node graph), not a JSON scalar.
        if doc is None or (isinstance(doc, int) and not isinstance(doc, bool)):
            try:
                doc = [int(x) for x in text.split()]
            except ValueError:
                raise MCMError(f"{path}: not a placement (expected a JSON list, a result JSON with 'placement', "
                               f"or one device id per line)") from None
        if isinstance(doc, dict):
            if "placement" not in doc:
                raise MCMError(f"{path}: JSON object without a 'placement' field")
            doc = doc["placement"]
            if doc is None:
                raise MCMError(f"{path}: the result holds no placement (the search found no valid one)")
        try:
            arr = np.asarray(doc)
        except ValueError:  # a ragged nested list
            raise MCMError(f"{path}: the placement must be a flat list with one device id per node") from None
    if arr.ndim != 1:
        raise MCMError(f"{path}: the placement must be a flat list with one device id per node, got an array of "
                       f"shape {arr.shape}")
    if len(arr) != n_nodes:
        raise MCMError(f"{path}: placement has {arr.size} entries, the graph has {n_nodes} nodes")
    return arr


def _constraints_from_args(args):
    from mcmcore.constraints import Constraints

    kw = {}
    if getattr(args, "dataflow", None) is not None:
        kw["dataflow"] = None if args.dataflow == "none" else args.dataflow
    if getattr(args, "max_skip", None) is not None:
        kw["max_skip"] = args.max_skip
    if getattr(args, "all_used", False):
        kw["all_used"] = True
    if getattr(args, "no_capacity", False):
        kw["capacity"] = False
    try:
        return Constraints(**kw)
    except ValueError as exc:  # contradicting flags, e.g. --max-skip with --dataflow none
        raise MCMError(str(exc)) from None


def add_constraint_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("constraints")
    g.add_argument("--dataflow", choices=["auto", "ordered", "acyclic", "none"], default=None,
                   help="dataflow constraint (default auto: acyclic on port packages, ordered on link topologies)")
    g.add_argument("--max-skip", type=int, default=None, help="with ordered dataflow: largest pipeline step")
    g.add_argument("--all-used", action="store_true", help="no device may be left empty")
    g.add_argument("--no-capacity", action="store_true", help="ignore SRAM capacity")


def _console():
    """rich's console on stdout; 160 columns in a file or a pipe (else rich wraps at 80)."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)


def _fmt_bytes(b: float) -> str:
    if not np.isfinite(b):
        return "inf"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= scale:
            return f"{b / scale:.4g} {unit}"
    return f"{b:.0f} B"


def print_report(report, package, *, title: str = "placement") -> None:
    """A rich table of a CostReport."""
    from rich.table import Table

    console = _console()
    state = "[green]valid[/green]" if report.valid else "[red]INVALID[/red]"
    console.print(f"[bold]{title}[/bold]: interval {format_seconds(report.interval)} "
                  f"(throughput {report.throughput:.6g}/s), latency {format_seconds(report.latency)}, {state}; "
                  f"bottleneck {report.bottleneck}")
    t = Table(title="devices")
    for col in ("device", "kind", "nodes", "compute", "comm", "memory", "sram"):
        t.add_column(col, justify="right")
    for k in package.order:
        k = int(k)
        over = report.memory[k] > package.sram_bytes[k]
        t.add_row(str(k), package.kind_names[package.kinds[k]], str(int(report.node_count[k])),
                  format_seconds(report.compute[k]), format_seconds(report.comm[k]),
                  ("[red]" if over else "") + _fmt_bytes(report.memory[k]) + ("[/red]" if over else ""),
                  _fmt_bytes(package.sram_bytes[k]))
    console.print(t)
    if package.n_links and report.traffic.any():
        busiest = np.argsort(-report.link_time)[:8]
        lt = Table(title="busiest links")
        for col in ("link", "traffic", "time"):
            lt.add_column(col, justify="right")
        for l in busiest:
            if report.traffic[l] > 0:
                lt.add_row(f"{package.link_src[l]}->{package.link_dst[l]}", _fmt_bytes(report.traffic[l]),
                           format_seconds(report.link_time[l]))
        console.print(lt)
    vt = ", ".join(f"{k}={v}" for k, v in report.violations.items())
    console.print(f"violations: {vt or 'none checked'}")


# -------------------------------------------------------------------------------------------------- commands
def _evaluate_args(p):
    p.add_argument("graph", help="graph file (.json / .npz) or zoo model name")
    p.add_argument("--package", required=True, help="package preset name or spec file (.json / .yaml)")
    p.add_argument("--placement", required=True, help="placement file (JSON list, result JSON, .npy, text)")
    p.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=None,
                   help="overlap compute and communication (default: off for port, always on for links)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_constraint_arguments(p)


@command("evaluate", "evaluate a placement: interval, throughput, latency, per-device loads, violations")
@arguments(_evaluate_args)
def cmd_evaluate(args) -> int:
    from mcmcore.evaluate import evaluate
    from mcmcore.package import load_package

    constraints = _constraints_from_args(args)
    graph = load_graph_arg(args.graph)
    package = load_package(args.package)
    placement = load_placement(args.placement, graph.n_nodes)
    try:
        report = evaluate(graph, package, placement, constraints=constraints, overlap=args.overlap)
    except ValueError as exc:  # options that do not fit this package, e.g. --no-overlap on a links package
        if isinstance(exc, MCMError):
            raise
        raise MCMError(str(exc)) from None
    if args.json:
        print(dumps(report.to_dict(), indent=1))
    else:
        print_report(report, package, title=graph.name or Path(args.graph).name)
    return 0 if report.valid else 3


def _presets_args(p):
    p.add_argument("--json", action="store_true", help="print every preset's spec as JSON")


@command("presets", "list the built-in package presets")
@arguments(_presets_args)
def cmd_presets(args) -> int:
    from mcmcore.package import Package

    if args.json:
        print(json.dumps({k: Package.preset(k).to_spec() for k in Package.presets()}, indent=1))
        return 0
    from rich.table import Table

    t = Table(title="package presets")
    t.add_column("name")
    t.add_column("description")
    for k, v in Package.presets().items():
        t.add_row(k, v)
    _console().print(t)
    return 0


def _import_args(p):
    p.add_argument("model", help="model or graph file: .onnx, .pt2 (torch.export), NeurIPS 2020 .json, native "
                                 ".json / .npz")
    p.add_argument("-o", "--output", required=True, help="graph file to write (.json or .npz)")
    p.add_argument("--package-output", help="with a NeurIPS 2020 file: also write its package spec here")
    p.add_argument("--dim", action="append", default=[], type=_dim, metavar="NAME=SIZE",
                   help="size of a symbolic dimension of an ONNX model, such as a dynamic batch axis "
                        "(repeatable): --dim batch=8 --dim sequence=128")


def _dim(text: str) -> tuple[str, int]:
    name, eq, size = text.partition("=")
    if not eq or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=SIZE, got {text!r}")
    return name.strip(), _positive_int(size)


@command("import", "import a model (ONNX, torch.export, NeurIPS 2020 JSON) into a native graph file")
@arguments(_import_args)
def cmd_import(args) -> int:
    from mcmcore.io.convert import import_graph

    dims = dict(args.dim)
    if len(dims) != len(args.dim):
        raise MCMError("--dim gives a dimension twice: " + ", ".join(sorted(
            {n for n, _ in args.dim if sum(m == n for m, _ in args.dim) > 1})))
    graph, package = import_graph(args.model, dims=dims or None)
    graph.save(args.output)
    print(f"{args.output}: {graph!r}")
    if args.package_output:
        if package is None:
            print(f"mcm import: {args.model} holds no package (only NeurIPS 2020 problem files do); "
                  f"{args.package_output} not written", file=sys.stderr)
        else:
            package.save(args.package_output)
            print(f"{args.package_output}: {package.n_devices} devices ({', '.join(package.kind_names)})")
    return 0


def _zoo_args(p):
    p.add_argument("action", choices=["list", "build"], help="list the models, or build one")
    p.add_argument("name", nargs="?", help="model name (for build)")
    p.add_argument("-o", "--output", help="graph file to write (.json or .npz)")
    p.add_argument("--batch", type=_positive_int, help="batch size")
    p.add_argument("--seq", type=_positive_int, help="sequence length (text models)")
    p.add_argument("--image-size", type=_positive_int, help="image side in pixels (image models)")
    p.add_argument("--training", action="store_true", help="add a backward node per forward node")


@command("zoo", "the model zoo: `mcm zoo list`, `mcm zoo build NAME -o graph.json`")
@arguments(_zoo_args)
def cmd_zoo(args) -> int:
    from mcmcore import zoo

    if args.action == "list":
        if args.name or args.output:
            raise MCMError("zoo list takes no model name or -o; did you mean `mcm zoo build NAME -o FILE`?")
        for name in zoo.names():
            opts = ", ".join(f"{k}={v}" for k, v in zoo.defaults(name).items())
            print(f"{name:14s} {zoo.describe(name)} [{opts}]")
        return 0
    if not args.name or not args.output:
        raise MCMError("zoo build needs a model name and -o OUTPUT")
    options = {k: v for k, v in (("batch", args.batch), ("seq", args.seq), ("image_size", args.image_size))
               if v is not None}
    if options:
        graph = zoo.build(args.name, training=args.training, **options)
    else:  # the default options: the shipped graph, no torch needed
        zoo.defaults(args.name)
        graph = zoo.load(args.name, training=args.training)
    graph.save(args.output)
    print(f"{args.output}: {graph!r}")
    return 0


def _info_args(p):
    p.add_argument("graph", help="graph file (.json / .npz) or zoo model name")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--top", type=_positive_int, default=12, help="op types to show in the histogram (default 12)")


@command("info", "summarise a graph: counts, FLOPs, weights, critical path, op types")
@arguments(_info_args)
def cmd_info(args) -> int:
    from mcmcore.io.convert import graph_info

    info = graph_info(load_graph_arg(args.graph))
    if args.json:
        print(dumps(info, indent=1))
        return 0
    print(f"graph {info['name'] or args.graph}: {info['nodes']} nodes, {info['edges']} edges, "
          f"{info['backward_nodes']} backward, {info['colors']} colors")
    print(f"  FLOPs {info['flops'] / 1e9:.4g} G, weights {_fmt_bytes(info['weight_bytes'])}, "
          f"memory traffic {_fmt_bytes(info['mem_bytes'])}")
    print(f"  critical path: {info['critical_path_nodes']} nodes, {info['critical_path_flops'] / 1e9:.4g} GFLOPs")
    print("  op types:")
    for op, count in list(info["op_histogram"].items())[:args.top]:
        print(f"    {op:32s} {count:6d}")
    return 0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive, finite number, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _search_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by `mcm partition` and `mcm compare`."""
    p.add_argument("graph", help="graph file (.json / .npz) or zoo model name")
    p.add_argument("--package", required=True, help="package preset name or spec file (.json / .yaml)")
    p.add_argument("--max-seconds", type=_positive_float, default=None,
                   help="time budget per search (default: 10 s when --max-evals is not given either)")
    p.add_argument("--max-evals", type=_positive_int, default=None, help="evaluation budget per search")
    p.add_argument("--objective", choices=["throughput", "latency"], default="throughput",
                   help="minimise the pipeline interval (throughput) or the single-sample latency")
    p.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=None,
                   help="overlap compute and communication (default: off for port, always on for links)")
    p.add_argument("--threads", type=_positive_int, default=None, help="threads (default: all allowed CPUs)")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    add_constraint_arguments(p)


def _search(graph, package, method: str, args, *, seed: int, constraints, **options):
    """One call of :func:`mcmcore.partition` with the command-line options; library errors become MCMError
    (ImportError is left alone: the caller decides whether a missing optional method is fatal). ``options`` go
    to the method."""
    from mcmcore.search import partition

    try:
        return partition(graph, package, method=method, constraints=constraints, objective=args.objective,
                         max_evals=args.max_evals, max_seconds=args.max_seconds, seed=seed,
                         n_threads=args.threads, progress=not args.no_progress, overlap=args.overlap, **options)
    except ValueError as exc:  # an option that does not fit this package or method
        if isinstance(exc, MCMError):
            raise
        raise MCMError(str(exc)) from None


def _plot_or_error(plot, *a, **kw):
    try:
        return plot(*a, **kw)
    except ImportError as exc:
        raise MCMError(str(exc)) from None


def _result_line(result) -> str:
    if result.placement is None:
        return f"{result.method}: {result.status.value} after {result.evals:,} evaluations in {result.seconds:.2f} s"
    rate = result.evals / max(result.seconds, 1e-9)
    what = "interval" if result.objective == "throughput" else "latency"
    return (f"{result.method}: {result.status.value}, {what} {format_seconds(result.value)}, lower bound "
            f"{format_seconds(result.lower_bound)}, gap {100 * result.gap:.2f}%; {result.evals:,} evaluations in "
            f"{result.seconds:.2f} s ({rate:,.0f}/s), seed {result.seed}")


def _partition_args(p):
    from mcmcore.search import METHODS

    _search_arguments(p)
    p.add_argument("--method", default="auto",
                   help=f"search method (default auto; registered: {', '.join(METHODS)})")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed and --max-evals, same result)")
    p.add_argument("--out", help="write the SearchResult JSON here (`mcm evaluate --placement` reads it)")
    p.add_argument("--plot", help="write a PNG of the placement on the package and along the pipeline")
    p.add_argument("--policy", help="--method rl: the policy file to fine-tune (default: the shipped pre-trained "
                                    "policy; `scratch`: new random weights)")
    p.add_argument("--device", help="--method rl: torch device of the policy (cpu, cuda; default cpu)")
    p.add_argument("--fast-gpu-kernels", action="store_true",
                   help="--method rl on a GPU: CUDA's fastest kernels instead of deterministic ones (the same seed "
                        "may then give another result)")
    p.add_argument("--start", help="continue from this placement (e.g. the --out of an interrupted run): it is "
                                   "evaluated first, so the result is never worse, and annealing starts from it")


@command("partition", "search the best valid placement of a graph on a package")
@arguments(_partition_args)
def cmd_partition(args) -> int:
    from mcmcore.package import load_package

    constraints = _constraints_from_args(args)
    graph = load_graph_arg(args.graph)
    package = load_package(args.package)
    try:
        options = {}
        for flag, key, value in (("--policy", "policy", args.policy), ("--device", "device", args.device),
                                 ("--fast-gpu-kernels", "deterministic", False if args.fast_gpu_kernels else None)):
            if value is not None:
                if args.method != "rl":
                    raise MCMError(f"{flag} needs --method rl")
                options[key] = value
        if args.start is not None:
            options["start"] = load_placement(args.start, graph.n_nodes)
        result = _search(graph, package, args.method, args, seed=args.seed, constraints=constraints, **options)
    except ImportError as exc:  # an optional dependency of this method is missing
        raise MCMError(f"method {args.method!r} is not available: {exc}") from None
    interrupted = bool(result.info.get("interrupted"))
    if result.report is not None:
        print_report(result.report, package, title=f"{graph.name or Path(args.graph).name} ({args.method})")
    print(_result_line(result))
    if args.out:
        result.save(args.out)
        print(f"wrote {args.out}")
    if args.plot:
        if result.placement is None:
            print(f"mcm partition: no placement found, {args.plot} not written", file=sys.stderr)
        else:
            from mcmcore.plot import plot_placement

            _plot_or_error(plot_placement, graph, package, result, path=args.plot,
                           title=f"{graph.name or Path(args.graph).name}: {args.method}")
            print(f"wrote {args.plot}")
    if interrupted:
        hint = f"; continue with --start {args.out}" if args.out else " (give --out to keep it)"
        print(f"mcm partition: interrupted after {result.seconds:.1f} s: the result is the best placement found so "
              f"far{hint}", file=sys.stderr)
        return 130
    return 0 if result.placement is not None else 3


def _compare_args(p):
    _search_arguments(p)
    p.add_argument("--methods", default=None,
                   help="comma-separated methods to run at the same budget (default: every registered method)")
    p.add_argument("--seeds", type=_int_list, default=[0], help="comma-separated seeds, one run each (default 0)")
    p.add_argument("--plot", help="write a PNG of the convergence curves")
    p.add_argument("--plot-x", choices=["seconds", "evals"], default="seconds", help="x axis of the plot")
    p.add_argument("--json", action="store_true", help="print the table as JSON")


@command("compare", "run several search methods on one instance at the same budget and compare them")
@arguments(_compare_args)
def cmd_compare(args) -> int:
    from mcmcore.errors import InfeasibleError
    from mcmcore.package import load_package
    from mcmcore.search import METHODS

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else list(METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise MCMError(f"unknown method(s) {', '.join(unknown)}; methods are {', '.join(METHODS)}")
    if not methods or not args.seeds:
        raise MCMError("nothing to compare: give at least one method and one seed")
    constraints = _constraints_from_args(args)
    graph = load_graph_arg(args.graph)
    package = load_package(args.package)

    runs = []  # (method, seed, result or None, status, note)
    interrupted = False
    for method in methods:
        for seed in args.seeds:
            try:
                result = _search(graph, package, method, args, seed=seed, constraints=constraints)
            except ImportError as exc:  # e.g. metis without pymetis: skip, do not stop the comparison
                runs.append((method, seed, None, "skipped", f"not available: {exc}"))
                break  # the other seeds would fail the same way
            except InfeasibleError as exc:
                runs.append((method, seed, None, "infeasible", str(exc)))
                continue
            except MCMError as exc:  # the method does not apply to this instance (too large, wrong kind, ...)
                runs.append((method, seed, None, "error", str(exc)))
                continue
            except KeyboardInterrupt:  # before this run found anything: the table shows the finished ones
                interrupted = True
                break
            if result.info.get("interrupted"):  # cut short: not comparable at "the same budget"
                runs.append((method, seed, result, "interrupted", f"stopped after {result.seconds:.2f} s"))
                interrupted = True
                break
            runs.append((method, seed, result, result.status.value, ""))
        if interrupted:
            break

    found = [r for _m, _s, r, _st, _n in runs if r is not None and r.placement is not None]
    best = min((r.value for r in found), default=float("nan"))
    bound = max((r.lower_bound for _m, _s, r, _st, _n in runs if r is not None), default=0.0)
    rows = []
    for method, seed, r, status, note in runs:
        row = {"method": method, "seed": seed, "status": status, "value": None, "throughput": None, "gap": None,
               "vs_best": None, "evals": None, "evals_per_s": None, "seconds": None, "note": note}
        if r is not None:
            row.update(evals=r.evals, seconds=r.seconds, evals_per_s=r.evals / max(r.seconds, 1e-9))
            if r.placement is not None:
                # the gap to the best bound any run proved (a method that found the optimum without proving it
                # shows 0 once another run proved it)
                row.update(value=r.value, throughput=finite_or_none(r.report.throughput),
                           gap=max(0.0, (r.value - bound) / r.value) if r.value > 0 else 0.0,
                           vs_best=r.value / best - 1.0 if best > 0 else 0.0)
        rows.append(row)

    label = graph.name or Path(args.graph).name
    if args.json:
        print(dumps({"graph": label, "package": package.name or args.package, "objective": args.objective,
                          "max_seconds": args.max_seconds, "max_evals": args.max_evals,
                          "lower_bound": bound, "best": finite_or_none(best), "runs": rows}, indent=1))
    else:
        from rich.table import Table

        from rich import box

        what = "interval" if args.objective == "throughput" else "latency"
        budget = ", ".join(x for x in (f"{args.max_seconds:g} s" if args.max_seconds else "",
                                       f"{args.max_evals:,} evals" if args.max_evals else "") if x)
        t = Table(title=f"{label} on {package.name or args.package} ({package.n_devices} devices, "
                        f"{package.topology}); budget {budget or 'default'} per run; lower bound "
                        f"{format_seconds(bound)}", box=box.SIMPLE_HEAD)
        notes = any(row["note"] for row in rows)
        cols = ["method"] + (["seed"] if len(args.seeds) > 1 else []) + \
            ["status", what, "throughput", "gap", "vs best", "evals", "evals/s", "wall"] + (["note"] if notes else [])
        for col in cols:
            t.add_column(col, justify="left" if col in ("method", "status", "note") else "right")
        for row in rows:
            def num(key, fmt):
                return "-" if row[key] is None else fmt(row[key])

            cells = [row["method"]] + ([str(row["seed"])] if len(args.seeds) > 1 else []) + [
                row["status"], num("value", format_seconds), num("throughput", lambda v: f"{v:.5g}/s"),
                num("gap", lambda v: f"{100 * v:.2f}%"),
                num("vs_best", lambda v: "best" if v <= 1e-12 else f"+{100 * v:.2f}%"),
                num("evals", lambda v: f"{v:,}"), num("evals_per_s", lambda v: f"{v:,.0f}"),
                num("seconds", lambda v: f"{v:.2f} s")] + ([row["note"]] if notes else [])
            t.add_row(*cells)
        _console().print(t)
    if args.plot:
        curves = [r for _m, _s, r, _st, _n in runs if r is not None]
        if curves:
            from mcmcore.plot import plot_convergence

            _plot_or_error(plot_convergence, curves, args.plot, x=args.plot_x,
                           title=f"{label} on {package.name or args.package}")
            if not args.json:
                print(f"wrote {args.plot}")
        else:
            print(f"mcm compare: no search ran, {args.plot} not written", file=sys.stderr)
    if interrupted:
        done = sum(st != "interrupted" for _m, _s, _r, st, _n in runs)
        print(f"mcm compare: interrupted; {done} run(s) finished (a run cut short is marked 'interrupted')",
              file=sys.stderr)
        return 130
    return 0 if found else 3


# ------------------------------------------------------------------------------------------ real execution
def _run_args(p):
    p.add_argument("model", help="zoo model name (random weights, as `mcm zoo build`) or a torch.export .pt2 file")
    p.add_argument("--placement", required=True, help="placement file (JSON list, result JSON, .npy, text)")
    p.add_argument("--package", help="package preset or spec file: its pipeline order orders the stages and its "
                                     "device count divides the cores (default: device ids, largest id + 1)")
    p.add_argument("--samples", type=_positive_int, default=50, help="measured samples (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="unmeasured samples first (default 5)")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="device slots the cores are divided among (default: the package's devices, else the "
                        "largest device id + 1)")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="torch threads per worker (default: the worker's share of the cores)")
    p.add_argument("--batch", type=int, help="batch size (zoo models)")
    p.add_argument("--seq", type=int, help="sequence length (zoo text models)")
    p.add_argument("--image-size", type=int, help="image side (zoo image models)")
    p.add_argument("--json", action="store_true", help="print the measurement as JSON")


@command("run", "run a placed model as a pipeline of worker processes and measure throughput and latency")
@arguments(_run_args)
def cmd_run(args) -> int:
    from mcmcore.exec import run_pipeline
    from mcmcore.exec.models import load_model
    from mcmcore.exec.pipeline import export_program
    from mcmcore.io.torch_export import from_exported_program
    from mcmcore.package import load_package

    model, inputs = load_model(args.model, batch=args.batch, seq=args.seq, image_size=args.image_size)
    program = export_program(model, inputs)
    graph = from_exported_program(program, warn_unknown=False)
    placement = load_placement(args.placement, graph.n_nodes)
    package = load_package(args.package) if args.package else None
    try:
        m = run_pipeline(program, inputs, graph, placement, n_samples=max(2, args.samples), warmup=args.warmup,
                         workers=args.workers, package=package, n_threads=args.threads)
    except ValueError as exc:
        if isinstance(exc, MCMError):
            raise
        raise MCMError(str(exc)) from None
    if args.json:
        print(dumps(m.to_dict(), indent=1))
        return 0
    print(f"{args.model}: {m}")
    for s in m.stages:
        print(f"  stage {s.stage} device {s.device} cores {list(s.cores) if s.cores else 'any'}: {s.n_nodes} nodes, "
              f"compute {format_seconds(s.compute)}, receive {format_seconds(s.receive)}, send {format_seconds(s.send)}, "
              f"blocked {format_seconds(s.wait)}")
    return 0


# ------------------------------------------------------------------------------------- sweep and co-search
def _sweep_args(p):
    p.add_argument("spec", help="sweep spec (YAML / JSON): graphs, packages, methods with budgets, seeds")
    p.add_argument("--out", default="sweep-results.jsonl", help="results file, one JSON line per trial")
    p.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local worker processes (default) or Ray tasks (pip install 'mcmcore[dist]')")
    p.add_argument("--address", default=None, help="Ray cluster address HOST:PORT (with --backend ray)")
    p.add_argument("--workers", type=_positive_int, default=None, help="worker processes (default: all CPUs)")
    p.add_argument("--max-retries", type=int, default=3, help="retries of a trial whose worker died (default 3)")
    p.add_argument("--no-resume", action="store_true", help="truncate --out and run every trial again")
    p.add_argument("--retry-failed", action="store_true",
                   help="also run again the trials whose record in --out is a failure (by default only failures "
                        "with a transient cause -- a worker that died, an interrupted search -- run again)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


@command("sweep", "run a resumable sweep of (graph x package x method x seed) searches; one JSON line per trial")
@arguments(_sweep_args)
def cmd_sweep(args) -> int:
    from mcmcore.sweep import sweep

    try:
        result = sweep(args.spec, backend=args.backend, address=args.address, out=args.out,
                       resume=not args.no_resume, retry_failed=args.retry_failed, n_workers=args.workers,
                       max_retries=args.max_retries, progress=not args.no_progress)
    except ValueError as exc:
        raise MCMError(str(exc)) from None
    except KeyboardInterrupt:
        from mcmcore.sweep import SweepResultsError, _read_results

        try:
            records = _read_results(Path(args.out), repair=False, warn=False)
        except SweepResultsError:
            records = []
        failed = sum(r["status"] == "error" for r in records)
        print(f"mcm sweep: interrupted; {len(records) - failed} finished trial(s)"
              f"{f' and {failed} failed one(s)' if failed else ''} are kept in {args.out}: run the same command "
              f"again to continue (trials still running were stopped and will run again)", file=sys.stderr)
        return 130
    print(result)
    return 0 if result.n_failed_total == 0 else 4


def _sweep_report_args(p):
    p.add_argument("results", help="results file written by `mcm sweep`")
    p.add_argument("--plot", help="write a PNG of the best / mean value per graph, package and method")
    p.add_argument("--json", dest="json_out", help="write the table as JSON")


@command("sweep-report", "summarise a sweep's results: best / mean value over seeds, trials, failures")
@arguments(_sweep_report_args)
def cmd_sweep_report(args) -> int:
    from mcmcore.sweep import plot_summary, read_results, summarize

    if not Path(args.results).exists():
        raise MCMError(f"{args.results}: no such results file")
    rows = summarize(read_results(args.results))
    head = f"{'graph':<18} {'package':<22} {'method':<12} {'trials':>6} {'failed':>6} {'best':>11} {'mean':>11}"
    print(head)
    print("-" * len(head))
    for r in rows:
        best = format_seconds(r["best"]) if r["best"] is not None else "-"
        mean = format_seconds(r["mean"]) if r["mean"] is not None else "-"
        print(f"{r['graph']:<18} {r['package']:<22} {r['method']:<12} {r['trials']:>6} {r['failed']:>6} "
              f"{best:>11} {mean:>11}")
    print(f"{sum(r['trials'] for r in rows)} trials, {sum(r['failed'] for r in rows)} failed")
    if args.json_out:
        Path(args.json_out).write_text(dumps(rows, indent=1))
        print(f"wrote {args.json_out}")
    if args.plot:
        _plot_or_error(plot_summary, rows, path=args.plot, title=Path(args.results).name)
        print(f"wrote {args.plot}")
    return 0


def _cosearch_args(p):
    p.add_argument("graph", help="graph file (.json / .npz) or zoo model name")
    p.add_argument("--space", required=True, help="design space (YAML / JSON), see mcmcore.cosearch")
    p.add_argument("--training", action="store_true", help="the zoo model's training graph (backward nodes)")
    p.add_argument("--method", default="auto", help="placement search method per design (default auto)")
    p.add_argument("--max-evals", type=_positive_int, default=None,
                   help="evaluations per design (default 2000 when --max-seconds is not given)")
    p.add_argument("--max-seconds", type=_positive_float, default=None, help="seconds per design")
    p.add_argument("--budget", type=_positive_int, default=None, help="evaluate at most this many designs")
    p.add_argument("--area-budget", type=_positive_float, default=None, help="total area budget (mm^2)")
    p.add_argument("--objective", choices=["throughput", "latency"], default="throughput",
                   help="what each design's placement search optimises (default throughput; the front is always "
                        "throughput against area)")
    p.add_argument("--seed", type=int, default=0, help="seeds the design sample and every search (default 0)")
    p.add_argument("--out", help="write the result (every design, the front, placements) as JSON")
    p.add_argument("--plot", help="write a PNG of throughput against area with the Pareto front")
    p.add_argument("--journal", help="keep each finished design here as it is done, and skip those already in it "
                                     "(default with --out: OUT.designs.jsonl, removed once OUT is written); "
                                     "an interrupted run continues when started again")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


@command("cosearch", "co-search package designs and placements: Pareto front of throughput against area")
@arguments(_cosearch_args)
def cmd_cosearch(args) -> int:
    from mcmcore.cosearch import cosearch, plot_pareto

    graph = load_graph_arg(args.graph)
    if args.training:
        from mcmcore.zoo import training_graph

        graph = training_graph(graph)
    journal = args.journal or (f"{args.out}.designs.jsonl" if args.out else None)
    try:
        result = cosearch(graph, args.space, budget=args.budget, objective=args.objective, method=args.method,
                          max_evals_per_design=args.max_evals, max_seconds_per_design=args.max_seconds,
                          area_budget=args.area_budget, seed=args.seed, progress=not args.no_progress,
                          journal=journal)
    except ValueError as exc:
        raise MCMError(str(exc)) from None
    except KeyboardInterrupt:
        if journal is None:
            print("mcm cosearch: interrupted (give --out or --journal to keep finished designs)", file=sys.stderr)
        else:
            from mcmcore.cosearch import journal_size

            print(f"mcm cosearch: interrupted; finished designs are kept in {journal} ({journal_size(journal)} "
                  f"design(s)): run the same command again to continue", file=sys.stderr)
        return 130
    print(result)
    if args.out:
        result.save(args.out)
        print(f"wrote {args.out}")
        if not args.journal and Path(journal).exists():
            Path(journal).unlink()  # everything is in OUT now
    if args.plot:
        _plot_or_error(plot_pareto, result, path=args.plot, title=f"{graph.name}: co-search")
        print(f"wrote {args.plot}")
    return 0 if result.front else 3


# -------------------------------------------------------------------------------------------------------- rl
def _rl_args(p):
    sub = p.add_subparsers(dest="rl_command", metavar="RL_COMMAND")
    pre = sub.add_parser("pretrain", help="pre-train a placement policy with PPO (held-out graphs never seen)",
                         description="pre-train a placement policy with PPO over a graph corpus and packages")
    # the training data's options default to None: resuming, only a value given is checked against the checkpoint's
    pre.add_argument("--corpus", default=None,
                     help="zoo, generated or zoo+generated (default zoo+generated; resuming: the checkpoint's)")
    pre.add_argument("--packages", default=None,
                     help="comma-separated package presets (default ring4,ring8,mesh4x4,port4; resuming: the "
                          "checkpoint's)")
    pre.add_argument("--updates", type=_positive_int, default=None,
                     help="PPO updates in all (default 1000; resuming: the total the run was started with)")
    pre.add_argument("--samples-per-update", type=_positive_int, default=None,
                     help="placements per update (default 64)")
    pre.add_argument("--generated", type=int, default=None,
                     help="generated graphs in the corpus (default 24; resuming: the checkpoint's)")
    pre.add_argument("--hidden", type=_positive_int, default=None, help="policy width (default 64)")
    pre.add_argument("--action", choices=["residual", "absolute"], default=None,
                     help="residual (default, as the shipped policy): per-node moves from the optimal pipeline "
                          "split; absolute: per-node pipeline positions")
    pre.add_argument("--n-deltas", type=_positive_int, default=None,
                     help="residual moves per node (default 5: -2..+2)")
    pre.add_argument("--no-resplit", action="store_true",
                     help="residual: repair moved placements instead of re-cutting the moved order optimally")
    pre.add_argument("--lr", type=_positive_float, default=None, help="learning rate (default 3e-4)")
    pre.add_argument("--epochs", type=_positive_int, default=None, help="PPO epochs per update (default 4)")
    pre.add_argument("--teacher", default=None, help="search method (e.g. dp) whose placement of each corpus "
                                                     "instance seeds the self-imitation memory (default none; "
                                                     "resuming: the checkpoint's)")
    pre.add_argument("--seed", type=int, default=None, help="seed (default 0)")
    pre.add_argument("--device", default=None, help="torch device (cpu, cuda; default cpu)")
    pre.add_argument("--fast-gpu-kernels", action="store_true",
                     help="on a GPU: CUDA's fastest kernels instead of deterministic ones (a run is then not "
                          "bit-reproducible, nor a resume exact)")
    pre.add_argument("--threads", type=_positive_int, default=None,
                     help="native threads of repair/evaluation (default: all allowed CPUs)")
    pre.add_argument("--out", required=True, help="write the policy file here")
    pre.add_argument("--log", help="append JSON lines (one per update) here (resuming: default the checkpoint's)")
    pre.add_argument("--checkpoint", help="write a resumable checkpoint here every 50 updates, at the end and when "
                                          "interrupted (default OUT.ckpt; resuming: the checkpoint's)")
    pre.add_argument("--resume", help="continue from this checkpoint (its hyper-parameters, corpus, packages and "
                                      "teacher are kept: giving other values is an error; a checkpoint from before "
                                      "mcmcore recorded the corpus needs --corpus, --packages and --generated given "
                                      "as its run had them)")
    pre.add_argument("--no-progress", action="store_true", help="no progress bar")


@command("rl", "learned placement: `mcm rl pretrain --corpus zoo+generated --out policy.pt`")
@arguments(_rl_args)
def cmd_rl(args) -> int:
    if args.rl_command != "pretrain":
        print("usage: mcm rl pretrain --out policy.pt [options]", file=sys.stderr)
        return 2
    try:
        from mcmcore.rl import PolicyConfig, PPOConfig, pretrain
    except ImportError as exc:
        raise MCMError(f"mcm rl needs the rl extra (pip install 'mcmcore[rl]'): {exc}") from None
    saved = {}
    packages = None if args.packages is None else [s for s in args.packages.split(",") if s]
    data = {"corpus": args.corpus, "packages": packages, "n_generated": args.generated, "teacher": args.teacher}
    if args.resume:
        from mcmcore.rl.ppo import load_checkpoint
        from mcmcore.rl.pretrain import resume_training_data

        try:
            state = load_checkpoint(args.resume)
            # the corpus and packages given (None: not given) must be the checkpoint's; pretrain() uses its
            resume_training_data(state, args.resume, **data, names={"corpus": "--corpus", "packages": "--packages",
                                                                    "n_generated": "--generated",
                                                                    "teacher": "--teacher"})
        except ValueError as exc:
            raise MCMError(str(exc)) from None
        saved = state["config"]

    # the hyper-parameters given on the command line; the rest are the checkpoint's (resuming) or the defaults
    given = {"seed": args.seed, "samples_per_update": args.samples_per_update, "lr": args.lr, "epochs": args.epochs}
    given_policy = {"hidden": args.hidden, "action": args.action, "n_deltas": args.n_deltas,
                    "resplit": False if args.no_resplit else None}
    given, given_policy = ({k: v for k, v in d.items() if v is not None} for d in (given, given_policy))
    if saved:  # a resumed run keeps its hyper-parameters: a different value given is a mistake, not a wish
        for key, value, old in [(k, v, saved.get(k)) for k, v in given.items()] + \
                [(k, v, saved["policy"].get(k)) for k, v in given_policy.items()]:
            if value != old:
                raise MCMError(f"--{key.replace('_', '-')} {value} differs from the checkpoint's {old}: a resumed run "
                               f"keeps its hyper-parameters")
    policy = {**(saved.get("policy") or {"resplit": True}), **given_policy}
    policy["resplit"] = policy["resplit"] and policy.get("action", "residual") == "residual"
    checkpoint = args.checkpoint or saved.get("checkpoint_path") or f"{args.out}.ckpt"
    hyper = {k: saved[k] for k in ("seed", "samples_per_update", "lr", "epochs") if k in saved}
    config = PPOConfig(**{**hyper, **given}, device=args.device or saved.get("device", "cpu"),
                       deterministic=not args.fast_gpu_kernels,
                       log_path=args.log or saved.get("log_path"), checkpoint_path=checkpoint, checkpoint_every=50,
                       progress=not args.no_progress, policy=PolicyConfig(**policy))
    try:
        trainer = pretrain(args.corpus, packages=packages, updates=args.updates, n_generated=args.generated,
                           config=config, out=args.out, resume=args.resume, n_threads=args.threads,
                           teacher=args.teacher)
    except ValueError as exc:
        raise MCMError(str(exc)) from None
    except KeyboardInterrupt:
        print(f"mcm rl pretrain: interrupted; the checkpoint {checkpoint} holds the last finished update (the policy "
              f"so far is in {args.out}): continue with --resume {checkpoint}", file=sys.stderr)
        return 130
    print(f"pre-trained {trainer.updates} updates ({trainer.samples:,} samples); wrote {args.out}")
    return 0


# ------------------------------------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcm", description="mcmcore: partition and place ML graphs onto multi-chip modules.")
    parser.add_argument("--version", action="version", version=f"mcmcore {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add, _run) in COMMANDS.items():
        add(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def _version() -> str:
    from mcmcore import __version__

    return __version__


def _terminate_as_interrupt():
    """Make SIGTERM (``kill``, a batch scheduler, ``timeout``) behave as Ctrl-C: every command keeps what it has
    finished. Returns the previous handler (None when not in the main thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, handler)


#: options that name a file a command writes: checked before any work, so a long run does not fail at its end
OUTPUT_OPTIONS = ("out", "plot", "output", "package_output", "log", "checkpoint", "journal", "json_out")


def check_output_path(path: str, option: str) -> None:
    """MCMError when ``path`` cannot be written: a folder, or in a folder that does not exist or is read-only."""
    p = Path(path)
    if p.is_dir():
        raise MCMError(f"--{option.replace('_', '-')} {path}: is a folder, not a file")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise MCMError(f"--{option.replace('_', '-')} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise MCMError(f"--{option.replace('_', '-')} {path}: cannot write in {folder}")


def main(argv: list[str] | None = None) -> int:
    import signal

    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    previous = _terminate_as_interrupt()
    try:
        for option in OUTPUT_OPTIONS:
            value = getattr(args, option, None)
            if isinstance(value, str):
                check_output_path(value, option)
        return COMMANDS[args.command][2](args) or 0
    except MCMError as exc:
        print(f"mcm {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`mcm info g.json | head`): stop quietly, as Unix tools do
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        except (OSError, ValueError):  # stdout without a file descriptor (captured)
            pass
        return 141
    except OSError as exc:  # a file that cannot be read or written (the message names it)
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"mcm {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mcm {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

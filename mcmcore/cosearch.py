"""Architecture co-search (PHAZE-style): package designs and their placements, under an area budget.

A *design space* (a dict, or a YAML / JSON file) lists the values of each design parameter; a design is one
value of each. Scalars are fixed::

    chiplets: [2, 4, 8]            # chiplet count
    topology: [ring, mesh]         # mesh: the most square rows x cols with rows <= cols
    tensor_units: [2, 4]           # tensor units per chiplet
    array: [[16, 16], [32, 32]]    # systolic array shape of a tensor unit (MACs = rows x cols)
    clock_ghz: 1.0                 # peak FLOP/s = 2 x tensor_units x rows x cols x clock
    sram_mib: [128, 256]           # SRAM per chiplet (MiB)
    link_gbps: [50, 100]           # bandwidth of each directed link (GB/s)
    mem_bw: 1.0e+12                # on-chip SRAM bandwidth per chiplet (bytes/s)
    hop_latency: 2.0e-8            # seconds per hop
    micro_batch: [1, 2, 4]         # samples per pipeline micro-batch
    activations: [stash, recompute]  # training graphs only
    area_budget_mm2: 600           # optional total-area budget
    area_model: {mm2_per_mac: 0.0015}  # optional overrides of AreaModel

Every listed field needs at least one value. Counts are positive integers with upper bounds that keep a design
tractable (:data:`LIMITS`): ``chiplets`` <= 1024 (a package keeps K x K routing tables and every search scans
K devices per move), ``tensor_units`` <= 4096, each ``array``
side <= 4096 and ``micro_batch`` <= 2^20. Other numbers are positive and finite; ``area_model`` fields are finite
and >= 0, and a chiplet must have some area (not all of ``mm2_per_chiplet``, ``mm2_per_mac`` and
``mm2_per_mib_sram`` zero).

How a design changes the workload (graph transforms; the core is untouched):

- ``micro_batch`` b: per micro-batch the FLOPs, the activation traffic (``mem_bytes`` beyond ``weight_bytes``),
  the output sizes and any given latencies / comm times scale by b; weights do not. Throughput is
  ``b / interval`` samples per second.
- ``activations`` (training graphs, i.e. with ``backward`` nodes): ``stash`` keeps each forward node's output on
  its device until its backward node runs, so its ``out_bytes`` are added to its ``weight_bytes`` (the memory the
  capacity constraint counts); ``recompute`` stores nothing and instead adds the forward node's FLOPs and memory
  traffic to its backward node (paired by name ``x`` / ``x_grad``, as :func:`mcmcore.zoo.training_graph` builds
  them, else by a shared color). For a forward-only graph only ``stash`` is used.

Every design's best placement comes from :func:`mcmcore.partition` with a small budget (``max_evals_per_design``
is reproducible; ``max_seconds_per_design`` is not), and the result is the Pareto front of throughput against
area with every point's package spec and placement.
"""
from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mcmcore._checks import is_int, is_real
from mcmcore._json import dumps
from mcmcore.errors import InfeasibleError, MCMError
from mcmcore.graph import Graph
from mcmcore.package import MiB, Package
from mcmcore.sweep import canonical_json

__all__ = ["cosearch", "AreaModel", "DesignPoint", "CosearchResult", "load_space", "designs", "design_area",
           "design_package", "design_graph", "pareto_front", "plot_pareto", "journal_size", "SpaceError",
           "JournalError"]


class SpaceError(MCMError, ValueError):
    """A design space that cannot be enumerated (the message names the field and the value)."""


class JournalError(MCMError, ValueError):
    """A journal that cannot be used: a folder, unreadable, or a file that is not a co-search journal."""


#: upper bounds of the integer design parameters (``array``: each side); see the module docstring
LIMITS: dict[str, int] = {"chiplets": 1024, "tensor_units": 4096, "array": 4096, "micro_batch": 2 ** 20}


@dataclass(frozen=True)
class AreaModel:
    """Silicon area of a design, in mm^2. Rough 7 nm-class figures, meant to be overridden with your own.

    area = chiplets x (mm2_per_chiplet + MACs x mm2_per_mac + SRAM MiB x mm2_per_mib_sram)
           + directed links x (mm2_per_link + GB/s x mm2_per_link_gbps)
    """

    mm2_per_mac: float = 0.0015
    """One multiply-accumulate unit of a tensor array (bf16, with its pipeline registers and operand buffers)."""
    mm2_per_mib_sram: float = 0.5
    """One MiB of on-chip SRAM with its periphery (about 2 MiB/mm^2 macro density)."""
    mm2_per_link: float = 0.3
    """Fixed cost of one directed die-to-die link (PHY, serialiser, controller), counted at its source."""
    mm2_per_link_gbps: float = 0.004
    """Extra area per GB/s of a directed link's bandwidth (more lanes / wider bumps)."""
    mm2_per_chiplet: float = 4.0
    """Per-chiplet overhead: control, clocking, test, host interface."""

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not (is_real(v) and math.isfinite(float(v)) and v >= 0):
                raise SpaceError(f"area_model field {f.name} must be a finite number >= 0 (mm^2), got {v!r}")
        if self.mm2_per_chiplet == self.mm2_per_mac == self.mm2_per_mib_sram == 0:
            raise SpaceError("area_model: mm2_per_chiplet, mm2_per_mac and mm2_per_mib_sram are all 0, so a chiplet "
                             "would have no area; make at least one positive")

    def area(self, design: Mapping[str, Any]) -> float:
        """Total area (mm^2) of a design (see :func:`designs` for its keys)."""
        n = int(design["chiplets"])
        macs = int(design["tensor_units"]) * int(design["array"][0]) * int(design["array"][1])
        per_chiplet = self.mm2_per_chiplet + macs * self.mm2_per_mac + float(design["sram_mib"]) * self.mm2_per_mib_sram
        links = _n_directed_links(design["topology"], n)
        return n * per_chiplet + links * (self.mm2_per_link + float(design["link_gbps"]) * self.mm2_per_link_gbps)


#: parameter -> default when the space does not name it
_DEFAULTS: dict[str, Any] = {"chiplets": 4, "topology": "ring", "tensor_units": 4, "array": [32, 32],
                             "clock_ghz": 1.0, "sram_mib": 256, "link_gbps": 100, "mem_bw": 1.0e12,
                             "hop_latency": 2.0e-8, "micro_batch": 1, "activations": "stash"}
_OTHER_KEYS = {"area_budget_mm2", "area_model", "name", "description"}


def _mesh_shape(n: int) -> tuple[int, int]:
    rows = int(math.isqrt(n))
    while n % rows:
        rows -= 1
    return rows, n // rows


def _n_directed_links(topology: str, n: int) -> int:
    if n <= 1:
        return 0
    if topology == "ring":
        return 2 if n == 2 else 2 * n
    rows, cols = _mesh_shape(n)
    return 2 * (rows * (cols - 1) + cols * (rows - 1))


def load_space(space: Any) -> dict:
    """A design-space dict from a dict or a YAML / JSON file."""
    if isinstance(space, Mapping):
        return dict(space)
    path = Path(space)
    if not path.is_file():
        raise SpaceError(f"design space {str(space)!r} is not a file (nor a dict)")
    try:
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
        else:
            import yaml

            doc = yaml.safe_load(path.read_text())
    except Exception as exc:
        raise SpaceError(f"{path}: not a valid design space file ({exc})") from None
    if not isinstance(doc, dict):
        raise SpaceError(f"{path}: a design space is a mapping, got {type(doc).__name__}")
    return doc


def _values(space: dict, key: str) -> list:
    v = space.get(key, _DEFAULTS[key])
    if isinstance(v, list) and not v:
        raise SpaceError(f"design parameter {key!r} has no values (an empty list)")
    if key == "array":  # one shape [r, c] or a list of shapes
        if isinstance(v, list) and not isinstance(v[0], list):
            v = [v]
        limit = LIMITS["array"]
        for a in v if isinstance(v, list) else [v]:
            if not (isinstance(a, list) and len(a) == 2 and all(is_int(x) and 1 <= x <= limit for x in a)):
                raise SpaceError(f"array must be [rows, cols] (integers in 1..{limit}) or a list of them, "
                                 f"got {space.get(key)!r}")
        return [[int(x) for x in a] for a in v]
    v = v if isinstance(v, list) else [v]
    for x in v:
        if key == "topology" and x not in ("ring", "mesh"):
            raise SpaceError(f"topology must be 'ring' or 'mesh', got {x!r}")
        elif key == "activations" and x not in ("stash", "recompute"):
            raise SpaceError(f"activations must be 'stash' or 'recompute', got {x!r}")
        elif key in LIMITS and not (is_int(x) and 1 <= x <= LIMITS[key]):
            raise SpaceError(f"{key} must be integers in 1..{LIMITS[key]}, got {x!r}")
        elif key not in ("topology", "activations") and not (is_real(x) and math.isfinite(float(x)) and x > 0):
            raise SpaceError(f"{key} must be positive, finite numbers, got {x!r}")
    return [int(x) if key in LIMITS else x for x in v]


def designs(space: Any, *, training: bool = True) -> list[dict]:
    """Every design of a space (the product of its values), in a deterministic order.

    With ``training=False`` the ``activations`` axis collapses to ``stash`` (it only matters with backward nodes).
    """
    space = load_space(space)
    unknown = set(space) - set(_DEFAULTS) - _OTHER_KEYS
    if unknown:
        raise SpaceError(f"unknown design-space field(s): {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(sorted(set(_DEFAULTS) | _OTHER_KEYS))})")
    keys = list(_DEFAULTS)
    axes = [_values(space, k) for k in keys]
    if not training:
        axes[keys.index("activations")] = ["stash"]
    out, seen = [], set()
    for combo in itertools.product(*axes):
        d = dict(zip(keys, combo))
        if d["chiplets"] == 1:
            d["topology"] = "ring"  # one chiplet has no interconnect: the topologies coincide
        key = json.dumps(d, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def area_model_of(space: Any) -> AreaModel:
    """The space's area model: :class:`AreaModel` with the space's ``area_model`` overrides."""
    over = load_space(space).get("area_model")
    if over is None:
        return AreaModel()
    if not isinstance(over, Mapping):
        raise SpaceError(f"area_model must be a mapping of AreaModel fields (e.g. {{mm2_per_mac: 0.0015}}), "
                         f"got {over!r}")
    names = {f.name for f in fields(AreaModel)}
    bad = set(map(str, over)) - names
    if bad:
        raise SpaceError(f"unknown area_model field(s): {', '.join(sorted(bad))} (known: {', '.join(sorted(names))})")
    for k, v in over.items():
        if not (is_real(v) and math.isfinite(float(v)) and v >= 0):
            raise SpaceError(f"area_model field {k} must be a finite number >= 0 (mm^2), got {v!r}")
    return AreaModel(**{k: float(v) for k, v in over.items()})


def design_area(design: Mapping[str, Any], area_model: AreaModel | None = None) -> float:
    return (area_model or AreaModel()).area(design)


def design_package(design: Mapping[str, Any]) -> Package:
    """The package of a design."""
    n = int(design["chiplets"])
    peak = 2.0 * design["tensor_units"] * design["array"][0] * design["array"][1] * design["clock_ghz"] * 1e9
    common = dict(peak_flops=peak, mem_bw=float(design["mem_bw"]), sram_bytes=float(design["sram_mib"]) * MiB)
    bw = float(design["link_gbps"]) * 1e9
    if design["topology"] == "mesh" and n > 1:
        rows, cols = _mesh_shape(n)
        return Package.mesh(rows, cols, link_bandwidth=bw, hop_latency=design["hop_latency"], **common)
    return Package.ring(n, link_bandwidth=bw, hop_latency=design["hop_latency"], **common)


def _backward_pairs(graph: Graph) -> np.ndarray:
    """For each backward node, its forward node (-1 when none is found)."""
    n = graph.n_nodes
    pair = np.full(n, -1, dtype=np.int64)
    if graph.backward is None:
        return pair
    names = graph.names
    index = {nm: i for i, nm in enumerate(names)}
    bwd = np.asarray(graph.backward, dtype=bool)
    color = None if graph.color is None else np.asarray(graph.color)
    for i in np.flatnonzero(bwd):
        f = index.get(names[i][:-5], -1) if names[i].endswith("_grad") else -1
        if f < 0 and color is not None and color[i] >= 0:
            same = np.flatnonzero((color == color[i]) & ~bwd)
            f = int(same[0]) if len(same) == 1 else -1
        pair[i] = f
    return pair


def design_graph(graph: Graph, design: Mapping[str, Any]) -> Graph:
    """The workload of ``graph`` under a design's micro-batch size and activation policy (module docstring)."""
    b = float(design.get("micro_batch", 1))
    act = design.get("activations", "stash")
    training = graph.backward is not None and bool(np.any(graph.backward))
    if b == 1 and not training:
        return graph
    flops = graph.flops * b
    weights = np.asarray(graph.weight_bytes, dtype=np.float64)
    mem = np.minimum(graph.mem_bytes, weights) + b * np.maximum(graph.mem_bytes - weights, 0.0)
    out = graph.out_bytes * b
    weight_bytes = weights.copy()
    if training:
        bwd = np.asarray(graph.backward, dtype=bool)
        if act == "stash":
            weight_bytes[~bwd] += out[~bwd]
        else:
            pair = _backward_pairs(graph)
            has = pair >= 0
            flops = flops.copy()
            mem = mem.copy()
            flops[has] += flops[pair[has]]
            mem[has] += mem[pair[has]]
    kw: dict[str, Any] = {}
    for name in ("latency", "comm_time"):
        v = getattr(graph, name)
        if v is not None:
            kw[name] = np.asarray(v) * b
    for name in ("supported", "color", "pin", "backward"):
        v = getattr(graph, name)
        if v is not None:
            kw[name] = v
    label = f"{graph.name or 'graph'}[mb={int(b)}{',' + act if training else ''}]"
    return Graph.from_edges(graph.n_nodes, graph.edges, flops=flops, mem_bytes=mem, weight_bytes=weight_bytes,
                            out_bytes=out, names=list(graph.names), ops=list(graph.ops), name=label, **kw)


# ------------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class DesignPoint:
    """One evaluated design.

    Attributes
    ----------
    design : dict
        The parameter values.
    area_mm2 : float
    status : str
        ``optimal`` / ``feasible`` (a valid placement), ``no_solution`` (none found in the budget),
        ``infeasible`` (proven: e.g. the weights do not fit in the SRAM).
    interval : float or None
        Seconds per micro-batch of the best placement (the objective value for ``objective="latency"``).
    throughput : float
        Samples per second (``micro_batch / interval``); 0 without a valid placement.
    package : dict
        The package spec (:meth:`Package.to_spec`).
    placement : list of int or None
    evals : int
    """

    design: dict
    area_mm2: float
    status: str
    interval: float | None
    throughput: float
    package: dict
    placement: list | None
    evals: int = 0

    @property
    def valid(self) -> bool:
        return self.placement is not None


@dataclass(frozen=True)
class CosearchResult:
    """The outcome of :func:`cosearch`.

    Attributes
    ----------
    points : tuple of DesignPoint
        Every evaluated design, in enumeration order.
    front : tuple of DesignPoint
        The Pareto front (no other valid design has at most the area and more throughput), by area.
    best : DesignPoint or None
        The valid design with the best objective (ties: the smaller area).
    objective : str
    area_budget_mm2 : float or None
    n_designs : int
        Designs in the space; ``n_over_budget`` of them exceed the area budget and are not evaluated.
    n_over_budget : int
    seconds : float
    area_model : AreaModel
    """

    points: tuple
    front: tuple
    best: DesignPoint | None
    objective: str
    area_budget_mm2: float | None
    n_designs: int
    n_over_budget: int
    seconds: float
    area_model: AreaModel = field(default_factory=AreaModel)

    def to_dict(self) -> dict:
        return {"format": "mcmcore-cosearch", "version": 1, "objective": self.objective,
                "area_budget_mm2": self.area_budget_mm2, "n_designs": self.n_designs,
                "n_over_budget": self.n_over_budget, "seconds": self.seconds, "area_model": asdict(self.area_model),
                "points": [asdict(p) for p in self.points],
                "front": [self.points.index(p) for p in self.front],
                "best": None if self.best is None else self.points.index(self.best)}

    def save(self, path) -> None:
        Path(path).write_text(dumps(self.to_dict(), indent=1))

    def __str__(self) -> str:
        lines = [f"{len(self.points)} designs evaluated ({self.n_over_budget} of {self.n_designs} over the area "
                 f"budget) in {self.seconds:.1f} s; Pareto front:"]
        for p in self.front:
            lines.append(f"  {p.area_mm2:9.1f} mm^2  {p.throughput:12.1f} samples/s  {_design_label(p.design)}")
        return "\n".join(lines)


def _design_label(d: Mapping[str, Any]) -> str:
    return (f"{d['chiplets']}x {d['topology']}, {d['tensor_units']}x{d['array'][0]}x{d['array'][1]} MACs @ "
            f"{d['clock_ghz']:g} GHz, {d['sram_mib']:g} MiB, {d['link_gbps']:g} GB/s, mb {d['micro_batch']}, "
            f"{d['activations']}")


def pareto_front(points: Sequence[DesignPoint]) -> list[DesignPoint]:
    """The valid points no other valid point dominates (area <= and throughput >=, one strictly), by area."""
    valid = sorted((p for p in points if p.valid), key=lambda p: (p.area_mm2, -p.throughput))
    front: list[DesignPoint] = []
    best = -math.inf
    for p in valid:
        if p.throughput > best:
            front.append(p)
            best = p.throughput
    return front


def cosearch(graph: Graph, space: Any, *, budget: int | None = None, objective: str = "throughput",
             method: str = "auto", max_evals_per_design: int | None = None,
             max_seconds_per_design: float | None = None, area_budget: float | None = None,
             area_model: AreaModel | None = None, seed: int = 0, progress: bool = True,
             journal=None) -> CosearchResult:
    """Search package designs and placements together; return the Pareto front of throughput against area.

    Parameters
    ----------
    graph : Graph
        A forward or training graph (training: with ``backward`` nodes, e.g. ``zoo.load(name, training=True)``).
    space : dict or path
        The design space (module docstring).
    budget : int, optional
        At most this many designs are evaluated (a seeded random sample of those within the area budget); default
        all of them.
    objective : {"throughput", "latency"}
        What each design's placement search optimises; the front is always throughput against area.
    method : str
        The :func:`mcmcore.partition` method per design.
    max_evals_per_design, max_seconds_per_design : optional
        The search budget of each design; default ``max_evals_per_design=2000`` (reproducible).
    area_budget : float, optional
        Total area in mm^2 (default: the space's ``area_budget_mm2``, else none).
    area_model : AreaModel, optional
        Default: :class:`AreaModel` with the space's ``area_model`` overrides.
    seed : int
        Seeds the design sample and every placement search.
    progress : bool
        A progress bar on stderr.
    journal : path, optional
        A JSON-lines file that keeps every finished design as soon as it is done: a run that is interrupted
        (Ctrl-C: ``KeyboardInterrupt`` propagates; the design being searched is not kept) and started again with
        the same journal and arguments searches only the designs not in it, and returns the same result as an
        uninterrupted run. Lines of other runs (another graph, method, budget, seed or objective) are ignored.
        A last line cut by a kill is cut off the file before anything is appended. A non-empty file that holds
        no design record is refused (``JournalError``) and left untouched.

    Returns
    -------
    CosearchResult

    Raises
    ------
    SpaceError
        An invalid design space.
    JournalError
        ``journal`` is a folder, cannot be read, or is not a co-search journal.
    """
    from mcmcore.search import partition

    t0 = time.perf_counter()
    if objective not in ("throughput", "latency"):
        raise ValueError(f"objective must be 'throughput' or 'latency', got {objective!r}")
    if budget is not None and (not isinstance(budget, int) or budget < 1):
        raise ValueError(f"budget must be a positive integer (designs to evaluate), got {budget!r}")
    if max_evals_per_design is None and max_seconds_per_design is None:
        max_evals_per_design = 2000
    doc = load_space(space)
    model = area_model or area_model_of(doc)
    if area_budget is None:
        area_budget = doc.get("area_budget_mm2")
    if area_budget is not None and not (is_real(area_budget) and math.isfinite(float(area_budget))
                                        and area_budget > 0):
        raise SpaceError(f"area_budget (area_budget_mm2) must be a positive, finite number of mm^2, "
                         f"got {area_budget!r}")
    training = graph.backward is not None and bool(np.any(graph.backward))
    all_designs = designs(doc, training=training)
    within = [d for d in all_designs if area_budget is None or model.area(d) <= area_budget]
    if budget is not None and budget < len(within):
        rng = np.random.default_rng(seed)
        keep = sorted(rng.choice(len(within), size=budget, replace=False).tolist())
        within = [within[i] for i in keep]
    from mcmcore._progress import ProgressBar

    bar = ProgressBar("cosearch", len(within), enabled=progress and bool(within), eta=True)
    graphs: dict[tuple, Graph] = {}
    points = []
    run_key = canonical_json({"graph": graph.digest().hex(), "method": method, "objective": objective,
                               "max_evals": max_evals_per_design, "max_seconds": max_seconds_per_design,
                               "seed": seed, "area_model": asdict(model)})
    done = _read_journal(journal, run_key) if journal is not None else {}
    writer = _Journal(journal, run_key) if journal is not None else None
    try:
        for d in within:
            dkey = canonical_json(d)
            if dkey in done:
                points.append(replace(done[dkey], design=d))
                bar.update(advance=1)
                continue
            key = (d["micro_batch"], d["activations"])
            if key not in graphs:
                graphs[key] = design_graph(graph, d)
            pkg = design_package(d)
            spec = pkg.to_spec()
            try:
                res = partition(graphs[key], pkg, method=method, objective=objective,
                                max_evals=max_evals_per_design, max_seconds=max_seconds_per_design, seed=seed,
                                n_threads=1, progress=False)
            except InfeasibleError:
                point = DesignPoint(d, model.area(d), "infeasible", None, 0.0, spec, None, 0)
            else:
                if res.info.get("interrupted"):  # cut short: not this design's result; the journal keeps the rest
                    raise KeyboardInterrupt
                if res.placement is None:
                    point = DesignPoint(d, model.area(d), res.status.value, None, 0.0, spec, None, res.evals)
                else:
                    interval = float(res.report.interval)
                    point = DesignPoint(d, model.area(d), res.status.value, interval, d["micro_batch"] / interval,
                                        spec, [int(x) for x in res.placement], int(res.evals))
            points.append(point)
            if writer is not None:
                writer.append(dkey, point)
            bar.update(advance=1)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    front = pareto_front(points)
    valid = [p for p in points if p.valid]
    if objective == "throughput":
        best = max(valid, key=lambda p: (p.throughput, -p.area_mm2), default=None)
    else:
        best = min(valid, key=lambda p: (p.interval, p.area_mm2), default=None)
    return CosearchResult(tuple(points), tuple(front), best, objective, area_budget, len(all_designs),
                          len(all_designs) - len([d for d in all_designs if area_budget is None
                                                  or model.area(d) <= area_budget]),
                          time.perf_counter() - t0, model)


JOURNAL_FORMAT = "mcmcore-cosearch-design"


def _journal_problem(rec: Any) -> str | None:
    """Why a journal line is not a design record (None when it is one)."""
    if not isinstance(rec, dict) or rec.get("format") != JOURNAL_FORMAT:
        return f"not a co-search design record (format {JOURNAL_FORMAT!r})"
    if not (isinstance(rec.get("run"), str) and isinstance(rec.get("design_key"), str)
            and isinstance(rec.get("point"), dict)):
        return "a design record needs 'run', 'design_key' and 'point'"
    try:
        DesignPoint(**rec["point"])
    except TypeError as exc:
        return f"its 'point' is not a design point ({exc})"
    return None


def _journal_records(path, *, repair: bool) -> list[dict]:
    """The design records in a journal (every run's), in file order; with ``repair`` a torn last line is cut off
    the file.

    Raises
    ------
    JournalError
        ``path`` is a folder, cannot be read, or is a non-empty file without one design record (some other file,
        given by mistake: it is left untouched).
    """
    from mcmcore.sweep import _read_jsonl  # the same reader (and torn-line repair) as a sweep's results file

    return [rec for _, rec in _read_jsonl(Path(path), check=_journal_problem, repair=repair,
                                          what="co-search journal", error=JournalError,
                                          foreign="is not a co-search journal (no design records); choose another "
                                                  "--journal")]


def _read_journal(path, run_key: str) -> dict[str, DesignPoint]:
    """The finished designs of this run (by canonical design) in a journal. A torn last line (a write cut by a
    kill) is cut off the file, so the next record appended starts a line of its own; lines of other runs, and
    lines that are not design records, are ignored."""
    return {rec["design_key"]: DesignPoint(**rec["point"]) for rec in _journal_records(path, repair=True)
            if rec["run"] == run_key}


def journal_size(path) -> int:
    """Design records (of any run) in a co-search journal; 0 when there is none or it cannot be read. Only
    complete, readable records count: a torn last line is not a finished design."""
    try:
        return len(_journal_records(path, repair=False))
    except (JournalError, OSError):
        return 0


class _Journal:
    """Appends design records to a journal, each one ``os.write`` of the whole line on an O_APPEND descriptor
    followed by fsync (as a sweep's results file), so a kill loses at most the line being written. The file is
    opened at the first record."""

    def __init__(self, path, run_key: str):
        self.path, self.run_key, self.writer = Path(path), run_key, None

    def append(self, design_key: str, point: DesignPoint) -> None:
        from mcmcore.sweep import _Writer

        if self.writer is None:
            self.writer = _Writer(self.path)
        self.writer.write_line((json.dumps({"format": JOURNAL_FORMAT, "run": self.run_key, "design_key": design_key,
                                            "point": asdict(point)}) + "\n").encode())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def plot_pareto(result: CosearchResult, *, path=None, title: str | None = None):
    """Throughput against area: every evaluated design, the Pareto front and the area budget; returns the Figure.

    matplotlib is imported here (``pip install 'mcmcore[plot]'``)."""
    from mcmcore.plot import _figure_class

    Figure = _figure_class()
    fig = Figure(figsize=(7, 4.5), constrained_layout=True)
    ax = fig.subplots()
    valid = [p for p in result.points if p.valid]
    if valid:
        ax.scatter([p.area_mm2 for p in valid], [p.throughput for p in valid], s=14, color="0.6",
                   label=f"designs ({len(valid)} valid)")
    invalid = [p for p in result.points if not p.valid]
    if invalid:
        ax.scatter([p.area_mm2 for p in invalid], [0.0] * len(invalid), s=14, marker="x", color="tab:red",
                   label=f"no valid placement ({len(invalid)})")
    if result.front:
        xs = [p.area_mm2 for p in result.front]
        ys = [p.throughput for p in result.front]
        ax.step(xs, ys, where="post", color="tab:blue")
        ax.scatter(xs, ys, s=30, color="tab:blue", zorder=3, label="Pareto front")
        for p in result.front:
            d = p.design
            ax.annotate(f"{d['chiplets']}{d['topology'][0]} {d['sram_mib']:g}M mb{d['micro_batch']}",
                        (p.area_mm2, p.throughput), textcoords="offset points", xytext=(4, -10), fontsize=6)
    if result.area_budget_mm2 is not None:
        ax.axvline(result.area_budget_mm2, color="tab:red", linestyle="--", linewidth=1, label="area budget")
    ax.set_xlabel("area (mm$^2$)")
    ax.set_ylabel("throughput (samples/s)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax.set_title(title or "co-search: throughput against area")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig

"""Plots of placements and searches (matplotlib, optional: ``pip install 'mcmcore[plot]'``).

Two figures:

- :func:`plot_placement`: the placement on the package (chiplets drawn in their topology and coloured by their
  share of the interval, links drawn by traffic) and along the pipeline (compute and communication per device in
  pipeline order, memory against SRAM).
- :func:`plot_convergence`: best-so-far curves of several searches against seconds or evaluations, with the
  lower bound.

matplotlib is imported inside the functions, so ``import mcmcore.plot`` works without it; figures are drawn with
the Agg backend, never on a display.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from mcmcore._progress import format_seconds
from mcmcore.evaluate import CostReport, evaluate
from mcmcore.graph import Graph
from mcmcore.package import Package

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from mcmcore.search.base import SearchResult

__all__ = ["plot_placement", "plot_convergence", "device_positions", "device_load"]


def _figure_class():
    """matplotlib's Figure, or an ImportError that names the extra to install.

    Figures are made with ``Figure()`` rather than pyplot: they render with the Agg canvas, never open a window,
    leave pyplot's global state (and the user's backend) alone, and are freed when dropped."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: install it with `pip install 'mcmcore[plot]'` "
                          "(or `pip install matplotlib`)") from exc
    return Figure


def _cmap(name: str):
    from matplotlib import colormaps

    return colormaps[name]


def device_positions(package: Package) -> np.ndarray:
    """(K, 2) drawing coordinates of the devices: a grid for mesh / torus (row-major, row 0 at the top), a circle
    in device order for a ring (its links join neighbours), a circle in pipeline order otherwise."""
    k = package.n_devices
    if package.topology in ("mesh", "torus") and package.shape is not None:
        rows, cols = package.shape
        ids = np.arange(k)
        return np.column_stack([ids % cols, -(ids // cols)]).astype(float) * 1.5
    ring_order = np.arange(k) if package.topology == "ring" else np.asarray(package.order)
    # Radius such that neighbours on the circle are about 1.5 apart (the grid spacing).
    radius = 1.0 if k <= 1 else max(1.0, 0.75 / math.sin(math.pi / k))
    pos = np.zeros((k, 2))
    for i, d in enumerate(ring_order):
        angle = math.pi / 2 - 2 * math.pi * i / max(k, 1)
        pos[int(d)] = (radius * math.cos(angle), radius * math.sin(angle))
    return pos


def device_load(report: CostReport) -> np.ndarray:
    """Per device, the time it contributes to the interval: compute + comm in the port model without overlap,
    max(compute, comm) otherwise (the links model has no per-device communication)."""
    if report.interconnect == "port" and not report.overlap:
        return report.compute + report.comm
    return np.maximum(report.compute, report.comm)


def _resolve_placement(graph: Graph, package: Package, placement_or_result, constraints, overlap) -> CostReport:
    report = getattr(placement_or_result, "report", None)
    if report is not None and constraints is None and overlap is None:
        return report
    placement = getattr(placement_or_result, "placement", placement_or_result)
    if placement is None:
        raise ValueError("the search result has no placement to plot (status "
                         f"{getattr(placement_or_result, 'status', None)})")
    return evaluate(graph, package, placement, constraints=constraints, overlap=overlap)


def _fmt_seconds(s: float) -> str:
    return format_seconds(s, digits=3)


def plot_placement(graph: Graph, package: Package, placement_or_result, *, path=None, ax=None,
                   constraints=None, overlap: bool | None = None, title: str | None = None) -> "Figure":
    """Draw a placement on its package and along the pipeline.

    Parameters
    ----------
    graph, package : Graph, Package
    placement_or_result : array-like of int or SearchResult
        The placement (node -> device), or a search result (its report is reused).
    path : str or Path, optional
        Write the figure here (PNG, or any format matplotlib infers from the suffix).
    ax : Axes or pair of Axes, optional
        Draw into these: one Axes gets the package panel only, a pair gets the package and the pipeline panels.
        Without it a new figure with both panels is made.
    constraints, overlap : optional
        Passed to :func:`mcmcore.evaluate` (a result's own report is used when neither is given).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        When matplotlib is not installed (``pip install 'mcmcore[plot]'``).
    """
    Figure = _figure_class()
    report = _resolve_placement(graph, package, placement_or_result, constraints, overlap)
    if ax is None:
        fig = Figure(figsize=(13, 5.5), layout="constrained")
        ax_pkg, ax_pipe = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1.0]})
    elif isinstance(ax, (list, tuple, np.ndarray)):
        ax_pkg, ax_pipe = ax[0], ax[1]
        fig = ax_pkg.figure
    else:
        ax_pkg, ax_pipe = ax, None
        fig = ax.figure
    _draw_package(fig, ax_pkg, package, report)
    if ax_pipe is not None:
        _draw_pipeline(ax_pipe, package, report)
    head = title if title is not None else (graph.name or "placement")
    state = "valid" if report.valid else "INVALID"
    fig.suptitle(f"{head}: interval {_fmt_seconds(report.interval)} ({report.throughput:.4g}/s), {state}, "
                 f"bottleneck {report.bottleneck}", fontsize=11)
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def _draw_package(fig, ax, package: Package, report: CostReport) -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    pos = device_positions(package)
    interval = report.interval if report.interval > 0 else 1.0
    share = device_load(report) / interval
    cmap = _cmap("YlOrRd")
    norm = Normalize(0.0, 1.0)
    half = 0.5
    grid = package.topology in ("mesh", "torus")

    # Links first, under the chiplets. Width and colour by link time relative to the interval.
    if package.n_links:
        max_traffic = float(report.traffic.max()) if report.traffic.size else 0.0
        link_cmap = _cmap("Blues")
        for l in range(package.n_links):
            s, d = int(package.link_src[l]), int(package.link_dst[l])
            p, q = pos[s], pos[d]
            vec = q - p
            dist = float(np.hypot(*vec))
            if dist == 0:
                continue
            # Offset the two directions of a link to either side; non-neighbours (torus wrap, full) curve.
            normal = np.array([-vec[1], vec[0]]) / dist * 0.12
            far = dist > 1.6
            traffic = float(report.traffic[l])
            if traffic > 0:
                width = 0.8 + 4.0 * traffic / max_traffic
                colour = link_cmap(0.35 + 0.65 * min(1.0, float(report.link_time[l]) / interval))
                z = 2
            else:
                width, colour, z = 0.5, "0.8", 1
            # End the arrow at the chiplet's edge (data units, so it scales with the layout).
            trim = vec / dist * (half + 0.08)
            arrow = FancyArrowPatch(tuple(p + trim + normal), tuple(q - trim + normal), arrowstyle="-|>",
                                    mutation_scale=8 + 2 * width, linewidth=width, color=colour, zorder=z,
                                    shrinkA=0, shrinkB=0, connectionstyle=f"arc3,rad={0.35 if far else 0.0}")
            ax.add_patch(arrow)
    else:  # port model: no topology, show the pipeline order instead
        order = [int(k) for k in package.order]
        for a, b in zip(order, order[1:]):
            vec = pos[b] - pos[a]
            trim = vec / max(float(np.hypot(*vec)), 1e-9) * (half + 0.08)
            ax.add_patch(FancyArrowPatch(tuple(pos[a] + trim), tuple(pos[b] - trim), arrowstyle="-|>",
                                         mutation_scale=10, linestyle="--", linewidth=0.8, color="0.6", zorder=1,
                                         shrinkA=0, shrinkB=0))

    font = 8 if package.n_devices <= 16 else 6
    for k in range(package.n_devices):
        x, y = pos[k]
        used = report.node_count[k] > 0
        face = cmap(norm(share[k])) if used else "0.92"
        over = report.memory[k] > package.sram_bytes[k]
        style = dict(facecolor=face, edgecolor="red" if over else "0.25", linewidth=2.0 if over else 1.0, zorder=3)
        if grid:
            box = FancyBboxPatch((x - half, y - half), 2 * half, 2 * half,
                                 boxstyle="round,pad=0.0,rounding_size=0.12", **style)
        else:
            box = Circle((x, y), half, **style)
        ax.add_patch(box)
        label = f"{k}\n{int(report.node_count[k])} ops"
        if used:
            label += f"\n{100 * share[k]:.0f}%"
        ax.text(x, y, label, ha="center", va="center", fontsize=font, zorder=4,
                color="white" if used and share[k] > 0.75 else "black")
    ax.set_aspect("equal")
    lo, hi = pos.min(axis=0) - 1.0, pos.max(axis=0) + 1.0
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_xticks([])
    ax.set_yticks([])
    where = f"{package.shape[0]}x{package.shape[1]} " if grid else ""
    ax.set_title(f"package: {package.name or ''} {where}{package.topology}, {package.n_devices} devices".replace(
        "  ", " "), fontsize=10)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.7,
                 label="device load / interval" + (" (links: arrow width = traffic)" if package.n_links else ""))


def _draw_pipeline(ax, package: Package, report: CostReport) -> None:
    order = [int(k) for k in package.order]
    x = np.arange(len(order))
    compute = report.compute[order]
    comm = report.comm[order]
    ax.bar(x, compute, color="#4C72B0", label="compute")
    if report.comm.any():  # the links model has no per-device communication: its cost is on the links
        ax.bar(x, comm, bottom=compute, color="#DD8452", label="communication")
    top = max(float(np.max(compute + comm, initial=0.0)), report.interval)
    if report.interval > 0:
        ax.axhline(report.interval, color="0.2", linestyle="--", linewidth=1, label="interval")
    ax.set_ylim(0, 1.3 * top if top > 0 else 1.0)  # headroom for the legend
    ax.set_xticks(x)
    ax.set_xticklabels([str(k) for k in order], fontsize=8 if len(order) <= 16 else 6)
    ax.set_xlabel("device, in pipeline order")
    ax.set_ylabel("seconds per sample")
    ax.set_title("along the pipeline", fontsize=10)

    # Memory as a share of SRAM on a second axis; devices without a capacity limit are left out.
    sram = package.sram_bytes[order]
    finite = np.isfinite(sram) & (sram > 0)
    mem_share = np.full(len(order), np.nan)
    mem_share[finite] = report.memory[order][finite] / sram[finite]
    twin = ax.twinx()
    over = mem_share > 1.0
    twin.scatter(x[~over], mem_share[~over], marker="D", s=18, color="#55A868", zorder=5, label="memory / SRAM")
    if over.any():
        twin.scatter(x[over], mem_share[over], marker="D", s=24, color="red", zorder=5, label="over SRAM")
    twin.axhline(1.0, color="#55A868", linestyle=":", linewidth=1, label="SRAM size")
    mem_top = float(np.nanmax(mem_share)) if finite.any() else 1.0
    # A different scale from the time axis, so the SRAM line does not sit on the interval line.
    twin.set_ylim(0, 1.6 * max(1.0, mem_top if math.isfinite(mem_top) else 1.0))
    twin.set_ylabel("memory / SRAM")
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, fontsize=8, loc="upper left", ncol=3)


def _label_results(results) -> list[tuple[str, Any]]:
    if isinstance(results, Mapping):
        return [(str(k), v) for k, v in results.items()]
    results = list(results)
    methods = [r.method for r in results]
    return [(r.method if methods.count(r.method) == 1 else f"{r.method} (seed {r.seed})", r) for r in results]


def plot_convergence(results: "Mapping[str, SearchResult] | Sequence[SearchResult]", path=None, *,
                     x: str = "seconds", ax=None, title: str | None = None) -> "Figure":
    """Best-so-far curves of several searches on one instance.

    Parameters
    ----------
    results : dict of label -> SearchResult, or a list of SearchResult (labelled by method, and seed when a
        method repeats)
    path : str or Path, optional
        Write the figure here (PNG).
    x : {"seconds", "evals"}
        Horizontal axis (logarithmic).
    ax : Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        When matplotlib is not installed (``pip install 'mcmcore[plot]'``).
    """
    if x not in ("seconds", "evals"):
        raise ValueError(f"x must be 'seconds' or 'evals', got {x!r}")
    Figure = _figure_class()
    labelled = _label_results(results)
    if ax is None:
        fig = Figure(figsize=(8, 5), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    bound = 0.0
    objective = None
    floor = 1e-6 if x == "seconds" else 1.0  # log axis: nothing at 0
    for label, r in labelled:
        objective = objective or r.objective
        bound = max(bound, float(r.lower_bound or 0.0))
        h = r.history
        xs = np.asarray(h.seconds if x == "seconds" else h.evals, dtype=float)
        ys = np.asarray(h.best, dtype=float)
        if ys.size == 0:
            ax.plot([], [], label=f"{label} (no solution)")
            continue
        end = float(r.seconds if x == "seconds" else r.evals)
        xs = np.maximum(np.r_[xs, max(end, xs[-1])], floor)
        ys = np.r_[ys, ys[-1]]
        ax.step(xs, ys, where="post", label=f"{label}: {ys[-1]:.4g} s", linewidth=1.5)
        ax.plot(xs[:1], ys[:1], marker="o", markersize=3, color=ax.lines[-1].get_color())
    if bound > 0:
        ax.axhline(bound, color="0.3", linestyle="--", linewidth=1, label=f"lower bound {bound:.4g} s")
    ax.set_xscale("log")
    ax.set_xlabel("seconds" if x == "seconds" else "evaluations")
    ax.set_ylabel(f"best {'latency' if objective == 'latency' else 'interval'} (s)")
    ax.set_title(title or "convergence", fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig

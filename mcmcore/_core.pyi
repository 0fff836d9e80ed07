"""Type stubs of the compiled binding ``mcmcore._core`` (mcmcore/_core.pyx). Private: use mcmcore's public API.

Array arguments are C-contiguous buffers of the stated dtype (the binding takes typed memoryviews and rejects
anything else, so pass ``np.ascontiguousarray(a, dtype=...)``). Arrays that come back are new numpy arrays.
"""
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from typing_extensions import Self, disjoint_base

from mcmcore.graph import Graph
from mcmcore.package import Package

_I32 = npt.NDArray[np.int32]
_I64 = npt.NDArray[np.int64]
_F64 = npt.NDArray[np.float64]

#: Number of violation counters (csrc/mcm.h, MCM_N_VIOLATIONS); their names are mcmcore.VIOLATION_NAMES.
N_VIOLATIONS: Final[int]
#: Topology name -> the core's MCM_TOPO_* code.
TOPOLOGY_CODES: Final[dict[str, int]]
#: Resolved dataflow constraint (None, "ordered", "acyclic") -> the core's MCM_DATAFLOW_* code.
DATAFLOW_CODES: Final[dict[str | None, int]]

class CoreError(RuntimeError):
    """An unexpected status from the C core (out of memory, or a broken invariant)."""

def derive_graph(succ_ptr: _I32, succ_idx: _I32) -> tuple[_I32, _I32, _I32, _I32 | None]:
    """``(pred_ptr, pred_idx, topo, cycle)`` of a successor CSR; ``cycle`` is None for a DAG, else the node ids of
    one cycle in edge order (and ``topo`` is meaningless)."""

def routes(topology: str, n_devices: int, rows: int, cols: int, link_src: _I32, link_dst: _I32,
           link_bw: _F64) -> tuple[_I32, _I32, _F64]:
    """Routing tables ``(next_link, hops, route_bw)``, each (K, K). Raises ValueError on a missing route and
    KeyError on a topology not in TOPOLOGY_CODES."""

#: ``(capacity, dataflow, max_skip, colors, pins, support, all_used)``, dataflow resolved (Constraints.as_tuple).
_ConstraintTuple = tuple[bool, str | None, int | None, bool, bool, bool, bool]

# cdef classes: built by __cinit__ (so typed as __new__), and no subclass can share a layout with another.
@disjoint_base
class Problem:
    """A graph, a package, constraints and the overlap switch bound to the C core.

    Raises ValueError when the graph and the package do not fit together (a pin or a latency kind beyond the
    package, a missing routing table, a non-positive port bandwidth).
    """

    @property
    def graph(self) -> Graph: ...
    @property
    def package(self) -> Package: ...
    @property
    def n_nodes(self) -> int: ...
    @property
    def n_devices(self) -> int: ...
    @property
    def n_links(self) -> int: ...
    @property
    def overlap(self) -> bool: ...
    def __new__(cls, graph: Graph, package: Package, constraints: _ConstraintTuple, overlap: bool) -> Self: ...
    def evaluate(self, placement: _I32, latency: bool = True, schedule: bool = False) -> dict[str, Any]:
        """One placement; a dict with ``interval``, ``latency`` (float), ``violations`` (int64, N_VIOLATIONS),
        ``compute``, ``comm``, ``memory`` (float64, K), ``node_count`` (int32, K), ``traffic``, ``link_time``
        (float64, n_links) and ``start``, ``finish`` (float64, n_nodes, or None without ``schedule``).
        Raises ValueError on a wrong length or a device outside the package."""
    def evaluate_batch(self, placements: npt.NDArray[np.int32], n_threads: int = 1, latency: bool = False,
                       violations: bool = True) -> tuple[_F64, _F64 | None, _I64 | None]:
        """A (B, n_nodes) batch without the GIL: ``(interval (B,), latency (B,) or None,
        violations (B, N_VIOLATIONS) or None)``."""

@disjoint_base
class Incremental:
    """Incremental evaluator of single-node moves over a Problem, with one level of undo."""

    @property
    def problem(self) -> Problem: ...
    def __new__(cls, problem: Problem, placement: _I32) -> Self: ...
    def move(self, node: int, device: int) -> float:
        """Move ``node`` to ``device``; the new interval. IndexError / ValueError when out of range."""
    def undo(self) -> None: ...
    def apply_moves(self, nodes: _I32, devices: _I32, undo: bool = False) -> _F64:
        """Apply the moves in order (undoing each right away when ``undo``); the interval after each."""
    @property
    def interval(self) -> float: ...
    @property
    def placement(self) -> _I32:
        """A copy of the current placement."""
    @property
    def violations(self) -> _I64:
        """The N_VIOLATIONS counters of the current placement."""
    @property
    def total_violations(self) -> int: ...
    def state(self) -> tuple[_F64, _F64, _F64, _F64]:
        """``(compute, comm, memory, traffic)`` of the current placement."""

# ------------------------------------------------------------------------------- repair (mcmcore/_repair.pxi)
class RepairInfeasible(ValueError):
    """The repair context proved the instance infeasible while contracting it (message says why)."""

@disjoint_base
class Repairer:
    """The native repair heuristic bound to a Problem, with optional per-node move costs (float64, n_nodes).
    Raises RepairInfeasible when contracting colors and pins already proves that no valid placement exists."""

    @property
    def problem(self) -> Problem: ...
    def __new__(cls, problem: Problem, weights: npt.ArrayLike | None = None) -> Self: ...
    @property
    def simd(self) -> int:
        """The scoring pass in use: 2 AVX-512, 3 AVX2, 1 SSE2, 0 portable C (all give the same placements; the
        environment variables MCM_NO_AVX512 and MCM_NO_AVX2, read when the Repairer is built, turn them off)."""
    def run(self, placement: _I32) -> tuple[_I32, int, float, bool]:
        """``(placement, moved, moved_weight, ok)``; ``ok`` is False when the heuristic found no valid placement
        (not a proof of infeasibility)."""
    def run_batch(self, placements: _I32, n_threads: int = 1) -> tuple[_I32, _I64, _F64, npt.NDArray[np.bool_]]:
        """A (B, n_nodes) batch: ``(placements, moved, moved_weight, ok)``, one row or entry per input row."""
    def random_valid(self, seed: int, n: int, n_threads: int = 1) -> tuple[_I32, npt.NDArray[np.bool_]]:
        """``n`` random valid placements ``(placements (n, n_nodes), ok (n,))``, the same for any n_threads."""

# ----------------------------------------------------------------------------- annealing (mcmcore/_anneal.pxi)
def anneal_defaults() -> dict[str, float | int]:
    """The C core's default annealing parameters: t_start, t_end, beta, penalty, p_block, p_swap, block_limit."""

@disjoint_base
class Annealer:
    """One annealing chain in the C core, run slice by slice with :meth:`run` (without the GIL)."""

    @property
    def problem(self) -> Problem: ...
    def __new__(cls, problem: Problem, start: _I32, *, t_start: float, t_end: float, beta: float, penalty: float,
                p_block: float, block_limit: int, latency: bool, seed: int, p_swap: float = 0.05) -> Self: ...
    def run(self, iters: int, f0: float, f1: float) -> None:
        """``iters`` proposals, the schedule going from fraction ``f0`` to ``f1`` of the budget."""
    def best(self) -> tuple[float, _I32 | None]:
        """``(value, placement)`` of the best valid state so far; ``(inf, None)`` when there is none."""
    @property
    def evals(self) -> int: ...
    @property
    def accepted(self) -> int: ...
    def current(self) -> tuple[float, int]:
        """``(value, total violations)`` of the current state."""

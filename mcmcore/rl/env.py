"""``PlacementEnv``: a Gymnasium environment where one step proposes a whole placement.

An episode is one step. ``reset`` draws an instance (a graph and a package) from the lists given at construction
with the env's own ``np_random``; the observation describes it. The action gives every node a *relative pipeline
position*: a bin in ``0 .. n_bins - 1``, mapped to the device at pipeline position ``floor((bin + 0.5) * K /
n_bins)`` along ``package.order``, so the same action space serves any number of chiplets. The proposal (which may
break any constraint) is repaired by the native heuristic (:func:`mcmcore.repair.repair_batch`) and evaluated; the
reward is ``baseline / value`` (value: the interval for the throughput objective, the latency otherwise), where
the per-instance baseline is the best of ``baseline_samples`` random valid placements (``baseline="random"``, the
default, cached per instance) or the proven lower bound (``baseline="bound"``: no samples spent). A proposal the
heuristic cannot repair earns 0.

Spaces (fixed-size, padded; see :meth:`PlacementEnv.observation_space`):

- ``nodes``: Box (max_nodes, N_FEATURES) float32 in [-FEATURE_BOUND, FEATURE_BOUND], the
  :func:`~mcmcore.rl.features.node_features` rows, zero padded;
- ``node_mask``: MultiBinary(max_nodes), 1 for real nodes;
- ``edges``: Box (max_edges, 2) int64 of (src, dst) node ids, zero padded; ``edge_mask``: MultiBinary(max_edges);
- ``n_devices``: Box (1,) int64.

The action is MultiDiscrete([n_bins] * max_nodes); entries past the instance's node count are ignored.

**Residual actions** (``action="residual"``): instead of absolute positions, every node takes a *move* relative to
a base placement: a delta in ``-(n_deltas // 2) .. n_deltas // 2`` pipeline positions (action ``a`` means delta
``a - n_deltas // 2``, clipped to the pipeline). The base is the optimal contiguous pipeline split
(:func:`mcmcore.search.dp.pipeline_split`, best over :func:`~mcmcore.search.dp.topological_orders`), so the
all-zero action reproduces it, proposals stay close to valid (the repair moves few nodes) and the policy learns
which nodes and stage boundaries to shift. :meth:`PlacementEnv.set_base` moves the base (e.g. to the best
placement found so far, as :class:`~mcmcore.rl.ppo.PPO` does: a learned local search); the reward is then
``base_value / value`` (> 1: an improvement on the base). The observation gains ``base``: Box (max_nodes,
N_BASE_FEATURES) describing each node's place in the base (:data:`BASE_FEATURE_NAMES`).

Graphs with more than ``coarsen_above`` nodes are coarsened (:func:`mcmcore.coarsen`, the HSDAG idea) to about
``coarsen_target`` nodes: the observation and action then cover the coarse nodes, and the action is uncoarsened
before repair. :meth:`PlacementEnv.step_batch` is the vectorised form: many proposals for the current instance,
repaired and evaluated on native threads in one call.
"""
from __future__ import annotations

import hashlib

import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mcmcore.constraints import Constraints
from mcmcore.errors import InfeasibleError
from mcmcore.evaluate import evaluate_batch
from mcmcore.graph import Graph
from mcmcore.package import Package
from mcmcore.rl.features import FEATURE_BOUND, N_FEATURES, node_features

__all__ = ["PlacementEnv", "Instance", "bins_to_devices", "BASE_FEATURE_NAMES", "N_BASE_FEATURES", "dp_base"]

#: Columns of the residual observation ``base`` (per node, describing the current base placement).
BASE_FEATURE_NAMES = ("position", "preds_earlier", "succs_later", "stage_load", "prev_stage_load",
                      "next_stage_load", "is_bottleneck", "rank_in_stage", "stage_start", "stage_end")
N_BASE_FEATURES = len(BASE_FEATURE_NAMES)


def _priority_topo_order(pred_count, succ_ptr, succ_idx, key):
    """Kahn's algorithm taking, among the ready nodes, the one of smallest ``key`` (O(n^2), n small)."""
    n = key.shape[0]
    indeg = pred_count.copy()
    ready = np.zeros(n, dtype=np.bool_)
    for v in range(n):
        if indeg[v] == 0:
            ready[v] = True
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        best = -1
        for v in range(n):
            if ready[v] and (best < 0 or key[v] < key[best]):
                best = v
        if best < 0:
            return out[:i]
        ready[best] = False
        out[i] = best
        for e in range(succ_ptr[best], succ_ptr[best + 1]):
            w = succ_idx[e]
            indeg[w] -= 1
            if indeg[w] == 0:
                ready[w] = True
    return out


try:
    from numba import njit as _njit

    _priority_topo_order = _njit(cache=True)(_priority_topo_order)
except ImportError:  # pragma: no cover - numba is a core dependency
    pass


def dp_base(graph: Graph, package: Package, constraints: Constraints, objective: str = "throughput",
            overlap: bool | None = None) -> tuple[np.ndarray | None, int]:
    """The best valid optimal contiguous pipeline split over the candidate topological orders:
    ``(placement or None, number of splits evaluated)``."""
    from mcmcore.search.base import SearchProblem
    from mcmcore.search.dp import best_split

    best, _, n = best_split(SearchProblem(graph, package, constraints, objective, overlap))
    return best, n


def bins_to_devices(bins: np.ndarray, package: Package, n_bins: int) -> np.ndarray:
    """Device of each relative-position bin: pipeline position ``floor((bin + 0.5) * K / n_bins)``."""
    k = package.n_devices
    pos = np.minimum(((np.asarray(bins, dtype=np.float64) + 0.5) * k / n_bins).astype(np.int64), k - 1)
    return np.asarray(package.order, dtype=np.int32)[pos]


def _digest(row: np.ndarray) -> bytes:
    """A 128-bit digest of a placement row: a cache key that does not grow with the graph (a collision is
    practically impossible, unlike with Python's 64-bit hash)."""
    return hashlib.blake2b(row.tobytes(), digest_size=16).digest()


@dataclass
class Instance:
    """One (graph, package) pair with its cached features and baseline."""

    graph: Graph               #: the graph placed (the fine one)
    package: Package
    policy_graph: Graph        #: what the policy sees (coarse when the graph was coarsened, else ``graph``)
    mapping: np.ndarray | None  #: fine node -> coarse node, or None
    features: np.ndarray       #: (n, N_FEATURES) float32 for ``policy_graph``
    edges: np.ndarray          #: (E, 2) int64 of ``policy_graph``
    baseline: float = math.nan
    baseline_placement: np.ndarray | None = None  #: the best random valid placement (``baseline="random"``)
    teacher_placement: np.ndarray | None = None   #: the ``teacher`` method's placement, when the env has one
    base_placement: np.ndarray | None = None  #: residual actions: the (fine) placement the deltas move
    base_value: float = math.nan              #: its value (the residual reward's numerator)
    base_features: np.ndarray | None = None   #: (n, N_BASE_FEATURES) float32 describing the base
    base_evals: int = 0                        #: placements evaluated to find the dp base

    @property
    def n_nodes(self) -> int:
        return self.policy_graph.n_nodes


class PlacementEnv(gym.Env):
    """One-step placement episodes over a list of graphs and packages (see the module docstring).

    Parameters
    ----------
    graphs : Graph or sequence of Graph
    packages : Package or sequence of Package
        Every (graph, package) pair is an instance; ``reset`` draws one uniformly.
    constraints : Constraints, optional
    objective : {"throughput", "latency"}
    repair : {"heuristic"}
        The repair engine (the native heuristic; the only one fast enough inside the loop).
    n_bins : int
        Relative pipeline positions per node (raised to the largest K when a package has more devices).
    baseline : {"random", "bound"}
        Reward normaliser: best of ``baseline_samples`` random valid placements, or the lower bound.
    baseline_samples : int
    max_nodes, max_edges : int, optional
        Padding sizes of the spaces (default: the largest instance).
    coarsen_above, coarsen_target : int, optional
        Coarsen graphs with more than ``coarsen_above`` nodes to about ``coarsen_target`` nodes.
    n_threads : int, optional
        Native threads of repair and evaluation.
    overlap : bool, optional
        Passed to the evaluator (default: the package's).
    action : {"absolute", "residual"}
        Absolute relative-position bins per node, or moves relative to a base placement (module docstring).
    n_deltas : int
        Residual actions: the number of moves per node (odd; 5 gives -2 .. +2 positions).
    resplit : bool
        Residual actions: re-cut the moved order optimally (:func:`mcmcore.search.dp.pipeline_split`) instead of
        repairing the moved placement directly.
    teacher : str, optional
        A search method (e.g. ``"dp"``) run once per instance, 1 s budget; its placement is exposed as
        ``instance.teacher_placement`` (pre-training seeds its self-imitation memory with it). Default none.
    """

    metadata = {"render_modes": []}
    #: re-cuts kept per instance (served again when a proposal repeats); the cache is emptied when it would exceed
    resplit_cache_size = 10_000

    def __init__(self, graphs: Graph | Sequence[Graph], packages: Package | Sequence[Package], *,
                 constraints: Constraints | None = None, objective: str = "throughput", repair: str = "heuristic",
                 n_bins: int = 16, baseline: str = "random", baseline_samples: int = 100,
                 max_nodes: int | None = None, max_edges: int | None = None, coarsen_above: int | None = None,
                 coarsen_target: int = 256, n_threads: int | None = None, overlap: bool | None = None,
                 teacher: str | None = None, action: str = "absolute", n_deltas: int = 5, resplit: bool = False):
        super().__init__()
        if action not in ("absolute", "residual"):
            raise ValueError(f"action must be 'absolute' or 'residual', got {action!r}")
        if int(n_deltas) < 1 or int(n_deltas) % 2 == 0:
            raise ValueError(f"n_deltas must be a positive odd integer, got {n_deltas!r}")
        self.action = action
        self.n_deltas = int(n_deltas)
        self.resplit = bool(resplit) and action == "residual"
        self._units: dict[int, tuple] = {}
        graphs = [graphs] if isinstance(graphs, Graph) else list(graphs)
        packages = [packages] if isinstance(packages, Package) else list(packages)
        if not graphs or not packages:
            raise ValueError("PlacementEnv needs at least one graph and one package")
        if objective not in ("throughput", "latency"):
            raise ValueError(f"objective must be 'throughput' or 'latency', got {objective!r}")
        if repair != "heuristic":
            raise ValueError(f"repair must be 'heuristic', got {repair!r}")
        if baseline not in ("random", "bound"):
            raise ValueError(f"baseline must be 'random' or 'bound', got {baseline!r}")
        self.constraints = Constraints() if constraints is None else constraints
        self.objective = objective
        self.baseline_kind = baseline
        self.baseline_samples = int(baseline_samples)
        self.n_threads = n_threads
        self.overlap = overlap
        if teacher is not None:
            from mcmcore.search import METHODS

            if teacher not in METHODS:
                raise ValueError(f"unknown teacher method {teacher!r}; methods are {', '.join(sorted(METHODS))}")
        self.teacher = teacher
        self.n_bins = max(int(n_bins), max(p.n_devices for p in packages))
        self.instances: list[Instance] = []
        for g in graphs:
            coarse, mapping = g, None
            if coarsen_above is not None and g.n_nodes > coarsen_above:
                from mcmcore.coarsen import coarsen

                coarse, mapping = coarsen(g, target_nodes=int(coarsen_target))
            edges = np.asarray(coarse.edges, dtype=np.int64).reshape(-1, 2)
            for p in packages:
                self.instances.append(Instance(g, p, coarse, mapping, node_features(coarse, p), edges))
        self.max_nodes = int(max_nodes or max(i.n_nodes for i in self.instances))
        self.max_edges = int(max_edges or max(1, max(len(i.edges) for i in self.instances)))
        if any(i.n_nodes > self.max_nodes or len(i.edges) > self.max_edges for i in self.instances):
            raise ValueError("an instance is larger than max_nodes / max_edges")
        obs_spaces = {
            "nodes": spaces.Box(-FEATURE_BOUND, FEATURE_BOUND, (self.max_nodes, N_FEATURES), np.float32),
            "node_mask": spaces.MultiBinary(self.max_nodes),
            "edges": spaces.Box(0, self.max_nodes - 1, (self.max_edges, 2), np.int64),
            "edge_mask": spaces.MultiBinary(self.max_edges),
            "n_devices": spaces.Box(1, 1 << 16, (1,), np.int64),
        }
        if self.residual:
            obs_spaces["base"] = spaces.Box(-FEATURE_BOUND, FEATURE_BOUND, (self.max_nodes, N_BASE_FEATURES),
                                            np.float32)
        self.observation_space = spaces.Dict(obs_spaces)
        self.action_space = spaces.MultiDiscrete(np.full(self.max_nodes, self.n_actions, dtype=np.int64))
        self.index = 0
        #: per instance: (raw placement key -> (placement key, ok, moved), placement key -> (repaired placement,
        #: value, violations)); see evaluate_placements
        self._eval_cache: dict[int, tuple[dict, dict]] = {}
        #: placements per instance before that cache starts over (bounded memory)
        self.eval_cache_size = 32768
        #: seconds spent in repair and in evaluation (for the samples/s breakdown)
        self.timing = {"repair": 0.0, "evaluate": 0.0}

    # ---------------------------------------------------------------------------------------------- gymnasium
    @property
    def residual(self) -> bool:
        """Whether actions are moves relative to a base placement."""
        return self.action == "residual"

    @property
    def n_actions(self) -> int:
        """Choices per node: ``n_deltas`` (residual) or ``n_bins`` (absolute)."""
        return self.n_deltas if self.residual else self.n_bins

    @property
    def instance(self) -> Instance:
        """The current instance."""
        return self.instances[self.index]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "instance" in options:
            self.index = int(options["instance"])
        else:
            self.index = int(self.np_random.integers(len(self.instances)))
        return self._obs(), {"instance": self.index, "graph": self.instance.graph.name,
                             "n_devices": self.instance.package.n_devices}

    def step(self, action):
        rewards, info = self.step_batch(np.asarray(action)[None, :])
        # "fresh" (evaluated now, not served from the cache) depends on history: not part of a step's info
        one = {k: (v[0] if isinstance(v, np.ndarray) else v) for k, v in info.items() if k != "fresh"}
        return self._obs(), float(rewards[0]), True, False, one

    def _obs(self) -> dict[str, np.ndarray]:
        inst = self.instance
        n, e = inst.n_nodes, len(inst.edges)
        nodes = np.zeros((self.max_nodes, N_FEATURES), dtype=np.float32)
        nodes[:n] = inst.features
        node_mask = np.zeros(self.max_nodes, dtype=np.int8)
        node_mask[:n] = 1
        edges = np.zeros((self.max_edges, 2), dtype=np.int64)
        edges[:e] = inst.edges
        edge_mask = np.zeros(self.max_edges, dtype=np.int8)
        edge_mask[:e] = 1
        obs = {"nodes": nodes, "node_mask": node_mask, "edges": edges, "edge_mask": edge_mask,
               "n_devices": np.array([inst.package.n_devices], dtype=np.int64)}
        if self.residual:
            self._ensure_base(inst)
            base = np.zeros((self.max_nodes, N_BASE_FEATURES), dtype=np.float32)
            base[:n] = inst.base_features
            obs["base"] = base
        return obs

    def observation(self) -> dict[str, np.ndarray]:
        """The current instance's observation (after :meth:`set_base`, the new base's)."""
        return self._obs()

    # ------------------------------------------------------------------------------------------- residual
    def _ensure_base(self, inst: Instance) -> None:
        if inst.base_placement is not None:
            return
        pl, n = dp_base(inst.graph, inst.package, self.constraints, self.objective, self.overlap)
        inst.base_evals = n
        if pl is None:  # no valid split: the best random valid placement (or all on the first device)
            self.baseline()
            pl = inst.baseline_placement
            if pl is None:
                pl = np.full(inst.graph.n_nodes, int(inst.package.order[0]), dtype=np.int32)
        self._set_base(inst, pl)

    def set_base(self, placement: np.ndarray, value: float | None = None) -> None:
        """Residual actions: move the current instance's base to ``placement`` (a fine, valid placement)."""
        if not self.residual:
            raise ValueError("set_base needs action='residual'")
        self._set_base(self.instance, placement, value)

    def _set_base(self, inst: Instance, placement: np.ndarray, value: float | None = None) -> None:
        pl = np.ascontiguousarray(placement, dtype=np.int32).copy()
        if value is None:
            values, violations = evaluate_batch(inst.graph, inst.package, pl[None, :], constraints=self.constraints,
                                                n_threads=self.n_threads, return_violations=True,
                                                overlap=self.overlap, objective="interval"
                                                if self.objective == "throughput" else "latency")
            value = float(values[0]) if violations[0] == 0 else math.inf
        inst.base_placement = pl
        inst.base_value = float(value)
        inst.base_features = self._base_features(inst, pl)

    def _base_features(self, inst: Instance, placement: np.ndarray) -> np.ndarray:
        """Per policy node: where it sits in the base pipeline (see :data:`BASE_FEATURE_NAMES`)."""
        from mcmcore.search.bounds import compute_time_matrix

        g, pkg = inst.graph, inst.package
        n, k = g.n_nodes, pkg.n_devices
        pos = np.asarray(pkg.position, dtype=np.int64)[placement]
        f = np.zeros((n, N_BASE_FEATURES), dtype=np.float64)
        f[:, 0] = pos / max(k - 1, 1)
        src = np.repeat(np.arange(n), np.diff(g.succ_ptr))
        dst = np.asarray(g.succ_idx, dtype=np.int64)
        cross = (pos[src] != pos[dst]).astype(np.float64)
        indeg = np.maximum(np.bincount(dst, minlength=n), 1)
        outdeg = np.maximum(np.bincount(src, minlength=n), 1)
        f[:, 1] = np.bincount(dst, weights=cross, minlength=n) / indeg
        f[:, 2] = np.bincount(src, weights=cross, minlength=n) / outdeg
        ct = compute_time_matrix(g, pkg)[np.arange(n), placement]
        load = np.bincount(pos, weights=ct, minlength=k)
        # traffic: a node's output leaving its stage counts on its stage
        t = g.out_bytes.astype(np.float64) / float(np.mean(pkg.link_bandwidth)) if pkg.interconnect == "links" \
            else (g.comm_time if g.comm_time is not None else g.out_bytes / pkg.bandwidth)
        sends = np.zeros(n, dtype=bool)
        sends[src[cross > 0]] = True
        load = load + np.bincount(pos, weights=np.where(sends, t, 0.0), minlength=k) * 0.5
        top = max(float(load.max()), 1e-30)
        padded = np.concatenate([[0.0], load / top, [0.0]])
        f[:, 3] = padded[pos + 1]
        f[:, 4] = padded[pos]
        f[:, 5] = padded[pos + 2]
        f[:, 6] = (load[pos] >= top * (1 - 1e-9)).astype(np.float64)
        topo = np.asarray(g.topo_order, dtype=np.int64)
        rank = np.empty(n, dtype=np.int64)
        rank[topo] = np.arange(n)
        # rank within the stage (in topological order), as a fraction, and the stage's first / last 3 nodes
        key = pos * (n + 1) + rank
        order = np.argsort(key, kind="stable")
        counts = np.bincount(pos, minlength=k)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        within = np.empty(n, dtype=np.int64)
        within[order] = np.arange(n) - starts[pos[order]]
        size = counts[pos]
        f[:, 7] = within / np.maximum(size - 1, 1)
        f[:, 8] = np.exp(-within / 3.0)
        f[:, 9] = np.exp(-(size - 1 - within) / 3.0)
        if inst.mapping is not None:  # a coarse node: the mean over its members
            m = np.asarray(inst.mapping, dtype=np.int64)
            cnt = np.maximum(np.bincount(m, minlength=inst.n_nodes), 1)
            f = np.stack([np.bincount(m, weights=f[:, j], minlength=inst.n_nodes) / cnt
                          for j in range(N_BASE_FEATURES)], axis=1)
        return np.clip(f, -FEATURE_BOUND, FEATURE_BOUND).astype(np.float32)

    # ------------------------------------------------------------------------------------------- vectorised
    def proposals_to_placements(self, actions: np.ndarray) -> np.ndarray:
        """(M, >= n) actions of the policy graph's nodes -> (M, n_fine) device placements (before repair)."""
        inst = self.instance
        if self.residual:
            self._ensure_base(inst)
            delta = np.asarray(actions)[:, :inst.n_nodes].astype(np.int64) - self.n_deltas // 2
            if inst.mapping is not None:
                delta = delta[:, inst.mapping]
            pkg = inst.package
            pos = np.asarray(pkg.position, dtype=np.int64)[inst.base_placement]
            new = np.clip(pos[None, :] + delta, 0, pkg.n_devices - 1)
            raw = np.ascontiguousarray(np.asarray(pkg.order, dtype=np.int32)[new])
            if self.resplit:
                t0 = time.perf_counter()
                raw = self._resplit(inst, new, raw)
                self.timing["resplit"] = self.timing.get("resplit", 0.0) + time.perf_counter() - t0
            return raw
        bins = np.asarray(actions)[:, :inst.n_nodes]
        devices = bins_to_devices(bins, inst.package, self.n_bins)
        if inst.mapping is not None:
            devices = devices[:, inst.mapping]
        return np.ascontiguousarray(devices, dtype=np.int32)

    def _resplit(self, inst: Instance, new_pos: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Per proposal: the optimal contiguous split of the order by (moved position, base rank).

        All proposals of the batch are re-cut in one numba call (:func:`mcmcore.search.dp.split_by_priority`); a re-cut depends only on
        the moved positions, so repeated ones (the same moves, or different moves giving the same positions) are
        served from a per-instance cache."""
        from mcmcore.search.base import SearchProblem
        from mcmcore.search.dp import (MAX_EXACT_NODES, UnitView, _split_arguments, pipeline_split,
                                        split_by_priority)

        if self.index not in self._units:
            problem = SearchProblem(inst.graph, inst.package, self.constraints, self.objective, self.overlap)
            units = UnitView(problem)
            ug = units.graph
            rank = np.empty(units.n_units, dtype=np.float64)
            rank[np.asarray(ug.topo_order)] = np.arange(units.n_units)
            count = np.maximum(np.bincount(units.unit_of, minlength=units.n_units), 1)
            self._units[self.index] = (problem, units, rank, count,
                                       np.diff(np.asarray(ug.pred_ptr)).astype(np.int64),
                                       np.asarray(ug.succ_ptr, dtype=np.int64), np.asarray(ug.succ_idx, np.int64),
                                       {})
        problem, units, rank, count, pred_count, succ_ptr, succ_idx, cache = self._units[self.index]
        out = raw.copy()
        nu = units.n_units
        new_pos = np.ascontiguousarray(new_pos, dtype=np.int64)
        keys = [row.tobytes() for row in new_pos]
        todo: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k not in cache and k not in todo:
                todo[k] = i
        if todo:
            rows = np.fromiter(todo.values(), dtype=np.int64, count=len(todo))
            if nu <= MAX_EXACT_NODES:
                args = _split_arguments(problem, units)
                by_unit, ok = split_by_priority(new_pos[rows], np.asarray(units.unit_of, dtype=np.int64),
                                             count.astype(np.int64), rank, pred_count, succ_ptr, succ_idx,
                                             args[0], args[1], *args[4:])
                done = [by_unit[j][units.unit_of] if ok[j] else None for j in range(len(rows))]
            else:  # long orders: pipeline_split's bisection path, one proposal at a time
                done = []
                for i in rows:
                    upos = np.bincount(units.unit_of, weights=new_pos[i], minlength=nu) / count
                    order = _priority_topo_order(pred_count, succ_ptr, succ_idx, upos * (nu + 1) + rank)
                    done.append(pipeline_split(problem, order, units)[0] if len(order) == nu else None)
            if len(cache) + len(done) > self.resplit_cache_size:  # bounded memory (~35 MB at 300 nodes)
                kept = {k: cache[k] for k in keys if k in cache}  # this batch's repeats stay served
                cache.clear()
                cache.update(kept)
            for k, pl in zip(todo, done):
                cache[k] = pl
        for i, k in enumerate(keys):
            pl = cache[k]
            if pl is not None:
                out[i] = pl
        return out

    def evaluate_placements(self, raw: np.ndarray) -> dict[str, np.ndarray]:
        """Repair and evaluate (M, n_fine) raw placements of the current instance.

        Repair and evaluation are deterministic, so nothing is done twice on an instance: a raw placement seen
        before (in this batch or an earlier one) is served from a per-instance cache, and a repaired placement
        evaluated before is not evaluated again. ``info["fresh"]`` marks the rows whose (repaired) placement was
        evaluated now, the first occurrence of each. (Keys are 128-bit BLAKE2 digests of the placements; the cache
        holds at most ``eval_cache_size`` placements per instance and starts over when full.)"""
        from mcmcore.repair import repair_batch

        inst = self.instance
        raw = np.ascontiguousarray(raw, dtype=np.int32)
        m, n = raw.shape
        raw_cache, store = self._eval_cache.setdefault(self.index, ({}, {}))
        keys = [_digest(row) for row in raw]
        batch: dict[int, tuple] = {}  # raw key -> (placement key, ok, moved), for this batch
        first: dict[int, int] = {}
        for i, k in enumerate(keys):
            if k in raw_cache:
                batch[k] = raw_cache[k]
            elif k not in first:
                first[k] = i
        fresh = np.zeros(m, dtype=bool)
        known = {pk: store[pk] for pk, _, _ in batch.values()}  # placement key -> (placement, value, violations)
        if first:
            rows = np.fromiter(first.values(), dtype=np.int64, count=len(first))
            t0 = time.perf_counter()
            placements, moved, ok = repair_batch(inst.graph, inst.package, raw[rows], constraints=self.constraints,
                                                 n_threads=self.n_threads)
            t1 = time.perf_counter()
            pkeys = [_digest(row) for row in placements]
            new: dict[int, int] = {}
            for j, pk in enumerate(pkeys):
                if pk in store:
                    known[pk] = store[pk]
                elif pk not in new:
                    new[pk] = j
            if new:
                sel = np.fromiter(new.values(), dtype=np.int64, count=len(new))
                fresh[rows[sel]] = True
                values, violations = evaluate_batch(inst.graph, inst.package, placements[sel],
                                                    constraints=self.constraints, n_threads=self.n_threads,
                                                    return_violations=True, overlap=self.overlap,
                                                    objective="interval" if self.objective == "throughput"
                                                    else "latency")
                for j, pk in enumerate(new):
                    known[pk] = (placements[sel[j]], float(values[j]), int(violations[j]))
            t2 = time.perf_counter()
            self.timing["repair"] += t1 - t0
            self.timing["evaluate"] += t2 - t1
            for j, k in enumerate(first):
                batch[k] = (pkeys[j], bool(ok[j]), int(moved[j]))
            if len(store) + len(new) > self.eval_cache_size:
                store.clear()
                raw_cache.clear()
            for pk in new:
                store[pk] = known[pk]
            for k in first:
                if batch[k][0] in store:
                    raw_cache[k] = batch[k]
        out = np.empty((m, n), dtype=np.int32)
        values = np.empty(m)
        violations = np.empty(m, dtype=np.int64)
        okay = np.empty(m, dtype=bool)
        moved = np.empty(m, dtype=np.int64)
        for i, k in enumerate(keys):
            pk, okay[i], moved[i] = batch[k]
            out[i], values[i], violations[i] = known[pk]
        valid = okay & (violations == 0)
        return {"placements": out, "values": values, "violations": np.where(valid, 0, np.maximum(violations, 1)),
                "valid": valid, "moved": moved, "fresh": fresh}

    def step_batch(self, actions: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Many proposals for the current instance: ``(rewards, info)`` with arrays of length M.

        ``info`` holds the repaired ``placements``, their ``values`` (seconds), ``valid`` and ``moved``.
        """
        actions = np.asarray(actions)
        if actions.ndim != 2 or actions.shape[1] < self.instance.n_nodes:
            raise ValueError(f"actions must have shape (M, >= {self.instance.n_nodes}), got {actions.shape}")
        if actions.size and (actions.min() < 0 or actions.max() >= self.n_actions):
            raise ValueError(f"actions must be in 0..{self.n_actions - 1}")
        info = self.evaluate_placements(self.proposals_to_placements(actions))
        base = self.reward_scale()
        rewards = np.where(info["valid"], base / np.maximum(info["values"], 1e-300), 0.0)
        return rewards, info

    def step_batch_placements(self, placements: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Like :meth:`step_batch` for (M, n_fine) device placements instead of bins."""
        info = self.evaluate_placements(np.ascontiguousarray(placements, dtype=np.int32))
        rewards = np.where(info["valid"], self.reward_scale() / np.maximum(info["values"], 1e-300), 0.0)
        return rewards, info

    def reward_scale(self) -> float:
        """The reward's numerator: the base's value (residual, when valid) or :meth:`baseline`."""
        if self.residual:
            inst = self.instance
            self._ensure_base(inst)
            if math.isfinite(inst.base_value) and inst.base_value > 0:
                return inst.base_value
        return self.baseline()

    def baseline(self) -> float:
        """The current instance's reward normaliser (computed once per instance)."""
        inst = self.instance
        if math.isnan(inst.baseline):
            if self.baseline_kind == "bound":
                from mcmcore.search.bounds import lower_bound

                inst.baseline = float(lower_bound(inst.graph, inst.package, objective=self.objective,
                                                  constraints=self.constraints))
            if self.baseline_kind == "random" or not inst.baseline > 0:
                inst.baseline = self._random_baseline(inst)
            if self.teacher is not None:
                from mcmcore.search import partition

                try:
                    res = partition(inst.graph, inst.package, method=self.teacher, constraints=self.constraints,
                                    objective=self.objective, max_seconds=1.0, progress=False, seed=0,
                                    n_threads=self.n_threads, overlap=self.overlap)
                    inst.teacher_placement = res.placement
                except Exception:  # a teacher that does not apply to this instance teaches nothing
                    inst.teacher_placement = None
        return inst.baseline

    def _random_baseline(self, inst: Instance) -> float:
        from mcmcore.repair import random_valid

        try:
            pl = random_valid(inst.graph, inst.package, constraints=self.constraints, seed=12345,
                              n=max(1, self.baseline_samples), n_threads=self.n_threads)
        except InfeasibleError:
            return 1.0
        values, violations = evaluate_batch(inst.graph, inst.package, pl, constraints=self.constraints,
                                            n_threads=self.n_threads, return_violations=True, overlap=self.overlap,
                                            objective="interval" if self.objective == "throughput" else "latency")
        ok = np.flatnonzero(np.asarray(violations) == 0)
        if not ok.size:
            return 1.0
        best = ok[np.argmin(np.asarray(values)[ok])]
        inst.baseline_placement = pl[best].copy()
        return float(np.asarray(values)[best])

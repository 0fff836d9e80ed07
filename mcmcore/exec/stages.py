"""Split an exported program into pipeline stages following a placement of its graph nodes.

Every fx node of the exported program gets an owner stage:

- a compute node (one that :func:`mcmcore.io.from_torch` turned into a graph node, found by its name) runs on the
  stage of its graph node's device;
- a folded node (view, reshape, getitem, dropout, ...) runs on the latest stage among the owners of its inputs, so
  it follows its producer as the importer folds it into the producer's edges;
- a node that depends only on inputs, weights and constants (``arange``, a view of the input ids, ...) is
  *floating*: it is recomputed on every stage that needs it, and costs no transfer.

A value owned by stage ``s`` and read on stage ``t > s`` is shipped from ``s`` to ``t``; a read on ``t < s``
breaks the ordered dataflow and the split is refused. Stage ``-1`` is the driver feeding the user inputs and
stage ``K`` the driver collecting the outputs.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcmcore.errors import InvalidPlacementError
from mcmcore.graph import Graph

__all__ = ["Ref", "NodeSpec", "StageSpec", "StagePlan", "split_program", "DataflowOrderError"]


class DataflowOrderError(InvalidPlacementError):
    """A placement makes a stage read a value produced by a later stage of the pipeline."""


@dataclass(frozen=True)
class Ref:
    """A reference to the value of fx node ``name`` inside a pickled node's arguments."""

    name: str


@dataclass(frozen=True)
class NodeSpec:
    """One fx ``call_function`` node in picklable form: the target by qualified name when it is a torch op."""

    name: str
    target: Any  # ("op", "aten::add", "Tensor") or a picklable callable such as operator.getitem
    args: tuple
    kwargs: dict


@dataclass(frozen=True)
class TensorSlot:
    shape: tuple[int, ...]
    dtype: Any  # torch.dtype


@dataclass(frozen=True)
class ValueSpec:
    """A shipped value: a tensor (``kind == "tensor"``) or a list / tuple of tensors."""

    name: str
    kind: str  # "tensor", "list", "tuple"
    tensors: tuple[TensorSlot, ...]


@dataclass(frozen=True)
class StageSpec:
    """What one worker runs: receive ``inputs``, run ``nodes`` with ``weights``, return the ``outputs`` values."""

    index: int
    device: int
    inputs: tuple[str, ...]
    weights: tuple[str, ...]
    nodes: tuple[NodeSpec, ...]
    outputs: tuple[str, ...]
    graph_nodes: tuple[int, ...]


@dataclass(frozen=True)
class StagePlan:
    """A program split into stages, with the values each pair of stages exchanges.

    ``transfers[(src, dst)]`` lists the values shipped from stage ``src`` to ``dst``; ``-1`` is the driver's
    input side and ``len(stages)`` its output side.
    """

    stages: tuple[StageSpec, ...]
    user_inputs: tuple[str, ...]
    user_outputs: tuple[str, ...]
    transfers: dict[tuple[int, int], tuple[ValueSpec, ...]]
    weights: dict[str, Any] = field(repr=False)
    out_spec: Any = field(default=None, repr=False)

    @property
    def devices(self) -> tuple[int, ...]:
        return tuple(s.device for s in self.stages)


def _target_spec(target):
    import torch

    if isinstance(target, torch._ops.OpOverload):
        qual = target.name()  # "aten::add.Tensor"
        base, _, overload = qual.partition(".")
        return ("op", base, overload or "default")
    if target is operator.getitem or getattr(target, "__module__", None) in ("_operator", "operator", "builtins"):
        return target
    if isinstance(target, torch._ops.OpOverloadPacket):
        return ("op", target._qualified_op_name, "default")
    raise InvalidPlacementError(f"cannot ship fx target {target!r} to a worker process (only torch ops and "
                                f"operator functions are supported)")


def resolve_target(spec):
    """The callable of a :class:`NodeSpec` target (inverse of the encoding in :func:`split_program`)."""
    if isinstance(spec, tuple) and len(spec) == 3 and spec[0] == "op":
        import torch

        ns, name = spec[1].split("::")
        return getattr(getattr(getattr(torch.ops, ns), name), spec[2])
    return spec


def _value_spec(node) -> ValueSpec:
    import torch

    val = node.meta.get("val")

    def slot(t):
        if not isinstance(t, torch.Tensor):
            raise InvalidPlacementError(f"value {node.name!r} crosses a stage boundary but is a "
                                        f"{type(t).__name__}, not a tensor; place its producer and consumers on "
                                        f"one device")
        try:
            shape = tuple(int(s) for s in t.shape)
        except (TypeError, ValueError):
            raise InvalidPlacementError(f"value {node.name!r} has a dynamic shape; the executor needs static "
                                        f"shapes") from None
        return TensorSlot(shape, t.dtype)

    if isinstance(val, (list, tuple)):
        return ValueSpec(node.name, "list" if isinstance(val, list) else "tuple", tuple(slot(t) for t in val))
    return ValueSpec(node.name, "tensor", (slot(val),))


def split_program(ep, graph: Graph, placement, *, order=None) -> StagePlan:
    """Split exported program ``ep`` into one stage per used device.

    Parameters
    ----------
    ep : torch.export.ExportedProgram
    graph : Graph
        The graph imported from ``ep`` (node names are the fx node names).
    placement : array-like of int, shape (graph.n_nodes,)
    order : array-like of int, optional
        The pipeline order of the devices (``Package.order``); default: by device id.

    Raises
    ------
    InvalidPlacementError
        Wrong length, or the graph does not come from this program.
    DataflowOrderError
        A stage would read a value produced by a later stage.
    """
    from torch.export.graph_signature import InputKind, OutputKind
    from torch.fx.node import map_arg

    pl = np.asarray(placement)
    if pl.ndim != 1 or len(pl) != graph.n_nodes:
        raise InvalidPlacementError(f"placement has shape {pl.shape}, the graph has {graph.n_nodes} nodes")
    if pl.size and (not np.issubdtype(pl.dtype, np.integer) or pl.min() < 0):
        raise InvalidPlacementError(f"placement entries must be device ids >= 0, got {pl[:8].tolist()}...")
    pl = pl.astype(np.int64)
    used = sorted(set(pl.tolist()))
    if order is not None:
        position = {int(d): i for i, d in enumerate(np.asarray(order).tolist())}
        missing = [d for d in used if d not in position]
        if missing:
            raise InvalidPlacementError(f"placement uses device {missing[0]}, which is not in the pipeline order "
                                        f"{list(position)}")
        used.sort(key=lambda d: position[d])
    stage_of_device = {d: i for i, d in enumerate(used)}
    n_stages = len(used)
    sink = n_stages

    index = {name: i for i, name in enumerate(graph.names)}
    sig = ep.graph_signature
    weights: dict[str, Any] = {}
    user_inputs: list[str] = []
    for spec in sig.input_specs:
        name = spec.arg.name
        if spec.kind == InputKind.USER_INPUT:
            user_inputs.append(name)
        elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER):
            weights[name] = ep.state_dict[spec.target] if spec.target in ep.state_dict else \
                ep.constants[spec.target]
        elif spec.kind in (InputKind.CONSTANT_TENSOR, getattr(InputKind, "CUSTOM_OBJ", None)):
            weights[name] = ep.constants[spec.target]
        else:
            raise InvalidPlacementError(f"exported input {name!r} of kind {spec.kind.name} is not supported")

    nodes = list(ep.graph.nodes)
    owner: dict[str, int | None] = {}  # None: floating (recomputed where needed); placeholders: absent
    seen_graph_nodes = 0
    for node in nodes:
        if node.op == "placeholder" or node.op == "output":
            continue
        if node.op != "call_function":
            raise InvalidPlacementError(f"exported node {node.name!r} is a {node.op} node; the executor runs "
                                        f"only call_function nodes (export under torch.no_grad(), eval mode)")
        if node.name in index:
            owner[node.name] = stage_of_device[int(pl[index[node.name]])]
            seen_graph_nodes += 1
            continue
        ins = [owner[a.name] for a in node.all_input_nodes if a.name in owner and owner[a.name] is not None]
        owner[node.name] = max(ins) if ins else None
    if seen_graph_nodes != graph.n_nodes:
        fx_names = {n.name for n in nodes}
        missing = [nm for nm in graph.names if nm not in fx_names]
        raise InvalidPlacementError(f"the graph does not come from this model: {len(missing)} graph nodes have no "
                                    f"exported node of that name (first: {missing[:3]})")

    by_name = {n.name: n for n in nodes}
    # The ordered dataflow, on the fx edges (stricter than the graph edges only where a folded node sits between).
    for node in nodes:
        s = owner.get(node.name)
        if s is None:
            continue
        for a in node.all_input_nodes:
            t = owner.get(a.name)
            if t is not None and t > s:
                raise DataflowOrderError(
                    f"the placement breaks the pipeline order: {node.name!r} on device {used[s]} (stage {s}) reads "
                    f"{a.name!r} from device {used[t]} (stage {t}), a later stage; only placements valid under "
                    f"Constraints(dataflow='ordered') can run as a pipeline")

    out_node = next(n for n in nodes if n.op == "output")
    flat_out = out_node.args[0]
    user_outputs: list[str] = []
    for spec, arg in zip(sig.output_specs, flat_out):
        if spec.kind != OutputKind.USER_OUTPUT:
            continue
        if not hasattr(arg, "name"):
            raise InvalidPlacementError(f"output {arg!r} is not a tensor value")
        user_outputs.append(arg.name)

    members: list[list[str]] = [[] for _ in range(n_stages)]
    for node in nodes:
        s = owner.get(node.name)
        if s is not None:
            members[s].append(node.name)
    transfers: dict[tuple[int, int], list[str]] = {}

    def need(src: int, dst: int, name: str) -> None:
        lst = transfers.setdefault((src, dst), [])
        if name not in lst:
            lst.append(name)

    # The outputs: floating ones are computed by the last stage.
    for name in user_outputs:
        if name in owner:
            s = owner[name]
            if s is None:
                s = n_stages - 1
                members[s].append(name)
                owner_for_sink = s
            else:
                owner_for_sink = s
            need(owner_for_sink, sink, name)
        elif name in weights or name in user_inputs:
            need(-1, sink, name)

    stages = []
    for s in range(n_stages):
        included: set[str] = set()
        inputs: list[str] = []
        wts: list[str] = []

        def visit(name: str) -> None:
            if name in included:
                return
            node = by_name[name]
            included.add(name)
            for a in node.all_input_nodes:
                if a.op == "placeholder":
                    if a.name in weights:
                        if a.name not in wts:
                            wts.append(a.name)
                    elif a.name not in inputs:
                        inputs.append(a.name)
                        need(-1, s, a.name)
                    continue
                t = owner[a.name]
                if t is None or t == s:
                    visit(a.name)
                elif a.name not in inputs:
                    inputs.append(a.name)
                    need(t, s, a.name)

        for name in members[s]:
            visit(name)
        topo = [n for n in nodes if n.name in included]
        specs = tuple(NodeSpec(n.name, _target_spec(n.target), map_arg(tuple(n.args), lambda a: Ref(a.name)),
                               map_arg(dict(n.kwargs), lambda a: Ref(a.name))) for n in topo)
        gnodes = tuple(sorted(int(i) for i in np.flatnonzero(pl == used[s])))
        stages.append((s, inputs, wts, specs, gnodes))
    # Outputs are known only once every consumer stage has registered its needs.
    stage_specs = []
    for s, inputs, wts, specs, gnodes in stages:
        outs: list[str] = []
        for (src, _dst), names in sorted(transfers.items()):
            if src == s:
                outs.extend(nm for nm in names if nm not in outs)
        stage_specs.append(StageSpec(s, used[s], tuple(inputs), tuple(wts), specs, tuple(outs), gnodes))

    def value(name: str) -> ValueSpec:
        return _value_spec(by_name[name])

    plan_transfers = {k: tuple(value(nm) for nm in v) for k, v in sorted(transfers.items())}
    return StagePlan(tuple(stage_specs), tuple(user_inputs), tuple(user_outputs), plan_transfers, weights,
                     getattr(ep.call_spec, "out_spec", None))

"""Import a PyTorch module through ``torch.export`` into a cost-annotated :class:`~mcmcore.Graph`.

One node per compute op of the exported program. Views, reshapes, permutes, ``getitem``, dropout in eval mode,
casts and other zero-cost ops are folded: their consumers connect directly to the compute ops that produced their
inputs. Costs come from the traced shapes and dtypes (``node.meta["val"]``):

- ``flops`` (a multiply-add counts 2) for matmul / linear / addmm / bmm / baddbmm, convolution,
  scaled-dot-product attention, layer / batch / group norm, softmax, element-wise ops and reductions;
- ``mem_bytes`` = bytes of every tensor input (parameters included) + bytes of the output;
- ``out_bytes`` = bytes of the output; ``weight_bytes`` = bytes of the parameters, buffers and constants the op
  reads (each parameter is charged once, to its first reader, so tied weights are not counted twice).

Ops the cost table does not know get a bytes-only cost (flops 0) and are counted in a single warning.

``torch.no_grad()`` and ``torch.autocast`` regions, which ``torch.export`` wraps in higher-order ops whose bodies
are submodules of the program, are inlined: their ops are costed as if the region were not there. Other
higher-order ops that run subgraphs (``torch.cond``, ``while_loop``, ``flex_attention``, ...) are refused with an
:class:`~mcmcore.errors.InvalidGraphError` rather than costed as one empty node.
"""
from __future__ import annotations

import math
import operator
import warnings
from collections import Counter
from typing import Any

import numpy as np

from mcmcore.errors import InvalidGraphError
from mcmcore.graph import Graph

__all__ = ["from_torch", "from_exported_program", "UnknownOpWarning"]


class UnknownOpWarning(UserWarning):
    """Some ops of an imported model have no FLOP formula; they were given a bytes-only cost."""


# Ops that cost nothing: folded into their neighbours.
_FOLD = {
    "view", "_unsafe_view", "reshape", "permute", "transpose", "t", "expand", "expand_as", "squeeze", "unsqueeze",
    "slice", "select", "alias", "detach", "flatten", "unflatten", "split", "split_with_sizes", "chunk", "unbind",
    "view_as", "contiguous", "clone", "dropout", "feature_dropout", "alpha_dropout", "_to_copy", "to", "type_as",
    "lift_fresh_copy", "lift_fresh", "_assert_tensor_metadata", "as_strided", "narrow", "movedim", "numpy_T",
    "identity", "getitem", "_local_scalar_dense", "sym_size", "sym_numel", "sym_stride", "item", "unsafe_split",
    "native_dropout", "repeat_interleave", "mT",
}
# Ops that create a tensor from nothing (constants): folded, with no producer.
_SOURCES = {"arange", "zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like", "empty_like",
            "scalar_tensor", "tensor", "rand", "randn", "new_zeros", "new_ones", "new_full", "new_empty", "tril",
            "triu", "_assert_scalar", "_assert_async", "sym_constrain_range_for_size", "_functional_assert_async"}
# FLOPs per output element.
_ELEMENTWISE = {
    "add": 1, "sub": 1, "mul": 1, "div": 1, "neg": 1, "abs": 1, "relu": 1, "relu_": 1, "hardtanh": 1,
    "clamp": 1, "clamp_min": 1, "clamp_max": 1, "maximum": 1, "minimum": 1, "where": 1, "masked_fill": 1,
    "eq": 1, "ne": 1, "lt": 1, "le": 1, "gt": 1, "ge": 1, "logical_not": 1, "logical_and": 1, "logical_or": 1,
    "bitwise_not": 1, "bitwise_and": 1, "bitwise_or": 1, "rsub": 1, "square": 1, "reciprocal": 1, "sign": 1,
    "pow": 2, "sqrt": 2, "rsqrt": 2, "exp": 4, "log": 4, "sigmoid": 4, "tanh": 4, "silu": 5, "gelu": 8,
    "erf": 4, "sin": 4, "cos": 4, "hardswish": 3, "hardsigmoid": 2, "leaky_relu": 2, "elu": 4, "mish": 8,
    "softplus": 4, "addcmul": 2, "addcdiv": 2, "lerp": 2, "fill": 0, "copy": 0, "copy_": 0, "add_": 1,
    "mul_": 1, "div_": 1, "floor": 1, "ceil": 1, "round": 1, "trunc": 1, "fmod": 1, "remainder": 1,
    "floor_divide": 1, "__and__": 1, "__or__": 1, "__xor__": 1, "__invert__": 1, "and_": 1, "or_": 1,
    "diff": 1, "isnan": 1, "isinf": 1, "nan_to_num": 1, "bitwise_xor": 1, "logical_xor": 1,
}
# FLOPs per input element.
_REDUCTIONS = {"sum": 1, "mean": 1, "amax": 1, "amin": 1, "max": 1, "min": 1, "argmax": 1, "argmin": 1,
               "var": 3, "std": 3, "var_mean": 3, "std_mean": 3, "prod": 1, "norm": 2, "logsumexp": 5,
               "cumsum": 1, "any": 1, "all": 1, "linalg_vector_norm": 2, "max_pool2d": 1, "max_pool1d": 1,
               "max_pool3d": 1, "avg_pool2d": 1, "avg_pool1d": 1, "avg_pool3d": 1, "adaptive_avg_pool2d": 1,
               "adaptive_avg_pool1d": 1, "adaptive_max_pool2d": 1, "max_pool2d_with_indices": 1,
               "_adaptive_avg_pool2d": 1, "mean_dim": 1}
# Per output element.
_NORMS = {"layer_norm": 5, "native_layer_norm": 5, "batch_norm": 5, "_native_batch_norm_legit_no_training": 5,
          "_native_batch_norm_legit": 5, "native_batch_norm": 5, "group_norm": 5, "native_group_norm": 5,
          "instance_norm": 5, "rms_norm": 4, "_fused_rms_norm": 4, "softmax": 5, "_softmax": 5,
          "log_softmax": 5, "_log_softmax": 5, "_safe_softmax": 5, "cumprod": 1}
# Data movement only (known, no arithmetic).
_MOVES = {"cat", "stack", "embedding", "gather", "index", "index_select", "scatter", "scatter_add", "pad",
          "constant_pad_nd", "roll", "flip", "repeat", "tile", "upsample_nearest2d", "index_put", "masked_select",
          "take", "one_hot", "topk", "sort", "embedding_bag"}


# Higher-order ops that only set a mode around a subgraph: the body is inlined and costed as if they were not there.
_INLINE = {"wrap_with_set_grad_enabled", "wrap_with_autocast"}


def _op_name(target) -> str:
    if target is operator.getitem:
        return "getitem"
    packet = getattr(target, "_overloadpacket", None)
    if packet is not None:
        return str(packet.__name__)
    name = getattr(target, "__name__", None)
    return str(name if name is not None else target)


def _tensors(val) -> list:
    """Tensors (fake or real) inside a traced value, flattened."""
    if val is None:
        return []
    if isinstance(val, (list, tuple)):
        out = []
        for v in val:
            out.extend(_tensors(v))
        return out
    if hasattr(val, "shape") and hasattr(val, "dtype"):
        return [val]
    return []


def _flat(args) -> list:
    """The items of nested tuples and lists, flattened (an fx output node's value)."""
    if isinstance(args, (list, tuple)):
        out = []
        for a in args:
            out.extend(_flat(a))
        return out
    return [args]


def _attribute(module, target: str):
    """The attribute at dotted path ``target`` of ``module`` (a get_attr node's value), or None."""
    for part in target.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def _numel(t) -> int:
    try:
        return int(math.prod(int(s) for s in t.shape))
    except (TypeError, ValueError):  # symbolic shapes
        return 0


def _nbytes(t) -> float:
    try:
        return float(_numel(t) * t.dtype.itemsize)
    except AttributeError:
        return 0.0


def _shape(t) -> tuple[int, ...]:
    return tuple(int(s) for s in t.shape)


def _val(node):
    return node.meta.get("val") if hasattr(node, "meta") else None


def _flops(op: str, args: tuple, kwargs: dict, out_tensors: list, in_tensors: list) -> float | None:
    """FLOPs of one op, None when the op is unknown."""
    out_numel = sum(_numel(t) for t in out_tensors)

    def arg(i, key=None):
        if i < len(args):
            return args[i]
        return kwargs.get(key) if key else None

    def sh(i, key=None):
        v = _val(arg(i, key))
        return _shape(v) if v is not None and hasattr(v, "shape") else None

    if op in ("linear", "_linear"):
        w = sh(1, "weight")
        k = w[-1] if w else 0
        bias = 1 if arg(2, "bias") is not None else 0
        return 2.0 * out_numel * k + bias * out_numel
    if op in ("mm", "matmul", "bmm", "_scaled_mm"):
        a = sh(0)
        k = a[-1] if a else 0
        return 2.0 * out_numel * k
    if op in ("addmm", "baddbmm", "addbmm"):
        a = sh(1)
        k = a[-1] if a else 0
        return 2.0 * out_numel * k + out_numel
    if op in ("einsum",):
        return None
    if op in ("conv1d", "conv2d", "conv3d", "convolution", "_convolution", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d"):
        w = sh(1, "weight")
        if not w:
            return None
        if op.startswith("conv_transpose") or (op in ("convolution", "_convolution") and len(args) > 6
                                               and args[6] is True):
            x = _val(arg(0))  # transposed: weight is (C_in, C_out / groups, *kernel)
            return 2.0 * (_numel(x) if x is not None else 0) * math.prod(w[1:])
        per = math.prod(w[1:])
        bias = 1 if arg(2, "bias") is not None else 0
        return 2.0 * out_numel * per + bias * out_numel
    if op in ("scaled_dot_product_attention", "_scaled_dot_product_flash_attention",
              "_scaled_dot_product_efficient_attention", "_scaled_dot_product_flash_attention_for_cpu"):
        q, k, v = sh(0, "query"), sh(1, "key"), sh(2, "value")
        if not (q and k and v):
            return None
        batch = math.prod(q[:-2])
        L, E = q[-2], q[-1]
        S, Ev = k[-2], v[-1]
        return 2.0 * batch * L * S * E + 2.0 * batch * L * S * Ev + 5.0 * batch * L * S
    if op in _NORMS:
        return float(_NORMS[op]) * _numel(out_tensors[0]) if out_tensors else 0.0
    if op in _ELEMENTWISE:
        return float(_ELEMENTWISE[op]) * (_numel(out_tensors[0]) if out_tensors else 0)
    if op in _REDUCTIONS:
        return float(_REDUCTIONS[op]) * (_numel(in_tensors[0]) if in_tensors else 0)
    if op in _MOVES:
        return 0.0
    return None


def load_exported_program(path):
    """``torch.export.load(path)``, with a clear :class:`InvalidGraphError` naming the file when it is missing or
    not an exported program (torch raises many types, and logs a traceback as a warning, for a bad archive)."""
    import logging
    from pathlib import Path

    import torch

    if not Path(path).is_file():
        raise InvalidGraphError(f"{path}: no such file")
    quiet = logging.getLogger("torch")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.export.load(str(path))
    except Exception as exc:
        raise InvalidGraphError(f"{path}: not a torch.export program ({type(exc).__name__}: {exc})") from None
    finally:
        quiet.setLevel(level)


def from_torch(model, example_inputs, *, kwargs: dict | None = None, name: str | None = None,
               strict: bool = False, warn_unknown: bool = True) -> Graph:
    """Export ``model`` with ``torch.export`` and convert it into a cost-annotated graph.

    Parameters
    ----------
    model : torch.nn.Module
        Put it in eval mode first if dropout and batch-norm statistics should not be traced as training ops.
    example_inputs : tuple
        Positional example inputs (a single tensor is wrapped in a tuple).
    kwargs : dict, optional
        Keyword example inputs.
    name : str, optional
        Graph name (default: the module's class name).
    strict : bool
        Passed to ``torch.export.export`` (default False: non-strict tracing, which handles transformers).
    warn_unknown : bool
        Emit :class:`UnknownOpWarning` when some ops have no FLOP formula.

    Returns
    -------
    Graph
    """
    import torch

    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    try:
        ep = torch.export.export(model, example_inputs, kwargs=kwargs, strict=strict)
    except Exception as exc:  # torch raises many types; the user needs to know export itself failed
        raise InvalidGraphError(f"torch.export could not trace {type(model).__name__}: "
                                f"{type(exc).__name__}: {exc}") from exc
    return from_exported_program(ep, name=name or type(model).__name__, warn_unknown=warn_unknown)


def from_exported_program(ep, *, name: str | None = None, warn_unknown: bool = True) -> Graph:
    """Convert an ``torch.export.ExportedProgram`` into a graph (see :func:`from_torch`).

    The bodies of ``torch.no_grad()`` / ``torch.enable_grad()`` and ``torch.autocast`` regions, which
    ``torch.export`` wraps in the higher-order ops ``wrap_with_set_grad_enabled`` and ``wrap_with_autocast``, are
    inlined: their ops become graph nodes named by their path, ``"submod_1.linear"``.

    Raises
    ------
    InvalidGraphError
        On data-dependent control flow (``torch.cond``, ``while_loop``) and on any other higher-order op that
        runs a subgraph (``flex_attention``, ``scan``, ``map``, ...), naming the node and the op: the importer does
        not give such a region a silent 0 cost.
    """
    import torch

    sig = ep.graph_signature
    weights: set[str] = set()
    for attr in ("inputs_to_parameters", "inputs_to_buffers", "inputs_to_lifted_tensor_constants"):
        weights.update(getattr(sig, attr, {}) or {})

    # For every fx node: the compute nodes that produce it, and the weight placeholders it carries.
    producers: dict[Any, tuple[frozenset, frozenset]] = {}
    empty: frozenset = frozenset()
    names: list[str] = []
    ops: list[str] = []
    flops: list[float] = []
    mem: list[float] = []
    out: list[float] = []
    weight_readers: list[frozenset] = []
    edges: list[tuple[int, int]] = []
    unknown: Counter = Counter()
    weight_bytes_of: dict[str, float] = {}
    used_names: set[str] = set()
    outputs_of: dict[Any, list] = {}  # inlined higher-order op -> the producers of each output of its body

    def inputs_of(node):
        seen = []
        for a in node.all_input_nodes:
            if a not in seen:
                seen.append(a)
        return seen

    def subgraphs(module, node) -> list:
        """The (get_attr node, GraphModule) pairs among the inputs of ``node``: the bodies of a higher-order op."""
        found = []
        for a in inputs_of(node):
            if a.op == "get_attr":
                body = _attribute(module, a.target)
                if isinstance(body, torch.fx.GraphModule):
                    found.append((a, body))
        return found

    def walk(module, graph, bound: list | None, prefix: str) -> list:
        """Cost the nodes of ``graph``, a graph of ``module``; return the producers of its outputs.

        ``bound`` holds the producers of the placeholders of an inlined body (None at the top level, whose
        placeholders are the program's inputs and weights); ``prefix`` qualifies the names of a body's nodes.
        """
        placeholders = 0
        results: list = []
        for node in graph.nodes:
            if node.op == "placeholder":
                if bound is not None:
                    producers[node] = bound[placeholders]
                    placeholders += 1
                elif node.name in weights:
                    weight_bytes_of[node.name] = sum(_nbytes(t) for t in _tensors(_val(node)))
                    producers[node] = (empty, frozenset([node.name]))
                else:
                    producers[node] = (empty, empty)
                continue
            if node.op == "output":
                results = [producers.get(a, (empty, empty)) if isinstance(a, torch.fx.Node) else (empty, empty)
                           for a in _flat(node.args[0] if node.args else ())]
                continue
            if node.op != "call_function":  # get_attr (bodies, constants), call_module, call_method
                producers[node] = (empty, empty)
                continue
            op = _op_name(node.target)
            ins = inputs_of(node)
            prod = frozenset().union(*(producers.get(a, (empty, empty))[0] for a in ins)) if ins else empty
            wts = frozenset().union(*(producers.get(a, (empty, empty))[1] for a in ins)) if ins else empty
            bodies = subgraphs(module, node)
            if bodies:
                producers[node], outputs_of[node] = inline(module, node, op, bodies, prefix)
                continue
            if op == "getitem" and len(node.args) == 2 and node.args[0] in outputs_of and isinstance(node.args[1], int):
                producers[node] = outputs_of[node.args[0]][node.args[1]]  # one output of an inlined body
                continue
            if op in _SOURCES:
                producers[node] = (empty, empty)
                continue
            out_tensors = _tensors(_val(node))
            if op in _FOLD or not out_tensors:
                producers[node] = (prod, wts)
                continue
            in_tensors = []
            for a in ins:
                in_tensors.extend(_tensors(_val(a)))
            f = _flops(op, tuple(node.args), dict(node.kwargs), out_tensors, in_tensors)
            if f is None:
                unknown[op] += 1
                f = 0.0
            i = len(names)
            label = prefix + node.name
            while label in used_names:  # a body called twice
                label = f"{label}_{i}"
            used_names.add(label)
            names.append(label)
            ops.append(op)
            flops.append(float(round(f)))
            ob = sum(_nbytes(t) for t in out_tensors)
            out.append(ob)
            mem.append(sum(_nbytes(t) for t in in_tensors) + ob)
            weight_readers.append(wts)
            edges.extend((p, i) for p in sorted(prod))
            producers[node] = (frozenset([i]), empty)
        return results

    def inline(module, node, op: str, bodies: list, prefix: str):
        """Cost the body of a mode wrapper in place of the wrapper: (producers of all outputs, of each output)."""
        where = f"{name or 'exported program'}: node {node.name!r}"
        if op == "cond":
            raise InvalidGraphError(
                f"{where} is torch.cond, data-dependent control flow: which branch runs depends on the input "
                f"values, and mcmcore costs a static dataflow graph, so it does not import it. Export the branch "
                f"your inputs take (call it directly instead of torch.cond), or compute both branches and pick "
                f"the result with torch.where to cost both")
        if op == "while_loop":
            raise InvalidGraphError(
                f"{where} is torch.while_loop, data-dependent control flow: how often its body runs depends on the "
                f"input values, and mcmcore costs a static dataflow graph, so it does not import it. Unroll the "
                f"loop for the trip count you want to cost")
        if op not in _INLINE or len(bodies) != 1:
            raise InvalidGraphError(
                f"{where} is the higher-order op {op!r}, which runs the subgraph(s) "
                f"{', '.join(repr(a.target) for a, _ in bodies)}; the importer inlines only "
                f"{', '.join(sorted(_INLINE))} (torch.no_grad / torch.enable_grad / torch.autocast regions) and "
                f"refuses the others rather than cost them as 0 FLOPs")
        attr, body = bodies[0]
        at = next((j for j, a in enumerate(node.args) if a is attr), len(node.args))
        operands = node.args[at + 1:]  # the arguments are (mode arguments..., body, *operands)
        holes = [p for p in body.graph.nodes if p.op == "placeholder"]
        if len(holes) != len(operands) or node.kwargs:
            raise InvalidGraphError(f"{where}: {op} passes {len(operands)} operands (and {len(node.kwargs)} keyword "
                                    f"arguments) to its body {attr.target!r}, which takes {len(holes)} inputs")
        bound = [producers.get(a, (empty, empty)) if isinstance(a, torch.fx.Node) else (empty, empty)
                 for a in operands]
        results = walk(body, body.graph, bound, f"{prefix}{attr.target}.")
        every = (frozenset().union(*(r[0] for r in results)), frozenset().union(*(r[1] for r in results))) \
            if results else (empty, empty)
        return every, results

    walk(ep.graph_module, ep.graph, None, "")

    n = len(names)
    wb = np.zeros(n)
    charged: set[str] = set()
    for i, wts in enumerate(weight_readers):
        for w in sorted(wts):
            if w not in charged:
                charged.add(w)
                wb[i] += weight_bytes_of.get(w, 0.0)
    if unknown and warn_unknown:
        listing = ", ".join(f"{k} x{v}" for k, v in unknown.most_common())
        warnings.warn(f"{sum(unknown.values())} ops without a FLOP formula got a bytes-only cost: {listing}",
                      UnknownOpWarning, stacklevel=3)
    return Graph.from_edges(n, np.asarray(edges, dtype=np.int64).reshape(-1, 2), flops=flops, mem_bytes=mem,
                            weight_bytes=wb, out_bytes=out, names=names, ops=ops, name=name)

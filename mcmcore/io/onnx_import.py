"""Import an ONNX model into a cost-annotated :class:`~mcmcore.Graph`, with the same rules as the torch importer.

Shapes come from ONNX shape inference, with data propagation (so shapes computed by ``Shape`` / ``Gather`` /
``Concat`` chains resolve). Symbolic dimensions (``dim_param``, such as the dynamic batch axis of a torch or
optimum export) get their values from ``dims={"batch": 8, ...}``; a graph input dimension left without a value is
an error, never a silent 0. Tensors that still have no static shape after inference (data-dependent sizes such as
``NonZero``, ops shape inference does not know) count as 0 bytes in the ops that read or write them, and are listed
in one :class:`UnknownShapeWarning`.

One node per compute op; reshapes, transposes, casts, identities, dropout and other zero-cost ops are folded (their
consumers connect to the producers of their inputs); ``Constant``, ``Shape`` and friends are treated as constants.
Initializers become the ``weight_bytes`` of the first op reading them. Ops without a FLOP formula get a bytes-only
cost and are counted in one warning.
"""
from __future__ import annotations

import heapq
import math
import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mcmcore._checks import is_int
from mcmcore.errors import GraphCycleError, InvalidGraphError
from mcmcore.graph import Graph
from mcmcore.io.torch_export import UnknownOpWarning

__all__ = ["from_onnx", "UnknownShapeWarning"]


class UnknownShapeWarning(UserWarning):
    """Some tensors of an imported ONNX model have no static shape after shape inference; the ops that read or
    write them are under-costed (those tensors count as 0 bytes and 0 elements)."""

_FOLD = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Cast", "CastLike", "Dropout",
         "Slice", "Split", "Expand"}
_SOURCES = {"Constant", "ConstantOfShape", "Shape", "Size", "Range", "EyeLike", "RandomNormal", "RandomUniform"}
_ELEMENTWISE = {"Add": 1, "Sub": 1, "Mul": 1, "Div": 1, "Neg": 1, "Abs": 1, "Relu": 1, "Clip": 1, "Max": 1,
                "Min": 1, "Where": 1, "Equal": 1, "Less": 1, "Greater": 1, "Not": 1, "And": 1, "Or": 1,
                "LeakyRelu": 2, "Pow": 2, "Sqrt": 2, "Reciprocal": 1, "Exp": 4, "Log": 4, "Sigmoid": 4, "Tanh": 4,
                "Erf": 4, "Gelu": 8, "HardSigmoid": 2, "HardSwish": 3, "Softplus": 4, "Elu": 4, "Sin": 4,
                "Cos": 4, "Floor": 1, "Ceil": 1, "Sum": 1, "Mean": 1, "PRelu": 2, "Mod": 1}
_REDUCTIONS = {"ReduceMean": 1, "ReduceSum": 1, "ReduceMax": 1, "ReduceMin": 1, "ReduceProd": 1, "ReduceL2": 2,
               "ReduceSumSquare": 2, "ArgMax": 1, "ArgMin": 1, "MaxPool": 1, "AveragePool": 1,
               "GlobalAveragePool": 1, "GlobalMaxPool": 1, "CumSum": 1}
_NORMS = {"BatchNormalization": 5, "LayerNormalization": 5, "InstanceNormalization": 5, "GroupNormalization": 5,
          "Softmax": 5, "LogSoftmax": 5, "SimplifiedLayerNormalization": 4, "RMSNormalization": 4}
_MOVES = {"Concat", "Gather", "GatherElements", "GatherND", "ScatterND", "ScatterElements", "Pad", "Tile",
          "Resize", "Upsample", "TopK", "OneHot"}

_GRAPH_ATTRIBUTES = (5, 10)  # onnx.AttributeProto.GRAPH and GRAPHS (If, Loop, Scan bodies)

_ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}


def _shape_text(vi) -> str:
    """A tensor's shape as text: ``[8, 'batch', '?']`` (a value, a symbol, an unnamed unknown dimension)."""
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return "no shape"
    return "[" + ", ".join(str(d.dim_value) if d.HasField("dim_value") else repr(d.dim_param or "?")
                           for d in t.shape.dim) + "]"


def _check_dims(dims) -> dict[str, int]:
    if dims is None:
        return {}
    if not isinstance(dims, Mapping):
        raise ValueError(f"dims must be a mapping of symbolic dimension names to sizes, such as {{'batch': 8}}, "
                         f"got {dims!r}")
    for key, value in dims.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"dims keys must be symbolic dimension names (non-empty strings), got {key!r}")
        if not is_int(value) or int(value) < 1:
            raise ValueError(f"dims[{key!r}] must be a positive integer, got {value!r}")
    return {k: int(v) for k, v in dims.items()}


def _value_infos(graph):
    return list(graph.input) + list(graph.value_info) + list(graph.output)


def _bind_dims(model, dims: dict[str, int], source: str):
    """``model`` with the symbolic dimensions named in ``dims`` set to their values (a copy when it changes).

    Raises InvalidGraphError for a graph input (other than an initializer) whose shape is not static once ``dims``
    is applied: a symbol without a value, an unnamed unknown dimension, or no shape at all.
    """
    graph = model.graph
    initialized = {init.name for init in graph.initializer}
    unbound: dict[str, tuple[str, str]] = {}  # symbol -> (first input carrying it, that input's shape)
    for vi in graph.input:
        if vi.name in initialized or not vi.type.HasField("tensor_type"):
            continue
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            raise InvalidGraphError(f"{source}: graph input {vi.name!r} has no shape (not even a rank); the "
                                    f"importer needs static input shapes: set them in the model")
        for axis, d in enumerate(t.shape.dim):
            if d.HasField("dim_value"):
                continue
            if not d.dim_param:
                raise InvalidGraphError(f"{source}: graph input {vi.name!r} has an unknown, unnamed dimension "
                                        f"(axis {axis} of shape {_shape_text(vi)}); dims= can only set named "
                                        f"(dim_param) dimensions, so set its size in the model")
            if d.dim_param not in dims:
                unbound.setdefault(d.dim_param, (vi.name, _shape_text(vi)))
    if unbound:
        listing = ", ".join(f"{sym!r} (graph input {tensor!r}, shape {shape})"
                            for sym, (tensor, shape) in unbound.items())
        example = ", ".join(f"{sym!r}: <size>" for sym in unbound)
        raise InvalidGraphError(f"{source}: symbolic dimension{'s' if len(unbound) > 1 else ''} without a value: "
                                f"{listing}; give {'them values' if len(unbound) > 1 else 'it a value'} with "
                                f"from_onnx(..., dims={{{example}}}) (mcm import: "
                                f"{' '.join(f'--dim {sym}=<size>' for sym in unbound)})")
    if not any(d.dim_param in dims for vi in _value_infos(graph) if vi.type.HasField("tensor_type")
               for d in vi.type.tensor_type.shape.dim if d.HasField("dim_param")):
        return model
    bound = type(model)()
    bound.CopyFrom(model)  # never edit the caller's model
    for vi in _value_infos(bound.graph):
        if not vi.type.HasField("tensor_type"):
            continue
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param in dims:
                d.dim_value = dims[d.dim_param]  # dim_value and dim_param are a oneof: this clears the name
    return bound


def _inference_order(graph) -> list[int] | None:
    """A topological order of the nodes when the listed one is not (ONNX requires it, some tools ignore it); None
    when the listed order is fine, when the nodes form a cycle (reported later, naming its nodes), or when some node
    holds a subgraph (If, Loop: it may read outer tensors that its inputs do not name)."""
    producer: dict[str, int] = {}
    for k, node in enumerate(graph.node):
        if any(at.type in _GRAPH_ATTRIBUTES for at in node.attribute):
            return None
        for o in node.output:
            if o:
                producer.setdefault(o, k)
    deps = [{producer[x] for x in node.input if x in producer and producer[x] != k}
            for k, node in enumerate(graph.node)]
    if all(d < k for k, ds in enumerate(deps) for d in ds):
        return None
    users: list[list[int]] = [[] for _ in deps]
    for k, ds in enumerate(deps):
        for d in ds:
            users[d].append(k)
    waiting = [len(ds) for ds in deps]
    ready = [k for k, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        k = heapq.heappop(ready)  # the smallest index first: the listed order wherever it is already valid
        order.append(k)
        for u in users[k]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    return order if len(order) == len(deps) else None


def from_onnx(model, *, name: str | None = None, dims: Mapping[str, int] | None = None,
              warn_unknown: bool = True) -> Graph:
    """Import an ONNX model (a path or an ``onnx.ModelProto``).

    Parameters
    ----------
    model : str, Path or onnx.ModelProto
        The model; a ``ModelProto`` passed in is never modified.
    name : str, optional
        Graph name (default: the file's stem, else the ONNX graph's name).
    dims : mapping of str to int, optional
        Sizes of the model's symbolic dimensions (``dim_param``), such as ``{"batch": 8, "sequence": 128}``,
        substituted into the graph inputs, outputs and value infos before shape inference. Every symbolic
        dimension of a graph input needs a value; names the model does not use are ignored.
    warn_unknown : bool
        Emit :class:`~mcmcore.io.torch_export.UnknownOpWarning` when some ops have no FLOP formula.

    Returns
    -------
    Graph

    Raises
    ------
    ValueError
        If ``dims`` is not a mapping of names to positive integers (the message shows the value).
    InvalidGraphError
        Naming the file: empty, unreadable or truncated model, failed shape inference, a negative dimension
        (naming the tensor), a tensor produced by two nodes (naming the tensor and both nodes), a graph input
        whose shape is not static: a symbolic dimension ``dims`` gives no value (naming the input and the
        symbol), an unnamed unknown dimension, or no shape.
    GraphCycleError
        If the nodes form a cycle; the message names its nodes.

    Warns
    -----
    UnknownShapeWarning
        When tensors read or written by compute ops still have no static shape after shape inference
        (data-dependent sizes, ops without a shape-inference rule): it lists them and their ops, whose costs
        count those tensors as 0 bytes and 0 elements.
    """
    dims = _check_dims(dims)
    try:
        import onnx
        from onnx import numpy_helper, shape_inference
    except ImportError:
        raise InvalidGraphError("importing ONNX models needs the onnx package (pip install 'mcmcore[models]')") \
            from None
    source = "onnx model"
    if isinstance(model, (str, Path)):
        source = str(model)
        if not Path(model).exists():
            raise InvalidGraphError(f"{source}: no such file")
        if Path(model).is_file() and Path(model).stat().st_size == 0:
            raise InvalidGraphError(f"{source}: empty file, not an ONNX model")
        try:
            model = onnx.load(str(model))
        except Exception as exc:  # protobuf DecodeError and friends
            raise InvalidGraphError(f"{source}: not a readable ONNX model ({type(exc).__name__}: {exc}); "
                                    f"is the file truncated?") from None
        name = name or Path(source).stem
    if not isinstance(model, onnx.ModelProto) or not model.HasField("graph"):
        # protobuf decodes many non-model byte strings into an empty ModelProto rather than failing
        raise InvalidGraphError(f"{source}: not an ONNX model (it holds no graph)")
    model = _bind_dims(model, dims, source)
    declared = {d.dim_param for vi in _value_infos(model.graph) if vi.type.HasField("tensor_type")
                for d in vi.type.tensor_type.shape.dim if d.HasField("dim_param") and d.dim_param}
    order = _inference_order(model.graph)
    to_infer = model
    if order is not None:
        # shape inference walks the nodes once, in the listed order: give it producers before consumers
        to_infer = type(model)()
        to_infer.CopyFrom(model)
        del to_infer.graph.node[:]
        to_infer.graph.node.extend(model.graph.node[k] for k in order)
    try:
        # data_prop resolves shapes computed in the graph (Shape -> Gather -> Concat -> Reshape, as torch exports)
        inferred = shape_inference.infer_shapes(to_infer, data_prop=True).graph
    except Exception as exc:
        raise InvalidGraphError(f"{source}: ONNX shape inference failed ({exc})") from None
    graph = model.graph  # the nodes in their listed order (default names number them in that order)

    shapes: dict[str, tuple[tuple, int]] = {}
    not_static: dict[str, tuple[str, set]] = {}  # tensor with a dimension without value -> (shape text, symbols)

    def record(vi):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            return
        # a dimension without a value counts as 0 here; the tensor is listed in not_static and warned about
        sizes = tuple(d.dim_value if d.HasField("dim_value") else 0 for d in t.shape.dim)
        if any(d < 0 for d in sizes):
            raise InvalidGraphError(f"{source}: tensor {vi.name!r} has a negative dimension (shape "
                                    f"{list(sizes)}); dimensions must be >= 0")
        if all(d.HasField("dim_value") for d in t.shape.dim):
            not_static.pop(vi.name, None)
        else:
            not_static[vi.name] = (_shape_text(vi), {d.dim_param for d in t.shape.dim if d.HasField("dim_param")})
        shapes[vi.name] = (sizes, _ITEMSIZE.get(t.elem_type, 4))

    for vi in _value_infos(inferred):
        record(vi)
    weights: dict[str, float] = {}
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        weights[init.name] = float(arr.nbytes)
        shapes[init.name] = (tuple(arr.shape), arr.dtype.itemsize)
        not_static.pop(init.name, None)

    def numel(t: str) -> int:
        s = shapes.get(t)
        return int(math.prod(s[0])) if s else 0

    def nbytes(t: str) -> float:
        s = shapes.get(t)
        return float(math.prod(s[0]) * s[1]) if s else 0.0

    def label_of(k: int) -> str:
        node = graph.node[k]
        return node.name or f"{node.op_type}_{k}"

    # Producers over all nodes first: ONNX does not require nodes to be listed in topological order.
    producer_node: dict[str, int] = {}
    compute_index: dict[int, int] = {}
    for k, node in enumerate(graph.node):
        for o in node.output:
            if not o:
                continue
            if o in producer_node:
                raise InvalidGraphError(f"{source}: tensor {o!r} is produced by two nodes, "
                                        f"{label_of(producer_node[o])!r} and {label_of(k)!r}")
            producer_node[o] = k
        if node.op_type not in _SOURCES and node.op_type not in _FOLD:
            compute_index[k] = len(compute_index)

    empty: frozenset = frozenset()
    resolved: dict[str, tuple[frozenset, frozenset]] = {}

    def producers(t: str) -> tuple[frozenset, frozenset]:
        """(compute nodes, initializers) whose data reaches tensor ``t`` through folded ops."""
        chain: list[str] = []  # folded tensors walked through; a fold op passes on only its first input
        on_chain: set[str] = set()
        cur = t
        while True:
            if cur in resolved:
                found = resolved[cur]
                break
            k = producer_node.get(cur)
            if k is None:  # a graph input, an initializer, or a tensor nobody produces
                found = (empty, frozenset([cur]) if cur in weights else empty)
                break
            op = graph.node[k].op_type
            if op in _SOURCES:
                found = (empty, empty)
                break
            if op not in _FOLD:
                found = (frozenset([compute_index[k]]), empty)
                break
            if cur in on_chain:
                loop = (chain[chain.index(cur):] + [cur])[::-1]  # walked against the data flow
                path = " -> ".join(repr(label_of(producer_node[x])) for x in loop)
                raise GraphCycleError(f"{source}: graph has a cycle through folded ops: {path}")
            on_chain.add(cur)
            chain.append(cur)
            ins = [x for x in graph.node[k].input if x]
            if not ins:
                found = (empty, empty)
                break
            cur = ins[0]
        for x in chain:
            resolved[x] = found
        return found

    names, ops, flops, mem, out = [], [], [], [], []
    readers: list[frozenset] = []
    edges: list[tuple[int, int]] = []
    unknown: Counter = Counter()
    blind: dict[str, list[str]] = {}  # tensor without a static shape -> the compute ops reading or writing it
    used_names: set[str] = set()
    for k, node in enumerate(graph.node):
        op = node.op_type
        if k not in compute_index:
            continue
        ins = [x for x in node.input if x]
        prod = frozenset().union(*(producers(x)[0] for x in ins)) if ins else empty
        wts = frozenset().union(*(producers(x)[1] for x in ins)) if ins else empty
        outs = [o for o in node.output if o]
        out_numel = sum(numel(o) for o in outs)
        f: float | None
        if op == "MatMul" and ins:
            a = shapes.get(ins[0])
            f = 2.0 * out_numel * (a[0][-1] if a and a[0] else 0)
        elif op == "Gemm" and len(ins) >= 2:
            a = shapes.get(ins[0])
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            kdim = (a[0][0] if trans_a else a[0][-1]) if a and a[0] else 0
            f = 2.0 * out_numel * kdim + (out_numel if len(ins) > 2 else 0)
        elif op in ("Conv", "ConvTranspose") and len(ins) >= 2:
            w = shapes.get(ins[1])
            per = math.prod(w[0][1:]) if w else 0
            base = numel(ins[0]) if op == "ConvTranspose" else out_numel
            f = 2.0 * base * per + (out_numel if len(ins) > 2 else 0)
        elif op in _NORMS:
            f = _NORMS[op] * float(numel(outs[0]) if outs else 0)
        elif op in _ELEMENTWISE:
            f = _ELEMENTWISE[op] * float(numel(outs[0]) if outs else 0)
        elif op in _REDUCTIONS:
            f = _REDUCTIONS[op] * float(numel(ins[0]) if ins else 0)
        elif op in _MOVES:
            f = 0.0
        else:
            f = None
            unknown[op] += 1
        i = compute_index[k]
        label = node.name or f"{op}_{k}"
        while label in used_names:
            label = f"{label}_{k}"
        used_names.add(label)
        for x in dict.fromkeys(ins + outs):
            if x in not_static or x not in shapes:
                blind.setdefault(x, []).append(label)
        names.append(label)
        ops.append(op)
        flops.append(float(round(f or 0.0)))
        ob = sum(nbytes(o) for o in outs)
        out.append(ob)
        mem.append(sum(nbytes(x) for x in ins) + ob)
        readers.append(wts)
        edges.extend((p, i) for p in sorted(prod))

    wb = np.zeros(len(names))
    charged: set[str] = set()
    for i, wts in enumerate(readers):
        for w in sorted(wts):
            if w not in charged:
                charged.add(w)
                wb[i] += weights[w]
    try:
        result = Graph.from_edges(len(names), np.asarray(edges, dtype=np.int64).reshape(-1, 2), flops=flops,
                                  mem_bytes=mem, weight_bytes=wb, out_bytes=out, names=names, ops=ops,
                                  name=name or graph.name or None)
    except GraphCycleError as exc:
        raise GraphCycleError(f"{source}: {exc}", exc.cycle) from None
    except InvalidGraphError as exc:
        raise type(exc)(f"{source}: {exc}") from None
    if unknown and warn_unknown:
        listing = ", ".join(f"{k} x{v}" for k, v in unknown.most_common())
        warnings.warn(f"{sum(unknown.values())} ops without a FLOP formula got a bytes-only cost: {listing}",
                      UnknownOpWarning, stacklevel=2)
    if blind:
        # A warning, not an error: data-dependent sizes (NonZero, a computed TopK k, Loop outputs) and ops shape
        # inference does not know (com.microsoft kernels of onnxruntime-optimised models) are legitimate, and the
        # rest of the model is costed correctly.
        shown = list(blind.items())[:8]
        listing = "; ".join(f"{t!r} ({not_static.get(t, ('no shape',))[0]}, in {', '.join(map(repr, ops_[:3]))}"
                            f"{', ...' if len(ops_) > 3 else ''})" for t, ops_ in shown)
        more = f"; and {len(blind) - len(shown)} more" if len(blind) > len(shown) else ""
        n_ops = len({op for ops_ in blind.values() for op in ops_})
        hint = ""
        symbols = sorted({sym for t in blind for sym in not_static.get(t, ("", ()))[1] if sym in declared})
        if symbols:
            hint = (f"; the model declares the symbolic dimension{'s' if len(symbols) > 1 else ''} "
                    f"{', '.join(map(repr, symbols))}: give values with from_onnx(..., dims={{...}})")
        warnings.warn(f"{source}: {len(blind)} tensors have no static shape after ONNX shape inference, so the "
                      f"{n_ops} ops reading or writing them are under-costed (the tensors count as 0 bytes and 0 "
                      f"elements): {listing}{more}{hint}", UnknownShapeWarning, stacklevel=2)
    return result

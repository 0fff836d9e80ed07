"""Import an ONNX model into a cost-annotated :class:`~mcmcore.Graph`, with the same rules as the torch importer.

Shapes come from ONNX shape inference. One node per compute op; reshapes, transposes, casts, identities, dropout
and other zero-cost ops are folded (their consumers connect to the producers of their inputs); ``Constant``,
``Shape`` and friends are treated as constants. Initializers become the ``weight_bytes`` of the first op reading
them. Ops without a FLOP formula get a bytes-only cost and are counted in one warning.
"""
from __future__ import annotations

import math
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from mcmcore.errors import GraphCycleError, InvalidGraphError
from mcmcore.graph import Graph
from mcmcore.io.torch_export import UnknownOpWarning

__all__ = ["from_onnx"]

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

_ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}


def from_onnx(model, *, name: str | None = None, warn_unknown: bool = True) -> Graph:
    """Import an ONNX model (a path or an ``onnx.ModelProto``).

    Raises
    ------
    InvalidGraphError
        Naming the file: empty, unreadable or truncated model, failed shape inference, a negative dimension
        (naming the tensor), a tensor produced by two nodes (naming the tensor and both nodes).
    GraphCycleError
        If the nodes form a cycle; the message names its nodes.
    """
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
    try:
        model = shape_inference.infer_shapes(model)
    except Exception as exc:
        raise InvalidGraphError(f"{source}: ONNX shape inference failed ({exc})") from None
    graph = model.graph

    shapes: dict[str, tuple[tuple, int]] = {}

    def record(vi):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            return
        dims = tuple(d.dim_value if d.HasField("dim_value") else 0 for d in t.shape.dim)
        if any(d < 0 for d in dims):
            raise InvalidGraphError(f"{source}: tensor {vi.name!r} has a negative dimension (shape "
                                    f"{list(dims)}); dimensions must be >= 0")
        shapes[vi.name] = (dims, _ITEMSIZE.get(t.elem_type, 4))

    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        record(vi)
    weights: dict[str, float] = {}
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        weights[init.name] = float(arr.nbytes)
        shapes[init.name] = (tuple(arr.shape), arr.dtype.itemsize)

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
    if unknown and warn_unknown:
        listing = ", ".join(f"{k} x{v}" for k, v in unknown.most_common())
        warnings.warn(f"{sum(unknown.values())} ops without a FLOP formula got a bytes-only cost: {listing}",
                      UnknownOpWarning, stacklevel=2)
    try:
        return Graph.from_edges(len(names), np.asarray(edges, dtype=np.int64).reshape(-1, 2), flops=flops,
                                mem_bytes=mem, weight_bytes=wb, out_bytes=out, names=names, ops=ops,
                                name=name or graph.name or None)
    except GraphCycleError as exc:
        raise GraphCycleError(f"{source}: {exc}", exc.cycle) from None
    except InvalidGraphError as exc:
        raise type(exc)(f"{source}: {exc}") from None

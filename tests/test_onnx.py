"""The ONNX importer: shape inference, FLOPs per op, folding, initializers as weights, bad files."""
import re
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mcmcore import GraphCycleError, InvalidGraphError  # noqa: E402
from mcmcore.io import from_onnx  # noqa: E402
from mcmcore.io.onnx_import import UnknownShapeWarning  # noqa: E402
from mcmcore.io.torch_export import UnknownOpWarning  # noqa: E402


def mlp_model(extra_unknown=False):
    w1 = numpy_helper.from_array(np.zeros((16, 32), np.float32), "w1")
    b1 = numpy_helper.from_array(np.zeros((32,), np.float32), "b1")
    w2 = numpy_helper.from_array(np.zeros((8, 32), np.float32), "w2")
    shape = numpy_helper.from_array(np.array([4, 32], np.int64), "shape")
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"], name="fc1"),
        helper.make_node("Add", ["h0", "b1"], ["h1"], name="bias1"),
        helper.make_node("Relu", ["h1"], ["h2"], name="relu"),
        helper.make_node("Reshape", ["h2", "shape"], ["h3"], name="reshape"),
        helper.make_node("Gemm", ["h3", "w2"], ["y0"], name="fc2", transB=1),
        helper.make_node("Softmax", ["y0"], ["y"], name="softmax"),
    ]
    if extra_unknown:
        nodes.append(helper.make_node("Einsum", ["y", "y"], ["z"], name="odd", equation="ij,ij->i"))
    outputs = [helper.make_tensor_value_info("z" if extra_unknown else "y", TensorProto.FLOAT, None)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                              outputs, initializer=[w1, b1, w2, shape])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_mlp(tmp_path):
    path = tmp_path / "mlp.onnx"
    onnx.save(mlp_model(), str(path))
    g = from_onnx(path)
    assert g.name == "mlp"
    assert g.ops == ("MatMul", "Add", "Relu", "Gemm", "Softmax")  # the Reshape is folded
    np.testing.assert_array_equal(g.flops, [2 * 4 * 32 * 16, 128, 128, 2 * 4 * 8 * 32, 5 * 4 * 8])
    np.testing.assert_array_equal(g.weight_bytes, [16 * 32 * 4, 32 * 4, 0, 8 * 32 * 4, 0])
    np.testing.assert_array_equal(g.out_bytes, [512, 512, 512, 128, 128])
    assert g.n_edges == 4 and 3 in g.successors(2)  # relu -> (reshape) -> fc2


def test_conv():
    w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]),
         helper.make_node("GlobalAveragePool", ["y"], ["z"])], "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 10, 10])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], initializer=[w])
    g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert g.flops[0] == 2 * 8 * 10 * 10 * 27 and g.flops[1] == 800
    assert g.names == ("Conv_0", "GlobalAveragePool_1")


def test_unknown_op_warns():
    with pytest.warns(UnknownOpWarning, match="Einsum x1"):
        g = from_onnx(mlp_model(extra_unknown=True))
    assert g.ops[-1] == "Einsum" and g.flops[-1] == 0 and g.mem_bytes[-1] > 0


def test_bad_files(tmp_path):
    path = tmp_path / "mlp.onnx"
    onnx.save(mlp_model(), str(path))
    data = path.read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(InvalidGraphError, match="truncated.onnx"):
        from_onnx(bad)
    with pytest.raises(InvalidGraphError, match="no such file"):
        from_onnx(tmp_path / "missing.onnx")


def test_cli_import(tmp_path):
    from mcmcore.cli import main
    from mcmcore.io import load_graph
    from mcmcore.io import load_graph

    path = tmp_path / "mlp.onnx"
    onnx.save(mlp_model(), str(path))
    assert main(["import", str(path), "-o", str(tmp_path / "g.npz")]) == 0
    assert load_graph(tmp_path / "g.npz") == from_onnx(path)


def small_model(nodes, x_shape=(1, 4), output="Y"):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x_shape))],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_nodes_out_of_topological_order():
    # ONNX does not require topological order: the consumer is listed before its (folded) producer.
    g = from_onnx(small_model([helper.make_node("Relu", ["B"], ["Y"], name="late"),
                               helper.make_node("Identity", ["A"], ["B"], name="id"),
                               helper.make_node("Relu", ["X"], ["A"], name="early")]))
    assert g.names == ("late", "early")
    assert g.n_edges == 1 and list(g.successors(1)) == [0]
    # shape inference runs on the nodes sorted topologically: 'late' gets its shapes too (it used to cost 0)
    np.testing.assert_array_equal(g.flops, [4, 4])
    np.testing.assert_array_equal(g.out_bytes, [16, 16])


def test_cycle_names_nodes():
    with pytest.raises(GraphCycleError, match="'add'.*'relu'|'relu'.*'add'") as info:
        from_onnx(small_model([helper.make_node("Add", ["X", "B"], ["A"], name="add"),
                               helper.make_node("Relu", ["A"], ["B"], name="relu"),
                               helper.make_node("Relu", ["B"], ["Y"], name="out")]))
    assert sorted(info.value.cycle) == [0, 1]
    with pytest.raises(GraphCycleError, match="folded ops: 'id1' -> 'id2' -> 'id1'"):
        from_onnx(small_model([helper.make_node("Identity", ["B"], ["A"], name="id1"),
                               helper.make_node("Identity", ["A"], ["B"], name="id2"),
                               helper.make_node("Relu", ["A"], ["Y"], name="out")]))


def test_tensor_produced_twice():
    with pytest.raises(InvalidGraphError, match="tensor 'Y' is produced by two nodes, 'first' and 'second'"):
        from_onnx(small_model([helper.make_node("Relu", ["X"], ["Y"], name="first"),
                               helper.make_node("Relu", ["X"], ["Y"], name="second")]))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(InvalidGraphError, match="empty.onnx: empty file, not an ONNX model"):
        from_onnx(path)
    with pytest.raises(InvalidGraphError, match="not an ONNX model"):
        from_onnx(onnx.ModelProto())


def test_negative_dimension():
    with pytest.raises(InvalidGraphError, match=r"tensor 'X' has a negative dimension \(shape \[-5, 4\]\)"):
        from_onnx(small_model([helper.make_node("Relu", ["X"], ["Y"])], x_shape=(-5, 4)))


def dynamic_model(batch="batch", output_shape=("batch", 16)):
    """MatMul(x[batch, 16], W[16, 16]) -> Relu, the batch axis symbolic as torch and optimum export it."""
    w = numpy_helper.from_array(np.ones((16, 16), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"), helper.make_node("Relu", ["h"], ["y"], name="relu")],
        "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(output_shape))], initializer=[w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_symbolic_dimension_needs_a_value(tmp_path):
    path = tmp_path / "dyn.onnx"
    onnx.save(dynamic_model(), str(path))
    # It used to import with 0 FLOPs and 0 bytes, silently.
    with pytest.raises(InvalidGraphError, match=r"dyn.onnx: symbolic dimension without a value: 'batch' \(graph input "
                                                r"'x', shape \['batch', 16\]\); give it a value with "
                                                r"from_onnx\(\.\.\., dims=\{'batch': <size>\}\)"):
        from_onnx(path)
    static = from_onnx(dynamic_model(batch=8, output_shape=(8, 16)))
    model = dynamic_model()
    before = model.SerializeToString()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for g in (from_onnx(path, dims={"batch": 8}), from_onnx(model, dims={"batch": 8, "unused": 3})):
            np.testing.assert_array_equal(g.flops, [2 * 8 * 16 * 16, 8 * 16])
            for field in ("flops", "mem_bytes", "out_bytes", "weight_bytes"):
                np.testing.assert_array_equal(getattr(g, field), getattr(static, field), err_msg=field)
    assert model.SerializeToString() == before  # the caller's model is not edited


def test_every_missing_symbol_is_named():
    graph = helper.make_graph(
        [helper.make_node("Add", ["ids", "mask"], ["y"])], "two",
        [helper.make_tensor_value_info("ids", TensorProto.FLOAT, ["batch", "seq"]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "seq"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(InvalidGraphError, match=r"symbolic dimensions without a value: 'batch' .*'seq' .*"
                                                r"dims=\{'batch': <size>, 'seq': <size>\}"):
        from_onnx(model)
    with pytest.raises(InvalidGraphError, match=r"without a value: 'batch' \(graph input 'ids'"):
        from_onnx(model, dims={"seq": 128})
    assert from_onnx(model, dims={"batch": 2, "seq": 3}).flops.tolist() == [6]


def test_input_shape_that_dims_cannot_set():
    with pytest.raises(InvalidGraphError, match=r"graph input 'X' has an unknown, unnamed dimension \(axis 0 of "
                                                r"shape \['\?', 4\]\)"):
        from_onnx(small_model([helper.make_node("Relu", ["X"], ["Y"])], x_shape=(None, 4)))
    graph = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"])], "g",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    with pytest.raises(InvalidGraphError, match="graph input 'X' has no shape"):
        from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


@pytest.mark.parametrize("dims, shown", [({"batch": 0}, "dims['batch'] must be a positive integer, got 0"),
                                         ({"batch": 8.0}, "dims['batch'] must be a positive integer, got 8.0"),
                                         ({"batch": True}, "dims['batch'] must be a positive integer, got True"),
                                         ([("batch", 8)], "dims must be a mapping"),
                                         ({8: 8}, "dims keys must be symbolic dimension names")])
def test_bad_dims(dims, shown):
    with pytest.raises(ValueError, match=re.escape(shown)):
        from_onnx(dynamic_model(), dims=dims)


def test_computed_reshape_is_resolved():
    # Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as torch exports a flatten: data propagation gives the
    # Reshape output a static shape (without it, the Relu read an unknown shape and cost 0).
    consts = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
              numpy_helper.from_array(np.array([0], np.int64), "axes"),
              numpy_helper.from_array(np.array([-1], np.int64), "minus_one")]
    nodes = [helper.make_node("Shape", ["X"], ["s"]), helper.make_node("Gather", ["s", "zero"], ["s0"], axis=0),
             helper.make_node("Unsqueeze", ["s0", "axes"], ["s0u"]),
             helper.make_node("Concat", ["s0u", "minus_one"], ["target"], axis=0),
             helper.make_node("Reshape", ["X", "target"], ["flat"]), helper.make_node("Relu", ["flat"], ["Y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [8, 16, 4])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializer=consts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert g.ops[-1] == "Relu" and g.flops[-1] == 8 * 64 and g.out_bytes[-1] == 8 * 64 * 4


def test_data_dependent_shape_warns():
    # NonZero's output size depends on the data: the ops that touch it are listed, not silently costed 0.
    model = small_model([helper.make_node("NonZero", ["X"], ["nz"], name="nonzero"),
                         helper.make_node("Cast", ["nz"], ["nzf"], to=TensorProto.FLOAT),
                         helper.make_node("Relu", ["nzf"], ["Y"], name="relu")], x_shape=(8, 16))
    with pytest.warns(UnknownShapeWarning, match=r"3 tensors have no static shape after ONNX shape inference, so "
                                                 r"the 2 ops reading or writing them are under-costed .*'nz' "
                                                 r"\(\[2, 'unk__\d+'\], in 'nonzero'\); 'nzf' .* in 'relu'"):
        g = from_onnx(model, warn_unknown=False)
    assert g.names == ("nonzero", "relu")

def test_cli_import_gives_dims(tmp_path, capsys):
    from mcmcore.cli import main
    from mcmcore.io import load_graph

    path = tmp_path / "dyn.onnx"
    onnx.save(dynamic_model(), str(path))
    out = tmp_path / "g.json"
    assert main(["import", str(path), "-o", str(out)]) == 1
    assert "--dim batch=<size>" in capsys.readouterr().err
    assert main(["import", str(path), "-o", str(out), "--dim", "batch=8"]) == 0
    np.testing.assert_array_equal(load_graph(out).flops, [2 * 8 * 16 * 16, 8 * 16])
    assert main(["import", str(path), "-o", str(out), "--dim", "batch=8", "--dim", "batch=4"]) == 1
    assert "gives a dimension twice: batch" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["import", str(path), "-o", str(out), "--dim", "batch"])
    assert "expected NAME=SIZE" in capsys.readouterr().err

"""The ONNX importer: shape inference, FLOPs per op, folding, initializers as weights, bad files."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mcmcore import GraphCycleError, InvalidGraphError  # noqa: E402
from mcmcore.io import from_onnx  # noqa: E402
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

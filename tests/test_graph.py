"""Graph: CSR construction, immutability, validation errors, equality, native formats, networkx."""
from __future__ import annotations

import json
import re

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcmcore import Graph, GraphCycleError, InvalidGraphError, load_graph
from mcmcore.io.native import FORMAT, graph_from_dict, graph_to_dict, save_graph

SETTINGS = settings(deadline=None, max_examples=40)


def chain(n: int, **kw) -> Graph:
    return Graph.from_edges(n, [(i, i + 1) for i in range(n - 1)], **kw)


def full_graph() -> Graph:
    """Every optional field set, with floats that a lossy writer would change."""
    return Graph.from_edges(
        5, [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)],
        flops=[0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308, 3.0],
        mem_bytes=[1.0, 2.5, 1e-300, 0.0, 7.0],
        weight_bytes=[0.0, 1.0, 2.0, 3.0, 1e15],
        out_bytes=[3.0, 0.1, 0.2, 1e-300, 0.0],
        latency=[[0.1, 0.3], [1e-300, 2.0], [3.0, 0.1 + 0.2], [5.0, 6.0], [0.0, 1e-9]],
        supported=[[True, False], [True, True], [False, True], [True, True], [True, True]],
        comm_time=[0.1, 0.2, 0.1 + 0.2, 0.0, 1e-300],
        color=[-1, 0, 0, 7, -1], pin=[-1, -1, 1, 0, -1], backward=[False, False, True, True, False],
        names=["in", "mm.1", "mm.2", "add/é", "out"], ops=["input", "matmul", "matmul", "add", "output"],
        name="full",
    )


def assert_identical(a: Graph, b: Graph) -> None:
    """Equality plus bit-exact arrays (== would hide -0.0 vs 0.0 or dtype drift)."""
    assert a == b
    assert hash(a) == hash(b)
    assert a.names == b.names and a.ops == b.ops and a.name == b.name
    for f in ("flops", "mem_bytes", "weight_bytes", "out_bytes", "latency", "supported", "comm_time", "color",
              "pin", "backward", "succ_ptr", "succ_idx", "topo_order"):
        x, y = getattr(a, f), getattr(b, f)
        if x is None:
            assert y is None, f
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, f
        assert x.tobytes() == y.tobytes(), f


@st.composite
def dags(draw, max_nodes: int = 12):
    """A random DAG: edges go from lower to higher position in a random permutation of the ids."""
    n = draw(st.integers(0, max_nodes))
    perm = draw(st.permutations(list(range(n))))
    pairs = draw(st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.integers(0, max(n - 1, 0))),
                          max_size=3 * n)) if n else []
    edges = [(perm[min(a, b)], perm[max(a, b)]) for a, b in pairs if a != b]
    return n, edges


# ------------------------------------------------------------------------------------------------- basics
def test_csr_dedup_successors_predecessors():
    g = Graph.from_edges(4, [(0, 2), (0, 1), (0, 1), (1, 2), (2, 3), (0, 2)])
    assert g.n_nodes == 4 and len(g) == 4
    assert g.n_edges == 4
    assert g.succ_ptr.tolist() == [0, 2, 3, 4, 4]
    assert g.succ_idx.tolist() == [1, 2, 2, 3]
    assert g.pred_ptr.tolist() == [0, 0, 1, 3, 4]
    assert g.pred_idx.tolist() == [0, 0, 1, 2]
    assert g.succ_ptr.dtype == g.succ_idx.dtype == g.pred_ptr.dtype == g.pred_idx.dtype == np.int32
    assert g.edges.tolist() == [[0, 1], [0, 2], [1, 2], [2, 3]]
    assert g.successors(0).tolist() == [1, 2]
    assert g.successors(3).tolist() == []
    assert g.predecessors(2).tolist() == [0, 1]
    assert g.predecessors(0).tolist() == []
    assert g.flops.dtype == np.float64 and g.flops.tolist() == [0.0] * 4
    assert g.latency is None and g.supported is None and g.comm_time is None
    assert g.color is None and g.pin is None and g.backward is None
    assert g.names == ("n0", "n1", "n2", "n3") and g.ops == ("op",) * 4
    assert g.n_kinds == 0


def test_empty_and_edgeless_graphs():
    g = Graph.from_edges(0, [])
    assert (g.n_nodes, g.n_edges) == (0, 0)
    assert g.topo_order.tolist() == [] and g.edges.shape == (0, 2)
    h = Graph.from_edges(3, np.zeros((0, 2), dtype=np.int64))
    assert h.n_edges == 0 and sorted(h.topo_order.tolist()) == [0, 1, 2]


def test_topo_order_identity_for_sorted_ids():
    g = Graph.from_edges(5, [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (0, 4)])
    assert g.topo_order.tolist() == [0, 1, 2, 3, 4]
    assert chain(50).topo_order.tolist() == list(range(50))


def _assert_topological(g: Graph) -> None:
    order = g.topo_order.tolist()
    assert sorted(order) == list(range(g.n_nodes))
    pos = {v: i for i, v in enumerate(order)}
    for u, v in g.edges.tolist():
        assert pos[u] < pos[v]


def test_topo_order_valid_for_unsorted_ids():
    g = Graph.from_edges(5, [(4, 3), (3, 2), (4, 0), (0, 2), (2, 1)])
    _assert_topological(g)
    assert g.topo_order[0] == 4 and g.topo_order[-1] == 1


@SETTINGS
@given(dags())
def test_topo_order_valid_random(dag):
    n, edges = dag
    g = Graph.from_edges(n, edges)
    assert g.n_edges == len(set(edges))
    _assert_topological(g)
    # successors and predecessors describe the same edge set
    succ = {(u, int(v)) for u in range(n) for v in g.successors(u)}
    pred = {(int(u), v) for v in range(n) for u in g.predecessors(v)}
    assert succ == pred == set(edges)
    assert nx.is_directed_acyclic_graph(g.to_networkx())


def test_arrays_are_read_only():
    g = full_graph()
    for f in ("succ_ptr", "succ_idx", "pred_ptr", "pred_idx", "topo_order", "flops", "mem_bytes", "weight_bytes",
              "out_bytes", "latency", "supported", "comm_time", "color", "pin", "backward", "op_index"):
        a = getattr(g, f)
        assert not a.flags.writeable, f
        with pytest.raises(ValueError, match="read-only"):
            a[0] = a[0]


def test_input_arrays_are_copied():
    flops = np.array([1.0, 2.0, 3.0])
    g = Graph.from_edges(3, [(0, 1)], flops=flops)
    flops[0] = 99.0
    assert g.flops[0] == 1.0


def test_attributes_cannot_be_set():
    g = chain(3)
    with pytest.raises(AttributeError, match="immutable"):
        g.flops = np.ones(3)
    with pytest.raises(AttributeError, match="immutable"):
        g.n_nodes = 5
    with pytest.raises(AttributeError, match="immutable"):
        g.anything = 1
    with pytest.raises(TypeError, match="from_edges"):
        Graph()


def test_fields_and_names():
    g = full_graph()
    assert g.n_kinds == 2 and g.latency.shape == (5, 2)
    assert g.index("mm.2") == 2
    with pytest.raises(KeyError, match="nope"):
        g.index("nope")
    assert g.op_types == ("add", "input", "matmul", "output")
    assert [g.op_types[i] for i in g.op_index] == list(g.ops)
    assert g.n_colors == 2
    assert g.color.dtype == g.pin.dtype == np.int32 and g.backward.dtype == bool
    # a 1-D latency is one device kind
    h = Graph.from_edges(2, [], latency=[1.0, 2.0])
    assert h.latency.shape == (2, 1) and h.n_kinds == 1
    # a scalar cost is broadcast
    assert Graph.from_edges(3, [], flops=2.0).flops.tolist() == [2.0, 2.0, 2.0]


# ------------------------------------------------------------------------------------------------- errors
def test_cycle_error_names_cycle():
    with pytest.raises(GraphCycleError, match=r"cycle: 1 -> 2 -> 0 -> 1") as info:
        Graph.from_edges(3, [(0, 1), (1, 2), (2, 0)])
    assert sorted(info.value.cycle) == [0, 1, 2]
    assert isinstance(info.value, InvalidGraphError)


def test_cycle_error_uses_names():
    with pytest.raises(GraphCycleError, match=r"cycle: .*'b' \(id 1\) -> 'c' \(id 2\) -> 'a' \(id 0\)") as info:
        Graph.from_edges(4, [(3, 0), (0, 1), (1, 2), (2, 0)], names=["a", "b", "c", "d"])
    cyc = info.value.cycle
    assert sorted(cyc) == [0, 1, 2]
    # the cycle is listed in edge order
    edges = {(0, 1), (1, 2), (2, 0)}
    assert all((cyc[i], cyc[(i + 1) % 3]) in edges for i in range(3))


def test_self_loop_is_a_cycle():
    with pytest.raises(GraphCycleError, match=r"self-loop on node 1\b") as info:
        Graph.from_edges(3, [(0, 1), (1, 1)])
    assert info.value.cycle == [1]
    with pytest.raises(GraphCycleError, match=r"self-loop on node 'y' \(id 1\)") as info:
        Graph.from_edges(3, [(1, 1)], names=["x", "y", "z"])
    assert info.value.cycle == [1]


@pytest.mark.parametrize("field", ["flops", "mem_bytes", "weight_bytes", "out_bytes", "comm_time"])
@pytest.mark.parametrize("value, word", [(float("nan"), "NaN"), (-1.0, "negative"), (float("inf"), "infinite")])
def test_bad_cost(field, value, word):
    vals = [1.0, value, 2.0]
    with pytest.raises(InvalidGraphError, match=rf"^{field} of node 1 is {word} \((nan|-1\.0|inf)\)"):
        Graph.from_edges(3, [(0, 1)], **{field: vals})
    with pytest.raises(InvalidGraphError, match=rf"^{field} of node 'b' \(id 1\) is {word}"):
        Graph.from_edges(3, [(0, 1)], names=["a", "b", "c"], **{field: vals})


@pytest.mark.parametrize("value, word", [(float("nan"), "NaN"), (-0.5, "negative"), (float("-inf"), "infinite")])
def test_bad_latency(value, word):
    lat = [[1.0, 1.0], [1.0, value], [1.0, 1.0]]
    with pytest.raises(InvalidGraphError, match=rf"latency of node 'b' \(id 1\) is {word}"):
        Graph.from_edges(3, [], latency=lat, names="a b c".split())


def test_non_numeric_cost():
    with pytest.raises(InvalidGraphError, match="flops must be numbers"):
        Graph.from_edges(2, [], flops=["x", 1])


@pytest.mark.parametrize("kw, pattern", [
    ({"latency": ["a", "b", "c"]}, r"latency must be numbers: latency of node 'a' \(id 0\) is 'a'"),
    ({"latency": [[1.0, 2.0], [1.0, None], [1.0, 1.0]]}, r"latency of node 'b' \(id 1\) is None"),
    ({"flops": [1.0, "2.5", 3.0]}, r"flops of node 'b' \(id 1\) is '2\.5'"),     # no silent str -> float
    ({"comm_time": [1.0, 1.0, 1 + 2j]}, r"comm_time of node 'c' \(id 2\) is \(1\+2j\)"),
    ({"latency": [[1.0, 2.0], [1.0], [1.0, 1.0]]}, r"latency must be numbers, one per node \(or one row per node\)"),
])
def test_non_numeric_values_name_field_node_and_value(kw, pattern):
    with pytest.raises(InvalidGraphError, match=pattern):
        Graph.from_edges(3, [], names=["a", "b", "c"], **kw)


@pytest.mark.parametrize("kw, pattern", [
    # bool('no') is True: a string must not become a flag
    ({"backward": ["no", "no", "no"]}, r"backward must hold booleans .*: backward of node 'a' \(id 0\) is 'no'"),
    ({"backward": np.array(["False", "True", "False"])}, r"backward of node 'a' \(id 0\) is 'False'"),
    ({"backward": [True, None, False]}, r"backward of node 'b' \(id 1\) is None"),
    ({"backward": [0, 1, 2]}, r"backward of node 'c' \(id 2\) is 2"),
    ({"backward": [0.0, 0.5, 1.0]}, r"backward of node 'b' \(id 1\) is 0\.5"),
    ({"supported": [["a"], ["b"], ["c"]]}, r"supported must hold booleans .*: supported of node 'a' \(id 0\) is 'a'"),
    ({"supported": [[True, True], [True, "yes"], [True, True]]}, r"supported of node 'b' \(id 1\) is 'yes'"),
    ({"supported": [[True], [False, True], [True]]}, r"supported must hold booleans .*one row per node"),
])
def test_boolean_fields_reject_non_booleans(kw, pattern):
    with pytest.raises(InvalidGraphError, match=pattern):
        Graph.from_edges(3, [], names=["a", "b", "c"], **kw)


def test_boolean_fields_accept_bools_and_zero_one():
    g = Graph.from_edges(3, [], backward=[0, 1, 0], supported=[[1, 0], [0, 1], [True, True]])
    assert g.backward.dtype == bool and g.backward.tolist() == [False, True, False]
    assert g.supported.dtype == bool and g.supported.tolist() == [[True, False], [False, True], [True, True]]
    assert g == Graph.from_edges(3, [], backward=np.array([False, True, False]),
                                 supported=[[True, False], [False, True], [True, True]])


def test_name_with_lone_surrogate_is_rejected(tmp_path):
    """The .npz form stores names as UTF-8; a lone surrogate (e.g. from os.fsdecode) cannot be written."""
    with pytest.raises(InvalidGraphError, match=r"name of node 1 is 'b\\ud800', which holds a lone surrogate "
                                                r"\('\\ud800' at position 1\)"):
        Graph.from_edges(2, [], names=["a", "b\ud800"])
    G = nx.DiGraph()
    G.add_node("x\udcff")
    with pytest.raises(InvalidGraphError, match="lone surrogate"):
        Graph.from_networkx(G)
    # surrogate pairs written as escapes in JSON decode to proper characters and are fine
    g = Graph.from_edges(1, [], names=[json.loads('"\\ud83d\\ude00"')])
    g.save(tmp_path / "g.npz")
    assert load_graph(tmp_path / "g.npz").names == ("\U0001f600",)


@pytest.mark.parametrize("edge, missing", [((0, 3), 3), ((7, 1), 7), ((-1, 2), -1), ((0, -5), -5)])
def test_dangling_edge(edge, missing):
    with pytest.raises(InvalidGraphError, match=rf"dangling edge 1 \({edge[0]} -> {edge[1]}\): node {missing} "
                                                r"does not exist \(the graph has 3 nodes\)"):
        Graph.from_edges(3, [(0, 1), edge])


def test_duplicate_name():
    with pytest.raises(InvalidGraphError, match=r"duplicate node name 'a' \(nodes 0 and 2\)"):
        Graph.from_edges(3, [], names=["a", "b", "a"])


def test_names_must_not_be_a_string():
    with pytest.raises(InvalidGraphError, match="names must be a sequence of strings"):
        Graph.from_edges(3, [], names="abc")
    with pytest.raises(InvalidGraphError, match="ops must be a sequence of strings"):
        Graph.from_edges(3, [], ops="abc")


@pytest.mark.parametrize("kw, pattern", [
    ({"flops": [1.0, 2.0]}, r"flops has 2 entries .* expected 3"),
    ({"out_bytes": np.ones((3, 1))}, r"out_bytes has 3 entries \(shape \(3, 1\)\), expected 3"),
    ({"comm_time": [1.0] * 4}, r"comm_time has 4 entries"),
    ({"names": ["a", "b"]}, r"names has 2 entries, expected 3"),
    ({"ops": ["a"] * 4}, r"ops has 4 entries, expected 3"),
    ({"color": [0, 0]}, r"color has shape \(2,\), expected \(3,\)"),
    ({"pin": [0, 0, 0, 0]}, r"pin has shape \(4,\), expected \(3,\)"),
    ({"backward": [True]}, r"backward has shape \(1,\), expected \(3,\)"),
    ({"supported": np.ones((2, 2), bool)}, r"supported has shape \(2, 2\), expected \(3, n_kinds\)"),
])
def test_wrong_length(kw, pattern):
    with pytest.raises(InvalidGraphError, match=pattern):
        Graph.from_edges(3, [(0, 1)], **kw)


@pytest.mark.parametrize("lat", [np.ones((2, 2)), np.ones((3, 2, 1)), np.ones((3, 0)), np.ones(4)])
def test_latency_wrong_shape(lat):
    with pytest.raises(InvalidGraphError, match=r"latency has shape .*, expected \(3,\) or \(3, n_kinds\)"):
        Graph.from_edges(3, [], latency=lat)


def test_supported_kinds_must_match_latency():
    with pytest.raises(InvalidGraphError, match="supported has 3 kinds but latency has 2"):
        Graph.from_edges(2, [], latency=np.ones((2, 2)), supported=np.ones((2, 3), bool))


def test_supported_row_with_no_kind():
    with pytest.raises(InvalidGraphError, match=r"node 'b' \(id 1\) is supported on no device kind"):
        Graph.from_edges(3, [], supported=[[True, False], [False, False], [False, True]], names=["a", "b", "c"])


@pytest.mark.parametrize("edges", [[(0.5, 1)], [(0, 1.25)], [("a", "b")], [(0, float("nan"))],
                                   [(True, False)]])
def test_non_integer_edges(edges):
    with pytest.raises(InvalidGraphError, match="edges must hold integer node ids"):
        Graph.from_edges(3, edges)


def test_integral_float_edges_are_accepted():
    assert Graph.from_edges(3, [(0.0, 1.0), (1.0, 2.0)]).edges.tolist() == [[0, 1], [1, 2]]


@pytest.mark.parametrize("edges", [[(0, 1, 2)], [0, 1, 2], np.zeros((2, 2, 2), int)])
def test_edges_wrong_shape(edges):
    with pytest.raises(InvalidGraphError, match=r"edges must have shape \(E, 2\)"):
        Graph.from_edges(3, edges)


def test_ragged_edges():
    with pytest.raises(InvalidGraphError, match=r"edges must"):
        Graph.from_edges(3, [(0, 1), (2,)])


@pytest.mark.parametrize("field", ["color", "pin"])
def test_color_pin_below_minus_one(field):
    with pytest.raises(InvalidGraphError, match=rf"{field} of node 'c' \(id 2\) is -2; use -1 for none"):
        Graph.from_edges(3, [], names=["a", "b", "c"], **{field: [0, -1, -2]})


@pytest.mark.parametrize("field", ["color", "pin"])
def test_color_pin_non_integer(field):
    with pytest.raises(InvalidGraphError, match=rf"{field} must be integers"):
        Graph.from_edges(3, [], **{field: [0, 0.5, 1]})
    # integral floats are fine
    assert getattr(Graph.from_edges(3, [], **{field: [0.0, -1.0, 2.0]}), field).tolist() == [0, -1, 2]


@pytest.mark.parametrize("n", [-1, 2.5, "x", None])
def test_bad_n_nodes(n):
    with pytest.raises(InvalidGraphError, match="n_nodes must be"):
        Graph.from_edges(n, [])


# --------------------------------------------------------------------------------------------- equality / hash
def test_equality_and_hash():
    a = full_graph()
    b = full_graph()
    assert a is not b and a == b and hash(a) == hash(b) and a.digest() == b.digest()
    assert len({a, b}) == 1
    flops = a.flops.copy()
    flops[4] = 3.5
    c = Graph.from_edges(5, a.edges, **{**_kwargs(a), "flops": flops})
    assert c != a and hash(c) != hash(a)
    assert a != Graph.from_edges(5, a.edges[:-1], **_kwargs(a))
    assert a != Graph.from_edges(5, a.edges, **{**_kwargs(a), "name": "other"})
    assert (a == 3) is False


def test_equal_graphs_hash_equal_with_negative_zero():
    a = Graph.from_edges(2, [], flops=[-0.0, 0.0], latency=[[-0.0], [1.0]])
    b = Graph.from_edges(2, [], flops=[0.0, 0.0], latency=[[0.0], [1.0]])
    assert a == b and hash(a) == hash(b)


def test_default_names_equal_explicit_ones():
    a = chain(3)
    b = chain(3, names=["n0", "n1", "n2"])
    assert a == b and hash(a) == hash(b)


def _kwargs(g: Graph) -> dict:
    return {f: getattr(g, f) for f in ("flops", "mem_bytes", "weight_bytes", "out_bytes", "latency", "supported",
                                       "comm_time", "color", "pin", "backward")} | {
        "names": g.names, "ops": g.ops, "name": g.name}


# ----------------------------------------------------------------------------------------------- native JSON
def test_json_round_trip_exact(tmp_path):
    g = full_graph()
    path = tmp_path / "g.json"
    g.save(path)
    back = load_graph(path)
    assert_identical(g, back)
    assert back.flops[0] == 0.1 + 0.2 and back.flops[1] == 1e-300 and back.latency[2, 1] == 0.1 + 0.2
    doc = json.loads(path.read_text())
    assert doc["format"] == FORMAT and doc["version"] == 1
    # the dict form round-trips too, and to_dict is the same document
    assert_identical(graph_from_dict(g.to_dict()), g)
    assert g.to_dict() == graph_to_dict(g) == doc


@pytest.mark.parametrize("g", [Graph.from_edges(0, []), chain(4), Graph.from_edges(3, [], names=["", " ", "\0"])],
                         ids=["empty", "chain", "odd-names"])
@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_round_trip_small(tmp_path, g, suffix):
    path = tmp_path / f"g{suffix}"
    save_graph(g, path)
    assert_identical(load_graph(path), g)


def test_npz_round_trip_exact(tmp_path):
    g = full_graph()
    path = tmp_path / "g.npz"
    g.save(path)
    assert_identical(load_graph(path), g)


@SETTINGS
@given(dags(), st.data())
def test_round_trip_random(tmp_path_factory, dag, data):
    n, edges = dag
    floats = st.floats(0, 1e300, allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, 5e-324, 0.1])
    kw = {f: data.draw(st.lists(floats, min_size=n, max_size=n)) for f in ("flops", "out_bytes")}
    if data.draw(st.booleans()):
        kw["color"] = data.draw(st.lists(st.integers(-1, 3), min_size=n, max_size=n))
    if data.draw(st.booleans()):
        kw["names"] = data.draw(st.lists(st.text(max_size=4), min_size=n, max_size=n, unique=True))
    g = Graph.from_edges(n, edges, **kw)
    d = tmp_path_factory.mktemp("rt")
    for suffix in (".json", ".npz"):
        g.save(d / f"g{suffix}")
        assert_identical(load_graph(d / f"g{suffix}"), g)


# ------------------------------------------------------------------------------------------ load_graph errors
def _write_doc(path, **changes):
    doc = chain(3).to_dict()
    for k, v in changes.items():
        if v is _DELETE:
            del doc[k]
        else:
            doc[k] = v
    path.write_text(json.dumps(doc))
    return path


_DELETE = object()


def test_load_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(InvalidGraphError, match=re.escape(f"{path}: no such file")):
        load_graph(path)


def test_load_directory(tmp_path):
    path = tmp_path / "dir.json"
    path.mkdir()
    with pytest.raises(InvalidGraphError, match=re.escape(f"{path}: cannot read")):
        load_graph(path)


def test_load_truncated_json(tmp_path):
    path = tmp_path / "g.json"
    full_graph().save(path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + r": not valid JSON .*truncated"):
        load_graph(path)
    path.write_text("")
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + ": not valid JSON"):
        load_graph(path)


def test_load_binary_garbage_json(tmp_path):
    path = tmp_path / "g.json"
    path.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + ": not a text file"):
        load_graph(path)


def test_load_not_an_object(tmp_path):
    path = tmp_path / "g.json"
    path.write_text("[1, 2]")
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + ": expected a JSON object"):
        load_graph(path)


def test_load_wrong_format(tmp_path):
    path = _write_doc(tmp_path / "g.json", format="onnx")
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + r": not an mcmcore graph .*'onnx'"):
        load_graph(path)
    path = _write_doc(tmp_path / "h.json", format=_DELETE)
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + r": not an mcmcore graph .*None"):
        load_graph(path)


def test_load_wrong_version(tmp_path):
    path = _write_doc(tmp_path / "g.json", version=2)
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + r": unsupported graph format version 2"):
        load_graph(path)


@pytest.mark.parametrize("field", ["n_nodes", "edges"])
def test_load_missing_field(tmp_path, field):
    path = _write_doc(tmp_path / "g.json", **{field: _DELETE})
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + rf": missing field '{field}'"):
        load_graph(path)


def test_load_wrong_length(tmp_path):
    path = _write_doc(tmp_path / "g.json", flops=[1.0, 2.0])
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + r": flops has 2 entries .* expected 3"):
        load_graph(path)


def test_load_bad_values(tmp_path):
    path = _write_doc(tmp_path / "a.json", edges=[[0, 1], [0, 0.5]])
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + ": edges must hold integer node ids"):
        load_graph(path)
    path = _write_doc(tmp_path / "b.json", edges=[[0, 1], [1, 9]])
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + r": dangling edge 1 \(1 -> 9\)"):
        load_graph(path)
    path = _write_doc(tmp_path / "c.json", edges=[[0, 1], [1, 2], [2, 0]])
    with pytest.raises(GraphCycleError, match=re.escape(str(path)) + r": graph has a cycle") as info:
        load_graph(path)
    assert sorted(info.value.cycle) == [0, 1, 2]
    path = _write_doc(tmp_path / "d.json", n_nodes="three")
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + ": n_nodes must be an integer"):
        load_graph(path)
    path = _write_doc(tmp_path / "e.json", mem_bytes=[1.0, -2.0, 0.0])
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + r": mem_bytes of node 'n1' \(id 1\) is "
                                                                         r"negative"):
        load_graph(path)


def test_load_npz_errors(tmp_path):
    path = tmp_path / "g.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + ": not a valid .npz graph"):
        load_graph(path)
    np.savez(path, x=np.zeros(3))
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + ": malformed .npz graph"):
        load_graph(path)
    # a structurally broken graph inside a well-formed file still names the file
    chain(3).save(path)
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    data["flops"] = np.array([1.0, np.nan, 0.0])
    np.savez(path, **data)
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + r": flops of node 'n1' \(id 1\) is NaN"):
        load_graph(path)


# ------------------------------------------------------------------------------------------------ networkx
def test_networkx_round_trip():
    for g in (full_graph(), chain(4), Graph.from_edges(0, [])):
        assert_identical(Graph.from_networkx(g.to_networkx(), name=g.name), g)
    nxg = full_graph().to_networkx()
    assert set(nxg.nodes) == set(full_graph().names)
    assert nxg.nodes["mm.1"]["latency"] == [1e-300, 2.0]


def test_from_networkx_arbitrary_keys():
    G = nx.DiGraph(name="keys")
    G.add_edge((1, 2), "x")
    G.add_edge("x", 3)
    G.add_node(frozenset({1}), flops=5.0, op="relu")
    G.add_node(3, color=1)
    g = Graph.from_networkx(G)
    assert g.name == "keys"
    assert g.names == ("(1, 2)", "x", "3", "frozenset({1})")
    assert g.edges.tolist() == [[0, 1], [1, 2]]
    assert g.flops.tolist() == [0.0, 0.0, 0.0, 5.0]
    assert g.ops == ("op", "op", "op", "relu")
    assert g.color.tolist() == [-1, -1, 1, -1]


def test_from_networkx_name_attribute_and_errors():
    G = nx.DiGraph()
    G.add_node(0, name="first")
    G.add_edge(0, 1)
    assert Graph.from_networkx(G).names == ("first", "1")
    H = nx.DiGraph()
    H.add_edge(1, "1")
    with pytest.raises(InvalidGraphError, match="duplicate node name '1'"):
        Graph.from_networkx(H)
    C = nx.DiGraph([("a", "b"), ("b", "a")])
    with pytest.raises(GraphCycleError, match="'a'.*'b'|'b'.*'a'"):
        Graph.from_networkx(C)
    L = nx.DiGraph()
    L.add_node("p", latency=[1.0])
    L.add_node("q")
    with pytest.raises(InvalidGraphError, match="latency is given for some nodes but not for 'q'"):
        Graph.from_networkx(L)
    with pytest.raises(InvalidGraphError, match="needs a networkx.DiGraph, got Graph"):
        Graph.from_networkx(nx.Graph())


@pytest.mark.parametrize("value", [None, "x", "1.0", True])
def test_from_networkx_bad_cost_names_field_and_node(value):
    G = nx.DiGraph()
    G.add_node("a", flops=1.0)
    G.add_node("b", mem_bytes=value)
    pattern = rf"mem_bytes of node 'b' must be a number, got {re.escape(repr(value))}"
    with pytest.raises(InvalidGraphError, match=pattern):
        Graph.from_networkx(G)


def test_from_networkx_bad_flags_name_the_node():
    G = nx.DiGraph()
    G.add_node("a", backward=False)
    G.add_node("b", backward="no")
    with pytest.raises(InvalidGraphError, match=r"backward of node 'b' \(id 1\) is 'no'"):
        Graph.from_networkx(G)
    H = nx.DiGraph()
    H.add_node("a", latency=[1.0])
    H.add_node("b", latency=["slow"])
    with pytest.raises(InvalidGraphError, match=r"latency of node 'b' \(id 1\) is 'slow'"):
        Graph.from_networkx(H)


def test_from_networkx_multidigraph_merges_parallel_edges():
    G = nx.MultiDiGraph([("a", "b"), ("a", "b"), ("b", "c")])
    g = Graph.from_networkx(G)
    assert g.n_edges == 2 and g.edges.tolist() == [[0, 1], [1, 2]]


# -------------------------------------------------------------------------------------------------- scale
def test_million_node_chain():
    n = 1_000_000
    idx = np.arange(n - 1, dtype=np.int64)
    g = Graph.from_edges(n, np.stack([idx, idx + 1], axis=1))
    assert g.n_nodes == n and g.n_edges == n - 1
    assert g.topo_order[0] == 0 and g.topo_order[-1] == n - 1


def test_load_unknown_field_is_an_error(tmp_path):
    """A misspelled field must not be dropped silently (a graph with "flop" would otherwise have zero FLOPs)."""
    path = _write_doc(tmp_path / "g.json", flop=[1.0, 2.0, 3.0])
    with pytest.raises(InvalidGraphError, match=re.escape(f"{path}: unknown field 'flop' (did you mean 'flops'?)")):
        load_graph(path)
    path = _write_doc(tmp_path / "h.json", provenance="notes")
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + r": unknown field 'provenance' \(known "
                                                                         r"fields: format, version, .*edges\)"):
        load_graph(path)
    doc = chain(3).to_dict()
    doc["Pin"] = None
    with pytest.raises(InvalidGraphError, match=r"^graph: unknown field 'Pin' \(did you mean 'pin'\?\)"):
        graph_from_dict(doc)
    # every field graph_to_dict writes is known
    assert_identical(graph_from_dict(graph_to_dict(full_graph())), full_graph())


# ------------------------------------------------------------------- numbers that numpy would coerce silently
@pytest.mark.parametrize("n, pattern", [
    (True, r"n_nodes must be an integer, got True \(a boolean\)"),  # True == 1: not a one-node graph
    (np.True_, r"n_nodes must be an integer, got True \(a boolean\)"),
    (float("inf"), r"n_nodes must be a non-negative integer, got inf"),  # int(inf) raises OverflowError
    (float("nan"), r"n_nodes must be a non-negative integer, got nan"),
    pytest.param(10 ** 400, r"n_nodes=1000.*0 is too large \(at most 2147483646\)", id="10**400"),
    (1e300, r"n_nodes=1000.*0 is too large"),
    ("3", r"n_nodes must be an integer, got '3'"),
    (1 + 0j, r"n_nodes must be an integer, got \(1\+0j\)"),
])
def test_n_nodes_bool_huge_or_not_a_number(n, pattern):
    with pytest.raises(InvalidGraphError, match=pattern):
        Graph.from_edges(n, [])


def test_n_nodes_integral_float_is_accepted():
    assert Graph.from_edges(np.float64(3.0), [(0, 1)]).n_nodes == 3
    assert Graph.from_edges(np.int16(3), []).n_nodes == 3


@pytest.mark.parametrize("kw, pattern", [
    # numpy reads [True, 2.0] as [1.0, 2.0]: a bool among numbers is as wrong as an all-bool list
    ({"flops": [True, 2.0, 3.0]}, r"flops must be numbers: flops of node 'a' \(id 0\) is True \(a boolean\)"),
    ({"mem_bytes": [1, 2, np.True_]}, r"mem_bytes of node 'c' \(id 2\) is True \(a boolean\)"),
    ({"comm_time": (0.5, False, 1.0)}, r"comm_time of node 'b' \(id 1\) is False \(a boolean\)"),
    ({"latency": [[1.0, 2.0], [1.0, True], [1.0, 1.0]]}, r"latency of node 'b' \(id 1\) is True \(a boolean\)"),
    ({"flops": np.array([1.0, 2.0, 1 + 1j])}, r"flops of node 'a' \(id 0\) is \(1\+0j\) \(a complex number\)"),
    # a complex with no imaginary part is refused too: numpy would drop it with only a ComplexWarning
    ({"weight_bytes": np.array([1, 2, 3], dtype=complex)}, r"weight_bytes of node 'a' \(id 0\) is \(1\+0j\)"),
    ({"latency": np.ones((3, 2), dtype=np.complex64)}, r"latency must be numbers: latency of node 'a'"),
    ({"flops": [1.0, 10 ** 400, 3.0]}, r"flops of node 'b' \(id 1\) is 1000.*0 \(an integer too large for a "
                                        r"float64\)"),
    ({"color": [True, 0, -1]}, r"color must be integers \(-1 = none\): color of node 'a' \(id 0\) is True"),
    ({"pin": [0, np.False_, 1]}, r"pin must be integers \(-1 = none\): pin of node 'b' \(id 1\) is False"),
    ({"pin": [0, None, 1]}, r"pin of node 'b' \(id 1\) is None"),
    ({"color": [0, 1 + 0j, 1]}, r"color of node 'b' \(id 1\) is \(1\+0j\)"),
    ({"color": np.array([0, 1, 2], dtype=complex)}, r"color must be integers"),
    ({"color": np.array([0, float("inf"), 2])}, r"color of node 'b' \(id 1\) is inf"),
    # beyond int64: compared before the cast, which would wrap them round to negative ids
    ({"color": [0, 2 ** 63, 1]}, r"color of node 'b' \(id 1\) is 9223372036854775808; values must fit in int32"),
    ({"pin": [0, 1e300, 1]}, r"pin of node 'b' \(id 1\) is 1e\+300; values must fit in int32"),
    ({"pin": [0, 10 ** 400, 1]}, r"pin of node 'b' \(id 1\) is 1000.*0; values must fit in int32"),
    ({"color": [0, -10 ** 400, 1]}, r"color of node 'b' \(id 1\) is -1000.*0; use -1 for none"),
    ({"color": np.array([0, 2 ** 64 - 1, 1], dtype=np.uint64)}, r"color of node 'b' \(id 1\) is 18446744073709551615"),
])
def test_numbers_numpy_would_coerce_are_refused(kw, pattern):
    with pytest.raises(InvalidGraphError, match=pattern):
        Graph.from_edges(3, [], names=["a", "b", "c"], **kw)


def test_a_bool_in_a_long_list_is_found():
    """Long lists (a JSON file's) are scanned by type first; a bool at the end must still be found."""
    n = 1000
    with pytest.raises(InvalidGraphError, match=r"flops of node 999 is True"):
        Graph.from_edges(n, [], flops=[1.0] * (n - 1) + [True])
    with pytest.raises(InvalidGraphError, match=r"edges must hold integer node ids: edge 998 holds True"):
        Graph.from_edges(n, [[i, i + 1] for i in range(n - 2)] + [[True, 5]])
    with pytest.raises(InvalidGraphError, match=r"latency of node 998 is False"):
        Graph.from_edges(n, [], latency=[[1.0, 2.0]] * (n - 2) + [[1.0, False], [1.0, 2.0]])
    g = Graph.from_edges(n, [[i, i + 1] for i in range(n - 1)], flops=[1] * n, latency=[(1.0, 2)] * n,
                         color=[0] * n)
    assert g.n_edges == n - 1 and g.flops.tolist() == [1.0] * n and g.latency.shape == (n, 2)


@pytest.mark.parametrize("edges, pattern", [
    # [[True, 1]] was read as [[1, 1]] and reported as a self-loop on node 1
    ([[True, 1]], r"edges must hold integer node ids: edge 0 holds True \(a boolean\)"),
    ([[0, 1], [1, np.True_]], r"edge 1 holds True \(a boolean\)"),
    ([[0, 1], [1, None]], r"edge 1 holds None"),
    ([[0, 1 + 0j]], r"edge 0 holds \(1\+0j\)"),
    ([[0, float("inf")]], r"edge 0 holds inf"),
])
def test_edges_bool_or_not_an_id(edges, pattern):
    with pytest.raises(InvalidGraphError, match=pattern):
        Graph.from_edges(3, edges)


@pytest.mark.parametrize("edges, pattern", [
    ([[0, 2 ** 63]], r"dangling edge 0 \(0 -> 9223372036854775808\): node 9223372036854775808 does not exist"),
    ([[2 ** 64, 1]], r"dangling edge 0 \(18446744073709551616 -> 1\)"),
    ([[0, 10 ** 400]], r"dangling edge 0 \(0 -> 1000.*0\): node 1000.*0 does not exist"),
    ([[0, 1e300]], r"dangling edge 0 \(0 -> 1e\+300\): node 1e\+300 does not exist"),
    ([[-1e300, 1]], r"dangling edge 0 \(-1e\+300 -> 1\)"),
    (np.array([[0, 2 ** 64 - 1]], dtype=np.uint64), r"node 18446744073709551615 does not exist"),
])
def test_edges_beyond_int64_are_dangling_not_wrapped(edges, pattern):
    with pytest.raises(InvalidGraphError, match=pattern):
        Graph.from_edges(3, edges)


@pytest.mark.parametrize("kw, pattern", [
    # str() would make these "None", "['a']", "1": a name nobody wrote
    ({"names": [None, "b", "c"]}, r"names must be strings: name of node 0 is None \(NoneType\)"),
    ({"names": [["a"], ["b"], ["c"]]}, r"names must be strings: name of node 0 is \['a'\] \(list\)"),
    ({"names": ["a", 1, "c"]}, r"name of node 1 is 1 \(int\)"),
    ({"names": ["a", b"b", "c"]}, r"name of node 1 is b'b' \(bytes\)"),
    ({"names": 3}, r"names must be a sequence of strings, one per node, got 3"),
    ({"ops": [1, 2, 3]}, r"ops must be strings: op of node 0 is 1 \(int\)"),
    ({"ops": ["x", None, "y"]}, r"op of node 1 is None"),
    ({"ops": ["x", "y", 1.5], "names": ["a", "b", "c"]}, r"op of node 'c' \(id 2\) is 1\.5 \(float\)"),
])
def test_names_and_ops_must_be_strings(kw, pattern):
    with pytest.raises(InvalidGraphError, match=pattern):
        Graph.from_edges(3, [], **kw)


def test_numpy_strings_are_strings():
    g = Graph.from_edges(2, [(0, 1)], names=np.array(["a", "b"]), ops=np.array(["x", "y"]))
    assert g.names == ("a", "b") and g.ops == ("x", "y")
    assert all(type(x) is str for x in g.names + g.ops)
    assert g == Graph.from_edges(2, [(0, 1)], names=["a", "b"], ops=["x", "y"])


@pytest.mark.parametrize("text, pattern", [
    # literals that json reads as inf or as huge ints: OverflowError used to escape
    ('"n_nodes":1e400', r"n_nodes must be a non-negative integer, got inf"),
    ('"n_nodes":-1e400', r"n_nodes must be a non-negative integer, got -inf"),
    ('"n_nodes":' + "9" * 400, r"n_nodes=9999.*9 is too large"),
    ('"n_nodes":true', r"n_nodes must be an integer, got True \(a boolean\)"),
    ('"n_nodes":3,"flops":[true,2.0,3.0]', r"flops of node 0 is True \(a boolean\)"),
    ('"n_nodes":3,"flops":[1,' + "9" * 400 + ',3]', r"flops of node 1 is 9999.*9 \(an integer too "
                                                       r"large for a float64\)"),
    ('"n_nodes":3,"color":[true,0,-1]', r"color of node 0 is True"),
    ('"n_nodes":3,"pin":[0,' + "9" * 400 + ',-1]', r"pin of node 1 is 9999.*9; values must fit"),
    ('"n_nodes":3,"edges":[[true,1]]', r"edges must hold integer node ids: edge 0 holds True"),
    ('"n_nodes":3,"edges":[[0,1e400]]', r"edges must hold integer node ids: edge 0 holds inf"),
    ('"n_nodes":3,"edges":[[0,' + "9" * 400 + ']]', r"dangling edge 0 \(0 -> 9999.*9\)"),
    ('"n_nodes":2,"names":[null,"a"]', r"name of node 0 is None"),
    ('"n_nodes":2,"names":[["a"],["b"]]', r"name of node 0 is \['a'\] \(list\)"),
    ('"n_nodes":2,"ops":[1,2]', r"op of node 0 is 1 \(int\)"),
    ('"n_nodes":2,"name":5', r"name \(of the graph\) must be a string or null, got 5"),
    ('"n_nodes":2,"name":["g"]', r"name \(of the graph\) must be a string or null, got \['g'\]"),
])
def test_load_json_numbers_and_strings_are_checked(tmp_path, text, pattern):
    path = tmp_path / "x.json"
    text = '{"format":"mcmcore-graph","version":1,' + text + ("" if '"edges"' in text else ',"edges":[]') + "}"
    path.write_text(text)
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + ": (.*: )?" + pattern):
        load_graph(path)


@pytest.mark.parametrize("version", [True, pytest.param(10 ** 400, id="10**400"), 1.5])
def test_load_json_version_must_be_one(tmp_path, version):
    path = _write_doc(tmp_path / "v.json", version=version)
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + ": unsupported graph format version"):
        load_graph(path)


# -------------------------------------------------------------------------------------- .npz structural arrays
def _npz(path, g=None, **changes):
    """Save ``g`` (a named 3-node chain) as .npz, then replace arrays (None deletes one)."""
    g = g if g is not None else chain(3, names=["a", "bb", "c"], ops=["x", "y", "x"], flops=[1.0, 2.0, 3.0])
    g.save(path)
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            del data[k]
        else:
            data[k] = v
    np.savez(path, **data)
    return path


def _meta(**changes) -> np.ndarray:
    meta = {"format": FORMAT, "version": 1, "name": None, "n_nodes": 3, "op_types": ["x", "y"]} | changes
    return np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


@pytest.mark.parametrize("changes, pattern", [
    # a negative index wrapped round: node 0 silently got the last op type / a wrong name
    ({"op_index": np.array([-1, 1, 0], np.int32)}, r"op_index of node 0 is -1, not an index into meta op_types "
                                                   r"\(2 entries\)"),
    ({"op_index": np.array([0, 2, 0], np.int32)}, r"op_index of node 1 is 2"),
    ({"op_index": np.array([0, 2 ** 63, 0], np.uint64)}, r"op_index of node 1 is 9223372036854775808"),
    ({"op_index": np.array([0.0, 1.0, 0.0])}, r"op_index must be an integer array, got float64"),
    ({"op_index": np.array([0, 1], np.int32)}, r"op_index has 2 entries, expected 3 \(one per node"),
    ({"name_lengths": np.array([1, -1, 4])}, r"name_lengths of node 1 is -1; a length must be >= 0"),
    ({"name_lengths": np.array([1, 1, 1])}, r"name_lengths add up to 3 bytes but names holds 4"),
    ({"name_lengths": np.array([1, 9, 1])}, r"name_lengths of node 1 is 9; a length must be >= 0 and at most the "
                                            r"4 bytes of names"),
    ({"name_lengths": np.array([1.0, 2.0, 1.0])}, r"name_lengths must be an integer array, got float64"),
    ({"names": np.frombuffer(b"a\xffbc", np.uint8)}, r"name of node 1 is not valid UTF-8"),
    ({"names": np.array([97, 98, 98, 99])}, r"names must be a 1-D uint8 array \(UTF-8 bytes\), got int64"),
    # a float succ_idx was truncated (1.5 -> node 1); the JSON path refuses non-integer ids
    ({"succ_idx": np.array([1.5, 2.0])}, r"succ_idx must be an integer array, got float64"),
    ({"succ_idx": np.array([True, True])}, r"succ_idx must be an integer array, got bool"),
    ({"succ_idx": np.array([1, -1], np.int32)}, r"succ_idx\[1\] is -1: node -1 does not exist \(the graph has 3 "
                                                r"nodes\)"),
    ({"succ_idx": np.array([[1, 2]], np.int32)}, r"succ_idx must be 1-D, got shape \(1, 2\)"),
    ({"succ_ptr": np.array([1, 1, 2, 2], np.int32)}, r"succ_ptr must start at 0, got 1"),
    ({"succ_ptr": np.array([0, 2, 1, 2], np.int32)}, r"succ_ptr must be non-decreasing: succ_ptr\[2\] = 1 < "
                                                     r"succ_ptr\[1\] = 2"),
    ({"succ_ptr": np.array([0, 1, 1, 1], np.int32)}, r"succ_ptr must end at the length of succ_idx \(2\), got 1"),
    ({"succ_ptr": np.array([0, 1, 2, 3], np.int32)}, r"succ_ptr must end at the length of succ_idx \(2\), got 3"),
    ({"succ_ptr": np.array([0, 1, 2], np.int32)}, r"succ_ptr has 3 entries, expected 4 \(n_nodes \+ 1; meta gives "
                                                  r"n_nodes = 3\)"),
    ({"succ_ptr": np.array([0.0, 1.0, 2.0, 2.0])}, r"succ_ptr must be an integer array, got float64"),
    # complex costs lost their imaginary part with only a numpy warning
    ({"flops": np.array([1.0, 2.0 + 1j, 3.0])}, r"flops must be numbers: flops of node 'a' \(id 0\) is \(1\+0j\) "
                                                r"\(a complex number\)"),
    ({"flops": np.array([True, False, True])}, r"flops must be numbers: flops of node 'a' \(id 0\) is True "
                                               r"\(a boolean\)"),
    ({"color": np.array([0, 1j, 0])}, r"color must be integers"),
    ({"meta": _meta(n_nodes=float("inf"))}, r"n_nodes must be a non-negative integer, got inf"),
    ({"meta": _meta(n_nodes=True)}, r"n_nodes must be an integer, got True \(a boolean\)"),
    ({"meta": _meta(n_nodes=4)}, r"succ_ptr has 4 entries, expected 5 \(n_nodes \+ 1; meta gives n_nodes = 4\)"),
    ({"meta": _meta(op_types=[1, 2])}, r"meta op_types must be a list of strings, got \[1, 2\]"),
    ({"meta": _meta(name=5)}, r"name \(of the graph\) must be a string or null, got 5"),
    ({"meta": _meta(version=True)}, r"not an mcmcore graph of version 1"),
    ({"meta": np.frombuffer(b"[1, 2]", np.uint8)}, r"meta must be a JSON object, got list \[1, 2\]"),
    ({"meta": np.frombuffer(b"{", np.uint8)}, r"meta is not valid JSON"),
    ({"meta": np.frombuffer(b"\xff", np.uint8)}, r"meta is not valid JSON"),
    ({"meta": np.frombuffer(b'{"format": "mcmcore-graph", "version": 1, "op_types": []}', np.uint8)},
     r"meta has no 'n_nodes'"),
    ({"meta": np.arange(3)}, r"meta must be a 1-D uint8 array \(UTF-8 bytes\), got int64"),
    ({"op_index": None}, r"malformed .npz graph: array 'op_index' is missing"),
    ({"flop": np.ones(3)}, r"unknown array 'flop' \(did you mean 'flops'\?\)"),
])
def test_load_npz_structural_arrays_are_checked(tmp_path, changes, pattern):
    path = _npz(tmp_path / "g.npz", **changes)
    with pytest.raises(InvalidGraphError, match=re.escape(str(path)) + ": " + pattern):
        load_graph(path)


def test_load_npz_valid_variants(tmp_path):
    g = chain(3, names=["a", "bb", "c"], ops=["x", "y", "x"], flops=[1.0, 2.0, 3.0])
    # files written before name_lengths join the names by "\0"
    path = _npz(tmp_path / "old.npz", name_lengths=None, names=np.frombuffer(b"a\0bb\0c", np.uint8))
    assert_identical(load_graph(path), g)
    # any integer dtype is fine for the index arrays
    path = _npz(tmp_path / "i64.npz", succ_ptr=np.array([0, 1, 2, 2], np.uint64), succ_idx=np.array([1, 2], np.int8),
                op_index=np.array([0, 1, 0], np.int64))
    assert_identical(load_graph(path), g)
    empty = Graph.from_edges(0, [])
    empty.save(tmp_path / "e.npz")
    assert_identical(load_graph(tmp_path / "e.npz"), empty)


@pytest.mark.parametrize("attr, value", [("name", None), ("name", 7), ("op", None), ("op", ["matmul"])])
def test_from_networkx_name_and_op_attributes_are_strings(attr, value):
    G = nx.DiGraph()
    G.add_node("a")
    G.add_node("b", **{attr: value})
    with pytest.raises(InvalidGraphError, match=rf"{attr} of node 'b' must be a string, got {re.escape(repr(value))}"):
        Graph.from_networkx(G)
    G.nodes["b"][attr] = np.str_("x")  # numpy's str_ is a str
    assert getattr(Graph.from_networkx(G), attr + "s")[1] == "x"

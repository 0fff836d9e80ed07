"""Constraints: validation of the switches, which counters are active, and evaluate() honouring each switch."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from mcmcore import (Constraints, Graph, InvalidPackageError, Package, VIOLATION_NAMES, evaluate, evaluate_batch,
                     IncrementalEvaluator)

DEV = dict(peak_flops=1e12, mem_bw=1e11, sram_bytes=100.0)


def port(k: int = 3, **kw) -> Package:
    return Package.port(k, bandwidth=1e9, **{**DEV, **kw})


def ring(k: int = 3, **kw) -> Package:
    return Package.ring(k, link_bandwidth=1e9, **{**DEV, **kw})


LINK_PACKAGES = {
    "ring": lambda: ring(4),
    "mesh": lambda: Package.mesh(2, 2, link_bandwidth=1e9, **DEV),
    "torus": lambda: Package.torus(2, 2, link_bandwidth=1e9, **DEV),
    "full": lambda: Package.full(4, link_bandwidth=1e9, **DEV),
    "custom": lambda: Package.custom(4, [(0, 1), (1, 2), (2, 3), (3, 0)], link_bandwidth=1e9, **DEV),
}


def chain(n: int = 3, **kw) -> Graph:
    return Graph.from_edges(n, [(i, i + 1) for i in range(n - 1)], flops=1.0, **kw)


# ----------------------------------------------------------------------------------------------- validation
def test_defaults():
    c = Constraints()
    assert (c.capacity, c.dataflow, c.max_skip, c.colors, c.pins, c.support, c.all_used) == \
        (True, "auto", None, True, True, True, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.capacity = False
    assert Constraints() == Constraints() and hash(Constraints()) == hash(Constraints())


@pytest.mark.parametrize("dataflow", ["forward", "ORDERED", "", 1, True])
def test_bad_dataflow(dataflow):
    with pytest.raises(ValueError, match=r"dataflow must be one of \('auto', 'ordered', 'acyclic', None\), got "):
        Constraints(dataflow=dataflow)


@pytest.mark.parametrize("max_skip", [0, -1, 1.0, 2.5, True, "1"])
def test_bad_max_skip(max_skip):
    with pytest.raises(ValueError, match=r"max_skip must be an integer >= 1 or None, got "):
        Constraints(max_skip=max_skip)


@pytest.mark.parametrize("max_skip", [2**31, 2**40, np.int64(2**33), 10**30])
def test_max_skip_beyond_int32(max_skip):
    """The C core holds max_skip in an int32: a larger value used to fail later with an OverflowError."""
    with pytest.raises(ValueError, match=r"max_skip must be at most 2147483647 \(it is an int32; .*\), got \d+"):
        Constraints(max_skip=max_skip)


def test_max_skip_int32_max_is_accepted():
    c = Constraints(max_skip=2**31 - 1)
    assert c.max_skip == 2**31 - 1 and c.as_tuple(ring(3))[2] == 2**31 - 1
    assert evaluate(chain(3), ring(3), [0, 2, 2], constraints=c).valid


@pytest.mark.parametrize("dataflow", ["acyclic", None])
def test_max_skip_needs_ordered(dataflow):
    with pytest.raises(ValueError, match="max_skip needs dataflow='ordered'"):
        Constraints(dataflow=dataflow, max_skip=1)


def test_max_skip_accepts_numpy_integers():
    c = Constraints(max_skip=np.int64(2))
    assert c.max_skip == 2 and type(c.max_skip) is int
    assert c == Constraints(max_skip=2) and hash(c) == hash(Constraints(max_skip=2))
    assert Constraints(dataflow="ordered", max_skip=1).max_skip == 1


@pytest.mark.parametrize("name", ["capacity", "colors", "pins", "support", "all_used"])
def test_switches_must_be_bool(name):
    with pytest.raises(ValueError, match=rf"{name} must be True or False, got 1"):
        Constraints(**{name: 1})


# ------------------------------------------------------------------------------------------ active / resolve
def test_auto_dataflow_resolves_per_package():
    assert Constraints().resolved_dataflow(port()) == "acyclic"
    assert Constraints().resolved_dataflow(Package.preset("hetero3")) == "acyclic"
    for name, build in LINK_PACKAGES.items():
        assert Constraints().resolved_dataflow(build()) == "ordered", name
    assert Constraints(dataflow="ordered").resolved_dataflow(port()) == "ordered"
    assert Constraints(dataflow="acyclic").resolved_dataflow(ring()) == "acyclic"
    assert Constraints(dataflow=None).resolved_dataflow(ring()) is None


def test_active_per_package_type():
    base = ("capacity", "dataflow", "colors", "pins", "support")
    assert Constraints().active(port()) == base
    assert Constraints().active(ring()) == base
    assert Constraints(max_skip=1).active(ring()) == ("capacity", "dataflow", "skip", "colors", "pins", "support")
    assert Constraints(all_used=True).active(port()) == base + ("all_used",)
    assert Constraints(dataflow=None, capacity=False).active(ring()) == ("colors", "pins", "support")
    assert Constraints.none().active(port()) == ()
    assert Constraints.none().active(ring()) == ()
    assert set(Constraints(max_skip=1, all_used=True).active(ring())) == set(VIOLATION_NAMES)


def test_max_skip_with_auto_on_port_is_rejected():
    c = Constraints(max_skip=1)           # fine on its own: auto may resolve to ordered
    assert c.as_tuple(ring())[1:3] == ("ordered", 1)
    with pytest.raises(ValueError, match="max_skip needs the ordered dataflow constraint; on this port package "
                                         "dataflow resolves to 'acyclic'"):
        c.as_tuple(port())
    with pytest.raises(ValueError, match="max_skip needs the ordered dataflow constraint"):
        evaluate(chain(), port(), [0, 0, 0], constraints=c)


# ------------------------------------------------------------------------------------------ evaluate switches
def _check(graph, package, placement, name, constraints_off, constraints_on=None):
    """The placement breaks ``name`` under ``constraints_on`` and is valid under ``constraints_off``."""
    on = evaluate(graph, package, placement, constraints=constraints_on or Constraints())
    assert on.violations[name] > 0 and not on.valid, on.violations
    assert on.total_violations == sum(on.violations.values())
    off = evaluate(graph, package, placement, constraints=constraints_off)
    assert off.violations.get(name, 0) == 0 and off.valid, off.violations
    # the cost does not depend on the switches
    assert off.interval == on.interval and off.latency == on.latency
    return on


@pytest.mark.parametrize("make", [port, ring], ids=["port", "ring"])
def test_capacity_switch(make):
    g = chain(weight_bytes=[60.0, 60.0, 10.0])
    rep = _check(g, make(), [0, 0, 1], "capacity", Constraints(capacity=False))
    assert rep.violations["capacity"] == 1
    assert rep.memory.tolist() == [120.0, 10.0, 0.0]
    off = evaluate(g, make(), [0, 0, 1], constraints=Constraints(capacity=False))
    assert "capacity" not in off.violations and off.valid
    assert evaluate(g, make(), [0, 1, 1]).valid
    # an unlimited device never breaks capacity
    assert evaluate(g, make(sram_bytes=[math.inf, 100.0, 100.0]), [0, 0, 1]).valid


def test_ordered_dataflow_switch_on_links():
    g = chain()
    rep = _check(g, ring(), [2, 1, 0], "dataflow", Constraints(dataflow=None))
    assert rep.violations["dataflow"] == 2                        # both edges go backwards in the pipeline
    assert evaluate(g, ring(), [0, 1, 2]).valid
    assert evaluate(g, ring(), [2, 1, 0], constraints=Constraints(dataflow="acyclic")).valid
    # the pipeline order, not the device id, decides
    assert evaluate(g, ring(order=[2, 1, 0]), [2, 1, 0]).valid


def test_acyclic_dataflow_switch_on_port():
    g = chain()
    assert evaluate(g, port(), [2, 1, 0]).valid                     # any order of the devices is fine
    _check(g, port(), [0, 1, 0], "dataflow", Constraints(dataflow=None))   # but not a device-level cycle
    _check(g, port(), [2, 1, 0], "dataflow", Constraints(), Constraints(dataflow="ordered"))


def test_max_skip_switch():
    g = chain(2)
    p = ring(4)
    rep = _check(g, p, [0, 2], "skip", Constraints(), Constraints(max_skip=1))
    assert rep.violations["skip"] == 1 and rep.violations["dataflow"] == 0
    assert evaluate(g, p, [0, 2], constraints=Constraints(max_skip=2)).valid
    assert evaluate(g, p, [0, 1], constraints=Constraints(max_skip=1)).valid


def test_colors_switch():
    g = chain(color=[0, -1, 0])
    _check(g, port(), [0, 1, 1], "colors", Constraints(colors=False))
    assert evaluate(g, port(), [0, 1, 0], constraints=Constraints(dataflow=None)).valid


def test_pins_switch():
    g = chain(pin=[-1, 2, -1])
    rep = _check(g, port(), [0, 0, 2], "pins", Constraints(pins=False))
    assert rep.violations["pins"] == 1
    assert evaluate(g, port(), [0, 2, 2]).valid


def test_support_switch():
    g = chain(supported=[[True, False], [True, True], [False, True]])
    het = Package.preset("hetero3")
    _check(g, het, [2, 2, 2], "support", Constraints(support=False))
    assert evaluate(g, het, [0, 0, 2]).valid


def test_all_used_switch():
    g = chain()
    rep = _check(g, ring(), [0, 0, 0], "all_used", Constraints(), Constraints(all_used=True))
    assert rep.violations["all_used"] == 2                      # two empty devices
    assert evaluate(g, ring(), [0, 1, 2], constraints=Constraints(all_used=True)).valid


def test_backward_nodes_are_exempt_from_dataflow():
    g = chain(backward=[False, False, True])
    assert evaluate(g, ring(), [0, 1, 0]).valid
    assert not evaluate(chain(), ring(), [0, 1, 0]).valid


def test_none_switches_everything_off():
    g = chain(weight_bytes=1e9, color=[0, 0, -1], pin=[1, -1, -1])
    rep = evaluate(g, ring(), [2, 1, 0], constraints=Constraints.none())
    assert rep.violations == {} and rep.valid and rep.total_violations == 0
    assert not evaluate(g, ring(), [2, 1, 0]).valid


def test_batch_and_incremental_honour_switches():
    g = chain(weight_bytes=[60.0, 60.0, 10.0])
    placements = np.array([[0, 0, 1], [0, 1, 2], [2, 1, 0]])
    _, viol = evaluate_batch(g, ring(), placements, return_violations=True, n_threads=1)
    assert viol.tolist() == [1, 0, 2]
    _, viol = evaluate_batch(g, ring(), placements, constraints=Constraints(capacity=False, dataflow=None),
                             return_violations=True, n_threads=1)
    assert viol.tolist() == [0, 0, 0]
    inc = IncrementalEvaluator(g, ring(), [0, 1, 2], constraints=Constraints(capacity=False))
    inc.move(1, 0)
    assert inc.valid and "capacity" not in inc.violations
    inc = IncrementalEvaluator(g, ring(), [0, 1, 2])
    inc.move(1, 0)
    assert not inc.valid and inc.violations["capacity"] == 1


# --------------------------------------------------------------------------------------------------- overlap
def test_overlap_defaults_and_links_rejects_false():
    g = chain()
    assert evaluate(g, port(), [0, 1, 2]).overlap is False
    assert evaluate(g, port(), [0, 1, 2], overlap=True).overlap is True
    assert evaluate(g, ring(), [0, 1, 2]).overlap is True
    assert evaluate(g, ring(), [0, 1, 2], overlap=True).overlap is True
    for name, build in LINK_PACKAGES.items():
        with pytest.raises(ValueError, match="the links model always overlaps .* overlap=False needs a port package"):
            evaluate(g, build(), [0, 1, 2], overlap=False)


# ------------------------------------------------------------------------------------------ graph vs package
def test_pin_beyond_package():
    g = chain(pin=[-1, 5, -1], names=["a", "b", "c"])
    with pytest.raises(InvalidPackageError, match=r"node 'b' \(id 1\) is pinned to device 5, but the package has 3 "
                                                  r"devices"):
        evaluate(g, ring(), [0, 1, 2])
    with pytest.raises(InvalidPackageError, match=r"node 'b' \(id 1\) is pinned to device 5"):
        evaluate(g, port(), [0, 1, 2])
    # with pins off the pin is not looked at
    assert evaluate(g, ring(), [0, 1, 2], constraints=Constraints(pins=False)).valid


def test_latency_kinds_beyond_package():
    g = chain(latency=[1.0, 1.0, 1.0])
    with pytest.raises(InvalidPackageError, match=r"device 2 has kind 1, but the graph gives latency/support for 1 "
                                                  r"device kind"):
        evaluate(g, Package.preset("hetero3"), [0, 0, 2])


@pytest.mark.parametrize("name", ["capacity", "colors", "pins", "support", "all_used"])
def test_switches_accept_numpy_booleans(name):
    for value in (np.True_, np.False_, np.array([True, False])[1]):
        c = Constraints(**{name: value})
        assert type(getattr(c, name)) is bool and getattr(c, name) == bool(value)
        assert c == Constraints(**{name: bool(value)}) and hash(c) == hash(Constraints(**{name: bool(value)}))
    # numpy integers are not booleans
    with pytest.raises(ValueError, match=rf"{name} must be True or False, got (np\.int64\()?1"):
        Constraints(**{name: np.int64(1)})


def test_numpy_boolean_switches_evaluate_like_python_ones():
    g = chain()
    c = Constraints(capacity=np.bool_(False), all_used=np.bool_(True))
    assert evaluate(g, port(), [0, 0, 0], constraints=c).violations == \
        evaluate(g, port(), [0, 0, 0], constraints=Constraints(capacity=False, all_used=True)).violations


def test_pin_beyond_package_names_the_node_everywhere():
    """evaluate, evaluate_batch and IncrementalEvaluator all check pins before the core, naming the node."""
    g = chain(4, pin=[-1, 2, -1, 7], names=["in", "mm", "add", "out"])
    pattern = r"^node 'out' \(id 3\) is pinned to device 7, but the package has 4 devices$"
    for package in (ring(4), port(4)):
        with pytest.raises(InvalidPackageError, match=pattern):
            evaluate(g, package, [0, 2, 2, 3])
        with pytest.raises(InvalidPackageError, match=pattern):
            evaluate_batch(g, package, [[0, 2, 2, 3]])
        with pytest.raises(InvalidPackageError, match=pattern):
            IncrementalEvaluator(g, package, [0, 2, 2, 3])
    # a pin on the last device is fine
    assert evaluate(chain(2, pin=[-1, 7]), ring(8), [0, 7]).valid


def test_latency_kind_beyond_graph_names_the_kind():
    hetero = Package.preset("hetero3")  # kinds [0, 0, 1]: accel, accel, cpu
    for g in (chain(latency=[1.0, 1.0, 1.0]), chain(supported=[[True]] * 3)):
        with pytest.raises(InvalidPackageError, match=r"^device 2 has kind 1, but the graph gives latency/support for "
                                                      r"1 device kind\(s\): kind 1 \('cpu'\) has no column"):
            evaluate(g, hetero, [0, 0, 1])
        # the check does not depend on the constraints: latency is the cost model, not a constraint
        with pytest.raises(InvalidPackageError, match="device 2 has kind 1"):
            evaluate(g, hetero, [0, 0, 1], constraints=Constraints.none())
    assert evaluate(chain(latency=[[1.0, 2.0]] * 3), hetero, [0, 1, 2]).latency == pytest.approx(4.0)

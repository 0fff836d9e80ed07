"""Package: builders, routing, pipeline order, presets, spec files and error messages."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import yaml

from mcmcore import InvalidPackageError, Package, load_package
from mcmcore.package import PRESETS, snake_order

DEV = dict(peak_flops=1e12, mem_bw=1e11, sram_bytes=1e6)


def links_of(p: Package) -> list[tuple[int, int]]:
    return list(zip(p.link_src.tolist(), p.link_dst.tolist()))


def path_of(p: Package, src: int, dst: int) -> list[int]:
    """Devices visited from src to dst along the package's route."""
    out = [src]
    for link in p.route(src, dst):
        assert p.link_src[link] == out[-1], "route links must be contiguous"
        out.append(int(p.link_dst[link]))
    assert out[-1] == dst
    assert len(out) - 1 == p.hops(src, dst)
    return out


# ------------------------------------------------------------------------------------------------- builders
def test_port():
    p = Package.port(3, bandwidth=1e9, **DEV)
    assert p.n_devices == 3 and p.n_links == 0 and p.interconnect == "port" and p.topology == "port"
    assert p.bandwidth == 1e9
    assert p.route(0, 2) == [] and p.hops(0, 2) == 0
    assert p.order.tolist() == [0, 1, 2] and p.position.tolist() == [0, 1, 2]
    assert p.default_dataflow == "acyclic" and p.default_overlap is False


def test_ring():
    p = Package.ring(4, link_bandwidth=1e9, **DEV)
    assert p.n_devices == 4 and p.n_links == 8 and p.interconnect == "links" and p.topology == "ring"
    assert links_of(p) == [(0, 1), (1, 2), (2, 3), (3, 0), (1, 0), (2, 1), (3, 2), (0, 3)]
    assert p.default_dataflow == "ordered" and p.default_overlap is True
    assert p.bandwidth is None


def test_ring_shortest_direction():
    p = Package.ring(6, link_bandwidth=1e9, **DEV)
    assert path_of(p, 0, 1) == [0, 1]
    assert path_of(p, 0, 5) == [0, 5]                # counter-clockwise is shorter
    assert path_of(p, 1, 5) == [1, 0, 5]
    assert path_of(p, 4, 0) == [4, 5, 0]
    assert path_of(p, 0, 2) == [0, 1, 2]
    assert p.hops(0, 3) == 3                          # tie: either way is 3 hops
    assert path_of(p, 0, 3) == [0, 1, 2, 3]           # ties go clockwise


def test_ring_small_and_unidirectional():
    assert links_of(Package.ring(2, link_bandwidth=1, **DEV)) == [(0, 1), (1, 0)]
    assert Package.ring(1, link_bandwidth=1, **DEV).n_links == 0
    u = Package.ring(4, link_bandwidth=1, bidirectional=False, **DEV)
    assert u.n_links == 4 and u.topology == "custom"
    assert path_of(u, 0, 3) == [0, 1, 2, 3]


def test_mesh_links():
    p = Package.mesh(2, 3, link_bandwidth=1e9, **DEV)
    assert p.n_devices == 6 and p.shape == (2, 3) and p.topology == "mesh"
    expected = {(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5)}
    assert set(links_of(p)) == expected | {(b, a) for a, b in expected}
    assert p.n_links == 14
    # rows x cols mesh: 2 * (rows * (cols - 1) + cols * (rows - 1)) directed links
    m = Package.mesh(4, 5, link_bandwidth=1e9, **DEV)
    assert m.n_links == 2 * (4 * 4 + 5 * 3)


def test_mesh_xy_routing():
    p = Package.mesh(3, 3, link_bandwidth=1e9, **DEV)
    assert path_of(p, 0, 8) == [0, 1, 2, 5, 8]        # along the row first, then the column
    assert p.hops(0, 8) == 4
    assert path_of(p, 8, 0) == [8, 7, 6, 3, 0]
    assert path_of(p, 2, 6) == [2, 1, 0, 3, 6]
    assert path_of(p, 6, 2) == [6, 7, 8, 5, 2]
    assert path_of(p, 4, 4) == [4] and p.hops(4, 4) == 0
    # hops = Manhattan distance everywhere
    for a in range(9):
        for b in range(9):
            assert p.hops(a, b) == abs(a // 3 - b // 3) + abs(a % 3 - b % 3)


def test_torus_wraps_the_shorter_way():
    p = Package.torus(4, 4, link_bandwidth=1e9, **DEV)
    assert p.n_devices == 16 and p.n_links == 64 and p.topology == "torus"
    assert path_of(p, 0, 3) == [0, 3]                 # wrap within the row
    assert path_of(p, 0, 12) == [0, 12]               # wrap within the column
    assert path_of(p, 0, 15) == [0, 3, 15]            # row first, then column, both wrapping
    assert path_of(p, 1, 2) == [1, 2]
    assert p.hops(0, 2) == 2 and p.hops(0, 10) == 4
    # hops = torus distance everywhere
    for a in range(16):
        for b in range(16):
            dr, dc = abs(a // 4 - b // 4), abs(a % 4 - b % 4)
            assert p.hops(a, b) == min(dr, 4 - dr) + min(dc, 4 - dc)


def test_small_torus_has_no_duplicate_links():
    assert Package.torus(2, 2, link_bandwidth=1, **DEV).n_links == 8
    t = Package.torus(1, 3, link_bandwidth=1, **DEV)
    assert sorted(links_of(t)) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]


def test_full():
    p = Package.full(4, link_bandwidth=1e9, hop_latency=1e-6, **DEV)
    assert p.n_devices == 4 and p.n_links == 12 and p.topology == "full"
    assert set(links_of(p)) == {(a, b) for a in range(4) for b in range(4) if a != b}
    assert all(p.hops(a, b) == 1 for a in range(4) for b in range(4) if a != b)
    assert p.hop_latency == 1e-6
    assert Package.full(1, link_bandwidth=1, **DEV).n_links == 0


def test_custom_shortest_path():
    p = Package.custom(4, [(0, 1), (1, 2), (2, 3), (3, 0), (0, 3, 5e9)], link_bandwidth=1e9, **DEV)
    assert p.n_links == 5 and p.topology == "custom"
    assert p.link_bandwidth.tolist() == [1e9, 1e9, 1e9, 1e9, 5e9]
    assert p.route(0, 3) == [4]                       # the direct link, not 0-1-2-3
    assert path_of(p, 0, 2) == [0, 1, 2]
    assert path_of(p, 1, 0) == [1, 2, 3, 0]
    assert p.hops(3, 2) == 3


def test_custom_unreachable_device():
    with pytest.raises(InvalidPackageError, match="no route from device 1 to device 0"):
        Package.custom(3, [(0, 1), (1, 2)], link_bandwidth=1e9, **DEV)
    with pytest.raises(InvalidPackageError, match="no route .* device 2"):
        Package.custom(3, [(0, 1), (1, 0)], link_bandwidth=1e9, **DEV)


@pytest.mark.parametrize("links, pattern", [
    ([(0, 5), (5, 0)], r"link 0 \(0 -> 5\) must join two different devices in \[0, 3\)"),
    ([(0, 0)], r"link 0 \(0 -> 0\) must join two different devices"),
    ([(0, 1, 2, 3)], r"a link is \(src, dst\) or \(src, dst, bandwidth\)"),
    ([(0, 1), (1, 2), (2, 0, "fast")], r"a link is .*numeric bandwidth, got \(2, 0, 'fast'\)"),
    ([(0.5, 1), (1, 2), (2, 0)], r"integer device ids"),
    ([(0, 1), (1, 2), (2, 0, -1.0)], r"link_bandwidth of link 2 is -1\.0; it must be positive"),
    (["ab"], r"a link is"),
])
def test_custom_bad_links(links, pattern):
    with pytest.raises(InvalidPackageError, match=pattern):
        Package.custom(3, links, link_bandwidth=1e9, **DEV)


def test_custom_needs_bandwidth():
    with pytest.raises(InvalidPackageError, match="links without their own bandwidth need link_bandwidth"):
        Package.custom(2, [(0, 1), (1, 0)], **DEV)


def test_snake_pipeline_order():
    assert snake_order(3, 3) == [0, 1, 2, 5, 4, 3, 6, 7, 8]
    p = Package.mesh(3, 4, link_bandwidth=1, **DEV)
    assert p.order.tolist() == [0, 1, 2, 3, 7, 6, 5, 4, 8, 9, 10, 11]
    # consecutive pipeline stages are always neighbours
    order = p.order.tolist()
    assert all(p.hops(a, b) == 1 for a, b in zip(order, order[1:]))
    assert p.position[p.order].tolist() == list(range(12))
    assert Package.torus(2, 3, link_bandwidth=1, **DEV).order.tolist() == [0, 1, 2, 5, 4, 3]
    # an explicit order wins
    q = Package.mesh(2, 2, link_bandwidth=1, order=[3, 2, 1, 0], **DEV)
    assert q.order.tolist() == [3, 2, 1, 0] and q.position.tolist() == [3, 2, 1, 0]


def test_custom_order_position():
    p = Package.port(3, bandwidth=1, order=[2, 0, 1], **DEV)
    assert p.order.tolist() == [2, 0, 1]
    assert p.position.tolist() == [1, 2, 0]


def test_per_device_arrays_vs_scalars():
    p = Package.ring(3, link_bandwidth=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], peak_flops=[1.0, 2.0, 3.0], mem_bw=5.0,
                     sram_bytes=[1.0, math.inf, 2.0], comm_factor=[1.0, 0.0, 0.5], **{})
    assert p.peak_flops.tolist() == [1.0, 2.0, 3.0]
    assert p.mem_bw.tolist() == [5.0, 5.0, 5.0]
    assert p.sram_bytes.tolist() == [1.0, math.inf, 2.0]
    assert p.comm_factor.tolist() == [1.0, 0.0, 0.5]
    assert p.link_bandwidth.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    s = Package.ring(3, link_bandwidth=7.0, **DEV)
    assert s.link_bandwidth.tolist() == [7.0] * 6 and s.comm_factor.tolist() == [1.0] * 3
    for a in (p.peak_flops, p.mem_bw, p.sram_bytes, p.comm_factor, p.kinds, p.order, p.position, p.link_src,
              p.link_bandwidth):
        assert not a.flags.writeable
    with pytest.raises(AttributeError, match="immutable"):
        p.n_devices = 4
    with pytest.raises(TypeError, match="build a Package"):
        Package()


def test_heterogeneous_kinds():
    p = Package.port(3, bandwidth=1e9, kinds=[0, 0, 1], kind_names=["accel", "cpu"],
                     peak_flops=[32e12, 32e12, 1e12], mem_bw=[2e12, 2e12, 1e11], sram_bytes=[1e9, 1e9, math.inf],
                     comm_factor=[1.0, 1.0, 0.0])
    assert p.kinds.tolist() == [0, 0, 1] and p.kinds.dtype == np.int32
    assert p.kind_names == ("accel", "cpu")
    assert Package.port(2, bandwidth=1, kinds=[0, 1], **DEV).kind_names == ("kind0", "kind1")
    assert Package.port(2, bandwidth=1, **DEV).kind_names == ("chiplet",)
    h = Package.preset("hetero3")
    assert h.kinds.tolist() == [0, 0, 1] and h.kind_names == ("accel", "cpu")
    assert h.comm_factor.tolist() == [1.0, 1.0, 0.0] and math.isinf(h.sram_bytes[2])


def test_equality_and_hash():
    a = Package.preset("ring4")
    b = Package.preset("ring4")
    assert a == b and hash(a) == hash(b)
    c = Package.from_spec({**a.to_spec(), "description": "other words"})
    assert c == a and hash(c) == hash(a)          # the description is not part of the identity
    assert a != Package.preset("ring8")
    assert a != a.replace(sram_bytes=1.0)
    assert a.replace(sram_bytes=1.0).sram_bytes.tolist() == [1.0] * 4


# -------------------------------------------------------------------------------------------------- presets
def test_presets_build():
    names = Package.presets()
    assert set(names) == set(PRESETS) and len(names) >= 8
    for name, description in names.items():
        p = Package.preset(name)
        assert p.name == name and p.description == description and description
        assert load_package(name) == p
    assert Package.preset("ring4").n_devices == 4
    assert Package.preset("mesh4x4").n_devices == 16 and Package.preset("mesh4x4").shape == (4, 4)
    assert Package.preset("simba6x6").n_devices == 36 and Package.preset("simba6x6").topology == "mesh"


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_preset_spec_round_trip(tmp_path, name, suffix):
    p = Package.preset(name)
    assert Package.from_spec(p.to_spec()) == p
    path = tmp_path / f"p{suffix}"
    p.save(path)
    back = load_package(path)
    assert back == p and back.description == p.description and back.name == p.name
    assert back.sram_bytes.tolist() == p.sram_bytes.tolist()
    assert links_of(back) == links_of(p) and back.link_bandwidth.tolist() == p.link_bandwidth.tolist()


def _custom_package() -> Package:
    return Package.custom(3, [(0, 1), (1, 2), (2, 0, 5e9), (1, 0)], link_bandwidth=1e9, hop_latency=1e-9,
                          kinds=[0, 1, 1], kind_names=["big", "small"], comm_factor=[1.0, 0.5, 0.0],
                          order=[2, 0, 1], peak_flops=[1e12, 0.1 + 0.2, 3e12], mem_bw=1e11,
                          sram_bytes=[1e6, math.inf, 2e6], name="custom3")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_custom_spec_round_trip(tmp_path, suffix):
    p = _custom_package()
    path = tmp_path / f"c{suffix}"
    p.save(path)
    back = load_package(path)
    assert back == p and hash(back) == hash(p)
    assert back.peak_flops.tolist() == [1e12, 0.1 + 0.2, 3e12]
    assert back.order.tolist() == [2, 0, 1] and back.kinds.tolist() == [0, 1, 1]
    assert links_of(back) == links_of(p) and back.link_bandwidth.tolist() == [1e9, 1e9, 5e9, 1e9]
    assert back.hop_latency == 1e-9 and back.route(0, 2) == p.route(0, 2)
    text = path.read_text()
    spec = yaml.safe_load(text) if suffix == ".yaml" else json.loads(text)
    assert spec["format"] == "mcmcore-package" and spec["version"] == 1


def test_heterogeneous_mesh_spec_round_trip(tmp_path):
    p = Package.mesh(2, 3, link_bandwidth=[float(i + 1) for i in range(14)], peak_flops=[1, 2, 3, 4, 5, 6],
                     mem_bw=1, sram_bytes=[1, 2, math.inf, 4, 5, 6], kinds=[0, 1, 0, 1, 0, 1])
    for name in ("h.json", "h.yaml"):
        p.save(tmp_path / name)
        assert load_package(tmp_path / name) == p


def test_spec_preset_with_overrides():
    p = Package.from_spec({"preset": "ring4", "n_devices": 6, "sram_bytes": "inf"})
    assert p.n_devices == 6 and math.isinf(p.sram_bytes[0])
    assert Package.from_spec({"preset": "mesh4x4", "rows": 2}).n_devices == 8
    assert Package.from_spec({"preset": "mesh4x4", "n_devices": 16}).n_devices == 16   # consistent: fine


def test_spec_hand_written_yaml(tmp_path):
    path = tmp_path / "pkg.yaml"
    path.write_text("topology: mesh\nrows: 2\ncols: 2\npeak_flops: 1.0e12\nmem_bw: 1.0e11\n"
                    "sram_bytes: .inf\nlink_bandwidth: 1.0e9\nhop_latency: 1.0e-8\n")
    p = load_package(path)
    assert p.n_devices == 4 and p.hop_latency == 1e-8 and math.isinf(p.sram_bytes[0])


# --------------------------------------------------------------------------------------------------- errors
BASE = {"topology": "ring", "n_devices": 3, "peak_flops": 1.0, "mem_bw": 1.0, "sram_bytes": 1.0,
        "link_bandwidth": 1.0}


def test_unknown_preset():
    with pytest.raises(InvalidPackageError, match=r"unknown package preset 'ring5'; presets are ring4, ring8"):
        Package.preset("ring5")
    with pytest.raises(InvalidPackageError, match=r"unknown package preset 'ring5'; presets are"):
        Package.from_spec({"preset": "ring5"})
    with pytest.raises(InvalidPackageError, match=r"'ring5' is neither a package preset \(ring4.*\) nor a file"):
        load_package("ring5")


@pytest.mark.parametrize("spec, pattern", [
    ({**BASE, "bogus": 1, "extra": 2}, r"unknown package field\(s\): bogus, extra"),
    ({k: v for k, v in BASE.items() if k != "sram_bytes"}, r"missing field 'sram_bytes'"),
    ({k: v for k, v in BASE.items() if k != "n_devices"}, r"missing field 'n_devices' \(needed by topology 'ring'\)"),
    ({k: v for k, v in BASE.items() if k != "link_bandwidth"}, r"missing field 'link_bandwidth'"),
    ({**BASE, "topology": "mesh", "rows": 2}, r"missing field 'cols' \(needed by topology 'mesh'\)"),
    ({**BASE, "topology": "port"}, r"missing field 'bandwidth' \(needed by topology 'port'\)"),
    ({**BASE, "topology": "custom"}, r"missing field 'links' \(needed by topology 'custom'\)"),
    ({**BASE, "topology": "hypercube"}, r"topology must be one of \['custom', .*\], got 'hypercube'"),
    ({k: v for k, v in BASE.items() if k != "topology"}, r"topology must be one of .*, got None"),
    ({**BASE, "link_bandwidth": 0}, r"link_bandwidth of link 0 is 0\.0; it must be positive"),
    ({**BASE, "link_bandwidth": -5.0}, r"link_bandwidth of link 0 is -5\.0"),
    ({**BASE, "peak_flops": float("nan")}, r"peak_flops of device 0 is nan; it must be positive and finite"),
    ({**BASE, "mem_bw": [1.0, 1.0, math.inf]}, r"mem_bw of device 2 is inf; it must be positive and finite"),
    ({**BASE, "sram_bytes": [1.0, 0.0, 1.0]}, r"sram_bytes of device 1 is 0\.0; it must be positive"),
    ({**BASE, "peak_flops": [1.0, 2.0]}, r"peak_flops has 2 values, expected 1 or 3 \(one per device\)"),
    ({**BASE, "peak_flops": "fast"}, r"peak_flops must be a number or one number per device, got 'fast'"),
    ({**BASE, "comm_factor": [1.0, -1.0, 0.0]}, r"comm_factor of device 1 is -1\.0; it must be non-negative"),
    ({**BASE, "order": [0, 0, 1]}, r"order must be a permutation of 0\.\.2, got \[0, 0, 1\]"),
    ({**BASE, "order": [0, 1, 3]}, r"order must be a permutation of 0\.\.2, got \[0, 1, 3\]"),
    ({**BASE, "order": [0, 1]}, r"order must be 3 integers, got \[0, 1\]"),
    ({**BASE, "order": [0.0, 1.0, 2.0]}, r"order must be 3 integers"),
    ({**BASE, "order": [0, 2**32 + 2, 1]}, r"order values must fit in int32"),   # would wrap to [0, 2, 1]
    ({**BASE, "kinds": [0, -1, 0]}, r"kinds must be >= 0, got \[0, -1, 0\]"),
    ({**BASE, "kinds": [0, 2, 1], "kind_names": ["a", "b"]}, r"kind_names has 2 names for 3 kinds"),
    ({**BASE, "n_devices": 0}, r"a package needs at least one device, got n_devices=0"),
    ({**BASE, "topology": "port", "bandwidth": 1.0, "n_devices": 0}, r"needs at least one device, got n_devices=0"),
    ({**BASE, "n_devices": 2.5}, r"n_devices must be an integer, got 2\.5"),
    ({**BASE, "topology": "port", "bandwidth": 0.0}, r"bandwidth must be positive and finite, got 0\.0"),
    ({**BASE, "topology": "port", "bandwidth": float("nan")}, r"bandwidth must be positive and finite, got nan"),
    ({**BASE, "hop_latency": -1.0}, r"hop_latency must be finite and >= 0, got -1\.0"),
    ({**BASE, "topology": "mesh", "n_devices": None, "rows": 0, "cols": 3}, r"a mesh needs rows, cols >= 1, got 0 x 3"),
    ({**BASE, "topology": "mesh", "rows": 2, "cols": 2, "n_devices": 5}, r"n_devices=5 contradicts a 2 x 2 mesh"),
    # a boolean is not a number: "n_devices": true must not mean 1 device
    ({**BASE, "n_devices": True}, r"n_devices must be an integer, got True \(a boolean\)"),
    ({**BASE, "topology": "port", "bandwidth": 1.0, "n_devices": True}, r"n_devices must be an integer, got True"),
    ({**BASE, "topology": "custom", "n_devices": True, "links": []}, r"n_devices must be an integer, got True"),
    ({**BASE, "topology": "mesh", "rows": 1, "cols": 1, "n_devices": True}, r"n_devices=True contradicts"),
    ({**BASE, "topology": "mesh", "rows": True, "cols": 1}, r"rows must be an integer, got True"),
    ({**BASE, "peak_flops": True}, r"peak_flops must be a number or one number per device, got True"),
    ({**BASE, "sram_bytes": [1.0, False, 1.0]}, r"sram_bytes must be a number .*, got \[1\.0, False, 1\.0\]"),
    ({**BASE, "link_bandwidth": True}, r"link_bandwidth must be a number or one number per link, got True"),
    ({**BASE, "topology": "port", "bandwidth": True}, r"bandwidth must be a number, got True"),
    ({**BASE, "hop_latency": False}, r"hop_latency must be a number, got False"),
    ({**BASE, "kinds": [0, True, 0]}, r"kinds must be 3 integers, got \[0, True, 0\]"),
    ({**BASE, "order": [True, False, 2]}, r"order must be 3 integers"),
    ({**BASE, "topology": "custom", "links": [[0, 1, True], [1, 0, 1.0]]}, r"a link is \(src, dst\) or"),
    # fields of the wrong type name the field
    ({**BASE, "kind_names": 5}, r"kind_names must be a list of strings, one per device kind, got 5"),
    ({**BASE, "kind_names": "ab"}, r"kind_names must be a list of strings, one per device kind, got 'ab'"),
    ({**BASE, "kind_names": ["a", 1]}, r"kind_names must be a list of strings, got 1"),
    ({**BASE, "topology": "custom", "links": None}, r"links must be a list of \(src, dst\) .*, got None"),
    ({**BASE, "topology": "custom", "links": 5}, r"links must be a list of \(src, dst\) .*, got 5"),
    ({**BASE, "topology": "custom", "links": "0-1"}, r"links must be a list of \(src, dst\) .*, got '0-1'"),
    ({**BASE, "format": "mcmcore-graph"}, r"not an mcmcore package \(field 'format' is 'mcmcore-graph'"),
    ({**BASE, "version": 2}, r"unsupported package format version 2"),
])
def test_spec_errors(spec, pattern):
    with pytest.raises(InvalidPackageError, match=pattern):
        Package.from_spec(spec)


def test_spec_not_a_mapping():
    with pytest.raises(InvalidPackageError, match="a package spec must be a mapping, got list"):
        Package.from_spec([1, 2])


@pytest.mark.parametrize("build", [
    lambda: Package.port(0, bandwidth=1, **DEV),
    lambda: Package.ring(0, link_bandwidth=1, **DEV),
    lambda: Package.full(0, link_bandwidth=1, **DEV),
    lambda: Package.custom(0, [], link_bandwidth=1, **DEV),
])
def test_zero_devices(build):
    with pytest.raises(InvalidPackageError, match="at least one device"):
        build()


@pytest.mark.parametrize("build, pattern", [
    (lambda: Package.ring(2.5, link_bandwidth=1, **DEV), r"n_devices must be an integer, got 2\.5"),
    (lambda: Package.full(3.5, link_bandwidth=1, **DEV), r"n_devices must be an integer, got 3\.5"),
    (lambda: Package.mesh(2, 2.5, link_bandwidth=1, **DEV), r"cols must be an integer, got 2\.5"),
    (lambda: Package.torus("x", 2, link_bandwidth=1, **DEV), r"rows must be an integer, got 'x'"),
    (lambda: Package.port(2, bandwidth=None, **DEV), r"a port package needs a bandwidth, got None"),
    (lambda: Package.port(True, bandwidth=1, **DEV), r"n_devices must be an integer, got True \(a boolean\)"),
    (lambda: Package.ring(True, link_bandwidth=1, **DEV), r"n_devices must be an integer, got True"),
    (lambda: Package.custom(2, None, link_bandwidth=1, **DEV), r"links must be a list of \(src, dst\) or "
                                                               r"\(src, dst, bandwidth\), got None"),
    (lambda: Package.custom(2, 7, link_bandwidth=1, **DEV), r"links must be a list .*, got 7"),
    (lambda: Package.port(2, bandwidth=1, kind_names=7, **DEV), r"kind_names must be a list of strings"),
    (lambda: Package.preset(["ring4"]), r"a preset name must be a string, got \['ring4'\]; presets are ring4"),
    (lambda: Package.preset(None), r"a preset name must be a string, got None"),
    (lambda: Package.port(2, bandwidth=1, peak_flops=1, mem_bw=1, sram_bytes=-1.0),
     r"sram_bytes of device 0 is -1\.0"),
])
def test_builder_errors(build, pattern):
    with pytest.raises(InvalidPackageError, match=pattern):
        build()


def test_file_errors_name_the_file(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("topology: [ring\n  n: :")
    with pytest.raises(InvalidPackageError, match=re.escape(str(bad_yaml)) + ": not a valid YAML file"):
        load_package(bad_yaml)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"topology": ')
    with pytest.raises(InvalidPackageError, match=re.escape(str(bad_json)) + ": not a valid JSON file"):
        load_package(bad_json)
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    with pytest.raises(InvalidPackageError, match=re.escape(str(empty)) + ": a package spec must be a mapping"):
        load_package(empty)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({**BASE, "bogus": 1}))
    with pytest.raises(InvalidPackageError, match=re.escape(str(unknown)) + ": unknown package field"):
        load_package(unknown)
    nan = tmp_path / "nan.json"
    nan.write_text(json.dumps({**BASE, "peak_flops": float("nan")}))
    with pytest.raises(InvalidPackageError, match=re.escape(str(nan)) + ": peak_flops of device 0 is nan"):
        load_package(nan)
    missing = tmp_path / "missing.yaml"
    with pytest.raises(InvalidPackageError, match="'.*missing.yaml' is neither a package preset .* nor a file"):
        load_package(missing)
    directory = tmp_path / "pkgdir.json"
    directory.mkdir()
    with pytest.raises(InvalidPackageError, match=re.escape(str(directory)) + r": cannot read the package file"):
        load_package(directory)
    for name in ("binary.json", "binary.yaml"):
        binary = tmp_path / name
        binary.write_bytes(b"\xff\xfe\x00\x80\x89PNG")
        with pytest.raises(InvalidPackageError, match=re.escape(str(binary)) + r": not a text file"):
            load_package(binary)


PORT_YAML = "topology: port\nn_devices: 2\nbandwidth: 1.0\npeak_flops: 1.0\nmem_bw: 1.0\nsram_bytes: 1.0\n"


@pytest.mark.parametrize("extra, pattern", [
    ("on: 3\n", "field names must be strings, got True .*quote the key"),   # YAML 1.1: on -> True
    ("1: 3\n", "field names must be strings, got 1"),
    ("~: 3\n", "field names must be strings, got None"),
    ("name: 2024-01-01\n", r"name must be a string, got datetime.date\(2024, 1, 1\)"),
    ("description: [a, b]\n", "description must be a string"),
])
def test_yaml_keys_and_names_that_are_not_strings(tmp_path, extra, pattern):
    path = tmp_path / "pkg.yaml"
    path.write_text(PORT_YAML + extra)
    with pytest.raises(InvalidPackageError, match=re.escape(str(path)) + ": " + pattern):
        load_package(path)


def test_numbers_written_as_strings_in_spec_files(tmp_path):
    # YAML 1.1 reads 25e9 (no dot, no sign) as a string: every numeric field takes it, not only the per-device ones
    path = tmp_path / "ring.yaml"
    path.write_text("topology: ring\nn_devices: 4\nlink_bandwidth: 5e10\nhop_latency: 1e-9\npeak_flops: [1e12, 2e12, "
                    "1e12, 2e12]\nmem_bw: 1e12\nsram_bytes: .inf\n")
    p = load_package(path)
    assert p.link_bandwidth[0] == 5e10 and p.hop_latency == 1e-9 and p.peak_flops[1] == 2e12
    assert np.isinf(p.sram_bytes).all()
    path.write_text(PORT_YAML.replace("bandwidth: 1.0", "bandwidth: 25e9"))
    assert load_package(path).bandwidth == 25e9
    path.write_text(PORT_YAML.replace("peak_flops: 1.0", "peak_flops: fast"))
    with pytest.raises(InvalidPackageError, match="peak_flops must be a number .*got 'fast' \\(a string\\)"):
        load_package(path)
    # the Python API takes numbers, not strings
    with pytest.raises(InvalidPackageError, match="peak_flops .*got '1e12' \\(a string\\)"):
        Package.port(2, bandwidth=1.0, peak_flops="1e12", mem_bw=1.0, sram_bytes=1.0)


@pytest.mark.parametrize("text, pattern", [
    ("topology: mesh\nrows: .inf\ncols: 2\n", "rows must be an integer, got inf"),
    ("topology: ring\nn_devices: 1.0e+400\n", "n_devices must be an integer, got inf"),
    ("topology: custom\nn_devices: 2\nlinks: [[0, .inf, 1.0]]\n", r"a link is .*got \[0, inf, 1.0\]"),
    ("topology: ring\nn_devices: 2\nkinds: [0, 1e400]\n", "kinds must be 2 integers"),
])
def test_infinite_counts_are_named_errors(tmp_path, text, pattern):
    path = tmp_path / "inf.yaml"
    path.write_text(text + "link_bandwidth: 1.0\npeak_flops: 1.0\nmem_bw: 1.0\nsram_bytes: 1.0\n")
    with pytest.raises(InvalidPackageError, match=pattern):
        load_package(path)
    with pytest.raises(InvalidPackageError, match="n_devices must be an integer, got inf"):
        Package.from_spec({**BASE, "n_devices": float("inf")})


def test_nested_values_are_refused_before_numpy_expands_them(tmp_path):
    # a YAML alias nests 10^7 numbers in a few hundred bytes: the error must come at once, not after expanding
    levels = ["&a0 [" + ", ".join(["1.0"] * 10) + "]"]
    levels += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    path = tmp_path / "bomb.yaml"
    path.write_text(PORT_YAML.replace("peak_flops: 1.0", "peak_flops: [" + ", ".join(levels) + "]"))
    with pytest.raises(InvalidPackageError, match="peak_flops has 7 values, expected 1 or 2"):
        load_package(path)
    path.write_text(PORT_YAML.replace("peak_flops: 1.0", "peak_flops: [[1.0], [2.0]]"))
    with pytest.raises(InvalidPackageError, match=r"peak_flops must be .*got an element \[1.0\]"):
        load_package(path)


# ------------------------------------------------------------------------------------------------ kind ids
def test_kind_ids_are_checked_before_allocating():
    """A stray huge kind id used to build one default name per id up to it (31 s and 8 GB for 10**8)."""
    with pytest.raises(InvalidPackageError, match=r"kinds: device 1 has kind id 100000000; kind ids must be below "
                                                  r"64 \(a package of 2 device\(s\) has at most 2 distinct kinds"):
        Package.port(2, bandwidth=1, kinds=[0, 10**8], **DEV)
    with pytest.raises(InvalidPackageError, match=r"kind id 2000000000"):
        Package.from_spec({**BASE, "kinds": [0, 2 * 10**9, 0]})
    with pytest.raises(InvalidPackageError, match=r"kind ids must be below 100 "):
        Package.port(100, bandwidth=1, kinds=[100] * 100, **DEV)
    # sparse ids stay allowed: a one-device CPU-only package of the graph's kind 1, many kinds with their names
    assert Package.port(1, bandwidth=1, kinds=[1], **DEV).kind_names == ("kind0", "kind1")
    names = [f"k{i}" for i in range(200)]
    assert Package.port(2, bandwidth=1, kinds=[0, 199], kind_names=names, **DEV).kind_names[199] == "k199"
    assert Package.port(100, bandwidth=1, kinds=list(range(100)), **DEV).kind_names[99] == "kind99"


# ---------------------------------------------------------------------------------------------------- scale
@pytest.mark.parametrize("build, pattern", [
    (lambda: Package.ring(65536, link_bandwidth=1, **DEV), r"n_devices=65536 is too large for a ring package: its "
                                                           r"K x K routing tables would take 64 GiB"),
    (lambda: Package.mesh(64, 65, link_bandwidth=1, **DEV), r"n_devices=4160 \(64 x 65\) is too large for a mesh"),
    (lambda: Package.torus(100, 100, link_bandwidth=1, **DEV), r"n_devices=10000 \(100 x 100\) is too large"),
    (lambda: Package.full(4097, link_bandwidth=1, **DEV), r"too large for a full package"),
    (lambda: Package.custom(5000, [(0, 1)], link_bandwidth=1, **DEV), r"too large for a custom package"),
    (lambda: Package.from_spec({**BASE, "n_devices": 10**5}), r"n_devices=100000 is too large \(at most 65536\)"),
    (lambda: Package.port(65537, bandwidth=1, **DEV), r"n_devices=65537 is too large \(at most 65536\)"),
])
def test_too_many_devices_is_refused_before_allocating(build, pattern):
    """Routing tables are K x K (16 bytes a pair): 65,536 ring devices would need 64 GiB (a MemoryError)."""
    with pytest.raises(InvalidPackageError, match=pattern):
        build()


def test_device_limits():
    from mcmcore.package import MAX_DEVICES, MAX_LINK_DEVICES

    assert (MAX_DEVICES, MAX_LINK_DEVICES) == (65536, 4096)
    with pytest.raises(InvalidPackageError, match=r"a links package has at most 4096 devices \(256 MiB of tables\)"):
        Package.ring(4097, link_bandwidth=1, **DEV)
    assert Package.port(65536, bandwidth=1, **DEV).n_devices == 65536   # no per-pair tables


def test_full_links_in_pair_order():
    p = Package.full(4, link_bandwidth=1, **DEV)
    assert links_of(p) == [(a, b) for a in range(4) for b in range(4) if a != b]
    assert Package.full(1, link_bandwidth=1, **DEV).n_links == 0


def test_large_mesh_builds():
    p = Package.mesh(32, 32, link_bandwidth=1e9, **DEV)
    assert p.n_devices == 1024
    assert p.n_links == 2 * 2 * 32 * 31
    assert p.hops(0, 1023) == 62
    assert path_of(p, 0, 1023)[:32] == list(range(32))     # XY: the whole first row, then down the last column

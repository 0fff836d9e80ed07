"""The package: devices (chiplets), their pipeline order and the interconnect (DESIGN.md, data model)."""
from __future__ import annotations

import json
import math
import reprlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from mcmcore import _core
from mcmcore.errors import InvalidPackageError

__all__ = ["Package", "PRESETS", "load_package"]

GiB = 2**30
MiB = 2**20

#: Most devices of any package (device ids are int32; kinds, orders and placements are per device).
MAX_DEVICES = 65536
#: Most devices of a links package (ring, mesh, torus, full, custom). Its routing tables ``next_link``,
#: ``hops`` (int32) and ``route_bw`` (float64) are K x K each, 16 bytes per device pair: 256 MiB at 4,096 devices,
#: but 64 GiB at 65,536. Port packages keep no per-pair tables and may have up to MAX_DEVICES.
MAX_LINK_DEVICES = 4096
_ROUTE_BYTES_PER_PAIR = 4 + 4 + 8
#: Kind ids up to this are always allowed, whatever the package size: a one-device package may be of kind 1 (say,
#: the CPU column of a graph's latency). Beyond it a kind id must be below n_devices (a package of K devices has at
#: most K distinct kinds) or below the number of kind_names given; a stray huge id would otherwise allocate one
#: default name per id up to it.
_MIN_KIND_LIMIT = 64

#: Built-in packages. Numbers are per chiplet; bandwidths in bytes/s per direction, latencies in seconds.
PRESETS: dict[str, dict[str, Any]] = {
    # The 1-D ring of the MLSys 2022 MCM study: few chiplets, modest SRAM, slow links.
    "ring4": {
        "topology": "ring", "n_devices": 4, "peak_flops": 32e12, "mem_bw": 2e12, "sram_bytes": 512 * MiB,
        "link_bandwidth": 50e9, "hop_latency": 20e-9,
        "description": "4 chiplets on a bidirectional ring; 32 TFLOP/s, 2 TB/s, 512 MiB SRAM each; 50 GB/s links",
    },
    "ring8": {
        "topology": "ring", "n_devices": 8, "peak_flops": 16e12, "mem_bw": 1e12, "sram_bytes": 256 * MiB,
        "link_bandwidth": 50e9, "hop_latency": 20e-9,
        "description": "8 chiplets on a bidirectional ring; 16 TFLOP/s, 1 TB/s, 256 MiB SRAM each; 50 GB/s links",
    },
    "mesh4x4": {
        "topology": "mesh", "rows": 4, "cols": 4, "peak_flops": 16e12, "mem_bw": 1e12, "sram_bytes": 256 * MiB,
        "link_bandwidth": 100e9, "hop_latency": 10e-9,
        "description": "16 chiplets on a 4x4 mesh (XY routing, snake pipeline order); 16 TFLOP/s, 1 TB/s, "
                       "256 MiB SRAM each; 100 GB/s links",
    },
    # Simba (Shao et al., MICRO 2019): 36 chiplets on a 6x6 mesh network-on-package. SRAM is scaled up from
    # Simba's few MB so that transformer weights fit on the package.
    "simba6x6": {
        "topology": "mesh", "rows": 6, "cols": 6, "peak_flops": 4e12, "mem_bw": 1e12, "sram_bytes": 256 * MiB,
        "link_bandwidth": 100e9, "hop_latency": 20e-9,
        "description": "Simba-like: 36 chiplets on a 6x6 mesh (XY routing, snake pipeline order); 4 TFLOP/s, "
                       "1 TB/s, 256 MiB SRAM each; 100 GB/s links, 20 ns per hop",
    },
    "torus4x4": {
        "topology": "torus", "rows": 4, "cols": 4, "peak_flops": 16e12, "mem_bw": 1e12, "sram_bytes": 256 * MiB,
        "link_bandwidth": 100e9, "hop_latency": 10e-9,
        "description": "16 chiplets on a 4x4 torus; 16 TFLOP/s, 1 TB/s, 256 MiB SRAM each; 100 GB/s links",
    },
    "full8": {
        "topology": "full", "n_devices": 8, "peak_flops": 100e12, "mem_bw": 2e12, "sram_bytes": 16 * GiB,
        "link_bandwidth": 150e9, "hop_latency": 1e-6,
        "description": "8 accelerators, all-to-all links (NVLink-like); 100 TFLOP/s, 2 TB/s, 16 GiB each; 150 GB/s",
    },
    "port4": {
        "topology": "port", "n_devices": 4, "peak_flops": 32e12, "mem_bw": 2e12, "sram_bytes": 512 * MiB,
        "bandwidth": 50e9,
        "description": "4 interchangeable devices, one 50 GB/s port each (port model); 32 TFLOP/s, 2 TB/s, "
                       "512 MiB each",
    },
    # Heterogeneous port package in the style of the NeurIPS 2020 device-placement instances: accelerators plus
    # a host CPU that does not pay communication and has no capacity limit.
    "hetero3": {
        "topology": "port", "n_devices": 3, "kinds": [0, 0, 1], "kind_names": ["accel", "cpu"],
        "peak_flops": [32e12, 32e12, 1e12], "mem_bw": [2e12, 2e12, 100e9],
        "sram_bytes": [512 * MiB, 512 * MiB, math.inf], "comm_factor": [1.0, 1.0, 0.0], "bandwidth": 25e9,
        "description": "2 accelerators (32 TFLOP/s, 512 MiB) + 1 CPU (1 TFLOP/s, no capacity limit, pays no "
                       "communication); 25 GB/s ports",
    },
}


def _has_bool(value) -> bool:
    """True for a bool, a bool array or a (nested) list holding one: numpy would read True as 1 without a word."""
    if isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype == np.bool_ or (value.dtype == object and any(_has_bool(x) for x in value.flat))
    if isinstance(value, (list, tuple)):
        return any(_has_bool(x) for x in value)
    return False


def _check_flat(name: str, value, k: int, expected: str, what: str | None = None) -> None:
    """A per-device value is a scalar or a flat list of ``k`` scalars. Checked before numpy sees it: a string
    would be parsed as a number, and nested lists (a YAML alias can nest millions of values in a few bytes)
    would be expanded before the shape check."""
    if isinstance(value, (str, bytes)):
        raise InvalidPackageError(f"{name} must be {expected}, got {value!r} (a string)")
    if isinstance(value, (list, tuple)):
        if len(value) != k:
            raise InvalidPackageError(f"{name} has {len(value)} values, expected 1 or {k} (one per {what})" if what
                                      else f"{name} must be {expected}, got {_short(value)}")
        bad = next((x for x in value if isinstance(x, (list, tuple, dict, set, str, bytes))), None)
        if bad is not None:
            raise InvalidPackageError(f"{name} must be {expected}, got an element {_short(bad)}")


def _short(value) -> str:
    """A repr cut short (a few elements per list, a few levels): a spec value may be huge."""
    return reprlib.repr(value)


def _number(name: str, value) -> float:
    """A scalar given by the user as a float; a bool, None or a string is an error naming the field."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise InvalidPackageError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidPackageError(f"{name} must be a number, got {value!r}") from None


def _per_device(name: str, value, k: int, *, positive: bool = True, allow_inf: bool = False,
                what: str = "device") -> np.ndarray:
    if _has_bool(value):
        raise InvalidPackageError(f"{name} must be a number or one number per {what}, got {value!r} (a boolean)")
    _check_flat(name, value, k, f"a number or one number per {what}", what)
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise InvalidPackageError(f"{name} must be a number or one number per {what}, got {value!r}") from None
    if a.ndim == 0:
        a = np.full(k, float(a))
    if a.shape != (k,):
        raise InvalidPackageError(f"{name} has {a.size} values, expected 1 or {k} (one per {what})")
    bad = np.isnan(a) | (a <= 0 if positive else a < 0) | (np.isinf(a) & (not allow_inf))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = "positive" if positive else "non-negative"
        raise InvalidPackageError(f"{name} of {what} {i} is {float(a[i])!r}; it must be {need}"
                                  + ("" if allow_inf else " and finite"))
    a.setflags(write=False)
    return a


def _ints(name: str, value, k: int) -> np.ndarray:
    if _has_bool(value):
        raise InvalidPackageError(f"{name} must be {k} integers, got {value!r} (a boolean)")
    _check_flat(name, value, k, f"{k} integers")
    try:
        a = np.asarray(value)
    except (TypeError, ValueError, OverflowError):  # ragged
        raise InvalidPackageError(f"{name} must be {k} integers, got {value!r}") from None
    if a.ndim == 0:
        a = np.full(k, a)
    if a.shape != (k,) or (a.size and not np.issubdtype(a.dtype, np.integer)):
        raise InvalidPackageError(f"{name} must be {k} integers, got {value!r}")
    if a.size and (a.min() < np.iinfo(np.int32).min or a.max() > np.iinfo(np.int32).max):
        raise InvalidPackageError(f"{name} values must fit in int32, got {value!r}")
    a = a.astype(np.int32)
    a.setflags(write=False)
    return a


def _count(name: str, value) -> int:
    """An integer count given by the user (``int()`` alone would turn 2.5 into 2 without a word)."""
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise InvalidPackageError(f"{name} must be an integer, got {value!r}") from None
    if isinstance(value, (bool, np.bool_)):
        raise InvalidPackageError(f"{name} must be an integer, got {value!r} (a boolean)")
    if n != value:
        raise InvalidPackageError(f"{name} must be an integer, got {value!r}")
    return n


def snake_order(rows: int, cols: int) -> list[int]:
    """Boustrophedon order of a row-major grid: consecutive pipeline stages are always neighbours."""
    out = []
    for r in range(rows):
        cs = range(cols) if r % 2 == 0 else range(cols - 1, -1, -1)
        out.extend(r * cols + c for c in cs)
    return out


class Package:
    """K devices with a pipeline order and an interconnect; immutable.

    Build one with :meth:`port`, :meth:`ring`, :meth:`mesh`, :meth:`torus`, :meth:`full`, :meth:`custom`,
    :meth:`preset`, :meth:`from_spec` or :func:`load_package`. Per-device values may be scalars or arrays.

    A package has at most ``MAX_DEVICES`` (65,536) devices; a links package (ring, mesh, torus, full, custom) at
    most ``MAX_LINK_DEVICES`` (4,096), since its K x K routing tables take 16 bytes per device pair (256 MiB at
    4,096 devices, 64 GiB at 65,536). Kind ids must be below ``max(n_devices, len(kind_names), 64)``. A malformed
    value (a boolean where a number is expected included) raises :class:`InvalidPackageError` naming the field.

    Attributes
    ----------
    n_devices : int
    peak_flops, mem_bw, sram_bytes, comm_factor : ndarray of shape (K,)
    kinds : ndarray of int32, shape (K,)
        Device kind (the column of a graph's ``latency``); ``kind_names`` names them.
    order : ndarray of int32
        Devices in pipeline order; ``position[k]`` is the position of device ``k``.
    interconnect : {"port", "links"}
    topology : {"port", "ring", "mesh", "torus", "full", "custom"}
    bandwidth : float or None
        Port bandwidth (port model).
    link_src, link_dst, link_bandwidth : ndarrays of the directed links (links model)
    hop_latency : float
    """

    __slots__ = ("name", "n_devices", "peak_flops", "mem_bw", "sram_bytes", "comm_factor", "kinds", "kind_names",
                 "order", "position", "interconnect", "topology", "shape", "bandwidth", "link_src", "link_dst",
                 "link_bandwidth", "hop_latency", "description", "_next_link", "_hops", "_route_bw",
                 "__weakref__")

    def __init__(self, *args, **kwargs):
        raise TypeError("build a Package with Package.port/ring/mesh/torus/full/custom/preset/from_spec")

    def __setattr__(self, key, value):
        raise AttributeError("Package is immutable")

    # ------------------------------------------------------------------------------------------------ builders
    @classmethod
    def _build(cls, *, topology: str, n_devices: int, peak_flops, mem_bw, sram_bytes, kinds=None,
               kind_names=None, comm_factor=None, order=None, bandwidth=None, links=None, link_bandwidth=None,
               hop_latency=0.0, shape=None, name=None, description=None) -> "Package":
        p = object.__new__(cls)
        s = object.__setattr__
        k = _count("n_devices", n_devices)
        if k < 1:
            raise InvalidPackageError(f"a package needs at least one device, got n_devices={n_devices!r}")
        _check_size(topology, k)
        for key, value in (("name", name), ("description", description)):
            if value is not None and not isinstance(value, str):
                raise InvalidPackageError(f"{key} must be a string, got {_short(value)}")
        s(p, "name", name)
        s(p, "description", description)
        s(p, "n_devices", k)
        s(p, "topology", topology)
        s(p, "shape", tuple(shape) if shape is not None else None)
        s(p, "peak_flops", _per_device("peak_flops", peak_flops, k))
        s(p, "mem_bw", _per_device("mem_bw", mem_bw, k))
        s(p, "sram_bytes", _per_device("sram_bytes", sram_bytes, k, allow_inf=True))
        s(p, "comm_factor", _per_device("comm_factor", 1.0 if comm_factor is None else comm_factor, k,
                                        positive=False))
        kinds_a = _ints("kinds", 0 if kinds is None else kinds, k)
        if (kinds_a < 0).any():
            raise InvalidPackageError(f"kinds must be >= 0, got {kinds_a.tolist()}")
        if kind_names is not None:
            if isinstance(kind_names, (str, bytes, dict)) or not isinstance(kind_names, (list, tuple, np.ndarray)):
                raise InvalidPackageError(f"kind_names must be a list of strings, one per device kind, got "
                                          f"{kind_names!r}")
            bad = [x for x in kind_names if not isinstance(x, str)]
            if bad:
                raise InvalidPackageError(f"kind_names must be a list of strings, got {bad[0]!r} in {kind_names!r}")
        # Check kind ids before anything is sized by the largest one (the default kind_names).
        limit = max(k, len(kind_names) if kind_names is not None else 0, _MIN_KIND_LIMIT)
        if int(kinds_a.max()) >= limit:
            d = int(np.argmax(kinds_a))
            raise InvalidPackageError(f"kinds: device {d} has kind id {int(kinds_a[d])}; kind ids must be below "
                                      f"{limit} (a package of {k} device(s) has at most {k} distinct kinds, so ids "
                                      f"must be < max(n_devices, len(kind_names), {_MIN_KIND_LIMIT}))")
        s(p, "kinds", kinds_a)
        n_kinds = int(kinds_a.max()) + 1
        if kind_names is None:
            kind_names = [f"kind{i}" for i in range(n_kinds)] if n_kinds > 1 else ["chiplet"]
        kind_names = tuple(str(x) for x in kind_names)
        if len(kind_names) < n_kinds:
            raise InvalidPackageError(f"kind_names has {len(kind_names)} names for {n_kinds} kinds")
        s(p, "kind_names", kind_names)
        order_a = _ints("order", np.arange(k) if order is None else order, k)
        if sorted(order_a.tolist()) != list(range(k)):
            raise InvalidPackageError(f"order must be a permutation of 0..{k - 1}, got {order_a.tolist()}")
        position = np.empty(k, dtype=np.int32)
        position[order_a] = np.arange(k, dtype=np.int32)
        position.setflags(write=False)
        s(p, "order", order_a)
        s(p, "position", position)
        hop_latency = _number("hop_latency", hop_latency)
        if not math.isfinite(hop_latency) or hop_latency < 0:
            raise InvalidPackageError(f"hop_latency must be finite and >= 0, got {hop_latency!r}")
        s(p, "hop_latency", hop_latency)
        if topology == "port":
            if bandwidth is None:
                raise InvalidPackageError("a port package needs a bandwidth, got None")
            bandwidth = _number("bandwidth", bandwidth)
            if not (bandwidth > 0) or not math.isfinite(bandwidth):
                raise InvalidPackageError(f"bandwidth must be positive and finite, got {bandwidth!r}")
            s(p, "interconnect", "port")
            s(p, "bandwidth", bandwidth)
            empty_i = np.zeros(0, dtype=np.int32)
            empty_d = np.zeros(0, dtype=np.float64)
            for a in (empty_i, empty_d):
                a.setflags(write=False)
            s(p, "link_src", empty_i)
            s(p, "link_dst", empty_i)
            s(p, "link_bandwidth", empty_d)
            s(p, "_next_link", None)
            s(p, "_hops", None)
            s(p, "_route_bw", None)
            return p
        links = np.asarray(links, dtype=np.int64).reshape(-1, 2)
        n_links = len(links)
        if n_links == 0 and k > 1:
            raise InvalidPackageError("a links package with more than one device needs links")
        lbw = _per_device("link_bandwidth", link_bandwidth, n_links, what="link") if n_links else np.zeros(0)
        src = links[:, 0].astype(np.int32)
        dst = links[:, 1].astype(np.int32)
        for a in (src, dst, lbw):
            a.setflags(write=False)
        rows, cols = shape if shape is not None else (1, k)
        try:
            next_link, hops, route_bw = _core.routes(topology, k, rows, cols, src, dst, np.ascontiguousarray(lbw))
        except ValueError as exc:
            raise InvalidPackageError(str(exc)) from None
        for a in (next_link, hops, route_bw):
            a.setflags(write=False)
        s(p, "interconnect", "links")
        s(p, "bandwidth", None)
        s(p, "link_src", src)
        s(p, "link_dst", dst)
        s(p, "link_bandwidth", lbw)
        s(p, "_next_link", next_link)
        s(p, "_hops", hops)
        s(p, "_route_bw", route_bw)
        return p

    @classmethod
    def port(cls, n_devices: int, *, bandwidth: float, peak_flops, mem_bw, sram_bytes, kinds=None,
             comm_factor=None, order=None, kind_names=None, name: str | None = None) -> "Package":
        """Port model: every device has one port of ``bandwidth`` bytes/s; no topology.

        The default dataflow constraint for a port package is ``acyclic`` (devices are interchangeable but for
        their kind), and the default interval has no overlap of compute and communication.
        """
        return cls._build(topology="port", n_devices=n_devices, peak_flops=peak_flops, mem_bw=mem_bw,
                          sram_bytes=sram_bytes, kinds=kinds, comm_factor=comm_factor, order=order,
                          bandwidth=bandwidth, kind_names=kind_names, name=name)

    @classmethod
    def ring(cls, n: int, *, link_bandwidth, hop_latency: float = 0.0, peak_flops, mem_bw, sram_bytes,
             kinds=None, comm_factor=None, order=None, bidirectional: bool = True, kind_names=None,
             name: str | None = None) -> "Package":
        """Devices 0..n-1 on a ring. Links: ``i -> i+1`` for each i (ids 0..n-1), then ``i+1 -> i`` when
        bidirectional (ids n..2n-1). Routes take the shorter direction (ties clockwise)."""
        n = _count("n_devices", n)
        _check_size("ring", n)
        links = [(i, (i + 1) % n) for i in range(n)] if n > 1 else []
        if bidirectional and n > 2:
            links += [((i + 1) % n, i) for i in range(n)]
        elif bidirectional and n == 2:
            links = [(0, 1), (1, 0)]
        if not bidirectional and n == 2:
            links = [(0, 1), (1, 0)]
        return cls._build(topology="ring" if bidirectional or n <= 2 else "custom", n_devices=n,
                          peak_flops=peak_flops, mem_bw=mem_bw, sram_bytes=sram_bytes, kinds=kinds,
                          comm_factor=comm_factor, order=order, links=links, link_bandwidth=link_bandwidth,
                          hop_latency=hop_latency, kind_names=kind_names, name=name, shape=(1, n))

    @classmethod
    def _grid(cls, topology: str, rows: int, cols: int, **kw) -> "Package":
        rows, cols = _count("rows", rows), _count("cols", cols)
        if rows < 1 or cols < 1:
            raise InvalidPackageError(f"a {topology} needs rows, cols >= 1, got {rows} x {cols}")
        _check_size(topology, rows * cols, f" ({rows} x {cols})")
        wrap = topology == "torus"
        links, seen = [], set()
        for r in range(rows):
            for c in range(cols):
                s = r * cols + c
                for dr, dc in ((0, 1), (1, 0)):
                    r2, c2 = r + dr, c + dc
                    if wrap:
                        r2, c2 = r2 % rows, c2 % cols
                    elif r2 >= rows or c2 >= cols:
                        continue
                    t = r2 * cols + c2
                    if t == s:
                        continue
                    for a, b in ((s, t), (t, s)):
                        if (a, b) not in seen:
                            seen.add((a, b))
                            links.append((a, b))
        order = kw.pop("order", None)
        if order is None:
            order = snake_order(rows, cols)
        return cls._build(topology=topology, n_devices=rows * cols, links=links, shape=(rows, cols), order=order,
                          **kw)

    @classmethod
    def mesh(cls, rows: int, cols: int, *, link_bandwidth, hop_latency: float = 0.0, peak_flops, mem_bw,
             sram_bytes, kinds=None, comm_factor=None, order=None, kind_names=None,
             name: str | None = None) -> "Package":
        """A rows x cols mesh, devices numbered row-major, XY routing (along the row first, then the column).
        The default pipeline order is the snake (boustrophedon), so consecutive stages are neighbours."""
        return cls._grid("mesh", rows, cols, link_bandwidth=link_bandwidth, hop_latency=hop_latency,
                         peak_flops=peak_flops, mem_bw=mem_bw, sram_bytes=sram_bytes, kinds=kinds,
                         comm_factor=comm_factor, order=order, kind_names=kind_names, name=name)

    @classmethod
    def torus(cls, rows: int, cols: int, *, link_bandwidth, hop_latency: float = 0.0, peak_flops, mem_bw,
              sram_bytes, kinds=None, comm_factor=None, order=None, kind_names=None,
              name: str | None = None) -> "Package":
        """A rows x cols torus: a mesh with wrap-around links; XY routing the shorter way (ties going up)."""
        return cls._grid("torus", rows, cols, link_bandwidth=link_bandwidth, hop_latency=hop_latency,
                         peak_flops=peak_flops, mem_bw=mem_bw, sram_bytes=sram_bytes, kinds=kinds,
                         comm_factor=comm_factor, order=order, kind_names=kind_names, name=name)

    @classmethod
    def full(cls, n: int, *, link_bandwidth, hop_latency: float = 0.0, peak_flops, mem_bw, sram_bytes,
             kinds=None, comm_factor=None, order=None, kind_names=None, name: str | None = None) -> "Package":
        """n devices with a direct link between every ordered pair."""
        n = _count("n_devices", n)
        _check_size("full", n)
        # Every ordered pair (a, b), a != b, in row-major order; numpy, since there are n * (n - 1) of them.
        a, b = np.divmod(np.arange(max(n, 0) ** 2, dtype=np.int64), max(n, 1))
        links = np.stack([a, b], axis=1)[a != b]
        return cls._build(topology="full", n_devices=n, links=links, link_bandwidth=link_bandwidth,
                          hop_latency=hop_latency, peak_flops=peak_flops, mem_bw=mem_bw, sram_bytes=sram_bytes,
                          kinds=kinds, comm_factor=comm_factor, order=order, kind_names=kind_names, name=name)

    @classmethod
    def custom(cls, n_devices: int, links: Sequence[Sequence[float]], *, link_bandwidth=None,
               hop_latency: float = 0.0, peak_flops, mem_bw, sram_bytes, kinds=None, comm_factor=None,
               order=None, kind_names=None, name: str | None = None) -> "Package":
        """Explicit directed links ``(src, dst)`` or ``(src, dst, bandwidth)``; shortest-path routes (ties to
        the lower link id)."""
        if isinstance(links, (str, bytes, dict)) or not isinstance(links, Iterable):
            raise InvalidPackageError(f"links must be a list of (src, dst) or (src, dst, bandwidth), got {links!r}")
        if isinstance(n_devices, int) and not isinstance(n_devices, bool):
            _check_size("custom", n_devices)
        pairs, bws = [], []
        for item in links:
            if isinstance(item, (str, bytes)) or not hasattr(item, "__len__") or len(item) not in (2, 3):
                raise InvalidPackageError(f"a link is (src, dst) or (src, dst, bandwidth), got {item!r}")
            try:
                pairs.append((_count("link src", item[0]), _count("link dst", item[1])))
                bws.append(_number("link bandwidth", item[2]) if len(item) == 3 else link_bandwidth)
            except (InvalidPackageError, TypeError, ValueError):
                raise InvalidPackageError(f"a link is (src, dst) or (src, dst, bandwidth) with integer device ids "
                                          f"and a numeric bandwidth, got {item!r}") from None
        if any(b is None for b in bws):
            raise InvalidPackageError("links without their own bandwidth need link_bandwidth")
        return cls._build(topology="custom", n_devices=n_devices, links=pairs, link_bandwidth=bws,
                          hop_latency=hop_latency, peak_flops=peak_flops, mem_bw=mem_bw, sram_bytes=sram_bytes,
                          kinds=kinds, comm_factor=comm_factor, order=order, kind_names=kind_names, name=name)

    # --------------------------------------------------------------------------------------------- presets/spec
    @classmethod
    def preset(cls, name: str) -> "Package":
        """A built-in package; :func:`Package.presets` lists them with their numbers."""
        if not isinstance(name, str):
            raise InvalidPackageError(f"a preset name must be a string, got {name!r}; presets are "
                                      f"{', '.join(PRESETS)}")
        if name not in PRESETS:
            raise InvalidPackageError(f"unknown package preset {name!r}; presets are {', '.join(PRESETS)}")
        spec = dict(PRESETS[name])
        spec.setdefault("name", name)
        return cls.from_spec(spec)

    @staticmethod
    def presets() -> dict[str, str]:
        """Preset names with a one-line description of each."""
        return {k: v["description"] for k, v in PRESETS.items()}

    @classmethod
    def from_spec(cls, spec: dict[str, Any], *, source: str | None = None) -> "Package":
        """Build from a spec dict (the JSON/YAML file format; see :meth:`to_spec`)."""
        where = f"{source}: " if source else ""
        if not isinstance(spec, dict):
            raise InvalidPackageError(f"{where}a package spec must be a mapping, got {type(spec).__name__}")
        spec = dict(spec)
        if "preset" in spec:
            preset = spec.pop("preset")
            base = dict(PRESETS.get(preset, None) or {}) if isinstance(preset, str) else {}
            if not base:
                raise InvalidPackageError(f"{where}unknown package preset {preset!r}; presets are "
                                          f"{', '.join(PRESETS)}")
            base.update(spec)
            spec = base
        topology = spec.pop("topology", None)
        known = {"port", "ring", "mesh", "torus", "full", "custom"}
        if topology not in known:
            raise InvalidPackageError(f"{where}topology must be one of {sorted(known)}, got {topology!r}")
        allowed = {"name", "description", "n_devices", "rows", "cols", "peak_flops", "mem_bw", "sram_bytes",
                   "kinds", "kind_names", "comm_factor", "order", "bandwidth", "link_bandwidth", "hop_latency",
                   "links", "format", "version"}
        odd = [key for key in spec if not isinstance(key, str)]
        if odd:
            raise InvalidPackageError(f"{where}field names must be strings, got {odd[0]!r} (YAML reads unquoted "
                                      f"on/off/yes/no/true/false as booleans and ~ as null: quote the key)")
        unknown = set(spec) - allowed
        if unknown:
            raise InvalidPackageError(f"{where}unknown package field(s): {', '.join(sorted(unknown))}")
        for key in ("name", "description"):
            if spec.get(key) is not None and not isinstance(spec[key], str):
                raise InvalidPackageError(f"{where}{key} must be a string, got {_short(spec[key])} "
                                          f"({type(spec[key]).__name__}; quote it in YAML)")
        fmt, version = spec.pop("format", "mcmcore-package"), spec.pop("version", 1)
        if fmt != "mcmcore-package":
            raise InvalidPackageError(f"{where}not an mcmcore package (field 'format' is {fmt!r}, expected "
                                      f"'mcmcore-package')")
        if version != 1:
            raise InvalidPackageError(f"{where}unsupported package format version {version!r} (this mcmcore reads "
                                      f"version 1)")
        for req in ("peak_flops", "mem_bw", "sram_bytes"):
            if req not in spec:
                raise InvalidPackageError(f"{where}missing field {req!r}")
        for key in _NUMERIC_FIELDS:  # spec files may write numbers as strings: "inf", and YAML reads 25e9 so
            if key in spec:           # (YAML 1.1 wants 25.0e+9)
                spec[key] = _spec_number(spec[key])
        common = {k: spec.get(k) for k in ("peak_flops", "mem_bw", "sram_bytes", "kinds", "comm_factor", "order",
                                            "kind_names", "name")}
        common["name"] = spec.get("name")

        def need(key: str):
            return _need(spec, key, where, topology)

        try:
            if topology == "port":
                pkg = cls.port(need("n_devices"), bandwidth=need("bandwidth"), **common)
            elif topology in ("ring", "full"):
                builder = cls.ring if topology == "ring" else cls.full
                pkg = builder(need("n_devices"), link_bandwidth=need("link_bandwidth"),
                              hop_latency=spec.get("hop_latency", 0.0), **common)
            elif topology in ("mesh", "torus"):
                builder = cls.mesh if topology == "mesh" else cls.torus
                rows, cols = need("rows"), need("cols")
                pkg = builder(rows, cols, link_bandwidth=need("link_bandwidth"),
                              hop_latency=spec.get("hop_latency", 0.0), **common)
                n_given = spec.get("n_devices")
                if n_given is not None and (isinstance(n_given, bool) or n_given != pkg.n_devices):
                    raise InvalidPackageError(f"{where}n_devices={n_given!r} contradicts a {rows} x {cols} {topology}")
            else:
                pkg = cls.custom(need("n_devices"), need("links"),
                                 link_bandwidth=spec.get("link_bandwidth"), hop_latency=spec.get("hop_latency", 0.0),
                                 **common)
        except InvalidPackageError as exc:
            if where and not str(exc).startswith(where):
                raise InvalidPackageError(f"{where}{exc}") from None
            raise
        object.__setattr__(pkg, "description", spec.get("description"))
        return pkg

    def to_spec(self) -> dict[str, Any]:
        """A JSON/YAML-ready dict that :meth:`from_spec` turns back into an equal package."""

        def compact(a):
            vals = [float(x) if np.issubdtype(np.asarray(a).dtype, np.floating) else int(x) for x in a]
            vals = [("inf" if isinstance(v, float) and math.isinf(v) else v) for v in vals]
            return vals[0] if len(set(map(str, vals))) == 1 else vals

        spec: dict[str, Any] = {"format": "mcmcore-package", "version": 1, "topology": self.topology}
        if self.name:
            spec["name"] = self.name
        if self.description:
            spec["description"] = self.description
        if self.topology in ("mesh", "torus"):
            spec["rows"], spec["cols"] = self.shape
        else:
            spec["n_devices"] = self.n_devices
        spec["peak_flops"] = compact(self.peak_flops)
        spec["mem_bw"] = compact(self.mem_bw)
        spec["sram_bytes"] = compact(self.sram_bytes)
        if (self.comm_factor != 1).any():
            spec["comm_factor"] = [float(x) for x in self.comm_factor]
        if (self.kinds != 0).any():
            spec["kinds"] = [int(x) for x in self.kinds]
        spec["kind_names"] = list(self.kind_names)
        spec["order"] = [int(x) for x in self.order]
        if self.interconnect == "port":
            spec["bandwidth"] = self.bandwidth
        else:
            spec["hop_latency"] = self.hop_latency
            if self.topology == "custom":
                spec["links"] = [[int(s), int(d), float(b)] for s, d, b in
                                 zip(self.link_src, self.link_dst, self.link_bandwidth)]
            else:
                spec["link_bandwidth"] = compact(self.link_bandwidth)
        return spec

    def save(self, path) -> None:
        """Write the spec as JSON (``.json``) or YAML (``.yaml`` / ``.yml``)."""
        path = Path(path)
        spec = self.to_spec()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            path.write_text(yaml.safe_dump(spec, sort_keys=False))
        else:
            path.write_text(json.dumps(spec, indent=1))

    # ------------------------------------------------------------------------------------------------ helpers
    @property
    def n_links(self) -> int:
        return int(len(self.link_src))

    @property
    def default_dataflow(self) -> str:
        """``acyclic`` for port packages (devices interchangeable), ``ordered`` for physical topologies."""
        return "acyclic" if self.interconnect == "port" else "ordered"

    @property
    def default_overlap(self) -> bool:
        return self.interconnect != "port"

    def route(self, src: int, dst: int) -> list[int]:
        """Link ids on the route from device ``src`` to device ``dst`` (empty for the port model)."""
        if self.interconnect == "port" or src == dst:
            return []
        out, x = [], int(src)
        while x != dst:
            link = int(self._next_link[x, dst])
            out.append(link)
            x = int(self.link_dst[link])
        return out

    def hops(self, src: int, dst: int) -> int:
        return 0 if self.interconnect == "port" else int(self._hops[src, dst])

    def replace(self, **changes) -> "Package":
        """A copy with some spec fields changed (e.g. ``sram_bytes=...``, ``link_bandwidth=...``)."""
        spec = self.to_spec()
        spec.update(changes)
        return Package.from_spec(spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Package):
            return NotImplemented
        a, b = self.to_spec(), other.to_spec()
        a.pop("description", None)
        b.pop("description", None)
        return a == b

    def __hash__(self) -> int:
        spec = self.to_spec()
        spec.pop("description", None)  # __eq__ ignores it, so the hash must too
        return hash(json.dumps(spec, sort_keys=True, default=str))

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        where = f"{self.shape[0]}x{self.shape[1]} " if self.topology in ("mesh", "torus") else ""
        return f"<Package{label}: {self.n_devices} devices, {where}{self.topology}>"


#: Spec fields holding numbers (or one per device), where a string that spells a number is read as one.
_NUMERIC_FIELDS = ("peak_flops", "mem_bw", "sram_bytes", "comm_factor", "bandwidth", "link_bandwidth",
                   "hop_latency")


def _spec_number(v):
    """A number written as a string in a spec file ("inf", ".inf", "25e9") -> float; anything else unchanged
    (the builders then name the field if it is not a number)."""
    if isinstance(v, str):
        text = v.strip().lower().replace(".inf", "inf")
        try:
            return float(text)
        except ValueError:
            return v
    if isinstance(v, list):
        return [x if isinstance(x, list) else _spec_number(x) for x in v]
    return v


def _check_size(topology: str, k: int, shape: str = "") -> None:
    """Refuse a package whose per-device-pair tables would not fit, before anything is allocated."""
    if k > MAX_DEVICES:
        raise InvalidPackageError(f"n_devices={k}{shape} is too large (at most {MAX_DEVICES})")
    if topology != "port" and k > MAX_LINK_DEVICES:
        need = _ROUTE_BYTES_PER_PAIR * k * k
        raise InvalidPackageError(
            f"n_devices={k}{shape} is too large for a {topology} package: its K x K routing tables would take "
            f"{need / GiB:.3g} GiB ({_ROUTE_BYTES_PER_PAIR} bytes per device pair); a links package has at most "
            f"{MAX_LINK_DEVICES} devices ({_ROUTE_BYTES_PER_PAIR * MAX_LINK_DEVICES**2 // MiB} MiB of tables). "
            f"A port package (no routing tables) may have up to {MAX_DEVICES}")


def _need(spec: dict, key: str, where: str, topology: str):
    if key not in spec:
        raise InvalidPackageError(f"{where}missing field {key!r} (needed by topology {topology!r})")
    return spec[key]


def load_package(path_or_preset) -> Package:
    """Load a package from a JSON or YAML spec file, or return the preset of that name."""
    if isinstance(path_or_preset, Package):
        return path_or_preset
    s = str(path_or_preset)
    if s in PRESETS:
        return Package.preset(s)
    path = Path(s)
    if not path.exists():
        raise InvalidPackageError(f"{s!r} is neither a package preset ({', '.join(PRESETS)}) nor a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidPackageError(f"{path}: not a text file (a package spec is JSON or YAML)") from None
    except OSError as exc:  # a directory, no permission, ...
        raise InvalidPackageError(f"{path}: cannot read the package file ({exc.strerror or exc})") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            spec = yaml.safe_load(text)
        else:
            spec = json.loads(text)
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        raise InvalidPackageError(f"{path}: not a valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'} "
                                  f"file ({exc})") from None
    return Package.from_spec(spec, source=str(path))

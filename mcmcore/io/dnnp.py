"""The device-placement JSON of Tarnawski et al. (NeurIPS 2020; also read by Piper).

A problem file holds ``maxSizePerFPGA``, ``maxFPGAs``, ``maxCPUs``, a list of ``nodes`` (``id``,
``supportedOnFpga``, ``cpuLatency``, ``fpgaLatency``, ``isBackwardNode``, optional ``colorClass`` and ``size``)
and a list of ``edges`` (``sourceId``, ``destId``, ``cost``: the time to ship the source's output, equal on every
edge out of one node). :func:`read_dnnp` maps it onto a :class:`~mcmcore.Graph` and a port-model
:class:`~mcmcore.Package` so that :func:`mcmcore.evaluate` of a split gives that format's max-load exactly:

- device kind 0 is the accelerator (``"fpga"``), kind 1 the CPU; ``latency[:, 0]`` / ``latency[:, 1]`` are
  ``fpgaLatency`` / ``cpuLatency``; ``supported[:, 0]`` is ``supportedOnFpga`` (the CPU runs everything);
- ``size`` -> ``weight_bytes``, ``colorClass`` -> ``color`` (-1 when absent), ``isBackwardNode`` -> ``backward``,
  the outgoing edge cost -> ``comm_time`` (0 for a node without outgoing edges);
- the package has ``maxFPGAs`` accelerators of capacity ``maxSizePerFPGA`` then ``maxCPUs`` CPUs (no capacity
  limit, ``comm_factor`` 0), one port each, no overlap; the default constraints give ``acyclic`` dataflow.

Node ids of the file are kept as node names, so :func:`write_dnnp_split` writes the same ids back.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from mcmcore.io.native import read_json_document
from mcmcore.errors import GraphCycleError, InvalidGraphError, InvalidPackageError
from mcmcore.evaluate import as_placement
from mcmcore.graph import Graph
from mcmcore.package import Package

__all__ = ["read_dnnp", "dnnp_from_dict", "write_dnnp_split", "read_dnnp_split", "FPGA", "CPU"]

#: Device kinds of an imported package.
FPGA, CPU = 0, 1
_KIND_NAMES = ("fpga", "cpu")
#: The most devices a :class:`~mcmcore.Package` may have; checked before anything of that size is allocated.
_MAX_DEVICES = 65536


def read_dnnp(path) -> tuple[Graph, Package]:
    """Read a NeurIPS 2020 device-placement problem file.

    Parameters
    ----------
    path : str or Path
        The JSON file.

    Returns
    -------
    (Graph, Package)

    Raises
    ------
    InvalidGraphError
        Naming the file (and the node or edge): missing file, truncated or malformed JSON, a missing field, a
        negative or non-finite value, unequal costs on the edges out of one node, an edge to an unknown node,
        ``maxFPGAs`` + ``maxCPUs`` over 65536 devices, ``maxSizePerFPGA`` of 0 with accelerators present.
    GraphCycleError
        If the edges form a cycle.
    """
    path = Path(path)
    return dnnp_from_dict(read_json_document(path), source=str(path), name=path.stem)


def _number(value: Any, what: str, source: str, *, integer: bool = False, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidGraphError(f"{source}: {what} must be a number, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an integer literal past the float range
        raise InvalidGraphError(f"{source}: {what} is too large ({str(value)[:20]}... has {len(str(value))} "
                                f"digits)") from None
    if math.isnan(v) or v < 0 or (math.isinf(v) and not allow_inf):
        raise InvalidGraphError(f"{source}: {what} is {value!r}; it must be finite and >= 0")
    if integer and v != int(v):
        raise InvalidGraphError(f"{source}: {what} must be an integer, got {value!r}")
    return v


def _flag(value: Any, what: str, source: str) -> bool:
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise InvalidGraphError(f"{source}: {what} must be true/false (or 0/1), got {value!r}")


def dnnp_from_dict(doc: Any, *, source: str = "dnnp", name: str | None = None) -> tuple[Graph, Package]:
    """Build (Graph, Package) from an already parsed problem document; errors name ``source``."""
    if not isinstance(doc, dict):
        raise InvalidGraphError(f"{source}: expected a JSON object at the top level, got {type(doc).__name__}")
    for req in ("maxSizePerFPGA", "maxFPGAs", "maxCPUs", "nodes", "edges"):
        if req not in doc:
            raise InvalidGraphError(f"{source}: missing top-level field {req!r}")
    max_size = _number(doc["maxSizePerFPGA"], "maxSizePerFPGA", source, allow_inf=True)
    n_fpgas = int(_number(doc["maxFPGAs"], "maxFPGAs", source, integer=True))
    n_cpus = int(_number(doc["maxCPUs"], "maxCPUs", source, integer=True))
    for field, count in (("maxFPGAs", n_fpgas), ("maxCPUs", n_cpus)):
        if count > _MAX_DEVICES:
            raise InvalidGraphError(f"{source}: {field} is {doc[field]!r}, too large; a package has at most "
                                    f"{_MAX_DEVICES} devices")
    if n_fpgas + n_cpus > _MAX_DEVICES:
        raise InvalidGraphError(f"{source}: maxFPGAs + maxCPUs is {n_fpgas + n_cpus}, too large; a package has "
                                f"at most {_MAX_DEVICES} devices")
    if n_fpgas + n_cpus < 1:
        raise InvalidGraphError(f"{source}: maxFPGAs + maxCPUs is 0; the problem has no device")
    if n_fpgas and max_size <= 0:
        raise InvalidGraphError(f"{source}: maxSizePerFPGA is {doc['maxSizePerFPGA']!r}; it must be > 0 when "
                                f"maxFPGAs is {n_fpgas}")
    nodes, edges = doc["nodes"], doc["edges"]
    if not isinstance(nodes, list) or not isinstance(edges, list):
        raise InvalidGraphError(f"{source}: 'nodes' and 'edges' must be lists")

    n = len(nodes)
    index: dict[int, int] = {}
    ids: list[int] = []
    latency = np.zeros((n, 2))
    supported = np.ones((n, 2), dtype=bool)
    size = np.zeros(n)
    color = np.full(n, -1, dtype=np.int64)
    backward = np.zeros(n, dtype=bool)
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            raise InvalidGraphError(f"{source}: node #{i} is not a JSON object ({node!r})")
        if "id" not in node:
            raise InvalidGraphError(f"{source}: node #{i} has no field 'id'")
        nid = node["id"]
        if isinstance(nid, bool) or not isinstance(nid, int):
            raise InvalidGraphError(f"{source}: node #{i} has id {nid!r}; ids must be integers")
        where = f"node {nid}"
        if nid in index:
            raise InvalidGraphError(f"{source}: duplicate node id {nid} (node #{index[nid]} and #{i})")
        index[nid] = i
        ids.append(nid)
        for req in ("supportedOnFpga", "cpuLatency", "fpgaLatency"):
            if req not in node:
                raise InvalidGraphError(f"{source}: {where} has no field {req!r}")
        supported[i, FPGA] = _flag(node["supportedOnFpga"], f"{where}: supportedOnFpga", source)
        latency[i, FPGA] = _number(node["fpgaLatency"], f"{where}: fpgaLatency", source)
        latency[i, CPU] = _number(node["cpuLatency"], f"{where}: cpuLatency", source)
        backward[i] = _flag(node.get("isBackwardNode", False), f"{where}: isBackwardNode", source)
        size[i] = _number(node.get("size", 0), f"{where}: size", source)
        c = node.get("colorClass", -1)
        if c is None:
            c = -1
        if isinstance(c, bool) or not isinstance(c, int) or c < -1 or c > np.iinfo(np.int32).max:
            raise InvalidGraphError(f"{source}: {where}: colorClass must be an integer from 0 to 2^31 - 1 (or -1), "
                                    f"got {c!r}")
        color[i] = c

    comm = np.full(n, np.nan)
    pairs = np.zeros((len(edges), 2), dtype=np.int64)
    for k, e in enumerate(edges):
        if not isinstance(e, dict):
            raise InvalidGraphError(f"{source}: edge #{k} is not a JSON object ({e!r})")
        for req in ("sourceId", "destId", "cost"):
            if req not in e:
                raise InvalidGraphError(f"{source}: edge #{k} has no field {req!r}")
        s, d = e["sourceId"], e["destId"]
        for end in (s, d):
            if isinstance(end, bool) or not isinstance(end, int) or end not in index:
                raise InvalidGraphError(f"{source}: edge #{k} ({s!r} -> {d!r}) names node {end!r}, which does "
                                        f"not exist")
        cost = _number(e["cost"], f"edge #{k} ({s} -> {d}): cost", source)
        u = index[s]
        if np.isnan(comm[u]):
            comm[u] = cost
        elif not math.isclose(comm[u], cost, rel_tol=1e-9, abs_tol=0.0):
            raise InvalidGraphError(f"{source}: node {s} has outgoing edges of different cost ({float(comm[u])!r} and "
                                    f"{cost!r}); the format ships a node's output at one cost")
        pairs[k] = (u, index[d])
    comm = np.where(np.isnan(comm), 0.0, comm)

    try:
        graph = Graph.from_edges(n, pairs, latency=latency, supported=supported, weight_bytes=size,
                                 comm_time=comm, color=color, backward=backward, names=[str(x) for x in ids],
                                 ops=["dnnp"] * n, name=name)
    except GraphCycleError as exc:
        raise GraphCycleError(f"{source}: {exc} (names are the file's node ids)", exc.cycle) from None
    except InvalidGraphError as exc:
        raise InvalidGraphError(f"{source}: {exc} (names are the file's node ids)") from None
    try:
        package = Package.port(n_fpgas + n_cpus, bandwidth=1.0, peak_flops=1.0, mem_bw=1.0,
                               kinds=[FPGA] * n_fpgas + [CPU] * n_cpus, kind_names=list(_KIND_NAMES),
                               sram_bytes=[max_size] * n_fpgas + [math.inf] * n_cpus,
                               comm_factor=[1.0] * n_fpgas + [0.0] * n_cpus, name=name)
    except InvalidPackageError as exc:
        raise InvalidGraphError(f"{source}: maxSizePerFPGA/maxFPGAs/maxCPUs give no valid package ({exc})") \
            from None
    return graph, package


def _file_id(name: str):
    try:
        return int(name)
    except ValueError:
        return name


def write_dnnp_split(path, graph: Graph, package: Package, placement) -> None:
    """Write a split as ``{"fpgas": [[ids]...], "cpus": [[ids]...]}``, one list per device of each kind (in
    device order), with the node ids of the problem file (the graph's node names).

    Raises
    ------
    InvalidPlacementError
        If the placement does not have one integer device id per node, or names a device the package lacks
        (checked before anything is written).
    InvalidPackageError
        If the package has a device kind other than fpga/cpu.
    """
    p = as_placement(placement, graph, package)
    if (package.kinds > CPU).any():
        raise InvalidPackageError(f"the dnnp format knows only two device kinds (fpga, cpu); the package has "
                                  f"kinds {sorted(set(package.kinds.tolist()))}")
    names = graph.names
    out: dict[str, list[list[Any]]] = {"fpgas": [], "cpus": []}
    for k in range(package.n_devices):
        members = [_file_id(names[i]) for i in np.flatnonzero(p == k)]
        out["fpgas" if package.kinds[k] == FPGA else "cpus"].append(members)
    Path(path).write_text(json.dumps(out, indent=1))


def read_dnnp_split(path, graph: Graph, package: Package) -> np.ndarray:
    """Read a split written by :func:`write_dnnp_split` (or the published tools) back into a placement.

    Raises
    ------
    InvalidGraphError
        Naming the file: unreadable JSON, more groups than devices of that kind, an unknown node, a node on no
        device or on two devices (naming both).
    """
    path = Path(path)
    doc = read_json_document(path)
    if not isinstance(doc, dict):
        raise InvalidGraphError(f"{path}: expected a JSON object with 'fpgas' and 'cpus'")
    lookup = {name: i for i, name in enumerate(graph.names)}
    devices = {FPGA: [int(k) for k in range(package.n_devices) if package.kinds[k] == FPGA],
               CPU: [int(k) for k in range(package.n_devices) if package.kinds[k] == CPU]}
    placement = np.full(graph.n_nodes, -1, dtype=np.int32)
    listed_in: dict[int, str] = {}
    for key, kind in (("fpgas", FPGA), ("cpus", CPU)):
        groups = doc.get(key, [])
        if not isinstance(groups, list) or not all(isinstance(group, list) for group in groups):
            raise InvalidGraphError(f"{path}: {key!r} must be a list of lists of node ids")
        if len(groups) > len(devices[kind]):
            raise InvalidGraphError(f"{path}: {len(groups)} {key} in the split, the package has "
                                    f"{len(devices[kind])}")
        for j, group in enumerate(groups):
            where = f"{key}[{j}] (device {devices[kind][j]})"
            for nid in group:
                i = lookup.get(str(nid))
                if i is None:
                    raise InvalidGraphError(f"{path}: the split names node {nid!r}, which the graph lacks")
                if i in listed_in:
                    raise InvalidGraphError(f"{path}: node {graph.names[i]} is listed twice, in {listed_in[i]} "
                                            f"and in {where}; a node runs on one device")
                listed_in[i] = where
                placement[i] = devices[kind][j]
    missing = np.flatnonzero(placement < 0)
    if missing.size:
        raise InvalidGraphError(f"{path}: node {graph.names[int(missing[0])]} is on no device in the split")
    return placement

"""Calibrate the cost model to this machine: measured op times and worker-to-worker transfer cost.

:func:`profile` imports a model with :func:`mcmcore.io.from_torch`, runs the exported program node by node (each
node ``repeats`` times, median), and charges every folded node (view, getitem, ...) to the compute node it follows,
as the executor runs it (:mod:`mcmcore.exec.stages`). :func:`measure_transfer` times a shared-memory round trip
with a spawned worker for a range of sizes and fits ``latency + bytes / bandwidth``.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from mcmcore.graph import Graph

__all__ = ["profile", "measure_transfer", "TransferFit", "op_times"]


@dataclass(frozen=True)
class TransferFit:
    """Cost of shipping ``b`` bytes between two workers, charged to each end: ``latency + b / bandwidth``.

    A one-way trip is a copy into shared memory, a message and a copy out; the cost model charges a transfer to
    both the sender and the receiver, so each end is charged half a one-way trip (a quarter of the round trip).
    """

    latency: float
    bandwidth: float
    sizes: tuple[int, ...]
    seconds: tuple[float, ...]  # measured cost per end at each size

    def __call__(self, nbytes):
        return self.latency + np.asarray(nbytes, dtype=np.float64) / self.bandwidth


def _echo_main(shm_name: str, requests, replies, cores) -> None:
    """Worker of :func:`measure_transfer`: copy the bytes out, copy them back in, reply."""
    from multiprocessing import shared_memory

    import torch

    if cores:
        os.sched_setaffinity(0, cores)
    torch.set_num_threads(1)
    shm = shared_memory.SharedMemory(name=shm_name)
    buf = torch.frombuffer(shm.buf, dtype=torch.uint8)
    try:
        while True:
            n = requests.get()
            if n is None:
                break
            data = buf[:n].clone()
            buf[:n].copy_(data)
            replies.put(n)
    finally:
        del buf
        shm.close()


def measure_transfer(*, sizes=None, rounds: int = 20, start_method: str = "forkserver") -> TransferFit:
    """Fit the transfer cost between two worker processes through shared memory.

    Parameters
    ----------
    sizes : sequence of int, optional
        Bytes per message (default 1 KiB .. 4 MiB, 7 sizes).
    rounds : int
        Round trips per size; the median is used.
    start_method : {"forkserver", "spawn"}
        As in :func:`mcmcore.exec.run_pipeline`.
    """
    from multiprocessing import shared_memory

    import torch

    sizes = tuple(int(s) for s in (sizes if sizes is not None else np.geomspace(1024, 4 << 20, 7)))
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive byte counts, got {sizes!r}")
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    from mcmcore.exec.pipeline import worker_context

    ctx = worker_context(start_method)
    shm = shared_memory.SharedMemory(create=True, size=max(sizes))
    requests, replies = ctx.Queue(), ctx.Queue()
    try:
        avail = sorted(os.sched_getaffinity(0))
    except AttributeError:
        avail = []
    cores = (avail[-1],) if len(avail) >= 2 else None
    proc = ctx.Process(target=_echo_main, args=(shm.name, requests, replies, cores), daemon=True)
    proc.start()
    buf = torch.frombuffer(shm.buf, dtype=torch.uint8)
    src = torch.randint(0, 255, (max(sizes),), dtype=torch.uint8)
    per_end = []
    try:
        requests.put(1)  # the first message waits for the worker to start
        replies.get(timeout=120)
        for n in sizes:
            times = []
            for _ in range(rounds + 2):
                t0 = time.perf_counter()
                buf[:n].copy_(src[:n])
                requests.put(n)
                replies.get(timeout=60)
                buf[:n].clone()
                times.append(time.perf_counter() - t0)
            per_end.append(float(np.median(times[2:])) / 4.0)
        requests.put(None)
        proc.join(timeout=10)
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join()
        del buf
        shm.close()
        shm.unlink()
        for q in (requests, replies):
            q.cancel_join_thread()
            q.close()
    x = np.asarray(sizes, dtype=np.float64)
    y = np.asarray(per_end)
    slope, intercept = np.polyfit(x, y, 1) if len(x) > 1 else (0.0, y[0])
    slope = max(float(slope), 1e-13)  # at most 10 TB/s: a non-increasing fit means noise, not free bytes
    intercept = max(float(intercept), 0.0)
    return TransferFit(intercept, 1.0 / slope, sizes, tuple(per_end))


def op_times(ep, graph: Graph, example_inputs, *, repeats: int = 20) -> np.ndarray:
    """Median seconds of every graph node of ``graph`` (imported from ``ep``), folded nodes included."""
    import torch
    from torch.utils._pytree import tree_leaves

    index = {name: i for i, name in enumerate(graph.names)}
    sig = ep.graph_signature
    inputs = [x for x in tree_leaves(example_inputs if isinstance(example_inputs, tuple) else (example_inputs,))
              if isinstance(x, torch.Tensor)]
    env: dict = {}
    user = iter(inputs)
    place = {}
    for spec in sig.input_specs:
        if spec.target is None:
            continue
        place[spec.arg.name] = ep.state_dict[spec.target] if spec.target in ep.state_dict else ep.constants[
            spec.target]
    times = np.zeros(graph.n_nodes)
    owner: dict = {}  # fx name -> graph index the node's time is charged to (None: floating)
    with torch.inference_mode():
        for node in ep.graph.nodes:
            if node.op == "placeholder":
                env[node.name] = place[node.name] if node.name in place else next(user)
                continue
            if node.op != "call_function":
                continue
            args = torch.fx.node.map_arg(node.args, lambda a: env[a.name])
            kwargs = torch.fx.node.map_arg(node.kwargs, lambda a: env[a.name])
            env[node.name] = node.target(*args, **kwargs)
            if node.name in index:
                owner[node.name] = index[node.name]
            else:
                ins = [owner[a.name] for a in node.all_input_nodes if owner.get(a.name) is not None]
                owner[node.name] = max(ins) if ins else None
            if owner[node.name] is None:
                continue
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                node.target(*args, **kwargs)
                samples.append(time.perf_counter() - t0)
            times[owner[node.name]] += float(np.median(samples))
    return times


def profile(model, example_inputs, *, repeats: int = 20, n_threads: int = 1, transfer: TransferFit | None = None,
            transfer_rounds: int = 20, name: str | None = None) -> Graph:
    """Import ``model`` and calibrate its graph to this machine.

    Parameters
    ----------
    model : torch.nn.Module or torch.export.ExportedProgram
    example_inputs : tuple of tensors
    repeats : int
        Timed runs per op; the median counts.
    n_threads : int
        Torch threads while timing (match the executor's threads per worker).
    transfer : TransferFit, optional
        A transfer fit to reuse (default: measured here with :func:`measure_transfer`).
    transfer_rounds : int
    name : str, optional
        Graph name.

    Returns
    -------
    Graph
        The imported graph with ``latency`` (one device kind: this machine's cores, seconds per sample) and
        ``comm_time`` (``transfer(out_bytes)``) set.
    """
    import torch

    from mcmcore.exec.pipeline import export_program
    from mcmcore.io.torch_export import from_exported_program

    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    ep = export_program(model, example_inputs)
    graph = from_exported_program(ep, name=name or type(model).__name__, warn_unknown=False)
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n_threads)))
    try:
        lat = op_times(ep, graph, example_inputs, repeats=repeats)
    finally:
        torch.set_num_threads(old)
    fit = transfer if transfer is not None else measure_transfer(rounds=transfer_rounds)
    comm = fit(graph.out_bytes)
    return Graph.from_edges(graph.n_nodes, graph.edges, flops=graph.flops, mem_bytes=graph.mem_bytes,
                            weight_bytes=graph.weight_bytes, out_bytes=graph.out_bytes, latency=lat[:, None],
                            comm_time=comm, names=graph.names, ops=graph.ops, name=graph.name)

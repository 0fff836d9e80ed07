"""Run a placed model as a pipeline of worker processes and measure it (DESIGN.md, real execution).

One worker process per used device (spawned, pinned to its own cores when the machine has enough), each running
its stage of the exported program as a ``torch.fx.GraphModule``. Activations travel through shared-memory slots
(:mod:`mcmcore.exec._shm`); the driver (this process) feeds the inputs and collects the outputs.

Two phases: a streaming phase (``warmup + n_samples`` samples in flight as fast as the pipeline takes them) gives
the interval and throughput; a latency phase (one sample at a time) gives the latency without queueing.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcmcore.errors import InvalidPlacementError, MCMError
from mcmcore.exec import _shm
from mcmcore.exec.stages import Ref, StagePlan, StageSpec, resolve_target, split_program
from mcmcore.graph import Graph

__all__ = ["run_pipeline", "run_inline", "PipelineMeasurement", "StageTiming", "PipelineError", "export_program"]


class PipelineError(MCMError):
    """A worker of the pipeline failed; ``stage`` and ``device`` say which (None when the driver failed)."""

    def __init__(self, message: str, *, stage: int | None = None, device: int | None = None):
        super().__init__(message)
        self.stage = stage
        self.device = device


@dataclass(frozen=True)
class StageTiming:
    """Median seconds per sample spent by one stage's worker (streaming phase).

    ``receive``: copying inputs out of shared memory; ``compute``: running the stage; ``send``: copying outputs into
    shared memory and posting them; ``wait``: blocked on a full channel (the next stage is slower); ``busy``: the
    sum of receive, compute and send; ``cpu_busy``: the CPU time of the worker during receive, compute and send
    (what ``busy`` would be if no other process shared its cores).
    """

    stage: int
    device: int
    cores: tuple[int, ...] | None
    n_threads: int
    n_nodes: int
    receive: float
    compute: float
    send: float
    wait: float
    busy: float
    cpu_busy: float


@dataclass(frozen=True)
class PipelineMeasurement:
    """What :func:`run_pipeline` measured.

    Attributes
    ----------
    throughput : float
        Samples per second in the streaming phase.
    interval, interval_std : float
        Mean seconds between successive outputs (``1 / throughput``) and the spread of those gaps.
    interval_median : float
        Median gap between successive outputs: the interval with the pauses of a shared machine (another process
        scheduled on a worker's core) left out.
    cpu_interval : float
        The largest ``cpu_busy`` of the stages: the interval the slowest stage allows by its own CPU time.
    latency_mean, latency_median, latency_p90, latency_std : float
        Seconds from feeding one sample to receiving all its outputs, one sample in flight at a time.
    stages : tuple of StageTiming
        In pipeline order.
    outputs : Any
        The outputs of the last sample, structured as the model returns them.
    """

    throughput: float
    interval: float
    interval_std: float
    interval_median: float
    cpu_interval: float
    latency_mean: float
    latency_median: float
    latency_p90: float
    latency_std: float
    stages: tuple[StageTiming, ...]
    n_samples: int
    warmup: int
    outputs: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (no outputs)."""
        keys = ("throughput", "interval", "interval_std", "interval_median", "cpu_interval", "latency_mean",
                "latency_median", "latency_p90", "latency_std", "n_samples", "warmup")
        out: dict[str, Any] = {k: getattr(self, k) for k in keys}
        out["stages"] = [dict(s.__dict__, cores=list(s.cores) if s.cores else None) for s in self.stages]
        return out

    def __str__(self) -> str:
        return (f"throughput {self.throughput:.6g} samples/s (interval {self.interval * 1e3:.4g} ms "
                f"+- {self.interval_std * 1e3:.2g} ms), latency median {self.latency_median * 1e3:.4g} ms "
                f"(mean {self.latency_mean * 1e3:.4g}, p90 {self.latency_p90 * 1e3:.4g}), {len(self.stages)} stages")


# ------------------------------------------------------------------------------------------------- helpers
def export_program(model, example_inputs):
    """``torch.export`` of ``model`` in inference mode (an ``ExportedProgram`` is returned as is)."""
    import torch

    if isinstance(model, torch.export.ExportedProgram):
        return model
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    try:
        with torch.no_grad():
            return torch.export.export(model, example_inputs, strict=False)
    except Exception as exc:  # torch raises many types; say that export itself failed
        raise MCMError(f"torch.export could not trace {type(model).__name__}: {type(exc).__name__}: {exc}") from exc


def _flat_inputs(plan: StagePlan, example_inputs) -> dict:
    import torch
    from torch.utils._pytree import tree_leaves

    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    leaves = [x for x in tree_leaves(example_inputs) if isinstance(x, torch.Tensor)]
    if len(leaves) != len(plan.user_inputs):
        raise MCMError(f"the model takes {len(plan.user_inputs)} tensor inputs, example_inputs has {len(leaves)}")
    return dict(zip(plan.user_inputs, (x.detach().contiguous() for x in leaves)))


def _core_sets(n_slots: int, devices: tuple[int, ...], n_threads: int | None):
    """Cores and threads of each used device: device d gets the d-th of ``n_slots`` equal core chunks, when there
    are more cores than slots (one is left to the driver); otherwise the workers are not pinned."""
    try:
        avail = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no pinning
        avail = []
    if avail and len(avail) > n_slots:
        chunk = (len(avail) - 1) // n_slots
        cores = [tuple(avail[d * chunk:(d + 1) * chunk]) for d in devices]
        return cores, [n_threads or chunk for _ in devices]
    return [None for _ in devices], [n_threads or 1 for _ in devices]


def _build_module(stage: StageSpec):
    import torch
    from torch.fx.node import map_aggregate

    g = torch.fx.Graph()
    env = {}
    for name in stage.inputs + stage.weights:
        env[name] = g.placeholder(name)

    def sub(a):
        return env[a.name] if isinstance(a, Ref) else a

    for ns in stage.nodes:
        env[ns.name] = g.create_node("call_function", resolve_target(ns.target), map_aggregate(ns.args, sub),
                                     map_aggregate(ns.kwargs, sub), name=ns.name)
    g.output(tuple(env[n] for n in stage.outputs))
    return torch.fx.GraphModule(torch.nn.Module(), g)


def run_inline(plan: StagePlan, example_inputs) -> list:
    """Run the stages of ``plan`` one after the other in this process, through the same modules and the same
    values a pipeline would ship; returns the flat user outputs (checks a split without starting workers)."""
    import torch

    values = dict(_flat_inputs(plan, example_inputs))
    with torch.inference_mode():
        for st in plan.stages:
            gm = _build_module(st)
            out = gm(*[values[n] for n in st.inputs], *[plan.weights[w] for w in st.weights])
            values.update(zip(st.outputs, out))
    return [values[n] for n in plan.user_outputs]


# -------------------------------------------------------------------------------------------------- worker
#: Byte alignment of each weight in a stage's packed buffer (a dtype view needs its element size; 64 = a cache line).
_WEIGHT_ALIGN = 64


def pack_weights(tensors: list) -> tuple:
    """A stage's weights as one byte buffer and ``(offset, dtype, shape)`` per tensor, for :func:`unpack_weights`.

    Each tensor sent to a worker on its own travels as a file descriptor of shared memory, and ``forkserver``
    passes at most 256 per process: a stage holding ResNet-50's 267 weights failed with "too many fds". One
    buffer is one descriptor, whatever the stage holds.
    """
    import torch

    metas, offset = [], 0
    for t in tensors:
        metas.append((offset, t.dtype, tuple(t.shape)))
        offset += -(-t.numel() * t.element_size() // _WEIGHT_ALIGN) * _WEIGHT_ALIGN
    flat = torch.empty(max(offset, 1), dtype=torch.uint8)
    for (start, _, _), t in zip(metas, tensors):
        data = t.detach().contiguous().reshape(-1).view(torch.uint8)
        flat[start:start + data.numel()] = data
    return flat, metas


def unpack_weights(flat, metas: list) -> list:
    """The tensors packed by :func:`pack_weights`: views of ``flat`` (no copy)."""
    import torch

    out = []
    for start, dtype, shape in metas:
        size = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
        out.append(flat[start:start + size].view(dtype).view(shape))
    return out


def _worker_main(stage: StageSpec, weights: list, in_specs: list, out_specs: list, sems: dict, inbox, outboxes,
                 errors, results, abort, cores, n_threads: int, fault) -> None:
    """Entry point of a stage's worker process (module level so that spawn can import it)."""
    endpoints = []
    try:
        import torch

        if cores:
            os.sched_setaffinity(0, cores)
        torch.set_num_threads(max(1, n_threads))
        weights = unpack_weights(*weights)
        gm = _build_module(stage)
        ins = [_shm.Endpoint(s) for s in in_specs]
        outs = [_shm.Endpoint(s) for s in out_specs]
        endpoints = ins + outs
        expected = {s.src for s in in_specs}
        results.put(("ready", stage.index))
        pending: dict[int, set] = {}
        next_sample = None
        timings = []
        with torch.inference_mode():
            while True:
                msg = _shm.get(inbox, abort)
                if msg is None or msg[0] == "stop":
                    break
                _, sample, src = msg
                pending.setdefault(sample, set()).add(src)
                if next_sample is None:
                    next_sample = sample
                while next_sample in pending and pending[next_sample] == expected:
                    s = next_sample
                    del pending[s]
                    next_sample = s + 1
                    t0 = _shm.now()
                    c0 = time.thread_time()
                    env: dict = {}
                    for ep in ins:
                        ep.read(s, env)
                        sems[(ep.spec.src, ep.spec.dst)].release()
                    t1 = _shm.now()
                    if fault is not None and fault[0] == stage.index and s >= 1:
                        if fault[1] == "exit":
                            os._exit(3)
                        raise RuntimeError(f"injected fault in stage {stage.index}")
                    produced = gm(*[env[n] for n in stage.inputs], *weights)
                    t2 = _shm.now()
                    values = dict(zip(stage.outputs, produced))
                    wait = 0.0
                    for ep in outs:
                        w0 = _shm.now()
                        if not _shm.acquire(sems[(ep.spec.src, ep.spec.dst)], abort):
                            return
                        wait += _shm.now() - w0
                        ep.write(s, values)
                        outboxes[ep.spec.dst].put(("data", s, stage.index))
                    t3 = _shm.now()
                    timings.append((s, t1 - t0, t2 - t1, t3 - t2 - wait, wait, time.thread_time() - c0))
        results.put(("stats", stage.index, timings))
    except BaseException as exc:  # noqa: BLE001 - everything must reach the driver, then the process ends
        errors.put((stage.index, stage.device, type(exc).__name__, str(exc), traceback.format_exc()))
        abort.set()
        raise SystemExit(1)
    finally:
        for ep in endpoints:
            ep.close()


# -------------------------------------------------------------------------------------------------- driver
class _Driver:
    def __init__(self, plan: StagePlan, ctx, n_slots: int):
        self.plan = plan
        self.ctx = ctx
        self.n_stages = len(plan.stages)
        self.sink = self.n_stages
        transfers = dict(plan.transfers)
        # Every stage hears from someone and talks to someone, so each sample passes every stage in order.
        for s in range(self.n_stages):
            if not any(dst == s for (_src, dst) in transfers):
                transfers[(-1, s)] = ()
            if not any(src == s for (src, _dst) in transfers):
                transfers[(s, self.sink)] = ()
        self.blocks = []
        self.channels: dict[tuple[int, int], _shm.ChannelSpec] = {}
        for (src, dst), values in sorted(transfers.items()):
            offsets, slot_bytes = _shm.layout(values)
            name = None
            if slot_bytes:
                block = _shm.create_block(slot_bytes * n_slots)
                self.blocks.append(block)
                name = block.name
            self.channels[(src, dst)] = _shm.ChannelSpec(src, dst, values, offsets, slot_bytes, n_slots, name)
        self.sems = {k: ctx.Semaphore(n_slots) for k in self.channels}
        self.inboxes = {s: ctx.Queue() for s in range(self.n_stages + 1)}
        self.errors = ctx.Queue()
        self.results = ctx.Queue()
        self.abort = ctx.Event()
        self.procs: list = []

    def start(self, cores, threads, fault) -> None:
        for st, c, t in zip(self.plan.stages, cores, threads):
            ins = [ch for (src, dst), ch in self.channels.items() if dst == st.index]
            outs = [ch for (src, dst), ch in self.channels.items() if src == st.index]
            weights = pack_weights([self.plan.weights[w] for w in st.weights])
            p = self.ctx.Process(target=_worker_main, name=f"mcm-stage{st.index}",
                                 args=(st, weights, ins, outs, self.sems, self.inboxes[st.index], self.inboxes,
                                       self.errors, self.results, self.abort, c, t, fault), daemon=True)
            p.start()
            self.procs.append(p)

    def _raise_reported(self, timeout: float) -> None:
        import queue

        try:
            stage, device, etype, msg, tb = (self.errors.get(timeout=timeout) if timeout
                                             else self.errors.get_nowait())
        except queue.Empty:
            return
        raise PipelineError(f"stage {stage} (device {device}) failed: {etype}: {msg}\n--- worker traceback ---\n"
                            f"{tb}", stage=stage, device=device)

    def check(self) -> None:
        """Raise PipelineError when a worker reported an error, died, or the pipeline was aborted."""
        self._raise_reported(0)
        dead = [(st, p) for st, p in zip(self.plan.stages, self.procs) if p.exitcode not in (None, 0)]
        if dead or self.abort.is_set():
            self._raise_reported(1.0)  # a worker may have reported its error just before dying
        if dead:
            st, p = dead[0]
            raise PipelineError(f"stage {st.index} (device {st.device}) worker died with exit code {p.exitcode} "
                                f"without a Python error (killed, or os._exit)", stage=st.index, device=st.device)
        if self.abort.is_set():
            raise PipelineError("the pipeline was aborted")

    def get(self, q):
        """The next item of ``q``, checking the workers while waiting."""
        import queue

        while True:
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                self.check()

    def shutdown(self) -> None:
        self.abort.set()
        for p in self.procs:
            p.join(timeout=2.0)
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=2.0)
            if p.is_alive():
                p.kill()
                p.join()
        for q in list(self.inboxes.values()) + [self.errors, self.results]:
            q.cancel_join_thread()
            q.close()
        for b in self.blocks:
            try:
                b.close()
            except BufferError:
                pass
            b.unlink()
        self.blocks = []


def worker_context(start_method: str = "forkserver"):
    """The multiprocessing context workers start from; ``forkserver`` preloads torch and this module."""
    if start_method not in ("forkserver", "spawn"):
        raise ValueError(f"start_method must be 'forkserver' or 'spawn', got {start_method!r}")
    if start_method == "forkserver" and "forkserver" not in mp.get_all_start_methods():
        start_method = "spawn"
    ctx = mp.get_context(start_method)
    if start_method == "forkserver":
        ctx.set_forkserver_preload(["torch", "mcmcore.exec.pipeline"])
    return ctx


#: most worker processes a pipeline starts (pipes and file descriptors grow with them)
MAX_WORKERS = 256


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def run_pipeline(model, example_inputs, graph: Graph | None, placement, *, n_samples: int = 50,
                 warmup: int = 5, workers: int | None = None, package=None, n_threads: int | None = None,
                 latency_samples: int | None = None, n_slots: int = 2, start_method: str = "forkserver",
                 _fault=None) -> PipelineMeasurement:
    """Run ``model`` as a pipeline over the devices of ``placement`` and measure it.

    Parameters
    ----------
    model : torch.nn.Module or torch.export.ExportedProgram
        Exported with ``torch.export`` (inference mode) unless already exported.
    example_inputs : tuple of tensors
        The input of every sample.
    graph : Graph or None
        The graph ``placement`` refers to, imported from this model with :func:`mcmcore.io.from_torch` (node names
        are the exported node names). None: import it here.
    placement : array-like of int, shape (graph.n_nodes,)
        Device of each graph node; it must be valid under ``Constraints(dataflow="ordered")``.
    n_samples : int
        Samples measured in the streaming phase (after ``warmup`` unmeasured ones); at least 2.
    warmup : int
    workers : int, optional
        Device slots the machine's cores are divided among (device ``d`` is pinned to the ``d``-th chunk when there
        are more cores than ``workers``). Default: ``package.n_devices``, else the largest device id + 1. Only used
        devices get a process.
    package : Package, optional
        Its pipeline ``order`` orders the stages (default: by device id).
    n_threads : int, optional
        Torch threads per worker (default: the cores of its chunk, 1 without pinning).
    latency_samples : int, optional
        Samples of the latency phase, one at a time (default ``min(n_samples, 20)``).
    n_slots : int
        Shared-memory slots per channel: how many samples may wait between two stages.
    start_method : {"forkserver", "spawn"}
        How workers start. Both give fresh processes that inherit no threads or locks from this one;
        ``forkserver`` (Linux) forks them from a server that has imported torch once, so a run starts in
        milliseconds instead of seconds per worker.

    Returns
    -------
    PipelineMeasurement

    Raises
    ------
    DataflowOrderError
        The placement makes a stage read a later stage's output (before any worker starts).
    PipelineError
        A worker failed: the message names its stage, device and error; every worker is gone when it is raised.
    """
    n_samples = _check_count("n_samples", n_samples, 2)
    warmup = _check_count("warmup", warmup, 0)
    n_slots = _check_count("n_slots", n_slots, 1)
    latency_samples = min(n_samples, 20) if latency_samples is None else _check_count("latency_samples",
                                                                                     latency_samples, 1)
    ep = export_program(model, example_inputs)
    if graph is None:
        from mcmcore.io.torch_export import from_exported_program

        graph = from_exported_program(ep, warn_unknown=False)
    pl = np.asarray(placement)
    order = None if package is None else package.order
    plan = split_program(ep, graph, pl, order=order)
    if workers is None:
        workers = package.n_devices if package is not None else int(pl.max()) + 1
    workers = _check_count("workers", workers, 1)
    if workers > MAX_WORKERS:
        raise ValueError(f"workers={workers} is more than {MAX_WORKERS} worker processes (each holds its stage of "
                         f"the model and a queue per neighbour)")
    if max(plan.devices) >= workers:
        raise InvalidPlacementError(f"placement uses device {max(plan.devices)}, but there are {workers} workers")
    if n_threads is not None:
        n_threads = _check_count("n_threads", n_threads, 1)
    inputs = _flat_inputs(plan, example_inputs)
    cores, threads = _core_sets(workers, plan.devices, n_threads)

    ctx = worker_context(start_method)
    driver = _Driver(plan, ctx, n_slots)
    sources = [ch for (src, _dst), ch in driver.channels.items() if src == -1]
    sinks = [ch for (_src, dst), ch in driver.channels.items() if dst == driver.sink]
    src_eps = sinks_eps = []
    t_in: dict[int, float] = {}
    t_out: dict[int, float] = {}
    last_outputs: dict = {}
    try:
        driver.start(cores, threads, _fault)
        src_eps = [_shm.Endpoint(ch) for ch in sources]
        sinks_eps = [_shm.Endpoint(ch) for ch in sinks]
        ready = 0
        while ready < driver.n_stages:
            if driver.get(driver.results)[0] == "ready":
                ready += 1
        feed_error: list = []

        def feed(sample: int) -> bool:
            t_in[sample] = _shm.now()
            for ep_ in src_eps:
                if not _shm.acquire(driver.sems[(-1, ep_.spec.dst)], driver.abort):
                    return False
                ep_.write(sample, inputs)
                driver.inboxes[ep_.spec.dst].put(("data", sample, -1))
            return True

        def feeder(count: int) -> None:
            try:
                for i in range(count):
                    if not feed(i):
                        return
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                feed_error.append(exc)
                driver.abort.set()

        expected = {ch.src for ch in sinks}
        pending: dict[int, set] = {}

        def collect(upto: int) -> None:
            """Receive outputs until sample ``upto - 1`` is complete."""
            done = max(t_out) + 1 if t_out else 0
            while done < upto:
                _, sample, src = driver.get(driver.inboxes[driver.sink])
                pending.setdefault(sample, set()).add(src)
                while done in pending and pending[done] == expected:
                    del pending[done]
                    t_out[done] = _shm.now()
                    last_outputs.clear()
                    for ep_ in sinks_eps:
                        ep_.read(done, last_outputs)
                        driver.sems[(ep_.spec.src, driver.sink)].release()
                    done += 1

        stream = warmup + n_samples
        thread = threading.Thread(target=feeder, args=(stream,), daemon=True)
        thread.start()
        try:
            collect(stream)
        finally:
            thread.join(timeout=5.0)
        if feed_error:
            raise PipelineError(f"the driver failed to feed the pipeline: {feed_error[0]!r}")
        lat = []
        for i in range(stream, stream + latency_samples):
            feed(i)
            collect(i + 1)
            lat.append(t_out[i] - t_in[i])
        for s in range(driver.n_stages):
            driver.inboxes[s].put(("stop",))
        stats: dict[int, list] = {}
        while len(stats) < driver.n_stages:
            item = driver.get(driver.results)
            if item[0] == "stats":
                stats[item[1]] = item[2]
        for p in driver.procs:
            p.join(timeout=5.0)
        driver.check()
    finally:
        for ep_ in list(src_eps) + list(sinks_eps):
            ep_.close()
        driver.shutdown()

    outs = np.array([t_out[i] for i in range(warmup, stream)])
    gaps = np.diff(outs)
    interval = float((outs[-1] - outs[0]) / (len(outs) - 1))
    lat_a = np.array(lat)
    stage_timings = []
    for st, c, t in zip(plan.stages, cores, threads):
        rows = np.array([r[1:] for r in stats.get(st.index, []) if warmup <= r[0] < stream]).reshape(-1, 5)
        med = np.median(rows, axis=0) if len(rows) else np.zeros(5)
        busy = float(np.median(rows[:, :3].sum(axis=1))) if len(rows) else 0.0
        stage_timings.append(StageTiming(st.index, st.device, c, t, len(st.graph_nodes), float(med[0]),
                                         float(med[1]), float(med[2]), float(med[3]), busy, float(med[4])))
    flat = [last_outputs[name] for name in plan.user_outputs]
    outputs = flat
    if plan.out_spec is not None:
        from torch.utils._pytree import tree_unflatten

        try:
            outputs = tree_unflatten(flat, plan.out_spec)
        except Exception:  # an output structure the plain list describes just as well
            outputs = flat
    return PipelineMeasurement(
        throughput=1.0 / interval if interval > 0 else float("inf"), interval=interval,
        interval_std=float(gaps.std()) if len(gaps) > 1 else 0.0, interval_median=float(np.median(gaps)),
        cpu_interval=max(s.cpu_busy for s in stage_timings),
        latency_mean=float(lat_a.mean()),
        latency_median=float(np.median(lat_a)), latency_p90=float(np.percentile(lat_a, 90)),
        latency_std=float(lat_a.std()), stages=tuple(stage_timings), n_samples=n_samples, warmup=warmup,
        outputs=outputs)

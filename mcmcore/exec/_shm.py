"""Shared-memory channels between pipeline stages: preallocated slots, small descriptors through queues.

A channel carries the values one stage sends another for each sample. Its shared-memory block holds ``n_slots``
slots of the same layout; sample ``i`` uses slot ``i % n_slots``. A semaphore counts the free slots: the sender
acquires one, copies its tensors into the slot and puts ``("data", sample, src)`` on the receiver's inbox; the
receiver copies the tensors out and releases the slot. Both ends go through the samples in order, so the slot of a
sample never needs to be sent.
"""
from __future__ import annotations

import math
import queue
import time
from dataclasses import dataclass
from multiprocessing import shared_memory

from mcmcore.exec.stages import ValueSpec

__all__ = ["ChannelSpec", "Endpoint", "layout", "acquire", "get", "create_block", "now"]

_ALIGN = 64


@dataclass(frozen=True)
class ChannelSpec:
    src: int
    dst: int
    values: tuple[ValueSpec, ...]
    offsets: tuple[tuple[int, ...], ...]
    slot_bytes: int
    n_slots: int
    shm_name: str | None  # None for a channel that carries no bytes (a tick that orders the samples)


def _itemsize(dtype) -> int:
    import torch

    return torch.empty((), dtype=dtype).element_size()


def layout(values: tuple[ValueSpec, ...]) -> tuple[tuple[tuple[int, ...], ...], int]:
    """Byte offsets of every tensor of ``values`` inside one slot, and the slot size (aligned)."""
    offsets = []
    pos = 0
    for v in values:
        offs = []
        for t in v.tensors:
            offs.append(pos)
            pos += -(-math.prod(t.shape) * _itemsize(t.dtype) // _ALIGN) * _ALIGN
        offsets.append(tuple(offs))
    return tuple(offsets), max(pos, 0)


def acquire(sem, abort, poll: float = 0.1) -> bool:
    """Acquire ``sem``, giving up (False) when ``abort`` is set."""
    while not sem.acquire(timeout=poll):
        if abort.is_set():
            return False
    return True


def get(inbox, abort, poll: float = 0.1):
    """The next message of ``inbox``, or None when ``abort`` is set."""
    while True:
        try:
            return inbox.get(timeout=poll)
        except queue.Empty:
            if abort.is_set():
                return None


class Endpoint:
    """One process's view of a channel: tensors over the shared-memory slots."""

    def __init__(self, spec: ChannelSpec):
        import torch

        self.spec = spec
        self.shm = shared_memory.SharedMemory(name=spec.shm_name) if spec.shm_name else None
        self.slots: list[list[list]] = []
        for r in range(spec.n_slots):
            per_value = []
            for v, offs in zip(spec.values, spec.offsets):
                ts = []
                for t, off in zip(v.tensors, offs):
                    count = math.prod(t.shape)
                    if count == 0:
                        ts.append(torch.empty(t.shape, dtype=t.dtype))
                    else:
                        ts.append(torch.frombuffer(self.shm.buf, dtype=t.dtype, count=count,
                                                   offset=r * spec.slot_bytes + off).view(t.shape))
                per_value.append(ts)
            self.slots.append(per_value)

    def write(self, sample: int, values: dict) -> None:
        slot = self.slots[sample % self.spec.n_slots]
        for v, dst in zip(self.spec.values, slot):
            val = values[v.name]
            srcs = (val,) if v.kind == "tensor" else val
            for d, s in zip(dst, srcs):
                d.copy_(s)

    def read(self, sample: int, into: dict) -> None:
        slot = self.slots[sample % self.spec.n_slots]
        for v, src in zip(self.spec.values, slot):
            ts = [s.clone() for s in src]
            into[v.name] = ts[0] if v.kind == "tensor" else (ts if v.kind == "list" else tuple(ts))

    def close(self) -> None:
        self.slots = []
        if self.shm is not None:
            import gc

            gc.collect()
            try:
                self.shm.close()
            except BufferError:  # a tensor view still alive somewhere; the mapping goes with the process
                pass


def create_block(nbytes: int) -> shared_memory.SharedMemory:
    return shared_memory.SharedMemory(create=True, size=max(1, nbytes))


def now() -> float:
    return time.perf_counter()

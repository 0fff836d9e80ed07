"""Constraint switches (DESIGN.md, constraints)."""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["Constraints", "VIOLATION_NAMES"]

#: Names of the violation counters, in the C core's order (csrc/mcm.h, MCM_V_*).
VIOLATION_NAMES = ("capacity", "dataflow", "skip", "colors", "pins", "support", "all_used")

_DATAFLOW = ("auto", "ordered", "acyclic", None)
#: Largest max_skip the C core's int32 holds (any value >= n_devices - 1 already allows every step).
_MAX_SKIP = 2**31 - 1


@dataclass(frozen=True)
class Constraints:
    """Which constraints a placement must satisfy.

    Parameters
    ----------
    capacity : bool
        Memory of each device (its nodes' weight bytes) <= its ``sram_bytes``.
    dataflow : {"auto", "ordered", "acyclic", None}
        On every edge between forward nodes: ``ordered`` keeps data flowing forward along the package's
        pipeline order; ``acyclic`` requires the device-level graph to be a DAG under some order. ``auto``
        (default) picks ``acyclic`` for port packages and ``ordered`` for link topologies. None switches it off.
    max_skip : int or None
        With ``ordered``: an edge may advance at most this many pipeline positions (1 = next chiplet only);
        1 to 2**31 - 1.
    colors : bool
        Nodes of one color share a device.
    pins : bool
        Pinned nodes sit on their pin.
    support : bool
        Nodes sit only on device kinds they support (the graph's ``supported``).
    all_used : bool
        No device of the pipeline is left empty.
    """

    capacity: bool = True
    dataflow: str | None = "auto"
    max_skip: int | None = None
    colors: bool = True
    pins: bool = True
    support: bool = True
    all_used: bool = False

    def __post_init__(self):
        if self.dataflow not in _DATAFLOW:
            raise ValueError(f"dataflow must be one of {_DATAFLOW}, got {self.dataflow!r}")
        if self.max_skip is not None:
            if (not isinstance(self.max_skip, numbers.Integral) or isinstance(self.max_skip, (bool, np.bool_))
                    or self.max_skip < 1):
                raise ValueError(f"max_skip must be an integer >= 1 or None, got {self.max_skip!r}")
            # The C core takes an int32; a larger value would overflow there, far from the call that set it.
            if self.max_skip > _MAX_SKIP:
                raise ValueError(f"max_skip must be at most {_MAX_SKIP} (it is an int32; any value >= n_devices - 1 "
                                 f"already allows every step), got {int(self.max_skip)}")
            # numpy integers (e.g. from a sweep grid) are fine; store a plain int so equal constraints hash equal.
            object.__setattr__(self, "max_skip", int(self.max_skip))
            if self.dataflow == "acyclic" or self.dataflow is None:
                raise ValueError("max_skip needs dataflow='ordered' (or 'auto' on a link topology)")
        for name in ("capacity", "colors", "pins", "support", "all_used"):
            value = getattr(self, name)
            if isinstance(value, np.bool_):
                # numpy booleans (a mask entry, a comparison) are fine; store a plain bool so equal constraints
                # hash equal and compare equal to ones built from Python bools.
                object.__setattr__(self, name, bool(value))
            elif not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False, got {value!r}")

    @classmethod
    def none(cls) -> "Constraints":
        """Every constraint off: evaluation only."""
        return cls(capacity=False, dataflow=None, colors=False, pins=False, support=False, all_used=False)

    def resolved_dataflow(self, package) -> str | None:
        return package.default_dataflow if self.dataflow == "auto" else self.dataflow

    def as_tuple(self, package) -> tuple:
        """The switches for the C core, with ``auto`` resolved for ``package``."""
        dataflow = self.resolved_dataflow(package)
        if self.max_skip is not None and dataflow != "ordered":
            raise ValueError(f"max_skip needs the ordered dataflow constraint; on this {package.interconnect} "
                             f"package dataflow resolves to {dataflow!r}")
        return (self.capacity, dataflow, self.max_skip, self.colors, self.pins, self.support, self.all_used)

    def active(self, package) -> tuple[str, ...]:
        """Names of the violation counters that are switched on for ``package``."""
        dataflow = self.resolved_dataflow(package)
        out = []
        if self.capacity:
            out.append("capacity")
        if dataflow is not None:
            out.append("dataflow")
        if dataflow == "ordered" and self.max_skip is not None:
            out.append("skip")
        for name in ("colors", "pins", "support", "all_used"):
            if getattr(self, name):
                out.append(name)
        return tuple(out)

"""Argument checks shared by the public entry points: each names the argument and the value it got."""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["is_int", "is_real", "check_seed", "check_threads", "check_seconds", "check_count", "check_positive"]

#: seeds are stored in 64-bit fields (numpy generators, the C core)
MAX_SEED = 2 ** 63 - 1


def is_int(value) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """A Python or numpy real number (finite or not), not a bool or a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_seed(seed, name: str = "seed") -> int:
    """A seed: an integer in 0 .. 2**63 - 1."""
    if not is_int(seed) or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"{name} must be an integer in 0..2**63-1, got {seed!r}")
    return int(seed)


def check_threads(n_threads, name: str = "n_threads") -> int | None:
    """None (the default) or a positive integer."""
    if n_threads is None:
        return None
    if not is_int(n_threads) or int(n_threads) < 1:
        raise ValueError(f"{name} must be a positive integer (or None for all CPUs), got {n_threads!r}")
    return int(n_threads)


def check_positive(value, name: str, what: str = "number") -> float:
    """A positive, finite real number."""
    if not is_real(value) or not (math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{name} must be a positive, finite {what}, got {value!r}")
    return float(value)


def check_seconds(seconds, name: str = "max_seconds") -> float | None:
    """None or a positive, finite number of seconds."""
    return None if seconds is None else check_positive(seconds, name, "number of seconds")


def check_count(value, name: str) -> int | None:
    """None or a positive integer (a budget of evaluations, updates, ...)."""
    if value is None:
        return None
    if not is_int(value) or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)

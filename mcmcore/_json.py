"""JSON output in one place: numpy values become plain ones, and a number that is not finite (an interval of 0
gives an infinite throughput) becomes ``null``, since strict JSON has no ``Infinity`` or ``NaN`` (``jq`` and most
parsers outside Python reject them)."""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["plain", "finite_or_none", "strict", "dumps"]


def plain(x):
    """``json.dumps``'s ``default``: numpy scalars and arrays as Python values."""
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def finite_or_none(x) -> float | None:
    """``x`` as a float, or None when it is None, infinite or NaN."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def strict(obj: Any) -> Any:
    """``obj`` with numpy values made plain and every non-finite float replaced by None (recursively)."""
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return finite_or_none(obj)
    if isinstance(obj, (np.integer, np.bool_)):
        return plain(obj)
    return obj


def dumps(obj: Any, **kwargs) -> str:
    """``json.dumps`` of :func:`strict` ``(obj)``: always valid, strict JSON."""
    return json.dumps(strict(obj), allow_nan=False, **kwargs)

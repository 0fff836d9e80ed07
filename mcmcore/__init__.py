"""mcmcore: partition and place ML computation graphs onto the chiplets of multi-chip modules.

The cost model, the evaluator and the repair engine live in a native C core (csrc/); this package is a thin layer
over it. There is no pure-Python fallback: without the compiled extension, import fails.
"""
try:
    from mcmcore import _core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    raise ImportError(
        "mcmcore's native extension (mcmcore._core) is not built or cannot be loaded: "
        f"{exc}. Install the package with `pip install -e .` (or `pip install .`), which compiles csrc/ and "
        "mcmcore/_core.pyx; there is no pure-Python fallback."
    ) from exc

from mcmcore.constraints import VIOLATION_NAMES, Constraints
from mcmcore.errors import (
    GraphCycleError,
    InfeasibleError,
    InvalidGraphError,
    InvalidPackageError,
    InvalidPlacementError,
    MCMError,
)
from mcmcore.evaluate import CostReport, IncrementalEvaluator, evaluate, evaluate_batch
from mcmcore.graph import Graph
from mcmcore.io.native import load_graph
from mcmcore.package import Package, load_package
from mcmcore.repair import RepairResult, RepairStatus, random_valid, repair
from mcmcore.search import SearchResult, SearchStatus, lower_bound, partition
from mcmcore.coarsen import coarsen, uncoarsen  # noqa: E402  (the functions shadow the module name on purpose)
from mcmcore import io, zoo  # noqa: E402  (light: torch is imported only when a model is built)
from mcmcore.sweep import sweep  # noqa: E402  (shadows the module name, as coarsen does)
from mcmcore.cosearch import cosearch  # noqa: E402  (likewise)

__version__ = "0.1.0"

__all__ = [
    "Graph", "Package", "Constraints", "CostReport", "IncrementalEvaluator", "evaluate", "evaluate_batch",
    "load_graph", "load_package", "VIOLATION_NAMES", "MCMError", "GraphCycleError", "InvalidGraphError",
    "InvalidPackageError", "InvalidPlacementError", "InfeasibleError", "__version__",
    "repair", "random_valid", "RepairResult", "RepairStatus", "partition", "SearchResult", "SearchStatus",
    "lower_bound", "coarsen", "uncoarsen", "io", "zoo", "sweep", "cosearch",
]

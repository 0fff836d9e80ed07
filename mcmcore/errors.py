"""Domain errors of mcmcore. Each names the problem in words a user can act on."""


class MCMError(Exception):
    """Base class of every error mcmcore raises on purpose."""


class InvalidGraphError(MCMError, ValueError):
    """A graph (or a graph file) is malformed: NaN, negative or infinite cost, dangling edge, duplicate name,
    wrong array length, missing field."""


class GraphCycleError(InvalidGraphError):
    """The graph has a cycle; ``cycle`` holds its node ids in edge order."""

    def __init__(self, message, cycle=()):
        super().__init__(message)
        self.cycle = list(cycle)


class InvalidPackageError(MCMError, ValueError):
    """A package (or a package spec file) is malformed or names an unknown preset."""


class InvalidPlacementError(MCMError, ValueError):
    """A placement has the wrong length or names a device outside the package."""


class InfeasibleError(MCMError):
    """No valid placement exists; the message says why."""


class ExactModelError(MCMError, RuntimeError):
    """CP-SAT rejected the model that ``exact`` built (MODEL_INVALID, or a proof that contradicts a known valid
    placement): a bug of mcmcore, not a property of the instance. The message carries CP-SAT's reason."""

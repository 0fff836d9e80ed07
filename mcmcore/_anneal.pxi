# Binding of the C annealing loop (csrc/anneal.c); included by _core.pyx.
from libc.stdint cimport uint64_t


cdef extern from "mcm.h" nogil:
    ctypedef struct mcm_anneal_params:
        double t_start
        double t_end
        double beta
        double penalty
        double p_block
        double p_swap
        int32_t block_limit
        int objective
        uint64_t seed
    void mcm_anneal_defaults(mcm_anneal_params *prm)
    ctypedef struct mcm_anneal:
        pass
    int mcm_anneal_new(mcm_anneal **out, const mcm_problem *pr, const int32_t *start, const mcm_anneal_params *prm)
    void mcm_anneal_free(mcm_anneal *an)
    int mcm_anneal_run(mcm_anneal *an, int64_t iters, double f0, double f1)
    double mcm_anneal_best(const mcm_anneal *an, int32_t *placement)
    int64_t mcm_anneal_evals(const mcm_anneal *an)
    int64_t mcm_anneal_accepted(const mcm_anneal *an)
    double mcm_anneal_current(const mcm_anneal *an, int64_t *violations)


def anneal_defaults():
    """The C core's default annealing parameters, as a dict."""
    cdef mcm_anneal_params prm
    mcm_anneal_defaults(&prm)
    return {"t_start": prm.t_start, "t_end": prm.t_end, "beta": prm.beta, "penalty": prm.penalty,
            "p_block": prm.p_block, "p_swap": prm.p_swap, "block_limit": prm.block_limit}


cdef class Annealer:
    """One annealing chain in the C core; run it slice by slice with :meth:`run` (releases the GIL)."""

    cdef mcm_anneal *an
    cdef readonly Problem problem

    def __cinit__(self, Problem problem, const int32_t[::1] start, *, double t_start, double t_end, double beta,
                  double penalty, double p_block, int block_limit, bint latency, uint64_t seed, double p_swap=0.05):
        self.an = NULL
        self.problem = problem
        if start.shape[0] != problem.n_nodes:
            raise ValueError(f"start has {start.shape[0]} entries, the graph has {problem.n_nodes} nodes")
        if not (t_start > 0 and t_end > 0):
            raise ValueError("temperatures must be positive")
        cdef mcm_anneal_params prm
        mcm_anneal_defaults(&prm)
        prm.t_start = t_start
        prm.t_end = t_end
        prm.beta = beta
        prm.penalty = penalty
        prm.p_block = p_block
        prm.p_swap = p_swap
        prm.block_limit = block_limit
        prm.objective = 1 if latency else 0
        prm.seed = seed
        cdef int status = mcm_anneal_new(&self.an, &problem.pr, &start[0] if start.shape[0] else NULL, &prm)
        if status == MCM_ERR_PLACEMENT:
            raise ValueError("start placement names a device outside the package")
        if status != MCM_OK:
            _raise_status(status, "annealer")

    def __dealloc__(self):
        if self.an != NULL:
            mcm_anneal_free(self.an)

    def run(self, int64_t iters, double f0, double f1):
        """Run ``iters`` proposals with the schedule going from fraction f0 to f1 of the budget."""
        if iters <= 0:
            return
        with nogil:
            mcm_anneal_run(self.an, iters, f0, f1)

    def best(self):
        """``(value, placement)`` of the best valid state so far (``(inf, None)`` when none)."""
        out = np.empty(self.problem.n_nodes, dtype=np.int32)
        cdef int32_t[::1] vo = out
        cdef double v = mcm_anneal_best(self.an, &vo[0] if self.problem.n_nodes else NULL)
        if v == float("inf"):
            return v, None
        return v, out

    @property
    def evals(self):
        return mcm_anneal_evals(self.an)

    @property
    def accepted(self):
        return mcm_anneal_accepted(self.an)

    def current(self):
        """``(value, violations)`` of the current state."""
        cdef int64_t viol = 0
        cdef double v = mcm_anneal_current(self.an, &viol)
        return v, viol

# Repair binding (csrc/repair.c), included at the end of _core.pyx so it can reach Problem's C structs.
from libc.stdint cimport uint64_t


cdef extern from "mcm.h" nogil:
    ctypedef struct mcm_repair:
        pass
    ctypedef struct mcm_repair_ws:
        pass
    int mcm_repair_new(mcm_repair **out, const mcm_problem *pr, const double *node_weight, char *err,
                       size_t err_len)
    void mcm_repair_free(mcm_repair *rp)
    int mcm_repair_simd(const mcm_repair *rp)
    mcm_repair_ws *mcm_repair_ws_new(const mcm_repair *rp)
    void mcm_repair_ws_free(mcm_repair_ws *ws)
    int mcm_repair_run(const mcm_repair *rp, mcm_repair_ws *ws, const int32_t *inp, int32_t *out, int64_t *moved,
                       double *moved_weight)
    int mcm_repair_batch(const mcm_repair *rp, const int32_t *inp, int64_t batch, int n_threads, int32_t *out,
                         int32_t *status, int64_t *moved, double *moved_weight)
    int mcm_random_valid(const mcm_repair *rp, uint64_t seed, int64_t n, int n_threads, int32_t *out,
                         int32_t *status)


class RepairInfeasible(ValueError):
    """The repair context proved the instance infeasible while contracting it (message says why)."""


cdef class Repairer:
    """The native repair heuristic bound to a Problem (and optional per-node move costs).

    ``run`` returns ``(placement, moved, moved_weight, ok)``; ``ok`` is False when the heuristic found no valid
    placement (not a proof of infeasibility).
    """
    cdef mcm_repair *rp
    cdef mcm_repair_ws *ws
    cdef readonly Problem problem
    cdef object _weights

    def __cinit__(self, Problem problem, weights=None):
        self.rp = NULL
        self.ws = NULL
        self.problem = problem
        cdef char err[256]
        err[0] = 0
        cdef const double *pw = NULL
        cdef const double[::1] wv
        if weights is not None:
            self._weights = np.ascontiguousarray(weights, dtype=np.float64)
            if self._weights.ndim != 1 or self._weights.shape[0] != problem.n_nodes:
                raise ValueError(f"weights must hold one number per node ({problem.n_nodes}), got shape "
                                 f"{self._weights.shape}")
            wv = self._weights
            if wv.shape[0] > 0:
                pw = &wv[0]
        cdef int status = mcm_repair_new(&self.rp, &problem.pr, pw, err, 256)
        if status == MCM_ERR_INFEASIBLE:
            raise RepairInfeasible(err.decode())
        if status == MCM_ERR_ARG and err[0] != 0:
            raise ValueError(f"repair context: {err.decode()}")
        if status != MCM_OK:
            _raise_status(status, "repair context")
        self.ws = mcm_repair_ws_new(self.rp)
        if self.ws == NULL:
            raise MemoryError("the native core ran out of memory allocating a repair workspace")

    def __dealloc__(self):
        if self.ws != NULL:
            mcm_repair_ws_free(self.ws)
        if self.rp != NULL:
            mcm_repair_free(self.rp)

    @property
    def simd(self):
        """The scoring pass in use: 2 AVX-512, 3 AVX2, 1 SSE2, 0 portable C (all give the same placements)."""
        return mcm_repair_simd(self.rp)

    def run(self, const int32_t[::1] placement):
        cdef int32_t N = self.problem.n_nodes
        out = np.empty(max(N, 1), dtype=np.int32)
        cdef int32_t[::1] vo = out
        cdef int64_t moved = 0
        cdef double mw = 0.0
        cdef int status
        cdef const int32_t *pin_ = &placement[0] if N > 0 else NULL
        with nogil:
            status = mcm_repair_run(self.rp, self.ws, pin_, &vo[0], &moved, &mw)
        if status == MCM_ERR_PLACEMENT:
            raise ValueError("placement names a device outside the package")
        if status != MCM_OK and status != MCM_ERR_INFEASIBLE:
            _raise_status(status, "repair")
        return out[:N], int(moved), float(mw), status == MCM_OK

    def run_batch(self, const int32_t[:, ::1] placements, int n_threads=1):
        cdef int64_t B = placements.shape[0]
        cdef int32_t N = self.problem.n_nodes
        out = np.empty((B, N), dtype=np.int32)
        status = np.empty(B, dtype=np.int32)
        moved = np.empty(B, dtype=np.int64)
        mw = np.empty(B, dtype=np.float64)
        if B == 0 or N == 0:
            status[:] = MCM_OK
            moved[:] = 0
            mw[:] = 0.0
            return out, moved, mw, status == MCM_OK
        cdef int32_t[:, ::1] vo = out
        cdef int32_t[::1] vs = status
        cdef int64_t[::1] vm = moved
        cdef double[::1] vw = mw
        cdef int rc
        with nogil:
            rc = mcm_repair_batch(self.rp, &placements[0, 0], B, n_threads, &vo[0, 0], &vs[0], &vm[0], &vw[0])
        if rc != MCM_OK:
            _raise_status(rc, "repair_batch")
        if (status == MCM_ERR_PLACEMENT).any():
            raise ValueError("a placement names a device outside the package")
        return out, moved, mw, status == MCM_OK

    def random_valid(self, uint64_t seed, int64_t n, int n_threads=1):
        cdef int32_t N = self.problem.n_nodes
        out = np.empty((n, N), dtype=np.int32)
        status = np.empty(n, dtype=np.int32)
        if n == 0 or N == 0:
            status[:] = MCM_OK
            return out, status == MCM_OK
        cdef int32_t[:, ::1] vo = out
        cdef int32_t[::1] vs = status
        cdef int rc
        with nogil:
            rc = mcm_random_valid(self.rp, seed, n, n_threads, &vo[0, 0], &vs[0])
        if rc != MCM_OK:
            _raise_status(rc, "random_valid")
        return out, status == MCM_OK

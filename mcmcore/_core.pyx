# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Private binding of the C core (csrc/). The public API lives in plain Python modules (graph, package, evaluate).

Hot loops run inside ``with nogil:``; C status codes are turned into exceptions only once the GIL is back.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.string cimport memset

cnp.import_array()

N_VIOLATIONS = MCM_N_VIOLATIONS
TOPOLOGY_CODES = {"port": MCM_TOPO_PORT, "ring": MCM_TOPO_RING, "mesh": MCM_TOPO_MESH, "torus": MCM_TOPO_TORUS,
                  "full": MCM_TOPO_FULL, "custom": MCM_TOPO_CUSTOM}
DATAFLOW_CODES = {None: MCM_DATAFLOW_NONE, "ordered": MCM_DATAFLOW_ORDERED, "acyclic": MCM_DATAFLOW_ACYCLIC}


class CoreError(RuntimeError):
    """An unexpected status from the C core (out of memory, or a broken invariant)."""


cdef _raise_status(int status, str context):
    if status == MCM_ERR_NOMEM:
        raise MemoryError(f"{context}: the native core ran out of memory")
    raise CoreError(f"{context}: {mcm_status_str(status).decode()}")


def derive_graph(const int32_t[::1] succ_ptr, const int32_t[::1] succ_idx):
    """Predecessor CSR and topological order of a successor CSR.

    Returns ``(pred_ptr, pred_idx, topo, cycle)`` where ``cycle`` is None, or an int32 array of node ids forming
    a cycle in edge order (then ``topo`` is meaningless).
    """
    cdef int32_t n = succ_ptr.shape[0] - 1
    cdef int32_t m = succ_idx.shape[0]
    pred_ptr = np.empty(n + 1, dtype=np.int32)
    pred_idx = np.empty(max(m, 1), dtype=np.int32)
    topo = np.empty(max(n, 1), dtype=np.int32)
    cycle = np.empty(max(n, 1), dtype=np.int32)
    cdef int32_t[::1] pp = pred_ptr, pi = pred_idx, tp = topo, cy = cycle
    cdef int32_t cycle_len = 0
    cdef int status
    with nogil:
        status = mcm_graph_derive(n, m, &succ_ptr[0], &succ_idx[0] if m > 0 else NULL, &pp[0], &pi[0], &tp[0],
                                  &cy[0], &cycle_len)
    if status == MCM_ERR_CYCLE:
        return pred_ptr, pred_idx[:m], topo[:n], cycle[:cycle_len].copy()
    if status != MCM_OK:
        _raise_status(status, "derive_graph")
    return pred_ptr, pred_idx[:m], topo[:n], None


def routes(str topology, int n_devices, int rows, int cols, const int32_t[::1] link_src,
           const int32_t[::1] link_dst, const double[::1] link_bw):
    """Routing tables ``(next_link, hops, route_bw)``, each of shape (K, K). Raises ValueError on a missing route."""
    cdef int code = TOPOLOGY_CODES[topology]
    cdef int32_t K = n_devices
    cdef int32_t L = link_src.shape[0]
    next_link = np.empty((K, K), dtype=np.int32)
    hops = np.empty((K, K), dtype=np.int32)
    route_bw = np.empty((K, K), dtype=np.float64)
    cdef int32_t[:, ::1] nl = next_link, hp = hops
    cdef double[:, ::1] rb = route_bw
    cdef char err[256]
    err[0] = 0
    cdef int status
    cdef const int32_t *ls = &link_src[0] if L > 0 else NULL
    cdef const int32_t *ld = &link_dst[0] if L > 0 else NULL
    cdef const double *lb = &link_bw[0] if L > 0 else NULL
    with nogil:
        status = mcm_routes(code, K, rows, cols, L, ls, ld, lb, &nl[0, 0], &hp[0, 0], &rb[0, 0], err, 256)
    if status == MCM_ERR_ARG:
        raise ValueError(err.decode())
    if status != MCM_OK:
        _raise_status(status, "routes")
    return next_link, hops, route_bw


cdef const double *_dptr(object a, list keep) except? NULL:
    if a is None:
        return NULL
    cdef const double[::1] view = np.ascontiguousarray(a, dtype=np.float64).reshape(-1)
    keep.append(view)
    return &view[0] if view.shape[0] > 0 else NULL


cdef const int32_t *_iptr(object a, list keep) except? NULL:
    if a is None:
        return NULL
    cdef const int32_t[::1] view = np.ascontiguousarray(a, dtype=np.int32).reshape(-1)
    keep.append(view)
    return &view[0] if view.shape[0] > 0 else NULL


cdef const uint8_t *_bptr(object a, list keep) except? NULL:
    if a is None:
        return NULL
    cdef const uint8_t[::1] view = np.ascontiguousarray(a).view(np.uint8).reshape(-1)
    keep.append(view)
    return &view[0] if view.shape[0] > 0 else NULL


cdef class Problem:
    """A graph, a package, constraints and the overlap switch, bound to the C core with precomputed tables.

    Parameters
    ----------
    graph, package : mcmcore.Graph, mcmcore.Package
    constraints : tuple
        ``(capacity, dataflow, max_skip, colors, pins, support, all_used)`` with ``dataflow`` one of
        None, "ordered", "acyclic" (already resolved by the caller).
    overlap : bool
    """

    def __cinit__(self, graph, package, tuple constraints, bint overlap):
        self.ready = False
        self.ws = NULL
        self._keep = []
        self.graph = graph
        self.package = package
        cdef list keep = self._keep
        memset(&self.g, 0, sizeof(mcm_graph))
        memset(&self.p, 0, sizeof(mcm_package))
        g = graph
        self.g.n_nodes = g.n_nodes
        self.g.n_edges = g.n_edges
        self.g.succ_ptr = _iptr(g.succ_ptr, keep)
        self.g.succ_idx = _iptr(g.succ_idx, keep)
        self.g.pred_ptr = _iptr(g.pred_ptr, keep)
        self.g.pred_idx = _iptr(g.pred_idx, keep)
        self.g.topo = _iptr(g.topo_order, keep)
        self.g.flops = _dptr(g.flops, keep)
        self.g.mem_bytes = _dptr(g.mem_bytes, keep)
        self.g.weight_bytes = _dptr(g.weight_bytes, keep)
        self.g.out_bytes = _dptr(g.out_bytes, keep)
        self.g.n_kinds = g.n_kinds
        self.g.latency = _dptr(g.latency, keep)
        self.g.supported = _bptr(g.supported, keep)
        self.g.comm_time = _dptr(g.comm_time, keep)
        if g.n_colors > 0:
            self.g.color = _iptr(g._color_compact, keep)
            self.g.n_colors = g.n_colors
            self.g.color_ptr = _iptr(g._color_ptr, keep)
            self.g.color_members = _iptr(g._color_members, keep)
        self.g.pin = _iptr(g.pin, keep)
        self.g.backward = _bptr(g.backward, keep)

        p = package
        self.p.n_devices = p.n_devices
        self.p.peak_flops = _dptr(p.peak_flops, keep)
        self.p.mem_bw = _dptr(p.mem_bw, keep)
        self.p.sram_bytes = _dptr(p.sram_bytes, keep)
        self.p.comm_factor = _dptr(p.comm_factor, keep)
        self.p.kind = _iptr(p.kinds, keep)
        self.p.position = _iptr(p.position, keep)
        self.p.interconnect = MCM_PORT if p.interconnect == "port" else MCM_LINKS
        self.p.bandwidth = p.bandwidth if p.bandwidth is not None else 0.0
        self.p.n_links = p.n_links
        if p.n_links > 0:
            self.p.link_src = _iptr(p.link_src, keep)
            self.p.link_dst = _iptr(p.link_dst, keep)
            self.p.link_bw = _dptr(p.link_bandwidth, keep)
        self.p.hop_latency = p.hop_latency
        if p.interconnect != "port":
            self.p.next_link = _iptr(p._next_link, keep)
            self.p.hops = _iptr(p._hops, keep)
            self.p.route_bw = _dptr(p._route_bw, keep)
        self.p.topology = TOPOLOGY_CODES.get(p.topology, MCM_TOPO_CUSTOM)
        if p.shape is not None:
            self.p.rows, self.p.cols = p.shape

        cdef mcm_constraints c
        capacity, dataflow, max_skip, colors, pins, support, all_used = constraints
        c.capacity = bool(capacity)
        c.dataflow = DATAFLOW_CODES[dataflow]
        c.max_skip = int(max_skip) if max_skip is not None else 0
        c.colors = bool(colors)
        c.pins = bool(pins)
        c.support = bool(support)
        c.all_used = bool(all_used)
        cdef int status = mcm_problem_init(&self.pr, &self.g, &self.p, &c, overlap)
        if status == MCM_ERR_ARG:
            msg = self.pr.error.decode()
            mcm_problem_free(&self.pr)
            raise ValueError(msg)
        if status != MCM_OK:
            mcm_problem_free(&self.pr)
            _raise_status(status, "problem")
        self.ready = True
        self.ws = mcm_workspace_new(&self.pr)
        if self.ws == NULL:
            raise MemoryError("the native core ran out of memory allocating a workspace")
        self.n_nodes = self.g.n_nodes
        self.n_devices = self.p.n_devices
        self.n_links = self.p.n_links

    def __dealloc__(self):
        if self.ws != NULL:
            mcm_workspace_free(self.ws)
        if self.ready:
            mcm_problem_free(&self.pr)

    @property
    def overlap(self):
        return bool(self.pr.overlap)

    def evaluate(self, const int32_t[::1] placement, bint latency=True, bint schedule=False):
        """Full evaluation of one placement; returns a dict of scalars and numpy arrays."""
        if placement.shape[0] != self.n_nodes:
            raise ValueError(f"placement has {placement.shape[0]} entries, the graph has {self.n_nodes} nodes")
        cdef int K = self.n_devices, L = self.n_links, N = self.n_nodes
        compute = np.empty(K, dtype=np.float64)
        comm = np.empty(K, dtype=np.float64)
        memory = np.empty(K, dtype=np.float64)
        node_count = np.empty(K, dtype=np.int32)
        traffic = np.empty(L, dtype=np.float64)
        link_time = np.empty(L, dtype=np.float64)
        cdef double[::1] vc = compute, vx = comm, vm = memory, vt = traffic, vl = link_time
        cdef int32_t[::1] vn = node_count
        cdef mcm_report rep
        memset(&rep, 0, sizeof(mcm_report))
        rep.compute = &vc[0]
        rep.comm = &vx[0]
        rep.memory = &vm[0]
        rep.node_count = &vn[0]
        if L > 0:
            rep.traffic = &vt[0]
            rep.link_time = &vl[0]
        cdef double[::1] vs, vf
        start = finish = None
        if schedule:
            start = np.empty(N, dtype=np.float64)
            finish = np.empty(N, dtype=np.float64)
            if N > 0:
                vs = start
                vf = finish
                rep.start = &vs[0]
                rep.finish = &vf[0]
        cdef int status
        cdef const int32_t *pl = &placement[0] if N > 0 else NULL
        with nogil:
            status = mcm_evaluate(&self.pr, pl, self.ws, latency, &rep)
        if status == MCM_ERR_PLACEMENT:
            bad = rep.bad_node
            raise ValueError(f"placement puts node {bad} on device {placement[bad]}, "
                             f"but the package has {K} devices (0..{K - 1})")
        if status != MCM_OK:
            _raise_status(status, "evaluate")
        return {
            "interval": rep.interval,
            "latency": rep.latency,
            "violations": np.array([rep.violations[i] for i in range(MCM_N_VIOLATIONS)], dtype=np.int64),
            "compute": compute, "comm": comm, "memory": memory, "node_count": node_count,
            "traffic": traffic, "link_time": link_time, "start": start, "finish": finish,
        }

    def evaluate_batch(self, const int32_t[:, ::1] placements, int n_threads=1, bint latency=False,
                       bint violations=True):
        """Evaluate a (B, N) array of placements; returns ``(interval, latency or None, violations or None)``."""
        cdef int64_t B = placements.shape[0]
        if placements.shape[1] != self.n_nodes:
            raise ValueError(f"placements have {placements.shape[1]} columns, the graph has {self.n_nodes} nodes")
        interval = np.empty(B, dtype=np.float64)
        lat = np.empty(B, dtype=np.float64) if latency else None
        viol = np.empty((B, MCM_N_VIOLATIONS), dtype=np.int64) if violations else None
        if B == 0:
            return interval, lat, viol
        cdef double[::1] vi = interval
        cdef double[::1] vl
        cdef int64_t[:, ::1] vv
        cdef double *plat = NULL
        cdef int64_t *pviol = NULL
        if latency:
            vl = lat
            plat = &vl[0]
        if violations:
            vv = viol
            pviol = &vv[0, 0]
        cdef int64_t bad_row = -1
        cdef int32_t bad_node = -1
        cdef int status
        cdef int32_t dummy = 0
        cdef const int32_t *pls = &placements[0, 0] if self.n_nodes > 0 else &dummy
        with nogil:
            status = mcm_evaluate_batch(&self.pr, pls, B, n_threads, &vi[0], plat, pviol, &bad_row, &bad_node)
        if status == MCM_ERR_PLACEMENT:
            raise ValueError(f"placement {bad_row} puts node {bad_node} on device "
                             f"{placements[bad_row, bad_node]}, but the package has {self.n_devices} devices")
        if status != MCM_OK:
            _raise_status(status, "evaluate_batch")
        return interval, lat, viol


cdef class Incremental:
    """C incremental evaluator over a Problem (see mcmcore.IncrementalEvaluator for the public face)."""

    def __cinit__(self, Problem problem, const int32_t[::1] placement):
        self.inc = NULL
        self.problem = problem
        if placement.shape[0] != problem.n_nodes:
            raise ValueError(f"placement has {placement.shape[0]} entries, the graph has {problem.n_nodes} nodes")
        cdef int status = mcm_incremental_new(&self.inc, &problem.pr,
                                              &placement[0] if placement.shape[0] > 0 else NULL)
        if status == MCM_ERR_PLACEMENT:
            raise ValueError(f"placement names a device outside 0..{problem.n_devices - 1}")
        if status != MCM_OK:
            _raise_status(status, "incremental evaluator")

    def __dealloc__(self):
        if self.inc != NULL:
            mcm_incremental_free(self.inc)

    cpdef double move(self, int32_t node, int32_t device) except? -1.0:
        if mcm_incremental_move(self.inc, node, device) != MCM_OK:
            if node < 0 or node >= self.problem.n_nodes:
                raise IndexError(f"node {node} is outside 0..{self.problem.n_nodes - 1}")
            raise ValueError(f"device {device} is outside 0..{self.problem.n_devices - 1}")
        return mcm_incremental_interval(self.inc)

    cpdef undo(self):
        mcm_incremental_undo(self.inc)

    def apply_moves(self, const int32_t[::1] nodes, const int32_t[::1] devices, bint undo=False):
        """Apply moves in order (undoing each right away when ``undo``); returns the interval after each."""
        cdef Py_ssize_t n = nodes.shape[0], i
        if devices.shape[0] != n:
            raise ValueError("nodes and devices must have the same length")
        cdef int32_t N = self.problem.n_nodes, K = self.problem.n_devices
        for i in range(n):
            if nodes[i] < 0 or nodes[i] >= N or devices[i] < 0 or devices[i] >= K:
                raise ValueError(f"move {i} ({nodes[i]} -> {devices[i]}) is out of range")
        out = np.empty(n, dtype=np.float64)
        cdef double[::1] vo = out
        with nogil:
            for i in range(n):
                mcm_incremental_move(self.inc, nodes[i], devices[i])
                vo[i] = mcm_incremental_interval(self.inc)
                if undo:
                    mcm_incremental_undo(self.inc)
        return out

    @property
    def interval(self):
        return mcm_incremental_interval(self.inc)

    @property
    def placement(self):
        cdef const int32_t *pl = mcm_incremental_placement(self.inc)
        out = np.empty(self.problem.n_nodes, dtype=np.int32)
        cdef int32_t[::1] vo = out
        cdef Py_ssize_t i
        for i in range(self.problem.n_nodes):
            vo[i] = pl[i]
        return out

    @property
    def violations(self):
        cdef const int64_t *v = mcm_incremental_violations(self.inc)
        return np.array([v[i] for i in range(MCM_N_VIOLATIONS)], dtype=np.int64)

    @property
    def total_violations(self):
        return mcm_incremental_total_violations(self.inc)

    def state(self):
        """``(compute, comm, memory, traffic)`` arrays of the current placement."""
        K, L = self.problem.n_devices, self.problem.n_links
        compute = np.empty(K, dtype=np.float64)
        comm = np.empty(K, dtype=np.float64)
        memory = np.empty(K, dtype=np.float64)
        traffic = np.empty(max(L, 1), dtype=np.float64)
        cdef double[::1] a = compute, b = comm, c = memory, d = traffic
        mcm_incremental_state(self.inc, &a[0], &b[0], &c[0], &d[0])
        return compute, comm, memory, traffic[:L]
include "_repair.pxi"
include "_anneal.pxi"

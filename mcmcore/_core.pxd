# Declarations of the C core's public API (csrc/mcm.h) and of the extension types that wrap it.
from libc.stdint cimport int32_t, int64_t, uint8_t


cdef extern from "mcm.h" nogil:
    enum:
        MCM_OK
        MCM_ERR_NOMEM
        MCM_ERR_ARG
        MCM_ERR_CYCLE
        MCM_ERR_PLACEMENT
        MCM_ERR_INFEASIBLE
        MCM_PORT
        MCM_LINKS
        MCM_TOPO_PORT
        MCM_TOPO_RING
        MCM_TOPO_MESH
        MCM_TOPO_TORUS
        MCM_TOPO_FULL
        MCM_TOPO_CUSTOM
        MCM_DATAFLOW_NONE
        MCM_DATAFLOW_ORDERED
        MCM_DATAFLOW_ACYCLIC
        MCM_N_VIOLATIONS

    const char *mcm_status_str(int status)

    ctypedef struct mcm_graph:
        int32_t n_nodes
        int32_t n_edges
        const int32_t *succ_ptr
        const int32_t *succ_idx
        const int32_t *pred_ptr
        const int32_t *pred_idx
        const int32_t *topo
        const double *flops
        const double *mem_bytes
        const double *weight_bytes
        const double *out_bytes
        int32_t n_kinds
        const double *latency
        const uint8_t *supported
        const double *comm_time
        const int32_t *color
        int32_t n_colors
        const int32_t *color_ptr
        const int32_t *color_members
        const int32_t *pin
        const uint8_t *backward
        void *owned_

    int mcm_graph_derive(int32_t n_nodes, int32_t n_edges, const int32_t *succ_ptr, const int32_t *succ_idx,
                         int32_t *pred_ptr, int32_t *pred_idx, int32_t *topo, int32_t *cycle, int32_t *cycle_len)

    ctypedef struct mcm_package:
        int32_t n_devices
        const double *peak_flops
        const double *mem_bw
        const double *sram_bytes
        const double *comm_factor
        const int32_t *kind
        const int32_t *position
        int32_t interconnect
        double bandwidth
        int32_t n_links
        const int32_t *link_src
        const int32_t *link_dst
        const double *link_bw
        double hop_latency
        const int32_t *next_link
        const int32_t *hops
        const double *route_bw
        int32_t topology
        int32_t rows
        int32_t cols

    int mcm_routes(int32_t topology, int32_t n_devices, int32_t rows, int32_t cols, int32_t n_links,
                   const int32_t *link_src, const int32_t *link_dst, const double *link_bw, int32_t *next_link,
                   int32_t *hops, double *route_bw, char *err, size_t err_len)

    ctypedef struct mcm_constraints:
        int capacity
        int dataflow
        int max_skip
        int colors
        int pins
        int support
        int all_used

    ctypedef struct mcm_problem:
        const mcm_graph *g
        const mcm_package *p
        mcm_constraints cons
        int overlap
        char error[256]

    int mcm_problem_init(mcm_problem *pr, const mcm_graph *g, const mcm_package *p, const mcm_constraints *c,
                         int overlap)
    void mcm_problem_free(mcm_problem *pr)

    ctypedef struct mcm_report:
        double interval
        double latency
        int64_t violations[7]
        int64_t total_violations
        int32_t bad_node
        double *compute
        double *comm
        double *memory
        int32_t *node_count
        double *traffic
        double *link_time
        double *start
        double *finish

    ctypedef struct mcm_workspace:
        pass
    mcm_workspace *mcm_workspace_new(const mcm_problem *pr)
    void mcm_workspace_free(mcm_workspace *ws)
    int mcm_evaluate(const mcm_problem *pr, const int32_t *placement, mcm_workspace *ws, int want_latency,
                     mcm_report *out)
    int mcm_evaluate_batch(const mcm_problem *pr, const int32_t *placements, int64_t batch, int n_threads,
                           double *interval, double *latency, int64_t *violations, int64_t *bad_row,
                           int32_t *bad_node)

    ctypedef struct mcm_incremental:
        pass
    int mcm_incremental_new(mcm_incremental **out, const mcm_problem *pr, const int32_t *placement)
    void mcm_incremental_free(mcm_incremental *inc)
    int mcm_incremental_move(mcm_incremental *inc, int32_t node, int32_t device)
    void mcm_incremental_undo(mcm_incremental *inc)
    double mcm_incremental_interval(const mcm_incremental *inc)
    const int32_t *mcm_incremental_placement(const mcm_incremental *inc)
    const int64_t *mcm_incremental_violations(const mcm_incremental *inc)
    int64_t mcm_incremental_total_violations(const mcm_incremental *inc)
    void mcm_incremental_state(const mcm_incremental *inc, double *compute, double *comm, double *memory,
                               double *traffic)


cdef class Problem:
    cdef mcm_graph g
    cdef mcm_package p
    cdef mcm_problem pr
    cdef bint ready
    cdef mcm_workspace *ws
    cdef readonly object graph
    cdef readonly object package
    cdef list _keep
    cdef readonly int n_nodes
    cdef readonly int n_devices
    cdef readonly int n_links


cdef class Incremental:
    cdef mcm_incremental *inc
    cdef readonly Problem problem
    cpdef double move(self, int32_t node, int32_t device) except? -1.0
    cpdef undo(self)

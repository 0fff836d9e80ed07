/*
 * mcm.h -- public C API of the mcmcore native core.
 *
 * C99, no Python headers: a compiler can link this core directly. The Python package (mcmcore._core) is a thin
 * binding over exactly these functions. The cost model and the constraints are those of DESIGN.md.
 *
 * Ownership: mcm_graph and mcm_package are *views* over arrays owned by the caller (numpy arrays in Python), except
 * when built with mcm_graph_create, which allocates and is released by mcm_graph_destroy. Everything else
 * (problem, workspace, incremental evaluator) is created and destroyed through this API.
 */
#ifndef MCM_H
#define MCM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MCM_VERSION_MAJOR 0
#define MCM_VERSION_MINOR 1
#define MCM_VERSION_PATCH 0

/* ---------------------------------------------------------------------------------------------------------------
 * Status codes. Every function that can fail returns one of these (MCM_OK = 0).
 * ------------------------------------------------------------------------------------------------------------- */
enum {
    MCM_OK = 0,
    MCM_ERR_NOMEM = 1,      /* an allocation failed */
    MCM_ERR_ARG = 2,        /* malformed input; mcm_problem.error / the out message says which */
    MCM_ERR_CYCLE = 3,      /* the graph has a cycle */
    MCM_ERR_PLACEMENT = 4,  /* a placement names a device outside [0, n_devices) */
    MCM_ERR_INFEASIBLE = 5  /* no valid placement exists */
};
const char *mcm_status_str(int status);

enum { MCM_PORT = 0, MCM_LINKS = 1 };                                      /* interconnect model */
enum { MCM_TOPO_PORT = 0, MCM_TOPO_RING = 1, MCM_TOPO_MESH = 2, MCM_TOPO_TORUS = 3, MCM_TOPO_FULL = 4,
       MCM_TOPO_CUSTOM = 5 };                                                 /* how routes are computed */
enum { MCM_DATAFLOW_NONE = 0, MCM_DATAFLOW_ORDERED = 1, MCM_DATAFLOW_ACYCLIC = 2 };

/* Violation kinds, the index into every violations[] array. */
enum {
    MCM_V_CAPACITY = 0, /* devices whose memory exceeds their SRAM */
    MCM_V_DATAFLOW = 1, /* forward edges against the pipeline order (ordered) or inside a device cycle (acyclic) */
    MCM_V_SKIP = 2,     /* forward edges that skip more than max_skip pipeline positions */
    MCM_V_COLOR = 3,    /* colored nodes not on the device of the first node of their color */
    MCM_V_PIN = 4,      /* pinned nodes not on their pin */
    MCM_V_SUPPORT = 5,  /* nodes on a device kind they do not support */
    MCM_V_ALL_USED = 6, /* devices left empty */
    MCM_N_VIOLATIONS = 7
};

/* ---------------------------------------------------------------------------------------------------------------
 * Graph: a DAG in CSR form. Node ids are 0..n_nodes-1; edges are deduplicated, without self-loops.
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct {
    int32_t n_nodes;
    int32_t n_edges;
    const int32_t *succ_ptr;      /* n_nodes + 1 */
    const int32_t *succ_idx;      /* n_edges, successors of each node in increasing order */
    const int32_t *pred_ptr;      /* n_nodes + 1 */
    const int32_t *pred_idx;      /* n_edges */
    const int32_t *topo;          /* n_nodes: the fixed topological order (smallest ready id first) */
    const double *flops;          /* n_nodes; a multiply-add counts 2 */
    const double *mem_bytes;      /* n_nodes; bytes moved to and from local memory */
    const double *weight_bytes;   /* n_nodes; resident on the device */
    const double *out_bytes;      /* n_nodes; size of the output tensor */
    int32_t n_kinds;              /* columns of latency / supported (0 when both are NULL) */
    const double *latency;        /* NULL, or n_nodes * n_kinds seconds (overrides the roofline) */
    const uint8_t *supported;     /* NULL (every kind), or n_nodes * n_kinds flags */
    const double *comm_time;      /* NULL, or n_nodes seconds to ship the output once (port model) */
    const int32_t *color;         /* NULL, or n_nodes compact color ids in [0, n_colors), -1 = none */
    int32_t n_colors;
    const int32_t *color_ptr;     /* n_colors + 1 */
    const int32_t *color_members; /* members of each color in increasing id order; the first is its anchor */
    const int32_t *pin;           /* NULL, or n_nodes device ids, -1 = none */
    const uint8_t *backward;      /* NULL, or n_nodes flags (training backward nodes) */
    void *owned_;                 /* allocation owned by mcm_graph_create, else NULL */
} mcm_graph;

/* Derive predecessor CSR and the topological order from a successor CSR. On a cycle returns MCM_ERR_CYCLE and,
 * when cycle != NULL, writes one cycle (in edge order, first node not repeated) and its length. */
int mcm_graph_derive(int32_t n_nodes, int32_t n_edges, const int32_t *succ_ptr, const int32_t *succ_idx,
                     int32_t *pred_ptr, int32_t *pred_idx, int32_t *topo, int32_t *cycle, int32_t *cycle_len);

/* Convenience for C users: build an owned graph from an edge list (duplicates removed) and cost arrays (each may
 * be NULL = zeros). Optional fields (latency, colors, ...) may be set on the struct afterwards. */
int mcm_graph_create(mcm_graph *g, int32_t n_nodes, int64_t n_edges, const int32_t *src, const int32_t *dst,
                     const double *flops, const double *mem_bytes, const double *weight_bytes,
                     const double *out_bytes);
void mcm_graph_destroy(mcm_graph *g);

/* ---------------------------------------------------------------------------------------------------------------
 * Package: K devices, a pipeline order, and a port or links interconnect.
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct {
    int32_t n_devices;
    const double *peak_flops;     /* K, FLOP/s */
    const double *mem_bw;         /* K, bytes/s of local memory */
    const double *sram_bytes;     /* K, capacity (may be +inf) */
    const double *comm_factor;    /* K, 1 = pays its communication, 0 = does not (port model) */
    const int32_t *kind;          /* K, device kind (column of the graph's latency) */
    const int32_t *position;      /* K, position of each device along the pipeline order */
    int32_t interconnect;         /* MCM_PORT or MCM_LINKS */
    double bandwidth;             /* port model: bytes/s of every device's port */
    int32_t n_links;              /* links model: directed links */
    const int32_t *link_src;
    const int32_t *link_dst;
    const double *link_bw;        /* bytes/s of each directed link */
    double hop_latency;           /* seconds per hop */
    const int32_t *next_link;     /* K*K: first link on the route s -> d (-1 on the diagonal) */
    const int32_t *hops;          /* K*K: hops on the route s -> d */
    const double *route_bw;       /* K*K: bottleneck bandwidth of the route s -> d */
    int32_t topology;             /* MCM_TOPO_*: lets the evaluator use closed forms for mesh routes */
    int32_t rows, cols;           /* grid shape for MCM_TOPO_MESH / MCM_TOPO_TORUS */
} mcm_package;

/* Compute deterministic routes. topology: MCM_TOPO_RING (rows=1, cols=K), MCM_TOPO_MESH / MCM_TOPO_TORUS
 * (row-major ids, XY routing: along the row first, then the column; torus wraps the shorter way, ties going up),
 * MCM_TOPO_FULL (direct links), MCM_TOPO_CUSTOM (shortest paths, ties to the lower link id). Fills next_link,
 * hops and route_bw (each K*K). Returns MCM_ERR_ARG with a message in err when a route is missing. */
int mcm_routes(int32_t topology, int32_t n_devices, int32_t rows, int32_t cols, int32_t n_links,
               const int32_t *link_src, const int32_t *link_dst, const double *link_bw, int32_t *next_link,
               int32_t *hops, double *route_bw, char *err, size_t err_len);

/* ---------------------------------------------------------------------------------------------------------------
 * Constraints and a problem = graph + package + constraints + overlap, with precomputed tables.
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct {
    int capacity;   /* memory <= sram_bytes */
    int dataflow;   /* MCM_DATAFLOW_* on forward edges */
    int max_skip;   /* with ORDERED: position(dst) - position(src) <= max_skip; <= 0 = no limit */
    int colors;     /* nodes of a color share a device */
    int pins;       /* pinned nodes on their pin */
    int support;    /* nodes only on device kinds they support */
    int all_used;   /* no device left empty */
} mcm_constraints;

typedef struct {
    const mcm_graph *g;
    const mcm_package *p;
    mcm_constraints cons;
    int overlap;         /* 0: interval = max(C + X); 1: max(max C, max X, max T). Links always overlap. */
    int32_t n_cls;       /* device classes with equal compute times */
    int32_t *dev_cls;    /* K */
    double *ct;          /* n_nodes * n_cls compute times, or NULL when too large (computed on the fly) */
    double *tx;          /* n_nodes: port transfer time t_u (comm_time or out_bytes / bandwidth) */
    int32_t *edge_src;   /* n_edges: source node of each CSR edge */
    char error[256];
} mcm_problem;

int mcm_problem_init(mcm_problem *pr, const mcm_graph *g, const mcm_package *p, const mcm_constraints *c,
                     int overlap);
void mcm_problem_free(mcm_problem *pr);
double mcm_compute_time(const mcm_problem *pr, int32_t node, int32_t device);

/* ---------------------------------------------------------------------------------------------------------------
 * Full evaluation.
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct {
    double interval;                      /* seconds between samples; throughput = 1 / interval */
    double latency;                       /* seconds for one sample (list schedule); NaN when not computed */
    int64_t violations[MCM_N_VIOLATIONS]; /* counts; 0 for constraints that are off */
    int64_t total_violations;
    int32_t bad_node;                     /* on MCM_ERR_PLACEMENT: the offending node */
    /* Optional outputs, filled when non-NULL. */
    double *compute;                      /* K: C_k */
    double *comm;                         /* K: X_k (port model; zeros for links) */
    double *memory;                       /* K */
    int32_t *node_count;                  /* K */
    double *traffic;                      /* n_links: bytes per sample */
    double *link_time;                    /* n_links: traffic / bandwidth */
    double *start;                        /* n_nodes: list-schedule start times (with latency) */
    double *finish;                       /* n_nodes */
} mcm_report;

typedef struct mcm_workspace mcm_workspace;
mcm_workspace *mcm_workspace_new(const mcm_problem *pr);
void mcm_workspace_free(mcm_workspace *ws);

/* Evaluate one placement (n_nodes device ids). want_latency = 0 skips the list schedule (latency = NaN). */
int mcm_evaluate(const mcm_problem *pr, const int32_t *placement, mcm_workspace *ws, int want_latency,
                 mcm_report *out);

/* Evaluate `batch` placements (row-major batch x n_nodes) on n_threads POSIX threads (<= 0: 1). Any output may
 * be NULL: interval[batch], latency[batch] (computed only when non-NULL), violations[batch * MCM_N_VIOLATIONS].
 * On MCM_ERR_PLACEMENT, *bad_row and *bad_node name the first offending entry. */
int mcm_evaluate_batch(const mcm_problem *pr, const int32_t *placements, int64_t batch, int n_threads,
                       double *interval, double *latency, int64_t *violations, int64_t *bad_row,
                       int32_t *bad_node);

/* ---------------------------------------------------------------------------------------------------------------
 * Incremental evaluator: single-node moves in O(degree + K + route length * log links).
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct mcm_incremental mcm_incremental;
int mcm_incremental_new(mcm_incremental **out, const mcm_problem *pr, const int32_t *placement);
void mcm_incremental_free(mcm_incremental *inc);
/* Move node to device; returns MCM_OK or MCM_ERR_ARG (bad node or device). */
int mcm_incremental_move(mcm_incremental *inc, int32_t node, int32_t device);
/* Undo the last move (at most one level; a second undo does nothing). */
void mcm_incremental_undo(mcm_incremental *inc);
double mcm_incremental_interval(const mcm_incremental *inc);
const int32_t *mcm_incremental_placement(const mcm_incremental *inc);
const int64_t *mcm_incremental_violations(const mcm_incremental *inc); /* MCM_N_VIOLATIONS counts */
int64_t mcm_incremental_total_violations(const mcm_incremental *inc);
/* Copy per-device compute, comm, memory (K each, any may be NULL) and per-link traffic (bytes). */
void mcm_incremental_state(const mcm_incremental *inc, double *compute, double *comm, double *memory,
                           double *traffic);


/* ---------------------------------------------------------------------------------------------------------------
 * Repair: move as few nodes as possible to make a placement valid (DESIGN.md, repair), and random valid
 * placements. A repair context (colors and co-cyclic nodes contracted into units, unit DAG, allowed devices) is
 * built once per problem and shared read-only by threads; each thread owns a workspace.
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct mcm_repair mcm_repair;
typedef struct mcm_repair_ws mcm_repair_ws;

/* Largest sum of node weights mcm_repair_new accepts (its scores are single precision). */
#define MCM_REPAIR_MAX_WEIGHT_SUM 1e30

/* Build a context for pr (which must outlive it). node_weight: NULL (every moved node costs 1) or n_nodes
 * non-negative costs of moving each node, summing to at most MCM_REPAIR_MAX_WEIGHT_SUM (else MCM_ERR_ARG).
 * Returns MCM_ERR_INFEASIBLE with the reason in err when the instance is trivially infeasible (conflicting pins
 * inside a co-location unit, a unit allowed on no device). */
int mcm_repair_new(mcm_repair **out, const mcm_problem *pr, const double *node_weight, char *err, size_t err_len);
void mcm_repair_free(mcm_repair *rp);
/* The scoring pass this context uses: 2 = AVX-512 (x86-64 processors that have it, K <= 64, no pins or support
 * limits; the environment variable MCM_NO_AVX512 at context creation turns it off), 3 = AVX2 (else, when the
 * processor has it, K <= 16, no pins, support limits or max_skip; MCM_NO_AVX2 turns it off), 1 = SSE2, 0 = portable
 * C. All give the same placements. */
int mcm_repair_simd(const mcm_repair *rp);
mcm_repair_ws *mcm_repair_ws_new(const mcm_repair *rp);
void mcm_repair_ws_free(mcm_repair_ws *ws);

/* Heuristic repair of one placement. Writes out (n_nodes; may alias nothing) and the number / weighted cost of
 * changed nodes. A valid placement comes back unchanged. Returns MCM_OK when out is valid, MCM_ERR_INFEASIBLE
 * when the heuristic found no valid placement (out is then its best effort: NOT a proof of infeasibility),
 * MCM_ERR_PLACEMENT on a device id outside [0, n_devices). */
int mcm_repair_run(const mcm_repair *rp, mcm_repair_ws *ws, const int32_t *in, int32_t *out, int64_t *moved,
                   double *moved_weight);

/* Repair `batch` placements (row-major) on n_threads POSIX threads; per-row status, moved and moved_weight
 * (each may be NULL). Returns MCM_OK, or MCM_ERR_NOMEM. */
int mcm_repair_batch(const mcm_repair *rp, const int32_t *in, int64_t batch, int n_threads, int32_t *out,
                     int32_t *status, int64_t *moved, double *moved_weight);

/* n random valid placements (row-major n x n_nodes): a random topological order of the units cut at random
 * points into pipeline stages, then repaired. Row b depends only on (seed, b), whatever n_threads. status[b]
 * (may be NULL) is MCM_OK or MCM_ERR_INFEASIBLE (no valid placement found for that row). */
int mcm_random_valid(const mcm_repair *rp, uint64_t seed, int64_t n, int n_threads, int32_t *out,
                     int32_t *status);

/* ---------------------------------------------------------------------------------------------------------------
 * Simulated annealing over the incremental evaluator (DESIGN.md, search). The run is resumable: call
 * mcm_anneal_run repeatedly with consecutive slices of the schedule (fraction of the budget used), which lets the
 * caller show progress, honour a wall-clock budget and stop on an interrupt between slices.
 * ------------------------------------------------------------------------------------------------------------- */
typedef struct {
    double t_start;      /* start temperature, relative to the start interval */
    double t_end;        /* end temperature, relative to the start interval */
    double beta;         /* soft-max sharpness of the energy (loads scaled by the start interval); 0 = bare max */
    double penalty;      /* energy per constraint violation, relative to the start interval */
    double p_block;      /* probability of a block move (a node with its same-device descendants or ancestors) */
    double p_swap;       /* probability of a swap of two nodes on adjacent devices */
    int32_t block_limit; /* largest block moved at once */
    int objective;       /* 0: interval, 1: latency (full evaluation per move) */
    uint64_t seed;
} mcm_anneal_params;

void mcm_anneal_defaults(mcm_anneal_params *prm);

typedef struct mcm_anneal mcm_anneal;
int mcm_anneal_new(mcm_anneal **out, const mcm_problem *pr, const int32_t *start, const mcm_anneal_params *prm);
void mcm_anneal_free(mcm_anneal *an);
/* Run `iters` proposals with the temperature going geometrically along the schedule from fraction f0 to f1. */
int mcm_anneal_run(mcm_anneal *an, int64_t iters, double f0, double f1);
/* Best valid objective value found so far (INFINITY when none) and its placement (n_nodes, may be NULL). */
double mcm_anneal_best(const mcm_anneal *an, int32_t *placement);
int64_t mcm_anneal_evals(const mcm_anneal *an);
int64_t mcm_anneal_accepted(const mcm_anneal *an);
/* Objective value of the current state (may be invalid), and its total violations. */
double mcm_anneal_current(const mcm_anneal *an, int64_t *violations);

#ifdef __cplusplus
}
#endif
#endif /* MCM_H */

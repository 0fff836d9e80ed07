/* repair.c -- heuristic constraint repair and random valid placements (DESIGN.md, repair).
 *
 * Nodes that must share a device (a color, or a cycle that colors create in the graph) are contracted into
 * units once per problem, numbered in a topological order of the unit DAG (every pass walks them by index,
 * forward or backward, so rows and fields stream through the cache). A repair then works on pipeline positions of
 * units:
 *   1. candidate: each unit's majority device; a valid candidate is returned unchanged;
 *   2. device order: the package's pipeline order (ordered), or for acyclic a topological order of the
 *      candidate's device graph (greedy feedback-arc removal when it has cycles), so acyclic becomes ordered;
 *   3. bounds: the least/greatest positions that pins, support and max_skip allow (difference constraints);
 *   4. scores: a forward and a backward dynamic program count how many units can keep their candidate when
 *      this unit sits at each position (a longest-non-decreasing-subsequence generalised to DAGs, each unit's
 *      value shared among its neighbours so reconvergent paths do not blow it up);
 *   5. assignment in reverse topological order, fused with the backward pass: the best-scoring position inside
 *      the window the assigned successors (and, with max_skip, the co-successors of the predecessors) leave
 *      open, preferring (capacity) a position that fits and leaves room below for the units still to come;
 *   6. capacity: units at the boundary of an overfull stage move to the next / previous stage;
 *   7. all_used: an empty stage takes a boundary unit from a neighbour;
 *   8. displaced units return to their candidate wherever every constraint still holds.
 * The result is checked; if it is not valid the caller learns so (the exact CP-SAT engine can take over). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcm_internal.h"

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <emmintrin.h>
#define MCM_REPAIR_SSE2 1
#else
#define MCM_REPAIR_SSE2 0
#endif

/* An AVX-512 path (GCC/Clang on x86-64, chosen at run time when the processor has it). */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(MCM_NO_AVX512)
#include <immintrin.h>
#define MCM_REPAIR_AVX512 1
#else
#define MCM_REPAIR_AVX512 0
#endif

/* An AVX2 path for up to 16 positions (the same compilers; chosen at run time when AVX-512 is not there). */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(MCM_NO_AVX2)
#include <immintrin.h>
#define MCM_REPAIR_AVX2 1
#else
#define MCM_REPAIR_AVX2 0
#endif

struct mcm_repair {
    const mcm_problem *pr;
    int32_t N, K, U;
    int32_t *unit_of;            /* N */
    int32_t *mem_ptr, *mem;      /* U + 1, N: members of each unit */
    int32_t *succ_ptr, *succ;    /* unit DAG (forward edges only, deduplicated) */
    int32_t *succ_src;           /* the source unit of each entry of succ (the edges as one flat list) */
    int32_t *pred_ptr, *pred;
    double *uweight;             /* U: weight bytes */
    double total_uweight;        /* their sum (in unit order: the value each run's bookkeeping starts from) */
    double *ncost;               /* N: cost of moving each node */
    int unit_cost;               /* every node costs 1 to move: the weighted count is the count */
    uint8_t *dev_ok;             /* U * K: allowed devices (support, pins) */
    uint8_t *df;                 /* U: takes part in the dataflow constraint */
    float *inv_out, *inv_in;     /* U: 1 / out-degree, 1 / in-degree in the unit DAG (0 when none) */
    int32_t *bal;                /* U: balanced position (the topological order cut into K equal-weight stages) */
    int plain;                   /* every unit may use every device (no pins / support limits) */
    int singletons;              /* every unit is one node (no colors, no contracted cycles) */
    int32_t n_free, *free_units; /* units without dataflow edges */
    int avx512;                  /* use the AVX-512 scoring pass (plain, K <= 64, processor support) */
    int avx2;                    /* else the AVX2 one (plain, K <= 16, no max_skip, processor support) */
    int dataflow, skip, capacity, all_used;
};

struct mcm_repair_ws {
    int32_t *pos_dev, *dev_pos;  /* K */
    int32_t *cdev, *c, *f, *L, *H, *dlo, *dhi; /* U */
    int32_t *next, *prev, *head, *tail, *cnt;  /* U, U, K, K, K */
    float *fw, *pm;              /* U * K, U * K: forward sums, prefix (then suffix) maxima of the scores */
    double *load, *acc;          /* K, K */
    double *part;                /* 4 * K: partial stage loads of check_units */
    double *ukeep;               /* U: cost of moving each unit off its candidate */
    int32_t *pair;               /* K * K (acyclic, K <= MCM_REPAIR_DENSE_K) */
    double *inw, *rank_sum;      /* K, K */
    int32_t *taken, *ready, *indeg; /* K, U, U */
    int32_t *cand;               /* N (random_valid) */
    float *row, *sc;             /* K, K: backward sums and scores of the unit being assigned */
    int32_t *lvl;                /* K: eligibility level of each position for that unit */
    uint8_t *maybe;              /* U: the assigned neighbours left the unit's candidate open */
    int maybe_ok;                /* maybe is current (the assignment ran and nothing rewrote f wholesale) */
    uint64_t *bm;                /* 2 * ceil(U / 64): units to check this round / next round */
    int32_t *chain_next;         /* 2 * U: units waiting for room at their candidate / for a unit at their stage */
    int32_t *cap_head, *use_head; /* K, K: heads of those chains */
    uint8_t *in_chain;           /* 2 * U */
    float *fw_raw;               /* allocation behind fw (rows aligned to 64 bytes) */
};

#define MCM_REPAIR_DENSE_K 1024

static void set_err(char *err, size_t len, const char *msg) {
    if (err && len) snprintf(err, len, "%s", msg);
}

static int32_t uf_find(int32_t *parent, int32_t x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

int mcm_repair_simd(const mcm_repair *rp) {
    if (rp->avx512) return 2;
    if (rp->avx2) return 3;
    return (MCM_REPAIR_SSE2 && (rp->K & 3) == 0) ? 1 : 0;
}

void mcm_repair_free(mcm_repair *rp) {
    if (!rp) return;
    free(rp->unit_of);
    free(rp->mem_ptr);
    free(rp->mem);
    free(rp->succ_ptr);
    free(rp->succ);
    free(rp->succ_src);
    free(rp->pred_ptr);
    free(rp->pred);
    free(rp->uweight);
    free(rp->ncost);
    free(rp->dev_ok);
    free(rp->df);
    free(rp->inv_out);
    free(rp->bal);
    free(rp->free_units);
    free(rp);
}

/* Unit edges (deduplicated) from the node graph; writes CSR into ptr/idx (idx may be NULL to count). */
static int64_t unit_edges(const mcm_graph *g, int32_t U, const int32_t *unit_of, const int32_t *mem_ptr,
                          const int32_t *mem, int32_t *mark, int32_t *ptr, int32_t *idx) {
    int64_t m = 0;
    for (int32_t a = 0; a < U; a++) mark[a] = -1;
    for (int32_t a = 0; a < U; a++) {
        if (ptr) ptr[a] = (int32_t)m;
        for (int32_t j = mem_ptr[a]; j < mem_ptr[a + 1]; j++) {
            int32_t i = mem[j];
            if (!mcm__forward(g, i)) continue;
            for (int32_t e = g->succ_ptr[i]; e < g->succ_ptr[i + 1]; e++) {
                int32_t s = g->succ_idx[e];
                if (!mcm__forward(g, s)) continue;
                int32_t b = unit_of[s];
                if (b == a || mark[b] == a) continue;
                mark[b] = a;
                if (idx) idx[m] = b;
                m++;
            }
        }
    }
    if (ptr) ptr[U] = (int32_t)m;
    return m;
}

/* Members CSR for a unit map with U units. */
static int members_of(int32_t N, int32_t U, const int32_t *unit_of, int32_t **mem_ptr, int32_t **mem) {
    *mem_ptr = (int32_t *)calloc((size_t)U + 1, sizeof(int32_t));
    *mem = (int32_t *)malloc(sizeof(int32_t) * ((size_t)N + 1));
    if (!*mem_ptr || !*mem) return MCM_ERR_NOMEM;
    for (int32_t i = 0; i < N; i++) (*mem_ptr)[unit_of[i] + 1]++;
    for (int32_t a = 0; a < U; a++) (*mem_ptr)[a + 1] += (*mem_ptr)[a];
    int32_t *fill = (int32_t *)malloc(sizeof(int32_t) * ((size_t)U + 1));
    if (!fill) return MCM_ERR_NOMEM;
    memcpy(fill, *mem_ptr, sizeof(int32_t) * (size_t)U);
    for (int32_t i = 0; i < N; i++) (*mem)[fill[unit_of[i]]++] = i;
    free(fill);
    return MCM_OK;
}

int mcm_repair_new(mcm_repair **out, const mcm_problem *pr, const double *node_weight, char *err, size_t err_len) {
    *out = NULL;
    const mcm_graph *g = pr->g;
    const mcm_package *p = pr->p;
    const int32_t N = g->n_nodes, K = p->n_devices;
    mcm_repair *rp = (mcm_repair *)calloc(1, sizeof(mcm_repair));
    if (!rp) return MCM_ERR_NOMEM;
    rp->pr = pr;
    rp->N = N;
    rp->K = K;
    rp->dataflow = pr->cons.dataflow;
    rp->skip = (pr->cons.dataflow == MCM_DATAFLOW_ORDERED && pr->cons.max_skip > 0 && pr->cons.max_skip < K)
                   ? pr->cons.max_skip
                   : K;
    rp->capacity = pr->cons.capacity;
    rp->unit_cost = 1;
    rp->all_used = pr->cons.all_used;
    if (node_weight) {
        /* the scoring passes sum moving costs in single precision: a sum past FLT_MAX would turn to inf and NaN */
        double total = 0.0;
        for (int32_t i = 0; i < N; i++) {
            const double w = node_weight[i];
            if (!(w >= 0.0 && w <= MCM_REPAIR_MAX_WEIGHT_SUM)) {
                set_err(err, err_len, "node weights must be finite, non-negative numbers of at most 1e30");
                free(rp);
                return MCM_ERR_ARG;
            }
            total += w;
        }
        if (!(total <= MCM_REPAIR_MAX_WEIGHT_SUM)) {
            set_err(err, err_len, "node weights sum past 1e30: the repair scores in single precision; scale them down");
            free(rp);
            return MCM_ERR_ARG;
        }
    }
    int status = MCM_ERR_NOMEM;
    int32_t *parent = (int32_t *)malloc(sizeof(int32_t) * ((size_t)N + 1));
    int32_t *pre = (int32_t *)malloc(sizeof(int32_t) * ((size_t)N + 1));
    int32_t *mark = (int32_t *)malloc(sizeof(int32_t) * ((size_t)N + 1));
    int32_t *pmem_ptr = NULL, *pmem = NULL, *eptr = NULL, *eidx = NULL, *pa = NULL, *comp = NULL, *scratch = NULL;
    int32_t *topo = NULL, *rank = NULL, *sp = NULL, *pp = NULL, *sx = NULL, *px = NULL;
    if (!parent || !pre || !mark) goto fail;
    /* 1. colors: union-find. */
    for (int32_t i = 0; i < N; i++) parent[i] = i;
    if (pr->cons.colors && g->color) {
        for (int32_t c = 0; c < g->n_colors; c++) {
            int32_t a = uf_find(parent, g->color_members[g->color_ptr[c]]);
            for (int32_t j = g->color_ptr[c] + 1; j < g->color_ptr[c + 1]; j++) {
                int32_t b = uf_find(parent, g->color_members[j]);
                if (a != b) parent[b] = a;
            }
        }
    }
    int32_t P = 0;
    for (int32_t i = 0; i < N; i++) pre[i] = -1;
    for (int32_t i = 0; i < N; i++) {
        int32_t r = uf_find(parent, i);
        if (pre[r] < 0) pre[r] = P++;
    }
    for (int32_t i = 0; i < N; i++) mark[i] = pre[uf_find(parent, i)];
    memcpy(pre, mark, sizeof(int32_t) * (size_t)N); /* pre[i]: pre-unit of node i */
    if (members_of(N, P, pre, &pmem_ptr, &pmem) != MCM_OK) goto fail;
    /* 2. with dataflow, cycles among pre-units (colors can create them) must share a device: contract SCCs. */
    int32_t *unit_of = (int32_t *)malloc(sizeof(int32_t) * ((size_t)N + 1));
    rp->unit_of = unit_of;
    if (!unit_of) goto fail;
    int32_t U = P;
    if (rp->dataflow != MCM_DATAFLOW_NONE && P > 0) {
        eptr = (int32_t *)malloc(sizeof(int32_t) * ((size_t)P + 1));
        if (!eptr) goto fail;
        int64_t M = unit_edges(g, P, pre, pmem_ptr, pmem, mark, NULL, NULL);
        eidx = (int32_t *)malloc(sizeof(int32_t) * ((size_t)M + 1));
        pa = (int32_t *)malloc(sizeof(int32_t) * ((size_t)M + 1));
        comp = (int32_t *)malloc(sizeof(int32_t) * ((size_t)P + 1));
        scratch = (int32_t *)malloc(sizeof(int32_t) * (6 * (size_t)P + (size_t)M + 1));
        if (!eidx || !pa || !comp || !scratch) goto fail;
        unit_edges(g, P, pre, pmem_ptr, pmem, mark, eptr, eidx);
        for (int32_t a = 0; a < P; a++) {
            for (int32_t e = eptr[a]; e < eptr[a + 1]; e++) pa[e] = a;
        }
        U = mcm__scc_pairs(P, (int32_t)M, pa, eidx, comp, scratch);
        for (int32_t i = 0; i < N; i++) unit_of[i] = comp[pre[i]];
    } else {
        memcpy(unit_of, pre, sizeof(int32_t) * (size_t)N);
    }
    rp->U = U;
    if (members_of(N, U, unit_of, &rp->mem_ptr, &rp->mem) != MCM_OK) goto fail;
    /* 3. unit DAG, topological order (Kahn, smallest id first among the ready is not needed: FIFO). */
    rp->succ_ptr = (int32_t *)malloc(sizeof(int32_t) * ((size_t)U + 1));
    rp->pred_ptr = (int32_t *)calloc((size_t)U + 1, sizeof(int32_t));
    topo = (int32_t *)malloc(sizeof(int32_t) * ((size_t)U + 1));
    rank = (int32_t *)malloc(sizeof(int32_t) * ((size_t)U + 1));
    rp->uweight = (double *)calloc((size_t)U + 1, sizeof(double));
    rp->ncost = (double *)malloc(sizeof(double) * ((size_t)N + 1));
    rp->dev_ok = (uint8_t *)malloc((size_t)U * (size_t)K + 1);
    rp->df = (uint8_t *)calloc((size_t)U + 1, 1);
    if (!rp->succ_ptr || !rp->pred_ptr || !topo || !rank || !rp->uweight || !rp->ncost || !rp->dev_ok || !rp->df)
        goto fail;
    int64_t M = 0;
    if (rp->dataflow != MCM_DATAFLOW_NONE) M = unit_edges(g, U, unit_of, rp->mem_ptr, rp->mem, mark, NULL, NULL);
    rp->succ = (int32_t *)malloc(sizeof(int32_t) * ((size_t)M + 1));
    rp->pred = (int32_t *)malloc(sizeof(int32_t) * ((size_t)M + 1));
    rp->succ_src = (int32_t *)malloc(sizeof(int32_t) * ((size_t)M + 1));
    if (!rp->succ || !rp->pred || !rp->succ_src) goto fail;
    if (rp->dataflow != MCM_DATAFLOW_NONE) {
        unit_edges(g, U, unit_of, rp->mem_ptr, rp->mem, mark, rp->succ_ptr, rp->succ);
    } else {
        for (int32_t a = 0; a <= U; a++) rp->succ_ptr[a] = 0;
    }
    for (int64_t e = 0; e < M; e++) rp->pred_ptr[rp->succ[e] + 1]++;
    for (int32_t a = 0; a < U; a++) rp->pred_ptr[a + 1] += rp->pred_ptr[a];
    for (int32_t a = 0; a < U; a++) mark[a] = rp->pred_ptr[a];
    for (int32_t a = 0; a < U; a++) {
        for (int32_t e = rp->succ_ptr[a]; e < rp->succ_ptr[a + 1]; e++) rp->pred[mark[rp->succ[e]]++] = a;
    }
    {
        int32_t *indeg = mark, head = 0, tail = 0;
        for (int32_t a = 0; a < U; a++) {
            indeg[a] = rp->pred_ptr[a + 1] - rp->pred_ptr[a];
            if (indeg[a] == 0) topo[tail++] = a;
        }
        while (head < tail) {
            int32_t a = topo[head++];
            for (int32_t e = rp->succ_ptr[a]; e < rp->succ_ptr[a + 1]; e++) {
                if (--indeg[rp->succ[e]] == 0) topo[tail++] = rp->succ[e];
            }
        }
        if (tail != U) {
            set_err(err, err_len, "internal error: the unit graph has a cycle after contraction");
            status = MCM_ERR_ARG;
            goto fail;
        }
        for (int32_t j = 0; j < U; j++) rank[topo[j]] = j;
    }
    /* 3b. Renumber the units in that order: unit j is the j-th in topological order, so every pass walks the units
     * by index (forward or backward) and reads and writes their rows and fields sequentially. Neighbour lists keep
     * their order (renamed), so every sum adds the same terms in the same order. */
    {
        sp = (int32_t *)malloc(sizeof(int32_t) * ((size_t)U + 1));
        pp = (int32_t *)malloc(sizeof(int32_t) * ((size_t)U + 1));
        sx = (int32_t *)malloc(sizeof(int32_t) * ((size_t)M + 1));
        px = (int32_t *)malloc(sizeof(int32_t) * ((size_t)M + 1));
        if (!sp || !pp || !sx || !px) goto fail;
        sp[0] = pp[0] = 0;
        for (int32_t j = 0; j < U; j++) {
            const int32_t a = topo[j];
            int32_t q = sp[j];
            for (int32_t e = rp->succ_ptr[a]; e < rp->succ_ptr[a + 1]; e++) sx[q++] = rank[rp->succ[e]];
            sp[j + 1] = q;
            q = pp[j];
            for (int32_t e = rp->pred_ptr[a]; e < rp->pred_ptr[a + 1]; e++) px[q++] = rank[rp->pred[e]];
            pp[j + 1] = q;
        }
        free(rp->succ_ptr);
        free(rp->succ);
        free(rp->pred_ptr);
        free(rp->pred);
        rp->succ_ptr = sp;
        rp->succ = sx;
        rp->pred_ptr = pp;
        rp->pred = px;
        sp = pp = sx = px = NULL;
        for (int32_t j = 0; j < U; j++) {
            for (int32_t e = rp->succ_ptr[j]; e < rp->succ_ptr[j + 1]; e++) rp->succ_src[e] = j;
        }
        for (int32_t i = 0; i < N; i++) unit_of[i] = rank[unit_of[i]];
        free(rp->mem_ptr);
        free(rp->mem);
        rp->mem_ptr = rp->mem = NULL;
        if (members_of(N, U, unit_of, &rp->mem_ptr, &rp->mem) != MCM_OK) goto fail;
    }
    /* 4. per unit: weight, dataflow participation, allowed devices. */
    for (int32_t i = 0; i < N; i++) {
        rp->ncost[i] = node_weight ? node_weight[i] : 1.0;
        rp->unit_cost &= rp->ncost[i] == 1.0;
        if (rp->capacity) rp->uweight[unit_of[i]] += g->weight_bytes[i];
        if (rp->dataflow != MCM_DATAFLOW_NONE && mcm__forward(g, i)) rp->df[unit_of[i]] = 1;
    }
    memset(rp->dev_ok, 1, (size_t)U * (size_t)K);
    for (int32_t a = 0; a < U; a++) {
        uint8_t *ok = rp->dev_ok + (size_t)a * K;
        int32_t pinned = -1;
        for (int32_t j = rp->mem_ptr[a]; j < rp->mem_ptr[a + 1]; j++) {
            int32_t i = rp->mem[j];
            if (pr->cons.support && g->supported) {
                for (int32_t d = 0; d < K; d++) {
                    if (mcm__unsupported(pr, i, d)) ok[d] = 0;
                }
            }
            if (pr->cons.pins && g->pin && g->pin[i] >= 0) {
                if (pinned >= 0 && pinned != g->pin[i]) {
                    if (err && err_len)
                        snprintf(err, err_len,
                                 "nodes %d and %d must share a device (same color%s) but are pinned to devices "
                                 "%d and %d",
                                 rp->mem[rp->mem_ptr[a]], i,
                                 rp->mem_ptr[a + 1] - rp->mem_ptr[a] > 1 ? " or a cycle through colors" : "",
                                 pinned, g->pin[i]);
                    status = MCM_ERR_INFEASIBLE;
                    goto fail;
                }
                pinned = g->pin[i];
            }
        }
        if (pinned >= 0) {
            for (int32_t d = 0; d < K; d++) {
                if (d != pinned) ok[d] = 0;
            }
        }
        int any = 0;
        for (int32_t d = 0; d < K; d++) any |= ok[d];
        if (!any) {
            if (err && err_len)
                snprintf(err, err_len, "node %d%s has no device it may use (support and pins exclude all %d)",
                         rp->mem[rp->mem_ptr[a]], rp->mem_ptr[a + 1] - rp->mem_ptr[a] > 1 ? " and its co-located nodes" : "",
                         K);
            status = MCM_ERR_INFEASIBLE;
            goto fail;
        }
    }
    rp->inv_out = (float *)malloc(sizeof(float) * (2 * (size_t)U + 1));
    if (!rp->inv_out) goto fail;
    rp->inv_in = rp->inv_out + U;
    rp->bal = (int32_t *)malloc(sizeof(int32_t) * ((size_t)U + 1));
    if (!rp->bal) goto fail;
    rp->total_uweight = 0.0;
    for (int32_t a = 0; a < U; a++) rp->total_uweight += rp->uweight[a];
    {
        double tot = 0.0, run = 0.0;
        for (int32_t a = 0; a < U; a++) tot += rp->uweight[a] + 1.0;
        for (int32_t a = 0; a < U; a++) {
            const double mid = run + 0.5 * (rp->uweight[a] + 1.0);
            int32_t b = (int32_t)(mid / tot * K);
            rp->bal[a] = b < 0 ? 0 : (b >= K ? K - 1 : b);
            run += rp->uweight[a] + 1.0;
        }
    }
    rp->plain = 1;
    rp->singletons = U == N;
    rp->free_units = (int32_t *)malloc(sizeof(int32_t) * ((size_t)U + 1));
    if (!rp->free_units) goto fail;
    rp->n_free = 0;
    for (int32_t a = 0; a < U; a++) {
        if (!rp->df[a]) rp->free_units[rp->n_free++] = a;
    }
    for (int32_t a = 0; a < U; a++) {
        const int32_t od = rp->succ_ptr[a + 1] - rp->succ_ptr[a], id = rp->pred_ptr[a + 1] - rp->pred_ptr[a];
        rp->inv_out[a] = od ? 1.0f / (float)od : 0.0f;
        rp->inv_in[a] = id ? 1.0f / (float)id : 0.0f;
        for (int32_t d = 0; d < K; d++) rp->plain &= rp->dev_ok[(size_t)a * K + d];
    }
#if MCM_REPAIR_AVX512
    __builtin_cpu_init();
    rp->avx512 = rp->plain && K <= 64 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                 getenv("MCM_NO_AVX512") == NULL;
#endif
#if MCM_REPAIR_AVX2
    __builtin_cpu_init();
    rp->avx2 = !rp->avx512 && rp->plain && K <= 16 && rp->skip >= K && __builtin_cpu_supports("avx2") &&
               getenv("MCM_NO_AVX2") == NULL;
#endif
    status = MCM_OK;
    *out = rp;
    rp = NULL;
fail:
    free(topo);
    free(rank);
    free(sp);
    free(pp);
    free(sx);
    free(px);
    free(parent);
    free(pre);
    free(mark);
    free(pmem_ptr);
    free(pmem);
    free(eptr);
    free(eidx);
    free(pa);
    free(comp);
    free(scratch);
    mcm_repair_free(rp);
    if (status == MCM_ERR_NOMEM) set_err(err, err_len, "out of memory");
    return status;
}

void mcm_repair_ws_free(mcm_repair_ws *ws) {
    if (!ws) return;
    free(ws->pos_dev);
    free(ws->cdev);
    free(ws->ukeep);
    free(ws->next);
    free(ws->fw_raw);
    free(ws->maybe);
    free(ws->bm);
    free(ws->chain_next);
    free(ws->cap_head);
    free(ws->in_chain);
    free(ws->load);
    free(ws->part);
    free(ws->pair);
    free(ws->cand);
    free(ws->row);
    free(ws->lvl);
    free(ws);
}

mcm_repair_ws *mcm_repair_ws_new(const mcm_repair *rp) {
    mcm_repair_ws *ws = (mcm_repair_ws *)calloc(1, sizeof(mcm_repair_ws));
    if (!ws) return NULL;
    size_t K = (size_t)rp->K, U = (size_t)rp->U, N = (size_t)rp->N;
    ws->pos_dev = (int32_t *)malloc(sizeof(int32_t) * (6 * K + 1));
    ws->cdev = (int32_t *)malloc(sizeof(int32_t) * (7 * U + 1));
    ws->ukeep = (double *)malloc(sizeof(double) * (U + 1));
    ws->next = (int32_t *)malloc(sizeof(int32_t) * (4 * U + 1));
    ws->fw_raw = (float *)malloc(sizeof(float) * (2 * U * K + K + 1 + 16));
    ws->fw = ws->fw_raw ? ws->fw_raw + ((64 - ((uintptr_t)ws->fw_raw & 63)) & 63) / sizeof(float) : NULL;
    ws->maybe = (uint8_t *)malloc(U + 1);
    ws->bm = (uint64_t *)malloc(sizeof(uint64_t) * (2 * ((U + 63) / 64) + 1));
    ws->chain_next = (int32_t *)malloc(sizeof(int32_t) * (2 * U + 1));
    ws->cap_head = (int32_t *)malloc(sizeof(int32_t) * (2 * K + 1));
    ws->in_chain = (uint8_t *)malloc(2 * U + 1);
    ws->load = (double *)malloc(sizeof(double) * (4 * K + 1));
    ws->cand = (int32_t *)malloc(sizeof(int32_t) * (N + 1));
    ws->part = (double *)malloc(sizeof(double) * (4 * K + 1));
    ws->row = (float *)malloc(sizeof(float) * (2 * K + 1));
    ws->lvl = (int32_t *)malloc(sizeof(int32_t) * (K + 1));
    if (K <= MCM_REPAIR_DENSE_K) ws->pair = (int32_t *)calloc(K * K + 1, sizeof(int32_t));
    if (!ws->pos_dev || !ws->cdev || !ws->ukeep || !ws->next || !ws->fw || !ws->maybe || !ws->bm ||
        !ws->chain_next || !ws->cap_head || !ws->in_chain || !ws->load || !ws->part || !ws->cand ||
        !ws->row ||
        !ws->lvl ||
        (K <= MCM_REPAIR_DENSE_K && !ws->pair)) {
        mcm_repair_ws_free(ws);
        return NULL;
    }
    ws->use_head = ws->cap_head + K;
    ws->dev_pos = ws->pos_dev + K;
    ws->head = ws->dev_pos + K;
    ws->tail = ws->head + K;
    ws->cnt = ws->tail + K;
    ws->taken = ws->cnt + K;
    ws->c = ws->cdev + U;
    ws->f = ws->c + U;
    ws->L = ws->f + U;
    ws->H = ws->L + U;
    ws->dlo = ws->H + U;
    ws->dhi = ws->dlo + U;
    ws->prev = ws->next + U;
    ws->ready = ws->prev + U;
    ws->indeg = ws->ready + U;
    ws->pm = ws->fw + U * K;
    ws->sc = ws->row + K;
    ws->acc = ws->load + K;
    ws->inw = ws->acc + K;
    ws->rank_sum = ws->inw + K;
    return ws;
}

/* ------------------------------------------------------------------------------------------------------------- */

static inline int pos_ok(const mcm_repair *rp, const mcm_repair_ws *ws, int32_t a, int32_t k) {
    return rp->plain || rp->dev_ok[(size_t)a * rp->K + ws->pos_dev[k]];
}

static inline double cap_at(const mcm_repair *rp, const mcm_repair_ws *ws, int32_t k) {
    return rp->pr->p->sram_bytes[ws->pos_dev[k]];
}

static inline int fits(const mcm_repair *rp, const mcm_repair_ws *ws, int32_t k, double extra) {
    return !mcm__over_capacity(ws->load[k] + extra, cap_at(rp, ws, k));
}

/* The window of positions unit v may take in the assignment: at most its assigned successors' lowest, at least
 * their highest minus max_skip, within its bounds [L, H], and (max_skip) within skip of every position its
 * predecessors' other successors already fix. Records maybe[v]: the successors leave v's candidate open. */
static inline void unit_window(const mcm_repair *rp, mcm_repair_ws *ws, int32_t v, int32_t *plo, int32_t *phi) {
    const int32_t K = rp->K, s = rp->skip;
    const int32_t *dlo = ws->dlo, *dhi = ws->dhi;
    int32_t lo = dlo[v], hi = dhi[v];
    ws->maybe[v] = (uint8_t)(lo <= ws->c[v] && ws->c[v] <= hi);
    if (ws->L[v] > lo) lo = ws->L[v];
    if (ws->H[v] < hi) hi = ws->H[v];
    if (s < K) {
        for (int32_t e = rp->pred_ptr[v]; e < rp->pred_ptr[v + 1]; e++) {
            const int32_t u = rp->pred[e];
            if (dlo[u] > lo) lo = dlo[u];
            if (dhi[u] + s < hi) hi = dhi[u] + s;
        }
    }
    *plo = lo;
    *phi = hi;
}

/* Unit v takes position best: its successors' candidates stay open only at or after it (and within the skip);
 * its predecessors' windows close above it (and, with max_skip, below best - skip). Branch-free: the
 * comparisons are data-dependent coin flips. */
static inline void unit_placed(const mcm_repair *rp, mcm_repair_ws *ws, int32_t v, int32_t best) {
    const int32_t K = rp->K, s = rp->skip;
    int32_t *dlo = ws->dlo, *dhi = ws->dhi;
    ws->f[v] = best;
    for (int32_t e = rp->succ_ptr[v]; e < rp->succ_ptr[v + 1]; e++) {
        const int32_t w = rp->succ[e], d = ws->c[w] - best;
        ws->maybe[w] &= (uint8_t)((d >= 0) & (d <= s));
    }
    if (s < K) {
        for (int32_t e = rp->pred_ptr[v]; e < rp->pred_ptr[v + 1]; e++) {
            const int32_t u = rp->pred[e], h = dhi[u], l = dlo[u], b = best - s;
            dhi[u] = h < best ? h : best;
            dlo[u] = l > b ? l : b;
        }
    } else {
        for (int32_t e = rp->pred_ptr[v]; e < rp->pred_ptr[v + 1]; e++) {
            const int32_t u = rp->pred[e], h = dhi[u];
            dhi[u] = h < best ? h : best;
        }
    }
}

/* Capacity bookkeeping of the assignment (step 5): load[k] = 0, room[k] = capacity of positions 0..k,
 * capx[k] = capacity with the contract's tolerance (fits: load + w <= capx); returns the total unit weight. */
static double capacity_setup(const mcm_repair *rp, mcm_repair_ws *ws) {
    double acc = 0.0;
    for (int32_t k = 0; k < rp->K; k++) {
        ws->load[k] = 0.0;
        acc += cap_at(rp, ws, k);
        ws->inw[k] = acc;
        ws->rank_sum[k] = cap_at(rp, ws, k) * (1.0 + 1e-9);
    }
    return rp->total_uweight; /* summed once (a chain of U dependent additions per run otherwise) */
}

/* Is the unit-level assignment f valid (dataflow under the current order, skip, allowed, capacity, all used)? */
static int check_units(const mcm_repair *rp, mcm_repair_ws *ws, const int32_t *f, int edges) {
    const int32_t U = rp->U, K = rp->K, s = rp->skip;
    /* loads summed in four interleaved partial sums (consecutive units often share a stage: one running sum
     * would be a chain of dependent read-modify-writes) */
    double *part = ws->part;
    for (int32_t k = 0; k < 4 * K; k++) part[k] = 0.0;
    for (int32_t k = 0; k < K; k++) ws->cnt[k] = 0;
    for (int32_t a = 0; a < U; a++) {
        const int32_t fa = f[a];
        if (!pos_ok(rp, ws, a, fa)) return 0;
        part[(a & 3) * K + fa] += rp->uweight[a];
        if (rp->all_used) ws->cnt[fa]++;
        for (int32_t e = rp->succ_ptr[a]; e < rp->succ_ptr[a + 1] && edges; e++) {
            const int32_t d = f[rp->succ[e]] - fa;
            if (d < 0 || d > s) return 0;
        }
    }
    for (int32_t k = 0; k < K; k++) {
        ws->load[k] = (part[k] + part[K + k]) + (part[2 * K + k] + part[3 * K + k]);
        if (rp->capacity && mcm__over_capacity(ws->load[k], cap_at(rp, ws, k))) return 0;
        if (rp->all_used && ws->cnt[k] == 0) return 0;
    }
    return 1;
}

/* Acyclic: an order of the devices in which the candidate's device graph is as forward as possible. */
static void acyclic_order(const mcm_repair *rp, mcm_repair_ws *ws) {
    const int32_t U = rp->U, K = rp->K;
    for (int32_t d = 0; d < K; d++) {
        ws->rank_sum[d] = 0.0;
        ws->cnt[d] = 0;
        ws->taken[d] = 0;
        ws->inw[d] = 0.0;
    }
    for (int32_t a = 0; a < U; a++) {
        ws->rank_sum[ws->cdev[a]] += a;
        ws->cnt[ws->cdev[a]]++;
    }
    for (int32_t d = 0; d < K; d++) ws->rank_sum[d] = ws->cnt[d] ? ws->rank_sum[d] / ws->cnt[d] : (double)U;
    int dense = ws->pair != NULL;
    if (dense) {
        for (int32_t a = 0; a < U; a++) {
            const int32_t x = ws->cdev[a];
            for (int32_t e = rp->succ_ptr[a]; e < rp->succ_ptr[a + 1]; e++) {
                const int32_t y = ws->cdev[rp->succ[e]];
                if (x != y) {
                    if (ws->pair[(size_t)x * K + y]++ == 0) ws->inw[y] += 0; /* touched */
                    ws->inw[y] += 1.0;
                }
            }
        }
    }
    /* Greedy: repeatedly take the device with the least incoming weight from the devices not yet taken
     * (0 when the remaining device graph has a source), ties to the earliest mean topological rank. */
    for (int32_t k = 0; k < K; k++) {
        int32_t best = -1;
        for (int32_t d = 0; d < K; d++) {
            if (ws->taken[d]) continue;
            if (best < 0 || ws->inw[d] < ws->inw[best] ||
                (ws->inw[d] == ws->inw[best] && ws->rank_sum[d] < ws->rank_sum[best]))
                best = d;
        }
        ws->taken[best] = 1;
        ws->pos_dev[k] = best;
        ws->dev_pos[best] = k;
        if (dense) {
            for (int32_t d = 0; d < K; d++) ws->inw[d] -= ws->pair[(size_t)best * K + d];
        }
    }
    if (dense) {
        for (int32_t a = 0; a < U; a++) {
            const int32_t x = ws->cdev[a];
            for (int32_t e = rp->succ_ptr[a]; e < rp->succ_ptr[a + 1]; e++)
                ws->pair[(size_t)x * K + ws->cdev[rp->succ[e]]] = 0;
        }
    }
}

/* Bounds L/H per unit from allowed positions, pins and edges (difference constraints, iterated with skip). */
static int unit_bounds(const mcm_repair *rp, mcm_repair_ws *ws) {
    const int32_t U = rp->U, K = rp->K, s = rp->skip;
    int32_t *L = ws->L, *H = ws->H;
    for (int32_t a = 0; a < U; a++) {
        int32_t lo = 0, hi = K - 1;
        while (lo < K && !pos_ok(rp, ws, a, lo)) lo++;
        while (hi >= 0 && !pos_ok(rp, ws, a, hi)) hi--;
        L[a] = lo;
        H[a] = hi;
    }
    for (int round = 0; round < 64; round++) {
        int changed = 0;
        for (int32_t v = 0; v < U; v++) {
            int32_t lo = L[v], hi = H[v];
            for (int32_t e = rp->pred_ptr[v]; e < rp->pred_ptr[v + 1]; e++) {
                const int32_t u = rp->pred[e];
                if (L[u] > lo) lo = L[u];
                if (s < K && H[u] + s < hi) hi = H[u] + s;
            }
            while (lo <= hi && !pos_ok(rp, ws, v, lo)) lo++;
            while (hi >= lo && !pos_ok(rp, ws, v, hi)) hi--;
            if (lo != L[v] || hi != H[v]) changed = 1;
            L[v] = lo;
            H[v] = hi;
            if (lo > hi) return 0;
        }
        for (int32_t v = U - 1; v >= 0; v--) {
            int32_t lo = L[v], hi = H[v];
            for (int32_t e = rp->succ_ptr[v]; e < rp->succ_ptr[v + 1]; e++) {
                const int32_t w = rp->succ[e];
                if (H[w] < hi) hi = H[w];
                if (s < K && L[w] - s > lo) lo = L[w] - s;
            }
            while (lo <= hi && !pos_ok(rp, ws, v, lo)) lo++;
            while (hi >= lo && !pos_ok(rp, ws, v, hi)) hi--;
            if (lo != L[v] || hi != H[v]) changed = 1;
            L[v] = lo;
            H[v] = hi;
            if (lo > hi) return 0;
        }
        if (!changed || s >= K) break;
    }
    return 1;
}

/* Value of keeping unit a at position k: its moving cost when k is its candidate position. */
static inline double keep_value(const mcm_repair_ws *ws, const double *ukeep, int32_t a, int32_t k) {
    return ws->c[a] == k ? ukeep[a] : 0.0;
}

/* out[k] = sum over e in [e0, e1) of rows[idx[e]][k] * wt[idx[e]] (0 when the range is empty). Loops over a
 * K-float row with restrict pointers so that the compiler vectorises them (SSE2 baseline). */
static inline void row_sum(float *restrict out, const float *restrict base, const int32_t *idx, int32_t e0,
                           int32_t e1, const float *wt, int32_t K) {
#if MCM_REPAIR_SSE2
    if ((K & 3) == 0) {
        if (e0 == e1) {
            for (int32_t k = 0; k < K; k += 4) _mm_storeu_ps(out + k, _mm_setzero_ps());
            return;
        }
        {
            const int32_t w = idx[e0];
            const float *q = base + (size_t)w * K;
            const __m128 t = _mm_set1_ps(wt[w]);
            for (int32_t k = 0; k < K; k += 4) _mm_storeu_ps(out + k, _mm_mul_ps(_mm_loadu_ps(q + k), t));
        }
        for (int32_t e = e0 + 1; e < e1; e++) {
            const int32_t w = idx[e];
            const float *q = base + (size_t)w * K;
            const __m128 t = _mm_set1_ps(wt[w]);
            for (int32_t k = 0; k < K; k += 4)
                _mm_storeu_ps(out + k, _mm_add_ps(_mm_loadu_ps(out + k), _mm_mul_ps(_mm_loadu_ps(q + k), t)));
        }
        return;
    }
#endif
    if (e0 == e1) {
        for (int32_t k = 0; k < K; k++) out[k] = 0.0f;
        return;
    }
    {
        const int32_t w = idx[e0];
        const float *restrict q = base + (size_t)w * K;
        const float t = wt[w];
        for (int32_t k = 0; k < K; k++) out[k] = q[k] * t;
    }
    for (int32_t e = e0 + 1; e < e1; e++) {
        const int32_t w = idx[e];
        const float *restrict q = base + (size_t)w * K;
        const float t = wt[w];
        for (int32_t k = 0; k < K; k++) out[k] += q[k] * t;
    }
}

/* out[k] = max(x[k], t) for k in [a, b], x[k] elsewhere (the prefix or suffix maximum of a monotone row with a
 * spike t added at its candidate). */
static inline void spike_max(float *restrict out, const float *restrict x, float t, int32_t a, int32_t b,
                             int32_t K) {
#if MCM_REPAIR_SSE2
    if ((K & 3) == 0) {
        const __m128i am1 = _mm_set1_epi32(a - 1), bp1 = _mm_set1_epi32(b + 1), four = _mm_set1_epi32(4);
        const __m128 t4 = _mm_set1_ps(t);
        __m128i kk = _mm_set_epi32(3, 2, 1, 0);
        for (int32_t k = 0; k < K; k += 4, kk = _mm_add_epi32(kk, four)) {
            const __m128 m = _mm_castsi128_ps(_mm_and_si128(_mm_cmpgt_epi32(kk, am1), _mm_cmplt_epi32(kk, bp1)));
            const __m128 xv = _mm_loadu_ps(x + k);
            _mm_storeu_ps(out + k, _mm_or_ps(_mm_and_ps(m, _mm_max_ps(xv, t4)), _mm_andnot_ps(m, xv)));
        }
        return;
    }
#endif
    for (int32_t k = 0; k < K; k++) {
        const float xv = x[k];
        out[k] = (k >= a && k <= b && xv < t) ? t : xv;
    }
}

/* Near-best: a position whose score reaches t(m) = m - 1e-5 (1 + |m|), m the best score over the eligible
 * positions (within a relative 1e-5 of it). Every pass computes t with these float operations. */
static inline float near_threshold(float x) { return x - 1e-5f * (1.0f + fabsf(x)); }

/* The position unit v takes in its window [lo, hi] (step 5), or -1 when none is eligible. sc: forward plus
 * backward score (plus the keep value at the candidate cv); eligibility level of a position: 0 outside the
 * window or not allowed, 1 allowed, 2 fits, 3 fits and leaves room[k] >= rem below for the units still to come
 * (capacity); the highest level present is chosen, then among its positions within a relative 1e-5 of the best
 * score: the candidate, else the position nearest the balanced one bv, else the later. */
static int32_t choose_scalar(const mcm_repair *rp, mcm_repair_ws *ws, int32_t v, const float *restrict fv,
                             int32_t lo, int32_t hi, int32_t cv, int32_t bv, float kv, double wv, double rem) {
    const int32_t K = rp->K;
    const float *restrict row = ws->row;
    float *restrict sc = ws->sc;
    int32_t *restrict lvl = ws->lvl;
    const double *restrict room = ws->inw, *restrict capx = ws->rank_sum, *restrict load = ws->load;
    for (int32_t k = 0; k < K; k++) sc[k] = fv[k] + row[k];
    sc[cv] += kv;
    /* eligibility level: 0 outside the window or not allowed, 1 allowed, 2 fits, 3 fits with room below */
    if (rp->plain) {
        for (int32_t k = 0; k < K; k++) lvl[k] = (k >= lo) & (k <= hi);
    } else {
        const uint8_t *okd = rp->dev_ok + (size_t)v * K;
        for (int32_t k = 0; k < K; k++) lvl[k] = (k >= lo) & (k <= hi) & (okd[ws->pos_dev[k]] != 0);
    }
    if (rp->capacity) {
        for (int32_t k = 0; k < K; k++) {
            const int32_t fit = load[k] + wv <= capx[k], rm = room[k] >= rem;
            lvl[k] = lvl[k] * (1 + fit + (fit & rm));
        }
    }
    int32_t sel = 0;
    for (int32_t k = 0; k < K; k++) sel = lvl[k] > sel ? lvl[k] : sel;
    int32_t best = -1;
    if (sel > 0) {
        /* masked maximum on an order-preserving integer image of the floats (no NaN here) */
        int32_t mi = INT32_MIN;
        for (int32_t k = 0; k < K; k++) {
            int32_t b;
            memcpy(&b, &sc[k], sizeof b);
            b ^= (b >> 31) & 0x7fffffff;
            b = lvl[k] >= sel ? b : INT32_MIN;
            mi = b > mi ? b : mi;
        }
        mi ^= (mi >> 31) & 0x7fffffff;
        float m;
        memcpy(&m, &mi, sizeof m);
        const float thr = near_threshold(m);
        if (lvl[cv] >= sel && sc[cv] >= thr) {
            best = cv;
        } else {
            /* nearest to bv among the near-best, ties to the later: key 2 d (at or after bv), 2 d + 1 */
            int32_t bk = INT32_MAX;
            for (int32_t k = 0; k < K; k++) {
                const int32_t d = k - bv, ad = d < 0 ? -d : d;
                const int32_t key = (lvl[k] >= sel) & (sc[k] >= thr) ? 2 * ad + (d < 0) : INT32_MAX;
                bk = key < bk ? key : bk;
            }
            best = (bk & 1) ? bv - (bk >> 1) : bv + (bk >> 1);
        }
    }
    return best;
}

#if MCM_REPAIR_SSE2
/* The same choice four positions at a time (K a multiple of 4); the same result as choose_scalar. */
static int32_t choose_sse2(const mcm_repair *rp, mcm_repair_ws *ws, int32_t v, const float *restrict fv,
                           int32_t lo, int32_t hi, int32_t cv, int32_t bv, float kv, double wv, double rem) {
    const int32_t K = rp->K;
    const float *restrict row = ws->row;
    float *restrict sc = ws->sc;
    int32_t *restrict lvl = ws->lvl;
    const double *restrict room = ws->inw, *restrict capx = ws->rank_sum, *restrict load = ws->load;
    const __m128i iota = _mm_set_epi32(3, 2, 1, 0), one = _mm_set1_epi32(1);
    const __m128i lo4 = _mm_set1_epi32(lo), hi4 = _mm_set1_epi32(hi);
    const __m128d wv2 = _mm_set1_pd(wv), rem2 = _mm_set1_pd(rem);
    const uint8_t *okd = rp->plain ? NULL : rp->dev_ok + (size_t)v * K;
    const __m128i four = _mm_set1_epi32(4);
    __m128i selv = _mm_setzero_si128(), kk = iota;
    for (int32_t k = 0; k < K; k += 4, kk = _mm_add_epi32(kk, four)) {
        _mm_storeu_ps(sc + k, _mm_add_ps(_mm_loadu_ps(fv + k), _mm_loadu_ps(row + k)));
        __m128i in = _mm_andnot_si128(_mm_or_si128(_mm_cmplt_epi32(kk, lo4), _mm_cmpgt_epi32(kk, hi4)), one);
        if (okd) {
            const int32_t *pd = ws->pos_dev + k;
            in = _mm_and_si128(in, _mm_set_epi32(okd[pd[3]] != 0, okd[pd[2]] != 0, okd[pd[1]] != 0, okd[pd[0]] != 0));
        }
        __m128i l = in;
        if (rp->capacity) {
            const __m128d f0 = _mm_cmple_pd(_mm_add_pd(_mm_loadu_pd(load + k), wv2), _mm_loadu_pd(capx + k));
            const __m128d f1 = _mm_cmple_pd(_mm_add_pd(_mm_loadu_pd(load + k + 2), wv2), _mm_loadu_pd(capx + k + 2));
            const __m128d r0 = _mm_cmpge_pd(_mm_loadu_pd(room + k), rem2);
            const __m128d r1 = _mm_cmpge_pd(_mm_loadu_pd(room + k + 2), rem2);
            const __m128i fit = _mm_castps_si128(
                _mm_shuffle_ps(_mm_castpd_ps(f0), _mm_castpd_ps(f1), _MM_SHUFFLE(2, 0, 2, 0)));
            const __m128i rm = _mm_castps_si128(
                _mm_shuffle_ps(_mm_castpd_ps(r0), _mm_castpd_ps(r1), _MM_SHUFFLE(2, 0, 2, 0)));
            const __m128i fi = _mm_and_si128(in, fit); /* 1 where in and fits */
            l = _mm_add_epi32(_mm_add_epi32(in, fi), _mm_and_si128(fi, rm));
        }
        _mm_storeu_si128((__m128i *)(lvl + k), l);
        selv = _mm_max_epi16(selv, l); /* levels are 0..3 */
    }
    sc[cv] += kv;
    selv = _mm_max_epi16(selv, _mm_shuffle_epi32(selv, _MM_SHUFFLE(1, 0, 3, 2)));
    selv = _mm_max_epi16(selv, _mm_shuffle_epi32(selv, _MM_SHUFFLE(2, 3, 0, 1)));
    const int32_t sel = _mm_cvtsi128_si32(selv);
    if (sel == 0) return -1;
    const __m128i selm1 = _mm_set1_epi32(sel - 1);
    const __m128 ninf = _mm_set1_ps(-INFINITY);
    __m128 mv = ninf;
    for (int32_t k = 0; k < K; k += 4) {
        const __m128 e = _mm_castsi128_ps(_mm_cmpgt_epi32(_mm_loadu_si128((const __m128i *)(lvl + k)), selm1));
        const __m128 x = _mm_or_ps(_mm_and_ps(e, _mm_loadu_ps(sc + k)), _mm_andnot_ps(e, ninf));
        mv = _mm_max_ps(mv, x);
    }
    mv = _mm_max_ps(mv, _mm_shuffle_ps(mv, mv, _MM_SHUFFLE(1, 0, 3, 2)));
    mv = _mm_max_ps(mv, _mm_shuffle_ps(mv, mv, _MM_SHUFFLE(2, 3, 0, 1)));
    const float thr = near_threshold(_mm_cvtss_f32(mv));
    if (lvl[cv] >= sel && sc[cv] >= thr) return cv;
    const __m128 thr4 = _mm_set1_ps(thr);
    const __m128i bv4 = _mm_set1_epi32(bv), big = _mm_set1_epi32(INT32_MAX);
    __m128i bk = big, d = _mm_sub_epi32(iota, bv4);
    for (int32_t k = 0; k < K; k += 4, d = _mm_add_epi32(d, four)) {
        const __m128i sg = _mm_srai_epi32(d, 31);
        const __m128i ad = _mm_sub_epi32(_mm_xor_si128(d, sg), sg);
        const __m128i key = _mm_sub_epi32(_mm_add_epi32(ad, ad), sg); /* 2 |d| + (d < 0) */
        const __m128i e = _mm_and_si128(_mm_cmpgt_epi32(_mm_loadu_si128((const __m128i *)(lvl + k)), selm1),
                                        _mm_castps_si128(_mm_cmpge_ps(_mm_loadu_ps(sc + k), thr4)));
        const __m128i kx = _mm_or_si128(_mm_and_si128(e, key), _mm_andnot_si128(e, big));
        const __m128i lt = _mm_cmplt_epi32(kx, bk);
        bk = _mm_or_si128(_mm_and_si128(lt, kx), _mm_andnot_si128(lt, bk));
    }
    {
        __m128i o = _mm_shuffle_epi32(bk, _MM_SHUFFLE(1, 0, 3, 2)), lt = _mm_cmplt_epi32(o, bk);
        bk = _mm_or_si128(_mm_and_si128(lt, o), _mm_andnot_si128(lt, bk));
        o = _mm_shuffle_epi32(bk, _MM_SHUFFLE(2, 3, 0, 1));
        lt = _mm_cmplt_epi32(o, bk);
        bk = _mm_or_si128(_mm_and_si128(lt, o), _mm_andnot_si128(lt, bk));
    }
    const int32_t b = _mm_cvtsi128_si32(bk);
    return (b & 1) ? bv - (b >> 1) : bv + (b >> 1);
}
#endif

/* maybe[a] after an assignment without max_skip: the unit's candidate lies in the window its assigned neighbours
 * leave (at or after every predecessor, at or before every successor); one flat pass over the edges, no per-unit
 * loop ending at a data-dependent count. */
static void maybe_from_edges(const mcm_repair *rp, mcm_repair_ws *ws) {
    const int32_t *restrict c = ws->c, *restrict f = ws->f, *restrict src = rp->succ_src, *restrict dst = rp->succ;
    uint8_t *restrict maybe = ws->maybe; /* restrict: its byte stores would otherwise reload everything else */
    memset(maybe, 1, (size_t)rp->U);
    for (int32_t e = 0, ne = rp->succ_ptr[rp->U]; e < ne; e++) {
        const int32_t u = src[e], w = dst[e];
        maybe[u] &= (uint8_t)(c[u] <= f[w]);
        maybe[w] &= (uint8_t)(c[w] >= f[u]);
    }
}

#if MCM_REPAIR_AVX512
/* ------------------------------------------------------------------------------------------------------------
 * Steps 4-5 with AVX-512, for packages of up to 64 positions and units free to use every device (no pins or
 * support limits; max_skip allowed). A row of K scores is C = ceil(K / 16) registers; eligibility levels are
 * bit masks over positions. The arithmetic is the one of the SSE2 / scalar path, operation for operation (the
 * same products and sums per position, in the same order), so both give the same placement. */
#define MCM_AVX512_FN __attribute__((target("avx512f,avx512dq,bmi,lzcnt")))

static inline uint64_t bits_between(int32_t lo, int32_t hi) { /* positions lo..hi (0 <= lo, hi <= 63) */
    if (lo > hi) return 0;
    const uint64_t upto = hi >= 63 ? ~0ULL : ((1ULL << (hi + 1)) - 1);
    return upto & ~((1ULL << lo) - 1);
}

/* Nearest set bit of m (non-zero) to position b, ties to the later one. du is the distance up (64 when none:
 * tzcnt of an empty word); the part below b is shifted up to bit 62 so that lzcnt gives the distance down, and
 * 64 when it is empty. Few instructions: this runs once per unit in the assignment. */
MCM_AVX512_FN static inline int32_t nearest_bit(uint64_t m, int32_t b) {
    const int32_t du = (int32_t)_tzcnt_u64(m >> b);
    const int32_t dd = (int32_t)_lzcnt_u64((m & ((1ULL << b) - 1)) << (63 - b));
    return du <= dd ? b + du : b - dd;
}

/* sum over e in [e0, e1) of rows[idx[e]] * wt[idx[e]] into r[0..C) (zero when empty). */
__attribute__((always_inline)) MCM_AVX512_FN static inline void row_sum_avx512(__m512 *r, const float *base,
                                                                               const int32_t *idx, int32_t e0,
                                                                               int32_t e1, const float *wt,
                                                                               int32_t K, const int C) {
    /* 0 + x is x for every value here (no -0): the same sums as row_sum, which starts from the first product */
    for (int ch = 0; ch < C; ch++) r[ch] = _mm512_setzero_ps();
    for (int32_t e = e0; e < e1; e++) {
        const int32_t w = idx[e];
        const float *q = base + (size_t)w * K;
        const __m512 t = _mm512_set1_ps(wt[w]);
        for (int ch = 0; ch < C; ch++) {
            const __mmask16 mk = (ch + 1) * 16 <= K ? (__mmask16)0xFFFF : (__mmask16)((1u << (K - 16 * ch)) - 1);
            r[ch] = _mm512_add_ps(r[ch], _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, q + 16 * ch), t));
        }
    }
}

static inline __mmask16 chunk_mask(int32_t K, int ch) {
    return (ch + 1) * 16 <= K ? (__mmask16)0xFFFF : (__mmask16)((1u << (K - 16 * ch)) - 1);
}

/* Lane k of a row held in registers. */
__attribute__((always_inline)) MCM_AVX512_FN static inline float lane(const __m512 *r, int32_t k, const int C) {
    if (C == 1) return _mm512_cvtss_f32(_mm512_permutexvar_ps(_mm512_set1_epi32(k), r[0]));
    float tmp[64];
    for (int ch = 0; ch < C; ch++) _mm512_storeu_ps(tmp + 16 * ch, r[ch]);
    return tmp[k];
}

/* The monotone running maximum of a monotone row x with a spike t at position c, restricted to the window
 * [lo, hi] (-inf outside it), as the scalar masked prefix (dir > 0) or suffix (dir < 0) maximum computes it:
 * prefix: k < lo: -inf; lo <= k <= hi: max(x[k], t if lo <= c <= k); k > hi: max(x[hi], t if lo <= c <= hi).
 * suffix: k > hi: -inf; lo <= k <= hi: max(x[k], t if k <= c <= hi); k < lo: max(x[lo], t if lo <= c <= hi). */
__attribute__((always_inline)) MCM_AVX512_FN static inline void running_max(float *out, const __m512 *x, float t,
                                                                            int32_t c, int32_t lo, int32_t hi,
                                                                            int32_t K, int dir, const int C) {
    const int whole = lo == 0 && hi == K - 1;
    const int cin = c >= lo && c <= hi;
    const float edge = whole ? 0.0f : lane(x, dir > 0 ? hi : lo, C);
    const __m512 tv = _mm512_set1_ps(t), ev = _mm512_set1_ps(edge), ninf = _mm512_set1_ps(-INFINITY);
    const uint64_t inwin = bits_between(lo, hi);
    const uint64_t spike = !cin ? 0 : (dir > 0 ? bits_between(c, 63) : bits_between(0, c));
    const uint64_t beyond = dir > 0 ? (hi >= 63 ? 0 : ~0ULL << (hi + 1)) : (lo ? ((1ULL << lo) - 1) : 0);
    const uint64_t before = dir > 0 ? (lo ? ((1ULL << lo) - 1) : 0) : (hi >= 63 ? 0 : ~0ULL << (hi + 1));
    for (int ch = 0; ch < C; ch++) {
        const __mmask16 mk = chunk_mask(K, ch);
        __m512 y = x[ch];
        y = _mm512_mask_mov_ps(y, (__mmask16)(beyond >> (16 * ch)), ev);
        y = _mm512_mask_max_ps(y, (__mmask16)((spike & (inwin | beyond)) >> (16 * ch)), y, tv);
        y = _mm512_mask_mov_ps(y, (__mmask16)(before >> (16 * ch)), ninf);
        _mm512_mask_storeu_ps(out + 16 * ch, mk, y);
    }
}

/* The near-best positions of mask M (see near_threshold); 0 when M is empty. */
__attribute__((always_inline)) MCM_AVX512_FN static inline uint64_t near_best_avx512(const __m512 *sc, uint64_t M,
                                                                                     const int C) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 mx = _mm512_mask_mov_ps(ninf, (__mmask16)M, sc[0]);
    for (int ch = 1; ch < C; ch++) mx = _mm512_max_ps(mx, _mm512_mask_mov_ps(ninf, (__mmask16)(M >> (16 * ch)), sc[ch]));
    const __m512 thrv = _mm512_set1_ps(near_threshold(_mm512_reduce_max_ps(mx)));
    uint64_t near = 0;
    for (int ch = 0; ch < C; ch++)
        near |= (uint64_t)_mm512_mask_cmp_ps_mask((__mmask16)(M >> (16 * ch)), sc[ch], thrv, _CMP_GE_OQ) << (16 * ch);
    return near;
}

/* Forward pass (step 4) for C registers per row. */
__attribute__((always_inline)) MCM_AVX512_FN static inline void forward_avx512_c(const mcm_repair *rp,
                                                                                 mcm_repair_ws *ws,
                                                                                 const double *ukeep, const int C) {
    const int32_t U = rp->U, K = rp->K;
    float *fw = ws->fw, *pm = ws->pm;
    const int32_t *L = ws->L, *H = ws->H, *c = ws->c;
    for (int32_t a = 0; a < U; a++) {
        __m512 r[4];
        row_sum_avx512(r, pm, rp->pred, rp->pred_ptr[a], rp->pred_ptr[a + 1], rp->inv_out, K, C);
        float *fa = fw + (size_t)a * K;
        for (int ch = 0; ch < C; ch++) _mm512_mask_storeu_ps(fa + 16 * ch, chunk_mask(K, ch), r[ch]);
        const int32_t ca = c[a];
        const float t = lane(r, ca, C) + (float)ukeep[a];
        running_max(pm + (size_t)a * K, r, t, ca, L[a], H[a], K, 1, C);
    }
}

/* Backward pass fused with the assignment (step 5), as assign_positions / choose_sse2 do it. */
__attribute__((always_inline)) MCM_AVX512_FN static inline int backward_avx512_c(const mcm_repair *rp,
                                                                                 mcm_repair_ws *ws,
                                                                                 const double *ukeep, const int C) {
    const int32_t U = rp->U, K = rp->K;
    float *fw = ws->fw, *pm = ws->pm;
    const int32_t *L = ws->L, *H = ws->H, *c = ws->c;
    int32_t *dlo = ws->dlo, *dhi = ws->dhi;
    for (int32_t a = 0; a < U; a++) {
        dlo[a] = 0;
        dhi[a] = K - 1;
    }
    double *room = ws->inw, *capx = ws->rank_sum, *load = ws->load, rem = 0.0;
    const int cap = rp->capacity;
    if (cap) rem = capacity_setup(rp, ws);
    /* load, capacity and room stay in registers across units (a scalar store into a vector that the next unit
     * loads whole would stall on store forwarding) */
    __m512d ldv[8], cxv[8], rov[8];
    const __m512d pinf = _mm512_set1_pd(INFINITY);
    for (int d = 0; d < 2 * C; d++) {
        const __mmask8 mk = 8 * d >= K ? 0 : ((d + 1) * 8 <= K ? (__mmask8)0xFF : (__mmask8)((1u << (K - 8 * d)) - 1));
        ldv[d] = cap ? _mm512_maskz_loadu_pd(mk, load + 8 * d) : _mm512_setzero_pd();
        cxv[d] = cap ? _mm512_mask_loadu_pd(_mm512_setzero_pd(), mk, capx + 8 * d) : pinf;
        rov[d] = cap ? _mm512_maskz_loadu_pd(mk, room + 8 * d) : _mm512_setzero_pd();
    }
    int ok = 1;
    for (int32_t v = U - 1; v >= 0; v--) {
        __m512 r[4];
        row_sum_avx512(r, pm, rp->succ, rp->succ_ptr[v], rp->succ_ptr[v + 1], rp->inv_in, K, C);
        const int32_t cv = c[v], bv = rp->bal[v];
        int32_t lo, hi;
        unit_window(rp, ws, v, &lo, &hi);
        const float kv = (float)ukeep[v];
        const double wv = rp->uweight[v];
        rem -= wv;
        const uint64_t W = (hi < 0 || lo > K - 1) ? 0 : bits_between(lo < 0 ? 0 : lo, hi > K - 1 ? K - 1 : hi);
        /* scores, and the near-best positions of the whole window (independent of the capacity bookkeeping of
         * the previous unit, so this work overlaps with it) */
        __m512 sc[4];
        for (int ch = 0; ch < C; ch++) {
            const __m512 fv = _mm512_maskz_loadu_ps(chunk_mask(K, ch), fw + (size_t)v * K + 16 * ch);
            sc[ch] = _mm512_add_ps(fv, r[ch]);
            if ((cv >> 4) == ch)
                sc[ch] = _mm512_mask_add_ps(sc[ch], (__mmask16)(1u << (cv & 15)), sc[ch], _mm512_set1_ps(kv));
        }
        /* eligible positions: the highest level present (window, fits, fits with room below); every step is
         * branch-free, because the outcomes are data-dependent coin flips */
        uint64_t M = W;
        if (cap) {
            uint64_t fit = 0, rm = 0;
            const __m512d wv8 = _mm512_set1_pd(wv), rem8 = _mm512_set1_pd(rem);
            for (int d = 0; d < 2 * C; d++) {
                fit |= (uint64_t)_mm512_cmp_pd_mask(_mm512_add_pd(ldv[d], wv8), cxv[d], _CMP_LE_OQ) << (8 * d);
                rm |= (uint64_t)_mm512_cmp_pd_mask(rov[d], rem8, _CMP_GE_OQ) << (8 * d);
            }
            const uint64_t m2 = W & fit, m3 = m2 & rm;
            M = m3 ? m3 : (m2 ? m2 : W);
        }
        const uint64_t near = near_best_avx512(sc, M, C);
        /* the candidate when near-best, else the nearest to the balanced position; -1 when nothing is eligible
         * (selections by masks: a compiler would turn ternaries into unpredictable branches) */
        const int32_t nb = nearest_bit(near, bv), keep = -(int32_t)((near >> cv) & 1);
        int32_t best = ((cv & keep) | (nb & ~keep)) | -(int32_t)(M == 0);
        if (best < 0) {
            ok = 0;
            best = hi >= 0 ? (hi < K ? hi : K - 1) : 0;
        }
        unit_placed(rp, ws, v, best);
        if (cap) {
            const __m512d wv8 = _mm512_set1_pd(wv);
            const uint64_t at = 1ULL << best, from = ~0ULL << best;
            for (int d = 0; d < 2 * C; d++) {
                ldv[d] = _mm512_mask_add_pd(ldv[d], (__mmask8)(at >> (8 * d)), ldv[d], wv8);
                rov[d] = _mm512_mask_sub_pd(rov[d], (__mmask8)(from >> (8 * d)), rov[d], wv8);
            }
        }
        const float t = lane(r, cv, C) + kv;
        running_max(pm + (size_t)v * K, r, t, cv, L[v], H[v], K, -1, C);
    }
    if (cap) {
        for (int d = 0; d < 2 * C; d++) {
            const __mmask8 mk = 8 * d >= K ? 0 : ((d + 1) * 8 <= K ? (__mmask8)0xFF : (__mmask8)((1u << (K - 8 * d)) - 1));
            _mm512_mask_storeu_pd(load + 8 * d, mk, ldv[d]);
            _mm512_mask_storeu_pd(room + 8 * d, mk, rov[d]);
        }
    }
    return ok;
}

/* forward_avx512_c for at most 16 positions without max_skip (bounds [0, K - 1]: the running maximum is the
 * row with the keep spike carried from the candidate on). */
MCM_AVX512_FN static void forward_avx512_k16(const mcm_repair *rp, mcm_repair_ws *ws, const double *ukeep) {
    const int32_t U = rp->U, K = rp->K;
    const __mmask16 kmask = (__mmask16)((1u << K) - 1);
    float *fw = ws->fw, *pm = ws->pm;
    const int32_t *c = ws->c;
    for (int32_t a = 0; a < U; a++) {
        __m512 r = _mm512_setzero_ps();
        for (int32_t e = rp->pred_ptr[a]; e < rp->pred_ptr[a + 1]; e++) {
            const int32_t w = rp->pred[e];
            r = _mm512_add_ps(r, _mm512_mul_ps(_mm512_maskz_loadu_ps(kmask, pm + (size_t)w * K),
                                               _mm512_set1_ps(rp->inv_out[w])));
        }
        _mm512_mask_storeu_ps(fw + (size_t)a * K, kmask, r);
        const int32_t ca = c[a];
        const float t = _mm512_cvtss_f32(_mm512_permutexvar_ps(_mm512_set1_epi32(ca), r)) + (float)ukeep[a];
        _mm512_mask_storeu_ps(pm + (size_t)a * K, kmask,
                              _mm512_mask_max_ps(r, (__mmask16)(0xFFFFu << ca), r, _mm512_set1_ps(t)));
    }
}

/* backward_avx512_c for the common case of at most 16 positions and no max_skip: one register per row, 16-bit
 * masks, the whole range as every unit's bounds (the window is [0, lowest successor]), so fewer instructions per
 * unit; the same operations on the values, so the same placement. */
MCM_AVX512_FN static int backward_avx512_k16(const mcm_repair *rp, mcm_repair_ws *ws, const double *ukeep) {
    const int32_t U = rp->U, K = rp->K;
    const __mmask16 kmask = (__mmask16)((1u << K) - 1);
    const float *fw = ws->fw;
    float *pm = ws->pm;
    const int32_t *c = ws->c;
    int32_t *f = ws->f;
    double *room = ws->inw, *capx = ws->rank_sum, *load = ws->load, rem = 0.0;
    const int cap = rp->capacity;
    if (cap) rem = capacity_setup(rp, ws);
    const __mmask8 m0 = (__mmask8)(K >= 8 ? 0xFF : (1u << K) - 1), m1 = (__mmask8)(K > 8 ? (1u << (K - 8)) - 1 : 0);
    __m512d ld0 = _mm512_setzero_pd(), ld1 = _mm512_setzero_pd(), cx0 = _mm512_setzero_pd(),
            cx1 = _mm512_setzero_pd(), ro0 = _mm512_setzero_pd(), ro1 = _mm512_setzero_pd();
    if (cap) {
        ld0 = _mm512_maskz_loadu_pd(m0, load);
        ld1 = _mm512_maskz_loadu_pd(m1, load + 8);
        cx0 = _mm512_maskz_loadu_pd(m0, capx);
        cx1 = _mm512_maskz_loadu_pd(m1, capx + 8);
        ro0 = _mm512_maskz_loadu_pd(m0, room);
        ro1 = _mm512_maskz_loadu_pd(m1, room + 8);
    }
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    /* The previous unit's capacity update is applied one unit late: this unit's masks are computed both without
     * it (A) and with it at every position (B, the same additions the update makes), and the previous position
     * picks per lane, so the loop-carried chain is a few bit operations instead of vector arithmetic. */
    double wvp = 0.0;
    uint32_t atp = 0, fromp = 0;
    for (int32_t v = U - 1; v >= 0; v--) {
        /* the backward sum, and the window [0, hi] the assigned successors leave (one gather loop: per-unit
         * loops end at data-dependent counts, and each costs a mispredicted exit) */
        __m512 r = _mm512_setzero_ps();
        int32_t hi = K - 1;
        for (int32_t e = rp->succ_ptr[v]; e < rp->succ_ptr[v + 1]; e++) {
            const int32_t w = rp->succ[e], fq = f[w];
            r = _mm512_add_ps(r, _mm512_mul_ps(_mm512_maskz_loadu_ps(kmask, pm + (size_t)w * K),
                                               _mm512_set1_ps(rp->inv_in[w])));
            hi = fq < hi ? fq : hi;
        }
        const int32_t cv = c[v], bv = rp->bal[v];
        const float kv = (float)ukeep[v];
        const double wv = rp->uweight[v];
        rem -= wv;
        const uint32_t W = (2u << hi) - 1;
        __m512 sc = _mm512_add_ps(_mm512_maskz_loadu_ps(kmask, fw + (size_t)v * K), r);
        sc = _mm512_mask_add_ps(sc, (__mmask16)(1u << cv), sc, _mm512_set1_ps(kv));
        /* near_threshold per position, off the loop-carried chain: it is non-decreasing, so the threshold of the
         * best score is the largest threshold (exactly, in floats) */
        const __m512 thv = _mm512_sub_ps(
            sc, _mm512_mul_ps(_mm512_set1_ps(1e-5f),
                              _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_andnot_ps(_mm512_set1_ps(-0.0f), sc))));
        uint32_t M = W, MA = W;
        if (cap) {
            const __m512d wv8 = _mm512_set1_pd(wv), rem8 = _mm512_set1_pd(rem), wp8 = _mm512_set1_pd(wvp);
            const __m512d lb0 = _mm512_add_pd(ld0, wp8), lb1 = _mm512_add_pd(ld1, wp8);
            const __m512d rb0 = _mm512_sub_pd(ro0, wp8), rb1 = _mm512_sub_pd(ro1, wp8);
            const uint32_t fitA = (uint32_t)_mm512_cmp_pd_mask(_mm512_add_pd(ld0, wv8), cx0, _CMP_LE_OQ) |
                                  ((uint32_t)_mm512_cmp_pd_mask(_mm512_add_pd(ld1, wv8), cx1, _CMP_LE_OQ) << 8);
            const uint32_t fitB = (uint32_t)_mm512_cmp_pd_mask(_mm512_add_pd(lb0, wv8), cx0, _CMP_LE_OQ) |
                                  ((uint32_t)_mm512_cmp_pd_mask(_mm512_add_pd(lb1, wv8), cx1, _CMP_LE_OQ) << 8);
            const uint32_t rmA = (uint32_t)_mm512_cmp_pd_mask(ro0, rem8, _CMP_GE_OQ) |
                                 ((uint32_t)_mm512_cmp_pd_mask(ro1, rem8, _CMP_GE_OQ) << 8);
            const uint32_t rmB = (uint32_t)_mm512_cmp_pd_mask(rb0, rem8, _CMP_GE_OQ) |
                                 ((uint32_t)_mm512_cmp_pd_mask(rb1, rem8, _CMP_GE_OQ) << 8);
            /* apply the previous unit's update (exactly the lanes lb / rb computed above) */
            ld0 = _mm512_mask_mov_pd(ld0, (__mmask8)atp, lb0);
            ld1 = _mm512_mask_mov_pd(ld1, (__mmask8)(atp >> 8), lb1);
            ro0 = _mm512_mask_mov_pd(ro0, (__mmask8)fromp, rb0);
            ro1 = _mm512_mask_mov_pd(ro1, (__mmask8)(fromp >> 8), rb1);
            const uint32_t a2 = W & fitA, a3 = a2 & rmA;
            MA = a3 ? a3 : (a2 ? a2 : W);
            const uint32_t fit = (fitA & ~atp) | (fitB & atp), rm = (rmA & ~fromp) | (rmB & fromp);
            const uint32_t m2 = W & fit, m3 = m2 & rm;
            M = m3 ? m3 : (m2 ? m2 : W);
        }
        /* near-best positions of MA, the eligible positions as if the previous unit had not been placed: this does
         * not wait for the previous unit's choice; usually its placement leaves the eligible set as it is */
        const float thrA = _mm512_reduce_max_ps(_mm512_mask_mov_ps(ninf, (__mmask16)MA, thv));
        uint64_t near = _mm512_mask_cmp_ps_mask((__mmask16)MA, sc, _mm512_set1_ps(thrA), _CMP_GE_OQ);
        if (M != MA) {
            const float thr = _mm512_reduce_max_ps(_mm512_mask_mov_ps(ninf, (__mmask16)M, thv));
            near = _mm512_mask_cmp_ps_mask((__mmask16)M, sc, _mm512_set1_ps(thr), _CMP_GE_OQ);
        }
        const int32_t nb = nearest_bit(near, bv), keep = -(int32_t)((near >> cv) & 1);
        const int32_t best = (cv & keep) | (nb & ~keep); /* W holds position 0 at least: never empty */
        f[v] = best;
        wvp = wv;
        atp = 1u << best;
        fromp = 0xFFFFu << best;
        const float t = _mm512_cvtss_f32(_mm512_permutexvar_ps(_mm512_set1_epi32(cv), r)) + kv;
        _mm512_mask_storeu_ps(pm + (size_t)v * K, kmask,
                              _mm512_mask_max_ps(r, (__mmask16)((2u << cv) - 1), r, _mm512_set1_ps(t)));
    }
    maybe_from_edges(rp, ws);
    if (cap) {
        const __m512d wp8 = _mm512_set1_pd(wvp);
        ld0 = _mm512_mask_add_pd(ld0, (__mmask8)atp, ld0, wp8);
        ld1 = _mm512_mask_add_pd(ld1, (__mmask8)(atp >> 8), ld1, wp8);
        ro0 = _mm512_mask_sub_pd(ro0, (__mmask8)fromp, ro0, wp8);
        ro1 = _mm512_mask_sub_pd(ro1, (__mmask8)(fromp >> 8), ro1, wp8);
        _mm512_mask_storeu_pd(load, m0, ld0);
        _mm512_mask_storeu_pd(load + 8, m1, ld1);
        _mm512_mask_storeu_pd(room, m0, ro0);
        _mm512_mask_storeu_pd(room + 8, m1, ro1);
    }
    return 1;
}

MCM_AVX512_FN static int assign_positions_avx512(const mcm_repair *rp, mcm_repair_ws *ws, const double *ukeep) {
    switch ((rp->K + 15) >> 4) {
    case 1:
        if (rp->skip >= rp->K) {
            forward_avx512_k16(rp, ws, ukeep);
            return backward_avx512_k16(rp, ws, ukeep);
        }
        forward_avx512_c(rp, ws, ukeep, 1);
        return backward_avx512_c(rp, ws, ukeep, 1);
    case 2: forward_avx512_c(rp, ws, ukeep, 2); return backward_avx512_c(rp, ws, ukeep, 2);
    case 3: forward_avx512_c(rp, ws, ukeep, 3); return backward_avx512_c(rp, ws, ukeep, 3);
    default: forward_avx512_c(rp, ws, ukeep, 4); return backward_avx512_c(rp, ws, ukeep, 4);
    }
}
#endif

#if MCM_REPAIR_AVX2
/* ------------------------------------------------------------------------------------------------------------
 * Steps 4-5 with AVX2, for up to 16 positions without pins, support limits or max_skip (processors without
 * AVX-512): a row is two 8-lane registers, masks are bit masks as in the AVX-512 pass, the same operations on the
 * values, so the same placement; the capacity bookkeeping is applied at once (no speculation). */
#define MCM_AVX2_FN __attribute__((target("avx2")))

/* nearest_bit without BMI (bsf / bsr with explicit empty cases). */
static inline int32_t nearest_bit_avx2(uint32_t m, int32_t b) {
    const uint32_t up = m >> b, down = m & ((1u << b) - 1);
    const int32_t du = up ? __builtin_ctz(up) : 64;
    const int32_t dd = down ? b - (31 - __builtin_clz(down)) : 64;
    return du <= dd ? b + du : b - dd;
}

/* lanes k (0..7 of the half h) whose bit is set in m, as a vector mask */
__attribute__((always_inline)) MCM_AVX2_FN static inline __m256i lanes_of(uint32_t m, int h) {
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)((m >> (8 * h)) & 0xFF)), bit), bit);
}

__attribute__((always_inline)) MCM_AVX2_FN static inline uint32_t bits_of_ps(__m256 a, __m256 b) {
    return (uint32_t)_mm256_movemask_ps(a) | ((uint32_t)_mm256_movemask_ps(b) << 8);
}

__attribute__((always_inline)) MCM_AVX2_FN static inline uint32_t bits_of_pd(__m256d a, __m256d b, __m256d c,
                                                                            __m256d d) {
    return (uint32_t)_mm256_movemask_pd(a) | ((uint32_t)_mm256_movemask_pd(b) << 4) |
           ((uint32_t)_mm256_movemask_pd(c) << 8) | ((uint32_t)_mm256_movemask_pd(d) << 12);
}

/* lane k of a row (r0: lanes 0..7, r1: 8..15) */
__attribute__((always_inline)) MCM_AVX2_FN static inline float lane16(__m256 r0, __m256 r1, int32_t k) {
    float tmp[16];
    _mm256_storeu_ps(tmp, r0);
    _mm256_storeu_ps(tmp + 8, r1);
    return tmp[k];
}

/* The near-best positions of M (non-empty): scores (s0, s1) at or above the largest threshold (t0, t1) in M. */
__attribute__((always_inline)) MCM_AVX2_FN static inline uint32_t near_best_avx2(__m256 s0, __m256 s1, __m256 t0,
                                                                                __m256 t1, uint32_t M) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    const __m256 mx = _mm256_max_ps(_mm256_blendv_ps(ninf, t0, _mm256_castsi256_ps(lanes_of(M, 0))),
                                    _mm256_blendv_ps(ninf, t1, _mm256_castsi256_ps(lanes_of(M, 1))));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_shuffle_ps(m4, m4, _MM_SHUFFLE(1, 0, 3, 2)));
    m4 = _mm_max_ps(m4, _mm_shuffle_ps(m4, m4, _MM_SHUFFLE(2, 3, 0, 1)));
    const __m256 thr = _mm256_set1_ps(_mm_cvtss_f32(m4));
    return M & bits_of_ps(_mm256_cmp_ps(s0, thr, _CMP_GE_OQ), _mm256_cmp_ps(s1, thr, _CMP_GE_OQ));
}

MCM_AVX2_FN static int assign_positions_avx2(const mcm_repair *rp, mcm_repair_ws *ws, const double *ukeep) {
    const int32_t U = rp->U, K = rp->K;
    const __m256i lm0 = lanes_of((1u << K) - 1, 0), lm1 = lanes_of((1u << K) - 1, 1); /* lanes < K */
    float *fw = ws->fw, *pm = ws->pm;
    const int32_t *c = ws->c;
    int32_t *f = ws->f;
    /* forward pass (step 4), as forward_avx512_k16 */
    for (int32_t a = 0; a < U; a++) {
        __m256 r0 = _mm256_setzero_ps(), r1 = _mm256_setzero_ps();
        for (int32_t e = rp->pred_ptr[a]; e < rp->pred_ptr[a + 1]; e++) {
            const int32_t w = rp->pred[e];
            const __m256 iv = _mm256_set1_ps(rp->inv_out[w]);
            r0 = _mm256_add_ps(r0, _mm256_mul_ps(_mm256_maskload_ps(pm + (size_t)w * K, lm0), iv));
            r1 = _mm256_add_ps(r1, _mm256_mul_ps(_mm256_maskload_ps(pm + (size_t)w * K + 8, lm1), iv));
        }
        _mm256_maskstore_ps(fw + (size_t)a * K, lm0, r0);
        _mm256_maskstore_ps(fw + (size_t)a * K + 8, lm1, r1);
        const int32_t ca = c[a];
        const __m256 t = _mm256_set1_ps(lane16(r0, r1, ca) + (float)ukeep[a]);
        const uint32_t from = 0xFFFFu << ca;
        _mm256_maskstore_ps(pm + (size_t)a * K, lm0, _mm256_blendv_ps(r0, _mm256_max_ps(r0, t),
                                                                      _mm256_castsi256_ps(lanes_of(from, 0))));
        _mm256_maskstore_ps(pm + (size_t)a * K + 8, lm1, _mm256_blendv_ps(r1, _mm256_max_ps(r1, t),
                                                                          _mm256_castsi256_ps(lanes_of(from, 1))));
    }
    /* backward pass fused with the assignment (step 5), as backward_avx512_k16 */
    double *room = ws->inw, *capx = ws->rank_sum, *load = ws->load, rem = 0.0;
    const int cap = rp->capacity;
    if (cap) rem = capacity_setup(rp, ws);
    /* load, capacity and room in registers across units (a scalar store that the next unit loads as a vector
     * would stall on store forwarding) */
    __m256d ldv[4], cxv[4], rov[4];
    {
        double ld[16], cx[16], ro[16];
        for (int32_t k = 0; k < 16; k++) {
            ld[k] = cap && k < K ? load[k] : 0.0;
            cx[k] = cap && k < K ? capx[k] : 0.0;
            ro[k] = cap && k < K ? room[k] : 0.0;
        }
        for (int q = 0; q < 4; q++) {
            ldv[q] = _mm256_loadu_pd(ld + 4 * q);
            cxv[q] = _mm256_loadu_pd(cx + 4 * q);
            rov[q] = _mm256_loadu_pd(ro + 4 * q);
        }
    }
    const __m256i bit4 = _mm256_setr_epi64x(1, 2, 4, 8);
    /* the previous unit's capacity update is applied one unit late, as in backward_avx512_k16 */
    double wvp = 0.0;
    uint32_t atp = 0, fromp = 0;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int32_t v = U - 1; v >= 0; v--) {
        __m256 r0 = _mm256_setzero_ps(), r1 = _mm256_setzero_ps();
        int32_t hi = K - 1;
        for (int32_t e = rp->succ_ptr[v]; e < rp->succ_ptr[v + 1]; e++) {
            const int32_t w = rp->succ[e], fq = f[w];
            const __m256 iv = _mm256_set1_ps(rp->inv_in[w]);
            r0 = _mm256_add_ps(r0, _mm256_mul_ps(_mm256_maskload_ps(pm + (size_t)w * K, lm0), iv));
            r1 = _mm256_add_ps(r1, _mm256_mul_ps(_mm256_maskload_ps(pm + (size_t)w * K + 8, lm1), iv));
            hi = fq < hi ? fq : hi;
        }
        const int32_t cv = c[v], bv = rp->bal[v];
        const float kv = (float)ukeep[v];
        const double wv = rp->uweight[v];
        rem -= wv;
        const uint32_t W = (2u << hi) - 1;
        /* scores, the keep value at the candidate added to its lane */
        const __m256 kvv = _mm256_set1_ps(kv);
        __m256 s0 = _mm256_add_ps(_mm256_maskload_ps(fw + (size_t)v * K, lm0), r0);
        __m256 s1 = _mm256_add_ps(_mm256_maskload_ps(fw + (size_t)v * K + 8, lm1), r1);
        s0 = _mm256_blendv_ps(s0, _mm256_add_ps(s0, kvv), _mm256_castsi256_ps(lanes_of(1u << cv, 0)));
        s1 = _mm256_blendv_ps(s1, _mm256_add_ps(s1, kvv), _mm256_castsi256_ps(lanes_of(1u << cv, 1)));
        const __m256 one = _mm256_set1_ps(1.0f), eps = _mm256_set1_ps(1e-5f);
        const __m256 t0 = _mm256_sub_ps(s0, _mm256_mul_ps(eps, _mm256_add_ps(one, _mm256_andnot_ps(sign, s0))));
        const __m256 t1 = _mm256_sub_ps(s1, _mm256_mul_ps(eps, _mm256_add_ps(one, _mm256_andnot_ps(sign, s1))));
        uint32_t M = W, MA = W;
        if (cap) {
            const __m256d wv4 = _mm256_set1_pd(wv), rem4 = _mm256_set1_pd(rem), wp4 = _mm256_set1_pd(wvp);
            __m256d fa[4], fb[4], ra[4], rb4[4];
            for (int q = 0; q < 4; q++) {
                const __m256d lb = _mm256_add_pd(ldv[q], wp4), rb = _mm256_sub_pd(rov[q], wp4);
                fa[q] = _mm256_cmp_pd(_mm256_add_pd(ldv[q], wv4), cxv[q], _CMP_LE_OQ);
                fb[q] = _mm256_cmp_pd(_mm256_add_pd(lb, wv4), cxv[q], _CMP_LE_OQ);
                ra[q] = _mm256_cmp_pd(rov[q], rem4, _CMP_GE_OQ);
                rb4[q] = _mm256_cmp_pd(rb, rem4, _CMP_GE_OQ);
                /* apply the previous unit's update (exactly the lanes lb / rb) */
                const __m256i a4 = _mm256_set1_epi64x((long long)((atp >> (4 * q)) & 0xF));
                const __m256i f4 = _mm256_set1_epi64x((long long)((fromp >> (4 * q)) & 0xF));
                ldv[q] = _mm256_blendv_pd(ldv[q], lb,
                                          _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(a4, bit4), bit4)));
                rov[q] = _mm256_blendv_pd(rov[q], rb,
                                          _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(f4, bit4), bit4)));
            }
            const uint32_t fitA = bits_of_pd(fa[0], fa[1], fa[2], fa[3]), fitB = bits_of_pd(fb[0], fb[1], fb[2], fb[3]);
            const uint32_t rmA = bits_of_pd(ra[0], ra[1], ra[2], ra[3]);
            const uint32_t rmB = bits_of_pd(rb4[0], rb4[1], rb4[2], rb4[3]);
            const uint32_t a2 = W & fitA, a3 = a2 & rmA;
            MA = a3 ? a3 : (a2 ? a2 : W);
            const uint32_t fit = (fitA & ~atp) | (fitB & atp), rm = (rmA & ~fromp) | (rmB & fromp);
            const uint32_t m2 = W & fit, m3 = m2 & rm;
            M = m3 ? m3 : (m2 ? m2 : W);
        }
        /* near-best positions: first of MA (as if the previous unit were not placed yet: off the loop-carried
         * chain), again of M when they differ; the largest threshold over the set (see backward_avx512_k16) */
        uint32_t near = near_best_avx2(s0, s1, t0, t1, MA);
        if (M != MA) near = near_best_avx2(s0, s1, t0, t1, M);
        const int32_t best = ((near >> cv) & 1) ? cv : nearest_bit_avx2(near, bv); /* M holds position 0 at least */
        f[v] = best;
        wvp = wv;
        atp = 1u << best;
        fromp = 0xFFFFu << best;
        /* suffix maxima of this unit's backward score, for its predecessors */
        const __m256 t = _mm256_set1_ps(lane16(r0, r1, cv) + kv);
        const uint32_t upto = (2u << cv) - 1;
        _mm256_maskstore_ps(pm + (size_t)v * K, lm0, _mm256_blendv_ps(r0, _mm256_max_ps(r0, t),
                                                                      _mm256_castsi256_ps(lanes_of(upto, 0))));
        _mm256_maskstore_ps(pm + (size_t)v * K + 8, lm1, _mm256_blendv_ps(r1, _mm256_max_ps(r1, t),
                                                                          _mm256_castsi256_ps(lanes_of(upto, 1))));
    }
    maybe_from_edges(rp, ws);
    if (cap) {
        const __m256d wp4 = _mm256_set1_pd(wvp);
        for (int q = 0; q < 4; q++) {
            const __m256i a4 = _mm256_set1_epi64x((long long)((atp >> (4 * q)) & 0xF));
            const __m256i f4 = _mm256_set1_epi64x((long long)((fromp >> (4 * q)) & 0xF));
            ldv[q] = _mm256_blendv_pd(ldv[q], _mm256_add_pd(ldv[q], wp4),
                                      _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(a4, bit4), bit4)));
            rov[q] = _mm256_blendv_pd(rov[q], _mm256_sub_pd(rov[q], wp4),
                                      _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(f4, bit4), bit4)));
        }
        double ld[16], ro[16];
        for (int q = 0; q < 4; q++) {
            _mm256_storeu_pd(ld + 4 * q, ldv[q]);
            _mm256_storeu_pd(ro + 4 * q, rov[q]);
        }
        for (int32_t k = 0; k < K; k++) {
            load[k] = ld[k];
            room[k] = ro[k];
        }
    }
    return 1;
}
#endif

/* Steps 4-5: scores and assignment of the dataflow units. Returns 0 when a window closed.
 * Forward pass (topological order, pulled from the predecessors): fw[a][k] = sum over predecessors p of
 * pm[p][k] / outdeg(p), where pm[p] is the prefix maximum of p's forward score (fw + keep, masked to p's allowed
 * window). The backward pass runs in reverse topological order fused with the assignment: the backward sum of
 * a unit is pulled from its successors' suffix maxima (which overwrite their prefix maxima, no longer needed),
 * and the unit takes the best-scoring position in the window its assigned successors leave open, preferring a
 * position that fits and leaves room[k] >= rem below for the units still to come, else one that fits, else any
 * allowed one (capacity); among those within a relative 1e-5 of the best score: the candidate, else the
 * position nearest the balanced one, else the latest. Floats: the scores only rank positions. Every per-position
 * step is a branch-free loop over the row (eligibility levels, masked maximum, nearest by a distance key). */
static int assign_positions(const mcm_repair *rp, mcm_repair_ws *ws, const double *ukeep) {
#if MCM_REPAIR_AVX512
    if (rp->avx512) return assign_positions_avx512(rp, ws, ukeep);
#endif
#if MCM_REPAIR_AVX2
    if (rp->avx2) return assign_positions_avx2(rp, ws, ukeep);
#endif
    const int32_t U = rp->U, K = rp->K, s = rp->skip;
    float *fw = ws->fw, *pm = ws->pm;
    const int32_t *L = ws->L, *H = ws->H, *c = ws->c;
    const int plain = rp->plain && s >= K;
    for (int32_t a = 0; a < U; a++) {
        float *restrict fa = fw + (size_t)a * K;
        float *restrict pa = pm + (size_t)a * K;
        row_sum(fa, pm, rp->pred, rp->pred_ptr[a], rp->pred_ptr[a + 1], rp->inv_out, K);
        if (plain) {
            /* fa is non-decreasing (a sum of prefix maxima): its prefix maximum with the keep spike is direct */
            const int32_t ca = c[a];
            const float t = fa[ca] + (float)ukeep[a];
            spike_max(pa, fa, t, ca, K - 1, K);
        } else {
            for (int32_t k = 0; k < K; k++) pa[k] = fa[k];
            pa[c[a]] += (float)ukeep[a];
            for (int32_t k = 0; k < K; k++) {
                if (k < L[a] || k > H[a] || !pos_ok(rp, ws, a, k)) pa[k] = -INFINITY;
            }
            for (int32_t k = 1; k < K; k++) pa[k] = pa[k] > pa[k - 1] ? pa[k] : pa[k - 1];
        }
    }
    int32_t *dlo = ws->dlo, *dhi = ws->dhi;
    float *restrict row = ws->row;
    for (int32_t a = 0; a < U; a++) {
        dlo[a] = 0;
        dhi[a] = K - 1;
    }
    /* room[k]: free capacity of positions 0..k; rem: weight of the units not yet assigned (before this one) */
    double *restrict room = ws->inw, *restrict load = ws->load, rem = 0.0;
    if (rp->capacity) rem = capacity_setup(rp, ws);
    int ok = 1;
    for (int32_t v = U - 1; v >= 0; v--) {
        float *restrict pv = pm + (size_t)v * K;
        const float *restrict fv = fw + (size_t)v * K;
        row_sum(row, pm, rp->succ, rp->succ_ptr[v], rp->succ_ptr[v + 1], rp->inv_in, K);
        /* window: assigned successors (and, with skip, the co-successors of the predecessors) */
        int32_t lo, hi;
        unit_window(rp, ws, v, &lo, &hi);
        const float kv = (float)ukeep[v];
        const int32_t cv = c[v], bv = rp->bal[v];
        const double wv = rp->uweight[v];
        rem -= wv;
        int32_t best;
#if MCM_REPAIR_SSE2
        if ((K & 3) == 0)
            best = choose_sse2(rp, ws, v, fv, lo, hi, cv, bv, kv, wv, rem);
        else
#endif
            best = choose_scalar(rp, ws, v, fv, lo, hi, cv, bv, kv, wv, rem);
        if (best < 0) {
            ok = 0;
            best = hi >= 0 ? (hi < K ? hi : K - 1) : 0;
        }
        unit_placed(rp, ws, v, best);
        if (rp->capacity) {
            load[best] += wv;
            for (int32_t k = best; k < K; k++) room[k] -= wv;
        }
        /* suffix maxima of this unit's backward score, for its predecessors */
        if (plain) {
            /* row is non-increasing (a sum of suffix maxima) */
            const float t = row[cv] + kv;
            spike_max(pv, row, t, 0, cv, K);
        } else {
            for (int32_t k = 0; k < K; k++) pv[k] = row[k];
            pv[cv] += kv;
            for (int32_t k = 0; k < K; k++) {
                if (k < L[v] || k > H[v] || !pos_ok(rp, ws, v, k)) pv[k] = -INFINITY;
            }
            for (int32_t k = K - 2; k >= 0; k--) pv[k] = pv[k] > pv[k + 1] ? pv[k] : pv[k + 1];
        }
    }
    return ok;
}

/* After a window closed (max_skip): alternate forward and backward projections of the difference constraints
 * f(u) <= f(v) <= f(u) + skip until they hold (values mostly rise, like a least-fixpoint iteration). A round is
 * a function of the positions it starts from, so when a round ends where it started (a fixed point that still
 * has a closed window) no later round can succeed: give up at once. */
static int fix_windows(const mcm_repair *rp, mcm_repair_ws *ws) {
    const int32_t U = rp->U, K = rp->K, s = rp->skip;
    int32_t *f = ws->f, *prev = ws->ready; /* ready: scratch of random_one, free here */
    for (int round = 0; round < 4 * K + 8; round++) {
        int bad = 0;
        memcpy(prev, f, sizeof(int32_t) * (size_t)U);
        for (int32_t v = 0; v < U; v++) {
            int32_t lo = ws->L[v], hi = ws->H[v], mn = K;
            for (int32_t e = rp->pred_ptr[v]; e < rp->pred_ptr[v + 1]; e++) {
                const int32_t fu = f[rp->pred[e]];
                if (fu > lo) lo = fu;
                if (fu < mn) mn = fu;
            }
            if (mn < K && mn + s < hi) hi = mn + s;
            if (f[v] < lo) f[v] = lo;
            else if (f[v] > hi) f[v] = hi > lo ? hi : lo;
            if (lo > hi) bad = 1;
        }
        for (int32_t u = U - 1; u >= 0; u--) {
            int32_t lo = ws->L[u], hi = ws->H[u], mx = -1;
            for (int32_t e = rp->succ_ptr[u]; e < rp->succ_ptr[u + 1]; e++) {
                const int32_t fw = f[rp->succ[e]];
                if (fw < hi) hi = fw;
                if (fw > mx) mx = fw;
            }
            if (mx >= 0 && mx - s > lo) lo = mx - s;
            if (f[u] < lo) f[u] = lo < hi ? lo : hi;
            else if (f[u] > hi) f[u] = hi;
            if (lo > hi) bad = 1;
        }
        if (!bad) {
            for (int32_t a = 0; a < U; a++) {
                if (!pos_ok(rp, ws, a, f[a])) return 0;
            }
            return 1;
        }
        if (memcmp(prev, f, sizeof(int32_t) * (size_t)U) == 0) return 0;
    }
    return 0;
}

/* Linked lists of units per position, each in reverse topological order from head (latest first). */
static void build_lists(const mcm_repair *rp, mcm_repair_ws *ws) {
    const int32_t U = rp->U, K = rp->K;
    for (int32_t k = 0; k < K; k++) {
        ws->head[k] = ws->tail[k] = -1;
        ws->cnt[k] = 0;
        ws->load[k] = 0.0;
    }
    for (int32_t a = 0; a < U; a++) {
        const int32_t k = ws->f[a];
        ws->prev[a] = -1;
        ws->next[a] = ws->head[k];
        if (ws->head[k] >= 0) ws->prev[ws->head[k]] = a;
        else ws->tail[k] = a;
        ws->head[k] = a;
        ws->cnt[k]++;
        ws->load[k] += rp->uweight[a];
    }
}

static void list_remove(mcm_repair_ws *ws, int32_t a, int32_t k) {
    if (ws->prev[a] >= 0) ws->next[ws->prev[a]] = ws->next[a];
    else ws->head[k] = ws->next[a];
    if (ws->next[a] >= 0) ws->prev[ws->next[a]] = ws->prev[a];
    else ws->tail[k] = ws->prev[a];
}

static void move_unit(const mcm_repair *rp, mcm_repair_ws *ws, int32_t a, int32_t to, int at_head) {
    const int32_t k = ws->f[a];
    list_remove(ws, a, k);
    ws->cnt[k]--;
    ws->load[k] -= rp->uweight[a];
    if (at_head) {
        ws->prev[a] = -1;
        ws->next[a] = ws->head[to];
        if (ws->head[to] >= 0) ws->prev[ws->head[to]] = a;
        else ws->tail[to] = a;
        ws->head[to] = a;
    } else {
        ws->next[a] = -1;
        ws->prev[a] = ws->tail[to];
        if (ws->tail[to] >= 0) ws->next[ws->tail[to]] = a;
        else ws->head[to] = a;
        ws->tail[to] = a;
    }
    ws->cnt[to]++;
    ws->load[to] += rp->uweight[a];
    ws->f[a] = to;
    /* the neighbours' candidates may have opened */
    for (int32_t e = rp->pred_ptr[a]; e < rp->pred_ptr[a + 1]; e++) ws->maybe[rp->pred[e]] = 1;
    for (int32_t e = rp->succ_ptr[a]; e < rp->succ_ptr[a + 1]; e++) ws->maybe[rp->succ[e]] = 1;
}

/* Can unit a move from its position to `to` (one step) without breaking dataflow or skip? */
static int can_step(const mcm_repair *rp, const mcm_repair_ws *ws, int32_t a, int32_t to) {
    if (!pos_ok(rp, ws, a, to)) return 0;
    const int32_t s = rp->skip;
    for (int32_t e = rp->succ_ptr[a]; e < rp->succ_ptr[a + 1]; e++) {
        const int32_t d = ws->f[rp->succ[e]] - to;
        if (d < 0 || d > s) return 0;
    }
    for (int32_t e = rp->pred_ptr[a]; e < rp->pred_ptr[a + 1]; e++) {
        const int32_t d = to - ws->f[rp->pred[e]];
        if (d < 0 || d > s) return 0;
    }
    return 1;
}


/* Free units (no dataflow edges) may jump anywhere with room; the nearest allowed position wins. */
static int relocate_free(const mcm_repair *rp, mcm_repair_ws *ws, int32_t a, int need_room) {
    const int32_t K = rp->K, k0 = ws->f[a];
    for (int32_t d = 1; d < K; d++) {
        for (int side = 0; side < 2; side++) {
            const int32_t k = side ? k0 + d : k0 - d;
            if (k < 0 || k >= K || !pos_ok(rp, ws, a, k)) continue;
            if (need_room && !fits(rp, ws, k, rp->uweight[a])) continue;
            move_unit(rp, ws, a, k, 1);
            return 1;
        }
    }
    return 0;
}

/* Step 6: move boundary units off overfull stages. */
static void fix_capacity(const mcm_repair *rp, mcm_repair_ws *ws) {
    const int32_t K = rp->K;
    for (int round = 0; round < 4; round++) {
        int over = 0;
        /* Forward sweep: the latest units of stage k go to k + 1 (cascading overflow onward). */
        for (int32_t k = 0; k < K; k++) {
            if (fits(rp, ws, k, 0.0)) continue;
            int32_t a = ws->head[k];
            while (a >= 0 && !fits(rp, ws, k, 0.0)) {
                const int32_t nx = ws->next[a];
                {
                    if (!rp->df[a]) {
                        relocate_free(rp, ws, a, 1);
                    } else if (k + 1 < K && can_step(rp, ws, a, k + 1) &&
                               (round % 2 == 0 || fits(rp, ws, k + 1, rp->uweight[a]))) {
                        move_unit(rp, ws, a, k + 1, 0);
                    }
                }
                a = nx;
            }
            over |= !fits(rp, ws, k, 0.0);
        }
        if (!over) return;
        over = 0;
        /* Backward sweep: the earliest units of stage k go to k - 1. */
        for (int32_t k = K - 1; k >= 0; k--) {
            if (fits(rp, ws, k, 0.0)) continue;
            int32_t a = ws->tail[k];
            while (a >= 0 && !fits(rp, ws, k, 0.0)) {
                const int32_t pv = ws->prev[a];
                {
                    if (!rp->df[a]) {
                        relocate_free(rp, ws, a, 1);
                    } else if (k > 0 && can_step(rp, ws, a, k - 1) &&
                               (round % 2 == 0 || fits(rp, ws, k - 1, rp->uweight[a]))) {
                        move_unit(rp, ws, a, k - 1, 1);
                    }
                }
                a = pv;
            }
            over |= !fits(rp, ws, k, 0.0);
        }
        if (!over) return;
    }
}

/* Step 7: every empty stage takes a boundary unit from a neighbour that has more than one. */
static void fix_all_used(const mcm_repair *rp, mcm_repair_ws *ws) {
    const int32_t K = rp->K;
    for (int round = 0; round < 2 * K; round++) {
        int empty = 0, progress = 0;
        for (int32_t k = 0; k < K; k++) {
            if (ws->cnt[k] > 0) continue;
            empty = 1;
            int done = 0;
            if (k > 0 && ws->cnt[k - 1] > 1) {
                for (int32_t a = ws->head[k - 1]; a >= 0 && !done; a = ws->next[a]) {
                    if (can_step(rp, ws, a, k) && (!rp->capacity || fits(rp, ws, k, rp->uweight[a]))) {
                        move_unit(rp, ws, a, k, 0);
                        done = 1;
                    }
                }
            }
            if (!done && k + 1 < K && ws->cnt[k + 1] > 1) {
                for (int32_t a = ws->tail[k + 1]; a >= 0 && !done; a = ws->prev[a]) {
                    if (can_step(rp, ws, a, k) && (!rp->capacity || fits(rp, ws, k, rp->uweight[a]))) {
                        move_unit(rp, ws, a, k, 1);
                        done = 1;
                    }
                }
            }
            if (!done) {
                /* A free unit from anywhere with more than one unit. */
                for (int32_t j = 0; j < K && !done; j++) {
                    if (ws->cnt[j] < 2) continue;
                    for (int32_t a = ws->head[j]; a >= 0 && !done; a = ws->next[a]) {
                        if (!rp->df[a] && pos_ok(rp, ws, a, k) &&
                            (!rp->capacity || fits(rp, ws, k, rp->uweight[a]))) {
                            move_unit(rp, ws, a, k, 1);
                            done = 1;
                        }
                    }
                }
            }
            progress |= done;
        }
        if (!empty || !progress) return;
    }
}

static inline void bit_set(uint64_t *bm, int32_t j) { bm[j >> 6] |= 1ULL << (j & 63); }

/* Mark every unit of a chain (from head, linked through next, flagged in flag) in both bit maps, and empty it. */
static void chain_release(int32_t *head, int32_t *next, uint8_t *flag, uint64_t *cur, uint64_t *nxt) {
    for (int32_t a = *head; a >= 0; a = next[a]) {
        bit_set(cur, a);
        bit_set(nxt, a);
        flag[a] = 0;
    }
    *head = -1;
}

/* Step 8: units off their candidate go back to it wherever every constraint still holds (each return is a
 * gain, so this ends), in rounds over the topological order. A check can only change its verdict when a
 * neighbour moves (dataflow, skip), when the candidate stage loses a unit (capacity) or when the unit's stage gains
 * one (all_used); so a round visits only the units such an event touched since their last check (a bit map by
 * unit index, walked in order; units failing for room or for all_used wait in per-stage chains), and the
 * first round only the displaced units whose assigned neighbours left the candidate open (maybe). This visits
 * exactly the units whose check can succeed, in the order of full sweeps, so the result is that of full sweeps. */
static void restore_candidates(const mcm_repair *rp, mcm_repair_ws *ws) {
    const int32_t U = rp->U, K = rp->K, nw = (U + 63) >> 6;
    const int32_t *c = ws->c;
    int32_t *f = ws->f, *cnt = ws->cnt;
    double *load = ws->load;
    uint64_t *cur = ws->bm, *nxt = ws->bm + nw;
    int32_t *cnext = ws->chain_next, *unext = ws->chain_next + U;
    uint8_t *in_cap = ws->in_chain, *in_use = ws->in_chain + U;
    const int filter = ws->maybe_ok;
    for (int32_t w = 0; w < nw; w++) { /* a word at a time in a register (no read-modify-write chain) */
        uint64_t bits = 0;
        const int32_t j1 = (w + 1) * 64 < U ? (w + 1) * 64 : U;
        for (int32_t a = w * 64; a < j1; a++) {
            bits |= (uint64_t)((f[a] != c[a]) & ((!filter) | ws->maybe[a])) << (a & 63);
        }
        cur[w] = bits;
    }
    for (int32_t k = 0; k < K; k++) ws->cap_head[k] = ws->use_head[k] = -1;
    memset(ws->in_chain, 0, 2 * (size_t)U);
    for (int round = 0; round < 4; round++) {
        int changed = 0;
        memset(nxt, 0, sizeof(uint64_t) * (size_t)nw);
        for (int32_t w = 0; w < nw; w++) {
            uint64_t done = 0;
            for (;;) {
                const uint64_t x = cur[w] & ~done;
                if (!x) break;
                const int b = __builtin_ctzll(x);
                done = b == 63 ? ~0ULL : ((2ULL << b) - 1);
                const int32_t a = (w << 6) + b, k = c[a], from = f[a];
                if (from == k) continue;
                if (rp->capacity && !fits(rp, ws, k, rp->uweight[a])) {
                    if (!in_cap[a]) {
                        in_cap[a] = 1;
                        cnext[a] = ws->cap_head[k];
                        ws->cap_head[k] = a;
                    }
                    continue;
                }
                if (rp->all_used && cnt[from] == 1) {
                    if (!in_use[a]) {
                        in_use[a] = 1;
                        unext[a] = ws->use_head[from];
                        ws->use_head[from] = a;
                    }
                    continue;
                }
                if (!can_step(rp, ws, a, k)) continue;
                /* move (the same arithmetic as move_unit; the stage lists are no longer needed) */
                cnt[from]--;
                load[from] -= rp->uweight[a];
                cnt[k]++;
                load[k] += rp->uweight[a];
                f[a] = k;
                changed = 1;
                for (int32_t e = rp->pred_ptr[a]; e < rp->pred_ptr[a + 1]; e++) {
                    bit_set(cur, rp->pred[e]);
                    bit_set(nxt, rp->pred[e]);
                }
                for (int32_t e = rp->succ_ptr[a]; e < rp->succ_ptr[a + 1]; e++) {
                    bit_set(cur, rp->succ[e]);
                    bit_set(nxt, rp->succ[e]);
                }
                if (rp->capacity) chain_release(&ws->cap_head[from], cnext, in_cap, cur, nxt);
                if (rp->all_used) chain_release(&ws->use_head[k], unext, in_use, cur, nxt);
            }
        }
        if (!changed) return;
        uint64_t *t = cur;
        cur = nxt;
        nxt = t;
    }
}

int mcm_repair_run(const mcm_repair *rp, mcm_repair_ws *ws, const int32_t *in, int32_t *out, int64_t *moved,
                   double *moved_weight) {
    const int32_t N = rp->N, K = rp->K, U = rp->U;
    const mcm_package *p = rp->pr->p;
    /* 1. candidate device of each unit: its members' weighted majority (ties to the first member). */
    double *ukeep = ws->ukeep;
    if (rp->singletons) {
        uint32_t bad = 0; /* validated in the same pass, branch-free */
        for (int32_t a = 0; a < U; a++) {
            const int32_t i = rp->mem[a], d = in[i];
            bad |= (uint32_t)d >= (uint32_t)K;
            ws->cdev[a] = d;
            ukeep[a] = rp->ncost[i];
        }
        if (bad) return MCM_ERR_PLACEMENT;
    } else {
        for (int32_t i = 0; i < N; i++) {
            if (in[i] < 0 || in[i] >= K) return MCM_ERR_PLACEMENT;
        }
    }
    for (int32_t a = 0; a < U && !rp->singletons; a++) {
        const int32_t lo = rp->mem_ptr[a], hi = rp->mem_ptr[a + 1];
        if (hi - lo == 1) {
            ws->cdev[a] = in[rp->mem[lo]];
            ukeep[a] = rp->ncost[rp->mem[lo]];
            continue;
        }
        int32_t best = in[rp->mem[lo]];
        for (int32_t j = lo; j < hi; j++) ws->acc[in[rp->mem[j]]] = 0.0;
        for (int32_t j = lo; j < hi; j++) ws->acc[in[rp->mem[j]]] += rp->ncost[rp->mem[j]] + 1e-9;
        for (int32_t j = lo; j < hi; j++) {
            if (ws->acc[in[rp->mem[j]]] > ws->acc[best]) best = in[rp->mem[j]];
        }
        ws->cdev[a] = best;
        ukeep[a] = ws->acc[best];
    }
    /* 2. device order. */
    if (rp->dataflow == MCM_DATAFLOW_ACYCLIC) {
        acyclic_order(rp, ws);
    } else {
        for (int32_t d = 0; d < K; d++) {
            ws->dev_pos[d] = p->position[d];
            ws->pos_dev[p->position[d]] = d;
        }
    }
    for (int32_t a = 0; a < U; a++) ws->c[a] = ws->dev_pos[ws->cdev[a]];
    int valid = check_units(rp, ws, ws->c, 1);
    if (valid) {
        memcpy(ws->f, ws->c, sizeof(int32_t) * (size_t)U);
    } else {
        int ok = 1;
        ws->maybe_ok = 0;
        if (rp->plain && rp->skip >= K) {
            /* bounds [0, K - 1] (the 16-position AVX-512 passes do not read them) */
            for (int32_t a = 0; a < U && !((rp->avx512 || rp->avx2) && K <= 16); a++) {
                ws->L[a] = 0;
                ws->H[a] = K - 1;
            }
        } else {
            ok = unit_bounds(rp, ws);
        }
        if (ok && rp->dataflow != MCM_DATAFLOW_NONE) {
            ok = assign_positions(rp, ws, ukeep);
            ws->maybe_ok = ok;
            if (!ok && rp->skip < K) ok = fix_windows(rp, ws);
            /* Last resort: the least solution of the bounds is itself dataflow- and skip-valid. */
            if (!ok) memcpy(ws->f, ws->L, sizeof(int32_t) * (size_t)U);
        } else if (ok) {
            for (int32_t a = 0; a < U; a++) ws->f[a] = pos_ok(rp, ws, a, ws->c[a]) ? ws->c[a] : ws->L[a];
        } else {
            for (int32_t a = 0; a < U; a++) ws->f[a] = ws->c[a];
        }
        /* Stage loads: after a successful assignment, those it kept (capacity), else summed again; counts only
         * for all_used. Free units (no dataflow edges) keep their candidate when allowed. */
        const int reuse = ws->maybe_ok && rp->capacity && !rp->all_used;
        for (int32_t q = 0; q < rp->n_free; q++) {
            const int32_t a = rp->free_units[q];
            if (pos_ok(rp, ws, a, ws->c[a])) {
                if (reuse) {
                    ws->load[ws->f[a]] -= rp->uweight[a];
                    ws->load[ws->c[a]] += rp->uweight[a];
                }
                ws->f[a] = ws->c[a];
            }
        }
        if (!reuse && (rp->capacity || rp->all_used)) {
            for (int32_t k = 0; k < K; k++) {
                ws->cnt[k] = 0;
                ws->load[k] = 0.0;
            }
            for (int32_t a = 0; a < U; a++) {
                const int32_t k = ws->f[a];
                ws->cnt[k]++;
                ws->load[k] += rp->uweight[a];
            }
        }
        /* the stage lists only when a stage is over capacity or all_used is on */
        int need_lists = rp->all_used;
        for (int32_t k = 0; k < K && rp->capacity; k++) need_lists |= !fits(rp, ws, k, 0.0);
        if (need_lists) {
            build_lists(rp, ws);
            if (rp->capacity) fix_capacity(rp, ws);
            if (rp->all_used) fix_all_used(rp, ws);
        }
        restore_candidates(rp, ws);
        (void)ok; /* a closed window is not final: the later passes may still reach a valid placement */
        /* after a successful assignment every later move kept dataflow and skip (windows, can_step): only
         * devices, capacity and all_used are left to check */
        if (ws->maybe_ok && rp->plain && !rp->all_used) {
            /* ... and, without pins or support limits, only capacity: on the stage loads kept up to date */
            valid = 1;
            for (int32_t k = 0; k < K && rp->capacity; k++) valid &= !mcm__over_capacity(ws->load[k], cap_at(rp, ws, k));
        } else {
            valid = check_units(rp, ws, ws->f, !ws->maybe_ok);
        }
    }
    /* Write the placement; members of a unit that keeps its candidate device stay where they are only when the
     * unit was consistent, otherwise they join the unit's device. */
    int64_t mv = 0;
    double mw = 0.0;
    if (rp->singletons && rp->unit_cost) {
        /* the weighted count is the count (a sum of ones is exact): no floating-point chain */
        for (int32_t a = 0; a < U; a++) {
            const int32_t i = rp->mem[a], d = ws->pos_dev[ws->f[a]];
            out[i] = d;
            mv += in[i] != d;
        }
        mw = (double)mv;
    }
    for (int32_t a = 0; a < U && rp->singletons && !rp->unit_cost; a++) {
        const int32_t i = rp->mem[a], d = ws->pos_dev[ws->f[a]], off = in[i] != d;
        out[i] = d;
        mv += off;
        mw += rp->ncost[i] * (double)off;
    }
    for (int32_t a = 0; a < U && !rp->singletons; a++) {
        const int32_t d = ws->pos_dev[ws->f[a]];
        for (int32_t j = rp->mem_ptr[a]; j < rp->mem_ptr[a + 1]; j++) {
            const int32_t i = rp->mem[j];
            out[i] = d;
            const int off = in[i] != d; /* branch-free: a coin flip for random candidates */
            mv += off;
            mw += rp->ncost[i] * (double)off;
        }
    }
    if (moved) *moved = mv;
    if (moved_weight) *moved_weight = mw;
    return valid ? MCM_OK : MCM_ERR_INFEASIBLE;
}

/* ------------------------------------------------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int32_t rand_below(uint64_t *x, int32_t n) { return (int32_t)(splitmix(x) % (uint64_t)n); }

/* One random valid placement: a random topological order of the units (random choice among the ready ones)
 * cut at K - 1 random points into stages on a random device order (acyclic) or the pipeline order, each unit
 * on an allowed device, then repaired. Tries a few draws before giving up. */
static int random_one(const mcm_repair *rp, mcm_repair_ws *ws, uint64_t state, int32_t *out) {
    const int32_t U = rp->U, K = rp->K, N = rp->N;
    const mcm_package *p = rp->pr->p;
    int status = MCM_ERR_INFEASIBLE;
    for (int attempt = 0; attempt < 8 && status != MCM_OK; attempt++) {
        int32_t *order = ws->dlo, *stage = ws->dhi, *indeg = ws->indeg, *ready = ws->ready;
        int32_t nready = 0, n = 0;
        for (int32_t a = 0; a < U; a++) {
            indeg[a] = rp->pred_ptr[a + 1] - rp->pred_ptr[a];
            if (indeg[a] == 0) ready[nready++] = a;
        }
        while (nready > 0) {
            int32_t r = rand_below(&state, nready);
            int32_t a = ready[r];
            ready[r] = ready[--nready];
            order[n++] = a;
            for (int32_t e = rp->succ_ptr[a]; e < rp->succ_ptr[a + 1]; e++) {
                if (--indeg[rp->succ[e]] == 0) ready[nready++] = rp->succ[e];
            }
        }
        /* Device order: the pipeline order, or a random permutation for acyclic. */
        for (int32_t k = 0; k < K; k++) ws->pos_dev[k] = k;
        if (rp->dataflow == MCM_DATAFLOW_ACYCLIC) {
            for (int32_t k = K - 1; k > 0; k--) {
                int32_t j = rand_below(&state, k + 1), t = ws->pos_dev[k];
                ws->pos_dev[k] = ws->pos_dev[j];
                ws->pos_dev[j] = t;
            }
        } else {
            for (int32_t d = 0; d < K; d++) ws->pos_dev[p->position[d]] = d;
        }
        /* K - 1 sorted random cuts of [0, U]: counts per stage by a multinomial-free stick breaking. */
        {
            int32_t *cut = ws->taken; /* K entries */
            for (int32_t c = 0; c < K - 1; c++) cut[c] = rand_below(&state, U + 1);
            /* insertion sort: K is small */
            for (int32_t c = 1; c < K - 1; c++) {
                int32_t v = cut[c], j = c - 1;
                while (j >= 0 && cut[j] > v) {
                    cut[j + 1] = cut[j];
                    j--;
                }
                cut[j + 1] = v;
            }
            int32_t k = 0;
            for (int32_t j = 0; j < U; j++) {
                while (k < K - 1 && cut[k] <= j) k++;
                stage[order[j]] = k;
            }
        }
        for (int32_t a = 0; a < U; a++) {
            int32_t k = stage[a];
            /* nearest allowed position */
            int32_t best = -1;
            for (int32_t d = 0; d < K && best < 0; d++) {
                if (k + d < K && rp->dev_ok[(size_t)a * K + ws->pos_dev[k + d]]) best = k + d;
                else if (k - d >= 0 && rp->dev_ok[(size_t)a * K + ws->pos_dev[k - d]]) best = k - d;
            }
            const int32_t dev = ws->pos_dev[best < 0 ? k : best];
            for (int32_t j = rp->mem_ptr[a]; j < rp->mem_ptr[a + 1]; j++) ws->cand[rp->mem[j]] = dev;
        }
        (void)N;
        status = mcm_repair_run(rp, ws, ws->cand, out, NULL, NULL);
    }
    return status;
}

typedef struct {
    const mcm_repair *rp;
    const int32_t *in;
    int32_t *out, *status;
    int64_t *moved;
    double *moved_weight;
    int64_t lo, hi;
    uint64_t seed;
    int random;
    int err;
} repair_task;

static void *repair_worker(void *arg) {
    repair_task *t = (repair_task *)arg;
    const size_t N = (size_t)t->rp->N;
    mcm_repair_ws *ws = mcm_repair_ws_new(t->rp);
    if (!ws) {
        t->err = MCM_ERR_NOMEM;
        return NULL;
    }
    for (int64_t b = t->lo; b < t->hi; b++) {
        int st;
        if (t->random) {
            uint64_t state = t->seed ^ (0xD1B54A32D192ED03ULL * (uint64_t)(b + 1));
            splitmix(&state);
            st = random_one(t->rp, ws, state, t->out + (size_t)b * N);
        } else {
            int64_t mv = 0;
            double mw = 0.0;
            st = mcm_repair_run(t->rp, ws, t->in + (size_t)b * N, t->out + (size_t)b * N, &mv, &mw);
            if (t->moved) t->moved[b] = mv;
            if (t->moved_weight) t->moved_weight[b] = mw;
        }
        if (st == MCM_ERR_NOMEM) {
            t->err = st;
            break;
        }
        if (t->status) t->status[b] = st;
    }
    mcm_repair_ws_free(ws);
    return NULL;
}

static int run_tasks(repair_task proto, int64_t batch, int n_threads) {
    if (batch <= 0) return MCM_OK;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > batch) n_threads = (int)batch;
    if (n_threads > 256) n_threads = 256;
    repair_task tasks[256];
    pthread_t threads[256];
    int64_t per = batch / n_threads, extra = batch % n_threads, lo = 0;
    for (int t = 0; t < n_threads; t++) {
        tasks[t] = proto;
        tasks[t].lo = lo;
        tasks[t].hi = lo + per + (t < extra ? 1 : 0);
        tasks[t].err = MCM_OK;
        lo = tasks[t].hi;
    }
    int started = 0;
    for (int t = 1; t < n_threads; t++) {
        if (pthread_create(&threads[t], NULL, repair_worker, &tasks[t]) != 0) break;
        started = t;
    }
    repair_worker(&tasks[0]);
    for (int t = 1; t <= started; t++) pthread_join(threads[t], NULL);
    for (int t = started + 1; t < n_threads; t++) repair_worker(&tasks[t]);
    for (int t = 0; t < n_threads; t++) {
        if (tasks[t].err != MCM_OK) return tasks[t].err;
    }
    return MCM_OK;
}

int mcm_repair_batch(const mcm_repair *rp, const int32_t *in, int64_t batch, int n_threads, int32_t *out,
                     int32_t *status, int64_t *moved, double *moved_weight) {
    repair_task proto = {rp, in, out, status, moved, moved_weight, 0, 0, 0, 0, MCM_OK};
    return run_tasks(proto, batch, n_threads);
}

int mcm_random_valid(const mcm_repair *rp, uint64_t seed, int64_t n, int n_threads, int32_t *out,
                     int32_t *status) {
    repair_task proto = {rp, NULL, out, status, NULL, NULL, 0, 0, seed, 1, MCM_OK};
    return run_tasks(proto, n, n_threads);
}

/* evaluate.c -- problem set-up and full evaluation of placements (the cost model of DESIGN.md). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcm_internal.h"

/* Compute-time tables larger than this many entries are not built; times are computed on the fly instead. */
#define MCM_CT_TABLE_MAX ((size_t)1 << 25)

/* Accumulator lanes: sums over consecutive nodes/edges alternate between lanes, so a run of nodes on one device
 * does not serialise on one floating-point add chain. */
#define MCM_LANES 4

/* The out-degree bucket pass visits nodes out of id order; beyond this size its scattered placement reads fall out
 * of cache and the flat pass in id order is faster (measured: 100k nodes 1.09 vs 0.62 ms per evaluation). */
#define MCM_PORT8_MAX_NODES 50000

double mcm_compute_time(const mcm_problem *pr, int32_t i, int32_t d) {
    const mcm_graph *g = pr->g;
    const mcm_package *p = pr->p;
    if (g->latency) return g->latency[(size_t)i * (size_t)g->n_kinds + (size_t)p->kind[d]];
    double a = g->flops[i] / p->peak_flops[d];
    double b = g->mem_bytes[i] / p->mem_bw[d];
    return a > b ? a : b;
}

int mcm_problem_init(mcm_problem *pr, const mcm_graph *g, const mcm_package *p, const mcm_constraints *c,
                     int overlap) {
    memset(pr, 0, sizeof(*pr));
    pr->g = g;
    pr->p = p;
    pr->cons = *c;
    pr->overlap = p->interconnect == MCM_LINKS ? 1 : (overlap != 0);
    int32_t N = g->n_nodes, K = p->n_devices;
    if (K <= 0) {
        snprintf(pr->error, sizeof(pr->error), "the package has no devices");
        return MCM_ERR_ARG;
    }
    if (p->interconnect == MCM_PORT && !(p->bandwidth > 0)) {
        snprintf(pr->error, sizeof(pr->error), "port bandwidth must be positive, got %g", p->bandwidth);
        return MCM_ERR_ARG;
    }
    if (p->interconnect == MCM_LINKS && (!p->next_link || !p->hops || !p->route_bw)) {
        snprintf(pr->error, sizeof(pr->error), "a links package needs routing tables (mcm_routes)");
        return MCM_ERR_ARG;
    }
    for (int32_t d = 0; d < K; d++) {
        if ((g->latency || g->supported) && (p->kind[d] < 0 || p->kind[d] >= g->n_kinds)) {
            snprintf(pr->error, sizeof(pr->error),
                     "device %d has kind %d, but the graph gives latency/support for %d device kind(s)", d,
                     p->kind[d], g->n_kinds);
            return MCM_ERR_ARG;
        }
        if (!g->latency && (!(p->peak_flops[d] > 0) || !(p->mem_bw[d] > 0))) {
            snprintf(pr->error, sizeof(pr->error), "device %d needs positive peak_flops and mem_bw", d);
            return MCM_ERR_ARG;
        }
    }
    if (g->pin && c->pins) {
        for (int32_t i = 0; i < N; i++) {
            if (g->pin[i] >= K) {
                snprintf(pr->error, sizeof(pr->error),
                         "node %d is pinned to device %d, but the package has %d devices", i, g->pin[i], K);
                return MCM_ERR_ARG;
            }
        }
    }
    /* Device classes: devices whose compute times are equal for every node share a table column. */
    pr->dev_cls = (int32_t *)malloc(sizeof(int32_t) * (size_t)K);
    pr->tx = (double *)malloc(sizeof(double) * ((size_t)N + 1));
    pr->edge_src = (int32_t *)malloc(sizeof(int32_t) * ((size_t)g->n_edges + 1));
    if (!pr->dev_cls || !pr->tx || !pr->edge_src) {
        mcm_problem_free(pr);
        return MCM_ERR_NOMEM;
    }
    int32_t n_cls = 0;
    for (int32_t d = 0; d < K; d++) {
        int32_t found = -1;
        for (int32_t e = 0; e < d && found < 0; e++) {
            int same = g->latency ? p->kind[e] == p->kind[d]
                                  : (p->peak_flops[e] == p->peak_flops[d] && p->mem_bw[e] == p->mem_bw[d]);
            if (same) found = pr->dev_cls[e];
        }
        pr->dev_cls[d] = found >= 0 ? found : n_cls++;
    }
    pr->n_cls = n_cls;
    if ((size_t)N * (size_t)n_cls <= MCM_CT_TABLE_MAX) {
        pr->ct = (double *)malloc(sizeof(double) * ((size_t)N * (size_t)n_cls + 1));
        if (!pr->ct) {
            mcm_problem_free(pr);
            return MCM_ERR_NOMEM;
        }
        for (int32_t d = 0; d < K; d++) {
            int32_t k = pr->dev_cls[d];
            for (int32_t i = 0; i < N; i++) pr->ct[(size_t)i * n_cls + k] = mcm_compute_time(pr, i, d);
        }
    }
    for (int32_t u = 0; u < N; u++) {
        for (int32_t e = g->succ_ptr[u]; e < g->succ_ptr[u + 1]; e++) pr->edge_src[e] = u;
    }
    for (int32_t i = 0; i < N; i++) {
        if (p->interconnect == MCM_PORT) {
            pr->tx[i] = g->comm_time ? g->comm_time[i] : g->out_bytes[i] / p->bandwidth;
        } else {
            pr->tx[i] = g->out_bytes[i];
        }
    }
    return MCM_OK;
}

void mcm_problem_free(mcm_problem *pr) {
    free(pr->dev_cls);
    free(pr->ct);
    free(pr->tx);
    pr->dev_cls = NULL;
    pr->ct = NULL;
    pr->tx = NULL;
    free(pr->edge_src);
    pr->edge_src = NULL;
}

/* ------------------------------------------------------------------------------------------------------------- */

int32_t mcm__scc_pairs(int32_t K, int32_t P, const int32_t *pa, const int32_t *pb, int32_t *comp,
                       int32_t *scratch) {
    int32_t *ptr = scratch, *idx = ptr + K + 1, *index = idx + P, *low = index + K, *stk = low + K;
    int32_t *cs_node = stk + K, *cs_edge = cs_node + K;
    memset(ptr, 0, sizeof(int32_t) * ((size_t)K + 1));
    for (int32_t i = 0; i < P; i++) ptr[pa[i] + 1]++;
    for (int32_t v = 0; v < K; v++) ptr[v + 1] += ptr[v];
    for (int32_t v = 0; v < K; v++) index[v] = ptr[v]; /* index[] as fill cursor for now */
    for (int32_t i = 0; i < P; i++) idx[index[pa[i]]++] = pb[i];
    for (int32_t v = 0; v < K; v++) {
        index[v] = -1;
        comp[v] = -1;
    }
    int32_t counter = 0, ncomp = 0, sp = 0;
    for (int32_t r = 0; r < K; r++) {
        if (index[r] != -1) continue;
        int32_t csp = 0;
        index[r] = low[r] = counter++;
        stk[sp++] = r;
        comp[r] = -2; /* on the stack */
        cs_node[csp] = r;
        cs_edge[csp] = ptr[r];
        csp++;
        while (csp > 0) {
            int32_t v = cs_node[csp - 1];
            int32_t e = cs_edge[csp - 1];
            if (e < ptr[v + 1]) {
                cs_edge[csp - 1]++;
                int32_t w = idx[e];
                if (index[w] == -1) {
                    index[w] = low[w] = counter++;
                    stk[sp++] = w;
                    comp[w] = -2;
                    cs_node[csp] = w;
                    cs_edge[csp] = ptr[w];
                    csp++;
                } else if (comp[w] == -2 && index[w] < low[v]) {
                    low[v] = index[w];
                }
            } else {
                csp--;
                if (low[v] == index[v]) {
                    int32_t x;
                    do {
                        x = stk[--sp];
                        comp[x] = ncomp;
                    } while (x != v);
                    ncomp++;
                }
                if (csp > 0) {
                    int32_t u = cs_node[csp - 1];
                    if (low[v] < low[u]) low[u] = low[v];
                }
            }
        }
    }
    return ncomp;
}

/* ------------------------------------------------------------------------------------------------------------- */

typedef double mcm_v2d __attribute__((vector_size(16)));

#define MCM_BK_MAX 4

struct mcm_workspace {
    int32_t K, L, N;
    double *C, *X, *mem, *T, *fin, *devfree, *C2, *pairT, *lane;
    int32_t *cnt, *mark, *lane_cnt;
    /* ACYCLIC dataflow: dense pair counts, the list of pairs touched, SCC scratch. */
    int32_t *pair, *pair2, *pa, *pb, *comp, *scratch;
    int32_t pair_cap;
    uint16_t *settab; /* 8 * 256: [own device][consumer set] -> MCM_LANES * the set of the devices charged */
    double *cw;      /* 2N: compute time and weight bytes of each node, interleaved (one compute class) */
    /* Nodes grouped by out-degree 0..MCM_BK_MAX, then the rest (bk_ptr: bucket starts); for degrees
     * 1..MCM_BK_MAX, the successors of a bucket's nodes are contiguous in bk_tgt from tgt_off[degree]. */
    int32_t *bk_nodes, *bk_tgt;
    int32_t bk_ptr[8], tgt_off[8];
};

mcm_workspace *mcm_workspace_new(const mcm_problem *pr) {
    mcm_workspace *ws = (mcm_workspace *)calloc(1, sizeof(mcm_workspace));
    if (!ws) return NULL;
    int32_t K = pr->p->n_devices, L = pr->p->n_links, N = pr->g->n_nodes;
    ws->K = K;
    ws->L = L;
    ws->N = N;
    ws->C = (double *)malloc(sizeof(double) * (6 * (size_t)K + (size_t)L + 1));
    if (K <= 64 && pr->p->interconnect == MCM_LINKS) ws->pairT = (double *)calloc((size_t)K * (size_t)K, sizeof(double));
    ws->lane = (double *)malloc(sizeof(double) * (4 * MCM_LANES * (size_t)K + 1));
    ws->lane_cnt = (int32_t *)malloc(sizeof(int32_t) * (MCM_LANES * (size_t)K + 1));
    ws->fin = (double *)malloc(sizeof(double) * ((size_t)N + 1));
    ws->cnt = (int32_t *)malloc(sizeof(int32_t) * (2 * (size_t)K + 1));
    if (!ws->C || !ws->fin || !ws->cnt || !ws->lane || !ws->lane_cnt || (K <= 64 && pr->p->interconnect == MCM_LINKS && !ws->pairT)) {
        mcm_workspace_free(ws);
        return NULL;
    }
    ws->X = ws->C + K;
    ws->mem = ws->X + K;
    ws->devfree = ws->mem + K;
    ws->C2 = ws->devfree + K;
    ws->T = ws->C2 + 2 * (size_t)K;
    ws->mark = ws->cnt + K;
    if (K <= 8 && pr->p->interconnect == MCM_PORT && N <= MCM_PORT8_MAX_NODES) {
        ws->settab = (uint16_t *)malloc(sizeof(uint16_t) * 8 * 256);
        ws->bk_nodes = (int32_t *)malloc(sizeof(int32_t) * ((size_t)N + 1));
        ws->bk_tgt = (int32_t *)malloc(sizeof(int32_t) * ((size_t)pr->g->n_edges + 1));
        if (!ws->settab || !ws->bk_nodes || !ws->bk_tgt) {
            mcm_workspace_free(ws);
            return NULL;
        }
        {
            const int32_t *sp = pr->g->succ_ptr, *si = pr->g->succ_idx;
            int32_t count[MCM_BK_MAX + 2] = {0};
            for (int32_t u = 0; u < N; u++) {
                const int32_t dg = sp[u + 1] - sp[u];
                count[dg <= MCM_BK_MAX ? dg : MCM_BK_MAX + 1]++;
            }
            int32_t at = 0, t = 0;
            for (int b = 0; b <= MCM_BK_MAX + 1; b++) {
                ws->bk_ptr[b] = at;
                ws->tgt_off[b] = t;
                at += count[b];
                if (b <= MCM_BK_MAX) t += b * count[b];
            }
            ws->bk_ptr[MCM_BK_MAX + 2] = at;
            int32_t fill[MCM_BK_MAX + 2];
            for (int b = 0; b <= MCM_BK_MAX + 1; b++) fill[b] = ws->bk_ptr[b];
            for (int32_t u = 0; u < N; u++) {
                const int32_t dg = sp[u + 1] - sp[u];
                const int b = dg <= MCM_BK_MAX ? dg : MCM_BK_MAX + 1;
                const int32_t i = fill[b]++;
                ws->bk_nodes[i] = u;
                if (b <= MCM_BK_MAX) {
                    for (int32_t j = 0; j < dg; j++)
                        ws->bk_tgt[ws->tgt_off[b] + (i - ws->bk_ptr[b]) * dg + j] = si[sp[u] + j];
                }
            }
        }
        if (pr->ct && pr->n_cls == 1) {
            ws->cw = (double *)malloc(sizeof(double) * (2 * (size_t)N + 1));
            if (!ws->cw) {
                mcm_workspace_free(ws);
                return NULL;
            }
            for (int32_t i = 0; i < N; i++) {
                ws->cw[2 * (size_t)i] = pr->ct[i];
                ws->cw[2 * (size_t)i + 1] = pr->g->weight_bytes[i];
            }
        }
        for (uint32_t a = 0; a < 8; a++) {
            for (uint32_t m = 0; m < 256; m++) {
                const uint32_t own = 1u << a, recv = m & ~own;
                ws->settab[(a << 8) | m] = (uint16_t)((recv ? recv | own : 0) * MCM_LANES);
            }
        }
    }
    if (pr->cons.dataflow == MCM_DATAFLOW_ACYCLIC) {
        int64_t cap = (int64_t)K * K;
        if (cap > pr->g->n_edges) cap = pr->g->n_edges;
        ws->pair_cap = (int32_t)cap;
        ws->pair = (int32_t *)calloc((size_t)K * (size_t)K, sizeof(int32_t));
        ws->pair2 = (int32_t *)calloc(2 * (size_t)K * (size_t)K, sizeof(int32_t));
        ws->pa = (int32_t *)malloc(sizeof(int32_t) * (2 * (size_t)cap + 1));
        ws->comp = (int32_t *)malloc(sizeof(int32_t) * ((size_t)K + 1));
        ws->scratch = (int32_t *)malloc(sizeof(int32_t) * (6 * (size_t)K + (size_t)cap + 2));
        if (!ws->pair || !ws->pair2 || !ws->pa || !ws->comp || !ws->scratch) {
            mcm_workspace_free(ws);
            return NULL;
        }
        ws->pb = ws->pa + cap;
    }
    return ws;
}

void mcm_workspace_free(mcm_workspace *ws) {
    if (!ws) return;
    free(ws->C);
    free(ws->pairT);
    free(ws->lane);
    free(ws->lane_cnt);
    free(ws->fin);
    free(ws->cnt);
    free(ws->pair);
    free(ws->pair2);
    free(ws->pa);
    free(ws->comp);
    free(ws->scratch);
    free(ws->settab);
    free(ws->cw);
    free(ws->bk_nodes);
    free(ws->bk_tgt);
    free(ws);
}

static double max_array(const double *x, int32_t n) {
    double m = 0.0;
    for (int32_t i = 0; i < n; i++) {
        if (x[i] > m) m = x[i];
    }
    return m;
}

/* Walk the route a -> d adding `bytes` to every link on it. */
static inline void add_route(const mcm_package *p, double *T, int32_t a, int32_t d, double bytes) {
    const int32_t K = p->n_devices;
    int32_t x = a;
    while (x != d) {
        int32_t l = p->next_link[(size_t)x * K + d];
        T[l] += bytes;
        x = p->link_dst[l];
    }
}

typedef struct {
    int64_t df, sk;
    int32_t P;
} pass_state;

/* x when flag is 1, +0.0 when it is 0: a bit mask, not a branch (flags are data-dependent and unpredictable). */
static inline double keep_if(double x, int flag) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits &= (uint64_t)0 - (uint64_t)flag;
    memcpy(&x, &bits, sizeof x);
    return x;
}


/* The same pass for K <= 64, without data-dependent branches: nodes in one loop, edges in one flat loop. An edge
 * u -> v is a fresh message when v's device differs from u's and from the devices of u's earlier out-edges
 * (kept as a 64-bit mask). Port: R[d] collects t_u of messages into d, S[a] t_u of nodes on a that send;
 * X = cf * (S + R). Links: pairT[a][d] collects the bytes that a sends to d, routed once per pair afterwards. */
static inline __attribute__((always_inline)) void flat_pass(const mcm_problem *pr, const int32_t *restrict pl,
                                                             mcm_workspace *ws, pass_state *st, int32_t skip,
                                                             const int links, const int dataflow, const int ct1,
                                                             const int has_bwd) {
    const mcm_graph *g = pr->g;
    const mcm_package *p = pr->p;
    const int32_t N = g->n_nodes, K = p->n_devices, E = g->n_edges;
    double *restrict lane = ws->lane; /* MCM_LANES * K each: compute, memory, R, S */
    double *restrict lc = lane, *restrict lm = lane + MCM_LANES * K, *restrict lr = lane + 2 * MCM_LANES * K;
    double *restrict ls = lane + 3 * MCM_LANES * K;
    int32_t *restrict lcnt = ws->lane_cnt;
    double *restrict pairT = ws->pairT;
    int32_t *restrict pair = ws->pair, *restrict pair2 = ws->pair2;
    const int32_t *restrict si = g->succ_idx, *restrict es = pr->edge_src, *restrict pos = p->position;
    const double *restrict w = g->weight_bytes, *restrict tx = pr->tx, *restrict ct = pr->ct;
    const uint8_t *restrict bwd = g->backward;
    int32_t df = 0, sk = 0; /* at most n_edges < 2^31 */
    /* Edges. */
    uint64_t m = 0;
    int acc = 0;
    int32_t prev = -1;
    for (int32_t e = 0; e < E; e++) {
        const int32_t s = es[e], v = si[e];
        const int32_t a = pl[s], d = pl[v];
        const int same = s == prev; /* still within the node's out-edges */
        m &= (uint64_t)0 - (uint64_t)same;
        prev = s;
        const int fresh = (int)((~m >> d) & 1) & (d != a);
        m |= (uint64_t)1 << d;
        const int first = fresh & !(acc & same); /* the node's first message: the sender pays once */
        acc = (acc & same) | fresh;
        const double ts = tx[s];
        const size_t lane_e = (size_t)(e & (MCM_LANES - 1));
        if (links) {
            pairT[(size_t)a * K + d] += keep_if(ts, fresh);
        } else {
            lr[(size_t)d * MCM_LANES + lane_e] += keep_if(ts, fresh);
            ls[(size_t)a * MCM_LANES + lane_e] += keep_if(ts, first);
        }
        if (dataflow != MCM_DATAFLOW_NONE) {
            const int f = has_bwd ? !(bwd[s] | bwd[v]) : 1;
            if (dataflow == MCM_DATAFLOW_ORDERED) {
                const int32_t pa = pos[a], pd = pos[d];
                df += f & (pa > pd);
                sk += f & (pd - pa > skip);
            } else {
                /* two lanes (even / odd edges): runs of edges between the same two devices do not serialise on
                 * one counter in memory */
                pair2[((size_t)a * K + d) * 2 + (size_t)(e & 1)] += f & (a != d);
            }
        }
    }
    if (dataflow == MCM_DATAFLOW_ACYCLIC) {
        for (size_t i = 0; i < (size_t)K * (size_t)K; i++) {
            pair[i] += pair2[2 * i] + pair2[2 * i + 1];
            pair2[2 * i] = pair2[2 * i + 1] = 0;
        }
    }
    /* Nodes. */
    for (int32_t u = 0; u < N; u++) {
        const int32_t a = pl[u];
        const size_t j = (size_t)a * MCM_LANES + (u & (MCM_LANES - 1));
        lc[j] += ct1 ? ct[u] : mcm__ct(pr, u, a);
        lm[j] += w[u];
        lcnt[j]++;
    }
    st->df = df;
    st->sk = sk;
}


/* Port model with K <= 8 (device sets fit a byte). Nodes are visited by out-degree bucket (fixed inner trip
 * counts, so no mispredicted loop exits): each node ORs its consumers' devices into a byte D and counts the
 * dataflow violations (ordered) or device-pair edges (acyclic) of its out-edges; its output is sent when D minus
 * its own device is not empty, and then the sender and every device of that set pay t_u once. settab maps (own
 * device, D) to that set (times MCM_LANES); H sums t_u by set, spread over the set's devices at the end. */
#define MCM_NODE8(U, A, D, LANE)                                                                               \
    do {                                                                                                       \
        const size_t j_ = (size_t)(A) * MCM_LANES + (LANE);                                                    \
        if (ct1) {                                                                                             \
            mcm_v2d x_;                                                                                        \
            memcpy(&x_, cw + 2 * (size_t)(U), sizeof x_);                                                      \
            cm[j_] += x_;                                                                                      \
        } else {                                                                                               \
            lc[j_] += mcm__ct(pr, (U), (A));                                                                   \
            lm[j_] += w[U];                                                                                    \
        }                                                                                                      \
        if (need_cnt) lcnt[j_]++;                                                                              \
        H[settab[((size_t)(A) << 8) | (D)] + (LANE)] += tx[U];                                                 \
    } while (0)
#define MCM_EDGE8(U, V, A, D, PL)                                                                              \
    do {                                                                                                       \
        if (dataflow != MCM_DATAFLOW_NONE) {                                                                   \
            const int f_ = has_bwd ? !(bwd[U] | bwd[V]) : 1;                                                   \
            if (dataflow == MCM_DATAFLOW_ORDERED) {                                                            \
                const int32_t pa_ = pos[A], pd_ = pos[D];                                                      \
                df += f_ & (pa_ > pd_);                                                                        \
                sk += f_ & (pd_ - pa_ > skip);                                                                 \
            } else {                                                                                           \
                pc[((A) << 4) | ((D) << 1) | (PL)] += f_;                                                      \
            }                                                                                                  \
        }                                                                                                      \
    } while (0)

typedef struct {
    double *lc, *lm, *H;
    mcm_v2d *cm;
    int32_t *lcnt, *pc;
    int32_t df, sk;
} port8_acc;

/* The nodes of out-degree DEG (a constant 1..MCM_BK_MAX). */
static inline __attribute__((always_inline)) void port8_bucket(const mcm_problem *pr, const int32_t *restrict pl,
                                                                const mcm_workspace *ws, port8_acc *acc,
                                                                int32_t skip, const int dataflow, const int ct1,
                                                                const int has_bwd, const int need_cnt,
                                                                const int DEG) {
    const mcm_graph *g = pr->g;
    const int32_t *restrict nodes = ws->bk_nodes + ws->bk_ptr[DEG];
    const int32_t n = ws->bk_ptr[DEG + 1] - ws->bk_ptr[DEG];
    const int32_t *restrict tg = ws->bk_tgt + ws->tgt_off[DEG];
    const int32_t *restrict pos = pr->p->position;
    const double *restrict w = g->weight_bytes, *restrict tx = pr->tx, *restrict cw = ws->cw;
    const uint16_t *restrict settab = ws->settab;
    const uint8_t *restrict bwd = g->backward;
    double *restrict lc = acc->lc, *restrict lm = acc->lm, *restrict H = acc->H;
    mcm_v2d *restrict cm = acc->cm;
    int32_t *restrict lcnt = acc->lcnt, *restrict pc = acc->pc;
    int32_t df = acc->df, sk = acc->sk;
    static const uint8_t bit8[8] = {1, 2, 4, 8, 16, 32, 64, 128};
#define MCM_BODY8(I, LANE)                                                                                     \
    do {                                                                                                       \
        const int32_t u = nodes[I];                                                                            \
        const int32_t a = pl[u];                                                                               \
        uint32_t D = 0;                                                                                        \
        for (int j = 0; j < DEG; j++) {                                                                        \
            const int32_t v = tg[(size_t)(I) * DEG + j];                                                       \
            const int32_t d = pl[v];                                                                           \
            D |= bit8[d];                                                                                      \
            MCM_EDGE8(u, v, a, d, j & 1);                                                                      \
        }                                                                                                      \
        MCM_NODE8(u, a, D, LANE);                                                                              \
    } while (0)
    int32_t i = 0;
    for (; i + 2 <= n; i += 2) {
        MCM_BODY8(i, (DEG & 1) * 2);
        MCM_BODY8(i + 1, (DEG & 1) * 2 + 1);
    }
    if (i < n) MCM_BODY8(i, 2);
#undef MCM_BODY8
    acc->df = df;
    acc->sk = sk;
}

static inline __attribute__((always_inline)) void port8_pass(const mcm_problem *pr, const int32_t *restrict pl,
                                                              mcm_workspace *ws, pass_state *st, int32_t skip,
                                                              const int dataflow, const int ct1, const int has_bwd,
                                                              const int need_cnt) {
    const mcm_graph *g = pr->g;
    const mcm_package *p = pr->p;
    const int32_t K = p->n_devices;
    double *restrict lane = ws->lane;
    double *restrict lc = lane, *restrict lm = lane + MCM_LANES * K, *restrict lr = lane + 2 * MCM_LANES * K;
    int32_t *restrict lcnt = ws->lane_cnt;
    const int32_t *restrict sp = g->succ_ptr, *restrict si = g->succ_idx, *restrict pos = p->position;
    const double *restrict w = g->weight_bytes, *restrict tx = pr->tx, *restrict cw = ws->cw;
    const uint16_t *restrict settab = ws->settab;
    const uint8_t *restrict bwd = g->backward;
    static const uint8_t bit8[8] = {1, 2, 4, 8, 16, 32, 64, 128};
    int32_t pc[2 * 64]; /* [own device][consumer device][edge parity]: parities break chains through memory */
    double H[256 * MCM_LANES];
    mcm_v2d cm[8 * MCM_LANES]; /* one compute class: compute and memory added as one pair (cw interleaved) */
    const int32_t n_sets = 1 << K;
    if (dataflow == MCM_DATAFLOW_ACYCLIC) memset(pc, 0, sizeof pc);
    for (int32_t q = 0; q < n_sets * MCM_LANES; q++) H[q] = 0.0;
    if (ct1) memset(cm, 0, sizeof(mcm_v2d) * (size_t)K * MCM_LANES);
    port8_acc acc = {lc, lm, H, cm, lcnt, pc, 0, 0};
    /* Degree 0: no messages, no edges. */
    {
        const int32_t *restrict nodes = ws->bk_nodes;
        const int32_t n = ws->bk_ptr[1];
        for (int32_t i = 0; i < n; i++) {
            const int32_t u = nodes[i];
            const int32_t a = pl[u];
            const size_t j_ = (size_t)a * MCM_LANES + (i & (MCM_LANES - 1));
            if (ct1) {
                mcm_v2d x_;
                memcpy(&x_, cw + 2 * (size_t)u, sizeof x_);
                cm[j_] += x_;
            } else {
                lc[j_] += mcm__ct(pr, u, a);
                lm[j_] += w[u];
            }
            if (need_cnt) lcnt[j_]++;
        }
    }
    port8_bucket(pr, pl, ws, &acc, skip, dataflow, ct1, has_bwd, need_cnt, 1);
    port8_bucket(pr, pl, ws, &acc, skip, dataflow, ct1, has_bwd, need_cnt, 2);
    port8_bucket(pr, pl, ws, &acc, skip, dataflow, ct1, has_bwd, need_cnt, 3);
    port8_bucket(pr, pl, ws, &acc, skip, dataflow, ct1, has_bwd, need_cnt, 4);
    int32_t df = acc.df, sk = acc.sk;
    /* Higher degrees: a loop over the CSR successors. */
    {
        const int32_t *restrict nodes = ws->bk_nodes + ws->bk_ptr[MCM_BK_MAX + 1];
        const int32_t n = ws->bk_ptr[MCM_BK_MAX + 2] - ws->bk_ptr[MCM_BK_MAX + 1];
        for (int32_t i = 0; i < n; i++) {
            const int32_t u = nodes[i];
            const int32_t a = pl[u];
            uint32_t D = 0;
            for (int32_t e = sp[u]; e < sp[u + 1]; e++) {
                const int32_t v = si[e];
                const int32_t d = pl[v];
                D |= bit8[d];
                MCM_EDGE8(u, v, a, d, e & 1);
            }
            MCM_NODE8(u, a, D, i & (MCM_LANES - 1));
        }
    }
    if (ct1) {
        for (int32_t j = 0; j < K * MCM_LANES; j++) {
            lc[j] = cm[j][0];
            lm[j] = cm[j][1];
        }
    }
    double hs[256];
    for (int32_t q = 0; q < n_sets; q++) {
        hs[q] = (H[q * MCM_LANES] + H[q * MCM_LANES + 1]) + (H[q * MCM_LANES + 2] + H[q * MCM_LANES + 3]);
    }
    for (int32_t k = 0; k < K; k++) {
        /* the sets that hold device k: blocks of 2^k consecutive ids, every 2^(k+1) */
        double x = 0.0;
        const int32_t b = 1 << k;
        for (int32_t base = b; base < n_sets; base += 2 * b) {
            for (int32_t i = 0; i < b; i++) x += hs[base + i];
        }
        lr[(size_t)k * MCM_LANES] = x; /* X = cf * (S + R): everything is in the R lanes here */
    }
    if (dataflow == MCM_DATAFLOW_ACYCLIC) {
        for (int32_t a = 0; a < K; a++) {
            for (int32_t d = 0; d < K; d++) {
                const int32_t q = ((a << 3) | d) << 1;
                ws->pair[(size_t)a * K + d] = a == d ? 0 : pc[q] + pc[q + 1];
            }
        }
    }
    st->df = df;
    st->sk = sk;
}
#undef MCM_NODE8
#undef MCM_EDGE8

/* Out-of-line copies of port8_pass, one per flag combination (a function of its own keeps the loop's pointers in
 * registers), indexed [dataflow][ct1][backward][counts]. */
typedef void (*port8_fn)(const mcm_problem *, const int32_t *, mcm_workspace *, pass_state *, int32_t);
#define MCM_DEF8(DF, CT1, BWD, CNT)                                                                            \
    static __attribute__((noinline)) void port8_##DF##CT1##BWD##CNT(const mcm_problem *pr, const int32_t *pl,  \
                                                                   mcm_workspace *ws, pass_state *st,          \
                                                                   int32_t skip) {                             \
        port8_pass(pr, pl, ws, st, skip, DF, CT1, BWD, CNT);                                                   \
    }
#define MCM_DEF8_CNT(DF, CT1, BWD) MCM_DEF8(DF, CT1, BWD, 0) MCM_DEF8(DF, CT1, BWD, 1)
#define MCM_DEF8_BWD(DF, CT1) MCM_DEF8_CNT(DF, CT1, 0) MCM_DEF8_CNT(DF, CT1, 1)
#define MCM_DEF8_CT(DF) MCM_DEF8_BWD(DF, 0) MCM_DEF8_BWD(DF, 1)
MCM_DEF8_CT(0)
MCM_DEF8_CT(1)
MCM_DEF8_CT(2)
#define MCM_REF8_BWD(DF, CT1, BWD) {port8_##DF##CT1##BWD##0, port8_##DF##CT1##BWD##1}
#define MCM_REF8_CT(DF, CT1) {MCM_REF8_BWD(DF, CT1, 0), MCM_REF8_BWD(DF, CT1, 1)}
#define MCM_REF8(DF) {MCM_REF8_CT(DF, 0), MCM_REF8_CT(DF, 1)}
static const port8_fn port8_table[3][2][2][2] = {MCM_REF8(0), MCM_REF8(1), MCM_REF8(2)};
#undef MCM_DEF8
#undef MCM_DEF8_CNT
#undef MCM_DEF8_BWD
#undef MCM_DEF8_CT
#undef MCM_REF8_BWD
#undef MCM_REF8_CT
#undef MCM_REF8

/* One pass over the nodes in id order: compute, memory and node counts per device; the node's messages (its
 * output goes once to each distinct remote consumer device); the dataflow constraint on its forward out-edges.
 * Always inlined with constant flags, so each call site is a specialised loop. */
static inline __attribute__((always_inline)) void node_edge_pass(const mcm_problem *pr, const int32_t *restrict pl,
                                                                  mcm_workspace *ws, pass_state *st, int32_t skip,
                                                                  const int links, const int dataflow,
                                                                  const int ct1) {
    const mcm_graph *g = pr->g;
    const mcm_package *p = pr->p;
    const int32_t N = g->n_nodes, K = p->n_devices;
    const int small = K <= 64;
    double *restrict C2 = ws->C2, *restrict X = ws->X, *restrict mem = ws->mem, *restrict T = ws->T;
    double *restrict pairT = ws->pairT;
    int32_t *restrict cnt = ws->cnt, *restrict mark = ws->mark, *restrict pair = ws->pair;
    const int32_t *restrict sp = g->succ_ptr, *restrict si = g->succ_idx, *restrict pos = p->position;
    const double *restrict w = g->weight_bytes, *restrict tx = pr->tx, *restrict cf = p->comm_factor;
    const double *restrict ct = pr->ct;
    const uint8_t *restrict bwd = g->backward;
    int64_t df = 0, sk = 0;
    int32_t P = 0;
    for (int32_t u = 0; u < N; u++) {
        const int32_t a = pl[u];
        C2[(u & 1) * K + a] += ct1 ? ct[u] : mcm__ct(pr, u, a);
        mem[a] += w[u];
        cnt[a]++;
        const int32_t lo = sp[u], hi = sp[u + 1];
        if (lo == hi) continue;
        const double t = tx[u];
        if (small) {
            uint64_t mask = 0;
            for (int32_t e = lo; e < hi; e++) mask |= (uint64_t)1 << pl[si[e]];
            mask &= ~((uint64_t)1 << a);
            if (mask) {
                if (!links) {
                    X[a] += t * cf[a];
                    do {
                        const int32_t d = __builtin_ctzll(mask);
                        X[d] += t * cf[d];
                        mask &= mask - 1;
                    } while (mask);
                } else {
                    double *row = pairT + (size_t)a * K;
                    do {
                        row[__builtin_ctzll(mask)] += t;
                        mask &= mask - 1;
                    } while (mask);
                }
            }
        } else {
            int any = 0;
            for (int32_t e = lo; e < hi; e++) {
                const int32_t d = pl[si[e]];
                if (d != a && mark[d] != u) {
                    mark[d] = u;
                    any = 1;
                    if (links) add_route(p, T, a, d, t);
                    else X[d] += t * cf[d];
                }
            }
            if (any && !links) X[a] += t * cf[a];
        }
        if (dataflow == MCM_DATAFLOW_NONE || (bwd != NULL && bwd[u])) continue;
        if (dataflow == MCM_DATAFLOW_ORDERED) {
            const int32_t pu = pos[a];
            if (bwd == NULL) {
                for (int32_t e = lo; e < hi; e++) {
                    const int32_t ps = pos[pl[si[e]]];
                    df += pu > ps;
                    sk += ps - pu > skip;
                }
            } else {
                for (int32_t e = lo; e < hi; e++) {
                    const int32_t s = si[e];
                    const int32_t ps = pos[pl[s]];
                    const int f = !bwd[s];
                    df += f & (pu > ps);
                    sk += f & (ps - pu > skip);
                }
            }
        } else {
            for (int32_t e = lo; e < hi; e++) {
                const int32_t s = si[e];
                const int32_t d = pl[s];
                if (d == a || (bwd != NULL && bwd[s])) continue;
                if (pair[(size_t)a * K + d]++ == 0) {
                    ws->pa[P] = a;
                    ws->pb[P] = d;
                    P++;
                }
            }
        }
    }
    st->df = df;
    st->sk = sk;
    st->P = P;
}

int mcm_evaluate(const mcm_problem *pr, const int32_t *pl, mcm_workspace *ws, int want_latency, mcm_report *out) {
    const mcm_graph *g = pr->g;
    const mcm_package *p = pr->p;
    const mcm_constraints *cons = &pr->cons;
    const int32_t N = g->n_nodes, K = p->n_devices, L = p->n_links;
    double *restrict C = ws->C, *restrict X = ws->X, *restrict mem = ws->mem, *restrict T = ws->T;
    double *restrict C2 = ws->C2;
    int32_t *restrict cnt = ws->cnt, *restrict mark = ws->mark;
    const int32_t *restrict sp = g->succ_ptr, *restrict si = g->succ_idx;
    const double *restrict w = g->weight_bytes, *restrict tx = pr->tx, *restrict cf = p->comm_factor;
    const int32_t *restrict pos = p->position;
    const uint8_t *restrict bwd = g->backward;
    const int links = p->interconnect == MCM_LINKS;
    const int small = K <= 64; /* device sets fit a 64-bit mask */
    (void)tx; (void)cf; (void)w; (void)sp; (void)si; (void)pos; (void)bwd; (void)mark; (void)X; (void)mem; (void)cnt;

    for (int32_t k = 0; k < K; k++) {
        C[k] = X[k] = mem[k] = 0.0;
        C2[k] = C2[K + k] = 0.0;
        cnt[k] = 0;
        mark[k] = -1;
    }
    for (int32_t l = 0; l < L; l++) T[l] = 0.0;
    out->bad_node = -1;

    /* Validate first (a vectorisable pass), so the hot loop needs no bounds checks. */
    {
        /* top bit set iff some entry is negative or >= K (both terms are below 2^31 for entries in [0, K)) */
        uint32_t bad = 0;
        for (int32_t i = 0; i < N; i++) bad |= ((uint32_t)K - 1u - (uint32_t)pl[i]) | (uint32_t)pl[i];
        if (bad >> 31) {
            for (int32_t i = 0; i < N; i++) {
                if ((uint32_t)pl[i] >= (uint32_t)K) {
                    out->bad_node = i;
                    break;
                }
            }
            return MCM_ERR_PLACEMENT;
        }
    }
    int64_t *v = out->violations;
    for (int i = 0; i < MCM_N_VIOLATIONS; i++) v[i] = 0;
    const int dataflow = cons->dataflow;
    const int32_t skip = cons->max_skip > 0 ? cons->max_skip : INT32_MAX;
    pass_state st = {0, 0, 0};
    const int ct1 = pr->ct != NULL && pr->n_cls == 1;
    const int need_cnt = cons->all_used || out->node_count != NULL;
    /* Dispatch to a specialised copy of the pass: the flags are compile-time constants there. */
#define MCM_PASS(LINKS, DF, CT1)                                                                               \
    do {                                                                                                       \
        if (g->backward) flat_pass(pr, pl, ws, &st, skip, LINKS, DF, CT1, 1);                                  \
        else flat_pass(pr, pl, ws, &st, skip, LINKS, DF, CT1, 0);                                              \
    } while (0)
    if (!small) {
        node_edge_pass(pr, pl, ws, &st, skip, links, dataflow, ct1);
        for (int32_t k = 0; k < K; k++) C[k] = C2[k] + C2[K + k];
    } else {
        memset(ws->lane, 0, sizeof(double) * 4 * MCM_LANES * (size_t)K);
        memset(ws->lane_cnt, 0, sizeof(int32_t) * MCM_LANES * (size_t)K);
        if (!links && K <= 8 && N <= MCM_PORT8_MAX_NODES) {
            port8_table[dataflow][ct1][g->backward != NULL][need_cnt](pr, pl, ws, &st, skip);
        } else if (!links) {
            if (dataflow == MCM_DATAFLOW_NONE) { if (ct1) MCM_PASS(0, 0, 1); else MCM_PASS(0, 0, 0); }
            else if (dataflow == MCM_DATAFLOW_ORDERED) { if (ct1) MCM_PASS(0, 1, 1); else MCM_PASS(0, 1, 0); }
            else { if (ct1) MCM_PASS(0, 2, 1); else MCM_PASS(0, 2, 0); }
        } else {
            if (dataflow == MCM_DATAFLOW_NONE) { if (ct1) MCM_PASS(1, 0, 1); else MCM_PASS(1, 0, 0); }
            else if (dataflow == MCM_DATAFLOW_ORDERED) { if (ct1) MCM_PASS(1, 1, 1); else MCM_PASS(1, 1, 0); }
            else { if (ct1) MCM_PASS(1, 2, 1); else MCM_PASS(1, 2, 0); }
        }
        const double *lc = ws->lane, *lm = lc + MCM_LANES * K, *lr = lm + MCM_LANES * K, *ls = lr + MCM_LANES * K;
        for (int32_t k = 0; k < K; k++) {
            double c = 0.0, mm = 0.0, r = 0.0, sd = 0.0;
            int32_t n = 0;
            for (int j = 0; j < MCM_LANES; j++) {
                c += lc[k * MCM_LANES + j];
                mm += lm[k * MCM_LANES + j];
                r += lr[k * MCM_LANES + j];
                sd += ls[k * MCM_LANES + j];
                n += ws->lane_cnt[k * MCM_LANES + j];
            }
            C[k] = c;
            mem[k] = mm;
            cnt[k] = n;
            if (!links) X[k] = cf[k] * (sd + r);
        }
        if (dataflow == MCM_DATAFLOW_ACYCLIC) {
            /* Collect the device pairs with forward edges from the dense count matrix. */
            int32_t P = 0;
            for (int32_t a = 0; a < K; a++) {
                for (int32_t d = 0; d < K; d++) {
                    if (ws->pair[(size_t)a * K + d]) {
                        ws->pa[P] = a;
                        ws->pb[P] = d;
                        P++;
                    }
                }
            }
            st.P = P;
        }
    }
#undef MCM_PASS
    const int ordered = dataflow == MCM_DATAFLOW_ORDERED, acyclic = dataflow == MCM_DATAFLOW_ACYCLIC;
    const int64_t df = st.df, sk = st.sk;
    const int32_t P = st.P;
    int32_t *restrict pair = ws->pair;
    double *restrict pairT = ws->pairT;
    if (links && small) {
        /* Route the aggregated traffic of each device pair once. */
        for (int32_t a = 0; a < K; a++) {
            double *row = pairT + (size_t)a * K;
            for (int32_t d = 0; d < K; d++) {
                if (row[d] != 0.0) {
                    add_route(p, T, a, d, row[d]);
                    row[d] = 0.0;
                }
            }
        }
    }

    /* Violations. */
    if (cons->capacity) {
        for (int32_t k = 0; k < K; k++) v[MCM_V_CAPACITY] += mcm__over_capacity(mem[k], p->sram_bytes[k]);
    }
    if (ordered) {
        v[MCM_V_DATAFLOW] = df;
        v[MCM_V_SKIP] = cons->max_skip > 0 ? sk : 0;
    } else if (acyclic) {
        int32_t ncomp = mcm__scc_pairs(K, P, ws->pa, ws->pb, ws->comp, ws->scratch);
        int64_t n = 0;
        for (int32_t i = 0; i < P; i++) {
            size_t key = (size_t)ws->pa[i] * K + ws->pb[i];
            if (ncomp < K && ws->comp[ws->pa[i]] == ws->comp[ws->pb[i]]) n += pair[key];
            pair[key] = 0;
        }
        v[MCM_V_DATAFLOW] = n;
    }
    if (cons->colors && g->color) {
        int64_t n = 0;
        for (int32_t c = 0; c < g->n_colors; c++) {
            const int32_t lo = g->color_ptr[c], hi = g->color_ptr[c + 1];
            const int32_t r = pl[g->color_members[lo]];
            for (int32_t j = lo + 1; j < hi; j++) n += pl[g->color_members[j]] != r;
        }
        v[MCM_V_COLOR] = n;
    }
    if (cons->pins && g->pin) {
        int64_t n = 0;
        for (int32_t i = 0; i < N; i++) n += g->pin[i] >= 0 && pl[i] != g->pin[i];
        v[MCM_V_PIN] = n;
    }
    if (cons->support && g->supported) {
        int64_t n = 0;
        for (int32_t i = 0; i < N; i++) n += mcm__unsupported(pr, i, pl[i]);
        v[MCM_V_SUPPORT] = n;
    }
    if (cons->all_used) {
        for (int32_t k = 0; k < K; k++) v[MCM_V_ALL_USED] += cnt[k] == 0;
    }
    int64_t total = 0;
    for (int i = 0; i < MCM_N_VIOLATIONS; i++) total += v[i];
    out->total_violations = total;

    /* Interval. */
    double iv;
    if (!links && !pr->overlap) {
        iv = 0.0;
        for (int32_t k = 0; k < K; k++) {
            if (C[k] + X[k] > iv) iv = C[k] + X[k];
        }
    } else if (!links) {
        double mc = max_array(C, K), mx = max_array(X, K);
        iv = mc > mx ? mc : mx;
    } else {
        double mc = max_array(C, K), mt = 0.0;
        for (int32_t l = 0; l < L; l++) {
            double t = T[l] / p->link_bw[l];
            if (t > mt) mt = t;
        }
        iv = mc > mt ? mc : mt;
    }
    out->interval = iv;

    /* Latency: list schedule in the graph's topological order. */
    out->latency = NAN;
    if (want_latency) {
        double *restrict fin = ws->fin, *restrict devfree = ws->devfree;
        const int32_t *restrict pp = g->pred_ptr, *restrict pi = g->pred_idx, *restrict topo = g->topo;
        for (int32_t k = 0; k < K; k++) devfree[k] = 0.0;
        double lat = 0.0;
        for (int32_t j = 0; j < N; j++) {
            const int32_t i = topo[j];
            const int32_t d = pl[i];
            double s = devfree[d];
            for (int32_t e = pp[i]; e < pp[i + 1]; e++) {
                const int32_t q = pi[e];
                const int32_t a = pl[q];
                double arr = fin[q];
                if (a != d) arr += mcm__transfer(pr, q, a, d);
                if (arr > s) s = arr;
            }
            const double f = s + mcm__ct(pr, i, d);
            if (out->start) out->start[i] = s;
            fin[i] = f;
            devfree[d] = f;
            if (f > lat) lat = f;
        }
        if (out->finish) memcpy(out->finish, fin, sizeof(double) * (size_t)N);
        out->latency = lat;
    }

    if (out->compute) memcpy(out->compute, C, sizeof(double) * (size_t)K);
    if (out->comm) memcpy(out->comm, X, sizeof(double) * (size_t)K);
    if (out->memory) memcpy(out->memory, mem, sizeof(double) * (size_t)K);
    if (out->node_count) memcpy(out->node_count, cnt, sizeof(int32_t) * (size_t)K);
    if (out->traffic) memcpy(out->traffic, T, sizeof(double) * (size_t)L);
    if (out->link_time) {
        for (int32_t l = 0; l < L; l++) out->link_time[l] = T[l] / p->link_bw[l];
    }
    return MCM_OK;
}

/* ------------------------------------------------------------------------------------------------------------- */

/* Rows are handed out in chunks from a shared cursor, so a thread slowed down by something else on its core does
 * not hold the whole batch back (static halves scaled poorly on shared machines). */
#define MCM_BATCH_CHUNK 32

typedef struct {
    const mcm_problem *pr;
    const int32_t *placements;
    int64_t batch;
    double *interval, *latency;
    int64_t *violations;
    pthread_mutex_t lock;
    int64_t next; /* first row not handed out yet */
} batch_shared;

typedef struct {
    batch_shared *sh;
    int status;
    int64_t bad_row; /* lowest offending row seen by this thread */
    int32_t bad_node;
} batch_task;

static void *batch_worker(void *arg) {
    batch_task *t = (batch_task *)arg;
    batch_shared *sh = t->sh;
    const int32_t N = sh->pr->g->n_nodes;
    mcm_workspace *ws = mcm_workspace_new(sh->pr);
    if (!ws) {
        t->status = MCM_ERR_NOMEM;
        return NULL;
    }
    mcm_report rep;
    memset(&rep, 0, sizeof(rep));
    for (;;) {
        pthread_mutex_lock(&sh->lock);
        const int64_t lo = sh->next;
        sh->next = lo + MCM_BATCH_CHUNK;
        pthread_mutex_unlock(&sh->lock);
        if (lo >= sh->batch) break;
        const int64_t hi = lo + MCM_BATCH_CHUNK < sh->batch ? lo + MCM_BATCH_CHUNK : sh->batch;
        for (int64_t b = lo; b < hi; b++) {
            int status = mcm_evaluate(sh->pr, sh->placements + (size_t)b * (size_t)N, ws, sh->latency != NULL, &rep);
            if (status != MCM_OK) {
                if (t->status == MCM_OK || b < t->bad_row) {
                    t->status = status;
                    t->bad_row = b;
                    t->bad_node = rep.bad_node;
                }
                continue;
            }
            if (sh->interval) sh->interval[b] = rep.interval;
            if (sh->latency) sh->latency[b] = rep.latency;
            if (sh->violations) memcpy(sh->violations + b * MCM_N_VIOLATIONS, rep.violations, sizeof(rep.violations));
        }
    }
    mcm_workspace_free(ws);
    return NULL;
}

int mcm_evaluate_batch(const mcm_problem *pr, const int32_t *placements, int64_t batch, int n_threads,
                       double *interval, double *latency, int64_t *violations, int64_t *bad_row,
                       int32_t *bad_node) {
    if (batch <= 0) return MCM_OK;
    if (n_threads < 1) n_threads = 1;
    const int64_t chunks = (batch + MCM_BATCH_CHUNK - 1) / MCM_BATCH_CHUNK;
    if (n_threads > chunks) n_threads = (int)chunks;
    if (n_threads > 256) n_threads = 256;
    batch_shared sh = {pr, placements, batch, interval, latency, violations, PTHREAD_MUTEX_INITIALIZER, 0};
    batch_task tasks[256];
    pthread_t threads[256];
    for (int t = 0; t < n_threads; t++) tasks[t] = (batch_task){&sh, MCM_OK, -1, -1};
    int started = 0;
    for (int t = 1; t < n_threads; t++) {
        if (pthread_create(&threads[t], NULL, batch_worker, &tasks[t]) != 0) break;
        started = t;
    }
    batch_worker(&tasks[0]); /* the calling thread works too; rows of threads that failed to start are shared */
    for (int t = 1; t <= started; t++) pthread_join(threads[t], NULL);
    pthread_mutex_destroy(&sh.lock);
    int status = MCM_OK;
    int64_t first = -1;
    for (int t = 0; t <= started; t++) {
        if (tasks[t].status == MCM_OK) continue;
        if (status == MCM_OK || tasks[t].status == MCM_ERR_NOMEM ||
            (tasks[t].bad_row >= 0 && (first < 0 || tasks[t].bad_row < first))) {
            status = tasks[t].status;
            first = tasks[t].bad_row;
            if (bad_row) *bad_row = tasks[t].bad_row;
            if (bad_node) *bad_node = tasks[t].bad_node;
        }
    }
    return status;
}

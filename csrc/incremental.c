/* incremental.c -- single-node moves evaluated in O(degree + K + route length * log links). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mcm_internal.h"

struct mcm_incremental {
    const mcm_problem *pr;
    int32_t N, K, L;
    int32_t *pl;
    double *C, *X, *mem, *T; /* per device: compute, port comm, memory; per link: traffic bytes */
    /* Neumaier compensation of each running sum: loads that span many orders of magnitude still match a fresh
     * evaluation to 1e-9 relative after any number of moves (value = sum + compensation). */
    double *Cc, *Xc, *memc, *Tc;
    int32_t *cnt;            /* nodes per device */
    /* Consumer devices of each node u, as (device, count) pairs stored in u's successor slots. */
    int32_t *cd_dev, *cd_cnt, *cd_n, *nrem; /* nrem: distinct remote consumer devices */
    int64_t viol[MCM_N_VIOLATIONS];
    int64_t total;
    int32_t empty; /* devices with no node */
    /* ACYCLIC: dense forward pair counts, the list of nonzero pairs (with each pair's slot), SCC state. */
    int32_t *pair, *pair_slot, *pa, *pb, *comp, *scratch;
    int32_t n_pairs;
    int structure_changed;
    /* Max tree over link times (links model). */
    double *tree;
    int32_t tree_cap;
    /* One level of undo. */
    int32_t last_node, last_from;
    double interval;
};

static inline void kadd(double *sum, double *comp, double x) {
    const double s = *sum, t = s + x;
    if (fabs(s) >= fabs(x)) *comp += (s - t) + x;
    else *comp += (x - t) + s;
    *sum = t;
}

/* ---- link max tree -------------------------------------------------------------------------------------------- */
static void tree_set(mcm_incremental *inc, int32_t l, double value) {
    int32_t i = inc->tree_cap + l;
    inc->tree[i] = value;
    for (i >>= 1; i >= 1; i >>= 1) {
        double a = inc->tree[2 * i], b = inc->tree[2 * i + 1];
        inc->tree[i] = a > b ? a : b;
    }
}

static void route_add(mcm_incremental *inc, int32_t a, int32_t d, double bytes) {
    const mcm_package *p = inc->pr->p;
    const int32_t K = inc->K;
    int32_t x = a;
    while (x != d) {
        int32_t l = p->next_link[(size_t)x * K + d];
        kadd(&inc->T[l], &inc->Tc[l], bytes);
        const double t = inc->T[l] + inc->Tc[l];
        tree_set(inc, l, (t > 0 ? t : 0.0) / p->link_bw[l]);
        x = p->link_dst[l];
    }
}

/* ---- consumer-device lists ------------------------------------------------------------------------------------ */
static inline int cd_add(mcm_incremental *inc, int32_t u, int32_t d) {
    const int32_t base = inc->pr->g->succ_ptr[u];
    const int32_t n = inc->cd_n[u];
    for (int32_t j = 0; j < n; j++) {
        if (inc->cd_dev[base + j] == d) {
            inc->cd_cnt[base + j]++;
            return 0;
        }
    }
    inc->cd_dev[base + n] = d;
    inc->cd_cnt[base + n] = 1;
    inc->cd_n[u] = n + 1;
    return 1;
}

static inline int cd_remove(mcm_incremental *inc, int32_t u, int32_t d) {
    const int32_t base = inc->pr->g->succ_ptr[u];
    const int32_t n = inc->cd_n[u];
    for (int32_t j = 0; j < n; j++) {
        if (inc->cd_dev[base + j] == d) {
            if (--inc->cd_cnt[base + j] == 0) {
                inc->cd_dev[base + j] = inc->cd_dev[base + n - 1];
                inc->cd_cnt[base + j] = inc->cd_cnt[base + n - 1];
                inc->cd_n[u] = n - 1;
                return 1;
            }
            return 0;
        }
    }
    return 0; /* not reached for consistent state */
}

/* ---- ACYCLIC pair bookkeeping ---------------------------------------------------------------------------------- */
static void pair_change(mcm_incremental *inc, int32_t a, int32_t b, int32_t delta) {
    const size_t key = (size_t)a * inc->K + b;
    int32_t before = inc->pair[key];
    int32_t after = before + delta;
    inc->pair[key] = after;
    if (before == 0 && after > 0) {
        int32_t s = inc->n_pairs++;
        inc->pa[s] = a;
        inc->pb[s] = b;
        inc->pair_slot[key] = s;
        inc->structure_changed = 1;
    } else if (before > 0 && after == 0) {
        int32_t s = inc->pair_slot[key], last = --inc->n_pairs;
        inc->pa[s] = inc->pa[last];
        inc->pb[s] = inc->pb[last];
        inc->pair_slot[(size_t)inc->pa[s] * inc->K + inc->pb[s]] = s;
        inc->structure_changed = 1;
    }
    if (!inc->structure_changed && inc->comp[a] == inc->comp[b]) inc->viol[MCM_V_DATAFLOW] += delta;
}

static void acyclic_refresh(mcm_incremental *inc) {
    int32_t ncomp = mcm__scc_pairs(inc->K, inc->n_pairs, inc->pa, inc->pb, inc->comp, inc->scratch);
    int64_t df = 0;
    if (ncomp < inc->K) {
        for (int32_t i = 0; i < inc->n_pairs; i++) {
            if (inc->comp[inc->pa[i]] == inc->comp[inc->pb[i]])
                df += inc->pair[(size_t)inc->pa[i] * inc->K + inc->pb[i]];
        }
    }
    inc->viol[MCM_V_DATAFLOW] = df;
    inc->structure_changed = 0;
}

/* ---- interval ------------------------------------------------------------------------------------------------- */
static double current_interval(const mcm_incremental *inc) {
    const int32_t K = inc->K;
    const double *C = inc->C, *X = inc->X, *Cc = inc->Cc, *Xc = inc->Xc;
    double iv = 0.0;
    if (inc->pr->p->interconnect == MCM_PORT && !inc->pr->overlap) {
        for (int32_t k = 0; k < K; k++) {
            const double v = (C[k] + Cc[k]) + (X[k] + Xc[k]);
            if (v > iv) iv = v;
        }
        return iv;
    }
    for (int32_t k = 0; k < K; k++) {
        const double c = C[k] + Cc[k], x = X[k] + Xc[k];
        if (c > iv) iv = c;
        if (x > iv) iv = x;
    }
    if (inc->L > 0 && inc->tree[1] > iv) iv = inc->tree[1];
    return iv;
}

static void total_violations(mcm_incremental *inc) {
    int64_t t = 0;
    for (int i = 0; i < MCM_N_VIOLATIONS; i++) t += inc->viol[i];
    inc->total = t;
}

/* ---- construction --------------------------------------------------------------------------------------------- */
void mcm_incremental_free(mcm_incremental *inc) {
    if (!inc) return;
    free(inc->pl);
    free(inc->C);
    free(inc->cnt);
    free(inc->cd_dev);
    free(inc->pair);
    free(inc->pair_slot);
    free(inc->pa);
    free(inc->comp);
    free(inc->scratch);
    free(inc->tree);
    free(inc);
}

int mcm_incremental_new(mcm_incremental **out, const mcm_problem *pr, const int32_t *placement) {
    *out = NULL;
    const mcm_graph *g = pr->g;
    const mcm_package *p = pr->p;
    const int32_t N = g->n_nodes, K = p->n_devices, L = p->n_links, E = g->n_edges;
    for (int32_t i = 0; i < N; i++) {
        if ((uint32_t)placement[i] >= (uint32_t)K) return MCM_ERR_PLACEMENT;
    }
    mcm_incremental *inc = (mcm_incremental *)calloc(1, sizeof(mcm_incremental));
    if (!inc) return MCM_ERR_NOMEM;
    inc->pr = pr;
    inc->N = N;
    inc->K = K;
    inc->L = L;
    inc->last_node = -1;
    inc->pl = (int32_t *)malloc(sizeof(int32_t) * ((size_t)N + 1));
    inc->C = (double *)calloc(6 * (size_t)K + 2 * (size_t)L + 2, sizeof(double));
    inc->cnt = (int32_t *)calloc((size_t)K + 1, sizeof(int32_t));
    inc->cd_dev = (int32_t *)malloc(sizeof(int32_t) * (2 * (size_t)E + 2 * (size_t)N + 2));
    int32_t cap = 1;
    while (cap < L) cap <<= 1;
    inc->tree_cap = cap;
    inc->tree = (double *)calloc(2 * (size_t)cap, sizeof(double));
    if (!inc->pl || !inc->C || !inc->cnt || !inc->cd_dev || !inc->tree) {
        mcm_incremental_free(inc);
        return MCM_ERR_NOMEM;
    }
    inc->X = inc->C + K;
    inc->mem = inc->X + K;
    inc->T = inc->mem + K;
    inc->Cc = inc->T + L;
    inc->Xc = inc->Cc + K;
    inc->memc = inc->Xc + K;
    inc->Tc = inc->memc + K;
    inc->cd_cnt = inc->cd_dev + E;
    inc->cd_n = inc->cd_cnt + E;
    inc->nrem = inc->cd_n + N;
    memcpy(inc->pl, placement, sizeof(int32_t) * (size_t)N);

    /* Start from a full evaluation: it fixes per-device and per-link sums in the reference summation order. */
    mcm_workspace *ws = mcm_workspace_new(pr);
    if (!ws) {
        mcm_incremental_free(inc);
        return MCM_ERR_NOMEM;
    }
    mcm_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.compute = inc->C;
    rep.comm = inc->X;
    rep.memory = inc->mem;
    rep.node_count = inc->cnt;
    rep.traffic = inc->T;
    int status = mcm_evaluate(pr, placement, ws, 0, &rep);
    mcm_workspace_free(ws);
    if (status != MCM_OK) {
        mcm_incremental_free(inc);
        return status;
    }
    memcpy(inc->viol, rep.violations, sizeof(inc->viol));
    for (int32_t k = 0; k < K; k++) inc->empty += inc->cnt[k] == 0;
    for (int32_t u = 0; u < N; u++) {
        inc->cd_n[u] = 0;
        for (int32_t e = g->succ_ptr[u]; e < g->succ_ptr[u + 1]; e++) cd_add(inc, u, placement[g->succ_idx[e]]);
        int32_t nr = 0;
        for (int32_t j = 0; j < inc->cd_n[u]; j++) nr += inc->cd_dev[g->succ_ptr[u] + j] != placement[u];
        inc->nrem[u] = nr;
    }
    /* Recompute the running sums with compensation from zero (the full evaluation's sums are rounded once more
     * than a compensated sum, which a later subtraction of a large term would expose). */
    for (int32_t k = 0; k < K; k++) inc->C[k] = inc->X[k] = inc->mem[k] = 0.0;
    for (int32_t l = 0; l < L; l++) inc->T[l] = 0.0;
    for (int32_t i = 0; i < N; i++) {
        const int32_t d = placement[i];
        kadd(&inc->C[d], &inc->Cc[d], mcm__ct(pr, i, d));
        kadd(&inc->mem[d], &inc->memc[d], g->weight_bytes[i]);
    }
    for (int32_t u = 0; u < N; u++) {
        const int32_t a = placement[u], base = g->succ_ptr[u];
        const double t = pr->tx[u];
        if (inc->nrem[u] == 0) continue;
        if (p->interconnect == MCM_PORT) kadd(&inc->X[a], &inc->Xc[a], t * p->comm_factor[a]);
        for (int32_t j = 0; j < inc->cd_n[u]; j++) {
            const int32_t d = inc->cd_dev[base + j];
            if (d == a) continue;
            if (p->interconnect == MCM_PORT) {
                kadd(&inc->X[d], &inc->Xc[d], t * p->comm_factor[d]);
            } else {
                for (int32_t x = a; x != d;) {
                    const int32_t l = p->next_link[(size_t)x * K + d];
                    kadd(&inc->T[l], &inc->Tc[l], t);
                    x = p->link_dst[l];
                }
            }
        }
    }
    for (int32_t l = 0; l < L; l++) inc->tree[cap + l] = (inc->T[l] + inc->Tc[l]) / p->link_bw[l];
    for (int32_t i = cap - 1; i >= 1; i--) {
        double a = inc->tree[2 * i], b = inc->tree[2 * i + 1];
        inc->tree[i] = a > b ? a : b;
    }
    if (pr->cons.dataflow == MCM_DATAFLOW_ACYCLIC) {
        size_t KK = (size_t)K * (size_t)K;
        int64_t pcap = (int64_t)KK < (int64_t)E ? (int64_t)KK : (int64_t)E;
        inc->pair = (int32_t *)calloc(KK, sizeof(int32_t));
        inc->pair_slot = (int32_t *)malloc(sizeof(int32_t) * KK);
        inc->pa = (int32_t *)malloc(sizeof(int32_t) * (2 * (size_t)pcap + 2));
        inc->comp = (int32_t *)malloc(sizeof(int32_t) * ((size_t)K + 1));
        inc->scratch = (int32_t *)malloc(sizeof(int32_t) * (6 * (size_t)K + (size_t)pcap + 2));
        if (!inc->pair || !inc->pair_slot || !inc->pa || !inc->comp || !inc->scratch) {
            mcm_incremental_free(inc);
            return MCM_ERR_NOMEM;
        }
        inc->pb = inc->pa + pcap + 1;
        for (int32_t k = 0; k < K; k++) inc->comp[k] = k;
        for (int32_t u = 0; u < N; u++) {
            if (!mcm__forward(g, u)) continue;
            for (int32_t e = g->succ_ptr[u]; e < g->succ_ptr[u + 1]; e++) {
                int32_t s = g->succ_idx[e];
                if (mcm__forward(g, s) && placement[u] != placement[s]) pair_change(inc, placement[u], placement[s], 1);
            }
        }
        acyclic_refresh(inc);
    }
    total_violations(inc);
    inc->interval = current_interval(inc);
    *out = inc;
    return MCM_OK;
}

/* ---- moves ---------------------------------------------------------------------------------------------------- */
static void do_move(mcm_incremental *inc, int32_t v, int32_t b) {
    const mcm_problem *pr = inc->pr;
    const mcm_graph *g = pr->g;
    const mcm_package *p = pr->p;
    const mcm_constraints *cons = &pr->cons;
    int32_t *pl = inc->pl;
    const int32_t a = pl[v];
    const int links = p->interconnect == MCM_LINKS;
    const double *cf = p->comm_factor;
    double *X = inc->X;

    /* Capacity before the move, for the two devices involved. */
    if (cons->capacity) {
        inc->viol[MCM_V_CAPACITY] -= mcm__over_capacity(inc->mem[a] + inc->memc[a], p->sram_bytes[a]) +
                                     mcm__over_capacity(inc->mem[b] + inc->memc[b], p->sram_bytes[b]);
    }

    /* Predecessors: their consumer-device sets lose a and may gain b. */
    for (int32_t e = g->pred_ptr[v]; e < g->pred_ptr[v + 1]; e++) {
        const int32_t q = g->pred_idx[e];
        const int32_t dq = pl[q];
        const int had_any = inc->nrem[q] > 0;
        const int gone = cd_remove(inc, q, a);
        const int added = cd_add(inc, q, b);
        const double t = pr->tx[q];
        if (gone && a != dq) {
            inc->nrem[q]--;
            if (links) route_add(inc, dq, a, -t);
            else kadd(&X[a], &inc->Xc[a], -t * cf[a]);
        }
        if (added && b != dq) {
            inc->nrem[q]++;
            if (links) route_add(inc, dq, b, t);
            else kadd(&X[b], &inc->Xc[b], t * cf[b]);
        }
        if (!links) {
            const int has_any = inc->nrem[q] > 0;
            if (has_any != had_any) kadd(&X[dq], &inc->Xc[dq], (has_any - had_any) * t * cf[dq]);
        }
    }

    /* The node's own messages: re-sent from b instead of a. */
    {
        const int32_t base = g->succ_ptr[v], n = inc->cd_n[v];
        const double t = pr->tx[v];
        if (links) {
            for (int32_t j = 0; j < n; j++) {
                const int32_t d = inc->cd_dev[base + j];
                if (d != a) route_add(inc, a, d, -t);
                if (d != b) route_add(inc, b, d, t);
            }
        } else {
            if (inc->nrem[v] > 0) kadd(&X[a], &inc->Xc[a], -t * cf[a]);
            int32_t nr = 0;
            for (int32_t j = 0; j < n; j++) {
                const int32_t d = inc->cd_dev[base + j];
                if (d != a) kadd(&X[d], &inc->Xc[d], -t * cf[d]);
                if (d != b) {
                    kadd(&X[d], &inc->Xc[d], t * cf[d]);
                    nr++;
                }
            }
            if (nr > 0) kadd(&X[b], &inc->Xc[b], t * cf[b]);
            inc->nrem[v] = nr;
        }
        if (links) {
            int32_t nr = 0;
            for (int32_t j = 0; j < n; j++) nr += inc->cd_dev[base + j] != b;
            inc->nrem[v] = nr;
        }
    }

    /* Dataflow on the node's forward edges, evaluated before and after. */
    if (cons->dataflow != MCM_DATAFLOW_NONE && mcm__forward(g, v)) {
        if (cons->dataflow == MCM_DATAFLOW_ORDERED) {
            const int32_t *pos = p->position;
            const int32_t pa = pos[a], pb = pos[b], skip = cons->max_skip;
            int64_t df = 0, sk = 0;
            for (int32_t e = g->pred_ptr[v]; e < g->pred_ptr[v + 1]; e++) {
                const int32_t q = g->pred_idx[e];
                if (!mcm__forward(g, q)) continue;
                const int32_t pq = pos[pl[q]];
                df += (pq > pb) - (pq > pa);
                if (skip > 0) sk += (pb - pq > skip) - (pa - pq > skip);
            }
            for (int32_t e = g->succ_ptr[v]; e < g->succ_ptr[v + 1]; e++) {
                const int32_t s = g->succ_idx[e];
                if (!mcm__forward(g, s)) continue;
                const int32_t ps = pos[pl[s]];
                df += (pb > ps) - (pa > ps);
                if (skip > 0) sk += (ps - pb > skip) - (ps - pa > skip);
            }
            inc->viol[MCM_V_DATAFLOW] += df;
            inc->viol[MCM_V_SKIP] += sk;
        } else {
            for (int32_t e = g->pred_ptr[v]; e < g->pred_ptr[v + 1]; e++) {
                const int32_t q = g->pred_idx[e];
                if (!mcm__forward(g, q)) continue;
                const int32_t dq = pl[q];
                if (dq != a) pair_change(inc, dq, a, -1);
                if (dq != b) pair_change(inc, dq, b, 1);
            }
            for (int32_t e = g->succ_ptr[v]; e < g->succ_ptr[v + 1]; e++) {
                const int32_t s = g->succ_idx[e];
                if (!mcm__forward(g, s)) continue;
                const int32_t ds = pl[s];
                if (a != ds) pair_change(inc, a, ds, -1);
                if (b != ds) pair_change(inc, b, ds, 1);
            }
        }
    }

    /* Colors: against the anchor (first node) of the color class. */
    if (cons->colors && g->color && g->color[v] >= 0) {
        const int32_t c = g->color[v];
        const int32_t lo = g->color_ptr[c], hi = g->color_ptr[c + 1];
        const int32_t anchor = g->color_members[lo];
        if (anchor != v) {
            const int32_t r = pl[anchor];
            inc->viol[MCM_V_COLOR] += (b != r) - (a != r);
        } else {
            int64_t delta = 0;
            for (int32_t j = lo + 1; j < hi; j++) {
                const int32_t dj = pl[g->color_members[j]];
                delta += (dj != b) - (dj != a);
            }
            inc->viol[MCM_V_COLOR] += delta;
        }
    }
    if (cons->pins && g->pin && g->pin[v] >= 0) inc->viol[MCM_V_PIN] += (b != g->pin[v]) - (a != g->pin[v]);
    if (cons->support && g->supported)
        inc->viol[MCM_V_SUPPORT] += mcm__unsupported(pr, v, b) - mcm__unsupported(pr, v, a);

    /* Compute, memory, counts. */
    pl[v] = b;
    kadd(&inc->C[a], &inc->Cc[a], -mcm__ct(pr, v, a));
    kadd(&inc->C[b], &inc->Cc[b], mcm__ct(pr, v, b));
    kadd(&inc->mem[a], &inc->memc[a], -g->weight_bytes[v]);
    kadd(&inc->mem[b], &inc->memc[b], g->weight_bytes[v]);
    if (--inc->cnt[a] == 0) {
        /* An empty device has exactly zero load: drop the rounding residue of the running sums. */
        inc->C[a] = inc->Cc[a] = 0.0;
        inc->mem[a] = inc->memc[a] = 0.0;
        inc->empty++;
    }
    if (inc->cnt[b]++ == 0) inc->empty--;
    if (cons->capacity) {
        inc->viol[MCM_V_CAPACITY] += mcm__over_capacity(inc->mem[a] + inc->memc[a], p->sram_bytes[a]) +
                                     mcm__over_capacity(inc->mem[b] + inc->memc[b], p->sram_bytes[b]);
    }
    if (cons->all_used) inc->viol[MCM_V_ALL_USED] = inc->empty;
    if (inc->structure_changed) acyclic_refresh(inc);
    total_violations(inc);
    inc->interval = current_interval(inc);
}

int mcm_incremental_move(mcm_incremental *inc, int32_t node, int32_t device) {
    if (node < 0 || node >= inc->N || device < 0 || device >= inc->K) return MCM_ERR_ARG;
    int32_t from = inc->pl[node];
    inc->last_node = node;
    inc->last_from = from;
    if (from != device) do_move(inc, node, device);
    return MCM_OK;
}

void mcm_incremental_undo(mcm_incremental *inc) {
    if (inc->last_node < 0) return;
    int32_t v = inc->last_node, a = inc->last_from;
    inc->last_node = -1;
    if (inc->pl[v] != a) do_move(inc, v, a);
}

double mcm_incremental_interval(const mcm_incremental *inc) { return inc->interval; }
const int32_t *mcm_incremental_placement(const mcm_incremental *inc) { return inc->pl; }
const int64_t *mcm_incremental_violations(const mcm_incremental *inc) { return inc->viol; }
int64_t mcm_incremental_total_violations(const mcm_incremental *inc) { return inc->total; }

void mcm_incremental_state(const mcm_incremental *inc, double *compute, double *comm, double *memory,
                           double *traffic) {
    for (int32_t k = 0; k < inc->K; k++) {
        if (compute) compute[k] = inc->C[k] + inc->Cc[k];
        if (comm) comm[k] = inc->X[k] + inc->Xc[k];
        if (memory) memory[k] = inc->mem[k] + inc->memc[k];
    }
    for (int32_t l = 0; traffic && l < inc->L; l++) traffic[l] = inc->T[l] + inc->Tc[l];
}

/* Internal (mcm_internal.h): read-only views of the running per-device and per-link sums. */
void mcm__incremental_loads(const mcm_incremental *inc, const double **compute, const double **comm,
                            const double **traffic) {
    *compute = inc->C;
    *comm = inc->X;
    *traffic = inc->T;
}

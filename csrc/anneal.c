/* anneal.c -- simulated annealing with incremental move evaluation.
 *
 * Energy = soft-max of the loads (device compute [+ comm], link times) + penalty * violations, all relative to
 * the start interval. Three kinds of proposals:
 *  - single: one node (with its color class) to a device at an adjacent pipeline position (or anywhere);
 *  - swap: two nodes on (adjacent) devices exchange devices;
 *  - block: a node together with everything it reaches inside its own device, to the next
 *    pipeline position (or with its ancestors there, to the previous one). Such a move never breaks the
 *    dataflow order and crosses the barrier single moves stall on (cutting a large tensor at a stage boundary).
 * A rejected proposal is undone node by node in reverse order. The best *valid* state is kept.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mcm_internal.h"

struct mcm_anneal {
    const mcm_problem *pr;
    mcm_anneal_params prm;
    mcm_incremental *inc;
    mcm_workspace *ws; /* latency objective: full evaluations */
    int32_t N, K;
    double ref;        /* start interval (or latency): the energy scale */
    double energy;     /* energy of the current state */
    double value;      /* objective value of the current state */
    double best;       /* best valid objective value */
    int32_t *best_pl;
    int64_t evals, accepted;
    uint64_t rng[2];
    /* proposal scratch */
    int32_t *moved_node, *moved_from, *queue, *stamp;
    int32_t n_moved, stamp_gen;
    int32_t *dev_at;   /* device at each pipeline position */
    double *items;     /* loads for the soft-max */
};

/* ---- random numbers: xorshift128+ seeded by splitmix64 -------------------------------------------------------- */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static inline uint64_t rnd(mcm_anneal *an) {
    uint64_t s1 = an->rng[0];
    const uint64_t s0 = an->rng[1];
    an->rng[0] = s0;
    s1 ^= s1 << 23;
    an->rng[1] = s1 ^ s0 ^ (s1 >> 18) ^ (s0 >> 5);
    return an->rng[1] + s0;
}
static inline double rnd_unit(mcm_anneal *an) { return (double)(rnd(an) >> 11) * (1.0 / 9007199254740992.0); }
static inline int32_t rnd_below(mcm_anneal *an, int32_t n) { return (int32_t)(rnd(an) % (uint64_t)n); }

void mcm_anneal_defaults(mcm_anneal_params *prm) {
    prm->t_start = 0.02;
    prm->t_end = 2e-5;
    prm->beta = 30.0;
    prm->penalty = 1.0;
    prm->p_block = 0.5;
    prm->p_swap = 0.05;
    prm->block_limit = 1 << 30;
    prm->objective = 0;
    prm->seed = 0;
}

/* ---- energy ------------------------------------------------------------------------------------------------- */
static double objective_value(mcm_anneal *an) {
    if (an->prm.objective == 0) return mcm_incremental_interval(an->inc);
    mcm_report rep;
    memset(&rep, 0, sizeof(rep));
    mcm_evaluate(an->pr, mcm_incremental_placement(an->inc), an->ws, 1, &rep);
    return rep.latency;
}

/* Log-sum-exp of the loads with sharpness beta / ref, plus penalties. With beta = 0 the bare maximum. */
static double energy_of(mcm_anneal *an, double value) {
    const mcm_problem *pr = an->pr;
    const mcm_package *p = pr->p;
    const int32_t K = an->K, L = p->n_links;
    double e;
    if (an->prm.beta <= 0 || an->prm.objective != 0) {
        e = value;
    } else {
        const double *C, *X, *T;
        mcm__incremental_loads(an->inc, &C, &X, &T);
        int32_t n = 0;
        double *it = an->items;
        if (p->interconnect == MCM_PORT && !pr->overlap) {
            for (int32_t k = 0; k < K; k++) it[n++] = C[k] + X[k];
        } else {
            for (int32_t k = 0; k < K; k++) it[n++] = C[k];
            if (p->interconnect == MCM_PORT) {
                for (int32_t k = 0; k < K; k++) it[n++] = X[k];
            } else {
                for (int32_t l = 0; l < L; l++) it[n++] = T[l] / p->link_bw[l];
            }
        }
        const double b = an->prm.beta / an->ref;
        double s = 0.0;
        for (int32_t i = 0; i < n; i++) s += exp(b * (it[i] - value));
        e = value + log(s) / b;
    }
    return e + an->prm.penalty * an->ref * (double)mcm_incremental_total_violations(an->inc);
}

/* ---- proposals ---------------------------------------------------------------------------------------------- */
static void apply(mcm_anneal *an, int32_t v, int32_t d) {
    const int32_t from = mcm_incremental_placement(an->inc)[v];
    if (from == d) return;
    an->moved_node[an->n_moved] = v;
    an->moved_from[an->n_moved] = from;
    an->n_moved++;
    mcm_incremental_move(an->inc, v, d);
}

static void revert(mcm_anneal *an) {
    for (int32_t i = an->n_moved - 1; i >= 0; i--) mcm_incremental_move(an->inc, an->moved_node[i], an->moved_from[i]);
    an->n_moved = 0;
}

/* Move v and the rest of its color class (those on v's device) to d. */
static void move_unit(mcm_anneal *an, int32_t v, int32_t d) {
    const mcm_graph *g = an->pr->g;
    const int32_t *pl = mcm_incremental_placement(an->inc);
    if (an->pr->cons.colors && g->color && g->color[v] >= 0) {
        const int32_t c = g->color[v], src = pl[v];
        for (int32_t j = g->color_ptr[c]; j < g->color_ptr[c + 1]; j++) {
            const int32_t m = g->color_members[j];
            if (pl[m] == src) apply(an, m, d);
        }
    } else {
        apply(an, v, d);
    }
}

static int propose_single(mcm_anneal *an) {
    const mcm_problem *pr = an->pr;
    const int32_t v = rnd_below(an, an->N);
    const int32_t a = mcm_incremental_placement(an->inc)[v];
    int32_t d;
    if (an->K < 2) return 0;
    if (pr->cons.dataflow == MCM_DATAFLOW_ORDERED && rnd_unit(an) < 0.8) {
        const int32_t pa = pr->p->position[a];
        int32_t pd = pa + ((rnd(an) & 1) ? 1 : -1);
        if (pd < 0 || pd >= an->K) pd = pa + (pa + 1 < an->K ? 1 : -1);
        d = an->dev_at[pd];
    } else {
        d = rnd_below(an, an->K - 1);
        if (d >= a) d++;
    }
    move_unit(an, v, d);
    return an->n_moved > 0;
}

/* Swap: v and a node w on another device exchange devices (with their color classes). Balances two stages
 * without changing how many nodes each holds; with ORDERED dataflow w is drawn from an adjacent position. */
static int propose_swap(mcm_anneal *an) {
    const mcm_problem *pr = an->pr;
    const int32_t *pl = mcm_incremental_placement(an->inc);
    if (an->K < 2 || an->N < 2) return 0;
    const int32_t v = rnd_below(an, an->N);
    const int32_t a = pl[v];
    const int ordered = pr->cons.dataflow == MCM_DATAFLOW_ORDERED;
    for (int tries = 0; tries < 16; tries++) {
        const int32_t w = rnd_below(an, an->N);
        const int32_t b = pl[w];
        if (b == a) continue;
        if (ordered) {
            const int32_t gap = pr->p->position[a] - pr->p->position[b];
            if (gap != 1 && gap != -1) continue;
        }
        move_unit(an, v, b);
        if (mcm_incremental_placement(an->inc)[w] == b) move_unit(an, w, a);
        return an->n_moved > 0;
    }
    return 0;
}

/* Block move: v with its same-device descendants (forward) or ancestors (backward), along forward edges and
 * color classes, to the adjacent pipeline position. */
static int propose_block(mcm_anneal *an) {
    const mcm_problem *pr = an->pr;
    const mcm_graph *g = pr->g;
    const int32_t *pl = mcm_incremental_placement(an->inc);
    const int32_t v = rnd_below(an, an->N);
    const int32_t a = pl[v];
    const int32_t pa = pr->p->position[a];
    const int forward = (rnd(an) & 1) != 0;
    const int32_t pd = forward ? pa + 1 : pa - 1;
    if (pd < 0 || pd >= an->K) return 0;
    const int32_t d = an->dev_at[pd];
    const int colors = pr->cons.colors && g->color;
    if (++an->stamp_gen == INT32_MAX) {
        for (int32_t i = 0; i < an->N; i++) an->stamp[i] = 0;
        an->stamp_gen = 1;
    }
    const int32_t gen = an->stamp_gen;
    int32_t head = 0, tail = 0;
    an->queue[tail++] = v;
    an->stamp[v] = gen;
    while (head < tail) {
        const int32_t u = an->queue[head++];
        if (tail > an->prm.block_limit) return 0;
        const int fu = mcm__forward(g, u);
        const int32_t *ptr = forward ? g->succ_ptr : g->pred_ptr;
        const int32_t *idx = forward ? g->succ_idx : g->pred_idx;
        if (fu) {
            for (int32_t e = ptr[u]; e < ptr[u + 1]; e++) {
                const int32_t w = idx[e];
                if (an->stamp[w] != gen && pl[w] == a && mcm__forward(g, w)) {
                    an->stamp[w] = gen;
                    an->queue[tail++] = w;
                }
            }
        }
        if (colors && g->color[u] >= 0) {
            const int32_t c = g->color[u];
            for (int32_t j = g->color_ptr[c]; j < g->color_ptr[c + 1]; j++) {
                const int32_t w = g->color_members[j];
                if (an->stamp[w] != gen && pl[w] == a) {
                    an->stamp[w] = gen;
                    an->queue[tail++] = w;
                }
            }
        }
    }
    for (int32_t i = 0; i < tail; i++) apply(an, an->queue[i], d);
    return an->n_moved > 0;
}

/* ---- lifecycle ---------------------------------------------------------------------------------------------- */
void mcm_anneal_free(mcm_anneal *an) {
    if (!an) return;
    mcm_incremental_free(an->inc);
    mcm_workspace_free(an->ws);
    free(an->best_pl);
    free(an->moved_node);
    free(an->items);
    free(an->dev_at);
    free(an);
}

int mcm_anneal_new(mcm_anneal **out, const mcm_problem *pr, const int32_t *start, const mcm_anneal_params *prm) {
    *out = NULL;
    mcm_anneal *an = (mcm_anneal *)calloc(1, sizeof(mcm_anneal));
    if (!an) return MCM_ERR_NOMEM;
    an->pr = pr;
    an->prm = *prm;
    an->N = pr->g->n_nodes;
    an->K = pr->p->n_devices;
    int status = mcm_incremental_new(&an->inc, pr, start);
    if (status != MCM_OK) {
        mcm_anneal_free(an);
        return status;
    }
    const size_t N = (size_t)an->N;
    an->ws = mcm_workspace_new(pr);
    an->best_pl = (int32_t *)malloc(sizeof(int32_t) * (N + 1));
    an->moved_node = (int32_t *)malloc(sizeof(int32_t) * (4 * N + 4));
    an->items = (double *)malloc(sizeof(double) * (2 * (size_t)an->K + (size_t)pr->p->n_links + 1));
    an->dev_at = (int32_t *)malloc(sizeof(int32_t) * ((size_t)an->K + 1));
    if (!an->ws || !an->best_pl || !an->moved_node || !an->items || !an->dev_at) {
        mcm_anneal_free(an);
        return MCM_ERR_NOMEM;
    }
    an->moved_from = an->moved_node + N + 1;
    an->queue = an->moved_from + N + 1;
    an->stamp = an->queue + N + 1;
    memset(an->stamp, 0, sizeof(int32_t) * (N + 1));
    for (int32_t k = 0; k < an->K; k++) an->dev_at[pr->p->position[k]] = k;
    uint64_t s = prm->seed;
    an->rng[0] = splitmix64(&s);
    an->rng[1] = splitmix64(&s) | 1;
    an->value = objective_value(an);
    an->ref = an->value > 0 ? an->value : 1.0;
    an->energy = energy_of(an, an->value);
    an->best = INFINITY;
    if (mcm_incremental_total_violations(an->inc) == 0) {
        an->best = an->value;
        memcpy(an->best_pl, start, sizeof(int32_t) * N);
    }
    an->evals = 1;
    *out = an;
    return MCM_OK;
}

int mcm_anneal_run(mcm_anneal *an, int64_t iters, double f0, double f1) {
    const double t0 = an->prm.t_start * an->ref, t1 = an->prm.t_end * an->ref;
    /* Block moves follow the package's pipeline order; under ACYCLIC that order is one valid device order among
     * others, and a move along it never creates a device cycle from a placement consistent with it. */
    const double p_block = an->prm.p_block;
    const double lr = log(t1 / t0);
    for (int64_t it = 0; it < iters; it++) {
        const double f = iters > 1 ? f0 + (f1 - f0) * (double)it / (double)(iters - 1) : f0;
        const double temp = t0 * exp(lr * f);
        an->n_moved = 0;
        const double u = rnd_unit(an);
        int ok = u < p_block ? propose_block(an) : (u < p_block + an->prm.p_swap ? propose_swap(an) : propose_single(an));
        if (!ok) {
            an->n_moved = 0;
            continue;
        }
        an->evals++;
        const double value = objective_value(an);
        const double e = energy_of(an, value);
        const double delta = e - an->energy;
        if (delta <= 0 || rnd_unit(an) < exp(-delta / temp)) {
            an->energy = e;
            an->value = value;
            an->accepted++;
            an->n_moved = 0;
            if (value < an->best && mcm_incremental_total_violations(an->inc) == 0) {
                an->best = value;
                memcpy(an->best_pl, mcm_incremental_placement(an->inc), sizeof(int32_t) * (size_t)an->N);
            }
        } else {
            revert(an);
        }
    }
    return MCM_OK;
}

double mcm_anneal_best(const mcm_anneal *an, int32_t *placement) {
    if (placement && isfinite(an->best)) memcpy(placement, an->best_pl, sizeof(int32_t) * (size_t)an->N);
    return an->best;
}

int64_t mcm_anneal_evals(const mcm_anneal *an) { return an->evals; }
int64_t mcm_anneal_accepted(const mcm_anneal *an) { return an->accepted; }

double mcm_anneal_current(const mcm_anneal *an, int64_t *violations) {
    if (violations) *violations = mcm_incremental_total_violations(an->inc);
    return an->value;
}

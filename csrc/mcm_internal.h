/* mcm_internal.h -- helpers shared by the core's translation units; not part of the public API. */
#ifndef MCM_INTERNAL_H
#define MCM_INTERNAL_H

#include <math.h>
#include <stdlib.h>

#include "mcm.h"

/* Memory over capacity, with the 1e-9 relative tolerance of the cost-model contract (sums of the same byte
 * counts in another order must not flip the verdict). */
static inline int mcm__over_capacity(double memory, double sram) { return memory > sram * (1.0 + 1e-9); }

static inline double mcm__ct(const mcm_problem *pr, int32_t i, int32_t d) {
    if (pr->ct) return pr->ct[(size_t)i * (size_t)pr->n_cls + (size_t)pr->dev_cls[d]];
    return mcm_compute_time(pr, i, d);
}

static inline int mcm__forward(const mcm_graph *g, int32_t i) { return g->backward == NULL || !g->backward[i]; }

static inline int mcm__unsupported(const mcm_problem *pr, int32_t i, int32_t d) {
    const mcm_graph *g = pr->g;
    if (!g->supported) return 0;
    return !g->supported[(size_t)i * (size_t)g->n_kinds + (size_t)pr->p->kind[d]];
}

/* Transfer time of node q's output from device a to device d (a != d), for the latency schedule. */
static inline double mcm__transfer(const mcm_problem *pr, int32_t q, int32_t a, int32_t d) {
    const mcm_package *p = pr->p;
    if (p->interconnect == MCM_PORT) return pr->tx[q];
    size_t ad = (size_t)a * (size_t)p->n_devices + (size_t)d;
    return p->hops[ad] * p->hop_latency + pr->g->out_bytes[q] / p->route_bw[ad];
}

/* Strongly connected components (iterative Tarjan) of the device graph with the P edges pa[i] -> pb[i]
 * (distinct, no self-loops). Writes comp[K]; returns the number of components (K exactly when the device graph is
 * a DAG). scratch must hold 6*K + P + 1 int32. */
int32_t mcm__scc_pairs(int32_t K, int32_t P, const int32_t *pa, const int32_t *pb, int32_t *comp,
                       int32_t *scratch);

/* Read-only views of an incremental evaluator's running sums (compute and comm per device, traffic per link). */
void mcm__incremental_loads(const mcm_incremental *inc, const double **compute, const double **comm,
                            const double **traffic);

#endif

/* graph.c -- CSR derivation, topological order, cycle extraction, owned graphs for C users. */
#include <stdlib.h>
#include <string.h>

#include "mcm.h"

const char *mcm_status_str(int status) {
    switch (status) {
    case MCM_OK: return "ok";
    case MCM_ERR_NOMEM: return "out of memory";
    case MCM_ERR_ARG: return "invalid argument";
    case MCM_ERR_CYCLE: return "graph has a cycle";
    case MCM_ERR_PLACEMENT: return "placement names a device outside the package";
    case MCM_ERR_INFEASIBLE: return "no valid placement exists";
    default: return "unknown status";
    }
}

/* Binary min-heap of node ids: the topological order takes the smallest ready id first, so a graph whose ids are
 * already topologically sorted keeps its own order. */
static void heap_push(int32_t *h, int32_t *n, int32_t x) {
    int32_t i = (*n)++;
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (h[parent] <= x) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

static int32_t heap_pop(int32_t *h, int32_t *n) {
    int32_t top = h[0];
    int32_t x = h[--(*n)];
    int32_t i = 0;
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = x;
    return top;
}

int mcm_graph_derive(int32_t n, int32_t m, const int32_t *succ_ptr, const int32_t *succ_idx, int32_t *pred_ptr,
                     int32_t *pred_idx, int32_t *topo, int32_t *cycle, int32_t *cycle_len) {
    if (n < 0 || m < 0 || succ_ptr[0] != 0 || succ_ptr[n] != m) return MCM_ERR_ARG;
    for (int32_t u = 0; u < n; u++) {
        if (succ_ptr[u + 1] < succ_ptr[u]) return MCM_ERR_ARG;
    }
    for (int32_t e = 0; e < m; e++) {
        if (succ_idx[e] < 0 || succ_idx[e] >= n) return MCM_ERR_ARG;
    }
    /* Predecessor CSR by counting; predecessors come out in increasing order because u ascends. */
    memset(pred_ptr, 0, sizeof(int32_t) * ((size_t)n + 1));
    for (int32_t e = 0; e < m; e++) pred_ptr[succ_idx[e] + 1]++;
    for (int32_t v = 0; v < n; v++) pred_ptr[v + 1] += pred_ptr[v];
    int32_t *fill = (int32_t *)malloc(sizeof(int32_t) * ((size_t)n + 1));
    int32_t *heap = (int32_t *)malloc(sizeof(int32_t) * ((size_t)n + 1));
    if (!fill || !heap) {
        free(fill);
        free(heap);
        return MCM_ERR_NOMEM;
    }
    memcpy(fill, pred_ptr, sizeof(int32_t) * (size_t)n);
    for (int32_t u = 0; u < n; u++) {
        for (int32_t e = succ_ptr[u]; e < succ_ptr[u + 1]; e++) pred_idx[fill[succ_idx[e]]++] = u;
    }
    /* Kahn's algorithm, smallest ready id first; fill[] now holds the remaining in-degree. */
    int32_t hn = 0, done = 0;
    for (int32_t v = 0; v < n; v++) {
        fill[v] = pred_ptr[v + 1] - pred_ptr[v];
        if (fill[v] == 0) heap_push(heap, &hn, v);
    }
    while (hn > 0) {
        int32_t u = heap_pop(heap, &hn);
        topo[done++] = u;
        for (int32_t e = succ_ptr[u]; e < succ_ptr[u + 1]; e++) {
            int32_t v = succ_idx[e];
            if (--fill[v] == 0) heap_push(heap, &hn, v);
        }
    }
    int status = MCM_OK;
    if (done < n) {
        status = MCM_ERR_CYCLE;
        if (cycle && cycle_len) {
            /* Every node left has a predecessor that is also left: walk predecessors until one repeats. */
            int32_t *seen_at = heap; /* reuse: step at which a node was visited, -1 = not yet */
            for (int32_t v = 0; v < n; v++) seen_at[v] = -1;
            int32_t v = -1;
            for (int32_t x = 0; x < n; x++) {
                if (fill[x] > 0) { v = x; break; }
            }
            int32_t step = 0;
            int32_t *walk = topo; /* reuse the tail of topo as the walk buffer (done < n) */
            while (seen_at[v] < 0) {
                seen_at[v] = step;
                walk[step++] = v;
                int32_t next = -1;
                for (int32_t e = pred_ptr[v]; e < pred_ptr[v + 1]; e++) {
                    if (fill[pred_idx[e]] > 0) { next = pred_idx[e]; break; }
                }
                v = next;
            }
            int32_t first = seen_at[v];
            int32_t len = step - first;
            /* The walk followed predecessors; reverse it to follow edges. */
            for (int32_t i = 0; i < len; i++) cycle[i] = walk[step - 1 - i];
            *cycle_len = len;
        }
    }
    free(fill);
    free(heap);
    return status;
}

static int cmp_edge(const void *a, const void *b) {
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int mcm_graph_create(mcm_graph *g, int32_t n, int64_t m, const int32_t *src, const int32_t *dst,
                     const double *flops, const double *mem_bytes, const double *weight_bytes,
                     const double *out_bytes) {
    memset(g, 0, sizeof(*g));
    if (n < 0 || m < 0 || m > INT32_MAX) return MCM_ERR_ARG;
    int64_t *keys = (int64_t *)malloc(sizeof(int64_t) * ((size_t)m + 1));
    if (!keys) return MCM_ERR_NOMEM;
    for (int64_t e = 0; e < m; e++) {
        if (src[e] < 0 || src[e] >= n || dst[e] < 0 || dst[e] >= n) {
            free(keys);
            return MCM_ERR_ARG;
        }
        keys[e] = (int64_t)src[e] * n + dst[e];
    }
    qsort(keys, (size_t)m, sizeof(int64_t), cmp_edge);
    int64_t mu = 0;
    for (int64_t e = 0; e < m; e++) {
        if (mu == 0 || keys[e] != keys[mu - 1]) keys[mu++] = keys[e];
    }
    size_t ints = 3 * ((size_t)n + 1) + 2 * (size_t)mu + (size_t)n;
    size_t bytes = ints * sizeof(int32_t) + 4 * (size_t)n * sizeof(double) + 16;
    char *block = (char *)calloc(1, bytes);
    if (!block) {
        free(keys);
        return MCM_ERR_NOMEM;
    }
    double *d = (double *)block;
    double *f = d, *mb = d + n, *wb = d + 2 * (size_t)n, *ob = d + 3 * (size_t)n;
    int32_t *ip = (int32_t *)(d + 4 * (size_t)n);
    int32_t *sp = ip, *si = sp + n + 1, *pp = si + mu, *pi = pp + n + 1, *topo = pi + mu;
    for (int64_t e = 0; e < mu; e++) {
        int32_t u = (int32_t)(keys[e] / n);
        sp[u + 1]++;
        si[e] = (int32_t)(keys[e] % n);
    }
    for (int32_t u = 0; u < n; u++) sp[u + 1] += sp[u];
    free(keys);
    for (int32_t i = 0; i < n; i++) {
        f[i] = flops ? flops[i] : 0.0;
        mb[i] = mem_bytes ? mem_bytes[i] : 0.0;
        wb[i] = weight_bytes ? weight_bytes[i] : 0.0;
        ob[i] = out_bytes ? out_bytes[i] : 0.0;
    }
    int status = mcm_graph_derive(n, (int32_t)mu, sp, si, pp, pi, topo, NULL, NULL);
    if (status != MCM_OK) {
        free(block);
        return status;
    }
    g->n_nodes = n;
    g->n_edges = (int32_t)mu;
    g->succ_ptr = sp;
    g->succ_idx = si;
    g->pred_ptr = pp;
    g->pred_idx = pi;
    g->topo = topo;
    g->flops = f;
    g->mem_bytes = mb;
    g->weight_bytes = wb;
    g->out_bytes = ob;
    g->owned_ = block;
    return MCM_OK;
}

void mcm_graph_destroy(mcm_graph *g) {
    if (g && g->owned_) free(g->owned_);
    if (g) memset(g, 0, sizeof(*g));
}

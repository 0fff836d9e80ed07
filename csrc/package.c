/* package.c -- deterministic routing tables for the links interconnect model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcm.h"

/* Step along one dimension of size n from x toward target: +1/-1, the shorter way around when wrapping (ties go
 * up), 0 when already there. */
static int32_t step_toward(int32_t x, int32_t target, int32_t n, int wrap) {
    if (x == target) return 0;
    if (!wrap) return target > x ? 1 : -1;
    int32_t up = ((target - x) % n + n) % n;
    int32_t down = n - up;
    return up <= down ? 1 : -1;
}

int mcm_routes(int32_t topology, int32_t K, int32_t rows, int32_t cols, int32_t L, const int32_t *link_src,
               const int32_t *link_dst, const double *link_bw, int32_t *next_link, int32_t *hops,
               double *route_bw, char *err, size_t err_len) {
    if (K <= 0) {
        snprintf(err, err_len, "a package needs at least one device");
        return MCM_ERR_ARG;
    }
    size_t KK = (size_t)K * (size_t)K;
    for (size_t i = 0; i < KK; i++) next_link[i] = -1;
    /* link_of[s*K + d]: the lowest-id direct link s -> d, or -1. */
    int32_t *link_of = (int32_t *)malloc(sizeof(int32_t) * KK);
    if (!link_of) return MCM_ERR_NOMEM;
    for (size_t i = 0; i < KK; i++) link_of[i] = -1;
    for (int32_t l = 0; l < L; l++) {
        int32_t s = link_src[l], d = link_dst[l];
        if (s < 0 || s >= K || d < 0 || d >= K || s == d) {
            snprintf(err, err_len, "link %d (%d -> %d) must join two different devices in [0, %d)", l, s, d, K);
            free(link_of);
            return MCM_ERR_ARG;
        }
        if (!(link_bw[l] > 0) || !isfinite(link_bw[l])) {
            snprintf(err, err_len, "link %d (%d -> %d) has bandwidth %g; it must be positive and finite", l, s,
                     d, link_bw[l]);
            free(link_of);
            return MCM_ERR_ARG;
        }
        if (link_of[(size_t)s * K + d] < 0) link_of[(size_t)s * K + d] = l;
    }
    int status = MCM_OK;
    if (topology == MCM_TOPO_PORT) {
        /* No links: nothing to route. */
    } else if (topology == MCM_TOPO_CUSTOM) {
        /* Breadth-first search toward each destination over reversed links; the first link reaching a node wins,
         * links scanned in id order, so ties go to the lower link id and routes are destination-consistent. */
        int32_t *dist = (int32_t *)malloc(sizeof(int32_t) * (size_t)K);
        int32_t *queue = (int32_t *)malloc(sizeof(int32_t) * (size_t)K);
        /* incoming links of each node, CSR */
        int32_t *in_ptr = (int32_t *)calloc((size_t)K + 1, sizeof(int32_t));
        int32_t *in_idx = (int32_t *)malloc(sizeof(int32_t) * ((size_t)L + 1));
        if (!dist || !queue || !in_ptr || !in_idx) {
            status = MCM_ERR_NOMEM;
        } else {
            for (int32_t l = 0; l < L; l++) in_ptr[link_dst[l] + 1]++;
            for (int32_t v = 0; v < K; v++) in_ptr[v + 1] += in_ptr[v];
            int32_t *fill = queue; /* temporary */
            memcpy(fill, in_ptr, sizeof(int32_t) * (size_t)K);
            for (int32_t l = 0; l < L; l++) in_idx[fill[link_dst[l]]++] = l;
            for (int32_t d = 0; d < K && status == MCM_OK; d++) {
                for (int32_t v = 0; v < K; v++) dist[v] = -1;
                int32_t head = 0, tail = 0;
                dist[d] = 0;
                queue[tail++] = d;
                while (head < tail) {
                    int32_t v = queue[head++];
                    for (int32_t e = in_ptr[v]; e < in_ptr[v + 1]; e++) {
                        int32_t l = in_idx[e], s = link_src[l];
                        if (dist[s] < 0) {
                            dist[s] = dist[v] + 1;
                            next_link[(size_t)s * K + d] = l;
                            queue[tail++] = s;
                        }
                    }
                }
                for (int32_t s = 0; s < K; s++) {
                    if (dist[s] < 0) {
                        snprintf(err, err_len, "no route from device %d to device %d over the given links", s, d);
                        status = MCM_ERR_ARG;
                        break;
                    }
                }
            }
        }
        free(dist);
        free(queue);
        free(in_ptr);
        free(in_idx);
    } else {
        int wrap = (topology == MCM_TOPO_TORUS || topology == MCM_TOPO_RING);
        if (topology == MCM_TOPO_RING || topology == MCM_TOPO_FULL) {
            rows = 1;
            cols = K;
        }
        if (rows <= 0 || cols <= 0 || (int64_t)rows * cols != K) {
            snprintf(err, err_len, "a %d x %d grid does not have %d devices", rows, cols, K);
            free(link_of);
            return MCM_ERR_ARG;
        }
        for (int32_t s = 0; s < K && status == MCM_OK; s++) {
            for (int32_t d = 0; d < K; d++) {
                if (s == d) continue;
                int32_t nxt;
                if (topology == MCM_TOPO_FULL) {
                    nxt = d;
                } else {
                    int32_t r = s / cols, c = s % cols, tr = d / cols, tc = d % cols;
                    int32_t dc = step_toward(c, tc, cols, wrap);
                    if (dc != 0) {
                        nxt = r * cols + ((c + dc + cols) % cols);
                    } else {
                        int32_t dr = step_toward(r, tr, rows, wrap);
                        nxt = ((r + dr + rows) % rows) * cols + c;
                    }
                }
                int32_t l = link_of[(size_t)s * K + nxt];
                if (l < 0) {
                    snprintf(err, err_len, "the route from device %d to device %d needs a link %d -> %d", s, d, s,
                             nxt);
                    status = MCM_ERR_ARG;
                    break;
                }
                next_link[(size_t)s * K + d] = l;
            }
        }
    }
    free(link_of);
    if (status != MCM_OK) return status;
    /* Hop counts and bottleneck bandwidths, per destination d: a route s -> d is its first link, then the route
     * from that link's end, so each device is resolved once per destination by following its chain to a resolved
     * device and unwinding (O(K^2) in all; walking every route was O(K^2 * route length), minutes at 4,096). */
    int32_t *state = (int32_t *)malloc(sizeof(int32_t) * (size_t)K);
    int32_t *stack = (int32_t *)malloc(sizeof(int32_t) * (size_t)K);
    int32_t *hd = (int32_t *)malloc(sizeof(int32_t) * (size_t)K);
    double *bd = (double *)malloc(sizeof(double) * (size_t)K);
    if (!state || !stack || !hd || !bd) status = MCM_ERR_NOMEM;
    for (int32_t d = 0; d < K && status == MCM_OK; d++) {
        for (int32_t v = 0; v < K; v++) state[v] = 0; /* 0 unknown, 1 on the chain being followed, 2 resolved */
        state[d] = 2;
        hd[d] = 0;
        bd[d] = INFINITY;
        for (int32_t s = 0; s < K && status == MCM_OK; s++) {
            if (topology == MCM_TOPO_PORT) {
                hd[s] = 0;
                bd[s] = INFINITY;
                continue;
            }
            int32_t top = 0, x = s;
            while (state[x] == 0) {
                state[x] = 1;
                stack[top++] = x;
                int32_t l = next_link[(size_t)x * K + d];
                if (l < 0) break;
                x = link_dst[l];
            }
            if (state[x] != 2) {
                snprintf(err, err_len, "routing loop from device %d to device %d", s, d);
                status = MCM_ERR_ARG;
                break;
            }
            while (top > 0) {
                int32_t v = stack[--top], l = next_link[(size_t)v * K + d], y = link_dst[l];
                hd[v] = hd[y] + 1;
                bd[v] = link_bw[l] < bd[y] ? link_bw[l] : bd[y];
                state[v] = 2;
            }
        }
        if (status != MCM_OK) break;
        for (int32_t s = 0; s < K; s++) {
            size_t sd = (size_t)s * K + d;
            if (hops) hops[sd] = hd[s];
            if (route_bw) route_bw[sd] = bd[s];
        }
    }
    free(state);
    free(stack);
    free(hd);
    free(bd);
    if (status != MCM_OK) return status;
    return MCM_OK;
}

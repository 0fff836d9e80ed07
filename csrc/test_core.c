/* test_core.c -- links the core without Python and checks it on hand-computed cases and random moves.
 * Build and run: cc -O2 -std=c99 -Icsrc csrc/[a-z]*.c -o test_core -lm -lpthread && ./test_core  (see .ci/run) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcm.h"

static int failures = 0;
#define CHECK(cond)                                                                                                \
    do {                                                                                                           \
        if (!(cond)) {                                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                               \
            failures++;                                                                                            \
        }                                                                                                          \
    } while (0)
#define CLOSE(a, b) CHECK(fabs((a) - (b)) <= 1e-9 * (fabs(a) + fabs(b)) + 1e-300)

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A port package over caller-owned per-device arrays (bandwidth 1 GB/s). */
static void port_package(mcm_package *p, int32_t K, double *peak, double *bw, double *sram, double *cf,
                         int32_t *kind, int32_t *pos) {
    memset(p, 0, sizeof(*p));
    p->n_devices = K;
    p->peak_flops = peak;
    p->mem_bw = bw;
    p->sram_bytes = sram;
    p->comm_factor = cf;
    p->kind = kind;
    p->position = pos;
    p->interconnect = MCM_PORT;
    p->bandwidth = 1e9;
}

static void test_cycle(void) {
    int32_t src[] = {0, 1, 2, 3}, dst[] = {1, 2, 0, 3};
    mcm_graph g;
    CHECK(mcm_graph_create(&g, 4, 3, src, dst, NULL, NULL, NULL, NULL) == MCM_ERR_CYCLE);
    /* derive reports the cycle itself */
    int32_t sp[] = {0, 1, 2, 3, 3}, si[] = {1, 2, 0};
    int32_t pp[5], pi[3], topo[4], cyc[4], len = 0;
    CHECK(mcm_graph_derive(4, 3, sp, si, pp, pi, topo, cyc, &len) == MCM_ERR_CYCLE);
    CHECK(len == 3);
}

/* Diamond 0 -> {1, 2} -> 3 on a 2-device port package, hand-computed. */
static void test_port_by_hand(void) {
    int32_t src[] = {0, 0, 1, 2}, dst[] = {1, 2, 3, 3};
    double flops[] = {2e9, 4e9, 6e9, 2e9}, mem[] = {0, 0, 0, 0}, w[] = {10, 20, 30, 40}, out[] = {1e6, 2e6, 3e6, 0};
    mcm_graph g;
    CHECK(mcm_graph_create(&g, 4, 4, src, dst, flops, mem, w, out) == MCM_OK);
    double peak[] = {1e12, 2e12}, bw[] = {1e12, 1e12}, sram[] = {100, 100}, cf[] = {1, 1};
    int32_t kind[] = {0, 0}, pos[] = {0, 1};
    mcm_package p;
    port_package(&p, 2, peak, bw, sram, cf, kind, pos);
    mcm_constraints c = {1, MCM_DATAFLOW_ORDERED, 0, 1, 1, 1, 0};
    mcm_problem pr;
    CHECK(mcm_problem_init(&pr, &g, &p, &c, 0) == MCM_OK);
    mcm_workspace *ws = mcm_workspace_new(&pr);
    int32_t pl[] = {0, 0, 1, 1};
    double C[2], X[2];
    mcm_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.compute = C;
    rep.comm = X;
    CHECK(mcm_evaluate(&pr, pl, ws, 1, &rep) == MCM_OK);
    /* C0 = 2e9/1e12 + 4e9/1e12 = 6 ms; C1 = 6e9/2e12 + 2e9/2e12 = 4 ms.
     * node 0 sends to device 1 (t = 1 ms): X0 += 1 ms, X1 += 1 ms; node 1 sends to 1 (2 ms): X0 += 2, X1 += 2. */
    CLOSE(C[0], 6e-3);
    CLOSE(C[1], 4e-3);
    CLOSE(X[0], 3e-3);
    CLOSE(X[1], 3e-3);
    CLOSE(rep.interval, 9e-3);
    CHECK(rep.total_violations == 0);
    /* latency: 0 on dev0 [0,2ms]; 1 on dev0 [2,6]; 2 on dev1 starts at 2+1=3, ends 6; 3 waits for 1: 6+2=8, ends 9. */
    CLOSE(rep.latency, 9e-3);
    /* Moving node 1 to device 1 and node 2 to device 0 puts 2 -> 3 ... fine; 0 -> 2 stays forward? 0 on 0, 2 on 0. */
    int32_t bad[] = {1, 0, 0, 0};
    CHECK(mcm_evaluate(&pr, bad, ws, 0, &rep) == MCM_OK);
    CHECK(rep.violations[MCM_V_DATAFLOW] == 2); /* 0 -> 1 and 0 -> 2 go backwards */
    int32_t out_of_range[] = {0, 2, 0, 0};
    CHECK(mcm_evaluate(&pr, out_of_range, ws, 0, &rep) == MCM_ERR_PLACEMENT);
    CHECK(rep.bad_node == 1);
    mcm_workspace_free(ws);
    mcm_problem_free(&pr);
    mcm_graph_destroy(&g);
}

/* Random layered DAG on a 3x3 mesh: 10^5 random moves of the incremental evaluator agree with full evaluation. */
static void test_incremental_mesh(int dataflow) {
    const int32_t n = 300;
    int32_t src[1200], dst[1200];
    int64_t m = 0;
    for (int32_t v = 1; v < n; v++) {
        int32_t k = 1 + (int32_t)(next_rand() % 3);
        for (int32_t j = 0; j < k && m < 1200; j++) {
            src[m] = (int32_t)(next_rand() % (uint64_t)v);
            dst[m] = v;
            m++;
        }
    }
    double flops[300], mem[300], w[300], out[300];
    for (int32_t i = 0; i < n; i++) {
        flops[i] = (double)(next_rand() % 1000) * 1e6;
        mem[i] = (double)(next_rand() % 1000) * 1e3;
        w[i] = (double)(next_rand() % 1000);
        out[i] = (double)(next_rand() % 1000) * 1e2;
    }
    mcm_graph g;
    CHECK(mcm_graph_create(&g, n, m, src, dst, flops, mem, w, out) == MCM_OK);
    const int32_t R = 3, Cc = 3, K = 9;
    int32_t ls[64], ld[64], L = 0;
    double lb[64];
    for (int32_t r = 0; r < R; r++) {
        for (int32_t c = 0; c < Cc; c++) {
            int32_t s = r * Cc + c;
            if (c + 1 < Cc) { ls[L] = s; ld[L] = s + 1; lb[L++] = 1e9; ls[L] = s + 1; ld[L] = s; lb[L++] = 2e9; }
            if (r + 1 < R) { ls[L] = s; ld[L] = s + Cc; lb[L++] = 1e9; ls[L] = s + Cc; ld[L] = s; lb[L++] = 3e9; }
        }
    }
    int32_t next_link[81], hops[81];
    double route_bw[81];
    char err[200];
    CHECK(mcm_routes(MCM_TOPO_MESH, K, R, Cc, L, ls, ld, lb, next_link, hops, route_bw, err, sizeof err) == MCM_OK);
    CHECK(hops[0 * K + 8] == 4);
    CHECK(ld[next_link[0 * K + 8]] == 1); /* XY: along the row first */
    double peak[9], bw[9], sram[9], cf[9];
    int32_t kind[9], pos[9];
    for (int32_t k = 0; k < K; k++) {
        peak[k] = 1e12 * (1 + k % 2);
        bw[k] = 1e11;
        sram[k] = 20000;
        cf[k] = 1;
        kind[k] = 0;
        pos[k] = k;
    }
    mcm_package p;
    memset(&p, 0, sizeof(p));
    p.n_devices = K;
    p.peak_flops = peak;
    p.mem_bw = bw;
    p.sram_bytes = sram;
    p.comm_factor = cf;
    p.kind = kind;
    p.position = pos;
    p.interconnect = MCM_LINKS;
    p.n_links = L;
    p.link_src = ls;
    p.link_dst = ld;
    p.link_bw = lb;
    p.hop_latency = 1e-8;
    p.next_link = next_link;
    p.hops = hops;
    p.route_bw = route_bw;
    mcm_constraints c = {1, dataflow, dataflow == MCM_DATAFLOW_ORDERED ? 2 : 0, 0, 0, 0, 1};
    mcm_problem pr;
    CHECK(mcm_problem_init(&pr, &g, &p, &c, 1) == MCM_OK);
    int32_t pl[300];
    for (int32_t i = 0; i < n; i++) pl[i] = (int32_t)(next_rand() % (uint64_t)K);
    mcm_incremental *inc = NULL;
    CHECK(mcm_incremental_new(&inc, &pr, pl) == MCM_OK);
    mcm_workspace *ws = mcm_workspace_new(&pr);
    mcm_report rep;
    memset(&rep, 0, sizeof(rep));
    int mismatches = 0;
    for (int it = 0; it < 100000; it++) {
        int32_t v = (int32_t)(next_rand() % (uint64_t)n), d = (int32_t)(next_rand() % (uint64_t)K);
        CHECK(mcm_incremental_move(inc, v, d) == MCM_OK);
        if (next_rand() % 3 == 0) mcm_incremental_undo(inc);
        if (it % 97 == 0 || it == 99999) {
            mcm_evaluate(&pr, mcm_incremental_placement(inc), ws, 0, &rep);
            double a = mcm_incremental_interval(inc), b = rep.interval;
            if (fabs(a - b) > 1e-9 * fabs(b)) mismatches++;
            for (int k = 0; k < MCM_N_VIOLATIONS; k++) {
                if (rep.violations[k] != mcm_incremental_violations(inc)[k]) mismatches++;
            }
        }
    }
    CHECK(mismatches == 0);
    mcm_workspace_free(ws);
    mcm_incremental_free(inc);
    mcm_problem_free(&pr);
    mcm_graph_destroy(&g);
}

/* Repair: a chain placed against the pipeline on a 3-device port package comes back valid, a valid placement
 * comes back unchanged, and random valid placements are valid and do not depend on the thread count. */
static void test_repair_chain(void) {
    int32_t src[] = {0, 1, 2, 3, 4}, dst[] = {1, 2, 3, 4, 5};
    double w[] = {4, 4, 4, 4, 4, 4};
    mcm_graph g;
    CHECK(mcm_graph_create(&g, 6, 5, src, dst, NULL, NULL, w, NULL) == MCM_OK);
    double peak[] = {1e12, 1e12, 1e12}, bw[] = {1e12, 1e12, 1e12}, sram[] = {8, 8, 8}, cf[] = {1, 1, 1};
    int32_t kind[] = {0, 0, 0}, pos[] = {0, 1, 2};
    mcm_package p;
    port_package(&p, 3, peak, bw, sram, cf, kind, pos);
    mcm_constraints c = {1, MCM_DATAFLOW_ORDERED, 1, 1, 1, 1, 1};
    mcm_problem pr;
    CHECK(mcm_problem_init(&pr, &g, &p, &c, 0) == MCM_OK);
    mcm_repair *rp = NULL;
    char err[128];
    /* weights the single-precision scores cannot hold are refused, not turned into garbage device ids */
    double huge[] = {1e39, 1, 1, 1, 1, 1}, nan_w[] = {1, 1, NAN, 1, 1, 1}, many[] = {3e29, 3e29, 3e29, 3e29, 1, 1};
    CHECK(mcm_repair_new(&rp, &pr, huge, err, sizeof(err)) == MCM_ERR_ARG && rp == NULL);
    CHECK(mcm_repair_new(&rp, &pr, nan_w, err, sizeof(err)) == MCM_ERR_ARG && rp == NULL);
    CHECK(mcm_repair_new(&rp, &pr, many, err, sizeof(err)) == MCM_ERR_ARG && rp == NULL);
    CHECK(mcm_repair_new(&rp, &pr, NULL, err, sizeof(err)) == MCM_OK);
    mcm_repair_ws *rws = mcm_repair_ws_new(rp);
    mcm_workspace *ws = mcm_workspace_new(&pr);
    mcm_report rep;
    memset(&rep, 0, sizeof(rep));
    int32_t in[] = {2, 1, 0, 2, 1, 0}, out[6], again[6];
    int64_t moved = -1;
    double mw = -1;
    CHECK(mcm_repair_run(rp, rws, in, out, &moved, &mw) == MCM_OK);
    CHECK(mcm_evaluate(&pr, out, ws, 0, &rep) == MCM_OK && rep.total_violations == 0);
    CHECK(mcm_repair_run(rp, rws, out, again, &moved, &mw) == MCM_OK && moved == 0 && mw == 0.0);
    int32_t rv1[4 * 6], rv2[4 * 6], st[4];
    CHECK(mcm_random_valid(rp, 42, 4, 1, rv1, st) == MCM_OK);
    CHECK(mcm_random_valid(rp, 42, 4, 3, rv2, NULL) == MCM_OK);
    CHECK(memcmp(rv1, rv2, sizeof(rv1)) == 0);
    for (int b = 0; b < 4; b++) {
        CHECK(st[b] == MCM_OK);
        CHECK(mcm_evaluate(&pr, rv1 + 6 * b, ws, 0, &rep) == MCM_OK && rep.total_violations == 0);
    }
    mcm_workspace_free(ws);
    mcm_repair_ws_free(rws);
    mcm_repair_free(rp);
    mcm_problem_free(&pr);
    mcm_graph_destroy(&g);
}

int main(void) {
    test_cycle();
    test_port_by_hand();
    test_incremental_mesh(MCM_DATAFLOW_ORDERED);
    test_incremental_mesh(MCM_DATAFLOW_ACYCLIC);
    test_repair_chain();
    if (failures) {
        fprintf(stderr, "test_core: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_core: all checks passed\n");
    return 0;
}

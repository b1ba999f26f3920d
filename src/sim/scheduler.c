/* Schedules: the offline scheduler (dataflow, tiles, loop order, double
 * buffering per GEMM, chosen at compile time by exhaustive search over a
 * candidate grid) and the fixed schedule used when it is switched off. */
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

static int64_t align_down(int64_t v, int64_t a) { return v / a * a; }

static nmt_sim_dataflow fixed_df(const nmt_sim_config *cfg, const nmt_sim_gemm *g)
{
    nmt_sim_dataflow df = cfg->dataflow != NMT_SIM_AUTO ? cfg->dataflow : cfg->fixed_dataflow;
    if (df == NMT_SIM_IS && sim_nm_sparse(g->nm)) df = NMT_SIM_WS; /* IS runs dense GEMMs only */
    return df;
}

int nmt_sim_fixed_schedule(const nmt_sim_config *cfg, const nmt_sim_gemm *g, nmt_sim_schedule *s)
{
    const int64_t align = sim_nm_sparse(g->nm) ? g->nm.m : 1;
    memset(s, 0, sizeof *s);
    s->dataflow = fixed_df(cfg, g);
    s->interleave = s->dataflow == NMT_SIM_OS ? sim_interleave(cfg) : 1;
    s->order = 0;
    s->double_buffer = 0;
    s->tm = sim_min64(g->m, cfg->fixed_tile_m);
    s->tn = sim_min64(g->n, cfg->fixed_tile_n);
    for (;;) {
        s->tk = g->k;
        while (!sim_tiles_fit(cfg, g, s) && s->tk > align) {
            int64_t next = align_down(s->tk / 2, align);
            s->tk = next < align ? align : next;
        }
        if (sim_tiles_fit(cfg, g, s)) return 0;
        if (s->tn > 1) s->tn = (s->tn + 1) / 2;
        else if (s->tm > 1) s->tm = (s->tm + 1) / 2;
        else break;
    }
    nmt_error("GEMM %lldx%lldx%lld: not even a 1x1x%lld tile fits the buffers", (long long)g->m, (long long)g->n,
              (long long)g->k, (long long)align);
    return -1;
}

/* Powers of two from `lo` below `total`, then `total` itself. */
static int candidates(int64_t total, int64_t lo, int64_t align, int64_t *out, int max)
{
    int n = 0;
    for (int64_t v = lo; v < total && n < max - 1; v *= 2) {
        int64_t a = align_down(v, align);
        if (a >= align && (n == 0 || out[n - 1] != a)) out[n++] = a;
    }
    out[n++] = total;
    return n;
}

static int better(const nmt_sim_cost *a, const nmt_sim_cost *b)
{
    if (a->cycles != b->cycles) return a->cycles < b->cycles;
    return a->dram_bytes < b->dram_bytes;
}

int nmt_sim_gemm_schedule(const nmt_sim_config *cfg, const nmt_sim_gemm *g, nmt_sim_schedule *best,
                          nmt_sim_cost *best_cost)
{
    nmt_sim_schedule s;
    nmt_sim_cost c;
    memset(best_cost, 0, sizeof *best_cost);
    if (g->m <= 0 || g->n <= 0 || g->k <= 0 || g->count <= 0) {
        memset(best, 0, sizeof *best);
        return 0;
    }
    if (nmt_sim_fixed_schedule(cfg, g, best)) return -1;
    if (nmt_sim_gemm_eval(cfg, g, best, best_cost)) return -1;
    if (!cfg->opt_schedule) return 0;

    const int64_t align = sim_nm_sparse(g->nm) ? g->nm.m : 1;
    int64_t tms[40], tns[40], tks[40];
    /* tiles below 16 only when even 16 x 16 does not fit (tiny buffers) */
    nmt_sim_schedule probe;
    memset(&probe, 0, sizeof probe);
    probe.tm = sim_min64(g->m, 16), probe.tn = sim_min64(g->n, 16), probe.tk = sim_min64(g->k, 64 / align * align);
    if (probe.tk < align) probe.tk = align;
    probe.double_buffer = 1;
    const int64_t lo = sim_tiles_fit(cfg, g, &probe) ? 16 : 1;
    int ntm = candidates(g->m, lo, 1, tms, 40);
    int ntn = candidates(g->n, lo, 1, tns, 40);
    /* reduction tiles: the whole reduction, then halves down to 64 */
    int ntk = 0;
    tks[ntk++] = g->k;
    for (int64_t v = g->k / 2; v >= 64 && ntk < 12; v /= 2) {
        int64_t a = align_down(v, align);
        if (a >= align && a != tks[ntk - 1]) tks[ntk++] = a;
    }
    nmt_sim_dataflow dfs[3];
    int ndf = 0;
    if (cfg->dataflow != NMT_SIM_AUTO) {
        dfs[ndf++] = fixed_df(cfg, g);
    } else {
        dfs[ndf++] = NMT_SIM_OS;
        dfs[ndf++] = NMT_SIM_WS;
        if (!sim_nm_sparse(g->nm)) dfs[ndf++] = NMT_SIM_IS;
    }
    const double ideal = (double)g->m * g->n * sim_kernel_k(g->k, g->nm) * g->count / ((double)cfg->rows * cfg->cols);
    for (int db = 0; db < 2; db++)
        for (int ik = 0; ik < ntk; ik++)
            for (int im = 0; im < ntm; im++)
                for (int in = 0; in < ntn; in++) {
                    memset(&s, 0, sizeof s);
                    s.tm = tms[im], s.tn = tns[in], s.tk = tks[ik], s.double_buffer = db;
                    if (!sim_tiles_fit(cfg, g, &s)) {
                        /* larger n tiles only grow the footprint */
                        break;
                    }
                    for (int order = 0; order < 2; order++) {
                        s.order = order;
                        /* cheap lower bound: compute at full rate, or the
                         * unavoidable DRAM traffic of this tiling */
                        for (int d = 0; d < ndf; d++) {
                            s.dataflow = dfs[d];
                            s.interleave = s.dataflow == NMT_SIM_OS ? sim_interleave(cfg) : 1;
                            if (ideal >= best_cost->cycles) return 0;
                            if (nmt_sim_gemm_eval(cfg, g, &s, &c)) continue;
                            if (better(&c, best_cost)) {
                                *best = s;
                                *best_cost = c;
                            }
                        }
                    }
                }
    return 0;
}

/* The PE array and its buffers running one tiled GEMM.
 *
 * A schedule cuts out[m x n] = A[m x k] B[k x n] into tiles tm x tn x tk
 * held in the weight (A), input (B) and output (psum) buffers. Each tile runs
 * on the R x C array in folds:
 *
 *   OS  a fold maps R*Ir output rows x C*Ic output columns, I = Ir*Ic outputs
 *       interleaved per PE; the reduction streams through (kk steps, where kk
 *       is k dense or k/M*N in N:M mode). A PE holding one output can take a
 *       product only every adder_latency cycles, so a fold streams
 *       kk * max(I, adder_latency) cycles; fill/drain r + c - 2 (skew) +
 *       (min(I, A) - 1) (the last add) + r*I (the drain of r x c x I outputs
 *       through the C-wide output port; double buffered, it overlaps the next
 *       fold's stream), plus r*I to preload partial sums when the reduction
 *       is split; r x c is the part of the array the fold occupies. The RTL
 *       (hw/rtl/sat_tile.sv) takes exactly these cycles (hw-check).
 *   WS  a fold holds an R (reduction) x C (output rows) block of A; tn columns
 *       stream through; fill/drain A*r + c - 2 (the psum chain passes r
 *       pipelined adders), plus r to load the weights unless the next block
 *       is preloaded during streaming (double buffering).
 *   IS  the mirror image: an R x C block of B is stationary, tm rows stream.
 *
 * With adder_latency 1 and no interleave, an OS fold costs SCALE-Sim v1's
 * 2R + C + T - 2 cycles, or v2's T + R + C - 2 when double buffered (the
 * drain overlaps the next fold), and a WS fold v2's 2R + C + T - 2.
 *
 * Tiles are grouped into classes of identical cost (full or edge size along
 * each dimension, first or not, last reduction tile or not), so a GEMM of
 * millions of tiles costs a few dozen evaluations. Transfers of a step are
 * overlapped with the previous step's compute when double buffered, else
 * serialised. */
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

typedef struct dim_class {
    int64_t count, size;
    int first, last;
} dim_class;

static int dim_classes(int64_t total, int64_t tile, dim_class out[3])
{
    int64_t nt = sim_cdiv(total, tile);
    int64_t last = total - (nt - 1) * tile;
    if (nt == 1) {
        out[0] = (dim_class){1, total, 1, 1};
        return 1;
    }
    int n = 0;
    out[n++] = (dim_class){1, tile, 1, 0};
    if (nt > 2) out[n++] = (dim_class){nt - 2, tile, 0, 0};
    out[n++] = (dim_class){1, last, 0, 1};
    return n;
}

typedef struct tile_cost {
    double compute, fill, sram_read, sram_write;
} tile_cost;

/* Element sizes in the buffers: packed values carry their index. */
static double a_elem(const nmt_sim_config *cfg, const nmt_sim_gemm *g)
{
    return g->a_bytes + ((sim_nm_sparse(g->nm) && !g->sparse_b) ? sim_index_bits(cfg, g->nm) / 8.0 : 0.0);
}
static double b_elem(const nmt_sim_config *cfg, const nmt_sim_gemm *g)
{
    return g->b_bytes + ((sim_nm_sparse(g->nm) && g->sparse_b) ? sim_index_bits(cfg, g->nm) / 8.0 : 0.0);
}
/* Reduction length each operand occupies in the buffers for a tk slice. */
static double a_klen(const nmt_sim_gemm *g, int64_t tk)
{
    return (double)(g->sparse_b ? tk : sim_kernel_k(tk, g->nm));
}
static double b_klen(const nmt_sim_gemm *g, int64_t tk)
{
    return (double)(g->sparse_b ? sim_kernel_k(tk, g->nm) : tk);
}

/* Sum over the folds along one dimension of the array rows (or columns)
 * each fold occupies: `total` elements in folds of `per_fold`, each array
 * line holding `inter` of them, at most `lines` lines. */
static double used_sum(int64_t total, int64_t per_fold, int64_t inter, int64_t lines)
{
    int64_t nf = sim_cdiv(total, per_fold);
    int64_t last = total - (nf - 1) * per_fold;
    return (double)(nf - 1) * (double)lines + (double)sim_min64(lines, sim_cdiv(last, inter));
}

static void tile_eval(const nmt_sim_config *cfg, const nmt_sim_gemm *g, const nmt_sim_schedule *s, int64_t tm,
                      int64_t tn, int64_t tk, int k_first, int k_split, tile_cost *t)
{
    const int64_t R = cfg->rows, C = cfg->cols, A = cfg->adder_latency;
    const int64_t kk = sim_kernel_k(tk, g->nm);
    const double ae = a_elem(cfg, g), be = b_elem(cfg, g), pb = cfg->psum_bytes;
    const double a_tile = a_klen(g, tk) * (double)tm * ae, b_tile = b_klen(g, tk) * (double)tn * be;
    const double out_tile = (double)tm * tn * pb;
    memset(t, 0, sizeof *t);
    const int psum_in = k_split && !k_first;
    switch (s->dataflow) {
    case NMT_SIM_OS:
    default: {
        int64_t Ir, Ic;
        nmt_sim_os_interleave(cfg, s, tm, tn, &Ir, &Ic);
        int64_t per_pe = Ir * Ic;
        int64_t frow = sim_cdiv(tm, R * Ir), fcol = sim_cdiv(tn, C * Ic);
        double folds = (double)(frow * fcol);
        /* data enters at the edge of the used sub-array, so skew and drain
         * span only the rows and columns a fold occupies */
        double sum_r = used_sum(tm, R * Ir, Ir, R), sum_c = used_sum(tn, C * Ic, Ic, C);
        const double stream = (double)kk * (double)(per_pe > A ? per_pe : A);
        t->compute = folds * stream;
        /* skew in (r + c - 2), the last add (A - 1), partial-sum preload (r)
         * and the drain: a fold's r x c x I outputs leave through the C-wide
         * output port in r * I cycles; with double buffering (shadow
         * accumulators) the drain overlaps the next fold's stream, as
         * SCALE-Sim v2's OS traces do */
        int64_t nfr = sim_cdiv(tm, R * Ir);
        int64_t ru_last = sim_min64(R, sim_cdiv(tm - (nfr - 1) * R * Ir, Ir));
        double drain = 0;
        for (int last = 0; last < 2; last++) {
            int64_t ru = last ? ru_last : R;
            double cnt = last ? 1.0 : (double)(nfr - 1);
            double d = (double)(ru * per_pe);
            if (s->double_buffer) d = sim_max(0.0, d - stream);
            drain += cnt * d;
        }
        /* the preload enters through the same C-wide port the drain leaves
         * by: r * I cycles; the last product's add retires A - 1 cycles after
         * it issues, which is min(I, A) - 1 after the stream's slots end when
         * fewer than A outputs share a PE (hw/rtl/sat_tile.sv) */
        t->fill = sum_r * (double)fcol * (1.0 + (psum_in ? (double)per_pe : 0.0)) + sum_c * (double)frow +
                  drain * (double)fcol + folds * (double)(sim_min64(per_pe, A) - 3);
        t->sram_read = a_tile * (double)fcol + b_tile * (double)frow + (psum_in ? out_tile : 0);
        t->sram_write = out_tile;
        break;
    }
    case NMT_SIM_WS:
    case NMT_SIM_IS: {
        /* stationary operand: A (WS) or B (IS); the other streams */
        int64_t stat_cols = s->dataflow == NMT_SIM_WS ? tm : tn;
        int64_t stream = s->dataflow == NMT_SIM_WS ? tn : tm;
        int64_t fk = sim_cdiv(kk, R), fc = sim_cdiv(stat_cols, C);
        double folds = (double)(fk * fc);
        double sum_r = used_sum(kk, R, 1, R), sum_c = used_sum(stat_cols, C, 1, C);
        t->compute = folds * (double)stream;
        int hidden = s->double_buffer && stream >= R;
        /* psum chain through the used rows' adders, column skew, and the
         * weight load (only the first block's when preloaded behind streaming) */
        t->fill = (double)A * sum_r * (double)fc + sum_c * (double)fk - 2.0 * folds +
                  (hidden ? (double)sim_min64(R, kk) : sum_r * (double)fc);
        double stat_bytes = s->dataflow == NMT_SIM_WS ? a_tile : b_tile;
        double stream_bytes = s->dataflow == NMT_SIM_WS ? b_tile : a_tile;
        double psum_rw = out_tile * (double)fk;
        t->sram_read = stat_bytes + stream_bytes * (double)fc + psum_rw - (psum_in ? 0 : out_tile);
        t->sram_write = psum_rw;
        break;
    }
    }
}

void nmt_sim_os_interleave(const nmt_sim_config *cfg, const nmt_sim_schedule *s, int64_t tm, int64_t tn, int64_t *ir,
                           int64_t *ic)
{
    const int64_t I = s->interleave > 0 ? s->interleave : 1;
    *ic = sim_min64(I, sim_cdiv(tn, cfg->cols));
    *ir = sim_min64(sim_cdiv(I, *ic), sim_cdiv(tm, cfg->rows));
}

static double buf_bytes(double kib, int db) { return kib * 1024.0 * (db ? 0.5 : 1.0); }

int sim_tiles_fit(const nmt_sim_config *cfg, const nmt_sim_gemm *g, const nmt_sim_schedule *s)
{
    double a = a_klen(g, s->tk) * (double)s->tm * a_elem(cfg, g) * g->a_dram_ratio;
    double b = b_klen(g, s->tk) * (double)s->tn * b_elem(cfg, g) * g->b_dram_ratio;
    double o = (double)s->tm * s->tn * cfg->psum_bytes;
    return a <= buf_bytes(cfg->wbuf_kib, s->double_buffer) && b <= buf_bytes(cfg->ibuf_kib, s->double_buffer) &&
           o <= buf_bytes(cfg->obuf_kib, s->double_buffer);
}

int nmt_sim_gemm_eval(const nmt_sim_config *cfg, const nmt_sim_gemm *g, const nmt_sim_schedule *s,
                      nmt_sim_cost *out)
{
    memset(out, 0, sizeof *out);
    if (g->m <= 0 || g->n <= 0 || g->k <= 0 || g->count <= 0) return 0;
    if (s->tm < 1 || s->tn < 1 || s->tk < 1 || s->tm > g->m || s->tn > g->n || s->tk > g->k) {
        nmt_error("schedule tile %lldx%lldx%lld does not suit GEMM %lldx%lldx%lld", (long long)s->tm,
                  (long long)s->tn, (long long)s->tk, (long long)g->m, (long long)g->n, (long long)g->k);
        return -1;
    }
    if (sim_nm_sparse(g->nm) && (s->tk % g->nm.m || g->k % g->nm.m)) {
        nmt_error("reduction tile %lld is not a multiple of M = %d", (long long)s->tk, g->nm.m);
        return -1;
    }
    if (s->dataflow == NMT_SIM_IS && sim_nm_sparse(g->nm)) {
        nmt_error("input-stationary dataflow runs dense GEMMs only");
        return -1;
    }
    if (!sim_tiles_fit(cfg, g, s)) {
        nmt_error("tile %lldx%lldx%lld does not fit the buffers", (long long)s->tm, (long long)s->tn,
                  (long long)s->tk);
        return -1;
    }
    const double bw = nmt_sim_dram_bytes_per_cycle(cfg);
    const double ae = a_elem(cfg, g), be = b_elem(cfg, g);
    dim_class mc[3], nc[3], kc[3];
    int nmc = dim_classes(g->m, s->tm, mc), nnc = dim_classes(g->n, s->tn, nc), nkc = dim_classes(g->k, s->tk, kc);
    const int64_t n_mt = sim_cdiv(g->m, s->tm), n_nt = sim_cdiv(g->n, s->tn), n_kt = sim_cdiv(g->k, s->tk);
    const int a_resident = n_kt == 1 && (s->order == 0 || n_mt == 1);
    const int b_resident = n_kt == 1 && (s->order == 1 || n_nt == 1);
    const int k_split = n_kt > 1;
    double T = 0, compute = 0, fill = 0, dram = 0, sram_r = 0, sram_w = 0, first_load = -1;
    for (int i = 0; i < nmc; i++)
        for (int j = 0; j < nnc; j++)
            for (int l = 0; l < nkc; l++) {
                const dim_class *M = &mc[i], *N = &nc[j], *K = &kc[l];
                double cnt = (double)M->count * (double)N->count * (double)K->count;
                tile_cost tc;
                tile_eval(cfg, g, s, M->size, N->size, K->size, K->first, k_split, &tc);
                double load = 0;
                double a_bytes = a_klen(g, K->size) * (double)M->size * ae * g->a_dram_ratio;
                double b_bytes = b_klen(g, K->size) * (double)N->size * be * g->b_dram_ratio;
                if (!a_resident || N->first) load += a_bytes;
                if (!b_resident || M->first) load += b_bytes;
                double store = K->last ? (double)M->size * N->size * g->out_bytes : 0;
                double mem = (load + store) / bw;
                double work = tc.compute + tc.fill;
                T += cnt * (s->double_buffer ? sim_max(work, mem) : work + mem);
                if (first_load < 0) first_load = load / bw;
                compute += cnt * tc.compute;
                fill += cnt * tc.fill;
                dram += cnt * (load + store);
                sram_r += cnt * (tc.sram_read + store);
                sram_w += cnt * (tc.sram_write + load);
            }
    if (s->double_buffer && first_load > 0) T += first_load; /* the first tile's load has nothing to hide behind */
    const double c = (double)g->count;
    out->compute = compute * c;
    out->fill = fill * c;
    out->cycles = T * c;
    out->stall = out->cycles - out->compute - out->fill;
    if (out->stall < 0) out->stall = 0;
    out->macs = (double)g->m * g->n * sim_kernel_k(g->k, g->nm) * c;
    out->macs_dense = (double)g->m * g->n * g->k * c;
    out->dram_bytes = dram * c;
    out->sram_read = sram_r * c;
    out->sram_write = sram_w * c;
    return 0;
}

void nmt_sim_schedule_str(const nmt_sim_schedule *s, char *buf, size_t size)
{
    snprintf(buf, size, "%s %lldx%lldx%lld %s%s I=%d", nmt_sim_dataflow_name(s->dataflow), (long long)s->tm,
             (long long)s->tn, (long long)s->tk, s->order ? "n-outer" : "m-outer", s->double_buffer ? " db" : "",
             s->interleave);
}

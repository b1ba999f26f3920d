/* SCALE-Sim v2's accounting of a GEMM, for nmt_sim_options.scalesim
 * (`nmtrain sim --scalesim`): the same fold counts and fill/drain as
 * scalesim/compute/systolic_compute_{os,ws,is}.py, unlimited buffers and
 * DRAM (its InterfaceBandwidth CALC), one multiply-accumulate per PE per
 * cycle (no adder latency, no interleave), the WS weight load in every fold.
 * docs/sat.md lists each rule with its place in SCALE-Sim's source. */
#include <string.h>

#include "sim/sim_internal.h"

/* In our GEMM out[m x n] = A[m x k] B[k x n], A is the filter (m = filters)
 * and B the lowered ifmap (n = ofmap pixels), so SCALE-Sim's operand
 * matrices are ifmap = B^T [n x k] and filter = A^T [k x m]. Its spatial
 * rows Sr, spatial columns Sc and streamed length T per dataflow
 * (topology_utils.py, calc_spatio_temporal_params, and each
 * systolic_compute_*.set_params) are:
 *   os  Sr = n (ofmap pixels), Sc = m (filters), T = k (window)
 *   ws  Sr = k (window),       Sc = m (filters), T = n (ofmap pixels)
 *   is  Sr = k (window),       Sc = n (pixels),  T = m (filters)
 * A fold is one R x C block of Sr x Sc (row_fold = ceil(Sr/R), col_fold =
 * ceil(Sc/C)); its demand matrices run T + R + C - 2 cycles for os (T
 * streamed, C - 1 drain rows, R - 1 skew) and 2R + C + T - 2 for ws and is
 * (R rows of the stationary load, T streamed, C - 1 drain, R - 1 skew),
 * whatever part of the array the fold occupies. The reported total is the
 * index of the last cycle, one less than the count
 * (memory/double_buffered_scratchpad_mem.py, service_memory_requests). */
static void scalesim_folds(const nmt_sim_config *cfg, nmt_sim_dataflow df, int64_t m, int64_t n, int64_t k,
                           double *folds, double *fold_cycles, double *streamed)
{
    const int64_t R = cfg->rows, C = cfg->cols;
    int64_t sr, sc, t;
    switch (df) {
    case NMT_SIM_WS: sr = k, sc = m, t = n; break;
    case NMT_SIM_IS: sr = k, sc = n, t = m; break;
    case NMT_SIM_OS:
    default: sr = n, sc = m, t = k; break;
    }
    *folds = (double)sim_cdiv(sr, R) * (double)sim_cdiv(sc, C);
    *fold_cycles = (double)(df == NMT_SIM_OS ? t + R + C - 2 : 2 * R + C + t - 2);
    *streamed = (double)t;
}

int sim_scalesim_gemm(const nmt_sim_config *unlimited, const nmt_sim_gemm *g, nmt_sim_schedule *s,
                      nmt_sim_cost *out)
{
    memset(s, 0, sizeof *s);
    memset(out, 0, sizeof *out);
    if (g->m <= 0 || g->n <= 0 || g->k <= 0 || g->count <= 0) return 0;
    /* SCALE-Sim v2 has no N:M: a sparse GEMM streams its kept values, a
     * reduction of k/M*N; IS stays for dense GEMMs, as in the scheduler */
    s->dataflow = unlimited->dataflow;
    if (s->dataflow == NMT_SIM_IS && sim_nm_sparse(g->nm)) s->dataflow = NMT_SIM_WS;
    s->tm = g->m, s->tn = g->n, s->tk = g->k;
    s->interleave = 1;
    /* bytes and MACs: the whole GEMM as one tile, every operand moved once */
    if (nmt_sim_gemm_eval(unlimited, g, s, out)) return -1;
    double folds, fold_cycles, streamed;
    scalesim_folds(unlimited, s->dataflow, g->m, g->n, sim_kernel_k(g->k, g->nm), &folds, &fold_cycles,
                   &streamed);
    const double c = (double)g->count;
    out->cycles = c * (folds * fold_cycles - 1.0);
    out->compute = c * folds * streamed;
    out->fill = out->cycles - out->compute;
    out->stall = 0;
    return 0;
}

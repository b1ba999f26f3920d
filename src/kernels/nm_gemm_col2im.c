/* Backward-data of a sparse convolution without the dense intermediate:
 * dx += col2im(W_out^T dY), the GEMM computed one (panel, kernel offset)
 * tile at a time into a small workspace and scattered straight into dx.
 *
 * The unfused path writes dcol (K x cols, 9x the size of dx for a 3x3
 * convolution) and reads it back in col2im; for the early layers that is
 * hundreds of MB per step, more traffic than the sparse GEMM itself. dY is
 * packed into the kernel's panel layout a round of panels at a time, so no
 * full copy of it (Cout x cols) is needed either.
 *
 * Threads own input channels: rows (i, j, ci) of W_out^T with ci in a
 * thread's range write only that thread's dx planes, so the scatter needs no
 * atomics and the sum order per element is fixed (deterministic). */
#include <omp.h>
#include <string.h>

#include "lowering.h"
#include "nm_gemm_internal.h"

/* dY panels packed per round: few enough that the buffer stays small
 * (Cout x 16 x 96 floats), enough that the two barriers of a round are
 * rare. */
#define ROUND_PANELS 16

size_t nmt_gemm_nm_col2im_workspace_floats(const nmt_conv_shape *s, int cout)
{
    return (size_t)s->c * NMT_NM_PANEL_COLS + (size_t)cout * ROUND_PANELS * NMT_NM_PANEL_COLS;
}

/* dx += the tile's rows c0..c1 (channels; kernel offset i, j), scattered to
 * the input pixels of the panel's output pixels. Runs outside, channels
 * inside: the bounds of a run are worked out once for all channels, which
 * matters for small outputs (4x4: 24 runs of 4 per panel). */
static void scatter_tile(const nmt_conv_shape *s, const nm_output_run *runs, int run_count, int i, int j,
                         const float *tile, int c0, int c1, float *dx)
{
    const size_t plane = (size_t)s->h * s->w, channel = (size_t)s->n * plane;
    for (int r = 0; r < run_count; r++) {
        const nm_output_run *run = &runs[r];
        const int iy = run->oy * s->stride - s->pad + i;
        if (iy < 0 || iy >= s->h) continue;
        const size_t line = run->n * plane + (size_t)iy * s->w;
        /* Output column q of the run lands on ix = ix0 + q*stride. */
        const int ix0 = run->ox * s->stride - s->pad + j;
        int first, last;
        tap_columns(s, j, run->ox, run->length, &first, &last);
        for (int ci = c0; ci < c1; ci++) {
            float *dst = dx + ci * channel + line;
            const float *src = tile + (size_t)(ci - c0) * NMT_NM_PANEL_COLS + run->first_column;
            if (s->stride == 1)
                for (int q = first; q < last; q++) dst[ix0 + q] += src[q];
            else
                for (int q = first; q < last; q++) dst[ix0 + q * s->stride] += src[q];
        }
    }
}

void nmt_gemm_nm_col2im(const nmt_packed *w_t, const float *dy, const nmt_conv_shape *s,
                        float *workspace, float *dx)
{
    const int ncols = s->n * s->ho * s->wo, panels = (ncols + NMT_NM_PANEL_COLS - 1) / NMT_NM_PANEL_COLS;
    const int total_groups = w_t->k / w_t->nm.m, m = w_t->nm.m, cout = w_t->k;
    if (ncols <= 0 || total_groups == 0) return;
    const nm_block_kernel kernel = nm_choose_kernel();
    const int block_groups = nm_block_groups(w_t->nm);
    const size_t panel_floats = (size_t)cout * NMT_NM_PANEL_COLS;
    float *round_panels = workspace + (size_t)s->c * NMT_NM_PANEL_COLS;
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(threads < s->c ? threads : s->c)
    {
        const int team = omp_get_num_threads(), me = omp_get_thread_num();
        const int c0 = (int)((long)s->c * me / team), c1 = (int)((long)s->c * (me + 1) / team);
        float *tile = workspace + (size_t)c0 * NMT_NM_PANEL_COLS; /* rows c0..c1 of a C x panel tile */
        for (int p0 = 0; p0 < panels; p0 += ROUND_PANELS) {
            const int round = panels - p0 < ROUND_PANELS ? panels - p0 : ROUND_PANELS;
            /* The team packs this round's dY panels together; the barrier
             * before keeps them from overwriting panels still being read. */
#pragma omp barrier
#pragma omp for schedule(static)
            for (int item = 0; item < round * cout; item++) {
                const int q = item / cout, r = item % cout, col0 = (p0 + q) * NMT_NM_PANEL_COLS;
                const int width = ncols - col0 < NMT_NM_PANEL_COLS ? ncols - col0 : NMT_NM_PANEL_COLS;
                float *out = round_panels + q * panel_floats + (size_t)r * NMT_NM_PANEL_COLS;
                memcpy(out, dy + (size_t)r * ncols + col0, sizeof(float) * width);
                if (width < NMT_NM_PANEL_COLS) memset(out + width, 0, sizeof(float) * (NMT_NM_PANEL_COLS - width));
            }
            for (int q = 0; q < round && c1 > c0; q++) {
                nm_output_run runs[NMT_NM_PANEL_COLS];
                int width;
                const int run_count = nm_panel_runs(s, 0, ncols, p0 + q, runs, &width);
                const float *panel = round_panels + q * panel_floats;
                for (int i = 0; i < s->kh; i++) {
                    for (int j = 0; j < s->kw; j++) {
                        const int row0 = (i * s->kw + j) * s->c; /* row (i, j, 0) of W_out^T */
                        nm_block blk = {
                            .a = w_t,
                            .row_begin = row0 + c0,
                            .row_end = row0 + c1,
                            .ldb = NMT_NM_PANEL_COLS,
                            .next_ldb = NMT_NM_PANEL_COLS,
                            .c = tile,
                            .ldc = NMT_NM_PANEL_COLS,
                            .width = width,
                            .c_scale = 1.0f,
                        };
                        for (int g0 = 0; g0 < total_groups; g0 += block_groups) {
                            blk.first_group = g0;
                            blk.groups = total_groups - g0 < block_groups ? total_groups - g0 : block_groups;
                            blk.b = panel + (ptrdiff_t)g0 * m * NMT_NM_PANEL_COLS;
                            blk.read_c = g0 > 0;
                            const int next_g0 = g0 + block_groups;
                            /* Prefetch the next block, or after the last one this
                             * panel's first block, which the next offset reads. */
                            const int next_first = next_g0 < total_groups ? next_g0 : 0;
                            blk.next_b = panel + (ptrdiff_t)next_first * m * NMT_NM_PANEL_COLS;
                            blk.next_rows = (total_groups - next_first < block_groups ? total_groups - next_first
                                                                                       : block_groups) * m;
                            kernel(&blk);
                        }
                        scatter_tile(s, runs, run_count, i, j, tile, c0, c1, dx);
                    }
                }
            }
        }
    }
}

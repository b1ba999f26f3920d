/* Backward-data of a sparse convolution without the dense intermediate:
 * dx += col2im(W_out^T dY), the GEMM computed one (panel, kernel offset)
 * tile at a time into a small workspace and scattered straight into dx.
 *
 * The unfused path writes dcol (K x cols, 9x the size of dx for a 3x3
 * convolution) and reads it back in col2im; for the early layers that is
 * hundreds of MB per step, more traffic than the sparse GEMM itself. dY is
 * packed into the kernel's panel layout a panel at a time, so no full copy
 * of it (Cout x cols) is needed either.
 *
 * Threads own blocks of images: an image's dx planes are written only by
 * the thread that has its block, so the scatter needs no atomics, each
 * thread packs the dY panels it reads itself, and the threads never wait
 * for each other (splitting the input channels instead needed two barriers
 * per round of shared dY panels and scaled 1.2-1.5x on two cores). The sum
 * order per element is fixed: deterministic. */
#include <omp.h>
#include <string.h>

#include "lowering.h"
#include "nm_gemm_internal.h"

#include "nmtrain/core.h"

/* One thread's share of the workspace: a c x panel tile of W_out^T dY and
 * one dY panel (cout x panel). */
static size_t per_thread_floats(const nmt_conv_shape *s, int cout)
{
    return ((size_t)s->c + (size_t)cout) * NMT_NM_PANEL_COLS;
}

/* Room for a thread per processor: a constant of the process, so a buffer
 * sized when the network is planned still fits after the thread count
 * changes (more threads than processors share the processors' room). */
size_t nmt_gemm_nm_col2im_workspace_floats(const nmt_conv_shape *s, int cout)
{
    return per_thread_floats(s, cout) * (size_t)omp_get_num_procs();
}

/* dx += the tile (every channel; kernel offset i, j), scattered to the
 * input pixels of the panel's output pixels. Runs outside, channels inside:
 * the bounds of a run are worked out once for all channels, which matters
 * for small outputs (4x4: 24 runs of 4 per panel). */
static void scatter_tile(const nmt_conv_shape *s, const nm_output_run *runs, int run_count, int i, int j,
                         const float *tile, float *dx)
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
        for (int ci = 0; ci < s->c; ci++) {
            float *dst = dx + ci * channel + line;
            const float *src = tile + (size_t)ci * NMT_NM_PANEL_COLS + run->first_column;
            if (s->stride == 1)
                for (int q = first; q < last; q++) dst[ix0 + q] += src[q];
            else
                for (int q = first; q < last; q++) dst[ix0 + q * s->stride] += src[q];
        }
    }
}

/* Images [n0, n1) of the batch, in the calling thread. */
static void col2im_images(const nmt_packed *w_t, const float *dy, const nmt_conv_shape *s, int n0, int n1,
                          float *tile, float *panel, float *dx)
{
    const int image_cols = s->ho * s->wo, ncols = s->n * image_cols;
    const int first = n0 * image_cols, panels = ((n1 - n0) * image_cols + NMT_NM_PANEL_COLS - 1) / NMT_NM_PANEL_COLS;
    const int cout = w_t->k;
    for (int p = 0; p < panels; p++) {
        nm_output_run runs[NMT_NM_PANEL_COLS];
        int width;
        const int run_count = nm_panel_runs(s, first, n1 * image_cols, p, runs, &width);
        for (int r = 0; r < cout; r++) {
            float *out = panel + (size_t)r * NMT_NM_PANEL_COLS;
            memcpy(out, dy + (size_t)r * ncols + first + p * NMT_NM_PANEL_COLS, sizeof(float) * width);
            if (width < NMT_NM_PANEL_COLS) memset(out + width, 0, sizeof(float) * (NMT_NM_PANEL_COLS - width));
        }
        for (int i = 0; i < s->kh; i++) {
            for (int j = 0; j < s->kw; j++) {
                const int row0 = (i * s->kw + j) * s->c; /* row (i, j, 0) of W_out^T */
                nm_gemm_panel(w_t, row0, row0 + s->c, panel, width, tile, NMT_NM_PANEL_COLS);
                scatter_tile(s, runs, run_count, i, j, tile, dx);
            }
        }
    }
}

/* Greatest common divisor, for whole-panel image blocks. */
static int gcd(int a, int b)
{
    while (b) {
        const int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int nmt_gemm_nm_col2im(const nmt_packed *w_t, const float *dy, const nmt_conv_shape *s, float *workspace,
                       size_t workspace_floats, float *dx)
{
    const int image_cols = s->ho * s->wo;
    const size_t per_thread = per_thread_floats(s, w_t->k);
    if (workspace_floats < per_thread) {
        nmt_error("sparse backward-data: a workspace of %zu floats has no room for one thread's tile and panel (%zu)",
                  workspace_floats, per_thread);
        return -1;
    }
    if (s->n <= 0 || image_cols <= 0 || w_t->k / w_t->nm.m == 0) return 0;
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if ((size_t)threads > workspace_floats / per_thread) threads = (int)(workspace_floats / per_thread);
    /* About eight blocks per thread, so that a core the host slows down
     * hands work over; of whole panels (96 / gcd(plane, 96) images: a
     * ragged panel runs the slower masked kernel) where that unit is not
     * much larger (7x7 planes would need 96 images). */
    const int unit = NMT_NM_PANEL_COLS / gcd(image_cols, NMT_NM_PANEL_COLS);
    const int wanted = s->n / (8 * threads) > 0 ? s->n / (8 * threads) : 1;
    int block = wanted;
    if (unit <= 2 * wanted) block = unit * ((wanted + unit / 2) / unit > 0 ? (wanted + unit / 2) / unit : 1);
    if (block > s->n) block = s->n;
    const int blocks = (s->n + block - 1) / block;
    if (threads > blocks) threads = blocks;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int b = 0; b < blocks; b++) {
        float *tile = workspace + (size_t)omp_get_thread_num() * per_thread;
        const int n0 = b * block, n1 = n0 + block < s->n ? n0 + block : s->n;
        col2im_images(w_t, dy, s, n0, n1, tile, tile + (size_t)s->c * NMT_NM_PANEL_COLS, dx);
    }
    return 0;
}

/* Convolution lowering written straight into the N:M GEMM's panel layout
 * (see nmt_nm_pack_panels), so the forward sparse GEMM reads the lowered
 * input without a second copy. Same values as nmt_im2col: panel p, row
 * (i, j, ci), column q holds x[ci][n][oy*stride - pad + i][ox*stride - pad + j]
 * for output column p*NMT_NM_PANEL_COLS + q = (n, oy, ox). */
#include "nm_gemm_internal.h"
#include "lowering.h"

/* Fills one panel row from one input plane with `runs` describing its
 * columns; `i`, `j` are the kernel offsets of this row. */
static void lower_row(const nmt_conv_shape *s, const float *channel, const nm_output_run *runs,
                      int run_count, int i, int j, float *out)
{
    const size_t plane = (size_t)s->h * s->w;
    for (int r = 0; r < run_count; r++) {
        const nm_output_run *run = &runs[r];
        float *dst = out + run->first_column;
        const int iy = run->oy * s->stride - s->pad + i;
        if (iy < 0 || iy >= s->h) {
            short_zero(dst, run->length);
            continue;
        }
        int first, last;
        tap_columns(s, j, run->ox, run->length, &first, &last);
        lower_span(dst, run->length, first, last, channel + run->n * plane + (size_t)iy * s->w,
                   (run->ox + first) * s->stride - s->pad + j, s->stride);
    }
}

int nm_lower_panel(const nmt_conv_shape *s, const float *x, int n0, int n1, int p, float *out)
{
    const int k = s->kh * s->kw * s->c, image_cols = s->ho * s->wo;
    const size_t plane = (size_t)s->h * s->w;
    const int same = s->stride == 1 && s->ho == s->h && s->wo == s->w;
    nm_output_run runs[NMT_NM_PANEL_COLS];
    const int first = n0 * image_cols + p * NMT_NM_PANEL_COLS; /* the panel's first column in the batch */
    int width = n1 * image_cols - first < NMT_NM_PANEL_COLS ? n1 * image_cols - first : NMT_NM_PANEL_COLS;
    const int run_count = same ? 0 : nm_panel_runs(s, n0 * image_cols, n1 * image_cols, p, runs, &width);
    for (int row = 0; row < k; row++, out += NMT_NM_PANEL_COLS) {
        const int ci = row % s->c, j = (row / s->c) % s->kw, i = row / (s->c * s->kw);
        const float *channel = x + (size_t)ci * s->n * plane;
        if (same) { /* the panel's piece of each image it spans */
            for (int q = 0; q < width;) {
                const int n = (first + q) / image_cols, q0 = (first + q) % image_cols;
                const int q1 = image_cols - q0 < width - q ? image_cols : q0 + width - q;
                shifted_plane_range(channel + n * plane, s->h, s->w, i - s->pad, j - s->pad, q0, q1, out + q);
                q += q1 - q0;
            }
        } else {
            lower_row(s, channel, runs, run_count, i, j, out);
        }
        if (width < NMT_NM_PANEL_COLS) short_zero(out + width, NMT_NM_PANEL_COLS - width);
    }
    return width;
}

void nmt_im2col_panels_images(const nmt_conv_shape *s, const float *x, int n0, int n1, float *panels)
{
    const int k = s->kh * s->kw * s->c, ncols = (n1 - n0) * s->ho * s->wo;
    const int panel_count = (ncols + NMT_NM_PANEL_COLS - 1) / NMT_NM_PANEL_COLS;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < panel_count; p++) nm_lower_panel(s, x, n0, n1, p, panels + (size_t)p * k * NMT_NM_PANEL_COLS);
}

void nmt_im2col_panels(const nmt_conv_shape *s, const float *x, float *panels)
{
    nmt_im2col_panels_images(s, x, 0, s->n, panels);
}

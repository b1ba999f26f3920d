/* Convolution lowering for CNHW activations.
 * col row (i, j, ci) holds x[ci][n][oy*stride - pad + i][ox*stride - pad + j]
 * for every output column (n, oy, ox). Rows are ordered (kh, kw, ci) so the
 * input-channel groups of an N:M weight meet contiguous rows. */
#include "nmtrain/kernels.h"
#include "lowering.h"

void nmt_im2col_images(const nmt_conv_shape *s, const float *x, int n0, int n1, float *col)
{
    const int rows = s->kh * s->kw * s->c, same = s->stride == 1 && s->ho == s->h && s->wo == s->w;
    const size_t plane = (size_t)s->h * s->w, cols = (size_t)(n1 - n0) * s->ho * s->wo;
#pragma omp parallel for schedule(static)
    for (int row = 0; row < rows; row++) {
        int ci = row % s->c, j = (row / s->c) % s->kw, i = row / (s->c * s->kw);
        int ox0, ox1;
        tap_columns(s, j, 0, s->wo, &ox0, &ox1);
        float *out = col + (size_t)row * cols;
        for (int n = n0; n < n1; n++) {
            const float *src = x + ((size_t)ci * s->n + n) * plane;
            if (same) {
                shifted_plane_range(src, s->h, s->w, i - s->pad, j - s->pad, 0, (int)plane, out + (size_t)(n - n0) * plane);
                continue;
            }
            for (int oy = 0; oy < s->ho; oy++) {
                int iy = oy * s->stride - s->pad + i;
                float *dst = out + ((size_t)(n - n0) * s->ho + oy) * s->wo;
                if (iy < 0 || iy >= s->h) {
                    short_zero(dst, s->wo);
                    continue;
                }
                lower_span(dst, s->wo, ox0, ox1, src + (size_t)iy * s->w, ox0 * s->stride - s->pad + j, s->stride);
            }
        }
    }
}

void nmt_im2col(const nmt_conv_shape *s, const float *x, float *col)
{
    nmt_im2col_images(s, x, 0, s->n, col);
}

void nmt_col2im_images(const nmt_conv_shape *s, const float *col, int n0, int n1, float *dx, int accumulate)
{
    const size_t plane = (size_t)s->h * s->w, block = (size_t)s->ho * s->wo, cols = (size_t)(n1 - n0) * block;
    /* One task per dx plane: its owner adds all kh*kw taps while the plane
     * sits in L1, with no atomics, and zeroes it first when overwriting. */
#pragma omp parallel for collapse(2) schedule(static)
    for (int ci = 0; ci < s->c; ci++) {
        for (int n = n0; n < n1; n++) {
            float *restrict dst = dx + ((size_t)ci * s->n + n) * plane;
            if (!accumulate) short_zero(dst, (int)plane);
            for (int i = 0; i < s->kh; i++) {
                for (int j = 0; j < s->kw; j++) {
                    const float *restrict in =
                        col + ((size_t)(i * s->kw + j) * s->c + ci) * cols + (size_t)(n - n0) * block;
                    int ox0, ox1;
                    tap_columns(s, j, 0, s->wo, &ox0, &ox1);
                    if (ox1 == ox0) continue; /* the tap never meets the plane */
                    for (int oy = 0; oy < s->ho; oy++) {
                        const int iy = oy * s->stride - s->pad + i;
                        if (iy < 0 || iy >= s->h) continue;
                        const float *restrict src = in + (size_t)oy * s->wo + ox0;
                        float *restrict line = dst + (size_t)iy * s->w + ox0 * s->stride - s->pad + j;
                        if (s->stride == 1) {
                            for (int t = 0; t < ox1 - ox0; t++) line[t] += src[t];
                        } else {
                            for (int t = 0; t < ox1 - ox0; t++) line[t * s->stride] += src[t];
                        }
                    }
                }
            }
        }
    }
}

void nmt_col2im(const nmt_conv_shape *s, const float *col, float *dx)
{
    nmt_col2im_images(s, col, 0, s->n, dx, 1);
}

/* Convolution lowering for CNHW activations.
 * col row (i, j, ci) holds x[ci][n][oy*stride - pad + i][ox*stride - pad + j]
 * for every output column (n, oy, ox). Rows are ordered (kh, kw, ci) so the
 * input-channel groups of an N:M weight meet contiguous rows. */
#include "nmtrain/kernels.h"
#include "short_copy.h"

void nmt_im2col_images(const nmt_conv_shape *s, const float *x, int n0, int n1, float *col)
{
    const int rows = s->kh * s->kw * s->c;
    const size_t plane = (size_t)s->h * s->w, cols = (size_t)(n1 - n0) * s->ho * s->wo;
#pragma omp parallel for schedule(static)
    for (int row = 0; row < rows; row++) {
        int ci = row % s->c, j = (row / s->c) % s->kw, i = row / (s->c * s->kw);
        float *out = col + (size_t)row * cols;
        for (int n = n0; n < n1; n++) {
            const float *src = x + ((size_t)ci * s->n + n) * plane;
            for (int oy = 0; oy < s->ho; oy++) {
                int iy = oy * s->stride - s->pad + i;
                float *dst = out + ((size_t)(n - n0) * s->ho + oy) * s->wo;
                if (iy < 0 || iy >= s->h) {
                    short_zero(dst, s->wo);
                    continue;
                }
                const float *line = src + (size_t)iy * s->w;
                if (s->stride == 1) {
                    int lo = s->pad - j, ox0 = lo > 0 ? lo : 0;
                    int ox1 = s->w + s->pad - j < s->wo ? s->w + s->pad - j : s->wo;
                    if (ox1 < ox0) ox1 = ox0;
                    for (int ox = 0; ox < ox0; ox++) dst[ox] = 0.0f;
                    if (ox1 > ox0) short_copy(dst + ox0, line + ox0 - s->pad + j, ox1 - ox0);
                    for (int ox = ox1; ox < s->wo; ox++) dst[ox] = 0.0f;
                } else {
                    for (int ox = 0; ox < s->wo; ox++) {
                        int ix = ox * s->stride - s->pad + j;
                        dst[ox] = (ix >= 0 && ix < s->w) ? line[ix] : 0.0f;
                    }
                }
            }
        }
    }
}

void nmt_im2col(const nmt_conv_shape *s, const float *x, float *col)
{
    nmt_im2col_images(s, x, 0, s->n, col);
}

void nmt_col2im_images(const nmt_conv_shape *s, const float *col, int n0, int n1, float *dx)
{
    const size_t plane = (size_t)s->h * s->w, cols = (size_t)(n1 - n0) * s->ho * s->wo;
    /* Parallel over input channels: each thread owns whole dx planes, so the
     * scatter-add needs no atomics and is deterministic. */
#pragma omp parallel for schedule(static)
    for (int ci = 0; ci < s->c; ci++) {
        for (int i = 0; i < s->kh; i++) {
            for (int j = 0; j < s->kw; j++) {
                const float *in = col + ((size_t)(i * s->kw + j) * s->c + ci) * cols;
                for (int n = n0; n < n1; n++) {
                    float *dst = dx + ((size_t)ci * s->n + n) * plane;
                    for (int oy = 0; oy < s->ho; oy++) {
                        int iy = oy * s->stride - s->pad + i;
                        if (iy < 0 || iy >= s->h) continue;
                        const float *src = in + ((size_t)(n - n0) * s->ho + oy) * s->wo;
                        float *line = dst + (size_t)iy * s->w;
                        for (int ox = 0; ox < s->wo; ox++) {
                            int ix = ox * s->stride - s->pad + j;
                            if (ix >= 0 && ix < s->w) line[ix] += src[ox];
                        }
                    }
                }
            }
        }
    }
}

void nmt_col2im(const nmt_conv_shape *s, const float *col, float *dx)
{
    nmt_col2im_images(s, col, 0, s->n, dx);
}

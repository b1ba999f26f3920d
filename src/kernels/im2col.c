/* Convolution lowering for CNHW activations.
 * col row (i, j, ci) holds x[ci][n][oy*stride - pad + i][ox*stride - pad + j]
 * for every output column (n, oy, ox). Rows are ordered (kh, kw, ci) so the
 * input-channel groups of an N:M weight meet contiguous rows. */
#include <string.h>

#include "nmtrain/kernels.h"

void nmt_im2col(const nmt_conv_shape *s, const float *x, float *col)
{
    const int rows = s->kh * s->kw * s->c;
    const size_t plane = (size_t)s->h * s->w, cols = (size_t)s->n * s->ho * s->wo;
#pragma omp parallel for schedule(static)
    for (int row = 0; row < rows; row++) {
        int ci = row % s->c, j = (row / s->c) % s->kw, i = row / (s->c * s->kw);
        float *out = col + (size_t)row * cols;
        for (int n = 0; n < s->n; n++) {
            const float *src = x + ((size_t)ci * s->n + n) * plane;
            for (int oy = 0; oy < s->ho; oy++) {
                int iy = oy * s->stride - s->pad + i;
                float *dst = out + ((size_t)n * s->ho + oy) * s->wo;
                if (iy < 0 || iy >= s->h) {
                    memset(dst, 0, sizeof(float) * s->wo);
                    continue;
                }
                const float *line = src + (size_t)iy * s->w;
                if (s->stride == 1) {
                    int lo = s->pad - j, ox0 = lo > 0 ? lo : 0;
                    int ox1 = s->w + s->pad - j < s->wo ? s->w + s->pad - j : s->wo;
                    if (ox1 < ox0) ox1 = ox0;
                    for (int ox = 0; ox < ox0; ox++) dst[ox] = 0.0f;
                    if (ox1 > ox0) memcpy(dst + ox0, line + ox0 - s->pad + j, sizeof(float) * (ox1 - ox0));
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

void nmt_col2im(const nmt_conv_shape *s, const float *col, float *dx)
{
    const size_t plane = (size_t)s->h * s->w, cols = (size_t)s->n * s->ho * s->wo;
    /* Parallel over input channels: each thread owns whole dx planes, so the
     * scatter-add needs no atomics and is deterministic. */
#pragma omp parallel for schedule(static)
    for (int ci = 0; ci < s->c; ci++) {
        for (int i = 0; i < s->kh; i++) {
            for (int j = 0; j < s->kw; j++) {
                const float *in = col + ((size_t)(i * s->kw + j) * s->c + ci) * cols;
                for (int n = 0; n < s->n; n++) {
                    float *dst = dx + ((size_t)ci * s->n + n) * plane;
                    for (int oy = 0; oy < s->ho; oy++) {
                        int iy = oy * s->stride - s->pad + i;
                        if (iy < 0 || iy >= s->h) continue;
                        const float *src = in + ((size_t)n * s->ho + oy) * s->wo;
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

/* Channels per work item (their slice of a dcol_t row is one cache line)
 * and output columns per transposed tile. */
#define COL2IM_T_CHANNELS 16
#define COL2IM_T_COLUMNS 32

/* Ceiling of a / b for b > 0 and any sign of a. */
static int ceil_div(int a, int b)
{
    return a >= 0 ? (a + b - 1) / b : -(-a / b);
}

/* Each (kernel offset, run of output columns) slice is first transposed into
 * a small channel-major tile, so the adds into dx run along its rows: adding
 * straight from the pixel-major rows would write 16 planes at once, and
 * planes a multiple of 4 KiB apart evict each other from L1. */
void nmt_col2im_transposed(const nmt_conv_shape *s, const float *dcol_t, float *dx)
{
    const size_t plane = (size_t)s->h * s->w, channel = (size_t)s->n * plane;
    const size_t k = (size_t)s->kh * s->kw * s->c;
    const int blocks = (s->c + COL2IM_T_CHANNELS - 1) / COL2IM_T_CHANNELS;
#pragma omp parallel for schedule(dynamic, 1)
    for (int block = 0; block < blocks; block++) {
        const int c0 = block * COL2IM_T_CHANNELS;
        const int count = s->c - c0 < COL2IM_T_CHANNELS ? s->c - c0 : COL2IM_T_CHANNELS;
        float tile[COL2IM_T_CHANNELS][COL2IM_T_COLUMNS];
        for (int n = 0; n < s->n; n++) {
            for (int oy = 0; oy < s->ho; oy++) {
                for (int ox0 = 0; ox0 < s->wo; ox0 += COL2IM_T_COLUMNS) {
                    const int length = s->wo - ox0 < COL2IM_T_COLUMNS ? s->wo - ox0 : COL2IM_T_COLUMNS;
                    const float *rows = dcol_t + (((size_t)n * s->ho + oy) * s->wo + ox0) * k + c0;
                    for (int i = 0; i < s->kh; i++) {
                        const int iy = oy * s->stride - s->pad + i;
                        if (iy < 0 || iy >= s->h) continue;
                        for (int j = 0; j < s->kw; j++) {
                            /* Column q lands on ix0 + q*stride; keep 0 <= ix < w. */
                            const int ix0 = ox0 * s->stride - s->pad + j;
                            int first = ceil_div(-ix0, s->stride), last = ceil_div(s->w - ix0, s->stride);
                            if (first < 0) first = 0;
                            if (last > length) last = length;
                            if (first >= last) continue;
                            const float *slice = rows + (size_t)(i * s->kw + j) * s->c;
                            for (int q = first; q < last; q++)
                                for (int c = 0; c < count; c++) tile[c][q] = slice[(size_t)q * k + c];
                            for (int c = 0; c < count; c++) {
                                float *line = dx + (size_t)(c0 + c) * channel + n * plane + (size_t)iy * s->w + ix0;
                                if (s->stride == 1)
                                    for (int q = first; q < last; q++) line[q] += tile[c][q];
                                else
                                    for (int q = first; q < last; q++) line[q * s->stride] += tile[c][q];
                            }
                        }
                    }
                }
            }
        }
    }
}

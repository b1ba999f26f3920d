/* Convolution lowering for CNHW activations.
 * col row (i, j, ci) holds x[ci][n][oy*stride - pad + i][ox*stride - pad + j]
 * for every output column (n, oy, ox). Rows are ordered (kh, kw, ci) so the
 * input-channel groups of an N:M weight meet contiguous rows. */
#include "nmtrain/kernels.h"
#include "short_copy.h"

/* Output columns [*ox0, *ox1) of kernel column j whose input column
 * ox*stride - pad + j lies inside [0, w). */
static void valid_columns(const nmt_conv_shape *s, int j, int *ox0, int *ox1)
{
    const int first = s->pad - j, last = s->w - 1 + s->pad - j; /* bounds on ox*stride */
    *ox0 = first > 0 ? (first + s->stride - 1) / s->stride : 0;
    *ox1 = last < 0 ? 0 : last / s->stride + 1;
    if (*ox1 > s->wo) *ox1 = s->wo;
    if (*ox1 < *ox0) *ox1 = *ox0;
}

/* One tap of a stride-1 convolution whose output is as large as its input
 * ("same" padding): the output block is the input plane shifted by
 * d = di*w + dj, so one contiguous copy, zeros where the shift leaves the
 * plane, and zeros over the columns that wrapped to the other edge. On 4x4
 * and 8x8 planes this beats a short copy per output row 2x. */
static void shifted_plane(const float *src, int h, int w, int di, int dj, float *dst)
{
    const int area = h * w, d = di * w + dj;
    if (di <= -h || di >= h || dj <= -w || dj >= w) { /* the kernel tap never meets the plane */
        short_zero(dst, area);
        return;
    }
    int lo = d < 0 ? -d : 0, hi = d > 0 ? area - d : area;
    short_zero(dst, lo);
    short_copy(dst + lo, src + lo + d, hi - lo);
    short_zero(dst + hi, area - hi);
    if (dj == 0) return;
    for (int y = 0; y < h; y++) {
        if (dj < 0) short_zero(dst + (size_t)y * w, -dj);
        else short_zero(dst + (size_t)y * w + w - dj, dj);
    }
}

void nmt_im2col_images(const nmt_conv_shape *s, const float *x, int n0, int n1, float *col)
{
    const int rows = s->kh * s->kw * s->c, same = s->stride == 1 && s->ho == s->h && s->wo == s->w;
    const size_t plane = (size_t)s->h * s->w, cols = (size_t)(n1 - n0) * s->ho * s->wo;
#pragma omp parallel for schedule(static)
    for (int row = 0; row < rows; row++) {
        int ci = row % s->c, j = (row / s->c) % s->kw, i = row / (s->c * s->kw);
        int ox0, ox1;
        valid_columns(s, j, &ox0, &ox1);
        float *out = col + (size_t)row * cols;
        for (int n = n0; n < n1; n++) {
            const float *src = x + ((size_t)ci * s->n + n) * plane;
            if (same) {
                shifted_plane(src, s->h, s->w, i - s->pad, j - s->pad, out + (size_t)(n - n0) * plane);
                continue;
            }
            for (int oy = 0; oy < s->ho; oy++) {
                int iy = oy * s->stride - s->pad + i;
                float *dst = out + ((size_t)(n - n0) * s->ho + oy) * s->wo;
                if (iy < 0 || iy >= s->h) {
                    short_zero(dst, s->wo);
                    continue;
                }
                const float *line = src + (size_t)iy * s->w + ox0 * s->stride - s->pad + j; /* input of ox0 */
                short_zero(dst, ox0);
                if (s->stride == 1) {
                    short_copy(dst + ox0, line, ox1 - ox0);
                } else {
                    for (int t = 0; t < ox1 - ox0; t++) dst[ox0 + t] = line[t * s->stride];
                }
                short_zero(dst + ox1, s->wo - ox1);
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
                    valid_columns(s, j, &ox0, &ox1);
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

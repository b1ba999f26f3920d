/* What the lowerings and scatters of a convolution share (im2col, col2im,
 * the panel lowering, the fused and transposed scatters): which output
 * columns a kernel tap sees inside the input, copies and zero fills of a
 * few dozen floats, and the shifted-plane copy of "same" convolutions.
 * Internal to src/kernels. */
#ifndef NMT_LOWERING_H
#define NMT_LOWERING_H

#include <string.h>

#include "nmtrain/kernels.h"

/* Not part of the library's interface: hidden from its users (Makefile). */
#pragma GCC visibility push(hidden)

/* Ceiling of a / b for b > 0 and any sign of a. */
static inline int ceil_div(int a, int b)
{
    return a >= 0 ? (a + b - 1) / b : -(-a / b);
}

/* Of the `count` output columns from ox0 on, those [*first, *last)
 * (relative to ox0) whose input column under kernel column j,
 * ox*stride - pad + j, lies inside [0, w). */
static inline void tap_columns(const nmt_conv_shape *s, int j, int ox0, int count, int *first, int *last)
{
    int lo = ceil_div(s->pad - j, s->stride) - ox0, hi = ceil_div(s->w + s->pad - j, s->stride) - ox0;
    lo = lo < 0 ? 0 : lo > count ? count : lo;
    hi = hi > count ? count : hi < lo ? lo : hi;
    *first = lo;
    *last = hi;
}

/* Copies and zero fills of one output row of a lowering (4-32 floats on
 * CIFAR-sized layers): a libc call costs more than the copy at these
 * lengths; fixed-size memcpy/memset of 16 bytes compile to single vector
 * moves. */
static inline void short_copy(float *dst, const float *src, int count)
{
    int i = 0;
    for (; i + 4 <= count; i += 4) memcpy(dst + i, src + i, 4 * sizeof(float));
    for (; i < count; i++) dst[i] = src[i];
}

static inline void short_zero(float *dst, int count)
{
    int i = 0;
    for (; i + 4 <= count; i += 4) memset(dst + i, 0, 4 * sizeof(float));
    for (; i < count; i++) dst[i] = 0.0f;
}

/* One output row of a lowering, `count` columns of which [first, last)
 * see the input: zeros, row[ix_first + q*stride] for those, zeros. */
static inline void lower_span(float *dst, int count, int first, int last, const float *row, int ix_first, int stride)
{
    short_zero(dst, first);
    if (last > first) {
        const float *in = row + ix_first;
        if (stride == 1) {
            short_copy(dst + first, in, last - first);
        } else {
            for (int q = 0; q < last - first; q++) dst[first + q] = in[q * stride];
        }
    }
    short_zero(dst + last, count - last);
}

/* Positions [q0, q1) of one kernel tap's output block in a stride-1
 * convolution whose output is as large as its input ("same" padding): the
 * block is the input plane (h x w) shifted by d = di*w + dj, so one
 * contiguous copy, zeros where the shift leaves the plane, and zeros over
 * the columns that wrapped to the other edge. dst[q - q0] receives
 * position q. On 4x4 to 16x16 planes this beats a short copy per output
 * row. */
static inline void shifted_plane_range(const float *src, int h, int w, int di, int dj, int q0, int q1, float *dst)
{
    const int area = h * w, d = di * w + dj;
    if (di <= -h || di >= h || dj <= -w || dj >= w) { /* the tap never meets the plane */
        short_zero(dst, q1 - q0);
        return;
    }
    int lo = d < 0 ? -d : 0, hi = d > 0 ? area - d : area; /* valid before the column fix-up */
    lo = lo < q0 ? q0 : lo > q1 ? q1 : lo;
    hi = hi > q1 ? q1 : hi < lo ? lo : hi;
    short_zero(dst, lo - q0);
    if (hi > lo) short_copy(dst + lo - q0, src + lo + d, hi - lo);
    short_zero(dst + hi - q0, q1 - hi);
    if (dj == 0) return;
    const int wrap0 = dj < 0 ? 0 : w - dj, wrap1 = dj < 0 ? -dj : w; /* columns read across an edge */
    for (int y = q0 / w; y * w < q1; y++) {
        int a = y * w + wrap0, b = y * w + wrap1;
        a = a < q0 ? q0 : a;
        b = b > q1 ? q1 : b;
        if (b > a) short_zero(dst + a - q0, b - a);
    }
}

#pragma GCC visibility pop

#endif

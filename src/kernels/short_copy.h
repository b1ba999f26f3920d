/* Copies and zero fills of a few dozen floats (one output row of a
 * lowering: 4-32 floats on CIFAR-sized layers), and the shifted-plane copy
 * both lowerings use for "same" convolutions. A libc call costs more than
 * the copy at these lengths; fixed-size memcpy/memset of 16 bytes compile
 * to single vector moves. Internal to src/kernels. */
#ifndef NMT_SHORT_COPY_H
#define NMT_SHORT_COPY_H

#include <string.h>

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

#endif

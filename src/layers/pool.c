/* Max pooling (fixed and adaptive windows) and global average pooling. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "layers/layers.h"

/* Max pooling keeps no argmax: backward re-runs the forward's selection on
 * the input, which the network keeps anyway, and saves an int per output
 * (30 MB for ResNet9 at batch 128). */

/* Max over one window [y0, y1) x [x0, x1) of a plane and where it is. */
static inline float window_max(const float *plane, int w, int y0, int y1, int x0, int x1, int *where)
{
    float best = -INFINITY;
    int at = y0 * w + x0;
    for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) {
            const float v = plane[iy * w + ix];
            if (v > best || isnan(v)) {
                best = v;
                at = iy * w + ix;
                if (isnan(v)) goto done; /* PyTorch propagates NaN */
            }
        }
done:
    *where = at;
    return best;
}

/* The common 2x2/2 window, unrolled and branch-free so the loops over a
 * row vectorise. The maximum is NaN when any entry is (PyTorch propagates
 * NaN); the winner is the first entry that is NaN or equal to the maximum,
 * which is the forward rule of window_max. */
static inline float max_2x2(float a, float b, float c, float d)
{
    float m = a;
    m = b > m ? b : m;
    m = c > m ? c : m;
    m = d > m ? d : m;
    const int nan = (a != a) | (b != b) | (c != c) | (d != d);
    return nan ? NAN : m;
}

/* One output row of the 2x2 window from input rows r0 and r1; restrict
 * spares the vectoriser its aliasing checks. */
static void max_row_2x2(const float *restrict r0, const float *restrict r1, float *restrict out, int wo)
{
    for (int ox = 0; ox < wo; ox++) out[ox] = max_2x2(r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]);
}

static inline uint32_t float_bits(float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

/* Entry v wins a window whose maximum has the bits max_bits: it is NaN, or
 * it is the maximum. In integers, since float compares with NaN compile to
 * branches. Bit equality is exact here: the forward output is a copy of its
 * first maximal entry, so an earlier entry equal as a float (-0 vs +0) would
 * itself be that copy. */
static inline int wins(float v, uint32_t max_bits)
{
    const uint32_t bits = float_bits(v);
    return ((bits & 0x7fffffffu) > 0x7f800000u) | (bits == max_bits);
}

/* Its backward: dy[ox] is added at the window's winner, the first entry
 * that wins (the forward rule), in dx row d0 or the row after it (w floats
 * on). The winner's offset is arithmetic on 0/1 flags: selects on random
 * data compile to mispredicted branches. */
static void max_row_2x2_backward(const float *restrict r0, const float *restrict r1, const float *restrict y,
                                 const float *restrict dy, float *restrict d0, int w, int wo)
{
    for (int ox = 0; ox < wo; ox++) {
        const uint32_t m = float_bits(y[ox]);
        const int wa = wins(r0[2 * ox], m), wb = wins(r0[2 * ox + 1], m), wc = wins(r1[2 * ox], m);
        const int not_a = 1 - wa, first_b = not_a & wb, not_ab = not_a & (1 - wb);
        const int first_c = not_ab & wc, first_d = not_ab & (1 - wc);
        d0[2 * ox + first_b + first_c * w + first_d * (w + 1)] += dy[ox];
    }
}

/* Forward (y written, dy NULL) or backward (y read, dx added to, or
 * overwritten: each plane zeroed first while it is in L1). */
static void maxpool_2x2(const pool_shape *s, const float *x, float *y_out, const float *y, const float *dy, float *dx,
                        int accumulate)
{
    const int planes = s->c * s->n, in_plane = s->h * s->w, out_plane = s->ho * s->wo;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        if (dy && !accumulate) memset(dx + (size_t)p * in_plane, 0, sizeof(float) * (size_t)in_plane);
        for (int oy = 0; oy < s->ho; oy++) {
            const size_t in_row = (size_t)p * in_plane + 2 * (size_t)oy * s->w;
            const size_t o = (size_t)p * out_plane + (size_t)oy * s->wo;
            if (dy)
                max_row_2x2_backward(x + in_row, x + in_row + s->w, y + o, dy + o, dx + in_row, s->w, s->wo);
            else
                max_row_2x2(x + in_row, x + in_row + s->w, y_out + o, s->wo);
        }
    }
}

/* Input range [*lo, *hi) of output index o along one axis: PyTorch's
 * adaptive rule (floor(o*in/out) to ceil((o+1)*in/out)), or a fixed window
 * clipped to the input. */
static void window_range(int o, int in, int out, int k, int stride, int pad, int adaptive, int *lo, int *hi)
{
    if (adaptive) {
        *lo = o * in / out;
        *hi = ((o + 1) * in + out - 1) / out;
    } else {
        const int start = o * stride - pad;
        *lo = start < 0 ? 0 : start;
        *hi = start + k > in ? in : start + k;
    }
}

/* Any window shape: forward (y_out written, dy NULL) or backward (dy added
 * at each window's winner, into dx as it is or zeroed first; y is the
 * forward's output), one selection rule for both. */
static void pool_planes(const pool_shape *s, const float *x, float *y_out, const float *y, const float *dy, float *dx,
                        int adaptive, int accumulate)
{
    if (!adaptive && s->kh == 2 && s->kw == 2 && s->stride == 2 && s->pad == 0) {
        maxpool_2x2(s, x, y_out, y, dy, dx, accumulate);
        return;
    }
    const int planes = s->c * s->n, in_plane = s->h * s->w, out_plane = s->ho * s->wo;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        const float *in = x + (size_t)p * in_plane;
        if (dy && !accumulate) memset(dx + (size_t)p * in_plane, 0, sizeof(float) * (size_t)in_plane);
        for (int oy = 0; oy < s->ho; oy++) {
            int y0, y1;
            window_range(oy, s->h, s->ho, s->kh, s->stride, s->pad, adaptive, &y0, &y1);
            for (int ox = 0; ox < s->wo; ox++) {
                int x0, x1, at;
                window_range(ox, s->w, s->wo, s->kw, s->stride, s->pad, adaptive, &x0, &x1);
                const float best = window_max(in, s->w, y0, y1, x0, x1, &at);
                const size_t o = (size_t)p * out_plane + oy * s->wo + ox;
                if (dy) dx[(size_t)p * in_plane + at] += dy[o];
                else y_out[o] = best;
            }
        }
    }
}

void maxpool_forward(const pool_shape *s, const float *x, float *y)
{
    pool_planes(s, x, y, NULL, NULL, NULL, 0, 1);
}

void maxpool_backward(const pool_shape *s, const float *x, const float *y, const float *dy, float *dx, int accumulate)
{
    pool_planes(s, x, NULL, y, dy, dx, 0, accumulate);
}

void adaptive_maxpool_forward(const pool_shape *s, const float *x, float *y)
{
    pool_planes(s, x, y, NULL, NULL, NULL, 1, 1);
}

void adaptive_maxpool_backward(const pool_shape *s, const float *x, const float *y, const float *dy, float *dx,
                               int accumulate)
{
    pool_planes(s, x, NULL, y, dy, dx, 1, accumulate);
}

void avgpool_forward(int c, int n, int plane, const float *x, float *y)
{
#pragma omp parallel for schedule(static)
    for (int p = 0; p < c * n; p++) {
        const float *in = x + (size_t)p * plane;
        float sum = 0.0f;
        for (int i = 0; i < plane; i++) sum += in[i];
        y[p] = sum / (float)plane;
    }
}

void avgpool_backward(int c, int n, int plane, const float *dy, float *dx)
{
#pragma omp parallel for schedule(static)
    for (int p = 0; p < c * n; p++) {
        float *d = dx + (size_t)p * plane;
        const float g = dy[p] / (float)plane;
        for (int i = 0; i < plane; i++) d[i] += g;
    }
}

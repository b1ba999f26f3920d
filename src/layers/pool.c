/* Max pooling (fixed and adaptive windows) and global average pooling. */
#include <math.h>

#include "layers/layers.h"

/* Max over one window [y0, y1) x [x0, x1) of a plane; records the winner. */
static inline float window_max(const float *plane, int w, int y0, int y1, int x0, int x1, int32_t *where)
{
    float best = -INFINITY;
    int32_t at = y0 * w + x0;
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

static void pool_planes(const pool_shape *s, const float *x, int32_t *argmax, float *y, int adaptive)
{
    const int planes = s->c * s->n, in_plane = s->h * s->w, out_plane = s->ho * s->wo;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        const float *in = x + (size_t)p * in_plane;
        float *out = y + (size_t)p * out_plane;
        int32_t *arg = argmax + (size_t)p * out_plane;
        for (int oy = 0; oy < s->ho; oy++) {
            int y0, y1;
            window_range(oy, s->h, s->ho, s->kh, s->stride, s->pad, adaptive, &y0, &y1);
            for (int ox = 0; ox < s->wo; ox++) {
                int x0, x1;
                window_range(ox, s->w, s->wo, s->kw, s->stride, s->pad, adaptive, &x0, &x1);
                out[oy * s->wo + ox] = window_max(in, s->w, y0, y1, x0, x1, &arg[oy * s->wo + ox]);
            }
        }
    }
}

/* The common 2x2/2 window, unrolled. `!(v <= best)` takes v when it is
 * larger or NaN, and a NaN best is never replaced: PyTorch's rules. */
static void maxpool_2x2(const pool_shape *s, const float *x, int32_t *argmax, float *y)
{
    const int planes = s->c * s->n, in_plane = s->h * s->w, out_plane = s->ho * s->wo;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        const float *in = x + (size_t)p * in_plane;
        float *out = y + (size_t)p * out_plane;
        int32_t *arg = argmax + (size_t)p * out_plane;
        for (int oy = 0; oy < s->ho; oy++) {
            const float *r0 = in + 2 * oy * s->w, *r1 = r0 + s->w;
            const int base = 2 * oy * s->w;
            for (int ox = 0; ox < s->wo; ox++) {
                float best = r0[2 * ox];
                int at = base + 2 * ox;
                if (!(r0[2 * ox + 1] <= best) && best == best) best = r0[2 * ox + 1], at = base + 2 * ox + 1;
                if (!(r1[2 * ox] <= best) && best == best) best = r1[2 * ox], at = base + s->w + 2 * ox;
                if (!(r1[2 * ox + 1] <= best) && best == best) best = r1[2 * ox + 1], at = base + s->w + 2 * ox + 1;
                out[oy * s->wo + ox] = best;
                arg[oy * s->wo + ox] = at;
            }
        }
    }
}

void maxpool_forward(const pool_shape *s, const float *x, int32_t *argmax, float *y)
{
    if (s->kh == 2 && s->kw == 2 && s->stride == 2 && s->pad == 0)
        maxpool_2x2(s, x, argmax, y);
    else
        pool_planes(s, x, argmax, y, 0);
}

void adaptive_maxpool_forward(const pool_shape *s, const float *x, int32_t *argmax, float *y)
{
    pool_planes(s, x, argmax, y, 1);
}

void maxpool_backward(const pool_shape *s, const int32_t *argmax, const float *dy, float *dx)
{
    const int planes = s->c * s->n, in_plane = s->h * s->w, out_plane = s->ho * s->wo;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        float *d = dx + (size_t)p * in_plane;
        const float *g = dy + (size_t)p * out_plane;
        const int32_t *arg = argmax + (size_t)p * out_plane;
        for (int i = 0; i < out_plane; i++) d[arg[i]] += g[i];
    }
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

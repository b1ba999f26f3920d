/* ReLU, scaling and residual addition. */
#include <string.h>

#include "layers/layers.h"

void zero_fill(int64_t n, float *x)
{
    const int64_t block = 16384; /* 64 KB per memset */
#pragma omp parallel for schedule(static)
    for (int64_t start = 0; start < n; start += block)
        memset(x + start, 0, sizeof(float) * (size_t)(n - start < block ? n - start : block));
}

void relu_forward(int64_t n, const float *x, float *y)
{
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f || x[i] != x[i] ? x[i] : 0.0f; /* NaN stays NaN, as in PyTorch */
}

/* dy unless y <= 0 (so a NaN y passes dy on, as PyTorch's threshold
 * backward does), as a bit mask: branch-free, so it vectorises (a branch on
 * the sign of y mispredicts half the time). */
static inline float relu_gate(float y, float dy)
{
    uint32_t bits;
    memcpy(&bits, &dy, sizeof bits);
    bits &= -(uint32_t)!(y <= 0.0f);
    float gated;
    memcpy(&gated, &bits, sizeof gated);
    return gated;
}

void relu_backward(int64_t n, const float *y, const float *dy, float *dx, int accumulate)
{
    if (accumulate) {
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += relu_gate(y[i], dy[i]);
    } else {
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] = relu_gate(y[i], dy[i]);
    }
}

void scale_forward(int64_t n, float scale, const float *x, float *y)
{
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
}

void scale_backward(int64_t n, float scale, const float *dy, float *dx)
{
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * scale;
}

void add_forward(int64_t n, const float *a, const float *b, float *y)
{
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

/* da = dy, or da += dy when another reader already wrote its share. */
static void pass_gradient(int64_t n, const float *dy, float *da, int overwrite)
{
    if (overwrite) {
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; i++) da[i] = dy[i];
    } else {
        scale_backward(n, 1.0f, dy, da);
    }
}

void add_backward(int64_t n, const float *dy, float *da, int overwrite_a, float *db, int overwrite_b)
{
    if (da) pass_gradient(n, dy, da, overwrite_a);
    if (db) pass_gradient(n, dy, db, overwrite_b);
}

/* Flatten: CNHW -> (c*h*w) x n with PyTorch's per-sample (c, h, w) order. */

#include "layers/layers.h"

void flatten_forward(int c, int n, int plane, const float *x, float *y)
{
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++)
        for (int s = 0; s < n; s++)
            for (int p = 0; p < plane; p++)
                y[(size_t)(ch * plane + p) * n + s] = x[((size_t)ch * n + s) * plane + p];
}

void flatten_backward(int c, int n, int plane, const float *dy, float *dx)
{
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++)
        for (int s = 0; s < n; s++)
            for (int p = 0; p < plane; p++)
                dx[((size_t)ch * n + s) * plane + p] += dy[(size_t)(ch * plane + p) * n + s];
}

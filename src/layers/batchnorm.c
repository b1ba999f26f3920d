/* Batch normalisation per channel over batch x pixels (contiguous in CNHW).
 * Statistics are accumulated in double: a channel can span 100k+ values. */
#include <math.h>

#include "layers/layers.h"

/* Sums run in LANES independent accumulators, added up at the end: one
 * running sum is a chain of dependent adds (4 cycles each), lanes let the
 * compiler vectorise. The order is fixed for a given length, so results
 * stay deterministic. */
#define LANES 8

/* Sum of (x - center), or of (x - center)^2 with `squares`; a constant at
 * each call, so each pass does only its own arithmetic. */
static inline __attribute__((always_inline)) double lane_sum(const float *x, int n, double center,
                                                             const int squares)
{
    double sum[LANES] = {0};
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) {
            const double d = (double)x[j + l] - center;
            sum[l] += squares ? d * d : d;
        }
    for (int l = 0; j < n; j++, l++) {
        const double d = (double)x[j] - center;
        sum[l] += squares ? d * d : d;
    }
    double total = 0.0;
    for (int l = 0; l < LANES; l++) total += sum[l];
    return total;
}

void batchnorm_forward_train(int channels, int cols, const float *x, const float *gamma,
                             const float *beta, float *running_mean, float *running_var,
                             float momentum, float eps, bn_saved saved, float *y)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < channels; c++) {
        const float *in = x + (size_t)c * cols;
        float *out = y + (size_t)c * cols;
        const double mean = lane_sum(in, cols, 0.0, 0) / cols;
        const double sumsq = lane_sum(in, cols, mean, 1);
        const double var = sumsq / cols;
        const float invstd = (float)(1.0 / sqrt(var + eps));
        const float scale = gamma[c] * invstd, shift = beta[c] - (float)mean * scale;
        for (int j = 0; j < cols; j++) out[j] = in[j] * scale + shift;
        saved.mean[c] = (float)mean;
        saved.invstd[c] = invstd;
        /* PyTorch keeps the unbiased variance in the running estimate. */
        const double unbiased = cols > 1 ? sumsq / (cols - 1) : var;
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * (float)mean;
        running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (float)unbiased;
    }
}

void batchnorm_forward_eval(int channels, int cols, const float *x, const float *gamma,
                            const float *beta, const float *running_mean, const float *running_var,
                            float eps, float *y)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < channels; c++) {
        const float scale = gamma[c] / sqrtf(running_var[c] + eps);
        const float shift = beta[c] - running_mean[c] * scale;
        const float *in = x + (size_t)c * cols;
        float *out = y + (size_t)c * cols;
        for (int j = 0; j < cols; j++) out[j] = in[j] * scale + shift;
    }
}

void batchnorm_backward(int channels, int cols, const float *x, const float *gamma, bn_saved saved,
                        const float *dy, float *dgamma, float *dbeta, float *dx, int accumulate)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < channels; c++) {
        const float *in = x + (size_t)c * cols, *g = dy + (size_t)c * cols;
        const float mean = saved.mean[c], invstd = saved.invstd[c];
        double lane_dy[LANES] = {0}, lane_dy_xhat[LANES] = {0};
        int j = 0;
        for (; j + LANES <= cols; j += LANES)
            for (int l = 0; l < LANES; l++) {
                const double gv = g[j + l], xhat = ((double)in[j + l] - mean) * invstd;
                lane_dy[l] += gv;
                lane_dy_xhat[l] += gv * xhat;
            }
        for (int l = 0; j < cols; j++, l++) {
            const double gv = g[j], xhat = ((double)in[j] - mean) * invstd;
            lane_dy[l] += gv;
            lane_dy_xhat[l] += gv * xhat;
        }
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int l = 0; l < LANES; l++) sum_dy += lane_dy[l], sum_dy_xhat += lane_dy_xhat[l];
        dgamma[c] = (float)sum_dy_xhat;
        dbeta[c] = (float)sum_dy;
        if (!dx) continue;
        const float k = gamma[c] * invstd / cols;
        const float mean_dy = (float)sum_dy, mean_dy_xhat = (float)sum_dy_xhat;
        float *out = dx + (size_t)c * cols;
        for (int j = 0; j < cols; j++) {
            const float xhat = (in[j] - mean) * invstd;
            const float grad = k * ((float)cols * g[j] - mean_dy - xhat * mean_dy_xhat);
            out[j] = accumulate ? out[j] + grad : grad;
        }
    }
}

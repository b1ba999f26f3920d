/* Batch normalisation per channel over batch x pixels (contiguous in CNHW).
 * Statistics are accumulated in double: a channel can span 100k+ values. */
#include <math.h>
#include <stdlib.h>

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

int batchnorm_forward_train_summed(int channels, int cols, const float *x, const float *gamma, const float *beta,
                                   float *running_mean, float *running_var, float momentum, float eps, bn_saved saved,
                                   float *y, bn_sum_fn sum, void *ctx)
{
    double *sums = malloc(sizeof(double) * ((size_t)channels + 1));
    if (!sums) return -1;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < channels; c++) sums[c] = lane_sum(x + (size_t)c * cols, cols, 0.0, 0);
    sums[channels] = cols;
    int rc = sum(ctx, sums, (size_t)channels + 1);
    const double total = sums[channels];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < channels; c++) {
        const double mean = sums[c] / total;
        saved.mean[c] = (float)mean;
        sums[c] = lane_sum(x + (size_t)c * cols, cols, mean, 1);
    }
    rc |= sum(ctx, sums, (size_t)channels);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < channels; c++) {
        const double mean = saved.mean[c], var = sums[c] / total;
        const float invstd = (float)(1.0 / sqrt(var + eps));
        const float scale = gamma[c] * invstd, shift = beta[c] - (float)mean * scale;
        const float *in = x + (size_t)c * cols;
        float *out = y + (size_t)c * cols;
        for (int j = 0; j < cols; j++) out[j] = in[j] * scale + shift;
        saved.invstd[c] = invstd;
        const double unbiased = total > 1 ? sums[c] / (total - 1) : var;
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * (float)mean;
        running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (float)unbiased;
    }
    free(sums);
    return rc;
}

int batchnorm_backward_summed(int channels, int cols, const float *x, const float *gamma, bn_saved saved,
                              const float *dy, float *dgamma, float *dbeta, float *dx, int accumulate, bn_sum_fn sum,
                              void *ctx)
{
    double *sums = malloc(sizeof(double) * (2 * (size_t)channels + 1));
    if (!sums) return -1;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < channels; c++) {
        const float *in = x + (size_t)c * cols, *g = dy + (size_t)c * cols;
        const double mean = saved.mean[c], invstd = saved.invstd[c];
        double s_dy = 0.0, s_dy_xhat = 0.0;
        for (int j = 0; j < cols; j++) {
            s_dy += g[j];
            s_dy_xhat += g[j] * (((double)in[j] - mean) * invstd);
        }
        dbeta[c] = (float)s_dy;
        dgamma[c] = (float)s_dy_xhat;
        sums[2 * c] = s_dy;
        sums[2 * c + 1] = s_dy_xhat;
    }
    sums[2 * channels] = cols;
    int rc = sum(ctx, sums, 2 * (size_t)channels + 1);
    const float total = (float)sums[2 * channels];
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int c = 0; c < channels; c++) {
            const float *in = x + (size_t)c * cols, *g = dy + (size_t)c * cols;
            const float mean = saved.mean[c], invstd = saved.invstd[c], k = gamma[c] * invstd / total;
            const float sum_dy = (float)sums[2 * c], sum_dy_xhat = (float)sums[2 * c + 1];
            float *out = dx + (size_t)c * cols;
            for (int j = 0; j < cols; j++) {
                const float xhat = (in[j] - mean) * invstd;
                const float grad = k * (total * g[j] - sum_dy - xhat * sum_dy_xhat);
                out[j] = accumulate ? out[j] + grad : grad;
            }
        }
    }
    free(sums);
    return rc;
}

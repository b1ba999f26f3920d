/* Softmax cross-entropy with PyTorch's label smoothing:
 * target = (1 - eps) * onehot + eps / classes, loss averaged over the batch. */
#include <math.h>

#include "layers/layers.h"

float cross_entropy(int classes, int n, const float *logits, const int *labels, float smoothing,
                    float *dlogits, int grad_batch, int *correct)
{
    /* Per-sample terms summed serially afterwards: an OpenMP reduction would
     * combine partial sums in whatever order threads finish. */
    double sample_loss[n];
    int sample_hit[n];
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        float max = logits[s];
        int best = 0;
        for (int c = 1; c < classes; c++) {
            const float v = logits[(size_t)c * n + s];
            if (v > max) max = v, best = c;
        }
        double sum = 0.0, sum_logit = 0.0;
        for (int c = 0; c < classes; c++) {
            const float v = logits[(size_t)c * n + s];
            sum += exp((double)(v - max));
            sum_logit += v;
        }
        const double log_z = max + log(sum);
        const double nll = log_z - logits[(size_t)labels[s] * n + s];
        const double smooth = log_z - sum_logit / classes;
        sample_loss[s] = (1.0 - smoothing) * nll + smoothing * smooth;
        sample_hit[s] = best == labels[s];
        if (dlogits) {
            for (int c = 0; c < classes; c++) {
                const double p = exp(logits[(size_t)c * n + s] - log_z);
                const double target = (c == labels[s] ? 1.0 - smoothing : 0.0) + smoothing / classes;
                dlogits[(size_t)c * n + s] = (float)((p - target) / grad_batch);
            }
        }
    }
    double total = 0.0;
    int hits = 0;
    for (int s = 0; s < n; s++) total += sample_loss[s], hits += sample_hit[s];
    if (correct) *correct = hits;
    return (float)(total / n);
}

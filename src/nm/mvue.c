/* Unbiased (minimum-variance) 1:2 pruning of gradients, the rule behind
 * --grad-nm: see nmt_mvue_prune in nmtrain/nm.h. */
#include <math.h>

#include "nmtrain/core.h"
#include "nmtrain/nm.h"

void nmt_mvue_prune(const float *in, int rows, int cols, uint64_t key, float *out)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * cols;
        float *y = out + (size_t)r * cols;
        const uint64_t row = (uint64_t)r * (uint64_t)cols;
        int j = 0;
        for (; j + 1 < cols; j += 2) {
            const float a = fabsf(x[j]), b = fabsf(x[j + 1]), sum = a + b;
            const float u = nmt_rng_counter_uniform(key, row + (uint64_t)j);
            const int keep_a = u * sum < a;
            y[j] = keep_a ? copysignf(sum, x[j]) : 0.0f;
            y[j + 1] = keep_a || sum == 0.0f ? 0.0f : copysignf(sum, x[j + 1]);
        }
        if (j < cols) y[j] = x[j];
    }
}

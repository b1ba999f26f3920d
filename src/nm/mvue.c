/* Unbiased (minimum-variance) 1:2 pruning of gradients, the rule behind
 * --grad-nm: see nmt_mvue_prune in nmtrain/nm.h. Both forms draw through
 * mvue_pair, so the dense and the packed result agree value for value. */
#include <math.h>

#include "nmtrain/core.h"
#include "nmtrain/nm.h"

/* The pair (a, b) at counter `at`: which entry survives (0 or 1) and its
 * value sign(x) (|a| + |b|); a pair of zeros keeps a's 0. */
static inline int mvue_pair(float a, float b, uint64_t key, uint64_t at, float *value)
{
    const float sum = fabsf(a) + fabsf(b);
    const int keep_a = nmt_rng_counter_uniform(key, at) * sum < fabsf(a) || sum == 0.0f;
    *value = sum == 0.0f ? 0.0f : copysignf(sum, keep_a ? a : b);
    return !keep_a;
}

void nmt_mvue_prune(const float *in, int rows, int cols, uint64_t key, float *out)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * cols;
        float *y = out + (size_t)r * cols;
        const uint64_t row = (uint64_t)r * (uint64_t)cols;
        int j = 0;
        for (; j + 1 < cols; j += 2) {
            float value;
            const int kept = mvue_pair(x[j], x[j + 1], key, row + (uint64_t)j, &value);
            y[j] = kept ? 0.0f : value;
            y[j + 1] = kept ? value : 0.0f;
        }
        if (j < cols) y[j] = x[j];
    }
}

void nmt_mvue_prune_packed(const float *in, int rows, int cols, int col0, int count, uint64_t key,
                           nmt_packed *out)
{
    const int groups = (count + 1) / 2;
    out->rows = rows;
    out->k = 2 * groups;
    out->nm = (nmt_nm){1, 2};
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * cols + col0;
        float *values = out->values + (size_t)r * groups;
        uint8_t *index = out->index + (size_t)r * groups;
        const uint64_t at = (uint64_t)r * (uint64_t)cols + (uint64_t)col0;
        int g = 0;
        for (; 2 * g + 1 < count; g++)
            index[g] = (uint8_t)mvue_pair(x[2 * g], x[2 * g + 1], key, at + 2 * (uint64_t)g, &values[g]);
        if (g < groups) values[g] = x[2 * g], index[g] = 0; /* the row's odd last entry, as it is */
    }
}

/* Dropout (torch.nn.Dropout(p) in training) with counter-based masks: an
 * element's keep/drop is a pure function of its key and counter
 * (nmt_rng_counter_uniform, the draws --grad-nm uses), so the forward and
 * the backward draw it alike and no mask is stored, and any thread count,
 * any split of the batch over ranks and a resumed run draw the same. */
#include "layers/layers.h"
#include "nmtrain/core.h"

/* The draw counts (sample, channel, position) over the global batch, so it
 * depends neither on the batch's size nor on where a rank's share starts. */
static inline uint64_t dropout_counter(const dropout_draws *d, int n, int c, int t)
{
    return ((uint64_t)(d->first_sample + n) * (uint64_t)d->channels + (uint64_t)c) * (uint64_t)d->plane + (uint64_t)t;
}

float dropout_scale(float p) { return 1.0f / (1.0f - p); }

/* The rule: the element at `counter` is kept when its draw is at least p. */
static inline int keeps(uint64_t key, uint64_t counter, float p) { return nmt_rng_counter_uniform(key, counter) >= p; }

int dropout_keeps(const dropout_draws *d, int n, int c, int t) { return keeps(d->key, dropout_counter(d, n, c, t), d->p); }

/* One run of `count` elements whose counters start at `first`. Cloned per
 * ISA: the 64-bit multiplies of the hash vectorise with AVX-512 (3.6x the
 * x86-64-v2 loop on Sapphire Rapids); every clone draws the same bits. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) static void
dropout_run(float *x, int count, uint64_t key, uint64_t first, float p, float scale)
{
    for (int t = 0; t < count; t++) x[t] *= keeps(key, first + (uint64_t)t, p) ? scale : 0.0f;
}

/* x *= kept ? scale : 0, as PyTorch multiplies by its scaled mask (a
 * dropped NaN stays NaN). */
void dropout_apply(const dropout_draws *d, int batch, float *x)
{
    const float scale = dropout_scale(d->p);
    const int channels = d->channels, plane = d->plane;
#pragma omp parallel for collapse(2) schedule(static)
    for (int c = 0; c < channels; c++)
        for (int n = 0; n < batch; n++)
            dropout_run(x + ((int64_t)c * batch + n) * plane, plane, d->key, dropout_counter(d, n, c, 0), d->p, scale);
}

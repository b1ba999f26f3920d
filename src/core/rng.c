/* PCG32 (O'Neill), with Box-Muller normals; counter-based draws keyed by
 * (seed, step, layer). */
#include <math.h>

#include "nmtrain/core.h"

void nmt_rng_seed(nmt_rng *rng, uint64_t seed, uint64_t stream)
{
    rng->state = 0;
    rng->inc = (stream << 1u) | 1u;
    nmt_rng_u32(rng);
    rng->state += seed;
    nmt_rng_u32(rng);
}

uint32_t nmt_rng_u32(nmt_rng *rng)
{
    uint64_t old = rng->state;
    rng->state = old * 6364136223846793005ULL + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

uint32_t nmt_rng_below(nmt_rng *rng, uint32_t bound)
{
    /* Lemire-free rejection: unbiased and simple. */
    uint32_t threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        uint32_t r = nmt_rng_u32(rng);
        if (r >= threshold) return r % bound;
    }
}

float nmt_rng_uniform(nmt_rng *rng)
{
    return (float)(nmt_rng_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

float nmt_rng_normal(nmt_rng *rng)
{
    float u1 = nmt_rng_uniform(rng), u2 = nmt_rng_uniform(rng);
    if (u1 < 1e-12f) u1 = 1e-12f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

uint64_t nmt_rng_counter_key(uint64_t seed, uint64_t step, uint64_t layer)
{
    const uint64_t golden = 0x9E3779B97F4A7C15ULL;
    uint64_t key = nmt_rng_mix64(seed + golden);
    key = nmt_rng_mix64(key ^ (step + golden));
    return nmt_rng_mix64(key ^ (layer + golden));
}

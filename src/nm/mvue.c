/* Unbiased (minimum-variance) 1:2 pruning of gradients, the rule behind
 * --grad-nm: see nmt_mvue_prune in nmtrain/nm.h. Both forms draw through
 * mvue_pair, so the dense and the packed result agree value for value. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "nmtrain/core.h"
#include "nmtrain/kernels.h"
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

/* ---- the packed form, per ISA ------------------------------------------
 * One row's `pairs` pairs from x, the first pair's counter `at`: values and
 * indices of the kept entries. The vector forms compute mvue_pair's integer
 * hash exactly and the same float operations lane by lane, so every path
 * packs the same bits; they differ from the scalar loop only in speed
 * (6.8 ns a pair scalar on Sapphire Rapids, the largest cost of a ResNet50
 * step's --grad-nm before they existed). */
typedef void (*prune_row_fn)(const float *x, int pairs, uint64_t key, uint64_t at, float *values, uint8_t *index);

static void prune_row_portable(const float *x, int pairs, uint64_t key, uint64_t at, float *values, uint8_t *index)
{
    for (int g = 0; g < pairs; g++)
        index[g] = (uint8_t)mvue_pair(x[2 * g], x[2 * g + 1], key, at + 2 * (uint64_t)g, &values[g]);
}

#define GOLDEN 0x9E3779B97F4A7C15ULL
#define MIX1 0xBF58476D1CE4E5B9ULL
#define MIX2 0x94D049BB133111EBULL

/* Index bytes of 8 pairs from the mask of those keeping a (bit g: pair g). */
__attribute__((target("bmi2"))) static inline void store_index8(unsigned keep_a, uint8_t *index)
{
    const uint64_t bytes = _pdep_u64(~keep_a & 0xffu, 0x0101010101010101ULL);
    memcpy(index, &bytes, 8);
}

#define AVX2 __attribute__((target("avx2,fma,bmi2")))
#define INLINE_AVX2 static inline __attribute__((always_inline, target("avx2,fma,bmi2")))

/* z * c for 4 unsigned 64-bit lanes (AVX2 has no 64-bit multiply). */
INLINE_AVX2 __m256i mul64_avx2(__m256i z, uint64_t c)
{
    const __m256i c_lo = _mm256_set1_epi64x((long long)(c & 0xffffffffu)), c_hi = _mm256_set1_epi64x((long long)(c >> 32));
    const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(z, 32), c_lo), _mm256_mul_epu32(z, c_hi));
    return _mm256_add_epi64(_mm256_mul_epu32(z, c_lo), _mm256_slli_epi64(cross, 32));
}

/* The 24-bit draws (mix64(key ^ (counter + golden)) >> 40) of 4 counters. */
INLINE_AVX2 __m256i draws_avx2(__m256i counters, __m256i key)
{
    __m256i z = _mm256_xor_si256(key, _mm256_add_epi64(counters, _mm256_set1_epi64x((long long)GOLDEN)));
    z = mul64_avx2(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), MIX1);
    z = mul64_avx2(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), MIX2);
    return _mm256_srli_epi64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 31)), 40);
}

AVX2 static void prune_row_avx2(const float *x, int pairs, uint64_t key, uint64_t at, float *values, uint8_t *index)
{
    const __m256i keys = _mm256_set1_epi64x((long long)key), low_lanes = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
    int g = 0;
    for (; g + 8 <= pairs; g += 8) {
        const __m256 v0 = _mm256_loadu_ps(x + 2 * g), v1 = _mm256_loadu_ps(x + 2 * g + 8);
        const __m256 a = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v0, v1, 0x88)), 0xd8));
        const __m256 b = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v0, v1, 0xdd)), 0xd8));
        const uint64_t first = at + 2 * (uint64_t)g;
        const __m256i c0 = _mm256_add_epi64(_mm256_set1_epi64x((long long)first), _mm256_setr_epi64x(0, 2, 4, 6));
        const __m256i c1 = _mm256_add_epi64(c0, _mm256_set1_epi64x(8));
        const __m256i d0 = _mm256_permutevar8x32_epi32(draws_avx2(c0, keys), low_lanes);
        const __m256i d1 = _mm256_permutevar8x32_epi32(draws_avx2(c1, keys), low_lanes);
        const __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_permute2x128_si256(d0, d1, 0x20)),
                                       _mm256_set1_ps(1.0f / 16777216.0f));
        const __m256 abs_a = _mm256_andnot_ps(sign, a), abs_b = _mm256_andnot_ps(sign, b);
        const __m256 sum = _mm256_add_ps(abs_a, abs_b), is_zero = _mm256_cmp_ps(sum, zero, _CMP_EQ_OQ);
        const __m256 keep_a = _mm256_or_ps(_mm256_cmp_ps(_mm256_mul_ps(u, sum), abs_a, _CMP_LT_OQ), is_zero);
        const __m256 kept_sign = _mm256_and_ps(_mm256_blendv_ps(b, a, keep_a), sign);
        _mm256_storeu_ps(values + g, _mm256_andnot_ps(is_zero, _mm256_or_ps(sum, kept_sign)));
        store_index8((unsigned)_mm256_movemask_ps(keep_a), index + g);
    }
    prune_row_portable(x + 2 * g, pairs - g, key, at + 2 * (uint64_t)g, values + g, index + g);
}

#define AVX512 __attribute__((target("avx512f,avx512dq,bmi2")))

AVX512 static void prune_row_avx512(const float *x, int pairs, uint64_t key, uint64_t at, float *values,
                                    uint8_t *index)
{
    const __m512i keys = _mm512_set1_epi64((long long)key), golden = _mm512_set1_epi64((long long)GOLDEN);
    const __m512i mix1 = _mm512_set1_epi64((long long)MIX1), mix2 = _mm512_set1_epi64((long long)MIX2);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1)), steps = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512 scale = _mm512_set1_ps(1.0f / 16777216.0f);
    int g = 0;
    for (; g + 16 <= pairs; g += 16) {
        const __m512 v0 = _mm512_loadu_ps(x + 2 * g), v1 = _mm512_loadu_ps(x + 2 * g + 16);
        const __m512 a = _mm512_permutex2var_ps(v0, even, v1), b = _mm512_permutex2var_ps(v0, odd, v1);
        __m512i z[2];
        for (int h = 0; h < 2; h++) {
            const __m512i counters = _mm512_add_epi64(_mm512_set1_epi64((long long)(at + 2 * (uint64_t)(g + 8 * h))), steps);
            __m512i y = _mm512_xor_si512(keys, _mm512_add_epi64(counters, golden));
            y = _mm512_mullo_epi64(_mm512_xor_si512(y, _mm512_srli_epi64(y, 30)), mix1);
            y = _mm512_mullo_epi64(_mm512_xor_si512(y, _mm512_srli_epi64(y, 27)), mix2);
            z[h] = _mm512_srli_epi64(_mm512_xor_si512(y, _mm512_srli_epi64(y, 31)), 40);
        }
        const __m512 u = _mm512_mul_ps(_mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtepi64_ps(z[0])),
                                                          _mm512_cvtepi64_ps(z[1]), 1), scale);
        const __m512 abs_a = _mm512_abs_ps(a), sum = _mm512_add_ps(abs_a, _mm512_abs_ps(b));
        const __mmask16 is_zero = _mm512_cmp_ps_mask(sum, _mm512_setzero_ps(), _CMP_EQ_OQ);
        const __mmask16 keep_a = _mm512_cmp_ps_mask(_mm512_mul_ps(u, sum), abs_a, _CMP_LT_OQ) | is_zero;
        const __m512i kept_sign = _mm512_and_si512(_mm512_castps_si512(_mm512_mask_blend_ps(keep_a, b, a)),
                                                   _mm512_set1_epi32((int)0x80000000u));
        const __m512 value = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(sum), kept_sign));
        _mm512_storeu_ps(values + g, _mm512_maskz_mov_ps((__mmask16)~is_zero, value));
        store_index8(keep_a & 0xffu, index + g);
        store_index8(keep_a >> 8, index + g + 8);
    }
    prune_row_avx2(x + 2 * g, pairs - g, key, at + 2 * (uint64_t)g, values + g, index + g);
}

/* The widest form the N:M GEMM's path allows (NMTRAIN_NM_PATH caps both). */
static prune_row_fn choose_prune_row(void)
{
    const char *path = nmt_gemm_nm_path();
    __builtin_cpu_init();
    if (!strcmp(path, "avx512") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("bmi2"))
        return prune_row_avx512;
    if (strcmp(path, "portable") && __builtin_cpu_supports("bmi2")) return prune_row_avx2;
    return prune_row_portable;
}

void nmt_mvue_prune_packed(const float *in, int rows, int cols, int col0, int count, nmt_mvue_draws draws,
                           nmt_packed *out)
{
    const int groups = (count + 1) / 2;
    const prune_row_fn prune_row = choose_prune_row();
    out->rows = rows;
    out->k = 2 * groups;
    out->nm = (nmt_nm){1, 2};
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * cols + col0;
        float *values = out->values + (size_t)r * groups;
        uint8_t *index = out->index + (size_t)r * groups;
        prune_row(x, count / 2, draws.key, (uint64_t)(r * draws.row_length + draws.first_column + col0), values,
                  index);
        if (count % 2) values[groups - 1] = x[count - 1], index[groups - 1] = 0; /* the row's odd last entry, as it is */
    }
}

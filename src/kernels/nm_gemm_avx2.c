/* AVX2 + FMA block kernel of the N:M GEMM. Compiled for avx2,fma by
 * attribute (the build targets x86-64-v2); the driver only calls it after
 * __builtin_cpu_supports says the CPU has both.
 *
 * Register tile: one row of C by 96 columns = 12 ymm accumulators. Rows of
 * the packed operand do not share B rows (each row keeps different
 * positions), so a wider single-row tile beats the dense-GEMM habit of
 * several rows: per kept value it costs one broadcast, one index byte and 12
 * FMAs with a memory operand, which is as close to one load per FMA as
 * sparse A allows. */
#include <immintrin.h>
#include <stdint.h>

#include "nm_gemm_internal.h"

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE_AVX2 static inline __attribute__((always_inline, target("avx2,fma")))

/* `vectors` is a compile-time constant at every call site, so the
 * accumulator array lives in registers. `masked` handles a ragged last
 * panel: lanes at or beyond `width` are neither loaded nor stored. */
INLINE_AVX2 void row_tile(const float *values, const uint8_t *index, int groups, int n,
                          ptrdiff_t group_step, const float *b, ptrdiff_t ldb, float *c,
                          int read_c, float c_scale, const int vectors, const int masked, int width)
{
    __m256 acc[12];
    __m256i lanes[12];
    if (masked) {
        const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma GCC unroll 12
        for (int v = 0; v < vectors; v++)
            lanes[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(width - 8 * v), iota);
    }
    const __m256 scale = _mm256_set1_ps(c_scale);
#pragma GCC unroll 12
    for (int v = 0; v < vectors; v++) {
        if (!read_c) acc[v] = _mm256_setzero_ps();
        else if (masked) acc[v] = _mm256_mul_ps(scale, _mm256_maskload_ps(c + 8 * v, lanes[v]));
        else acc[v] = _mm256_mul_ps(scale, _mm256_loadu_ps(c + 8 * v));
    }
    for (int g = 0; g < groups; g++, b += group_step, values += n, index += n) {
        for (int s = 0; s < n; s++) {
            const __m256 weight = _mm256_broadcast_ss(values + s);
            const float *row = b + index[s] * ldb;
#pragma GCC unroll 12
            for (int v = 0; v < vectors; v++) {
                __m256 x = masked ? _mm256_maskload_ps(row + 8 * v, lanes[v]) : _mm256_loadu_ps(row + 8 * v);
                acc[v] = _mm256_fmadd_ps(weight, x, acc[v]);
            }
        }
    }
#pragma GCC unroll 12
    for (int v = 0; v < vectors; v++) {
        if (masked) _mm256_maskstore_ps(c + 8 * v, lanes[v], acc[v]);
        else _mm256_storeu_ps(c + 8 * v, acc[v]);
    }
}

AVX2 void nm_block_avx2(const nm_block *blk)
{
    const nmt_packed *a = blk->a;
    const int n = a->nm.n, total_groups = a->k / a->nm.m;
    const ptrdiff_t group_step = (ptrdiff_t)a->nm.m * blk->ldb;
    for (int r = blk->row_begin; r < blk->row_end; r++) {
        size_t first = ((size_t)r * total_groups + blk->first_group) * n;
        const float *values = a->values + first;
        const uint8_t *index = a->index + first;
        float *c = blk->c + (ptrdiff_t)r * blk->ldc;
        if (blk->width == NMT_NM_PANEL_COLS)
            row_tile(values, index, blk->groups, n, group_step, blk->b, blk->ldb, c, blk->read_c,
                     blk->c_scale, 12, 0, NMT_NM_PANEL_COLS);
        else if (blk->width <= 32)
            row_tile(values, index, blk->groups, n, group_step, blk->b, blk->ldb, c, blk->read_c,
                     blk->c_scale, 4, 1, blk->width);
        else if (blk->width <= 64)
            row_tile(values, index, blk->groups, n, group_step, blk->b, blk->ldb, c, blk->read_c,
                     blk->c_scale, 8, 1, blk->width);
        else
            row_tile(values, index, blk->groups, n, group_step, blk->b, blk->ldb, c, blk->read_c,
                     blk->c_scale, 12, 1, blk->width);
    }
}

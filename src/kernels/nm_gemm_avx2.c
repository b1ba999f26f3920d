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
 * panel: lanes at or beyond `width` are neither loaded nor stored.
 * `fixed_n` (0: use n) and `panel_ld` (B rows NMT_NM_PANEL_COLS apart, so
 * the row offset is a shift, not a multiply) specialise the common cases:
 * a constant trip count lets the kept-value loop unroll, which measured
 * 8-15% faster in the L1-resident case. */
INLINE_AVX2 void row_tile(const float *values, const uint8_t *index, int groups, int n, int m,
                          const float *b, ptrdiff_t ldb, float *c, int read_c, float c_scale,
                          const int vectors, const int masked, int width, const int fixed_n,
                          const int panel_ld)
{
    if (fixed_n) n = fixed_n;
    if (panel_ld) ldb = NMT_NM_PANEL_COLS;
    const ptrdiff_t group_step = (ptrdiff_t)m * ldb;
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
#pragma GCC unroll 4
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

/* Full-width tile, specialised on N and on the panel layout. */
INLINE_AVX2 void full_tile(const float *values, const uint8_t *index, int groups, int n, int m,
                           const float *b, ptrdiff_t ldb, float *c, int read_c, float c_scale,
                           const int panel_ld)
{
    const int w = NMT_NM_PANEL_COLS;
    switch (n) {
    case 1: row_tile(values, index, groups, n, m, b, ldb, c, read_c, c_scale, 12, 0, w, 1, panel_ld); break;
    case 2: row_tile(values, index, groups, n, m, b, ldb, c, read_c, c_scale, 12, 0, w, 2, panel_ld); break;
    case 4: row_tile(values, index, groups, n, m, b, ldb, c, read_c, c_scale, 12, 0, w, 4, panel_ld); break;
    default: row_tile(values, index, groups, n, m, b, ldb, c, read_c, c_scale, 12, 0, w, 0, panel_ld); break;
    }
}

AVX2 void nm_block_avx2(const nm_block *blk)
{
    const nmt_packed *a = blk->a;
    const int n = a->nm.n, m = a->nm.m, total_groups = a->k / m;
    const int panel_ld = blk->ldb == NMT_NM_PANEL_COLS;
    /* Spread the prefetch of the next B chunk (into L2) over this block's
     * rows: the chunk is read at random rows, which the hardware
     * prefetchers do not follow, and its first touches would otherwise wait
     * for DRAM. */
    const int lines_per_b_row = NMT_NM_PANEL_COLS / 16, rows = blk->row_end - blk->row_begin;
    const int next_lines = blk->next_b ? blk->next_rows * lines_per_b_row : 0;
    const int lines_per_row = (next_lines + rows - 1) / rows;
    int next_line = 0;
    for (int r = blk->row_begin; r < blk->row_end; r++) {
        for (int i = 0; i < lines_per_row && next_line < next_lines; i++, next_line++)
            _mm_prefetch((const char *)(blk->next_b + next_line / lines_per_b_row * blk->ldb +
                                        next_line % lines_per_b_row * 16),
                         _MM_HINT_T1);
        size_t first = ((size_t)r * total_groups + blk->first_group) * n;
        const float *values = a->values + first;
        const uint8_t *index = a->index + first;
        float *c = blk->c + (ptrdiff_t)r * blk->ldc;
        /* The next row's C tile comes from L2; ask for it one row ahead. */
        if (r + 1 < blk->row_end)
            for (int line = 0; line < NMT_NM_PANEL_COLS; line += 16) _mm_prefetch((const char *)(c + blk->ldc + line), _MM_HINT_T0);
        if (blk->width == NMT_NM_PANEL_COLS && panel_ld)
            full_tile(values, index, blk->groups, n, m, blk->b, blk->ldb, c, blk->read_c, blk->c_scale, 1);
        else if (blk->width == NMT_NM_PANEL_COLS)
            full_tile(values, index, blk->groups, n, m, blk->b, blk->ldb, c, blk->read_c, blk->c_scale, 0);
        else if (blk->width <= 32)
            row_tile(values, index, blk->groups, n, m, blk->b, blk->ldb, c, blk->read_c, blk->c_scale, 4, 1,
                     blk->width, 0, 0);
        else if (blk->width <= 64)
            row_tile(values, index, blk->groups, n, m, blk->b, blk->ldb, c, blk->read_c, blk->c_scale, 8, 1,
                     blk->width, 0, 0);
        else
            row_tile(values, index, blk->groups, n, m, blk->b, blk->ldb, c, blk->read_c, blk->c_scale, 12, 1,
                     blk->width, 0, 0);
    }
}

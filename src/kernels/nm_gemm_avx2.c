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

/* acc[0..vectors) += weight * row[0..vectors*8), lanes masked if asked. */
#define ACCUMULATE_ROW(weight_ptr, row)                                                              \
    do {                                                                                           \
        const __m256 weight_ = _mm256_broadcast_ss(weight_ptr);                                    \
        const float *row_ = (row);                                                                 \
        __asm__("" : "+r"(row_)); /* base-only address: indexed FMAs cost 2 uops */            \
        _Pragma("GCC unroll 12") for (int v = 0; v < vectors; v++) {                               \
            __m256 x_ = masked ? _mm256_maskload_ps(row_ + 8 * v, lanes[v]) : _mm256_loadu_ps(row_ + 8 * v); \
            acc[v] = _mm256_fmadd_ps(weight_, x_, acc[v]);                                         \
        }                                                                                          \
    } while (0)

/* One row of C by one panel over `groups` N:M groups.
 * `vectors` is a compile-time constant at every call site, so the
 * accumulator array lives in registers. `masked` handles a ragged last
 * panel: lanes at or beyond `width` are neither loaded nor stored.
 * `fixed_n` (0: use n) and `panel_ld` (B rows NMT_NM_PANEL_COLS apart, so
 * the row offset is a shift, not a multiply) specialise the common cases;
 * with a constant N the group loop is also unrolled by four, addressing the
 * kept values through one counter. */
INLINE_AVX2 void row_tile(const float *values, const uint8_t *index, int groups, int n, int m,
                          const float *b, ptrdiff_t ldb, float *c, int read_c, float c_scale,
                          const int vectors, const int masked, int width, const int fixed_n,
                          const int panel_ld, const int stream_c)
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
    ptrdiff_t j = 0; /* kept values consumed */
    int g = 0;
    if (fixed_n) {
        for (; g + 4 <= groups; g += 4, b += 4 * group_step, j += 4 * n) {
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++)
#pragma GCC unroll 4
                for (int s = 0; s < n; s++)
                    ACCUMULATE_ROW(values + j + u * n + s, b + u * group_step + index[j + u * n + s] * ldb);
        }
    }
    for (; g < groups; g++, b += group_step, j += n)
#pragma GCC unroll 4
        for (int s = 0; s < n; s++) ACCUMULATE_ROW(values + j + s, b + index[j + s] * ldb);
#pragma GCC unroll 12
    for (int v = 0; v < vectors; v++) {
        if (masked) _mm256_maskstore_ps(c + 8 * v, lanes[v], acc[v]);
        else if (stream_c) _mm256_stream_ps(c + 8 * v, acc[v]);
        else _mm256_storeu_ps(c + 8 * v, acc[v]);
    }
}

/* All rows of one block with one tile shape, so the shape is chosen once
 * per block and the row loop is compiled for it. */
INLINE_AVX2 void tile_rows(const nm_block *blk, const int vectors, const int masked, const int fixed_n,
                            const int panel_ld)
{
    const nmt_packed *a = blk->a;
    const int n = fixed_n ? fixed_n : a->nm.n, m = a->nm.m, total_groups = a->k / m;
    const ptrdiff_t ldc = blk->ldc, row_entries = (ptrdiff_t)total_groups * n;
    nm_chunk_prefetch next_chunk = nm_chunk_prefetch_start(blk, blk->row_end - blk->row_begin);
    const size_t first = (size_t)blk->row_begin * row_entries + (size_t)blk->first_group * n;
    const float *values = a->values + first;
    const uint8_t *index = a->index + first;
    float *c = blk->c;
    for (int r = blk->row_begin; r < blk->row_end; r++, values += row_entries, index += row_entries, c += ldc) {
        nm_chunk_prefetch_step(&next_chunk);
        /* The next row's C tile comes from L2; ask for it one row ahead
         * (past the last row this touches nothing: prefetches never fault).
         * Not when streaming: a line in cache would have to be evicted. */
        if (!blk->stream_c)
#pragma GCC unroll 6
            for (int line = 0; line < NMT_NM_PANEL_COLS; line += 16)
                _mm_prefetch((const char *)(c + ldc + line), _MM_HINT_T0);
        row_tile(values, index, blk->groups, n, m, blk->b, blk->ldb, c, blk->read_c, blk->c_scale,
                 vectors, masked, blk->width, fixed_n, panel_ld, blk->stream_c);
    }
    if (blk->stream_c) _mm_sfence(); /* before the team's barrier publishes C */
}

AVX2 void nm_block_avx2(const nm_block *blk)
{
    const int n = blk->a->nm.n;
    if (blk->width == NMT_NM_PANEL_COLS && blk->ldb == NMT_NM_PANEL_COLS) {
        switch (n) {
        case 1: tile_rows(blk, 12, 0, 1, 1); break;
        case 2: tile_rows(blk, 12, 0, 2, 1); break;
        case 4: tile_rows(blk, 12, 0, 4, 1); break;
        default: tile_rows(blk, 12, 0, 0, 1); break;
        }
    } else if (blk->width == NMT_NM_PANEL_COLS) {
        switch (n) {
        case 1: tile_rows(blk, 12, 0, 1, 0); break;
        case 2: tile_rows(blk, 12, 0, 2, 0); break;
        default: tile_rows(blk, 12, 0, 0, 0); break;
        }
    } else if (n == 1 && blk->ldb == NMT_NM_PANEL_COLS) {
        /* Narrow panel layouts at 1:N (--grad-nm's weight gradient of a
         * layer with K < 96, the last panel of others): fixed shapes. */
        if (blk->width <= 32) tile_rows(blk, 4, 1, 1, 1);
        else if (blk->width <= 64) tile_rows(blk, 8, 1, 1, 1);
        else tile_rows(blk, 12, 1, 1, 1);
    } else if (blk->width <= 32) {
        tile_rows(blk, 4, 1, 0, 0);
    } else if (blk->width <= 64) {
        tile_rows(blk, 8, 1, 0, 0);
    } else {
        tile_rows(blk, 12, 1, 0, 0);
    }
}

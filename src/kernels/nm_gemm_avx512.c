/* AVX-512 block kernel of the N:M GEMM. Compiled for avx512f by attribute
 * (the build targets x86-64-v2); the driver only calls it after
 * __builtin_cpu_supports says the CPU has it.
 *
 * A 96-column panel is six zmm vectors, too few accumulators to cover the
 * FMA latency (two FMA ports x 4 cycles want eight chains). The tile is
 * therefore two rows of C by the panel: twelve independent accumulators,
 * each row with its own kept values and B rows, so every C entry still sums
 * its products in kept-value order, like the other paths. Per kept value:
 * one broadcast, one index byte and six FMAs with a memory operand. */
#include <immintrin.h>
#include <stdint.h>

#include "nm_gemm_internal.h"

#define AVX512 __attribute__((target("avx512f,fma")))
#define INLINE_AVX512 static inline __attribute__((always_inline, target("avx512f,fma")))

#define VECTORS (NMT_NM_PANEL_COLS / 16)

/* acc[0..vectors) += weight * row[0..vectors*16), the last vector under `tail`. */
#define ACCUMULATE_ROW(acc, weight_ptr, row)                                                        \
    do {                                                                                           \
        const __m512 weight_ = _mm512_set1_ps(*(weight_ptr));                                      \
        const float *row_ = (row);                                                                 \
        __asm__("" : "+r"(row_)); /* base-only address: indexed FMAs cost 2 uops */            \
        _Pragma("GCC unroll 6") for (int v = 0; v < vectors; v++) {                                \
            __m512 x_ = masked && v == vectors - 1 ? _mm512_maskz_loadu_ps(tail, row_ + 16 * v)     \
                                                   : _mm512_loadu_ps(row_ + 16 * v);               \
            acc[v] = _mm512_fmadd_ps(weight_, x_, acc[v]);                                         \
        }                                                                                          \
    } while (0)

/* `rows` (1 or 2) rows of C by one panel over `groups` N:M groups. Row t
 * reads values + t*row_entries and index + t*row_entries. `vectors`,
 * `masked`, `fixed_n` and `panel_ld` are compile-time constants at every call
 * site, as in the AVX2 kernel. */
INLINE_AVX512 void rows_tile(const float *values, const uint8_t *index, ptrdiff_t row_entries, int groups, int n,
                             int m, const float *b, ptrdiff_t ldb, float *c, ptrdiff_t ldc, int read_c,
                             float c_scale, const int rows, const int vectors, const int masked, __mmask16 tail,
                             const int fixed_n, const int panel_ld, const int stream_c)
{
    if (fixed_n) n = fixed_n;
    if (panel_ld) ldb = NMT_NM_PANEL_COLS;
    const ptrdiff_t group_step = (ptrdiff_t)m * ldb;
    __m512 acc0[VECTORS], acc1[VECTORS];
    const __m512 scale = _mm512_set1_ps(c_scale);
#pragma GCC unroll 6
    for (int v = 0; v < vectors; v++) {
        const __mmask16 lanes = masked && v == vectors - 1 ? tail : (__mmask16)0xffff;
        acc0[v] = read_c ? _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(lanes, c + 16 * v)) : _mm512_setzero_ps();
        if (rows == 2)
            acc1[v] = read_c ? _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(lanes, c + ldc + 16 * v))
                             : _mm512_setzero_ps();
    }
    const float *values1 = values + row_entries;
    const uint8_t *index1 = index + row_entries;
    ptrdiff_t j = 0; /* kept values consumed per row */
    int g = 0;
    if (fixed_n) {
        for (; g + 2 <= groups; g += 2, b += 2 * group_step, j += 2 * n) {
#pragma GCC unroll 2
            for (int u = 0; u < 2; u++)
#pragma GCC unroll 4
                for (int s = 0; s < n; s++) {
                    const ptrdiff_t at = j + u * n + s;
                    ACCUMULATE_ROW(acc0, values + at, b + u * group_step + index[at] * ldb);
                    if (rows == 2) ACCUMULATE_ROW(acc1, values1 + at, b + u * group_step + index1[at] * ldb);
                }
        }
    }
    for (; g < groups; g++, b += group_step, j += n)
        for (int s = 0; s < n; s++) {
            ACCUMULATE_ROW(acc0, values + j + s, b + index[j + s] * ldb);
            if (rows == 2) ACCUMULATE_ROW(acc1, values1 + j + s, b + index1[j + s] * ldb);
        }
    if (stream_c && !masked) {
#pragma GCC unroll 6
        for (int v = 0; v < vectors; v++) {
            _mm512_stream_ps(c + 16 * v, acc0[v]);
            if (rows == 2) _mm512_stream_ps(c + ldc + 16 * v, acc1[v]);
        }
        return;
    }
#pragma GCC unroll 6
    for (int v = 0; v < vectors; v++) {
        const __mmask16 lanes = masked && v == vectors - 1 ? tail : (__mmask16)0xffff;
        _mm512_mask_storeu_ps(c + 16 * v, lanes, acc0[v]);
        if (rows == 2) _mm512_mask_storeu_ps(c + ldc + 16 * v, lanes, acc1[v]);
    }
}

/* All rows of one block, two at a time, with one tile shape. */
INLINE_AVX512 void tile_rows(const nm_block *blk, const int vectors, const int masked, const int fixed_n,
                             const int panel_ld)
{
    const nmt_packed *a = blk->a;
    const int n = fixed_n ? fixed_n : a->nm.n, m = a->nm.m, total_groups = a->k / m;
    const ptrdiff_t ldc = blk->ldc, row_entries = (ptrdiff_t)total_groups * n;
    const __mmask16 tail = (__mmask16)((1u << (blk->width - 16 * (vectors - 1))) - 1u);
    nm_chunk_prefetch next_chunk = nm_chunk_prefetch_start(blk, (blk->row_end - blk->row_begin + 1) / 2);
    const size_t first = (size_t)blk->row_begin * row_entries + (size_t)blk->first_group * n;
    const float *values = a->values + first;
    const uint8_t *index = a->index + first;
    float *c = blk->c;
    for (int r = blk->row_begin; r < blk->row_end;
         r += 2, values += 2 * row_entries, index += 2 * row_entries, c += 2 * ldc) {
        nm_chunk_prefetch_step(&next_chunk);
        if (!blk->stream_c) /* a streamed line must not be in cache */
#pragma GCC unroll 6
            for (int line = 0; line < NMT_NM_PANEL_COLS; line += 16) {
                _mm_prefetch((const char *)(c + 2 * ldc + line), _MM_HINT_T0);
                _mm_prefetch((const char *)(c + 3 * ldc + line), _MM_HINT_T0);
            }
        if (r + 1 < blk->row_end)
            rows_tile(values, index, row_entries, blk->groups, n, m, blk->b, blk->ldb, c, ldc, blk->read_c,
                      blk->c_scale, 2, vectors, masked, tail, fixed_n, panel_ld, blk->stream_c);
        else
            rows_tile(values, index, row_entries, blk->groups, n, m, blk->b, blk->ldb, c, ldc, blk->read_c,
                      blk->c_scale, 1, vectors, masked, tail, fixed_n, panel_ld, blk->stream_c);
    }
    if (blk->stream_c) _mm_sfence(); /* before the team's barrier publishes C */
}

AVX512 void nm_block_avx512(const nm_block *blk)
{
    const int n = blk->a->nm.n;
    if (blk->width == NMT_NM_PANEL_COLS && blk->ldb == NMT_NM_PANEL_COLS) {
        switch (n) {
        case 1: tile_rows(blk, VECTORS, 0, 1, 1); break;
        case 2: tile_rows(blk, VECTORS, 0, 2, 1); break;
        case 4: tile_rows(blk, VECTORS, 0, 4, 1); break;
        default: tile_rows(blk, VECTORS, 0, 0, 1); break;
        }
    } else if (blk->width == NMT_NM_PANEL_COLS) {
        switch (n) {
        case 1: tile_rows(blk, VECTORS, 0, 1, 0); break;
        case 2: tile_rows(blk, VECTORS, 0, 2, 0); break;
        default: tile_rows(blk, VECTORS, 0, 0, 0); break;
        }
    } else if (n == 1 && blk->ldb == NMT_NM_PANEL_COLS) {
        /* A narrow panel layout at 1:N (--grad-nm's 1:2 weight gradient of a
         * layer with K < 96, the last panel of others, 1:8): every shape a
         * compile-time constant, as for full panels. */
        const int masked = blk->width % 16 != 0;
        switch ((blk->width + 15) / 16 * 2 + masked) {
        case 2: tile_rows(blk, 1, 0, 1, 1); break;
        case 3: tile_rows(blk, 1, 1, 1, 1); break;
        case 4: tile_rows(blk, 2, 0, 1, 1); break;
        case 5: tile_rows(blk, 2, 1, 1, 1); break;
        case 6: tile_rows(blk, 3, 0, 1, 1); break;
        case 7: tile_rows(blk, 3, 1, 1, 1); break;
        case 8: tile_rows(blk, 4, 0, 1, 1); break;
        case 9: tile_rows(blk, 4, 1, 1, 1); break;
        case 10: tile_rows(blk, 5, 0, 1, 1); break;
        case 11: tile_rows(blk, 5, 1, 1, 1); break;
        default: tile_rows(blk, VECTORS, 1, 1, 1); break; /* 81..95 columns */
        }
    } else {
        switch ((blk->width + 15) / 16) { /* ragged last panel: the last vector masked */
        case 1: tile_rows(blk, 1, 1, 0, 0); break;
        case 2: tile_rows(blk, 2, 1, 0, 0); break;
        case 3: tile_rows(blk, 3, 1, 0, 0); break;
        case 4: tile_rows(blk, 4, 1, 0, 0); break;
        case 5: tile_rows(blk, 5, 1, 0, 0); break;
        default: tile_rows(blk, VECTORS, 1, 0, 0); break;
        }
    }
}

/* Top-N selection inside one N:M group, shared by the mask and pack code.
 * Internal to src/nm. */
#ifndef NMT_NM_SELECT_H
#define NMT_NM_SELECT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nmtrain/nm.h"

/* Not part of the library's interface: hidden from its users (Makefile). */
#pragma GCC visibility push(hidden)

/* A strict total order on a group's entries: |w| first, then the lower
 * in-group position wins. The magnitude bits of an IEEE float compare like
 * the magnitudes themselves, so the key is integer arithmetic; the +1 keeps
 * every key above 0, which marks an entry already taken. */
static inline uint64_t nm_rank_key(float value, int position)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return ((uint64_t)(bits & 0x7fffffffu) << 5 | (uint64_t)(NMT_NM_MAX_M - 1 - position)) + 1;
}

/* Bit p of the result is set when position p of the group (m entries of
 * stride `stride` from `w`) is among its n largest by nm_rank_key. Costs
 * min(n, m-n) passes over the group: pick the winners or drop the losers,
 * whichever is fewer. */
static inline uint32_t nm_top_n_bits(const float *w, ptrdiff_t stride, int n, int m)
{
    uint64_t key[NMT_NM_MAX_M];
    for (int p = 0; p < m; p++) key[p] = nm_rank_key(w[p * stride], p);
    uint32_t all = m == 32 ? 0xffffffffu : (1u << m) - 1u;
    if (n <= m - n) {
        uint32_t kept = 0;
        for (int pass = 0; pass < n; pass++) {
            int best = 0;
            uint64_t best_key = 0;
            for (int p = 0; p < m; p++) {
                int better = key[p] > best_key;
                best_key = better ? key[p] : best_key;
                best = better ? p : best;
            }
            key[best] = 0;
            kept |= 1u << best;
        }
        return kept;
    }
    uint32_t dropped = 0;
    for (int pass = 0; pass < m - n; pass++) {
        int worst = 0;
        uint64_t worst_key = UINT64_MAX;
        for (int p = 0; p < m; p++) {
            int lower = key[p] < worst_key;
            worst_key = lower ? key[p] : worst_key;
            worst = lower ? p : worst;
        }
        key[worst] = UINT64_MAX;
        dropped |= 1u << worst;
    }
    return all & ~dropped;
}

/* Rows are visited in blocks of NM_ROW_BLOCK, group by group. A view that
 * reads W transposed (row_stride 1, col_stride the row length: BDWP's W^T)
 * would otherwise fetch one cache line per entry, at a stride that is a
 * multiple of 4 KiB often enough to alias in L1; the block's group is first
 * copied into a small array so each line of W is read once. */
#define NM_ROW_BLOCK 16

typedef struct nm_block_group {
    const float *first; /* entry 0 of the block's first row */
    ptrdiff_t row_step; /* between rows */
    ptrdiff_t stride;   /* between entries of a group */
} nm_block_group;

/* Group g of rows r0 .. r0+count (count <= NM_ROW_BLOCK); buf holds
 * NMT_NM_MAX_M * NM_ROW_BLOCK floats. */
static inline nm_block_group nm_group_of_block(nmt_view w, int r0, int count, int g, int m, float *buf)
{
    const float *src = w.data + r0 * w.row_stride + (ptrdiff_t)g * m * w.col_stride;
    if (w.row_stride != 1 || w.col_stride == 1) return (nm_block_group){src, w.row_stride, w.col_stride};
    for (int p = 0; p < m; p++) {
        if (count == NM_ROW_BLOCK) /* a constant size: inlined as a few vector moves, not a call */
            memcpy(buf + p * NM_ROW_BLOCK, src + p * w.col_stride, sizeof(float) * NM_ROW_BLOCK);
        else
            memcpy(buf + p * NM_ROW_BLOCK, src + p * w.col_stride, sizeof(float) * (size_t)count);
    }
    return (nm_block_group){buf, 1, NM_ROW_BLOCK};
}

#pragma GCC visibility pop

#endif

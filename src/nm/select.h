/* Top-N selection inside one N:M group, shared by the mask and pack code.
 * Internal to src/nm. */
#ifndef NMT_NM_SELECT_H
#define NMT_NM_SELECT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nmtrain/nm.h"

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

#endif

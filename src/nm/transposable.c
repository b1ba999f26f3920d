/* Transposable N:M masks (Hubara et al.): in every M x M block each row and
 * each column keeps at most N, chosen greedily by magnitude. */
#include <stdlib.h>
#include <string.h>

#include "nmtrain/nm.h"

/* Sort key of one block entry: |w| descending, then lower row, then lower
 * column; the low 10 bits hold the inverted row-major position (M*M <= 1024)
 * so one descending integer sort gives the greedy visiting order. */
static uint64_t block_key(float value, int position)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return (uint64_t)(bits & 0x7fffffffu) << 10 | (uint64_t)(1023 - position);
}

static int descending(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x < y) - (x > y);
}

void nmt_nm_mask_transposable(nmt_view w, nmt_nm nm, uint8_t *mask)
{
    const int m = nm.m, row_blocks = w.rows / m, col_blocks = w.k / m;
#pragma omp parallel for schedule(dynamic)
    for (int rb = 0; rb < row_blocks; rb++) {
        uint64_t order[NMT_NM_MAX_M * NMT_NM_MAX_M];
        for (int cb = 0; cb < col_blocks; cb++) {
            for (int i = 0; i < m; i++) {
                const float *row = w.data + (ptrdiff_t)(rb * m + i) * w.row_stride;
                for (int j = 0; j < m; j++)
                    order[i * m + j] = block_key(row[(ptrdiff_t)(cb * m + j) * w.col_stride], i * m + j);
            }
            qsort(order, (size_t)m * m, sizeof order[0], descending);
            int row_count[NMT_NM_MAX_M] = {0}, col_count[NMT_NM_MAX_M] = {0};
            for (int i = 0; i < m; i++)
                memset(mask + (size_t)(rb * m + i) * w.k + (size_t)cb * m, 0, (size_t)m);
            for (int e = 0; e < m * m; e++) {
                int position = 1023 - (int)(order[e] & 1023u), i = position / m, j = position % m;
                if (row_count[i] < nm.n && col_count[j] < nm.n) {
                    row_count[i]++;
                    col_count[j]++;
                    mask[(size_t)(rb * m + i) * w.k + (size_t)cb * m + j] = 1;
                }
            }
        }
    }
}

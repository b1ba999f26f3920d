/* The packed N:M operand: per row and group, exactly N (value, in-group
 * position) pairs in ascending position. */
#include <string.h>

#include "nmtrain/core.h"
#include "nmtrain/nm.h"
#include "select.h"

size_t nmt_packed_value_count(int rows, int k, nmt_nm nm)
{
    return (size_t)rows * (size_t)(k / nm.m) * (size_t)nm.n;
}

/* Writes the entries named by `kept` (exactly n bits) in ascending position. */
static inline void emit_group(const float *group, ptrdiff_t stride, uint32_t kept,
                              float *values, uint8_t *index)
{
    for (int slot = 0; kept; slot++, kept &= kept - 1) {
        int p = __builtin_ctz(kept);
        values[slot] = group[p * stride];
        index[slot] = (uint8_t)p;
    }
}

void nmt_pack_topn(nmt_view w, nmt_nm nm, nmt_packed *out)
{
    const int groups = w.k / nm.m, blocks = (w.rows + NM_ROW_BLOCK - 1) / NM_ROW_BLOCK;
    out->rows = w.rows;
    out->k = w.k;
    out->nm = nm;
#pragma omp parallel for schedule(static)
    for (int block = 0; block < blocks; block++) {
        const int r0 = block * NM_ROW_BLOCK, count = w.rows - r0 < NM_ROW_BLOCK ? w.rows - r0 : NM_ROW_BLOCK;
        float buf[NMT_NM_MAX_M * NM_ROW_BLOCK];
        for (int g = 0; g < groups; g++) {
            const nm_block_group src = nm_group_of_block(w, r0, count, g, nm.m, buf);
            for (int i = 0; i < count; i++) {
                const float *group = src.first + i * src.row_step;
                const size_t slot = ((size_t)(r0 + i) * groups + g) * nm.n;
                uint32_t kept = nm_top_n_bits(group, src.stride, nm.n, nm.m);
                emit_group(group, src.stride, kept, out->values + slot, out->index + slot);
            }
        }
    }
}

int nmt_pack_masked_strided(nmt_view w, const uint8_t *mask, ptrdiff_t mask_row_stride,
                            ptrdiff_t mask_col_stride, nmt_nm nm, nmt_packed *out)
{
    const int groups = w.k / nm.m, blocks = (w.rows + NM_ROW_BLOCK - 1) / NM_ROW_BLOCK;
    int overfull_row = -1;
    out->rows = w.rows;
    out->k = w.k;
    out->nm = nm;
#pragma omp parallel for schedule(static)
    for (int block = 0; block < blocks; block++) {
        const int r0 = block * NM_ROW_BLOCK, count = w.rows - r0 < NM_ROW_BLOCK ? w.rows - r0 : NM_ROW_BLOCK;
        float buf[NMT_NM_MAX_M * NM_ROW_BLOCK];
        for (int g = 0; g < groups; g++) {
            const nm_block_group src = nm_group_of_block(w, r0, count, g, nm.m, buf);
            for (int i = 0; i < count; i++) {
                const int r = r0 + i;
                const size_t slot = ((size_t)r * groups + g) * nm.n;
                const uint8_t *group_mask = mask + r * mask_row_stride + (ptrdiff_t)g * nm.m * mask_col_stride;
                uint32_t kept = 0;
                for (int p = 0; p < nm.m; p++) /* branch-free: mask bytes are unpredictable */
                    kept |= (uint32_t)(group_mask[p * mask_col_stride] != 0) << p;
                int count_kept = __builtin_popcount(kept);
                if (count_kept > nm.n) {
#pragma omp atomic write
                    overfull_row = r;
                    kept = 0;
                    count_kept = 0;
                }
                /* Too few kept: claim the lowest unused positions as zero-valued
                 * padding, so every group still holds N distinct ascending
                 * positions and the kernels need no special case. */
                uint32_t padding = 0;
                for (int p = 0; count_kept < nm.n; p++) {
                    if (!(kept >> p & 1u)) {
                        padding |= 1u << p;
                        count_kept++;
                    }
                }
                const float *group = src.first + i * src.row_step;
                uint32_t slots = kept | padding;
                for (int s = 0; slots; s++, slots &= slots - 1) {
                    int p = __builtin_ctz(slots);
                    out->values[slot + s] = (padding >> p & 1u) ? 0.0f : group[p * src.stride];
                    out->index[slot + s] = (uint8_t)p;
                }
            }
        }
    }
    if (overfull_row >= 0) {
        nmt_error("N:M pack: mask keeps more than %d of %d in a group of row %d", nm.n, nm.m,
                  overfull_row);
        return -1;
    }
    return 0;
}

int nmt_pack_masked(nmt_view w, const uint8_t *mask, nmt_nm nm, nmt_packed *out)
{
    return nmt_pack_masked_strided(w, mask, w.k, 1, nm, out);
}

void nmt_unpack(const nmt_packed *p, float *dense)
{
    const int groups = p->k / p->nm.m, n = p->nm.n, m = p->nm.m;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < p->rows; r++) {
        size_t slot = (size_t)r * groups * n;
        float *row = dense + (size_t)r * p->k;
        memset(row, 0, sizeof(float) * (size_t)p->k);
        for (int g = 0; g < groups; g++, slot += n)
            for (int s = 0; s < n; s++) row[g * m + p->index[slot + s]] = p->values[slot + s];
    }
}

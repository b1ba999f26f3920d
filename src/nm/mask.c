/* N:M magnitude masks along k of a strided view. */
#include "nmtrain/nm.h"
#include "select.h"

void nmt_nm_mask(nmt_view w, nmt_nm nm, uint8_t *mask)
{
    const int groups = w.k / nm.m, blocks = (w.rows + NM_ROW_BLOCK - 1) / NM_ROW_BLOCK;
#pragma omp parallel for schedule(static)
    for (int block = 0; block < blocks; block++) {
        const int r0 = block * NM_ROW_BLOCK, count = w.rows - r0 < NM_ROW_BLOCK ? w.rows - r0 : NM_ROW_BLOCK;
        float buf[NMT_NM_MAX_M * NM_ROW_BLOCK];
        for (int g = 0; g < groups; g++) {
            const nm_block_group src = nm_group_of_block(w, r0, count, g, nm.m, buf);
            for (int i = 0; i < count; i++) {
                uint32_t kept = nm_top_n_bits(src.first + i * src.row_step, src.stride, nm.n, nm.m);
                uint8_t *out = mask + (size_t)(r0 + i) * w.k + (size_t)g * nm.m;
                for (int p = 0; p < nm.m; p++) out[p] = (uint8_t)(kept >> p & 1u);
            }
        }
    }
}

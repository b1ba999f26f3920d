/* N:M magnitude masks along k of a strided view. */
#include "nmtrain/nm.h"
#include "select.h"

void nmt_nm_mask(nmt_view w, nmt_nm nm, uint8_t *mask)
{
    const int groups = w.k / nm.m;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < w.rows; r++) {
        for (int g = 0; g < groups; g++) {
            const float *group = w.data + r * w.row_stride + (ptrdiff_t)g * nm.m * w.col_stride;
            uint32_t kept = nm_top_n_bits(group, w.col_stride, nm.n, nm.m);
            uint8_t *out = mask + (size_t)r * w.k + (size_t)g * nm.m;
            for (int p = 0; p < nm.m; p++) out[p] = (uint8_t)(kept >> p & 1u);
        }
    }
}

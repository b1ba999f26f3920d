/* The panel layout of the N:M GEMM's dense operand: B (k x ncols) cut into
 * column panels of NMT_NM_PANEL_COLS, each stored k x NMT_NM_PANEL_COLS
 * contiguously; the last panel is zero-padded to full width. A panel chunk
 * is then one contiguous run of memory: no cache-set aliasing or TLB misses
 * from the large row strides of a row-major B. */
#include <string.h>

#include "nmtrain/kernels.h"

size_t nmt_nm_panels_floats(int k, int ncols)
{
    size_t panels = ((size_t)ncols + NMT_NM_PANEL_COLS - 1) / NMT_NM_PANEL_COLS;
    return panels * (size_t)k * NMT_NM_PANEL_COLS;
}

void nmt_nm_pack_panels(const float *b, int ldb, int k, int ncols, float *panels)
{
    const int count = (ncols + NMT_NM_PANEL_COLS - 1) / NMT_NM_PANEL_COLS;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < count; p++) {
        const int col0 = p * NMT_NM_PANEL_COLS;
        const int width = ncols - col0 < NMT_NM_PANEL_COLS ? ncols - col0 : NMT_NM_PANEL_COLS;
        float *out = panels + (size_t)p * k * NMT_NM_PANEL_COLS;
        for (int r = 0; r < k; r++, out += NMT_NM_PANEL_COLS) {
            memcpy(out, b + (size_t)r * ldb + col0, sizeof(float) * width);
            if (width < NMT_NM_PANEL_COLS) memset(out + width, 0, sizeof(float) * (NMT_NM_PANEL_COLS - width));
        }
    }
}

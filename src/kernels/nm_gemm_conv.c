/* The sparse forward convolution fused with its lowering (an implicit
 * GEMM): y = W_in * im2col(x), with W_in packed N:M along K = (kh, kw, ci).
 *
 * Lowered first, the K x cols matrix (9x the input for a 3x3 layer) goes out
 * to memory and comes back for the GEMM. Here each thread lowers one column
 * panel (K x NMT_NM_PANEL_COLS) into its own buffer and runs every row of W
 * over it while it is still in L2, panel after panel: the lowered matrix
 * never exists whole, and the whole batch goes in one pass. */
#include <omp.h>

#include "nm_gemm_internal.h"

#include "nmtrain/core.h"

size_t nmt_gemm_nm_conv_workspace_floats(const nmt_conv_shape *s)
{
    return (size_t)s->kh * s->kw * s->c * NMT_NM_PANEL_COLS * (size_t)omp_get_num_procs();
}

int nmt_gemm_nm_conv(const nmt_packed *w, const nmt_conv_shape *s, const float *x, float *workspace,
                     size_t workspace_floats, float *y)
{
    const int ncols = s->n * s->ho * s->wo, panels = (ncols + NMT_NM_PANEL_COLS - 1) / NMT_NM_PANEL_COLS;
    const size_t per_thread = (size_t)w->k * NMT_NM_PANEL_COLS;
    if (workspace_floats < per_thread) {
        nmt_error("sparse convolution: a workspace of %zu floats has no room for one panel (%zu)", workspace_floats,
                  per_thread);
        return -1;
    }
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if ((size_t)threads > workspace_floats / per_thread) threads = (int)(workspace_floats / per_thread);
    if (threads > panels) threads = panels;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads > 0 ? threads : 1)
    for (int p = 0; p < panels; p++) {
        float *panel = workspace + (size_t)omp_get_thread_num() * per_thread;
        const int width = nm_lower_panel(s, x, 0, s->n, p, panel);
        nm_gemm_panel(w, 0, w->rows, panel, width, y + (size_t)p * NMT_NM_PANEL_COLS, ncols);
    }
    return 0;
}

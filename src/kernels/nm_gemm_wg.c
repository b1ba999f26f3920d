/* --grad-nm's weight gradient fused with its pruning and lowering:
 * dW = prune(dY) col^T (nmt_gemm_nm_wg in nmtrain/kernels.h).
 *
 * The weight gradient's reduction runs over every output pixel of the batch
 * (65536 for a 32x32 layer at batch 64) while dW is small. Lowered whole,
 * col^T goes out to memory and comes back, and every column panel of dW
 * streams it again: measured at a third of the kernel's speed on such
 * shapes. Here the batch is cut into slices of whole images, about
 * WG_SLICE_PIXELS output pixels each, fixed by the shape alone. A thread
 * takes a slice, prunes and packs the slice's dY, makes its input
 * pixel-major, and then, one column panel at a time, lowers the slice's
 * rows of the panel into its own buffer (in L2) and runs every row of dY
 * over it into the slice's own partial dW. The partials are then added in
 * slice order, so the result does not depend on the thread count. */
#include <omp.h>

#include "nm_gemm_internal.h"

#include "nmtrain/core.h"

/* Output pixels per slice: a panel of the slice's col^T is 384 KiB, which
 * stays in L2 beside the slice's packed dY while every row runs over it. */
#define WG_SLICE_PIXELS 1024

static size_t align16(size_t floats) { return (floats + 15) / 16 * 16; }

int nmt_gemm_nm_wg_slice_images(const nmt_conv_shape *s)
{
    const int area = s->ho * s->wo;
    int images = area < WG_SLICE_PIXELS ? WG_SLICE_PIXELS / area : 1;
    if (area % 2 && images % 2) images++; /* slices start on a whole pair of dY's columns */
    return images < s->n ? images : s->n;
}

/* A thread's buffers for a slice of `images`: the panel of col^T (with the
 * zero row an odd pixel count pairs with), the pixel-major input, dY's
 * packed values and indices. */
static size_t thread_floats(const nmt_conv_shape *s, int c_out, int images)
{
    const size_t groups = ((size_t)images * s->ho * s->wo + 1) / 2;
    return align16(2 * groups * NMT_NM_PANEL_COLS) + align16(nmt_im2row_panels_scratch_floats(s, images)) +
           align16((size_t)c_out * groups) + align16(((size_t)c_out * groups + 3) / 4);
}

static int slice_count(const nmt_conv_shape *s)
{
    const int images = nmt_gemm_nm_wg_slice_images(s);
    return (s->n + images - 1) / images;
}

size_t nmt_gemm_nm_wg_workspace_floats(const nmt_conv_shape *s, int c_out)
{
    const size_t partials = (size_t)slice_count(s) * c_out * s->kh * s->kw * s->c;
    return align16(partials) + thread_floats(s, c_out, nmt_gemm_nm_wg_slice_images(s)) * (size_t)omp_get_num_procs();
}

int nmt_gemm_nm_wg(const nmt_conv_shape *s, int c_out, const float *x, const float *dy, nmt_mvue_draws draws,
                   float *workspace, size_t workspace_floats, float *dw)
{
    const int images = nmt_gemm_nm_wg_slice_images(s), slices = slice_count(s), area = s->ho * s->wo;
    const int k = s->kh * s->kw * s->c, cols = s->n * area, panels = (k + NMT_NM_PANEL_COLS - 1) / NMT_NM_PANEL_COLS;
    const size_t partial = (size_t)c_out * k, partials = align16((size_t)slices * partial);
    const size_t per_thread = thread_floats(s, c_out, images);
    if (workspace_floats < partials + per_thread) {
        nmt_error("sparse weight gradient: a workspace of %zu floats, it needs at least %zu", workspace_floats,
                  partials + per_thread);
        return -1;
    }
    int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if ((size_t)threads > (workspace_floats - partials) / per_thread) threads = (int)((workspace_floats - partials) / per_thread);
    if (threads > slices) threads = slices;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int slice = 0; slice < slices; slice++) {
        const int n0 = slice * images, n1 = n0 + images < s->n ? n0 + images : s->n, pixels = (n1 - n0) * area;
        const size_t groups = ((size_t)pixels + 1) / 2;
        float *panel = workspace + partials + (size_t)omp_get_thread_num() * per_thread;
        float *scratch = panel + align16(2 * groups * NMT_NM_PANEL_COLS);
        nmt_packed a = {.values = scratch + align16(nmt_im2row_panels_scratch_floats(s, n1 - n0))};
        a.index = (uint8_t *)(a.values + align16((size_t)c_out * groups));
        nmt_mvue_prune_packed(dy, c_out, cols, n0 * area, pixels, draws, &a);
        if (nmt_im2row_panels_scratch_floats(s, 1)) nm_pixel_major(s, x, n0, n1, scratch);
        if (a.k > pixels) /* the zero row the odd last pixel pairs with */
            for (int p = 0; p < NMT_NM_PANEL_COLS; p++) panel[(size_t)pixels * NMT_NM_PANEL_COLS + p] = 0.0f;
        float *sums = workspace + (size_t)slice * partial;
        for (int p = 0; p < panels; p++) {
            nm_lower_rows_panel(s, x, scratch, n0, 0, pixels, p, panel);
            const int width = k - p * NMT_NM_PANEL_COLS < NMT_NM_PANEL_COLS ? k - p * NMT_NM_PANEL_COLS : NMT_NM_PANEL_COLS;
            nm_gemm_panel(&a, 0, c_out, panel, width, sums + (size_t)p * NMT_NM_PANEL_COLS, k);
        }
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < partial; i++) {
        float sum = workspace[i];
        for (int slice = 1; slice < slices; slice++) sum += workspace[(size_t)slice * partial + i];
        dw[i] = sum;
    }
    return 0;
}

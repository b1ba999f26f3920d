/* nmtrain/kernels.h: the GEMMs and the convolution lowering.
 * All matrices are row-major. */
#ifndef NMTRAIN_KERNELS_H
#define NMTRAIN_KERNELS_H

#include "nmtrain/nm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Dense GEMM through OpenBLAS: C = alpha * op(A) op(B) + beta * C,
 * op(A) is m x k, op(B) is k x n. */
void nmt_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta,
              float *c, int ldc);
/* The CPU kernels OpenBLAS runs the dense GEMMs with ("Haswell",
 * "SkylakeX", ...): OPENBLAS_CORETYPE or its own detection. */
const char *nmt_gemm_dense_core(void);

/* ---- N:M sparse GEMM -------------------------------------------------------
 * C[rows x ncols] = A B + beta * C, where A is packed (rows x k, N of every M
 * along k, see nm.h) and B is dense k x ncols. beta == 0 does not read C.
 * Any 1 <= N < M <= 32 and any rows, ncols, k (k a multiple of M).
 * Parallel over the OpenMP threads (one thread when called inside a parallel
 * region); allocates nothing.
 * A C that a call writes once (beta == 0 and k no more than one L1-sized
 * block of B rows: 128 with a 48 KiB L1, 80 with Zen 3's 32 KiB) and that
 * is larger than 3/4 of this core's share of the last-level cache is
 * written with streaming stores, past the caches, when c and ldc keep its
 * rows 64-byte aligned. */

/* B row-major with leading dimension ldb. Each thread copies the chunk of
 * B it is about to use (one reduction block by one panel of columns, at
 * most 96 KiB, on its stack) into the panel layout below, as a dense GEMM
 * packs B, so any ldb runs about as fast as the panel layout; the panel
 * layout only saves that copy when B is produced in it (nmt_im2col_panels). */
void nmt_gemm_nm(const nmt_packed *a, const float *b, int ldb, int ncols,
                 float beta, float *c, int ldc);

/* Panel layout of B: column panels of NMT_NM_PANEL_COLS, each stored as a
 * contiguous k x NMT_NM_PANEL_COLS row-major block (panel p holds columns
 * p*NMT_NM_PANEL_COLS ..), the last one zero-padded to full width. The caller
 * owns a workspace of nmt_nm_panels_floats(k, ncols) floats, fills it with
 * nmt_nm_pack_panels (from a row-major B) or nmt_im2col_panels (straight from
 * a convolution input), then calls nmt_gemm_nm_panels. Align the workspace
 * to 64 bytes (arena allocations are): otherwise loads split across cache
 * lines and the GEMM runs 15-20% slower. */
#define NMT_NM_PANEL_COLS 96
size_t nmt_nm_panels_floats(int k, int ncols);
void nmt_nm_pack_panels(const float *b, int ldb, int k, int ncols, float *panels);
void nmt_gemm_nm_panels(const nmt_packed *a, const float *panels, int ncols,
                        float beta, float *c, int ldc);

/* The N:M code paths. AUTO picks the widest the CPU runs, or the one named
 * by the environment variable NMTRAIN_NM_PATH ("portable", "avx2-fma",
 * "avx512") when the CPU runs it; any other value gets a one-line warning on
 * stderr and the widest path. All add the same products in the same
 * order per output, so they agree to FMA rounding. */
typedef enum nmt_nm_path {
    NMT_NM_PATH_AUTO,
    NMT_NM_PATH_PORTABLE,
    NMT_NM_PATH_AVX2,
    NMT_NM_PATH_AVX512
} nmt_nm_path;
/* 1 if this CPU runs the path. */
int nmt_gemm_nm_path_supported(nmt_nm_path path);
/* Selects the path for every later call (tests and benchmarks compare
 * them); -1, and no change, if the CPU does not run it. */
int nmt_gemm_nm_set_path(nmt_nm_path path);
/* The path in use: "portable", "avx2-fma" or "avx512". */
const char *nmt_gemm_nm_path(void);

/* Convolution lowering for CNHW activations x[c][n][h][w].
 * col is (kh*kw*c) x (n*ho*wo) with rows ordered (kh, kw, ci).
 * col2im adds the columns back into dx (nmt_col2im: into what dx holds;
 * nmt_col2im_images: or into zeros, see there). */
typedef struct nmt_conv_shape {
    int c, n, h, w;         /* input */
    int kh, kw, stride, pad;
    int ho, wo;             /* output spatial size */
} nmt_conv_shape;

void nmt_im2col(const nmt_conv_shape *s, const float *x, float *col);
void nmt_col2im(const nmt_conv_shape *s, const float *col, float *dx);
/* The same for images [n0, n1) of the batch only: col holds their
 * (n1-n0)*ho*wo columns, x and dx stay the whole batch. Lowering a few images
 * at a time bounds the K x cols buffer. The other lowering functions below
 * have _images forms with the same meaning. */
void nmt_im2col_images(const nmt_conv_shape *s, const float *x, int n0, int n1, float *col);
/* accumulate 0 overwrites those images' planes of dx (zeroes each plane,
 * then adds) instead of adding to what they hold. */
void nmt_col2im_images(const nmt_conv_shape *s, const float *col, int n0, int n1, float *dx, int accumulate);
/* The same scatter from the transposed lowering: dcol_t is (n*ho*wo) x K,
 * one row per output pixel (what a GEMM with the pixels as rows writes, as
 * SDGP's backward-data does). Deterministic; parallel over input channels. */
void nmt_col2im_transposed(const nmt_conv_shape *s, const float *dcol_t, float *dx);
void nmt_col2im_transposed_images(const nmt_conv_shape *s, const float *dcol_t, int n0, int n1, float *dx);
/* im2col straight into the N:M GEMM's panel layout (k = kh*kw*c rows,
 * ncols = n*ho*wo): the same values as nmt_im2col, placed as
 * nmt_nm_pack_panels would place them. The workspace holds
 * nmt_nm_panels_floats(k, ncols) floats. */
void nmt_im2col_panels(const nmt_conv_shape *s, const float *x, float *panels);
void nmt_im2col_panels_images(const nmt_conv_shape *s, const float *x, int n0, int n1, float *panels);
/* The weight gradient's lowering for the N:M kernel: col^T of images [n0,
 * n1), one row per output pixel ((n1-n0)*ho*wo rows, ordered (n, oy, ox))
 * and K = kh*kw*c columns ordered (kh, kw, ci), in the panel layout with
 * k_rows (>= the rows written) rows per panel; rows past the written ones
 * and columns past K are zeroed. The panels hold
 * nmt_nm_panels_floats(k_rows, K) floats; scratch (the chunk's input made
 * pixel-major) nmt_im2row_panels_scratch_floats(s, n1 - n0), none for a
 * 1x1 stride-1 unpadded convolution, whose lowering is x^T. Parallel over
 * the OpenMP threads. */
size_t nmt_im2row_panels_scratch_floats(const nmt_conv_shape *s, int images);
void nmt_im2row_panels_images(const nmt_conv_shape *s, const float *x, int n0, int n1, float *scratch, int k_rows,
                              float *panels);
/* --grad-nm's weight gradient fused with dY's pruning and the lowering:
 * dW (c_out x K, K ordered (kh, kw, ci)) = P col^T, P being dY (c_out x
 * n*ho*wo) pruned by the MVUE rule with `draws` (nmtrain/nm.h). The batch is cut
 * into slices of nmt_gemm_nm_wg_slice_images(s) images (fixed by the
 * shape): a thread prunes, lowers (a column panel at a time, in its part of
 * the workspace) and multiplies one slice into its own partial sum, and the
 * partials are added in slice order, so the result does not depend on the
 * thread count. As many threads run as the workspace holds
 * (nmt_gemm_nm_wg_workspace_floats: the partials and every processor's
 * buffers). Returns 0, or -1 (nmt_errmsg says why) when it has no room for
 * one thread. */
int nmt_gemm_nm_wg_slice_images(const nmt_conv_shape *s);
size_t nmt_gemm_nm_wg_workspace_floats(const nmt_conv_shape *s, int c_out);
int nmt_gemm_nm_wg(const nmt_conv_shape *s, int c_out, const float *x, const float *dy, nmt_mvue_draws draws,
                   float *workspace, size_t workspace_floats, float *dw);
/* Sparse forward fused with the lowering: y = W_in im2col(x) for the whole
 * batch, w packed N:M along K = (kh, kw, ci) (rows c_out), y c_out x
 * n*ho*wo row-major. Each thread lowers a column panel (K x
 * NMT_NM_PANEL_COLS floats of the workspace) and multiplies it while it is
 * in L2; as many threads run as the workspace holds panels. Same sums, in
 * the same order, as nmt_im2col_panels followed by nmt_gemm_nm_panels.
 * Returns 0, or -1 (nmt_errmsg says why) when the workspace has no room for
 * one panel: workspace_floats < K * NMT_NM_PANEL_COLS.
 * nmt_gemm_nm_conv_workspace_floats: a panel for every processor. */
size_t nmt_gemm_nm_conv_workspace_floats(const nmt_conv_shape *s);
int nmt_gemm_nm_conv(const nmt_packed *w, const nmt_conv_shape *s, const float *x, float *workspace,
                     size_t workspace_floats, float *y);
/* Sparse backward-data fused with col2im: dx += col2im(W_out^T dY), where
 * w_t is W_out^T packed along Cout (rows kh*kw*c ordered (kh, kw, ci),
 * k = Cout) and dy is dY (Cout x n*ho*wo, row-major). Neither the GEMM
 * result nor dY in panels ever exists in full: each thread packs one dY
 * panel at a time and passes tiles of c x NMT_NM_PANEL_COLS through its part
 * of `workspace` (64-byte aligned) into dx, which the caller zeroes first,
 * as for nmt_col2im. Parallel over blocks of images; as many threads run as
 * the workspace has room for (nmt_gemm_nm_col2im_workspace_floats: enough
 * for every thread). Returns 0, or -1 (nmt_errmsg says why) when it has no
 * room for one: workspace_floats < (c + Cout) * NMT_NM_PANEL_COLS. */
size_t nmt_gemm_nm_col2im_workspace_floats(const nmt_conv_shape *s, int cout);
int nmt_gemm_nm_col2im(const nmt_packed *w_t, const float *dy, const nmt_conv_shape *s, float *workspace,
                       size_t workspace_floats, float *dx);

/* ---- Winograd F(2x2, 3x3) convolution -------------------------------------
 * For 3x3, stride 1, pad 1 layers of 16 channels or more in and out
 * (nmt_winograd_applies; up to 512 pixels wide): 2.25x fewer
 * multiplications than the lowered GEMM in each of the three training
 * GEMMs, which become 16 GEMMs (one per tile position) over transformed
 * operands. The caller runs those GEMMs; with T = nmt_winograd_tiles(s,
 * images) tiles of 2x2 output pixels, ordered (image, tile row, tile
 * column), the operands are 16 row-major blocks each:
 *   U  weights       16 x c_out x c     nmt_winograd_weights(W)
 *   V  input         16 x c x T         nmt_winograd_input(x)
 *   M  output        16 x c_out x T     forward:  M = U V, then nmt_winograd_output
 *   D  output grad   16 x c_out x T     nmt_winograd_grad_output(dY)
 *   backward data:   16 x c x T         U^T D, then nmt_winograd_grad_input
 *   weight gradient: 16 x c_out x c     D V^T (summed over chunks), then
 *                                       nmt_winograd_grad_weights
 * W and dW are c_out x 9c with columns ordered (kh, kw, ci), as the lowered
 * path has them; x, y, dY and dX are CNHW with the whole batch s->n, of
 * which images [n0, n1) are transformed. Parallel over the OpenMP threads. */
int nmt_winograd_applies(const nmt_conv_shape *s, int c_out);
/* Whether convolution layers use Winograd where it applies: on unless the
 * environment variable NMTRAIN_WINOGRAD is "0", or set here (benchmarks
 * compare both; set it before building a network, which sizes its
 * workspace by it). */
int nmt_conv_winograd(void);
void nmt_conv_set_winograd(int enabled);
size_t nmt_winograd_tiles(const nmt_conv_shape *s, int images);
void nmt_winograd_weights(int c_out, int c, const float *w, float *u);
void nmt_winograd_input(const nmt_conv_shape *s, const float *x, int n0, int n1, float *v);
/* Overwrites the images' planes of y. */
void nmt_winograd_output(const nmt_conv_shape *s, int c_out, const float *m, int n0, int n1, float *y);
void nmt_winograd_grad_output(const nmt_conv_shape *s, int c_out, const float *dy, int n0, int n1, float *d);
/* Adds into the images' planes of dx, or overwrites them (accumulate 0). */
void nmt_winograd_grad_input(const nmt_conv_shape *s, const float *dd, int n0, int n1, float *dx, int accumulate);
void nmt_winograd_grad_weights(int c_out, int c, const float *m, float *dw);

#ifdef __cplusplus
}
#endif
#endif

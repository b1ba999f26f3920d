/* Layers: each a forward/backward pair taking its shapes as arguments
 * (llm.c style). Activations are CNHW: channel c of sample n at pixel p is
 * x[(c * batch + n) * plane + p], so "cols" = batch * plane.
 * Backward functions ADD into the input gradient, because a tensor consumed
 * twice (a residual shortcut) collects gradient from both consumers; the
 * network zeroes gradients once per step. */
#ifndef NMT_LAYERS_H
#define NMT_LAYERS_H

#include <stdint.h>

#include "nmtrain/kernels.h"
#include "nmtrain/nm.h"

/* A GEMM operand as the current training method supplies it: dense, or N:M
 * packed (then `dense` is ignored). For the backward-data GEMM the dense
 * operand is W itself (used transposed) and the packed one is W^T packed
 * along output channels. */
typedef struct nmt_operand {
    const float *dense;
    const nmt_packed *packed;
} nmt_operand;

/* ---- convolution and linear (linear = 1x1 convolution on 1x1 inputs) ----
 * W is c_out x K, K ordered (kh, kw, ci); cols = n * ho * wo.
 * Scratch buffers:
 *   col     the lowered input of a chunk of images (conv_chunk_images),
 *           K x part row-major with part = images*ho*wo; with a packed
 *           forward operand nmt_nm_panels_floats(K, part) floats, of which
 *           the fused sparse forward uses a panel per thread; for a
 *           Winograd layer at least conv_winograd_floats. Unused (may be
 *           NULL) for a pointwise (1x1, stride 1, no padding) layer, which
 *           reads x.
 *   dcol    backward-data's K x part result before col2im; may alias col.
 *           With a packed backward operand it is only the fused kernel's
 *           workspace (nmt_gemm_nm_col2im_workspace_floats(s, c_out)). With a packed
 *           dY it holds the part x K transposed result, also for a
 *           pointwise layer.
 * Backward: the weight gradient reads dy, backward-data reads dy_bw: dense
 * (.dense), or pruned by the method and packed with the pixels as rows
 * (.packed, rows = cols, k = c_out; then w_t must be dense). dW and dbias
 * are overwritten; dx is added to, or overwritten when accumulate_dx is 0
 * (NULL = not needed, e.g. the first layer). */
/* Seconds per phase of the conv/linear layers, added to when the network
 * profiles (NULL: not timed). */
enum conv_phase {
    CONV_LOWER_FW, CONV_GEMM_FW,       /* forward: lowering, GEMM */
    CONV_LOWER_BW, CONV_WEIGHT_GRAD,   /* backward: lowering again, the dW GEMM */
    CONV_BACKWARD_DATA,                /* the dX GEMM with its col2im or scatter */
    CONV_PHASES
};
typedef struct conv_timing {
    double seconds[CONV_PHASES];
} conv_timing;
int conv_is_pointwise(const nmt_conv_shape *s);
/* Images lowered at a time: col (and dcol, and SDGP's transposed dcol) hold
 * K x conv_chunk_images(s)*ho*wo floats, not the whole batch's lowering. */
int conv_chunk_images(const nmt_conv_shape *s);
/* Whether the layer runs Winograd F(2x2, 3x3) (for its dense operands: a
 * packed forward or backward-data operand keeps its N:M kernel; the weight
 * gradient is always dense), and the floats of `col` it needs then, 0 when
 * not: col must hold the larger of this and the lowering. dense_operand:
 * whether the forward or the backward-data GEMM has a dense operand (0:
 * only the weight gradient runs Winograd, which needs less). */
int conv_uses_winograd(const nmt_conv_shape *s, int c_out);
size_t conv_winograd_floats(const nmt_conv_shape *s, int c_out, int dense_operand);
void conv_forward(const nmt_conv_shape *s, int c_out, nmt_operand w, const float *bias,
                  const float *x, float *col, float *y, conv_timing *timing);
void conv_backward(const nmt_conv_shape *s, int c_out, nmt_operand w_t, const float *x, float *col,
                   const float *dy, nmt_operand dy_bw, float *dw, float *dbias, float *dx, int accumulate_dx,
                   float *dcol, conv_timing *timing);

/* ---- batch norm (over the batch and spatial dims of each channel) ---- */
typedef struct bn_saved {
    float *mean, *invstd; /* per channel, from the forward pass */
} bn_saved;
void batchnorm_forward_train(int channels, int cols, const float *x, const float *gamma,
                             const float *beta, float *running_mean, float *running_var,
                             float momentum, float eps, bn_saved saved, float *y);
void batchnorm_forward_eval(int channels, int cols, const float *x, const float *gamma,
                            const float *beta, const float *running_mean, const float *running_var,
                            float eps, float *y);
/* accumulate = 0 overwrites dx instead of adding to it (the sole reader of
 * x needs no zeroed buffer). */
void batchnorm_backward(int channels, int cols, const float *x, const float *gamma, bn_saved saved,
                        const float *dy, float *dgamma, float *dbeta, float *dx, int accumulate);

/* ---- element-wise ---- */
/* x = 0 on every thread: a gradient buffer is tens of MB, too long for one core. */
void zero_fill(int64_t n, float *x);
void relu_forward(int64_t n, const float *x, float *y);
void relu_backward(int64_t n, const float *y, const float *dy, float *dx, int accumulate);
void scale_forward(int64_t n, float scale, const float *x, float *y);
void scale_backward(int64_t n, float scale, const float *dy, float *dx);
void add_forward(int64_t n, const float *a, const float *b, float *y);
/* da and db (either may be NULL: that input needs no gradient) receive dy:
 * overwritten when flagged (the first writer of that gradient), added to
 * otherwise. a + a (da == db) passes overwrite_b = 0. */
void add_backward(int64_t n, const float *dy, float *da, int overwrite_a, float *db, int overwrite_b);

/* ---- pooling ---- */
typedef struct pool_shape {
    int c, n, h, w;
    int kh, kw, stride, pad;
    int ho, wo;
} pool_shape;
/* Padding never wins (it is -inf); NaN wins and stays, as in PyTorch.
 * Backward reads the forward's input x and output y, finds each window's
 * winner again and adds dy there: no argmax is stored. */
void maxpool_forward(const pool_shape *s, const float *x, float *y);
/* accumulate = 0 overwrites dx (zeros where no window's winner is). */
void maxpool_backward(const pool_shape *s, const float *x, const float *y, const float *dy, float *dx, int accumulate);
/* Adaptive max pool to ho x wo with PyTorch's window rule
 * start = floor(i*h/ho), end = ceil((i+1)*h/ho). */
void adaptive_maxpool_forward(const pool_shape *s, const float *x, float *y);
void adaptive_maxpool_backward(const pool_shape *s, const float *x, const float *y, const float *dy, float *dx,
                               int accumulate);
void avgpool_forward(int c, int n, int plane, const float *x, float *y);
void avgpool_backward(int c, int n, int plane, const float *dy, float *dx);

/* ---- flatten: CNHW (c x n x plane) -> features x n, features in (c, h, w) order ---- */
void flatten_forward(int c, int n, int plane, const float *x, float *y);
void flatten_backward(int c, int n, int plane, const float *dy, float *dx);

/* ---- softmax cross-entropy with label smoothing ----
 * logits are classes x n (CNHW with a 1x1 plane). Returns the mean loss,
 * writes dlogits = d(mean loss)/d(logits) when dlogits is not NULL, and
 * counts correct top-1 predictions. */
float cross_entropy(int classes, int n, const float *logits, const int *labels, float smoothing,
                    float *dlogits, int *correct);

#endif

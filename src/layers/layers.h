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
#include "nmtrain/sparsity.h"

/* Not part of the library's interface: hidden from its users (Makefile). */
#pragma GCC visibility push(hidden)

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
 * Plan, then compute: conv_plan_make picks each direction's path from the
 * shape and which operands the method makes N:M, and sizes the one
 * workspace the three directions share (they run one after another); the
 * network allocates what the plans ask for, and the compute functions pass
 * the workspace's real capacity down to the kernels, which check it.
 * Backward: the weight gradient reads dy, or under --grad-nm (the plan's
 * wg_nm) dy MVUE-pruned with wg_draws (nmtrain/nm.h; {key, cols, 0}
 * prunes as nmt_mvue_prune); the bias gradient dy; backward-data dy_bw: dense
 * (.dense), or pruned by the method and packed with the pixels as rows
 * (.packed, rows = cols, k = c_out; then w_t must be dense). dW and dbias
 * are overwritten; dx is added to, or overwritten when accumulate_dx is 0
 * (NULL = not needed, e.g. the first layer). */
/* The skinny path's largest W (c_in and c_out: W stays in L2) and most
 * columns (batch x positions at the plan's batch: a ViT's 128 x 65 tokens
 * and more; not ResNet50's 128 x 32 x 32 pixels). */
#define SKINNY_MAX 768
#define SKINNY_MAX_COLUMNS 32768
typedef enum conv_path {
    CONV_PATH_NONE,      /* not run: backward-data of a layer fed by the model input */
    CONV_PATH_POINTWISE, /* 1x1, stride 1, no padding: one GEMM on x itself (dense or N:M) */
    CONV_PATH_SKINNY,    /* pointwise, dense, small W, few columns: skinny_gemm(_nt), bias fused */
    CONV_PATH_LOWERED,   /* im2col / col2im a chunk of images at a time, one dense GEMM each */
    CONV_PATH_WINOGRAD,  /* Winograd F(2x2, 3x3): 16 dense GEMMs over transforms */
    CONV_PATH_NM_FUSED,  /* N:M weights with the lowering fused into the kernel (FW: panels, BW: col2im) */
    CONV_PATH_NM_DY,     /* N:M dY (sdgp): dcol^T = dY^T W a chunk at a time, then the transposed col2im */
    CONV_PATH_NM_WG,     /* --grad-nm: dW = MVUE-pruned dY, packed 1:2, times col^T in panels, a chunk at a time */
} conv_path;
const char *conv_path_name(conv_path path);

/* The operands a layer's method supplies: which are N:M, and whether
 * backward-data runs at all. */
typedef struct conv_operands {
    int fw_nm, bw_nm, dy_nm, needs_dx;
    int wg_nm; /* the weight gradient reads dY MVUE-pruned along (image, position) */
} conv_operands;
/* The operands a layer's sparsity rule asks for. */
conv_operands conv_operands_of(const nmt_layer_sparsity *rule);

typedef struct conv_plan {
    nmt_conv_shape shape;    /* at the largest batch the layer runs */
    int c_out;
    conv_operands operands;
    conv_path fw, bw, wg;
    size_t workspace_floats; /* what the three directions need, at most, at any batch up to shape.n */
} conv_plan;

void conv_plan_make(const nmt_conv_shape *s, int c_out, conv_operands operands, conv_plan *plan);

/* Seconds per phase of the conv/linear layers, added to when the network
 * profiles (NULL: not timed). */
enum conv_phase {
    CONV_LOWER_FW, CONV_GEMM_FW,       /* forward: lowering, GEMM */
    CONV_LOWER_BW, CONV_WEIGHT_GRAD,   /* backward: lowering again, the dW GEMM */
    CONV_BACKWARD_DATA,                /* the dX GEMM with its col2im or scatter */
    CONV_PRUNE_WG,                     /* --grad-nm: dY's MVUE pruning and packing */
    CONV_PHASES
};
typedef struct conv_timing {
    double seconds[CONV_PHASES];
} conv_timing;
int conv_is_pointwise(const nmt_conv_shape *s);
/* Images lowered at a time: a lowered direction holds K x
 * conv_chunk_images(s)*ho*wo floats, not the whole batch's lowering. */
int conv_chunk_images(const nmt_conv_shape *s);
/* Whether the layer's shape runs Winograd F(2x2, 3x3) for its dense GEMMs. */
int conv_uses_winograd(const nmt_conv_shape *s, int c_out);
/* Run `batch` (1..plan->shape.n) images through the plan's paths, with
 * `workspace` of `workspace_floats`. Return 0, or -1 (nmt_errmsg says why)
 * when the operands are not the ones planned or the workspace is too small. */
int conv_forward(const conv_plan *plan, int batch, nmt_operand w, const float *bias, const float *x,
                 float *workspace, size_t workspace_floats, float *y, conv_timing *timing);
int conv_backward(const conv_plan *plan, int batch, nmt_operand w_t, const float *x, const float *dy,
                  nmt_mvue_draws wg_draws, nmt_operand dy_bw, float *dw, float *dbias, float *dx, int accumulate_dx, float *workspace,
                  size_t workspace_floats, conv_timing *timing);

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
/* The same over the samples of several processes: `sum` adds a vector of
 * doubles over all of them in place (data-parallel sync batch norm).
 * batchnorm_backward_summed leaves dgamma/dbeta local (they are reduced
 * with the other gradients) but takes dx from the summed statistics. */
typedef int (*bn_sum_fn)(void *ctx, double *values, size_t n);
int batchnorm_forward_train_summed(int channels, int cols, const float *x, const float *gamma, const float *beta,
                                   float *running_mean, float *running_var, float momentum, float eps, bn_saved saved,
                                   float *y, bn_sum_fn sum, void *ctx);
int batchnorm_backward_summed(int channels, int cols, const float *x, const float *gamma, bn_saved saved,
                              const float *dy, float *dgamma, float *dbeta, float *dx, int accumulate, bn_sum_fn sum,
                              void *ctx);
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
 * writes dlogits = d(summed loss)/d(logits) / grad_batch when dlogits is not
 * NULL (grad_batch n: the mean loss's gradient; a data-parallel rank passes
 * the global batch, so its columns equal one process's bit for bit), and
 * counts correct top-1 predictions. */
float cross_entropy(int classes, int n, const float *logits, const int *labels, float smoothing,
                    float *dlogits, int grad_batch, int *correct);

/* ---- transformer layers ----
 * Tokens are the plane (h = tokens, w = 1): a ViT activation is dim x cols
 * with cols = batch * tokens, token t of sample n in column n * tokens + t.
 * A linear layer over tokens is then conv_forward's pointwise GEMM with the
 * tokens as columns: the N:M kernels read it with no transpose or copy. */

/* Class token and position embedding around the patch embedding's output x
 * (dim x batch*patches): tokens = patches + 1, token 0 the class token.
 *   y[d, n*tokens]       = cls[d] + pos[d]
 *   y[d, n*tokens + 1+i] = x[d, n*patches + i] + pos[(1+i)*dim + d]
 * pos is PyTorch's [tokens, dim]. Backward overwrites dx, dcls and dpos. */
void tokens_forward(int dim, int batch, int patches, const float *x, const float *cls, const float *pos, float *y);
void tokens_backward(int dim, int batch, int patches, const float *dy, float *dx, float *dcls, float *dpos);

/* LayerNorm over the dim features of each column (torch.nn.LayerNorm(dim)). */
typedef struct ln_saved {
    float *mean, *rstd; /* per column, from the forward pass */
} ln_saved;
void layernorm_forward(int dim, int cols, const float *x, const float *gamma, const float *beta, float eps,
                       ln_saved saved, float *y);
/* dgamma and dbeta are overwritten; dx added to, or overwritten when
 * accumulate is 0. */
void layernorm_backward(int dim, int cols, const float *x, const float *gamma, ln_saved saved, const float *dy,
                        float *dgamma, float *dbeta, float *dx, int accumulate);

/* GELU, the erf form (torch.nn.GELU()), with erf to 1.5e-7 (Abramowitz and
 * Stegun 7.1.26) so that it vectorises; backward reads the input x. GELU and
 * attention run the copy of their loops compiled for the N:M kernels' path
 * (transformer_kernels.h). */
void gelu_forward(int64_t n, const float *x, float *y);
void gelu_backward(int64_t n, const float *x, const float *dy, float *dx, int accumulate);

/* Multi-head self-attention core: qkv (3*dim x cols, timm's feature order
 * which * dim + head * head_dim + e) -> y (dim x cols, feature
 * head * head_dim + e) = softmax(Q K^T / sqrt(head_dim)) V per sample and
 * head. The forward keeps each query row's log-sum-exp (lse: batch * heads *
 * tokens floats); the backward recomputes the scores from it a row at a
 * time, so neither direction holds more than one row of one head's scores
 * per thread. workspace: threads * attention_workspace_floats; the passes
 * run on `threads` OpenMP threads, each on whole (sample, head) pairs. */
typedef struct attention_shape {
    int batch, tokens, heads, head_dim;
} attention_shape;
size_t attention_workspace_floats(const attention_shape *s);
void attention_forward(const attention_shape *s, const float *qkv, float *lse, float *workspace, int threads,
                       float *y);
/* dqkv added to, or overwritten when accumulate is 0. */
void attention_backward(const attention_shape *s, const float *qkv, const float *y, const float *lse,
                        const float *dy, float *workspace, int threads, float *dqkv, int accumulate);

/* The dense linear layers' GEMM (the skinny path of conv_plan): C (M x N,
 * row-major) = A B + bias (one per row; NULL: none), or C += A B with
 * accumulate; A(m, k) = a[m * a_m + k * a_k] (a row-major W, or its
 * transpose), B row-major K x N. Register tiles over panels of B's columns,
 * in the N:M kernels' instruction set, on the OpenMP threads. */
void skinny_gemm(int M, int N, int K, const float *a, int64_t a_m, int64_t a_k, const float *b, const float *bias,
                 float *c, int accumulate);
/* Their weight gradient: C (M x K) = A B^T, A (M x N) and B (K x N)
 * row-major; C overwritten. Each OpenMP thread after the first sums its
 * share of the columns in M x K floats of the workspace: as many threads
 * run as it holds (skinny_gemm_nt_workspace_floats: for all of them). */
size_t skinny_gemm_nt_workspace_floats(int M, int K);
void skinny_gemm_nt(int M, int K, int N, const float *a, const float *b, float *c, float *workspace,
                    size_t workspace_floats);

/* Class-token pooling: y (dim x batch) = token 0 of each sample. Backward
 * adds dy there (overwrite: zeros elsewhere). */
void token_pool_forward(int dim, int batch, int tokens, const float *x, float *y);
void token_pool_backward(int dim, int batch, int tokens, const float *dy, float *dx, int accumulate);

/* ---- dropout (torch.nn.Dropout(p), training only) ----
 * Element (channel c, sample n, position t) of a channels x (batch * plane)
 * activation is kept when nmt_rng_counter_uniform(key, ((first_sample + n)
 * * channels + c) * plane + t) >= p, and then scaled by 1 / (1 - p) (as
 * PyTorch's CPU kernel: x * (1 / (1 - p)) in float), else zeroed.
 * first_sample is the batch's first sample in the global batch (a rank's
 * share), so the masks do not depend on the batch split or the threads.
 * The backward applies the same draws to the gradient: no mask is kept. */
typedef struct dropout_draws {
    uint64_t key;
    float p;                /* in [0, 1) */
    int channels, plane;
    int64_t first_sample;
} dropout_draws;
float dropout_scale(float p);
int dropout_keeps(const dropout_draws *d, int n, int c, int t);
/* x (channels x batch * plane) in place: the forward on the output, the
 * backward on the output's gradient. */
void dropout_apply(const dropout_draws *d, int batch, float *x);

#pragma GCC visibility pop

#endif

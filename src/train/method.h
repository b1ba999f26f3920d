/* The training method as a strategy the GEMM layers consult:
 *   - which operand the forward and backward-data GEMMs read,
 *   - how the output gradient is transformed for backward-data (SDGP),
 *   - the correction added to the dense weight gradient (SR-STE decay),
 *   - when and how the sparse operands are regenerated (pre-generation).
 * Layers never switch on the method themselves. */
#ifndef NMT_TRAIN_METHOD_H
#define NMT_TRAIN_METHOD_H

#include "layers/layers.h"
#include "nmtrain/core.h"
#include "nmtrain/model.h"
#include "nmtrain/train.h"

/* Not part of the library's interface: hidden from its users (Makefile). */
#pragma GCC visibility push(hidden)

/* Sparse state of one conv/linear layer, carved from the network's arena. */
typedef struct method_layer {
    int c_out, k;                 /* W is c_out x k, k ordered (kh, kw, ci) */
    int c_in, taps;               /* taps = kh * kw */
    nmt_layer_sparsity rule;      /* the method's rule for this layer (nmtrain/sparsity.h) */
    int fw_sparse, bw_sparse;     /* which GEMMs read a packed N:M weight operand */
    int dy_pruned;                /* SDGP prunes dY for backward-data */
    nmt_packed fw;                /* pre-generated forward operand */
    nmt_packed bw;                /* backward-data operand, packed into the scratch when needed */
    uint8_t *mask_in;             /* c_out x k: srste/bdwp m_in, held between refreshes (--mask-interval > 1) */
    uint8_t *mask_out;            /* k x c_out (W^T): bdwp backward operand */
    uint8_t *mask_t;              /* tnm: transposable mask, c_out x k */
    int bw_masked;                /* srste: backward-data reads W * m_in (dense, built when needed) */
} method_layer;

/* Takes the layer's sparse directions from the method's rule and reserves
 * its buffers. `arena` may be a measuring arena (then pointers stay NULL). */
void method_layer_plan(const nmt_method_config *cfg, const nmt_node *node, nmt_arena *arena, method_layer *layer);
/* Regenerates the operands from the current dense weights: with new_masks,
 * the masks are recomputed first; otherwise the held masks gather the new
 * weight values (--mask-interval T > 1 between mask refreshes). */
void method_layer_refresh(const nmt_method_config *cfg, method_layer *layer, const float *w, int new_masks);
nmt_operand method_fw_operand(const method_layer *layer, const float *w);
/* The masks the layer holds between refreshes, as (name, data) pairs, each
 * c_out x k bytes of 0/1: "in" (m_in, c_out x k), "out" (m_out, k x c_out),
 * "t" (m_t, c_out x k). Returns how many (0 to 3). */
int method_layer_masks(method_layer *layer, const char **names, uint8_t **masks);
/* 0 when every held mask keeps at most N of each group it must (along k for
 * m_in and m_t, along c_out for m_out and m_t); else -1 with the mask's name
 * in *bad. */
int method_layer_check_masks(const nmt_method_config *cfg, const method_layer *layer, const char **bad);
/* The backward-data operand, built into `scratch` (method_bw_scratch_floats
 * of them; one buffer serves every layer, as backward-data runs layer by
 * layer): SR-STE's W * m_in, or BDWP's and TNM's packed W^T, from the same
 * weights and masks the forward operand came from (the optimiser has not
 * run in between). Held for every layer, they cost as much memory as the
 * weights (SR-STE) or half of them (a packed 2:4 W^T). */
size_t method_bw_scratch_floats(const method_layer *layer);
nmt_operand method_bw_operand(const nmt_method_config *cfg, method_layer *layer, const float *w, float *scratch);
/* The output gradient backward-data reads. Other methods: dy itself
 * (.dense). SDGP: dY pruned N:M along channels at each pixel and
 * L1-rescaled, packed with the pixels as rows (*packed: rows = cols,
 * k = c_out), so backward-data runs as dcol^T = dY_pruned^T W through the
 * N:M kernel. Its values and index are carved from scratch, which holds
 * method_bw_dy_scratch_bytes (64-byte aligned). */
size_t method_bw_dy_scratch_bytes(const nmt_method_config *cfg, const method_layer *layer, int cols);
nmt_operand method_bw_dy(const nmt_method_config *cfg, const method_layer *layer, int cols, const float *dy,
                         void *scratch, nmt_packed *packed);
/* SR-STE decay: dW += lambda * (1 - m_in) * W where the layer prunes W
 * along inputs; m_in is read off the packed forward operand. */
void method_correct_wg(const nmt_method_config *cfg, const method_layer *layer, const float *w, float *dw);

#pragma GCC visibility pop

#endif

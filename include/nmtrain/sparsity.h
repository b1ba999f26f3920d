/* nmtrain/sparsity.h: the training methods and their rules (BDWP spec).
 *
 * The one owner of what a method does to a layer: the method names, their
 * defaults, and which of a layer's three GEMMs (forward FW, backward-data
 * BW, weight-gradient WG) read an N:M operand, which operand and along which
 * axis, or why the GEMM stays dense. The training engine and the simulator
 * both ask nmt_layer_sparsity, so they cannot disagree. */
#ifndef NMTRAIN_SPARSITY_H
#define NMTRAIN_SPARSITY_H

#include "nmtrain/model.h"
#include "nmtrain/nm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nmt_method_kind {
    NMT_METHOD_DENSE,
    NMT_METHOD_SRSTE,
    NMT_METHOD_BDWP,
    NMT_METHOD_SDGP,
    NMT_METHOD_TNM,
    NMT_METHOD_COUNT
} nmt_method_kind;

typedef struct nmt_method_config {
    nmt_method_kind kind;
    nmt_nm nm;
    float decay;            /* SR-STE decay lambda (srste, bdwp); default 2e-4 */
    int mask_interval;      /* refresh sparse operands every T steps; 0 = method default */
    int sparse_classifier;  /* make the classifier sparse when divisible */
    nmt_nm grad_nm;         /* {0, 0}: dense weight gradients; 1:2 or 2:4: dY MVUE-pruned for WG (any method) */
} nmt_method_config;

/* Parses "dense", "srste", "bdwp", "sdgp", "tnm". */
int nmt_method_parse(const char *name, nmt_method_kind *out);
const char *nmt_method_name(nmt_method_kind kind);
/* The names, comma separated, for help texts. */
const char *nmt_method_names(void);
/* Fills the spec's defaults for `kind` (decay 2e-4 for srste and bdwp,
 * mask interval 1, or 40 for tnm). */
void nmt_method_defaults(nmt_method_kind kind, nmt_nm nm, nmt_method_config *out);
/* The mask interval in effect: the configured one, or the method's default. */
int nmt_method_mask_interval(const nmt_method_config *method);
/* Parses the weight-gradient ratio: "1:2" or "2:4" (the unbiased MVUE rule
 * exists for these). */
int nmt_grad_nm_parse(const char *text, nmt_nm *out);

/* The three GEMMs of a conv, linear or patch-embedding layer. */
typedef enum nmt_gemm_kind { NMT_GEMM_FW, NMT_GEMM_BW, NMT_GEMM_WG, NMT_GEMM_KINDS } nmt_gemm_kind;

/* A GEMM's N:M operand, which names the axis its groups run along (always
 * that GEMM's reduction). */
typedef enum nmt_nm_operand {
    NMT_NM_NONE,        /* dense */
    NMT_NM_W_IN,        /* W * m_in, groups along input channels (FW of srste, bdwp) */
    NMT_NM_W_OUT,       /* W^T * m_out, groups along output channels (BW of bdwp) */
    NMT_NM_W_T,         /* W * m_t, transposable: along inputs in FW, outputs in BW (tnm) */
    NMT_NM_DY_CHANNELS, /* dY pruned along output channels at each position (BW of sdgp) */
    NMT_NM_DY_POSITIONS,/* dY MVUE-pruned along (image, position) at each output channel (WG, grad_nm) */
} nmt_nm_operand;

typedef struct nmt_layer_sparsity {
    int is_gemm;                          /* conv, linear or patch embedding */
    int has_bw;                           /* computes backward-data (not fed by the model input) */
    nmt_nm nm;                            /* the ratio the sparse FW and BW GEMMs run at */
    nmt_nm wg_nm;                         /* the ratio of an N:M WG (the method's grad_nm) */
    nmt_nm_operand gemm[NMT_GEMM_KINDS];  /* per GEMM: its N:M operand, or NMT_NM_NONE */
    int bw_masked;                        /* srste: BW reads W * m_in, sparse but not N:M along Cout */
    int decays;                           /* the SR-STE decay term applies to dW */
    char why[96];                         /* why each direction is sparse or dense */
} nmt_layer_sparsity;

/* The rule, a pure function of the node, the method, the ratio and the
 * exemption flag: a direction whose grouped dimension is not a multiple of
 * M stays dense; the classifier stays dense unless sparse_classifier; the
 * first layer (fed by the model input) has no BW; N >= M is dense. With
 * grad_nm, WG of every layer but an exempt classifier prunes dY along its
 * reduction (image, position), under every method, dense included. */
void nmt_layer_sparsity_of(const nmt_node *node, const nmt_method_config *method, nmt_layer_sparsity *out);
/* Whether the GEMM reads an N:M operand. */
static inline int nmt_gemm_is_nm(const nmt_layer_sparsity *s, nmt_gemm_kind g)
{
    return s->gemm[g] != NMT_NM_NONE;
}
/* MACs a layer executes: N/M of `dense` in each N:M GEMM (WG at wg_nm). */
nmt_macs nmt_layer_sparsity_macs(const nmt_layer_sparsity *s, nmt_macs dense);

#ifdef __cplusplus
}
#endif
#endif

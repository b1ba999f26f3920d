/* Architecture dispatch and per-node counts (parameters, MACs). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nmtrain/core.h"
#include "nmtrain/kernels.h"
#include "models/models.h"
#include "models/vit.h"

typedef struct arch_entry {
    const char *name;
    int (*describe)(const nmt_model_config *cfg, nmt_model_desc *out);
} arch_entry;

static const arch_entry archs[] = {
    {"resnet9", nmt_describe_resnet9},
    {"resnet18", nmt_describe_resnet18},
    {"resnet50", nmt_describe_resnet50},
    {"vgg19", nmt_describe_vgg19},
    {"vit", nmt_describe_vit},
};

const char *nmt_model_archs(void)
{
    return "resnet9, resnet18, resnet50, vgg19, vit";
}

int nmt_model_describe(const nmt_model_config *cfg, nmt_model_desc *out)
{
    if (!cfg->arch) {
        nmt_error("no model architecture given (choose one of %s)", nmt_model_archs());
        return -1;
    }
    if (!(cfg->width > 0.0f && cfg->width <= 64.0f)) {
        nmt_error("model width multiplier %g must be in (0, 64]", (double)cfg->width);
        return -1;
    }
    if (cfg->in_c < 1 || cfg->in_h < 1 || cfg->in_w < 1 || cfg->classes < 2 || cfg->in_c > NMT_MODEL_MAX_DIM ||
        cfg->in_h > NMT_MODEL_MAX_DIM || cfg->in_w > NMT_MODEL_MAX_DIM || cfg->classes > NMT_MODEL_MAX_CLASSES) {
        nmt_error("model input %dx%dx%d with %d classes is not valid (each of C, H, W in 1..%d, classes in 2..%d)",
                  cfg->in_c, cfg->in_h, cfg->in_w, cfg->classes, NMT_MODEL_MAX_DIM, NMT_MODEL_MAX_CLASSES);
        return -1;
    }
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(cfg->arch, archs[i].name))
            return archs[i].describe(cfg, out) != 0 || nmt_model_check_limits(out) != 0 ? -1 : 0;
    nmt_error("unknown model '%s' (choose one of %s)", cfg->arch, nmt_model_archs());
    return -1;
}

/* A node's per-sample MACs of one GEMM direction, in 128 bits so the
 * check itself cannot overflow. */
static __int128 node_macs_wide(const nmt_node *n)
{
    switch (n->op) {
    case NMT_OP_CONV:
    case NMT_OP_PATCH_EMBED:
        return (__int128)n->c_in * n->kh * n->kw * n->c_out * n->h_out * n->w_out;
    case NMT_OP_LINEAR:
        return (__int128)n->c_in * n->c_out * n->h_in * n->w_in;
    case NMT_OP_ATTENTION:
        return (__int128)4 * n->h_in * n->h_in * n->c_in;
    default:
        return 0;
    }
}

int nmt_model_check_dropout(const nmt_model_desc *desc, float p)
{
    if (!(p >= 0.0f && p < 1.0f)) {
        nmt_error("dropout %g is not a probability in [0, 1)", (double)p);
        return -1;
    }
    int sites = 0;
    for (int i = 0; i < desc->n_nodes; i++) sites += desc->nodes[i].dropout;
    if (p > 0.0f && !sites) {
        nmt_error("dropout %g: model %s has no dropout (it is a ViT option)", (double)p, desc->arch);
        return -1;
    }
    return 0;
}

int nmt_model_check_limits(const nmt_model_desc *desc)
{
    for (int i = 0; i < desc->n_nodes; i++) {
        const nmt_node *n = &desc->nodes[i];
        const __int128 out = (__int128)n->c_out * n->h_out * n->w_out, in = (__int128)n->c_in * n->h_in * n->w_in;
        if (out > INT32_MAX || in > INT32_MAX || node_macs_wide(n) > NMT_MODEL_MAX_NODE_MACS) {
            nmt_error("model %s: layer %s (%dx%dx%d -> %dx%dx%d) is beyond the supported size (at most %d values "
                      "and 2^52 MACs per sample and layer)",
                      desc->arch, n->name, n->c_in, n->h_in, n->w_in, n->c_out, n->h_out, n->w_out, INT32_MAX);
            return -1;
        }
    }
    return 0;
}

int nmt_shape_parse(const char *text, int *c, int *h, int *w)
{
    int dims[3];
    const char *at = text;
    for (int d = 0; d < 3; d++) {
        char *end;
        errno = 0;
        const long v = at[0] >= '0' && at[0] <= '9' ? strtol(at, &end, 10) : -1;
        if (v < 1 || errno == ERANGE || v > NMT_MODEL_MAX_DIM || *end != (d < 2 ? 'x' : '\0')) {
            nmt_error("'%s' is not CxHxW with each of C, H, W in 1..%d", text, NMT_MODEL_MAX_DIM);
            return -1;
        }
        dims[d] = (int)v;
        at = end + 1;
    }
    *c = dims[0], *h = dims[1], *w = dims[2];
    return 0;
}

const char *nmt_op_name(nmt_op op)
{
    static const char *const names[NMT_OP_COUNT] = {
        [NMT_OP_CONV] = "conv", [NMT_OP_LINEAR] = "linear", [NMT_OP_BATCHNORM] = "batchnorm",
        [NMT_OP_RELU] = "relu", [NMT_OP_MAXPOOL] = "maxpool", [NMT_OP_AVGPOOL] = "avgpool",
        [NMT_OP_ADAPTIVE_MAXPOOL] = "adaptive_maxpool", [NMT_OP_ADD] = "add",
        [NMT_OP_FLATTEN] = "flatten", [NMT_OP_SCALE] = "scale", [NMT_OP_PATCH_EMBED] = "patch_embed",
        [NMT_OP_LAYERNORM] = "layernorm", [NMT_OP_GELU] = "gelu", [NMT_OP_ATTENTION] = "attention",
        [NMT_OP_TOKEN_POOL] = "token_pool",
    };
    return (op >= 0 && op < NMT_OP_COUNT && names[op]) ? names[op] : "?";
}

int64_t nmt_node_patches(const nmt_node *n)
{
    const int stride = n->stride > 0 ? n->stride : 1;
    return (int64_t)(n->h_in / stride) * (n->w_in / stride);
}

nmt_macs nmt_node_macs(const nmt_node *n)
{
    nmt_macs m = {0, 0, 0};
    int64_t per_output;
    switch (n->op) {
    case NMT_OP_CONV:
        per_output = (int64_t)n->c_in * n->kh * n->kw;
        m.fw = m.wg = m.bw = per_output * n->c_out * n->h_out * n->w_out;
        break;
    case NMT_OP_PATCH_EMBED: /* per patch: the class token is no convolution output */
        per_output = (int64_t)n->c_in * n->kh * n->kw;
        m.fw = m.wg = m.bw = per_output * n->c_out * nmt_node_patches(n);
        break;
    case NMT_OP_LINEAR: /* per token when h > 1 (transformers) */
        m.fw = m.wg = m.bw = (int64_t)n->c_in * n->c_out * n->h_in * n->w_in;
        break;
    case NMT_OP_ATTENTION: /* Q K^T and A V; backward needs both operands' gradients */
        m.fw = 2 * (int64_t)n->h_in * n->h_in * n->c_in;
        m.bw = 2 * m.fw;
        break;
    default:
        break;
    }
    /* Nothing upstream needs the gradient of the model input. */
    if (n->input < 0) m.bw = 0;
    return m;
}

/* Floor division for a positive divisor. */
static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Sum over the `out` output positions along one axis of the kernel taps
 * that land inside the input: per tap i, the outputs o in [0, out) with
 * 0 <= o*stride - pad + i < in, counted in closed form. */
static int64_t taps_inside(int out, int in, int k, int stride, int pad)
{
    int64_t count = 0;
    for (int i = 0; i < k; i++) {
        int64_t lo = -floor_div(-(int64_t)(pad - i), stride); /* ceil((pad - i) / stride) */
        int64_t hi = floor_div((int64_t)in - 1 + pad - i, stride);
        if (lo < 0) lo = 0;
        if (hi > out - 1) hi = out - 1;
        if (hi >= lo) count += hi - lo + 1;
    }
    return count;
}

int64_t nmt_node_padding_macs(const nmt_node *n)
{
    if (n->op != NMT_OP_CONV) return 0;
    const int64_t all = (int64_t)n->kh * n->kw * n->h_out * n->w_out;
    const int64_t inside = taps_inside(n->h_out, n->h_in, n->kh, n->stride, n->pad) *
                           taps_inside(n->w_out, n->w_in, n->kw, n->stride, n->pad);
    return (all - inside) * n->c_in * n->c_out;
}

int nmt_node_winograd(const nmt_node *n)
{
    const nmt_conv_shape s = {.c = n->c_in, .n = 1, .h = n->h_in, .w = n->w_in, .kh = n->kh, .kw = n->kw,
                              .stride = n->stride, .pad = n->pad, .ho = n->h_out, .wo = n->w_out};
    return n->op == NMT_OP_CONV && nmt_winograd_applies(&s, n->c_out);
}

int64_t nmt_node_params(const nmt_node *n)
{
    switch (n->op) {
    case NMT_OP_CONV:
        return (int64_t)n->c_out * n->c_in * n->kh * n->kw + (n->bias ? n->c_out : 0);
    case NMT_OP_PATCH_EMBED: /* + class token and position embedding */
        return (int64_t)n->c_out * n->c_in * n->kh * n->kw + (n->bias ? n->c_out : 0) + n->c_out +
               (int64_t)n->c_out * n->h_out * n->w_out;
    case NMT_OP_LINEAR:
        return (int64_t)n->c_out * n->c_in + (n->bias ? n->c_out : 0);
    case NMT_OP_BATCHNORM:
    case NMT_OP_LAYERNORM:
        return 2 * (int64_t)n->c_in;
    default:
        return 0;
    }
}

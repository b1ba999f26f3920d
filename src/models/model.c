/* Architecture dispatch and per-node counts (parameters, MACs). */
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
    if (cfg->in_c < 1 || cfg->in_h < 1 || cfg->in_w < 1 || cfg->classes < 2) {
        nmt_error("model input %dx%dx%d with %d classes is not valid", cfg->in_c, cfg->in_h, cfg->in_w,
                  cfg->classes);
        return -1;
    }
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(cfg->arch, archs[i].name)) return archs[i].describe(cfg, out);
    nmt_error("unknown model '%s' (choose one of %s)", cfg->arch, nmt_model_archs());
    return -1;
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

nmt_macs nmt_node_macs(const nmt_node *n)
{
    nmt_macs m = {0, 0, 0};
    int64_t per_output;
    switch (n->op) {
    case NMT_OP_CONV:
    case NMT_OP_PATCH_EMBED:
        per_output = (int64_t)n->c_in * n->kh * n->kw;
        m.fw = m.wg = m.bw = per_output * n->c_out * n->h_out * n->w_out;
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

/* Sum over the `out` output positions along one axis of the kernel taps
 * that land inside the input. */
static int64_t taps_inside(int out, int in, int k, int stride, int pad)
{
    int64_t count = 0;
    for (int o = 0; o < out; o++)
        for (int i = 0; i < k; i++) {
            const int at = o * stride - pad + i;
            count += at >= 0 && at < in;
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
    case NMT_OP_PATCH_EMBED:
        return (int64_t)n->c_out * n->c_in * n->kh * n->kw + (n->bias ? n->c_out : 0);
    case NMT_OP_LINEAR:
        return (int64_t)n->c_out * n->c_in + (n->bias ? n->c_out : 0);
    case NMT_OP_BATCHNORM:
    case NMT_OP_LAYERNORM:
        return 2 * (int64_t)n->c_in;
    default:
        return 0;
    }
}

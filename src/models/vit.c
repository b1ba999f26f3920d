/* ViT description (timm's module names: patch_embed, blocks.<i>.norm1,
 * blocks.<i>.attn.qkv, blocks.<i>.attn.proj, blocks.<i>.mlp.fc1, ...; the
 * engine names the patch convolution's tensors patch_embed.proj.*, and the
 * class token and position embedding cls_token and pos_embed, as timm). */
#include <stdio.h>
#include <string.h>

#include "nmtrain/core.h"
#include "models/builder.h"
#include "models/vit.h"

/* Appends a node whose shape the builder cannot infer. */
static int add_raw(model_builder *b, const nmt_node *proto)
{
    nmt_model_desc *d = b->desc;
    if (b->failed) return -1;
    if (d->n_nodes >= NMT_MAX_NODES) {
        nmt_error("model %s: more than %d nodes", d->arch, NMT_MAX_NODES);
        b->failed = 1;
        return -1;
    }
    d->nodes[d->n_nodes] = *proto;
    return d->n_nodes++;
}

/* Where timm's VisionTransformer applies drop_rate: after the position
 * embedding, the attention's output projection, the MLP's GELU and fc2. */
static void mark_dropout(model_builder *b, int node)
{
    if (node >= 0) b->desc->nodes[node].dropout = 1;
}

int nmt_describe_vit(const nmt_model_config *cfg, nmt_model_desc *out)
{
    const int patch = cfg->patch ? cfg->patch : 4, dim = cfg->dim ? cfg->dim : 192;
    const int depth = cfg->depth ? cfg->depth : 6, heads = cfg->heads ? cfg->heads : 3;
    const int mlp = cfg->mlp_dim ? cfg->mlp_dim : 384;
    if (patch < 1 || dim < 1 || depth < 1 || heads < 1 || mlp < 1) {
        nmt_error("vit: patch %d, dim %d, depth %d, heads %d, mlp_dim %d must all be positive", patch, dim, depth,
                  heads, mlp);
        return -1;
    }
    if (dim % heads) {
        nmt_error("vit: dim %d is not a multiple of heads %d", dim, heads);
        return -1;
    }
    if (cfg->in_c < 1 || cfg->in_h < patch || cfg->in_w < patch || cfg->in_h % patch || cfg->in_w % patch) {
        nmt_error("vit: input %dx%dx%d is not a whole number of %dx%d patches", cfg->in_c, cfg->in_h, cfg->in_w,
                  patch, patch);
        return -1;
    }
    if (cfg->classes < 2) {
        nmt_error("vit: %d classes (need at least 2)", cfg->classes);
        return -1;
    }
    /* the patches and the class token */
    const int tokens = (cfg->in_h / patch) * (cfg->in_w / patch) + 1;
    model_builder b;
    builder_start(&b, out, cfg, "vit");

    nmt_node n;
    memset(&n, 0, sizeof n);
    n.op = NMT_OP_PATCH_EMBED;
    snprintf(n.name, sizeof n.name, "patch_embed");
    n.input = -1, n.input2 = -1;
    n.c_in = cfg->in_c, n.h_in = cfg->in_h, n.w_in = cfg->in_w;
    n.c_out = dim, n.h_out = tokens, n.w_out = 1;
    n.kh = n.kw = n.stride = patch;
    n.bias = 1;
    int x = add_raw(&b, &n);
    mark_dropout(&b, x); /* timm's pos_drop */

    char name[NMT_NAME_MAX], name2[NMT_NAME_MAX];
    for (int i = 0; i < depth; i++) {
        snprintf(name, sizeof name, "blocks.%d.norm1", i);
        int h = builder_unary(&b, NMT_OP_LAYERNORM, name, x);
        snprintf(name, sizeof name, "blocks.%d.attn.qkv", i);
        h = builder_linear(&b, name, h, 3 * dim, 1);
        memset(&n, 0, sizeof n);
        n.op = NMT_OP_ATTENTION;
        snprintf(n.name, sizeof n.name, "blocks.%d.attn", i);
        n.input = h, n.input2 = -1;
        n.c_in = n.c_out = dim;
        n.h_in = n.h_out = tokens;
        n.w_in = n.w_out = 1;
        n.kh = n.kw = n.stride = 1;
        n.heads = heads;
        h = add_raw(&b, &n);
        snprintf(name, sizeof name, "blocks.%d.attn.proj", i);
        h = builder_linear(&b, name, h, dim, 1);
        mark_dropout(&b, h); /* attn.proj_drop */
        snprintf(name2, sizeof name2, "blocks.%d.add1", i);
        x = builder_add(&b, name2, h, x);
        snprintf(name, sizeof name, "blocks.%d.norm2", i);
        h = builder_unary(&b, NMT_OP_LAYERNORM, name, x);
        snprintf(name, sizeof name, "blocks.%d.mlp.fc1", i);
        h = builder_linear(&b, name, h, mlp, 1);
        snprintf(name, sizeof name, "blocks.%d.mlp.act", i);
        h = builder_unary(&b, NMT_OP_GELU, name, h);
        mark_dropout(&b, h); /* mlp.drop1 */
        snprintf(name, sizeof name, "blocks.%d.mlp.fc2", i);
        h = builder_linear(&b, name, h, dim, 1);
        mark_dropout(&b, h); /* mlp.drop2 */
        snprintf(name2, sizeof name2, "blocks.%d.add2", i);
        x = builder_add(&b, name2, h, x);
        if (x < 0) return -1;
    }
    x = builder_unary(&b, NMT_OP_LAYERNORM, "norm", x);
    memset(&n, 0, sizeof n);
    n.op = NMT_OP_TOKEN_POOL;
    snprintf(n.name, sizeof n.name, "pool");
    n.input = x, n.input2 = -1;
    n.c_in = n.c_out = dim;
    n.h_in = tokens, n.w_in = 1;
    n.h_out = n.w_out = 1;
    n.kh = n.kw = n.stride = 1;
    x = add_raw(&b, &n);
    builder_linear(&b, "head", x, cfg->classes, 1);
    return builder_finish(&b);
}

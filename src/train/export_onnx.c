/* The trained network as an ONNX graph (nmt_export_onnx) and its N:M
 * weights in PyTorch's 2:4 semi-structured layout (nmt_export_semi_structured).
 * The graph follows the model description node by node, so it is the
 * network `nmtrain eval` runs: batch norm in inference form, each sparse
 * layer's weight as its forward GEMM reads it. A layer ONNX has no single
 * operator for (a ViT's layer norm, GELU, attention, patch embedding) is a
 * short chain of opset-13 operators whose tensors are named
 * "<layer>.<step>". docs/export.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmtrain/core.h"
#include "nmtrain/io.h"
#include "nmtrain/train.h"

#define OPSET 13
#define NAME_SIZE (NMT_NAME_MAX + 32)

/* Adds parameter `name` as an initializer in PyTorch's layout. */
static int add_named_param(nmt_net *net, nmt_onnx *m, const char *name)
{
    nmt_param *p = nmt_net_find_param(net, name);
    float *copy = p ? malloc(sizeof(float) * (size_t)p->count) : NULL;
    if (!p || !copy || nmt_param_inference_copy(net, p, copy) != 0) {
        if (!p) nmt_error("model %s: no parameter '%s'", nmt_net_desc(net)->arch, name);
        else if (!copy) nmt_error("out of memory copying '%s'", name);
        free(copy);
        return -1;
    }
    nmt_onnx_initializer(m, name, p->ndim, p->shape, copy);
    free(copy);
    return 0;
}

/* Adds parameter "<node>.<suffix>" as an initializer and names it in `name`. */
static int add_param(nmt_net *net, nmt_onnx *m, const nmt_node *node, const char *suffix, char *name)
{
    snprintf(name, NAME_SIZE, "%s.%s", node->name, suffix);
    return add_named_param(net, m, name);
}

/* Why a node has no ONNX form, or NULL. */
static const char *unsupported(const nmt_node *n)
{
    switch (n->op) {
    case NMT_OP_ADAPTIVE_MAXPOOL:
        if (!(n->h_out == 1 && n->w_out == 1) && (n->h_in % n->h_out || n->w_in % n->w_out))
            return "an adaptive max pool whose bins differ in size has no ONNX operator";
        return NULL;
    case NMT_OP_CONV: case NMT_OP_LINEAR: case NMT_OP_BATCHNORM: case NMT_OP_RELU: case NMT_OP_MAXPOOL:
    case NMT_OP_AVGPOOL: case NMT_OP_ADD: case NMT_OP_FLATTEN: case NMT_OP_SCALE: case NMT_OP_PATCH_EMBED:
    case NMT_OP_LAYERNORM: case NMT_OP_GELU: case NMT_OP_ATTENTION: case NMT_OP_TOKEN_POOL:
        return NULL;
    default:
        return "the ONNX exporter does not know this layer type";
    }
}

static nmt_onnx_attr ints_attr(const char *name, int n, const int64_t *v)
{
    nmt_onnx_attr a = {.name = name, .type = NMT_ONNX_INTS, .n_ints = n, .ints = v};
    return a;
}

/* Emits step "<layer>.<what>" of a layer's chain (node and output share the
 * name, written to `name`) and returns its output. */
static const char *step(nmt_onnx *m, const nmt_node *n, const char *what, const char *op, int n_in,
                        const char *const *in, int n_attrs, const nmt_onnx_attr *attrs, char *name)
{
    snprintf(name, NAME_SIZE, "%s.%s", n->name, what);
    nmt_onnx_node(m, op, name, n_in, in, name, n_attrs, attrs);
    return name;
}

/* A binary step with no attributes. */
static const char *step2(nmt_onnx *m, const nmt_node *n, const char *what, const char *op, const char *a,
                         const char *b, char *name)
{
    const char *in[2] = {a, b};
    return step(m, n, what, op, 2, in, 0, NULL, name);
}

/* Constant "<layer>.<what>": a float32 scalar, or int64 values (a scalar if ndim is 0). */
static const char *const_float(nmt_onnx *m, const nmt_node *n, const char *what, float value, char *name)
{
    snprintf(name, NAME_SIZE, "%s.%s", n->name, what);
    nmt_onnx_initializer(m, name, 0, NULL, &value);
    return name;
}

static const char *const_ints(nmt_onnx *m, const nmt_node *n, const char *what, int ndim, int count,
                              const int64_t *values, char *name)
{
    const int64_t dims[1] = {count};
    snprintf(name, NAME_SIZE, "%s.%s", n->name, what);
    nmt_onnx_initializer_int64(m, name, ndim, dims, values);
    return name;
}

/* A linear layer on tokens (N, T, in): MatMul by the transposed [out, in]
 * weight, then the bias, as torch.onnx writes nn.Linear on 3-D input. */
static int linear_tokens(nmt_net *net, nmt_onnx *m, const nmt_node *n, const char *in, const char *out)
{
    char w[NAME_SIZE], b[NAME_SIZE], wt[NAME_SIZE], product[NAME_SIZE];
    if (add_param(net, m, n, "weight", w) || (n->bias && add_param(net, m, n, "bias", b))) return -1;
    const int64_t perm[2] = {1, 0};
    const nmt_onnx_attr perm_attr = ints_attr("perm", 2, perm);
    const char *w_in = w;
    step(m, n, "weight_t", "Transpose", 1, &w_in, 1, &perm_attr, wt);
    const char *inputs[2] = {in, wt};
    if (!n->bias) {
        nmt_onnx_node(m, "MatMul", n->name, 2, inputs, out, 0, NULL);
        return 0;
    }
    step(m, n, "matmul", "MatMul", 2, inputs, 0, NULL, product);
    inputs[0] = product, inputs[1] = b;
    nmt_onnx_node(m, "Add", n->name, 2, inputs, out, 0, NULL);
    return 0;
}

/* Patch embedding: Conv (kernel = stride = patch) -> (N, dim, P) -> tokens
 * (N, P, dim); the class token expanded to the batch goes first, then the
 * position embedding is added. */
static int patch_embed(nmt_net *net, nmt_onnx *m, const nmt_node *n, const char *in, const char *out)
{
    char w[NAME_SIZE], b[NAME_SIZE], shape[NAME_SIZE], proj[NAME_SIZE], flat[NAME_SIZE], tokens[NAME_SIZE];
    char in_shape[NAME_SIZE], first[NAME_SIZE], batch[NAME_SIZE], tail[NAME_SIZE], cls_shape[NAME_SIZE];
    char cls[NAME_SIZE], joined[NAME_SIZE];
    if (add_param(net, m, n, "proj.weight", w) || (n->bias && add_param(net, m, n, "proj.bias", b)) ||
        add_named_param(net, m, "cls_token") || add_named_param(net, m, "pos_embed"))
        return -1;
    const int64_t kernel[2] = {n->kh, n->kw}, strides[2] = {n->stride, n->stride};
    const nmt_onnx_attr conv_attrs[2] = {ints_attr("kernel_shape", 2, kernel), ints_attr("strides", 2, strides)};
    const char *conv_in[3] = {in, w, b};
    step(m, n, "proj", "Conv", n->bias ? 3 : 2, conv_in, 2, conv_attrs, proj);
    const int64_t flat_shape[3] = {0, n->c_out, -1}, perm[3] = {0, 2, 1};
    step2(m, n, "flatten", "Reshape", proj, const_ints(m, n, "flatten_shape", 1, 3, flat_shape, shape), flat);
    const nmt_onnx_attr perm_attr = ints_attr("perm", 3, perm);
    const char *flat_in = flat;
    step(m, n, "tokens", "Transpose", 1, &flat_in, 1, &perm_attr, tokens);
    /* the class token's shape (N, 1, dim) from the input's batch */
    const int64_t zero = 0, cls_tail[2] = {1, n->c_out};
    step(m, n, "input_shape", "Shape", 1, &in, 0, NULL, in_shape);
    step2(m, n, "batch", "Gather", in_shape, const_ints(m, n, "batch_index", 1, 1, &zero, first), batch);
    const nmt_onnx_attr axis0 = {.name = "axis", .type = NMT_ONNX_INT, .i = 0};
    const char *shape_parts[2] = {batch, const_ints(m, n, "cls_tail", 1, 2, cls_tail, tail)};
    step(m, n, "cls_shape", "Concat", 2, shape_parts, 1, &axis0, cls_shape);
    step2(m, n, "cls", "Expand", "cls_token", cls_shape, cls);
    const nmt_onnx_attr axis1 = {.name = "axis", .type = NMT_ONNX_INT, .i = 1};
    const char *parts[2] = {cls, tokens};
    step(m, n, "with_cls", "Concat", 2, parts, 1, &axis1, joined);
    const char *add_in[2] = {joined, "pos_embed"};
    nmt_onnx_node(m, "Add", n->name, 2, add_in, out, 0, NULL);
    return 0;
}

/* LayerNorm over the last axis in opset-13 operators, the chain torch.onnx
 * writes below opset 17 (runtimes fuse it): (x - mean) / sqrt(var + eps) *
 * weight + bias, biased variance. */
static int layernorm(nmt_net *net, nmt_onnx *m, const nmt_node *n, const char *in, const char *out)
{
    char w[NAME_SIZE], b[NAME_SIZE], mean[NAME_SIZE], centred[NAME_SIZE], two[NAME_SIZE], square[NAME_SIZE];
    char var[NAME_SIZE], eps[NAME_SIZE], var_eps[NAME_SIZE], std[NAME_SIZE], normed[NAME_SIZE], scaled[NAME_SIZE];
    if (add_param(net, m, n, "weight", w) || add_param(net, m, n, "bias", b)) return -1;
    const int64_t last = -1;
    const nmt_onnx_attr axes = ints_attr("axes", 1, &last);
    step(m, n, "mean", "ReduceMean", 1, &in, 1, &axes, mean);
    step2(m, n, "centred", "Sub", in, mean, centred);
    step2(m, n, "square", "Pow", centred, const_float(m, n, "two", 2.0f, two), square);
    const char *square_in = square;
    step(m, n, "variance", "ReduceMean", 1, &square_in, 1, &axes, var);
    step2(m, n, "variance_eps", "Add", var, const_float(m, n, "epsilon", NMT_LN_EPS, eps), var_eps);
    const char *var_eps_in = var_eps;
    step(m, n, "std", "Sqrt", 1, &var_eps_in, 0, NULL, std);
    step2(m, n, "normalized", "Div", centred, std, normed);
    step2(m, n, "scaled", "Mul", normed, w, scaled);
    const char *add_in[2] = {scaled, b};
    nmt_onnx_node(m, "Add", n->name, 2, add_in, out, 0, NULL);
    return 0;
}

/* GELU, erf form (torch.nn.GELU()): x * 0.5 * (1 + erf(x / sqrt 2)). */
static void gelu(nmt_onnx *m, const nmt_node *n, const char *in, const char *out)
{
    char sqrt2[NAME_SIZE], scaled[NAME_SIZE], erf[NAME_SIZE], one[NAME_SIZE], one_plus[NAME_SIZE];
    char times[NAME_SIZE], half[NAME_SIZE];
    step2(m, n, "scaled", "Div", in, const_float(m, n, "sqrt2", (float)M_SQRT2, sqrt2), scaled);
    const char *scaled_in = scaled;
    step(m, n, "erf", "Erf", 1, &scaled_in, 0, NULL, erf);
    step2(m, n, "one_plus", "Add", erf, const_float(m, n, "one", 1.0f, one), one_plus);
    step2(m, n, "x_times", "Mul", in, one_plus, times);
    const char *mul_in[2] = {times, const_float(m, n, "half", 0.5f, half)};
    nmt_onnx_node(m, "Mul", n->name, 2, mul_in, out, 0, NULL);
}

/* Multi-head attention on qkv (N, T, 3 dim) in timm's feature order
 * (3, heads, head_dim): softmax(Q K^T / sqrt(head_dim)) V per head, heads
 * joined back to (N, T, dim). */
static void attention(nmt_onnx *m, const nmt_node *n, const char *in, const char *out)
{
    char shape[NAME_SIZE], heads[NAME_SIZE], split[NAME_SIZE], index[3][NAME_SIZE], qkv[3][NAME_SIZE];
    char kt[NAME_SIZE], scores[NAME_SIZE], scale[NAME_SIZE], scaled[NAME_SIZE], probs[NAME_SIZE];
    char context[NAME_SIZE], joined[NAME_SIZE], out_shape[NAME_SIZE];
    const int head_dim = n->c_in / n->heads;
    const int64_t heads_shape[5] = {0, 0, 3, n->heads, head_dim}, split_perm[5] = {2, 0, 3, 1, 4};
    step2(m, n, "qkv_heads", "Reshape", in, const_ints(m, n, "qkv_shape", 1, 5, heads_shape, shape), heads);
    const nmt_onnx_attr split_attr = ints_attr("perm", 5, split_perm);
    const char *heads_in = heads;
    step(m, n, "qkv_split", "Transpose", 1, &heads_in, 1, &split_attr, split);
    static const char *const parts[3] = {"q", "k", "v"};
    const nmt_onnx_attr axis0 = {.name = "axis", .type = NMT_ONNX_INT, .i = 0};
    for (int i = 0; i < 3; i++) {
        char what[16];
        const int64_t at = i;
        snprintf(what, sizeof what, "%s_index", parts[i]);
        const char *gather_in[2] = {split, const_ints(m, n, what, 0, 1, &at, index[i])};
        step(m, n, parts[i], "Gather", 2, gather_in, 1, &axis0, qkv[i]);
    }
    const int64_t kt_perm[4] = {0, 1, 3, 2}, join_perm[4] = {0, 2, 1, 3};
    const nmt_onnx_attr kt_attr = ints_attr("perm", 4, kt_perm), join_attr = ints_attr("perm", 4, join_perm);
    const char *k_in = qkv[1];
    step(m, n, "k_t", "Transpose", 1, &k_in, 1, &kt_attr, kt);
    step2(m, n, "scores", "MatMul", qkv[0], kt, scores);
    /* the engine's scale, 1 / sqrtf(head_dim) in float */
    step2(m, n, "scaled_scores", "Mul", scores, const_float(m, n, "scale", 1.0f / sqrtf((float)head_dim), scale),
          scaled);
    const nmt_onnx_attr last_axis = {.name = "axis", .type = NMT_ONNX_INT, .i = -1};
    const char *scaled_in = scaled;
    step(m, n, "probs", "Softmax", 1, &scaled_in, 1, &last_axis, probs);
    step2(m, n, "context", "MatMul", probs, qkv[2], context);
    const char *context_in = context;
    step(m, n, "context_t", "Transpose", 1, &context_in, 1, &join_attr, joined);
    const int64_t joined_shape[3] = {0, 0, n->c_in};
    const char *reshape_in[2] = {joined, const_ints(m, n, "out_shape", 1, 3, joined_shape, out_shape)};
    nmt_onnx_node(m, "Reshape", n->name, 2, reshape_in, out, 0, NULL);
}

/* Emits one node; `in` and `in2` are its producers' tensor names and `rank`
 * the rank of its input (4 for NCHW, 3 for tokens, 2 after Flatten). */
static int emit(nmt_net *net, nmt_onnx *m, const nmt_node *n, const char *in, const char *in2, int rank,
                const char *out)
{
    char w[NAME_SIZE], b[NAME_SIZE], mean[NAME_SIZE], var[NAME_SIZE], aux[NAME_SIZE];
    const int64_t kernel[2] = {n->kh, n->kw}, strides[2] = {n->stride, n->stride};
    const int64_t pads[4] = {n->pad, n->pad, n->pad, n->pad};
    switch (n->op) {
    case NMT_OP_CONV: {
        if (add_param(net, m, n, "weight", w) || (n->bias && add_param(net, m, n, "bias", b))) return -1;
        const char *inputs[3] = {in, w, b};
        const nmt_onnx_attr attrs[3] = {ints_attr("kernel_shape", 2, kernel), ints_attr("strides", 2, strides),
                                        ints_attr("pads", 4, pads)};
        nmt_onnx_node(m, "Conv", n->name, n->bias ? 3 : 2, inputs, out, 3, attrs);
        return 0;
    }
    case NMT_OP_LINEAR: {
        if (rank == 3) return linear_tokens(net, m, n, in, out);
        if (add_param(net, m, n, "weight", w) || (n->bias && add_param(net, m, n, "bias", b))) return -1;
        if (rank != 2) { /* Gemm reads (N, features) */
            snprintf(aux, sizeof aux, "%s.flatten", n->name);
            const nmt_onnx_attr axis = {.name = "axis", .type = NMT_ONNX_INT, .i = 1};
            nmt_onnx_node(m, "Flatten", aux, 1, &in, aux, 1, &axis);
            in = aux;
        }
        const char *inputs[3] = {in, w, b};
        const nmt_onnx_attr trans_b = {.name = "transB", .type = NMT_ONNX_INT, .i = 1};
        nmt_onnx_node(m, "Gemm", n->name, n->bias ? 3 : 2, inputs, out, 1, &trans_b);
        return 0;
    }
    case NMT_OP_BATCHNORM: {
        if (add_param(net, m, n, "weight", w) || add_param(net, m, n, "bias", b) ||
            add_param(net, m, n, "running_mean", mean) || add_param(net, m, n, "running_var", var))
            return -1;
        const char *inputs[5] = {in, w, b, mean, var};
        const nmt_onnx_attr eps = {.name = "epsilon", .type = NMT_ONNX_FLOAT, .f = NMT_BN_EPS};
        nmt_onnx_node(m, "BatchNormalization", n->name, 5, inputs, out, 1, &eps);
        return 0;
    }
    case NMT_OP_RELU:
        nmt_onnx_node(m, "Relu", n->name, 1, &in, out, 0, NULL);
        return 0;
    case NMT_OP_MAXPOOL: {
        const nmt_onnx_attr attrs[3] = {ints_attr("kernel_shape", 2, kernel), ints_attr("strides", 2, strides),
                                        ints_attr("pads", 4, pads)};
        nmt_onnx_node(m, "MaxPool", n->name, 1, &in, out, 3, attrs);
        return 0;
    }
    case NMT_OP_ADAPTIVE_MAXPOOL: {
        if (n->h_out == 1 && n->w_out == 1) {
            nmt_onnx_node(m, "GlobalMaxPool", n->name, 1, &in, out, 0, NULL);
            return 0;
        }
        /* equal bins: a max pool whose window is its stride */
        const int64_t window[2] = {n->h_in / n->h_out, n->w_in / n->w_out};
        const nmt_onnx_attr attrs[2] = {ints_attr("kernel_shape", 2, window), ints_attr("strides", 2, window)};
        nmt_onnx_node(m, "MaxPool", n->name, 1, &in, out, 2, attrs);
        return 0;
    }
    case NMT_OP_AVGPOOL:
        nmt_onnx_node(m, "GlobalAveragePool", n->name, 1, &in, out, 0, NULL);
        return 0;
    case NMT_OP_ADD: {
        const char *inputs[2] = {in, in2};
        nmt_onnx_node(m, "Add", n->name, 2, inputs, out, 0, NULL);
        return 0;
    }
    case NMT_OP_FLATTEN: {
        const nmt_onnx_attr axis = {.name = "axis", .type = NMT_ONNX_INT, .i = 1};
        nmt_onnx_node(m, "Flatten", n->name, 1, &in, out, 1, &axis);
        return 0;
    }
    case NMT_OP_SCALE: {
        snprintf(aux, sizeof aux, "%s.factor", n->name);
        nmt_onnx_initializer(m, aux, 0, NULL, &n->scale);
        const char *inputs[2] = {in, aux};
        nmt_onnx_node(m, "Mul", n->name, 2, inputs, out, 0, NULL);
        return 0;
    }
    case NMT_OP_PATCH_EMBED:
        return patch_embed(net, m, n, in, out);
    case NMT_OP_LAYERNORM:
        return layernorm(net, m, n, in, out);
    case NMT_OP_GELU:
        gelu(m, n, in, out);
        return 0;
    case NMT_OP_ATTENTION:
        attention(m, n, in, out);
        return 0;
    case NMT_OP_TOKEN_POOL: { /* the class token: index 0 along the tokens */
        const int64_t first = 0;
        const char *inputs[2] = {in, const_ints(m, n, "index", 0, 1, &first, aux)};
        const nmt_onnx_attr axis = {.name = "axis", .type = NMT_ONNX_INT, .i = 1};
        nmt_onnx_node(m, "Gather", n->name, 2, inputs, out, 1, &axis);
        return 0;
    }
    default:
        return -1; /* rejected by unsupported() */
    }
}

static void float_list(char *out, size_t size, const float *v, int count)
{
    size_t used = 0;
    for (int i = 0; i < count && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, i ? ", %.9g" : "%.9g", (double)v[i]);
}

int nmt_export_onnx(nmt_net *net, const char *path, const char *meta_json, const float *mean, const float *std)
{
    const nmt_model_desc *d = nmt_net_desc(net);
    for (int i = 0; i < d->n_nodes; i++) {
        const char *why = unsupported(&d->nodes[i]);
        if (why) {
            nmt_error("%s: model %s, layer %s (%s): %s", path, d->arch, d->nodes[i].name,
                      nmt_op_name(d->nodes[i].op), why);
            return -1;
        }
    }
    nmt_onnx *m = nmt_onnx_create(d->arch, OPSET);
    if (!m) return -1;
    const int64_t in_dims[4] = {-1, d->in_c, d->in_h, d->in_w}, out_dims[2] = {-1, d->classes};
    nmt_onnx_input(m, "input", 4, in_dims);
    nmt_onnx_output(m, "logits", 2, out_dims);
    int rank[NMT_MAX_NODES];
    int rc = 0;
    for (int i = 0; i < d->n_nodes && !rc; i++) {
        const nmt_node *n = &d->nodes[i];
        const char *in = n->input < 0 ? "input" : d->nodes[n->input].name;
        const char *in2 = n->input2 < 0 ? NULL : d->nodes[n->input2].name;
        const int in_rank = n->input < 0 ? 4 : rank[n->input];
        rank[i] = n->op == NMT_OP_PATCH_EMBED                             ? 3
                  : n->op == NMT_OP_LINEAR                                ? (in_rank == 3 ? 3 : 2)
                  : n->op == NMT_OP_FLATTEN || n->op == NMT_OP_TOKEN_POOL ? 2
                                                                          : in_rank;
        rc = emit(net, m, n, in, in2, in_rank, i == d->n_nodes - 1 ? "logits" : n->name);
    }
    char text[512], doc[1024];
    float_list(text, sizeof text, mean, d->in_c);
    nmt_onnx_metadata(m, "nmtrain.input_mean", text);
    snprintf(doc, sizeof doc,
             "%s exported by nmtrain for inference. Input: images scaled to [0, 1], then (x - mean) / std per "
             "channel, mean = [%s], ",
             d->arch, text);
    float_list(text, sizeof text, std, d->in_c);
    nmt_onnx_metadata(m, "nmtrain.input_std", text);
    snprintf(doc + strlen(doc), sizeof doc - strlen(doc), "std = [%s]; NCHW. Output: logits.", text);
    nmt_onnx_doc(m, doc);
    if (meta_json) nmt_onnx_metadata(m, "nmtrain.config", meta_json);
    if (!rc) rc = nmt_onnx_write(m, path);
    nmt_onnx_free(m);
    return rc;
}

int nmt_export_semi_structured(nmt_net *net, const char *path, const char *meta_json)
{
    const int count = nmt_net_param_count(net);
    nmt_safetensors st;
    nmt_st_init(&st);
    /* per weight: the packed values, the metadata and their two names */
    void **buffers = calloc((size_t)2 * count, sizeof *buffers);
    char (*names)[NMT_NAME_MAX + 40] = calloc((size_t)2 * count, sizeof *names);
    int rc = buffers && names ? 0 : -1, written = 0;
    if (rc) nmt_error("%s: out of memory", path);
    for (int i = 0; i < count && !rc; i++) {
        const nmt_param *p = nmt_net_param(net, i);
        const nmt_packed *packed = nmt_net_forward_operand(net, p->name);
        if (!packed || !nmt_semi_structured_fits(packed->rows, packed->k, packed->nm)) continue;
        const size_t cells = (size_t)packed->rows * packed->k;
        float *dense = malloc(sizeof(float) * cells);
        buffers[2 * i] = malloc(sizeof(uint16_t) * cells / 2);
        buffers[2 * i + 1] = malloc(sizeof(int16_t) * cells / 16);
        if (!dense || !buffers[2 * i] || !buffers[2 * i + 1]) {
            nmt_error("%s: out of memory", path);
            free(dense);
            rc = -1;
            break;
        }
        nmt_unpack(packed, dense);
        nmt_semi_structured_compress(dense, packed->rows, packed->k, buffers[2 * i], buffers[2 * i + 1]);
        free(dense);
        const int64_t values_shape[2] = {packed->rows, packed->k / 2}, meta_shape[2] = {packed->rows, packed->k / 16};
        snprintf(names[2 * i], sizeof names[0], "%s.packed", p->name);
        snprintf(names[2 * i + 1], sizeof names[0], "%s.meta", p->name);
        rc = nmt_st_add(&st, names[2 * i], NMT_F16, 2, values_shape, buffers[2 * i]);
        if (!rc) rc = nmt_st_add(&st, names[2 * i + 1], NMT_I16, 2, meta_shape, buffers[2 * i + 1]);
        written++;
    }
    if (!rc && written) {
        rc = nmt_st_set_meta(&st, "format", "nmtrain-semi-structured-1");
        if (!rc) rc = nmt_st_set_meta(&st, "layout", "torch.sparse.SparseSemiStructuredTensorCUTLASS, float16");
        if (!rc) rc = nmt_st_set_meta(&st, "matrix", "linear: weight (out, in); conv: weight.permute(0, 2, 3, 1)"
                                                     ".reshape(out, kh * kw * in)");
        if (!rc && meta_json) rc = nmt_st_set_meta(&st, "config", meta_json);
        if (!rc) rc = nmt_st_write(&st, path);
    }
    nmt_st_free(&st);
    for (int i = 0; buffers && i < 2 * count; i++) free(buffers[i]);
    free(buffers);
    free(names);
    return rc ? -1 : written;
}

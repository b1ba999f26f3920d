/* The trained network as an ONNX graph (nmt_export_onnx) and its N:M
 * weights in PyTorch's 2:4 semi-structured layout (nmt_export_semi_structured).
 * The graph follows the model description node by node, so it is the
 * network `nmtrain eval` runs: batch norm in inference form, each sparse
 * layer's weight as its forward GEMM reads it. docs/export.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmtrain/core.h"
#include "nmtrain/io.h"
#include "nmtrain/train.h"

#define OPSET 13
#define NAME_SIZE (NMT_NAME_MAX + 32)

/* Adds parameter "<node>.<suffix>" as an initializer in PyTorch's layout and
 * names it in `name`. */
static int add_param(nmt_net *net, nmt_onnx *m, const nmt_node *node, const char *suffix, char *name)
{
    snprintf(name, NAME_SIZE, "%s.%s", node->name, suffix);
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

/* Why a node has no ONNX form, or NULL. */
static const char *unsupported(const nmt_node *n)
{
    if (n->op >= NMT_OP_PATCH_EMBED) return "transformer layers are not exported";
    if (n->op == NMT_OP_ADAPTIVE_MAXPOOL && !(n->h_out == 1 && n->w_out == 1) &&
        (n->h_in % n->h_out || n->w_in % n->w_out))
        return "an adaptive max pool whose bins differ in size has no ONNX operator";
    return NULL;
}

static nmt_onnx_attr ints_attr(const char *name, int n, const int64_t *v)
{
    nmt_onnx_attr a = {.name = name, .type = NMT_ONNX_INTS, .n_ints = n, .ints = v};
    return a;
}

/* Emits one node; `in` and `in2` are its producers' tensor names and `rank`
 * the rank of its input (4 for NCHW, 2 after Flatten). */
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
        rank[i] = n->op == NMT_OP_FLATTEN || n->op == NMT_OP_LINEAR ? 2 : in_rank;
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

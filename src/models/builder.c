/* Appending nodes to a model description, with shape inference. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nmtrain/core.h"
#include "models/builder.h"

void builder_start(model_builder *b, nmt_model_desc *desc, const nmt_model_config *cfg, const char *arch)
{
    memset(desc, 0, sizeof *desc);
    snprintf(desc->arch, sizeof desc->arch, "%s", arch);
    desc->in_c = cfg->in_c;
    desc->in_h = cfg->in_h;
    desc->in_w = cfg->in_w;
    desc->classes = cfg->classes;
    b->desc = desc;
    b->failed = 0;
}

int builder_width(float width, int channels)
{
    int c = (int)lroundf(width * (float)channels);
    return c < 1 ? 1 : c;
}

void builder_shape(const model_builder *b, int i, int *c, int *h, int *w)
{
    if (i < 0) {
        *c = b->desc->in_c, *h = b->desc->in_h, *w = b->desc->in_w;
    } else {
        const nmt_node *n = &b->desc->nodes[i];
        *c = n->c_out, *h = n->h_out, *w = n->w_out;
    }
}

static nmt_node *append(model_builder *b, nmt_op op, const char *name, int input)
{
    if (b->failed) return NULL;
    if (b->desc->n_nodes >= NMT_MAX_NODES) {
        nmt_error("model %s: more than %d nodes", b->desc->arch, NMT_MAX_NODES);
        b->failed = 1;
        return NULL;
    }
    nmt_node *n = &b->desc->nodes[b->desc->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    snprintf(n->name, sizeof n->name, "%s", name);
    n->input = input;
    n->input2 = -1;
    builder_shape(b, input, &n->c_in, &n->h_in, &n->w_in);
    n->c_out = n->c_in, n->h_out = n->h_in, n->w_out = n->w_in;
    n->kh = n->kw = n->stride = 1;
    return n;
}

/* Output size of a sliding window; 0 when the window does not fit (C's
 * division truncates toward zero, which would round -1/2 up to a size of 1). */
static int window_out(int in, int k, int stride, int pad)
{
    const int span = in + 2 * pad - k;
    return span < 0 ? 0 : span / stride + 1;
}

static int commit(model_builder *b, nmt_node *n)
{
    if (n->c_out < 1 || n->h_out < 1 || n->w_out < 1) {
        nmt_error("model %s: input %dx%dx%d is too small: layer %s would output %dx%dx%d",
                  b->desc->arch, b->desc->in_c, b->desc->in_h, b->desc->in_w, n->name, n->c_out,
                  n->h_out, n->w_out);
        b->failed = 1;
        return -1;
    }
    return b->desc->n_nodes++;
}

int builder_conv(model_builder *b, const char *name, int input, int c_out, int k, int stride, int pad, int bias)
{
    nmt_node *n = append(b, NMT_OP_CONV, name, input);
    if (!n) return -1;
    n->kh = n->kw = k;
    n->stride = stride;
    n->pad = pad;
    n->bias = bias;
    n->c_out = c_out;
    n->h_out = window_out(n->h_in, k, stride, pad);
    n->w_out = window_out(n->w_in, k, stride, pad);
    return commit(b, n);
}

int builder_linear(model_builder *b, const char *name, int input, int c_out, int bias)
{
    nmt_node *n = append(b, NMT_OP_LINEAR, name, input);
    if (!n) return -1;
    n->bias = bias;
    n->c_out = c_out;
    return commit(b, n);
}

int builder_unary(model_builder *b, nmt_op op, const char *name, int input)
{
    nmt_node *n = append(b, op, name, input);
    if (!n) return -1;
    if (op == NMT_OP_AVGPOOL) n->h_out = n->w_out = 1;
    if (op == NMT_OP_FLATTEN) {
        const int64_t features = (int64_t)n->c_in * n->h_in * n->w_in;
        if (features > INT32_MAX) {
            nmt_error("model %s: layer %s would flatten %dx%dx%d into more than %d features", b->desc->arch, name,
                      n->c_in, n->h_in, n->w_in, INT32_MAX);
            b->failed = 1;
            return -1;
        }
        n->c_out = (int)features;
        n->h_out = n->w_out = 1;
    }
    return commit(b, n);
}

int builder_pool(model_builder *b, nmt_op op, const char *name, int input, int k, int stride, int pad)
{
    nmt_node *n = append(b, op, name, input);
    if (!n) return -1;
    if (op == NMT_OP_ADAPTIVE_MAXPOOL) { /* k is the output size */
        n->h_out = n->w_out = k;
    } else {
        n->kh = n->kw = k;
        n->stride = stride;
        n->pad = pad;
        n->h_out = window_out(n->h_in, k, stride, pad);
        n->w_out = window_out(n->w_in, k, stride, pad);
    }
    return commit(b, n);
}

int builder_add(model_builder *b, const char *name, int a, int c)
{
    nmt_node *n = append(b, NMT_OP_ADD, name, a);
    if (!n) return -1;
    n->input2 = c;
    int c2, h2, w2;
    builder_shape(b, c, &c2, &h2, &w2);
    if (c2 != n->c_in || h2 != n->h_in || w2 != n->w_in) {
        nmt_error("model %s: residual %s adds %dx%dx%d to %dx%dx%d", b->desc->arch, name, c2, h2, w2,
                  n->c_in, n->h_in, n->w_in);
        b->failed = 1;
        return -1;
    }
    return commit(b, n);
}

int builder_scale(model_builder *b, const char *name, int input, float scale)
{
    nmt_node *n = append(b, NMT_OP_SCALE, name, input);
    if (!n) return -1;
    n->scale = scale;
    return commit(b, n);
}

int builder_conv_bn_relu(model_builder *b, const char *conv_name, const char *bn_name, const char *relu_name,
                         int input, int c_out, int k, int stride, int pad, int conv_bias)
{
    int x = builder_conv(b, conv_name, input, c_out, k, stride, pad, conv_bias);
    x = builder_unary(b, NMT_OP_BATCHNORM, bn_name, x);
    return builder_unary(b, NMT_OP_RELU, relu_name, x);
}

int builder_finish(model_builder *b)
{
    if (b->failed) return -1;
    nmt_model_desc *d = b->desc;
    for (int i = d->n_nodes - 1; i >= 0; i--) {
        if (d->nodes[i].op == NMT_OP_LINEAR) {
            d->nodes[i].is_classifier = 1;
            break;
        }
    }
    return 0;
}

/* Helpers the architecture files use to append nodes to a description.
 * Each returns the new node's index, or -1 (with nmt_error set) when the
 * shapes do not work out, e.g. an input too small for the pooling chain. */
#ifndef NMT_MODELS_BUILDER_H
#define NMT_MODELS_BUILDER_H

#include "nmtrain/model.h"

/* Not part of the library's interface: hidden from its users (Makefile). */
#pragma GCC visibility push(hidden)

typedef struct model_builder {
    nmt_model_desc *desc;
    int failed;
} model_builder;

void builder_start(model_builder *b, nmt_model_desc *desc, const nmt_model_config *cfg, const char *arch);
int builder_conv(model_builder *b, const char *name, int input, int c_out, int k, int stride, int pad, int bias);
int builder_linear(model_builder *b, const char *name, int input, int c_out, int bias);
int builder_unary(model_builder *b, nmt_op op, const char *name, int input);
int builder_pool(model_builder *b, nmt_op op, const char *name, int input, int k, int stride, int pad);
int builder_add(model_builder *b, const char *name, int a, int c);
int builder_scale(model_builder *b, const char *name, int input, float scale);
/* conv -> batchnorm -> relu, named <prefix><conv_id>, <prefix><bn_id>, <prefix><relu_id>. */
int builder_conv_bn_relu(model_builder *b, const char *conv_name, const char *bn_name, const char *relu_name,
                         int input, int c_out, int k, int stride, int pad, int conv_bias);
/* Shape of node `i` (or the model input for -1). */
void builder_shape(const model_builder *b, int i, int *c, int *h, int *w);
int builder_finish(model_builder *b);
/* Channels scaled by the width multiplier, at least 1. */
int builder_width(float width, int channels);

#pragma GCC visibility pop

#endif

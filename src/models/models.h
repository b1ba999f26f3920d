/* The built-in architectures; nmt_model_describe dispatches by name. */
#ifndef NMT_MODELS_MODELS_H
#define NMT_MODELS_MODELS_H

#include "nmtrain/model.h"

/* Not part of the library's interface: hidden from its users (Makefile). */
#pragma GCC visibility push(hidden)

int nmt_describe_resnet9(const nmt_model_config *cfg, nmt_model_desc *out);
int nmt_describe_resnet18(const nmt_model_config *cfg, nmt_model_desc *out);
int nmt_describe_resnet50(const nmt_model_config *cfg, nmt_model_desc *out);
int nmt_describe_vgg19(const nmt_model_config *cfg, nmt_model_desc *out);

#pragma GCC visibility pop

#endif

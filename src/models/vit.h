/* ViT (timm's VisionTransformer layout), described for the simulator and
 * the training engine; nmt_model_describe dispatches "vit" here. */
#ifndef NMT_MODELS_VIT_H
#define NMT_MODELS_VIT_H

#include "nmtrain/model.h"

/* Patch embedding (conv kernel = stride = patch, then the class token
 * prepended and the position embedding added: h_out = patches + 1 tokens),
 * `depth` pre-norm blocks (layernorm, qkv linear, attention, proj linear,
 * residual add, layernorm, fc1, GELU, fc2, residual add), a final
 * layernorm, class-token pooling and the classifier. Tokens use
 * h = tokens, w = 1. The attention node's c_in/c_out is the model dim (its
 * producer, the qkv linear, outputs 3 * dim). Defaults for zero fields:
 * patch 4, dim 192, depth 6, heads 3, mlp_dim 384. Errors name the field. */
int nmt_describe_vit(const nmt_model_config *cfg, nmt_model_desc *out);

#endif

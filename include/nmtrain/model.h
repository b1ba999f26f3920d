/* nmtrain/model.h: model descriptions.
 *
 * A model is a list of nodes in execution order; each node names its
 * producer(s) by index (-1 = the model input). The engine builds its layers
 * from this list and the simulator reads the very same list, so shapes and
 * MAC counts agree by construction. Node names are the PyTorch module paths
 * of the matching reference model; parameters are "<name>.weight",
 * "<name>.bias", "<name>.running_mean", ... exactly as torch.nn names them. */
#ifndef NMTRAIN_MODEL_H
#define NMTRAIN_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nmt_op {
    NMT_OP_CONV,          /* conv2d: kh, kw, stride, pad, bias */
    NMT_OP_LINEAR,        /* fully connected on (c_in) features or per token */
    NMT_OP_BATCHNORM,     /* batchnorm2d over c_in */
    NMT_OP_RELU,
    NMT_OP_MAXPOOL,       /* kh x kw window, stride, pad */
    NMT_OP_AVGPOOL,       /* global average pool to 1x1 */
    NMT_OP_ADAPTIVE_MAXPOOL, /* adaptive max pool to h_out x w_out */
    NMT_OP_ADD,           /* residual: input + input2 */
    NMT_OP_FLATTEN,       /* c x h x w -> features */
    NMT_OP_SCALE,         /* multiply by `scale` (ResNet9's logit scaling) */
    /* Transformer ops, described for the simulator and for the ViT engine. */
    NMT_OP_PATCH_EMBED,   /* conv with kernel = stride = patch, then class token + position embedding */
    NMT_OP_LAYERNORM,
    NMT_OP_GELU,
    NMT_OP_ATTENTION,     /* softmax(Q K^T / sqrt(d)) V over `heads`: two act x act GEMMs */
    NMT_OP_TOKEN_POOL,    /* the class token */
    NMT_OP_COUNT
} nmt_op;

const char *nmt_op_name(nmt_op op);

#define NMT_NAME_MAX 64

typedef struct nmt_node {
    nmt_op op;
    char name[NMT_NAME_MAX];
    int input, input2;          /* producer nodes, -1 = model input / none */
    int c_in, h_in, w_in;       /* per-sample input shape (tokens use h = tokens, w = 1) */
    int c_out, h_out, w_out;    /* per-sample output shape */
    int kh, kw, stride, pad;    /* conv, pooling, patch embedding */
    int bias;                   /* conv / linear carry a bias */
    int heads;                  /* attention */
    float scale;                /* NMT_OP_SCALE */
    int is_classifier;          /* the final linear layer (default-exempt from N:M) */
    int dropout;                /* the training's dropout applies to this node's output (timm's drop_rate sites) */
} nmt_node;

#define NMT_MAX_NODES 512

typedef struct nmt_model_desc {
    char arch[32];
    int in_c, in_h, in_w, classes;
    int n_nodes;
    nmt_node nodes[NMT_MAX_NODES];
} nmt_model_desc;

/* Limits every model description enforces, so that no shape, parameter or
 * MAC count can overflow: input channels, height and width each at most
 * NMT_MODEL_MAX_DIM, classes at most NMT_MODEL_MAX_CLASSES, a width
 * multiplier in (0, NMT_MODEL_MAX_WIDTH], and per node at most
 * NMT_MODEL_MAX_NODE_MACS MACs per sample (2^52: sums over every node and
 * the three GEMMs stay far below INT64_MAX). */
#define NMT_MODEL_MAX_DIM 65536
#define NMT_MODEL_MAX_CLASSES (1 << 20)
#define NMT_MODEL_MAX_WIDTH 64
#define NMT_MODEL_MAX_NODE_MACS (INT64_C(1) << 52)

typedef struct nmt_model_config {
    const char *arch;    /* resnet9, resnet18, resnet50, vgg19, vit */
    float width;         /* channel multiplier, 1 = the published widths */
    int in_c, in_h, in_w;
    int classes;
    int imagenet_stem;   /* resnet18/50: 7x7/2 conv + 3x3/2 max pool instead of the CIFAR 3x3/1 stem */
    /* ViT only (0 picks the defaults: patch 4, dim 192, depth 6, heads 3, mlp 384). */
    int patch, dim, depth, heads, mlp_dim;
} nmt_model_config;

/* Fills `out` for an architecture. Errors name the bad field. */
int nmt_model_describe(const nmt_model_config *cfg, nmt_model_desc *out);
/* Checks every node of a description against the limits above. */
int nmt_model_check_limits(const nmt_model_desc *desc);
/* Whether a training dropout of probability p fits the description: p in
 * [0, 1), and p > 0 only for a model with dropout sites (the ViT); -1 with
 * an error otherwise. */
int nmt_model_check_dropout(const nmt_model_desc *desc, float p);
/* Parses "CxHxW" (decimal, each in 1..NMT_MODEL_MAX_DIM). */
int nmt_shape_parse(const char *text, int *c, int *h, int *w);
/* Lists the architecture names, comma separated. */
const char *nmt_model_archs(void);

/* MACs of one sample through a node for the three GEMMs of training:
 * forward, backward-data and weight-gradient (0 for non-GEMM nodes).
 * Attention counts its two activation GEMMs. */
typedef struct nmt_macs {
    int64_t fw, bw, wg;
} nmt_macs;
nmt_macs nmt_node_macs(const nmt_node *node);
/* Of a convolution's forward MACs per sample (nmt_node_macs .fw), those
 * whose input tap falls in the zero padding: a lowered (im2col) GEMM
 * multiplies them, in all three GEMMs; a direct convolution can skip them.
 * 0 for other nodes. */
int64_t nmt_node_padding_macs(const nmt_node *node);
/* 1 if the node is a convolution the CPU engine runs as Winograd F(2x2, 3x3)
 * (its dense GEMMs, when nmt_conv_winograd() is on): 4/9 of its MACs. */
int nmt_node_winograd(const nmt_node *node);
int64_t nmt_node_params(const nmt_node *node);
/* Patches of a patch-embedding node: its convolution's output positions
 * (its h_out adds the class token). */
int64_t nmt_node_patches(const nmt_node *node);

#ifdef __cplusplus
}
#endif
#endif

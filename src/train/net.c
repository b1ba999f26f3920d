/* The network: the model description turned into buffers and a forward and
 * backward pass over the layer functions. All memory comes from one arena
 * sized by a measuring pass over the same allocation code. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/layers.h"
#include "nmtrain/core.h"
#include "nmtrain/train.h"
#include "train/method.h"

#define BN_MOMENTUM 0.1f
#define MAX_PARAMS (4 * NMT_MAX_NODES)

typedef struct net_node {
    const nmt_node *desc;
    float *out, *grad;             /* c_out x (max_batch * plane_out) */
    int weight, bias;              /* parameter indices, -1 = none */
    int running_mean, running_var; /* batch norm buffers */
    bn_saved saved;
    method_layer sparse;           /* conv / linear / patch embedding only */
    conv_plan conv;                /* conv / linear / patch embedding: each direction's path and workspace */
    int cls_token, pos_embed;      /* patch embedding's class token and position embedding */
    float *patches, *patches_grad; /* patch embedding: the convolution's output and its gradient */
    ln_saved ln;                   /* layer norm's per-token statistics */
    float *lse;                    /* attention: each query row's log-sum-exp */
    int last_consumer;             /* highest node index reading this output */
    int consumers;                 /* how many nodes read this output */
} net_node;

struct nmt_net {
    nmt_model_desc desc;
    nmt_method_config method;
    int max_batch;
    net_node nodes[NMT_MAX_NODES];
    nmt_param params[MAX_PARAMS];
    int n_params;
    float *col;        /* the convolutions' workspace: the largest their plans ask for */
    size_t col_floats;
    void *dy_scratch;  /* SDGP's pruned, packed dY */
    float *w_scratch;  /* the backward-data operand of the layer at hand (method_bw_operand) */
    uint64_t seed;     /* with the step and the layer, the key of the pruning's draws */
    int64_t step;
    float *attention_workspace; /* per thread, attention_threads of them */
    int attention_threads;
    nmt_arena arena;
    int64_t bn_batches;
    int profiling;
    double seconds[NMT_OP_COUNT][2];  /* [op][0 = forward, 1 = backward] */
    conv_timing conv_phases;          /* the conv/linear seconds, by phase */
    double prune_seconds;             /* SDGP's dY pruning (--grad-nm's is a convolution phase) */
    double refresh_seconds;           /* regenerating the sparse operands after the step */
    double operand_seconds;           /* building backward-data operands (method_bw_operand) */
    /* data parallelism */
    int grad_batch;                   /* the global batch the loss gradient averages over (0: this batch) */
    int first_sample;                 /* this rank's first sample in the global batch (--grad-nm's and dropout's draws) */
    void (*grad_ready)(void *ctx, int index);
    void *grad_ready_ctx;
    nmt_comm *bn_comm;                /* sync batch norm over these ranks */
    /* last forward */
    const float *input;
    const int *labels;
    int batch;
    float smoothing;
    int training;
    float dropout;                    /* torch.nn.Dropout(p) at the nodes the description marks, in training */
};

static int64_t plane_out(const nmt_node *n) { return (int64_t)n->h_out * n->w_out; }
static int64_t plane_in(const nmt_node *n) { return (int64_t)n->h_in * n->w_in; }
static int is_gemm(const nmt_node *n)
{
    return n->op == NMT_OP_CONV || n->op == NMT_OP_LINEAR || n->op == NMT_OP_PATCH_EMBED;
}

/* The GEMM layer's convolution; a patch embedding's outputs are its
 * patches (its node's tokens add the class token). */
static nmt_conv_shape conv_shape(const nmt_node *n, int batch)
{
    nmt_conv_shape s = {n->c_in, batch, n->h_in, n->w_in, 1, 1, 1, 0, n->h_out, n->w_out};
    if (n->op == NMT_OP_CONV) {
        s.kh = n->kh, s.kw = n->kw, s.stride = n->stride, s.pad = n->pad;
    } else if (n->op == NMT_OP_PATCH_EMBED) {
        s.kh = n->kh, s.kw = n->kw, s.stride = n->stride;
        s.ho = n->h_in / n->stride, s.wo = n->w_in / n->stride;
    }
    return s;
}

static attention_shape attention_shape_of(const nmt_node *n, int batch)
{
    attention_shape s = {batch, n->h_in, n->heads, n->c_in / n->heads};
    return s;
}

static pool_shape pool_shape_of(const nmt_node *n, int batch)
{
    pool_shape s = {n->c_in, batch, n->h_in, n->w_in, n->kh, n->kw, n->stride, n->pad, n->h_out, n->w_out};
    return s;
}

static int add_param(nmt_net *net, nmt_arena *arena, const char *node, const char *suffix, int ndim,
                     const int64_t *shape, int is_buffer, int no_decay, int conv_layout)
{
    nmt_param *p = &net->params[net->n_params];
    snprintf(p->name, sizeof p->name, "%s%s%s", node, *node ? "." : "", suffix);
    p->ndim = ndim;
    p->count = 1;
    for (int d = 0; d < ndim; d++) p->shape[d] = shape[d], p->count *= shape[d];
    p->is_buffer = is_buffer;
    p->no_decay = no_decay;
    p->conv_layout = conv_layout;
    p->data = NMT_ARENA_FLOATS(arena, p->count);
    p->grad = is_buffer ? NULL : NMT_ARENA_FLOATS(arena, p->count);
    p->momentum = is_buffer ? NULL : NMT_ARENA_FLOATS(arena, p->count);
    p->exp_avg_sq = is_buffer ? NULL : NMT_ARENA_FLOATS(arena, p->count);
    return net->n_params++;
}

/* Gradient buffers by lifetime: node i's output gradient lives from the
 * backward of its last consumer (which writes it first) to its own backward
 * (which reads it last). Buffers whose lifetimes never overlap share memory;
 * offsets are placed largest first at the lowest free offset. Returns the
 * pool size in floats. */
static size_t plan_gradients(const nmt_net *net, size_t *offset)
{
    const int n = net->desc.n_nodes;
    int order[NMT_MAX_NODES];
    size_t size[NMT_MAX_NODES], pool = 0;
    for (int i = 0; i < n; i++) {
        const nmt_node *d = &net->desc.nodes[i];
        size[i] = (size_t)d->c_out * net->max_batch * plane_out(d);
        order[i] = i;
    }
    for (int a = 1; a < n; a++) /* insertion sort, largest first: n is small */
        for (int b = a; b > 0 && size[order[b]] > size[order[b - 1]]; b--) {
            const int t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    for (int a = 0; a < n; a++) {
        const int i = order[a];
        /* lifetime in node indices: [i, last consumer] */
        const int lo = i, hi = net->nodes[i].last_consumer;
        size_t at = 0;
        for (int moved = 1; moved;) {
            moved = 0;
            for (int b = 0; b < a; b++) {
                const int j = order[b];
                const int overlap = lo <= net->nodes[j].last_consumer && j <= hi;
                if (overlap && at < offset[j] + size[j] && offset[j] < at + size[i]) {
                    at = offset[j] + size[j];
                    moved = 1;
                }
            }
        }
        offset[i] = at;
        if (at + size[i] > pool) pool = at + size[i];
    }
    return pool;
}

/* Carves every buffer of the network from `arena` (a measuring arena on the
 * first pass). */
static void plan_memory(nmt_net *net, nmt_arena *arena)
{
    size_t workspace = 0, dy_scratch_bytes = 0, w_scratch_floats = 0, attention_floats = 0;
    int consumers[NMT_MAX_NODES] = {0};
    const int n = net->desc.n_nodes;
    net->n_params = 0;
    for (int i = 0; i < n; i++) {
        const nmt_node *d = &net->desc.nodes[i];
        net->nodes[i].last_consumer = i; /* the last node is read by the loss */
        if (d->input >= 0) consumers[d->input]++, net->nodes[d->input].last_consumer = i;
        if (d->input2 >= 0) consumers[d->input2]++, net->nodes[d->input2].last_consumer = i;
    }
    for (int i = 0; i < n; i++) net->nodes[i].consumers = consumers[i];
    for (int i = 0; i < n; i++) {
        net_node *node = &net->nodes[i];
        const nmt_node *d = &net->desc.nodes[i];
        const size_t out_size = (size_t)d->c_out * net->max_batch * plane_out(d);
        const int cols = net->max_batch * (int)plane_out(d);
        node->desc = d;
        node->weight = node->bias = node->running_mean = node->running_var = -1;
        node->cls_token = node->pos_embed = -1;
        /* ReLU works in place when it is its input's only reader: its own
         * backward needs only its output, and batch norm's backward reads its
         * input, not its output. */
        if (d->op == NMT_OP_RELU && d->input >= 0 && consumers[d->input] == 1)
            node->out = net->nodes[d->input].out;
        else
            node->out = NMT_ARENA_FLOATS(arena, out_size);
        if (is_gemm(d)) {
            const nmt_conv_shape s = conv_shape(d, net->max_batch);
            /* timm's names: the patch convolution is patch_embed.proj */
            char gemm_name[NMT_NAME_MAX + 8];
            snprintf(gemm_name, sizeof gemm_name, "%s%s", d->name, d->op == NMT_OP_PATCH_EMBED ? ".proj" : "");
            if (d->op != NMT_OP_LINEAR) {
                const int64_t shape[4] = {d->c_out, d->c_in, d->kh, d->kw};
                node->weight = add_param(net, arena, gemm_name, "weight", 4, shape, 0, 0, 1);
            } else {
                const int64_t shape[2] = {d->c_out, d->c_in};
                node->weight = add_param(net, arena, gemm_name, "weight", 2, shape, 0, 0, 0);
            }
            if (d->bias) {
                const int64_t shape[1] = {d->c_out};
                node->bias = add_param(net, arena, gemm_name, "bias", 1, shape, 0, 1, 0);
            }
            if (d->op == NMT_OP_PATCH_EMBED) {
                const int64_t cls_shape[3] = {1, 1, d->c_out}, pos_shape[3] = {1, d->h_out, d->c_out};
                const size_t patch_floats = (size_t)d->c_out * net->max_batch * s.ho * s.wo;
                node->cls_token = add_param(net, arena, "", "cls_token", 3, cls_shape, 0, 1, 0);
                node->pos_embed = add_param(net, arena, "", "pos_embed", 3, pos_shape, 0, 1, 0);
                node->patches = NMT_ARENA_FLOATS(arena, patch_floats);
                node->patches_grad = NMT_ARENA_FLOATS(arena, patch_floats);
            }
            method_layer_plan(&net->method, d, arena, &node->sparse);
            conv_plan_make(&s, d->c_out, conv_operands_of(&node->sparse.rule), &node->conv);
            if (node->conv.workspace_floats > workspace) workspace = node->conv.workspace_floats;
            if (node->sparse.dy_pruned) {
                const size_t bytes = method_bw_dy_scratch_bytes(&net->method, &node->sparse, cols);
                if (bytes > dy_scratch_bytes) dy_scratch_bytes = bytes;
            }
            if (method_bw_scratch_floats(&node->sparse) > w_scratch_floats)
                w_scratch_floats = method_bw_scratch_floats(&node->sparse);
        } else if (d->op == NMT_OP_BATCHNORM) {
            const int64_t shape[1] = {d->c_in};
            add_param(net, arena, d->name, "weight", 1, shape, 0, 1, 0);
            add_param(net, arena, d->name, "bias", 1, shape, 0, 1, 0);
            node->weight = net->n_params - 2;
            node->bias = net->n_params - 1;
            node->running_mean = add_param(net, arena, d->name, "running_mean", 1, shape, 1, 1, 0);
            node->running_var = add_param(net, arena, d->name, "running_var", 1, shape, 1, 1, 0);
            node->saved.mean = NMT_ARENA_FLOATS(arena, d->c_in);
            node->saved.invstd = NMT_ARENA_FLOATS(arena, d->c_in);
        } else if (d->op == NMT_OP_LAYERNORM) {
            const int64_t shape[1] = {d->c_in};
            node->weight = add_param(net, arena, d->name, "weight", 1, shape, 0, 1, 0);
            node->bias = add_param(net, arena, d->name, "bias", 1, shape, 0, 1, 0);
            node->ln.mean = NMT_ARENA_FLOATS(arena, cols);
            node->ln.rstd = NMT_ARENA_FLOATS(arena, cols);
        } else if (d->op == NMT_OP_ATTENTION) {
            const attention_shape s = attention_shape_of(d, net->max_batch);
            node->lse = NMT_ARENA_FLOATS(arena, (size_t)net->max_batch * s.heads * s.tokens);
            if (attention_workspace_floats(&s) > attention_floats) attention_floats = attention_workspace_floats(&s);
        }
    }
    size_t offset[NMT_MAX_NODES];
    float *pool = NMT_ARENA_FLOATS(arena, plan_gradients(net, offset));
    for (int i = 0; i < n; i++) net->nodes[i].grad = pool ? pool + offset[i] : NULL;
    net->col = NMT_ARENA_FLOATS(arena, workspace);
    net->col_floats = workspace;
    net->dy_scratch = dy_scratch_bytes ? nmt_arena_alloc(arena, dy_scratch_bytes) : NULL;
    net->w_scratch = NMT_ARENA_FLOATS(arena, w_scratch_floats);
    net->attention_threads = omp_get_max_threads();
    net->attention_workspace = NMT_ARENA_FLOATS(arena, attention_floats * net->attention_threads);
}

static void init_weights(nmt_net *net, uint64_t seed)
{
    nmt_rng rng;
    nmt_rng_seed(&rng, seed, 0x6e6d747261696eULL);
    for (int i = 0; i < net->desc.n_nodes; i++) {
        net_node *node = &net->nodes[i];
        const nmt_node *d = node->desc;
        if (is_gemm(d)) {
            /* kaiming_uniform(a = sqrt(5)): bound = 1 / sqrt(fan_in), as torch.nn does. */
            const float bound = 1.0f / sqrtf((float)d->c_in * d->kh * d->kw);
            nmt_param *w = &net->params[node->weight];
            for (int64_t j = 0; j < w->count; j++) w->data[j] = bound * (2.0f * nmt_rng_uniform(&rng) - 1.0f);
            if (node->bias >= 0) {
                nmt_param *b = &net->params[node->bias];
                for (int64_t j = 0; j < b->count; j++) b->data[j] = bound * (2.0f * nmt_rng_uniform(&rng) - 1.0f);
            }
            /* timm: class token and position embedding ~ N(0, 0.02^2) */
            for (int which = 0; which < 2 && d->op == NMT_OP_PATCH_EMBED; which++) {
                nmt_param *p = &net->params[which ? node->pos_embed : node->cls_token];
                for (int64_t j = 0; j < p->count; j++) p->data[j] = 0.02f * nmt_rng_normal(&rng);
            }
        } else if (d->op == NMT_OP_BATCHNORM) {
            for (int c = 0; c < d->c_in; c++) {
                net->params[node->weight].data[c] = 1.0f;
                net->params[node->running_var].data[c] = 1.0f;
            }
        } else if (d->op == NMT_OP_LAYERNORM) {
            for (int c = 0; c < d->c_in; c++) net->params[node->weight].data[c] = 1.0f;
        }
    }
}

nmt_net *nmt_net_create(const nmt_model_desc *desc, int max_batch, const nmt_method_config *method,
                        uint64_t seed)
{
    if (max_batch < 1) {
        nmt_error("batch size %d must be at least 1", max_batch);
        return NULL;
    }
    for (int i = 0; i < desc->n_nodes; i++) {
        /* A layer's GEMM columns (batch x output pixels) are ints. */
        if ((int64_t)max_batch * plane_out(&desc->nodes[i]) > INT32_MAX ||
            (int64_t)max_batch * plane_in(&desc->nodes[i]) > INT32_MAX) {
            nmt_error("model %s: a batch of %d through layer %s (%dx%d pixels) exceeds %d columns", desc->arch,
                      max_batch, desc->nodes[i].name, desc->nodes[i].h_in, desc->nodes[i].w_in, INT32_MAX);
            return NULL;
        }
    }
    nmt_net *net = calloc(1, sizeof *net);
    if (!net) {
        nmt_error("out of memory allocating the network");
        return NULL;
    }
    net->desc = *desc;
    net->max_batch = max_batch;
    net->seed = seed;
    if (method) {
        net->method = *method;
    } else {
        nmt_nm dense = {1, 1};
        nmt_method_defaults(NMT_METHOD_DENSE, dense, &net->method);
    }
    nmt_arena measure;
    nmt_arena_init(&measure, 0);
    plan_memory(net, &measure);
    if (nmt_arena_init(&net->arena, measure.peak) != 0) {
        free(net);
        return NULL;
    }
    plan_memory(net, &net->arena);
    init_weights(net, seed);
    nmt_net_refresh_sparse(net, 1);
    return net;
}

void nmt_net_free(nmt_net *net)
{
    if (!net) return;
    nmt_arena_free(&net->arena);
    free(net);
}

const nmt_model_desc *nmt_net_desc(const nmt_net *net) { return &net->desc; }
int nmt_net_param_count(const nmt_net *net) { return net->n_params; }
nmt_param *nmt_net_param(nmt_net *net, int i) { return &net->params[i]; }
size_t nmt_net_bytes(const nmt_net *net) { return net->arena.capacity; }
int64_t nmt_net_bn_batches(const nmt_net *net) { return net->bn_batches; }
void nmt_net_set_step(nmt_net *net, int64_t step) { net->step = step; }
void nmt_net_set_bn_batches(nmt_net *net, int64_t batches) { net->bn_batches = batches; }

nmt_param *nmt_net_find_param(nmt_net *net, const char *name)
{
    for (int i = 0; i < net->n_params; i++)
        if (!strcmp(net->params[i].name, name)) return &net->params[i];
    return NULL;
}

void nmt_net_refresh_sparse(nmt_net *net, int new_masks)
{
    const double start = net->profiling ? nmt_now() : 0.0;
    for (int i = 0; i < net->desc.n_nodes; i++) {
        net_node *node = &net->nodes[i];
        if (is_gemm(node->desc))
            method_layer_refresh(&net->method, &node->sparse, net->params[node->weight].data, new_masks);
    }
    if (net->profiling) net->refresh_seconds += nmt_now() - start;
}

static int all_finite(const float *v, int64_t n)
{
    int64_t bad = 0;
#pragma omp parallel for simd reduction(+ : bad) schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) bad += !isfinite(v[i]);
    return bad == 0;
}

const char *nmt_net_first_nonfinite(nmt_net *net, nmt_tensor_part part)
{
    for (int i = 0; i < net->n_params; i++) {
        const nmt_param *p = &net->params[i];
        const float *v = part == NMT_PART_VALUES ? p->data : part == NMT_PART_GRADS ? p->grad : p->momentum;
        if (v && !all_finite(v, p->count)) return p->name;
    }
    return NULL;
}

int nmt_net_masks(nmt_net *net, nmt_net_mask *out, int max)
{
    int count = 0;
    for (int i = 0; i < net->desc.n_nodes; i++) {
        net_node *node = &net->nodes[i];
        if (!is_gemm(node->desc)) continue;
        const char *names[3];
        uint8_t *masks[3];
        const int n = method_layer_masks(&node->sparse, names, masks);
        for (int j = 0; j < n && count < max; j++, count++) {
            out[count].param = net->params[node->weight].name;
            out[count].kind = names[j];
            out[count].data = masks[j];
            out[count].count = (size_t)node->sparse.c_out * node->sparse.k;
        }
    }
    return count;
}

int nmt_net_restore_masks(nmt_net *net)
{
    for (int i = 0; i < net->desc.n_nodes; i++) {
        net_node *node = &net->nodes[i];
        const char *bad;
        if (is_gemm(node->desc) && method_layer_check_masks(&net->method, &node->sparse, &bad) != 0) {
            nmt_error("mask m_%s of %s keeps more than %d of %d in a group", bad, net->params[node->weight].name,
                      net->method.nm.n, net->method.nm.m);
            return -1;
        }
    }
    nmt_net_refresh_sparse(net, 0);
    return 0;
}

const nmt_packed *nmt_net_forward_operand(nmt_net *net, const char *param_name)
{
    for (int i = 0; i < net->desc.n_nodes; i++) {
        const net_node *node = &net->nodes[i];
        if (is_gemm(node->desc) && !strcmp(net->params[node->weight].name, param_name))
            return method_fw_operand(&node->sparse, NULL).packed;
    }
    return NULL;
}

static const float *input_of(const nmt_net *net, const nmt_node *d, int which)
{
    const int src = which ? d->input2 : d->input;
    return src < 0 ? net->input : net->nodes[src].out;
}

static float *grad_of(nmt_net *net, const nmt_node *d, int which)
{
    const int src = which ? d->input2 : d->input;
    return src < 0 ? NULL : net->nodes[src].grad;
}

/* Node i's dropout draws this step: keyed apart from --grad-nm's draws of
 * the same node (layer NMT_MAX_NODES + i). */
static dropout_draws dropout_draws_of(const nmt_net *net, int i)
{
    const nmt_node *d = &net->desc.nodes[i];
    const dropout_draws draws = {nmt_rng_counter_key(net->seed, (uint64_t)net->step, (uint64_t)(NMT_MAX_NODES + i)),
                                 net->dropout, d->c_out, (int)plane_out(d), net->first_sample};
    return draws;
}

static int comm_sum_doubles(void *ctx, double *values, size_t n)
{
    nmt_comm *comm = ctx;
    return comm->sum_doubles(comm, values, n);
}

float nmt_net_forward(nmt_net *net, const float *x, const int *labels, int batch, int training,
                      float label_smoothing, int *correct)
{
    if (batch < 1 || batch > net->max_batch) {
        nmt_error("batch of %d samples: the network was built for 1 to %d", batch, net->max_batch);
        return NAN;
    }
    net->input = x;
    net->labels = labels;
    net->batch = batch;
    net->smoothing = label_smoothing;
    net->training = training;
    if (training) net->bn_batches++;
    for (int i = 0; i < net->desc.n_nodes; i++) {
        net_node *node = &net->nodes[i];
        const nmt_node *d = node->desc;
        const float *in = input_of(net, d, 0);
        const int64_t n_in = (int64_t)d->c_in * batch * plane_in(d);
        const int cols = (int)(batch * plane_in(d));
        const double start = net->profiling ? nmt_now() : 0.0;
        switch (d->op) {
        case NMT_OP_CONV:
        case NMT_OP_LINEAR:
        case NMT_OP_PATCH_EMBED: {
            const float *w = net->params[node->weight].data;
            if (conv_forward(&node->conv, batch, method_fw_operand(&node->sparse, w),
                             node->bias >= 0 ? net->params[node->bias].data : NULL, in, net->col, net->col_floats,
                             d->op == NMT_OP_PATCH_EMBED ? node->patches : node->out,
                             net->profiling ? &net->conv_phases : NULL))
                return NAN;
            if (d->op == NMT_OP_PATCH_EMBED)
                tokens_forward(d->c_out, batch, node->conv.shape.ho * node->conv.shape.wo, node->patches,
                               net->params[node->cls_token].data, net->params[node->pos_embed].data, node->out);
            break;
        }
        case NMT_OP_LAYERNORM:
            layernorm_forward(d->c_in, cols, in, net->params[node->weight].data, net->params[node->bias].data,
                              NMT_LN_EPS, node->ln, node->out);
            break;
        case NMT_OP_GELU:
            gelu_forward(n_in, in, node->out);
            break;
        case NMT_OP_ATTENTION: {
            const attention_shape s = attention_shape_of(d, batch);
            attention_forward(&s, in, node->lse, net->attention_workspace, net->attention_threads, node->out);
            break;
        }
        case NMT_OP_TOKEN_POOL:
            token_pool_forward(d->c_in, batch, d->h_in, in, node->out);
            break;
        case NMT_OP_BATCHNORM:
            if (training && net->bn_comm)
                batchnorm_forward_train_summed(d->c_in, cols, in, net->params[node->weight].data,
                                               net->params[node->bias].data, net->params[node->running_mean].data,
                                               net->params[node->running_var].data, BN_MOMENTUM, NMT_BN_EPS,
                                               node->saved, node->out, comm_sum_doubles, net->bn_comm);
            else if (training)
                batchnorm_forward_train(d->c_in, cols, in, net->params[node->weight].data,
                                        net->params[node->bias].data, net->params[node->running_mean].data,
                                        net->params[node->running_var].data, BN_MOMENTUM, NMT_BN_EPS,
                                        node->saved, node->out);
            else
                batchnorm_forward_eval(d->c_in, cols, in, net->params[node->weight].data,
                                       net->params[node->bias].data, net->params[node->running_mean].data,
                                       net->params[node->running_var].data, NMT_BN_EPS, node->out);
            break;
        case NMT_OP_RELU:
            relu_forward(n_in, in, node->out);
            break;
        case NMT_OP_MAXPOOL: {
            const pool_shape s = pool_shape_of(d, batch);
            maxpool_forward(&s, in, node->out);
            break;
        }
        case NMT_OP_ADAPTIVE_MAXPOOL: {
            const pool_shape s = pool_shape_of(d, batch);
            adaptive_maxpool_forward(&s, in, node->out);
            break;
        }
        case NMT_OP_AVGPOOL:
            avgpool_forward(d->c_in, batch, (int)plane_in(d), in, node->out);
            break;
        case NMT_OP_ADD:
            add_forward(n_in, in, input_of(net, d, 1), node->out);
            break;
        case NMT_OP_FLATTEN:
            flatten_forward(d->c_in, batch, (int)plane_in(d), in, node->out);
            break;
        case NMT_OP_SCALE:
            scale_forward(n_in, d->scale, in, node->out);
            break;
        default:
            /* nmt_net_create only accepts descriptions of the ops above. */
            break;
        }
        if (training && net->dropout > 0.0f && d->dropout) {
            const dropout_draws draws = dropout_draws_of(net, i);
            dropout_apply(&draws, batch, node->out);
        }
        if (net->profiling) net->seconds[d->op][0] += nmt_now() - start;
    }
    if (!labels) return 0.0f;
    const nmt_node *last = &net->desc.nodes[net->desc.n_nodes - 1];
    return cross_entropy(last->c_out, batch, net->nodes[net->desc.n_nodes - 1].out, labels,
                         label_smoothing, NULL, batch, correct);
}

const float *nmt_net_logits(const nmt_net *net)
{
    return net->nodes[net->desc.n_nodes - 1].out;
}

int nmt_net_backward(nmt_net *net)
{
    const int batch = net->batch, last = net->desc.n_nodes - 1;
    const int grad_batch = net->grad_batch > 0 ? net->grad_batch : batch;
    cross_entropy(net->desc.nodes[last].c_out, batch, net->nodes[last].out, net->labels, net->smoothing,
                  net->nodes[last].grad, grad_batch, NULL);
    for (int i = last; i >= 0; i--) {
        net_node *node = &net->nodes[i];
        const nmt_node *d = node->desc;
        const float *in = input_of(net, d, 0), *dy = node->grad;
        float *dx = grad_of(net, d, 0);
        const int64_t n_in = (int64_t)d->c_in * batch * plane_in(d);
        const int cols = (int)(batch * plane_in(d));
        double start = net->profiling ? nmt_now() : 0.0;
        /* Inputs this node is the last reader of get their gradient buffer
         * now: it is written first here, then accumulated by earlier readers.
         * Batch norm and ReLU overwrite instead when they are the only
         * reader, convolutions and max pooling whenever they write first. */
        const int writes_first = d->op == NMT_OP_CONV || d->op == NMT_OP_LINEAR || d->op == NMT_OP_MAXPOOL ||
                                 d->op == NMT_OP_ADAPTIVE_MAXPOOL || d->op >= NMT_OP_PATCH_EMBED;
        const int overwrite = d->input >= 0 &&
                              (writes_first ? net->nodes[d->input].last_consumer == i
                                            : (d->op == NMT_OP_BATCHNORM || d->op == NMT_OP_RELU) &&
                                                  net->nodes[d->input].consumers == 1);
        /* The residual add writes each input's gradient it is first to write
         * (a copy), and adds to the others. */
        int first_writer[2] = {0, 0};
        for (int which = 0; which < 2; which++) {
            const int src = which ? d->input2 : d->input;
            first_writer[which] = src >= 0 && net->nodes[src].last_consumer == i && !(which && src == d->input);
        }
        for (int which = 0; which < 2 && !overwrite && d->op != NMT_OP_ADD; which++)
            if (first_writer[which]) zero_fill(n_in, net->nodes[(which ? d->input2 : d->input)].grad);
        if (net->training && net->dropout > 0.0f && d->dropout) { /* the gradient through the forward's mask */
            const dropout_draws draws = dropout_draws_of(net, i);
            dropout_apply(&draws, batch, node->grad);
        }
        switch (d->op) {
        case NMT_OP_CONV:
        case NMT_OP_LINEAR:
        case NMT_OP_PATCH_EMBED: {
            nmt_param *w = &net->params[node->weight];
            const int gemm_plane = node->conv.shape.ho * node->conv.shape.wo; /* a patch embedding's patches */
            if (d->op == NMT_OP_PATCH_EMBED) { /* the class token and position embedding first */
                tokens_backward(d->c_out, batch, gemm_plane, dy, node->patches_grad,
                                net->params[node->cls_token].grad, net->params[node->pos_embed].grad);
                dy = node->patches_grad;
            }
            nmt_packed dy_packed;
            const double prune_start = net->profiling ? nmt_now() : 0.0;
            const nmt_operand dy_bw =
                dx ? method_bw_dy(&net->method, &node->sparse, batch * gemm_plane, dy, net->dy_scratch, &dy_packed)
                   : (nmt_operand){dy, NULL};
            if (net->profiling) net->prune_seconds += nmt_now() - prune_start;
            const double operand_start = net->profiling ? nmt_now() : 0.0;
            const nmt_operand w_bw = dx ? method_bw_operand(&net->method, &node->sparse, w->data, net->w_scratch)
                                        : (nmt_operand){w->data, NULL};
            if (net->profiling) { /* counted under "sparse operands", not the convolution */
                const double spent = nmt_now() - operand_start;
                net->operand_seconds += spent;
                start += spent;
            }
            /* --grad-nm's draws: keyed by (seed, step, layer), counted over
             * the global batch's columns, as one process counts them */
            const nmt_mvue_draws wg_draws = {nmt_rng_counter_key(net->seed, (uint64_t)net->step, (uint64_t)i),
                                             (int64_t)grad_batch * gemm_plane, (int64_t)net->first_sample * gemm_plane};
            if (conv_backward(&node->conv, batch, w_bw, in, dy, wg_draws, dy_bw, w->grad,
                              node->bias >= 0 ? net->params[node->bias].grad : NULL, dx, !overwrite, net->col,
                              net->col_floats, net->profiling ? &net->conv_phases : NULL))
                return -1;
            if (grad_batch != batch) { /* each rank adds its share of the decay term */
                nmt_method_config shared = net->method;
                shared.decay *= (float)batch / (float)grad_batch;
                method_correct_wg(&shared, &node->sparse, w->data, w->grad);
            } else {
                method_correct_wg(&net->method, &node->sparse, w->data, w->grad);
            }
            break;
        }
        case NMT_OP_BATCHNORM:
            if (net->bn_comm)
                batchnorm_backward_summed(d->c_in, cols, in, net->params[node->weight].data, node->saved, dy,
                                          net->params[node->weight].grad, net->params[node->bias].grad, dx,
                                          !overwrite, comm_sum_doubles, net->bn_comm);
            else
                batchnorm_backward(d->c_in, cols, in, net->params[node->weight].data, node->saved, dy,
                                   net->params[node->weight].grad, net->params[node->bias].grad, dx, !overwrite);
            break;
        case NMT_OP_RELU:
            if (dx) relu_backward(n_in, node->out, dy, dx, !overwrite);
            break;
        case NMT_OP_MAXPOOL:
        case NMT_OP_ADAPTIVE_MAXPOOL: {
            const pool_shape s = pool_shape_of(d, batch);
            if (dx && d->op == NMT_OP_MAXPOOL) maxpool_backward(&s, in, node->out, dy, dx, !overwrite);
            else if (dx) adaptive_maxpool_backward(&s, in, node->out, dy, dx, !overwrite);
            break;
        }
        case NMT_OP_AVGPOOL:
            if (dx) avgpool_backward(d->c_in, batch, (int)plane_in(d), dy, dx);
            break;
        case NMT_OP_ADD:
            add_backward(n_in, dy, dx, first_writer[0], grad_of(net, d, 1), first_writer[1]);
            break;
        case NMT_OP_FLATTEN:
            if (dx) flatten_backward(d->c_in, batch, (int)plane_in(d), dy, dx);
            break;
        case NMT_OP_SCALE:
            if (dx) scale_backward(n_in, d->scale, dy, dx);
            break;
        case NMT_OP_LAYERNORM:
            layernorm_backward(d->c_in, cols, in, net->params[node->weight].data, node->ln, dy,
                               net->params[node->weight].grad, net->params[node->bias].grad, dx, !overwrite);
            break;
        case NMT_OP_GELU:
            if (dx) gelu_backward(n_in, in, dy, dx, !overwrite);
            break;
        case NMT_OP_ATTENTION:
            if (dx) {
                const attention_shape s = attention_shape_of(d, batch);
                attention_backward(&s, in, node->out, node->lse, dy, net->attention_workspace, net->attention_threads,
                                   dx, !overwrite);
            }
            break;
        case NMT_OP_TOKEN_POOL:
            if (dx) token_pool_backward(d->c_in, batch, d->h_in, dy, dx, !overwrite);
            break;
        default:
            break;
        }
        if (net->profiling) net->seconds[d->op][1] += nmt_now() - start;
        if (net->grad_ready) { /* every parameter the node owns */
            const int owned[] = {node->weight, node->bias, node->cls_token, node->pos_embed};
            for (size_t k = 0; k < sizeof owned / sizeof owned[0]; k++)
                if (owned[k] >= 0) net->grad_ready(net->grad_ready_ctx, owned[k]);
        }
    }
    return 0;
}

void nmt_net_set_grad_batch(nmt_net *net, int global_batch) { net->grad_batch = global_batch; }

int nmt_net_set_dropout(nmt_net *net, float p)
{
    if (nmt_model_check_dropout(&net->desc, p) != 0) return -1;
    net->dropout = p;
    return 0;
}
void nmt_net_set_first_sample(nmt_net *net, int first_sample) { net->first_sample = first_sample; }

void nmt_net_on_grad_ready(nmt_net *net, void (*ready)(void *ctx, int index), void *ctx)
{
    net->grad_ready = ready;
    net->grad_ready_ctx = ctx;
}

void nmt_net_sync_batchnorm(nmt_net *net, nmt_comm *comm) { net->bn_comm = comm && comm->size > 1 ? comm : NULL; }

void nmt_net_set_profiling(nmt_net *net, int on)
{
    net->profiling = on;
    memset(net->seconds, 0, sizeof net->seconds);
    memset(&net->conv_phases, 0, sizeof net->conv_phases);
    net->prune_seconds = net->refresh_seconds = net->operand_seconds = 0.0;
}

static void profile_row(FILE *out, const char *name, double fw, double bw, double total)
{
    fprintf(out, "%-22s %10.1f %10.1f %6.1f%%\n", name, 1e3 * fw, 1e3 * bw, total > 0 ? 100.0 * (fw + bw) / total : 0.0);
}

void nmt_net_print_profile(const nmt_net *net, FILE *out)
{
    double total = net->refresh_seconds + net->operand_seconds;
    for (int op = 0; op < NMT_OP_COUNT; op++) total += net->seconds[op][0] + net->seconds[op][1];
    fprintf(out, "%-22s %10s %10s %7s\n", "op", "fw ms", "bw ms", "share");
    for (int op = 0; op < NMT_OP_COUNT; op++) {
        const double fw = net->seconds[op][0], bw = net->seconds[op][1];
        if (fw + bw <= 0.0) continue;
        profile_row(out, nmt_op_name((nmt_op)op), fw, bw, total);
        if (op != NMT_OP_CONV) continue;
        /* conv and linear layers together, by phase */
        const double *t = net->conv_phases.seconds;
        profile_row(out, "  lowering", t[CONV_LOWER_FW], t[CONV_LOWER_BW], total);
        profile_row(out, "  GEMM FW / dX", t[CONV_GEMM_FW], t[CONV_BACKWARD_DATA], total);
        profile_row(out, "  GEMM dW", 0.0, t[CONV_WEIGHT_GRAD], total);
        if (net->method.kind == NMT_METHOD_SDGP || net->method.grad_nm.m)
            profile_row(out, "  dY pruning", 0.0, net->prune_seconds + t[CONV_PRUNE_WG], total);
    }
    if (net->method.kind != NMT_METHOD_DENSE)
        profile_row(out, "sparse operands", net->refresh_seconds, net->operand_seconds, total);
}

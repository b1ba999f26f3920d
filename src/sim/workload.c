/* Workloads: model descriptions (and topology nodes) turned into the
 * simulator's layers: the GEMMs of FW, BW and WG, the vector work, the
 * optimiser update and the sparse-weight generation, per training method. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/vit.h"
#include "sim/sim_internal.h"

void nmt_sim_options_default(nmt_sim_options *o)
{
    memset(o, 0, sizeof *o);
    nmt_method_defaults(NMT_METHOD_BDWP, (nmt_nm){2, 8}, &o->method);
    o->training = 1;
}

const char *nmt_sim_phase_name(nmt_sim_phase p)
{
    static const char *const names[NMT_SIM_NPHASES] = {"FW", "BW", "WG", "UPD", "GEN"};
    return (p >= 0 && p < NMT_SIM_NPHASES) ? names[p] : "?";
}

static int workload_alloc(nmt_sim_workload *wl, int n)
{
    wl->nodes = calloc(n > 0 ? (size_t)n : 1, sizeof *wl->nodes);
    wl->node_nm = calloc(n > 0 ? (size_t)n : 1, sizeof *wl->node_nm);
    if (!wl->nodes || !wl->node_nm) {
        free(wl->nodes);
        free(wl->node_nm);
        wl->nodes = NULL;
        wl->node_nm = NULL;
        nmt_error("out of memory for a %d-node workload", n);
        return -1;
    }
    wl->n_nodes = n;
    return 0;
}

int nmt_sim_workload_from_model(const nmt_model_desc *desc, int batch, const nmt_sim_options *opts,
                                nmt_sim_workload *out)
{
    memset(out, 0, sizeof *out);
    if (batch < 1) {
        nmt_error("batch size %d must be at least 1", batch);
        return -1;
    }
    if (desc->n_nodes < 1) {
        nmt_error("model %s has no layers", desc->arch);
        return -1;
    }
    if (workload_alloc(out, desc->n_nodes)) return -1;
    snprintf(out->name, sizeof out->name, "%s", desc->arch);
    out->batch = batch;
    out->opts = *opts;
    out->classes = desc->classes;
    memcpy(out->nodes, desc->nodes, sizeof(nmt_node) * (size_t)desc->n_nodes);
    return 0;
}

int nmt_sim_workload_copy(const nmt_sim_workload *src, nmt_sim_workload *out)
{
    *out = *src;
    out->nodes = NULL;
    out->node_nm = NULL;
    if (workload_alloc(out, src->n_nodes)) return -1;
    memcpy(out->nodes, src->nodes, sizeof(nmt_node) * (size_t)src->n_nodes);
    memcpy(out->node_nm, src->node_nm, sizeof(nmt_nm) * (size_t)src->n_nodes);
    return 0;
}

void nmt_sim_workload_free(nmt_sim_workload *wl)
{
    free(wl->nodes);
    free(wl->node_nm);
    memset(wl, 0, sizeof *wl);
}

/* ---- the paper's zoo ------------------------------------------------------- */

typedef struct zoo_entry {
    const char *name, *arch, *dataset;
    int in_h, classes, imagenet_stem;
} zoo_entry;

static const zoo_entry zoo[] = {
    {"resnet9", "resnet9", "CIFAR-10", 32, 10, 0},
    {"vit", "vit", "CIFAR-10", 32, 10, 0},
    {"vgg19", "vgg19", "CIFAR-100", 32, 100, 0},
    {"resnet18", "resnet18", "Tiny ImageNet", 64, 200, 0},
    {"resnet50", "resnet50", "ImageNet", 224, 1000, 1},
};

int nmt_sim_zoo_count(void) { return (int)(sizeof zoo / sizeof zoo[0]); }

const char *nmt_sim_zoo_name(int i)
{
    return (i >= 0 && i < nmt_sim_zoo_count()) ? zoo[i].name : NULL;
}

int nmt_sim_zoo_describe(const char *name, nmt_model_desc *out)
{
    for (int i = 0; i < nmt_sim_zoo_count(); i++) {
        if (!sim_strieq(name, zoo[i].name)) continue;
        nmt_model_config mc;
        memset(&mc, 0, sizeof mc);
        mc.arch = zoo[i].arch;
        mc.width = 1.0f;
        mc.in_c = 3;
        mc.in_h = mc.in_w = zoo[i].in_h;
        mc.classes = zoo[i].classes;
        mc.imagenet_stem = zoo[i].imagenet_stem;
        /* ViT is described here directly, so the simulator has its shapes even
         * before the engine's dispatcher knows the architecture. */
        if (!strcmp(zoo[i].arch, "vit")) return nmt_describe_vit(&mc, out);
        return nmt_model_describe(&mc, out);
    }
    nmt_error("'%s' is not a zoo model (resnet9, vit, vgg19, resnet18, resnet50)", name);
    return -1;
}

/* ---- nodes to layers ------------------------------------------------------- */

static void gemm_init(const nmt_sim_config *cfg, nmt_sim_gemm *g, int64_t m, int64_t n, int64_t k, int64_t count)
{
    memset(g, 0, sizeof *g);
    g->m = m, g->n = n, g->k = k, g->count = count;
    g->a_dram_ratio = g->b_dram_ratio = 1.0;
    g->a_bytes = g->b_bytes = cfg->act_bytes;
    g->out_bytes = cfg->act_bytes;
}

static int64_t node_elems_in(const nmt_node *n) { return (int64_t)n->c_in * n->h_in * n->w_in; }
static int64_t node_elems_out(const nmt_node *n) { return (int64_t)n->c_out * n->h_out * n->w_out; }

static int is_gemm_op(nmt_op op)
{
    return op == NMT_OP_CONV || op == NMT_OP_PATCH_EMBED || op == NMT_OP_LINEAR;
}

/* Which GEMMs of a weight layer are N:M: the method rule's answer for the
 * layer's N:M (a topology row may carry its own). */
static void layer_sparsity(const nmt_sim_workload *wl, const nmt_node *n, nmt_nm nm, nmt_sim_layer *L,
                           nmt_layer_sparsity *rule)
{
    nmt_method_config method = wl->opts.method;
    method.nm = nm;
    nmt_layer_sparsity_of(n, &method, rule);
    L->nm = rule->nm;
    L->sparse_fw = nmt_gemm_is_nm(rule, NMT_GEMM_FW);
    L->sparse_bw = nmt_gemm_is_nm(rule, NMT_GEMM_BW);
    snprintf(L->note, sizeof L->note, "%s", rule->why);
}

static int is_weight_operand(nmt_nm_operand op)
{
    return op == NMT_NM_W_IN || op == NMT_NM_W_OUT || op == NMT_NM_W_T;
}

static int node_to_layer(const nmt_sim_config *cfg, const nmt_sim_workload *wl, int idx, nmt_sim_layer *L)
{
    const nmt_node *n = &wl->nodes[idx];
    const nmt_sim_options *o = &wl->opts;
    const int64_t B = wl->batch;
    memset(L, 0, sizeof *L);
    snprintf(L->name, sizeof L->name, "%s", n->name);
    L->op = n->op;
    L->node = idx;
    L->gen_factor = 1.0;
    L->gen_interval = 1.0;
    nmt_nm nm = (wl->node_nm && wl->node_nm[idx].m > 0) ? wl->node_nm[idx] : o->method.nm;
    L->nm.n = L->nm.m = 1;
    if (sim_nm_sparse(nm) && nm.m > cfg->max_m) {
        nmt_error("layer %s: N:M %d:%d needs groups of %d but the PE multiplexer supports max_m = %d", n->name,
                  nm.n, nm.m, nm.m, cfg->max_m);
        return -1;
    }
    const int need_bw = n->input >= 0;
    nmt_layer_sparsity rule = {0};
    {
        /* keep every count well inside int64 (and the report's doubles exact) */
        double macs = (double)n->c_in * n->kh * n->kw * n->c_out * n->h_out * n->w_out * (double)B;
        double lin = (double)n->c_in * n->c_out * n->h_in * n->w_in * (double)B;
        double elems = ((double)n->c_in * n->h_in * n->w_in + (double)n->c_out * n->h_out * n->w_out) * (double)B;
        if (n->c_in < 0 || n->c_out < 0 || n->h_in < 0 || n->w_in < 0 || n->h_out < 0 || n->w_out < 0 ||
            macs > 1e17 || lin > 1e17 || elems > 1e15) {
            nmt_error("layer %s: %dx%dx%d -> %dx%dx%d at batch %lld is too large to simulate", n->name, n->c_in,
                      n->h_in, n->w_in, n->c_out, n->h_out, n->w_out, (long long)B);
            return -1;
        }
    }
    const int64_t e_in = node_elems_in(n) * B, e_out = node_elems_out(n) * B;
    const double ab = cfg->act_bytes;

    if (is_gemm_op(n->op)) {
        int64_t cin = n->c_in, cout = n->c_out, kh = 1, kw = 1, s = 1, pix_out, pix_in;
        if (n->op == NMT_OP_LINEAR) {
            pix_out = pix_in = (int64_t)n->h_in * n->w_in;
        } else {
            kh = n->kh, kw = n->kw, s = n->stride > 0 ? n->stride : 1;
            pix_out = n->op == NMT_OP_PATCH_EMBED ? nmt_node_patches(n) : (int64_t)n->h_out * n->w_out;
            pix_in = (int64_t)n->h_in * n->w_in;
        }
        const int64_t K = cin * kh * kw, P = B * pix_out;
        layer_sparsity(wl, n, nm, L, &rule);
        double lowered_ratio = (double)pix_in / ((double)kh * kw * pix_out);
        if (lowered_ratio > 1.0) lowered_ratio = 1.0;
        /* FW: Y[cout x P] = W[cout x K] X[K x P] */
        nmt_sim_gemm *g = &L->gemm[NMT_SIM_FW][L->n_gemm[NMT_SIM_FW]++];
        gemm_init(cfg, g, cout, P, K, 1);
        g->a_bytes = cfg->weight_bytes;
        g->b_dram_ratio = lowered_ratio;
        if (L->sparse_fw) g->nm = nm;
        if (o->training && need_bw) {
            /* BW as a transposed convolution split into stride^2 sub-pixel
             * phases; phase (a, b) reduces over cout x ta x tb taps. Phases of
             * equal tap count are one GEMM with a count. */
            int64_t taps[NMT_SIM_MAX_GEMMS] = {0}, cnt[NMT_SIM_MAX_GEMMS] = {0};
            int nt = 0;
            /* along one dimension, kernel k and stride s: k % s phases see
             * k / s + 1 taps, the other s - k % s phases k / s taps */
            const int64_t qa = kh / s, ra = kh % s, qb = kw / s, rb = kw % s;
            const int64_t ta_v[2] = {qa + 1, qa}, ta_n[2] = {ra, s - ra};
            const int64_t tb_v[2] = {qb + 1, qb}, tb_n[2] = {rb, s - rb};
            for (int x = 0; x < 2; x++)
                for (int y = 0; y < 2; y++) {
                    int64_t t = ta_v[x] * tb_v[y], c = ta_n[x] * tb_n[y];
                    if (!t || !c) continue;
                    int j = 0;
                    while (j < nt && taps[j] != t) j++;
                    if (j == nt) taps[nt++] = t;
                    cnt[j] += c;
                }
            for (int j = 0; j < nt; j++) {
                g = &L->gemm[NMT_SIM_BW][L->n_gemm[NMT_SIM_BW]++];
                /* each phase covers one output grid (P columns) of dX pixels;
                 * over all phases the MACs equal the forward's */
                gemm_init(cfg, g, cin, P, cout * taps[j], cnt[j]);
                g->a_bytes = cfg->weight_bytes;
                g->b_dram_ratio = 1.0 / (double)taps[j];
                if (L->sparse_bw) {
                    g->nm = nm;
                    g->sparse_b = rule.gemm[NMT_GEMM_BW] == NMT_NM_DY_CHANNELS;
                }
            }
        }
        if (o->training) {
            /* WG: dW[cout x K] = dY[cout x P] X^T[P x K], FP32 result. Under
             * --grad-nm dY (A) is N:M along P: the vector engine prunes it
             * (a draw, a scale and a compare per pair: the generator only
             * ranks magnitudes), reading dY and writing it packed. */
            g = &L->gemm[NMT_SIM_WG][L->n_gemm[NMT_SIM_WG]++];
            gemm_init(cfg, g, cout, K, P, 1);
            g->b_dram_ratio = lowered_ratio;
            g->out_bytes = cfg->psum_bytes;
            if (nmt_gemm_is_nm(&rule, NMT_GEMM_WG)) {
                const nmt_nm wg = rule.wg_nm;
                g->nm = wg;
                L->vec_ops[NMT_SIM_WG] += cfg->vec_grad_prune * (double)e_out;
                L->vec_bytes[NMT_SIM_WG] += (double)e_out * ab * (1.0 + (double)wg.n / wg.m);
            }
        }
        /* bias (and ViT's position embedding) on the vector engine, fused
         * with the GEMM output stream: no extra DRAM traffic */
        if (n->bias || n->op == NMT_OP_PATCH_EMBED) {
            L->vec_ops[NMT_SIM_FW] = cfg->vec_fw[n->op] * (double)e_out;
            if (o->training) L->vec_ops[NMT_SIM_BW] = cfg->vec_bw[n->op] * (double)e_out;
        }
        L->weights = cout * K;
        L->params = nmt_node_params(n);
        L->gen_elems_per_dir = (double)L->weights;
        /* The generator makes each distinct N:M weight operand (one
         * transposable mask serves both directions) and, every step before
         * BW, sdgp's pruned dY. */
        const nmt_nm_operand fw_op = rule.gemm[NMT_GEMM_FW], bw_op = rule.gemm[NMT_GEMM_BW];
        L->gen_dirs = is_weight_operand(fw_op) + (is_weight_operand(bw_op) && bw_op != fw_op);
        if (fw_op == NMT_NM_W_T) L->gen_factor = cfg->gen_tnm_factor;
        L->gen_interval = nmt_method_mask_interval(&o->method);
        if (bw_op == NMT_NM_DY_CHANNELS && o->training) L->gen_runtime_elems = (double)e_out;
        L->needs_fp16_copy = !is_weight_operand(fw_op) || (need_bw && !is_weight_operand(bw_op));
        if (!o->training) L->gen_dirs = 0; /* inference: weights packed offline */
    } else if (n->op == NMT_OP_ATTENTION) {
        const int64_t T = n->h_in, H = n->heads > 0 ? n->heads : 1, dh = n->c_in / H;
        const int64_t cnt = B * H;
        nmt_sim_gemm *g = &L->gemm[NMT_SIM_FW][L->n_gemm[NMT_SIM_FW]++];
        gemm_init(cfg, g, T, T, dh, cnt); /* S = Q K^T */
        g = &L->gemm[NMT_SIM_FW][L->n_gemm[NMT_SIM_FW]++];
        gemm_init(cfg, g, T, dh, T, cnt); /* O = P V */
        const double scores = (double)(T * T * cnt);
        L->vec_ops[NMT_SIM_FW] = scores * (cfg->vec_softmax_fw + cfg->vec_fw[NMT_OP_ATTENTION]);
        L->vec_bytes[NMT_SIM_FW] = scores * ab * 2;
        if (o->training && need_bw) {
            g = &L->gemm[NMT_SIM_BW][L->n_gemm[NMT_SIM_BW]++];
            gemm_init(cfg, g, T, T, dh, cnt); /* dP = dO V^T */
            g = &L->gemm[NMT_SIM_BW][L->n_gemm[NMT_SIM_BW]++];
            gemm_init(cfg, g, T, dh, T, cnt); /* dV = P^T dO */
            g = &L->gemm[NMT_SIM_BW][L->n_gemm[NMT_SIM_BW]++];
            gemm_init(cfg, g, T, dh, T, cnt); /* dQ = dS K */
            g = &L->gemm[NMT_SIM_BW][L->n_gemm[NMT_SIM_BW]++];
            gemm_init(cfg, g, T, dh, T, cnt); /* dK = dS^T Q */
            L->vec_ops[NMT_SIM_BW] = scores * (cfg->vec_softmax_bw + cfg->vec_bw[NMT_OP_ATTENTION]);
            L->vec_bytes[NMT_SIM_BW] = scores * ab * 3;
        }
    } else if (n->op != NMT_OP_FLATTEN) {
        /* vector-engine layers */
        double fw_elems = (double)e_in, bw_elems = (double)e_in;
        double fw_bytes = (double)(e_in + e_out) * ab;
        double bw_bytes = (double)(e_out + e_in) * ab;
        switch (n->op) {
        case NMT_OP_MAXPOOL: fw_elems = (double)e_out * n->kh * n->kw; bw_bytes += (double)e_out * ab; break;
        case NMT_OP_ADAPTIVE_MAXPOOL: bw_bytes += (double)e_out * ab; break;
        case NMT_OP_ADD: fw_bytes += (double)e_in * ab; bw_bytes += (double)e_out * ab; break;
        case NMT_OP_BATCHNORM:
        case NMT_OP_LAYERNORM:
        case NMT_OP_GELU:
        case NMT_OP_RELU: bw_bytes += (double)e_in * ab; break; /* the saved input */
        default: break;
        }
        L->vec_ops[NMT_SIM_FW] = cfg->vec_fw[n->op] * fw_elems;
        L->vec_bytes[NMT_SIM_FW] = fw_bytes;
        if (o->training && need_bw) {
            L->vec_ops[NMT_SIM_BW] = cfg->vec_bw[n->op] * bw_elems;
            L->vec_bytes[NMT_SIM_BW] = bw_bytes;
        }
        L->params = nmt_node_params(n);
    }
    if (o->training && L->params > 0) {
        double ops = cfg->upd_ops * (double)L->params;
        if (rule.decays) ops += cfg->upd_decay_ops * (double)L->weights;
        L->vec_ops[NMT_SIM_UPDATE] = ops;
        /* read W, dW, momentum; write W, momentum (+ the dense FP16 copy) */
        L->vec_bytes[NMT_SIM_UPDATE] = (double)L->params * (4.0 * cfg->master_bytes + cfg->psum_bytes) +
                                       (L->needs_fp16_copy ? (double)L->weights * cfg->weight_bytes : 0.0);
    }
    /* The simulator's GEMMs must carry exactly the model's MACs. */
    if (is_gemm_op(n->op) || n->op == NMT_OP_ATTENTION) {
        nmt_macs want = nmt_node_macs(n);
        int64_t want_ph[3] = {want.fw * B, o->training ? want.bw * B : 0, o->training ? want.wg * B : 0};
        for (int p = 0; p < 3; p++) {
            int64_t got = 0;
            for (int j = 0; j < L->n_gemm[p]; j++) {
                const nmt_sim_gemm *g = &L->gemm[p][j];
                got += g->m * g->n * g->k * g->count;
            }
            if (got != want_ph[p]) {
                nmt_error("layer %s: %s GEMMs carry %lld MACs but the model description says %lld", n->name,
                          nmt_sim_phase_name((nmt_sim_phase)p), (long long)got, (long long)want_ph[p]);
                return -1;
            }
        }
    }
    return 0;
}

int nmt_sim_layers(const nmt_sim_config *cfg, const nmt_sim_workload *wl, nmt_sim_layer **layers, int *n_layers)
{
    const nmt_nm nm = wl->opts.method.nm;
    if (wl->opts.method.kind != NMT_METHOD_DENSE && sim_nm_sparse(nm) && nm.m > cfg->max_m) {
        nmt_error("N:M %d:%d: M = %d exceeds the PE multiplexer's max_m = %d (raise max_m in the config)", nm.n,
                  nm.m, nm.m, cfg->max_m);
        return -1;
    }
    if (wl->batch < 1 || wl->n_nodes < 1) {
        nmt_error("workload %s: batch %d and %d layers (need at least 1 of each)", wl->name, wl->batch, wl->n_nodes);
        return -1;
    }
    int n = wl->n_nodes + (wl->classes > 0 ? 1 : 0);
    nmt_sim_layer *L = calloc((size_t)n, sizeof *L);
    if (!L) {
        nmt_error("out of memory for %d layers", n);
        return -1;
    }
    for (int i = 0; i < wl->n_nodes; i++) {
        if (node_to_layer(cfg, wl, i, &L[i])) {
            free(L);
            return -1;
        }
    }
    if (wl->classes > 0) {
        nmt_sim_layer *loss = &L[wl->n_nodes];
        memset(loss, 0, sizeof *loss);
        snprintf(loss->name, sizeof loss->name, "loss");
        loss->op = NMT_OP_COUNT;
        loss->node = -1;
        loss->nm.n = loss->nm.m = 1;
        double logits = (double)wl->classes * wl->batch;
        loss->vec_ops[NMT_SIM_FW] = cfg->vec_loss_fw * logits;
        loss->vec_bytes[NMT_SIM_FW] = logits * cfg->act_bytes;
        if (wl->opts.training) {
            loss->vec_ops[NMT_SIM_BW] = cfg->vec_loss_bw * logits;
            loss->vec_bytes[NMT_SIM_BW] = logits * cfg->act_bytes;
        }
    }
    *layers = L;
    *n_layers = n;
    return 0;
}

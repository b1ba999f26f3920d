/* --grad-nm in training steps against the PyTorch reference
 * (tests/ref/methods.py: MethodGemm with GradNM, written from
 * docs/methods.md; tests/fixtures/grad_nm_steps.safetensors): every method at
 * 2:4 and 2:8 (dense once; bdwp 2:8 also with a sparse classifier) with
 * --grad-nm 1:2 and 2:4 (which prune to the same values, so both run against
 * one stored case), on a small ResNet9 (SGD, batch 7 at 15x15: every GEMM
 * reduction is odd) and on a model of linear layers, the small ViT (AdamW;
 * 5 tokens at batch 5: 25 columns). Two optimiser steps, the draws keyed by
 * steps 0 and 1: the second step's gradients, then every weight and momentum
 * (AdamW's exp_avg), tensor by tensor with the max error printed. The layers
 * and keys are the reference's: it names each pruned layer's node index,
 * checked here against the engine's graph and rule. A control run without
 * --grad-nm must miss the gradients by far, so the fixture cannot pass with
 * the pruning ignored. */
#include <string.h>

#include "fixture.h"
#include "harness.h"

#define STEPS "tests/fixtures/grad_nm_steps.safetensors"
#define TOL 1e-5

typedef struct model_case {
    const char *arch, *init;
    nmt_model_config config;
    int batch, adamw;
    nmt_model_desc desc;
    float x[7 * 3 * 15 * 15];
    int labels[7];
} model_case;

typedef struct errors {
    double grad, gemm_grad, weight, momentum, loss; /* gemm_grad: conv and linear weights alone */
    char grad_at[NMT_NAME_MAX + 24]; /* the parameter with the largest gradient error */
} errors;

static nmt_safetensors st;
static const nmt_method_kind kinds[] = {NMT_METHOD_DENSE, NMT_METHOD_SRSTE, NMT_METHOD_BDWP, NMT_METHOD_SDGP,
                                        NMT_METHOD_TNM};
static const nmt_nm ratios[] = {{2, 4}, {2, 8}};
static const nmt_nm grads[] = {{1, 2}, {2, 4}};

/* Max error of one parameter's tensor against `<key>.<part>.<name>`
 * (PyTorch's layout), folded into *worst. */
static void compare(const nmt_param *p, const float *values, const char *key, const char *part, double *worst,
                    char *at)
{
    char name[192];
    snprintf(name, sizeof name, "%s.%s.%s", key, part, p->name);
    float *torch_layout = malloc(sizeof(float) * (size_t)p->count);
    if (p->conv_layout)
        ohwi_to_oihw(values, (int)p->shape[0], (int)p->shape[1], (int)p->shape[2], (int)p->shape[3], torch_layout);
    else
        memcpy(torch_layout, values, sizeof(float) * (size_t)p->count);
    const float *want = fixture_f32(&st, STEPS, name, NULL);
    /* AdamW and the key bias (as in test_ref_vit.c): its gradient is zero in
     * exact arithmetic (softmax ignores a shift shared by a query's key
     * scores), and Adam scales the rounding noise up to steps of +-lr in
     * either run; those weights are held to the two steps' reach, 2 lr. */
    const size_t len = strlen(p->name), dim = (size_t)p->count / 3;
    if (!strcmp(part, "final") && len > 13 && !strcmp(p->name + len - 13, "attn.qkv.bias")) {
        const double drift = harness_max_error(torch_layout + dim, want + dim, dim);
        CHECK(drift <= 2 * 2e-3, "%s: %s key bias drifted %.3e", key, p->name, drift);
        memcpy(torch_layout + dim, want + dim, sizeof(float) * dim);
    }
    const double err = harness_max_error(torch_layout, want, (size_t)p->count);
    if (!(err <= *worst)) {
        *worst = err;
        if (at) strcpy(at, p->name);
    }
    free(torch_layout);
}

/* The reference's pruned layers ("name=node ..." in the metadata) are the
 * layers the engine's rule prunes, at the same node indices (the draws' key). */
static void check_nodes(const model_case *mc, const nmt_method_config *cfg)
{
    char meta[64], list[1024];
    snprintf(meta, sizeof meta, "%s.nodes%s", mc->arch, cfg->sparse_classifier ? ".sparse_classifier" : "");
    const char *text = nmt_st_meta_get(&st, meta);
    CHECK(text && strlen(text) < sizeof list, "%s: metadata %s missing", STEPS, meta);
    if (!text || strlen(text) >= sizeof list) return;
    strcpy(list, text);
    int listed = 0, wrong = 0, ruled = 0;
    for (char *save = NULL, *tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        const int node = eq ? atoi(eq + 1) : -1;
        if (eq) *eq = '\0';
        listed++;
        if (node < 0 || node >= mc->desc.n_nodes || strcmp(mc->desc.nodes[node].name, tok) != 0) {
            wrong++;
            fprintf(stderr, "  reference layer %s at node %d is not the engine's\n", tok, node);
        }
    }
    for (int i = 0; i < mc->desc.n_nodes; i++) {
        nmt_layer_sparsity s;
        nmt_layer_sparsity_of(&mc->desc.nodes[i], cfg, &s);
        ruled += s.gemm[NMT_GEMM_WG] == NMT_NM_DY_POSITIONS;
    }
    CHECK(wrong == 0 && listed == ruled, "%s: the reference prunes %d layers (%d misplaced), the engine's rule %d",
          meta, listed, wrong, ruled);
}

/* Two steps of the engine on the reference's case `key`, compared. */
static errors run(const model_case *mc, const char *key, nmt_method_kind kind, nmt_nm nm, int sparse_classifier,
                  nmt_nm grad)
{
    errors e = {0};
    nmt_method_config cfg;
    nmt_method_defaults(kind, nm, &cfg);
    cfg.grad_nm = grad;
    cfg.sparse_classifier = sparse_classifier;
    if (grad.m) check_nodes(mc, &cfg);
    char name[192];
    snprintf(name, sizeof name, "%s.seed", key);
    const char *seed = nmt_st_meta_get(&st, name);
    CHECK(seed != NULL, "%s: metadata %s missing", STEPS, name);
    nmt_net *net = nmt_net_create(&mc->desc, mc->batch, &cfg, seed ? strtoull(seed, NULL, 10) : 0);
    if (!net || nmt_checkpoint_load(net, mc->init, NULL) != 0) {
        CHECK(0, "%s: %s", key, nmt_errmsg());
        nmt_net_free(net);
        e.grad = 1e30;
        return e;
    }
    const nmt_sgd_config sgd = {.momentum = 0.9f, .nesterov = 1, .weight_decay = 5e-4f, .decay_bn_and_bias = 1};
    const nmt_adamw_config adamw = {0.9, 0.999, 1e-8, 0.05f, 0};
    const int interval = nmt_method_mask_interval(&cfg);
    float losses[2];
    for (int step = 0; step < 2; step++) {
        nmt_net_set_step(net, step);
        losses[step] = nmt_net_forward(net, mc->x, mc->labels, mc->batch, 1, 0.1f, NULL);
        CHECK(nmt_net_backward(net) == 0, "%s: %s", key, nmt_errmsg());
        if (mc->adamw) nmt_adamw_step(net, &adamw, 2e-3f, step);
        else nmt_sgd_step(net, &sgd, 0.02f);
        nmt_net_refresh_sparse(net, (step + 1) % interval == 0);
    }
    snprintf(name, sizeof name, "%s.losses", key);
    e.loss = harness_max_error(losses, fixture_f32(&st, STEPS, name, NULL), 2);
    for (int i = 0; i < nmt_net_param_count(net); i++) {
        const nmt_param *p = nmt_net_param(net, i);
        if (p->is_buffer) continue;
        compare(p, p->grad, key, "grad", &e.grad, e.grad_at);
        if (p->ndim >= 2 && strstr(p->name, ".weight")) compare(p, p->grad, key, "grad", &e.gemm_grad, NULL);
        compare(p, p->data, key, "final", &e.weight, NULL);
        compare(p, p->momentum, key, mc->adamw ? "exp_avg" : "momentum", &e.momentum, NULL);
    }
    nmt_net_free(net);
    return e;
}

static void model_cases(model_case *mc)
{
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++)
            for (int sparse_classifier = 0; sparse_classifier < 2; sparse_classifier++) {
                if (kinds[k] == NMT_METHOD_DENSE && ratios[r].m != 8) continue; /* dense: no N:M of its own */
                if (sparse_classifier && (kinds[k] != NMT_METHOD_BDWP || ratios[r].m != 8 || mc->adamw)) continue;
                char key[96];
                snprintf(key, sizeof key, "%s.%s.%d_%d%s", mc->arch, nmt_method_name(kinds[k]), ratios[r].n,
                         ratios[r].m, sparse_classifier ? ".sparse_classifier" : "");
                for (size_t g = 0; g < sizeof grads / sizeof grads[0]; g++) {
                    const errors e = run(mc, key, kinds[k], ratios[r], sparse_classifier, grads[g]);
                    printf("  %-34s grad-nm %d:%d  gradients %.2e (at %s; conv/linear weights %.2e)  weights %.2e  "
                           "%s %.2e  losses %.2e\n",
                           key, grads[g].n, grads[g].m, e.grad, e.grad_at, e.gemm_grad, e.weight,
                           mc->adamw ? "exp_avg" : "momentum", e.momentum, e.loss);
                    CHECK(e.grad <= TOL && e.weight <= TOL && e.momentum <= TOL && e.loss <= TOL,
                          "%s grad-nm %d:%d off the reference (tolerance %.0e)", key, grads[g].n, grads[g].m, TOL);
                }
            }
    /* The control: the same case without --grad-nm misses the gradients. */
    char key[96];
    snprintf(key, sizeof key, "%s.bdwp.2_8", mc->arch);
    const errors off = run(mc, key, NMT_METHOD_BDWP, (nmt_nm){2, 8}, 0, (nmt_nm){0, 0});
    printf("  %-34s without --grad-nm: gradients %.2e (at %s), must exceed %.0e\n", key, off.grad, off.grad_at,
           1000 * TOL);
    CHECK(off.grad > 1000 * TOL, "%s: the fixture does not tell --grad-nm from dense weight gradients", key);
}

static int load_inputs(model_case *mc)
{
    if (nmt_model_describe(&mc->config, &mc->desc) != 0) return -1;
    char name[64];
    snprintf(name, sizeof name, "%s.x", mc->arch);
    const nmt_st_tensor *info;
    const float *x = fixture_f32(&st, STEPS, name, &info);
    const int c = mc->config.in_c, plane = mc->config.in_h * mc->config.in_w;
    if (info->shape[0] != mc->batch || fixture_count(info) != (size_t)mc->batch * c * plane) {
        fprintf(stderr, "%s: %s is not %d x %d x %d\n", STEPS, name, mc->batch, c, plane);
        return -1;
    }
    nchw_to_cnhw(x, mc->batch, c, plane, mc->x);
    snprintf(name, sizeof name, "%s.labels", mc->arch);
    const nmt_st_tensor *labels = nmt_st_find(&st, name);
    if (!labels || labels->dtype != NMT_I64 || fixture_count(labels) != (size_t)mc->batch) {
        fprintf(stderr, "%s: %s missing or not %d int64 labels\n", STEPS, name, mc->batch);
        return -1;
    }
    for (int i = 0; i < mc->batch; i++) mc->labels[i] = (int)((const int64_t *)labels->data)[i];
    return 0;
}

int main(void)
{
    if (nmt_st_read(STEPS, &st) != 0) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        return 2;
    }
    static model_case models[2] = {
        {.arch = "resnet9", .init = "tests/fixtures/grad_nm_resnet9_init.safetensors", .batch = 7, .adamw = 0,
         .config = {.arch = "resnet9", .width = 0.03125f, .in_c = 3, .in_h = 15, .in_w = 15, .classes = 10}},
        {.arch = "vit", .init = "tests/fixtures/vit_init.safetensors", .batch = 5, .adamw = 1,
         .config = {.arch = "vit", .width = 1.0f, .in_c = 3, .in_h = 8, .in_w = 8, .classes = 10, .patch = 4,
                    .dim = 16, .depth = 2, .heads = 2, .mlp_dim = 32}},
    };
    for (int i = 0; i < 2; i++) {
        if (load_inputs(&models[i]) != 0) {
            fprintf(stderr, "%s: %s\n", models[i].arch, nmt_errmsg());
            return 2;
        }
        model_cases(&models[i]);
    }
    nmt_st_free(&st);
    TEST_END("test_ref_grad_nm");
}

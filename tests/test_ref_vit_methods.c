/* Every training method (dense, srste, bdwp, sdgp, tnm) at 2:4 and 2:8 on a
 * small ViT against the PyTorch reference written from the spec
 * (tests/ref/methods.py, tests/fixtures/vit_methods.safetensors): qkv, proj,
 * fc1 and fc2 are N:M with the tokens as GEMM columns, the patch embedding
 * and the head are exempt. The first step's logits and every gradient, then
 * the losses of 10 AdamW steps with the method's mask refreshes. */
#include <string.h>

#include "harness.h"
#include "fixture.h"

#define INIT "tests/fixtures/vit_init.safetensors"
#define STEPS "tests/fixtures/vit_steps.safetensors"
#define METHODS "tests/fixtures/vit_methods.safetensors"
#define BATCH 6
#define CLASSES 10

static const nmt_method_kind kinds[] = {NMT_METHOD_DENSE, NMT_METHOD_SRSTE, NMT_METHOD_BDWP, NMT_METHOD_SDGP,
                                        NMT_METHOD_TNM};
static const nmt_nm ratios[] = {{2, 4}, {2, 8}};
static nmt_safetensors st;
static float x[BATCH * 3 * 8 * 8];
static int labels[BATCH];

static void method_case(const nmt_model_desc *desc, nmt_method_kind kind, nmt_nm nm)
{
    nmt_method_config cfg;
    nmt_method_defaults(kind, nm, &cfg);
    nmt_net *net = nmt_net_create(desc, BATCH, &cfg, 1);
    char key[64], name[192];
    snprintf(key, sizeof key, "%s.%d_%d", nmt_method_name(kind), nm.n, nm.m);
    if (!net || nmt_checkpoint_load(net, INIT, NULL) != 0) {
        CHECK(0, "%s: %s", key, nmt_errmsg());
        nmt_net_free(net);
        return;
    }
    float losses[10];
    losses[0] = nmt_net_forward(net, x, labels, BATCH, 1, 0.1f, NULL);
    nmt_net_backward(net);
    float logits[BATCH * CLASSES];
    cnhw_to_nchw(nmt_net_logits(net), BATCH, CLASSES, 1, logits);
    snprintf(name, sizeof name, "%s.logits", key);
    const double logit_err = harness_max_error(logits, fixture_f32(&st, METHODS, name, NULL), BATCH * CLASSES);
    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < nmt_net_param_count(net); i++) {
        nmt_param *p = nmt_net_param(net, i);
        float *g = malloc(sizeof(float) * p->count);
        if (p->conv_layout)
            ohwi_to_oihw(p->grad, (int)p->shape[0], (int)p->shape[1], (int)p->shape[2], (int)p->shape[3], g);
        else
            memcpy(g, p->grad, sizeof(float) * p->count);
        snprintf(name, sizeof name, "%s.grad.%s", key, p->name);
        const double err = harness_max_error(g, fixture_f32(&st, METHODS, name, NULL), (size_t)p->count);
        if (!(err <= worst)) worst = err, worst_name = p->name;
        free(g);
    }
    const nmt_adamw_config adamw = {0.9, 0.999, 1e-8, 0.05f, 0};
    const int interval = cfg.mask_interval > 0 ? cfg.mask_interval : 1;
    for (int step = 0; step < 10; step++) {
        if (step) { /* step 0's gradients are the ones compared above */
            losses[step] = nmt_net_forward(net, x, labels, BATCH, 1, 0.1f, NULL);
            nmt_net_backward(net);
        }
        nmt_adamw_step(net, &adamw, 2e-3f, step);
        nmt_net_refresh_sparse(net, (step + 1) % interval == 0);
    }
    snprintf(name, sizeof name, "%s.losses", key);
    const double loss_err = harness_max_error(losses, fixture_f32(&st, METHODS, name, NULL), 10);
    printf("  %-10s logits %.2e  gradients %.2e (at %s)  10 AdamW losses %.2e\n", key, logit_err, worst,
           worst_name, loss_err);
    CHECK(logit_err <= 1e-5, "%s logits off by %.3e", key, logit_err);
    CHECK(worst <= 1e-5, "%s gradient of %s off by %.3e", key, worst_name, worst);
    CHECK(loss_err <= 1e-4, "%s losses off by %.3e", key, loss_err);
    nmt_net_free(net);
}

int main(void)
{
    nmt_safetensors inputs;
    if (nmt_st_read(METHODS, &st) != 0 || nmt_st_read(STEPS, &inputs) != 0) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        return 2;
    }
    nchw_to_cnhw(fixture_f32(&inputs, STEPS, "x", NULL), BATCH, 3, 64, x);
    for (int i = 0; i < BATCH; i++) labels[i] = (int)((const int64_t *)nmt_st_find(&inputs, "labels")->data)[i];
    nmt_st_free(&inputs);
    const nmt_model_config mc = {.arch = "vit", .width = 1.0f, .in_c = 3, .in_h = 8, .in_w = 8, .classes = CLASSES,
                                 .patch = 4, .dim = 16, .depth = 2, .heads = 2, .mlp_dim = 32};
    nmt_model_desc *desc = malloc(sizeof *desc);
    if (nmt_model_describe(&mc, desc) != 0) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        return 2;
    }
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++) method_case(desc, kinds[k], ratios[r]);
    free(desc);
    nmt_st_free(&st);
    TEST_END("test_ref_vit_methods");
}

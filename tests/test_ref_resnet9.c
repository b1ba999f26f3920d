/* A whole small ResNet9 against PyTorch: the weights come in through the
 * checkpoint loader (a PyTorch state_dict), then one step's logits and every
 * parameter gradient, the losses of 10 SGD steps (momentum, Nesterov, weight
 * decay, label smoothing) and the final weights and running statistics. */
#include <string.h>

#include "harness.h"
#include "fixture.h"

#define INIT "tests/fixtures/resnet9_init.safetensors"
#define STEPS "tests/fixtures/resnet9_steps.safetensors"

/* Max error over every parameter's gradient (grads = 1) or value, in PyTorch
 * layout, against the fixture tensors "<prefix><name>"; names the worst. */
static double worst_param_error(nmt_net *net, const nmt_safetensors *st, const char *prefix, int grads,
                                const char **worst_name)
{
    double worst = 0.0;
    for (int i = 0; i < nmt_net_param_count(net); i++) {
        nmt_param *p = nmt_net_param(net, i);
        if (grads && p->is_buffer) continue;
        const float *ours = grads ? p->grad : p->data;
        char name[160];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        float *torch_layout = malloc(sizeof(float) * p->count);
        if (p->conv_layout)
            ohwi_to_oihw(ours, (int)p->shape[0], (int)p->shape[1], (int)p->shape[2], (int)p->shape[3], torch_layout);
        else
            memcpy(torch_layout, ours, sizeof(float) * p->count);
        const double err = harness_max_error(torch_layout, fixture_f32(st, STEPS, name, NULL), (size_t)p->count);
        if (!(err <= worst)) worst = err, *worst_name = p->name;
        free(torch_layout);
    }
    return worst;
}

int main(void)
{
    nmt_model_config cfg = {.arch = "resnet9", .width = 1.0f / 16, .in_c = 3, .in_h = 16, .in_w = 16, .classes = 10};
    nmt_model_desc desc;
    nmt_safetensors st;
    if (nmt_model_describe(&cfg, &desc) || nmt_st_read(STEPS, &st)) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        return 2;
    }
    const int batch = 8;
    nmt_net *net = nmt_net_create(&desc, batch, NULL, 1);
    CHECK(net != NULL, "create: %s", nmt_errmsg());
    CHECK(nmt_checkpoint_load(net, INIT, NULL) == 0, "load PyTorch state_dict: %s", nmt_errmsg());

    const nmt_st_tensor *xt;
    const float *x_ref = fixture_f32(&st, STEPS, "x", &xt);
    float *x = malloc(sizeof(float) * fixture_count(xt));
    nchw_to_cnhw(x_ref, batch, 3, 16 * 16, x);
    int labels[8];
    for (int i = 0; i < batch; i++) labels[i] = (int)((const int64_t *)nmt_st_find(&st, "labels")->data)[i];
    const float *losses = fixture_f32(&st, STEPS, "losses", NULL);
    nmt_sgd_config sgd = {.momentum = 0.9f, .nesterov = 1, .weight_decay = 5e-4f, .decay_bn_and_bias = 1};
    float got_losses[10];
    const char *worst_name = "";
    for (int step = 0; step < 10; step++) {
        got_losses[step] = nmt_net_forward(net, x, labels, batch, 1, 0.1f, NULL);
        nmt_net_backward(net);
        if (step == 0) {
            float logits[80];
            cnhw_to_nchw(nmt_net_logits(net), batch, 10, 1, logits);
            CHECK_CLOSE("logits", logits, fixture_f32(&st, STEPS, "logits", NULL), 80, 1e-5);
            const double worst = worst_param_error(net, &st, "grad.", 1, &worst_name);
            printf("  %-40s max err %.3e (tol 1e-04) at %s\n", "all parameter gradients", worst, worst_name);
            CHECK(worst <= 1e-4, "gradient of %s off by %.3e", worst_name, worst);
        }
        nmt_sgd_step(net, &sgd, 0.02f);
    }
    CHECK_CLOSE("losses of 10 SGD steps", got_losses, losses, 10, 1e-4);
    const double worst = worst_param_error(net, &st, "final.", 0, &worst_name);
    printf("  %-40s max err %.3e (tol 1e-04) at %s\n", "weights + running stats after 10 steps", worst, worst_name);
    CHECK(worst <= 1e-4, "final state off by %.3e", worst);
    free(x);
    nmt_st_free(&st);
    nmt_net_free(net);
    TEST_END("test_ref_resnet9");
}

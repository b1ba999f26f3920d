/* Small ResNet18 and VGG19 against PyTorch: the state_dict loads by name,
 * then one training step's logits and every parameter gradient. Covers what
 * ResNet9 does not: strided 1x1 downsample branches, conv biases, average
 * pooling and a classifier with bias. */
#include <string.h>

#include "harness.h"
#include "fixture.h"

static void model_step(const char *arch, int hw)
{
    char init[128], step[128];
    snprintf(init, sizeof init, "tests/fixtures/%s_init.safetensors", arch);
    snprintf(step, sizeof step, "tests/fixtures/%s_step.safetensors", arch);
    nmt_model_config cfg = {.arch = arch, .width = 1.0f / 16, .in_c = 3, .in_h = hw, .in_w = hw, .classes = 10};
    nmt_model_desc *desc = malloc(sizeof *desc);
    nmt_safetensors st;
    if (nmt_model_describe(&cfg, desc) || nmt_st_read(step, &st)) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        exit(2);
    }
    const int batch = 8, plane = hw * hw;
    nmt_net *net = nmt_net_create(desc, batch, NULL, 1);
    CHECK(net && nmt_checkpoint_load(net, init, NULL) == 0, "%s: %s", arch, nmt_errmsg());
    float *x = malloc(sizeof(float) * 3 * plane * batch);
    nchw_to_cnhw(fixture_f32(&st, step, "x", NULL), batch, 3, plane, x);
    int labels[8];
    for (int i = 0; i < batch; i++) labels[i] = (int)((const int64_t *)nmt_st_find(&st, "labels")->data)[i];
    nmt_net_forward(net, x, labels, batch, 1, 0.1f, NULL);
    nmt_net_backward(net);
    float logits[80];
    cnhw_to_nchw(nmt_net_logits(net), batch, 10, 1, logits);
    char label[96];
    snprintf(label, sizeof label, "%s logits", arch);
    /* 3e-5: VGG19 stacks 16 conv + batch-norm layers, the last ones over only
     * 2x2 pixels x 8 samples, where fp32 rounding grows to about 1e-5. */
    CHECK_CLOSE(label, logits, fixture_f32(&st, step, "logits", NULL), 80, 3e-5);
    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < nmt_net_param_count(net); i++) {
        nmt_param *p = nmt_net_param(net, i);
        if (p->is_buffer) continue;
        char name[160];
        snprintf(name, sizeof name, "grad.%s", p->name);
        float *g = malloc(sizeof(float) * p->count);
        if (p->conv_layout)
            ohwi_to_oihw(p->grad, (int)p->shape[0], (int)p->shape[1], (int)p->shape[2], (int)p->shape[3], g);
        else
            memcpy(g, p->grad, sizeof(float) * p->count);
        const double err = harness_max_error(g, fixture_f32(&st, step, name, NULL), (size_t)p->count);
        if (!(err <= worst)) worst = err, worst_name = p->name;
        free(g);
    }
    printf("  %-40s max err %.3e (tol 1e-04) at %s\n", arch, worst, worst_name);
    CHECK(worst <= 1e-4, "%s: gradient of %s off by %.3e", arch, worst_name, worst);
    free(x);
    free(desc);
    nmt_st_free(&st);
    nmt_net_free(net);
}

int main(void)
{
    model_step("resnet18", 16);
    model_step("vgg19", 32);
    TEST_END("test_ref_models");
}

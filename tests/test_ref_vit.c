/* A small ViT against PyTorch (tests/fixtures/vit_*.safetensors from
 * tests/ref/make_fixtures.py): timm's state_dict loads by name, one
 * training step's logits and every gradient, then 10 AdamW steps (losses,
 * final weights and both moments). A resume from a mid-run checkpoint
 * continues bit for bit, and a checkpoint of another shape is refused. */
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "fixture.h"

#define INIT "tests/fixtures/vit_init.safetensors"
#define STEPS "tests/fixtures/vit_steps.safetensors"
#define BATCH 6
#define CLASSES 10

static nmt_safetensors st;
static float x[BATCH * 3 * 8 * 8];
static int labels[BATCH];

static const nmt_adamw_config adamw = {0.9, 0.999, 1e-8, 0.05f, 0};

static nmt_model_config vit_config(int dim)
{
    nmt_model_config cfg = {.arch = "vit", .width = 1.0f, .in_c = 3, .in_h = 8, .in_w = 8, .classes = CLASSES,
                            .patch = 4, .dim = dim, .depth = 2, .heads = 2, .mlp_dim = 32};
    return cfg;
}

static nmt_net *vit_net(int dim, const char *checkpoint)
{
    nmt_model_config cfg = vit_config(dim);
    nmt_model_desc *desc = malloc(sizeof *desc);
    if (nmt_model_describe(&cfg, desc)) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        exit(2);
    }
    nmt_net *net = nmt_net_create(desc, BATCH, NULL, 1);
    free(desc);
    if (net && checkpoint && nmt_checkpoint_load(net, checkpoint, NULL) != 0) {
        nmt_net_free(net);
        return NULL;
    }
    return net;
}

/* The worst error over every parameter of `which` (0 grad, 1 weights, 2
 * exp_avg, 3 exp_avg_sq) against fixture tensors prefix.<name>. */
static void compare_all(nmt_net *net, int which, const char *prefix, double tol)
{
    double worst = 0.0;
    const char *worst_name = "";
    int compared = 0;
    for (int i = 0; i < nmt_net_param_count(net); i++) {
        nmt_param *p = nmt_net_param(net, i);
        const float *values[4] = {p->grad, p->data, p->momentum, p->exp_avg_sq};
        char name[160];
        snprintf(name, sizeof name, "%s.%s", prefix, p->name);
        const nmt_st_tensor *t;
        const float *want = fixture_f32(&st, STEPS, name, &t);
        CHECK(fixture_count(t) == (size_t)p->count, "%s: %lld values, PyTorch has %zu", name, (long long)p->count,
              fixture_count(t));
        float *got = param_torch_layout(p, values[which]);
        /* The key bias's gradient is zero in exact arithmetic (softmax does
         * not change when every key score of a query shifts alike): Adam
         * scales its rounding noise up to steps of +-lr in either run. Those
         * weights are only held within the 10 steps' reach of 10 lr. */
        const size_t len = strlen(p->name), dim = (size_t)p->count / 3;
        if (which == 1 && len > 13 && !strcmp(p->name + len - 13, "attn.qkv.bias")) {
            const double drift = harness_max_error(got + dim, want + dim, dim);
            CHECK(drift <= 10 * 2e-3, "%s key bias drifted %.3e", p->name, drift);
            memcpy(got + dim, want + dim, sizeof(float) * dim);
        }
        const double err = harness_max_error(got, want, (size_t)p->count);
        if (!(err <= worst)) worst = err, worst_name = p->name;
        compared++;
        free(got);
    }
    printf("  %-40s max err %.3e (tol %.0e) at %s over %d tensors\n", prefix, worst, tol, worst_name, compared);
    CHECK(worst <= tol, "%s of %s off by %.3e", prefix, worst_name, worst);
}

static void one_step(void)
{
    nmt_net *net = vit_net(16, INIT);
    CHECK(net != NULL, "vit: %s", nmt_errmsg());
    if (!net) return;
    nmt_net_forward(net, x, labels, BATCH, 1, 0.1f, NULL);
    nmt_net_backward(net);
    float logits[BATCH * CLASSES];
    cnhw_to_nchw(nmt_net_logits(net), BATCH, CLASSES, 1, logits);
    CHECK_CLOSE("vit logits", logits, fixture_f32(&st, STEPS, "logits", NULL), BATCH * CLASSES, 1e-5);
    compare_all(net, 0, "grad", 1e-5);
    nmt_net_free(net);
}

/* Steps [from, to) of the fixture's run; the losses against PyTorch's. */
static void adamw_steps(nmt_net *net, int from, int to, float *losses)
{
    for (int step = from; step < to; step++) {
        losses[step] = nmt_net_forward(net, x, labels, BATCH, 1, 0.1f, NULL);
        nmt_net_backward(net);
        nmt_adamw_step(net, &adamw, 2e-3f, step);
        nmt_net_refresh_sparse(net, 1);
    }
}

static void ten_adamw_steps(void)
{
    nmt_net *net = vit_net(16, INIT);
    if (!net) return;
    float losses[10];
    adamw_steps(net, 0, 10, losses);
    CHECK_CLOSE("vit AdamW losses (10 steps)", losses, fixture_f32(&st, STEPS, "losses", NULL), 10, 1e-5);
    compare_all(net, 1, "final", 1e-5);
    compare_all(net, 2, "exp_avg", 1e-5);
    compare_all(net, 3, "exp_avg_sq", 1e-5);

    /* 5 steps, a checkpoint, a fresh network from it, 5 more: bit for bit
     * the uninterrupted run's weights. */
    char path[] = "/tmp/nmtrain_vit_resume_XXXXXX";
    const int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) close(fd);
    nmt_net *first = vit_net(16, INIT);
    adamw_steps(first, 0, 5, losses);
    const nmt_run_state saved = {.step = 5, .epoch = 0, .batch_in_epoch = 5, .adamw = 1};
    CHECK(nmt_checkpoint_save(first, path, &saved, "{}") == 0, "save: %s", nmt_errmsg());
    nmt_net *resumed = vit_net(16, NULL);
    nmt_run_state state;
    CHECK(resumed && nmt_checkpoint_load(resumed, path, &state) == 0 && state.step == 5 && state.adamw,
          "resume: %s", nmt_errmsg());
    adamw_steps(resumed, 5, 10, losses);
    int differ = 0;
    for (int i = 0; i < nmt_net_param_count(net); i++) {
        const nmt_param *a = nmt_net_param(net, i), *b = nmt_net_param(resumed, i);
        differ += memcmp(a->data, b->data, sizeof(float) * a->count) != 0;
    }
    CHECK(differ == 0, "AdamW resume: %d tensors differ from the uninterrupted run", differ);
    printf("  AdamW resume after 5 of 10 steps: %d of %d tensors differ\n", differ, nmt_net_param_count(net));
    unlink(path);
    nmt_net_free(first), nmt_net_free(resumed), nmt_net_free(net);
}

/* A checkpoint of another shape: refused, naming the file and the tensor. */
static void wrong_shape(void)
{
    nmt_net *net = vit_net(32, INIT);
    CHECK(net == NULL && strstr(nmt_errmsg(), INIT) && strstr(nmt_errmsg(), "the model needs F32 [32, 3, 4, 4]"),
          "dim 32 loading a dim 16 checkpoint: '%s'", nmt_errmsg());
    nmt_net_free(net);
}

int main(void)
{
    if (nmt_st_read(STEPS, &st) != 0) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        return 2;
    }
    nchw_to_cnhw(fixture_f32(&st, STEPS, "x", NULL), BATCH, 3, 64, x);
    for (int i = 0; i < BATCH; i++) labels[i] = (int)((const int64_t *)nmt_st_find(&st, "labels")->data)[i];
    one_step();
    ten_adamw_steps();
    wrong_shape();
    nmt_st_free(&st);
    TEST_END("test_ref_vit");
}

/* ViT dropout (--dropout P, torch.nn.Dropout at timm's drop_rate sites).
 * The layer: kept fraction within a binomial bound of 1 - P, kept values
 * x * (1 / (1 - P)) exactly and the rest 0, the backward through the same
 * mask, the same masks for any thread count and any split of the batch
 * over ranks. The network: P = 0 is bit for bit no dropout, evaluation is
 * the identity, the same seed draws the same masks and another seed others,
 * a resume continues bit for bit, a CNN refuses it. Against PyTorch
 * (tests/fixtures/vit_dropout.safetensors from tests/ref/make_fixtures.py,
 * the engine's masks applied in torch): two AdamW steps' logits, losses
 * and every gradient, the final weights, and the logits in evaluation. */
#include <math.h>
#include <omp.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "harness.h"
#include "layers/layers.h"

#define INIT "tests/fixtures/vit_init.safetensors"
#define FIXTURE "tests/fixtures/vit_dropout.safetensors"
#define BATCH 6
#define CLASSES 10
#define P 0.25f
#define SEED 1

static const nmt_adamw_config adamw = {0.9, 0.999, 1e-8, 0.05f, 0};

/* ---- the layer ---- */

/* Element (c, n, t) of a channels x (batch * plane) activation. */
static float *ramp(int channels, int batch, int plane)
{
    const size_t count = (size_t)channels * batch * plane;
    float *x = malloc(sizeof(float) * count);
    for (size_t i = 0; i < count; i++) x[i] = 0.5f + (float)(i % 977) * 0.01f; /* no zeros */
    return x;
}

static void layer_rule(void)
{
    const int channels = 48, batch = 16, plane = 65;
    const size_t count = (size_t)channels * batch * plane;
    const float ps[] = {0.1f, 0.25f, 0.5f, 0.9f};
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        const float p = ps[k], scale = 1.0f / (1.0f - p);
        const dropout_draws d = {nmt_rng_counter_key(7, 3, 512 + 4), p, channels, plane, 0};
        float *x = ramp(channels, batch, plane), *y = ramp(channels, batch, plane), *g = ramp(channels, batch, plane);
        dropout_apply(&d, batch, y);
        dropout_apply(&d, batch, g); /* the backward: the same draws on the gradient */
        size_t kept = 0, wrong = 0, mask_differs = 0, keeps_differ = 0;
        for (int c = 0; c < channels; c++)
            for (int n = 0; n < batch; n++)
                for (int t = 0; t < plane; t++) {
                    const size_t i = ((size_t)c * batch + n) * plane + t;
                    const int keep = y[i] != 0.0f;
                    kept += keep;
                    wrong += keep ? y[i] != x[i] * scale : 0;
                    mask_differs += (g[i] != 0.0f) != keep || g[i] != y[i];
                    keeps_differ += dropout_keeps(&d, n, c, t) != keep;
                }
        /* 6 standard deviations of the binomial: a false alarm once in 10^9 */
        const double expect = (1.0 - p) * (double)count, sd = sqrt((double)count * p * (1.0 - p));
        printf("  p %.2f: %zu of %zu kept (%.4f, %.1f sd from 1 - p); %zu kept values not x * %.9g\n", (double)p,
               kept, count, (double)kept / count, ((double)kept - expect) / sd, wrong, (double)scale);
        CHECK(fabs((double)kept - expect) <= 6 * sd, "p %g: %zu kept of %zu", (double)p, kept, count);
        CHECK(wrong == 0, "p %g: %zu kept values are not x / (1 - p)", (double)p, wrong);
        CHECK(mask_differs == 0 && keeps_differ == 0, "p %g: backward mask differs at %zu, dropout_keeps at %zu",
              (double)p, mask_differs, keeps_differ);
        if (p == 0.5f) CHECK(scale == 2.0f, "p 0.5 scales by %g", (double)scale);
        free(x), free(y), free(g);
    }
}

/* 1 and 3 threads, and the batch split over "ranks" at samples 5 and 11:
 * the very same bits. */
static void layer_independence(void)
{
    const int channels = 40, batch = 16, plane = 17;
    const size_t count = (size_t)channels * batch * plane;
    const dropout_draws d = {nmt_rng_counter_key(SEED, 9, 600), P, channels, plane, 0};
    float *one = ramp(channels, batch, plane), *three = ramp(channels, batch, plane);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    dropout_apply(&d, batch, one);
    omp_set_num_threads(3);
    dropout_apply(&d, batch, three);
    omp_set_num_threads(threads);
    CHECK(!memcmp(one, three, sizeof(float) * count), "1 and 3 threads drop differently");
    /* ranks hold their samples' columns of every channel */
    const int cuts[] = {0, 5, 11, batch};
    size_t differ = 0;
    for (int r = 0; r < 3; r++) {
        const int first = cuts[r], share = cuts[r + 1] - cuts[r];
        float *part = malloc(sizeof(float) * (size_t)channels * share * plane);
        float *full = ramp(channels, batch, plane);
        for (int c = 0; c < channels; c++)
            memcpy(part + (size_t)c * share * plane, full + ((size_t)c * batch + first) * plane,
                   sizeof(float) * share * plane);
        dropout_draws mine = d;
        mine.first_sample = first;
        dropout_apply(&mine, share, part);
        for (int c = 0; c < channels; c++)
            differ += memcmp(part + (size_t)c * share * plane, one + ((size_t)c * batch + first) * plane,
                             sizeof(float) * share * plane) != 0;
        free(part), free(full);
    }
    printf("  1 vs 3 threads: %s; 3 ranks (samples 0-4, 5-10, 11-15) vs one: %zu channel rows differ\n",
           memcmp(one, three, sizeof(float) * count) ? "differ" : "identical", differ);
    CHECK(differ == 0, "%zu channel rows of the ranks' shares differ from one process's", differ);
    free(one), free(three);
}

/* ---- the network ---- */

static nmt_safetensors st;
static float x[BATCH * 3 * 8 * 8];
static int labels[BATCH];

static nmt_net *vit_net(int batch, uint64_t seed, float p)
{
    nmt_model_config cfg = {.arch = "vit", .width = 1.0f, .in_c = 3, .in_h = 8, .in_w = 8, .classes = CLASSES,
                            .patch = 4, .dim = 16, .depth = 2, .heads = 2, .mlp_dim = 32};
    nmt_model_desc *desc = malloc(sizeof *desc);
    if (nmt_model_describe(&cfg, desc)) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        exit(2);
    }
    nmt_net *net = nmt_net_create(desc, batch, NULL, seed);
    free(desc);
    if (!net || nmt_checkpoint_load(net, INIT, NULL) != 0 || (p > 0.0f && nmt_net_set_dropout(net, p) != 0)) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        exit(2);
    }
    return net;
}

/* Training steps [from, to): forward, backward, AdamW; the losses. */
static void steps(nmt_net *net, int from, int to, float *losses)
{
    for (int step = from; step < to; step++) {
        nmt_net_set_step(net, step);
        const float loss = nmt_net_forward(net, x, labels, BATCH, 1, 0.1f, NULL);
        if (losses) losses[step] = loss;
        nmt_net_backward(net);
        nmt_adamw_step(net, &adamw, 2e-3f, step);
        nmt_net_refresh_sparse(net, 1);
    }
}

/* Tensors (0 grads, 1 values) of a and b that differ in any bit. */
static int tensors_differ(nmt_net *a, nmt_net *b, int values)
{
    int differ = 0;
    for (int i = 0; i < nmt_net_param_count(a); i++) {
        const nmt_param *pa = nmt_net_param(a, i), *pb = nmt_net_param(b, i);
        differ += memcmp(values ? pa->data : pa->grad, values ? pb->data : pb->grad, sizeof(float) * pa->count) != 0;
    }
    return differ;
}

static int logits_differ(nmt_net *a, nmt_net *b, int batch)
{
    return memcmp(nmt_net_logits(a), nmt_net_logits(b), sizeof(float) * CLASSES * batch) != 0;
}

static void network_rules(void)
{
    /* P = 0: the step of a network that never heard of dropout, bit for bit */
    nmt_net *plain = vit_net(BATCH, SEED, 0.0f), *zero = vit_net(BATCH, SEED, 0.0f);
    CHECK(nmt_net_set_dropout(zero, 0.0f) == 0, "p 0: %s", nmt_errmsg());
    steps(plain, 0, 2, NULL), steps(zero, 0, 2, NULL);
    const int zero_grads = tensors_differ(plain, zero, 0), zero_values = tensors_differ(plain, zero, 1);
    printf("  p 0 vs no dropout, 2 steps: %d gradients, %d weights differ\n", zero_grads, zero_values);
    CHECK(zero_grads == 0 && zero_values == 0 && !logits_differ(plain, zero, BATCH), "p 0 is not the plain step");

    /* evaluation is the identity; training drops */
    nmt_net_free(plain);
    plain = vit_net(BATCH, SEED, 0.0f);
    nmt_net *dropped = vit_net(BATCH, SEED, 0.0f);
    CHECK(nmt_net_set_dropout(dropped, P) == 0, "p %g: %s", (double)P, nmt_errmsg());
    nmt_net_forward(plain, x, labels, BATCH, 0, 0.1f, NULL);
    nmt_net_forward(dropped, x, labels, BATCH, 0, 0.1f, NULL);
    CHECK(!logits_differ(plain, dropped, BATCH), "evaluation with p %g differs from no dropout", (double)P);
    nmt_net_forward(plain, x, labels, BATCH, 1, 0.1f, NULL);
    nmt_net_forward(dropped, x, labels, BATCH, 1, 0.1f, NULL);
    CHECK(logits_differ(plain, dropped, BATCH), "training with p %g drops nothing", (double)P);

    /* the same seed and step draw the same masks; another seed or step others */
    nmt_net *same = vit_net(BATCH, SEED, P), *other = vit_net(BATCH, SEED + 1, P);
    nmt_net_forward(same, x, labels, BATCH, 1, 0.1f, NULL);
    nmt_net_forward(other, x, labels, BATCH, 1, 0.1f, NULL);
    CHECK(!logits_differ(dropped, same, BATCH), "seed %d drew different masks twice", SEED);
    CHECK(logits_differ(dropped, other, BATCH), "seeds %d and %d drew the same masks", SEED, SEED + 1);
    nmt_net_set_step(same, 1);
    nmt_net_forward(same, x, labels, BATCH, 1, 0.1f, NULL);
    CHECK(logits_differ(dropped, same, BATCH), "steps 0 and 1 drew the same masks");

    /* 1 and 2 threads: the same step (the ViT's kernels do not depend on the
     * thread count) */
    nmt_net *one = vit_net(BATCH, SEED, P), *two = vit_net(BATCH, SEED, P);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    steps(one, 0, 2, NULL);
    omp_set_num_threads(2);
    steps(two, 0, 2, NULL);
    omp_set_num_threads(threads);
    const int thread_values = tensors_differ(one, two, 1);
    printf("  p %g, 1 vs 2 threads, 2 steps: %d weights differ\n", (double)P, thread_values);
    CHECK(thread_values == 0, "1 and 2 threads: %d tensors differ", thread_values);

    /* Two "ranks" of 3 samples (nmt_net_set_first_sample) see the columns
     * one process of 6 sees. */
    nmt_net *whole = vit_net(BATCH, SEED, P);
    nmt_net_forward(whole, x, labels, BATCH, 1, 0.1f, NULL);
    float worst = 0.0f;
    for (int r = 0; r < 2; r++) {
        nmt_net *rank = vit_net(BATCH / 2, SEED, P);
        nmt_net_set_first_sample(rank, r * BATCH / 2);
        float xs[BATCH / 2 * 3 * 64];
        for (int c = 0; c < 3; c++)
            memcpy(xs + (size_t)c * (BATCH / 2) * 64, x + ((size_t)c * BATCH + r * BATCH / 2) * 64,
                   sizeof(float) * (BATCH / 2) * 64);
        nmt_net_forward(rank, xs, labels + r * BATCH / 2, BATCH / 2, 1, 0.1f, NULL);
        for (int k = 0; k < CLASSES; k++)
            for (int n = 0; n < BATCH / 2; n++) {
                const float a = nmt_net_logits(rank)[k * (BATCH / 2) + n];
                const float b = nmt_net_logits(whole)[k * BATCH + r * BATCH / 2 + n];
                if (fabsf(a - b) > worst) worst = fabsf(a - b);
            }
        nmt_net_free(rank);
    }
    printf("  p %g, 2 ranks of 3 samples vs one process of 6: logits differ by at most %.3e\n", (double)P,
           (double)worst);
    CHECK(worst <= 1e-5f, "the ranks' logits differ from one process's by %g (other masks)", (double)worst);

    /* 5 steps, a checkpoint, a fresh network from it, 5 more: bit for bit */
    char path[] = "/tmp/nmtrain_dropout_resume_XXXXXX";
    const int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) close(fd);
    nmt_net *straight = vit_net(BATCH, SEED, P), *first = vit_net(BATCH, SEED, P), *resumed = vit_net(BATCH, SEED, P);
    steps(straight, 0, 10, NULL);
    steps(first, 0, 5, NULL);
    const nmt_run_state saved = {.step = 5, .epoch = 0, .batch_in_epoch = 5, .adamw = 1};
    CHECK(nmt_checkpoint_save(first, path, &saved, "{}") == 0, "save: %s", nmt_errmsg());
    nmt_run_state state;
    CHECK(nmt_checkpoint_load(resumed, path, &state) == 0 && state.step == 5, "resume: %s", nmt_errmsg());
    steps(resumed, 5, 10, NULL);
    const int resume_values = tensors_differ(straight, resumed, 1);
    printf("  p %g, resumed after 5 of 10 steps: %d of %d tensors differ\n", (double)P, resume_values,
           nmt_net_param_count(straight));
    CHECK(resume_values == 0, "resume with dropout: %d tensors differ", resume_values);
    unlink(path);

    /* refusals: p outside [0, 1), and a model with no dropout sites */
    CHECK(nmt_net_set_dropout(plain, 1.0f) == -1 && strstr(nmt_errmsg(), "[0, 1)"), "p 1: '%s'", nmt_errmsg());
    CHECK(nmt_net_set_dropout(plain, -0.1f) == -1, "p -0.1 accepted");
    CHECK(nmt_net_set_dropout(plain, NAN) == -1, "p NaN accepted");
    nmt_model_config cnn = {.arch = "resnet9", .width = 0.125f, .in_c = 1, .in_h = 28, .in_w = 28, .classes = 10};
    nmt_model_desc *desc = malloc(sizeof *desc);
    CHECK(nmt_model_describe(&cnn, desc) == 0, "resnet9: %s", nmt_errmsg());
    nmt_net *resnet = nmt_net_create(desc, 2, NULL, 1);
    CHECK(nmt_net_set_dropout(resnet, 0.1f) == -1 && strstr(nmt_errmsg(), "ViT option"), "resnet9 with dropout: '%s'",
          nmt_errmsg());
    CHECK(nmt_net_set_dropout(resnet, 0.0f) == 0, "resnet9 refuses dropout 0: %s", nmt_errmsg());
    free(desc);
    nmt_net *nets[] = {plain, zero, dropped, same, other, one, two, whole, straight, first, resumed, resnet};
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) nmt_net_free(nets[i]);
}

/* ---- against PyTorch ---- */

/* The worst error over every parameter's gradient (values: weights)
 * against the fixture's prefix.<name>. */
static void compare_all(nmt_net *net, int values, const char *prefix, double tol)
{
    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < nmt_net_param_count(net); i++) {
        nmt_param *p = nmt_net_param(net, i);
        char name[160];
        snprintf(name, sizeof name, "%s.%s", prefix, p->name);
        const nmt_st_tensor *t;
        const float *want = fixture_f32(&st, FIXTURE, name, &t);
        CHECK(fixture_count(t) == (size_t)p->count, "%s: %lld values, PyTorch has %zu", name, (long long)p->count,
              fixture_count(t));
        float *got = param_torch_layout(p, values ? p->data : p->grad);
        /* The key bias's gradient is zero in exact arithmetic (test_ref_vit.c):
         * Adam scales its rounding noise up to steps of +-lr, so after the
         * two steps that third of the qkv bias is held within 2 lr. */
        const size_t len = strlen(p->name), dim = (size_t)p->count / 3;
        if (values && len > 13 && !strcmp(p->name + len - 13, "attn.qkv.bias")) {
            const double drift = harness_max_error(got + dim, want + dim, dim);
            CHECK(drift <= 2 * 2e-3, "%s key bias drifted %.3e", p->name, drift);
            memcpy(got + dim, want + dim, sizeof(float) * dim);
        }
        const double err = harness_max_error(got, want, (size_t)p->count);
        if (!(err <= worst)) worst = err, worst_name = p->name;
        free(got);
    }
    printf("  %-40s max err %.3e (tol %.0e) at %s over %d tensors\n", prefix, worst, tol, worst_name,
           nmt_net_param_count(net));
    CHECK(worst <= tol, "%s of %s off by %.3e", prefix, worst_name, worst);
}

static void against_pytorch(void)
{
    nmt_net *net = vit_net(BATCH, SEED, P);
    float losses[2], logits[BATCH * CLASSES];
    for (int step = 0; step < 2; step++) {
        char name[64];
        nmt_net_set_step(net, step);
        losses[step] = nmt_net_forward(net, x, labels, BATCH, 1, 0.1f, NULL);
        nmt_net_backward(net);
        cnhw_to_nchw(nmt_net_logits(net), BATCH, CLASSES, 1, logits);
        snprintf(name, sizeof name, "logits.%d", step);
        CHECK_CLOSE(name, logits, fixture_f32(&st, FIXTURE, name, NULL), BATCH * CLASSES, 1e-5);
        snprintf(name, sizeof name, "grad.%d", step);
        compare_all(net, 0, name, 1e-5);
        nmt_adamw_step(net, &adamw, 2e-3f, step);
        nmt_net_refresh_sparse(net, 1);
    }
    CHECK_CLOSE("losses (2 AdamW steps)", losses, fixture_f32(&st, FIXTURE, "losses", NULL), 2, 1e-5);
    compare_all(net, 1, "final", 1e-5);
    nmt_net_forward(net, x, labels, BATCH, 0, 0.1f, NULL);
    cnhw_to_nchw(nmt_net_logits(net), BATCH, CLASSES, 1, logits);
    CHECK_CLOSE("logits.eval (no dropout)", logits, fixture_f32(&st, FIXTURE, "logits.eval", NULL), BATCH * CLASSES,
                1e-5);
    nmt_net_free(net);
}

int main(void)
{
    layer_rule();
    layer_independence();
    if (nmt_st_read(FIXTURE, &st) != 0) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        return 2;
    }
    nchw_to_cnhw(fixture_f32(&st, FIXTURE, "x", NULL), BATCH, 3, 64, x);
    for (int i = 0; i < BATCH; i++) labels[i] = (int)((const int64_t *)nmt_st_find(&st, "labels")->data)[i];
    network_rules();
    against_pytorch();
    nmt_st_free(&st);
    TEST_END("test_dropout");
}

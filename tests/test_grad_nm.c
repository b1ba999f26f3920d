/* --grad-nm: the unbiased (MVUE) pruning of dY for the weight gradient.
 * Against tests/ref/mvue.py's pruning with the same counter-based draws
 * (exact), the pattern (one of each pair kept, at sign(x) (|a| + |b|)),
 * independence from the thread count, unbiasedness at a fixed seed, the
 * rule (which layers' WG is N:M), and, in a network, that only the weight
 * gradients see the pruned dY. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"

#define FIXTURE "tests/fixtures/mvue.safetensors"

static void against_reference(void)
{
    nmt_safetensors st;
    if (nmt_st_read(FIXTURE, &st) != 0) {
        CHECK(0, "%s", nmt_errmsg());
        return;
    }
    for (int c = 0; c < 2; c++) {
        char name[32];
        const nmt_st_tensor *info;
        snprintf(name, sizeof name, "dy.%d", c);
        const float *dy = fixture_f32(&st, FIXTURE, name, &info);
        snprintf(name, sizeof name, "pruned.%d", c);
        const float *want = fixture_f32(&st, FIXTURE, name, NULL);
        snprintf(name, sizeof name, "key.%d", c);
        unsigned long long seed, step, layer;
        const char *key_text = nmt_st_meta_get(&st, name);
        CHECK(key_text && sscanf(key_text, "%llu %llu %llu", &seed, &step, &layer) == 3, "fixture key %s", name);
        const int rows = (int)info->shape[0], cols = (int)info->shape[1];
        float *got = malloc(sizeof(float) * rows * cols);
        nmt_mvue_prune(dy, rows, cols, nmt_rng_counter_key(seed, step, layer), got);
        int differ = 0;
        for (int i = 0; i < rows * cols; i++) differ += got[i] != want[i];
        printf("  MVUE %dx%d against PyTorch's reference: %d of %d entries differ\n", rows, cols, differ, rows * cols);
        CHECK(differ == 0, "MVUE %dx%d: %d entries differ from the reference", rows, cols, differ);
        free(got);
    }
    nmt_st_free(&st);
}

/* Exactly one of each pair kept (none for a pair of zeros), at sign(x)
 * (|a| + |b|); an odd last entry as it is; the same on 1 thread and all. */
static void pattern_and_threads(void)
{
    const int rows = 24, cols = 301;
    nmt_rng rng;
    nmt_rng_seed(&rng, 3, 0);
    float *dy = malloc(sizeof(float) * rows * cols), *out = malloc(sizeof(float) * rows * cols);
    float *one = malloc(sizeof(float) * rows * cols);
    for (int i = 0; i < rows * cols; i++) dy[i] = i % 7 == 0 ? 0.0f : nmt_rng_normal(&rng);
    const uint64_t key = nmt_rng_counter_key(1, 2, 3);
    nmt_mvue_prune(dy, rows, cols, key, out);
    int bad = 0;
    for (int r = 0; r < rows; r++) {
        const float *x = dy + (size_t)r * cols, *y = out + (size_t)r * cols;
        for (int j = 0; j + 1 < cols; j += 2) {
            const float sum = fabsf(x[j]) + fabsf(x[j + 1]);
            const int kept = (y[j] != 0.0f) + (y[j + 1] != 0.0f);
            if (sum == 0.0f) bad += kept != 0;
            else bad += kept != 1 || (y[j] != 0.0f && y[j] != copysignf(sum, x[j])) ||
                        (y[j + 1] != 0.0f && y[j + 1] != copysignf(sum, x[j + 1]));
        }
        bad += y[cols - 1] != x[cols - 1];
    }
    CHECK(bad == 0, "%d pairs break the MVUE pattern", bad);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    nmt_mvue_prune(dy, rows, cols, key, one);
    omp_set_num_threads(threads);
    CHECK(!memcmp(one, out, sizeof(float) * rows * cols), "1 thread and %d threads prune differently", threads);
    free(dy), free(out), free(one);
}

/* E[pruned] = dY: the mean of T draws (steps 0..T-1, seed 11) lies within 6
 * standard errors of dY for every entry; an entry's variance is |a| |b|
 * (its pair's other entry b), so the bound is 6 sqrt(|a||b| / T). Fixed
 * draws: it cannot flake. The variance is checked too, within 25%. */
static void unbiased(void)
{
    const int cols = 64, draws = 4096;
    float dy[64], out[64];
    double mean[64] = {0}, square[64] = {0};
    nmt_rng rng;
    nmt_rng_seed(&rng, 4, 0);
    for (int j = 0; j < cols; j++) dy[j] = nmt_rng_normal(&rng) * (j % 8 == 0 ? 10.0f : 1.0f);
    for (int t = 0; t < draws; t++) {
        nmt_mvue_prune(dy, 1, cols, nmt_rng_counter_key(11, (uint64_t)t, 0), out);
        for (int j = 0; j < cols; j++) mean[j] += out[j], square[j] += (double)out[j] * out[j];
    }
    int outside = 0, bad_variance = 0;
    double worst = 0;
    for (int j = 0; j < cols; j++) {
        mean[j] /= draws;
        const double var = fabs((double)dy[j] * dy[j ^ 1]), err = fabs(mean[j] - dy[j]);
        const double bound = 6.0 * sqrt(var / draws) + 1e-6;
        outside += err > bound;
        if (err / bound > worst) worst = err / bound;
        const double got_var = square[j] / draws - mean[j] * mean[j];
        bad_variance += fabs(got_var - var) > 0.25 * var + 1e-6;
    }
    printf("  MVUE mean of %d draws: worst error %.2f of its 6-sigma bound\n", draws, worst);
    CHECK(outside == 0, "%d entries' means lie outside 6 standard errors of dY", outside);
    CHECK(bad_variance == 0, "%d entries' variances are not |a||b|", bad_variance);
}

/* The rule: with grad_nm, WG is N:M (dY along positions) for every conv and
 * linear layer but the exempt classifier, under every method. */
static void rule(void)
{
    const nmt_model_config mc = {.arch = "resnet18", .width = 0.5f, .in_c = 3, .in_h = 32, .in_w = 32, .classes = 10};
    nmt_model_desc *desc = malloc(sizeof *desc);
    nmt_layer_report *r = malloc(sizeof *r * NMT_MAX_NODES);
    CHECK(nmt_model_describe(&mc, desc) == 0, "%s", nmt_errmsg());
    const nmt_nm grads[] = {{1, 2}, {2, 4}};
    for (int k = 0; k < NMT_METHOD_COUNT; k++)
        for (int g = 0; g < 2; g++)
            for (int classifier = 0; classifier < 2; classifier++) {
                nmt_method_config cfg;
                nmt_method_defaults((nmt_method_kind)k, (nmt_nm){2, 8}, &cfg);
                cfg.grad_nm = grads[g];
                cfg.sparse_classifier = classifier;
                nmt_method_report(desc, &cfg, r);
                int wrong = 0;
                for (int i = 0; i < desc->n_nodes; i++) {
                    const nmt_node *n = &desc->nodes[i];
                    if (n->op != NMT_OP_CONV && n->op != NMT_OP_LINEAR) continue;
                    const int want = !n->is_classifier || classifier;
                    const nmt_layer_sparsity *s = &r[i].sparsity;
                    wrong += (s->gemm[NMT_GEMM_WG] == NMT_NM_DY_POSITIONS) != want;
                    wrong += want && (s->wg_nm.n != grads[g].n || s->wg_nm.m != grads[g].m ||
                                      r[i].executed.wg != r[i].dense.wg / 2);
                    wrong += !want && r[i].executed.wg != r[i].dense.wg;
                }
                CHECK(wrong == 0, "%s grad-nm %d:%d classifier %d: %d layers break the rule",
                      nmt_method_name(cfg.kind), grads[g].n, grads[g].m, classifier, wrong);
            }
    nmt_nm nm;
    CHECK(nmt_grad_nm_parse("2:8", &nm) != 0 && nmt_grad_nm_parse("1:4", &nm) != 0 && nmt_grad_nm_parse("2:4", &nm) == 0,
          "only 1:2 and 2:4 parse");
    free(desc), free(r);
}

/* In a network, --grad-nm changes the conv and linear weight gradients
 * only: backward-data reads the unpruned dY, so every batch-norm gradient
 * (upstream of the pruned WGs) is bit for bit the same; 1:2 and 2:4 prune
 * to the same values; another step draws differently. */
static void only_weight_gradients(void)
{
    const nmt_model_config mc = {.arch = "resnet9", .width = 0.125f, .in_c = 3, .in_h = 16, .in_w = 16, .classes = 10};
    nmt_model_desc *desc = malloc(sizeof *desc);
    CHECK(nmt_model_describe(&mc, desc) == 0, "%s", nmt_errmsg());
    const int batch = 4, in = 3 * 16 * 16 * batch;
    float *x = malloc(sizeof(float) * in);
    int labels[4] = {1, 7, 3, 0};
    nmt_rng rng;
    nmt_rng_seed(&rng, 5, 0);
    for (int i = 0; i < in; i++) x[i] = nmt_rng_normal(&rng);
    const nmt_nm grads[4] = {{0, 0}, {1, 2}, {2, 4}, {2, 4}};
    const int64_t steps[4] = {0, 0, 0, 1};
    nmt_net *nets[4];
    for (int v = 0; v < 4; v++) {
        nmt_method_config cfg;
        nmt_method_defaults(NMT_METHOD_BDWP, (nmt_nm){2, 4}, &cfg);
        cfg.grad_nm = grads[v];
        nets[v] = nmt_net_create(desc, batch, &cfg, 9);
        nmt_net_set_step(nets[v], steps[v]);
        nmt_net_forward(nets[v], x, labels, batch, 1, 0.0f, NULL);
        CHECK(nmt_net_backward(nets[v]) == 0, "%s", nmt_errmsg());
    }
    int bn_differ = 0, weights = 0, weights_differ = 0, ratio_differ = 0, step_differ = 0;
    for (int p = 0; p < nmt_net_param_count(nets[0]); p++) {
        const nmt_param *base = nmt_net_param(nets[0], p);
        if (!base->grad) continue;
        const size_t bytes = sizeof(float) * (size_t)base->count;
        const nmt_param *half = nmt_net_param(nets[1], p), *quarter = nmt_net_param(nets[2], p),
                        *later = nmt_net_param(nets[3], p);
        const int is_weight = base->ndim >= 2;
        if (!is_weight && strstr(base->name, "bias") == NULL) bn_differ += memcmp(base->grad, half->grad, bytes) != 0;
        if (is_weight) {
            weights++;
            weights_differ += memcmp(base->grad, half->grad, bytes) != 0;
            step_differ += memcmp(quarter->grad, later->grad, bytes) != 0;
        }
        ratio_differ += memcmp(half->grad, quarter->grad, bytes) != 0;
    }
    CHECK(bn_differ == 0, "%d batch-norm gradients changed: backward-data must read the unpruned dY", bn_differ);
    CHECK(weights_differ == weights - 1, "%d of %d weight gradients changed (all but the classifier's should)",
          weights_differ, weights);
    CHECK(ratio_differ == 0, "1:2 and 2:4 differ in %d gradients", ratio_differ);
    CHECK(step_differ == weights - 1, "another step changed %d of %d weight gradients", step_differ, weights);
    for (int v = 0; v < 4; v++) nmt_net_free(nets[v]);
    free(desc), free(x);
}

int main(void)
{
    against_reference();
    pattern_and_threads();
    unbiased();
    rule();
    only_weight_gradients();
    TEST_END("test_grad_nm");
}

/* Every layer's forward output and gradients against PyTorch
 * (tests/fixtures/layers.safetensors from tests/ref/make_fixtures.py). */
#include <string.h>

#include "harness.h"
#include "fixture.h"
#include "layers/layers.h"

#define FIXTURE "tests/fixtures/layers.safetensors"
#define TOL 1e-5

static nmt_safetensors st;

static const float *get(const char *c, const char *field, const nmt_st_tensor **info)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s", c, field);
    return fixture_f32(&st, FIXTURE, name, info);
}

static int has(const char *c, const char *field)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s", c, field);
    return nmt_st_find(&st, name) != NULL;
}

/* Compares a CNHW result with a PyTorch NCHW tensor. */
static void compare_cnhw(const char *label, const float *got_cnhw, const float *want_nchw, const nmt_st_tensor *shape)
{
    const int n = (int)shape->shape[0], c = (int)shape->shape[1];
    const int plane = shape->ndim == 4 ? (int)(shape->shape[2] * shape->shape[3]) : 1;
    float *got = malloc(sizeof(float) * fixture_count(shape));
    cnhw_to_nchw(got_cnhw, n, c, plane, got);
    CHECK_CLOSE(label, got, want_nchw, fixture_count(shape), TOL);
    free(got);
}

static float *to_cnhw(const float *nchw, const nmt_st_tensor *t)
{
    const int plane = t->ndim == 4 ? (int)(t->shape[2] * t->shape[3]) : 1;
    float *out = malloc(sizeof(float) * fixture_count(t));
    nchw_to_cnhw(nchw, (int)t->shape[0], (int)t->shape[1], plane, out);
    return out;
}

static void conv_case(const char *c, int stride, int pad)
{
    const nmt_st_tensor *xt, *wt, *yt;
    const float *x_ref = get(c, "x", &xt), *w_ref = get(c, "weight", &wt), *y_ref = get(c, "y", &yt);
    const int is_linear = wt->ndim == 2;
    const int co = (int)wt->shape[0], ci = (int)wt->shape[1];
    const int kh = is_linear ? 1 : (int)wt->shape[2], kw = is_linear ? 1 : (int)wt->shape[3];
    const int n = (int)xt->shape[0];
    nmt_conv_shape s = {ci, n, is_linear ? 1 : (int)xt->shape[2], is_linear ? 1 : (int)xt->shape[3], kh, kw,
                        stride, pad, is_linear ? 1 : (int)yt->shape[2], is_linear ? 1 : (int)yt->shape[3]};
    const int k = kh * kw * ci, cols = n * s.ho * s.wo;
    float *x = to_cnhw(x_ref, xt), *w = malloc(sizeof(float) * co * k);
    oihw_to_ohwi(w_ref, co, ci, kh, kw, w);
    const float *bias = has(c, "bias") ? get(c, "bias", NULL) : NULL;
    conv_plan plan;
    conv_plan_make(&s, co, (conv_operands){.needs_dx = 1}, &plan);
    float *col = calloc(plan.workspace_floats + 1, sizeof(float));
    float *y = calloc((size_t)co * cols, sizeof(float));
    nmt_operand op = {w, NULL};
    CHECK(conv_forward(&plan, n, op, bias, x, col, plan.workspace_floats, y, NULL) == 0, "%s", nmt_errmsg());
    char label[96];
    snprintf(label, sizeof label, "%s forward", c);
    compare_cnhw(label, y, y_ref, yt);

    const nmt_st_tensor *dyt;
    const float *dy_ref = get(c, "dy", &dyt);
    float *dy = to_cnhw(dy_ref, dyt);
    float *dw = calloc((size_t)co * k, sizeof(float)), *dw_oihw = malloc(sizeof(float) * co * k);
    float *db = calloc((size_t)co, sizeof(float)), *dx = malloc(sizeof(float) * fixture_count(xt));
    for (size_t i = 0; i < fixture_count(xt); i++) dx[i] = NAN; /* overwritten: the first writer of dx */
    CHECK(conv_backward(&plan, n, op, x, dy, (nmt_mvue_draws){0}, (nmt_operand){dy, NULL}, dw, bias ? db : NULL, dx, 0, col,
                        plan.workspace_floats, NULL) == 0, "%s", nmt_errmsg());
    ohwi_to_oihw(dw, co, ci, kh, kw, dw_oihw);
    snprintf(label, sizeof label, "%s dweight", c);
    CHECK_CLOSE(label, dw_oihw, get(c, "dweight", NULL), (size_t)co * k, TOL);
    if (bias) {
        snprintf(label, sizeof label, "%s dbias", c);
        CHECK_CLOSE(label, db, get(c, "dbias", NULL), (size_t)co, TOL);
    }
    snprintf(label, sizeof label, "%s dx", c);
    compare_cnhw(label, dx, get(c, "dx", NULL), xt);
    /* a later writer adds: dx doubles */
    conv_backward(&plan, n, op, x, dy, (nmt_mvue_draws){0}, (nmt_operand){dy, NULL}, dw, bias ? db : NULL, dx, 1, col,
                  plan.workspace_floats, NULL);
    for (size_t i = 0; i < fixture_count(xt); i++) dx[i] *= 0.5f;
    snprintf(label, sizeof label, "%s dx accumulated / 2", c);
    compare_cnhw(label, dx, get(c, "dx", NULL), xt);
    free(x), free(w), free(col), free(y), free(dy), free(dw), free(dw_oihw), free(db), free(dx);
}

static void batchnorm_case(const char *c, int training)
{
    const nmt_st_tensor *xt;
    const float *x_ref = get(c, "x", &xt);
    float *x = to_cnhw(x_ref, xt);
    const int channels = (int)xt->shape[1], cols = (int)(xt->shape[0] * xt->shape[2] * xt->shape[3]);
    const float *gamma = get(c, "weight", NULL), *beta = get(c, "bias", NULL);
    float *y = calloc(fixture_count(xt), sizeof(float)), *dx = calloc(fixture_count(xt), sizeof(float));
    float mean[64], invstd[64], rmean[64], rvar[64], dgamma[64], dbeta[64];
    bn_saved saved = {mean, invstd};
    char label[96];
    if (training) {
        for (int i = 0; i < channels; i++) rmean[i] = 0.0f, rvar[i] = 1.0f;
        batchnorm_forward_train(channels, cols, x, gamma, beta, rmean, rvar, 0.1f, 1e-5f, saved, y);
        CHECK_CLOSE("bn_train running_mean", rmean, get(c, "running_mean", NULL), channels, TOL);
        CHECK_CLOSE("bn_train running_var", rvar, get(c, "running_var", NULL), channels, TOL);
        float *dy = to_cnhw(get(c, "dy", NULL), xt);
        batchnorm_backward(channels, cols, x, gamma, saved, dy, dgamma, dbeta, dx, 1);
        CHECK_CLOSE("bn_train dweight", dgamma, get(c, "dweight", NULL), channels, TOL);
        CHECK_CLOSE("bn_train dbias", dbeta, get(c, "dbias", NULL), channels, TOL);
        compare_cnhw("bn_train dx", dx, get(c, "dx", NULL), xt);
        free(dy);
    } else {
        batchnorm_forward_eval(channels, cols, x, gamma, beta, get(c, "running_mean", NULL),
                               get(c, "running_var", NULL), 1e-5f, y);
    }
    snprintf(label, sizeof label, "%s forward", c);
    compare_cnhw(label, y, get(c, "y", NULL), xt);
    free(x), free(y), free(dx);
}

typedef enum { POOL_MAX, POOL_ADAPTIVE, POOL_AVG, RELU, FLATTEN } simple_kind;

static void simple_case(const char *c, simple_kind kind, int k, int stride, int pad)
{
    const nmt_st_tensor *xt, *yt, *dyt;
    const float *x_ref = get(c, "x", &xt);
    float *x = to_cnhw(x_ref, xt);
    const float *y_ref = get(c, "y", &yt), *dy_ref = get(c, "dy", &dyt);
    const int n = (int)xt->shape[0], ch = (int)xt->shape[1], h = (int)xt->shape[2], w = (int)xt->shape[3];
    float *y = calloc(fixture_count(yt), sizeof(float)), *dx = calloc(fixture_count(xt), sizeof(float));
    float *dy;
    char label[96];
    if (kind == FLATTEN) { /* the output is features x n: "CNHW" with a 1x1 plane */
        dy = malloc(sizeof(float) * fixture_count(dyt));
        nchw_to_cnhw(dy_ref, n, (int)dyt->shape[1], 1, dy);
        flatten_forward(ch, n, h * w, x, y);
        flatten_backward(ch, n, h * w, dy, dx);
    } else {
        dy = to_cnhw(dy_ref, dyt);
        pool_shape s = {ch, n, h, w, k, k, stride, pad, kind == POOL_AVG || kind == RELU ? 1 : (int)yt->shape[2],
                        kind == POOL_AVG || kind == RELU ? 1 : (int)yt->shape[3]};
        const int64_t count = (int64_t)fixture_count(xt);
        switch (kind) {
        case POOL_MAX: /* overwrites dx: the NaN there must all go */
            for (int64_t i = 0; i < count; i++) dx[i] = NAN;
            maxpool_forward(&s, x, y);
            maxpool_backward(&s, x, y, dy, dx, 0);
            break;
        case POOL_ADAPTIVE: adaptive_maxpool_forward(&s, x, y); adaptive_maxpool_backward(&s, x, y, dy, dx, 1); break;
        case POOL_AVG: avgpool_forward(ch, n, h * w, x, y); avgpool_backward(ch, n, h * w, dy, dx); break;
        case RELU: relu_forward(count, x, y); relu_backward(count, y, dy, dx, 1); break;
        default: break;
        }
    }
    snprintf(label, sizeof label, "%s forward", c);
    compare_cnhw(label, y, y_ref, yt);
    snprintf(label, sizeof label, "%s dx", c);
    compare_cnhw(label, dx, get(c, "dx", NULL), xt);
    free(x), free(y), free(dx), free(dy);
}

static void cross_entropy_case(void)
{
    const nmt_st_tensor *lt;
    const float *logits_ref = fixture_f32(&st, FIXTURE, "ce.logits", &lt);
    const int n = (int)lt->shape[0], classes = (int)lt->shape[1];
    const nmt_st_tensor *labels_t = nmt_st_find(&st, "ce.labels");
    int labels[64];
    for (int i = 0; i < n; i++) labels[i] = (int)((const int64_t *)labels_t->data)[i];
    float *logits = malloc(sizeof(float) * n * classes), *dlogits = malloc(sizeof(float) * n * classes);
    float *dlogits_nc = malloc(sizeof(float) * n * classes);
    nchw_to_cnhw(logits_ref, n, classes, 1, logits);
    float loss = cross_entropy(classes, n, logits, labels, 0.1f, dlogits, n, NULL);
    CHECK_CLOSE("cross-entropy loss (smoothing 0.1)", &loss, fixture_f32(&st, FIXTURE, "ce.loss", NULL), 1, TOL);
    cnhw_to_nchw(dlogits, n, classes, 1, dlogits_nc);
    CHECK_CLOSE("cross-entropy dlogits", dlogits_nc, fixture_f32(&st, FIXTURE, "ce.dlogits", NULL), (size_t)n * classes, TOL);
    /* Data parallel: three ranks' shards of 2 samples, each averaged over
     * the global batch, give the whole batch's columns bit for bit (scaling
     * a shard's mean by 2/6 afterwards rounds twice and does not). */
    CHECK(n % 3 == 0 && n / 3 <= 8, "cross-entropy fixture: %d samples, not 3 shards of up to 8", n);
    for (int lo = 0, shard = n / 3; lo + shard <= n && shard <= 8; lo += shard) {
        float shard_logits[8 * 64], shard_dlogits[8 * 64];
        for (int c = 0; c < classes && c < 64; c++)
            memcpy(shard_logits + c * shard, logits + (size_t)c * n + lo, sizeof(float) * shard);
        cross_entropy(classes, shard, shard_logits, labels + lo, 0.1f, shard_dlogits, n, NULL);
        int same = 1;
        for (int c = 0; c < classes && c < 64; c++)
            same &= memcmp(shard_dlogits + c * shard, dlogits + (size_t)c * n + lo, sizeof(float) * shard) == 0;
        CHECK(same, "cross-entropy dlogits of samples %d-%d over the global batch: not the whole batch's", lo,
              lo + shard - 1);
    }
    free(logits), free(dlogits), free(dlogits_nc);
}

/* Convolutions lower (or Winograd-transform) a chunk of images at a time
 * (conv_chunk_images); with buffers sized for one chunk they must equal the
 * whole-batch lowering, for a dense operand (Winograd and lowered), a packed
 * forward operand and a packed dY (SDGP). 17 images of 64 channels at 32x32
 * make two chunks either way, the second one short. */
static void conv_in_chunks(void)
{
    nmt_conv_shape s = {.c = 64, .n = 17, .h = 32, .w = 32, .kh = 3, .kw = 3, .stride = 1, .pad = 1, .ho = 32, .wo = 32};
    const int c_out = 64, k = 9 * s.c, cols = s.n * 32 * 32;
    const nmt_nm nm = {2, 8};
    CHECK(conv_chunk_images(&s) < s.n, "the test needs more than one chunk (chunk %d images)", conv_chunk_images(&s));
    CHECK(conv_uses_winograd(&s, c_out), "the dense operand should take Winograd");
    /* One workspace for every plan below: the largest any asks for. */
    conv_plan plans[4];
    conv_plan_make(&s, c_out, (conv_operands){.needs_dx = 1}, &plans[0]);
    CHECK(plans[0].fw == CONV_PATH_WINOGRAD && plans[0].workspace_floats < (size_t)16 * (s.c + c_out) * nmt_winograd_tiles(&s, s.n),
          "Winograd should transform the 17 images in chunks");
    nmt_conv_set_winograd(0);
    conv_plan_make(&s, c_out, (conv_operands){.needs_dx = 1}, &plans[1]);
    nmt_conv_set_winograd(1);
    conv_plan_make(&s, c_out, (conv_operands){.fw_nm = 1, .needs_dx = 1}, &plans[2]);
    conv_plan_make(&s, c_out, (conv_operands){.dy_nm = 1, .needs_dx = 1}, &plans[3]);
    size_t col_floats = 0;
    for (int i = 0; i < 4; i++)
        if (plans[i].workspace_floats > col_floats) col_floats = plans[i].workspace_floats;
    nmt_rng rng;
    nmt_rng_seed(&rng, 11, 0);
    float *x = malloc(sizeof(float) * s.c * cols), *w = malloc(sizeof(float) * c_out * k);
    float *dy = malloc(sizeof(float) * c_out * cols), *full = malloc(sizeof(float) * (size_t)k * cols);
    float *col = malloc(sizeof(float) * col_floats);
    float *y = malloc(sizeof(float) * c_out * cols), *y_ref = malloc(sizeof(float) * c_out * cols);
    float *dw = malloc(sizeof(float) * c_out * k), *dw_ref = malloc(sizeof(float) * c_out * k);
    float *dx = calloc((size_t)s.c * cols, sizeof(float)), *dx_ref = calloc((size_t)s.c * cols, sizeof(float));
    float *dy_pruned = malloc(sizeof(float) * cols * c_out), *dy_t = malloc(sizeof(float) * c_out * cols);
    size_t fw_count = nmt_packed_value_count(c_out, k, nm), dy_count = nmt_packed_value_count(cols, c_out, nm);
    nmt_packed w_packed = {.values = malloc(sizeof(float) * fw_count), .index = malloc(fw_count)};
    nmt_packed dy_packed = {.values = malloc(sizeof(float) * dy_count), .index = malloc(dy_count)};
    for (int i = 0; i < s.c * cols; i++) x[i] = nmt_rng_normal(&rng);
    for (int i = 0; i < c_out * k; i++) w[i] = nmt_rng_normal(&rng);
    for (int i = 0; i < c_out * cols; i++) dy[i] = nmt_rng_normal(&rng);
    nmt_im2col(&s, x, full);

    /* dense: forward, weight gradient, backward-data */
    nmt_gemm(0, 0, c_out, cols, k, 1.0f, w, k, full, cols, 0.0f, y_ref, cols);
    nmt_gemm(0, 1, c_out, k, cols, 1.0f, dy, cols, full, cols, 0.0f, dw_ref, k);
    nmt_gemm(1, 0, k, cols, c_out, 1.0f, w, k, dy, cols, 0.0f, full, cols);
    nmt_col2im(&s, full, dx_ref);
    for (int winograd = 1; winograd >= 0; winograd--) {
        const conv_plan *plan = &plans[winograd ? 0 : 1];
        CHECK(plan->fw == (winograd ? CONV_PATH_WINOGRAD : CONV_PATH_LOWERED), "planned %s", conv_path_name(plan->fw));
        memset(dx, 0, sizeof(float) * s.c * cols);
        conv_forward(plan, s.n, (nmt_operand){w, NULL}, NULL, x, col, col_floats, y, NULL);
        conv_backward(plan, s.n, (nmt_operand){w, NULL}, x, dy, (nmt_mvue_draws){0}, (nmt_operand){dy, NULL}, dw, NULL, dx, 1, col,
                      col_floats, NULL);
        CHECK_CLOSE(winograd ? "chunked conv y (dense, Winograd)" : "chunked conv y (dense, lowered)", y, y_ref,
                    (size_t)c_out * cols, 1e-4);
        CHECK_CLOSE(winograd ? "chunked conv dW (dense, Winograd)" : "chunked conv dW (dense, lowered)", dw, dw_ref,
                    (size_t)c_out * k, 1e-3);
        CHECK_CLOSE(winograd ? "chunked conv dx (dense, Winograd)" : "chunked conv dx (dense, lowered)", dx, dx_ref,
                    (size_t)s.c * cols, 1e-4);
    }

    /* packed forward operand */
    nmt_pack_topn((nmt_view){w, c_out, k, k, 1}, nm, &w_packed);
    nmt_im2col(&s, x, full);
    nmt_gemm_nm(&w_packed, full, cols, cols, 0.0f, y_ref, cols);
    CHECK(plans[2].fw == CONV_PATH_NM_FUSED, "packed W planned %s", conv_path_name(plans[2].fw));
    conv_forward(&plans[2], s.n, (nmt_operand){w, &w_packed}, NULL, x, col, col_floats, y, NULL);
    CHECK_CLOSE("chunked conv y (packed W)", y, y_ref, (size_t)c_out * cols, 1e-4);

    /* packed dY (pixels as rows, N:M along Cout), against the dense path on
     * the same pruned dY */
    nmt_pack_topn((nmt_view){dy, cols, c_out, 1, cols}, nm, &dy_packed);
    nmt_unpack(&dy_packed, dy_pruned); /* cols x c_out */
    for (int o = 0; o < c_out; o++)
        for (int j = 0; j < cols; j++) dy_t[(size_t)o * cols + j] = dy_pruned[(size_t)j * c_out + o];
    memset(dx_ref, 0, sizeof(float) * s.c * cols);
    nmt_gemm(1, 0, k, cols, c_out, 1.0f, w, k, dy_t, cols, 0.0f, full, cols);
    nmt_col2im(&s, full, dx_ref);
    for (int i = 0; i < s.c * cols; i++) dx[i] = NAN; /* overwritten */
    CHECK(plans[3].bw == CONV_PATH_NM_DY, "packed dY planned %s", conv_path_name(plans[3].bw));
    conv_backward(&plans[3], s.n, (nmt_operand){w, NULL}, x, dy, (nmt_mvue_draws){0}, (nmt_operand){NULL, &dy_packed}, dw, NULL, dx, 0,
                  col, col_floats, NULL);
    CHECK_CLOSE("chunked conv dx (packed dY)", dx, dx_ref, (size_t)s.c * cols, 1e-4);
    free(x), free(w), free(dy), free(full), free(col), free(y), free(y_ref), free(dw), free(dw_ref);
    free(dx), free(dx_ref), free(dy_pruned), free(dy_t), free(w_packed.values), free(w_packed.index);
    free(dy_packed.values), free(dy_packed.index);
}

/* Max pooling keeps no argmax: backward finds each window's winner again.
 * Ties go to the first entry, -0 and +0 tie, a NaN wins (first NaN) and
 * makes the output NaN; the 2x2 fast path and the general path (3x3 below)
 * must agree with that rule. */
static void maxpool_ties_and_nan(void)
{
    const float x[16] = {1, 1, 3, 2, /* window (0,0): tie 1,1 -> first; (0,1): 3 */
                         0, 1, 3, 0,   /* (0,1): 3 and 3 tie -> first (row 0) */
                         -0.0f, 0.0f, NAN, 5, /* (1,0): -0 vs +0 tie -> first; (1,1): NaN wins */
                         -0.0f, 0.0f, 7, NAN};
    const float dy[4] = {10, 20, 30, 40};
    const float want_y_finite[3] = {1, 3, -0.0f};
    const float want_dx[16] = {10, 0, 20, 0, 0, 0, 0, 0, 30, 0, 40, 0, 0, 0, 0, 0};
    pool_shape s = {.c = 1, .n = 1, .h = 4, .w = 4, .kh = 2, .kw = 2, .stride = 2, .pad = 0, .ho = 2, .wo = 2};
    float y[4], dx[16] = {0};
    maxpool_forward(&s, x, y);
    maxpool_backward(&s, x, y, dy, dx, 1);
    int bad = 0;
    for (int i = 0; i < 3; i++) bad += y[i] != want_y_finite[i];
    bad += !isnan(y[3]);
    for (int i = 0; i < 16; i++) bad += dx[i] != want_dx[i];
    CHECK(bad == 0, "2x2 max pool: %d entries break the tie/NaN rule", bad);
    /* The general path: one 3x3 window, stride 1, over the top-left corner. */
    pool_shape g = {.c = 1, .n = 1, .h = 4, .w = 4, .kh = 3, .kw = 3, .stride = 3, .pad = 0, .ho = 1, .wo = 1};
    float yg, dxg[16];
    for (int i = 0; i < 16; i++) dxg[i] = NAN; /* overwritten */
    maxpool_forward(&g, x, &yg);
    maxpool_backward(&g, x, &yg, dy, dxg, 0);
    int stray = 0;
    for (int i = 0; i < 16; i++) stray += i != 10 && dxg[i] != 0.0f;
    CHECK(isnan(yg) && dxg[10] == 10 && stray == 0, "3x3 max pool: NaN must win (got %g, dx %g, %d stray)", yg,
          dxg[10], stray);
}

/* The residual add's backward: an input's first writer copies dy (its
 * buffer holds stale values from the last step), a later one adds it, and
 * a + a receives dy twice. */
static void add_gradient_writers(void)
{
    const float dy[3] = {1, 2, 3};
    float a[3] = {NAN, NAN, NAN}, b[3] = {10, 20, 30}, same[3] = {NAN, NAN, NAN};
    add_backward(3, dy, a, 1, b, 0);
    add_backward(3, dy, same, 1, same, 0);
    int bad = 0;
    for (int i = 0; i < 3; i++) bad += a[i] != dy[i] || b[i] != 10 * (i + 1) + dy[i] || same[i] != 2 * dy[i];
    CHECK(bad == 0, "add backward: %d of 9 gradients not dy, earlier + dy, or 2 dy", bad);
}

/* A batch below the planned one can hold more images per chunk: planned
 * for 17 images, a lowered 64-channel 3x3 layer at 32x32 runs two chunks
 * of 9 and 8 (14 fit the chunk budget), but a batch of 14 is one chunk of
 * 14. The plan must size the workspace for that (the network used to size
 * it for the planned batch's chunk, and a batch of 14 overflowed it), and
 * the result must equal a plan made for 14. The workspace is allocated at
 * exactly the planned size, so AddressSanitizer sees any overflow. */
static void conv_batch_below_plan(void)
{
    nmt_conv_shape s = {.c = 64, .n = 17, .h = 32, .w = 32, .kh = 3, .kw = 3, .stride = 1, .pad = 1, .ho = 32, .wo = 32};
    const int c_out = 16, k = 9 * s.c, batch = 14, cols = batch * 32 * 32;
    nmt_conv_set_winograd(0);
    conv_plan big, exact;
    conv_plan_make(&s, c_out, (conv_operands){.needs_dx = 1}, &big);
    s.n = batch;
    conv_plan_make(&s, c_out, (conv_operands){.needs_dx = 1}, &exact);
    nmt_conv_set_winograd(1);
    CHECK(big.fw == CONV_PATH_LOWERED && big.wg == CONV_PATH_LOWERED, "planned %s", conv_path_name(big.fw));
    CHECK(big.workspace_floats >= (size_t)k * cols, "a 17-image plan holds %zu floats, a 14-image chunk needs %zu",
          big.workspace_floats, (size_t)k * cols);
    nmt_rng rng;
    nmt_rng_seed(&rng, 12, 0);
    float *x = malloc(sizeof(float) * s.c * cols), *w = malloc(sizeof(float) * c_out * k);
    float *dy = malloc(sizeof(float) * c_out * cols), *work = malloc(sizeof(float) * big.workspace_floats);
    float *y[2], *dw[2], *dx[2];
    for (int i = 0; i < s.c * cols; i++) x[i] = nmt_rng_normal(&rng);
    for (int i = 0; i < c_out * k; i++) w[i] = nmt_rng_normal(&rng);
    for (int i = 0; i < c_out * cols; i++) dy[i] = nmt_rng_normal(&rng);
    for (int p = 0; p < 2; p++) {
        const conv_plan *plan = p ? &exact : &big;
        y[p] = malloc(sizeof(float) * c_out * cols), dw[p] = malloc(sizeof(float) * c_out * k);
        dx[p] = malloc(sizeof(float) * s.c * cols);
        CHECK(conv_forward(plan, batch, (nmt_operand){w, NULL}, NULL, x, work, plan->workspace_floats, y[p], NULL) == 0 &&
                  conv_backward(plan, batch, (nmt_operand){w, NULL}, x, dy, (nmt_mvue_draws){0}, (nmt_operand){dy, NULL}, dw[p], NULL,
                                dx[p], 0, work, plan->workspace_floats, NULL) == 0,
              "%s", nmt_errmsg());
    }
    CHECK(!memcmp(y[0], y[1], sizeof(float) * c_out * cols) && !memcmp(dw[0], dw[1], sizeof(float) * c_out * k) &&
              !memcmp(dx[0], dx[1], sizeof(float) * s.c * cols),
          "a batch of 14 under the 17-image plan differs from its own plan");
    /* and a workspace short of the plan is refused, not overrun */
    CHECK(conv_forward(&big, batch, (nmt_operand){w, NULL}, NULL, x, work, big.workspace_floats - 1, y[0], NULL) != 0,
          "a short workspace was accepted");
    free(x), free(w), free(dy), free(work);
    for (int p = 0; p < 2; p++) free(y[p]), free(dw[p]), free(dx[p]);
}

int main(void)
{
    if (nmt_st_read(FIXTURE, &st) != 0) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        return 2;
    }
    conv_case("conv_k3s1", 1, 1);
    conv_case("conv_k3s1_wide", 1, 1); /* Winograd */
    conv_case("conv_k3s2", 2, 1);
    conv_case("conv_k1", 1, 0);
    conv_case("conv_k5s2", 2, 2);
    conv_case("conv_k1s2", 2, 0);
    conv_case("linear", 1, 0);
    batchnorm_case("bn_train", 1);
    batchnorm_case("bn_eval", 0);
    simple_case("relu", RELU, 1, 1, 0);
    simple_case("maxpool_k2", POOL_MAX, 2, 2, 0);
    simple_case("maxpool_k3s2p1", POOL_MAX, 3, 2, 1);
    simple_case("adaptive_max1", POOL_ADAPTIVE, 0, 0, 0);
    simple_case("adaptive_max2", POOL_ADAPTIVE, 0, 0, 0);
    simple_case("avgpool", POOL_AVG, 0, 0, 0);
    simple_case("flatten", FLATTEN, 0, 0, 0);
    cross_entropy_case();
    nmt_st_free(&st);
    maxpool_ties_and_nan();
    add_gradient_writers();
    conv_in_chunks();
    conv_batch_below_plan();
    TEST_END("test_ref_layers");
}

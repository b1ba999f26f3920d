/* Each ViT layer's forward output and gradients against PyTorch
 * (tests/fixtures/vit_layers.safetensors from tests/ref/make_fixtures.py):
 * patch embedding with class token and position embedding, LayerNorm,
 * GELU, the attention core and class-token pooling. PyTorch holds tokens as
 * [batch, tokens, dim], nmtrain as dim x batch*tokens. */
#include <omp.h>
#include <string.h>

#include "harness.h"
#include "fixture.h"
#include "layers/layers.h"

#define FIXTURE "tests/fixtures/vit_layers.safetensors"
#define TOL 1e-5

static nmt_safetensors st;

static const float *get(const char *c, const char *field, const nmt_st_tensor **info)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s", c, field);
    return fixture_f32(&st, FIXTURE, name, info);
}

/* Fixture tensor c.field, [batch, tokens, dim] (or [batch, dim]), as
 * dim x batch*tokens: a transpose. */
static float *to_tokens(const char *c, const char *field, const nmt_st_tensor **info)
{
    const nmt_st_tensor *t;
    const float *torch_layout = get(c, field, &t);
    if (info) *info = t;
    const size_t count = fixture_count(t);
    const int dim = (int)t->shape[t->ndim - 1];
    float *out = malloc(sizeof(float) * count);
    nchw_to_cnhw(torch_layout, (int)(count / dim), dim, 1, out);
    return out;
}

static void compare_tokens(const char *c, const char *what, const float *got, const char *field)
{
    const nmt_st_tensor *t;
    const float *want = get(c, field, &t);
    const int dim = (int)t->shape[t->ndim - 1];
    float *torch_layout = malloc(sizeof(float) * fixture_count(t));
    cnhw_to_nchw(got, (int)(fixture_count(t) / dim), dim, 1, torch_layout);
    char label[96];
    snprintf(label, sizeof label, "%s %s", c, what);
    CHECK_CLOSE(label, torch_layout, want, fixture_count(t), TOL);
    free(torch_layout);
}

static void check_param(const char *c, const char *field, const float *got)
{
    const nmt_st_tensor *t;
    const float *want = get(c, field, &t);
    char label[96];
    snprintf(label, sizeof label, "%s %s", c, field);
    CHECK_CLOSE(label, got, want, fixture_count(t), TOL);
}

/* The conv (kernel = stride = patch) through conv_forward's lowered path,
 * then the class token and position embedding; backward in reverse. */
static void tokens_case(void)
{
    const char *c = "tokens";
    const nmt_st_tensor *xt, *wt, *yt;
    const float *x_ref = get(c, "x", &xt), *w_ref = get(c, "patch_embed.proj.weight", &wt);
    get(c, "y", &yt);
    const int n = (int)xt->shape[0], ci = (int)xt->shape[1], h = (int)xt->shape[2], w = (int)xt->shape[3];
    const int dim = (int)wt->shape[0], p = (int)wt->shape[2], patches = (h / p) * (w / p);
    const nmt_conv_shape s = {ci, n, h, w, p, p, p, 0, h / p, w / p};
    const int k = p * p * ci, patch_cols = n * patches;
    float *x = malloc(sizeof(float) * fixture_count(xt)), *weight = malloc(sizeof(float) * dim * k);
    nchw_to_cnhw(x_ref, n, ci, h * w, x);
    oihw_to_ohwi(w_ref, dim, ci, p, p, weight);
    conv_plan plan;
    conv_plan_make(&s, dim, (conv_operands){.needs_dx = 0}, &plan);
    float *col = malloc(sizeof(float) * (plan.workspace_floats + 1)), *conv = malloc(sizeof(float) * dim * patch_cols);
    float *y = malloc(sizeof(float) * fixture_count(yt));
    const float *bias = get(c, "patch_embed.proj.bias", NULL);
    CHECK(conv_forward(&plan, n, (nmt_operand){weight, NULL}, bias, x, col, plan.workspace_floats, conv, NULL) == 0,
          "%s", nmt_errmsg());
    tokens_forward(dim, n, patches, conv, get(c, "cls_token", NULL), get(c, "pos_embed", NULL), y);
    compare_tokens(c, "forward", y, "y");

    const nmt_st_tensor *dyt;
    float *dy = to_tokens(c, "dy", &dyt);
    float *dconv = malloc(sizeof(float) * dim * patch_cols), *dcls = malloc(sizeof(float) * dim);
    float *dpos = malloc(sizeof(float) * dim * (patches + 1)), *dw = malloc(sizeof(float) * dim * k);
    float *dw_oihw = malloc(sizeof(float) * dim * k), *db = malloc(sizeof(float) * dim);
    tokens_backward(dim, n, patches, dy, dconv, dcls, dpos);
    CHECK(conv_backward(&plan, n, (nmt_operand){weight, NULL}, x, dconv, (nmt_mvue_draws){0}, (nmt_operand){dconv, NULL}, dw, db, NULL, 0,
                        col, plan.workspace_floats, NULL) == 0,
          "%s", nmt_errmsg());
    ohwi_to_oihw(dw, dim, ci, p, p, dw_oihw);
    check_param(c, "dcls_token", dcls);
    check_param(c, "dpos_embed", dpos);
    check_param(c, "dpatch_embed.proj.weight", dw_oihw);
    check_param(c, "dpatch_embed.proj.bias", db);
    free(x), free(weight), free(col), free(conv), free(y), free(dy), free(dconv), free(dcls), free(dpos);
    free(dw), free(dw_oihw), free(db);
}

static void layernorm_case(void)
{
    const char *c = "layernorm";
    const nmt_st_tensor *xt;
    float *x = to_tokens(c, "x", &xt), *dy = to_tokens(c, "dy", NULL);
    const int dim = (int)xt->shape[2], cols = (int)(fixture_count(xt) / dim);
    float *y = malloc(sizeof(float) * dim * cols), *dx = malloc(sizeof(float) * dim * cols);
    float *mean = malloc(sizeof(float) * cols), *rstd = malloc(sizeof(float) * cols);
    float dgamma[64], dbeta[64];
    const float *gamma = get(c, "weight", NULL);
    layernorm_forward(dim, cols, x, gamma, get(c, "bias", NULL), 1e-6f, (ln_saved){mean, rstd}, y);
    compare_tokens(c, "forward", y, "y");
    for (int i = 0; i < dim * cols; i++) dx[i] = NAN; /* overwritten */
    layernorm_backward(dim, cols, x, gamma, (ln_saved){mean, rstd}, dy, dgamma, dbeta, dx, 0);
    compare_tokens(c, "dx", dx, "dx");
    check_param(c, "dweight", dgamma);
    check_param(c, "dbias", dbeta);
    layernorm_backward(dim, cols, x, gamma, (ln_saved){mean, rstd}, dy, dgamma, dbeta, dx, 1);
    for (int i = 0; i < dim * cols; i++) dx[i] *= 0.5f;
    compare_tokens(c, "dx accumulated / 2", dx, "dx");
    free(x), free(dy), free(y), free(dx), free(mean), free(rstd);
}

static void gelu_case(void)
{
    const char *c = "gelu";
    const nmt_st_tensor *xt;
    float *x = to_tokens(c, "x", &xt), *dy = to_tokens(c, "dy", NULL);
    const int64_t count = (int64_t)fixture_count(xt);
    float *y = malloc(sizeof(float) * count), *dx = malloc(sizeof(float) * count);
    gelu_forward(count, x, y);
    compare_tokens(c, "forward", y, "y");
    for (int64_t i = 0; i < count; i++) dx[i] = NAN;
    gelu_backward(count, x, dy, dx, 0);
    compare_tokens(c, "dx", dx, "dx");
    free(x), free(dy), free(y), free(dx);
}

static void attention_case(const char *c, int heads, int threads)
{
    const nmt_st_tensor *xt;
    float *qkv = to_tokens(c, "x", &xt), *dy;
    const nmt_st_tensor *yt;
    dy = to_tokens(c, "dy", &yt);
    const int batch = (int)xt->shape[0], tokens = (int)xt->shape[1], dim = (int)xt->shape[2] / 3;
    const attention_shape s = {batch, tokens, heads, dim / heads};
    const int cols = batch * tokens;
    float *y = malloc(sizeof(float) * dim * cols), *dqkv = malloc(sizeof(float) * 3 * dim * cols);
    float *lse = malloc(sizeof(float) * batch * heads * tokens);
    float *workspace = malloc(sizeof(float) * attention_workspace_floats(&s) * threads);
    attention_forward(&s, qkv, lse, workspace, threads, y);
    char what[64];
    snprintf(what, sizeof what, "forward (%d threads)", threads);
    compare_tokens(c, what, y, "y");
    for (int i = 0; i < 3 * dim * cols; i++) dqkv[i] = NAN;
    attention_backward(&s, qkv, y, lse, dy, workspace, threads, dqkv, 0);
    snprintf(what, sizeof what, "dqkv (%d threads)", threads);
    compare_tokens(c, what, dqkv, "dx");
    /* Accumulating onto what is there: the same gradient, added. */
    for (int i = 0; i < 3 * dim * cols; i++) dqkv[i] = (float)(i % 7) - 3.0f;
    attention_backward(&s, qkv, y, lse, dy, workspace, threads, dqkv, 1);
    for (int i = 0; i < 3 * dim * cols; i++) dqkv[i] -= (float)(i % 7) - 3.0f;
    snprintf(what, sizeof what, "dqkv accumulated (%d threads)", threads);
    compare_tokens(c, what, dqkv, "dx");
    free(qkv), free(dy), free(y), free(dqkv), free(lse), free(workspace);
}

static void token_pool_case(void)
{
    const char *c = "token_pool";
    const nmt_st_tensor *xt, *yt;
    float *x = to_tokens(c, "x", &xt);
    float *dy = to_tokens(c, "dy", &yt);
    const int batch = (int)xt->shape[0], tokens = (int)xt->shape[1], dim = (int)xt->shape[2];
    float *y = malloc(sizeof(float) * dim * batch), *dx = malloc(sizeof(float) * fixture_count(xt));
    token_pool_forward(dim, batch, tokens, x, y);
    compare_tokens(c, "forward", y, "y");
    for (size_t i = 0; i < fixture_count(xt); i++) dx[i] = NAN;
    token_pool_backward(dim, batch, tokens, dy, dx, 0);
    compare_tokens(c, "dx", dx, "dx");
    free(x), free(dy), free(y), free(dx);
}

int main(void)
{
    if (nmt_st_read(FIXTURE, &st) != 0) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        return 2;
    }
    tokens_case();
    token_pool_case();
    /* LayerNorm, GELU and attention run the copy compiled for the N:M path's
     * instruction set: each path this CPU has. */
    static const nmt_nm_path paths[] = {NMT_NM_PATH_PORTABLE, NMT_NM_PATH_AVX2, NMT_NM_PATH_AVX512};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (!nmt_gemm_nm_path_supported(paths[i]) || nmt_gemm_nm_set_path(paths[i]) != 0) continue;
        printf(" %s path:\n", nmt_gemm_nm_path());
        layernorm_case();
        gelu_case();
        attention_case("attention", 3, 1);
        attention_case("attention", 3, 2);
        attention_case("attention_one_head", 1, 2);
        attention_case("attention_tiles", 2, 2);
    }
    nmt_st_free(&st);
    TEST_END("test_ref_vit_layers");
}

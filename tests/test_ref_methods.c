/* Every training method (dense, srste, bdwp, sdgp, tnm) at 2:4, 2:8, 1:8 and
 * 3:16 against the PyTorch reference written from the spec
 * (tests/ref/methods.py): a conv and a linear layer's output, dX, dW (after
 * the decay term) and dbias, through both N:M kernel paths; then 10 SGD steps
 * of a small ResNet9 per method at 2:8 and 2:4. */
#include <string.h>

#include "harness.h"
#include "fixture.h"
#include "method_plan.h"

#define LAYERS "tests/fixtures/methods_layers.safetensors"
#define STEPS "tests/fixtures/methods_steps.safetensors"
#define INIT "tests/fixtures/methods_init.safetensors"

static const nmt_method_kind kinds[] = {NMT_METHOD_DENSE, NMT_METHOD_SRSTE, NMT_METHOD_BDWP, NMT_METHOD_SDGP,
                                        NMT_METHOD_TNM};
static const nmt_nm ratios[] = {{2, 4}, {2, 8}, {1, 8}, {3, 16}};

static void layer_case(const nmt_safetensors *st, const char *layer, nmt_method_kind kind, nmt_nm nm)
{
    const nmt_st_tensor *xt, *wt;
    char name[128];
    snprintf(name, sizeof name, "%s.x", layer);
    const float *x_ref = fixture_f32(st, LAYERS, name, &xt);
    snprintf(name, sizeof name, "%s.weight", layer);
    const float *w_ref = fixture_f32(st, LAYERS, name, &wt);
    snprintf(name, sizeof name, "%s.bias", layer);
    const float *bias = fixture_f32(st, LAYERS, name, NULL);
    snprintf(name, sizeof name, "%s.dy", layer);
    const nmt_st_tensor *dyt;
    const float *dy_ref = fixture_f32(st, LAYERS, name, &dyt);
    const int conv = wt->ndim == 4;
    const int co = (int)wt->shape[0], ci = (int)wt->shape[1], kh = conv ? 3 : 1, n = (int)xt->shape[0];
    const int hw = conv ? (int)xt->shape[2] : 1, plane = hw * hw;
    nmt_node node = {.op = conv ? NMT_OP_CONV : NMT_OP_LINEAR, .c_in = ci, .c_out = co, .h_in = hw, .w_in = hw,
                     .h_out = hw, .w_out = hw, .kh = kh, .kw = kh, .stride = 1, .pad = conv ? 1 : 0, .input = 0};
    nmt_conv_shape s = {ci, n, hw, hw, kh, kh, 1, conv ? 1 : 0, hw, hw};
    const int k = kh * kh * ci, cols = n * plane;
    nmt_method_config cfg;
    nmt_method_defaults(kind, nm, &cfg);
    nmt_arena arena;
    method_layer l;
    if (plan_layer_alone(&cfg, &node, &arena, &l) != 0) {
        CHECK(0, "%s: out of memory planning the layer", layer);
        return;
    }

    float *x = malloc(sizeof(float) * ci * cols), *w = malloc(sizeof(float) * co * k);
    float *dy = malloc(sizeof(float) * co * cols), *scratch = malloc(sizeof(float) * co * cols);
    conv_plan plan;
    conv_plan_make(&s, co, (conv_operands){.fw_nm = l.fw_sparse, .bw_nm = l.bw_sparse, .dy_nm = l.dy_pruned, .needs_dx = 1}, &plan);
    float *col = malloc(sizeof(float) * (plan.workspace_floats + 1));
    float *y = malloc(sizeof(float) * co * cols), *dx = malloc(sizeof(float) * ci * cols);
    float *dw = malloc(sizeof(float) * co * k), *db = malloc(sizeof(float) * co);
    float *w_scratch = malloc(sizeof(float) * (method_bw_scratch_floats(&l) + 1));
    float *out_nchw = malloc(sizeof(float) * (co > ci ? co : ci) * cols), *dw_torch = malloc(sizeof(float) * co * k);
    nchw_to_cnhw(x_ref, n, ci, plane, x);
    nchw_to_cnhw(dy_ref, n, co, plane, dy);
    oihw_to_ohwi(w_ref, co, ci, kh, kh, w);
    method_layer_refresh(&cfg, &l, w, 1);

    for (int path = NMT_NM_PATH_PORTABLE; path <= NMT_NM_PATH_AVX512; path++) {
        if (nmt_gemm_nm_set_path((nmt_nm_path)path) != 0) continue; /* this CPU does not run it */
        for (int i = 0; i < ci * cols; i++) dx[i] = NAN; /* conv_backward overwrites dx */
        conv_forward(&plan, n, method_fw_operand(&l, w), bias, x, col, plan.workspace_floats, y, NULL);
        nmt_packed dy_packed;
        const nmt_operand dy_bw = method_bw_dy(&cfg, &l, cols, dy, scratch, &dy_packed);
        CHECK(conv_backward(&plan, n, method_bw_operand(&cfg, &l, w, w_scratch), x, dy, (nmt_mvue_draws){0}, dy_bw, dw, db, dx, 0, col,
                            plan.workspace_floats, NULL) == 0,
              "%s", nmt_errmsg());
        method_correct_wg(&cfg, &l, w, dw);
        char label[96];
#define COMPARE(field, got, count)                                                                   \
    do {                                                                                             \
        snprintf(name, sizeof name, "%s.%s.%d_%d.%s", layer, nmt_method_name(kind), nm.n, nm.m, field); \
        snprintf(label, sizeof label, "%s %s %d:%d %s (%s)", layer, nmt_method_name(kind), nm.n, nm.m, field, nmt_gemm_nm_path()); \
        CHECK_CLOSE(label, got, fixture_f32(st, LAYERS, name, NULL), count, 2e-5);                  \
    } while (0)
        cnhw_to_nchw(y, n, co, plane, out_nchw);
        COMPARE("y", out_nchw, (size_t)co * cols);
        cnhw_to_nchw(dx, n, ci, plane, out_nchw);
        COMPARE("dx", out_nchw, (size_t)ci * cols);
        ohwi_to_oihw(dw, co, ci, kh, kh, dw_torch);
        COMPARE("dweight", dw_torch, (size_t)co * k);
        COMPARE("dbias", db, (size_t)co);
    }
    nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    free(x), free(w), free(dy), free(scratch), free(col), free(y), free(dx), free(dw), free(db), free(w_scratch);
    free(out_nchw), free(dw_torch);
    nmt_arena_free(&arena);
}

static void trajectory(const nmt_safetensors *st, nmt_method_kind kind, nmt_nm nm)
{
    nmt_model_config mc = {.arch = "resnet9", .width = 0.125f, .in_c = 3, .in_h = 16, .in_w = 16, .classes = 10};
    nmt_model_desc desc;
    nmt_method_config cfg;
    nmt_method_defaults(kind, nm, &cfg);
    nmt_model_describe(&mc, &desc);
    nmt_net *net = nmt_net_create(&desc, 8, &cfg, 1);
    CHECK(net && nmt_checkpoint_load(net, INIT, NULL) == 0, "%s", nmt_errmsg());
    float x[8 * 3 * 256];
    int labels[8];
    nchw_to_cnhw(fixture_f32(st, STEPS, "x", NULL), 8, 3, 256, x);
    for (int i = 0; i < 8; i++) labels[i] = (int)((const int64_t *)nmt_st_find(st, "labels")->data)[i];
    nmt_sgd_config sgd = {.momentum = 0.9f, .nesterov = 1, .weight_decay = 5e-4f, .decay_bn_and_bias = 1};
    float losses[10];
    for (int step = 0; step < 10; step++) {
        losses[step] = nmt_net_forward(net, x, labels, 8, 1, 0.1f, NULL);
        nmt_net_backward(net);
        nmt_sgd_step(net, &sgd, 0.02f);
        nmt_net_refresh_sparse(net, (step + 1) % cfg.mask_interval == 0);
    }
    char name[96], label[96];
    snprintf(name, sizeof name, "losses.%s.%d_%d", nmt_method_name(kind), nm.n, nm.m);
    snprintf(label, sizeof label, "resnet9 %s %d:%d, 10-step losses", nmt_method_name(kind), nm.n, nm.m);
    /* Looser than the layer checks: over 10 steps, fp32 rounding differences
     * can flip a near-tie in a top-N selection (seen once, SDGP 2:8 at step
     * 8: 1.2e-5, then 4e-4), which no implementation can avoid. */
    CHECK_CLOSE(label, losses, fixture_f32(st, STEPS, name, NULL), 10, 1e-3);
    nmt_net_free(net);
}

int main(void)
{
    nmt_safetensors layers, steps;
    if (nmt_st_read(LAYERS, &layers) || nmt_st_read(STEPS, &steps)) {
        fprintf(stderr, "%s\n", nmt_errmsg());
        return 2;
    }
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++) {
            layer_case(&layers, "conv", kinds[k], ratios[r]);
            layer_case(&layers, "linear", kinds[k], ratios[r]);
        }
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        trajectory(&steps, kinds[k], ratios[1]);
        trajectory(&steps, kinds[k], ratios[0]);
    }
    nmt_st_free(&layers);
    nmt_st_free(&steps);
    TEST_END("test_ref_methods");
}

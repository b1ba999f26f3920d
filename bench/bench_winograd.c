/* Winograd F(2x2, 3x3) against the lowered GEMM on the 3x3 "same"
 * convolutions of ResNet9 and ResNet18 at 32x32 inputs, as the engine runs
 * them (the convolution layer's forward and backward over a whole batch,
 * in its chunks of images, with the workspace it sizes), everything
 * included: lowering or transforms and the GEMMs (OpenBLAS either way).
 *
 *   build/bench/bench_winograd [--threads T] [--reps R] [--batch N]
 *
 * Forward: y from x and W. Backward: dW and dX from dY (the lowered path
 * lowers x again; Winograd transforms x again and dY once for both). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_timing.h"
#include "layers/layers.h"
#include "nmtrain.h"

static float *alloc(size_t n)
{
    float *p = aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
    if (!p) {
        fprintf(stderr, "bench_winograd: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)(i % 13) * 0.125f - 0.75f;
    return p;
}

typedef struct layer {
    const char *model;
    int c, c_out, hw;
} layer;

static const layer layers[] = {
    {"resnet9", 64, 128, 32}, {"resnet9", 128, 128, 16}, {"resnet9", 128, 256, 16}, {"resnet9", 256, 512, 8},
    {"resnet9", 512, 512, 4}, {"resnet18", 64, 64, 32},  {"resnet18", 128, 128, 16}, {"resnet18", 256, 256, 8},
    {"resnet18", 512, 512, 4},
};

int main(int argc, char **argv)
{
    int threads = 2, reps = 5, batch = 128;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads T] [--reps R] [--batch N]\n", argv[0]);
            return 2;
        }
    }
    if (threads < 1 || reps < 1 || reps > 63 || batch < 1) {
        fprintf(stderr, "bench_winograd: threads and batch must be positive, reps 1..63\n");
        return 2;
    }
    nmt_tune_runtime(argv, "Haswell"); /* OpenBLAS's AVX2 kernels, as bench_train */
    nmt_set_threads(threads);
    printf("3x3 stride 1 pad 1 convolution layers, batch %d, %d threads, OpenBLAS %s, median of %d (ms)\n", batch,
           threads, nmt_gemm_dense_core(), reps);
    printf("| model | c -> c_out | plane | lowered FW | Winograd FW | ratio | lowered BW | Winograd BW | ratio |\n");
    printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for (size_t t = 0; t < sizeof layers / sizeof layers[0]; t++) {
        const layer *l = &layers[t];
        const nmt_conv_shape s = {.c = l->c, .n = batch, .h = l->hw, .w = l->hw, .kh = 3, .kw = 3, .stride = 1,
                                  .pad = 1, .ho = l->hw, .wo = l->hw};
        const int k = 9 * l->c, cols = batch * l->hw * l->hw, co = l->c_out;
        conv_plan plans[2]; /* lowered, Winograd */
        for (int winograd = 0; winograd < 2; winograd++) {
            nmt_conv_set_winograd(winograd);
            conv_plan_make(&s, co, (conv_operands){.needs_dx = 1}, &plans[winograd]);
        }
        const size_t workspace = plans[0].workspace_floats > plans[1].workspace_floats ? plans[0].workspace_floats
                                                                                       : plans[1].workspace_floats;
        float *x = alloc((size_t)l->c * cols), *w = alloc((size_t)co * k), *dy = alloc((size_t)co * cols);
        float *y = alloc((size_t)co * cols), *dx = alloc((size_t)l->c * cols), *dw = alloc((size_t)co * k);
        float *col = alloc(workspace);
        const nmt_operand op = {w, NULL}, dy_op = {dy, NULL};
        double fw[2], bw[2];
        for (int winograd = 0; winograd < 2; winograd++) {
            const conv_plan *plan = &plans[winograd];
            TIME_MEDIAN(reps, fw[winograd], conv_forward(plan, batch, op, NULL, x, col, workspace, y, NULL));
            TIME_MEDIAN(reps, bw[winograd],
                        conv_backward(plan, batch, op, x, dy, (nmt_mvue_draws){0}, dy_op, dw, NULL, dx, 0, col, workspace, NULL));
        }
        printf("| %s | %d -> %d | %dx%d | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx |\n", l->model, l->c, co, l->hw,
               l->hw, 1e3 * fw[0], 1e3 * fw[1], fw[0] / fw[1], 1e3 * bw[0], 1e3 * bw[1], bw[0] / bw[1]);
        free(x), free(w), free(dy), free(y), free(dx), free(dw), free(col);
    }
    return 0;
}

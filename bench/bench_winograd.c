/* Winograd F(2x2, 3x3) against the lowered GEMM on the 3x3 "same"
 * convolutions of ResNet9 and ResNet18 at 32x32 inputs, one chunk of images
 * as the engine runs it, everything included: lowering or transforms and
 * the GEMMs (OpenBLAS either way).
 *
 *   build/bench/bench_winograd [--threads T] [--reps R] [--images N]
 *
 * Forward: y from x and W. Backward: dW and dX from dY (the lowered path
 * lowers x again; Winograd transforms x again and dY once for both). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_timing.h"
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
    int threads = 2, reps = 5, images = 16;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--images") && i + 1 < argc) images = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads T] [--reps R] [--images N]\n", argv[0]);
            return 2;
        }
    }
    if (threads < 1 || reps < 1 || reps > 63 || images < 1) {
        fprintf(stderr, "bench_winograd: threads and images must be positive, reps 1..63\n");
        return 2;
    }
    nmt_tune_runtime(argv, NULL);
    nmt_set_threads(threads);
    printf("3x3 stride 1 pad 1 convolutions, %d images, %d threads, median of %d (ms)\n", images, threads, reps);
    printf("| model | c -> c_out | plane | lowered FW | Winograd FW | ratio | lowered BW | Winograd BW | ratio |\n");
    printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for (size_t t = 0; t < sizeof layers / sizeof layers[0]; t++) {
        const layer *l = &layers[t];
        const nmt_conv_shape s = {.c = l->c, .n = images, .h = l->hw, .w = l->hw, .kh = 3, .kw = 3, .stride = 1,
                                  .pad = 1, .ho = l->hw, .wo = l->hw};
        const int k = 9 * l->c, cols = images * l->hw * l->hw, co = l->c_out, c = l->c;
        const int tn = (int)nmt_winograd_tiles(&s, images);
        float *x = alloc((size_t)c * cols), *w = alloc((size_t)co * k), *dy = alloc((size_t)co * cols);
        float *y = alloc((size_t)co * cols), *dx = alloc((size_t)c * cols), *dw = alloc((size_t)co * k);
        float *col = alloc((size_t)k * cols), *u = alloc((size_t)16 * co * c), *mw = alloc((size_t)16 * co * c);
        float *v = alloc((size_t)16 * c * tn), *m = alloc((size_t)16 * co * tn);
        double low_fw, low_bw, win_fw, win_bw;
        TIME_MEDIAN(reps, low_fw, {
            nmt_im2col_images(&s, x, 0, images, col);
            nmt_gemm(0, 0, co, cols, k, 1.0f, w, k, col, cols, 0.0f, y, cols);
        });
        TIME_MEDIAN(reps, low_bw, {
            nmt_im2col_images(&s, x, 0, images, col);
            nmt_gemm(0, 1, co, k, cols, 1.0f, dy, cols, col, cols, 0.0f, dw, k);
            nmt_gemm(1, 0, k, cols, co, 1.0f, w, k, dy, cols, 0.0f, col, cols);
            nmt_col2im_images(&s, col, 0, images, dx, 0);
        });
        TIME_MEDIAN(reps, win_fw, {
            nmt_winograd_weights(co, c, w, u);
            nmt_winograd_input(&s, x, 0, images, v);
            for (int p = 0; p < 16; p++)
                nmt_gemm(0, 0, co, tn, c, 1.0f, u + (size_t)p * co * c, c, v + (size_t)p * c * tn, tn, 0.0f,
                         m + (size_t)p * co * tn, tn);
            nmt_winograd_output(&s, co, m, 0, images, y);
        });
        TIME_MEDIAN(reps, win_bw, {
            nmt_winograd_weights(co, c, w, u);
            nmt_winograd_input(&s, x, 0, images, v);
            nmt_winograd_grad_output(&s, co, dy, 0, images, m);
            for (int p = 0; p < 16; p++)
                nmt_gemm(0, 1, co, c, tn, 1.0f, m + (size_t)p * co * tn, tn, v + (size_t)p * c * tn, tn, 0.0f,
                         mw + (size_t)p * co * c, c);
            nmt_winograd_grad_weights(co, c, mw, dw);
            for (int p = 0; p < 16; p++)
                nmt_gemm(1, 0, c, tn, co, 1.0f, u + (size_t)p * co * c, c, m + (size_t)p * co * tn, tn, 0.0f,
                         v + (size_t)p * c * tn, tn);
            nmt_winograd_grad_input(&s, v, 0, images, dx, 0);
        });
        printf("| %s | %d -> %d | %dx%d | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx |\n", l->model, c, co, l->hw,
               l->hw, 1e3 * low_fw, 1e3 * win_fw, low_fw / win_fw, 1e3 * low_bw, 1e3 * win_bw, low_bw / win_bw);
        free(x), free(w), free(dy), free(y), free(dx), free(dw), free(col), free(u), free(mw), free(v), free(m);
    }
    return 0;
}

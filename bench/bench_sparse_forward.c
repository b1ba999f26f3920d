/* The sparse forward convolution, lowered into panels and then multiplied
 * (nmt_im2col_panels + nmt_gemm_nm_panels, a chunk of images at a time, as
 * the engine ran it before) against the fused implicit GEMM that lowers a
 * panel at a time inside the kernel (nmt_gemm_nm_conv), on ResNet9's 3x3
 * layers at batch 128.
 *
 *   build/bench/bench_sparse_forward [--threads T] [--reps R] [--nm N:M]
 *
 * Both run in the same minutes, alternately; each keeps its median. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_timing.h"
#include "layers/layers.h"
#include "nmtrain.h"

int main(int argc, char **argv)
{
    int threads = 2, reps = 7;
    nmt_nm nm = {2, 8};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--nm") && i + 1 < argc && nmt_nm_parse(argv[i + 1], 0, "--nm", &nm) == 0) i++;
        else {
            fprintf(stderr, "usage: %s [--threads T] [--reps R] [--nm N:M]\n", argv[0]);
            return 2;
        }
    }
    if (threads < 1 || reps < 1 || reps > 63) {
        fprintf(stderr, "bench_sparse_forward: threads must be positive, reps 1..63\n");
        return 2;
    }
    nmt_tune_runtime(argv, NULL);
    nmt_set_threads(threads);
    static const int layers[][3] = {{64, 128, 32}, {128, 128, 16}, {128, 256, 16}, {256, 512, 8}, {512, 512, 4}};
    printf("sparse forward, %d:%d, ResNet9 3x3 layers, batch 128, %d threads, N:M path %s, median of %d (ms)\n",
           nm.n, nm.m, threads, nmt_gemm_nm_path(), reps);
    printf("| c -> c_out | plane | lowered + GEMM | fused | ratio |\n|--:|--:|--:|--:|--:|\n");
    for (size_t t = 0; t < sizeof layers / sizeof layers[0]; t++) {
        const int c = layers[t][0], c_out = layers[t][1], hw = layers[t][2], n = 128;
        const int k = 9 * c, image_cols = hw * hw, cols = n * image_cols;
        const nmt_conv_shape s = {.c = c, .n = n, .h = hw, .w = hw, .kh = 3, .kw = 3, .stride = 1, .pad = 1,
                                  .ho = hw, .wo = hw};
        const int step = conv_chunk_images(&s);
        const size_t room = nmt_nm_panels_floats(k, step * image_cols), count = nmt_packed_value_count(c_out, k, nm);
        float *x = malloc(sizeof(float) * c * cols), *w = malloc(sizeof(float) * c_out * k);
        float *y = malloc(sizeof(float) * c_out * cols), *col = aligned_alloc(64, sizeof(float) * room);
        nmt_packed a = {.values = malloc(sizeof(float) * count), .index = malloc(count)};
        if (!x || !w || !y || !col || !a.values || !a.index) {
            fprintf(stderr, "bench_sparse_forward: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < (size_t)c * cols; i++) x[i] = (float)(i % 7) - 3.0f;
        for (size_t i = 0; i < (size_t)c_out * k; i++) w[i] = (float)(i % 11) - 5.0f;
        nmt_pack_topn((nmt_view){w, c_out, k, k, 1}, nm, &a);
        double lowered[64], fused[64];
        for (int r = 0; r <= reps; r++) { /* r == 0 warms up */
            double start = nmt_now();
            for (int n0 = 0; n0 < n; n0 += step) {
                const int n1 = n0 + step < n ? n0 + step : n;
                nmt_im2col_panels_images(&s, x, n0, n1, col);
                nmt_gemm_nm_panels(&a, col, (n1 - n0) * image_cols, 0.0f, y + (size_t)n0 * image_cols, cols);
            }
            const double middle = nmt_now();
            if (nmt_gemm_nm_conv(&a, &s, x, col, room, y) != 0) {
                fprintf(stderr, "bench_sparse_forward: %s\n", nmt_errmsg());
                return 1;
            }
            if (r) lowered[r - 1] = middle - start, fused[r - 1] = nmt_now() - middle;
        }
        const double l = median(lowered, reps), f = median(fused, reps);
        printf("| %d -> %d | %dx%d | %.1f | %.1f | %.2fx |\n", c, c_out, hw, hw, 1e3 * l, 1e3 * f, l / f);
        free(x), free(w), free(y), free(col), free(a.values), free(a.index);
    }
    return 0;
}

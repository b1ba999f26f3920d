/* What skipping the zero padding would give a lowered 3x3 convolution: the
 * forward GEMM of a chunk as the engine runs it (one GEMM over K = 9 Cin)
 * against three GEMMs, one per kernel row, each over only the output rows
 * that kernel row sees inside the plane. That needs the lowered columns in
 * (oy, n, ox) order, so every kernel row's valid outputs are one contiguous
 * column range, and a permutation of the output back to (n, oy, ox), timed
 * with it. This is the vertical half of the padding that `nmtrain info`
 * counts; the engine does not do it yet.
 *
 *   build/bench/bench_padding [--threads T] [--reps R] [--isa avx2|avx512]
 *
 * Same chunks as bench_lowering: ResNet9's 3x3 layers, batch 128. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_timing.h"
#include "nmtrain.h"

/* y[c][n][oy][ox] = y_rows[c][oy][n][ox] */
static void rows_to_images(int channels, int images, int side, const float *y_rows, float *y)
{
    const size_t cols = (size_t)images * side * side;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < channels; c++)
        for (int oy = 0; oy < side; oy++)
            for (int n = 0; n < images; n++)
                memcpy(y + c * cols + ((size_t)n * side + oy) * side, y_rows + c * cols + ((size_t)oy * images + n) * side,
                       sizeof(float) * side);
}

int main(int argc, char **argv)
{
    int threads = 2, reps = 9;
    const char *isa = "avx2";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--threads T] [--reps R] [--isa avx2|avx512]\n", argv[0]);
            return 2;
        }
    }
    if (threads < 1 || reps < 1 || reps > 63 || (strcmp(isa, "avx2") && strcmp(isa, "avx512"))) {
        fprintf(stderr, "bench_padding: threads must be positive, reps 1..63, --isa avx2 or avx512\n");
        return 2;
    }
    nmt_tune_runtime(argv, strcmp(isa, "avx2") ? "SkylakeX" : "Haswell");
    nmt_set_threads(threads);
    static const int layers[][2] = {{64, 32}, {128, 16}, {256, 8}, {512, 4}};
    printf("3x3 pad 1 forward GEMM, Cout = Cin, %d threads, OpenBLAS %s, median of %d\n", threads,
           nmt_gemm_dense_core(), reps);
    printf("| channels | plane | images | one GEMM ms | per kernel row ms | permute ms | MACs kept | speedup |\n");
    printf("|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for (size_t t = 0; t < sizeof layers / sizeof layers[0]; t++) {
        const int c = layers[t][0], side = layers[t][1], k = 9 * c, row_k = 3 * c;
        const size_t most = ((size_t)8 << 20) / ((size_t)k * side * side);
        const int chunks = (int)((128 + most - 1) / most), images = (128 + chunks - 1) / chunks;
        const int cols = images * side * side, row_cols = images * side; /* one output row of every image */
        float *w = malloc(sizeof(float) * c * k), *b = malloc(sizeof(float) * k * cols);
        float *y = malloc(sizeof(float) * c * cols), *y_rows = malloc(sizeof(float) * c * cols);
        if (!w || !b || !y || !y_rows) {
            fprintf(stderr, "bench_padding: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < (size_t)c * k; i++) w[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)k * cols; i++) b[i] = (float)(i % 5) * 0.1f;
        double whole, split, permute;
        TIME_MEDIAN(reps, whole, nmt_gemm(0, 0, c, cols, k, 1.0f, w, k, b, cols, 0.0f, y, cols));
        /* kernel row 1 sees every output row, row 0 all but the first, row 2 all but the last */
        TIME_MEDIAN(reps, split,
                    (nmt_gemm(0, 0, c, cols, row_k, 1.0f, w + row_k, k, b + (size_t)row_k * cols, cols, 0.0f, y_rows, cols),
                     nmt_gemm(0, 0, c, cols - row_cols, row_k, 1.0f, w, k, b + row_cols, cols, 1.0f, y_rows + row_cols,
                              cols),
                     nmt_gemm(0, 0, c, cols - row_cols, row_k, 1.0f, w + 2 * row_k, k, b + (size_t)2 * row_k * cols,
                              cols, 1.0f, y_rows, cols)));
        TIME_MEDIAN(reps, permute, rows_to_images(c, images, side, y_rows, y));
        printf("| %d | %dx%d | %d | %.2f | %.2f | %.2f | %.0f%% | %.2fx |\n", c, side, side, images, 1e3 * whole,
               1e3 * split, 1e3 * permute, 100.0 * (3 * side - 2) / (3 * side), whole / (split + permute));
        free(w), free(b), free(y), free(y_rows);
    }
    return 0;
}

/* Lowering benchmark: im2col, the panel lowering of the sparse forward and
 * col2im (overwriting, as a convolution that writes its input gradient
 * first) on the 3x3 "same" convolutions of ResNet9 and ResNet18 at 32x32,
 * each on the chunk of images the engine lowers at once at batch 128.
 *
 *   build/bench/bench_lowering [--threads T] [--reps R]
 *
 * Prints the median of R timed runs after one warm-up; GB/s counts the
 * lowered matrix (written by the lowerings, read by col2im). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_timing.h"
#include "nmtrain.h"

int main(int argc, char **argv)
{
    int threads = 2, reps = 9;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads T] [--reps R]\n", argv[0]);
            return 2;
        }
    }
    if (threads < 1 || reps < 1 || reps > 63) {
        fprintf(stderr, "bench_lowering: threads must be positive, reps 1..63\n");
        return 2;
    }
    nmt_tune_runtime(argv, NULL); /* thread pools that sleep when idle, as the engine runs */
    nmt_set_threads(threads);
    /* channels and plane size; the images are the engine's chunk: 32 MB of
     * lowered input, the batch of 128 split evenly */
    static const int layers[][2] = {{64, 32}, {128, 16}, {256, 8}, {512, 4}};
    printf("lowering, 3x3 stride 1 pad 1, %d threads, median of %d\n", threads, reps);
    printf("| channels | plane | images | K x cols | im2col ms | GB/s | panels ms | GB/s | col2im ms | GB/s |\n");
    printf("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for (size_t t = 0; t < sizeof layers / sizeof layers[0]; t++) {
        const int c = layers[t][0], hw = layers[t][1];
        const size_t per_image = (size_t)9 * c * hw * hw, most = ((size_t)8 << 20) / per_image;
        const int chunks = (int)((128 + most - 1) / most), images = (128 + chunks - 1) / chunks;
        const nmt_conv_shape s = {.c = c, .n = images, .h = hw, .w = hw, .kh = 3, .kw = 3, .stride = 1, .pad = 1,
                                  .ho = hw, .wo = hw};
        const int k = 9 * c, cols = images * hw * hw;
        const size_t x_floats = (size_t)c * cols;
        float *x = malloc(sizeof(float) * x_floats), *dx = malloc(sizeof(float) * x_floats);
        float *col = malloc(sizeof(float) * nmt_nm_panels_floats(k, cols));
        if (!x || !dx || !col) {
            fprintf(stderr, "bench_lowering: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < x_floats; i++) x[i] = (float)(i % 17) - 8.0f;
        double lower, panels, scatter;
        TIME_MEDIAN(reps, panels, nmt_im2col_panels_images(&s, x, 0, images, col));
        TIME_MEDIAN(reps, lower, nmt_im2col_images(&s, x, 0, images, col));
        TIME_MEDIAN(reps, scatter, nmt_col2im_images(&s, col, 0, images, dx, 0));
        const double gb = 4e-9 * k * cols;
        printf("| %d | %dx%d | %d | %d x %d | %.2f | %.1f | %.2f | %.1f | %.2f | %.1f |\n", c, hw, hw, images, k, cols,
               1e3 * lower, gb / lower, 1e3 * panels, gb / panels, 1e3 * scatter, gb / scatter);
        free(x), free(dx), free(col);
    }
    return 0;
}

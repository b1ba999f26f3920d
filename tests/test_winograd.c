/* Winograd F(2x2, 3x3) convolution against the lowered definition
 * (im2col + GEMM, itself tested against PyTorch in test_ref_layers): the
 * forward output, the input gradient (added and overwritten) and the weight
 * gradient summed over chunks of images, on planes with odd sides, planes
 * smaller than a tile, and a chunk that is not the whole batch. */
#include <string.h>

#include "harness.h"
#include "nmtrain.h"

static void fill(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

typedef struct conv_case {
    int c, c_out, n, h, w;
} conv_case;

static const conv_case cases[] = {
    {3, 5, 2, 1, 1}, {4, 6, 3, 2, 2}, {5, 3, 2, 3, 5}, {8, 8, 3, 7, 6}, {16, 32, 4, 8, 8}, {7, 9, 2, 5, 12},
};

static float *alloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "test_winograd: out of memory\n");
        exit(1);
    }
    return p;
}

static void one_case(const conv_case *t)
{
    const nmt_conv_shape s = {.c = t->c, .n = t->n, .h = t->h, .w = t->w, .kh = 3, .kw = 3, .stride = 1, .pad = 1,
                              .ho = t->h, .wo = t->w};
    nmt_conv_shape wide = s; /* the kernels take any channels; the rule wants 16 */
    wide.c = 16;
    CHECK(nmt_winograd_applies(&wide, 16) && !nmt_winograd_applies(&wide, 15),
          "%dx%d 3x3 same conv of 16 channels should take Winograd, of 15 output channels not", t->h, t->w);
    const int k = 9 * t->c, cols = t->n * t->h * t->w;
    const size_t x_size = (size_t)t->c * cols, y_size = (size_t)t->c_out * cols, w_size = (size_t)t->c_out * k;
    float *x = alloc(x_size), *w = alloc(w_size), *dy = alloc(y_size), *col = alloc((size_t)k * cols);
    float *y_want = alloc(y_size), *dx_want = alloc(x_size), *dw_want = alloc(w_size);
    fill(x, x_size, 1u + (unsigned)t->c);
    fill(w, w_size, 2u + (unsigned)t->c_out);
    fill(dy, y_size, 3u + (unsigned)t->h);
    nmt_im2col(&s, x, col);
    nmt_gemm(0, 0, t->c_out, cols, k, 1.0f, w, k, col, cols, 0.0f, y_want, cols);
    nmt_gemm(0, 1, t->c_out, k, cols, 1.0f, dy, cols, col, cols, 0.0f, dw_want, k);
    nmt_gemm(1, 0, k, cols, t->c_out, 1.0f, w, k, dy, cols, 0.0f, col, cols);
    for (size_t i = 0; i < x_size; i++) dx_want[i] = 0.5f;
    nmt_col2im(&s, col, dx_want);

    const size_t tiles = nmt_winograd_tiles(&s, t->n), big = (size_t)16 * (t->c > t->c_out ? t->c : t->c_out) * tiles;
    float *u = alloc((size_t)16 * t->c_out * t->c), *v = alloc(big), *m = alloc(big), *mw = alloc(16 * w_size / 9);
    float *y = alloc(y_size), *dx = alloc(x_size), *dw = alloc(w_size);
    nmt_winograd_weights(t->c_out, t->c, w, u);
    /* Images in two chunks, [0, half) and [half, n), as the engine runs them. */
    const int half = t->n / 2 ? t->n / 2 : t->n;
    for (size_t i = 0; i < x_size; i++) dx[i] = 0.5f;
    for (int n0 = 0, n1 = half; n0 < t->n; n0 = n1, n1 = t->n) {
        const int tn = (int)nmt_winograd_tiles(&s, n1 - n0);
        nmt_winograd_input(&s, x, n0, n1, v);
        for (int p = 0; p < 16; p++)
            nmt_gemm(0, 0, t->c_out, tn, t->c, 1.0f, u + (size_t)p * t->c_out * t->c, t->c,
                     v + (size_t)p * t->c * tn, tn, 0.0f, m + (size_t)p * t->c_out * tn, tn);
        nmt_winograd_output(&s, t->c_out, m, n0, n1, y);
        nmt_winograd_grad_output(&s, t->c_out, dy, n0, n1, m);
        for (int p = 0; p < 16; p++)
            nmt_gemm(0, 1, t->c_out, t->c, tn, 1.0f, m + (size_t)p * t->c_out * tn, tn, v + (size_t)p * t->c * tn,
                     tn, n0 ? 1.0f : 0.0f, mw + (size_t)p * t->c_out * t->c, t->c);
        for (int p = 0; p < 16; p++)
            nmt_gemm(1, 0, t->c, tn, t->c_out, 1.0f, u + (size_t)p * t->c_out * t->c, t->c,
                     m + (size_t)p * t->c_out * tn, tn, 0.0f, v + (size_t)p * t->c * tn, tn);
        nmt_winograd_grad_input(&s, v, n0, n1, dx, 1);
    }
    nmt_winograd_grad_weights(t->c_out, t->c, mw, dw);
    char label[96];
    snprintf(label, sizeof label, "c %d->%d, %d x %dx%d: forward", t->c, t->c_out, t->n, t->h, t->w);
    CHECK_CLOSE(label, y, y_want, y_size, 1e-5);
    snprintf(label, sizeof label, "c %d->%d, %d x %dx%d: dx added", t->c, t->c_out, t->n, t->h, t->w);
    CHECK_CLOSE(label, dx, dx_want, x_size, 1e-5);
    snprintf(label, sizeof label, "c %d->%d, %d x %dx%d: dw", t->c, t->c_out, t->n, t->h, t->w);
    CHECK_CLOSE(label, dw, dw_want, w_size, 1e-5);

    /* Overwriting: what dx held (NaN here) must not leak into the result. */
    for (size_t i = 0; i < x_size; i++) dx[i] = NAN;
    nmt_winograd_grad_output(&s, t->c_out, dy, 0, t->n, m);
    const int tn = (int)tiles;
    for (int p = 0; p < 16; p++)
        nmt_gemm(1, 0, t->c, tn, t->c_out, 1.0f, u + (size_t)p * t->c_out * t->c, t->c,
                 m + (size_t)p * t->c_out * tn, tn, 0.0f, v + (size_t)p * t->c * tn, tn);
    nmt_winograd_grad_input(&s, v, 0, t->n, dx, 0);
    for (size_t i = 0; i < x_size; i++) dx_want[i] -= 0.5f;
    snprintf(label, sizeof label, "c %d->%d, %d x %dx%d: dx overwritten", t->c, t->c_out, t->n, t->h, t->w);
    CHECK_CLOSE(label, dx, dx_want, x_size, 1e-5);

    free(x), free(w), free(dy), free(col), free(y_want), free(dx_want), free(dw_want);
    free(u), free(v), free(m), free(mw), free(y), free(dx), free(dw);
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) one_case(&cases[i]);
    const nmt_conv_shape strided = {.c = 16, .n = 1, .h = 8, .w = 8, .kh = 3, .kw = 3, .stride = 2, .pad = 1,
                                    .ho = 4, .wo = 4};
    const nmt_conv_shape five = {.c = 16, .n = 1, .h = 8, .w = 8, .kh = 5, .kw = 5, .stride = 1, .pad = 2,
                                 .ho = 8, .wo = 8};
    CHECK(!nmt_winograd_applies(&strided, 16) && !nmt_winograd_applies(&five, 16),
          "only 3x3 stride-1 'same' convolutions take Winograd");
    TEST_END("test_winograd");
}

/* N:M sparse GEMM against a naive reference on the unpacked matrix: random
 * shapes with ragged edges, M in {4, 8, 16, 32} with several N, every code
 * path the CPU runs, both B layouts, beta 0 / 1 / other, one and several threads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kernels/nm_gemm_internal.h"
#include "nmtrain.h"

/* want = A_dense B + beta C0, accumulated in double. beta == 0 ignores C0. */
static void reference_gemm(const float *a, int rows, int k, const float *b, int ldb, int ncols,
                           float beta, const float *c0, int ldc, float *want)
{
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < ncols; j++) {
            double sum = beta != 0.0f ? (double)beta * c0[(size_t)r * ldc + j] : 0.0;
            for (int i = 0; i < k; i++) sum += (double)a[(size_t)r * k + i] * b[(size_t)i * ldb + j];
            want[(size_t)r * ncols + j] = (float)sum;
        }
    }
}

typedef struct gemm_case {
    int rows, k, ncols, ldb, ldc;
    nmt_nm nm;
    float beta;
} gemm_case;

/* Runs one case through both APIs and returns the worst error of either. */
static double run_case(nmt_rng *rng, gemm_case t)
{
    size_t count = nmt_packed_value_count(t.rows, t.k, t.nm);
    float *w = malloc(sizeof(float) * t.rows * t.k), *dense = malloc(sizeof(float) * t.rows * t.k);
    float *b = malloc(sizeof(float) * t.k * t.ldb), *c0 = malloc(sizeof(float) * t.rows * t.ldc);
    float *c = malloc(sizeof(float) * t.rows * t.ldc), *want = malloc(sizeof(float) * t.rows * t.ncols);
    float *got = malloc(sizeof(float) * t.rows * t.ncols);
    float *panels = malloc(sizeof(float) * (nmt_nm_panels_floats(t.k, t.ncols) + 1));
    nmt_packed a = {.values = malloc(sizeof(float) * (count + 1)), .index = malloc(count + 1)};
    for (int i = 0; i < t.rows * t.k; i++) w[i] = nmt_rng_normal(rng);
    for (int i = 0; i < t.k * t.ldb; i++) b[i] = nmt_rng_normal(rng);
    for (int i = 0; i < t.rows * t.ldc; i++) c0[i] = t.beta != 0.0f ? nmt_rng_normal(rng) : NAN;
    nmt_pack_topn((nmt_view){w, t.rows, t.k, t.k, 1}, t.nm, &a);
    nmt_unpack(&a, dense);
    reference_gemm(dense, t.rows, t.k, b, t.ldb, t.ncols, t.beta, c0, t.ldc, want);

    double worst = 0.0;
    for (int layout = 0; layout < 2; layout++) {
        memcpy(c, c0, sizeof(float) * t.rows * t.ldc);
        if (layout == 0) {
            nmt_gemm_nm(&a, b, t.ldb, t.ncols, t.beta, c, t.ldc);
        } else {
            nmt_nm_pack_panels(b, t.ldb, t.k, t.ncols, panels);
            nmt_gemm_nm_panels(&a, panels, t.ncols, t.beta, c, t.ldc);
        }
        for (int r = 0; r < t.rows; r++) {
            memcpy(got + (size_t)r * t.ncols, c + (size_t)r * t.ldc, sizeof(float) * t.ncols);
            /* The padding between ncols and ldc must be left alone. */
            for (int j = t.ncols; j < t.ldc; j++) {
                float before = c0[(size_t)r * t.ldc + j], after = c[(size_t)r * t.ldc + j];
                if (!(after == before || (isnan(after) && isnan(before)))) worst = INFINITY;
            }
        }
        double err = harness_max_error(got, want, (size_t)t.rows * t.ncols);
        if (!(err <= worst)) worst = err;
    }
    free(w), free(dense), free(b), free(c0), free(c), free(want), free(got), free(panels);
    free(a.values), free(a.index);
    return worst;
}

static const int group_sizes[] = {4, 8, 16, 32};

static void test_random_shapes(nmt_rng *rng, const char *path, int threads)
{
    nmt_set_threads(threads);
    double worst = 0.0;
    int cases = 0;
    for (int mi = 0; mi < 4; mi++) {
        int m = group_sizes[mi];
        const int keep[] = {1, m / 4 > 1 ? m / 4 : 2, m / 2, m - 1};
        for (int ni = 0; ni < 4; ni++) {
            for (int rep = 0; rep < 3; rep++) {
                gemm_case t = {
                    .rows = 1 + (int)nmt_rng_below(rng, 37),
                    .k = m * (1 + (int)nmt_rng_below(rng, m <= 8 ? 24 : 6)),
                    .nm = {keep[ni], m},
                    .beta = rep == 0 ? 0.0f : rep == 1 ? 1.0f : 0.5f,
                };
                /* Column counts around the 96-wide panel and 8-wide vector
                 * edges, plus random ones. */
                const int edges[] = {1, 7, 8, 31, 33, 95, 96, 97, 191, 200};
                t.ncols = nmt_rng_below(rng, 2) ? edges[nmt_rng_below(rng, 10)] : 1 + (int)nmt_rng_below(rng, 400);
                t.ldb = t.ncols + (int)nmt_rng_below(rng, 3) * 5;
                t.ldc = t.ncols + (int)nmt_rng_below(rng, 3) * 3;
                double err = run_case(rng, t);
                cases++;
                if (!(err <= 1e-4))
                    fprintf(stderr, "  %s %dT: rows %d k %d ncols %d %d:%d beta %g: err %.3e\n", path,
                            threads, t.rows, t.k, t.ncols, t.nm.n, t.nm.m, t.beta, err);
                if (!(err <= worst)) worst = err;
            }
        }
    }
    char label[64];
    snprintf(label, sizeof label, "%s, %d thread(s), %d cases", path, threads, cases);
    printf("  %-40s max err %.3e (tol 1e-04)\n", label, worst);
    CHECK(worst <= 1e-4, "%s: max error %.3e", label, worst);
}

/* The paths add the same products in the same order, so each agrees with
 * the portable one to a few ulps, far tighter than the reference tolerance. */
static void test_paths_agree(nmt_rng *rng)
{
    const int rows = 45, k = 320, ncols = 250;
    const nmt_nm nm = {3, 16};
    size_t count = nmt_packed_value_count(rows, k, nm);
    float *w = malloc(sizeof(float) * rows * k), *b = malloc(sizeof(float) * k * ncols);
    float *fast = malloc(sizeof(float) * rows * ncols), *portable = malloc(sizeof(float) * rows * ncols);
    nmt_packed a = {.values = malloc(sizeof(float) * count), .index = malloc(count)};
    for (int i = 0; i < rows * k; i++) w[i] = nmt_rng_normal(rng);
    for (int i = 0; i < k * ncols; i++) b[i] = nmt_rng_normal(rng);
    nmt_pack_topn((nmt_view){w, rows, k, k, 1}, nm, &a);
    nmt_gemm_nm_set_path(NMT_NM_PATH_PORTABLE);
    CHECK(strcmp(nmt_gemm_nm_path(), "portable") == 0, "forced path is %s", nmt_gemm_nm_path());
    nmt_gemm_nm(&a, b, ncols, ncols, 0.0f, portable, ncols);
    for (int path = NMT_NM_PATH_AVX2; path <= NMT_NM_PATH_AVX512; path++) {
        if (nmt_gemm_nm_set_path((nmt_nm_path)path) != 0) continue;
        nmt_gemm_nm(&a, b, ncols, ncols, 0.0f, fast, ncols);
        char label[64];
        snprintf(label, sizeof label, "%s vs portable", nmt_gemm_nm_path());
        CHECK_CLOSE(label, fast, portable, (size_t)rows * ncols, 1e-5);
    }
    nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    free(w), free(b), free(fast), free(portable), free(a.values), free(a.index);
}

/* NMTRAIN_NM_PATH picks the path AUTO resolves to; a name this CPU does not
 * run falls back to the widest path (with a warning on stderr). */
static void test_path_from_environment(void)
{
    setenv("NMTRAIN_NM_PATH", "portable", 1);
    nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    CHECK(strcmp(nmt_gemm_nm_path(), "portable") == 0, "NMTRAIN_NM_PATH=portable gave %s", nmt_gemm_nm_path());
    unsetenv("NMTRAIN_NM_PATH");
    nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    const char *widest = nmt_gemm_nm_path();
    setenv("NMTRAIN_NM_PATH", "avx9000", 1);
    nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    CHECK(strcmp(nmt_gemm_nm_path(), widest) == 0, "unknown NMTRAIN_NM_PATH gave %s, not %s", nmt_gemm_nm_path(), widest);
    unsetenv("NMTRAIN_NM_PATH");
    nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    CHECK(nmt_gemm_nm_set_path((nmt_nm_path)42) == -1, "an out-of-range path must be refused");
}

/* Inside a caller's parallel region the kernel runs on the calling thread
 * only (no nested teams) and still gives the right answer. */
static void test_inside_parallel_region(nmt_rng *rng)
{
    nmt_set_threads(2);
    const int rows = 16, k = 64, ncols = 100;
    const nmt_nm nm = {2, 8};
    size_t count = nmt_packed_value_count(rows, k, nm);
    float *w = malloc(sizeof(float) * rows * k), *dense = malloc(sizeof(float) * rows * k);
    float *b = malloc(sizeof(float) * k * ncols), *want = malloc(sizeof(float) * rows * ncols);
    float *c = malloc(sizeof(float) * 2 * rows * ncols);
    nmt_packed a = {.values = malloc(sizeof(float) * count), .index = malloc(count)};
    for (int i = 0; i < rows * k; i++) w[i] = nmt_rng_normal(rng);
    for (int i = 0; i < k * ncols; i++) b[i] = nmt_rng_normal(rng);
    nmt_pack_topn((nmt_view){w, rows, k, k, 1}, nm, &a);
    nmt_unpack(&a, dense);
    reference_gemm(dense, rows, k, b, ncols, ncols, 0.0f, NULL, ncols, want);
#pragma omp parallel for num_threads(2)
    for (int copy = 0; copy < 2; copy++) nmt_gemm_nm(&a, b, ncols, ncols, 0.0f, c + (size_t)copy * rows * ncols, ncols);
    CHECK_CLOSE("inside parallel region, copy 0", c, want, (size_t)rows * ncols, 1e-4);
    CHECK_CLOSE("inside parallel region, copy 1", c + (size_t)rows * ncols, want, (size_t)rows * ncols, 1e-4);
    free(w), free(dense), free(b), free(want), free(c), free(a.values), free(a.index);
}

/* Convolution shapes for the lowering tests: strides, paddings, kernel
 * sizes, ragged panels, planes smaller than the kernel, "same" shapes with
 * several images a panel or panels that straddle images, channel counts
 * that fill whole 8 x 8 transpose tiles or not, batches split into blocks. */
static const nmt_conv_shape conv_shapes[] = {
    {.c = 3, .n = 2, .h = 7, .w = 9, .kh = 3, .kw = 3, .stride = 1, .pad = 1},
    {.c = 4, .n = 3, .h = 8, .w = 8, .kh = 3, .kw = 3, .stride = 2, .pad = 1},
    {.c = 5, .n = 2, .h = 4, .w = 4, .kh = 1, .kw = 1, .stride = 2, .pad = 0},
    {.c = 2, .n = 5, .h = 1, .w = 1, .kh = 3, .kw = 3, .stride = 1, .pad = 1},
    {.c = 3, .n = 2, .h = 2, .w = 3, .kh = 5, .kw = 5, .stride = 1, .pad = 2},
    {.c = 8, .n = 4, .h = 12, .w = 10, .kh = 5, .kw = 3, .stride = 1, .pad = 2},
    {.c = 6, .n = 13, .h = 4, .w = 4, .kh = 3, .kw = 3, .stride = 1, .pad = 1},
    {.c = 17, .n = 2, .h = 11, .w = 13, .kh = 3, .kw = 3, .stride = 3, .pad = 0},
    {.c = 2, .n = 2, .h = 9, .w = 9, .kh = 3, .kw = 3, .stride = 1, .pad = 0},
    {.c = 16, .n = 4, .h = 8, .w = 8, .kh = 3, .kw = 3, .stride = 1, .pad = 1},
    {.c = 20, .n = 3, .h = 8, .w = 8, .kh = 3, .kw = 3, .stride = 2, .pad = 1},
    {.c = 33, .n = 2, .h = 6, .w = 5, .kh = 1, .kw = 1, .stride = 1, .pad = 0},
    {.c = 40, .n = 2, .h = 19, .w = 21, .kh = 3, .kw = 3, .stride = 1, .pad = 1},
    /* batches the fused backward-data splits into blocks of whole panels
     * (8x8: 3 images) or of images with ragged panels (7x7), the last
     * block short */
    {.c = 8, .n = 50, .h = 8, .w = 8, .kh = 3, .kw = 3, .stride = 1, .pad = 1},
    {.c = 8, .n = 41, .h = 7, .w = 7, .kh = 3, .kw = 3, .stride = 1, .pad = 1},
};
#define CONV_SHAPES (sizeof conv_shapes / sizeof conv_shapes[0])

/* conv_shapes[t] with its output size filled in. */
static nmt_conv_shape conv_case(size_t t)
{
    nmt_conv_shape s = conv_shapes[t];
    s.ho = (s.h + 2 * s.pad - s.kh) / s.stride + 1;
    s.wo = (s.w + 2 * s.pad - s.kw) / s.stride + 1;
    return s;
}

/* nmt_im2col_panels must equal nmt_im2col followed by nmt_nm_pack_panels,
 * bit for bit, over strides, paddings, kernel sizes and ragged panels. */
static void test_im2col_panels(nmt_rng *rng)
{
    int differ = 0;
    for (size_t t = 0; t < CONV_SHAPES; t++) {
        const nmt_conv_shape s = conv_case(t);
        const int k = s.kh * s.kw * s.c, ncols = s.n * s.ho * s.wo;
        const size_t size = nmt_nm_panels_floats(k, ncols);
        float *x = malloc(sizeof(float) * s.c * s.n * s.h * s.w), *col = malloc(sizeof(float) * k * ncols);
        float *want = malloc(sizeof(float) * size), *got = malloc(sizeof(float) * size);
        for (int i = 0; i < s.c * s.n * s.h * s.w; i++) x[i] = nmt_rng_normal(rng);
        nmt_im2col(&s, x, col);
        nmt_nm_pack_panels(col, ncols, k, ncols, want);
        memset(got, 0xff, sizeof(float) * size); /* NaN: every entry must be written */
        nmt_im2col_panels(&s, x, got);
        if (memcmp(got, want, sizeof(float) * size) != 0) {
            differ++;
            fprintf(stderr, "  im2col_panels differs for shape %zu\n", t);
        }
        free(x), free(col), free(want), free(got);
    }
    CHECK(differ == 0, "%d conv shapes lowered differently", differ);
}

/* The fused sparse forward (nmt_gemm_nm_conv) must equal the lowering into
 * panels followed by nmt_gemm_nm_panels, bit for bit (same sums, same
 * order), on every conv shape and N:M, with a workspace for one panel (one
 * thread) and for two, on every path this CPU runs. */
static void test_gemm_nm_conv(nmt_rng *rng)
{
    static const nmt_nm ratios[] = {{2, 4}, {1, 8}, {3, 16}};
    int differ = 0, cases = 0;
    for (int path = NMT_NM_PATH_PORTABLE; path <= NMT_NM_PATH_AVX512; path++) {
        if (nmt_gemm_nm_set_path((nmt_nm_path)path) != 0) continue;
        for (size_t t = 0; t < CONV_SHAPES; t++) {
            const nmt_conv_shape s = conv_case(t);
            const int k = s.kh * s.kw * s.c, ncols = s.n * s.ho * s.wo, rows = 7;
            for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++) {
                if (k % ratios[r].m) continue;
                const size_t count = nmt_packed_value_count(rows, k, ratios[r]);
                float *x = malloc(sizeof(float) * s.c * s.n * s.h * s.w), *w = malloc(sizeof(float) * rows * k);
                float *panels = malloc(sizeof(float) * nmt_nm_panels_floats(k, ncols));
                float *want = malloc(sizeof(float) * rows * ncols), *got = malloc(sizeof(float) * rows * ncols);
                nmt_packed a = {.values = malloc(sizeof(float) * count), .index = malloc(count)};
                for (int i = 0; i < s.c * s.n * s.h * s.w; i++) x[i] = nmt_rng_normal(rng);
                for (int i = 0; i < rows * k; i++) w[i] = nmt_rng_normal(rng);
                nmt_pack_topn((nmt_view){w, rows, k, k, 1}, ratios[r], &a);
                nmt_im2col_panels(&s, x, panels);
                nmt_gemm_nm_panels(&a, panels, ncols, 0.0f, want, ncols);
                for (size_t room = 1; room <= 2; room++) { /* panels' worth of workspace */
                    for (int i = 0; i < rows * ncols; i++) got[i] = NAN;
                    differ += nmt_gemm_nm_conv(&a, &s, x, panels, room * k * NMT_NM_PANEL_COLS, got) != 0 ||
                              memcmp(got, want, sizeof(float) * rows * ncols) != 0;
                    cases++;
                }
                if (cases == 2) /* once */
                    CHECK(nmt_gemm_nm_conv(&a, &s, x, panels, (size_t)k * NMT_NM_PANEL_COLS - 1, got) == -1,
                          "a workspace without room for one panel must be refused");
                free(x), free(w), free(panels), free(want), free(got), free(a.values), free(a.index);
            }
        }
    }
    nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    printf("  fused sparse forward: %d cases, %d differ from lowering + GEMM\n", cases, differ);
    CHECK(differ == 0 && cases > 0, "%d of %d fused sparse forwards differ", differ, cases);
}

/* im2col and col2im against their definition (kernels.h): col row
 * (i, j, ci), column (n, oy, ox) holds x[ci][n][oy*stride - pad + i]
 * [ox*stride - pad + j], 0 outside the plane; col2im adds each column entry
 * back there. "Same" stride-1 shapes take the shifted-plane path, including
 * taps that never meet a plane smaller than the kernel. */
static void test_lowering_definition(nmt_rng *rng)
{
    int differ = 0;
    double worst = 0.0;
    for (size_t t = 0; t < CONV_SHAPES; t++) {
        const nmt_conv_shape s = conv_case(t);
        const int k = s.kh * s.kw * s.c, cols = s.n * s.ho * s.wo;
        const size_t x_size = (size_t)s.c * s.n * s.h * s.w;
        float *x = malloc(sizeof(float) * x_size), *col = malloc(sizeof(float) * k * cols);
        float *want = malloc(sizeof(float) * k * cols), *dx = malloc(sizeof(float) * x_size);
        float *dx_want = calloc(x_size, sizeof(float));
        for (size_t i = 0; i < x_size; i++) x[i] = nmt_rng_normal(rng);
        for (int i = 0; i < s.kh; i++)
            for (int j = 0; j < s.kw; j++)
                for (int ci = 0; ci < s.c; ci++)
                    for (int n = 0, c = 0; n < s.n; n++)
                        for (int oy = 0; oy < s.ho; oy++)
                            for (int ox = 0; ox < s.wo; ox++, c++) {
                                const int iy = oy * s.stride - s.pad + i, ix = ox * s.stride - s.pad + j;
                                const int inside = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w;
                                const size_t at = (((size_t)ci * s.n + n) * s.h + (inside ? iy : 0)) * s.w + (inside ? ix : 0);
                                const size_t row = (size_t)(i * s.kw + j) * s.c + ci;
                                want[row * cols + c] = inside ? x[at] : 0.0f;
                                if (inside) dx_want[at] += want[row * cols + c];
                            }
        memset(col, 0xff, sizeof(float) * k * cols); /* NaN: every entry must be written */
        nmt_im2col(&s, x, col);
        if (memcmp(col, want, sizeof(float) * k * cols) != 0) {
            differ++;
            fprintf(stderr, "  im2col differs from its definition for shape %zu\n", t);
        }
        for (size_t i = 0; i < x_size; i++) dx[i] = NAN; /* overwritten */
        nmt_col2im_images(&s, want, 0, s.n, dx, 0);
        double err = harness_max_error(dx, dx_want, x_size);
        if (!(err <= worst)) worst = err;
        free(x), free(col), free(want), free(dx), free(dx_want);
    }
    CHECK(differ == 0, "%d conv shapes lowered differently from the definition", differ);
    printf("  %-40s max err %.3e (tol 1e-06)\n", "col2im against its definition", worst);
    CHECK(worst <= 1e-6, "col2im: max error %.3e", worst);
}

/* nmt_col2im_transposed on the transposed lowering must equal nmt_col2im
 * (up to the order of the additions) over strides, paddings and kernels. */
static void test_col2im_transposed(nmt_rng *rng)
{
    double worst = 0.0;
    for (size_t t = 0; t < CONV_SHAPES; t++) {
        const nmt_conv_shape s = conv_case(t);
        const int k = s.kh * s.kw * s.c, cols = s.n * s.ho * s.wo;
        const size_t dx_size = (size_t)s.c * s.n * s.h * s.w;
        float *dcol = malloc(sizeof(float) * k * cols), *dcol_t = malloc(sizeof(float) * k * cols);
        float *want = malloc(sizeof(float) * dx_size), *got = malloc(sizeof(float) * dx_size);
        for (int i = 0; i < k * cols; i++) dcol[i] = nmt_rng_normal(rng);
        for (int r = 0; r < k; r++)
            for (int j = 0; j < cols; j++) dcol_t[(size_t)j * k + r] = dcol[(size_t)r * cols + j];
        for (size_t i = 0; i < dx_size; i++) want[i] = got[i] = (float)i * 0.25f; /* both accumulate */
        nmt_col2im(&s, dcol, want);
        nmt_col2im_transposed(&s, dcol_t, got);
        double err = harness_max_error(got, want, dx_size);
        if (!(err <= worst)) worst = err;
        free(dcol), free(dcol_t), free(want), free(got);
    }
    printf("  %-40s max err %.3e (tol 1e-05)\n", "col2im from the transposed lowering", worst);
    CHECK(worst <= 1e-5, "col2im_transposed: max error %.3e", worst);
}

/* nmt_gemm_nm_col2im must equal the unfused nmt_gemm_nm_panels into dcol
 * followed by nmt_col2im (up to the order of the additions). */
static void test_gemm_col2im(nmt_rng *rng)
{
    const nmt_nm ratios[] = {{2, 8}, {1, 4}, {3, 16}, {2, 4}};
    double worst = 0.0;
    for (size_t t = 0; t < CONV_SHAPES; t++) {
        const nmt_conv_shape s = conv_case(t);
        const nmt_nm nm = ratios[t % 4];
        const int k = s.kh * s.kw * s.c, cout = 2 * nm.m, cols = s.n * s.ho * s.wo;
        const size_t dx_size = (size_t)s.c * s.n * s.h * s.w, count = nmt_packed_value_count(k, cout, nm);
        float *w = malloc(sizeof(float) * cout * k), *dy = malloc(sizeof(float) * cout * cols);
        float *panels = malloc(sizeof(float) * nmt_nm_panels_floats(cout, cols));
        float *dcol = malloc(sizeof(float) * k * cols), *want = malloc(sizeof(float) * dx_size);
        float *got = malloc(sizeof(float) * dx_size);
        const size_t workspace_floats = nmt_gemm_nm_col2im_workspace_floats(&s, cout);
        float *workspace = malloc(sizeof(float) * workspace_floats);
        nmt_packed w_t = {.values = malloc(sizeof(float) * count), .index = malloc(count)};
        for (int i = 0; i < cout * k; i++) w[i] = nmt_rng_normal(rng);
        for (int i = 0; i < cout * cols; i++) dy[i] = nmt_rng_normal(rng);
        nmt_pack_topn((nmt_view){w, k, cout, 1, k}, nm, &w_t); /* W^T packed along Cout */
        nmt_nm_pack_panels(dy, cols, cout, cols, panels);
        for (int path = NMT_NM_PATH_PORTABLE; path <= NMT_NM_PATH_AVX512; path++) {
            if (nmt_gemm_nm_set_path((nmt_nm_path)path) != 0) continue;
            for (int threads = 1; threads <= 3; threads++) {
                nmt_set_threads(threads);
                nmt_gemm_nm_panels(&w_t, panels, cols, 0.0f, dcol, cols);
                memset(want, 0, sizeof(float) * dx_size);
                nmt_col2im(&s, dcol, want);
                memset(got, 0, sizeof(float) * dx_size);
                CHECK(nmt_gemm_nm_col2im(&w_t, dy, &s, workspace, workspace_floats, got) == 0,
                      "fused backward-data refused its own workspace size");
                double err = harness_max_error(got, want, dx_size);
                if (!(err <= worst)) worst = err;
            }
        }
        nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
        free(w), free(dy), free(panels), free(dcol), free(want), free(got), free(workspace);
        free(w_t.values), free(w_t.index);
    }
    printf("  %-40s max err %.3e (tol 1e-05)\n", "fused col2im vs GEMM + col2im", worst);
    CHECK(worst <= 1e-5, "fused backward-data: max error %.3e", worst);
}

/* A C too large for the caches, written once (one reduction block, beta 0,
 * aligned rows): the kernels stream it. Its last panel is ragged, so full
 * panels are streamed and the last one is stored masked, in the same rows.
 * k is one group, which keeps the reference cheap at this size. */
static void test_streamed_output(nmt_rng *rng, const char *path)
{
    const nmt_nm nm = {2, 8};
    const int rows = 512, k = 8;
    if (nm_stream_bytes() > ((size_t)1 << 30)) {
        printf("  streamed C (%s): skipped, this CPU streams only above %zu MB\n", path, nm_stream_bytes() >> 20);
        return;
    }
    const int ldc = (int)(nm_stream_bytes() / sizeof(float) / rows / 16 + 2) * 16, ncols = ldc - 5;
    size_t count = nmt_packed_value_count(rows, k, nm);
    float *w = malloc(sizeof(float) * rows * k), *dense = malloc(sizeof(float) * rows * k);
    float *b = malloc(sizeof(float) * k * ncols), *want = malloc(sizeof(float) * rows * ncols);
    float *c = aligned_alloc(64, sizeof(float) * rows * ldc);
    nmt_packed a = {.rows = rows, .k = k, .nm = nm, .values = malloc(sizeof(float) * count), .index = malloc(count)};
    for (int i = 0; i < rows * k; i++) w[i] = nmt_rng_normal(rng);
    for (size_t i = 0; i < (size_t)k * ncols; i++) b[i] = nmt_rng_normal(rng);
    nmt_pack_topn((nmt_view){w, rows, k, k, 1}, nm, &a);
    nmt_unpack(&a, dense);
    reference_gemm(dense, rows, k, b, ncols, ncols, 0.0f, NULL, ldc, want);
    for (size_t i = 0; i < (size_t)rows * ldc; i++) c[i] = NAN;
    CHECK(nm_gemm_streams_c(&a, ncols, 0.0f, c, ldc), "a %d x %d C should be streamed", rows, ncols);
    nmt_gemm_nm(&a, b, ncols, ncols, 0.0f, c, ldc);
    double err = 0.0;
    int padding_kept = 1;
    for (int r = 0; r < rows; r++) {
        const double row_err = harness_max_error(c + (size_t)r * ldc, want + (size_t)r * ncols, ncols);
        if (!(row_err <= err)) err = row_err;
        for (int j = ncols; j < ldc; j++) padding_kept &= isnan(c[(size_t)r * ldc + j]);
    }
    printf("  streamed C (%s): %d x %d (%.0f MB), max error %.2e\n", path, rows, ncols,
           rows * (double)ldc * sizeof(float) / 1e6, err);
    CHECK(err < 1e-5, "streamed C (%s): max error %g", path, err);
    CHECK(padding_kept, "streamed C (%s): wrote past ncols", path);
    free(w), free(dense), free(b), free(want), free(c), free(a.values), free(a.index);
}

int main(void)
{
    nmt_rng rng;
    nmt_rng_seed(&rng, 7, 3);
    printf("N:M GEMM path: %s\n", nmt_gemm_nm_path());
    for (int path_kind = NMT_NM_PATH_PORTABLE; path_kind <= NMT_NM_PATH_AVX512; path_kind++) {
        if (nmt_gemm_nm_set_path((nmt_nm_path)path_kind) != 0) {
            printf("  (this CPU does not run path %d: skipped)\n", path_kind);
            continue;
        }
        const char *path = nmt_gemm_nm_path();
        test_random_shapes(&rng, path, 1);
        test_random_shapes(&rng, path, 2);
        test_random_shapes(&rng, path, 3);
        test_streamed_output(&rng, path);
    }
    nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    test_paths_agree(&rng);
    test_path_from_environment();
    test_inside_parallel_region(&rng);
    test_lowering_definition(&rng);
    test_im2col_panels(&rng);
    test_gemm_nm_conv(&rng);
    test_gemm_col2im(&rng);
    test_col2im_transposed(&rng);
    TEST_END("test_nm_gemm");
}

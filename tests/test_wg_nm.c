/* --grad-nm's weight gradient through the N:M kernel (conv path nm-wg):
 * dW = prune(dY) col^T against the dense product of nmt_mvue_prune's
 * pruned dY with im2col's lowering (summed in double), on every N:M path
 * the CPU runs, for 3x3 (Winograd and lowered), strided, 5x5, 1x1 and
 * linear layers, odd pixel counts, odd batches, several chunks (few
 * pixels) and the fused form a slice of images per thread (many).
 * Backward-data and the bias gradient must not change: bit for bit the
 * same as the layer without --grad-nm. Also: the packed pruning equals the
 * dense one value for value (and a data-parallel shard's, drawing with the
 * whole batch's counters, the whole's), and the lowering into panels equals
 * im2col transposed. */
#include <string.h>

#include "harness.h"
#include "layers/layers.h"
#include "nmtrain/core.h"

static float *random_floats(size_t n, uint64_t seed)
{
    nmt_rng rng;
    nmt_rng_seed(&rng, seed, 1);
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) x[i] = i % 11 == 3 ? 0.0f : nmt_rng_normal(&rng);
    return x;
}

/* Packed pruning of column ranges (even starts, odd lengths at the row's
 * end) unpacks to the dense pruning's values. */
static void packed_equals_dense(void)
{
    const int rows = 7, cols = 203;
    float *dy = random_floats((size_t)rows * cols, 1), *dense = malloc(sizeof(float) * rows * cols);
    for (int j = 0; j < 40; j += 2) dy[j] = dy[j + 1] = 0.0f;     /* pairs of zeros */
    dy[41] = -0.0f, dy[60] = INFINITY, dy[75] = -INFINITY;          /* signed zero, infinities */
    const uint64_t key = nmt_rng_counter_key(4, 5, 6);
    nmt_mvue_prune(dy, rows, cols, key, dense);
    const int ranges[][2] = {{0, 203}, {0, 100}, {100, 103}, {202, 1}, {40, 62}};
    const nmt_nm_path paths[] = {NMT_NM_PATH_PORTABLE, NMT_NM_PATH_AVX2, NMT_NM_PATH_AVX512};
    int differ = 0;
    for (size_t t = 0; t < 3 * sizeof ranges / sizeof ranges[0]; t++) {
        if (nmt_gemm_nm_set_path(paths[t % 3])) continue; /* the pruning follows the GEMM's path */
        const int col0 = ranges[t / 3][0], count = ranges[t / 3][1], groups = (count + 1) / 2;
        float *values = malloc(sizeof(float) * rows * groups), *unpacked = malloc(sizeof(float) * rows * 2 * groups);
        uint8_t *index = malloc((size_t)rows * groups);
        nmt_packed p = {.values = values, .index = index};
        nmt_mvue_prune_packed(dy, rows, cols, col0, count, (nmt_mvue_draws){key, cols, 0}, &p);
        CHECK(p.k == 2 * groups && p.nm.n == 1 && p.nm.m == 2, "packed shape k %d", p.k);
        nmt_unpack(&p, unpacked);
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < count; j++) differ += unpacked[r * p.k + j] != dense[r * cols + col0 + j];
            if (count % 2) differ += unpacked[r * p.k + count] != 0.0f;
        }
        free(values), free(unpacked), free(index);
    }
    nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    CHECK(differ == 0, "%d packed entries differ from nmt_mvue_prune's", differ);
    /* A data-parallel shard: columns [first, first + width) held alone,
     * drawing with the whole row's counters, prune as the whole does. */
    const int shards[][2] = {{0, 60}, {60, 143}, {100, 103}};
    int shard_differ = 0;
    for (int t = 0; t < 3; t++) {
        const int first = shards[t][0], width = shards[t][1], groups = (width + 1) / 2;
        float *part = malloc(sizeof(float) * rows * width), *values = malloc(sizeof(float) * rows * groups);
        float *unpacked = malloc(sizeof(float) * rows * 2 * groups);
        uint8_t *index = malloc((size_t)rows * groups);
        for (int r = 0; r < rows; r++) memcpy(part + r * width, dy + r * cols + first, sizeof(float) * width);
        nmt_packed p = {.values = values, .index = index};
        nmt_mvue_prune_packed(part, rows, width, 0, width, (nmt_mvue_draws){key, cols, first}, &p);
        nmt_unpack(&p, unpacked);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < width; j++) shard_differ += unpacked[r * p.k + j] != dense[r * cols + first + j];
        free(part), free(values), free(unpacked), free(index);
    }
    CHECK(shard_differ == 0, "%d entries of shards pruned apart differ from the whole", shard_differ);
    free(dy), free(dense);
}

typedef struct layer_case {
    const char *name;
    nmt_conv_shape s;
    int c_out, bias;
} layer_case;

/* One layer: WG against the double-precision reference, dX and dbias
 * against the plan without --grad-nm, bit for bit. */
static void layer(const layer_case *t)
{
    const nmt_conv_shape *s = &t->s;
    const int k = s->kh * s->kw * s->c, cols = s->n * s->ho * s->wo;
    const size_t x_count = (size_t)s->c * s->n * s->h * s->w, dy_count = (size_t)t->c_out * cols;
    float *x = random_floats(x_count, 2), *dy = random_floats(dy_count, 3), *w = random_floats((size_t)t->c_out * k, 4);
    const uint64_t key = nmt_rng_counter_key(7, 8, 9);
    /* reference: dW = prune(dY) im2col(x)^T in double */
    float *pruned = malloc(sizeof(float) * dy_count), *col = malloc(sizeof(float) * k * (size_t)cols);
    float *want = malloc(sizeof(float) * t->c_out * k);
    double *magnitude = malloc(sizeof(double) * t->c_out * k);
    nmt_mvue_prune(dy, t->c_out, cols, key, pruned);
    nmt_im2col(s, x, col);
    for (int o = 0; o < t->c_out; o++)
        for (int j = 0; j < k; j++) {
            double sum = 0.0, size = 0.0;
            for (int p = 0; p < cols; p++) {
                const double term = (double)pruned[(size_t)o * cols + p] * col[(size_t)j * cols + p];
                sum += term;
                size += fabs(term);
            }
            want[o * k + j] = (float)sum;
            magnitude[o * k + j] = size;
        }
    conv_plan sparse, dense;
    conv_plan_make(s, t->c_out, (conv_operands){.needs_dx = 1, .wg_nm = 1}, &sparse);
    conv_plan_make(s, t->c_out, (conv_operands){.needs_dx = 1}, &dense);
    CHECK(sparse.wg == CONV_PATH_NM_WG, "%s: the plan's WG path is %s", t->name, conv_path_name(sparse.wg));
    const size_t floats = sparse.workspace_floats > dense.workspace_floats ? sparse.workspace_floats
                                                                           : dense.workspace_floats;
    float *workspace = aligned_alloc(64, sizeof(float) * (floats + 16) / 64 * 64 + 64);
    float *dw = malloc(sizeof(float) * t->c_out * k), *dw_dense = malloc(sizeof(float) * t->c_out * k);
    float *dx = malloc(sizeof(float) * x_count), *dx_dense = malloc(sizeof(float) * x_count);
    float *db = malloc(sizeof(float) * t->c_out), *db_dense = malloc(sizeof(float) * t->c_out);
    const nmt_operand op = {w, NULL}, dy_op = {dy, NULL};
    const nmt_nm_path paths[] = {NMT_NM_PATH_PORTABLE, NMT_NM_PATH_AVX2, NMT_NM_PATH_AVX512};
    for (int p = 0; p < 3; p++) {
        if (nmt_gemm_nm_set_path(paths[p])) continue;
        /* The dense run on the same path: the skinny dX follows it. */
        CHECK(conv_backward(&dense, s->n, op, x, dy, (nmt_mvue_draws){0}, dy_op, dw_dense, t->bias ? db_dense : NULL,
                            dx_dense, 0, workspace, floats, NULL) == 0,
              "%s", nmt_errmsg());
        CHECK(conv_backward(&sparse, s->n, op, x, dy, (nmt_mvue_draws){key, cols, 0}, dy_op, dw, t->bias ? db : NULL, dx, 0, workspace, floats,
                            NULL) == 0, "%s", nmt_errmsg());
        /* fp32 sums of `cols` products: the error is bounded by a few
         * units of rounding of the sum of the products' magnitudes. */
        double worst = 0.0;
        for (size_t i = 0; i < (size_t)t->c_out * k; i++) {
            const double err = fabs((double)dw[i] - want[i]) / (magnitude[i] + 1e-30);
            if (!(err <= worst)) worst = err;
        }
        printf("  %-28s dW (%-8s) max error %.2e of the products' magnitude (tol 1e-6)\n", t->name,
               nmt_gemm_nm_path(), worst);
        CHECK(worst <= 1e-6, "%s dW: error %.2e of the products' magnitude", t->name, worst);
        CHECK(!memcmp(dx, dx_dense, sizeof(float) * x_count), "%s: dX changed under --grad-nm", t->name);
        CHECK(!t->bias || !memcmp(db, db_dense, sizeof(float) * t->c_out), "%s: dbias changed", t->name);
    }
    nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    free(magnitude), free(x), free(dy), free(w), free(pruned), free(col), free(want), free(dw), free(dw_dense), free(dx), free(dx_dense);
    free(db), free(db_dense);
    free(workspace);
}

/* The lowering into panels is im2col transposed, zero rows and columns
 * past it. */
static void lowering(void)
{
    const nmt_conv_shape shapes[] = {{5, 3, 7, 9, 3, 3, 2, 1, 4, 5}, {130, 2, 3, 3, 1, 1, 1, 0, 3, 3}};
    for (int t = 0; t < 2; t++) {
        const nmt_conv_shape *s = &shapes[t];
        const int k = s->kh * s->kw * s->c, cols = s->n * s->ho * s->wo, k_rows = cols + 3;
        float *x = random_floats((size_t)s->c * s->n * s->h * s->w, 5), *col = malloc(sizeof(float) * k * cols);
        float *panels = malloc(sizeof(float) * nmt_nm_panels_floats(k_rows, k));
        float *scratch = malloc(sizeof(float) * (nmt_im2row_panels_scratch_floats(s, s->n) + 1));
        memset(panels, 0x7f, sizeof(float) * nmt_nm_panels_floats(k_rows, k));
        nmt_im2col(s, x, col);
        nmt_im2row_panels_images(s, x, 0, s->n, scratch, k_rows, panels);
        int differ = 0;
        const int panel_count = (k + NMT_NM_PANEL_COLS - 1) / NMT_NM_PANEL_COLS;
        for (int row = 0; row < k_rows; row++)
            for (int j = 0; j < panel_count * NMT_NM_PANEL_COLS; j++) {
                const float got = panels[((size_t)(j / NMT_NM_PANEL_COLS) * k_rows + row) * NMT_NM_PANEL_COLS +
                                         j % NMT_NM_PANEL_COLS];
                differ += got != (row < cols && j < k ? col[(size_t)j * cols + row] : 0.0f);
            }
        CHECK(differ == 0, "shape %d: %d panel entries differ from im2col transposed", t, differ);
        free(x), free(col), free(panels), free(scratch);
    }
}

int main(void)
{
    packed_equals_dense();
    lowering();
    const layer_case cases[] = {
        /* c, n, h, w, kh, kw, stride, pad, ho, wo */
        {"3x3 Winograd 32ch", {32, 4, 8, 8, 3, 3, 1, 1, 8, 8}, 32, 0},
        {"3x3 odd plane, odd batch", {12, 3, 7, 7, 3, 3, 1, 1, 7, 7}, 20, 1},
        {"3x3 stride 2", {8, 5, 9, 9, 3, 3, 2, 1, 5, 5}, 16, 0},
        {"5x5 first layer", {3, 2, 11, 11, 5, 5, 1, 2, 11, 11}, 8, 1},
        {"1x1 pointwise", {100, 3, 5, 5, 1, 1, 1, 0, 5, 5}, 24, 0},
        {"linear", {200, 7, 1, 1, 1, 1, 1, 0, 1, 1}, 30, 1},
        {"3x3 sliced, odd tail", {64, 17, 31, 31, 3, 3, 1, 1, 31, 31}, 64, 0},
        {"3x3 chunked, odd tail", {64, 5, 63, 63, 3, 3, 1, 1, 63, 63}, 8, 0},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) layer(&cases[t]);
    TEST_END("test_wg_nm");
}

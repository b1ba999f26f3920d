/* The linear layers' dense GEMMs (skinny_gemm and skinny_gemm_nt, the
 * skinny path of conv_plan) on every instruction set the CPU runs, against
 * a double-precision product: W and W^T as A, a bias, accumulation, rows
 * that are not whole tiles, columns that are not whole panels, weight
 * gradients wider than one transposed block, and reductions longer than one
 * packed block (SKINNY_KC = 256). */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "layers/layers.h"
#include "nmtrain/kernels.h"

typedef struct gemm_case {
    const char *name;
    int m, n, k, transposed, with_bias, accumulate;
} gemm_case;

static float value(size_t i, int salt)
{
    return (float)((i * 2654435761u + (size_t)salt * 40503u) % 2001) / 1000.0f - 1.0f;
}

static void run_case(const gemm_case *t)
{
    const size_t a_count = (size_t)t->m * t->k, c_count = (size_t)t->m * t->n;
    float *a = malloc(sizeof(float) * a_count), *b = malloc(sizeof(float) * (size_t)t->k * t->n);
    float *bias = malloc(sizeof(float) * t->m), *c = malloc(sizeof(float) * c_count);
    float *c0 = malloc(sizeof(float) * c_count), *want = malloc(sizeof(float) * c_count);
    for (size_t i = 0; i < a_count; i++) a[i] = value(i, 1);
    for (size_t i = 0; i < (size_t)t->k * t->n; i++) b[i] = value(i, 2);
    for (int i = 0; i < t->m; i++) bias[i] = value((size_t)i, 3);
    for (size_t i = 0; i < c_count; i++) c0[i] = value(i, 4);
    /* A stored as W (m x k) or as the W (k x m) whose transpose it is. */
    const int64_t a_m = t->transposed ? 1 : t->k, a_k = t->transposed ? t->m : 1;
    for (int i = 0; i < t->m; i++)
        for (int j = 0; j < t->n; j++) {
            double sum = t->accumulate ? c0[(size_t)i * t->n + j] : t->with_bias ? bias[i] : 0.0;
            for (int p = 0; p < t->k; p++) sum += (double)a[i * a_m + p * a_k] * b[(size_t)p * t->n + j];
            want[(size_t)i * t->n + j] = (float)sum;
        }
    for (int path = NMT_NM_PATH_PORTABLE; path <= NMT_NM_PATH_AVX512; path++) {
        if (nmt_gemm_nm_set_path((nmt_nm_path)path)) continue;
        memcpy(c, c0, sizeof(float) * c_count);
        skinny_gemm(t->m, t->n, t->k, a, a_m, a_k, b, t->with_bias ? bias : NULL, c, t->accumulate);
        char label[96];
        snprintf(label, sizeof label, "%s (%s)", t->name, nmt_gemm_nm_path());
        /* fp32 sums of up to 600 products of magnitude <= 1. */
        CHECK_CLOSE(label, c, want, c_count, 1e-5);
    }
    nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    free(a), free(b), free(bias), free(c), free(c0), free(want);
}

/* C (m x k) = A (m x n) B^T, B (k x n): the weight gradient. */
static void run_nt_case(const char *name, int m, int k, int n)
{
    float *a = malloc(sizeof(float) * (size_t)m * n), *b = malloc(sizeof(float) * (size_t)k * n);
    float *c = malloc(sizeof(float) * (size_t)m * k), *want = malloc(sizeof(float) * (size_t)m * k);
    float *partials = malloc(sizeof(float) * (skinny_gemm_nt_workspace_floats(m, k) + 1));
    for (size_t i = 0; i < (size_t)m * n; i++) a[i] = value(i, 5);
    for (size_t i = 0; i < (size_t)k * n; i++) b[i] = value(i, 6);
    double scale = 0.0; /* the largest sum of |products| */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < k; j++) {
            double sum = 0.0, size = 0.0;
            for (int p = 0; p < n; p++) {
                const double term = (double)a[(size_t)i * n + p] * b[(size_t)j * n + p];
                sum += term, size += fabs(term);
            }
            want[(size_t)i * k + j] = (float)sum;
            if (size > scale) scale = size;
        }
    for (int path = NMT_NM_PATH_PORTABLE; path <= NMT_NM_PATH_AVX512; path++) {
        if (nmt_gemm_nm_set_path((nmt_nm_path)path)) continue;
        for (size_t i = 0; i < (size_t)m * k; i++) c[i] = NAN; /* overwritten, never read */
        skinny_gemm_nt(m, k, n, a, b, c, partials, skinny_gemm_nt_workspace_floats(m, k));
        double worst = 0.0;
        for (size_t i = 0; i < (size_t)m * k; i++) {
            const double err = fabs((double)c[i] - want[i]) / scale;
            if (!(err <= worst)) worst = err;
        }
        printf("  %-40s (%-8s) max err %.3e of the largest sum of |products| (tol 1e-6)\n", name,
               nmt_gemm_nm_path(), worst);
        CHECK(worst <= 1e-6, "%s (%s): error %.3e", name, nmt_gemm_nm_path(), worst);
    }
    nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    free(a), free(b), free(c), free(want), free(partials);
}

/* The plan takes the skinny path for a ViT's dense linear layers (all
 * three directions) and leaves N:M weights, large W and long columns to
 * the other paths. */
static void plans(void)
{
    const conv_operands dense = {.needs_dx = 1}, bdwp = {.fw_nm = 1, .bw_nm = 1, .needs_dx = 1};
    const nmt_conv_shape qkv = {192, 128, 65, 1, 1, 1, 1, 0, 65, 1}; /* the zoo ViT's qkv at batch 128 */
    conv_plan p;
    conv_plan_make(&qkv, 576, dense, &p);
    CHECK(p.fw == CONV_PATH_SKINNY && p.bw == CONV_PATH_SKINNY && p.wg == CONV_PATH_SKINNY, "ViT qkv: %s/%s/%s",
          conv_path_name(p.fw), conv_path_name(p.bw), conv_path_name(p.wg));
    CHECK(p.workspace_floats >= skinny_gemm_nt_workspace_floats(576, 192), "ViT qkv: workspace %zu",
          p.workspace_floats);
    conv_plan_make(&qkv, 576, bdwp, &p);
    CHECK(p.fw == CONV_PATH_POINTWISE && p.bw == CONV_PATH_POINTWISE && p.wg == CONV_PATH_SKINNY,
          "ViT qkv, BDWP: %s/%s/%s", conv_path_name(p.fw), conv_path_name(p.bw), conv_path_name(p.wg));
    const nmt_conv_shape resnet50 = {64, 128, 32, 32, 1, 1, 1, 0, 32, 32}; /* 64 -> 256 at 32x32 */
    conv_plan_make(&resnet50, 256, dense, &p);
    CHECK(p.fw == CONV_PATH_POINTWISE, "ResNet50 1x1 at 32x32: %s", conv_path_name(p.fw));
    const nmt_conv_shape wide = {1024, 128, 65, 1, 1, 1, 1, 0, 65, 1};
    conv_plan_make(&wide, 256, dense, &p);
    CHECK(p.fw == CONV_PATH_POINTWISE, "1024 inputs: %s", conv_path_name(p.fw));
}

int main(void)
{
    plans();
    const gemm_case cases[] = {
        {"qkv forward 192x64, bias", 192, 6400, 64, 0, 1, 0},
        {"fc2 backward 64x128 (W^T)", 64, 6400, 128, 1, 0, 0},
        {"W^T accumulated", 64, 800, 192, 1, 0, 1},
        {"odd rows and columns", 13, 77, 9, 0, 1, 0},
        {"one column", 7, 1, 5, 0, 1, 0},
        {"reduction of 600 (3 blocks)", 10, 100, 600, 0, 1, 0},
        {"W^T reduction of 600, accumulated", 17, 45, 600, 1, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    run_nt_case("qkv weight gradient 192x64 over 6400", 192, 64, 6400);
    run_nt_case("odd 13x9 over 77", 13, 9, 77);
    run_nt_case("one row, 600 wide (3 blocks) over 33", 1, 600, 33);
    run_nt_case("20x300 over 5 (one panel for the threads)", 20, 300, 5);
    TEST_END("test_skinny_gemm");
}

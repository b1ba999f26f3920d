/* The linear layers' dense GEMM (skinny_gemm, the skinny path of
 * conv_plan) on every instruction set the CPU runs, against a
 * double-precision product: W and W^T as A, a bias, accumulation, rows that
 * are not whole tiles, columns that are not whole panels, and reductions
 * longer than one packed block (SKINNY_KC = 256). */
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

int main(void)
{
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
    TEST_END("test_skinny_gemm");
}

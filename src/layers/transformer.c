/* Vision-transformer layers: class token and position embedding, layer
 * norm, GELU, multi-head attention, class-token pooling, and the dense GEMM
 * of the linear layers. Activations are dim x (batch * tokens) (layers.h).
 * Attention works on one (sample, head) per task, with register-tiled
 * products on the thread's copies of the head's rows, and one head's T x T
 * scores (two in the backward) in the thread's workspace. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "layers/layers.h"
#include "nmtrain/kernels.h"

void tokens_forward(int dim, int batch, int patches, const float *x, const float *cls, const float *pos, float *y)
{
    const int tokens = patches + 1;
    const int64_t cols = (int64_t)batch * tokens, patch_cols = (int64_t)batch * patches;
#pragma omp parallel for schedule(static)
    for (int d = 0; d < dim; d++) {
        const float *xr = x + d * patch_cols;
        float *yr = y + d * cols;
        for (int n = 0; n < batch; n++) {
            yr[(int64_t)n * tokens] = cls[d] + pos[d];
            for (int i = 0; i < patches; i++)
                yr[(int64_t)n * tokens + 1 + i] = xr[(int64_t)n * patches + i] + pos[(int64_t)(1 + i) * dim + d];
        }
    }
}

void tokens_backward(int dim, int batch, int patches, const float *dy, float *dx, float *dcls, float *dpos)
{
    const int tokens = patches + 1;
    const int64_t cols = (int64_t)batch * tokens, patch_cols = (int64_t)batch * patches;
#pragma omp parallel for schedule(static)
    for (int d = 0; d < dim; d++) {
        const float *dyr = dy + d * cols;
        for (int t = 0; t < tokens; t++) {
            float sum = 0.0f;
            for (int n = 0; n < batch; n++) sum += dyr[(int64_t)n * tokens + t];
            dpos[(int64_t)t * dim + d] = sum;
        }
        dcls[d] = dpos[d];
        if (!dx) continue;
        float *dxr = dx + d * patch_cols;
        for (int n = 0; n < batch; n++)
            memcpy(dxr + (int64_t)n * patches, dyr + (int64_t)n * tokens + 1, sizeof(float) * patches);
    }
}

/* LayerNorm's most columns per block: the block's per-column sums stay in
 * L1 while its dim rows stream past. Its rows are dim runs of contiguous
 * columns a whole activation row apart, which the hardware prefetchers
 * follow only when runs are long: at 64 columns LayerNorm took 9.2% of a
 * dim-96 ViT's dense step, at 464-512 about 6% (perf, 150 steps at 2 threads). */
#define LN_BLOCK 512

/* The linear layers' GEMMs work on blocks of SKINNY_KC rows of B, 32
 * columns wide (AVX-512's panel; the weight gradient's panel for every
 * instruction set): 32 KB that stay in L1. */
#define SKINNY_KC 256
#define SKINNY_PANEL 32

/* The layer kernels for each instruction set (transformer_kernels.h). The
 * GEMM tiles are TILE_ROWS x 2 vectors of VEC floats: 12 accumulator
 * registers of the 32 zmm, 16 ymm or 16 xmm each instruction set has. */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512")
#define KERNEL_ISA avx512
#define TILE_ROWS 6
#define VEC 16
#include "layers/transformer_kernels.h"
#undef KERNEL_ISA
#undef TILE_ROWS
#undef VEC
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define KERNEL_ISA avx2
#define TILE_ROWS 6
#define VEC 8
#include "layers/transformer_kernels.h"
#undef KERNEL_ISA
#undef TILE_ROWS
#undef VEC
#pragma GCC pop_options
#define KERNEL_ISA base
#define TILE_ROWS 6
#define VEC 4
#include "layers/transformer_kernels.h"
#undef KERNEL_ISA
#undef TILE_ROWS
#undef VEC

typedef enum { ISA_BASE, ISA_AVX2, ISA_AVX512 } kernel_isa;

/* The instruction set of the N:M kernels' path: one switch for every kernel. */
static kernel_isa kernel_isa_now(void)
{
    const char *path = nmt_gemm_nm_path();
    return !strcmp(path, "avx512") ? ISA_AVX512 : !strcmp(path, "avx2-fma") ? ISA_AVX2 : ISA_BASE;
}

#define DISPATCH(isa, name, ...)                                  \
    do {                                                          \
        switch (isa) {                                            \
        case ISA_AVX512: name##_avx512(__VA_ARGS__); break;       \
        case ISA_AVX2: name##_avx2(__VA_ARGS__); break;           \
        default: name##_base(__VA_ARGS__); break;                 \
        }                                                         \
    } while (0)

/* Columns per LayerNorm block: at most LN_BLOCK, a multiple of 16, and
 * blocks a multiple of the threads, so that each thread gets as many. */
static int ln_block_width(int cols)
{
    if (cols <= 0) return 16;
    const int threads = omp_get_max_threads(), per_round = threads * LN_BLOCK;
    const int blocks = threads * ((cols + per_round - 1) / per_round);
    return ((cols + blocks - 1) / blocks + 15) / 16 * 16;
}

void layernorm_forward(int dim, int cols, const float *x, const float *gamma, const float *beta, float eps,
                       ln_saved saved, float *y)
{
    const kernel_isa isa = kernel_isa_now();
    const int block = ln_block_width(cols), blocks = (cols + block - 1) / block;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < blocks; b++) {
        const int j0 = b * block, width = cols - j0 < block ? cols - j0 : block;
        DISPATCH(isa, layernorm_block, dim, cols, width, x + j0, gamma, beta, eps, saved.mean + j0, saved.rstd + j0,
                 y + j0);
    }
}

/* dx = rstd * (g dy - mean(g dy) - xhat * mean(g dy xhat)) per column. */
void layernorm_backward(int dim, int cols, const float *x, const float *gamma, ln_saved saved, const float *dy,
                        float *dgamma, float *dbeta, float *dx, int accumulate)
{
    const kernel_isa isa = kernel_isa_now();
#pragma omp parallel for schedule(static)
    for (int d = 0; d < dim; d++)
        DISPATCH(isa, layernorm_param_grads, cols, x + (int64_t)d * cols, dy + (int64_t)d * cols, saved.mean,
                 saved.rstd, dgamma + d, dbeta + d);
    if (!dx) return;
    const int block = ln_block_width(cols), blocks = (cols + block - 1) / block;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < blocks; b++) {
        const int j0 = b * block, width = cols - j0 < block ? cols - j0 : block;
        DISPATCH(isa, layernorm_block_backward, dim, cols, width, x + j0, gamma, saved.mean + j0, saved.rstd + j0,
                 dy + j0, dx + j0, accumulate);
    }
}

void skinny_gemm(int M, int N, int K, const float *a, int64_t a_m, int64_t a_k, const float *b, const float *bias,
                 float *c, int accumulate)
{
    DISPATCH(kernel_isa_now(), skinny_gemm, M, N, K, a, a_m, a_k, b, bias, c, accumulate);
}

size_t skinny_gemm_nt_workspace_floats(int M, int K)
{
    return (size_t)(omp_get_max_threads() - 1) * M * K;
}

void skinny_gemm_nt(int M, int K, int N, const float *a, const float *b, float *c, float *workspace,
                    size_t workspace_floats)
{
    const size_t size = (size_t)M * K, held = size ? workspace_floats / size : 0;
    const int panels = (N + SKINNY_PANEL - 1) / SKINNY_PANEL;
    int threads = omp_get_max_threads();
    if ((size_t)threads > held + 1) threads = (int)held + 1;
    if (threads > panels) threads = panels > 0 ? panels : 1;
    DISPATCH(kernel_isa_now(), skinny_gemm_nt, M, K, N, a, b, c, workspace, threads);
}

/* Elements per task of the element-wise loops. */
#define GELU_BLOCK 16384

void gelu_forward(int64_t n, const float *x, float *y)
{
    const kernel_isa isa = kernel_isa_now();
#pragma omp parallel for schedule(static)
    for (int64_t start = 0; start < n; start += GELU_BLOCK) {
        const int64_t len = n - start < GELU_BLOCK ? n - start : GELU_BLOCK;
        DISPATCH(isa, gelu_forward, len, x + start, y + start);
    }
}

void gelu_backward(int64_t n, const float *x, const float *dy, float *dx, int accumulate)
{
    const kernel_isa isa = kernel_isa_now();
#pragma omp parallel for schedule(static)
    for (int64_t start = 0; start < n; start += GELU_BLOCK) {
        const int64_t len = n - start < GELU_BLOCK ? n - start : GELU_BLOCK;
        DISPATCH(isa, gelu_backward, len, x + start, dy + start, dx + start, accumulate);
    }
}

/* T rounded up to whole attention tiles (32 columns): the row stride of
 * the scores, so tiles read and write whole vectors past column T. */
static int scores_stride(int tokens)
{
    return (tokens + 31) / 32 * 32;
}

/* Per thread, rows of scores_stride floats: the copies of a head's Q, K, V
 * and dO (hd rows each; the forward uses three), two T x T blocks of scores
 * (the forward uses one), and three rows of T. */
size_t attention_workspace_floats(const attention_shape *s)
{
    const size_t T = (size_t)s->tokens, tp = (size_t)scores_stride(s->tokens);
    return (4 * (size_t)s->head_dim + 2 * T) * tp + 3 * T;
}

void attention_forward(const attention_shape *s, const float *qkv, float *lse, float *workspace, int threads,
                       float *y)
{
    const int T = s->tokens, hd = s->head_dim, H = s->heads, dim = H * hd, tp = scores_stride(T);
    const int64_t cols = (int64_t)s->batch * T;
    const float scale = 1.0f / sqrtf((float)hd);
    const size_t per_thread = attention_workspace_floats(s), block = (size_t)hd * tp;
    const kernel_isa isa = kernel_isa_now();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int pair = 0; pair < s->batch * H; pair++) {
        const int n = pair / H, h = pair % H;
        float *qc = workspace + per_thread * (size_t)omp_get_thread_num(), *kc = qc + block, *vc = kc + block;
        float *st = vc + block, *most = st + (size_t)T * tp, *sum = most + T;
        const float *q = qkv + (int64_t)h * hd * cols + (int64_t)n * T;
        const float *k = q + dim * cols, *v = k + dim * cols;
        DISPATCH(isa, attention_head, T, hd, scale, q, k, v, cols, qc, kc, vc, st, tp, most, sum,
                 lse + (int64_t)pair * T, y + (int64_t)h * hd * cols + (int64_t)n * T);
    }
}

void attention_backward(const attention_shape *s, const float *qkv, const float *y, const float *lse,
                        const float *dy, float *workspace, int threads, float *dqkv, int accumulate)
{
    const int T = s->tokens, hd = s->head_dim, H = s->heads, dim = H * hd, tp = scores_stride(T);
    const int64_t cols = (int64_t)s->batch * T;
    const float scale = 1.0f / sqrtf((float)hd);
    const size_t per_thread = attention_workspace_floats(s), block = (size_t)hd * tp;
    const kernel_isa isa = kernel_isa_now();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int pair = 0; pair < s->batch * H; pair++) {
        const int n = pair / H, h = pair % H;
        float *qc = workspace + per_thread * (size_t)omp_get_thread_num(), *kc = qc + block, *vc = kc + block;
        float *dyc = vc + block, *p = dyc + block, *ds = p + (size_t)T * tp, *delta = ds + (size_t)T * tp;
        const int64_t head = (int64_t)h * hd * cols + (int64_t)n * T, third = (int64_t)dim * cols;
        const float *q = qkv + head;
        float *dq = dqkv + head;
        DISPATCH(isa, attention_head_backward, T, hd, scale, q, q + third, q + 2 * third, y + head, dy + head, cols,
                 lse + (int64_t)pair * T, qc, kc, vc, dyc, p, ds, tp, delta, dq, dq + third, dq + 2 * third,
                 accumulate);
    }
}

void token_pool_forward(int dim, int batch, int tokens, const float *x, float *y)
{
    for (int d = 0; d < dim; d++)
        for (int n = 0; n < batch; n++) y[(int64_t)d * batch + n] = x[((int64_t)d * batch + n) * tokens];
}

void token_pool_backward(int dim, int batch, int tokens, const float *dy, float *dx, int accumulate)
{
    if (!accumulate) zero_fill((int64_t)dim * batch * tokens, dx);
    for (int d = 0; d < dim; d++)
        for (int n = 0; n < batch; n++) dx[((int64_t)d * batch + n) * tokens] += dy[(int64_t)d * batch + n];
}

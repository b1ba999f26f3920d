/* Vision-transformer layers: class token and position embedding, layer
 * norm, GELU, multi-head attention, class-token pooling. Activations are
 * dim x (batch * tokens) (layers.h). Attention works on one (sample, head)
 * per task: its Q, K, V gathered into per-thread blocks (token-major for
 * the axpys along head_dim, feature-major for those along the keys), one row
 * of scores at a time. */
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

/* Columns per block: the per-column sums of a block stay in L1 while the
 * rows stream past, and the inner loops run along contiguous columns. */
#define LN_BLOCK 64

void layernorm_forward(int dim, int cols, const float *x, const float *gamma, const float *beta, float eps,
                       ln_saved saved, float *y)
{
#pragma omp parallel for schedule(static)
    for (int j0 = 0; j0 < cols; j0 += LN_BLOCK) {
        const int width = cols - j0 < LN_BLOCK ? cols - j0 : LN_BLOCK;
        float mean[LN_BLOCK] = {0}, var[LN_BLOCK] = {0};
        for (int d = 0; d < dim; d++) {
            const float *xr = x + (int64_t)d * cols + j0;
            for (int j = 0; j < width; j++) mean[j] += xr[j];
        }
        for (int j = 0; j < width; j++) mean[j] /= (float)dim;
        for (int d = 0; d < dim; d++) {
            const float *xr = x + (int64_t)d * cols + j0;
            for (int j = 0; j < width; j++) {
                const float c = xr[j] - mean[j];
                var[j] += c * c;
            }
        }
        float rstd[LN_BLOCK];
        for (int j = 0; j < width; j++) {
            rstd[j] = 1.0f / sqrtf(var[j] / (float)dim + eps);
            saved.mean[j0 + j] = mean[j];
            saved.rstd[j0 + j] = rstd[j];
        }
        for (int d = 0; d < dim; d++) {
            const float *xr = x + (int64_t)d * cols + j0;
            float *yr = y + (int64_t)d * cols + j0;
            for (int j = 0; j < width; j++) yr[j] = (xr[j] - mean[j]) * rstd[j] * gamma[d] + beta[d];
        }
    }
}

/* dx = rstd * (g dy - mean(g dy) - xhat * mean(g dy xhat)) per column. */
void layernorm_backward(int dim, int cols, const float *x, const float *gamma, ln_saved saved, const float *dy,
                        float *dgamma, float *dbeta, float *dx, int accumulate)
{
#pragma omp parallel for schedule(static)
    for (int d = 0; d < dim; d++) {
        const float *xr = x + (int64_t)d * cols, *dyr = dy + (int64_t)d * cols;
        float sg = 0.0f, sb = 0.0f;
        for (int j = 0; j < cols; j++) {
            sg += dyr[j] * (xr[j] - saved.mean[j]) * saved.rstd[j];
            sb += dyr[j];
        }
        dgamma[d] = sg;
        dbeta[d] = sb;
    }
    if (!dx) return;
#pragma omp parallel for schedule(static)
    for (int j0 = 0; j0 < cols; j0 += LN_BLOCK) {
        const int width = cols - j0 < LN_BLOCK ? cols - j0 : LN_BLOCK;
        const float *mean = saved.mean + j0, *rstd = saved.rstd + j0;
        float a[LN_BLOCK] = {0}, b[LN_BLOCK] = {0};
        for (int d = 0; d < dim; d++) {
            const float *xr = x + (int64_t)d * cols + j0, *dyr = dy + (int64_t)d * cols + j0;
            for (int j = 0; j < width; j++) {
                const float g = gamma[d] * dyr[j];
                a[j] += g;
                b[j] += g * (xr[j] - mean[j]) * rstd[j];
            }
        }
        for (int j = 0; j < width; j++) a[j] /= (float)dim, b[j] /= (float)dim;
        for (int d = 0; d < dim; d++) {
            const float *xr = x + (int64_t)d * cols + j0, *dyr = dy + (int64_t)d * cols + j0;
            float *dxr = dx + (int64_t)d * cols + j0;
            for (int j = 0; j < width; j++) {
                const float v = rstd[j] * (gamma[d] * dyr[j] - a[j] - (xr[j] - mean[j]) * rstd[j] * b[j]);
                dxr[j] = accumulate ? dxr[j] + v : v;
            }
        }
    }
}

/* The layer kernels for each instruction set (transformer_kernels.h). */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512")
#define KERNEL_ISA avx512
#include "layers/transformer_kernels.h"
#undef KERNEL_ISA
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define KERNEL_ISA avx2
#include "layers/transformer_kernels.h"
#undef KERNEL_ISA
#pragma GCC pop_options
#define KERNEL_ISA base
#include "layers/transformer_kernels.h"
#undef KERNEL_ISA

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

/* Per thread: eight T x hd blocks (Q, K, K^T, V^T, dO, dQ, dK^T, dV^T;
 * the forward uses four) and three rows of T (a row of scores, of their
 * gradient, and D). */
size_t attention_workspace_floats(const attention_shape *s)
{
    return (size_t)8 * s->tokens * s->head_dim + 3 * (size_t)s->tokens;
}

/* Rows [row0, row0 + hd) of a feature-major matrix (ld cols), columns
 * [col0, col0 + T): as a T x hd token-major block (a transpose), or as the
 * hd x T block itself. */
static void gather_tokens(const float *src, int64_t cols, int row0, int64_t col0, int T, int hd, float *dst)
{
    for (int e = 0; e < hd; e++) {
        const float *r = src + (int64_t)(row0 + e) * cols + col0;
        for (int t = 0; t < T; t++) dst[(int64_t)t * hd + e] = r[t];
    }
}

static void gather_rows(const float *src, int64_t cols, int row0, int64_t col0, int T, int hd, float *dst)
{
    for (int e = 0; e < hd; e++) memcpy(dst + (size_t)e * T, src + (int64_t)(row0 + e) * cols + col0, sizeof(float) * T);
}

/* The way back: dst's block = src (or += src with accumulate). */
static void scatter_tokens(const float *src, int64_t cols, int row0, int64_t col0, int T, int hd, float *dst,
                           int accumulate)
{
    for (int e = 0; e < hd; e++) {
        float *r = dst + (int64_t)(row0 + e) * cols + col0;
        if (accumulate)
            for (int t = 0; t < T; t++) r[t] += src[(int64_t)t * hd + e];
        else
            for (int t = 0; t < T; t++) r[t] = src[(int64_t)t * hd + e];
    }
}

static void scatter_rows(const float *src, int64_t cols, int row0, int64_t col0, int T, int hd, float *dst,
                         int accumulate)
{
    for (int e = 0; e < hd; e++) {
        float *r = dst + (int64_t)(row0 + e) * cols + col0;
        const float *from = src + (size_t)e * T;
        if (accumulate)
            for (int t = 0; t < T; t++) r[t] += from[t];
        else
            memcpy(r, from, sizeof(float) * T);
    }
}

void attention_forward(const attention_shape *s, const float *qkv, float *lse, float *workspace, int threads,
                       float *y)
{
    const int T = s->tokens, hd = s->head_dim, H = s->heads, dim = H * hd;
    const int64_t cols = (int64_t)s->batch * T;
    const float scale = 1.0f / sqrtf((float)hd);
    const size_t per_thread = attention_workspace_floats(s), block = (size_t)T * hd;
    const kernel_isa isa = kernel_isa_now();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int pair = 0; pair < s->batch * H; pair++) {
        const int n = pair / H, h = pair % H;
        float *q = workspace + per_thread * (size_t)omp_get_thread_num();
        float *kt = q + block, *v = kt + block, *o = v + block, *p = o + block;
        const int64_t col0 = (int64_t)n * T;
        gather_tokens(qkv, cols, h * hd, col0, T, hd, q);
        gather_rows(qkv, cols, dim + h * hd, col0, T, hd, kt);
        gather_tokens(qkv, cols, 2 * dim + h * hd, col0, T, hd, v);
        DISPATCH(isa, attention_rows, T, hd, scale, q, kt, v, p, o, lse + (int64_t)pair * T);
        scatter_tokens(o, cols, h * hd, col0, T, hd, y, 0);
    }
}

void attention_backward(const attention_shape *s, const float *qkv, const float *y, const float *lse,
                        const float *dy, float *workspace, int threads, float *dqkv, int accumulate)
{
    const int T = s->tokens, hd = s->head_dim, H = s->heads, dim = H * hd;
    const int64_t cols = (int64_t)s->batch * T;
    const float scale = 1.0f / sqrtf((float)hd);
    const size_t per_thread = attention_workspace_floats(s), block = (size_t)T * hd;
    const kernel_isa isa = kernel_isa_now();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int pair = 0; pair < s->batch * H; pair++) {
        const int n = pair / H, h = pair % H;
        float *q = workspace + per_thread * (size_t)omp_get_thread_num();
        float *k = q + block, *kt = k + block, *vt = kt + block, *d_o = vt + block, *dq = d_o + block;
        float *dkt = dq + block, *dvt = dkt + block, *p = dvt + block, *ds = p + T, *delta = ds + T;
        const int64_t col0 = (int64_t)n * T;
        gather_tokens(qkv, cols, h * hd, col0, T, hd, q);
        gather_tokens(qkv, cols, dim + h * hd, col0, T, hd, k);
        gather_rows(qkv, cols, dim + h * hd, col0, T, hd, kt);
        gather_rows(qkv, cols, 2 * dim + h * hd, col0, T, hd, vt);
        gather_tokens(dy, cols, h * hd, col0, T, hd, d_o);
        memset(delta, 0, sizeof(float) * T); /* D_t = dO_t . O_t, along the rows of y and dy */
        for (int e = 0; e < hd; e++) {
            const float *yr = y + (int64_t)(h * hd + e) * cols + col0, *dyr = dy + (int64_t)(h * hd + e) * cols + col0;
            for (int t = 0; t < T; t++) delta[t] += yr[t] * dyr[t];
        }
        memset(dkt, 0, sizeof(float) * 2 * block); /* dK^T and dV^T */
        DISPATCH(isa, attention_rows_backward, T, hd, scale, q, k, kt, vt, d_o, delta, lse + (int64_t)pair * T, p,
                 ds, dq, dkt, dvt);
        scatter_tokens(dq, cols, h * hd, col0, T, hd, dqkv, accumulate);
        scatter_rows(dkt, cols, dim + h * hd, col0, T, hd, dqkv, accumulate);
        scatter_rows(dvt, cols, 2 * dim + h * hd, col0, T, hd, dqkv, accumulate);
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

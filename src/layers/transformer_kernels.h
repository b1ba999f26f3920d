/* The vision transformer's element-wise, attention and linear-layer GEMM
 * loops, included by transformer.c once per instruction set under `#pragma
 * GCC target` (the build targets x86-64-v2): the same C compiled for
 * AVX-512, AVX2+FMA and the baseline, the copy that runs picked with the N:M
 * kernels' path (NMTRAIN_NM_PATH), so a run's arithmetic follows one named
 * path. Every
 * inner loop runs along contiguous floats with no cross-lane reduction but
 * the vectorised sums OpenMP's simd reduction allows. */
#define KERNEL_CAT2(name, isa) name##_##isa
#define KERNEL_CAT(name, isa) KERNEL_CAT2(name, isa)
#define KERNEL(name) KERNEL_CAT(name, KERNEL_ISA)

/* e^x to about 2 ulp for x in [-87, 88] (Cephes' expf polynomial): unlike
 * libm's expf it vectorises. Below -87 it returns e^-87 (softmax and GELU
 * only need "negligible" there). */
static inline float KERNEL(exp_poly)(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    const float n = floorf(x * 1.44269504088896341f + 0.5f);
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float e = p * r * r + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return e * scale;
}

/* Phi(x) = (1 + erf(x / sqrt 2)) / 2 with Abramowitz and Stegun 7.1.26 for
 * erf (absolute error below 1.5e-7, fp32's resolution near 1), given
 * gauss = e^(-x^2 / 2), which the backward shares with phi(x). */
static inline float KERNEL(normal_cdf)(float x, float gauss)
{
    const float z = fabsf(x) * 0.70710678118654752f;
    const float t = 1.0f / (1.0f + 0.3275911f * z);
    const float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t +
                        0.254829592f) * t;
    const float erf_abs = 1.0f - poly * gauss;
    return 0.5f + 0.5f * (x < 0.0f ? -erf_abs : erf_abs);
}

static void KERNEL(gelu_forward)(int64_t n, const float *x, float *y)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * KERNEL(normal_cdf)(x[i], KERNEL(exp_poly)(-0.5f * x[i] * x[i]));
}

/* d/dx x Phi(x) = Phi(x) + x phi(x). */
static void KERNEL(gelu_backward)(int64_t n, const float *x, const float *dy, float *dx, int accumulate)
{
    const float inv_sqrt_2pi = 0.3989422804014327f;
    if (accumulate) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i], gauss = KERNEL(exp_poly)(-0.5f * v * v);
            dx[i] += dy[i] * (KERNEL(normal_cdf)(v, gauss) + v * inv_sqrt_2pi * gauss);
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i], gauss = KERNEL(exp_poly)(-0.5f * v * v);
            dx[i] = dy[i] * (KERNEL(normal_cdf)(v, gauss) + v * inv_sqrt_2pi * gauss);
        }
    }
}

/* LayerNorm of `width` columns (at most LN_BLOCK) of a dim x ld block: the
 * two-pass mean and variance, per column. */
static void KERNEL(layernorm_block)(int dim, int64_t ld, int width, const float *x, const float *gamma,
                                    const float *beta, float eps, float *mean, float *rstd, float *y)
{
    float mu[LN_BLOCK] = {0}, r[LN_BLOCK] = {0};
    for (int d = 0; d < dim; d++) {
        const float *xr = x + d * ld;
#pragma omp simd
        for (int j = 0; j < width; j++) mu[j] += xr[j];
    }
#pragma omp simd
    for (int j = 0; j < width; j++) mu[j] /= (float)dim;
    for (int d = 0; d < dim; d++) { /* r holds the sum of squares first */
        const float *xr = x + d * ld;
#pragma omp simd
        for (int j = 0; j < width; j++) {
            const float c = xr[j] - mu[j];
            r[j] += c * c;
        }
    }
#pragma omp simd
    for (int j = 0; j < width; j++) {
        r[j] = 1.0f / sqrtf(r[j] / (float)dim + eps);
        mean[j] = mu[j];
        rstd[j] = r[j];
    }
    for (int d = 0; d < dim; d++) {
        const float *xr = x + d * ld;
        float *yr = y + d * ld;
        const float g = gamma[d], b = beta[d];
#pragma omp simd
        for (int j = 0; j < width; j++) yr[j] = (xr[j] - mu[j]) * r[j] * g + b;
    }
}

/* One feature's dgamma = sum dy xhat and dbeta = sum dy over the columns. */
static void KERNEL(layernorm_param_grads)(int cols, const float *x, const float *dy, const float *mean,
                                          const float *rstd, float *dgamma, float *dbeta)
{
    float sg = 0.0f, sb = 0.0f;
#pragma omp simd reduction(+ : sg, sb)
    for (int j = 0; j < cols; j++) {
        sg += dy[j] * (x[j] - mean[j]) * rstd[j];
        sb += dy[j];
    }
    *dgamma = sg;
    *dbeta = sb;
}

static void KERNEL(layernorm_block_backward)(int dim, int64_t ld, int width, const float *x, const float *gamma,
                                             const float *mean, const float *rstd, const float *dy, float *dx,
                                             int accumulate)
{
    float a[LN_BLOCK] = {0}, b[LN_BLOCK] = {0};
    for (int d = 0; d < dim; d++) {
        const float *xr = x + d * ld, *dyr = dy + d * ld;
        const float g = gamma[d];
#pragma omp simd
        for (int j = 0; j < width; j++) {
            const float gd = g * dyr[j];
            a[j] += gd;
            b[j] += gd * (xr[j] - mean[j]) * rstd[j];
        }
    }
#pragma omp simd
    for (int j = 0; j < width; j++) a[j] /= (float)dim, b[j] /= (float)dim;
    for (int d = 0; d < dim; d++) {
        const float *xr = x + d * ld, *dyr = dy + d * ld;
        float *dxr = dx + d * ld;
        const float g = gamma[d];
        if (accumulate) {
#pragma omp simd
            for (int j = 0; j < width; j++)
                dxr[j] += rstd[j] * (g * dyr[j] - a[j] - (xr[j] - mean[j]) * rstd[j] * b[j]);
        } else {
#pragma omp simd
            for (int j = 0; j < width; j++)
                dxr[j] = rstd[j] * (g * dyr[j] - a[j] - (xr[j] - mean[j]) * rstd[j] * b[j]);
        }
    }
}

/* The attention GEMMs are small (T x T x head_dim per sample and head), on
 * the thread's copies of the head's rows (row stride tp, T rounded up to
 * whole tiles: rows of activations lie cols floats apart, which would put
 * every row of an operand in the same few L1 sets). C (M x N) = A B, or
 * C += A B, with A(m, k) = a[m * a_m + k * a_k] (A or its transpose) and B
 * row-major (ldb). A register tile of TILE_ROWS x (VEC * vecs) of C runs
 * along k (vecs = 1 or 2 vectors of VEC floats, the instruction set's
 * width), reading whole vectors of B's rows (so B's rows need room for N
 * rounded up to 2 * VEC) and writing whole vectors of C where its rows have
 * c_room columns. A's missing rows repeat row 0. A tile starts from bias
 * (one per row of C) where given, else from zeros. */
typedef float KERNEL(vec) __attribute__((vector_size(VEC * sizeof(float)), aligned(4)));

static inline __attribute__((always_inline)) void KERNEL(gemm_tile)(int K, const float *a, int64_t a_m, int64_t a_k,
                                                                    int rows, const float *b, int64_t ldb, int vecs,
                                                                    int cols, float *c, int64_t ldc, int accumulate,
                                                                    const float *bias)
{
    typedef KERNEL(vec) vec;
    const float *ar[TILE_ROWS];
    for (int i = 0; i < TILE_ROWS; i++) ar[i] = a + (i < rows ? i : 0) * a_m;
    vec acc[TILE_ROWS][2];
    for (int i = 0; i < TILE_ROWS; i++)
        for (int v = 0; v < 2; v++) acc[i][v] = (vec){0} + (bias ? bias[i < rows ? i : 0] : 0.0f);
    for (int p = 0; p < K; p++) {
        vec bv[2];
        for (int v = 0; v < vecs; v++) bv[v] = *(const vec *)(b + (int64_t)p * ldb + VEC * v);
        for (int i = 0; i < TILE_ROWS; i++) {
            const float s = ar[i][p * a_k];
            for (int v = 0; v < vecs; v++) acc[i][v] += s * bv[v];
        }
    }
    if (cols == VEC * vecs) {
        for (int i = 0; i < rows; i++)
            for (int v = 0; v < vecs; v++) {
                vec *out = (vec *)(c + i * ldc + VEC * v);
                *out = accumulate ? *out + acc[i][v] : acc[i][v];
            }
        return;
    }
    for (int i = 0; i < rows; i++) {
        float row[2 * VEC];
        memcpy(row, acc[i], sizeof row);
        float *out = c + i * ldc;
        if (accumulate)
            for (int j = 0; j < cols; j++) out[j] += row[j];
        else
            memcpy(out, row, sizeof(float) * cols);
    }
}

static void KERNEL(small_gemm)(int M, int N, int K, const float *a, int64_t a_m, int64_t a_k, const float *b,
                               int64_t ldb, float *c, int64_t ldc, int c_room, int accumulate)
{
    for (int n0 = 0; n0 < N; n0 += 2 * VEC) {
        const int vecs = N - n0 > VEC ? 2 : 1, width = VEC * vecs;
        const int store = n0 + width <= c_room ? width : N - n0;
        for (int m0 = 0; m0 < M; m0 += TILE_ROWS) {
            const int rows = M - m0 < TILE_ROWS ? M - m0 : TILE_ROWS;
            if (vecs == 2)
                KERNEL(gemm_tile)(K, a + m0 * a_m, a_m, a_k, rows, b + n0, ldb, 2, store, c + m0 * ldc + n0, ldc,
                                  accumulate, NULL);
            else
                KERNEL(gemm_tile)(K, a + m0 * a_m, a_m, a_k, rows, b + n0, ldb, 1, store, c + m0 * ldc + n0, ldc,
                                  accumulate, NULL);
        }
    }
}

/* The linear layers' GEMM, C (M x N, row-major, N apart) = A B + bias per
 * row, or C += A B, for the short reductions and few rows of token GEMMs
 * (A(m, k) = a[m * a_m + k * a_k]: W or W^T) over many columns: a panel of
 * 2 * VEC columns of B at a time, SKINNY_KC of its rows copied into a
 * contiguous block (zeros past N) that stays in L1 while every TILE_ROWS
 * rows of A run over it. OpenMP threads share the panels. */
static void KERNEL(skinny_gemm)(int M, int N, int K, const float *a, int64_t a_m, int64_t a_k, const float *b,
                                const float *bias, float *c, int accumulate)
{
    enum { WIDTH = 2 * VEC };
#pragma omp parallel for schedule(static)
    for (int n0 = 0; n0 < N; n0 += WIDTH) {
        float block[SKINNY_KC * WIDTH] __attribute__((aligned(64)));
        const int cols = N - n0 < WIDTH ? N - n0 : WIDTH;
        for (int k0 = 0; k0 < K; k0 += SKINNY_KC) {
            const int depth = K - k0 < SKINNY_KC ? K - k0 : SKINNY_KC;
            for (int p = 0; p < depth; p++) {
                float *row = block + p * WIDTH;
                const float *src = b + (int64_t)(k0 + p) * N + n0;
                if (cols == WIDTH) {
                    memcpy(row, src, sizeof(float) * WIDTH);
                } else {
                    memcpy(row, src, sizeof(float) * cols);
                    memset(row + cols, 0, sizeof(float) * (WIDTH - cols));
                }
            }
            for (int m0 = 0; m0 < M; m0 += TILE_ROWS) {
                const int rows = M - m0 < TILE_ROWS ? M - m0 : TILE_ROWS;
                KERNEL(gemm_tile)(depth, a + m0 * a_m + k0 * a_k, a_m, a_k, rows, block, WIDTH, 2, cols,
                                  c + (int64_t)m0 * N + n0, N, accumulate || k0 > 0,
                                  bias && !k0 ? bias + m0 : NULL);
            }
        }
    }
}

typedef float KERNEL(v8) __attribute__((vector_size(8 * sizeof(float)), aligned(4)));

/* block[q * ld + j] = b[j * ldb + q] for q < depth and j < width: 8 x 8
 * blocks through shuffles (__builtin_shufflevector: GCC 12 and clang), the
 * ragged edges a float at a time. */
static void KERNEL(transpose_block)(int depth, int width, const float *b, int64_t ldb, float *block, int ld)
{
    typedef KERNEL(v8) v8;
    const int depth8 = depth / 8 * 8, width8 = width / 8 * 8;
    for (int j = 0; j < width8; j += 8)
        for (int q = 0; q < depth8; q += 8) {
            v8 r[8], t[8], u[8];
            for (int i = 0; i < 8; i++) r[i] = *(const v8 *)(b + (int64_t)(j + i) * ldb + q);
            for (int i = 0; i < 8; i += 2) { /* pairs of rows interleaved */
                t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
                t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
            }
            for (int i = 0; i < 8; i += 4) { /* then pairs of pairs */
                u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
                u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
                u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
                u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
            }
            for (int i = 0; i < 4; i++) { /* then the halves: column q + i and q + 4 + i */
                *(v8 *)(block + (int64_t)(q + i) * ld + j) =
                    __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
                *(v8 *)(block + (int64_t)(q + 4 + i) * ld + j) =
                    __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
            }
        }
    for (int q = 0; q < depth; q++)
        for (int j = q < depth8 ? width8 : 0; j < width; j++) block[(int64_t)q * ld + j] = b[(int64_t)j * ldb + q];
}

/* The linear layers' weight gradient, C (M x K, row-major) = A B^T with A
 * (M x N) and B (K x N) row-major over many columns N: a panel of
 * SKINNY_PANEL columns at a time, B's part transposed into a contiguous
 * block (SKINNY_KC of its rows at a time, zeros to whole vectors), then
 * register tiles add the panel's products to the thread's sums. The
 * threads split the panels, each after the first into its M x K floats of
 * partials (threads - 1 of them), added into C at the end. */
static void KERNEL(skinny_gemm_nt)(int M, int K, int N, const float *a, const float *b, float *c, float *partials,
                                   int threads)
{
    enum { WIDTH = 2 * VEC };
    const int panels = (N + SKINNY_PANEL - 1) / SKINNY_PANEL;
    const size_t size = (size_t)M * K;
#pragma omp parallel num_threads(threads)
    {
        float block[SKINNY_PANEL * SKINNY_KC] __attribute__((aligned(64)));
        const int team = omp_get_num_threads(), thread = omp_get_thread_num();
        float *sums = thread ? partials + (size_t)(thread - 1) * size : c;
        memset(sums, 0, sizeof(float) * size);
        for (int panel = panels * thread / team; panel < panels * (thread + 1) / team; panel++) {
            const int n0 = panel * SKINNY_PANEL, depth = N - n0 < SKINNY_PANEL ? N - n0 : SKINNY_PANEL;
            for (int k0 = 0; k0 < K; k0 += SKINNY_KC) {
                const int width = K - k0 < SKINNY_KC ? K - k0 : SKINNY_KC;
                const int ld = (width + WIDTH - 1) / WIDTH * WIDTH;
                KERNEL(transpose_block)(depth, width, b + (int64_t)k0 * N + n0, N, block, ld);
                for (int q = 0; q < depth; q++) memset(block + q * ld + width, 0, sizeof(float) * (ld - width));
                for (int m0 = 0; m0 < M; m0 += TILE_ROWS) {
                    const int rows = M - m0 < TILE_ROWS ? M - m0 : TILE_ROWS;
                    for (int j0 = 0; j0 < width; j0 += WIDTH)
                        KERNEL(gemm_tile)(depth, a + (int64_t)m0 * N + n0, N, 1, rows, block + j0, ld, 2,
                                          width - j0 < WIDTH ? width - j0 : WIDTH, sums + (int64_t)m0 * K + k0 + j0,
                                          K, 1, NULL);
                }
            }
        }
#pragma omp barrier
        for (int t = 1; t < team; t++) {
            const float *part = partials + (size_t)(t - 1) * size;
#pragma omp for schedule(static)
            for (int m = 0; m < M; m++)
#pragma omp simd
                for (int k = 0; k < K; k++) c[(size_t)m * K + k] += part[(size_t)m * K + k];
        }
    }
}

/* hd rows of T floats, ld apart, into rows tp apart. */
static inline void KERNEL(copy_rows)(int hd, int T, const float *src, int64_t ld, float *dst, int tp)
{
    for (int e = 0; e < hd; e++) memcpy(dst + (size_t)e * tp, src + e * ld, sizeof(float) * T);
}

/* One (sample, head) forward. q, k, v, y point at the head's first feature
 * row of the sample's T columns (row stride ld); the thread's workspace
 * holds their copies (qc, kc, vc: hd x tp) and the scores st (T x tp).
 * S^T = K^T Q comes out with one query per column, so the softmax runs
 * down the columns with vectors along the queries: O^T = V P^T is then a
 * plain product. */
static void KERNEL(attention_head)(int T, int hd, float scale, const float *q, const float *k, const float *v,
                                   int64_t ld, float *qc, float *kc, float *vc, float *st, int tp, float *most,
                                   float *sum, float *lse, float *y)
{
    KERNEL(copy_rows)(hd, T, q, ld, qc, tp);
    KERNEL(copy_rows)(hd, T, k, ld, kc, tp);
    KERNEL(copy_rows)(hd, T, v, ld, vc, tp);
    KERNEL(small_gemm)(T, T, hd, kc, 1, tp, qc, tp, st, tp, tp, 0);
    for (int t = 0; t < T; t++) most[t] = -INFINITY, sum[t] = 0.0f;
    for (int u = 0; u < T; u++) {
        const float *row = st + (size_t)u * tp;
#pragma omp simd
        for (int t = 0; t < T; t++) most[t] = row[t] > most[t] ? row[t] : most[t];
    }
    for (int u = 0; u < T; u++) {
        float *row = st + (size_t)u * tp;
#pragma omp simd
        for (int t = 0; t < T; t++) {
            row[t] = KERNEL(exp_poly)(scale * (row[t] - most[t]));
            sum[t] += row[t];
        }
    }
    for (int t = 0; t < T; t++) lse[t] = scale * most[t] + logf(sum[t]), sum[t] = 1.0f / sum[t];
    for (int u = 0; u < T; u++) {
        float *row = st + (size_t)u * tp;
#pragma omp simd
        for (int t = 0; t < T; t++) row[t] *= sum[t];
    }
    KERNEL(small_gemm)(hd, T, T, vc, tp, 1, st, tp, y, ld, T, 0);
}

/* Its backward, P recomputed from lse: with D_t = dO_t . O_t,
 *   dV = dO^T P,  dS = P * (dO V^T - D) scale,  dK = Q^T dS,  dQ = K^T dS^T
 * in the feature-major orientation (dV, dK, dQ: hd x T at the head's rows
 * of dqkv). Workspace: copies qc, kc, vc, dyc (hd x tp), p and ds (T x tp),
 * delta (T). */
static void KERNEL(attention_head_backward)(int T, int hd, float scale, const float *q, const float *k,
                                            const float *v, const float *y, const float *dy, int64_t ld,
                                            const float *lse, float *qc, float *kc, float *vc, float *dyc, float *p,
                                            float *ds, int tp, float *delta, float *dq, float *dk, float *dv,
                                            int accumulate)
{
    KERNEL(copy_rows)(hd, T, q, ld, qc, tp);
    KERNEL(copy_rows)(hd, T, k, ld, kc, tp);
    KERNEL(copy_rows)(hd, T, v, ld, vc, tp);
    KERNEL(copy_rows)(hd, T, dy, ld, dyc, tp);
    KERNEL(small_gemm)(T, T, hd, qc, 1, tp, kc, tp, p, tp, tp, 0);
    for (int t = 0; t < T; t++) {
        float *row = p + (size_t)t * tp;
        const float shift = lse[t];
#pragma omp simd
        for (int u = 0; u < T; u++) row[u] = KERNEL(exp_poly)(scale * row[u] - shift);
    }
    KERNEL(small_gemm)(T, T, hd, dyc, 1, tp, vc, tp, ds, tp, tp, 0);
    for (int t = 0; t < T; t++) delta[t] = 0.0f;
    for (int e = 0; e < hd; e++) {
        const float *yr = y + e * ld, *dyr = dyc + (size_t)e * tp;
#pragma omp simd
        for (int t = 0; t < T; t++) delta[t] += yr[t] * dyr[t];
    }
    KERNEL(small_gemm)(hd, T, T, dyc, tp, 1, p, tp, dv, ld, T, accumulate);
    for (int t = 0; t < T; t++) {
        float *row = ds + (size_t)t * tp;
        const float *prow = p + (size_t)t * tp, d = delta[t];
#pragma omp simd
        for (int u = 0; u < T; u++) row[u] = prow[u] * (row[u] - d) * scale;
    }
    KERNEL(small_gemm)(hd, T, T, qc, tp, 1, ds, tp, dk, ld, T, accumulate);
    for (int t = 0; t < T; t++)
        for (int u = 0; u < T; u++) p[(size_t)u * tp + t] = ds[(size_t)t * tp + u];
    KERNEL(small_gemm)(hd, T, T, kc, tp, 1, p, tp, dq, ld, T, accumulate);
}

#undef KERNEL
#undef KERNEL_CAT
#undef KERNEL_CAT2

/* The vision transformer's element-wise and attention loops, included by
 * transformer.c once per instruction set under `#pragma GCC target` (the
 * build targets x86-64-v2): the same C compiled for AVX-512, AVX2+FMA and
 * the baseline, the copy that runs picked with the N:M kernels' path
 * (NMTRAIN_NM_PATH), so a run's arithmetic follows one named path. Every
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
 * erf (absolute error below 1.5e-7, fp32's resolution near 1). */
static inline float KERNEL(normal_cdf)(float x)
{
    const float z = fabsf(x) * 0.70710678118654752f;
    const float t = 1.0f / (1.0f + 0.3275911f * z);
    const float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t +
                        0.254829592f) * t;
    const float erf_abs = 1.0f - poly * KERNEL(exp_poly)(-z * z);
    return 0.5f + 0.5f * (x < 0.0f ? -erf_abs : erf_abs);
}

static void KERNEL(gelu_forward)(int64_t n, const float *x, float *y)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * KERNEL(normal_cdf)(x[i]);
}

/* d/dx x Phi(x) = Phi(x) + x phi(x). */
static void KERNEL(gelu_backward)(int64_t n, const float *x, const float *dy, float *dx, int accumulate)
{
    const float inv_sqrt_2pi = 0.3989422804014327f;
    if (accumulate) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i];
            dx[i] += dy[i] * (KERNEL(normal_cdf)(v) + v * inv_sqrt_2pi * KERNEL(exp_poly)(-0.5f * v * v));
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i];
            dx[i] = dy[i] * (KERNEL(normal_cdf)(v) + v * inv_sqrt_2pi * KERNEL(exp_poly)(-0.5f * v * v));
        }
    }
}

/* y[0..n) += a * x[0..n) */
static inline void KERNEL(axpy)(int n, float a, const float *x, float *y)
{
#pragma omp simd
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* One row of scores, s[u] = scale * q . k_u, from K feature-major
 * (kt: hd x T): axpys along the keys, no horizontal sums. */
static inline void KERNEL(score_row)(int T, int hd, float scale, const float *q, const float *kt, float *s)
{
    memset(s, 0, sizeof(float) * T);
    for (int e = 0; e < hd; e++) KERNEL(axpy)(T, q[e] * scale, kt + (size_t)e * T, s);
}

/* One (sample, head), a query row at a time: O = softmax(Q K^T scale) V and
 * each row's log-sum-exp. q, v, o token-major (T x hd), kt feature-major
 * (hd x T), p one row of T. */
static void KERNEL(attention_rows)(int T, int hd, float scale, const float *q, const float *kt, const float *v,
                                   float *p, float *o, float *lse)
{
    for (int t = 0; t < T; t++) {
        KERNEL(score_row)(T, hd, scale, q + (size_t)t * hd, kt, p);
        float most = -INFINITY, sum = 0.0f;
#pragma omp simd reduction(max : most)
        for (int u = 0; u < T; u++) most = p[u] > most ? p[u] : most;
#pragma omp simd reduction(+ : sum)
        for (int u = 0; u < T; u++) {
            p[u] = KERNEL(exp_poly)(p[u] - most);
            sum += p[u];
        }
        const float inv = 1.0f / sum;
        float *ot = o + (size_t)t * hd;
        memset(ot, 0, sizeof(float) * hd);
        for (int u = 0; u < T; u++) KERNEL(axpy)(hd, p[u] * inv, v + (size_t)u * hd, ot);
        lse[t] = most + logf(sum);
    }
}

/* Its backward, recomputing each row of P from lse: with D_t = dO_t . O_t,
 *   dS = P * (dO V^T - D) scale,  dQ = dS K,  dK^T += Q_t dS_t,  dV^T += dO_t P_t.
 * q, k, d_o, dq token-major; kt, vt, dkt, dvt feature-major (dkt and dvt
 * start at zero); delta holds D; p and ds one row each. */
static void KERNEL(attention_rows_backward)(int T, int hd, float scale, const float *q, const float *k,
                                            const float *kt, const float *vt, const float *d_o, const float *delta,
                                            const float *lse, float *p, float *ds, float *dq, float *dkt,
                                            float *dvt)
{
    for (int t = 0; t < T; t++) {
        const float *qt = q + (size_t)t * hd, *dot_t = d_o + (size_t)t * hd;
        KERNEL(score_row)(T, hd, scale, qt, kt, p);
        KERNEL(score_row)(T, hd, 1.0f, dot_t, vt, ds); /* dP row: dO_t . v_u */
        const float row_lse = lse[t], d = delta[t];
#pragma omp simd
        for (int u = 0; u < T; u++) {
            p[u] = KERNEL(exp_poly)(p[u] - row_lse);
            ds[u] = p[u] * (ds[u] - d) * scale;
        }
        float *dqt = dq + (size_t)t * hd;
        memset(dqt, 0, sizeof(float) * hd);
        for (int u = 0; u < T; u++) KERNEL(axpy)(hd, ds[u], k + (size_t)u * hd, dqt);
        for (int e = 0; e < hd; e++) {
            KERNEL(axpy)(T, qt[e], ds, dkt + (size_t)e * T);
            KERNEL(axpy)(T, dot_t[e], p, dvt + (size_t)e * T);
        }
    }
}

#undef KERNEL
#undef KERNEL_CAT
#undef KERNEL_CAT2

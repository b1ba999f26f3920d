/* Functional check of the mapping: a small GEMM executed tile by tile and
 * fold by fold in the order a schedule maps it, with FP16 operand registers,
 * FP32 accumulators (in the PEs and the partial-sum buffer) and, in N:M mode,
 * the PE's M:1 multiplexer picking the activation named by each kept
 * weight's index. The result is compared with the engine's GEMMs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nmtrain/kernels.h"
#include "nmtrain/nm.h"
#include "sim/sim_internal.h"

float nmt_sim_fp16_round(float x)
{
    /* round to nearest even at 11 significant bits, with FP16's range */
    if (!isfinite(x) || x == 0.0f) return x;
    float a = fabsf(x);
    if (a >= 65520.0f) return copysignf(INFINITY, x);
    int e;
    frexpf(a, &e);           /* a = f * 2^e, f in [0.5, 1) */
    int exp = e - 1;         /* a = 1.x * 2^exp */
    if (exp < -14) exp = -14; /* subnormals share the smallest exponent */
    float quantum = ldexpf(1.0f, exp - 10);
    float q = nearbyintf(a / quantum) * quantum; /* the FPU rounds to nearest even */
    return copysignf(q, x);
}

void nmt_sim_generate(const float *w, int rows, int k, nmt_nm nm, float *values, uint8_t *index)
{
    const int groups = k / nm.m;
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < groups; g++) {
            const float *src = w + (size_t)r * k + (size_t)g * nm.m;
            /* the streaming sorter: elements arrive one per cycle; a kept
             * list of N (magnitude, position), largest first; a newcomer
             * displaces the smallest only when strictly larger, so ties keep
             * the lower index */
            float mag[NMT_NM_MAX_M];
            int pos[NMT_NM_MAX_M];
            int kept = 0;
            for (int j = 0; j < nm.m; j++) {
                float v = fabsf(src[j]);
                int at = kept;
                if (kept == nm.n) {
                    if (!(v > mag[kept - 1])) continue;
                    at = kept - 1;
                } else {
                    kept++;
                }
                while (at > 0 && v > mag[at - 1]) {
                    mag[at] = mag[at - 1];
                    pos[at] = pos[at - 1];
                    at--;
                }
                mag[at] = v;
                pos[at] = j;
            }
            /* emitted in ascending in-group position */
            for (int a = 1; a < kept; a++)
                for (int b = a; b > 0 && pos[b] < pos[b - 1]; b--) {
                    int t = pos[b];
                    pos[b] = pos[b - 1];
                    pos[b - 1] = t;
                }
            size_t o = ((size_t)r * groups + g) * nm.n;
            for (int j = 0; j < nm.n; j++) {
                values[o + j] = src[pos[j]];
                index[o + j] = (uint8_t)pos[j];
            }
        }
}

typedef struct walk {
    const nmt_sim_config *cfg;
    const nmt_sim_schedule *s;
    int m, n, k;
    nmt_nm nm;
    int sparse;
    const float *a16;      /* dense FP16-rounded A (m x k), dense mode */
    const float *pv16;     /* packed FP16-rounded values (m x k/M x N), N:M mode */
    const uint8_t *pidx;
    const float *b16;      /* k x n */
    float *psum;           /* the output buffer's FP32 partial sums, m x n */
    float *out;
    int64_t *writes;
    int64_t macs;
} walk;

/* One reduction step `t` (0 .. kk-1 within [k0, k1)) of output (i, j):
 * the product the PE sees. In N:M mode step t is kept slot t % N of group
 * t / N, and the multiplexer selects activation row group*M + index. */
static float product(walk *w, int i, int j, int k0, int t)
{
    if (!w->sparse) return w->a16[(size_t)i * w->k + k0 + t] * w->b16[(size_t)(k0 + t) * w->n + j];
    const int N = w->nm.n, M = w->nm.m, groups = w->k / M;
    int g = k0 / M + t / N, slot = t % N;
    size_t o = ((size_t)i * groups + g) * N + slot;
    int row = g * M + w->pidx[o];
    return w->pv16[o] * w->b16[(size_t)row * w->n + j];
}

static void run_tile(walk *w, int m0, int tm, int n0, int tn, int k0, int tk, int k_first, int k_last)
{
    const int R = w->cfg->rows, C = w->cfg->cols;
    const int kk = (int)sim_kernel_k(tk, w->sparse ? w->nm : (nmt_nm){1, 1});
    const nmt_sim_schedule *s = w->s;
    if (s->dataflow == NMT_SIM_OS) {
        /* folds of R*Ir x C*Ic outputs; each PE cycles through its Ir*Ic
         * interleaved outputs, one product per cycle */
        int64_t ir64, ic64;
        nmt_sim_os_interleave(w->cfg, s, tm, tn, &ir64, &ic64);
        const int Ir = (int)ir64, Ic = (int)ic64;
        for (int fr = 0; fr < tm; fr += R * Ir)
            for (int fc = 0; fc < tn; fc += C * Ic)
                for (int pr = 0; pr < R; pr++)
                    for (int pc = 0; pc < C; pc++) {
                        /* the PE's accumulators, preloaded from the psum buffer */
                        float acc[64];
                        int oi[64], oj[64], no = 0;
                        for (int a = 0; a < Ir; a++)
                            for (int b = 0; b < Ic; b++) {
                                /* blocked: a PE's outputs are neighbours, so a
                                 * fold occupies ceil(rows / Ir) array rows, as
                                 * the timing model counts */
                                int i = fr + pr * Ir + a, j = fc + pc * Ic + b;
                                if (i >= tm || j >= tn || no == 64) continue;
                                oi[no] = m0 + i, oj[no] = n0 + j;
                                acc[no] = k_first ? 0.0f : w->psum[(size_t)oi[no] * w->n + oj[no]];
                                no++;
                            }
                        for (int t = 0; t < kk; t++)
                            for (int q = 0; q < no; q++) {
                                acc[q] += product(w, oi[q], oj[q], k0, t);
                                w->macs++;
                            }
                        for (int q = 0; q < no; q++) {
                            size_t o = (size_t)oi[q] * w->n + oj[q];
                            w->psum[o] = acc[q];
                            if (k_last) {
                                w->out[o] = acc[q];
                                w->writes[o]++;
                            }
                        }
                    }
        return;
    }
    /* WS: an R x C block of A (reduction x output rows) is stationary; IS:
     * an R x C block of B (reduction x output columns). The partial sum from
     * the psum buffer enters the top of a column and runs down through its
     * adders, one product each, back into the buffer (hw/rtl/sat_tile.sv). */
    const int ws = s->dataflow == NMT_SIM_WS;
    const int stat = ws ? tm : tn, stream = ws ? tn : tm;
    for (int f0 = 0; f0 < kk; f0 += R)
        for (int c0 = 0; c0 < stat; c0 += C)
            for (int x = 0; x < stream; x++)
                for (int pc = 0; pc < C && c0 + pc < stat; pc++) {
                    int i = ws ? m0 + c0 + pc : m0 + x, j = ws ? n0 + x : n0 + c0 + pc;
                    size_t o = (size_t)i * w->n + j;
                    float chain = (k_first && f0 == 0) ? 0.0f : w->psum[o];
                    for (int pr = 0; pr < R && f0 + pr < kk; pr++) {
                        chain += product(w, i, j, k0, f0 + pr);
                        w->macs++;
                    }
                    w->psum[o] = chain;
                }
    if (k_last)
        for (int i = m0; i < m0 + tm; i++)
            for (int j = n0; j < n0 + tn; j++) {
                size_t o = (size_t)i * w->n + j;
                w->out[o] = w->psum[o];
                w->writes[o]++;
            }
}

/* The tile loops in the schedule's order, the reduction innermost. */
static void walk_tiles(walk *w)
{
    const nmt_sim_schedule *s = w->s;
    const int m = w->m, n = w->n, k = w->k;
    const int tm = (int)s->tm, tn = (int)s->tn, tk = (int)s->tk;
    const int nmt = (m + tm - 1) / tm, nnt = (n + tn - 1) / tn, nkt = (k + tk - 1) / tk;
    for (int outer = 0; outer < (s->order ? nnt : nmt); outer++)
        for (int inner = 0; inner < (s->order ? nmt : nnt); inner++) {
            int mi = s->order ? inner : outer, ni = s->order ? outer : inner;
            int m0 = mi * tm, n0 = ni * tn;
            int cm = m - m0 < tm ? m - m0 : tm, cn = n - n0 < tn ? n - n0 : tn;
            for (int ki = 0; ki < nkt; ki++) {
                int k0 = ki * tk, ck = k - k0 < tk ? k - k0 : tk;
                run_tile(w, m0, cm, n0, cn, k0, ck, ki == 0, ki == nkt - 1);
            }
        }
}

/* Whether a schedule suits the shape; errors name `who`. */
static int schedule_suits(const nmt_sim_config *cfg, int m, int n, int k, nmt_nm nm, const nmt_sim_schedule *s,
                          const char *who)
{
    const int sparse = sim_nm_sparse(nm);
    if (m < 1 || n < 1 || k < 1 || m > 4096 || n > 4096 || k > 4096) {
        nmt_error("%s: shape %dx%dx%d must be within 1..4096", who, m, n, k);
        return -1;
    }
    if (sparse && (k % nm.m || nm.m > cfg->max_m)) {
        nmt_error("%s: k = %d must be a multiple of M = %d (and M <= max_m = %d)", who, k, nm.m, cfg->max_m);
        return -1;
    }
    if (s->tm < 1 || s->tn < 1 || s->tk < 1 || s->tm > m || s->tn > n || s->tk > k ||
        (sparse && s->tk % nm.m) || (s->dataflow == NMT_SIM_IS && sparse) || s->dataflow == NMT_SIM_AUTO || s->interleave > 64) {
        char buf[96];
        nmt_sim_schedule_str(s, buf, sizeof buf);
        nmt_error("%s: schedule '%s' does not suit GEMM %dx%dx%d %d:%d", who, buf, m, n, k, nm.n, nm.m);
        return -1;
    }
    return 0;
}

int nmt_sim_functional_gemm(const nmt_sim_config *cfg, int m, int n, int k, nmt_nm nm, const nmt_sim_schedule *s,
                            const float *a16, const float *pv16, const uint8_t *pidx, const float *b16, float *out)
{
    if (schedule_suits(cfg, m, n, k, nm, s, "functional GEMM")) return -1;
    const size_t nc = (size_t)m * n;
    float *psum = calloc(nc, sizeof *psum);
    int64_t *writes = calloc(nc, sizeof *writes);
    if (!psum || !writes) {
        free(psum), free(writes);
        nmt_error("functional GEMM: out of memory");
        return -1;
    }
    walk w = {.cfg = cfg, .s = s, .m = m, .n = n, .k = k, .nm = nm, .sparse = sim_nm_sparse(nm), .a16 = a16,
              .pv16 = pv16, .pidx = pidx, .b16 = b16, .psum = psum, .out = out, .writes = writes};
    walk_tiles(&w);
    free(psum), free(writes);
    return 0;
}

int nmt_sim_functional_check(const nmt_sim_config *cfg, int m, int n, int k, nmt_nm nm,
                             const nmt_sim_schedule *s, uint64_t seed, nmt_sim_check *out)
{
    memset(out, 0, sizeof *out);
    const int sparse = sim_nm_sparse(nm);
    if (schedule_suits(cfg, m, n, k, nm, s, "functional check")) return -1;
    const size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
    const size_t npk = sparse ? nmt_packed_value_count(m, k, nm) : 1;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *b16 = malloc(nb * sizeof *b16);
    float *adense = malloc(na * sizeof *a), *adense16 = malloc(na * sizeof *a);
    float *pv = malloc(npk * sizeof *pv), *pv16 = malloc(npk * sizeof *pv16), *ev = malloc(npk * sizeof *ev);
    uint8_t *pidx = malloc(npk), *eidx = malloc(npk);
    float *psum = calloc(nc, sizeof *psum), *o = calloc(nc, sizeof *o), *ref = malloc(nc * sizeof *ref);
    int64_t *writes = calloc(nc, sizeof *writes);
    int rc = 0;
    if (!a || !b || !b16 || !adense || !adense16 || !pv || !pv16 || !ev || !pidx || !eidx || !psum || !o || !ref ||
        !writes) {
        nmt_error("functional check: out of memory");
        rc = -1;
        goto done;
    }
    nmt_rng rng;
    nmt_rng_seed(&rng, seed, 7);
    for (size_t i = 0; i < na; i++) a[i] = nmt_rng_normal(&rng);
    for (size_t i = 0; i < nb; i++) {
        b[i] = nmt_rng_normal(&rng);
        b16[i] = nmt_sim_fp16_round(b[i]);
    }
    if (sparse) {
        /* the generator works on the FP32 master weights; the packed values
         * are then held as FP16 */
        nmt_sim_generate(a, m, k, nm, pv, pidx);
        for (size_t i = 0; i < npk; i++) pv16[i] = nmt_sim_fp16_round(pv[i]);
        nmt_packed ep = {.values = ev, .index = eidx};
        nmt_view view = {.data = a, .rows = m, .k = k, .row_stride = k, .col_stride = 1};
        nmt_pack_topn(view, nm, &ep);
        for (size_t i = 0; i < npk; i++) out->gen_mismatch += ev[i] != pv[i] || eidx[i] != pidx[i];
        nmt_packed mine = {.rows = m, .k = k, .nm = nm, .values = pv, .index = pidx};
        nmt_unpack(&mine, adense);
        mine.values = pv16;
        nmt_unpack(&mine, adense16);
    } else {
        for (size_t i = 0; i < na; i++) {
            adense[i] = a[i];
            adense16[i] = nmt_sim_fp16_round(a[i]);
        }
    }
    walk w = {.cfg = cfg, .s = s, .m = m, .n = n, .k = k, .nm = nm, .sparse = sparse, .a16 = adense16,
              .pv16 = pv16, .pidx = pidx, .b16 = b16, .psum = psum, .out = o, .writes = writes};
    walk_tiles(&w);
    out->macs = w.macs;
    out->writes_min = INT64_MAX;
    out->writes_max = 0;
    for (size_t i = 0; i < nc; i++) {
        if (writes[i] < out->writes_min) out->writes_min = writes[i];
        if (writes[i] > out->writes_max) out->writes_max = writes[i];
    }
    /* max error relative to max(1, |ref|), as the test harness measures */
#define MAXERR(dst)                                                            \
    do {                                                                       \
        double worst = 0;                                                      \
        for (size_t i = 0; i < nc; i++) {                                      \
            double sc = fabs(ref[i]) > 1 ? fabs(ref[i]) : 1;                   \
            double e = fabs((double)o[i] - ref[i]) / sc;                       \
            if (!(e <= worst)) worst = e;                                      \
        }                                                                      \
        dst = worst;                                                           \
    } while (0)
    nmt_gemm(0, 0, m, n, k, 1.0f, adense16, k, b16, n, 0.0f, ref, n);
    MAXERR(out->max_err_engine);
    nmt_gemm(0, 0, m, n, k, 1.0f, adense, k, b, n, 0.0f, ref, n);
    MAXERR(out->max_err_fp32);
    if (sparse) {
        nmt_packed p16 = {.rows = m, .k = k, .nm = nm, .values = pv16, .index = pidx};
        nmt_gemm_nm(&p16, b16, n, n, 0.0f, ref, n);
        MAXERR(out->max_err_engine_nm);
    }
#undef MAXERR
done:
    free(a), free(b), free(b16), free(adense), free(adense16), free(pv), free(pv16), free(ev);
    free(pidx), free(eidx), free(psum), free(o), free(ref), free(writes);
    return rc;
}

/* sat_hw: writes the stimulus for the RTL testbenches (hw/tb) from the
 * engine's own data and models, and checks what the RTL returned against
 * the C side, bit for bit and cycle for cycle.
 *
 *   sat_hw tile-stim --rows R --cols C --adder A --out PREFIX [--seed S] [--layer]
 *       PREFIX.stim for hw/tb/tile_main.cpp, PREFIX.expect for tile-check:
 *       GEMMs (dense, 1:2, 2:4, 2:8, 1:8, 4:16; OS and WS; ragged edges,
 *       split reductions; zeros, subnormals, infinities, NaN) cut into the
 *       tiles of a schedule; expected outputs from nmt_sim_functional_gemm,
 *       expected cycles from nmt_sim_gemm_eval (compute + fill); --layer adds
 *       the three training GEMMs of one small layer (a 1x1 convolution, 32 ->
 *       16 channels on a 6 x 6 map, BDWP 2:8) under the simulator's fixed
 *       schedule (16 x 16 output tiles), OS and WS
 *   sat_hw tile-check PREFIX.expect RTL_OUTPUT
 *   sat_hw gen-stim --rows LANES --out PREFIX [--seed S]
 *       48 x 32 weights, forward and backward, 1:2 2:4 2:8 1:8 4:16 3:16,
 *       random and tie-heavy (signed zeros, subnormals, infinities, NaN);
 *       expected: the engine's nmt_nm_mask and the kept values rounded by
 *       nmt_sim_fp16_round; cycles: passes * k + 1 (the RTL's count, pinned),
 *       printed beside the simulator's nmt_sim_gen_cycles
 *   sat_hw gen-check PREFIX.expect RTL_OUTPUT
 *   sat_hw fp-stim --out PREFIX [--seed S] / fp-check PREFIX.expect RTL_OUTPUT
 *       100000 FP32 additions (subnormals, cancellation, alignment edges,
 *       overflow, infinities, NaN) and 100000 FP16 products (every FP16
 *       pattern once) against C float arithmetic
 *
 * A NaN result is compared as the hardware's canonical quiet NaN
 * (0x7fc00000 in FP32, 0x7e00 in FP16): the C side defines NaN results that
 * way, since x86 returns its own default NaN or an operand's payload. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmtrain/core.h"
#include "nmtrain/nm.h"
#include "nmtrain/sim.h"

static int die(const char *msg)
{
    fprintf(stderr, "sat_hw: %s\n", msg);
    return 1;
}

static int bad_file(const char *path, const char *problem)
{
    fprintf(stderr, "sat_hw: %s: %s\n", path, problem);
    return 1;
}

/* ---- FP16 and FP32 bits --------------------------------------------------- */

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float half_to_float(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    if (e == 31) return u2f((uint32_t)sign << 31 | 0x7f800000u | (uint32_t)m << 13);
    float v = e ? ldexpf((float)(1024 + m), e - 25) : ldexpf((float)m, -24);
    return sign ? -v : v;
}

/* An FP16-representable float to its bits (NaN: the canonical 0x7e00). */
static uint16_t float_to_half(float f)
{
    uint32_t u = f2u(f);
    uint16_t sign = (uint16_t)(u >> 16 & 0x8000u);
    if (isnan(f)) return 0x7e00;
    if (isinf(f)) return sign | 0x7c00;
    float a = fabsf(f);
    if (a < ldexpf(1.0f, -14)) return sign | (uint16_t)(a * 16777216.0f); /* subnormal: multiples of 2^-24 */
    int e;
    float fr = frexpf(a, &e); /* a = fr * 2^e, fr in [0.5, 1) */
    return sign | (uint16_t)((e + 14) << 10) | (uint16_t)((int)(fr * 2048.0f) - 1024);
}

static uint32_t canon32(float f) { return isnan(f) ? 0x7fc00000u : f2u(f); }

/* An FP16 operand: mostly normal values of varied scale; with `specials`,
 * also signed zeros, subnormals, infinities and NaN. */
static uint16_t random_half(nmt_rng *rng, int specials)
{
    float p = nmt_rng_uniform(rng);
    uint16_t sign = nmt_rng_below(rng, 2) ? 0x8000 : 0;
    if (specials) {
        if (p < 0.004f) return sign | 0x7c00;
        if (p < 0.006f) return sign | 0x7c00 | (uint16_t)(1 + nmt_rng_below(rng, 1023));
        if (p < 0.06f) return sign;
        if (p < 0.14f) return sign | (uint16_t)(1 + nmt_rng_below(rng, 1023));
    }
    float v = nmt_rng_normal(rng) * ldexpf(1.0f, (int)nmt_rng_below(rng, 9) - 4);
    return float_to_half(nmt_sim_fp16_round(v));
}

/* ---- options --------------------------------------------------------------- */

typedef struct opts {
    int rows, cols, adder, layer;
    uint64_t seed;
    const char *out;
} opts;

static int parse_opts(int argc, char **argv, opts *o)
{
    *o = (opts){.rows = 4, .cols = 4, .adder = 8, .seed = 1};
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--layer")) {
            o->layer = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "sat_hw: option %s needs a value\n", argv[i]);
            return -1;
        }
        if (!strcmp(argv[i], "--rows")) o->rows = atoi(v);
        else if (!strcmp(argv[i], "--cols")) o->cols = atoi(v);
        else if (!strcmp(argv[i], "--adder")) o->adder = atoi(v);
        else if (!strcmp(argv[i], "--seed")) o->seed = strtoull(v, NULL, 10);
        else if (!strcmp(argv[i], "--out")) o->out = v;
        else {
            fprintf(stderr, "sat_hw: unknown option %s\n", argv[i]);
            return -1;
        }
        i++;
    }
    if (!o->out || o->rows < 1 || o->cols < 1 || o->adder < 1) {
        fprintf(stderr, "sat_hw: --out PREFIX is required; --rows, --cols, --adder must be positive\n");
        return -1;
    }
    return 0;
}

static FILE *open_out(const char *prefix, const char *ext)
{
    char path[1024];
    snprintf(path, sizeof path, "%s.%s", prefix, ext);
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "sat_hw: cannot write %s\n", path);
    return f;
}

/* ---- tiles ----------------------------------------------------------------- */

typedef struct tile_job {
    const char *name;
    int m, n, k;
    nmt_nm nm;             /* {1,1}: dense */
    nmt_sim_schedule s;
    int specials;
} tile_job;

static int job_sparse(const tile_job *j) { return j->nm.n < j->nm.m; }

/* Writes one GEMM as the tile sequence the functional walk takes, and its
 * expectations. */
static int tile_job_write(FILE *stim, FILE *exp, const nmt_sim_config *cfg, const tile_job *j, nmt_rng *rng)
{
    const int m = j->m, n = j->n, k = j->k, sparse = job_sparse(j);
    const nmt_nm nm = j->nm;
    float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n);
    float *out = malloc(sizeof(float) * (size_t)m * n);
    size_t npk = sparse ? nmt_packed_value_count(m, k, nm) : 1;
    float *pv = malloc(sizeof(float) * npk);
    uint8_t *pidx = malloc(npk);
    if (!a || !b || !out || !pv || !pidx) return die("out of memory");
    for (size_t i = 0; i < (size_t)m * k; i++) a[i] = half_to_float(random_half(rng, j->specials));
    for (size_t i = 0; i < (size_t)k * n; i++) b[i] = half_to_float(random_half(rng, j->specials));
    if (sparse) {
        /* the engine's own top-N packing of the FP16 weights */
        nmt_packed p = {.values = pv, .index = pidx};
        nmt_pack_topn((nmt_view){.data = a, .rows = m, .k = k, .row_stride = k, .col_stride = 1}, nm, &p);
    }
    if (nmt_sim_functional_gemm(cfg, m, n, k, sparse ? nm : (nmt_nm){1, 1}, &j->s, a, pv, pidx, b, out))
        return die(nmt_errmsg());
    nmt_sim_gemm g = {.m = m, .n = n, .k = k, .count = 1, .nm = sparse ? nm : (nmt_nm){0, 0},
                      .a_dram_ratio = 1, .b_dram_ratio = 1, .a_bytes = 2, .b_bytes = 2, .out_bytes = 4};
    nmt_sim_cost cost;
    if (nmt_sim_gemm_eval(cfg, &g, &j->s, &cost)) return die(nmt_errmsg());
    const nmt_sim_schedule *s = &j->s;
    const int tm = (int)s->tm, tn = (int)s->tn, tk = (int)s->tk;
    const int nmt = (m + tm - 1) / tm, nnt = (n + tn - 1) / tn, nkt = (k + tk - 1) / tk, groups = k / nm.m;
    char sched[96];
    nmt_sim_schedule_str(s, sched, sizeof sched);
    for (char *c = sched; *c; c++)
        if (*c == ' ') *c = '_';
    fprintf(exp, "job %s|%dx%dx%d|%d:%d|%s %d %d %.0f\n", j->name, m, n, k, sparse ? nm.n : 1, sparse ? nm.m : 1,
            sched, nmt * nnt * nkt, nmt * nnt, cost.compute + cost.fill);
    fprintf(stim, "# %s\n", j->name);
    for (int outer = 0; outer < (s->order ? nnt : nmt); outer++)
        for (int inner = 0; inner < (s->order ? nmt : nnt); inner++) {
            int m0 = (s->order ? inner : outer) * tm, n0 = (s->order ? outer : inner) * tn;
            int cm = m - m0 < tm ? m - m0 : tm, cn = n - n0 < tn ? n - n0 : tn;
            for (int ki = 0; ki < nkt; ki++) {
                int k0 = ki * tk, ck = k - k0 < tk ? k - k0 : tk;
                int kk = sparse ? ck / nm.m * nm.n : ck;
                for (int i = 0; i < cm; i++)
                    for (int t = 0; t < kk; t++) {
                        unsigned word;
                        if (sparse) {
                            size_t o = ((size_t)(m0 + i) * groups + k0 / nm.m + t / nm.n) * nm.n + t % nm.n;
                            word = (unsigned)pidx[o] << 16 | float_to_half(pv[o]);
                        } else {
                            word = float_to_half(a[(size_t)(m0 + i) * k + k0 + t]);
                        }
                        fprintf(stim, "a %d %d %x\n", i, t, word);
                    }
                for (int r = 0; r < ck; r++)
                    for (int c = 0; c < cn; c++)
                        fprintf(stim, "b %d %d %x\n", r, c, float_to_half(b[(size_t)(k0 + r) * n + n0 + c]));
                int64_t ir = 1, ic = 1;
                if (s->dataflow == NMT_SIM_OS) nmt_sim_os_interleave(cfg, s, cm, cn, &ir, &ic);
                fprintf(stim, "run %d %d %d %d %d %d %d %d %d %d\n", s->dataflow == NMT_SIM_WS, sparse,
                        sparse ? nm.n : 1, sparse ? nm.m : 1, cm, cn, kk, ki == 0, (int)ir, (int)ic);
            }
            fprintf(stim, "dump %d %d\n", cm, cn);
            fprintf(exp, "dump %d %d %d %d", m0, n0, cm, cn);
            for (int i = 0; i < cm; i++)
                for (int c = 0; c < cn; c++) fprintf(exp, " %08x", canon32(out[(size_t)(m0 + i) * n + n0 + c]));
            fprintf(exp, "\n");
        }
    free(a), free(b), free(out), free(pv), free(pidx);
    return 0;
}

static int tile_stim(const opts *o)
{
    nmt_sim_config cfg;
    nmt_sim_config_default(&cfg);
    cfg.rows = o->rows;
    cfg.cols = o->cols;
    cfg.adder_latency = o->adder;
    const int R = o->rows, C = o->cols, A = o->adder;
    const nmt_nm ratios[] = {{1, 1}, {1, 2}, {2, 4}, {2, 8}, {1, 8}, {4, 16}};
    tile_job jobs[64];
    int nj = 0;
    static char names[64][48];
    for (int d = 0; d < 2; d++)
        for (int r = 0; r < 6; r++) {
            nmt_nm nm = ratios[r];
            int M = nm.m > 1 ? nm.m : 1;
            /* ragged: neither m nor n a multiple of the array, k a few groups
             * plus a ragged last fold of the array's rows (WS) */
            int m = R * 2 + 3, n = C + 3, k = M * (nm.m > 1 ? (nm.m >= 8 ? 4 : 5) : 1) * (nm.m > 1 ? 1 : 13);
            tile_job *j = &jobs[nj];
            snprintf(names[nj], sizeof names[nj], "%s-%d:%d", d ? "ws" : "os", nm.n, nm.m);
            *j = (tile_job){.name = names[nj], .m = m, .n = n, .k = k, .nm = nm, .specials = 1};
            j->s = (nmt_sim_schedule){.dataflow = d ? NMT_SIM_WS : NMT_SIM_OS, .tm = m, .tn = n, .tk = k,
                                      .interleave = d ? 1 : A};
            nj++;
        }
    /* split reductions (tiles of k, psums kept in the output buffer), edge
     * tiles along m and n, the other loop order, interleave off and odd */
    jobs[nj++] = (tile_job){.name = "os-2:8-ksplit", .m = R + 1, .n = C + 2, .k = 64, .nm = {2, 8}, .specials = 1,
                            .s = {.dataflow = NMT_SIM_OS, .tm = R + 1, .tn = C + 2, .tk = 24, .interleave = A}};
    jobs[nj++] = (tile_job){.name = "ws-2:4-ksplit", .m = R + 1, .n = C + 2, .k = 40, .nm = {2, 4}, .specials = 1,
                            .s = {.dataflow = NMT_SIM_WS, .tm = R + 1, .tn = C + 2, .tk = 16, .interleave = 1}};
    jobs[nj++] = (tile_job){.name = "os-dense-tiles-I1", .m = 2 * R + 1, .n = 2 * C + 1, .k = 9, .nm = {1, 1},
                            .s = {.dataflow = NMT_SIM_OS, .tm = R + 2, .tn = C, .tk = 5, .order = 1, .interleave = 1}};
    jobs[nj++] = (tile_job){.name = "os-1:8-I3", .m = 3 * R, .n = 2 * C + 1, .k = 32, .nm = {1, 8},
                            .s = {.dataflow = NMT_SIM_OS, .tm = 3 * R, .tn = 2 * C + 1, .tk = 32, .interleave = 3}};
    jobs[nj++] = (tile_job){.name = "ws-4:16-tiles", .m = 2 * C + 3, .n = 7, .k = 64, .nm = {4, 16}, .specials = 1,
                            .s = {.dataflow = NMT_SIM_WS, .tm = C + 2, .tn = 5, .tk = 32, .order = 1, .interleave = 1}};
    if (o->layer) {
        /* FW W[16 x 32] X[32 x 36], 2:8 along Cin; BW W^T[32 x 16] dY[16 x 36],
         * 2:8 along Cout; WG dY[16 x 36] X^T[36 x 32], dense */
        static const struct { const char *name; int m, n, k, sparse; } phases[] = {
            {"fw", 16, 36, 32, 1}, {"bw", 32, 36, 16, 1}, {"wg", 16, 32, 36, 0}};
        static char lnames[6][32];
        for (int d = 0; d < 2; d++)
            for (int p = 0; p < 3; p++) {
                nmt_sim_config fixed = cfg;
                fixed.fixed_tile_m = 16, fixed.fixed_tile_n = 16;
                fixed.fixed_dataflow = d ? NMT_SIM_WS : NMT_SIM_OS;
                nmt_nm nm = phases[p].sparse ? (nmt_nm){2, 8} : (nmt_nm){1, 1};
                nmt_sim_gemm g = {.m = phases[p].m, .n = phases[p].n, .k = phases[p].k, .count = 1,
                                  .nm = phases[p].sparse ? nm : (nmt_nm){0, 0}, .a_dram_ratio = 1,
                                  .b_dram_ratio = 1, .a_bytes = 2, .b_bytes = 2, .out_bytes = 4};
                tile_job *j = &jobs[nj];
                snprintf(lnames[d * 3 + p], sizeof lnames[0], "layer-%s", phases[p].name);
                *j = (tile_job){.name = lnames[d * 3 + p], .m = g.m, .n = g.n, .k = g.k, .nm = nm};
                if (nmt_sim_fixed_schedule(&fixed, &g, &j->s)) return die(nmt_errmsg());
                nj++;
            }
    }
    FILE *stim = open_out(o->out, "stim"), *exp = open_out(o->out, "expect");
    if (!stim || !exp) return 1;
    fprintf(exp, "tiles %dx%d A=%d\n", R, C, A);
    nmt_rng rng;
    nmt_rng_seed(&rng, o->seed, 17);
    for (int i = 0; i < nj; i++)
        if (tile_job_write(stim, exp, &cfg, &jobs[i], &rng)) return 1;
    fclose(stim);
    fclose(exp);
    return 0;
}

/* Reads the next non-comment line into buf; 0 at end of file. */
static int next_line(FILE *f, char *buf, size_t size)
{
    while (fgets(buf, (int)size, f))
        if (buf[0] != '#' && buf[0] != '\n') return 1;
    return 0;
}

static int tile_check(const char *exp_path, const char *rtl_path)
{
    FILE *exp = fopen(exp_path, "r"), *rtl = fopen(rtl_path, "r");
    if (!exp || !rtl) {
        fprintf(stderr, "sat_hw: cannot read %s\n", !exp ? exp_path : rtl_path);
        return 1;
    }
    static char eline[1 << 20], rline[1 << 20];
    int failures = 0, jobs = 0;
    long outputs = 0;
    if (!next_line(exp, eline, sizeof eline)) return bad_file(exp_path, "empty expectation file");
    printf("%s", eline);
    printf("%-44s %8s %10s %10s %s\n", "GEMM|shape|N:M|schedule", "outputs", "RTL cyc", "model cyc", "result");
    while (next_line(exp, eline, sizeof eline)) {
        char name[200];
        int runs, dumps;
        double model;
        if (sscanf(eline, "job %199s %d %d %lf", name, &runs, &dumps, &model) != 4) return bad_file(exp_path, "malformed job line");
        long cycles = 0, bad = 0, count = 0;
        int r = 0, d = 0;
        while (r < runs || d < dumps) {
            if (!next_line(rtl, rline, sizeof rline)) {
                fprintf(stderr, "sat_hw: %s: RTL output ends inside job %s\n", rtl_path, name);
                return 1;
            }
            long c;
            if (sscanf(rline, "cycles %ld", &c) == 1) {
                cycles += c;
                r++;
                continue;
            }
            if (strncmp(rline, "out", 3) || !next_line(exp, eline, sizeof eline)) {
                fprintf(stderr, "sat_hw: %s: unexpected line in job %s\n", rtl_path, name);
                return 1;
            }
            int m0, n0, cm, cn, used;
            if (sscanf(eline, "dump %d %d %d %d%n", &m0, &n0, &cm, &cn, &used) != 4) return bad_file(exp_path, "malformed dump line");
            const char *e = eline + used, *g = rline + 3;
            for (int i = 0; i < cm * cn; i++) {
                char *end1, *end2;
                unsigned long want = strtoul(e, &end1, 16), got = strtoul(g, &end2, 16);
                if (end1 == e || end2 == g) {
                    fprintf(stderr, "sat_hw: %s: job %s: output %d missing\n", end2 == g ? rtl_path : exp_path, name, i);
                    return 1;
                }
                e = end1, g = end2;
                if (want != got) {
                    if (bad < 3)
                        fprintf(stderr, "  %s: out[%d][%d] RTL %08lx, C %08lx\n", name, m0 + i / cn, n0 + i % cn, got, want);
                    bad++;
                }
                count++;
            }
            d++;
        }
        int ok = bad == 0 && (double)cycles == model;
        printf("%-44s %8ld %10ld %10.0f %s\n", name, count, cycles, model,
               ok ? "bit-exact, cycle-exact" : bad ? "OUTPUT MISMATCH" : "CYCLE MISMATCH");
        failures += !ok;
        jobs++;
        outputs += count;
    }
    printf("%d GEMMs, %ld outputs: %d failed\n", jobs, outputs, failures);
    return failures ? 1 : 0;
}

/* ---- the sparse weight generator ------------------------------------------- */

/* A weight for the generator: FP32; `ties` draws from a handful of values
 * (signed zeros, +-1, +-2) so groups hold many equal magnitudes, plus
 * subnormals, infinities and NaN. */
static float random_weight(nmt_rng *rng, int ties)
{
    if (!ties) return nmt_rng_normal(rng) * 0.1f;
    static const float pool[] = {0.0f, -0.0f, 1.0f, -1.0f, 2.0f, -2.0f, 1.0f, -1.0f};
    uint32_t p = nmt_rng_below(rng, 100);
    if (p < 3) return nmt_rng_below(rng, 2) ? INFINITY : -INFINITY;
    if (p < 5) return u2f(0x7fc00000u | nmt_rng_below(rng, 1u << 22) | (uint32_t)nmt_rng_below(rng, 2) << 31);
    if (p < 10) return u2f(1 + nmt_rng_below(rng, 0x7fffff)); /* FP32 subnormal */
    if (p < 15) return ldexpf(1.0f + (float)nmt_rng_below(rng, 4) / 4096.0f, -20); /* rounds to FP16 subnormals */
    return pool[nmt_rng_below(rng, 8)];
}

static int gen_stim(const opts *o)
{
    nmt_sim_config cfg;
    nmt_sim_config_default(&cfg);
    cfg.gen_lanes = o->rows; /* --rows: the lanes of the RTL build */
    const int lanes = o->rows;
    const nmt_nm ratios[] = {{1, 2}, {2, 4}, {2, 8}, {1, 8}, {4, 16}, {3, 16}};
    FILE *stim = open_out(o->out, "stim"), *exp = open_out(o->out, "expect");
    if (!stim || !exp) return 1;
    fprintf(exp, "generator %d lanes, max_m %d\n", lanes, cfg.max_m);
    nmt_rng rng;
    nmt_rng_seed(&rng, o->seed, 23);
    const int rows = 48, cols = 32;
    float *w = malloc(sizeof(float) * rows * cols);
    uint8_t *mask = malloc((size_t)rows * cols);
    if (!w || !mask) return die("out of memory");
    for (int ties = 0; ties < 2; ties++)
        for (int bw = 0; bw < 2; bw++)
            for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++) {
                const nmt_nm nm = ratios[r];
                for (int i = 0; i < rows * cols; i++) w[i] = random_weight(&rng, ties);
                fprintf(stim, "# %s %d:%d %s\n", bw ? "backward" : "forward", nm.n, nm.m, ties ? "ties" : "random");
                for (int i = 0; i < rows; i++)
                    for (int j = 0; j < cols; j++) fprintf(stim, "w %d %d %x\n", i, j, f2u(w[i * cols + j]));
                /* forward: W (rows x cols), groups along cols; backward: W^T */
                nmt_view v = bw ? (nmt_view){.data = w, .rows = cols, .k = rows, .row_stride = 1, .col_stride = cols}
                                : (nmt_view){.data = w, .rows = rows, .k = cols, .row_stride = cols, .col_stride = 1};
                nmt_nm_mask(v, nm, mask);
                const int rp = v.rows, k = v.k, kept = k / nm.m * nm.n;
                fprintf(stim, "run %d %d %d %d %d\ndump %d %d\n", bw, nm.n, nm.m, rows, cols, rp, kept);
                double rtl = (double)((rp + lanes - 1) / lanes) * k + 1;
                fprintf(exp, "job %s|%dx%d|%d:%d|%s %.0f %.0f\nwords", bw ? "backward" : "forward", rows, cols, nm.n,
                        nm.m, ties ? "ties" : "random", rtl, nmt_sim_gen_cycles(&cfg, (double)rows * cols, 1.0));
                for (int i = 0; i < rp; i++)
                    for (int p = 0; p < k; p++)
                        if (mask[(size_t)i * k + p]) {
                            float x = v.data[i * v.row_stride + p * v.col_stride];
                            fprintf(exp, " %x", (unsigned)(p % nm.m) << 16 | float_to_half(nmt_sim_fp16_round(x)));
                        }
                fprintf(exp, "\n");
            }
    free(w), free(mask);
    fclose(stim);
    fclose(exp);
    return 0;
}

static int gen_check(const char *exp_path, const char *rtl_path)
{
    FILE *exp = fopen(exp_path, "r"), *rtl = fopen(rtl_path, "r");
    if (!exp || !rtl) {
        fprintf(stderr, "sat_hw: cannot read %s\n", !exp ? exp_path : rtl_path);
        return 1;
    }
    static char eline[1 << 20], rline[1 << 20], cline[256];
    if (!next_line(exp, eline, sizeof eline)) return bad_file(exp_path, "empty expectation file");
    printf("%s", eline);
    printf("%-34s %8s %8s %10s %s\n", "direction|shape|N:M|input", "entries", "RTL cyc", "model cyc", "result");
    int failures = 0, jobs = 0;
    while (next_line(exp, eline, sizeof eline)) {
        char name[200];
        double want_cycles, model;
        if (sscanf(eline, "job %199s %lf %lf", name, &want_cycles, &model) != 3 || !next_line(exp, eline, sizeof eline))
            return bad_file(exp_path, "malformed job line");
        long cycles;
        if (!next_line(rtl, cline, sizeof cline) || sscanf(cline, "cycles %ld", &cycles) != 1 ||
            !next_line(rtl, rline, sizeof rline) || strncmp(rline, "out", 3)) {
            fprintf(stderr, "sat_hw: %s: RTL output ends or is malformed at job %s\n", rtl_path, name);
            return 1;
        }
        const char *e = eline + 5, *g = rline + 3;
        long bad = 0, count = 0;
        for (;;) {
            char *end1, *end2;
            unsigned long want = strtoul(e, &end1, 16), got = strtoul(g, &end2, 16);
            if (end1 == e) break;
            if (end2 == g) {
                fprintf(stderr, "sat_hw: %s: job %s: fewer entries than expected\n", rtl_path, name);
                return 1;
            }
            if (want != got && bad++ < 3)
                fprintf(stderr, "  %s: entry %ld RTL {%lu, %04lx}, engine {%lu, %04lx}\n", name, count, got >> 16,
                        got & 0xffff, want >> 16, want & 0xffff);
            e = end1, g = end2, count++;
        }
        int ok = bad == 0 && (double)cycles == want_cycles;
        printf("%-34s %8ld %8ld %10.0f %s\n", name, count, cycles, model,
               ok ? "bit-exact" : bad ? "MASK/VALUE MISMATCH" : "CYCLES DIFFER FROM passes*k+1");
        failures += !ok;
        jobs++;
    }
    printf("%d generator runs: %d failed (model cycles: ceil(elements/lanes) + max_m, see docs/sat.md)\n", jobs, failures);
    return failures ? 1 : 0;
}

/* ---- the arithmetic units ---------------------------------------------------- */

/* An FP32 operand that exercises the adder: subnormals, values near the
 * other operand (cancellation), exponent differences around the 27 aligned
 * bits, halfway cases, the largest finite values, zeros, infinities, NaN. */
static uint32_t random_float_bits(nmt_rng *rng, uint32_t other)
{
    uint32_t sign = nmt_rng_below(rng, 2) << 31;
    switch (nmt_rng_below(rng, 8)) {
    case 0: return sign | nmt_rng_below(rng, 0x800000);                        /* subnormal or zero */
    case 1: return sign | (nmt_rng_below(rng, 4) << 23) | nmt_rng_u32(rng) >> 9; /* tiny normal */
    case 2: return (other ^ (nmt_rng_below(rng, 2) << 31)) + nmt_rng_below(rng, 5) - 2; /* cancellation */
    case 3: {                                                                  /* exponent difference 20..30 */
        int32_t e = (int32_t)(other >> 23 & 0xff) - 20 - (int32_t)nmt_rng_below(rng, 11);
        return sign | (uint32_t)(e < 0 ? 0 : e) << 23 | nmt_rng_u32(rng) >> 9;
    }
    case 4: return sign | (0xfeu - nmt_rng_below(rng, 2)) << 23 | nmt_rng_u32(rng) >> 9; /* near overflow */
    case 5: {
        uint32_t special[] = {0, 0x7f800000u, 0x7fc00000u, 0x7f800001u, 0x00800000u, 0x007fffffu};
        return sign | special[nmt_rng_below(rng, 6)];
    }
    default: return sign | (60 + nmt_rng_below(rng, 140)) << 23 | nmt_rng_u32(rng) >> 9;
    }
}

static int fp_stim(const opts *o)
{
    FILE *stim = open_out(o->out, "stim"), *exp = open_out(o->out, "expect");
    if (!stim || !exp) return 1;
    nmt_rng rng;
    nmt_rng_seed(&rng, o->seed, 29);
    for (int i = 0; i < 100000; i++) {
        uint32_t a = random_float_bits(&rng, nmt_rng_u32(&rng));
        uint32_t b = random_float_bits(&rng, a);
        if (nmt_rng_below(&rng, 2)) {
            uint32_t t = a;
            a = b, b = t;
        }
        fprintf(stim, "add %x %x\n", a, b);
        fprintf(exp, "add %08x %08x %08x\n", a, b, canon32(u2f(a) + u2f(b)));
    }
    /* every FP16 class against every other, then random pairs */
    for (int i = 0; i < 100000; i++) {
        uint16_t x = i < 65536 ? (uint16_t)i : (uint16_t)nmt_rng_u32(&rng);
        uint16_t y = (uint16_t)nmt_rng_u32(&rng);
        fprintf(stim, "mul %x %x\n", x, y);
        fprintf(exp, "mul %04x %04x %08x\n", x, y, canon32(half_to_float(x) * half_to_float(y)));
    }
    fclose(stim);
    fclose(exp);
    return 0;
}

static int fp_check(const char *exp_path, const char *rtl_path)
{
    FILE *exp = fopen(exp_path, "r"), *rtl = fopen(rtl_path, "r");
    if (!exp || !rtl) {
        fprintf(stderr, "sat_hw: cannot read %s\n", !exp ? exp_path : rtl_path);
        return 1;
    }
    char eline[128], rline[64], op[8];
    long n[2] = {0, 0}, bad[2] = {0, 0};
    unsigned a, b, want, got;
    while (fgets(eline, sizeof eline, exp)) {
        if (sscanf(eline, "%7s %x %x %x", op, &a, &b, &want) != 4) return bad_file(exp_path, "malformed line");
        if (!fgets(rline, sizeof rline, rtl) || sscanf(rline, "%x", &got) != 1) {
            fprintf(stderr, "sat_hw: %s ends early\n", rtl_path);
            return 1;
        }
        int k = op[0] == 'm';
        n[k]++;
        if (got != want && bad[k]++ < 5) fprintf(stderr, "  %s %08x %08x: RTL %08x, C %08x\n", op, a, b, got, want);
    }
    printf("fp32 add: %ld cases, %ld differ; fp16 mul: %ld cases, %ld differ\n", n[0], bad[0], n[1], bad[1]);
    return bad[0] || bad[1] || !n[0] || !n[1];
}

int main(int argc, char **argv)
{
    if (argc < 2) return die("usage: sat_hw tile-stim|tile-check|gen-stim|gen-check|fp-stim|fp-check ...");
    const char *cmd = argv[1];
    opts o;
    if (!strcmp(cmd, "tile-stim")) return parse_opts(argc - 2, argv + 2, &o) ? 2 : tile_stim(&o);
    if (!strcmp(cmd, "tile-check")) return argc == 4 ? tile_check(argv[2], argv[3]) : die("tile-check EXPECT RTL_OUTPUT");
    if (!strcmp(cmd, "fp-stim")) return parse_opts(argc - 2, argv + 2, &o) ? 2 : fp_stim(&o);
    if (!strcmp(cmd, "fp-check")) return argc == 4 ? fp_check(argv[2], argv[3]) : die("fp-check EXPECT RTL_OUTPUT");
    if (!strcmp(cmd, "gen-stim")) return parse_opts(argc - 2, argv + 2, &o) ? 2 : gen_stim(&o);
    if (!strcmp(cmd, "gen-check")) return argc == 4 ? gen_check(argv[2], argv[3]) : die("gen-check EXPECT RTL_OUTPUT");
    fprintf(stderr, "sat_hw: unknown command %s\n", cmd);
    return 2;
}

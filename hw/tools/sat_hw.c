/* sat_hw: writes the stimulus for the RTL testbenches (hw/tb) from the
 * engine's own data and models, and checks what the RTL returned against
 * the C side, bit for bit and cycle for cycle.
 *
 *   sat_hw tile-stim --rows R --cols C --adder A --out PREFIX [--seed S] [--table]
 *       PREFIX.stim for hw/tb/tile_main.cpp, PREFIX.expect for tile-check:
 *       GEMMs (dense, 1:2, 2:4, 2:8, 1:8, 4:16; OS and WS; ragged edges,
 *       split reductions; zeros, subnormals, infinities, NaN) cut into the
 *       tiles of a schedule; expected outputs from nmt_sim_functional_gemm,
 *       expected cycles from nmt_sim_gemm_eval (compute + fill)
 *   sat_hw tile-check PREFIX.expect RTL_OUTPUT
 *   sat_hw fp-stim --out PREFIX [--seed S]     / fp-check PREFIX.expect RTL_OUTPUT
 *   sat_hw gen-stim --out PREFIX [--seed S]    / gen-check PREFIX.expect RTL_OUTPUT
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
    int rows, cols, adder;
    uint64_t seed;
    const char *out;
} opts;

static int parse_opts(int argc, char **argv, opts *o)
{
    *o = (opts){.rows = 4, .cols = 4, .adder = 8, .seed = 1};
    for (int i = 0; i < argc; i++) {
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
    if (!next_line(exp, eline, sizeof eline)) return die("empty expectation file");
    printf("%s", eline);
    printf("%-44s %8s %10s %10s %s\n", "GEMM|shape|N:M|schedule", "outputs", "RTL cyc", "model cyc", "result");
    while (next_line(exp, eline, sizeof eline)) {
        char name[200];
        int runs, dumps;
        double model;
        if (sscanf(eline, "job %199s %d %d %lf", name, &runs, &dumps, &model) != 4) return die("malformed expectation line");
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
            if (sscanf(eline, "dump %d %d %d %d%n", &m0, &n0, &cm, &cn, &used) != 4) return die("malformed dump line");
            const char *e = eline + used, *g = rline + 3;
            for (int i = 0; i < cm * cn; i++) {
                char *end1, *end2;
                unsigned long want = strtoul(e, &end1, 16), got = strtoul(g, &end2, 16);
                if (end1 == e || end2 == g) {
                    fprintf(stderr, "sat_hw: job %s: output %d missing\n", name, i);
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

int main(int argc, char **argv)
{
    if (argc < 2) return die("usage: sat_hw tile-stim|tile-check|fp-stim|fp-check|gen-stim|gen-check ...");
    const char *cmd = argv[1];
    opts o;
    if (!strcmp(cmd, "tile-stim")) return parse_opts(argc - 2, argv + 2, &o) ? 2 : tile_stim(&o);
    if (!strcmp(cmd, "tile-check")) return argc == 4 ? tile_check(argv[2], argv[3]) : die("tile-check EXPECT RTL_OUTPUT");
    fprintf(stderr, "sat_hw: unknown command %s\n", cmd);
    return 2;
}

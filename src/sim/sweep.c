/* Ablation (each optimisation off in turn, then all off) and design-space
 * sweeps over any configuration keys, in parallel with OpenMP. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

/* Cycles and energy of a workload and of its dense baseline under cfg. */
static int run_pair(const nmt_sim_config *cfg, const nmt_sim_workload *wl, nmt_sim_result *res,
                    nmt_sim_result *base)
{
    if (nmt_sim_run(cfg, wl, res)) return -1;
    nmt_sim_workload dense = *wl; /* shallow: only opts differ, nodes are shared read-only */
    nmt_method_defaults(NMT_METHOD_DENSE, dense.opts.method.nm, &dense.opts.method); /* plain dense: no --grad-nm either */
    if (nmt_sim_run(cfg, &dense, base)) {
        nmt_sim_result_free(res);
        return -1;
    }
    return 0;
}

int nmt_sim_ablation_run(const nmt_sim_config *cfg, const nmt_sim_workload *wl, nmt_sim_ablation *out)
{
    static const char *const labels[NMT_SIM_ABLATIONS] = {"all on", "interleave off", "pre-generation off",
                                                          "offline scheduling off", "all off"};
    memset(out, 0, sizeof *out);
    int rc = 0;
    char err[300] = "";
#pragma omp parallel for schedule(dynamic) reduction(| : rc)
    for (int i = 0; i < NMT_SIM_ABLATIONS; i++) {
        nmt_sim_config c = *cfg;
        if (i == 1 || i == 4) c.opt_interleave = 0;
        if (i == 2 || i == 4) c.opt_pregen = 0;
        if (i == 3 || i == 4) c.opt_schedule = 0;
        nmt_sim_result r, b;
        if (run_pair(&c, wl, &r, &b)) {
            rc |= 1;
#pragma omp critical
            snprintf(err, sizeof err, "%s", nmt_errmsg());
            continue;
        }
        out->label[i] = labels[i];
        out->cycles[i] = r.total.cycles;
        out->dense_cycles[i] = b.total.cycles;
        out->energy_j[i] = r.energy_j;
        nmt_sim_result_free(&r);
        nmt_sim_result_free(&b);
    }
    if (rc) {
        nmt_error("ablation: a configuration failed to simulate (%s)", err);
        return -1;
    }
    return 0;
}

void nmt_sim_sweep_axis_free(nmt_sim_sweep_axis *axis)
{
    free(axis->values);
    memset(axis, 0, sizeof *axis);
}

/* Sweep keys that change the workload rather than the accelerator. */
static int is_workload_key(const char *key)
{
    return sim_strieq(key, "nm_n") || sim_strieq(key, "nm_m") || sim_strieq(key, "batch");
}

static int set_workload_key(nmt_sim_workload *wl, const char *key, double v)
{
    if (v != (double)(int)v || v < 1 || v > 1e7) {
        nmt_error("%s = %g must be a positive integer", key, v);
        return -1;
    }
    if (sim_strieq(key, "nm_n")) wl->opts.method.nm.n = (int)v;
    else if (sim_strieq(key, "nm_m")) wl->opts.method.nm.m = (int)v;
    else wl->batch = (int)v;
    return 0;
}

static int parse_num(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return end != s && *end == 0 && isfinite(*v) ? 0 : -1;
}

/* Appends v, doubling the array as needed; frees the axis on failure. */
static int axis_push(nmt_sim_sweep_axis *axis, int *cap, double v)
{
    if (axis->n_values == *cap) {
        *cap *= 2;
        double *nv = realloc(axis->values, sizeof(double) * (size_t)*cap);
        if (!nv) {
            nmt_error("out of memory");
            nmt_sim_sweep_axis_free(axis);
            return -1;
        }
        axis->values = nv;
    }
    axis->values[axis->n_values++] = v;
    return 0;
}

int nmt_sim_sweep_parse(const char *text, nmt_sim_sweep_axis *axis)
{
    memset(axis, 0, sizeof *axis);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", text);
    char *eq = strchr(buf, '=');
    if (!eq) {
        nmt_error("'%s': expected key=v1,v2,... or key=start:stop:step or key=start:stop*factor", text);
        return -1;
    }
    *eq = 0;
    char *key = sim_trim(buf), *vals = sim_trim(eq + 1);
    nmt_sim_config probe;
    nmt_sim_config_default(&probe);
    double dummy;
    if (!is_workload_key(key) && nmt_sim_config_get(&probe, key, &dummy)) {
        nmt_error("'%s': unknown numeric configuration key '%s'", text, key);
        return -1;
    }
    snprintf(axis->key, sizeof axis->key, "%s", key);
    int cap = 16;
    axis->values = malloc(sizeof(double) * (size_t)cap);
    if (!axis->values) {
        nmt_error("out of memory");
        return -1;
    }
    double a, b, step;
    char *colon = strchr(vals, ':');
    if (colon) {
        *colon = 0;
        char *rest = colon + 1, *mul = strchr(rest, '*'), *colon2 = strchr(rest, ':');
        int geometric = mul != NULL;
        if (geometric) *mul = 0;
        else if (colon2) *colon2 = 0;
        const char *stepstr = geometric ? mul + 1 : (colon2 ? colon2 + 1 : "1");
        if (parse_num(sim_trim(vals), &a) || parse_num(sim_trim(rest), &b) || parse_num(stepstr, &step) ||
            (geometric ? step <= 1 : step <= 0) || b < a || (geometric && a <= 0)) {
            nmt_error("'%s': bad range (start:stop:step with step > 0, or start:stop*factor with "
                      "factor > 1 and start > 0)",
                      text);
            nmt_sim_sweep_axis_free(axis);
            return -1;
        }
        for (double v = a; v <= b * (1 + 1e-12); v = geometric ? v * step : v + step) {
            if (axis->n_values == 100000) {
                nmt_error("'%s': more than 100000 values", text);
                nmt_sim_sweep_axis_free(axis);
                return -1;
            }
            if (axis_push(axis, &cap, v) != 0) return -1;
        }
    } else {
        char *save = NULL;
        for (char *tok = strtok_r(vals, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            double v;
            if (parse_num(sim_trim(tok), &v)) {
                nmt_error("'%s': '%s' is not a number", text, tok);
                nmt_sim_sweep_axis_free(axis);
                return -1;
            }
            if (axis_push(axis, &cap, v) != 0) return -1;
        }
    }
    if (axis->n_values == 0) {
        nmt_error("'%s': no values", text);
        nmt_sim_sweep_axis_free(axis);
        return -1;
    }
    return 0;
}

int nmt_sim_sweep_run(const nmt_sim_config *cfg, const nmt_sim_workload *wl, const nmt_sim_sweep_axis *axes,
                      int n_axes, const char *csv_path, nmt_sim_sweep_point **points, int *n_points)
{
    *points = NULL;
    *n_points = 0;
    if (n_axes < 1 || n_axes > NMT_SIM_SWEEP_MAX_KEYS) {
        nmt_error("a sweep needs 1 to %d axes", NMT_SIM_SWEEP_MAX_KEYS);
        return -1;
    }
    double total = 1;
    for (int a = 0; a < n_axes; a++) total *= axes[a].n_values;
    if (total > 10000000) {
        nmt_error("sweep of %.0f points is too large (limit 10 million)", total);
        return -1;
    }
    const int np = (int)total;
    nmt_sim_sweep_point *pts = calloc((size_t)np, sizeof *pts);
    char (*errs)[256] = calloc((size_t)np, sizeof *errs);
    if (!pts || !errs) {
        free(pts);
        free(errs);
        nmt_error("out of memory for %d sweep points", np);
        return -1;
    }
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < np; i++) {
        nmt_sim_config c = *cfg;
        nmt_sim_workload w = *wl; /* shallow: nodes shared read-only */
        int rest = i;
        char val[64];
        int bad = 0;
        for (int a = n_axes - 1; a >= 0 && !bad; a--) {
            double v = axes[a].values[rest % axes[a].n_values];
            rest /= axes[a].n_values;
            snprintf(val, sizeof val, "%.17g", v);
            if (is_workload_key(axes[a].key)) bad = set_workload_key(&w, axes[a].key, v) != 0;
            else if (nmt_sim_config_set(&c, axes[a].key, val, "sweep")) bad = 1;
        }
        if (!bad && (w.opts.method.nm.n < 1 || w.opts.method.nm.n > w.opts.method.nm.m || w.opts.method.nm.m > NMT_NM_MAX_M)) {
            nmt_error("N:M %d:%d needs 1 <= N <= M <= %d", w.opts.method.nm.n, w.opts.method.nm.m, NMT_NM_MAX_M);
            bad = 1;
        }
        nmt_sim_result r, b;
        if (bad || nmt_sim_config_check(&c) || run_pair(&c, &w, &r, &b)) {
            snprintf(errs[i], sizeof errs[i], "%s", nmt_errmsg());
            pts[i].cycles = NAN;
            continue;
        }
        nmt_sim_sweep_point *p = &pts[i];
        p->cycles = r.total.cycles;
        p->dense_cycles = b.total.cycles;
        p->seconds = r.seconds;
        p->speedup = b.total.cycles / r.total.cycles;
        p->gops_dense = r.gops_dense;
        p->energy_j = r.energy_j;
        p->utilisation = r.utilisation;
        p->dsp_frac = r.res.dsp_frac;
        p->lut_frac = r.res.lut_frac;
        p->ff_frac = r.res.ff_frac;
        p->bram_frac = r.res.bram_frac;
        p->uram_frac = r.res.uram_frac;
        p->over_budget = r.res.over_budget;
        nmt_sim_result_free(&r);
        nmt_sim_result_free(&b);
    }
    int rc = 0;
    if (csv_path) {
        FILE *f = fopen(csv_path, "w");
        if (!f) {
            nmt_error("%s: cannot write", csv_path);
            rc = -1;
        } else {
            for (int a = 0; a < n_axes; a++) fprintf(f, "%s,", axes[a].key);
            fprintf(f, "cycles,dense_cycles,seconds,speedup,gops_dense,energy_j,utilisation,dsp_frac,lut_frac,"
                       "ff_frac,bram_frac,uram_frac,over_budget,error\n");
            for (int i = 0; i < np; i++) {
                int rest = i;
                double vals[NMT_SIM_SWEEP_MAX_KEYS];
                for (int a = n_axes - 1; a >= 0; a--) {
                    vals[a] = axes[a].values[rest % axes[a].n_values];
                    rest /= axes[a].n_values;
                }
                for (int a = 0; a < n_axes; a++) fprintf(f, "%.10g,", vals[a]);
                const nmt_sim_sweep_point *p = &pts[i];
                if (isnan(p->cycles)) {
                    fprintf(f, ",,,,,,,,,,,,,\"");
                    for (const char *c = errs[i]; *c; c++) fputc(*c == '"' ? '\'' : *c, f);
                    fprintf(f, "\"\n");
                } else {
                    fprintf(f, "%.0f,%.0f,%.9g,%.6g,%.6g,%.6g,%.6g,%.4f,%.4f,%.4f,%.4f,%.4f,%d,\n", p->cycles,
                            p->dense_cycles, p->seconds, p->speedup, p->gops_dense, p->energy_j, p->utilisation,
                            p->dsp_frac, p->lut_frac, p->ff_frac, p->bram_frac, p->uram_frac, p->over_budget);
                }
            }
            if (fclose(f)) {
                nmt_error("%s: write failed", csv_path);
                rc = -1;
            }
        }
    }
    /* a point that failed is reported in the CSV; if all failed, say why */
    int ok = 0;
    for (int i = 0; i < np; i++) ok += !isnan(pts[i].cycles);
    if (!rc && ok == 0) {
        nmt_error("every sweep point failed; the first: %s", errs[0]);
        rc = -1;
    }
    free(errs);
    if (rc) {
        free(pts);
        return -1;
    }
    *points = pts;
    *n_points = np;
    return 0;
}

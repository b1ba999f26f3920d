/* Simulator speed against TARGETS.md: one full ResNet-50 ImageNet training
 * iteration (the method and its dense baseline, as `nmtrain sim` reports
 * them) in well under a second, and a 1000-point design sweep in under five
 * minutes on 2 cores.
 *
 *   build/bench/bench_sim [--reps R] [--points N] [--threads T]
 *
 * Prints, per zoo model, the median wall time of a simulation pair (bdwp 2:8 +
 * dense) over R repetitions after one warm-up, then times one N-point sweep
 * of ResNet-50 (rows x cols x DRAM channels x input buffer; N = 1000 by
 * default, rounded to the grid) with T threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmtrain.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pair_seconds(const nmt_sim_config *cfg, const nmt_sim_workload *wl)
{
    nmt_sim_workload dense = *wl;
    nmt_method_defaults(NMT_METHOD_DENSE, dense.opts.method.nm, &dense.opts.method); /* plain dense: no --grad-nm either */
    nmt_sim_result r, b;
    double t0 = nmt_now();
    if (nmt_sim_run(cfg, wl, &r) || nmt_sim_run(cfg, &dense, &b)) {
        fprintf(stderr, "bench_sim: %s\n", nmt_errmsg());
        exit(1);
    }
    FILE *null = fopen("/dev/null", "w");
    nmt_sim_report_table(null, cfg, wl, &r, &b, 0);
    fclose(null);
    double t = nmt_now() - t0;
    nmt_sim_result_free(&r);
    nmt_sim_result_free(&b);
    return t;
}

int main(int argc, char **argv)
{
    int reps = 7, points = 1000, threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--points") && i + 1 < argc) points = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_sim [--reps R] [--points N] [--threads T]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 1000 || points < 1 || threads < 1) {
        fprintf(stderr, "bench_sim: --reps 1..1000, --points and --threads positive\n");
        return 2;
    }
    nmt_sim_config cfg;
    nmt_sim_config_default(&cfg);
    nmt_sim_options opts;
    nmt_sim_options_default(&opts);

    nmt_set_threads(1);
    printf("simulation pair (bdwp 2:8 + dense baseline + report), batch 128, 1 thread, median of %d after a warm-up\n\n",
           reps);
    printf("| model | median s | min s | max s |\n|---|---:|---:|---:|\n");
    nmt_model_desc *desc = malloc(sizeof *desc);
    nmt_sim_workload r50;
    memset(&r50, 0, sizeof r50);
    for (int m = 0; m < nmt_sim_zoo_count(); m++) {
        nmt_sim_workload wl;
        if (!desc || nmt_sim_zoo_describe(nmt_sim_zoo_name(m), desc) ||
            nmt_sim_workload_from_model(desc, 128, &opts, &wl)) {
            fprintf(stderr, "bench_sim: %s\n", nmt_errmsg());
            return 1;
        }
        double *t = malloc(sizeof(double) * (size_t)reps);
        pair_seconds(&cfg, &wl);
        for (int r = 0; r < reps; r++) t[r] = pair_seconds(&cfg, &wl);
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        printf("| %s | %.3f | %.3f | %.3f |\n", nmt_sim_zoo_name(m), t[reps / 2], t[0], t[reps - 1]);
        free(t);
        if (!strcmp(nmt_sim_zoo_name(m), "resnet50")) r50 = wl;
        else nmt_sim_workload_free(&wl);
    }
    free(desc);

    /* the sweep grid: rows x cols x channels x ibuf, sized to about `points` */
    int nr = 5, nc = 5, nd = 8, nb = 5;
    while (nr * nc * nd * nb > points && nb > 1) nb--;
    while (nr * nc * nd * nb > points && nd > 1) nd--;
    while (nr * nc * nd * nb > points && nc > 1) nc--;
    while (nr * nc * nd * nb > points && nr > 1) nr--;
    char a0[64], a1[64], a2[64], a3[64];
    snprintf(a0, sizeof a0, "rows=8:%d*2", 8 << (nr - 1));
    snprintf(a1, sizeof a1, "cols=8:%d*2", 8 << (nc - 1));
    snprintf(a2, sizeof a2, "dram_channels=1:%d:1", nd);
    snprintf(a3, sizeof a3, "ibuf_kib=256:%d*2", 256 << (nb - 1));
    const char *specs[4] = {a0, a1, a2, a3};
    nmt_sim_sweep_axis axes[4];
    for (int a = 0; a < 4; a++)
        if (nmt_sim_sweep_parse(specs[a], &axes[a])) {
            fprintf(stderr, "bench_sim: %s\n", nmt_errmsg());
            return 1;
        }
    nmt_set_threads(threads);
    nmt_sim_sweep_point *pts;
    int np;
    double t0 = nmt_now();
    if (nmt_sim_sweep_run(&cfg, &r50, axes, 4, NULL, &pts, &np)) {
        fprintf(stderr, "bench_sim: %s\n", nmt_errmsg());
        return 1;
    }
    double t = nmt_now() - t0;
    printf("\nResNet-50 sweep %s %s %s %s: %d points (%d simulations) in %.1f s with %d threads "
           "(%.1f ms per point; target: 1000 points < 300 s)\n",
           a0, a1, a2, a3, np, 2 * np, t, nmt_threads(), 1e3 * t / np);
    free(pts);
    for (int a = 0; a < 4; a++) nmt_sim_sweep_axis_free(&axes[a]);
    nmt_sim_workload_free(&r50);
    return 0;
}

/* nmtrain sim: a thin command over the simulator library (src/sim). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "models/vit.h"
#include "nmtrain.h"

static const char about[] =
    "usage: nmtrain sim (--model NAME | --topology FILE.csv | --zoo | --check | --list-keys) [options]\n"
    "Simulates one training iteration on the SAT accelerator and prints where the cycles go (docs/sat.md).\n"
    "Plots: python3 scripts/sat_plot.py breakdown FILE.csv OUT.png | sweep FILE.csv OUT.png\n";

static int fail(const char *msg)
{
    fprintf(stderr, "nmtrain sim: %s\n", msg);
    return 1;
}

static int load_config(const cli_sim *a, nmt_sim_config *cfg)
{
    nmt_sim_config_default(cfg);
    if (a->config && nmt_sim_config_load(cfg, a->config)) return -1;
    for (int i = 0; i < a->n_sets; i++)
        if (nmt_sim_config_assign(cfg, a->sets[i], "--set")) return -1;
    if (a->no_interleave) cfg->opt_interleave = 0;
    if (a->no_pregen) cfg->opt_pregen = 0;
    if (a->no_schedule) cfg->opt_schedule = 0;
    return nmt_sim_config_check(cfg);
}

/* A zoo model at its data set's shapes, unless the options reshape it. */
static int describe(const cli_options *o, nmt_model_desc *desc)
{
    nmt_model_config mc = o->train.model;
    int custom = o->in_given || mc.classes || mc.width != 1.0f || mc.imagenet_stem || mc.patch || mc.dim ||
                 mc.depth || mc.heads || mc.mlp_dim;
    int in_zoo = 0;
    for (int i = 0; i < nmt_sim_zoo_count(); i++) in_zoo |= !strcmp(mc.arch, nmt_sim_zoo_name(i));
    if (in_zoo && !custom) return nmt_sim_zoo_describe(mc.arch, desc);
    if (!o->in_given) mc.in_c = 3, mc.in_h = 32, mc.in_w = 32;
    if (!mc.classes) mc.classes = 10;
    if (!strcmp(mc.arch, "vit")) return nmt_describe_vit(&mc, desc);
    return nmt_model_describe(&mc, desc);
}

/* " with weight gradients N:M" under --grad-nm, else "": the table titles. */
static void grad_nm_text(const cli_options *o, char *text, size_t size)
{
    const nmt_nm grad = o->sim.opts.method.grad_nm;
    text[0] = 0;
    if (grad.m) snprintf(text, size, " with weight gradients %d:%d", grad.n, grad.m);
}

/* The ablation over the whole zoo: one row per model. */
static int run_zoo_ablation(const cli_options *o, const nmt_sim_config *cfg)
{
    const int batch = o->train.batch ? o->train.batch : 128;
    char grad_text[48];
    grad_nm_text(o, grad_text, sizeof grad_text);
    printf("SAT ablation: batch %d, %s %d:%d%s; iteration time relative to all optimisations on "
           "(speedup over dense under the same switches in brackets)\n\n",
           batch, nmt_method_name(o->sim.opts.method.kind), o->sim.opts.method.nm.n, o->sim.opts.method.nm.m,
           grad_text);
    printf("| model | all on | interleave off | pre-generation off | offline scheduling off | all off |\n"
           "|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < nmt_sim_zoo_count(); i++) {
        nmt_model_desc *desc = malloc(sizeof *desc);
        if (!desc) return fail("out of memory");
        nmt_sim_workload wl;
        int rc = nmt_sim_zoo_describe(nmt_sim_zoo_name(i), desc) ||
                 nmt_sim_workload_from_model(desc, batch, &o->sim.opts, &wl);
        free(desc);
        if (rc) return fail(nmt_errmsg());
        nmt_sim_ablation ab;
        if (nmt_sim_ablation_run(cfg, &wl, &ab)) {
            nmt_sim_workload_free(&wl);
            return fail(nmt_errmsg());
        }
        printf("| %s |", nmt_sim_zoo_name(i));
        for (int k = 0; k < NMT_SIM_ABLATIONS; k++)
            printf(" %.3fx (%.2fx) |", ab.cycles[k] / ab.cycles[0], ab.dense_cycles[k] / ab.cycles[k]);
        printf("\n");
        nmt_sim_workload_free(&wl);
    }
    return 0;
}

static int run_zoo(const cli_options *o, const nmt_sim_config *cfg)
{
    if (o->sim.ablation) return run_zoo_ablation(o, cfg);
    static const char *const datasets[] = {"CIFAR-10", "CIFAR-10", "CIFAR-100", "Tiny ImageNet", "ImageNet"};
    const int batch = o->train.batch ? o->train.batch : 128;
    char grad_text[48];
    grad_nm_text(o, grad_text, sizeof grad_text);
    printf("SAT zoo: batch %d, %s %d:%d%s vs dense, array %dx%d @ %g MHz\n\n", batch,
           nmt_method_name(o->sim.opts.method.kind), o->sim.opts.method.nm.n, o->sim.opts.method.nm.m, grad_text,
           cfg->rows, cfg->cols, cfg->clock_mhz);
    printf("| model | data set | dense cycles | dense ms/iter | %s cycles | %s ms/iter | speedup | dense-eq GOPS | "
           "energy dense J | energy %s J |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
           nmt_method_name(o->sim.opts.method.kind), nmt_method_name(o->sim.opts.method.kind),
           nmt_method_name(o->sim.opts.method.kind));
    double sum = 0;
    int n = nmt_sim_zoo_count();
    for (int i = 0; i < n; i++) {
        nmt_model_desc *desc = malloc(sizeof *desc);
        if (!desc) return fail("out of memory");
        if (nmt_sim_zoo_describe(nmt_sim_zoo_name(i), desc)) {
            free(desc);
            return fail(nmt_errmsg());
        }
        nmt_sim_workload wl;
        nmt_sim_result r, b;
        int rc = nmt_sim_workload_from_model(desc, batch, &o->sim.opts, &wl);
        free(desc);
        if (rc || nmt_sim_run(cfg, &wl, &r)) return fail(nmt_errmsg());
        nmt_method_defaults(NMT_METHOD_DENSE, wl.opts.method.nm, &wl.opts.method); /* plain dense: no --grad-nm either */
        if (nmt_sim_run(cfg, &wl, &b)) return fail(nmt_errmsg());
        double sp = b.total.cycles / r.total.cycles;
        sum += sp;
        printf("| %s | %s | %.4g | %.2f | %.4g | %.2f | %.3fx | %.1f | %.3f | %.3f |\n", nmt_sim_zoo_name(i),
               datasets[i], b.total.cycles, b.seconds * 1e3, r.total.cycles, r.seconds * 1e3, sp, r.gops_dense,
               b.energy_j, r.energy_j);
        nmt_sim_result_free(&r);
        nmt_sim_result_free(&b);
        nmt_sim_workload_free(&wl);
    }
    printf("\naverage speedup %.3fx (paper: 1.75x at 2:8)\n", sum / n);
    return 0;
}

static int run_check(const nmt_sim_config *cfg)
{
    /* a small array so the tiles and folds have edges */
    nmt_sim_config c = *cfg;
    c.rows = 4, c.cols = 4, c.adder_latency = 3;
    static const int ratios[][2] = {{1, 1}, {2, 4}, {2, 8}, {1, 8}, {3, 16}};
    const nmt_sim_dataflow dfs[3] = {NMT_SIM_OS, NMT_SIM_WS, NMT_SIM_IS};
    int bad = 0, runs = 0;
    printf("functional check: 20 x 23 x 96 GEMM, 4x4 array, tiles 8 x 16 x 48 (edges included)\n");
    for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++)
        for (int d = 0; d < 3; d++)
            for (int order = 0; order < 2; order++) {
                nmt_nm nm = {ratios[r][0], ratios[r][1]};
                if (dfs[d] == NMT_SIM_IS && nm.n < nm.m) continue;
                nmt_sim_schedule s = {dfs[d], 8, 16, 48, order, 1, dfs[d] == NMT_SIM_OS ? 3 : 1};
                nmt_sim_check chk;
                if (nmt_sim_functional_check(&c, 20, 23, 96, nm, &s, 1234 + r, &chk)) return fail(nmt_errmsg());
                int ok = chk.max_err_engine < 1e-5 && chk.max_err_fp32 < 2e-2 && chk.writes_min == 1 &&
                         chk.writes_max == 1 && chk.gen_mismatch == 0 && chk.max_err_engine_nm < 1e-5;
                char buf[96];
                nmt_sim_schedule_str(&s, buf, sizeof buf);
                char nmerr[32] = "-";
                if (nm.n < nm.m) snprintf(nmerr, sizeof nmerr, "%.2e", chk.max_err_engine_nm);
                printf("  %2d:%-2d %-30s vs nmt_gemm %.2e, vs nmt_gemm_nm %-8s vs FP32 %.2e, writes %lld..%lld, "
                       "MACs %lld  %s\n",
                       nm.n, nm.m, buf, chk.max_err_engine, nmerr, chk.max_err_fp32, (long long)chk.writes_min,
                       (long long)chk.writes_max, (long long)chk.macs, ok ? "ok" : "FAIL");
                bad += !ok;
                runs++;
            }
    /* and the offline scheduler's own choice, with buffers small enough that
     * it has to tile */
    c.ibuf_kib = 2, c.wbuf_kib = 1, c.obuf_kib = 1;
    for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++) {
        nmt_nm nm = {ratios[r][0], ratios[r][1]};
        nmt_sim_gemm g = {.m = 20, .n = 23, .k = 96, .count = 1, .nm = nm, .a_dram_ratio = 1, .b_dram_ratio = 1,
                          .a_bytes = 2, .b_bytes = 2, .out_bytes = 2};
        nmt_sim_schedule s;
        nmt_sim_cost cost;
        nmt_sim_check chk;
        if (nmt_sim_gemm_schedule(&c, &g, &s, &cost) || nmt_sim_functional_check(&c, 20, 23, 96, nm, &s, 77 + r, &chk))
            return fail(nmt_errmsg());
        int ok = chk.max_err_engine < 1e-5 && chk.max_err_fp32 < 2e-2 && chk.writes_min == 1 && chk.writes_max == 1 &&
                 chk.gen_mismatch == 0 && chk.max_err_engine_nm < 1e-5;
        char buf[96];
        nmt_sim_schedule_str(&s, buf, sizeof buf);
        printf("  %2d:%-2d scheduled: %-30s vs nmt_gemm %.2e, vs FP32 %.2e, writes %lld..%lld  %s\n", nm.n, nm.m, buf,
               chk.max_err_engine, chk.max_err_fp32, (long long)chk.writes_min, (long long)chk.writes_max,
               ok ? "ok" : "FAIL");
        bad += !ok;
        runs++;
    }
    printf("%d of %d mappings agree with the engine\n", runs - bad, runs);
    return bad ? 1 : 0;
}

int nmt_cmd_sim(int argc, char **argv)
{
    cli_options o;
    if (cli_parse(argc, argv, CLI_SIM, about, &o)) return 2;
    if (o.help) return 0;
    const cli_sim *a = &o.sim;
    const char *model = o.train.model.arch;
    const int batch = o.train.batch;
    nmt_sim_config cfg;
    if (load_config(a, &cfg)) return fail(nmt_errmsg());
    if (a->list_keys) {
        for (int i = 0; i < nmt_sim_config_nkeys(); i++) {
            const char *sec, *help, *k = nmt_sim_config_key(i, &sec, &help);
            double v;
            if (nmt_sim_config_get(&cfg, k, &v)) printf("%-26s [%s] %s\n", k, sec, help);
            else printf("%-26s [%s] = %-10g %s\n", k, sec, v, help);
        }
        return 0;
    }
    if (a->write_config) {
        FILE *f = fopen(a->write_config, "w");
        if (!f) return fprintf(stderr, "nmtrain sim: %s: cannot write\n", a->write_config), 1;
        nmt_sim_config_write(f, &cfg);
        if (fclose(f)) return fprintf(stderr, "nmtrain sim: %s: write failed\n", a->write_config), 1;
        if (!model && !a->topology && !a->zoo && !a->check) return 0;
    }
    if (a->check) return run_check(&cfg);
    if (a->zoo) return run_zoo(&o, &cfg);
    if (!!model == !!a->topology) {
        fprintf(stderr, "nmtrain sim: give exactly one of --model or --topology (or --zoo, --check; see --help)\n");
        return 2;
    }
    nmt_sim_workload wl;
    if (model) {
        nmt_model_desc *desc = malloc(sizeof *desc);
        if (!desc) return fail("out of memory");
        int rc = describe(&o, desc) || nmt_sim_workload_from_model(desc, batch ? batch : 128, &a->opts, &wl);
        free(desc);
        if (rc) return fail(nmt_errmsg());
    } else if (nmt_sim_workload_from_topology(a->topology, batch ? batch : 1, &a->opts, &wl)) {
        return fail(nmt_errmsg());
    }
    int rc = 0;
    if (a->n_sweeps) {
        nmt_sim_sweep_axis axes[NMT_SIM_SWEEP_MAX_KEYS];
        int n_axes = 0;
        for (; n_axes < a->n_sweeps; n_axes++)
            if (nmt_sim_sweep_parse(a->sweeps[n_axes], &axes[n_axes])) {
                fprintf(stderr, "nmtrain sim: --sweep: %s\n", nmt_errmsg());
                rc = 1;
                break;
            }
        if (!rc) {
            nmt_sim_sweep_point *pts;
            int np;
            double t0 = nmt_now();
            if (nmt_sim_sweep_run(&cfg, &wl, axes, n_axes, a->sweep_csv, &pts, &np)) {
                rc = fail(nmt_errmsg());
            } else {
                int best = -1, failed = 0;
                for (int i = 0; i < np; i++) {
                    if (pts[i].cycles != pts[i].cycles) {
                        failed++;
                        continue;
                    }
                    if (best < 0 || pts[i].cycles < pts[best].cycles) best = i;
                }
                printf("sweep: %d points (%d failed, see the error column) in %.2f s with %d threads -> %s\n", np,
                       failed, nmt_now() - t0, nmt_threads(), a->sweep_csv);
                if (best >= 0)
                    printf("fastest point: row %d, %.0f cycles (%.3f ms), speedup %.3fx over dense, %.4f J%s\n",
                           best + 1, pts[best].cycles, pts[best].seconds * 1e3, pts[best].speedup,
                           pts[best].energy_j, pts[best].over_budget ? ", over the VU9P budget" : "");
                free(pts);
            }
        }
        for (int i = 0; i < n_axes; i++) nmt_sim_sweep_axis_free(&axes[i]);
        nmt_sim_workload_free(&wl);
        return rc;
    }
    if (a->ablation) {
        nmt_sim_ablation ab;
        if (nmt_sim_ablation_run(&cfg, &wl, &ab)) {
            nmt_sim_workload_free(&wl);
            return fail(nmt_errmsg());
        }
        printf("ablation: %s, batch %d, %s %d:%d (speedup vs dense under the same switches)\n\n", wl.name,
               wl.batch, nmt_method_name(wl.opts.method.kind), wl.opts.method.nm.n, wl.opts.method.nm.m);
        printf("| configuration | cycles | ms/iter | slowdown vs all on | dense cycles | speedup vs dense | energy J |\n"
               "|---|---:|---:|---:|---:|---:|---:|\n");
        for (int i = 0; i < NMT_SIM_ABLATIONS; i++)
            printf("| %s | %.4g | %.3f | %.3fx | %.4g | %.3fx | %.4f |\n", ab.label[i], ab.cycles[i],
                   ab.cycles[i] / (cfg.clock_mhz * 1e3), ab.cycles[i] / ab.cycles[0], ab.dense_cycles[i],
                   ab.dense_cycles[i] / ab.cycles[i], ab.energy_j[i]);
        nmt_sim_workload_free(&wl);
        return 0;
    }
    nmt_sim_result res, base;
    memset(&base, 0, sizeof base);
    if (nmt_sim_run(&cfg, &wl, &res)) {
        nmt_sim_workload_free(&wl);
        return fail(nmt_errmsg());
    }
    int have_base = wl.opts.method.kind != NMT_METHOD_DENSE;
    if (have_base) {
        nmt_sim_workload dense = wl;
        nmt_method_defaults(NMT_METHOD_DENSE, dense.opts.method.nm, &dense.opts.method); /* plain dense: no --grad-nm either */
        if (nmt_sim_run(&cfg, &dense, &base)) rc = fail(nmt_errmsg());
    }
    if (!rc) {
        if (a->quiet) {
            printf("%s: %.0f cycles, %.3f ms/iter, %.1f dense-eq GOPS, %.4f J", wl.name, res.total.cycles,
                   res.seconds * 1e3, res.gops_dense, res.energy_j);
            if (have_base) printf(", speedup %.3fx over dense", base.total.cycles / res.total.cycles);
            printf("\n");
        } else {
            nmt_sim_report_table(stdout, &cfg, &wl, &res, have_base ? &base : NULL, a->detail);
        }
        if (a->show_schedule) {
            printf("\n");
            nmt_sim_report_schedule(stdout, &cfg, &wl, &res);
        }
        if ((a->csv && nmt_sim_report_csv(a->csv, &wl, &res)) ||
            (a->compute_report && nmt_sim_report_compute(a->compute_report, &cfg, &wl, &res)) ||
            (a->json && nmt_sim_report_json(a->json, &cfg, &wl, &res, have_base ? &base : NULL)))
            rc = fail(nmt_errmsg());
    }
    nmt_sim_result_free(&res);
    nmt_sim_result_free(&base);
    nmt_sim_workload_free(&wl);
    return rc;
}

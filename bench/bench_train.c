/* Training-step benchmark: images/s of every method against dense on the
 * same engine, beside the ideal speedup from the executed-MAC ratio, and the
 * peak memory (RSS) of each run. Each configuration runs in its own process,
 * so peak RSS is its own.
 *
 *   build/bench/bench_train [--quick] [--models resnet9,resnet18,vgg19] (or vit: the zoo's ViT)
 *                           [--batch 128] [--reps 5] [--threads 2] [--isa avx2|avx512]
 *                           [--methods dense,sdgp,bdwp:2:8,bdwp+g2:4:2:8] [--rounds 2] [--profile] [--csv FILE]
 *
 * Inputs are 3x32x32 random images with 10 classes (speed does not depend on
 * the values). A step is forward + backward + SGD + the method's operand
 * regeneration; the time is the median of --reps steps after one warm-up,
 * and each configuration keeps its fastest of --rounds runs, the rounds
 * going through all configurations in turn ("spread": how much slower its
 * slowest round was).
 * OpenBLAS runs its AVX2 (Haswell) kernels, as on the Zen 3 target class.
 * --profile prints, before each row, where the timed steps went per op.
 * --csv writes the rows to FILE as well (scripts/plot_bench.py draws it).
 * "speedup" is over dense, which runs its 3x3 "same" convolutions as
 * Winograd F(2x2, 3x3); "vs lowered" is over dense-lowered, the same
 * engine with every convolution lowered to one GEMM, as the N:M methods
 * lower their forward and backward-data GEMMs (their weight gradients, dense,
 * run Winograd too). bdwp-lowered (2:8) lowers its weight gradient as well:
 * against dense-lowered it is the like-for-like pair, every GEMM lowered on
 * both sides, that BDWP.md's ideal counts. A "+gN:M" row adds --grad-nm
 * N:M: its weight gradients run the N:M kernel on MVUE-pruned dY, lowered
 * (never Winograd); its ideal counts the nominal (lowered) MACs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_csv.h"
#include "nmtrain.h"

typedef struct bench_config {
    nmt_method_kind kind;
    nmt_nm nm;
    int lowered;    /* every convolution lowered, no Winograd ("dense-lowered") */
    nmt_nm grad_nm; /* --grad-nm ("bdwp+g2:4"), {0, 0}: off */
} bench_config;

/* "bdwp", "bdwp-lowered" without Winograd, "bdwp+g2:4" with --grad-nm 2:4. */
static const char *config_name(bench_config c, char *name, size_t size)
{
    char grad[16] = "";
    if (c.grad_nm.m) snprintf(grad, sizeof grad, "+g%d:%d", c.grad_nm.n, c.grad_nm.m);
    snprintf(name, size, "%s%s%s", nmt_method_name(c.kind), c.lowered ? "-lowered" : "", grad);
    return name;
}

static void config_method(bench_config c, nmt_method_config *method)
{
    nmt_method_defaults(c.kind, c.nm, method);
    method->grad_nm = c.grad_nm;
}

typedef struct bench_result {
    double images_per_s;
    double peak_mb;
} bench_result;

static int compare_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double ideal_speedup(const nmt_model_desc *desc, const nmt_method_config *method)
{
    nmt_layer_report *report = malloc(sizeof *report * desc->n_nodes);
    nmt_method_report(desc, method, report);
    double dense = 0, executed = 0;
    for (int i = 0; i < desc->n_nodes; i++) {
        dense += (double)(report[i].dense.fw + report[i].dense.bw + report[i].dense.wg);
        executed += (double)(report[i].executed.fw + report[i].executed.bw + report[i].executed.wg);
    }
    free(report);
    return executed > 0 ? dense / executed : 1.0;
}

/* The full-width model on 3x32x32 inputs, 10 classes; NULL (nmt_errmsg
 * says why) for a name the library does not know. Free it. */
static nmt_model_desc *describe(const char *arch)
{
    const nmt_model_config mc = {.arch = arch, .width = 1.0f, .in_c = 3, .in_h = 32, .in_w = 32, .classes = 10};
    nmt_model_desc *desc = malloc(sizeof *desc);
    if (desc && nmt_model_describe(&mc, desc) != 0) {
        free(desc);
        return NULL;
    }
    return desc;
}

/* Runs one configuration in this (child) process; returns images/s. */
static int profile, profile_asked;

static double run_config(const char *arch, bench_config c, int batch, int reps)
{
    nmt_model_desc *desc = describe(arch);
    nmt_method_config method;
    config_method(c, &method);
    if (!desc) return -1;
    nmt_conv_set_winograd(!c.lowered);
    nmt_net *net = nmt_net_create(desc, batch, &method, 1);
    if (!net) return -1;
    float *x = malloc(sizeof(float) * 3 * 32 * 32 * batch);
    int *labels = malloc(sizeof(int) * batch);
    nmt_rng rng;
    nmt_rng_seed(&rng, 1, 1);
    for (int i = 0; i < 3 * 32 * 32 * batch; i++) x[i] = nmt_rng_normal(&rng);
    for (int i = 0; i < batch; i++) labels[i] = (int)nmt_rng_below(&rng, 10);
    nmt_sgd_config sgd = {.momentum = 0.9f, .nesterov = 1, .weight_decay = 5e-4f};
    double times[64];
    for (int r = 0; r <= reps; r++) {
        if (r == 1) nmt_net_set_profiling(net, profile);
        const double start = nmt_now();
        nmt_net_forward(net, x, labels, batch, 1, 0.0f, NULL);
        nmt_net_backward(net);
        nmt_sgd_step(net, &sgd, 0.01f);
        nmt_net_refresh_sparse(net, (r + 1) % method.mask_interval == 0);
        if (r > 0) times[r - 1] = nmt_now() - start; /* r == 0 is the warm-up */
    }
    qsort(times, reps, sizeof times[0], compare_double);
    if (profile) nmt_net_print_profile(net, stdout);
    nmt_net_free(net);
    free(desc), free(x), free(labels);
    return batch / times[reps / 2];
}

/* Forks a child for the configuration; the child reports images/s through a pipe. */
static int measure(const char *arch, bench_config c, int batch, int reps, bench_result *out)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        double ips = run_config(arch, c, batch, reps);
        if (ips <= 0) fprintf(stderr, "bench_train: %s: %s\n", arch, nmt_errmsg()); /* the parent cannot see it */
        fflush(stdout);
        if (write(fds[1], &ips, sizeof ips) != sizeof ips) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    double ips = -1;
    ssize_t got = read(fds[0], &ips, sizeof ips);
    close(fds[0]);
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    if (got != sizeof ips || ips <= 0) return -1;
    out->images_per_s = ips;
    out->peak_mb = ru.ru_maxrss / 1024.0;
    return 0;
}

int main(int argc, char **argv)
{
    const char *models = "resnet9,resnet18,vgg19", *isa = "avx2", *methods = NULL, *csv_path = NULL;
    int batch = 128, reps = 5, threads = 2, quick = 0, rounds = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa = argv[++i];
        else if (!strcmp(argv[i], "--profile")) profile_asked = 1;
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--models") && i + 1 < argc) models = argv[++i];
        else if (!strcmp(argv[i], "--methods") && i + 1 < argc) methods = argv[++i];
        else if (!strcmp(argv[i], "--csv") && i + 1 < argc) csv_path = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--models a,b] [--batch B] [--reps R] [--threads T] [--isa avx2|avx512]\n"
                            "       [--methods dense,bdwp,...] [--rounds 2] [--profile] [--csv FILE]\n", argv[0]);
            return 2;
        }
    }
    if (batch < 1 || reps < 1 || reps > 63 || threads < 1 || rounds < 1 ||
        (strcmp(isa, "avx2") && strcmp(isa, "avx512"))) {
        fprintf(stderr, "bench_train: batch, reps (1..63), rounds and threads must be positive, --isa avx2 or avx512\n");
        return 2;
    }
    /* Dense GEMMs (OpenBLAS) and N:M kernels on the same instruction set. */
    const int wide = !strcmp(isa, "avx512");
    setenv("NMTRAIN_NM_PATH", wide ? "avx512" : "avx2-fma", 0);
    nmt_tune_runtime(argv, wide ? "SkylakeX" : "Haswell");
    nmt_set_threads(threads);
    static const bench_config full[] = {
        {NMT_METHOD_DENSE, {1, 1}, 0, {0, 0}}, {NMT_METHOD_DENSE, {1, 1}, 1, {0, 0}},
        {NMT_METHOD_BDWP, {2, 4}, 0, {0, 0}}, {NMT_METHOD_BDWP, {2, 8}, 0, {0, 0}}, {NMT_METHOD_BDWP, {1, 8}, 0, {0, 0}},
        {NMT_METHOD_BDWP, {2, 8}, 1, {0, 0}},
        {NMT_METHOD_SRSTE, {2, 4}, 0, {0, 0}}, {NMT_METHOD_SRSTE, {2, 8}, 0, {0, 0}}, {NMT_METHOD_SRSTE, {1, 8}, 0, {0, 0}},
        {NMT_METHOD_SDGP, {2, 4}, 0, {0, 0}}, {NMT_METHOD_SDGP, {2, 8}, 0, {0, 0}}, {NMT_METHOD_SDGP, {1, 8}, 0, {0, 0}},
        {NMT_METHOD_TNM, {2, 4}, 0, {0, 0}}, {NMT_METHOD_TNM, {2, 8}, 0, {0, 0}}, {NMT_METHOD_TNM, {1, 8}, 0, {0, 0}},
        {NMT_METHOD_DENSE, {1, 1}, 0, {2, 4}},
        {NMT_METHOD_BDWP, {2, 4}, 0, {2, 4}}, {NMT_METHOD_BDWP, {2, 8}, 0, {2, 4}}, {NMT_METHOD_BDWP, {1, 8}, 0, {2, 4}},
        {NMT_METHOD_BDWP, {2, 8}, 0, {1, 2}},
    };
    static const bench_config short_list[] = {
        {NMT_METHOD_DENSE, {1, 1}, 0, {0, 0}}, {NMT_METHOD_DENSE, {1, 1}, 1, {0, 0}}, {NMT_METHOD_BDWP, {2, 8}, 0, {0, 0}}};
    const bench_config *configs = quick ? short_list : full;
    int n_configs = quick ? 3 : (int)(sizeof full / sizeof full[0]);
    bench_config chosen[sizeof full / sizeof full[0]];
    if (methods) { /* the listed methods: every ratio of the full list, or one ("bdwp:2:8") */
        int count = 0;
        for (int i = 0; i < n_configs; i++) {
            char list[128], want[64], plain[48];
            snprintf(list, sizeof list, "%s", methods);
            for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
                config_name(configs[i], plain, sizeof plain);
                snprintf(want, sizeof want, "%s:%d:%d", plain, configs[i].nm.n, configs[i].nm.m);
                if (!strcmp(name, plain) || !strcmp(name, want)) {
                    chosen[count++] = configs[i];
                    break;
                }
            }
        }
        configs = chosen;
        n_configs = count;
    }
    /* Every model name is checked before anything runs: a name the library
     * does not know fails here with its reason, not inside a forked child
     * whose error message the parent cannot see. */
    char list[256];
    snprintf(list, sizeof list, "%s", models);
    for (char *arch = strtok(list, ","); arch; arch = strtok(NULL, ",")) {
        nmt_model_desc *desc = describe(arch);
        if (!desc) {
            fprintf(stderr, "bench_train: --models %s: %s\n", arch, nmt_errmsg());
            return 2;
        }
        free(desc);
    }
    bench_csv csv = {0};
    if (csv_path && bench_csv_open(&csv, "bench_train", csv_path,
                                   "model,method,nm,batch,threads,isa,images_per_s,speedup,vs_lowered,ideal,peak_mb,"
                                   "spread_pct") != 0)
        return 2;
    printf("training step, 3x32x32 inputs, batch %d, %d threads, median of %d steps, best of %d rounds; "
           "OpenBLAS %s, N:M path %s\n",
           batch, threads, reps, rounds, getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "native",
           nmt_gemm_nm_path());
    printf("%-9s %-13s %-5s %10s %9s %10s %7s %9s %8s\n", "model", "method", "N:M", "images/s", "speedup",
           "vs lowered", "ideal", "peak MB", "spread");
    snprintf(list, sizeof list, "%s", models);
    for (char *arch = strtok(list, ","); arch; arch = strtok(NULL, ",")) {
        nmt_model_desc *desc = describe(arch); /* known: checked above */
        if (!desc) {
            fprintf(stderr, "bench_train: out of memory\n");
            bench_csv_discard(&csv);
            return 1;
        }
        /* Rounds go through every configuration in turn, so a slow spell of
         * the machine hits one round of each rather than all of one; a
         * configuration keeps its fastest round (noise only slows down). */
        bench_result best[sizeof full / sizeof full[0]];
        double slowest[sizeof full / sizeof full[0]];
        for (int round = 0; round < rounds; round++) {
            profile = profile_asked && round == rounds - 1;
            for (int i = 0; i < n_configs; i++) {
                bench_result r;
                if (measure(arch, configs[i], batch, reps, &r) != 0) {
                    char name[48];
                    fprintf(stderr, "bench_train: %s %s failed\n", arch, config_name(configs[i], name, sizeof name));
                    bench_csv_discard(&csv);
                    return 1;
                }
                if (round == 0 || r.images_per_s > best[i].images_per_s) best[i] = r;
                if (round == 0 || r.images_per_s < slowest[i]) slowest[i] = r.images_per_s;
            }
        }
        double dense_ips = 0, lowered_ips = 0;
        for (int i = 0; i < n_configs; i++) {
            if (configs[i].kind != NMT_METHOD_DENSE || configs[i].grad_nm.m) continue;
            if (configs[i].lowered) lowered_ips = best[i].images_per_s;
            else dense_ips = best[i].images_per_s;
        }
        for (int i = 0; i < n_configs; i++) {
            nmt_method_config method;
            config_method(configs[i], &method);
            const double ideal = ideal_speedup(desc, &method);
            char nm[16] = "-";
            if (configs[i].kind != NMT_METHOD_DENSE) snprintf(nm, sizeof nm, "%d:%d", configs[i].nm.n, configs[i].nm.m);
            /* "-" (empty in the CSV): that baseline was not run */
            char speedup[16] = "-", vs_lowered[16] = "-", speedup_csv[16] = "", vs_lowered_csv[16] = "";
            if (dense_ips > 0) {
                snprintf(speedup, sizeof speedup, "%.2fx", best[i].images_per_s / dense_ips);
                snprintf(speedup_csv, sizeof speedup_csv, "%.4f", best[i].images_per_s / dense_ips);
            }
            if (lowered_ips > 0) {
                snprintf(vs_lowered, sizeof vs_lowered, "%.2fx", best[i].images_per_s / lowered_ips);
                snprintf(vs_lowered_csv, sizeof vs_lowered_csv, "%.4f", best[i].images_per_s / lowered_ips);
            }
            char name[48];
            const double spread = 100.0 * (best[i].images_per_s / slowest[i] - 1.0);
            printf("%-9s %-13s %-5s %10.1f %9s %10s %6.2fx %9.0f %7.0f%%\n", arch,
                   config_name(configs[i], name, sizeof name), nm, best[i].images_per_s, speedup, vs_lowered, ideal,
                   best[i].peak_mb, spread);
            bench_csv_row(&csv, "%s,%s,%s,%d,%d,%s,%.2f,%s,%s,%.4f,%.0f,%.1f", arch, name,
                          configs[i].kind == NMT_METHOD_DENSE ? "" : nm, batch, threads, isa, best[i].images_per_s,
                          speedup_csv, vs_lowered_csv, ideal, best[i].peak_mb, spread);
            fflush(stdout);
        }
        free(desc);
    }
    return bench_csv_close(&csv, "bench_train") ? 1 : 0;
}

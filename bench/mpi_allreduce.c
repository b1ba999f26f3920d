/* The gradient sums of data-parallel training: their cost here, and an
 * alpha-beta projection to clusters (docs/data-parallel.md).
 *
 *   mpirun -np 2 build/bench/mpi_allreduce [--reps 10] [--max-mb 64] [--compute BATCH]
 *
 * 1. MPI_Allreduce (float sum, in place, as the trainer's buckets) for
 *    messages of 4 KB to --max-mb MB on the ranks at hand: the median of
 *    --reps after a warm-up, median and fastest; alpha is the smallest
 *    message's fastest time, beta the slope between the two largest's (a
 *    line through all of them fits neither end where the largest spill from
 *    the caches; the fastest, as the medians on a shared machine hold other
 *    jobs' time slices).
 * 2. The engine's own gradient bytes for the zoo's ResNet18 (3x64x64, 200
 *    classes: Tiny ImageNet) and ResNet50 (ImageNet stem, 3x224x224, 1000
 *    classes), in the trainer's buckets (closed at parameter boundaries, in
 *    backward's order) of 1 MB (the default) and 25 MB (--bucket-mb 25,
 *    PyTorch DDP's default), and a step's sum over p = 8 and 64
 *    nodes on 25 Gb/s Ethernet: ring allreduce, per bucket
 *    2 (p - 1) alpha + 2 (p - 1) / p n beta, beta = 8 / 25e9 s/byte (the
 *    line rate) and alpha = 20 or 50 us (assumed: TCP latency per message).
 * 3. With --compute BATCH, rank 0 alone times a training step (forward,
 *    backward, SGD; BDWP 2:8 and dense; median of 3 after a warm-up) of each
 *    model at BATCH images, with the threads it was given, while the other
 *    ranks wait. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmtrain.h"

#define MAX_SIZES 16

static int compare_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Seconds of `reps` allreduces of n floats (every rank gets them): the
 * median and the fastest. */
static double time_allreduce(float *buf, int n, int reps, double *fastest)
{
    double t[64];
    MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); /* warm-up */
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        const double start = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t[r] = MPI_Wtime() - start;
    }
    /* the slowest rank's time is the collective's */
    MPI_Allreduce(MPI_IN_PLACE, t, reps, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    qsort(t, reps, sizeof t[0], compare_double);
    *fastest = t[0];
    return t[reps / 2];
}

typedef struct zoo_model {
    const char *label;
    nmt_model_config config;
} zoo_model;

static const zoo_model models[] = {
    {"ResNet18, Tiny ImageNet 3x64x64", {.arch = "resnet18", .width = 1, .in_c = 3, .in_h = 64, .in_w = 64, .classes = 200}},
    {"ResNet50, ImageNet 3x224x224",
     {.arch = "resnet50", .width = 1, .in_c = 3, .in_h = 224, .in_w = 224, .classes = 1000, .imagenet_stem = 1}},
};

static nmt_net *build(const zoo_model *m, int batch, nmt_method_kind kind)
{
    nmt_model_desc *desc = malloc(sizeof *desc);
    nmt_method_config method;
    nmt_method_defaults(kind, (nmt_nm){2, 8}, &method);
    nmt_net *net = desc && nmt_model_describe(&m->config, desc) == 0 ? nmt_net_create(desc, batch, &method, 1) : NULL;
    free(desc);
    if (!net) fprintf(stderr, "mpi_allreduce: %s: %s\n", m->label, nmt_errmsg());
    return net;
}

/* Gradient floats and the buckets of `bucket_floats` the trainer makes of
 * them (parameters in reverse order, as backward hands them over). */
static void gradient_buckets(nmt_net *net, double bucket_floats, double *floats, int *buckets)
{
    double total = 0.0, open = 0.0;
    int closed = 0;
    for (int i = nmt_net_param_count(net) - 1; i >= 0; i--) {
        const nmt_param *p = nmt_net_param(net, i);
        if (p->is_buffer) continue;
        total += (double)p->count;
        open += (double)p->count;
        if (open >= bucket_floats) closed++, open = 0.0;
    }
    *floats = total;
    *buckets = closed + (open > 0.0);
}

static double ring_seconds(double bytes, int buckets, int p, double alpha, double beta)
{
    return buckets * 2.0 * (p - 1) * alpha + 2.0 * (p - 1) / p * bytes * beta;
}

static double step_seconds(const zoo_model *m, int batch, nmt_method_kind kind)
{
    nmt_net *net = build(m, batch, kind);
    if (!net) return NAN;
    const int sample = m->config.in_c * m->config.in_h * m->config.in_w;
    float *x = malloc(sizeof(float) * (size_t)sample * batch);
    int *labels = malloc(sizeof(int) * batch);
    nmt_rng rng;
    nmt_rng_seed(&rng, 1, 1);
    for (size_t i = 0; i < (size_t)sample * batch; i++) x[i] = nmt_rng_normal(&rng);
    for (int i = 0; i < batch; i++) labels[i] = (int)nmt_rng_below(&rng, (uint32_t)m->config.classes);
    nmt_sgd_config sgd = {.momentum = 0.9f, .nesterov = 1, .weight_decay = 5e-4f};
    double t[4];
    for (int r = 0; r < 4; r++) {
        const double start = nmt_now();
        nmt_net_forward(net, x, labels, batch, 1, 0.0f, NULL);
        nmt_net_backward(net);
        nmt_sgd_step(net, &sgd, 0.01f);
        nmt_net_refresh_sparse(net, 1);
        t[r] = nmt_now() - start;
    }
    qsort(t + 1, 3, sizeof t[0], compare_double); /* t[0] is the warm-up */
    nmt_net_free(net);
    free(x), free(labels);
    return t[2];
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    int reps = 10, max_mb = 64, compute_batch = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-mb") && i + 1 < argc) max_mb = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--compute") && i + 1 < argc) compute_batch = atoi(argv[++i]);
        else {
            if (rank == 0) fprintf(stderr, "usage: mpirun -np K mpi_allreduce [--reps R] [--max-mb MB] [--compute BATCH]\n");
            MPI_Finalize();
            return 2;
        }
    }
    if (reps < 1 || reps > 64 || max_mb < 1 || max_mb > 1024 || compute_batch < 0) {
        if (rank == 0) fprintf(stderr, "mpi_allreduce: --reps 1..64, --max-mb 1..1024, --compute >= 0\n");
        MPI_Finalize();
        return 2;
    }
    char library[MPI_MAX_LIBRARY_VERSION_STRING];
    int length;
    MPI_Get_library_version(library, &length);
    char *comma = strchr(library, ',');
    if (comma) *comma = 0;
    const int max_floats = max_mb * (1 << 20) / (int)sizeof(float);
    float *buf = calloc((size_t)max_floats, sizeof(float));
    if (!buf) MPI_Abort(MPI_COMM_WORLD, 1);

    double bytes[MAX_SIZES], seconds[MAX_SIZES];
    int sizes = 0;
    if (rank == 0) printf("MPI_Allreduce, float sum in place, %d ranks (%s), %d times each\n\n"
                          "| bytes | median ms | fastest ms | GB/s (bytes / fastest) |\n|--:|--:|--:|--:|\n", ranks, library, reps);
    for (int n = 1024; n <= max_floats && sizes < MAX_SIZES; n *= 4) {
        bytes[sizes] = sizeof(float) * (double)n;
        const double median = time_allreduce(buf, n, reps, &seconds[sizes]);
        if (rank == 0)
            printf("| %.0f | %.3f | %.3f | %.2f |\n", bytes[sizes], 1e3 * median, 1e3 * seconds[sizes],
                   bytes[sizes] / seconds[sizes] / 1e9);
        sizes++;
    }
    free(buf);
    const double alpha_here = seconds[0],
                 beta_here = sizes > 1 ? (seconds[sizes - 1] - seconds[sizes - 2]) / (bytes[sizes - 1] - bytes[sizes - 2])
                                       : seconds[0] / bytes[0];
    if (rank == 0)
        printf("\nhere: alpha %.1f us (the smallest message), beta %.3g s/byte (%.2f GB/s, the two largest)\n",
               1e6 * alpha_here, beta_here, 1e-9 / beta_here);

    const double beta = 8.0 / 25e9, alphas[2] = {20e-6, 50e-6};
    const int nodes[2] = {8, 64};
    if (rank == 0) {
        printf("\nring allreduce of a step's gradients on 25 Gb/s Ethernet (beta %.3g s/byte), ms:\n\n", beta);
        printf("| model | gradient MB | buckets of 1 / 25 MB | p | alpha 20 us, 1 MB | alpha 50 us, 1 MB | "
               "alpha 50 us, 25 MB | alpha 50 us, one bucket | measured here, %d ranks, 1 MB |\n"
               "|---|--:|--:|--:|--:|--:|--:|--:|--:|\n", ranks);
    }
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        nmt_net *net = rank == 0 ? build(&models[m], 1, NMT_METHOD_BDWP) : NULL;
        if (rank != 0) continue;
        if (!net) MPI_Abort(MPI_COMM_WORLD, 1);
        double floats;
        int buckets, large_buckets;
        gradient_buckets(net, (1 << 20) / sizeof(float), &floats, &buckets);
        gradient_buckets(net, 25 * (1 << 20) / sizeof(float), &floats, &large_buckets);
        nmt_net_free(net);
        const double n = sizeof(float) * floats;
        for (int k = 0; k < 2; k++)
            printf("| %s | %.1f | %d / %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", models[m].label, n / 1e6, buckets,
                   large_buckets, nodes[k], 1e3 * ring_seconds(n, buckets, nodes[k], alphas[0], beta),
                   1e3 * ring_seconds(n, buckets, nodes[k], alphas[1], beta),
                   1e3 * ring_seconds(n, large_buckets, nodes[k], alphas[1], beta),
                   1e3 * ring_seconds(n, 1, nodes[k], alphas[1], beta), 1e3 * (alpha_here * buckets + beta_here * n));
    }

    if (compute_batch > 0) {
        if (rank == 0) {
            printf("\ntraining step of one rank, batch %d, %d threads, median of 3 after a warm-up:\n\n"
                   "| model | method | s a step | ms an image |\n|---|---|--:|--:|\n", compute_batch, nmt_threads());
            for (size_t m = 0; m < sizeof models / sizeof models[0]; m++)
                for (int dense = 0; dense < 2; dense++) {
                    const double s = step_seconds(&models[m], compute_batch, dense ? NMT_METHOD_DENSE : NMT_METHOD_BDWP);
                    printf("| %s | %s | %.2f | %.1f |\n", models[m].label, dense ? "dense" : "bdwp 2:8", s,
                           1e3 * s / compute_batch);
                    fflush(stdout);
                }
        }
        MPI_Barrier(MPI_COMM_WORLD);
    }
    MPI_Finalize();
    return 0;
}

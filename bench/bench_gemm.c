/* Per-layer GEMM benchmark: OpenBLAS SGEMM against the N:M sparse kernels on
 * the forward and backward-data GEMMs of ResNet9 and ResNet18 (32x32 inputs),
 * at batch 32 and 128, 1 and 2 threads, in one run so ratios are side by side.
 *
 *   build/bench/bench_gemm [--quick] [--reps R] [--threads 1,2] [--batch 32,128]
 *                          [--isa avx2|avx512] [--blas-native] [--csv FILE]
 *   --csv also writes every timed GEMM as a row of FILE (one row per N:M
 *   ratio; scripts/plot_bench.py draws it).
 *   NMT_BENCH_QUICK=1 is the same as --quick (a few shapes, batch 32).
 *   build/bench/bench_gemm --fused [--quick ...] times the backward-data at 2:8
 *   through col2im instead: GEMM from row-major dY into dcol and nmt_col2im
 *   against the fused nmt_gemm_nm_col2im (which packs dY a panel at a time
 *   itself).
 *   build/bench/bench_gemm --wg [--quick ...] times the weight gradient with
 *   --grad-nm (see wg_table), ResNet50's shapes included.
 *   build/bench/bench_gemm --linear [--threads ...] times a ViT's linear layers
 *   (see linear_table): OpenBLAS against the skinny kernels the engine runs
 *   them with, and the N:M kernel at 2:8.
 *   build/bench/bench_gemm --one ROWS K COLS N M [--threads T] [--reps R] times
 *   one sparse GEMM in the panel layout against OpenBLAS and exits; with
 *   --reps 1 it is the thing to profile under valgrind --tool=callgrind.
 *
 * FW: C[Cout x cols] = W_in (packed along K = 9*Cin) x col[K x cols], B in the
 *     panel layout written by nmt_im2col_panels (lowering cost excluded on
 *     both sides, as the dense path lowers too).
 * BW: C[K x cols] = W_out^T (packed along Cout) x dY[Cout x cols], dY
 *     row-major as the layer above writes it, through the row-major API
 *     (nmt_gemm_nm, which copies each block's chunk of dY into panel layout as
 *     it goes, as OpenBLAS packs its B).
 * "2:8 rm" is the row-major API at 2:8 in both directions (for FW on the
 * row-major im2col matrix, for BW the same call as the 2:8 column).
 * Times are medians over R repetitions after one warm-up. ratio = dense /
 * sparse; GF = executed GFLOP/s (2 * kept MACs / s).
 *
 * OpenBLAS 0.3.21 does not recognise every new CPU and then falls back to its
 * SSE3 "Prescott" kernels, which would flatter the ratios. Unless
 * OPENBLAS_CORETYPE is set (or --blas-native is given) the program re-runs
 * itself with OPENBLAS_CORETYPE=Haswell, the AVX2 kernels OpenBLAS uses on
 * the Zen 3 target class. The same re-run sets the thread pools as the
 * engine runs them (nmt_set_thread_pool_env): both otherwise spin after each
 * call (OpenBLAS for about 2^28 cycles), stealing the second core from
 * whichever kernel is timed next. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_csv.h"
#include "bench_layers.h"
#include "bench_timing.h"
#include "layers/layers.h"
#include "nmtrain.h"

char *openblas_get_corename(void);

static const nmt_nm ratios[] = {{2, 4}, {2, 8}, {1, 8}};
static const double targets[] = {1.7, 3.0, 5.0}; /* TARGETS.md, per ratio */
#define RATIO_COUNT 3
#define MAX_SETTINGS 4

/* One timed GEMM of one layer, direction, batch and thread count. */
typedef struct result {
    int layer, backward, batch, threads;
    int rows, k, cols;
    double dense, sparse[RATIO_COUNT], row_major_2_8;
} result;

static int parse_list(const char *text, int *out, int most)
{
    int count = 0;
    for (const char *p = text; *p && count < most;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v <= 0) return -1;
        out[count++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return count;
}

typedef struct bench_config {
    int reps, quick;
    int threads[MAX_SETTINGS], thread_count;
    int batches[MAX_SETTINGS], batch_count;
} bench_config;

/* Fills with uniform values in [-1, 1): cheap for the 300 MB operands. */
static void fill(nmt_rng *rng, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * nmt_rng_uniform(rng) - 1.0f;
}

static void *must_alloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "bench_gemm: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

/* Measures one GEMM shape at every thread count. The weight W is Cout x K
 * (K = 9*Cin, ordered (kh, kw, ci)); FW packs it along K, BW packs W^T along
 * Cout. */
static void measure(const bench_config *cfg, nmt_rng *rng, int layer, int backward, int batch,
                    result *out)
{
    const conv_layer *l = &layers[layer];
    const int kdim = l->ksize * l->ksize * l->cin, cols = batch * l->out_hw * l->out_hw;
    const int rows = backward ? kdim : l->cout, k = backward ? l->cout : kdim;
    float *w = must_alloc(sizeof(float) * l->cout * kdim);
    float *b = must_alloc(sizeof(float) * k * cols), *c = must_alloc(sizeof(float) * rows * cols);
    float *panels = must_alloc(sizeof(float) * nmt_nm_panels_floats(k, cols));
    nmt_packed packed[RATIO_COUNT];
    fill(rng, w, (size_t)l->cout * kdim);
    fill(rng, b, (size_t)k * cols);
    const nmt_view view = backward ? (nmt_view){w, kdim, l->cout, 1, kdim} : (nmt_view){w, l->cout, kdim, kdim, 1};
    for (int r = 0; r < RATIO_COUNT; r++) {
        size_t n = nmt_packed_value_count(rows, k, ratios[r]);
        packed[r] = (nmt_packed){.values = must_alloc(sizeof(float) * n), .index = must_alloc(n)};
        nmt_pack_topn(view, ratios[r], &packed[r]);
    }
    nmt_nm_pack_panels(b, cols, k, cols, panels);
    for (int t = 0; t < cfg->thread_count; t++) {
        result *res = &out[t];
        *res = (result){layer, backward, batch, cfg->threads[t], rows, k, cols, 0, {0}, 0};
        nmt_set_threads(cfg->threads[t]);
        if (backward)
            TIME_MEDIAN(cfg->reps, res->dense, nmt_gemm(1, 0, rows, cols, k, 1.0f, w, kdim, b, cols, 0.0f, c, cols));
        else
            TIME_MEDIAN(cfg->reps, res->dense, nmt_gemm(0, 0, rows, cols, k, 1.0f, w, kdim, b, cols, 0.0f, c, cols));
        for (int r = 0; r < RATIO_COUNT; r++) {
            if (backward)
                TIME_MEDIAN(cfg->reps, res->sparse[r], nmt_gemm_nm(&packed[r], b, cols, cols, 0.0f, c, cols));
            else
                TIME_MEDIAN(cfg->reps, res->sparse[r], nmt_gemm_nm_panels(&packed[r], panels, cols, 0.0f, c, cols));
        }
        TIME_MEDIAN(cfg->reps, res->row_major_2_8, nmt_gemm_nm(&packed[1], b, cols, cols, 0.0f, c, cols));
    }
    for (int r = 0; r < RATIO_COUNT; r++) free(packed[r].values), free(packed[r].index);
    free(w), free(b), free(c), free(panels);
}

static double executed_gflops(const result *r, nmt_nm nm, double seconds)
{
    return 2.0 * r->rows * (double)r->k * r->cols * nm.n / nm.m / seconds * 1e-9;
}

static void print_table(const result *results, int count, int threads, int batch)
{
    printf("\n### %d thread%s, batch %d\n\n", threads, threads > 1 ? "s" : "", batch);
    printf("| model | layer | dir | rows | k | cols | dense ms | dense GF |");
    for (int r = 0; r < RATIO_COUNT; r++) printf(" %d:%d ms | ratio | GF |", ratios[r].n, ratios[r].m);
    printf(" 2:8 rm ratio |\n|---|---|---|--:|--:|--:|--:|--:|");
    for (int r = 0; r < RATIO_COUNT; r++) printf("--:|--:|--:|");
    printf("--:|\n");
    for (int i = 0; i < count; i++) {
        const result *res = &results[i];
        if (res->threads != threads || res->batch != batch) continue;
        const conv_layer *l = &layers[res->layer];
        printf("| %s | %s | %s | %d | %d | %d | %.2f | %.1f |", l->model, l->name, res->backward ? "BW" : "FW",
               res->rows, res->k, res->cols, res->dense * 1e3,
               executed_gflops(res, (nmt_nm){1, 1}, res->dense));
        for (int r = 0; r < RATIO_COUNT; r++)
            printf(" %.2f | %.2fx | %.1f |", res->sparse[r] * 1e3, res->dense / res->sparse[r],
                   executed_gflops(res, ratios[r], res->sparse[r]));
        printf(" %.2fx |\n", res->dense / res->row_major_2_8);
    }
}

/* Per model: the ratio of summed times (each shape weighted by how many
 * layers have it, FW + BW), and the worst single-GEMM ratio. */
static void print_summary(const result *results, int count, const bench_config *cfg)
{
    printf("\n### Summary: whole-model FW+BW GEMM time ratio (worst single GEMM)\n\n");
    printf("| model | threads | batch |");
    for (int r = 0; r < RATIO_COUNT; r++) printf(" %d:%d |", ratios[r].n, ratios[r].m);
    printf("\n|---|--:|--:|");
    for (int r = 0; r < RATIO_COUNT; r++) printf("--:|");
    printf("\n");
    const char *models[] = {"resnet9", "resnet18"};
    for (int m = 0; m < 2; m++)
        for (int t = 0; t < cfg->thread_count; t++)
            for (int bi = 0; bi < cfg->batch_count; bi++) {
                double dense = 0, sparse[RATIO_COUNT] = {0}, worst[RATIO_COUNT] = {1e9, 1e9, 1e9};
                int seen = 0;
                for (int i = 0; i < count; i++) {
                    const result *res = &results[i];
                    const conv_layer *l = &layers[res->layer];
                    if (strcmp(l->model, models[m]) || res->threads != cfg->threads[t] || res->batch != cfg->batches[bi])
                        continue;
                    seen = 1;
                    dense += l->count * res->dense;
                    for (int r = 0; r < RATIO_COUNT; r++) {
                        sparse[r] += l->count * res->sparse[r];
                        if (res->dense / res->sparse[r] < worst[r]) worst[r] = res->dense / res->sparse[r];
                    }
                }
                if (!seen) continue;
                printf("| %s | %d | %d |", models[m], cfg->threads[t], cfg->batches[bi]);
                for (int r = 0; r < RATIO_COUNT; r++) printf(" %.2fx (%.2fx) |", dense / sparse[r], worst[r]);
                printf("\n");
            }
    printf("\ntargets:");
    for (int r = 0; r < RATIO_COUNT; r++)
        printf("%s %d:%d >= %.2fx", r ? "," : "", ratios[r].n, ratios[r].m, targets[r]);
    printf(" (ideal M/N)\n");
}

/* Every timed GEMM, one row per N:M ratio ("layers": how many layers of the
 * model have the shape, the weight of its row in a whole-model sum). */
static void write_csv(const result *results, int count, const char *isa, bench_csv *csv)
{
    for (int i = 0; i < count; i++) {
        const result *res = &results[i];
        const conv_layer *l = &layers[res->layer];
        for (int r = 0; r < RATIO_COUNT; r++)
            bench_csv_row(csv, "%s,%s,%d,%s,%d,%d,%s,%d,%d,%d,%.4f,%d:%d,%.4f,%.4f,%.2f,%.2f,%.2f", l->model, l->name,
                          l->count, res->backward ? "BW" : "FW", res->batch, res->threads, isa, res->rows, res->k,
                          res->cols, res->dense * 1e3, ratios[r].n, ratios[r].m, res->sparse[r] * 1e3,
                          res->dense / res->sparse[r], executed_gflops(res, ratios[r], res->sparse[r]),
                          (double)ratios[r].m / ratios[r].n, targets[r]);
    }
}

/* Backward-data at 2:8 of every layer through col2im: unfused (GEMM from
 * row-major dY into dcol, then nmt_col2im) against nmt_gemm_nm_col2im. */
static void fused_table(const bench_config *cfg, nmt_rng *rng)
{
    const nmt_nm nm = {2, 8};
    printf("\n### Backward-data at 2:8 including col2im: GEMM + col2im vs fused\n\n"
           "| model | layer | batch | threads | GEMM ms | col2im ms | sum ms | fused ms | speedup |\n"
           "|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
    for (int bi = 0; bi < cfg->batch_count; bi++)
        for (int layer = 0; layer < LAYER_COUNT; layer++) {
            const conv_layer *l = &layers[layer];
            if (cfg->quick && !l->quick) continue;
            const int in_hw = l->out_hw * l->stride;
            const nmt_conv_shape s = {.c = l->cin, .n = cfg->batches[bi], .h = in_hw, .w = in_hw, .kh = l->ksize,
                                      .kw = l->ksize, .stride = l->stride, .pad = l->ksize / 2,
                                      .ho = l->out_hw, .wo = l->out_hw};
            const int k = l->ksize * l->ksize * l->cin, cols = s.n * s.ho * s.wo;
            const size_t dx_floats = (size_t)l->cin * s.n * in_hw * in_hw, count = nmt_packed_value_count(k, l->cout, nm);
            float *w = must_alloc(sizeof(float) * l->cout * k), *dy = must_alloc(sizeof(float) * l->cout * cols);
            float *dcol = must_alloc(sizeof(float) * k * cols), *dx = must_alloc(sizeof(float) * dx_floats);
            const size_t workspace_floats = nmt_gemm_nm_col2im_workspace_floats(&s, l->cout);
            float *workspace = must_alloc(sizeof(float) * workspace_floats);
            nmt_packed w_t = {.values = must_alloc(sizeof(float) * count), .index = must_alloc(count)};
            fill(rng, w, (size_t)l->cout * k);
            fill(rng, dy, (size_t)l->cout * cols);
            nmt_pack_topn((nmt_view){w, k, l->cout, 1, k}, nm, &w_t);
            fprintf(stderr, "  %s %s fused batch %d\n", l->model, l->name, s.n);
            for (int t = 0; t < cfg->thread_count; t++) {
                double gemm, col2im, fused;
                nmt_set_threads(cfg->threads[t]);
                TIME_MEDIAN(cfg->reps, gemm, nmt_gemm_nm(&w_t, dy, cols, cols, 0.0f, dcol, cols));
                TIME_MEDIAN(cfg->reps, col2im, (memset(dx, 0, sizeof(float) * dx_floats), nmt_col2im(&s, dcol, dx)));
                TIME_MEDIAN(cfg->reps, fused, (memset(dx, 0, sizeof(float) * dx_floats),
                                               nmt_gemm_nm_col2im(&w_t, dy, &s, workspace, workspace_floats, dx)));
                printf("| %s | %s | %d | %d | %.2f | %.2f | %.2f | %.2f | %.2fx |\n", l->model, l->name, s.n,
                       cfg->threads[t], gemm * 1e3, col2im * 1e3, (gemm + col2im) * 1e3, fused * 1e3,
                       (gemm + col2im) / fused);
            }
            free(w), free(dy), free(dcol), free(dx), free(workspace), free(w_t.values), free(w_t.index);
        }
}

/* --wg: the weight gradient of every layer shape (ResNet9, ResNet18 and
 * ResNet50's) with --grad-nm (2:4 and 1:2 prune and pack alike, so one
 * column serves both), through the engine's own convolution layer: its
 * N:M path (dY's pruning, the lowering and the N:M GEMM, all timed) against
 * OpenBLAS on the same GEMM with col already lowered (the lowering not
 * timed), and against the engine's fastest dense weight gradient (Winograd
 * on 3x3 "same" layers, otherwise lowering + OpenBLAS, all timed). The
 * "model" rows weight each shape by its count. */
static void wg_table(const bench_config *cfg, nmt_rng *rng)
{
    printf("\n### Weight gradient with --grad-nm 2:4 (= 1:2): N:M path vs OpenBLAS and the engine's dense\n\n"
           "| model | layer | batch | threads | OpenBLAS GEMM ms | dense WG ms (path) | N:M WG ms | vs OpenBLAS | "
           "vs dense |\n|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
    const int total = LAYER_COUNT + RESNET50_LAYER_COUNT;
    for (int t = 0; t < cfg->thread_count; t++)
        for (int bi = 0; bi < cfg->batch_count; bi++) {
            double sum_blas = 0, sum_dense = 0, sum_nm = 0;
            const char *model = NULL;
            for (int layer = 0; layer <= total; layer++) {
                const conv_layer *l = layer < total ? (layer < LAYER_COUNT ? &layers[layer] : &resnet50_layers[layer - LAYER_COUNT]) : NULL;
                if (l && cfg->quick && !l->quick) continue;
                if (model && (!l || strcmp(model, l->model))) {
                    printf("| %s | all (weighted) | %d | %d | %.2f | %.2f | %.2f | %.2fx | %.2fx |\n", model,
                           cfg->batches[bi], cfg->threads[t], sum_blas * 1e3, sum_dense * 1e3, sum_nm * 1e3,
                           sum_blas / sum_nm, sum_dense / sum_nm);
                    sum_blas = sum_dense = sum_nm = 0;
                }
                if (!l) break;
                model = l->model;
                nmt_set_threads(cfg->threads[t]);
                const int in_hw = l->out_hw * l->stride;
                const nmt_conv_shape s = {.c = l->cin, .n = cfg->batches[bi], .h = in_hw, .w = in_hw, .kh = l->ksize,
                                          .kw = l->ksize, .stride = l->stride, .pad = l->ksize / 2,
                                          .ho = l->out_hw, .wo = l->out_hw};
                const int k = l->ksize * l->ksize * l->cin, cols = s.n * s.ho * s.wo;
                const size_t x_floats = (size_t)l->cin * s.n * in_hw * in_hw;
                conv_plan dense, sparse;
                conv_plan_make(&s, l->cout, (conv_operands){0}, &dense);
                conv_plan_make(&s, l->cout, (conv_operands){.wg_nm = 1}, &sparse);
                const size_t workspace_floats = dense.workspace_floats > sparse.workspace_floats ? dense.workspace_floats
                                                                                                  : sparse.workspace_floats;
                float *x = must_alloc(sizeof(float) * x_floats), *dy = must_alloc(sizeof(float) * l->cout * cols);
                float *col = must_alloc(sizeof(float) * k * cols), *dw = must_alloc(sizeof(float) * l->cout * k);
                float *workspace = must_alloc(sizeof(float) * workspace_floats);
                fill(rng, x, x_floats);
                fill(rng, dy, (size_t)l->cout * cols);
                nmt_im2col(&s, x, col);
                fprintf(stderr, "  %s %s WG batch %d threads %d\n", l->model, l->name, s.n, cfg->threads[t]);
                const nmt_operand none = {NULL, NULL};
                double blas, dense_wg, nm_wg;
                TIME_MEDIAN(cfg->reps, blas, nmt_gemm(0, 1, l->cout, k, cols, 1.0f, dy, cols, col, cols, 0.0f, dw, k));
                TIME_MEDIAN(cfg->reps, dense_wg, conv_backward(&dense, s.n, none, x, dy, (nmt_mvue_draws){0}, none, dw, NULL, NULL, 0,
                                                               workspace, workspace_floats, NULL));
                TIME_MEDIAN(cfg->reps, nm_wg, conv_backward(&sparse, s.n, none, x, dy, (nmt_mvue_draws){7, cols, 0}, none, dw, NULL, NULL, 0,
                                                            workspace, workspace_floats, NULL));
                printf("| %s | %s | %d | %d | %.2f | %.2f (%s) | %.2f | %.2fx | %.2fx |\n", l->model, l->name, s.n,
                       cfg->threads[t], blas * 1e3, dense_wg * 1e3, conv_path_name(dense.wg), nm_wg * 1e3, blas / nm_wg,
                       dense_wg / nm_wg);
                sum_blas += l->count * blas, sum_dense += l->count * dense_wg, sum_nm += l->count * nm_wg;
                free(x), free(dy), free(col), free(dw), free(workspace);
            }
        }
}

/* --linear: the four linear layers of a ViT block (qkv, proj, fc1, fc2) at
 * the Fashion-MNIST recipe's shape (dim 96, MLP 192, batch 128 x 50 tokens)
 * and the zoo ViT's (dim 192, MLP 384, 128 x 65 tokens), activations
 * dim x (batch * tokens) as the engine holds them. Each direction as the
 * engine's linear layer runs it dense (skinny_gemm, skinny_gemm_nt: the
 * skinny path of conv_plan) against OpenBLAS on the same arrays, and the
 * forward and backward-data at 2:8 through the row-major N:M API (the N:M
 * path of the same layer; its bias pass not timed). */
typedef struct linear_shape {
    const char *model, *layer;
    int out, in, cols;
} linear_shape;

static const linear_shape linear_shapes[] = {
    {"vit-recipe", "qkv", 288, 96, 6400},   {"vit-recipe", "proj", 96, 96, 6400},
    {"vit-recipe", "fc1", 192, 96, 6400},   {"vit-recipe", "fc2", 96, 192, 6400},
    {"vit-zoo", "qkv", 576, 192, 8320},     {"vit-zoo", "proj", 192, 192, 8320},
    {"vit-zoo", "fc1", 384, 192, 8320},     {"vit-zoo", "fc2", 192, 384, 8320},
};

static void linear_table(const bench_config *cfg, nmt_rng *rng)
{
    const nmt_nm nm = {2, 8};
    printf("\n### ViT linear layers: OpenBLAS vs the skinny kernels (dense) and N:M 2:8\n\n"
           "| model | layer | out x in x cols | threads | direction | OpenBLAS ms | skinny ms | skinny vs OpenBLAS | "
           "2:8 ms | 2:8 vs skinny |\n|---|---|---|--:|---|--:|--:|--:|--:|--:|\n");
    for (size_t i = 0; i < sizeof linear_shapes / sizeof *linear_shapes; i++) {
        const linear_shape *l = &linear_shapes[i];
        const int out = l->out, in = l->in, cols = l->cols;
        float *w = must_alloc(sizeof(float) * out * in), *x = must_alloc(sizeof(float) * in * cols);
        float *dy = must_alloc(sizeof(float) * out * cols), *y = must_alloc(sizeof(float) * out * cols);
        float *dx = must_alloc(sizeof(float) * in * cols), *dw = must_alloc(sizeof(float) * out * in);
        float *bias = must_alloc(sizeof(float) * out);
        const size_t fw_count = nmt_packed_value_count(out, in, nm), bw_count = nmt_packed_value_count(in, out, nm);
        nmt_packed w_in = {.values = must_alloc(sizeof(float) * fw_count), .index = must_alloc(fw_count)};
        nmt_packed w_out = {.values = must_alloc(sizeof(float) * bw_count), .index = must_alloc(bw_count)};
        fill(rng, w, (size_t)out * in);
        fill(rng, x, (size_t)in * cols);
        fill(rng, dy, (size_t)out * cols);
        fill(rng, bias, (size_t)out);
        nmt_pack_topn((nmt_view){w, out, in, in, 1}, nm, &w_in);   /* W along its inputs */
        nmt_pack_topn((nmt_view){w, in, out, 1, in}, nm, &w_out);  /* W^T along W's outputs */
        fprintf(stderr, "  %s %s\n", l->model, l->layer);
        for (int t = 0; t < cfg->thread_count; t++) {
            nmt_set_threads(cfg->threads[t]);
            const size_t workspace_floats = skinny_gemm_nt_workspace_floats(out, in);
            float *workspace = must_alloc(sizeof(float) * (workspace_floats ? workspace_floats : 1));
            double blas[3], skinny[3], sparse[2];
            TIME_MEDIAN(cfg->reps, blas[0], nmt_gemm(0, 0, out, cols, in, 1.0f, w, in, x, cols, 0.0f, y, cols));
            TIME_MEDIAN(cfg->reps, skinny[0], skinny_gemm(out, cols, in, w, in, 1, x, bias, y, 0));
            TIME_MEDIAN(cfg->reps, sparse[0], nmt_gemm_nm(&w_in, x, cols, cols, 0.0f, y, cols));
            TIME_MEDIAN(cfg->reps, blas[1], nmt_gemm(1, 0, in, cols, out, 1.0f, w, in, dy, cols, 0.0f, dx, cols));
            TIME_MEDIAN(cfg->reps, skinny[1], skinny_gemm(in, cols, out, w, 1, in, dy, NULL, dx, 0));
            TIME_MEDIAN(cfg->reps, sparse[1], nmt_gemm_nm(&w_out, dy, cols, cols, 0.0f, dx, cols));
            TIME_MEDIAN(cfg->reps, blas[2], nmt_gemm(0, 1, out, in, cols, 1.0f, dy, cols, x, cols, 0.0f, dw, in));
            TIME_MEDIAN(cfg->reps, skinny[2], skinny_gemm_nt(out, in, cols, dy, x, dw, workspace, workspace_floats));
            static const char *const directions[] = {"FW", "BW-data", "WG"};
            for (int d = 0; d < 3; d++) {
                printf("| %s | %s | %d x %d x %d | %d | %s | %.3f | %.3f | %.2fx |", l->model, l->layer, out, in, cols,
                       cfg->threads[t], directions[d], blas[d] * 1e3, skinny[d] * 1e3, blas[d] / skinny[d]);
                if (d < 2)
                    printf(" %.3f | %.2fx |\n", sparse[d] * 1e3, skinny[d] / sparse[d]);
                else
                    printf(" - | - |\n");
            }
            free(workspace);
        }
        free(w), free(x), free(dy), free(y), free(dx), free(dw), free(bias);
        free(w_in.values), free(w_in.index), free(w_out.values), free(w_out.index);
    }
}

/* One GEMM shape on random operands: the median of `reps` nmt_gemm_nm_panels
 * calls after a warm-up, against OpenBLAS on the same shape (--reps 1 for
 * instruction profiles). */
static int run_one(int rows, int k, int cols, nmt_nm nm, int reps)
{
    if (rows <= 0 || cols <= 0 || nm.n < 1 || nm.n >= nm.m || nm.m > NMT_NM_MAX_M || k <= 0 || k % nm.m) {
        fprintf(stderr, "bench_gemm --one: need ROWS K COLS N M with K a multiple of M and 1 <= N < M <= 32\n");
        return 2;
    }
    nmt_rng rng;
    nmt_rng_seed(&rng, 1, 1);
    float *w = must_alloc(sizeof(float) * rows * k), *b = must_alloc(sizeof(float) * k * cols);
    float *c = must_alloc(sizeof(float) * rows * cols), *panels = must_alloc(sizeof(float) * nmt_nm_panels_floats(k, cols));
    size_t count = nmt_packed_value_count(rows, k, nm);
    nmt_packed a = {.values = must_alloc(sizeof(float) * count), .index = must_alloc(count)};
    fill(&rng, w, (size_t)rows * k);
    fill(&rng, b, (size_t)k * cols);
    nmt_pack_topn((nmt_view){w, rows, k, k, 1}, nm, &a);
    nmt_nm_pack_panels(b, cols, k, cols, panels);
    double sparse, dense;
    TIME_MEDIAN(reps, sparse, nmt_gemm_nm_panels(&a, panels, cols, 0.0f, c, cols));
    TIME_MEDIAN(reps, dense, nmt_gemm(0, 0, rows, cols, k, 1.0f, w, k, b, cols, 0.0f, c, cols));
    const double gflop = 2e-9 * (double)count * cols;
    printf("%d x %d x %d at %d:%d (%s, %d threads): %.3f ms (%.1f GF), OpenBLAS %.3f ms, ratio %.2fx; "
           "%zu kept values x %d panels\n", rows, k, cols, nm.n, nm.m, nmt_gemm_nm_path(), nmt_threads(),
           sparse * 1e3, gflop / sparse, dense * 1e3, dense / sparse, count,
           (cols + NMT_NM_PANEL_COLS - 1) / NMT_NM_PANEL_COLS);
    free(w), free(b), free(c), free(panels), free(a.values), free(a.index);
    return 0;
}

static void print_machine(void)
{
    char model[256];
    bench_cpu_model(model, sizeof model);
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    const char *timeout = getenv("OPENBLAS_THREAD_TIMEOUT"), *wait = getenv("OMP_WAIT_POLICY");
    printf("## bench_gemm: %s\n\ncpu: %s, %ld online cores; OpenBLAS core: %s; N:M path: %s\n"
           "OPENBLAS_THREAD_TIMEOUT=%s OMP_WAIT_POLICY=%s\n",
           date, model, sysconf(_SC_NPROCESSORS_ONLN), openblas_get_corename(), nmt_gemm_nm_path(),
           timeout ? timeout : "(unset)", wait ? wait : "(unset)");
}

int main(int argc, char **argv)
{
    bench_config cfg = {.reps = 5, .threads = {1, 2}, .thread_count = 2, .batches = {32, 128}, .batch_count = 2};
    int blas_native = 0, fused = 0, wg = 0, linear = 0, one[5] = {0};
    const char *isa = "avx2", *csv_path = NULL;
    const char *quick_env = getenv("NMT_BENCH_QUICK");
    cfg.quick = quick_env && *quick_env && strcmp(quick_env, "0") != 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) cfg.quick = 1;
        else if (!strcmp(argv[i], "--blas-native")) blas_native = 1;
        else if (!strcmp(argv[i], "--fused")) fused = 1;
        else if (!strcmp(argv[i], "--wg")) wg = 1;
        else if (!strcmp(argv[i], "--linear")) linear = 1;
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa = argv[++i];
        else if (!strcmp(argv[i], "--csv") && i + 1 < argc) csv_path = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) cfg.reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) cfg.thread_count = parse_list(argv[++i], cfg.threads, MAX_SETTINGS);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) cfg.batch_count = parse_list(argv[++i], cfg.batches, MAX_SETTINGS);
        else if (!strcmp(argv[i], "--one") && i + 5 < argc)
            for (int j = 0; j < 5; j++) one[j] = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--fused | --wg | --linear] [--reps R] [--threads 1,2] [--batch 32,128] [--isa avx2|avx512] [--blas-native]\n"
                            "       [--csv FILE]\n"
                            "       %s --one ROWS K COLS N M [--threads T] [--reps R]\n", argv[0], argv[0]);
            return 2;
        }
    }
    if (cfg.reps < (one[0] ? 1 : 5) || cfg.reps > 64 || cfg.thread_count <= 0 || cfg.batch_count <= 0) {
        fprintf(stderr, "bench_gemm: --reps must be 5..64 (1..64 with --one); --threads and --batch are lists like 1,2\n");
        return 2;
    }
    if (strcmp(isa, "avx2") && strcmp(isa, "avx512")) {
        fprintf(stderr, "bench_gemm: --isa must be avx2 or avx512\n");
        return 2;
    }
    if (csv_path && (fused || wg || linear || one[0])) {
        fprintf(stderr, "bench_gemm: --csv writes the per-layer tables; not with --fused, --wg, --linear or --one\n");
        return 2;
    }
    /* Both sides on one instruction set: OpenBLAS's Haswell or SkylakeX
     * kernels against the N:M path of the same width. */
    const int wide = !strcmp(isa, "avx512");
    if (!blas_native && !getenv("OPENBLAS_CORETYPE")) {
        setenv("OPENBLAS_CORETYPE", wide ? "SkylakeX" : "Haswell", 1);
        setenv("NMTRAIN_NM_PATH", wide ? "avx512" : "avx2-fma", 0);
        nmt_set_thread_pool_env();
        execv("/proc/self/exe", argv);
        perror("bench_gemm: re-exec with OPENBLAS_CORETYPE set failed; continuing");
    }
    if (one[0]) {
        nmt_set_threads(cfg.threads[cfg.thread_count - 1]);
        return run_one(one[0], one[1], one[2], (nmt_nm){one[3], one[4]}, cfg.reps);
    }
    if (cfg.quick) {
        cfg.batch_count = 1;
        cfg.batches[0] = 32;
    }
    bench_csv csv = {0};
    if (csv_path && bench_csv_open(&csv, "bench_gemm", csv_path,
                                   "model,layer,layers,direction,batch,threads,isa,rows,k,cols,dense_ms,nm,sparse_ms,"
                                   "ratio,sparse_gflops,ideal,target") != 0)
        return 2;
    print_machine();
    printf("reps %d (median after 1 warm-up)%s\n", cfg.reps, cfg.quick ? ", --quick subset" : "");
    nmt_rng rng;
    nmt_rng_seed(&rng, 2024, 7);
    if (fused || wg || linear) {
        if (fused) fused_table(&cfg, &rng);
        else if (wg) wg_table(&cfg, &rng);
        else linear_table(&cfg, &rng);
        return 0;
    }

    int capacity = LAYER_COUNT * 2 * cfg.batch_count * cfg.thread_count, count = 0;
    result *results = calloc((size_t)capacity, sizeof *results);
    for (int bi = 0; bi < cfg.batch_count; bi++)
        for (int layer = 0; layer < LAYER_COUNT; layer++) {
            if (cfg.quick && !layers[layer].quick) continue;
            for (int backward = 0; backward < 2; backward++) {
                fprintf(stderr, "  %s %s %s batch %d\n", layers[layer].model, layers[layer].name,
                        backward ? "BW" : "FW", cfg.batches[bi]);
                measure(&cfg, &rng, layer, backward, cfg.batches[bi], results + count);
                count += cfg.thread_count;
            }
        }
    for (int t = 0; t < cfg.thread_count; t++)
        for (int bi = 0; bi < cfg.batch_count; bi++) print_table(results, count, cfg.threads[t], cfg.batches[bi]);
    print_summary(results, count, &cfg);
    write_csv(results, count, isa, &csv);
    free(results);
    return bench_csv_close(&csv, "bench_gemm") ? 1 : 0;
}

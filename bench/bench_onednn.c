/* oneDNN as the dense anchor: its convolution primitives (forward_training,
 * backward-data, backward-weights; Debian's libdnnl 2.6, fp32) on every
 * sparse-eligible ResNet9 (batch 128) and ResNet50 (CIFAR stem, batch 64)
 * layer shape at 32x32 inputs, beside nmtrain's own convolution layer on
 * the same shape in the same invocation: dense (Winograd on 3x3 "same"
 * layers, lowering + OpenBLAS otherwise) and sparse (bdwp 2:8 forward and
 * backward-data, --grad-nm 2:4 weight gradient; 1:2 prunes and packs alike).
 *
 *   build/bench/bench_onednn [--isa avx2|avx512] [--threads T] [--reps R]
 *                            [--rounds N] [--quick]
 *
 * oneDNN picks its algorithm (convolution_auto) and memory formats (format
 * tag any) and is timed on the primitive alone: tensors sit in the formats
 * it chose, so the reorders a framework would add are excluded. Which
 * implementation it picked (impl_info_str) is printed per phase. nmtrain is
 * timed as the engine runs the layer, on its own CNHW tensors, lowering,
 * Winograd transforms, dY's pruning and packing included; the packing of the
 * sparse weight operands (once per step) is not. The backward pass runs once
 * (conv_backward) and is split by the layer's own phase timers: BW-data is
 * the dX GEMM with its col2im or scatter, WG the rest (lowering again, dY's
 * transform, which dense Winograd shares with BW-data, or its MVUE pruning,
 * and the dW GEMM).
 *
 * Every figure is the median of R repetitions after a warm-up; the sides
 * alternate shape by shape, round after round, and each keeps its fastest
 * round (noise only slows a run down). Ratios are oneDNN's time over
 * nmtrain's (above 1: nmtrain faster). "all (weighted)" sums each shape's
 * time times how many layers of the model have it.
 *
 * --isa pins all three to one instruction set: the program re-runs itself
 * with ONEDNN_MAX_CPU_ISA (AVX2 or AVX512_CORE), NMTRAIN_NM_PATH (avx2-fma or
 * avx512) and OPENBLAS_CORETYPE (Haswell or SkylakeX), since OpenBLAS reads
 * its setting when it is loaded; and the thread pools as the engine runs
 * them (nmt_set_thread_pool_env), so no thread pool spins on the second
 * core while the other side is timed. oneDNN's Debian build threads with OpenMP
 * (libgomp) like nmtrain, so nmt_set_threads sets both. --quick: one shape
 * per model, one repetition, one round (to check that it runs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "bench_layers.h"
#include "bench_timing.h"
#include "layers/layers.h"
#include "nmtrain.h"

char *openblas_get_corename(void);

#define MAX_REPS 64

enum side { ONEDNN, DENSE, SPARSE, SIDES };
enum phase { FW, BWD, WG, PHASES };
static const char *const side_names[SIDES] = {"oneDNN", "dense", "sparse"};

/* One shape's best-round medians (seconds) and what ran them. */
typedef struct shape_result {
    const conv_layer *layer;
    double seconds[SIDES][PHASES];
    char onednn_impl[PHASES][48];
    conv_plan plans[2]; /* dense, sparse */
} shape_result;

static void *must_alloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "bench_onednn: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

static void fill(nmt_rng *rng, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * nmt_rng_uniform(rng) - 1.0f;
}

static void check_dnnl(dnnl_status_t status, const char *what)
{
    if (status == dnnl_success) return;
    fprintf(stderr, "bench_onednn: oneDNN %s failed: %s\n", what, dnnl_status2str(status));
    exit(1);
}

static void check_nmt(int status, const char *what)
{
    if (status == 0) return;
    fprintf(stderr, "bench_onednn: nmtrain %s failed: %s\n", what, nmt_errmsg());
    exit(1);
}

/* ---- oneDNN's side ---- */

/* A primitive with its three arguments, each in the format its descriptor
 * chose, filled with values in [-1, 1). */
typedef struct onednn_primitive {
    dnnl_primitive_t primitive;
    dnnl_memory_t memory[3];
    dnnl_exec_arg_t args[3];
} onednn_primitive;

static void onednn_primitive_make(dnnl_engine_t engine, dnnl_primitive_desc_t pd, const int arg_kinds[3],
                                  const dnnl_query_t md_queries[3], nmt_rng *rng, onednn_primitive *p,
                                  char *impl, size_t impl_size)
{
    const char *info = NULL;
    check_dnnl(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info), "impl_info_str query");
    snprintf(impl, impl_size, "%s", info ? info : "?");
    check_dnnl(dnnl_primitive_create(&p->primitive, pd), "primitive creation");
    for (int a = 0; a < 3; a++) {
        const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, md_queries[a], 0);
        check_dnnl(dnnl_memory_create(&p->memory[a], md, engine, DNNL_MEMORY_ALLOCATE), "memory creation");
        void *data = NULL;
        check_dnnl(dnnl_memory_get_data_handle(p->memory[a], &data), "memory handle");
        fill(rng, data, dnnl_memory_desc_get_size(md) / sizeof(float));
        p->args[a] = (dnnl_exec_arg_t){arg_kinds[a], p->memory[a]};
    }
}

static void onednn_primitive_free(onednn_primitive *p)
{
    for (int a = 0; a < 3; a++) dnnl_memory_destroy(p->memory[a]);
    dnnl_primitive_destroy(p->primitive);
}

static void onednn_run(dnnl_stream_t stream, const onednn_primitive *p)
{
    check_dnnl(dnnl_primitive_execute(p->primitive, stream, 3, p->args), "execution");
    check_dnnl(dnnl_stream_wait(stream), "stream wait");
}

/* The three primitives of one convolution, oneDNN choosing algorithm and
 * formats; backward-data and backward-weights are hinted by the forward,
 * as a framework creates them. */
static void onednn_conv_make(dnnl_engine_t engine, const conv_layer *l, int batch, nmt_rng *rng,
                             onednn_primitive prims[PHASES], char impl[PHASES][48])
{
    const int in_hw = l->out_hw * l->stride, pad = l->ksize / 2;
    const dnnl_dims_t src_dims = {batch, l->cin, in_hw, in_hw}, dst_dims = {batch, l->cout, l->out_hw, l->out_hw},
                      weight_dims = {l->cout, l->cin, l->ksize, l->ksize};
    const dnnl_dims_t strides = {l->stride, l->stride}, padding = {pad, pad};
    dnnl_memory_desc_t src, dst, weights;
    check_dnnl(dnnl_memory_desc_init_by_tag(&src, 4, src_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
    check_dnnl(dnnl_memory_desc_init_by_tag(&dst, 4, dst_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");
    check_dnnl(dnnl_memory_desc_init_by_tag(&weights, 4, weight_dims, dnnl_f32, dnnl_format_tag_any), "memory desc");

    dnnl_convolution_desc_t fw_desc, bwd_desc, wg_desc;
    dnnl_primitive_desc_t pd[PHASES];
    check_dnnl(dnnl_convolution_forward_desc_init(&fw_desc, dnnl_forward_training, dnnl_convolution_auto, &src,
                                                  &weights, NULL, &dst, strides, padding, padding),
               "forward desc");
    check_dnnl(dnnl_primitive_desc_create(&pd[FW], &fw_desc, NULL, engine, NULL), "forward primitive desc");
    check_dnnl(dnnl_convolution_backward_data_desc_init(&bwd_desc, dnnl_convolution_auto, &src, &weights, &dst,
                                                        strides, padding, padding),
               "backward-data desc");
    check_dnnl(dnnl_primitive_desc_create(&pd[BWD], &bwd_desc, NULL, engine, pd[FW]), "backward-data primitive desc");
    check_dnnl(dnnl_convolution_backward_weights_desc_init(&wg_desc, dnnl_convolution_auto, &src, &weights, NULL,
                                                           &dst, strides, padding, padding),
               "backward-weights desc");
    check_dnnl(dnnl_primitive_desc_create(&pd[WG], &wg_desc, NULL, engine, pd[FW]),
               "backward-weights primitive desc");

    onednn_primitive_make(engine, pd[FW], (const int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
                          (const dnnl_query_t[]){dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md}, rng,
                          &prims[FW], impl[FW], sizeof impl[FW]);
    onednn_primitive_make(engine, pd[BWD], (const int[]){DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC},
                          (const dnnl_query_t[]){dnnl_query_diff_dst_md, dnnl_query_weights_md, dnnl_query_diff_src_md},
                          rng, &prims[BWD], impl[BWD], sizeof impl[BWD]);
    onednn_primitive_make(engine, pd[WG], (const int[]){DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS},
                          (const dnnl_query_t[]){dnnl_query_src_md, dnnl_query_diff_dst_md,
                                                 dnnl_query_diff_weights_md},
                          rng, &prims[WG], impl[WG], sizeof impl[WG]);
    for (int p = 0; p < PHASES; p++) dnnl_primitive_desc_destroy(pd[p]);
}

/* ---- nmtrain's side ---- */

/* The engine's layer for one shape: its tensors and the sparse operands
 * (bdwp's W packed along input channels for FW, W^T along output channels
 * for BW-data, both top-N of M). */
typedef struct nmt_conv {
    nmt_conv_shape shape;
    int c_out;
    float *x, *w, *y, *dy, *dx, *dw, *workspace;
    size_t workspace_floats;
    nmt_packed w_in, w_out;
} nmt_conv;

/* What the method rules (the one owner, nmt_layer_sparsity_of) ask of a
 * convolution of this shape that is not the model's first layer. */
static conv_operands operands_of(const conv_layer *l, const nmt_method_config *method)
{
    const int in_hw = l->out_hw * l->stride;
    const nmt_node node = {.op = NMT_OP_CONV, .input = 0, .input2 = -1, .c_in = l->cin, .h_in = in_hw,
                           .w_in = in_hw, .c_out = l->cout, .h_out = l->out_hw, .w_out = l->out_hw,
                           .kh = l->ksize, .kw = l->ksize, .stride = l->stride, .pad = l->ksize / 2};
    nmt_layer_sparsity rule;
    nmt_layer_sparsity_of(&node, method, &rule);
    return conv_operands_of(&rule);
}

static void nmt_conv_make(const conv_layer *l, int batch, const nmt_method_config methods[2], nmt_rng *rng,
                          conv_plan plans[2], nmt_conv *c)
{
    const int in_hw = l->out_hw * l->stride, k = l->ksize * l->ksize * l->cin;
    c->shape = (nmt_conv_shape){.c = l->cin, .n = batch, .h = in_hw, .w = in_hw, .kh = l->ksize, .kw = l->ksize,
                                .stride = l->stride, .pad = l->ksize / 2, .ho = l->out_hw, .wo = l->out_hw};
    c->c_out = l->cout;
    c->workspace_floats = 0;
    for (int s = 0; s < 2; s++) {
        conv_plan_make(&c->shape, l->cout, operands_of(l, &methods[s]), &plans[s]);
        if (plans[s].workspace_floats > c->workspace_floats) c->workspace_floats = plans[s].workspace_floats;
    }
    const size_t x_floats = (size_t)l->cin * batch * in_hw * in_hw;
    const size_t y_floats = (size_t)l->cout * batch * l->out_hw * l->out_hw;
    c->x = must_alloc(sizeof(float) * x_floats), c->dx = must_alloc(sizeof(float) * x_floats);
    c->y = must_alloc(sizeof(float) * y_floats), c->dy = must_alloc(sizeof(float) * y_floats);
    c->w = must_alloc(sizeof(float) * l->cout * k), c->dw = must_alloc(sizeof(float) * l->cout * k);
    c->workspace = must_alloc(sizeof(float) * c->workspace_floats);
    fill(rng, c->x, x_floats);
    fill(rng, c->dy, y_floats);
    fill(rng, c->w, (size_t)l->cout * k);
    const nmt_nm nm = methods[1].nm;
    const size_t in_count = nmt_packed_value_count(l->cout, k, nm), out_count = nmt_packed_value_count(k, l->cout, nm);
    c->w_in = (nmt_packed){.values = must_alloc(sizeof(float) * in_count), .index = must_alloc(in_count)};
    c->w_out = (nmt_packed){.values = must_alloc(sizeof(float) * out_count), .index = must_alloc(out_count)};
    nmt_pack_topn((nmt_view){c->w, l->cout, k, k, 1}, nm, &c->w_in);
    nmt_pack_topn((nmt_view){c->w, k, l->cout, 1, k}, nm, &c->w_out);
}

static void nmt_conv_free(nmt_conv *c)
{
    free(c->x), free(c->dx), free(c->y), free(c->dy), free(c->w), free(c->dw), free(c->workspace);
    free(c->w_in.values), free(c->w_in.index), free(c->w_out.values), free(c->w_out.index);
}

static void nmt_conv_forward(const conv_plan *plan, const nmt_conv *c)
{
    const nmt_operand w = {c->w, plan->operands.fw_nm ? &c->w_in : NULL};
    check_nmt(conv_forward(plan, c->shape.n, w, NULL, c->x, c->workspace, c->workspace_floats, c->y, NULL),
              "conv_forward");
}

/* One backward pass, split by the layer's phase timers into BW-data and WG. */
static void nmt_conv_backward(const conv_plan *plan, const nmt_conv *c, double *bwd, double *wg)
{
    const nmt_operand w_t = {c->w, plan->operands.bw_nm ? &c->w_out : NULL}, dy_bw = {c->dy, NULL};
    const nmt_mvue_draws draws = {7, (int64_t)c->shape.n * c->shape.ho * c->shape.wo, 0}; /* the whole batch */
    conv_timing timing = {{0}};
    check_nmt(conv_backward(plan, c->shape.n, w_t, c->x, c->dy, draws, dy_bw, c->dw, NULL, c->dx, 0, c->workspace,
                            c->workspace_floats, &timing),
              "conv_backward");
    *bwd = timing.seconds[CONV_BACKWARD_DATA];
    *wg = timing.seconds[CONV_LOWER_BW] + timing.seconds[CONV_WEIGHT_GRAD] + timing.seconds[CONV_PRUNE_WG];
}

/* ---- measuring ---- */

static void keep_best(double *best, double seconds)
{
    if (*best == 0.0 || seconds < *best) *best = seconds;
}

static void measure_shape(dnnl_engine_t engine, dnnl_stream_t stream, const conv_layer *l, int batch,
                          const nmt_method_config methods[2], int reps, int rounds, nmt_rng *rng, shape_result *r)
{
    memset(r, 0, sizeof *r);
    r->layer = l;
    onednn_primitive prims[PHASES];
    nmt_conv c;
    onednn_conv_make(engine, l, batch, rng, prims, r->onednn_impl);
    nmt_conv_make(l, batch, methods, rng, r->plans, &c);
    for (int round = 0; round < rounds; round++) {
        for (int p = 0; p < PHASES; p++) {
            double t;
            TIME_MEDIAN(reps, t, onednn_run(stream, &prims[p]));
            keep_best(&r->seconds[ONEDNN][p], t);
        }
        for (int s = 0; s < 2; s++) {
            const conv_plan *plan = &r->plans[s];
            double t, bwd[MAX_REPS], wg[MAX_REPS];
            TIME_MEDIAN(reps, t, nmt_conv_forward(plan, &c));
            keep_best(&r->seconds[DENSE + s][FW], t);
            nmt_conv_backward(plan, &c, &bwd[0], &wg[0]); /* warm-up */
            for (int rep = 0; rep < reps; rep++) nmt_conv_backward(plan, &c, &bwd[rep], &wg[rep]);
            keep_best(&r->seconds[DENSE + s][BWD], median(bwd, reps));
            keep_best(&r->seconds[DENSE + s][WG], median(wg, reps));
        }
    }
    for (int p = 0; p < PHASES; p++) onednn_primitive_free(&prims[p]);
    nmt_conv_free(&c);
}

/* ---- reporting ---- */

static double phase_sum(const double seconds[PHASES])
{
    return seconds[FW] + seconds[BWD] + seconds[WG];
}

static void print_ratios(const char *label, const double seconds[SIDES][PHASES])
{
    printf("| %s |", label);
    for (int s = DENSE; s < SIDES; s++) {
        for (int p = 0; p < PHASES; p++) printf(" %.2fx |", seconds[ONEDNN][p] / seconds[s][p]);
        printf(" %.2fx |", phase_sum(seconds[ONEDNN]) / phase_sum(seconds[s]));
    }
    for (int p = 0; p < PHASES; p++) printf(" %.2fx |", seconds[DENSE][p] / seconds[SPARSE][p]);
    printf(" %.2fx |\n", phase_sum(seconds[DENSE]) / phase_sum(seconds[SPARSE]));
}

static void print_model(const char *model, int batch, const shape_result *results, int count)
{
    double total[SIDES][PHASES] = {{0}};
    printf("\n### %s, batch %d: ms per phase\n\n| layer | Cin>Cout kxk/s, out | x |", model, batch);
    for (int s = 0; s < SIDES; s++) printf(" %s FW | BW-data | WG | sum |", side_names[s]);
    printf("\n|---|---|--:|");
    for (int s = 0; s < SIDES; s++) printf("--:|--:|--:|--:|");
    printf("\n");
    for (int i = 0; i < count; i++) {
        const conv_layer *l = results[i].layer;
        printf("| %s | %d>%d %dx%d/%d, %dx%d | %d |", l->name, l->cin, l->cout, l->ksize, l->ksize, l->stride,
               l->out_hw, l->out_hw, l->count);
        for (int s = 0; s < SIDES; s++) {
            const double *t = results[i].seconds[s];
            printf(" %.2f | %.2f | %.2f | %.2f |", t[FW] * 1e3, t[BWD] * 1e3, t[WG] * 1e3, phase_sum(t) * 1e3);
            for (int p = 0; p < PHASES; p++) total[s][p] += l->count * t[p];
        }
        printf("\n");
    }
    printf("| all (weighted) | | |");
    for (int s = 0; s < SIDES; s++)
        printf(" **%.1f** | **%.1f** | **%.1f** | **%.1f** |", total[s][FW] * 1e3, total[s][BWD] * 1e3,
               total[s][WG] * 1e3, phase_sum(total[s]) * 1e3);
    printf("\n\n### %s, batch %d: ratios (oneDNN / nmtrain; sparse vs dense = dense / sparse)\n\n"
           "| layer | dense FW | BW-data | WG | sum | sparse FW | BW-data | WG | sum | sparse vs dense FW | BW-data | "
           "WG | sum |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
           model, batch);
    for (int i = 0; i < count; i++) print_ratios(results[i].layer->name, results[i].seconds);
    print_ratios("**all (weighted)**", total);
    printf("\n### %s: what ran (oneDNN's impl_info_str; nmtrain's paths FW / BW-data / WG)\n\n"
           "| layer | oneDNN FW | oneDNN BW-data | oneDNN WG | nmtrain dense | nmtrain sparse |\n"
           "|---|---|---|---|---|---|\n",
           model);
    for (int i = 0; i < count; i++) {
        const shape_result *r = &results[i];
        printf("| %s | %s | %s | %s |", r->layer->name, r->onednn_impl[FW], r->onednn_impl[BWD], r->onednn_impl[WG]);
        for (int s = 0; s < 2; s++)
            printf(" %s / %s / %s |", conv_path_name(r->plans[s].fw), conv_path_name(r->plans[s].bw),
                   conv_path_name(r->plans[s].wg));
        printf("\n");
    }
}

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

static void print_machine(int threads, int reps, int rounds, int quick)
{
    char model[256], load[64] = "?";
    bench_cpu_model(model, sizeof model);
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        double one, five, fifteen;
        if (fscanf(f, "%lf %lf %lf", &one, &five, &fifteen) == 3)
            snprintf(load, sizeof load, "%.2f %.2f %.2f", one, five, fifteen);
        fclose(f);
    }
    char date[64];
    const time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    const dnnl_version_t *v = dnnl_version();
    printf("## bench_onednn: %s\n\ncpu: %s, %ld online cores, load average %s\n"
           "threads %d; oneDNN %d.%d.%d, ISA %s (ONEDNN_MAX_CPU_ISA=%s); OpenBLAS core %s; N:M path %s\n"
           "median of %d after a warm-up, best of %d round%s%s\n",
           date, model, sysconf(_SC_NPROCESSORS_ONLN), load, threads, v->major, v->minor, v->patch,
           isa_name(dnnl_get_effective_cpu_isa()), getenv("ONEDNN_MAX_CPU_ISA"), openblas_get_corename(),
           nmt_gemm_nm_path(), reps, rounds, rounds > 1 ? "s" : "", quick ? "; --quick: one shape per model" : "");
}

/* Re-runs the program with every library pinned to the instruction set,
 * unless this process already runs so. */
static void pin_isa(char **argv, int wide)
{
    const char *settings[3][2] = {{"ONEDNN_MAX_CPU_ISA", wide ? "AVX512_CORE" : "AVX2"},
                                  {"NMTRAIN_NM_PATH", wide ? "avx512" : "avx2-fma"},
                                  {"OPENBLAS_CORETYPE", wide ? "SkylakeX" : "Haswell"}};
    int pinned = getenv("OPENBLAS_THREAD_TIMEOUT") && getenv("OMP_WAIT_POLICY");
    for (int i = 0; i < 3; i++) {
        const char *now = getenv(settings[i][0]);
        pinned = pinned && now && !strcmp(now, settings[i][1]);
        setenv(settings[i][0], settings[i][1], 1);
    }
    if (pinned) return;
    nmt_set_thread_pool_env();
    execv("/proc/self/exe", argv);
    perror("bench_onednn: re-running with the instruction set pinned failed");
    exit(1);
}

int main(int argc, char **argv)
{
    int threads = 2, reps = 5, rounds = 2, quick = 0;
    const char *isa = "avx2";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--isa avx2|avx512] [--threads T] [--reps R] [--rounds N] [--quick]\n", argv[0]);
            return 2;
        }
    }
    if (strcmp(isa, "avx2") && strcmp(isa, "avx512")) {
        fprintf(stderr, "bench_onednn: --isa must be avx2 or avx512\n");
        return 2;
    }
    if (threads < 1 || reps < 1 || reps > MAX_REPS || rounds < 1) {
        fprintf(stderr, "bench_onednn: --threads and --rounds must be positive, --reps 1..%d\n", MAX_REPS);
        return 2;
    }
    const int wide = !strcmp(isa, "avx512");
    __builtin_cpu_init();
    if (wide ? !__builtin_cpu_supports("avx512f") : !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        fprintf(stderr, "bench_onednn: this CPU does not run --isa %s\n", isa);
        return 2;
    }
    pin_isa(argv, wide);
    if (quick) reps = 1, rounds = 1;

    nmt_set_threads(threads); /* before oneDNN plans its primitives for a thread count */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    check_dnnl(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine creation");
    check_dnnl(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "stream creation");
    print_machine(threads, reps, rounds, quick);

    nmt_method_config methods[2]; /* dense; bdwp 2:8 with --grad-nm 2:4 */
    nmt_method_defaults(NMT_METHOD_DENSE, (nmt_nm){1, 1}, &methods[0]);
    nmt_method_defaults(NMT_METHOD_BDWP, (nmt_nm){2, 8}, &methods[1]);
    methods[1].grad_nm = (nmt_nm){2, 4};
    printf("sparse = bdwp %d:%d (FW, BW-data) with --grad-nm %d:%d (WG)\n", methods[1].nm.n, methods[1].nm.m,
           methods[1].grad_nm.n, methods[1].grad_nm.m);

    const struct {
        const char *name;
        const conv_layer *shapes;
        int count, batch;
    } models[] = {{"ResNet9", layers, LAYER_COUNT, 128}, {"ResNet50 (CIFAR stem)", resnet50_layers, RESNET50_LAYER_COUNT, 64}};
    nmt_rng rng;
    nmt_rng_seed(&rng, 2026, 18);
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        shape_result results[RESNET50_LAYER_COUNT];
        int count = 0;
        const char *model = models[m].shapes[0].model;
        for (int i = 0; i < models[m].count; i++) {
            const conv_layer *l = &models[m].shapes[i];
            if (strcmp(l->model, model) || (quick && (!l->quick || count))) continue;
            fprintf(stderr, "  %s %s batch %d\n", model, l->name, models[m].batch);
            measure_shape(engine, stream, l, models[m].batch, methods, reps, rounds, &rng, &results[count++]);
        }
        print_model(models[m].name, models[m].batch, results, count);
    }
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return 0;
}

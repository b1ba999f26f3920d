/* nmtrain/sim.h: the SAT accelerator simulator (see docs/sat.md).
 *
 * SAT is the paper's FPGA training accelerator: an R x C systolic array of
 * FP16-multiply / FP32-accumulate PEs with a dense and an N:M sparse mode, a
 * sparse weight generator, a vector engine, double-buffered on-chip buffers
 * and DDR4. The simulator answers, for one training iteration of a network,
 * how many cycles every layer's forward (FW), backward-data (BW),
 * weight-gradient (WG), weight update and sparse-weight generation take, where
 * the time goes (compute, memory stall, pipeline fill/drain), the DRAM and
 * SRAM traffic and the energy. It is analytical at tile granularity (closed
 * forms per class of identical tiles), so a full ResNet-50 ImageNet iteration
 * takes milliseconds and sweeps of thousands of design points are practical.
 *
 * Typical use:
 *
 *     nmt_sim_config cfg;
 *     nmt_sim_config_default(&cfg);
 *     if (nmt_sim_config_load(&cfg, "configs/sat/sat.cfg")) die(nmt_errmsg());
 *     nmt_model_desc desc;                      (or nmt_model_describe)
 *     if (nmt_sim_zoo_describe("resnet50", &desc)) die(nmt_errmsg());
 *     nmt_sim_options opts;
 *     nmt_sim_options_default(&opts);           (bdwp 2:8, training)
 *     nmt_sim_workload wl;
 *     if (nmt_sim_workload_from_model(&desc, 128, &opts, &wl)) die(nmt_errmsg());
 *     nmt_sim_result res;
 *     if (nmt_sim_run(&cfg, &wl, &res)) die(nmt_errmsg());
 *     nmt_sim_report_table(stdout, &cfg, &wl, &res, NULL, 0);
 *     nmt_sim_result_free(&res);
 *     nmt_sim_workload_free(&wl);
 *
 * Every architectural constant is a field of nmt_sim_config, settable by name
 * from an INI file or a "key=value" string; the names are listed by
 * nmt_sim_config_nkeys() / nmt_sim_config_key() and in docs/sat.md. All
 * functions that can fail return 0 or -1 with a one-line nmt_errmsg(). */
#ifndef NMTRAIN_SIM_H
#define NMTRAIN_SIM_H

#include <stdint.h>
#include <stdio.h>

#include "nmtrain/model.h"
#include "nmtrain/nm.h"
#include "nmtrain/sparsity.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration -------------------------------------------------------- */

typedef enum nmt_sim_dataflow {
    NMT_SIM_AUTO = 0, /* the scheduler picks per GEMM (config value "auto") */
    NMT_SIM_OS,       /* output stationary */
    NMT_SIM_WS,       /* weight stationary */
    NMT_SIM_IS        /* input stationary (SCALE-Sim's "is"; dense GEMMs only) */
} nmt_sim_dataflow;

const char *nmt_sim_dataflow_name(nmt_sim_dataflow df);

typedef struct nmt_sim_config {
    char run_name[64];
    /* array */
    double clock_mhz;          /* 200 */
    int rows, cols;            /* 32 x 32 PEs */
    int max_m;                 /* largest supported N:M group size, 16 */
    int adder_latency;         /* FP32 adder pipeline depth in cycles, 8 */
    int interleave_outputs;    /* outputs interleaved per PE when interleave is on; 0 = adder latency */
    /* sparse weight generator */
    int gen_lanes;             /* 32 lanes, one element per lane per cycle */
    double gen_tnm_factor;     /* cycles per element of the transposable (tnm) greedy, relative to top-N: 2 */
    /* vector engine */
    int vec_lanes;             /* 32 FP32 lanes */
    double vec_fw[NMT_OP_COUNT], vec_bw[NMT_OP_COUNT]; /* FP32 ops per element per op type */
    double vec_loss_fw, vec_loss_bw; /* softmax cross-entropy, ops per logit */
    double vec_grad_prune;     /* --grad-nm: MVUE pruning ops per dY element (draw, |a|+|b|, scale, compare, select): 3 */
    double vec_softmax_fw, vec_softmax_bw; /* attention softmax, ops per score */
    double upd_ops;            /* optimiser ops per parameter (SGD momentum + weight decay): 4 */
    double upd_decay_ops;      /* extra ops per parameter for the SR-STE decay term: 2 */
    /* buffers (physical capacity; double buffering splits each in two halves) */
    double ibuf_kib, wbuf_kib, obuf_kib; /* 4096, 2048, 2048 */
    /* numbers */
    int act_bytes;             /* FP16 activations and gradients: 2 */
    int weight_bytes;          /* FP16 GEMM weight operand: 2 */
    int psum_bytes;            /* FP32 accumulators / dW: 4 */
    int master_bytes;          /* FP32 master weights and momentum: 4 */
    int index_bits;            /* per kept value in the packed N:M stream; 0 = ceil(log2 M) */
    /* DRAM */
    int dram_channels;         /* 4 */
    double dram_gbps;          /* per channel, GB/s: 19.2 (DDR4-2400 x 64 bit) */
    double dram_efficiency;    /* 0.8 */
    double dram_words_per_cycle; /* SCALE-Sim "Bandwidth" override in act words/cycle; 0 = use the above */
    int dram_unlimited;        /* 0; 1: no bandwidth limit (SCALE-Sim "InterfaceBandwidth: CALC") */
    /* the three dataflow optimisations */
    int opt_interleave;        /* 1 */
    int opt_pregen;            /* 1 */
    int opt_schedule;          /* 1 */
    int overlap_units;         /* 0: layer-phases one at a time; 1: array, vector engine and generator
                                  overlap as far as data dependencies allow (see docs/sat.md) */
    nmt_sim_dataflow dataflow; /* auto; a fixed value restricts the scheduler (SCALE-Sim "Dataflow") */
    nmt_sim_dataflow fixed_dataflow; /* dataflow of the fixed schedule (scheduler off): os */
    int fixed_tile_m, fixed_tile_n;  /* tile of the fixed schedule: 128 x 1024 */
    /* energy per action (defaults: see docs/sat.md) */
    double pj_mac;             /* FP16 multiply + FP32 add: 8 pJ */
    double pj_sram_byte;       /* BRAM/URAM access: 1.5 pJ/B */
    double pj_dram_byte;       /* DDR4 incl. I/O: 120 pJ/B */
    double pj_vec_op;          /* FP32 vector op: 12 pJ */
    double pj_gen_elem;        /* one generator element (compare + select): 2 pJ */
    double static_w;           /* static + clock power: 6 W */
    /* resource check: VU9P budget and per-unit costs; the PE and generator
       figures are Yosys's synthesis of hw/rtl (docs/sat.md) */
    int fpga_dsp, fpga_bram36, fpga_uram; /* 6840, 2160, 960 */
    int fpga_lut, fpga_ff;     /* 1182240, 2364480 */
    double dsp_per_pe, dsp_per_vec_lane, dsp_per_gen_lane; /* 1, 5, 0 */
    /* LUTs and FFs per PE, by the multiplexer max_m provides: 1 (dense),
       2..8, 9..16 (also used above 16, which the RTL does not build) */
    double lut_per_pe_dense, ff_per_pe_dense; /* 1663, 536 */
    double lut_per_pe_m8, ff_per_pe_m8;       /* 1923, 764 */
    double lut_per_pe_m16, ff_per_pe_m16;     /* 1981, 1022 */
    double lut_per_gen_lane, ff_per_gen_lane; /* 5638, 1109 (an M <= 16 lane) */
    int ibuf_uram, wbuf_uram, obuf_uram; /* which buffers map to URAM (else BRAM36): 1, 1, 0 */
    int gen_bram_per_lane;     /* staging BRAM36 per generator lane: 1 */
} nmt_sim_config;

void nmt_sim_config_default(nmt_sim_config *cfg);
/* Reads an INI file: our sections ([array], [generator], [vector], [buffers],
 * [numbers], [dram], [dataflow], [energy], [resources], [general]; [sat]
 * takes any of our keys) and
 * SCALE-Sim's ([general], [architecture_presets], [run_presets], [sparsity],
 * [layout]). Both "key = value" and "Key: value" work; '#' and ';' start
 * comments. Unknown sections and unknown keys of our sections are errors
 * naming file:line; SCALE-Sim keys with no counterpart are ignored. */
int nmt_sim_config_load(nmt_sim_config *cfg, const char *path);
/* Sets one value by key name (case-insensitive): "rows", "dram_channels",
 * "opt_pregen", "vec_batchnorm_fw", ... `where` names the source in errors. */
int nmt_sim_config_set(nmt_sim_config *cfg, const char *key, const char *value, const char *where);
/* Parses "key=value". */
int nmt_sim_config_assign(nmt_sim_config *cfg, const char *assignment, const char *where);
/* Reads a numeric value by key name. */
int nmt_sim_config_get(const nmt_sim_config *cfg, const char *key, double *value);
/* Checks ranges (positive sizes, max_m <= 32, ...). */
int nmt_sim_config_check(const nmt_sim_config *cfg);
/* Writes every key as an INI file that nmt_sim_config_load reads back. */
void nmt_sim_config_write(FILE *out, const nmt_sim_config *cfg);
/* Number of keys and the i-th key's name, section and one-line help. */
int nmt_sim_config_nkeys(void);
const char *nmt_sim_config_key(int i, const char **section, const char **help);

/* DRAM bytes per cycle of a configuration (channels x GB/s x efficiency, or
 * SCALE-Sim's Bandwidth in words; INFINITY when dram_unlimited). */
double nmt_sim_dram_bytes_per_cycle(const nmt_sim_config *cfg);

/* ---- workloads ------------------------------------------------------------ */

typedef enum nmt_sim_phase {
    NMT_SIM_FW = 0,
    NMT_SIM_BW,
    NMT_SIM_WG,
    NMT_SIM_UPDATE,
    NMT_SIM_GEN,
    NMT_SIM_NPHASES
} nmt_sim_phase;

const char *nmt_sim_phase_name(nmt_sim_phase p);

/* One GEMM: out[m x n] = A[m x k] B[k x n], `count` independent times.
 * A is the weight-like operand (rows = output channels), B the
 * activation-like one (columns = pixels or tokens). At most one operand is
 * N:M sparse, with its groups along k. */
typedef struct nmt_sim_gemm {
    int64_t m, n, k, count;
    nmt_nm nm;          /* n == m (or 0) means dense */
    int sparse_b;       /* 1: B is the sparse operand (sdgp's pruned dY); 0: A is */
    double a_dram_ratio, b_dram_ratio; /* unique DRAM bytes per lowered SRAM byte (im2col done on chip) */
    int a_bytes, b_bytes; /* bytes per operand element (FP16: 2) */
    int out_bytes;      /* bytes per output written back: 2 (activations/gradients) or 4 (dW) */
} nmt_sim_gemm;

#define NMT_SIM_MAX_GEMMS 4

typedef struct nmt_sim_layer {
    char name[NMT_NAME_MAX];
    nmt_op op;
    int node;                    /* index in the model description, or topology row */
    int n_gemm[NMT_SIM_NPHASES];
    nmt_sim_gemm gemm[NMT_SIM_NPHASES][NMT_SIM_MAX_GEMMS];
    double vec_ops[NMT_SIM_NPHASES];   /* vector-engine FP32 ops (update included) */
    double vec_bytes[NMT_SIM_NPHASES]; /* DRAM bytes streamed by the vector engine */
    int64_t params;              /* parameters updated by the optimiser */
    int64_t weights;             /* GEMM weight elements (generator input) */
    nmt_nm nm;                   /* the layer's N:M (dense when not sparse) */
    int sparse_fw, sparse_bw;    /* the FW / BW GEMM has an N:M operand (sdgp's BW: dY) */
    double gen_elems_per_dir;    /* elements the generator reads per direction */
    int gen_dirs;                /* 0, 1 (srste, tnm) or 2 (bdwp) directions */
    double gen_runtime_elems;    /* sdgp: dY elements pruned every step, on the critical path before BW */
    double gen_factor;           /* cycles per element relative to top-N (tnm: gen_tnm_factor) */
    double gen_interval;         /* refresh every this many steps (tnm: 40) */
    int needs_fp16_copy;         /* the update writes a dense FP16 weight copy */
    char note[96];               /* the method rule's reason (nmt_layer_sparsity.why) */
} nmt_sim_layer;

typedef struct nmt_sim_options {
    nmt_method_config method;    /* bdwp 2:8 with the spec's defaults; its rule is nmtrain/sparsity.h's */
    int training;                /* 1; 0 = forward only (inference, like SCALE-Sim) */
    int scalesim;                /* 0; 1: SCALE-Sim v2's accounting of every GEMM (unlimited buffers and
                                    DRAM, its folds, fill and drain; needs a fixed dataflow; docs/sat.md) */
} nmt_sim_options;

void nmt_sim_options_default(nmt_sim_options *opts);

/* A workload is a node list (the model description's, or one made from a
 * SCALE-Sim topology) plus batch and method. The per-layer GEMMs and vector
 * work (nmt_sim_layer) are derived from it by nmt_sim_run under the
 * configuration, so a sweep over any key needs no rebuild and the dense
 * baseline is the same workload with opts.method.kind = NMT_METHOD_DENSE. */
typedef struct nmt_sim_workload {
    char name[64];
    int batch;
    nmt_sim_options opts;
    int classes;                 /* > 0 appends a softmax cross-entropy loss */
    int n_nodes;
    nmt_node *nodes;
    nmt_nm *node_nm;             /* per node N:M override ({0,0}: opts.method.nm; n == m: dense) */
} nmt_sim_workload;

/* From a model description (nmt_model_describe), at a batch size. */
int nmt_sim_workload_from_model(const nmt_model_desc *desc, int batch, const nmt_sim_options *opts,
                                nmt_sim_workload *out);
/* From a SCALE-Sim topology CSV, conv form or GEMM form, optional N:M
 * "Sparsity" column (per-layer N:M overriding opts->nm; "dense" or N == M keeps
 * a layer dense). Conv rows have no padding (SCALE-Sim's convention); GEMM rows
 * "M, N, K" are ifmap M x K times filter K x N. Errors name file:line. */
int nmt_sim_workload_from_topology(const char *path, int batch, const nmt_sim_options *opts,
                                   nmt_sim_workload *out);
/* A deep copy (then change out->opts, e.g. for the dense baseline). */
int nmt_sim_workload_copy(const nmt_sim_workload *src, nmt_sim_workload *out);
void nmt_sim_workload_free(nmt_sim_workload *wl);

/* Derives the simulator's layers (GEMMs per phase, vector work, generator
 * work) from a workload. Checks every GEMM layer's MACs against
 * nmt_node_macs. *layers is malloc'd. */
int nmt_sim_layers(const nmt_sim_config *cfg, const nmt_sim_workload *wl, nmt_sim_layer **layers, int *n_layers);

/* The paper's zoo: resnet9 (CIFAR-10), vit (CIFAR-10), vgg19 (CIFAR-100),
 * resnet18 (Tiny ImageNet 64x64, 200 classes), resnet50 (ImageNet 224x224). */
int nmt_sim_zoo_count(void);
const char *nmt_sim_zoo_name(int i);
int nmt_sim_zoo_describe(const char *name, nmt_model_desc *out);

/* ---- schedules -------------------------------------------------------------- */

typedef struct nmt_sim_schedule {
    nmt_sim_dataflow dataflow;
    int64_t tm, tn, tk;     /* tile: output rows x output columns x reduction (dense) */
    int order;              /* 0: m-tiles outer (A tile resident), 1: n-tiles outer (B resident) */
    int double_buffer;
    int interleave;         /* outputs interleaved per PE (OS) */
} nmt_sim_schedule;

/* Cost of one GEMM (all `count` instances) under a schedule. */
typedef struct nmt_sim_cost {
    double cycles, compute, stall, fill;
    double macs, macs_dense;
    double dram_bytes, sram_read, sram_write; /* bytes */
} nmt_sim_cost;

/* Evaluates a schedule; returns -1 if its tiles do not fit the buffers. */
int nmt_sim_gemm_eval(const nmt_sim_config *cfg, const nmt_sim_gemm *g, const nmt_sim_schedule *s,
                      nmt_sim_cost *out);
/* The schedule used: the offline scheduler's best (opt_schedule on) or the
 * fixed one. */
int nmt_sim_gemm_schedule(const nmt_sim_config *cfg, const nmt_sim_gemm *g, nmt_sim_schedule *s,
                          nmt_sim_cost *out);
int nmt_sim_fixed_schedule(const nmt_sim_config *cfg, const nmt_sim_gemm *g, nmt_sim_schedule *s);
/* An OS tile of tm x tn outputs with the schedule's interleave I: each PE
 * holds ir x ic neighbouring outputs (ic = min(I, ceil(tn/cols)) first, then
 * ir = min(ceil(I/ic), ceil(tm/rows))). */
void nmt_sim_os_interleave(const nmt_sim_config *cfg, const nmt_sim_schedule *s, int64_t tm, int64_t tn, int64_t *ir,
                           int64_t *ic);
/* "ws 256x4096x576 m-outer db I=1" */
void nmt_sim_schedule_str(const nmt_sim_schedule *s, char *buf, size_t size);

/* ---- results ---------------------------------------------------------------- */

typedef struct nmt_sim_stats {
    double cycles;       /* on the critical path: compute + stall + fill */
    double compute, stall, fill;
    double hidden;       /* work overlapped off the critical path (pre-generation) */
    double macs, macs_dense;
    double dram_bytes, sram_read, sram_write;
    double vec_ops, gen_elems;
    double energy_pj;
} nmt_sim_stats;

typedef struct nmt_sim_layer_result {
    nmt_sim_layer layer;
    nmt_sim_stats phase[NMT_SIM_NPHASES];
    nmt_sim_stats total;
    nmt_sim_schedule sched[NMT_SIM_NPHASES][NMT_SIM_MAX_GEMMS];
    nmt_sim_cost cost[NMT_SIM_NPHASES][NMT_SIM_MAX_GEMMS]; /* each GEMM's cost under its schedule */
} nmt_sim_layer_result;

/* The vector engine's and the controllers' LUTs and FFs are not counted
 * (no RTL of them); their DSPs are. */
typedef struct nmt_sim_resources {
    double dsp, lut, ff, bram36, uram;               /* totals */
    double array_dsp, array_lut, array_ff;           /* the R x C PEs */
    double pe_lut, pe_ff;                            /* one PE, as chosen by max_m */
    double gen_lut, gen_ff;                          /* the generator's lanes */
    double dsp_frac, lut_frac, ff_frac, bram_frac, uram_frac;
    int over_budget;                                 /* any fraction above 1: reported, never refused */
} nmt_sim_resources;
/* "DSP LUT" etc.: the resources over the device's budget, "" if none. */
const char *nmt_sim_resources_over(const nmt_sim_resources *res, char *buf, size_t size);

typedef struct nmt_sim_result {
    int n_layers;
    nmt_sim_layer_result *layers;
    nmt_sim_stats phase[NMT_SIM_NPHASES]; /* summed over layers */
    nmt_sim_stats total;
    double overlap_saved;    /* overlap_units: busy cycles hidden by running units concurrently
                                (total.cycles is then the makespan, less than the phases' sum) */
    double seconds;          /* per iteration */
    double gops, gops_dense; /* executed / dense-equivalent (2 ops per MAC) */
    double utilisation;      /* executed MACs / (cycles * R * C) */
    double energy_j, power_w;
    double images_per_s;
    nmt_sim_resources res;
} nmt_sim_result;

int nmt_sim_run(const nmt_sim_config *cfg, const nmt_sim_workload *wl, nmt_sim_result *out);
void nmt_sim_result_free(nmt_sim_result *res);
void nmt_sim_resources_check(const nmt_sim_config *cfg, nmt_sim_resources *out);
/* Generator cycles for `elems` elements of one direction. */
double nmt_sim_gen_cycles(const nmt_sim_config *cfg, double elems, double factor);

/* ---- reports ------------------------------------------------------------------ */

/* `base` (may be NULL) is the dense baseline for the speedup line. `detail`
 * prints one row per phase instead of one per layer. */
void nmt_sim_report_table(FILE *out, const nmt_sim_config *cfg, const nmt_sim_workload *wl,
                          const nmt_sim_result *res, const nmt_sim_result *base, int detail);
int nmt_sim_report_csv(const char *path, const nmt_sim_workload *wl, const nmt_sim_result *res);
/* SCALE-Sim style COMPUTE_REPORT.csv: one row per GEMM phase. */
int nmt_sim_report_compute(const char *path, const nmt_sim_config *cfg, const nmt_sim_workload *wl,
                           const nmt_sim_result *res);
int nmt_sim_report_json(const char *path, const nmt_sim_config *cfg, const nmt_sim_workload *wl,
                        const nmt_sim_result *res, const nmt_sim_result *base);
/* Every GEMM's schedule, human-readable. */
void nmt_sim_report_schedule(FILE *out, const nmt_sim_config *cfg, const nmt_sim_workload *wl,
                             const nmt_sim_result *res);

/* ---- ablation and sweeps ---------------------------------------------------- */

#define NMT_SIM_ABLATIONS 5
typedef struct nmt_sim_ablation {
    const char *label[NMT_SIM_ABLATIONS];  /* all on, interleave off, pregen off, schedule off, all off */
    double cycles[NMT_SIM_ABLATIONS];
    double dense_cycles[NMT_SIM_ABLATIONS]; /* dense baseline under the same switches */
    double energy_j[NMT_SIM_ABLATIONS];
} nmt_sim_ablation;
int nmt_sim_ablation_run(const nmt_sim_config *cfg, const nmt_sim_workload *wl, nmt_sim_ablation *out);

#define NMT_SIM_SWEEP_MAX_KEYS 8
typedef struct nmt_sim_sweep_axis {
    char key[48];
    int n_values;
    double *values;
} nmt_sim_sweep_axis;

typedef struct nmt_sim_sweep_point {
    double cycles, dense_cycles, seconds, speedup, gops_dense, energy_j, utilisation;
    double dsp_frac, lut_frac, ff_frac, bram_frac, uram_frac;
    int over_budget;
} nmt_sim_sweep_point;

/* Parses "key=v1,v2,...", "key=start:stop:step" or "key=start:stop*factor".
 * Keys are configuration keys, or nm_n, nm_m and batch, which change the
 * workload (its N:M ratio and batch size) instead. */
int nmt_sim_sweep_parse(const char *text, nmt_sim_sweep_axis *axis);
void nmt_sim_sweep_axis_free(nmt_sim_sweep_axis *axis);
/* Runs the cartesian product of the axes in parallel (OpenMP); each point
 * simulates the workload and its dense baseline. Writes a CSV when csv_path
 * is not NULL. points gets n = product of axis sizes entries (caller frees). */
int nmt_sim_sweep_run(const nmt_sim_config *cfg, const nmt_sim_workload *wl, const nmt_sim_sweep_axis *axes,
                      int n_axes, const char *csv_path, nmt_sim_sweep_point **points, int *n_points);

/* ---- functional check -------------------------------------------------------- */

/* The weight generator: packs the top-N of every group of M along k of a
 * rows x k matrix (ties keep the lower index), as the hardware's streaming
 * sorter does. values/index hold rows * (k/M) * N entries. */
void nmt_sim_generate(const float *w, int rows, int k, nmt_nm nm, float *values, uint8_t *index);

typedef struct nmt_sim_check {
    double max_err_engine;   /* vs the engine's dense GEMM (nmt_gemm) on the same FP16-rounded operands */
    double max_err_engine_nm; /* vs the engine's N:M GEMM (nmt_gemm_nm) on the same packed operand (N:M only) */
    int64_t gen_mismatch;    /* packed entries where the generator differs from the engine's nmt_pack_topn */
    double max_err_fp32;     /* vs FP32 GEMM on the unrounded operands */
    int64_t writes_min, writes_max; /* final writes per output (must both be 1) */
    int64_t macs;            /* MACs executed by the tile walk */
} nmt_sim_check;

/* Runs out[m x n] = A[m x k] B[k x n] (A pruned N:M along k by the
 * generator when nm.n < nm.m) tile by tile in the order of schedule `s`, with
 * FP16 operands, FP32 accumulation and the N:M multiplexer, and compares with
 * nmt_gemm (and nmt_gemm_nm). Random operands from `seed`. Errors: the
 * schedule does not suit the shape (tiles larger than the GEMM, a reduction
 * tile not a multiple of M, IS with N:M). */
int nmt_sim_functional_check(const nmt_sim_config *cfg, int m, int n, int k, nmt_nm nm,
                             const nmt_sim_schedule *s, uint64_t seed, nmt_sim_check *out);

/* The same walk on given operands: a16 (m x k, dense mode) or the packed
 * pv16/pidx (N:M mode, rows m, groups along k), all FP16-valued, times b16
 * (k x n); out is m x n. The reference the RTL (hw/) must equal bit for bit. */
int nmt_sim_functional_gemm(const nmt_sim_config *cfg, int m, int n, int k, nmt_nm nm, const nmt_sim_schedule *s,
                            const float *a16, const float *pv16, const uint8_t *pidx, const float *b16, float *out);

/* FP16 round trip (round to nearest even), as the PE's operand registers do. */
float nmt_sim_fp16_round(float x);

#ifdef __cplusplus
}
#endif
#endif

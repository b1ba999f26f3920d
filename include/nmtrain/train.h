/* nmtrain/train.h: the network, training methods, optimiser, schedules,
 * checkpoints and the training loop. */
#ifndef NMTRAIN_TRAIN_H
#define NMTRAIN_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "nmtrain/data.h"
#include "nmtrain/model.h"
#include "nmtrain/nm.h"
#include "nmtrain/sparsity.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- training methods: nmtrain/sparsity.h (see docs/methods.md and the BDWP spec) ---- */

/* What a method does to each node of a model: which GEMMs read N:M sparse
 * operands (or why not), and the MACs per sample executed against dense. */
typedef struct nmt_layer_report {
    nmt_layer_sparsity sparsity;
    nmt_macs dense, executed;  /* executed: what the method's rule skips (N/M of each N:M GEMM) */
    char wg_path[64];          /* how the CPU engine runs the weight gradient */
} nmt_layer_report;
/* Fills one report per node of `desc` (out has desc->n_nodes entries). */
void nmt_method_report(const nmt_model_desc *desc, const nmt_method_config *method, nmt_layer_report *out);

/* ---- parameters ----
 * Every learnable tensor and batch-norm buffer, under its PyTorch name and
 * shape. Convolution weights are stored internally as (co, kh, kw, ci);
 * `conv_layout` says so, and checkpoint I/O permutes to PyTorch's
 * (co, ci, kh, kw). */
typedef struct nmt_param {
    char name[NMT_NAME_MAX + 24];
    float *data, *grad, *momentum;  /* grad and momentum are NULL for buffers; momentum is AdamW's exp_avg */
    float *exp_avg_sq;              /* AdamW's second moment; NULL for buffers */
    int64_t count;
    int ndim;
    int64_t shape[4];               /* PyTorch shape */
    int is_buffer;                  /* running_mean / running_var */
    int no_decay;                   /* batch-norm and bias parameters */
    int conv_layout;
} nmt_param;

typedef struct nmt_net nmt_net;

/* ---- data parallelism ----
 * The library has no MPI: a communicator is a few operations the command
 * supplies (an MPI implementation when it is built with mpicc). Every rank
 * calls them in the same order. */
typedef struct nmt_comm {
    int rank, size;
    void *impl;
    /* Starts summing n floats in place over all ranks; finished by sum_wait. */
    int (*sum_start)(struct nmt_comm *comm, float *data, size_t n);
    /* Waits for every started sum. */
    int (*sum_wait)(struct nmt_comm *comm);
    /* Sums n doubles in place over all ranks, at once. */
    int (*sum_doubles)(struct nmt_comm *comm, double *data, size_t n);
} nmt_comm;

/* Builds the network for up to `max_batch` samples; all activations,
 * gradients and scratch come from arenas sized here, once. Weights are
 * initialised as PyTorch does (kaiming-uniform with a = sqrt(5)), from `seed`. */
nmt_net *nmt_net_create(const nmt_model_desc *desc, int max_batch, const nmt_method_config *method,
                        uint64_t seed);
void nmt_net_free(nmt_net *net);
const nmt_model_desc *nmt_net_desc(const nmt_net *net);
int nmt_net_param_count(const nmt_net *net);
nmt_param *nmt_net_param(nmt_net *net, int i);
nmt_param *nmt_net_find_param(nmt_net *net, const char *name);
/* Bytes held by the network's arenas. */
size_t nmt_net_bytes(const nmt_net *net);

/* Forward pass over x (CNHW, batch <= max_batch). training = 1 uses batch
 * statistics and keeps what backward needs. With labels, returns the mean
 * loss and counts correct predictions; without, returns 0. Labels must be
 * below the model's class count. A batch outside 1..max_batch returns NaN
 * with an error. x must stay valid until nmt_net_backward. */
float nmt_net_forward(nmt_net *net, const float *x, const int *labels, int batch, int training,
                      float label_smoothing, int *correct);
/* Logits of the last forward, classes x batch. */
const float *nmt_net_logits(const nmt_net *net);
/* Backward pass of the last training forward: fills every parameter's grad
 * (including the method's weight-gradient correction). Returns 0, or -1
 * with an error when a layer cannot run (an internal inconsistency). */
int nmt_net_backward(nmt_net *net);
/* Pre-generation: rebuilds the method's packed sparse operands from the
 * current dense weights; the trainer calls it after every optimiser step,
 * with new_masks set every --mask-interval steps (the masks are held, and
 * only the kept values follow the weights, in between). */
void nmt_net_refresh_sparse(nmt_net *net, int new_masks);
/* The masks the layers hold between refreshes (every --mask-interval
 * steps, and tnm's transposable masks): which weight, which mask ("in" =
 * m_in and "t" = m_t, c_out x k; "out" = m_out, k x c_out) and its bytes
 * (0/1), writable. Fills up to `max` entries and returns how many. */
typedef struct nmt_net_mask {
    const char *param, *kind;
    uint8_t *data;
    size_t count;
} nmt_net_mask;
#define NMT_NET_MAX_MASKS (3 * NMT_MAX_NODES)
int nmt_net_masks(nmt_net *net, nmt_net_mask *out, int max);
/* After the held masks were written (a checkpoint's): checks that each
 * keeps at most N per group and rebuilds the operands from them. */
int nmt_net_restore_masks(nmt_net *net);
/* The packed forward operand of the layer owning weight `param_name`, or
 * NULL when that layer's forward GEMM is dense. */
const nmt_packed *nmt_net_forward_operand(nmt_net *net, const char *param_name);
/* Data parallelism: the loss gradient averages over `global_batch` samples
 * (0, the default: the batch at hand) and the method's decay term is scaled
 * by this rank's part of it, so the ranks' gradients sum to the global
 * batch's; each sample's loss gradient is then one process's bit for bit. */
void nmt_net_set_grad_batch(nmt_net *net, int global_batch);
/* Data parallelism: this rank's samples start at `first_sample` of the
 * global batch (0, the default), so --grad-nm's draws count the global
 * batch's columns (with nmt_net_set_grad_batch's size) and K ranks prune dY
 * as one process pruning the whole batch does. */
void nmt_net_set_first_sample(nmt_net *net, int first_sample);
/* Dropout: torch.nn.Dropout(p) on the output of every node whose
 * description marks it (the ViT's: after the position embedding, each
 * attention projection, each MLP GELU and fc2, where timm applies drop_rate),
 * in training forwards and their backward; evaluation is the identity.
 * Masks are counter-based draws keyed by the seed, the step
 * (nmt_net_set_step, set before the forward) and the node, counted over the
 * global batch (nmt_net_set_first_sample): the same for any thread count,
 * rank count and after a resume. 0 (the default) is off; p outside [0, 1),
 * or p > 0 for a model without dropout sites, is -1 with an error. */
int nmt_net_set_dropout(nmt_net *net, float p);
/* `ready` is called during backward as soon as parameter `index`'s
 * gradient is final (to start its reduction while backward goes on). */
void nmt_net_on_grad_ready(nmt_net *net, void (*ready)(void *ctx, int index), void *ctx);
/* Batch norm over the samples of all ranks (statistics summed over `comm`
 * in forward and backward; NULL: per rank, the default). */
void nmt_net_sync_batchnorm(nmt_net *net, nmt_comm *comm);
/* The first parameter whose values, gradients or momentum hold a NaN or an
 * infinity, or NULL. One pass over them: cheap beside a training step. */
typedef enum nmt_tensor_part { NMT_PART_VALUES, NMT_PART_GRADS, NMT_PART_MOMENTUM } nmt_tensor_part;
const char *nmt_net_first_nonfinite(nmt_net *net, nmt_tensor_part part);
/* Per-op time accounting of forward and backward (off by default): where a
 * training step goes, printed as a table of op, direction, ms and share. */
void nmt_net_set_profiling(nmt_net *net, int on);
void nmt_net_print_profile(const nmt_net *net, FILE *out);
/* The optimiser step the next forward and backward belong to: it keys
 * dropout's and --grad-nm's draws (with the seed the network was created
 * with and the layer), so a resumed run draws the same. The trainer sets it
 * before each step's forward. */
void nmt_net_set_step(nmt_net *net, int64_t step);
/* Batch-norm num_batches_tracked, shared by all batch-norm layers. */
int64_t nmt_net_bn_batches(const nmt_net *net);
void nmt_net_set_bn_batches(nmt_net *net, int64_t batches);

/* Batch norm's epsilon (PyTorch's default), in training, evaluation and exports. */
#define NMT_BN_EPS 1e-5f
/* Layer norm's epsilon (timm's ViT), in training, evaluation and exports. */
#define NMT_LN_EPS 1e-6f

/* ---- optimiser ---- */
typedef struct nmt_sgd_config {
    float momentum;
    int nesterov;
    float weight_decay;
    int decay_bn_and_bias;  /* 0 = exclude batch-norm and bias parameters from weight decay */
} nmt_sgd_config;
void nmt_sgd_step(nmt_net *net, const nmt_sgd_config *cfg, float lr);

/* AdamW, torch.optim.AdamW semantics (amsgrad off): decoupled weight decay
 * w *= 1 - lr * wd, then the Adam step with bias correction. `step` is the
 * number of optimiser steps done before this one. */
typedef enum nmt_optimizer_kind { NMT_OPT_SGD, NMT_OPT_ADAMW } nmt_optimizer_kind;
typedef struct nmt_adamw_config {
    double beta1, beta2, eps;  /* doubles, as PyTorch's Python-side scalars */
    float weight_decay;
    int decay_bn_and_bias;     /* 0 = no decay on norms, biases, class token, position embedding */
} nmt_adamw_config;
void nmt_adamw_step(nmt_net *net, const nmt_adamw_config *cfg, float lr, int64_t step);
/* Parses "sgd" or "adamw". */
int nmt_optimizer_parse(const char *name, nmt_optimizer_kind *out);
/* ---- learning-rate schedules ---- */
typedef enum nmt_schedule_kind { NMT_SCHED_CONSTANT, NMT_SCHED_COSINE, NMT_SCHED_ONECYCLE } nmt_schedule_kind;
typedef struct nmt_schedule {
    nmt_schedule_kind kind;
    float peak_lr;
    int64_t warmup_steps, total_steps;
    float final_fraction;   /* onecycle: lr at the end as a fraction of the peak */
} nmt_schedule;
int nmt_schedule_parse(const char *name, nmt_schedule_kind *out);
const char *nmt_schedule_name(nmt_schedule_kind kind);
/* Learning rate for step `step` (0-based). */
float nmt_schedule_lr(const nmt_schedule *s, int64_t step);

/* ---- checkpoints (safetensors, PyTorch names and layouts) ---- */
typedef struct nmt_run_state {
    int64_t step;      /* optimiser steps done */
    int epoch;         /* epoch in progress */
    int batch_in_epoch;/* batches of that epoch already done */
    int64_t mask_step; /* step at which the held masks were last regenerated */
    /* The epoch in progress so far, so its one log row covers all of it. */
    double epoch_loss_sum;
    int64_t epoch_correct, epoch_seen;
    float first_loss;  /* the run's first training loss: the default divergence bound's scale */
    int masks_regenerated; /* load: the checkpoint lacked the masks in use, so they were recomputed */
    int adamw;         /* the optimiser state holds AdamW's second moments too */
} nmt_run_state;

/* Writes weights, buffers, momentum ("optimizer.momentum.<name>"; with
 * state->adamw also "optimizer.exp_avg_sq.<name>") and metadata
 * (`meta_json`, run state) atomically. */
int nmt_checkpoint_save(nmt_net *net, const char *path, const nmt_run_state *state, const char *meta_json);
/* Loads weights and buffers (and momentum and run state when present and
 * `state` is not NULL). Every tensor's name and shape are checked. */
int nmt_checkpoint_load(nmt_net *net, const char *path, nmt_run_state *state);
/* Writes the trained model for inference: W*m_in (srste, bdwp) or W*m_t
 * (tnm) in place of each sparse layer's dense weight, plus its packed form
 * ("<name>.weight.nm_values" F32 and "<name>.weight.nm_index" U8, shaped
 * [rows, groups, N]); the file loads like a checkpoint. */
int nmt_export_inference(nmt_net *net, const char *path, const char *meta_json);
/* A parameter as the trained model runs it for inference, in PyTorch's
 * layout: the forward weight W*m_in (srste, bdwp) or W*m_t (tnm) of a layer
 * whose forward GEMM is N:M, otherwise the stored values. dst holds
 * p->count floats. -1 with an error when out of memory. Every export uses it. */
int nmt_param_inference_copy(nmt_net *net, const nmt_param *p, float *dst);
/* Writes the trained model for inference as ONNX (opset 13, docs/export.md):
 * input "input" [N, C, H, W] normalised as the run normalised its data (mean
 * and std: one float per input channel, also stored in the model's
 * metadata_props with `meta_json`), output "logits" [N, classes]; Conv,
 * BatchNormalization, Relu, MaxPool, GlobalMaxPool, GlobalAveragePool, Add,
 * Flatten, Gemm and Mul nodes named after the model's layers, initializers
 * under the PyTorch parameter names holding nmt_param_inference_copy. */
int nmt_export_onnx(nmt_net *net, const char *path, const char *meta_json, const float *mean, const float *std);
/* Writes every N:M forward weight that fits PyTorch's 2:4 semi-structured
 * layout (nmt_semi_structured_fits) in that layout to the safetensors file
 * `path`: "<weight>.packed" (F16, rows x K/2) and "<weight>.meta" (I16,
 * rows x K/16), where a convolution's matrix is (co) x (kh, kw, ci). Returns
 * the number of weights written (0: no file is written), -1 on error. */
int nmt_export_semi_structured(nmt_net *net, const char *path, const char *meta_json);
/* Reads the "config" metadata string of a checkpoint (caller frees). */
char *nmt_checkpoint_config(const char *path);

/* ---- the training loop ---- */
/* Largest values a run accepts (the run configuration is checked against them). */
#define NMT_EPOCHS_MAX 100000
#define NMT_BATCH_MAX 65536
#define NMT_MASK_INTERVAL_MAX 1000000

typedef struct nmt_train_config {
    nmt_model_config model;
    nmt_method_config method;
    int epochs, batch;
    nmt_schedule_kind schedule;
    float lr, warmup_epochs, final_lr_fraction;
    nmt_optimizer_kind optimizer;
    nmt_sgd_config sgd;
    nmt_adamw_config adamw;
    float label_smoothing;
    float dropout;              /* nmt_net_set_dropout's p (0: off) */
    nmt_augment augment;
    uint64_t seed;
    const char *out_dir;        /* log.csv, log.json, checkpoint.safetensors; NULL = none */
    const char *resume;         /* checkpoint to continue from, or NULL */
    int checkpoint_every;       /* also checkpoint every N steps (0 = at epoch ends only) */
    int64_t max_steps;          /* stop after this many optimiser steps in total (0 = no limit) */
    int progress_seconds;       /* progress line period (0 = quiet) */
    const char *data_name;      /* recorded in the checkpoint for nmtrain eval */
    nmt_comm *comm;             /* data parallel over comm->size ranks (NULL: one process): each takes
                                   its share of every global batch of `batch`; rank 0 alone prints,
                                   logs, evaluates and checkpoints. The ranks agree before every step:
                                   one rank's failure, signal or end of data stops all of them there */
    int sync_bn;                /* with comm: batch-norm statistics over all ranks */
    float bucket_mb;            /* with comm: gradients are summed in buckets of this many MB, each started
                                   as soon as backward fills it (0: 1 MB); one larger than the gradients
                                   sums them all after backward */
    int overwrite;              /* out_dir may hold another run, which is replaced */
    int finetune;               /* resume may change the checkpoint's configuration: its weights start a new
                                   schedule at step 0, momentum and masks are regenerated */
    float max_loss;             /* a training loss above this is divergence; 0 = NMT_DIVERGENCE_FACTOR x the
                                   run's first loss */
    const volatile sig_atomic_t *stop; /* when it holds a signal number, the run finishes its step, checkpoints
                                   and returns (NULL = never) */
} nmt_train_config;

#define NMT_DIVERGENCE_FACTOR 100.0f

typedef struct nmt_epoch_result {
    int epoch;
    int64_t step;
    float lr, train_loss, train_acc, test_loss, test_acc;
    double seconds, images_per_s;
    int skipped_images;   /* unreadable training images left out this epoch */
} nmt_epoch_result;

/* Where data-parallel training's gradient sums spent their time (per rank). */
typedef struct nmt_grad_sum_stats {
    int64_t steps;
    double bytes;             /* a step's gradients */
    int buckets;              /* a step's buckets */
    double backward_seconds;  /* in backward, the sums' starts included */
    double start_seconds;     /* of it, starting and progressing the sums (MPI calls) */
    double finish_seconds;    /* after backward: the last bucket, waiting for all (and for the slowest
                                 rank), copying the sums back */
} nmt_grad_sum_stats;

/* Where this call's optimiser steps spent their time; the first step apart
 * (allocation, cold caches, the first batch decoded while nothing is ahead). */
typedef struct nmt_step_timing {
    int64_t steps;
    double first_seconds;
    double rest_seconds;           /* the steps after the first */
    double rest_data_wait_seconds; /* of them, waiting for the next batch */
} nmt_step_timing;

typedef struct nmt_train_result {
    int epochs_done;        /* epochs completed by this call; `last` describes the last of them */
    nmt_epoch_result last;
    double seconds;
    nmt_run_state state;    /* where the run stands: what its last checkpoint holds */
    int stopped_by;         /* the signal number in *cfg->stop that ended the run early, or 0 */
    int already_finished;   /* the resumed checkpoint had done every epoch: nothing ran */
    nmt_grad_sum_stats grad_sums; /* data parallel only (else all 0) */
    nmt_step_timing timing;
} nmt_train_result;

/* Evaluates `net` on every sample of `ds` (batch-norm in inference mode). */
int nmt_evaluate(nmt_net *net, const nmt_dataset *ds, int batch, const float *mean, const float *std,
                 float *loss, float *accuracy);
/* Trains on `train`, evaluating on `test` after each epoch. The normalisation
 * statistics come from `train`. With out_dir, the directory must not hold
 * another run unless resuming or overwriting; it is proven writable before
 * the first step; logs get one row per epoch; a checkpoint is written
 * atomically at each epoch end, every checkpoint_every steps, at max_steps
 * and on a stop request. A loss, gradient or weight that stops being finite,
 * or a loss above the divergence bound, ends the run with an error naming
 * the step and the tensor, leaving the last good checkpoint in place.
 * Resuming checks the checkpoint's recorded configuration against `cfg`
 * (unless finetune) and its run state against the data. */
int nmt_train(const nmt_train_config *cfg, const nmt_dataset *train, const nmt_dataset *test,
              nmt_train_result *result);
/* The network a checkpoint (or export) was trained as, built for up to
 * max_batch samples with its weights loaded; `method` (may be NULL), mean
 * and std (NMT_DATA_MAX_CHANNELS floats) receive its method and input
 * normalisation. NULL with an error naming the file on failure. */
nmt_net *nmt_net_from_checkpoint(const char *path, int max_batch, nmt_method_config *method, float *mean,
                                 float *std);

/* ---- the run configuration ----
 * What a checkpoint (or export) records of its run, as JSON in its "config"
 * metadata; written and read only here. */
typedef struct nmt_run_config {
    nmt_train_config train;   /* train.model.arch and train.data_name point into arch and data */
    char arch[32], data[32];
    float mean[NMT_DATA_MAX_CHANNELS], std[NMT_DATA_MAX_CHANNELS];
    int has_recipe;           /* 0: an older checkpoint without the schedule and optimiser settings */
} nmt_run_config;
/* The configuration of a run as JSON, with the input normalisation
 * (cfg->model.in_c entries of mean and std); caller frees. */
char *nmt_run_config_json(const nmt_train_config *cfg, const float *mean, const float *std);
/* Parses and range-checks every field; errors name `path` and the field. */
int nmt_run_config_parse(const char *json, const char *path, nmt_run_config *out);
/* nmt_run_config_parse of a checkpoint's "config" metadata. */
int nmt_run_config_read(const char *checkpoint, nmt_run_config *out);

#ifdef __cplusplus
}
#endif
#endif

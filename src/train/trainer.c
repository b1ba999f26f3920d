/* The training loop: schedule, steps, progress, evaluation, logs and
 * checkpoints, with an exact resume, divergence checks and clean stops. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "nmtrain/core.h"
#include "nmtrain/train.h"
#include "data/image.h"
#include "train/parallel.h"

/* The file an error about a whole set names: its first image. Only image
 * folders can read no image at all, so only they are asked. */
static const char *first_file(const nmt_dataset *ds)
{
    return ds->files && ds->files->count > 0 ? ds->files->paths[0] : "(no file)";
}

int nmt_evaluate(nmt_net *net, const nmt_dataset *ds, int batch, const float *mean, const float *std,
                 float *loss, float *accuracy)
{
    const nmt_model_desc *desc = nmt_net_desc(net);
    if (ds->c != desc->in_c || ds->h != desc->in_h || ds->w != desc->in_w || ds->classes > desc->classes) {
        nmt_error("the data (%dx%dx%d, %d classes) does not fit model %s (%dx%dx%d, %d classes)", ds->c, ds->h,
                  ds->w, ds->classes, desc->arch, desc->in_c, desc->in_h, desc->in_w, desc->classes);
        return -1;
    }
    nmt_loader ld;
    const nmt_augment none = {0, 0};
    if (nmt_loader_init(&ld, ds, batch, 0, none, mean, std, -1) != 0) return -1;
    float *x = malloc(sizeof(float) * (size_t)ds->c * ds->h * ds->w * batch);
    int *labels = malloc(sizeof(int) * batch);
    if (!x || !labels) {
        free(x), free(labels), nmt_loader_free(&ld);
        nmt_error("out of memory for an evaluation batch");
        return -1;
    }
    double total_loss = 0.0;
    int64_t correct = 0, seen = 0;
    int n;
    while ((n = nmt_loader_next(&ld, x, labels)) > 0) {
        int hits = 0;
        total_loss += (double)nmt_net_forward(net, x, labels, n, 0, 0.0f, &hits) * n;
        correct += hits;
        seen += n;
    }
    if (n >= 0 && seen == 0) /* only an image folder of unreadable files */
        nmt_error("no test image could be read: all %d were unreadable (the first of the set: %s)", ld.skipped,
                  first_file(ds));
    if (n < 0 || seen == 0) {
        free(x), free(labels), nmt_loader_free(&ld);
        return -1;
    }
    *loss = (float)(total_loss / seen);
    *accuracy = (float)correct / (float)seen;
    free(x), free(labels), nmt_loader_free(&ld);
    return 0;
}

static void format_duration(double seconds, char *out, size_t size)
{
    const long s = seconds > 0 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600) snprintf(out, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else snprintf(out, size, "%ldm%02lds", s / 60, s % 60);
}

/* The files of a run's output directory, each checked to fit PATH_MAX. */
typedef struct run_paths {
    char csv[PATH_MAX], json[PATH_MAX], checkpoint[PATH_MAX], checkpoint_tmp[PATH_MAX], probe[PATH_MAX];
} run_paths;

static int join_path(char *out, const char *dir, const char *name)
{
    if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) {
        nmt_error("output directory '%.40s...' (%zu bytes) is too long: its file %s would not fit in %d bytes",
                  dir, strlen(dir), name, PATH_MAX);
        return -1;
    }
    return 0;
}

static int make_paths(const char *dir, run_paths *p)
{
    if (!dir[0]) {
        nmt_error("the output directory name is empty");
        return -1;
    }
    return join_path(p->csv, dir, "log.csv") || join_path(p->json, dir, "log.jsonl") ||
                   join_path(p->checkpoint, dir, "checkpoint.safetensors") ||
                   join_path(p->checkpoint_tmp, dir, "checkpoint.safetensors.tmp") ||
                   join_path(p->probe, dir, ".nmtrain-write-probe")
               ? -1
               : 0;
}

/* mkdir -p (the path fits PATH_MAX: make_paths checked it). */
static int make_directories(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *slash = strchr(path + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash) *slash = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            nmt_error("%s: cannot create the output directory: %s", path, strerror(errno));
            return -1;
        }
        if (!slash) return 0;
        *slash = '/';
    }
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A small write and sync, so a full disk or a read-only directory is found
 * before the first step rather than at the first checkpoint. */
#define PROBE_BYTES 65536
static int probe_writable(const char *dir, const char *probe)
{
    static const char zeros[PROBE_BYTES];
    const int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -1 : 0;
    if (!rc && (write(fd, zeros, sizeof zeros) != (ssize_t)sizeof zeros || fsync(fd) != 0)) rc = -1;
    const int saved = errno;
    if (fd >= 0) close(fd), unlink(probe);
    if (rc) nmt_error("%s: the output directory is not writable: %s", dir, strerror(saved ? saved : ENOSPC));
    return rc;
}

typedef struct run_logs {
    FILE *csv, *json;
    const run_paths *paths;
} run_logs;

static FILE *open_log(const char *path, int append, const char *header)
{
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f) {
        nmt_error("%s: cannot write: %s", path, strerror(errno));
        return NULL;
    }
    /* A header whenever the file is new, resumed run or not. */
    if (header && ftell(f) == 0 && (fputs(header, f) < 0 || fflush(f) != 0)) {
        nmt_error("%s: write failed: %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    return f;
}

static int open_logs(const run_paths *paths, int append, run_logs *logs)
{
    logs->paths = paths;
    logs->csv = open_log(paths->csv, append,
                         "epoch,step,lr,train_loss,train_acc,test_loss,test_acc,seconds,images_per_s,resumed,skipped_images\n");
    logs->json = logs->csv ? open_log(paths->json, append, NULL) : NULL;
    if (!logs->json && logs->csv) fclose(logs->csv), logs->csv = NULL;
    return logs->json ? 0 : -1;
}

static int log_failed(const char *path)
{
    nmt_error("%s: write failed: %s", path, strerror(errno ? errno : EIO));
    return -1;
}

/* One row per epoch; `resumed` says the epoch was interrupted and resumed
 * (its row still covers the whole epoch). */
static int log_epoch(run_logs *logs, const nmt_epoch_result *r, int resumed)
{
    if (!logs->csv) return 0;
    errno = 0;
    if (fprintf(logs->csv, "%d,%lld,%.6g,%.6f,%.6f,%.6f,%.6f,%.3f,%.1f,%d,%d\n", r->epoch, (long long)r->step,
                (double)r->lr, (double)r->train_loss, (double)r->train_acc, (double)r->test_loss,
                (double)r->test_acc, r->seconds, r->images_per_s, resumed, r->skipped_images) < 0 ||
        fflush(logs->csv) != 0)
        return log_failed(logs->paths->csv);
    cJSON *row = cJSON_CreateObject();
    char *text = NULL;
    if (row && cJSON_AddNumberToObject(row, "epoch", r->epoch) && cJSON_AddNumberToObject(row, "step", (double)r->step) &&
        cJSON_AddNumberToObject(row, "lr", (double)r->lr) &&
        cJSON_AddNumberToObject(row, "train_loss", (double)r->train_loss) &&
        cJSON_AddNumberToObject(row, "train_acc", (double)r->train_acc) &&
        cJSON_AddNumberToObject(row, "test_loss", (double)r->test_loss) &&
        cJSON_AddNumberToObject(row, "test_acc", (double)r->test_acc) &&
        cJSON_AddNumberToObject(row, "seconds", r->seconds) &&
        cJSON_AddNumberToObject(row, "images_per_s", r->images_per_s) &&
        cJSON_AddNumberToObject(row, "skipped_images", r->skipped_images) &&
        cJSON_AddBoolToObject(row, "resumed", resumed))
        text = cJSON_PrintUnformatted(row);
    cJSON_Delete(row);
    if (!text) {
        nmt_error("%s: out of memory formatting a log row", logs->paths->json);
        return -1;
    }
    errno = 0;
    const int bad = fprintf(logs->json, "%s\n", text) < 0 || fflush(logs->json) != 0;
    free(text);
    return bad ? log_failed(logs->paths->json) : 0;
}

static int close_logs(run_logs *logs)
{
    int rc = 0;
    errno = 0;
    if (logs->csv && fclose(logs->csv) != 0) rc = log_failed(logs->paths->csv);
    if (logs->json && fclose(logs->json) != 0 && !rc) rc = log_failed(logs->paths->json);
    logs->csv = logs->json = NULL;
    return rc;
}

/* The checkpoint's recorded configuration against this run's: every
 * difference is an error naming both values, unless fine-tuning. */
static int check_resume_config(const nmt_train_config *cfg, const nmt_run_config *was, const char *path)
{
    const nmt_train_config *c = &was->train;
    char now[64], then[64];
    const char *field = NULL;
#define DIFFERS(name, fmt, a, b)                                                                                  \
    if (!field && (a) != (b)) {                                                                                   \
        field = name;                                                                                             \
        snprintf(then, sizeof then, fmt, a);                                                                      \
        snprintf(now, sizeof now, fmt, b);                                                                        \
    }
    if (strcmp(c->model.arch, cfg->model.arch)) {
        field = "model";
        snprintf(then, sizeof then, "%s", c->model.arch);
        snprintf(now, sizeof now, "%s", cfg->model.arch);
    }
    DIFFERS("width", "%g", (double)c->model.width, (double)cfg->model.width)
    DIFFERS("input channels", "%d", c->model.in_c, cfg->model.in_c)
    DIFFERS("input height", "%d", c->model.in_h, cfg->model.in_h)
    DIFFERS("input width", "%d", c->model.in_w, cfg->model.in_w)
    DIFFERS("classes", "%d", c->model.classes, cfg->model.classes)
    DIFFERS("imagenet stem", "%d", c->model.imagenet_stem, cfg->model.imagenet_stem)
    if (!field && c->method.kind != cfg->method.kind) {
        field = "method";
        snprintf(then, sizeof then, "%s", nmt_method_name(c->method.kind));
        snprintf(now, sizeof now, "%s", nmt_method_name(cfg->method.kind));
    }
    DIFFERS("N", "%d", c->method.nm.n, cfg->method.nm.n)
    DIFFERS("M", "%d", c->method.nm.m, cfg->method.nm.m)
    DIFFERS("mask interval", "%d", c->method.mask_interval, cfg->method.mask_interval)
    DIFFERS("SR-STE decay", "%g", (double)c->method.decay, (double)cfg->method.decay)
    DIFFERS("sparse classifier", "%d", c->method.sparse_classifier, cfg->method.sparse_classifier)
    DIFFERS("dY pruning N of the weight gradient", "%d", c->method.grad_nm.n, cfg->method.grad_nm.n)
    DIFFERS("dY pruning M of the weight gradient", "%d", c->method.grad_nm.m, cfg->method.grad_nm.m)
    DIFFERS("dropout", "%g", (double)c->dropout, (double)cfg->dropout)
    if (!field && c->data_name && cfg->data_name && strcmp(c->data_name, cfg->data_name)) {
        field = "data set";
        snprintf(then, sizeof then, "%s", c->data_name);
        snprintf(now, sizeof now, "%s", cfg->data_name);
    }
    DIFFERS("batch", "%d", c->batch, cfg->batch)
    DIFFERS("seed", "%llu", (unsigned long long)c->seed, (unsigned long long)cfg->seed)
    DIFFERS("epochs", "%d", c->epochs, cfg->epochs)
    DIFFERS("lr", "%g", (double)c->lr, (double)cfg->lr)
    if (was->has_recipe) {
        if (!field && c->schedule != cfg->schedule) {
            field = "schedule";
            snprintf(then, sizeof then, "%s", nmt_schedule_name(c->schedule));
            snprintf(now, sizeof now, "%s", nmt_schedule_name(cfg->schedule));
        }
        DIFFERS("warm-up epochs", "%g", (double)c->warmup_epochs, (double)cfg->warmup_epochs)
        DIFFERS("final lr fraction", "%g", (double)c->final_lr_fraction, (double)cfg->final_lr_fraction)
        DIFFERS("momentum", "%g", (double)c->sgd.momentum, (double)cfg->sgd.momentum)
        DIFFERS("nesterov", "%d", c->sgd.nesterov, cfg->sgd.nesterov)
        DIFFERS("weight decay", "%g", (double)c->sgd.weight_decay, (double)cfg->sgd.weight_decay)
        DIFFERS("decay of BN and biases", "%d", c->sgd.decay_bn_and_bias, cfg->sgd.decay_bn_and_bias)
        DIFFERS("label smoothing", "%g", (double)c->label_smoothing, (double)cfg->label_smoothing)
        DIFFERS("crop padding", "%d", c->augment.crop_pad, cfg->augment.crop_pad)
        DIFFERS("horizontal flip", "%d", c->augment.hflip, cfg->augment.hflip)
    }
#undef DIFFERS
    if (!field) return 0;
    nmt_error("%s was trained with %s %s, this run asks for %s: an exact resume needs the same configuration "
              "(a deliberate change is a fine-tune)", path, field, then, now);
    return -1;
}

/* The run state of a checkpoint against this run's data and epochs. */
static int check_resume_state(const nmt_run_state *s, int per_epoch, const nmt_train_config *cfg, const char *path)
{
    if (s->epoch > cfg->epochs || (s->epoch == cfg->epochs && s->batch_in_epoch > 0)) {
        nmt_error("%s: run state epoch %d, batch %d is past the run's %d epochs", path, s->epoch, s->batch_in_epoch,
                  cfg->epochs);
        return -1;
    }
    if (s->batch_in_epoch >= per_epoch) {
        nmt_error("%s: run state batch_in_epoch %d is past an epoch of %d batches", path, s->batch_in_epoch, per_epoch);
        return -1;
    }
    if (s->step != (int64_t)s->epoch * per_epoch + s->batch_in_epoch) {
        nmt_error("%s: run state step %lld does not match epoch %d, batch %d of %d per epoch", path,
                  (long long)s->step, s->epoch, s->batch_in_epoch, per_epoch);
        return -1;
    }
    if (s->epoch_seen > (int64_t)s->batch_in_epoch * cfg->batch || s->epoch_correct > s->epoch_seen) {
        nmt_error("%s: run state counts %lld images (%lld correct) in %d batches of %d", path,
                  (long long)s->epoch_seen, (long long)s->epoch_correct, s->batch_in_epoch, cfg->batch);
        return -1;
    }
    return 0;
}

/* The first non-finite quantity after a step, or NULL: the loss, a
 * gradient (checked before the update, so the weights stay good), or a
 * value after it. */
static int diverged(nmt_net *net, int64_t step, float loss, float bound, const char *bound_why)
{
    const char *tensor = NULL;
    if (!isfinite(loss)) {
        nmt_error("training diverged at step %lld: the loss is %g", (long long)step, (double)loss);
    } else if (loss > bound) {
        nmt_error("training diverged at step %lld: the loss %g exceeds %g (%s)", (long long)step, (double)loss,
                  (double)bound, bound_why);
    } else if ((tensor = nmt_net_first_nonfinite(net, NMT_PART_GRADS))) {
        nmt_error("training diverged at step %lld: the gradient of '%s' holds NaN or infinite values",
                  (long long)step, tensor);
    } else {
        return 0;
    }
    return 1;
}

/* Data parallel: every decision to go on is taken by all ranks together, so
 * that a failure, a signal or the end of one rank's data stops every rank
 * at the same point, instead of leaving the others waiting for ever in a
 * sum the stopped rank never joins. Each rank adds what it met. */
typedef enum { RANKS_GO, RANKS_FAILED, RANKS_STOPPED, RANKS_DATA_ENDED } ranks_verdict;

typedef struct {
    int images;     /* this rank's share of the batch */
    int failed;     /* this rank's error (its message already set) */
    int data_ended; /* this rank's data ran out before the epoch's end */
    int signal;     /* the signal this rank caught, or 0 */
} rank_report;

/* Sums the ranks' reports; *kept: the batch's images over all ranks,
 * *signal: the signal that stops them. */
static ranks_verdict ranks_agree(nmt_comm *comm, rank_report mine, double *kept, int *signal)
{
    double sums[5] = {mine.images, mine.failed, mine.data_ended, mine.signal != 0, mine.signal};
    if (comm->sum_doubles(comm, sums, 5) != 0) {
        nmt_error("agreeing on the next step with the other %d ranks failed", comm->size - 1);
        return RANKS_FAILED;
    }
    if (kept) *kept = sums[0];
    if (sums[1] > 0) {
        if (!mine.failed) nmt_error("rank %d stops with the rank that failed (its error is above)", comm->rank);
        return RANKS_FAILED;
    }
    if (sums[3] > 0) {
        if (signal) *signal = mine.signal ? mine.signal : (int)(sums[4] / sums[3]);
        return RANKS_STOPPED;
    }
    return sums[2] > 0 ? RANKS_DATA_ENDED : RANKS_GO;
}

int nmt_train(const nmt_train_config *cfg, const nmt_dataset *train, const nmt_dataset *test,
              nmt_train_result *result)
{
    memset(result, 0, sizeof *result);
    if (cfg->epochs < 1 || cfg->epochs > NMT_EPOCHS_MAX || cfg->batch < 1 || cfg->batch > NMT_BATCH_MAX ||
        !(cfg->lr > 0.0f)) {
        nmt_error("epochs (%d, at most %d), batch (%d, at most %d) and lr (%g) must be positive", cfg->epochs,
                  NMT_EPOCHS_MAX, cfg->batch, NMT_BATCH_MAX, (double)cfg->lr);
        return -1;
    }
    if ((double)cfg->seed > 9007199254740992.0) {
        nmt_error("seed %llu is above 2^53, the largest the run configuration records exactly",
                  (unsigned long long)cfg->seed);
        return -1;
    }
    if (!(cfg->max_loss >= 0.0f)) {
        nmt_error("the divergence bound %g must be positive (or 0 for the default)", (double)cfg->max_loss);
        return -1;
    }
    if (train->c != cfg->model.in_c || train->h != cfg->model.in_h || train->w != cfg->model.in_w ||
        train->classes > cfg->model.classes) {
        nmt_error("the training data (%dx%dx%d, %d classes) does not fit the model (%dx%dx%d, %d classes)",
                  train->c, train->h, train->w, train->classes, cfg->model.in_c, cfg->model.in_h, cfg->model.in_w,
                  cfg->model.classes);
        return -1;
    }
    if (train->count < cfg->batch) {
        nmt_error("the training set has %d samples, fewer than one batch of %d", train->count, cfg->batch);
        return -1;
    }
    run_paths *paths = cfg->out_dir ? malloc(sizeof *paths) : NULL;
    if (cfg->out_dir && (!paths || make_paths(cfg->out_dir, paths) != 0)) {
        if (!paths) nmt_error("out of memory");
        free(paths);
        return -1;
    }
    if (paths && !cfg->resume && !cfg->overwrite &&
        (exists(paths->checkpoint) || exists(paths->csv) || exists(paths->json))) {
        nmt_error("%s already holds a run (%s): it is left untouched unless the run resumes or overwrites it",
                  cfg->out_dir, exists(paths->checkpoint) ? "checkpoint.safetensors" : "logs");
        free(paths);
        return -1;
    }
    nmt_run_config *was = cfg->resume ? malloc(sizeof *was) : NULL;
    if (cfg->resume && (!was || nmt_run_config_read(cfg->resume, was) != 0 ||
                        (!cfg->finetune && check_resume_config(cfg, was, cfg->resume) != 0))) {
        if (!was) nmt_error("out of memory");
        free(was), free(paths);
        return -1;
    }
    free(was);
    nmt_model_desc *desc = malloc(sizeof *desc);
    if (!desc || nmt_model_describe(&cfg->model, desc) != 0) {
        free(desc), free(paths);
        return -1;
    }
    float mean[NMT_DATA_MAX_CHANNELS], std[NMT_DATA_MAX_CHANNELS];
    nmt_dataset_stats(train, mean, std);
    nmt_net *net = nmt_net_create(desc, cfg->batch, &cfg->method, cfg->seed);
    free(desc);
    if (!net || nmt_net_set_dropout(net, cfg->dropout) != 0) {
        nmt_net_free(net);
        free(paths);
        return -1;
    }

    nmt_run_state state;
    memset(&state, 0, sizeof state);
    int rc = 0;
    if (cfg->resume && nmt_checkpoint_load(net, cfg->resume, &state) != 0) rc = -1;
    if (!rc && cfg->finetune && cfg->resume) {
        /* The weights start a new run: step 0, no momentum, fresh masks. */
        memset(&state, 0, sizeof state);
        for (int i = 0; i < nmt_net_param_count(net); i++) {
            nmt_param *p = nmt_net_param(net, i);
            if (p->momentum) memset(p->momentum, 0, sizeof(float) * (size_t)p->count);
            if (p->exp_avg_sq) memset(p->exp_avg_sq, 0, sizeof(float) * (size_t)p->count);
        }
        nmt_net_refresh_sparse(net, 1);
        if (cfg->progress_seconds > 0)
            printf("fine-tuning from %s: a new schedule from step 0, masks regenerated from its weights\n",
                   cfg->resume);
    } else if (!rc && state.masks_regenerated && cfg->progress_seconds > 0) {
        printf("%s holds no masks for this method and interval: regenerated from its weights\n", cfg->resume);
    }
    const int adamw = cfg->optimizer == NMT_OPT_ADAMW;
    if (!rc && cfg->resume && !cfg->finetune && state.step > 0 && state.adamw != adamw) {
        nmt_error("%s: the checkpoint was trained with %s, not --optimizer %s", cfg->resume,
                  state.adamw ? "adamw" : "sgd", adamw ? "adamw" : "sgd");
        rc = -1;
    }
    state.adamw = adamw;
    nmt_loader ld;
    memset(&ld, 0, sizeof ld);
    if (!rc && nmt_loader_init(&ld, train, cfg->batch, 1, cfg->augment, mean, std, (int64_t)(cfg->seed & 0x7fffffff)) != 0)
        rc = -1;
    /* Data parallelism: this rank's samples [lo, hi) of every global batch;
     * rank 0 alone logs, evaluates and checkpoints (the others have no
     * out_dir). */
    nmt_comm *comm = cfg->comm && cfg->comm->size > 1 ? cfg->comm : NULL;
    const int is_root = !comm || comm->rank == 0;
    grad_sync *sync = NULL;
    if (!rc && comm && cfg->batch < comm->size) { /* every rank computes this, so all stop */
        nmt_error("--batch %d is smaller than the %d ranks: each rank needs at least one image of every batch",
                  cfg->batch, comm->size);
        rc = -1;
    }
    if (!rc && comm) {
        const int first_sample = (int)((int64_t)cfg->batch * comm->rank / comm->size);
        nmt_loader_shard(&ld, first_sample, (int)((int64_t)cfg->batch * (comm->rank + 1) / comm->size));
        nmt_net_set_first_sample(net, first_sample);
        if (cfg->sync_bn) nmt_net_sync_batchnorm(net, comm);
        const float bucket_mb = cfg->bucket_mb > 0 ? cfg->bucket_mb : 1.0f;
        if (!(sync = grad_sync_create(net, comm, (size_t)((double)bucket_mb * (1 << 20) / sizeof(float)))))
            rc = -1;
    }
    /* Each rank loaded the checkpoint and set up its data on its own. */
    if (comm && ranks_agree(comm, (rank_report){.failed = rc != 0}, NULL, NULL) != RANKS_GO) rc = -1;
    const int per_epoch = rc ? 0 : nmt_loader_batches(&ld);
    if (!rc && cfg->resume && !cfg->finetune && check_resume_state(&state, per_epoch, cfg, cfg->resume) != 0) rc = -1;
    result->state = state;
    if (!rc && state.epoch == cfg->epochs) { /* a finished run: nothing to do */
        result->already_finished = 1;
        grad_sync_free(sync);
        nmt_loader_free(&ld);
        nmt_net_free(net);
        free(paths);
        return 0;
    }
    run_logs logs;
    memset(&logs, 0, sizeof logs);
    if (!rc && paths) {
        rc = make_directories(cfg->out_dir) || probe_writable(cfg->out_dir, paths->probe) ? -1 : 0;
        /* A checkpoint write killed half-way leaves its temporary file. */
        if (!rc) unlink(paths->checkpoint_tmp);
        if (!rc) rc = open_logs(paths, cfg->resume && !cfg->overwrite, &logs);
    }
    char *json = rc ? NULL : nmt_run_config_json(cfg, mean, std);
    if (!rc && !json) rc = -1;
    nmt_schedule sched = {cfg->schedule, cfg->lr, (int64_t)(cfg->warmup_epochs * per_epoch),
                          (int64_t)cfg->epochs * per_epoch, cfg->final_lr_fraction};
    const int interval = nmt_method_mask_interval(&cfg->method);
    float *x = rc ? NULL : malloc(sizeof(float) * (size_t)train->c * train->h * train->w * cfg->batch);
    int *labels = rc ? NULL : malloc(sizeof(int) * cfg->batch);
    if (!rc && (!x || !labels)) {
        nmt_error("out of memory for a training batch");
        rc = -1;
    }
    /* Rank 0 opened the run's files. */
    if (comm && ranks_agree(comm, (rank_report){.failed = rc != 0}, NULL, NULL) != RANKS_GO) rc = -1;
    if (!rc && cfg->progress_seconds > 0)
        printf("network memory: %.0f MB, allocated once for the run\n", nmt_net_bytes(net) / 1048576.0);
    const double start = nmt_now();
    double backward_seconds = 0.0; /* data parallel: for the gradient sums' statistics */
    double last_print = start;
    int64_t steps_this_run = 0;
    const int resumed_epoch = state.batch_in_epoch > 0 ? state.epoch : -1;
    int64_t good_step = state.step; /* what the checkpoint on disk holds */
    /* Under mpirun rank 0's failure at an epoch's end (evaluation, logs, checkpoint) reaches the others at
     * the next step's agreement. */
    const int first_epoch = state.epoch;
    for (int epoch = first_epoch; epoch < cfg->epochs && (!rc || (comm && epoch > first_epoch)) && !result->stopped_by;
         epoch++) {
        nmt_loader_epoch(&ld, epoch);
        const int first = epoch == state.epoch ? state.batch_in_epoch : 0;
        nmt_loader_seek(&ld, first);
        const double epoch_start = nmt_now();
        if (first == 0) state.epoch_loss_sum = 0.0, state.epoch_correct = state.epoch_seen = 0;
        int64_t seen_now = 0;
        int b;
        for (b = first; b < per_epoch; b++) {
            if (cfg->max_steps && state.step >= cfg->max_steps) break;
            const int signal = cfg->stop ? *cfg->stop : 0;
            if (signal && !comm) {
                result->stopped_by = signal;
                break;
            }
            const double step_start = nmt_now();
            /* Under mpirun a rank that failed at the last epoch's end, or caught a signal, reads nothing and
             * tells the others. */
            const int n = rc || signal ? 0 : nmt_loader_next(&ld, x, labels);
            const double data_wait = nmt_now() - step_start;
            double kept = n;
            if (comm) {
                const rank_report mine = {n > 0 ? n : 0, rc || n < 0, !rc && !signal && n == 0, signal};
                const ranks_verdict verdict = ranks_agree(comm, mine, &kept, &result->stopped_by);
                if (verdict == RANKS_FAILED) rc = -1;
                if (verdict == RANKS_DATA_ENDED) b = per_epoch;
                if (verdict != RANKS_GO) break;
            } else if (n <= 0) { /* an image folder's strict error, or its last batches all unreadable */
                if (n < 0) rc = -1;
                else b = per_epoch; /* the epoch ends */
                break;
            }
            int hits = 0;
            const float lr = nmt_schedule_lr(&sched, state.step);
            nmt_net_set_step(net, state.step); /* keys this step's dropout and --grad-nm draws */
            const float loss = nmt_net_forward(net, x, labels, n, 1, cfg->label_smoothing, &hits);
            /* The ranks judge divergence by the whole batch's loss, so that they all stop or none. */
            float batch_loss = loss;
            if (sync) {
                double sums[2] = {isfinite(loss) ? (double)loss * n : 0.0, !isfinite(loss)};
                if (comm->sum_doubles(comm, sums, 2) != 0) {
                    nmt_error("summing the batch's loss over %d ranks failed", comm->size);
                    rc = -1;
                    break;
                }
                batch_loss = sums[1] > 0 ? NAN : (float)(sums[0] / kept);
                /* An image folder's global batch is short by the images the ranks skipped: average over
                 * those they kept, as one process does. */
                nmt_net_set_grad_batch(net, ld.stream ? (int)kept : cfg->batch);
            }
            if (state.step == 0 && isfinite(batch_loss)) state.first_loss = batch_loss;
            const float bound = cfg->max_loss > 0 ? cfg->max_loss : NMT_DIVERGENCE_FACTOR * state.first_loss;
            const double backward_start = nmt_now();
            const int backward_failed = isfinite(batch_loss) && nmt_net_backward(net) != 0;
            backward_seconds += nmt_now() - backward_start;
            if (backward_failed || (isfinite(batch_loss) && sync && grad_sync_finish(sync) != 0)) {
                rc = -1;
                break;
            }
            if (diverged(net, state.step, batch_loss, bound,
                         cfg->max_loss > 0 ? "the bound set" : "100x the run's first loss")) {
                rc = -1;
                break;
            }
            if (adamw)
                nmt_adamw_step(net, &cfg->adamw, lr, state.step);
            else
                nmt_sgd_step(net, &cfg->sgd, lr);
            const char *tensor = nmt_net_first_nonfinite(net, NMT_PART_VALUES);
            if (tensor) {
                nmt_error("training diverged at step %lld: '%s' holds NaN or infinite values after the update",
                          (long long)state.step, tensor);
                rc = -1;
                break;
            }
            state.step++;
            steps_this_run++;
            /* Pre-generation: the next step's sparse operands, made once now. */
            const int new_masks = state.step % interval == 0;
            nmt_net_refresh_sparse(net, new_masks);
            if (new_masks) state.mask_step = state.step;
            const double step_seconds = nmt_now() - step_start;
            result->timing.steps = steps_this_run;
            if (steps_this_run == 1) {
                result->timing.first_seconds = step_seconds;
            } else {
                result->timing.rest_seconds += step_seconds;
                result->timing.rest_data_wait_seconds += data_wait;
            }
            state.epoch_loss_sum += (double)loss * n;
            state.epoch_correct += hits;
            state.epoch_seen += n;
            seen_now += n;
            state.epoch = epoch;
            state.batch_in_epoch = b + 1;
            const double now = nmt_now();
            if (cfg->progress_seconds > 0 && (now - last_print >= cfg->progress_seconds || b + 1 == per_epoch)) {
                const double rate = (double)steps_this_run * cfg->batch / (now - start);
                const int64_t left = sched.total_steps - state.step;
                char eta[32];
                format_duration(left * (double)cfg->batch / rate, eta, sizeof eta);
                printf("epoch %d/%d  step %lld/%lld  loss %.4f  acc %.2f%%  lr %.4f  %.0f img/s  ETA %s\n", epoch + 1,
                       cfg->epochs, (long long)state.step, (long long)sched.total_steps,
                       state.epoch_loss_sum / state.epoch_seen, 100.0 * state.epoch_correct / state.epoch_seen,
                       (double)lr, rate, eta);
                fflush(stdout);
                last_print = now;
            }
            if (b + 1 < per_epoch && cfg->checkpoint_every > 0 && state.step % cfg->checkpoint_every == 0) {
                if (paths && nmt_checkpoint_save(net, paths->checkpoint, &state, json) != 0) rc = -1;
                else good_step = state.step;
            }
            if (rc && !comm) break; /* under mpirun the next step's agreement stops every rank */
        }
        if (rc) break;
        if (b < per_epoch) { /* stopped mid-epoch: max_steps or a signal */
            if (state.step != good_step && paths && nmt_checkpoint_save(net, paths->checkpoint, &state, json) != 0)
                rc = -1;
            else good_step = state.step;
            break;
        }
        state.epoch = epoch + 1;
        state.batch_in_epoch = 0;
        double loss_sum = state.epoch_loss_sum, correct = (double)state.epoch_correct, seen = (double)state.epoch_seen;
        int skipped_images = ld.skipped;
        if (comm) { /* the epoch's numbers over all ranks */
            double totals[4] = {loss_sum, correct, seen, (double)skipped_images};
            if (comm->sum_doubles(comm, totals, 4) != 0) {
                nmt_error("summing the epoch's statistics over %d ranks failed", comm->size);
                rc = -1;
                break;
            }
            loss_sum = totals[0], correct = totals[1], seen = totals[2], skipped_images = (int)totals[3];
            seen_now = (int64_t)totals[2];
        }
        if (seen == 0) { /* only an image folder whose every image read this epoch was unreadable */
            nmt_error("epoch %d trained on no image: the %d training images it read were all unreadable (the "
                      "first of the set: %s)",
                      epoch + 1, skipped_images, first_file(train));
            rc = -1;
            break;
        }
        nmt_epoch_result *r = &result->last;
        r->epoch = epoch + 1;
        r->step = state.step;
        r->lr = nmt_schedule_lr(&sched, state.step > 0 ? state.step - 1 : 0);
        r->train_loss = (float)(loss_sum / seen);
        r->train_acc = (float)(correct / seen);
        r->seconds = nmt_now() - start;
        r->images_per_s = (double)seen_now / (nmt_now() - epoch_start);
        r->skipped_images = skipped_images;
        state.epoch_loss_sum = 0.0, state.epoch_correct = state.epoch_seen = 0;
        if (test && is_root && nmt_evaluate(net, test, cfg->batch, mean, std, &r->test_loss, &r->test_acc) != 0)
            rc = -1;
        char skipped[48] = "";
        if (r->skipped_images) snprintf(skipped, sizeof skipped, ", %d unreadable images skipped", r->skipped_images);
        if (!rc && cfg->progress_seconds > 0)
            printf("epoch %d done: train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  (%.0f img/s, %.1f s%s)\n",
                   r->epoch, (double)r->train_loss, 100.0 * r->train_acc, (double)r->test_loss,
                   100.0 * r->test_acc, r->images_per_s, r->seconds, skipped);
        if (!rc && log_epoch(&logs, r, epoch == resumed_epoch) != 0) rc = -1;
        if (!rc) result->epochs_done++;
        if (!rc && paths && nmt_checkpoint_save(net, paths->checkpoint, &state, json) != 0) rc = -1;
        if (!rc) good_step = state.step;
        if (cfg->max_steps && state.step >= cfg->max_steps) break;
    }
    result->state = state;
    result->seconds = nmt_now() - start;
    if (sync) {
        result->grad_sums = grad_sync_stats(sync);
        result->grad_sums.backward_seconds = backward_seconds;
    }
    if (rc && paths && exists(paths->checkpoint) && good_step != state.step)
        fprintf(stderr, "nmtrain: the last good checkpoint, %s (step %lld), is kept\n", paths->checkpoint,
                (long long)good_step);
    free(x), free(labels), free(json), free(paths);
    if (close_logs(&logs) != 0) rc = -1;
    nmt_loader_free(&ld);
    grad_sync_free(sync);
    nmt_net_free(net);
    return rc;
}

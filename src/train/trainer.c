/* The training loop: schedule, steps, progress, evaluation, logs and
 * checkpoints, with an exact resume. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nmtrain/core.h"
#include "nmtrain/train.h"
#include "train/parallel.h"

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
    if (n < 0) {
        free(x), free(labels), nmt_loader_free(&ld);
        return -1;
    }
    *loss = seen ? (float)(total_loss / seen) : 0.0f;
    *accuracy = seen ? (float)correct / (float)seen : 0.0f;
    free(x), free(labels), nmt_loader_free(&ld);
    return 0;
}

static void format_duration(double seconds, char *out, size_t size)
{
    const long s = seconds > 0 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600) snprintf(out, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else snprintf(out, size, "%ldm%02lds", s / 60, s % 60);
}

static void config_json(const nmt_train_config *cfg, const float *mean, const float *std, int channels, char *out,
                        size_t size)
{
    size_t used = (size_t)snprintf(
        out, size,
        "{\"arch\": \"%s\", \"width\": %.9g, \"in_c\": %d, \"in_h\": %d, \"in_w\": %d, \"classes\": %d, "
        "\"imagenet_stem\": %d, \"method\": \"%s\", \"nm\": \"%d:%d\", \"decay\": %.9g, \"mask_interval\": %d, "
        "\"sparse_classifier\": %d, \"grad_nm\": \"%d:%d\", \"data\": \"%s\", \"epochs\": %d, \"batch\": %d, "
        "\"lr\": %.9g, \"seed\": %llu",
        cfg->model.arch, (double)cfg->model.width, cfg->model.in_c, cfg->model.in_h, cfg->model.in_w,
        cfg->model.classes, cfg->model.imagenet_stem, nmt_method_name(cfg->method.kind), cfg->method.nm.n,
        cfg->method.nm.m, (double)cfg->method.decay, cfg->method.mask_interval,
        cfg->method.sparse_classifier, cfg->method.grad_nm.n, cfg->method.grad_nm.m, cfg->data_name ? cfg->data_name : "", cfg->epochs, cfg->batch,
        (double)cfg->lr, (unsigned long long)cfg->seed);
    for (int pass = 0; pass < 2 && used < size; pass++) {
        const float *v = pass ? std : mean;
        used += (size_t)snprintf(out + used, size - used, ", \"%s\": [", pass ? "std" : "mean");
        for (int c = 0; c < channels && used < size; c++)
            used += (size_t)snprintf(out + used, size - used, c ? ", %.9g" : "%.9g", (double)v[c]);
        if (used < size) used += (size_t)snprintf(out + used, size - used, "]");
    }
    if (used < size) snprintf(out + used, size - used, "}");
}

typedef struct run_logs {
    FILE *csv, *json;
    int json_rows;
} run_logs;

/* mkdir -p */
static int make_directories(const char *dir)
{
    char path[1024];
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

static int open_logs(const char *dir, int resumed, run_logs *logs)
{
    memset(logs, 0, sizeof *logs);
    if (!dir) return 0;
    if (make_directories(dir) != 0) return -1;
    char path[1024];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    logs->csv = fopen(path, resumed ? "a" : "w");
    if (!logs->csv) {
        nmt_error("%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    if (!resumed) fprintf(logs->csv, "epoch,step,lr,train_loss,train_acc,test_loss,test_acc,seconds,images_per_s,skipped_images\n");
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    logs->json = fopen(path, resumed ? "a" : "w");
    if (!logs->json) {
        nmt_error("%s: cannot write: %s", path, strerror(errno));
        fclose(logs->csv);
        return -1;
    }
    return 0;
}

static void log_epoch(run_logs *logs, const nmt_epoch_result *r)
{
    if (!logs->csv) return;
    fprintf(logs->csv, "%d,%lld,%.6g,%.6f,%.6f,%.6f,%.6f,%.3f,%.1f,%d\n", r->epoch, (long long)r->step,
            (double)r->lr, (double)r->train_loss, (double)r->train_acc, (double)r->test_loss, (double)r->test_acc,
            r->seconds, r->images_per_s, r->skipped_images);
    fprintf(logs->json,
            "{\"epoch\": %d, \"step\": %lld, \"lr\": %.6g, \"train_loss\": %.6f, \"train_acc\": %.6f, "
            "\"test_loss\": %.6f, \"test_acc\": %.6f, \"seconds\": %.3f, \"images_per_s\": %.1f, "
            "\"skipped_images\": %d}\n",
            r->epoch, (long long)r->step, (double)r->lr, (double)r->train_loss, (double)r->train_acc,
            (double)r->test_loss, (double)r->test_acc, r->seconds, r->images_per_s, r->skipped_images);
    fflush(logs->csv);
    fflush(logs->json);
}

static void close_logs(run_logs *logs)
{
    if (logs->csv) fclose(logs->csv);
    if (logs->json) fclose(logs->json);
}

static int save_checkpoint(nmt_net *net, const nmt_train_config *cfg, const nmt_run_state *state, const char *json)
{
    if (!cfg->out_dir) return 0;
    char path[1024];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", cfg->out_dir);
    return nmt_checkpoint_save(net, path, state, json);
}

int nmt_train(const nmt_train_config *cfg, const nmt_dataset *train, const nmt_dataset *test,
              nmt_train_result *result)
{
    memset(result, 0, sizeof *result);
    if (cfg->epochs < 1 || cfg->batch < 1 || !(cfg->lr > 0.0f)) {
        nmt_error("epochs (%d), batch (%d) and lr (%g) must be positive", cfg->epochs, cfg->batch, (double)cfg->lr);
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
    nmt_model_desc *desc = malloc(sizeof *desc);
    if (!desc || nmt_model_describe(&cfg->model, desc) != 0) {
        free(desc);
        return -1;
    }
    float mean[NMT_DATA_MAX_CHANNELS], std[NMT_DATA_MAX_CHANNELS];
    nmt_dataset_stats(train, mean, std);
    nmt_net *net = nmt_net_create(desc, cfg->batch, &cfg->method, cfg->seed);
    free(desc);
    if (!net) return -1;

    nmt_run_state state = {0, 0, 0};
    int rc = 0;
    if (cfg->resume && nmt_checkpoint_load(net, cfg->resume, &state) != 0) rc = -1;
    nmt_loader ld;
    if (!rc && nmt_loader_init(&ld, train, cfg->batch, 1, cfg->augment, mean, std, (int64_t)(cfg->seed & 0x7fffffff)) != 0)
        rc = -1;
    /* Data parallelism: this rank's samples [lo, hi) of every global batch. */
    nmt_comm *comm = cfg->comm && cfg->comm->size > 1 ? cfg->comm : NULL;
    const int is_root = !comm || comm->rank == 0;
    grad_sync *sync = NULL;
    if (!rc && comm) {
        nmt_loader_shard(&ld, (int)((int64_t)cfg->batch * comm->rank / comm->size),
                         (int)((int64_t)cfg->batch * (comm->rank + 1) / comm->size));
        if (cfg->sync_bn) nmt_net_sync_batchnorm(net, comm);
        if (!(sync = grad_sync_create(net, comm))) {
            nmt_loader_free(&ld);
            rc = -1;
        }
    }
    run_logs logs;
    if (!rc && open_logs(is_root ? cfg->out_dir : NULL, cfg->resume != NULL, &logs) != 0) {
        nmt_loader_free(&ld);
        grad_sync_free(sync);
        rc = -1;
    }
    if (rc) {
        nmt_net_free(net);
        return -1;
    }
    char json[2048];
    config_json(cfg, mean, std, train->c, json, sizeof json);
    const int per_epoch = nmt_loader_batches(&ld);
    nmt_schedule sched = {cfg->schedule, cfg->lr, (int64_t)(cfg->warmup_epochs * per_epoch),
                          (int64_t)cfg->epochs * per_epoch, cfg->final_lr_fraction};
    const int interval = nmt_method_mask_interval(&cfg->method);
    float *x = malloc(sizeof(float) * (size_t)train->c * train->h * train->w * cfg->batch);
    int *labels = malloc(sizeof(int) * cfg->batch);
    if (!x || !labels) {
        nmt_error("out of memory for a training batch");
        rc = -1;
    }
    if (cfg->progress_seconds > 0)
        printf("network memory: %.0f MB, allocated once for the run\n", nmt_net_bytes(net) / 1048576.0);
    const double start = nmt_now();
    double last_print = start;
    int64_t steps_this_run = 0;
    for (int epoch = state.epoch; epoch < cfg->epochs && !rc; epoch++) {
        nmt_loader_epoch(&ld, epoch);
        const int first = epoch == state.epoch ? state.batch_in_epoch : 0;
        nmt_loader_seek(&ld, first);
        double loss_sum = 0.0, epoch_start = nmt_now();
        int64_t correct = 0, seen = 0;
        int b;
        for (b = first; b < per_epoch; b++) {
            if (cfg->max_steps && state.step >= cfg->max_steps) break;
            const int n = nmt_loader_next(&ld, x, labels);
            if (n <= 0) { /* an image folder's strict error, or its last batches all unreadable */
                if (n < 0) rc = -1;
                break;
            }
            int hits = 0;
            const float lr = nmt_schedule_lr(&sched, state.step);
            const float loss = nmt_net_forward(net, x, labels, n, 1, cfg->label_smoothing, &hits);
            if (!isfinite(loss)) {
                nmt_error("training diverged at step %lld (loss %g): lower the learning rate", (long long)state.step, (double)loss);
                rc = -1;
                break;
            }
            if (sync) nmt_net_set_grad_share(net, (float)n / (float)cfg->batch);
            nmt_net_set_step(net, state.step);
            if (nmt_net_backward(net) || (sync && grad_sync_finish(sync) != 0)) {
                rc = -1;
                break;
            }
            nmt_sgd_step(net, &cfg->sgd, lr);
            state.step++;
            steps_this_run++;
            /* Pre-generation: the next step's sparse operands, made once now. */
            nmt_net_refresh_sparse(net, state.step % interval == 0);
            loss_sum += (double)loss * n;
            correct += hits;
            seen += n;
            state.epoch = epoch;
            state.batch_in_epoch = b + 1;
            const double now = nmt_now();
            if (cfg->progress_seconds > 0 && (now - last_print >= cfg->progress_seconds || b + 1 == per_epoch)) {
                const double rate = (double)steps_this_run * cfg->batch / (now - start);
                const int64_t left = sched.total_steps - state.step;
                char eta[32];
                format_duration(left * (double)cfg->batch / rate, eta, sizeof eta);
                printf("epoch %d/%d  step %lld/%lld  loss %.4f  acc %.2f%%  lr %.4f  %.0f img/s  ETA %s\n", epoch + 1,
                       cfg->epochs, (long long)state.step, (long long)sched.total_steps, loss_sum / seen,
                       100.0 * correct / seen, (double)lr, rate, eta);
                fflush(stdout);
                last_print = now;
            }
            if (is_root && cfg->checkpoint_every > 0 && state.step % cfg->checkpoint_every == 0 &&
                save_checkpoint(net, cfg, &state, json) != 0)
                rc = -1;
        }
        if (rc) break;
        int skipped_images = ld.skipped;
        if (comm) { /* the epoch's numbers over all ranks */
            double totals[4] = {loss_sum, (double)correct, (double)seen, (double)skipped_images};
            if (comm->sum_doubles(comm, totals, 4) != 0) {
                nmt_error("summing the epoch's statistics over %d ranks failed", comm->size);
                rc = -1;
                break;
            }
            loss_sum = totals[0], correct = (int64_t)totals[1], seen = (int64_t)totals[2];
            skipped_images = (int)totals[3];
        }
        if (seen == 0) break;
        nmt_epoch_result *r = &result->last;
        r->epoch = epoch + 1;
        r->step = state.step;
        r->lr = nmt_schedule_lr(&sched, state.step > 0 ? state.step - 1 : 0);
        r->train_loss = (float)(loss_sum / seen);
        r->train_acc = (float)correct / (float)seen;
        r->seconds = nmt_now() - start;
        r->images_per_s = (double)seen / (nmt_now() - epoch_start);
        r->skipped_images = skipped_images;
        if (test && is_root && nmt_evaluate(net, test, cfg->batch, mean, std, &r->test_loss, &r->test_acc) != 0) {
            rc = -1;
            break;
        }
        char skipped[48] = "";
        if (r->skipped_images) snprintf(skipped, sizeof skipped, ", %d unreadable images skipped", r->skipped_images);
        if (cfg->progress_seconds > 0)
            printf("epoch %d done: train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  (%.0f img/s, %.1f s%s)\n",
                   r->epoch, (double)r->train_loss, 100.0 * r->train_acc, (double)r->test_loss,
                   100.0 * r->test_acc, r->images_per_s, r->seconds, skipped);
        log_epoch(&logs, r);
        result->epochs_done = r->epoch;
        if (b == per_epoch) {
            state.epoch = epoch + 1;
            state.batch_in_epoch = 0;
        }
        if (is_root && save_checkpoint(net, cfg, &state, json) != 0) rc = -1;
        if (cfg->max_steps && state.step >= cfg->max_steps) break;
    }
    result->seconds = nmt_now() - start;
    free(x), free(labels);
    close_logs(&logs);
    nmt_loader_free(&ld);
    grad_sync_free(sync);
    nmt_net_free(net);
    return rc;
}

/* The run configuration a checkpoint (or export) carries in its "config"
 * metadata: the only place that writes it and the only place that reads it,
 * through libcjson, so strings are escaped and every number is range-checked
 * before it becomes an int. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "nmtrain/core.h"
#include "nmtrain/train.h"

/* Largest seed a JSON number carries exactly (a double's 53-bit mantissa). */
#define SEED_MAX 9007199254740992.0

static int add_number(cJSON *obj, const char *key, double v)
{
    return cJSON_AddNumberToObject(obj, key, v) ? 0 : -1;
}

static int add_floats(cJSON *obj, const char *key, const float *v, int count)
{
    cJSON *list = cJSON_AddArrayToObject(obj, key);
    for (int i = 0; list && i < count; i++) {
        cJSON *item = cJSON_CreateNumber((double)v[i]);
        if (!item || !cJSON_AddItemToArray(list, item)) return -1;
    }
    return list ? 0 : -1;
}

char *nmt_run_config_json(const nmt_train_config *cfg, const float *mean, const float *std)
{
    const nmt_model_config *m = &cfg->model;
    const nmt_method_config *me = &cfg->method;
    char nm[32], grad_nm[32];
    snprintf(nm, sizeof nm, "%d:%d", me->nm.n, me->nm.m);
    snprintf(grad_nm, sizeof grad_nm, "%d:%d", me->grad_nm.n, me->grad_nm.m); /* "0:0" when off */
    cJSON *obj = cJSON_CreateObject();
    int rc = obj ? 0 : -1;
    if (!rc) rc = cJSON_AddStringToObject(obj, "arch", m->arch ? m->arch : "") ? 0 : -1;
    if (!rc) rc = add_number(obj, "width", (double)m->width) || add_number(obj, "in_c", m->in_c) ||
                  add_number(obj, "in_h", m->in_h) || add_number(obj, "in_w", m->in_w) ||
                  add_number(obj, "classes", m->classes) || add_number(obj, "imagenet_stem", m->imagenet_stem) ||
                  add_number(obj, "patch", m->patch) || add_number(obj, "dim", m->dim) ||
                  add_number(obj, "depth", m->depth) || add_number(obj, "heads", m->heads) ||
                  add_number(obj, "mlp_dim", m->mlp_dim);
    if (!rc) rc = cJSON_AddStringToObject(obj, "optimizer", cfg->optimizer == NMT_OPT_ADAMW ? "adamw" : "sgd") ? 0 : -1;
    if (!rc) rc = cJSON_AddStringToObject(obj, "method", nmt_method_name(me->kind)) ? 0 : -1;
    if (!rc) rc = cJSON_AddStringToObject(obj, "nm", nm) ? 0 : -1;
    if (!rc) rc = cJSON_AddStringToObject(obj, "grad_nm", grad_nm) ? 0 : -1;
    if (!rc) rc = add_number(obj, "decay", (double)me->decay) || add_number(obj, "mask_interval", me->mask_interval) ||
                  add_number(obj, "sparse_classifier", me->sparse_classifier);
    if (!rc) rc = cJSON_AddStringToObject(obj, "data", cfg->data_name ? cfg->data_name : "") ? 0 : -1;
    if (!rc) rc = add_number(obj, "epochs", cfg->epochs) || add_number(obj, "batch", cfg->batch) ||
                  add_number(obj, "lr", (double)cfg->lr) || add_number(obj, "seed", (double)cfg->seed);
    if (!rc) rc = cJSON_AddStringToObject(obj, "schedule", nmt_schedule_name(cfg->schedule)) ? 0 : -1;
    if (!rc) rc = add_number(obj, "warmup_epochs", (double)cfg->warmup_epochs) ||
                  add_number(obj, "final_lr_fraction", (double)cfg->final_lr_fraction) ||
                  add_number(obj, "momentum", (double)cfg->sgd.momentum) ||
                  add_number(obj, "nesterov", cfg->sgd.nesterov) ||
                  add_number(obj, "weight_decay", (double)cfg->sgd.weight_decay) ||
                  add_number(obj, "decay_bn_and_bias", cfg->sgd.decay_bn_and_bias) ||
                  add_number(obj, "label_smoothing", (double)cfg->label_smoothing) ||
                  add_number(obj, "dropout", (double)cfg->dropout) ||
                  add_number(obj, "crop_pad", cfg->augment.crop_pad) || add_number(obj, "hflip", cfg->augment.hflip);
    if (!rc) rc = add_floats(obj, "mean", mean, m->in_c) || add_floats(obj, "std", std, m->in_c);
    char *json = rc ? NULL : cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!json) nmt_error("out of memory writing the run configuration");
    return json;
}

typedef struct reader {
    const cJSON *obj;
    const char *path;
} reader;

/* A number in [lo, hi] (integral when `integer`); returns 1 when absent
 * and optional, -1 with an error naming the field. */
static int get_number(const reader *r, const char *key, double lo, double hi, int integer, int optional,
                      double *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(r->obj, key);
    if (!item && optional) return 1;
    if (!cJSON_IsNumber(item)) {
        nmt_error("%s: run configuration lacks a numeric '%s'", r->path, key);
        return -1;
    }
    const double v = item->valuedouble;
    if (!(v >= lo && v <= hi) || (integer && v != floor(v))) {
        nmt_error("%s: run configuration '%s' = %g is not %s in [%g, %g]", r->path, key, v,
                  integer ? "an integer" : "a number", lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int get_int(const reader *r, const char *key, int lo, int hi, int optional, int *out)
{
    double v;
    const int rc = get_number(r, key, lo, hi, 1, optional, &v);
    if (rc == 0) *out = (int)v;
    return rc < 0 ? -1 : 0;
}

static int get_float(const reader *r, const char *key, double lo, double hi, int optional, float *out)
{
    double v;
    const int rc = get_number(r, key, lo, hi, 0, optional, &v);
    if (rc == 0) *out = (float)v;
    return rc < 0 ? -1 : 0;
}

static const char *get_string(const reader *r, const char *key, char *out, size_t size, int optional)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(r->obj, key);
    if (!item && optional) return out;
    if (!cJSON_IsString(item) || strlen(item->valuestring) >= size) {
        nmt_error("%s: run configuration lacks a string '%s' (of at most %zu bytes)", r->path, key, size - 1);
        return NULL;
    }
    memcpy(out, item->valuestring, strlen(item->valuestring) + 1);
    return out;
}

static int get_floats(const reader *r, const char *key, int count, double lo, double hi, float *out)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r->obj, key);
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != count) {
        nmt_error("%s: run configuration lacks the list '%s' of %d numbers", r->path, key, count);
        return -1;
    }
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        if (!cJSON_IsNumber(item) || !(item->valuedouble >= lo && item->valuedouble <= hi)) {
            nmt_error("%s: run configuration '%s'[%d] is not a number in [%g, %g]", r->path, key, i, lo, hi);
            return -1;
        }
        out[i++] = (float)item->valuedouble;
    }
    return 0;
}

int nmt_run_config_parse(const char *json, const char *path, nmt_run_config *out)
{
    memset(out, 0, sizeof *out);
    cJSON *obj = cJSON_Parse(json);
    if (!cJSON_IsObject(obj)) {
        nmt_error("%s: run configuration is not a JSON object", path);
        cJSON_Delete(obj);
        return -1;
    }
    const reader r = {obj, path};
    nmt_train_config *t = &out->train;
    nmt_model_config *m = &t->model;
    char method[16], nm[16], grad_nm[16] = "0:0"; /* absent before the weight gradient's dY pruning existed */
    double seed = 0;
    /* Fields every nmtrain checkpoint has carried. */
    int rc = !get_string(&r, "arch", out->arch, sizeof out->arch, 0) ||
             get_float(&r, "width", 1e-6, NMT_MODEL_MAX_WIDTH, 0, &m->width) ||
             get_int(&r, "in_c", 1, NMT_DATA_MAX_CHANNELS, 0, &m->in_c) ||
             get_int(&r, "in_h", 1, NMT_MODEL_MAX_DIM, 0, &m->in_h) ||
             get_int(&r, "in_w", 1, NMT_MODEL_MAX_DIM, 0, &m->in_w) ||
             get_int(&r, "classes", 2, NMT_MODEL_MAX_DIM, 0, &m->classes) ||
             get_int(&r, "imagenet_stem", 0, 1, 0, &m->imagenet_stem) ||
             /* the ViT's shape (0: the default), absent before the ViT trained */
             get_int(&r, "patch", 0, NMT_MODEL_MAX_DIM, 1, &m->patch) ||
             get_int(&r, "dim", 0, NMT_MODEL_MAX_DIM, 1, &m->dim) ||
             get_int(&r, "depth", 0, NMT_MODEL_MAX_DIM, 1, &m->depth) ||
             get_int(&r, "heads", 0, NMT_MODEL_MAX_DIM, 1, &m->heads) ||
             get_int(&r, "mlp_dim", 0, NMT_MODEL_MAX_DIM, 1, &m->mlp_dim) ||
             !get_string(&r, "method", method, sizeof method, 0) || !get_string(&r, "nm", nm, sizeof nm, 0) ||
             !get_string(&r, "grad_nm", grad_nm, sizeof grad_nm, 1) ||
             get_float(&r, "decay", 0, 1, 0, &t->method.decay) ||
             get_int(&r, "mask_interval", 0, NMT_MASK_INTERVAL_MAX, 0, &t->method.mask_interval) ||
             get_int(&r, "sparse_classifier", 0, 1, 0, &t->method.sparse_classifier) ||
             get_floats(&r, "mean", m->in_c, -1e6, 1e6, out->mean) ||
             get_floats(&r, "std", m->in_c, 1e-12, 1e6, out->std);
    /* The recipe (older checkpoints of exports may lack some of it). */
    if (!rc) {
        const cJSON *schedule = cJSON_GetObjectItemCaseSensitive(obj, "schedule");
        out->has_recipe = schedule != NULL;
        t->schedule = NMT_SCHED_ONECYCLE;
        char schedule_name[16] = "onecycle";
        rc = !get_string(&r, "data", out->data, sizeof out->data, 1) ||
             get_int(&r, "epochs", 1, NMT_EPOCHS_MAX, 1, &t->epochs) ||
             get_int(&r, "batch", 1, NMT_BATCH_MAX, 1, &t->batch) || get_float(&r, "lr", 0, 100, 1, &t->lr) ||
             get_number(&r, "seed", 0, SEED_MAX, 1, 1, &seed) < 0 ||
             !get_string(&r, "schedule", schedule_name, sizeof schedule_name, 1) ||
             get_float(&r, "warmup_epochs", 0, NMT_EPOCHS_MAX, 1, &t->warmup_epochs) ||
             get_float(&r, "final_lr_fraction", 0, 1, 1, &t->final_lr_fraction) ||
             get_float(&r, "momentum", 0, 1, 1, &t->sgd.momentum) ||
             get_int(&r, "nesterov", 0, 1, 1, &t->sgd.nesterov) ||
             get_float(&r, "weight_decay", 0, 1, 1, &t->sgd.weight_decay) ||
             get_int(&r, "decay_bn_and_bias", 0, 1, 1, &t->sgd.decay_bn_and_bias) ||
             get_float(&r, "label_smoothing", 0, 1, 1, &t->label_smoothing) ||
             get_float(&r, "dropout", 0, 1, 1, &t->dropout) || /* absent before dropout existed: 0 */
             get_int(&r, "crop_pad", 0, 64, 1, &t->augment.crop_pad) ||
             get_int(&r, "hflip", 0, 1, 1, &t->augment.hflip);
        if (!rc && !(t->dropout < 1.0f)) {
            nmt_error("%s: run configuration 'dropout' = 1 is not below 1", path);
            rc = -1;
        }
        if (!rc && nmt_schedule_parse(schedule_name, &t->schedule) != 0) {
            nmt_error("%s: run configuration 'schedule' = '%s' is not constant, cosine or onecycle", path,
                      schedule_name);
            rc = -1;
        }
    }
    cJSON_Delete(obj);
    nmt_method_kind kind;
    nmt_nm ratio;
    if (!rc && nmt_method_parse(method, &kind) != 0) {
        nmt_error("%s: run configuration 'method' = '%s' is not a training method", path, method);
        rc = -1;
    }
    if (!rc && nmt_nm_parse(nm, 1, "the run configuration's 'nm'", &ratio) != 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", nmt_errmsg());
        nmt_error("%s: %s", path, why);
        rc = -1;
    }
    nmt_nm grad_ratio = {0, 0};
    if (!rc && strcmp(grad_nm, "0:0") && nmt_grad_nm_parse(grad_nm, &grad_ratio) != 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", nmt_errmsg());
        nmt_error("%s: run configuration 'grad_nm': %s", path, why);
        rc = -1;
    }
    if (rc) return -1;
    const nmt_method_config parsed = t->method;
    nmt_method_defaults(kind, ratio, &t->method);
    t->method.decay = parsed.decay;
    t->method.sparse_classifier = parsed.sparse_classifier;
    if (parsed.mask_interval > 0) t->method.mask_interval = parsed.mask_interval;
    t->method.grad_nm = grad_ratio;
    t->seed = (uint64_t)seed;
    m->arch = out->arch;
    t->data_name = out->data[0] ? out->data : NULL;
    return 0;
}

int nmt_run_config_read(const char *checkpoint, nmt_run_config *out)
{
    char *json = nmt_checkpoint_config(checkpoint);
    if (!json) return -1;
    const int rc = nmt_run_config_parse(json, checkpoint, out);
    free(json);
    return rc;
}

nmt_net *nmt_net_from_checkpoint(const char *path, int max_batch, nmt_method_config *method, float *mean,
                                 float *std)
{
    nmt_run_config *run = malloc(sizeof *run);
    nmt_model_desc *desc = malloc(sizeof *desc);
    nmt_net *net = NULL;
    if (!run || !desc) {
        nmt_error("%s: out of memory describing the model", path);
    } else if (nmt_run_config_read(path, run) == 0 && nmt_model_describe(&run->train.model, desc) == 0) {
        if (method) *method = run->train.method;
        memcpy(mean, run->mean, sizeof run->mean);
        memcpy(std, run->std, sizeof run->std);
        net = nmt_net_create(desc, max_batch, &run->train.method, 0);
        if (net && nmt_checkpoint_load(net, path, NULL) != 0) {
            nmt_net_free(net);
            net = NULL;
        }
    }
    free(desc);
    free(run);
    return net;
}

/* Reading back the run configuration a checkpoint carries (the flat JSON
 * written by the trainer), so `nmtrain eval` rebuilds the same model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmtrain/core.h"
#include "nmtrain/train.h"

/* Points at the value of "key" in a flat JSON object, or NULL. */
static const char *json_value(const char *json, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    if (!at) return NULL;
    at += strlen(pattern);
    while (*at == ' ') at++;
    return at;
}

static int json_number(const char *json, const char *path, const char *key, double *out)
{
    const char *v = json_value(json, key);
    char *end;
    if (v) *out = strtod(v, &end);
    if (!v || end == v) {
        nmt_error("%s: run configuration lacks a numeric '%s'", path, key);
        return -1;
    }
    return 0;
}

static int json_string(const char *json, const char *path, const char *key, char *out, size_t size)
{
    const char *v = json_value(json, key);
    const char *close = v && *v == '"' ? strchr(v + 1, '"') : NULL;
    if (!close || (size_t)(close - v - 1) >= size) {
        nmt_error("%s: run configuration lacks a string '%s'", path, key);
        return -1;
    }
    memcpy(out, v + 1, (size_t)(close - v - 1));
    out[close - v - 1] = 0;
    return 0;
}

static int json_floats(const char *json, const char *path, const char *key, float *out, int count)
{
    const char *v = json_value(json, key);
    if (!v || *v != '[') {
        nmt_error("%s: run configuration lacks the list '%s'", path, key);
        return -1;
    }
    v++;
    for (int i = 0; i < count; i++) {
        char *end;
        out[i] = strtof(v, &end);
        if (end == v) {
            nmt_error("%s: run configuration list '%s' has fewer than %d numbers", path, key, count);
            return -1;
        }
        v = end;
        while (*v == ',' || *v == ' ') v++;
    }
    return 0;
}

int nmt_checkpoint_model(const char *path, nmt_model_config *model, char *arch_buf, size_t arch_size,
                         nmt_method_config *method, float *mean, float *std)
{
    char *json = nmt_checkpoint_config(path);
    if (!json) return -1;
    double width, in_c, in_h, in_w, classes, stem, decay, interval, classifier;
    char method_name[32], nm_text[32];
    int rc = json_string(json, path, "arch", arch_buf, arch_size) || json_number(json, path, "width", &width) ||
             json_number(json, path, "in_c", &in_c) || json_number(json, path, "in_h", &in_h) ||
             json_number(json, path, "in_w", &in_w) || json_number(json, path, "classes", &classes) ||
             json_number(json, path, "imagenet_stem", &stem) ||
             json_string(json, path, "method", method_name, sizeof method_name) ||
             json_string(json, path, "nm", nm_text, sizeof nm_text) || json_number(json, path, "decay", &decay) ||
             json_number(json, path, "mask_interval", &interval) ||
             json_number(json, path, "sparse_classifier", &classifier);
    if (!rc && (in_c < 1 || in_c > NMT_DATA_MAX_CHANNELS)) {
        nmt_error("%s: run configuration has %g input channels", path, in_c);
        rc = -1;
    }
    if (!rc) rc = json_floats(json, path, "mean", mean, (int)in_c) || json_floats(json, path, "std", std, (int)in_c);
    nmt_method_kind kind;
    nmt_nm nm;
    if (!rc && (nmt_method_parse(method_name, &kind) || nmt_nm_parse(nm_text, 1, path, &nm))) rc = -1;
    /* grad_nm: absent before --grad-nm existed, "0:0" when off */
    char grad_text[32] = "0:0";
    nmt_nm grad_nm = {0, 0};
    if (!rc && json_value(json, "grad_nm") && json_string(json, path, "grad_nm", grad_text, sizeof grad_text)) rc = -1;
    if (!rc && strcmp(grad_text, "0:0") != 0 && nmt_grad_nm_parse(grad_text, &grad_nm) != 0) rc = -1;
    free(json);
    if (rc) return -1;
    memset(model, 0, sizeof *model);
    model->arch = arch_buf;
    model->width = (float)width;
    model->in_c = (int)in_c, model->in_h = (int)in_h, model->in_w = (int)in_w;
    model->classes = (int)classes;
    model->imagenet_stem = (int)stem;
    nmt_method_defaults(kind, nm, method);
    method->decay = (float)decay;
    method->mask_interval = (int)interval;
    method->sparse_classifier = (int)classifier;
    method->grad_nm = grad_nm;
    return 0;
}

nmt_net *nmt_net_from_checkpoint(const char *path, int max_batch, nmt_method_config *method, float *mean,
                                 float *std)
{
    nmt_model_config model;
    nmt_method_config own;
    char arch[32];
    nmt_model_desc *desc = malloc(sizeof *desc);
    nmt_net *net = NULL;
    if (!desc) {
        nmt_error("%s: out of memory describing the model", path);
    } else if (nmt_checkpoint_model(path, &model, arch, sizeof arch, method ? method : &own, mean, std) == 0 &&
               nmt_model_describe(&model, desc) == 0) {
        net = nmt_net_create(desc, max_batch, method ? method : &own, 0);
        if (net && nmt_checkpoint_load(net, path, NULL) != 0) {
            nmt_net_free(net);
            net = NULL;
        }
    }
    free(desc);
    return net;
}

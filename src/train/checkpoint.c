/* Checkpoints as safetensors with PyTorch names and layouts: a state_dict
 * that torch.load-style code (tests/ref/safetensors_io.py) reads directly,
 * plus momentum buffers and run state for an exact resume. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmtrain/io.h"
#include "nmtrain/train.h"

#define MOMENTUM_PREFIX "optimizer.momentum."
#define EXP_AVG_SQ_PREFIX "optimizer.exp_avg_sq."
/* "method.mask_<in|out|t>.<weight>": a held mask, one bit per weight. */
#define MASK_PREFIX "method.mask_"
#define FORMAT_NAME "nmtrain-checkpoint-1"
#define EXPORT_FORMAT "nmtrain-inference-1"

/* Internal conv weights are (co, kh, kw, ci); PyTorch's are (co, ci, kh, kw).
 * Copies src to dst in the other layout (to_torch picks the direction). */
static void convert_layout(const nmt_param *p, const float *src, float *dst, int to_torch)
{
    if (!p->conv_layout) {
        memcpy(dst, src, sizeof(float) * (size_t)p->count);
        return;
    }
    const int64_t co = p->shape[0], ci = p->shape[1], kh = p->shape[2], kw = p->shape[3];
    for (int64_t o = 0; o < co; o++)
        for (int64_t c = 0; c < ci; c++)
            for (int64_t i = 0; i < kh; i++)
                for (int64_t j = 0; j < kw; j++) {
                    const int64_t torch = ((o * ci + c) * kh + i) * kw + j, ours = ((o * kh + i) * kw + j) * ci + c;
                    if (to_torch)
                        dst[torch] = src[ours];
                    else
                        dst[ours] = src[torch];
                }
}

/* "<bn>.running_mean" -> "<bn>.num_batches_tracked" */
static int batches_tracked_name(const nmt_param *p, char *out, size_t size)
{
    const char *suffix = ".running_mean";
    const size_t len = strlen(p->name), slen = strlen(suffix);
    if (len < slen || strcmp(p->name + len - slen, suffix)) return 0;
    snprintf(out, size, "%.*s.num_batches_tracked", (int)(len - slen), p->name);
    return 1;
}

int nmt_param_inference_copy(nmt_net *net, const nmt_param *p, float *dst)
{
    const nmt_packed *packed = nmt_net_forward_operand(net, p->name);
    if (!packed) {
        convert_layout(p, p->data, dst, 1);
        return 0;
    }
    float *masked = malloc(sizeof(float) * (size_t)p->count);
    if (!masked) {
        nmt_error("out of memory unpacking '%s'", p->name);
        return -1;
    }
    nmt_unpack(packed, masked);
    convert_layout(p, masked, dst, 1);
    free(masked);
    return 0;
}

static int out_of_memory(const char *path)
{
    nmt_error("%s: out of memory preparing the file", path);
    return -1;
}

/* The first parameter (or momentum) holding a NaN or an infinity, or NULL. */
static const char *first_nonfinite(nmt_net *net, int *momentum)
{
    const char *name = nmt_net_first_nonfinite(net, NMT_PART_VALUES);
    *momentum = !name;
    return name ? name : nmt_net_first_nonfinite(net, NMT_PART_MOMENTUM);
}

static void pack_bits(const uint8_t *mask, size_t count, uint8_t *bits)
{
    memset(bits, 0, (count + 7) / 8);
    for (size_t i = 0; i < count; i++) bits[i / 8] |= (uint8_t)((mask[i] != 0) << (i % 8));
}

static void unpack_bits(const uint8_t *bits, size_t count, uint8_t *mask)
{
    for (size_t i = 0; i < count; i++) mask[i] = (uint8_t)(bits[i / 8] >> (i % 8) & 1);
}

/* Writes the network. A checkpoint carries momentum and run state; an
 * inference export instead carries, for each layer with a sparse forward
 * operand, the masked weight in place of the dense one plus the packed form
 * the N:M kernels read ("<weight>.nm_values" F32 [rows, groups, N] and
 * "<weight>.nm_index" U8, rows in the GEMM's (co) x (kh, kw, ci) order). */
static int write_net(nmt_net *net, const char *path, const nmt_run_state *state, const char *meta_json, int export)
{
    const int count = nmt_net_param_count(net);
    nmt_safetensors st;
    nmt_st_init(&st);
    /* Per parameter: its PyTorch-layout copy and a second tensor (momentum,
     * or the packed values), with names kept alive until the write. */
    float **copies = calloc((size_t)3 * count, sizeof *copies);
    char (*names)[NMT_NAME_MAX + 48] = calloc((size_t)4 * count, sizeof *names);
    int64_t batches = nmt_net_bn_batches(net);
    int rc = copies && names ? 0 : out_of_memory(path);
    int in_momentum;
    const char *poisoned = rc ? NULL : first_nonfinite(net, &in_momentum);
    if (poisoned) {
        nmt_error("%s: not written: %s of '%s' holds NaN or infinite values", path,
                  in_momentum ? "the momentum" : "the value", poisoned);
        rc = -1;
    }
    for (int i = 0; i < count && !rc; i++) {
        nmt_param *p = nmt_net_param(net, i);
        const nmt_packed *packed = export ? nmt_net_forward_operand(net, p->name) : NULL;
        copies[3 * i] = malloc(sizeof(float) * (size_t)p->count);
        if (!copies[3 * i]) { rc = out_of_memory(path); break; }
        if (export) {
            if (nmt_param_inference_copy(net, p, copies[3 * i]) != 0) { rc = out_of_memory(path); break; }
        } else {
            convert_layout(p, p->data, copies[3 * i], 1);
        }
        rc = nmt_st_add(&st, p->name, NMT_F32, p->ndim, p->shape, copies[3 * i]);
        if (!rc && batches_tracked_name(p, names[4 * i], sizeof names[0]))
            rc = nmt_st_add(&st, names[4 * i], NMT_I64, 0, NULL, &batches);
        if (rc) break;
        if (packed) {
            const int64_t shape[3] = {packed->rows, packed->k / packed->nm.m, packed->nm.n};
            snprintf(names[4 * i + 1], sizeof names[0], "%s.nm_values", p->name);
            snprintf(names[4 * i + 2], sizeof names[0], "%s.nm_index", p->name);
            rc = nmt_st_add(&st, names[4 * i + 1], NMT_F32, 3, shape, packed->values);
            if (!rc) rc = nmt_st_add(&st, names[4 * i + 2], NMT_U8, 3, shape, packed->index);
        } else if (!export && p->momentum) {
            copies[3 * i + 1] = malloc(sizeof(float) * (size_t)p->count);
            if (!copies[3 * i + 1]) { rc = out_of_memory(path); break; }
            convert_layout(p, p->momentum, copies[3 * i + 1], 1);
            snprintf(names[4 * i + 1], sizeof names[0], MOMENTUM_PREFIX "%s", p->name);
            rc = nmt_st_add(&st, names[4 * i + 1], NMT_F32, p->ndim, p->shape, copies[3 * i + 1]);
            if (rc || !state || !state->adamw) continue;
            copies[3 * i + 2] = malloc(sizeof(float) * (size_t)p->count);
            if (!copies[3 * i + 2]) { rc = out_of_memory(path); break; }
            convert_layout(p, p->exp_avg_sq, copies[3 * i + 2], 1);
            snprintf(names[4 * i + 3], sizeof names[0], EXP_AVG_SQ_PREFIX "%s", p->name);
            rc = nmt_st_add(&st, names[4 * i + 3], NMT_F32, p->ndim, p->shape, copies[3 * i + 2]);
        }
    }
    /* The held masks, so a resume continues with them and an export packs
     * the ones training last used. */
    nmt_net_mask *masks = export || rc ? NULL : malloc(sizeof *masks * NMT_NET_MAX_MASKS);
    const int n_masks = masks ? nmt_net_masks(net, masks, NMT_NET_MAX_MASKS) : 0;
    uint8_t **bits = n_masks ? calloc((size_t)n_masks, sizeof *bits) : NULL;
    char (*mask_names)[NMT_NAME_MAX + 48] = n_masks ? calloc((size_t)n_masks, sizeof *mask_names) : NULL;
    if (!export && !rc && (!masks || (n_masks && (!bits || !mask_names)))) rc = out_of_memory(path);
    for (int i = 0; i < n_masks && !rc; i++) {
        const int64_t shape[1] = {(int64_t)((masks[i].count + 7) / 8)};
        if (!(bits[i] = malloc((size_t)shape[0]))) {
            rc = out_of_memory(path);
            break;
        }
        pack_bits(masks[i].data, masks[i].count, bits[i]);
        snprintf(mask_names[i], sizeof mask_names[0], MASK_PREFIX "%s.%s", masks[i].kind, masks[i].param);
        rc = nmt_st_add(&st, mask_names[i], NMT_U8, 1, shape, bits[i]);
    }
    char number[32];
    if (!rc && state && n_masks) {
        snprintf(number, sizeof number, "%" PRId64, state->mask_step);
        rc = nmt_st_set_meta(&st, "mask_step", number);
    }
    if (!rc && state) {
        snprintf(number, sizeof number, "%.9g", (double)state->first_loss);
        rc = nmt_st_set_meta(&st, "first_loss", number);
    }
    if (!rc && state && state->batch_in_epoch > 0) { /* the epoch in progress so far */
        snprintf(number, sizeof number, "%.17g", state->epoch_loss_sum);
        rc = nmt_st_set_meta(&st, "epoch_loss_sum", number);
        snprintf(number, sizeof number, "%" PRId64, state->epoch_correct);
        if (!rc) rc = nmt_st_set_meta(&st, "epoch_correct", number);
        snprintf(number, sizeof number, "%" PRId64, state->epoch_seen);
        if (!rc) rc = nmt_st_set_meta(&st, "epoch_seen", number);
    }
    if (!rc) rc = nmt_st_set_meta(&st, "format", export ? EXPORT_FORMAT : FORMAT_NAME);
    if (!rc) rc = nmt_st_set_meta(&st, "arch", nmt_net_desc(net)->arch);
    if (!rc && state) {
        snprintf(number, sizeof number, "%" PRId64, state->step);
        rc = nmt_st_set_meta(&st, "step", number);
        snprintf(number, sizeof number, "%d", state->epoch);
        if (!rc) rc = nmt_st_set_meta(&st, "epoch", number);
        snprintf(number, sizeof number, "%d", state->batch_in_epoch);
        if (!rc) rc = nmt_st_set_meta(&st, "batch_in_epoch", number);
    }
    if (!rc && meta_json) rc = nmt_st_set_meta(&st, "config", meta_json);
    if (!rc) rc = nmt_st_write(&st, path);
    nmt_st_free(&st);
    for (int i = 0; copies && i < 3 * count; i++) free(copies[i]);
    for (int i = 0; bits && i < n_masks; i++) free(bits[i]);
    free(copies), free(names), free(masks), free(bits), free(mask_names);
    return rc;
}

int nmt_checkpoint_save(nmt_net *net, const char *path, const nmt_run_state *state, const char *meta_json)
{
    return write_net(net, path, state, meta_json, 0);
}

int nmt_export_inference(nmt_net *net, const char *path, const char *meta_json)
{
    return write_net(net, path, NULL, meta_json, 1);
}

static int has_suffix(const char *name, const char *suffix)
{
    const size_t len = strlen(name), slen = strlen(suffix);
    return len >= slen && !strcmp(name + len - slen, suffix);
}

static int shape_matches(const nmt_st_tensor *t, const nmt_param *p)
{
    if (t->ndim != p->ndim) return 0;
    for (int d = 0; d < p->ndim; d++)
        if (t->shape[d] != p->shape[d]) return 0;
    return 1;
}

static void shape_text(int ndim, const int64_t *shape, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(out + used, size - used, d ? ", %" PRId64 : "%" PRId64, shape[d]);
    if (used < size) snprintf(out + used, size - used, "]");
}

static int load_tensor(const nmt_safetensors *st, const char *path, const char *name, const nmt_param *p,
                       float *dst)
{
    const nmt_st_tensor *t = nmt_st_find(st, name);
    if (!t) {
        nmt_error("%s: missing tensor '%s' (is it a checkpoint of this model, %s?)", path, name, "same arch and width");
        return -1;
    }
    if (t->dtype != NMT_F32 || !shape_matches(t, p)) {
        char want[96], got[96];
        shape_text(p->ndim, p->shape, want, sizeof want);
        shape_text(t->ndim, t->shape, got, sizeof got);
        nmt_error("%s: tensor '%s' is %s %s, the model needs F32 %s", path, name, nmt_dtype_name(t->dtype), got, want);
        return -1;
    }
    convert_layout(p, t->data, dst, 0);
    return 0;
}

/* A metadata integer in [lo, hi]: 0, 1 when absent, -1 with an error naming
 * the field. Range-checked before any conversion. */
static int parse_meta_int(const nmt_safetensors *st, const char *path, const char *key, int64_t lo, int64_t hi,
                          int64_t *out)
{
    const char *text = nmt_st_meta_get(st, key);
    if (!text) return 1;
    char *end;
    errno = 0;
    const long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno == ERANGE || v < lo || v > hi) {
        nmt_error("%s: metadata '%s' = '%.40s' is not an integer in [%" PRId64 ", %" PRId64 "]", path, key, text, lo,
                  hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* A finite metadata number in [lo, hi], as parse_meta_int. */
static int parse_meta_double(const nmt_safetensors *st, const char *path, const char *key, double lo, double hi,
                             double *out)
{
    const char *text = nmt_st_meta_get(st, key);
    if (!text) return 1;
    char *end;
    const double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo && v <= hi)) {
        nmt_error("%s: metadata '%s' = '%.40s' is not a number in [%g, %g]", path, key, text, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Every tensor must belong to the model: a stray name means a different model. */
static int check_names(nmt_net *net, const nmt_safetensors *st, const char *path)
{
    for (int i = 0; i < st->n_tensors; i++) {
        const char *name = st->tensors[i].name, *base = name;
        if (!strncmp(name, MOMENTUM_PREFIX, strlen(MOMENTUM_PREFIX))) {
            base = name + strlen(MOMENTUM_PREFIX);
        } else if (!strncmp(name, EXP_AVG_SQ_PREFIX, strlen(EXP_AVG_SQ_PREFIX))) {
            base = name + strlen(EXP_AVG_SQ_PREFIX);
        } else if (!strncmp(name, MASK_PREFIX, strlen(MASK_PREFIX))) {
            const char *dot = strchr(name + strlen(MASK_PREFIX), '.');
            base = dot ? dot + 1 : "";
        }
        if (has_suffix(base, ".num_batches_tracked") || has_suffix(base, ".nm_values") || has_suffix(base, ".nm_index"))
            continue; /* BN counters and an export's packed operands (rebuilt from the weights) */
        if (!nmt_net_find_param(net, base)) {
            nmt_error("%s: tensor '%s' does not belong to model %s", path, name, nmt_net_desc(net)->arch);
            return -1;
        }
    }
    return 0;
}

/* The held masks from the checkpoint when it has every one of them; else
 * they are regenerated from the weights (*regenerated = 1). */
static int load_masks(nmt_net *net, const nmt_safetensors *st, const char *path, int *regenerated)
{
    nmt_net_mask *masks = malloc(sizeof *masks * NMT_NET_MAX_MASKS);
    if (!masks) return out_of_memory(path);
    const int n = nmt_net_masks(net, masks, NMT_NET_MAX_MASKS);
    int found = 0, rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        char name[NMT_NAME_MAX + 48];
        snprintf(name, sizeof name, MASK_PREFIX "%s.%s", masks[i].kind, masks[i].param);
        const nmt_st_tensor *t = nmt_st_find(st, name);
        if (!t) continue;
        if (t->dtype != NMT_U8 || t->nbytes != (masks[i].count + 7) / 8) {
            nmt_error("%s: mask '%s' is %s of %zu bytes, the model needs U8 of %zu", path, name,
                      nmt_dtype_name(t->dtype), t->nbytes, (masks[i].count + 7) / 8);
            rc = -1;
        } else {
            unpack_bits(t->data, masks[i].count, masks[i].data);
            found++;
        }
    }
    free(masks);
    *regenerated = 0;
    if (rc) return -1;
    if (n && found == n) {
        if (nmt_net_restore_masks(net) == 0) return 0;
        char why[256];
        snprintf(why, sizeof why, "%s", nmt_errmsg());
        nmt_error("%s: %s", path, why);
        return -1;
    }
    *regenerated = n > 0;
    nmt_net_refresh_sparse(net, 1);
    return 0;
}

int nmt_checkpoint_load(nmt_net *net, const char *path, nmt_run_state *state)
{
    nmt_safetensors st;
    if (nmt_st_read(path, &st) != 0) return -1;
    const int count = nmt_net_param_count(net);
    int rc = check_names(net, &st, path), adamw = 0;
    for (int i = 0; i < count && !rc; i++) {
        nmt_param *p = nmt_net_param(net, i);
        rc = load_tensor(&st, path, p->name, p, p->data);
        char name[NMT_NAME_MAX + 48];
        if (!rc && batches_tracked_name(p, name, sizeof name)) {
            const nmt_st_tensor *t = nmt_st_find(&st, name);
            if (t && t->dtype == NMT_I64 && t->nbytes == 8) {
                int64_t batches;
                memcpy(&batches, t->data, 8);
                nmt_net_set_bn_batches(net, batches);
            }
        }
        if (rc || !p->momentum || !state) continue;
        snprintf(name, sizeof name, MOMENTUM_PREFIX "%s", p->name);
        if (nmt_st_find(&st, name)) rc = load_tensor(&st, path, name, p, p->momentum);
        snprintf(name, sizeof name, EXP_AVG_SQ_PREFIX "%s", p->name);
        if (!rc && nmt_st_find(&st, name)) {
            rc = load_tensor(&st, path, name, p, p->exp_avg_sq);
            adamw = 1;
        }
    }
    int in_momentum;
    const char *poisoned = rc ? NULL : first_nonfinite(net, &in_momentum);
    if (poisoned) {
        if (state) {
            nmt_error("%s: %s'%s' holds NaN or infinite values: a run cannot continue from it", path,
                      in_momentum ? "the momentum of " : "tensor ", poisoned);
            rc = -1;
        } else {
            fprintf(stderr, "nmtrain: warning: %s: tensor '%s' holds NaN or infinite values\n", path, poisoned);

        }
    }
    if (!rc && state) {
        int64_t step = 0, epoch = 0, batch = 0, mask_step = 0, correct = 0, seen = 0;
        double loss_sum = 0, first_loss = 0;
        memset(state, 0, sizeof *state);
        if (parse_meta_int(&st, path, "step", 0, INT64_MAX / 2, &step) < 0 ||
            parse_meta_int(&st, path, "epoch", 0, NMT_EPOCHS_MAX, &epoch) < 0 ||
            parse_meta_int(&st, path, "batch_in_epoch", 0, INT32_MAX, &batch) < 0 ||
            parse_meta_int(&st, path, "mask_step", 0, step, &mask_step) < 0 ||
            parse_meta_int(&st, path, "epoch_seen", 0, INT64_MAX / 2, &seen) < 0 ||
            parse_meta_int(&st, path, "epoch_correct", 0, seen, &correct) < 0 ||
            parse_meta_double(&st, path, "epoch_loss_sum", 0, 1e300, &loss_sum) < 0 ||
            parse_meta_double(&st, path, "first_loss", 0, 3e38, &first_loss) < 0) {
            rc = -1;
        } else {
            state->step = step;
            state->epoch = (int)epoch;
            state->batch_in_epoch = (int)batch;
            state->adamw = adamw;
            state->mask_step = mask_step;
            state->epoch_loss_sum = loss_sum;
            state->epoch_correct = correct;
            state->epoch_seen = seen;
            state->first_loss = (float)first_loss;
        }
    }
    int regenerated = 0;
    if (!rc) rc = load_masks(net, &st, path, &regenerated);
    if (!rc && state) state->masks_regenerated = regenerated;
    nmt_st_free(&st);
    return rc;
}

char *nmt_checkpoint_config(const char *path)
{
    nmt_safetensors st;
    if (nmt_st_read(path, &st) != 0) return NULL;
    const char *config = nmt_st_meta_get(&st, "config");
    char *copy = config ? strdup(config) : NULL;
    if (!config) nmt_error("%s: no 'config' metadata: not an nmtrain checkpoint", path);
    nmt_st_free(&st);
    return copy;
}

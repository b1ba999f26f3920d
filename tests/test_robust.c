/* Runs that never lose work (issue 16) and the run configuration (issue 13,
 * item 3), through the library: exact resume with the held masks for every
 * method and mask interval, checkpoint metadata and configuration range
 * checks, NaN propagation and divergence, refusal to overwrite a run,
 * PATH_MAX-safe output paths, one log row per epoch, and overflow-safe
 * shapes. */
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "layers/layers.h"
#include "nmtrain.h"

static char dir[] = "/tmp/nmt_robust_XXXXXX";
static nmt_dataset data;

/* 48 images of 16x16, a bright row per class: a few steps learn it. */
static void make_data(void)
{
    data.count = 48, data.c = 1, data.h = 16, data.w = 16, data.classes = 10;
    data.images = calloc(48, 256);
    data.labels = malloc(48);
    for (int i = 0; i < 48; i++) {
        data.labels[i] = (uint8_t)(i % 10);
        for (int p = 0; p < 256; p++) data.images[i * 256 + p] = (uint8_t)((i * 37 + p * 11) % 50);
        for (int x = 2; x < 14; x++) data.images[i * 256 + (1 + data.labels[i]) * 16 + x] = 240;
    }
}

static nmt_train_config base_config(nmt_method_kind kind, int interval, int epochs, const char *out)
{
    nmt_train_config c;
    memset(&c, 0, sizeof c);
    c.model = (nmt_model_config){.arch = "resnet9", .width = 0.125f, .in_c = 1, .in_h = 16, .in_w = 16,
                                 .classes = 10};
    const nmt_nm nm = {2, 8};
    nmt_method_defaults(kind, nm, &c.method);
    c.method.mask_interval = interval;
    c.epochs = epochs, c.batch = 8;
    c.schedule = NMT_SCHED_ONECYCLE, c.lr = 0.2f, c.warmup_epochs = 0.5f;
    c.sgd = (nmt_sgd_config){.momentum = 0.9f, .nesterov = 1, .weight_decay = 5e-4f};
    c.label_smoothing = 0.1f;
    c.augment = (nmt_augment){1, 1};
    c.seed = 7;
    c.out_dir = out;
    c.data_name = "toy";
    return c;
}

static int files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static char *path_in(const char *sub, const char *file)
{
    static char paths[8][PATH_MAX];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, PATH_MAX, "%s/%s%s%s", dir, sub, file ? "/" : "", file ? file : "");
    return p;
}

static int train(const nmt_train_config *c, nmt_train_result *r)
{
    nmt_train_result own;
    return nmt_train(c, &data, NULL, r ? r : &own);
}

/* Rewrites one metadata entry of a safetensors file. */
static int set_meta(const char *path, const char *key, const char *value, const char *out)
{
    nmt_safetensors in, copy;
    if (nmt_st_read(path, &in) != 0) return -1;
    nmt_st_init(&copy);
    int rc = 0;
    for (int i = 0; i < in.n_tensors && !rc; i++) {
        const nmt_st_tensor *t = &in.tensors[i];
        rc = nmt_st_add(&copy, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    for (int i = 0; i < in.n_meta && !rc; i++)
        rc = nmt_st_set_meta(&copy, in.meta[i].key, !strcmp(in.meta[i].key, key) ? value : in.meta[i].value);
    if (!rc && !nmt_st_meta_get(&in, key)) rc = nmt_st_set_meta(&copy, key, value);
    if (!rc) rc = nmt_st_write(&copy, out);
    nmt_st_free(&copy);
    nmt_st_free(&in);
    return rc;
}

/* Item 4: stopped off an interval boundary and resumed, every method and
 * interval lands on the uninterrupted run's checkpoint, byte for byte. */
static void test_exact_resume(void)
{
    const nmt_method_kind kinds[] = {NMT_METHOD_DENSE, NMT_METHOD_SRSTE, NMT_METHOD_BDWP, NMT_METHOD_SDGP,
                                     NMT_METHOD_TNM};
    const int intervals[] = {1, 3, 40};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (size_t i = 0; i < 3; i++) {
            const int interval = intervals[i], epochs = interval == 40 ? 8 : 3; /* 6 steps per epoch */
            const int stop = interval == 40 ? 43 : 8;
            char full[64], part[64];
            snprintf(full, sizeof full, "full_%s_%d", nmt_method_name(kinds[k]), interval);
            snprintf(part, sizeof part, "part_%s_%d", nmt_method_name(kinds[k]), interval);
            nmt_train_config c = base_config(kinds[k], interval, epochs, path_in(full, NULL));
            int rc = train(&c, NULL);
            CHECK(rc == 0, "%s: %s", full, nmt_errmsg());
            c.out_dir = path_in(part, NULL);
            c.max_steps = stop;
            rc = train(&c, NULL);
            CHECK(rc == 0, "%s: %s", part, nmt_errmsg());
            c.max_steps = 0;
            c.resume = path_in(part, "checkpoint.safetensors");
            nmt_train_result r;
            rc = train(&c, &r);
            CHECK(rc == 0 && r.state.step == epochs * 6, "%s resumed: %s", part, nmt_errmsg());
            CHECK(files_equal(path_in(full, "checkpoint.safetensors"), path_in(part, "checkpoint.safetensors")),
                  "%s interval %d: stopped at step %d and resumed, the checkpoint differs from the uninterrupted run's",
                  nmt_method_name(kinds[k]), interval, stop);
        }
    /* Eval and export use the masks training last used: step 18 is not a
     * refresh at interval 40, so fresh masks from the final weights differ. */
    nmt_method_config method;
    float mean[NMT_DATA_MAX_CHANNELS], std[NMT_DATA_MAX_CHANNELS];
    nmt_net *net = nmt_net_from_checkpoint(path_in("full_bdwp_40", "checkpoint.safetensors"), 8, &method, mean, std);
    CHECK(net != NULL, "%s", nmt_errmsg());
    if (net) {
        nmt_net_mask masks[NMT_NET_MAX_MASKS];
        const int n = nmt_net_masks(net, masks, NMT_NET_MAX_MASKS);
        CHECK(n > 0 && method.mask_interval == 40, "bdwp at interval 40 holds %d masks", n);
        uint8_t *held = malloc(masks[0].count);
        memcpy(held, masks[0].data, masks[0].count);
        nmt_net_refresh_sparse(net, 1);
        CHECK(memcmp(held, masks[0].data, masks[0].count) != 0,
              "the test needs masks that differ from fresh ones (step 48 at interval 40)");
        free(held);
        nmt_net_free(net);
    }
}

/* Item 6 and issue 13 item 3: every number read back is range-checked. */
static void test_metadata_checks(void)
{
    const char *ckpt = path_in("full_bdwp_3", "checkpoint.safetensors"), *bad = path_in("bad.safetensors", NULL);
    const char *mid = path_in("meta_src", "checkpoint.safetensors");
    nmt_train_config c = base_config(NMT_METHOD_BDWP, 3, 3, path_in("meta_src", NULL));
    c.max_steps = 8; /* epoch 1, batch 2 */
    CHECK(train(&c, NULL) == 0, "%s", nmt_errmsg());
    c.max_steps = 0;
    c.out_dir = path_in("meta_out", NULL);
    c.resume = bad;
    static const struct {
        const char *key, *value, *expect;
    } cases[] = {
        {"epoch", "2147483648", "'epoch'"},
        {"epoch", "-1", "'epoch'"},
        {"step", "99999999999999999999", "'step'"},
        {"batch_in_epoch", "999", "past an epoch"},
        {"epoch", "2", "does not match"},
        {"mask_step", "1000", "'mask_step'"},
        {"first_loss", "nan", "'first_loss'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(set_meta(mid, cases[i].key, cases[i].value, bad) == 0, "rewrite: %s", nmt_errmsg());
        nmt_train_result r;
        const int rc = train(&c, &r);
        CHECK(rc != 0 && strstr(nmt_errmsg(), cases[i].expect), "%s = %s: rc %d, '%s'", cases[i].key,
              cases[i].value, rc, nmt_errmsg());
    }
    /* A finished run resumed: nothing runs, no accuracy is made up. */
    c.resume = ckpt;
    nmt_train_result r;
    int rc = train(&c, &r);
    CHECK(rc == 0 && r.already_finished && r.epochs_done == 0, "finished run: rc %d, finished %d, epochs %d: %s", rc,
          r.already_finished, r.epochs_done, nmt_errmsg());

    /* The run configuration: written with escapes, read back whole, and
     * every number range-checked before it becomes an int. */
    nmt_train_config w = base_config(NMT_METHOD_TNM, 40, 3, NULL);
    w.data_name = "we\"ird\\name";
    const float mean[1] = {0.25f}, std[1] = {0.5f};
    char *json = nmt_run_config_json(&w, mean, std);
    nmt_run_config back;
    CHECK(json && nmt_run_config_parse(json, "x", &back) == 0, "round trip: %s", nmt_errmsg());
    if (json) {
        CHECK(!strcmp(back.data, w.data_name) && back.train.method.kind == NMT_METHOD_TNM &&
                  back.train.method.mask_interval == 40 && back.train.seed == 7 && back.train.batch == 8 &&
                  back.train.schedule == NMT_SCHED_ONECYCLE && back.has_recipe && back.mean[0] == 0.25f,
              "round trip lost a field: data '%s'", back.data);
        static const struct {
            const char *from, *to, *field;
        } edits[] = {
            {"\"in_h\":16", "\"in_h\":1e30", "'in_h'"},
            {"\"in_h\":16", "\"in_h\":-3", "'in_h'"},
            {"\"in_w\":16", "\"in_w\":16.5", "'in_w'"},
            {"\"batch\":8", "\"batch\":1e99", "'batch'"},
            {"\"classes\":10", "\"classes\":\"ten\"", "'classes'"},
            {"\"mask_interval\":40", "\"mask_interval\":2147483648", "'mask_interval'"},
            {"\"seed\":7", "\"seed\":-7", "'seed'"},
            {"\"width\":0.125", "\"width\":NaN", "not a JSON object"},
            {"\"nm\":\"2:8\"", "\"nm\":\"9:8\"", "nm"},
        };
        for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
            char edited[4096];
            const char *at = strstr(json, edits[i].from);
            CHECK(at != NULL, "'%s' not in %s", edits[i].from, json);
            if (!at) continue;
            snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - json), json, edits[i].to,
                     at + strlen(edits[i].from));
            const int bad_rc = nmt_run_config_parse(edited, "ckpt", &back);
            CHECK(bad_rc != 0 && strstr(nmt_errmsg(), edits[i].field), "%s: rc %d, '%s'", edits[i].to, bad_rc,
                  nmt_errmsg());
        }
        free(json);
    }
    /* The configuration of an older checkpoint (hand-formatted, no recipe). */
    const char *old = "{\"arch\": \"resnet9\", \"width\": 0.25, \"in_c\": 1, \"in_h\": 28, \"in_w\": 28, \"classes\": 10, "
                      "\"imagenet_stem\": 0, \"method\": \"bdwp\", \"nm\": \"2:8\", \"decay\": 0.0002, "
                      "\"mask_interval\": 1, \"sparse_first\": 0, \"sparse_classifier\": 0, \"data\": \"fashion-mnist\", "
                      "\"epochs\": 3, \"batch\": 128, \"lr\": 0.4, \"seed\": 0, \"mean\": [0.286], \"std\": [0.353]}";
    CHECK(nmt_run_config_parse(old, "old", &back) == 0 && !back.has_recipe && back.train.batch == 128 &&
              !strcmp(back.train.model.arch, "resnet9"),
          "older configuration: %s", nmt_errmsg());
    /* A checkpoint whose configuration claims in_h 1e30 is refused, naming the field. */
    char *cfg_text = nmt_checkpoint_config(ckpt), edited[4096];
    const char *at = cfg_text ? strstr(cfg_text, "\"in_h\":16") : NULL;
    CHECK(at != NULL, "no in_h in the checkpoint's configuration");
    if (at) {
        snprintf(edited, sizeof edited, "%.*s\"in_h\":1e30%s", (int)(at - cfg_text), cfg_text, at + 9);
        CHECK(set_meta(ckpt, "config", edited, bad) == 0, "rewrite: %s", nmt_errmsg());
        float mean4[4], std4[4];
        nmt_net *net = nmt_net_from_checkpoint(bad, 8, NULL, mean4, std4);
        CHECK(!net && strstr(nmt_errmsg(), "'in_h'"), "in_h 1e30: '%s'", nmt_errmsg());
        nmt_net_free(net);
    }
    free(cfg_text);
}

/* Item 5: the checkpoint's configuration against the resuming run's. */
static void test_resume_config(void)
{
    nmt_train_config c = base_config(NMT_METHOD_SRSTE, 1, 3, path_in("cfg_out", NULL));
    c.resume = path_in("part_srste_1", "checkpoint.safetensors");
    c.method.kind = NMT_METHOD_BDWP;
    int rc = train(&c, NULL);
    CHECK(rc != 0 && strstr(nmt_errmsg(), "method srste") && strstr(nmt_errmsg(), "bdwp"), "srste as bdwp: %s",
          nmt_errmsg());
    c = base_config(NMT_METHOD_SRSTE, 1, 3, path_in("cfg_out", NULL));
    c.resume = path_in("part_srste_1", "checkpoint.safetensors");
    c.method.nm.n = 2, c.method.nm.m = 4;
    rc = train(&c, NULL);
    CHECK(rc != 0 && strstr(nmt_errmsg(), "M 8") && strstr(nmt_errmsg(), "4"), "2:8 as 2:4: %s", nmt_errmsg());
    c = base_config(NMT_METHOD_SRSTE, 1, 3, path_in("cfg_out", NULL));
    c.resume = path_in("part_srste_1", "checkpoint.safetensors");
    c.seed = 8;
    rc = train(&c, NULL);
    CHECK(rc != 0 && strstr(nmt_errmsg(), "seed 7"), "another seed: %s", nmt_errmsg());
    c.seed = 7, c.batch = 16;
    rc = train(&c, NULL);
    CHECK(rc != 0 && strstr(nmt_errmsg(), "batch 8"), "another batch: %s", nmt_errmsg());
    /* A fine-tune may change them: a new schedule from the weights. */
    c.batch = 8, c.method.kind = NMT_METHOD_BDWP, c.finetune = 1, c.overwrite = 1;
    nmt_train_result r;
    rc = train(&c, &r);
    CHECK(rc == 0 && r.state.step == 18, "fine-tune: rc %d, step %lld: %s", rc, (long long)r.state.step,
          nmt_errmsg());
}

/* Item 2: NaN propagates, divergence stops the run, poisoned weights are
 * never written and never resumed from. */
static void test_divergence(void)
{
    const float x[4] = {NAN, -1.0f, 2.0f, -0.0f}, dy[4] = {1, 1, 1, 1};
    float y[4], dx[4];
    relu_forward(4, x, y);
    relu_backward(4, y, dy, dx, 0);
    CHECK(isnan(y[0]) && y[1] == 0 && y[2] == 2 && y[3] == 0, "relu(NaN) = %g (PyTorch: NaN)", (double)y[0]);
    CHECK(dx[0] == 1 && dx[1] == 0 && dx[2] == 1, "relu backward at NaN passes %g (PyTorch: dy)", (double)dx[0]);

    nmt_train_config c = base_config(NMT_METHOD_BDWP, 1, 1, NULL);
    nmt_model_desc *desc = malloc(sizeof *desc);
    CHECK(nmt_model_describe(&c.model, desc) == 0, "%s", nmt_errmsg());
    nmt_net *net = nmt_net_create(desc, 8, &c.method, 1);
    free(desc);
    nmt_param *w = nmt_net_find_param(net, "layer1.0.weight");
    CHECK(w != NULL, "no layer1.0.weight");
    if (!w) return;
    w->data[5] = NAN;
    nmt_net_refresh_sparse(net, 1);
    float *in = calloc(8 * 256, sizeof(float));
    int labels[8] = {0, 1, 2, 3, 4, 5, 6, 7}, hits;
    for (int i = 0; i < 8 * 256; i++) in[i] = (float)(i % 7) - 3.0f;
    const float loss = nmt_net_forward(net, in, labels, 8, 1, 0.0f, &hits);
    CHECK(isnan(loss), "a NaN weight gives loss %g (PyTorch: NaN)", (double)loss);
    free(in);
    nmt_run_state state = {0};
    int rc = nmt_checkpoint_save(net, path_in("poisoned.safetensors", NULL), &state, "{}");
    CHECK(rc != 0 && strstr(nmt_errmsg(), "layer1.0.weight"), "a NaN weight was written: %s", nmt_errmsg());
    CHECK(access(path_in("poisoned.safetensors", NULL), F_OK) != 0, "a poisoned checkpoint exists");
    nmt_net_free(net);

    /* A checkpoint with a NaN tensor: an error for training, a warning for eval. */
    const char *ckpt = path_in("full_bdwp_1", "checkpoint.safetensors");
    nmt_safetensors st;
    CHECK(nmt_st_read(ckpt, &st) == 0, "%s", nmt_errmsg());
    const nmt_st_tensor *t = nmt_st_find(&st, "layer2.0.weight");
    if (t) {
        ((float *)t->data)[3] = INFINITY;
        nmt_safetensors copy;
        nmt_st_init(&copy);
        for (int i = 0; i < st.n_tensors; i++)
            nmt_st_add(&copy, st.tensors[i].name, st.tensors[i].dtype, st.tensors[i].ndim, st.tensors[i].shape,
                       st.tensors[i].data);
        for (int i = 0; i < st.n_meta; i++) nmt_st_set_meta(&copy, st.meta[i].key, st.meta[i].value);
        CHECK(nmt_st_write(&copy, path_in("inf.safetensors", NULL)) == 0, "%s", nmt_errmsg());
        nmt_st_free(&copy);
    }
    nmt_st_free(&st);
    c = base_config(NMT_METHOD_BDWP, 1, 3, path_in("inf_out", NULL));
    c.resume = path_in("inf.safetensors", NULL);
    rc = train(&c, NULL);
    CHECK(rc != 0 && strstr(nmt_errmsg(), "layer2.0.weight"), "resume from an infinite weight: %s", nmt_errmsg());
    float mean[4], std[4];
    net = nmt_net_from_checkpoint(path_in("inf.safetensors", NULL), 8, NULL, mean, std);
    CHECK(net != NULL, "eval of an infinite weight is a warning: %s", nmt_errmsg());
    nmt_net_free(net);

    /* A loss past the bound, and a learning rate that blows up. */
    c = base_config(NMT_METHOD_BDWP, 1, 3, path_in("bound_out", NULL));
    c.max_loss = 0.01f;
    rc = train(&c, NULL);
    CHECK(rc != 0 && strstr(nmt_errmsg(), "diverged at step 0") && strstr(nmt_errmsg(), "exceeds"),
          "loss bound: %s", nmt_errmsg());
    c = base_config(NMT_METHOD_BDWP, 1, 20, path_in("blowup_out", NULL));
    c.lr = 100.0f, c.schedule = NMT_SCHED_CONSTANT, c.checkpoint_every = 1;
    rc = train(&c, NULL);
    CHECK(rc != 0 && strstr(nmt_errmsg(), "diverged at step"), "lr 100 did not diverge: %s", nmt_errmsg());
    if (access(path_in("blowup_out", "checkpoint.safetensors"), F_OK) == 0) {
        float m4[4], s4[4];
        nmt_net *last = nmt_net_from_checkpoint(path_in("blowup_out", "checkpoint.safetensors"), 8, NULL, m4, s4);
        CHECK(last && !nmt_net_first_nonfinite(last, NMT_PART_VALUES), "the last checkpoint of a diverged run is not finite");
        nmt_net_free(last);
    }
}

/* Item 3: an output directory holding a run is not replaced by accident. */
static void test_overwrite(void)
{
    nmt_train_config c = base_config(NMT_METHOD_DENSE, 1, 1, path_in("full_dense_1", NULL));
    struct stat before, after;
    stat(path_in("full_dense_1", "log.csv"), &before);
    int rc = train(&c, NULL);
    stat(path_in("full_dense_1", "log.csv"), &after);
    CHECK(rc != 0 && strstr(nmt_errmsg(), "already holds a run"), "second run into a run's directory: %s",
          nmt_errmsg());
    CHECK(after.st_size == before.st_size && after.st_size > 0, "the logs went from %lld to %lld bytes",
          (long long)before.st_size, (long long)after.st_size);
    c.overwrite = 1;
    rc = train(&c, NULL);
    CHECK(rc == 0, "overwrite: %s", nmt_errmsg());
}

/* Item 9: paths near and past PATH_MAX. */
static void test_paths(void)
{
    char *deep = malloc(PATH_MAX + 64);
    int len = snprintf(deep, PATH_MAX, "%s/deep", dir);
    mkdir(deep, 0755);
    /* 1020 bytes: fits, but "/checkpoint.safetensors" takes it past 1024. */
    while (len < 1020) {
        const int add = 1020 - len > 200 ? 200 : 1020 - len - 1;
        if (add < 1) break;
        deep[len++] = '/';
        memset(deep + len, 'd', (size_t)add);
        len += add;
        deep[len] = 0;
    }
    nmt_train_config c = base_config(NMT_METHOD_DENSE, 1, 1, deep);
    int rc = train(&c, NULL);
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/checkpoint.safetensors", deep);
    const int has_ckpt = access(file, F_OK) == 0;
    snprintf(file, sizeof file, "%s/log.jsonl", deep);
    CHECK(rc == 0 && has_ckpt && access(file, F_OK) == 0, "a %d-byte output directory: rc %d, checkpoint %d: %s",
          len, rc, has_ckpt, nmt_errmsg());
    while (len < PATH_MAX) deep[len++] = 'e';
    deep[len] = 0;
    rc = train(&c, NULL);
    CHECK(rc != 0 && strstr(nmt_errmsg(), "too long"), "a %d-byte output directory: %s", len, nmt_errmsg());
    c.out_dir = "";
    rc = train(&c, NULL);
    CHECK(rc != 0 && strstr(nmt_errmsg(), "empty"), "an empty output directory name: %s", nmt_errmsg());
    free(deep);
}

static int read_lines(const char *path, char lines[][256], int max)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && n < max && fgets(lines[n], 256, f)) n++;
    if (f) fclose(f);
    return n;
}

/* The columns of a log row that do not depend on timing. */
static void row_without_timing(const char *row, char *out, size_t size)
{
    int epoch;
    long long step;
    double lr, tl, ta, vl, va;
    if (sscanf(row, "%d,%lld,%lf,%lf,%lf,%lf,%lf", &epoch, &step, &lr, &tl, &ta, &vl, &va) == 7)
        snprintf(out, size, "%d,%lld,%.6g,%.6f,%.6f", epoch, step, lr, tl, ta);
    else
        snprintf(out, size, "?");
}

/* Item 10: one row per epoch, whole-epoch statistics after a resume, and a
 * header in every new log file. */
static void test_logs(void)
{
    char full[8][256], part[8][256], fresh[8][256];
    const int nf = read_lines(path_in("full_srste_3", "log.csv"), full, 8);
    const int np = read_lines(path_in("part_srste_3", "log.csv"), part, 8);
    CHECK(nf == 4 && np == 4, "full run logged %d lines, interrupted and resumed %d (want header + 3)", nf, np);
    for (int i = 1; i < np && i < nf; i++) {
        char a[128], b[128];
        row_without_timing(full[i], a, sizeof a);
        row_without_timing(part[i], b, sizeof b);
        CHECK(!strcmp(a, b), "epoch %d: uninterrupted '%s', resumed '%s'", i, a, b);
        int resumed = -1, skipped = -1;
        double ignored[8];
        sscanf(part[i], "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%d,%d", &ignored[0], &ignored[1], &ignored[2],
               &ignored[3], &ignored[4], &ignored[5], &ignored[6], &ignored[7], &ignored[7], &resumed, &skipped);
        CHECK(resumed == (i == 2), "epoch %d's row says resumed = %d: %s", i, resumed, part[i]);
    }
    /* Resumed into a new directory: the log starts with its header. */
    nmt_train_config c = base_config(NMT_METHOD_SRSTE, 3, 3, path_in("fresh_dir", NULL));
    c.max_steps = 8;
    c.out_dir = path_in("fresh_src", NULL);
    int rc = train(&c, NULL);
    c.max_steps = 0;
    c.out_dir = path_in("fresh_dir", NULL);
    c.resume = path_in("fresh_src", "checkpoint.safetensors");
    rc |= train(&c, NULL);
    const int n = read_lines(path_in("fresh_dir", "log.csv"), fresh, 8);
    CHECK(rc == 0 && n == 3 && !strncmp(fresh[0], "epoch,", 6), "resume into a new directory: %d lines, first '%s'",
          n, n ? fresh[0] : "");
}

/* Item 7: bounded shapes, strtol parsing, closed-form padding counts. */
static void test_shapes(void)
{
    int c, h, w;
    const char *bad[] = {"1x2147483647x2147483647", "4x99999999999x1", "3x32", "3x32x32x", "-3x32x32", "3x 32x32",
                         "3x32x65537", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(nmt_shape_parse(bad[i], &c, &h, &w) != 0, "'%s' parsed as %dx%dx%d", bad[i], c, h, w);
    CHECK(nmt_shape_parse("3x65536x7", &c, &h, &w) == 0 && c == 3 && h == 65536 && w == 7, "3x65536x7: %s",
          nmt_errmsg());
    nmt_model_desc *desc = malloc(sizeof *desc);
    nmt_model_config m = {.arch = "resnet18", .width = 64, .in_c = 4, .in_h = 65536, .in_w = 65536, .classes = 10};
    CHECK(nmt_model_describe(&m, desc) != 0 && strstr(nmt_errmsg(), "beyond the supported size"),
          "a 65536x65536 input at width 64: %s", nmt_errmsg());
    m.in_h = m.in_w = 1 << 20;
    CHECK(nmt_model_describe(&m, desc) != 0, "1M x 1M input accepted");
    free(desc);
    /* Padding taps in closed form against counting them one by one. */
    const int ks[] = {1, 3, 5, 7}, strides[] = {1, 2, 3}, pads[] = {0, 1, 2, 3}, ins[] = {1, 2, 5, 8, 13};
    int mismatches = 0;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 3; b++)
            for (int p = 0; p < 4; p++)
                for (int i = 0; i < 5; i++) {
                    const int k = ks[a], s = strides[b], pad = pads[p], in = ins[i];
                    const int span = in + 2 * pad - k;
                    if (span < 0) continue;
                    const int out = span / s + 1;
                    nmt_node n = {.op = NMT_OP_CONV, .c_in = 2, .c_out = 3, .h_in = in, .w_in = in + 1,
                                  .h_out = out, .w_out = (in + 1 + 2 * pad - k) / s + 1, .kh = k, .kw = k,
                                  .stride = s, .pad = pad};
                    int64_t inside = 0;
                    for (int oy = 0; oy < n.h_out; oy++)
                        for (int ox = 0; ox < n.w_out; ox++)
                            for (int ky = 0; ky < k; ky++)
                                for (int kx = 0; kx < k; kx++) {
                                    const int y = oy * s - pad + ky, x = ox * s - pad + kx;
                                    inside += y >= 0 && y < n.h_in && x >= 0 && x < n.w_in;
                                }
                    const int64_t want = ((int64_t)k * k * n.h_out * n.w_out - inside) * 2 * 3;
                    mismatches += nmt_node_padding_macs(&n) != want;
                }
    CHECK(mismatches == 0, "%d padding counts differ from counting the taps", mismatches);
}

int main(void)
{
    if (!mkdtemp(dir)) return 2;
    make_data();
    nmt_set_threads(1);
    test_exact_resume();
    test_metadata_checks();
    test_resume_config();
    test_divergence();
    test_overwrite();
    test_paths();
    test_logs();
    test_shapes();
    nmt_dataset_free(&data);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    TEST_END("test_robust");
}

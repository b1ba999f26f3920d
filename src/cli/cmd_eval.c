/* nmtrain eval: accuracy of a checkpoint on a test set. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "cli/options.h"

static const char about[] =
    "usage: nmtrain eval --checkpoint FILE [options]\n"
    "Evaluates a checkpoint written by nmtrain train (or an export) on the test split. --dump-logits\n"
    "writes the first test batch as fed to the model and its logits, for comparing with PyTorch\n"
    "(scripts/torch_roundtrip.py).\n";

/* First test batch and its logits, in PyTorch's layouts. */
static int dump_logits(nmt_net *net, const nmt_dataset *test, int batch, const float *mean, const float *std,
                       const char *path)
{
    nmt_loader ld;
    const nmt_augment none = {0, 0};
    const int plane = test->h * test->w, classes = nmt_net_desc(net)->classes;
    float *x = malloc(sizeof(float) * (size_t)test->c * plane * batch);
    float *x_nchw = malloc(sizeof(float) * (size_t)test->c * plane * batch);
    float *logits = malloc(sizeof(float) * (size_t)classes * batch);
    int *labels = malloc(sizeof(int) * batch);
    int rc = -1;
    if (x && x_nchw && logits && labels && nmt_loader_init(&ld, test, batch, 0, none, mean, std, -1) == 0) {
        const int n = nmt_loader_next(&ld, x, labels);
        nmt_net_forward(net, x, NULL, n, 0, 0.0f, NULL);
        const float *out = nmt_net_logits(net);
        for (int s = 0; s < n; s++) {
            for (int c = 0; c < test->c; c++)
                for (int p = 0; p < plane; p++)
                    x_nchw[((size_t)s * test->c + c) * plane + p] = x[((size_t)c * n + s) * plane + p];
            for (int k = 0; k < classes; k++) logits[(size_t)s * classes + k] = out[(size_t)k * n + s];
        }
        nmt_safetensors st;
        nmt_st_init(&st);
        const int64_t x_shape[4] = {n, test->c, test->h, test->w}, l_shape[2] = {n, classes};
        rc = nmt_st_add(&st, "x", NMT_F32, 4, x_shape, x_nchw);
        if (!rc) rc = nmt_st_add(&st, "logits", NMT_F32, 2, l_shape, logits);
        if (!rc) rc = nmt_st_write(&st, path);
        nmt_st_free(&st);
        nmt_loader_free(&ld);
    }
    free(x), free(x_nchw), free(logits), free(labels);
    return rc;
}

int nmt_cmd_eval(int argc, char **argv)
{
    cli_options o;
    if (cli_parse(argc, argv, CLI_EVAL, about, &o) != 0) return 2;
    if (o.help) return 0;
    if (!o.checkpoint) {
        fprintf(stderr, "nmtrain eval: --checkpoint FILE is required\n");
        return 2;
    }
    float mean[NMT_DATA_MAX_CHANNELS], std[NMT_DATA_MAX_CHANNELS];
    nmt_net *net = nmt_net_from_checkpoint(o.checkpoint, o.train.batch, NULL, mean, std);
    if (!net) {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
        return 1;
    }
    /* The data set the checkpoint was trained on, unless --data names another. */
    if (!cli_given(&o, "data") && nmt_run_config_read(o.checkpoint, &o.resumed) == 0 && o.resumed.data[0])
        o.data = o.resumed.data;
    nmt_dataset test;
    const nmt_model_desc *model = nmt_net_desc(net);
    const nmt_data_shape expect = {model->in_c, model->in_h, model->in_w};
    if (cli_load_split(&o, 0, &expect, &test) != 0) {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
        nmt_net_free(net);
        return 1;
    }
    int rc = 1;
    float loss, acc;
    if (nmt_evaluate(net, &test, o.train.batch, mean, std, &loss, &acc) != 0) {
        fprintf(stderr, "nmtrain: %s: %s\n", o.checkpoint, nmt_errmsg());
    } else {
        printf("%s: %s on %s test (%d images): accuracy %.2f%%, loss %.4f\n", o.checkpoint, nmt_net_desc(net)->arch,
               o.data, test.count, 100.0 * acc, (double)loss);
        rc = 0;
        if (o.dump_logits && dump_logits(net, &test, o.train.batch, mean, std, o.dump_logits) != 0) {
            fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
            rc = 1;
        }
    }
    nmt_net_free(net);
    nmt_dataset_free(&test);
    return rc;
}

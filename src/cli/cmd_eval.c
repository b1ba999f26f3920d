/* nmtrain eval: accuracy of a checkpoint on a test set. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "cli/options.h"

static const char usage[] =
    "usage: nmtrain eval --checkpoint FILE [--data NAME] [--data-dir DIR] [--batch B] [--threads T]\n"
    "Evaluates a checkpoint written by nmtrain train (or an export) on the test split.\n";

int nmt_cmd_eval(int argc, char **argv)
{
    cli_options o;
    if (cli_parse(argc, argv, &o, usage) != 0) return 2;
    if (o.help) return 0;
    if (!o.checkpoint) {
        fprintf(stderr, "nmtrain eval: --checkpoint FILE is required\n");
        return 2;
    }
    nmt_model_config model;
    nmt_method_config method;
    char arch[32];
    float mean[NMT_DATA_MAX_CHANNELS], std[NMT_DATA_MAX_CHANNELS];
    if (nmt_checkpoint_model(o.checkpoint, &model, arch, sizeof arch, &method, mean, std) != 0) {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
        return 1;
    }
    nmt_dataset test;
    if (nmt_dataset_load(o.data, o.data_dir, 0, &test) != 0) {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
        return 1;
    }
    int rc = 1;
    nmt_model_desc *desc = malloc(sizeof *desc);
    nmt_net *net = NULL;
    if (test.c != model.in_c || test.h != model.in_h || test.w != model.in_w)
        fprintf(stderr, "nmtrain: %s: the model takes %dx%dx%d inputs, %s has %dx%dx%d\n", o.checkpoint, model.in_c,
                model.in_h, model.in_w, o.data, test.c, test.h, test.w);
    else if (!desc || nmt_model_describe(&model, desc) != 0 ||
             !(net = nmt_net_create(desc, o.train.batch, &method, 0)) ||
             nmt_checkpoint_load(net, o.checkpoint, NULL) != 0)
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
    else {
        float loss, acc;
        if (nmt_evaluate(net, &test, o.train.batch, mean, std, &loss, &acc) == 0) {
            printf("%s: %s on %s test (%d images): accuracy %.2f%%, loss %.4f\n", o.checkpoint, arch, o.data,
                   test.count, 100.0 * acc, (double)loss);
            rc = 0;
        } else {
            fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
        }
    }
    nmt_net_free(net);
    free(desc);
    nmt_dataset_free(&test);
    return rc;
}

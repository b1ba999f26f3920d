/* nmtrain export: the trained sparse model for inference. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "cli/options.h"

static const char usage[] =
    "usage: nmtrain export --checkpoint FILE --export OUT.safetensors\n"
    "Writes the inference model of a checkpoint: each sparse layer's masked weight (W*m_in for srste\n"
    "and bdwp, W*m_t for tnm) under its PyTorch name, plus its packed N:M form (<name>.nm_values,\n"
    "<name>.nm_index). `nmtrain eval --checkpoint OUT.safetensors` evaluates it.\n";

int nmt_cmd_export(int argc, char **argv)
{
    cli_options o;
    if (cli_parse(argc, argv, &o, usage) != 0) return 2;
    if (o.help) return 0;
    if (!o.checkpoint || !o.export_path) {
        fprintf(stderr, "nmtrain export: --checkpoint FILE and --export OUT are required\n");
        return 2;
    }
    nmt_model_config model;
    nmt_method_config method;
    char arch[32];
    float mean[NMT_DATA_MAX_CHANNELS], std[NMT_DATA_MAX_CHANNELS];
    nmt_model_desc *desc = malloc(sizeof *desc);
    char *config = NULL;
    nmt_net *net = NULL;
    int rc = 1;
    if (desc && nmt_checkpoint_model(o.checkpoint, &model, arch, sizeof arch, &method, mean, std) == 0 &&
        nmt_model_describe(&model, desc) == 0 && (net = nmt_net_create(desc, 1, &method, 0)) &&
        nmt_checkpoint_load(net, o.checkpoint, NULL) == 0 && (config = nmt_checkpoint_config(o.checkpoint)) &&
        nmt_export_inference(net, o.export_path, config) == 0) {
        printf("%s: %s trained with %s %d:%d, exported for inference\n", o.export_path, arch,
               nmt_method_name(method.kind), method.nm.n, method.nm.m);
        rc = 0;
    } else {
        fprintf(stderr, "nmtrain: %s\n", desc ? nmt_errmsg() : "out of memory");
    }
    free(config);
    nmt_net_free(net);
    free(desc);
    return rc;
}

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
    nmt_method_config method;
    float mean[NMT_DATA_MAX_CHANNELS], std[NMT_DATA_MAX_CHANNELS];
    nmt_net *net = nmt_net_from_checkpoint(o.checkpoint, 1, &method, mean, std);
    char *config = net ? nmt_checkpoint_config(o.checkpoint) : NULL;
    int rc = 1;
    if (config && nmt_export_inference(net, o.export_path, config) == 0) {
        printf("%s: %s trained with %s %d:%d, exported for inference\n", o.export_path, nmt_net_desc(net)->arch,
               nmt_method_name(method.kind), method.nm.n, method.nm.m);
        rc = 0;
    } else {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
    }
    free(config);
    nmt_net_free(net);
    return rc;
}

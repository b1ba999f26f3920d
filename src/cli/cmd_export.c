/* nmtrain export: the trained sparse model for inference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"

static const char about[] =
    "usage: nmtrain export --checkpoint FILE --export OUT [--format safetensors|onnx]\n"
    "Writes the inference model of a checkpoint: each sparse layer's masked weight (W*m_in for srste\n"
    "and bdwp, W*m_t for tnm) under its PyTorch name. safetensors adds the packed N:M form\n"
    "(<name>.nm_values, <name>.nm_index) and `nmtrain eval --checkpoint OUT` evaluates it; onnx is\n"
    "the network `nmtrain eval` runs as an ONNX model (opset 13), and the weights that fit PyTorch's\n"
    "2:4 semi-structured layout go to OUT (less .onnx) + .semi_structured.safetensors beside it.\n";

/* model.onnx -> model.semi_structured.safetensors */
static void semi_structured_path(const char *onnx_path, char *out, size_t size)
{
    size_t stem = strlen(onnx_path);
    if (stem > 5 && !strcmp(onnx_path + stem - 5, ".onnx")) stem -= 5;
    snprintf(out, size, "%.*s.semi_structured.safetensors", (int)stem, onnx_path);
}

static int export_onnx(nmt_net *net, const char *path, const char *config, const float *mean, const float *std)
{
    char side[4096];
    if (nmt_export_onnx(net, path, config, mean, std) != 0) return -1;
    semi_structured_path(path, side, sizeof side);
    const int layers = nmt_export_semi_structured(net, side, config);
    if (layers < 0) return -1;
    if (layers) printf("%s: %d weights in PyTorch's 2:4 semi-structured layout\n", side, layers);
    return 0;
}

int nmt_cmd_export(int argc, char **argv)
{
    cli_options o;
    if (cli_parse(argc, argv, CLI_EXPORT, about, &o) != 0) return 2;
    if (o.help) return 0;
    if (!o.checkpoint || !o.export_path) {
        fprintf(stderr, "nmtrain export: --checkpoint FILE and --export OUT are required\n");
        return 2;
    }
    const char *format = o.export_format;
    const int onnx = !strcmp(format, "onnx");
    if (!onnx && strcmp(format, "safetensors")) {
        fprintf(stderr, "nmtrain export: --format: '%s' is not one of safetensors, onnx\n", format);
        return 2;
    }
    nmt_method_config method;
    float mean[NMT_DATA_MAX_CHANNELS], std[NMT_DATA_MAX_CHANNELS];
    nmt_net *net = nmt_net_from_checkpoint(o.checkpoint, 1, &method, mean, std);
    char *config = net ? nmt_checkpoint_config(o.checkpoint) : NULL;
    int rc = 1;
    if (config && (onnx ? export_onnx(net, o.export_path, config, mean, std)
                        : nmt_export_inference(net, o.export_path, config)) == 0) {
        printf("%s: %s trained with %s %d:%d, exported for inference (%s)\n", o.export_path, nmt_net_desc(net)->arch,
               nmt_method_name(method.kind), method.nm.n, method.nm.m, format);
        rc = 0;
    } else {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
    }
    free(config);
    nmt_net_free(net);
    return rc;
}

/* nmtrain: command dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "nmtrain/core.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", nmt_cmd_train, "train a model (default: ResNet9 with BDWP 2:8 on Fashion-MNIST)"},
    {"eval", nmt_cmd_eval, "evaluate a checkpoint on a test set"},
    {"export", nmt_cmd_export, "write a trained sparse model for inference (masked + packed weights)"},
    {"info", nmt_cmd_info, "per-layer shapes, parameters, MACs and sparsity of a model and method"},
    {"sim", nmt_cmd_sim, "simulate a training iteration on the SAT accelerator"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: nmtrain <command> [options]   (nmtrain <command> --help lists its options)\n"
                 "       nmtrain --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-6s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    nmt_tune_runtime(argv, NULL);
    if (argc == 2 && !strcmp(argv[1], "--version")) {
        printf("nmtrain %s\n", NMT_VERSION);
        return 0;
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "nmtrain: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

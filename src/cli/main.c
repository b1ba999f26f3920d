/* nmtrain: command dispatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/commands.h"

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
    fprintf(out, "usage: nmtrain <command> [options]   (nmtrain <command> --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-6s %s\n", commands[i].name, commands[i].summary);
}

char *openblas_get_corename(void);

/* Thread and kernel settings OpenBLAS and libgomp read only when loaded, so
 * they are set here and the program restarts once:
 * - OpenBLAS 0.3.21 (Debian 12) does not recognise recent CPUs and falls
 *   back to its SSE3 "Prescott" kernels, 3-4x slower than AVX2 ones;
 * - both thread pools spin after each call (OpenBLAS for ~2^28 cycles),
 *   stealing the other core from whichever of them runs next.
 * A user's own settings are always respected. */
static void tune_thread_pools(char **argv)
{
    if (getenv("NMTRAIN_TUNED")) return;
    setenv("NMTRAIN_TUNED", "1", 1);
    int restart = 0;
    __builtin_cpu_init();
    if (!getenv("OPENBLAS_CORETYPE") && !strcasecmp(openblas_get_corename(), "prescott") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        setenv("OPENBLAS_CORETYPE", __builtin_cpu_supports("avx512f") ? "SkylakeX" : "Haswell", 1);
        restart = 1;
    }
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1), restart = 1;
    if (!getenv("OMP_WAIT_POLICY")) setenv("OMP_WAIT_POLICY", "passive", 1), restart = 1;
    if (restart) execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
    tune_thread_pools(argv);
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

/* Command-line options shared by the sub-commands. */
#ifndef NMT_CLI_OPTIONS_H
#define NMT_CLI_OPTIONS_H

#include "nmtrain.h"

/* The default job: the documented Fashion-MNIST recipe (README). */
#define NMT_DEFAULT_DATA "fashion-mnist"

typedef struct cli_options {
    nmt_train_config train;
    const char *data, *data_dir;
    const char *checkpoint;     /* eval, export */
    const char *export_path;
    const char *export_format;  /* export: "safetensors" (default) or "onnx" */
    const char *dump_logits;    /* eval: first test batch's input and logits */
    const char *in_shape;       /* "CxHxW" for info/sim without data */
    int threads;
    int help;
} cli_options;

/* Fills the defaults and parses argv. Returns 0, or -1 after printing a
 * one-line error. `usage` is printed for --help. */
int cli_parse(int argc, char **argv, cli_options *o, const char *usage);
/* Loads the train/test splits named by the options (test may be NULL). */
int cli_load_data(const cli_options *o, nmt_dataset *train, nmt_dataset *test);
/* Model input and classes from the data set or --in/--classes. */
void cli_model_from_data(cli_options *o, const nmt_dataset *ds);

#endif

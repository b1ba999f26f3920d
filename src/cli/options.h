/* The command line of every sub-command: one option table (options.c), one
 * getopt_long parser, one help printer. A new option is one row of the table
 * plus the field it fills. */
#ifndef NMT_CLI_OPTIONS_H
#define NMT_CLI_OPTIONS_H

#include "nmtrain.h"

/* The default job: the documented Fashion-MNIST recipe (README). */
#define NMT_DEFAULT_DATA "fashion-mnist"

/* Which sub-commands an option belongs to (a bit mask). */
enum cli_command { CLI_TRAIN = 1, CLI_EVAL = 2, CLI_EXPORT = 4, CLI_INFO = 8, CLI_SIM = 16 };

#define CLI_MAX_SETS 64
#define CLI_MAX_OPTIONS 160

/* What only `nmtrain sim` reads. */
typedef struct cli_sim {
    const char *topology, *config, *csv, *compute_report, *json, *sweep_csv, *write_config;
    const char *sets[CLI_MAX_SETS];
    int n_sets;                 /* a list's count follows its array (options.c's K_LIST) */
    const char *sweeps[NMT_SIM_SWEEP_MAX_KEYS];
    int n_sweeps;
    int detail, show_schedule, quiet, ablation, zoo, check, list_keys, inference;
    int no_interleave, no_pregen, no_schedule;
    nmt_sim_options opts;       /* its method is train.method */
} cli_sim;

typedef struct cli_options {
    unsigned command;           /* one cli_command */
    nmt_train_config train;     /* model, method, recipe (train, info; the model also for sim) */
    const char *data, *data_dir;
    nmt_image_options images;   /* image-folder data sets */
    const char *checkpoint;     /* eval, export */
    const char *export_path;
    const char *export_format;  /* export: "safetensors" (default) or "onnx" */
    const char *dump_logits;    /* eval: first test batch's input and logits */
    int in_given;               /* --in gave train.model's input shape */
    int model_given, width_given; /* a named model trains at width 1 unless --width says otherwise */
    int threads;
    int help;
    int decay_given;            /* train.method.decay is --decay's, not the method's default */
    unsigned char given[CLI_MAX_OPTIONS]; /* per row of the option table: given on the command line */
    nmt_run_config resumed;     /* train --resume: the checkpoint's run configuration */
    int wd_given;               /* --wd given: it replaces AdamW's default decay too */
    cli_sim sim;
} cli_options;

/* Fills the command's defaults and parses argv (argv[0] is the sub-command's
 * name). Returns 0 (with o->help set after printing the help for -h/--help),
 * or -1 after printing a one-line reason. `about` is the help's first lines. */
int cli_parse(int argc, char **argv, unsigned command, const char *about, cli_options *o);
/* The help: `about`, then one line per option of `command` with its default. */
void cli_print_help(FILE *out, unsigned command, const char *about);
/* Loads one split (train 1, test 0) named by the options, its images of
 * shape `expect` where given (NULL = any); no message. */
int cli_load_split(const cli_options *o, int train, const nmt_data_shape *expect, nmt_dataset *out);
/* Whether option --name was given on the command line. */
int cli_given(const cli_options *o, const char *name);
/* train --resume: every setting of the run the command line does not give
 * comes from the checkpoint's run configuration (model, method, data set,
 * batch, seed, schedule, ...); a given one that contradicts it is the
 * trainer's error unless --finetune. Prints the reason on failure. */
int cli_resume_settings(cli_options *o);
/* Loads the train/test splits named by the options (test may be NULL). */
int cli_load_data(const cli_options *o, nmt_dataset *train, nmt_dataset *test);
/* Model input and classes from the data set unless --in/--classes gave them. */
void cli_model_from_data(cli_options *o, const nmt_dataset *ds);

#endif

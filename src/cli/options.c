/* Every sub-command's options: one table, parsed by getopt_long (--opt=value
 * and --opt value alike) and printed by --help with each option's default. */
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"

typedef enum cli_kind {
    K_FLAG,       /* int = 1 */
    K_CLEAR,      /* int = 0 */
    K_INT,        /* int in [lo, hi] */
    K_FLOAT,      /* float in [lo, hi] */
    K_FLOAT_BELOW,/* float in [lo, hi): hi excluded, also once rounded to a float */
    K_TEXT,       /* const char * */
    K_ARCH,       /* const char *, a model architecture */
    K_SEED,       /* uint64_t in [lo, hi] */
    K_STEPS,      /* int64_t in [lo, hi] */
    K_SHAPE,      /* "CxHxW" into an nmt_model_config */
    K_NM,         /* N:M (N = M allowed only by sim) */
    K_GRAD_NM,    /* the weight gradient's N:M: 1:2 or 2:4 */
    K_METHOD,     /* method name, parsed by the engine or (sim) by the simulator */
    K_SCHEDULE,   /* learning-rate schedule name */
    K_OPTIMIZER,  /* sgd or adamw */
    K_NO_AUGMENT, /* nmt_augment = none */
    K_LIST,       /* appends to a const char *[]; `hi` is its capacity, the count follows the array */
    K_HELP,
} cli_kind;

typedef struct cli_option {
    const char *name;
    const char *value;      /* the value's placeholder in the help; NULL for a switch */
    unsigned commands;      /* cli_command mask */
    cli_kind kind;
    size_t offset;          /* the field in cli_options */
    double lo, hi;
    const char *help;
    const char *fixed_default; /* the help's default when the field's own value does not say it */
} cli_option;

#define F(field) offsetof(cli_options, field)
#define ALL (CLI_TRAIN | CLI_EVAL | CLI_EXPORT | CLI_INFO | CLI_SIM)
#define MODEL_CMDS (CLI_TRAIN | CLI_INFO)
#define METHOD_CMDS (CLI_TRAIN | CLI_INFO | CLI_SIM)

/* One row per option and meaning; an option may have a row per sub-command
 * where its default or meaning differs (--batch, --in, --schedule, ...). */
static const cli_option table[] = {
    /* model */
    {"model", "NAME", MODEL_CMDS, K_ARCH, F(train.model.arch), 0, 0, "architecture", NULL},
    {"model", "NAME", CLI_SIM, K_TEXT, F(train.model.arch), 0, 0,
     "zoo model (resnet9, vit, vgg19, resnet18, resnet50: the paper's shapes) or an architecture", NULL},
    {"width", "W", MODEL_CMDS, K_FLOAT, F(train.model.width), 1e-3, 64,
     "channel multiplier", "1, the published width, with --model; else 0.25, the default job's"},
    {"width", "W", CLI_SIM, K_FLOAT, F(train.model.width), 1e-3, 64, "channel multiplier", "1, the published width"},
    {"imagenet-stem", NULL, METHOD_CMDS, K_FLAG, F(train.model.imagenet_stem), 0, 0,
     "resnet18/50: 7x7/2 stem and 3x3/2 max pool instead of the CIFAR 3x3 stem", NULL},
    {"in", "CxHxW", CLI_TRAIN, K_SHAPE, F(train.model), 0, 0, "model input shape", "the data set's"},
    {"in", "CxHxW", CLI_INFO, K_SHAPE, F(train.model), 0, 0, "model input shape", "1x28x28, Fashion-MNIST's"},
    {"in", "CxHxW", CLI_SIM, K_SHAPE, F(train.model), 0, 0, "model input shape", "the zoo model's, else 3x32x32"},
    {"patch", "P", METHOD_CMDS, K_INT, F(train.model.patch), 1, 1 << 16,
     "vit: patch side, the patch embedding's kernel and stride (divides the input)", "4"},
    {"dim", "D", METHOD_CMDS, K_INT, F(train.model.dim), 1, 1 << 16, "vit: token width", "192"},
    {"depth", "L", METHOD_CMDS, K_INT, F(train.model.depth), 1, 1 << 10, "vit: transformer blocks", "6"},
    {"heads", "H", METHOD_CMDS, K_INT, F(train.model.heads), 1, 1 << 12, "vit: attention heads (divide dim)", "3"},
    {"mlp-dim", "F", METHOD_CMDS, K_INT, F(train.model.mlp_dim), 1, 1 << 20, "vit: MLP hidden width", "384"},
    {"classes", "K", CLI_TRAIN, K_INT, F(train.model.classes), 2, 1 << 20, "classifier outputs", "the data set's"},
    {"classes", "K", CLI_INFO, K_INT, F(train.model.classes), 2, 1 << 20, "classifier outputs", "10"},
    {"classes", "K", CLI_SIM, K_INT, F(train.model.classes), 2, 1 << 20, "classifier outputs",
     "the zoo model's, else 10"},
    /* method */
    {"method", "M", METHOD_CMDS, K_METHOD, F(train.method.kind), 0, 0, "sparse-training method", "bdwp"},
    {"nm", "N:M", CLI_TRAIN | CLI_INFO, K_NM, F(train.method.nm), 0, 0, "N:M ratio of the sparse GEMMs (M <= 32)",
     "2:8"},
    {"nm", "N:M", CLI_SIM, K_NM, F(train.method.nm), 0, 0, "N:M ratio of the sparse GEMMs (N = M is dense)", "2:8"},
    {"decay", "L", CLI_TRAIN, K_FLOAT, F(train.method.decay), 0, 1, "srste/bdwp decay of the pruned weights",
     "2e-4 for srste and bdwp, else 0"},
    {"mask-interval", "T", CLI_TRAIN | CLI_SIM, K_INT, F(train.method.mask_interval), 1, 1 << 30,
     "recompute the masks and sparse operands every T steps", "40 for tnm, else 1"},
    {"sparse-classifier", NULL, METHOD_CMDS, K_FLAG, F(train.method.sparse_classifier), 0, 0,
     "make the classifier N:M too", NULL},
    {"grad-nm", "N:M", METHOD_CMDS, K_GRAD_NM, F(train.method.grad_nm), 0, 0,
     "weight gradients N:M too: dY pruned 1:2 or 2:4 (unbiased MVUE) along the batch and positions",
     "off, dense weight gradients"},
    /* data */
    {"data", "NAME", CLI_TRAIN | CLI_EVAL, K_TEXT, F(data), 0, 0,
     "data set: fashion-mnist, mnist, cifar10, cifar100, imagefolder, imagenet, tinyimagenet", NULL},
    {"data-dir", "DIR", CLI_TRAIN | CLI_EVAL, K_TEXT, F(data_dir), 0, 0,
     "directory of the data set's files (needed but for fashion-mnist)", NMT_FASHION_MNIST_DIR},
    {"crop-pad", "P", CLI_TRAIN, K_INT, F(train.augment.crop_pad), 0, 64, "random crops after padding by P pixels",
     NULL},
    {"hflip", "0|1", CLI_TRAIN, K_INT, F(train.augment.hflip), 0, 1, "random horizontal flips", NULL},
    {"no-augment", NULL, CLI_TRAIN, K_NO_AUGMENT, 0, 0, 0, "neither crops nor flips", NULL},
    {"image-size", "S", CLI_TRAIN | CLI_EVAL, K_INT, F(images.image_size), 8, 4096,
     "image folders: side of the (random-resized or centre) crop", "64 for tinyimagenet, else 224"},
    {"crop-ratio", "R", CLI_TRAIN | CLI_EVAL, K_FLOAT, F(images.crop_ratio), 0.05, 1,
     "image folders: evaluation centre crop over the resized short side", "0.875"},
    {"workers", "W", CLI_TRAIN | CLI_EVAL, K_INT, F(images.workers), 1, 1024, "image folders: decode threads",
     "the cores the OpenMP threads leave, at least 1"},
    {"prefetch", "B", CLI_TRAIN | CLI_EVAL, K_INT, F(images.prefetch), 1, 1024,
     "image folders: batches decoded ahead of the step", "2"},
    {"strict-data", NULL, CLI_TRAIN | CLI_EVAL, K_FLAG, F(images.strict), 0, 0,
     "image folders: an unreadable image is an error, not skipped and counted", NULL},
    /* training */
    {"epochs", "E", CLI_TRAIN, K_INT, F(train.epochs), 1, 100000, "epochs to train", NULL},
    {"batch", "B", CLI_TRAIN | CLI_EVAL, K_INT, F(train.batch), 1, 65536, "images per batch", NULL},
    {"batch", "B", CLI_SIM, K_INT, F(train.batch), 1, 1 << 20, "batch size", "128 for models, 1 for topologies"},
    {"lr", "LR", CLI_TRAIN, K_FLOAT, F(train.lr), 1e-9, 100, "peak learning rate", NULL},
    {"schedule", "S", CLI_TRAIN, K_SCHEDULE, F(train.schedule), 0, 0,
     "learning-rate schedule: onecycle, cosine, constant", "onecycle"},
    {"warmup", "EPOCHS", CLI_TRAIN, K_FLOAT, F(train.warmup_epochs), 0, 1000, "epochs of learning-rate warm-up",
     NULL},
    {"optimizer", "O", CLI_TRAIN, K_OPTIMIZER, F(train.optimizer), 0, 0,
     "sgd (momentum) or adamw (torch.optim.AdamW: betas 0.9, 0.999, eps 1e-8)", "sgd"},
    {"momentum", "M", CLI_TRAIN, K_FLOAT, F(train.sgd.momentum), 0, 0.9999, "SGD momentum", NULL},
    {"nesterov", NULL, CLI_TRAIN, K_FLAG, F(train.sgd.nesterov), 0, 0, "Nesterov momentum", "on"},
    {"no-nesterov", NULL, CLI_TRAIN, K_CLEAR, F(train.sgd.nesterov), 0, 0, "plain momentum", NULL},
    {"wd", "WD", CLI_TRAIN, K_FLOAT, F(train.sgd.weight_decay), 0, 1,
     "weight decay (not on norm weights, biases, class token and position embedding)", "5e-4 for sgd, 0.05 for adamw"},
    {"wd-all", NULL, CLI_TRAIN, K_FLAG, F(train.sgd.decay_bn_and_bias), 0, 0,
     "weight decay on norm weights, biases, class token and position embedding too", NULL},
    {"label-smoothing", "S", CLI_TRAIN, K_FLOAT, F(train.label_smoothing), 0, 0.999, "label smoothing", NULL},
    {"dropout", "P", CLI_TRAIN, K_FLOAT_BELOW, F(train.dropout), 0, 1,
     "vit: torch.nn.Dropout(P) where timm applies drop_rate (after the position embedding, attention projection, "
     "MLP GELU and fc2), in training only", "0, off"},
    {"sync-bn", NULL, CLI_TRAIN, K_FLAG, F(train.sync_bn), 0, 0,
     "under mpirun: batch-norm statistics over all ranks (else per rank, as PyTorch DDP)", NULL},
    {"bucket-mb", "MB", CLI_TRAIN, K_FLOAT, F(train.bucket_mb), 1e-3, 1e6,
     "under mpirun: gradients are summed in buckets of MB, each started as soon as backward fills it "
     "(larger than the gradients: one sum after backward)", "1"},
    {"seed", "S", CLI_TRAIN, K_SEED, F(train.seed), 0, 2147483647, "random seed of initialisation and batches", "0"},
    {"threads", "T", CLI_TRAIN | CLI_EVAL | CLI_SIM, K_INT, F(threads), 1, 1024, "OpenMP and OpenBLAS threads",
     "the cores"},
    /* output */
    {"out", "DIR", CLI_TRAIN, K_TEXT, F(train.out_dir), 0, 0,
     "where log.csv, log.jsonl and checkpoint.safetensors go", NULL},
    {"resume", "FILE", CLI_TRAIN, K_TEXT, F(train.resume), 0, 0, "checkpoint to continue from, bit for bit", NULL},
    {"checkpoint-every", "STEPS", CLI_TRAIN, K_INT, F(train.checkpoint_every), 0, 1 << 30,
     "also checkpoint every STEPS steps (0: at epoch ends only)", NULL},
    {"max-steps", "N", CLI_TRAIN, K_STEPS, F(train.max_steps), 0, 1 << 30,
     "stop after N optimiser steps in all (0: no limit)", "0"},
    {"quiet", NULL, CLI_TRAIN, K_CLEAR, F(train.progress_seconds), 0, 0, "no progress lines", NULL},
    {"overwrite", NULL, CLI_TRAIN, K_FLAG, F(train.overwrite), 0, 0,
     "replace the run already in --out (its logs and checkpoint); without it such a run is refused", NULL},
    {"finetune", NULL, CLI_TRAIN, K_FLAG, F(train.finetune), 0, 0,
     "with --resume: start a new run from the checkpoint's weights, settings may differ (masks regenerated)",
     NULL},
    {"max-loss", "L", CLI_TRAIN, K_FLOAT, F(train.max_loss), 0, 1e30,
     "a training loss above L is divergence: the run stops, its last good checkpoint kept",
     "100x the run's first loss"},
    {"checkpoint", "FILE", CLI_EVAL | CLI_EXPORT, K_TEXT, F(checkpoint), 0, 0,
     "checkpoint or export to read (required)", NULL},
    {"checkpoint", "FILE", CLI_INFO, K_TEXT, F(checkpoint), 0, 0,
     "describe the model and method this checkpoint was trained with", NULL},
    {"export", "FILE", CLI_EXPORT, K_TEXT, F(export_path), 0, 0,
     "where the inference model goes, in --format (required)", NULL},
    {"format", "F", CLI_EXPORT, K_TEXT, F(export_format), 0, 0, "file format: safetensors or onnx (docs/export.md)",
     NULL},
    {"dump-logits", "FILE", CLI_EVAL, K_TEXT, F(dump_logits), 0, 0,
     "write the first test batch (x, NCHW) and its logits to this safetensors file", NULL},
    /* simulator workload */
    {"topology", "FILE", CLI_SIM, K_TEXT, F(sim.topology), 0, 0,
     "SCALE-Sim topology CSV (conv or GEMM rows, optional Sparsity column)", NULL},
    {"inference", NULL, CLI_SIM, K_FLAG, F(sim.inference), 0, 0, "forward pass only, as SCALE-Sim", NULL},
    {"scalesim", NULL, CLI_SIM, K_FLAG, F(sim.opts.scalesim), 0, 0,
     "SCALE-Sim v2's accounting of every GEMM (its folds, fill and drain, unlimited buffers and DRAM; needs a "
     "fixed dataflow, e.g. a SCALE-Sim .cfg's Dataflow)", NULL},
    {"zoo", NULL, CLI_SIM, K_FLAG, F(sim.zoo), 0, 0, "the paper's five models, dense against the method", NULL},
    {"check", NULL, CLI_SIM, K_FLAG, F(sim.check), 0, 0, "functional check of the mapping (dense and N:M, OS/WS/IS)",
     NULL},
    /* simulator accelerator */
    {"config", "FILE", CLI_SIM, K_TEXT, F(sim.config), 0, 0, "accelerator INI: nmtrain's and/or SCALE-Sim's sections",
     "the SAT of docs/sat.md"},
    {"set", "KEY=VALUE", CLI_SIM, K_LIST, F(sim.sets), 0, CLI_MAX_SETS, "set one configuration key (repeatable)",
     NULL},
    {"no-interleave", NULL, CLI_SIM, K_FLAG, F(sim.no_interleave), 0, 0, "switch interleaving off", NULL},
    {"no-pregen", NULL, CLI_SIM, K_FLAG, F(sim.no_pregen), 0, 0, "switch sparse-operand pre-generation off", NULL},
    {"no-schedule", NULL, CLI_SIM, K_FLAG, F(sim.no_schedule), 0, 0, "switch offline scheduling off", NULL},
    {"list-keys", NULL, CLI_SIM, K_FLAG, F(sim.list_keys), 0, 0, "list every configuration key with its value", NULL},
    {"write-config", "FILE", CLI_SIM, K_TEXT, F(sim.write_config), 0, 0, "write the effective configuration as INI",
     NULL},
    /* simulator reports */
    {"detail", NULL, CLI_SIM, K_FLAG, F(sim.detail), 0, 0, "one row per layer and phase", NULL},
    {"schedule", NULL, CLI_SIM, K_FLAG, F(sim.show_schedule), 0, 0, "print every GEMM's schedule", NULL},
    {"quiet", NULL, CLI_SIM, K_FLAG, F(sim.quiet), 0, 0, "only the summary line", NULL},
    {"csv", "FILE", CLI_SIM, K_TEXT, F(sim.csv), 0, 0, "per layer and phase CSV", NULL},
    {"compute-report", "FILE", CLI_SIM, K_TEXT, F(sim.compute_report), 0, 0, "SCALE-Sim style COMPUTE_REPORT.csv",
     NULL},
    {"json", "FILE", CLI_SIM, K_TEXT, F(sim.json), 0, 0, "everything as JSON", NULL},
    {"ablation", NULL, CLI_SIM, K_FLAG, F(sim.ablation), 0, 0,
     "each optimisation off in turn, then all off (with --zoo: for every zoo model)", NULL},
    {"sweep", "KEY=VALUES", CLI_SIM, K_LIST, F(sim.sweeps), 0, NMT_SIM_SWEEP_MAX_KEYS,
     "sweep a key over v1,v2,.. or a:b:step or a:b*factor; repeat for a grid", NULL},
    {"sweep-csv", "FILE", CLI_SIM, K_TEXT, F(sim.sweep_csv), 0, 0, "where the sweep's rows go", NULL},
    {"help", NULL, ALL, K_HELP, F(help), 0, 0, "print this help and exit", NULL},
};
#define N_OPTIONS ((int)(sizeof table / sizeof table[0]))
_Static_assert(sizeof table / sizeof table[0] <= CLI_MAX_OPTIONS, "cli_options.given holds a flag per row");

static const char *command_name(unsigned command)
{
    switch (command) {
    case CLI_TRAIN: return "train";
    case CLI_EVAL: return "eval";
    case CLI_EXPORT: return "export";
    case CLI_INFO: return "info";
    default: return "sim";
    }
}

static void defaults(cli_options *o, unsigned command)
{
    memset(o, 0, sizeof *o);
    o->command = command;
    nmt_train_config *t = &o->train;
    t->model.arch = command == CLI_SIM ? NULL : "resnet9";
    t->model.width = command == CLI_SIM ? 1.0f : 0.25f; /* the default job's; a named --model gets 1 */
    t->epochs = 3;
    t->batch = command == CLI_SIM ? 0 : 128;
    t->schedule = NMT_SCHED_ONECYCLE;
    t->lr = 0.4f;
    t->warmup_epochs = 0.6f;
    t->final_lr_fraction = 0.0f;
    t->sgd.momentum = 0.9f;
    t->sgd.nesterov = 1;
    t->sgd.weight_decay = 5e-4f;
    t->adamw = (nmt_adamw_config){0.9, 0.999, 1e-8, 0.05f, 0};
    t->label_smoothing = 0.1f;
    t->augment.crop_pad = 2;
    t->augment.hflip = 1;
    t->progress_seconds = 5;
    t->out_dir = "runs/default";
    o->data = NMT_DEFAULT_DATA;
    o->export_format = "safetensors";
    nmt_sim_options_default(&o->sim.opts);
    o->sim.sweep_csv = "sweep.csv";
    t->method = o->sim.opts.method; /* the default method: bdwp 2:8 */
}

/* The option's default as the help shows it, or "" for none. */
static void default_text(const cli_option *opt, const cli_options *d, char *buf, size_t size)
{
    const char *field = (const char *)d + opt->offset;
    buf[0] = 0;
    if (opt->fixed_default) snprintf(buf, size, "%s", opt->fixed_default);
    else if (opt->kind == K_INT) snprintf(buf, size, "%d", *(const int *)field);
    else if (opt->kind == K_FLOAT || opt->kind == K_FLOAT_BELOW) snprintf(buf, size, "%g", (double)*(const float *)field);
    else if ((opt->kind == K_TEXT || opt->kind == K_ARCH) && *(const char *const *)field)
        snprintf(buf, size, "%s", *(const char *const *)field);
}

void cli_print_help(FILE *out, unsigned command, const char *about)
{
    cli_options d;
    defaults(&d, command);
    fprintf(out, "%s\noptions (--opt VALUE or --opt=VALUE):\n", about);
    for (int i = 0; i < N_OPTIONS; i++) {
        const cli_option *opt = &table[i];
        if (!(opt->commands & command)) continue;
        char left[64], def[160];
        snprintf(left, sizeof left, "%s--%s%s%s", opt->kind == K_HELP ? "-h, " : "", opt->name, opt->value ? " " : "",
                 opt->value ? opt->value : "");
        default_text(opt, &d, def, sizeof def);
        const char *choices = opt->kind == K_ARCH ? nmt_model_archs() : opt->kind == K_METHOD ? nmt_method_names() : NULL;
        fprintf(out, "  %-26s %s%s%s%s%s%s\n", left, opt->help, choices ? ": " : "", choices ? choices : "",
                def[0] ? " (default: " : "", def, def[0] ? ")" : "");
    }
}

/* Prints why an option's value is refused; returns -1. */
static int fail(const cli_options *o, const char *option, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nmtrain %s: --%s: ", command_name(o->command), option);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

static int parse_number(const cli_options *o, const cli_option *opt, const char *text, double *out)
{
    char *end;
    const int integer = opt->kind != K_FLOAT && opt->kind != K_FLOAT_BELOW, below = opt->kind == K_FLOAT_BELOW;
    double v = integer ? (double)strtoll(text, &end, 10) : strtod(text, &end);
    if (end != text && !*end && v >= opt->lo && (below ? v < opt->hi && (float)v < (float)opt->hi : v <= opt->hi)) {
        *out = v;
        return 0;
    }
    return fail(o, opt->name, "'%s' is not %s in [%.10g, %.10g%c", text, integer ? "an integer" : "a number", opt->lo,
                opt->hi, below ? ')' : ']');
}


/* Applies one option's value to the options. */
static int apply(cli_options *o, const cli_option *opt, const char *value)
{
    char *field = (char *)o + opt->offset;
    double v = 0;
    switch (opt->kind) {
    case K_FLAG: *(int *)field = 1; return 0;
    case K_CLEAR: *(int *)field = 0; return 0;
    case K_HELP: *(int *)field = 1; return 0;
    case K_TEXT:
    case K_ARCH: *(const char **)field = value; return 0;
    case K_NO_AUGMENT: o->train.augment.crop_pad = o->train.augment.hflip = 0; return 0;
    case K_INT:
        if (parse_number(o, opt, value, &v)) return -1;
        *(int *)field = (int)v;
        return 0;
    case K_FLOAT:
    case K_FLOAT_BELOW:
        if (parse_number(o, opt, value, &v)) return -1;
        *(float *)field = (float)v;
        return 0;
    case K_SEED:
        if (parse_number(o, opt, value, &v)) return -1;
        *(uint64_t *)field = (uint64_t)v;
        return 0;
    case K_STEPS:
        if (parse_number(o, opt, value, &v)) return -1;
        *(int64_t *)field = (int64_t)v;
        return 0;
    case K_SHAPE:
        if (nmt_shape_parse(value, &((nmt_model_config *)field)->in_c, &((nmt_model_config *)field)->in_h,
                            &((nmt_model_config *)field)->in_w))
            return fail(o, opt->name, "%s", nmt_errmsg());
        o->in_given = 1;
        return 0;
    case K_NM:
        if (nmt_nm_parse(value, o->command == CLI_SIM, NULL, (nmt_nm *)field))
            return fail(o, opt->name, "%s", nmt_errmsg());
        return 0;
    case K_GRAD_NM:
        return nmt_grad_nm_parse(value, (nmt_nm *)field) ? fail(o, opt->name, "%s", nmt_errmsg()) : 0;
    case K_METHOD:
        return nmt_method_parse(value, (nmt_method_kind *)field) ? fail(o, opt->name, "%s", nmt_errmsg()) : 0;
    case K_SCHEDULE:
        return nmt_schedule_parse(value, (nmt_schedule_kind *)field) ? fail(o, opt->name, "%s", nmt_errmsg()) : 0;
    case K_OPTIMIZER:
        return nmt_optimizer_parse(value, (nmt_optimizer_kind *)field) ? fail(o, opt->name, "%s", nmt_errmsg()) : 0;
    case K_LIST: {
        int *count = (int *)(field + sizeof(const char *) * (size_t)opt->hi);
        if (*count == (int)opt->hi) return fail(o, opt->name, "given more than %d times", (int)opt->hi);
        ((const char **)field)[(*count)++] = value;
        return 0;
    }
    }
    return -1;
}

/* Refuses an option getopt_long does not know or only knows as an abbreviation
 * (an abbreviation would change meaning when an option is added). */
static void unknown_option(const cli_options *o, const char *text)
{
    const char *cmd = command_name(o->command);
    const size_t len = strncmp(text, "--", 2) ? strlen(text) : 2 + strcspn(text + 2, "=");
    fprintf(stderr, "nmtrain %s: unknown option '%.*s' (nmtrain %s --help lists them)\n", cmd, (int)len, text, cmd);
}

/* Whether argv's `text` names `name` in full: "--name" or "--name=...". */
static int names_in_full(const char *text, const char *name)
{
    const size_t len = strlen(name);
    return !strncmp(text, "--", 2) && !strncmp(text + 2, name, len) && (text[2 + len] == 0 || text[2 + len] == '=');
}

/* The chosen method's defaults under what the options set; the simulator
 * runs the same method configuration. */
static void resolve_method(cli_options *o)
{
    nmt_method_config *m = &o->train.method;
    const nmt_method_config given = *m;
    nmt_method_defaults(given.kind, given.nm, m);
    m->sparse_classifier = given.sparse_classifier;
    m->grad_nm = given.grad_nm;
    if (o->decay_given) m->decay = given.decay;
    if (given.mask_interval) m->mask_interval = given.mask_interval;
    o->sim.opts.method = *m;
    o->sim.opts.training = !o->sim.inference;
}

int cli_parse(int argc, char **argv, unsigned command, const char *about, cli_options *o)
{
    defaults(o, command);
    struct option longs[N_OPTIONS + 1];
    int n = 0;
    for (int i = 0; i < N_OPTIONS; i++)
        if (table[i].commands & command)
            longs[n++] = (struct option){table[i].name, table[i].value ? required_argument : no_argument, NULL, 256 + i};
    longs[n] = (struct option){0, 0, 0, 0};
    optind = 0; /* glibc: start afresh, also when called twice in one process */
    opterr = 0;
    int c;
    /* '+': stop at the first argument that is not an option, so `at` is where
     * the option getopt_long returns was written */
    for (int at = 1; (c = getopt_long(argc, argv, "+:h", longs, NULL)) != -1; at = optind) {
        const char *text = argv[at];
        if (c >= 256 && !names_in_full(text, table[c - 256].name)) {
            unknown_option(o, text);
            return -1;
        }
        if (c == 'h') {
            o->help = 1;
        } else if (c == ':') {
            fprintf(stderr, "nmtrain %s: %s needs a value\n", command_name(command), text);
            return -1;
        } else if (c == '?') {
            if (optopt >= 256) fprintf(stderr, "nmtrain %s: --%s takes no value\n", command_name(command),
                                       table[optopt - 256].name);
            else if (optopt) fprintf(stderr, "nmtrain %s: unknown option '-%c'\n", command_name(command), optopt);
            else unknown_option(o, text);
            return -1;
        } else {
            const cli_option *opt = &table[c - 256];
            o->given[c - 256] = 1;
            if (!strcmp(opt->name, "model")) o->model_given = 1;
            if (!strcmp(opt->name, "width")) o->width_given = 1;
            if (!strcmp(opt->name, "decay")) o->decay_given = 1;
            if (!strcmp(opt->name, "wd")) o->wd_given = 1;
            if (apply(o, opt, optarg)) return -1;
        }
    }
    if (o->help) {
        cli_print_help(stdout, command, about);
        return 0;
    }
    if (optind < argc) {
        fprintf(stderr, "nmtrain %s: unexpected argument '%s' (options start with --)\n", command_name(command),
                argv[optind]);
        return -1;
    }
    /* A named model is the published network; only the default job is narrower. */
    if (o->model_given && !o->width_given) o->train.model.width = 1.0f;
    resolve_method(o);
    /* --wd and --wd-all speak for whichever optimiser runs */
    if (o->wd_given) o->train.adamw.weight_decay = o->train.sgd.weight_decay;
    o->train.adamw.decay_bn_and_bias = o->train.sgd.decay_bn_and_bias;
    o->train.data_name = o->data;
    if (o->threads) nmt_set_threads(o->threads);
    return 0;
}

int cli_load_split(const cli_options *o, int train, const nmt_data_shape *expect, nmt_dataset *out)
{
    if (nmt_dataset_is_image_folder(o->data)) return nmt_dataset_load_images(o->data, o->data_dir, train, &o->images, out);
    return nmt_dataset_load_expecting(o->data, o->data_dir, train, expect, out);
}

int cli_given(const cli_options *o, const char *name)
{
    for (int i = 0; i < N_OPTIONS; i++)
        if (o->given[i] && !strcmp(table[i].name, name)) return 1;
    return 0;
}

/* What a resumed run takes from its checkpoint unless the command line
 * says otherwise; the recipe only from checkpoints that record it. */
static const char *const resumed_settings[] = {
    "model", "width", "in", "classes", "imagenet-stem", "method", "nm", "decay", "mask-interval",
    "sparse-classifier", "grad-nm", "data", "epochs", "batch", "lr", "seed", "dropout",
};
static const char *const resumed_recipe[] = {
    "schedule", "warmup", "momentum", "nesterov", "wd", "wd-all", "label-smoothing", "crop-pad", "hflip",
};

/* Copies option `name`'s field from the run configuration into o. */
static void take_setting(cli_options *o, const char *name, const nmt_run_config *r)
{
    if (!strcmp(name, "data")) {
        if (r->train.data_name) o->data = r->train.data_name;
        return;
    }
    if (!strcmp(name, "nesterov") && cli_given(o, "no-nesterov")) return;
    if ((!strcmp(name, "crop-pad") || !strcmp(name, "hflip")) && cli_given(o, "no-augment")) return;
    for (int i = 0; i < N_OPTIONS; i++) {
        const cli_option *opt = &table[i];
        if (!(opt->commands & CLI_TRAIN) || strcmp(opt->name, name)) continue;
        const size_t at = opt->offset - offsetof(cli_options, train);
        const char *src = (const char *)&r->train + at;
        char *dst = (char *)o + opt->offset;
        switch (opt->kind) {
        case K_SHAPE:
            o->train.model.in_c = r->train.model.in_c, o->train.model.in_h = r->train.model.in_h;
            o->train.model.in_w = r->train.model.in_w;
            o->in_given = 1;
            break;
        case K_FLAG:
        case K_CLEAR:
        case K_INT: memcpy(dst, src, sizeof(int)); break;
        case K_FLOAT:
        case K_FLOAT_BELOW: memcpy(dst, src, sizeof(float)); break;
        case K_SEED: memcpy(dst, src, sizeof(uint64_t)); break;
        case K_ARCH:
        case K_TEXT: *(const char **)dst = *(const char *const *)src; break;
        case K_NM:
        case K_GRAD_NM: memcpy(dst, src, sizeof(nmt_nm)); break;
        case K_METHOD: memcpy(dst, src, sizeof(nmt_method_kind)); break;
        case K_SCHEDULE: memcpy(dst, src, sizeof(nmt_schedule_kind)); break;
        default: break;
        }
        return;
    }
}

int cli_resume_settings(cli_options *o)
{
    if (!o->train.resume) return 0;
    if (nmt_run_config_read(o->train.resume, &o->resumed) != 0) {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
        return -1;
    }
    for (size_t i = 0; i < sizeof resumed_settings / sizeof resumed_settings[0]; i++)
        if (!cli_given(o, resumed_settings[i])) take_setting(o, resumed_settings[i], &o->resumed);
    for (size_t i = 0; o->resumed.has_recipe && i < sizeof resumed_recipe / sizeof resumed_recipe[0]; i++)
        if (!cli_given(o, resumed_recipe[i])) take_setting(o, resumed_recipe[i], &o->resumed);
    o->train.data_name = o->data;
    return 0;
}

int cli_load_data(const cli_options *o, nmt_dataset *train, nmt_dataset *test)
{
    if (cli_load_split(o, 1, NULL, train) != 0) {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
        return -1;
    }
    if (test && cli_load_split(o, 0, NULL, test) != 0) {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
        nmt_dataset_free(train);
        return -1;
    }
    return 0;
}

void cli_model_from_data(cli_options *o, const nmt_dataset *ds)
{
    nmt_model_config *m = &o->train.model;
    if (!o->in_given) m->in_c = ds->c, m->in_h = ds->h, m->in_w = ds->w;
    if (!m->classes) m->classes = ds->classes;
}

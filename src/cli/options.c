/* Option parsing shared by train, eval and info. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"

enum {
    OPT_MODEL = 256, OPT_WIDTH, OPT_DATA, OPT_DATA_DIR, OPT_EPOCHS, OPT_BATCH, OPT_LR, OPT_MOMENTUM, OPT_NESTEROV, OPT_NO_NESTEROV,
    OPT_WD, OPT_WD_ALL, OPT_SCHEDULE, OPT_WARMUP, OPT_SMOOTHING, OPT_CROP, OPT_FLIP, OPT_NO_AUG, OPT_SEED,
    OPT_THREADS, OPT_METHOD, OPT_NM, OPT_DECAY, OPT_INTERVAL, OPT_SPARSE_CLASSIFIER, OPT_OUT,
    OPT_RESUME, OPT_CKPT_EVERY, OPT_MAX_STEPS, OPT_QUIET, OPT_STEM, OPT_CHECKPOINT, OPT_IN, OPT_CLASSES,
    OPT_EXPORT, OPT_DUMP, OPT_FORMAT, OPT_HELP,
};

static const struct option long_options[] = {
    {"model", required_argument, 0, OPT_MODEL}, {"width", required_argument, 0, OPT_WIDTH},
    {"data", required_argument, 0, OPT_DATA}, {"data-dir", required_argument, 0, OPT_DATA_DIR},
    {"epochs", required_argument, 0, OPT_EPOCHS}, {"batch", required_argument, 0, OPT_BATCH},
    {"lr", required_argument, 0, OPT_LR}, {"momentum", required_argument, 0, OPT_MOMENTUM},
    {"nesterov", no_argument, 0, OPT_NESTEROV}, {"no-nesterov", no_argument, 0, OPT_NO_NESTEROV}, {"wd", required_argument, 0, OPT_WD},
    {"wd-all", no_argument, 0, OPT_WD_ALL}, {"schedule", required_argument, 0, OPT_SCHEDULE},
    {"warmup", required_argument, 0, OPT_WARMUP}, {"label-smoothing", required_argument, 0, OPT_SMOOTHING},
    {"crop-pad", required_argument, 0, OPT_CROP}, {"hflip", required_argument, 0, OPT_FLIP},
    {"no-augment", no_argument, 0, OPT_NO_AUG}, {"seed", required_argument, 0, OPT_SEED},
    {"threads", required_argument, 0, OPT_THREADS}, {"method", required_argument, 0, OPT_METHOD},
    {"nm", required_argument, 0, OPT_NM}, {"decay", required_argument, 0, OPT_DECAY},
    {"mask-interval", required_argument, 0, OPT_INTERVAL},
    {"sparse-classifier", no_argument, 0, OPT_SPARSE_CLASSIFIER}, {"out", required_argument, 0, OPT_OUT},
    {"resume", required_argument, 0, OPT_RESUME}, {"checkpoint-every", required_argument, 0, OPT_CKPT_EVERY},
    {"max-steps", required_argument, 0, OPT_MAX_STEPS}, {"quiet", no_argument, 0, OPT_QUIET},
    {"imagenet-stem", no_argument, 0, OPT_STEM}, {"checkpoint", required_argument, 0, OPT_CHECKPOINT},
    {"in", required_argument, 0, OPT_IN}, {"classes", required_argument, 0, OPT_CLASSES},
    {"export", required_argument, 0, OPT_EXPORT}, {"dump-logits", required_argument, 0, OPT_DUMP},
    {"format", required_argument, 0, OPT_FORMAT},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

static int parse_int(const char *text, const char *option, long lo, long hi, int *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "nmtrain: --%s: '%s' is not an integer in [%ld, %ld]\n", option, text, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_float(const char *text, const char *option, double lo, double hi, float *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "nmtrain: --%s: '%s' is not a number in [%g, %g]\n", option, text, lo, hi);
        return -1;
    }
    *out = (float)v;
    return 0;
}

static void defaults(cli_options *o)
{
    memset(o, 0, sizeof *o);
    nmt_train_config *t = &o->train;
    t->model.arch = "resnet9";
    t->model.width = 0.25f;
    t->epochs = 3;
    t->batch = 128;
    t->schedule = NMT_SCHED_ONECYCLE;
    t->lr = 0.4f;
    t->warmup_epochs = 0.6f;
    t->final_lr_fraction = 0.0f;
    t->sgd.momentum = 0.9f;
    t->sgd.nesterov = 1;
    t->sgd.weight_decay = 5e-4f;
    t->label_smoothing = 0.1f;
    t->augment.crop_pad = 2;
    t->augment.hflip = 1;
    t->progress_seconds = 5;
    t->out_dir = "runs/default";
    nmt_nm nm = {2, 8};
    nmt_method_defaults(NMT_METHOD_BDWP, nm, &t->method);
    o->data = NMT_DEFAULT_DATA;
}

int cli_parse(int argc, char **argv, cli_options *o, const char *usage)
{
    defaults(o);
    nmt_train_config *t = &o->train;
    const char *method = NULL, *nm_text = NULL;
    float decay = -1.0f;
    int interval = 0, c, rc = 0;
    optind = 1;
    opterr = 0;
    while (!rc && (c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        switch (c) {
        case OPT_MODEL: t->model.arch = optarg; break;
        case OPT_WIDTH: rc = parse_float(optarg, "width", 1e-3, 64, &t->model.width); break;
        case OPT_DATA: o->data = optarg; break;
        case OPT_DATA_DIR: o->data_dir = optarg; break;
        case OPT_EPOCHS: rc = parse_int(optarg, "epochs", 1, 100000, &t->epochs); break;
        case OPT_BATCH: rc = parse_int(optarg, "batch", 1, 65536, &t->batch); break;
        case OPT_LR: rc = parse_float(optarg, "lr", 1e-9, 100, &t->lr); break;
        case OPT_MOMENTUM: rc = parse_float(optarg, "momentum", 0, 0.9999, &t->sgd.momentum); break;
        case OPT_NESTEROV: t->sgd.nesterov = 1; break;
        case OPT_NO_NESTEROV: t->sgd.nesterov = 0; break;
        case OPT_WD: rc = parse_float(optarg, "wd", 0, 1, &t->sgd.weight_decay); break;
        case OPT_WD_ALL: t->sgd.decay_bn_and_bias = 1; break;
        case OPT_SCHEDULE: rc = nmt_schedule_parse(optarg, &t->schedule); break;
        case OPT_WARMUP: rc = parse_float(optarg, "warmup", 0, 1000, &t->warmup_epochs); break;
        case OPT_SMOOTHING: rc = parse_float(optarg, "label-smoothing", 0, 0.999, &t->label_smoothing); break;
        case OPT_CROP: rc = parse_int(optarg, "crop-pad", 0, 64, &t->augment.crop_pad); break;
        case OPT_FLIP: rc = parse_int(optarg, "hflip", 0, 1, &t->augment.hflip); break;
        case OPT_NO_AUG: t->augment.crop_pad = t->augment.hflip = 0; break;
        case OPT_SEED: {
            int seed = 0;
            rc = parse_int(optarg, "seed", 0, 2147483647, &seed);
            t->seed = (uint64_t)seed;
            break;
        }
        case OPT_THREADS: rc = parse_int(optarg, "threads", 1, 1024, &o->threads); break;
        case OPT_METHOD: method = optarg; break;
        case OPT_NM: nm_text = optarg; break;
        case OPT_DECAY: rc = parse_float(optarg, "decay", 0, 1, &decay); break;
        case OPT_INTERVAL: rc = parse_int(optarg, "mask-interval", 1, 1000000, &interval); break;
        case OPT_SPARSE_CLASSIFIER: t->method.sparse_classifier = 1; break;
        case OPT_OUT: t->out_dir = optarg; break;
        case OPT_RESUME: t->resume = optarg; break;
        case OPT_CKPT_EVERY: rc = parse_int(optarg, "checkpoint-every", 0, 1 << 30, &t->checkpoint_every); break;
        case OPT_MAX_STEPS: {
            int steps = 0;
            rc = parse_int(optarg, "max-steps", 0, 1 << 30, &steps);
            t->max_steps = steps;
            break;
        }
        case OPT_QUIET: t->progress_seconds = 0; break;
        case OPT_STEM: t->model.imagenet_stem = 1; break;
        case OPT_CHECKPOINT: o->checkpoint = optarg; break;
        case OPT_IN: o->in_shape = optarg; break;
        case OPT_CLASSES: rc = parse_int(optarg, "classes", 2, 1 << 20, &t->model.classes); break;
        case OPT_EXPORT: o->export_path = optarg; break;
        case OPT_DUMP: o->dump_logits = optarg; break;
        case OPT_FORMAT: o->export_format = optarg; break;
        case OPT_HELP: o->help = 1; break;
        default:
            fprintf(stderr, "nmtrain: unknown or incomplete option '%s' (see --help)\n", name);
            rc = -1;
        }
    }
    if (rc) return -1;
    if (optind < argc) {
        fprintf(stderr, "nmtrain: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    if (o->help) {
        fputs(usage, stdout);
        return 0;
    }
    nmt_method_kind kind = t->method.kind;
    nmt_nm nm = t->method.nm;
    if ((method && nmt_method_parse(method, &kind) != 0) || (nm_text && nmt_nm_parse(nm_text, 0, "--nm", &nm) != 0)) {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
        return -1;
    }
    const int classifier = t->method.sparse_classifier;
    nmt_method_defaults(kind, nm, &t->method);
    t->method.sparse_classifier = classifier;
    if (decay >= 0.0f) t->method.decay = decay;
    if (interval > 0) t->method.mask_interval = interval;
    if (o->in_shape) {
        int ch, h, w;
        char extra;
        if (sscanf(o->in_shape, "%dx%dx%d%c", &ch, &h, &w, &extra) != 3 || ch < 1 || h < 1 || w < 1) {
            fprintf(stderr, "nmtrain: --in: '%s' is not CxHxW (e.g. 3x32x32)\n", o->in_shape);
            return -1;
        }
        t->model.in_c = ch, t->model.in_h = h, t->model.in_w = w;
    }
    t->data_name = o->data;
    if (o->threads) nmt_set_threads(o->threads);
    return 0;
}

int cli_load_data(const cli_options *o, nmt_dataset *train, nmt_dataset *test)
{
    if (nmt_dataset_load(o->data, o->data_dir, 1, train) != 0) {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
        return -1;
    }
    if (test && nmt_dataset_load(o->data, o->data_dir, 0, test) != 0) {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
        nmt_dataset_free(train);
        return -1;
    }
    return 0;
}

void cli_model_from_data(cli_options *o, const nmt_dataset *ds)
{
    nmt_model_config *m = &o->train.model;
    if (!o->in_shape) m->in_c = ds->c, m->in_h = ds->h, m->in_w = ds->w;
    if (!m->classes) m->classes = ds->classes;
}

/* nmtrain train: the training job. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "mpi/comm.h"

static const char about[] =
    "usage: nmtrain train [options]\n"
    "Trains a model. With no options, the default job: ResNet9 at width 0.25 with BDWP 2:8 on Fashion-MNIST\n"
    "from " NMT_FASHION_MNIST_DIR "; a model named with --model trains at its published width.\n";

static int train_job(cli_options *o);

/* Under a launcher (mpirun -np K) every rank runs the same job on its share
 * of each batch; rank 0 alone prints, logs and checkpoints. */
int nmt_cmd_train(int argc, char **argv)
{
    cli_options o;
    if (cli_parse(argc, argv, CLI_TRAIN, about, &o) != 0) return 2;
    if (o.help) return 0;
    nmt_comm comm;
    if (cli_comm_open(&argc, &argv, &comm) != 0) return 1;
    if (comm.size > 1) {
        o.train.comm = &comm;
        if (comm.rank != 0) {
            o.train.progress_seconds = 0;
            o.train.out_dir = NULL;
            if (!freopen("/dev/null", "w", stdout)) return 1;
        }
        printf("data parallel: %d ranks (%s), each %d or %d images of every batch of %d, batch norm %s\n",
               comm.size, cli_comm_library(), o.train.batch / comm.size, (o.train.batch + comm.size - 1) / comm.size,
               o.train.batch, o.train.sync_bn ? "synchronised" : "per rank");
    }
    const int rc = train_job(&o);
    cli_comm_close(&comm);
    return rc;
}

static int train_job(cli_options *op)
{
    cli_options o = *op;
    nmt_dataset train, test;
    if (cli_load_data(&o, &train, &test) != 0) return 1;
    cli_model_from_data(&o, &train);
    const nmt_train_config *t = &o.train;
    nmt_model_desc *desc = malloc(sizeof *desc);
    if (!desc || nmt_model_describe(&t->model, desc) != 0) { /* a bad model fails before any output */
        fprintf(stderr, "nmtrain: %s\n", desc ? nmt_errmsg() : "out of memory");
        free(desc);
        nmt_dataset_free(&train);
        nmt_dataset_free(&test);
        return 1;
    }
    free(desc);
    printf("nmtrain: %s (width %g) on %s: %d train / %d test images, %dx%dx%d, %d classes\n", t->model.arch,
           (double)t->model.width, o.data, train.count, test.count, train.c, train.h, train.w, train.classes);
    printf("method %s", nmt_method_name(t->method.kind));
    if (t->method.kind != NMT_METHOD_DENSE) printf(" %d:%d", t->method.nm.n, t->method.nm.m);
    printf(", %d epochs, batch %d, lr %g (%s), %d threads, output %s\n", t->epochs, t->batch, (double)t->lr,
           t->schedule == NMT_SCHED_ONECYCLE ? "onecycle" : t->schedule == NMT_SCHED_COSINE ? "cosine" : "constant",
           nmt_threads(), t->out_dir ? t->out_dir : "(none)");
    printf("kernels: dense GEMM OpenBLAS %s, N:M %s\n", nmt_gemm_dense_core(), nmt_gemm_nm_path());
    nmt_train_result result;
    int rc = nmt_train(t, &train, &test, &result);
    if (rc != 0) {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
    } else {
        printf("final test accuracy %.2f%% (loss %.4f) after %d epochs in %.1f s, peak memory %.0f MB\n",
               100.0 * result.last.test_acc, (double)result.last.test_loss, result.epochs_done, result.seconds,
               nmt_peak_rss() / 1048576.0);
        if (t->out_dir) printf("logs and checkpoint in %s/\n", t->out_dir);
    }
    nmt_dataset_free(&train);
    nmt_dataset_free(&test);
    return rc ? 1 : 0;
}

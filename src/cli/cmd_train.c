/* nmtrain train: the training job. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "mpi/comm.h"

static const char about[] =
    "usage: nmtrain train [options]\n"
    "Trains a model. With no options, the default job: ResNet9 at width 0.25 with BDWP 2:8 on Fashion-MNIST\n"
    "from " NMT_FASHION_MNIST_DIR "; a model named with --model trains at its published width.\n";

/* The first SIGINT or SIGTERM asks the trainer to finish its step and
 * checkpoint; a second one exits at once (the checkpoint on disk is only
 * ever replaced by an atomic rename, so it stays the last good one). */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    static const char note[] = "nmtrain: stopping after this step, with a checkpoint (a second signal stops at once)\n";
    if (stop_signal) _exit(128 + sig);
    stop_signal = sig;
    if (write(STDERR_FILENO, note, sizeof note - 1) < 0) return; /* async-signal-safe */
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int train_job(cli_options *o);

static void print_grad_sums(const nmt_grad_sum_stats *g)
{
    if (g->steps == 0) return;
    const double ms = 1e3 / (double)g->steps;
    printf("gradient sums: %.1f MB a step in %d buckets; a step's backward %.1f ms (%.1f ms of it in MPI calls "
           "starting and progressing the sums), then %.1f ms finishing them\n",
           g->bytes / 1048576.0, g->buckets, g->backward_seconds * ms, g->start_seconds * ms, g->finish_seconds * ms);
}

static void print_step_timing(const nmt_step_timing *t, int batch)
{
    if (t->steps < 2) return;
    const double rest = (double)(t->steps - 1), step = t->rest_seconds / rest;
    printf("step time: the first %.4g s; the %lld after it %.4g s a step (%.4g img/s), %.3g ms of it waiting for "
           "data\n",
           t->first_seconds, (long long)(t->steps - 1), step, batch / step, 1e3 * t->rest_data_wait_seconds / rest);
}

/* Under a launcher (mpirun -np K) every rank runs the same job on its share
 * of each batch; rank 0 alone prints, logs and checkpoints. */
int nmt_cmd_train(int argc, char **argv)
{
    cli_options o;
    if (cli_parse(argc, argv, CLI_TRAIN, about, &o) != 0) return 2;
    if (o.help) return 0;
    if (cli_resume_settings(&o) != 0) return 1;
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
    cli_comm_close(&comm, rc != 0);
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
    if (nmt_model_check_dropout(desc, t->dropout) != 0) { /* an option the model does not have */
        fprintf(stderr, "nmtrain train: --dropout: %s\n", nmt_errmsg());
        free(desc);
        nmt_dataset_free(&train);
        nmt_dataset_free(&test);
        return 2;
    }
    free(desc);
    printf("nmtrain: %s (width %g) on %s: %d train / %d test images, %dx%dx%d, %d classes\n", t->model.arch,
           (double)t->model.width, o.data, train.count, test.count, train.c, train.h, train.w, train.classes);
    printf("method %s", nmt_method_name(t->method.kind));
    if (t->method.kind != NMT_METHOD_DENSE) printf(" %d:%d", t->method.nm.n, t->method.nm.m);
    if (t->dropout > 0.0f) printf(", dropout %g", (double)t->dropout);
    printf(", %d epochs, batch %d, lr %g (%s), %d threads, output %s\n", t->epochs, t->batch, (double)t->lr,
           t->schedule == NMT_SCHED_ONECYCLE ? "onecycle" : t->schedule == NMT_SCHED_COSINE ? "cosine" : "constant",
           nmt_threads(), t->out_dir ? t->out_dir : "(none)");
    printf("kernels: dense GEMM OpenBLAS %s, N:M %s\n", nmt_gemm_dense_core(), nmt_gemm_nm_path());
    nmt_train_result result;
    o.train.stop = &stop_signal;
    catch_signals();
    int rc = nmt_train(t, &train, &test, &result);
    if (rc == 0) print_grad_sums(&result.grad_sums), print_step_timing(&result.timing, t->batch);
    const nmt_run_state *s = &result.state;
    if (rc != 0) {
        fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
    } else if (result.already_finished) {
        printf("%s: the run has done all %d epochs (step %lld): nothing to do\n", t->resume, t->epochs,
               (long long)s->step);
    } else if (result.stopped_by || result.epochs_done == 0) {
        if (s->step == 0) {
            printf("stopped before the first step; nothing was saved\n");
        } else if (t->out_dir) {
            printf("stopped%s at step %lld (epoch %d, %d batches into it); resume with: nmtrain train --resume "
                   "%s/checkpoint.safetensors --out %s\n",
                   result.stopped_by == SIGINT ? " by SIGINT" : result.stopped_by == SIGTERM ? " by SIGTERM" : "",
                   (long long)s->step, s->epoch + 1, s->batch_in_epoch, t->out_dir, t->out_dir);
        } else {
            printf("stopped at step %lld (no output directory: nothing saved)\n", (long long)s->step);
        }
    } else {
        printf("final test accuracy %.2f%% (loss %.4f) after %d epochs in %.1f s, peak memory %.0f MB\n",
               100.0 * result.last.test_acc, (double)result.last.test_loss, result.epochs_done, result.seconds,
               nmt_peak_rss() / 1048576.0);
        if (t->out_dir) printf("logs and checkpoint in %s/\n", t->out_dir);
    }
    nmt_dataset_free(&train);
    nmt_dataset_free(&test);
    if (!rc && result.stopped_by) return 128 + result.stopped_by;
    return rc ? 1 : 0;
}

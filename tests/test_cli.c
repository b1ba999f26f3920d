/* The nmtrain command as a user drives it (the binary named by $NMTRAIN):
 * a tiny training run on generated Fashion-MNIST-format files, evaluation,
 * exact resume, export, one-line errors with non-zero exits for bad options,
 * data files and checkpoints, every sub-command's --help, and the width a
 * named model trains at. */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"
#include "nmtrain/core.h"

static const char *nmtrain;
static char dir[] = "/tmp/nmt_cli_XXXXXX";
static char output[16384];

/* Runs nmtrain with the given arguments; returns the exit status and keeps
 * stdout + stderr in `output`. */
static int run(const char *fmt, ...)
{
    char args[2048], cmd[4096], log[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(log, sizeof log, "%s/out.txt", dir);
    snprintf(cmd, sizeof cmd, "%s %s > %s 2>&1", nmtrain, args, log);
    int status = system(cmd);
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(output, 1, sizeof output - 1, f) : 0;
    output[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void write_idx(const char *where, const char *name, int images, int count, const uint8_t *data, size_t bytes, size_t keep)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", where, name);
    gzFile f = gzopen(path, "wb");
    uint8_t header[16] = {0, 0, 8, (uint8_t)(images ? 3 : 1)};
    header[4] = (uint8_t)(count >> 24), header[5] = (uint8_t)(count >> 16);
    header[6] = (uint8_t)(count >> 8), header[7] = (uint8_t)count;
    size_t header_bytes = 8;
    if (images) {
        header[11] = 28, header[15] = 28;
        header_bytes = 16;
    }
    gzwrite(f, header, (unsigned)header_bytes);
    gzwrite(f, data, (unsigned)(keep < bytes ? keep : bytes));
    gzclose(f);
}

/* Ten classes a small network separates: a bright bar at a class-dependent row. */
static void make_split(const char *prefix, int count, unsigned seed)
{
    uint8_t *img = calloc((size_t)count, 784), *lab = malloc((size_t)count);
    srand(seed);
    for (int i = 0; i < count; i++) {
        lab[i] = (uint8_t)(i % 10);
        for (int p = 0; p < 784; p++) img[(size_t)i * 784 + p] = (uint8_t)(rand() % 60);
        for (int x = 4; x < 24; x++) img[(size_t)i * 784 + (2 + 2 * lab[i]) * 28 + x] = 250;
    }
    char name[128];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte.gz", prefix);
    write_idx(dir, name, 1, count, img, (size_t)count * 784, (size_t)count * 784);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte.gz", prefix);
    write_idx(dir, name, 0, count, lab, (size_t)count, (size_t)count);
    free(img), free(lab);
}

/* Whether `output` is exactly one line. */
static int one_line(void)
{
    const char *nl = strchr(output, '\n');
    return nl && nl[1] == 0;
}

/* The help line of `option` in `output`, or NULL. */
static const char *help_line(const char *option, char *line, size_t size)
{
    char key[64];
    snprintf(key, sizeof key, "\n  %s ", option);
    const char *at = strstr(output, key);
    if (!at) return NULL;
    at += 1;
    size_t n = strcspn(at, "\n");
    snprintf(line, size, "%.*s", (int)(n < size ? n : size - 1), at);
    return line;
}

/* Every sub-command's -h/--help: one line per option, each explained. */
static void check_help(void)
{
    static const char *const commands[] = {"train", "eval", "export", "info", "sim"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        for (int form = 0; form < 2; form++) {
            int rc = run("%s %s", commands[i], form ? "--help" : "-h");
            char usage[64];
            snprintf(usage, sizeof usage, "usage: nmtrain %s", commands[i]);
            CHECK(rc == 0 && !strncmp(output, usage, strlen(usage)), "%s help: exit %d: %s", commands[i], rc, output);
            int options = 0, explained = 0;
            for (const char *line = output; (line = strstr(line, "\n  -")) != NULL; line++) {
                options++;
                /* "\n  --name VALUE   what it does": the text starts 30 characters in */
                const char *end = strchr(line + 1, '\n');
                explained += end && end - line > 31 && line[29] == ' ' && line[30] != ' ';
            }
            CHECK(options >= 3 && explained == options, "%s --help: %d of %d option lines explained:\n%s",
                  commands[i], explained, options, output);
        }
    }
    char line[256];
    run("train --help");
    CHECK(help_line("--lr LR", line, sizeof line) && strstr(line, "(default: 0.4)"), "train --lr default: %s", output);
    CHECK(help_line("--epochs E", line, sizeof line) && strstr(line, "(default: 3)"), "train --epochs default");
    CHECK(help_line("--schedule S", line, sizeof line) && strstr(line, "(default: onecycle)"), "--schedule default");
    CHECK(help_line("--width W", line, sizeof line) && strstr(line, "else 0.25, the default job"), "width default");
    CHECK(!strstr(output, "--topology"), "train --help lists sim's options");
    run("sim --help");
    CHECK(help_line("--batch B", line, sizeof line) && strstr(line, "128 for models, 1 for topologies"),
          "sim --batch default: %s", output);
    CHECK(help_line("--schedule", line, sizeof line) && strstr(line, "schedule"), "sim --schedule");
    run("eval --help");
    CHECK(help_line("--batch B", line, sizeof line) && strstr(line, "(default: 128)"), "eval --batch: %s", output);
}

/* Values and options the command refuses: exit 2 and one line that says why. */
static void check_refusals(void)
{
    static const char *const cases[][2] = {
        {"train --schedule foo", "nmtrain train: --schedule: unknown schedule 'foo' (choose"},
        {"train --schedule=foo", "--schedule: unknown schedule 'foo'"},
        {"train --method magic", "nmtrain train: --method: unknown training method 'magic' (choose"},
        {"info --method=magic", "nmtrain info: --method: unknown training method 'magic'"},
        {"sim --model resnet9 --method magic", "nmtrain sim: --method: unknown training method 'magic'"},
        {"train --epochs zero", "--epochs: 'zero' is not an integer in [1, 100000]"},
        {"train --lr=-1", "--lr: '-1' is not a number in"},
        {"train --dropout 1", "nmtrain train: --dropout: '1' is not a number in [0, 1)"},
        {"train --dropout=-0.1", "--dropout: '-0.1' is not a number in [0, 1)"},
        {"train --dropout 0.99999999999", "--dropout: '0.99999999999' is not a number in [0, 1)"}, /* 1 as a float */
        {"train --dropout nan", "--dropout: 'nan' is not a number"},
        {"train --dropout 10%", "--dropout: '10%' is not a number"},
        {"eval --dropout 0.1", "nmtrain eval: unknown option '--dropout'"},
        {"train --hflip 2", "--hflip: '2' is not an integer in [0, 1]"},
        {"train --width 0", "--width: '0' is not a number in"},
        {"train --in 3x32", "--in: '3x32' is not CxHxW"},
        {"info --nm=2:40", "nmtrain info: --nm: '2:40': M must be at most"},
        {"train --quiet=1", "nmtrain train: --quiet takes no value"},
        {"train --epochs", "nmtrain train: --epochs needs a value"},
        {"train --bogus", "nmtrain train: unknown option '--bogus'"},
        {"train --ep 3", "nmtrain train: unknown option '--ep'"},
        {"train -x", "nmtrain train: unknown option '-x'"},
        {"train stray", "nmtrain train: unexpected argument 'stray'"},
        {"eval --zoo", "nmtrain eval: unknown option '--zoo'"},
        {"export --epochs 3", "nmtrain export: unknown option '--epochs'"},
        {"export --checkpoint a --export b --format=xyz", "nmtrain export: --format: 'xyz' is not one of"},
        {"sim --model resnet9 --schedule=x", "nmtrain sim: --schedule takes no value"},
        {"sim --set", "nmtrain sim: --set needs a value"},
        {"eval", "nmtrain eval: --checkpoint FILE is required"},
        {"frobnicate", "nmtrain: unknown command 'frobnicate'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = run("%s", cases[i][0]);
        CHECK(rc == 2 && strstr(output, cases[i][1]) && (one_line() || !strcmp(cases[i][0], "frobnicate")),
              "'nmtrain %s': exit %d, output '%s', want '%s'", cases[i][0], rc, output, cases[i][1]);
    }
}

/* A named model is the published network unless --width says otherwise; the
 * default job stays at width 0.25. An output directory that already holds a
 * run stops the run right after the header that states the model. */
static void check_width_rule(void)
{
    static const char *const cases[][2] = {
        {"", "resnet9 (width 0.25)"},
        {"--model resnet9", "resnet9 (width 1)"},
        {"--model=resnet18", "resnet18 (width 1)"},
        {"--model resnet18 --width 0.5", "resnet18 (width 0.5)"},
        {"--width=0.125", "resnet9 (width 0.125)"},
    };
    char held[600];
    snprintf(held, sizeof held, "mkdir -p %s/held && touch %s/held/log.csv", dir, dir);
    CHECK(system(held) == 0, "mkdir failed");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = run("train --data-dir %s --quiet --out %s/held %s", dir, dir, cases[i][0]);
        CHECK(rc == 1 && strstr(output, cases[i][1]) && strstr(output, "already holds a run"),
              "train %s: exit %d: %s", cases[i][0], rc, output);
    }
    int rc = run("info");
    CHECK(rc == 0 && !strncmp(output, "resnet9, width 0.25,", 20), "info default job: %s", output);
    rc = run("info --model resnet18 --in=3x32x32 --method=tnm --nm=2:4");
    CHECK(rc == 0 && !strncmp(output, "resnet18, width 1, input 3x32x32, 10 classes; method tnm 2:4", 60),
          "info with --opt=value: %s", output);
    rc = run("info --model resnet18 --width 0.5");
    CHECK(rc == 0 && !strncmp(output, "resnet18, width 0.5,", 20), "info --width: %s", output);
}

static int files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

int main(void)
{
    nmtrain = getenv("NMTRAIN") ? getenv("NMTRAIN") : "build/nmtrain";
    if (!mkdtemp(dir)) return 2;
    make_split("train", 320, 1);
    make_split("t10k", 100, 2);
    const char *common = "--width=0.125 --batch=32 --quiet --threads=1";

    int rc = run("--version");
    CHECK(rc == 0 && !strncmp(output, "nmtrain ", 8) && !strcmp(output + 8, NMT_VERSION "\n"), "--version: %s",
          output);
    check_help();
    check_refusals();
    check_width_rule();

    /* A whole run, its logs, checkpoint and evaluation. */
    rc = run("train --data-dir %s %s --epochs 3 --lr 0.2 --out %s/full", dir, common, dir);
    CHECK(rc == 0, "train exit %d: %s", rc, output);
    CHECK(strstr(output, "final test accuracy") != NULL, "no final accuracy line: %s", output);
    char path[2048], other[600];
    snprintf(path, sizeof path, "%s/full/log.csv", dir);
    FILE *f = fopen(path, "r");
    int lines = 0;
    for (int c; f && (c = fgetc(f)) != EOF;) lines += c == '\n';
    if (f) fclose(f);
    CHECK(lines == 4, "log.csv has %d lines, want header + 3 epochs", lines);
    rc = run("eval --checkpoint %s/full/checkpoint.safetensors --data-dir %s", dir, dir);
    CHECK(rc == 0 && strstr(output, "accuracy"), "eval exit %d: %s", rc, output);
    float acc = 0;
    const char *at = strstr(output, "accuracy ");
    if (at) acc = strtof(at + 9, NULL);
    CHECK(acc > 50.0f, "a learnable toy task ends at %.1f%% accuracy", (double)acc);

    /* The inference export evaluates exactly as the checkpoint does. */
    char eval_line[512];
    snprintf(eval_line, sizeof eval_line, "%s", at ? at : "");
    rc = run("export --checkpoint %s/full/checkpoint.safetensors --export %s/model.safetensors", dir, dir);
    CHECK(rc == 0, "export exit %d: %s", rc, output);
    rc = run("eval --checkpoint %s/model.safetensors --data-dir %s", dir, dir);
    at = strstr(output, "accuracy ");
    CHECK(rc == 0 && at && !strcmp(at, eval_line), "export evaluates to '%s', checkpoint to '%s'", at ? at : output,
          eval_line);

    /* Stop mid-epoch, resume, and land on the very same checkpoint bytes. */
    rc = run("train --data-dir %s %s --epochs 3 --lr 0.2 --out %s/part --max-steps 13", dir, common, dir);
    CHECK(rc == 0, "partial train exit %d: %s", rc, output);
    rc = run("train --data-dir %s %s --epochs 3 --lr 0.2 --out %s/part --resume %s/part/checkpoint.safetensors", dir,
             common, dir, dir);
    CHECK(rc == 0, "resume exit %d: %s", rc, output);
    snprintf(path, sizeof path, "%s/full/checkpoint.safetensors", dir);
    snprintf(other, sizeof other, "%s/part/checkpoint.safetensors", dir);
    CHECK(files_equal(path, other), "resumed run's checkpoint differs from the uninterrupted run's");

    /* Issue 16 item 3: a directory holding a run is refused without --resume
     * or --overwrite, and its logs are left as they were. */
    rc = run("train --data-dir %s %s --epochs 3 --lr 0.2 --out %s/full", dir, common, dir);
    CHECK(rc == 1 && strstr(output, "already holds a run"),
          "second run into a run's directory: exit %d: %s", rc, output);
    snprintf(path, sizeof path, "%s/full/log.csv", dir);
    f = fopen(path, "r");
    lines = 0;
    for (int c; f && (c = fgetc(f)) != EOF;) lines += c == '\n';
    if (f) fclose(f);
    CHECK(lines == 4, "the refused run left log.csv with %d lines", lines);
    rc = run("train --data-dir %s %s --epochs 1 --lr 0.2 --out %s/over --max-steps 2", dir, common, dir);
    rc |= run("train --data-dir %s %s --epochs 1 --lr 0.2 --out %s/over --overwrite", dir, common, dir);
    CHECK(rc == 0, "--overwrite: exit %d: %s", rc, output);

    /* Item 5: a resume takes its settings from the checkpoint; a given one
     * that contradicts it is refused, naming both, unless --finetune. */
    rc = run("train --data-dir %s %s --method srste --nm 2:4 --epochs 2 --lr 0.1 --seed 3 --out %s/srste --max-steps 3",
             dir, common, dir);
    CHECK(rc == 0, "srste run: exit %d: %s", rc, output);
    rc = run("train --data-dir %s --quiet --threads 1 --out %s/srste --resume %s/srste/checkpoint.safetensors", dir,
             dir, dir);
    CHECK(rc == 0 && strstr(output, "method srste 2:4, 2 epochs, batch 32, lr 0.1"),
          "resume without options: exit %d: %s", rc, output);
    rc = run("train --data-dir %s --quiet --out %s/srste2 --resume %s/srste/checkpoint.safetensors --method bdwp", dir,
             dir, dir);
    CHECK(rc == 1 && strstr(output, "method srste") && strstr(output, "asks for bdwp"),
          "srste resumed as bdwp: exit %d: %s", rc, output);
    rc = run("train --data-dir %s --quiet --out %s/srste2 --resume %s/srste/checkpoint.safetensors --nm 2:8", dir, dir,
             dir);
    CHECK(rc == 1 && strstr(output, "M 4") && strstr(output, "asks for 8"), "2:4 resumed as 2:8: exit %d: %s", rc,
          output);
    rc = run("train --data-dir %s --threads 1 --out %s/tuned --resume %s/srste/checkpoint.safetensors --method bdwp "
             "--epochs 1 --finetune", dir, dir, dir);
    CHECK(rc == 0 && strstr(output, "fine-tuning from"), "fine-tune: exit %d: %s", rc, output);
    rc = run("info --checkpoint %s/srste/checkpoint.safetensors", dir);
    CHECK(rc == 0 && strstr(output, "resnet9, width 0.125, input 1x28x28, 10 classes; method srste 2:4"),
          "info --checkpoint: exit %d: %s", rc, output);

    /* Item 2: a loss past --max-loss is divergence. */
    rc = run("train --data-dir %s %s --epochs 1 --out %s/bound --max-loss 0.01", dir, common, dir);
    CHECK(rc == 1 && strstr(output, "diverged at step 0") && strstr(output, "exceeds 0.01"),
          "--max-loss: exit %d: %s", rc, output);

    /* Same seed and thread count, same bytes: two threads, twice. */
    for (int i = 0; i < 2; i++) {
        rc = run("train --data-dir %s --width 0.125 --batch 32 --quiet --threads 2 --epochs 1 --out %s/det%d", dir,
                 dir, i);
        CHECK(rc == 0, "2-thread run %d exit %d: %s", i, rc, output);
    }
    snprintf(path, sizeof path, "%s/det0/checkpoint.safetensors", dir);
    snprintf(other, sizeof other, "%s/det1/checkpoint.safetensors", dir);
    CHECK(files_equal(path, other), "two 2-thread runs with one seed wrote different checkpoints");

    /* Bad N:M ratios are refused before any work. */
    const char *bad_nm[] = {"8:8", "2:40", "0:4", "abc", "2:", "3:2"};
    for (size_t i = 0; i < sizeof bad_nm / sizeof bad_nm[0]; i++) {
        rc = run("train --data-dir %s --nm %s", dir, bad_nm[i]);
        CHECK(rc == 2 && strstr(output, "--nm") && !strchr(strchr(output, '\n') + 1, '\n'),
              "--nm %s: exit %d, output '%s'", bad_nm[i], rc, output);
    }
    rc = run("train --model nope --data-dir %s", dir);
    CHECK(rc == 1 && strstr(output, "unknown model 'nope'"), "bad model: exit %d: %s", rc, output);
    rc = run("train --data-dir %s --in 3x32x32 %s", dir, common);
    CHECK(rc == 1 && strstr(output, "does not fit"), "data/model shape mismatch: exit %d: %s", rc, output);
    rc = run("train --epochs zero");
    CHECK(rc == 2 && strstr(output, "--epochs"), "bad epochs: exit %d: %s", rc, output);

    /* A truncated data file is named, with the problem. */
    char bad_dir[600];
    snprintf(bad_dir, sizeof bad_dir, "%s/bad", dir);
    mkdir(bad_dir, 0755);
    snprintf(path, sizeof path, "cp %s/t10k-* %s/train-labels* %s/ && cp %s/train-images-idx3-ubyte.gz %s/", dir, dir,
             bad_dir, dir, bad_dir);
    CHECK(system(path) == 0, "copy failed");
    uint8_t pixels[1000] = {0};
    write_idx(bad_dir, "train-images-idx3-ubyte.gz", 1, 320, pixels, sizeof pixels, sizeof pixels);
    rc = run("train --data-dir %s %s", bad_dir, common);
    CHECK(rc == 1 && strstr(output, "train-images-idx3-ubyte.gz") && strstr(output, "truncated"),
          "truncated data: exit %d: %s", rc, output);

    /* Checkpoints: corrupt, missing, and from another model. */
    snprintf(path, sizeof path, "head -c 300 %s/full/checkpoint.safetensors > %s/broken.safetensors", dir, dir);
    CHECK(system(path) == 0, "truncate failed");
    rc = run("eval --checkpoint %s/broken.safetensors --data-dir %s", dir, dir);
    CHECK(rc == 1 && strstr(output, "broken.safetensors"), "corrupt checkpoint: exit %d: %s", rc, output);
    rc = run("eval --checkpoint %s/none.safetensors --data-dir %s", dir, dir);
    CHECK(rc == 1 && strstr(output, "none.safetensors"), "missing checkpoint: exit %d: %s", rc, output);
    rc = run("train --data-dir %s --width 0.25 --batch 32 --quiet --out %s/wide --resume %s/full/checkpoint.safetensors",
             dir, dir, dir);
    CHECK(rc == 1 && strstr(output, "checkpoint.safetensors") && strstr(output, "width 0.125") && strstr(output, "0.25"),
          "mismatched checkpoint: exit %d: %s", rc, output);

    /* Item 1 of issue 16: SIGINT / SIGTERM finish the step, checkpoint and
     * exit 130 / 143 with a line saying how to resume; the run resumes to the
     * uninterrupted run's bytes. */
    const int sigs[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        char out_dir[600], log[700], ckpt[700];
        snprintf(out_dir, sizeof out_dir, "%s/sig%d", dir, i);
        snprintf(log, sizeof log, "%s/sig%d.txt", dir, i);
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out_dir);
        const pid_t pid = fork();
        if (pid == 0) {
            char data_arg[600];
            snprintf(data_arg, sizeof data_arg, "%s", dir);
            if (!freopen(log, "w", stdout) || dup2(fileno(stdout), 2) < 0) _exit(99);
            execl(nmtrain, nmtrain, "train", "--data-dir", data_arg, "--width", "0.125", "--batch", "32", "--quiet",
                  "--threads", "1", "--epochs", "3", "--lr", "0.2", "--out", out_dir, "--checkpoint-every", "2",
                  (char *)NULL);
            _exit(98);
        }
        /* Signal once the run has written its first checkpoint (step 2). */
        for (int wait_ms = 0; wait_ms < 60000 && access(ckpt, F_OK) != 0; wait_ms += 5) usleep(5000);
        kill(pid, sigs[i]);
        int status = 0;
        waitpid(pid, &status, 0);
        FILE *f = fopen(log, "r");
        size_t n = f ? fread(output, 1, sizeof output - 1, f) : 0;
        output[n] = 0;
        if (f) fclose(f);
        const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status); /* killed: no handler */
        char tmp[720];
        snprintf(tmp, sizeof tmp, "%s.tmp", ckpt);
        CHECK(code == 128 + sigs[i] && strstr(output, "resume with") && strstr(output, "stopped by SIG") &&
                  access(tmp, F_OK) != 0,
              "signal %d: exit %d, output '%s'", sigs[i], code, output);
        rc = run("train --data-dir %s %s --epochs 3 --lr 0.2 --out %s --resume %s", dir, common, out_dir, ckpt);
        CHECK(rc == 0, "resume after signal %d: exit %d: %s", sigs[i], rc, output);
        snprintf(path, sizeof path, "%s/full/checkpoint.safetensors", dir);
        CHECK(files_equal(path, ckpt), "signal %d: the resumed run's checkpoint differs from the uninterrupted run's",
              sigs[i]);
    }
    /* Two signals: out at once, the last good checkpoint untouched. Steps of
     * a half-width model take long enough that the second signal lands
     * before the first one's step and checkpoint are done. */
    {
        char out_dir[600], ckpt[700], copy[800], note[700];
        snprintf(out_dir, sizeof out_dir, "%s/sig2", dir);
        snprintf(note, sizeof note, "%s/sig2.txt", dir);
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out_dir);
        snprintf(copy, sizeof copy, "%s/good.safetensors", dir);
        rc = run("train --data-dir %s --width 0.5 --batch 32 --quiet --threads 1 --epochs 30 --out %s --max-steps 1",
                 dir, out_dir);
        CHECK(rc == 0, "first step: %s", output);
        snprintf(path, sizeof path, "cp %s %s", ckpt, copy);
        CHECK(system(path) == 0, "copy failed");
        const pid_t pid = fork();
        if (pid == 0) {
            char data_arg[600];
            snprintf(data_arg, sizeof data_arg, "%s", dir);
            if (!freopen(note, "w", stdout) || dup2(fileno(stdout), 2) < 0) _exit(99);
            setvbuf(stdout, NULL, _IONBF, 0);
            execl(nmtrain, nmtrain, "train", "--data-dir", data_arg, "--width", "0.5", "--batch", "32",
                  "--threads", "1", "--epochs", "30", "--out", out_dir, "--resume", ckpt, (char *)NULL);
            _exit(98);
        }
        /* The second signal goes once the first was taken (standard signals
         * pending together would merge into one). */
        int started = 0, taken = 0;
        for (int wait_ms = 0; wait_ms < 120000 && !taken; wait_ms += 5) {
            if (started) kill(pid, SIGINT);
            usleep(5000);
            FILE *f = fopen(note, "r");
            size_t n = f ? fread(output, 1, sizeof output - 1, f) : 0;
            output[n] = 0;
            if (f) fclose(f);
            started = strstr(output, "network memory") != NULL; /* the handler is in place */
            taken = strstr(output, "stopping after this step") != NULL;
        }
        kill(pid, SIGINT);
        int status = 0;
        waitpid(pid, &status, 0);
        const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        CHECK(code == 130, "two SIGINTs: exit %d", code);
        CHECK(files_equal(ckpt, copy), "two SIGINTs changed the last good checkpoint");
        rc = run("eval --checkpoint %s --data-dir %s", ckpt, dir);
        CHECK(rc == 0, "the checkpoint after two SIGINTs does not evaluate: %s", output);
        /* A stale temporary file of a killed write goes on the next start. */
        char tmp[720];
        snprintf(tmp, sizeof tmp, "%s.tmp", ckpt);
        FILE *t = fopen(tmp, "w");
        if (t) fputs("half a checkpoint", t), fclose(t);
        rc = run("train --data-dir %s --width 0.5 --batch 32 --quiet --threads 1 --epochs 30 --out %s --resume %s "
                 "--max-steps 2", dir, out_dir, ckpt);
        CHECK(rc == 0 && access(tmp, F_OK) != 0, "stale %s after the next start (exit %d): %s", tmp, rc, output);
    }

    /* A checkpoint that cannot be written during a run (a directory where
     * its temporary file goes: the start's clean-up cannot remove it) ends
     * the run with exit 1, naming the file, and the checkpoint on disk is
     * named with its step and kept: after --checkpoint-every's save, and
     * after the save of a run stopped by --max-steps. */
    {
        char out_dir[600], ckpt[700], tmp[720], copy[800], setup[2400];
        snprintf(out_dir, sizeof out_dir, "%s/unsaved", dir);
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out_dir);
        snprintf(tmp, sizeof tmp, "%s.tmp", ckpt);
        snprintf(copy, sizeof copy, "%s/unsaved_good.safetensors", dir);
        rc = run("train --data-dir %s %s --epochs 2 --out %s --max-steps 1", dir, common, out_dir);
        CHECK(rc == 0, "first step: exit %d: %s", rc, output);
        snprintf(setup, sizeof setup, "cp %s %s && mkdir %s", ckpt, copy, tmp);
        CHECK(system(setup) == 0, "setting up %s failed", tmp);
        const char *stops[2] = {"--checkpoint-every 1", "--max-steps 2"};
        for (int i = 0; i < 2; i++) {
            rc = run("train --data-dir %s %s --out %s --resume %s %s", dir, common, out_dir, ckpt, stops[i]);
            CHECK(rc == 1 && strstr(output, tmp) && strstr(output, "(step 1), is kept"),
                  "%s with an unwritable checkpoint: exit %d: %s", stops[i], rc, output);
            CHECK(files_equal(ckpt, copy), "%s: a failed save changed the last good checkpoint", stops[i]);
        }
        rmdir(tmp);
    }

    /* Item 10 of issue 16: an output directory that cannot take a file is
     * found before the first step (file size limit of 1 KiB). */
    {
        char cmd[2048], log[600];
        snprintf(log, sizeof log, "%s/limited.txt", dir);
        snprintf(cmd, sizeof cmd, "sh -c 'trap \"\" XFSZ; ulimit -f 2; exec %s train --data-dir %s %s --epochs 1 --out %s/limited' > %s 2>&1",
                 nmtrain, dir, common, dir, log);
        const int status = system(cmd);
        FILE *f = fopen(log, "r");
        size_t n = f ? fread(output, 1, sizeof output - 1, f) : 0;
        output[n] = 0;
        if (f) fclose(f);
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        CHECK(rc == 1 && strstr(output, "limited: the output directory is not writable") && !strstr(output, "epoch 1"),
              "unwritable output: exit %d: %s", rc, output);
    }

    /* Item 10 of issue 16: a log write that fails ends the run with the file
     * and the reason (log.csv past a 2 MiB file-size limit). */
    {
        char cmd[2048], log[600];
        rc = run("train --data-dir %s %s --epochs 2 --out %s/logfail --max-steps 3", dir, common, dir);
        CHECK(rc == 0, "logfail start: %s", output);
        snprintf(cmd, sizeof cmd, "head -c 3000000 /dev/zero | tr '\\\\0' 'x' >> %s/logfail/log.csv", dir);
        CHECK(system(cmd) == 0, "padding the log failed");
        snprintf(log, sizeof log, "%s/logfail.txt", dir);
        snprintf(cmd, sizeof cmd,
                 "sh -c 'trap \"\" XFSZ; ulimit -f 4096; exec %s train --data-dir %s %s --epochs 2 --out %s/logfail "
                 "--resume %s/logfail/checkpoint.safetensors' > %s 2>&1",
                 nmtrain, dir, common, dir, dir, log);
        const int status = system(cmd);
        FILE *f = fopen(log, "r");
        size_t n = f ? fread(output, 1, sizeof output - 1, f) : 0;
        output[n] = 0;
        if (f) fclose(f);
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        CHECK(rc == 1 && strstr(output, "log.csv: write failed: File too large"), "failed log write: exit %d: %s", rc,
              output);
    }

    /* Item 7 of issue 16: shapes that overflowed or took minutes. */
    rc = run("info --in 1x2147483647x2147483647");
    CHECK(rc == 2 && strstr(output, "65536"), "info --in 1x2147483647x2147483647: exit %d: %s", rc, output);
    rc = run("info --in 4x99999999999x1");
    CHECK(rc == 2 && strstr(output, "CxHxW"), "info --in 4x99999999999x1: exit %d: %s", rc, output);
    rc = run("info --in 1x60000x60000");
    CHECK(rc == 1 && strstr(output, "beyond the supported size"), "info --in 1x60000x60000: exit %d: %s", rc, output);
    rc = run("sim --model resnet9 --in 1x99999999999x1");
    CHECK(rc == 2 && strstr(output, "CxHxW"), "sim --in: exit %d: %s", rc, output);
    /* A small ViT with AdamW and dropout: trains, stops mid-epoch and
     * resumes onto the uninterrupted run's checkpoint bytes (the AdamW
     * moments and step count travel in the checkpoint, the dropout in its
     * configuration: the resume does not repeat --dropout), evaluates. */
    const char *vit = "--model vit --patch 7 --dim 16 --depth 1 --heads 2 --mlp-dim 32 --optimizer adamw --lr 2e-3 "
                      "--schedule cosine --method bdwp --nm 2:4";
    rc = run("train --data-dir %s %s %s --dropout 0.1 --epochs 2 --out %s/vit_full", dir, common, vit, dir);
    CHECK(rc == 0, "vit train exit %d: %s", rc, output);
    rc = run("train --data-dir %s %s %s --dropout 0.1 --epochs 2 --out %s/vit_part --max-steps 13", dir, common, vit,
             dir);
    CHECK(rc == 0, "vit partial train exit %d: %s", rc, output);
    rc = run("train --data-dir %s %s %s --epochs 2 --out %s/vit_part --resume %s/vit_part/checkpoint.safetensors", dir,
             common, vit, dir, dir);
    CHECK(rc == 0, "vit resume exit %d: %s", rc, output);
    snprintf(path, sizeof path, "%s/vit_full/checkpoint.safetensors", dir);
    snprintf(other, sizeof other, "%s/vit_part/checkpoint.safetensors", dir);
    CHECK(files_equal(path, other), "resumed ViT run's checkpoint differs from the uninterrupted run's");
    rc = run("eval --checkpoint %s --data-dir %s", path, dir);
    CHECK(rc == 0 && strstr(output, "vit on"), "vit eval exit %d: %s", rc, output);
    rc = run("info --checkpoint %s", path);
    CHECK(rc == 0 && strstr(output, "with dropout 0.1\n"), "info of a dropout checkpoint: exit %d: %s", rc, output);
    rc = run("train --data-dir %s %s %s --dropout 0.2 --epochs 2 --out %s/vit_part --resume %s", dir, common, vit, dir,
             other);
    CHECK(rc == 1 && strstr(output, "dropout 0.1, this run asks for 0.2"), "dropout 0.1 resumed at 0.2: exit %d: %s",
          rc, output);
    /* a CNN has no dropout: one line, exit 2, before any output */
    rc = run("train --data-dir %s %s --dropout 0.1 --out %s/cnn_dropout", dir, common, dir);
    CHECK(rc == 2 && one_line() && strstr(output, "nmtrain train: --dropout: dropout 0.1: model resnet9 has no dropout"),
          "resnet9 with --dropout: exit %d: %s", rc, output);
    /* Bad ViT shapes and a checkpoint of another shape: one line, exit 1. */
    rc = run("train --data-dir %s %s --model vit --patch 5", dir, common);
    CHECK(rc == 1 && strstr(output, "5x5 patches") && !strchr(output, '\n')[1], "patch 5 on 28x28: exit %d: %s", rc,
          output);
    rc = run("train --data-dir %s %s --model vit --dim 20 --heads 3", dir, common);
    CHECK(rc == 1 && strstr(output, "dim 20 is not a multiple of heads 3") && !strchr(output, '\n')[1],
          "heads 3 of dim 20: exit %d: %s", rc, output);
    rc = run("train --data-dir %s %s --model vit --patch 7 --dim 32 --depth 1 --heads 2 --mlp-dim 32 --optimizer adamw "
             "--out %s/vit_other --resume %s", dir, common, dir, path);
    CHECK(rc == 1 && strstr(output, "vit_full/checkpoint.safetensors") && strstr(output, "[32, 1, 7, 7]"),
          "ViT checkpoint of another dim: exit %d: %s", rc, output);
    rc = run("train --data-dir %s %s %s --optimizer sgd --out %s/vit_sgd --resume %s", dir, common, vit, dir, path);
    CHECK(rc == 1 && strstr(output, "trained with adamw"), "AdamW checkpoint resumed with SGD: exit %d: %s", rc, output);

    /* info: the spec's compute figures for BDWP at 2:8. */
    rc = run("info --model resnet18 --in 3x32x32 --method bdwp --nm 2:8");
    CHECK(rc == 0 && strstr(output, "layer4.1.conv2") && strstr(output, "0.500"), "info: exit %d: %s", rc, output);

    snprintf(path, sizeof path, "rm -rf %s", dir);
    CHECK(system(path) == 0, "cleanup");
    TEST_END("test_cli");
}

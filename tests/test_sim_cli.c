/* `nmtrain sim` as a user drives it (the binary named by $NMTRAIN): exit
 * codes, one-line errors naming the file or option at fault, and the files it
 * writes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *nmtrain;
static char err_text[4096];

/* Runs `nmtrain sim ARGS...` (NULL-terminated, none with blanks or quotes);
 * keeps stderr in err_text and returns the exit status. */
static int sim(const char *first, ...)
{
    char cmd[4096], errpath[] = "/tmp/nmt_sim_cli_errXXXXXX";
    int efd = mkstemp(errpath);
    size_t used = (size_t)snprintf(cmd, sizeof cmd, "%s sim", nmtrain);
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        used += (size_t)snprintf(cmd + used, sizeof cmd - used, " '%s'", a);
    va_end(ap);
    snprintf(cmd + used, sizeof cmd - used, " > /dev/null 2> %s", errpath);
    int status = system(cmd);
    ssize_t n = read(efd, err_text, sizeof err_text - 1);
    err_text[n > 0 ? n : 0] = 0;
    close(efd);
    unlink(errpath);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

int main(void)
{
    nmtrain = getenv("NMTRAIN") ? getenv("NMTRAIN") : "build/nmtrain";
    char dir[] = "/tmp/nmt_sim_cliXXXXXX";
    if (!mkdtemp(dir)) return 1;
    char csv[256], json[256], cr[256], sweep[256], cfg[256], bad[256];
    snprintf(csv, sizeof csv, "%s/run.csv", dir);
    snprintf(json, sizeof json, "%s/run.json", dir);
    snprintf(cr, sizeof cr, "%s/COMPUTE_REPORT.csv", dir);
    snprintf(sweep, sizeof sweep, "%s/sweep.csv", dir);
    snprintf(cfg, sizeof cfg, "%s/written.cfg", dir);
    snprintf(bad, sizeof bad, "%s/bad.cfg", dir);

    CHECK(sim("--model", "resnet9", "--batch", "16", "--csv", csv, "--json", json, "--compute-report", cr,
              "--schedule", NULL) == 0,
          "model run: %s", err_text);
    CHECK(file_size(csv) > 1000 && file_size(json) > 1000 && file_size(cr) > 100, "reports written");
    FILE *f;
    CHECK(sim("--model", "vit", "--batch", "8", "--detail", NULL) == 0, "vit: %s", err_text);
    CHECK(sim("--topology", "configs/sat/alexnet.csv", "--config", "configs/sat/scalesim_32x32_os.cfg", "--quiet",
              NULL) == 0,
          "SCALE-Sim files run unchanged: %s", err_text);
    CHECK(sim("--topology", "configs/sat/bert_block_nm.csv", "--inference", "--method", "dense", "--quiet", NULL) == 0,
          "GEMM topology: %s", err_text);
    /* --scalesim: SCALE-Sim's COMPUTE_REPORT, layer for layer. AlexNet's
     * Conv1 (227 x 227, 11 x 11, stride 4: 55 x 55 = 3025 pixels, window
     * 363, 96 filters) on 32 x 32, OS: ceil(3025/32) 95 x ceil(96/32) 3 =
     * 285 folds of T + R + C - 2 = 363 + 62 = 425 cycles: 121125 - 1 */
    CHECK(sim("--topology", "configs/sat/alexnet.csv", "--config", "configs/sat/scalesim_32x32_os.cfg", "--inference",
              "--method", "dense", "--scalesim", "--quiet", "--compute-report", cr, NULL) == 0,
          "--scalesim: %s", err_text);
    f = fopen(cr, "r");
    char row[2][256] = {"", ""};
    if (f) {
        for (int i = 0; i < 2 && fgets(row[i], sizeof row[i], f); i++) {}
        fclose(f);
    }
    CHECK(!strncmp(row[1], "0, 121124, 0, ", 14), "Conv1 under SCALE-Sim's accounting: %s", row[1]);
    CHECK(sim("--model", "resnet9", "--scalesim", "--quiet", NULL) == 1 && strstr(err_text, "fixed dataflow"),
          "--scalesim without a dataflow: %s", err_text);
    CHECK(sim("--model", "resnet9", "--batch", "8", "--scalesim", "--set", "dataflow=ws", "--quiet", NULL) == 0,
          "--scalesim on a training iteration: %s", err_text);
    CHECK(sim("--model", "resnet9", "--batch", "8", "--ablation", NULL) == 0, "ablation: %s", err_text);
    CHECK(sim("--model", "resnet9", "--batch", "8", "--sweep", "rows=16,32", "--sweep", "nm_m=4,8", "--sweep-csv",
              sweep, NULL) == 0,
          "sweep: %s", err_text);
    int lines = 0;
    f = fopen(sweep, "r");
    char line[1024];
    if (f) {
        while (fgets(line, sizeof line, f)) lines++;
        fclose(f);
    }
    CHECK(lines == 5, "sweep rows %d", lines);
    CHECK(sim("--write-config", cfg, NULL) == 0 && sim("--config", cfg, "--model", "resnet9", "--batch", "4",
                                                           "--quiet", NULL) == 0,
          "written config reads back: %s", err_text);
    CHECK(sim("--check", NULL) == 0, "functional check: %s", err_text);
    CHECK(sim("--model", "resnet18", "--in", "3x32x32", "--classes", "10", "--width", "0.5", "--batch", "4",
              "--method", "tnm", "--nm", "2:4", "--quiet", NULL) == 0,
          "engine architecture with custom shape: %s", err_text);

    /* errors: usage problems exit 2, bad input exits 1 with one line naming the culprit */
    CHECK(sim("--bogus", NULL) == 2 && strstr(err_text, "unknown option '--bogus'"), "unknown option");
    CHECK(sim("--model", NULL) == 2 && strstr(err_text, "--model needs a value"), "missing value");
    CHECK(sim(NULL) == 2 && strstr(err_text, "exactly one of --model or --topology"), "no workload");
    CHECK(sim("--model", "resnet9", "--batch", "0", NULL) == 2 && strstr(err_text, "--batch: '0'"), "batch");
    CHECK(sim("--model", "resnet9", "--method", "magic", NULL) == 2 && strstr(err_text, "--method: unknown training method 'magic'"),
          "method");
    CHECK(sim("--model", "resnet9", "--nm", "5:4", NULL) == 2 && strstr(err_text, "--nm"), "nm: %s", err_text);
    CHECK(sim("--model", "nosuchnet", NULL) == 1 && strstr(err_text, "unknown model 'nosuchnet'"), "model: %s",
          err_text);
    CHECK(sim("--model", "resnet9", "--nm", "2:32", NULL) == 1 && strstr(err_text, "max_m = 16"), "M too large: %s",
          err_text);
    CHECK(sim("--topology", "/nonexistent/t.csv", NULL) == 1 && strstr(err_text, "/nonexistent/t.csv"),
          "missing topology");
    f = fopen(bad, "w");
    fputs("[architecture_presets]\nArrayHeight: 32\nArrayWidth: wide\n", f);
    fclose(f);
    CHECK(sim("--config", bad, "--model", "resnet9", NULL) == 1 && strstr(err_text, bad) &&
              strstr(err_text, ":3: cols = 'wide' is not an integer"),
          "bad config: %s", err_text);
    CHECK(sim("--set", "rows", "--model", "resnet9", NULL) == 1 && strstr(err_text, "not key=value"), "--set: %s",
          err_text);
    CHECK(sim("--set", "colour=blue", "--model", "resnet9", NULL) == 1 &&
              strstr(err_text, "unknown configuration key 'colour'"),
          "--set key");
    CHECK(sim("--model", "resnet9", "--sweep", "rows=a:b", NULL) == 1 && strstr(err_text, "--sweep: 'rows=a:b': bad range"), "sweep: %s",
          err_text);
    CHECK(sim("--model", "resnet9", "--csv", "/nonexistent/dir/x.csv", "--quiet", NULL) == 1 &&
              strstr(err_text, "/nonexistent/dir/x.csv"),
          "unwritable csv");
    /* error output is one line */
    CHECK(sim("--model", "nosuchnet", NULL) == 1 && strchr(err_text, '\n') == err_text + strlen(err_text) - 1,
          "one line: %s", err_text);

    remove(csv), remove(json), remove(cr), remove(sweep), remove(cfg), remove(bad);
    rmdir(dir);
    TEST_END("test_sim_cli");
}

/* CSV output of the benchmark programs (--csv FILE), for scripts and
 * scripts/plot_bench.py. Rows go to FILE.tmp, renamed to FILE once the run
 * is complete, so a reader never sees half a table and an interrupted run
 * leaves the previous file as it was. */
#ifndef NMT_BENCH_CSV_H
#define NMT_BENCH_CSV_H

#include <stdarg.h>
#include <stdio.h>

typedef struct bench_csv {
    FILE *file; /* NULL: no --csv */
    char path[1024], temp[1040];
} bench_csv;

/* Opens FILE.tmp and writes the header line; on failure prints one line
 * naming the file and returns -1. */
static inline int bench_csv_open(bench_csv *csv, const char *program, const char *path, const char *header)
{
    if (snprintf(csv->path, sizeof csv->path, "%s", path) >= (int)sizeof csv->path) {
        fprintf(stderr, "%s: --csv %s: path too long\n", program, path);
        return -1;
    }
    snprintf(csv->temp, sizeof csv->temp, "%s.tmp", path);
    csv->file = fopen(csv->temp, "w");
    if (!csv->file) {
        fprintf(stderr, "%s: --csv %s: cannot write %s: ", program, path, csv->temp);
        perror(NULL);
        return -1;
    }
    fprintf(csv->file, "%s\n", header);
    return 0;
}

/* One row (without the newline); nothing without --csv. */
static inline __attribute__((format(printf, 2, 3))) void bench_csv_row(bench_csv *csv, const char *format, ...)
{
    if (!csv->file) return;
    va_list args;
    va_start(args, format);
    vfprintf(csv->file, format, args);
    va_end(args);
    fputc('\n', csv->file);
}

/* A failed run: FILE.tmp goes, FILE stays as it was. */
static inline void bench_csv_discard(bench_csv *csv)
{
    if (!csv->file) return;
    fclose(csv->file);
    csv->file = NULL;
    remove(csv->temp);
}

/* Flushes, closes and renames FILE.tmp to FILE; 0 without --csv. */
static inline int bench_csv_close(bench_csv *csv, const char *program)
{
    if (!csv->file) return 0;
    const int failed = ferror(csv->file) | fclose(csv->file);
    csv->file = NULL;
    if (failed || rename(csv->temp, csv->path) != 0) {
        fprintf(stderr, "%s: --csv %s: writing failed: ", program, csv->path);
        perror(NULL);
        remove(csv->temp);
        return -1;
    }
    return 0;
}

#endif

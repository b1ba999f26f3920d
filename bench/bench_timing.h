/* Timing shared by the benchmark programs: the median of `reps` timed runs
 * of a statement after one untimed warm-up, and the CPU's model name that
 * every table states. */
#ifndef NMT_BENCH_TIMING_H
#define NMT_BENCH_TIMING_H

#include <stdio.h>
#include <string.h>

#include "nmtrain.h"

/* The "model name" line of /proc/cpuinfo, or "unknown". */
static inline void bench_cpu_model(char *model, size_t size)
{
    snprintf(model, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            const char *colon = strchr(line, ':');
            if (colon) snprintf(model, size, "%s", colon + 2);
            model[strcspn(model, "\n")] = 0;
            break;
        }
    fclose(f);
}

static inline double median(double *t, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* reps <= 64 */
#define TIME_MEDIAN(reps, out, stmt)                       \
    do {                                                   \
        double samples_[64];                               \
        stmt;                                              \
        for (int rep_ = 0; rep_ < (reps); rep_++) {        \
            double t0_ = nmt_now();                        \
            stmt;                                          \
            samples_[rep_] = nmt_now() - t0_;              \
        }                                                  \
        (out) = median(samples_, (reps));                  \
    } while (0)

#endif

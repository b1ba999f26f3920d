/* Timing shared by the benchmark programs: the median of `reps` timed runs
 * of a statement after one untimed warm-up. */
#ifndef NMT_BENCH_TIMING_H
#define NMT_BENCH_TIMING_H

#include "nmtrain.h"

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

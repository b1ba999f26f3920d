/* Minimal test harness shared by every tests/test_*.c program.
 * CHECK records a failure and continues; each program ends with TEST_END,
 * which prints "<name>: P passed, F failed" and sets the exit status.
 * CHECK_CLOSE reports the max error the llm.c way. */
#ifndef NMT_TEST_HARNESS_H
#define NMT_TEST_HARNESS_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int harness_passed, harness_failed;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (cond) {                                                         \
            harness_passed++;                                               \
        } else {                                                            \
            harness_failed++;                                               \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

/* Max abs error between two float arrays, relative to max(1, |expected|). */
static inline double harness_max_error(const float *got, const float *want, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double scale = fabs((double)want[i]) > 1.0 ? fabs((double)want[i]) : 1.0;
        double err = fabs((double)got[i] - (double)want[i]) / scale;
        if (!(err <= worst)) worst = err; /* NaN propagates as failure */
    }
    return worst;
}

#define CHECK_CLOSE(label, got, want, n, tol)                                        \
    do {                                                                             \
        double err_ = harness_max_error((got), (want), (n));                         \
        printf("  %-40s max err %.3e (tol %.0e)\n", (label), err_, (double)(tol));   \
        CHECK(err_ <= (tol), "%s: max error %.3e > %.1e", (label), err_, (double)(tol)); \
    } while (0)

#define TEST_END(name)                                                               \
    do {                                                                             \
        printf("%s: %d passed, %d failed\n", (name), harness_passed, harness_failed); \
        return harness_failed ? 1 : 0;                                               \
    } while (0)

#endif

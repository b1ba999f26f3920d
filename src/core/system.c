/* Clocks, thread counts and memory figures. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/resource.h>
#include <time.h>

#include "nmtrain/core.h"

void openblas_set_num_threads(int threads);
char *openblas_get_corename(void);

void nmt_tune_runtime(char **argv, const char *blas_core)
{
    if (getenv("NMTRAIN_TUNED")) return;
    setenv("NMTRAIN_TUNED", "1", 1);
    int restart = 0;
    __builtin_cpu_init();
    if (!getenv("OPENBLAS_CORETYPE")) {
        if (blas_core) {
            setenv("OPENBLAS_CORETYPE", blas_core, 1);
            restart = 1;
        } else if (!strcasecmp(openblas_get_corename(), "prescott") && __builtin_cpu_supports("avx2") &&
                   __builtin_cpu_supports("fma")) {
            setenv("OPENBLAS_CORETYPE", __builtin_cpu_supports("avx512f") ? "SkylakeX" : "Haswell", 1);
            restart = 1;
        }
    }
    if (nmt_set_thread_pool_env()) restart = 1;
    if (restart) execv("/proc/self/exe", argv);
}

int nmt_set_thread_pool_env(void)
{
    int set = 0;
    if (!getenv("OPENBLAS_THREAD_TIMEOUT")) setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1), set = 1;
    if (!getenv("OMP_WAIT_POLICY")) setenv("OMP_WAIT_POLICY", "passive", 1), set = 1;
    if (!getenv("GOMP_SPINCOUNT")) setenv("GOMP_SPINCOUNT", "10000", 1), set = 1;
    return set;
}

double nmt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void nmt_set_threads(int threads)
{
    if (threads <= 0) return;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}

int nmt_threads(void)
{
    return omp_get_max_threads();
}

size_t nmt_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}

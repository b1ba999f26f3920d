/* Clocks, thread counts and memory figures. */
#include <omp.h>
#include <sys/resource.h>
#include <time.h>

#include "nmtrain/core.h"

void openblas_set_num_threads(int threads);

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

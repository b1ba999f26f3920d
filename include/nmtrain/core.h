/* nmtrain/core.h: errors, memory arenas, random numbers, timing. */
#ifndef NMTRAIN_CORE_H
#define NMTRAIN_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The release; the Makefile reads it for nmtrain.pc and the shared library's soname. */
#define NMT_VERSION "0.1.0"

/* ---- errors ---------------------------------------------------------------
 * A failing function records one line (no trailing newline) and returns -1.
 * The message is per thread and stays until the next nmt_error call. */
void nmt_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *nmt_errmsg(void);

/* ---- arenas ---------------------------------------------------------------
 * All activations, gradients and scratch of a run are carved from arenas
 * allocated once, so no allocation happens inside a training step.
 * An arena created with capacity 0 is a "measuring" arena: allocations return
 * NULL but advance `used`, which sizes the real arena in a first pass. */
typedef struct nmt_arena {
    unsigned char *base;
    size_t capacity;
    size_t used;
    size_t peak;
} nmt_arena;

int nmt_arena_init(nmt_arena *arena, size_t capacity);
/* 64-byte aligned, zero-filled. Returns NULL and records an error when full. */
void *nmt_arena_alloc(nmt_arena *arena, size_t bytes);
#define NMT_ARENA_FLOATS(arena, n) ((float *)nmt_arena_alloc((arena), (size_t)(n) * sizeof(float)))
void nmt_arena_free(nmt_arena *arena);

/* ---- random numbers -------------------------------------------------------
 * PCG32: small, fast and reproducible across platforms. */
typedef struct nmt_rng {
    uint64_t state;
    uint64_t inc;
} nmt_rng;

void nmt_rng_seed(nmt_rng *rng, uint64_t seed, uint64_t stream);
uint32_t nmt_rng_u32(nmt_rng *rng);
uint32_t nmt_rng_below(nmt_rng *rng, uint32_t bound); /* uniform in [0, bound) */
float nmt_rng_uniform(nmt_rng *rng);                  /* uniform in [0, 1) */
float nmt_rng_normal(nmt_rng *rng);                   /* standard normal */

/* Counter-based draws: a pure function of (key, counter), so any thread
 * may draw any element and a resumed run draws the same numbers. The key
 * comes from (seed, step, layer); each stage and the draw are SplitMix64's
 * finaliser of its input xor (the previous stage) plus the golden-ratio
 * constant (tests/ref/mvue.py computes the same). */
uint64_t nmt_rng_counter_key(uint64_t seed, uint64_t step, uint64_t layer);
static inline uint64_t nmt_rng_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
/* Uniform in [0, 1) with 24 bits, exact in a float. */
static inline float nmt_rng_counter_uniform(uint64_t key, uint64_t counter)
{
    return (float)(nmt_rng_mix64(key ^ (counter + 0x9E3779B97F4A7C15ULL)) >> 40) * (1.0f / 16777216.0f);
}

/* ---- time and threads ----------------------------------------------------- */
double nmt_now(void); /* monotonic seconds */
/* Sets the thread count of OpenMP and OpenBLAS together (0 keeps the default). */
void nmt_set_threads(int threads);
int nmt_threads(void);
/* Sets what OpenBLAS and libgomp read only when loaded, then restarts the
 * program once (execv of /proc/self/exe with the same argv):
 *  - OPENBLAS_CORETYPE = blas_core, or when NULL and OpenBLAS 0.3.21 fell
 *    back to its SSE3 "Prescott" kernels on a CPU it does not know, the
 *    best of SkylakeX / Haswell this CPU runs;
 *  - the thread pools' settings of nmt_set_thread_pool_env.
 * Variables the user set are left alone. Call first thing in main(). */
void nmt_tune_runtime(char **argv, const char *blas_core);
/* Sets, where unset, what the thread pools read when loaded, and returns 1
 * if it set any (they take effect in a re-run of the program):
 *  - OPENBLAS_THREAD_TIMEOUT=4 and OMP_WAIT_POLICY=passive: both thread
 *    pools otherwise spin after each call on the core the other one needs;
 *  - GOMP_SPINCOUNT=10000 (about 0.1 ms): OpenMP threads still spin that
 *    long before they sleep, across the gaps between the many short
 *    parallel regions of a step (a ViT step ran 14% faster, ResNet9's 4%,
 *    than with no spinning at all). */
int nmt_set_thread_pool_env(void);
/* Peak resident set size of this process, in bytes. */
size_t nmt_peak_rss(void);

#ifdef __cplusplus
}
#endif
#endif

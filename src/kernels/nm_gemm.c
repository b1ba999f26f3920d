/* N:M sparse GEMM driver: C = A_packed B + beta C.
 *
 * Blocking (measured in docs/history/performance-2026-11.md): the columns of B and C are cut into
 * panels of NMT_NM_PANEL_COLS; the reduction into blocks of whole N:M groups
 * whose panel chunk (block rows x 96 floats) is about the size of L1d. Every
 * row of A then streams its kept values past the chunk; a row reads only N/M
 * of the chunk's rows, so a chunk as large as L1 (not half of it, the dense
 * GEMM habit) measured best: it halves the per-row cost of reloading the C
 * tile. The ISA-specific code is only the block kernel; this file owns the
 * loop order, threading and path choice. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nm_gemm_internal.h"

/* Cache sizes from the C library, with Zen 3's as the fallback. */
static long cache_bytes(int name, long fallback)
{
    long bytes = sysconf(name);
    return bytes > 0 ? bytes : fallback;
}

/* Most rows of B in one reduction block (96 KiB): bounds the copy of a
 * row-major B's chunk, which lives on the stack. A block is at most
 * max(l1_block_rows, M <= 32) rows. */
#define MAX_BLOCK_ROWS 256

/* Rows of B per reduction block: L1d / (panel row bytes), a multiple of 16,
 * at least 32, at most MAX_BLOCK_ROWS. Zen 3 (32 KiB): 80; Sapphire Rapids (48 KiB): 128. */
static int l1_block_rows(void)
{
    static _Atomic int cached; /* callers may run on several threads at once */
    if (!cached) {
        int rows = (int)(cache_bytes(_SC_LEVEL1_DCACHE_SIZE, 32 * 1024) /
                         (NMT_NM_PANEL_COLS * (long)sizeof(float))) / 16 * 16;
        cached = rows < 32 ? 32 : rows > MAX_BLOCK_ROWS ? MAX_BLOCK_ROWS : rows;
    }
    return cached;
}

/* Whole N:M groups per reduction block. A row reads N/M of a block's B rows,
 * so sparse ratios want the whole L1; denser than 1:4, three quarters of it
 * leaves room for the C tile and the kept values (2:4 on this VM: 96 rows
 * 3% faster than 128, 2:8 and 1:8 slower). */
int nm_block_groups(nmt_nm nm)
{
    int rows = 4 * nm.n > nm.m ? l1_block_rows() * 3 / 4 / 16 * 16 : l1_block_rows();
    return nm.m >= rows ? 1 : rows / nm.m;
}

/* Most rows of C one work item covers: its C slice (rows x panel) stays in
 * an eighth of L2 across all reduction blocks, instead of being reloaded
 * from L3 for every block. Measured on the backward shapes (thousands of
 * rows, k <= 512): up to 1.9x faster at 1:8. Zen 3 (512 KiB): 170 rows. */
static int chunk_rows(void)
{
    static _Atomic int cached;
    if (!cached) {
        int rows = (int)(cache_bytes(_SC_LEVEL2_CACHE_SIZE, 512 * 1024) / 8 /
                         (NMT_NM_PANEL_COLS * (long)sizeof(float)));
        cached = rows < 64 ? 64 : rows;
    }
    return cached;
}

/* Bytes of C above which a GEMM that writes C once streams it past the
 * caches: three quarters of this core's share of the last-level cache, the
 * threshold glibc's memset and memcpy use for non-temporal stores. A C that
 * large leaves the caches before its reader comes, so a plain store's read
 * for ownership only adds memory traffic; a smaller one is better left in L3
 * for the reader (SDGP's transposed dcol, read back by its scatter at once,
 * ran 1-4% slower streamed at 33 MB). Zen 3 VM with 2 cores of a 32 MiB L3:
 * 12 MiB; this VM (a 260 MiB L3 shown to 2 cores): 97 MiB. */
size_t nm_stream_bytes(void)
{
    static _Atomic size_t cached;
    if (!cached) {
        const long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cached = (size_t)cache_bytes(_SC_LEVEL3_CACHE_SIZE, 32L << 20) / (size_t)(cores > 0 ? cores : 1) / 4 * 3;
    }
    return cached;
}

int nm_gemm_streams_c(const nmt_packed *a, int ncols, float beta, const float *c, int ldc)
{
    return beta == 0.0f && a->k <= l1_block_rows() && (uintptr_t)c % 64 == 0 && ldc % 16 == 0 &&
           (size_t)a->rows * ncols * sizeof(float) > nm_stream_bytes();
}

/* ---- portable path --------------------------------------------------------
 * The same tile as the AVX2 kernel, in plain C: one row of C by one panel,
 * accumulated in a local array in kept-value order, so both paths add the
 * same products in the same order (they differ only by FMA rounding). */
void nm_block_portable(const nm_block *blk)
{
    const nmt_packed *a = blk->a;
    const int n = a->nm.n, total_groups = a->k / a->nm.m, width = blk->width;
    const ptrdiff_t group_step = (ptrdiff_t)a->nm.m * blk->ldb;
    for (int r = blk->row_begin; r < blk->row_end; r++) {
        size_t first = ((size_t)r * total_groups + blk->first_group) * n;
        const float *values = a->values + first;
        const uint8_t *index = a->index + first;
        float *c = blk->c + (ptrdiff_t)(r - blk->row_begin) * blk->ldc, acc[NMT_NM_PANEL_COLS];
        for (int j = 0; j < width; j++) acc[j] = blk->read_c ? blk->c_scale * c[j] : 0.0f;
        const float *b = blk->b;
        for (int g = 0; g < blk->groups; g++, b += group_step, values += n, index += n) {
            for (int s = 0; s < n; s++) {
                const float weight = values[s], *row = b + index[s] * blk->ldb;
                for (int j = 0; j < width; j++) acc[j] += weight * row[j];
            }
        }
        for (int j = 0; j < width; j++) c[j] = acc[j];
    }
}

/* ---- path selection -------------------------------------------------------
 * The widest path the CPU runs, unless NMTRAIN_NM_PATH or
 * nmt_gemm_nm_set_path asks for another. */
static const char *const path_names[] = {"auto", "portable", "avx2-fma", "avx512"};
static _Atomic int chosen_path = -1; /* -1: not decided yet */

int nmt_gemm_nm_path_supported(nmt_nm_path path)
{
    __builtin_cpu_init();
    switch (path) {
    case NMT_NM_PATH_AUTO:
    case NMT_NM_PATH_PORTABLE: return 1;
    case NMT_NM_PATH_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case NMT_NM_PATH_AVX512:
        return __builtin_cpu_supports("avx512f") && nmt_gemm_nm_path_supported(NMT_NM_PATH_AVX2);
    }
    return 0;
}

static nmt_nm_path widest_path(void)
{
    if (nmt_gemm_nm_path_supported(NMT_NM_PATH_AVX512)) return NMT_NM_PATH_AVX512;
    if (nmt_gemm_nm_path_supported(NMT_NM_PATH_AVX2)) return NMT_NM_PATH_AVX2;
    return NMT_NM_PATH_PORTABLE;
}

int nmt_gemm_nm_set_path(nmt_nm_path path)
{
    if (path == NMT_NM_PATH_AUTO) {
        path = widest_path();
        const char *asked = getenv("NMTRAIN_NM_PATH");
        int found = 0;
        for (int p = NMT_NM_PATH_PORTABLE; asked && *asked && p <= NMT_NM_PATH_AVX512; p++)
            if (!strcmp(asked, path_names[p]) && nmt_gemm_nm_path_supported((nmt_nm_path)p)) path = (nmt_nm_path)p, found = 1;
        if (asked && *asked && !found)
            fprintf(stderr, "nmtrain: NMTRAIN_NM_PATH=%s is not a path this CPU runs (portable, avx2-fma, avx512); "
                            "using %s\n", asked, path_names[path]);
    }
    if ((int)path < NMT_NM_PATH_AUTO || (int)path > NMT_NM_PATH_AVX512 || !nmt_gemm_nm_path_supported(path))
        return -1;
    chosen_path = (int)path;
    return 0;
}

static nmt_nm_path current_path(void)
{
    if (chosen_path < 0) nmt_gemm_nm_set_path(NMT_NM_PATH_AUTO);
    return (nmt_nm_path)chosen_path;
}

const char *nmt_gemm_nm_path(void)
{
    return path_names[current_path()];
}

nm_block_kernel nm_choose_kernel(void)
{
    switch (current_path()) {
    case NMT_NM_PATH_AVX512: return nm_block_avx512;
    case NMT_NM_PATH_AVX2: return nm_block_avx2;
    default: return nm_block_portable;
    }
}

/* ---- driver ---------------------------------------------------------------
 * Panel p of B starts at b + p*panel_stride with rows ldb apart: panel_stride
 * is NMT_NM_PANEL_COLS for a row-major B (whose block chunks each item
 * copies into panel layout before the kernel reads them) and
 * k*NMT_NM_PANEL_COLS for the panel layout. Work items are (panel, row chunk) pairs, each running its
 * rows through every reduction block; rows are chunked to keep the C slice
 * in L2 and, when there are few panels (small batch x spatial products), to
 * keep every thread busy. */
static void nm_gemm_run(const nmt_packed *a, const float *b, ptrdiff_t ldb, ptrdiff_t panel_stride,
                        int ncols, float beta, float *c, int ldc)
{
    const int rows = a->rows, total_groups = a->k / a->nm.m;
    if (rows <= 0 || ncols <= 0) return;
    if (total_groups == 0) {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < ncols; j++)
                c[(size_t)r * ldc + j] = beta != 0.0f ? beta * c[(size_t)r * ldc + j] : 0.0f;
        return;
    }
    const nm_block_kernel kernel = nm_choose_kernel();
    const int panels = (ncols + NMT_NM_PANEL_COLS - 1) / NMT_NM_PANEL_COLS;
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    /* At least 8 items per thread, handed out dynamically: the cores are
     * shared (other processes, OpenBLAS threads winding down), and a static
     * split waits for the slowest core. */
    int row_chunks = (rows + chunk_rows() - 1) / chunk_rows();
    if (panels * row_chunks < 8 * threads) {
        row_chunks = (8 * threads + panels - 1) / panels;
        int most = (rows + 15) / 16; /* keep chunks at least 16 rows */
        if (row_chunks > most) row_chunks = most;
    }
    const int items = panels * row_chunks;
    /* A streamed C is written in one pass: its reduction is one block, as
     * large as L1 if need be (2:4 with k = 128: 1.1x faster than two
     * blocks of 96 and 32 rows, written twice and not streamed). */
    const int stream_c = nm_gemm_streams_c(a, ncols, beta, c, ldc);
    const int block_groups = stream_c ? total_groups : nm_block_groups(a->nm);
    const int row_major = panel_stride == NMT_NM_PANEL_COLS;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads < items ? threads : items)
    for (int item = 0; item < items; item++) {
        /* A row-major B's chunk is copied into panel layout first, as a dense
         * GEMM packs B: its rows are ldb apart, which in L1 means set
         * conflicts and a page per row. */
        float chunk_copy[MAX_BLOCK_ROWS * NMT_NM_PANEL_COLS] __attribute__((aligned(64)));
        const int panel = item / row_chunks, chunk = item % row_chunks;
        const int col0 = panel * NMT_NM_PANEL_COLS;
        const int row_begin = (int)((long)rows * chunk / row_chunks);
        nm_block blk = {
            .a = a,
            .row_begin = row_begin,
            .row_end = (int)((long)rows * (chunk + 1) / row_chunks),
            .ldb = row_major ? NMT_NM_PANEL_COLS : ldb,
            .next_ldb = ldb,
            .c = c + (ptrdiff_t)row_begin * ldc + col0,
            .ldc = ldc,
            .width = ncols - col0 < NMT_NM_PANEL_COLS ? ncols - col0 : NMT_NM_PANEL_COLS,
            .stream_c = stream_c,
        };
        for (int g0 = 0; g0 < total_groups; g0 += block_groups) {
            blk.first_group = g0;
            blk.groups = total_groups - g0 < block_groups ? total_groups - g0 : block_groups;
            const float *chunk_b = b + panel * panel_stride + (ptrdiff_t)g0 * a->nm.m * ldb;
            if (row_major) {
                for (int r = 0; r < blk.groups * a->nm.m; r++)
                    memcpy(chunk_copy + r * NMT_NM_PANEL_COLS, chunk_b + r * ldb, sizeof(float) * blk.width);
                blk.b = chunk_copy;
            } else {
                blk.b = chunk_b;
            }
            blk.read_c = g0 > 0 || beta != 0.0f;
            blk.c_scale = g0 > 0 ? 1.0f : beta;
            const int next_g0 = g0 + block_groups;
            if (next_g0 < total_groups) {
                blk.next_b = chunk_b + (ptrdiff_t)block_groups * a->nm.m * ldb;
                blk.next_rows = (total_groups - next_g0 < block_groups ? total_groups - next_g0 : block_groups) * a->nm.m;
            } else {
                /* Likely next: this panel's next row chunk, else the next panel. */
                const int next_panel = chunk + 1 < row_chunks ? panel : panel + 1;
                blk.next_b = next_panel < panels ? b + next_panel * panel_stride : NULL;
                blk.next_rows = block_groups * a->nm.m < a->k ? block_groups * a->nm.m : a->k;
            }
            kernel(&blk);
        }
    }
}

void nm_gemm_panel(const nmt_packed *a, int row_begin, int row_end, const float *panel, int width, float *c,
                   int ldc)
{
    const int total_groups = a->k / a->nm.m, step = chunk_rows();
    const nm_block_kernel kernel = nm_choose_kernel();
    const int block_groups = nm_block_groups(a->nm);
    for (int r0 = row_begin; r0 < row_end; r0 += step) {
        nm_block blk = {
            .a = a,
            .row_begin = r0,
            .row_end = row_end - r0 < step ? row_end : r0 + step,
            .ldb = NMT_NM_PANEL_COLS,
            .next_ldb = NMT_NM_PANEL_COLS,
            .c = c + (ptrdiff_t)(r0 - row_begin) * ldc,
            .ldc = ldc,
            .width = width,
        };
        for (int g0 = 0; g0 < total_groups; g0 += block_groups) {
            blk.first_group = g0;
            blk.groups = total_groups - g0 < block_groups ? total_groups - g0 : block_groups;
            blk.b = panel + (ptrdiff_t)g0 * a->nm.m * NMT_NM_PANEL_COLS;
            blk.read_c = g0 > 0;
            blk.c_scale = 1.0f;
            /* Next: this panel's next block, or its first for the next rows. */
            const int next_g0 = g0 + block_groups < total_groups ? g0 + block_groups : 0;
            blk.next_b = panel + (ptrdiff_t)next_g0 * a->nm.m * NMT_NM_PANEL_COLS;
            blk.next_rows = (total_groups - next_g0 < block_groups ? total_groups - next_g0 : block_groups) * a->nm.m;
            kernel(&blk);
        }
    }
}

void nmt_gemm_nm(const nmt_packed *a, const float *b, int ldb, int ncols, float beta, float *c,
                 int ldc)
{
    nm_gemm_run(a, b, ldb, NMT_NM_PANEL_COLS, ncols, beta, c, ldc);
}

void nmt_gemm_nm_panels(const nmt_packed *a, const float *panels, int ncols, float beta, float *c,
                        int ldc)
{
    nm_gemm_run(a, panels, NMT_NM_PANEL_COLS, (ptrdiff_t)a->k * NMT_NM_PANEL_COLS, ncols, beta, c,
                ldc);
}

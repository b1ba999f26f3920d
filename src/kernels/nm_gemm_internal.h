/* Shared between the N:M GEMM driver and its per-ISA block kernels.
 * Internal to src/kernels. */
#ifndef NMT_NM_GEMM_INTERNAL_H
#define NMT_NM_GEMM_INTERNAL_H

#include <stddef.h>

#include "nmtrain/kernels.h"

/* Not part of the library's interface: hidden from its users (Makefile). */
#pragma GCC visibility push(hidden)

/* One unit of work: rows [row_begin, row_end) of C restricted to one column
 * panel (width <= NMT_NM_PANEL_COLS), for the `groups` N:M groups starting at
 * group `first_group` of the reduction. `b` points at B's row
 * first_group*M of that panel, rows ldb floats apart; `c` at the C tile of
 * row row_begin, rows ldc floats apart. Each C entry becomes
 * c_scale*C + sum (read_c) or just the sum (!read_c, C is not read, so it may
 * hold garbage when beta == 0). */
typedef struct nm_block {
    const nmt_packed *a;
    int row_begin, row_end;
    int first_group, groups;
    const float *b;
    ptrdiff_t ldb;
    float *c;
    ptrdiff_t ldc;
    int width;
    int read_c;
    float c_scale;
    /* C is written once, not read (read_c == 0 and one block, at most
     * L1-sized, covers the whole reduction), too large to stay in cache for
     * whoever reads it next, and its panel rows are whole aligned cache
     * lines: kernels may
     * write it with non-temporal stores (then fence), skipping the read for
     * ownership that doubles the memory traffic of a plain store. */
    int stream_c;
    /* The B chunk the thread will most likely use next (next_rows rows,
     * next_ldb floats apart), or NULL: kernels may prefetch it while they
     * work. */
    const float *next_b;
    int next_rows;
    ptrdiff_t next_ldb;
} nm_block;

typedef void (*nm_block_kernel)(const nm_block *blk);

void nm_block_portable(const nm_block *blk);
void nm_block_avx2(const nm_block *blk);
void nm_block_avx512(const nm_block *blk);

/* Spreads the prefetch of a block's next B chunk (into L2) over the `steps`
 * steps of a kernel's row loop, whole panel rows at a time: the chunk is
 * read at random rows, which the hardware prefetchers do not follow, and its
 * first touches would otherwise wait for DRAM. */
typedef struct nm_chunk_prefetch {
    const float *row;
    int left, per_step;
    ptrdiff_t ldb;
} nm_chunk_prefetch;

static inline nm_chunk_prefetch nm_chunk_prefetch_start(const nm_block *blk, int steps)
{
    const int left = blk->next_b ? blk->next_rows : 0;
    return (nm_chunk_prefetch){blk->next_b, left, steps > 0 ? (left + steps - 1) / steps : left, blk->next_ldb};
}

static inline void nm_chunk_prefetch_step(nm_chunk_prefetch *p)
{
    for (int i = 0; i < p->per_step && p->left > 0; i++, p->left--, p->row += p->ldb)
        for (int line = 0; line < NMT_NM_PANEL_COLS; line += 16) __builtin_prefetch(p->row + line, 0, 2);
}

/* Whether nmt_gemm_nm / nmt_gemm_nm_panels write this C with streaming
 * stores (see nm_block.stream_c), and the size of C above which they may. */
int nm_gemm_streams_c(const nmt_packed *a, int ncols, float beta, const float *c, int ldc);
size_t nm_stream_bytes(void);

/* The block kernel of the current path, and the N:M groups of the
 * reduction per block (sized to L1d). */
nm_block_kernel nm_choose_kernel(void);
int nm_block_groups(nmt_nm nm);

/* C = rows [row_begin, row_end) of A times one panel of B in the panel
 * layout (a->k x NMT_NM_PANEL_COLS, contiguous), c pointing at row
 * row_begin's C, in the calling thread: rows in chunks whose C slice stays
 * in L2, as the parallel driver runs them. */
void nm_gemm_panel(const nmt_packed *a, int row_begin, int row_end, const float *panel, int width, float *c,
                   int ldc);

/* Lowers panel p of the output columns of images [n0, n1) of a convolution
 * (see nmt_im2col_panels) into out (k x NMT_NM_PANEL_COLS); returns the
 * panel's width. */
int nm_lower_panel(const nmt_conv_shape *s, const float *x, int n0, int n1, int p, float *out);

/* The weight gradient's lowering (im2row_panels.c): images [n0, n1) of x
 * made pixel-major (c floats per input pixel) into scratch; and rows
 * [row0, row1) of panel `panel` of col^T (rows = output pixels counted from
 * image n0) into dst (rows NMT_NM_PANEL_COLS floats apart, row0 at dst +
 * row0 * NMT_NM_PANEL_COLS), columns past K zeroed, from that scratch (a 1x1
 * stride-1 unpadded layer reads x itself and no scratch). */
void nm_pixel_major(const nmt_conv_shape *s, const float *x, int n0, int n1, float *scratch);
void nm_lower_rows_panel(const nmt_conv_shape *s, const float *x, const float *scratch, int n0, int row0, int row1,
                         int panel, float *dst);

/* Output pixels of one column panel of a convolution, as runs of
 * consecutive ox sharing (n, oy): shared by the lowering into panels and the
 * fused backward-data scatter. */
typedef struct nm_output_run {
    int first_column, length; /* within the panel */
    int n, oy, ox;            /* of the run's first column */
} nm_output_run;

/* Fills runs (room for NMT_NM_PANEL_COLS) for panel `panel` of the output
 * columns [first_column, end_column); returns how many, and the panel's
 * width through *width. Runs name their image n of the whole batch. */
static inline int nm_panel_runs(const nmt_conv_shape *s, int first_column, int end_column, int panel,
                                nm_output_run *runs, int *width)
{
    const int ncols = end_column - first_column, col0 = panel * NMT_NM_PANEL_COLS;
    int count = 0;
    *width = ncols - col0 < NMT_NM_PANEL_COLS ? ncols - col0 : NMT_NM_PANEL_COLS;
    for (int q = 0; q < *width;) {
        int column = first_column + col0 + q, ox = column % s->wo, rest = column / s->wo;
        int length = s->wo - ox < *width - q ? s->wo - ox : *width - q;
        runs[count++] = (nm_output_run){q, length, rest / s->ho, rest % s->ho, ox};
        q += length;
    }
    return count;
}

#pragma GCC visibility pop

#endif

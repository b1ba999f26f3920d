/* Shared between the N:M GEMM driver and its per-ISA block kernels.
 * Internal to src/kernels. */
#ifndef NMT_NM_GEMM_INTERNAL_H
#define NMT_NM_GEMM_INTERNAL_H

#include <stddef.h>

#include "nmtrain/kernels.h"

/* One unit of work: rows [row_begin, row_end) of C restricted to one column
 * panel (width <= NMT_NM_PANEL_COLS), for the `groups` N:M groups starting at
 * group `first_group` of the reduction. `b` points at B's row
 * first_group*M of that panel, rows ldb floats apart. Each C entry becomes
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
    /* The B chunk the thread will most likely use next (same layout as b,
     * next_rows rows), or NULL: kernels may prefetch it while they work. */
    const float *next_b;
    int next_rows;
} nm_block;

typedef void (*nm_block_kernel)(const nm_block *blk);

void nm_block_portable(const nm_block *blk);
void nm_block_avx2(const nm_block *blk);

#endif

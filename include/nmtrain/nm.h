/* nmtrain/nm.h: N:M ratios, masks and the packed sparse operand format.
 *
 * Everything here works on a matrix view `rows x k` whose N:M groups run along
 * k: group g of row r is elements k = g*M .. g*M+M-1. A view has a row stride
 * and a column stride, so the same code builds masks along input channels
 * (W as Cout x K, groups along K) and along output channels (W^T, groups
 * along Cout) without copying the weights. */
#ifndef NMTRAIN_NM_H
#define NMTRAIN_NM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NMT_NM_MAX_M 32

typedef struct nmt_nm {
    int n; /* kept per group */
    int m; /* group size */
} nmt_nm;

/* Parses "N:M" with 1 <= N < M <= 32 (or N == M, meaning dense, when
 * allow_dense is set). Errors start with `what` (e.g. the
 * file it came from) unless it is NULL. */
int nmt_nm_parse(const char *text, int allow_dense, const char *what, nmt_nm *out);

/* A strided view of a float matrix: element (r, c) is data[r*row_stride + c*col_stride]. */
typedef struct nmt_view {
    const float *data;
    int rows, k;
    ptrdiff_t row_stride, col_stride;
} nmt_view;

/* N:M magnitude mask along k: per group keep the N of largest |w|, ties to
 * the lower index (+0 and -0 tie; a NaN counts as the largest magnitude, so
 * exactly N are kept whatever the values). mask is rows x k, row-major,
 * 1 = kept. k % M must be 0. Parallel over rows (OpenMP). */
void nmt_nm_mask(nmt_view w, nmt_nm nm, uint8_t *mask);

/* Transposable mask for a weight stored as rows x k (rows = output channels):
 * within every M x M block (M rows x M consecutive columns of one row group)
 * each row and each column keeps at most N. Greedy: entries by |w| descending
 * (ties: lower row, then lower column first), kept when their row and column
 * both hold fewer than N. rows % M and k % M must be 0. */
void nmt_nm_mask_transposable(nmt_view w, nmt_nm nm, uint8_t *mask);

/* ---- packed operand --------------------------------------------------------
 * For each row, for each of the k/M groups, exactly N entries: the kept values
 * in ascending in-group position, and beside them that position (0..M-1).
 * A group with fewer than N kept entries (transposable masks) is padded with
 * zero values at its lowest unused positions, so positions stay distinct and
 * ascending. Packing happens once per mask refresh, never inside a GEMM. */
typedef struct nmt_packed {
    int rows;
    int k;          /* dense reduction length, a multiple of m */
    nmt_nm nm;
    float *values;  /* rows * (k/m) * n */
    uint8_t *index; /* rows * (k/m) * n */
} nmt_packed;

/* Number of values (and of index bytes) a packed rows x k operand holds. */
size_t nmt_packed_value_count(int rows, int k, nmt_nm nm);
/* Keeps the top-N of each group of `w` (same rule as nmt_nm_mask) and packs.
 * The caller provides out->values and out->index of nmt_packed_value_count
 * entries; this sets rows, k and nm. Parallel over rows (OpenMP). */
void nmt_pack_topn(nmt_view w, nmt_nm nm, nmt_packed *out);
/* Packs the entries of `w` where mask (rows x k, row-major) is 1. Groups with
 * fewer than N kept are padded with zero values at their lowest unused
 * positions. A group with more than N kept is an error (-1, nothing useful
 * packed for that group). */
int nmt_pack_masked(nmt_view w, const uint8_t *mask, nmt_nm nm, nmt_packed *out);
/* The same with a strided mask: entry (r, c) is mask[r*mask_row_stride +
 * c*mask_col_stride]. Packs W^T under a mask computed for W (tnm's backward
 * operand) without transposing the mask: pass strides (1, k_of_W). */
int nmt_pack_masked_strided(nmt_view w, const uint8_t *mask, ptrdiff_t mask_row_stride,
                            ptrdiff_t mask_col_stride, nmt_nm nm, nmt_packed *out);
/* Writes the dense rows x k matrix (zeros where not kept), row-major. */
void nmt_unpack(const nmt_packed *p, float *dense);

/* Unbiased N:M pruning of a gradient along rows (Chmiel et al., ICLR 2023,
 * the MVUE 1:2 rule): each pair of consecutive entries (a, b) of a row keeps
 * a with probability |a| / (|a| + |b|), set to sign(a) (|a| + |b|), or else b
 * the same way; (0, 0) stays 0. The draw of the pair at (r, 2i) is
 * nmt_rng_counter_uniform(key, r * cols + 2i): a keeps when u (|a| + |b|) <
 * |a|. 2:4 is two such pairs per group, so both ratios prune to the same
 * values. An odd last entry pairs with a zero and is kept as it is. E[out] = in.
 * out is rows x cols, dense, with the pruned entries 0. Parallel over rows. */
void nmt_mvue_prune(const float *in, int rows, int cols, uint64_t key, float *out);
/* Where a pruning's draws come from: the pair starting at (r, j) of the
 * matrix at hand draws counter r * row_length + first_column + j with `key`.
 * nmt_mvue_prune's are {key, cols, 0}. A data-parallel rank holding samples
 * [f, f + b) of a global batch of B samples (P positions each) draws {key,
 * B * P, f * P}: as one process pruning the whole batch would. */
typedef struct nmt_mvue_draws {
    uint64_t key;
    int64_t row_length, first_column;
} nmt_mvue_draws;
/* The same rule over columns [col0, col0 + count) of each row of `in`
 * (rows x cols), with `draws`, packed 1:2 along the columns into out (rows x
 * 2*ceil(count/2); values and index of rows * ceil(count/2) entries, owned
 * by the caller): the weight gradient's N:M operand. 2:4 keeps one of each
 * pair too, so it packs the same. col0 + draws.first_column must be even; an
 * odd count must end the row (its last entry is kept as it is, paired with a
 * zero column the packed k adds). */
void nmt_mvue_prune_packed(const float *in, int rows, int cols, int col0, int count, nmt_mvue_draws draws,
                           nmt_packed *out);

/* ---- PyTorch's 2:4 semi-structured layout ----------------------------------
 * The float16 form torch.sparse.SparseSemiStructuredTensorCUTLASS holds
 * (to_sparse_semi_structured of a float16 CUDA matrix): docs/export.md. */
/* 1 if a rows x k weight pruned N:M along k fits it: at most 2 kept in every
 * aligned group of 4 (M % 4 == 0 and N <= 2, or 1:2), rows a positive
 * multiple of 32 and k of 64 (PyTorch's float16 shape constraints). */
int nmt_semi_structured_fits(int rows, int k, nmt_nm nm);
/* Compresses a row-major rows x k matrix holding at most 2 non-zeros per
 * aligned group of 4 (judged on its float16 values): `values` receives
 * rows x k/2 float16 bit patterns (the packed tensor), `meta` rows x k/16
 * int16 in CUTLASS's reordered layout (the meta tensor), both exactly as
 * PyTorch's sparse_semi_structured_from_dense_cutlass makes them. */
void nmt_semi_structured_compress(const float *dense, int rows, int k, uint16_t *values, int16_t *meta);
/* IEEE binary16 bits of v, rounded to nearest even (overflow to infinity). */
uint16_t nmt_f32_to_f16(float v);

#ifdef __cplusplus
}
#endif
#endif

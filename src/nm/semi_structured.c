/* PyTorch's 2:4 semi-structured layout, as SparseSemiStructuredTensorCUTLASS
 * holds a float16 matrix (torch/sparse/_semi_structured_conversions.py,
 * sparse_semi_structured_from_dense_cutlass): per row, the two kept values of
 * every group of 4, and int16 metadata with the two in-group positions of 4
 * groups per element, reordered into CUTLASS's ColumnMajorInterleaved<2>
 * layout for tensor-core sparse GEMMs. docs/export.md describes it. */
#include <math.h>
#include <string.h>

#include "nmtrain/nm.h"

uint16_t nmt_f32_to_f16(float v)
{
    uint32_t x;
    memcpy(&x, &v, 4);
    const uint32_t sign = (x >> 16) & 0x8000u, bits = x & 0x7fffffffu;
    if (bits >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (bits > 0x7f800000u ? 0x200u : 0)); /* inf, NaN */
    if (bits < 0x38800000u) { /* below 2^-14: a half subnormal, in units of 2^-24 (exact in float) */
        float magnitude;
        memcpy(&magnitude, &bits, 4);
        return (uint16_t)(sign | (uint32_t)lrintf(magnitude * 16777216.0f));
    }
    /* Rebias the exponent and round the mantissa to 10 bits, to nearest even;
     * a carry moves into the exponent and past 65504 becomes infinity. */
    uint32_t half = ((bits >> 23) - 112) << 10 | (bits & 0x7fffffu) >> 13;
    const uint32_t rest = bits & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1))) half++;
    if (half > 0x7c00u) half = 0x7c00u;
    return (uint16_t)(sign | half);
}

int nmt_semi_structured_fits(int rows, int k, nmt_nm nm)
{
    const int two_of_four = (nm.m % 4 == 0 && nm.n <= 2) || (nm.m == 2 && nm.n == 1);
    return two_of_four && rows >= 32 && rows % 32 == 0 && k >= 64 && k % 64 == 0;
}

/* The two positions stored for a group of 4 with non-zero flags m0..m3: the
 * non-zeros, or for fewer than two the choices PyTorch's encoder makes
 * (its Boolean functions for idxs0 and idxs1). */
static void group_positions(int m0, int m1, int m3, int *first, int *second)
{
    const int both = m0 && m1, only1 = !m0 && m1, neither = !m0 && !m1;
    *first = only1 | neither << 1;
    *second = (both | neither | m3) | (only1 | !m1) << 1;
}

/* Where metadata element (r, c) of a rows-row matrix lands in CUTLASS's
 * layout: rows interleaved within groups of 32, 2x2 blocks swizzled, then
 * column-major with pairs of columns interleaved. */
static size_t meta_offset(int rows, int r, int c)
{
    int dst_r = r / 32 * 32 + (r % 8) * 4 + (r % 32) / 8, dst_c = c;
    if (dst_r % 2 == 0 && dst_c % 2 == 1) {
        dst_r++;
        dst_c--;
    } else if (dst_r % 2 == 1 && dst_c % 2 == 0) {
        dst_r--;
        dst_c++;
    }
    return (size_t)(dst_c / 2) * rows * 2 + (size_t)dst_r * 2 + (size_t)(dst_c % 2);
}

void nmt_semi_structured_compress(const float *dense, int rows, int k, uint16_t *values, int16_t *meta)
{
    const int meta_cols = k / 16;
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < meta_cols; c++) {
            uint32_t word = 0;
            for (int g = 0; g < 4; g++) {
                const int group = c * 4 + g;
                uint16_t h[4];
                for (int j = 0; j < 4; j++) h[j] = nmt_f32_to_f16(dense[(size_t)r * k + group * 4 + j]);
                int first, second;
                /* +0 and -0 are both zero; the flag is on the float16 value */
                group_positions((h[0] & 0x7fff) != 0, (h[1] & 0x7fff) != 0, (h[3] & 0x7fff) != 0, &first, &second);
                values[(size_t)r * (k / 2) + group * 2] = h[first];
                values[(size_t)r * (k / 2) + group * 2 + 1] = h[second];
                word |= (uint32_t)(first | second << 2) << (4 * g);
            }
            meta[meta_offset(rows, r, c)] = (int16_t)(uint16_t)word;
        }
    }
}

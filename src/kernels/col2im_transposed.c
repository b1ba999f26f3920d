/* col2im from the transposed lowering: dx += scatter(dcol_t), dcol_t
 * pixel-major ((n*ho*wo) x K, K ordered (kh, kw, ci)), as SDGP's
 * backward-data GEMM writes it.
 *
 * Pixel-major rows against channel-major dx make this a transpose: adding
 * straight from the rows writes a line in each of many dx planes at once,
 * and planes a multiple of 4 KiB apart evict each other from L1. So the work
 * goes in 8 x 8 tiles (8 output columns x 8 channels): the tile is read
 * from 8 rows, transposed, and added to 8 channel lines of dx. With AVX2
 * the transpose stays in registers; otherwise it goes through a small array.
 * Threads own blocks of channels, so the adds need no atomics and the order
 * of the additions into each dx element is fixed. */
#include <immintrin.h>

#include "lowering.h"
#include "nm_gemm_internal.h"

#define TILE 8
/* Channels per work item: their slice of a dcol_t row is one cache line. */
#define BLOCK_CHANNELS 16

typedef struct tile_job {
    const float *rows; /* the tile's first value: row of column ox0, channel c0 */
    size_t k;          /* floats between rows */
    float *dx;         /* dx of channel c0 at (n, iy, ix of column ox0) */
    size_t channel;    /* floats between channel planes of dx */
    int stride;        /* dx floats between consecutive columns */
    int first, last;   /* columns [first, last) of the tile land inside dx */
    int channels;      /* channels in the tile (<= TILE) */
} tile_job;

static void add_tile_portable(const tile_job *t)
{
    float tile[TILE][TILE];
    for (int q = t->first; q < t->last; q++)
        for (int c = 0; c < t->channels; c++) tile[c][q] = t->rows[(size_t)q * t->k + c];
    for (int c = 0; c < t->channels; c++) {
        float *line = t->dx + (size_t)c * t->channel;
        for (int q = t->first; q < t->last; q++) line[q * t->stride] += tile[c][q];
    }
}

/* A full 8 x 8 tile with unit stride: eight loads, the classic
 * unpack/shuffle/permute transpose, eight load-add-stores. */
__attribute__((target("avx2"))) static void add_tile_avx2(const tile_job *t)
{
    __m256 r[TILE], a[TILE], b[TILE];
    for (int q = 0; q < TILE; q++) r[q] = _mm256_loadu_ps(t->rows + (size_t)q * t->k);
    for (int q = 0; q < TILE; q += 2) {
        a[q] = _mm256_unpacklo_ps(r[q], r[q + 1]);
        a[q + 1] = _mm256_unpackhi_ps(r[q], r[q + 1]);
    }
    for (int q = 0; q < TILE; q += 4) {
        b[q] = _mm256_shuffle_ps(a[q], a[q + 2], 0x44);
        b[q + 1] = _mm256_shuffle_ps(a[q], a[q + 2], 0xee);
        b[q + 2] = _mm256_shuffle_ps(a[q + 1], a[q + 3], 0x44);
        b[q + 3] = _mm256_shuffle_ps(a[q + 1], a[q + 3], 0xee);
    }
    for (int c = 0; c < 4; c++) {
        /* b[c] holds channel c of columns 0-3 (low half) and channel c+4 of
         * columns 0-3 (high half); b[c + 4] the same for columns 4-7. */
        const __m256 low = _mm256_permute2f128_ps(b[c], b[c + 4], 0x20);
        const __m256 high = _mm256_permute2f128_ps(b[c], b[c + 4], 0x31);
        float *line_low = t->dx + (size_t)c * t->channel, *line_high = t->dx + (size_t)(c + 4) * t->channel;
        _mm256_storeu_ps(line_low, _mm256_add_ps(_mm256_loadu_ps(line_low), low));
        _mm256_storeu_ps(line_high, _mm256_add_ps(_mm256_loadu_ps(line_high), high));
    }
}

void nmt_col2im_transposed(const nmt_conv_shape *s, const float *dcol_t, float *dx)
{
    nmt_col2im_transposed_images(s, dcol_t, 0, s->n, dx);
}

void nmt_col2im_transposed_images(const nmt_conv_shape *s, const float *dcol_t, int n0, int n1, float *dx)
{
    const size_t plane = (size_t)s->h * s->w, channel = (size_t)s->n * plane;
    const size_t k = (size_t)s->kh * s->kw * s->c;
    const int blocks = (s->c + BLOCK_CHANNELS - 1) / BLOCK_CHANNELS;
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2");
#pragma omp parallel for schedule(dynamic, 1)
    for (int block = 0; block < blocks; block++) {
        const int c_begin = block * BLOCK_CHANNELS;
        const int c_end = s->c - c_begin < BLOCK_CHANNELS ? s->c : c_begin + BLOCK_CHANNELS;
        for (int n = n0; n < n1; n++) {
            for (int oy = 0; oy < s->ho; oy++) {
                const float *row0 = dcol_t + ((size_t)(n - n0) * s->ho + oy) * s->wo * k;
                for (int i = 0; i < s->kh; i++) {
                    const int iy = oy * s->stride - s->pad + i;
                    if (iy < 0 || iy >= s->h) continue;
                    for (int j = 0; j < s->kw; j++) {
                        for (int ox0 = 0; ox0 < s->wo; ox0 += TILE) {
                            const int columns = s->wo - ox0 < TILE ? s->wo - ox0 : TILE;
                            /* Column q lands on ix0 + q*stride. */
                            const int ix0 = ox0 * s->stride - s->pad + j;
                            int first, last;
                            tap_columns(s, j, ox0, columns, &first, &last);
                            if (first >= last) continue;
                            for (int c0 = c_begin; c0 < c_end; c0 += TILE) {
                                const tile_job t = {
                                    .rows = row0 + (size_t)ox0 * k + (size_t)(i * s->kw + j) * s->c + c0,
                                    .k = k,
                                    .dx = dx + (size_t)c0 * channel + n * plane + (size_t)iy * s->w + ix0,
                                    .channel = channel,
                                    .stride = s->stride,
                                    .first = first,
                                    .last = last,
                                    .channels = c_end - c0 < TILE ? c_end - c0 : TILE,
                                };
                                if (avx2 && s->stride == 1 && first == 0 && last == TILE && t.channels == TILE)
                                    add_tile_avx2(&t);
                                else
                                    add_tile_portable(&t);
                            }
                        }
                    }
                }
            }
        }
    }
}

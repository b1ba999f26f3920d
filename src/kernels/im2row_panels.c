/* The weight gradient's lowering for the N:M kernel: B = col^T, one row per
 * output pixel and K = (kh, kw, ci) columns, written straight into the N:M
 * GEMM's panel layout (nmt_im2row_panels_images in nmtrain/kernels.h).
 * CNHW keeps a pixel's channels n*h*w floats apart, so the input is first
 * transposed to pixel-major (NHWC) a chunk at a time; a lowered row is then
 * a run of c contiguous floats per kernel tap. */
#include <immintrin.h>
#include <string.h>

#include "lowering.h"

/* Pixels per transposed tile: a tile of up to 96 channels by 64 pixels is
 * 24 KiB of source and of destination, both in L1. */
#define TILE_PIXELS 64

static int is_pointwise(const nmt_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0;
}

/* dst[j*ld_dst + i] = src[i*ld_src + j] for rows x cols of src, in 4 x 4
 * SSE blocks (SSE is in the x86-64 baseline the build targets). */
static void transpose(const float *src, ptrdiff_t ld_src, int rows, int cols, float *dst, ptrdiff_t ld_dst)
{
    int i = 0;
    for (; i + 4 <= rows; i += 4) {
        const float *s = src + i * ld_src;
        int j = 0;
        for (; j + 4 <= cols; j += 4) {
            __m128 r0 = _mm_loadu_ps(s + j), r1 = _mm_loadu_ps(s + ld_src + j);
            __m128 r2 = _mm_loadu_ps(s + 2 * ld_src + j), r3 = _mm_loadu_ps(s + 3 * ld_src + j);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            float *d = dst + j * ld_dst + i;
            _mm_storeu_ps(d, r0);
            _mm_storeu_ps(d + ld_dst, r1);
            _mm_storeu_ps(d + 2 * ld_dst, r2);
            _mm_storeu_ps(d + 3 * ld_dst, r3);
        }
        for (; j < cols; j++)
            for (int t = 0; t < 4; t++) dst[j * ld_dst + i + t] = s[t * ld_src + j];
    }
    for (; i < rows; i++)
        for (int j = 0; j < cols; j++) dst[j * ld_dst + i] = src[i * ld_src + j];
}

/* Row `row` of the panel layout (k_rows rows per panel), columns [col,
 * col + len) from src, or zeros when src is NULL. */
static void put_run(float *panels, int k_rows, int row, int col, const float *src, int len)
{
    while (len > 0) {
        const int panel = col / NMT_NM_PANEL_COLS, at = col % NMT_NM_PANEL_COLS;
        const int part = NMT_NM_PANEL_COLS - at < len ? NMT_NM_PANEL_COLS - at : len;
        float *dst = panels + ((size_t)panel * k_rows + row) * NMT_NM_PANEL_COLS + at;
        if (src) memcpy(dst, src, sizeof(float) * part), src += part;
        else memset(dst, 0, sizeof(float) * part);
        col += part;
        len -= part;
    }
}

size_t nmt_im2row_panels_scratch_floats(const nmt_conv_shape *s, int images)
{
    return is_pointwise(s) ? 0 : (size_t)s->c * images * s->h * s->w;
}

void nmt_im2row_panels_images(const nmt_conv_shape *s, const float *x, int n0, int n1, float *scratch, int k_rows,
                              float *panels)
{
    const int k = s->kh * s->kw * s->c, area = s->h * s->w, out_area = s->ho * s->wo;
    const int rows = (n1 - n0) * out_area, panel_count = (k + NMT_NM_PANEL_COLS - 1) / NMT_NM_PANEL_COLS;
    const int pad_cols = panel_count * NMT_NM_PANEL_COLS - k;
    const ptrdiff_t channel_stride = (ptrdiff_t)s->n * area;
    if (is_pointwise(s)) {
        /* col is x itself: transpose it into the panels, a tile at a time. */
        const int tiles = (rows + TILE_PIXELS - 1) / TILE_PIXELS;
#pragma omp parallel for collapse(2) schedule(static)
        for (int panel = 0; panel < panel_count; panel++)
            for (int t = 0; t < tiles; t++) {
                const int c0 = panel * NMT_NM_PANEL_COLS, p0 = t * TILE_PIXELS;
                const int width = k - c0 < NMT_NM_PANEL_COLS ? k - c0 : NMT_NM_PANEL_COLS;
                const int count = rows - p0 < TILE_PIXELS ? rows - p0 : TILE_PIXELS;
                float *dst = panels + ((size_t)panel * k_rows + p0) * NMT_NM_PANEL_COLS;
                transpose(x + c0 * channel_stride + (ptrdiff_t)n0 * area + p0, channel_stride, width, count, dst,
                          NMT_NM_PANEL_COLS);
                if (width < NMT_NM_PANEL_COLS)
                    for (int p = 0; p < count; p++) memset(dst + (size_t)p * NMT_NM_PANEL_COLS + width, 0,
                                                           sizeof(float) * (NMT_NM_PANEL_COLS - width));
            }
    } else {
        /* The chunk's images pixel-major, then one lowered row per output
         * pixel: a run of c floats (or zeros, off the image) per tap. */
        const int tiles = (area + TILE_PIXELS - 1) / TILE_PIXELS;
#pragma omp parallel for collapse(2) schedule(static)
        for (int n = n0; n < n1; n++)
            for (int t = 0; t < tiles; t++) {
                const int p0 = t * TILE_PIXELS, count = area - p0 < TILE_PIXELS ? area - p0 : TILE_PIXELS;
                transpose(x + (ptrdiff_t)n * area + p0, channel_stride, s->c, count,
                          scratch + ((size_t)(n - n0) * area + p0) * s->c, s->c);
            }
#pragma omp parallel for schedule(static)
        for (int row = 0; row < rows; row++) {
            const int n = row / out_area, oy = row % out_area / s->wo, ox = row % s->wo;
            for (int i = 0; i < s->kh; i++) {
                const int iy = oy * s->stride - s->pad + i;
                for (int j = 0; j < s->kw; j++) {
                    const int ix = ox * s->stride - s->pad + j, col = (i * s->kw + j) * s->c;
                    const int inside = iy >= 0 && iy < s->h && ix >= 0 && ix < s->w;
                    put_run(panels, k_rows, row, col,
                            inside ? scratch + ((size_t)n * area + (size_t)iy * s->w + ix) * s->c : NULL, s->c);
                }
            }
            if (pad_cols) put_run(panels, k_rows, row, k, NULL, pad_cols);
        }
    }
    for (int row = rows; row < k_rows; row++) put_run(panels, k_rows, row, 0, NULL, k + pad_cols);
}

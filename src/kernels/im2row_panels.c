/* The weight gradient's lowering for the N:M kernel: B = col^T, one row per
 * output pixel and K = (kh, kw, ci) columns, written straight into the N:M
 * GEMM's panel layout (nmt_im2row_panels_images in nmtrain/kernels.h).
 * CNHW keeps a pixel's channels n*h*w floats apart, so the input is first
 * transposed to pixel-major (NHWC) a chunk at a time; a lowered row is then
 * a run of c contiguous floats per kernel tap. */
#include <immintrin.h>
#include <string.h>

#include "nm_gemm_internal.h"

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

/* Columns [col0, col0 + width) of the lowered row of output pixel (n, oy,
 * ox) into dst, from the pixel-major input of images n0.. (scratch). */
static void lower_row(const nmt_conv_shape *s, const float *scratch, int n, int oy, int ox, int col0, int width,
                      float *dst)
{
    const int first_tap = col0 / s->c, end = col0 + width;
    for (int tap = first_tap, col = tap * s->c; col < end; tap++, col += s->c) {
        const int i = tap / s->kw, j = tap % s->kw, iy = oy * s->stride - s->pad + i, ix = ox * s->stride - s->pad + j;
        const int from = col > col0 ? col : col0, to = col + s->c < end ? col + s->c : end;
        float *out = dst + (from - col0);
        if (iy >= 0 && iy < s->h && ix >= 0 && ix < s->w)
            memcpy(out, scratch + ((size_t)(n * s->h + iy) * s->w + ix) * s->c + (from - col), sizeof(float) * (to - from));
        else
            memset(out, 0, sizeof(float) * (to - from));
    }
}

size_t nmt_im2row_panels_scratch_floats(const nmt_conv_shape *s, int images)
{
    return is_pointwise(s) ? 0 : (size_t)s->c * images * s->h * s->w;
}

void nm_pixel_major(const nmt_conv_shape *s, const float *x, int n0, int n1, float *scratch)
{
    const int area = s->h * s->w, tiles = (area + TILE_PIXELS - 1) / TILE_PIXELS;
    const ptrdiff_t channel_stride = (ptrdiff_t)s->n * area;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = n0; n < n1; n++)
        for (int t = 0; t < tiles; t++) {
            const int p0 = t * TILE_PIXELS, count = area - p0 < TILE_PIXELS ? area - p0 : TILE_PIXELS;
            transpose(x + (ptrdiff_t)n * area + p0, channel_stride, s->c, count,
                      scratch + ((size_t)(n - n0) * area + p0) * s->c, s->c);
        }
}

void nm_lower_rows_panel(const nmt_conv_shape *s, const float *x, const float *scratch, int n0, int row0, int row1,
                         int panel, float *dst)
{
    const int k = s->kh * s->kw * s->c, out_area = s->ho * s->wo, col0 = panel * NMT_NM_PANEL_COLS;
    const int width = k - col0 < NMT_NM_PANEL_COLS ? k - col0 : NMT_NM_PANEL_COLS;
    if (is_pointwise(s)) { /* col is x itself: transpose its block */
        const ptrdiff_t channel_stride = (ptrdiff_t)s->n * out_area;
        for (int r = row0; r < row1; r += TILE_PIXELS) {
            const int count = row1 - r < TILE_PIXELS ? row1 - r : TILE_PIXELS;
            transpose(x + col0 * channel_stride + (ptrdiff_t)n0 * out_area + r, channel_stride, width, count,
                      dst + (size_t)r * NMT_NM_PANEL_COLS, NMT_NM_PANEL_COLS);
        }
    } else {
        for (int r = row0; r < row1; r++)
            lower_row(s, scratch, r / out_area, r % out_area / s->wo, r % s->wo, col0, width,
                      dst + (size_t)r * NMT_NM_PANEL_COLS);
    }
    if (width < NMT_NM_PANEL_COLS)
        for (int r = row0; r < row1; r++)
            memset(dst + (size_t)r * NMT_NM_PANEL_COLS + width, 0, sizeof(float) * (NMT_NM_PANEL_COLS - width));
}

void nmt_im2row_panels_images(const nmt_conv_shape *s, const float *x, int n0, int n1, float *scratch, int k_rows,
                              float *panels)
{
    const int k = s->kh * s->kw * s->c, rows = (n1 - n0) * s->ho * s->wo;
    const int panel_count = (k + NMT_NM_PANEL_COLS - 1) / NMT_NM_PANEL_COLS, tiles = (rows + TILE_PIXELS - 1) / TILE_PIXELS;
    if (!is_pointwise(s)) nm_pixel_major(s, x, n0, n1, scratch);
#pragma omp parallel for collapse(2) schedule(static)
    for (int panel = 0; panel < panel_count; panel++)
        for (int t = 0; t < tiles; t++) {
            const int row0 = t * TILE_PIXELS, row1 = row0 + TILE_PIXELS < rows ? row0 + TILE_PIXELS : rows;
            nm_lower_rows_panel(s, x, scratch, n0, row0, row1, panel, panels + (size_t)panel * k_rows * NMT_NM_PANEL_COLS);
        }
    for (int panel = 0; panel < panel_count; panel++)
        memset(panels + ((size_t)panel * k_rows + rows) * NMT_NM_PANEL_COLS, 0,
               sizeof(float) * (size_t)(k_rows - rows) * NMT_NM_PANEL_COLS);
}

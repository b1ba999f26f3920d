/* Winograd F(2x2, 3x3) convolution (Lavin and Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2016) for 3x3, stride 1, pad 1 layers.
 *
 * A 2x2 output tile is A^T [(G g G^T) . (B^T d B)] A for the 4x4 input patch
 * d around it: 16 products per input channel where a lowered GEMM spends 36,
 * so the three GEMMs of a training step shrink 2.25x. Over a batch the
 * products at each of the 16 tile positions form one GEMM (channels x
 * tiles), which OpenBLAS runs. The backward passes are the transposes of the
 * same linear maps:
 *   dX patch  = B [(G g G^T) . (A dY A^T)] B^T   (added over overlapping patches)
 *   dg        = G^T [sum over tiles (A dY A^T) . (B^T d B)] G
 * so dY is transformed once for both. With
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * every transform is additions and halvings, so the results stay within a
 * few fp32 roundings of the direct convolution.
 *
 * Rows are handled even/odd split (E[k] = padded column 2k, O[k] = 2k+1):
 * the 4 columns of tile tx are then E[tx], O[tx], E[tx+1], O[tx+1], and
 * each transform is a few contiguous vector operations along a tile row. */
#include "nmtrain/kernels.h"

#include <stdlib.h>
#include <string.h>

#define TILE_POSITIONS 16
/* Widest plane (in tiles) a transform holds on the stack: planes up to
 * 512 pixels wide. */
#define MAX_TILES_X 256

/* The channels must fill the 16 GEMMs: with 3 input channels (an RGB stem)
 * each would be a rank-3 update, slower than the one lowered GEMM. */
int nmt_winograd_applies(const nmt_conv_shape *s, int c_out)
{
    return s->kh == 3 && s->kw == 3 && s->stride == 1 && s->pad == 1 && s->ho == s->h && s->wo == s->w &&
           s->w <= 2 * MAX_TILES_X && s->c >= 16 && c_out >= 16;
}

static int winograd_enabled = -1; /* -1: not yet read from the environment */

int nmt_conv_winograd(void)
{
    if (winograd_enabled < 0) {
        const char *asked = getenv("NMTRAIN_WINOGRAD");
        winograd_enabled = !(asked && !strcmp(asked, "0"));
    }
    return winograd_enabled;
}

void nmt_conv_set_winograd(int enabled)
{
    winograd_enabled = enabled != 0;
}

static int tiles_x(const nmt_conv_shape *s) { return (s->w + 1) / 2; }
static int tiles_y(const nmt_conv_shape *s) { return (s->h + 1) / 2; }

size_t nmt_winograd_tiles(const nmt_conv_shape *s, int images)
{
    return (size_t)images * tiles_x(s) * tiles_y(s);
}

/* Where plane p (channel p / images, image n0 + p % images) of a chunk
 * lies: its first pixel in the CNHW tensor, its first tile in a block of
 * a transform holding `tiles` tiles a channel. */
static void plane_offsets(const nmt_conv_shape *s, int n0, int images, int p, size_t tiles, size_t *pixel,
                          size_t *tile)
{
    const int c = p / images, n = n0 + p % images;
    *pixel = ((size_t)c * s->n + n) * s->h * s->w;
    *tile = (size_t)c * tiles + (size_t)(n - n0) * tiles_y(s) * tiles_x(s);
}

/* Padded row p[j] = row[j - 1] (0 outside [0, w)), split even/odd for
 * j = 0 .. 2*tw+1: even[k] = row[2k-1], odd[k] = row[2k]. row NULL: a
 * padding row. The loop in the middle has no bounds to test. */
static void split_padded_row(const float *row, int w, int tw, float *even, float *odd)
{
    if (!row) {
        memset(even, 0, sizeof(float) * (size_t)(tw + 1));
        memset(odd, 0, sizeof(float) * (size_t)(tw + 1));
        return;
    }
    const int inner = (w - 1) / 2; /* k in [1, inner]: both 2k-1 and 2k inside */
    even[0] = 0.0f;
    odd[0] = row[0];
    for (int k = 1; k <= inner; k++) {
        even[k] = row[2 * k - 1];
        odd[k] = row[2 * k];
    }
    for (int k = inner + 1; k <= tw; k++) {
        even[k] = 2 * k - 1 < w ? row[2 * k - 1] : 0.0f;
        odd[k] = 2 * k < w ? row[2 * k] : 0.0f;
    }
}

void nmt_winograd_weights(int c_out, int c_in, const float *w, float *u)
{
    const size_t k = (size_t)9 * c_in, stride = (size_t)c_out * c_in;
    /* Along input channels, contiguous in W (taps c_in apart) and in each
     * block of U: every step below is one vector operation over ci. */
#pragma omp parallel for schedule(static)
    for (int o = 0; o < c_out; o++) {
        const float *g = w + o * k;
        float *dst = u + (size_t)o * c_in;
        for (int i = 0; i < 4; i++) { /* row i of G g: kernel rows combined */
            const float *r0 = g, *r1 = g + 3 * (size_t)c_in, *r2 = g + 6 * (size_t)c_in;
            float *u0 = dst + (size_t)(4 * i) * stride, *u1 = u0 + stride, *u2 = u1 + stride, *u3 = u2 + stride;
            for (int ci = 0; ci < c_in; ci++) {
                float gg[3]; /* (G g)[i][j] for kernel column j */
                for (int j = 0; j < 3; j++) {
                    const float a = r0[j * c_in + ci], b = r1[j * c_in + ci], c = r2[j * c_in + ci];
                    gg[j] = i == 0 ? a : i == 1 ? 0.5f * (a + b + c) : i == 2 ? 0.5f * (a - b + c) : c;
                }
                u0[ci] = gg[0]; /* (G g) G^T: kernel columns combined */
                u1[ci] = 0.5f * (gg[0] + gg[1] + gg[2]);
                u2[ci] = 0.5f * (gg[0] - gg[1] + gg[2]);
                u3[ci] = gg[2];
            }
        }
    }
}

void nmt_winograd_input(const nmt_conv_shape *s, const float *x, int n0, int n1, float *v)
{
    const int tw = tiles_x(s), th = tiles_y(s), images = n1 - n0;
    const size_t tiles = nmt_winograd_tiles(s, images), stride = (size_t)s->c * tiles;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < s->c * images; p++) {
        size_t pixel, tile;
        plane_offsets(s, n0, images, p, tiles, &pixel, &tile);
        const float *in = x + pixel;
        float *dst = v + tile;
        float e[4][MAX_TILES_X + 1], o[4][MAX_TILES_X + 1], te[4][MAX_TILES_X + 1], to[4][MAX_TILES_X + 1];
        for (int ty = 0; ty < th; ty++, dst += tw) {
            for (int i = 0; i < 4; i++) {
                const int y = 2 * ty - 1 + i;
                split_padded_row(y >= 0 && y < s->h ? in + (size_t)y * s->w : NULL, s->w, tw, e[i], o[i]);
            }
            for (int k = 0; k <= tw; k++) { /* B^T d: over patch rows */
                te[0][k] = e[0][k] - e[2][k], to[0][k] = o[0][k] - o[2][k];
                te[1][k] = e[1][k] + e[2][k], to[1][k] = o[1][k] + o[2][k];
                te[2][k] = e[2][k] - e[1][k], to[2][k] = o[2][k] - o[1][k];
                te[3][k] = e[1][k] - e[3][k], to[3][k] = o[1][k] - o[3][k];
            }
            for (int i = 0; i < 4; i++) { /* (B^T d) B: over patch columns */
                float *v0 = dst + (4 * i) * stride, *v1 = v0 + stride, *v2 = v1 + stride, *v3 = v2 + stride;
                const float *ei = te[i], *oi = to[i];
                for (int tx = 0; tx < tw; tx++) {
                    v0[tx] = ei[tx] - ei[tx + 1];
                    v1[tx] = oi[tx] + ei[tx + 1];
                    v2[tx] = ei[tx + 1] - oi[tx];
                    v3[tx] = oi[tx] - oi[tx + 1];
                }
            }
        }
    }
}

/* Writes the even and odd columns of an output row into row[0, w). */
static void merge_row(const float *even, const float *odd, int w, float *row)
{
    for (int x = 0; x + 1 < w; x += 2) {
        row[x] = even[x / 2];
        row[x + 1] = odd[x / 2];
    }
    if (w % 2) row[w - 1] = even[w / 2];
}

void nmt_winograd_output(const nmt_conv_shape *s, int c_out, const float *m, int n0, int n1, float *y)
{
    const int tw = tiles_x(s), th = tiles_y(s), images = n1 - n0;
    const size_t tiles = nmt_winograd_tiles(s, images), stride = (size_t)c_out * tiles;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < c_out * images; p++) {
        size_t pixel, tile;
        plane_offsets(s, n0, images, p, tiles, &pixel, &tile);
        const float *src = m + tile;
        float *out = y + pixel;
        float a[2][4][MAX_TILES_X], ye[MAX_TILES_X], yo[MAX_TILES_X];
        for (int ty = 0; ty < th; ty++, src += tw) {
            for (int j = 0; j < 4; j++) { /* A^T m: over tile rows */
                const float *m0 = src + j * stride, *m1 = m0 + 4 * stride, *m2 = m1 + 4 * stride,
                            *m3 = m2 + 4 * stride;
                for (int tx = 0; tx < tw; tx++) {
                    a[0][j][tx] = m0[tx] + m1[tx] + m2[tx];
                    a[1][j][tx] = m1[tx] - m2[tx] - m3[tx];
                }
            }
            for (int r = 0; r < 2 && 2 * ty + r < s->h; r++) { /* (A^T m) A: over tile columns */
                for (int tx = 0; tx < tw; tx++) {
                    ye[tx] = a[r][0][tx] + a[r][1][tx] + a[r][2][tx];
                    yo[tx] = a[r][1][tx] - a[r][2][tx] - a[r][3][tx];
                }
                merge_row(ye, yo, s->w, out + (size_t)(2 * ty + r) * s->w);
            }
        }
    }
}

void nmt_winograd_grad_output(const nmt_conv_shape *s, int c_out, const float *dy, int n0, int n1, float *ud)
{
    const int tw = tiles_x(s), th = tiles_y(s), images = n1 - n0;
    const size_t tiles = nmt_winograd_tiles(s, images), stride = (size_t)c_out * tiles;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < c_out * images; p++) {
        size_t pixel, tile;
        plane_offsets(s, n0, images, p, tiles, &pixel, &tile);
        const float *in = dy + pixel;
        float *dst = ud + tile;
        float q[2][4][MAX_TILES_X];
        for (int ty = 0; ty < th; ty++, dst += tw) {
            for (int r = 0; r < 2; r++) { /* dY A^T: each tile row (y0, y1) -> (y0, y0+y1, y0-y1, -y1) */
                const int yy = 2 * ty + r;
                if (yy >= s->h) {
                    memset(q[r], 0, sizeof q[r]);
                    continue;
                }
                const float *row = in + (size_t)yy * s->w;
                const int pairs = s->w / 2;
                for (int tx = 0; tx < pairs; tx++) {
                    const float y0 = row[2 * tx], y1 = row[2 * tx + 1];
                    q[r][0][tx] = y0;
                    q[r][1][tx] = y0 + y1;
                    q[r][2][tx] = y0 - y1;
                    q[r][3][tx] = -y1;
                }
                if (s->w % 2) /* the last tile's second column is outside */
                    q[r][0][pairs] = q[r][1][pairs] = q[r][2][pairs] = row[s->w - 1], q[r][3][pairs] = 0.0f;
            }
            for (int j = 0; j < 4; j++) { /* A (dY A^T): over tile rows, the same map */
                float *v0 = dst + j * stride, *v1 = v0 + 4 * stride, *v2 = v1 + 4 * stride, *v3 = v2 + 4 * stride;
                const float *r0 = q[0][j], *r1 = q[1][j];
                for (int tx = 0; tx < tw; tx++) {
                    v0[tx] = r0[tx];
                    v1[tx] = r0[tx] + r1[tx];
                    v2[tx] = r0[tx] - r1[tx];
                    v3[tx] = -r1[tx];
                }
            }
        }
    }
}

void nmt_winograd_grad_input(const nmt_conv_shape *s, const float *d, int n0, int n1, float *dx, int accumulate)
{
    const int tw = tiles_x(s), th = tiles_y(s), images = n1 - n0;
    const size_t tiles = nmt_winograd_tiles(s, images), stride = (size_t)s->c * tiles;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < s->c * images; p++) {
        size_t pixel, tile;
        plane_offsets(s, n0, images, p, tiles, &pixel, &tile);
        const float *src = d + tile;
        float *out = dx + pixel;
        /* Padded rows 2ty .. 2ty+3 under construction, even/odd split; rows
         * 0 and 1 carry the previous tile row's overlap. */
        float e[4][MAX_TILES_X + 1], o[4][MAX_TILES_X + 1], b[4][4][MAX_TILES_X];
        memset(e, 0, sizeof e);
        memset(o, 0, sizeof o);
        for (int ty = 0; ty <= th; ty++, src += tw) {
            if (ty < th) {
                for (int j = 0; j < 4; j++) { /* B D: over tile rows, (x0, x1-x2+x3, -x0+x1+x2, -x3) */
                    const float *d0 = src + j * stride, *d1 = d0 + 4 * stride, *d2 = d1 + 4 * stride,
                                *d3 = d2 + 4 * stride;
                    for (int tx = 0; tx < tw; tx++) {
                        b[0][j][tx] = d0[tx];
                        b[1][j][tx] = d1[tx] - d2[tx] + d3[tx];
                        b[2][j][tx] = d1[tx] + d2[tx] - d0[tx];
                        b[3][j][tx] = -d3[tx];
                    }
                }
                for (int i = 0; i < 4; i++) { /* (B D) B^T: over tile columns, added into the patch */
                    const float *b0 = b[i][0], *b1 = b[i][1], *b2 = b[i][2], *b3 = b[i][3];
                    for (int tx = 0; tx < tw; tx++) {
                        e[i][tx] += b0[tx];
                        o[i][tx] += b1[tx] - b2[tx] + b3[tx];
                    }
                    for (int tx = 0; tx < tw; tx++) {
                        e[i][tx + 1] += b1[tx] + b2[tx] - b0[tx];
                        o[i][tx + 1] -= b3[tx];
                    }
                }
            }
            /* Padded rows 2ty and 2ty+1 are complete: input rows 2ty-1, 2ty.
             * Input column x is padded column x+1: o[x/2] for even x,
             * e[(x+1)/2] for odd. */
            for (int r = 0; r < 2; r++) {
                const int yy = 2 * ty - 1 + r;
                if (yy < 0 || yy >= s->h) continue;
                float *row = out + (size_t)yy * s->w;
                const int pairs = s->w / 2;
                if (accumulate) {
                    for (int j = 0; j < pairs; j++) {
                        row[2 * j] += o[r][j];
                        row[2 * j + 1] += e[r][j + 1];
                    }
                    if (s->w % 2) row[s->w - 1] += o[r][pairs];
                } else {
                    for (int j = 0; j < pairs; j++) {
                        row[2 * j] = o[r][j];
                        row[2 * j + 1] = e[r][j + 1];
                    }
                    if (s->w % 2) row[s->w - 1] = o[r][pairs];
                }
            }
            memcpy(e[0], e[2], sizeof e[0] * 2);
            memcpy(o[0], o[2], sizeof o[0] * 2);
            memset(e[2], 0, sizeof e[0] * 2);
            memset(o[2], 0, sizeof o[0] * 2);
        }
    }
}

void nmt_winograd_grad_weights(int c_out, int c_in, const float *m, float *dw)
{
    const size_t k = (size_t)9 * c_in, stride = (size_t)c_out * c_in;
#pragma omp parallel for schedule(static)
    for (int o = 0; o < c_out; o++) {
        for (int ci = 0; ci < c_in; ci++) {
            const float *src = m + (size_t)o * c_in + ci;
            float mm[4][4], h[3][4];
            for (int t = 0; t < TILE_POSITIONS; t++) mm[t / 4][t % 4] = src[t * stride];
            for (int j = 0; j < 4; j++) { /* G^T M: over tile rows */
                h[0][j] = mm[0][j] + 0.5f * (mm[1][j] + mm[2][j]);
                h[1][j] = 0.5f * (mm[1][j] - mm[2][j]);
                h[2][j] = 0.5f * (mm[1][j] + mm[2][j]) + mm[3][j];
            }
            float *dst = dw + o * k + ci;
            for (int i = 0; i < 3; i++) { /* (G^T M) G: over tile columns */
                dst[(size_t)(3 * i + 0) * c_in] = h[i][0] + 0.5f * (h[i][1] + h[i][2]);
                dst[(size_t)(3 * i + 1) * c_in] = 0.5f * (h[i][1] - h[i][2]);
                dst[(size_t)(3 * i + 2) * c_in] = 0.5f * (h[i][1] + h[i][2]) + h[i][3];
            }
        }
    }
}

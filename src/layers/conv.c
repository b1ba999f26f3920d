/* Convolution and linear layers: lowering plus one GEMM per direction.
 *   FW: Y[c_out x cols]  = W[c_out x K] col[K x cols]
 *   BW: dcol[K x cols]   = W^T dY          (then col2im)
 *       or, with dY sparse (SDGP), dcol^T[cols x K] = dY^T W
 *   WG: dW[c_out x K]    = dY col^T        (always dense) */
#include <string.h>

#include "layers/layers.h"
#include "nmtrain/core.h"

/* Adds the seconds since *mark to *phase and restarts the mark; nothing
 * when not timing. */
static void lap(const conv_timing *timing, double *phase, double *mark)
{
    if (!timing) return;
    const double now = nmt_now();
    *phase += now - *mark;
    *mark = now;
}

int conv_is_pointwise(const nmt_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0;
}

/* C = op(A) B + beta C with A the method's operand. A packed operand reads B
 * in the N:M kernel's panel layout: `b_panels` when the caller already
 * lowered into it, otherwise B (row-major, rows x cols) is packed into
 * `panels` here. */
static void gemm_operand(nmt_operand a, int trans_dense, int rows, int k, const float *b, const float *b_panels,
                         float *panels, int cols, float beta, float *c)
{
    if (a.packed) {
        if (!b_panels) {
            nmt_nm_pack_panels(b, cols, k, cols, panels);
            b_panels = panels;
        }
        nmt_gemm_nm_panels(a.packed, b_panels, cols, beta, c, cols);
    } else if (trans_dense) {
        nmt_gemm(1, 0, rows, cols, k, 1.0f, a.dense, rows, b, cols, beta, c, cols);
    } else {
        nmt_gemm(0, 0, rows, cols, k, 1.0f, a.dense, k, b, cols, beta, c, cols);
    }
}

void conv_forward(const nmt_conv_shape *s, int c_out, nmt_operand w, const float *bias,
                  const float *x, float *col, float *panels, float *y, conv_timing *timing)
{
    const int k = s->kh * s->kw * s->c, cols = s->n * s->ho * s->wo;
    const int pointwise = conv_is_pointwise(s);
    double mark = timing ? nmt_now() : 0.0;
    if (w.packed && !pointwise) {
        nmt_im2col_panels(s, x, col); /* lowered straight into the sparse kernel's layout */
        lap(timing, timing ? &timing->lower_fw : NULL, &mark);
        gemm_operand(w, 0, c_out, k, NULL, col, NULL, cols, 0.0f, y);
    } else {
        if (!pointwise) nmt_im2col(s, x, col);
        lap(timing, timing ? &timing->lower_fw : NULL, &mark);
        gemm_operand(w, 0, c_out, k, pointwise ? x : col, NULL, panels, cols, 0.0f, y);
    }
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int o = 0; o < c_out; o++) {
            float *row = y + (size_t)o * cols;
            for (int j = 0; j < cols; j++) row[j] += bias[o];
        }
    }
    lap(timing, timing ? &timing->gemm_fw : NULL, &mark);
}

void conv_backward(const nmt_conv_shape *s, int c_out, nmt_operand w_t, const float *x, float *col, float *panels,
                   const float *dy, nmt_operand dy_bw, float *dw, float *dbias, float *dx, float *dcol,
                   conv_timing *timing)
{
    const int k = s->kh * s->kw * s->c, cols = s->n * s->ho * s->wo;
    const int pointwise = conv_is_pointwise(s);
    const float *lowered = x;
    double mark = timing ? nmt_now() : 0.0;
    if (!pointwise) {
        nmt_im2col(s, x, col); /* recomputed: the forward's col was reused by later layers */
        lowered = col;
    }
    lap(timing, timing ? &timing->lower_bw : NULL, &mark);
    nmt_gemm(0, 1, c_out, k, cols, 1.0f, dy, cols, lowered, cols, 0.0f, dw, k);
    if (dbias) {
#pragma omp parallel for schedule(static)
        for (int o = 0; o < c_out; o++) {
            const float *row = dy + (size_t)o * cols;
            float sum = 0.0f;
            for (int j = 0; j < cols; j++) sum += row[j];
            dbias[o] = sum;
        }
    }
    lap(timing, timing ? &timing->weight_grad : NULL, &mark);
    if (!dx) return;
    if (dy_bw.packed) {
        /* dY is the N:M operand, packed with the pixels as rows: the GEMM
         * runs transposed, with W (dense, c_out x K) in panels as B, and
         * its pixel-major result is scattered back. */
        nmt_nm_pack_panels(w_t.dense, k, c_out, k, panels);
        nmt_gemm_nm_panels(dy_bw.packed, panels, k, 0.0f, dcol, k);
        nmt_col2im_transposed(s, dcol, dx);
    } else if (pointwise) {
        gemm_operand(w_t, 1, k, c_out, dy_bw.dense, NULL, panels, cols, 1.0f, dx);
    } else if (w_t.packed) {
        /* N:M backward-data fused with col2im: no K x cols intermediate
         * and no full copy of dY in panels. dcol (free once WG is done) is
         * its small workspace. */
        nmt_gemm_nm_col2im(w_t.packed, dy_bw.dense, s, dcol, dx);
    } else {
        gemm_operand(w_t, 1, k, c_out, dy_bw.dense, NULL, panels, cols, 0.0f, dcol); /* dcol may be col */
        nmt_col2im(s, dcol, dx);
    }
    lap(timing, timing ? &timing->backward_data : NULL, &mark);
}

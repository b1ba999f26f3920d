/* Convolution and linear layers: lowering plus one GEMM per direction.
 *   FW: Y[c_out x cols]  = W[c_out x K] col[K x cols]
 *   BW: dcol[K x cols]   = W^T dY          (then col2im)
 *   WG: dW[c_out x K]    = dY col^T        (always dense) */
#include <string.h>

#include "layers/layers.h"

int conv_is_pointwise(const nmt_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0;
}

static void gemm_operand(nmt_operand a, int trans_dense, int rows, int k, const float *b, int cols,
                         float beta, float *c)
{
    if (a.packed)
        nmt_gemm_nm(a.packed, b, cols, cols, beta, c, cols);
    else if (trans_dense)
        nmt_gemm(1, 0, rows, cols, k, 1.0f, a.dense, rows, b, cols, beta, c, cols);
    else
        nmt_gemm(0, 0, rows, cols, k, 1.0f, a.dense, k, b, cols, beta, c, cols);
}

void conv_forward(const nmt_conv_shape *s, int c_out, nmt_operand w, const float *bias,
                  const float *x, float *col, float *y)
{
    const int k = s->kh * s->kw * s->c, cols = s->n * s->ho * s->wo;
    const float *lowered = x;
    if (!conv_is_pointwise(s)) {
        nmt_im2col(s, x, col);
        lowered = col;
    }
    gemm_operand(w, 0, c_out, k, lowered, cols, 0.0f, y);
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int o = 0; o < c_out; o++) {
            float *row = y + (size_t)o * cols;
            for (int j = 0; j < cols; j++) row[j] += bias[o];
        }
    }
}

void conv_backward(const nmt_conv_shape *s, int c_out, nmt_operand w_t, const float *x, float *col,
                   const float *dy, const float *dy_bw, float *dw, float *dbias, float *dx, float *dcol)
{
    const int k = s->kh * s->kw * s->c, cols = s->n * s->ho * s->wo;
    const int pointwise = conv_is_pointwise(s);
    const float *lowered = x;
    if (!pointwise) {
        nmt_im2col(s, x, col); /* recomputed: the forward's col was reused by later layers */
        lowered = col;
    }
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
    if (!dx) return;
    if (pointwise) {
        gemm_operand(w_t, 1, k, c_out, dy_bw, cols, 1.0f, dx);
        return;
    }
    gemm_operand(w_t, 1, k, c_out, dy_bw, cols, 0.0f, dcol);
    nmt_col2im(s, dcol, dx);
}

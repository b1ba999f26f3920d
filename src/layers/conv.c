/* Convolution and linear layers: lowering plus one GEMM per direction.
 *   FW: Y[c_out x cols]  = W[c_out x K] col[K x cols]
 *   BW: dcol[K x cols]   = W^T dY          (then col2im)
 *       or, with dY sparse (SDGP), dcol^T[cols x K] = dY^T W
 *   WG: dW[c_out x K]    = dY col^T
 *       or, under --grad-nm, with dY MVUE-pruned and packed 1:2 along
 *       (image, position) and col^T lowered pixel-major into panels: the
 *       N:M kernel, never Winograd (its transform would undo the pattern)
 * A 3x3 "same" convolution with dense operands runs them as Winograd
 * F(2x2, 3x3) instead (conv_uses_winograd): 16 GEMMs of a quarter of the
 * size each, 2.25x fewer multiplications. conv_plan_make picks the path of
 * each direction and sizes the workspace once; conv_forward and
 * conv_backward follow the plan. */
#include <string.h>

#include "layers/layers.h"
#include "nmtrain/core.h"

/* Adds the seconds since *mark to the phase and restarts the mark; nothing
 * when not timing. */
static void lap(conv_timing *timing, enum conv_phase phase, double *mark)
{
    if (!timing) return;
    const double now = nmt_now();
    timing->seconds[phase] += now - *mark;
    *mark = now;
}

int conv_is_pointwise(const nmt_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0;
}

/* y's rows (cols each) = bias, or += bias with accumulate. */
static void add_bias(int c_out, int cols, const float *bias, int accumulate, float *y)
{
#pragma omp parallel for schedule(static)
    for (int o = 0; o < c_out; o++) {
        float *row = y + (size_t)o * cols;
        if (accumulate)
            for (int j = 0; j < cols; j++) row[j] += bias[o];
        else
            for (int j = 0; j < cols; j++) row[j] = bias[o];
    }
}

/* C = op(A) B + beta C with A the method's operand and B row-major
 * (k x cols). */
static void gemm_operand(nmt_operand a, int trans_dense, int rows, int k, const float *b, int cols, float beta,
                         float *c)
{
    if (a.packed) {
        nmt_gemm_nm(a.packed, b, cols, cols, beta, c, cols);
    } else if (trans_dense) {
        nmt_gemm(1, 0, rows, cols, k, 1.0f, a.dense, rows, b, cols, beta, c, cols);
    } else {
        nmt_gemm(0, 0, rows, cols, k, 1.0f, a.dense, k, b, cols, beta, c, cols);
    }
}

/* Floats of lowered input per chunk of images: a whole batch's K x cols
 * matrix is the largest buffer of a network (302 MB for a 64-channel 3x3
 * layer at 32x32, batch 128); 32 MB keeps the GEMMs wide (14 such images
 * are 14336 columns). */
#define CONV_CHUNK_FLOATS ((size_t)8 << 20)

/* The most images a chunk of `per_image` floats each holds within
 * `budget`, at any batch up to n: equal chunks hold fewer (below). */
static int chunk_limit(size_t per_image, size_t budget, int n)
{
    const size_t most = per_image ? budget / per_image : (size_t)n;
    return most < 1 ? 1 : most < (size_t)n ? (int)most : n;
}

/* Equal chunks of at most `limit` images: 113 + 15 images would leave a
 * last GEMM too narrow to run at full speed (and dW's whole C re-read for
 * it). A batch of `limit` images is one chunk of `limit`, more than the
 * equal chunks of a larger batch hold: workspaces are sized by the limit. */
static int equal_chunks(int n, int limit)
{
    const int chunks = (n + limit - 1) / limit;
    return (n + chunks - 1) / chunks;
}

static size_t lowering_per_image(const nmt_conv_shape *s)
{
    return (size_t)s->kh * s->kw * s->c * s->ho * s->wo;
}

int conv_chunk_images(const nmt_conv_shape *s)
{
    return equal_chunks(s->n, chunk_limit(lowering_per_image(s), CONV_CHUNK_FLOATS, s->n));
}

int conv_uses_winograd(const nmt_conv_shape *s, int c_out)
{
    return nmt_conv_winograd() && nmt_winograd_applies(s, c_out);
}

/* Images transformed at a time, in equal chunks: the input and output
 * transforms of a chunk (16 (c + c_out) floats a tile) beside the two
 * transformed weight blocks within the lowering's budget; a quarter of the
 * budget at least, past it, where the weight blocks of wide layers would
 * leave room for too few tiles to keep the GEMMs efficient (512 channels:
 * the peak grows by 8 MB). */
static int winograd_chunk_limit(const nmt_conv_shape *s, int c_out)
{
    const size_t per_image = (size_t)16 * (s->c + c_out) * nmt_winograd_tiles(s, 1);
    const size_t weights = (size_t)32 * c_out * s->c;
    const size_t budget = weights + CONV_CHUNK_FLOATS / 4 < CONV_CHUNK_FLOATS ? CONV_CHUNK_FLOATS - weights
                                                                              : CONV_CHUNK_FLOATS / 4;
    return chunk_limit(per_image, budget, s->n);
}

static int winograd_chunk_images(const nmt_conv_shape *s, int c_out)
{
    return equal_chunks(s->n, winograd_chunk_limit(s, c_out));
}

/* Floats of workspace a Winograd direction needs: the transforms of a
 * chunk of images, the weight gradient's sums and, with dense_operand (a
 * dense FW or BW reads it), the weights' transform. */
static size_t conv_winograd_floats(const nmt_conv_shape *s, int c_out, int dense_operand)
{
    if (!conv_uses_winograd(s, c_out)) return 0;
    const size_t weights = (size_t)16 * c_out * s->c;
    return (size_t)16 * (s->c + c_out) * nmt_winograd_tiles(s, winograd_chunk_images(s, c_out)) +
           (dense_operand ? 2 : 1) * weights;
}

/* Loops over the batch's images in chunks of `step`: images [n0, n1). */
#define FOR_EACH_CHUNK(s, step, n0, n1)                                                           \
    for (int n0 = 0, n1 = (step) < (s)->n ? (step) : (s)->n; n0 < (s)->n;                        \
         n0 = n1, n1 = n1 + (step) < (s)->n ? n1 + (step) : (s)->n)

/* --grad-nm's weight gradient for a chunk of `images`: col^T in panels
 * (one row per output pixel, plus a zero row when the chunk's pixels are
 * odd), the pixel-major input the lowering needs, and dY's packed 1:2
 * values and indices; each part 64-byte aligned. */
typedef struct nm_wg_workspace {
    float *panels, *scratch;
    nmt_packed dy;
} nm_wg_workspace;

static size_t align16(size_t floats) { return (floats + 15) / 16 * 16; }

static size_t nm_wg_groups(const nmt_conv_shape *s, int images) { return ((size_t)images * s->ho * s->wo + 1) / 2; }

static size_t nm_wg_floats(const nmt_conv_shape *s, int c_out, int images)
{
    const size_t groups = nm_wg_groups(s, images), entries = (size_t)c_out * groups;
    const int k = s->kh * s->kw * s->c;
    return align16(nmt_nm_panels_floats((int)(2 * groups), k)) + align16(nmt_im2row_panels_scratch_floats(s, images)) +
           align16(entries) + align16((entries + 3) / 4);
}

static nm_wg_workspace nm_wg_carve(const nmt_conv_shape *s, int c_out, int images, float *workspace)
{
    const size_t groups = nm_wg_groups(s, images), entries = (size_t)c_out * groups;
    nm_wg_workspace w;
    w.panels = workspace;
    w.scratch = w.panels + align16(nmt_nm_panels_floats((int)(2 * groups), s->kh * s->kw * s->c));
    w.dy.values = w.scratch + align16(nmt_im2row_panels_scratch_floats(s, images));
    w.dy.index = (uint8_t *)(w.dy.values + align16(entries));
    return w;
}

/* Images per chunk: within the lowering's budget, and an even count when an
 * image has an odd number of pixels, so every chunk but the batch's last
 * starts and ends on a whole pair of dY's columns. */
static int nm_wg_chunk_limit(const nmt_conv_shape *s, int c_out)
{
    int limit = chunk_limit(nm_wg_floats(s, c_out, 1), CONV_CHUNK_FLOATS, s->n);
    if (s->ho * s->wo % 2 && limit < s->n) limit = limit > 1 ? limit & ~1 : 2;
    return limit < s->n ? limit : s->n;
}

static int nm_wg_chunk_images(const nmt_conv_shape *s, int c_out)
{
    const int limit = nm_wg_chunk_limit(s, c_out), step = equal_chunks(s->n, limit);
    return step < s->n && s->ho * s->wo % 2 ? step + (step & 1) : step;
}

/* Whether --grad-nm's weight gradient runs fused, a slice of images per
 * thread (nmt_gemm_nm_wg): when the batch has pixels for 4 slices or more
 * (on ResNet9 and ResNet50 shapes at batch 64, 2 threads, the fused form
 * was 1.1-1.2x the chunked one; bench_gemm --wg). Fewer slices would leave
 * a thread idle; the chunked form below shares each GEMM among the
 * threads. A shape's choice never depends on the thread count. */
static int nm_wg_sliced(const nmt_conv_shape *s)
{
    const int images = nmt_gemm_nm_wg_slice_images(s);
    return (s->n + images - 1) / images >= 4;
}

/* dW = prune(dY) col^T through the N:M kernel, a chunk of images at a time. */
static void nm_weight_gradient(const nmt_conv_shape *s, int c_out, const float *x, const float *dy, nmt_mvue_draws draws,
                               float *dw, float *workspace, conv_timing *timing, double *mark)
{
    const int step = nm_wg_chunk_images(s, c_out), image_cols = s->ho * s->wo, cols = s->n * image_cols;
    const int k = s->kh * s->kw * s->c;
    FOR_EACH_CHUNK(s, step, n0, n1) {
        nm_wg_workspace w = nm_wg_carve(s, c_out, n1 - n0, workspace);
        nmt_mvue_prune_packed(dy, c_out, cols, n0 * image_cols, (n1 - n0) * image_cols, draws, &w.dy);
        lap(timing, CONV_PRUNE_WG, mark);
        nmt_im2row_panels_images(s, x, n0, n1, w.scratch, w.dy.k, w.panels);
        lap(timing, CONV_LOWER_BW, mark);
        nmt_gemm_nm_panels(&w.dy, w.panels, k, n0 ? 1.0f : 0.0f, dw, k);
        lap(timing, CONV_WEIGHT_GRAD, mark);
    }
}

/* The 16 GEMMs of one Winograd pass, position p: C_p = op(A_p) B_p. */
static void winograd_gemms(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b, float beta,
                           float *c)
{
    for (int p = 0; p < 16; p++)
        nmt_gemm(trans_a, trans_b, m, n, k, 1.0f, a + (size_t)p * m * k, trans_a ? m : k, b + (size_t)p * k * n,
                 trans_b ? k : n, beta, c + (size_t)p * m * n, n);
}

/* The workspace of a Winograd layer: the input's transform, the output's
 * (or dY's), the weight gradient's sums, the weights' transform U (needed
 * by a dense forward or backward-data operand only: it goes last). */
typedef struct winograd_workspace {
    float *v, *m, *sums, *u;
} winograd_workspace;

static winograd_workspace winograd_carve(const nmt_conv_shape *s, int c_out, float *workspace)
{
    const size_t tiles = nmt_winograd_tiles(s, winograd_chunk_images(s, c_out));
    winograd_workspace w;
    w.v = workspace;
    w.m = w.v + (size_t)16 * s->c * tiles;
    w.sums = w.m + (size_t)16 * c_out * tiles;
    w.u = w.sums + (size_t)16 * c_out * s->c;
    return w;
}

/* Y = conv(x, W) through Winograd; workspace: conv_winograd_floats. */
static void winograd_forward(const nmt_conv_shape *s, int c_out, const float *w, const float *x, float *workspace,
                             float *y, conv_timing *timing, double *mark)
{
    const int step = winograd_chunk_images(s, c_out);
    const winograd_workspace ws = winograd_carve(s, c_out, workspace);
    float *u = ws.u, *v = ws.v, *m = ws.m;
    nmt_winograd_weights(c_out, s->c, w, u);
    FOR_EACH_CHUNK(s, step, n0, n1) {
        const int tiles = (int)nmt_winograd_tiles(s, n1 - n0);
        nmt_winograd_input(s, x, n0, n1, v);
        lap(timing, CONV_LOWER_FW, mark);
        winograd_gemms(0, 0, c_out, tiles, s->c, u, v, 0.0f, m);
        lap(timing, CONV_GEMM_FW, mark);
        nmt_winograd_output(s, c_out, m, n0, n1, y);
        lap(timing, CONV_LOWER_FW, mark);
    }
}

const char *conv_path_name(conv_path path)
{
    static const char *const names[] = {"none",     "pointwise", "skinny", "lowered",
                                        "winograd", "nm-fused",  "nm-dy",  "nm-wg"};
    return path >= CONV_PATH_NONE && path <= CONV_PATH_NM_WG ? names[path] : "?";
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* The workspace a path needs at any batch up to s->n: at the batch of one
 * full chunk. The Winograd weight transform is kept only where a dense FW
 * or BW operand reads it. */
static size_t path_floats(const nmt_conv_shape *s, int c_out, conv_path path, int winograd_weights)
{
    nmt_conv_shape worst = *s;
    switch (path) {
    case CONV_PATH_NM_WG: /* a smaller batch may run the other form */
        return max_size(nm_wg_floats(s, c_out, nm_wg_chunk_limit(s, c_out)),
                        nm_wg_sliced(s) ? nmt_gemm_nm_wg_workspace_floats(s, c_out) : 0);
    case CONV_PATH_LOWERED:
    case CONV_PATH_NM_DY:
        return lowering_per_image(s) * (size_t)chunk_limit(lowering_per_image(s), CONV_CHUNK_FLOATS, s->n);
    case CONV_PATH_WINOGRAD:
        worst.n = winograd_chunk_limit(s, c_out);
        return conv_winograd_floats(&worst, c_out, winograd_weights);
    default: return 0;
    }
}

conv_operands conv_operands_of(const nmt_layer_sparsity *rule)
{
    const nmt_nm_operand bw = rule->gemm[NMT_GEMM_BW];
    return (conv_operands){.fw_nm = nmt_gemm_is_nm(rule, NMT_GEMM_FW),
                           .bw_nm = bw == NMT_NM_W_OUT || bw == NMT_NM_W_T,
                           .dy_nm = bw == NMT_NM_DY_CHANNELS,
                           .needs_dx = rule->has_bw,
                           .wg_nm = rule->gemm[NMT_GEMM_WG] == NMT_NM_DY_POSITIONS};
}

void conv_plan_make(const nmt_conv_shape *s, int c_out, conv_operands operands, conv_plan *p)
{
    memset(p, 0, sizeof *p);
    p->shape = *s;
    p->c_out = c_out;
    p->operands = operands;
    const int pointwise = conv_is_pointwise(s), winograd = conv_uses_winograd(s, c_out);
    const conv_path dense = winograd ? CONV_PATH_WINOGRAD : pointwise ? CONV_PATH_POINTWISE : CONV_PATH_LOWERED;
    const conv_path nm_weights = pointwise ? CONV_PATH_POINTWISE : CONV_PATH_NM_FUSED;
    /* The products of a small dense W (and its gradient) over columns that
     * stay in cache: OpenBLAS would copy both operands for every call and
     * hand off to its own threads. Over longer columns, streamed from
     * memory, it does better (ResNet50's 1x1 convolutions). */
    const int skinny = pointwise && s->c <= SKINNY_MAX && c_out <= SKINNY_MAX &&
                       (int64_t)s->n * s->ho * s->wo <= SKINNY_MAX_COLUMNS;
    const conv_path dense_product = skinny ? CONV_PATH_SKINNY : dense;
    p->fw = operands.fw_nm ? nm_weights : dense_product;
    p->wg = operands.wg_nm ? CONV_PATH_NM_WG : dense_product;
    p->bw = !operands.needs_dx ? CONV_PATH_NONE
            : operands.dy_nm   ? CONV_PATH_NM_DY
            : operands.bw_nm   ? nm_weights
                               : dense_product;
    const int winograd_weights = p->fw == CONV_PATH_WINOGRAD || p->bw == CONV_PATH_WINOGRAD;
    size_t need = p->fw == CONV_PATH_NM_FUSED ? nmt_gemm_nm_conv_workspace_floats(s)
                                              : path_floats(s, c_out, p->fw, winograd_weights);
    need = max_size(need, p->wg == CONV_PATH_SKINNY ? skinny_gemm_nt_workspace_floats(c_out, s->c)
                                                    : path_floats(s, c_out, p->wg, winograd_weights));
    if (p->bw == CONV_PATH_NM_FUSED) need = max_size(need, nmt_gemm_nm_col2im_workspace_floats(s, c_out));
    else need = max_size(need, path_floats(s, c_out, p->bw, winograd_weights));
    p->workspace_floats = need;
}

/* The batch's shape under the plan, or -1 when the batch or the workspace
 * does not fit it. */
static int plan_shape(const conv_plan *p, int batch, size_t workspace_floats, nmt_conv_shape *s)
{
    if (batch < 1 || batch > p->shape.n) {
        nmt_error("convolution: a batch of %d images, planned for 1 to %d", batch, p->shape.n);
        return -1;
    }
    if (workspace_floats < p->workspace_floats) {
        nmt_error("convolution: a workspace of %zu floats, the plan needs %zu", workspace_floats,
                  p->workspace_floats);
        return -1;
    }
    *s = p->shape;
    s->n = batch;
    return 0;
}

static int operand_mismatch(const char *which, int planned_nm, const nmt_packed *given)
{
    if (planned_nm == (given != NULL)) return 0;
    nmt_error("convolution: the %s operand is %s but the plan expects it %s", which, given ? "N:M" : "dense",
              planned_nm ? "N:M" : "dense");
    return 1;
}

int conv_forward(const conv_plan *plan, int batch, nmt_operand w, const float *bias, const float *x,
                 float *workspace, size_t workspace_floats, float *y, conv_timing *timing)
{
    nmt_conv_shape shape;
    if (plan_shape(plan, batch, workspace_floats, &shape) || operand_mismatch("forward", plan->operands.fw_nm, w.packed))
        return -1;
    const nmt_conv_shape *s = &shape;
    const int c_out = plan->c_out;
    const int k = s->kh * s->kw * s->c, image_cols = s->ho * s->wo, cols = s->n * image_cols;
    double mark = timing ? nmt_now() : 0.0;
    switch (plan->fw) {
    case CONV_PATH_WINOGRAD:
        winograd_forward(s, c_out, w.dense, x, workspace, y, timing, &mark);
        break;
    case CONV_PATH_NM_FUSED:
        /* Lowered a panel at a time inside the GEMM, a panel per thread. */
        if (nmt_gemm_nm_conv(w.packed, s, x, workspace, workspace_floats, y)) return -1;
        lap(timing, CONV_GEMM_FW, &mark);
        break;
    case CONV_PATH_POINTWISE:
        if (bias && !w.packed) {
            /* OpenBLAS adds onto the bias instead of zeroing y first (the
             * N:M kernel writes y without reading it: the bias comes after). */
            add_bias(c_out, cols, bias, 0, y);
            bias = NULL;
            gemm_operand(w, 0, c_out, k, x, cols, 1.0f, y);
        } else {
            gemm_operand(w, 0, c_out, k, x, cols, 0.0f, y);
        }
        break;
    case CONV_PATH_SKINNY:
        skinny_gemm(c_out, cols, k, w.dense, k, 1, x, bias, y, 0);
        bias = NULL;
        break;
    default:
        FOR_EACH_CHUNK(s, conv_chunk_images(s), n0, n1) {
            const int part = (n1 - n0) * image_cols;
            float *y_part = y + (size_t)n0 * image_cols;
            nmt_im2col_images(s, x, n0, n1, workspace);
            lap(timing, CONV_LOWER_FW, &mark);
            nmt_gemm(0, 0, c_out, part, k, 1.0f, w.dense, k, workspace, part, 0.0f, y_part, cols);
            lap(timing, CONV_GEMM_FW, &mark);
        }
    }
    if (bias) add_bias(c_out, cols, bias, 1, y);
    lap(timing, CONV_GEMM_FW, &mark);
    return 0;
}

/* dW = dY x^T through Winograd, and with `dx`, dX = W^T dY as well: dY's
 * transform serves both. dw NULL: dX alone (the weight gradient runs N:M).
 * workspace: conv_winograd_floats. */
static void winograd_backward(const nmt_conv_shape *s, int c_out, const float *w_t, const float *x, const float *dy,
                              const float *dy_bw, float *dw, float *dx, int accumulate_dx, float *workspace,
                              conv_timing *timing, double *mark)
{
    const int step = winograd_chunk_images(s, c_out);
    const winograd_workspace ws = winograd_carve(s, c_out, workspace);
    float *u = ws.u, *sums = ws.sums, *v = ws.v, *d = ws.m;
    if (dx) nmt_winograd_weights(c_out, s->c, w_t, u);
    FOR_EACH_CHUNK(s, step, n0, n1) {
        const int tiles = (int)nmt_winograd_tiles(s, n1 - n0);
        if (dw) {
            nmt_winograd_input(s, x, n0, n1, v);
            nmt_winograd_grad_output(s, c_out, dy, n0, n1, d);
            lap(timing, CONV_LOWER_BW, mark);
            winograd_gemms(0, 1, c_out, s->c, tiles, d, v, n0 ? 1.0f : 0.0f, sums);
            lap(timing, CONV_WEIGHT_GRAD, mark);
        }
        if (!dx) continue;
        if (!dw || dy_bw != dy) nmt_winograd_grad_output(s, c_out, dy_bw, n0, n1, d);
        winograd_gemms(1, 0, s->c, tiles, c_out, u, d, 0.0f, v); /* v is free: dX's transform goes there */
        nmt_winograd_grad_input(s, v, n0, n1, dx, accumulate_dx);
        lap(timing, CONV_BACKWARD_DATA, mark);
    }
    if (!dw) return;
    nmt_winograd_grad_weights(c_out, s->c, sums, dw);
    lap(timing, CONV_WEIGHT_GRAD, mark);
}

int conv_backward(const conv_plan *plan, int batch, nmt_operand w_t, const float *x, const float *dy,
                  nmt_mvue_draws wg_draws, nmt_operand dy_bw, float *dw, float *dbias, float *dx, int accumulate_dx, float *workspace,
                  size_t workspace_floats, conv_timing *timing)
{
    nmt_conv_shape shape;
    if (plan_shape(plan, batch, workspace_floats, &shape)) return -1;
    if (plan->operands.needs_dx != (dx != NULL)) {
        nmt_error("convolution: dX is %s but the plan %s it", dx ? "asked for" : "not asked for",
                  plan->operands.needs_dx ? "computes" : "skips");
        return -1;
    }
    if (dx && (operand_mismatch("backward-data", plan->operands.bw_nm, w_t.packed) ||
               operand_mismatch("output-gradient", plan->operands.dy_nm, dy_bw.packed)))
        return -1;
    const nmt_conv_shape *s = &shape;
    const int c_out = plan->c_out;
    const int k = s->kh * s->kw * s->c, image_cols = s->ho * s->wo, cols = s->n * image_cols;
    const int step = conv_chunk_images(s);
    float *col = workspace, *dcol = workspace; /* the directions run one after the other */
    /* Backward-data goes with the weight gradient when both are Winograd:
     * dY's transform serves both. */
    const int winograd_dx = plan->bw == CONV_PATH_WINOGRAD;
    double mark = timing ? nmt_now() : 0.0;
    switch (plan->wg) {
    case CONV_PATH_WINOGRAD:
        winograd_backward(s, c_out, w_t.dense, x, dy, dy_bw.dense, dw, winograd_dx ? dx : NULL, accumulate_dx,
                          workspace, timing, &mark);
        break;
    case CONV_PATH_NM_WG:
        if (!nm_wg_sliced(s)) {
            nm_weight_gradient(s, c_out, x, dy, wg_draws, dw, workspace, timing, &mark);
        } else {
            if (nmt_gemm_nm_wg(s, c_out, x, dy, wg_draws, workspace, workspace_floats, dw)) return -1;
            lap(timing, CONV_WEIGHT_GRAD, &mark);
        }
        if (winograd_dx)
            winograd_backward(s, c_out, w_t.dense, x, dy, dy_bw.dense, NULL, dx, accumulate_dx, workspace, timing,
                              &mark);
        break;
    case CONV_PATH_POINTWISE:
        nmt_gemm(0, 1, c_out, k, cols, 1.0f, dy, cols, x, cols, 0.0f, dw, k);
        break;
    case CONV_PATH_SKINNY:
        skinny_gemm_nt(c_out, k, cols, dy, x, dw, workspace, workspace_floats);
        break;
    default:
        /* Lowered again, a chunk at a time: the forward's buffer went to
         * later layers. dW sums the chunks' products. */
        FOR_EACH_CHUNK(s, step, n0, n1) {
            const int part = (n1 - n0) * image_cols;
            nmt_im2col_images(s, x, n0, n1, col);
            lap(timing, CONV_LOWER_BW, &mark);
            nmt_gemm(0, 1, c_out, k, part, 1.0f, dy + (size_t)n0 * image_cols, cols, col, part, n0 ? 1.0f : 0.0f,
                     dw, k);
            lap(timing, CONV_WEIGHT_GRAD, &mark);
        }
    }
    if (dbias) {
#pragma omp parallel for schedule(static)
        for (int o = 0; o < c_out; o++) {
            const float *row = dy + (size_t)o * cols;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < cols; j++) sum += row[j];
            dbias[o] = sum;
        }
    }
    lap(timing, CONV_WEIGHT_GRAD, &mark);
    if (plan->bw == CONV_PATH_NONE || winograd_dx) return 0;
    /* The sparse scatters add into dx: they start from zeros when overwriting. */
    if (!accumulate_dx && (plan->bw == CONV_PATH_NM_DY || plan->bw == CONV_PATH_NM_FUSED))
        zero_fill((int64_t)s->c * s->n * s->h * s->w, dx);
    switch (plan->bw) {
    case CONV_PATH_NM_DY: {
        /* dY is the N:M operand, packed with the pixels as rows: the GEMM
         * runs transposed, with W (dense, c_out x K) as B, and its
         * pixel-major result is scattered back, a chunk of images (a range
         * of packed rows) at a time. */
        const size_t row_entries = (size_t)(c_out / dy_bw.packed->nm.m) * dy_bw.packed->nm.n;
        FOR_EACH_CHUNK(s, step, n0, n1) {
            nmt_packed rows = *dy_bw.packed;
            rows.rows = (n1 - n0) * image_cols;
            rows.values += (size_t)n0 * image_cols * row_entries;
            rows.index += (size_t)n0 * image_cols * row_entries;
            nmt_gemm_nm(&rows, w_t.dense, k, k, 0.0f, dcol, k);
            nmt_col2im_transposed_images(s, dcol, n0, n1, dx);
        }
        break;
    }
    case CONV_PATH_POINTWISE:
        gemm_operand(w_t, 1, k, c_out, dy_bw.dense, cols, accumulate_dx ? 1.0f : 0.0f, dx);
        break;
    case CONV_PATH_SKINNY:
        skinny_gemm(k, cols, c_out, w_t.dense, 1, k, dy_bw.dense, NULL, dx, accumulate_dx);
        break;
    case CONV_PATH_NM_FUSED:
        /* N:M backward-data fused with col2im: no K x cols intermediate and
         * no full copy of dY in panels; the workspace (free once WG is
         * done) holds its tiles. */
        if (nmt_gemm_nm_col2im(w_t.packed, dy_bw.dense, s, dcol, workspace_floats, dx)) return -1;
        break;
    default:
        FOR_EACH_CHUNK(s, step, n0, n1) {
            const int part = (n1 - n0) * image_cols;
            nmt_gemm(1, 0, k, part, c_out, 1.0f, w_t.dense, k, dy_bw.dense + (size_t)n0 * image_cols, cols, 0.0f,
                     dcol, part);
            nmt_col2im_images(s, dcol, n0, n1, dx, accumulate_dx);
        }
    }
    lap(timing, CONV_BACKWARD_DATA, &mark);
    return 0;
}

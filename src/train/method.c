/* Training methods (BDWP spec): dense, SR-STE, BDWP, SDGP, transposable N:M.
 * Each method is data (which directions are sparse and how their operands
 * are made); the functions below are the only place that reads it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train/method.h"

/* Weight views: groups along input channels (rows = c_out) and along output
 * channels (rows = K, i.e. W^T). */
static nmt_view view_in(const method_layer *l, const float *w)
{
    nmt_view v = {w, l->c_out, l->k, l->k, 1};
    return v;
}

static nmt_view view_out(const method_layer *l, const float *w)
{
    nmt_view v = {w, l->k, l->c_out, 1, l->k};
    return v;
}

static void reserve_packed(nmt_arena *arena, nmt_packed *p, int rows, int k, nmt_nm nm)
{
    const size_t count = nmt_packed_value_count(rows, k, nm);
    p->rows = rows;
    p->k = k;
    p->nm = nm;
    p->values = NMT_ARENA_FLOATS(arena, count);
    p->index = nmt_arena_alloc(arena, count);
}

void method_layer_plan(const nmt_method_config *cfg, const nmt_node *node, nmt_arena *arena, method_layer *l)
{
    memset(l, 0, sizeof *l);
    l->c_out = node->c_out;
    l->c_in = node->c_in;
    l->taps = node->op == NMT_OP_CONV || node->op == NMT_OP_PATCH_EMBED ? node->kh * node->kw : 1;
    l->k = l->c_in * l->taps;
    nmt_layer_sparsity_of(node, cfg, &l->rule);
    const nmt_nm_operand fw = l->rule.gemm[NMT_GEMM_FW], bw = l->rule.gemm[NMT_GEMM_BW];
    l->fw_sparse = fw != NMT_NM_NONE;
    l->bw_sparse = bw == NMT_NM_W_OUT || bw == NMT_NM_W_T;
    l->dy_pruned = bw == NMT_NM_DY_CHANNELS;
    l->bw_masked = l->rule.bw_masked;
    /* Masks are only read back between refreshes; refreshed every step, W
     * and W^T are selected and packed in one pass instead, and the decay
     * and SR-STE's W*m_in read the kept positions off the packed W. */
    const int held = nmt_method_mask_interval(cfg) > 1;
    if (fw == NMT_NM_W_IN && held) l->mask_in = nmt_arena_alloc(arena, (size_t)l->c_out * l->k);
    if (bw == NMT_NM_W_OUT && held) l->mask_out = nmt_arena_alloc(arena, (size_t)l->c_out * l->k);
    if (fw == NMT_NM_W_T) l->mask_t = nmt_arena_alloc(arena, (size_t)l->c_out * l->k);
    if (l->fw_sparse) reserve_packed(arena, &l->fw, l->c_out, l->k, cfg->nm);
    /* W^T is packed when backward-data needs it, into the network's one
     * scratch (method_bw_operand): held for every layer, it cost as much
     * memory as half the weights at 2:4. */
    if (l->bw_sparse) l->bw = (nmt_packed){.rows = l->k, .k = l->c_out, .nm = cfg->nm};
}

void method_layer_refresh(const nmt_method_config *cfg, method_layer *l, const float *w, int new_masks)
{
    if (l->mask_in) {
        if (new_masks) nmt_nm_mask(view_in(l, w), cfg->nm, l->mask_in);
        nmt_pack_masked(view_in(l, w), l->mask_in, cfg->nm, &l->fw);
    } else if (l->fw_sparse && !l->mask_t) {
        nmt_pack_topn(view_in(l, w), cfg->nm, &l->fw);
    }
    if (l->mask_out && new_masks) nmt_nm_mask(view_out(l, w), cfg->nm, l->mask_out);
    if (l->mask_t) {
        if (new_masks) nmt_nm_mask_transposable(view_in(l, w), cfg->nm, l->mask_t);
        nmt_pack_masked(view_in(l, w), l->mask_t, cfg->nm, &l->fw);
    }
}

int method_layer_masks(method_layer *l, const char **names, uint8_t **masks)
{
    int n = 0;
    if (l->mask_in) names[n] = "in", masks[n++] = l->mask_in;
    if (l->mask_out) names[n] = "out", masks[n++] = l->mask_out;
    if (l->mask_t) names[n] = "t", masks[n++] = l->mask_t;
    return n;
}

/* At most N kept in each group of M along the columns of a rows x cols
 * mask with the given strides. */
static int groups_within(const uint8_t *mask, int rows, int cols, ptrdiff_t row_stride, ptrdiff_t col_stride,
                         nmt_nm nm)
{
    for (int r = 0; r < rows; r++)
        for (int g = 0; g + nm.m <= cols; g += nm.m) {
            int kept = 0;
            for (int j = 0; j < nm.m; j++) kept += mask[r * row_stride + (g + j) * col_stride] != 0;
            if (kept > nm.n) return 0;
        }
    return 1;
}

int method_layer_check_masks(const nmt_method_config *cfg, const method_layer *l, const char **bad)
{
    const nmt_nm nm = cfg->nm;
    if (l->mask_in && !groups_within(l->mask_in, l->c_out, l->k, l->k, 1, nm)) return *bad = "in", -1;
    if (l->mask_out && !groups_within(l->mask_out, l->k, l->c_out, l->c_out, 1, nm)) return *bad = "out", -1;
    if (l->mask_t && (!groups_within(l->mask_t, l->c_out, l->k, l->k, 1, nm) ||
                      !groups_within(l->mask_t, l->k, l->c_out, 1, l->k, nm)))
        return *bad = "t", -1;
    return 0;
}

nmt_operand method_fw_operand(const method_layer *l, const float *w)
{
    nmt_operand op = {w, l->fw_sparse ? &l->fw : NULL};
    return op;
}

/* A packed W^T in the scratch: its values, then its index bytes. */
static size_t packed_bw_floats(const method_layer *l)
{
    const size_t count = nmt_packed_value_count(l->bw.rows, l->bw.k, l->bw.nm);
    return count + (count + sizeof(float) - 1) / sizeof(float);
}

size_t method_bw_scratch_floats(const method_layer *l)
{
    if (l->bw_masked) return (size_t)l->c_out * l->k;
    return l->bw_sparse ? packed_bw_floats(l) : 0;
}

/* Bit e set for each position e of group g of row r the packed forward
 * operand keeps. */
static inline uint32_t kept_positions(const method_layer *l, int r, int g)
{
    const int n = l->fw.nm.n;
    const uint8_t *index = l->fw.index + ((size_t)r * (l->k / l->fw.nm.m) + g) * n;
    uint32_t kept = 0;
    for (int s = 0; s < n; s++) kept |= 1u << index[s];
    return kept;
}

nmt_operand method_bw_operand(const nmt_method_config *cfg, method_layer *l, const float *w, float *scratch)
{
    if (l->bw_masked) { /* W * m_in: W where the packed operand keeps it */
        const int m = l->fw.nm.m, groups = l->k / m;
#pragma omp parallel for schedule(static)
        for (int r = 0; r < l->c_out; r++)
            for (int g = 0; g < groups; g++) {
                const uint32_t kept = kept_positions(l, r, g);
                const size_t at = (size_t)r * l->k + (size_t)g * m;
                for (int e = 0; e < m; e++) scratch[at + e] = kept >> e & 1u ? w[at + e] : 0.0f;
            }
        return (nmt_operand){scratch, NULL};
    }
    if (!l->bw_sparse) return (nmt_operand){w, NULL};
    l->bw.values = scratch;
    l->bw.index = (uint8_t *)(scratch + nmt_packed_value_count(l->bw.rows, l->bw.k, l->bw.nm));
    if (l->mask_out) /* held between mask refreshes (--mask-interval > 1) */
        nmt_pack_masked(view_out(l, w), l->mask_out, cfg->nm, &l->bw);
    else if (l->mask_t) /* W^T under W's own mask, read transposed: no copy of the mask */
        nmt_pack_masked_strided(view_out(l, w), l->mask_t, 1, l->k, cfg->nm, &l->bw);
    else
        nmt_pack_topn(view_out(l, w), cfg->nm, &l->bw);
    return (nmt_operand){w, &l->bw};
}

#define SDGP_BLOCK 64 /* columns per work item: M rows of this many floats stay contiguous */

size_t method_bw_dy_scratch_bytes(const nmt_method_config *cfg, const method_layer *l, int cols)
{
    if (!l->dy_pruned) return 0;
    const size_t count = nmt_packed_value_count(cols, l->c_out, cfg->nm);
    return count * (sizeof(float) + 1);
}

nmt_operand method_bw_dy(const nmt_method_config *cfg, const method_layer *l, int cols, const float *dy,
                         void *scratch, nmt_packed *packed)
{
    if (!l->dy_pruned) return (nmt_operand){dy, NULL};
    const int m = cfg->nm.m, n = cfg->nm.n, groups = l->c_out / m, row_entries = groups * n;
    const int blocks = (cols + SDGP_BLOCK - 1) / SDGP_BLOCK;
    const size_t count = (size_t)cols * row_entries;
    *packed = (nmt_packed){.rows = cols, .k = l->c_out, .nm = cfg->nm, .values = scratch,
                           .index = (uint8_t *)scratch + count * sizeof(float)};
    /* Max-norm pruning per pixel and channel group; the kept values are
     * rescaled so the group's L1 norm is unchanged. Work goes by (group,
     * block of columns) so every read runs along a row of dY. */
#pragma omp parallel for schedule(static)
    for (int item = 0; item < groups * blocks; item++) {
        const int g = item / blocks, j0 = item % blocks * SDGP_BLOCK;
        const int width = cols - j0 < SDGP_BLOCK ? cols - j0 : SDGP_BLOCK;
        const float *in = dy + (size_t)g * m * cols + j0;
        double total[SDGP_BLOCK] = {0}, kept_sum[SDGP_BLOCK] = {0};
        uint32_t kept[SDGP_BLOCK] = {0};
        int taken[SDGP_BLOCK] = {0};
        for (int e = 0; e < m; e++)
            for (int j = 0; j < width; j++) total[j] += fabsf(in[(size_t)e * cols + j]);
        /* N passes, each taking the largest not yet kept (the lowest
         * position on ties; NaN never wins), for all the block's pixels at
         * once: the loops over j vectorise. */
        for (int pass = 0; pass < n; pass++) {
            int best[SDGP_BLOCK];
            float best_mag[SDGP_BLOCK];
            for (int j = 0; j < width; j++) best[j] = -1, best_mag[j] = -1.0f;
            for (int e = 0; e < m; e++)
                for (int j = 0; j < width; j++) {
                    const float mag = fabsf(in[(size_t)e * cols + j]);
                    const int take = !(kept[j] >> e & 1u) && mag > best_mag[j];
                    best_mag[j] = take ? mag : best_mag[j];
                    best[j] = take ? e : best[j];
                }
            for (int j = 0; j < width; j++)
                if (best[j] >= 0) kept[j] |= 1u << best[j], kept_sum[j] += best_mag[j], taken[j]++;
        }
        for (int j = 0; j < width; j++) {
            /* Pixel j's entries of this group, positions ascending; a group
             * short of N (NaNs) is padded with zeros at its lowest unused
             * positions, as the packed format asks. */
            const float rescale = kept_sum[j] > 0.0 ? (float)(total[j] / kept_sum[j]) : 0.0f;
            uint32_t padding = 0;
            for (int e = 0; e < m && taken[j] < n; e++)
                if (!(kept[j] >> e & 1u)) padding |= 1u << e, taken[j]++;
            const size_t at = (size_t)(j0 + j) * row_entries + (size_t)g * n;
            for (int e = 0, slot = 0; e < m; e++) {
                if (!((kept[j] | padding) >> e & 1u)) continue;
                packed->values[at + slot] = kept[j] >> e & 1u ? in[(size_t)e * cols + j] * rescale : 0.0f;
                packed->index[at + slot++] = (uint8_t)e;
            }
        }
    }
    return (nmt_operand){NULL, packed};
}

void method_correct_wg(const nmt_method_config *cfg, const method_layer *l, const float *w, float *dw)
{
    if (!l->rule.decays) return;
    const int m = l->fw.nm.m, groups = l->k / m;
    const float lambda = cfg->decay;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < l->c_out; r++)
        for (int g = 0; g < groups; g++) {
            const uint32_t kept = kept_positions(l, r, g);
            const size_t at = (size_t)r * l->k + (size_t)g * m;
            for (int e = 0; e < m; e++)
                if (!(kept >> e & 1u)) dw[at + e] += lambda * w[at + e];
        }
}

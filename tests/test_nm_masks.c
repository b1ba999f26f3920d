/* Property tests of N:M parsing, masks (row and column views, transposable)
 * and the packed format. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "nmtrain.h"

static const nmt_nm ratios[] = {{1, 2}, {1, 4}, {2, 4}, {3, 4}, {1, 8}, {2, 8}, {5, 8},
                                {3, 16}, {8, 16}, {2, 32}, {17, 32}, {31, 32}};
#define RATIO_COUNT (int)(sizeof ratios / sizeof ratios[0])

/* Small integers make ties common, which is what the tie rule is about. */
static void fill_with_ties(nmt_rng *rng, float *w, size_t count)
{
    for (size_t i = 0; i < count; i++) w[i] = (float)((int)nmt_rng_below(rng, 7) - 3);
}

static void test_parse(void)
{
    nmt_nm nm;
    CHECK(nmt_nm_parse("2:8", 0, "--nm", &nm) == 0 && nm.n == 2 && nm.m == 8, "2:8");
    CHECK(nmt_nm_parse("31:32", 0, "--nm", &nm) == 0 && nm.n == 31 && nm.m == 32, "31:32");
    CHECK(nmt_nm_parse("4:4", 1, "--nm", &nm) == 0 && nm.n == 4, "dense allowed");
    const char *bad[] = {"4:4", "8:4", "2:33", "0:4", "2:0", "0:0", "2:", ":8", "a:b", "2:8x",
                         "", "2", " 2:8", "-1:4", "2:+8", "2::8", "99999999999999999999:8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = nmt_nm_parse(bad[i], 0, "--nm", &nm);
        CHECK(rc == -1, "'%s' accepted", bad[i]);
        CHECK(strncmp(nmt_errmsg(), "--nm: ", 6) == 0 && strchr(nmt_errmsg(), '\n') == NULL,
              "'%s': message '%s' should be one line naming --nm", bad[i], nmt_errmsg());
    }
    CHECK(nmt_nm_parse(NULL, 0, "--nm", &nm) == -1, "NULL accepted");
}

/* Reference rule for one entry: it is kept when fewer than N entries of its
 * group beat it (larger |w|, or equal |w| at a lower position). */
static int reference_kept(const float *group, ptrdiff_t stride, int position, nmt_nm nm)
{
    float mine = fabsf(group[position * stride]);
    int better = 0;
    for (int p = 0; p < nm.m; p++) {
        float other = fabsf(group[p * stride]);
        if (other > mine || (other == mine && p < position)) better++;
    }
    return better < nm.n;
}

static void check_topn_mask(nmt_view v, nmt_nm nm, const uint8_t *mask, const char *label)
{
    int wrong_count = 0, wrong_choice = 0;
    for (int r = 0; r < v.rows; r++) {
        for (int g = 0; g < v.k / nm.m; g++) {
            const float *group = v.data + r * v.row_stride + (ptrdiff_t)g * nm.m * v.col_stride;
            int kept = 0;
            for (int p = 0; p < nm.m; p++) {
                uint8_t bit = mask[(size_t)r * v.k + g * nm.m + p];
                kept += bit;
                if (bit != reference_kept(group, v.col_stride, p, nm)) wrong_choice++;
            }
            if (kept != nm.n) wrong_count++;
        }
    }
    CHECK(wrong_count == 0, "%s %d:%d: %d groups without exactly N kept", label, nm.n, nm.m, wrong_count);
    CHECK(wrong_choice == 0, "%s %d:%d: %d entries differ from top-N with ties low", label, nm.n,
          nm.m, wrong_choice);
}

/* Packs v both ways (top-N and by its mask), unpacks, and compares with the
 * masked dense matrix. */
static void check_pack_roundtrip(nmt_view v, nmt_nm nm, const uint8_t *mask, const char *label)
{
    size_t count = nmt_packed_value_count(v.rows, v.k, nm), dense = (size_t)v.rows * v.k;
    nmt_packed topn = {.values = malloc(count * sizeof(float)), .index = malloc(count)};
    nmt_packed masked = {.values = malloc(count * sizeof(float)), .index = malloc(count)};
    float *unpacked = malloc(dense * sizeof(float)), *want = malloc(dense * sizeof(float));
    nmt_pack_topn(v, nm, &topn);
    CHECK(nmt_pack_masked(v, mask, nm, &masked) == 0, "%s: pack_masked failed", label);
    CHECK(topn.rows == v.rows && topn.k == v.k && topn.nm.n == nm.n && topn.nm.m == nm.m,
          "%s: header", label);
    CHECK(memcmp(topn.values, masked.values, count * sizeof(float)) == 0 &&
              memcmp(topn.index, masked.index, count) == 0,
          "%s %d:%d: pack_topn differs from pack_masked(nmt_nm_mask)", label, nm.n, nm.m);
    int unordered = 0;
    for (size_t s = 0; s < count; s++)
        if (s % nm.n && topn.index[s] <= topn.index[s - 1]) unordered++;
    CHECK(unordered == 0, "%s: %d positions not ascending", label, unordered);
    for (int r = 0; r < v.rows; r++)
        for (int c = 0; c < v.k; c++)
            want[(size_t)r * v.k + c] = mask[(size_t)r * v.k + c] ? v.data[r * v.row_stride + c * v.col_stride] : 0.0f;
    nmt_unpack(&topn, unpacked);
    CHECK(memcmp(unpacked, want, dense * sizeof(float)) == 0, "%s %d:%d: unpack(pack) != W*mask",
          label, nm.n, nm.m);
    free(topn.values), free(topn.index), free(masked.values), free(masked.index);
    free(unpacked), free(want);
}

static void test_topn_masks(nmt_rng *rng)
{
    for (int i = 0; i < RATIO_COUNT; i++) {
        nmt_nm nm = ratios[i];
        /* W is cout x kdim; the row view groups along kdim, the column view
         * (W^T: rows = kdim, k = cout) groups along cout. */
        int cout = nm.m * (1 + (int)nmt_rng_below(rng, 3)), kdim = nm.m * (2 + (int)nmt_rng_below(rng, 4));
        float *w = malloc(sizeof(float) * cout * kdim);
        uint8_t *mask = malloc((size_t)cout * kdim);
        fill_with_ties(rng, w, (size_t)cout * kdim);
        nmt_view rows = {w, cout, kdim, kdim, 1}, cols = {w, kdim, cout, 1, kdim};
        nmt_nm_mask(rows, nm, mask);
        check_topn_mask(rows, nm, mask, "row view");
        check_pack_roundtrip(rows, nm, mask, "row view");
        nmt_nm_mask(cols, nm, mask);
        check_topn_mask(cols, nm, mask, "column view");
        check_pack_roundtrip(cols, nm, mask, "column view");
        /* Continuous values too (no ties; catches sign handling). */
        for (int e = 0; e < cout * kdim; e++) w[e] = nmt_rng_normal(rng);
        nmt_nm_mask(rows, nm, mask);
        check_topn_mask(rows, nm, mask, "row view, normal");
        check_pack_roundtrip(rows, nm, mask, "row view, normal");
        free(w), free(mask);
    }
    /* All-equal group: ties go to the lowest positions. */
    float flat[8] = {1, -1, 1, -1, 1, -1, 1, -1};
    uint8_t mask[8];
    nmt_nm_mask((nmt_view){flat, 1, 8, 8, 1}, (nmt_nm){3, 8}, mask);
    CHECK(mask[0] && mask[1] && mask[2] && !mask[3] && !mask[7], "ties keep the lower index");
}

/* Straightforward greedy on one block: scan for the largest unvisited entry
 * each time (ties: lower row, then lower column). */
static void reference_transposable_block(const float *w, int ld, nmt_nm nm, uint8_t *keep)
{
    int m = nm.m, visited[NMT_NM_MAX_M * NMT_NM_MAX_M] = {0};
    int row_count[NMT_NM_MAX_M] = {0}, col_count[NMT_NM_MAX_M] = {0};
    for (int e = 0; e < m * m; e++) {
        int best = -1;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                if (!visited[i * m + j] && (best < 0 || fabsf(w[i * ld + j]) > fabsf(w[(best / m) * ld + best % m])))
                    best = i * m + j;
        visited[best] = 1;
        int i = best / m, j = best % m;
        keep[best] = row_count[i] < nm.n && col_count[j] < nm.n;
        if (keep[best]) row_count[i]++, col_count[j]++;
    }
}

static void test_transposable(nmt_rng *rng)
{
    for (int i = 0; i < RATIO_COUNT; i++) {
        nmt_nm nm = ratios[i];
        if (nm.m > 16) continue; /* the O(M^4) reference is too slow for M = 32 under ASan */
        int cout = 2 * nm.m, kdim = 3 * nm.m;
        float *w = malloc(sizeof(float) * cout * kdim);
        uint8_t *mask = malloc((size_t)cout * kdim), keep[NMT_NM_MAX_M * NMT_NM_MAX_M];
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 0) fill_with_ties(rng, w, (size_t)cout * kdim);
            else for (int e = 0; e < cout * kdim; e++) w[e] = nmt_rng_normal(rng);
            nmt_view v = {w, cout, kdim, kdim, 1};
            nmt_nm_mask_transposable(v, nm, mask);
            int over = 0, differ = 0;
            for (int rb = 0; rb < cout / nm.m; rb++) {
                for (int cb = 0; cb < kdim / nm.m; cb++) {
                    reference_transposable_block(w + (size_t)rb * nm.m * kdim + cb * nm.m, kdim, nm, keep);
                    for (int a = 0; a < nm.m; a++) {
                        int in_row = 0, in_col = 0;
                        for (int b = 0; b < nm.m; b++) {
                            in_row += mask[(size_t)(rb * nm.m + a) * kdim + cb * nm.m + b];
                            in_col += mask[(size_t)(rb * nm.m + b) * kdim + cb * nm.m + a];
                            differ += mask[(size_t)(rb * nm.m + a) * kdim + cb * nm.m + b] != keep[a * nm.m + b];
                        }
                        over += in_row > nm.n || in_col > nm.n;
                    }
                }
            }
            CHECK(over == 0, "transposable %d:%d: %d block rows/columns keep more than N", nm.n, nm.m, over);
            CHECK(differ == 0, "transposable %d:%d: %d entries differ from the reference greedy", nm.n,
                  nm.m, differ);
            /* Pack along k and along cout (W^T through mask strides); padding
             * must be zero-valued and the round trip exact. */
            size_t count_rows = nmt_packed_value_count(cout, kdim, nm), dense = (size_t)cout * kdim;
            nmt_packed p = {.values = malloc(count_rows * sizeof(float)), .index = malloc(count_rows)};
            float *unpacked = malloc(dense * sizeof(float));
            int bad = 0, padded = 0;
            CHECK(nmt_pack_masked(v, mask, nm, &p) == 0, "transposable pack");
            nmt_unpack(&p, unpacked);
            for (size_t e = 0; e < dense; e++) bad += unpacked[e] != (mask[e] ? w[e] : 0.0f);
            for (size_t s = 0; s < count_rows; s++) {
                size_t row = s / ((size_t)kdim / nm.m * nm.n), group = s / nm.n % (kdim / nm.m);
                if (!mask[row * kdim + group * nm.m + p.index[s]]) padded++, bad += p.values[s] != 0.0f;
            }
            CHECK(bad == 0, "transposable %d:%d rows: %d wrong entries after unpack or nonzero padding", nm.n, nm.m, bad);
            nmt_view t = {w, kdim, cout, 1, kdim};
            CHECK(nmt_pack_masked_strided(t, mask, 1, kdim, nm, &p) == 0, "transposable pack of W^T");
            nmt_unpack(&p, unpacked);
            bad = 0;
            for (int r = 0; r < kdim; r++)
                for (int c = 0; c < cout; c++)
                    bad += unpacked[(size_t)r * cout + c] != (mask[(size_t)c * kdim + r] ? w[(size_t)c * kdim + r] : 0.0f);
            CHECK(bad == 0, "transposable %d:%d W^T: %d wrong entries after unpack", nm.n, nm.m, bad);
            if (pass == 1 && nm.n > 1) CHECK(padded > 0, "%d:%d: expected some padded groups", nm.n, nm.m);
            free(p.values), free(p.index), free(unpacked);
        }
        free(w), free(mask);
    }
}

static void test_pack_masked_errors(void)
{
    float w[8] = {1, 2, 3, 4, 5, 6, 7, 8}, values[2];
    uint8_t mask[8] = {1, 1, 1, 0, 0, 0, 0, 0}, index[2];
    nmt_packed p = {.values = values, .index = index};
    CHECK(nmt_pack_masked((nmt_view){w, 1, 8, 8, 1}, mask, (nmt_nm){2, 8}, &p) == -1,
          "a group keeping 3 of 8 must not pack as 2:8");
    CHECK(strstr(nmt_errmsg(), "more than 2") != NULL, "message: %s", nmt_errmsg());
    memset(mask, 0, sizeof mask);
    mask[5] = 1;
    CHECK(nmt_pack_masked((nmt_view){w, 1, 8, 8, 1}, mask, (nmt_nm){2, 8}, &p) == 0, "one kept");
    CHECK(index[0] == 0 && values[0] == 0.0f && index[1] == 5 && values[1] == 6.0f,
          "padding at the lowest unused position, kept value beside it");
}

int main(void)
{
    nmt_rng rng;
    nmt_rng_seed(&rng, 42, 1);
    test_parse();
    test_topn_masks(&rng);
    test_transposable(&rng);
    test_pack_masked_errors();
    TEST_END("test_nm_masks");
}

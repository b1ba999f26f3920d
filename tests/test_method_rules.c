/* The method rules of the BDWP spec that are properties rather than numbers:
 * which layers are exempt and why, the executed-MAC accounting behind
 * `nmtrain info`, and SDGP's L1-preserving dY pruning. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "method_plan.h"

/* Exemptions follow the rule exactly: the classifier unless asked, each
 * direction by its own divisibility, and no backward-data for the first
 * layer (whose forward is N:M when its 16 input channels divide). */
static void exemptions(void)
{
    nmt_model_config mc = {.arch = "resnet18", .width = 0.75f, .in_c = 16, .in_h = 32, .in_w = 32, .classes = 10};
    nmt_model_desc *desc = malloc(sizeof *desc);
    nmt_layer_report *r = malloc(sizeof *r * NMT_MAX_NODES);
    CHECK(nmt_model_describe(&mc, desc) == 0, "%s", nmt_errmsg());
    const nmt_nm nms[] = {{2, 8}, {2, 16}, {1, 32}};
    for (size_t t = 0; t < sizeof nms / sizeof nms[0]; t++) {
        const nmt_nm nm = nms[t];
        for (int classifier = 0; classifier < 2; classifier++) {
            nmt_method_config cfg;
            nmt_method_defaults(NMT_METHOD_BDWP, nm, &cfg);
            cfg.sparse_classifier = classifier;
            nmt_method_report(desc, &cfg, r);
            int mismatches = 0, first_sparse = 0;
            for (int i = 0; i < desc->n_nodes; i++) {
                const nmt_node *n = &desc->nodes[i];
                if (n->op != NMT_OP_CONV && n->op != NMT_OP_LINEAR) continue;
                const int allowed = !n->is_classifier || cfg.sparse_classifier;
                const int fw = allowed && n->c_in % nm.m == 0, bw = allowed && n->input >= 0 && n->c_out % nm.m == 0;
                const nmt_layer_sparsity *s = &r[i].sparsity;
                if (nmt_gemm_is_nm(s, NMT_GEMM_FW) != fw || nmt_gemm_is_nm(s, NMT_GEMM_BW) != bw ||
                    nmt_gemm_is_nm(s, NMT_GEMM_WG))
                    mismatches++;
                if (fw && (s->gemm[NMT_GEMM_FW] != NMT_NM_W_IN || (bw && s->gemm[NMT_GEMM_BW] != NMT_NM_W_OUT)))
                    mismatches++;
                first_sparse += n->input < 0 && fw;
                /* executed MACs: N/M of dense exactly where sparse, WG always dense */
                const int64_t want_fw = fw ? r[i].dense.fw / nm.m * nm.n : r[i].dense.fw;
                const int64_t want_bw = bw ? r[i].dense.bw / nm.m * nm.n : r[i].dense.bw;
                if (r[i].executed.fw != want_fw || r[i].executed.bw != want_bw || r[i].executed.wg != r[i].dense.wg)
                    mismatches++;
                if (n->input < 0 && r[i].dense.bw != 0) mismatches++; /* no BW for the first layer */
            }
            CHECK(mismatches == 0, "bdwp %d:%d sparse_classifier %d: %d layers break the exemption rule", nm.n, nm.m,
                  classifier, mismatches);
            CHECK(first_sparse == (16 % nm.m == 0), "bdwp %d:%d: the 16-channel first layer's forward is %s", nm.n,
                  nm.m, first_sparse ? "N:M" : "dense");
        }
    }
    /* width 0.75 at M = 32: 48-channel layers fail divisibility and must say so */
    nmt_method_config cfg;
    const nmt_nm nm32 = {1, 32};
    nmt_method_defaults(NMT_METHOD_BDWP, nm32, &cfg);
    nmt_method_report(desc, &cfg, r);
    int said = 0;
    for (int i = 0; i < desc->n_nodes; i++)
        if (strstr(r[i].sparsity.why, "Cin % M != 0")) said++;
    CHECK(said > 0, "no layer reported as dense for Cin %% M != 0 at 1:32 with 48-channel layers");
    free(desc), free(r);
}

/* The spec's compute fractions when every GEMM is sparse and FW = BW = WG. */
static void spec_fractions(void)
{
    const nmt_nm nm = {2, 8};
    nmt_node node = {.op = NMT_OP_CONV, .c_in = 64, .c_out = 64, .h_in = 8, .w_in = 8, .h_out = 8, .w_out = 8,
                     .kh = 3, .kw = 3, .stride = 1, .pad = 1, .input = 0};
    nmt_model_desc *desc = calloc(1, sizeof *desc);
    desc->n_nodes = 1;
    desc->nodes[0] = node;
    nmt_layer_report r;
    const nmt_method_kind kinds[] = {NMT_METHOD_BDWP, NMT_METHOD_TNM, NMT_METHOD_SRSTE, NMT_METHOD_SDGP};
    const double want[] = {0.5, 0.5, 0.75, 0.75};
    for (int k = 0; k < 4; k++) {
        nmt_method_config cfg;
        nmt_method_defaults(kinds[k], nm, &cfg);
        nmt_method_report(desc, &cfg, &r);
        const double got = (double)(r.executed.fw + r.executed.bw + r.executed.wg) /
                           (double)(r.dense.fw + r.dense.bw + r.dense.wg);
        CHECK(fabs(got - want[k]) < 1e-12, "%s 2:8 executes %.4f of dense MACs, spec says %.2f",
              nmt_method_name(kinds[k]), got, want[k]);
    }
    free(desc);
}

/* SDGP: exactly N kept per group of M channels at each pixel, the rest zero,
 * each group's L1 norm preserved, and the packed form holds exactly that
 * (positions ascending, pixels as rows). */
static void sdgp_rescale(void)
{
    const int channels = 32, cols = 150;
    const nmt_nm nms[] = {{2, 4}, {2, 8}, {1, 8}, {3, 16}, {7, 32}};
    nmt_rng rng;
    nmt_rng_seed(&rng, 5, 0);
    float *dy = malloc(sizeof(float) * channels * cols), *out = malloc(sizeof(float) * channels * cols);
    for (int i = 0; i < channels * cols; i++) dy[i] = nmt_rng_normal(&rng);
    for (size_t t = 0; t < sizeof nms / sizeof nms[0]; t++) {
        nmt_method_config cfg;
        nmt_method_defaults(NMT_METHOD_SDGP, nms[t], &cfg);
        method_layer layer;
        memset(&layer, 0, sizeof layer);
        layer.c_out = channels;
        layer.dy_pruned = 1;
        void *scratch = malloc(method_bw_dy_scratch_bytes(&cfg, &layer, cols));
        nmt_packed packed;
        const nmt_operand got = method_bw_dy(&cfg, &layer, cols, dy, scratch, &packed);
        CHECK(got.packed == &packed && got.dense == NULL, "sdgp hands backward-data a packed dY");
        CHECK(packed.rows == cols && packed.k == channels, "packed dY is %d x %d", packed.rows, packed.k);
        int unordered = 0;
        for (size_t e = 0; e + 1 < nmt_packed_value_count(cols, channels, nms[t]); e++)
            if ((e + 1) % nms[t].n != 0 && packed.index[e] >= packed.index[e + 1]) unordered++;
        CHECK(unordered == 0, "sdgp %d:%d: %d positions out of order", nms[t].n, nms[t].m, unordered);
        nmt_unpack(&packed, out); /* cols x channels */
        int bad_count = 0;
        double worst = 0;
        for (int j = 0; j < cols; j++)
            for (int g = 0; g < channels / nms[t].m; g++) {
                double l1_in = 0, l1_out = 0;
                int kept = 0;
                for (int e = 0; e < nms[t].m; e++) {
                    const float in = dy[(size_t)(g * nms[t].m + e) * cols + j];
                    const float o = out[(size_t)j * channels + g * nms[t].m + e];
                    l1_in += fabs(in);
                    l1_out += fabs(o);
                    kept += o != 0.0f;
                    if (o != 0.0f && o * in < 0.0f) bad_count++; /* a kept value keeps its sign */
                }
                bad_count += kept != nms[t].n;
                if (fabs(l1_in - l1_out) / l1_in > worst) worst = fabs(l1_in - l1_out) / l1_in;
            }
        CHECK(bad_count == 0, "sdgp %d:%d: %d groups keep other than N", nms[t].n, nms[t].m, bad_count);
        CHECK(worst < 1e-6, "sdgp %d:%d: group L1 norm changes by %.2e", nms[t].n, nms[t].m, worst);
        free(scratch);
    }
    free(dy), free(out);
}

/* SR-STE's decay and backward operand read the kept positions off the
 * packed W: refreshed every step they follow W's current top N of each
 * group (nmt_nm_mask), and with --mask-interval > 1 the masks held since
 * the last selection even after W changes. Checked against the mask
 * computed directly, for srste and bdwp; and BDWP's backward operand, packed
 * when backward-data asks for it, against W^T under m_out selected the same
 * way. */
static void decay_follows_the_mask(void)
{
    const nmt_node node = {.op = NMT_OP_CONV, .c_in = 16, .h_in = 4, .w_in = 4, .c_out = 8, .h_out = 4, .w_out = 4,
                           .kh = 3, .kw = 3, .stride = 1, .pad = 1};
    const nmt_nm nm = {2, 8};
    const int count = node.c_out * node.c_in * 9;
    float *w = malloc(sizeof(float) * count), *w_later = malloc(sizeof(float) * count);
    float *dw = malloc(sizeof(float) * count), *w_t = malloc(sizeof(float) * count);
    uint8_t *mask = malloc(count), *mask_out = malloc(count);
    nmt_rng rng;
    nmt_rng_seed(&rng, 9, 0);
    for (int i = 0; i < count; i++) w[i] = nmt_rng_normal(&rng), w_later[i] = nmt_rng_normal(&rng);
    const int k = count / node.c_out;
    nmt_nm_mask((nmt_view){w, node.c_out, k, k, 1}, nm, mask);
    nmt_nm_mask((nmt_view){w, k, node.c_out, 1, k}, nm, mask_out); /* W^T: rows k, groups along c_out */
    const nmt_method_kind kinds[] = {NMT_METHOD_SRSTE, NMT_METHOD_BDWP};
    for (int interval = 1; interval <= 3; interval += 2)
        for (size_t t = 0; t < 2; t++) {
            nmt_method_config cfg;
            nmt_method_defaults(kinds[t], nm, &cfg);
            cfg.mask_interval = interval;
            nmt_arena arena;
            method_layer l;
            if (plan_layer_alone(&cfg, &node, &arena, &l) != 0) {
                CHECK(0, "out of memory planning the layer");
                continue;
            }
            method_layer_refresh(&cfg, &l, w, 1);
            /* held masks: the new weights are gathered under W's mask */
            const float *now = interval > 1 ? w_later : w;
            if (interval > 1) method_layer_refresh(&cfg, &l, w_later, 0);
            memset(dw, 0, sizeof(float) * count);
            method_correct_wg(&cfg, &l, now, dw);
            int wrong = 0;
            for (int i = 0; i < count; i++) wrong += dw[i] != (mask[i] ? 0.0f : cfg.decay * now[i]);
            CHECK(wrong == 0, "%s, mask interval %d: decay wrong at %d of %d weights", nmt_method_name(kinds[t]),
                  interval, wrong, count);
            float *scratch = malloc(sizeof(float) * method_bw_scratch_floats(&l));
            const nmt_operand bw = method_bw_operand(&cfg, &l, now, scratch);
            wrong = 0;
            if (kinds[t] == NMT_METHOD_SRSTE) {
                for (int i = 0; i < count; i++) wrong += bw.dense[i] != (mask[i] ? now[i] : 0.0f);
                CHECK(bw.packed == NULL && wrong == 0, "srste, mask interval %d: W*m_in wrong at %d weights",
                      interval, wrong);
            } else {
                nmt_unpack(bw.packed, w_t); /* row r of W^T: input position r, one group of c_out */
                for (int r = 0; r < k; r++)
                    for (int o = 0; o < node.c_out; o++) {
                        const size_t at = (size_t)r * node.c_out + o;
                        wrong += w_t[at] != (mask_out[at] ? now[(size_t)o * k + r] : 0.0f);
                    }
                CHECK(bw.packed && bw.packed->rows == k && wrong == 0,
                      "bdwp, mask interval %d: packed W^T*m_out wrong at %d weights", interval, wrong);
            }
            free(scratch);
            nmt_arena_free(&arena);
        }
    free(w), free(w_later), free(dw), free(w_t), free(mask), free(mask_out);
}

/* MACs on zero padding, counted by hand: 3x3, pad 1 over 4x4 (stride 1)
 * puts 10 of the 12 taps per axis inside, so 144 - 100 = 44 per channel
 * pair; over 5x5 at stride 2 (3x3 outputs) 2 + 3 + 2 = 7 per axis, so
 * 81 - 49 = 32. Other nodes have none. */
static void padding_macs(void)
{
    nmt_node conv = {.op = NMT_OP_CONV, .c_in = 2, .h_in = 4, .w_in = 4, .c_out = 3, .h_out = 4, .w_out = 4,
                     .kh = 3, .kw = 3, .stride = 1, .pad = 1};
    CHECK(nmt_node_padding_macs(&conv) == 44 * 6, "3x3/1 on 4x4: %lld padding MACs", (long long)nmt_node_padding_macs(&conv));
    conv.h_in = conv.w_in = 5, conv.h_out = conv.w_out = 3, conv.stride = 2;
    CHECK(nmt_node_padding_macs(&conv) == 32 * 6, "3x3/2 on 5x5: %lld padding MACs", (long long)nmt_node_padding_macs(&conv));
    conv.pad = 0, conv.h_out = conv.w_out = 2;
    CHECK(nmt_node_padding_macs(&conv) == 0, "no padding: %lld", (long long)nmt_node_padding_macs(&conv));
    const nmt_node linear = {.op = NMT_OP_LINEAR, .c_in = 8, .h_in = 1, .w_in = 1, .c_out = 4, .h_out = 1, .w_out = 1};
    CHECK(nmt_node_padding_macs(&linear) == 0, "linear: %lld", (long long)nmt_node_padding_macs(&linear));
}

int main(void)
{
    exemptions();
    spec_fractions();
    sdgp_rescale();
    decay_follows_the_mask();
    padding_macs();
    TEST_END("test_method_rules");
}

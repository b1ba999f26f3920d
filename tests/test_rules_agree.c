/* The engine's report (what `nmtrain info` prints) and the simulator's
 * layers (what `nmtrain sim` runs) make the same GEMMs N:M, with the same
 * operand, at the same ratio and with the same executed MACs, for every zoo
 * model, every method, 2:4, 2:8 and 1:8, with and without the classifier
 * exemption, with dense weight gradients and with --grad-nm 1:2 and 2:4.
 * ResNet9 with 8 input channels adds a first layer that passes
 * the divisibility rule (N:M forward, no backward-data). */
#include <string.h>

#include "harness.h"
#include "nmtrain.h"

static int64_t gemm_macs(const nmt_sim_layer *L, int phase)
{
    int64_t macs = 0;
    for (int j = 0; j < L->n_gemm[phase]; j++) {
        const nmt_sim_gemm *g = &L->gemm[phase][j];
        const int sparse = g->nm.m > 0 && g->nm.n < g->nm.m;
        /* a reduction short of whole groups is padded (WG under --grad-nm) */
        macs += g->m * g->n * (sparse ? (g->k + g->nm.m - 1) / g->nm.m * g->nm.n : g->k) * g->count;
    }
    return macs;
}

/* Mismatches between the report and the simulator's layers of one model
 * under one method configuration. */
static int compare(const nmt_model_desc *desc, const nmt_method_config *method, const char *label)
{
    const int batch = 2;
    nmt_layer_report *report = malloc(sizeof *report * (size_t)desc->n_nodes);
    nmt_method_report(desc, method, report);
    nmt_sim_config cfg;
    nmt_sim_config_default(&cfg);
    nmt_sim_options opts;
    nmt_sim_options_default(&opts);
    opts.method = *method;
    nmt_sim_workload wl;
    nmt_sim_layer *layers = NULL;
    int n_layers = 0, bad = 0;
    if (nmt_sim_workload_from_model(desc, batch, &opts, &wl) || nmt_sim_layers(&cfg, &wl, &layers, &n_layers)) {
        CHECK(0, "%s: the simulator refused: %s", label, nmt_errmsg());
        free(report);
        return 1;
    }
    for (int i = 0; i < desc->n_nodes; i++) {
        const nmt_layer_sparsity *rule = &report[i].sparsity;
        const nmt_sim_layer *L = &layers[i];
        if (!rule->is_gemm) continue;
        const int fw = nmt_gemm_is_nm(rule, NMT_GEMM_FW), bw = nmt_gemm_is_nm(rule, NMT_GEMM_BW);
        const nmt_nm wg_nm = L->gemm[NMT_SIM_WG][0].nm;
        const int sim_wg = wg_nm.m > 0 && wg_nm.n < wg_nm.m;
        int wrong = L->sparse_fw != fw || L->sparse_bw != bw || strcmp(L->note, rule->why) != 0;
        wrong += sim_wg != nmt_gemm_is_nm(rule, NMT_GEMM_WG) || (sim_wg && (wg_nm.n != rule->wg_nm.n || wg_nm.m != rule->wg_nm.m));
        for (int j = 0; j < L->n_gemm[NMT_SIM_BW]; j++)
            wrong += L->gemm[NMT_SIM_BW][j].sparse_b != (rule->gemm[NMT_GEMM_BW] == NMT_NM_DY_CHANNELS);
        const nmt_macs run = report[i].executed;
        /* WG: the report counts N/M of the dense MACs per sample; at a batch
         * whose reduction (images x positions) is not whole groups the last
         * group is padded */
        const nmt_sim_gemm *wg = &L->gemm[NMT_SIM_WG][0];
        const int64_t dense_wg = report[i].dense.wg * batch;
        wrong += wg->m * wg->n * wg->k * wg->count != dense_wg;
        const int64_t want_wg = nmt_gemm_is_nm(rule, NMT_GEMM_WG)
                                    ? wg->m * wg->n * ((wg->k + rule->wg_nm.m - 1) / rule->wg_nm.m * rule->wg_nm.n)
                                    : dense_wg;
        if (wg->k % rule->wg_nm.m == 0) wrong += want_wg != run.wg * batch;
        const int64_t want[3] = {run.fw * batch, run.bw * batch, want_wg};
        for (int p = 0; p < 3; p++) wrong += gemm_macs(L, p) != want[p];
        if (wrong) {
            fprintf(stderr, "  %s %s: info says FW %d BW %d (%s), MACs %lld/%lld/%lld; sim says FW %d BW %d (%s), "
                            "MACs %lld/%lld/%lld\n",
                    label, desc->nodes[i].name, fw, bw, rule->why, (long long)want[0], (long long)want[1],
                    (long long)want[2], L->sparse_fw, L->sparse_bw, L->note, (long long)gemm_macs(L, 0),
                    (long long)gemm_macs(L, 1), (long long)gemm_macs(L, 2));
            bad++;
        }
    }
    free(layers);
    nmt_sim_workload_free(&wl);
    free(report);
    return bad;
}

int main(void)
{
    const nmt_nm nms[] = {{2, 4}, {2, 8}, {1, 8}};
    nmt_model_desc *desc = malloc(sizeof *desc);
    const int models = nmt_sim_zoo_count() + 1;
    int cases = 0, sparse_first_forwards = 0;
    for (int z = 0; z < models; z++) {
        char name[64];
        if (z < nmt_sim_zoo_count()) {
            snprintf(name, sizeof name, "%s", nmt_sim_zoo_name(z));
            CHECK(nmt_sim_zoo_describe(name, desc) == 0, "%s: %s", name, nmt_errmsg());
        } else {
            snprintf(name, sizeof name, "resnet9 8x32x32");
            const nmt_model_config mc = {.arch = "resnet9", .width = 1, .in_c = 8, .in_h = 32, .in_w = 32, .classes = 10};
            CHECK(nmt_model_describe(&mc, desc) == 0, "%s: %s", name, nmt_errmsg());
        }
        for (int k = 0; k < NMT_METHOD_COUNT; k++)
            for (size_t t = 0; t < sizeof nms / sizeof nms[0]; t++)
                for (int variant = 0; variant < 6; variant++) {
                    const int classifier = variant & 1, grad = variant >> 1; /* grad: off, 1:2, 2:4 */
                    nmt_method_config method;
                    nmt_method_defaults((nmt_method_kind)k, nms[t], &method);
                    method.sparse_classifier = classifier;
                    if (grad) method.grad_nm = (nmt_nm){grad, 2 * grad};
                    char label[128];
                    snprintf(label, sizeof label, "%s %s %d:%d%s grad-nm %d:%d", name, nmt_method_name(method.kind),
                             nms[t].n, nms[t].m, classifier ? " sparse-classifier" : "", method.grad_nm.n,
                             method.grad_nm.m);
                    const int bad = compare(desc, &method, label);
                    CHECK(bad == 0, "%s: %d layers disagree", label, bad);
                    cases++;
                    nmt_layer_sparsity first;
                    nmt_layer_sparsity_of(&desc->nodes[0], &method, &first);
                    sparse_first_forwards += nmt_gemm_is_nm(&first, NMT_GEMM_FW) && !first.has_bw;
                }
    }
    /* The 8-channel first layer (64 outputs) runs its forward N:M under
     * srste, bdwp and tnm at every ratio, with both classifier settings. */
    CHECK(sparse_first_forwards == 3 * 3 * 6, "%d runs make the first layer's forward N:M", sparse_first_forwards);
    printf("  %d model x method x N:M x exemption cases compared\n", cases);
    free(desc);
    TEST_END("test_rules_agree");
}

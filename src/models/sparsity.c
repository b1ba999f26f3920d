/* The training methods' rules (BDWP spec): names, defaults, and which GEMMs
 * of a layer are N:M. The engine (train/method.c, train/report.c) and the
 * simulator (sim/workload.c) read them from here only. */
#include <stdio.h>
#include <string.h>

#include "nmtrain/core.h"
#include "nmtrain/sparsity.h"

static const char *const method_names[NMT_METHOD_COUNT] = {"dense", "srste", "bdwp", "sdgp", "tnm"};

int nmt_method_parse(const char *name, nmt_method_kind *out)
{
    for (int i = 0; i < NMT_METHOD_COUNT; i++)
        if (name && !strcmp(name, method_names[i])) {
            *out = (nmt_method_kind)i;
            return 0;
        }
    nmt_error("unknown training method '%s' (choose %s)", name ? name : "", nmt_method_names());
    return -1;
}

const char *nmt_method_name(nmt_method_kind kind)
{
    return (kind >= 0 && kind < NMT_METHOD_COUNT) ? method_names[kind] : "?";
}

const char *nmt_method_names(void) { return "dense, srste, bdwp, sdgp, tnm"; }

void nmt_method_defaults(nmt_method_kind kind, nmt_nm nm, nmt_method_config *out)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->nm = nm;
    out->decay = (kind == NMT_METHOD_SRSTE || kind == NMT_METHOD_BDWP) ? 2e-4f : 0.0f;
    out->mask_interval = nmt_method_mask_interval(out);
}

int nmt_method_mask_interval(const nmt_method_config *method)
{
    if (method->mask_interval > 0) return method->mask_interval;
    return method->kind == NMT_METHOD_TNM ? 40 : 1;
}

int nmt_grad_nm_parse(const char *text, nmt_nm *out)
{
    nmt_nm nm;
    if (nmt_nm_parse(text, 0, "weight-gradient N:M", &nm)) return -1;
    if (!((nm.n == 1 && nm.m == 2) || (nm.n == 2 && nm.m == 4))) {
        nmt_error("weight-gradient N:M %d:%d: the unbiased (MVUE) pruning of dY is defined for 1:2 and 2:4", nm.n,
                  nm.m);
        return -1;
    }
    *out = nm;
    return 0;
}

/* WG under grad_nm: dY pruned along the GEMM's reduction (image, position)
 * at each output channel; only an exempt classifier keeps it dense. A
 * reduction that is not a multiple of M is padded with zeros, which the
 * MVUE rule keeps exact, so no layer fails divisibility here. */
static void weight_gradient_rule(const nmt_node *node, const nmt_method_config *method, nmt_layer_sparsity *out)
{
    const nmt_nm g = method->grad_nm;
    if (g.m < 2 || (node->is_classifier && !method->sparse_classifier)) return;
    out->gemm[NMT_GEMM_WG] = NMT_NM_DY_POSITIONS;
    out->wg_nm = g;
    const size_t used = strlen(out->why);
    snprintf(out->why + used, sizeof out->why - used, "; WG dY MVUE %d:%d", g.n, g.m);
}

void nmt_layer_sparsity_of(const nmt_node *node, const nmt_method_config *method, nmt_layer_sparsity *out)
{
    memset(out, 0, sizeof *out);
    out->nm = (nmt_nm){1, 1};
    out->is_gemm = node->op == NMT_OP_CONV || node->op == NMT_OP_LINEAR || node->op == NMT_OP_PATCH_EMBED;
    out->wg_nm = (nmt_nm){1, 1};
    if (node->op == NMT_OP_ATTENTION) /* Q K^T and A V: both operands are activations */
        snprintf(out->why, sizeof out->why, "dense: Q K^T and A V multiply activations");
    if (!out->is_gemm) return;
    out->has_bw = node->input >= 0;
    const nmt_nm nm = method->nm;
    const char *exempt = NULL;
    char ratio[48];
    if (method->kind == NMT_METHOD_DENSE) {
        exempt = "dense method";
    } else if (nm.n < 1 || nm.m < 1 || nm.n >= nm.m) {
        snprintf(ratio, sizeof ratio, "dense (N:M %d:%d)", nm.n, nm.m);
        exempt = ratio;
    } else if (node->is_classifier && !method->sparse_classifier) {
        exempt = "classifier (dense unless sparse_classifier)";
    }
    if (exempt) {
        snprintf(out->why, sizeof out->why, "%s", exempt);
        weight_gradient_rule(node, method, out);
        return;
    }
    out->nm = nm;
    /* Forward groups run along input channels, backward-data's along
     * output channels; a layer with no backward-data needs only the first. */
    const int in_ok = node->c_in % nm.m == 0, out_ok = node->c_out % nm.m == 0, bw = out->has_bw;
    const char *no_bw = "none (fed by the model input)";
    nmt_nm_operand *g = out->gemm;
    switch (method->kind) {
    case NMT_METHOD_SRSTE:
        g[NMT_GEMM_FW] = in_ok ? NMT_NM_W_IN : NMT_NM_NONE;
        out->bw_masked = in_ok && bw;
        out->decays = in_ok && method->decay != 0.0f;
        snprintf(out->why, sizeof out->why, "FW %s, BW %s", in_ok ? "W*m_in" : "dense (Cin % M != 0)",
                 !bw ? no_bw : in_ok ? "W*m_in, not N:M along Cout" : "dense");
        break;
    case NMT_METHOD_BDWP:
        g[NMT_GEMM_FW] = in_ok ? NMT_NM_W_IN : NMT_NM_NONE;
        g[NMT_GEMM_BW] = bw && out_ok ? NMT_NM_W_OUT : NMT_NM_NONE;
        out->decays = in_ok && method->decay != 0.0f;
        snprintf(out->why, sizeof out->why, "FW %s, BW %s", in_ok ? "W*m_in" : "dense (Cin % M != 0)",
                 !bw ? no_bw : out_ok ? "W*m_out" : "dense (Cout % M != 0)");
        break;
    case NMT_METHOD_SDGP:
        g[NMT_GEMM_BW] = bw && out_ok ? NMT_NM_DY_CHANNELS : NMT_NM_NONE;
        snprintf(out->why, sizeof out->why, "FW dense, BW %s",
                 !bw ? no_bw : out_ok ? "dY pruned N:M along Cout" : "dense (Cout % M != 0)");
        break;
    case NMT_METHOD_TNM:
        /* One M x M block mask serves both directions: it needs both. */
        g[NMT_GEMM_FW] = in_ok && out_ok ? NMT_NM_W_T : NMT_NM_NONE;
        g[NMT_GEMM_BW] = bw && in_ok && out_ok ? NMT_NM_W_T : NMT_NM_NONE;
        snprintf(out->why, sizeof out->why, "%s%s",
                 in_ok && out_ok ? "FW and BW W*m_t (transposable)" : "dense (Cin or Cout % M != 0)",
                 bw ? "" : "; no BW (fed by the model input)");
        break;
    default:
        break;
    }
    weight_gradient_rule(node, method, out);
}

nmt_macs nmt_layer_sparsity_macs(const nmt_layer_sparsity *s, nmt_macs dense)
{
    nmt_macs run = dense;
    if (nmt_gemm_is_nm(s, NMT_GEMM_FW)) run.fw = dense.fw / s->nm.m * s->nm.n;
    if (nmt_gemm_is_nm(s, NMT_GEMM_BW)) run.bw = dense.bw / s->nm.m * s->nm.n;
    if (nmt_gemm_is_nm(s, NMT_GEMM_WG)) run.wg = dense.wg / s->wg_nm.m * s->wg_nm.n;
    return run;
}

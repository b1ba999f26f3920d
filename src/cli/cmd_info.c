/* nmtrain info: per-layer shapes, parameters and MACs of the three GEMMs,
 * and what the chosen method makes sparse. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "cli/options.h"

static const char about[] =
    "usage: nmtrain info [options]\n"
    "Prints per-layer output shapes, parameters and MACs per sample of forward (FW), backward-data (BW)\n"
    "and weight-gradient (WG), dense and as executed by the method. Without options: the default job's\n"
    "model (ResNet9 at width 0.25) on Fashion-MNIST's shape.\n";

static double ratio(int64_t executed, int64_t dense)
{
    return dense ? (double)executed / (double)dense : 1.0;
}

int nmt_cmd_info(int argc, char **argv)
{
    cli_options o;
    if (cli_parse(argc, argv, CLI_INFO, about, &o) != 0) return 2;
    if (o.help) return 0;
    nmt_model_config *m = &o.train.model;
    if (o.checkpoint) { /* the checkpoint's model and method */
        if (nmt_run_config_read(o.checkpoint, &o.resumed) != 0) {
            fprintf(stderr, "nmtrain: %s\n", nmt_errmsg());
            return 1;
        }
        o.train.model = o.resumed.train.model;
        o.train.method = o.resumed.train.method;
        o.in_given = 1;
        printf("%s: trained on %s", o.checkpoint, o.resumed.data[0] ? o.resumed.data : "an unrecorded data set");
        if (o.resumed.train.dropout > 0.0f) printf(" with dropout %g", (double)o.resumed.train.dropout);
        printf("\n");
    }
    if (!o.in_given) m->in_c = 1, m->in_h = 28, m->in_w = 28;
    if (!m->classes) m->classes = 10;
    nmt_model_desc *desc = malloc(sizeof *desc);
    nmt_layer_report *report = desc ? malloc(sizeof *report * NMT_MAX_NODES) : NULL;
    if (!report || nmt_model_describe(m, desc) != 0) {
        fprintf(stderr, "nmtrain: %s\n", report ? nmt_errmsg() : "out of memory");
        free(desc), free(report);
        return 1;
    }
    const nmt_method_config *method = &o.train.method;
    nmt_method_report(desc, method, report);
    printf("%s, width %g, input %dx%dx%d, %d classes; method %s", desc->arch, (double)m->width, m->in_c, m->in_h,
           m->in_w, m->classes, nmt_method_name(method->kind));
    if (method->kind != NMT_METHOD_DENSE) printf(" %d:%d", method->nm.n, method->nm.m);
    if (method->grad_nm.m) printf(", weight gradients %d:%d", method->grad_nm.n, method->grad_nm.m);
    printf("\nMACs are per sample; 'exec' is what the method's N:M GEMMs execute; 'WG path' is how the CPU engine\n"
           "runs the weight gradient.\n\n");
    printf("%-24s %-16s %-14s %10s %12s %12s %12s %12s %12s %12s  %-40s %s\n", "layer", "op", "output", "params",
           "FW dense", "FW exec", "BW dense", "BW exec", "WG dense", "WG exec", "WG path", "sparsity");
    int64_t params = 0, padding = 0, winograd = 0;
    nmt_macs dense = {0, 0, 0}, exec = {0, 0, 0};
    for (int i = 0; i < desc->n_nodes; i++) {
        const nmt_node *n = &desc->nodes[i];
        const nmt_layer_report *r = &report[i];
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", n->c_out, n->h_out, n->w_out);
        params += nmt_node_params(n);
        padding += nmt_node_padding_macs(n);
        if (nmt_node_winograd(n)) winograd += r->dense.fw;
        dense.fw += r->dense.fw, dense.bw += r->dense.bw, dense.wg += r->dense.wg;
        exec.fw += r->executed.fw, exec.bw += r->executed.bw, exec.wg += r->executed.wg;
        if (r->dense.fw + r->dense.bw + r->dense.wg == 0) {
            printf("%-24s %-16s %-14s %10lld\n", n->name, nmt_op_name(n->op), shape, (long long)nmt_node_params(n));
            continue;
        }
        printf("%-24s %-16s %-14s %10lld %12lld %12lld %12lld %12lld %12lld %12lld  %-40s %s\n", n->name,
               nmt_op_name(n->op), shape, (long long)nmt_node_params(n), (long long)r->dense.fw,
               (long long)r->executed.fw, (long long)r->dense.bw, (long long)r->executed.bw, (long long)r->dense.wg,
               (long long)r->executed.wg, r->wg_path, r->sparsity.why);
    }
    const int64_t total_dense = dense.fw + dense.bw + dense.wg, total_exec = exec.fw + exec.bw + exec.wg;
    printf("\ntotal: %lld parameters\n", (long long)params);
    printf("MACs per sample      %14s %14s %8s\n", "dense", "executed", "ratio");
    printf("  forward            %14lld %14lld %8.3f\n", (long long)dense.fw, (long long)exec.fw, ratio(exec.fw, dense.fw));
    printf("  backward-data      %14lld %14lld %8.3f\n", (long long)dense.bw, (long long)exec.bw, ratio(exec.bw, dense.bw));
    printf("  weight-gradient    %14lld %14lld %8.3f\n", (long long)dense.wg, (long long)exec.wg, ratio(exec.wg, dense.wg));
    printf("  training step      %14lld %14lld %8.3f  (ideal speedup %.2fx)\n", (long long)total_dense,
           (long long)total_exec, ratio(total_exec, total_dense), 1.0 / ratio(total_exec, total_dense));
    printf("  on zero padding    %14lld %14s %8.3f  of the dense forward: lowered GEMMs multiply them, in all "
           "three GEMMs\n", (long long)padding, "", ratio(padding, dense.fw));
    printf("  Winograd layers    %14lld %14s %8.3f  of the dense forward: 3x3 'same' convolutions whose dense GEMMs "
           "(every weight gradient) run Winograd F(2x2,3x3), 4/9 of these MACs%s\n",
           (long long)winograd, "", ratio(winograd, dense.fw), nmt_conv_winograd() ? "" : " (off: NMTRAIN_WINOGRAD=0)");
    if (method->kind != NMT_METHOD_DENSE || method->grad_nm.m) {
        const double nm = method->kind == NMT_METHOD_DENSE ? 1.0 : (double)method->nm.n / method->nm.m;
        const double wg = method->grad_nm.m ? (double)method->grad_nm.n / method->grad_nm.m : 1.0;
        const int both = method->kind == NMT_METHOD_BDWP || method->kind == NMT_METHOD_TNM;
        printf("  spec formula, all three GEMMs equal and every layer sparse: %.3f\n",
               (both ? 2 * nm + wg : nm + 1 + wg) / 3);
    }
    free(desc), free(report);
    return 0;
}

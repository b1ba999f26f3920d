/* Per-layer method report: the method's rule for each node and the MACs it
 * executes. */
#include <stdio.h>
#include <string.h>

#include "layers/layers.h"
#include "nmtrain/train.h"

void nmt_method_report(const nmt_model_desc *desc, const nmt_method_config *method, nmt_layer_report *out)
{
    for (int i = 0; i < desc->n_nodes; i++) {
        const nmt_node *node = &desc->nodes[i];
        nmt_layer_report *r = &out[i];
        nmt_layer_sparsity_of(node, method, &r->sparsity);
        r->dense = nmt_node_macs(node);
        r->executed = nmt_layer_sparsity_macs(&r->sparsity, r->dense);
        r->wg_path[0] = 0;
        if (!r->sparsity.is_gemm || node->op == NMT_OP_PATCH_EMBED) continue;
        /* The engine's plan at one image: the paths do not depend on the batch. */
        const nmt_layer_sparsity *rule = &r->sparsity;
        nmt_conv_shape s = {node->c_in, 1, node->h_in, node->w_in, 1, 1, 1, 0, node->h_out, node->w_out};
        if (node->op == NMT_OP_CONV) s.kh = node->kh, s.kw = node->kw, s.stride = node->stride, s.pad = node->pad;
        conv_plan plan;
        conv_plan_make(&s, node->c_out, conv_operands_of(rule), &plan);
        snprintf(r->wg_path, sizeof r->wg_path, "%s%s", conv_path_name(plan.wg),
                 plan.wg == CONV_PATH_NM_WG ? " (MVUE-pruned dY, 1:2 packed)" : "");
    }
}

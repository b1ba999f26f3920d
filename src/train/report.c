/* Per-layer method report: sparse directions and executed MACs. */
#include <string.h>

#include "train/method.h"

void nmt_method_report(const nmt_model_desc *desc, const nmt_method_config *method, nmt_layer_report *out)
{
    int first_gemm = 1;
    for (int i = 0; i < desc->n_nodes; i++) {
        const nmt_node *node = &desc->nodes[i];
        nmt_layer_report *r = &out[i];
        memset(r, 0, sizeof *r);
        r->dense = r->executed = nmt_node_macs(node);
        if (node->op != NMT_OP_CONV && node->op != NMT_OP_LINEAR) continue;
        nmt_arena measure;
        nmt_arena_init(&measure, 0);
        method_layer layer;
        method_layer_plan(method, node, first_gemm, &measure, &layer);
        first_gemm = 0;
        r->fw_sparse = layer.fw_sparse;
        r->bw_sparse = layer.bw_sparse;
        r->dy_pruned = layer.dy_pruned;
        memcpy(r->why, layer.why, sizeof r->why);
        const nmt_nm nm = method->nm;
        if (r->fw_sparse) r->executed.fw = r->dense.fw / nm.m * nm.n;
        if (r->bw_sparse || r->dy_pruned) r->executed.bw = r->dense.bw / nm.m * nm.n;
    }
}

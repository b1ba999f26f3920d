/* Per-layer method report: the method's rule for each node and the MACs it
 * executes. */
#include <string.h>

#include "nmtrain/train.h"

void nmt_method_report(const nmt_model_desc *desc, const nmt_method_config *method, nmt_layer_report *out)
{
    for (int i = 0; i < desc->n_nodes; i++) {
        const nmt_node *node = &desc->nodes[i];
        nmt_layer_report *r = &out[i];
        nmt_layer_sparsity_of(node, method, &r->sparsity);
        r->dense = nmt_node_macs(node);
        r->executed = nmt_layer_sparsity_macs(&r->sparsity, r->dense);
    }
}

/* SGD with momentum, PyTorch semantics (torch.optim.SGD, dampening 0):
 *   g = grad + wd * w;  buf = momentum * buf + g;  step = nesterov ? g + momentum * buf : buf;
 *   w -= lr * step.
 * The momentum buffer starts at zero, which equals PyTorch's first-step copy. */
#include "nmtrain/train.h"

void nmt_sgd_step(nmt_net *net, const nmt_sgd_config *cfg, float lr)
{
    const int count = nmt_net_param_count(net);
    for (int i = 0; i < count; i++) {
        nmt_param *p = nmt_net_param(net, i);
        if (p->is_buffer) continue;
        const float wd = (p->no_decay && !cfg->decay_bn_and_bias) ? 0.0f : cfg->weight_decay;
        const float mu = cfg->momentum;
        float *w = p->data, *buf = p->momentum;
        const float *grad = p->grad;
        const int nesterov = cfg->nesterov;
#pragma omp parallel for simd schedule(static) if (p->count > 65536)
        for (int64_t j = 0; j < p->count; j++) {
            const float g = grad[j] + wd * w[j];
            buf[j] = mu * buf[j] + g;
            w[j] -= lr * (nesterov ? g + mu * buf[j] : buf[j]);
        }
    }
}

/* AdamW with torch.optim.AdamW's arithmetic (the single-tensor path):
 *   w *= 1 - lr * wd
 *   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
 *   w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * The scalars are computed in double, as PyTorch does in Python, and
 * rounded to float once. m lives in the parameter's momentum buffer. */
#include <math.h>
#include <string.h>

#include "nmtrain/core.h"
#include "nmtrain/train.h"

int nmt_optimizer_parse(const char *name, nmt_optimizer_kind *out)
{
    if (name && !strcmp(name, "sgd")) *out = NMT_OPT_SGD;
    else if (name && !strcmp(name, "adamw")) *out = NMT_OPT_ADAMW;
    else {
        nmt_error("--optimizer: unknown optimizer '%s' (choose sgd or adamw)", name ? name : "");
        return -1;
    }
    return 0;
}

void nmt_adamw_step(nmt_net *net, const nmt_adamw_config *cfg, float lr, int64_t step)
{
    const double t = (double)(step + 1);
    const double correction1 = 1.0 - pow(cfg->beta1, t), correction2 = 1.0 - pow(cfg->beta2, t);
    const float step_size = (float)((double)lr / correction1), correction2_sqrt = (float)sqrt(correction2);
    const float beta1 = (float)cfg->beta1, beta2 = (float)cfg->beta2, eps = (float)cfg->eps;
    const float keep1 = (float)(1.0 - cfg->beta1), keep2 = (float)(1.0 - cfg->beta2);
    const int count = nmt_net_param_count(net);
    for (int i = 0; i < count; i++) {
        nmt_param *p = nmt_net_param(net, i);
        if (p->is_buffer) continue;
        const double wd = (p->no_decay && !cfg->decay_bn_and_bias) ? 0.0 : cfg->weight_decay;
        const float shrink = (float)(1.0 - (double)lr * wd);
        float *w = p->data, *m = p->momentum, *v = p->exp_avg_sq;
        const float *grad = p->grad;
#pragma omp parallel for simd schedule(static) if (p->count > 65536)
        for (int64_t j = 0; j < p->count; j++) {
            const float g = grad[j];
            w[j] *= shrink;
            m[j] = m[j] * beta1 + g * keep1;
            v[j] = v[j] * beta2 + keep2 * g * g;
            w[j] += -step_size * (m[j] / (sqrtf(v[j]) / correction2_sqrt + eps));
        }
    }
}

/* A whole small ResNet9 against PyTorch: the weights come in through the
 * checkpoint loader (a PyTorch state_dict), then one step's logits and every
 * parameter gradient, the losses of 10 SGD steps (momentum, Nesterov, weight
 * decay, label smoothing) and the final weights and running statistics. */
#include <string.h>

#include "harness.h"
#include "fixture.h"

#define INIT "tests/fixtures/resnet9_init.safetensors"
#define STEPS "tests/fixtures/resnet9_steps.safetensors"

/* Max error of every parameter's `field` (grad or data), in PyTorch layout,
 * against the fixture tensors "<prefix><name>"; names the worst. */
static double worst_param_error(nmt_net *net, const nmt_safetensors *st, const char *prefix, int grads,
                                const char **worst_name)
{
    const char *worst_name = "";
    const double worst = worst_param_error(net, &st, "final.", 0, &worst_name);
    printf("  %-40s max err %.3e (tol 1e-04) at %s\n", "weights + running stats after 10 steps", worst, worst_name);
    CHECK(worst <= 1e-4, "final state off by %.3e", worst);
    free(x);
    nmt_st_free(&st);
    nmt_net_free(net);
    TEST_END("test_ref_resnet9");
}

/* VGG19 with batch norm, CIFAR variant: torchvision's vgg19_bn feature stack
 * (same module indices) and a single linear classifier. */
#include <stdio.h>

#include "models/builder.h"
#include "models/models.h"

int nmt_describe_vgg19(const nmt_model_config *cfg, nmt_model_desc *out)
{
    static const int layout[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0,
                                 512, 512, 512, 512, 0, 512, 512, 512, 512, 0};
    model_builder b;
    builder_start(&b, out, cfg, "vgg19");
    int x = -1, index = 0;
    char n1[NMT_NAME_MAX], n2[NMT_NAME_MAX], n3[NMT_NAME_MAX];
    for (size_t i = 0; i < sizeof layout / sizeof layout[0]; i++) {
        if (layout[i] == 0) {
            snprintf(n1, sizeof n1, "features.%d", index++);
            x = builder_pool(&b, NMT_OP_MAXPOOL, n1, x, 2, 2, 0);
            continue;
        }
        snprintf(n1, sizeof n1, "features.%d", index);
        snprintf(n2, sizeof n2, "features.%d", index + 1);
        snprintf(n3, sizeof n3, "features.%d", index + 2);
        index += 3;
        x = builder_conv_bn_relu(&b, n1, n2, n3, x, builder_width(cfg->width, layout[i]), 3, 1, 1, 1);
    }
    x = builder_unary(&b, NMT_OP_FLATTEN, "flatten", x);
    builder_linear(&b, "classifier", x, cfg->classes, 1);
    return builder_finish(&b);
}

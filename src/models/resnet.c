/* ResNet9 (the DAWNBench CIFAR-10 network), ResNet18 and ResNet50, named as
 * the matching PyTorch modules (tests/ref/models.py; torchvision for 18/50). */
#include <stdio.h>

#include "models/builder.h"
#include "models/models.h"

/* ResNet9: prep, layer1 + res1, layer2, layer3 + res3, max pool, fc, x0.125. */
int nmt_describe_resnet9(const nmt_model_config *cfg, nmt_model_desc *out)
{
    model_builder b;
    builder_start(&b, out, cfg, "resnet9");
    const float w = cfg->width;
    int x = builder_conv_bn_relu(&b, "prep.0", "prep.1", "prep.2", -1, builder_width(w, 64), 3, 1, 1, 0);
    static const struct { const char *name; int channels; int residual; } stages[] = {
        {"layer1", 128, 1}, {"layer2", 256, 0}, {"layer3", 512, 1}};
    for (int s = 0; s < 3; s++) {
        char conv[NMT_NAME_MAX], bn[NMT_NAME_MAX], relu[NMT_NAME_MAX], pool[NMT_NAME_MAX];
        const int c = builder_width(w, stages[s].channels);
        snprintf(conv, sizeof conv, "%s.0", stages[s].name);
        snprintf(bn, sizeof bn, "%s.1", stages[s].name);
        snprintf(relu, sizeof relu, "%s.2", stages[s].name);
        snprintf(pool, sizeof pool, "%s.3", stages[s].name);
        x = builder_conv_bn_relu(&b, conv, bn, relu, x, c, 3, 1, 1, 0);
        x = builder_pool(&b, NMT_OP_MAXPOOL, pool, x, 2, 2, 0);
        if (!stages[s].residual) continue;
        const int shortcut = x;
        for (int r = 0; r < 2; r++) {
            snprintf(conv, sizeof conv, "res%d.%d.0", s + 1, r);
            snprintf(bn, sizeof bn, "res%d.%d.1", s + 1, r);
            snprintf(relu, sizeof relu, "res%d.%d.2", s + 1, r);
            x = builder_conv_bn_relu(&b, conv, bn, relu, x, c, 3, 1, 1, 0);
        }
        snprintf(conv, sizeof conv, "res%d.add", s + 1);
        x = builder_add(&b, conv, x, shortcut);
    }
    x = builder_pool(&b, NMT_OP_ADAPTIVE_MAXPOOL, "pool", x, 1, 0, 0);
    x = builder_unary(&b, NMT_OP_FLATTEN, "flatten", x);
    x = builder_linear(&b, "fc", x, cfg->classes, 0);
    builder_scale(&b, "scale", x, 0.125f);
    return builder_finish(&b);
}

static int stem(model_builder *b, const nmt_model_config *cfg)
{
    const int c = builder_width(cfg->width, 64);
    if (!cfg->imagenet_stem) return builder_conv_bn_relu(b, "conv1", "bn1", "relu", -1, c, 3, 1, 1, 0);
    int x = builder_conv_bn_relu(b, "conv1", "bn1", "relu", -1, c, 7, 2, 3, 0);
    return builder_pool(b, NMT_OP_MAXPOOL, "maxpool", x, 3, 2, 1);
}

/* One residual block of torchvision's BasicBlock (bottleneck = 0) or
 * Bottleneck (bottleneck = 1, stride on the 3x3 conv as in ResNet v1.5). */
static int block(model_builder *b, const char *prefix, int x, int planes, int stride, int bottleneck)
{
    char n1[NMT_NAME_MAX], n2[NMT_NAME_MAX], n3[NMT_NAME_MAX];
    int c_in, h, w;
    builder_shape(b, x, &c_in, &h, &w);
    const int c_out = bottleneck ? planes * 4 : planes;
    int y = x;
    const int convs = bottleneck ? 3 : 2;
    for (int i = 1; i <= convs; i++) {
        const int k = bottleneck ? (i == 2 ? 3 : 1) : 3;
        const int s = (bottleneck ? i == 2 : i == 1) ? stride : 1;
        const int c = i == convs ? c_out : planes;
        snprintf(n1, sizeof n1, "%.40s.conv%d", prefix, i);
        snprintf(n2, sizeof n2, "%.40s.bn%d", prefix, i);
        y = builder_conv(b, n1, y, c, k, s, k / 2, 0);
        y = builder_unary(b, NMT_OP_BATCHNORM, n2, y);
        if (i < convs) {
            snprintf(n3, sizeof n3, "%.40s.relu%d", prefix, i);
            y = builder_unary(b, NMT_OP_RELU, n3, y);
        }
    }
    int shortcut = x;
    if (stride != 1 || c_in != c_out) {
        snprintf(n1, sizeof n1, "%.40s.downsample.0", prefix);
        snprintf(n2, sizeof n2, "%.40s.downsample.1", prefix);
        shortcut = builder_conv(b, n1, x, c_out, 1, stride, 0, 0);
        shortcut = builder_unary(b, NMT_OP_BATCHNORM, n2, shortcut);
    }
    snprintf(n1, sizeof n1, "%.40s.add", prefix);
    snprintf(n3, sizeof n3, "%.40s.relu", prefix);
    y = builder_add(b, n1, y, shortcut);
    return builder_unary(b, NMT_OP_RELU, n3, y);
}

static int resnet(const nmt_model_config *cfg, nmt_model_desc *out, const char *arch,
                  const int blocks[4], int bottleneck)
{
    model_builder b;
    builder_start(&b, out, cfg, arch);
    int x = stem(&b, cfg);
    for (int s = 0; s < 4; s++) {
        const int planes = builder_width(cfg->width, 64 << s);
        for (int i = 0; i < blocks[s]; i++) {
            char prefix[NMT_NAME_MAX];
            snprintf(prefix, sizeof prefix, "layer%d.%d", s + 1, i);
            x = block(&b, prefix, x, planes, (i == 0 && s > 0) ? 2 : 1, bottleneck);
        }
    }
    x = builder_unary(&b, NMT_OP_AVGPOOL, "avgpool", x);
    x = builder_unary(&b, NMT_OP_FLATTEN, "flatten", x);
    builder_linear(&b, "fc", x, cfg->classes, 1);
    return builder_finish(&b);
}

int nmt_describe_resnet18(const nmt_model_config *cfg, nmt_model_desc *out)
{
    static const int blocks[4] = {2, 2, 2, 2};
    return resnet(cfg, out, "resnet18", blocks, 0);
}

int nmt_describe_resnet50(const nmt_model_config *cfg, nmt_model_desc *out)
{
    static const int blocks[4] = {3, 4, 6, 3};
    return resnet(cfg, out, "resnet50", blocks, 1);
}

/* The convolution shapes the benchmarks time: every sparse-eligible layer of
 * ResNet9, ResNet18 and ResNet50 (CIFAR stem) on 32x32 inputs, each with how
 * many layers of its model have it, so a per-shape time weighted by `count`
 * sums to the model's. Shared by bench_gemm and bench_onednn. */
#ifndef NMT_BENCH_LAYERS_H
#define NMT_BENCH_LAYERS_H

typedef struct conv_layer {
    const char *model, *name;
    int cin, cout, ksize, stride, out_hw; /* output spatial size (square) */
    int count;                    /* layers of this shape in the model */
    int quick;                    /* part of the --quick subset */
} conv_layer;

/* Every sparse-eligible convolution shape (the stem, Cin = 3, stays dense). */
static const conv_layer layers[] = {
    {"resnet9", "layer1.0", 64, 128, 3, 1, 32, 1, 1},
    {"resnet9", "res1.*", 128, 128, 3, 1, 16, 2, 0},
    {"resnet9", "layer2.0", 128, 256, 3, 1, 16, 1, 0},
    {"resnet9", "layer3.0", 256, 512, 3, 1, 8, 1, 0},
    {"resnet9", "res3.*", 512, 512, 3, 1, 4, 2, 1},
    {"resnet18", "layer1.*", 64, 64, 3, 1, 32, 4, 0},
    {"resnet18", "layer2.0.conv1", 64, 128, 3, 2, 16, 1, 0},
    {"resnet18", "layer2.*", 128, 128, 3, 1, 16, 3, 1},
    {"resnet18", "layer2.0.down", 64, 128, 1, 2, 16, 1, 0},
    {"resnet18", "layer3.0.conv1", 128, 256, 3, 2, 8, 1, 0},
    {"resnet18", "layer3.*", 256, 256, 3, 1, 8, 3, 0},
    {"resnet18", "layer3.0.down", 128, 256, 1, 2, 8, 1, 0},
    {"resnet18", "layer4.0.conv1", 256, 512, 3, 2, 4, 1, 0},
    {"resnet18", "layer4.*", 512, 512, 3, 1, 4, 3, 1},
    {"resnet18", "layer4.0.down", 256, 512, 1, 2, 4, 1, 0},
};
#define LAYER_COUNT (int)(sizeof layers / sizeof layers[0])

/* ResNet50 with the CIFAR stem at 32x32 (torchvision's v1.5 blocks: the
 * stride on the 3x3): its bottleneck shapes, whose 1x1 layers have no
 * Winograd to compete with. */
static const conv_layer resnet50_layers[] = {
    {"resnet50", "layer1.0.conv1", 64, 64, 1, 1, 32, 1, 1},
    {"resnet50", "layer1.*.conv1", 256, 64, 1, 1, 32, 2, 0},
    {"resnet50", "layer1.*.conv2", 64, 64, 3, 1, 32, 3, 1},
    {"resnet50", "layer1.*.conv3", 64, 256, 1, 1, 32, 4, 1},
    {"resnet50", "layer2.0.conv1", 256, 128, 1, 1, 32, 1, 0},
    {"resnet50", "layer2.0.conv2", 128, 128, 3, 2, 16, 1, 0},
    {"resnet50", "layer2.*.conv1", 512, 128, 1, 1, 16, 3, 0},
    {"resnet50", "layer2.*.conv2", 128, 128, 3, 1, 16, 3, 0},
    {"resnet50", "layer2.*.conv3", 128, 512, 1, 1, 16, 4, 0},
    {"resnet50", "layer2.0.down", 256, 512, 1, 2, 16, 1, 0},
    {"resnet50", "layer3.0.conv1", 512, 256, 1, 1, 16, 1, 0},
    {"resnet50", "layer3.0.conv2", 256, 256, 3, 2, 8, 1, 0},
    {"resnet50", "layer3.*.conv1", 1024, 256, 1, 1, 8, 5, 0},
    {"resnet50", "layer3.*.conv2", 256, 256, 3, 1, 8, 5, 0},
    {"resnet50", "layer3.*.conv3", 256, 1024, 1, 1, 8, 6, 0},
    {"resnet50", "layer3.0.down", 512, 1024, 1, 2, 8, 1, 0},
    {"resnet50", "layer4.0.conv1", 1024, 512, 1, 1, 8, 1, 0},
    {"resnet50", "layer4.0.conv2", 512, 512, 3, 2, 4, 1, 0},
    {"resnet50", "layer4.*.conv1", 2048, 512, 1, 1, 4, 2, 0},
    {"resnet50", "layer4.*.conv2", 512, 512, 3, 1, 4, 2, 0},
    {"resnet50", "layer4.*.conv3", 512, 2048, 1, 1, 4, 3, 0},
    {"resnet50", "layer4.0.down", 1024, 2048, 1, 2, 4, 1, 0},
};
#define RESNET50_LAYER_COUNT (int)(sizeof resnet50_layers / sizeof resnet50_layers[0])

#endif

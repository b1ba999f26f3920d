"""PyTorch reference for nmtrain: the models the engine builds, with the
same module names, so state_dicts move both ways and gradients can be
compared tensor by tensor. Uses only Debian's python3-torch."""
import torch
import torch.nn as nn


def width(c, w):
    return max(1, int(round(c * w)))


def conv_bn_relu(cin, cout, k=3, stride=1, pad=1, bias=False):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, bias=bias), nn.BatchNorm2d(cout), nn.ReLU())


class Scale(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x * self.s


class ResNet9(nn.Module):
    """The DAWNBench CIFAR-10 ResNet9 (Page), as nmtrain's models/resnet.c."""

    def __init__(self, in_c=3, classes=10, w=1.0):
        super().__init__()
        c = [width(x, w) for x in (64, 128, 256, 512)]
        self.prep = conv_bn_relu(in_c, c[0])
        self.layer1 = nn.Sequential(*conv_bn_relu(c[0], c[1]), nn.MaxPool2d(2))
        self.res1 = nn.Sequential(conv_bn_relu(c[1], c[1]), conv_bn_relu(c[1], c[1]))
        self.layer2 = nn.Sequential(*conv_bn_relu(c[1], c[2]), nn.MaxPool2d(2))
        self.layer3 = nn.Sequential(*conv_bn_relu(c[2], c[3]), nn.MaxPool2d(2))
        self.res3 = nn.Sequential(conv_bn_relu(c[3], c[3]), conv_bn_relu(c[3], c[3]))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(c[3], classes, bias=False)
        self.scale = Scale(0.125)

    def forward(self, x):
        x = self.prep(x)
        x = self.layer1(x)
        x = x + self.res1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = x + self.res3(x)
        x = torch.flatten(self.pool(x), 1)
        return self.scale(self.fc(x))


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, 0, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet18(nn.Module):
    """torchvision's ResNet18 names, CIFAR stem (3x3/1, no max pool)."""

    def __init__(self, in_c=3, classes=10, w=1.0):
        super().__init__()
        c = [width(x, w) for x in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(in_c, c[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0])
        self.relu = nn.ReLU()
        cin = c[0]
        for s in range(4):
            blocks = [BasicBlock(cin, c[s], 1 if s == 0 else 2), BasicBlock(c[s], c[s], 1)]
            cin = c[s]
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for s in range(4):
            x = getattr(self, "layer%d" % (s + 1))(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class VGG19(nn.Module):
    """torchvision's vgg19_bn feature indices, CIFAR classifier (one linear)."""

    LAYOUT = (64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0)

    def __init__(self, in_c=3, classes=10, w=1.0):
        super().__init__()
        layers, cin = [], in_c
        for c in self.LAYOUT:
            if c == 0:
                layers.append(nn.MaxPool2d(2))
            else:
                c = width(c, w)
                layers += [nn.Conv2d(cin, c, 3, 1, 1), nn.BatchNorm2d(c), nn.ReLU()]
                cin = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def build(arch, in_c, classes, w):
    return {"resnet9": ResNet9, "resnet18": ResNet18, "vgg19": VGG19}[arch](in_c, classes, w)


def init_like_nmtrain(model, gen):
    """Deterministic weights for fixtures: uniform(-1/sqrt(fan_in), ...) from
    a seeded generator, BN gamma/beta perturbed so their gradients matter."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                bound = fan_in ** -0.5
                m.weight.copy_((torch.rand(m.weight.shape, generator=gen) * 2 - 1) * bound)
                if m.bias is not None:
                    m.bias.copy_((torch.rand(m.bias.shape, generator=gen) * 2 - 1) * bound)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))

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


class PatchEmbed(nn.Module):
    def __init__(self, in_c, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(in_c, dim, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class AttentionCore(nn.Module):
    """softmax(Q K^T / sqrt(d)) V per head, timm's qkv feature order."""

    def __init__(self, heads):
        super().__init__()
        self.heads = heads

    def forward(self, qkv):
        B, N, C3 = qkv.shape
        C = C3 // 3
        q, k, v = qkv.reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q @ k.transpose(-2, -1)) * (C // self.heads) ** -0.5).softmax(dim=-1)
        return (attn @ v).transpose(1, 2).reshape(B, N, C)


class Attention(nn.Module):
    def __init__(self, dim, heads, drop=0.0):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.core = AttentionCore(heads)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(drop)

    def forward(self, x):
        return self.proj_drop(self.proj(self.core(self.qkv(x))))


class Mlp(nn.Module):
    def __init__(self, dim, hidden, drop=0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x):
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp, drop=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, drop)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp, drop)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """timm's VisionTransformer (class token, learned position embedding,
    pre-norm blocks, LayerNorm eps 1e-6, class-token pooling) with timm's
    state_dict names, as nmtrain's models/vit.c. drop_rate puts timm's
    nn.Dropout modules where timm has them (pos_drop, attn.proj_drop,
    mlp.drop1, mlp.drop2; see DROPOUT_SITES)."""

    def __init__(self, in_c=3, classes=10, img=32, patch=4, dim=192, depth=6, heads=3, mlp=384, drop_rate=0.0):
        super().__init__()
        self.patch_embed = PatchEmbed(in_c, dim, patch)
        tokens = (img // patch) ** 2 + 1
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, dim))
        self.pos_drop = nn.Dropout(drop_rate)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp, drop_rate) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x)
        x = self.pos_drop(torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def dropout_site(module_name):
    """The nmtrain node (src/models/vit.c) whose output a ViT dropout module
    drops: pos_drop -> patch_embed, blocks.i.attn.proj_drop ->
    blocks.i.attn.proj, blocks.i.mlp.drop1 -> blocks.i.mlp.act,
    blocks.i.mlp.drop2 -> blocks.i.mlp.fc2."""
    if module_name == "pos_drop":
        return "patch_embed"
    prefix, leaf = module_name.rsplit(".", 1)
    return prefix + {"proj_drop": ".proj", "drop1": ".act", "drop2": ".fc2"}[leaf]


def vit_no_decay(name):
    """timm's rule: no weight decay on biases, norms, cls_token, pos_embed."""
    return name.endswith(".bias") or ".norm" in name or name.startswith("norm.") or name in ("cls_token", "pos_embed")


def build(arch, in_c, classes, w, img=32):
    """The zoo's models; the ViT at nmtrain's default shape (no width)."""
    if arch == "vit":
        return ViT(in_c, classes, img)
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
            elif isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
            elif isinstance(m, ViT):
                m.cls_token.copy_(0.02 * torch.randn(m.cls_token.shape, generator=gen))
                m.pos_embed.copy_(0.02 * torch.randn(m.pos_embed.shape, generator=gen))

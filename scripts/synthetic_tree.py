#!/usr/bin/python3
"""Writes a synthetic image-folder tree shaped like Tiny ImageNet or ImageNet,
to time the zoo recipes where the real data sets are not at hand.

  scripts/synthetic_tree.py tinyimagenet ROOT [IMAGES_PER_CLASS]   (default 4)
      200 classes: train/<wnid>/images/*.JPEG of 64x64, val/images/ with
      val/val_annotations.txt (one image per class), as shipped
  scripts/synthetic_tree.py imagenet ROOT [IMAGES_PER_CLASS]       (default 1)
      1000 classes: train/<wnid>/*.JPEG of 500x375 (ImageNet's commonest
      size), val/<wnid>/ for the first 10 classes

Images are smooth random colour fields plus noise, JPEG quality 90 for Tiny
ImageNet and 75 for ImageNet: files of about 2.8 KB (as Tiny ImageNet's) and
53 KB (ImageNet's average is about twice that; decoding is a small part of a
ResNet50 step either way). Needs Debian's python3-pil and python3-numpy.
"""
import os
import sys

import numpy as np
from PIL import Image


def image(rng, width, height):
    field = rng.integers(0, 256, (height // 25 + 2, width // 25 + 2, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(field).resize((width, height), Image.BICUBIC), dtype=np.float32)
    noisy = smooth + rng.normal(0.0, 18.0, smooth.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ("tinyimagenet", "imagenet"):
        sys.exit(__doc__)
    kind, root = sys.argv[1], sys.argv[2]
    tiny = kind == "tinyimagenet"
    per_class = int(sys.argv[3]) if len(sys.argv) == 4 else (4 if tiny else 1)
    classes, (width, height), quality = (200, (64, 64), 90) if tiny else (1000, (500, 375), 75)
    rng = np.random.default_rng(0)
    wnids = ["n%08d" % (1000000 + c) for c in range(classes)]
    annotations = []
    for c, wnid in enumerate(wnids):
        folder = os.path.join(root, "train", wnid, "images" if tiny else "")
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            image(rng, width, height).save(os.path.join(folder, "%s_%d.JPEG" % (wnid, i)), quality=quality)
        if tiny:
            annotations.append("val_%d.JPEG\t%s\t0\t0\t%d\t%d\n" % (c, wnid, width - 1, height - 1))
            os.makedirs(os.path.join(root, "val", "images"), exist_ok=True)
            image(rng, width, height).save(os.path.join(root, "val", "images", "val_%d.JPEG" % c), quality=quality)
        elif c < 10:
            os.makedirs(os.path.join(root, "val", wnid), exist_ok=True)
            image(rng, width, height).save(os.path.join(root, "val", wnid, "%s_val.JPEG" % wnid), quality=quality)
    if tiny:
        with open(os.path.join(root, "val", "val_annotations.txt"), "w") as f:
            f.writelines(annotations)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference for the image-folder loader, from PIL (Debian's python3-pil)
and torchvision (python3-torchvision).

    image_ref.py manifest MANIFEST   run each line of MANIFEST, written by
                                     tests/test_images.c, with PIL:
        decode PATH DENOM OUT
            PIL's decode (draft() to 1/DENOM when DENOM > 1), convert("RGB")
        sample PATH DENOM RX0 RY0 RX1 RY1 B0 B1 B2 B3 RW RH WX WY WW WH FLIP OUT
            the same, then crop(region).resize((RW, RH), BILINEAR, box),
            the window WX WY WW WH of it, mirrored when FLIP: torchvision's
            RandomResizedCrop + flip, or Resize + CenterCrop, on PIL images
        Each OUT gets "W H\\n" then W*H*3 bytes of RGB.
    image_ref.py crops OUT           torchvision's RandomResizedCrop.get_params
                                     on fixed seeds, with the random draws it
                                     made, for tests/fixtures/rrc_params.txt
"""
import math
import sys


def run_manifest(path):
    from PIL import Image

    for line in open(path):
        f = line.split()
        if not f:
            continue
        kind, image_path, denom = f[0], f[1], int(f[2])
        im = Image.open(image_path)
        if denom > 1:
            w, h = im.size
            im.draft("RGB", (w // denom, h // denom))
            want = ((w + denom - 1) // denom, (h + denom - 1) // denom)
            if im.size != want:
                raise SystemExit("%s: draft gave %s, expected %s" % (image_path, im.size, want))
        im = im.convert("RGB")
        if kind == "sample":
            rx0, ry0, rx1, ry1 = (int(v) for v in f[3:7])
            box = tuple(float(v) for v in f[7:11])
            rw, rh, wx, wy, ww, wh, flip = (int(v) for v in f[11:18])
            if (rx0, ry0, rx1, ry1) != (0, 0) + im.size:
                im = im.crop((rx0, ry0, rx1, ry1))
            im = im.resize((rw, rh), Image.BILINEAR, box=box)
            im = im.crop((wx, wy, wx + ww, wy + wh))
            if flip:
                im = im.transpose(Image.FLIP_LEFT_RIGHT)
        out = f[-1]
        with open(out, "wb") as o:
            o.write(b"%d %d\n" % im.size)
            o.write(im.tobytes())


def write_crops(out_path):
    """get_params with its draws recorded: uniform_ values and randint
    results, in the order torchvision makes them."""
    import torch
    from torchvision import transforms

    draws = []
    real_uniform, real_randint = torch.Tensor.uniform_, torch.randint

    def uniform(self, a=0.0, b=1.0, **kw):
        r = real_uniform(self, a, b, **kw)
        draws.append("u %.9g %.9g %.9g" % (float(a), float(b), r.item()))
        return r

    def randint(*args, **kw):
        r = real_randint(*args, **kw)
        draws.append("i %d %d" % (args[1] - args[0] if len(args) >= 2 else args[0], r.item()))
        return r

    torch.Tensor.uniform_ = uniform
    torch.randint = randint
    sizes = [(500, 375), (375, 500), (37, 23), (64, 64), (1, 1), (3, 200), (1000, 10), (224, 224), (97, 311)]
    scales = [(0.08, 1.0), (0.5, 1.0), (0.9, 1.0)]
    with open(out_path, "w") as out:
        out.write("# torchvision %s RandomResizedCrop.get_params(img, scale, ratio=(3/4, 4/3)); "
                  "written by tests/ref/image_ref.py crops\n" % __import__("torchvision").__version__)
        out.write("# W H scale_lo scale_hi draws... = top left height width; u LO HI VALUE, i N VALUE\n")
        for seed in range(40):
            for (w, h) in sizes:
                scale = scales[seed % len(scales)]
                torch.manual_seed(seed * 1000 + w + h)
                draws.clear()
                img = torch.zeros(3, h, w)
                i, j, ch, cw = transforms.RandomResizedCrop.get_params(img, list(scale), [3.0 / 4.0, 4.0 / 3.0])
                out.write("%d %d %.9g %.9g %s = %d %d %d %d\n" % (w, h, scale[0], scale[1], " ".join(draws),
                                                                i, j, ch, cw))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "manifest":
        run_manifest(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "crops":
        write_crops(sys.argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()

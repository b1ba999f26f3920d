#!/bin/sh
# Checks an image-folder data root before a long run, and lays out Tiny
# ImageNet's validation folder the ImageFolder way.
#
#   scripts/check_data_root.sh ROOT                 check ROOT/train and ROOT/val
#   scripts/check_data_root.sh --layout-tiny ROOT   first move Tiny ImageNet's
#       val/images/*.JPEG into val/<wnid>/images/ following val/val_annotations.txt
#       (nmtrain reads either layout; torchvision's ImageFolder needs this one)
#
# Prints the classes and image counts of each split and fails, naming the
# folder, on what nmtrain would refuse: no train/ or val/, no class folders,
# an empty class folder, a val class missing from train.
set -e
layout=0
if [ "$1" = "--layout-tiny" ]; then layout=1; shift; fi
root=$1
[ -n "$root" ] && [ -d "$root" ] || { echo "usage: $0 [--layout-tiny] ROOT (a folder)" >&2; exit 2; }

if [ $layout = 1 ]; then
    notes="$root/val/val_annotations.txt"
    [ -f "$notes" ] || { echo "$notes: not found (already laid out?)" >&2; exit 1; }
    moved=0
    while IFS="$(printf '\t')" read -r file wnid rest; do
        [ -n "$file" ] || continue
        mkdir -p "$root/val/$wnid/images"
        if [ -f "$root/val/images/$file" ]; then
            mv "$root/val/images/$file" "$root/val/$wnid/images/$file"
            moved=$((moved + 1))
        elif [ ! -f "$root/val/$wnid/images/$file" ]; then
            echo "$root/val/images/$file: listed in $notes but missing" >&2
            exit 1
        fi
    done < "$notes"
    rmdir "$root/val/images" 2>/dev/null || true
    # Kept beside, not inside, val/: ImageFolder would take it for data.
    mv "$notes" "$root/val_annotations.txt"
    echo "laid out $moved validation images into $root/val/<wnid>/images/ ($notes moved to $root/)"
fi

count_images() {
    find "$1" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | wc -l
}

for split in train val; do
    [ -d "$root/$split" ] || { echo "$root/$split: not a folder" >&2; exit 1; }
    classes=0 images=0
    for dir in "$root/$split"/*/; do
        [ -d "$dir" ] || continue
        name=$(basename "$dir")
        if [ "$split" = val ] && [ "$name" = images ] && [ -f "$root/val/val_annotations.txt" ]; then
            n=$(count_images "$dir")
            echo "$root/val: Tiny ImageNet's shipped layout ($n images listed in val_annotations.txt)"
            images=$((images + n)) classes=-1
            break
        fi
        n=$(count_images "$dir")
        [ "$n" -gt 0 ] || { echo "$dir: no images (.jpg, .jpeg or .png) in the class folder" >&2; exit 1; }
        if [ "$split" = val ] && [ ! -d "$root/train/$name" ]; then
            echo "$dir: class '$name' is not in $root/train" >&2
            exit 1
        fi
        classes=$((classes + 1)) images=$((images + n))
    done
    [ "$classes" -ne 0 ] || { echo "$root/$split: no class folders" >&2; exit 1; }
    [ "$classes" -lt 0 ] || echo "$root/$split: $classes classes, $images images"
done
echo "ok: $root is a data root nmtrain can read (--data imagefolder|imagenet|tinyimagenet --data-dir $root)"

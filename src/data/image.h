/* Image-folder data sets inside the library: file lists, decoding (JPEG
 * through libjpeg-turbo, PNG through libpng), torchvision's transforms with
 * PIL's resampling, and the threaded stream that fills batches ahead. */
#ifndef NMT_DATA_IMAGE_H
#define NMT_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "nmtrain/data.h"

/* Not part of the library's interface: hidden from its users (Makefile). */
#pragma GCC visibility push(hidden)

/* The files of one split: paths in ImageFolder order, labels, how samples
 * are made and the published normalisation of the data set. */
struct nmt_image_files {
    int count, classes;
    char **paths;
    int *labels;
    int image_size;
    float crop_ratio;
    int workers, prefetch, strict;
    float mean[3], std[3];
};

/* A decoded image: RGB, row-major, 3 bytes per pixel. `buf` grows. */
typedef struct nmt_rgb_image {
    int w, h;
    uint8_t *pixels;
    size_t capacity;
} nmt_rgb_image;

/* Decodes a JPEG or PNG file held in memory to RGB. `pick`, given the
 * full size and whether the format can be decoded scaled (JPEG), returns
 * the DCT scaling denominator (1, 2, 4 or 8; the output is then
 * ceil(w / d) x ceil(h / d), as with PIL's draft()). Grayscale and CMYK become RGB as PIL's convert("RGB")
 * does. Returns 0, or -1 with the reason in `why` (truncated data counts as
 * corrupt, as PIL refuses it). */
typedef int (*nmt_pick_denom)(int w, int h, int scalable, void *ctx);
int nmt_image_decode(const uint8_t *data, size_t size, nmt_pick_denom pick, void *ctx, nmt_rgb_image *out,
                     char *why, size_t why_size);
void nmt_rgb_image_free(nmt_rgb_image *img);

/* PIL's Image.resize(BILINEAR) of the region [rx0, rx1) x [ry0, ry1) of
 * `src` (PIL's crop followed by resize with `box`, in region coordinates),
 * to out_w x out_h, of which the out_cw x out_ch pixels at (ox, oy) are
 * written to `dst` (3 bytes per pixel): two fixed-point passes, horizontal
 * first, each rounded to 8 bits, bit-exact with Pillow. */
int nmt_image_resample(const nmt_rgb_image *src, int rx0, int ry0, int rx1, int ry1, const float box[4], int out_w,
                       int out_h, int ox, int oy, int out_cw, int out_ch, uint8_t *dst);

/* RandomResizedCrop.get_params of torchvision 0.14 (scale and ratio ranges,
 * ten tries, then the centre-crop fallback): `uniform` draws a float32 in
 * [lo, hi) and `below` an integer in [0, n), in torchvision's order. */
typedef struct nmt_crop_draws {
    float (*uniform)(void *ctx, float lo, float hi);
    int (*below)(void *ctx, int n);
    void *ctx;
} nmt_crop_draws;
typedef struct nmt_crop {
    int top, left, height, width;
} nmt_crop;
void nmt_random_resized_crop(int width, int height, const float scale[2], const float ratio[2],
                             const nmt_crop_draws *draws, nmt_crop *out);

/* Makes one sample of `files` as torchvision would: the training transform
 * (RandomResizedCrop(size) + RandomHorizontalFlip, draws from `seed`) or
 * the evaluation one (Resize(size / crop_ratio) + CenterCrop(size)).
 * `out` receives size x size x 3 bytes; `geometry` (may be NULL) what
 * was done. Buffers persist in `scratch` across calls. Returns 0, or -1 with `why`. */
/* What a sample was made of, for tests: the DCT scale, the region and box
 * resampled, the resized size and the window kept, and the flip. */
typedef struct nmt_sample_geometry {
    int denom, region[4];
    float box[4];
    int resized_w, resized_h, window[4], flip;
} nmt_sample_geometry;
typedef struct nmt_sample_scratch {
    uint8_t *file;
    size_t file_capacity;
    nmt_rgb_image img;
} nmt_sample_scratch;
int nmt_image_sample(const struct nmt_image_files *files, int index, int train_transform, int hflip, uint64_t seed,
                     nmt_sample_scratch *scratch, uint8_t *out, nmt_sample_geometry *geometry, char *why,
                     size_t why_size);
void nmt_sample_scratch_free(nmt_sample_scratch *scratch);

/* Scans an image-folder split: "imagefolder" and "imagenet" (ROOT/{train,val}/<class>/...,
 * any depth, .jpg/.jpeg/.png in any case), "tinyimagenet" (train/<wnid>/images,
 * val/images with val/val_annotations.txt, or val/<wnid>/ once laid out).
 * Classes are the sorted folder names of ROOT/train. */
int nmt_image_files_scan(const char *name, const char *root, int train, struct nmt_image_files *out);
void nmt_image_files_free(struct nmt_image_files *files);

/* The stream behind nmt_loader for image folders. */
struct nmt_image_stream;
struct nmt_image_stream *nmt_image_stream_create(const nmt_dataset *ds, int batch, int train_transform, int hflip);
/* Stops handing out work for the current epoch (workers finish and drop
 * what they hold). */
void nmt_image_stream_stop(struct nmt_image_stream *s);
/* Fills batches from `position` of `order` (`end` = last position used
 * + 1), only samples [lo, hi) of each batch, with augmentation seeded by
 * `epoch_seed`. */
void nmt_image_stream_start(struct nmt_image_stream *s, const int *order, int position, int end, int lo,
                            int hi, uint64_t epoch_seed);
/* The next batch, packed CNHW and normalised; returns the samples kept
 * (skipped ones are counted in *skipped), 0 at the end, -1 with an error
 * naming the file (strict, or a share [lo, hi) with no readable image). */
int nmt_image_stream_next(struct nmt_image_stream *s, const float *scale, const float *offset, float *x, int *labels,
                          int *skipped);
void nmt_image_stream_free(struct nmt_image_stream *s);

/* Seeds one sample's draws: SplitMix-style mixing of the epoch seed and the
 * sample's position in the epoch (shared with the in-memory loader). */
uint64_t nmt_sample_seed(uint64_t epoch_seed, int position);

#pragma GCC visibility pop

#endif

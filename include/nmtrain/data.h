/* nmtrain/data.h: data sets, augmentation and batching.
 *
 * A data set is held in memory as uint8 images (N x C x H x W) and labels.
 * Batches come out as float CNHW (C x (B*H*W)), normalised, optionally
 * augmented, in an order shuffled by seed.
 *
 * Every loader validates its files (magic numbers, dimensions, counts,
 * truncation, label ranges) and fails with one line naming the file, e.g.
 *   "data/train-images-idx3-ubyte.gz: truncated: expected 47040000 bytes of pixels, got 1000" */
#ifndef NMTRAIN_DATA_H
#define NMTRAIN_DATA_H

#include <stdint.h>
#include "nmtrain/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where Debian's dataset-fashion-mnist package installs the default data. */
#define NMT_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
/* The loader keeps per-channel normalisation for at most this many channels. */
#define NMT_DATA_MAX_CHANNELS 4

/* The files of an image-folder split (opaque; see nmt_dataset_load_images). */
typedef struct nmt_image_files nmt_image_files;

typedef struct nmt_dataset {
    int count, c, h, w, classes;
    uint8_t *images;  /* count * c * h * w, NCHW; NULL for an image folder */
    uint8_t *labels;  /* count; for CIFAR-100 the fine label; NULL for an image folder */
    nmt_image_files *files; /* image folders: decoded by the loader as it goes */
} nmt_dataset;

/* How an image-folder split becomes samples; zero fields take defaults. */
typedef struct nmt_image_options {
    int image_size;   /* output side; default 64 for tinyimagenet, 224 otherwise */
    float crop_ratio; /* evaluation: centre crop / resized short side; default 0.875 */
    int workers;      /* decode threads; default the cores the OpenMP threads leave (at least 1) */
    int prefetch;     /* batches decoded ahead of the step; default 2 */
    int strict;       /* an unreadable image is an error instead of skipped and counted */
} nmt_image_options;

/* IDX image + label files (MNIST, Fashion-MNIST), gzipped or not (zlib reads
 * both). Images must be ubyte idx3 (N x H x W, one channel), labels ubyte
 * idx1 with values below 10 (the MNIST family has 10 classes). The header's
 * claim is checked before any payload is inflated: sides of at most
 * NMT_IDX_MAX_SIDE pixels and NMT_DATA_MAX_BYTES of pixels in all, so a
 * small compressed file cannot make the loader inflate gigabytes. */
#define NMT_IDX_MAX_SIDE 2048
#define NMT_DATA_MAX_BYTES (INT64_C(1) << 30)
int nmt_dataset_load_idx(const char *images_path, const char *labels_path, nmt_dataset *out);
/* The image shape a file must claim (0 = any), where the model's input is
 * known before the data is read: checked against the header, before the
 * payload. */
typedef struct nmt_data_shape {
    int c, h, w;
} nmt_data_shape;
int nmt_dataset_load_idx_expecting(const char *images_path, const char *labels_path, const nmt_data_shape *expect,
                                   nmt_dataset *out);
/* CIFAR-10 (data_batch_*.bin: 1 label byte + 3072) or CIFAR-100
 * (train.bin/test.bin: coarse + fine label bytes + 3072) binary files;
 * `paths` are concatenated in order. */
int nmt_dataset_load_cifar(const char *const *paths, int n_paths, int cifar100, nmt_dataset *out);
/* Loads a named data set from a directory:
 *   "fashion-mnist" / "mnist": {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
 *   "cifar10": data_batch_1..5.bin / test_batch.bin
 *              (also inside a cifar-10-batches-bin/ subdirectory)
 *   "cifar100": train.bin / test.bin (also inside cifar-100-binary/)
 *   "imagefolder", "imagenet", "tinyimagenet": image folders with default
 *              options (see nmt_dataset_load_images)
 * `train` selects the split. `dir` NULL or "" means NMT_FASHION_MNIST_DIR for
 * "fashion-mnist"; the other data sets need a directory. */
int nmt_dataset_load(const char *name, const char *dir, int train, nmt_dataset *out);
/* Whether `name` is an image-folder data set. */
int nmt_dataset_is_image_folder(const char *name);
/* Lists an image-folder split without decoding anything; the loader
 * decodes JPEG (libjpeg-turbo, DCT-scaled near the needed size) and PNG
 * files as batches are drawn:
 *   "imagefolder": torchvision's ImageFolder layout, ROOT/train/<class>/ and
 *       ROOT/val/<class>/ (.jpg, .jpeg, .png at any depth); classes are the
 *       sorted folder names of ROOT/train; ImageNet's mean and std
 *   "imagenet": the same layout (train/<wnid>/, val/<wnid>/)
 *   "tinyimagenet": train/<wnid>/images/, and val/images/ with
 *       val/val_annotations.txt (or val/<wnid>/); its own mean and std
 * The samples are 3 x size x size: training applies torchvision's
 * RandomResizedCrop(size) (scale 0.08-1, ratio 3/4-4/3) and, with hflip,
 * RandomHorizontalFlip; evaluation Resize(size / crop_ratio) and
 * CenterCrop(size), resampled as PIL's bilinear resize. An empty class
 * folder, no classes, or a val class missing from train is an error. */
int nmt_dataset_load_images(const char *name, const char *dir, int train, const nmt_image_options *options,
                            nmt_dataset *out);
/* nmt_dataset_load whose images must have the shape `expect` (NULL = any). */
int nmt_dataset_load_expecting(const char *name, const char *dir, int train, const nmt_data_shape *expect,
                               nmt_dataset *out);
/* Frees the arrays and zeroes *ds; safe on a zeroed or already freed set. */
void nmt_dataset_free(nmt_dataset *ds);

/* Per-channel mean and standard deviation of the images scaled to [0, 1].
 * Exact integer sums, so the result does not depend on the thread count.
 * Image folders give their data set's published values. */
void nmt_dataset_stats(const nmt_dataset *ds, float *mean, float *std);

typedef struct nmt_augment {
    int crop_pad;   /* random crop after zero padding by this many pixels (0 = off) */
    int hflip;      /* random horizontal flip */
} nmt_augment;

struct nmt_image_stream;

typedef struct nmt_loader {
    const nmt_dataset *ds;
    int batch;
    int drop_last;
    nmt_augment aug;
    float scale[NMT_DATA_MAX_CHANNELS];   /* 1 / (255 std) */
    float offset[NMT_DATA_MAX_CHANNELS];  /* -mean / std */
    int64_t seed;     /* < 0: file order */
    int epoch;
    int *order;       /* permutation of the current epoch */
    int cursor;       /* position in `order` of the next sample */
    int skipped;      /* image folders: unreadable images skipped this epoch */
    int shard_lo, shard_hi; /* the part of each batch this loader returns (data parallelism) */
    struct nmt_image_stream *stream; /* image folders: the decode threads */
    int streaming;    /* the stream runs from `cursor` */
} nmt_loader;

/* `mean` and `std` have ds->c entries (NULL: mean 0, std 1, i.e. p/255).
 * `shuffle_seed` < 0 keeps the file order (evaluation); augmentation, if
 * enabled, then draws from seed 0. Starts at epoch 0. For an image folder,
 * augmentation on (crop_pad > 0 or hflip) selects the training transform
 * (crop_pad's size is not used) and decode threads start. */
int nmt_loader_init(nmt_loader *ld, const nmt_dataset *ds, int batch, int drop_last,
                    nmt_augment aug, const float *mean, const float *std, int64_t shuffle_seed);
/* Starts epoch `epoch`. The order depends only on (seed, epoch) and each
 * sample's crop and flip only on (seed, epoch, position in the epoch), so a
 * resumed run sees the same batches, whatever the thread count. */
void nmt_loader_epoch(nmt_loader *ld, int epoch);
int nmt_loader_batches(const nmt_loader *ld);
/* Fills x and labels with the next batch of n samples and returns n, 0 at
 * epoch end. x is laid out C x (n*H*W), i.e. x[c][b][h][w] with the returned
 * n (a short last batch is packed, not strided by `batch`); x must hold
 * C * batch * H * W floats and labels `batch` ints. Image folders: an
 * unreadable image is warned about once (one line naming the file), left
 * out of its batch and counted in `skipped`; with `strict` it returns -1
 * with that error. */
int nmt_loader_next(nmt_loader *ld, float *x, int *labels);
/* Data parallelism: nmt_loader_next returns only samples [lo, hi) of each
 * batch (image folders decode only those); the order and augmentation are
 * the unsharded loader's, so ranks together see exactly its batches. */
void nmt_loader_shard(nmt_loader *ld, int lo, int hi);
/* Jumps to batch `index` of the current epoch (resume). */
void nmt_loader_seek(nmt_loader *ld, int index);
void nmt_loader_free(nmt_loader *ld);

#ifdef __cplusplus
}
#endif
#endif

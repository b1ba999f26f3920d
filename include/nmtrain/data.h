/* nmtrain/data.h: data sets, augmentation and batching.
 *
 * A data set is held in memory as uint8 images (N x C x H x W) and labels.
 * Batches come out as float CNHW (C x (B*H*W)), normalised, optionally
 * augmented, in an order shuffled by seed. */
#ifndef NMTRAIN_DATA_H
#define NMTRAIN_DATA_H

#include <stdint.h>
#include "nmtrain/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nmt_dataset {
    int count, c, h, w, classes;
    uint8_t *images;  /* count * c * h * w, NCHW */
    uint8_t *labels;  /* count; for CIFAR-100 the fine label */
} nmt_dataset;

/* IDX image + label files (MNIST, Fashion-MNIST), gzipped or not. */
int nmt_dataset_load_idx(const char *images_path, const char *labels_path, nmt_dataset *out);
/* CIFAR-10 (data_batch_*.bin: 1 label byte + 3072) or CIFAR-100
 * (train.bin/test.bin: coarse + fine label bytes + 3072) binary files;
 * `paths` are concatenated in order. */
int nmt_dataset_load_cifar(const char *const *paths, int n_paths, int cifar100, nmt_dataset *out);
/* Loads a named data set from a directory:
 *   "fashion-mnist" / "mnist": {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
 *   "cifar10": data_batch_1..5.bin / test_batch.bin
 *   "cifar100": train.bin / test.bin
 * `train` selects the split. */
int nmt_dataset_load(const char *name, const char *dir, int train, nmt_dataset *out);
void nmt_dataset_free(nmt_dataset *ds);

/* Per-channel mean and standard deviation of the images scaled to [0, 1]. */
void nmt_dataset_stats(const nmt_dataset *ds, float *mean, float *std);

typedef struct nmt_augment {
    int crop_pad;   /* random crop after zero padding by this many pixels (0 = off) */
    int hflip;      /* random horizontal flip */
} nmt_augment;

typedef struct nmt_loader {
    const nmt_dataset *ds;
    int batch;
    int drop_last;
    nmt_augment aug;
    float mean[4], std[4];
    int *order;       /* permutation of the current epoch */
    int cursor;
    nmt_rng rng;
} nmt_loader;

/* `shuffle_seed` < 0 keeps the file order (evaluation). */
int nmt_loader_init(nmt_loader *ld, const nmt_dataset *ds, int batch, int drop_last,
                    nmt_augment aug, const float *mean, const float *std, int64_t shuffle_seed);
/* Starts epoch `epoch` (the shuffle depends only on seed and epoch, so a
 * resumed run sees the same order). */
void nmt_loader_epoch(nmt_loader *ld, int epoch);
int nmt_loader_batches(const nmt_loader *ld);
/* Fills x (C x (B*H*W)) and labels; returns the batch size, 0 at epoch end. */
int nmt_loader_next(nmt_loader *ld, float *x, int *labels);
/* Jumps to batch `index` of the current epoch (resume). */
void nmt_loader_seek(nmt_loader *ld, int index);
void nmt_loader_free(nmt_loader *ld);

#ifdef __cplusplus
}
#endif
#endif

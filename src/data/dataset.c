/* Named data sets, their statistics, and freeing. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/image.h"
#include "nmtrain/data.h"

/* Writes "<dir>/<name>" into `path`; returns whether that file exists. */
static int find_file(char *path, size_t size, const char *dir, const char *name)
{
    int len = snprintf(path, size, "%s/%s", dir, name);
    return len > 0 && (size_t)len < size && access(path, F_OK) == 0;
}

/* IDX files come gzipped (as downloaded, and as Debian ships them) or
 * unpacked; the gzipped name wins when both exist. */
static int find_idx(char *path, size_t size, const char *dir, const char *stem)
{
    char gz[80];
    snprintf(gz, sizeof gz, "%s.gz", stem);
    if (find_file(path, size, dir, gz) || find_file(path, size, dir, stem)) return 0;
    nmt_error("%s/%s[.gz]: not found", dir, stem);
    return -1;
}

static int load_mnist_family(const char *dir, int train, const nmt_data_shape *expect, nmt_dataset *out)
{
    char images[PATH_MAX], labels[PATH_MAX];
    const char *split = train ? "train" : "t10k";
    char stem[64];
    snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", split);
    if (find_idx(images, sizeof images, dir, stem) != 0) return -1;
    snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", split);
    if (find_idx(labels, sizeof labels, dir, stem) != 0) return -1;
    return nmt_dataset_load_idx_expecting(images, labels, expect, out);
}

/* The CIFAR archives unpack into a subdirectory; accept either level. */
static const char *cifar_dir(char *buf, size_t size, const char *dir, const char *subdir, const char *probe)
{
    char path[PATH_MAX];
    if (find_file(path, sizeof path, dir, probe)) return dir;
    snprintf(buf, size, "%s/%s", dir, subdir);
    return buf;
}

static int load_cifar10(const char *dir, int train, nmt_dataset *out)
{
    char base[PATH_MAX], paths[5][PATH_MAX + 32];
    const char *list[5];
    int n = train ? 5 : 1;
    dir = cifar_dir(base, sizeof base, dir, "cifar-10-batches-bin", train ? "data_batch_1.bin" : "test_batch.bin");
    for (int i = 0; i < n; i++) {
        if (train)
            snprintf(paths[i], sizeof paths[i], "%s/data_batch_%d.bin", dir, i + 1);
        else
            snprintf(paths[i], sizeof paths[i], "%s/test_batch.bin", dir);
        list[i] = paths[i];
    }
    return nmt_dataset_load_cifar(list, n, 0, out);
}

static int load_cifar100(const char *dir, int train, nmt_dataset *out)
{
    char base[PATH_MAX], path[PATH_MAX + 32];
    const char *name = train ? "train.bin" : "test.bin";
    dir = cifar_dir(base, sizeof base, dir, "cifar-100-binary", name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const char *list[1] = {path};
    return nmt_dataset_load_cifar(list, 1, 1, out);
}

int nmt_dataset_is_image_folder(const char *name)
{
    return !strcmp(name, "imagefolder") || !strcmp(name, "imagenet") || !strcmp(name, "tinyimagenet");
}

int nmt_dataset_load_images(const char *name, const char *dir, int train, const nmt_image_options *options,
                            nmt_dataset *out)
{
    /* Published statistics: ImageNet's (torchvision's models), and Tiny
     * ImageNet's own training-set values. */
    static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f}, imagenet_std[3] = {0.229f, 0.224f, 0.225f};
    static const float tiny_mean[3] = {0.4802f, 0.4481f, 0.3975f}, tiny_std[3] = {0.2302f, 0.2265f, 0.2262f};
    memset(out, 0, sizeof *out);
    if (!nmt_dataset_is_image_folder(name)) {
        nmt_error("'%s' is not an image-folder data set (imagefolder, imagenet, tinyimagenet)", name);
        return -1;
    }
    if (!dir || !dir[0]) {
        nmt_error("data set '%s' needs a directory (--data-dir ROOT)", name);
        return -1;
    }
    const nmt_image_options none = {0, 0.0f, 0, 0, 0};
    const nmt_image_options *o = options ? options : &none;
    const int tiny = !strcmp(name, "tinyimagenet");
    if (o->image_size < 0 || o->image_size > 4096 || o->crop_ratio < 0.0f || o->crop_ratio > 1.0f || o->workers < 0 ||
        o->prefetch < 0) {
        nmt_error("image options: size %d, crop ratio %g, workers %d, prefetch %d out of range", o->image_size,
                  (double)o->crop_ratio, o->workers, o->prefetch);
        return -1;
    }
    nmt_image_files *files = calloc(1, sizeof *files);
    if (!files) {
        nmt_error("out of memory");
        return -1;
    }
    if (nmt_image_files_scan(name, dir, train, files) != 0) {
        free(files);
        return -1;
    }
    files->image_size = o->image_size ? o->image_size : tiny ? 64 : 224;
    files->crop_ratio = o->crop_ratio > 0.0f ? o->crop_ratio : 0.875f;
    files->workers = o->workers;
    files->prefetch = o->prefetch;
    files->strict = o->strict;
    memcpy(files->mean, tiny ? tiny_mean : imagenet_mean, sizeof files->mean);
    memcpy(files->std, tiny ? tiny_std : imagenet_std, sizeof files->std);
    out->files = files;
    out->count = files->count;
    out->classes = files->classes;
    out->c = 3;
    out->h = out->w = files->image_size;
    return 0;
}

int nmt_dataset_load(const char *name, const char *dir, int train, nmt_dataset *out)
{
    return nmt_dataset_load_expecting(name, dir, train, NULL, out);
}

int nmt_dataset_load_expecting(const char *name, const char *dir, int train, const nmt_data_shape *expect,
                               nmt_dataset *out)
{
    memset(out, 0, sizeof *out);
    int has_dir = dir && dir[0];
    if (!strcmp(name, "fashion-mnist"))
        return load_mnist_family(has_dir ? dir : NMT_FASHION_MNIST_DIR, train, expect, out);
    if (nmt_dataset_is_image_folder(name)) return nmt_dataset_load_images(name, dir, train, NULL, out);
    if (strcmp(name, "mnist") && strcmp(name, "cifar10") && strcmp(name, "cifar100")) {
        nmt_error("unknown data set '%s' (known: fashion-mnist, mnist, cifar10, cifar100, imagefolder, imagenet, "
                  "tinyimagenet)",
                  name);
        return -1;
    }
    if (!has_dir) {
        nmt_error("data set '%s' needs a directory", name);
        return -1;
    }
    if (!strcmp(name, "mnist")) return load_mnist_family(dir, train, expect, out);
    if (!strcmp(name, "cifar10")) return load_cifar10(dir, train, out);
    return load_cifar100(dir, train, out);
}

void nmt_dataset_free(nmt_dataset *ds)
{
    free(ds->images);
    free(ds->labels);
    nmt_image_files_free(ds->files);
    free(ds->files);
    memset(ds, 0, sizeof *ds);
}

void nmt_dataset_stats(const nmt_dataset *ds, float *mean, float *std)
{
    if (ds->files) {
        memcpy(mean, ds->files->mean, sizeof ds->files->mean);
        memcpy(std, ds->files->std, sizeof ds->files->std);
        return;
    }
    size_t plane = (size_t)ds->h * ds->w;
    for (int c = 0; c < ds->c; c++) {
        uint64_t sum = 0, sum_sq = 0;
        #pragma omp parallel for reduction(+ : sum, sum_sq) schedule(static)
        for (int i = 0; i < ds->count; i++) {
            const uint8_t *p = ds->images + ((size_t)i * ds->c + c) * plane;
            uint64_t s = 0, s2 = 0;
            for (size_t k = 0; k < plane; k++) {
                s += p[k];
                s2 += (uint32_t)p[k] * p[k];
            }
            sum += s;
            sum_sq += s2;
        }
        double n = (double)ds->count * (double)plane;
        double m = n > 0 ? (double)sum / n : 0.0;
        double var = n > 0 ? (double)sum_sq / n - m * m : 0.0;
        mean[c] = (float)(m / 255.0);
        std[c] = (float)(sqrt(var > 0 ? var : 0) / 255.0);
    }
}

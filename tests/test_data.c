/* Data sets and the loader: IDX (plain and gzipped) and CIFAR parsing on
 * generated files, every kind of bad file, normalisation, CNHW layout,
 * shuffling, crop/flip and reproducibility. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"
#include "nmtrain.h"

static char dir[64];

static const char *in_dir(char *buf, const char *name)
{
    snprintf(buf, 256, "%s/%s", dir, name);
    return buf;
}

static void write_file(const char *path, const void *data, size_t n, int gzipped)
{
    if (gzipped) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, data, (unsigned)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint8_t pixel_value(int i, int y, int x)
{
    return (uint8_t)(i * 31 + y * 7 + x * 3);
}

/* An IDX image file of `count` h x w images whose header claims
 * `claimed` images; `drop` bytes are cut from the end. */
static void write_idx_images(const char *path, int count, int claimed, int h, int w, uint32_t magic, size_t drop,
                             int gzipped)
{
    size_t n = 16 + (size_t)count * h * w;
    uint8_t *buf = malloc(n);
    put_be32(buf, magic);
    put_be32(buf + 4, (uint32_t)claimed);
    put_be32(buf + 8, (uint32_t)h);
    put_be32(buf + 12, (uint32_t)w);
    for (int i = 0; i < count; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) buf[16 + ((size_t)i * h + y) * w + x] = pixel_value(i, y, x);
    write_file(path, buf, n - drop, gzipped);
    free(buf);
}

static void write_idx_labels(const char *path, int count, int bad_index, int gzipped)
{
    uint8_t *buf = malloc(8 + (size_t)count);
    put_be32(buf, 0x801);
    put_be32(buf + 4, (uint32_t)count);
    for (int i = 0; i < count; i++) buf[8 + i] = (uint8_t)(i == bad_index ? 10 : (i * 3) % 10);
    write_file(path, buf, 8 + (size_t)count, gzipped);
    free(buf);
}

static void check_idx_content(const nmt_dataset *ds, int count, int h, int w, const char *label)
{
    CHECK(ds->count == count && ds->c == 1 && ds->h == h && ds->w == w && ds->classes == 10, "%s: shape", label);
    int ok = 1;
    for (int i = 0; i < count && ok; i++) {
        ok = ds->labels[i] == (i * 3) % 10;
        for (int y = 0; y < h && ok; y++)
            for (int x = 0; x < w && ok; x++) ok = ds->images[((size_t)i * h + y) * w + x] == pixel_value(i, y, x);
    }
    CHECK(ok, "%s: content", label);
}

/* Loading must fail with a message naming `culprit` and containing `expect`. */
static void check_idx_rejected(const char *images, const char *labels, const char *culprit, const char *expect,
                               const char *label)
{
    nmt_dataset ds;
    int rc = nmt_dataset_load_idx(images, labels, &ds);
    const char *msg = nmt_errmsg();
    CHECK(rc != 0, "%s: accepted", label);
    CHECK(strstr(msg, culprit) != NULL, "%s: message does not name %s: %s", label, culprit, msg);
    CHECK(strstr(msg, expect) != NULL, "%s: expected '%s' in: %s", label, expect, msg);
    CHECK(!ds.images && !ds.labels && ds.count == 0, "%s: not left empty", label);
    printf("  %-26s -> %s\n", label, msg);
}

static void test_idx(void)
{
    char images[256], labels[256], images_gz[256], labels_gz[256], bad[256], bad_labels[256];
    nmt_dataset ds;
    write_idx_images(in_dir(images, "images"), 5, 5, 3, 4, 0x803, 0, 0);
    write_idx_labels(in_dir(labels, "labels"), 5, -1, 0);
    write_idx_images(in_dir(images_gz, "images.gz"), 5, 5, 3, 4, 0x803, 0, 1);
    write_idx_labels(in_dir(labels_gz, "labels.gz"), 5, -1, 1);

    CHECK(nmt_dataset_load_idx(images, labels, &ds) == 0, "%s", nmt_errmsg());
    check_idx_content(&ds, 5, 3, 4, "plain");
    nmt_dataset_free(&ds);
    CHECK(nmt_dataset_load_idx(images_gz, labels_gz, &ds) == 0, "%s", nmt_errmsg());
    check_idx_content(&ds, 5, 3, 4, "gzipped");
    nmt_dataset_free(&ds);
    nmt_dataset_free(&ds); /* freeing twice is harmless */

    in_dir(bad, "bad");
    write_idx_images(bad, 5, 5, 3, 4, 0x803, 10, 0);
    check_idx_rejected(bad, labels, bad, "truncated: expected 60 bytes of pixels, got 50", "truncated pixels");
    write_idx_images(bad, 5, 5, 3, 4, 0x803, 10, 1);
    check_idx_rejected(bad, labels, bad, "truncated: expected 60 bytes of pixels, got 50", "truncated pixels (gz)");
    write_idx_images(bad, 0, 5, 3, 4, 0x803, 6, 0);
    check_idx_rejected(bad, labels, bad, "expected a 16-byte IDX header, got 10", "truncated header");
    write_file(bad, "", 0, 0);
    check_idx_rejected(bad, labels, bad, "empty file", "empty file");
    write_idx_images(bad, 5, 5, 3, 4, 0x804, 0, 0);
    check_idx_rejected(bad, labels, bad, "bad magic number 0x00000804", "wrong magic");
    check_idx_rejected(labels, labels, labels, "bad magic number 0x00000801", "labels as images");
    write_idx_images(bad, 5, 4, 3, 4, 0x803, 0, 0);
    check_idx_rejected(bad, labels, bad, "unexpected data after", "trailing data");
    write_idx_images(bad, 0, 0, 3, 4, 0x803, 0, 0);
    check_idx_rejected(bad, labels, bad, "bad image count 0", "zero images");
    write_idx_images(bad, 0, 1, 0, 4, 0x803, 0, 0);
    check_idx_rejected(bad, labels, bad, "bad image size", "zero height");
    /* Issue 16 item 8: a header's claim is checked before anything is
     * inflated (a small .gz claiming 64 x 4096 x 4096 made the loader
     * inflate a gigabyte first), and against the model's input. */
    write_idx_images(bad, 0, 64, 4096, 4096, 0x803, 0, 1);
    check_idx_rejected(bad, labels, bad, "beyond the limit of 2048 pixels a side", "decompression bomb (side)");
    write_idx_images(bad, 0, 600, 2048, 2048, 0x803, 0, 1);
    check_idx_rejected(bad, labels, bad, "beyond the limit of 1073741824", "decompression bomb (total)");
    {
        const nmt_data_shape want = {1, 28, 28};
        nmt_dataset ds;
        const int rc = nmt_dataset_load_idx_expecting(images, labels, &want, &ds);
        CHECK(rc != 0 && strstr(nmt_errmsg(), "claims 1x3x4 images; the model takes 1x28x28"),
              "a 3x4 file for a 28x28 model: %s", nmt_errmsg());
        const nmt_data_shape fits = {1, 3, 4};
        CHECK(nmt_dataset_load_idx_expecting(images, labels, &fits, &ds) == 0, "%s", nmt_errmsg());
        nmt_dataset_free(&ds);
    }

    in_dir(bad_labels, "bad_labels");
    write_idx_labels(bad_labels, 4, -1, 0);
    check_idx_rejected(images, bad_labels, bad_labels, "4 labels, but the image file has 5 images", "count mismatch");
    write_idx_labels(bad_labels, 5, 3, 1);
    check_idx_rejected(images, bad_labels, bad_labels, "label 10 of sample 3 is out of range 0..9", "bad label");
    check_idx_rejected(images, in_dir(bad, "missing"), "missing", "cannot open", "missing file");

    /* A corrupted gzip stream is reported, not decoded into garbage. */
    FILE *f = fopen(images_gz, "r+b");
    fseek(f, -6, SEEK_END);
    fputc(0x5a, f);
    fputc(0xa5, f);
    fclose(f);
    check_idx_rejected(images_gz, labels, images_gz, "corrupt", "corrupt gzip");
}

/* A CIFAR file of `records` records; record r has label `first_label + r`
 * (the fine label for CIFAR-100, coarse = r % 20) and pixels from r. */
static void write_cifar(const char *path, int records, int cifar100, int first_label, size_t drop)
{
    size_t record = (size_t)(cifar100 ? 2 : 1) + 3072;
    uint8_t *buf = malloc(record * (size_t)records);
    for (int r = 0; r < records; r++) {
        uint8_t *p = buf + record * (size_t)r;
        if (cifar100) *p++ = (uint8_t)(r % 20);
        *p++ = (uint8_t)(first_label + r);
        for (int k = 0; k < 3072; k++) p[k] = (uint8_t)(k * 5 + r);
    }
    write_file(path, buf, record * (size_t)records - drop, 0);
    free(buf);
}

static void check_cifar_rejected(const char *const *paths, int n, int cifar100, const char *culprit,
                                 const char *expect, const char *label)
{
    nmt_dataset ds;
    int rc = nmt_dataset_load_cifar(paths, n, cifar100, &ds);
    const char *msg = nmt_errmsg();
    CHECK(rc != 0, "%s: accepted", label);
    CHECK(strstr(msg, culprit) != NULL, "%s: message does not name %s: %s", label, culprit, msg);
    CHECK(strstr(msg, expect) != NULL, "%s: expected '%s' in: %s", label, expect, msg);
    CHECK(!ds.images && !ds.labels, "%s: not left empty", label);
    printf("  %-26s -> %s\n", label, msg);
}

static void test_cifar(void)
{
    char a[256], b[256], c100[256], bad[256];
    nmt_dataset ds;
    write_cifar(in_dir(a, "a.bin"), 2, 0, 3, 0);
    write_cifar(in_dir(b, "b.bin"), 3, 0, 5, 0);
    const char *both[2] = {a, b};
    CHECK(nmt_dataset_load_cifar(both, 2, 0, &ds) == 0, "%s", nmt_errmsg());
    CHECK(ds.count == 5 && ds.c == 3 && ds.h == 32 && ds.w == 32 && ds.classes == 10, "cifar10 shape");
    const uint8_t want_labels[5] = {3, 4, 5, 6, 7};
    CHECK(!memcmp(ds.labels, want_labels, 5), "cifar10 labels");
    int ok = 1;
    for (int r = 0; r < 5 && ok; r++) {
        int within = r < 2 ? r : r - 2;
        for (int k = 0; k < 3072 && ok; k++) ok = ds.images[(size_t)r * 3072 + k] == (uint8_t)(k * 5 + within);
    }
    CHECK(ok, "cifar10 pixels");
    nmt_dataset_free(&ds);

    write_cifar(in_dir(c100, "c100.bin"), 3, 1, 97, 0);
    const char *one[1] = {c100};
    CHECK(nmt_dataset_load_cifar(one, 1, 1, &ds) == 0, "%s", nmt_errmsg());
    CHECK(ds.count == 3 && ds.classes == 100 && ds.labels[0] == 97 && ds.labels[2] == 99, "cifar100 fine labels");
    CHECK(ds.images[3072] == 1 && ds.images[3073] == 6, "cifar100 pixels");
    nmt_dataset_free(&ds);

    const char *bad_list[2] = {a, in_dir(bad, "bad.bin")};
    write_cifar(bad, 2, 0, 0, 100);
    check_cifar_rejected(bad_list, 2, 0, bad, "not a multiple of the 3073-byte", "truncated cifar10");
    write_cifar(bad, 2, 0, 9, 0);
    check_cifar_rejected(bad_list, 2, 0, bad, "label 10 of record 1 is out of range 0..9", "bad cifar10 label");
    write_file(bad, "", 0, 0);
    check_cifar_rejected(bad_list, 2, 0, bad, "empty file", "empty cifar file");
    write_cifar(bad, 2, 1, 99, 0);
    check_cifar_rejected(bad_list + 1, 1, 1, bad, "label 100 of record 1 is out of range 0..99", "bad cifar100 label");
    check_cifar_rejected(one, 1, 0, c100, "not a multiple", "cifar100 read as cifar10");
    bad_list[1] = in_dir(bad, "missing.bin");
    check_cifar_rejected(bad_list, 2, 0, bad, "cannot open", "missing cifar file");
}

static void test_named(void)
{
    char path[256], sub[256];
    nmt_dataset ds;
    mkdir(in_dir(sub, "mnist"), 0700);
    write_idx_images(in_dir(path, "mnist/train-images-idx3-ubyte.gz"), 5, 5, 3, 4, 0x803, 0, 1);
    write_idx_labels(in_dir(path, "mnist/train-labels-idx1-ubyte"), 5, -1, 0);
    CHECK(nmt_dataset_load("mnist", sub, 1, &ds) == 0, "%s", nmt_errmsg());
    check_idx_content(&ds, 5, 3, 4, "named mnist");
    nmt_dataset_free(&ds);
    CHECK(nmt_dataset_load("mnist", sub, 0, &ds) != 0 && strstr(nmt_errmsg(), "t10k-images-idx3-ubyte[.gz]: not found"),
          "%s", nmt_errmsg());
    CHECK(nmt_dataset_load("mnist", NULL, 1, &ds) != 0 && strstr(nmt_errmsg(), "needs a directory"), "%s",
          nmt_errmsg());
    CHECK(nmt_dataset_load("svhn", sub, 1, &ds) != 0 && strstr(nmt_errmsg(), "unknown data set 'svhn'"), "%s",
          nmt_errmsg());

    /* CIFAR files may sit in the directory the archive unpacks to. */
    mkdir(in_dir(sub, "cifar-10-batches-bin"), 0700);
    write_cifar(in_dir(path, "cifar-10-batches-bin/test_batch.bin"), 2, 0, 1, 0);
    CHECK(nmt_dataset_load("cifar10", dir, 0, &ds) == 0 && ds.count == 2 && ds.labels[1] == 2, "%s", nmt_errmsg());
    nmt_dataset_free(&ds);
    CHECK(nmt_dataset_load("cifar10", dir, 1, &ds) != 0 && strstr(nmt_errmsg(), "data_batch_1.bin"), "%s",
          nmt_errmsg());
    write_cifar(in_dir(path, "train.bin"), 2, 1, 50, 0);
    CHECK(nmt_dataset_load("cifar100", dir, 1, &ds) == 0 && ds.count == 2 && ds.labels[0] == 50, "%s", nmt_errmsg());
    nmt_dataset_free(&ds);

    /* The default data, when Debian's dataset-fashion-mnist is installed. */
    if (access(NMT_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", R_OK) != 0) {
        printf("  note: %s not installed; skipping the Fashion-MNIST check\n", NMT_FASHION_MNIST_DIR);
        return;
    }
    CHECK(nmt_dataset_load("fashion-mnist", NULL, 0, &ds) == 0, "%s", nmt_errmsg());
    CHECK(ds.count == 10000 && ds.c == 1 && ds.h == 28 && ds.w == 28 && ds.classes == 10, "fashion-mnist shape");
    int per_class[10] = {0}, balanced = 1;
    for (int i = 0; i < ds.count; i++) per_class[ds.labels[i]]++;
    for (int k = 0; k < 10; k++) balanced &= per_class[k] == 1000;
    CHECK(balanced, "fashion-mnist test split has 1000 images per class");
    float mean, std;
    nmt_dataset_stats(&ds, &mean, &std);
    printf("  fashion-mnist t10k: mean %.4f std %.4f\n", (double)mean, (double)std);
    CHECK(fabsf(mean - 0.2868f) < 2e-3f && fabsf(std - 0.3524f) < 2e-3f, "fashion-mnist stats %f %f", (double)mean,
          (double)std);
    nmt_dataset_free(&ds);
}

/* A synthetic in-memory data set; image i is filled from i. */
static nmt_dataset make_dataset(int count, int c, int h, int w)
{
    nmt_dataset ds = {count, c, h, w, 10, malloc((size_t)count * c * h * w), malloc((size_t)count), NULL};
    for (size_t k = 0; k < (size_t)count * c * h * w; k++) ds.images[k] = (uint8_t)(k * 37 % 251);
    for (int i = 0; i < count; i++) ds.labels[i] = (uint8_t)i;
    return ds;
}

static void test_stats(void)
{
    nmt_dataset ds = make_dataset(7, 2, 3, 5);
    float mean[2], std[2];
    nmt_dataset_stats(&ds, mean, std);
    for (int c = 0; c < 2; c++) {
        double s = 0, s2 = 0;
        int n = 0;
        for (int i = 0; i < 7; i++)
            for (int k = 0; k < 15; k++) {
                double p = ds.images[(size_t)(i * 2 + c) * 15 + k] / 255.0;
                s += p;
                s2 += p * p;
                n++;
            }
        double m = s / n, sd = sqrt(s2 / n - m * m);
        CHECK(fabs(mean[c] - m) < 1e-6 && fabs(std[c] - sd) < 1e-6, "channel %d: %f %f vs %f %f", c, (double)mean[c],
              (double)std[c], m, sd);
    }
    nmt_dataset_free(&ds);
}

static void test_loader_layout(void)
{
    /* Two channels, evaluation order: x[c][b][h][w] = (p/255 - mean[c]) / std[c]. */
    nmt_dataset ds = make_dataset(5, 2, 3, 4);
    const float mean[2] = {0.25f, 0.5f}, std[2] = {0.5f, 2.0f};
    nmt_loader ld;
    nmt_augment none = {0, 0};
    CHECK(nmt_loader_init(&ld, &ds, 2, 0, none, mean, std, -1) == 0, "%s", nmt_errmsg());
    CHECK(nmt_loader_batches(&ld) == 3, "batches %d", nmt_loader_batches(&ld));
    float x[2 * 2 * 12];
    int labels[2], seen = 0, ok = 1;
    for (int n; (n = nmt_loader_next(&ld, x, labels)) > 0; seen += n) {
        for (int b = 0; b < n; b++) {
            ok &= labels[b] == seen + b;
            for (int c = 0; c < 2; c++)
                for (int k = 0; k < 12; k++) {
                    float p = ds.images[((size_t)(seen + b) * 2 + c) * 12 + k];
                    float want = (p / 255.0f - mean[c]) / std[c];
                    ok &= fabsf(x[(size_t)c * n * 12 + (size_t)b * 12 + k] - want) < 1e-5f;
                }
        }
    }
    CHECK(ok && seen == 5, "normalised CNHW values in file order (seen %d)", seen);
    CHECK(nmt_loader_next(&ld, x, labels) == 0, "epoch end is sticky");
    nmt_loader_free(&ld);

    /* Bad arguments are refused. */
    const float zero_std[2] = {1, 0};
    CHECK(nmt_loader_init(&ld, &ds, 0, 0, none, NULL, NULL, 1) != 0, "batch 0 accepted");
    CHECK(nmt_loader_init(&ld, &ds, 2, 0, none, mean, zero_std, 1) != 0 && strstr(nmt_errmsg(), "channel 1"), "%s",
          nmt_errmsg());
    nmt_dataset_free(&ds);
}

/* Runs one epoch and returns the sample order (labels are indices). */
static void epoch_order(nmt_loader *ld, int epoch, int *order)
{
    float *x = malloc((size_t)ld->batch * ld->ds->c * ld->ds->h * ld->ds->w * sizeof *x);
    int n, at = 0;
    nmt_loader_epoch(ld, epoch);
    while ((n = nmt_loader_next(ld, x, order + at)) > 0) at += n;
    free(x);
}

static void test_loader_shuffle(void)
{
    enum { N = 50 };
    nmt_dataset ds = make_dataset(N, 1, 2, 2);
    nmt_loader ld;
    nmt_augment none = {0, 0};
    int first[N], again[N], other_epoch[N], other_seed[N];
    nmt_loader_init(&ld, &ds, 8, 0, none, NULL, NULL, 7);
    epoch_order(&ld, 3, first);
    int count[N] = {0}, permutation = 1, identity = 1;
    for (int i = 0; i < N; i++) count[first[i]]++;
    for (int i = 0; i < N; i++) permutation &= count[i] == 1, identity &= first[i] == i;
    CHECK(permutation && !identity, "epoch order is a non-trivial permutation");
    epoch_order(&ld, 4, other_epoch);
    CHECK(memcmp(first, other_epoch, sizeof first) != 0, "epochs differ");
    nmt_loader_free(&ld);

    /* A fresh loader (a resumed run) reproduces epoch 3 exactly. */
    nmt_loader_init(&ld, &ds, 8, 0, none, NULL, NULL, 7);
    epoch_order(&ld, 3, again);
    CHECK(!memcmp(first, again, sizeof first), "same seed and epoch, same order");
    nmt_loader_free(&ld);
    nmt_loader_init(&ld, &ds, 8, 0, none, NULL, NULL, 8);
    epoch_order(&ld, 3, other_seed);
    CHECK(memcmp(first, other_seed, sizeof first) != 0, "seeds differ");

    /* drop_last: 50 samples in batches of 8 give 6 full batches. */
    CHECK(nmt_loader_batches(&ld) == 7, "batches with the short one");
    nmt_loader_free(&ld);
    nmt_loader_init(&ld, &ds, 8, 1, none, NULL, NULL, 7);
    CHECK(nmt_loader_batches(&ld) == 6, "batches without the short one");
    float x[8 * 4];
    int labels[8], batches = 0, samples = 0;
    for (int n; (n = nmt_loader_next(&ld, x, labels)) > 0; batches++) {
        CHECK(n == 8, "short batch %d with drop_last", n);
        samples += n;
    }
    CHECK(batches == 6 && samples == 48, "drop_last: %d batches, %d samples", batches, samples);
    nmt_loader_free(&ld);
    nmt_dataset_free(&ds);
}

/* Whether `out` (values p/255) is the 3x3 image `src` cropped at (dy, dx)
 * from its 1-pixel zero padding, then flipped if `flip`. */
static int matches_crop(const float *out, const uint8_t *src, int dy, int dx, int flip)
{
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++) {
            int sy = y + dy - 1, sx = (flip ? 2 - x : x) + dx - 1;
            float p = (sy < 0 || sy > 2 || sx < 0 || sx > 2) ? 0.0f : src[sy * 3 + sx] / 255.0f;
            if (fabsf(out[y * 3 + x] - p) > 1e-6f) return 0; /* the loader multiplies by 1/255 */
        }
    return 1;
}

static void test_loader_augment(void)
{
    enum { N = 400 };
    /* Every image is the same 3x3 picture of distinct non-zero pixels, so
     * each output identifies its crop offset and flip. */
    nmt_dataset ds = make_dataset(N, 1, 3, 3);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 9; k++) ds.images[i * 9 + k] = (uint8_t)(10 + 20 * k);
    nmt_loader ld;
    nmt_augment aug = {1, 1};
    nmt_loader_init(&ld, &ds, 64, 0, aug, NULL, NULL, 11);
    float *x = malloc((size_t)64 * 9 * sizeof *x);
    int labels[64], seen[3][3][2] = {{{0}}}, all_explained = 1;
    for (int n; (n = nmt_loader_next(&ld, x, labels)) > 0;) {
        for (int b = 0; b < n; b++) {
            int found = 0;
            for (int dy = 0; dy < 3; dy++)
                for (int dx = 0; dx < 3; dx++)
                    for (int flip = 0; flip < 2; flip++)
                        if (!found && matches_crop(x + b * 9, ds.images, dy, dx, flip)) {
                            seen[dy][dx][flip]++;
                            found = 1;
                        }
            all_explained &= found;
        }
    }
    CHECK(all_explained, "every output is a padded crop, optionally flipped");
    int every_case = 1;
    for (int dy = 0; dy < 3; dy++)
        for (int dx = 0; dx < 3; dx++)
            for (int flip = 0; flip < 2; flip++) every_case &= seen[dy][dx][flip] > 5;
    CHECK(every_case, "all 9 offsets and both flips occur");

    /* The padding is pixel value 0 after normalisation: (0 - mean) / std. */
    const float mean = 0.5f, std = 0.25f;
    nmt_loader_free(&ld);
    nmt_augment pad_only = {2, 0};
    nmt_loader_init(&ld, &ds, 64, 0, pad_only, &mean, &std, 3);
    nmt_loader_next(&ld, x, labels);
    int padded = 0;
    for (int k = 0; k < 64 * 9; k++) padded += x[k] == -2.0f;
    CHECK(padded > 0, "padding normalises to (0 - mean) / std");
    nmt_loader_free(&ld);
    free(x);
    nmt_dataset_free(&ds);
}

/* Batches after a seek, and with any thread count, are bit-identical. */
static void test_loader_reproducible(void)
{
    nmt_dataset ds = make_dataset(300, 3, 8, 8);
    nmt_augment aug = {2, 1};
    const float mean[3] = {0.4f, 0.5f, 0.6f}, std[3] = {0.2f, 0.25f, 0.3f};
    size_t floats = (size_t)32 * 3 * 64;
    float *reference = malloc(floats * sizeof(float) * 10), *x = malloc(floats * sizeof(float));
    int reference_labels[10][32], labels[32];
    int max_threads = omp_get_max_threads();

    omp_set_num_threads(1);
    nmt_loader ld;
    nmt_loader_init(&ld, &ds, 32, 0, aug, mean, std, 99);
    nmt_loader_epoch(&ld, 5);
    for (int b = 0; b < 10; b++) nmt_loader_next(&ld, reference + floats * b, reference_labels[b]);
    nmt_loader_free(&ld);

    omp_set_num_threads(4);
    nmt_loader_init(&ld, &ds, 32, 0, aug, mean, std, 99);
    nmt_loader_epoch(&ld, 5);
    nmt_loader_seek(&ld, 6);
    int n = nmt_loader_next(&ld, x, labels);
    CHECK(n == 32 && !memcmp(x, reference + floats * 6, floats * sizeof(float)) &&
              !memcmp(labels, reference_labels[6], sizeof labels),
          "seek to batch 6 with 4 threads reproduces the 1-thread batch");
    n = nmt_loader_next(&ld, x, labels);
    CHECK(n == 32 && !memcmp(x, reference + floats * 7, floats * sizeof(float)), "and the batch after it");
    nmt_loader_seek(&ld, 9);
    n = nmt_loader_next(&ld, x, labels);
    CHECK(n == 12 && !memcmp(x, reference + floats * 9, (size_t)3 * 12 * 64 * sizeof(float)), "short last batch");
    CHECK(nmt_loader_next(&ld, x, labels) == 0, "epoch end");
    nmt_loader_free(&ld);
    omp_set_num_threads(max_threads);
    free(reference);
    free(x);
    nmt_dataset_free(&ds);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/nmt_data_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_idx();
    test_cifar();
    test_named();
    test_stats();
    test_loader_layout();
    test_loader_shuffle();
    test_loader_augment();
    test_loader_reproducible();
    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
    TEST_END("test_data");
}

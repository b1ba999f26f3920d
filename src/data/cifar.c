/* CIFAR-10 / CIFAR-100 binary files: fixed-size records of label byte(s)
 * followed by a 3 x 32 x 32 image in channel-major (CHW) order. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nmtrain/data.h"

#define CIFAR_SIDE 32
#define CIFAR_IMAGE_BYTES (3 * CIFAR_SIDE * CIFAR_SIDE)

typedef struct cifar_format {
    int label_bytes;   /* CIFAR-100 stores coarse then fine */
    int classes;       /* of the label kept (the last one) */
    int coarse_classes;
} cifar_format;

/* Returns the number of records in `path`, or -1 after recording why the
 * file cannot be a CIFAR file of this format. */
static long count_records(FILE *file, const char *path, const cifar_format *fmt)
{
    struct stat st;
    long record = fmt->label_bytes + CIFAR_IMAGE_BYTES;
    if (fstat(fileno(file), &st) != 0) {
        nmt_error("%s: cannot stat: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        nmt_error("%s: not a regular file", path);
        return -1;
    }
    if (st.st_size == 0) {
        nmt_error("%s: empty file (expected %ld-byte CIFAR records)", path, record);
        return -1;
    }
    if (st.st_size % record != 0) {
        nmt_error("%s: size %lld is not a multiple of the %ld-byte CIFAR-%d record (truncated, or the wrong CIFAR variant?)",
                  path, (long long)st.st_size, record, fmt->classes);
        return -1;
    }
    return (long)(st.st_size / record);
}

/* Appends the records of one file to out, whose arrays already hold room. */
static int read_records(FILE *file, const char *path, const cifar_format *fmt, long records, nmt_dataset *out)
{
    uint8_t labels[2];
    for (long r = 0; r < records; r++) {
        uint8_t *image = out->images + (size_t)out->count * CIFAR_IMAGE_BYTES;
        if (fread(labels, 1, (size_t)fmt->label_bytes, file) != (size_t)fmt->label_bytes ||
            fread(image, 1, CIFAR_IMAGE_BYTES, file) != CIFAR_IMAGE_BYTES) {
            nmt_error("%s: read error in record %ld: %s", path, r, ferror(file) ? strerror(errno) : "file shrank");
            return -1;
        }
        if (fmt->coarse_classes && labels[0] >= fmt->coarse_classes) {
            nmt_error("%s: coarse label %u of record %ld is out of range 0..%d", path, labels[0], r,
                      fmt->coarse_classes - 1);
            return -1;
        }
        uint8_t label = labels[fmt->label_bytes - 1];
        if (label >= fmt->classes) {
            nmt_error("%s: label %u of record %ld is out of range 0..%d", path, label, r, fmt->classes - 1);
            return -1;
        }
        out->labels[out->count++] = label;
    }
    return 0;
}

int nmt_dataset_load_cifar(const char *const *paths, int n_paths, int cifar100, nmt_dataset *out)
{
    const cifar_format fmt = cifar100 ? (cifar_format){2, 100, 20} : (cifar_format){1, 10, 0};
    memset(out, 0, sizeof *out);
    if (n_paths <= 0) {
        nmt_error("CIFAR-%d: no files given", fmt.classes);
        return -1;
    }
    FILE **files = calloc((size_t)n_paths, sizeof *files);
    long *records = calloc((size_t)n_paths, sizeof *records);
    int status = -1;
    long total = 0;
    if (!files || !records) {
        nmt_error("CIFAR-%d: out of memory", fmt.classes);
        goto done;
    }
    /* Size every file first so one allocation holds them all. */
    for (int i = 0; i < n_paths; i++) {
        files[i] = fopen(paths[i], "rb");
        if (!files[i]) {
            nmt_error("%s: cannot open: %s", paths[i], strerror(errno));
            goto done;
        }
        records[i] = count_records(files[i], paths[i], &fmt);
        if (records[i] < 0) goto done;
        total += records[i];
    }
    if (total > INT32_MAX) {
        nmt_error("%s: too many records (%ld)", paths[n_paths - 1], total);
        goto done;
    }
    out->images = malloc((size_t)total * CIFAR_IMAGE_BYTES);
    out->labels = malloc((size_t)total);
    if (!out->images || !out->labels) {
        nmt_error("%s: out of memory for %ld images", paths[0], total);
        goto done;
    }
    out->c = 3;
    out->h = out->w = CIFAR_SIDE;
    out->classes = fmt.classes;
    for (int i = 0; i < n_paths; i++)
        if (read_records(files[i], paths[i], &fmt, records[i], out) != 0) goto done;
    status = 0;
done:
    for (int i = 0; files && i < n_paths; i++)
        if (files[i]) fclose(files[i]);
    free(files);
    free(records);
    if (status != 0) nmt_dataset_free(out);
    return status;
}

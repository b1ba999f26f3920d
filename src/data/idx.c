/* IDX files (MNIST, Fashion-MNIST), gzipped or plain: zlib's gzread passes
 * plain files through unchanged, so one reader serves both. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nmtrain/data.h"

#define IDX_UBYTE 0x08
#define MNIST_CLASSES 10
/* A corrupt header could claim terabytes; the buffer grows as data actually
 * arrives, so a lie is caught as truncation instead of a huge allocation. */
#define READ_CHUNK (4u << 20)

/* zlib's message for the last error, without the "<path>: " it prepends. */
static const char *gz_reason(gzFile file, const char *path)
{
    int code;
    const char *why = gzerror(file, &code);
    size_t len = strlen(path);
    if (code == Z_ERRNO) return strerror(errno);
    if (!strncmp(why, path, len) && !strncmp(why + len, ": ", 2)) return why + len + 2;
    return why;
}

/* Reads up to `expected` bytes into a growing buffer. Returns the number of
 * bytes read (short on truncation) or -1 with the error recorded. */
static int64_t read_payload(gzFile file, const char *path, uint64_t expected, uint8_t **out)
{
    uint64_t capacity = expected < READ_CHUNK ? expected : READ_CHUNK;
    uint8_t *buf = malloc(capacity ? capacity : 1);
    uint64_t got = 0;
    if (!buf) {
        nmt_error("%s: out of memory", path);
        return -1;
    }
    while (got < expected) {
        if (got == capacity) {
            uint64_t grown = capacity * 2 < expected ? capacity * 2 : expected;
            uint8_t *bigger = realloc(buf, grown);
            if (!bigger) {
                free(buf);
                nmt_error("%s: out of memory reading %llu bytes", path, (unsigned long long)expected);
                return -1;
            }
            buf = bigger;
            capacity = grown;
        }
        uint64_t want = capacity - got;
        if (want > READ_CHUNK) want = READ_CHUNK;
        int n = gzread(file, buf + got, (unsigned)want);
        if (n < 0) {
            nmt_error("%s: corrupt data: %s", path, gz_reason(file, path));
            free(buf);
            return -1;
        }
        if (n == 0) break;
        got += (uint64_t)n;
    }
    *out = buf;
    return (int64_t)got;
}

static uint32_t big_endian_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Opens an IDX file and checks its magic number (two zero bytes, the ubyte
 * type, `ndim`) before anything else, so a wrong kind of file is named as
 * such; then reads the ndim big-endian dimensions. */
static gzFile open_idx(const char *path, int ndim, const char *kind, uint32_t *dims)
{
    gzFile file = gzopen(path, "rb");
    if (!file) {
        nmt_error("%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    gzbuffer(file, 1u << 18);
    uint8_t magic[4], dim_bytes[4 * 3];
    unsigned dims_size = 4 * (unsigned)ndim;
    int n = gzread(file, magic, 4);
    int n_dims = n == 4 ? gzread(file, dim_bytes, dims_size) : 0;
    if (n < 0 || n_dims < 0) {
        nmt_error("%s: corrupt data: %s", path, gz_reason(file, path));
    } else if (n == 0) {
        nmt_error("%s: empty file (expected an IDX %s file)", path, kind);
    } else if (n < 4) {
        nmt_error("%s: truncated: expected a %u-byte IDX header, got %d", path, 4 + dims_size, n);
    } else if (magic[0] != 0 || magic[1] != 0 || magic[2] != IDX_UBYTE || magic[3] != ndim) {
        nmt_error("%s: bad magic number 0x%08x: expected 0x%08x (IDX %s, unsigned bytes, %d dimension%s)",
                  path, big_endian_u32(magic), (unsigned)(IDX_UBYTE << 8 | ndim), kind, ndim,
                  ndim == 1 ? "" : "s");
    } else if ((unsigned)n_dims < dims_size) {
        nmt_error("%s: truncated: expected a %u-byte IDX header, got %d", path, 4 + dims_size, 4 + n_dims);
    } else {
        for (int d = 0; d < ndim; d++) dims[d] = big_endian_u32(dim_bytes + 4 * d);
        return file;
    }
    gzclose(file);
    return NULL;
}

/* Reads exactly `expected` payload bytes and checks nothing follows them. */
static int read_idx_payload(gzFile file, const char *path, uint64_t expected, const char *what, uint8_t **out)
{
    int64_t got = read_payload(file, path, expected, out);
    if (got < 0) return -1;
    if ((uint64_t)got < expected) {
        nmt_error("%s: truncated: expected %llu bytes of %s, got %lld", path,
                  (unsigned long long)expected, what, (long long)got);
    } else {
        uint8_t extra;
        int n = gzread(file, &extra, 1);
        if (n == 0) return 0;
        if (n > 0)
            nmt_error("%s: unexpected data after the %llu bytes of %s the header announces", path,
                      (unsigned long long)expected, what);
        else
            nmt_error("%s: corrupt data after the %s: %s", path, what, gz_reason(file, path));
    }
    free(*out);
    *out = NULL;
    return -1;
}

static int load_images(const char *path, const nmt_data_shape *expect, nmt_dataset *out)
{
    uint32_t dims[3];
    gzFile file = open_idx(path, 3, "images", dims);
    if (!file) return -1;
    int status = -1;
    if (dims[0] == 0 || dims[0] > INT32_MAX) {
        nmt_error("%s: bad image count %u", path, dims[0]);
    } else if (dims[1] == 0 || dims[2] == 0) {
        nmt_error("%s: bad image size %u x %u", path, dims[1], dims[2]);
    } else if (dims[1] > NMT_IDX_MAX_SIDE || dims[2] > NMT_IDX_MAX_SIDE) {
        nmt_error("%s: the header claims %u x %u images, beyond the limit of %d pixels a side", path, dims[1],
                  dims[2], NMT_IDX_MAX_SIDE);
    } else if ((uint64_t)dims[0] * dims[1] * dims[2] > (uint64_t)NMT_DATA_MAX_BYTES) {
        nmt_error("%s: the header claims %u images of %u x %u, %llu bytes, beyond the limit of %lld", path, dims[0],
                  dims[1], dims[2], (unsigned long long)dims[0] * dims[1] * dims[2], (long long)NMT_DATA_MAX_BYTES);
    } else if (expect && ((expect->c && expect->c != 1) || (expect->h && (uint32_t)expect->h != dims[1]) ||
                          (expect->w && (uint32_t)expect->w != dims[2]))) {
        nmt_error("%s: the header claims 1x%ux%u images; the model takes %dx%dx%d", path, dims[1], dims[2],
                  expect->c, expect->h, expect->w);
    } else {
        uint64_t pixels = (uint64_t)dims[0] * dims[1] * dims[2];
        if (read_idx_payload(file, path, pixels, "pixels", &out->images) == 0) {
            out->count = (int)dims[0];
            out->c = 1;
            out->h = (int)dims[1];
            out->w = (int)dims[2];
            status = 0;
        }
    }
    gzclose(file);
    return status;
}

static int load_labels(const char *path, nmt_dataset *out)
{
    uint32_t count;
    gzFile file = open_idx(path, 1, "labels", &count);
    if (!file) return -1;
    int status = -1;
    if (count == 0 || count > INT32_MAX) {
        nmt_error("%s: bad label count %u", path, count);
    } else if (read_idx_payload(file, path, count, "labels", &out->labels) == 0) {
        if ((int)count != out->count) {
            nmt_error("%s: %u labels, but the image file has %d images", path, count, out->count);
        } else {
            status = 0;
            for (uint32_t i = 0; i < count && status == 0; i++) {
                if (out->labels[i] >= MNIST_CLASSES) {
                    nmt_error("%s: label %u of sample %u is out of range 0..%d", path, out->labels[i], i,
                              MNIST_CLASSES - 1);
                    status = -1;
                }
            }
        }
    }
    gzclose(file);
    return status;
}

int nmt_dataset_load_idx(const char *images_path, const char *labels_path, nmt_dataset *out)
{
    return nmt_dataset_load_idx_expecting(images_path, labels_path, NULL, out);
}

int nmt_dataset_load_idx_expecting(const char *images_path, const char *labels_path, const nmt_data_shape *expect,
                                   nmt_dataset *out)
{
    memset(out, 0, sizeof *out);
    if (load_images(images_path, expect, out) != 0 || load_labels(labels_path, out) != 0) {
        nmt_dataset_free(out);
        return -1;
    }
    out->classes = MNIST_CLASSES;
    return 0;
}

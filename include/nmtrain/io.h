/* nmtrain/io.h: safetensors files.
 *
 * Checkpoints, exports and the PyTorch test fixtures are all safetensors:
 * an 8-byte little-endian header length, a JSON header mapping each tensor
 * name to {dtype, shape, data_offsets}, an optional "__metadata__" object of
 * string values, then the raw little-endian data. Writes are atomic: the file
 * is written to "<path>.tmp" and renamed over <path> only when complete. */
#ifndef NMTRAIN_IO_H
#define NMTRAIN_IO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nmt_dtype { NMT_F32, NMT_I64, NMT_U8, NMT_F16 } nmt_dtype;

#define NMT_ST_MAX_DIMS 8

typedef struct nmt_st_tensor {
    char *name;
    nmt_dtype dtype;
    int ndim;
    int64_t shape[NMT_ST_MAX_DIMS];
    size_t nbytes;
    const void *data;   /* points into the file image (reader) or caller memory (writer) */
} nmt_st_tensor;

typedef struct nmt_st_meta {
    char *key, *value;
} nmt_st_meta;

typedef struct nmt_safetensors {
    int n_tensors, cap_tensors;
    nmt_st_tensor *tensors;
    int n_meta, cap_meta;
    nmt_st_meta *meta;
    void *file_image;   /* reader: the whole file */
} nmt_safetensors;

/* Reading: validates the header (JSON syntax, dtypes, offsets inside the
 * file, sizes matching shapes) and reports the first problem with the path. */
int nmt_st_read(const char *path, nmt_safetensors *st);
const nmt_st_tensor *nmt_st_find(const nmt_safetensors *st, const char *name);
const char *nmt_st_meta_get(const nmt_safetensors *st, const char *key);
/* Finds a float32 tensor with exactly `count` elements; errors name the file,
 * the tensor and the mismatch. */
const float *nmt_st_f32(const nmt_safetensors *st, const char *path, const char *name, size_t count);

/* Writing: add tensors (data is referenced, not copied) and metadata, then save. */
void nmt_st_init(nmt_safetensors *st);
int nmt_st_add(nmt_safetensors *st, const char *name, nmt_dtype dtype, int ndim,
               const int64_t *shape, const void *data);
int nmt_st_set_meta(nmt_safetensors *st, const char *key, const char *value);
int nmt_st_write(const nmt_safetensors *st, const char *path);
void nmt_st_free(nmt_safetensors *st);

#ifdef __cplusplus
}
#endif
#endif

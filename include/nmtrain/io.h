/* nmtrain/io.h: safetensors files.
 *
 * Checkpoints, exports and the PyTorch test fixtures are all safetensors:
 * an 8-byte little-endian header length, a JSON header mapping each tensor
 * name to {dtype, shape, data_offsets}, an optional "__metadata__" object of
 * string values, then the raw little-endian data. Writes are atomic: the file
 * is written to "<path>.tmp", synced, and renamed over <path> only when
 * complete, so a crash or error leaves any previous <path> untouched.
 * Files interoperate with the Python `safetensors` package (and with
 * tests/ref/safetensors_io.py): the header is padded with spaces to a
 * multiple of 8 bytes and tensors are laid out largest element size first,
 * so every tensor is aligned to its element size. */
#ifndef NMTRAIN_IO_H
#define NMTRAIN_IO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* NMT_BOOL is stored as one byte per element, 0 or 1 ("BOOL"). */
typedef enum nmt_dtype { NMT_F32, NMT_I64, NMT_U8, NMT_F16, NMT_BOOL, NMT_I16 } nmt_dtype;

size_t nmt_dtype_size(nmt_dtype dtype);      /* bytes per element */
const char *nmt_dtype_name(nmt_dtype dtype); /* "F32", "I64", "U8", "F16", "BOOL", "I16" */

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
    void *storage;      /* reader: all tensor data, each tensor 64-byte aligned */
} nmt_safetensors;

/* Reading: validates the header strictly (length inside the file, JSON
 * syntax, known keys, dtypes, shapes, data_offsets contiguous and covering
 * exactly the data section, byte counts matching shapes, no duplicate names)
 * and reports the first problem as "<path>: ...". Tensors keep the header's
 * order; the data is copied into `storage`, so pointers stay aligned. On
 * failure *st is left empty (nmt_st_free is still safe). */
int nmt_st_read(const char *path, nmt_safetensors *st);
const nmt_st_tensor *nmt_st_find(const nmt_safetensors *st, const char *name);
const char *nmt_st_meta_get(const nmt_safetensors *st, const char *key);
/* Finds a float32 tensor with exactly `count` elements; errors name the file,
 * the tensor and the mismatch. */
const float *nmt_st_f32(const nmt_safetensors *st, const char *path, const char *name, size_t count);

/* Writing: add tensors (data is referenced, not copied, and must stay valid
 * until nmt_st_write) and metadata, then save. nmt_st_add rejects empty,
 * duplicate or "__metadata__" names, more than NMT_ST_MAX_DIMS dimensions
 * and negative sizes; nmt_st_set_meta replaces an existing key. */
void nmt_st_init(nmt_safetensors *st);
int nmt_st_add(nmt_safetensors *st, const char *name, nmt_dtype dtype, int ndim,
               const int64_t *shape, const void *data);
int nmt_st_set_meta(nmt_safetensors *st, const char *key, const char *value);
int nmt_st_write(const nmt_safetensors *st, const char *path);
void nmt_st_free(nmt_safetensors *st);

/* Writes the concatenation of `parts` to `path` atomically: to "<path>.tmp",
 * synced, then renamed over <path>; on any error <path> is untouched and the
 * error names the file. Every writer of the library goes through it. */
int nmt_write_atomic(const char *path, int n_parts, const void *const *parts, const size_t *sizes);

/* ---- ONNX models ----
 * A writer of the protobuf wire format for the part of onnx.proto a
 * feed-forward model needs: float32 and int64 (shapes, indices) initializers, nodes with int, float and
 * ints attributes, float32 inputs and outputs (a dimension < 0 is the
 * symbolic batch "N"), string metadata. Names are copied. Errors (out of
 * memory, bad arguments) are sticky: nmt_onnx_write reports the first. */
typedef struct nmt_onnx nmt_onnx;

typedef struct nmt_onnx_attr {
    const char *name;
    enum { NMT_ONNX_INT, NMT_ONNX_FLOAT, NMT_ONNX_INTS } type;
    int64_t i;             /* NMT_ONNX_INT */
    float f;               /* NMT_ONNX_FLOAT */
    int n_ints;            /* NMT_ONNX_INTS */
    const int64_t *ints;
} nmt_onnx_attr;

/* A model of one graph named `graph_name`, importing the default domain at `opset`. */
nmt_onnx *nmt_onnx_create(const char *graph_name, int opset);
void nmt_onnx_free(nmt_onnx *m);
void nmt_onnx_input(nmt_onnx *m, const char *name, int ndim, const int64_t *dims);
void nmt_onnx_output(nmt_onnx *m, const char *name, int ndim, const int64_t *dims);
void nmt_onnx_initializer(nmt_onnx *m, const char *name, int ndim, const int64_t *dims, const float *data);
void nmt_onnx_initializer_int64(nmt_onnx *m, const char *name, int ndim, const int64_t *dims, const int64_t *data);
void nmt_onnx_node(nmt_onnx *m, const char *op_type, const char *name, int n_inputs, const char *const *inputs,
                   const char *output, int n_attrs, const nmt_onnx_attr *attrs);
void nmt_onnx_metadata(nmt_onnx *m, const char *key, const char *value);
void nmt_onnx_doc(nmt_onnx *m, const char *doc);
/* Writes the ModelProto atomically (nmt_write_atomic). */
int nmt_onnx_write(const nmt_onnx *m, const char *path);

#ifdef __cplusplus
}
#endif
#endif

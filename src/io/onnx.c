/* ONNX writer: the protobuf wire format of the onnx.proto messages a
 * feed-forward model needs (ModelProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto, ValueInfoProto), written by hand because it
 * is only written, never parsed. Field numbers are onnx.proto's; each
 * message is serialised into its own buffer and embedded length-prefixed.
 * The graph's parts are kept apart and handed to nmt_write_atomic in order,
 * so the weights are copied once. */
#include <stdlib.h>
#include <string.h>

#include "nmtrain/core.h"
#include "nmtrain/io.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ONNX raw_data is little-endian and is written without conversion"
#endif

/* onnx.proto: IR version 7 is the one opset 13 came with. */
#define IR_VERSION 7
#define TENSOR_FLOAT 1
#define TENSOR_INT64 7
#define ATTR_FLOAT 1
#define ATTR_INT 2
#define ATTR_INTS 7

enum { WIRE_VARINT = 0, WIRE_FIXED32 = 5, WIRE_LEN = 2 };

typedef struct pb {
    unsigned char *data;
    size_t len, cap;
    int failed;
} pb;

struct nmt_onnx {
    char *graph_name, *doc;
    int opset;
    pb nodes, initializers, inputs, outputs, metadata;
    int failed;
};

static void pb_bytes(pb *b, const void *data, size_t n)
{
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        unsigned char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
}

static void pb_varint(pb *b, uint64_t v)
{
    unsigned char out[10];
    int n = 0;
    do {
        out[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) out[n] |= 0x80;
        n++;
    } while (v);
    pb_bytes(b, out, (size_t)n);
}

static void pb_tag(pb *b, int field, int wire) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

static void pb_int(pb *b, int field, int64_t v)
{
    pb_tag(b, field, WIRE_VARINT);
    pb_varint(b, (uint64_t)v); /* negative int64 take ten bytes, as protobuf encodes them */
}

static void pb_float(pb *b, int field, float v)
{
    pb_tag(b, field, WIRE_FIXED32);
    pb_bytes(b, &v, 4);
}

static void pb_len(pb *b, int field, const void *data, size_t n)
{
    pb_tag(b, field, WIRE_LEN);
    pb_varint(b, n);
    pb_bytes(b, data, n);
}

static void pb_string(pb *b, int field, const char *s) { pb_len(b, field, s, strlen(s)); }

/* Embeds `sub` as field `field` of `b` and frees it. */
static void pb_message(pb *b, int field, pb *sub)
{
    if (sub->failed) b->failed = 1;
    pb_len(b, field, sub->data, sub->len);
    free(sub->data);
    *sub = (pb){0};
}

static char *copy_text(nmt_onnx *m, const char *s)
{
    char *copy = strdup(s ? s : "");
    if (!copy) m->failed = 1;
    return copy;
}

nmt_onnx *nmt_onnx_create(const char *graph_name, int opset)
{
    nmt_onnx *m = calloc(1, sizeof *m);
    if (!m) {
        nmt_error("out of memory creating an ONNX model");
        return NULL;
    }
    m->graph_name = copy_text(m, graph_name);
    m->opset = opset;
    return m;
}

void nmt_onnx_free(nmt_onnx *m)
{
    if (!m) return;
    free(m->graph_name);
    free(m->doc);
    free(m->nodes.data);
    free(m->initializers.data);
    free(m->inputs.data);
    free(m->outputs.data);
    free(m->metadata.data);
    free(m);
}

/* ValueInfoProto { name = 1; type = 2 { tensor_type = 1 { elem_type = 1; shape = 2 { dim = 1 } } } } */
static void value_info(pb *list, int field, const char *name, int ndim, const int64_t *dims)
{
    pb shape = {0}, tensor = {0}, type = {0}, info = {0};
    for (int d = 0; d < ndim; d++) {
        pb dim = {0};
        if (dims[d] < 0)
            pb_string(&dim, 2, "N"); /* dim_param */
        else
            pb_int(&dim, 1, dims[d]); /* dim_value */
        pb_message(&shape, 1, &dim);
    }
    pb_int(&tensor, 1, TENSOR_FLOAT);
    pb_message(&tensor, 2, &shape);
    pb_message(&type, 1, &tensor);
    pb_string(&info, 1, name);
    pb_message(&info, 2, &type);
    pb_message(list, field, &info);
}

void nmt_onnx_input(nmt_onnx *m, const char *name, int ndim, const int64_t *dims)
{
    value_info(&m->inputs, 11, name, ndim, dims);
}

void nmt_onnx_output(nmt_onnx *m, const char *name, int ndim, const int64_t *dims)
{
    value_info(&m->outputs, 12, name, ndim, dims);
}

/* GraphProto.initializer = 5: TensorProto { dims = 1; data_type = 2; name = 8; raw_data = 9 } */
static void initializer(nmt_onnx *m, const char *name, int ndim, const int64_t *dims, int type, size_t elem_size,
                        const void *data)
{
    pb tensor = {0};
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        pb_int(&tensor, 1, dims[d]);
        count *= (size_t)dims[d];
    }
    pb_int(&tensor, 2, type);
    pb_string(&tensor, 8, name);
    pb_len(&tensor, 9, data, count * elem_size);
    pb_message(&m->initializers, 5, &tensor);
}

void nmt_onnx_initializer(nmt_onnx *m, const char *name, int ndim, const int64_t *dims, const float *data)
{
    initializer(m, name, ndim, dims, TENSOR_FLOAT, sizeof(float), data);
}

void nmt_onnx_initializer_int64(nmt_onnx *m, const char *name, int ndim, const int64_t *dims, const int64_t *data)
{
    initializer(m, name, ndim, dims, TENSOR_INT64, sizeof(int64_t), data);
}

/* GraphProto.node = 1: NodeProto { input = 1; output = 2; name = 3; op_type = 4; attribute = 5 }
 * AttributeProto { name = 1; f = 2; i = 3; ints = 8; type = 20 } */
void nmt_onnx_node(nmt_onnx *m, const char *op_type, const char *name, int n_inputs, const char *const *inputs,
                   const char *output, int n_attrs, const nmt_onnx_attr *attrs)
{
    pb node = {0};
    for (int i = 0; i < n_inputs; i++) pb_string(&node, 1, inputs[i]);
    pb_string(&node, 2, output);
    pb_string(&node, 3, name);
    pb_string(&node, 4, op_type);
    for (int a = 0; a < n_attrs; a++) {
        pb attr = {0};
        pb_string(&attr, 1, attrs[a].name);
        switch (attrs[a].type) {
        case NMT_ONNX_INT:
            pb_int(&attr, 3, attrs[a].i);
            pb_int(&attr, 20, ATTR_INT);
            break;
        case NMT_ONNX_FLOAT:
            pb_float(&attr, 2, attrs[a].f);
            pb_int(&attr, 20, ATTR_FLOAT);
            break;
        case NMT_ONNX_INTS:
            for (int k = 0; k < attrs[a].n_ints; k++) pb_int(&attr, 8, attrs[a].ints[k]);
            pb_int(&attr, 20, ATTR_INTS);
            break;
        }
        pb_message(&node, 5, &attr);
    }
    pb_message(&m->nodes, 1, &node);
}

/* ModelProto.metadata_props = 14: StringStringEntryProto { key = 1; value = 2 } */
void nmt_onnx_metadata(nmt_onnx *m, const char *key, const char *value)
{
    pb entry = {0};
    pb_string(&entry, 1, key);
    pb_string(&entry, 2, value);
    pb_message(&m->metadata, 14, &entry);
}

void nmt_onnx_doc(nmt_onnx *m, const char *doc)
{
    free(m->doc);
    m->doc = copy_text(m, doc);
}

/* ModelProto { ir_version = 1; producer_name = 2; doc_string = 6; graph = 7;
 * opset_import = 8 { domain = 1; version = 2 }; metadata_props = 14 } */
int nmt_onnx_write(const nmt_onnx *m, const char *path)
{
    pb head = {0}, name = {0}, opset = {0};
    pb_string(&name, 2, m->graph_name ? m->graph_name : "");
    const pb *graph[] = {&m->nodes, &name, &m->initializers, &m->inputs, &m->outputs};
    const int n_graph = (int)(sizeof graph / sizeof graph[0]);
    size_t graph_bytes = 0;
    int failed = m->failed || m->metadata.failed;
    for (int i = 0; i < n_graph; i++) {
        graph_bytes += graph[i]->len;
        failed |= graph[i]->failed;
    }
    pb_int(&head, 1, IR_VERSION);
    pb_string(&head, 2, "nmtrain");
    if (m->doc) pb_string(&head, 6, m->doc);
    pb_string(&opset, 1, "");
    pb_int(&opset, 2, m->opset);
    pb_message(&head, 8, &opset);
    pb_bytes(&head, m->metadata.data, m->metadata.len);
    pb_tag(&head, 7, WIRE_LEN);
    pb_varint(&head, graph_bytes);
    int rc = -1;
    if (failed || head.failed || name.failed) {
        nmt_error("%s: out of memory building the ONNX model", path);
    } else {
        const void *parts[1 + 5];
        size_t sizes[1 + 5];
        parts[0] = head.data, sizes[0] = head.len;
        for (int i = 0; i < n_graph; i++) parts[1 + i] = graph[i]->data, sizes[1 + i] = graph[i]->len;
        rc = nmt_write_atomic(path, 1 + n_graph, parts, sizes);
    }
    free(head.data);
    free(name.data);
    return rc;
}

/* safetensors reader and writer (the format of the Python `safetensors`
 * package): u64 little-endian header length N, N bytes of JSON, data. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nmtrain/core.h"
#include "nmtrain/io.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian and is read and written without conversion"
#endif

/* The reference implementation refuses headers above 100 MB. */
#define MAX_HEADER_BYTES (100u << 20)
#define STORAGE_ALIGN 64
#define METADATA_KEY "__metadata__"

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [NMT_F32] = {"F32", 4}, [NMT_I64] = {"I64", 8}, [NMT_U8] = {"U8", 1},
    [NMT_F16] = {"F16", 2}, [NMT_BOOL] = {"BOOL", 1}, [NMT_I16] = {"I16", 2},
};
#define N_DTYPES ((int)(sizeof dtype_info / sizeof dtype_info[0]))

size_t nmt_dtype_size(nmt_dtype dtype)
{
    return dtype_info[dtype].size;
}

const char *nmt_dtype_name(nmt_dtype dtype)
{
    return dtype_info[dtype].name;
}

/* Length of the valid UTF-8 prefix of s[0..n): n when all of it is valid.
 * JSON text must be UTF-8 and the reference reader rejects anything else. */
static size_t valid_utf8_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (!len || i + len > n) return i;
        uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        static const uint32_t smallest[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < smallest[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += len;
    }
    return n;
}

static int is_utf8(const char *s)
{
    size_t n = strlen(s);
    return valid_utf8_prefix((const unsigned char *)s, n) == n;
}

/* ---- the tensor and metadata lists ---------------------------------------- */

void nmt_st_init(nmt_safetensors *st)
{
    memset(st, 0, sizeof *st);
}

void nmt_st_free(nmt_safetensors *st)
{
    for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->tensors);
    free(st->meta);
    free(st->storage);
    memset(st, 0, sizeof *st);
}

const nmt_st_tensor *nmt_st_find(const nmt_safetensors *st, const char *name)
{
    for (int i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

const char *nmt_st_meta_get(const nmt_safetensors *st, const char *key)
{
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta[i].key, key)) return st->meta[i].value;
    return NULL;
}

const float *nmt_st_f32(const nmt_safetensors *st, const char *path, const char *name, size_t count)
{
    const nmt_st_tensor *t = nmt_st_find(st, name);
    if (!t) {
        nmt_error("%s: tensor '%s' not found", path, name);
        return NULL;
    }
    if (t->dtype != NMT_F32) {
        nmt_error("%s: tensor '%s' has dtype %s, expected F32", path, name, nmt_dtype_name(t->dtype));
        return NULL;
    }
    if (t->nbytes / sizeof(float) != count) {
        nmt_error("%s: tensor '%s' has %zu elements, expected %zu", path, name, t->nbytes / sizeof(float), count);
        return NULL;
    }
    return t->data;
}

/* Bytes of a tensor of this shape, or SIZE_MAX on overflow. */
static size_t tensor_bytes(nmt_dtype dtype, int ndim, const int64_t *shape)
{
    size_t bytes = nmt_dtype_size(dtype);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] != 0 && bytes > SIZE_MAX / (uint64_t)shape[d]) return SIZE_MAX;
        bytes *= (size_t)shape[d];
    }
    return bytes;
}

/* Appends a tensor with a copy of `name`; the caller has validated it. */
static nmt_st_tensor *push_tensor(nmt_safetensors *st, const char *name)
{
    if (st->n_tensors == st->cap_tensors) {
        int cap = st->cap_tensors ? 2 * st->cap_tensors : 16;
        nmt_st_tensor *grown = realloc(st->tensors, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        st->tensors = grown;
        st->cap_tensors = cap;
    }
    char *copy = strdup(name);
    if (!copy) return NULL;
    nmt_st_tensor *t = &st->tensors[st->n_tensors++];
    memset(t, 0, sizeof *t);
    t->name = copy;
    return t;
}

int nmt_st_add(nmt_safetensors *st, const char *name, nmt_dtype dtype, int ndim,
               const int64_t *shape, const void *data)
{
    if (!name || !name[0] || !strcmp(name, METADATA_KEY)) {
        nmt_error("safetensors: invalid tensor name '%s'", name ? name : "(null)");
        return -1;
    }
    if (nmt_st_find(st, name)) {
        nmt_error("safetensors: tensor '%s' added twice", name);
        return -1;
    }
    if (!is_utf8(name)) {
        nmt_error("safetensors: tensor name '%s' is not valid UTF-8", name);
        return -1;
    }
    if ((int)dtype < 0 || (int)dtype >= N_DTYPES) {
        nmt_error("safetensors: tensor '%s': unknown dtype %d", name, (int)dtype);
        return -1;
    }
    if (ndim < 0 || ndim > NMT_ST_MAX_DIMS) {
        nmt_error("safetensors: tensor '%s': %d dimensions (at most %d)", name, ndim, NMT_ST_MAX_DIMS);
        return -1;
    }
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            nmt_error("safetensors: tensor '%s': negative dimension %lld", name, (long long)shape[d]);
            return -1;
        }
    }
    size_t nbytes = tensor_bytes(dtype, ndim, shape);
    if (nbytes == SIZE_MAX) {
        nmt_error("safetensors: tensor '%s': size overflows", name);
        return -1;
    }
    if (nbytes && !data) {
        nmt_error("safetensors: tensor '%s': no data", name);
        return -1;
    }
    nmt_st_tensor *t = push_tensor(st, name);
    if (!t) {
        nmt_error("safetensors: out of memory adding tensor '%s'", name);
        return -1;
    }
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->nbytes = nbytes;
    t->data = data;
    return 0;
}

int nmt_st_set_meta(nmt_safetensors *st, const char *key, const char *value)
{
    if (!is_utf8(key) || !is_utf8(value)) {
        nmt_error("safetensors: metadata '%s' is not valid UTF-8", key);
        return -1;
    }
    for (int i = 0; i < st->n_meta; i++) {
        if (!strcmp(st->meta[i].key, key)) {
            char *copy = strdup(value);
            if (!copy) goto oom;
            free(st->meta[i].value);
            st->meta[i].value = copy;
            return 0;
        }
    }
    if (st->n_meta == st->cap_meta) {
        int cap = st->cap_meta ? 2 * st->cap_meta : 8;
        nmt_st_meta *grown = realloc(st->meta, (size_t)cap * sizeof *grown);
        if (!grown) goto oom;
        st->meta = grown;
        st->cap_meta = cap;
    }
    nmt_st_meta *m = &st->meta[st->n_meta];
    m->key = strdup(key);
    m->value = strdup(value);
    if (!m->key || !m->value) {
        free(m->key);
        free(m->value);
        goto oom;
    }
    st->n_meta++;
    return 0;
oom:
    nmt_error("safetensors: out of memory setting metadata '%s'", key);
    return -1;
}

/* ---- reading: a JSON parser for the subset safetensors headers use --------
 * The header is one object: tensor name -> {"dtype": string, "shape": [uint],
 * "data_offsets": [uint, uint]}, plus optionally "__metadata__" -> {string:
 * string}. Anything else is an error: a lenient reader would accept files
 * that other safetensors readers reject. */

typedef struct json_parser {
    const char *text, *at, *end;
    const char *path;
    int failed;
} json_parser;

typedef struct header_entry {
    uint64_t begin, end;
} header_entry;

static void parse_error(json_parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void parse_error(json_parser *ps, const char *fmt, ...)
{
    if (ps->failed) return; /* keep the first problem */
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    nmt_error("%s: bad header: %s (at header byte %td)", ps->path, what, ps->at - ps->text);
    ps->failed = 1;
}

static void skip_space(json_parser *ps)
{
    while (ps->at < ps->end && (*ps->at == ' ' || *ps->at == '\t' || *ps->at == '\n' || *ps->at == '\r'))
        ps->at++;
}

/* Skips space and consumes `c` if it comes next. */
static int accept(json_parser *ps, char c)
{
    skip_space(ps);
    if (ps->at < ps->end && *ps->at == c) {
        ps->at++;
        return 1;
    }
    return 0;
}

static int expect(json_parser *ps, char c, const char *context)
{
    if (accept(ps, c)) return 0;
    if (ps->at >= ps->end)
        parse_error(ps, "unexpected end, expected '%c' %s", c, context);
    else
        parse_error(ps, "expected '%c' %s, found '%c'", c, context, *ps->at);
    return -1;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_hex4(json_parser *ps, uint32_t *out)
{
    if (ps->end - ps->at < 4) {
        parse_error(ps, "truncated \\u escape");
        return -1;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(ps->at[i]);
        if (d < 0) {
            parse_error(ps, "bad \\u escape");
            return -1;
        }
        v = v << 4 | (uint32_t)d;
    }
    ps->at += 4;
    *out = v;
    return 0;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes a \u escape (the "\u" already consumed), joining surrogate pairs. */
static int parse_unicode_escape(json_parser *ps, uint32_t *cp)
{
    if (parse_hex4(ps, cp) != 0) return -1;
    if (*cp >= 0xdc00 && *cp <= 0xdfff) {
        parse_error(ps, "unpaired low surrogate in \\u escape");
        return -1;
    }
    if (*cp >= 0xd800 && *cp <= 0xdbff) {
        uint32_t low;
        if (ps->end - ps->at < 2 || ps->at[0] != '\\' || ps->at[1] != 'u') {
            parse_error(ps, "unpaired high surrogate in \\u escape");
            return -1;
        }
        ps->at += 2;
        if (parse_hex4(ps, &low) != 0) return -1;
        if (low < 0xdc00 || low > 0xdfff) {
            parse_error(ps, "bad low surrogate in \\u escape");
            return -1;
        }
        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (low - 0xdc00);
    }
    if (*cp == 0) {
        parse_error(ps, "\\u0000 in a string");
        return -1;
    }
    return 0;
}

/* Parses a string into a new NUL-terminated buffer. Decoded text is never
 * longer than its escaped form, so the buffer is sized by the raw span. */
static char *parse_string(json_parser *ps, const char *context)
{
    if (expect(ps, '"', context) != 0) return NULL;
    const char *close = ps->at;
    while (close < ps->end && *close != '"') close += (*close == '\\' && close + 1 < ps->end) ? 2 : 1;
    char *out = malloc((size_t)(close - ps->at) + 1);
    if (!out) {
        parse_error(ps, "out of memory");
        return NULL;
    }
    size_t len = 0;
    for (;;) {
        if (ps->at >= ps->end) {
            parse_error(ps, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)*ps->at++;
        if (c == '"') {
            out[len] = '\0';
            return out;
        }
        if (c < 0x20) {
            ps->at--;
            parse_error(ps, "control character 0x%02x in a string", c);
            break;
        }
        if (c != '\\') {
            out[len++] = (char)c;
            continue;
        }
        if (ps->at >= ps->end) {
            parse_error(ps, "unterminated string");
            break;
        }
        char e = *ps->at++;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            out[len++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
        } else if (e == 'u') {
            uint32_t cp;
            if (parse_unicode_escape(ps, &cp) != 0) break;
            len += put_utf8(out + len, cp);
        } else {
            ps->at--;
            parse_error(ps, "bad escape '\\%c'", e);
            break;
        }
    }
    free(out);
    return NULL;
}

/* Non-negative JSON integer (no sign, fraction or exponent: sizes and
 * offsets are whole numbers). */
static int parse_uint(json_parser *ps, uint64_t *out, const char *context)
{
    skip_space(ps);
    const char *start = ps->at;
    uint64_t v = 0;
    while (ps->at < ps->end && *ps->at >= '0' && *ps->at <= '9') {
        unsigned digit = (unsigned)(*ps->at - '0');
        if (v > (UINT64_MAX - digit) / 10) {
            parse_error(ps, "%s is too large", context);
            return -1;
        }
        v = v * 10 + digit;
        ps->at++;
    }
    if (ps->at == start) {
        parse_error(ps, "expected a non-negative integer for %s", context);
        return -1;
    }
    if (ps->at - start > 1 && *start == '0') {
        ps->at = start;
        parse_error(ps, "leading zero in %s", context);
        return -1;
    }
    if (ps->at < ps->end && (*ps->at == '.' || *ps->at == 'e' || *ps->at == 'E')) {
        parse_error(ps, "%s must be an integer", context);
        return -1;
    }
    *out = v;
    return 0;
}

/* The reference reader types the metadata as an optional map, so null is
 * valid and means none. */
static int accept_null(json_parser *ps)
{
    skip_space(ps);
    if (ps->end - ps->at >= 4 && !memcmp(ps->at, "null", 4)) {
        ps->at += 4;
        return 1;
    }
    return 0;
}

static int parse_metadata(json_parser *ps, nmt_safetensors *st)
{
    if (accept_null(ps)) return 0;
    if (expect(ps, '{', "to open " METADATA_KEY) != 0) return -1;
    if (accept(ps, '}')) return 0;
    do {
        const char *key_at = ps->at;
        char *key = parse_string(ps, "for a metadata key");
        if (!key) return -1;
        int duplicate = nmt_st_meta_get(st, key) != NULL;
        char *value = NULL;
        if (duplicate) {
            ps->at = key_at;
            parse_error(ps, "duplicate metadata key '%s'", key);
        } else if (expect(ps, ':', "after a metadata key") == 0) {
            value = parse_string(ps, "for a metadata value (safetensors metadata values are strings)");
        }
        int status = value ? nmt_st_set_meta(st, key, value) : -1;
        free(key);
        free(value);
        if (status != 0) {
            if (!ps->failed) parse_error(ps, "%s", nmt_errmsg());
            return -1;
        }
    } while (accept(ps, ','));
    return expect(ps, '}', "to close " METADATA_KEY);
}

static int parse_dtype(json_parser *ps, nmt_st_tensor *t)
{
    const char *at = ps->at;
    char *text = parse_string(ps, "for dtype");
    if (!text) return -1;
    for (int d = 0; d < N_DTYPES; d++) {
        if (!strcmp(text, dtype_info[d].name)) {
            t->dtype = (nmt_dtype)d;
            free(text);
            return 0;
        }
    }
    ps->at = at;
    parse_error(ps, "tensor '%s': unsupported dtype '%s' (nmtrain reads F32, F16, I64, I16, U8, BOOL)", t->name, text);
    free(text);
    return -1;
}

static int parse_shape(json_parser *ps, nmt_st_tensor *t)
{
    if (expect(ps, '[', "to open shape") != 0) return -1;
    if (accept(ps, ']')) return 0;
    do {
        uint64_t dim;
        if (t->ndim == NMT_ST_MAX_DIMS) {
            parse_error(ps, "tensor '%s' has more than %d dimensions", t->name, NMT_ST_MAX_DIMS);
            return -1;
        }
        if (parse_uint(ps, &dim, "a dimension") != 0) return -1;
        if (dim > INT64_MAX) {
            parse_error(ps, "tensor '%s': dimension too large", t->name);
            return -1;
        }
        t->shape[t->ndim++] = (int64_t)dim;
    } while (accept(ps, ','));
    return expect(ps, ']', "to close shape");
}

static int parse_offsets(json_parser *ps, header_entry *entry)
{
    if (expect(ps, '[', "to open data_offsets") != 0 || parse_uint(ps, &entry->begin, "data_offsets") != 0 ||
        expect(ps, ',', "between the two data_offsets") != 0 || parse_uint(ps, &entry->end, "data_offsets") != 0)
        return -1;
    return expect(ps, ']', "to close data_offsets (it holds exactly two numbers)");
}

/* One tensor entry: the three keys, each exactly once, in any order. */
static int parse_tensor(json_parser *ps, nmt_st_tensor *t, header_entry *entry)
{
    enum { HAS_DTYPE = 1, HAS_SHAPE = 2, HAS_OFFSETS = 4 };
    int seen = 0;
    if (expect(ps, '{', "to open a tensor entry") != 0) return -1;
    do {
        const char *key_at = ps->at;
        char *key = parse_string(ps, "for a tensor entry key");
        if (!key) return -1;
        int bit = !strcmp(key, "dtype") ? HAS_DTYPE : !strcmp(key, "shape") ? HAS_SHAPE
                : !strcmp(key, "data_offsets") ? HAS_OFFSETS : 0;
        int status = -1;
        if (!bit || (seen & bit)) {
            ps->at = key_at;
            parse_error(ps, "tensor '%s': %s key '%s'", t->name, bit ? "duplicate" : "unknown", key);
        } else if (expect(ps, ':', "after a key") == 0) {
            seen |= bit;
            status = bit == HAS_DTYPE ? parse_dtype(ps, t)
                   : bit == HAS_SHAPE ? parse_shape(ps, t) : parse_offsets(ps, entry);
        }
        free(key);
        if (status != 0) return -1;
    } while (accept(ps, ','));
    if (expect(ps, '}', "to close a tensor entry") != 0) return -1;
    if (seen != (HAS_DTYPE | HAS_SHAPE | HAS_OFFSETS)) {
        parse_error(ps, "tensor '%s' lacks %s", t->name,
                    !(seen & HAS_DTYPE) ? "dtype" : !(seen & HAS_SHAPE) ? "shape" : "data_offsets");
        return -1;
    }
    return 0;
}

/* Parses the whole header into st (tensors without data yet) and the
 * offsets of each tensor into *entries (same order). */
static int parse_header(json_parser *ps, nmt_safetensors *st, header_entry **entries)
{
    int cap = 0, has_metadata = 0;
    if (expect(ps, '{', "at the start of the header") != 0) return -1;
    if (!accept(ps, '}')) {
        do {
            const char *key_at = ps->at;
            char *name = parse_string(ps, "for a tensor name");
            if (!name) return -1;
            int status = -1;
            if (!strcmp(name, METADATA_KEY)) {
                if (has_metadata) {
                    ps->at = key_at;
                    parse_error(ps, "duplicate " METADATA_KEY);
                } else if (expect(ps, ':', "after " METADATA_KEY) == 0) {
                    has_metadata = 1;
                    status = parse_metadata(ps, st);
                }
            } else if (!name[0]) {
                ps->at = key_at;
                parse_error(ps, "empty tensor name");
            } else if (nmt_st_find(st, name)) {
                ps->at = key_at;
                parse_error(ps, "duplicate tensor name '%s'", name);
            } else if (expect(ps, ':', "after a tensor name") == 0) {
                nmt_st_tensor *t = push_tensor(st, name);
                if (st->n_tensors > cap) {
                    cap = st->cap_tensors;
                    header_entry *grown = realloc(*entries, (size_t)cap * sizeof *grown);
                    if (grown) *entries = grown;
                    else t = NULL;
                }
                if (!t)
                    parse_error(ps, "out of memory");
                else
                    status = parse_tensor(ps, t, &(*entries)[st->n_tensors - 1]);
            }
            free(name);
            if (status != 0) return -1;
        } while (accept(ps, ','));
        if (expect(ps, '}', "to close the header") != 0) return -1;
    }
    skip_space(ps); /* writers pad the header with spaces */
    if (ps->at != ps->end) {
        parse_error(ps, "unexpected text after the header object");
        return -1;
    }
    return 0;
}

/* Sorting by (begin, end) puts an empty tensor before a non-empty one that
 * starts at the same offset, so the pair still tiles. */
typedef struct offset_key {
    uint64_t begin, end;
    int tensor;
} offset_key;

static int compare_by_offset(const void *a, const void *b)
{
    const offset_key *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Checks each tensor's byte count against its shape and that the offsets
 * tile [0, data_bytes) exactly, as the reference reader requires. Fills
 * `by_offset` with the tensors in file order. */
static int check_layout(const char *path, nmt_safetensors *st, const header_entry *entries, uint64_t data_bytes,
                        offset_key *by_offset)
{
    for (int i = 0; i < st->n_tensors; i++) {
        nmt_st_tensor *t = &st->tensors[i];
        const header_entry *e = &entries[i];
        size_t nbytes = tensor_bytes(t->dtype, t->ndim, t->shape);
        if (nbytes == SIZE_MAX) {
            nmt_error("%s: tensor '%s': shape too large", path, t->name);
            return -1;
        }
        if (e->end < e->begin) {
            nmt_error("%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path, t->name,
                      (unsigned long long)e->begin, (unsigned long long)e->end);
            return -1;
        }
        if (e->end - e->begin != nbytes) {
            nmt_error("%s: tensor '%s': data_offsets [%llu, %llu] span %llu bytes, but %s of this shape needs %zu",
                      path, t->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                      (unsigned long long)(e->end - e->begin), nmt_dtype_name(t->dtype), nbytes);
            return -1;
        }
        if (e->end > data_bytes) {
            nmt_error("%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the %llu-byte data section",
                      path, t->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                      (unsigned long long)data_bytes);
            return -1;
        }
        t->nbytes = nbytes;
        by_offset[i] = (offset_key){e->begin, e->end, i};
    }
    qsort(by_offset, (size_t)st->n_tensors, sizeof *by_offset, compare_by_offset);
    uint64_t expected = 0;
    for (int k = 0; k < st->n_tensors; k++) {
        const offset_key *e = &by_offset[k];
        const char *name = st->tensors[e->tensor].name;
        if (e->begin != expected && k == 0) {
            nmt_error("%s: tensor '%s': data starts at %llu, but the first tensor must start at 0 (gap)", path,
                      name, (unsigned long long)e->begin);
            return -1;
        }
        if (e->begin != expected) {
            nmt_error("%s: tensor '%s': data starts at %llu, but the previous tensor ends at %llu (%s)", path, name,
                      (unsigned long long)e->begin, (unsigned long long)expected,
                      e->begin < expected ? "overlap" : "gap");
            return -1;
        }
        expected = e->end;
    }
    if (expected != data_bytes) {
        nmt_error("%s: the tensors cover %llu bytes, but the data section holds %llu", path,
                  (unsigned long long)expected, (unsigned long long)data_bytes);
        return -1;
    }
    return 0;
}

static size_t aligned(size_t n)
{
    return (n + STORAGE_ALIGN - 1) & ~(size_t)(STORAGE_ALIGN - 1);
}

/* Reads the data section (in file order) into one aligned block. */
static int read_data(FILE *file, const char *path, nmt_safetensors *st, const offset_key *by_offset)
{
    size_t total = 0;
    for (int i = 0; i < st->n_tensors; i++) total += aligned(st->tensors[i].nbytes);
    st->storage = aligned_alloc(STORAGE_ALIGN, total ? total : STORAGE_ALIGN);
    if (!st->storage) {
        nmt_error("%s: out of memory for %zu bytes of tensors", path, total);
        return -1;
    }
    unsigned char *slot = st->storage;
    for (int k = 0; k < st->n_tensors; k++) {
        nmt_st_tensor *t = &st->tensors[by_offset[k].tensor];
        if (fread(slot, 1, t->nbytes, file) != t->nbytes) {
            nmt_error("%s: read error in tensor '%s': %s", path, t->name,
                      ferror(file) ? strerror(errno) : "file shrank while reading");
            return -1;
        }
        t->data = slot;
        slot += aligned(t->nbytes);
    }
    return 0;
}

int nmt_st_read(const char *path, nmt_safetensors *st)
{
    nmt_st_init(st);
    FILE *file = fopen(path, "rb");
    if (!file) {
        nmt_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    int status = -1;
    char *header = NULL;
    header_entry *entries = NULL;
    offset_key *by_offset = NULL;
    struct stat info;
    unsigned char length_bytes[8];
    uint64_t header_bytes = 0;
    if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode)) {
        nmt_error("%s: not a regular file", path);
        goto done;
    }
    uint64_t file_bytes = (uint64_t)info.st_size;
    if (file_bytes < 8) {
        nmt_error("%s: %s: a safetensors file starts with an 8-byte header length", path,
                  file_bytes ? "truncated" : "empty file");
        goto done;
    }
    if (fread(length_bytes, 1, 8, file) != 8) {
        nmt_error("%s: read error: %s", path, strerror(errno));
        goto done;
    }
    for (int i = 7; i >= 0; i--) header_bytes = header_bytes << 8 | length_bytes[i];
    if (header_bytes > file_bytes - 8) {
        nmt_error("%s: truncated: the header length says %llu bytes, but only %llu follow it", path,
                  (unsigned long long)header_bytes, (unsigned long long)(file_bytes - 8));
        goto done;
    }
    if (header_bytes < 2 || header_bytes > MAX_HEADER_BYTES) {
        nmt_error("%s: header length %llu is outside 2..%u (not a safetensors file?)", path,
                  (unsigned long long)header_bytes, MAX_HEADER_BYTES);
        goto done;
    }
    header = malloc(header_bytes);
    if (!header) {
        nmt_error("%s: out of memory for a %llu-byte header", path, (unsigned long long)header_bytes);
        goto done;
    }
    if (fread(header, 1, header_bytes, file) != header_bytes) {
        nmt_error("%s: read error in the header: %s", path, strerror(errno));
        goto done;
    }
    size_t utf8_bytes = valid_utf8_prefix((const unsigned char *)header, header_bytes);
    if (utf8_bytes != header_bytes) {
        nmt_error("%s: bad header: not valid UTF-8 (at header byte %zu)", path, utf8_bytes);
        goto done;
    }
    json_parser ps = {header, header, header + header_bytes, path, 0};
    if (parse_header(&ps, st, &entries) != 0) goto done;
    by_offset = malloc((size_t)(st->n_tensors ? st->n_tensors : 1) * sizeof *by_offset);
    if (!by_offset) {
        nmt_error("%s: out of memory", path);
        goto done;
    }
    if (check_layout(path, st, entries, file_bytes - 8 - header_bytes, by_offset) != 0) goto done;
    status = read_data(file, path, st, by_offset);
done:
    fclose(file);
    free(header);
    free(entries);
    free(by_offset);
    if (status != 0) nmt_st_free(st);
    return status;
}

/* ---- writing --------------------------------------------------------------- */

typedef struct text_buffer {
    char *data;
    size_t len, cap;
    int failed;
} text_buffer;

static void append(text_buffer *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void append_text(text_buffer *b, const char *s)
{
    append(b, s, strlen(s));
}

static void append_u64(text_buffer *b, uint64_t v)
{
    char digits[24];
    append(b, digits, (size_t)snprintf(digits, sizeof digits, "%llu", (unsigned long long)v));
}

static void append_json_string(text_buffer *b, const char *s)
{
    append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char escaped[8];
        if (*p == '"' || *p == '\\') {
            escaped[0] = '\\';
            escaped[1] = (char)*p;
            append(b, escaped, 2);
        } else if (*p < 0x20) {
            append(b, escaped, (size_t)snprintf(escaped, sizeof escaped, "\\u%04x", *p));
        } else {
            append(b, (const char *)p, 1);
        }
    }
    append(b, "\"", 1);
}

/* Largest element size first, insertion order within a size: every tensor
 * then starts at a multiple of its element size (the header is padded to 8),
 * which is what the Python package does too. */
static int *layout_order(const nmt_safetensors *st)
{
    int *order = malloc((size_t)(st->n_tensors ? st->n_tensors : 1) * sizeof *order);
    if (!order) return NULL;
    int n = 0;
    for (size_t size = 8; size >= 1; size /= 2)
        for (int i = 0; i < st->n_tensors; i++)
            if (nmt_dtype_size(st->tensors[i].dtype) == size) order[n++] = i;
    return order;
}

static int build_header(const nmt_safetensors *st, const int *order, text_buffer *b)
{
    append_text(b, "{");
    if (st->n_meta) {
        append_text(b, "\"" METADATA_KEY "\":{");
        for (int i = 0; i < st->n_meta; i++) {
            if (i) append_text(b, ",");
            append_json_string(b, st->meta[i].key);
            append_text(b, ":");
            append_json_string(b, st->meta[i].value);
        }
        append_text(b, "}");
    }
    uint64_t offset = 0;
    for (int k = 0; k < st->n_tensors; k++) {
        const nmt_st_tensor *t = &st->tensors[order[k]];
        if (k || st->n_meta) append_text(b, ",");
        append_json_string(b, t->name);
        append_text(b, ":{\"dtype\":\"");
        append_text(b, nmt_dtype_name(t->dtype));
        append_text(b, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) append_text(b, ",");
            append_u64(b, (uint64_t)t->shape[d]);
        }
        append_text(b, "],\"data_offsets\":[");
        append_u64(b, offset);
        append_text(b, ",");
        offset += t->nbytes;
        append_u64(b, offset);
        append_text(b, "]}");
    }
    append_text(b, "}");
    while (b->len % 8) append_text(b, " ");
    return b->failed ? -1 : 0;
}

int nmt_st_write(const nmt_safetensors *st, const char *path)
{
    text_buffer header = {0};
    int *order = layout_order(st);
    const void **parts = calloc((size_t)st->n_tensors + 2, sizeof *parts);
    size_t *sizes = calloc((size_t)st->n_tensors + 2, sizeof *sizes);
    int status = -1;
    if (!order || !parts || !sizes || build_header(st, order, &header) != 0) {
        nmt_error("%s: out of memory building the header", path);
    } else {
        unsigned char length_bytes[8];
        for (int i = 0; i < 8; i++) length_bytes[i] = (unsigned char)((uint64_t)header.len >> (8 * i));
        parts[0] = length_bytes, sizes[0] = 8;
        parts[1] = header.data, sizes[1] = header.len;
        for (int k = 0; k < st->n_tensors; k++) {
            parts[k + 2] = st->tensors[order[k]].data;
            sizes[k + 2] = st->tensors[order[k]].nbytes;
        }
        status = nmt_write_atomic(path, st->n_tensors + 2, parts, sizes);
    }
    free(header.data);
    free(order);
    free(parts);
    free(sizes);
    return status;
}

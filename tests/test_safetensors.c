/* safetensors: round trips, atomic writes, strict header validation, and
 * interop with the Python reference (tests/ref/safetensors_io.py). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "nmtrain.h"

static char dir[64];

static const char *in_dir(char *buf, const char *name)
{
    snprintf(buf, 256, "%s/%s", dir, name);
    return buf;
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static int is_aligned(const void *p)
{
    return ((uintptr_t)p & 63) == 0;
}

/* Writes a raw safetensors file: the length of `header`, the header, then
 * `data_bytes` bytes of data. */
static void write_raw(const char *path, const char *header, size_t data_bytes)
{
    FILE *f = fopen(path, "wb");
    uint64_t len = strlen(header);
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)(len >> (8 * i));
    fwrite(len_bytes, 1, 8, f);
    fwrite(header, 1, len, f);
    for (size_t i = 0; i < data_bytes; i++) fputc((int)i, f);
    fclose(f);
}

static void test_round_trip(void)
{
    char path[256], tmp[300];
    float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
    int64_t step = 123456789012345LL;
    uint8_t bytes[3] = {0, 255, 7};
    uint16_t halves[4] = {0x3c00, 0xc000, 0x0000, 0x7bff};
    uint8_t flags[2] = {1, 0};
    int64_t shape_w[2] = {2, 3}, shape_b[1] = {3}, shape_h[2] = {2, 2}, shape_f[1] = {2}, shape_e[2] = {0, 5};

    nmt_safetensors st;
    nmt_st_init(&st);
    /* The byte-sized tensor comes first, so the writer must reorder for alignment. */
    CHECK(nmt_st_add(&st, "bytes", NMT_U8, 1, shape_b, bytes) == 0, "%s", nmt_errmsg());
    CHECK(nmt_st_add(&st, "layer1.0.weight", NMT_F32, 2, shape_w, w) == 0, "%s", nmt_errmsg());
    CHECK(nmt_st_add(&st, "step", NMT_I64, 0, NULL, &step) == 0, "%s", nmt_errmsg());
    CHECK(nmt_st_add(&st, "half", NMT_F16, 2, shape_h, halves) == 0, "%s", nmt_errmsg());
    CHECK(nmt_st_add(&st, "flags", NMT_BOOL, 1, shape_f, flags) == 0, "%s", nmt_errmsg());
    CHECK(nmt_st_add(&st, "empty", NMT_F32, 2, shape_e, NULL) == 0, "%s", nmt_errmsg());
    CHECK(nmt_st_set_meta(&st, "format", "pt") == 0, "%s", nmt_errmsg());
    CHECK(nmt_st_set_meta(&st, "note", "quote \" backslash \\ newline \n tab \t caf\xc3\xa9") == 0, "meta");
    CHECK(nmt_st_set_meta(&st, "format", "nmtrain") == 0, "replace meta");

    /* Bad additions are refused without changing the list. */
    CHECK(nmt_st_add(&st, "step", NMT_I64, 0, NULL, &step) != 0 && strstr(nmt_errmsg(), "twice"), "%s", nmt_errmsg());
    CHECK(nmt_st_add(&st, "__metadata__", NMT_U8, 1, shape_b, bytes) != 0, "reserved name accepted");
    CHECK(nmt_st_add(&st, "", NMT_U8, 1, shape_b, bytes) != 0, "empty name accepted");
    CHECK(nmt_st_add(&st, "bad\xff", NMT_U8, 1, shape_b, bytes) != 0, "invalid UTF-8 name accepted");
    CHECK(nmt_st_set_meta(&st, "k", "\xed\xa0\x80") != 0, "UTF-8 surrogate accepted");
    int64_t too_many[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, negative[1] = {-1};
    CHECK(nmt_st_add(&st, "deep", NMT_U8, 9, too_many, bytes) != 0, "9 dims accepted");
    CHECK(nmt_st_add(&st, "neg", NMT_U8, 1, negative, bytes) != 0, "negative dim accepted");
    CHECK(st.n_tensors == 6, "n_tensors %d", st.n_tensors);

    in_dir(path, "round.safetensors");
    CHECK(nmt_st_write(&st, path) == 0, "%s", nmt_errmsg());
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!exists(tmp), "temporary file left behind");
    nmt_st_free(&st);

    /* The header is padded to a multiple of 8, as the reference writes it. */
    FILE *f = fopen(path, "rb");
    unsigned char len_bytes[8] = {0};
    CHECK(f && fread(len_bytes, 1, 8, f) == 8, "cannot read back");
    if (f) fclose(f);
    CHECK(len_bytes[0] % 8 == 0, "header length %u not a multiple of 8", len_bytes[0]);

    nmt_safetensors in;
    CHECK(nmt_st_read(path, &in) == 0, "%s", nmt_errmsg());
    CHECK(in.n_tensors == 6, "read %d tensors", in.n_tensors);
    const nmt_st_tensor *t = nmt_st_find(&in, "layer1.0.weight");
    CHECK(t && t->dtype == NMT_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->nbytes == 24,
          "weight header");
    const float *wf = nmt_st_f32(&in, path, "layer1.0.weight", 6);
    CHECK(wf && !memcmp(wf, w, sizeof w) && is_aligned(wf), "weight values");
    t = nmt_st_find(&in, "step");
    CHECK(t && t->dtype == NMT_I64 && t->ndim == 0 && t->nbytes == 8 && *(const int64_t *)t->data == step, "scalar");
    t = nmt_st_find(&in, "bytes");
    CHECK(t && t->dtype == NMT_U8 && !memcmp(t->data, bytes, 3) && is_aligned(t->data), "u8");
    t = nmt_st_find(&in, "half");
    CHECK(t && t->dtype == NMT_F16 && !memcmp(t->data, halves, sizeof halves), "f16");
    t = nmt_st_find(&in, "flags");
    CHECK(t && t->dtype == NMT_BOOL && !memcmp(t->data, flags, 2), "bool");
    t = nmt_st_find(&in, "empty");
    CHECK(t && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 5 && t->nbytes == 0, "empty tensor");
    CHECK(in.n_meta == 2, "n_meta %d", in.n_meta);
    const char *format = nmt_st_meta_get(&in, "format"), *note = nmt_st_meta_get(&in, "note");
    CHECK(format && !strcmp(format, "nmtrain"), "format '%s'", format ? format : "(null)");
    CHECK(note && !strcmp(note, "quote \" backslash \\ newline \n tab \t caf\xc3\xa9"), "escaped metadata");
    CHECK(!nmt_st_meta_get(&in, "missing") && !nmt_st_find(&in, "missing"), "missing lookups");

    /* nmt_st_f32 names the file, tensor and mismatch. */
    CHECK(!nmt_st_f32(&in, path, "nope", 6) && strstr(nmt_errmsg(), "'nope' not found") && strstr(nmt_errmsg(), path),
          "%s", nmt_errmsg());
    CHECK(!nmt_st_f32(&in, path, "step", 1) && strstr(nmt_errmsg(), "I64"), "%s", nmt_errmsg());
    CHECK(!nmt_st_f32(&in, path, "layer1.0.weight", 5) && strstr(nmt_errmsg(), "6 elements, expected 5"), "%s",
          nmt_errmsg());
    nmt_st_free(&in);
    nmt_st_free(&in); /* freeing twice is harmless */
}

static void test_atomic_write(void)
{
    char path[256], tmp[300], bad[256];
    float a[2] = {1, 2}, b[2] = {3, 4};
    int64_t shape[1] = {2};
    nmt_safetensors st;

    nmt_st_init(&st);
    nmt_st_add(&st, "x", NMT_F32, 1, shape, a);
    in_dir(path, "atomic.safetensors");
    CHECK(nmt_st_write(&st, path) == 0, "%s", nmt_errmsg());
    nmt_st_free(&st);

    /* A write that cannot create its temporary file leaves the target as it was. */
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    mkdir(tmp, 0700);
    nmt_st_init(&st);
    nmt_st_add(&st, "x", NMT_F32, 1, shape, b);
    CHECK(nmt_st_write(&st, path) != 0 && strstr(nmt_errmsg(), path), "%s", nmt_errmsg());
    rmdir(tmp);
    nmt_safetensors in;
    CHECK(nmt_st_read(path, &in) == 0, "%s", nmt_errmsg());
    const float *x = nmt_st_f32(&in, path, "x", 2);
    CHECK(x && x[0] == 1 && x[1] == 2, "target changed by a failed write");
    nmt_st_free(&in);

    /* A missing directory fails cleanly and names the path. */
    in_dir(bad, "no-such-dir/x.safetensors");
    CHECK(nmt_st_write(&st, bad) != 0 && strstr(nmt_errmsg(), "no-such-dir/x.safetensors"), "%s", nmt_errmsg());

    /* A successful overwrite replaces the content and leaves no .tmp. */
    CHECK(nmt_st_write(&st, path) == 0, "%s", nmt_errmsg());
    CHECK(!exists(tmp), "temporary file left behind");
    CHECK(nmt_st_read(path, &in) == 0, "%s", nmt_errmsg());
    x = nmt_st_f32(&in, path, "x", 2);
    CHECK(x && x[0] == 3 && x[1] == 4, "overwrite");
    nmt_st_free(&in);
    nmt_st_free(&st);
}

typedef struct malformed_case {
    const char *label;
    const char *header;   /* NULL: raw bytes below */
    size_t data_bytes;
    const char *expect;   /* fragment of the error message */
} malformed_case;

static void check_rejected(const char *path, const char *label, const char *expect)
{
    nmt_safetensors st;
    int rc = nmt_st_read(path, &st);
    const char *msg = nmt_errmsg();
    CHECK(rc != 0, "%s: accepted", label);
    CHECK(strstr(msg, path) != NULL, "%s: message does not name the file: %s", label, msg);
    CHECK(strstr(msg, expect) != NULL, "%s: expected '%s' in: %s", label, expect, msg);
    CHECK(st.n_tensors == 0 && st.storage == NULL, "%s: not left empty", label);
    printf("  %-28s -> %s\n", label, msg);
}

static void test_malformed(void)
{
    static const malformed_case cases[] = {
        {"truncated header", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 0, "truncated"},
        {"missing brace", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "expected '}'"},
        {"not an object", "[1,2]   ", 0, "expected '{'"},
        {"trailing text", "{} x    ", 0, "after the header"},
        {"unknown dtype", "{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unsupported dtype 'F8'"},
        {"offsets past end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "past the end"},
        {"size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8"},
        {"offsets reversed", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, "end before"},
        {"overlap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "overlap"},
        {"gap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         12, "gap"},
        {"gap at start", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "must start at 0"},
        {"uncovered data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "cover 4 bytes"},
        {"duplicate tensor",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
         "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
         2, "duplicate tensor name"},
        {"missing key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, "lacks data_offsets"},
        {"unknown key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unknown key"},
        {"negative dimension", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative"},
        {"fractional offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.0,4]}}", 4, "integer"},
        {"three offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, "exactly two"},
        {"huge offset", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", 1, "too large"},
        {"too many dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, "more than 8"},
        {"metadata not string", "{\"__metadata__\":{\"epoch\":3}}", 0, "metadata value"},
        {"bad escape", "{\"a\\q\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "bad escape"},
        {"unterminated string", "{\"abc", 0, "unterminated string"},
        {"control character", "{\"a\tb\":{}}", 0, "control character"},
        {"invalid utf-8", "{\"a\xc3\x28\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "UTF-8"},
        {"overlong utf-8", "{\"\xc0\xaf\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "UTF-8"},
    };
    char path[256];
    in_dir(path, "bad.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const malformed_case *c = &cases[i];
        write_raw(path, c->header, c->data_bytes);
        if (!strcmp(c->label, "truncated header")) CHECK(truncate(path, 8 + 20) == 0, "truncate");
        check_rejected(path, c->label, c->expect);
    }

    /* Files too short to hold even the header length, and lengths that lie. */
    FILE *f = fopen(path, "wb");
    fclose(f);
    check_rejected(path, "empty file", "empty file");
    f = fopen(path, "wb");
    fwrite("\x10\0\0", 1, 3, f);
    fclose(f);
    check_rejected(path, "3-byte file", "truncated");
    f = fopen(path, "wb");
    fwrite("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 1, 10, f);
    fclose(f);
    check_rejected(path, "absurd header length", "truncated");
    f = fopen(path, "wb");
    fwrite("\x01\0\0\0\0\0\0\0{", 1, 9, f);
    fclose(f);
    check_rejected(path, "one-byte header", "outside 2..");
    in_dir(path, "missing.safetensors");
    check_rejected(path, "missing file", "cannot open");

    /* Whitespace padding and an empty tensor sharing an offset are valid. */
    in_dir(path, "edge.safetensors");
    write_raw(path,
              "{ \"b\" : {\"shape\":[2],\"dtype\":\"U8\",\"data_offsets\":[0,2]} ,"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
              "\"__metadata__\":{\"k\\u00e9\\ud83d\\ude00\":\"v\"}}   ",
              2);
    nmt_safetensors st;
    CHECK(nmt_st_read(path, &st) == 0, "%s", nmt_errmsg());
    CHECK(st.n_tensors == 2 && !strcmp(st.tensors[0].name, "b") && st.tensors[1].nbytes == 0, "edge tensors");
    CHECK(nmt_st_meta_get(&st, "k\xc3\xa9\xf0\x9f\x98\x80") != NULL, "unicode escapes in metadata key");
    nmt_st_free(&st);

    write_raw(path, "{\"__metadata__\":null}", 0);
    CHECK(nmt_st_read(path, &st) == 0 && st.n_meta == 0 && st.n_tensors == 0, "null metadata: %s", nmt_errmsg());
    nmt_st_free(&st);
}

/* C writes, Python reads and checks, Python writes, C reads and checks. */
static void test_python_interop(void)
{
    if (access("/usr/bin/python3", X_OK) != 0 || system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
        printf("  note: /usr/bin/python3 with numpy not found; skipping the Python interop check\n");
        return;
    }
    if (access("tests/ref/safetensors_io.py", R_OK) != 0) {
        printf("  note: tests/ref/safetensors_io.py not found (run from the repository root); skipping\n");
        return;
    }
    char c_file[256], py_file[256], script[256], command[1024];
    float w[6] = {0.5f, -1, 2, -3, 4, 1e-7f};
    int64_t labels[3] = {-1, 0, 1LL << 40};
    int64_t shape_w[2] = {3, 2}, shape_l[1] = {3};
    nmt_safetensors st;
    nmt_st_init(&st);
    nmt_st_add(&st, "fc.weight", NMT_F32, 2, shape_w, w);
    nmt_st_add(&st, "labels", NMT_I64, 1, shape_l, labels);
    nmt_st_set_meta(&st, "epoch", "3");
    CHECK(nmt_st_write(&st, in_dir(c_file, "from_c.safetensors")) == 0, "%s", nmt_errmsg());
    nmt_st_free(&st);

    FILE *f = fopen(in_dir(script, "interop.py"), "w");
    fputs("import sys\n"
          "sys.path.insert(0, 'tests/ref')\n"
          "import numpy as np\n"
          "import safetensors_io as s\n"
          "t, m = s.load(sys.argv[1])\n"
          "assert m == {'epoch': '3'}, m\n"
          "assert t['fc.weight'].dtype == np.float32 and t['fc.weight'].shape == (3, 2)\n"
          "assert (t['fc.weight'].ravel() == np.array([0.5, -1, 2, -3, 4, 1e-7], np.float32)).all()\n"
          "assert (t['labels'] == np.array([-1, 0, 1 << 40])).all()\n"
          "s.save(sys.argv[2], {'conv.weight': np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2),\n"
          "                     'mask': np.array([1, 0, 1], np.uint8),\n"
          "                     'half': np.array([1.0, -2.0], np.float16)}, {'source': 'python'})\n",
          f);
    fclose(f);
    snprintf(command, sizeof command, "/usr/bin/python3 %s %s %s", script, c_file, in_dir(py_file, "from_py.safetensors"));
    int rc = system(command);
    CHECK(rc == 0, "python could not read the C file or write its own (status %d)", rc);
    if (rc != 0) return;

    nmt_safetensors in;
    CHECK(nmt_st_read(py_file, &in) == 0, "%s", nmt_errmsg());
    const float *conv = nmt_st_f32(&in, py_file, "conv.weight", 24);
    const nmt_st_tensor *t = nmt_st_find(&in, "conv.weight");
    int ok = conv && t->ndim == 4 && t->shape[0] == 2 && t->shape[1] == 3 && t->shape[3] == 2;
    for (int i = 0; ok && i < 24; i++) ok = conv[i] == (float)i;
    CHECK(ok, "conv.weight from python");
    t = nmt_st_find(&in, "mask");
    CHECK(t && t->dtype == NMT_U8 && !memcmp(t->data, "\1\0\1", 3), "mask from python");
    t = nmt_st_find(&in, "half");
    CHECK(t && t->dtype == NMT_F16 && ((const uint16_t *)t->data)[0] == 0x3c00 && ((const uint16_t *)t->data)[1] == 0xc000,
          "half from python");
    const char *source = nmt_st_meta_get(&in, "source");
    CHECK(source && !strcmp(source, "python"), "metadata from python");
    nmt_st_free(&in);
    printf("  python interop: ok\n");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/nmt_st_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_atomic_write();
    test_malformed();
    test_python_interop();
    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
    TEST_END("test_safetensors");
}

/* Image-folder data sets: a generated tree of JPEG and PNG files (odd
 * sizes, grayscale, CMYK, palette, alpha, a truncated JPEG and a file that
 * is not an image) decoded and transformed against PIL through
 * tests/ref/image_ref.py (max difference printed, at most 1 level),
 * RandomResizedCrop's geometry against torchvision's get_params on the
 * draws it made (tests/fixtures/rrc_params.txt), the skip-and-count of bad
 * files, strict mode, the layout errors, and identical batches for 1, 2
 * and 4 decode threads, after a seek too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>
#include <png.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/image.h"
#include "harness.h"
#include "nmtrain.h"

#define PYTHON "/usr/bin/python3"

static char root[64];

static void make_dirs(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

/* A smooth pattern with some texture, different per image. */
static uint8_t pattern(int seed, int x, int y, int c)
{
    return (uint8_t)((x * (3 + seed) + y * (5 + c) + ((x * y + seed * 7) % 13) * 9 + c * 60 + seed * 17) & 255);
}

static void write_jpeg(const char *path, int w, int h, int comps, J_COLOR_SPACE space, int seed)
{
    FILE *f = fopen(path, "wb");
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr err;
    cinfo.err = jpeg_std_error(&err);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = comps;
    cinfo.in_color_space = space;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 90, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    uint8_t *row = malloc((size_t)w * comps);
    while (cinfo.next_scanline < cinfo.image_height) {
        for (int x = 0; x < w; x++)
            for (int c = 0; c < comps; c++) row[x * comps + c] = pattern(seed, x, (int)cinfo.next_scanline, c);
        JSAMPROW r = row;
        jpeg_write_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    fclose(f);
    free(row);
}

static void write_png(const char *path, int w, int h, int color_type, int seed)
{
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    int comps = color_type == PNG_COLOR_TYPE_RGB ? 3 : color_type == PNG_COLOR_TYPE_RGBA ? 4 : 1;
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color palette[16];
        for (int i = 0; i < 16; i++)
            palette[i] = (png_color){(png_byte)(i * 16), (png_byte)(255 - i * 9), (png_byte)(i * i)};
        png_set_PLTE(png, info, palette, 16);
    }
    png_write_info(png, info);
    uint8_t *row = malloc((size_t)w * comps);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++)
            for (int c = 0; c < comps; c++)
                row[x * comps + c] = color_type == PNG_COLOR_TYPE_PALETTE ? pattern(seed, x, y, c) % 16
                                                                          : pattern(seed, x, y, c);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    free(row);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static void truncate_copy(const char *from, const char *to, double keep)
{
    FILE *f = fopen(from, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    f = fopen(to, "wb");
    fwrite(buf, 1, (size_t)(got * keep), f);
    fclose(f);
    free(buf);
}

static const char *at(char *buf, const char *rel)
{
    snprintf(buf, 512, "%s/%s", root, rel);
    return buf;
}

/* The tree: three classes of good files plus two bad ones in train; val
 * with two classes. */
static void build_tree(void)
{
    char p[512], q[512];
    make_dirs(at(p, "img/train/cat"));
    make_dirs(at(p, "img/train/dog/sub"));
    make_dirs(at(p, "img/train/emu"));
    make_dirs(at(p, "img/val/cat"));
    make_dirs(at(p, "img/val/emu"));
    write_jpeg(at(p, "img/train/cat/a.jpg"), 37, 23, 3, JCS_RGB, 1);
    write_jpeg(at(p, "img/train/cat/b.jpeg"), 500, 375, 3, JCS_RGB, 2);
    write_jpeg(at(p, "img/train/cat/gray.JPG"), 41, 29, 1, JCS_GRAYSCALE, 3);
    write_jpeg(at(p, "img/train/cat/cmyk.jpg"), 33, 27, 4, JCS_CMYK, 4);
    write_png(at(p, "img/train/cat/rgb.png"), 31, 17, PNG_COLOR_TYPE_RGB, 5);
    write_png(at(p, "img/train/dog/alpha.png"), 23, 19, PNG_COLOR_TYPE_RGBA, 6);
    write_png(at(p, "img/train/dog/palette.png"), 19, 21, PNG_COLOR_TYPE_PALETTE, 7);
    write_png(at(p, "img/train/dog/sub/gray.png"), 20, 20, PNG_COLOR_TYPE_GRAY, 8);
    write_jpeg(at(p, "img/train/dog/c.jpg"), 64, 80, 3, JCS_RGB, 9);
    write_jpeg(at(p, "img/train/emu/tall.jpg"), 120, 333, 3, JCS_RGB, 10);
    write_jpeg(at(p, "img/train/emu/wide.jpg"), 260, 90, 3, JCS_RGB, 11);
    write_jpeg(at(p, "img/train/emu/full.jpg"), 64, 48, 3, JCS_RGB, 12);
    truncate_copy(at(p, "img/train/emu/full.jpg"), at(q, "img/train/emu/truncated.jpg"), 0.6);
    write_text(at(p, "img/train/dog/not-an-image.jpg"), "this is text, not a JPEG\n");
    write_text(at(p, "img/train/dog/readme.txt"), "ignored: not an image extension\n");
    write_jpeg(at(p, "img/val/cat/v1.jpg"), 70, 50, 3, JCS_RGB, 13);
    write_png(at(p, "img/val/emu/v2.png"), 45, 66, PNG_COLOR_TYPE_RGB, 14);
}

static const char *good_files[] = {
    "img/train/cat/a.jpg", "img/train/cat/b.jpeg", "img/train/cat/gray.JPG", "img/train/cat/cmyk.jpg",
    "img/train/cat/rgb.png", "img/train/dog/alpha.png", "img/train/dog/palette.png", "img/train/dog/sub/gray.png",
    "img/train/dog/c.jpg", "img/train/emu/tall.jpg", "img/train/emu/wide.jpg", "img/train/emu/full.jpg",
};
#define N_GOOD ((int)(sizeof good_files / sizeof *good_files))

static int fixed_denom_value;
static int fixed_denom(int w, int h, int scalable, void *ctx)
{
    (void)w, (void)h, (void)ctx;
    return scalable ? fixed_denom_value : 1;
}

static int read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc((size_t)n + 1);
    *size = fread(*data, 1, (size_t)n, f);
    fclose(f);
    return 0;
}

/* Reads PIL's output ("W H\n" + RGB) and returns the largest difference
 * to `mine`, or 999 on a size mismatch. */
static int compare_ref(const char *ref_path, const uint8_t *mine, int w, int h)
{
    uint8_t *data;
    size_t size;
    if (read_file(ref_path, &data, &size) != 0) return 999;
    int rw, rh;
    const uint8_t *newline = memchr(data, '\n', size < 32 ? size : 32);
    const size_t skip = newline ? (size_t)(newline - data) + 1 : 0;
    data[size] = 0;
    if (!newline || sscanf((char *)data, "%d %d", &rw, &rh) != 2 || rw != w || rh != h ||
        size != skip + (size_t)w * h * 3) {
        free(data);
        return 999;
    }
    int worst = 0;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        int d = abs((int)data[skip + i] - (int)mine[i]);
        if (d > worst) worst = d;
    }
    free(data);
    return worst;
}

typedef struct case_out {
    char ref[512];
    uint8_t *pixels;
    int w, h;
    char label[160];
} case_out;

/* Decoding and whole samples against PIL: one manifest, one Python run. */
static void check_against_pil(void)
{
    if (system(PYTHON " -c 'import PIL' 2>/dev/null") != 0) {
        CHECK(0, "Debian's python3-pil is needed for the reference (scripts/install-deps.sh installs it)");
        return;
    }
    char manifest[512], p[512];
    snprintf(manifest, sizeof manifest, "%s/manifest.txt", root);
    FILE *m = fopen(manifest, "w");
    case_out cases[160];
    int n = 0;
    static const int denoms[4] = {1, 2, 4, 8};
    nmt_rgb_image img;
    memset(&img, 0, sizeof img);
    char why[200];
    for (int i = 0; i < N_GOOD; i++) {
        uint8_t *data = NULL;
        size_t size = 0;
        CHECK(read_file(at(p, good_files[i]), &data, &size) == 0, "%s unreadable", p);
        const int is_jpeg = strstr(good_files[i], ".png") == NULL;
        for (int k = 0; k < (is_jpeg ? 4 : 1); k++) {
            fixed_denom_value = denoms[k];
            case_out *c = &cases[n];
            int rc = nmt_image_decode(data, size, fixed_denom, NULL, &img, why, sizeof why);
            CHECK(rc == 0, "%s: %s", good_files[i], why);
            if (rc) continue;
            c->w = img.w, c->h = img.h;
            c->pixels = malloc((size_t)img.w * img.h * 3);
            memcpy(c->pixels, img.pixels, (size_t)img.w * img.h * 3);
            snprintf(c->ref, sizeof c->ref, "%s/ref%03d.rgb", root, n);
            snprintf(c->label, sizeof c->label, "decode %s at 1/%d (%dx%d)", good_files[i], denoms[k], img.w, img.h);
            fprintf(m, "decode %s %d %s\n", p, denoms[k], c->ref);
            n++;
        }
        free(data);
    }
    nmt_rgb_image_free(&img);
    /* Whole samples: training crops (some scaled-down decodes on the
     * 500x375 image at size 48) and evaluation crops. */
    struct nmt_image_files files;
    memset(&files, 0, sizeof files);
    char *paths[N_GOOD];
    int labels[N_GOOD] = {0};
    for (int i = 0; i < N_GOOD; i++) paths[i] = strdup(at(p, good_files[i]));
    files.count = N_GOOD;
    files.paths = paths;
    files.labels = labels;
    files.crop_ratio = 0.875f;
    nmt_sample_scratch scratch;
    memset(&scratch, 0, sizeof scratch);
    int scaled = 0;
    static const int sizes[2] = {16, 48};
    for (int i = 0; i < N_GOOD; i++)
        for (int si = 0; si < 2; si++)
            for (int t = 0; t < 4; t++) {
                files.image_size = sizes[si];
                const int train = t < 3, s = sizes[si];
                case_out *c = &cases[n];
                c->pixels = malloc((size_t)s * s * 3);
                nmt_sample_geometry g;
                int rc = nmt_image_sample(&files, i, train, 1, (uint64_t)(i * 100 + t * 10 + si), &scratch,
                                          c->pixels, &g, why, sizeof why);
                CHECK(rc == 0, "%s: %s", good_files[i], why);
                if (rc) {
                    free(c->pixels);
                    continue;
                }
                scaled += g.denom > 1;
                c->w = c->h = s;
                snprintf(c->ref, sizeof c->ref, "%s/ref%03d.rgb", root, n);
                snprintf(c->label, sizeof c->label, "%s %s size %d, 1/%d, flip %d", train ? "train" : "eval",
                         good_files[i], s, g.denom, g.flip);
                fprintf(m, "sample %s %d %d %d %d %d %.9g %.9g %.9g %.9g %d %d %d %d %d %d %d %s\n", paths[i], g.denom,
                        g.region[0], g.region[1], g.region[2], g.region[3], (double)g.box[0], (double)g.box[1],
                        (double)g.box[2], (double)g.box[3], g.resized_w, g.resized_h, g.window[0], g.window[1],
                        g.window[2], g.window[3], g.flip, c->ref);
                n++;
            }
    nmt_sample_scratch_free(&scratch);
    for (int i = 0; i < N_GOOD; i++) free(paths[i]);
    fclose(m);
    CHECK(scaled > 0, "no sample took a scaled-down decode");
    char command[1200];
    snprintf(command, sizeof command, PYTHON " tests/ref/image_ref.py manifest %s", manifest);
    int rc = system(command);
    CHECK(rc == 0, "%s failed", command);
    int worst_decode = 0, worst_sample = 0;
    for (int i = 0; i < n; i++) {
        int d = rc == 0 ? compare_ref(cases[i].ref, cases[i].pixels, cases[i].w, cases[i].h) : 999;
        CHECK(d <= 1, "%s: differs from PIL by %d", cases[i].label, d);
        if (!strncmp(cases[i].label, "decode", 6)) worst_decode = d > worst_decode ? d : worst_decode;
        else worst_sample = d > worst_sample ? d : worst_sample;
        free(cases[i].pixels);
    }
    printf("  %d decodes and samples against PIL: max difference %d (decode), %d (crop+resize+flip)\n", n,
           worst_decode, worst_sample);
}

/* The recorded draws of one fixture line, fed back in order. */
typedef struct replay {
    char kinds[32];
    double lo[32], hi[32], value[32];
    int n, next, mismatch;
} replay;

static float replay_uniform(void *ctx, float lo, float hi)
{
    replay *r = ctx;
    if (r->next >= r->n || r->kinds[r->next] != 'u' || (float)r->lo[r->next] != lo || (float)r->hi[r->next] != hi) {
        r->mismatch = 1;
        return lo;
    }
    return (float)r->value[r->next++];
}

static int replay_below(void *ctx, int n)
{
    replay *r = ctx;
    if (r->next >= r->n || r->kinds[r->next] != 'i' || (int)r->lo[r->next] != n) {
        r->mismatch = 1;
        return 0;
    }
    return (int)r->value[r->next++];
}

static void check_crop_params(void)
{
    FILE *f = fopen("tests/fixtures/rrc_params.txt", "r");
    CHECK(f != NULL, "tests/fixtures/rrc_params.txt missing");
    if (!f) return;
    char line[4096];
    int cases = 0, fallbacks = 0, wrong = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        int w, h, used;
        double s_lo, s_hi;
        if (sscanf(line, "%d %d %lf %lf%n", &w, &h, &s_lo, &s_hi, &used) != 4) continue;
        replay r;
        memset(&r, 0, sizeof r);
        char *cursor = line + used, tag[4];
        int len;
        while (sscanf(cursor, " %3s%n", tag, &len) == 1 && tag[0] != '=') {
            cursor += len;
            if (tag[0] == 'u' && sscanf(cursor, " %lf %lf %lf%n", &r.lo[r.n], &r.hi[r.n], &r.value[r.n], &len) == 3)
                r.kinds[r.n++] = 'u';
            else if (tag[0] == 'i' && sscanf(cursor, " %lf %lf%n", &r.lo[r.n], &r.value[r.n], &len) == 2)
                r.kinds[r.n++] = 'i';
            cursor += len;
        }
        cursor += len;
        nmt_crop want;
        if (sscanf(cursor, "%d %d %d %d", &want.top, &want.left, &want.height, &want.width) != 4) continue;
        const float scale[2] = {(float)s_lo, (float)s_hi}, ratio[2] = {3.0f / 4.0f, 4.0f / 3.0f};
        const nmt_crop_draws draws = {replay_uniform, replay_below, &r};
        nmt_crop got;
        nmt_random_resized_crop(w, h, scale, ratio, &draws, &got);
        int ok = !r.mismatch && r.next == r.n && got.top == want.top && got.left == want.left &&
                 got.height == want.height && got.width == want.width;
        if (!ok && wrong++ < 5)
            CHECK(0, "%dx%d: got %d %d %d %d, torchvision %d %d %d %d (draws used %d of %d%s)", w, h, got.top,
                  got.left, got.height, got.width, want.top, want.left, want.height, want.width, r.next, r.n,
                  r.mismatch ? ", out of order" : "");
        cases++;
        fallbacks += r.n == 20;
    }
    fclose(f);
    CHECK(cases >= 300 && fallbacks > 0, "%d cases, %d fallbacks", cases, fallbacks);
    CHECK(wrong == 0, "%d of %d crops differ from torchvision", wrong, cases);
    printf("  RandomResizedCrop.get_params: %d cases (%d through the fallback), %d differ from torchvision\n", cases,
           fallbacks, wrong);
}

/* All batches of two epochs (and of epoch 1 from batch 2) of a loader. */
static int is_bad(const nmt_dataset *ds, int index)
{
    return strstr(ds->files->paths[index], "truncated.jpg") || strstr(ds->files->paths[index], "not-an-image.jpg");
}

static int collect(const nmt_dataset *ds, int batch, int train, float *out, int *labels, int *skipped,
                   int *expected)
{
    nmt_loader ld;
    const nmt_augment aug = {train ? 1 : 0, train};
    if (nmt_loader_init(&ld, ds, batch, 0, aug, NULL, NULL, train ? 7 : -1) != 0) return -1;
    const size_t sample = (size_t)3 * ds->h * ds->w;
    int total = 0, n;
    *skipped = 0;
    for (int epoch = 0; epoch < 2; epoch++) {
        nmt_loader_epoch(&ld, epoch);
        while ((n = nmt_loader_next(&ld, out + total * sample, labels + total)) > 0) total += n;
        if (n < 0) {
            nmt_loader_free(&ld);
            return -1;
        }
        *skipped += ld.skipped;
    }
    nmt_loader_epoch(&ld, 1);
    *expected = 0;
    for (int e = 0; e < 2; e++)
        for (int i = 0; i < ds->count; i++) *expected += !is_bad(ds, i);
    for (int position = 2 * batch; position < ds->count; position++) *expected += !is_bad(ds, ld.order[position]);
    nmt_loader_seek(&ld, 2);
    while ((n = nmt_loader_next(&ld, out + total * sample, labels + total)) > 0) total += n;
    nmt_loader_free(&ld);
    return total;
}

static void check_loader(void)
{
    char p[512];
    nmt_dataset ds;
    nmt_image_options opt = {24, 0.875f, 1, 2, 0};
    int rc = nmt_dataset_load_images("imagefolder", at(p, "img"), 1, &opt, &ds);
    CHECK(rc == 0, "%s", nmt_errmsg());
    if (rc) return;
    CHECK(ds.count == N_GOOD + 2 && ds.classes == 3 && ds.c == 3 && ds.h == 24,
          "count %d classes %d (14 files with 2 bad, 3 classes)", ds.count, ds.classes);
    /* ImageFolder order: classes sorted, files sorted, subfolders after. */
    CHECK(strstr(ds.files->paths[0], "cat/a.jpg") && strstr(ds.files->paths[ds.count - 1], "emu/wide.jpg") &&
              strstr(ds.files->paths[9], "dog/sub/gray.png") && ds.files->labels[9] == 1 &&
              ds.files->labels[ds.count - 1] == 2,
          "order: %s ... %s", ds.files->paths[0], ds.files->paths[ds.count - 1]);
    const size_t sample = (size_t)3 * 24 * 24, cap = 64;
    float *ref = malloc(cap * sample * sizeof(float)), *got = malloc(cap * sample * sizeof(float));
    int ref_labels[64], got_labels[64], skipped = 0;
    for (int train = 1; train >= 0; train--) {
        int n_ref = -1;
        for (int w = 1; w <= 4; w *= 2) {
            ds.files->workers = w;
            ds.files->prefetch = w == 4 ? 1 : 3;
            int expected = 0;
            int n = collect(&ds, 5, train, w == 1 ? ref : got, w == 1 ? ref_labels : got_labels, &skipped, &expected);
            /* Two epochs of 12 good images, then epoch 1 from position 10. */
            CHECK(n == expected && skipped == 4, "%s, %d workers: %d samples (%d expected), %d skipped",
                  train ? "train" : "eval", w, n, expected, skipped);
            if (w == 1) {
                n_ref = n;
                continue;
            }
            CHECK(n == n_ref && !memcmp(ref, got, (size_t)n * sample * sizeof(float)) &&
                      !memcmp(ref_labels, got_labels, (size_t)n * sizeof(int)),
                  "%s batches with %d workers differ from 1 worker", train ? "train" : "eval", w);
        }
        printf("  %s: 1, 2 and 4 workers give identical batches (%d samples, 2 bad files skipped per epoch)\n",
               train ? "train" : "eval", n_ref);
    }
    /* Data parallelism: shards [0, 2) and [2, 5) of every batch, put side
     * by side, are the unsharded batch (samples are CNHW: per channel). */
    {
        const nmt_augment aug = {1, 1};
        nmt_loader full, part[2];
        int ok = nmt_loader_init(&full, &ds, 5, 0, aug, NULL, NULL, 3) == 0;
        for (int k = 0; k < 2; k++) {
            ok &= nmt_loader_init(&part[k], &ds, 5, 0, aug, NULL, NULL, 3) == 0;
            nmt_loader_shard(&part[k], k ? 2 : 0, k ? 5 : 2);
        }
        int batches = 0, same = 1, n, lab[5], lab_part[2][5];
        float *xf = malloc(5 * sample * sizeof(float)), *xp[2];
        xp[0] = malloc(5 * sample * sizeof(float)), xp[1] = malloc(5 * sample * sizeof(float));
        const size_t plane = 24 * 24;
        nmt_loader_epoch(&full, 1), nmt_loader_epoch(&part[0], 1), nmt_loader_epoch(&part[1], 1);
        while (ok && (n = nmt_loader_next(&full, xf, lab)) > 0) {
            int m[2];
            for (int k = 0; k < 2; k++) m[k] = nmt_loader_next(&part[k], xp[k], lab_part[k]);
            same &= m[0] + m[1] == n;
            for (int c = 0; c < 3 && same; c++)
                for (int k = 0, at = 0; k < 2; at += m[k], k++) {
                    same &= !memcmp(xf + ((size_t)c * n + at) * plane, xp[k] + (size_t)c * m[k] * plane,
                                    (size_t)m[k] * plane * sizeof(float));
                    same &= !memcmp(lab + at, lab_part[k], (size_t)m[k] * sizeof(int));
                }
            batches++;
        }
        CHECK(ok && same && batches == 3, "shards differ from the whole batches (%d batches)", batches);
        printf("  shards [0,2) and [2,5) of %d batches put together are the unsharded batches\n", batches);
        nmt_loader_free(&full), nmt_loader_free(&part[0]), nmt_loader_free(&part[1]);
        free(xf), free(xp[0]), free(xp[1]);
    }
    /* Normalised with ImageNet's statistics: channel 0 of an evaluation
     * sample matches the byte image (tested against PIL above). */
    float mean[3], std[3];
    nmt_dataset_stats(&ds, mean, std);
    CHECK(mean[0] == 0.485f && std[2] == 0.225f, "published statistics: %g %g", (double)mean[0], (double)std[2]);
    /* Strict: the first bad file ends the epoch with an error naming it. */
    ds.files->strict = 1;
    int skipped_strict, expected;
    rc = collect(&ds, 5, 1, got, got_labels, &skipped_strict, &expected);
    CHECK(rc == -1 && (strstr(nmt_errmsg(), "not-an-image.jpg") || strstr(nmt_errmsg(), "truncated.jpg")),
          "strict: rc %d, '%s'", rc, nmt_errmsg());
    printf("  strict: %s\n", nmt_errmsg());
    free(ref), free(got);
    nmt_dataset_free(&ds);
    rc = nmt_dataset_load("imagefolder", at(p, "img"), 0, &ds);
    CHECK(rc == 0 && ds.count == 2 && ds.classes == 3 && ds.h == 224 && ds.files->labels[1] == 2,
          "val: rc %d count %d classes %d", rc, ds.count, ds.classes);
    nmt_dataset_free(&ds);
}

static void expect_error(const char *name, const char *rel, int train, const char *needle)
{
    char p[512];
    nmt_dataset ds;
    int rc = nmt_dataset_load(name, at(p, rel), train, &ds);
    CHECK(rc == -1 && strstr(nmt_errmsg(), needle), "%s %s: rc %d, '%s' lacks '%s'", name, rel, rc, nmt_errmsg(),
          needle);
    if (rc == -1) printf("  %s\n", nmt_errmsg());
    else nmt_dataset_free(&ds);
}

static void check_layouts(void)
{
    char p[512], q[512];
    make_dirs(at(p, "empty/train/a"));
    make_dirs(at(p, "empty/train/b"));
    write_jpeg(at(p, "empty/train/a/x.jpg"), 9, 9, 3, JCS_RGB, 1);
    expect_error("imagefolder", "empty", 1, "empty/train/b: no images");
    make_dirs(at(p, "none/train"));
    expect_error("imagefolder", "none", 1, "none/train: no class folders");
    make_dirs(at(p, "missing/train/a"));
    make_dirs(at(p, "missing/val/zebra"));
    write_jpeg(at(p, "missing/train/a/x.jpg"), 9, 9, 3, JCS_RGB, 1);
    write_jpeg(at(p, "missing/val/zebra/y.jpg"), 9, 9, 3, JCS_RGB, 1);
    expect_error("imagefolder", "missing", 0, "class 'zebra' is not in");
    expect_error("imagefolder", "nowhere", 1, "nowhere/train: not a folder");
    nmt_dataset none;
    CHECK(nmt_dataset_load("imagenet", NULL, 1, &none) == -1 && strstr(nmt_errmsg(), "needs a directory"), "'%s'",
          nmt_errmsg());
    /* Tiny ImageNet as shipped: train/<wnid>/images, val/images + annotations. */
    make_dirs(at(p, "tiny/train/n01/images"));
    make_dirs(at(p, "tiny/train/n02/images"));
    make_dirs(at(p, "tiny/val/images"));
    write_jpeg(at(p, "tiny/train/n01/images/n01_0.JPEG"), 64, 64, 3, JCS_RGB, 1);
    write_jpeg(at(p, "tiny/train/n02/images/n02_0.JPEG"), 64, 64, 3, JCS_RGB, 2);
    write_text(at(p, "tiny/train/n01/n01_boxes.txt"), "n01_0.JPEG\t0\t0\t10\t10\n");
    write_jpeg(at(p, "tiny/val/images/val_0.JPEG"), 64, 64, 3, JCS_RGB, 3);
    write_jpeg(at(p, "tiny/val/images/val_1.JPEG"), 64, 64, 3, JCS_RGB, 4);
    write_text(at(p, "tiny/val/val_annotations.txt"), "val_0.JPEG\tn02\t0\t0\t9\t9\nval_1.JPEG\tn01\t1\t1\t9\t9\n");
    nmt_dataset ds;
    int rc = nmt_dataset_load("tinyimagenet", at(p, "tiny"), 0, &ds);
    CHECK(rc == 0 && ds.count == 2 && ds.classes == 2 && ds.h == 64 && ds.files->labels[0] == 1 &&
              ds.files->labels[1] == 0 && strstr(ds.files->paths[0], "val/images/val_0.JPEG"),
          "tiny val: rc %d '%s'", rc, rc ? nmt_errmsg() : "");
    float mean[3], std[3];
    if (!rc) {
        nmt_dataset_stats(&ds, mean, std);
        CHECK(mean[0] == 0.4802f, "tiny mean %g", (double)mean[0]);
        nmt_dataset_free(&ds);
    }
    write_text(at(q, "tiny/val/val_annotations.txt"), "val_0.JPEG\tn09\t0\t0\t9\t9\n");
    expect_error("tinyimagenet", "tiny", 0, "val_annotations.txt:1: class 'n09' is not in");
}

/* The command end to end: a run interrupted after 4 steps and resumed
 * with another worker count ends with the same checkpoint, byte for byte,
 * and its log rows count the skipped files. */
static void check_training_resume(void)
{
    const char *nmtrain = getenv("NMTRAIN");
    if (!nmtrain) nmtrain = "build/nmtrain";
    char common[1024], command[2048], p[512], q[512];
    snprintf(common, sizeof common,
             "%s train --data imagefolder --data-dir %s/img --image-size 16 --width 0.125 --epochs 3 --batch 4 "
             "--threads 1 --quiet",
             nmtrain, root);
    snprintf(command, sizeof command, "%s --workers 1 --out %s/full 2>/dev/null", common, root);
    int rc = system(command);
    snprintf(command, sizeof command, "%s --workers 2 --out %s/part --max-steps 4 >%s/part.out 2>/dev/null", common,
             root, root);
    rc |= system(command);
    /* Its step-time line: the 3 steps after the first, their data wait a part of their time. */
    FILE *out = fopen(at(p, "part.out"), "r");
    char text[512];
    int after_first = 0;
    double first = -1, step = -1, images_per_s = -1, wait_ms = -1;
    while (out && fgets(text, sizeof text, out))
        if (sscanf(text, "step time: the first %lf s; the %d after it %lf s a step (%lf img/s), %lf ms", &first,
                   &after_first, &step, &images_per_s, &wait_ms) == 5)
            break;
    if (out) fclose(out);
    CHECK(after_first == 3 && first > 0 && step > 0 && wait_ms >= 0 && wait_ms <= 1.01e3 * step,
          "step time line: %d steps after the first, %g s a step, %g ms waiting", after_first, step, wait_ms);
    snprintf(command, sizeof command,
             "%s --workers 4 --out %s/part --resume %s/part/checkpoint.safetensors 2>/dev/null", common, root, root);
    rc |= system(command);
    CHECK(rc == 0, "training runs failed");
    snprintf(command, sizeof command, "cmp -s %s %s", at(p, "full/checkpoint.safetensors"),
             at(q, "part/checkpoint.safetensors"));
    CHECK(system(command) == 0, "resumed run (2 then 4 workers) differs from the uninterrupted one (1 worker)");
    FILE *f = fopen(at(p, "full/log.csv"), "r");
    char line[512] = "";
    int rows = 0, skipped_ok = 0;
    while (f && fgets(line, sizeof line, f))
        if (rows++ > 0) {
            const char *last = strrchr(line, ',');
            skipped_ok += last && atoi(last + 1) >= 1;
        }
    if (f) fclose(f);
    CHECK(rows == 4 && skipped_ok == 3, "log.csv: %d rows, %d with skipped images counted", rows, skipped_ok);
    printf("  nmtrain train: resumed after 4 steps with other worker counts, same checkpoint; skips logged\n");
}

/* A training split with no readable image: the epoch trained on nothing,
 * so the run fails naming it, writes no checkpoint and logs no epoch (it
 * logged a NaN loss and exited 0 before). Then a test split with none. */
static void check_all_unreadable(void)
{
    const char *nmtrain = getenv("NMTRAIN");
    if (!nmtrain) nmtrain = "build/nmtrain";
    char p[512], q[512], r[512], command[2048], text[4096] = "";
    make_dirs(at(p, "bad/train/cat"));
    make_dirs(at(p, "bad/train/emu"));
    make_dirs(at(p, "bad/val/cat"));
    make_dirs(at(p, "bad/val/emu"));
    write_text(at(p, "bad/train/cat/a.jpg"), "this is text, not a JPEG\n");
    truncate_copy(at(p, "img/train/emu/full.jpg"), at(q, "bad/train/emu/truncated.jpg"), 0.6);
    write_jpeg(at(p, "bad/val/cat/v1.jpg"), 70, 50, 3, JCS_RGB, 13);
    write_png(at(p, "bad/val/emu/v2.png"), 45, 66, PNG_COLOR_TYPE_RGB, 14);
    snprintf(command, sizeof command,
             "%s train --data imagefolder --data-dir %s --image-size 16 --width 0.125 --epochs 2 --batch 1 "
             "--threads 1 --quiet --out %s > %s 2>&1",
             nmtrain, at(p, "bad"), at(q, "bad/run"), at(r, "bad/run.out"));
    const int status = system(command);
    FILE *f = fopen(at(p, "bad/run.out"), "r");
    const size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = 0;
    if (f) fclose(f);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
              strstr(text, "epoch 1 trained on no image: the 2 training images it read were all unreadable"),
          "a split of unreadable images: exit %d, output '%s'", WIFEXITED(status) ? WEXITSTATUS(status) : -1, text);
    CHECK(access(at(p, "bad/run/checkpoint.safetensors"), F_OK) != 0, "a checkpoint of an epoch with no image");
    /* The other way round: a test split with no readable image (it reported
     * accuracy 0% and loss 0 and exited 0 before). */
    make_dirs(at(p, "badval/train/cat"));
    make_dirs(at(p, "badval/train/emu"));
    make_dirs(at(p, "badval/val/cat"));
    make_dirs(at(p, "badval/val/emu"));
    write_jpeg(at(p, "badval/train/cat/a.jpg"), 37, 23, 3, JCS_RGB, 1);
    write_png(at(p, "badval/train/emu/b.png"), 31, 17, PNG_COLOR_TYPE_RGB, 5);
    write_text(at(p, "badval/val/cat/v1.jpg"), "this is text, not a JPEG\n");
    write_text(at(p, "badval/val/emu/v2.png"), "this is text, not a PNG\n");
    snprintf(command, sizeof command,
             "%s train --data imagefolder --data-dir %s --image-size 16 --width 0.125 --epochs 1 --batch 1 "
             "--threads 1 --quiet --out %s > %s 2>&1",
             nmtrain, at(p, "badval"), at(q, "badval/run"), at(r, "badval/run.out"));
    const int val_status = system(command);
    f = fopen(at(p, "badval/run.out"), "r");
    const size_t m = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[m] = 0;
    if (f) fclose(f);
    CHECK(WIFEXITED(val_status) && WEXITSTATUS(val_status) == 1 &&
              strstr(text, "no test image could be read: all 2 were unreadable"),
          "a test split of unreadable images: exit %d, output '%s'",
          WIFEXITED(val_status) ? WEXITSTATUS(val_status) : -1, text);
    printf("  a training or test split with no readable image fails the run (training: no checkpoint)\n");
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/nmt_images_XXXXXX");
    if (!mkdtemp(root)) return 1;
    build_tree();
    check_crop_params();
    check_against_pil();
    check_loader();
    check_layouts();
    check_training_resume();
    check_all_unreadable();
    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", root);
    if (getenv("KEEP") == NULL && system(command) != 0) printf("  note: could not remove %s\n", root);
    TEST_END("test_images");
}

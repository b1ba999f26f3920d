/* JPEG (libjpeg-turbo, with DCT scaling) and PNG (libpng) decoding to RGB,
 * converting grayscale, palette, alpha and CMYK the way PIL's
 * convert("RGB") does, so decoded pixels match what torchvision sees. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "data/image.h"

static int reserve(nmt_rgb_image *img, int w, int h, char *why, size_t why_size)
{
    size_t need = (size_t)w * h * 3;
    if (need > img->capacity) {
        uint8_t *p = realloc(img->pixels, need);
        if (!p) {
            snprintf(why, why_size, "out of memory for a %dx%d image", w, h);
            return -1;
        }
        img->pixels = p;
        img->capacity = need;
    }
    img->w = w;
    img->h = h;
    return 0;
}

void nmt_rgb_image_free(nmt_rgb_image *img)
{
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* ---- JPEG ---- */
typedef struct jpeg_failure {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    int truncated;
} jpeg_failure;

static void jpeg_fail(j_common_ptr cinfo)
{
    longjmp(((jpeg_failure *)cinfo->err)->jump, 1);
}

/* Warnings are ignored as PIL ignores them, except running out of data:
 * PIL refuses a truncated file, and so does the loader. */
static void jpeg_warning(j_common_ptr cinfo, int level)
{
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    if (level < 0 && f->mgr.msg_code == JWRN_JPEG_EOF) f->truncated = 1;
}

/* PIL's CMYK;I unpacking (Adobe's inverted CMYK) followed by cmyk2rgb. */
static uint8_t cmyk_channel(uint8_t stored, uint8_t stored_k)
{
    int ink = 255 - stored, nk = stored_k;
    int t = ink * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int decode_jpeg(const uint8_t *data, size_t size, nmt_pick_denom pick, void *ctx, nmt_rgb_image *out,
                       char *why, size_t why_size)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_failure fail;
    JSAMPLE *volatile row = NULL;
    cinfo.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = jpeg_fail;
    fail.mgr.emit_message = jpeg_warning;
    fail.truncated = 0;
    if (setjmp(fail.jump)) {
        char text[JMSG_LENGTH_MAX];
        fail.mgr.format_message((j_common_ptr)&cinfo, text);
        snprintf(why, why_size, "corrupt JPEG: %s", text);
        jpeg_destroy_decompress(&cinfo);
        free(row);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    const int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    const int gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
    cinfo.out_color_space = cmyk ? JCS_CMYK : gray ? JCS_GRAYSCALE : JCS_RGB;
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned)pick((int)cinfo.image_width, (int)cinfo.image_height, 1, ctx);
    jpeg_start_decompress(&cinfo);
    const int w = (int)cinfo.output_width, h = (int)cinfo.output_height, comps = cinfo.output_components;
    if (reserve(out, w, h, why, why_size) != 0) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    if (comps != 3) row = malloc((size_t)w * comps);
    if (comps != 3 && !row) {
        snprintf(why, why_size, "out of memory for a JPEG row");
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height && !fail.truncated) {
        uint8_t *dst = out->pixels + (size_t)cinfo.output_scanline * w * 3;
        JSAMPROW target = comps == 3 ? dst : row;
        jpeg_read_scanlines(&cinfo, &target, 1);
        if (comps == 1) {
            for (int x = 0; x < w; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
        } else if (comps == 4) {
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) dst[3 * x + c] = cmyk_channel(row[4 * x + c], row[4 * x + 3]);
        }
    }
    if (!fail.truncated) jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    if (fail.truncated) {
        snprintf(why, why_size, "truncated JPEG (premature end of data)");
        return -1;
    }
    return 0;
}

/* ---- PNG ---- */
typedef struct png_reader {
    const uint8_t *data;
    size_t size, at;
    char message[160];
} png_reader;

static void png_read_memory(png_structp png, png_bytep out, png_size_t n)
{
    png_reader *r = png_get_io_ptr(png);
    if (n > r->size - r->at) png_error(png, "truncated PNG (premature end of data)");
    memcpy(out, r->data + r->at, n);
    r->at += n;
}

static void png_fail(png_structp png, png_const_charp message)
{
    png_reader *r = png_get_error_ptr(png);
    snprintf(r->message, sizeof r->message, "%s", message);
    png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp message)
{
    (void)png, (void)message;
}

static int decode_png(const uint8_t *data, size_t size, nmt_pick_denom pick, void *ctx, nmt_rgb_image *out,
                      char *why, size_t why_size)
{
    png_reader reader = {data, size, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, png_fail, png_quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(why, why_size, "out of memory for a PNG decoder");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        snprintf(why, why_size, "corrupt PNG: %s", reader.message);
        return -1;
    }
    png_set_read_fn(png, &reader, png_read_memory);
    png_read_info(png, info);
    const int type = png_get_color_type(png, info);
    /* PIL's convert("RGB"): palettes and low bit depths expand, 16-bit
     * samples keep their high byte, alpha is dropped, gray is repeated. */
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    const int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
    pick(w, h, 0, ctx);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) png_error(png, "unexpected row layout after conversion");
    if (reserve(out, w, h, why, why_size) != 0) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) png_read_row(png, out->pixels + (size_t)y * w * 3, NULL);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

int nmt_image_decode(const uint8_t *data, size_t size, nmt_pick_denom pick, void *ctx, nmt_rgb_image *out,
                     char *why, size_t why_size)
{
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return decode_jpeg(data, size, pick, ctx, out, why, why_size);
    if (size >= 8 && !memcmp(data, png_magic, 8)) return decode_png(data, size, pick, ctx, out, why, why_size);
    snprintf(why, why_size, "not a JPEG or PNG image");
    return -1;
}

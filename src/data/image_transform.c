/* torchvision's image transforms on decoded images: RandomResizedCrop's
 * parameters, PIL's bilinear resampling (bit-exact with Pillow's 8-bit
 * fixed-point passes), and the training and evaluation samples. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"

/* Pillow's resampling keeps 22 fractional bits in 32-bit sums. */
#define PRECISION_BITS 22

static uint8_t clip8(int32_t sum)
{
    int32_t v = sum >> PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Pillow's precompute_coeffs for the bilinear (triangle) filter, followed
 * by normalize_coeffs_8bpc. Returns the coefficients per output pixel. */
static int precompute(int in_size, float in0, float in1, int out_size, int **bounds_out, int32_t **kk_out)
{
    double scale = (double)(in1 - in0) / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    int *bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    int32_t *kk = malloc(sizeof(int32_t) * (size_t)ksize * out_size);
    double *k = malloc(sizeof(double) * (size_t)ksize);
    if (!bounds || !kk || !k) {
        free(bounds), free(kk), free(k);
        return -1;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double t = fabs((x + xmin - center + 0.5) * ss);
            k[x] = t < 1.0 ? 1.0 - t : 0.0;
            ww += k[x];
        }
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
            kk[(size_t)xx * ksize + x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(k);
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

int nmt_image_resample(const nmt_rgb_image *src, int rx0, int ry0, int rx1, int ry1, const float box[4], int out_w,
                       int out_h, int ox, int oy, int out_cw, int out_ch, uint8_t *dst)
{
    int *bx = NULL, *by = NULL;
    int32_t *kx = NULL, *ky = NULL;
    uint8_t *tmp = NULL;
    int rc = -1;
    const int kw = precompute(rx1 - rx0, box[0], box[2], out_w, &bx, &kx);
    const int kh = kw < 0 ? -1 : precompute(ry1 - ry0, box[1], box[3], out_h, &by, &ky);
    if (kh < 0) goto done;
    /* Only the source rows the wanted output rows read are resampled. */
    const int first = by[2 * oy], last = by[2 * (oy + out_ch - 1)] + by[2 * (oy + out_ch - 1) + 1];
    tmp = malloc((size_t)(last - first) * out_cw * 3);
    if (!tmp) goto done;
    for (int y = first; y < last; y++) {
        const uint8_t *row = src->pixels + ((size_t)(ry0 + y) * src->w + rx0) * 3;
        uint8_t *out = tmp + (size_t)(y - first) * out_cw * 3;
        for (int xx = 0; xx < out_cw; xx++) {
            const int32_t *k = kx + (size_t)(xx + ox) * kw;
            const int xmin = bx[2 * (xx + ox)], n = bx[2 * (xx + ox) + 1];
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < n; x++) {
                const uint8_t *p = row + (size_t)(xmin + x) * 3;
                s0 += p[0] * k[x], s1 += p[1] * k[x], s2 += p[2] * k[x];
            }
            out[3 * xx] = clip8(s0), out[3 * xx + 1] = clip8(s1), out[3 * xx + 2] = clip8(s2);
        }
    }
    for (int yy = 0; yy < out_ch; yy++) {
        const int32_t *k = ky + (size_t)(yy + oy) * kh;
        const int ymin = by[2 * (yy + oy)] - first, n = by[2 * (yy + oy) + 1];
        uint8_t *out = dst + (size_t)yy * out_cw * 3;
        for (int c = 0; c < out_cw * 3; c++) {
            int32_t s = 1 << (PRECISION_BITS - 1);
            for (int y = 0; y < n; y++) s += tmp[(size_t)(ymin + y) * out_cw * 3 + c] * k[y];
            out[c] = clip8(s);
        }
    }
    rc = 0;
done:
    free(bx), free(by), free(kx), free(ky), free(tmp);
    return rc;
}

void nmt_random_resized_crop(int width, int height, const float scale[2], const float ratio[2],
                             const nmt_crop_draws *draws, nmt_crop *out)
{
    const double area = (double)height * width;
    const float log_lo = logf(ratio[0]), log_hi = logf(ratio[1]);
    for (int attempt = 0; attempt < 10; attempt++) {
        const double target_area = area * (double)draws->uniform(draws->ctx, scale[0], scale[1]);
        const double aspect = (double)expf(draws->uniform(draws->ctx, log_lo, log_hi));
        /* Python's round() rounds halves to even, as rint does. */
        const int w = (int)rint(sqrt(target_area * aspect));
        const int h = (int)rint(sqrt(target_area / aspect));
        if (0 < w && w <= width && 0 < h && h <= height) {
            out->top = draws->below(draws->ctx, height - h + 1);
            out->left = draws->below(draws->ctx, width - w + 1);
            out->height = h;
            out->width = w;
            return;
        }
    }
    const double in_ratio = (double)width / (double)height;
    const double lo = ratio[0] < ratio[1] ? ratio[0] : ratio[1], hi = ratio[0] < ratio[1] ? ratio[1] : ratio[0];
    int w = width, h = height;
    if (in_ratio < lo) h = (int)rint(w / lo);
    else if (in_ratio > hi) w = (int)rint(h * hi);
    out->top = (height - h) / 2;
    out->left = (width - w) / 2;
    out->height = h;
    out->width = w;
}

/* ---- samples ---- */
typedef struct sample_plan {
    const struct nmt_image_files *files;
    int train;
    nmt_rng *rng;
    nmt_crop crop;            /* training: the crop in full-size pixels */
    int resized_w, resized_h; /* evaluation: the resized size before the centre crop */
    int denom;                /* the DCT scale picked */
} sample_plan;

static float draw_uniform(void *ctx, float lo, float hi)
{
    return lo + (hi - lo) * nmt_rng_uniform(ctx);
}

static int draw_below(void *ctx, int n)
{
    return (int)nmt_rng_below(ctx, (uint32_t)n);
}

/* The largest JPEG scale-down (8, 4, 2) that keeps at least `need` pixels
 * across both `w` and `h`, so resampling still only shrinks. */
static int denom_keeping(double w, double h, int need)
{
    for (int d = 8; d > 1; d /= 2)
        if (floor(w / d) >= need && floor(h / d) >= need) return d;
    return 1;
}

/* Called with the full size once the header is read: fixes the geometry
 * (from the full size, as torchvision sees it) and the DCT scale. */
static int plan_sample(int w, int h, int scalable, void *ctx)
{
    sample_plan *p = ctx;
    p->denom = 1;
    const int size = p->files->image_size;
    if (p->train) {
        static const float scale[2] = {0.08f, 1.0f}, ratio[2] = {3.0f / 4.0f, 4.0f / 3.0f};
        const nmt_crop_draws draws = {draw_uniform, draw_below, p->rng};
        nmt_random_resized_crop(w, h, scale, ratio, &draws, &p->crop);
        if (scalable) p->denom = denom_keeping(p->crop.width, p->crop.height, size);
        return p->denom;
    }
    const int resize = (int)floor(size / (double)p->files->crop_ratio + 1e-6);
    const int short_side = w <= h ? w : h, long_side = w <= h ? h : w;
    const int new_long = (int)((double)resize * long_side / short_side);
    p->resized_w = w <= h ? resize : new_long;
    p->resized_h = w <= h ? new_long : resize;
    if (scalable) p->denom = denom_keeping(short_side, short_side, resize);
    return p->denom;
}

static int read_file(const char *path, nmt_sample_scratch *s, size_t *size, char *why, size_t why_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_size, "cannot read: %s", strerror(errno));
        return -1;
    }
    size_t used = 0;
    for (;;) {
        if (used == s->file_capacity) {
            size_t grown = s->file_capacity ? 2 * s->file_capacity : 1 << 18;
            uint8_t *p = realloc(s->file, grown);
            if (!p) {
                fclose(f);
                snprintf(why, why_size, "out of memory reading the file");
                return -1;
            }
            s->file = p;
            s->file_capacity = grown;
        }
        size_t got = fread(s->file + used, 1, s->file_capacity - used, f);
        used += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(why, why_size, "read error");
        return -1;
    }
    *size = used;
    return 0;
}

int nmt_image_sample(const struct nmt_image_files *files, int index, int train_transform, int hflip, uint64_t seed,
                     nmt_sample_scratch *scratch, uint8_t *out, nmt_sample_geometry *geometry, char *why,
                     size_t why_size)
{
    size_t size = 0;
    if (read_file(files->paths[index], scratch, &size, why, why_size) != 0) return -1;
    nmt_rng rng;
    nmt_rng_seed(&rng, seed, 0x52524352ULL);
    sample_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.files = files, plan.train = train_transform, plan.rng = &rng;
    nmt_rgb_image *img = &scratch->img;
    if (nmt_image_decode(scratch->file, size, plan_sample, &plan, img, why, why_size) != 0) return -1;
    const int s = files->image_size, d = plan.denom;
    nmt_sample_geometry g;
    memset(&g, 0, sizeof g);
    g.denom = d;
    if (train_transform) {
        /* The crop in decoded pixels: exact at full size; scaled down, the
         * region read is the crop's pixel cover and the box its fraction. */
        const double x0 = (double)plan.crop.left / d, y0 = (double)plan.crop.top / d;
        const double x1 = (double)(plan.crop.left + plan.crop.width) / d;
        const double y1 = (double)(plan.crop.top + plan.crop.height) / d;
        const int rx0 = (int)floor(x0), ry0 = (int)floor(y0);
        int rx1 = (int)ceil(x1), ry1 = (int)ceil(y1);
        if (rx1 > img->w) rx1 = img->w;
        if (ry1 > img->h) ry1 = img->h;
        const int region[4] = {rx0, ry0, rx1, ry1}, window[4] = {0, 0, s, s};
        const float box[4] = {(float)(x0 - rx0), (float)(y0 - ry0), (float)(x1 - rx0), (float)(y1 - ry0)};
        memcpy(g.region, region, sizeof region), memcpy(g.box, box, sizeof box), memcpy(g.window, window, sizeof window);
        g.resized_w = g.resized_h = s;
        g.flip = hflip && (nmt_rng_u32(&rng) >> 31);
    } else {
        /* torchvision's CenterCrop offsets round halves to even. */
        const int top = (int)rint((plan.resized_h - s) / 2.0), left = (int)rint((plan.resized_w - s) / 2.0);
        const int region[4] = {0, 0, img->w, img->h}, window[4] = {left, top, s, s};
        const float box[4] = {0.0f, 0.0f, (float)img->w, (float)img->h};
        memcpy(g.region, region, sizeof region), memcpy(g.box, box, sizeof box), memcpy(g.window, window, sizeof window);
        g.resized_w = plan.resized_w, g.resized_h = plan.resized_h;
    }
    int rc = nmt_image_resample(img, g.region[0], g.region[1], g.region[2], g.region[3], g.box, g.resized_w,
                                g.resized_h, g.window[0], g.window[1], g.window[2], g.window[3], out);
    if (!rc && g.flip) {
        for (int y = 0; y < s; y++) {
            uint8_t *row = out + (size_t)y * s * 3;
            for (int a = 0, b = s - 1; a < b; a++, b--)
                for (int c = 0; c < 3; c++) {
                    uint8_t t = row[3 * a + c];
                    row[3 * a + c] = row[3 * b + c];
                    row[3 * b + c] = t;
                }
        }
    }
    if (geometry) *geometry = g;
    if (rc) snprintf(why, why_size, "out of memory resampling a %dx%d image", img->w, img->h);
    return rc;
}

void nmt_sample_scratch_free(nmt_sample_scratch *scratch)
{
    free(scratch->file);
    nmt_rgb_image_free(&scratch->img);
    memset(scratch, 0, sizeof *scratch);
}

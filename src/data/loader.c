/* Shuffled, augmented, normalised batches in CNHW layout.
 *
 * Reproducibility: the epoch order comes from an rng seeded by (seed, epoch)
 * and every sample's crop/flip from an rng seeded by (seed, epoch, position),
 * so batches are identical after a resume and for any OpenMP thread count. */
#include <stdlib.h>
#include <string.h>

#include "data/image.h"
#include "nmtrain/data.h"

/* Augmentation is drawn from a different stream than the shuffle, so the
 * two never share a sequence. */
#define SHUFFLE_STREAM 0x5348554646ULL
#define AUGMENT_STREAM 0x4155474dULL

/* SplitMix64 finaliser: decorrelates nearby seeds before they reach PCG. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t nmt_sample_seed(uint64_t epoch_seed, int position)
{
    return mix64(epoch_seed ^ (uint64_t)position);
}

static uint64_t epoch_seed(const nmt_loader *ld)
{
    uint64_t seed = ld->seed < 0 ? 0 : (uint64_t)ld->seed;
    return mix64(mix64(seed) ^ (uint64_t)(uint32_t)ld->epoch);
}

int nmt_loader_init(nmt_loader *ld, const nmt_dataset *ds, int batch, int drop_last,
                    nmt_augment aug, const float *mean, const float *std, int64_t shuffle_seed)
{
    memset(ld, 0, sizeof *ld);
    if (batch <= 0) {
        nmt_error("loader: batch size must be positive, got %d", batch);
        return -1;
    }
    if (ds->count <= 0 || (!ds->files && (!ds->images || !ds->labels))) {
        nmt_error("loader: the data set is empty");
        return -1;
    }
    if (ds->c < 1 || ds->c > NMT_DATA_MAX_CHANNELS) {
        nmt_error("loader: %d channels; at most %d are supported", ds->c, NMT_DATA_MAX_CHANNELS);
        return -1;
    }
    if (aug.crop_pad < 0) {
        nmt_error("loader: crop padding must not be negative, got %d", aug.crop_pad);
        return -1;
    }
    for (int c = 0; c < ds->c; c++) {
        float m = mean ? mean[c] : 0.0f, s = std ? std[c] : 1.0f;
        if (!(s > 0.0f)) {
            nmt_error("loader: standard deviation of channel %d must be positive, got %g", c, (double)s);
            return -1;
        }
        ld->scale[c] = 1.0f / (255.0f * s);
        ld->offset[c] = -m / s;
    }
    ld->order = malloc((size_t)ds->count * sizeof *ld->order);
    if (!ld->order) {
        nmt_error("loader: out of memory for the order of %d samples", ds->count);
        return -1;
    }
    ld->ds = ds;
    ld->batch = batch;
    ld->drop_last = drop_last;
    ld->aug = aug;
    ld->seed = shuffle_seed;
    ld->shard_lo = 0;
    ld->shard_hi = batch;
    if (ds->files && !(ld->stream = nmt_image_stream_create(ds, batch, aug.crop_pad > 0 || aug.hflip, aug.hflip))) {
        free(ld->order);
        return -1;
    }
    nmt_loader_epoch(ld, 0);
    return 0;
}

void nmt_loader_epoch(nmt_loader *ld, int epoch)
{
    int n = ld->ds->count;
    ld->epoch = epoch;
    ld->cursor = 0;
    ld->skipped = 0;
    if (ld->stream) nmt_image_stream_stop(ld->stream); /* before the order changes under the workers */
    ld->streaming = 0;
    for (int i = 0; i < n; i++) ld->order[i] = i;
    if (ld->seed < 0) return;
    nmt_rng rng;
    nmt_rng_seed(&rng, epoch_seed(ld), SHUFFLE_STREAM);
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)nmt_rng_below(&rng, (uint32_t)i + 1);
        int t = ld->order[i];
        ld->order[i] = ld->order[j];
        ld->order[j] = t;
    }
}

int nmt_loader_batches(const nmt_loader *ld)
{
    int n = ld->ds->count;
    return ld->drop_last ? n / ld->batch : (n + ld->batch - 1) / ld->batch;
}

void nmt_loader_seek(nmt_loader *ld, int index)
{
    long position = (long)index * ld->batch;
    ld->cursor = position < 0 ? 0 : position > ld->ds->count ? ld->ds->count : (int)position;
    if (ld->stream) nmt_image_stream_stop(ld->stream);
    ld->streaming = 0;
}

/* Image folders: the stream starts where the cursor stands on the first
 * batch asked for, so epoch() followed by seek() decodes nothing twice. */
static int next_streamed(nmt_loader *ld, float *x, int *labels)
{
    const int n = ld->ds->count, end = ld->drop_last ? n / ld->batch * ld->batch : n;
    if (!ld->streaming) {
        nmt_image_stream_start(ld->stream, ld->order, ld->cursor, end, ld->shard_lo, ld->shard_hi, epoch_seed(ld));
        ld->streaming = 1;
    }
    const int kept = nmt_image_stream_next(ld->stream, ld->scale, ld->offset, x, labels, &ld->skipped);
    return kept;
}

/* Writes one sample (all channels) into column block `b` of x. Output pixel
 * (y, x) reads the zero-padded source at (y + dy - pad, x' + dx - pad), where
 * x' is x mirrored when flipped: a random crop of the padded image followed
 * by a flip, as torchvision's RandomCrop(padding) + RandomHorizontalFlip. */
static void write_sample(const nmt_loader *ld, const uint8_t *src, int dy, int dx, int flip,
                         float *x, int b, int n)
{
    const nmt_dataset *ds = ld->ds;
    int h = ds->h, w = ds->w, pad = ld->aug.crop_pad;
    size_t plane = (size_t)h * w;
    for (int c = 0; c < ds->c; c++) {
        const uint8_t *in = src + c * plane;
        float *out = x + (size_t)c * n * plane + (size_t)b * plane;
        float scale = ld->scale[c], offset = ld->offset[c];
        for (int y = 0; y < h; y++) {
            int sy = y + dy - pad;
            float *row = out + (size_t)y * w;
            if (sy < 0 || sy >= h) {
                for (int xx = 0; xx < w; xx++) row[xx] = offset; /* padding is pixel value 0 */
                continue;
            }
            const uint8_t *in_row = in + (size_t)sy * w;
            for (int xx = 0; xx < w; xx++) {
                int sx = (flip ? w - 1 - xx : xx) + dx - pad;
                row[xx] = (sx < 0 || sx >= w) ? offset : (float)in_row[sx] * scale + offset;
            }
        }
    }
}

void nmt_loader_shard(nmt_loader *ld, int lo, int hi)
{
    ld->shard_lo = lo < 0 ? 0 : lo;
    ld->shard_hi = hi > ld->batch ? ld->batch : hi;
    if (ld->stream) nmt_image_stream_stop(ld->stream);
    ld->streaming = 0;
}

int nmt_loader_next(nmt_loader *ld, float *x, int *labels)
{
    if (ld->stream) return next_streamed(ld, x, labels);
    const nmt_dataset *ds = ld->ds;
    int n = ds->count - ld->cursor;
    if (n > ld->batch) n = ld->batch;
    if (n <= 0 || (ld->drop_last && n < ld->batch)) return 0;
    size_t sample_bytes = (size_t)ds->c * ds->h * ds->w;
    uint64_t augment_seed = epoch_seed(ld);
    const int start = ld->cursor + ld->shard_lo, global_n = n;
    n = (n < ld->shard_hi ? n : ld->shard_hi) - ld->shard_lo;
    ld->cursor += global_n;
    if (n <= 0) return 0;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < n; b++) {
        int position = start + b;
        int index = ld->order[position];
        int dy = ld->aug.crop_pad, dx = ld->aug.crop_pad, flip = 0;
        if (ld->aug.crop_pad > 0 || ld->aug.hflip) {
            nmt_rng rng;
            nmt_rng_seed(&rng, nmt_sample_seed(augment_seed, position), AUGMENT_STREAM);
            if (ld->aug.crop_pad > 0) {
                uint32_t span = 2u * (uint32_t)ld->aug.crop_pad + 1u;
                dy = (int)nmt_rng_below(&rng, span);
                dx = (int)nmt_rng_below(&rng, span);
            }
            if (ld->aug.hflip) flip = (int)(nmt_rng_u32(&rng) >> 31);
        }
        write_sample(ld, ds->images + (size_t)index * sample_bytes, dy, dx, flip, x, b, n);
        labels[b] = ds->labels[index];
    }
    return n;
}

void nmt_loader_free(nmt_loader *ld)
{
    nmt_image_stream_free(ld->stream);
    free(ld->order);
    memset(ld, 0, sizeof *ld);
}

/* The streaming loader of image folders: a pool of decode threads fills a
 * ring of `prefetch` batch slots ahead of the consumer, so memory is
 * bounded by the ring. Workers take sample positions in order; batch k
 * lives in slot k % prefetch and is handed out only once batch
 * k - prefetch has been consumed. Every sample depends only on its
 * position (file from the epoch order, draws from the epoch seed and the
 * position), and bad files are reported in position order by the
 * consumer, so the batches and the messages do not depend on the worker
 * count or timing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/image.h"

#define WHY_SIZE 200

struct nmt_image_stream {
    const struct nmt_image_files *files;
    int batch, slots, train_transform, hflip, sample_bytes;
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    pthread_t *threads;
    int n_threads, stop;
    uint8_t *pixels;     /* slots * batch samples, size x size x 3 each */
    int *labels;
    char *why;           /* per sample: empty when decoded, else the reason */
    int *slot_done;      /* samples finished in each slot */
    unsigned char *reported; /* per file: already warned about */
    /* The epoch being streamed; `generation` changes on every restart so a
     * worker finishing stale work drops it. */
    unsigned generation;
    const int *order;
    int next, end, consumed, running, lo, hi;
    uint64_t epoch_seed;
};

static void *worker_main(void *arg)
{
    struct nmt_image_stream *s = arg;
    nmt_sample_scratch scratch;
    memset(&scratch, 0, sizeof scratch);
    uint8_t *sample = malloc((size_t)s->sample_bytes);
    char why[WHY_SIZE];
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        const int offset = s->next % s->batch; /* skip to this rank's part of the batch */
        if (offset < s->lo) s->next += s->lo - offset;
        else if (offset >= s->hi) s->next += s->batch - offset + s->lo;
        if (!s->running || s->next >= s->end || s->next / s->batch >= s->consumed + s->slots || !sample) {
            pthread_cond_wait(&s->work, &s->lock);
            continue;
        }
        const int position = s->next++, index = s->order[position];
        const unsigned generation = s->generation;
        const uint64_t seed = nmt_sample_seed(s->epoch_seed, position);
        pthread_mutex_unlock(&s->lock);
        why[0] = 0;
        if (nmt_image_sample(s->files, index, s->train_transform, s->hflip, seed, &scratch, sample, NULL, why,
                             sizeof why) != 0 && !why[0])
            snprintf(why, sizeof why, "cannot decode");
        pthread_mutex_lock(&s->lock);
        if (generation != s->generation) continue;
        const int slot = position / s->batch % s->slots;
        const size_t at = (size_t)slot * s->batch + position % s->batch;
        if (!why[0]) memcpy(s->pixels + at * s->sample_bytes, sample, (size_t)s->sample_bytes);
        snprintf(s->why + at * WHY_SIZE, WHY_SIZE, "%s", why);
        s->labels[at] = s->files->labels[index];
        s->slot_done[slot]++;
        pthread_cond_broadcast(&s->done);
    }
    pthread_mutex_unlock(&s->lock);
    free(sample);
    nmt_sample_scratch_free(&scratch);
    return NULL;
}

static int default_workers(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long left = cores - nmt_threads();
    return left > 1 ? (int)left : 1;
}

struct nmt_image_stream *nmt_image_stream_create(const nmt_dataset *ds, int batch, int train_transform, int hflip)
{
    const struct nmt_image_files *f = ds->files;
    struct nmt_image_stream *s = calloc(1, sizeof *s);
    if (!s) {
        nmt_error("out of memory for the image stream");
        return NULL;
    }
    s->files = f;
    s->batch = batch;
    s->slots = f->prefetch > 0 ? f->prefetch : 2;
    s->train_transform = train_transform;
    s->hflip = hflip;
    s->sample_bytes = f->image_size * f->image_size * 3;
    const size_t samples = (size_t)s->slots * batch;
    s->pixels = malloc(samples * (size_t)s->sample_bytes);
    s->labels = malloc(samples * sizeof(int));
    s->why = malloc(samples * WHY_SIZE);
    s->slot_done = calloc((size_t)s->slots, sizeof(int));
    s->reported = calloc((size_t)f->count, 1);
    const int workers = f->workers > 0 ? f->workers : default_workers();
    s->threads = calloc((size_t)workers, sizeof(pthread_t));
    if (!s->pixels || !s->labels || !s->why || !s->slot_done || !s->reported || !s->threads) {
        nmt_error("out of memory for %d prefetched batches of %d images of %dx%d", s->slots, batch, f->image_size,
                  f->image_size);
        nmt_image_stream_free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->done, NULL);
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&s->threads[i], NULL, worker_main, s) != 0) {
            nmt_error("cannot start decode thread %d of %d", i + 1, workers);
            nmt_image_stream_free(s);
            return NULL;
        }
        s->n_threads++;
    }
    return s;
}

void nmt_image_stream_stop(struct nmt_image_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->generation++;
    s->running = 0;
    pthread_mutex_unlock(&s->lock);
}

void nmt_image_stream_start(struct nmt_image_stream *s, const int *order, int position, int end, int lo,
                            int hi, uint64_t epoch_seed)
{
    pthread_mutex_lock(&s->lock);
    s->generation++;
    s->order = order;
    s->next = position;
    s->end = end;
    s->lo = lo;
    s->hi = hi;
    s->consumed = position / s->batch;
    s->epoch_seed = epoch_seed;
    for (int i = 0; i < s->slots; i++) s->slot_done[i] = 0;
    s->running = 1;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->lock);
}

/* Consumes the next batch: returns the samples kept (possibly 0), -2 at
 * the end of the epoch, -1 on a strict error. */
static int consume_batch(struct nmt_image_stream *s, const float *scale, const float *offset, float *x, int *labels,
                         int *skipped)
{
    pthread_mutex_lock(&s->lock);
    const int k = s->consumed, first = k * s->batch;
    if (!s->running || first >= s->end) {
        pthread_mutex_unlock(&s->lock);
        return -2;
    }
    const int in_batch = s->end - first < s->batch ? s->end - first : s->batch, slot = k % s->slots;
    const int want = (in_batch < s->hi ? in_batch : s->hi) - s->lo > 0 ? (in_batch < s->hi ? in_batch : s->hi) - s->lo : 0;
    while (s->slot_done[slot] < want) pthread_cond_wait(&s->done, &s->lock);
    pthread_mutex_unlock(&s->lock);
    /* The slot is not refilled before `consumed` moves on: read it unlocked. */
    const size_t base = (size_t)slot * s->batch + s->lo;
    int kept = 0, bad = 0, rc = 0;
    int *keep = malloc(sizeof(int) * ((size_t)want + 1));
    for (int b = 0; b < want && keep; b++) {
        const char *why = s->why + (base + b) * WHY_SIZE;
        if (!why[0]) {
            keep[kept++] = b;
            continue;
        }
        const int index = s->order[first + s->lo + b];
        if (s->files->strict) {
            nmt_error("%s: %s (--strict-data)", s->files->paths[index], why);
            rc = -1;
            break;
        }
        bad++;
        if (!s->reported[index]) {
            s->reported[index] = 1;
            fprintf(stderr, "nmtrain: warning: %s: %s; skipped\n", s->files->paths[index], why);
        }
    }
    if (!keep) {
        nmt_error("out of memory for a batch");
        rc = -1;
    }
    if (!rc) {
        const int size = s->files->image_size;
        const size_t plane = (size_t)size * size;
        #pragma omp parallel for schedule(static)
        for (int j = 0; j < kept; j++) {
            const uint8_t *in = s->pixels + (base + keep[j]) * s->sample_bytes;
            for (int c = 0; c < 3; c++) {
                float *out = x + ((size_t)c * kept + j) * plane;
                for (size_t p = 0; p < plane; p++) out[p] = (float)in[3 * p + c] * scale[c] + offset[c];
            }
        }
        for (int j = 0; j < kept; j++) labels[j] = s->labels[base + keep[j]];
        *skipped += bad;
    }
    free(keep);
    pthread_mutex_lock(&s->lock);
    s->slot_done[slot] = 0;
    s->consumed++;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->lock);
    return rc ? -1 : kept;
}

int nmt_image_stream_next(struct nmt_image_stream *s, const float *scale, const float *offset, float *x, int *labels,
                          int *skipped)
{
    /* One process passes over a batch with no readable image at all. A
     * rank of several cannot: the others may have kept images of it, and
     * passing over would put this rank one batch ahead of them. */
    for (;;) {
        const int batch = s->consumed, kept = consume_batch(s, scale, offset, x, labels, skipped);
        if (kept != 0) return kept == -2 ? 0 : kept;
        if (s->lo > 0 || s->hi < s->batch) {
            nmt_error("%s: every image of this rank's share of batch %d (samples %d to %d of it) is unreadable, so "
                      "the ranks would train on different batches: use a larger --batch or fewer ranks",
                      s->files->paths[s->order[batch * s->batch + s->lo]], batch + 1, s->lo + 1, s->hi);
            return -1;
        }
    }
}

void nmt_image_stream_free(struct nmt_image_stream *s)
{
    if (!s) return;
    if (s->n_threads) {
        pthread_mutex_lock(&s->lock);
        s->stop = 1;
        pthread_cond_broadcast(&s->work);
        pthread_mutex_unlock(&s->lock);
        for (int i = 0; i < s->n_threads; i++) pthread_join(s->threads[i], NULL);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->work);
        pthread_cond_destroy(&s->done);
    }
    free(s->threads);
    free(s->pixels);
    free(s->labels);
    free(s->why);
    free(s->slot_done);
    free(s->reported);
    free(s);
}

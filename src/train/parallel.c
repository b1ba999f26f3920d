/* Bucketed gradient sums over the ranks of a communicator (see parallel.h).
 * The buckets are the same every step (backward makes gradients final in
 * the same order), so the sums are too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/parallel.h"

struct grad_sync {
    nmt_net *net;
    nmt_comm *comm;
    float *flat;
    size_t *offset;        /* per parameter; SIZE_MAX until first seen */
    int *order, n_order;   /* parameters in the order backward finishes them */
    int trainable;         /* parameters with a gradient: all must reach the sum */
    size_t assigned, bucket_start, filled, bucket_floats;
    int failed;
    int buckets;           /* started this step */
    nmt_grad_sum_stats stats;
};

static void start_bucket(grad_sync *g)
{
    g->failed |= g->comm->sum_start(g->comm, g->flat + g->bucket_start, g->filled - g->bucket_start) != 0;
    g->bucket_start = g->filled;
    g->buckets++;
}

static void on_grad_ready(void *ctx, int index)
{
    grad_sync *g = ctx;
    nmt_param *p = nmt_net_param(g->net, index);
    if (g->offset[index] == SIZE_MAX) {
        g->offset[index] = g->assigned;
        g->assigned += (size_t)p->count;
        g->order[g->n_order++] = index;
    }
    memcpy(g->flat + g->offset[index], p->grad, sizeof(float) * (size_t)p->count);
    g->filled = g->offset[index] + (size_t)p->count;
    if (g->filled - g->bucket_start >= g->bucket_floats) {
        const double start = nmt_now();
        start_bucket(g);
        g->stats.start_seconds += nmt_now() - start;
    }
}

grad_sync *grad_sync_create(nmt_net *net, nmt_comm *comm, size_t bucket_floats)
{
    const int n = nmt_net_param_count(net);
    size_t total = 0;
    int trainable = 0;
    for (int i = 0; i < n; i++)
        if (!nmt_net_param(net, i)->is_buffer) total += (size_t)nmt_net_param(net, i)->count, trainable++;
    grad_sync *g = calloc(1, sizeof *g);
    if (g) {
        g->flat = malloc(sizeof(float) * (total ? total : 1));
        g->offset = malloc(sizeof(size_t) * (size_t)n);
        g->order = malloc(sizeof(int) * (size_t)n);
    }
    if (!g || !g->flat || !g->offset || !g->order) {
        grad_sync_free(g);
        nmt_error("out of memory for the gradient buckets (%zu floats)", total);
        return NULL;
    }
    for (int i = 0; i < n; i++) g->offset[i] = SIZE_MAX;
    g->net = net;
    g->comm = comm;
    g->trainable = trainable;
    g->bucket_floats = bucket_floats ? bucket_floats : 1;
    nmt_net_on_grad_ready(net, on_grad_ready, g);
    return g;
}

int grad_sync_finish(grad_sync *g)
{
    const double start = nmt_now();
    if (g->filled > g->bucket_start) start_bucket(g);
    g->failed |= g->comm->sum_wait(g->comm) != 0;
    for (int k = 0; k < g->n_order; k++) {
        nmt_param *p = nmt_net_param(g->net, g->order[k]);
        memcpy(p->grad, g->flat + g->offset[g->order[k]], sizeof(float) * (size_t)p->count);
    }
    g->stats.finish_seconds += nmt_now() - start;
    g->stats.steps++;
    g->stats.bytes = sizeof(float) * (double)g->filled;
    g->stats.buckets = g->buckets;
    g->buckets = 0;
    g->bucket_start = g->filled = 0;
    if (g->n_order != g->trainable) { /* a gradient backward never handed over would stay per rank */
        for (int i = 0; i < nmt_net_param_count(g->net); i++)
            if (!nmt_net_param(g->net, i)->is_buffer && g->offset[i] == SIZE_MAX) {
                nmt_error("the gradient of %s never reached the sum over %d ranks", nmt_net_param(g->net, i)->name,
                          g->comm->size);
                break;
            }
        return -1;
    }
    if (g->failed) {
        nmt_error("summing the gradients over %d ranks failed", g->comm->size);
        return -1;
    }
    return 0;
}

nmt_grad_sum_stats grad_sync_stats(const grad_sync *g) { return g->stats; }

void grad_sync_free(grad_sync *g)
{
    if (!g) return;
    if (g->net) nmt_net_on_grad_ready(g->net, NULL, NULL);
    free(g->flat);
    free(g->offset);
    free(g->order);
    free(g);
}

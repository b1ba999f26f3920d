/* Data-parallel gradient sums for the trainer: parameters' gradients are
 * copied, as backward makes them final, into a flat buffer laid out in the
 * order backward produces them; each bucket of it starts summing over the
 * ranks as soon as it is full, while backward goes on. */
#ifndef NMT_TRAIN_PARALLEL_H
#define NMT_TRAIN_PARALLEL_H

#include "nmtrain/train.h"

#pragma GCC visibility push(hidden)

typedef struct grad_sync grad_sync;
/* Hooks into `net`'s backward, summing in buckets of `bucket_floats`; NULL
 * with an error when out of memory. */
grad_sync *grad_sync_create(nmt_net *net, nmt_comm *comm, size_t bucket_floats);
/* After backward: sums the last bucket, waits for all, writes the sums
 * back into the gradients. */
int grad_sync_finish(grad_sync *g);
/* Time and sizes so far (backward_seconds is the caller's to add). */
nmt_grad_sum_stats grad_sync_stats(const grad_sync *g);
void grad_sync_free(grad_sync *g);

#pragma GCC visibility pop

#endif

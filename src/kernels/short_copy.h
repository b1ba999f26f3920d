/* Copies and zero fills of a few dozen floats (one output row of a
 * lowering: 4-32 floats on CIFAR-sized layers). A libc call costs more than
 * the copy at these lengths; fixed-size memcpy/memset of 16 bytes compile
 * to single vector moves. Internal to src/kernels. */
#ifndef NMT_SHORT_COPY_H
#define NMT_SHORT_COPY_H

#include <string.h>

static inline void short_copy(float *dst, const float *src, int count)
{
    int i = 0;
    for (; i + 4 <= count; i += 4) memcpy(dst + i, src + i, 4 * sizeof(float));
    for (; i < count; i++) dst[i] = src[i];
}

static inline void short_zero(float *dst, int count)
{
    int i = 0;
    for (; i + 4 <= count; i += 4) memset(dst + i, 0, 4 * sizeof(float));
    for (; i < count; i++) dst[i] = 0.0f;
}

#endif

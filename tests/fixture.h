/* Reading PyTorch fixtures (tests/ref/make_fixtures.py) in the tests:
 * tensors come in PyTorch layouts and are converted to nmtrain's. */
#ifndef NMT_TEST_FIXTURE_H
#define NMT_TEST_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "nmtrain.h"

/* Returns the float tensor `name`, aborting the test program when missing:
 * a missing fixture is a broken test, not a failed comparison. */
static inline const float *fixture_f32(const nmt_safetensors *st, const char *file, const char *name,
                                       const nmt_st_tensor **info)
{
    const nmt_st_tensor *t = nmt_st_find(st, name);
    if (!t || t->dtype != NMT_F32) {
        fprintf(stderr, "%s: fixture tensor '%s' missing or not F32 (rerun make fixtures)\n", file, name);
        exit(2);
    }
    if (info) *info = t;
    return t->data;
}

static inline size_t fixture_count(const nmt_st_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

/* NCHW -> CNHW (and back), the activation layouts of PyTorch and nmtrain. */
static inline void nchw_to_cnhw(const float *src, int n, int c, int plane, float *dst)
{
    for (int s = 0; s < n; s++)
        for (int ch = 0; ch < c; ch++)
            memcpy(dst + ((size_t)ch * n + s) * plane, src + ((size_t)s * c + ch) * plane, sizeof(float) * plane);
}

static inline void cnhw_to_nchw(const float *src, int n, int c, int plane, float *dst)
{
    for (int s = 0; s < n; s++)
        for (int ch = 0; ch < c; ch++)
            memcpy(dst + ((size_t)s * c + ch) * plane, src + ((size_t)ch * n + s) * plane, sizeof(float) * plane);
}

/* OIHW -> (O, kh, kw, I) and back, the conv weight layouts. */
static inline void oihw_to_ohwi(const float *src, int o, int i, int kh, int kw, float *dst)
{
    for (int a = 0; a < o; a++)
        for (int b = 0; b < i; b++)
            for (int y = 0; y < kh; y++)
                for (int x = 0; x < kw; x++)
                    dst[((a * kh + y) * kw + x) * i + b] = src[((a * i + b) * kh + y) * kw + x];
}

static inline void ohwi_to_oihw(const float *src, int o, int i, int kh, int kw, float *dst)
{
    for (int a = 0; a < o; a++)
        for (int b = 0; b < i; b++)
            for (int y = 0; y < kh; y++)
                for (int x = 0; x < kw; x++)
                    dst[((a * i + b) * kh + y) * kw + x] = src[((a * kh + y) * kw + x) * i + b];
}

/* A copy of a parameter's values (its weights, gradient or a moment) in
 * PyTorch's layout: convolution weights OIHW, the rest as they are. */
static inline float *param_torch_layout(const nmt_param *p, const float *values)
{
    float *out = malloc(sizeof(float) * p->count);
    if (p->conv_layout)
        ohwi_to_oihw(values, (int)p->shape[0], (int)p->shape[1], (int)p->shape[2], (int)p->shape[3], out);
    else
        memcpy(out, values, sizeof(float) * p->count);
    return out;
}

#endif

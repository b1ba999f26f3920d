/* Learning-rate schedules with linear warm-up. */
#include <math.h>
#include <string.h>

#include "nmtrain/core.h"
#include "nmtrain/train.h"

int nmt_schedule_parse(const char *name, nmt_schedule_kind *out)
{
    if (name && !strcmp(name, "constant")) *out = NMT_SCHED_CONSTANT;
    else if (name && !strcmp(name, "cosine")) *out = NMT_SCHED_COSINE;
    else if (name && !strcmp(name, "onecycle")) *out = NMT_SCHED_ONECYCLE;
    else {
        nmt_error("unknown schedule '%s' (choose constant, cosine or onecycle)", name ? name : "");
        return -1;
    }
    return 0;
}

const char *nmt_schedule_name(nmt_schedule_kind kind)
{
    return kind == NMT_SCHED_CONSTANT ? "constant" : kind == NMT_SCHED_COSINE ? "cosine" : "onecycle";
}

float nmt_schedule_lr(const nmt_schedule *s, int64_t step)
{
    if (step < s->warmup_steps) return s->peak_lr * (float)(step + 1) / (float)s->warmup_steps;
    const int64_t span = s->total_steps - s->warmup_steps;
    const double t = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
    const double progress = t > 1.0 ? 1.0 : t;
    switch (s->kind) {
    case NMT_SCHED_COSINE:
        return (float)(s->peak_lr * 0.5 * (1.0 + cos(M_PI * progress)));
    case NMT_SCHED_ONECYCLE: /* linear ramp down after the warm-up peak */
        return (float)(s->peak_lr * (1.0 - progress * (1.0 - s->final_fraction)));
    default:
        return s->peak_lr;
    }
}

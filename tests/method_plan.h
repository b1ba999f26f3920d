/* One layer's method state in an arena of its own, for the method tests:
 * a measuring pass sizes the arena, a second pass carves it, as the network
 * plans all its layers. Free with nmt_arena_free. */
#ifndef NMT_TEST_METHOD_PLAN_H
#define NMT_TEST_METHOD_PLAN_H

#include "train/method.h"

static inline int plan_layer_alone(const nmt_method_config *cfg, const nmt_node *node, nmt_arena *arena,
                                   method_layer *l)
{
    nmt_arena_init(arena, 0);
    method_layer_plan(cfg, node, arena, l);
    if (nmt_arena_init(arena, arena->peak + 64) != 0) return -1;
    method_layer_plan(cfg, node, arena, l);
    return 0;
}

#endif

/* One training iteration: layers in forward order, then backward in reverse
 * order (BW, WG, update per layer), the vector engine for non-GEMM work and
 * the optimiser, and the sparse weight generator either on the critical path
 * (before each FW and BW GEMM) or pre-generating the next step's operands
 * right after each update, overlapped with the rest of the iteration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

void sim_stats_add(nmt_sim_stats *a, const nmt_sim_stats *b)
{
    a->cycles += b->cycles;
    a->compute += b->compute;
    a->stall += b->stall;
    a->fill += b->fill;
    a->hidden += b->hidden;
    a->macs += b->macs;
    a->macs_dense += b->macs_dense;
    a->dram_bytes += b->dram_bytes;
    a->sram_read += b->sram_read;
    a->sram_write += b->sram_write;
    a->vec_ops += b->vec_ops;
    a->gen_elems += b->gen_elems;
    a->energy_pj += b->energy_pj;
}

double sim_dynamic_energy_pj(const nmt_sim_config *cfg, const nmt_sim_stats *s)
{
    return s->macs * cfg->pj_mac + (s->sram_read + s->sram_write) * cfg->pj_sram_byte +
           s->dram_bytes * cfg->pj_dram_byte + s->vec_ops * cfg->pj_vec_op + s->gen_elems * cfg->pj_gen_elem;
}

void sim_vector_cost(const nmt_sim_config *cfg, double ops, double bytes, nmt_sim_stats *out)
{
    memset(out, 0, sizeof *out);
    if (ops <= 0 && bytes <= 0) return;
    double compute = ops > 0 ? (double)sim_cdiv((int64_t)(ops + 0.5), cfg->vec_lanes) : 0;
    double mem = bytes / nmt_sim_dram_bytes_per_cycle(cfg);
    out->compute = compute;
    out->fill = cfg->adder_latency; /* the lanes' FP32 pipeline */
    out->cycles = sim_max(compute, mem) + out->fill;
    out->stall = out->cycles - out->compute - out->fill;
    out->vec_ops = ops;
    out->dram_bytes = bytes;
    out->sram_read = bytes;
    out->sram_write = bytes;
}

double nmt_sim_gen_cycles(const nmt_sim_config *cfg, double elems, double factor)
{
    if (elems <= 0) return 0;
    /* one element per lane per cycle (a group of M in M cycles), plus one
     * group's latency to fill the sorter */
    return (double)sim_cdiv((int64_t)(elems + 0.5), cfg->gen_lanes) * factor + cfg->max_m;
}

/* One generator pass over `elems` elements producing `dirs_out` packed
 * directions; reads the FP32 master weights from DRAM unless fused with the
 * update (pre-generation). */
static void gen_cost(const nmt_sim_config *cfg, const nmt_sim_layer *L, double elems, double factor, int dirs_out,
                     int read_master, double read_bytes_per_elem, nmt_sim_stats *out)
{
    memset(out, 0, sizeof *out);
    if (elems <= 0) return;
    double gen = nmt_sim_gen_cycles(cfg, elems, factor);
    double packed = elems * L->nm.n / (double)L->nm.m *
                    (cfg->weight_bytes + sim_index_bits(cfg, L->nm) / 8.0) * dirs_out;
    double bytes = packed + (read_master ? elems * read_bytes_per_elem : 0);
    double mem = bytes / nmt_sim_dram_bytes_per_cycle(cfg);
    out->compute = gen;
    out->cycles = sim_max(gen, mem);
    out->stall = out->cycles - gen;
    out->gen_elems = elems;
    out->dram_bytes = bytes;
    out->sram_read = bytes;
    out->sram_write = bytes;
}

static void scale_stats(nmt_sim_stats *s, double f)
{
    s->cycles *= f, s->compute *= f, s->stall *= f, s->fill *= f, s->hidden *= f;
    s->macs *= f, s->macs_dense *= f, s->dram_bytes *= f, s->sram_read *= f, s->sram_write *= f;
    s->vec_ops *= f, s->gen_elems *= f, s->energy_pj *= f;
}

/* Repeated blocks repeat their GEMMs: schedule each distinct shape once. */
typedef struct sched_cache {
    int n, cap;
    nmt_sim_gemm *g;
    nmt_sim_schedule *s;
    nmt_sim_cost *c;
} sched_cache;

static int cached_schedule(const nmt_sim_config *cfg, sched_cache *cache, const nmt_sim_gemm *g,
                           nmt_sim_schedule *s, nmt_sim_cost *c)
{
    for (int i = 0; i < cache->n; i++)
        if (!memcmp(&cache->g[i], g, sizeof *g)) {
            *s = cache->s[i];
            *c = cache->c[i];
            return 0;
        }
    if (nmt_sim_gemm_schedule(cfg, g, s, c)) return -1;
    if (cache->n < cache->cap) {
        cache->g[cache->n] = *g;
        cache->s[cache->n] = *s;
        cache->c[cache->n] = *c;
        cache->n++;
    }
    return 0;
}

/* Costs a layer-phase's GEMMs: SCALE-Sim's accounting, or the schedule
 * the offline scheduler (or the fixed one) picks. */
static int run_gemms(const nmt_sim_config *cfg, int scalesim, sched_cache *cache, const nmt_sim_layer *L,
                     nmt_sim_phase p, nmt_sim_layer_result *r)
{
    for (int j = 0; j < L->n_gemm[p]; j++) {
        nmt_sim_cost *c = &r->cost[p][j];
        int rc = scalesim ? sim_scalesim_gemm(cfg, &L->gemm[p][j], &r->sched[p][j], c)
                          : cached_schedule(cfg, cache, &L->gemm[p][j], &r->sched[p][j], c);
        if (rc) {
            char msg[400];
            snprintf(msg, sizeof msg, "%s", nmt_errmsg());
            nmt_error("layer %s %s: %s", L->name, nmt_sim_phase_name(p), msg);
            return -1;
        }
        nmt_sim_stats *s = &r->phase[p];
        s->cycles += c->cycles;
        s->compute += c->compute;
        s->stall += c->stall;
        s->fill += c->fill;
        s->macs += c->macs;
        s->macs_dense += c->macs_dense;
        s->dram_bytes += c->dram_bytes;
        s->sram_read += c->sram_read;
        s->sram_write += c->sram_write;
    }
    return 0;
}

/* Cycles each unit is busy for one layer: the array's GEMMs and the vector
 * engine's work per phase, and the generator's critical-path work before FW
 * and before BW. */
typedef struct unit_time {
    double array[NMT_SIM_NPHASES], vector[NMT_SIM_NPHASES];
    double gen_fw, gen_bw;
} unit_time;

enum { U_ARRAY, U_VECTOR, U_GEN, U_COUNT };

typedef struct task {
    int unit;
    double dur, start, end;
    int deps[8], n_deps, done;
} task;

static void add_dep(task *t, int d)
{
    if (d >= 0 && t->n_deps < 8) t->deps[t->n_deps++] = d;
}

/* With overlap_units on, the array, the vector engine and the generator work
 * concurrently as far as data dependencies allow (forward: a layer after its
 * producers; backward: a layer's BW, WG and vector work once every consumer
 * has produced its gradient; the update after WG). Greedy list scheduling in
 * program order: the ready task that can start first goes next. DRAM is
 * shared: the iteration is never shorter than all its bytes over the
 * bandwidth. Returns the makespan, or -1. */
static double overlapped_timeline(const nmt_sim_config *cfg, const nmt_sim_workload *wl,
                                  const nmt_sim_layer *layers, const unit_time *u, int n, const nmt_sim_result *res,
                                  double *fw_start, double *upd_end)
{
    /* per layer: GENF, FWA, FWV, GENB, BWV, BWA, WGA, UPD */
    enum { GENF, FWA, FWV, GENB, BWV, BWA, WGA, UPD, PER };
    task *t = calloc((size_t)n * PER, sizeof *t);
    int *order = malloc(sizeof(int) * (size_t)n * PER);
    double makespan = -1;
    if (!t || !order) {
        nmt_error("out of memory for the overlapped timeline");
        goto done;
    }
#define T(i, k) (t[(size_t)(i) * PER + (k)])
#define IDX(i, k) ((int)((size_t)(i) * PER + (k)))
    const int nodes = wl->n_nodes;
    for (int i = 0; i < n; i++) {
        const int units[PER] = {U_GEN, U_ARRAY, U_VECTOR, U_GEN, U_VECTOR, U_ARRAY, U_ARRAY, U_VECTOR};
        const double durs[PER] = {u[i].gen_fw, u[i].array[NMT_SIM_FW], u[i].vector[NMT_SIM_FW], u[i].gen_bw,
                                  u[i].vector[NMT_SIM_BW], u[i].array[NMT_SIM_BW], u[i].array[NMT_SIM_WG],
                                  u[i].vector[NMT_SIM_UPDATE]};
        for (int k = 0; k < PER; k++) T(i, k).unit = units[k], T(i, k).dur = durs[k];
        /* forward */
        add_dep(&T(i, FWA), IDX(i, GENF));
        if (i < nodes) {
            const nmt_node *nd = &wl->nodes[layers[i].node];
            if (nd->input >= 0 && nd->input < nodes) add_dep(&T(i, FWA), IDX(nd->input, FWV));
            if (nd->input2 >= 0 && nd->input2 < nodes) add_dep(&T(i, FWA), IDX(nd->input2, FWV));
        } else if (nodes > 0) {
            add_dep(&T(i, FWA), IDX(nodes - 1, FWV)); /* the loss reads the logits */
        }
        add_dep(&T(i, FWV), IDX(i, FWA));
        /* backward: this layer's gradient exists when every consumer is done */
        int dy[8], ndy = 0;
        if (i == n - 1) {
            dy[ndy++] = IDX(i, FWV); /* the loss starts the backward pass */
        } else {
            for (int j = i + 1; j < n && ndy < 7; j++) {
                int consumes = 0;
                if (j < nodes) {
                    const nmt_node *nj = &wl->nodes[layers[j].node];
                    consumes = nj->input == i || nj->input2 == i;
                } else {
                    consumes = i == nodes - 1;
                }
                if (consumes) {
                    dy[ndy++] = IDX(j, BWV);
                    if (ndy < 8) dy[ndy++] = IDX(j, BWA);
                }
            }
            if (ndy == 0) dy[ndy++] = IDX(n - 1, FWV); /* a dead end: after the forward pass */
        }
        const int kinds[4] = {GENB, BWV, BWA, WGA};
        for (int q = 0; q < 4; q++)
            for (int d = 0; d < ndy; d++) add_dep(&T(i, kinds[q]), dy[d]);
        add_dep(&T(i, BWA), IDX(i, GENB));
        add_dep(&T(i, UPD), IDX(i, WGA));
        add_dep(&T(i, UPD), IDX(i, BWV));
    }
    /* program order: forward 0..n-1, then backward n-1..0 */
    int no = 0;
    for (int i = 0; i < n; i++) order[no++] = IDX(i, GENF), order[no++] = IDX(i, FWA), order[no++] = IDX(i, FWV);
    for (int i = n - 1; i >= 0; i--)
        order[no++] = IDX(i, GENB), order[no++] = IDX(i, BWV), order[no++] = IDX(i, BWA), order[no++] = IDX(i, WGA),
        order[no++] = IDX(i, UPD);
    double free_at[U_COUNT] = {0, 0, 0}, end = 0;
    int first_open = 0;
    for (int placed = 0; placed < no; placed++) {
        int best = -1;
        double best_start = 0;
        while (first_open < no && t[order[first_open]].done) first_open++;
        for (int q = first_open; q < no; q++) {
            task *c = &t[order[q]];
            if (c->done) continue;
            double ready = free_at[c->unit];
            int ok = 1;
            for (int d = 0; d < c->n_deps && ok; d++) {
                if (!t[c->deps[d]].done) ok = 0;
                else ready = sim_max(ready, t[c->deps[d]].end);
            }
            if (ok && (best < 0 || ready < best_start)) best = order[q], best_start = ready;
        }
        if (best < 0) { /* cannot happen: the graph follows program order */
            nmt_error("internal: the overlapped timeline has a cycle");
            goto done;
        }
        task *c = &t[best];
        c->start = best_start;
        c->end = best_start + c->dur;
        c->done = 1;
        if (c->dur > 0) free_at[c->unit] = c->end;
        end = sim_max(end, c->end);
    }
    for (int i = 0; i < n; i++) {
        fw_start[i] = T(i, FWA).start;
        upd_end[i] = sim_max(T(i, UPD).end, T(i, WGA).end);
    }
#undef T
#undef IDX
    /* shared DRAM: never faster than moving every byte once */
    double bytes = 0;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < NMT_SIM_NPHASES; p++)
            if (p != NMT_SIM_GEN || !cfg->opt_pregen) bytes += res->layers[i].phase[p].dram_bytes;
    makespan = sim_max(end, bytes / nmt_sim_dram_bytes_per_cycle(cfg));
done:
    free(t);
    free(order);
    return makespan;
}

/* What one run allocates, released in one place (run_state_free). */
typedef struct run_state {
    int n;                   /* layers */
    nmt_sim_layer *layers;
    unit_time *unit;         /* each unit's busy cycles per layer */
    double *fw_start;        /* forward start of each layer within the iteration */
    double *upd_end;         /* end of each layer's update (and WG) */
    double *gen_job, *gen_fin; /* pre-generation: each layer's job and when it finishes */
    sched_cache cache;
} run_state;

static void run_state_free(run_state *st)
{
    free(st->layers);
    free(st->unit);
    free(st->fw_start);
    free(st->upd_end);
    free(st->gen_job);
    free(st->gen_fin);
    free(st->cache.g);
    free(st->cache.s);
    free(st->cache.c);
    memset(st, 0, sizeof *st);
}

/* Stage 1: the layers, and every array the later stages fill. */
static int run_state_init(const nmt_sim_config *cfg, const nmt_sim_workload *wl, run_state *st, nmt_sim_result *out)
{
    if (nmt_sim_layers(cfg, wl, &st->layers, &st->n)) return -1;
    const size_t n = (size_t)st->n;
    out->layers = calloc(n, sizeof *out->layers);
    st->unit = calloc(n, sizeof *st->unit);
    st->fw_start = calloc(n, sizeof(double));
    st->upd_end = calloc(n, sizeof(double));
    st->gen_job = calloc(n, sizeof(double));
    st->gen_fin = calloc(n, sizeof(double));
    if (!out->layers || !st->unit || !st->fw_start || !st->upd_end || !st->gen_job || !st->gen_fin) {
        nmt_error("out of memory for %d layer results", st->n);
        return -1;
    }
    out->n_layers = st->n;
    /* the schedule cache only saves time: without memory it stays empty */
    st->cache.cap = st->n * 3 * NMT_SIM_MAX_GEMMS;
    st->cache.g = malloc(sizeof *st->cache.g * (size_t)st->cache.cap);
    st->cache.s = malloc(sizeof *st->cache.s * (size_t)st->cache.cap);
    st->cache.c = malloc(sizeof *st->cache.c * (size_t)st->cache.cap);
    if (!st->cache.g || !st->cache.s || !st->cache.c) st->cache.cap = 0;
    return 0;
}

/* Stage 2: each layer's GEMMs, vector work and, without pre-generation,
 * its sparse-operand generation on the critical path. */
static int cost_layers(const nmt_sim_config *cfg, const nmt_sim_workload *wl, run_state *st, nmt_sim_result *out)
{
    for (int i = 0; i < st->n; i++) {
        nmt_sim_layer_result *r = &out->layers[i];
        const nmt_sim_layer *L = &st->layers[i];
        unit_time *u = &st->unit[i];
        r->layer = *L;
        for (int p = NMT_SIM_FW; p <= NMT_SIM_WG; p++) {
            if (run_gemms(cfg, wl->opts.scalesim, &st->cache, L, (nmt_sim_phase)p, r)) return -1;
            u->array[p] = r->phase[p].cycles;
        }
        for (int p = NMT_SIM_FW; p <= NMT_SIM_UPDATE; p++) {
            nmt_sim_stats v;
            sim_vector_cost(cfg, L->vec_ops[p], L->vec_bytes[p], &v);
            sim_stats_add(&r->phase[p], &v);
            u->vector[p] = v.cycles;
        }
        /* generation on the critical path: without pre-generation, before
         * each sparse FW and BW GEMM (reading the FP32 master weights); for
         * sdgp the gradient pruning, every step, before BW */
        nmt_sim_stats *gp = &r->phase[NMT_SIM_GEN];
        if (L->gen_dirs > 0 && !cfg->opt_pregen) {
            nmt_sim_stats gs;
            int dirs = L->sparse_fw + L->sparse_bw;
            if (L->gen_factor != 1.0 || L->gen_dirs == 1) {
                /* one pass (srste: FW only; tnm: one transposable mask for both) */
                gen_cost(cfg, L, L->gen_elems_per_dir, L->gen_factor, dirs ? dirs : 1, 1, cfg->master_bytes, &gs);
                sim_stats_add(gp, &gs);
            } else {
                for (int d = 0; d < L->gen_dirs; d++) {
                    gen_cost(cfg, L, L->gen_elems_per_dir, L->gen_factor, 1, 1, cfg->master_bytes, &gs);
                    sim_stats_add(gp, &gs);
                }
            }
            scale_stats(gp, 1.0 / L->gen_interval);
            /* the FW direction's share waits before FW, the rest before BW */
            double fw_share = L->gen_dirs == 2 ? 0.5 : 1.0;
            u->gen_fw = gp->cycles * fw_share;
            u->gen_bw = gp->cycles - u->gen_fw;
        }
        if (L->gen_runtime_elems > 0) {
            nmt_sim_stats gs;
            gen_cost(cfg, L, L->gen_runtime_elems, 1.0, 1, 1, cfg->act_bytes, &gs);
            sim_stats_add(gp, &gs);
            u->gen_bw += gs.cycles;
        }
    }
    return 0;
}

/* Stage 3: the iteration's timeline without pre-generation stalls: the
 * layer-phases one after another, or the units overlapped. Fills fw_start
 * and upd_end; returns the iteration's cycles, or -1. */
static double place_timeline(const nmt_sim_config *cfg, const nmt_sim_workload *wl, run_state *st,
                             const nmt_sim_result *out)
{
    if (cfg->overlap_units)
        return overlapped_timeline(cfg, wl, st->layers, st->unit, st->n, out, st->fw_start, st->upd_end);
    double t = 0;
    for (int i = 0; i < st->n; i++) {
        st->fw_start[i] = t + st->unit[i].gen_fw;
        t += out->layers[i].phase[NMT_SIM_FW].cycles + st->unit[i].gen_fw;
    }
    for (int i = st->n - 1; i >= 0; i--) {
        const nmt_sim_stats *ph = out->layers[i].phase;
        t += st->unit[i].gen_bw + ph[NMT_SIM_BW].cycles + ph[NMT_SIM_WG].cycles + ph[NMT_SIM_UPDATE].cycles;
        st->upd_end[i] = t;
    }
    return t;
}

/* Stage 4, pre-generation: the generator is a separate unit; layer i's job
 * starts when its update ends (and the generator is free) and must be done
 * before layer i's forward in the next iteration, else the difference is
 * exposed as GEN cycles. Returns the exposed cycles. */
static double settle_pregen(const nmt_sim_config *cfg, run_state *st, nmt_sim_result *out, double t_end)
{
    double gen_free = 0, exposed_sum = 0;
    for (int i = st->n - 1; i >= 0; i--) {
        const nmt_sim_layer *L = &st->layers[i];
        if (L->gen_dirs <= 0) continue;
        nmt_sim_stats gs;
        int dirs = L->sparse_fw + L->sparse_bw;
        double elems = L->gen_elems_per_dir * (L->gen_factor != 1.0 ? 1 : L->gen_dirs);
        gen_cost(cfg, L, elems, L->gen_factor, dirs ? dirs : 1, 0, 0, &gs);
        scale_stats(&gs, 1.0 / L->gen_interval);
        st->gen_job[i] = gs.cycles;
        double start = sim_max(gen_free, st->upd_end[i]);
        st->gen_fin[i] = start + gs.cycles;
        gen_free = st->gen_fin[i];
        /* account the work; its critical-path share is settled below */
        gs.hidden = gs.cycles;
        gs.cycles = gs.compute = gs.stall = 0;
        sim_stats_add(&out->layers[i].phase[NMT_SIM_GEN], &gs);
    }
    for (int i = 0; i < st->n; i++) {
        if (st->gen_job[i] <= 0) continue;
        double deadline = t_end + exposed_sum + st->fw_start[i];
        double exposed = st->gen_fin[i] - deadline;
        if (exposed > 0) {
            nmt_sim_stats *gp = &out->layers[i].phase[NMT_SIM_GEN];
            gp->cycles += exposed;
            gp->compute += exposed;
            gp->hidden -= exposed;
            if (gp->hidden < 0) gp->hidden = 0;
            exposed_sum += exposed;
        }
    }
    return exposed_sum;
}

/* Stage 5: totals and energy. With overlapped units the iteration is the
 * makespan, shorter than the sum of the phases' busy cycles, and static
 * energy is shared out over the busy cycles in that proportion. */
static void sum_totals(const nmt_sim_config *cfg, const nmt_sim_workload *wl, nmt_sim_result *out, double iteration)
{
    const int n = out->n_layers;
    const double hz = cfg->clock_mhz * 1e6;
    double busy = 0;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < NMT_SIM_NPHASES; p++) busy += out->layers[i].phase[p].cycles;
    const double static_share = busy > 0 && cfg->overlap_units ? iteration / busy : 1.0;
    for (int i = 0; i < n; i++) {
        nmt_sim_layer_result *r = &out->layers[i];
        memset(&r->total, 0, sizeof r->total);
        for (int p = 0; p < NMT_SIM_NPHASES; p++) {
            nmt_sim_stats *s = &r->phase[p];
            s->energy_pj = sim_dynamic_energy_pj(cfg, s) + cfg->static_w * (s->cycles * static_share / hz) * 1e12;
            sim_stats_add(&r->total, s);
            sim_stats_add(&out->phase[p], s);
        }
        sim_stats_add(&out->total, &r->total);
    }
    if (cfg->overlap_units) {
        out->overlap_saved = out->total.cycles - iteration;
        out->total.cycles = iteration;
    }
    out->seconds = out->total.cycles / hz;
    if (out->seconds > 0) {
        out->gops = 2.0 * out->total.macs / out->seconds / 1e9;
        out->gops_dense = 2.0 * out->total.macs_dense / out->seconds / 1e9;
        out->images_per_s = wl->batch / out->seconds;
        out->power_w = out->total.energy_pj * 1e-12 / out->seconds;
    }
    if (out->total.cycles > 0)
        out->utilisation = out->total.macs / (out->total.cycles * (double)cfg->rows * cfg->cols);
    out->energy_j = out->total.energy_pj * 1e-12;
}

/* SCALE-Sim's accounting (opts.scalesim) runs on unlimited buffers and DRAM
 * (its InterfaceBandwidth CALC) with the configured, fixed dataflow. */
static int scalesim_config(const nmt_sim_config *cfg, nmt_sim_config *out)
{
    if (cfg->dataflow == NMT_SIM_AUTO) {
        nmt_error("SCALE-Sim accounting needs a fixed dataflow: set dataflow = os, ws or is "
                  "(SCALE-Sim's Dataflow)");
        return -1;
    }
    *out = *cfg;
    out->dram_unlimited = 1;
    out->ibuf_kib = out->wbuf_kib = out->obuf_kib = 1e15; /* more than any GEMM's operands */
    return 0;
}

int nmt_sim_run(const nmt_sim_config *cfg, const nmt_sim_workload *wl, nmt_sim_result *out)
{
    memset(out, 0, sizeof *out);
    run_state st;
    memset(&st, 0, sizeof st);
    nmt_sim_config unlimited;
    const nmt_sim_config *c = cfg;
    int rc = -1;
    if (nmt_sim_config_check(cfg)) goto done;
    if (wl->opts.scalesim) {
        if (scalesim_config(cfg, &unlimited)) goto done;
        c = &unlimited;
    }
    if (run_state_init(c, wl, &st, out) || cost_layers(c, wl, &st, out)) goto done;
    const double t = place_timeline(c, wl, &st, out);
    if (t < 0) goto done;
    const double exposed = c->opt_pregen ? settle_pregen(c, &st, out, t) : 0;
    sum_totals(c, wl, out, t + exposed);
    nmt_sim_resources_check(cfg, &out->res);
    rc = 0;
done:
    run_state_free(&st);
    if (rc) nmt_sim_result_free(out);
    return rc;
}

void nmt_sim_result_free(nmt_sim_result *res)
{
    free(res->layers);
    memset(res, 0, sizeof *res);
}

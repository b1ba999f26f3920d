/* Reports: the readable table, per-phase CSV, SCALE-Sim COMPUTE_REPORT,
 * JSON and the schedule listing. */
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

static const char *op_name(nmt_op op) { return op == NMT_OP_COUNT ? "loss" : nmt_op_name(op); }

static double pct(double a, double b) { return b > 0 ? 100.0 * a / b : 0.0; }

static void header_line(FILE *out, const nmt_sim_config *cfg, const nmt_sim_workload *wl)
{
    fprintf(out, "SAT simulation: %s, batch %d, %s", wl->name, wl->batch, nmt_method_name(wl->opts.method.kind));
    if (wl->opts.method.kind != NMT_METHOD_DENSE) fprintf(out, " %d:%d", wl->opts.method.nm.n, wl->opts.method.nm.m);
    if (wl->opts.method.grad_nm.m)
        fprintf(out, ", weight gradients %d:%d", wl->opts.method.grad_nm.n, wl->opts.method.grad_nm.m);
    fprintf(out, ", %s\n", wl->opts.training ? "one training iteration" : "forward only");
    if (wl->opts.scalesim)
        fprintf(out, "SCALE-Sim v2's accounting of every GEMM: %s dataflow, its folds, fill and drain, unlimited "
                     "buffers and DRAM (docs/sat.md)\n",
                nmt_sim_dataflow_name(cfg->dataflow));
    char dram[32] = "unlimited";
    if (!cfg->dram_unlimited) snprintf(dram, sizeof dram, "%.1f B/cycle", nmt_sim_dram_bytes_per_cycle(cfg));
    fprintf(out,
            "array %dx%d @ %g MHz, adder latency %d, buffers in/w/out %g/%g/%g KiB, DRAM %s; "
            "interleave %s, pre-generation %s, offline scheduling %s%s%s%s\n",
            cfg->rows, cfg->cols, cfg->clock_mhz, cfg->adder_latency, cfg->ibuf_kib, cfg->wbuf_kib, cfg->obuf_kib,
            dram, cfg->opt_interleave ? "on" : "off", cfg->opt_pregen ? "on" : "off",
            cfg->opt_schedule ? "on" : "off", cfg->dataflow != NMT_SIM_AUTO ? ", dataflow " : "",
            cfg->dataflow != NMT_SIM_AUTO ? nmt_sim_dataflow_name(cfg->dataflow) : "",
            cfg->overlap_units ? ", units overlapped" : "");
}

void nmt_sim_report_table(FILE *out, const nmt_sim_config *cfg, const nmt_sim_workload *wl,
                          const nmt_sim_result *res, const nmt_sim_result *base, int detail)
{
    const double pes = (double)cfg->rows * cfg->cols;
    header_line(out, cfg, wl);
    fputc('\n', out);
    if (!detail) {
        fprintf(out, "%-28s %-11s %11s %11s %11s %9s %9s %12s %6s %6s %9s %9s  %s\n", "layer", "op", "FW", "BW", "WG",
                "UPD", "GEN", "total", "stall%", "util%", "DRAM MB", "energy mJ", "note");
        for (int i = 0; i < res->n_layers; i++) {
            const nmt_sim_layer_result *r = &res->layers[i];
            const nmt_sim_stats *p = r->phase;
            char note[96];
            snprintf(note, sizeof note, "%s", r->layer.note);
            if (r->layer.sparse_fw || r->layer.sparse_bw) {
                char s[48];
                snprintf(s, sizeof s, "%s%s%s %d:%d", note[0] ? "; " : "", r->layer.sparse_fw ? "FW" : "",
                         r->layer.sparse_bw ? (r->layer.sparse_fw ? "+BW" : "BW") : "", r->layer.nm.n, r->layer.nm.m);
                strncat(note, s, sizeof note - strlen(note) - 1);
            }
            fprintf(out, "%-28.28s %-11.11s %11.0f %11.0f %11.0f %9.0f %9.0f %12.0f %6.1f %6.1f %9.2f %9.3f  %s\n",
                    r->layer.name, op_name(r->layer.op), p[0].cycles, p[1].cycles, p[2].cycles, p[3].cycles,
                    p[4].cycles, r->total.cycles, pct(r->total.stall, r->total.cycles),
                    pct(r->total.macs, r->total.cycles * pes), r->total.dram_bytes / 1e6, r->total.energy_pj * 1e-9,
                    note);
        }
    } else {
        fprintf(out, "%-28s %-4s %11s %11s %10s %9s %10s %13s %13s %6s %9s %9s %9s  %s\n", "layer", "ph", "cycles",
                "compute", "stall", "fill", "hidden", "MACs exec", "MACs dense", "util%", "DRAM MB", "SRAM MB",
                "energy mJ", "schedule");
        for (int i = 0; i < res->n_layers; i++) {
            const nmt_sim_layer_result *r = &res->layers[i];
            for (int p = 0; p < NMT_SIM_NPHASES; p++) {
                const nmt_sim_stats *s = &r->phase[p];
                if (s->cycles == 0 && s->hidden == 0) continue;
                char sched[96] = "";
                if (r->layer.n_gemm[p] > 0) nmt_sim_schedule_str(&r->sched[p][0], sched, sizeof sched);
                else if (p == NMT_SIM_GEN) snprintf(sched, sizeof sched, "generator");
                else snprintf(sched, sizeof sched, "vector");
                fprintf(out, "%-28.28s %-4s %11.0f %11.0f %10.0f %9.0f %10.0f %13.4g %13.4g %6.1f %9.2f %9.2f %9.3f  %s\n",
                        r->layer.name, nmt_sim_phase_name((nmt_sim_phase)p), s->cycles, s->compute, s->stall, s->fill,
                        s->hidden, s->macs, s->macs_dense, pct(s->macs, s->cycles * pes), s->dram_bytes / 1e6,
                        (s->sram_read + s->sram_write) / 1e6, s->energy_pj * 1e-9, sched);
            }
        }
    }
    fprintf(out, "\n%-6s %14s %14s %12s %11s %11s %13s %13s %6s %10s %10s %10s\n", "phase", "cycles", "compute",
            "stall", "fill", "hidden", "MACs exec", "MACs dense", "util%", "DRAM MB", "SRAM MB", "energy mJ");
    for (int p = 0; p < NMT_SIM_NPHASES; p++) {
        const nmt_sim_stats *s = &res->phase[p];
        fprintf(out, "%-6s %14.0f %14.0f %12.0f %11.0f %11.0f %13.4g %13.4g %6.1f %10.1f %10.1f %10.2f\n",
                nmt_sim_phase_name((nmt_sim_phase)p), s->cycles, s->compute, s->stall, s->fill, s->hidden, s->macs,
                s->macs_dense, pct(s->macs, s->cycles * pes), s->dram_bytes / 1e6, (s->sram_read + s->sram_write) / 1e6,
                s->energy_pj * 1e-9);
    }
    const nmt_sim_stats *t = &res->total;
    fprintf(out, "%-6s %14.0f %14.0f %12.0f %11.0f %11.0f %13.4g %13.4g %6.1f %10.1f %10.1f %10.2f\n", "total",
            t->cycles, t->compute, t->stall, t->fill, t->hidden, t->macs, t->macs_dense, pct(t->macs, t->cycles * pes),
            t->dram_bytes / 1e6, (t->sram_read + t->sram_write) / 1e6, t->energy_pj * 1e-9);
    fprintf(out,
            "\niteration: %.0f cycles = %.3f ms, %.1f images/s; %.1f GOPS executed, %.1f GOPS dense-equivalent; "
            "utilisation %.1f%%; energy %.4f J (%.1f W)\n",
            t->cycles, res->seconds * 1e3, res->images_per_s, res->gops, res->gops_dense, 100 * res->utilisation,
            res->energy_j, res->power_w);
    if (cfg->overlap_units)
        fprintf(out, "units overlapped: the phases above are busy cycles; %.0f of them (%.1f%%) run concurrently "
                     "with other units, so the iteration is their makespan\n",
                res->overlap_saved, pct(res->overlap_saved, res->overlap_saved + t->cycles));
    if (base && base->total.cycles > 0)
        fprintf(out, "dense baseline: %.0f cycles = %.3f ms, %.4f J; speedup %.3fx, energy efficiency %.3fx\n",
                base->total.cycles, base->seconds * 1e3, base->energy_j, base->total.cycles / t->cycles,
                res->energy_j > 0 ? base->energy_j / res->energy_j : 0);
    const nmt_sim_resources *rs = &res->res;
    char over[64];
    fprintf(out,
            "resources (VU9P): DSP %.0f/%d (%.1f%%), LUT %.0f/%d (%.1f%%), FF %.0f/%d (%.1f%%), "
            "BRAM36 %.0f/%d (%.1f%%), URAM %.0f/%d (%.1f%%)%s%s%s\n",
            rs->dsp, cfg->fpga_dsp, 100 * rs->dsp_frac, rs->lut, cfg->fpga_lut, 100 * rs->lut_frac, rs->ff,
            cfg->fpga_ff, 100 * rs->ff_frac, rs->bram36, cfg->fpga_bram36, 100 * rs->bram_frac, rs->uram,
            cfg->fpga_uram, 100 * rs->uram_frac, rs->over_budget ? "  ** OVER BUDGET: " : "",
            nmt_sim_resources_over(rs, over, sizeof over), rs->over_budget ? " **" : "");
    fprintf(out,
            "  LUT/FF: %d x %d PEs x %.0f/%.0f (the synthesized %s PE%s) + %d generator lanes x %.0f/%.0f; "
            "the vector engine, the controllers and the array's WS tap are not counted\n",
            cfg->rows, cfg->cols, rs->pe_lut, rs->pe_ff, cfg->max_m == 1 ? "dense" : cfg->max_m <= 8 ? "M <= 8" : "M <= 16",
            cfg->max_m > 16 ? ", smaller than max_m needs" : "", cfg->gen_lanes, cfg->lut_per_gen_lane,
            cfg->ff_per_gen_lane);
}

int nmt_sim_report_csv(const char *path, const nmt_sim_workload *wl, const nmt_sim_result *res)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        nmt_error("%s: cannot write", path);
        return -1;
    }
    (void)wl;
    fprintf(f, "layer,op,phase,cycles,compute,stall,fill,hidden,macs,macs_dense,dram_bytes,sram_read,sram_write,"
               "vec_ops,gen_elems,energy_pj,schedule\n");
    for (int i = 0; i < res->n_layers; i++) {
        const nmt_sim_layer_result *r = &res->layers[i];
        for (int p = 0; p < NMT_SIM_NPHASES; p++) {
            const nmt_sim_stats *s = &r->phase[p];
            char sched[96] = "";
            if (r->layer.n_gemm[p] > 0) nmt_sim_schedule_str(&r->sched[p][0], sched, sizeof sched);
            fprintf(f, "%s,%s,%s,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.1f,%s\n", r->layer.name,
                    op_name(r->layer.op), nmt_sim_phase_name((nmt_sim_phase)p), s->cycles, s->compute, s->stall,
                    s->fill, s->hidden, s->macs, s->macs_dense, s->dram_bytes, s->sram_read, s->sram_write, s->vec_ops,
                    s->gen_elems, s->energy_pj, sched);
        }
    }
    if (fclose(f)) {
        nmt_error("%s: write failed", path);
        return -1;
    }
    return 0;
}

int nmt_sim_report_compute(const char *path, const nmt_sim_config *cfg, const nmt_sim_workload *wl,
                           const nmt_sim_result *res)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        nmt_error("%s: cannot write", path);
        return -1;
    }
    (void)wl;
    const double pes = (double)cfg->rows * cfg->cols;
    fprintf(f, "LayerID, Total Cycles, Stall Cycles, Overall Util %%, Mapping Efficiency %%, Compute Util %%, "
               "Layer Name, Phase,\n");
    int id = 0;
    for (int i = 0; i < res->n_layers; i++) {
        const nmt_sim_layer_result *r = &res->layers[i];
        for (int p = NMT_SIM_FW; p <= NMT_SIM_WG; p++) {
            if (!r->layer.n_gemm[p]) continue;
            double cyc = 0, stall = 0, comp = 0, fill = 0, macs = 0;
            for (int j = 0; j < r->layer.n_gemm[p]; j++) {
                const nmt_sim_cost *c = &r->cost[p][j];
                cyc += c->cycles, stall += c->stall, comp += c->compute, fill += c->fill, macs += c->macs;
            }
            fprintf(f, "%d, %.0f, %.0f, %.4f, %.4f, %.4f, %s, %s,\n", id++, cyc, stall, pct(macs, cyc * pes),
                    pct(macs, comp * pes), pct(macs, (comp + fill) * pes), r->layer.name,
                    nmt_sim_phase_name((nmt_sim_phase)p));
        }
    }
    if (fclose(f)) {
        nmt_error("%s: write failed", path);
        return -1;
    }
    return 0;
}

static void json_stats(FILE *f, const nmt_sim_stats *s)
{
    fprintf(f,
            "{\"cycles\": %.0f, \"compute\": %.0f, \"stall\": %.0f, \"fill\": %.0f, \"hidden\": %.0f, "
            "\"macs\": %.0f, \"macs_dense\": %.0f, \"dram_bytes\": %.0f, \"sram_read\": %.0f, \"sram_write\": %.0f, "
            "\"vec_ops\": %.0f, \"gen_elems\": %.0f, \"energy_pj\": %.1f}",
            s->cycles, s->compute, s->stall, s->fill, s->hidden, s->macs, s->macs_dense, s->dram_bytes, s->sram_read,
            s->sram_write, s->vec_ops, s->gen_elems, s->energy_pj);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

int nmt_sim_report_json(const char *path, const nmt_sim_config *cfg, const nmt_sim_workload *wl,
                        const nmt_sim_result *res, const nmt_sim_result *base)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        nmt_error("%s: cannot write", path);
        return -1;
    }
    fprintf(f, "{\n  \"model\": ");
    json_string(f, wl->name);
    fprintf(f, ",\n  \"batch\": %d,\n  \"method\": \"%s\",\n  \"nm\": \"%d:%d\",\n  \"training\": %s,\n", wl->batch,
            nmt_method_name(wl->opts.method.kind), wl->opts.method.nm.n, wl->opts.method.nm.m, wl->opts.training ? "true" : "false");
    fprintf(f, "  \"config\": {");
    for (int i = 0; i < nmt_sim_config_nkeys(); i++) {
        const char *k = nmt_sim_config_key(i, NULL, NULL);
        double v;
        if (nmt_sim_config_get(cfg, k, &v)) continue;
        fprintf(f, "%s\"%s\": %.10g", i > 1 ? ", " : "", k, v);
    }
    fprintf(f, "},\n  \"cycles\": %.0f,\n  \"seconds\": %.9g,\n  \"images_per_s\": %.6g,\n  \"gops\": %.6g,\n"
               "  \"gops_dense\": %.6g,\n  \"utilisation\": %.6g,\n  \"energy_j\": %.6g,\n  \"power_w\": %.6g,\n",
            res->total.cycles, res->seconds, res->images_per_s, res->gops, res->gops_dense, res->utilisation,
            res->energy_j, res->power_w);
    fprintf(f, "  \"overlap_saved\": %.0f,\n", res->overlap_saved);
    if (base && base->total.cycles > 0)
        fprintf(f, "  \"dense_cycles\": %.0f,\n  \"dense_energy_j\": %.6g,\n  \"speedup\": %.6g,\n", base->total.cycles,
                base->energy_j, base->total.cycles / res->total.cycles);
    fprintf(f,
            "  \"resources\": {\"dsp\": %.0f, \"lut\": %.0f, \"ff\": %.0f, \"bram36\": %.0f, \"uram\": %.0f, "
            "\"over_budget\": %s},\n",
            res->res.dsp, res->res.lut, res->res.ff, res->res.bram36, res->res.uram,
            res->res.over_budget ? "true" : "false");
    fprintf(f, "  \"phases\": {");
    for (int p = 0; p < NMT_SIM_NPHASES; p++) {
        fprintf(f, "%s\n    \"%s\": ", p ? "," : "", nmt_sim_phase_name((nmt_sim_phase)p));
        json_stats(f, &res->phase[p]);
    }
    fprintf(f, "\n  },\n  \"total\": ");
    json_stats(f, &res->total);
    fprintf(f, ",\n  \"layers\": [");
    for (int i = 0; i < res->n_layers; i++) {
        const nmt_sim_layer_result *r = &res->layers[i];
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        json_string(f, r->layer.name);
        fprintf(f, ", \"op\": \"%s\", \"sparse_fw\": %d, \"sparse_bw\": %d, \"note\": ", op_name(r->layer.op),
                r->layer.sparse_fw, r->layer.sparse_bw);
        json_string(f, r->layer.note);
        for (int p = 0; p < NMT_SIM_NPHASES; p++) {
            fprintf(f, ", \"%s\": ", nmt_sim_phase_name((nmt_sim_phase)p));
            json_stats(f, &r->phase[p]);
        }
        fprintf(f, ", \"schedules\": [");
        int first = 1;
        for (int p = NMT_SIM_FW; p <= NMT_SIM_WG; p++)
            for (int j = 0; j < r->layer.n_gemm[p]; j++) {
                const nmt_sim_gemm *g = &r->layer.gemm[p][j];
                char sched[96];
                nmt_sim_schedule_str(&r->sched[p][j], sched, sizeof sched);
                fprintf(f, "%s{\"phase\": \"%s\", \"m\": %lld, \"n\": %lld, \"k\": %lld, \"count\": %lld, "
                           "\"nm\": \"%d:%d\", \"schedule\": \"%s\"}",
                        first ? "" : ", ", nmt_sim_phase_name((nmt_sim_phase)p), (long long)g->m, (long long)g->n,
                        (long long)g->k, (long long)g->count, sim_nm_sparse(g->nm) ? g->nm.n : 1,
                        sim_nm_sparse(g->nm) ? g->nm.m : 1, sched);
                first = 0;
            }
        fprintf(f, "]}");
    }
    fprintf(f, "\n  ]\n}\n");
    if (fclose(f)) {
        nmt_error("%s: write failed", path);
        return -1;
    }
    return 0;
}

void nmt_sim_report_schedule(FILE *out, const nmt_sim_config *cfg, const nmt_sim_workload *wl,
                             const nmt_sim_result *res)
{
    fprintf(out, "schedule (%s): dataflow tm x tn x tk (dense reduction), loop order, double buffering, "
                 "outputs interleaved per PE\n",
            wl->opts.scalesim ? "SCALE-Sim's, whole GEMMs" : cfg->opt_schedule ? "offline scheduler" : "fixed");
    (void)wl;
    for (int i = 0; i < res->n_layers; i++) {
        const nmt_sim_layer_result *r = &res->layers[i];
        for (int p = NMT_SIM_FW; p <= NMT_SIM_WG; p++)
            for (int j = 0; j < r->layer.n_gemm[p]; j++) {
                const nmt_sim_gemm *g = &r->layer.gemm[p][j];
                const nmt_sim_cost *c = &r->cost[p][j];
                char sched[96];
                nmt_sim_schedule_str(&r->sched[p][j], sched, sizeof sched);
                fprintf(out, "  %-28.28s %-2s  %6lld x %8lld x %7lld", r->layer.name,
                        nmt_sim_phase_name((nmt_sim_phase)p), (long long)g->m, (long long)g->n, (long long)g->k);
                if (g->count > 1) fprintf(out, " (x%lld)", (long long)g->count);
                if (sim_nm_sparse(g->nm)) fprintf(out, " %d:%d%s", g->nm.n, g->nm.m, g->sparse_b ? "(B)" : "");
                fprintf(out, "  ->  %-36s %12.0f cycles (stall %.0f, fill %.0f), DRAM %.2f MB\n", sched, c->cycles,
                        c->stall, c->fill, c->dram_bytes / 1e6);
            }
    }
}

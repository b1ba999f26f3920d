/* Resource check against the FPGA: DSP slices for the PEs, vector lanes and
 * generator; LUTs and flip-flops for the PEs and the generator lanes, per
 * unit as Yosys synthesizes hw/rtl (the vector engine and the controllers
 * have no RTL, so their LUTs and FFs are not counted); BRAM36 / URAM blocks
 * for the buffers, sized both by capacity and by the port width the array
 * reads per cycle. Over budget is reported, never refused. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim/sim_internal.h"

/* Blocks for a buffer of `kib` KiB read `width_bytes` per cycle. A BRAM36 is
 * 4.5 KiB with a 72-bit port; a URAM 36 KiB with a 72-bit port. Double
 * buffering is a split of the same capacity, so it costs no extra blocks. */
static double blocks(double kib, double width_bytes, int uram)
{
    double cap = uram ? 36.0 : 4.5;
    double by_cap = ceil(kib / cap);
    double by_width = ceil(width_bytes * 8.0 / 72.0);
    return by_cap > by_width ? by_cap : by_width;
}

void nmt_sim_resources_check(const nmt_sim_config *cfg, nmt_sim_resources *out)
{
    memset(out, 0, sizeof *out);
    const double R = cfg->rows, C = cfg->cols;
    /* the PE's multiplexer has max_m lanes: the synthesized PE that covers it */
    out->pe_lut = cfg->max_m == 1 ? cfg->lut_per_pe_dense : cfg->max_m <= 8 ? cfg->lut_per_pe_m8 : cfg->lut_per_pe_m16;
    out->pe_ff = cfg->max_m == 1 ? cfg->ff_per_pe_dense : cfg->max_m <= 8 ? cfg->ff_per_pe_m8 : cfg->ff_per_pe_m16;
    out->array_dsp = R * C * cfg->dsp_per_pe;
    out->array_lut = R * C * out->pe_lut;
    out->array_ff = R * C * out->pe_ff;
    out->gen_lut = cfg->gen_lanes * cfg->lut_per_gen_lane;
    out->gen_ff = cfg->gen_lanes * cfg->ff_per_gen_lane;
    out->dsp = out->array_dsp + cfg->vec_lanes * cfg->dsp_per_vec_lane + cfg->gen_lanes * cfg->dsp_per_gen_lane;
    out->lut = out->array_lut + out->gen_lut;
    out->ff = out->array_ff + out->gen_ff;
    /* per cycle the array reads a row of activations (whole N:M groups: up to
     * max_m per PE row), a column of weights with indices, and writes C psums */
    double in_w = R * cfg->act_bytes * (cfg->max_m > 1 ? 2 : 1);
    double w_w = C * (cfg->weight_bytes + 1);
    double out_w = C * cfg->psum_bytes;
    double b[3] = {blocks(cfg->ibuf_kib, in_w, cfg->ibuf_uram), blocks(cfg->wbuf_kib, w_w, cfg->wbuf_uram),
                   blocks(cfg->obuf_kib, out_w, cfg->obuf_uram)};
    int u[3] = {cfg->ibuf_uram, cfg->wbuf_uram, cfg->obuf_uram};
    for (int i = 0; i < 3; i++) {
        if (u[i]) out->uram += b[i];
        else out->bram36 += b[i];
    }
    out->bram36 += (double)cfg->gen_lanes * cfg->gen_bram_per_lane;
    out->dsp_frac = out->dsp / cfg->fpga_dsp;
    out->lut_frac = out->lut / cfg->fpga_lut;
    out->ff_frac = out->ff / cfg->fpga_ff;
    out->bram_frac = out->bram36 / cfg->fpga_bram36;
    out->uram_frac = cfg->fpga_uram > 0 ? out->uram / cfg->fpga_uram : (out->uram > 0 ? INFINITY : 0);
    out->over_budget = out->dsp_frac > 1 || out->lut_frac > 1 || out->ff_frac > 1 || out->bram_frac > 1 ||
                       out->uram_frac > 1;
}

const char *nmt_sim_resources_over(const nmt_sim_resources *res, char *buf, size_t size)
{
    const char *name[] = {"DSP", "LUT", "FF", "BRAM36", "URAM"};
    const double frac[] = {res->dsp_frac, res->lut_frac, res->ff_frac, res->bram_frac, res->uram_frac};
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < 5; i++)
        if (frac[i] > 1 && used < size) used += snprintf(buf + used, size - used, "%s%s", used ? " " : "", name[i]);
    return buf;
}

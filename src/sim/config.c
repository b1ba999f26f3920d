/* Simulator configuration: defaults, the key table, INI and SCALE-Sim .cfg
 * parsing, range checks. Every architectural constant is a key here. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

typedef enum key_type { K_INT, K_BOOL, K_DOUBLE, K_DATAFLOW, K_STRING } key_type;

typedef struct key_def {
    const char *name;
    const char *section;
    key_type type;
    size_t offset;
    const char *help;
} key_def;

#define OFF(field) offsetof(nmt_sim_config, field)
#define VEC(opname, op, fwdef, bwdef)                                                                \
    {"vec_" opname "_fw", "vector", K_DOUBLE, OFF(vec_fw) + sizeof(double) * (op),                    \
     "FP32 ops per element, forward " opname},                                                       \
    {"vec_" opname "_bw", "vector", K_DOUBLE, OFF(vec_bw) + sizeof(double) * (op),                    \
     "FP32 ops per element, backward " opname},

static const key_def keys[] = {
    {"run_name", "general", K_STRING, OFF(run_name), "name of the run (reports)"},
    {"clock_mhz", "array", K_DOUBLE, OFF(clock_mhz), "clock frequency in MHz"},
    {"rows", "array", K_INT, OFF(rows), "PE array rows R"},
    {"cols", "array", K_INT, OFF(cols), "PE array columns C"},
    {"max_m", "array", K_INT, OFF(max_m), "largest N:M group size the PE multiplexer supports"},
    {"adder_latency", "array", K_INT, OFF(adder_latency), "FP32 adder pipeline latency in cycles"},
    {"interleave_outputs", "array", K_INT, OFF(interleave_outputs),
     "outputs interleaved per PE with interleave mapping (0 = adder latency)"},
    {"gen_lanes", "generator", K_INT, OFF(gen_lanes), "sparse weight generator lanes (1 element/lane/cycle)"},
    {"gen_tnm_factor", "generator", K_DOUBLE, OFF(gen_tnm_factor),
     "cycles per element of the transposable greedy, relative to top-N"},
    {"vec_lanes", "vector", K_INT, OFF(vec_lanes), "vector engine FP32 lanes"},
    VEC("conv", NMT_OP_CONV, 0, 0)
    VEC("linear", NMT_OP_LINEAR, 0, 0)
    VEC("batchnorm", NMT_OP_BATCHNORM, 0, 0)
    VEC("relu", NMT_OP_RELU, 0, 0)
    VEC("maxpool", NMT_OP_MAXPOOL, 0, 0)
    VEC("avgpool", NMT_OP_AVGPOOL, 0, 0)
    VEC("adaptive_maxpool", NMT_OP_ADAPTIVE_MAXPOOL, 0, 0)
    VEC("add", NMT_OP_ADD, 0, 0)
    VEC("flatten", NMT_OP_FLATTEN, 0, 0)
    VEC("scale", NMT_OP_SCALE, 0, 0)
    VEC("patch_embed", NMT_OP_PATCH_EMBED, 0, 0)
    VEC("layernorm", NMT_OP_LAYERNORM, 0, 0)
    VEC("gelu", NMT_OP_GELU, 0, 0)
    VEC("attention", NMT_OP_ATTENTION, 0, 0)
    VEC("token_pool", NMT_OP_TOKEN_POOL, 0, 0)
    {"vec_loss_fw", "vector", K_DOUBLE, OFF(vec_loss_fw), "softmax cross-entropy ops per logit, forward"},
    {"vec_loss_bw", "vector", K_DOUBLE, OFF(vec_loss_bw), "softmax cross-entropy ops per logit, backward"},
    {"vec_grad_prune", "vector", K_DOUBLE, OFF(vec_grad_prune),
     "--grad-nm: MVUE pruning ops per dY element, before WG"},
    {"vec_softmax_fw", "vector", K_DOUBLE, OFF(vec_softmax_fw), "attention softmax ops per score, forward"},
    {"vec_softmax_bw", "vector", K_DOUBLE, OFF(vec_softmax_bw), "attention softmax ops per score, backward"},
    {"upd_ops", "vector", K_DOUBLE, OFF(upd_ops), "optimiser ops per parameter"},
    {"upd_decay_ops", "vector", K_DOUBLE, OFF(upd_decay_ops), "extra ops per parameter for the SR-STE decay term"},
    {"ibuf_kib", "buffers", K_DOUBLE, OFF(ibuf_kib), "input (activation) buffer, KiB"},
    {"wbuf_kib", "buffers", K_DOUBLE, OFF(wbuf_kib), "weight buffer, KiB"},
    {"obuf_kib", "buffers", K_DOUBLE, OFF(obuf_kib), "output / partial-sum buffer, KiB"},
    {"act_bytes", "numbers", K_INT, OFF(act_bytes), "bytes per activation / gradient (FP16)"},
    {"weight_bytes", "numbers", K_INT, OFF(weight_bytes), "bytes per GEMM weight value (FP16)"},
    {"psum_bytes", "numbers", K_INT, OFF(psum_bytes), "bytes per accumulator and dW (FP32)"},
    {"master_bytes", "numbers", K_INT, OFF(master_bytes), "bytes per master weight / momentum (FP32)"},
    {"index_bits", "numbers", K_INT, OFF(index_bits), "bits per N:M index (0 = ceil(log2 M))"},
    {"dram_channels", "dram", K_INT, OFF(dram_channels), "DDR4 channels"},
    {"dram_gbps", "dram", K_DOUBLE, OFF(dram_gbps), "GB/s per channel"},
    {"dram_efficiency", "dram", K_DOUBLE, OFF(dram_efficiency), "achieved fraction of peak bandwidth"},
    {"dram_words_per_cycle", "dram", K_DOUBLE, OFF(dram_words_per_cycle),
     "bandwidth in activation words per cycle (SCALE-Sim Bandwidth); 0 = from channels"},
    {"dram_unlimited", "dram", K_BOOL, OFF(dram_unlimited),
     "no DRAM bandwidth limit (SCALE-Sim's InterfaceBandwidth CALC)"},
    {"opt_interleave", "dataflow", K_BOOL, OFF(opt_interleave), "interleave mapping on/off"},
    {"opt_pregen", "dataflow", K_BOOL, OFF(opt_pregen), "pre-generation of sparse weights on/off"},
    {"opt_schedule", "dataflow", K_BOOL, OFF(opt_schedule), "offline scheduling on/off"},
    {"overlap_units", "dataflow", K_BOOL, OFF(overlap_units),
     "run array, vector engine and generator concurrently where dependencies allow"},
    {"dataflow", "dataflow", K_DATAFLOW, OFF(dataflow), "auto, os, ws or is (fixed restricts the scheduler)"},
    {"fixed_dataflow", "dataflow", K_DATAFLOW, OFF(fixed_dataflow), "dataflow of the fixed schedule"},
    {"fixed_tile_m", "dataflow", K_INT, OFF(fixed_tile_m), "output-row tile of the fixed schedule"},
    {"fixed_tile_n", "dataflow", K_INT, OFF(fixed_tile_n), "output-column tile of the fixed schedule"},
    {"pj_mac", "energy", K_DOUBLE, OFF(pj_mac), "pJ per FP16 MAC (multiply + FP32 add)"},
    {"pj_sram_byte", "energy", K_DOUBLE, OFF(pj_sram_byte), "pJ per on-chip buffer byte"},
    {"pj_dram_byte", "energy", K_DOUBLE, OFF(pj_dram_byte), "pJ per DRAM byte"},
    {"pj_vec_op", "energy", K_DOUBLE, OFF(pj_vec_op), "pJ per FP32 vector op"},
    {"pj_gen_elem", "energy", K_DOUBLE, OFF(pj_gen_elem), "pJ per generator element"},
    {"static_w", "energy", K_DOUBLE, OFF(static_w), "static and clock power, W"},
    {"fpga_dsp", "resources", K_INT, OFF(fpga_dsp), "DSP slices of the device (VU9P 6840)"},
    {"fpga_bram36", "resources", K_INT, OFF(fpga_bram36), "BRAM36 blocks (VU9P 2160)"},
    {"fpga_uram", "resources", K_INT, OFF(fpga_uram), "URAM blocks (VU9P 960)"},
    {"fpga_lut", "resources", K_INT, OFF(fpga_lut), "LUTs (VU9P 1182240)"},
    {"fpga_ff", "resources", K_INT, OFF(fpga_ff), "flip-flops (VU9P 2364480)"},
    {"dsp_per_pe", "resources", K_DOUBLE, OFF(dsp_per_pe), "DSP slices per PE (RTL: the significand product)"},
    {"dsp_per_vec_lane", "resources", K_DOUBLE, OFF(dsp_per_vec_lane), "DSP slices per vector lane"},
    {"dsp_per_gen_lane", "resources", K_DOUBLE, OFF(dsp_per_gen_lane), "DSP slices per generator lane"},
    {"lut_per_pe_dense", "resources", K_DOUBLE, OFF(lut_per_pe_dense), "LUTs per PE when max_m = 1 (synthesized)"},
    {"ff_per_pe_dense", "resources", K_DOUBLE, OFF(ff_per_pe_dense), "FFs per PE when max_m = 1 (synthesized)"},
    {"lut_per_pe_m8", "resources", K_DOUBLE, OFF(lut_per_pe_m8), "LUTs per PE when max_m is 2..8 (synthesized)"},
    {"ff_per_pe_m8", "resources", K_DOUBLE, OFF(ff_per_pe_m8), "FFs per PE when max_m is 2..8 (synthesized)"},
    {"lut_per_pe_m16", "resources", K_DOUBLE, OFF(lut_per_pe_m16),
     "LUTs per PE when max_m > 8 (synthesized at M <= 16)"},
    {"ff_per_pe_m16", "resources", K_DOUBLE, OFF(ff_per_pe_m16), "FFs per PE when max_m > 8 (synthesized at M <= 16)"},
    {"lut_per_gen_lane", "resources", K_DOUBLE, OFF(lut_per_gen_lane), "LUTs per generator lane (synthesized)"},
    {"ff_per_gen_lane", "resources", K_DOUBLE, OFF(ff_per_gen_lane), "FFs per generator lane (synthesized)"},
    {"ibuf_uram", "resources", K_BOOL, OFF(ibuf_uram), "input buffer in URAM (else BRAM36)"},
    {"wbuf_uram", "resources", K_BOOL, OFF(wbuf_uram), "weight buffer in URAM (else BRAM36)"},
    {"obuf_uram", "resources", K_BOOL, OFF(obuf_uram), "output buffer in URAM (else BRAM36)"},
    {"gen_bram_per_lane", "resources", K_INT, OFF(gen_bram_per_lane), "BRAM36 per generator lane"},
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

void nmt_sim_config_default(nmt_sim_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->run_name, sizeof c->run_name, "sat");
    c->clock_mhz = 200;
    c->rows = c->cols = 32;
    c->max_m = 16;
    c->adder_latency = 8;
    c->interleave_outputs = 0;
    c->gen_lanes = 32;
    c->gen_tnm_factor = 2.0;
    c->vec_lanes = 32;
    c->vec_fw[NMT_OP_BATCHNORM] = 3, c->vec_bw[NMT_OP_BATCHNORM] = 5;
    c->vec_fw[NMT_OP_RELU] = 1, c->vec_bw[NMT_OP_RELU] = 1;
    c->vec_fw[NMT_OP_MAXPOOL] = 1, c->vec_bw[NMT_OP_MAXPOOL] = 1;          /* per window element / input */
    c->vec_fw[NMT_OP_ADAPTIVE_MAXPOOL] = 1, c->vec_bw[NMT_OP_ADAPTIVE_MAXPOOL] = 1;
    c->vec_fw[NMT_OP_AVGPOOL] = 1, c->vec_bw[NMT_OP_AVGPOOL] = 1;
    c->vec_fw[NMT_OP_ADD] = 1, c->vec_bw[NMT_OP_ADD] = 1;
    c->vec_fw[NMT_OP_FLATTEN] = 0, c->vec_bw[NMT_OP_FLATTEN] = 0;
    c->vec_fw[NMT_OP_SCALE] = 1, c->vec_bw[NMT_OP_SCALE] = 1;
    c->vec_fw[NMT_OP_LAYERNORM] = 3, c->vec_bw[NMT_OP_LAYERNORM] = 5;
    c->vec_fw[NMT_OP_GELU] = 8, c->vec_bw[NMT_OP_GELU] = 10;
    c->vec_fw[NMT_OP_TOKEN_POOL] = 1, c->vec_bw[NMT_OP_TOKEN_POOL] = 1;
    c->vec_fw[NMT_OP_CONV] = 1, c->vec_bw[NMT_OP_CONV] = 1;  /* bias add / bias gradient per output */
    c->vec_fw[NMT_OP_LINEAR] = 1, c->vec_bw[NMT_OP_LINEAR] = 1;
    c->vec_fw[NMT_OP_PATCH_EMBED] = 2, c->vec_bw[NMT_OP_PATCH_EMBED] = 1; /* bias + position embedding */
    c->vec_fw[NMT_OP_ATTENTION] = 1, c->vec_bw[NMT_OP_ATTENTION] = 1;     /* 1/sqrt(d) scaling per score */
    c->vec_loss_fw = 7, c->vec_loss_bw = 1;
    c->vec_softmax_fw = 7, c->vec_softmax_bw = 3;
    c->vec_grad_prune = 3;
    c->upd_ops = 4;
    c->upd_decay_ops = 2;
    c->ibuf_kib = 4096;
    c->wbuf_kib = 2048;
    c->obuf_kib = 2048;
    c->act_bytes = 2;
    c->weight_bytes = 2;
    c->psum_bytes = 4;
    c->master_bytes = 4;
    c->index_bits = 0;
    c->dram_channels = 4;
    c->dram_gbps = 19.2;
    c->dram_efficiency = 0.8;
    c->dram_words_per_cycle = 0;
    c->opt_interleave = c->opt_pregen = c->opt_schedule = 1;
    c->dataflow = NMT_SIM_AUTO;
    c->fixed_dataflow = NMT_SIM_OS;
    c->fixed_tile_m = 128;
    c->fixed_tile_n = 1024;
    c->pj_mac = 8.0;
    c->pj_sram_byte = 1.5;
    c->pj_dram_byte = 120.0;
    c->pj_vec_op = 12.0;
    c->pj_gen_elem = 2.0;
    c->static_w = 6.0;
    c->fpga_dsp = 6840;
    c->fpga_bram36 = 2160;
    c->fpga_uram = 960;
    c->fpga_lut = 1182240;
    c->fpga_ff = 2364480;
    c->dsp_per_pe = 1;
    c->dsp_per_vec_lane = 5;
    c->dsp_per_gen_lane = 0;
    /* Yosys synth_xilinx -family xcup of hw/rtl (make synth; docs/sat.md) */
    c->lut_per_pe_dense = 1663, c->ff_per_pe_dense = 536;
    c->lut_per_pe_m8 = 1923, c->ff_per_pe_m8 = 764;
    c->lut_per_pe_m16 = 1981, c->ff_per_pe_m16 = 1022;
    c->lut_per_gen_lane = 5638, c->ff_per_gen_lane = 1109;
    c->ibuf_uram = 1;
    c->wbuf_uram = 1;
    c->obuf_uram = 0;
    c->gen_bram_per_lane = 1;
}

int sim_strieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

char *sim_trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

const char *nmt_sim_dataflow_name(nmt_sim_dataflow df)
{
    switch (df) {
    case NMT_SIM_OS: return "os";
    case NMT_SIM_WS: return "ws";
    case NMT_SIM_IS: return "is";
    default: return "auto";
    }
}

static const key_def *find_key(const char *name)
{
    for (int i = 0; i < N_KEYS; i++)
        if (sim_strieq(keys[i].name, name)) return &keys[i];
    return NULL;
}

int nmt_sim_config_nkeys(void) { return N_KEYS; }

const char *nmt_sim_config_key(int i, const char **section, const char **help)
{
    if (i < 0 || i >= N_KEYS) return NULL;
    if (section) *section = keys[i].section;
    if (help) *help = keys[i].help;
    return keys[i].name;
}

static int parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || errno || !isfinite(d)) return -1;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return -1;
    *out = d;
    return 0;
}

static int set_key(nmt_sim_config *cfg, const key_def *k, const char *value, const char *where)
{
    char *p = (char *)cfg + k->offset;
    double d;
    switch (k->type) {
    case K_STRING:
        snprintf(p, sizeof cfg->run_name, "%s", value);
        return 0;
    case K_DATAFLOW: {
        nmt_sim_dataflow df;
        if (sim_strieq(value, "auto")) df = NMT_SIM_AUTO;
        else if (sim_strieq(value, "os")) df = NMT_SIM_OS;
        else if (sim_strieq(value, "ws")) df = NMT_SIM_WS;
        else if (sim_strieq(value, "is")) df = NMT_SIM_IS;
        else {
            nmt_error("%s: %s = '%s' is not a dataflow (auto, os, ws, is)", where, k->name, value);
            return -1;
        }
        if (k->offset == OFF(fixed_dataflow) && df == NMT_SIM_AUTO) {
            nmt_error("%s: fixed_dataflow must be os, ws or is", where);
            return -1;
        }
        *(nmt_sim_dataflow *)p = df;
        return 0;
    }
    case K_BOOL:
        if (sim_strieq(value, "true") || sim_strieq(value, "on") || sim_strieq(value, "yes") || !strcmp(value, "1")) {
            *(int *)p = 1;
            return 0;
        }
        if (sim_strieq(value, "false") || sim_strieq(value, "off") || sim_strieq(value, "no") || !strcmp(value, "0")) {
            *(int *)p = 0;
            return 0;
        }
        nmt_error("%s: %s = '%s' is not a boolean (on/off, true/false, 1/0)", where, k->name, value);
        return -1;
    case K_INT:
        if (parse_double(value, &d) || d != floor(d) || fabs(d) > 1e9) {
            nmt_error("%s: %s = '%s' is not an integer", where, k->name, value);
            return -1;
        }
        *(int *)p = (int)d;
        return 0;
    case K_DOUBLE:
        if (parse_double(value, &d)) {
            nmt_error("%s: %s = '%s' is not a number", where, k->name, value);
            return -1;
        }
        *(double *)p = d;
        return 0;
    }
    return -1;
}

int nmt_sim_config_set(nmt_sim_config *cfg, const char *key, const char *value, const char *where)
{
    const key_def *k = find_key(key);
    if (!k) {
        nmt_error("%s: unknown configuration key '%s' (docs/sat.md lists them)", where, key);
        return -1;
    }
    return set_key(cfg, k, value, where);
}

int nmt_sim_config_assign(nmt_sim_config *cfg, const char *assignment, const char *where)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", assignment);
    char *eq = strchr(buf, '=');
    if (!eq) {
        nmt_error("%s: '%s' is not key=value", where, assignment);
        return -1;
    }
    *eq = 0;
    return nmt_sim_config_set(cfg, sim_trim(buf), sim_trim(eq + 1), where);
}

int nmt_sim_config_get(const nmt_sim_config *cfg, const char *key, double *value)
{
    const key_def *k = find_key(key);
    if (!k || k->type == K_STRING) {
        nmt_error("unknown numeric configuration key '%s'", key);
        return -1;
    }
    const char *p = (const char *)cfg + k->offset;
    switch (k->type) {
    case K_INT:
    case K_BOOL: *value = *(const int *)p; break;
    case K_DATAFLOW: *value = *(const nmt_sim_dataflow *)p; break;
    default: *value = *(const double *)p; break;
    }
    return 0;
}

/* SCALE-Sim keys (configparser lower-cases them) and what they map to. */
typedef struct scalesim_key {
    const char *name;
    const char *ours; /* NULL: accepted and ignored */
} scalesim_key;

static const scalesim_key scalesim_keys[] = {
    {"run_name", "run_name"},
    {"arrayheight", "rows"},
    {"arraywidth", "cols"},
    {"ifmapsramszkb", "ibuf_kib"},
    {"filtersramszkb", "wbuf_kib"},
    {"ofmapsramszkb", "obuf_kib"},
    {"dataflow", "dataflow"},
    {"bandwidth", NULL},          /* settled with InterfaceBandwidth, see scalesim_bandwidth */
    {"ifmapoffset", NULL},
    {"filteroffset", NULL},
    {"ofmapoffset", NULL},
    {"memorybanks", NULL},
    {"interfacebandwidth", NULL}, /* ditto */
    {"readrequestbuffer", NULL},
    {"writerequestbuffer", NULL},
    {"sparsitysupport", NULL},
    {"sparserep", NULL},
    {"optimizedmapping", NULL},
    {"blocksize", NULL},
    {"randomnumbergeneratorseed", NULL},
    {"ifmapcustomlayout", NULL},
    {"ifmapsrambankbandwidth", NULL},
    {"ifmapsrambanknum", NULL},
    {"ifmapsrambankport", NULL},
    {"filtercustomlayout", NULL},
    {"filtersrambankbandwidth", NULL},
    {"filtersrambanknum", NULL},
    {"filtersrambankport", NULL},
    {"use_ramulator_trace", NULL},
    {"userowmajor", NULL},
};

/* SCALE-Sim's DRAM interface (scalesim/scale_config.py, read_conf_file;
 * scalesim/single_layer_sim.py, run): [run_presets] InterfaceBandwidth USER
 * limits every operand's backing store to the first value of
 * [architecture_presets] Bandwidth, in words per cycle; CALC ignores
 * Bandwidth and reads stall-free (scalesim/memory/read_buffer_estimate_bw.py,
 * service_reads), so no DRAM limit applies. Both keys are settled at the end
 * of the file, as they live in different sections; our own dram keys in the
 * same file win. */
typedef struct scalesim_bw {
    char mode[32], bandwidth[128];
    char mode_where[600], bandwidth_where[600];
    int ours_set;
} scalesim_bw;

static int scalesim_bandwidth(nmt_sim_config *cfg, const scalesim_bw *bw)
{
    if (sim_strieq(bw->mode, "CALC")) {
        cfg->dram_unlimited = 1;
        return 0;
    }
    if (bw->mode[0] && !sim_strieq(bw->mode, "USER")) {
        nmt_error("%s: InterfaceBandwidth '%s' is neither USER nor CALC", bw->mode_where, bw->mode);
        return -1;
    }
    if (!bw->bandwidth[0]) {
        if (bw->mode[0]) {
            nmt_error("%s: InterfaceBandwidth USER needs [architecture_presets] Bandwidth", bw->mode_where);
            return -1;
        }
        return 0;
    }
    /* "Bandwidth: 10,10,10" lists one per operand; SCALE-Sim uses the first */
    char first[128];
    snprintf(first, sizeof first, "%s", bw->bandwidth);
    char *comma = strchr(first, ',');
    if (comma) *comma = 0;
    if (set_key(cfg, find_key("dram_words_per_cycle"), sim_trim(first), bw->bandwidth_where)) return -1;
    cfg->dram_unlimited = 0;
    return 0;
}

static int is_scalesim_section(const char *s)
{
    return sim_strieq(s, "architecture_presets") || sim_strieq(s, "run_presets") ||
           sim_strieq(s, "sparsity") || sim_strieq(s, "layout");
}

static int is_our_section(const char *s)
{
    static const char *const ours[] = {"array", "generator", "vector", "buffers", "numbers",
                                       "dram", "dataflow", "energy", "resources", "sat"};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        if (sim_strieq(s, ours[i])) return 1;
    return 0;
}

int nmt_sim_config_load(nmt_sim_config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        nmt_error("%s: cannot open configuration file", path);
        return -1;
    }
    char line[1024], section[64] = "", where[600];
    int lineno = 0, rc = 0;
    scalesim_bw bw;
    memset(&bw, 0, sizeof bw);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            nmt_error("%s: line longer than %zu characters", where, sizeof line - 2);
            rc = -1;
            break;
        }
        char *s = line;
        for (char *c = s; *c; c++)
            if (*c == '#' || *c == ';') {
                *c = 0;
                break;
            }
        s = sim_trim(s);
        if (!*s) continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (!e || e[1]) {
                nmt_error("%s: malformed section header '%s'", where, s);
                rc = -1;
                break;
            }
            *e = 0;
            snprintf(section, sizeof section, "%s", sim_trim(s + 1));
            if (!sim_strieq(section, "general") && !is_scalesim_section(section) && !is_our_section(section)) {
                nmt_error("%s: unknown section [%s]", where, section);
                rc = -1;
                break;
            }
            continue;
        }
        if (!section[0]) {
            nmt_error("%s: key outside any [section]", where);
            rc = -1;
            break;
        }
        char *sep = strpbrk(s, "=:");
        if (!sep) {
            nmt_error("%s: expected 'key = value' or 'Key: value', got '%s'", where, s);
            rc = -1;
            break;
        }
        *sep = 0;
        char *key = sim_trim(s), *value = sim_trim(sep + 1);
        if (!*key || !*value) {
            nmt_error("%s: empty key or value", where);
            rc = -1;
            break;
        }
        if (is_scalesim_section(section) || (sim_strieq(section, "general") && !find_key(key))) {
            const scalesim_key *sk = NULL;
            for (size_t i = 0; i < sizeof scalesim_keys / sizeof scalesim_keys[0]; i++)
                if (sim_strieq(scalesim_keys[i].name, key)) sk = &scalesim_keys[i];
            if (sk && sim_strieq(sk->name, "bandwidth")) {
                snprintf(bw.bandwidth, sizeof bw.bandwidth, "%s", value);
                snprintf(bw.bandwidth_where, sizeof bw.bandwidth_where, "%s", where);
                continue;
            }
            if (sk && sim_strieq(sk->name, "interfacebandwidth")) {
                snprintf(bw.mode, sizeof bw.mode, "%s", value);
                snprintf(bw.mode_where, sizeof bw.mode_where, "%s", where);
                continue;
            }
            if (sk && !sk->ours) continue;
            if (!sk && is_scalesim_section(section)) continue; /* other SCALE-Sim versions' keys */
            if (!sk) {
                nmt_error("%s: unknown key '%s' in [%s]", where, key, section);
                rc = -1;
                break;
            }
            if (set_key(cfg, find_key(sk->ours), value, where)) {
                rc = -1;
                break;
            }
            continue;
        }
        const key_def *k = find_key(key);
        if (!k) {
            nmt_error("%s: unknown key '%s' in [%s]", where, key, section);
            rc = -1;
            break;
        }
        if (!sim_strieq(section, "sat") && !sim_strieq(section, k->section)) {
            nmt_error("%s: key '%s' belongs in [%s], not [%s]", where, key, k->section, section);
            rc = -1;
            break;
        }
        if (set_key(cfg, k, value, where)) {
            rc = -1;
            break;
        }
        if (k->offset == OFF(dram_unlimited) || k->offset == OFF(dram_words_per_cycle)) bw.ours_set = 1;
    }
    fclose(f);
    if (rc == 0 && !bw.ours_set) rc = scalesim_bandwidth(cfg, &bw);
    if (rc == 0 && nmt_sim_config_check(cfg)) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", nmt_errmsg());
        nmt_error("%s: %s", path, msg);
        return -1;
    }
    return rc;
}

int nmt_sim_config_check(const nmt_sim_config *c)
{
#define NEED(cond, ...)              \
    do {                             \
        if (!(cond)) {               \
            nmt_error(__VA_ARGS__);  \
            return -1;               \
        }                            \
    } while (0)
    NEED(c->clock_mhz > 0, "clock_mhz must be positive");
    NEED(c->rows >= 1 && c->rows <= 65536 && c->cols >= 1 && c->cols <= 65536,
         "array %d x %d: rows and cols must be in 1..65536", c->rows, c->cols);
    NEED(c->max_m >= 1 && c->max_m <= NMT_NM_MAX_M, "max_m %d must be in 1..%d", c->max_m, NMT_NM_MAX_M);
    NEED(c->adder_latency >= 1 && c->adder_latency <= 1024, "adder_latency %d must be in 1..1024", c->adder_latency);
    NEED(c->interleave_outputs >= 0 && c->interleave_outputs <= 1024, "interleave_outputs must be in 0..1024");
    NEED(c->gen_lanes >= 1, "gen_lanes must be at least 1");
    NEED(c->gen_tnm_factor > 0, "gen_tnm_factor must be positive");
    NEED(c->vec_lanes >= 1, "vec_lanes must be at least 1");
    for (int i = 0; i < NMT_OP_COUNT; i++)
        NEED(c->vec_fw[i] >= 0 && c->vec_bw[i] >= 0, "vector op costs must not be negative");
    NEED(c->vec_loss_fw >= 0 && c->vec_loss_bw >= 0 && c->vec_softmax_fw >= 0 && c->vec_softmax_bw >= 0 &&
             c->upd_ops >= 0 && c->upd_decay_ops >= 0 && c->vec_grad_prune >= 0,
         "vector op costs must not be negative");
    NEED(c->ibuf_kib > 0 && c->wbuf_kib > 0 && c->obuf_kib > 0, "buffer sizes must be positive");
    NEED(c->act_bytes >= 1 && c->act_bytes <= 8 && c->weight_bytes >= 1 && c->weight_bytes <= 8 &&
             c->psum_bytes >= 1 && c->psum_bytes <= 8 && c->master_bytes >= 1 && c->master_bytes <= 8,
         "element sizes must be 1..8 bytes");
    NEED(c->index_bits >= 0 && c->index_bits <= 8, "index_bits must be 0..8");
    NEED(c->dram_channels >= 1, "dram_channels must be at least 1");
    NEED(c->dram_gbps > 0, "dram_gbps must be positive");
    NEED(c->dram_efficiency > 0 && c->dram_efficiency <= 1, "dram_efficiency must be in (0, 1]");
    NEED(c->dram_words_per_cycle >= 0, "dram_words_per_cycle must not be negative");
    NEED(c->fixed_tile_m >= 1 && c->fixed_tile_n >= 1, "fixed tiles must be positive");
    NEED(c->fixed_dataflow != NMT_SIM_AUTO, "fixed_dataflow must be os, ws or is");
    NEED(c->pj_mac >= 0 && c->pj_sram_byte >= 0 && c->pj_dram_byte >= 0 && c->pj_vec_op >= 0 &&
             c->pj_gen_elem >= 0 && c->static_w >= 0,
         "energy costs must not be negative");
    NEED(c->fpga_dsp > 0 && c->fpga_bram36 > 0 && c->fpga_uram >= 0 && c->fpga_lut > 0 && c->fpga_ff > 0,
         "device budgets must be positive");
    NEED(c->dsp_per_pe >= 0 && c->dsp_per_vec_lane >= 0 && c->dsp_per_gen_lane >= 0 && c->gen_bram_per_lane >= 0 &&
             c->lut_per_pe_dense >= 0 && c->ff_per_pe_dense >= 0 && c->lut_per_pe_m8 >= 0 && c->ff_per_pe_m8 >= 0 &&
             c->lut_per_pe_m16 >= 0 && c->ff_per_pe_m16 >= 0 && c->lut_per_gen_lane >= 0 && c->ff_per_gen_lane >= 0,
         "resource costs must not be negative");
#undef NEED
    return 0;
}

void nmt_sim_config_write(FILE *out, const nmt_sim_config *cfg)
{
    const char *section = "";
    for (int i = 0; i < N_KEYS; i++) {
        const key_def *k = &keys[i];
        if (strcmp(section, k->section)) {
            fprintf(out, "%s[%s]\n", i ? "\n" : "", k->section);
            section = k->section;
        }
        const char *p = (const char *)cfg + k->offset;
        switch (k->type) {
        case K_STRING: fprintf(out, "%s = %s", k->name, p); break;
        case K_INT: fprintf(out, "%s = %d", k->name, *(const int *)p); break;
        case K_BOOL: fprintf(out, "%s = %s", k->name, *(const int *)p ? "on" : "off"); break;
        case K_DOUBLE: fprintf(out, "%s = %.10g", k->name, *(const double *)p); break;
        case K_DATAFLOW: fprintf(out, "%s = %s", k->name, nmt_sim_dataflow_name(*(const nmt_sim_dataflow *)p)); break;
        }
        fprintf(out, "%*s# %s\n", 2, "", k->help);
    }
}

double nmt_sim_dram_bytes_per_cycle(const nmt_sim_config *cfg)
{
    if (cfg->dram_unlimited) return INFINITY;
    if (cfg->dram_words_per_cycle > 0) return cfg->dram_words_per_cycle * cfg->act_bytes;
    return cfg->dram_channels * cfg->dram_gbps * 1e9 * cfg->dram_efficiency / (cfg->clock_mhz * 1e6);
}

int sim_index_bits(const nmt_sim_config *cfg, nmt_nm nm)
{
    if (cfg->index_bits > 0) return cfg->index_bits;
    int bits = 0;
    while ((1 << bits) < nm.m) bits++;
    return bits ? bits : 1;
}

int sim_interleave(const nmt_sim_config *cfg)
{
    if (!cfg->opt_interleave) return 1;
    return cfg->interleave_outputs > 0 ? cfg->interleave_outputs : cfg->adder_latency;
}

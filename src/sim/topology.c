/* SCALE-Sim topology CSVs.
 *
 * Conv form:  Layer name, IFMAP Height, IFMAP Width, Filter Height,
 *             Filter Width, Channels, Num Filter, Strides,
 * GEMM form:  Layer Name, M, N, K,      (ifmap M x K, filter K x N)
 * Conv rows get SCALE-Sim's output size (no padding, the last partial
 * window of a stride kept). Either may carry a "Sparsity" column of N:M ratios ("2:4"; "dense", "1",
 * empty or N == M keeps the layer dense). Trailing commas, blank or all-empty
 * rows and further columns (SCALE-Sim ignores them too) are fine; anything
 * else malformed is an error naming file:line. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

#define MAX_FIELDS 16

static int split(char *line, char **fields)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *c = strchr(p, ',');
        if (c) *c = 0;
        if (n < MAX_FIELDS) fields[n] = sim_trim(p);
        n++;
        if (!c) break;
        p = c + 1;
    }
    while (n > 0 && (n > MAX_FIELDS || !*fields[n - 1])) n--; /* trailing commas */
    return n > MAX_FIELDS ? MAX_FIELDS : n;
}

static int parse_pos(const char *text, const char *where, const char *what, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno || v < 1 || v > 100000000) {
        nmt_error("%s: %s '%s' is not a positive integer", where, what, text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_sparsity(const char *text, const char *where, nmt_nm *out)
{
    out->n = out->m = 1;
    /* SCALE-Sim's sparsity topologies write 1 for a dense layer */
    if (!*text || sim_strieq(text, "dense") || sim_strieq(text, "none") || !strcmp(text, "1") ||
        !strcmp(text, "0"))
        return 0;
    char what[640];
    snprintf(what, sizeof what, "%s: Sparsity", where);
    return nmt_nm_parse(text, 1, what, out);
}

int nmt_sim_workload_from_topology(const char *path, int batch, const nmt_sim_options *opts,
                                   nmt_sim_workload *out)
{
    memset(out, 0, sizeof *out);
    if (batch < 1) {
        nmt_error("batch size %d must be at least 1", batch);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        nmt_error("%s: cannot open topology file", path);
        return -1;
    }
    char line[4096], where[600];
    char *fields[MAX_FIELDS];
    int lineno = 0, form = -1, sparsity_col = -1, cap = 0, n = 0, rc = 0;
    nmt_node *nodes = NULL;
    nmt_nm *nms = NULL;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            nmt_error("%s: line too long", where);
            rc = -1;
            break;
        }
        char *s = sim_trim(line);
        if (!*s || *s == '#') continue;
        int nf = split(s, fields);
        if (nf == 0) continue;
        if (form < 0) { /* header */
            if (nf >= 8 && sim_strieq(fields[1], "IFMAP Height")) form = 0;
            else if (nf >= 4 && sim_strieq(fields[1], "M") && sim_strieq(fields[2], "N") && sim_strieq(fields[3], "K"))
                form = 1;
            else {
                nmt_error("%s: header is neither SCALE-Sim's conv form (Layer name, IFMAP Height, IFMAP Width, "
                          "Filter Height, Filter Width, Channels, Num Filter, Strides) nor its GEMM form "
                          "(Layer Name, M, N, K)",
                          where);
                rc = -1;
                break;
            }
            /* further columns are ignored, as SCALE-Sim does (its own
             * topologies carry notes there), except an N:M "Sparsity" */
            int base = form == 0 ? 8 : 4;
            for (int i = base; i < nf; i++)
                if (sim_strieq(fields[i], "Sparsity")) sparsity_col = i;
            continue;
        }
        int need = form == 0 ? 8 : 4;
        if (nf < need) {
            nmt_error("%s: %d fields, expected %d%s", where, nf, need, sparsity_col >= 0 ? " (+ Sparsity)" : "");
            rc = -1;
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            nmt_node *nn = realloc(nodes, sizeof *nodes * (size_t)cap);
            nmt_nm *nm2 = nn ? realloc(nms, sizeof *nms * (size_t)cap) : NULL;
            if (nn) nodes = nn;
            if (nm2) nms = nm2;
            if (!nn || !nm2) {
                nmt_error("%s: out of memory", where);
                rc = -1;
                break;
            }
        }
        nmt_node *node = &nodes[n];
        memset(node, 0, sizeof *node);
        if (!*fields[0]) {
            nmt_error("%s: empty layer name", where);
            rc = -1;
            break;
        }
        snprintf(node->name, sizeof node->name, "%s", fields[0]);
        node->input = n - 1;
        node->input2 = -1;
        if (form == 0) {
            int v[7];
            static const char *const what[7] = {"IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
                                                "Channels", "Num Filter", "Strides"};
            for (int i = 0; i < 7 && !rc; i++) rc = parse_pos(fields[i + 1], where, what[i], &v[i]);
            if (rc) break;
            if (v[2] > v[0] || v[3] > v[1]) {
                nmt_error("%s: filter %dx%d is larger than the ifmap %dx%d", where, v[2], v[3], v[0], v[1]);
                rc = -1;
                break;
            }
            node->op = NMT_OP_CONV;
            node->h_in = v[0], node->w_in = v[1], node->kh = v[2], node->kw = v[3];
            node->c_in = v[4], node->c_out = v[5], node->stride = v[6];
            /* SCALE-Sim's output size, ceil((H - F + S) / S)
             * (scalesim/topology_utils.py, topo_calc_hyperparams): a stride
             * that does not divide H - F still gets its last, partial window */
            node->h_out = (v[0] - v[2] + v[6] - 1) / v[6] + 1;
            node->w_out = (v[1] - v[3] + v[6] - 1) / v[6] + 1;
        } else {
            int v[3];
            static const char *const what[3] = {"M", "N", "K"};
            for (int i = 0; i < 3 && !rc; i++) rc = parse_pos(fields[i + 1], where, what[i], &v[i]);
            if (rc) break;
            node->op = NMT_OP_LINEAR;
            node->h_in = node->h_out = v[0];
            node->w_in = node->w_out = 1;
            node->c_out = v[1];
            node->c_in = v[2];
            node->kh = node->kw = node->stride = 1;
        }
        nms[n].n = nms[n].m = 0;
        if (sparsity_col >= 0 && nf > sparsity_col && parse_sparsity(fields[sparsity_col], where, &nms[n])) {
            rc = -1;
            break;
        }
        n++;
    }
    fclose(f);
    if (!rc && form < 0) {
        nmt_error("%s: empty topology (no header)", path);
        rc = -1;
    }
    if (!rc && n == 0) {
        nmt_error("%s: topology has a header but no layers", path);
        rc = -1;
    }
    if (rc) {
        free(nodes);
        free(nms);
        return -1;
    }
    const char *base = strrchr(path, '/');
    snprintf(out->name, sizeof out->name, "%s", base ? base + 1 : path);
    char *dot = strrchr(out->name, '.');
    if (dot) *dot = 0;
    out->batch = batch;
    out->opts = *opts;
    out->classes = 0;
    out->n_nodes = n;
    out->nodes = nodes;
    out->node_nm = nms;
    return 0;
}

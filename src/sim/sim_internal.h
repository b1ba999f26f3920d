/* Private helpers shared by the simulator's source files. */
#ifndef NMT_SIM_INTERNAL_H
#define NMT_SIM_INTERNAL_H

#include <stdint.h>

#include "nmtrain/core.h"
#include "nmtrain/sim.h"

/* Not part of the library's interface: hidden from its users (Makefile). */
#pragma GCC visibility push(hidden)

static inline int64_t sim_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline double sim_max(double a, double b) { return a > b ? a : b; }
static inline int64_t sim_min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* N:M is sparse when 0 < n < m. */
static inline int sim_nm_sparse(nmt_nm nm) { return nm.m > 0 && nm.n > 0 && nm.n < nm.m; }
/* Effective reduction length: N cycles per group of M in N:M mode. */
static inline int64_t sim_kernel_k(int64_t k, nmt_nm nm)
{
    return sim_nm_sparse(nm) ? sim_cdiv(k, nm.m) * nm.n : k;
}
int sim_index_bits(const nmt_sim_config *cfg, nmt_nm nm);
int sim_interleave(const nmt_sim_config *cfg);
/* Whether a schedule's tiles fit the buffers (halves when double buffered). */
int sim_tiles_fit(const nmt_sim_config *cfg, const nmt_sim_gemm *g, const nmt_sim_schedule *s);

/* SCALE-Sim v2's cost of one GEMM (src/sim/scalesim.c); `unlimited` is the
 * run's configuration with unlimited buffers and DRAM and a fixed dataflow. */
int sim_scalesim_gemm(const nmt_sim_config *unlimited, const nmt_sim_gemm *g, nmt_sim_schedule *s,
                      nmt_sim_cost *out);

/* Adds b into a (all fields). */
void sim_stats_add(nmt_sim_stats *a, const nmt_sim_stats *b);
/* Energy of a stats record from the per-action table (static power excluded). */
double sim_dynamic_energy_pj(const nmt_sim_config *cfg, const nmt_sim_stats *s);
/* Vector engine: cycles of `ops` FP32 ops streaming `bytes` of DRAM. */
void sim_vector_cost(const nmt_sim_config *cfg, double ops, double bytes, nmt_sim_stats *out);

/* Case-insensitive compare and trimming for the parsers. */
int sim_strieq(const char *a, const char *b);
char *sim_trim(char *s);

#pragma GCC visibility pop

#endif

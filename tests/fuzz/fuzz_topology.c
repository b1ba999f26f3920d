/* libFuzzer: the SCALE-Sim topology CSV reader (conv and GEMM forms). */
#include "fuzz_file.h"
#include "nmtrain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file f;
    if (fuzz_file_open(&f, data, size) != 0) return 0;
    nmt_sim_options opts;
    nmt_sim_options_default(&opts);
    nmt_sim_workload wl;
    if (nmt_sim_workload_from_topology(f.path, 1, &opts, &wl) == 0) nmt_sim_workload_free(&wl);
    fuzz_file_close(&f);
    return 0;
}

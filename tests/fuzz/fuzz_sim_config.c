/* libFuzzer: the simulator's INI / SCALE-Sim .cfg reader and its checks. */
#include "fuzz_file.h"
#include "nmtrain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file f;
    if (fuzz_file_open(&f, data, size) != 0) return 0;
    nmt_sim_config cfg;
    nmt_sim_config_default(&cfg);
    if (nmt_sim_config_load(&cfg, f.path) == 0) nmt_sim_config_check(&cfg);
    fuzz_file_close(&f);
    return 0;
}

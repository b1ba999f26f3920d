/* libFuzzer: the run configuration reader (JSON through libcjson, every
 * field range-checked). */
#include <stdlib.h>
#include <string.h>

#include "nmtrain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = malloc(size + 1);
    if (!json) return 0;
    memcpy(json, data, size);
    json[size] = 0;
    nmt_run_config cfg;
    if (nmt_run_config_parse(json, "fuzz", &cfg) == 0) {
        nmt_model_desc *desc = malloc(sizeof *desc);
        if (desc) nmt_model_describe(&cfg.train.model, desc);
        free(desc);
    }
    free(json);
    return 0;
}

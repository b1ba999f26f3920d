/* libFuzzer: the CIFAR-10 / CIFAR-100 binary reader (the first byte picks
 * which). */
#include "fuzz_file.h"
#include "nmtrain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    fuzz_file f;
    if (fuzz_file_open(&f, data + 1, size - 1) != 0) return 0;
    const char *paths[1] = {f.path};
    nmt_dataset ds;
    if (nmt_dataset_load_cifar(paths, 1, data[0] & 1, &ds) == 0) nmt_dataset_free(&ds);
    fuzz_file_close(&f);
    return 0;
}

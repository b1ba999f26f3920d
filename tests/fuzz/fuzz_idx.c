/* libFuzzer: the IDX reader. The first byte says where the input splits
 * into the image file and the label file. */
#include "fuzz_file.h"
#include "nmtrain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t split = (size_t)data[0] * 16;
    if (split > size - 1) split = size - 1;
    fuzz_file images, labels;
    if (fuzz_file_open(&images, data + 1, split) != 0) return 0;
    if (fuzz_file_open(&labels, data + 1 + split, size - 1 - split) != 0) {
        fuzz_file_close(&images);
        return 0;
    }
    nmt_dataset ds;
    if (nmt_dataset_load_idx(images.path, labels.path, &ds) == 0) nmt_dataset_free(&ds);
    fuzz_file_close(&images);
    fuzz_file_close(&labels);
    return 0;
}

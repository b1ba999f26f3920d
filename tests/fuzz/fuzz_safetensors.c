/* libFuzzer: the safetensors reader (header JSON, dtypes, shapes, offsets). */
#include "fuzz_file.h"
#include "nmtrain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file f;
    if (fuzz_file_open(&f, data, size) != 0) return 0;
    nmt_safetensors st;
    if (nmt_st_read(f.path, &st) == 0) {
        for (int i = 0; i < st.n_tensors; i++) nmt_st_find(&st, st.tensors[i].name);
        nmt_st_meta_get(&st, "config");
    }
    nmt_st_free(&st);
    fuzz_file_close(&f);
    return 0;
}

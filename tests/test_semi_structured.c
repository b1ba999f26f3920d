/* PyTorch's 2:4 semi-structured layout (src/nm/semi_structured.c): float16
 * rounding, which N:M ratios and shapes fit, and metadata words and their
 * CUTLASS positions derived by hand from PyTorch's encoding table and
 * reordering (docs/export.md). tests/ref/check_exports.py checks whole
 * exported weights against a numpy version. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "nmtrain.h"

static void test_f16(void)
{
    static const struct { float v; uint16_t bits; } cases[] = {
        {1.0f, 0x3c00}, {-2.0f, 0xc000}, {0.0f, 0x0000}, {-0.0f, 0x8000},
        {65504.0f, 0x7bff}, {65519.0f, 0x7bff}, {65520.0f, 0x7c00}, {1e10f, 0x7c00},
        {0x1p-14f, 0x0400}, {0x1p-24f, 0x0001}, {0x1p-25f, 0x0000}, {0x3p-25f, 0x0002},
        {1.0f + 0x1p-11f, 0x3c00}, {1.0f + 0x3p-11f, 0x3c02}, {0.1f, 0x2e66}, {INFINITY, 0x7c00},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(nmt_f32_to_f16(cases[i].v) == cases[i].bits, "%a -> 0x%04x, want 0x%04x", (double)cases[i].v,
              nmt_f32_to_f16(cases[i].v), cases[i].bits);
    const uint16_t nan = nmt_f32_to_f16(NAN);
    CHECK((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff), "NaN stays NaN: 0x%04x", nan);
}

static void test_fits(void)
{
    const nmt_nm r24 = {2, 4}, r28 = {2, 8}, r12 = {1, 2}, r38 = {3, 8}, r13 = {1, 3};
    CHECK(nmt_semi_structured_fits(32, 64, r24) && nmt_semi_structured_fits(64, 576, r28), "2:4, 2:8");
    CHECK(nmt_semi_structured_fits(32, 64, r12), "1:2");
    CHECK(!nmt_semi_structured_fits(32, 64, r38) && !nmt_semi_structured_fits(32, 64, r13), "3:8, 1:3");
    CHECK(!nmt_semi_structured_fits(16, 64, r24) && !nmt_semi_structured_fits(32, 288, r24), "shapes");
}

/* rows 32, k 64: 4 metadata words per row. Every group keeps positions 1
 * and 3 (nibble 0b1101) except: row 0 group 4 keeps 0, 1 (0b0100); row 1
 * group 0 keeps 1, 2 (0b1001); row 2 group 0 holds one non-zero at 1, stored
 * with position 2 (0b1001, PyTorch's choice); row 8 is all zero (0b1110). */
static void test_layout(void)
{
    enum { ROWS = 32, K = 64 };
    static float dense[ROWS * K];
    static uint16_t values[ROWS * K / 2];
    static int16_t meta[ROWS * K / 16];
    memset(dense, 0, sizeof dense);
    for (int r = 0; r < ROWS; r++)
        for (int g = 0; g < K / 4; g++) dense[r * K + 4 * g + 1] = 1.0f, dense[r * K + 4 * g + 3] = -2.0f;
    for (int j = 0; j < 4; j++) dense[0 * K + 16 + j] = j < 2 ? 0.5f : 0.0f;
    dense[1 * K + 1] = 2.0f, dense[1 * K + 2] = 3.0f, dense[1 * K + 3] = 0.0f;
    dense[2 * K + 3] = 0.0f;
    for (int c = 0; c < K; c++) dense[8 * K + c] = 0.0f;
    nmt_semi_structured_compress(dense, ROWS, K, values, meta);
    /* (row, meta column) -> position in the reordered tensor, by hand */
    CHECK((uint16_t)meta[0] == 0xdddd, "row 0 word 0 at 0: 0x%04x", (uint16_t)meta[0]);
    CHECK((uint16_t)meta[2] == 0xddd4, "row 0 word 1 at 2: 0x%04x", (uint16_t)meta[2]);
    CHECK((uint16_t)meta[64] == 0xdddd, "row 0 word 2 at 64: 0x%04x", (uint16_t)meta[64]);
    CHECK((uint16_t)meta[8] == 0xddd9, "row 1 word 0 at 8: 0x%04x", (uint16_t)meta[8]);
    CHECK((uint16_t)meta[16] == 0xddd9, "row 2 word 0 at 16: 0x%04x", (uint16_t)meta[16]);
    CHECK((uint16_t)meta[1] == 0xeeee, "row 8 word 0 at 1: 0x%04x", (uint16_t)meta[1]);
    CHECK(values[0] == 0x3c00 && values[1] == 0xc000, "row 0 group 0: 0x%04x 0x%04x", values[0], values[1]);
    CHECK(values[8] == 0x3800 && values[9] == 0x3800, "row 0 group 4: 0x%04x 0x%04x", values[8], values[9]);
    CHECK(values[32] == 0x4000 && values[33] == 0x4200, "row 1 group 0: 0x%04x 0x%04x", values[32], values[33]);
    CHECK(values[64] == 0x3c00 && values[65] == 0x0000, "row 2 group 0: 0x%04x 0x%04x", values[64], values[65]);
}

int main(void)
{
    test_f16();
    test_fits();
    test_layout();
    TEST_END("test_semi_structured");
}

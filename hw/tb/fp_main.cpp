// Thin Verilator harness for fp_units: "add A B" and "mul X Y" lines (hex)
// in, the RTL's result (hex) out, one per line; sat_hw fp-check compares.
#include <cstdio>

#include "Vfp_units.h"
#include "verilated.h"

int main(int argc, char **argv)
{
    Verilated::commandArgs(argc, argv);
    Vfp_units top;
    char line[128];
    unsigned p, q;
    while (std::fgets(line, sizeof line, stdin)) {
        if (std::sscanf(line, "add %x %x", &p, &q) == 2) {
            top.a = p;
            top.b = q;
            top.eval();
            std::printf("%08x\n", (unsigned)top.sum);
        } else if (std::sscanf(line, "mul %x %x", &p, &q) == 2) {
            top.x = p;
            top.y = q;
            top.eval();
            std::printf("%08x\n", (unsigned)top.prod);
        } else {
            std::fprintf(stderr, "fp harness: unknown line: %s", line);
            return 1;
        }
    }
    top.final();
    return 0;
}

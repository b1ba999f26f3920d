// Thin Verilator harness for sat_gen_tile: reads `sat_hw gen-stim`'s
// stimulus on stdin, writes what the RTL produced; sat_hw gen-check compares.
//   w R C HEX                      W[R][C] = HEX (FP32)
//   run BW N M ROWS COLS           -> "cycles C"
//   dump ROWS' KEPT                -> "out" and ROWS' x KEPT words {index, FP16}
#include <cstdio>
#include <cstdlib>

#include "Vsat_gen_tile.h"
#include "verilated.h"

static Vsat_gen_tile *top;

static void tick()
{
    top->clk = 0;
    top->eval();
    top->clk = 1;
    top->eval();
}

static void fail(int line, const char *what)
{
    std::fprintf(stderr, "generator harness: stimulus line %d: %s\n", line, what);
    std::exit(1);
}

int main(int argc, char **argv)
{
    Verilated::commandArgs(argc, argv);
    top = new Vsat_gen_tile;
    top->rst = 1;
    tick();
    top->rst = 0;
    char line[256];
    int lineno = 0;
    while (std::fgets(line, sizeof line, stdin)) {
        lineno++;
        unsigned r, c, v, bw, n, m;
        if (std::sscanf(line, "w %u %u %x", &r, &c, &v) == 3) {
            if (r >= SAT_DIM || c >= SAT_DIM) fail(lineno, "weight outside the buffer");
            top->host_addr = r * SAT_DIM + c;
            top->host_data = v;
            top->host_we_w = 1;
            tick();
            top->host_we_w = 0;
        } else if (std::sscanf(line, "run %u %u %u %u %u", &bw, &n, &m, &r, &c) == 5) {
            if (r > SAT_DIM || c > SAT_DIM) fail(lineno, "matrix larger than the buffer");
            top->cfg_bw = bw;
            top->cfg_n = n;
            top->cfg_m = m;
            top->cfg_rows = r;
            top->cfg_cols = c;
            top->start = 1;
            tick();
            top->start = 0;
            long guard = 0;
            while (top->busy) {
                tick();
                if (++guard > 10000000L) fail(lineno, "the generator never finished");
            }
            std::printf("cycles %u\n", (unsigned)top->cycles);
        } else if (std::sscanf(line, "dump %u %u", &r, &c) == 2) {
            if (r > SAT_DIM || c > SAT_DIM) fail(lineno, "dump outside the buffer");
            std::printf("out");
            for (unsigned i = 0; i < r; i++)
                for (unsigned j = 0; j < c; j++) {
                    top->host_addr = i * SAT_DIM + j;
                    top->eval();
                    std::printf(" %x", (unsigned)top->host_q);
                }
            std::printf("\n");
        } else if (line[0] != '#' && line[0] != '\n') {
            fail(lineno, "unknown command");
        }
    }
    top->final();
    delete top;
    return 0;
}

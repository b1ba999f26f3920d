// Thin Verilator harness for sat_tile: reads the stimulus that
// `sat_hw tile-stim` writes (hw/tools/sat_hw.c) on stdin and writes what the
// RTL produced on stdout; all checking is done by `sat_hw tile-check`.
//   a I T HEX     abuf[I][T] = HEX ({index, FP16 value})
//   b K J HEX     bbuf[K][J] = HEX (FP16)
//   run WS SPARSE N M TM TN KK KFIRST IR IC   -> "cycles C"
//   dump TM TN    -> "out" and TM*TN FP32 words (hex), row-major
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "Vsat_tile.h"
#include "verilated.h"

static Vsat_tile *top;

static void tick()
{
    top->clk = 0;
    top->eval();
    top->clk = 1;
    top->eval();
}

static void fail(int line, const char *what)
{
    std::fprintf(stderr, "tile harness: stimulus line %d: %s\n", line, what);
    std::exit(1);
}

int main(int argc, char **argv)
{
    Verilated::commandArgs(argc, argv);
    top = new Vsat_tile;
    top->rst = 1;
    tick();
    top->rst = 0;
    char line[256];
    int lineno = 0;
    while (std::fgets(line, sizeof line, stdin)) {
        lineno++;
        unsigned a0, a1, v;
        unsigned c[10];
        if (std::sscanf(line, "a %u %u %x", &a0, &a1, &v) == 3) {
            if (a0 >= SAT_TMMAX || a1 >= SAT_KMAX) fail(lineno, "A entry outside the buffer");
            top->host_addr = a0 * SAT_KMAX + a1;
            top->host_data = v;
            top->host_we_a = 1;
            tick();
            top->host_we_a = 0;
        } else if (std::sscanf(line, "b %u %u %x", &a0, &a1, &v) == 3) {
            if (a0 >= SAT_KMAX || a1 >= SAT_TNMAX) fail(lineno, "B entry outside the buffer");
            top->host_addr = a0 * SAT_TNMAX + a1;
            top->host_data = v;
            top->host_we_b = 1;
            tick();
            top->host_we_b = 0;
        } else if (std::sscanf(line, "run %u %u %u %u %u %u %u %u %u %u", &c[0], &c[1], &c[2], &c[3], &c[4], &c[5],
                               &c[6], &c[7], &c[8], &c[9]) == 10) {
            if (c[4] > SAT_TMMAX || c[5] > SAT_TNMAX || c[6] > SAT_KMAX) fail(lineno, "tile larger than the buffers");
            top->cfg_ws = c[0];
            top->cfg_sparse = c[1];
            top->cfg_n = c[2];
            top->cfg_m = c[3];
            top->cfg_tm = c[4];
            top->cfg_tn = c[5];
            top->cfg_kk = c[6];
            top->cfg_k_first = c[7];
            top->cfg_ir = c[8];
            top->cfg_ic = c[9];
            top->start = 1;
            tick();
            top->start = 0;
            long guard = 0;
            while (top->busy) {
                tick();
                if (++guard > 100000000L) fail(lineno, "the tile never finished");
            }
            std::printf("cycles %u\n", (unsigned)top->cycles);
        } else if (std::sscanf(line, "dump %u %u", &a0, &a1) == 2) {
            if (a0 > SAT_TMMAX || a1 > SAT_TNMAX) fail(lineno, "dump outside the buffer");
            std::printf("out");
            for (unsigned i = 0; i < a0; i++)
                for (unsigned j = 0; j < a1; j++) {
                    top->host_addr = i * SAT_TNMAX + j;
                    top->eval();
                    std::printf(" %08x", (unsigned)top->host_q);
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

/* nmt_export_onnx refuses a layer it has no ONNX form for with one line
 * naming the file, the layer and why, and writes nothing. (The exports
 * themselves are checked against nmtrain eval, onnx.checker and PyTorch by
 * tests/ref/check_exports.py in `make check`.) */
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "nmtrain.h"

static nmt_node node(nmt_op op, const char *name, int input, int c_in, int h_in, int c_out, int h_out)
{
    nmt_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    snprintf(n.name, sizeof n.name, "%s", name);
    n.input = input, n.input2 = -1;
    n.c_in = c_in, n.h_in = n.w_in = h_in;
    n.c_out = c_out, n.h_out = n.w_out = h_out;
    n.kh = n.kw = n.stride = 1;
    return n;
}

int main(void)
{
    /* 1x5x5 -> adaptive max pool to 2x2 (bins of 2 and 3 pixels) -> linear */
    nmt_model_desc d;
    memset(&d, 0, sizeof d);
    snprintf(d.arch, sizeof d.arch, "unequal-bins");
    d.in_c = 1, d.in_h = d.in_w = 5, d.classes = 2;
    d.nodes[0] = node(NMT_OP_ADAPTIVE_MAXPOOL, "pool", -1, 1, 5, 1, 2);
    d.nodes[1] = node(NMT_OP_FLATTEN, "flatten", 0, 1, 2, 4, 1);
    d.nodes[2] = node(NMT_OP_LINEAR, "fc", 1, 4, 1, 2, 1);
    d.nodes[2].bias = 1;
    d.nodes[2].is_classifier = 1;
    d.n_nodes = 3;
    nmt_net *net = nmt_net_create(&d, 2, NULL, 1);
    CHECK(net != NULL, "%s", nmt_errmsg());
    if (net) {
        char path[] = "/tmp/nmt_export_onnx_XXXXXX.onnx";
        const int fd = mkstemps(path, 5);
        CHECK(fd >= 0, "mkstemps");
        if (fd >= 0) {
            close(fd);
            unlink(path);
            const float mean[1] = {0.5f}, std[1] = {0.25f};
            const int rc = nmt_export_onnx(net, path, NULL, mean, std);
            const char *msg = nmt_errmsg();
            CHECK(rc != 0 && strstr(msg, path) && strstr(msg, "layer pool") && strstr(msg, "bins differ in size") &&
                      !strchr(msg, '\n'),
                  "rc %d, '%s'", rc, msg);
            CHECK(access(path, F_OK) != 0, "%s was written", path);
            unlink(path);
        }
        nmt_net_free(net);
    }
    TEST_END("export_onnx");
}

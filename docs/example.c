/* A program using the installed library, as docs and `make check` build it:
 *
 *     cc -o example docs/example.c $(pkg-config --cflags --libs nmtrain)
 *
 * It prunes a matrix 2:4 and multiplies with the N:M kernel against the dense
 * GEMM of the same pruned matrix, then builds the default job's network
 * (ResNet9 at width 0.25, BDWP 2:8) and runs one forward pass. Exits 1 with
 * the library's message if anything fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <nmtrain.h>

enum { ROWS = 16, K = 32, COLS = 24, BATCH = 4 };

static int fail(const char *what)
{
    fprintf(stderr, "example: %s: %s\n", what, nmt_errmsg());
    return 1;
}

/* The N:M kernel against OpenBLAS on the unpacked weights; returns the max error. */
static double sparse_against_dense(nmt_nm nm)
{
    static float w[ROWS * K], b[K * COLS], dense_w[ROWS * K], c_nm[ROWS * COLS], c_dense[ROWS * COLS];
    static float values[ROWS * K];
    static uint8_t index[ROWS * K];
    nmt_rng rng;
    nmt_rng_seed(&rng, 1, 0);
    for (int i = 0; i < ROWS * K; i++) w[i] = nmt_rng_normal(&rng);
    for (int i = 0; i < K * COLS; i++) b[i] = nmt_rng_normal(&rng);
    nmt_packed packed = {.values = values, .index = index};
    const nmt_view view = {w, ROWS, K, K, 1};
    nmt_pack_topn(view, nm, &packed);
    nmt_unpack(&packed, dense_w);
    nmt_gemm_nm(&packed, b, COLS, COLS, 0.0f, c_nm, COLS);
    nmt_gemm(0, 0, ROWS, COLS, K, 1.0f, dense_w, K, b, COLS, 0.0f, c_dense, COLS);
    double worst = 0.0;
    for (int i = 0; i < ROWS * COLS; i++) {
        const double d = (double)c_nm[i] - c_dense[i];
        if (!(d <= worst && -d <= worst)) worst = d < 0 ? -d : d;
    }
    return worst;
}

int main(void)
{
    nmt_nm nm;
    if (nmt_nm_parse("2:4", 0, "example", &nm) != 0) return fail("N:M");
    const double err = sparse_against_dense(nm);
    printf("nmtrain %s: %d:%d GEMM (%dx%d by %dx%d) against the dense GEMM: max error %.2e\n", NMT_VERSION, nm.n,
           nm.m, ROWS, K, K, COLS, err);
    if (!(err < 1e-4)) {
        fprintf(stderr, "example: the N:M GEMM is off by %g\n", err);
        return 1;
    }

    const nmt_model_config model = {.arch = "resnet9", .width = 0.25f, .in_c = 1, .in_h = 28, .in_w = 28, .classes = 10};
    nmt_model_desc *desc = malloc(sizeof *desc);
    if (!desc) return 1;
    if (nmt_model_describe(&model, desc) != 0) return fail("describe");
    nmt_method_config method;
    const nmt_nm bdwp_nm = {2, 8};
    nmt_method_defaults(NMT_METHOD_BDWP, bdwp_nm, &method);
    nmt_net *net = nmt_net_create(desc, BATCH, &method, 0);
    free(desc);
    if (!net) return fail("network");
    static float x[1 * 28 * 28 * BATCH];
    for (int i = 0; i < 28 * 28 * BATCH; i++) x[i] = (float)(i % 28) / 28.0f;
    nmt_net_forward(net, x, NULL, BATCH, 0, 0.0f, NULL);
    const float *logits = nmt_net_logits(net);
    int finite = 1;
    for (int i = 0; i < 10 * BATCH; i++) finite &= isfinite(logits[i]);
    printf("%s, %s %d:%d: forward of %d images, %d parameter tensors, logits %s\n", nmt_net_desc(net)->arch,
           nmt_method_name(method.kind), method.nm.n, method.nm.m, BATCH, nmt_net_param_count(net),
           finite ? "finite" : "NOT finite");
    nmt_net_free(net);
    return finite ? 0 : 1;
}

/* Dense GEMM: OpenBLAS does this better than we could. */
#include <cblas.h>

#include "nmtrain/kernels.h"

void nmt_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta,
              float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb,
                beta, c, ldc);
}

const char *nmt_gemm_dense_core(void)
{
    return openblas_get_corename();
}

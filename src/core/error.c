/* One-line error messages, kept per thread. */
#include <stdarg.h>
#include <stdio.h>

#include "nmtrain/core.h"

static _Thread_local char last_error[512];

void nmt_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

const char *nmt_errmsg(void)
{
    return last_error[0] ? last_error : "no error";
}

/* Parsing "N:M" ratios given on the command line or in a config. Strict: the
 * whole text must be two decimal integers around one colon, so typos such as
 * "2:8x" or "2:" fail loudly instead of silently training something else. */
#include <errno.h>
#include <stdlib.h>

#include "nmtrain/core.h"
#include "nmtrain/nm.h"

/* Reads one unsigned decimal integer; returns the character after it or NULL. */
static const char *parse_count(const char *text, long *value)
{
    if (*text < '0' || *text > '9') return NULL; /* no sign, no blanks */
    char *end;
    errno = 0;
    *value = strtol(text, &end, 10);
    if (errno != 0) return NULL;
    return end;
}

int nmt_nm_parse(const char *text, int allow_dense, const char *what, nmt_nm *out)
{
    const char *in = what ? what : "", *sep = what ? ": " : "";
    long n, m;
    const char *rest = text ? parse_count(text, &n) : NULL;
    if (rest == NULL || *rest != ':' || (rest = parse_count(rest + 1, &m)) == NULL || *rest != '\0') {
        nmt_error("%s%s'%s' is not an N:M ratio (expected two integers such as 2:8)", in, sep,
                  text ? text : "(null)");
        return -1;
    }
    if (n < 1 || m < 1) {
        nmt_error("%s%s'%s': N and M must be at least 1", in, sep, text);
        return -1;
    }
    if (m > NMT_NM_MAX_M) {
        nmt_error("%s%s'%s': M must be at most %d", in, sep, text, NMT_NM_MAX_M);
        return -1;
    }
    if (n > m || (n == m && !allow_dense)) {
        nmt_error("%s%s'%s': N must be smaller than M%s", in, sep, text,
                  allow_dense ? " (or equal, for dense)" : "");
        return -1;
    }
    out->n = (int)n;
    out->m = (int)m;
    return 0;
}

/* Atomic file writes, shared by every writer of the library (safetensors,
 * ONNX): the data goes to "<path>.tmp", is synced, and is renamed over
 * <path> only when complete, so a crash or error leaves any previous <path>
 * untouched. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "nmtrain/core.h"
#include "nmtrain/io.h"

static int write_all(int fd, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Makes the rename itself durable; a failure here cannot lose the data
 * already synced, so it is not reported. */
static void sync_directory(const char *path)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int nmt_write_atomic(const char *path, int n_parts, const void *const *parts, const size_t *sizes)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        nmt_error("%s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        nmt_error("%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    int failed = 0;
    for (int i = 0; i < n_parts && !failed; i++) failed = write_all(fd, parts[i], sizes[i]);
    if (failed || fsync(fd) != 0) {
        nmt_error("%s: write failed: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0) {
        nmt_error("%s: write failed: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        nmt_error("%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    sync_directory(path);
    return 0;
}

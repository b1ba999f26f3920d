/* libFuzzer harness helper: the readers under test take paths, so each
 * input is handed over as an in-memory file (memfd) named by
 * /proc/self/fd/N. */
#ifndef NMT_FUZZ_FILE_H
#define NMT_FUZZ_FILE_H
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct fuzz_file {
    int fd;
    char path[64];
} fuzz_file;

static inline int fuzz_file_open(fuzz_file *f, const uint8_t *data, size_t size)
{
    f->fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (f->fd < 0) return -1;
    for (size_t done = 0; done < size;) {
        const ssize_t n = write(f->fd, data + done, size - done);
        if (n <= 0) {
            close(f->fd);
            return -1;
        }
        done += (size_t)n;
    }
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    return 0;
}

static inline void fuzz_file_close(fuzz_file *f)
{
    close(f->fd);
}
#endif

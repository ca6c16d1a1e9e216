/*
 * fuzz_util.h - what the libFuzzer harnesses share: a private scratch
 * directory, file helpers, and the link-time wrappers (-Wl,--wrap=...)
 * that keep a fuzzed session fast and harmless.
 */
#ifndef POP3D_FUZZ_UTIL_H
#define POP3D_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The uid the harnesses pretend to run as when started as root, so that
 * session.c takes its unprivileged path and never calls setresuid(). */
#define FUZZ_FAKE_UID 4242

/* LLVMFuzzerTestOneInput has no prototype in a header of ours. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Creates (once) and returns a private directory under /dev/shm or
 * $TMPDIR, removed at exit. */
const char *fuzz_tmpdir(void);

/* Joins fuzz_tmpdir() and name into a static-lifetime copy. */
char *fuzz_path(const char *name);

/* Replaces file path with len bytes of data, mode and owner as given
 * (owner (uid_t)-1: leave it).  Aborts on failure: the harness is broken. */
void fuzz_write_file(const char *path, const void *data, size_t len,
    mode_t mode, uid_t owner);

/* The uid the fuzzed code sees from geteuid(). */
uid_t fuzz_euid(void);

/* A memfd, or aborts. */
int fuzz_memfd(const char *name);

/* Replaces a memfd's contents with len bytes and rewinds it. */
void fuzz_memfd_set(int fd, const void *data, size_t len);

/* Reads all of a memfd into a malloc'ed buffer; *len_r gets its size. */
unsigned char *fuzz_memfd_get(int fd, size_t *len_r);

/* Fails the run with a message (libFuzzer then saves the input). */
void fuzz_fail(const char *fmt, ...) __attribute__((noreturn,
    format(printf, 1, 2)));

#endif

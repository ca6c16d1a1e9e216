/*
 * tests/faultshim.c - test-only LD_PRELOAD fault injector for the UPDATE
 * crash-safety tests (tests/e2e/integrity.sh).  Never linked into pop3d.
 *
 * It counts the calls that change files or their names -- write, writev,
 * pwrite(64), pwritev, ftruncate(64), truncate, fallocate, fsync,
 * fdatasync, sync_file_range, rename, renameat, renameat2, unlink,
 * unlinkat, link, linkat, copy_file_range -- and can kill the process with
 * SIGKILL at the Nth one, so a test can run N over every step of a session.
 *
 * Environment:
 *   FAULT_AT=N          raise(SIGKILL) at the Nth counted call (1-based);
 *                       unset or 0: count only.
 *   FAULT_WHEN=before   kill before performing call N (the default);
 *   FAULT_WHEN=after    perform call N, then kill right after it returns.
 *   FAULT_COUNT_FILE=F  the number of counted calls so far, rewritten at
 *                       every call (so it survives the kill) and at exit.
 *   FAULT_TRACE_FILE=F  one line per counted call ("N name args"),
 *                       appended before the call is made.
 *
 * The shim's own bookkeeping goes through the real functions and is not
 * counted.  stdio and syslog inside glibc write through internal aliases,
 * so only the program's own calls (and its direct stdout/stderr writes)
 * are seen.
 *
 * Build: cc -shared -fPIC -O1 -o faultshim.so tests/faultshim.c -ldl
 * Under AddressSanitizer, preloading needs ASAN_OPTIONS=verify_asan_link_order=0.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long fault_at = -1;	/* -1: not read yet; 0: never */
static int fault_after;
static long calls;
static int count_fd = -1, trace_fd = -1;

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

static void *real(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		/* Nothing sensible to do: the program would misbehave. */
		static const char msg[] = "faultshim: dlsym failed\n";
		ssize_t (*w)(int, const void *, size_t) = dlsym(RTLD_DEFAULT, "write");
		if (w)
			(void)w(2, msg, sizeof(msg) - 1);
		_exit(97);
	}
	return p;
}

#define REAL(name) \
	static __typeof__(&name) real_##name; \
	if (!real_##name) real_##name = (__typeof__(&name))real(#name)

static ssize_t raw_write(int fd, const void *buf, size_t len)
{
	static write_fn w;

	if (!w)
		w = (write_fn)real("write");
	return w(fd, buf, len);
}

static ssize_t raw_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	static pwrite_fn w;

	if (!w)
		w = (pwrite_fn)real("pwrite");
	return w(fd, buf, len, off);
}

static void setup(void)
{
	const char *s;

	if (fault_at >= 0)
		return;
	s = getenv("FAULT_AT");
	fault_at = s ? strtol(s, NULL, 10) : 0;
	if (fault_at < 0)
		fault_at = 0;
	s = getenv("FAULT_WHEN");
	fault_after = s && strcmp(s, "after") == 0;
	s = getenv("FAULT_COUNT_FILE");
	if (s && *s)
		count_fd = open(s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	s = getenv("FAULT_TRACE_FILE");
	if (s && *s)
		trace_fd = open(s, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
}

static void record_count(void)
{
	char buf[32];
	int n;

	if (count_fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%-20ld\n", calls);
	(void)raw_pwrite(count_fd, buf, (size_t)n, 0);
}

/* Called before every intercepted call.  Returns 1 if the caller must
 * kill the process right after performing the call. */
/*
 * Only the process the shim was loaded into is counted and killed: in
 * root mode pop3d forks a pre-login process, whose calls (and whose
 * closing of descriptors it does not need) are not part of UPDATE.
 */
static pid_t origin_pid;

__attribute__((constructor)) static void remember_origin(void)
{
	origin_pid = getpid();
}

static int enter(const char *fmt, ...)
{
	char line[600];
	va_list ap;
	int n;

	if (getpid() != origin_pid)
		return 0;
	setup();
	calls++;
	record_count();
	if (trace_fd >= 0) {
		n = snprintf(line, sizeof(line), "%ld ", calls);
		va_start(ap, fmt);
		n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
		va_end(ap);
		if (n > (int)sizeof(line) - 2)
			n = (int)sizeof(line) - 2;
		line[n++] = '\n';
		(void)raw_write(trace_fd, line, (size_t)n);
	}
	if (fault_at > 0 && calls == fault_at) {
		if (!fault_after)
			raise(SIGKILL);
		return 1;
	}
	return 0;
}

static void leave(int kill_now)
{
	if (kill_now)
		raise(SIGKILL);
}

__attribute__((destructor)) static void at_exit_count(void)
{
	record_count();
}

static const char *fd_name(int fd, char *buf, size_t size)
{
	char proc[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, buf, size - 1);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return buf;
}

#define FDN(fd) fd_name(fd, fdbuf, sizeof(fdbuf))

ssize_t write(int fd, const void *buf, size_t len)
{
	char fdbuf[300];
	REAL(write);
	int k = enter("write fd=%d(%s) len=%zu", fd, FDN(fd), len);
	ssize_t r = real_write(fd, buf, len);
	leave(k);
	return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	char fdbuf[300];
	REAL(writev);
	int k = enter("writev fd=%d(%s) iovcnt=%d", fd, FDN(fd), cnt);
	ssize_t r = real_writev(fd, iov, cnt);
	leave(k);
	return r;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	char fdbuf[300];
	REAL(pwrite);
	int k = enter("pwrite fd=%d(%s) len=%zu off=%lld", fd, FDN(fd), len,
	    (long long)off);
	ssize_t r = real_pwrite(fd, buf, len, off);
	leave(k);
	return r;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	char fdbuf[300];
	REAL(pwrite64);
	int k = enter("pwrite64 fd=%d(%s) len=%zu off=%lld", fd, FDN(fd), len,
	    (long long)off);
	ssize_t r = real_pwrite64(fd, buf, len, off);
	leave(k);
	return r;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	char fdbuf[300];
	REAL(pwritev);
	int k = enter("pwritev fd=%d(%s) iovcnt=%d off=%lld", fd, FDN(fd), cnt,
	    (long long)off);
	ssize_t r = real_pwritev(fd, iov, cnt, off);
	leave(k);
	return r;
}

int ftruncate(int fd, off_t len)
{
	char fdbuf[300];
	REAL(ftruncate);
	int k = enter("ftruncate fd=%d(%s) len=%lld", fd, FDN(fd), (long long)len);
	int r = real_ftruncate(fd, len);
	leave(k);
	return r;
}

int ftruncate64(int fd, off_t len)
{
	char fdbuf[300];
	REAL(ftruncate64);
	int k = enter("ftruncate64 fd=%d(%s) len=%lld", fd, FDN(fd), (long long)len);
	int r = real_ftruncate64(fd, len);
	leave(k);
	return r;
}

int truncate(const char *path, off_t len)
{
	REAL(truncate);
	int k = enter("truncate %s len=%lld", path, (long long)len);
	int r = real_truncate(path, len);
	leave(k);
	return r;
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	char fdbuf[300];
	REAL(fallocate);
	int k = enter("fallocate fd=%d(%s) mode=%d off=%lld len=%lld", fd, FDN(fd),
	    mode, (long long)off, (long long)len);
	int r = real_fallocate(fd, mode, off, len);
	leave(k);
	return r;
}

int fsync(int fd)
{
	char fdbuf[300];
	REAL(fsync);
	int k = enter("fsync fd=%d(%s)", fd, FDN(fd));
	int r = real_fsync(fd);
	leave(k);
	return r;
}

int fdatasync(int fd)
{
	char fdbuf[300];
	REAL(fdatasync);
	int k = enter("fdatasync fd=%d(%s)", fd, FDN(fd));
	int r = real_fdatasync(fd);
	leave(k);
	return r;
}

int sync_file_range(int fd, off_t off, off_t len, unsigned int flags)
{
	char fdbuf[300];
	REAL(sync_file_range);
	int k = enter("sync_file_range fd=%d(%s)", fd, FDN(fd));
	int r = real_sync_file_range(fd, off, len, flags);
	leave(k);
	return r;
}

int rename(const char *from, const char *to)
{
	REAL(rename);
	int k = enter("rename %s -> %s", from, to);
	int r = real_rename(from, to);
	leave(k);
	return r;
}

int renameat(int fd1, const char *from, int fd2, const char *to)
{
	REAL(renameat);
	int k = enter("renameat %s -> %s", from, to);
	int r = real_renameat(fd1, from, fd2, to);
	leave(k);
	return r;
}

int renameat2(int fd1, const char *from, int fd2, const char *to,
    unsigned int flags)
{
	REAL(renameat2);
	int k = enter("renameat2 %s -> %s", from, to);
	int r = real_renameat2(fd1, from, fd2, to, flags);
	leave(k);
	return r;
}

int unlink(const char *path)
{
	REAL(unlink);
	int k = enter("unlink %s", path);
	int r = real_unlink(path);
	leave(k);
	return r;
}

int unlinkat(int dirfd, const char *path, int flags)
{
	REAL(unlinkat);
	int k = enter("unlinkat %s", path);
	int r = real_unlinkat(dirfd, path, flags);
	leave(k);
	return r;
}

int link(const char *from, const char *to)
{
	REAL(link);
	int k = enter("link %s -> %s", from, to);
	int r = real_link(from, to);
	leave(k);
	return r;
}

int linkat(int fd1, const char *from, int fd2, const char *to, int flags)
{
	REAL(linkat);
	int k = enter("linkat %s -> %s", from, to);
	int r = real_linkat(fd1, from, fd2, to, flags);
	leave(k);
	return r;
}

ssize_t copy_file_range(int in, off_t *inoff, int out, off_t *outoff,
    size_t len, unsigned int flags)
{
	char fdbuf[300];
	REAL(copy_file_range);
	int k = enter("copy_file_range out=%d(%s) len=%zu", out, FDN(out), len);
	ssize_t r = real_copy_file_range(in, inoff, out, outoff, len, flags);
	leave(k);
	return r;
}

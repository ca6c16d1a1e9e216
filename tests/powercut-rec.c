/*
 * tests/powercut-rec.c - test-only LD_PRELOAD recorder for the power-cut
 * test (tests/e2e/powercut.sh, tests/powercut.py).  Never linked into
 * pop3d.
 *
 * It records every operation that changes durable state of a file in one
 * directory (the spool), in the order the process made them, one line per
 * operation, appended to the file $POWERCUT_LOG:
 *
 *   create name=N ino=I        open(O_CREAT) that made a new file
 *   tmpfile ino=I              open(O_TMPFILE) in the directory
 *   trunc ino=I len=L          ftruncate, or open(O_TRUNC) of a file
 *   write ino=I off=O len=L more=M data=HEX
 *                              write, pwrite, writev, pwritev: the bytes
 *                              the file holds at [O, O+L) right after the
 *                              call (read back when the descriptor can be
 *                              read: pwritev's sources may be a mapping of
 *                              the same file; else the caller's buffers);
 *                              a long write is split into records of 1 KiB,
 *                              all but the last with more=1
 *   fsync ino=I                fsync or fdatasync of a file
 *   dirsync                    fsync of the directory itself
 *   dirsync dir=D              (tree mode) fsync of its subdirectory D
 *   rename from=N to=N         rename, renameat, renameat2 (flags 0)
 *   link ino=I to=N            link, linkat (also of an O_TMPFILE file
 *                              through /proc/self/fd/N)
 *   unlink name=N              unlink, unlinkat
 *   unsupported what=...       a call the model does not know (fallocate,
 *                              copy_file_range, truncate, renameat2 flags)
 *
 * Each line starts with "pid=P ".  Only successful calls are recorded,
 * after they return.  $POWERCUT_DIR names the directory; operations on
 * other files are not recorded.  The recorder's own I/O goes through the
 * real functions.
 *
 * Tree mode (POWERCUT_TREE=1, for a Maildir): the files of the direct
 * subdirectories of $POWERCUT_DIR are recorded too, named "SUB/NAME", and
 * a rename between two of these directories is one record, as it is one
 * call (tests/powercut-maildir.py models its halves).  renameat2 with
 * RENAME_NOREPLACE alone is recorded as a rename: when it succeeds, it did
 * what rename(2) does.
 *
 * pop3d under AddressSanitizer: ASan wants its runtime first in the
 * library list and aborts otherwise; ASAN_OPTIONS=verify_asan_link_order=0
 * turns that check off.  Interposition then works as for tests/faultshim.c:
 * this library's write() is found first and calls, through RTLD_NEXT,
 * ASan's interceptor, which calls glibc.  So the test records the very
 * binary `make check` tests, sanitizers on.
 *
 * Build: cc -shared -fPIC -O1 -o powercut-rec.so tests/powercut-rec.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static char spool[PATH_MAX];
static int tree;		/* POWERCUT_TREE: subdirectories too */
static int log_fd = -2;		/* -2: not set up yet; -1: not recording */

static void *real(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p)
		_exit(97);
	return p;
}

#define REAL(name) \
	static __typeof__(&name) real_##name; \
	if (!real_##name) real_##name = (__typeof__(&name))real(#name)

static void setup(void)
{
	static __typeof__(&open) o;
	const char *l, *d;

	if (log_fd != -2)
		return;
	log_fd = -1;
	l = getenv("POWERCUT_LOG");
	d = getenv("POWERCUT_DIR");
	if (!l || !*l || !d || !realpath(d, spool))
		return;
	tree = getenv("POWERCUT_TREE") && strcmp(getenv("POWERCUT_TREE"), "1") == 0;
	if (!o)
		o = (__typeof__(&open))real("open");
	log_fd = o(l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
}

/* One record, written with one write(2) to the O_APPEND log. */
static void emit(const char *fmt, ...)
{
	static __typeof__(&write) w;
	char head[PATH_MAX * 2 + 128];
	va_list ap;
	int n;

	if (log_fd < 0)
		return;
	if (!w)
		w = (__typeof__(&write))real("write");
	n = snprintf(head, sizeof(head), "pid=%ld ", (long)getpid());
	va_start(ap, fmt);
	n += vsnprintf(head + n, sizeof(head) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(head) - 2)
		n = (int)sizeof(head) - 2;
	head[n++] = '\n';
	(void)w(log_fd, head, (size_t)n);
}

/* Is dir (a path) the spool directory?  In tree mode also one of its
 * direct subdirectories: then *sub (if given) is its name, else "". */
static int is_spool_sub(const char *dir, char *sub, size_t size)
{
	char rp[PATH_MAX];
	size_t n = strlen(spool);

	if (sub)
		sub[0] = '\0';
	if (!realpath(dir, rp))
		return 0;
	if (strcmp(rp, spool) == 0)
		return 1;
	if (!tree || strncmp(rp, spool, n) != 0 || rp[n] != '/' ||
	    !rp[n + 1] || strchr(rp + n + 1, '/'))
		return 0;
	if (sub)
		snprintf(sub, size, "%s", rp + n + 1);
	return 1;
}

static int is_spool(const char *dir)
{
	return is_spool_sub(dir, NULL, 0);
}

/*
 * Splits a path (relative to dirfd) into directory and last component;
 * returns 1 if the directory is the spool, with the name in *name.
 */
static int in_spool(int dirfd, const char *path, char *name, size_t size)
{
	char full[PATH_MAX * 2 + 2], dir[PATH_MAX * 2 + 2];
	const char *slash;

	setup();
	if (log_fd < 0 || !path)
		return 0;
	if (path[0] == '/') {
		snprintf(full, sizeof(full), "%s", path);
	} else {
		char base[PATH_MAX];

		if (dirfd == AT_FDCWD) {
			if (!getcwd(base, sizeof(base)))
				return 0;
		} else {
			char proc[64];
			ssize_t n;

			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
			n = readlink(proc, base, sizeof(base) - 1);
			if (n < 0)
				return 0;
			base[n] = '\0';
		}
		snprintf(full, sizeof(full), "%s/%s", base, path);
	}
	slash = strrchr(full, '/');
	if (!slash || !slash[1])
		return 0;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - full), full);
	{
		char sub[PATH_MAX];

		if (!is_spool_sub(dir[0] ? dir : "/", sub, sizeof(sub)))
			return 0;
		if (sub[0])
			snprintf(name, size, "%s/%s", sub, slash + 1);
		else
			snprintf(name, size, "%s", slash + 1);
	}
	return 1;
}

/* What fd is: 0 not ours, 1 a file in the spool (ino set), 2 the spool
 * directory itself or (tree mode) a subdirectory, named in dirsub. */
static char dirsub[PATH_MAX];

static int fd_kind(int fd, unsigned long long *ino)
{
	char proc[64], path[PATH_MAX], *p;
	struct stat st;
	ssize_t n;

	setup();
	if (log_fd < 0 || fd < 0 || fd == log_fd || fstat(fd, &st) < 0)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	if (S_ISDIR(st.st_mode))
		return is_spool_sub(path, dirsub, sizeof(dirsub)) ? 2 : 0;
	if (!S_ISREG(st.st_mode))
		return 0;
	/* An unlinked (or O_TMPFILE) file reads "DIR/#123 (deleted)". */
	if ((p = strstr(path, " (deleted)")) && p[10] == '\0')
		*p = '\0';
	p = strrchr(path, '/');
	if (!p)
		return 0;
	*p = '\0';
	if (!is_spool(path[0] ? path : "/"))
		return 0;
	*ino = (unsigned long long)st.st_ino;
	return 1;
}

/* Records the bytes [off, off + len) just written: read back from the
 * file when fd can be read, else taken from the caller's buffers. */
static void record_write(int fd, unsigned long long ino, long long off,
    size_t len, const struct iovec *iov, int cnt)
{
	static const char hex[] = "0123456789abcdef";
	static __typeof__(&pread) pr;
	unsigned char *b = malloc(len ? len : 1);
	char *line;
	size_t got = 0;
	int fl = fcntl(fd, F_GETFL);

	if (!pr)
		pr = (__typeof__(&pread))real("pread");
	if (!b)
		_exit(96);
	if (fl >= 0 && (fl & O_ACCMODE) == O_RDWR) {
		while (got < len) {
			ssize_t n = pr(fd, b + got, len - got, (off_t)(off + (long long)got));
			if (n <= 0)
				break;
			got += (size_t)n;
		}
	}
	if (got < len) {
		got = 0;
		for (int i = 0; i < cnt && got < len; i++) {
			size_t k = iov[i].iov_len < len - got ? iov[i].iov_len : len - got;
			memcpy(b + got, iov[i].iov_base, k);
			got += k;
		}
	}
	line = malloc(2 * len + 1);
	if (!line)
		_exit(96);
	for (size_t i = 0; i < len; i++) {
		line[2 * i] = hex[b[i] >> 4];
		line[2 * i + 1] = hex[b[i] & 15];
	}
	line[2 * len] = '\0';
	/* emit() has a bounded buffer: long data goes in pieces of one
	 * record each (same file, consecutive offsets). */
	for (size_t done = 0; done < len;) {
		size_t k = len - done < 1024 ? len - done : 1024;
		emit("write ino=%llu off=%lld len=%zu more=%d data=%.*s", ino,
		    off + (long long)done, k, done + k < len, (int)(2 * k),
		    line + 2 * done);
		done += k;
	}
	free(line);
	free(b);
}

static void after_write(int fd, ssize_t r, long long off, const struct iovec *iov,
    int cnt)
{
	unsigned long long ino;
	int saved = errno;

	if (r > 0 && fd_kind(fd, &ino) == 1) {
		if (off < 0)
			off = (long long)lseek(fd, 0, SEEK_CUR) - r;
		record_write(fd, ino, off, (size_t)r, iov, cnt);
	}
	errno = saved;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(write);
	ssize_t r = real_write(fd, buf, len);
	struct iovec v = { (void *)buf, len };
	after_write(fd, r, -1, &v, 1);
	return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	REAL(writev);
	ssize_t r = real_writev(fd, iov, cnt);
	after_write(fd, r, -1, iov, cnt);
	return r;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	REAL(pwrite);
	ssize_t r = real_pwrite(fd, buf, len, off);
	struct iovec v = { (void *)buf, len };
	after_write(fd, r, (long long)off, &v, 1);
	return r;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	REAL(pwrite64);
	ssize_t r = real_pwrite64(fd, buf, len, off);
	struct iovec v = { (void *)buf, len };
	after_write(fd, r, (long long)off, &v, 1);
	return r;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	REAL(pwritev);
	ssize_t r = real_pwritev(fd, iov, cnt, off);
	after_write(fd, r, (long long)off, iov, cnt);
	return r;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	REAL(pwritev64);
	ssize_t r = real_pwritev64(fd, iov, cnt, off);
	after_write(fd, r, (long long)off, iov, cnt);
	return r;
}

static void after_trunc(int fd, int r, long long len)
{
	unsigned long long ino;
	int saved = errno;

	if (r == 0 && fd_kind(fd, &ino) == 1)
		emit("trunc ino=%llu len=%lld", ino, len);
	errno = saved;
}

int ftruncate(int fd, off_t len)
{
	REAL(ftruncate);
	int r = real_ftruncate(fd, len);
	after_trunc(fd, r, (long long)len);
	return r;
}

int ftruncate64(int fd, off_t len)
{
	REAL(ftruncate64);
	int r = real_ftruncate64(fd, len);
	after_trunc(fd, r, (long long)len);
	return r;
}

static void after_sync(int fd, int r)
{
	unsigned long long ino = 0;
	int saved = errno, k;

	if (r == 0 && (k = fd_kind(fd, &ino)) != 0) {
		if (k == 2 && dirsub[0])
			emit("dirsync dir=%s", dirsub);
		else if (k == 2)
			emit("dirsync");
		else
			emit("fsync ino=%llu", ino);
	}
	errno = saved;
}

int fsync(int fd)
{
	REAL(fsync);
	int r = real_fsync(fd);
	after_sync(fd, r);
	return r;
}

int fdatasync(int fd)
{
	REAL(fdatasync);
	int r = real_fdatasync(fd);
	after_sync(fd, r);
	return r;
}

/* open and friends: creation, O_TMPFILE, O_TRUNC. */
static int do_open(int dirfd, const char *path, int flags, mode_t mode,
    int at, int large)
{
	static __typeof__(&openat) oa, oa64;
	char name[PATH_MAX];
	struct stat st;
	int mine, existed = 1, fd, saved;
	unsigned long long ino;

	if (!oa) {
		oa = (__typeof__(&openat))real("openat");
		oa64 = (__typeof__(&openat))real("openat64");
	}
	(void)at;
	mine = (flags & (O_CREAT | O_TRUNC | __O_TMPFILE)) &&
	    in_spool(dirfd, path, name, sizeof(name));
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		/* path is the directory itself. */
		char dummy[PATH_MAX];
		char full[PATH_MAX];

		snprintf(full, sizeof(full), "%s/x", path);
		mine = in_spool(dirfd, full, dummy, sizeof(dummy));
	} else if (mine && (flags & O_CREAT)) {
		existed = fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
	}
	fd = (large ? oa64 : oa)(dirfd, path, flags, mode);
	saved = errno;
	if (fd >= 0 && mine && fstat(fd, &st) == 0) {
		ino = (unsigned long long)st.st_ino;
		if ((flags & O_TMPFILE) == O_TMPFILE)
			emit("tmpfile ino=%llu", ino);
		else if (!existed)
			emit("create name=%s ino=%llu", name, ino);
		else if ((flags & O_TRUNC) && S_ISREG(st.st_mode))
			emit("trunc ino=%llu len=0", ino);
	}
	errno = saved;
	return fd;
}

#define MODE_ARG(flags) \
	mode_t mode = 0; \
	if ((flags) & (O_CREAT | __O_TMPFILE)) { \
		va_list ap; \
		va_start(ap, flags); \
		mode = (mode_t)va_arg(ap, int); \
		va_end(ap); \
	}

int open(const char *path, int flags, ...)
{
	MODE_ARG(flags);
	return do_open(AT_FDCWD, path, flags, mode, 0, 0);
}

int open64(const char *path, int flags, ...)
{
	MODE_ARG(flags);
	return do_open(AT_FDCWD, path, flags, mode, 0, 1);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	MODE_ARG(flags);
	return do_open(dirfd, path, flags, mode, 1, 0);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	MODE_ARG(flags);
	return do_open(dirfd, path, flags, mode, 1, 1);
}

int creat(const char *path, mode_t mode)
{
	return do_open(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode, 0, 0);
}

/* Names. */
static int name_rename(int fd1, const char *from, int fd2, const char *to,
    int r)
{
	char a[PATH_MAX], b[PATH_MAX];
	int saved = errno, x, y;

	if (r == 0) {
		x = in_spool(fd1, from, a, sizeof(a));
		y = in_spool(fd2, to, b, sizeof(b));
		if (x && y)
			emit("rename from=%s to=%s", a, b);
		else if (x || y)
			emit("unsupported what=rename-across-directories");
	}
	errno = saved;
	return r;
}

int rename(const char *from, const char *to)
{
	REAL(rename);
	return name_rename(AT_FDCWD, from, AT_FDCWD, to, real_rename(from, to));
}

int renameat(int fd1, const char *from, int fd2, const char *to)
{
	REAL(renameat);
	return name_rename(fd1, from, fd2, to, real_renameat(fd1, from, fd2, to));
}

int renameat2(int fd1, const char *from, int fd2, const char *to,
    unsigned int flags)
{
	REAL(renameat2);
	int r = real_renameat2(fd1, from, fd2, to, flags);
	if (r == 0 && flags != 0 && flags != RENAME_NOREPLACE &&
	    in_spool(fd2, to, (char[PATH_MAX]){0}, PATH_MAX))
		emit("unsupported what=renameat2-flags-%u", flags);
	return name_rename(fd1, from, fd2, to, r);
}

static int name_link(int fd1, const char *from, int fd2, const char *to,
    int follow, int (*call)(void))
{
	char b[PATH_MAX];
	struct stat st;
	int mine = in_spool(fd2, to, b, sizeof(b));
	int have = mine && fstatat(fd1, from, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) == 0;
	int r = call(), saved = errno;

	if (r == 0 && mine) {
		if (have)
			emit("link ino=%llu to=%s", (unsigned long long)st.st_ino, b);
		else
			emit("unsupported what=link-unknown-source");
	}
	errno = saved;
	return r;
}

static const char *l_from, *l_to;
static int l_fd1, l_fd2, l_flags;

static int call_link(void)
{
	REAL(link);
	return real_link(l_from, l_to);
}

static int call_linkat(void)
{
	REAL(linkat);
	return real_linkat(l_fd1, l_from, l_fd2, l_to, l_flags);
}

int link(const char *from, const char *to)
{
	l_from = from;
	l_to = to;
	return name_link(AT_FDCWD, from, AT_FDCWD, to, 0, call_link);
}

int linkat(int fd1, const char *from, int fd2, const char *to, int flags)
{
	l_fd1 = fd1;
	l_from = from;
	l_fd2 = fd2;
	l_to = to;
	l_flags = flags;
	return name_link(fd1, from, fd2, to, flags & AT_SYMLINK_FOLLOW,
	    call_linkat);
}

int unlink(const char *path)
{
	REAL(unlink);
	char a[PATH_MAX];
	int mine = in_spool(AT_FDCWD, path, a, sizeof(a));
	int r = real_unlink(path), saved = errno;

	if (r == 0 && mine)
		emit("unlink name=%s", a);
	errno = saved;
	return r;
}

int unlinkat(int dirfd, const char *path, int flags)
{
	REAL(unlinkat);
	char a[PATH_MAX];
	int mine = !(flags & AT_REMOVEDIR) && in_spool(dirfd, path, a, sizeof(a));
	int r = real_unlinkat(dirfd, path, flags), saved = errno;

	if (r == 0 && mine)
		emit("unlink name=%s", a);
	errno = saved;
	return r;
}

/* Calls the model has no rule for: recorded, so the test fails loudly
 * should pop3d start using them on spool files. */
int fallocate(int fd, int mode, off_t off, off_t len)
{
	REAL(fallocate);
	unsigned long long ino;
	int r = real_fallocate(fd, mode, off, len), saved = errno;

	if (r == 0 && fd_kind(fd, &ino) == 1)
		emit("unsupported what=fallocate");
	errno = saved;
	return r;
}

ssize_t copy_file_range(int in, off_t *inoff, int out, off_t *outoff,
    size_t len, unsigned int flags)
{
	REAL(copy_file_range);
	unsigned long long ino;
	ssize_t r = real_copy_file_range(in, inoff, out, outoff, len, flags);
	int saved = errno;

	if (r > 0 && fd_kind(out, &ino) == 1)
		emit("unsupported what=copy_file_range");
	errno = saved;
	return r;
}

int truncate(const char *path, off_t len)
{
	REAL(truncate);
	char a[PATH_MAX];
	int r = real_truncate(path, len), saved = errno;

	if (r == 0 && in_spool(AT_FDCWD, path, a, sizeof(a)))
		emit("unsupported what=truncate-by-path");
	errno = saved;
	return r;
}

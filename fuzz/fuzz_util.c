/*
 * fuzz_util.c - helpers and link-time wrappers shared by the harnesses.
 *
 * The harnesses are linked with
 *	-Wl,--wrap=nanosleep,--wrap=clock_nanosleep,--wrap=geteuid,
 *	--wrap=syslog
 * so that, in the fuzz build only,
 *   - the deadline of a failed login's answer (auth_check_login) and
 *     lock back-off (lock.c) do not sleep: a fuzzer spends no time waiting;
 *   - geteuid() never says 0: started as root, session.c would otherwise
 *     call setresuid() and drop the fuzzer's own privileges for good;
 *   - log lines are formatted (so ASan sees every argument) but never
 *     reach syslog.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_util.h"

/* ------------------------------------------------------------ wrappers */

int __wrap_nanosleep(const struct timespec *req, struct timespec *rem);
int __wrap_clock_nanosleep(clockid_t clock, int flags,
    const struct timespec *req, struct timespec *rem);
uid_t __wrap_geteuid(void);
uid_t __real_geteuid(void);
void __wrap_syslog(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int __wrap_nanosleep(const struct timespec *req, struct timespec *rem)
{
	(void)req;
	if (rem)
		rem->tv_sec = rem->tv_nsec = 0;
	return 0;
}

int __wrap_clock_nanosleep(clockid_t clock, int flags,
    const struct timespec *req, struct timespec *rem)
{
	(void)clock;
	(void)flags;
	(void)req;
	if (rem)
		rem->tv_sec = rem->tv_nsec = 0;
	return 0;
}

uid_t fuzz_euid(void)
{
	uid_t e = __real_geteuid();

	return e == 0 ? (uid_t)FUZZ_FAKE_UID : e;
}

uid_t __wrap_geteuid(void)
{
	return fuzz_euid();
}

void __wrap_syslog(int prio, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	(void)prio;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Log lines must never carry control characters from a client. */
	for (const char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20)
			fuzz_fail("control character 0x%02x in a log line: %s",
			    (unsigned char)*p, buf);
}

/* ------------------------------------------------------------- helpers */

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("FUZZ PROPERTY VIOLATED: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static char tmpdir[256];

static int rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void rm_tree(const char *dir)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
	if (tmpdir[0])
		rm_tree(tmpdir);
}

/* Removes the directories of harness processes that died (crashes end a
 * libFuzzer process without running atexit handlers). */
static void remove_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *de;
	char path[512];
	long pid;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (sscanf(de->d_name, "pop3d-fuzz-%ld.", &pid) != 1 ||
		    pid <= 0)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
		rm_tree(path);
	}
	closedir(d);
}

const char *fuzz_tmpdir(void)
{
	const char *base;
	struct stat st;

	if (tmpdir[0])
		return tmpdir;
	base = getenv("TMPDIR");
	/* tmpfs: UPDATE's fsync() calls cost nothing there. */
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	    access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	else if (!base || !*base)
		base = "/tmp";
	remove_stale(base);
	snprintf(tmpdir, sizeof(tmpdir), "%s/pop3d-fuzz-%ld.XXXXXX", base,
	    (long)getpid());
	if (!mkdtemp(tmpdir))
		fuzz_fail("mkdtemp %s: %s", tmpdir, strerror(errno));
	/* Started as root: the fuzzed code acts as FUZZ_FAKE_UID. */
	if (chown(tmpdir, fuzz_euid(), (gid_t)-1) < 0)
		fuzz_fail("chown %s: %s", tmpdir, strerror(errno));
	atexit(cleanup);
	return tmpdir;
}

char *fuzz_path(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", fuzz_tmpdir(), name) < 0)
		fuzz_fail("out of memory");
	return p;
}

void fuzz_write_file(const char *path, const void *data, size_t len,
    mode_t mode, uid_t owner)
{
	int fd;

	if (unlink(path) < 0 && errno != ENOENT)
		fuzz_fail("unlink %s: %s", path, strerror(errno));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		fuzz_fail("create %s: %s", path, strerror(errno));
	if ((len > 0 && write(fd, data, len) != (ssize_t)len) ||
	    fchmod(fd, mode) < 0 ||
	    (owner != (uid_t)-1 && fchown(fd, owner, (gid_t)-1) < 0))
		fuzz_fail("write %s: %s", path, strerror(errno));
	close(fd);
}

int fuzz_memfd(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		fuzz_fail("memfd_create: %s", strerror(errno));
	return fd;
}

void fuzz_memfd_set(int fd, const void *data, size_t len)
{
	if (ftruncate(fd, 0) < 0 ||
	    (len > 0 && pwrite(fd, data, len, 0) != (ssize_t)len) ||
	    lseek(fd, 0, SEEK_SET) < 0)
		fuzz_fail("memfd write: %s", strerror(errno));
}

unsigned char *fuzz_memfd_get(int fd, size_t *len_r)
{
	struct stat st;
	unsigned char *buf;

	if (fstat(fd, &st) < 0)
		fuzz_fail("fstat: %s", strerror(errno));
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		fuzz_fail("out of memory");
	if (st.st_size > 0 &&
	    pread(fd, buf, (size_t)st.st_size, 0) != (ssize_t)st.st_size)
		fuzz_fail("memfd read: %s", strerror(errno));
	buf[st.st_size] = '\0';
	*len_r = (size_t)st.st_size;
	return buf;
}

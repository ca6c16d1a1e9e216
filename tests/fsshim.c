/*
 * tests/fsshim.c - test-only LD_PRELOAD shim that makes a directory look
 * like an NFS mount to the program it is preloaded into, so the paths
 * pop3d takes on file systems that are not local (lock.c, fs_is_local():
 * the session lock file, the age-only dot-lock rules) can be tested on a
 * machine without NFS (tests/e2e/nfslock.sh).  Never linked into pop3d.
 *
 * statfs(2) and fstatfs(2) answer as the real calls do, except that for
 * a file at or under the directory FSSHIM_NFS_DIR names (an absolute
 * path without symbolic links, as the kernel reports it) f_type is
 * NFS_SUPER_MAGIC.  A descriptor's path is read from /proc/self/fd.
 * Only the type changes: the files stay on the real file system, with
 * its flock(2), O_TMPFILE and all, so what the test sees is what pop3d
 * chose to do, not what NFS would do.
 *
 * Build: cc -shared -fPIC -O1 -o fsshim.so tests/fsshim.c -ldl
 * Under AddressSanitizer, preloading needs ASAN_OPTIONS=verify_asan_link_order=0.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

static void *real(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		/* The program would misbehave without it: stop loudly. */
		static const char msg[] = "fsshim: dlsym failed\n";

		(void)write(2, msg, sizeof(msg) - 1);
		_exit(97);
	}
	return p;
}

/* Whether path is FSSHIM_NFS_DIR or a name under it. */
static int under_dir(const char *path)
{
	const char *dir = getenv("FSSHIM_NFS_DIR");
	size_t n;

	if (!dir || !dir[0])
		return 0;
	n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strncmp(path, dir, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

static void mark(struct statfs *buf)
{
	buf->f_type = NFS_SUPER_MAGIC;
}

int statfs(const char *path, struct statfs *buf)
{
	static int (*real_statfs)(const char *, struct statfs *);
	char abs[PATH_MAX];
	int r;

	if (!real_statfs)
		real_statfs = (int (*)(const char *, struct statfs *))
		    real("statfs");
	r = real_statfs(path, buf);
	if (r == 0 && realpath(path, abs) && under_dir(abs))
		mark(buf);
	return r;
}

int fstatfs(int fd, struct statfs *buf)
{
	static int (*real_fstatfs)(int, struct statfs *);
	char proc[64], abs[PATH_MAX];
	ssize_t n;
	int r;

	if (!real_fstatfs)
		real_fstatfs = (int (*)(int, struct statfs *))real("fstatfs");
	r = real_fstatfs(fd, buf);
	if (r != 0)
		return r;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, abs, sizeof(abs) - 1);
	if (n > 0) {
		abs[n] = '\0';
		if (under_dir(abs))
			mark(buf);
	}
	return r;
}

/* On x86_64 and other 64-bit ABIs these are the same calls, but a
 * program built with _FILE_OFFSET_BITS=64 on a 32-bit one calls them. */
int statfs64(const char *path, struct statfs64 *buf)
{
	static int (*real_statfs64)(const char *, struct statfs64 *);
	char abs[PATH_MAX];
	int r;

	if (!real_statfs64)
		real_statfs64 = (int (*)(const char *, struct statfs64 *))
		    real("statfs64");
	r = real_statfs64(path, buf);
	if (r == 0 && realpath(path, abs) && under_dir(abs))
		buf->f_type = NFS_SUPER_MAGIC;
	return r;
}

int fstatfs64(int fd, struct statfs64 *buf)
{
	static int (*real_fstatfs64)(int, struct statfs64 *);
	char proc[64], abs[PATH_MAX];
	ssize_t n;
	int r;

	if (!real_fstatfs64)
		real_fstatfs64 = (int (*)(int, struct statfs64 *))
		    real("fstatfs64");
	r = real_fstatfs64(fd, buf);
	if (r != 0)
		return r;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, abs, sizeof(abs) - 1);
	if (n > 0) {
		abs[n] = '\0';
		if (under_dir(abs))
			buf->f_type = NFS_SUPER_MAGIC;
	}
	return r;
}

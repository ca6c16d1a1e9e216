/*
 * lock.c - mbox locking as Postfix local(8), procmail, mutt and Dovecot
 * do it on Linux: a dot-lock file PATH.lock plus an fcntl(2) lock on the
 * mbox itself.  Both are waited for a bounded time.
 *
 * The dot-lock is created NFS-safely: a file holding our pid is written
 * first and then link(2)ed to PATH.lock; link() is atomic even on NFS.
 * Where the file system allows, the file is an unnamed O_TMPFILE one, so a
 * SIGKILL can leave no temporary file behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ----------------------------------------------- the privileged group */

/*
 * On a stock Debian spool (/var/mail root:mail 2775) a user cannot create
 * PATH.lock; MDAs and mail readers use the "mail" group for that.  Like
 * Dovecot's mail_privileged_group, a root-started pop3d keeps that group
 * as its saved set-group-ID and turns it on only around the creation and
 * removal of lock and journal files, and only when the spool directory
 * is not writable without it.
 */
static gid_t priv_gid = (gid_t)-1;
static int priv_needed;

void spool_set_group(gid_t gid)
{
	priv_gid = gid;
}

void spool_check_dir(const char *mbox)
{
	char dir[MAX_PATH_LEN];
	const char *slash = strrchr(mbox, '/');
	size_t len = slash ? (size_t)(slash - mbox) : 0;

	priv_needed = 0;
	if (priv_gid == (gid_t)-1 || len >= sizeof(dir))
		return;
	if (slash == mbox)
		len = 1;	/* "/mbox": the root directory */
	memcpy(dir, slash ? mbox : ".", slash ? len : 1);
	dir[slash ? len : 1] = '\0';
	/* AT_EACCESS: the effective ids, which are the user's. */
	priv_needed = faccessat(AT_FDCWD, dir, W_OK, AT_EACCESS) != 0;
}

int spool_privileged(int on)
{
	if (!priv_needed)
		return 0;
	if (setegid(on ? priv_gid : getgid()) < 0) {
		log_msg(LOG_ERR, "cannot switch to the mail group: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ dot-lock */

/* Breaks PATH.lock if its holder is dead or it is old.  Returns 1 if it
 * was removed (try again at once), 0 otherwise. */
static int break_stale_dotlock(const char *lockpath)
{
	char buf[32];
	struct stat st;
	ssize_t n;
	long pid = 0;
	int fd, stale = 0, r;

	fd = open(lockpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT;
	/* Anything but a small regular file is not a lock we understand:
	 * wait for it to go away, never remove it. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < 64) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			pid = strtol(buf, NULL, 10);
		}
		/* Two independent reasons, each branch with its comment. */
		if (time(NULL) - st.st_mtime > DOTLOCK_STALE_SECONDS)
			stale = 1;	/* NOLINT(bugprone-branch-clone) */
		/* A pid names a process of this host only; locks made over
		 * NFS from other hosts go stale by age alone. */
		else if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			stale = 1;
	}
	close(fd);
	if (!stale)
		return 0;
	spool_privileged(1);
	r = unlink(lockpath);
	spool_privileged(0);
	if (r == 0 || errno == ENOENT) {
		log_msg(LOG_NOTICE, "removed stale lock %s (pid %ld)",
		    lockpath, pid);
		return 1;
	}
	return 0;
}

/* Writes our pid, the contents every dot-lock reader expects. */
static int write_pid(int fd)
{
	char pidbuf[32];
	int len = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());

	return write(fd, pidbuf, (size_t)len) == len ? 0 : -1;
}

/*
 * Local file systems: an unnamed O_TMPFILE file linked to the lock name.
 * No temporary name ever exists, so a SIGKILL leaves no litter behind.
 * Returns 1 locked, 0 busy, -1 error, -2 not supported here.
 */
static int try_tmpfile_lock(struct mbox_lock *lk, const char *dir)
{
	char proc[64];
	int fd, r, saved;

	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EOPNOTSUPP || errno == EISDIR ||
		    errno == EINVAL ? -2 : -1;
	if (write_pid(fd) < 0) {
		close(fd);
		errno = EIO;
		return -1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	r = linkat(AT_FDCWD, proc, AT_FDCWD, lk->dotlock, AT_SYMLINK_FOLLOW);
	saved = errno;
	close(fd);
	if (r == 0) {
		lk->have_dotlock = 1;
		return 1;
	}
	errno = saved;
	if (saved == ENOENT)
		return -2;	/* no /proc: use the named way */
	return saved == EEXIST ? 0 : -1;
}

/*
 * NFS and other file systems without O_TMPFILE: a uniquely named file
 * (host, pid, time) linked to the lock name.  link() is atomic even over
 * NFS; when its reply is lost, the link count of our unique file still
 * tells whether it worked.  Returns 1 locked, 0 busy, -1 error.
 */
static int try_named_lock(struct mbox_lock *lk, const char *tmp)
{
	struct stat st;
	int fd, r, saved;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return -1;
	if (write_pid(fd) < 0 || close(fd) < 0) {
		(void)unlink(tmp);
		errno = EIO;
		return -1;
	}
	r = link(tmp, lk->dotlock);
	saved = errno;
	if (r < 0 && stat(tmp, &st) == 0 && st.st_nlink == 2)
		r = 0;
	(void)unlink(tmp);
	if (r == 0) {
		lk->have_dotlock = 1;
		return 1;
	}
	errno = saved;
	return saved == EEXIST ? 0 : -1;
}

/* One attempt at PATH.lock.  Returns 1 locked, 0 busy, -1 error. */
static int try_dotlock(struct mbox_lock *lk, const char *dir, const char *tmp)
{
	int r, saved;

	spool_privileged(1);
	r = try_tmpfile_lock(lk, dir);
	if (r == -2)
		r = try_named_lock(lk, tmp);
	saved = errno;
	spool_privileged(0);
	errno = saved;
	return r;
}

/* Returns MBOX_OK, MBOX_LOCKED, or MBOX_ERROR; *no_access_r is set when
 * the directory is not writable for us even with the mail group. */
static int take_dotlock(struct mbox_lock *lk, const char *path,
    const struct timespec *deadline, int *no_access_r)
{
	char tmp[MAX_PATH_LEN], dir[MAX_PATH_LEN], host[64];
	const char *slash;
	struct timespec now;
	int r;

	*no_access_r = 0;
	if ((size_t)snprintf(lk->dotlock, sizeof(lk->dotlock), "%s.lock",
	    path) >= sizeof(lk->dotlock))
		return MBOX_ERROR;
	/* The host name keeps unique names unique across NFS clients. */
	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	for (char *h = host; *h; h++)
		if (*h == '/')
			*h = '_';
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.lock.%s.%ld.%ld", path,
	    host, (long)getpid(), (long)time(NULL)) >= sizeof(tmp))
		return MBOX_ERROR;
	slash = strrchr(path, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == path)
		strcpy(dir, "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);

	for (long wait = 50;; wait = wait < 1000 ? wait * 2 : 1000) {
		r = try_dotlock(lk, dir, tmp);
		if (r > 0)
			return MBOX_OK;
		if (r < 0) {
			if (errno == EACCES || errno == EPERM ||
			    errno == EROFS) {
				*no_access_r = 1;
				return MBOX_OK;
			}
			log_msg(LOG_ERR, "cannot create %s: %s", lk->dotlock,
			    strerror(errno));
			return MBOX_ERROR;
		}
		if (break_stale_dotlock(lk->dotlock))
			continue;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec >= deadline->tv_sec)
			return MBOX_LOCKED;
		/* Holding nothing now: a signal may end us while we wait. */
		sigprocmask(SIG_SETMASK, &lk->old_mask, NULL);
		sleep_ms(wait);
		sigprocmask(SIG_BLOCK, &lk->block_mask, NULL);
	}
}

static int take_fcntl(int fd, int type, const struct timespec *deadline)
{
	struct flock fl;
	struct timespec now;

	for (long wait = 20;; wait = wait < 500 ? wait * 2 : 500) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = (short)type;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return MBOX_OK;
		if (errno != EACCES && errno != EAGAIN && errno != EINTR) {
			log_msg(LOG_ERR, "fcntl lock: %s", strerror(errno));
			return MBOX_ERROR;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec >= deadline->tv_sec)
			return MBOX_LOCKED;
		sleep_ms(wait);
	}
}

int lock_mbox(struct mbox_lock *lk, const char *path, int fd, int type)
{
	struct timespec deadline;
	int r, no_access;

	memset(lk, 0, sizeof(*lk));
	lk->fd = -1;
	/* Signals that would end the process wait until the locks are
	 * released again, so no exit path leaves a lock behind. */
	sigemptyset(&lk->block_mask);
	sigaddset(&lk->block_mask, SIGTERM);
	sigaddset(&lk->block_mask, SIGINT);
	sigaddset(&lk->block_mask, SIGHUP);
	sigaddset(&lk->block_mask, SIGQUIT);
	sigaddset(&lk->block_mask, SIGALRM);
	sigaddset(&lk->block_mask, SIGUSR1);
	sigaddset(&lk->block_mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &lk->block_mask, &lk->old_mask);
	lk->blocked = 1;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += LOCK_WAIT_SECONDS;

	r = take_dotlock(lk, path, &deadline, &no_access);
	if (r != MBOX_OK) {
		unlock_mbox(lk);
		return r;
	}
	if (no_access)
		log_msg(LOG_WARNING, "no write access to the directory of %s: "
		    "relying on the fcntl lock alone", path);
	if (fd >= 0) {
		r = take_fcntl(fd, type, &deadline);
		if (r != MBOX_OK) {
			unlock_mbox(lk);
			return r;
		}
		lk->fd = fd;
	}
	return MBOX_OK;
}

int lock_fcntl(int fd, int type)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += LOCK_WAIT_SECONDS;
	return take_fcntl(fd, type, &deadline);
}

void unlock_fcntl(int fd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	(void)fcntl(fd, F_SETLK, &fl);
}

void unlock_mbox(struct mbox_lock *lk)
{
	int r;

	if (lk->fd >= 0) {
		unlock_fcntl(lk->fd);
		lk->fd = -1;
	}
	if (lk->have_dotlock) {
		spool_privileged(1);
		r = unlink(lk->dotlock);
		spool_privileged(0);
		if (r < 0 && errno != ENOENT)
			log_msg(LOG_ERR, "cannot remove %s: %s", lk->dotlock,
			    strerror(errno));
		lk->have_dotlock = 0;
	}
	if (lk->blocked) {
		sigprocmask(SIG_SETMASK, &lk->old_mask, NULL);
		lk->blocked = 0;
	}
}

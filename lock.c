/*
 * lock.c - mbox locking as Postfix local(8), procmail, mutt and Dovecot
 * do it on Linux: a dot-lock file PATH.lock plus an fcntl(2) lock on the
 * mbox itself.  Both are waited for a bounded time.
 *
 * The dot-lock is created NFS-safely: a uniquely named file is written
 * first and then link(2)ed to PATH.lock; link() is atomic even on NFS, and
 * the link count of the unique file tells whether it worked when the
 * server's answer was lost.
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

/* Breaks PATH.lock if its holder is dead or it is old.  Returns 1 if it
 * was removed (try again at once), 0 otherwise. */
static int break_stale_dotlock(const char *lockpath)
{
	char buf[32];
	struct stat st;
	ssize_t n;
	long pid = 0;
	int fd, stale = 0;

	fd = open(lockpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT;
	if (fstat(fd, &st) == 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			pid = strtol(buf, NULL, 10);
		}
		if (time(NULL) - st.st_mtime > DOTLOCK_STALE_SECONDS)
			stale = 1;
		/* A pid is meaningful only on this host; the lock was made
		 * on this host if we could read it right after its link. */
		else if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			stale = 1;
	}
	close(fd);
	if (!stale)
		return 0;
	if (unlink(lockpath) == 0 || errno == ENOENT) {
		log_msg(LOG_NOTICE, "removed stale lock %s (pid %ld)",
		    lockpath, pid);
		return 1;
	}
	return 0;
}

/* Returns MBOX_OK, MBOX_LOCKED, or MBOX_ERROR; *no_access_r is set when
 * the directory is not writable for us. */
static int take_dotlock(struct mbox_lock *lk, const char *path,
    const struct timespec *deadline, int *no_access_r)
{
	char tmp[MAX_PATH_LEN], pidbuf[32];
	struct timespec now;
	struct stat st;
	int fd, n, len;

	*no_access_r = 0;
	if ((size_t)snprintf(lk->dotlock, sizeof(lk->dotlock), "%s.lock",
	    path) >= sizeof(lk->dotlock))
		return MBOX_ERROR;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.lock.%ld.%ld", path,
	    (long)getpid(), (long)time(NULL)) >= sizeof(tmp))
		return MBOX_ERROR;

	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0) {
		if (errno == EACCES || errno == EPERM || errno == EROFS) {
			*no_access_r = 1;
			return MBOX_OK;
		}
		log_msg(LOG_ERR, "cannot create %s: %s", tmp, strerror(errno));
		return MBOX_ERROR;
	}
	len = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	n = (int)write(fd, pidbuf, (size_t)len);
	if (close(fd) || n != len) {
		(void)unlink(tmp);
		return MBOX_ERROR;
	}

	for (long wait = 50;; wait = wait < 1000 ? wait * 2 : 1000) {
		if (link(tmp, lk->dotlock) == 0 ||
		    (stat(tmp, &st) == 0 && st.st_nlink == 2)) {
			(void)unlink(tmp);
			lk->have_dotlock = 1;
			return MBOX_OK;
		}
		if (errno != EEXIST) {
			log_msg(LOG_ERR, "cannot link %s: %s", lk->dotlock,
			    strerror(errno));
			(void)unlink(tmp);
			return MBOX_ERROR;
		}
		if (break_stale_dotlock(lk->dotlock))
			continue;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec >= deadline->tv_sec)
			break;
		sleep_ms(wait);
	}
	(void)unlink(tmp);
	return MBOX_LOCKED;
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
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += LOCK_WAIT_SECONDS;

	r = take_dotlock(lk, path, &deadline, &no_access);
	if (r != MBOX_OK)
		return r;
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

void unlock_mbox(struct mbox_lock *lk)
{
	struct flock fl;

	if (lk->fd >= 0) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_UNLCK;
		fl.l_whence = SEEK_SET;
		(void)fcntl(lk->fd, F_SETLK, &fl);
		lk->fd = -1;
	}
	if (lk->have_dotlock) {
		if (unlink(lk->dotlock) < 0 && errno != ENOENT)
			log_msg(LOG_ERR, "cannot remove %s: %s", lk->dotlock,
			    strerror(errno));
		lk->have_dotlock = 0;
	}
}

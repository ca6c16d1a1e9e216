/*
 * lock.c - mbox locking as Postfix local(8), procmail, mutt and Dovecot
 * do it on Linux: a dot-lock file PATH.lock plus an fcntl(2) lock on the
 * mbox itself.  Both are waited for a bounded time.
 *
 * The dot-lock is created NFS-safely: a file holding our pid is written
 * first and then link(2)ed to PATH.lock; link() is atomic even on NFS.
 * Where the file system allows, the file is an unnamed O_TMPFILE one, so a
 * SIGKILL can leave no temporary file behind.  The pid is fsynced before
 * the link, so a power cut leaves either no lock or one naming its holder.
 *
 * A lock someone else holds is honoured unless dotlock_stale() says it
 * is stale or it belongs to another user (neither the mailbox owner nor
 * root): such a file is not a lock but a way to keep the owner out, and
 * is removed, or, where it cannot be (a sticky spool), ignored.
 *
 * Every name is reached through the directory descriptor spool.c opened
 * and checked (linkat, unlinkat, fstatat, openat on it), and the mail
 * group, where the spool needs it, is effective only around the calls
 * that create or remove a name.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
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

/* ------------------------------------------------------------ dot-lock */

/* Empty, or zeros only: what a power cut can leave of a lock whose pid
 * had not reached the disk (and what Postfix's local(8) always writes). */
static int no_content(const char *content, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (content[i] != '\0')
			return 0;
	return 1;
}

/* The pid a lock names (decimal, optionally surrounded by white space),
 * or 0 if it names none. */
static pid_t lock_pid(const char *content, size_t len)
{
	char text[DOTLOCK_MAX_SIZE + 1];
	char *end;
	long pid;

	if (len >= sizeof(text))
		return 0;
	memcpy(text, content, len);
	text[len] = '\0';
	errno = 0;
	pid = strtol(text, &end, 10);
	if (errno || end == text || pid <= 0 || pid > INT_MAX)
		return 0;
	while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
		end++;
	return *end == '\0' ? (pid_t)pid : 0;
}

int dotlock_stale(const struct stat *st, const char *content, size_t len,
    time_t now, time_t boot_time, int local_fs)
{
	pid_t pid;
	int future;

	/* Anything but a small regular file is not a lock we understand:
	 * wait for it to go away, never remove it. */
	if (!S_ISREG(st->st_mode) || st->st_size >= DOTLOCK_MAX_SIZE)
		return DOTLOCK_HONOUR;
	/*
	 * Untouched for minutes.  A date in the future is a clock error
	 * (or a forgery), not a sign of life: it is judged by how far off
	 * it is, so no mtime can hold the maildrop for longer than twice
	 * DOTLOCK_STALE_SECONDS.  The comparisons stay clear of overflow
	 * whatever the mtime.
	 */
	if (st->st_mtime < now - DOTLOCK_STALE_SECONDS ||
	    st->st_mtime > now + DOTLOCK_STALE_SECONDS)
		return DOTLOCK_OLD;
	future = st->st_mtime > now + DOTLOCK_FUTURE_SECONDS;
	/*
	 * No pid: a power cut between creation and the pid reaching disk.
	 * A few seconds are left to writers that create the file first and
	 * write after; a future date is not trusted to be that fresh.
	 * Postfix local(8) writes no pid at all: a delivery of its that
	 * holds the dot-lock longer loses it, but not its fcntl lock, which
	 * keeps us out of the mbox all the same.
	 */
	if (no_content(content, len) &&
	    (st->st_mtime < now - DOTLOCK_EMPTY_SECONDS || future))
		return DOTLOCK_EMPTY;
	/* A pid and the boot time name this host's processes only; locks
	 * made over NFS from other hosts go stale by age alone. */
	if (!local_fs)
		return DOTLOCK_HONOUR;
	/* Made before the last boot (a power cut, a reboot): its holder is
	 * gone, and its pid may name an unrelated process now. */
	if (boot_time > 0 && st->st_mtime < boot_time - DOTLOCK_BOOT_SLACK)
		return DOTLOCK_BEFORE_BOOT;
	pid = lock_pid(content, len);
	if (pid > 0 && kill(pid, 0) < 0 && errno == ESRCH)
		return DOTLOCK_DEAD;
	return DOTLOCK_HONOUR;
}

/* When this host booted, on the real-time clock; 0 if unknown. */
static time_t boot_time(void)
{
	struct timespec rt, up;

	if (clock_gettime(CLOCK_REALTIME, &rt) < 0 ||
	    clock_gettime(CLOCK_BOOTTIME, &up) < 0)
		return 0;
	return rt.tv_sec - up.tv_sec;
}

/*
 * Whether pids and boot times in locks on this file system are this
 * host's: not on network and cluster file systems, nor on FUSE, which
 * may be either (sshfs).
 */
static int fs_is_local(int fd)
{
	static const uint32_t shared[] = {
		NFS_SUPER_MAGIC, SMB_SUPER_MAGIC, CIFS_SUPER_MAGIC,
		SMB2_SUPER_MAGIC, FUSE_SUPER_MAGIC, AFS_SUPER_MAGIC,
		CEPH_SUPER_MAGIC, CODA_SUPER_MAGIC, V9FS_MAGIC,
		OCFS2_SUPER_MAGIC,
		0x01161970,	/* GFS2 */
		0x0bd00bd0,	/* Lustre */
		0x564c,		/* NCP */
	};
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return 0;	/* unknown: the age rules alone */
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
		if ((uint32_t)sfs.f_type == shared[i])
			return 0;
	return 1;
}

static const char *const stale_why[] = {
	[DOTLOCK_OLD] = "unchanged for too long, or dated far in the future",
	[DOTLOCK_EMPTY] = "empty, not written for seconds",
	[DOTLOCK_BEFORE_BOOT] = "made before the last boot",
	[DOTLOCK_DEAD] = "its holder is dead",
};

enum { LOCK_RETRY, LOCK_WAIT, LOCK_IGNORE };

/*
 * PATH.lock of a user who is neither the mailbox owner nor root: in a
 * spool other users can write, a file planted to keep the owner out (and
 * its pid and date prove nothing).  It is removed if the directory lets
 * us; if not (a sticky spool), the session locks with fcntl alone rather
 * than not at all.  Returns LOCK_RETRY or LOCK_IGNORE.
 */
static int foreign_dotlock(const struct mbox_lock *lk, const struct stat *st)
{
	const char *lockpath = lk->dotlock;
	int r, saved;

	(void)spool_privileged(lk->sp, 1);
	r = unlinkat(lk->sp->dfd, lk->name, 0);
	saved = errno;
	(void)spool_privileged(lk->sp, 0);
	if (r == 0 || saved == ENOENT) {
		log_msg(LOG_WARNING, "removed %s: owned by uid %lu, neither the "
		    "mailbox owner (uid %lu) nor root, so not a lock to honour; "
		    "the spool directory must not be writable by other users",
		    lockpath, (unsigned long)st->st_uid,
		    (unsigned long)geteuid());
		return LOCK_RETRY;
	}
	log_msg(LOG_WARNING, "ignoring %s: owned by uid %lu, neither the "
	    "mailbox owner (uid %lu) nor root, and it cannot be removed (%s): "
	    "relying on the fcntl lock alone; the spool directory must not be "
	    "writable by other users", lockpath, (unsigned long)st->st_uid,
	    (unsigned long)geteuid(), strerror(saved));
	return LOCK_IGNORE;
}

/*
 * Looks at the PATH.lock that kept us from locking.  Never follows a
 * symbolic link.  Returns LOCK_RETRY (gone now, or removed as stale or
 * foreign: try again at once), LOCK_WAIT (honoured) or LOCK_IGNORE
 * (foreign and not removable: lock without it).
 */
static int examine_dotlock(const struct mbox_lock *lk)
{
	const char *lockpath = lk->dotlock;
	int dfd = lk->sp->dfd;
	char buf[DOTLOCK_MAX_SIZE];
	struct stat st, fst;
	size_t len = 0;
	int fd, local, verdict, r;

	if (fstatat(dfd, lk->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? LOCK_RETRY : LOCK_WAIT;
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return foreign_dotlock(lk, &st);
	if (!S_ISREG(st.st_mode) || st.st_size >= DOTLOCK_MAX_SIZE)
		return LOCK_WAIT;	/* see dotlock_stale() */
	fd = openat(dfd, lk->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? LOCK_RETRY : LOCK_WAIT;
	/* Replaced since the fstatat(): look again at the next round. */
	if (fstat(fd, &fst) < 0 || fst.st_ino != st.st_ino ||
	    fst.st_dev != st.st_dev) {
		close(fd);
		return LOCK_WAIT;
	}
	while (len < sizeof(buf)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return LOCK_WAIT;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	local = fs_is_local(fd);
	close(fd);
	verdict = dotlock_stale(&fst, buf, len, time(NULL), boot_time(),
	    local);
	if (verdict == DOTLOCK_HONOUR)
		return LOCK_WAIT;
	/* Narrows the race with a holder that removes its lock and a new
	 * one taking its place while we looked. */
	if (fstatat(dfd, lk->name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_ino != fst.st_ino || st.st_dev != fst.st_dev)
		return LOCK_RETRY;
	(void)spool_privileged(lk->sp, 1);
	r = unlinkat(dfd, lk->name, 0);
	(void)spool_privileged(lk->sp, 0);
	if (r < 0 && errno != ENOENT) {
		log_msg(LOG_ERR, "cannot remove stale lock %s: %s", lockpath,
		    strerror(errno));
		return LOCK_WAIT;
	}
	log_msg(LOG_NOTICE, "removed stale lock %s (%s; pid %ld)", lockpath,
	    stale_why[verdict], (long)lock_pid(buf, len));
	return LOCK_RETRY;
}

/* Writes our pid, the contents every dot-lock reader expects, and makes
 * it durable before the caller links the file into place: after a power
 * cut the lock is either absent or names its holder, never empty. */
static int write_pid(int fd)
{
	char pidbuf[32];
	int len = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());

	return write_full(fd, pidbuf, (size_t)len) < 0 || fsync(fd) < 0 ?
	    -1 : 0;
}

/*
 * Local file systems: an unnamed O_TMPFILE file linked to the lock name.
 * No temporary name ever exists, so a SIGKILL leaves no litter behind.
 * Returns 1 locked, 0 busy, -1 error, -2 not supported here.
 */
static int try_tmpfile_lock(struct mbox_lock *lk)
{
	char proc[64];
	int fd, r, saved;

	fd = openat(lk->sp->dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EOPNOTSUPP || errno == EISDIR ||
		    errno == EINVAL ? -2 : -1;
	if (write_pid(fd) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	r = linkat(AT_FDCWD, proc, lk->sp->dfd, lk->name, AT_SYMLINK_FOLLOW);
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
	int dfd = lk->sp->dfd;
	struct stat st;
	int fd, r, saved;

	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write_pid(fd) < 0 || close(fd) < 0) {
		saved = errno;
		(void)unlinkat(dfd, tmp, 0);
		errno = saved;
		return -1;
	}
	r = linkat(dfd, tmp, dfd, lk->name, 0);
	saved = errno;
	if (r < 0 && fstatat(dfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_nlink == 2)
		r = 0;
	(void)unlinkat(dfd, tmp, 0);
	if (r == 0) {
		lk->have_dotlock = 1;
		return 1;
	}
	errno = saved;
	return saved == EEXIST ? 0 : -1;
}

/* One attempt at PATH.lock.  Returns 1 locked, 0 busy, -1 error. */
static int try_dotlock(struct mbox_lock *lk, const char *tmp)
{
	int r, saved;

	/* Only creation and linking run with the group; the lock's pid is
	 * ours, no mail is read here. */
	(void)spool_privileged(lk->sp, 1);
	r = try_tmpfile_lock(lk);
	if (r == -2)
		r = try_named_lock(lk, tmp);
	saved = errno;
	(void)spool_privileged(lk->sp, 0);
	errno = saved;
	return r;
}

/* Returns MBOX_OK (lk->have_dotlock says whether we hold it: not when
 * the directory is not writable for us even with the mail group, nor when
 * a foreign file we cannot remove sits at the name), MBOX_LOCKED, or
 * MBOX_ERROR. */
static int take_dotlock(struct mbox_lock *lk, const struct timespec *deadline)
{
	char tmp[MAX_PATH_LEN], host[64];
	const char *path = lk->sp->path;
	struct timespec now;
	int r;

	if (spool_name(lk->sp, ".lock", lk->name, sizeof(lk->name),
	    lk->dotlock, sizeof(lk->dotlock)) < 0)
		return MBOX_ERROR;
	/* The host name keeps unique names unique across NFS clients. */
	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	for (char *h = host; *h; h++)
		if (*h == '/')
			*h = '_';
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%s.%ld.%ld", lk->name,
	    host, (long)getpid(), (long)time(NULL)) >= sizeof(tmp))
		return MBOX_ERROR;

	for (long wait = 50;; wait = wait < 1000 ? wait * 2 : 1000) {
		r = try_dotlock(lk, tmp);
		if (r > 0)
			return MBOX_OK;
		if (r < 0) {
			if (errno == EACCES || errno == EPERM ||
			    errno == EROFS) {
				log_msg(LOG_WARNING, "no write access to the "
				    "directory of %s: relying on the fcntl "
				    "lock alone", path);
				return MBOX_OK;
			}
			log_msg(LOG_ERR, "cannot create %s: %s", lk->dotlock,
			    strerror(errno));
			return MBOX_ERROR;
		}
		r = examine_dotlock(lk);
		if (r == LOCK_IGNORE)
			return MBOX_OK;
		/* Checked before a retry too: someone who plants a new file
		 * each time we remove one must not keep us here for ever. */
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec >= deadline->tv_sec)
			return MBOX_LOCKED;
		if (r == LOCK_RETRY)
			continue;
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

int lock_mbox(struct mbox_lock *lk, const struct spool *sp, int fd,
    int type)
{
	struct timespec deadline;
	int r;

	memset(lk, 0, sizeof(*lk));
	lk->sp = sp;
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

	r = take_dotlock(lk, &deadline);
	if (r != MBOX_OK) {
		unlock_mbox(lk);
		return r;
	}
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
		(void)spool_privileged(lk->sp, 1);
		r = unlinkat(lk->sp->dfd, lk->name, 0);
		(void)spool_privileged(lk->sp, 0);
		if (r < 0 && errno != ENOENT)
			log_msg(LOG_ERR, "cannot remove %s: %s", lk->dotlock,
			    strerror(errno));
		/* After an UPDATE the removal must survive a power cut too,
		 * or the lock comes back and MDAs that know no boot rule
		 * wait out its age; a read-only session pays nothing.  The
		 * directory's own descriptor: no group, no path. */
		else if (r == 0 && lk->sync_removal && fsync(lk->sp->dfd) < 0)
			log_msg(LOG_ERR, "cannot sync the directory of %s: %s",
			    lk->dotlock, strerror(errno));
		lk->have_dotlock = 0;
	}
	if (lk->blocked) {
		sigprocmask(SIG_SETMASK, &lk->old_mask, NULL);
		lk->blocked = 0;
	}
}

/*
 * lock.c - mbox locking as Postfix local(8), procmail, mutt and Dovecot
 * do it on Linux: a dot-lock file PATH.lock plus an fcntl(2) lock on the
 * mbox itself.  Both are waited for a bounded time.
 *
 * The dot-lock is created NFS-safely: a file holding our pid and host
 * name is written first and then link(2)ed to PATH.lock; link() is atomic
 * even on NFS.  Where the file system allows, the file is an unnamed
 * O_TMPFILE one, so a SIGKILL can leave no temporary file behind.  The
 * content is fsynced before the link, so a power cut leaves either no lock
 * or one naming its holder.
 *
 * The content is "PID HOSTNAME\n" because several front ends may share
 * one spool, on NFS or on a file system that looks local (a shared block
 * device, a bind mount into containers with UTS namespaces of their own):
 * a pid or a boot time from another machine says nothing here, so a lock
 * naming another host goes stale by age alone.  What other programs make
 * of this content, read in their sources (liblockfile 1.17 as Debian
 * ships it, procmail 3.24, mutt, Postfix, Exim, Dovecot) and tried with
 * Debian 12's dotlockfile and procmail 3.22:
 *  - liblockfile's lockfile_check() (dotlockfile -p) reads at most 16
 *    bytes and takes atoi() of them: our pid, the host ignored; without
 *    -p (maillock()) it reads nothing.  It still judges our pid on its
 *    own host.  (It stores a NUL at buf[len] of a 16-byte buffer, one past
 *    its end when it read 16 bytes, which a lock of ours of 16 bytes or
 *    more makes it do; Debian's build survives it.)
 *  - procmail never reads a lock, but forces (removes) an old one only if
 *    it is at most 16 bytes (MAX_locksize in its config.h): a longer lock
 *    of ours (a host name over 7 bytes with a 7-digit pid) that a SIGKILL
 *    or a power cut left is removed by pop3d's rules, never by procmail's
 *    age rule, and procmail waits for it until then.
 *  - mutt, Postfix local(8) and Exim write empty locks and never read
 *    one: Postfix and Exim break them by age (ctime), mutt only when its
 *    user says so.
 *  - Dovecot writes "PID:HOSTNAME" and judges the pid only when the host
 *    is its own; ours it judges by age.  We read its form as it does.
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
#include <sys/file.h>
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

_Static_assert(HOST_NAME_MAX <= DOTLOCK_HOST_MAX,
    "gethostname() may return a name no lock can hold");
_Static_assert(DOTLOCK_PID_DIGITS + 1 + DOTLOCK_HOST_MAX + 1 <
    DOTLOCK_MAX_SIZE, "our own lock would be too large to be judged");

/* The bytes a host name in a lock may hold: those of host names (RFC
 * 952, 1123) and the '_' some use anyway.  Nothing that could break a
 * log line, and nothing that could make "PID HOST" two words or more. */
static int host_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int space(unsigned char c)
{
	return blank(c) || c == '\r' || c == '\n';
}

int dotlock_holder(const char *content, size_t len, pid_t *pid_r,
    char *host_r)
{
	const unsigned char *s = (const unsigned char *)content;
	size_t i = 0, digits = 0, host, hlen;
	int64_t pid = 0;
	int colon, sep;

	*pid_r = 0;
	host_r[0] = '\0';
	while (i < len && space(s[i]))
		i++;
	/* At most DOTLOCK_PID_DIGITS digits: no overflow, whatever follows. */
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (++digits > DOTLOCK_PID_DIGITS)
			return DOTLOCK_UNREADABLE;
		pid = pid * 10 + (s[i] - '0');
	}
	if (digits == 0 || pid > INT_MAX)
		return DOTLOCK_UNREADABLE;
	/* Ours is "PID HOST", Dovecot's "PID:HOST"; no separator is a pid
	 * alone, or a pid with junk after it. */
	colon = i < len && s[i] == ':';
	sep = colon || (i < len && blank(s[i]));
	if (colon)
		i++;
	else
		while (i < len && blank(s[i]))
			i++;
	for (host = i; i < len && host_byte(s[i]); i++)
		if (i - host >= DOTLOCK_HOST_MAX)
			return DOTLOCK_UNREADABLE;
	hlen = i - host;
	while (i < len && space(s[i]))
		i++;
	/* A second word, a control or 8-bit byte, a NUL, a host glued to
	 * the pid, a ':' with no host after it: not a form we can read. */
	if (i != len || (hlen > 0 && !sep) || (hlen == 0 && colon))
		return DOTLOCK_UNREADABLE;
	if (hlen == 0) {
		/* "0" is how liblockfile's maillock() says "no pid". */
		*pid_r = (pid_t)pid;
		return DOTLOCK_ANONYMOUS;
	}
	if (pid == 0)
		return DOTLOCK_UNREADABLE;
	memcpy(host_r, s + host, hlen);
	host_r[hlen] = '\0';
	*pid_r = (pid_t)pid;
	return DOTLOCK_NAMED;
}

void dotlock_clean_host(char *host)
{
	for (; *host; host++)
		if (!host_byte((unsigned char)*host))
			*host = '_';
}

void dotlock_hostname(char *host_r)
{
	/* Linux's gethostname() fails rather than truncate when the buffer
	 * is too small, and ours holds HOST_NAME_MAX bytes and the NUL. */
	if (gethostname(host_r, DOTLOCK_HOST_MAX + 1) < 0)
		host_r[0] = '\0';
	host_r[DOTLOCK_HOST_MAX] = '\0';
	/* A byte a lock cannot hold becomes '_': two front ends whose names
	 * differ only there would take each other's locks for their own,
	 * but host names are letters, digits, dots and hyphens anyway. */
	dotlock_clean_host(host_r);
}

int dotlock_format(char *buf, size_t size, pid_t pid, const char *host)
{
	int n = host[0] ? snprintf(buf, size, "%ld %s\n", (long)pid, host) :
	    snprintf(buf, size, "%ld\n", (long)pid);

	return n < 0 || (size_t)n >= size ? -1 : n;
}

int dotlock_stale(const struct stat *st, const char *content, size_t len,
    time_t now, time_t boot_time, int local_fs, const char *our_host)
{
	char host[DOTLOCK_HOST_MAX + 1];
	pid_t pid;
	int future, holder;

	/* Anything but a small regular file is not a lock we understand:
	 * wait for it to go away, never remove it. */
	if (!S_ISREG(st->st_mode) || st->st_size >= DOTLOCK_MAX_SIZE)
		return DOTLOCK_HONOUR;
	/*
	 * Untouched for minutes.  A date in the future is a clock error
	 * (or a forgery), not a sign of life: it is judged by how far off
	 * it is, so no mtime can hold the maildrop for longer than twice
	 * DOTLOCK_STALE_SECONDS.  The comparisons stay clear of overflow
	 * whatever the mtime.  This rule, the only one that needs nothing
	 * from the holder's machine, judges every lock on every host.
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
	 * keeps us out of the mbox all the same.  Empty, a lock names no
	 * host, so the rule holds on every host as it always has (pop3d
	 * itself never leaves an empty lock: its content is durable before
	 * the link).
	 */
	if (no_content(content, len) &&
	    (st->st_mtime < now - DOTLOCK_EMPTY_SECONDS || future))
		return DOTLOCK_EMPTY;
	/*
	 * A lock naming another host, or one we cannot read (which may be
	 * another host's in a form we do not know), holds a pid of another
	 * machine, and a boot time here says nothing about it: age alone,
	 * whatever the file system looks like.
	 */
	holder = dotlock_holder(content, len, &pid, host);
	if (holder == DOTLOCK_UNREADABLE || (holder == DOTLOCK_NAMED &&
	    (!our_host[0] || strcmp(host, our_host) != 0)))
		return DOTLOCK_HONOUR;
	/* A pid and the boot time name this host's processes only; locks
	 * made over NFS from other hosts go stale by age alone.  Ours, and
	 * those naming no host (other MDAs, older pop3d), are judged as
	 * they always were. */
	if (!local_fs)
		return DOTLOCK_HONOUR;
	/* Made before the last boot (a power cut, a reboot): its holder is
	 * gone, and its pid may name an unrelated process now. */
	if (boot_time > 0 && st->st_mtime < boot_time - DOTLOCK_BOOT_SLACK)
		return DOTLOCK_BEFORE_BOOT;
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
 * host's, and whether flock(2) there is this kernel's own lock rather
 * than something the file system emulates with its byte-range locks:
 * not on network and cluster file systems, nor on FUSE, which may be
 * either (sshfs).
 */
int fs_is_local(int fd)
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
	char buf[DOTLOCK_MAX_SIZE], host[DOTLOCK_HOST_MAX + 1];
	struct stat st, fst;
	size_t len = 0;
	pid_t pid;
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
	    local, lk->host);
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
	/* The host, if any, is letters, digits and ".-_" (dotlock_holder). */
	(void)dotlock_holder(buf, len, &pid, host);
	log_msg(LOG_NOTICE, "removed stale lock %s (%s; pid %ld%s%s)",
	    lockpath, stale_why[verdict], (long)pid, host[0] ? ", host " : "",
	    host);
	return LOCK_RETRY;
}

/* Writes our pid and host name (the pid first, as every dot-lock reader
 * expects) and makes them durable before the caller links the file into
 * place: after a power cut the lock is either absent or names its
 * holder, never empty. */
static int write_holder(int fd, const char *host)
{
	char text[DOTLOCK_MAX_SIZE];
	int len = dotlock_format(text, sizeof(text), getpid(), host);

	if (len < 0) {
		errno = ENAMETOOLONG;	/* cannot be: see the assertions */
		return -1;
	}
	return write_full(fd, text, (size_t)len) < 0 || fsync(fd) < 0 ?
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
	if (write_holder(fd, lk->host) < 0) {
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
	if (write_holder(fd, lk->host) < 0 || close(fd) < 0) {
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
	char tmp[MAX_PATH_LEN];
	const char *path = lk->sp->path;
	struct timespec now;
	int r;

	if (spool_name(lk->sp, ".lock", lk->name, sizeof(lk->name),
	    lk->dotlock, sizeof(lk->dotlock)) < 0)
		return MBOX_ERROR;
	/* Named in the lock, and it keeps unique names unique across NFS
	 * clients (dotlock_hostname() leaves no '/' in it). */
	dotlock_hostname(lk->host);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%s.%ld.%ld", lk->name,
	    lk->host[0] ? lk->host : "localhost", (long)getpid(),
	    (long)time(NULL)) >= sizeof(tmp))
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

/* ------------------------------------------------------- session lock */

/*
 * On a local file system: flock(2) on the mbox.  MDAs on Linux lock with
 * fcntl(2), which is separate from flock there, so the session never
 * blocks a delivery, and the lock dies with the process.
 */
static int session_flock(const struct spool *sp, int mfd)
{
	if (flock(mfd, LOCK_EX | LOCK_NB) == 0)
		return MBOX_OK;
	if (errno == EWOULDBLOCK) {
		log_msg(LOG_NOTICE, "maildrop %s is in use by another POP3 "
		    "session", sp->path);
		return MBOX_IN_USE;
	}
	log_msg(LOG_ERR, "maildrop %s: flock: %s", sp->path, strerror(errno));
	return MBOX_ERROR;
}

/*
 * Elsewhere (NFS, CIFS, FUSE, cluster file systems) flock(2) is not the
 * kernel's own: over NFS Linux turns it into a whole-file fcntl lock of
 * the open file, which would hold off every delivery's fcntl lock on the
 * mbox for the whole session, and our own at login (flock(2), "NFS
 * details"; fs/nfs/file.c).  So the session locks a file of its own
 * instead, PATH.pop3d-session, with fcntl(2): NFSv4 and NLM carry that
 * lock to the other front ends, and no MDA ever locks that file.
 *
 * The file is created by the first session and then kept: removing a
 * lock file races (a session that opened it just before the unlink locks
 * a name nobody else will find).  It is never followed if it is a
 * symbolic link, and is used only if it is a regular file of the user's
 * with no other name: anything else was planted by someone who can write
 * the spool, and is refused, not removed, so the administrator sees it.
 */
static int session_file(const struct spool *sp, uid_t owner, int *fd_r)
{
	char name[MAX_PATH_LEN], path[MAX_PATH_LEN];
	struct flock fl;
	struct stat st;
	int fd, saved;

	if (spool_name(sp, SESSION_LOCK_SUFFIX, name, sizeof(name), path,
	    sizeof(path)) < 0) {
		log_msg(LOG_ERR, "maildrop %s: name too long for its session "
		    "lock", sp->path);
		return MBOX_ERROR;
	}
	/* Created the way the dot-lock is: with the mail group where the
	 * spool needs it (spool.c), as the user.  O_RDWR, not O_WRONLY: an
	 * fcntl write lock needs write access, and a FIFO planted there
	 * must open at once (O_NONBLOCK) to be refused below. */
	(void)spool_privileged(sp, 1);
	fd = openat(sp->dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK, 0600);
	saved = errno;
	(void)spool_privileged(sp, 0);
	if (fd < 0) {
		if (saved == ELOOP) {
			log_msg(LOG_ERR, "maildrop %s: %s is a symbolic link, "
			    "not followed; login refused until it is removed",
			    sp->path, path);
			return MBOX_BAD_FILE;
		}
		/*
		 * Not falling back to flock(2): over NFS that is the lock
		 * that holds off deliveries and makes our own login wait
		 * and fail.  A spool where the user cannot create this file
		 * is one where QUIT could not make its journal either.
		 */
		log_msg(LOG_ERR, "maildrop %s: cannot open or create its "
		    "session lock %s: %s; login refused (on this file system "
		    "one POP3 session per maildrop is kept by an fcntl lock on "
		    "that file: let the user create it there, or start pop3d "
		    "as root with the directory's group)", sp->path, path,
		    strerror(saved));
		return saved == EACCES || saved == EPERM || saved == EROFS ||
		    saved == ENXIO || saved == EISDIR ? MBOX_BAD_FILE :
		    MBOX_ERROR;
	}
	if (fstat(fd, &st) < 0) {
		log_msg(LOG_ERR, "%s: %s", path, strerror(errno));
		close(fd);
		return MBOX_ERROR;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != owner || st.st_nlink != 1) {
		log_msg(LOG_ERR, "maildrop %s: %s is not a regular file of uid "
		    "%lu with one name (mode %06o, owner uid %lu, %lu links): "
		    "not used as the session lock, login refused until it is "
		    "removed; the spool directory must not be writable by "
		    "other users", sp->path, path, (unsigned long)owner,
		    (unsigned int)st.st_mode,
		    (unsigned long)st.st_uid, (unsigned long)st.st_nlink);
		close(fd);
		return MBOX_BAD_FILE;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		saved = errno;
		close(fd);
		if (saved == EACCES || saved == EAGAIN) {
			log_msg(LOG_NOTICE, "maildrop %s is in use by another "
			    "POP3 session (fcntl lock on %s)", sp->path, path);
			return MBOX_IN_USE;
		}
		log_msg(LOG_ERR, "maildrop %s: fcntl lock on %s: %s%s",
		    sp->path, path, strerror(saved), saved == ENOLCK ?
		    " (NFSv3 needs lockd and statd on both sides)" : "");
		return MBOX_ERROR;
	}
	*fd_r = fd;
	return MBOX_OK;
}

int lock_session(const struct spool *sp, int mfd, uid_t owner, int *fd_r)
{
	*fd_r = -1;
	return fs_is_local(mfd) ? session_flock(sp, mfd) :
	    session_file(sp, owner, fd_r);
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

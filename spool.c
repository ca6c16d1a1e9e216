/*
 * spool.c - the maildrop's directory and the privileged mail group.
 *
 * Runs as the user.  On a stock Debian spool (/var/mail root:mail 2775) a
 * user cannot create MBOX.lock or the journal beside the mbox; MDAs and
 * mail readers use the group "mail" for that.  A root-started pop3d keeps
 * that group as its saved set-group-ID when it becomes the user
 * (session.c), and this file decides, once per session and before a byte
 * of mail is read, what happens to it:
 *
 *  - not needed (the user can write the directory, as with %h/mbox; or
 *    the group would not help): it is dropped from all three gids, and
 *    the drop is verified, so nothing later in the session -- the mbox
 *    parser, the code that serves mail strangers sent -- can get it back;
 *  - needed: the directory is opened once, checked (owned by root or the
 *    user, writable by the group, reached without a symbolic link anyone
 *    but root could have planted) and kept open.  Every name operation in
 *    it (lock, journal) is an *at() call on that descriptor, with the
 *    group effective only around the call.  A user who owns a component of
 *    the path and swaps it for a link after the check moves nothing: the
 *    descriptor still names the directory that was checked.
 *
 * The mbox itself is opened relative to the same descriptor, so its lock
 * and journal are always beside the file actually served.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "proto.h"

/* The mail group's gid, kept as saved set-group-ID; -1 for none. */
static gid_t priv_gid = (gid_t)-1;

void spool_set_group(gid_t gid)
{
	priv_gid = gid;
}

int spool_drop_group(void)
{
	gid_t g = getgid(), r, e, s, groups[SPOOL_MAX_GROUPS];
	int n;

	if (priv_gid == (gid_t)-1)
		return 0;
	/* The real gid is the user's (session.c set it): all three to it. */
	if (setresgid(g, g, g) < 0) {
		log_msg(LOG_CRIT, "cannot drop the mail group: %s",
		    strerror(errno));
		return -1;
	}
	if (getresgid(&r, &e, &s) < 0 || r != g || e != g || s != g) {
		log_msg(LOG_CRIT, "the mail group is still held after "
		    "dropping it");
		return -1;
	}
	/* Unprivileged, setegid() accepts only the real, effective or
	 * saved gid: success would mean the group is still ours somehow. */
	if (setegid(priv_gid) == 0 || errno != EPERM) {
		log_msg(LOG_CRIT, "the mail group could be regained after "
		    "dropping it");
		return -1;
	}
	/* session.c left the user's gid as the only one: more than a few
	 * (EINVAL) is as wrong as the mail group among them. */
	n = getgroups(SPOOL_MAX_GROUPS, groups);
	if (n < 0) {
		log_msg(LOG_CRIT, "getgroups: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (groups[i] == priv_gid) {
			log_msg(LOG_CRIT, "the mail group is a supplementary "
			    "group of the session");
			return -1;
		}
	priv_gid = (gid_t)-1;
	return 0;
}

/* Nobody but root can add, remove or replace entries here. */
static int root_only(const struct stat *st)
{
	return st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/*
 * Opens dir (O_PATH) one component at a time, never letting the kernel
 * follow a symbolic link: a link is followed here only when the directory
 * holding it is root's alone (root_only()), so only root can have placed
 * it (Red Hat's /var/mail -> spool/mail).  A link anywhere else -- in a
 * home directory, in a group-writable spool -- is refused with ELOOP.
 * Returns the descriptor, or -1 with errno.
 */
static int walk_dir(const char *dir)
{
	char todo[MAX_PATH_LEN], target[MAX_PATH_LEN], comp[NAME_MAX + 1];
	const char *p = todo;
	struct stat st;
	int cur, next, links = 0;
	ssize_t n;

	if (strlen(dir) >= sizeof(todo)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(todo, dir);	/* NOLINT(*.strcpy): length checked above */
	cur = open(dir[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY |
	    O_CLOEXEC);
	while (cur >= 0) {
		size_t len;

		while (*p == '/')
			p++;
		if (*p == '\0')
			return cur;
		len = strcspn(p, "/");
		if (len > NAME_MAX) {
			errno = ENAMETOOLONG;
			break;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		p += len;
		if (strcmp(comp, ".") == 0)
			continue;
		next = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			break;
		if (fstat(next, &st) < 0) {
			close(next);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			close(cur);
			cur = next;
			continue;
		}
		if (!S_ISLNK(st.st_mode)) {
			close(next);
			errno = ENOTDIR;
			break;
		}
		/* A link: read through its own descriptor, so what is read
		 * is the link that was looked at. */
		n = -1;
		if (fstat(cur, &st) == 0 && root_only(&st) &&
		    ++links <= SPOOL_MAX_LINKS)
			n = readlinkat(next, "", target, sizeof(target));
		else
			errno = ELOOP;
		close(next);
		if (n < 0)
			break;
		if (n == 0 || (size_t)n + 1 + strlen(p) >= sizeof(target)) {
			errno = n == 0 ? ENOENT : ENAMETOOLONG;
			break;
		}
		/* The rest of the walk: the link's text, then what was
		 * left of the path after it. */
		snprintf(target + n, sizeof(target) - (size_t)n, "/%s", p);
		strcpy(todo, target);	/* NOLINT(*.strcpy): same size */
		p = todo;
		if (todo[0] == '/') {
			close(cur);
			cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		}
	}
	if (cur >= 0) {
		int saved = errno;

		close(cur);
		errno = saved;
	}
	return -1;
}

/*
 * Whether names in the directory (open as dfd, described by st) need the
 * mail group, checked with the user's own ids.  Logs why a spool that
 * would need it is not trusted with it.
 */
static int group_needed(int dfd, const struct stat *st, const char *dir)
{
	struct stat wst;
	int wfd;

	if (priv_gid == (gid_t)-1)
		return 0;
	/* AT_EACCESS: the effective ids, the user's (the group is only
	 * saved now).  Writable without the group: it is not needed. */
	if (faccessat(dfd, ".", W_OK, AT_EACCESS) == 0)
		return 0;
	/* Not writable by the group either: it would not help. */
	if (st->st_gid != priv_gid || !(st->st_mode & S_IWGRP))
		return 0;
	/* The owner is judged by the owner's bits alone, never the
	 * group's: in the user's own directory the group cannot help. */
	if (st->st_uid == geteuid())
		return 0;
	if (st->st_uid != 0 ||
	    ((st->st_mode & S_IWOTH) && !(st->st_mode & S_ISVTX))) {
		log_msg(LOG_WARNING, "spool directory %s (owner uid %lu, mode "
		    "%04o) is not owned by root, or is writable "
		    "by everyone: the mail group is not used there", dir,
		    (unsigned long)st->st_uid,
		    (unsigned int)(st->st_mode & 07777));
		return 0;
	}
	/* The same directory, reached without a link someone other than
	 * root could have planted or swapped. */
	wfd = walk_dir(dir);
	if (wfd < 0) {
		log_msg(LOG_WARNING, "the path to spool directory %s cannot be "
		    "trusted with the mail group (%s): a component is a "
		    "symbolic link in a directory not root's alone; the group "
		    "is dropped", dir, strerror(errno));
		return 0;
	}
	if (fstat(wfd, &wst) < 0 || wst.st_dev != st->st_dev ||
	    wst.st_ino != st->st_ino) {
		log_msg(LOG_WARNING, "spool directory %s changed while it was "
		    "checked: the mail group is dropped", dir);
		close(wfd);
		return 0;
	}
	close(wfd);
	return 1;
}

void spool_warn_dir(const char *dir, const struct stat *st)
{
	/*
	 * Whoever can write the spool directory can plant files at the names
	 * pop3d and the MDAs use (USER.lock, the journal).  pop3d does not
	 * honour them (lock.c, journal.c), but in a sticky directory it
	 * cannot remove them either, and MDAs may still be stopped by them.
	 */
	if (st->st_mode & S_IWOTH)
		log_msg(LOG_WARNING, "spool directory %s is world-writable "
		    "(mode %04o): any local user can plant files at the lock "
		    "and journal names beside the mailboxes; make it root:mail "
		    "2775 as Debian ships /var/mail", dir,
		    (unsigned int)(st->st_mode & 07777));
}

int spool_open(struct spool *sp, const char *mbox)
{
	static int warned;
	char dir[MAX_PATH_LEN];
	const char *slash = strrchr(mbox, '/');
	struct stat st;
	int saved;

	sp->dfd = -1;
	sp->privileged = 0;
	if (strlen(mbox) >= sizeof(sp->path) ||
	    path_dir(dir, sizeof(dir), mbox) < 0) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	strcpy(sp->path, mbox);	/* NOLINT(*.strcpy): length checked */
	strcpy(sp->name, slash ? slash + 1 : mbox);	/* NOLINT(*.strcpy) */
	if (!sp->name[0] || strcmp(sp->name, ".") == 0 ||
	    strcmp(sp->name, "..") == 0) {
		errno = EISDIR;
		goto fail;
	}
	/* Symbolic links are followed here, as the kernel does for any
	 * file the user opens: with the user's rights only, they reach
	 * nothing the user could not reach.  group_needed() walks again,
	 * more strictly, before the group is trusted to this directory. */
	sp->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dfd < 0 || fstat(sp->dfd, &st) < 0)
		goto fail;
	/* Said once a process: each session checks its own maildrop. */
	if (!warned && (st.st_mode & S_IWOTH)) {
		warned = 1;
		spool_warn_dir(dir, &st);
	}
	sp->privileged = group_needed(sp->dfd, &st, dir);
	if (!sp->privileged && spool_drop_group() < 0) {
		spool_close(sp);
		return -2;
	}
	return 0;

fail:
	saved = errno;
	spool_close(sp);
	/* Nothing will use the group without a directory. */
	if (spool_drop_group() < 0)
		return -2;
	errno = saved;
	return -1;
}

void spool_close(struct spool *sp)
{
	if (sp->dfd >= 0)
		close(sp->dfd);
	sp->dfd = -1;
	sp->privileged = 0;
}

int spool_can_create(const struct spool *sp)
{
	int fd, r, saved;

	/*
	 * The real test, with the ids and group UPDATE will use: an unnamed
	 * O_TMPFILE file needs what creating a name needs (write and search
	 * permission, ACLs and LSMs included, a writable mount) and leaves
	 * nothing behind, not even after a SIGKILL.  Where the file system
	 * has no O_TMPFILE (NFS), the permission bits must do.
	 */
	(void)spool_privileged(sp, 1);
	fd = openat(sp->dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	saved = errno;
	if (fd < 0 && (saved == EOPNOTSUPP || saved == EISDIR ||
	    saved == EINVAL)) {
		r = faccessat(sp->dfd, ".", W_OK | X_OK, AT_EACCESS);
		saved = errno;
		fd = r == 0 ? -2 : -1;
	}
	(void)spool_privileged(sp, 0);
	if (fd >= 0)
		close(fd);
	if (fd != -1)
		return 1;
	errno = saved;
	if (saved == EACCES || saved == EPERM || saved == EROFS) {
		char dir[MAX_PATH_LEN];

		if (path_dir(dir, sizeof(dir), sp->path) < 0)
			strcpy(dir, "?");	/* NOLINT(*.strcpy) */
		log_msg(LOG_ERR, "maildrop %s: no file can be created in its "
		    "directory %s (%s), so deleted messages could never be "
		    "removed (QUIT needs %s.pop3d-journal and %s.lock there); "
		    "login refused.  Start pop3d as root with the directory's "
		    "group (-g, default mail), or let the user write it",
		    sp->path, dir, strerror(saved), sp->path, sp->path);
		return 0;
	}
	return -1;
}

int spool_privileged(const struct spool *sp, int on)
{
	if (!sp->privileged)
		return 0;
	if (on) {
		if (setresgid((gid_t)-1, priv_gid, (gid_t)-1) < 0) {
			log_msg(LOG_ERR, "cannot switch to the mail group: %s",
			    strerror(errno));
			return -1;
		}
		return 0;
	}
	/* Back to the user's gid, which is the real one.  This cannot fail
	 * for a process whose real gid it is; if it did, the session would
	 * go on parsing mail with the group: never. */
	if (setresgid((gid_t)-1, getgid(), (gid_t)-1) < 0 ||
	    getegid() != getgid()) {
		log_msg(LOG_CRIT, "cannot leave the mail group: %s; exiting",
		    strerror(errno));
		_exit(EXIT_FAILURE);
	}
	return 0;
}

int spool_name(const struct spool *sp, const char *suffix, char *name,
    size_t namesize, char *path, size_t pathsize)
{
	if ((size_t)snprintf(name, namesize, "%s%s", sp->name, suffix) >=
	    namesize || (path && (size_t)snprintf(path, pathsize, "%s%s",
	    sp->path, suffix) >= pathsize)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

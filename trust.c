/*
 * trust.c - may a configuration file be believed?  A file that decides
 * who logs in as whom (the password file) is only as trustworthy as the
 * least trusted account that can write it, or replace it by writing a
 * directory on the way to it.  So the file is reached one directory at a
 * time from "/", each step opened relative to the last (no path is looked
 * up twice, so nothing can be swapped between the check and the use), and
 * everything on the way must belong to a trusted account:
 *
 *   - trusted owners: root; and, when pop3d does not run as root (pipe
 *     mode), also the account it runs as, who could edit its own
 *     configuration anyway;
 *   - every directory, symbolic link and the file itself is owned by a
 *     trusted owner;
 *   - no directory is writable by group or others, unless it is sticky
 *     (like /tmp): then others may add names but not rename or remove the
 *     trusted owner's entries, which are the only ones we pass through;
 *   - the file is a regular file (not reached through a final symbolic
 *     link) that group and others cannot write.
 *
 * Symbolic links inside the path are followed, by us, under the same
 * rules, so a link from a trusted directory into an untrusted one fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

/* The kernel's own limit on links followed in one lookup (ELOOP). */
#define TRUST_MAX_LINKS 40

/* The walk: what is left to resolve and where it stands. */
struct walk {
	const char *path;	/* as the caller named it, for messages */
	uid_t extra;		/* trusted besides root, or (uid_t)-1 */
	char rest[2 * PATH_MAX];	/* components still to resolve */
	char at[PATH_MAX];	/* the directory reached, for messages */
	int fd;			/* that directory (O_PATH) */
	char *why;
	size_t why_size;
};

static void say(struct walk *w, const char *fmt, ...) ATTR_PRINTF(2, 3);

static void say(struct walk *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->why, w->why_size, fmt, ap);
	va_end(ap);
}

static int owner_ok(const struct walk *w, uid_t uid)
{
	return uid == 0 || (w->extra != (uid_t)-1 && uid == w->extra);
}

/* "root" or "root or uid N", for the messages. */
static const char *trusted_text(const struct walk *w, char *buf, size_t size)
{
	if (w->extra == (uid_t)-1)
		return "root";
	snprintf(buf, size, "root or uid %lu (pop3d's)",
	    (unsigned long)w->extra);
	return buf;
}

/* Judges the directory w->fd, named w->at.  Returns 0 or -1 (why set). */
static int dir_ok(struct walk *w)
{
	char who[64];
	struct stat st;

	if (fstat(w->fd, &st) < 0) {
		say(w, "cannot check directory %s on the way to %s: %s", w->at,
		    w->path, strerror(errno));
		return -1;
	}
	if (!owner_ok(w, st.st_uid)) {
		say(w, "directory %s on the way to %s is owned by uid %lu, not "
		    "%s, who could replace the file: chown root %s, or move "
		    "the file to a directory only root can write", w->at,
		    w->path, (unsigned long)st.st_uid,
		    trusted_text(w, who, sizeof(who)), w->at);
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		say(w, "directory %s on the way to %s is writable by group or "
		    "others (mode %04o), who could replace the file: chmod "
		    "go-w %s, or move the file to a directory only root can "
		    "write", w->at, w->path, (unsigned)(st.st_mode & 07777),
		    w->at);
		return -1;
	}
	return 0;
}

/* Enters directory name (a component) of w->fd.  Returns 0 or -1. */
static int enter(struct walk *w, const char *name)
{
	int fd = openat(w->fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	size_t len = strlen(w->at);

	if (fd < 0) {
		say(w, "cannot open directory %s/%s on the way to %s: %s",
		    strcmp(w->at, "/") ? w->at : "", name, w->path,
		    strerror(errno));
		return -1;
	}
	close(w->fd);
	w->fd = fd;
	if (!strcmp(name, "..")) {
		char *slash = strrchr(w->at, '/');

		/* The parent of "/" is "/". */
		if (slash && slash != w->at)
			*slash = '\0';
		else
			strcpy(w->at, "/");
	} else {
		/* Shorter than the whole path, which fits in PATH_MAX. */
		if (len + 1 + strlen(name) >= sizeof(w->at)) {
			say(w, "path %s too long", w->path);
			return -1;
		}
		if (strcmp(w->at, "/"))
			w->at[len++] = '/';
		memcpy(w->at + len, name, strlen(name) + 1);
	}
	return dir_ok(w);
}

/* Goes back to "/" (an absolute path or link target).  0 or -1. */
static int to_root(struct walk *w)
{
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		say(w, "cannot open /: %s", strerror(errno));
		return -1;
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	strcpy(w->at, "/");
	return dir_ok(w);
}

/*
 * Replaces the link name (a component of w->fd, whose lstat is st)
 * by its target in front of tail.  Returns 0 or -1.
 */
static int follow(struct walk *w, const char *name, const struct stat *st,
    const char *tail)
{
	char target[PATH_MAX], who[64];
	size_t tlen, rlen = strlen(tail);
	ssize_t n;

	if (!owner_ok(w, st->st_uid)) {
		const char *at = strcmp(w->at, "/") ? w->at : "";

		/* Like the other refusals, it says what to do: its owner
		 * could point it anywhere. */
		say(w, "symbolic link %s/%s on the way to %s is owned by uid "
		    "%lu, not %s, who could point it elsewhere: chown -h root "
		    "%s/%s, or name the file without the link", at, name,
		    w->path, (unsigned long)st->st_uid,
		    trusted_text(w, who, sizeof(who)), at, name);
		return -1;
	}
	n = readlinkat(w->fd, name, target, sizeof(target));
	if (n < 0 || (size_t)n >= sizeof(target) || n == 0) {
		say(w, "cannot read symbolic link %s/%s on the way to %s: %s",
		    w->at, name, w->path, n < 0 ? strerror(errno) :
		    "empty or too long");
		return -1;
	}
	tlen = (size_t)n;
	if (tlen + 1 + rlen >= sizeof(w->rest)) {
		say(w, "path %s too long once its links are followed",
		    w->path);
		return -1;
	}
	/* tail may point into rest: move it first. */
	memmove(w->rest + tlen + 1, tail, rlen + 1);
	memcpy(w->rest, target, tlen);
	w->rest[tlen] = '/';
	if (target[0] == '/')
		return to_root(w);
	return 0;
}

/* Opens the final component and judges the file.  Returns fd or -1. */
static int open_file(struct walk *w, const char *name)
{
	char who[64];
	struct stat st;
	int fd;

	/* O_NONBLOCK: a FIFO planted here must not hang us (it is refused
	 * below anyway). */
	fd = openat(w->fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP)
			say(w, "%s is a symbolic link; name the file itself",
			    w->path);
		else
			say(w, "cannot open %s: %s", w->path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		say(w, "%s is not a regular file", w->path);
		goto fail;
	}
	if (!owner_ok(w, st.st_uid)) {
		say(w, "%s is owned by uid %lu, not %s, who could edit it: "
		    "chown root %s", w->path, (unsigned long)st.st_uid,
		    trusted_text(w, who, sizeof(who)), w->path);
		goto fail;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		say(w, "%s is writable by group or others (mode %04o): chmod "
		    "go-w %s", w->path, (unsigned)(st.st_mode & 07777),
		    w->path);
		goto fail;
	}
	if (fcntl(fd, F_SETFL, 0) < 0) {
		say(w, "%s: %s", w->path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* The walk itself; w->fd is open at the start and closed by the caller. */
static int walk_to(struct walk *w)
{
	char name[NAME_MAX + 1];
	char *p = w->rest;
	int links = 0;

	for (;;) {
		struct stat st;
		size_t len;
		const char *tail;

		while (*p == '/')
			p++;
		if (*p == '\0') {
			say(w, "%s names a directory, not a file", w->path);
			return -1;
		}
		len = strcspn(p, "/");
		if (len > NAME_MAX) {
			say(w, "%s: a name in it is too long", w->path);
			return -1;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		tail = p + len;
		while (*tail == '/')
			tail++;
		if (*tail == '\0') {
			if (p[len] == '/' || !strcmp(name, ".") ||
			    !strcmp(name, "..")) {
				say(w, "%s names a directory, not a file",
				    w->path);
				return -1;
			}
			return open_file(w, name);
		}
		p = (char *)tail;
		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			if (enter(w, name) < 0)
				return -1;
			continue;
		}
		if (fstatat(w->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			say(w, "cannot open %s: %s", w->path, strerror(errno));
			return -1;
		}
		if (S_ISLNK(st.st_mode)) {
			if (++links > TRUST_MAX_LINKS) {
				say(w, "%s: too many symbolic links", w->path);
				return -1;
			}
			if (follow(w, name, &st, tail) < 0)
				return -1;
			p = w->rest;
			continue;
		}
		if (enter(w, name) < 0)
			return -1;
	}
}

int trust_open_for(const char *path, uid_t extra, char *why, size_t size)
{
	/* Large (two paths): static, as pop3d is single-threaded. */
	static struct walk w;
	char cwd[PATH_MAX];
	size_t plen = strlen(path), clen = 0;
	int fd = -1;

	memset(&w, 0, sizeof(w));
	w.path = path;
	w.extra = extra == 0 ? (uid_t)-1 : extra;
	w.why = why;
	w.why_size = size;
	w.fd = -1;
	why[0] = '\0';
	if (plen == 0) {
		say(&w, "empty file name");
		return -1;
	}
	/* A relative name goes through the directories to the current one
	 * too: they are judged like the rest. */
	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd))) {
			say(&w, "cannot resolve %s: getcwd: %s", path,
			    strerror(errno));
			return -1;
		}
		clen = strlen(cwd);
	}
	if (clen + 1 + plen >= sizeof(w.rest)) {
		say(&w, "path %s too long", path);
		return -1;
	}
	if (clen) {
		memcpy(w.rest, cwd, clen);
		w.rest[clen] = '/';
		clen++;
	}
	memcpy(w.rest + clen, path, plen + 1);
	if (to_root(&w) == 0)
		fd = walk_to(&w);
	if (w.fd >= 0)
		close(w.fd);
	return fd;
}

int trust_open(const char *path, char *why, size_t size)
{
	return trust_open_for(path, geteuid(), why, size);
}

/*
 * maildrop_maildir.c - the Maildir back end of the maildrop interface:
 * scanning new/ and cur/, moving new mail to cur/ at login, UIDLs from
 * the file names, streaming a message, and a crash-safe UPDATE through a
 * journal of the names to delete.  A courierpop3dsizelist Courier's
 * pop3d left in the Maildir is read (never written) so that the
 * messages it lists keep the ids Courier gave them.  With -I, the index
 * cache (maildir_cache.c) saves counting sizes and, while the directories
 * are unchanged, listing them ("the cache" below says what is trusted).
 *
 * Runs with the user's privileges, and only with them: a Maildir needs
 * no mail group, so it is given up before the first name is looked at.
 * Every name is reached relative to a directory descriptor opened once
 * (O_NOFOLLOW), and a message file must be a regular file owned by the
 * user: a link planted in the Maildir cannot lead us elsewhere.
 *
 * Maildir needs no lock against deliveries (a deliverer writes in tmp/
 * and renames into new/); one POP3 session at a time is kept by a flock
 * on the file pop3d-session, which dies with its process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <md5.h>

#include "proto.h"

/* The names pop3d keeps in the Maildir's top directory.  Neither starts
 * with "." (a Maildir++ folder) nor lives in tmp/, new/ or cur/, so no
 * mail reader or deliverer takes them for mail. */
#define SESSION_LOCK	"pop3d-session"
#define JOURNAL		"pop3d-journal"
#define JOURNAL_TMP	"pop3d-journal.tmp"
#define JOURNAL_MAGIC	"pop3d maildir journal 1\n"
/* Courier's record of its POP3 ids, which pop3d only reads. */
#define COURIER_SIZELIST "courierpop3dsizelist"

enum { DIR_CUR, DIR_NEW };
static const char *const dir_names[] = { "cur", "new" };

#define SIZE_UNVERIFIED	0x01	/* size a hint (",W=", the cache): verify
				 * by counting when first sent */
#define GONE		0x02	/* removed by another program */
#define SIZELISTED	0x04	/* a line of the sizelist names it */
#define COURIER_ID	0x08	/* shown as Courier's "UID<n>-<uidv>" */
#define SIZE_FROM_CACHE	0x10	/* the hint is the cache's, not the name's */

struct md_msg {
	char *name;		/* its name now, in dirs[dir] */
	size_t base_len;	/* the name up to its first ':' */
	int dir;		/* DIR_CUR or DIR_NEW */
	int flags;
	long long time;		/* delivery time: the name's, or mtime */
	uint64_t size;		/* octets RETR sends */
	uint64_t st_size;	/* the file's size at the scan */
	int64_t mtime_ns;	/* its mtime then, for the cache's key */
	ino_t ino;
	uint64_t cnum, cuidv;	/* Courier's id, if COURIER_ID */
};

struct maildir {
	char path[MAX_PATH_LEN];	/* for the logs */
	uid_t owner;
	int dfd;			/* the Maildir, or -1: none yet */
	int dirs[2];			/* cur/ and new/ */
	int lock_fd;
	struct md_msg *msgs;
	size_t count, alloc;
	unsigned char *buf;		/* MBOX_BLOCK_SIZE bytes */
	/* Names in new/ whose message also has a name in cur/ (a move at
	 * this login, or one a crash cut short): unlinked from new/ once
	 * cur/ is durable (move_new). */
	char **new_names;
	size_t new_count, new_alloc;
	int open_fd;			/* message open_n, checked, or -1 */
	size_t open_n;
	/* The cache (-I), if any: its path, what was read of it (raw and
	 * parsed), and the stamps of cur/ and new/ before the scan. */
	const char *cache_path;		/* cache_file, or NULL: no cache */
	char cache_file[MAX_PATH_LEN];
	int cache_dirty;		/* a hinted size was wrong */
	struct mdcache cache;
	unsigned char *cache_raw;
	size_t cache_len;
	struct stat stamps[2];
	time_t scan_start;
	unsigned workarounds;		/* WA_ bits, for sizes and RETR */
};

/* ---------------------------------------------------------- names */

size_t maildir_base_len(const char *name)
{
	const char *colon = strchr(name, ':');

	return colon ? (size_t)(colon - name) : strlen(name);
}

int maildir_name_size(const char *name, size_t base_len, uint64_t *size_r)
{
	const char *p = name, *end = name + base_len;

	/* ",W=" among the comma-separated fields after the unique part
	 * (Dovecot's and Courier's "virtual" size: CRLF line ends). */
	while ((p = memchr(p, ',', (size_t)(end - p))) != NULL) {
		uint64_t v = 0;
		const char *q = p + 1;

		p = q;
		if (end - q < 3 || q[0] != 'W' || q[1] != '=')
			continue;
		q += 2;
		if (q == end || *q < '0' || *q > '9')
			continue;
		while (q < end && *q >= '0' && *q <= '9') {
			if (v > (UINT64_MAX - 9) / 10)
				return -1;	/* no size is that large */
			v = v * 10 + (uint64_t)(*q++ - '0');
		}
		if (q != end && *q != ',')
			continue;
		*size_r = v;
		return 0;
	}
	return -1;
}

int maildir_name_time(const char *name, long long *time_r)
{
	long long v = 0;
	const char *p = name;

	/* "1700000000.M1P2.host": the delivery time, in seconds.  Beyond
	 * 18 digits it is no time a deliverer wrote. */
	while (*p >= '0' && *p <= '9' && p - name < 18)
		v = v * 10 + (*p++ - '0');
	if (p == name || *p != '.')
		return -1;
	*time_r = v;
	return 0;
}

void maildir_uid(const char *name, size_t base_len, char *buf)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;
	MD5_CTX ctx;
	unsigned char d[16];

	/* The base name as Courier's pop3d shows it (its "version 0" UIDL,
	 * the one its older versions gave every message): a byte outside
	 * 0x21-0x7E, and ' " and '+' itself (so that the mapping stays
	 * one-to-one), becomes "+XX" in upper-case hex, so a client moving
	 * from Courier sees the same ids (tests/e2e/maildir-courier.sh runs
	 * it).  qmail-pop3d shows the name as it is; the names qmail makes
	 * hold none of these bytes, so they are the same there too. */
	for (i = 0; i < base_len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c > 0x20 && c < 0x7F && c != '\'' && c != '"' && c != '+') {
			if (o + 1 > MAX_UID_LEN)
				break;
			buf[o++] = (char)c;
		} else {
			if (o + 3 > MAX_UID_LEN)
				break;
			buf[o++] = '+';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	if (i == base_len && o > 0) {
		buf[o] = '\0';
		return;
	}
	/*
	 * Longer than RFC 1939's 70 characters: the first 36 of the mapped
	 * name, "+-", and the MD5 of the whole base name in hex, 70 in all.
	 * (More than 36 were mapped before the loop stopped.)  A mapped
	 * name never holds "+-" (its '+' always starts "+XX"), so no file's
	 * literal name can give a hashed id -- "-" and a hex MD5 could, and
	 * fuzz/fuzz_maildir.c found a file named so beside ":2,S" -- and
	 * two hashed ids are equal only by an MD5 collision.
	 */
	MD5Init(&ctx);
	MD5Update(&ctx, (const unsigned char *)name, base_len);
	MD5Final(d, &ctx);
	/* An empty base name (a file named ":2,S") also lands here, with
	 * nothing mapped: its id is "+-" and the MD5 alone, never bytes of
	 * buf that were not written (fuzz/fuzz_maildir.c found that). */
	if (o > MAX_UID_LEN - 34)
		o = MAX_UID_LEN - 34;
	buf[o++] = '+';
	buf[o++] = '-';
	for (i = 0; i < 16; i++) {
		buf[o++] = hex[d[i] >> 4];
		buf[o++] = hex[d[i] & 15];
	}
	buf[o] = '\0';
}

/* ------------------------------------------------------------ checks */

/* May the directory or file st, found in the Maildir, be believed? It
 * must be the user's, and nobody else may write it (the user's own
 * group excepted). */
static int trusted(const struct maildir *md, const struct stat *st)
{
	if (st->st_uid != md->owner)
		return 0;
	if (st->st_mode & S_IWOTH)
		return 0;
	if ((st->st_mode & S_IWGRP) && st->st_gid != getgid())
		return 0;
	return 1;
}

static int open_dir(struct maildir *md, int at, const char *name)
{
	struct stat st;
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	if (!trusted(md, &st)) {
		log_msg(LOG_ERR, "Maildir %s: %s is not uid %lu's, or others "
		    "may write it; refused", md->path, name,
		    (unsigned long)md->owner);
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* Opens message file name in directory dfd for reading: a regular file
 * of the user's, not a link.  Returns the descriptor (st filled), or -1
 * with errno (EPERM: refused). */
static int open_message(const struct maildir *md, int dfd, const char *name,
    struct stat *st)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	if (!S_ISREG(st->st_mode) || st->st_uid != md->owner) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* The octets RETR sends for the len bytes of fd: MD_OK (in *size_r),
 * MD_CHANGED (shorter than len), MD_ERROR. */
static int count_size(struct maildir *md, int fd, uint64_t len,
    uint64_t *size_r)
{
	struct msg_size ms;
	uint64_t off = 0;

	memset(&ms, 0, sizeof(ms));
	while (off < len) {
		size_t want = len - off < MBOX_BLOCK_SIZE ?
		    (size_t)(len - off) : MBOX_BLOCK_SIZE;
		ssize_t got;

		do
			got = pread(fd, md->buf, want, (off_t)off);
		while (got < 0 && errno == EINTR);
		if (got < 0)
			return MD_ERROR;
		if (got == 0)
			return MD_CHANGED;
		msg_size_add(&ms, md->buf, (size_t)got);
		off += (uint64_t)got;
	}
	*size_r = msg_size_end(&ms, md->workarounds);
	return MD_OK;
}

/* ------------------------------------------------------------ scanning */

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* A new entry at the end of md->msgs for the len bytes of name, zeroed
 * but for name, base_len and dir; NULL (errno) if out of memory. */
static struct md_msg *push_message(struct maildir *md, int dir,
    const char *name, size_t len)
{
	struct md_msg *m;

	if (md->count == md->alloc) {
		size_t n = md->alloc ? md->alloc * 2 : 64;
		struct md_msg *p;

		/* The mbox's bound: a directory of millions of files
		 * must not make the session grow without end. */
		if (n > MAX_MAILBOX_MESSAGES)
			n = MAX_MAILBOX_MESSAGES;
		if (md->count >= n) {
			errno = EFBIG;
			return NULL;
		}
		p = realloc(md->msgs, n * sizeof(*p));
		if (!p)
			return NULL;
		md->msgs = p;
		md->alloc = n;
	}
	m = &md->msgs[md->count];
	memset(m, 0, sizeof(*m));
	m->name = malloc(len + 1);
	if (!m->name)
		return NULL;
	memcpy(m->name, name, len);
	m->name[len] = '\0';
	m->base_len = maildir_base_len(m->name);
	m->dir = dir;
	md->count++;
	return m;
}

static int add_message(struct maildir *md, int dir, const char *name,
    const struct stat *st)
{
	struct md_msg *m = push_message(md, dir, name, strlen(name));

	if (!m)
		return -1;
	m->st_size = (uint64_t)st->st_size;
	m->mtime_ns = ns_of(&st->st_mtim);
	m->ino = st->st_ino;
	if (maildir_name_time(m->name, &m->time) < 0)
		m->time = (long long)st->st_mtim.tv_sec;
	return 0;
}

/* Lists the messages of one directory: regular files of the user's,
 * names not starting with '.'; anything else is logged and left out. */
static int scan_dir(struct maildir *md, int dir)
{
	int fd = openat(md->dirs[dir], ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int r = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (;;) {
		struct stat st;
		char shown[64];

		errno = 0;
		/* readdir_r() is deprecated (glibc); pop3d has one thread. */
		/* cppcheck-suppress readdirCalled */
		de = readdir(d);
		if (!de) {
			if (errno)
				r = -1;
			break;
		}
		if (de->d_name[0] == '.' || maildir_base_len(de->d_name) == 0)
			continue;
		if (fstatat(md->dirs[dir], de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;	/* moved or removed meanwhile */
			r = -1;
			break;
		}
		if (!S_ISREG(st.st_mode) || st.st_uid != md->owner) {
			log_escape(shown, sizeof(shown), de->d_name,
			    strlen(de->d_name));
			log_msg(LOG_WARNING, "Maildir %s: %s/%s is not a "
			    "regular file of uid %lu; not served", md->path,
			    dir_names[dir], shown, (unsigned long)md->owner);
			continue;
		}
		if (add_message(md, dir, de->d_name, &st) < 0) {
			r = -1;
			break;
		}
	}
	closedir(d);
	return r;
}

static int by_base(const void *a, const void *b)
{
	const struct md_msg *x = a, *y = b;
	size_t n = x->base_len < y->base_len ? x->base_len : y->base_len;
	int c = memcmp(x->name, y->name, n);

	if (c)
		return c;
	if (x->base_len != y->base_len)
		return x->base_len < y->base_len ? -1 : 1;
	return x->dir - y->dir;		/* cur/ first */
}

static int by_delivery(const void *a, const void *b)
{
	const struct md_msg *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return by_base(a, b);
}

/* Drops the entries marked GONE, keeping the order. */
static void compact(struct maildir *md)
{
	size_t i, o = 0;

	for (i = 0; i < md->count; i++) {
		if (md->msgs[i].flags & GONE)
			free(md->msgs[i].name);
		else
			md->msgs[o++] = md->msgs[i];
	}
	md->count = o;
}

static int keep_new_name(struct maildir *md, char *name)
{
	if (md->new_count == md->new_alloc) {
		size_t n = md->new_alloc ? md->new_alloc * 2 : 16;
		char **p;

		if (n > SIZE_MAX / sizeof(*p) / 2) {
			errno = ENOMEM;
			return -1;
		}
		p = realloc(md->new_names, n * sizeof(*p));
		if (!p)
			return -1;
		md->new_names = p;
		md->new_alloc = n;
	}
	md->new_names[md->new_count++] = name;
	return 0;
}

/*
 * Two files with one base name (a copy in new/ and in cur/): the first
 * is served, the other left alone, so that every UIDL stays unique.  A
 * new/ name of the very file the cur/ name is (one inode: a move from
 * new/ to cur/ a crash cut between its link and its unlink) is the same
 * message, not a copy: its new/ name is removed with this login's moves,
 * or a later DELE would leave it to be served again.
 */
static int drop_duplicates(struct maildir *md)
{
	struct stat cur, new;
	int same_fs;
	size_t i, kept = 0;

	if (md->count == 0)
		return 0;
	if (fstat(md->dirs[DIR_CUR], &cur) < 0 ||
	    fstat(md->dirs[DIR_NEW], &new) < 0)
		return -1;
	same_fs = cur.st_dev == new.st_dev;
	qsort(md->msgs, md->count, sizeof(md->msgs[0]), by_base);
	for (i = 1; i < md->count; i++) {
		/* p: the one served of the names with m's base name. */
		struct md_msg *p = &md->msgs[kept], *m = &md->msgs[i];
		char shown[64];

		if (p->base_len != m->base_len ||
		    memcmp(p->name, m->name, m->base_len)) {
			kept = i;
			continue;
		}
		m->flags |= GONE;
		if (same_fs && p->dir == DIR_CUR && m->dir == DIR_NEW &&
		    p->ino == m->ino) {
			if (keep_new_name(md, m->name) < 0)
				return -1;
			m->name = NULL;
			continue;
		}
		log_escape(shown, sizeof(shown), m->name, strlen(m->name));
		log_msg(LOG_WARNING, "Maildir %s: %s/%s has the base name of "
		    "another message; not served", md->path,
		    dir_names[m->dir], shown);
	}
	compact(md);
	return 0;
}

/*
 * At login, new mail moves to cur/ as qmail-pop3d and Dovecot move it:
 * the same name with ":2," (no flags) added, so that a mail reader sees
 * it as seen by a client.  Not by rename(2): a file system that does not
 * journal its directories can keep, after a power cut, the rename's
 * removal from new/ without its entry in cur/ (the message lost).  So the
 * file is linked into cur/ (never over another file), cur/ is fsynced,
 * and only then is the new/ name removed: a cut leaves the message in
 * new/, or in both under one inode, which the next login completes
 * (drop_duplicates).  Where the file system has no hard links the move
 * is a rename(2), RENAME_NOREPLACE, as safe as that file system makes it.
 * A message another program moved first is left out of this session; one
 * that cannot be moved is served from new/.
 */
static int hard_links_unsupported(int e)
{
	return e == EPERM || e == EOPNOTSUPP || e == EMLINK || e == ENOSYS;
}

/* Whether cur/to is already the file new/name is: a move this login
 * began and a crash cut short between the link and the unlink. */
static int linked_before(struct maildir *md, const char *name,
    const char *to)
{
	struct stat a, b;

	return fstatat(md->dirs[DIR_NEW], name, &a, AT_SYMLINK_NOFOLLOW) ==
	    0 && fstatat(md->dirs[DIR_CUR], to, &b, AT_SYMLINK_NOFOLLOW) ==
	    0 && S_ISREG(a.st_mode) && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino;
}

static int move_one(struct maildir *md, struct md_msg *m)
{
	size_t len = strlen(m->name);
	char shown[64];
	char *to = malloc(len + 4);
	int e;

	if (!to)
		return -1;
	memcpy(to, m->name, len + 1);
	if (!strchr(to, ':'))
		memcpy(to + len, ":2,", 4);
	e = linkat(md->dirs[DIR_NEW], m->name, md->dirs[DIR_CUR], to, 0) ==
	    0 ? 0 : errno;
	if (e == 0 || (e == EEXIST && linked_before(md, m->name, to))) {
		if (keep_new_name(md, m->name) < 0) {
			free(to);
			return -1;
		}
	} else if (hard_links_unsupported(e) &&
	    renameat2(md->dirs[DIR_NEW], m->name, md->dirs[DIR_CUR], to,
	    RENAME_NOREPLACE) == 0) {
		free(m->name);
	} else {
		if (hard_links_unsupported(e))
			e = errno;	/* the rename's */
		free(to);
		if (e == ENOENT) {
			m->flags |= GONE;	/* another program's now */
			return 0;
		}
		log_escape(shown, sizeof(shown), m->name, len);
		log_msg(LOG_WARNING, "Maildir %s: cannot move new/%s to cur/: "
		    "%s; served from new/", md->path, shown, strerror(e));
		return 0;
	}
	m->name = to;
	m->dir = DIR_CUR;
	return 0;
}

static int move_new(struct maildir *md)
{
	size_t i;

	for (i = 0; i < md->count; i++)
		if (md->msgs[i].dir == DIR_NEW && move_one(md, &md->msgs[i]) <
		    0)
			return -1;
	compact(md);
	if (md->new_count == 0)
		return 0;
	/* Both names stand until cur/'s is on disk; a failure here leaves
	 * them for the next login, which finishes the move. */
	if (fsync(md->dirs[DIR_CUR]) < 0)
		return -1;
	for (i = 0; i < md->new_count; i++) {
		if (unlinkat(md->dirs[DIR_NEW], md->new_names[i], 0) < 0 &&
		    errno != ENOENT)
			return -1;
	}
	/* new/ needs no fsync: a name it keeps after a cut is found with
	 * its cur/ twin and removed at the next login. */
	return 0;
}

/*
 * Finds the file of message m again after its name went (a mail reader
 * changed its flags: the base name stays, the part after ':' changes):
 * in cur/, then new/.  Returns 1 (m->name and dir updated), 0 (gone), -1.
 */
static int find_again(struct maildir *md, struct md_msg *m)
{
	int dir;

	for (dir = DIR_CUR; dir <= DIR_NEW; dir++) {
		int fd = openat(md->dirs[dir], ".", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;
		int found = 0;

		if (!d) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		/* cppcheck-suppress readdirCalled */
		while ((de = readdir(d)) != NULL) {
			if (maildir_base_len(de->d_name) == m->base_len &&
			    !memcmp(de->d_name, m->name, m->base_len)) {
				size_t len = strlen(de->d_name);
				char *p = malloc(len + 1);

				if (!p) {
					closedir(d);
					return -1;
				}
				memcpy(p, de->d_name, len + 1);
				free(m->name);
				m->name = p;
				m->dir = dir;
				found = 1;
				break;
			}
		}
		closedir(d);
		if (found)
			return 1;
	}
	return 0;
}

/* -------------------------------------------------------------- journal */

/*
 * The journal of an UPDATE: JOURNAL_MAGIC, then the base names to delete,
 * each ended by a NUL byte, then one more NUL.  Base names, not file
 * names: a mail reader may rename a file (its flags) after the journal
 * was written, and recovery must still find it.  It is written under a
 * temporary name and renamed into place once synced, so a journal that
 * exists is whole.
 */
static int write_journal(struct maildir *md, const unsigned char *deleted)
{
	size_t i;
	int fd, r = -1;

	if (unlinkat(md->dfd, JOURNAL_TMP, 0) < 0 && errno != ENOENT)
		return -1;
	fd = openat(md->dfd, JOURNAL_TMP, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write_full(fd, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC)) < 0)
		goto out;
	for (i = 0; i < md->count; i++) {
		if (!deleted[i])
			continue;
		if (write_full(fd, md->msgs[i].name, md->msgs[i].base_len) < 0 ||
		    write_full(fd, "", 1) < 0)
			goto out;
	}
	if (write_full(fd, "", 1) < 0 || fsync(fd) < 0)
		goto out;
	if (renameat(md->dfd, JOURNAL_TMP, md->dfd, JOURNAL) < 0)
		goto out;
	/* The journal's name must be on disk before any message goes. */
	if (fsync(md->dfd) < 0)
		goto out;
	r = 0;
out:
	if (close(fd) < 0)
		r = -1;
	if (r < 0) {
		int saved = errno;

		(void)unlinkat(md->dfd, JOURNAL_TMP, 0);
		errno = saved;
	}
	return r;
}

/* Removes message m's file (or, if a mail reader renamed it, the file
 * with its base name).  Returns 0 (removed or already gone), -1. */
static int remove_message(struct maildir *md, struct md_msg *m)
{
	int r;

	if (unlinkat(md->dirs[m->dir], m->name, 0) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	r = find_again(md, m);
	if (r <= 0)
		return r;
	if (unlinkat(md->dirs[m->dir], m->name, 0) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* The directories' entries, removed or renamed, made durable. */
static int sync_dirs(struct maildir *md)
{
	return fsync(md->dirs[DIR_CUR]) < 0 || fsync(md->dirs[DIR_NEW]) < 0 ?
	    -1 : 0;
}

/* Removes the journal once its work is on disk. */
static int finish_journal(struct maildir *md)
{
	if (unlinkat(md->dfd, JOURNAL, 0) < 0 && errno != ENOENT)
		return -1;
	return fsync(md->dfd);
}

int maildir_journal_parse(const unsigned char *p, size_t len,
    int (*fn)(void *ctx, const char *base, size_t base_len), void *ctx)
{
	size_t magic = strlen(JOURNAL_MAGIC), i;

	if (len < magic + 1 || memcmp(p, JOURNAL_MAGIC, magic) ||
	    p[len - 1] != '\0')
		return -1;
	for (i = magic; i < len - 1;) {
		const unsigned char *nul = memchr(p + i, '\0', len - 1 - i);
		size_t n;

		if (!nul)
			return -1;	/* the last name has no end */
		n = (size_t)(nul - (p + i));
		/* A base name: 1..NAME_MAX bytes, no '/' or ':'. */
		if (n == 0 || n > NAME_MAX || memchr(p + i, '/', n) ||
		    memchr(p + i, ':', n))
			return -1;
		if (fn && fn(ctx, (const char *)p + i, n) < 0)
			return -1;
		i += n + 1;
	}
	/* What ends the list must be the last byte: one more NUL. */
	return i == len - 1 ? 0 : -1;
}

/* The message with that base name, or NULL.  md->msgs must be in base
 * name order (drop_duplicates), one message a base name: a binary
 * search, so a journal or a sizelist of many names stays cheap. */
static struct md_msg *find_base(struct maildir *md, const char *base,
    size_t base_len)
{
	size_t lo = 0, hi = md->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct md_msg *m = &md->msgs[mid];
		size_t n = m->base_len < base_len ? m->base_len : base_len;
		int c = memcmp(m->name, base, n);

		if (c == 0 && m->base_len != base_len)
			c = m->base_len < base_len ? -1 : 1;
		if (c == 0)
			return m;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Marks the message with that base name GONE (it is to be deleted). */
static int mark_journalled(void *ctx, const char *base, size_t base_len)
{
	struct md_msg *m = find_base(ctx, base, base_len);

	if (m)
		m->flags |= GONE;
	return 0;
}

/*
 * Completes an UPDATE a crash interrupted: every message the journal
 * names that is still here goes (names already gone are what the crash
 * left), then the journal.  Called after the scan, before new/ is moved.
 * Returns MD_OK, MD_JOURNAL (damaged: nothing touched) or MD_ERROR.
 */
static int recover(struct maildir *md)
{
	struct stat st;
	unsigned char *p = NULL;
	size_t i;
	int fd, r = MD_ERROR;

	if (unlinkat(md->dfd, JOURNAL_TMP, 0) < 0 && errno != ENOENT)
		return MD_ERROR;	/* never renamed: nothing was done */
	fd = openat(md->dfd, JOURNAL, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? MD_OK : MD_ERROR;
	if (fstat(fd, &st) < 0)
		goto out;
	/* No allocation from a size someone else chose: the file must be
	 * ours, and no bigger than a journal of MAILDIR_JOURNAL_MAX. */
	r = MD_JOURNAL;
	if (!S_ISREG(st.st_mode) || st.st_uid != md->owner ||
	    (uint64_t)st.st_size > MAILDIR_JOURNAL_MAX) {
		log_msg(LOG_ERR, "Maildir %s: %s is not a journal of pop3d's; "
		    "remove it to serve this Maildir", md->path, JOURNAL);
		goto out;
	}
	p = malloc((size_t)st.st_size + 1);
	r = MD_ERROR;
	if (!p || read_full(fd, p, (size_t)st.st_size) < 0)
		goto out;
	if (maildir_journal_parse(p, (size_t)st.st_size, mark_journalled,
	    md) < 0) {
		log_msg(LOG_ERR, "Maildir %s: %s is damaged; nothing deleted, "
		    "remove it to serve this Maildir", md->path, JOURNAL);
		r = MD_JOURNAL;
		goto out;
	}
	for (i = 0; i < md->count; i++)
		if ((md->msgs[i].flags & GONE) &&
		    remove_message(md, &md->msgs[i]) < 0)
			goto out;
	if (sync_dirs(md) < 0 || finish_journal(md) < 0)
		goto out;
	log_msg(LOG_NOTICE, "Maildir %s: completed an interrupted UPDATE",
	    md->path);
	compact(md);
	r = MD_OK;
out:
	if (r == MD_ERROR)
		log_msg(LOG_ERR, "Maildir %s: cannot complete the interrupted "
		    "UPDATE in %s: %s", md->path, JOURNAL, strerror(errno));
	free(p);
	close(fd);
	return r;
}

/* ------------------------------------------------------------ sizes */

/* Every message's size: from the cache (reuse_sizes) or from ",W=" when
 * the name has a plausible one (either verified when it is sent), else
 * counted from the file. */
static int size_messages(struct maildir *md)
{
	size_t i;

	for (i = 0; i < md->count; i++) {
		struct md_msg *m = &md->msgs[i];
		struct stat st;
		uint64_t w;
		int fd, r;

		if (m->flags & SIZE_UNVERIFIED)
			continue;	/* the cache's (reuse_sizes) */
		/* Each LF may become CRLF, and a last line gets one.  A
		 * ",W=" size says nothing of the header's end, which
		 * oe-ns-eoh needs: then every message is counted. */
		if (!(md->workarounds & WA_OE_NS_EOH) &&
		    maildir_name_size(m->name, m->base_len, &w) == 0 &&
		    w >= m->st_size && w - m->st_size <= m->st_size + 2) {
			m->size = w;
			m->flags |= SIZE_UNVERIFIED;
			continue;
		}
		fd = open_message(md, md->dirs[m->dir], m->name, &st);
		if (fd < 0) {
			if (errno != ENOENT && errno != EPERM)
				return -1;
			m->flags |= GONE;	/* removed or replaced */
			continue;
		}
		r = st.st_ino == m->ino ? count_size(md, fd, (uint64_t)
		    st.st_size, &m->size) : MD_CHANGED;
		m->st_size = (uint64_t)st.st_size;
		m->mtime_ns = ns_of(&st.st_mtim);
		close(fd);
		if (r == MD_ERROR)
			return -1;
		if (r != MD_OK)
			m->flags |= GONE;
	}
	compact(md);
	return 0;
}

/* ------------------------------------------------ Courier's sizelist */

/*
 * A site moving from Courier's pop3d: Courier gives a message it sees
 * for the first time the id "UID<n>-<uidvalidity>" and records it in
 * courierpop3dsizelist, so without that file every such message would
 * look new to the clients and be downloaded again.  The format, as
 * Courier writes it (and as tests/e2e/maildir-courier.sh sees it do):
 *
 *	/3 NEXTUID UIDVALIDITY
 *	NAME SIZE N:UIDV:UTF8		(one line a message; "/2": N:UIDV)
 *
 * NAME is the file name in cur/ (flags included), split off at the last
 * two spaces, since a name may hold spaces.  N 0 means Courier shows the
 * "version 0" id, the base name, which maildir_uid already gives.  pop3d
 * never writes the file: Courier stays free to go on using it, and
 * messages it does not list get base-name ids.
 *
 * Courier skips lines it cannot read; pop3d takes the file whole or not
 * at all (a damaged file half used would change some ids and not
 * others, and a client would see them as new mail).
 */

/* A decimal number of 1 to 20 digits, no sign, space or overflow, that
 * is all of [p, end): 0 with *v, or -1. */
static int parse_u64(const unsigned char *p, const unsigned char *end,
    uint64_t *v)
{
	uint64_t x = 0;

	if (p >= end || end - p > 20)
		return -1;
	for (; p < end; p++) {
		unsigned d = (unsigned)*p - '0';

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

/* The header "/V NEXTUID UIDVALIDITY" in [p, end): its version (2 or
 * 3, the two Courier reads), or -1. */
static int sizelist_header(const unsigned char *p, const unsigned char *end)
{
	const unsigned char *s1, *s2;
	uint64_t v;

	if (end - p < 2 || p[0] != '/' || (p[1] != '2' && p[1] != '3'))
		return -1;
	s1 = p + 2;
	if (s1 >= end || *s1 != ' ')
		return -1;
	s2 = memchr(s1 + 1, ' ', (size_t)(end - s1 - 1));
	if (!s2 || parse_u64(s1 + 1, s2, &v) < 0 ||
	    parse_u64(s2 + 1, end, &v) < 0)
		return -1;
	return p[1] - '0';
}

int maildir_sizelist_parse(const unsigned char *p, size_t len,
    int (*fn)(void *ctx, const char *name, size_t name_len, uint64_t n,
    uint64_t uidv), void *ctx, size_t *line_r)
{
	const unsigned char *end = p + len, *nl;
	int version;

	*line_r = 1;
	nl = len ? memchr(p, '\n', len) : NULL;
	if (!nl || (version = sizelist_header(p, nl)) < 0)
		return -1;
	for (p = nl + 1; p < end; p = nl + 1) {
		const unsigned char *s1, *s2, *c1, *c2;
		uint64_t size, n, uidv, utf8;

		++*line_r;
		/* Every line ends with LF: a file cut short is no list. */
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return -1;
		s1 = memrchr(p, ' ', (size_t)(nl - p));
		s2 = s1 ? memrchr(p, ' ', (size_t)(s1 - p)) : NULL;
		/* A file name: 1..NAME_MAX bytes, no '/' or NUL. */
		if (!s2 || s2 == p || s2 - p > NAME_MAX ||
		    memchr(p, '/', (size_t)(s2 - p)) ||
		    memchr(p, '\0', (size_t)(s2 - p)) ||
		    parse_u64(s2 + 1, s1, &size) < 0)
			return -1;
		c1 = memchr(s1 + 1, ':', (size_t)(nl - s1 - 1));
		if (!c1 || parse_u64(s1 + 1, c1, &n) < 0)
			return -1;
		c2 = memchr(c1 + 1, ':', (size_t)(nl - c1 - 1));
		if (version == 2) {
			if (c2 || parse_u64(c1 + 1, nl, &uidv) < 0)
				return -1;
		} else if (!c2 || parse_u64(c1 + 1, c2, &uidv) < 0 ||
		    parse_u64(c2 + 1, nl, &utf8) < 0 || utf8 > 1) {
			return -1;
		}
		if (fn && fn(ctx, (const char *)p, (size_t)(s2 - p), n,
		    uidv) < 0)
			return -1;
	}
	return 0;
}

void maildir_courier_uid(uint64_t n, uint64_t uidv, char *buf)
{
	/* As Courier prints it; 3 + 20 + 1 + 20 characters at most. */
	if (uidv)
		snprintf(buf, MAX_UID_LEN + 1, "UID%llu-%llu",
		    (unsigned long long)n, (unsigned long long)uidv);
	else
		snprintf(buf, MAX_UID_LEN + 1, "UID%llu",
		    (unsigned long long)n);
}

/*
 * Gives the message a sizelist line names its id.  Courier matches a
 * line to a file when both names are the same up to a ':' both have
 * there (the flags after it may differ), or the same whole when neither
 * has one: the same base name, and a ':' on both sides or on neither.
 * A line for no message here (deleted since) is left alone; two lines
 * for one message make the file ambiguous: -1.
 */
static int match_sizelist(void *ctx, const char *name, size_t name_len,
    uint64_t n, uint64_t uidv)
{
	const char *colon = memchr(name, ':', name_len);
	size_t base_len = colon ? (size_t)(colon - name) : name_len;
	struct md_msg *m = find_base(ctx, name, base_len);

	if (!m || (m->name[m->base_len] == ':') != (colon != NULL))
		return 0;
	if (m->flags & SIZELISTED)
		return -1;
	m->flags |= SIZELISTED;
	if (n) {
		m->flags |= COURIER_ID;
		m->cnum = n;
		m->cuidv = uidv;
	}
	return 0;
}

/*
 * Reads the Maildir's courierpop3dsizelist, if any, into the messages'
 * ids; md->msgs in base name order.  A file that is refused (not a
 * regular file of the user's, writable by others, too large, malformed)
 * is ignored, logged, and every message keeps its base-name id: a lasting
 * state, the same at every login.  A failure that may pass (out of
 * memory, an I/O error) fails the login instead (-1), so that no session
 * shows other ids than the next.
 */
static int read_sizelist(struct maildir *md)
{
	struct stat st;
	unsigned char *p = NULL;
	size_t line, i;
	int fd, r = -1;

	fd = openat(md->dfd, COURIER_SIZELIST, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != ELOOP && errno != EACCES)
			return -1;
		log_msg(LOG_WARNING, "Maildir %s: cannot open %s: %s; "
		    "ignored, messages get base-name UIDLs", md->path,
		    COURIER_SIZELIST, strerror(errno));
		return 0;
	}
	if (fstat(fd, &st) < 0)
		goto out;
	r = 0;
	/* Someone else's file could choose the ids, and its size what we
	 * allocate. */
	if (!S_ISREG(st.st_mode) || !trusted(md, &st)) {
		log_msg(LOG_WARNING, "Maildir %s: %s is not a regular file of "
		    "uid %lu, or others may write it; ignored, messages get "
		    "base-name UIDLs", md->path, COURIER_SIZELIST,
		    (unsigned long)md->owner);
		goto out;
	}
	if ((uint64_t)st.st_size > COURIER_SIZELIST_MAX) {
		log_msg(LOG_WARNING, "Maildir %s: %s is larger than %lu "
		    "bytes; ignored, messages get base-name UIDLs", md->path,
		    COURIER_SIZELIST, (unsigned long)COURIER_SIZELIST_MAX);
		goto out;
	}
	r = -1;
	p = malloc((size_t)st.st_size + 1);
	/* Courier replaces the file by a rename, never rewrites it: the
	 * open file keeps its size (EIO if it does not). */
	if (!p || read_full(fd, p, (size_t)st.st_size) < 0)
		goto out;
	r = 0;
	if (maildir_sizelist_parse(p, (size_t)st.st_size, match_sizelist, md,
	    &line) < 0) {
		log_msg(LOG_WARNING, "Maildir %s: %s line %lu is malformed or "
		    "a second line for one message; the file is ignored, "
		    "messages get base-name UIDLs", md->path,
		    COURIER_SIZELIST, (unsigned long)line);
		for (i = 0; i < md->count; i++)
			md->msgs[i].flags &= ~(SIZELISTED | COURIER_ID);
	}
out:
	free(p);
	close(fd);
	return r;
}

struct id_slot {
	char id[MAX_UID_LEN + 1];
	size_t i;		/* the message's index */
	int courier;		/* COURIER_ID: the id is from the sizelist */
};

static void message_uid(const struct md_msg *m, char *buf)
{
	if (m->flags & COURIER_ID)
		maildir_courier_uid(m->cnum, m->cuidv, buf);
	else
		maildir_uid(m->name, m->base_len, buf);
}

/* Equal ids together; among them a base-name id first (base-name ids are
 * unique among themselves), then by index. */
static int by_id(const void *a, const void *b)
{
	const struct id_slot *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c)
		return c;
	if (x->courier != y->courier)
		return x->courier ? 1 : -1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * A UIDL must be unique (RFC 1939), and an id from the sizelist can be
 * another message's: its base-name id (a file named "UID5-100"), or a
 * second line's.  The message whose id is its base name keeps it, and of
 * two with ids from the sizelist the one with the smaller base name; the
 * other falls back to its base-name id, logged.  That may meet another
 * id from the sizelist, so again until none meets: every round takes one
 * id from the sizelist or more, so there are at most that many rounds.
 */
static int unique_ids(struct maildir *md)
{
	struct id_slot *s;
	size_t i, n = 0;
	int changed = 1;

	for (i = 0; i < md->count; i++)
		if (md->msgs[i].flags & COURIER_ID)
			n++;
	if (n == 0)
		return 0;	/* base-name ids alone are unique */
	if (md->count > SIZE_MAX / sizeof(*s)) {
		errno = ENOMEM;
		return -1;
	}
	s = malloc(md->count * sizeof(*s));
	if (!s)
		return -1;
	while (changed) {
		changed = 0;
		for (i = 0; i < md->count; i++) {
			message_uid(&md->msgs[i], s[i].id);
			s[i].i = i;
			s[i].courier = md->msgs[i].flags & COURIER_ID;
		}
		qsort(s, md->count, sizeof(*s), by_id);
		for (i = 1; i < md->count; i++) {
			struct md_msg *m = &md->msgs[s[i].i];
			char shown[64];

			if (!s[i].courier || strcmp(s[i].id, s[i - 1].id))
				continue;
			log_escape(shown, sizeof(shown), m->name,
			    strlen(m->name));
			log_msg(LOG_WARNING, "Maildir %s: %s gives %s the UIDL "
			    "%s, another message's; its base name is shown "
			    "instead", md->path, COURIER_SIZELIST, shown,
			    s[i].id);
			m->flags &= ~COURIER_ID;
			changed = 1;
		}
	}
	free(s);
	return 0;
}

/* ------------------------------------------------------ the cache */

/*
 * The index cache (-I) for a Maildir (maildir_cache.c has the file).  It
 * saves a login two things: reading the files whose names carry no ",W="
 * size, and, when neither cur/ nor new/ changed, readdir and an fstatat
 * of every file.
 */

/*
 * A message the scan found takes its size from the cache when the cache
 * recorded a file of its base name with the same inode, size and mtime
 * (to the nanosecond): a hint like ",W=", counted when first sent.  Both
 * lists are in base name order (drop_duplicates, mdcache_parse), one
 * message a base name: one walk along both.
 */
static void reuse_sizes(struct maildir *md)
{
	const struct mdcache *c = &md->cache;
	size_t i = 0, k = 0;

	while (i < md->count && k < c->count) {
		struct md_msg *m = &md->msgs[i];
		const struct mdcache_entry *e = &c->e[k];
		size_t n = m->base_len < e->base_len ? m->base_len :
		    e->base_len;
		int r = memcmp(m->name, e->name, n);

		if (r == 0 && m->base_len != e->base_len)
			r = m->base_len < e->base_len ? -1 : 1;
		if (r < 0) {
			i++;
			continue;
		}
		if (r > 0) {
			k++;
			continue;
		}
		/* The parser checked e->size against e->st_size. */
		if (e->ino == (uint64_t)m->ino && e->st_size == m->st_size &&
		    e->mtime_ns == m->mtime_ns) {
			m->size = e->size;
			m->flags |= SIZE_UNVERIFIED | SIZE_FROM_CACHE;
		}
		i++;
		k++;
	}
}

static int same_stamp(const struct mdcache_dir *d, const struct stat *st)
{
	return d->dev == (uint64_t)st->st_dev &&
	    d->ino == (uint64_t)st->st_ino &&
	    d->mtime_ns == ns_of(&st->st_mtim) &&
	    d->ctime_ns == ns_of(&st->st_ctim);
}

/*
 * May the message list be taken from the cache, without readdir?
 *
 * The cache's stamps of cur/ and new/ (device, inode, mtime and ctime to
 * the nanosecond) are those fstat gave just before the readdir that made
 * its list, and are marked settled only if both ctimes were then at least
 * CACHE_SETTLE_SECONDS old, on a local file system.  Every name added to,
 * removed from or renamed in a directory changes the directory's mtime
 * and ctime, and no unprivileged program can set a ctime back.  A change
 * in the same clock tick as that fstat could leave the ctime as it was
 * (file time stamps are coarser than a nanosecond), but a settled ctime
 * is two seconds older than the fstat, so a change after it carries a
 * later ctime.  So if both directories still show exactly those stamps,
 * no name came, went or changed in them since that fstat, and the list
 * the readdir after it gave is the list a readdir now would give.  (A
 * change during that readdir, or our own new/ to cur/ move after it,
 * moved the stamps too: such a cache never passes here.)  On NFS and the
 * like the ctime is the server's clock's and the attribute cache may show
 * an old one: never settled there.
 *
 * What this does not show is a file's content: a file rewritten in place
 * keeps its name.  That is why a cached size is only a hint verified when
 * the message is sent, why open_message() still checks, when a message is
 * opened, that it is a regular file of the user's reached without a link,
 * and why maildir_be_check() compares its inode and size with the
 * record's: a file gone or replaced since answers -ERR, as one removed
 * during a session does.  A forged cache (the user can write it) can only
 * show the user a wrong list of their own cur/.
 *
 * Mail in new/ (per the cache) would be moved at login, changing cur/:
 * no fast path then either.
 */
static int fast_path_holds(const struct maildir *md)
{
	const struct mdcache *c = &md->cache;
	size_t i;

	if (!md->cache_raw || !c->settled || fs_is_local(md->dfd) != 1 ||
	    !same_stamp(&c->dirs[DIR_CUR], &md->stamps[DIR_CUR]) ||
	    !same_stamp(&c->dirs[DIR_NEW], &md->stamps[DIR_NEW]))
		return 0;
	for (i = 0; i < c->count; i++)
		if (c->e[i].dir != DIR_CUR)
			return 0;
	return 1;
}

/* The message list from the cache: every size a hint to verify. */
static int list_from_cache(struct maildir *md)
{
	size_t i;

	for (i = 0; i < md->cache.count; i++) {
		const struct mdcache_entry *e = &md->cache.e[i];
		struct md_msg *m = push_message(md, DIR_CUR, e->name,
		    e->name_len);

		if (!m)
			return -1;
		m->st_size = e->st_size;
		m->mtime_ns = e->mtime_ns;
		m->ino = (ino_t)e->ino;
		m->size = e->size;
		m->time = e->time;
		m->flags = SIZE_UNVERIFIED | SIZE_FROM_CACHE;
	}
	return 0;
}

/* Reads the cache (if any) and the stamps of cur/ and new/: before the
 * scan, and before anything of ours changes them. */
static int cache_start(struct maildir *md)
{
	int i;

	md->scan_start = time(NULL);
	for (i = DIR_CUR; i <= DIR_NEW; i++)
		if (fstat(md->dirs[i], &md->stamps[i]) < 0)
			return -1;
	/* None, or refused (logged): the scan as without a cache. */
	(void)mdcache_load(md->cache_path, md->owner, &md->cache,
	    &md->cache_raw, &md->cache_len);
	return 0;
}

static int entry_by_base(const void *a, const void *b)
{
	const struct mdcache_entry *x = a, *y = b;
	size_t n = x->base_len < y->base_len ? x->base_len : y->base_len;
	int c = memcmp(x->name, y->name, n);

	if (c)
		return c;
	return x->base_len < y->base_len ? -1 : x->base_len > y->base_len;
}

/*
 * The cache for the login's list (without the messages UPDATE removed),
 * with the stamps taken before the scan, written unless the file already
 * holds exactly that.  Called after the scan, recovery, the move of new/
 * and the sizes, and again at the end of a session in which a hinted
 * size proved wrong (so the next login shows the counted one).  A login
 * that moved mail or removed files changed the directories after those
 * stamps, so its cache cannot pass fast_path_holds(); the next login
 * scans (reusing every size) and writes one that can, once the
 * directories settled.
 */
static void cache_write(struct maildir *md)
{
	struct mdcache c;
	unsigned char *buf = NULL;
	size_t i, len = 0;
	int d;

	memset(&c, 0, sizeof(c));
	if (md->count > MAILDIR_CACHE_MAX_MESSAGES) {
		log_msg(LOG_INFO, "Maildir %s has more than %lu messages: no "
		    "index cache", md->path,
		    (unsigned long)MAILDIR_CACHE_MAX_MESSAGES);
		return;
	}
	c.settled = fs_is_local(md->dfd) == 1;
	for (d = DIR_CUR; d <= DIR_NEW; d++) {
		const struct stat *st = &md->stamps[d];

		c.dirs[d].dev = (uint64_t)st->st_dev;
		c.dirs[d].ino = (uint64_t)st->st_ino;
		c.dirs[d].mtime_ns = ns_of(&st->st_mtim);
		c.dirs[d].ctime_ns = ns_of(&st->st_ctim);
		/* Too fresh: a change in the same tick could go unseen. */
		if (st->st_ctim.tv_sec > md->scan_start - CACHE_SETTLE_SECONDS)
			c.settled = 0;
	}
	c.e = calloc(md->count ? md->count : 1, sizeof(*c.e));
	if (!c.e)
		return;
	for (i = 0; i < md->count; i++) {
		const struct md_msg *m = &md->msgs[i];
		struct mdcache_entry *e = &c.e[c.count];

		if (m->flags & GONE)
			continue;
		c.count++;
		e->name = m->name;
		e->name_len = strlen(m->name);
		e->base_len = m->base_len;
		e->dir = m->dir;
		e->ino = (uint64_t)m->ino;
		e->st_size = m->st_size;
		e->mtime_ns = m->mtime_ns;
		e->size = m->size;
		e->time = m->time;
	}
	/* At login md->msgs is in that order already; at the end, in
	 * delivery order. */
	qsort(c.e, c.count, sizeof(*c.e), entry_by_base);
	if (mdcache_build(&c, &buf, &len) < 0)
		log_msg(LOG_DEBUG, "Maildir %s: no index cache: %s", md->path,
		    strerror(errno));
	else if (len != md->cache_len || memcmp(buf, md->cache_raw, len))
		mdcache_save(md->cache_path, buf, len);
	free(buf);
	free(c.e);
}

/* ---------------------------------------------------- the interface */

static void maildir_free(struct maildir *md)
{
	size_t i;

	if (!md)
		return;
	if (md->open_fd >= 0)
		close(md->open_fd);
	for (i = 0; i < 2; i++)
		if (md->dirs[i] >= 0)
			close(md->dirs[i]);
	if (md->lock_fd >= 0)
		close(md->lock_fd);
	if (md->dfd >= 0)
		close(md->dfd);
	for (i = 0; i < md->count; i++)
		free(md->msgs[i].name);
	for (i = 0; i < md->new_count; i++)
		free(md->new_names[i]);
	free(md->new_names);
	free(md->msgs);
	free(md->buf);
	mdcache_free(&md->cache);
	free(md->cache_raw);
	free(md);
}

/* The Maildir's parent exists and the Maildir not: no mail has come yet
 * (a deliverer creates it).  No parent: a wrong path, as for an mbox. */
static int missing_maildir(const char *path)
{
	char dir[MAX_PATH_LEN];
	struct stat st;

	if (path_dir(dir, sizeof(dir), path) == 0 && stat(dir, &st) == 0 &&
	    S_ISDIR(st.st_mode))
		return MD_OK;
	log_msg(LOG_ERR, "Maildir %s: neither it nor its directory exists",
	    path);
	return MD_ERROR;
}

/* One POP3 session per Maildir: an flock on SESSION_LOCK. */
static int maildir_lock_session(struct maildir *md)
{
	struct stat st;

	md->lock_fd = openat(md->dfd, SESSION_LOCK, O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
	if (md->lock_fd < 0 || fstat(md->lock_fd, &st) < 0) {
		log_msg(LOG_ERR, "Maildir %s: cannot open %s: %s", md->path,
		    SESSION_LOCK, strerror(errno));
		return errno == ELOOP ? MD_BAD_FILE : MD_ERROR;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != md->owner) {
		log_msg(LOG_ERR, "Maildir %s: %s is not a regular file of "
		    "uid %lu", md->path, SESSION_LOCK,
		    (unsigned long)md->owner);
		return MD_BAD_FILE;
	}
	if (flock(md->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return MD_ERROR;
		log_msg(LOG_NOTICE, "Maildir %s is in use by another POP3 "
		    "session", md->path);
		return MD_IN_USE;
	}
	return MD_OK;
}

static int open_maildir(struct maildir *md, const char *path)
{
	struct stat st;
	int r, fast;

	/* Nothing here needs the mail group. */
	if (spool_drop_group() < 0)
		return MD_ERROR;
	md->dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (md->dfd < 0) {
		if (errno == ENOENT)
			return missing_maildir(path);
		log_msg(LOG_ERR, "cannot open Maildir %s: %s", path,
		    strerror(errno));
		return errno == ELOOP || errno == ENOTDIR || errno == EACCES ?
		    MD_BAD_FILE : MD_ERROR;
	}
	if (fstat(md->dfd, &st) < 0)
		return MD_ERROR;
	if (!trusted(md, &st)) {
		log_msg(LOG_ERR, "Maildir %s is not uid %lu's, or others may "
		    "write it; refused", path, (unsigned long)md->owner);
		return MD_BAD_FILE;
	}
	for (r = DIR_CUR; r <= DIR_NEW; r++) {
		md->dirs[r] = open_dir(md, md->dfd, dir_names[r]);
		if (md->dirs[r] < 0) {
			if (errno == EPERM)
				return MD_BAD_FILE;
			log_msg(LOG_ERR, "Maildir %s: no usable %s/: %s", path,
			    dir_names[r], strerror(errno));
			return MD_NOT_MBOX;
		}
	}
	r = maildir_lock_session(md);
	if (r != MD_OK)
		return r;
	md->buf = malloc(MBOX_BLOCK_SIZE);
	if (!md->buf || (md->cache_path && cache_start(md) < 0))
		goto io_error;
	fast = fast_path_holds(md);
	if (fast) {
		log_msg(LOG_DEBUG, "Maildir %s: message list read from the "
		    "index cache %s", path, md->cache_path);
		if (list_from_cache(md) < 0)
			goto io_error;
	} else {
		if (scan_dir(md, DIR_CUR) < 0 || scan_dir(md, DIR_NEW) < 0)
			goto io_error;
		if (drop_duplicates(md) < 0)
			goto io_error;
		if (md->cache_raw)
			reuse_sizes(md);
	}
	/* (The cache's list is in base name order without a base name
	 * twice, mdcache_parse() checked: nothing to sort or drop.) */
	/* An UPDATE a crash cut short is finished first. */
	r = recover(md);
	if (r != MD_OK)
		return r;
	/* The sizelist names files in cur/: after the move, and while
	 * md->msgs is still in base name order. */
	if (move_new(md) < 0 || size_messages(md) < 0)
		goto io_error;
	/* After the fast path the file holds this list already, with the
	 * stamps the directories still have (or, if recovery removed files,
	 * stamps they no longer have: the next login scans).  Not writing
	 * it again saves building and comparing it, which at 100,000
	 * messages is a third of such a login. */
	if (md->cache_path && !fast)
		cache_write(md);
	if (read_sizelist(md) < 0 || unique_ids(md) < 0)
		goto io_error;
	if (md->count)
		qsort(md->msgs, md->count, sizeof(md->msgs[0]), by_delivery);
	return MD_OK;

io_error:
	log_msg(LOG_ERR, "cannot read Maildir %s: %s", path, strerror(errno));
	return MD_ERROR;
}

static int maildir_be_open(void **be_r, const char *path, uid_t owner,
    const char *cache, unsigned workarounds, size_t *count_r)
{
	struct maildir *md = calloc(1, sizeof(*md));
	int r;

	*be_r = NULL;
	if (!md) {
		log_msg(LOG_ERR, "out of memory");
		return MD_ERROR;
	}
	md->dfd = md->lock_fd = md->open_fd = -1;
	md->dirs[0] = md->dirs[1] = -1;
	md->owner = owner;
	md->workarounds = workarounds;
	/* The cache's sizes are counted without oe-ns-eoh's empty line:
	 * with it on, every message is counted (and nothing cached). */
	if (cache && strlen(cache) < sizeof(md->cache_file) &&
	    !(workarounds & WA_OE_NS_EOH)) {
		strcpy(md->cache_file, cache); /* NOLINT(*.strcpy) */
		md->cache_path = md->cache_file;
	}
	if (strlen(path) >= sizeof(md->path)) {
		free(md);
		return MD_BAD_FILE;
	}
	strcpy(md->path, path); /* NOLINT(*.strcpy) */
	r = open_maildir(md, path);
	/* What was read of the cache is not needed after the open. */
	mdcache_free(&md->cache);
	free(md->cache_raw);
	md->cache_raw = NULL;
	md->cache_len = 0;
	if (r != MD_OK) {
		maildir_free(md);
		return r;
	}
	*be_r = md;
	*count_r = md->count;
	return MD_OK;
}

static uint64_t maildir_be_size(void *be, size_t n)
{
	const struct maildir *md = be;

	return md->msgs[n].size;
}

static void maildir_be_uid(void *be, size_t n, char *buf)
{
	const struct maildir *md = be;

	message_uid(&md->msgs[n], buf);
}

static void close_open(struct maildir *md)
{
	if (md->open_fd >= 0)
		close(md->open_fd);
	md->open_fd = -1;
}

/* A message must still be the file the scan found: same inode (a rename
 * keeps it), same size (a Maildir file is never rewritten in place). */
static int maildir_be_check(void *be, size_t n)
{
	struct maildir *md = be;
	struct md_msg *m = &md->msgs[n];
	struct stat st;
	char shown[64];
	int fd, r;

	close_open(md);
	log_escape(shown, sizeof(shown), m->name, strlen(m->name));
	fd = open_message(md, md->dirs[m->dir], m->name, &st);
	if (fd < 0 && errno == ENOENT) {
		/* Renamed by a mail reader (flags), or removed. */
		r = find_again(md, m);
		if (r < 0)
			return MD_ERROR;
		if (r > 0) {
			log_escape(shown, sizeof(shown), m->name,
			    strlen(m->name));
			fd = open_message(md, md->dirs[m->dir], m->name, &st);
		} else {
			errno = ENOENT;
		}
	}
	if (fd < 0) {
		if (errno != ENOENT && errno != EPERM && errno != ELOOP)
			return MD_ERROR;
		log_msg(LOG_NOTICE, "Maildir %s: message %s was removed by "
		    "another program", md->path, shown);
		return MD_GONE;
	}
	if (st.st_ino != m->ino || (uint64_t)st.st_size != m->st_size) {
		log_msg(LOG_NOTICE, "Maildir %s: message %s was replaced by "
		    "another program", md->path, shown);
		close(fd);
		return MD_GONE;
	}
	if (m->flags & SIZE_UNVERIFIED) {
		uint64_t size;

		/* Sent as often as the client asks, counted once. */
		r = count_size(md, fd, m->st_size, &size);
		if (r != MD_OK) {
			close(fd);
			return r == MD_CHANGED ? MD_GONE : MD_ERROR;
		}
		if (size != m->size) {
			md->cache_dirty = 1;
			log_msg(LOG_NOTICE, "Maildir %s: message %s is %llu "
			    "octets, not the %llu %s", md->path, shown,
			    (unsigned long long)size,
			    (unsigned long long)m->size,
			    m->flags & SIZE_FROM_CACHE ? "the index cache "
			    "says" : "its name says");
		}
		m->size = size;
		m->flags &= ~(SIZE_UNVERIFIED | SIZE_FROM_CACHE);
	}
	md->open_fd = fd;
	md->open_n = n;
	return MD_OK;
}

static int maildir_be_send(void *be, size_t n, long lines, struct netio *io)
{
	struct maildir *md = be;
	struct md_msg *m = &md->msgs[n];
	struct stat st;
	int r;

	if (md->open_fd < 0 || md->open_n != n) {
		r = maildir_be_check(md, n);
		if (r != MD_OK)
			return r == MD_GONE ? MD_CHANGED : r;
	}
	r = msg_stream(md->open_fd, 0, m->st_size, lines, md->workarounds,
	    md->buf, md->path, io);
	/* Only an unchanged file gets its terminator. */
	if (r == MD_OK && (fstat(md->open_fd, &st) < 0 ||
	    (uint64_t)st.st_size != m->st_size))
		r = MD_CHANGED;
	close_open(md);
	if (r != MD_OK)
		return r;
	return io_write(io, ".\r\n", 3) ? MD_NET : MD_OK;
}

/*
 * UPDATE, before-or-after: the base names to delete go to the journal,
 * synced, then the files are removed, the directories synced, and the
 * journal removed.  A crash before the journal's rename leaves everything;
 * after it, the next open completes the removal (recover()).
 */
static int maildir_be_update(void *be, const unsigned char *deleted)
{
	struct maildir *md = be;
	size_t i;

	close_open(md);
	if (write_journal(md, deleted) < 0) {
		log_msg(LOG_ERR, "UPDATE of Maildir %s failed, nothing "
		    "deleted: %s", md->path, strerror(errno));
		return MD_ERROR;
	}
	for (i = 0; i < md->count; i++) {
		if (!deleted[i])
			continue;
		if (remove_message(md, &md->msgs[i]) < 0)
			goto fail;
		md->msgs[i].flags |= GONE;	/* for cache_write() */
	}
	if (sync_dirs(md) < 0 || finish_journal(md) < 0)
		goto fail;
	return MD_OK;

fail:
	/* The journal stays: the next open finishes the job. */
	log_msg(LOG_ERR, "UPDATE of Maildir %s interrupted: %s; the next "
	    "login completes it", md->path, strerror(errno));
	return MD_ERROR;
}

static void maildir_be_close(void *be)
{
	struct maildir *md = be;

	/* The sizes RETR counted, for the next login's hints. */
	if (md && md->cache_path && md->cache_dirty)
		cache_write(md);
	maildir_free(be);
}

const struct maildrop_ops maildrop_maildir = {
	.name = "maildir",
	.prefix = "maildir:",
	.open = maildir_be_open,
	.size = maildir_be_size,
	.uid = maildir_be_uid,
	.check = maildir_be_check,
	.send = maildir_be_send,
	.update = maildir_be_update,
	.close = maildir_be_close,
};

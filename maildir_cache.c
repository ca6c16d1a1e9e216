/*
 * maildir_cache.c - the optional on-disk cache of a Maildir's message
 * list (--index-cache with a maildir: template): the file format, its
 * parser and writer.  maildrop_maildir.c decides what to believe of it.
 *
 * What a record holds is a hint, never a fact: a message's CRLF size is
 * reused only for a file whose base name, inode, size and mtime are those
 * the record names, and is verified by counting when the message is first
 * sent (as a ",W=" size is).  The directory stamps let a login skip
 * readdir and fstatat when neither cur/ nor new/ changed (see
 * maildrop_maildir.c, fast_path_holds, for why that is safe).
 *
 * The file is the user's own (it lives where the administrator's template
 * puts it, e.g. %h/.pop3d-index); it is read as untrusted input: bounded
 * (MAILDIR_CACHE_MAX bytes, MAILDIR_CACHE_MAX_MESSAGES records), every
 * field range-checked, the names as strict as scan_dir's.  Any failure
 * only costs the scan it would have saved.  Runs with the user's ids.
 *
 * Format (little-endian): magic "POP3DMC1"; flags (8 bytes: bit 0, the
 * stamps were settled when taken); for cur/ then new/ dev, ino, mtime_ns,
 * ctime_ns (8 each); count (8); XXH3-128 of everything but itself (16);
 * then count records of ino, st_size, mtime_ns, size, time (8 each),
 * name length (2), directory (1: 0 cur/, 1 new/), a zero byte, and the
 * name's bytes; records in strictly ascending base name order (the part
 * of the name before its first ':'), so no base name is there twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <xxhash.h>

#include "proto.h"

#define MC_MAGIC	"POP3DMC1"
#define MC_HEAD		88	/* magic, flags, 2 x 4 stamps, count */
#define MC_SUM		16	/* XXH3-128: against damage, not forgery */
#define MC_DATA		(MC_HEAD + MC_SUM)
#define MC_REC		44	/* a record without its name */
#define MC_SETTLED	1ULL	/* the only flag */
/* No file is this large: it keeps 2 * st_size + 2 from overflowing. */
#define MC_MAX_FILE	(UINT64_C(1) << 60)

/* The XXH3-128 of the len bytes at p (len >= MC_DATA) but the sum field
 * itself: the head, then the records.  0, or -1 (out of memory). */
static int sum_of(const unsigned char *p, size_t len, unsigned char *out)
{
	XXH3_state_t *st = XXH3_createState();
	XXH128_canonical_t c;
	int r = -1;

	if (st && XXH3_128bits_reset(st) == XXH_OK &&
	    XXH3_128bits_update(st, p, MC_HEAD) == XXH_OK &&
	    XXH3_128bits_update(st, p + MC_DATA, len - MC_DATA) == XXH_OK) {
		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
		memcpy(out, c.digest, MC_SUM);
		r = 0;
	}
	XXH3_freeState(st);
	return r;
}

/* Is the name one scan_dir would serve?  1..NAME_MAX bytes, no '/' or
 * NUL, not starting with '.', a base name of at least one byte. */
static int name_ok(const unsigned char *p, size_t len)
{
	return len > 0 && len <= NAME_MAX && p[0] != '.' && p[0] != ':' &&
	    !memchr(p, '/', len) && !memchr(p, '\0', len);
}

/* Base names compared as by_base in maildrop_maildir.c does. */
static int base_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen == blen ? 0 : alen < blen ? -1 : 1;
}

static size_t base_of(const char *name, size_t len)
{
	const char *colon = memchr(name, ':', len);

	return colon ? (size_t)(colon - name) : len;
}

void mdcache_free(struct mdcache *c)
{
	free(c->e);
	memset(c, 0, sizeof(*c));
}

int mdcache_parse(const unsigned char *p, size_t len, struct mdcache *c,
    const char **why_r)
{
	unsigned char sum[MC_SUM];
	uint64_t flags, count;
	size_t off, i;

	memset(c, 0, sizeof(*c));
	*why_r = "too short";
	if (len < MC_DATA)
		return -1;
	*why_r = "not a Maildir cache of this version";
	if (memcmp(p, MC_MAGIC, 8))
		return -1;
	*why_r = "out of memory";
	if (sum_of(p, len, sum) < 0)
		return -1;
	*why_r = "checksum mismatch (damaged)";
	if (memcmp(sum, p + MC_HEAD, MC_SUM))
		return -1;
	*why_r = "bad header";
	flags = get_le64(p + 8);
	if (flags & ~MC_SETTLED)
		return -1;
	c->settled = (flags & MC_SETTLED) != 0;
	for (i = 0; i < 2; i++) {
		const unsigned char *d = p + 16 + 32 * i;

		c->dirs[i].dev = get_le64(d);
		c->dirs[i].ino = get_le64(d + 8);
		c->dirs[i].mtime_ns = (int64_t)get_le64(d + 16);
		c->dirs[i].ctime_ns = (int64_t)get_le64(d + 24);
	}
	count = get_le64(p + 80);
	/* Bounded before anything is allocated for it: by our limit, and
	 * by the bytes there are (a record takes at least MC_REC + 1). */
	*why_r = "too many records";
	if (count > MAILDIR_CACHE_MAX_MESSAGES ||
	    count > (len - MC_DATA) / (MC_REC + 1))
		return -1;
	c->e = calloc(count ? (size_t)count : 1, sizeof(*c->e));
	*why_r = "out of memory";
	if (!c->e)
		return -1;
	*why_r = "bad record";
	for (i = 0, off = MC_DATA; i < count; i++) {
		struct mdcache_entry *e = &c->e[i];
		const unsigned char *r = p + off;
		size_t nlen;

		if (len - off < MC_REC)
			goto bad;
		e->ino = get_le64(r);
		e->st_size = get_le64(r + 8);
		e->mtime_ns = (int64_t)get_le64(r + 16);
		e->size = get_le64(r + 24);
		e->time = (long long)get_le64(r + 32);
		nlen = (size_t)r[40] | (size_t)r[41] << 8;
		e->dir = r[42];
		/* A CRLF size is at least the stored bytes, and at most one
		 * more octet a line (an LF sent as CRLF) plus the CRLF added
		 * to a last line without one: as for ",W=". */
		if (e->dir > 1 || r[43] != 0 || e->st_size >= MC_MAX_FILE ||
		    e->size < e->st_size || e->size > 2 * e->st_size + 2 ||
		    len - off - MC_REC < nlen || !name_ok(r + MC_REC, nlen))
			goto bad;
		e->name = (const char *)r + MC_REC;
		e->name_len = nlen;
		e->base_len = base_of(e->name, nlen);
		if (i > 0 && base_cmp(c->e[i - 1].name, c->e[i - 1].base_len,
		    e->name, e->base_len) >= 0) {
			*why_r = "records out of order or a base name twice";
			goto bad;
		}
		off += MC_REC + nlen;
	}
	if (off != len) {
		*why_r = "bytes after the last record";
		goto bad;
	}
	c->count = (size_t)count;
	return 0;
bad:
	mdcache_free(c);
	return -1;
}

int mdcache_build(const struct mdcache *c, unsigned char **buf_r,
    size_t *len_r)
{
	size_t len = MC_DATA, i, off;
	unsigned char *p;

	*buf_r = NULL;
	if (c->count > MAILDIR_CACHE_MAX_MESSAGES) {
		errno = EFBIG;
		return -1;
	}
	for (i = 0; i < c->count; i++) {
		const struct mdcache_entry *e = &c->e[i];

		/* What the parser would refuse is never written. */
		if (!name_ok((const unsigned char *)e->name, e->name_len) ||
		    e->dir > 1 || e->st_size >= MC_MAX_FILE ||
		    e->size < e->st_size || e->size > 2 * e->st_size + 2) {
			errno = EINVAL;
			return -1;
		}
		len += MC_REC + e->name_len;
	}
	/* count <= MAILDIR_CACHE_MAX_MESSAGES and names <= NAME_MAX: no
	 * overflow above; the file limit is the reader's. */
	if (len > MAILDIR_CACHE_MAX) {
		errno = EFBIG;
		return -1;
	}
	p = calloc(1, len);
	if (!p)
		return -1;
	/* A fixed 8-byte binary field, not a string: no NUL wanted. */
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(p, MC_MAGIC, 8);
	put_le64(p + 8, c->settled ? MC_SETTLED : 0);
	for (i = 0; i < 2; i++) {
		unsigned char *d = p + 16 + 32 * i;

		put_le64(d, c->dirs[i].dev);
		put_le64(d + 8, c->dirs[i].ino);
		put_le64(d + 16, (uint64_t)c->dirs[i].mtime_ns);
		put_le64(d + 24, (uint64_t)c->dirs[i].ctime_ns);
	}
	put_le64(p + 80, (uint64_t)c->count);
	for (i = 0, off = MC_DATA; i < c->count; i++) {
		const struct mdcache_entry *e = &c->e[i];
		unsigned char *r = p + off;

		put_le64(r, e->ino);
		put_le64(r + 8, e->st_size);
		put_le64(r + 16, (uint64_t)e->mtime_ns);
		put_le64(r + 24, e->size);
		put_le64(r + 32, (uint64_t)e->time);
		r[40] = (unsigned char)(e->name_len & 0xff);
		r[41] = (unsigned char)(e->name_len >> 8);
		r[42] = (unsigned char)e->dir;
		memcpy(r + MC_REC, e->name, e->name_len);
		off += MC_REC + e->name_len;
	}
	if (sum_of(p, len, p + MC_HEAD) < 0) {
		free(p);
		errno = ENOMEM;
		return -1;
	}
	*buf_r = p;
	*len_r = len;
	return 0;
}

int mdcache_load(const char *file, uid_t owner, struct mdcache *c,
    unsigned char **raw_r, size_t *len_r)
{
	struct stat st;
	unsigned char *p = NULL;
	const char *why = NULL;
	int fd, r = -1;

	memset(c, 0, sizeof(*c));
	*raw_r = NULL;
	*len_r = 0;
	/* O_NOFOLLOW: a link planted there must not make us read another
	 * file; O_NONBLOCK: nor a FIFO hang the login. */
	fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			log_msg(LOG_INFO, "Maildir cache %s not used: %s", file,
			    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		why = strerror(errno);
		goto out;
	}
	/* Someone else's file could choose our sizes and list, and its
	 * size what we allocate. */
	if (!S_ISREG(st.st_mode) || st.st_uid != owner) {
		why = "not a regular file of the user's";
		goto out;
	}
	if ((uint64_t)st.st_size > MAILDIR_CACHE_MAX) {
		why = "larger than MAILDIR_CACHE_MAX";
		goto out;
	}
	p = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!p || read_full(fd, p, (size_t)st.st_size) < 0) {
		why = strerror(errno);
		goto out;
	}
	if (mdcache_parse(p, (size_t)st.st_size, c, &why) < 0)
		goto out;
	*raw_r = p;
	*len_r = (size_t)st.st_size;
	p = NULL;
	r = 0;
out:
	if (r < 0)
		log_msg(LOG_INFO, "Maildir cache %s not used: %s; the Maildir "
		    "is scanned", file, why);
	free(p);
	close(fd);
	return r;
}

void mdcache_save(const char *file, const unsigned char *buf, size_t len)
{
	char tmp[MAX_PATH_LEN];
	int fd = replace_open(file, tmp, sizeof(tmp), "Maildir cache");

	if (fd < 0)
		return;
	if (replace_commit(fd, write_full(fd, buf, len) == 0, tmp, file,
	    "Maildir cache") == 0)
		log_msg(LOG_DEBUG, "Maildir cache %s written", file);
}

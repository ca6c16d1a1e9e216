/*
 * journal.c - crash-safe UPDATE: the write-ahead journal beside the mbox
 * and the recovery that finishes an interrupted UPDATE.
 *
 * Runs with the user's privileges (plus the privileged mail group while
 * files in the spool directory are created or removed).  Called only with
 * the mbox dot-lock and fcntl lock held.  The protocol is described in
 * docs/update-journal.md; in short:
 *
 *   1. write MBOX.pop3d-journal.new: a header and the final contents of
 *      the region [w0, s_new) the rewrite produces; fsync; rename it to
 *      MBOX.pop3d-journal; fsync the directory.  Until the rename the mbox
 *      is untouched (a crash leaves the state before QUIT).
 *   2. copy the journal's data into the mbox at w0; fsync.
 *   3. write a nonce at s_new (in the bytes the truncation will cut);
 *      fsync; mark the journal "applied"; fsync it.
 *   4. truncate the mbox to s_new; fsync; remove the journal; fsync the
 *      directory.
 *
 * From the rename on, recovery rolls forward to the state after QUIT.
 * Mail that an MDA appended after a crash (it may break our stale dot-lock
 * before the next session) lies beyond s_orig, or beyond s_new once the
 * truncation happened; the nonce tells the two apart, and recovery keeps
 * that mail by writing a new journal that includes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <sha2.h>

#include "proto.h"

#define JOURNAL_SUFFIX	".pop3d-journal"
#define JOURNAL_NEW	".pop3d-journal.new"
#define JOURNAL_MAGIC	"POP3DJN1"
#define JH_SIZE		112	/* header bytes; the data follows */
#define JH_PHASE_OFF	8	/* the one field rewritten in place */
#define JH_SUM_FROM	16	/* the checksum covers [16, 80) + data */
#define JH_SUM_TO	80
#define NONCE_LEN	16

enum { PHASE_WRITTEN = 1, PHASE_APPLIED = 2 };

struct jheader {
	uint32_t phase;
	uint64_t dev, ino;	/* the mbox this journal belongs to */
	uint64_t w0;		/* first byte the rewrite changes */
	uint64_t s_orig;	/* mbox size when the journal was made */
	uint64_t s_new;		/* mbox size after UPDATE: w0 + data_len */
	uint64_t data_len;
	unsigned char nonce[NONCE_LEN];
	unsigned char sum[32];	/* SHA-256 */
};

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void encode(const struct jheader *h, unsigned char *b)
{
	memset(b, 0, JH_SIZE);
	/* A fixed 8-byte binary field, not a string: no NUL wanted. */
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(b, JOURNAL_MAGIC, 8);
	put64(b + 8, h->phase);		/* phase, then 4 reserved bytes */
	put64(b + 16, h->dev);
	put64(b + 24, h->ino);
	put64(b + 32, h->w0);
	put64(b + 40, h->s_orig);
	put64(b + 48, h->s_new);
	put64(b + 56, h->data_len);
	memcpy(b + 64, h->nonce, NONCE_LEN);
	memcpy(b + 80, h->sum, 32);
}

static int decode(const unsigned char *b, struct jheader *h)
{
	if (memcmp(b, JOURNAL_MAGIC, 8))
		return -1;
	h->phase = (uint32_t)get64(b + 8);
	h->dev = get64(b + 16);
	h->ino = get64(b + 24);
	h->w0 = get64(b + 32);
	h->s_orig = get64(b + 40);
	h->s_new = get64(b + 48);
	h->data_len = get64(b + 56);
	memcpy(h->nonce, b + 64, NONCE_LEN);
	memcpy(h->sum, b + 80, 32);
	/* Every relation the writer guarantees; overflow checked first. */
	if (h->phase != PHASE_WRITTEN && h->phase != PHASE_APPLIED)
		return -1;
	if (h->w0 > UINT64_MAX - h->data_len ||
	    h->w0 + h->data_len != h->s_new || h->s_new >= h->s_orig ||
	    h->nonce[0] != '\0')
		return -1;
	return 0;
}

static int journal_path(char *buf, size_t size, const char *mbox,
    const char *suffix)
{
	return (size_t)snprintf(buf, size, "%s%s", mbox, suffix) < size ?
	    0 : -1;
}

/* fsync(2) of the directory holding path, so a rename or unlink in it is
 * durable. */
static int fsync_dir(const char *path)
{
	char copy[MAX_PATH_LEN];
	int fd, r;

	if (strlen(path) >= sizeof(copy))
		return -1;
	strcpy(copy, path); /* NOLINT(*.strcpy) */
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

static int read_full(int fd, unsigned char *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* shorter than promised */
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int write_full(int fd, const unsigned char *p, size_t len,
    uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Copies len bytes from (in, in_off) to (out, out_off), hashing them into
 * md when md is not NULL. */
static int copy_range(int in, uint64_t in_off, int out, uint64_t out_off,
    uint64_t len, unsigned char *buf, SHA2_CTX *md)
{
	while (len > 0) {
		size_t n = len < MBOX_BLOCK_SIZE ? (size_t)len :
		    MBOX_BLOCK_SIZE;

		if (read_full(in, buf, n, in_off))
			return -1;
		if (md)
			SHA256Update(md, buf, n);
		if (write_full(out, buf, n, out_off))
			return -1;
		in_off += n;
		out_off += n;
		len -= n;
	}
	return 0;
}

/* Step 1: writes the journal under its temporary name, then renames it
 * into place.  Returns an open descriptor of the journal, or -1. */
static int write_journal(const char *mbox, struct jheader *h,
    const struct jsource *src, size_t nsrc, unsigned char *buf)
{
	char tmp[MAX_PATH_LEN], path[MAX_PATH_LEN];
	unsigned char hb[JH_SIZE];
	SHA2_CTX md;
	uint64_t off = JH_SIZE;
	size_t i;
	int fd = -1;

	if (journal_path(tmp, sizeof(tmp), mbox, JOURNAL_NEW) ||
	    journal_path(path, sizeof(path), mbox, JOURNAL_SUFFIX))
		return -1;
	if (getrandom(h->nonce, NONCE_LEN, 0) != NONCE_LEN)
		return -1;
	/* No delivery starts with NUL, so the nonce can never be mistaken
	 * for mail appended after the truncation. */
	h->nonce[0] = '\0';
	h->phase = PHASE_WRITTEN;

	SHA256Init(&md);
	encode(h, hb);
	SHA256Update(&md, hb + JH_SUM_FROM, JH_SUM_TO - JH_SUM_FROM);

	spool_privileged(1);
	(void)unlink(tmp);	/* left by a crash before its rename */
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	spool_privileged(0);
	if (fd < 0)
		goto fail;
	for (i = 0; i < nsrc; i++) {
		if (copy_range(src[i].fd, src[i].off, fd, off, src[i].len, buf,
		    &md))
			goto fail;
		off += src[i].len;
	}
	SHA256Final(h->sum, &md);
	encode(h, hb);
	if (write_full(fd, hb, JH_SIZE, 0) || fsync(fd) < 0)
		goto fail;
	spool_privileged(1);
	if (rename(tmp, path) < 0) {
		spool_privileged(0);
		goto fail;
	}
	spool_privileged(0);
	if (fsync_dir(path) < 0)
		goto fail_renamed;
	return fd;

fail:
	log_msg(LOG_ERR, "cannot write journal %s: %s", tmp, strerror(errno));
	if (fd >= 0) {
		close(fd);
		spool_privileged(1);
		(void)unlink(tmp);
		spool_privileged(0);
	}
	return -1;
fail_renamed:
	/* The journal is in place; recovery at the next open finishes. */
	log_msg(LOG_ERR, "cannot sync directory of %s: %s", path,
	    strerror(errno));
	close(fd);
	return -1;
}

/* Steps 2-4: applies a journal that is in place. */
static int apply_journal(const char *mbox, int mfd, int jfd,
    struct jheader *h, unsigned char *buf)
{
	char path[MAX_PATH_LEN];
	unsigned char phase[4] = { PHASE_APPLIED, 0, 0, 0 };
	size_t nlen;

	if (journal_path(path, sizeof(path), mbox, JOURNAL_SUFFIX))
		return -1;
	if (copy_range(jfd, JH_SIZE, mfd, h->w0, h->data_len, buf, NULL) ||
	    fsync(mfd) < 0)
		return -1;
	/* The nonce must be durable before the phase says "applied":
	 * recovery reads its absence as "the truncation happened". */
	nlen = h->s_orig - h->s_new < NONCE_LEN ?
	    (size_t)(h->s_orig - h->s_new) : NONCE_LEN;
	if (write_full(mfd, h->nonce, nlen, h->s_new) || fsync(mfd) < 0)
		return -1;
	if (write_full(jfd, phase, sizeof(phase), JH_PHASE_OFF) ||
	    fsync(jfd) < 0)
		return -1;
	if (ftruncate(mfd, (off_t)h->s_new) < 0 || fsync(mfd) < 0)
		return -1;
	spool_privileged(1);
	if (unlink(path) < 0) {
		spool_privileged(0);
		return -1;
	}
	spool_privileged(0);
	return fsync_dir(path);
}

int journal_rewrite(const char *mbox, int mfd, uint64_t w0, uint64_t s_orig,
    const struct jsource *src, size_t nsrc, unsigned char *buf)
{
	struct jheader h;
	struct stat st;
	size_t i;
	int jfd, r;

	memset(&h, 0, sizeof(h));
	if (fstat(mfd, &st) < 0)
		return -1;
	h.dev = (uint64_t)st.st_dev;
	h.ino = (uint64_t)st.st_ino;
	h.w0 = w0;
	h.s_orig = s_orig;
	for (i = 0; i < nsrc; i++)
		h.data_len += src[i].len;
	h.s_new = w0 + h.data_len;
	if (h.s_new >= s_orig) {
		errno = EINVAL;
		return -1;
	}
	jfd = write_journal(mbox, &h, src, nsrc, buf);
	if (jfd < 0)
		return -1;
	r = apply_journal(mbox, mfd, jfd, &h, buf);
	if (r < 0)
		log_msg(LOG_ERR, "UPDATE of %s interrupted: %s; the journal "
		    "finishes it at the next login", mbox, strerror(errno));
	close(jfd);
	return r;
}

/* Reads and verifies a journal.  Returns 0, or -1 if damaged. */
static int load_journal(int jfd, struct jheader *h, unsigned char *buf)
{
	unsigned char hb[JH_SIZE], sum[SHA256_DIGEST_LENGTH];
	SHA2_CTX md;
	struct stat st;
	uint64_t off, left;
	int ok = 1;

	if (fstat(jfd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || read_full(jfd, hb, JH_SIZE, 0) ||
	    decode(hb, h) ||
	    (uint64_t)st.st_size != JH_SIZE + h->data_len)
		return -1;
	SHA256Init(&md);
	SHA256Update(&md, hb + JH_SUM_FROM, JH_SUM_TO - JH_SUM_FROM);
	for (off = JH_SIZE, left = h->data_len; ok && left > 0;) {
		size_t n = left < MBOX_BLOCK_SIZE ? (size_t)left :
		    MBOX_BLOCK_SIZE;

		ok = !read_full(jfd, buf, n, off);
		if (ok)
			SHA256Update(&md, buf, n);
		off += n;
		left -= n;
	}
	SHA256Final(sum, &md);
	/* A checksum of our own file, not a secret: memcmp() will do. */
	return ok && memcmp(sum, h->sum, sizeof(sum)) == 0 ? 0 : -1;
}

/* Says whether the truncation of an applied journal already happened. */
static int truncated(int mfd, const struct jheader *h, uint64_t cur,
    int *done_r)
{
	unsigned char got[NONCE_LEN];
	size_t nlen = h->s_orig - h->s_new < NONCE_LEN ?
	    (size_t)(h->s_orig - h->s_new) : NONCE_LEN;

	if (cur < h->s_orig) {
		*done_r = 1;
		return 0;
	}
	if (read_full(mfd, got, nlen, h->s_new))
		return -1;
	*done_r = memcmp(got, h->nonce, nlen) != 0;
	return 0;
}

static void refuse(const char *jpath, const char *mbox, const char *why)
{
	log_msg(LOG_CRIT, "journal %s is %s; maildrop %s left untouched and "
	    "refused.  An administrator must check the mailbox and then "
	    "remove or move the journal away", jpath, why, mbox);
}

int journal_recover(const char *mbox, int mfd, unsigned char *buf)
{
	char path[MAX_PATH_LEN], tmp[MAX_PATH_LEN];
	struct jheader h;
	struct stat st;
	struct jsource src[2];
	uint64_t cur, appended;
	int jfd, done, r;

	if (journal_path(path, sizeof(path), mbox, JOURNAL_SUFFIX) ||
	    journal_path(tmp, sizeof(tmp), mbox, JOURNAL_NEW))
		return MBOX_ERROR;

	/* A journal that never got its name: the mbox was not touched. */
	spool_privileged(1);
	r = unlink(tmp);
	spool_privileged(0);
	if (r == 0)
		log_msg(LOG_NOTICE, "removed unfinished journal %s (UPDATE "
		    "had not started; nothing was changed)", tmp);

	jfd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (jfd < 0) {
		if (errno == ENOENT)
			return MBOX_OK;
		refuse(path, mbox, "unreadable");
		return MBOX_JOURNAL;
	}
	if (load_journal(jfd, &h, buf) < 0) {
		refuse(path, mbox, "damaged");
		close(jfd);
		return MBOX_JOURNAL;
	}
	if (fstat(mfd, &st) < 0) {
		close(jfd);
		return MBOX_ERROR;
	}
	cur = (uint64_t)st.st_size;
	if (h.dev != (uint64_t)st.st_dev || h.ino != (uint64_t)st.st_ino) {
		refuse(path, mbox, "from another mailbox");
		close(jfd);
		return MBOX_JOURNAL;
	}
	if (h.phase == PHASE_APPLIED) {
		if (truncated(mfd, &h, cur, &done) < 0) {
			close(jfd);
			return MBOX_ERROR;
		}
		if (done) {
			/* Only the journal's removal was missing. */
			close(jfd);
			spool_privileged(1);
			r = unlink(path);
			spool_privileged(0);
			if (r < 0 || fsync_dir(path) < 0)
				return MBOX_ERROR;
			log_msg(LOG_NOTICE, "recovered interrupted UPDATE of "
			    "%s (it had completed)", mbox);
			return MBOX_OK;
		}
	}
	if (cur < h.s_orig) {
		refuse(path, mbox, "inconsistent with the mailbox size");
		close(jfd);
		return MBOX_JOURNAL;
	}

	appended = cur - h.s_orig;
	if (appended == 0) {
		h.phase = PHASE_WRITTEN;
		r = apply_journal(mbox, mfd, jfd, &h, buf);
		close(jfd);
	} else {
		/* Mail arrived after the crash: a new journal takes the
		 * old data plus that mail, and replaces the old one. */
		src[0].fd = jfd;
		src[0].off = JH_SIZE;
		src[0].len = h.data_len;
		src[1].fd = mfd;
		src[1].off = h.s_orig;
		src[1].len = appended;
		r = journal_rewrite(mbox, mfd, h.w0, cur, src, 2, buf);
		close(jfd);
	}
	if (r < 0) {
		log_msg(LOG_ERR, "recovery of %s failed: %s", mbox,
		    strerror(errno));
		return MBOX_ERROR;
	}
	log_msg(LOG_NOTICE, "recovered interrupted UPDATE of %s (completed "
	    "it%s)", mbox, appended ? ", keeping mail delivered since" : "");
	return MBOX_OK;
}

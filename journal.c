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
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include <xxhash.h>

#include "proto.h"

#define JOURNAL_SUFFIX	".pop3d-journal"
#define JOURNAL_NEW	".pop3d-journal.new"
#define JOURNAL_MAGIC	"POP3DJN2"
#define JH_SIZE		112	/* header bytes; the data follows */
#define JH_STATE_OFF	8	/* phase and progress: rewritten in place */
#define JH_STATE_LEN	16
#define JH_SUM_FROM	24	/* the checksum covers [24, 96) + data */
#define JH_SUM_TO	96
#define NONCE_LEN	16
#define SUM_LEN		16
#define MOVE_LEN	16	/* one move in the data: source offset, length */
#define MOVE_BATCH	1024	/* pieces written by one pwritev (IOV_MAX) */
#define MOVE_WINDOW	MBOX_BLOCK_SIZE	/* source bytes of a batch: bounds RSS */
#define MOVE_KICK_BYTES	(8UL * 1024 * 1024)	/* see run_moves() */

enum { PHASE_WRITTEN = 1, PHASE_APPLIED = 2 };

/*
 * KIND_DATA: the data is the final contents of [w0, s_new); applying it is
 * a plain copy, idempotent by construction.
 * KIND_MOVES: the data lists the moves (source offset and length of each
 * kept piece, destinations back to back from w0) and the mbox itself is
 * the only copy of the mail; "progress" says how much of [w0, s_new) is
 * durably final, and the writer never overwrites a source byte that
 * recovery from that progress would still read (see run_moves()).
 */
enum { KIND_DATA = 1, KIND_MOVES = 2 };

struct jheader {
	uint32_t phase;
	uint64_t progress;	/* KIND_MOVES: [w0, progress) is final */
	uint64_t dev, ino;	/* the mbox this journal belongs to */
	uint64_t w0;		/* first byte the rewrite changes */
	uint64_t s_orig;	/* mbox size when the journal was made */
	uint64_t s_new;		/* mbox size after UPDATE */
	uint64_t data_len;
	uint32_t kind;
	unsigned char nonce[NONCE_LEN];
	unsigned char sum[SUM_LEN];	/* XXH3-128, canonical */
};

/* The checksum in its canonical (big-endian) bytes.  It guards against
 * damage, not forgery: the journal is the user's own file. */
static void put_sum(XXH3_state_t *md, unsigned char sum[SUM_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(md));
	memcpy(sum, c.digest, SUM_LEN);
}

static void encode(const struct jheader *h, unsigned char *b)
{
	memset(b, 0, JH_SIZE);
	/* A fixed 8-byte binary field, not a string: no NUL wanted. */
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(b, JOURNAL_MAGIC, 8);
	put_le64(b + 8, h->phase);		/* phase, then 4 reserved bytes */
	put_le64(b + 16, h->progress);
	put_le64(b + 24, h->dev);
	put_le64(b + 32, h->ino);
	put_le64(b + 40, h->w0);
	put_le64(b + 48, h->s_orig);
	put_le64(b + 56, h->s_new);
	put_le64(b + 64, h->data_len);
	put_le64(b + 72, h->kind);		/* kind, then 4 reserved bytes */
	memcpy(b + 80, h->nonce, NONCE_LEN);
	memcpy(b + 96, h->sum, SUM_LEN);
}

static int decode(const unsigned char *b, struct jheader *h)
{
	uint64_t phase, kind;

	if (memcmp(b, JOURNAL_MAGIC, 8))
		return -1;
	phase = get_le64(b + 8);
	h->progress = get_le64(b + 16);
	h->dev = get_le64(b + 24);
	h->ino = get_le64(b + 32);
	h->w0 = get_le64(b + 40);
	h->s_orig = get_le64(b + 48);
	h->s_new = get_le64(b + 56);
	h->data_len = get_le64(b + 64);
	kind = get_le64(b + 72);
	memcpy(h->nonce, b + 80, NONCE_LEN);
	memcpy(h->sum, b + 96, SUM_LEN);
	/* Every relation the writer guarantees; overflow checked first. */
	if (phase != PHASE_WRITTEN && phase != PHASE_APPLIED)
		return -1;
	if (kind != KIND_DATA && kind != KIND_MOVES)
		return -1;
	h->phase = (uint32_t)phase;
	h->kind = (uint32_t)kind;
	if (h->w0 > h->s_new || h->s_new >= h->s_orig || h->nonce[0] != '\0')
		return -1;
	if (kind == KIND_DATA) {
		if (h->data_len != h->s_new - h->w0 || h->progress != 0)
			return -1;
	} else {
		/* Each move has at least one source byte of its own. */
		if (h->data_len % MOVE_LEN ||
		    h->data_len / MOVE_LEN > h->s_orig - h->w0 ||
		    h->progress < h->w0 || h->progress > h->s_new ||
		    (phase == PHASE_APPLIED && h->progress != h->s_new))
			return -1;
	}
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

/* Copies len bytes from (in, in_off) to (out, out_off), hashing them into
 * md when md is not NULL. */
static int copy_range(int in, uint64_t in_off, int out, uint64_t out_off,
    uint64_t len, unsigned char *buf, XXH3_state_t *md)
{
	while (len > 0) {
		size_t n = len < MBOX_BLOCK_SIZE ? (size_t)len :
		    MBOX_BLOCK_SIZE;

		if (pread_full(in, buf, n, in_off) ||
		    (md && XXH3_128bits_update(md, buf, n) != XXH_OK) ||
		    pwrite_full(out, buf, n, out_off))
			return -1;
		in_off += n;
		out_off += n;
		len -= n;
	}
	return 0;
}

/* pwritev(2) until everything is written; iov is consumed. */
static int pwritev_full(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt > 0) {
		ssize_t n = pwritev(fd, iov, cnt, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (uint64_t)n;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* Rewrites the two in-place fields of the journal header. */
static int set_state(int jfd, uint32_t phase, uint64_t progress)
{
	unsigned char b[JH_STATE_LEN];

	put_le64(b, phase);
	put_le64(b + 8, progress);
	return pwrite_full(jfd, b, sizeof(b), JH_STATE_OFF);
}

/*
 * The moves of a KIND_MOVES journal, and the rule that makes them
 * restartable.  Destinations lie back to back from w0 and every source
 * lies after its destination, in the same order; so recovery from a
 * durable progress D redoes the moves of [D, s_new) and reads only
 * source bytes from need = (the source of destination D) on.  The writer
 * therefore never writes past `need`: a piece that would is first cut
 * there, and once it reaches `need` the work done so far is made durable
 * (fsync of the mbox, then the new progress in the journal, fsync), which
 * moves `need` forward.  When a good share of the mail is deleted, need
 * runs far ahead of the writer and a handful of such checkpoints does;
 * a small deletion early in a big mailbox would need one per few bytes,
 * and the dry run below then sends the rewrite to a KIND_DATA journal.
 */
struct mover {
	int mfd, jfd;			/* jfd < 0: dry run, no I/O */
	const struct jsource *mv;
	size_t n;
	uint64_t w0, s_new;
	uint64_t durable, need;
	uint64_t kicked;		/* write-back started up to here */
	unsigned long checkpoints, limit;	/* limit: dry run only */
	unsigned char *buf;
};

/* The source offset of destination byte d, or UINT64_MAX at s_new. */
static uint64_t source_of(const struct jsource *mv, size_t n, uint64_t w0,
    uint64_t d)
{
	uint64_t dst = w0;

	for (size_t k = 0; k < n; dst += mv[k].len, k++)
		if (d < dst + mv[k].len)
			return mv[k].off + (d - dst);
	return UINT64_MAX;
}

static int checkpoint(struct mover *m, uint64_t at, uint64_t need)
{
	m->checkpoints++;
	if (m->jfd < 0) {
		if (m->checkpoints > m->limit)
			return -1;
	} else if (fsync(m->mfd) < 0 ||
	    set_state(m->jfd, PHASE_WRITTEN, at) || fsync(m->jfd) < 0) {
		return -1;
	}
	m->durable = at;
	m->need = need;
	return 0;
}

/*
 * Writes the pieces of one batch back to back at `to`: iov[i] holds the
 * length of piece i, src_off[i] its offset in the file; they all lie in
 * [from, from + span), which begins after the destination range ends.  The pieces are written straight from a
 * read-only mapping of that stretch (the kernel copies them; pop3d never
 * touches the mapping, so a file cut short gives EFAULT, not SIGBUS);
 * without a mapping, piece by piece through buf.
 */
static int move_batch(int fd, uint64_t from, uint64_t span,
    struct iovec *iov, const uint64_t *src_off, int ni, uint64_t to,
    unsigned char *buf)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t base = from - from % (uint64_t)(pg > 0 ? pg : 4096);
	size_t maplen = (size_t)(span + (from - base));
	unsigned char *map;
	int i, r;

	map = mmap(NULL, maplen, PROT_READ, MAP_SHARED, fd, (off_t)base);
	if (map == MAP_FAILED) {
		for (i = 0; i < ni; i++) {
			if (copy_range(fd, src_off[i], fd, to, iov[i].iov_len,
			    buf, NULL))
				return -1;
			to += iov[i].iov_len;
		}
		return 0;
	}
	for (i = 0; i < ni; i++)
		iov[i].iov_base = map + (src_off[i] - base);
	r = pwritev_full(fd, iov, ni, to);
	(void)munmap(map, maplen);
	return r;
}

/*
 * Applies the moves from m->durable on, then writes the nonce at s_new.
 * Works in batches: the kept pieces whose sources lie within one buffer
 * are read with one pread of that stretch (deleted mail in between
 * included) and written back to back with one pwritev.  Returns 0, or -1
 * (an I/O error, or a dry run over its limit).
 */
static int run_moves(struct mover *m)
{
	struct iovec iov[MOVE_BATCH];
	uint64_t src_off[MOVE_BATCH];
	uint64_t dst = m->w0, off = 0;	/* move k starts at dst */
	size_t k = 0;

	while (k < m->n && dst + m->mv[k].len <= m->durable)
		dst += m->mv[k++].len;
	if (k < m->n)
		off = m->durable - dst;
	while (k < m->n) {
		uint64_t a = dst + off, s = m->mv[k].off + off;
		uint64_t total = 0, o = off, span = 0;
		int ni = 0;

		/* How much one batch can take from here. */
		for (size_t j = k; j < m->n && ni < MOVE_BATCH; j++, o = 0) {
			uint64_t ps = m->mv[j].off + o, pl = m->mv[j].len - o;

			if (ps - s >= MOVE_WINDOW)
				break;
			if (pl > MOVE_WINDOW - (ps - s))
				pl = MOVE_WINDOW - (ps - s);
			total += pl;
			ni++;
		}
		if (a + total > m->need) {
			/* Sources from s on are still intact, so a is a
			 * valid restart point. */
			if (a > m->durable && checkpoint(m, a, s))
				return -1;
			if (a + total > m->need)
				total = m->need - a;	/* > 0: s > a */
		}
		/* Take `total` bytes of pieces, advancing the cursor; the
		 * iovecs get their addresses once the window is mapped. */
		for (ni = 0; total > 0; ni++) {
			uint64_t ps = m->mv[k].off + off, pl = m->mv[k].len - off;

			if (pl > total)
				pl = total;
			src_off[ni] = ps;
			iov[ni].iov_base = NULL;
			iov[ni].iov_len = (size_t)pl;
			span = ps + pl - s;
			total -= pl;
			off += pl;
			if (off == m->mv[k].len) {
				dst += m->mv[k++].len;
				off = 0;
			}
		}
		if (m->jfd >= 0 && move_batch(m->mfd, s, span, iov, src_off, ni,
		    a, m->buf))
			return -1;
		if (m->jfd < 0)
			continue;
		/* Start the write-back now, so that the disk works while we
		 * copy and the next fsync has little left to wait for.  A
		 * hint: its failure changes nothing. */
		if (dst + off - m->kicked >= MOVE_KICK_BYTES) {
			(void)sync_file_range(m->mfd, (off_t)m->kicked,
			    (off_t)(dst + off - m->kicked),
			    SYNC_FILE_RANGE_WRITE);
			m->kicked = dst + off;
		}
	}
	/* The nonce goes at s_new (perhaps fewer bytes: the larger is
	 * checked). */
	if (m->durable < m->s_new && m->s_new + NONCE_LEN > m->need &&
	    checkpoint(m, m->s_new, UINT64_MAX))
		return -1;
	return 0;
}

/* Step 1: writes the journal under its temporary name, then renames it
 * into place.  Returns an open descriptor of the journal, or -1. */
static int write_journal(const char *mbox, struct jheader *h,
    const struct jsource *src, size_t nsrc, unsigned char *buf)
{
	char tmp[MAX_PATH_LEN], path[MAX_PATH_LEN];
	unsigned char hb[JH_SIZE];
	XXH3_state_t *md = NULL;
	uint64_t off = JH_SIZE;
	size_t i, fill = 0;
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

	md = XXH3_createState();
	if (!md || XXH3_128bits_reset(md) != XXH_OK)
		goto fail;
	encode(h, hb);
	if (XXH3_128bits_update(md, hb + JH_SUM_FROM,
	    JH_SUM_TO - JH_SUM_FROM) != XXH_OK)
		goto fail;

	spool_privileged(1);
	(void)unlink(tmp);	/* left by a crash before its rename */
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	spool_privileged(0);
	if (fd < 0)
		goto fail;
	for (i = 0; i < nsrc; i++) {
		if (h->kind == KIND_DATA) {
			if (copy_range(src[i].fd, src[i].off, fd, off,
			    src[i].len, buf, md))
				goto fail;
			off += src[i].len;
			continue;
		}
		put_le64(buf + fill, src[i].off);
		put_le64(buf + fill + 8, src[i].len);
		fill += MOVE_LEN;
		if (fill + MOVE_LEN > MBOX_BLOCK_SIZE || i + 1 == nsrc) {
			if (XXH3_128bits_update(md, buf, fill) != XXH_OK ||
			    pwrite_full(fd, buf, fill, off))
				goto fail;
			off += fill;
			fill = 0;
		}
	}
	put_sum(md, h->sum);
	encode(h, hb);
	if (pwrite_full(fd, hb, JH_SIZE, 0) || fsync(fd) < 0)
		goto fail;
	spool_privileged(1);
	if (rename(tmp, path) < 0) {
		spool_privileged(0);
		goto fail;
	}
	spool_privileged(0);
	if (fsync_dir(path) < 0)
		goto fail_renamed;
	XXH3_freeState(md);
	return fd;

fail:
	log_msg(LOG_ERR, "cannot write journal %s: %s", tmp, strerror(errno));
	if (fd >= 0) {
		close(fd);
		spool_privileged(1);
		(void)unlink(tmp);
		spool_privileged(0);
	}
	XXH3_freeState(md);
	return -1;
fail_renamed:
	/* The journal is in place; recovery at the next open finishes. */
	log_msg(LOG_ERR, "cannot sync directory of %s: %s", path,
	    strerror(errno));
	close(fd);
	XXH3_freeState(md);
	return -1;
}

/* Steps 2-4: applies a journal that is in place; for KIND_MOVES, mv holds
 * its moves (sources in the mbox). */
static int apply_journal(const char *mbox, int mfd, int jfd,
    const struct jheader *h, const struct jsource *mv, size_t nmv,
    unsigned char *buf)
{
	char path[MAX_PATH_LEN];
	size_t nlen;

	if (journal_path(path, sizeof(path), mbox, JOURNAL_SUFFIX))
		return -1;
	if (h->kind == KIND_DATA) {
		if (copy_range(jfd, JH_SIZE, mfd, h->w0, h->data_len, buf,
		    NULL))
			return -1;
	} else {
		struct mover m = {
			.mfd = mfd, .jfd = jfd, .mv = mv, .n = nmv,
			.w0 = h->w0, .s_new = h->s_new,
			.durable = h->progress, .kicked = h->progress,
			.buf = buf,
			.need = source_of(mv, nmv, h->w0, h->progress),
		};

		if (run_moves(&m))
			return -1;
	}
	/* The nonce must be durable before the phase says "applied":
	 * recovery reads its absence as "the truncation happened".  (Its
	 * bytes are no source any more: run_moves() saw to that.) */
	nlen = h->s_orig - h->s_new < NONCE_LEN ?
	    (size_t)(h->s_orig - h->s_new) : NONCE_LEN;
	if (pwrite_full(mfd, h->nonce, nlen, h->s_new) || fsync(mfd) < 0)
		return -1;
	if (set_state(jfd, PHASE_APPLIED,
	    h->kind == KIND_MOVES ? h->s_new : 0) || fsync(jfd) < 0)
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

/* Writes the journal h describes (kind, w0, s_orig, s_new and progress
 * set by the caller) and applies it. */
static int rewrite(const char *mbox, int mfd, struct jheader *h,
    const struct jsource *src, size_t nsrc, unsigned char *buf)
{
	struct stat st;
	int jfd, r;

	if (fstat(mfd, &st) < 0)
		return -1;
	h->dev = (uint64_t)st.st_dev;
	h->ino = (uint64_t)st.st_ino;
	h->data_len = h->kind == KIND_DATA ? h->s_new - h->w0 :
	    (uint64_t)nsrc * MOVE_LEN;
	jfd = write_journal(mbox, h, src, nsrc, buf);
	if (jfd < 0)
		return -1;
	r = apply_journal(mbox, mfd, jfd, h, src, nsrc, buf);
	if (r < 0)
		log_msg(LOG_ERR, "UPDATE of %s interrupted: %s; the journal "
		    "finishes it at the next login", mbox, strerror(errno));
	close(jfd);
	return r;
}

int journal_rewrite(const char *mbox, int mfd, uint64_t w0, uint64_t s_orig,
    const struct jsource *src, size_t nsrc, unsigned char *buf)
{
	struct jheader h;
	uint64_t total = 0;
	size_t i;
	int moves = 1;

	memset(&h, 0, sizeof(h));
	if (w0 > s_orig) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < nsrc; i++) {
		if (src[i].len > s_orig - w0 - total) {
			errno = EINVAL;
			return -1;
		}
		/* Moves read the mbox itself, in order, each from after
		 * its destination (w0 + total). */
		if (src[i].fd != mfd || src[i].len == 0 ||
		    src[i].off <= w0 + total ||
		    (i > 0 && src[i].off < src[i - 1].off + src[i - 1].len))
			moves = 0;
		total += src[i].len;
	}
	h.w0 = w0;
	h.s_orig = s_orig;
	h.s_new = w0 + total;
	if (h.s_new >= s_orig) {
		errno = EINVAL;
		return -1;
	}
	if (moves && nsrc > 0) {
		/* A dry run counts the checkpoints; each costs two fsyncs,
		 * against writing every moved byte twice with KIND_DATA. */
		struct mover dry = {
			.mfd = mfd, .jfd = -1, .mv = src, .n = nsrc,
			.w0 = w0, .s_new = h.s_new, .durable = w0,
			.need = src[0].off,
			.limit = JOURNAL_CHECKPOINTS_MIN +
			    total / JOURNAL_CHECKPOINT_BYTES,
		};

		moves = run_moves(&dry) == 0;
	}
	h.kind = moves ? KIND_MOVES : KIND_DATA;
	h.progress = moves ? w0 : 0;
	return rewrite(mbox, mfd, &h, src, nsrc, buf);
}

/*
 * Reads and verifies a journal.  For KIND_MOVES, *mv_r gets its moves
 * (malloc'd, with fd -1; the caller frees).  Returns 0, or -1 if damaged
 * (or out of memory: errno ENOMEM).
 */
static int load_journal(int jfd, struct jheader *h, unsigned char *buf,
    struct jsource **mv_r, size_t *nmv_r)
{
	unsigned char hb[JH_SIZE], sum[SUM_LEN] = { 0 };
	XXH3_state_t *md;
	struct stat st;
	struct jsource *mv = NULL;
	uint64_t off, left, dst, prev_end;
	size_t nmv = 0, k = 0;
	int ok = 0;

	*mv_r = NULL;
	*nmv_r = 0;
	if (fstat(jfd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || pread_full(jfd, hb, JH_SIZE, 0) ||
	    decode(hb, h) ||
	    (uint64_t)st.st_size != JH_SIZE + h->data_len)
		return -1;
	if (h->kind == KIND_MOVES) {
		if (h->data_len / MOVE_LEN > SIZE_MAX / sizeof(*mv))
			return -1;
		nmv = (size_t)(h->data_len / MOVE_LEN);
		if (nmv > 0 && !(mv = calloc(nmv, sizeof(*mv))))
			return -1;
	}
	md = XXH3_createState();
	if (!md) {
		free(mv);
		return -1;
	}
	if (XXH3_128bits_reset(md) == XXH_OK &&
	    XXH3_128bits_update(md, hb + JH_SUM_FROM,
	    JH_SUM_TO - JH_SUM_FROM) == XXH_OK) {
		ok = 1;
		for (off = JH_SIZE, left = h->data_len; ok && left > 0;) {
			/* Whole moves per block: MBOX_BLOCK_SIZE is a
			 * multiple of MOVE_LEN. */
			size_t n = left < MBOX_BLOCK_SIZE ? (size_t)left :
			    MBOX_BLOCK_SIZE;

			ok = !pread_full(jfd, buf, n, off) &&
			    XXH3_128bits_update(md, buf, n) == XXH_OK;
			for (size_t i = 0; ok && mv && i < n; i += MOVE_LEN) {
				mv[k].fd = -1;
				mv[k].off = get_le64(buf + i);
				mv[k].len = get_le64(buf + i + 8);
				k++;
			}
			off += n;
			left -= n;
		}
		if (ok)
			put_sum(md, sum);
		ok = ok && memcmp(sum, h->sum, SUM_LEN) == 0;
	}
	XXH3_freeState(md);
	/* The moves' shape, which run_moves() relies on: each source
	 * non-empty, after its destination, after the previous source,
	 * inside the old file; destinations ending at s_new. */
	for (k = 0, dst = h->w0, prev_end = h->w0; ok && k < nmv; k++) {
		ok = mv[k].len > 0 && mv[k].off > dst &&
		    mv[k].off >= prev_end && mv[k].off < h->s_orig &&
		    mv[k].len <= h->s_orig - mv[k].off &&
		    mv[k].len <= h->s_new - dst;
		dst += mv[k].len;
		prev_end = mv[k].off + mv[k].len;
	}
	if (ok && h->kind == KIND_MOVES && dst != h->s_new)
		ok = 0;
	if (!ok) {
		free(mv);
		return -1;
	}
	*mv_r = mv;
	*nmv_r = nmv;
	return 0;
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
	if (pread_full(mfd, got, nlen, h->s_new))
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

/* Finishes a journal in place: redone as it is, or (mail appended since
 * the crash, `appended` bytes after s_orig) replaced by one that also
 * keeps that mail. */
static int finish(const char *mbox, int mfd, int jfd, struct jheader *h,
    struct jsource *mv, size_t nmv, uint64_t appended, unsigned char *buf)
{
	struct jsource *all, data[2] = { { 0 } };
	struct jheader nh;
	int r;

	for (size_t k = 0; k < nmv; k++)
		mv[k].fd = mfd;
	if (appended == 0) {
		h->phase = PHASE_WRITTEN;
		return apply_journal(mbox, mfd, jfd, h, mv, nmv, buf);
	}
	memset(&nh, 0, sizeof(nh));
	nh.kind = h->kind;
	nh.w0 = h->w0;
	nh.s_orig = h->s_orig + appended;
	nh.s_new = h->s_new + appended;
	if (h->kind == KIND_DATA) {
		data[0].fd = jfd;
		data[0].off = JH_SIZE;
		data[0].len = h->data_len;
		data[1].fd = mfd;
		data[1].off = h->s_orig;
		data[1].len = appended;
		return rewrite(mbox, mfd, &nh, data, 2, buf);
	}
	/* The new mail is one more move, and the progress made stays
	 * valid: no earlier move changes. */
	all = calloc(nmv + 1, sizeof(*all));
	if (!all)
		return -1;
	if (nmv > 0)
		memcpy(all, mv, nmv * sizeof(*all));
	all[nmv].fd = mfd;
	all[nmv].off = h->s_orig;
	all[nmv].len = appended;
	nh.progress = h->phase == PHASE_APPLIED ? h->s_new : h->progress;
	r = rewrite(mbox, mfd, &nh, all, nmv + 1, buf);
	free(all);
	return r;
}

int journal_recover(const char *mbox, int mfd, unsigned char *buf)
{
	char path[MAX_PATH_LEN], tmp[MAX_PATH_LEN];
	struct jheader h;
	struct stat st;
	struct jsource *mv = NULL;
	size_t nmv = 0;
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
	errno = 0;
	if (load_journal(jfd, &h, buf, &mv, &nmv) < 0) {
		close(jfd);
		if (errno == ENOMEM)
			return MBOX_ERROR;
		refuse(path, mbox, "damaged");
		return MBOX_JOURNAL;
	}
	r = MBOX_ERROR;
	if (fstat(mfd, &st) < 0)
		goto out;
	cur = (uint64_t)st.st_size;
	if (h.dev != (uint64_t)st.st_dev || h.ino != (uint64_t)st.st_ino) {
		refuse(path, mbox, "from another mailbox");
		r = MBOX_JOURNAL;
		goto out;
	}
	if (h.phase == PHASE_APPLIED) {
		if (truncated(mfd, &h, cur, &done) < 0)
			goto out;
		if (done) {
			/* Only the journal's removal was missing. */
			spool_privileged(1);
			r = unlink(path);
			spool_privileged(0);
			if (r < 0 || fsync_dir(path) < 0) {
				r = MBOX_ERROR;
				goto out;
			}
			log_msg(LOG_NOTICE, "recovered interrupted UPDATE of "
			    "%s (it had completed)", mbox);
			r = MBOX_OK;
			goto out;
		}
	}
	if (cur < h.s_orig) {
		refuse(path, mbox, "inconsistent with the mailbox size");
		r = MBOX_JOURNAL;
		goto out;
	}
	appended = cur - h.s_orig;
	if (finish(mbox, mfd, jfd, &h, mv, nmv, appended, buf) < 0) {
		log_msg(LOG_ERR, "recovery of %s failed: %s", mbox,
		    strerror(errno));
		r = MBOX_ERROR;
		goto out;
	}
	log_msg(LOG_NOTICE, "recovered interrupted UPDATE of %s (completed "
	    "it%s)", mbox, appended ? ", keeping mail delivered since" : "");
	r = MBOX_OK;
out:
	close(jfd);
	free(mv);
	return r;
}

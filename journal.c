/*
 * journal.c - crash-safe UPDATE: the write-ahead journal beside the mbox
 * and the recovery that finishes an interrupted UPDATE.
 *
 * Runs with the user's privileges (plus the privileged mail group while
 * names in the spool directory are created, renamed or removed, through
 * the directory descriptor spool.c checked: never while mail is read).  Called only with
 * the mbox dot-lock and fcntl lock held.  The protocol is described in
 * docs/update-journal.md; in short:
 *
 *   1. write MBOX.pop3d-journal.new: a header, the rewrite (the final
 *      bytes of [w0, s_new), or the moves that produce them) and the
 *      checks that tie the journal to the bytes it was written for;
 *      fsync; rename it to MBOX.pop3d-journal; fsync the directory.  Until
 *      the rename the mbox is untouched (a crash leaves the state before
 *      QUIT).
 *   2. rewrite [w0, s_new) in place; fsync.
 *   3. write a nonce at s_new (in the bytes the truncation will cut);
 *      fsync; mark the journal "applied"; fsync it.
 *   4. truncate the mbox to s_new; fsync; remove the journal; fsync the
 *      directory.
 *
 * From the rename on, recovery rolls forward to the state after QUIT, but
 * only onto bytes it can prove are a state this UPDATE could have left:
 * every byte it will read, every byte it already wrote and the end of the
 * prefix it keeps are checked against hashes in the journal first.  A
 * file that fails any check (replaced, edited in place, restored) is not
 * touched.  Mail that an MDA appended after a crash lies beyond s_orig, or
 * beyond s_new once the truncation happened; the nonce tells the two
 * apart, and recovery keeps that mail by writing a new journal that
 * includes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#define JOURNAL_MAGIC	"POP3DJN3"
#define JOURNAL_MAGIC_2	"POP3DJN2"	/* the format before content checks */
#define JH_SIZE		176	/* header bytes; the data follows */
#define JH_STATE_OFF	8	/* phase and progress: rewritten in place */
#define JH_STATE_LEN	16
#define JH_SUM_FROM	24	/* the checksum covers [24, 160) + the rest */
#define JH_SUM_TO	160
#define NONCE_LEN	16
#define SUM_LEN		16
#define MOVE_LEN	16	/* one move in the data: source offset, length */
#define HASH_LEN	8	/* one XXH3-64 in the checks */
#define HASH_BUF_SIZE	65536	/* checks read or written at a time */
#define MOVE_BATCH	1024	/* pieces written by one pwritev (IOV_MAX) */
#define MOVE_WINDOW	MBOX_BLOCK_SIZE	/* source bytes of a batch: bounds RSS */
#define MOVE_KICK_BYTES	(8UL * 1024 * 1024)	/* see run_moves() */

enum { PHASE_WRITTEN = 1, PHASE_APPLIED = 2 };

/* copy_range() ends its writes on sector boundaries by shortening a
 * block by the offset into a sector: with a block not a multiple of the
 * sector, that length is zero or wraps, and the copy never ends. */
#if MBOX_BLOCK_SIZE % JOURNAL_SECTOR != 0 || MBOX_BLOCK_SIZE < JOURNAL_SECTOR
#error "MBOX_BLOCK_SIZE must be a multiple of JOURNAL_SECTOR"
#endif
#if MBOX_BLOCK_SIZE % MOVE_LEN != 0 || MBOX_BLOCK_SIZE % HASH_LEN != 0
#error "MBOX_BLOCK_SIZE must hold whole moves and hashes"
#endif

/*
 * KIND_DATA: the data is the final contents of [w0, s_new); applying it is
 * a plain copy, idempotent by construction.  Its checks are two hashes per
 * sector of [w0, s_new), of the bytes before and after the rewrite: after
 * a power cut each sector there holds one or the other.
 * KIND_MOVES: the data lists the moves (source offset and length of each
 * kept piece, destinations back to back from w0) and the mbox itself is
 * the only copy of the mail; "progress" says how much of [w0, s_new) is
 * durably final, and the writer never overwrites a source byte that
 * recovery from that progress would still read (see run_moves()).  Its
 * checks are one hash per move, of the bytes it moves: wherever they are
 * at a crash (source, destination, or split at the progress), recovery
 * finds them again before it reads or overwrites anything.
 */
enum { KIND_DATA = 1, KIND_MOVES = 2 };

struct jheader {
	uint32_t phase;
	uint64_t progress;	/* KIND_MOVES: [w0, progress) is final */
	/* The mbox's identity, where the file system keeps it: stable
	 * across reboots, unlike st_dev; birth time 0 with has_btime 0
	 * where statx(2) does not report it. */
	uint64_t ino;
	uint64_t btime_sec;
	uint32_t btime_nsec, has_btime;
	uint64_t w0;		/* first byte the rewrite changes */
	uint64_t s_orig;	/* mbox size when the journal was made */
	uint64_t s_new;		/* mbox size after UPDATE */
	uint64_t data_len;
	uint64_t checks_len;	/* the hashes after the data */
	uint32_t kind;
	unsigned char nonce[NONCE_LEN];
	/* What the mbox held where the nonce goes (nonce_len() bytes). */
	unsigned char under[NONCE_LEN];
	/* XXH3-64 of the last tail_len bytes before w0 (the end of the
	 * prefix the rewrite keeps); KIND_DATA: of [s_new + nonce_len(),
	 * s_orig), which the rewrite never writes. */
	uint64_t tail_len, tail_hash, rest_hash;
	unsigned char sum[SUM_LEN];	/* see journal_sum() */
};

static size_t nonce_len(const struct jheader *h)
{
	return h->s_orig - h->s_new < NONCE_LEN ?
	    (size_t)(h->s_orig - h->s_new) : NONCE_LEN;
}

/* The sectors of [a, b): a power cut leaves each one whole, old or new. */
static uint64_t sectors(uint64_t a, uint64_t b)
{
	return a >= b ? 0 : (b - 1) / JOURNAL_SECTOR - a / JOURNAL_SECTOR + 1;
}

/* The length of the checks a journal of this shape has. */
static uint64_t checks_len_of(const struct jheader *h)
{
	if (h->kind == KIND_DATA)
		return sectors(h->w0, h->s_new) * 2 * HASH_LEN;
	return h->data_len / MOVE_LEN * HASH_LEN;
}

/*
 * The checksum: XXH3-128 over the digests of the header fields with the
 * data, and of the checks (which the writer produces in a separate pass).
 * It guards against damage, not forgery: the journal is the user's own
 * file, and forging one gains nothing a user could not do to the mbox.
 */
static void journal_sum(XXH3_state_t *md, XXH3_state_t *mc,
    unsigned char sum[SUM_LEN])
{
	XXH128_canonical_t c[2], s;

	XXH128_canonicalFromHash(&c[0], XXH3_128bits_digest(md));
	XXH128_canonicalFromHash(&c[1], XXH3_128bits_digest(mc));
	XXH128_canonicalFromHash(&s, XXH3_128bits(c, sizeof(c)));
	memcpy(sum, s.digest, SUM_LEN);
}

static void encode(const struct jheader *h, unsigned char *b)
{
	memset(b, 0, JH_SIZE);
	/* A fixed 8-byte binary field, not a string: no NUL wanted. */
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(b, JOURNAL_MAGIC, 8);
	put_le64(b + 8, h->phase);		/* phase, then 4 reserved bytes */
	put_le64(b + 16, h->progress);
	put_le64(b + 24, h->ino);
	put_le64(b + 32, h->btime_sec);
	put_le64(b + 40, h->btime_nsec | (uint64_t)h->has_btime << 32);
	put_le64(b + 48, h->w0);
	put_le64(b + 56, h->s_orig);
	put_le64(b + 64, h->s_new);
	put_le64(b + 72, h->data_len);
	put_le64(b + 80, h->kind);		/* kind, then 4 reserved bytes */
	put_le64(b + 88, h->checks_len);
	memcpy(b + 96, h->nonce, NONCE_LEN);
	memcpy(b + 112, h->under, NONCE_LEN);
	put_le64(b + 128, h->tail_len);
	put_le64(b + 136, h->tail_hash);
	put_le64(b + 144, h->rest_hash);
	/* 152: 8 reserved bytes, 0 */
	memcpy(b + 160, h->sum, SUM_LEN);
}

/* Returns 0, -1 if damaged, -2 if in the older format. */
static int decode(const unsigned char *b, struct jheader *h)
{
	uint64_t phase, kind, bt;

	if (memcmp(b, JOURNAL_MAGIC_2, 8) == 0)
		return -2;
	if (memcmp(b, JOURNAL_MAGIC, 8))
		return -1;
	phase = get_le64(b + 8);
	h->progress = get_le64(b + 16);
	h->ino = get_le64(b + 24);
	h->btime_sec = get_le64(b + 32);
	bt = get_le64(b + 40);
	h->btime_nsec = (uint32_t)bt;
	h->has_btime = (uint32_t)(bt >> 32);
	h->w0 = get_le64(b + 48);
	h->s_orig = get_le64(b + 56);
	h->s_new = get_le64(b + 64);
	h->data_len = get_le64(b + 72);
	kind = get_le64(b + 80);
	h->checks_len = get_le64(b + 88);
	memcpy(h->nonce, b + 96, NONCE_LEN);
	memcpy(h->under, b + 112, NONCE_LEN);
	h->tail_len = get_le64(b + 128);
	h->tail_hash = get_le64(b + 136);
	h->rest_hash = get_le64(b + 144);
	memcpy(h->sum, b + 160, SUM_LEN);
	/* Every relation the writer guarantees; overflow checked first. */
	if (phase != PHASE_WRITTEN && phase != PHASE_APPLIED)
		return -1;
	if (kind != KIND_DATA && kind != KIND_MOVES)
		return -1;
	h->phase = (uint32_t)phase;
	h->kind = (uint32_t)kind;
	if (h->has_btime > 1 || h->btime_nsec >= 1000000000U ||
	    get_le64(b + 152) != 0)
		return -1;
	if (h->w0 > h->s_new || h->s_new >= h->s_orig || h->nonce[0] != '\0')
		return -1;
	if (h->tail_len > h->w0 || h->tail_len > JOURNAL_PREFIX_CHECK)
		return -1;
	if (kind == KIND_DATA) {
		if (h->data_len != h->s_new - h->w0 || h->progress != 0)
			return -1;
	} else {
		/* Each move has at least one source byte of its own. */
		if (h->data_len % MOVE_LEN ||
		    h->data_len / MOVE_LEN > h->s_orig - h->w0 ||
		    h->progress < h->w0 || h->progress > h->s_new ||
		    (phase == PHASE_APPLIED && h->progress != h->s_new) ||
		    h->rest_hash != 0)
			return -1;
	}
	return h->checks_len == checks_len_of(h) ? 0 : -1;
}

/* A journal name: relative to the spool directory, and in full for the
 * logs. */
struct jname {
	char name[MAX_PATH_LEN];
	char path[MAX_PATH_LEN];
};

static int journal_name(struct jname *j, const struct spool *sp,
    const char *suffix)
{
	return spool_name(sp, suffix, j->name, sizeof(j->name), j->path,
	    sizeof(j->path));
}

/* The mbox's inode number and, where the file system has one, its birth
 * time.  Returns 0 or -1. */
static int identity(int mfd, struct jheader *h)
{
	struct statx sx;

	if (statx(mfd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &sx) < 0)
		return -1;
	h->ino = sx.stx_ino;
	h->has_btime = (sx.stx_mask & STATX_BTIME) != 0;
	h->btime_sec = h->has_btime ? (uint64_t)sx.stx_btime.tv_sec : 0;
	h->btime_nsec = h->has_btime ? sx.stx_btime.tv_nsec : 0;
	return 0;
}

/* Where the bytes of read_range() go; returns 0, or -1 to stop. */
typedef int (*sink_fn)(void *ctx, const unsigned char *p, size_t n);

/* Reads [off, off + len) of fd through buf into fn.  Returns 0, or -1 (a
 * read error, errno set; or fn stopped it). */
static int read_range(int fd, uint64_t off, uint64_t len, unsigned char *buf,
    sink_fn fn, void *ctx)
{
	while (len > 0) {
		size_t n = len < MBOX_BLOCK_SIZE ? (size_t)len :
		    MBOX_BLOCK_SIZE;

		if (pread_full(fd, buf, n, off) || fn(ctx, buf, n))
			return -1;
		off += n;
		len -= n;
	}
	return 0;
}

static int sink_hash64(void *ctx, const unsigned char *p, size_t n)
{
	return XXH3_64bits_update(ctx, p, n) == XXH_OK ? 0 : -1;
}

/* XXH3-64 of [off, off + len) of fd, continued in st (reset by the
 * caller). */
static int hash_range(int fd, uint64_t off, uint64_t len, unsigned char *buf,
    XXH3_state_t *st)
{
	return read_range(fd, off, len, buf, sink_hash64, st);
}

/* XXH3-64 of [off, off + len) of fd alone.  Returns 0 or -1. */
static int hash_of(int fd, uint64_t off, uint64_t len, unsigned char *buf,
    XXH3_state_t *st, uint64_t *hash_r)
{
	if (XXH3_64bits_reset(st) != XXH_OK ||
	    hash_range(fd, off, len, buf, st))
		return -1;
	*hash_r = XXH3_64bits_digest(st);
	return 0;
}

/*
 * Copies len bytes from (in, in_off) to (out, out_off), hashing them into
 * md (XXH3-128) when md is not NULL.  Every write but the last ends on a
 * sector boundary of out, so no sector is written twice: after a power
 * cut, a sector holds its old bytes or all of its new ones, which is what
 * recovery checks for (KIND_DATA's sector hashes).
 */
static int copy_range(int in, uint64_t in_off, int out, uint64_t out_off,
    uint64_t len, unsigned char *buf, XXH3_state_t *md)
{
	while (len > 0) {
		size_t n = MBOX_BLOCK_SIZE - (size_t)(out_off % JOURNAL_SECTOR);

		if (n > len)
			n = (size_t)len;
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

/* Rewrites the two in-place fields of the journal header (16 bytes in
 * one sector: a power cut leaves the old or the new pair). */
static int set_state(int jfd, uint32_t phase, uint64_t progress)
{
	unsigned char b[JH_STATE_LEN];

	put_le64(b, phase);
	put_le64(b + 8, progress);
	return pwrite_full(jfd, b, sizeof(b), JH_STATE_OFF);
}

/* ------------------------------------------------- the checks' hashes */

/* One XXH3-64 per sector of a byte stream that starts at file offset
 * pos: each hash goes to emit(ctx, hash) as its sector completes. */
struct sectors {
	uint64_t pos;
	size_t plen;
	int (*emit)(void *ctx, uint64_t hash);
	void *ctx;
	unsigned char part[JOURNAL_SECTOR];
};

static int sectors_feed(void *ctx, const unsigned char *p, size_t len)
{
	struct sectors *s = ctx;

	while (len > 0) {
		size_t room = JOURNAL_SECTOR - (size_t)(s->pos % JOURNAL_SECTOR);
		size_t n = len < room ? len : room;

		if (s->plen == 0 && n == JOURNAL_SECTOR) {
			if (s->emit(s->ctx, XXH3_64bits(p, n)))
				return -1;
		} else {
			memcpy(s->part + s->plen, p, n);
			s->plen += n;
			if (n == room) {
				if (s->emit(s->ctx,
				    XXH3_64bits(s->part, s->plen)))
					return -1;
				s->plen = 0;
			}
		}
		p += n;
		len -= n;
		s->pos += n;
	}
	return 0;
}

/* The last, partial sector of the stream. */
static int sectors_end(struct sectors *s)
{
	int r = 0;

	if (s->plen > 0)
		r = s->emit(s->ctx, XXH3_64bits(s->part, s->plen));
	s->plen = 0;
	return r;
}

/* Hashes written to the journal at off, in order, also fed to mc. */
struct hash_out {
	int fd;
	uint64_t off;
	XXH3_state_t *mc;
	size_t fill;
	unsigned char buf[HASH_BUF_SIZE];
};

static int hash_out_flush(struct hash_out *o)
{
	if (o->fill == 0)
		return 0;
	if (XXH3_128bits_update(o->mc, o->buf, o->fill) != XXH_OK ||
	    pwrite_full(o->fd, o->buf, o->fill, o->off))
		return -1;
	o->off += o->fill;
	o->fill = 0;
	return 0;
}

static int hash_out_put(void *ctx, uint64_t hash)
{
	struct hash_out *o = ctx;

	put_le64(o->buf + o->fill, hash);
	o->fill += HASH_LEN;
	return o->fill == sizeof(o->buf) ? hash_out_flush(o) : 0;
}

/* Hashes read from the journal: left bytes of them from off on. */
struct hash_in {
	int fd;
	uint64_t off, left;
	size_t pos, fill;
	unsigned char buf[HASH_BUF_SIZE];
};

static int hash_in_next(struct hash_in *in, uint64_t *hash_r)
{
	if (in->pos == in->fill) {
		size_t n = in->left < sizeof(in->buf) ? (size_t)in->left :
		    sizeof(in->buf);

		if (n < HASH_LEN) {
			errno = EIO;
			return -1;
		}
		if (pread_full(in->fd, in->buf, n, in->off))
			return -1;
		in->off += n;
		in->left -= n;
		in->fill = n;
		in->pos = 0;
	}
	*hash_r = get_le64(in->buf + in->pos);
	in->pos += HASH_LEN;
	return 0;
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

/* ------------------------------------------ files in the spool directory */

/*
 * Says whether the name is free or holds a file of ours (a regular file
 * owned by this user).  Anything else there was not made by pop3d for
 * this user -- another local user planted it, or another user's mailbox
 * has that name -- and is never read, replaced or removed.  Returns 1
 * free, 2 ours, 0 foreign (logged), -1 error.
 */
static int own_name(const struct spool *sp, const struct jname *j)
{
	const char *path = j->path;
	struct stat st;

	if (fstatat(sp->dfd, j->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 1 : -1;
	if (S_ISREG(st.st_mode) && st.st_uid == geteuid())
		return 2;
	log_msg(LOG_WARNING, "ignoring %s: not a regular file of uid %lu "
	    "(owner uid %lu), so not pop3d's; the spool directory must not be "
	    "writable by other users", path, (unsigned long)geteuid(),
	    (unsigned long)st.st_uid);
	return 0;
}

/* Removes the file if it is ours.  Returns 1 removed, 0 nothing (absent
 * or foreign), -1 error. */
static int remove_own(const struct spool *sp, const struct jname *j)
{
	int r = own_name(sp, j);

	if (r != 2)
		return r < 0 ? -1 : 0;
	(void)spool_privileged(sp, 1);
	r = unlinkat(sp->dfd, j->name, 0);
	(void)spool_privileged(sp, 0);
	return r < 0 && errno != ENOENT ? -1 : r == 0;
}

/* ------------------------------------------------------ writing one */

/* The sink of KIND_DATA's copy into the journal: the data to the journal
 * and its checksum, and to the hashes of the sectors after the rewrite. */
struct data_out {
	int fd;
	uint64_t off;
	XXH3_state_t *md;
	struct sectors *after;
};

static int sink_data(void *ctx, const unsigned char *p, size_t n)
{
	struct data_out *d = ctx;

	if (XXH3_128bits_update(d->md, p, n) != XXH_OK ||
	    pwrite_full(d->fd, p, n, d->off) || sectors_feed(d->after, p, n))
		return -1;
	d->off += n;
	return 0;
}

/* The header's checks, of the mbox as it is now: the bytes where the
 * nonce goes, the tail of the prefix and (KIND_DATA) the rest after the
 * nonce.  Returns 0 or -1. */
static int header_checks(int mfd, struct jheader *h, unsigned char *buf,
    XXH3_state_t *st)
{
	size_t nlen = nonce_len(h);

	memset(h->under, 0, sizeof(h->under));
	if (pread_full(mfd, h->under, nlen, h->s_new))
		return -1;
	h->tail_len = h->w0 < JOURNAL_PREFIX_CHECK ? h->w0 :
	    JOURNAL_PREFIX_CHECK;
	if (hash_of(mfd, h->w0 - h->tail_len, h->tail_len, buf, st,
	    &h->tail_hash))
		return -1;
	h->rest_hash = 0;
	return h->kind == KIND_DATA && hash_of(mfd, h->s_new + nlen,
	    h->s_orig - h->s_new - nlen, buf, st, &h->rest_hash) ? -1 : 0;
}

/* The data and checks of a journal: KIND_DATA copies the sources, with
 * two sector hashes (now, and after the rewrite); KIND_MOVES lists them,
 * with one hash each (known[i] for the first nknown, which recovery
 * carries over: their sources may already be overwritten). */
static int write_body(int fd, int mfd, const struct jheader *h,
    const struct jsource *src, size_t nsrc, const uint64_t *known,
    size_t nknown, unsigned char *buf, XXH3_state_t *md, XXH3_state_t *st,
    struct hash_out *ho)
{
	unsigned char mvbuf[HASH_BUF_SIZE];
	uint64_t off = JH_SIZE;
	size_t i, fill = 0;

	if (h->kind == KIND_DATA) {
		struct sectors before = { .pos = h->w0, .emit = hash_out_put,
		    .ctx = ho };
		struct sectors after = before;
		struct data_out d = { .fd = fd, .off = JH_SIZE, .md = md,
		    .after = &after };

		if (read_range(mfd, h->w0, h->s_new - h->w0, buf,
		    sectors_feed, &before) || sectors_end(&before))
			return -1;
		for (i = 0; i < nsrc; i++)
			if (read_range(src[i].fd, src[i].off, src[i].len, buf,
			    sink_data, &d))
				return -1;
		return sectors_end(&after);
	}
	for (i = 0; i < nsrc; i++) {
		uint64_t hash;

		if (i < nknown)
			hash = known[i];
		else if (hash_of(src[i].fd, src[i].off, src[i].len, buf, st,
		    &hash))
			return -1;
		if (hash_out_put(ho, hash))
			return -1;
		put_le64(mvbuf + fill, src[i].off);
		put_le64(mvbuf + fill + 8, src[i].len);
		fill += MOVE_LEN;
		if (fill == sizeof(mvbuf) || i + 1 == nsrc) {
			if (XXH3_128bits_update(md, mvbuf, fill) != XXH_OK ||
			    pwrite_full(fd, mvbuf, fill, off))
				return -1;
			off += fill;
			fill = 0;
		}
	}
	return 0;
}

/* Step 1: writes the journal under its temporary name, then renames it
 * into place.  Returns an open descriptor of the journal, or -1. */
static int write_journal(const struct spool *sp, int mfd, struct jheader *h,
    const struct jsource *src, size_t nsrc, const uint64_t *known,
    size_t nknown, unsigned char *buf)
{
	struct jname tmp, path;
	unsigned char hb[JH_SIZE];
	XXH3_state_t *md = XXH3_createState(), *mc = XXH3_createState();
	XXH3_state_t *st = XXH3_createState();
	struct hash_out *ho = malloc(sizeof(*ho));
	int fd = -1, r;

	if (!md || !mc || !st || !ho ||
	    journal_name(&tmp, sp, JOURNAL_NEW) ||
	    journal_name(&path, sp, JOURNAL_SUFFIX) ||
	    getrandom(h->nonce, NONCE_LEN, 0) != NONCE_LEN)
		goto fail;
	/* No delivery starts with NUL, so the nonce can never be mistaken
	 * for mail appended after the truncation. */
	h->nonce[0] = '\0';
	h->phase = PHASE_WRITTEN;
	if (XXH3_128bits_reset(md) != XXH_OK ||
	    XXH3_128bits_reset(mc) != XXH_OK ||
	    header_checks(mfd, h, buf, st))
		goto fail;
	encode(h, hb);
	if (XXH3_128bits_update(md, hb + JH_SUM_FROM,
	    JH_SUM_TO - JH_SUM_FROM) != XXH_OK)
		goto fail;

	/* Never over a file that is not ours (the rename would replace it:
	 * another user's mailbox may have this name). */
	if (remove_own(sp, &tmp) < 0 || own_name(sp, &path) == 0) {
		errno = EEXIST;
		goto fail;
	}
	(void)spool_privileged(sp, 1);
	fd = openat(sp->dfd, tmp.name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	(void)spool_privileged(sp, 0);
	if (fd < 0)
		goto fail;
	ho->fd = fd;
	ho->off = JH_SIZE + h->data_len;
	ho->mc = mc;
	ho->fill = 0;
	if (write_body(fd, mfd, h, src, nsrc, known, nknown, buf, md, st,
	    ho) || hash_out_flush(ho))
		goto fail;
	journal_sum(md, mc, h->sum);
	encode(h, hb);
	if (pwrite_full(fd, hb, JH_SIZE, 0) || fsync(fd) < 0)
		goto fail;
	(void)spool_privileged(sp, 1);
	r = renameat(sp->dfd, tmp.name, sp->dfd, path.name);
	(void)spool_privileged(sp, 0);
	if (r < 0)
		goto fail;
	if (fsync(sp->dfd) < 0) {
		/* The journal is in place; recovery at the next open
		 * finishes. */
		log_msg(LOG_ERR, "cannot sync directory of %s: %s", path.path,
		    strerror(errno));
		close(fd);
		fd = -1;
	}
	XXH3_freeState(md);
	XXH3_freeState(mc);
	XXH3_freeState(st);
	free(ho);
	return fd;

fail:
	log_msg(LOG_ERR, "cannot write journal %s: %s", tmp.path,
	    strerror(errno));
	if (fd >= 0) {
		close(fd);
		(void)spool_privileged(sp, 1);
		(void)unlinkat(sp->dfd, tmp.name, 0);
		(void)spool_privileged(sp, 0);
	}
	XXH3_freeState(md);
	XXH3_freeState(mc);
	XXH3_freeState(st);
	free(ho);
	return -1;
}

/* Steps 2-4: applies a journal that is in place; for KIND_MOVES, mv holds
 * its moves (sources in the mbox). */
static int apply_journal(const struct spool *sp, int mfd, int jfd,
    const struct jheader *h, const struct jsource *mv, size_t nmv,
    unsigned char *buf)
{
	struct jname path;
	size_t nlen = nonce_len(h);
	int r;

	if (journal_name(&path, sp, JOURNAL_SUFFIX))
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
	if (pwrite_full(mfd, h->nonce, nlen, h->s_new) || fsync(mfd) < 0)
		return -1;
	if (set_state(jfd, PHASE_APPLIED,
	    h->kind == KIND_MOVES ? h->s_new : 0) || fsync(jfd) < 0)
		return -1;
	if (ftruncate(mfd, (off_t)h->s_new) < 0 || fsync(mfd) < 0)
		return -1;
	(void)spool_privileged(sp, 1);
	r = unlinkat(sp->dfd, path.name, 0);
	(void)spool_privileged(sp, 0);
	return r < 0 ? -1 : fsync(sp->dfd);
}

/* Writes the journal h describes (kind, w0, s_orig, s_new and progress
 * set by the caller) and applies it. */
static int rewrite(const struct spool *sp, int mfd, struct jheader *h,
    const struct jsource *src, size_t nsrc, const uint64_t *known,
    size_t nknown, unsigned char *buf)
{
	int jfd, r;

	if (identity(mfd, h) < 0)
		return -1;
	h->data_len = h->kind == KIND_DATA ? h->s_new - h->w0 :
	    (uint64_t)nsrc * MOVE_LEN;
	h->checks_len = checks_len_of(h);
	jfd = write_journal(sp, mfd, h, src, nsrc, known, nknown, buf);
	if (jfd < 0)
		return -1;
	r = apply_journal(sp, mfd, jfd, h, src, nsrc, buf);
	if (r < 0)
		log_msg(LOG_ERR, "UPDATE of %s interrupted: %s; the journal "
		    "finishes it at the next login", sp->path, strerror(errno));
	close(jfd);
	return r;
}

int journal_rewrite(const struct spool *sp, int mfd, uint64_t w0,
    uint64_t s_orig,
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
	return rewrite(sp, mfd, &h, src, nsrc, NULL, 0, buf);
}

/* ------------------------------------------------------------ recovery */

/*
 * Reads and verifies a journal.  For KIND_MOVES, *mv_r gets its moves
 * (malloc'd, with fd -1) and *mh_r their hashes; the caller frees both.
 * Returns 0, -1 if damaged (or out of memory: errno ENOMEM), -2 if it is
 * in the format of an older pop3d.
 */
static int load_journal(int jfd, struct jheader *h, unsigned char *buf,
    struct jsource **mv_r, uint64_t **mh_r, size_t *nmv_r)
{
	unsigned char hb[JH_SIZE], sum[SUM_LEN] = { 0 };
	XXH3_state_t *md = XXH3_createState(), *mc = XXH3_createState();
	struct stat st;
	struct jsource *mv = NULL;
	uint64_t *mh = NULL;
	uint64_t rem, off, left, dst, prev_end;
	size_t nmv = 0, k = 0, j = 0;
	int ok = 0, r = -1;

	*mv_r = NULL;
	*mh_r = NULL;
	*nmv_r = 0;
	if (!md || !mc) {
		errno = ENOMEM;
		goto out;
	}
	if (fstat(jfd, &st) < 0 || st.st_size < JH_SIZE ||
	    pread_full(jfd, hb, JH_SIZE, 0))
		goto out;
	r = decode(hb, h);
	if (r)
		goto out;
	r = -1;
	rem = (uint64_t)st.st_size - JH_SIZE;
	if (h->data_len > rem || h->checks_len != rem - h->data_len)
		goto out;
	if (h->kind == KIND_MOVES) {
		nmv = (size_t)(h->data_len / MOVE_LEN);
		if (nmv > 0 && (!(mv = calloc(nmv, sizeof(*mv))) ||
		    !(mh = calloc(nmv, sizeof(*mh))))) {
			errno = ENOMEM;
			goto out;
		}
	}
	if (XXH3_128bits_reset(md) == XXH_OK &&
	    XXH3_128bits_reset(mc) == XXH_OK &&
	    XXH3_128bits_update(md, hb + JH_SUM_FROM,
	    JH_SUM_TO - JH_SUM_FROM) == XXH_OK) {
		ok = 1;
		/* The data, then the checks; whole moves and hashes per
		 * block (MBOX_BLOCK_SIZE is a multiple of both). */
		for (off = JH_SIZE, left = h->data_len + h->checks_len;
		    ok && left > 0;) {
			int in_data = off < JH_SIZE + h->data_len;
			uint64_t part = in_data ? JH_SIZE + h->data_len - off :
			    left;
			size_t n = part < MBOX_BLOCK_SIZE ? (size_t)part :
			    MBOX_BLOCK_SIZE;

			ok = !pread_full(jfd, buf, n, off) &&
			    XXH3_128bits_update(in_data ? md : mc, buf, n) ==
			    XXH_OK;
			for (size_t i = 0; ok && mv && in_data && i < n;
			    i += MOVE_LEN) {
				mv[k].fd = -1;
				mv[k].off = get_le64(buf + i);
				mv[k].len = get_le64(buf + i + 8);
				k++;
			}
			for (size_t i = 0; ok && mh && !in_data && i < n;
			    i += HASH_LEN)
				mh[j++] = get_le64(buf + i);
			off += n;
			left -= n;
		}
		if (ok)
			journal_sum(md, mc, sum);
		ok = ok && memcmp(sum, h->sum, SUM_LEN) == 0;
	}
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
	if (ok) {
		*mv_r = mv;
		*mh_r = mh;
		*nmv_r = nmv;
		mv = NULL;
		mh = NULL;
		r = 0;
	}
out:
	XXH3_freeState(md);
	XXH3_freeState(mc);
	free(mv);
	free(mh);
	return r;
}

/* Says whether the truncation of an applied journal already happened. */
static int truncated(int mfd, const struct jheader *h, uint64_t cur,
    int *done_r)
{
	unsigned char got[NONCE_LEN];
	size_t nlen = nonce_len(h);

	if (cur < h->s_orig) {
		*done_r = 1;
		return 0;
	}
	if (pread_full(mfd, got, nlen, h->s_new))
		return -1;
	/* A truncation whose new size was not yet durable may still have
	 * zeroed the rest of the block at s_new (ext4 does, for the partial
	 * block).  Zeros there mean "not yet": nothing an MDA appends after
	 * a finished truncation starts with NUL. */
	*done_r = 0;
	for (size_t i = 0; i < nlen && !*done_r; i++)
		*done_r = got[i] != h->nonce[i] && got[i] != '\0';
	return 0;
}

/* Says whether [off, cur) is empty or starts as a delivery does: with a
 * From_ line, perhaps after the empty line that ends the message before.
 * Returns 1, 0, or -1 (I/O error). */
static int delivery_at(int mfd, uint64_t off, uint64_t cur)
{
	unsigned char b[7];
	size_t n, skip = 0;

	if (cur <= off)
		return cur == off;
	n = cur - off < sizeof(b) ? (size_t)(cur - off) : sizeof(b);
	if (pread_full(mfd, b, n, off))
		return -1;
	if (b[0] == '\n')
		skip = 1;
	else if (n >= 2 && b[0] == '\r' && b[1] == '\n')
		skip = 2;
	return n - skip >= 5 && memcmp(b + skip, "From ", 5) == 0;
}

/* KIND_DATA: each sector of [w0, s_new) against its hashes before and
 * after the rewrite. */
struct sector_check {
	struct hash_in before, after;
	int final;		/* only "after" will do */
	int mismatch;
	uint64_t at;		/* file offset of the sector checked */
};

static int check_sector(void *ctx, uint64_t hash)
{
	struct sector_check *c = ctx;
	uint64_t before, after;

	if (hash_in_next(&c->before, &before) ||
	    hash_in_next(&c->after, &after))
		return -1;
	if (hash != after && (c->final || hash != before)) {
		c->mismatch = 1;
		return -1;
	}
	c->at = (c->at / JOURNAL_SECTOR + 1) * JOURNAL_SECTOR;
	return 0;
}

/*
 * KIND_DATA: a crash may leave any mix of old and new sectors in
 * [w0, s_new) (only new ones once the journal says "applied"), the nonce
 * or the old bytes in each of its bytes, and the rest unwritten.  Returns
 * 1 it is such a state, 0 not (why says what), -1 I/O error.
 */
static int check_data(int mfd, int jfd, const struct jheader *h, int final,
    unsigned char *buf, XXH3_state_t *st, char *why, size_t whylen)
{
	uint64_t nb = sectors(h->w0, h->s_new), hash;
	size_t nlen = nonce_len(h);
	unsigned char got[NONCE_LEN];
	struct sector_check *c = calloc(1, sizeof(*c));
	struct sectors s = { .pos = h->w0, .emit = check_sector, .ctx = c };
	int r = -1;

	if (!c)
		return -1;
	c->before.fd = c->after.fd = jfd;
	c->before.off = JH_SIZE + h->data_len;
	c->after.off = c->before.off + nb * HASH_LEN;
	c->before.left = c->after.left = nb * HASH_LEN;
	c->final = final;
	c->at = h->w0;
	if (read_range(mfd, h->w0, h->s_new - h->w0, buf, sectors_feed, &s) ||
	    sectors_end(&s)) {
		if (c->mismatch) {
			snprintf(why, whylen, "the bytes at offset %" PRIu64
			    " are neither those before nor those after the "
			    "rewrite", c->at);
			r = 0;
		}
		goto out;
	}
	r = 1;
	if (final)
		goto out;
	r = -1;
	if (pread_full(mfd, got, nlen, h->s_new) ||
	    hash_of(mfd, h->s_new + nlen, h->s_orig - h->s_new - nlen, buf,
	    st, &hash))
		goto out;
	r = hash == h->rest_hash;
	for (size_t i = 0; r && i < nlen; i++)
		r = got[i] == h->nonce[i] || got[i] == h->under[i];
	if (!r)
		snprintf(why, whylen, "the bytes from offset %" PRIu64
		    " on, which the rewrite never writes, changed", h->s_new);
out:
	free(c);
	return r;
}

/*
 * KIND_MOVES: the bytes of every move are found again where a crash at
 * the durable progress D leaves them -- at the destination for the part
 * before D (final), at the source for the rest (intact: the writer never
 * writes at or past the source recovery from D reads).  The unsynced
 * bytes between D and that source are neither read nor kept.  Returns 1,
 * 0 (why says what) or -1.
 */
static int check_moves(int mfd, const struct jheader *h,
    const struct jsource *mv, const uint64_t *mh, size_t nmv,
    unsigned char *buf, XXH3_state_t *st, char *why, size_t whylen)
{
	uint64_t d = h->progress, dst = h->w0;

	for (size_t k = 0; k < nmv; dst += mv[k].len, k++) {
		uint64_t len = mv[k].len, done = 0;

		if (dst < d)
			done = d - dst < len ? d - dst : len;
		if (XXH3_64bits_reset(st) != XXH_OK ||
		    hash_range(mfd, dst, done, buf, st) ||
		    hash_range(mfd, mv[k].off + done, len - done, buf, st))
			return -1;
		if (XXH3_64bits_digest(st) != mh[k]) {
			snprintf(why, whylen, "the %" PRIu64 " bytes moved "
			    "from offset %" PRIu64 " to %" PRIu64 " are not "
			    "the journaled ones", len, mv[k].off, dst);
			return 0;
		}
	}
	return 1;
}

/*
 * Is the mbox a state this journal's UPDATE (or its recovery) could have
 * left, plus mail appended after it?  done: the journal was applied and
 * the truncation happened.  Nothing here writes.  Returns 1, 0 (why says
 * what differs) or -1 (I/O error).
 */
static int matches(int mfd, int jfd, const struct jheader *h,
    const struct jsource *mv, const uint64_t *mh, size_t nmv, uint64_t cur,
    int done, unsigned char *buf, char *why, size_t whylen)
{
	struct jheader now;
	XXH3_state_t *st;
	uint64_t hash, end = done ? h->s_new : h->s_orig;
	int r = -1;

	if (identity(mfd, &now) < 0)
		return -1;
	if (now.ino != h->ino ||
	    (h->has_btime && now.has_btime && (now.btime_sec != h->btime_sec ||
	    now.btime_nsec != h->btime_nsec))) {
		snprintf(why, whylen, "the mailbox is another file now (its "
		    "inode number or birth time differs)");
		return 0;
	}
	if (cur < end) {
		snprintf(why, whylen, "the mailbox is shorter (%" PRIu64
		    " bytes) than the rewrite leaves it (%" PRIu64 ")", cur,
		    end);
		return 0;
	}
	st = XXH3_createState();
	if (!st)
		return -1;
	if (hash_of(mfd, h->w0 - h->tail_len, h->tail_len, buf, st, &hash))
		goto out;
	if (hash != h->tail_hash) {
		snprintf(why, whylen, "the mail before offset %" PRIu64
		    " changed", h->w0);
		r = 0;
		goto out;
	}
	r = delivery_at(mfd, end, cur);
	if (r == 0)
		snprintf(why, whylen, "what follows offset %" PRIu64 " is not "
		    "a mail delivered after the crash", end);
	if (r <= 0)
		goto out;
	if (h->kind == KIND_DATA)
		r = check_data(mfd, jfd, h, h->phase == PHASE_APPLIED, buf, st,
		    why, whylen);
	else
		r = check_moves(mfd, h, mv, mh, nmv, buf, st, why, whylen);
out:
	XXH3_freeState(st);
	return r;
}

/* Refusals: the maildrop is not served while the journal is there. */
static void refuse(const char *jpath, const char *mbox, const char *why)
{
	log_msg(LOG_CRIT, "journal %s is %s; maildrop %s refused, nothing "
	    "changed.  The mailbox may hold an UPDATE that a crash "
	    "interrupted: do not remove the journal before the mailbox has "
	    "been checked; keep copies of both files", jpath, why, mbox);
}

static void refuse_changed(const char *jpath, const char *mbox,
    const struct jheader *h, const char *why)
{
	log_msg(LOG_CRIT, "journal %s does not match maildrop %s: %s.  The "
	    "mailbox was changed or replaced after an UPDATE was "
	    "interrupted; nothing was applied, and the maildrop is refused "
	    "while the journal is there.  That UPDATE rewrote the mailbox "
	    "from offset %" PRIu64 " on (%" PRIu64 " bytes to %" PRIu64
	    "; final up to %" PRIu64 "): keep copies of both files and, "
	    "once the mailbox holds the mail it should, move the journal "
	    "out of the spool directory", jpath, mbox, why, h->w0, h->s_orig,
	    h->s_new, h->phase == PHASE_APPLIED ? h->s_new :
	    h->kind == KIND_MOVES ? h->progress : h->w0);
}

/* Finishes a journal in place: redone as it is, or (mail appended since
 * the crash, `appended` bytes after s_orig) replaced by one that also
 * keeps that mail. */
static int finish(const struct spool *sp, int mfd, int jfd, struct jheader *h,
    struct jsource *mv, const uint64_t *mh, size_t nmv, uint64_t appended,
    unsigned char *buf)
{
	struct jsource *all, data[2] = { { 0 } };
	struct jheader nh;
	int r;

	for (size_t k = 0; k < nmv; k++)
		mv[k].fd = mfd;
	if (appended == 0) {
		h->phase = PHASE_WRITTEN;
		return apply_journal(sp, mfd, jfd, h, mv, nmv, buf);
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
		return rewrite(sp, mfd, &nh, data, 2, NULL, 0, buf);
	}
	/* The new mail is one more move, and the progress made stays
	 * valid: no earlier move changes.  Their hashes carry over, since
	 * the sources of the moves already made may be overwritten. */
	all = calloc(nmv + 1, sizeof(*all));
	if (!all)
		return -1;
	if (nmv > 0)
		memcpy(all, mv, nmv * sizeof(*all));
	all[nmv].fd = mfd;
	all[nmv].off = h->s_orig;
	all[nmv].len = appended;
	nh.progress = h->phase == PHASE_APPLIED ? h->s_new : h->progress;
	r = rewrite(sp, mfd, &nh, all, nmv + 1, mh, nmv, buf);
	free(all);
	return r;
}

int journal_recover(const struct spool *sp, int mfd, unsigned char *buf,
    int *wrote)
{
	const char *mbox = sp->path;
	struct jname jn, tmp;
	const char *path = jn.path;
	char why[256] = "";
	struct jheader h;
	struct stat st;
	struct jsource *mv = NULL;
	uint64_t *mh = NULL;
	size_t nmv = 0;
	uint64_t cur;
	int jfd, done = 0, r;

	if (journal_name(&jn, sp, JOURNAL_SUFFIX) ||
	    journal_name(&tmp, sp, JOURNAL_NEW))
		return MBOX_ERROR;

	/* A journal that never got its name: the mbox was not touched. */
	if (remove_own(sp, &tmp) > 0)
		log_msg(LOG_NOTICE, "removed unfinished journal %s (UPDATE "
		    "had not started; nothing was changed)", tmp.path);

	r = own_name(sp, &jn);
	if (r == 1 || r == 0)
		return MBOX_OK;		/* none, or not ours (logged) */
	/* O_NONBLOCK: a FIFO swapped in must not hang the open. */
	jfd = openat(sp->dfd, jn.name, O_RDWR | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY);
	if (jfd < 0) {
		if (errno == ENOENT)
			return MBOX_OK;
		refuse(path, mbox, "unreadable");
		return MBOX_JOURNAL;
	}
	if (fstat(jfd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid()) {
		/* Swapped since own_name() looked: not ours either. */
		close(jfd);
		return own_name(sp, &jn) == 2 ? MBOX_ERROR : MBOX_OK;
	}
	errno = 0;
	r = load_journal(jfd, &h, buf, &mv, &mh, &nmv);
	if (r < 0) {
		close(jfd);
		if (r == -1 && errno == ENOMEM)
			return MBOX_ERROR;
		refuse(path, mbox, r == -2 ? "in the format of an older pop3d "
		    "(log in once with the version that wrote it to finish "
		    "it)" : "damaged");
		return MBOX_JOURNAL;
	}
	r = MBOX_ERROR;
	if (fstat(mfd, &st) < 0)
		goto out;
	cur = (uint64_t)st.st_size;
	if (h.phase == PHASE_APPLIED && truncated(mfd, &h, cur, &done) < 0)
		goto out;
	switch (matches(mfd, jfd, &h, mv, mh, nmv, cur, done, buf, why,
	    sizeof(why))) {
	case 1:
		break;
	case 0:
		refuse_changed(path, mbox, &h, why);
		r = MBOX_JOURNAL;
		goto out;
	default:
		goto out;
	}
	/* From here the mbox or the journal's name may change. */
	*wrote = 1;
	if (done) {
		/* Only the journal's removal was missing. */
		(void)spool_privileged(sp, 1);
		r = unlinkat(sp->dfd, jn.name, 0);
		(void)spool_privileged(sp, 0);
		if (r < 0 || fsync(sp->dfd) < 0) {
			r = MBOX_ERROR;
			goto out;
		}
		log_msg(LOG_NOTICE, "recovered interrupted UPDATE of %s (it "
		    "had completed)", mbox);
		r = MBOX_OK;
		goto out;
	}
	if (finish(sp, mfd, jfd, &h, mv, mh, nmv, cur - h.s_orig, buf) < 0) {
		log_msg(LOG_ERR, "recovery of %s failed: %s", mbox,
		    strerror(errno));
		r = MBOX_ERROR;
		goto out;
	}
	log_msg(LOG_NOTICE, "recovered interrupted UPDATE of %s (completed "
	    "it%s)", mbox, cur > h.s_orig ? ", keeping mail delivered since" :
	    "");
	r = MBOX_OK;
out:
	close(jfd);
	free(mv);
	free(mh);
	return r;
}

/*
 * idxcache.c - the optional on-disk cache of a maildrop's index
 * (--index-cache): a login whose mbox has not changed since an earlier
 * session reads the index back instead of scanning the whole file.
 *
 * Never stale: a cache entry names the mbox by device and inode and holds
 * its size, mtime and ctime to the nanosecond, as fstat(2) gave them under
 * the mbox locks just before the scan that built it.  Any write to the
 * file, truncation, utimes(2) or chmod moves the ctime, which no
 * unprivileged program can set back.  A change in the same clock tick as
 * that fstat could keep the ctime (the kernel's file time stamps are
 * coarser than a nanosecond), so an entry is only written for an mbox
 * whose ctime was at least CACHE_SETTLE_SECONDS old when the scan began:
 * a later change then carries a later ctime.  On top of that the loaded
 * index is checked for shape (its offsets must add up to the mbox), and
 * a random sample of its records must be what a scan of the bytes they
 * name gives (records_hold).
 *
 * The file is the user's own (it lives where the administrator's template
 * puts it, e.g. %h/.pop3d-index); it is read as untrusted input, written
 * under a temporary name and renamed into place.  Any failure only costs
 * the scan it would have saved.
 *
 * Format (little-endian): magic "POP3DIC2", dev, ino, size, mtime_ns,
 * ctime_ns, count, scanned (8 bytes each), XXH3-128 of all the rest, then
 * count records of from_off, data_off, data_len, size (8 bytes each),
 * hash (16), dup, flags (4 each).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "proto.h"

/* 2: records carry MSG_NO_EOH (a version 1 file is not read: rescanned). */
#define IC_MAGIC	"POP3DIC2"
#define IC_HEAD		64	/* magic and seven fields */
#define IC_SUM		16	/* XXH3-128: against damage, not forgery */
#define IC_DATA		(IC_HEAD + IC_SUM)
#define IC_REC		56
/* Flags a cached message may carry (MSG_DELETED is the session's). */
#define IC_FLAGS	(MSG_WIDE_UID | MSG_NO_FINAL_NL | MSG_NO_EOH)

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static int64_t ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* The identity fields of the header, for the mbox as fstat saw it. */
static void put_head(unsigned char *b, const struct stat *st, uint64_t count,
    uint64_t scanned)
{
	/* A fixed 8-byte binary field, not a string: no NUL wanted. */
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(b, IC_MAGIC, 8);
	put_le64(b + 8, (uint64_t)st->st_dev);
	put_le64(b + 16, (uint64_t)st->st_ino);
	put_le64(b + 24, (uint64_t)st->st_size);
	put_le64(b + 32, (uint64_t)ns(&st->st_mtim));
	put_le64(b + 40, (uint64_t)ns(&st->st_ctim));
	put_le64(b + 48, count);
	put_le64(b + 56, scanned);
}

/*
 * The shape mbox_scan() guarantees, to the byte: messages in order from
 * offset 0, each From_ line before its data, and between one message's
 * data and the next From_ line exactly the empty line that separates
 * them ("\n" or "\r\n"); the last ends where the scan did, or before
 * one such line.  So the offsets add up to the mbox: no byte of it is
 * outside a message but a separator, and no message hides bytes that
 * RETR would not send.  A size exceeds the stored bytes by at most one
 * octet a line end (a bare LF sent as CRLF), plus the CRLF added to a
 * last line without one, which only the last message can have.  Known
 * flags only.
 */
static int plausible(const struct message *m, size_t count, uint64_t scanned)
{
	for (size_t i = 0; i < count; i++) {
		int last = i + 1 == count;
		uint64_t end = last ? scanned : m[i + 1].from_off;
		uint64_t gap, grow;

		if ((i == 0 ? m[i].from_off != 0 :
		    m[i].from_off <= m[i - 1].from_off) ||
		    m[i].from_off >= end || m[i].data_off <= m[i].from_off ||
		    m[i].data_off > end ||
		    m[i].data_len > end - m[i].data_off ||
		    m[i].size < m[i].data_len ||
		    (m[i].flags & ~(uint32_t)IC_FLAGS) || m[i].dup == 1)
			return 0;
		gap = end - m[i].data_off - m[i].data_len;
		if (gap > 2 || (!last && gap == 0))
			return 0;
		grow = m[i].size - m[i].data_len;
		if (m[i].flags & MSG_NO_FINAL_NL) {
			if (!last || gap != 0 || m[i].data_len == 0 || grow < 2)
				return 0;
			grow -= 2;
		}
		if (grow > m[i].data_len)
			return 0;
	}
	return 1;
}

/*
 * The records mbox_scan() would give for the bytes they name, checked
 * against the mbox for a sample: the From_ lines of the first, the last
 * and CACHE_PROBES messages between them, and, as far as
 * CACHE_VERIFY_BYTES go, those messages scanned again (boundaries, size,
 * hash, flags).  The sample starts at a random place, so the owner, who
 * can write the cache, cannot know which records are compared.  And the
 * duplicate suffixes are a function of the hashes: they must be what
 * the scan gives them.
 */
static int records_hold(int mfd, struct mbox_index *idx)
{
	const struct message *m = idx->msgs;
	size_t count = idx->count, step = count / CACHE_PROBES + 1, phase = 0;
	uint64_t budget = CACHE_VERIFY_BYTES;
	uint32_t *dup;
	int ok = 1;

	/* Without randomness the sample is fixed, still a sample. */
	if (getrandom(&phase, sizeof(phase), GRND_NONBLOCK) != sizeof(phase))
		phase = 0;
	phase %= step;
	if (!mbox_from_lines_hold(mfd, m, count, CACHE_PROBES, phase))
		return 0;
	for (size_t k = 0; ok; k++) {
		size_t i = k == 0 ? 0 : phase + (k - 1) * step;
		uint64_t end;

		if (i >= count)
			i = count - 1;
		end = i + 1 < count ? m[i + 1].from_off : idx->scanned;
		if (end - m[i].from_off <= budget) {
			budget -= end - m[i].from_off;
			ok = mbox_message_holds(mfd, idx, i) == MBOX_OK;
		}
		if (i == count - 1)
			break;
	}
	dup = ok ? malloc(count * sizeof(*dup)) : NULL;
	if (!dup)
		return 0;
	for (size_t i = 0; i < count; i++) {
		dup[i] = idx->msgs[i].dup;
		idx->msgs[i].dup = 0;
	}
	if (mbox_number_duplicates(idx) < 0)
		ok = 0;
	for (size_t i = 0; ok && i < count; i++)
		ok = dup[i] == idx->msgs[i].dup;
	free(dup);
	return ok;
}

int idxcache_load(const char *file, int mfd, const struct stat *mst,
    struct mbox_index *idx)
{
	unsigned char head[IC_DATA] = { 0 }, want[IC_HEAD];
	/* Zeroed only to reassure static analysis (read_all fills it). */
	unsigned char blk[IC_REC * CACHE_BLOCK_RECORDS] = { 0 };
	struct message *m = NULL;
	XXH3_state_t *md = NULL;
	XXH128_canonical_t sum;
	struct stat st;
	uint64_t count;
	size_t i = 0;
	int fd, ok = 0, tried = 0;

	memset(idx, 0, sizeof(*idx));
	fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || st.st_size <= IC_DATA ||
	    (st.st_size - IC_DATA) % IC_REC)
		goto out;
	tried = 1;
	count = (uint64_t)(st.st_size - IC_DATA) / IC_REC;
	/* Each message takes at least "From \n" of the mbox. */
	if (count > MAX_MAILBOX_MESSAGES || count > (uint64_t)mst->st_size / 6)
		goto out;
	put_head(want, mst, count, (uint64_t)mst->st_size);
	if (pread_full(fd, head, IC_DATA, 0) || memcmp(head, want, IC_HEAD))
		goto out;
	m = calloc((size_t)count, sizeof(*m));
	md = XXH3_createState();
	if (!m || !md || XXH3_128bits_reset(md) != XXH_OK ||
	    XXH3_128bits_update(md, head, IC_HEAD) != XXH_OK)
		goto out;
	while (i < count) {
		size_t k, nrec = count - i < CACHE_BLOCK_RECORDS ?
		    (size_t)(count - i) : CACHE_BLOCK_RECORDS;

		if (pread_full(fd, blk, nrec * IC_REC, IC_DATA + i * IC_REC) ||
		    XXH3_128bits_update(md, blk, nrec * IC_REC) != XXH_OK)
			goto out;
		for (k = 0; k < nrec; k++, i++) {
			const unsigned char *r = blk + k * IC_REC;

			m[i].from_off = get_le64(r);
			m[i].data_off = get_le64(r + 8);
			m[i].data_len = get_le64(r + 16);
			m[i].size = get_le64(r + 24);
			memcpy(m[i].hash, r + 32, 16);
			m[i].dup = get32(r + 48);
			m[i].flags = get32(r + 52);
		}
	}
	XXH128_canonicalFromHash(&sum, XXH3_128bits_digest(md));
	if (memcmp(sum.digest, head + IC_HEAD, IC_SUM) ||
	    !plausible(m, (size_t)count, (uint64_t)mst->st_size))
		goto out;
	idx->msgs = m;
	idx->count = idx->alloc = (size_t)count;
	idx->scanned = (uint64_t)mst->st_size;
	m = NULL;
	if (!records_hold(mfd, idx)) {
		mbox_index_free(idx);
		goto out;
	}
	ok = 1;
	log_msg(LOG_DEBUG, "index read from cache %s", file);
out:
	if (!ok && tried)
		log_msg(LOG_DEBUG, "index cache %s not used (stale or "
		    "damaged)", file);
	XXH3_freeState(md);
	free(m);
	close(fd);
	return ok ? 0 : -1;
}

void idxcache_save(const char *file, const struct stat *mst,
    time_t scan_start, const struct mbox_index *idx)
{
	unsigned char head[IC_DATA], blk[IC_REC * CACHE_BLOCK_RECORDS];
	char tmp[MAX_PATH_LEN];
	XXH3_state_t *md = NULL;
	XXH128_canonical_t sum;
	size_t i = 0;
	int fd, ok = 0;

	/* Too fresh: a change in the same tick could go unseen. */
	if (idx->count == 0 || idx->count > MAX_MAILBOX_MESSAGES ||
	    mst->st_ctim.tv_sec > scan_start - CACHE_SETTLE_SECONDS)
		return;
	fd = replace_open(file, tmp, sizeof(tmp), "index cache");
	if (fd < 0)
		return;
	memset(head, 0, sizeof(head));
	put_head(head, mst, idx->count, idx->scanned);
	md = XXH3_createState();
	if (!md || XXH3_128bits_reset(md) != XXH_OK ||
	    XXH3_128bits_update(md, head, IC_HEAD) != XXH_OK)
		goto out;
	while (i < idx->count) {
		size_t k, left = idx->count - i;
		size_t nrec = left < CACHE_BLOCK_RECORDS ? left :
		    CACHE_BLOCK_RECORDS;
		uint64_t at = IC_DATA + (uint64_t)i * IC_REC;

		/* nrec >= 1 here; cppcheck loses track of the loop above. */
		/* cppcheck-suppress knownConditionTrueFalse */
		for (k = 0; k < nrec; k++, i++) {
			const struct message *m = &idx->msgs[i];
			unsigned char *r = blk + k * IC_REC;

			put_le64(r, m->from_off);
			put_le64(r + 8, m->data_off);
			put_le64(r + 16, m->data_len);
			put_le64(r + 24, m->size);
			memcpy(r + 32, m->hash, 16);
			put32(r + 48, m->dup);
			put32(r + 52, m->flags & IC_FLAGS);
		}
		if (XXH3_128bits_update(md, blk, nrec * IC_REC) != XXH_OK ||
		    pwrite_full(fd, blk, nrec * IC_REC, at))
			goto out;
	}
	XXH128_canonicalFromHash(&sum, XXH3_128bits_digest(md));
	memcpy(head + IC_HEAD, sum.digest, IC_SUM);
	ok = !pwrite_full(fd, head, IC_DATA, 0);
out:
	XXH3_freeState(md);
	(void)replace_commit(fd, ok, tmp, file, "index cache");
}

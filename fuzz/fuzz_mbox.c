/*
 * fuzz_mbox.c - libFuzzer harness for the mbox parser (mbox_scan), the
 * UIDs (mbox_uid), message streaming (mbox_send: RETR and TOP) and
 * UPDATE (mbox_update).  The input is the mbox file.
 *
 * Built with 256-byte read blocks (small_blocks.h), so lines and CRLF
 * pairs that straddle a block boundary are reached with small inputs.
 *
 * Properties checked, each failure an abort():
 *   - the index is well formed: messages in order and inside the file,
 *     each From_ line where it says, the whole file covered;
 *   - scanning is deterministic and honours its limit;
 *   - UIDs are unique and RFC 1939 syntax (1-70 chars 0x21-0x7e), in
 *     every --uidl-format (input length % 3 chooses it);
 *   - RETR: what a client reads (un-stuffed, up to the terminator) is the
 *     stored message with bare LFs as CRLF and a CRLF after a last line
 *     without one, and its length is exactly the size LIST announced;
 *   - TOP n: the header, the blank line, then n body lines of that;
 *   - a forced re-scan (mbox_check after a changed mtime) agrees;
 *   - scanning the file only up to a message's From_ line gives the
 *     messages before it unchanged (mail appended later changes nothing);
 *   - UPDATE removes exactly the deleted messages: the rest, and mail
 *     appended after the mailbox was opened, keep their bytes, sizes and
 *     UID hashes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "fuzz/fuzz_util.h"

static int in_fd = -1, out_fd = -1, in_dir = -1;
static char *in_path;
static char *update_path;

struct bytes {
	unsigned char *p;
	size_t len, alloc;
};

static void put(struct bytes *b, const void *p, size_t len)
{
	if (b->len + len + 1 > b->alloc) {
		size_t n = (b->len + len + 1) * 2;
		unsigned char *q = realloc(b->p, n);

		if (!q)
			fuzz_fail("out of memory");
		b->p = q;
		b->alloc = n;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

/* What RETR must deliver for a stored message: bare LF as CRLF, and a
 * CRLF after a last line without a newline. */
static void expected_retr(const unsigned char *p, size_t len, struct bytes *b)
{
	size_t i;

	b->len = 0;
	for (i = 0; i < len; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			put(b, "\r", 1);
		put(b, p + i, 1);
	}
	if (len > 0 && p[len - 1] != '\n')
		put(b, "\r\n", 2);
}

/* What TOP n must deliver, from the RETR text: the lines up to the first
 * empty one, it, and n more (or everything if there is no empty line). */
static size_t expected_top_len(const struct bytes *retr, long n)
{
	size_t pos = 0;
	int in_header = 1;
	long body = 0;

	while (pos < retr->len) {
		const unsigned char *crlf = memmem(retr->p + pos,
		    retr->len - pos, "\r\n", 2);
		size_t end;

		if (!crlf)
			fuzz_fail("expected RETR text not in lines");
		end = (size_t)(crlf - retr->p) + 2;
		if (!in_header && body++ >= n)
			break;
		if (in_header && end - pos == 2)
			in_header = 0;
		pos = end;
	}
	return pos;
}

/* Reads a multi-line response body as a client does: lines end in CRLF,
 * a leading dot is removed, "." alone ends it and must be the last line. */
static void client_read(const unsigned char *out, size_t len, struct bytes *b,
    size_t msgno, long lines)
{
	size_t pos = 0;

	b->len = 0;
	while (pos < len) {
		const unsigned char *crlf = memmem(out + pos, len - pos,
		    "\r\n", 2);
		size_t end;

		if (!crlf)
			fuzz_fail("message %zu lines %ld: output ends without "
			    "CRLF", msgno + 1, lines);
		end = (size_t)(crlf - out);
		if (end - pos == 1 && out[pos] == '.') {
			if (end + 2 != len)
				fuzz_fail("message %zu lines %ld: terminator at "
				    "%zu, but %zu octets were sent", msgno + 1,
				    lines, pos, len);
			return;
		}
		if (out[pos] == '.')
			pos++;
		put(b, out + pos, end + 2 - pos);
		pos = end + 2;
	}
	fuzz_fail("message %zu lines %ld: no terminator", msgno + 1, lines);
}

static void check_index(const struct mbox_index *idx, const uint8_t *data,
    size_t size)
{
	size_t i;

	if (idx->scanned != size)
		fuzz_fail("scanned %llu of %zu bytes",
		    (unsigned long long)idx->scanned, size);
	if (size > 0 && idx->count == 0)
		fuzz_fail("an mbox of %zu bytes without messages", size);
	for (i = 0; i < idx->count; i++) {
		const struct message *m = &idx->msgs[i];
		uint64_t next = i + 1 < idx->count ?
		    idx->msgs[i + 1].from_off : size;

		if (i == 0 && m->from_off != 0)
			fuzz_fail("first message at %llu",
			    (unsigned long long)m->from_off);
		if (m->from_off + 5 > m->data_off ||
		    memcmp(data + m->from_off, "From ", 5))
			fuzz_fail("message %zu: no From_ line at %llu", i + 1,
			    (unsigned long long)m->from_off);
		if (memchr(data + m->from_off, '\n',
		    m->data_off - m->from_off - 1))
			fuzz_fail("message %zu: From_ line spans lines", i + 1);
		if (m->data_off + m->data_len > next)
			fuzz_fail("message %zu overlaps the next", i + 1);
		if (i > 0 && (m->from_off < 2 || data[m->from_off - 1] != '\n'))
			fuzz_fail("message %zu: From_ line not at a line start",
			    i + 1);
		if (m->flags & ~(uint32_t)(MSG_WIDE_UID | MSG_NO_FINAL_NL |
		    MSG_HDR_UID | MSG_NO_EOH) || ((m->flags & MSG_HDR_UID) &&
		    mbox_get_uidl_format() == UIDL_POPA3D))
			fuzz_fail("message %zu: flags %#x", i + 1,
			    (unsigned)m->flags);
	}
}

static void check_uids(const struct mbox_index *idx)
{
	char (*uids)[MAX_UID_LEN + 1];
	size_t i, j, len;

	if (idx->count == 0)
		return;
	uids = calloc(idx->count, sizeof(*uids));
	if (!uids)
		fuzz_fail("out of memory");
	for (i = 0; i < idx->count; i++) {
		mbox_index_uid(idx, i, uids[i]);
		len = strlen(uids[i]);
		if (len < 1 || len > 70)
			fuzz_fail("UID of %zu characters", len);
		for (j = 0; j < len; j++)
			if (uids[i][j] < 0x21 || uids[i][j] > 0x7e)
				fuzz_fail("UID character %#x", uids[i][j]);
	}
	/* Small inputs hold few messages: quadratic is fine. */
	for (i = 0; i < idx->count; i++)
		for (j = i + 1; j < idx->count; j++)
			if (!strcmp(uids[i], uids[j]))
				fuzz_fail("messages %zu and %zu share UID %s",
				    i + 1, j + 1, uids[i]);
	free(uids);
}

static int same_messages(const struct mbox_index *a,
    const struct mbox_index *b)
{
	return a->count == b->count && a->scanned == b->scanned &&
	    (a->count == 0 ||
	    !memcmp(a->msgs, b->msgs, a->count * sizeof(*a->msgs)));
}

/* Scanning only up to a message's From_ line (the file as it was before
 * that message arrived) gives the messages before it unchanged: what
 * mbox_check() relies on when mail is appended during a session. */
static void check_prefix(const struct mbox_index *idx, size_t size)
{
	struct mbox_index pre;
	size_t k, i;

	if (idx->count < 2)
		return;
	k = 1 + size % (idx->count - 1);
	if (mbox_scan(in_fd, idx->msgs[k].from_off, &pre) != MBOX_OK)
		fuzz_fail("scan of the first %zu messages failed", k);
	if (pre.count != k)
		fuzz_fail("scan of the first %zu messages found %zu", k,
		    pre.count);
	for (i = 0; i < k; i++) {
		const struct message *a = &idx->msgs[i], *b = &pre.msgs[i];

		if (a->from_off != b->from_off || a->data_off != b->data_off ||
		    a->data_len != b->data_len || a->size != b->size ||
		    a->flags != b->flags ||
		    memcmp(a->hash, b->hash, sizeof(a->hash)))
			fuzz_fail("message %zu differs when the file ends "
			    "after message %zu", i + 1, k);
	}
	mbox_index_free(&pre);
}

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* RETR, TOP 0 and TOP 2 of every message, through a struct mailbox
 * around the memfd. */
static void check_sending(const struct mbox_index *idx, const uint8_t *data)
{
	static const long tops[] = { -1, 0, 2 };
	struct mailbox mb;
	struct netio io;
	struct stat st;
	struct bytes want = { 0 }, got = { 0 };
	size_t i, t, out_len, top_len;
	unsigned char *out;
	int r;

	memset(&mb, 0, sizeof(mb));
	/* The re-checks look the mbox up by name in its directory, as a
	 * session does (a memfd has neither). */
	snprintf(mb.path, sizeof(mb.path), "%s", in_path);
	mb.sp.dfd = in_dir;
	snprintf(mb.sp.name, sizeof(mb.sp.name), "scanned");
	mb.fd = in_fd;
	mb.idx = *idx;
	mb.buf = malloc(MBOX_BLOCK_SIZE);
	if (!mb.buf || fstat(in_fd, &st) < 0)
		fuzz_fail("setup: %s", strerror(errno));
	mb.dev = st.st_dev;
	mb.ino = st.st_ino;
	mb.seen_size = (uint64_t)st.st_size;
	mb.seen_mtime_ns = mtime_ns(&st);
	if (io_init(&io, -1, out_fd, 0) < 0)
		fuzz_fail("out of memory");

	for (i = 0; i < idx->count; i++) {
		const struct message *m = &idx->msgs[i];

		expected_retr(data + m->data_off, (size_t)m->data_len, &want);
		if (want.len != m->size)
			fuzz_fail("message %zu: LIST size %llu, but RETR must "
			    "send %zu octets", i + 1,
			    (unsigned long long)m->size, want.len);
		for (t = 0; t < sizeof(tops) / sizeof(tops[0]); t++) {
			fuzz_memfd_set(out_fd, NULL, 0);
			r = mbox_send(&mb, i, tops[t], &io);
			if (r != MBOX_OK || io_flush(&io) < 0)
				fuzz_fail("message %zu lines %ld: mbox_send "
				    "returned %d", i + 1, tops[t], r);
			out = fuzz_memfd_get(out_fd, &out_len);
			client_read(out, out_len, &got, i, tops[t]);
			free(out);
			top_len = tops[t] < 0 ? want.len :
			    expected_top_len(&want, tops[t]);
			if (got.len != top_len ||
			    (top_len && memcmp(got.p, want.p, top_len)))
				fuzz_fail("message %zu lines %ld: the client "
				    "read %zu octets, not the %zu expected (or "
				    "different ones)", i + 1, tops[t], got.len,
				    top_len);
		}
	}

	/* A changed mtime forces a full re-scan, which must agree. */
	mb.seen_mtime_ns = -1;
	r = mbox_check(&mb);
	if (r != MBOX_OK)
		fuzz_fail("re-scan of an unchanged mbox: %d", r);

	io_free(&io);
	free(mb.buf);
	free(want.p);
	free(got.p);
}

/* UPDATE on a real file: deletes some messages (a pattern chosen by the
 * input's length), maybe lets new mail arrive, then compares the result
 * with the kept messages. */
static void check_update(const struct mbox_index *old, const uint8_t *data,
    size_t size)
{
	struct mailbox mb;
	struct mbox_index now;
	struct bytes a = { 0 }, b = { 0 };
	size_t i, k, after_len;
	unsigned char *after;
	static const char appended[] = "\nFrom fuzz@example.org Mon Jan  1 "
	    "00:00:00 2024\nSubject: appended\n\nnew mail\n";
	char del[64];
	int r, fd, grown = 0;

	if (old->count == 0 || old->count > sizeof(del))
		return;
	for (i = 0; i < old->count; i++) {
		switch (size % 4) {
		case 0: del[i] = i % 2; break;
		case 1: del[i] = !(i % 2); break;
		case 2: del[i] = i == 0; break;
		default: del[i] = i + 1 == old->count; break;
		}
	}
	fuzz_write_file(update_path, data, size, 0600, fuzz_euid());
	r = mbox_open(&mb, update_path, fuzz_euid());
	if (r != MBOX_OK)
		fuzz_fail("mbox_open: %d", r);
	if (!same_messages(&mb.idx, old))
		fuzz_fail("mbox_open indexed the file differently");
	for (i = 0; i < old->count; i++)
		if (del[i])
			mbox_mark_deleted(&mb, i);
	if (size % 8 >= 4 && data[size - 1] == '\n') {
		/* New mail arrives before QUIT, as an MDA appends it: after a
		 * blank line. */
		int last_blank = (size >= 2 && data[size - 2] == '\n') ||
		    (size >= 3 && data[size - 2] == '\r' &&
		    data[size - 3] == '\n');
		const char *add = last_blank ? appended + 1 : appended;

		fd = open(update_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0 || write(fd, add, strlen(add)) !=
		    (ssize_t)strlen(add))
			fuzz_fail("append: %s", strerror(errno));
		close(fd);
		grown = 1;
	}
	r = mbox_update(&mb);
	if (r != MBOX_OK)
		fuzz_fail("mbox_update: %d", r);
	mbox_close(&mb);

	fd = open(update_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fuzz_fail("open after UPDATE: %s", strerror(errno));
	after = fuzz_memfd_get(fd, &after_len);
	r = mbox_scan(fd, UINT64_MAX, &now);
	close(fd);
	if (r != MBOX_OK && !(r == MBOX_NOT_MBOX && after_len == 0))
		fuzz_fail("after UPDATE the file does not scan: %d", r);
	for (i = 0, k = 0; i < old->count; i++) {
		const struct message *m = &old->msgs[i], *n;

		if (del[i])
			continue;
		if (k >= now.count)
			fuzz_fail("UPDATE lost message %zu", i + 1);
		n = &now.msgs[k++];
		expected_retr(data + m->data_off, (size_t)m->data_len, &a);
		expected_retr(after + n->data_off, (size_t)n->data_len, &b);
		if (a.len != b.len || (a.len && memcmp(a.p, b.p, a.len)) ||
		    m->size != n->size ||
		    memcmp(m->hash, n->hash, sizeof(m->hash)) ||
		    ((m->flags ^ n->flags) & MSG_WIDE_UID))
			fuzz_fail("UPDATE changed message %zu (now %zu)",
			    i + 1, k);
	}
	if (grown) {
		static const char want[] =
		    "Subject: appended\r\n\r\nnew mail\r\n";
		const struct message *n = &now.msgs[k];

		if (k >= now.count)
			fuzz_fail("UPDATE lost the mail appended meanwhile");
		expected_retr(after + n->data_off, (size_t)n->data_len, &b);
		if (b.len != sizeof(want) - 1 || memcmp(b.p, want, b.len))
			fuzz_fail("UPDATE changed the mail appended meanwhile");
		k++;
	}
	if (k != now.count)
		fuzz_fail("UPDATE left %zu messages, not %zu", now.count, k);
	mbox_index_free(&now);
	free(after);
	free(a.p);
	free(b.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mbox_index idx, again;
	int r;

	if (in_fd < 0) {
		in_path = fuzz_path("scanned");
		in_fd = open(in_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
		in_dir = open(fuzz_tmpdir(), O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		if (in_fd < 0 || in_dir < 0)
			fuzz_fail("open %s: %s", in_path, strerror(errno));
		out_fd = fuzz_memfd("client");
		update_path = fuzz_path("mbox");
	}
	fuzz_memfd_set(in_fd, data, size);
	/* Every --uidl-format, chosen by the input's length: the header
	 * ids (X-UID, X-IMAPbase, X-UIDL) parsed from the same bytes, and
	 * the shown ids still unique and RFC 1939's. */
	mbox_set_uidl_format((enum uidl_format)(size % 3));

	r = mbox_scan(in_fd, UINT64_MAX, &idx);
	if (r == MBOX_NOT_MBOX) {
		if (size >= 5 && !memcmp(data, "From ", 5))
			fuzz_fail("an mbox starting with \"From \" refused");
		return 0;
	}
	if (r != MBOX_OK)
		fuzz_fail("mbox_scan: %d (%s)", r, strerror(errno));
	check_index(&idx, data, size);
	check_uids(&idx);

	/* The same with an exact limit; one byte more is a shrunk file. */
	if (mbox_scan(in_fd, size, &again) != MBOX_OK ||
	    !same_messages(&idx, &again))
		fuzz_fail("scan with limit %zu differs", size);
	mbox_index_free(&again);
	if (mbox_scan(in_fd, (uint64_t)size + 1, &again) != MBOX_CHANGED)
		fuzz_fail("scan beyond the end not MBOX_CHANGED");

	check_prefix(&idx, size);
	check_sending(&idx, data);
	check_update(&idx, data, size);
	mbox_index_free(&idx);
	return 0;
}

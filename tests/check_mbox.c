/*
 * check_mbox.c - the mbox maildrop: mbox_scan (boundaries, sizes, long
 * lines, block boundaries, limits), mbox_uid (popa3d-compatible and wide
 * ids, duplicates, stability) and mbox_send (RETR and TOP output).
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "unit.h"

#define FROM1 "From alice@example.org Mon Jan  1 00:00:00 2024\n"
#define FROM2 "From bob@example.org Tue Jan  2 00:00:00 2024\n"

/* ----------------------------------------------------------- helpers */

/* Writes data to a fresh DIR/mbox; the directory is left in dir. */
static void mbox_file(char *dir, char *path, const void *data, size_t len)
{
	unit_tmpdir(dir, PATH_MAX);
	unit_path(path, PATH_MAX, dir, "mbox");
	unit_write_file(path, data, len, 0600);
}

static int scan_fd_path(const char *path, uint64_t limit,
    struct mbox_index *idx)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	ck_assert_int_ge(fd, 0);
	r = mbox_scan(fd, limit, idx);
	close(fd);
	return r;
}

/* Scans bytes as a whole mbox; the index must be freed by the caller. */
static int scan_bytes(const void *data, size_t len, struct mbox_index *idx)
{
	char dir[PATH_MAX], path[PATH_MAX];

	mbox_file(dir, path, data, len);
	return scan_fd_path(path, UINT64_MAX, idx);
}

static int scan_str(const char *text, struct mbox_index *idx)
{
	return scan_bytes(text, strlen(text), idx);
}

/* The octets RETR sends for stored message text, before byte-stuffing:
 * bare LF becomes CRLF and a missing final newline is added. */
static char *crlf_form(const char *s, size_t len, size_t *out_len)
{
	char *o = malloc(2 * len + 3);
	size_t i, j = 0;

	ck_assert_ptr_nonnull(o);
	for (i = 0; i < len; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			o[j++] = '\r';
		o[j++] = s[i];
	}
	if (len > 0 && s[len - 1] != '\n') {
		o[j++] = '\r';
		o[j++] = '\n';
	}
	o[j] = '\0';
	*out_len = j;
	return o;
}

static uint64_t crlf_size(const char *s)
{
	size_t n;
	free(crlf_form(s, strlen(s), &n));
	return n;
}

/* Byte-stuffs CRLF text and adds the terminator: what RETR must send. */
static char *wire_form(const char *crlf, size_t len, size_t *out_len)
{
	char *o = malloc(2 * len + 4);
	size_t i, j = 0;
	int at_start = 1;

	ck_assert_ptr_nonnull(o);
	for (i = 0; i < len; i++) {
		if (at_start && crlf[i] == '.')
			o[j++] = '.';
		o[j++] = crlf[i];
		at_start = crlf[i] == '\n';
	}
	memcpy(o + j, ".\r\n", 4);
	*out_len = j + 3;
	return o;
}

/* Undoes byte-stuffing and strips the terminator; returns the length of
 * what is left, or (size_t)-1 if there is no terminator. */
static size_t unstuffed_len(const char *out, size_t len)
{
	size_t i, n = 0;
	int at_start = 1;

	if (len < 3 || memcmp(out + len - 3, ".\r\n", 3) ||
	    (len > 3 && out[len - 4] != '\n'))
		return (size_t)-1;
	len -= 3;
	for (i = 0; i < len; i++) {
		if (!(at_start && out[i] == '.'))
			n++;
		at_start = out[i] == '\n';
	}
	return n;
}

/*
 * mbox_send of message n (0-based) with a TOP line count (-1: RETR), as
 * the session does it: mbox_open on the file (owned by us), output to a
 * temporary file through a struct netio.  Returns the output.
 */
static char *send_msg(const char *dir, const char *path, size_t n,
    long lines, size_t *len_r, uint64_t *size_r)
{
	struct mailbox mb;
	struct netio io;
	char out[PATH_MAX];
	int fd, r;
	char *text;

	ck_assert_int_eq(mbox_open(&mb, path, geteuid()), MBOX_OK);
	ck_assert_uint_lt(n, mb.idx.count);
	if (size_r)
		*size_r = mb.idx.msgs[n].size;
	unit_path(out, sizeof(out), dir, "out");
	fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_init(&io, -1, fd, 0), 0);
	r = mbox_send(&mb, n, lines, &io);
	ck_assert_int_eq(r, MBOX_OK);
	ck_assert_int_eq(io_flush(&io), 0);
	io_free(&io);
	close(fd);
	mbox_close(&mb);
	text = unit_read_file(out, len_r);
	return text;
}

/* Writes an mbox and returns mbox_send's output for message n. */
static char *send_from(const char *mbox, size_t len, size_t n, long lines,
    size_t *out_len)
{
	char dir[PATH_MAX], path[PATH_MAX];

	mbox_file(dir, path, mbox, len);
	return send_msg(dir, path, n, lines, out_len, NULL);
}

static void assert_send(const char *mbox, size_t n, long lines,
    const char *want)
{
	size_t len;
	char *got = send_from(mbox, strlen(mbox), n, lines, &len);

	unit_assert_bytes("mbox_send output", got, len, want, strlen(want));
	free(got);
}

static int all_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return 0;
	return 1;
}

/* The UID of message n of an mbox given as text. */
static void uid_of(const char *text, size_t n, char uid[MAX_UID_LEN + 1])
{
	struct mbox_index idx;

	ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
	ck_assert_uint_gt(idx.count, n);
	mbox_uid(&idx.msgs[n], uid);
	mbox_index_free(&idx);
}

/* ------------------------------------------------------- boundaries */

START_TEST(scan_from_line_at_start_and_after_blank_starts_message)
{
	struct mbox_index idx;
	const char *text = FROM1 "Subject: 1\n\nbody 1\n\n"
	    FROM2 "Subject: 2\n\nbody 2\n";

	ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 2);
	ck_assert_uint_eq(idx.msgs[0].from_off, 0);
	ck_assert_uint_eq(idx.msgs[1].from_off,
	    strlen(FROM1 "Subject: 1\n\nbody 1\n\n"));
	ck_assert_uint_eq(idx.scanned, strlen(text));
	mbox_index_free(&idx);
}
END_TEST

START_TEST(scan_from_after_nonblank_line_stays_in_body)
{
	struct mbox_index idx;
	const char *body = "Subject: 1\n\nbody\nFrom bob here\n"
	    "From again\nfrom lower case\n\nfrom after blank\n";
	char text[512];

	snprintf(text, sizeof(text), "%s%s", FROM1, body);
	ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 1);
	ck_assert_uint_eq(idx.msgs[0].size, crlf_size(body));
	mbox_index_free(&idx);
}
END_TEST

START_TEST(scan_from_right_after_from_line_stays_in_message)
{
	struct mbox_index idx;

	ck_assert_int_eq(scan_str(FROM1 FROM2 "Subject: 1\n\nb\n", &idx),
	    MBOX_OK);
	ck_assert_uint_eq(idx.count, 1);
	ck_assert_uint_eq(idx.msgs[0].size,
	    crlf_size(FROM2 "Subject: 1\n\nb\n"));
	mbox_index_free(&idx);
}
END_TEST

START_TEST(scan_excludes_from_line_and_separator)
{
	struct mbox_index idx;
	const char *m1 = "Subject: 1\n\nbody 1\n";
	const char *m2 = "Subject: 2\n\nbody 2\n";
	char text[512];

	snprintf(text, sizeof(text), "%s%s\n%s%s", FROM1, m1, FROM2, m2);
	ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 2);
	ck_assert_uint_eq(idx.msgs[0].data_off, strlen(FROM1));
	ck_assert_uint_eq(idx.msgs[0].data_len, strlen(m1));
	ck_assert_uint_eq(idx.msgs[1].data_off,
	    strlen(FROM1) + strlen(m1) + 1 + strlen(FROM2));
	ck_assert_uint_eq(idx.msgs[1].data_len, strlen(m2));
	mbox_index_free(&idx);
}
END_TEST

/* Whether a message's header ends (an empty line "\n" or "\r\n"): the
 * mbox scan's MSG_NO_EOH and msgstream.c's count agree, however the
 * bytes are split into blocks (--client-workarounds oe-ns-eoh). */
static const struct {
	const char *text;
	int ends;
} eoh_cases[] = {
	{ "Subject: a\n\nbody\n", 1 },
	{ "Subject: a\r\n\r\nbody\r\n", 1 },
	{ "Subject: a\nX: b\n", 0 },
	{ "Subject: a", 0 },
	{ "\nbody\n", 1 },
	{ "\r\nbody\n", 1 },
	{ "Subject: a\n\r\n", 1 },
	{ "Subject: a\n\rx\n\nbody\n", 1 },
	{ "Subject: a\n\rx\n", 0 },
	{ "Subject: a\n\r", 0 },
	{ "S: a\r", 0 },
};

static uint64_t size_in_pieces(const char *t, size_t len, size_t piece,
    unsigned wa)
{
	struct msg_size ms;

	memset(&ms, 0, sizeof(ms));
	for (size_t i = 0; i < len; i += piece)
		msg_size_add(&ms, (const unsigned char *)t + i,
		    len - i < piece ? len - i : piece);
	return msg_size_end(&ms, wa);
}

START_TEST(scan_and_count_agree_on_header_end)
{
	const char *t = eoh_cases[_i].text;
	size_t len = strlen(t);
	uint64_t plain = size_in_pieces(t, len, len, 0);
	struct mbox_index idx;
	char text[512];

	/* Counted: 2 octets more with oe-ns-eoh only if it does not end,
	 * the same in pieces of every size; NULs change nothing. */
	for (size_t piece = 1; piece <= len; piece++) {
		ck_assert_uint_eq(size_in_pieces(t, len, piece, 0), plain);
		ck_assert_uint_eq(size_in_pieces(t, len, piece, WA_OE_NS_EOH),
		    plain + (eoh_cases[_i].ends ? 0 : 2));
		ck_assert_uint_eq(size_in_pieces(t, len, piece,
		    WA_OUTLOOK_NO_NULS), plain);
	}
	/* Scanned as the last message of an mbox (unless it ends with an
	 * empty line: that is the separator at the end of the file)... */
	if (!(len >= 3 && !strcmp(t + len - 3, "\n\r\n"))) {
		snprintf(text, sizeof(text), "%s%s", FROM1, t);
		ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
		ck_assert_uint_eq(idx.count, 1);
		ck_assert_int_eq(!!(idx.msgs[0].flags & MSG_NO_EOH),
		    !eoh_cases[_i].ends);
		ck_assert_uint_eq(idx.msgs[0].size, plain);
		mbox_index_free(&idx);
	}
	/* ...and before another, where the separator is not the header's
	 * end (only a message ending with its newline has one). */
	if (t[len - 1] != '\n')
		return;
	snprintf(text, sizeof(text), "%s%s\n%sSubject: b\n\nx\n", FROM1, t,
	    FROM2);
	ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 2);
	ck_assert_int_eq(!!(idx.msgs[0].flags & MSG_NO_EOH),
	    !eoh_cases[_i].ends);
	ck_assert_int_eq(idx.msgs[1].flags & MSG_NO_EOH, 0);
	mbox_index_free(&idx);
}
END_TEST

START_TEST(scan_trailing_blank_line_at_eof_is_separator)
{
	struct mbox_index idx;

	ck_assert_int_eq(scan_str(FROM1 "Subject: 1\n\nbody\n\n", &idx),
	    MBOX_OK);
	ck_assert_uint_eq(idx.count, 1);
	ck_assert_uint_eq(idx.msgs[0].size, crlf_size("Subject: 1\n\nbody\n"));
	mbox_index_free(&idx);
}
END_TEST

START_TEST(scan_only_one_blank_line_is_separator)
{
	struct mbox_index idx;
	/* This message ends in a blank line of its own. */
	const char *m1 = "Subject: 1\n\nbody\n\n";
	char text[512];

	snprintf(text, sizeof(text), "%s%s\n%sSubject: 2\n\nb\n", FROM1, m1,
	    FROM2);
	ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 2);
	ck_assert_uint_eq(idx.msgs[0].size, crlf_size(m1));
	mbox_index_free(&idx);
}
END_TEST

/* ----------------------------------------------------------- sizes */

START_TEST(scan_size_lf_file)
{
	struct mbox_index idx;

	ck_assert_int_eq(scan_str(FROM1 "Subject: 1\n\nbody 1\n\n"
	    FROM2 "Subject: 22\n\nbody 2\nline\n", &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 2);
	/* "Subject: 1\r\n\r\nbody 1\r\n" */
	ck_assert_uint_eq(idx.msgs[0].size, 22);
	ck_assert_uint_eq(idx.msgs[1].size, 29);
	ck_assert_uint_eq(idx.msgs[0].flags & MSG_NO_FINAL_NL, 0);
	mbox_index_free(&idx);
}
END_TEST

START_TEST(scan_size_crlf_file)
{
	struct mbox_index idx;

	ck_assert_int_eq(scan_str("From a\r\nSubject: 1\r\n\r\nbody 1\r\n\r\n"
	    "From b\r\nSubject: 22\r\n\r\nbody 2\r\nline\r\n", &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 2);
	ck_assert_uint_eq(idx.msgs[0].size, 22);
	ck_assert_uint_eq(idx.msgs[1].size, 29);
	mbox_index_free(&idx);
}
END_TEST

START_TEST(scan_size_mixed_line_ends)
{
	struct mbox_index idx;

	ck_assert_int_eq(scan_str("From a\nSubject: 1\r\n\nbody 1\n\r\n"
	    "From b\r\nSubject: 22\n\r\nbody 2\r\nline\n", &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 2);
	ck_assert_uint_eq(idx.msgs[0].size, 22);
	ck_assert_uint_eq(idx.msgs[1].size, 29);
	mbox_index_free(&idx);
}
END_TEST

START_TEST(scan_size_missing_final_newline_adds_crlf)
{
	struct mbox_index idx;

	ck_assert_int_eq(scan_str(FROM1 "Subject: 1\n\nbody 1", &idx),
	    MBOX_OK);
	ck_assert_uint_eq(idx.count, 1);
	ck_assert_uint_eq(idx.msgs[0].data_len, strlen("Subject: 1\n\nbody 1"));
	ck_assert_uint_eq(idx.msgs[0].size, 22);
	ck_assert_uint_ne(idx.msgs[0].flags & MSG_NO_FINAL_NL, 0);
	mbox_index_free(&idx);
}
END_TEST

START_TEST(scan_keeps_from_quoting)
{
	struct mbox_index idx;
	const char *m = "Subject: 1\n\n>From me\n>>From you\n";
	char text[256];

	snprintf(text, sizeof(text), "%s%s", FROM1, m);
	ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 1);
	ck_assert_uint_eq(idx.msgs[0].size, crlf_size(m));
	mbox_index_free(&idx);
}
END_TEST

START_TEST(scan_size_counts_dot_lines_unstuffed)
{
	struct mbox_index idx;
	const char *m = "Subject: 1\n\n.\n..\n.x\n";
	char text[256];

	snprintf(text, sizeof(text), "%s%s", FROM1, m);
	ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 1);
	ck_assert_uint_eq(idx.msgs[0].size, crlf_size(m));
	mbox_index_free(&idx);
}
END_TEST

/* ------------------------------------------------ empty, not an mbox */

START_TEST(scan_empty_file_has_no_messages)
{
	struct mbox_index idx;

	ck_assert_int_eq(scan_bytes("", 0, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 0);
	ck_assert_uint_eq(idx.scanned, 0);
	mbox_index_free(&idx);
}
END_TEST

static const char *const not_mboxes[] = {
	"Subject: hello\n\nbody\n",
	"\nFrom a\nSubject: x\n\nb\n",
	"From: alice@example.org\n\nbody\n",
	"from a\nSubject: x\n\nb\n",
	" From a\nSubject: x\n\nb\n",
	"Fro",
	"X",
};

START_TEST(scan_not_starting_with_from_is_not_mbox)
{
	struct mbox_index idx;

	ck_assert_int_eq(scan_str(not_mboxes[_i], &idx), MBOX_NOT_MBOX);
}
END_TEST

/* -------------------------------------------------------- long lines */

#define BIG (MBOX_BLOCK_SIZE + 1000)

/* FROM1 + head + 'c' x n + tail + "\n" + FROM2 + second */
static char *long_line_mbox(const char *head, char c, size_t n,
    const char *tail, size_t *len_r)
{
	const char *second = "Subject: 2\n\nbody 2\n";
	size_t len = strlen(FROM1) + strlen(head) + n + strlen(tail) + 1 +
	    strlen(FROM2) + strlen(second);
	char *t = malloc(len + 1), *p = t;

	ck_assert_ptr_nonnull(t);
	p = stpcpy(p, FROM1);
	p = stpcpy(p, head);
	memset(p, c, n);
	p += n;
	p = stpcpy(p, tail);
	p = stpcpy(p, "\n");
	p = stpcpy(p, FROM2);
	p = stpcpy(p, second);
	*len_r = (size_t)(p - t);
	return t;
}

static void check_long_line(const char *head, const char *tail)
{
	struct mbox_index idx;
	size_t len, clen, first_len;
	char *t = long_line_mbox(head, 'a', BIG, tail, &len);
	char *c;

	first_len = len - strlen(FROM2 "Subject: 2\n\nbody 2\n") - 1 -
	    strlen(FROM1);
	c = crlf_form(t + strlen(FROM1), first_len, &clen);
	ck_assert_int_eq(scan_bytes(t, len, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 2);
	ck_assert_uint_eq(idx.msgs[0].data_len, first_len);
	ck_assert_uint_eq(idx.msgs[0].size, clen);
	ck_assert_uint_eq(idx.msgs[1].from_off, len - strlen(FROM2
	    "Subject: 2\n\nbody 2\n"));
	ck_assert_uint_eq(idx.msgs[1].size,
	    crlf_size("Subject: 2\n\nbody 2\n"));
	mbox_index_free(&idx);
	free(c);
	free(t);
}

START_TEST(scan_header_line_longer_than_block)
{
	check_long_line("Received: from x by y; ", "\nSubject: 1\n\nbody\n");
}
END_TEST

START_TEST(scan_body_line_longer_than_block)
{
	check_long_line("Subject: 1\n\nbody\n", "\nlast line\n");
}
END_TEST

START_TEST(scan_crlf_line_longer_than_block)
{
	check_long_line("Subject: 1\r\n\r\n", "\r\nlast line\r\n");
}
END_TEST

START_TEST(scan_from_line_longer_than_block)
{
	struct mbox_index idx;
	size_t n = BIG, len;
	const char *rest = "\nSubject: 1\n\nbody\n\n" FROM2 "Subject: 2\n\nb\n";
	char *t = malloc(5 + n + strlen(rest) + 1);

	ck_assert_ptr_nonnull(t);
	memcpy(t, "From ", 5);
	memset(t + 5, 'f', n);
	strcpy(t + 5 + n, rest);
	len = 5 + n + strlen(rest);
	ck_assert_int_eq(scan_bytes(t, len, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 2);
	ck_assert_uint_eq(idx.msgs[0].data_off, 5 + n + 1);
	ck_assert_uint_eq(idx.msgs[0].size, crlf_size("Subject: 1\n\nbody\n"));
	ck_assert_uint_eq(idx.msgs[1].size, crlf_size("Subject: 2\n\nb\n"));
	mbox_index_free(&idx);
	free(t);
}
END_TEST

/*
 * Message 2's From_ line starts at MBOX_BLOCK_SIZE - k (negative k: after
 * the boundary), so the separator, the From_ line or the line before
 * them falls on the scanner's block boundary.  Even loop indices use LF,
 * odd ones CRLF.
 */
static const long straddle_k[] = {
	-100, -10, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 63, 64, 65, 66, 70,
	100, 200
};

START_TEST(scan_message_straddling_block_boundary)
{
	int crlf = _i % 2;
	long k = straddle_k[_i / 2];
	const char *nl = crlf ? "\r\n" : "\n";
	char from2[160], head1[64], tail2[64];
	size_t target = (size_t)((long)MBOX_BLOCK_SIZE - k), fill, len, pos;
	struct mbox_index idx;
	char *t, *m1, *c;
	size_t m1_len, clen;

	/* A long From_ line, so that it can itself cross the boundary. */
	snprintf(from2, sizeof(from2), "From bob@example.org %080d Tue Jan  2 "
	    "00:00:00 2024%s", 0, nl);
	snprintf(head1, sizeof(head1), "From a%sSubject: 1%s%s", nl, nl, nl);
	snprintf(tail2, sizeof(tail2), "Subject: 2%s%sbody 2%s", nl, nl, nl);
	/* head1, a filler line, "last\n", the separator, then from2. */
	fill = target - strlen(head1) - 2 * strlen(nl) - strlen("last") -
	    strlen(nl);
	len = target + strlen(from2) + strlen(tail2);
	t = malloc(len + 1);
	ck_assert_ptr_nonnull(t);
	pos = (size_t)(stpcpy(t, head1) - t);
	memset(t + pos, 'y', fill);
	pos += fill;
	pos = (size_t)(stpcpy(t + pos, nl) - t);
	pos = (size_t)(stpcpy(t + pos, "last") - t);
	pos = (size_t)(stpcpy(t + pos, nl) - t);
	pos = (size_t)(stpcpy(t + pos, nl) - t);
	ck_assert_uint_eq(pos, target);
	pos = (size_t)(stpcpy(t + pos, from2) - t);
	pos = (size_t)(stpcpy(t + pos, tail2) - t);
	ck_assert_uint_eq(pos, len);

	m1 = t + strlen("From a") + strlen(nl);
	m1_len = target - strlen(nl) - (size_t)(m1 - t);
	c = crlf_form(m1, m1_len, &clen);

	ck_assert_int_eq(scan_bytes(t, len, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 2);
	ck_assert_uint_eq(idx.msgs[0].data_len, m1_len);
	ck_assert_uint_eq(idx.msgs[0].size, clen);
	ck_assert_uint_eq(idx.msgs[1].from_off, target);
	ck_assert_uint_eq(idx.msgs[1].data_off, target + strlen(from2));
	ck_assert_uint_eq(idx.msgs[1].size, crlf ? strlen(tail2) :
	    crlf_size(tail2));
	mbox_index_free(&idx);
	free(c);
	free(t);
}
END_TEST

/* ------------------------------------------------------------ limits */

static const char two_msgs[] = FROM1 "Subject: 1\n\nbody 1\n\n"
    FROM2 "Subject: 2\n\nbody 2\n";

START_TEST(scan_limit_at_message_boundary_indexes_only_that_part)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct mbox_index full, part;
	uint64_t limit;

	mbox_file(dir, path, two_msgs, strlen(two_msgs));
	ck_assert_int_eq(scan_fd_path(path, UINT64_MAX, &full), MBOX_OK);
	ck_assert_uint_eq(full.count, 2);
	limit = full.msgs[1].from_off;
	ck_assert_int_eq(scan_fd_path(path, limit, &part), MBOX_OK);
	ck_assert_uint_eq(part.scanned, limit);
	ck_assert_uint_eq(part.count, 1);
	ck_assert_uint_eq(part.msgs[0].size, full.msgs[0].size);
	ck_assert_mem_eq(part.msgs[0].hash, full.msgs[0].hash, 16);
	mbox_index_free(&full);
	mbox_index_free(&part);
}
END_TEST

START_TEST(scan_limit_inside_message_reads_no_further)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct mbox_index part;
	uint64_t limit = strlen(two_msgs) - 5;

	mbox_file(dir, path, two_msgs, strlen(two_msgs));
	ck_assert_int_eq(scan_fd_path(path, limit, &part), MBOX_OK);
	ck_assert_uint_eq(part.scanned, limit);
	ck_assert_uint_eq(part.count, 2);
	ck_assert_uint_le(part.msgs[1].data_off + part.msgs[1].data_len, limit);
	mbox_index_free(&part);
}
END_TEST

START_TEST(scan_limit_beyond_file_size_is_changed)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct mbox_index idx;

	mbox_file(dir, path, two_msgs, strlen(two_msgs));
	ck_assert_int_eq(scan_fd_path(path, strlen(two_msgs) + 1, &idx),
	    MBOX_CHANGED);
}
END_TEST

/* --------------------------------------------------------------- UIDs */

START_TEST(uid_popa3d_style_for_stable_headers)
{
	static const char text[] =
	    FROM1 "Received: from mx by host; Mon, 1 Jan 2024\n"
	    "Subject: 1\n\nb\n\n"
	    FROM1 "Date: Mon, 1 Jan 2024 00:00:00 +0000\nSubject: 2\n\nb\n\n"
	    FROM1 "Message-ID: <1@example.org>\nSubject: 3\n\nb\n";
	struct mbox_index idx;
	char uid[3][MAX_UID_LEN + 1];
	size_t i;

	ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 3);
	for (i = 0; i < 3; i++) {
		mbox_uid(&idx.msgs[i], uid[i]);
		ck_assert_msg(strlen(uid[i]) == 16 && all_hex(uid[i], 16),
		    "message %zu: uid \"%s\" is not 16 hex digits", i + 1,
		    uid[i]);
	}
	ck_assert_str_ne(uid[0], uid[1]);
	ck_assert_str_ne(uid[1], uid[2]);
	ck_assert_str_ne(uid[0], uid[2]);
	mbox_index_free(&idx);
}
END_TEST

START_TEST(uid_wide_without_stable_headers)
{
	char uid[MAX_UID_LEN + 1];

	uid_of(FROM1 "Subject: no stable headers\nFrom: a@b\n\nbody\n", 0,
	    uid);
	ck_assert_uint_eq(strlen(uid), 32);
	ck_assert(all_hex(uid, 32));
}
END_TEST

START_TEST(uid_wide_differs_for_different_messages)
{
	static const char text[] = FROM1 "Subject: x\n\nbody one\n\n"
	    FROM1 "Subject: x\n\nbody two\n\n" FROM1 "Subject: y\n\nbody one\n";
	struct mbox_index idx;
	char a[MAX_UID_LEN + 1], b[MAX_UID_LEN + 1], c[MAX_UID_LEN + 1];

	ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 3);
	mbox_uid(&idx.msgs[0], a);
	mbox_uid(&idx.msgs[1], b);
	mbox_uid(&idx.msgs[2], c);
	ck_assert_str_ne(a, b);
	ck_assert_str_ne(a, c);
	ck_assert_str_ne(b, c);
	mbox_index_free(&idx);
}
END_TEST

START_TEST(uid_duplicates_get_suffixes)
{
#define DUP FROM1 "Received: by mx; 1 Jan 2024\nSubject: same\n\nbody\n"
	static const char text[] = DUP "\n" DUP "\n"
	    FROM1 "Received: by mx; 2 Jan 2024\n\nother\n\n" DUP;
	struct mbox_index idx;
	char u[4][MAX_UID_LEN + 1], want[MAX_UID_LEN + 8];
	size_t i;

	ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 4);
	for (i = 0; i < 4; i++)
		mbox_uid(&idx.msgs[i], u[i]);
	ck_assert_uint_eq(strlen(u[0]), 16);
	snprintf(want, sizeof(want), "%s-2", u[0]);
	ck_assert_str_eq(u[1], want);
	snprintf(want, sizeof(want), "%s-3", u[0]);
	ck_assert_str_eq(u[3], want);
	ck_assert_uint_eq(strlen(u[2]), 16);
	mbox_index_free(&idx);
#undef DUP
}
END_TEST

START_TEST(uid_wide_duplicates_get_suffixes)
{
#define DUP FROM1 "Subject: same\n\nbody\n"
	static const char text[] = DUP "\n" DUP "\n" DUP;
	struct mbox_index idx;
	char u[3][MAX_UID_LEN + 1], want[MAX_UID_LEN + 8];
	size_t i;

	ck_assert_int_eq(scan_str(text, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 3);
	for (i = 0; i < 3; i++)
		mbox_uid(&idx.msgs[i], u[i]);
	ck_assert_uint_eq(strlen(u[0]), 32);
	snprintf(want, sizeof(want), "%s-2", u[0]);
	ck_assert_str_eq(u[1], want);
	snprintf(want, sizeof(want), "%s-3", u[0]);
	ck_assert_str_eq(u[2], want);
	mbox_index_free(&idx);
#undef DUP
}
END_TEST

START_TEST(uid_unchanged_by_status_headers)
{
	char plain[MAX_UID_LEN + 1], read1[MAX_UID_LEN + 1];
	char read2[MAX_UID_LEN + 1];

	uid_of(FROM1 "Received: by mx; 1 Jan 2024\nSubject: s\n\nbody\n", 0,
	    plain);
	uid_of(FROM1 "Received: by mx; 1 Jan 2024\nSubject: s\nStatus: O\n"
	    "\nbody\n", 0, read1);
	uid_of(FROM1 "Status: RO\nReceived: by mx; 1 Jan 2024\nSubject: s\n"
	    "X-Status: AF\n\nbody\n", 0, read2);
	ck_assert_str_eq(read1, plain);
	ck_assert_str_eq(read2, plain);
}
END_TEST

START_TEST(uid_wide_unchanged_by_status_headers)
{
	char plain[MAX_UID_LEN + 1], read1[MAX_UID_LEN + 1];
	char read2[MAX_UID_LEN + 1];

	uid_of(FROM1 "Subject: s\nFrom: a@b\n\nbody\n", 0, plain);
	uid_of(FROM1 "Subject: s\nFrom: a@b\nStatus: O\n\nbody\n", 0, read1);
	uid_of(FROM1 "Status: RO\nSubject: s\nX-Status: A\nFrom: a@b\n"
	    "\nbody\n", 0, read2);
	ck_assert_uint_eq(strlen(plain), 32);
	ck_assert_str_eq(read1, plain);
	ck_assert_str_eq(read2, plain);
}
END_TEST

static const char *const first_messages[] = {
	/* popa3d-style id */
	FROM1 "Received: by mx; 1 Jan 2024\nSubject: s\n\nbody\n",
	/* wide id, body hashed */
	FROM1 "Subject: s\n\nbody\n",
	/* wide id, body ending in blank lines */
	FROM1 "Subject: s\n\nbody\n\n\n",
	/* header only */
	FROM1 "Subject: s\n",
};

START_TEST(uid_of_first_message_unchanged_by_appending)
{
	const char *m1 = first_messages[_i];
	char alone[MAX_UID_LEN + 1], with2[MAX_UID_LEN + 1], text[512];

	uid_of(m1, 0, alone);
	/* As delivered by an MTA: the message and a blank line. */
	snprintf(text, sizeof(text), "%s\n", m1);
	uid_of(text, 0, with2);
	ck_assert_str_eq(with2, alone);
	snprintf(text, sizeof(text), "%s\n%sSubject: 2\n\nnew mail\n\n", m1,
	    FROM2);
	uid_of(text, 0, with2);
	ck_assert_str_eq(with2, alone);
}
END_TEST

START_TEST(uid_of_first_message_unchanged_by_deleting_second)
{
	const char *m1 = first_messages[_i];
	char before[MAX_UID_LEN + 1], after[MAX_UID_LEN + 1], text[512];
	char dir[PATH_MAX], path[PATH_MAX];
	struct mailbox mb;
	struct mbox_index idx;

	snprintf(text, sizeof(text), "%s\n%sSubject: 2\n\nsecond\n", m1, FROM2);
	mbox_file(dir, path, text, strlen(text));
	ck_assert_int_eq(mbox_open(&mb, path, geteuid()), MBOX_OK);
	ck_assert_uint_eq(mb.idx.count, 2);
	mbox_uid(&mb.idx.msgs[0], before);
	mbox_mark_deleted(&mb, 1);
	ck_assert_int_eq(mbox_update(&mb), MBOX_OK);
	mbox_close(&mb);

	ck_assert_int_eq(scan_fd_path(path, UINT64_MAX, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 1);
	mbox_uid(&idx.msgs[0], after);
	ck_assert_str_eq(after, before);
	mbox_index_free(&idx);
}
END_TEST

START_TEST(uid_of_second_message_unchanged_by_deleting_first)
{
	static const char text[] = FROM1 "Subject: 1\n\nfirst\n\n"
	    FROM2 "Subject: 2\n\nsecond\n";
	char before[MAX_UID_LEN + 1], after[MAX_UID_LEN + 1];
	char dir[PATH_MAX], path[PATH_MAX];
	struct mailbox mb;
	struct mbox_index idx;
	char *left;

	mbox_file(dir, path, text, strlen(text));
	ck_assert_int_eq(mbox_open(&mb, path, geteuid()), MBOX_OK);
	mbox_uid(&mb.idx.msgs[1], before);
	mbox_mark_deleted(&mb, 0);
	ck_assert_int_eq(mbox_update(&mb), MBOX_OK);
	mbox_close(&mb);

	left = unit_read_file(path, NULL);
	unit_assert_str("mbox after UPDATE", left,
	    FROM2 "Subject: 2\n\nsecond\n");
	free(left);
	ck_assert_int_eq(scan_fd_path(path, UINT64_MAX, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 1);
	mbox_uid(&idx.msgs[0], after);
	ck_assert_str_eq(after, before);
	mbox_index_free(&idx);
}
END_TEST

/*
 * The recorded answers of popa3d 1.0.3 (tests/mbox-samples, see its
 * README).  Where pop3d documents an extension, the expected ids are
 * derived from popa3d's as the README says.
 */
static const char *const popa3d_samples[] = {
	"delivery-headers", "empty", "folded-headers", "from-lines-in-body",
	"no-body", "no-final-newline", "no-received", "received-variants",
	"status-headers", "status-headers-stripped", "duplicates",
};

static void samples_dir(char *buf, size_t size)
{
	char exe[PATH_MAX], *slash;
	ssize_t n;
	struct stat st;

	if (stat("tests/mbox-samples/README", &st) == 0) {
		snprintf(buf, size, "tests/mbox-samples");
		return;
	}
	/* Run from elsewhere: build/asan/unit lives two levels down. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	ck_assert_ptr_nonnull(slash);
	*slash = '\0';
	ck_assert_int_lt(snprintf(buf, size, "%s/../../tests/mbox-samples",
	    exe), (int)size);
	ck_assert_msg(stat(buf, &st) == 0, "tests/mbox-samples not found");
}

START_TEST(uid_matches_popa3d_samples)
{
	const char *name = popa3d_samples[_i];
	char dir[PATH_MAX], path[PATH_MAX], uid[MAX_UID_LEN + 1], file[64];
	char *want, *got, *p;
	struct mbox_index idx;
	size_t i, size, o = 0;
	int dup_sample = !strcmp(name, "duplicates");

	samples_dir(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s.popa3d-uidl", name);
	unit_path(path, sizeof(path), dir, file);
	want = unit_read_file(path, &size);
	snprintf(file, sizeof(file), "%s.mbox", name);
	unit_path(path, sizeof(path), dir, file);
	ck_assert_int_eq(scan_fd_path(path, UINT64_MAX, &idx), MBOX_OK);
	got = malloc(idx.count * (MAX_UID_LEN + 24) + 1);
	ck_assert_ptr_nonnull(got);
	got[0] = '\0';
	for (i = 0; i < idx.count; i++) {
		mbox_uid(&idx.msgs[i], uid);
		/* popa3d gives both copies one id; we suffix the second. */
		if (dup_sample && (p = strchr(uid, '-')))
			*p = '\0';
		o += (size_t)sprintf(got + o, "%zu %s\n", i + 1, uid);
	}
	unit_assert_str(name, got, want);
	mbox_index_free(&idx);
	free(got);
	free(want);
}
END_TEST

START_TEST(uid_duplicate_sample_second_copy_suffixed)
{
	char dir[PATH_MAX], path[PATH_MAX], u1[MAX_UID_LEN + 1];
	char u2[MAX_UID_LEN + 1], want[MAX_UID_LEN + 8];
	struct mbox_index idx;

	samples_dir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "duplicates.mbox");
	ck_assert_int_eq(scan_fd_path(path, UINT64_MAX, &idx), MBOX_OK);
	ck_assert_uint_ge(idx.count, 2);
	mbox_uid(&idx.msgs[0], u1);
	mbox_uid(&idx.msgs[1], u2);
	snprintf(want, sizeof(want), "%s-2", u1);
	ck_assert_str_eq(u2, want);
	mbox_index_free(&idx);
}
END_TEST

/* ---------------------------------------------------------- mbox_send */

START_TEST(send_retr_lf_becomes_crlf_with_terminator)
{
	assert_send(FROM1 "Subject: 1\n\nline 1\nline 2\n", 0, -1,
	    "Subject: 1\r\n\r\nline 1\r\nline 2\r\n.\r\n");
}
END_TEST

START_TEST(send_retr_crlf_stays_crlf)
{
	assert_send("From a\r\nSubject: 1\r\n\r\nline 1\r\nline 2\r\n", 0, -1,
	    "Subject: 1\r\n\r\nline 1\r\nline 2\r\n.\r\n");
}
END_TEST

START_TEST(send_retr_byte_stuffs_leading_dots)
{
	assert_send(FROM1 ".Header: odd\n\n.\n..\n.text\nin.side\n. \n", 0,
	    -1, "..Header: odd\r\n\r\n..\r\n...\r\n..text\r\nin.side\r\n"
	    ".. \r\n.\r\n");
}
END_TEST

START_TEST(send_retr_missing_final_newline_gets_crlf)
{
	assert_send(FROM1 "Subject: 1\n\nno newline", 0, -1,
	    "Subject: 1\r\n\r\nno newline\r\n.\r\n");
}
END_TEST

START_TEST(send_retr_keeps_from_quoting)
{
	assert_send(FROM1 "Subject: 1\n\n>From me\n>>From you\n", 0, -1,
	    "Subject: 1\r\n\r\n>From me\r\n>>From you\r\n.\r\n");
}
END_TEST

START_TEST(send_retr_second_message_without_separator)
{
	static const char text[] = FROM1 "Subject: 1\n\nbody 1\n\n"
	    FROM2 "Subject: 2\n\nbody 2\n";

	assert_send(text, 0, -1, "Subject: 1\r\n\r\nbody 1\r\n.\r\n");
	assert_send(text, 1, -1, "Subject: 2\r\n\r\nbody 2\r\n.\r\n");
}
END_TEST

START_TEST(send_retr_octets_before_stuffing_equal_size)
{
	static const char text[] =
	    FROM1 "Subject: lf\n\n.dot\nplain\n\n"
	    "From b\r\nSubject: crlf\r\n\r\n..two\r\n.\r\n\r\n"
	    FROM2 "Subject: mixed\r\n\n>From x\r\n.\n\n"
	    FROM2 "Subject: empty body\n\n\n"
	    FROM2 "\n\n\n.\n\n"
	    FROM2 "Subject: last\n\n.no newline";
	char dir[PATH_MAX], path[PATH_MAX];
	struct mbox_index idx;
	size_t i, len;

	mbox_file(dir, path, text, strlen(text));
	ck_assert_int_eq(scan_fd_path(path, UINT64_MAX, &idx), MBOX_OK);
	ck_assert_uint_eq(idx.count, 6);
	for (i = 0; i < idx.count; i++) {
		uint64_t size;
		char *out = send_msg(dir, path, i, -1, &len, &size);

		ck_assert_msg(unstuffed_len(out, len) == size,
		    "message %zu: %zu octets sent before stuffing, size %llu",
		    i + 1, unstuffed_len(out, len), (unsigned long long)size);
		free(out);
	}
	mbox_index_free(&idx);
}
END_TEST

#define TOP_MSG FROM1 "Subject: top\nFrom: a@b\n\nline 1\nline 2\n.line 3\n" \
	"line 4\n"
#define TOP_HEAD "Subject: top\r\nFrom: a@b\r\n\r\n"

START_TEST(send_top_0_sends_header_and_blank_line)
{
	assert_send(TOP_MSG, 0, 0, TOP_HEAD ".\r\n");
}
END_TEST

START_TEST(send_top_2_sends_two_body_lines)
{
	assert_send(TOP_MSG, 0, 2, TOP_HEAD "line 1\r\nline 2\r\n.\r\n");
}
END_TEST

START_TEST(send_top_more_than_body_sends_whole_message)
{
	static const char whole[] = TOP_HEAD
	    "line 1\r\nline 2\r\n..line 3\r\nline 4\r\n.\r\n";

	assert_send(TOP_MSG, 0, 4, whole);
	assert_send(TOP_MSG, 0, 5, whole);
	assert_send(TOP_MSG, 0, 1000000000L, whole);
}
END_TEST

START_TEST(send_top_crlf_message)
{
	assert_send("From a\r\nSubject: t\r\n\r\nl1\r\nl2\r\n", 0, 1,
	    "Subject: t\r\n\r\nl1\r\n.\r\n");
}
END_TEST

START_TEST(send_top_header_only_message)
{
	assert_send(FROM1 "Subject: only a header\n", 0, 3,
	    "Subject: only a header\r\n.\r\n");
}
END_TEST

/*
 * A message whose stored text puts a line start (or the CR of a CRLF) at
 * the first byte of mbox_send's second read block: byte-stuffing, CRLF
 * conversion and TOP's header end must not depend on where reads split.
 * block_msg builds FROM1 + head + filler line + rest where the filler is
 * sized so that rest starts at message offset MBOX_BLOCK_SIZE - back.
 */
static char *msg_at(size_t target, const char *head, const char *eol,
    const char *rest, size_t *len_r)
{
	size_t fill = target - strlen(head) - strlen("X-Fill: ") - strlen(eol);
	size_t len = strlen(FROM1) + target + strlen(rest);
	char *t = malloc(len + 1), *p;

	ck_assert_ptr_nonnull(t);
	p = stpcpy(t, FROM1);
	p = stpcpy(p, head);
	p = stpcpy(p, "X-Fill: ");
	memset(p, 'z', fill);
	p += fill;
	p = stpcpy(p, eol);
	ck_assert_uint_eq((size_t)(p - t), strlen(FROM1) + target);
	p = stpcpy(p, rest);
	*len_r = (size_t)(p - t);
	return t;
}

static char *block_msg(const char *head, const char *eol, long back,
    const char *rest, size_t *len_r)
{
	return msg_at((size_t)((long)MBOX_BLOCK_SIZE - back), head, eol, rest,
	    len_r);
}

static void assert_send_big(const char *t, size_t len, long lines,
    const char *want, size_t want_len)
{
	size_t got_len;
	char *got = send_from(t, len, 0, lines, &got_len);

	unit_assert_bytes("mbox_send output", got, got_len, want, want_len);
	free(got);
}

START_TEST(send_retr_stuffs_dot_at_block_boundary)
{
	size_t len, clen, wlen;
	char *t = block_msg("Subject: big\n\n", "\n", 0, ".dot\nend\n", &len);
	char *c = crlf_form(t + strlen(FROM1), len - strlen(FROM1), &clen);
	char *w = wire_form(c, clen, &wlen);

	assert_send_big(t, len, -1, w, wlen);
	free(w);
	free(c);
	free(t);
}
END_TEST

START_TEST(send_retr_crlf_split_at_block_boundary)
{
	/* The filler line's CR is the last byte of the first block. */
	size_t len, clen, wlen;
	char *t = block_msg("Subject: big\r\n\r\n", "\r\n", -1, "end\r\n",
	    &len);
	char *c = crlf_form(t + strlen(FROM1), len - strlen(FROM1), &clen);
	char *w = wire_form(c, clen, &wlen);

	assert_send_big(t, len, -1, w, wlen);
	free(w);
	free(c);
	free(t);
}
END_TEST

START_TEST(send_top_header_end_split_at_block_boundary)
{
	/* The header is one long line ending just before the block
	 * boundary; the blank line's CR is the block's last byte. */
	size_t len, clen, wlen;
	char *t = block_msg("", "\r\n", 1, "\r\nbody 1\r\nbody 2\r\n", &len);
	char *head = t + strlen(FROM1);
	/* The header and the blank line after it. */
	size_t head_len = MBOX_BLOCK_SIZE - 1 + 2;
	char *c = crlf_form(head, head_len, &clen);
	char *w = wire_form(c, clen, &wlen);

	assert_send_big(t, len, 0, w, wlen);
	free(w);
	free(c);
	free(t);
}
END_TEST

START_TEST(send_top_header_end_lf_at_block_boundary)
{
	size_t len, clen, wlen;
	char *t = block_msg("", "\n", 0, "\nbody 1\nbody 2\n", &len);
	char *c = crlf_form(t + strlen(FROM1), MBOX_BLOCK_SIZE + 1, &clen);
	char *w = wire_form(c, clen, &wlen);

	assert_send_big(t, len, 0, w, wlen);
	free(w);
	free(c);
	free(t);
}
END_TEST

/*
 * TOP reads TOP_FIRST_BLOCK bytes first and doubles the block after each
 * read, so its reads end at TOP_FIRST_BLOCK, 3 * TOP_FIRST_BLOCK, ...
 * The header's end (LF or CRLF, the CR on either side) and a dot line
 * right at those ends must come out as RETR would send them.
 */
START_TEST(send_top_header_end_at_growing_block_ends)
{
	static const size_t ends[] = { TOP_FIRST_BLOCK, 3 * TOP_FIRST_BLOCK };
	static const char *const eols[] = { "\n", "\r\n" };

	for (size_t e = 0; e < sizeof(ends) / sizeof(ends[0]); e++)
		for (size_t k = 0; k < 2; k++)
			for (long back = -2; back <= 2; back++) {
				char rest[64];
				size_t len, clen, wlen, head_len;
				char *t, *c, *w;

				snprintf(rest, sizeof(rest), "%s.dot%sb%s",
				    eols[k], eols[k], eols[k]);
				t = msg_at((size_t)((long)ends[e] - back),
				    "Subject: top\n", eols[k], rest, &len);
				/* The header, its blank line, one body line. */
				head_len = (size_t)((long)ends[e] - back) +
				    2 * strlen(eols[k]) + 4;
				c = crlf_form(t + strlen(FROM1), head_len, &clen);
				w = wire_form(c, clen, &wlen);
				assert_send_big(t, len, 1, w, wlen);
				free(w);
				free(c);
				free(t);
			}
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ------------------------------------------- SSE2 and AVX2 loops agree */

/* Scans the file with the SSE2 loop and with the one the CPU gets (AVX2
 * where it has it) and compares the indexes. */
static void both_loops_agree(const char *path)
{
	struct mbox_index a, b;
	int ra, rb;

	mbox_scan_select(1);
	ra = scan_fd_path(path, UINT64_MAX, &a);
	mbox_scan_select(0);
	rb = scan_fd_path(path, UINT64_MAX, &b);
	ck_assert_int_eq(ra, rb);
	if (ra == MBOX_OK) {
		unit_assert_same_index(&a, &b);
		mbox_index_free(&a);
		mbox_index_free(&b);
	}
}

START_TEST(scan_loops_agree_on_samples)
{
	char dir[PATH_MAX], path[PATH_MAX], file[64];

	samples_dir(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s.mbox", popa3d_samples[_i]);
	unit_path(path, sizeof(path), dir, file);
	both_loops_agree(path);
}
END_TEST

/*
 * Random mboxes made of the pieces the loops care about (LF, CRLF, lone
 * CR, empty lines, From_ lines after and not after them, ">From ", dots,
 * long lines), 20 KB to 2.5 MB: every 64-byte and 1 MiB block edge lands
 * somewhere different.
 */
START_TEST(scan_loops_agree_on_random_mboxes)
{
	static const char *const bits[] = {
		"\n", "\r\n", "\r", "\n\n", "\r\n\r\n", "\nFrom x Mon Jan  1\n",
		"\n\nFrom a@b Mon Jan  1 00:00:00 2024\n", "From ",
		">From y\n", ".\n", "..x\n", "Subject: s\n", "Message-ID: <m>\n",
		"\n\r\n", "text ", "x",
	};
	char dir[PATH_MAX], path[PATH_MAX];
	unsigned seed = 12345u + (unsigned)_i * 7919u;
	size_t want = 20000 + (size_t)_i * 250000, len = 0;
	char *buf = malloc(want + 4096);

	ck_assert_ptr_nonnull(buf);
	len = (size_t)snprintf(buf, 128, "From a@b Mon Jan  1 00:00:00 2024\n");
	while (len < want) {
		const char *p;
		size_t n;

		seed = seed * 1103515245u + 12345u;
		p = bits[(seed >> 16) % (sizeof(bits) / sizeof(bits[0]))];
		n = strlen(p);
		if ((seed >> 8) % 97 == 0) {
			/* A long line, across blocks now and then. */
			n = (seed >> 4) % 3000;
			memset(buf + len, 'L', n);
			len += n;
			continue;
		}
		memcpy(buf + len, p, n);
		len += n;
	}
	mbox_file(dir, path, buf, len);
	free(buf);
	both_loops_agree(path);
}
END_TEST


/* ------------------------------------------- checks after new mail */

/* Bytes this process has read with read(2) and pread(2) so far: the
 * kernel's count (rchar), whatever the page cache holds. */
static uint64_t bytes_read(void)
{
	char line[128];
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/io", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "rchar: %llu", &v) == 1)
			break;
	fclose(f);
	ck_assert_uint_gt(v, 0);
	return v;
}

#define BIG_MESSAGES 2048
#define BIG_BODY 8192	/* 16 MiB of mail */

/* DIR/mbox with BIG_MESSAGES messages of BIG_BODY bytes, opened. */
static void big_mbox(char *dir, char *path, struct mailbox *mb)
{
	FILE *f;

	unit_tmpdir(dir, PATH_MAX);
	unit_path(path, PATH_MAX, dir, "mbox");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < BIG_MESSAGES; i++) {
		fprintf(f, "%sMessage-ID: <%d@example.org>\n\n", i ? "\n" FROM1 :
		    FROM1, i);
		for (int k = 0; k < BIG_BODY / 64; k++)
			fprintf(f, "%063d\n", k);
	}
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(mbox_open(mb, path, geteuid()), MBOX_OK);
	ck_assert_uint_eq(mb->idx.count, BIG_MESSAGES);
}

/* A delivery: one message appended, as an MDA does. */
static void deliver(const char *path, size_t body)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	char *b = malloc(body + 200);
	int n;

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(b);
	n = snprintf(b, 200, "\n" FROM2 "Subject: new\n\n");
	memset(b + n, 'x', body);
	b[n + body - 1] = '\n';
	ck_assert_int_eq(write(fd, b, (size_t)n + body), (ssize_t)n + body);
	free(b);
	close(fd);
}

#define SMALL_MBOX FROM1 "Message-ID: <a@x>\n\nbody one\n\n" \
	FROM1 "Message-ID: <b@x>\n\nbody two\n\n" \
	FROM1 "Message-ID: <c@x>\n\nbody three\n"

/* Replaces the first old by new (same length) in place. */
static void poke(const char *path, const char *old, const char *new)
{
	size_t len;
	char *b = unit_read_file(path, &len), *p = memmem(b, len, old,
	    strlen(old));
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, new, strlen(new), p - b),
	    (ssize_t)strlen(new));
	close(fd);
	free(b);
}

/* RETR of one message after a delivery reads that message and a
 * constant, not the whole mbox again (it did, for each such command). */
START_TEST(send_after_delivery_reads_no_whole_rescan)
{
	char dir[PATH_MAX], path[PATH_MAX], out[PATH_MAX];
	struct mailbox mb;
	struct netio io;
	uint64_t before, used;
	int fd;

	big_mbox(dir, path, &mb);
	unit_path(out, sizeof(out), dir, "out");
	fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_init(&io, -1, fd, 0), 0);
	for (int round = 0; round < 3; round++) {
		deliver(path, 1024);
		before = bytes_read();
		ck_assert_int_eq(mbox_send(&mb, (size_t)round * 700, -1, &io),
		    MBOX_OK);
		used = bytes_read() - before;
		/* The message twice (sent, checked), the tail hash, the
		 * probes: far below the 16 MiB of the mbox. */
		ck_assert_msg(used < 4 * BIG_BODY + MBOX_TAIL_CHECK + 4096,
		    "RETR after a delivery read %llu bytes",
		    (unsigned long long)used);
	}
	ck_assert_int_eq(io_flush(&io), 0);
	io_free(&io);
	close(fd);
	mbox_close(&mb);
}
END_TEST

/* The check RETR and TOP make first costs the same. */
START_TEST(check_message_after_delivery_reads_that_message)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct mailbox mb;
	uint64_t before, used;

	big_mbox(dir, path, &mb);
	deliver(path, 100000);
	before = bytes_read();
	ck_assert_int_eq(mbox_check_message(&mb, 1000), MBOX_OK);
	ck_assert_int_eq(mbox_check_message(&mb, 2047), MBOX_OK);
	used = bytes_read() - before;
	ck_assert_msg(used < 2 * BIG_BODY + MBOX_TAIL_CHECK + 4096,
	    "two checks read %llu bytes", (unsigned long long)used);
	/* UPDATE's check still reads everything. */
	before = bytes_read();
	ck_assert_int_eq(mbox_check(&mb), MBOX_OK);
	ck_assert_uint_ge(bytes_read() - before, mb.idx.scanned);
	/* An edit of the same length far back, with new mail: another
	 * message is served as indexed, that one is not, and UPDATE
	 * refuses the file. */
	poke(path, "<3@example.org>", "<3@Example.org>");
	deliver(path, 100);
	ck_assert_int_eq(mbox_check_message(&mb, 1000), MBOX_OK);
	ck_assert_int_eq(mbox_check_message(&mb, 3), MBOX_CHANGED);
	ck_assert_int_eq(mbox_check(&mb), MBOX_CHANGED);
	mbox_close(&mb);
}
END_TEST

/* Still caught with mail arriving: an edit of the message to be sent,
 * any change of length before the old end, and at UPDATE any edit. */
START_TEST(check_message_catches_rewrites_with_new_mail)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct mailbox mb;

	/* The message itself, same length. */
	mbox_file(dir, path, SMALL_MBOX, strlen(SMALL_MBOX));
	ck_assert_int_eq(mbox_open(&mb, path, geteuid()), MBOX_OK);
	deliver(path, 10);
	poke(path, "<a@x>", "<A@x>");
	ck_assert_int_eq(mbox_check_message(&mb, 0), MBOX_CHANGED);
	/* A small mbox is inside the hashed tail: any message shows it. */
	ck_assert_int_eq(mbox_check_message(&mb, 1), MBOX_CHANGED);
	ck_assert_int_eq(mbox_check(&mb), MBOX_CHANGED);
	mbox_close(&mb);

	/* A header line added to message 1: everything after moves. */
	mbox_file(dir, path, SMALL_MBOX, strlen(SMALL_MBOX));
	ck_assert_int_eq(mbox_open(&mb, path, geteuid()), MBOX_OK);
	unit_write_str(path, FROM1 "Status: RO\nMessage-ID: <a@x>\n\nbody "
	    "one\n\n" FROM1 "Message-ID: <b@x>\n\nbody two\n\n" FROM1
	    "Message-ID: <c@x>\n\nbody three\n", 0600);
	ck_assert_int_eq(mbox_check_message(&mb, 1), MBOX_CHANGED);
	mbox_close(&mb);

	/* Message 1 removed by a mail reader, then mail delivered. */
	mbox_file(dir, path, SMALL_MBOX, strlen(SMALL_MBOX));
	ck_assert_int_eq(mbox_open(&mb, path, geteuid()), MBOX_OK);
	unit_write_str(path, FROM1 "Message-ID: <b@x>\n\nbody two\n\n" FROM1
	    "Message-ID: <c@x>\n\nbody three\n", 0600);
	deliver(path, 200);
	ck_assert_int_eq(mbox_check_message(&mb, 2), MBOX_CHANGED);
	mbox_close(&mb);

	/* Plain delivery: nothing is wrong. */
	mbox_file(dir, path, SMALL_MBOX, strlen(SMALL_MBOX));
	ck_assert_int_eq(mbox_open(&mb, path, geteuid()), MBOX_OK);
	deliver(path, 200);
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(mbox_check_message(&mb, i), MBOX_OK);
	ck_assert_int_eq(mbox_check(&mb), MBOX_OK);
	mbox_close(&mb);
}
END_TEST

Suite *mbox_suite(void)
{
	Suite *s = suite_create("mbox");
	TCase *tc;

	tc = tcase_create("scan");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc,
	    scan_from_line_at_start_and_after_blank_starts_message);
	tcase_add_test(tc, scan_from_after_nonblank_line_stays_in_body);
	tcase_add_test(tc, scan_from_right_after_from_line_stays_in_message);
	tcase_add_test(tc, scan_excludes_from_line_and_separator);
	tcase_add_test(tc, scan_trailing_blank_line_at_eof_is_separator);
	tcase_add_test(tc, scan_only_one_blank_line_is_separator);
	tcase_add_test(tc, scan_size_lf_file);
	tcase_add_test(tc, scan_size_crlf_file);
	tcase_add_test(tc, scan_size_mixed_line_ends);
	tcase_add_test(tc, scan_size_missing_final_newline_adds_crlf);
	tcase_add_test(tc, scan_keeps_from_quoting);
	tcase_add_test(tc, scan_size_counts_dot_lines_unstuffed);
	tcase_add_test(tc, scan_empty_file_has_no_messages);
	tcase_add_loop_test(tc, scan_not_starting_with_from_is_not_mbox, 0,
	    N(not_mboxes));
	tcase_add_test(tc, scan_header_line_longer_than_block);
	tcase_add_loop_test(tc, scan_loops_agree_on_samples, 0,
	    N(popa3d_samples));
	tcase_add_loop_test(tc, scan_loops_agree_on_random_mboxes, 0, 11);
	tcase_add_test(tc, scan_body_line_longer_than_block);
	tcase_add_test(tc, scan_crlf_line_longer_than_block);
	tcase_add_test(tc, scan_from_line_longer_than_block);
	tcase_add_loop_test(tc, scan_message_straddling_block_boundary, 0,
	    2 * N(straddle_k));
	tcase_add_test(tc,
	    scan_limit_at_message_boundary_indexes_only_that_part);
	tcase_add_test(tc, scan_limit_inside_message_reads_no_further);
	tcase_add_test(tc, scan_limit_beyond_file_size_is_changed);
	tcase_add_loop_test(tc, scan_and_count_agree_on_header_end, 0,
	    (int)(sizeof(eoh_cases) / sizeof(eoh_cases[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("uid");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, uid_popa3d_style_for_stable_headers);
	tcase_add_test(tc, uid_wide_without_stable_headers);
	tcase_add_test(tc, uid_wide_differs_for_different_messages);
	tcase_add_test(tc, uid_duplicates_get_suffixes);
	tcase_add_test(tc, uid_wide_duplicates_get_suffixes);
	tcase_add_test(tc, uid_unchanged_by_status_headers);
	tcase_add_test(tc, uid_wide_unchanged_by_status_headers);
	tcase_add_loop_test(tc, uid_of_first_message_unchanged_by_appending, 0,
	    N(first_messages));
	tcase_add_loop_test(tc,
	    uid_of_first_message_unchanged_by_deleting_second, 0,
	    N(first_messages));
	tcase_add_test(tc, uid_of_second_message_unchanged_by_deleting_first);
	tcase_add_loop_test(tc, uid_matches_popa3d_samples, 0,
	    N(popa3d_samples));
	tcase_add_test(tc, uid_duplicate_sample_second_copy_suffixed);
	suite_add_tcase(s, tc);

	tc = tcase_create("send");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, send_retr_lf_becomes_crlf_with_terminator);
	tcase_add_test(tc, send_retr_crlf_stays_crlf);
	tcase_add_test(tc, send_retr_byte_stuffs_leading_dots);
	tcase_add_test(tc, send_retr_missing_final_newline_gets_crlf);
	tcase_add_test(tc, send_retr_keeps_from_quoting);
	tcase_add_test(tc, send_retr_second_message_without_separator);
	tcase_add_test(tc, send_retr_octets_before_stuffing_equal_size);
	tcase_add_test(tc, send_top_0_sends_header_and_blank_line);
	tcase_add_test(tc, send_top_2_sends_two_body_lines);
	tcase_add_test(tc, send_top_more_than_body_sends_whole_message);
	tcase_add_test(tc, send_top_crlf_message);
	tcase_add_test(tc, send_top_header_only_message);
	tcase_add_test(tc, send_retr_stuffs_dot_at_block_boundary);
	tcase_add_test(tc, send_retr_crlf_split_at_block_boundary);
	tcase_add_test(tc, send_top_header_end_split_at_block_boundary);
	tcase_add_test(tc, send_top_header_end_lf_at_block_boundary);
	tcase_add_test(tc, send_top_header_end_at_growing_block_ends);
	suite_add_tcase(s, tc);

	tc = tcase_create("recheck");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, send_after_delivery_reads_no_whole_rescan);
	tcase_add_test(tc, check_message_after_delivery_reads_that_message);
	tcase_add_test(tc, check_message_catches_rewrites_with_new_mail);
	suite_add_tcase(s, tc);
	return s;
}

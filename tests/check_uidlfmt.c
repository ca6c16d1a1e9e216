/*
 * check_uidlfmt.c - --uidl-format: the header parsers (X-UID, X-IMAPbase,
 * X-UIDL) with every malformed form, and the scan's use of them: header
 * block only, bounded lines, the Dovecot UID order, fall-backs and
 * uniqueness, and the rescans that check a message before it is sent.
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "unit.h"

#define FROM "From alice@example.org Mon Jan  1 00:00:00 2024\n"

/* ---------------------------------------------------------- helpers */

static uint32_t xuid(const char *line)
{
	return mbox_parse_x_uid((const unsigned char *)line, strlen(line));
}

static int base(const char *line, uint32_t *v, uint32_t *last)
{
	return mbox_parse_x_imapbase((const unsigned char *)line,
	    strlen(line), v, last);
}

/* The id of an X-UIDL line as a string, or NULL if it has none. */
static const char *xuidl(const char *line)
{
	static char buf[MAX_UID_LEN + 1];
	const unsigned char *id;
	size_t n;

	if (mbox_parse_x_uidl((const unsigned char *)line, strlen(line), &id,
	    &n) < 0)
		return NULL;
	ck_assert_uint_le(n, MAX_UID_LEN);
	memcpy(buf, id, n);
	buf[n] = '\0';
	return buf;
}

/* Scans text as an mbox with format fmt; the file stays open in *fd_r
 * when fd_r is not NULL.  The index must be freed by the caller. */
static void scan_fmt(enum uidl_format fmt, const char *text, size_t len,
    struct mbox_index *idx, int *fd_r)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int fd;

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "mbox");
	unit_write_file(path, text, len, 0600);
	fd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	mbox_set_uidl_format(fmt);
	ck_assert_int_eq(mbox_scan(fd, UINT64_MAX, idx), MBOX_OK);
	if (fd_r)
		*fd_r = fd;
	else
		close(fd);
}

static void scan_str_fmt(enum uidl_format fmt, const char *text,
    struct mbox_index *idx)
{
	scan_fmt(fmt, text, strlen(text), idx, NULL);
}

/* Message n's shown id. */
static const char *shown(const struct mbox_index *idx, size_t n)
{
	static char buf[4][MAX_UID_LEN + 1];
	static int k;

	k = (k + 1) % 4;
	mbox_index_uid(idx, n, buf[k]);
	return buf[k];
}

/* Message n's default id (what --uidl-format popa3d shows). */
static const char *dflt(const struct mbox_index *idx, size_t n)
{
	static char buf[4][MAX_UID_LEN + 1];
	static int k;

	k = (k + 1) % 4;
	mbox_uid(&idx->msgs[n], buf[k]);
	return buf[k];
}

/* ---------------------------------------------------------- X-UID */

START_TEST(x_uid_well_formed)
{
	ck_assert_uint_eq(xuid("X-UID: 5"), 5);
	ck_assert_uint_eq(xuid("X-UID:5"), 5);
	ck_assert_uint_eq(xuid("x-uid:\t 7 \t "), 7);
	ck_assert_uint_eq(xuid("X-Uid: 42\r"), 42);
	ck_assert_uint_eq(xuid("X-UID: 4294967295"), 4294967295U);
	ck_assert_uint_eq(xuid("X-UID: 0000000009"), 9);
}
END_TEST

START_TEST(x_uid_malformed)
{
	static const char *const bad[] = {
		"X-UID:", "X-UID:   ", "X-UID: 0", "X-UID: 5x", "X-UID: x5",
		"X-UID: -5", "X-UID: +5", "X-UID: 5 6", "X-UID: 0x10",
		"X-UID: 4294967296", "X-UID: 12345678901", "X-UID: 00000000009",
		"X-UID : 5", "X-UIDX: 5", "X-UIDL: 5", "X-UI: 5", "UID: 5",
		"X-UID: 5,", "X-UID: \x01" "5", "X-UID: 5\x7f",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(xuid(bad[i]) == 0, "accepted: %s", bad[i]);
}
END_TEST

/* ----------------------------------------------------- X-IMAPbase */

START_TEST(x_imapbase_well_formed)
{
	uint32_t v = 0, last = 0;

	ck_assert_int_eq(base("X-IMAPbase: 1700000000 0000000005", &v,
	    &last), 0);
	ck_assert_uint_eq(v, 1700000000U);
	ck_assert_uint_eq(last, 5);
	ck_assert_int_eq(base("x-imapbase:\t1 2 $Junk NonJunk $Label1", &v,
	    &last), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_uint_eq(last, 2);
	/* No LASTUID: 0, as Dovecot reads it. */
	ck_assert_int_eq(base("X-IMAPbase: 17", &v, &last), 0);
	ck_assert_uint_eq(last, 0);
	ck_assert_int_eq(base("X-IMAPbase: 17 Junk", &v, &last), 0);
	ck_assert_uint_eq(v, 17);
	ck_assert_uint_eq(last, 0);
	ck_assert_int_eq(base("X-IMAPbase: 4294967295 4294967295 ", &v,
	    &last), 0);
	ck_assert_uint_eq(v, 4294967295U);
	ck_assert_uint_eq(last, 4294967295U);
}
END_TEST

START_TEST(x_imapbase_malformed)
{
	static const char *const bad[] = {
		"X-IMAPbase:", "X-IMAPbase:  ", "X-IMAPbase: 0 5",
		"X-IMAPbase: abc 5", "X-IMAPbase: 17x 5", "X-IMAPbase: -17 5",
		"X-IMAPbase: 4294967296 5", "X-IMAPbase: 17 4294967296",
		"X-IMAPbase: 17 5x", "X-IMAPbase: 17 99999999999 Junk",
		"X-IMAP: 17 5", "X-IMAPbasex: 17 5", "X-IMAPbase : 17 5",
	};
	uint32_t v, last;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(base(bad[i], &v, &last) < 0, "accepted: %s",
		    bad[i]);
}
END_TEST

/* --------------------------------------------------------- X-UIDL */

START_TEST(x_uidl_well_formed)
{
	char line[128], id70[71];

	ck_assert_str_eq(xuidl("X-UIDL: abc"), "abc");
	ck_assert_str_eq(xuidl("X-UIDL:abc"), "abc");
	ck_assert_str_eq(xuidl("x-uidl: \t<a.b@c>\t \r"), "<a.b@c>");
	ck_assert_str_eq(xuidl("X-UIDL: !~"), "!~");
	memset(id70, 'z', 70);
	id70[70] = '\0';
	snprintf(line, sizeof(line), "X-UIDL: %s", id70);
	ck_assert_str_eq(xuidl(line), id70);
}
END_TEST

START_TEST(x_uidl_malformed)
{
	static const char *const bad[] = {
		"X-UIDL:", "X-UIDL:   ", "X-UIDL: a b", "X-UIDL: a\x01",
		"X-UIDL: \x01" "a", "X-UIDL: a\x7f", "X-UIDL: caf\xc3\xa9",
		"X-UIDL : a", "X-UIDLX: a", "X-UID: a", "UIDL: a",
		"X-UIDL: a\x0b",
	};
	char line[128], id71[72];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(xuidl(bad[i]) == NULL, "accepted: %s", bad[i]);
	memset(id71, 'z', 71);
	id71[71] = '\0';
	snprintf(line, sizeof(line), "X-UIDL: %s", id71);
	ck_assert_ptr_null(xuidl(line));
}
END_TEST

/* ------------------------------------------------------ the scan */

START_TEST(default_format_ignores_headers)
{
	struct mbox_index idx;

	scan_str_fmt(UIDL_POPA3D, FROM "X-UIDL: abc\nX-IMAPbase: 1 1\n"
	    "X-UID: 1\n\nbody\n", &idx);
	ck_assert_uint_eq(idx.count, 1);
	ck_assert_ptr_null(idx.hid);
	ck_assert_str_eq(shown(&idx, 0), dflt(&idx, 0));
	mbox_index_free(&idx);
}
END_TEST

START_TEST(header_block_only)
{
	struct mbox_index idx;

	scan_str_fmt(UIDL_XUIDL, FROM "Subject: a\n\nX-UIDL: body-1\n\n"
	    FROM "Subject: b\n\n\nX-UIDL: body-2\n", &idx);
	ck_assert_uint_eq(idx.count, 2);
	ck_assert_str_eq(shown(&idx, 0), dflt(&idx, 0));
	ck_assert_str_eq(shown(&idx, 1), dflt(&idx, 1));
	mbox_index_free(&idx);
	scan_str_fmt(UIDL_DOVECOT, FROM "X-IMAPbase: 10 5\n\nX-UID: 1\n",
	    &idx);
	ck_assert_str_eq(shown(&idx, 0), dflt(&idx, 0));
	mbox_index_free(&idx);
}
END_TEST

START_TEST(x_uidl_ids_and_crlf_and_eof)
{
	struct mbox_index idx;

	scan_str_fmt(UIDL_XUIDL, FROM "X-UIDL: one\r\n\r\nbody\r\n\r\n"
	    FROM "Subject: x\nX-UIDL:   two  \n\nbody\n\n"
	    FROM "X-UIDL: three", &idx);
	ck_assert_uint_eq(idx.count, 3);
	ck_assert_str_eq(shown(&idx, 0), "one");
	ck_assert_str_eq(shown(&idx, 1), "two");
	ck_assert_str_eq(shown(&idx, 2), "three");
	mbox_index_free(&idx);
}
END_TEST

START_TEST(folded_or_second_line)
{
	struct mbox_index idx;

	scan_str_fmt(UIDL_XUIDL,
	    FROM "X-UIDL: folded\n continued\n\nb\n\n"
	    FROM "X-UIDL: folded\n\tcontinued\nX-UIDL: after\n\nb\n\n"
	    FROM "X-UIDL: first\nX-UIDL: second\n\nb\n\n"
	    FROM "X-UIDL: a b\nX-UIDL: good\n\nb\n", &idx);
	ck_assert_uint_eq(idx.count, 4);
	ck_assert_str_eq(shown(&idx, 0), dflt(&idx, 0));
	ck_assert_str_eq(shown(&idx, 1), "after");
	ck_assert_str_eq(shown(&idx, 2), "first");
	ck_assert_str_eq(shown(&idx, 3), "good");
	mbox_index_free(&idx);
}
END_TEST

/* A line longer than HDR_ID_LINE_MAX is no id; even one longer than the
 * scan's block, which arrives in fragments. */
START_TEST(overlong_lines)
{
	size_t big = MBOX_BLOCK_SIZE + 1000, n;
	const char *head = FROM "X-UIDL: ";
	const char *rest = "\n\nb\n\n" FROM "X-UIDL: short\n\nb\n";
	char *text = malloc(strlen(head) + big + strlen(rest) + 1);
	struct mbox_index idx;

	ck_assert_ptr_nonnull(text);
	n = strlen(head);
	memcpy(text, head, n);
	memset(text + n, 'a', big);
	strcpy(text + n + big, rest);
	scan_fmt(UIDL_XUIDL, text, strlen(text), &idx, NULL);
	ck_assert_uint_eq(idx.count, 2);
	ck_assert_str_eq(shown(&idx, 0), dflt(&idx, 0));
	ck_assert_str_eq(shown(&idx, 1), "short");
	mbox_index_free(&idx);
	/* White space padding a valid id past the limit: no id either. */
	n = strlen(head);
	memcpy(text, head, n);
	memcpy(text + n, "id", 2);
	memset(text + n + 2, ' ', HDR_ID_LINE_MAX);
	strcpy(text + n + 2 + HDR_ID_LINE_MAX, rest);
	scan_fmt(UIDL_XUIDL, text, strlen(text), &idx, NULL);
	ck_assert_str_eq(shown(&idx, 0), dflt(&idx, 0));
	mbox_index_free(&idx);
	free(text);
}
END_TEST

/* An X-IMAPbase line with a keyword list past HDR_ID_LINE_MAX: its
 * numbers come first and still count. */
START_TEST(long_imapbase_keywords)
{
	char text[2048];
	size_t n;
	struct mbox_index idx;

	n = (size_t)snprintf(text, sizeof(text), FROM "X-IMAPbase: 3 7");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, " kw%d", i);
	snprintf(text + n, sizeof(text) - n, "\nX-UID: 1\n\nb\n");
	ck_assert_uint_gt(n, HDR_ID_LINE_MAX);
	scan_str_fmt(UIDL_DOVECOT, text, &idx);
	ck_assert_str_eq(shown(&idx, 0), "0000000100000003");
	mbox_index_free(&idx);
}
END_TEST

START_TEST(dovecot_uid_order)
{
	struct mbox_index idx;

	/* LASTUID 3.  Message 2's X-UID 2 is not above 2: Dovecot gives it
	 * 4, message 3 (none) 5, so message 4's X-UID 4 is too low; 10 is
	 * fine; an X-IMAPbase in a later message does not count. */
	scan_str_fmt(UIDL_DOVECOT,
	    FROM "X-UID: 2\nX-IMAPbase: 255 3\n\nb\n\n"
	    FROM "X-UID: 2\n\nb\n\n"
	    FROM "Subject: none\n\nb\n\n"
	    FROM "X-UID: 4\n\nb\n\n"
	    FROM "X-UID: 10\nX-IMAPbase: 1 100\n\nb\n\n", &idx);
	ck_assert_uint_eq(idx.count, 5);
	ck_assert_str_eq(shown(&idx, 0), "00000002000000ff");
	ck_assert_str_eq(shown(&idx, 1), dflt(&idx, 1));
	ck_assert_str_eq(shown(&idx, 2), dflt(&idx, 2));
	ck_assert_str_eq(shown(&idx, 3), dflt(&idx, 3));
	ck_assert_str_eq(shown(&idx, 4), "0000000a000000ff");
	mbox_index_free(&idx);
}
END_TEST

/* Duplicate header ids: the later falls back; a header id equal to a
 * default id gives way; default ids that meet are numbered. */
START_TEST(uniqueness)
{
	struct mbox_index idx, first;
	char text[4096], d[MAX_UID_LEN + 1];
	const char *m1 = FROM "Message-ID: <1@x>\n\nb\n\n";

	/* Message 1's default id, to put into message 3's X-UIDL. */
	scan_str_fmt(UIDL_POPA3D, m1, &first);
	mbox_uid(&first.msgs[0], d);
	mbox_index_free(&first);
	snprintf(text, sizeof(text), "%s"
	    FROM "Message-ID: <2@x>\nX-UIDL: same\n\nb\n\n"
	    FROM "Message-ID: <3@x>\nX-UIDL: %s\n\nb\n\n"
	    FROM "Message-ID: <4@x>\nX-UIDL: same\n\nb\n\n"
	    FROM "Message-ID: <1@x>\nX-UIDL: copy\n\nb\n\n"
	    FROM "Message-ID: <1@x>\n\nb\n", m1, d);
	scan_str_fmt(UIDL_XUIDL, text, &idx);
	ck_assert_uint_eq(idx.count, 6);
	ck_assert_str_eq(shown(&idx, 0), d);
	ck_assert_str_eq(shown(&idx, 1), "same");
	ck_assert_str_eq(shown(&idx, 2), dflt(&idx, 2));
	ck_assert_str_eq(shown(&idx, 3), dflt(&idx, 3));
	ck_assert_str_eq(shown(&idx, 4), "copy");
	/* Message 6 is a copy of message 1 (same default hash): -2. */
	ck_assert_uint_eq(idx.msgs[5].dup, 2);
	for (size_t i = 0; i < idx.count; i++)
		for (size_t j = i + 1; j < idx.count; j++)
			ck_assert_str_ne(shown(&idx, i), shown(&idx, j));
	mbox_index_free(&idx);
}
END_TEST

/* A message rescanned before it is sent compares what its header says;
 * an edit of the same length in an X-UIDL or X-UID is a change. */
START_TEST(message_holds_compares_header_ids)
{
	static const char text[] = FROM "X-IMAPbase: 9 9\nX-UID: 1\n"
	    "X-UIDL: aaa\n\nb\n\n" FROM "X-UID: 2\nX-UIDL: bbb\n\nb\n";
	enum uidl_format fmts[] = { UIDL_DOVECOT, UIDL_XUIDL };

	for (size_t f = 0; f < 2; f++) {
		struct mbox_index idx;
		int fd;

		scan_fmt(fmts[f], text, strlen(text), &idx, &fd);
		ck_assert_int_eq(mbox_message_holds(fd, &idx, 0), MBOX_OK);
		ck_assert_int_eq(mbox_message_holds(fd, &idx, 1), MBOX_OK);
		/* Message 2: X-UID 2 -> 3, X-UIDL bbb -> bbc. */
		ck_assert_int_eq(pwrite(fd, fmts[f] == UIDL_DOVECOT ? "3" :
		    "c", 1, (off_t)(strstr(text, fmts[f] == UIDL_DOVECOT ?
		    "X-UID: 2" : "bbb") - text) + (fmts[f] == UIDL_DOVECOT ?
		    7 : 2)), 1);
		ck_assert_int_eq(mbox_message_holds(fd, &idx, 0), MBOX_OK);
		ck_assert_int_eq(mbox_message_holds(fd, &idx, 1),
		    MBOX_CHANGED);
		/* Message 1's X-IMAPbase: 9 -> 8. */
		if (fmts[f] == UIDL_DOVECOT) {
			ck_assert_int_eq(pwrite(fd, "8", 1,
			    (off_t)(strstr(text, "X-IMAPbase: 9") - text) +
			    12), 1);
			ck_assert_int_eq(mbox_message_holds(fd, &idx, 0),
			    MBOX_CHANGED);
		}
		close(fd);
		mbox_index_free(&idx);
	}
}
END_TEST

START_TEST(format_names)
{
	ck_assert_int_eq(uidl_format_parse("popa3d"), UIDL_POPA3D);
	ck_assert_int_eq(uidl_format_parse("dovecot"), UIDL_DOVECOT);
	ck_assert_int_eq(uidl_format_parse("x-uidl"), UIDL_XUIDL);
	ck_assert_int_eq(uidl_format_parse("Dovecot"), -1);
	ck_assert_int_eq(uidl_format_parse(""), -1);
	ck_assert_int_eq(uidl_format_parse("x-uidl "), -1);
	ck_assert_str_eq(uidl_format_name(UIDL_XUIDL), "x-uidl");
}
END_TEST

Suite *uidlfmt_suite(void)
{
	Suite *s = suite_create("uidlfmt");
	TCase *tc = tcase_create("uidlfmt");

	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, x_uid_well_formed);
	tcase_add_test(tc, x_uid_malformed);
	tcase_add_test(tc, x_imapbase_well_formed);
	tcase_add_test(tc, x_imapbase_malformed);
	tcase_add_test(tc, x_uidl_well_formed);
	tcase_add_test(tc, x_uidl_malformed);
	tcase_add_test(tc, default_format_ignores_headers);
	tcase_add_test(tc, header_block_only);
	tcase_add_test(tc, x_uidl_ids_and_crlf_and_eof);
	tcase_add_test(tc, folded_or_second_line);
	tcase_add_test(tc, overlong_lines);
	tcase_add_test(tc, long_imapbase_keywords);
	tcase_add_test(tc, dovecot_uid_order);
	tcase_add_test(tc, uniqueness);
	tcase_add_test(tc, message_holds_compares_header_ids);
	tcase_add_test(tc, format_names);
	suite_add_tcase(s, tc);
	return s;
}

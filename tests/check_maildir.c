/*
 * check_maildir.c - the Maildir back end: name parsing, the UIDL
 * mapping, the journal's format, and a scan and an interrupted UPDATE's
 * recovery on a real Maildir in a scratch directory.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "unit.h"

static void uid_of(const char *name, char *buf)
{
	maildir_uid(name, maildir_base_len(name), buf);
}

START_TEST(base_name_stops_at_first_colon)
{
	ck_assert_uint_eq(maildir_base_len("123.M1.host:2,S"), 11);
	ck_assert_uint_eq(maildir_base_len("123.M1.h"), 8);
	ck_assert_uint_eq(maildir_base_len(":2,"), 0);
}
END_TEST

START_TEST(uid_is_base_name)
{
	char u[MAX_UID_LEN + 1];

	uid_of("1700000000.M2P2.host,S=19,W=21:2,RS", u);
	ck_assert_str_eq(u, "1700000000.M2P2.host,S=19,W=21");
}
END_TEST

START_TEST(uid_same_after_flag_rename)
{
	char a[MAX_UID_LEN + 1], b[MAX_UID_LEN + 1];

	uid_of("1700000000.M1.h:2,", a);
	uid_of("1700000000.M1.h:2,FRS", b);
	ck_assert_str_eq(a, b);
}
END_TEST

START_TEST(uid_maps_as_courier)
{
	char u[MAX_UID_LEN + 1];

	/* Courier's version 0 rule: outside 0x21-0x7E and ' " + as +XX;
	 * '%' and the rest of 0x21-0x7E as they are. */
	uid_of("a b\x7f%'\"+\xc3\xa9", u);
	ck_assert_str_eq(u, "a+20b+7F%+27+22+2B+C3+A9");
}
END_TEST

START_TEST(uid_mapping_is_one_to_one_for_plus)
{
	char a[MAX_UID_LEN + 1], b[MAX_UID_LEN + 1];

	/* "+20" literally and " " must not give the same id. */
	uid_of("x+20", a);
	uid_of("x ", b);
	ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(uid_of_empty_base_name_is_defined)
{
	char u[MAX_UID_LEN + 1];

	/* Garbage in the buffer must not show through. */
	memset(u, 'X', sizeof(u));
	uid_of(":2,S", u);
	ck_assert_uint_eq(strlen(u), 34);
	ck_assert_int_eq(u[0], '+');
	ck_assert_int_eq(u[1], '-');
}
END_TEST

START_TEST(uid_of_70_characters_kept)
{
	char name[71], u[MAX_UID_LEN + 1];

	memset(name, 'a', 70);
	name[70] = '\0';
	uid_of(name, u);
	ck_assert_str_eq(u, name);
}
END_TEST

START_TEST(uid_longer_than_70_hashed_and_distinct)
{
	char n1[100], n2[100], u1[MAX_UID_LEN + 1], u2[MAX_UID_LEN + 1];

	memset(n1, 'a', 99);
	n1[99] = '\0';
	memcpy(n2, n1, sizeof(n2));
	n2[98] = 'b';
	uid_of(n1, u1);
	uid_of(n2, u2);
	ck_assert_uint_eq(strlen(u1), 70);
	ck_assert_uint_eq(strlen(u2), 70);
	ck_assert_str_ne(u1, u2);
	ck_assert_int_eq(u1[36], '+');
	ck_assert_int_eq(u1[37], '-');
	ck_assert_int_eq(strncmp(u1, n1, 36), 0);
	for (const char *p = u1; *p; p++)
		ck_assert(*p > 0x20 && *p < 0x7f);
}
END_TEST

START_TEST(escapes_that_overflow_are_hashed)
{
	char n[40], u[MAX_UID_LEN + 1];

	/* 30 bytes, 90 characters mapped. */
	memset(n, ' ', 30);
	n[30] = '\0';
	uid_of(n, u);
	ck_assert_uint_eq(strlen(u), 70);
	ck_assert_int_eq(u[36], '+');
	ck_assert_int_eq(u[37], '-');
}
END_TEST

/* What the fuzzer found: a file whose literal name is what the hashed
 * form of another (here the empty base name) used to be. */
START_TEST(hashed_id_is_no_literal_name)
{
	char u1[MAX_UID_LEN + 1], u2[MAX_UID_LEN + 1], lit[MAX_UID_LEN + 8];

	uid_of(":2,S", u1);
	snprintf(lit, sizeof(lit), "%s:2,", u1 + 1);	/* "-" + MD5 */
	uid_of(lit, u2);
	ck_assert_str_ne(u1, u2);
	snprintf(lit, sizeof(lit), "%s:2,", u1);	/* "+-" + MD5 */
	uid_of(lit, u2);
	ck_assert_str_ne(u1, u2);
}
END_TEST

START_TEST(name_size_w_field)
{
	uint64_t s = 0;
	const char *n = "1.M1.h,S=100,W=104:2,S";

	ck_assert_int_eq(maildir_name_size(n, maildir_base_len(n), &s), 0);
	ck_assert_uint_eq(s, 104);
}
END_TEST

START_TEST(name_size_s_alone_is_not_used)
{
	uint64_t s = 0;
	const char *n = "1.M1.h,S=100:2,S";

	ck_assert_int_eq(maildir_name_size(n, maildir_base_len(n), &s), -1);
}
END_TEST

START_TEST(name_size_w_after_colon_ignored)
{
	uint64_t s = 0;
	const char *n = "1.M1.h:2,W=5";

	ck_assert_int_eq(maildir_name_size(n, maildir_base_len(n), &s), -1);
}
END_TEST

START_TEST(name_size_garbage_and_overflow_refused)
{
	uint64_t s = 0;
	const char *a = "1.h,W=12x", *b = "1.h,W=", *c =
	    "1.h,W=99999999999999999999999";

	ck_assert_int_eq(maildir_name_size(a, strlen(a), &s), -1);
	ck_assert_int_eq(maildir_name_size(b, strlen(b), &s), -1);
	ck_assert_int_eq(maildir_name_size(c, strlen(c), &s), -1);
}
END_TEST

START_TEST(name_time_leading_number)
{
	long long t = 0;

	ck_assert_int_eq(maildir_name_time("1700000000.M1.h", &t), 0);
	ck_assert_int_eq(t, 1700000000LL);
	ck_assert_int_eq(maildir_name_time("abc.M1.h", &t), -1);
	ck_assert_int_eq(maildir_name_time("17000", &t), -1);
	ck_assert_int_eq(maildir_name_time("1234567890123456789012.x", &t),
	    -1);
}
END_TEST

static int names_seen;
static int count_names(void *ctx, const char *base, size_t len)
{
	(void)ctx;
	(void)base;
	(void)len;
	names_seen++;
	return 0;
}

START_TEST(journal_parse_accepts_whole)
{
	static const char j[] = "pop3d maildir journal 1\nabc\0def\0";

	names_seen = 0;
	ck_assert_int_eq(maildir_journal_parse((const unsigned char *)j,
	    sizeof(j), count_names, NULL), 0);
	ck_assert_int_eq(names_seen, 2);
}
END_TEST

START_TEST(journal_parse_refuses_damage)
{
	static const char cut[] = "pop3d maildir journal 1\nabc\0de";
	static const char slash[] = "pop3d maildir journal 1\na/b\0";
	static const char magic[] = "pop3d maildir journal 2\nabc\0";
	static const char colon[] = "pop3d maildir journal 1\nab:2,\0";

	ck_assert_int_eq(maildir_journal_parse((const unsigned char *)cut,
	    sizeof(cut) - 1, NULL, NULL), -1);
	ck_assert_int_eq(maildir_journal_parse((const unsigned char *)slash,
	    sizeof(slash), NULL, NULL), -1);
	ck_assert_int_eq(maildir_journal_parse((const unsigned char *)magic,
	    sizeof(magic), NULL, NULL), -1);
	ck_assert_int_eq(maildir_journal_parse((const unsigned char *)colon,
	    sizeof(colon), NULL, NULL), -1);
	ck_assert_int_eq(maildir_journal_parse((const unsigned char *)"", 0,
	    NULL, NULL), -1);
}
END_TEST

/* ------------------------------------------ Courier's sizelist format */

static size_t sl_count;
static char sl_seen[512];

static int sl_record(void *ctx, const char *name, size_t name_len,
    uint64_t n, uint64_t uidv)
{
	size_t o = strlen(sl_seen);

	(void)ctx;
	snprintf(sl_seen + o, sizeof(sl_seen) - o, "[%.*s|%llu|%llu]",
	    (int)name_len, name, (unsigned long long)n,
	    (unsigned long long)uidv);
	sl_count++;
	return 0;
}

static int sl_parse(const char *text, size_t *line)
{
	sl_count = 0;
	sl_seen[0] = '\0';
	return maildir_sizelist_parse((const unsigned char *)text,
	    strlen(text), sl_record, NULL, line);
}

START_TEST(sizelist_parse_accepts_courier_files)
{
	size_t line = 0;

	/* As Debian 12's Courier writes it (version 3), with a name that
	 * holds spaces and colons, and an empty list. */
	ck_assert_int_eq(sl_parse("/3 3 1700000000\n"
	    "1.A.h:2,S 42 1:1700000000:0\n"
	    "2.sp ace x:2, 7 2:1700000000:1\n"
	    "3.C.h:2, 9 0:0:0\n", &line), 0);
	ck_assert_uint_eq(sl_count, 3);
	ck_assert_str_eq(sl_seen, "[1.A.h:2,S|1|1700000000]"
	    "[2.sp ace x:2,|2|1700000000][3.C.h:2,|0|0]");
	ck_assert_uint_eq(line, 4);
	ck_assert_int_eq(sl_parse("/2 1 5\n"
	    "1.A.h:2, 3 18446744073709551615:5\n", &line), 0);
	ck_assert_str_eq(sl_seen, "[1.A.h:2,|18446744073709551615|5]");
	ck_assert_int_eq(sl_parse("/3 1 5\n", &line), 0);
	ck_assert_uint_eq(sl_count, 0);
}
END_TEST

START_TEST(sizelist_parse_refuses_damage)
{
	static const struct {
		const char *text;
		size_t line;
	} bad[] = {
		{ "", 1 },
		{ "/3 1 5", 1 },			/* no LF */
		{ "/1 1 5\n", 1 },			/* version */
		{ "/4 1 5\n", 1 },
		{ "/33 1 5\n", 1 },
		{ "/3 1\n", 1 },			/* no UIDVALIDITY */
		{ "/3 1 5 6\n", 1 },
		{ "/3 +1 5\n", 1 },
		{ "1.A.h 3 1:5\n", 1 },			/* no header */
		{ "/3 1 5\na 3 1:5:0", 2 },		/* cut short */
		{ "/3 1 5\n\n", 2 },			/* empty line */
		{ "/3 1 5\na 3 1:5\n", 2 },		/* v2 line in v3 */
		{ "/2 1 5\na 3 1:5:0\n", 2 },		/* v3 line in v2 */
		{ "/3 1 5\na 3 1:5:2\n", 2 },		/* UTF8 not 0/1 */
		{ "/3 1 5\n 3 1:5:0\n", 2 },		/* no name */
		{ "/3 1 5\ncur/a 3 1:5:0\n", 2 },	/* a path */
		{ "/3 1 5\na 3 1:5:0 \n", 2 },
		{ "/3 1 5\na  1:5:0\n", 2 },		/* no size */
		{ "/3 1 5\na -3 1:5:0\n", 2 },
		{ "/3 1 5\na 3 :5:0\n", 2 },
		{ "/3 1 5\na 3 1::0\n", 2 },
		{ "/3 1 5\na 3 1:5:0:0\n", 2 },
		{ "/3 1 5\na 3 18446744073709551616:5:0\n", 2 },
		{ "/3 1 5\na 3 1:5:0\nb 3 2:5:0\nc 3 x:5:0\n", 4 },
	};
	static const char nul[] = "/3 1 5\na\0b 3 1:5:0\n";
	char longname[400];
	size_t i, line;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		line = 0;
		ck_assert_msg(sl_parse(bad[i].text, &line) == -1,
		    "accepted: %s", bad[i].text);
		ck_assert_uint_eq(line, bad[i].line);
	}
	ck_assert_int_eq(maildir_sizelist_parse((const unsigned char *)nul,
	    sizeof(nul) - 1, NULL, NULL, &line), -1);
	/* A file name is at most NAME_MAX bytes: 255 is one, 256 not. */
	memcpy(longname, "/3 1 5\n", 7);
	memset(longname + 7, 'x', 255);
	strcpy(longname + 7 + 255, " 3 1:5:0\n");
	ck_assert_int_eq(sl_parse(longname, &line), 0);
	memcpy(longname, "/3 1 5\nx", 8);
	memset(longname + 8, 'x', 255);
	strcpy(longname + 8 + 255, " 3 1:5:0\n");
	ck_assert_int_eq(sl_parse(longname, &line), -1);
}
END_TEST

START_TEST(courier_uid_format)
{
	char u[MAX_UID_LEN + 1];

	maildir_courier_uid(3, 1700000000, u);
	ck_assert_str_eq(u, "UID3-1700000000");
	maildir_courier_uid(3, 0, u);
	ck_assert_str_eq(u, "UID3");
	maildir_courier_uid(UINT64_MAX, UINT64_MAX, u);
	ck_assert_str_eq(u, "UID18446744073709551615-18446744073709551615");
}
END_TEST

/* ------------------------------------------------- on a real Maildir */

static char dir[64];

static void put(const char *sub, const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s/%s", dir, sub, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static int exists(const char *sub, const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s/%s", dir, sub, name);
	return access(p, F_OK) == 0;
}

static void make_maildir(void)
{
	char p[128];

	strcpy(dir, "/tmp/check-maildir.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/cur", dir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/new", dir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/tmp", dir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
}

static void remove_maildir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(scan_orders_sizes_and_moves_new)
{
	struct maildrop md;
	char u[MAX_UID_LEN + 1];

	make_maildir();
	put("cur", "1700000002.B.h:2,S", "b\n");		/* 3 */
	put("new", "1700000001.A.h", "a\r\nx");		/* 6 */
	put("new", "1700000003.C.h", "");			/* 0 */
	put("tmp", "1700000000.T.h", "never\n");
	ck_assert_int_eq(maildrop_open(&md, &maildrop_maildir, dir,
	    geteuid(), NULL, 0), MD_OK);
	ck_assert_uint_eq(md.count, 3);
	maildrop_uid(&md, 0, u);
	ck_assert_str_eq(u, "1700000001.A.h");
	ck_assert_uint_eq(maildrop_size(&md, 0), 6);
	maildrop_uid(&md, 1, u);
	ck_assert_str_eq(u, "1700000002.B.h");
	ck_assert_uint_eq(maildrop_size(&md, 1), 3);
	ck_assert_uint_eq(maildrop_size(&md, 2), 0);
	ck_assert_uint_eq(md.live_size, 9);
	ck_assert(exists("cur", "1700000001.A.h:2,"));
	ck_assert(!exists("new", "1700000001.A.h"));
	ck_assert(exists("tmp", "1700000000.T.h"));
	maildrop_close(&md);
	remove_maildir();
}
END_TEST

START_TEST(scan_skips_symlink)
{
	struct maildrop md;
	char p[256];

	make_maildir();
	put("cur", "1.A.h:2,", "a\n");
	snprintf(p, sizeof(p), "%s/cur/2.B.h:2,", dir);
	ck_assert_int_eq(symlink("/etc/passwd", p), 0);
	ck_assert_int_eq(maildrop_open(&md, &maildrop_maildir, dir,
	    geteuid(), NULL, 0), MD_OK);
	ck_assert_uint_eq(md.count, 1);
	maildrop_close(&md);
	remove_maildir();
}
END_TEST

START_TEST(recovery_completes_update_and_tolerates_gone_names)
{
	static const char j[] = "pop3d maildir journal 1\n1.A.h\0"
	    "9.gone.h\0" "3.C.h\0";
	struct maildrop md;
	char p[256];
	int fd;

	make_maildir();
	put("cur", "1.A.h:2,S", "a\n");
	put("cur", "2.B.h:2,", "b\n");
	/* Renamed by a mail reader after the journal was written. */
	put("cur", "3.C.h:2,RS", "c\n");
	snprintf(p, sizeof(p), "%s/pop3d-journal", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, j, sizeof(j)), (ssize_t)sizeof(j));
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(maildrop_open(&md, &maildrop_maildir, dir,
	    geteuid(), NULL, 0), MD_OK);
	ck_assert_uint_eq(md.count, 1);
	ck_assert(!exists("cur", "1.A.h:2,S"));
	ck_assert(exists("cur", "2.B.h:2,"));
	ck_assert(!exists("cur", "3.C.h:2,RS"));
	ck_assert(access(p, F_OK) < 0);
	maildrop_close(&md);
	remove_maildir();
}
END_TEST

START_TEST(damaged_journal_touches_nothing)
{
	static const char j[] = "pop3d maildir journal 1\n1.A.h";
	struct maildrop md;
	char p[256];
	int fd;

	make_maildir();
	put("cur", "1.A.h:2,S", "a\n");
	snprintf(p, sizeof(p), "%s/pop3d-journal", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, j, sizeof(j) - 1), (ssize_t)sizeof(j) - 1);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(maildrop_open(&md, &maildrop_maildir, dir,
	    geteuid(), NULL, 0), MD_JOURNAL);
	ck_assert(exists("cur", "1.A.h:2,S"));
	maildrop_close(&md);
	remove_maildir();
}
END_TEST

START_TEST(update_removes_marked_only)
{
	struct maildrop md;
	char p[256];

	make_maildir();
	put("cur", "1.A.h:2,S", "a\n");
	put("cur", "2.B.h:2,", "b\n");
	ck_assert_int_eq(maildrop_open(&md, &maildrop_maildir, dir,
	    geteuid(), NULL, 0), MD_OK);
	maildrop_mark(&md, 0);
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);
	ck_assert(!exists("cur", "1.A.h:2,S"));
	ck_assert(exists("cur", "2.B.h:2,"));
	snprintf(p, sizeof(p), "%s/pop3d-journal", dir);
	ck_assert(access(p, F_OK) < 0);
	remove_maildir();
}
END_TEST

START_TEST(not_a_maildir_without_cur)
{
	struct maildrop md;
	char p[128];

	make_maildir();
	snprintf(p, sizeof(p), "%s/cur", dir);
	ck_assert_int_eq(rmdir(p), 0);
	ck_assert_int_eq(maildrop_open(&md, &maildrop_maildir, dir,
	    geteuid(), NULL, 0), MD_NOT_MBOX);
	maildrop_close(&md);
	remove_maildir();
}
END_TEST

/* ----------------------------------- Courier's sizelist on a Maildir */

/* The UIDLs of the Maildir at dir, in order, space-separated. */
static void uidls(char *out, size_t size)
{
	struct maildrop md;
	char u[MAX_UID_LEN + 1];
	size_t i, o = 0;

	ck_assert_int_eq(maildrop_open(&md, &maildrop_maildir, dir,
	    geteuid(), NULL, 0), MD_OK);
	out[0] = '\0';
	for (i = 0; i < md.count; i++) {
		maildrop_uid(&md, i, u);
		o += (size_t)snprintf(out + o, size - o, "%s%s", i ? " " : "",
		    u);
		ck_assert_uint_lt(o, size);
	}
	maildrop_close(&md);
}

static void sizelist_path(char *p, size_t size)
{
	snprintf(p, size, "%s/courierpop3dsizelist", dir);
}

START_TEST(sizelist_ids_shown_by_base_name)
{
	char got[512], p[256];
	struct stat st, st2;

	make_maildir();
	put("cur", "1.A.h:2,RS", "a\n");	/* flags changed since */
	put("cur", "2.B.h:2,", "b\n");		/* not listed */
	put("new", "3.C.h", "c\n");		/* Courier saw it in cur/ */
	put("cur", "4.D.h:2,", "d\n");		/* version 0 id */
	put("cur", "5.E.h", "e\n");		/* no ':' here, one there */
	put(".", "courierpop3dsizelist", "/3 9 1700000000\n"
	    "1.A.h:2,S 3 1:1700000000:0\n"
	    "3.C.h:2, 3 7:1700000000:0\n"
	    "4.D.h:2, 3 0:0:0\n"
	    "5.E.h:2, 3 8:1700000000:0\n"
	    "9.gone.h:2, 3 6:1700000000:0\n");
	sizelist_path(p, sizeof(p));
	ck_assert_int_eq(stat(p, &st), 0);
	uidls(got, sizeof(got));
	ck_assert_str_eq(got, "UID1-1700000000 2.B.h UID7-1700000000 4.D.h "
	    "5.E.h");
	/* Read, never written: the same file, as it was, and the same ids
	 * again. */
	ck_assert_int_eq(stat(p, &st2), 0);
	ck_assert_uint_eq(st.st_ino, st2.st_ino);
	ck_assert_int_eq(st.st_size, st2.st_size);
	ck_assert_int_eq(st.st_mtim.tv_sec, st2.st_mtim.tv_sec);
	ck_assert_int_eq(st.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
	uidls(got, sizeof(got));
	ck_assert_str_eq(got, "UID1-1700000000 2.B.h UID7-1700000000 4.D.h "
	    "5.E.h");
	remove_maildir();
}
END_TEST

START_TEST(sizelist_refused_whole)
{
	static const char good[] = "/3 3 5\n1.A.h:2, 3 1:5:0\n"
	    "2.B.h:2, 3 2:5:0\n";
	char got[512], p[256], q[256];
	int fd;

	make_maildir();
	put("cur", "1.A.h:2,", "a\n");
	put("cur", "2.B.h:2,", "b\n");
	put(".", "courierpop3dsizelist", good);
	uidls(got, sizeof(got));
	ck_assert_str_eq(got, "UID1-5 UID2-5");
	/* A bad last line: no id from the file, not even the first's. */
	put(".", "courierpop3dsizelist", "/3 3 5\n1.A.h:2, 3 1:5:0\n"
	    "2.B.h:2, 3 2:5\n");
	uidls(got, sizeof(got));
	ck_assert_str_eq(got, "1.A.h 2.B.h");
	/* Two lines for one message. */
	put(".", "courierpop3dsizelist", "/3 3 5\n1.A.h:2, 3 1:5:0\n"
	    "1.A.h:2,S 3 2:5:0\n");
	uidls(got, sizeof(got));
	ck_assert_str_eq(got, "1.A.h 2.B.h");
	/* Others may write it. */
	put(".", "courierpop3dsizelist", good);
	sizelist_path(p, sizeof(p));
	ck_assert_int_eq(chmod(p, 0666), 0);
	uidls(got, sizeof(got));
	ck_assert_str_eq(got, "1.A.h 2.B.h");
	ck_assert_int_eq(chmod(p, 0644), 0);
	uidls(got, sizeof(got));
	ck_assert_str_eq(got, "UID1-5 UID2-5");
	/* Larger than COURIER_SIZELIST_MAX. */
	fd = open(p, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)COURIER_SIZELIST_MAX + 1), 0);
	ck_assert_int_eq(close(fd), 0);
	uidls(got, sizeof(got));
	ck_assert_str_eq(got, "1.A.h 2.B.h");
	/* A symbolic link to a good one. */
	snprintf(q, sizeof(q), "%s/tmp/list", dir);
	ck_assert_int_eq(rename(p, q), 0);
	put("tmp", "list", good);
	ck_assert_int_eq(symlink("tmp/list", p), 0);
	uidls(got, sizeof(got));
	ck_assert_str_eq(got, "1.A.h 2.B.h");
	remove_maildir();
}
END_TEST

START_TEST(sizelist_ids_kept_unique)
{
	char got[512], spaced[520];

	make_maildir();
	/* 2's id from the file is 1's base name: 2 falls back, and its
	 * base name is 3's id from the file: 3 falls back too.  4 and 5
	 * are given one id: 4 (the smaller base name) keeps it. */
	put("cur", "UID1-5:2,", "a\n");
	put("cur", "UID2-5:2,", "b\n");
	put("cur", "UID3-5:2,", "c\n");
	put("cur", "UID4-5:2,", "d\n");
	put("cur", "UID5-5:2,", "e\n");
	put(".", "courierpop3dsizelist", "/3 9 5\n"
	    "UID2-5:2, 3 1:5:0\n"
	    "UID3-5:2, 3 2:5:0\n"
	    "UID4-5:2, 3 9:5:0\n"
	    "UID5-5:2, 3 9:5:0\n");
	uidls(got, sizeof(got));
	/* No delivery time in these names: the order is by mtime, then
	 * base name; compared as a set of five. */
	snprintf(spaced, sizeof(spaced), " %s ", got);
	ck_assert_msg(strstr(spaced, " UID1-5 ") && strstr(spaced, " UID2-5 ") &&
	    strstr(spaced, " UID3-5 ") && strstr(spaced, " UID9-5 ") &&
	    strstr(spaced, " UID5-5 ") && strlen(got) == 5 * 6 + 4, "%s",
	    got);
	remove_maildir();
}
END_TEST

START_TEST(select_by_prefix)
{
	const char *p;

	ck_assert_ptr_eq(maildrop_select("maildir:/m/%u", &p),
	    &maildrop_maildir);
	ck_assert_str_eq(p, "/m/%u");
	ck_assert_ptr_eq(maildrop_select("/var/mail/%u", &p), &maildrop_mbox);
	ck_assert_str_eq(p, "/var/mail/%u");
	ck_assert_ptr_eq(maildrop_select("mbox:/x", &p), &maildrop_mbox);
	ck_assert_str_eq(p, "/x");
}
END_TEST

Suite *maildir_suite(void)
{
	Suite *s = suite_create("maildir");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, base_name_stops_at_first_colon);
	tcase_add_test(tc, uid_is_base_name);
	tcase_add_test(tc, uid_same_after_flag_rename);
	tcase_add_test(tc, uid_of_empty_base_name_is_defined);
	tcase_add_test(tc, uid_maps_as_courier);
	tcase_add_test(tc, uid_mapping_is_one_to_one_for_plus);
	tcase_add_test(tc, uid_of_70_characters_kept);
	tcase_add_test(tc, uid_longer_than_70_hashed_and_distinct);
	tcase_add_test(tc, escapes_that_overflow_are_hashed);
	tcase_add_test(tc, hashed_id_is_no_literal_name);
	tcase_add_test(tc, name_size_w_field);
	tcase_add_test(tc, name_size_s_alone_is_not_used);
	tcase_add_test(tc, name_size_w_after_colon_ignored);
	tcase_add_test(tc, name_size_garbage_and_overflow_refused);
	tcase_add_test(tc, name_time_leading_number);
	tcase_add_test(tc, journal_parse_accepts_whole);
	tcase_add_test(tc, journal_parse_refuses_damage);
	tcase_add_test(tc, scan_orders_sizes_and_moves_new);
	tcase_add_test(tc, scan_skips_symlink);
	tcase_add_test(tc, recovery_completes_update_and_tolerates_gone_names);
	tcase_add_test(tc, damaged_journal_touches_nothing);
	tcase_add_test(tc, update_removes_marked_only);
	tcase_add_test(tc, not_a_maildir_without_cur);
	tcase_add_test(tc, select_by_prefix);
	tcase_add_test(tc, sizelist_parse_accepts_courier_files);
	tcase_add_test(tc, sizelist_parse_refuses_damage);
	tcase_add_test(tc, courier_uid_format);
	tcase_add_test(tc, sizelist_ids_shown_by_base_name);
	tcase_add_test(tc, sizelist_refused_whole);
	tcase_add_test(tc, sizelist_ids_kept_unique);
	suite_add_tcase(s, tc);
	return s;
}

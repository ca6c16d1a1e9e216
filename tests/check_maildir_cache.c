/*
 * check_maildir_cache.c - the Maildir cache file (maildir_cache.c): a
 * good file round-trips; every damaged or forged form is refused, also
 * when resealed (the user can write the file and its checksum); and a
 * Maildir opened with the cache shows what it shows without one.
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "proto.h"
#include "unit.h"

/* The layout maildir_cache.c writes. */
#define HEAD 88
#define SUM 16
#define DATA (HEAD + SUM)
#define REC 44

static struct mdcache_entry ent(const char *name, uint64_t st_size,
    uint64_t size)
{
	struct mdcache_entry e;

	memset(&e, 0, sizeof(e));
	e.name = name;
	e.name_len = strlen(name);
	e.base_len = maildir_base_len(name);
	e.ino = 1000 + st_size;
	e.st_size = st_size;
	e.mtime_ns = 1700000000123456789LL;
	e.size = size;
	e.time = 1700000000;
	return e;
}

/* A good file of three records, malloc'd. */
static unsigned char *good(size_t *len_r)
{
	struct mdcache_entry e[3];
	struct mdcache c;
	unsigned char *buf;

	e[0] = ent("1700000001.A.h:2,S", 10, 12);
	e[1] = ent("1700000002.B.h,W=5:2,", 4, 5);
	e[2] = ent("1700000003.C.h", 0, 0);
	e[2].dir = 1;
	memset(&c, 0, sizeof(c));
	c.settled = 1;
	c.dirs[0].dev = 7;
	c.dirs[0].ino = 8;
	c.dirs[0].mtime_ns = 9;
	c.dirs[0].ctime_ns = 10;
	c.dirs[1].dev = 7;
	c.dirs[1].ino = 11;
	c.dirs[1].mtime_ns = -12;
	c.dirs[1].ctime_ns = 13;
	c.count = 3;
	c.e = e;
	ck_assert_int_eq(mdcache_build(&c, &buf, len_r), 0);
	return buf;
}

/* What the owner can do: the checksum made right after an edit. */
static void reseal(unsigned char *p, size_t len)
{
	XXH3_state_t *st = XXH3_createState();
	XXH128_canonical_t c;

	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(XXH3_128bits_reset(st), XXH_OK);
	ck_assert_int_eq(XXH3_128bits_update(st, p, HEAD), XXH_OK);
	ck_assert_int_eq(XXH3_128bits_update(st, p + DATA, len - DATA),
	    XXH_OK);
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	memcpy(p + HEAD, c.digest, SUM);
	XXH3_freeState(st);
}

static int parses(const unsigned char *p, size_t len)
{
	struct mdcache c;
	const char *why;
	int r = mdcache_parse(p, len, &c, &why);

	if (r == 0)
		mdcache_free(&c);
	else
		ck_assert_ptr_nonnull(why);
	return r == 0;
}

START_TEST(good_file_round_trips)
{
	struct mdcache c;
	const char *why;
	unsigned char *p, *again;
	size_t len, len2;

	p = good(&len);
	ck_assert_int_eq(mdcache_parse(p, len, &c, &why), 0);
	ck_assert_int_eq(c.settled, 1);
	ck_assert_uint_eq(c.count, 3);
	ck_assert_uint_eq(c.dirs[1].ino, 11);
	ck_assert_int_eq(c.dirs[1].mtime_ns, -12);
	ck_assert_uint_eq(c.e[0].name_len, strlen("1700000001.A.h:2,S"));
	ck_assert_mem_eq(c.e[0].name, "1700000001.A.h:2,S", c.e[0].name_len);
	ck_assert_uint_eq(c.e[0].base_len, strlen("1700000001.A.h"));
	ck_assert_uint_eq(c.e[0].size, 12);
	ck_assert_uint_eq(c.e[0].st_size, 10);
	ck_assert_uint_eq(c.e[0].ino, 1010);
	ck_assert_int_eq(c.e[0].mtime_ns, 1700000000123456789LL);
	ck_assert_int_eq(c.e[0].time, 1700000000);
	ck_assert_int_eq(c.e[2].dir, 1);
	/* Built again from what was parsed: the same bytes. */
	ck_assert_int_eq(mdcache_build(&c, &again, &len2), 0);
	unit_assert_bytes("rebuilt", (const char *)again, len2,
	    (const char *)p, len);
	ck_assert_uint_eq(c.e[1].base_len, strlen("1700000002.B.h,W=5"));
	mdcache_free(&c);
	free(again);
	free(p);
}
END_TEST

START_TEST(empty_list_round_trips)
{
	struct mdcache c, d;
	const char *why;
	unsigned char *p;
	size_t len;

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(mdcache_build(&c, &p, &len), 0);
	ck_assert_uint_eq(len, DATA);
	ck_assert_int_eq(mdcache_parse(p, len, &d, &why), 0);
	ck_assert_uint_eq(d.count, 0);
	mdcache_free(&d);
	free(p);
}
END_TEST

START_TEST(every_truncation_refused)
{
	unsigned char *p;
	size_t len, n;

	p = good(&len);
	for (n = 0; n < len; n++)
		ck_assert_msg(!parses(p, n), "cut to %zu of %zu bytes", n, len);
	free(p);
}
END_TEST

START_TEST(every_flipped_bit_refused)
{
	unsigned char *p;
	size_t len, i;
	int b;

	p = good(&len);
	for (i = 0; i < len; i++)
		for (b = 0; b < 8; b++) {
			p[i] ^= (unsigned char)(1 << b);
			ck_assert_msg(!parses(p, len), "bit %d of byte %zu", b,
			    i);
			p[i] ^= (unsigned char)(1 << b);
		}
	ck_assert(parses(p, len));
	free(p);
}
END_TEST

START_TEST(bad_magic_refused_even_resealed)
{
	unsigned char *p;
	size_t len;

	p = good(&len);
	p[7] = '2';	/* "POP3DMC2": another version */
	reseal(p, len);
	ck_assert(!parses(p, len));
	memcpy(p, "POP3DIC1", 8);	/* an mbox index cache */
	reseal(p, len);
	ck_assert(!parses(p, len));
	free(p);
}
END_TEST

START_TEST(appended_bytes_refused)
{
	unsigned char *p, *q;
	size_t len;

	p = good(&len);
	q = calloc(1, len + 1);
	ck_assert_ptr_nonnull(q);
	memcpy(q, p, len);
	reseal(q, len + 1);
	ck_assert(!parses(q, len + 1));
	free(q);
	free(p);
}
END_TEST

/* A forged field, resealed: width bytes of v at offset off. */
struct forgery {
	const char *what;
	int in_rec;	/* off is from the first record's start */
	size_t off, width;
	uint64_t v;
};

static const struct forgery forgeries[] = {
	{ "an unknown flag", 0, 8, 8, 2 },
	{ "count one more than there is", 0, 80, 8, 4 },
	{ "count one less than there is", 0, 80, 8, 2 },
	{ "count above the limit", 0, 80, 8, MAILDIR_CACHE_MAX_MESSAGES + 1 },
	{ "count at 2^64 - 1", 0, 80, 8, UINT64_MAX },
	{ "size below the stored bytes", 1, 24, 8, 9 },
	{ "size above 2 * stored + 2", 1, 24, 8, 23 },
	{ "stored size of 2^63", 1, 8, 8, UINT64_C(1) << 63 },
	{ "directory 2", 1, 42, 1, 2 },
	{ "reserved byte set", 1, 43, 1, 1 },
	{ "name length 0", 1, 40, 2, 0 },
	{ "name length past the end", 1, 40, 2, 4000 },
	{ "name of '/'", 1, REC, 1, '/' },
	{ "name starting with '.'", 1, REC, 1, '.' },
	{ "name with an empty base", 1, REC, 1, ':' },
	{ "name with a NUL", 1, REC + 3, 1, 0 },
	{ "name with a '/' inside", 1, REC + 5, 1, '/' },
	{ "names out of order", 1, REC + 9, 1, '9' },
};

START_TEST(forged_fields_refused)
{
	const struct forgery *f = &forgeries[_i];
	unsigned char *p;
	size_t len, at, k;

	p = good(&len);
	at = f->off + (f->in_rec ? DATA : 0);
	ck_assert_uint_le(at + f->width, len);
	for (k = 0; k < f->width; k++)
		p[at + k] = (unsigned char)(f->v >> (8 * k));
	reseal(p, len);
	ck_assert_msg(!parses(p, len), "%s was accepted", f->what);
	free(p);
}
END_TEST

/* Two records of one base name (flags differ): refused, so that one
 * base name never stands for two files. */
START_TEST(duplicate_base_name_refused)
{
	struct mdcache_entry e[2];
	struct mdcache c;
	unsigned char *p;
	size_t len;

	e[0] = ent("1700000001.A.h:2,", 1, 2);
	e[1] = ent("1700000001.A.h:2,S", 1, 2);
	memset(&c, 0, sizeof(c));
	c.count = 2;
	c.e = e;
	/* The builder does not sort or check the order: the parser must. */
	ck_assert_int_eq(mdcache_build(&c, &p, &len), 0);
	ck_assert(!parses(p, len));
	free(p);
}
END_TEST

START_TEST(name_longer_than_name_max_refused)
{
	static char name[NAME_MAX + 2];
	struct mdcache_entry e;
	struct mdcache c;
	unsigned char *p;
	size_t len;

	memset(name, 'a', NAME_MAX);
	e = ent(name, 1, 2);
	memset(&c, 0, sizeof(c));
	c.count = 1;
	c.e = &e;
	ck_assert_int_eq(mdcache_build(&c, &p, &len), 0);
	ck_assert(parses(p, len));	/* NAME_MAX itself is a name */
	free(p);
	name[NAME_MAX] = 'a';
	e = ent(name, 1, 2);
	/* Not built, and, forged into a file, not parsed. */
	ck_assert_int_eq(mdcache_build(&c, &p, &len), -1);
	name[NAME_MAX] = '\0';
	e = ent(name, 1, 2);
	ck_assert_int_eq(mdcache_build(&c, &p, &len), 0);
	{
		unsigned char *q = calloc(1, len + 1);

		ck_assert_ptr_nonnull(q);
		memcpy(q, p, len);
		q[len] = 'a';
		q[DATA + 40] = (unsigned char)((NAME_MAX + 1) & 0xff);
		q[DATA + 41] = (unsigned char)((NAME_MAX + 1) >> 8);
		reseal(q, len + 1);
		ck_assert(!parses(q, len + 1));
		free(q);
	}
	free(p);
}
END_TEST

/* ------------------------------------------------- on a real Maildir */

static char md_dir[PATH_MAX], cache_file[PATH_MAX];

static void put(const char *sub, const char *name, const char *text)
{
	char p[PATH_MAX + 300];

	ck_assert_int_lt(snprintf(p, sizeof(p), "%s/%s/%s", md_dir, sub,
	    name), (int)sizeof(p));
	unit_write_str(p, text, 0600);
}

static void make_maildir(void)
{
	char base[PATH_MAX], p[PATH_MAX + 8];

	unit_tmpdir(base, sizeof(base));
	unit_path(md_dir, sizeof(md_dir), base, "Maildir");
	unit_path(cache_file, sizeof(cache_file), base, "cache");
	ck_assert_int_eq(mkdir(md_dir, 0700), 0);
	unit_path(p, sizeof(p), md_dir, "cur");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	unit_path(p, sizeof(p), md_dir, "new");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	put("cur", "1700000002.B.h:2,S", "b\nline\n");	/* 9 */
	put("cur", "1700000004.D.h,W=4:2,", "d\r\n");	/* 3, W=4 */
	put("cur", "1700000005.E.h:2,", "no newline");	/* 12 */
	put("new", "1700000001.A.h", "a\r\nx");		/* 6 */
}

/* Everything a client sees of the maildrop, in one string. */
static void listing(const char *cache, char *buf, size_t size)
{
	struct maildrop md;
	size_t i, o = 0;

	ck_assert_int_eq(maildrop_open(&md, &maildrop_maildir, md_dir,
	    geteuid(), cache, 0), MD_OK);
	for (i = 0; i < md.count; i++) {
		char u[MAX_UID_LEN + 1];
		int n;

		maildrop_uid(&md, i, u);
		n = snprintf(buf + o, size - o, "%s %llu\n", u,
		    (unsigned long long)maildrop_size(&md, i));
		ck_assert_int_lt(n, (int)(size - o));
		o += (size_t)n;
	}
	maildrop_close(&md);
}

START_TEST(maildir_with_cache_shows_the_same)
{
	char plain[1024], first[1024], second[1024];
	char *bytes;
	size_t len;

	make_maildir();
	listing(cache_file, first, sizeof(first));
	/* Written at the first login, after the move to cur/. */
	bytes = unit_read_file(cache_file, &len);
	ck_assert(parses((unsigned char *)bytes, len));
	free(bytes);
	listing(NULL, plain, sizeof(plain));
	listing(cache_file, second, sizeof(second));
	unit_assert_str("first", first, plain);
	unit_assert_str("second", second, plain);
	unit_assert_str("plain", plain, "1700000001.A.h 6\n"
	    "1700000002.B.h 9\n1700000004.D.h,W=4 4\n1700000005.E.h 12\n");
}
END_TEST

/* A damaged cache is ignored whole: the Maildir scanned, nothing lost. */
START_TEST(damaged_cache_ignored)
{
	char plain[1024], got[1024];

	make_maildir();
	listing(NULL, plain, sizeof(plain));
	unit_write_str(cache_file, "POP3DMC1 and then nothing right", 0600);
	listing(cache_file, got, sizeof(got));
	unit_assert_str("damaged", got, plain);
	/* ... and replaced by a good one. */
	{
		size_t len;
		char *bytes = unit_read_file(cache_file, &len);

		ck_assert(parses((unsigned char *)bytes, len));
		free(bytes);
	}
}
END_TEST

/* A cached size is a hint: a forged one (in range, resealed) shows until
 * the message is sent, then the counted size. */
START_TEST(cached_size_verified_when_sent)
{
	struct maildrop md;
	struct mdcache c;
	const char *why;
	unsigned char *p;
	size_t len, i, k = SIZE_MAX;
	char plain[1024];

	make_maildir();
	listing(NULL, plain, sizeof(plain));
	listing(cache_file, plain, sizeof(plain));
	p = (unsigned char *)unit_read_file(cache_file, &len);
	ck_assert_int_eq(mdcache_parse(p, len, &c, &why), 0);
	for (i = 0; i < c.count; i++)
		if (c.e[i].base_len == 14 && !memcmp(c.e[i].name,
		    "1700000002.B.h", 14))
			k = i;
	ck_assert_uint_ne(k, SIZE_MAX);
	ck_assert_uint_eq(c.e[k].size, 9);
	/* The size field of record k, to 11 (the file has 7 bytes: 7 to
	 * 16 is plausible). */
	{
		size_t off = DATA;

		for (i = 0; i < k; i++)
			off += REC + c.e[i].name_len;
		mdcache_free(&c);
		p[off + 24] = 11;
	}
	reseal(p, len);
	unit_write_file(cache_file, p, len, 0600);
	free(p);
	ck_assert_int_eq(maildrop_open(&md, &maildrop_maildir, md_dir,
	    geteuid(), cache_file, 0), MD_OK);
	ck_assert_uint_eq(maildrop_size(&md, 1), 11);
	ck_assert_uint_eq(md.live_size, 6 + 11 + 4 + 12);
	ck_assert_int_eq(maildrop_check(&md, 1), MD_OK);
	ck_assert_uint_eq(maildrop_size(&md, 1), 9);
	ck_assert_uint_eq(md.live_size, 6 + 9 + 4 + 12);
	maildrop_close(&md);
}
END_TEST

Suite *maildir_cache_suite(void)
{
	Suite *s = suite_create("maildir_cache");
	TCase *tc = tcase_create("format");
	TCase *md = tcase_create("maildir");

	tcase_add_test(tc, good_file_round_trips);
	tcase_add_test(tc, empty_list_round_trips);
	tcase_add_test(tc, every_truncation_refused);
	tcase_add_test(tc, every_flipped_bit_refused);
	tcase_add_test(tc, bad_magic_refused_even_resealed);
	tcase_add_test(tc, appended_bytes_refused);
	tcase_add_loop_test(tc, forged_fields_refused, 0,
	    (int)(sizeof(forgeries) / sizeof(forgeries[0])));
	tcase_add_test(tc, duplicate_base_name_refused);
	tcase_add_test(tc, name_longer_than_name_max_refused);
	suite_add_tcase(s, tc);
	tcase_add_unchecked_fixture(md, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(md, maildir_with_cache_shows_the_same);
	tcase_add_test(md, damaged_cache_ignored);
	tcase_add_test(md, cached_size_verified_when_sent);
	suite_add_tcase(s, md);
	return s;
}

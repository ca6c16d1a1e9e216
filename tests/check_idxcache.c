/*
 * check_idxcache.c - the index cache (idxcache.c): a round trip gives the
 * scan's index; a cache is refused when the mbox's identity differs, when
 * it was too fresh to cache, and when a record is implausible even though
 * its checksum is right (a user can write their own cache file).
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "proto.h"
#include "unit.h"

#define MBOX_TEXT \
	"From a@example.org Mon Jan  1 00:00:00 2024\n" \
	"Message-ID: <one@example.org>\n\nbody one\n\n" \
	"From a@example.org Mon Jan  1 00:00:00 2024\n" \
	"Subject: no id\n\nbody\r\ntwo\n\n" \
	"From a@example.org Mon Jan  1 00:00:00 2024\n" \
	"Subject: no id\n\nbody\r\ntwo\n\n" \
	"From a@example.org Mon Jan  1 00:00:00 2024\n" \
	"Message-ID: <four@example.org>\n\nno final newline"

/* Record layout (idxcache.c): a 64-byte header, a 16-byte sum, records
 * of 56 bytes: from_off, data_off, data_len, size, hash[16], dup, flags. */
#define HEAD 64
#define DATA 80
#define REC 56

struct fixture {
	char dir[PATH_MAX], mbox[PATH_MAX], cache[PATH_MAX];
	int fd;
	struct stat st;
	struct mbox_index idx;
};

static void setup_cache(struct fixture *f)
{
	unit_tmpdir(f->dir, sizeof(f->dir));
	unit_path(f->mbox, sizeof(f->mbox), f->dir, "mbox");
	unit_path(f->cache, sizeof(f->cache), f->dir, "cache");
	unit_write_str(f->mbox, MBOX_TEXT, 0600);
	f->fd = open(f->mbox, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(f->fd, 0);
	ck_assert_int_eq(fstat(f->fd, &f->st), 0);
	ck_assert_int_eq(mbox_scan(f->fd, (uint64_t)f->st.st_size, &f->idx),
	    MBOX_OK);
	ck_assert_uint_eq(f->idx.count, 4);
	/* As if the scan had begun a minute after the mbox settled. */
	idxcache_save(f->cache, &f->st, f->st.st_ctim.tv_sec + 60, &f->idx);
}

static void teardown_cache(struct fixture *f)
{
	mbox_index_free(&f->idx);
	close(f->fd);
}

static int try_load(struct fixture *f)
{
	struct mbox_index got;
	int r = idxcache_load(f->cache, f->fd, &f->st, &got);

	if (r == 0)
		mbox_index_free(&got);
	return r;
}

/* Rewrites the cache's checksum after an edit, as a forger would. */
static void reseal(const char *path)
{
	size_t len;
	char *b = unit_read_file(path, &len);
	XXH128_canonical_t c;

	ck_assert_uint_ge(len, DATA);
	XXH3_state_t *md = XXH3_createState();
	ck_assert_ptr_nonnull(md);
	XXH3_128bits_reset(md);
	XXH3_128bits_update(md, b, HEAD);
	XXH3_128bits_update(md, b + DATA, len - DATA);
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(md));
	XXH3_freeState(md);
	memcpy(b + HEAD, c.digest, 16);
	unit_write_file(path, b, len, 0600);
	free(b);
}

static void put_le(char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (char)(v >> (8 * i));
}

/* Sets a field of one cache record and reseals the cache. */
static void forge(struct fixture *f, int rec, int field, int width,
    uint64_t value)
{
	size_t len;
	char *b = unit_read_file(f->cache, &len);

	ck_assert_uint_eq(len, DATA + 4 * REC);
	put_le(b + DATA + rec * REC + field, value, width);
	unit_write_file(f->cache, b, len, 0600);
	free(b);
	reseal(f->cache);
}

START_TEST(cache_round_trip_is_the_scan)
{
	struct fixture f;
	struct mbox_index got;

	setup_cache(&f);
	ck_assert_int_eq(idxcache_load(f.cache, f.fd, &f.st, &got), 0);
	unit_assert_same_index(&got, &f.idx);
	/* The sample has each flag and a duplicate. */
	ck_assert(got.msgs[1].flags & MSG_WIDE_UID);
	ck_assert(got.msgs[3].flags & MSG_NO_FINAL_NL);
	ck_assert_uint_eq(got.msgs[2].dup, 2);
	mbox_index_free(&got);
	teardown_cache(&f);
}
END_TEST

START_TEST(cache_not_written_for_a_fresh_mbox)
{
	struct fixture f;

	setup_cache(&f);
	unlink(f.cache);
	idxcache_save(f.cache, &f.st, f.st.st_ctim.tv_sec + 1, &f.idx);
	ck_assert_int_ne(access(f.cache, F_OK), 0);
	teardown_cache(&f);
}
END_TEST

START_TEST(cache_refused_for_other_identity)
{
	struct fixture f;
	struct stat st;

	setup_cache(&f);
	st = f.st;
	f.st.st_ctim.tv_nsec ^= 1;
	ck_assert_int_eq(try_load(&f), -1);
	f.st = st;
	f.st.st_mtim.tv_nsec ^= 1;
	ck_assert_int_eq(try_load(&f), -1);
	f.st = st;
	f.st.st_ino ^= 1;
	ck_assert_int_eq(try_load(&f), -1);
	f.st = st;
	f.st.st_size += 1;
	ck_assert_int_eq(try_load(&f), -1);
	f.st = st;
	ck_assert_int_eq(try_load(&f), 0);
	teardown_cache(&f);
}
END_TEST

/* Forged records, each resealed: field offset in record, record, value. */
static const struct forgery {
	int rec, field, width;
	uint64_t value;
} forgeries[] = {
	{ 0, 0, 8, 1 },			/* first message not at 0 */
	{ 2, 0, 8, 0 },			/* offsets not increasing */
	{ 1, 8, 8, 0 },			/* data before its From_ line */
	{ 1, 16, 8, 1000000 },		/* data past the next message */
	{ 3, 16, 8, 1000000 },		/* data past the end */
	{ 1, 24, 8, 1 },		/* size below the stored bytes */
	{ 1, 24, 8, 1000000 },		/* size beyond any CRLF growth */
	{ 1, 48, 4, 1 },		/* duplicate suffix 1 */
	{ 2, 52, 4, MSG_DELETED },	/* a session flag */
	{ 2, 52, 4, 0x100 },		/* an unknown flag */
	/* Within the shape checks of old: offsets and sizes that do not
	 * add up to the mbox's bytes. */
	{ 0, 24, 8, 44 },		/* size one more than the bytes give */
	{ 1, 24, 8, 50 },		/* size near twice the stored bytes */
	{ 3, 24, 8, 98 },		/* twice, and the added CRLF */
	{ 0, 16, 8, 39 },		/* data cut short, hiding a byte */
	{ 1, 16, 8, 20 },		/* data cut short by more than a line */
	{ 0, 52, 4, MSG_NO_FINAL_NL },	/* no final newline, not last */
	{ 1, 32, 1, 0 },		/* a hash byte */
	{ 2, 48, 4, 3 },		/* the wrong duplicate suffix */
	{ 2, 48, 4, 0 },		/* a duplicate without its suffix */
};

START_TEST(cache_refuses_implausible_records)
{
	const struct forgery *g = &forgeries[_i];
	struct fixture f;

	setup_cache(&f);
	/* Each forgery changes the record (none is a no-op). */
	if (g->field == 24)
		ck_assert_uint_ne(f.idx.msgs[g->rec].size, g->value);
	if (g->field == 16)
		ck_assert_uint_ne(f.idx.msgs[g->rec].data_len, g->value);
	forge(&f, g->rec, g->field, g->width, g->value);
	ck_assert_int_eq(try_load(&f), -1);
	teardown_cache(&f);
}
END_TEST

/* A From_ offset moved inside the message passes the shape checks but
 * not the From_ probe. */
START_TEST(cache_refuses_a_moved_boundary)
{
	struct fixture f;

	setup_cache(&f);
	forge(&f, 3, 0, 8, f.idx.msgs[3].from_off + 1);
	ck_assert_int_eq(try_load(&f), -1);
	teardown_cache(&f);
}
END_TEST

/* The resealing itself works: an untouched, resealed cache loads. */
START_TEST(cache_resealed_unchanged_loads)
{
	struct fixture f;

	setup_cache(&f);
	reseal(f.cache);
	ck_assert_int_eq(try_load(&f), 0);
	teardown_cache(&f);
}
END_TEST

START_TEST(cache_refuses_wrong_count_and_sizes)
{
	struct fixture f;
	size_t len;
	char *b;

	setup_cache(&f);
	b = unit_read_file(f.cache, &len);
	/* A record missing: the header's count no longer matches. */
	unit_write_file(f.cache, b, len - REC, 0600);
	reseal(f.cache);
	ck_assert_int_eq(try_load(&f), -1);
	/* Not a whole number of records. */
	unit_write_file(f.cache, b, len - 1, 0600);
	ck_assert_int_eq(try_load(&f), -1);
	/* Header only. */
	unit_write_file(f.cache, b, DATA, 0600);
	ck_assert_int_eq(try_load(&f), -1);
	free(b);
	teardown_cache(&f);
}
END_TEST

Suite *idxcache_suite(void)
{
	Suite *s = suite_create("idxcache");
	TCase *tc = tcase_create("cache");

	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, cache_round_trip_is_the_scan);
	tcase_add_test(tc, cache_not_written_for_a_fresh_mbox);
	tcase_add_test(tc, cache_refused_for_other_identity);
	tcase_add_loop_test(tc, cache_refuses_implausible_records, 0,
	    (int)(sizeof(forgeries) / sizeof(forgeries[0])));
	tcase_add_test(tc, cache_refuses_a_moved_boundary);
	tcase_add_test(tc, cache_resealed_unchanged_loads);
	tcase_add_test(tc, cache_refuses_wrong_count_and_sizes);
	suite_add_tcase(s, tc);
	return s;
}

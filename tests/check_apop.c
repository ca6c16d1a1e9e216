/*
 * check_apop.c - APOP (RFC 1939 section 7): the digest, the secrets file
 * permission check, and auth_apop.
 */
#include <check.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "unit.h"

/* RFC 1939 section 7, the example exchange. */
#define RFC_TIMESTAMP "<1896.697170952@dbc.mtview.ca.us>"
#define RFC_SECRET "tanstaaf"
#define RFC_DIGEST "c4c9334bac560ecc979e58001b3e22fb"

static struct pw_entry e;
static struct hash_costs costs;

START_TEST(digest_matches_rfc1939_example)
{
	char hex[33];

	ck_assert_int_eq(apop_digest(RFC_TIMESTAMP, RFC_SECRET, hex), 0);
	ck_assert_str_eq(hex, RFC_DIGEST);
}
END_TEST

/* ------------------------------------------------- apop_check_file */

static const mode_t loose_modes[] = { 0640, 0604, 0620, 0602, 0610, 0601,
	0644 };

START_TEST(check_file_refuses_group_or_other_access)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "apop");
	unit_write_str(path, "alice:tanstaaf\n", loose_modes[_i]);
	ck_assert_msg(apop_check_file(path) == -1, "mode %04o accepted",
	    (unsigned)loose_modes[_i]);
}
END_TEST

START_TEST(check_file_accepts_owner_only)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "apop");
	unit_write_str(path, "alice:tanstaaf\n", 0600);
	ck_assert_int_eq(apop_check_file(path), 0);
	unit_write_str(path, "alice:tanstaaf\n", 0400);
	ck_assert_int_eq(apop_check_file(path), 0);
}
END_TEST

START_TEST(check_file_refuses_missing_file)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "missing");
	ck_assert_int_eq(apop_check_file(path), -1);
}
END_TEST

START_TEST(check_file_refuses_symlink)
{
	char dir[PATH_MAX], path[PATH_MAX], link[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "apop");
	unit_path(link, sizeof(link), dir, "apop-link");
	unit_write_str(path, "alice:tanstaaf\n", 0600);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(apop_check_file(link), -1);
}
END_TEST

START_TEST(check_file_refuses_directory)
{
	char dir[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(apop_check_file(dir), -1);
}
END_TEST

/* -------------------------------------------------------- auth_apop */

struct apop_files {
	char dir[PATH_MAX], apop[PATH_MAX], passwd[PATH_MAX];
};

static void make_files(struct apop_files *f, const char *secrets)
{
	unit_tmpdir(f->dir, sizeof(f->dir));
	unit_path(f->apop, sizeof(f->apop), f->dir, "apop");
	unit_path(f->passwd, sizeof(f->passwd), f->dir, "passwd");
	unit_write_str(f->apop, secrets, 0600);
	unit_write_str(f->passwd, "alice:$1$abcdefgh$x:::::\n"
	    "locked:!$1$abcdefgh$x\nbob:$1$abcdefgh$y\n", 0644);
}

#define SECRETS "# APOP secrets\nbob:other secret\nalice:" RFC_SECRET "\n" \
	"orphan:" RFC_SECRET "\nlocked:" RFC_SECRET "\n"

START_TEST(apop_right_digest_logs_in)
{
	struct apop_files f;

	make_files(&f, SECRETS);
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "alice", RFC_TIMESTAMP,
	    RFC_DIGEST, &e, &costs), 1);
	ck_assert_str_eq(e.name, "alice");
}
END_TEST

START_TEST(apop_wrong_digest_fails)
{
	struct apop_files f;

	make_files(&f, SECRETS);
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "alice", RFC_TIMESTAMP,
	    "c4c9334bac560ecc979e58001b3e22fc", &e, &costs), 0);
	/* Right digest, other timestamp: a replay. */
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "alice",
	    "<1897.697170952@dbc.mtview.ca.us>", RFC_DIGEST, &e, &costs), 0);
	/* Truncated and over-long digests. */
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "alice", RFC_TIMESTAMP,
	    "c4c9334bac560ecc979e58001b3e22f", &e, &costs), 0);
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "alice", RFC_TIMESTAMP,
	    RFC_DIGEST "0", &e, &costs), 0);
}
END_TEST

START_TEST(apop_upper_case_digest_accepted)
{
	struct apop_files f;
	char upper[33];
	size_t i;

	for (i = 0; i < 33; i++)
		upper[i] = (char)toupper((unsigned char)RFC_DIGEST[i]);
	make_files(&f, SECRETS);
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "alice", RFC_TIMESTAMP,
	    upper, &e, &costs), 1);
}
END_TEST

START_TEST(apop_unknown_user_fails)
{
	struct apop_files f;

	make_files(&f, SECRETS);
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "mallory", RFC_TIMESTAMP,
	    RFC_DIGEST, &e, &costs), 0);
	/* A prefix of a user with a secret is not that user. */
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "alic", RFC_TIMESTAMP,
	    RFC_DIGEST, &e, &costs), 0);
}
END_TEST

START_TEST(apop_secret_without_passwd_entry_fails)
{
	struct apop_files f;

	make_files(&f, SECRETS);
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "orphan", RFC_TIMESTAMP,
	    RFC_DIGEST, &e, &costs), 0);
}
END_TEST

START_TEST(apop_locked_account_fails)
{
	struct apop_files f;

	make_files(&f, SECRETS);
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "locked", RFC_TIMESTAMP,
	    RFC_DIGEST, &e, &costs), 0);
}
END_TEST

START_TEST(apop_crlf_secrets_file_works)
{
	struct apop_files f;

	make_files(&f, "alice:" RFC_SECRET "\r\n");
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "alice", RFC_TIMESTAMP,
	    RFC_DIGEST, &e, &costs), 1);
}
END_TEST

START_TEST(apop_readable_secrets_file_is_error)
{
	struct apop_files f;

	make_files(&f, SECRETS);
	ck_assert_int_eq(chmod(f.apop, 0644), 0);
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "alice", RFC_TIMESTAMP,
	    RFC_DIGEST, &e, &costs), -1);
}
END_TEST

START_TEST(apop_overlong_line_tail_is_not_a_secret)
{
	/* An overlong comment whose tail, after the reader's buffer size,
	 * looks like "alice:tanstaaf" must not become alice's secret. */
	size_t n = MAX_PASSWD_LINE + 1, i;
	char *text = malloc(n + 64);
	struct apop_files f;

	ck_assert_ptr_nonnull(text);
	text[0] = '#';
	for (i = 1; i < n; i++)
		text[i] = 'x';
	strcpy(text + n, "alice:" RFC_SECRET "\n");
	make_files(&f, text);
	free(text);
	ck_assert_int_eq(auth_apop(f.apop, f.passwd, "alice", RFC_TIMESTAMP,
	    RFC_DIGEST, &e, &costs), 0);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *apop_suite(void)
{
	Suite *s = suite_create("apop");
	TCase *tc;

	tc = tcase_create("digest");
	tcase_add_test(tc, digest_matches_rfc1939_example);
	suite_add_tcase(s, tc);

	tc = tcase_create("secrets_file");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_loop_test(tc, check_file_refuses_group_or_other_access, 0,
	    N(loose_modes));
	tcase_add_test(tc, check_file_accepts_owner_only);
	tcase_add_test(tc, check_file_refuses_missing_file);
	tcase_add_test(tc, check_file_refuses_symlink);
	tcase_add_test(tc, check_file_refuses_directory);
	suite_add_tcase(s, tc);

	tc = tcase_create("auth_apop");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, apop_right_digest_logs_in);
	tcase_add_test(tc, apop_wrong_digest_fails);
	tcase_add_test(tc, apop_upper_case_digest_accepted);
	tcase_add_test(tc, apop_unknown_user_fails);
	tcase_add_test(tc, apop_secret_without_passwd_entry_fails);
	tcase_add_test(tc, apop_locked_account_fails);
	tcase_add_test(tc, apop_crlf_secrets_file_works);
	tcase_add_test(tc, apop_readable_secrets_file_is_error);
	tcase_add_test(tc, apop_overlong_line_tail_is_not_a_secret);
	suite_add_tcase(s, tc);
	return s;
}

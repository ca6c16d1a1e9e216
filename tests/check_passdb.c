/*
 * check_passdb.c - the authentication interface: --auth values
 * (passdb_parse), the account record a back end fills (account_fill),
 * and auth_check_login's --first-uid refusal with the file back end.
 */
#include <check.h>
#include <crypt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"
#include "unit.h"

/* Big (4 KiB line inside): keep it off the stack. */
static struct pw_entry e;

/* ------------------------------------------------------ passdb_parse */

static const struct {
	const char *value;
	const struct passdb *db;
	const char *arg;
} parse_ok[] = {
	{ "file", &passdb_file, NULL },
	{ "pam", &passdb_pam, DEFAULT_PAM_SERVICE },
	{ "pam:imap", &passdb_pam, "imap" },
	{ "pam:pop3d-local", &passdb_pam, "pop3d-local" },
	/* 64 characters: the longest service name taken. */
	{ "pam:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    &passdb_pam,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
	{ "checkpassword:/bin/true", &passdb_checkpassword, "/bin/true" },
	{ "checkpassword:/usr/local/bin/vchkpw", &passdb_checkpassword,
	    "/usr/local/bin/vchkpw" },
};

START_TEST(parse_accepts)
{
	struct config cfg = { .passdb = NULL, .auth_arg = "unset" };
	const char *why = NULL;

	ck_assert_msg(passdb_parse(&cfg, parse_ok[_i].value, &why) == 0,
	    "%s refused: %s", parse_ok[_i].value, why ? why : "(no reason)");
	ck_assert_ptr_eq(cfg.passdb, parse_ok[_i].db);
	if (parse_ok[_i].arg)
		ck_assert_str_eq(cfg.auth_arg, parse_ok[_i].arg);
	else
		ck_assert_ptr_null(cfg.auth_arg);
}
END_TEST

static const char *const parse_bad[] = {
	"", "bogus", "File", "files", "pamx", "pam:", "pam:../x", "pam:a/b",
	"pam:/etc/pam.d/pop3d", "pam:.hidden", "pam:..",
	/* 65 characters: longer than any service name taken. */
	"pam:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	"checkpassword", "checkpassword:", "checkpassword:relative",
	"checkpassword:./vchkpw", "checkpassword:~/bin/cp",
};

START_TEST(parse_refuses)
{
	/* A refused value must leave the configuration as it was: the
	 * option parser exits then, but nothing may rely on that. */
	struct config cfg = { .passdb = &passdb_file, .auth_arg = NULL };
	const char *why = NULL;

	ck_assert_msg(passdb_parse(&cfg, parse_bad[_i], &why) < 0,
	    "'%s' accepted", parse_bad[_i]);
	ck_assert_ptr_nonnull(why);
	ck_assert_uint_gt(strlen(why), 0);
	ck_assert_ptr_eq(cfg.passdb, &passdb_file);
	ck_assert_ptr_null(cfg.auth_arg);
}
END_TEST

START_TEST(parse_backends_named_for_the_log)
{
	ck_assert_str_eq(passdb_file.name, "file");
	ck_assert_str_eq(passdb_pam.name, "pam");
	ck_assert_str_eq(passdb_checkpassword.name, "checkpassword");
	/* APOP needs the account without a password: checkpassword has no
	 * such question (pop3d.c refuses --apop with it). */
	ck_assert_int_eq(passdb_file.can_lookup, 1);
	ck_assert_int_eq(passdb_pam.can_lookup, 1);
	ck_assert_int_eq(passdb_checkpassword.can_lookup, 0);
}
END_TEST

/* ------------------------------------------------------ account_fill */

START_TEST(fill_fits)
{
	ck_assert_int_eq(account_fill(&e, "alice", 1001, 1002,
	    "/home/alice"), 0);
	ck_assert_str_eq(e.name, "alice");
	ck_assert_str_eq(e.home, "/home/alice");
	ck_assert_uint_eq(e.uid, 1001);
	ck_assert_uint_eq(e.gid, 1002);
	ck_assert_int_eq(e.has_ids, 1);
	ck_assert_int_eq(e.locked, 0);
	ck_assert_ptr_null(e.mail);
	ck_assert_str_eq(e.hash, "");
	/* The strings live in the entry itself: the back end's buffers
	 * (getpwnam_r's, the reply's) may go. */
	ck_assert(e.name >= e.line && e.name < e.line + sizeof(e.line));
	ck_assert(e.home >= e.line && e.home < e.line + sizeof(e.line));
}
END_TEST

START_TEST(fill_without_home)
{
	ck_assert_int_eq(account_fill(&e, "bob", 1003, 100, NULL), 0);
	ck_assert_str_eq(e.name, "bob");
	ck_assert_str_eq(e.home, "");
	ck_assert_int_eq(account_fill(&e, "carol", 1004, 100, ""), 0);
	ck_assert_str_eq(e.home, "");
}
END_TEST

/* name + NUL + home + NUL in sizeof(e.line) bytes exactly: fits; one
 * byte more: refused, and the entry left empty. */
START_TEST(fill_boundary)
{
	char name[MAX_PASSWD_LINE], home[MAX_PASSWD_LINE];
	size_t hlen = sizeof(e.line) - 2 - 10;

	memset(name, 'n', 10);
	name[10] = '\0';
	home[0] = '/';
	memset(home + 1, 'h', hlen - 1);
	home[hlen] = '\0';
	ck_assert_int_eq(account_fill(&e, name, 1000, 1000, home), 0);
	ck_assert_uint_eq(strlen(e.home), hlen);
	ck_assert_str_eq(e.name, name);

	home[hlen] = 'h';
	home[hlen + 1] = '\0';
	ck_assert_int_eq(account_fill(&e, name, 1000, 1000, home), -1);
	ck_assert_int_eq(e.has_ids, 0);
	ck_assert_uint_eq(e.uid, 0);
	ck_assert_ptr_null(e.name);
}
END_TEST

START_TEST(fill_too_long_name)
{
	static char name[MAX_PASSWD_LINE + 10];

	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	ck_assert_int_eq(account_fill(&e, name, 1000, 1000, NULL), -1);
	ck_assert_ptr_null(e.name);
	ck_assert_int_eq(e.has_ids, 0);
}
END_TEST

/* ------------------------------------------- auth_check_login, uids */

/* A password file with ordinary (500), system-like and root entries, all
 * with the password "secret"; a fast hash, so that failures cost their
 * delay and little else. */
static void first_uid_file(char *path, size_t size)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char dir[PATH_MAX], text[2048];
	const char *h;

	ck_assert_ptr_nonnull(cd);
	h = crypt_rn("secret", "$5$rounds=1000$unitsalt$", cd, sizeof(*cd));
	ck_assert_msg(h && h[0] == '$', "crypt_rn failed");
	snprintf(text, sizeof(text),
	    "low:%s:500:500::/nonexistent\n"
	    "normal:%s:1000:1000::/nonexistent\n"
	    "rootish:%s:0:0::/root\n"
	    "noids:%s\n", h, h, h, h);
	free(cd);
	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, size, dir, "passwd");
	unit_write_str(path, text, 0600);
}

static long long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return ((long long)t1.tv_sec - t0->tv_sec) * 1000LL +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000LL;
}

static int login(const char *path, unsigned long first_uid,
    const char *user, const char *password, int *failures)
{
	struct config cfg = {
		.passdb = &passdb_file,
		.first_uid = first_uid,
		.passwd_file = path,
	};

	return auth_check_login(&cfg, CRED_PASS, user, password, NULL, &e,
	    failures);
}

START_TEST(first_uid_refuses_lower_uid)
{
	char path[PATH_MAX];
	struct timespec t0;
	int failures = 0;

	first_uid_file(path, sizeof(path));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(login(path, 1000, "low", "secret", &failures), 0);
	/* Refused like a wrong password: counted, and answered no sooner
	 * than the failure delay. */
	ck_assert_int_eq(failures, 1);
	ck_assert_int_ge(ms_since(&t0), AUTH_FAIL_DELAY_MS);
	/* Nothing of the refused account is left for the caller. */
	ck_assert_int_eq(e.has_ids, 0);
	ck_assert_uint_eq(e.uid, 0);
}
END_TEST

START_TEST(first_uid_lowered_accepts)
{
	char path[PATH_MAX];
	int failures = 0;

	first_uid_file(path, sizeof(path));
	ck_assert_int_eq(login(path, 500, "low", "secret", &failures), 1);
	ck_assert_int_eq(failures, 0);
	ck_assert_str_eq(e.name, "low");
	ck_assert_uint_eq(e.uid, 500);
	ck_assert_int_eq(login(path, 1000, "normal", "secret", &failures), 1);
	ck_assert_uint_eq(e.uid, 1000);
}
END_TEST

START_TEST(first_uid_zero_still_refuses_root)
{
	char path[PATH_MAX];
	int failures = 0;

	first_uid_file(path, sizeof(path));
	/* --first-uid 0 lets every uid through but root's. */
	ck_assert_int_eq(login(path, 0, "rootish", "secret", &failures), 0);
	ck_assert_int_eq(failures, 1);
	ck_assert_int_eq(login(path, 1000, "rootish", "secret", &failures), 0);
	ck_assert_int_eq(failures, 2);
	ck_assert_int_eq(login(path, 0, "low", "secret", &failures), 1);
}
END_TEST

START_TEST(first_uid_wrong_password_still_fails)
{
	char path[PATH_MAX];
	int failures = 0;

	first_uid_file(path, sizeof(path));
	ck_assert_int_eq(login(path, 500, "low", "wrong", &failures), 0);
	ck_assert_int_eq(failures, 1);
}
END_TEST

START_TEST(first_uid_entry_without_ids_not_judged_here)
{
	char path[PATH_MAX];
	int failures = 0;

	/* An id-less entry is served as pop3d's own uid from a pipe, and
	 * refused in root mode by privsep.c: no uid to compare here. */
	first_uid_file(path, sizeof(path));
	ck_assert_int_eq(login(path, 1000, "noids", "secret", &failures), 1);
	ck_assert_int_eq(e.has_ids, 0);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *passdb_suite(void)
{
	Suite *s = suite_create("passdb");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, parse_accepts, 0, N(parse_ok));
	tcase_add_loop_test(tc, parse_refuses, 0, N(parse_bad));
	tcase_add_test(tc, parse_backends_named_for_the_log);
	suite_add_tcase(s, tc);

	tc = tcase_create("account_fill");
	tcase_add_test(tc, fill_fits);
	tcase_add_test(tc, fill_without_home);
	tcase_add_test(tc, fill_boundary);
	tcase_add_test(tc, fill_too_long_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("first_uid");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, first_uid_refuses_lower_uid);
	tcase_add_test(tc, first_uid_lowered_accepts);
	tcase_add_test(tc, first_uid_zero_still_refuses_root);
	tcase_add_test(tc, first_uid_wrong_password_still_fails);
	tcase_add_test(tc, first_uid_entry_without_ids_not_judged_here);
	suite_add_tcase(s, tc);
	return s;
}

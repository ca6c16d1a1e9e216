/*
 * check_passwd.c - the password file (passwd_parse_line, passwd_lookup),
 * crypt(3) verification (auth_check_hash) and the USER/PASS decision
 * (auth_login).
 */
#include <check.h>
#include <crypt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "unit.h"

/* Big (4 KiB line inside): keep it off the stack. */
static struct pw_entry e;

/* A fast hash made at test time: sha256-crypt with the minimum rounds. */
static void make_hash(const char *password, char *out, size_t size)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;

	ck_assert_ptr_nonnull(cd);
	h = crypt_rn(password, "$5$rounds=1000$unitsalt$", cd, sizeof(*cd));
	ck_assert_msg(h && h[0] == '$', "crypt_rn failed");
	ck_assert_uint_lt(strlen(h), size);
	strcpy(out, h);
	free(cd);
}

/* ------------------------------------------------- passwd_parse_line */

START_TEST(parse_name_and_hash_only)
{
	const char *why = "unset";

	ck_assert_int_eq(passwd_parse_line("alice:$1$ab$xyz", 7, &e, &why), 1);
	ck_assert_str_eq(e.name, "alice");
	ck_assert_str_eq(e.hash, "$1$ab$xyz");
	ck_assert_int_eq(e.locked, 0);
	ck_assert_int_eq(e.has_ids, 0);
	ck_assert_str_eq(e.home, "");
	ck_assert_ptr_null(e.mail);
	ck_assert_uint_eq(e.lineno, 7);
}
END_TEST

START_TEST(parse_full_eight_field_entry)
{
	const char *why;

	ck_assert_int_eq(passwd_parse_line("bob:$6$s$h:1001:1002:Bob B:"
	    "/home/bob:/bin/sh:quota_rule=*:storage=1G nice=yes", 1, &e,
	    &why), 1);
	ck_assert_str_eq(e.name, "bob");
	ck_assert_str_eq(e.hash, "$6$s$h");
	ck_assert_int_eq(e.locked, 0);
	ck_assert_int_eq(e.has_ids, 1);
	ck_assert_uint_eq(e.uid, 1001);
	ck_assert_uint_eq(e.gid, 1002);
	ck_assert_str_eq(e.home, "/home/bob");
	ck_assert_ptr_null(e.mail);
}
END_TEST

START_TEST(parse_mail_extra_field)
{
	const char *why;

	ck_assert_int_eq(passwd_parse_line("carol:$1$a$b:10:20::/home/c::"
	    "foo=bar mail=/srv/mail/carol.mbox", 1, &e, &why), 1);
	ck_assert_ptr_nonnull(e.mail);
	ck_assert_str_eq(e.mail, "/srv/mail/carol.mbox");
	ck_assert_str_eq(e.home, "/home/c");
}
END_TEST

START_TEST(parse_userdb_mail_extra_field)
{
	const char *why;

	ck_assert_int_eq(passwd_parse_line("dave:$1$a$b:::::: "
	    "userdb_mail=/srv/dave userdb_quota=1", 1, &e, &why), 1);
	ck_assert_ptr_nonnull(e.mail);
	ck_assert_str_eq(e.mail, "/srv/dave");
	ck_assert_int_eq(e.has_ids, 0);
}
END_TEST

START_TEST(parse_empty_mail_field_is_malformed)
{
	const char *why = NULL;

	ck_assert_int_eq(passwd_parse_line("dave:$1$a$b::::::mail=", 1, &e,
	    &why), -1);
	ck_assert_ptr_nonnull(why);
}
END_TEST

static const char *const scheme_tags[] = {
	"{CRYPT}", "{SHA512-CRYPT}", "{BLF-CRYPT}", "{crypt}"
};

START_TEST(parse_scheme_tag_stripped)
{
	char line[128];
	const char *why;

	snprintf(line, sizeof(line), "erin:%s$6$salt$hash", scheme_tags[_i]);
	ck_assert_int_eq(passwd_parse_line(line, 1, &e, &why), 1);
	ck_assert_str_eq(e.hash, "$6$salt$hash");
	ck_assert_int_eq(e.locked, 0);
}
END_TEST

START_TEST(parse_unknown_scheme_locks_account)
{
	const char *why;

	ck_assert_int_eq(passwd_parse_line("frank:{PLAIN}secret", 1, &e, &why),
	    1);
	ck_assert_str_eq(e.name, "frank");
	ck_assert_int_eq(e.locked, 1);
	/* The plain text must never be handed to crypt as a hash. */
	ck_assert_str_ne(e.hash, "secret");
}
END_TEST

static const char *const locked_lines[] = {
	"gina:", "gina::1000:1000", "gina:*", "gina:!$6$s$h", "gina:!",
	"gina:*LK*", "gina:{CRYPT}"
};

START_TEST(parse_locked_hash)
{
	const char *why;

	ck_assert_int_eq(passwd_parse_line(locked_lines[_i], 1, &e, &why), 1);
	ck_assert_int_eq(e.locked, 1);
}
END_TEST

static const char *const ignored_lines[] = {
	"", "   ", "\t", "# comment", "   # indented comment", "#alice:x"
};

START_TEST(parse_comment_or_blank_is_no_entry)
{
	const char *why;

	ck_assert_int_eq(passwd_parse_line(ignored_lines[_i], 1, &e, &why), 0);
}
END_TEST

static const char *const malformed_lines[] = {
	"alice",			/* no colon */
	"alice:h:12a:100",		/* uid not a number */
	"alice:h:1000",			/* uid without a gid field */
	"alice:h:1000:",		/* uid with an empty gid */
	"alice:h::1000",		/* gid without a uid */
	"alice:h:-1:100",		/* negative uid */
	"alice:h:+1:100",		/* signed uid */
	"alice:h:4294967296:100",	/* uid overflows 32 bits */
	"alice:h:4294967295:100",	/* (uid_t)-1 */
	"alice:h:100:4294967296",	/* gid overflows */
	"alice:h:100:1x",		/* gid not a number */
	"alice:h: 100:100",		/* space in uid */
	"../x:h",			/* path climbing */
	"a/b:h",			/* slash */
	".:h",
	"..:h",
	":h",				/* empty name */
	"a b:h",			/* space */
	" alice:h",			/* leading space */
	"a\tb:h",			/* control characters */
	"a\001b:h",
	"a\177b:h",
	"a\200b:h",			/* 8-bit */
	/* 65 characters: longer than MAX_USER_NAME */
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:h",
};

START_TEST(parse_malformed_line_rejected)
{
	const char *why = NULL;

	ck_assert_msg(passwd_parse_line(malformed_lines[_i], 3, &e, &why) == -1,
	    "accepted malformed line \"%s\"", malformed_lines[_i]);
	ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(parse_largest_uid_accepted)
{
	const char *why;

	ck_assert_int_eq(passwd_parse_line("alice:h:4294967294:0", 1, &e, &why),
	    1);
	ck_assert_uint_eq(e.uid, 4294967294U);
	ck_assert_uint_eq(e.gid, 0);
}
END_TEST

START_TEST(parse_overlong_line_rejected)
{
	char *line = malloc(MAX_PASSWD_LINE + 100);
	const char *why = NULL;

	ck_assert_ptr_nonnull(line);
	memcpy(line, "alice:", 6);
	memset(line + 6, 'x', MAX_PASSWD_LINE + 50);
	line[MAX_PASSWD_LINE + 56] = '\0';
	ck_assert_int_eq(passwd_parse_line(line, 1, &e, &why), -1);
	ck_assert_ptr_nonnull(why);
	free(line);
}
END_TEST

/* ----------------------------------------------------- passwd_lookup */

static struct hash_costs costs;

static void passwd_file(char *path, size_t size, const char *content)
{
	char dir[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, size, dir, "passwd");
	unit_write_str(path, content, 0644);
}

START_TEST(lookup_finds_user)
{
	char path[PATH_MAX];

	passwd_file(path, sizeof(path), "# users\n\nalice:$1$a$alice\n"
	    "bob:$1$b$bob:1000:1000::/home/bob\ncarol:$1$c$carol\n");
	ck_assert_int_eq(passwd_lookup(path, "bob", &e, NULL),
	    1);
	ck_assert_str_eq(e.name, "bob");
	ck_assert_str_eq(e.hash, "$1$b$bob");
	ck_assert_str_eq(e.home, "/home/bob");
	ck_assert_uint_eq(e.lineno, 4);
}
END_TEST

START_TEST(lookup_unknown_user_not_found)
{
	char path[PATH_MAX];

	passwd_file(path, sizeof(path), "alice:$1$a$alice\nbob:$1$b$bob\n");
	ck_assert_int_eq(passwd_lookup(path, "mallory", &e, NULL), 0);
	/* A prefix of a user's name is not that user. */
	ck_assert_int_eq(passwd_lookup(path, "ali", &e, NULL),
	    0);
}
END_TEST

START_TEST(lookup_skips_malformed_lines)
{
	char path[PATH_MAX];

	passwd_file(path, sizeof(path), "garbage without colon\n"
	    "alice:$1$a$x:12a:1\n../evil:$1$e$e\nbob:$1$b$bob\n");
	ck_assert_int_eq(passwd_lookup(path, "bob", &e, NULL),
	    1);
	ck_assert_str_eq(e.hash, "$1$b$bob");
	ck_assert_uint_eq(e.lineno, 4);
	/* The malformed entry itself is not usable. */
	ck_assert_int_eq(passwd_lookup(path, "alice", &e, NULL), 0);
}
END_TEST

START_TEST(lookup_collects_distinct_hash_costs)
{
	char path[PATH_MAX];

	/* Locked, malformed and unusable entries do not count; salts do
	 * not make a class; an entry after the user's still counts. */
	passwd_file(path, sizeof(path), "locked:!$5$l$l\nbroken\n"
	    "nohash:\nplain:{PLAIN}x\nfirst:$1$f$first\nsecond:$1$s$second\n"
	    "y1:$y$j9T$salt1$h\ny2:$y$j9T$salt2$h\ny3:$y$jAT$salt3$h\n"
	    "s1:$6$salt$h\ns2:$6$rounds=9999$salt$h\ns3:$6$other$h\n");
	ck_assert_int_eq(passwd_lookup(path, "first", &e, &costs), 1);
	ck_assert_uint_eq(costs.n, 5);
	ck_assert_int_eq(costs.overflow, 0);
	ck_assert_str_eq(costs.hash[0], "$1$f$first");
	ck_assert_str_eq(costs.hash[1], "$y$j9T$salt1$h");
	ck_assert_str_eq(costs.hash[2], "$y$jAT$salt3$h");
	ck_assert_str_eq(costs.hash[3], "$6$salt$h");
	ck_assert_str_eq(costs.hash[4], "$6$rounds=9999$salt$h");
	for (unsigned i = 0; i < costs.n; i++)
		ck_assert(costs.ns[i] < 0);
	ck_assert_int_eq(passwd_lookup(path, "nosuchuser", &e, &costs), 0);
	ck_assert_uint_eq(costs.n, 5);
}
END_TEST

START_TEST(lookup_counts_classes_beyond_the_kept_ones)
{
	char path[PATH_MAX], text[4096];
	size_t o = 0;

	for (int i = 0; i <= MAX_HASH_CLASSES; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "u%d:$6$rounds=%d$salt$h\n", i, 1000 + i);
	passwd_file(path, sizeof(path), text);
	ck_assert_int_eq(passwd_lookup(path, "u0", &e, &costs), 1);
	ck_assert_uint_eq(costs.n, MAX_HASH_CLASSES);
	ck_assert_int_eq(costs.overflow, 1);
}
END_TEST

START_TEST(lookup_missing_file_is_error)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "no-such-passwd");
	ck_assert_int_eq(passwd_lookup(path, "alice", &e, NULL), -1);
}
END_TEST

START_TEST(lookup_skips_overlong_line_and_parses_next)
{
	size_t n = MAX_PASSWD_LINE + 1000;
	char path[PATH_MAX], dir[PATH_MAX];
	char *text = malloc(n + 64);

	ck_assert_ptr_nonnull(text);
	/* The overlong line's tail must not be read as a line either. */
	memcpy(text, "alice:", 6);
	memset(text + 6, 'x', n);
	/* fgets reads MAX_PASSWD_LINE + 1 bytes: this is where a naive
	 * reader would start a new "line". */
	memcpy(text + MAX_PASSWD_LINE + 1, "tail:$1$t$t:", 12);
	strcpy(text + 6 + n, "\nbob:$1$b$bob\n");
	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "passwd");
	unit_write_str(path, text, 0644);
	free(text);

	ck_assert_int_eq(passwd_lookup(path, "bob", &e, NULL),
	    1);
	ck_assert_str_eq(e.hash, "$1$b$bob");
	ck_assert_uint_eq(e.lineno, 2);
	ck_assert_int_eq(passwd_lookup(path, "alice", &e, NULL), 0);
	ck_assert_int_eq(passwd_lookup(path, "tail", &e, NULL), 0);
}
END_TEST

START_TEST(lookup_finds_last_line_without_newline)
{
	char path[PATH_MAX];

	passwd_file(path, sizeof(path), "alice:$1$a$a\nbob:$1$b$bob");
	ck_assert_int_eq(passwd_lookup(path, "bob", &e, NULL),
	    1);
	ck_assert_str_eq(e.hash, "$1$b$bob");
}
END_TEST

START_TEST(lookup_first_entry_of_duplicate_name_wins)
{
	char path[PATH_MAX];

	passwd_file(path, sizeof(path), "alice:$1$a$one\nalice:$1$a$two\n");
	ck_assert_int_eq(passwd_lookup(path, "alice", &e, NULL), 1);
	ck_assert_str_eq(e.hash, "$1$a$one");
}
END_TEST

/* --------------------------------------------------- auth_check_hash */

static const char *const scheme_prefixes[] = {
	"$y$", "$gy$", "$7$", "$2b$", "$6$", "$5$", "$1$"
};

/* Makes a hash of password with a scheme, or returns 0 (and says so) if
 * this libxcrypt does not support it. */
static int scheme_hash(const char *prefix, const char *password, char *out,
    size_t size)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *h;

	if (!crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof(setting)) ||
	    crypt_checksalt(setting) == CRYPT_SALT_INVALID ||
	    crypt_checksalt(setting) == CRYPT_SALT_METHOD_DISABLED) {
		fprintf(stderr, "check_passwd: %s not supported by libxcrypt; "
		    "skipped\n", prefix);
		return 0;
	}
	cd = calloc(1, sizeof(*cd));
	ck_assert_ptr_nonnull(cd);
	h = crypt_rn(password, setting, cd, sizeof(*cd));
	ck_assert_msg(h && h[0] != '*', "crypt_rn(%s) failed", setting);
	ck_assert_uint_lt(strlen(h), size);
	strcpy(out, h);
	free(cd);
	return 1;
}

START_TEST(check_hash_right_password_matches)
{
	char h[CRYPT_OUTPUT_SIZE];

	if (!scheme_hash(scheme_prefixes[_i], "correct horse", h, sizeof(h)))
		return;
	ck_assert_msg(auth_check_hash(h, "correct horse") == 1,
	    "%s: right password refused", h);
}
END_TEST

START_TEST(check_hash_wrong_password_fails)
{
	char h[CRYPT_OUTPUT_SIZE];

	if (!scheme_hash(scheme_prefixes[_i], "correct horse", h, sizeof(h)))
		return;
	ck_assert_msg(auth_check_hash(h, "correct horsf") == 0,
	    "%s: wrong password accepted", h);
	ck_assert_int_eq(auth_check_hash(h, "correct horse "), 0);
}
END_TEST

START_TEST(check_hash_empty_password_fails)
{
	char h[CRYPT_OUTPUT_SIZE];

	if (!scheme_hash(scheme_prefixes[_i], "correct horse", h, sizeof(h)))
		return;
	ck_assert_msg(auth_check_hash(h, "") == 0,
	    "%s: empty password accepted", h);
}
END_TEST

START_TEST(check_hash_locked_or_garbage_hash_never_matches)
{
	ck_assert_int_eq(auth_check_hash("", ""), 0);
	ck_assert_int_eq(auth_check_hash("*", ""), 0);
	ck_assert_int_eq(auth_check_hash("*0", "*0"), 0);
	ck_assert_int_eq(auth_check_hash("!", "!"), 0);
	ck_assert_int_eq(auth_check_hash("$6$", "x"), 0);
}
END_TEST

/* ------------------------------------------------ auth_hash_cost_key */

static const struct {
	const char *hash, *key;
} cost_keys[] = {
	{ "$y$j9T$F5Jx5fExrKuJdmBOQOuhA/$RT5Rqz7m4", "$y$j9T$" },
	{ "$gy$j9T$salt$hash", "$gy$j9T$" },
	{ "$7$CU..../....salt$hash", "$7$CU..../...." },
	{ "$2b$12$abcdefghijklmnopqrstuuhash", "$2b$12$" },
	{ "$6$rounds=10000$salt$hash", "$6$rounds=10000$" },
	{ "$6$salt$hash", "$6$" },
	{ "$5$salt$hash", "$5$" },
	{ "$1$salt$hash", "$1$" },
	{ "$md5,rounds=5000$salt$$hash", "$md5,rounds=5000$" },
	{ "$sha1$40000$salt$hash", "$sha1$40000$" },
	{ "_J9..saltHASHHASHHASH", "_J9.." },
	{ "abJnggxhB/yWI", "" },
	{ "$y$j9T", "$y$j9T" },
	{ "$nodollar", "$nodollar" },
};

START_TEST(cost_key_is_scheme_and_cost)
{
	size_t k = auth_hash_cost_key(cost_keys[_i].hash);

	ck_assert_uint_eq(k, strlen(cost_keys[_i].key));
	ck_assert(!strncmp(cost_keys[_i].hash, cost_keys[_i].key, k));
}
END_TEST

/* ------------------------------------------------------ the deadline */

START_TEST(fail_delay_doubles_up_to_the_cap)
{
	ck_assert_int_eq(auth_fail_delay_ms(1), AUTH_FAIL_DELAY_MS);
	ck_assert_int_eq(auth_fail_delay_ms(2), 2 * AUTH_FAIL_DELAY_MS);
	ck_assert_int_eq(auth_fail_delay_ms(3), 4 * AUTH_FAIL_DELAY_MS);
	ck_assert(auth_fail_delay_ms(1000) >= AUTH_FAIL_DELAY_MAX_MS);
	ck_assert(auth_fail_delay_ms(1000) < 2 * AUTH_FAIL_DELAY_MAX_MS);
}
END_TEST

START_TEST(fail_deadline_is_start_plus_delay_plus_slowest_hash)
{
	struct timespec start = { 100, 900000000L }, d;

	/* 100.9 s + 0.5 s + 25 ms: the nanoseconds carry into seconds. */
	auth_fail_deadline(&start, 1, 25000000LL, &d);
	ck_assert_int_eq(d.tv_sec, 100 + (900 + AUTH_FAIL_DELAY_MS + 25) /
	    1000);
	ck_assert_int_eq(d.tv_nsec, (900 + AUTH_FAIL_DELAY_MS + 25) % 1000 *
	    1000000L);
	/* The second failure waits twice the delay, the same hash. */
	auth_fail_deadline(&start, 2, 25000000LL, &d);
	ck_assert_int_eq((long long)d.tv_sec * 1000 + d.tv_nsec / 1000000,
	    100900LL + 2 * AUTH_FAIL_DELAY_MS + 25);
	/* A slow hash of seconds; no hash at all never shortens it. */
	auth_fail_deadline(&start, 1, 3000000001LL, &d);
	ck_assert_int_eq(d.tv_sec, 104 + (AUTH_FAIL_DELAY_MS - 100) / 1000);
	ck_assert_int_eq(d.tv_nsec, (AUTH_FAIL_DELAY_MS - 100) % 1000 *
	    1000000L + 1);
	auth_fail_deadline(&start, 1, -5, &d);
	ck_assert_int_eq((long long)d.tv_sec * 1000000000LL + d.tv_nsec,
	    100900000000LL + AUTH_FAIL_DELAY_MS * 1000000LL);
}
END_TEST

/* --------------------------------------------------- the failure work */

START_TEST(fail_work_hashes_every_class_not_yet_measured)
{
	char path[PATH_MAX], h[256], text[1024];
	long long slow;

	/* alice's own check measures her class; the rest are measured by
	 * the failure work, and the slowest is returned. */
	make_hash("secret", h, sizeof(h));
	snprintf(text, sizeof(text), "alice:%s\nbob:$1$salt$h\n"
	    "carol:$6$rounds=1000$salt$h\n", h);
	passwd_file(path, sizeof(path), text);
	ck_assert_int_eq(auth_login(path, "alice", "wrong", &e, &costs), 0);
	ck_assert_uint_eq(costs.n, 3);
	ck_assert(costs.ns[0] > 0);
	ck_assert(costs.ns[1] < 0 && costs.ns[2] < 0);
	slow = auth_spend_fail_work(&costs, "wrong");
	for (unsigned i = 0; i < costs.n; i++) {
		ck_assert(costs.ns[i] > 0);
		ck_assert(costs.ns[i] <= slow);
	}
	/* An unknown user: nothing measured before, all after. */
	ck_assert_int_eq(auth_login(path, "mallory", "wrong", &e, &costs), 0);
	for (unsigned i = 0; i < costs.n; i++)
		ck_assert(costs.ns[i] < 0);
	ck_assert(auth_spend_fail_work(&costs, "wrong") > 0);
}
END_TEST

START_TEST(fail_work_without_usable_hash_uses_builtin_one)
{
	char path[PATH_MAX];

	passwd_file(path, sizeof(path), "locked:!$1$l$l\nplain:{PLAIN}x\n");
	ck_assert_int_eq(auth_login(path, "locked", "wrong", &e, &costs), 0);
	ck_assert_uint_eq(costs.n, 0);
	ck_assert(auth_spend_fail_work(&costs, "wrong") > 0);
	ck_assert(costs.other_ns > 0);
}
END_TEST

/* -------------------------------------------------------- auth_login */

static void login_file(char *path, size_t size)
{
	char h[256], text[1024];

	make_hash("secret", h, sizeof(h));
	snprintf(text, sizeof(text), "alice:%s\nlocked:!%s\nstar:*%s\n", h, h,
	    h);
	passwd_file(path, size, text);
}

START_TEST(login_known_user_right_password)
{
	char path[PATH_MAX];

	login_file(path, sizeof(path));
	ck_assert_int_eq(auth_login(path, "alice", "secret", &e, &costs), 1);
	ck_assert_str_eq(e.name, "alice");
}
END_TEST

START_TEST(login_known_user_wrong_password)
{
	char path[PATH_MAX];

	login_file(path, sizeof(path));
	ck_assert_int_eq(auth_login(path, "alice", "Secret", &e, &costs), 0);
}
END_TEST

START_TEST(login_unknown_user_fails)
{
	char path[PATH_MAX];

	login_file(path, sizeof(path));
	ck_assert_int_eq(auth_login(path, "mallory", "secret", &e, &costs), 0);
}
END_TEST

START_TEST(login_locked_user_with_right_password_fails)
{
	char path[PATH_MAX];

	login_file(path, sizeof(path));
	ck_assert_int_eq(auth_login(path, "locked", "secret", &e, &costs), 0);
	ck_assert_int_eq(auth_login(path, "star", "secret", &e, &costs), 0);
}
END_TEST

START_TEST(login_missing_passwd_file_is_error)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "missing");
	ck_assert_int_eq(auth_login(path, "alice", "secret", &e, &costs), -1);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *passwd_suite(void)
{
	Suite *s = suite_create("passwd");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, parse_name_and_hash_only);
	tcase_add_test(tc, parse_full_eight_field_entry);
	tcase_add_test(tc, parse_mail_extra_field);
	tcase_add_test(tc, parse_userdb_mail_extra_field);
	tcase_add_test(tc, parse_empty_mail_field_is_malformed);
	tcase_add_loop_test(tc, parse_scheme_tag_stripped, 0, N(scheme_tags));
	tcase_add_test(tc, parse_unknown_scheme_locks_account);
	tcase_add_loop_test(tc, parse_locked_hash, 0, N(locked_lines));
	tcase_add_loop_test(tc, parse_comment_or_blank_is_no_entry, 0,
	    N(ignored_lines));
	tcase_add_loop_test(tc, parse_malformed_line_rejected, 0,
	    N(malformed_lines));
	tcase_add_test(tc, parse_largest_uid_accepted);
	tcase_add_test(tc, parse_overlong_line_rejected);
	suite_add_tcase(s, tc);

	tc = tcase_create("lookup");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, lookup_finds_user);
	tcase_add_test(tc, lookup_unknown_user_not_found);
	tcase_add_test(tc, lookup_skips_malformed_lines);
	tcase_add_test(tc, lookup_collects_distinct_hash_costs);
	tcase_add_test(tc, lookup_counts_classes_beyond_the_kept_ones);
	tcase_add_test(tc, lookup_missing_file_is_error);
	tcase_add_test(tc, lookup_skips_overlong_line_and_parses_next);
	tcase_add_test(tc, lookup_finds_last_line_without_newline);
	tcase_add_test(tc, lookup_first_entry_of_duplicate_name_wins);
	suite_add_tcase(s, tc);

	tc = tcase_create("check_hash");
	tcase_add_loop_test(tc, check_hash_right_password_matches, 0,
	    N(scheme_prefixes));
	tcase_add_loop_test(tc, check_hash_wrong_password_fails, 0,
	    N(scheme_prefixes));
	tcase_add_loop_test(tc, check_hash_empty_password_fails, 0,
	    N(scheme_prefixes));
	tcase_add_test(tc, check_hash_locked_or_garbage_hash_never_matches);
	suite_add_tcase(s, tc);

	tc = tcase_create("cost_key");
	tcase_add_loop_test(tc, cost_key_is_scheme_and_cost, 0, N(cost_keys));
	suite_add_tcase(s, tc);

	tc = tcase_create("deadline");
	tcase_add_test(tc, fail_delay_doubles_up_to_the_cap);
	tcase_add_test(tc, fail_deadline_is_start_plus_delay_plus_slowest_hash);
	suite_add_tcase(s, tc);

	tc = tcase_create("login");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, fail_work_hashes_every_class_not_yet_measured);
	tcase_add_test(tc, fail_work_without_usable_hash_uses_builtin_one);
	tcase_add_test(tc, login_known_user_right_password);
	tcase_add_test(tc, login_known_user_wrong_password);
	tcase_add_test(tc, login_unknown_user_fails);
	tcase_add_test(tc, login_locked_user_with_right_password_fails);
	tcase_add_test(tc, login_missing_passwd_file_is_error);
	suite_add_tcase(s, tc);
	return s;
}

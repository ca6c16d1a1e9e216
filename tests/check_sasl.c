/*
 * check_sasl.c - the SASL pieces without a network: strict base64
 * through GNU SASL, the mechanisms offered under each policy, each
 * mechanism's steps up to the checker's question, and CRAM-MD5's digest
 * (RFC 2195's own example).
 */
#include <check.h>
#include <string.h>

#include "proto.h"
#include "unit.h"

/* A checker that records what it was asked, and accepts "secret". */
static int asked_kind;
static char asked_user[64], asked_secret[64];

static int fake_check(void *ctx, int kind, const char *user,
    const char *secret)
{
	(void)ctx;
	asked_kind = kind;
	snprintf(asked_user, sizeof(asked_user), "%s", user);
	snprintf(asked_secret, sizeof(asked_secret), "%s", secret);
	return strcmp(secret, "secret") == 0 ? 1 : 0;
}

static void reset(void)
{
	asked_kind = 0;
	asked_user[0] = asked_secret[0] = '\0';
}

START_TEST(decode_is_strict_base64)
{
	char out[64];

	ck_assert_int_eq(sasl_decode("YWJj", out, sizeof(out)), 3);
	ck_assert_str_eq(out, "abc");
	ck_assert_int_eq(sasl_decode("YWI=", out, sizeof(out)), 2);
	ck_assert_int_eq(sasl_decode("=", out, sizeof(out)), 0);
	ck_assert_int_eq(sasl_decode("", out, sizeof(out)), 0);
	ck_assert_int_eq(sasl_decode("YWI", out, sizeof(out)), -1);
	ck_assert_int_eq(sasl_decode("!!!!", out, sizeof(out)), -1);
	ck_assert_int_eq(sasl_decode("YQ==YQ==", out, sizeof(out)), -1);
	ck_assert_int_eq(sasl_decode("=AAA", out, sizeof(out)), -1);
	ck_assert_int_eq(sasl_decode("AAA=BBB", out, sizeof(out)), -1);
}
END_TEST

START_TEST(decode_refuses_more_than_the_buffer)
{
	char out[3];

	ck_assert_int_eq(sasl_decode("YWI=", out, sizeof(out)), 2);
	ck_assert_int_eq(sasl_decode("YWJj", out, sizeof(out)), -1);
}
END_TEST

START_TEST(list_follows_policy_and_secrets_file)
{
	char buf[64];

	sasl_list(buf, sizeof(buf), 1, 0);
	ck_assert_str_eq(buf, "PLAIN LOGIN");
	sasl_list(buf, sizeof(buf), 1, 1);
	ck_assert_str_eq(buf, "PLAIN LOGIN CRAM-MD5");
	sasl_list(buf, sizeof(buf), 0, 1);
	ck_assert_str_eq(buf, "CRAM-MD5");
	ck_assert_uint_eq(sasl_list(buf, sizeof(buf), 0, 0), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(find_any_case_and_unknown)
{
	ck_assert_ptr_nonnull(sasl_find("plain"));
	ck_assert_ptr_nonnull(sasl_find("Login"));
	ck_assert_ptr_nonnull(sasl_find("CRAM-MD5"));
	ck_assert_ptr_null(sasl_find("DIGEST-MD5"));
	ck_assert_ptr_null(sasl_find("SCRAM-SHA-256"));
}
END_TEST

/* Runs one exchange over base64 responses; returns the final status. */
static enum sasl_status run(const char *mech, const char *challenge,
    const char *const *responses, int n, char *last_challenge)
{
	struct sasl_exchange x;
	char chal[256];
	enum sasl_status st;
	int i;

	reset();
	ck_assert_int_eq(sasl_start(&x, sasl_find(mech), challenge,
	    fake_check, NULL), 0);
	st = sasl_step(&x, n > 0 ? responses[0] : NULL, chal, sizeof(chal));
	for (i = 1; st == SASL_MORE && i < n; i++)
		st = sasl_step(&x, responses[i], chal, sizeof(chal));
	if (last_challenge)
		strcpy(last_challenge, chal);
	if (st == SASL_CHECKED)
		ck_assert_int_eq(x.result, strcmp(asked_secret, "secret") ?
		    0 : 1);
	sasl_finish(&x);
	return st;
}

START_TEST(plain_asks_the_checker)
{
	const char *r[] = { "AGFsaWNlAHNlY3JldA==" };	/* \0alice\0secret */

	ck_assert_int_eq(run("PLAIN", NULL, r, 1, NULL), SASL_CHECKED);
	ck_assert_int_eq(asked_kind, CRED_PLAIN);
	ck_assert_str_eq(asked_user, "alice");
	ck_assert_str_eq(asked_secret, "secret");
}
END_TEST

START_TEST(plain_same_authzid_accepted_other_refused)
{
	const char *same[] = { "YWxpY2UAYWxpY2UAc2VjcmV0" };
	const char *other[] = { "Ym9iAGFsaWNlAHNlY3JldA==" };

	ck_assert_int_eq(run("PLAIN", NULL, same, 1, NULL), SASL_CHECKED);
	ck_assert_int_eq(run("PLAIN", NULL, other, 1, NULL), SASL_PROXY);
	ck_assert_int_eq(asked_kind, 0);	/* never asked */
}
END_TEST

START_TEST(plain_malformed_never_asks)
{
	/* alice\0secret; \0alice\0; \0\0secret; =; alicesecret */
	const char *bad[] = { "YWxpY2UAc2VjcmV0", "AGFsaWNlAA==", "AABzZWNyZXQ=",
	    "=", "YWxpY2VzZWNyZXQ=" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(run("PLAIN", NULL, &bad[i], 1, NULL),
		    SASL_MALFORMED);
		ck_assert_int_eq(asked_kind, 0);
	}
}
END_TEST

START_TEST(plain_without_initial_response_sends_empty_challenge)
{
	char chal[256];

	ck_assert_int_eq(run("PLAIN", NULL, NULL, 0, chal), SASL_MORE);
	ck_assert_str_eq(chal, "");
}
END_TEST

START_TEST(login_challenges_then_asks)
{
	const char *r[] = { NULL, "YWxpY2U=", "c2VjcmV0" };
	struct sasl_exchange x;
	char chal[64];

	reset();
	ck_assert_int_eq(sasl_start(&x, sasl_find("LOGIN"), NULL, fake_check,
	    NULL), 0);
	ck_assert_int_eq(sasl_step(&x, r[0], chal, sizeof(chal)), SASL_MORE);
	ck_assert_str_eq(chal, "VXNlcm5hbWU6");		/* Username: */
	ck_assert_int_eq(sasl_step(&x, r[1], chal, sizeof(chal)), SASL_MORE);
	ck_assert_str_eq(chal, "UGFzc3dvcmQ6");		/* Password: */
	ck_assert_int_eq(sasl_step(&x, r[2], chal, sizeof(chal)),
	    SASL_CHECKED);
	ck_assert_int_eq(x.result, 1);
	ck_assert_int_eq(asked_kind, CRED_LOGIN);
	ck_assert_str_eq(asked_user, "alice");
	sasl_finish(&x);
}
END_TEST

START_TEST(login_initial_response_is_the_user)
{
	const char *r[] = { "YWxpY2U=", "d3Jvbmc=" };
	char chal[64];

	ck_assert_int_eq(run("LOGIN", NULL, r, 1, chal), SASL_MORE);
	ck_assert_str_eq(chal, "UGFzc3dvcmQ6");
	ck_assert_int_eq(run("LOGIN", NULL, r, 2, NULL), SASL_CHECKED);
	ck_assert_str_eq(asked_secret, "wrong");
}
END_TEST

START_TEST(login_empty_user_or_password_malformed)
{
	const char *u[] = { "=" };
	const char *p[] = { "YWxpY2U=", "=" };

	ck_assert_int_eq(run("LOGIN", NULL, u, 1, NULL), SASL_MALFORMED);
	ck_assert_int_eq(run("LOGIN", NULL, p, 2, NULL), SASL_MALFORMED);
	ck_assert_int_eq(asked_kind, 0);
}
END_TEST

START_TEST(bad_base64_at_any_step)
{
	const char *r1[] = { "!!!!" };
	const char *r2[] = { "YWxpY2U=", "YWI" };

	ck_assert_int_eq(run("PLAIN", NULL, r1, 1, NULL), SASL_BAD_B64);
	ck_assert_int_eq(run("LOGIN", NULL, r2, 2, NULL), SASL_BAD_B64);
}
END_TEST

START_TEST(cram_sends_the_challenge_and_passes_the_digest)
{
	const char *ts = "<1896.697170952@postoffice.reston.mci.net>";
	/* RFC 2195's example response, "tim b913a602c7eda7a495b4e6e7334d3890". */
	const char *r[] = { NULL,
	    "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw" };
	struct sasl_exchange x;
	char chal[128], want[128];

	reset();
	ck_assert_int_eq(sasl_start(&x, sasl_find("CRAM-MD5"), ts, fake_check,
	    NULL), 0);
	ck_assert_int_eq(sasl_step(&x, r[0], chal, sizeof(chal)), SASL_MORE);
	ck_assert_int_eq(sasl_encode(ts, want, sizeof(want)), 0);
	ck_assert_str_eq(chal, want);
	ck_assert_int_eq(sasl_step(&x, r[1], chal, sizeof(chal)),
	    SASL_CHECKED);
	ck_assert_int_eq(asked_kind, CRED_CRAM);
	ck_assert_str_eq(asked_user, "tim");
	ck_assert_str_eq(asked_secret, "b913a602c7eda7a495b4e6e7334d3890");
	sasl_finish(&x);
}
END_TEST

START_TEST(cram_refuses_initial_response_and_bad_digest)
{
	const char *ts = "<1.2@h>";
	const char *ir[] = { "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw" };
	/* "tim xyz", "tim B913A602C7EDA7A495B4E6E7334D3890" (upper case) */
	const char *shortd[] = { NULL, "dGltIHh5eg==" };

	ck_assert_int_eq(run("CRAM-MD5", ts, ir, 1, NULL), SASL_MALFORMED);
	ck_assert_int_eq(run("CRAM-MD5", ts, shortd, 2, NULL),
	    SASL_MALFORMED);
	ck_assert_int_eq(asked_kind, 0);
}
END_TEST

START_TEST(cram_digest_matches_rfc2195_example)
{
	char hex[33];

	ck_assert_int_eq(cram_digest(
	    "<1896.697170952@postoffice.reston.mci.net>", "tanstaaftanstaaf",
	    hex), 0);
	ck_assert_str_eq(hex, "b913a602c7eda7a495b4e6e7334d3890");
}
END_TEST

Suite *sasl_suite(void)
{
	Suite *s = suite_create("sasl");
	TCase *tc;

	tc = tcase_create("base64");
	tcase_add_test(tc, decode_is_strict_base64);
	tcase_add_test(tc, decode_refuses_more_than_the_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("offered");
	tcase_add_test(tc, list_follows_policy_and_secrets_file);
	tcase_add_test(tc, find_any_case_and_unknown);
	suite_add_tcase(s, tc);

	tc = tcase_create("plain");
	tcase_add_test(tc, plain_asks_the_checker);
	tcase_add_test(tc, plain_same_authzid_accepted_other_refused);
	tcase_add_test(tc, plain_malformed_never_asks);
	tcase_add_test(tc, plain_without_initial_response_sends_empty_challenge);
	suite_add_tcase(s, tc);

	tc = tcase_create("login");
	tcase_add_test(tc, login_challenges_then_asks);
	tcase_add_test(tc, login_initial_response_is_the_user);
	tcase_add_test(tc, login_empty_user_or_password_malformed);
	tcase_add_test(tc, bad_base64_at_any_step);
	suite_add_tcase(s, tc);

	tc = tcase_create("cram_md5");
	tcase_add_test(tc, cram_sends_the_challenge_and_passes_the_digest);
	tcase_add_test(tc, cram_refuses_initial_response_and_bad_digest);
	tcase_add_test(tc, cram_digest_matches_rfc2195_example);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * check_pam.c - the parts of the PAM back end that need no PAM stack: the
 * conversation (passdb_pam_conv), which must hand the password to every
 * password prompt and to nothing else, and the reading of PAM's result
 * codes (passdb_pam_verdict).  The whole back end, with pam_unix, is
 * tests/e2e/pam.sh's.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_appl.h>

#include "proto.h"
#include "unit.h"

static char logged[512];
static int nlogged;

static void sink(int prio, const char *text)
{
	(void)prio;
	nlogged++;
	snprintf(logged, sizeof(logged), "%s", text);
}

static void setup(void)
{
	logged[0] = '\0';
	nlogged = 0;
	log_set_sink(sink);
}

static void teardown(void)
{
	log_set_sink(NULL);
}

/* Runs the conversation over n messages of the given styles and texts. */
static int converse(const int *styles, const char *const *texts, int n,
    struct passdb_pam_conv_data *d, struct pam_response **resp)
{
	struct pam_message m[PAM_MAX_NUM_MSG + 1];
	const struct pam_message *mp[PAM_MAX_NUM_MSG + 1];

	ck_assert_int_le(n, PAM_MAX_NUM_MSG + 1);
	for (int i = 0; i < n; i++) {
		m[i].msg_style = styles[i];
		m[i].msg = texts[i];
		mp[i] = &m[i];
	}
	*resp = (struct pam_response *)0x1;	/* must be overwritten */
	return passdb_pam_conv(n, mp, resp, d);
}

static void free_resp(struct pam_response *r, int n)
{
	for (int i = 0; r && i < n; i++)
		free(r[i].resp);
	free(r);
}

START_TEST(test_echo_off_gets_password)
{
	static const int st[] = { PAM_PROMPT_ECHO_OFF };
	static const char *const tx[] = { "Password: " };
	struct passdb_pam_conv_data d = { .password = "s3cret" };
	struct pam_response *r;

	ck_assert_int_eq(converse(st, tx, 1, &d, &r), PAM_SUCCESS);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r[0].resp, "s3cret");
	ck_assert_int_eq(r[0].resp_retcode, 0);
	ck_assert_int_eq(d.asked, 1);
	ck_assert_int_eq(d.refused, 0);
	free_resp(r, 1);
}
END_TEST

START_TEST(test_every_echo_off_gets_own_copy)
{
	static const int st[] = { PAM_PROMPT_ECHO_OFF, PAM_TEXT_INFO,
	    PAM_PROMPT_ECHO_OFF };
	static const char *const tx[] = { "Password: ", "note",
	    "LDAP Password: " };
	struct passdb_pam_conv_data d = { .password = "pw" };
	struct pam_response *r;

	ck_assert_int_eq(converse(st, tx, 3, &d, &r), PAM_SUCCESS);
	ck_assert_str_eq(r[0].resp, "pw");
	ck_assert_ptr_null(r[1].resp);
	ck_assert_str_eq(r[2].resp, "pw");
	/* PAM frees each response: they must be separate allocations. */
	ck_assert_ptr_ne(r[0].resp, r[2].resp);
	free_resp(r, 3);
}
END_TEST

START_TEST(test_echo_on_refused)
{
	static const int st[] = { PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON };
	static const char *const tx[] = { "Password: ", "OTP code: " };
	struct passdb_pam_conv_data d = { .password = "pw" };
	struct pam_response *r;

	ck_assert_int_eq(converse(st, tx, 2, &d, &r), PAM_CONV_ERR);
	ck_assert_ptr_null(r);	/* and the copy made for [0] freed (ASan) */
	ck_assert_int_eq(d.refused, 1);
}
END_TEST

START_TEST(test_binary_and_unknown_styles_refused)
{
	static const int st[] = { PAM_BINARY_PROMPT };
	static const int st2[] = { 99 };
	static const char *const tx[] = { "" };
	struct passdb_pam_conv_data d = { .password = "pw" };
	struct pam_response *r;

	ck_assert_int_eq(converse(st, tx, 1, &d, &r), PAM_CONV_ERR);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(converse(st2, tx, 1, &d, &r), PAM_CONV_ERR);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(d.asked, 0);
}
END_TEST

START_TEST(test_apop_has_no_password_to_give)
{
	static const int st[] = { PAM_PROMPT_ECHO_OFF };
	static const char *const tx[] = { "Password: " };
	struct passdb_pam_conv_data d = { .password = NULL };
	struct pam_response *r;

	ck_assert_int_eq(converse(st, tx, 1, &d, &r), PAM_CONV_ERR);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(d.asked, 0);
}
END_TEST

START_TEST(test_message_count_bounds)
{
	int st[PAM_MAX_NUM_MSG + 1];
	const char *tx[PAM_MAX_NUM_MSG + 1];
	struct passdb_pam_conv_data d = { .password = "pw" };
	struct pam_response *r;

	for (int i = 0; i <= PAM_MAX_NUM_MSG; i++) {
		st[i] = PAM_PROMPT_ECHO_OFF;
		tx[i] = "Password: ";
	}
	ck_assert_int_eq(converse(st, tx, 0, &d, &r), PAM_CONV_ERR);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(converse(st, tx, PAM_MAX_NUM_MSG + 1, &d, &r),
	    PAM_CONV_ERR);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(passdb_pam_conv(-1, NULL, &r, &d), PAM_CONV_ERR);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(d.asked, 0);
	ck_assert_int_eq(converse(st, tx, PAM_MAX_NUM_MSG, &d, &r),
	    PAM_SUCCESS);
	ck_assert_str_eq(r[PAM_MAX_NUM_MSG - 1].resp, "pw");
	free_resp(r, PAM_MAX_NUM_MSG);
}
END_TEST

START_TEST(test_messages_logged_escaped)
{
	static const int st[] = { PAM_ERROR_MSG, PAM_TEXT_INFO };
	static const char *const tx[] = { "bad\n%s\033[1m", NULL };
	struct passdb_pam_conv_data d = { .password = "pw" };
	struct pam_response *r;

	ck_assert_int_eq(converse(st, tx, 2, &d, &r), PAM_SUCCESS);
	ck_assert_ptr_null(r[0].resp);
	ck_assert_ptr_null(r[1].resp);
	free_resp(r, 2);
	ck_assert_int_eq(nlogged, 2);
	ck_assert_str_eq(logged, "PAM says: ");
	/* The first, escaped: no newline, '%' or escape byte survives. */
	d.asked = 0;
	ck_assert_int_eq(converse(st, tx, 1, &d, &r), PAM_SUCCESS);
	free_resp(r, 1);
	ck_assert_str_eq(logged, "PAM says: bad??s?[1m");
	ck_assert_int_eq(d.asked, 0);
}
END_TEST

START_TEST(test_verdicts)
{
	ck_assert_int_eq(passdb_pam_verdict(PAM_SUCCESS, 1), PASSDB_OK);
	ck_assert_int_eq(passdb_pam_verdict(PAM_AUTH_ERR, 1), PASSDB_FAIL);
	ck_assert_int_eq(passdb_pam_verdict(PAM_USER_UNKNOWN, 0), PASSDB_FAIL);
	ck_assert_int_eq(passdb_pam_verdict(PAM_ACCT_EXPIRED, 1), PASSDB_FAIL);
	ck_assert_int_eq(passdb_pam_verdict(PAM_NEW_AUTHTOK_REQD, 1),
	    PASSDB_FAIL);
	ck_assert_int_eq(passdb_pam_verdict(PAM_PERM_DENIED, 1), PASSDB_FAIL);
	ck_assert_int_eq(passdb_pam_verdict(PAM_MAXTRIES, 1), PASSDB_FAIL);
	ck_assert_int_eq(passdb_pam_verdict(PAM_CRED_INSUFFICIENT, 1),
	    PASSDB_FAIL);
	/* A second factor after the password: this account cannot log in;
	 * a stack that never asked for the password: cannot tell. */
	ck_assert_int_eq(passdb_pam_verdict(PAM_CONV_ERR, 1), PASSDB_FAIL);
	ck_assert_int_eq(passdb_pam_verdict(PAM_CONV_ERR, 0), PASSDB_TEMP);
	ck_assert_int_eq(passdb_pam_verdict(PAM_AUTHINFO_UNAVAIL, 1),
	    PASSDB_TEMP);
	ck_assert_int_eq(passdb_pam_verdict(PAM_SYSTEM_ERR, 1), PASSDB_TEMP);
	ck_assert_int_eq(passdb_pam_verdict(PAM_BUF_ERR, 1), PASSDB_TEMP);
	ck_assert_int_eq(passdb_pam_verdict(PAM_ABORT, 1), PASSDB_TEMP);
	ck_assert_int_eq(passdb_pam_verdict(PAM_SERVICE_ERR, 0), PASSDB_TEMP);
	ck_assert_int_eq(passdb_pam_verdict(12345, 1), PASSDB_TEMP);
}
END_TEST

Suite *pam_suite(void)
{
	Suite *s = suite_create("pam");
	TCase *tc = tcase_create("conversation");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_echo_off_gets_password);
	tcase_add_test(tc, test_every_echo_off_gets_own_copy);
	tcase_add_test(tc, test_echo_on_refused);
	tcase_add_test(tc, test_binary_and_unknown_styles_refused);
	tcase_add_test(tc, test_apop_has_no_password_to_give);
	tcase_add_test(tc, test_message_count_bounds);
	tcase_add_test(tc, test_messages_logged_escaped);
	suite_add_tcase(s, tc);
	tc = tcase_create("verdicts");
	tcase_add_test(tc, test_verdicts);
	suite_add_tcase(s, tc);
	return s;
}

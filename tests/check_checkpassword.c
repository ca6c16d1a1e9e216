/*
 * check_checkpassword.c - the checkpassword back end's two formats: the
 * message a program reads on descriptor 3 (checkpassword_message) and
 * the reply pop3d --checkpassword-reply sends back
 * (checkpassword_parse_reply), which comes from a process running as
 * some user and must be read as hostile.
 */
#include <check.h>
#include <string.h>

#include "proto.h"
#include "unit.h"

#define REPLY(lit) lit, sizeof(lit) - 1	/* the bytes, NULs included */

static struct checkpassword_reply r;
static const char *why;

START_TEST(message_exact_bytes)
{
	char buf[MAX_CHECKPASSWORD_INPUT];
	static const char want[] = "alice\0s3cret pw\0001700000000";
	int n = checkpassword_message(buf, sizeof(buf), "alice", "s3cret pw",
	    "1700000000");

	ck_assert_int_eq(n, (int)sizeof(want));	/* the final NUL too */
	unit_assert_bytes("message", buf, (size_t)n, want, sizeof(want));
}
END_TEST

START_TEST(message_empty_fields)
{
	char buf[16];
	int n = checkpassword_message(buf, sizeof(buf), "", "", "");

	ck_assert_int_eq(n, 3);
	unit_assert_bytes("message", buf, 3, "\0\0\0", 3);
}
END_TEST

START_TEST(message_512_bytes_at_most)
{
	char buf[1024], user[MAX_USER_NAME + 1], pw[600];
	int n;

	memset(user, 'u', MAX_USER_NAME);
	user[MAX_USER_NAME] = '\0';
	/* 64 + 1 + p + 1 + 10 + 1 = 512 exactly with p = 435. */
	memset(pw, 'p', 435);
	pw[435] = '\0';
	n = checkpassword_message(buf, sizeof(buf), user, pw, "1700000000");
	ck_assert_int_eq(n, MAX_CHECKPASSWORD_INPUT);
	pw[435] = 'p';
	pw[436] = '\0';
	ck_assert_int_eq(checkpassword_message(buf, sizeof(buf), user, pw,
	    "1700000000"), -1);
	memset(pw, 'p', 599);
	pw[599] = '\0';
	ck_assert_int_eq(checkpassword_message(buf, sizeof(buf), "a", pw,
	    ""), -1);
	/* Nor past the caller's buffer, however short. */
	ck_assert_int_eq(checkpassword_message(buf, 8, "alice", "pw", "1"),
	    -1);
}
END_TEST

START_TEST(reply_user_and_home)
{
	ck_assert_int_eq(checkpassword_parse_reply(
	    REPLY("USER=alice\0HOME=/home/alice\0"), &r, &why), 0);
	ck_assert_str_eq(r.user, "alice");
	ck_assert_str_eq(r.home, "/home/alice");
}
END_TEST

START_TEST(reply_user_only)
{
	ck_assert_int_eq(checkpassword_parse_reply(REPLY("USER=bob\0"), &r,
	    &why), 0);
	ck_assert_str_eq(r.user, "bob");
	ck_assert_str_eq(r.home, "");
}
END_TEST

START_TEST(reply_refused)
{
	static const struct {
		const char *bytes;
		size_t len;
	} bad[] = {
		{ REPLY("") },				/* empty */
		{ REPLY("HOME=/home/a\0") },		/* no USER */
		{ REPLY("HOME=/home/a\0USER=a\0") },	/* USER not first */
		{ REPLY("USER=\0") },			/* empty name */
		{ REPLY("USER=a/b\0") },		/* invalid name */
		{ REPLY("USER=..\0") },
		{ REPLY("USER=a b\0") },
		{ REPLY("USER=a:b\0") },
		{ REPLY("USER=a\tb\0") },
		{ REPLY("USER=alice") },		/* no NUL */
		{ REPLY("USER=alice\0HOME=/h") },	/* last without NUL */
		{ REPLY("USER=a\0USER=b\0") },		/* duplicates */
		{ REPLY("USER=a\0HOME=/h\0HOME=/i\0") },
		{ REPLY("USER=a\0HOME=/h\0USER=b\0") },
		{ REPLY("USER=a\0HOME=h\0") },		/* relative home */
		{ REPLY("USER=a\0HOME=\0") },
		{ REPLY("USER=a\0HOME=/h\nx\0") },	/* control character */
		{ REPLY("USER=a\0SHELL=/bin/sh\0") },	/* unknown field */
		{ REPLY("USER=a\0\0") },		/* trailing bytes */
		{ REPLY("USER=a\0HOME=/h\0\0") },
		{ REPLY("user=a\0") },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(checkpassword_parse_reply(bad[i].bytes,
		    bad[i].len, &r, &why) == -1, "case %zu accepted", i);
		ck_assert_msg(why != NULL, "case %zu: no reason", i);
		ck_assert_str_eq(r.user, "");
	}
}
END_TEST

START_TEST(reply_overlong)
{
	static char big[MAX_CHECKPASSWORD_REPLY + 2];
	size_t n;

	/* A name one byte over the limit. */
	memcpy(big, "USER=", 5);
	memset(big + 5, 'a', MAX_USER_NAME + 1);
	big[5 + MAX_USER_NAME + 1] = '\0';
	ck_assert_int_eq(checkpassword_parse_reply(big,
	    5 + MAX_USER_NAME + 2, &r, &why), -1);
	/* A home that does not fit. */
	memcpy(big, "USER=a\0HOME=/", 13);
	n = MAX_CHECKPASSWORD_REPLY;
	memset(big + 13, 'h', n - 14);
	big[n - 1] = '\0';
	ck_assert_int_eq(checkpassword_parse_reply(big, n, &r, &why), 0);
	ck_assert_uint_eq(strlen(r.home), n - 1 - 12);
	/* The whole reply one byte over the limit. */
	memset(big + 13, 'h', n - 13);
	big[n] = '\0';
	ck_assert_int_eq(checkpassword_parse_reply(big, n + 1, &r, &why), -1);
	ck_assert_str_eq(why, "reply too long");
}
END_TEST

Suite *checkpassword_suite(void)
{
	Suite *s = suite_create("checkpassword");
	TCase *tc = tcase_create("formats");

	tcase_add_test(tc, message_exact_bytes);
	tcase_add_test(tc, message_empty_fields);
	tcase_add_test(tc, message_512_bytes_at_most);
	tcase_add_test(tc, reply_user_and_home);
	tcase_add_test(tc, reply_user_only);
	tcase_add_test(tc, reply_refused);
	tcase_add_test(tc, reply_overlong);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * check_utf8.c - RFC 6856 user names and passwords: the strict UTF-8
 * validator (RFC 3629) with every malformed form, SASLprep through GNU
 * SASL (NFC and NFD forms alike, prohibited characters), and the user
 * name rules after normalisation (U+FF0F must never become a '/').
 */
#include <check.h>
#include <string.h>

#include "proto.h"
#include "unit.h"

#define V(s) utf8_valid((s), sizeof(s) - 1)

START_TEST(valid_ascii_and_multibyte)
{
	ck_assert_int_eq(V(""), 1);
	ck_assert_int_eq(V("alice"), 1);
	ck_assert_int_eq(V("j\xc3\xbcrgen"), 1);		/* U+00FC */
	ck_assert_int_eq(V("\xe2\x82\xac"), 1);		/* U+20AC */
	ck_assert_int_eq(V("\xf0\x9f\x98\x80"), 1);		/* U+1F600 */
	ck_assert_int_eq(V("\xf4\x8f\xbf\xbf"), 1);		/* U+10FFFF */
	ck_assert_int_eq(V("\xed\x9f\xbf"), 1);		/* U+D7FF */
	ck_assert_int_eq(V("\xee\x80\x80"), 1);		/* U+E000 */
}
END_TEST

START_TEST(invalid_overlong)
{
	ck_assert_int_eq(V("\xc0\xaf"), 0);		/* '/' in 2 bytes */
	ck_assert_int_eq(V("\xc1\xbf"), 0);
	ck_assert_int_eq(V("\xc0\x80"), 0);		/* NUL in 2 bytes */
	ck_assert_int_eq(V("\xe0\x80\xaf"), 0);		/* '/' in 3 bytes */
	ck_assert_int_eq(V("\xe0\x9f\xbf"), 0);
	ck_assert_int_eq(V("\xf0\x80\x80\xaf"), 0);	/* '/' in 4 bytes */
	ck_assert_int_eq(V("\xf0\x8f\xbf\xbf"), 0);
}
END_TEST

START_TEST(invalid_continuation)
{
	ck_assert_int_eq(V("\x80"), 0);
	ck_assert_int_eq(V("a\xbf" "b"), 0);
	ck_assert_int_eq(V("\xc3\xbc\xbc"), 0);	/* one too many */
	ck_assert_int_eq(V("\xc3\x41"), 0);		/* not a continuation */
	ck_assert_int_eq(V("\xfe"), 0);
	ck_assert_int_eq(V("\xff"), 0);
}
END_TEST

START_TEST(invalid_surrogates)
{
	ck_assert_int_eq(V("\xed\xa0\x80"), 0);		/* U+D800 */
	ck_assert_int_eq(V("\xed\xbf\xbf"), 0);		/* U+DFFF */
	ck_assert_int_eq(V("\xed\xa0\xbd\xed\xb8\x80"), 0);	/* CESU pair */
}
END_TEST

START_TEST(invalid_above_10ffff)
{
	ck_assert_int_eq(V("\xf4\x90\x80\x80"), 0);	/* U+110000 */
	ck_assert_int_eq(V("\xf5\x80\x80\x80"), 0);
	ck_assert_int_eq(V("\xf7\xbf\xbf\xbf"), 0);
	ck_assert_int_eq(V("\xf8\x88\x80\x80\x80"), 0);	/* 5 bytes */
}
END_TEST

START_TEST(invalid_truncated)
{
	ck_assert_int_eq(V("\xc3"), 0);
	ck_assert_int_eq(V("\xe2\x82"), 0);
	ck_assert_int_eq(V("\xf0\x9f\x98"), 0);
	ck_assert_int_eq(V("ab\xf0"), 0);
	/* The length given is the end, not a NUL. */
	ck_assert_int_eq(utf8_valid("\xc3\xbc", 1), 0);
}
END_TEST

START_TEST(ascii_test)
{
	ck_assert_int_eq(utf8_is_ascii("alice"), 1);
	ck_assert_int_eq(utf8_is_ascii(""), 1);
	ck_assert_int_eq(utf8_is_ascii("j\xc3\xbcrgen"), 0);
}
END_TEST

START_TEST(prep_nfc_and_nfd_agree)
{
	char a[64], b[64];

	ck_assert_int_eq(utf8_saslprep("j\xc3\xbcrgen", 0, a, sizeof(a)),
	    UTF8_OK);
	/* u + U+0308 COMBINING DIAERESIS */
	ck_assert_int_eq(utf8_saslprep("ju\xcc\x88rgen", 0, b, sizeof(b)),
	    UTF8_OK);
	unit_assert_str("NFC", a, "j\xc3\xbcrgen");
	unit_assert_str("NFD", b, "j\xc3\xbcrgen");
}
END_TEST

START_TEST(prep_ascii_unchanged)
{
	char out[64];

	ck_assert_int_eq(utf8_saslprep("alice", 0, out, sizeof(out)),
	    UTF8_OK);
	unit_assert_str("ascii", out, "alice");
	/* RFC 4013 section 2.1: a non-ASCII space maps to SPACE. */
	ck_assert_int_eq(utf8_saslprep("a\xc2\xa0" "b", 0, out, sizeof(out)),
	    UTF8_OK);
	unit_assert_str("nbsp", out, "a b");
}
END_TEST

START_TEST(prep_refuses_invalid)
{
	char out[16] = "untouched";

	ck_assert_int_eq(utf8_saslprep("\xc0\xaf", 0, out, sizeof(out)),
	    UTF8_INVALID);
	ck_assert_int_eq(utf8_saslprep("\xed\xa0\x80", 0, out, sizeof(out)),
	    UTF8_INVALID);
	ck_assert_int_eq(utf8_saslprep("\xf4\x90\x80\x80", 0, out,
	    sizeof(out)), UTF8_INVALID);
	ck_assert_int_eq(utf8_saslprep("ab\xe2\x82", 0, out, sizeof(out)),
	    UTF8_INVALID);
	unit_assert_str("out", out, "untouched");
}
END_TEST

START_TEST(prep_refuses_prohibited)
{
	char out[16];

	/* RFC 4013 section 2.3: controls, private use. */
	ck_assert_int_eq(utf8_saslprep("a\x01" "b", 0, out, sizeof(out)),
	    UTF8_PROHIBITED);
	ck_assert_int_eq(utf8_saslprep("a\xee\x80\x80", 0, out, sizeof(out)),
	    UTF8_PROHIBITED);
	/* U+00AD SOFT HYPHEN maps to nothing: "" is no string. */
	ck_assert_int_eq(utf8_saslprep("\xc2\xad", 0, out, sizeof(out)),
	    UTF8_PROHIBITED);
}
END_TEST

START_TEST(prep_too_long)
{
	char out[4];

	ck_assert_int_eq(utf8_saslprep("abcd", 0, out, sizeof(out)),
	    UTF8_TOOLONG);
}
END_TEST

START_TEST(fullwidth_solidus_never_a_path)
{
	char out[64];

	/* NFKC makes U+FF0F FULLWIDTH SOLIDUS a '/': the prepared name
	 * must then fail the user name rules, so %u never holds a '/'. */
	ck_assert_int_eq(utf8_saslprep("a\xef\xbc\x8f..\xef\xbc\x8f" "b", 0,
	    out, sizeof(out)), UTF8_OK);
	ck_assert_ptr_nonnull(strchr(out, '/'));
	ck_assert_int_eq(auth_valid_username(out), 0);
	/* U+FF0E FULLWIDTH FULL STOP twice becomes "..". */
	ck_assert_int_eq(utf8_saslprep("\xef\xbc\x8e\xef\xbc\x8e", 0, out,
	    sizeof(out)), UTF8_OK);
	unit_assert_str("dotdot", out, "..");
	ck_assert_int_eq(auth_valid_username(out), 0);
}
END_TEST

START_TEST(username_rules_utf8)
{
	ck_assert_int_eq(auth_valid_username("j\xc3\xbcrgen"), 1);
	ck_assert_int_eq(auth_valid_username("j\xc3rgen"), 0);
	ck_assert_int_eq(auth_valid_username("\xc0\xaf" "etc"), 0);
	ck_assert_int_eq(auth_valid_username("a\x7f"), 0);
	ck_assert_int_eq(auth_valid_username("a/b"), 0);
}
END_TEST

Suite *utf8_suite(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, valid_ascii_and_multibyte);
	tcase_add_test(tc, invalid_overlong);
	tcase_add_test(tc, invalid_continuation);
	tcase_add_test(tc, invalid_surrogates);
	tcase_add_test(tc, invalid_above_10ffff);
	tcase_add_test(tc, invalid_truncated);
	tcase_add_test(tc, ascii_test);
	tcase_add_test(tc, prep_nfc_and_nfd_agree);
	tcase_add_test(tc, prep_ascii_unchanged);
	tcase_add_test(tc, prep_refuses_invalid);
	tcase_add_test(tc, prep_refuses_prohibited);
	tcase_add_test(tc, prep_too_long);
	tcase_add_test(tc, fullwidth_solidus_never_a_path);
	tcase_add_test(tc, username_rules_utf8);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * check_config.c - the configuration file's reader (config.c) on its own:
 * config_parse() on buffers, with a callback that records what it is
 * given, and config_read() on files in a scratch directory.  The names
 * are not checked here (options.c does that, tests/e2e/config.sh drives
 * it): only that every line reaches the callback exactly as the file
 * says it, or is refused with the right line number.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "unit.h"

#define MAX_CALLS 16

/* What the callback saw: each name and value with the line it was on. */
struct seen {
	const unsigned *line;	/* config_parse's line counter */
	int calls;
	char name[MAX_CALLS][64];
	char value[MAX_CALLS][MAX_CONFIG_LINE + 1];
	unsigned at[MAX_CALLS];
	int fail_at;		/* refuse the call with this index, or -1 */
};

static struct seen seen;
static char why[1024];
static unsigned line;
static char *text;	/* the buffer being parsed: freed by the next parse */

static int record(void *ctx, const char *name, const char *value,
    char *w, size_t size)
{
	struct seen *s = ctx;
	int i = s->calls++;

	ck_assert_int_lt(i, MAX_CALLS);
	ck_assert_uint_lt(strlen(name), sizeof(s->name[0]));
	ck_assert_uint_le(strlen(value), MAX_CONFIG_LINE);
	strcpy(s->name[i], name);
	strcpy(s->value[i], value);
	s->at[i] = *s->line;
	if (i == s->fail_at) {
		snprintf(w, size, "refused by the callback");
		return -1;
	}
	return 0;
}

/*
 * Parses len bytes of src as a file's text.  The copy has one byte more,
 * as config_read's buffer has, but that byte is 'X', not NUL: a value
 * that ran past len would show it.
 */
static int parse_n(const char *src, size_t len, int fail_at)
{
	free(text);
	text = malloc(len + 1);
	ck_assert_ptr_nonnull(text);
	memcpy(text, src, len);
	text[len] = 'X';
	memset(&seen, 0, sizeof(seen));
	seen.line = &line;
	seen.fail_at = fail_at;
	line = 0;
	why[0] = '\0';
	return config_parse(text, len, record, &seen, &line, why,
	    sizeof(why));
}

static int parse(const char *src)
{
	return parse_n(src, strlen(src), -1);
}

static void assert_call(int i, const char *name, const char *value,
    unsigned at)
{
	ck_assert_int_gt(seen.calls, i);
	unit_assert_str("name", seen.name[i], name);
	unit_assert_str("value", seen.value[i], value);
	ck_assert_uint_eq(seen.at[i], at);
}

/* Refused on line at, with a reason that has text in it. */
static void assert_refused(int r, unsigned at, const char *reason)
{
	ck_assert_msg(r == -1, "accepted; %d settings", seen.calls);
	ck_assert_uint_eq(line, at);
	ck_assert_msg(strstr(why, reason) != NULL, "reason '%s' lacks '%s'",
	    why, reason);
}

/* A line of n bytes: "name = vvv...". */
static char *long_setting(size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_gt(n, 8);
	memcpy(s, "passwd = ", 9);
	memset(s + 9, 'v', n - 9);
	s[n] = '\0';
	return s;
}

/* ------------------------------------------------------ config_parse */

START_TEST(parse_empty_text)
{
	ck_assert_int_eq(parse(""), 0);
	ck_assert_int_eq(seen.calls, 0);
}
END_TEST

START_TEST(parse_trims_names_and_values)
{
	ck_assert_int_eq(parse("timeout=60\n \t timeout \t= \t 61 \t\n"
	    "a b = c d\n"), 0);
	ck_assert_int_eq(seen.calls, 3);
	assert_call(0, "timeout", "60", 1);
	assert_call(1, "timeout", "61", 2);
	/* Blanks inside stay: options.c refuses "a b" as a name. */
	assert_call(2, "a b", "c d", 3);
}
END_TEST

START_TEST(parse_last_line_without_newline)
{
	ck_assert_int_eq(parse("a = 1\nb = 2"), 0);
	ck_assert_int_eq(seen.calls, 2);
	assert_call(0, "a", "1", 1);
	/* Not "2X": the byte after the text is not part of it. */
	assert_call(1, "b", "2", 2);
}
END_TEST

START_TEST(parse_crlf)
{
	ck_assert_int_eq(parse("a = 1\r\nb = 2 \r\n\r\nc = 3\r"), 0);
	ck_assert_int_eq(seen.calls, 3);
	assert_call(0, "a", "1", 1);
	assert_call(1, "b", "2", 2);
	assert_call(2, "c", "3", 4);
	/* Only a CR that ends the line: one inside it is a control
	 * character, and so is a second one before the LF. */
	assert_refused(parse("a = 1\nb = x\ry\n"), 2, "control character 0x0d");
	assert_refused(parse("a = 1\r\r\n"), 1, "control character 0x0d");
}
END_TEST

START_TEST(parse_skips_blank_and_comment_lines)
{
	ck_assert_int_eq(parse("\n   \n\t\n# a comment = with an equals\n"
	    "  \t# indented comment\n#timeout = 5\nhostname = h\n\n#\n"
	    "apop = f\n"), 0);
	ck_assert_int_eq(seen.calls, 2);
	/* The skipped lines are counted. */
	assert_call(0, "hostname", "h", 7);
	assert_call(1, "apop", "f", 10);
}
END_TEST

START_TEST(parse_equals_inside_value)
{
	ck_assert_int_eq(parse("mailbox = /var/mail/a=b\nx==y\nz = = \n"),
	    0);
	ck_assert_int_eq(seen.calls, 3);
	assert_call(0, "mailbox", "/var/mail/a=b", 1);
	assert_call(1, "x", "=y", 2);
	assert_call(2, "z", "=", 3);
}
END_TEST

START_TEST(parse_empty_values)
{
	ck_assert_int_eq(parse("apop =\nmail-group = \t \ntimeout=\n"), 0);
	ck_assert_int_eq(seen.calls, 3);
	assert_call(0, "apop", "", 1);
	assert_call(1, "mail-group", "", 2);
	assert_call(2, "timeout", "", 3);
}
END_TEST

/* A '#' that is part of a word is part of the value: file names may
 * have one. */
START_TEST(parse_hash_inside_a_word)
{
	ck_assert_int_eq(parse("mailbox = /var/mail/#%u\napop = a#b#\n"), 0);
	assert_call(0, "mailbox", "/var/mail/#%u", 1);
	assert_call(1, "apop", "a#b#", 2);
}
END_TEST

START_TEST(parse_refuses_missing_equals)
{
	assert_refused(parse("a = 1\n# c\ntimeout 60\nb = 2\n"), 3,
	    "expected 'name = value'");
	/* Nothing after the refused line reaches the callback. */
	ck_assert_int_eq(seen.calls, 1);
	assert_refused(parse("tls\n"), 1, "expected 'name = value'");
}
END_TEST

START_TEST(parse_refuses_no_name)
{
	assert_refused(parse("a = 1\n= 60\n"), 2, "no name before '='");
	assert_refused(parse("\n\n \t = 60\n"), 3, "no name before '='");
	assert_refused(parse("=\n"), 1, "no name before '='");
}
END_TEST

/* Comments take whole lines: "# ..." after a value would otherwise end
 * up in it. */
static const char *const trailing[] = {
	"timeout = 60 # one minute\n",
	"timeout = 60\t# one minute\n",
	"passwd = /etc/pop3d/passwd #\n",
	"mailbox = /var/mail/%u #x\n",
	/* A value that is nothing but a comment: "apop = # off" must not
	 * make "# off" the APOP file's name. */
	"apop = # off\n",
	"apop =# off\n",
	"apop =\t#\n",
};

START_TEST(parse_refuses_trailing_comment)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "a = 1\n\n%s", trailing[_i]);
	assert_refused(parse(buf), 3, "comment after a value");
	ck_assert_int_eq(seen.calls, 1);
}
END_TEST

START_TEST(parse_line_length_bounds)
{
	char *at = long_setting(MAX_CONFIG_LINE);
	char *over = long_setting(MAX_CONFIG_LINE + 1);
	char *buf = malloc(2 * MAX_CONFIG_LINE + 64);

	ck_assert_ptr_nonnull(buf);
	/* Exactly MAX_CONFIG_LINE bytes: accepted, whole. */
	sprintf(buf, "a = 1\n%s\n", at);
	ck_assert_int_eq(parse(buf), 0);
	ck_assert_int_eq(seen.calls, 2);
	assert_call(1, "passwd", at + 9, 2);
	/* ... also before a CRLF (the CR is not the line's) and as the
	 * last line without a newline. */
	sprintf(buf, "%s\r\n", at);
	ck_assert_int_eq(parse(buf), 0);
	assert_call(0, "passwd", at + 9, 1);
	ck_assert_int_eq(parse(at), 0);
	assert_call(0, "passwd", at + 9, 1);
	/* One more: refused, with its line. */
	sprintf(buf, "a = 1\n\n%s\nb = 2\n", over);
	assert_refused(parse(buf), 3, "line longer than");
	ck_assert_int_eq(seen.calls, 1);
	assert_refused(parse(over), 1, "line longer than");
	sprintf(buf, "%s\r\n", over);
	assert_refused(parse(buf), 1, "line longer than");
	/* A comment is a line too. */
	over[0] = '#';
	sprintf(buf, "a = 1\n%s\n", over);
	assert_refused(parse(buf), 2, "line longer than");
	free(at);
	free(over);
	free(buf);
}
END_TEST

/* Control characters, in a value, a name, a comment or a blank line. */
static const char *const control[] = {
	"a = 1\nb = x\001y\n",
	"a = 1\nb = \033[1m\n",
	"a = 1\nb\010 = y\n",
	"a = 1\n# \033 in a comment\n",
	"a = 1\n \v \n",
	"a = 1\nb = y\f\n",
	/* DEL: as invisible in an editor as the others. */
	"a = 1\nb = x\177\n",
};

START_TEST(parse_refuses_control_character)
{
	assert_refused(parse(control[_i]), 2, "control character");
	ck_assert_int_eq(seen.calls, 1);
}
END_TEST

/* A NUL in the text is a control character too, not its end. */
START_TEST(parse_refuses_nul_byte)
{
	static const char t[] = "a = 1\n\nb = x\0y\nc = 3\n";

	assert_refused(parse_n(t, sizeof(t) - 1, -1), 3,
	    "control character 0x00");
	ck_assert_int_eq(seen.calls, 1);
}
END_TEST

/* Tabs are blanks, and 8-bit bytes (UTF-8 file names) are text. */
START_TEST(parse_accepts_tab_and_8bit)
{
	ck_assert_int_eq(parse("passwd\t=\t/etc/p\303\266p3d/passwd\n"
	    "hostname = a\tb\n"), 0);
	assert_call(0, "passwd", "/etc/p\303\266p3d/passwd", 1);
	assert_call(1, "hostname", "a\tb", 2);
}
END_TEST

START_TEST(parse_propagates_callback_error)
{
	const char *t = "a = 1\n# x\nb = 2\n\nc = 3\nd = 4\n";

	assert_refused(parse_n(t, strlen(t), 2), 5, "refused by the callback");
	/* The one refused was the last one given. */
	ck_assert_int_eq(seen.calls, 3);
	assert_call(2, "c", "3", 5);
	assert_refused(parse_n(t, strlen(t), 0), 1, "refused by the callback");
	ck_assert_int_eq(seen.calls, 1);
}
END_TEST

/* ------------------------------------------------------- config_read */

static char *rbuf;
static size_t rlen;

static int read_at(const char *path, int must_exist)
{
	free(rbuf);
	rbuf = (char *)1;	/* must be set to NULL or a buffer */
	rlen = 12345;
	why[0] = '\0';
	return config_read(path, must_exist, &rbuf, &rlen, why, sizeof(why));
}

static void assert_why_has(const char *s)
{
	ck_assert_msg(strstr(why, s) != NULL, "reason '%s' lacks '%s'", why, s);
}

START_TEST(read_missing_file)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "pop3d.conf");
	/* Not there, not required: nothing read, no error. */
	ck_assert_int_eq(read_at(path, 0), 0);
	ck_assert_ptr_null(rbuf);
	ck_assert_uint_eq(rlen, 0);
	/* Required (--config): an error naming the file. */
	ck_assert_int_eq(read_at(path, 1), -1);
	ck_assert_ptr_null(rbuf);
	assert_why_has(path);
	/* A missing directory on the way is a missing file as well. */
	unit_path(path, sizeof(path), dir, "none/pop3d.conf");
	ck_assert_int_eq(read_at(path, 0), 0);
	ck_assert_int_eq(read_at(path, 1), -1);
}
END_TEST

/* Only "not there at all" may be skipped: a dangling link, or a name
 * that goes through a file, could hide settings. */
START_TEST(read_dangling_link_is_not_missing)
{
	char dir[PATH_MAX], path[PATH_MAX], sub[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "pop3d.conf");
	ck_assert_int_eq(symlink("nowhere", path), 0);
	ck_assert_int_eq(read_at(path, 0), -1);
	ck_assert_ptr_null(rbuf);
	unit_path(path, sizeof(path), dir, "file");
	unit_write_str(path, "a = 1\n", 0644);
	unit_path(sub, sizeof(sub), path, "pop3d.conf");
	ck_assert_int_eq(read_at(sub, 0), -1);
}
END_TEST

START_TEST(read_whole_file)
{
	char dir[PATH_MAX], path[PATH_MAX];
	const char *t = "# x\ntimeout = 5\nb = 2";

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "pop3d.conf");
	unit_write_str(path, t, 0644);
	ck_assert_int_eq(read_at(path, 0), 1);
	unit_assert_bytes("text", rbuf, rlen, t, strlen(t));
	ck_assert_int_eq(rbuf[rlen], '\0');
	ck_assert_int_eq(read_at(path, 1), 1);
	unit_assert_bytes("text", rbuf, rlen, t, strlen(t));
	/* Empty: read, no settings. */
	unit_write_str(path, "", 0644);
	ck_assert_int_eq(read_at(path, 1), 1);
	ck_assert_uint_eq(rlen, 0);
	ck_assert_ptr_nonnull(rbuf);
	ck_assert_int_eq(rbuf[0], '\0');
}
END_TEST

/* A file of n bytes: lines of 'x' in comments, the last byte a newline. */
static void write_sized(const char *path, size_t n)
{
	char *b = malloc(n);

	ck_assert_ptr_nonnull(b);
	memset(b, 'x', n);
	for (size_t i = 0; i < n; i += 100) {
		b[i] = '#';
		if (i + 99 < n)
			b[i + 99] = '\n';
	}
	b[n - 1] = '\n';
	unit_write_file(path, b, n, 0644);
	free(b);
}

START_TEST(read_size_bounds)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "pop3d.conf");
	write_sized(path, MAX_CONFIG_SIZE);
	ck_assert_int_eq(read_at(path, 1), 1);
	ck_assert_uint_eq(rlen, MAX_CONFIG_SIZE);
	ck_assert_int_eq(rbuf[rlen], '\0');
	/* And it parses: the whole text, every line a comment. */
	line = 0;
	memset(&seen, 0, sizeof(seen));
	seen.line = &line;
	seen.fail_at = -1;
	ck_assert_int_eq(config_parse(rbuf, rlen, record, &seen, &line, why,
	    sizeof(why)), 0);
	ck_assert_uint_eq(line, (MAX_CONFIG_SIZE + 99) / 100);
	write_sized(path, MAX_CONFIG_SIZE + 1);
	ck_assert_int_eq(read_at(path, 0), -1);
	ck_assert_ptr_null(rbuf);
	assert_why_has(path);
	assert_why_has("larger than");
	write_sized(path, 4 * MAX_CONFIG_SIZE);
	ck_assert_int_eq(read_at(path, 0), -1);
	assert_why_has("larger than");
}
END_TEST

START_TEST(read_refuses_nul_byte)
{
	static const char t[] = "a = 1\n# c\nb = \0\nc = 3\n";
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "pop3d.conf");
	unit_write_file(path, t, sizeof(t) - 1, 0644);
	ck_assert_int_eq(read_at(path, 0), -1);
	ck_assert_ptr_null(rbuf);
	assert_why_has("NUL");
	/* The administrator is told where it is: the file and its line. */
	{
		char at[PATH_MAX + 16];

		snprintf(at, sizeof(at), "%s:3:", path);
		assert_why_has(at);
	}
	/* A NUL as the very last byte, after the last newline. */
	unit_write_file(path, "a = 1\n\0", 7, 0644);
	ck_assert_int_eq(read_at(path, 0), -1);
	assert_why_has("NUL");
}
END_TEST

/* Through trust_open(): the rules are check_trust.c's; here only that
 * config_read() applies them, present or required. */
START_TEST(read_untrusted_file)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "pop3d.conf");
	unit_write_str(path, "timeout = 5\n", 0666);
	ck_assert_int_eq(read_at(path, 0), -1);
	ck_assert_ptr_null(rbuf);
	assert_why_has("chmod go-w");
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(read_at(path, 0), 1);
	/* A directory is no file. */
	ck_assert_int_eq(read_at(dir, 0), -1);
}
END_TEST

static void read_teardown(void)
{
	free(rbuf);
	rbuf = NULL;
	free(text);
	text = NULL;
	unit_tmp_teardown();
}

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, parse_empty_text);
	tcase_add_test(tc, parse_trims_names_and_values);
	tcase_add_test(tc, parse_last_line_without_newline);
	tcase_add_test(tc, parse_crlf);
	tcase_add_test(tc, parse_skips_blank_and_comment_lines);
	tcase_add_test(tc, parse_equals_inside_value);
	tcase_add_test(tc, parse_empty_values);
	tcase_add_test(tc, parse_hash_inside_a_word);
	tcase_add_test(tc, parse_refuses_missing_equals);
	tcase_add_test(tc, parse_refuses_no_name);
	tcase_add_loop_test(tc, parse_refuses_trailing_comment, 0,
	    (int)(sizeof(trailing) / sizeof(trailing[0])));
	tcase_add_test(tc, parse_line_length_bounds);
	tcase_add_loop_test(tc, parse_refuses_control_character, 0,
	    (int)(sizeof(control) / sizeof(control[0])));
	tcase_add_test(tc, parse_refuses_nul_byte);
	tcase_add_test(tc, parse_accepts_tab_and_8bit);
	tcase_add_test(tc, parse_propagates_callback_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, read_teardown);
	tcase_add_test(tc, read_missing_file);
	tcase_add_test(tc, read_dangling_link_is_not_missing);
	tcase_add_test(tc, read_whole_file);
	tcase_add_test(tc, read_size_bounds);
	tcase_add_test(tc, read_refuses_nul_byte);
	tcase_add_test(tc, read_untrusted_file);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * check_session.c - the POP3 state machine: parse_msgnum, expand_mailbox,
 * and whole sessions through session_run().
 *
 * Every session runs in a child process.  When the suite runs as root (as
 * CI does), the child first becomes uid/gid 65534, because session.c
 * refuses to serve mail as root; the scratch directory and the maildrop
 * are then owned by 65534.  Input comes from a file, so every command is
 * pipelined and the session ends at EOF.
 */
#include <check.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"
#include "unit.h"

#define NOBODY 65534

/* ------------------------------------------------------ parse_msgnum */

START_TEST(msgnum_accepts_numbers_in_range)
{
	const char *why = NULL;

	ck_assert_int_eq(parse_msgnum("1", 3, &why), 0);
	ck_assert_int_eq(parse_msgnum("2", 3, &why), 1);
	ck_assert_int_eq(parse_msgnum("3", 3, &why), 2);
}
END_TEST

START_TEST(msgnum_above_count_rejected)
{
	const char *why = NULL;

	ck_assert_int_eq(parse_msgnum("4", 3, &why), -1);
	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(strncmp(why, "-ERR", 4), 0);
	ck_assert_int_eq(parse_msgnum("1", 0, &why), -1);
}
END_TEST

START_TEST(msgnum_zero_says_counted_from_one)
{
	const char *why = NULL;

	ck_assert_int_eq(parse_msgnum("0", 3, &why), -1);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strstr(why, "counted from 1") != NULL,
	    "reason \"%s\"", why);
}
END_TEST

static const char *const bad_msgnums[] = {
	"-1", "+1", "1a", "a1", "", " 1", "1 ", "0x1", "1.0", "-0",
	"4294967297", "4294967296", "18446744073709551617",
	"99999999999999999999", "999999999999999999999999999999",
};

START_TEST(msgnum_malformed_rejected)
{
	const char *why = NULL;
	long r = parse_msgnum(bad_msgnums[_i], 10, &why);

	ck_assert_msg(r == -1, "\"%s\" gave %ld", bad_msgnums[_i], r);
	ck_assert_ptr_nonnull(why);
	ck_assert_int_eq(strncmp(why, "-ERR", 4), 0);
	/* A huge mailbox must not turn an overflow into a valid number. */
	r = parse_msgnum(bad_msgnums[_i], MAX_MAILBOX_MESSAGES, &why);
	ck_assert_msg(r == -1, "\"%s\" gave %ld with a huge count",
	    bad_msgnums[_i], r);
}
END_TEST

/* ---------------------------------------------------- expand_mailbox */

static struct pw_entry pw;

static void entry(const char *line)
{
	const char *why;

	ck_assert_int_eq(passwd_parse_line(line, 1, &pw, &why), 1);
}

START_TEST(expand_user_name)
{
	char buf[64];

	entry("alice:x");
	ck_assert_int_eq(expand_mailbox("/var/mail/%u", &pw, buf, sizeof(buf)),
	    0);
	ck_assert_str_eq(buf, "/var/mail/alice");
}
END_TEST

START_TEST(expand_home_directory)
{
	char buf[64];

	entry("alice:x:1000:1000::/home/alice");
	ck_assert_int_eq(expand_mailbox("%h/Mail/%u.mbox", &pw, buf,
	    sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/home/alice/Mail/alice.mbox");
}
END_TEST

START_TEST(expand_percent_sign)
{
	char buf[64];

	entry("alice:x");
	ck_assert_int_eq(expand_mailbox("/m/100%%/%u%%", &pw, buf,
	    sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/m/100%/alice%");
}
END_TEST

START_TEST(expand_missing_home_fails)
{
	char buf[64];

	entry("alice:x");
	ck_assert_int_eq(expand_mailbox("%h/mbox", &pw, buf, sizeof(buf)), -1);
}
END_TEST

START_TEST(expand_unknown_escape_fails)
{
	char buf[64];

	entry("alice:x");
	ck_assert_int_eq(expand_mailbox("/var/mail/%x", &pw, buf, sizeof(buf)),
	    -1);
	ck_assert_int_eq(expand_mailbox("/var/mail/%", &pw, buf, sizeof(buf)),
	    -1);
	ck_assert_int_eq(expand_mailbox("/var/mail/%U", &pw, buf, sizeof(buf)),
	    -1);
}
END_TEST

START_TEST(expand_overflow_fails)
{
	char buf[16];

	entry("alice:x");
	/* "/var/mail/alice" is 15 characters: fits with its NUL. */
	ck_assert_int_eq(expand_mailbox("/var/mail/%u", &pw, buf, 16), 0);
	ck_assert_str_eq(buf, "/var/mail/alice");
	ck_assert_int_eq(expand_mailbox("/var/mail/%u", &pw, buf, 15), -1);
	ck_assert_int_eq(expand_mailbox("/var/mail/x/%u", &pw, buf, 16), -1);
	ck_assert_int_eq(expand_mailbox("/var/mail/alice/", &pw, buf, 16), -1);
}
END_TEST

START_TEST(expand_empty_result_fails)
{
	char buf[16];

	entry("alice:x");
	ck_assert_int_eq(expand_mailbox("", &pw, buf, sizeof(buf)), -1);
}
END_TEST

/* ------------------------------------------------ session machinery */

#define FROM1 "From alice@example.org Mon Jan  1 00:00:00 2024\n"
#define FROM2 "From bob@example.org Tue Jan  2 00:00:00 2024\n"
#define M1 "Received: by mx; Mon, 1 Jan 2024 00:00:00 +0000\n" \
	"Subject: one\n\nfirst body\n"
#define M2 "Received: by mx; Tue, 2 Jan 2024 00:00:00 +0000\n" \
	"Subject: two\n\n.dotted\nsecond body\n"
#define MBOX2 FROM1 M1 "\n" FROM2 M2
/* What RETR sends for them. */
#define M1_WIRE "Received: by mx; Mon, 1 Jan 2024 00:00:00 +0000\r\n" \
	"Subject: one\r\n\r\nfirst body\r\n.\r\n"
#define M2_WIRE "Received: by mx; Tue, 2 Jan 2024 00:00:00 +0000\r\n" \
	"Subject: two\r\n\r\n..dotted\r\nsecond body\r\n.\r\n"

#define GREETING "+OK POP3 server ready\r\n"
#define BYE "+OK pop3d signing off\r\n"
#define WRONG_STATE "-ERR command not valid in this state\r\n"
#define AUTH_FAIL "-ERR [AUTH] authentication failed\r\n"
#define LOGIN "USER alice\r\nPASS secret\r\n"

struct sess {
	char dir[PATH_MAX];
	char passwd[PATH_MAX];
	char tmpl[PATH_MAX];
	char mbox[PATH_MAX];		/* alice's maildrop */
	struct config cfg;
};

static int running_as_root(void)
{
	return geteuid() == 0;
}

/* Gives a file to the session user when the suite runs as root. */
static void own(const char *path)
{
	if (running_as_root())
		ck_assert_msg(chown(path, NOBODY, NOBODY) == 0, "chown %s: %s",
		    path, strerror(errno));
}

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

/*
 * A scratch directory with a password file (alice/secret and a locked
 * user) and, unless mbox_text is NULL, alice's maildrop DIR/alice.mbox.
 * The template is DIR/%u.mbox.
 */
static void sess_init(struct sess *s, const char *mbox_text)
{
	char h[256], text[2048];

	memset(s, 0, sizeof(*s));
	unit_tmpdir(s->dir, sizeof(s->dir));
	own(s->dir);
	unit_path(s->passwd, sizeof(s->passwd), s->dir, "passwd");
	unit_path(s->tmpl, sizeof(s->tmpl), s->dir, "%u.mbox");
	unit_path(s->mbox, sizeof(s->mbox), s->dir, "alice.mbox");
	make_hash("secret", h, sizeof(h));
	snprintf(text, sizeof(text), "alice:%s\nlocked:!%s\n", h, h);
	unit_write_str(s->passwd, text, 0644);
	if (mbox_text) {
		unit_write_str(s->mbox, mbox_text, 0600);
		own(s->mbox);
	}
	s->cfg.passwd_file = s->passwd;
	s->cfg.mailbox_template = s->tmpl;
	s->cfg.apop_file = NULL;
	s->cfg.hostname = "test.example";
	/* No TLS here: plaintext logins as from a pipe. */
	s->cfg.plaintext = PLAINTEXT_ALWAYS;
	s->cfg.timeout = 30;
}

/* Exit codes of the session child when it cannot even start. */
#define CHILD_SETUP_FAILED 100

/* Runs one session on len bytes of input; returns its output and, in
 * *status_r, its exit status. */
static char *sess_run_bytes(const struct sess *s, const char *input,
    size_t len, int *status_r)
{
	char in[PATH_MAX], out[PATH_MAX];
	int in_fd, out_fd, wst;
	pid_t pid;

	unit_path(in, sizeof(in), s->dir, "input");
	unit_path(out, sizeof(out), s->dir, "output");
	unit_write_file(in, input, len, 0600);
	in_fd = open(in, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(in_fd, 0);
	out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(out_fd, 0);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct auth_local al = { &s->cfg, 0 };
		const struct login_checker lc = { auth_local_check, NULL, &al, NULL };
		int status;

		if (running_as_root()) {
			gid_t g = NOBODY;

			if (setgroups(1, &g) < 0 || setgid(NOBODY) < 0 ||
			    setuid(NOBODY) < 0 || geteuid() != NOBODY)
				_exit(CHILD_SETUP_FAILED);
		}
		status = session_run(&s->cfg, in_fd, out_fd, &lc, NULL);
		/* _exit: the child must not run the runner's exit code. */
		_exit(status);
	}
	close(in_fd);
	close(out_fd);
	ck_assert_int_eq(waitpid(pid, &wst, 0), pid);
	ck_assert_msg(WIFEXITED(wst), "session child killed by signal %d",
	    WIFSIGNALED(wst) ? WTERMSIG(wst) : 0);
	ck_assert_msg(WEXITSTATUS(wst) != CHILD_SETUP_FAILED,
	    "could not become uid %d", NOBODY);
	if (status_r)
		*status_r = WEXITSTATUS(wst);
	return unit_read_file(out, NULL);
}

/* Runs a session and compares its whole output and exit status. */
static void expect_session_bytes(const struct sess *s, const char *input,
    size_t len, const char *want, int want_status)
{
	int status;
	char *got = sess_run_bytes(s, input, len, &status);

	unit_assert_str("session output", got, want);
	ck_assert_int_eq(status, want_status);
	free(got);
}

static void expect_session(const struct sess *s, const char *input,
    const char *want, int want_status)
{
	expect_session_bytes(s, input, strlen(input), want, want_status);
}

/* Appends a line to the password file. */
static void sess_add_passwd(const struct sess *s, const char *line)
{
	char *old = unit_read_file(s->passwd, NULL);
	size_t len = strlen(old) + strlen(line) + 1;
	char *text = malloc(len);

	ck_assert_ptr_nonnull(text);
	snprintf(text, len, "%s%s", old, line);
	unit_write_str(s->passwd, text, 0644);
	free(text);
	free(old);
}

/* A growing expected-output string. */
static char want_buf[16384];
static size_t want_len;

static void want_reset(void)
{
	want_len = 0;
	want_buf[0] = '\0';
}

static void want_add(const char *fmt, ...) ATTR_PRINTF(1, 2);
static void want_add(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(want_buf + want_len, sizeof(want_buf) - want_len, fmt,
	    ap);
	va_end(ap);
	ck_assert(n >= 0 && (size_t)n < sizeof(want_buf) - want_len);
	want_len += (size_t)n;
}

/* Octets of stored text with CRLF line ends (no byte-stuffing). */
static unsigned long long crlf_octets(const char *t)
{
	unsigned long long n = 0;
	size_t i;

	for (i = 0; t[i]; i++)
		n += (t[i] == '\n' && (i == 0 || t[i - 1] != '\r')) ? 2 : 1;
	return n;
}

/* The maildrop's UIDs as pop3d computes them (checked in check_mbox). */
static void uids_of(const char *path, char uid[][MAX_UID_LEN + 1],
    size_t n)
{
	struct mbox_index idx;
	size_t i;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(mbox_scan(fd, UINT64_MAX, &idx), MBOX_OK);
	close(fd);
	ck_assert_uint_eq(idx.count, n);
	for (i = 0; i < n; i++)
		mbox_uid(&idx.msgs[i], uid[i]);
	mbox_index_free(&idx);
}

static void assert_file(const char *path, const char *want)
{
	char *got = unit_read_file(path, NULL);

	unit_assert_str(path, got, want);
	free(got);
}

/* --------------------------------------------------- AUTHORIZATION */

START_TEST(session_greeting_and_quit)
{
	struct sess s;

	sess_init(&s, MBOX2);
	expect_session(&s, "QUIT\r\n", GREETING BYE, 0);
}
END_TEST

START_TEST(session_transaction_commands_refused_before_login)
{
	struct sess s;

	sess_init(&s, MBOX2);
	expect_session(&s, "STAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n",
	    GREETING WRONG_STATE WRONG_STATE WRONG_STATE WRONG_STATE BYE, 0);
	assert_file(s.mbox, MBOX2);
}
END_TEST

START_TEST(session_authorization_commands_refused_after_login)
{
	struct sess s;
	unsigned long long total = crlf_octets(M1) + crlf_octets(M2);

	sess_init(&s, MBOX2);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 2 messages (%llu octets)\r\n", total);
	want_add(WRONG_STATE WRONG_STATE WRONG_STATE);
	want_add("+OK pop3d signing off (2 messages left)\r\n");
	expect_session(&s, LOGIN "USER alice\r\nPASS secret\r\n"
	    "APOP alice 0123456789abcdef0123456789abcdef\r\nQUIT\r\n",
	    want_buf, 0);
}
END_TEST

START_TEST(session_unknown_command_gets_err)
{
	struct sess s;

	sess_init(&s, MBOX2);
	expect_session(&s, "HELO there\r\nQUIT\r\n",
	    GREETING "-ERR unknown command\r\n" BYE, 0);
}
END_TEST

START_TEST(session_commands_are_case_insensitive)
{
	struct sess s;
	unsigned long long total = crlf_octets(M1) + crlf_octets(M2);

	sess_init(&s, MBOX2);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 2 messages (%llu octets)\r\n", total);
	want_add("+OK 2 %llu\r\n", total);
	want_add("+OK pop3d signing off (2 messages left)\r\n");
	expect_session(&s, "user alice\r\npAsS secret\r\nsTaT\r\nQuIt\r\n",
	    want_buf, 0);
}
END_TEST

START_TEST(session_bare_lf_ends_command_lines)
{
	struct sess s;
	unsigned long long total = crlf_octets(M1) + crlf_octets(M2);

	sess_init(&s, MBOX2);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 2 messages (%llu octets)\r\n", total);
	want_add("+OK pop3d signing off (2 messages left)\r\n");
	expect_session(&s, "USER alice\nPASS secret\nQUIT\n", want_buf, 0);
}
END_TEST

START_TEST(session_pass_without_user_gets_err)
{
	struct sess s;

	sess_init(&s, MBOX2);
	expect_session(&s, "PASS secret\r\nQUIT\r\n",
	    GREETING "-ERR give USER first\r\n" BYE, 0);
}
END_TEST

START_TEST(session_wrong_password_gets_auth_err)
{
	struct sess s;

	sess_init(&s, MBOX2);
	expect_session(&s, "USER alice\r\nPASS Secret\r\nQUIT\r\n",
	    GREETING "+OK send PASS\r\n" AUTH_FAIL BYE, 0);
}
END_TEST

START_TEST(session_unknown_user_gets_same_answer)
{
	struct sess s;

	sess_init(&s, MBOX2);
	expect_session(&s, "USER mallory\r\nPASS secret\r\nQUIT\r\n",
	    GREETING "+OK send PASS\r\n" AUTH_FAIL BYE, 0);
}
END_TEST

START_TEST(session_three_failures_close_session)
{
	struct sess s;

	sess_init(&s, MBOX2);
	/* The right password after the limit must not be tried. */
	expect_session(&s, "USER alice\r\nPASS a\r\nUSER locked\r\n"
	    "PASS secret\r\nUSER alice\r\nPASS c\r\n" LOGIN "STAT\r\n",
	    GREETING "+OK send PASS\r\n" AUTH_FAIL "+OK send PASS\r\n"
	    AUTH_FAIL "+OK send PASS\r\n"
	    "-ERR [AUTH] too many failures, closing connection\r\n", 0);
}
END_TEST

START_TEST(session_capa_in_authorization)
{
	struct sess s;

	sess_init(&s, MBOX2);
	expect_session(&s, "CAPA\r\nQUIT\r\n", GREETING
	    "+OK capability list follows\r\nTOP\r\nUIDL\r\nUSER\r\n"
	    "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\nUTF8 USER\r\nSASL PLAIN LOGIN\r\n"
	    ".\r\n" BYE, 0);
}
END_TEST

START_TEST(session_apop_not_offered_without_secrets_file)
{
	struct sess s;

	sess_init(&s, MBOX2);
	expect_session(&s, "APOP alice c4c9334bac560ecc979e58001b3e22fb\r\n"
	    "QUIT\r\n", GREETING "-ERR APOP not available\r\n" BYE, 0);
}
END_TEST

/* ----------------------------------------------------------- grammar */
/* RFC 1939 section 3: a keyword, then each argument after exactly one
 * space; keywords and arguments of printable characters.  Anything else
 * is a syntax error, in either state, for every command. */

#define SYNTAX "-ERR syntax error\r\n"

static const char *const malformed_auth[] = {
	"USER  alice", "USER alice ", " USER alice", "USER\talice",
	"USER alice\t", "USER al\033ice", "APOP alice  0123456789abcdef",
	"APOP alice 0123456789abcdef ", "AUTH  PLAIN", "AUTH PLAIN ",
	"CAPA ", " CAPA", "CAPA\t", "STLS ", "QUIT ", "PASS\tsecret",
	" PASS secret", "PASS ", " ",
};

START_TEST(grammar_malformed_line_refused_before_login)
{
	struct sess s;
	char in[128];

	sess_init(&s, MBOX2);
	snprintf(in, sizeof(in), "%s\r\nQUIT\r\n", malformed_auth[_i]);
	expect_session(&s, in, GREETING SYNTAX BYE, 0);
}
END_TEST

static const char *const malformed_trans[] = {
	"RETR  1", " RETR 1", "RETR 1 ", "RETR\t1", "RETR 1\t",
	"DELE  1", " DELE 1", "DELE 1 ", "DELE\t1", "DELE 1\t",
	"LIST  1", "LIST 1 ", "LIST ", "LIST\t1", "UIDL  1", "UIDL 1 ",
	"UIDL ", "UIDL\t1", "TOP  1 0", "TOP 1  0", "TOP 1 0 ", "TOP\t1 0",
	"TOP 1\t0", " TOP 1 0", "STAT ", " STAT", "STAT\t", "NOOP ",
	"NO\001OP", "RSET ", "CAPA ", "QUIT ", " QUIT", "QUIT\t",
};

START_TEST(grammar_malformed_line_refused_after_login)
{
	struct sess s;
	char in[128];
	unsigned long long total = crlf_octets(M1) + crlf_octets(M2);

	sess_init(&s, MBOX2);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 2 messages (%llu octets)\r\n", total);
	want_add(SYNTAX "+OK pop3d signing off (2 messages left)\r\n");
	snprintf(in, sizeof(in), LOGIN "%s\r\nQUIT\r\n", malformed_trans[_i]);
	expect_session(&s, in, want_buf, 0);
	/* A refused DELE deleted nothing, a refused QUIT ended nothing. */
	assert_file(s.mbox, MBOX2);
}
END_TEST

START_TEST(grammar_unknown_keyword_stays_unknown)
{
	struct sess s;

	sess_init(&s, MBOX2);
	expect_session(&s, "XYZZ  1\r\nXYZZ 1 \r\nQUIT\r\n", GREETING
	    "-ERR unknown command\r\n-ERR unknown command\r\n" BYE, 0);
}
END_TEST

START_TEST(grammar_empty_line_is_unknown_command)
{
	struct sess s;

	sess_init(&s, MBOX2);
	expect_session(&s, "\r\nQUIT\r\n",
	    GREETING "-ERR unknown command\r\n" BYE, 0);
}
END_TEST

START_TEST(grammar_pass_takes_rest_of_line_verbatim)
{
	struct sess s;
	char h[256], line[300];

	sess_init(&s, MBOX2);
	make_hash(" two  words ", h, sizeof(h));
	snprintf(line, sizeof(line), "bob:%s\n", h);
	sess_add_passwd(&s, line);
	/* The spaces are the password's: without them, another password. */
	expect_session(&s, "USER bob\r\nPASS two words\r\n"
	    "USER bob\r\nPASS  two  words \r\nQUIT\r\n",
	    GREETING "+OK send PASS\r\n" AUTH_FAIL "+OK send PASS\r\n"
	    "+OK maildrop has 0 messages (0 octets)\r\n"
	    "+OK pop3d signing off (0 messages left)\r\n", 0);
}
END_TEST

START_TEST(grammar_forty_character_argument_served)
{
	struct sess s;
	char h[256], line[300];
	static const char name[] = "abcdefghijabcdefghijabcdefghijabcdefghij";

	ck_assert_uint_eq(strlen(name), 40);
	sess_init(&s, MBOX2);
	make_hash("secret", h, sizeof(h));
	snprintf(line, sizeof(line), "%s:%s\n", name, h);
	sess_add_passwd(&s, line);
	expect_session(&s, "USER abcdefghijabcdefghijabcdefghijabcdefghij\r\n"
	    "PASS secret\r\nQUIT\r\n", GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 0 messages (0 octets)\r\n"
	    "+OK pop3d signing off (0 messages left)\r\n", 0);
}
END_TEST

/* ------------------------------------------------------ TRANSACTION */

START_TEST(session_full_transaction)
{
	struct sess s;
	char uid[2][MAX_UID_LEN + 1];
	unsigned long long s1 = crlf_octets(M1), s2 = crlf_octets(M2);

	sess_init(&s, MBOX2);
	uids_of(s.mbox, uid, 2);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 2 messages (%llu octets)\r\n", s1 + s2);
	/* STAT, LIST, LIST 2 */
	want_add("+OK 2 %llu\r\n", s1 + s2);
	want_add("+OK 2 messages (%llu octets)\r\n1 %llu\r\n2 %llu\r\n.\r\n",
	    s1 + s2, s1, s2);
	want_add("+OK 2 %llu\r\n", s2);
	/* UIDL, UIDL 1 */
	want_add("+OK unique-id listing follows\r\n1 %s\r\n2 %s\r\n.\r\n",
	    uid[0], uid[1]);
	want_add("+OK 1 %s\r\n", uid[0]);
	/* RETR 1, RETR 2 */
	want_add("+OK %llu octets\r\n" M1_WIRE, s1);
	want_add("+OK %llu octets\r\n" M2_WIRE, s2);
	/* DELE 1, STAT, LIST */
	want_add("+OK message 1 deleted\r\n");
	want_add("+OK 1 %llu\r\n", s2);
	want_add("+OK 1 message (%llu octets)\r\n2 %llu\r\n.\r\n", s2, s2);
	/* RSET, STAT, NOOP, QUIT */
	want_add("+OK maildrop has 2 messages (%llu octets)\r\n", s1 + s2);
	want_add("+OK 2 %llu\r\n", s1 + s2);
	want_add("+OK nothing done\r\n");
	want_add("+OK pop3d signing off (2 messages left)\r\n");
	expect_session(&s, LOGIN "STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\n"
	    "UIDL 1\r\nRETR 1\r\nRETR 2\r\nDELE 1\r\nSTAT\r\nLIST\r\n"
	    "RSET\r\nSTAT\r\nNOOP\r\nQUIT\r\n", want_buf, 0);
	/* Nothing deleted: the maildrop is untouched. */
	assert_file(s.mbox, MBOX2);
}
END_TEST

START_TEST(session_top_sends_header_and_lines)
{
	struct sess s;
	unsigned long long s2 = crlf_octets(M2);

	sess_init(&s, MBOX2);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 2 messages (%llu octets)\r\n",
	    crlf_octets(M1) + s2);
	want_add("+OK %llu octets\r\nReceived: by mx; Tue, 2 Jan 2024 "
	    "00:00:00 +0000\r\nSubject: two\r\n\r\n..dotted\r\n.\r\n", s2);
	want_add("-ERR invalid line count\r\n");
	want_add("+OK pop3d signing off (2 messages left)\r\n");
	expect_session(&s, LOGIN "TOP 2 1\r\nTOP 2 -1\r\nQUIT\r\n", want_buf,
	    0);
}
END_TEST

START_TEST(session_deleted_message_refused)
{
	struct sess s;
	unsigned long long total = crlf_octets(M1) + crlf_octets(M2);
	static const char del[] = "-ERR message already deleted\r\n";

	sess_init(&s, MBOX2);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 2 messages (%llu octets)\r\n", total);
	want_add("+OK message 1 deleted\r\n");
	want_add("%s%s%s%s%s", del, del, del, del, del);
	expect_session(&s, LOGIN "DELE 1\r\nLIST 1\r\nRETR 1\r\nTOP 1 0\r\n"
	    "UIDL 1\r\nDELE 1\r\n", want_buf, 0);
}
END_TEST

START_TEST(session_bad_message_numbers_refused)
{
	struct sess s;
	unsigned long long total = crlf_octets(M1) + crlf_octets(M2);

	sess_init(&s, MBOX2);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 2 messages (%llu octets)\r\n", total);
	want_add("-ERR messages are counted from 1\r\n");
	want_add("-ERR no such message\r\n");
	want_add("-ERR invalid message number\r\n");
	want_add("-ERR no such message\r\n");
	want_add("-ERR syntax error\r\n");
	want_add("-ERR syntax error\r\n");
	want_add("+OK pop3d signing off (2 messages left)\r\n");
	expect_session(&s, LOGIN "RETR 0\r\nRETR 3\r\nLIST +1\r\n"
	    "DELE 4294967297\r\nRETR 1 2\r\nRETR\r\nQUIT\r\n", want_buf, 0);
	assert_file(s.mbox, MBOX2);
}
END_TEST

START_TEST(session_quit_removes_deleted_message_from_file)
{
	struct sess s;
	unsigned long long total = crlf_octets(M1) + crlf_octets(M2);

	sess_init(&s, MBOX2);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 2 messages (%llu octets)\r\n", total);
	want_add("+OK message 1 deleted\r\n");
	want_add("+OK pop3d signing off (1 message left)\r\n");
	expect_session(&s, LOGIN "DELE 1\r\nQUIT\r\n", want_buf, 0);
	assert_file(s.mbox, FROM2 M2);
}
END_TEST

START_TEST(session_quit_removes_last_message_from_file)
{
	struct sess s;
	unsigned long long total = crlf_octets(M1) + crlf_octets(M2);

	sess_init(&s, MBOX2);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 2 messages (%llu octets)\r\n", total);
	want_add("+OK message 2 deleted\r\n");
	want_add("+OK pop3d signing off (1 message left)\r\n");
	expect_session(&s, LOGIN "DELE 2\r\nQUIT\r\n", want_buf, 0);
	assert_file(s.mbox, FROM1 M1 "\n");
}
END_TEST

START_TEST(session_eof_deletes_nothing)
{
	struct sess s;
	unsigned long long total = crlf_octets(M1) + crlf_octets(M2);

	sess_init(&s, MBOX2);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 2 messages (%llu octets)\r\n", total);
	want_add("+OK message 1 deleted\r\n+OK message 2 deleted\r\n");
	expect_session(&s, LOGIN "DELE 1\r\nDELE 2\r\n", want_buf, 0);
	assert_file(s.mbox, MBOX2);
}
END_TEST

START_TEST(session_missing_maildrop_is_empty)
{
	struct sess s;
	struct stat st;

	sess_init(&s, NULL);
	expect_session(&s, LOGIN "STAT\r\nLIST\r\nUIDL\r\nQUIT\r\n",
	    GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 0 messages (0 octets)\r\n+OK 0 0\r\n"
	    "+OK 0 messages (0 octets)\r\n.\r\n"
	    "+OK unique-id listing follows\r\n.\r\n"
	    "+OK pop3d signing off (0 messages left)\r\n", 0);
	/* Reading never creates the maildrop. */
	ck_assert_int_eq(stat(s.mbox, &st), -1);
}
END_TEST

START_TEST(session_rset_on_empty_maildrop)
{
	struct sess s;

	sess_init(&s, NULL);
	expect_session(&s, LOGIN "RSET\r\nQUIT\r\n",
	    GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 0 messages (0 octets)\r\n"
	    "+OK maildrop has 0 messages (0 octets)\r\n"
	    "+OK pop3d signing off (0 messages left)\r\n", 0);
}
END_TEST

START_TEST(session_non_mbox_maildrop_refused_and_untouched)
{
	struct sess s;
	static const char junk[] = "this is not\nan mbox\n";

	sess_init(&s, junk);
	expect_session(&s, LOGIN "QUIT\r\n", GREETING "+OK send PASS\r\n"
	    "-ERR [SYS/PERM] maildrop cannot be served; contact the "
	    "administrator\r\n" BYE, 0);
	assert_file(s.mbox, junk);
}
END_TEST

START_TEST(session_mail_field_overrides_template)
{
	struct sess s;
	char h[256], line[PATH_MAX + 512], path[PATH_MAX];

	/* The template would give DIR/carol.mbox, which does not exist. */
	sess_init(&s, NULL);
	unit_path(path, sizeof(path), s.dir, "special");
	unit_write_str(path, FROM1 M1, 0600);
	own(path);
	make_hash("carolpw", h, sizeof(h));
	snprintf(line, sizeof(line), "carol:%s::::::mail=%s\n", h, path);
	sess_add_passwd(&s, line);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 1 message (%llu octets)\r\n", crlf_octets(M1));
	want_add("+OK pop3d signing off (1 message left)\r\n");
	expect_session(&s, "USER carol\r\nPASS carolpw\r\nQUIT\r\n", want_buf,
	    0);
}
END_TEST

/* ---------------------------------------------- bad input, long lines */

START_TEST(session_too_many_bad_commands_close_session)
{
	struct sess s;
	char input[512] = "", want[1024] = GREETING;
	int i;

	sess_init(&s, MBOX2);
	for (i = 0; i < MAX_BAD_COMMANDS; i++) {
		strcat(input, "FOO\r\n");
		strcat(want, "-ERR unknown command\r\n");
	}
	strcat(input, "QUIT\r\n");
	strcat(want, "-ERR too many bad commands, closing connection\r\n");
	expect_session(&s, input, want, 0);
}
END_TEST

START_TEST(session_good_command_resets_bad_count)
{
	struct sess s;
	char input[1024] = "", want[2048] = GREETING;
	int i, round;

	sess_init(&s, MBOX2);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < MAX_BAD_COMMANDS - 1; i++) {
			strcat(input, "FOO\r\n");
			strcat(want, "-ERR unknown command\r\n");
		}
		strcat(input, "USER alice\r\n");
		strcat(want, "+OK send PASS\r\n");
	}
	strcat(input, "QUIT\r\n");
	strcat(want, BYE);
	expect_session(&s, input, want, 0);
}
END_TEST

START_TEST(session_long_line_gets_err_and_session_continues)
{
	struct sess s;
	char input[400];

	sess_init(&s, MBOX2);
	memset(input, 'A', 300);
	strcpy(input + 300, "\r\nQUIT\r\n");
	expect_session(&s, input, GREETING "-ERR line too long\r\n" BYE, 0);
}
END_TEST

START_TEST(session_longest_allowed_line_accepted)
{
	/* RFC 2449: 255 octets with the CRLF. */
	struct sess s;
	char input[400];

	sess_init(&s, MBOX2);
	strcpy(input, "USER ");
	memset(input + 5, 'a', 253 - 5);
	strcpy(input + 253, "\r\nQUIT\r\n");
	expect_session(&s, input, GREETING "+OK send PASS\r\n" BYE, 0);
}
END_TEST

START_TEST(session_very_long_line_gets_one_err)
{
	struct sess s;
	size_t n = 3 * INPUT_BUFFER_SIZE + 17;
	char *input = malloc(n + 32);

	ck_assert_ptr_nonnull(input);
	sess_init(&s, MBOX2);
	memset(input, 'B', n);
	strcpy(input + n, "\r\nQUIT\r\n");
	expect_session(&s, input, GREETING "-ERR line too long\r\n" BYE, 0);
	free(input);
}
END_TEST

START_TEST(session_nul_in_line_is_syntax_error)
{
	static const char input[] = "USER al\0ice\r\nQUIT\r\n";
	struct sess s;

	sess_init(&s, MBOX2);
	expect_session_bytes(&s, input, sizeof(input) - 1,
	    GREETING "-ERR syntax error\r\n" BYE, 0);
}
END_TEST

/* ------------------------------------- sessions that wait for the test */

/* A session whose input is a pipe the test writes to as it goes. */
struct live {
	pid_t pid;
	int in_w;
	char out[PATH_MAX];
};

static void live_start(const struct sess *s, const char *out_name,
    struct live *l)
{
	int p[2], out_fd;

	unit_path(l->out, sizeof(l->out), s->dir, out_name);
	out_fd = open(l->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(out_fd, 0);
	ck_assert_int_eq(pipe(p), 0);
	l->pid = fork();
	ck_assert_int_ge(l->pid, 0);
	if (l->pid == 0) {
		struct auth_local al = { &s->cfg, 0 };
		const struct login_checker lc = { auth_local_check, NULL, &al, NULL };
		close(p[1]);
		if (running_as_root()) {
			gid_t g = NOBODY;

			if (setgroups(1, &g) < 0 || setgid(NOBODY) < 0 ||
			    setuid(NOBODY) < 0 || geteuid() != NOBODY)
				_exit(CHILD_SETUP_FAILED);
		}
		_exit(session_run(&s->cfg, p[0], out_fd, &lc, NULL));
	}
	close(p[0]);
	close(out_fd);
	l->in_w = p[1];
}

static void live_send(struct live *l, const char *text)
{
	size_t len = strlen(text);

	while (len > 0) {
		ssize_t n = write(l->in_w, text, len);

		ck_assert_msg(n > 0, "write to session: %s", strerror(errno));
		text += n;
		len -= (size_t)n;
	}
}

/* Waits (at most 20 s) until the output so far contains needle. */
static void live_wait_for(struct live *l, const char *needle)
{
	int i;

	for (i = 0; i < 2000; i++) {
		char *got = unit_read_file(l->out, NULL);
		int found = strstr(got, needle) != NULL;

		free(got);
		if (found)
			return;
		usleep(10000);
	}
	ck_abort_msg("session never answered \"%s\"", needle);
}

/* Closes the session's input and returns its whole output. */
static char *live_end(struct live *l, int *status_r)
{
	int wst;

	close(l->in_w);
	ck_assert_int_eq(waitpid(l->pid, &wst, 0), l->pid);
	ck_assert_msg(WIFEXITED(wst), "session child killed by signal %d",
	    WIFSIGNALED(wst) ? WTERMSIG(wst) : 0);
	if (status_r)
		*status_r = WEXITSTATUS(wst);
	return unit_read_file(l->out, NULL);
}

#define FROM3 "From carol@example.org Wed Jan  3 00:00:00 2024\n"
#define M3 "Received: by mx; Wed, 3 Jan 2024 00:00:00 +0000\n" \
	"Subject: three\n\nnew mail\n"

static void append_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

START_TEST(session_mail_delivered_during_session_survives_quit)
{
	struct sess s;
	struct live l;
	unsigned long long s1 = crlf_octets(M1), s2 = crlf_octets(M2);
	char *got;
	int status;

	sess_init(&s, MBOX2);
	live_start(&s, "live-output", &l);
	live_send(&l, LOGIN);
	live_wait_for(&l, "+OK maildrop has");
	append_file(s.mbox, "\n" FROM3 M3);
	live_send(&l, "STAT\r\nDELE 1\r\nQUIT\r\n");
	got = live_end(&l, &status);
	want_reset();
	want_add(GREETING "+OK send PASS\r\n"
	    "+OK maildrop has 2 messages (%llu octets)\r\n", s1 + s2);
	want_add("+OK 2 %llu\r\n", s1 + s2);	/* the new mail not shown */
	want_add("+OK message 1 deleted\r\n");
	want_add("+OK pop3d signing off (1 message left)\r\n");
	unit_assert_str("session output", got, want_buf);
	ck_assert_int_eq(status, 0);
	free(got);
	assert_file(s.mbox, FROM2 M2 "\n" FROM3 M3);
}
END_TEST

START_TEST(session_quit_after_rewrite_deletes_nothing)
{
	struct sess s;
	struct live l;
	char *got;
	int status;

	sess_init(&s, MBOX2);
	live_start(&s, "live-output", &l);
	live_send(&l, LOGIN "DELE 2\r\n");
	live_wait_for(&l, "+OK message 2 deleted");
	/* Another mail reader removes message 1 (same inode). */
	unit_write_str(s.mbox, FROM2 M2, 0600);
	live_send(&l, "QUIT\r\n");
	got = live_end(&l, &status);
	ck_assert_msg(strstr(got, "+OK message 2 deleted\r\n-ERR [SYS/TEMP]"),
	    "no [SYS/TEMP] after the rewrite: %s", got);
	ck_assert_int_eq(status, 1);
	free(got);
	assert_file(s.mbox, FROM2 M2);
}
END_TEST

START_TEST(session_retr_after_rewrite_ends_session)
{
	struct sess s;
	struct live l;
	char *got, *p;
	int status;

	sess_init(&s, MBOX2);
	live_start(&s, "live-output", &l);
	live_send(&l, LOGIN);
	live_wait_for(&l, "+OK maildrop has");
	unit_write_str(s.mbox, FROM2 M2, 0600);
	live_send(&l, "RETR 1\r\nSTAT\r\n");
	got = live_end(&l, &status);
	p = strstr(got, "+OK maildrop has");
	ck_assert_ptr_nonnull(p);
	p = strstr(p, "\r\n") + 2;
	ck_assert_msg(strncmp(p, "-ERR [SYS/TEMP]", 15) == 0 &&
	    strstr(p, "\r\n") + 2 == got + strlen(got),
	    "RETR after a rewrite answered: %s", p);
	ck_assert_int_eq(status, 1);
	free(got);
}
END_TEST

START_TEST(session_second_concurrent_login_gets_in_use)
{
	struct sess s;
	struct live l;
	char *got;
	int status;

	sess_init(&s, MBOX2);
	live_start(&s, "live-output", &l);
	live_send(&l, LOGIN);
	live_wait_for(&l, "+OK maildrop has");
	got = sess_run_bytes(&s, LOGIN "QUIT\r\n", strlen(LOGIN "QUIT\r\n"),
	    &status);
	ck_assert_msg(strncmp(got, GREETING "+OK send PASS\r\n-ERR [IN-USE]",
	    strlen(GREETING "+OK send PASS\r\n-ERR [IN-USE]")) == 0,
	    "second session while the first is in TRANSACTION: %s", got);
	free(got);
	live_send(&l, "QUIT\r\n");
	free(live_end(&l, &status));
	ck_assert_int_eq(status, 0);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

Suite *session_suite(void)
{
	Suite *s = suite_create("session");
	TCase *tc;

	tc = tcase_create("msgnum");
	tcase_add_test(tc, msgnum_accepts_numbers_in_range);
	tcase_add_test(tc, msgnum_above_count_rejected);
	tcase_add_test(tc, msgnum_zero_says_counted_from_one);
	tcase_add_loop_test(tc, msgnum_malformed_rejected, 0, N(bad_msgnums));
	suite_add_tcase(s, tc);

	tc = tcase_create("expand_mailbox");
	tcase_add_test(tc, expand_user_name);
	tcase_add_test(tc, expand_home_directory);
	tcase_add_test(tc, expand_percent_sign);
	tcase_add_test(tc, expand_missing_home_fails);
	tcase_add_test(tc, expand_unknown_escape_fails);
	tcase_add_test(tc, expand_overflow_fails);
	tcase_add_test(tc, expand_empty_result_fails);
	suite_add_tcase(s, tc);

	tc = tcase_create("authorization");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, session_greeting_and_quit);
	tcase_add_test(tc, session_transaction_commands_refused_before_login);
	tcase_add_test(tc, session_authorization_commands_refused_after_login);
	tcase_add_test(tc, session_unknown_command_gets_err);
	tcase_add_test(tc, session_commands_are_case_insensitive);
	tcase_add_test(tc, session_bare_lf_ends_command_lines);
	tcase_add_test(tc, session_pass_without_user_gets_err);
	tcase_add_test(tc, session_wrong_password_gets_auth_err);
	tcase_add_test(tc, session_unknown_user_gets_same_answer);
	tcase_add_test(tc, session_three_failures_close_session);
	tcase_add_test(tc, session_capa_in_authorization);
	tcase_add_test(tc, session_apop_not_offered_without_secrets_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("grammar");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_loop_test(tc, grammar_malformed_line_refused_before_login, 0,
	    N(malformed_auth));
	tcase_add_loop_test(tc, grammar_malformed_line_refused_after_login, 0,
	    N(malformed_trans));
	tcase_add_test(tc, grammar_unknown_keyword_stays_unknown);
	tcase_add_test(tc, grammar_empty_line_is_unknown_command);
	tcase_add_test(tc, grammar_pass_takes_rest_of_line_verbatim);
	tcase_add_test(tc, grammar_forty_character_argument_served);
	suite_add_tcase(s, tc);

	tc = tcase_create("transaction");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, session_full_transaction);
	tcase_add_test(tc, session_top_sends_header_and_lines);
	tcase_add_test(tc, session_deleted_message_refused);
	tcase_add_test(tc, session_bad_message_numbers_refused);
	tcase_add_test(tc, session_quit_removes_deleted_message_from_file);
	tcase_add_test(tc, session_quit_removes_last_message_from_file);
	tcase_add_test(tc, session_eof_deletes_nothing);
	tcase_add_test(tc, session_missing_maildrop_is_empty);
	tcase_add_test(tc, session_rset_on_empty_maildrop);
	tcase_add_test(tc, session_non_mbox_maildrop_refused_and_untouched);
	tcase_add_test(tc, session_mail_field_overrides_template);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad_input");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, session_too_many_bad_commands_close_session);
	tcase_add_test(tc, session_good_command_resets_bad_count);
	tcase_add_test(tc, session_long_line_gets_err_and_session_continues);
	tcase_add_test(tc, session_longest_allowed_line_accepted);
	tcase_add_test(tc, session_very_long_line_gets_one_err);
	tcase_add_test(tc, session_nul_in_line_is_syntax_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("concurrency");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, session_mail_delivered_during_session_survives_quit);
	tcase_add_test(tc, session_quit_after_rewrite_deletes_nothing);
	tcase_add_test(tc, session_retr_after_rewrite_ends_session);
	tcase_add_test(tc, session_second_concurrent_login_gets_in_use);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * fuzz_session.c - libFuzzer harness for the POP3 command parser and state
 * machine: the input is everything a client sends in one connection, fed
 * to session_run() through a memfd (EOF ends the session, so nothing ever
 * waits for the idle timeout).
 *
 * Set up once: a private directory with a password file (fast md5-crypt
 * or sha256-crypt hashes, password "secret" for every user), an APOP
 * secrets file, and maildrops.  The users cover every way into the
 * TRANSACTION state and out of it:
 *   alice  the main maildrop (dot lines, CRLF, duplicates, a header-only
 *          message, no final newline); APOP secret "apopsecret" with the
 *          timestamp FUZZ_TIMESTAMP
 *   bob    mail= names a file that does not exist (empty maildrop)
 *   carol  mail= names a file that is not an mbox
 *   dave   uid/gid fields that are not ours (refused)
 *   erin   mail= with %h but no home directory (bad template)
 *   frank  locked account
 * alice's maildrop is rewritten before every run, since DELE+QUIT changes
 * it.
 *
 * Properties checked beyond the sanitizers: every output line ends in
 * CRLF (no bare LF, no unterminated last line) and is at most 512 octets
 * (RFC 2449), log lines carry no control characters (fuzz_util.c), and
 * a client that never logged in was not read much beyond
 * MAX_PRELOGIN_INPUT (the bound session.c promises for strangers), and
 * the maildrop is untouched unless QUIT said "+OK ... (N messages left)",
 * and then holds N messages.
 */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "fuzz/fuzz_util.h"

#define FUZZ_TIMESTAMP "<1.2.3@fuzz.example>"

/* LF line ends, popa3d-hashed headers, dot lines, a From_ in the body
 * after a non-blank line (not a separator). */
#define MESSAGE_ONE \
    "From alice@example.org Mon Jan  1 00:00:00 2024\n" \
    "Received: from mx.example.org by fuzz.example; Mon, 1 Jan 2024\n" \
    "Date: Mon, 1 Jan 2024 00:00:00 +0000\n" \
    "Message-ID: <one@example.org>\n" \
    "Status: RO\n" \
    "Subject: dots\n" \
    "\n" \
    ".\n" \
    "..\n" \
    ".leading dot\n" \
    "line\n" \
    "From not a separator\n" \
    "\n"

static const char maildrop[] =
    /* 1 */
    MESSAGE_ONE
    /* 2: CRLF line ends. */
    "From bob@example.org Mon Jan  1 00:00:01 2024\r\n"
    "Message-ID: <two@example.org>\r\n"
    "Subject: crlf\r\n"
    "\r\n"
    "body line 1\r\n"
    ".\r\n"
    "body line 3\r\n"
    "\n"
    /* 3: the same as 1: a duplicate UID gets a suffix. */
    MESSAGE_ONE
    /* 4: header only, no stable headers (wide UID). */
    "From carol@example.org Mon Jan  1 00:00:02 2024\n"
    "Subject: header only\n"
    "\n"
    /* 5: mixed line ends, no final newline. */
    "From dave@example.org Mon Jan  1 00:00:03 2024\n"
    "Subject: no final newline\r\n"
    "X-Delivery-ID: 5\n"
    "\n"
    "first\r\n"
    "second\n"
    "last line without newline";

static struct config cfg;
static char *mbox_path, *lock_path, *journal_path;
static int in_fd = -1, out_fd = -1;

/* A fast crypt(3) hash of "secret": fuzzing wants many logins a second. */
static void make_hash(char *out, size_t size)
{
	static const char *const prefixes[] = { "$1$", "$5$", NULL };
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;
	size_t i;

	if (!cd)
		fuzz_fail("out of memory");
	for (i = 0; prefixes[i]; i++) {
		/* count 1000 is sha256-crypt's minimum; md5-crypt ignores
		 * it (0 selects the default). */
		if (!crypt_gensalt_rn(prefixes[i], i ? 1000 : 0, NULL, 0,
		    setting, sizeof(setting)))
			continue;
		h = crypt_rn("secret", setting, cd, sizeof(*cd));
		if (h && h[0] != '*' && strlen(h) < size) {
			strcpy(out, h);
			free(cd);
			return;
		}
	}
	fuzz_fail("libxcrypt supports neither md5-crypt nor sha256-crypt");
}

static void setup(void)
{
	char hash[CRYPT_OUTPUT_SIZE], *passwd;
	char *passwd_path = fuzz_path("passwd");
	char *apop_path = fuzz_path("apop");
	char *notmbox = fuzz_path("notmbox");
	uid_t me = fuzz_euid();
	int n;

	make_hash(hash, sizeof(hash));
	mbox_path = fuzz_path("alice");
	lock_path = fuzz_path("alice.lock");
	journal_path = fuzz_path("alice.pop3d-journal");
	n = asprintf(&passwd,
	    "# pop3d fuzzing: every password is \"secret\"\n"
	    "alice:%s::::/nonexistent::\n"
	    "bob:{MD5-CRYPT}%s::::::mail=%s/nosuchfile\n"
	    "carol:%s::::::userdb_mail=%s\n"
	    "dave:%s:%u:%u::::\n"
	    "erin:%s::::::mail=%%h/mbox\n"
	    "frank:!%s::::::\n",
	    hash, hash, fuzz_tmpdir(), hash, notmbox, hash,
	    (unsigned)me + 1, (unsigned)me + 1, hash, hash);
	if (n < 0)
		fuzz_fail("out of memory");
	fuzz_write_file(passwd_path, passwd, strlen(passwd), 0600, (uid_t)-1);
	fuzz_write_file(apop_path, "alice:apopsecret\n", 17, 0600, (uid_t)-1);
	fuzz_write_file(notmbox, "not an mbox\n", 12, 0600, me);
	free(passwd);
	free(notmbox);

	cfg.passwd_file = passwd_path;
	cfg.mailbox_template = fuzz_path("%u");
	cfg.apop_file = apop_path;
	cfg.hostname = "fuzz.example";
	cfg.mail_group = "";
	cfg.privsep_user = "nobody";
	cfg.privsep_dir = "/var/lib/pop3d/empty";
	cfg.timeout = 1;
	/* No TLS here (the input is not a TLS stream): plaintext logins
	 * must be allowed to reach the TRANSACTION state. */
	cfg.plaintext = PLAINTEXT_ALWAYS;

	in_fd = fuzz_memfd("client-input");
	out_fd = fuzz_memfd("server-output");
}

/* Every response line ends in CRLF and fits in 512 octets. */
static void check_output(const unsigned char *out, size_t len)
{
	size_t start = 0, i;

	for (i = 0; i < len; i++) {
		if (out[i] != '\n')
			continue;
		if (i == 0 || out[i - 1] != '\r')
			fuzz_fail("bare LF at output offset %zu", i);
		if (i + 1 - start > MAX_RESPONSE_LINE)
			fuzz_fail("response line of %zu octets at offset %zu",
			    i + 1 - start, start);
		start = i + 1;
	}
	if (start != len)
		fuzz_fail("output ends inside a line (%zu octets unterminated)",
		    len - start);
}

/* Input read before login: at most the limit, the line that crossed it,
 * and what the input buffer read ahead. */
static void check_prelogin(const unsigned char *out, size_t out_len)
{
	static const char ok[] = "+OK maildrop has ";
	off_t used = lseek(in_fd, 0, SEEK_CUR);

	if (memmem(out, out_len, ok, sizeof(ok) - 1))
		return;		/* logged in: no limit after that */
	if (used > MAX_PRELOGIN_INPUT + MAX_COMMAND_LINE + INPUT_BUFFER_SIZE)
		fuzz_fail("%lld bytes read from a client that never logged "
		    "in (limit %d)", (long long)used, MAX_PRELOGIN_INPUT);
}

/* UPDATE happens at QUIT only, and leaves what QUIT announced. */
static void check_maildrop(const unsigned char *out, size_t out_len)
{
	static const char bye[] = "+OK pop3d signing off (";
	static const char alice[] = "+OK maildrop has 5 messages";
	const unsigned char *p = memmem(out, out_len, bye, sizeof(bye) - 1);
	struct mbox_index idx;
	unsigned char *now;
	size_t now_len;
	unsigned long left;
	int fd = open(mbox_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fuzz_fail("maildrop gone: %s", strerror(errno));
	/* Only alice has this maildrop (bob's is empty). */
	if (!memmem(out, out_len, alice, sizeof(alice) - 1))
		p = NULL;
	if (!p) {
		now = fuzz_memfd_get(fd, &now_len);
		if (now_len != sizeof(maildrop) - 1 ||
		    memcmp(now, maildrop, now_len))
			fuzz_fail("maildrop changed without a QUIT that said so");
		free(now);
	} else {
		left = strtoul((const char *)p + sizeof(bye) - 1, NULL, 10);
		if (mbox_scan(fd, UINT64_MAX, &idx) != MBOX_OK ||
		    idx.count != left)
			fuzz_fail("QUIT said %lu messages left, the maildrop "
			    "has %zu", left, idx.count);
		mbox_index_free(&idx);
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth_local al = { &cfg, 0 };
	const struct login_checker lc = { auth_local_check, NULL, &al, NULL };
	unsigned char *out;
	size_t out_len;

	if (in_fd < 0)
		setup();
	/* UPDATE may have changed or removed it; a crash of an earlier run
	 * cannot matter (it ended the process). */
	(void)unlink(lock_path);
	(void)unlink(journal_path);
	fuzz_write_file(mbox_path, maildrop, sizeof(maildrop) - 1, 0600,
	    fuzz_euid());

	fuzz_memfd_set(in_fd, data, size);
	fuzz_memfd_set(out_fd, NULL, 0);
	(void)session_run(&cfg, in_fd, out_fd, &lc, FUZZ_TIMESTAMP);

	out = fuzz_memfd_get(out_fd, &out_len);
	/* FUZZ_DUMP=1 shows the server's side, for checking seeds. */
	if (getenv("FUZZ_DUMP"))
		fwrite(out, 1, out_len, stderr);
	check_output(out, out_len);
	check_prelogin(out, out_len);
	check_maildrop(out, out_len);
	free(out);
	return 0;
}

/*
 * fuzz_passwd.c - libFuzzer harness for the password-file parser: every
 * line of the input through passwd_parse_line() (and each entry through
 * expand_mailbox()), then the input as a whole file through
 * passwd_lookup() and, as an APOP secrets file, auth_apop().  No crypt(3)
 * work: a fuzzer-made hash could cost seconds.
 *
 * Properties checked beyond the sanitizers: an entry's strings lie inside
 * its own line copy, its name passes auth_valid_username(), a malformed
 * line has a reason, and a found user is the one asked for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "fuzz/fuzz_util.h"

#define MAX_LINE 8192

static char *file_path;

static int inside(const struct pw_entry *e, const char *p)
{
	return p >= e->line && p < e->line + sizeof(e->line) &&
	    p + strlen(p) < e->line + sizeof(e->line);
}

static void check_entry(const struct pw_entry *e, const char *what)
{
	static const char *const templates[] = {
		"/var/mail/%u", "%h/Maildir/../mbox", "%h/%u%%", "%x", "", NULL
	};
	char buf[MAX_PATH_LEN];
	size_t i;

	if (!e->name || !inside(e, e->name) || !e->hash || !e->home ||
	    (e->mail && !inside(e, e->mail)) ||
	    (e->home[0] && !inside(e, e->home)))
		fuzz_fail("%s: entry strings outside the entry", what);
	if (!e->locked && !inside(e, e->hash))
		fuzz_fail("%s: hash outside the entry", what);
	if (!auth_valid_username(e->name))
		fuzz_fail("%s: invalid user name accepted", what);
	for (i = 0; templates[i]; i++)
		(void)expand_mailbox(templates[i], e, buf, sizeof(buf));
	if (e->mail)
		(void)expand_mailbox(e->mail, e, buf, sizeof(buf));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pw_entry *e = malloc(sizeof(*e));
	char *line = malloc(MAX_LINE + 1), first[MAX_USER_NAME + 1] = "";
	static struct hash_costs costs;
	const char *why;
	size_t pos = 0;
	unsigned lineno = 0;
	int r;

	if (!e || !line)
		fuzz_fail("out of memory");
	if (!file_path)
		file_path = fuzz_path("passwd");

	while (pos < size) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - data) - pos : size - pos;

		lineno++;
		if (len <= MAX_LINE) {
			memcpy(line, data + pos, len);
			/* As passwd_lookup() reads files: CRLF is a line end. */
			if (nl && len > 0 && line[len - 1] == '\r')
				len--;
			line[len] = '\0';
			r = passwd_parse_line(line, lineno, e, &why);
			if (r < 0 && !why)
				fuzz_fail("line %u malformed without a reason",
				    lineno);
			if (r > 0) {
				check_entry(e, "passwd_parse_line");
				/* A line with a NUL byte is not a line
				 * passwd_lookup() must understand. */
				if (!first[0] && !memchr(data + pos, '\0', len))
					snprintf(first, sizeof(first), "%s",
					    e->name);
			}
		}
		pos += len + 1;
	}

	/* The whole input as a password file and as an APOP secrets file
	 * (0600, as apop_check_file() insists). */
	fuzz_write_file(file_path, data, size, 0600, (uid_t)-1);
	r = passwd_lookup(file_path, "alice", e, &costs);
	if (r > 0) {
		check_entry(e, "passwd_lookup");
		if (strcmp(e->name, "alice"))
			fuzz_fail("passwd_lookup(alice) found %s", e->name);
	}
	if (first[0]) {
		r = passwd_lookup(file_path, first, e, &costs);
		if (r != 1)
			fuzz_fail("passwd_lookup(%s) did not find the entry "
			    "passwd_parse_line accepted: %d", first, r);
		check_entry(e, "passwd_lookup");
	}
	(void)auth_apop(file_path, file_path, first[0] ? first : "alice",
	    "<1.2.3@fuzz.example>", "0123456789abcdef0123456789ABCDEF", e,
	    &costs);
	if (costs.n > MAX_HASH_CLASSES)
		fuzz_fail("%u hash classes kept", costs.n);
	for (unsigned i = 0; i < costs.n; i++)
		if (costs.keylen[i] > strlen(costs.hash[i]))
			fuzz_fail("hash class %u: key longer than its hash", i);

	free(e);
	free(line);
	return 0;
}

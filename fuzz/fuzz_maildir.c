/*
 * fuzz_maildir.c - libFuzzer harness for the Maildir back end's name
 * handling: base names (maildir_base_len), the ,W= size
 * (maildir_name_size), the delivery time (maildir_name_time), the UIDL
 * mapping (maildir_uid) and the journal's parser (maildir_journal_parse).
 * These see file names any program that can write the Maildir chooses,
 * and a journal a crash may have left damaged.
 *
 * The input is a list of file names, one a line (a NUL ends a name
 * early, as no file name holds one); it is also parsed whole as a
 * journal.  Properties checked, each failure an abort():
 *   - the base name is the part before the first ':';
 *   - a ,W= size found is a ",W=DIGITS" field of the base name, and its
 *     value; the time is the leading digits before a '.';
 *   - the UIDL is 1-70 characters 0x21-0x7E; when it is not shortened,
 *     undoing the +XX escapes gives the base name back (so the mapping
 *     is one-to-one), and no byte that needs one is left unescaped;
 *   - different base names in one input never get one UIDL (the hashed
 *     form collides only with MD5);
 *   - a journal made of the input's base names (as write_journal makes
 *     it) parses back to exactly those names; the raw input as a journal
 *     parses or not without reading past its end, and what it yields
 *     follows the journal's rules (1..NAME_MAX bytes, no '/' or ':');
 *   - a courierpop3dsizelist made of the input's usable names (as
 *     Courier writes it) parses back to exactly those names and ids; the
 *     raw input as a sizelist parses or not without reading past its
 *     end, and every name it yields is 1..NAME_MAX bytes, no '/' or NUL.
 */
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "fuzz/fuzz_util.h"

#define MAX_NAMES 64
/* As maildrop_maildir.c writes it (JOURNAL_MAGIC there). */
#define MAGIC "pop3d maildir journal 1\n"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int needs_escape(unsigned char c)
{
	return c < 0x21 || c > 0x7E || c == '\'' || c == '"' || c == '+';
}

static void check_name(const char *name, char uid[MAX_UID_LEN + 1])
{
	size_t len = strlen(name), base = maildir_base_len(name), i, o, ul;
	const char *colon = strchr(name, ':');
	uint64_t w;
	long long t;

	if (base != (colon ? (size_t)(colon - name) : len))
		abort();

	if (maildir_name_size(name, base, &w) == 0) {
		/* Some ",W=" field, ended by ',' or the base name's end,
		 * holds exactly that number. */
		int found = 0;

		for (i = 0; i + 3 <= base && !found; i++) {
			uint64_t v = 0;
			size_t j = i + 3;

			if (memcmp(name + i, ",W=", 3) != 0)
				continue;
			if (j == base || name[j] < '0' || name[j] > '9')
				continue;
			while (j < base && name[j] >= '0' && name[j] <= '9')
				v = v * 10 + (uint64_t)(name[j++] - '0');
			if ((j == base || name[j] == ',') && v == w)
				found = 1;
		}
		if (!found)
			abort();
	}
	if (maildir_name_time(name, &t) == 0) {
		if (t < 0 || name[0] < '0' || name[0] > '9')
			abort();
	}

	maildir_uid(name, base, uid);
	ul = strlen(uid);
	if (ul == 0 || ul > MAX_UID_LEN)
		abort();
	for (i = 0; i < ul; i++)
		if ((unsigned char)uid[i] < 0x21 || (unsigned char)uid[i] > 0x7E)
			abort();
	/* The hashed form: 36 characters, "+-", 32 hex digits.  Else the
	 * escapes undone give the base name back. */
	if (base == 0) {
		if (ul != 34 || uid[0] != '+' || uid[1] != '-')
			abort();	/* "+-" and the MD5 (maildir_uid) */
		return;
	}
	if (ul == MAX_UID_LEN && uid[36] == '+' && uid[37] == '-') {
		size_t plain = 0;

		for (i = 0; i < base; i++)
			plain += needs_escape((unsigned char)name[i]) ? 3 : 1;
		if (plain > MAX_UID_LEN)
			return;
	}
	for (i = 0, o = 0; i < ul; o++) {
		unsigned char c;

		if (uid[i] == '+') {
			int h, l;

			if (i + 2 >= ul)
				abort();	/* a cut escape */
			h = hexval(uid[i + 1]);
			l = hexval(uid[i + 2]);
			if (h < 0 || l < 0)
				abort();
			c = (unsigned char)(h * 16 + l);
			if (!needs_escape(c))
				abort();	/* escaped without need */
			i += 3;
		} else {
			c = (unsigned char)uid[i++];
			if (needs_escape(c))
				abort();
		}
		if (o >= base || (unsigned char)name[o] != c)
			abort();
	}
	if (o != base)
		abort();
}

struct collect {
	const char *names[MAX_NAMES];
	size_t lens[MAX_NAMES];
	size_t n, seen;
	int bad;
};

static int collect_fn(void *ctx, const char *b, size_t n)
{
	struct collect *c = ctx;

	if (n == 0 || n > NAME_MAX || memchr(b, '/', n) || memchr(b, ':', n))
		abort();
	if (c->seen < c->n &&
	    (c->lens[c->seen] != n || memcmp(c->names[c->seen], b, n) != 0))
		c->bad = 1;
	c->seen++;
	return 0;
}

static int sizelist_fn(void *ctx, const char *name, size_t len, uint64_t n,
    uint64_t uidv)
{
	struct collect *c = ctx;

	if (len == 0 || len > NAME_MAX || memchr(name, '/', len) ||
	    memchr(name, '\0', len))
		abort();
	if (c->seen < c->n && (c->lens[c->seen] != len ||
	    memcmp(c->names[c->seen], name, len) != 0 || n != c->seen + 1 ||
	    uidv != 7))
		c->bad = 1;
	c->seen++;
	return 0;
}

/* The sizelist Courier would write for the input's usable names (no
 * '/', at most NAME_MAX bytes; a line holds no LF by construction), each
 * given "UID<i+1>-7", and the raw input as a sizelist. */
static void check_sizelist(const uint8_t *data, size_t size,
    const char *const *names, size_t n)
{
	struct collect c;
	unsigned char *buf;
	size_t i, o, cap = 32, line;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < n; i++) {
		size_t len = strlen(names[i]);

		if (len > NAME_MAX || memchr(names[i], '/', len))
			continue;
		c.names[c.n] = names[i];
		c.lens[c.n++] = len;
		cap += len + 48;
	}
	buf = malloc(cap);
	if (buf) {
		o = (size_t)snprintf((char *)buf, cap, "/3 %zu 7\n", c.n + 1);
		for (i = 0; i < c.n; i++) {
			memcpy(buf + o, c.names[i], c.lens[i]);
			o += c.lens[i];
			o += (size_t)snprintf((char *)buf + o, cap - o,
			    " 0 %zu:7:0\n", i + 1);
		}
		if (o >= cap || maildir_sizelist_parse(buf, o, sizelist_fn, &c,
		    &line) != 0 || c.bad || c.seen != c.n)
			abort();
		free(buf);
	}
	buf = malloc(size ? size : 1);
	if (buf) {
		memcpy(buf, data, size);
		memset(&c, 0, sizeof(c));
		(void)maildir_sizelist_parse(buf, size, sizelist_fn, &c, &line);
		free(buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char uids[MAX_NAMES][MAX_UID_LEN + 1];
	char *copy = malloc(size + 1), *p, *nl;
	const char *names[MAX_NAMES];
	size_t bases[MAX_NAMES], n = 0, i, j, jl = strlen(MAGIC) + 1;
	struct collect c;
	unsigned char *journal;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (p = copy; n < MAX_NAMES && p <= copy + size; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(copy + size - p));
		if (!nl)
			nl = copy + size;
		*nl = '\0';
		if (*p) {
			names[n] = p;
			bases[n] = maildir_base_len(p);
			check_name(p, uids[n]);
			n++;
		}
		if (nl == copy + size)
			break;
	}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (strcmp(uids[i], uids[j]) == 0 &&
			    (bases[i] != bases[j] ||
			     memcmp(names[i], names[j], bases[i]) != 0))
				abort();

	/* The journal write_journal would make of the usable base names. */
	memset(&c, 0, sizeof(c));
	for (i = 0; i < n; i++) {
		if (bases[i] == 0 || bases[i] > NAME_MAX ||
		    memchr(names[i], '/', bases[i]))
			continue;
		c.names[c.n] = names[i];
		c.lens[c.n++] = bases[i];
		jl += bases[i] + 1;
	}
	journal = malloc(jl);
	if (journal) {
		size_t o = strlen(MAGIC);

		memcpy(journal, MAGIC, o);
		for (i = 0; i < c.n; i++) {
			memcpy(journal + o, c.names[i], c.lens[i]);
			o += c.lens[i];
			journal[o++] = '\0';
		}
		journal[o++] = '\0';
		if (o != jl || maildir_journal_parse(journal, jl, collect_fn, &c) != 0 ||
		    c.bad || c.seen != c.n)
			abort();
		free(journal);
	}

	/* The raw input as a journal (a copy of exactly size bytes, so
	 * ASan sees any read past its end). */
	journal = malloc(size ? size : 1);
	if (journal) {
		memcpy(journal, data, size);
		memset(&c, 0, sizeof(c));
		(void)maildir_journal_parse(journal, size, collect_fn, &c);
		free(journal);
	}
	check_sizelist(data, size, names, n);
	free(copy);
	return 0;
}

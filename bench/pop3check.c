/*
 * bench/pop3check.c - checks a POP3 server's replies to a command script,
 * for the verification run of each benchmark scenario (bench/run.sh).
 *
 *   pop3check [-n] CMDFILE < SERVER-OUTPUT
 *
 * CMDFILE holds the commands the server was sent, one a line; the replies
 * are read from standard input.  -n: no greeting is expected (Dovecot's
 * pre-authenticated mode).  Every line must end with CRLF; LIST and UIDL
 * without an argument, RETR, TOP and CAPA get multi-line answers after
 * "+OK", which must end with ".\r\n" and be byte-stuffed correctly.
 * Prints one line of counts:
 *
 *   replies=R ok=O err=E stat=N/OCTETS list=L uidl=U top=T retr=R
 *   retr_octets=B size_mismatch=M hash=H mhash=X uidl_lines=K
 *
 * where size_mismatch counts RETR answers whose unstuffed size differs from
 * the size LIST gave for that message (when LIST came first), and hash is
 * FNV-1a over the unstuffed RETR contents (equal across servers when they
 * send the same bytes in the same order); mhash is the sum (mod 2^64) of
 * each RETR answer's own FNV-1a, equal when the same messages come in any
 * order (bench/maildir.sh: servers may number a Maildir's files
 * differently); uidl_lines counts the lines of the UIDL listings.  Exits 1 with a message on stderr on a protocol
 * error (missing terminator, bare LF, unstuffed dot line, truncated reply,
 * more or fewer replies than commands), 0 otherwise.  Not timed: the
 * timing runs send the output to cat.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *line;
static size_t cap;
static unsigned long long lineno;

/* Reads one line with its terminator; returns its length, 0 at EOF. */
static size_t rdline(FILE *f)
{
	ssize_t n = getline(&line, &cap, f);
	if (n <= 0)
		return 0;
	lineno++;
	return (size_t)n;
}

static void die(const char *what)
{
	fprintf(stderr, "pop3check: reply line %llu: %s\n", lineno, what);
	exit(1);
}

int main(int argc, char **argv)
{
	int greeting = 1;
	if (argc > 1 && strcmp(argv[1], "-n") == 0) {
		greeting = 0;
		argv++; argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: pop3check [-n] CMDFILE < OUTPUT\n");
		return 2;
	}
	FILE *cf = fopen(argv[1], "r");
	if (!cf) {
		perror(argv[1]);
		return 2;
	}
	static char ibuf[1 << 20];
	setvbuf(stdin, ibuf, _IOFBF, sizeof ibuf);

	unsigned long long replies = 0, ok = 0, err = 0, nlist = 0, nuidl = 0,
		ntop = 0, nretr = 0, retr_octets = 0, mismatch = 0,
		stat_n = 0, stat_o = 0;
	uint64_t hash = 0xcbf29ce484222325ULL, mhash = 0;
	unsigned long long uidl_lines = 0;
	unsigned long long *sizes = NULL;
	size_t nsizes = 0;
	char cmd[512];
	size_t n;

	if (greeting) {
		if (!(n = rdline(stdin)))
			die("no greeting");
		if (strncmp(line, "+OK", 3) != 0)
			die("greeting is not +OK");
		replies++;
		ok++;
	}
	while (fgets(cmd, sizeof cmd, cf)) {
		char verb[16] = "", a1[64] = "", a2[64] = "";
		int nargs = sscanf(cmd, "%15s %63s %63s", verb, a1, a2);
		if (nargs < 1)
			continue;
		if (!(n = rdline(stdin))) {
			fprintf(stderr, "pop3check: no reply to command '%s' (%llu replies)\n",
				verb, replies);
			return 1;
		}
		if (n < 2 || line[n - 2] != '\r' || line[n - 1] != '\n')
			die("status line without CRLF");
		replies++;
		if (strncmp(line, "-ERR", 4) == 0) {
			err++;
			continue;
		}
		if (strncmp(line, "+OK", 3) != 0)
			die("reply is neither +OK nor -ERR");
		ok++;
		int is_list = !strcasecmp(verb, "LIST") && nargs == 1;
		int is_uidl = !strcasecmp(verb, "UIDL") && nargs == 1;
		int is_retr = !strcasecmp(verb, "RETR");
		int is_top = !strcasecmp(verb, "TOP");
		int is_capa = !strcasecmp(verb, "CAPA");
		if (!strcasecmp(verb, "STAT"))
			sscanf(line + 3, "%llu %llu", &stat_n, &stat_o);
		if (!(is_list || is_uidl || is_retr || is_top || is_capa))
			continue;
		/* a multi-line answer */
		unsigned long long octets = 0;
		uint64_t h1 = 0xcbf29ce484222325ULL;
		for (;;) {
			if (!(n = rdline(stdin)))
				die("multi-line reply truncated (no \".\" line)");
			if (n < 2 || line[n - 2] != '\r' || line[n - 1] != '\n')
				die("line without CRLF in a multi-line reply");
			if (n == 3 && line[0] == '.')
				break;
			char *p = line;
			size_t len = n;
			if (line[0] == '.') {
				if (line[1] != '.')
					die("line starting with a dot is not byte-stuffed");
				p++; len--;
			}
			if (is_list) {
				unsigned long long m, sz;
				if (sscanf(p, "%llu %llu", &m, &sz) != 2)
					die("malformed LIST line");
				if (m > nsizes) {
					size_t nn = m + 1024;
					sizes = realloc(sizes, nn * sizeof *sizes);
					if (!sizes) { perror("realloc"); return 2; }
					memset(sizes + nsizes, 0, (nn - nsizes) * sizeof *sizes);
					nsizes = nn;
				}
				sizes[m - 1] = sz;
			}
			if (is_retr)
				for (size_t i = 0; i < len; i++) {
					hash ^= (unsigned char)p[i];
					hash *= 0x100000001b3ULL;
					h1 ^= (unsigned char)p[i];
					h1 *= 0x100000001b3ULL;
				}
			if (is_uidl)
				uidl_lines++;
			octets += len;
		}
		if (is_list) nlist++;
		if (is_uidl) nuidl++;
		if (is_top) ntop++;
		if (is_retr) {
			unsigned long long m = strtoull(a1, NULL, 10);
			mhash += h1;
			nretr++;
			retr_octets += octets;
			if (m >= 1 && m <= nsizes && sizes[m - 1] && sizes[m - 1] != octets)
				mismatch++;
		}
	}
	if (rdline(stdin)) {
		fprintf(stderr, "pop3check: output after the last reply: %.60s", line);
		return 1;
	}
	printf("replies=%llu ok=%llu err=%llu stat=%llu/%llu list=%llu uidl=%llu "
	       "top=%llu retr=%llu retr_octets=%llu size_mismatch=%llu hash=%016llx mhash=%016llx uidl_lines=%llu\n",
	       replies, ok, err, stat_n, stat_o, nlist, nuidl, ntop, nretr,
	       retr_octets, mismatch, (unsigned long long)hash,
	       (unsigned long long)mhash, uidl_lines);
	return 0;
}

/*
 * bench/gen-mbox.c - deterministic generator of realistic mbox files for
 * the benchmark (bench/run.sh).
 *
 *   gen-mbox [-x] COUNT MEAN_BYTES SEED OUTFILE
 *
 * Writes COUNT messages whose sizes spread around MEAN_BYTES (lognormal,
 * sigma 0.8, clipped to [700 B, 64 x mean]); -x makes every message about
 * MEAN_BYTES exactly (used for the single-message mbox of the memory goal).
 * The output depends only on the arguments: a seeded PRNG (splitmix64 then
 * xoshiro256**) drives everything, no clock, no locale.
 *
 * The messages look like real mail as an MDA stores it: a From_ line in
 * ctime format, Return-Path, Delivered-To, chains of folded Received
 * headers, Date, From, To, Cc, Subject (some folded), Message-ID,
 * In-Reply-To/References, DKIM signatures, list headers; bodies of
 * text/plain, multipart/alternative (plain + HTML) or multipart/mixed with
 * a base64 attachment (the bigger messages, mostly), with quoted text,
 * UTF-8 words, long unwrapped lines (1-8 KB), ">From " quoted lines and
 * lines starting with a dot ("." alone included).  No body line starts
 * with "From ", lines end with LF, and each message is followed by the
 * empty separator line.  Status headers are left out (Dovecot hides them,
 * which would make its sizes differ from the other servers').
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- PRNG */
static uint64_t s[4];

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rnd(void)
{
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
	s[2] ^= t; s[3] = rotl(s[3], 45);
	return r;
}

/* uniform in [0, n) */
static inline uint32_t rn(uint32_t n) { return (uint32_t)(((rnd() >> 32) * (uint64_t)n) >> 32); }
static inline int pct(int p) { return rn(1000) < (uint32_t)p * 10; }
static inline int permille(int p) { return rn(1000) < (uint32_t)p; }
static double unif(void) { return ((rnd() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static double gauss(void)
{
	return sqrt(-2.0 * log(unif())) * cos(6.283185307179586 * unif());
}

/* -------------------------------------------------------------- output */
static char obuf[1 << 20];
static size_t olen;
static int ofd;
static uint64_t total;

static void flush(void)
{
	size_t off = 0;
	while (off < olen) {
		ssize_t w = write(ofd, obuf + off, olen - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			perror("gen-mbox: write");
			exit(1);
		}
		off += (size_t)w;
	}
	olen = 0;
}

static inline void put(const char *p, size_t n)
{
	total += n;
	while (n) {
		size_t room = sizeof obuf - olen, k = n < room ? n : room;
		memcpy(obuf + olen, p, k);
		olen += k; p += k; n -= k;
		if (olen == sizeof obuf)
			flush();
	}
}

static inline void puts_(const char *p) { put(p, strlen(p)); }
static inline void putc_(char c) { put(&c, 1); }

static void pf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void pf(const char *fmt, ...)
{
	char b[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	put(b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

/* ---------------------------------------------------------------- data */
static const char *const words[] = {
	"the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was",
	"with", "be", "by", "on", "not", "he", "this", "are", "or", "his",
	"at", "which", "but", "have", "an", "had", "they", "you", "were",
	"their", "one", "all", "we", "can", "her", "has", "there", "been",
	"if", "more", "when", "will", "would", "who", "so", "no", "server",
	"mailbox", "message", "release", "patch", "build", "meeting", "report",
	"quarterly", "budget", "invoice", "attached", "please", "review",
	"thanks", "regards", "tomorrow", "schedule", "deadline", "customer",
	"project", "version", "kernel", "network", "latency", "throughput",
	"database", "migration", "configuration", "deployment", "monitoring",
	"certificate", "password", "account", "delivery", "receipt", "order",
	"shipping", "newsletter", "subscription", "unsubscribe", "conference",
	"agenda", "minutes", "proposal", "contract", "signature", "draft",
	"feedback", "question", "answer", "problem", "solution", "workaround",
	"upstream", "downstream", "backport", "regression", "benchmark",
	"performance", "memory", "allocation", "pointer", "buffer", "overflow",
	"café", "naïve", "Grüße", "déjà", "vu", "Zürich", "São", "Paulo",
	"日本語", "привет", "mañana", "señor", "über", "façade", "résumé",
	"a", "I", "it's", "don't", "we'll", "e.g.", "i.e.", "etc.", "(see",
	"below)", "[1]", "-", "--", "&", "100%", "$42.00", "2024-05-17",
	"https://example.org/a/long/path?with=query&and=more", "<b@c.d>",
	"very", "quite", "really", "probably", "actually", "basically",
	"interesting", "important", "unfortunately", "however", "therefore",
	"meanwhile", "afterwards", "previously", "currently", "eventually",
};
#define NWORDS (sizeof words / sizeof words[0])
static size_t wlen[NWORDS];

static const char *const first[] = { "Alice", "Bob", "Carol", "Dave",
	"Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj",
	"Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter",
	"Zoë", "José", "Ångström" };
static const char *const last[] = { "Smith", "Jones", "Müller", "García",
	"Nakamura", "Kowalski", "O'Brien", "Dubois", "Rossi", "Nguyen",
	"Johansson", "Silva", "Kim", "Novak", "Brown" };
static const char *const domains[] = { "example.org", "example.com",
	"example.net", "mail.example.edu", "lists.example.org",
	"corp.example.co.uk", "example.de", "news.example.info" };
static const char *const mailers[] = { "Mutt/2.2.9 (2022-11-12)",
	"Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0",
	"Microsoft Outlook 16.0", "Apple Mail (2.3731.700.6)",
	"Roundcube Webmail/1.6.5", "git-send-email 2.39.2" };
static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
	"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#define PICK(a) (a[rn(sizeof a / sizeof a[0])])

/* ---------------------------------------------------------------- time */
static int64_t now = 1672531200;	/* 2023-01-01 00:00:00 UTC, then onwards */

struct tmx { int y, mo, d, h, mi, se, wd; };

static struct tmx civil(int64_t t)
{
	struct tmx r;
	int64_t days_ = t / 86400, secs = t % 86400;
	r.wd = (int)((days_ + 4) % 7);
	r.h = (int)(secs / 3600); r.mi = (int)(secs / 60 % 60); r.se = (int)(secs % 60);
	/* Howard Hinnant's days_from_civil inverse */
	int64_t z = days_ + 719468, era = z / 146097, doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	r.d = (int)(doy - (153 * mp + 2) / 5 + 1);
	r.mo = (int)(mp < 10 ? mp + 3 : mp - 9);
	r.y = (int)(yoe + era * 400 + (r.mo <= 2));
	return r;
}

static void rfc2822(int64_t t, char *b, size_t n)
{
	struct tmx x = civil(t);
	snprintf(b, n, "%s, %d %s %d %02d:%02d:%02d +0000", days[x.wd], x.d,
		 months[x.mo - 1], x.y, x.h, x.mi, x.se);
}

/* ------------------------------------------------------------ pieces */
static void hex(char *b, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = "0123456789abcdef"[rn(16)];
	b[n] = 0;
}

static void addr(char *b, size_t n)
{
	const char *f = PICK(first), *l = PICK(last);
	char lf[32], ll[32];
	size_t i, j;
	for (i = j = 0; f[i] && j < sizeof lf - 1; i++)
		if ((unsigned char)f[i] < 0x80)
			lf[j++] = (char)(f[i] | 0x20);
	lf[j] = 0;
	for (i = j = 0; l[i] && j < sizeof ll - 1; i++)
		if ((unsigned char)l[i] < 0x80 && l[i] != '\'')
			ll[j++] = (char)(l[i] | 0x20);
	ll[j] = 0;
	snprintf(b, n, "%s.%s%u@%s", lf, ll, rn(100), PICK(domains));
}

/* A run of words, wrapped at about 72 columns, with the odd special line. */
static uint64_t text(uint64_t want, int quoted)
{
	uint64_t start = total;
	int col = 0;
	while (total - start < want) {
		if (col == 0) {
			/* line starts: the special lines of the issue */
			if (permille(8)) { puts_(">From the desk of "); col = 18; }
			else if (permille(6)) {
				static const char *const dots[] = { ".\n", "..\n",
					". (a dot-leading line)\n", ".signature follows\n",
					"...and so on\n", ".\n" };
				puts_(PICK(dots));
				continue;
			} else if (permille(4)) {
				/* a long line, 1-8 KB, never wrapped */
				uint32_t n = 1000 + rn(7200), k = 0;
				while (k < n) {
					uint32_t w = rn(NWORDS);
					put(words[w], wlen[w]); putc_(' ');
					k += (uint32_t)wlen[w] + 1;
				}
				putc_('\n');
				continue;
			} else if (permille(40)) { putc_('\n'); continue; }
			if (quoted) { puts_("> "); col += 2; }
		}
		uint32_t w = rn(NWORDS);
		put(words[w], wlen[w]);
		col += (int)wlen[w];
		if (col > 62 + (int)rn(14)) { putc_('\n'); col = 0; }
		else { putc_(' '); col++; }
	}
	if (col)
		putc_('\n');
	return total - start;
}

static void html(uint64_t want)
{
	uint64_t start = total;
	puts_("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><style>p{margin:0}</style></head>\n<body>\n");
	while (total - start < want) {
		puts_(permille(100) ? "<p style=\"font-family:Arial,sans-serif;font-size:11pt\">" : "<p>");
		int col = 3;
		for (int n = 5 + (int)rn(60); n--;) {
			uint32_t w = rn(NWORDS);
			put(words[w], wlen[w]);
			col += (int)wlen[w];
			if (col > 70) { putc_('\n'); col = 0; } else { putc_(' '); col++; }
		}
		puts_("</p>\n");
	}
	puts_("</body></html>\n");
}

static void base64(uint64_t want)
{
	char line[78];
	uint64_t lines = want / 77 + 1;
	line[76] = '\n';
	for (uint64_t i = 0; i < lines; i++) {
		/* 57 bytes -> 76 characters; random bits, so it does not compress */
		for (int j = 0; j < 76; j += 8) {
			uint64_t r = rnd();
			for (int k = 0; k < 8 && j + k < 76; k++, r >>= 6)
				line[j + k] = b64[r & 63];
		}
		put(line, 77);
	}
	puts_("PGRpdj5lbmQ8L2Rpdj4K\n");
}

static void received_chain(const char *rcpt, int64_t t)
{
	int hops = 2 + (int)rn(4);
	char d[64], id[16];
	const char *dom;
	for (int i = 0; i < hops; i++) {
		rfc2822(t - i * (int64_t)rn(30), d, sizeof d);
		hex(id, 10);
		if (i == 0)
			pf("Received: by mx1.example.net (Postfix, from userid 0)\n\tid %s; %s\n", id, d);
		else {
			dom = PICK(domains);
			pf("Received: from relay%d.%s (relay%d.%s [192.0.2.%u])\n"
			   "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n"
			   "\t key-exchange X25519 server-signature RSA-PSS (2048 bits))\n"
			   "\tby mx1.example.net (Postfix) with ESMTPS id %s\n"
			   "\tfor <%s>; %s\n", i, dom, i, dom,
			   1 + rn(254), id, rcpt, d);
		}
	}
}

static void subject(void)
{
	puts_("Subject: ");
	if (pct(30)) puts_("Re: ");
	if (pct(10)) puts_("[announce] ");
	int n = 2 + (int)rn(pct(10) ? 30 : 9), col = 9;
	while (n--) {
		uint32_t w = rn(NWORDS);
		put(words[w], wlen[w]);
		col += (int)wlen[w];
		if (n) {
			if (col > 70) { puts_("\n "); col = 1; } else { putc_(' '); col++; }
		}
	}
	putc_('\n');
}

static uint64_t msgno;

static void message(uint64_t size)
{
	uint64_t start = total;
	char from[96], rcpt[96], d[64], id[40], boundary[48];
	addr(from, sizeof from);
	addr(rcpt, sizeof rcpt);
	now += 1 + rn(900);
	struct tmx x = civil(now);
	pf("From %s %s %s %2d %02d:%02d:%02d %d\n", from, days[x.wd],
	   months[x.mo - 1], x.d, x.h, x.mi, x.se, x.y);
	pf("Return-Path: <%s>\n", from);
	if (pct(60))
		pf("X-Original-To: %s\nDelivered-To: %s\n", rcpt, rcpt);
	received_chain(rcpt, now);
	if (pct(35)) {
		char sig[400];
		for (int i = 0; i < 344; i++)
			sig[i] = b64[rn(64)];
		sig[344] = 0;
		pf("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s;\n"
		   "\ts=selector1; t=%lld; h=from:to:subject:date:message-id;\n"
		   "\tbh=%.44s;\n\tb=%.76s\n\t %.76s\n\t %.76s\n\t %.76s\n",
		   PICK(domains), (long long)now, sig + 300, sig, sig + 76, sig + 152, sig + 228);
	}
	rfc2822(now - (int64_t)rn(120), d, sizeof d);
	pf("Date: %s\n", d);
	pf("From: %s %s <%s>\n", PICK(first), PICK(last), from);
	pf("To: %s %s <%s>", PICK(first), PICK(last), rcpt);
	for (int n = pct(15) ? (int)rn(8) : 0; n--;) {
		addr(rcpt, sizeof rcpt);
		pf(",\n    %s", rcpt);
	}
	putc_('\n');
	if (pct(20)) {
		addr(rcpt, sizeof rcpt);
		pf("Cc: %s\n", rcpt);
	}
	subject();
	hex(id, 24);
	pf("Message-ID: <%s.%llu@%s>\n", id, (unsigned long long)msgno, PICK(domains));
	if (pct(30)) {
		hex(id, 20);
		pf("In-Reply-To: <%s@%s>\nReferences:", id, PICK(domains));
		for (int n = 1 + (int)rn(6); n--;) {
			hex(id, 20);
			pf(" <%s@%s>%s", id, PICK(domains), n ? "\n" : "");
		}
		putc_('\n');
	}
	if (pct(50))
		pf("%s: %s\n", pct(50) ? "X-Mailer" : "User-Agent", PICK(mailers));
	if (pct(15))
		pf("List-Id: <dev.lists.example.org>\nList-Unsubscribe: <mailto:dev-request@lists.example.org?subject=unsubscribe>\nPrecedence: list\n");
	if (pct(10))
		puts_("X-Spam-Status: No, score=-2.9 required=5.0 tests=ALL_TRUSTED,BAYES_00,\n\tDKIM_SIGNED,DKIM_VALID autolearn=ham autolearn_force=no version=3.4.6\n");
	puts_("MIME-Version: 1.0\n");

	uint64_t used = total - start;
	uint64_t rest = size > used + 200 ? size - used - 200 : 60;
	hex(boundary, 28);
	int kind = rn(100);
	if (rest > 60000 && kind < 70)
		kind = 90;	/* big messages are mostly attachments */
	if (kind < 60) {
		puts_("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n");
		text(rest, 0);
	} else if (kind < 80) {
		pf("Content-Type: multipart/alternative;\n boundary=\"%s\"\n\n"
		   "This is a multi-part message in MIME format.\n\n--%s\n"
		   "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n",
		   boundary, boundary);
		text(rest * 2 / 5, 0);
		pf("\n--%s\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n", boundary);
		html(rest * 3 / 5);
		pf("\n--%s--\n", boundary);
	} else {
		uint64_t t = rest / 5 < 3000 ? rest / 5 : 3000;
		static const char *const att[][2] = {
			{ "application/pdf", "report.pdf" },
			{ "image/jpeg", "IMG_2024.jpg" },
			{ "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "budget-Q3.xlsx" },
			{ "application/gzip", "logs.tar.gz" } };
		int a = (int)rn(4);
		pf("Content-Type: multipart/mixed;\n boundary=\"%s\"\n\n"
		   "This is a multi-part message in MIME format.\n\n--%s\n"
		   "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n",
		   boundary, boundary);
		text(t, pct(30));
		pf("\n--%s\nContent-Type: %s;\n name=\"%s\"\n"
		   "Content-Disposition: attachment;\n filename=\"%s\"\n"
		   "Content-Transfer-Encoding: base64\n\n", boundary, att[a][0],
		   att[a][1], att[a][1]);
		base64(rest > t + 300 ? rest - t - 300 : 77);
		pf("\n--%s--\n", boundary);
	}
	putc_('\n');	/* the separator line */
}

int main(int argc, char **argv)
{
	int exact = 0;
	if (argc > 1 && strcmp(argv[1], "-x") == 0) {
		exact = 1;
		argv++; argc--;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: gen-mbox [-x] COUNT MEAN_BYTES SEED OUTFILE\n");
		return 2;
	}
	char *e1, *e2, *e3;
	unsigned long long count = strtoull(argv[1], &e1, 10);
	unsigned long long mean = strtoull(argv[2], &e2, 10);
	unsigned long long seed = strtoull(argv[3], &e3, 10);
	if (*e1 || *e2 || *e3 || count == 0 || mean < 500) {
		fprintf(stderr, "gen-mbox: bad COUNT, MEAN_BYTES (>= 500) or SEED\n");
		return 2;
	}
	ofd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (ofd < 0) {
		perror(argv[4]);
		return 1;
	}
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		s[i] = splitmix(&x);
	for (size_t i = 0; i < NWORDS; i++)
		wlen[i] = strlen(words[i]);

	const double sigma = 0.8, mu = log((double)mean) - sigma * sigma / 2;
	for (msgno = 1; msgno <= count; msgno++) {
		double z = gauss();
		double sz = exact ? (double)mean : exp(mu + sigma * z);
		/* steer the running total towards COUNT x MEAN */
		double behind = (double)mean * (double)(msgno - 1) - (double)total;
		sz += behind < -sz / 2 ? -sz / 2 : behind > sz ? sz : behind;
		if (sz < 700) sz = 700;
		if (sz > 64.0 * (double)mean) sz = 64.0 * (double)mean;
		message((uint64_t)sz);
	}
	flush();
	if (fsync(ofd) < 0 && errno != EINVAL) { /* best effort */ }
	if (close(ofd) < 0) {
		perror("gen-mbox: close");
		return 1;
	}
	fprintf(stderr, "gen-mbox: %llu messages, %llu bytes\n", count, (unsigned long long)total);
	return 0;
}

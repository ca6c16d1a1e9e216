/*
 * utf8.c - UTF-8 user names and passwords (RFC 6856 section 2.2): strict
 * validation (RFC 3629) and normalisation with SASLprep (RFC 4013)
 * through GNU SASL's gsasl_saslprep().
 *
 * Runs where the session runs: in root mode in the unprivileged, chrooted
 * pre-login process.  Computation only: no files, no system calls beyond
 * malloc.  pop3passwd links it too, so that the names it writes are in
 * the form a login's name is normalised to.
 */
#include <gsasl.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

int utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		unsigned long cp;
		size_t n, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		/* 0x80..0xc1: a continuation byte where a lead byte belongs,
		 * or the lead of an overlong two-byte form; 0xf5..0xff lead
		 * past U+10FFFF or are no UTF-8 at all. */
		if (c < 0xc2 || c > 0xf4)
			return 0;
		n = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
		cp = c & (0x3f >> n);
		if (len - i - 1 < n)
			return 0;	/* truncated sequence */
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		/* Overlong three- and four-byte forms, UTF-16 surrogates,
		 * and anything above the last code point. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += n + 1;
	}
	return 1;
}

int utf8_is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

enum utf8_prep utf8_saslprep(const char *in, int stored, char *out,
    size_t size)
{
	char *prepped = NULL;
	size_t len;
	int rc;

	if (!utf8_valid(in, strlen(in)))
		return UTF8_INVALID;
	/* RFC 6856 section 2.2: USER, PASS and the APOP name are query
	 * strings (unassigned code points allowed, RFC 3454 section 7);
	 * what is stored (pop3passwd's names) is a stored string. */
	if (gsasl_saslprep(in, stored ? 0 : GSASL_ALLOW_UNASSIGNED,
	    &prepped, &rc) != GSASL_OK || !prepped)
		return UTF8_PROHIBITED;
	len = strlen(prepped);
	if (len == 0 || len >= size || !utf8_valid(prepped, len)) {
		explicit_bzero(prepped, len);
		free(prepped);
		return len == 0 ? UTF8_PROHIBITED : UTF8_TOOLONG;
	}
	memcpy(out, prepped, len + 1);
	explicit_bzero(prepped, len);
	free(prepped);
	return UTF8_OK;
}

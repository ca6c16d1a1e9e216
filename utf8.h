/*
 * utf8.h - UTF-8 user names and passwords (RFC 6856): validation and
 * SASLprep (utf8.c).  Its own header, so that pop3passwd, which does not
 * include proto.h, shares it.
 */
#ifndef POP3D_UTF8_H
#define POP3D_UTF8_H

#include <stddef.h>

/* Returns 1 if s[0..len) is UTF-8 as RFC 3629 defines it: no overlong
 * forms, no UTF-16 surrogates, nothing above U+10FFFF, no truncated
 * sequence, no stray continuation byte; else 0. */
int utf8_valid(const char *s, size_t len);

/* Returns 1 if the string has no byte above 0x7f. */
int utf8_is_ascii(const char *s);

enum utf8_prep {
	UTF8_OK = 0,
	UTF8_INVALID,		/* not UTF-8 (utf8_valid()) */
	UTF8_PROHIBITED,	/* SASLprep refused it, or it maps to "" */
	UTF8_TOOLONG		/* the result does not fit */
};

/* Validates in and normalises it with SASLprep (RFC 4013) into out (size
 * bytes, NUL-terminated): as a query string (unassigned code points
 * allowed) unless stored is set.  On any failure out is untouched.  The
 * caller checks what the result may be used for (a user name: still
 * auth_valid_username(), since NFKC can make a '/' of U+FF0F). */
enum utf8_prep utf8_saslprep(const char *in, int stored, char *out,
    size_t size);

#endif

/*
 * fuzz_maildir_cache.c - libFuzzer harness for the Maildir cache file's
 * parser (maildir_cache.c, mdcache_parse), which reads a file the user
 * can write, at every login with -I.
 *
 * The input is a cache file.  It is parsed twice: as it is (which a
 * random input fails at the checksum), and with its checksum field made
 * right (as the file's owner can), so that the fuzzer reaches the field
 * checks.  Properties checked, each failure an abort():
 *   - parsing never reads past the input's end (AddressSanitizer: the
 *     input is a copy of exactly its size);
 *   - what parses has at most MAILDIR_CACHE_MAX_MESSAGES records, each
 *     name 1..NAME_MAX bytes without '/' or NUL, not starting with '.'
 *     or ':', pointing into the input, base names strictly ascending, a
 *     CRLF size between the stored size and twice it plus 2, and a
 *     directory of 0 or 1;
 *   - the format is canonical: building what was parsed gives the input
 *     back byte for byte.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "proto.h"
#include "fuzz/fuzz_util.h"

/* maildir_cache.c's layout: the head, then its checksum. */
#define HEAD 88
#define DATA 104

/* The base name's length of a name that is not NUL-terminated. */
static size_t base_len_of(const char *name, size_t len)
{
	const char *colon = memchr(name, ':', len);

	return colon ? (size_t)(colon - name) : len;
}

static void check(const unsigned char *p, size_t len)
{
	struct mdcache c;
	const char *why = NULL;
	unsigned char *again;
	size_t len2, i;

	if (mdcache_parse(p, len, &c, &why) < 0) {
		if (!why || c.e || c.count)
			abort();
		return;
	}
	if (c.count > MAILDIR_CACHE_MAX_MESSAGES)
		abort();
	for (i = 0; i < c.count; i++) {
		const struct mdcache_entry *e = &c.e[i];
		const unsigned char *n = (const unsigned char *)e->name;

		if (n < p + DATA || n + e->name_len > p + len ||
		    e->name_len == 0 || e->name_len > NAME_MAX ||
		    memchr(n, '/', e->name_len) || memchr(n, 0, e->name_len) ||
		    n[0] == '.' || n[0] == ':' || e->base_len == 0 ||
		    e->base_len != base_len_of(e->name, e->name_len) ||
		    e->dir < 0 || e->dir > 1 || e->size < e->st_size ||
		    e->size - e->st_size > e->st_size + 2)
			abort();
		if (i > 0) {
			const struct mdcache_entry *f = &c.e[i - 1];
			size_t m = f->base_len < e->base_len ? f->base_len :
			    e->base_len;
			int r = memcmp(f->name, e->name, m);

			if (r > 0 || (r == 0 && f->base_len >= e->base_len))
				abort();
		}
	}
	if (mdcache_build(&c, &again, &len2) < 0)
		abort();
	if (len2 != len || memcmp(again, p, len))
		abort();
	free(again);
	mdcache_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *p = malloc(size ? size : 1);
	XXH128_canonical_t sum;
	XXH3_state_t *st;

	if (!p)
		return 0;
	memcpy(p, data, size);
	check(p, size);
	if (size >= DATA) {
		st = XXH3_createState();
		if (!st || XXH3_128bits_reset(st) != XXH_OK ||
		    XXH3_128bits_update(st, p, HEAD) != XXH_OK ||
		    XXH3_128bits_update(st, p + DATA, size - DATA) != XXH_OK)
			abort();
		XXH128_canonicalFromHash(&sum, XXH3_128bits_digest(st));
		XXH3_freeState(st);
		memcpy(p + HEAD, sum.digest, sizeof(sum.digest));
		check(p, size);
	}
	free(p);
	return 0;
}

/*
 * tests/mdcreseal.c - recomputes the checksum of a pop3d Maildir cache
 * file after a test edited its bytes, as the file's owner can (the
 * checksum is against damage, not forgery): for tests/e2e/maildir-idxcache.sh.
 *
 *   mdcreseal FILE
 *
 * The layout is maildir_cache.c's: an 88-byte head, the 16-byte XXH3-128
 * of everything else, the records.  Exit status 0, or 1 with a message.
 */
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#define HEAD 88
#define DATA 104

int main(int argc, char **argv)
{
	static unsigned char b[1 << 24];
	XXH128_canonical_t c;
	XXH3_state_t *md;
	size_t len;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: mdcreseal FILE\n");
		return 1;
	}
	f = fopen(argv[1], "r+b");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	len = fread(b, 1, sizeof(b), f);
	if (len < DATA || len == sizeof(b)) {
		fprintf(stderr, "mdcreseal: not a cache file of a size we take\n");
		return 1;
	}
	md = XXH3_createState();
	if (!md || XXH3_128bits_reset(md) != XXH_OK ||
	    XXH3_128bits_update(md, b, HEAD) != XXH_OK ||
	    XXH3_128bits_update(md, b + DATA, len - DATA) != XXH_OK) {
		fprintf(stderr, "mdcreseal: xxhash failed\n");
		return 1;
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(md));
	if (fseek(f, HEAD, SEEK_SET) != 0 ||
	    fwrite(c.digest, 1, sizeof(c.digest), f) != sizeof(c.digest) ||
	    fclose(f) != 0) {
		perror(argv[1]);
		return 1;
	}
	return 0;
}

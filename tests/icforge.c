/*
 * tests/icforge.c - sets one field of one record of a pop3d index cache
 * and reseals its checksum, as the owner of the file can (the checksum is
 * against damage, not forgery): for tests/e2e/idxcache.sh.
 *
 *   icforge FILE RECORD OFFSET WIDTH VALUE
 *
 * OFFSET and WIDTH in bytes inside the 56-byte record (idxcache.c: 24 is
 * the size, 8 bytes).  Exit status 0, or 1 with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define HEAD 64
#define DATA 80
#define REC 56

int main(int argc, char **argv)
{
	static unsigned char b[1 << 20];
	XXH128_canonical_t c;
	XXH3_state_t *md;
	unsigned long rec, off, width;
	unsigned long long v;
	size_t len;
	FILE *f;

	if (argc != 6) {
		fprintf(stderr, "usage: icforge FILE RECORD OFFSET WIDTH VALUE\n");
		return 1;
	}
	rec = strtoul(argv[2], NULL, 10);
	off = strtoul(argv[3], NULL, 10);
	width = strtoul(argv[4], NULL, 10);
	v = strtoull(argv[5], NULL, 10);
	f = fopen(argv[1], "r+b");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	len = fread(b, 1, sizeof(b), f);
	if (len < DATA || off + width > REC || width > 8 ||
	    DATA + (rec + 1) * REC > len) {
		fprintf(stderr, "icforge: no such record or field\n");
		return 1;
	}
	for (unsigned long i = 0; i < width; i++)
		b[DATA + rec * REC + off + i] = (unsigned char)(v >> (8 * i));
	md = XXH3_createState();
	if (!md || XXH3_128bits_reset(md) != XXH_OK ||
	    XXH3_128bits_update(md, b, HEAD) != XXH_OK ||
	    XXH3_128bits_update(md, b + DATA, len - DATA) != XXH_OK) {
		fprintf(stderr, "icforge: xxhash failed\n");
		return 1;
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(md));
	XXH3_freeState(md);
	memcpy(b + HEAD, c.digest, 16);
	if (fseek(f, 0, SEEK_SET) || fwrite(b, 1, len, f) != len ||
	    fclose(f)) {
		perror(argv[1]);
		return 1;
	}
	return 0;
}

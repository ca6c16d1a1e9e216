/*
 * scanloop.h - the hot loop of an mbox scan, included by mailbox.c once
 * per instruction set (a template: SCAN_FN names the function, SCAN_TARGET
 * its target attribute, SCAN_MASKS the function that gives the newline
 * and CR bit masks of 64 bytes, SCAN_POPCOUNT a population count).
 *
 * Ordinary body lines only need their line ends counted and an eye kept on
 * empty lines (a From_ line may follow).  64 bytes at a time: from the
 * newline and CR masks (shifted, with the bits carried over from the bytes
 * before) come the newlines after a CR and those that end an empty line
 * ("\n\n" or "\n\r\n").  Only after an empty line is a From_ line looked
 * for.  Consumes whole lines and stops before a From_ line after an empty
 * one (scan_fragment()'s job).  Returns the number of bytes consumed.
 */
SCAN_TARGET static size_t SCAN_FN(struct scan *s)
{
	unsigned char *start = s->buf + s->bpos, *end = s->buf + s->blen;
	unsigned char *q = start, *stop = start, *blank_at = NULL;
	uint64_t bare = 0, c_nl1, c_cr1, c_nl2;
	int blank_len = 0, last_blank = s->prev_blank;

	/* The carried bits need the two bytes before the first block; and
	 * a From_ line right here after an empty line is not ours. */
	if (start - s->buf < 2 || (s->prev_blank &&
	    (end - start < 5 || !memcmp(start, "From ", 5))))
		return 0;
	c_nl1 = start[-1] == '\n';
	c_cr1 = start[-1] == '\r';
	c_nl2 = (uint64_t)(start[-2] == '\n') | (uint64_t)(start[-1] == '\n') << 1;
	for (; q + 64 <= end; q += 64) {
		uint64_t nl, cr, pcr, blank, keep = ~0ULL, b;
		int boundary = 0;

		SCAN_MASKS(q, &nl, &cr);
		pcr = cr << 1 | c_cr1;
		blank = nl & ((nl << 1 | c_nl1) | (pcr & (nl << 2 | c_nl2)));
		c_nl1 = nl >> 63;
		c_cr1 = cr >> 63;
		c_nl2 = nl >> 62;
		if (!nl)
			continue;
		/* A From_ line after an empty one ends the fast part. */
		for (b = blank; b; b &= b - 1) {
			unsigned bit = (unsigned)__builtin_ctzll(b);
			unsigned char *next = q + bit + 1;

			if (end - next < 5 || !memcmp(next, "From ", 5)) {
				keep = bit == 63 ? ~0ULL : (2ULL << bit) - 1;
				boundary = 1;
				break;
			}
		}
		nl &= keep;
		blank &= keep;
		bare += (uint64_t)SCAN_POPCOUNT(nl & ~pcr);
		if (blank) {
			unsigned bit = 63U - (unsigned)__builtin_clzll(blank);

			blank_len = (pcr >> bit) & 1 ? 2 : 1;
			blank_at = q + bit + 1 - blank_len;
		}
		/* Consumed up to the last newline so far. */
		b = 63U - (unsigned)__builtin_clzll(nl);
		stop = q + b + 1;
		last_blank = (int)((blank >> b) & 1);
		if (boundary)
			break;
	}
	if (stop == start)
		return 0;
	s->bare_lf += bare;
	s->prev_blank = last_blank;
	if (blank_at) {
		s->prev_blank_off = s->boff + (uint64_t)(blank_at - s->buf);
		s->prev_blank_len = (unsigned)blank_len;
	}
	s->last_byte = '\n';
	s->bpos += (size_t)(stop - start);
	return (size_t)(stop - start);
}

#undef SCAN_FN
#undef SCAN_TARGET
#undef SCAN_MASKS
#undef SCAN_POPCOUNT

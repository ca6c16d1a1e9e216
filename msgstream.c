/*
 * msgstream.c - a stored message on the wire: CRLF line ends, RFC 1939
 * byte-stuffing, RETR's whole message or TOP's header and first lines,
 * in bounded blocks; and the size that will take, for back ends that
 * must count it.  Shared by the maildrop back ends (mailbox.c,
 * maildrop_maildir.c); they say where the bytes are.  The client
 * workarounds (--client-workarounds) are applied here, and counted here,
 * so what LIST announces is what RETR sends with them.
 *
 * Runs with the user's privileges.  Files are read with pread(2), never
 * mmap(2): another program may truncate one while we read it, and a
 * short read is an error we can handle where SIGBUS is not.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "proto.h"

/*
 * RETR's conversion of stored bytes to the wire: a bare LF becomes CRLF
 * and a line starting with "." gets another one (RFC 1939 byte-stuffing),
 * written straight into the output buffer; with no_nuls a NUL is
 * written as 0x80 (WA_OUTLOOK_NO_NULS: one octet for one, sizes stay).
 * dst has room for 2n + 1 bytes; *at_start and *prev_cr carry the line
 * state across calls.  Returns the bytes written.
 */
static size_t stuff_crlf(const unsigned char *src, size_t n,
    unsigned char *dst, int no_nuls, int *at_start, int *prev_cr)
{
	unsigned char *o = dst;
	size_t i = 0;

	while (i < n) {
		const unsigned char *nl;
		size_t seg;

		if (*at_start && src[i] == '.')
			*o++ = '.';
		nl = memchr(src + i, '\n', n - i);
		seg = nl ? (size_t)(nl - (src + i)) : n - i;
		memcpy(o, src + i, seg);
		if (no_nuls) {
			unsigned char *z = o;

			while ((z = memchr(z, '\0', seg - (size_t)(z - o))))
				*z++ = 0x80;
		}
		o += seg;
		if (!nl) {
			*prev_cr = src[n - 1] == '\r';
			*at_start = 0;
			break;
		}
		/* seg is 0 for an empty line (cppcheck assumes otherwise). */
		/* cppcheck-suppress knownConditionTrueFalse */
		if (!(seg ? src[i + seg - 1] == '\r' : *prev_cr))
			*o++ = '\r';
		*o++ = '\n';
		i += seg + 1;
		*at_start = 1;
		*prev_cr = 0;
	}
	return (size_t)(o - dst);
}

/* Where a message is read from, for read_message_block(). */
struct msg_source {
	int fd;
	unsigned char *buf;	/* MBOX_BLOCK_SIZE bytes */
	const char *what;	/* the file, for the log */
};

/*
 * Reads the next block of a message being sent, at most max (<=
 * MBOX_BLOCK_SIZE) bytes, into src->buf.  Returns the bytes read, or
 * minus an md_status: a file shorter than indexed was truncated under us
 * (MD_CHANGED).
 */
static ssize_t read_message_block(const struct msg_source *src,
    uint64_t off, uint64_t left, size_t max)
{
	size_t want;

	if (max > MBOX_BLOCK_SIZE)
		max = MBOX_BLOCK_SIZE;	/* the size of src->buf */
	want = left < max ? (size_t)left : max;
	ssize_t got;

	do
		got = pread(src->fd, src->buf, want, (off_t)off);
	while (got < 0 && errno == EINTR);
	if (got > 0)
		return got;
	log_msg(LOG_ERR, "maildrop %s shrank while a message was being sent",
	    src->what);
	return got < 0 ? -(ssize_t)MD_ERROR : -(ssize_t)MD_CHANGED;
}

/* Converts len bytes at p into the output buffer in pieces that fit it
 * (at worst twice their size, plus a dot).  Returns 0 or MD_NET. */
static int send_converted(struct netio *io, const unsigned char *p, size_t len,
    unsigned wa, int *at_start, int *prev_cr)
{
	const size_t piece = (OUTPUT_BUFFER_SIZE - 1) / 2;

	for (size_t i = 0; i < len; i += piece) {
		size_t n = len - i < piece ? len - i : piece;
		unsigned char *dst = io_space(io, 2 * n + 1);

		if (!dst)
			return MD_NET;
		io_commit(io, stuff_crlf(p + i, n, dst,
		    (wa & WA_OUTLOOK_NO_NULS) != 0, at_start, prev_cr));
	}
	return MD_OK;
}

/*
 * The end of a message: a last line without its newline gets one; then,
 * with WA_OE_NS_EOH, a message that ended inside its header gets the
 * empty line that ends it (Dovecot's oe-ns-eoh), so Outlook Express and
 * Netscape see where the header stops.  msg_size_end() counts the same.
 */
static int send_end(struct netio *io, unsigned wa, int at_start,
    int in_header)
{
	if (!at_start && io_write(io, "\r\n", 2))
		return MD_NET;
	if ((wa & WA_OE_NS_EOH) && in_header && io_write(io, "\r\n", 2))
		return MD_NET;
	return MD_OK;
}

void eoh_feed(struct eoh_scan *e, const unsigned char *p, size_t n)
{
	const unsigned char *end = p + n, *nl;

	if (e->body || n == 0)
		return;
	if (e->cr_start) {
		/* A line that started with "\r" at the end of the last
		 * block: empty if the "\n" follows. */
		e->cr_start = 0;
		if (p[0] == '\n') {
			e->body = 1;
			return;
		}
		e->mid_line = 1;
	}
	while (p < end) {
		if (!e->mid_line) {
			if (p[0] == '\n' || (p[0] == '\r' && p + 1 < end &&
			    p[1] == '\n')) {
				e->body = 1;
				return;
			}
			if (p[0] == '\r' && p + 1 == end) {
				e->cr_start = 1;
				return;
			}
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			e->mid_line = 1;
			return;
		}
		p = nl + 1;
		e->mid_line = 0;
	}
}

/* RETR: the whole message. */
static int send_whole(const struct msg_source *src, uint64_t off,
    uint64_t left, unsigned wa, struct netio *io)
{
	int at_start = 1, prev_cr = 0;
	struct eoh_scan eoh;

	memset(&eoh, 0, sizeof(eoh));
	while (left > 0) {
		ssize_t got = read_message_block(src, off, left,
		    MBOX_BLOCK_SIZE);

		if (got < 0)
			return (int)-got;
		off += (uint64_t)got;
		left -= (uint64_t)got;
		if (wa & WA_OE_NS_EOH)
			eoh_feed(&eoh, src->buf, (size_t)got);
		if (send_converted(io, src->buf, (size_t)got, wa, &at_start,
		    &prev_cr))
			return MD_NET;
	}
	return send_end(io, wa, at_start, !eoh.body);
}

/*
 * TOP: the header, the blank line after it and body_lines body lines.
 * Each block is first walked line by line to find where to stop, and
 * what is sent of it goes through the same conversion as RETR.
 */
static int send_top(const struct msg_source *src, uint64_t off,
    uint64_t left, long body_lines, unsigned wa, struct netio *io)
{
	int line_start = 1, in_header = 1;
	int at_start = 1, prev_cr = 0;	/* the conversion's state */
	int cr_at_start = 0;	/* a line start "\r" ended the last block */
	long sent_body = 0;
	/* TOP mostly needs the header only: read a little first, and more
	 * (doubling) only when the message goes on. */
	size_t block = TOP_FIRST_BLOCK < MBOX_BLOCK_SIZE ? TOP_FIRST_BLOCK :
	    MBOX_BLOCK_SIZE;

	while (left > 0) {
		const unsigned char *p = src->buf, *end, *nl;
		ssize_t got = read_message_block(src, off, left, block);

		if (got < 0)
			return (int)-got;
		block = block < MBOX_BLOCK_SIZE / 2 ? 2 * block :
		    MBOX_BLOCK_SIZE;
		off += (uint64_t)got;
		left -= (uint64_t)got;
		end = p + got;
		if (cr_at_start) {
			/* The "\r" was the start of the "\r\n" blank line
			 * that ends the header. */
			if (in_header && p[0] == '\n')
				in_header = 0;
			cr_at_start = 0;
		}
		while (p < end) {
			if (line_start) {
				int blank = p[0] == '\n' ||
				    (p[0] == '\r' && p + 1 < end &&
				    p[1] == '\n');

				if (!in_header && sent_body++ >= body_lines) {
					left = 0;	/* enough: send up to p */
					end = p;
					break;
				}
				if (in_header && blank)
					in_header = 0;
				cr_at_start = p[0] == '\r' && p + 1 == end;
			}
			nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl) {
				line_start = 0;
				break;
			}
			p = nl + 1;
			line_start = 1;
		}
		if (send_converted(io, src->buf, (size_t)(end - src->buf), wa,
		    &at_start, &prev_cr))
			return MD_NET;
	}
	/* Only a last line without its newline ends mid-line here, and
	 * only a message that ends inside its header is still in it. */
	return send_end(io, wa, at_start, in_header);
}

/* buf is read into (through src); clang-tidy does not follow the copy. */
int msg_stream(int fd, uint64_t off, uint64_t len, long body_lines,
    unsigned wa,
    unsigned char *buf, /* NOLINT(readability-non-const-parameter) */
    const char *what, struct netio *io)
{
	const struct msg_source src = { fd, buf, what };

	return body_lines < 0 ? send_whole(&src, off, len, wa, io) :
	    send_top(&src, off, len, body_lines, wa, io);
}

void msg_size_add(struct msg_size *ms, const unsigned char *p, size_t n)
{
	const unsigned char *end = p + n, *nl;

	if (n == 0)
		return;
	eoh_feed(&ms->eoh, p, n);
	ms->size += n;
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
		/* A bare LF is sent as CRLF; a CR before it may have ended
		 * the previous block. */
		if (nl == p ? !ms->prev_cr : nl[-1] != '\r')
			ms->size++;
		ms->prev_cr = 0;
		p = nl + 1;
	}
	ms->prev_cr = end[-1] == '\r';
	ms->last_nl = end[-1] == '\n';
	ms->any = 1;
}

uint64_t msg_size_end(const struct msg_size *ms, unsigned wa)
{
	/* A last line without its newline gets one, and with oe-ns-eoh a
	 * message that ends inside its header an empty line (send_end). */
	return ms->size + (ms->any && !ms->last_nl ? 2 : 0) +
	    ((wa & WA_OE_NS_EOH) && !ms->eoh.body ? 2 : 0);
}

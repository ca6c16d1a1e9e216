/*
 * mailbox.c - the mbox maildrop: scanning it into an index, streaming
 * messages to the client, noticing a rewrite behind our back, and UPDATE.
 *
 * Runs with the user's privileges.  The mbox is read with pread(2), never
 * mmap(2): another program may truncate the file while we read it, and a
 * short read is an error we can handle where SIGBUS is not.
 *
 * Memory is O(messages): the index holds offsets, sizes and a hash per
 * message; message text is only ever in a fixed-size block buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <immintrin.h>

#include <md5.h>
#include <xxhash.h>

#include "proto.h"

/* ------------------------------------------------------------ scanning */

/*
 * Header lines a mail reader rewrites (flags, counts).  They are left out
 * of the wide UID hash, so marking a message read does not change its id.
 */
static const char *const volatile_headers[] = {
	"Status:", "X-Status:", "X-Keywords:", "X-UID:", "X-IMAP:",
	"X-IMAPbase:", "Content-Length:", "Lines:", "X-Mozilla-Status:",
	"X-Mozilla-Status2:", NULL
};

struct scan {
	int fd;
	uint64_t origin;		/* where the scan starts: a From_ line */
	uint64_t limit;			/* where it ends */
	unsigned char *buf;
	size_t blen, bpos;		/* valid bytes, parse position */
	uint64_t boff;			/* file offset of buf[0] */
	int eof;			/* nothing more to read */

	struct mbox_index *idx;
	struct message cur;
	int in_msg, in_header;
	MD5_CTX fixed_ctx;		/* popa3d's UID hash */
	MD5_CTX wide_ctx;		/* our fallback UID hash */
	unsigned char *wbuf;		/* its read buffer, made when needed */
	int fixed_any;			/* some bytes went into fixed_ctx */
	int received;			/* popa3d: a Received: line was seen */
	int line_fixed;			/* the current header line's class */
	uint64_t bare_lf;		/* LF without CR in this message */

	/* --uidl-format dovecot, x-uidl: the current message's header id. */
	int fmt;			/* enum uidl_format */
	int cap_kind;			/* the header line being copied */
	int last_kind;			/* the id line a continuation follows */
	int seen_uid, seen_base;	/* a well-formed line was taken */
	uint32_t cur_hid;		/* what goes to idx->hid */
	size_t cap_len;
	int cap_over;			/* longer than HDR_ID_LINE_MAX */
	unsigned char cap[HDR_ID_LINE_MAX];

	int saw_eoh;			/* the header's empty line came */
	uint64_t eoh_off;		/* where it started */
	int prev_blank;			/* the previous line was empty */
	uint64_t prev_blank_off;	/* where it started */
	unsigned prev_blank_len;	/* 1 ("\n") or 2 ("\r\n") */
	unsigned char last_byte;	/* last byte of the previous fragment */
	int in_from_line;		/* inside an overlong From_ line */
};

/* Case-insensitive prefix test: does the line start with name? */
static int line_is(const unsigned char *p, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len >= n && strncasecmp((const char *)p, name, n) == 0;
}

/* Reads more of the file, keeping bytes from bpos on.  Returns 0 or -1. */
static int scan_fill(struct scan *s)
{
	size_t keep = s->blen - s->bpos;
	uint64_t off;
	size_t want;
	ssize_t n;

	if (s->bpos > 0) {
		memmove(s->buf, s->buf + s->bpos, keep);
		s->boff += s->bpos;
		s->blen = keep;
		s->bpos = 0;
	}
	off = s->boff + s->blen;
	want = MBOX_BLOCK_SIZE - s->blen;
	if (s->limit - off < want)
		want = (size_t)(s->limit - off);
	if (want == 0) {
		s->eof = 1;
		return 0;
	}
	do
		n = pread(s->fd, s->buf + s->blen, want, (off_t)off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0)
		s->eof = 1;
	s->blen += (size_t)n;
	return 0;
}

static int index_add(struct mbox_index *idx, const struct message *m,
    uint32_t hid)
{
	if (idx->count == idx->alloc) {
		size_t n = idx->alloc ? idx->alloc * 2 : 64;
		struct message *p;

		if (n > MAX_MAILBOX_MESSAGES)
			n = MAX_MAILBOX_MESSAGES;
		if (idx->count >= n) {
			errno = EFBIG;
			return -1;
		}
		/* The header ids, only with a format that has them. */
		if (idx->fmt != UIDL_POPA3D) {
			uint32_t *h = realloc(idx->hid, n * sizeof(*h));

			if (!h)
				return -1;
			idx->hid = h;
		}
		p = realloc(idx->msgs, n * sizeof(*p));
		if (!p)
			return -1;
		idx->msgs = p;
		idx->alloc = n;
	}
	if (idx->hid)
		idx->hid[idx->count] = hid;
	idx->msgs[idx->count++] = *m;
	return 0;
}

/* ------------------------------------------ header ids (--uidl-format) */

static enum uidl_format uidl_fmt = UIDL_POPA3D;

static const char *const uidl_format_names[] = {
	[UIDL_POPA3D] = "popa3d", [UIDL_DOVECOT] = "dovecot",
	[UIDL_XUIDL] = "x-uidl",
};

void mbox_set_uidl_format(enum uidl_format fmt)
{
	uidl_fmt = fmt;
}

enum uidl_format mbox_get_uidl_format(void)
{
	return uidl_fmt;
}

const char *uidl_format_name(enum uidl_format fmt)
{
	return (unsigned)fmt < sizeof(uidl_format_names) /
	    sizeof(uidl_format_names[0]) ? uidl_format_names[fmt] : "?";
}

int uidl_format_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(uidl_format_names) /
	    sizeof(uidl_format_names[0]); i++)
		if (!strcmp(name, uidl_format_names[i]))
			return (int)i;
	return -1;
}

/* The kinds of header line an id is read from. */
enum { HID_NONE, HID_XUID, HID_BASE, HID_XUIDL };

/* White space around a header value, as Dovecot's parser skips it. */
static int is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The value of a header line "NAME:" (the caller matched the name):
 * after the colon and leading white space, up to the end of the line. */
static const unsigned char *header_value(const unsigned char *line,
    size_t len, size_t name_len, size_t *vlen_r)
{
	size_t i = name_len;

	while (i < len && is_wsp(line[i]))
		i++;
	*vlen_r = len - i;
	return line + i;
}

/* Decimal digits at p (at most 10, value at most 4294967295): the value
 * in *v_r and how many digits, or 0 for none or too many. */
static size_t parse_u32(const unsigned char *p, size_t len, uint32_t *v_r)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		if (i == 10)
			return 0;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (i == 0 || v > UINT32_MAX)
		return 0;
	*v_r = (uint32_t)v;
	return i;
}

static int only_wsp(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_wsp(p[i]))
			return 0;
	return 1;
}

uint32_t mbox_parse_x_uid(const unsigned char *line, size_t len)
{
	size_t vlen, n;
	const unsigned char *v;
	uint32_t uid = 0;

	if (!line_is(line, len, "X-UID:"))
		return 0;
	v = header_value(line, len, 6, &vlen);
	n = parse_u32(v, vlen, &uid);
	if (n == 0 || !only_wsp(v + n, vlen - n))
		return 0;
	return uid;
}

int mbox_parse_x_imapbase(const unsigned char *line, size_t len,
    uint32_t *validity_r, uint32_t *last_r)
{
	size_t vlen, n, m;
	const unsigned char *v;
	uint32_t validity = 0, last = 0;

	if (!line_is(line, len, "X-IMAPbase:"))
		return -1;
	v = header_value(line, len, 11, &vlen);
	n = parse_u32(v, vlen, &validity);
	if (n == 0 || validity == 0 || (n < vlen && !is_wsp(v[n])))
		return -1;
	while (n < vlen && is_wsp(v[n]))
		n++;
	/* LASTUID may be missing (0, as Dovecot reads it); keywords may
	 * follow it, after white space. */
	m = parse_u32(v + n, vlen - n, &last);
	if (m > 0 && n + m < vlen && !is_wsp(v[n + m]))
		return -1;
	if (m == 0 && n < vlen && v[n] >= '0' && v[n] <= '9')
		return -1;	/* digits, but more than 32 bits */
	*validity_r = validity;
	*last_r = last;
	return 0;
}

int mbox_parse_x_uidl(const unsigned char *line, size_t len,
    const unsigned char **id_r, size_t *idlen_r)
{
	size_t vlen, n = 0;
	const unsigned char *v;

	if (!line_is(line, len, "X-UIDL:"))
		return -1;
	v = header_value(line, len, 7, &vlen);
	while (n < vlen && v[n] >= 0x21 && v[n] <= 0x7e)
		n++;
	if (n == 0 || n > MAX_UID_LEN || !only_wsp(v + n, vlen - n))
		return -1;
	*id_r = v;
	*idlen_r = n;
	return 0;
}

/* Keeps an X-UIDL id in the index's string area: its offset + 1, or 0
 * (no memory: the message falls back to its default id). */
static uint32_t ids_add(struct mbox_index *idx, const unsigned char *id,
    size_t len)
{
	size_t off = idx->ids_len;

	if (idx->ids_alloc - idx->ids_len < len + 1) {
		size_t n = idx->ids_alloc ? idx->ids_alloc * 2 : 4096;
		char *p;

		while (n - idx->ids_len < len + 1)
			n *= 2;
		if (n > UINT32_MAX - 1 || !(p = realloc(idx->ids, n)))
			return 0;
		idx->ids = p;
		idx->ids_alloc = n;
	}
	memcpy(idx->ids + off, id, len);
	idx->ids[off + len] = '\0';
	idx->ids_len = off + len + 1;
	return (uint32_t)off + 1;
}

/*
 * A header line of the current message starts (p: its first fragment,
 * at least MBOX_LINE_PEEK bytes or the whole line).  Decides whether it
 * is one to copy: the first well-formed X-UID: or X-UIDL: of a message
 * counts (later ones are ignored), X-IMAPbase: only in the first
 * message of the file.  A continuation line after an X-UID: or X-UIDL:
 * makes it malformed (the id is one token on one line), so a later such
 * line may count instead.
 */
static void hid_line_start(struct scan *s, const unsigned char *p,
    size_t len)
{
	s->cap_kind = HID_NONE;
	if (p[0] == ' ' || p[0] == '\t') {
		if (s->last_kind == HID_XUID || s->last_kind == HID_XUIDL) {
			if (s->last_kind == HID_XUIDL && s->cur_hid)
				s->idx->ids_len = s->cur_hid - 1;
			s->cur_hid = 0;
			s->seen_uid = 0;
			s->last_kind = HID_NONE;
		}
		return;
	}
	s->last_kind = HID_NONE;
	if (p[0] != 'X' && p[0] != 'x')
		return;
	if (s->fmt == UIDL_DOVECOT) {
		if (!s->seen_uid && line_is(p, len, "X-UID:"))
			s->cap_kind = HID_XUID;
		else if (!s->seen_base && s->cur.from_off == 0 &&
		    line_is(p, len, "X-IMAPbase:"))
			s->cap_kind = HID_BASE;
	} else if (!s->seen_uid && line_is(p, len, "X-UIDL:")) {
		s->cap_kind = HID_XUIDL;
	}
	s->cap_len = 0;
	s->cap_over = 0;
}

/* Copies a fragment of the line being read, at most HDR_ID_LINE_MAX. */
static void hid_capture(struct scan *s, const unsigned char *p, size_t len)
{
	size_t room = sizeof(s->cap) - s->cap_len;

	if (len > room) {
		len = room;
		s->cap_over = 1;
	}
	memcpy(s->cap + s->cap_len, p, len);
	s->cap_len += len;
}

/* The copied line is complete: parse it. */
static void hid_commit(struct scan *s)
{
	size_t len = s->cap_len;
	int kind = s->cap_kind;

	s->cap_kind = HID_NONE;
	while (len > 0 && (s->cap[len - 1] == '\n' || s->cap[len - 1] == '\r'))
		len--;
	if (kind == HID_BASE) {
		uint32_t v, last;

		/* Only the numbers matter: a cut keyword list is fine. */
		if (mbox_parse_x_imapbase(s->cap, len, &v, &last) == 0) {
			s->idx->uidvalidity = v;
			s->idx->last_uid = last;
			s->seen_base = 1;
			s->last_kind = HID_BASE;
		}
		return;
	}
	if (s->cap_over)
		return;
	if (kind == HID_XUID) {
		s->cur_hid = mbox_parse_x_uid(s->cap, len);
	} else {
		const unsigned char *id;
		size_t idlen;

		if (mbox_parse_x_uidl(s->cap, len, &id, &idlen) == 0)
			s->cur_hid = ids_add(s->idx, id, idlen);
	}
	if (s->cur_hid) {
		s->seen_uid = 1;
		s->last_kind = kind;
	}
}

static int is_volatile_header(const unsigned char *p, size_t len)
{
	for (size_t i = 0; volatile_headers[i]; i++)
		if (line_is(p, len, volatile_headers[i]))
			return 1;
	return 0;
}

/*
 * The wide UID of a message popa3d's rule cannot tell apart (none of its
 * header lines): MD5 over its header lines except the volatile ones and
 * over its body, empty lines hashed as "\n" and only when something
 * follows them (so the separator before the next message, or its absence
 * at the end of the file, never changes it).  Rare, so the message is
 * read again here rather than hashed during every scan.
 */
#define WIDE_BUF_SIZE 65536

static int wide_uid_hash(struct scan *s, const struct message *m,
    unsigned char md[MD5_DIGEST_LENGTH])
{
	uint64_t off = m->data_off, left = m->data_len;
	size_t have = 0, pos = 0;
	int at_start = 1, in_header = 1, hash_line = 1;
	unsigned pending = 0;

	if (!s->wbuf && !(s->wbuf = malloc(WIDE_BUF_SIZE)))
		return -1;
	MD5Init(&s->wide_ctx);
	for (;;) {
		unsigned char *p, *nl;
		size_t avail, len;
		int blank = 0;

		/* A line start needs enough bytes to be classified. */
		if (have - pos < MBOX_LINE_PEEK && left > 0) {
			size_t n;

			memmove(s->wbuf, s->wbuf + pos, have - pos);
			have -= pos;
			pos = 0;
			n = WIDE_BUF_SIZE - have;
			if (n > left)
				n = (size_t)left;
			if (pread(s->fd, s->wbuf + have, n, (off_t)off) !=
			    (ssize_t)n)
				return -1;
			off += n;
			left -= n;
			have += n;
		}
		if (pos == have)
			break;
		p = s->wbuf + pos;
		avail = have - pos;
		nl = memchr(p, '\n', avail);
		len = nl ? (size_t)(nl - p) + 1 : avail;
		if (at_start) {
			blank = (len == 1 && p[0] == '\n') ||
			    (len == 2 && p[0] == '\r' && p[1] == '\n');
			if (in_header && blank)
				in_header = 0;
			else if (in_header && p[0] != ' ' && p[0] != '\t')
				hash_line = !is_volatile_header(p, len);
		}
		if (in_header) {
			if (hash_line)
				MD5Update(&s->wide_ctx, p, len);
		} else if (at_start && blank) {
			pending++;
		} else {
			for (; pending; pending--)
				MD5Update(&s->wide_ctx, (const uint8_t *)"\n", 1);
			MD5Update(&s->wide_ctx, p, len);
		}
		at_start = nl != NULL;
		pos += len;
	}
	MD5Final(md, &s->wide_ctx);
	return 0;
}

/* Ends the current message at file offset end.  Returns 0 or -1. */
static int finish_message(struct scan *s, uint64_t end, int drop_blank)
{
	struct message *m = &s->cur;
	unsigned char md[MD5_DIGEST_LENGTH];

	if (!s->in_msg)
		return 0;
	if (s->cap_kind)	/* a header line at the end of the file */
		hid_commit(s);
	/* The empty line before the next From_ line separates messages;
	 * it is not part of the message. */
	if (drop_blank && s->prev_blank && s->prev_blank_off >= m->data_off) {
		end = s->prev_blank_off;
		if (s->prev_blank_len == 1)
			s->bare_lf--;
	}
	m->data_len = end - m->data_off;
	/* The header's empty line may have been the separator just
	 * dropped: then the message ends inside its header (oe-ns-eoh). */
	if (!s->saw_eoh || s->eoh_off >= end)
		m->flags |= MSG_NO_EOH;
	m->size = m->data_len + s->bare_lf +
	    ((m->flags & MSG_NO_FINAL_NL) ? 2 : 0);
	if (s->fixed_any) {
		MD5Final(md, &s->fixed_ctx);
	} else {
		/* Nothing popa3d would hash: every such message would get
		 * the MD5 of nothing.  Use the wide hash instead. */
		if (wide_uid_hash(s, m, md) < 0)
			return -1;
		m->flags |= MSG_WIDE_UID;
	}
	memcpy(m->hash, md, sizeof(m->hash));
	s->in_msg = 0;
	return index_add(s->idx, m, s->cur_hid);
}

static int start_message(struct scan *s, uint64_t from_off)
{
	memset(&s->cur, 0, sizeof(s->cur));
	s->cur.from_off = from_off;
	s->in_msg = 1;
	s->in_header = 1;
	s->saw_eoh = 0;
	s->fixed_any = s->received = 0;
	s->line_fixed = 0;
	s->bare_lf = 0;
	s->cap_kind = s->last_kind = HID_NONE;
	s->seen_uid = s->seen_base = 0;
	s->cur_hid = 0;
	MD5Init(&s->fixed_ctx);
	return 0;
}

/*
 * Classifies a header line the way popa3d 1.0.3 does for its UIDs: the
 * first Received: line, Date: and Message-ID: before it, Delivered-To:
 * and X-Delivery-ID: are hashed, continuation lines inherit.  Keeping
 * this byte-compatible means no re-downloads for sites leaving popa3d.
 */
static void classify_header(struct scan *s, const unsigned char *p,
    size_t len)
{
	switch (p[0]) {
	case ' ':
	case '\t':
		return;		/* a continuation inherits its line's class */
	case 'R':
	case 'r':
		/* One Received: line, the local MTA's, is the stable one. */
		if (s->received)
			s->line_fixed = 0;
		else
			s->line_fixed = s->received =
			    line_is(p, len, "Received:");
		break;
	case 'D':
	case 'd':
		s->line_fixed = line_is(p, len, "Delivered-To:") ||
		    (!s->received && line_is(p, len, "Date:"));
		break;
	case 'M':
	case 'm':
		s->line_fixed = !s->received && line_is(p, len, "Message-ID:");
		break;
	case 'X':	/* upper case only, as popa3d */
		s->line_fixed = line_is(p, len, "X-Delivery-ID:");
		break;
	default:
		s->line_fixed = 0;
		break;
	}
}

/*
 * Handles one fragment of a line: p[0..len), where start says whether it
 * begins the line and end whether it holds the line's LF (as its last
 * byte).  A line longer than the block buffer arrives in several
 * fragments; every line start comes with at least MBOX_LINE_PEEK bytes or
 * the whole line, enough to classify it.
 */
static int scan_fragment(struct scan *s, const unsigned char *p, size_t len,
    uint64_t off, int start, int end)
{
	int blank = 0;

	if (s->in_from_line) {
		s->cur.data_off = off + len;
		s->last_byte = p[len - 1];
		s->in_from_line = !end;
		return 0;
	}
	if (start) {
		blank = (len == 1 && p[0] == '\n') ||
		    (len == 2 && p[0] == '\r' && p[1] == '\n');
		if ((off == s->origin || s->prev_blank) && len >= 5 &&
		    memcmp(p, "From ", 5) == 0) {
			if (finish_message(s, off, 1) || start_message(s, off))
				return -1;
			s->prev_blank = 0;
			/* The From_ line is not part of the message. */
			s->cur.data_off = off + len;
			s->last_byte = p[len - 1];
			s->in_from_line = !end;
			return 0;
		}
		if (off == s->origin) {
			errno = 0;
			return -2;	/* not an mbox */
		}
		s->prev_blank = blank;
		if (blank) {
			s->prev_blank_off = off;
			s->prev_blank_len = (unsigned)len;
		}
		if (s->in_header) {
			if (blank) {
				s->in_header = 0;
				s->cap_kind = HID_NONE;
				s->saw_eoh = 1;
				s->eoh_off = off;
			} else {
				classify_header(s, p, len);
				if (s->fmt != UIDL_POPA3D)
					hid_line_start(s, p, len);
			}
		}
	}
	if (s->cap_kind) {
		hid_capture(s, p, len);
		if (end)
			hid_commit(s);
	}

	if (end && (len >= 2 ? p[len - 2] : s->last_byte) != '\r')
		s->bare_lf++;
	s->last_byte = p[len - 1];

	if (s->in_header && !blank && s->line_fixed) {
		MD5Update(&s->fixed_ctx, p, len);
		s->fixed_any = 1;
	}
	return 0;
}

/* Orders message indices by printed UID, then by position in the file. */
static int uid_cmp(const void *a, const void *b, void *base)
{
	const struct message *x = (const struct message *)base +
	    *(const size_t *)a;
	const struct message *y = (const struct message *)base +
	    *(const size_t *)b;
	size_t xi = *(const size_t *)a, yi = *(const size_t *)b;
	int wx = !!(x->flags & MSG_WIDE_UID), wy = !!(y->flags & MSG_WIDE_UID);
	int hx = !!(x->flags & MSG_HDR_UID), hy = !!(y->flags & MSG_HDR_UID);
	int r;

	if (hx != hy)
		return hx - hy;
	if (wx != wy)
		return wx - wy;
	/* popa3d prints only the first 8 bytes; compare what is printed. */
	r = memcmp(x->hash, y->hash, wx ? 16 : 8);
	if (r)
		return r;
	return xi < yi ? -1 : xi > yi;
}

/* Gives messages with equal UIDs the suffixes -2, -3, ... in file order:
 * RFC 1939 wants UIDs unique, and identical copies do happen.  Messages
 * shown with a header id (MSG_HDR_UID) are left alone: resolve_ids()
 * keeps those unique. */
int mbox_number_duplicates(struct mbox_index *idx)
{
	size_t *order, i, j;

	if (idx->count < 2)
		return 0;
	order = calloc(idx->count, sizeof(*order));
	if (!order)
		return -1;
	for (i = 0; i < idx->count; i++)
		order[i] = i;
	qsort_r(order, idx->count, sizeof(*order), uid_cmp, idx->msgs);
	for (i = 0; i < idx->count; i = j) {
		uint32_t n = 1;

		for (j = i + 1; j < idx->count; j++) {
			const struct message *a = &idx->msgs[order[i]];
			const struct message *b = &idx->msgs[order[j]];

			if ((a->flags & MSG_HDR_UID) ||
			    ((a->flags ^ b->flags) &
			    (MSG_WIDE_UID | MSG_HDR_UID)) ||
			    memcmp(a->hash, b->hash,
			    (a->flags & MSG_WIDE_UID) ? 16 : 8))
				break;
			idx->msgs[order[j]].dup = ++n;
		}
	}
	free(order);
	return 0;
}

/*
 * Which messages show their header id (MSG_HDR_UID).  dovecot: as
 * Dovecot's mbox driver takes X-UIDs: the first message's X-IMAPbase
 * gives UIDVALIDITY (none: no message has a usable id); an X-UID counts
 * only if it is above the previous message's UID, where a message
 * without a usable X-UID takes the UID Dovecot would give it (the next
 * one: one above the X-IMAPbase last UID and above every X-UID seen), so
 * X-UIDs below it are ignored too.  x-uidl: every message with an id.
 */
static void choose_header_ids(struct mbox_index *idx)
{
	uint64_t prev = 0, next = (uint64_t)idx->last_uid + 1;

	for (size_t i = 0; i < idx->count; i++) {
		uint32_t v = idx->hid[i];

		idx->msgs[i].flags &= ~(uint32_t)MSG_HDR_UID;
		if (idx->fmt == UIDL_XUIDL) {
			if (v)
				idx->msgs[i].flags |= MSG_HDR_UID;
			continue;
		}
		if (v >= next)
			next = (uint64_t)v + 1;
		if (idx->uidvalidity && v > prev) {
			idx->msgs[i].flags |= MSG_HDR_UID;
			prev = v;
		} else {
			prev = next++;
		}
	}
}

struct shown_id {
	char id[MAX_UID_LEN + 1];
	size_t n;
};

static int shown_cmp(const void *a, const void *b)
{
	const struct shown_id *x = a, *y = b;
	int r = strcmp(x->id, y->id);

	return r ? r : x->n < y->n ? -1 : x->n > y->n;
}

/*
 * Unique ids, whatever the headers say (RFC 1939): among messages that
 * would show the same id, a header id gives way to a default one (which
 * keeps it), and of several header ids the first in the file keeps it;
 * those that give way show their default id.  That can meet another
 * default id, so the default ids are numbered again (-2, -3, ...) and
 * the whole checked again until nothing moves (each round takes away a
 * header id).  Logged once per process.  Returns 0 or -1 (ENOMEM).
 */
static int resolve_ids(struct mbox_index *idx)
{
	static int logged;
	struct shown_id *u = NULL;
	size_t gave_way = 0;

	choose_header_ids(idx);
	for (;;) {
		size_t i, j, moved = 0, any = 0;

		for (i = 0; i < idx->count; i++) {
			idx->msgs[i].dup = 0;
			any += !!(idx->msgs[i].flags & MSG_HDR_UID);
		}
		if (mbox_number_duplicates(idx) < 0)
			goto fail;
		if (!any || idx->count < 2)
			break;
		if (!u && !(u = calloc(idx->count, sizeof(*u))))
			goto fail;
		for (i = 0; i < idx->count; i++) {
			mbox_index_uid(idx, i, u[i].id);
			u[i].n = i;
		}
		qsort(u, idx->count, sizeof(*u), shown_cmp);
		for (i = 0; i < idx->count; i = j) {
			int has_default = 0;

			for (j = i; j < idx->count &&
			    !strcmp(u[j].id, u[i].id); j++)
				has_default |= !(idx->msgs[u[j].n].flags &
				    MSG_HDR_UID);
			for (size_t k = i; j - i > 1 && k < j; k++) {
				struct message *m = &idx->msgs[u[k].n];

				if ((m->flags & MSG_HDR_UID) &&
				    (has_default || k > i)) {
					m->flags &= ~(uint32_t)MSG_HDR_UID;
					moved++;
				}
			}
		}
		if (!moved)
			break;
		gave_way += moved;
	}
	free(u);
	if (gave_way && !logged) {
		logged = 1;
		log_msg(LOG_NOTICE, "uidl-format %s: %zu message%s would "
		    "show another message's id; shown with %s default id",
		    uidl_format_name((enum uidl_format)idx->fmt), gave_way,
		    gave_way == 1 ? "" : "s", gave_way == 1 ? "its" : "their");
	}
	return 0;
fail:
	free(u);
	return -1;
}

/* Bits set in a 64-bit mask, without a libgcc call (-mpopcnt is not in
 * the x86-64 baseline). */
static inline unsigned popcount64(uint64_t x)
{
	x -= (x >> 1) & 0x5555555555555555ULL;
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (unsigned)((x * 0x0101010101010101ULL) >> 56);
}

/* The newline and CR bit masks of 64 bytes (bit i: p[i]), with SSE2 (the
 * x86-64 baseline). */
static inline void masks_sse2(const unsigned char *p, uint64_t *nl_r,
    uint64_t *cr_r)
{
	const __m128i nlv = _mm_set1_epi8('\n'), crv = _mm_set1_epi8('\r');
	uint64_t nl = 0, cr = 0;

	for (int k = 0; k < 4; k++) {
		__m128i v = _mm_loadu_si128(
		    (const void *)(p + (ptrdiff_t)16 * k));

		nl |= (uint64_t)(unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(v, nlv)) << (16 * k);
		cr |= (uint64_t)(unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(v, crv)) << (16 * k);
	}
	*nl_r = nl;
	*cr_r = cr;
}

/* The same with AVX2, for CPUs that have it (chosen at run time). */
__attribute__((target("avx2"))) static inline void masks_avx2(
    const unsigned char *p, uint64_t *nl_r, uint64_t *cr_r)
{
	const __m256i nlv = _mm256_set1_epi8('\n'), crv = _mm256_set1_epi8('\r');
	__m256i a = _mm256_loadu_si256((const void *)p);
	__m256i b = _mm256_loadu_si256((const void *)(p + 32));

	*nl_r = (uint64_t)(uint32_t)_mm256_movemask_epi8(
	    _mm256_cmpeq_epi8(a, nlv)) |
	    (uint64_t)(uint32_t)_mm256_movemask_epi8(
	    _mm256_cmpeq_epi8(b, nlv)) << 32;
	*cr_r = (uint64_t)(uint32_t)_mm256_movemask_epi8(
	    _mm256_cmpeq_epi8(a, crv)) |
	    (uint64_t)(uint32_t)_mm256_movemask_epi8(
	    _mm256_cmpeq_epi8(b, crv)) << 32;
}

/*
 * The hot loop of a scan, scanloop.h, compiled twice: with SSE2 for any
 * x86-64, and with AVX2 and POPCNT where the CPU has them.
 */
#define SCAN_FN		scan_body_sse2
#define SCAN_TARGET
#define SCAN_MASKS	masks_sse2
#define SCAN_POPCOUNT	popcount64
#include "scanloop.h"

#define SCAN_FN		scan_body_avx2
#define SCAN_TARGET	__attribute__((target("avx2,popcnt")))
#define SCAN_MASKS	masks_avx2
#define SCAN_POPCOUNT	__builtin_popcountll
#include "scanloop.h"

static size_t (*scan_body_fast)(struct scan *);

void mbox_scan_select(int force_sse2)
{
	__builtin_cpu_init();
	scan_body_fast = !force_sse2 && __builtin_cpu_supports("avx2") &&
	    __builtin_cpu_supports("popcnt") ? scan_body_avx2 :
	    scan_body_sse2;
}

int mbox_scan(int fd, uint64_t limit, struct mbox_index *idx)
{
	return mbox_scan_range(fd, 0, limit, idx);
}

int mbox_scan_range(int fd, uint64_t start, uint64_t limit,
    struct mbox_index *idx)
{
	struct scan s;
	int r = MBOX_ERROR;

	if (!scan_body_fast)
		mbox_scan_select(0);
	memset(&s, 0, sizeof(s));
	memset(idx, 0, sizeof(*idx));
	s.fd = fd;
	s.origin = start;
	s.boff = start;
	s.limit = limit;
	s.idx = idx;
	s.fmt = idx->fmt = (int)uidl_fmt;
	s.buf = malloc(MBOX_BLOCK_SIZE);
	if (!s.buf)
		goto out;

	for (;;) {
		unsigned char *p, *nl;
		size_t avail, len;
		uint64_t off;
		int rr;

		/* A line start needs enough bytes to be classified. */
		if (!s.eof && s.blen - s.bpos < MBOX_LINE_PEEK &&
		    scan_fill(&s))
			goto out;
		avail = s.blen - s.bpos;
		if (avail == 0)
			break;
		/* Plain body text takes the fast way; anything else, one
		 * line at a time below. */
		if (s.in_msg && !s.in_header && !s.in_from_line &&
		    scan_body_fast(&s) > 0)
			continue;
		p = s.buf + s.bpos;
		off = s.boff + s.bpos;
		nl = memchr(p, '\n', avail);
		if (nl) {
			len = (size_t)(nl - p) + 1;
			rr = scan_fragment(&s, p, len, off, 1, 1);
			s.bpos += len;
		} else if (s.eof) {
			len = avail;
			rr = scan_fragment(&s, p, len, off, 1, 0);
			s.bpos += len;
		} else {
			/* A line longer than what we hold: take it in
			 * fragments until its LF shows up. */
			int first = 1;

			for (;;) {
				p = s.buf + s.bpos;
				avail = s.blen - s.bpos;
				off = s.boff + s.bpos;
				nl = memchr(p, '\n', avail);
				len = nl ? (size_t)(nl - p) + 1 : avail;
				rr = scan_fragment(&s, p, len, off, first,
				    nl != NULL);
				s.bpos += len;
				first = 0;
				if (rr < 0 || nl)
					break;
				if (scan_fill(&s))
					goto out;
				if (s.blen == s.bpos)
					break;	/* EOF inside the line */
			}
		}
		if (rr == -2) {
			r = MBOX_NOT_MBOX;
			goto out;
		}
		if (rr < 0)
			goto out;
	}

	idx->scanned = s.boff + s.blen;
	if (limit != UINT64_MAX && idx->scanned != limit) {
		r = MBOX_CHANGED;	/* the file shrank under us */
		goto out;
	}
	if (s.in_msg && s.cur.data_off < idx->scanned && s.last_byte != '\n')
		s.cur.flags |= MSG_NO_FINAL_NL;
	if (finish_message(&s, idx->scanned, 1) ||
	    (idx->fmt == UIDL_POPA3D ? mbox_number_duplicates(idx) :
	    resolve_ids(idx)))
		goto out;
	r = MBOX_OK;
out:
	if (r != MBOX_OK)
		mbox_index_free(idx);
	free(s.wbuf);
	free(s.buf);
	return r;
}

void mbox_index_free(struct mbox_index *idx)
{
	free(idx->hid);
	free(idx->ids);
	free(idx->msgs);
	memset(idx, 0, sizeof(*idx));
}

void mbox_uid(const struct message *m, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	/* popa3d prints the first 8 bytes as two little-endian words. */
	static const int popa3d_order[8] = { 3, 2, 1, 0, 7, 6, 5, 4 };
	size_t i, o = 0;

	if (m->flags & MSG_WIDE_UID) {
		for (i = 0; i < 16; i++) {
			buf[o++] = hex[m->hash[i] >> 4];
			buf[o++] = hex[m->hash[i] & 15];
		}
	} else {
		for (i = 0; i < 8; i++) {
			unsigned char b = m->hash[popa3d_order[i]];

			buf[o++] = hex[b >> 4];
			buf[o++] = hex[b & 15];
		}
	}
	if (m->dup)
		snprintf(buf + o, MAX_UID_LEN + 1 - o, "-%u", (unsigned)m->dup);
	else
		buf[o] = '\0';
}

void mbox_index_uid(const struct mbox_index *idx, size_t n, char *buf)
{
	const struct message *m = &idx->msgs[n];

	if (!(m->flags & MSG_HDR_UID) || !idx->hid) {
		mbox_uid(m, buf);
	} else if (idx->fmt == UIDL_DOVECOT) {
		/* Dovecot's default pop3_uidl_format, %08Xu%08Xv, which
		 * Dovecot prints in lower-case hex (Debian's 2.3.19 does). */
		snprintf(buf, MAX_UID_LEN + 1, "%08x%08x",
		    (unsigned)idx->hid[n], (unsigned)idx->uidvalidity);
	} else {
		snprintf(buf, MAX_UID_LEN + 1, "%s",
		    idx->ids + idx->hid[n] - 1);
	}
}

/* What the headers of message i of a and message j of b say, the same?
 * (Not whether it is shown: that depends on the other messages.) */
static int same_header_id(const struct mbox_index *a, size_t i,
    const struct mbox_index *b, size_t j)
{
	uint32_t x, y;

	if (a->fmt != b->fmt)
		return 0;
	if (!a->hid || !b->hid)
		return !a->hid && !b->hid;
	x = a->hid[i];
	y = b->hid[j];
	if (a->fmt == UIDL_XUIDL)
		return x && y ? !strcmp(a->ids + x - 1, b->ids + y - 1) :
		    x == y;
	/* The first message carries X-IMAPbase. */
	if (a->msgs[i].from_off == 0 && (a->uidvalidity != b->uidvalidity ||
	    a->last_uid != b->last_uid))
		return 0;
	return x == y;
}

/* ------------------------------------------------------ open and check */

static void count_live(struct mailbox *mb)
{
	size_t i;

	mb->live_count = 0;
	mb->live_size = 0;
	for (i = 0; i < mb->idx.count; i++)
		if (!(mb->idx.msgs[i].flags & MSG_DELETED)) {
			mb->live_count++;
			mb->live_size += mb->idx.msgs[i].size;
		}
}

static int tail_sum(const struct mailbox *mb, unsigned char sum[16]);

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/*
 * No file at path.  In an existing directory that is a maildrop no mail
 * has reached yet: empty, and never created here.  Without the directory
 * it is a wrong path (a typo in -m, a template copied from another
 * launcher's syntax) or a spool not mounted: an empty maildrop would hide
 * that and hide the mail, so it is a temporary failure, logged.
 */
static int missing_mbox(const char *path)
{
	char dir[MAX_PATH_LEN];
	struct stat st;

	if (path_dir(dir, sizeof(dir), path) < 0)
		return MBOX_ERROR;
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return MBOX_OK;
		log_msg(LOG_ERR, "maildrop %s: %s is not a directory", path,
		    dir);
	} else if (errno == ENOENT || errno == ENOTDIR) {
		log_msg(LOG_ERR, "maildrop %s: its directory %s does not "
		    "exist", path, dir);
	} else {
		log_msg(LOG_ERR, "maildrop %s: its directory %s: %s", path,
		    dir, strerror(errno));
	}
	return MBOX_ERROR;
}

int mbox_open(struct mailbox *mb, const char *path, uid_t owner)
{
	return mbox_open_cached(mb, path, owner, NULL);
}

int mbox_open_cached(struct mailbox *mb, const char *path, uid_t owner,
    const char *cache)
{
	struct mbox_lock lk;
	struct stat st;
	time_t scan_start = 0;
	int r, flags, cached = 0;

	memset(mb, 0, sizeof(*mb));
	mb->fd = -1;
	mb->session_fd = -1;
	mb->sp.dfd = -1;
	if (strlen(path) >= sizeof(mb->path))
		return MBOX_BAD_FILE;
	strcpy(mb->path, path); /* NOLINT(*.strcpy) */

	/*
	 * The directory first, once: the mbox is opened in it, and its lock
	 * and journal names are reached through the same descriptor, so all
	 * three are in the directory spool_open() checked, whatever happens
	 * to the path later.  There the mail group is dropped for good if
	 * the spool does not need it, before any mail is read.
	 */
	r = spool_open(&mb->sp, path);
	if (r == -2)
		return MBOX_ERROR;	/* the group could not be dropped */
	/* O_NOFOLLOW: a symlink planted in the spool must not lead us to
	 * another file.  O_NONBLOCK: a FIFO must not hang the open. */
	if (r == 0)
		mb->fd = openat(mb->sp.dfd, mb->sp.name, O_RDWR | O_NOFOLLOW |
		    O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (mb->fd < 0) {
		int saved = errno;

		/* Without a mailbox nothing in the directory is ever
		 * written: the group goes too. */
		spool_close(&mb->sp);
		if (spool_drop_group() < 0)
			return MBOX_ERROR;
		errno = saved;
		if (errno == ENOENT)
			return missing_mbox(path);
		log_msg(LOG_ERR, "cannot open maildrop %s: %s", path,
		    strerror(errno));
		return errno == ELOOP || errno == EACCES || errno == EPERM ||
		    errno == ENXIO || errno == EISDIR ? MBOX_BAD_FILE : MBOX_ERROR;
	}
	if (fstat(mb->fd, &st) < 0)
		goto io_error;
	if (!S_ISREG(st.st_mode) || st.st_uid != owner) {
		log_msg(LOG_ERR, "maildrop %s is not a regular file owned by "
		    "uid %lu", path, (unsigned long)owner);
		close(mb->fd);
		mb->fd = -1;
		return MBOX_BAD_FILE;
	}
	flags = fcntl(mb->fd, F_GETFL);
	if (flags < 0 || fcntl(mb->fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		goto io_error;
	/* One POP3 session per maildrop, before anything is read: flock
	 * on the mbox, or on NFS and the like an fcntl lock on a file of
	 * its own (lock.c, lock_session()). */
	r = lock_session(&mb->sp, mb->fd, owner, &mb->session_fd);
	if (r != MBOX_OK) {
		mbox_close(mb);
		return r;
	}
	/* Found out now, not at QUIT after every message was downloaded:
	 * a client that cannot delete would fetch the same mail for ever. */
	r = spool_can_create(&mb->sp);
	if (r == 0) {
		mbox_close(mb);
		return MBOX_BAD_FILE;
	}
	if (r < 0)
		log_msg(LOG_WARNING, "cannot tell whether files can be created "
		    "beside %s: %s; QUIT will find out", path, strerror(errno));
	mb->buf = malloc(MBOX_BLOCK_SIZE);
	if (!mb->buf)
		goto io_error;

	r = lock_mbox(&lk, &mb->sp, mb->fd, F_WRLCK);
	if (r != MBOX_OK) {
		mbox_close(mb);
		return r;
	}
	/* An UPDATE a crash cut short is finished first. */
	r = journal_recover(&mb->sp, mb->fd, mb->buf, &lk.sync_removal);
	/* Under the lock the size is stable: scan exactly that much. */
	if (r == MBOX_OK && fstat(mb->fd, &st) < 0)
		r = MBOX_ERROR;
	/* The cache holds default ids only: with a header format it is
	 * neither read nor written, so it never serves ids of another
	 * format. */
	if (uidl_fmt != UIDL_POPA3D)
		cache = NULL;
	if (r == MBOX_OK && cache) {
		scan_start = time(NULL);
		cached = idxcache_load(cache, mb->fd, &st, &mb->idx) == 0;
	}
	if (r == MBOX_OK && !cached)
		r = mbox_scan(mb->fd, (uint64_t)st.st_size, &mb->idx);
	/* What later checks compare the layout with (layout_holds). */
	if (r == MBOX_OK && tail_sum(mb, mb->tail_sum) < 0)
		r = MBOX_ERROR;
	unlock_mbox(&lk);
	if (r == MBOX_OK && cache && !cached)
		idxcache_save(cache, &st, scan_start, &mb->idx);
	if (r != MBOX_OK) {
		if (r == MBOX_NOT_MBOX)
			log_msg(LOG_ERR, "maildrop %s does not start with a "
			    "\"From \" line: not an mbox, not touched", path);
		else if (r != MBOX_JOURNAL)
			log_msg(LOG_ERR, "cannot read maildrop %s: %s", path,
			    strerror(errno));
		mbox_close(mb);
		return r;
	}
	mb->dev = st.st_dev;
	mb->ino = st.st_ino;
	mb->seen_size = mb->layout_size = (uint64_t)st.st_size;
	mb->seen_mtime_ns = mb->layout_mtime_ns = mtime_ns(&st);
	count_live(mb);
	return MBOX_OK;

io_error:
	log_msg(LOG_ERR, "maildrop %s: %s", path, strerror(errno));
	mbox_close(mb);
	return MBOX_ERROR;
}

/* Compares two indexes of the same bytes, ignoring session flags. */
static int same_index(const struct mbox_index *a, const struct mbox_index *b)
{
	size_t i;

	if (a->count != b->count || a->scanned != b->scanned)
		return 0;
	for (i = 0; i < a->count; i++) {
		const struct message *x = &a->msgs[i], *y = &b->msgs[i];

		if (x->from_off != y->from_off || x->data_off != y->data_off ||
		    x->data_len != y->data_len || x->size != y->size ||
		    memcmp(x->hash, y->hash, sizeof(x->hash)) ||
		    ((x->flags ^ y->flags) & ~MSG_DELETED) ||
		    !same_header_id(a, i, b, i))
			return 0;
	}
	return 1;
}

int mbox_from_lines_hold(int fd, const struct message *m, size_t count,
    size_t probes, size_t phase)
{
	unsigned char b[5];
	size_t step = count / (probes ? probes : 1) + 1;

	if (count == 0)
		return 1;
	/* The first and the last always; between them every step-th,
	 * from phase on (a caller facing a forger picks it at random). */
	for (size_t k = 0;; k++) {
		size_t i = k == 0 ? 0 : phase % step + (k - 1) * step;

		if (i >= count)
			i = count - 1;
		if (pread_full(fd, b, sizeof(b), m[i].from_off) ||
		    memcmp(b, "From ", 5))
			return 0;
		if (i == count - 1)
			return 1;
	}
}

int mbox_message_holds(int fd, const struct mbox_index *idx, size_t n)
{
	const struct message *m = &idx->msgs[n];
	uint64_t end = n + 1 < idx->count ? idx->msgs[n + 1].from_off :
	    idx->scanned;
	struct mbox_index one;
	int r = mbox_scan_range(fd, m->from_off, end, &one);

	if (r == MBOX_NOT_MBOX)
		return MBOX_CHANGED;
	if (r != MBOX_OK)
		return r;
	/* The duplicate suffix depends on the other messages: not ours. */
	r = one.count == 1 && one.msgs[0].from_off == m->from_off &&
	    one.msgs[0].data_off == m->data_off &&
	    one.msgs[0].data_len == m->data_len &&
	    one.msgs[0].size == m->size &&
	    !memcmp(one.msgs[0].hash, m->hash, sizeof(m->hash)) &&
	    !((one.msgs[0].flags ^ m->flags) &
	    ~(uint32_t)(MSG_DELETED | MSG_HDR_UID)) &&
	    same_header_id(idx, n, &one, 0) ? MBOX_OK : MBOX_CHANGED;
	mbox_index_free(&one);
	return r;
}

/* XXH3-128 of the MBOX_TAIL_CHECK bytes before the end of the index,
 * read with mb->buf (fewer when it is smaller: the fuzzing build's is).
 * Returns 0 or -1 (errno set; EIO for a short file). */
static int tail_sum(const struct mailbox *mb, unsigned char sum[16])
{
	uint64_t len = MBOX_TAIL_CHECK < MBOX_BLOCK_SIZE ? MBOX_TAIL_CHECK :
	    MBOX_BLOCK_SIZE;
	XXH128_canonical_t c;

	if (len > mb->idx.scanned)
		len = mb->idx.scanned;

	if (pread_full(mb->fd, mb->buf, (size_t)len, mb->idx.scanned - len))
		return -1;
	XXH128_canonicalFromHash(&c, XXH3_128bits(mb->buf, (size_t)len));
	memcpy(sum, c.digest, 16);
	return 0;
}

/*
 * The layout of the indexed bytes, checked without reading them all: the
 * last MBOX_TAIL_CHECK of them hash as at login, and sampled From_ lines
 * are where the index says.  Any program that inserts or removes bytes
 * before the old end (a mail reader expunging a message or adding a
 * Status: line, then rewriting the rest of the file) moves every later
 * byte, so the tail no longer matches; what it cannot see, an edit of
 * the same length further back, the message check before each send and
 * the full check before UPDATE do.  Returns MBOX_OK, MBOX_CHANGED or
 * MBOX_ERROR.
 */
static int layout_holds(struct mailbox *mb)
{
	unsigned char sum[16];

	if (tail_sum(mb, sum) < 0)
		return errno == EIO ? MBOX_CHANGED : MBOX_ERROR;
	if (memcmp(sum, mb->tail_sum, sizeof(sum)) ||
	    !mbox_from_lines_hold(mb->fd, mb->idx.msgs, mb->idx.count,
	    CHECK_PROBES, 0))
		return MBOX_CHANGED;
	return MBOX_OK;
}

/* Every indexed byte scanned again: boundaries, sizes and hashes. */
static int index_holds(struct mailbox *mb)
{
	struct mbox_index fresh;
	int r = mbox_scan(mb->fd, mb->idx.scanned, &fresh);

	if (r == MBOX_OK) {
		if (!same_index(&mb->idx, &fresh))
			r = MBOX_CHANGED;
		mbox_index_free(&fresh);
	} else if (r == MBOX_NOT_MBOX) {
		r = MBOX_CHANGED;
	}
	return r;
}

/* What check_unchanged verifies besides the file's identity and size. */
enum { CHECK_ALL = -1, CHECK_LAYOUT = -2 };

/*
 * Is the indexed part of the file still what we indexed?  Appending is
 * allowed (that is how mail arrives); anything else is a rewrite.  The
 * cheap test is the size and the nanosecond mtime against the last time
 * every indexed byte was verified.  When those moved, what is read
 * depends on what is at stake (what, below):
 *
 *  - CHECK_ALL (before UPDATE, which rewrites the file): every indexed
 *    byte is scanned again and boundaries, sizes and hashes compared.
 *  - a message number (before and after sending it): the layout (see
 *    layout_holds) and that message scanned again, so a message is only
 *    ever sent as indexed, at a cost of the message plus a constant, not
 *    of the mbox: mail flooding in does not make every RETR a rescan of
 *    gigabytes.  An edit elsewhere shows when that message is sent, or
 *    at UPDATE at the latest: nothing is deleted from a changed file.
 *  - CHECK_LAYOUT: the layout alone.
 *
 * The layout is checked once per change of size or mtime; the full
 * verification resets both marks.  locked says whether the caller holds
 * the mbox locks already.
 *
 * by_path also checks that the path still names our file.  A file renamed
 * over the maildrop or removed leaves our descriptor on the old inode,
 * whose bytes are still the indexed ones: that matters before a command
 * acts on the maildrop (RETR, TOP, UPDATE), which must fail rather than
 * serve or rewrite a file that is no longer the user's maildrop.  After a
 * message was sent from our descriptor it adds nothing: the bytes sent
 * were read from the inode checked just before, and the fstat(2) here
 * tells whether they changed in place meanwhile; a rename during the send
 * is no different from one just after the response, which the next
 * command's check notices.  So the check after a send skips the path.
 */
static int check_unchanged(struct mailbox *mb, int locked, int by_path,
    long what)
{
	struct stat st, pst;
	int r = MBOX_OK, layout_known;

	if (mb->fd < 0) {
		/* An empty maildrop stays valid whatever arrives. */
		return MBOX_OK;
	}
	if (fstat(mb->fd, &st) < 0)
		return MBOX_ERROR;
	/* Renamed over or removed: ours is no longer the maildrop.  The
	 * name in the directory opened at login, where the locks and the
	 * journal are, not the path: a component the user swapped since
	 * would point elsewhere. */
	if (by_path && (fstatat(mb->sp.dfd, mb->sp.name, &pst,
	    AT_SYMLINK_NOFOLLOW) < 0 || pst.st_dev != mb->dev ||
	    pst.st_ino != mb->ino))
		return MBOX_CHANGED;
	if ((uint64_t)st.st_size < mb->idx.scanned)
		return MBOX_CHANGED;
	if ((uint64_t)st.st_size == mb->seen_size &&
	    mtime_ns(&st) == mb->seen_mtime_ns)
		return MBOX_OK;
	layout_known = (uint64_t)st.st_size == mb->layout_size &&
	    mtime_ns(&st) == mb->layout_mtime_ns;
	if (what == CHECK_LAYOUT && layout_known)
		return MBOX_OK;

	if (!locked) {
		/* A shared lock keeps a writer from changing it mid-scan. */
		r = lock_fcntl(mb->fd, F_RDLCK);
		if (r != MBOX_OK)
			return r;
	}
	if (what == CHECK_ALL) {
		r = index_holds(mb);
	} else {
		if (!layout_known)
			r = layout_holds(mb);
		if (r == MBOX_OK && what >= 0)
			r = mbox_message_holds(mb->fd, &mb->idx, (size_t)what);
	}
	if (!locked)
		unlock_fcntl(mb->fd);
	if (r == MBOX_OK) {
		mb->layout_size = (uint64_t)st.st_size;
		mb->layout_mtime_ns = mtime_ns(&st);
		if (what == CHECK_ALL) {
			mb->seen_size = mb->layout_size;
			mb->seen_mtime_ns = mb->layout_mtime_ns;
		}
	}
	return r;
}

int mbox_check(struct mailbox *mb)
{
	return check_unchanged(mb, 0, 1, CHECK_ALL);
}

int mbox_check_message(struct mailbox *mb, size_t n)
{
	return check_unchanged(mb, 0, 1, (long)n);
}

void mbox_mark_deleted(struct mailbox *mb, size_t n)
{
	struct message *m = &mb->idx.msgs[n];

	/* O(1): a client may DELE every one of 100,000 messages. */
	if (!(m->flags & MSG_DELETED)) {
		m->flags |= MSG_DELETED;
		mb->live_count--;
		mb->live_size -= m->size;
	}
}

void mbox_unmark_all(struct mailbox *mb)
{
	size_t i;

	for (i = 0; i < mb->idx.count; i++)
		mb->idx.msgs[i].flags &= ~(uint32_t)MSG_DELETED;
	count_live(mb);
}

/* ------------------------------------------------------------ sending */

/*
 * Streams one message with CRLF line ends and byte-stuffing.  For TOP,
 * body_lines >= 0 limits the body; the header and the blank line after it
 * are always sent.
 */
int mbox_send(struct mailbox *mb, size_t n, long body_lines, struct netio *io)
{
	const struct message *m = &mb->idx.msgs[n];
	int r = msg_stream(mb->fd, m->data_off, m->data_len, body_lines,
	    mb->workarounds, mb->buf, mb->path, io);

	if (r != MBOX_OK)
		return r;
	/* Only a verified message gets its terminator: if the file was
	 * rewritten while we sent it, the client sees a cut response. */
	r = check_unchanged(mb, 0, 0, (long)n);
	if (r != MBOX_OK)
		return r;
	return io_write(io, ".\r\n", 3) ? MBOX_NET : MBOX_OK;
}

/* ------------------------------------------------------------- UPDATE */

/* The length of an empty line ("\n" or "\r\n") at off, or 0. */
static uint64_t leading_blank_line(const struct mailbox *mb, uint64_t off,
    uint64_t file_size)
{
	unsigned char b[2];
	ssize_t n;

	n = pread(mb->fd, b, file_size - off >= 2 ? 2 : 1, (off_t)off);
	if (n >= 1 && b[0] == '\n')
		return 1;
	if (n == 2 && b[0] == '\r' && b[1] == '\n')
		return 2;
	return 0;
}

/*
 * Plans the rewrite: from the first deleted message on, the kept messages
 * (adjacent ones merged into one piece) and then the mail appended since
 * the scan.  Returns the number of pieces, or -1 (ENOMEM).
 */
static long plan_rewrite(const struct mailbox *mb, uint64_t file_size,
    uint64_t *w0_r, struct jsource **src_r)
{
	const struct mbox_index *idx = &mb->idx;
	struct jsource *src;
	size_t i, first, n = 0;

	for (first = 0; first < idx->count; first++)
		if (idx->msgs[first].flags & MSG_DELETED)
			break;
	*w0_r = idx->msgs[first].from_off;
	src = calloc(idx->count - first + 1, sizeof(*src));
	if (!src)
		return -1;
	for (i = first; i < idx->count; i++) {
		const struct message *m = &idx->msgs[i];
		uint64_t end = i + 1 < idx->count ?
		    idx->msgs[i + 1].from_off : idx->scanned;

		if (m->flags & MSG_DELETED)
			continue;
		if (n > 0 && src[n - 1].off + src[n - 1].len == m->from_off) {
			src[n - 1].len += end - m->from_off;
			continue;
		}
		src[n].fd = mb->fd;
		src[n].off = m->from_off;
		src[n].len = end - m->from_off;
		n++;
	}
	if (file_size > idx->scanned) {
		const struct message *last = &idx->msgs[idx->count - 1];
		uint64_t skip = 0;

		/*
		 * An MDA that found the file ending without an empty line
		 * writes one before the new From_ line: the separator of
		 * our last message.  If that message goes, its separator
		 * goes too, or the result would start with an empty line
		 * (no mbox any more) or add one to the message before.
		 */
		if ((last->flags & MSG_DELETED) &&
		    last->data_off + last->data_len == idx->scanned)
			skip = leading_blank_line(mb, idx->scanned, file_size);
		src[n].fd = mb->fd;
		src[n].off = idx->scanned + skip;
		src[n].len = file_size - idx->scanned - skip;
		if (src[n].len > 0)
			n++;
	}
	*src_r = src;
	return (long)n;
}

int mbox_update(struct mailbox *mb)
{
	struct mbox_lock lk;
	struct jsource *src = NULL;
	struct stat st;
	uint64_t w0;
	long n;
	int r;

	if (mb->fd < 0 || mb->live_count == mb->idx.count)
		return MBOX_OK;	/* nothing deleted: never write */

	r = lock_mbox(&lk, &mb->sp, mb->fd, F_WRLCK);
	if (r != MBOX_OK)
		return r;
	/* Our own session lock keeps other pop3d UPDATEs away, so this
	 * finds nothing unless something is badly wrong. */
	r = journal_recover(&mb->sp, mb->fd, mb->buf, &lk.sync_removal);
	if (r == MBOX_OK)
		r = check_unchanged(mb, 1, 1, CHECK_ALL);
	if (r == MBOX_OK && fstat(mb->fd, &st) < 0)
		r = MBOX_ERROR;
	if (r == MBOX_OK) {
		n = plan_rewrite(mb, (uint64_t)st.st_size, &w0, &src);
		/* From here the mbox may be written. */
		lk.sync_removal = 1;
		if (n < 0 || journal_rewrite(&mb->sp, mb->fd, w0,
		    (uint64_t)st.st_size, src, (size_t)n, mb->buf) < 0) {
			log_msg(LOG_ERR, "UPDATE of %s failed: %s", mb->path,
			    strerror(errno));
			r = MBOX_ERROR;
		}
		free(src);
	}
	unlock_mbox(&lk);
	return r;
}

void mbox_close(struct mailbox *mb)
{
	if (mb->fd >= 0)
		close(mb->fd);
	mb->fd = -1;
	/* Ends the session lock on NFS; on a local file system it was the
	 * flock on mb->fd. */
	if (mb->session_fd >= 0)
		close(mb->session_fd);
	mb->session_fd = -1;
	spool_close(&mb->sp);
	mbox_index_free(&mb->idx);
	free(mb->buf);
	mb->buf = NULL;
}

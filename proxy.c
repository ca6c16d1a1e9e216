/*
 * proxy.c - the PROXY protocol, versions 1 (text) and 2 (binary), as
 * HAProxy's doc/proxy-protocol.txt specifies it: the header a load
 * balancer sends before anything else, which says who the client really
 * is.  Also the list of networks such a header is accepted from
 * (--proxy-from).
 *
 * The header decides the address every log line, fail2ban, PAM_RHOST
 * and the failure limits see, so it is trusted from the listed networks
 * only, and parsed strictly: a header that is not exactly what the
 * specification allows is refused, never half-used.  The reader takes
 * exactly the header's bytes and not one more, since what follows is the
 * client's (a TLS ClientHello with --tls, or POP3 commands).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"

/* The v2 signature: no text protocol starts with these bytes. */
static const unsigned char v2_sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};
static const char v1_prefix[] = "PROXY ";
#define V1_PREFIX_LEN 6
/* The shortest header of either version: "PROXY UNKNOWN\r\n" (15); a v2
 * header is at least 16.  Reading this many at once never takes a byte
 * that follows a valid header. */
#define MIN_HEADER 15
#define V2_FIXED 16

long proxy_need(const unsigned char *buf, size_t have, const char **why_r)
{
	size_t n = have < sizeof(v2_sig) ? have : sizeof(v2_sig);

	*why_r = NULL;
	/* Wrong from the first bytes: said at once, not after a timeout. */
	if (have > 0 && buf[0] == 'P') {
		size_t m = have < V1_PREFIX_LEN ? have : V1_PREFIX_LEN;

		if (memcmp(buf, v1_prefix, m) != 0) {
			*why_r = "not a PROXY protocol header";
			return -1;
		}
		if (have < MIN_HEADER)
			return (long)(MIN_HEADER - have);
		for (size_t i = V1_PREFIX_LEN; i < have; i++)
			if (buf[i] == '\n') {
				if (i + 1 == have)
					return 0;
				*why_r = "version 1 header: a line feed "
				    "before its end";
				return -1;
			}
		if (have >= PROXY_V1_MAX) {
			*why_r = "version 1 header longer than 107 bytes";
			return -1;
		}
		/* The end is a CRLF we cannot see coming: one at a time. */
		return 1;
	}
	if (have > 0 && memcmp(buf, v2_sig, n) != 0) {
		*why_r = "not a PROXY protocol header";
		return -1;
	}
	if (have < MIN_HEADER)
		return (long)(MIN_HEADER - have);
	if (have < V2_FIXED)
		return (long)(V2_FIXED - have);
	{
		size_t total = V2_FIXED + ((size_t)buf[14] << 8 | buf[15]);

		if (total > PROXY_V2_MAX) {
			*why_r = "version 2 header longer than the limit";
			return -1;
		}
		if (have > total) {
			*why_r = "bytes past the version 2 header";
			return -1;
		}
		return (long)(total - have);
	}
}

/* A v1 port: decimal 0..65535, no sign, no leading zero (but "0"). */
static int v1_port(const char *s, size_t len, unsigned *port_r)
{
	unsigned v = 0;

	if (len == 0 || len > 5 || (s[0] == '0' && len > 1))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port_r = v;
	return 0;
}

/* One address of a v1 line into ss (family af), port added later. */
static int v1_addr(const char *s, size_t len, int af,
    struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char text[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(text))
		return -1;
	memcpy(text, s, len);
	text[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		sin->sin_family = AF_INET;
		return inet_pton(AF_INET, text, &sin->sin_addr) == 1 ? 0 : -1;
	}
	sin6->sin6_family = AF_INET6;
	return inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1 ? 0 : -1;
}

static void set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static int parse_v1(const unsigned char *buf, size_t len,
    struct proxy_info *pi, const char **why_r)
{
	const char *p = (const char *)buf + V1_PREFIX_LEN;
	const char *end = (const char *)buf + len - 2;	/* at the CR */
	const char *f[5];
	size_t flen[5];
	int af, nf = 0;
	unsigned sport, dport;

	pi->version = 1;
	if (len < MIN_HEADER || buf[len - 2] != '\r' || buf[len - 1] != '\n') {
		*why_r = "version 1 header does not end in CRLF";
		return -1;
	}
	for (const char *q = p; q < end; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e) {
			*why_r = "version 1 header has a control or 8-bit byte";
			return -1;
		}
	/* UNKNOWN: the balancer could not tell (or a health check); the
	 * rest of the line is to be ignored, says the specification. */
	if ((size_t)(end - p) >= 7 && !memcmp(p, "UNKNOWN", 7) &&
	    (end - p == 7 || p[7] == ' ')) {
		pi->local = 1;
		return 0;
	}
	if ((size_t)(end - p) < 5 || p[4] != ' ' ||
	    (memcmp(p, "TCP4", 4) && memcmp(p, "TCP6", 4))) {
		*why_r = "version 1 header: protocol is not TCP4, TCP6 or "
		    "UNKNOWN";
		return -1;
	}
	af = p[3] == '4' ? AF_INET : AF_INET6;
	p += 5;
	/* Exactly five single-space-separated fields. */
	while (p <= end && nf < 5) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *fe = sp ? sp : end;

		f[nf] = p;
		flen[nf] = (size_t)(fe - p);
		nf++;
		p = fe + 1;
		if (!sp)
			break;
	}
	if (nf != 4 || p != end + 1) {
		*why_r = "version 1 header: not 'PROXY TCPn SRC DST SPORT "
		    "DPORT'";
		return -1;
	}
	if (v1_addr(f[0], flen[0], af, &pi->src) < 0 ||
	    v1_addr(f[1], flen[1], af, &pi->dst) < 0) {
		*why_r = "version 1 header: a bad address";
		return -1;
	}
	if (v1_port(f[2], flen[2], &sport) < 0 ||
	    v1_port(f[3], flen[3], &dport) < 0) {
		*why_r = "version 1 header: a bad port";
		return -1;
	}
	set_port(&pi->src, sport);
	set_port(&pi->dst, dport);
	return 0;
}

static int parse_v2(const unsigned char *buf, size_t len,
    struct proxy_info *pi, const char **why_r)
{
	size_t body = len - V2_FIXED, addr_len = 0, off;
	const unsigned char *a = buf + V2_FIXED;
	unsigned cmd = buf[12] & 0x0f;

	pi->version = 2;
	if ((buf[12] & 0xf0) != 0x20) {
		*why_r = "version 2 header: unknown version";
		return -1;
	}
	if (cmd > 1) {
		*why_r = "version 2 header: unknown command";
		return -1;
	}
	/* LOCAL: the balancer's own connection (its health checks); the
	 * addresses, if any, are to be ignored. */
	if (cmd == 0) {
		pi->local = 1;
		return 0;
	}
	switch (buf[13]) {
	case 0x00:	/* UNSPEC: unknown; use the connection's own */
		pi->local = 1;
		return 0;
	case 0x11: {	/* TCP over IPv4 */
		struct sockaddr_in *s = (struct sockaddr_in *)&pi->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&pi->dst;

		addr_len = 12;
		if (body < addr_len)
			break;
		memset(&pi->src, 0, sizeof(pi->src));
		memset(&pi->dst, 0, sizeof(pi->dst));
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
		break;
	}
	case 0x21: {	/* TCP over IPv6 */
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&pi->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&pi->dst;

		addr_len = 36;
		if (body < addr_len)
			break;
		memset(&pi->src, 0, sizeof(pi->src));
		memset(&pi->dst, 0, sizeof(pi->dst));
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
		break;
	}
	default:
		/* UDP or a UNIX socket: no POP3 client is either. */
		*why_r = "version 2 header: not TCP over IPv4 or IPv6";
		return -1;
	}
	if (body < addr_len) {
		*why_r = "version 2 header: addresses cut short";
		return -1;
	}
	/* The TLVs after the addresses (ALPN, authority, TLS details) are
	 * not used, but must lie within the header: a length that runs
	 * past it is a broken or forged header. */
	for (off = addr_len; off < body;) {
		size_t l;

		if (body - off < 3) {
			*why_r = "version 2 header: a TLV cut short";
			return -1;
		}
		l = (size_t)a[off + 1] << 8 | a[off + 2];
		if (l > body - off - 3) {
			*why_r = "version 2 header: a TLV runs past the header";
			return -1;
		}
		off += 3 + l;
	}
	return 0;
}

int proxy_parse(const unsigned char *buf, size_t len, struct proxy_info *pi,
    const char **why_r)
{
	const char *why = NULL;

	memset(pi, 0, sizeof(*pi));
	*why_r = NULL;
	if (proxy_need(buf, len, &why) != 0) {
		*why_r = why ? why : "incomplete PROXY protocol header";
		return -1;
	}
	return buf[0] == 'P' ? parse_v1(buf, len, pi, why_r) :
	    parse_v2(buf, len, pi, why_r);
}

int proxy_read(int fd, const struct timespec *deadline,
    unsigned char *buf, size_t size, size_t *len_r, const char **why_r)
{
	size_t have = 0;

	*len_r = 0;
	*why_r = NULL;
	if (size < PROXY_V2_MAX) {
		*why_r = "buffer too small";
		return -1;
	}
	for (;;) {
		long need = proxy_need(buf, have, why_r);
		ssize_t n;
		int r;

		if (need < 0)
			return -1;
		if (need == 0) {
			*len_r = have;
			return 1;
		}
		r = io_wait_fd(fd, POLLIN, deadline);
		if (r == 0) {
			*why_r = have ? "PROXY protocol header not complete "
			    "before the deadline" : "no PROXY protocol header "
			    "before the deadline";
			return 0;
		}
		if (r < 0) {
			*why_r = strerror(errno);
			return -1;
		}
		n = read(fd, buf + have, (size_t)need);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			*why_r = strerror(errno);
			return -1;
		}
		if (n == 0) {
			*why_r = have ? "connection closed inside the PROXY "
			    "protocol header" : "connection closed before a "
			    "PROXY protocol header";
			return -1;
		}
		have += (size_t)n;
	}
}

/* ------------------------------------------------------- --proxy-from */

static int parse_one(const char *s, size_t len, struct cidr *c)
{
	char text[INET6_ADDRSTRLEN + 5];
	char *slash, *end;
	unsigned long bits;
	unsigned max;

	if (len == 0 || len >= sizeof(text))
		return -1;
	memcpy(text, s, len);
	text[len] = '\0';
	memset(c, 0, sizeof(*c));
	slash = strchr(text, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, text, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, text, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else
		return -1;
	if (!slash) {
		c->bits = max;
		return 0;
	}
	if (slash[1] < '0' || slash[1] > '9' ||
	    (slash[1] == '0' && slash[2]))
		return -1;
	errno = 0;
	bits = strtoul(slash + 1, &end, 10);
	if (errno || *end || bits > max)
		return -1;
	c->bits = (unsigned)bits;
	/* Host bits set ("10.0.0.1/8") are a typo more often than not:
	 * refused, so that the administrator sees which network it is. */
	for (unsigned i = c->bits; i < max; i++)
		if (c->addr[i / 8] & (0x80 >> (i % 8)))
			return -1;
	return 0;
}

int cidr_parse_list(const char *s, struct cidr *list, size_t max,
    size_t *n_r)
{
	size_t n = 0;

	*n_r = 0;
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		if (n == max || parse_one(s, len, &list[n]) < 0)
			return -1;
		n++;
		if (!comma)
			break;
		s = comma + 1;
	}
	*n_r = n;
	return 0;
}

static int match_bits(const unsigned char *a, const unsigned char *net,
    unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, net, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[whole] ^ net[whole]) & (0xff00 >> rest) & 0xff) == 0;
}

int cidr_match(const struct cidr *list, size_t n,
    const struct sockaddr_storage *ss)
{
	unsigned char a4[4], a6[16];
	int have4 = 0, have6 = 0;

	if (ss->ss_family == AF_INET) {
		memcpy(a4, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		have4 = 1;
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *in6 =
		    &((const struct sockaddr_in6 *)ss)->sin6_addr;

		memcpy(a6, in6, 16);
		have6 = 1;
		/* A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d:
		 * they match the IPv4 networks they are in. */
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			memcpy(a4, a6 + 12, 4);
			have4 = 1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (list[i].family == AF_INET && have4 &&
		    match_bits(a4, list[i].addr, list[i].bits))
			return 1;
		if (list[i].family == AF_INET6 && have6 &&
		    match_bits(a6, list[i].addr, list[i].bits))
			return 1;
	}
	return 0;
}

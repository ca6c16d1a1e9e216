/*
 * check_proxy.c - the PROXY protocol parser and reader (proxy.c) against
 * HAProxy's doc/proxy-protocol.txt: every form it allows, and the
 * malformed, truncated, overlong and forged headers it must refuse; the
 * reader takes exactly the header's bytes; the --proxy-from networks.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "unit.h"

static const unsigned char sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

/* Runs proxy_need over a whole header as a reader would: it must ask
 * for exactly len bytes in all, then say complete. */
static int need_total(const unsigned char *buf, size_t len)
{
	const char *why;
	size_t have = 0;

	for (;;) {
		long n = proxy_need(buf, have, &why);

		if (n < 0)
			return -1;
		if (n == 0)
			return have == len ? 0 : -2;
		if (have + (size_t)n > len)
			return -3;	/* would read past the header */
		have += (size_t)n;
	}
}

static int parse_text(const char *s, struct proxy_info *pi,
    const char **why)
{
	return proxy_parse((const unsigned char *)s, strlen(s), pi, why);
}

static void addr_is(const struct sockaddr_storage *ss, const char *text,
    unsigned port)
{
	char buf[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s->sin_addr, buf, sizeof(buf));
		ck_assert_uint_eq(ntohs(s->sin_port), port);
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

		ck_assert_int_eq(ss->ss_family, AF_INET6);
		inet_ntop(AF_INET6, &s->sin6_addr, buf, sizeof(buf));
		ck_assert_uint_eq(ntohs(s->sin6_port), port);
	}
	ck_assert_str_eq(buf, text);
}

START_TEST(v1_tcp4_and_tcp6)
{
	struct proxy_info pi;
	const char *why;
	const char *h4 = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 110\r\n";
	const char *h6 = "PROXY TCP6 2001:db8::7 2001:db8::1 4000 995\r\n";

	ck_assert_int_eq(need_total((const unsigned char *)h4, strlen(h4)), 0);
	ck_assert_int_eq(parse_text(h4, &pi, &why), 0);
	ck_assert_int_eq(pi.version, 1);
	ck_assert_int_eq(pi.local, 0);
	addr_is(&pi.src, "192.0.2.7", 56324);
	addr_is(&pi.dst, "198.51.100.1", 110);
	ck_assert_int_eq(need_total((const unsigned char *)h6, strlen(h6)), 0);
	ck_assert_int_eq(parse_text(h6, &pi, &why), 0);
	addr_is(&pi.src, "2001:db8::7", 4000);
	addr_is(&pi.dst, "2001:db8::1", 995);
}
END_TEST

START_TEST(v1_unknown_is_local)
{
	struct proxy_info pi;
	const char *why;

	ck_assert_int_eq(parse_text("PROXY UNKNOWN\r\n", &pi, &why), 0);
	ck_assert_int_eq(pi.local, 1);
	ck_assert_int_eq(need_total((const unsigned char *)"PROXY UNKNOWN\r\n",
	    15), 0);
	ck_assert_int_eq(parse_text("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
	    &pi, &why), 0);
	ck_assert_int_eq(pi.local, 1);
}
END_TEST

/* Each must be refused, whole. */
static const char *const v1_bad[] = {
	"PROXY TCP4 192.0.2.7 198.51.100.1 56324 110\n",	/* no CR */
	"PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n",		/* 3 fields */
	"PROXY TCP4 192.0.2.7 198.51.100.1 56324 110 7\r\n",	/* 5 */
	"PROXY TCP4  192.0.2.7 198.51.100.1 56324 110\r\n",	/* 2 spaces */
	"PROXY TCP4 192.0.2.7 198.51.100.1 56324 110 \r\n",	/* trailing */
	"PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n",		/* family */
	"PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n",
	"PROXY TCP4 192.0.2 198.51.100.1 1 2\r\n",		/* short */
	"PROXY TCP4 192.0.2.256 198.51.100.1 1 2\r\n",
	"PROXY TCP4 0x7f.0.0.1 198.51.100.1 1 2\r\n",
	"PROXY TCP4 192.0.2.7 198.51.100.1 65536 110\r\n",	/* port */
	"PROXY TCP4 192.0.2.7 198.51.100.1 0110 110\r\n",
	"PROXY TCP4 192.0.2.7 198.51.100.1 -1 110\r\n",
	"PROXY TCP4 192.0.2.7 198.51.100.1 +1 110\r\n",
	"PROXY TCP4 192.0.2.7 198.51.100.1  110\r\n",
	"PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n",		/* protocol */
	"PROXY tcp4 192.0.2.7 198.51.100.1 1 2\r\n",
	"PROXY UNKNOWNX\r\n",
	"PROXY TCP4 192.0.2.7\t198.51.100.1 1 2\r\n",		/* control */
	"PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\r\n",
	"proxy TCP4 192.0.2.7 198.51.100.1 1 2\r\n",		/* prefix */
	"PROXYTCP4 192.0.2.7 198.51.100.1 1 2\r\n",
	"USER alice\r\n",
};

START_TEST(v1_malformed_refused)
{
	struct proxy_info pi;
	const char *why = NULL;
	const char *h = v1_bad[_i];

	ck_assert_msg(parse_text(h, &pi, &why) < 0, "accepted: %s", h);
	ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(v1_length_limit)
{
	/* 107 bytes with CRLF is the specification's limit: accepted;
	 * 108 is refused before its end is seen. */
	char h[200];
	const char *why;
	struct proxy_info pi;

	memset(h, 'x', sizeof(h));
	memcpy(h, "PROXY UNKNOWN ", 14);
	memcpy(h + 105, "\r\n", 2);
	ck_assert_int_eq(need_total((unsigned char *)h, 107), 0);
	ck_assert_int_eq(proxy_parse((unsigned char *)h, 107, &pi, &why), 0);
	ck_assert_int_eq(pi.local, 1);
	memset(h + 105, 'x', 2);
	memcpy(h + 106, "\r\n", 2);
	ck_assert_int_eq(need_total((unsigned char *)h, 108), -1);
	ck_assert_int_lt(proxy_need((unsigned char *)h, 107, &why), 0);
	ck_assert_ptr_nonnull(why);
}
END_TEST

/* A v2 header: command, family, then body bytes. */
static size_t v2(unsigned char *out, unsigned char ver_cmd,
    unsigned char fam, const unsigned char *body, size_t blen)
{
	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (unsigned char)(blen >> 8);
	out[15] = (unsigned char)blen;
	if (blen)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

START_TEST(v2_tcp4_tcp6_and_tlvs)
{
	unsigned char h[256], body[64];
	struct proxy_info pi;
	const char *why;
	size_t len;
	const unsigned char a4[12] = { 192, 0, 2, 7, 198, 51, 100, 1,
	    0xdc, 0x04, 0x00, 0x6e };

	len = v2(h, 0x21, 0x11, a4, 12);
	ck_assert_int_eq(need_total(h, len), 0);
	ck_assert_int_eq(proxy_parse(h, len, &pi, &why), 0);
	ck_assert_int_eq(pi.version, 2);
	ck_assert_int_eq(pi.local, 0);
	addr_is(&pi.src, "192.0.2.7", 56324);
	addr_is(&pi.dst, "198.51.100.1", 110);

	/* With TLVs after the addresses: ALPN "pop3", a NOOP of 0. */
	memcpy(body, a4, 12);
	memcpy(body + 12, "\x01\x00\x04pop3\x04\x00\x00", 10);
	len = v2(h, 0x21, 0x11, body, 22);
	ck_assert_int_eq(proxy_parse(h, len, &pi, &why), 0);
	addr_is(&pi.src, "192.0.2.7", 56324);

	memset(body, 0, 36);
	body[0] = 0x20;
	body[1] = 0x01;
	body[1 * 16 - 1] = 7;
	body[16] = 0x20;
	body[17] = 0x01;
	body[31] = 1;
	body[32] = 0x0f;
	body[33] = 0xa0;
	body[34] = 0x03;
	body[35] = 0xe3;
	len = v2(h, 0x21, 0x21, body, 36);
	ck_assert_int_eq(proxy_parse(h, len, &pi, &why), 0);
	addr_is(&pi.src, "2001::7", 4000);
	addr_is(&pi.dst, "2001::1", 995);
}
END_TEST

START_TEST(v2_local_and_unspec)
{
	unsigned char h[64];
	struct proxy_info pi;
	const char *why;
	const unsigned char junk[12] = { 0 };
	size_t len;

	/* HAProxy's health checks: LOCAL, no addresses. */
	len = v2(h, 0x20, 0x00, NULL, 0);
	ck_assert_int_eq(need_total(h, len), 0);
	ck_assert_int_eq(proxy_parse(h, len, &pi, &why), 0);
	ck_assert_int_eq(pi.local, 1);
	/* LOCAL with addresses: they are ignored. */
	len = v2(h, 0x20, 0x11, junk, 12);
	ck_assert_int_eq(proxy_parse(h, len, &pi, &why), 0);
	ck_assert_int_eq(pi.local, 1);
	len = v2(h, 0x21, 0x00, NULL, 0);
	ck_assert_int_eq(proxy_parse(h, len, &pi, &why), 0);
	ck_assert_int_eq(pi.local, 1);
}
END_TEST

START_TEST(v2_malformed_refused)
{
	unsigned char h[128], body[64] = { 0 };
	struct proxy_info pi;
	const char *why;
	size_t len;

	/* Version 1 in the v2 framing, command 2, UDP, UNIX. */
	len = v2(h, 0x11, 0x11, body, 12);
	ck_assert_int_lt(proxy_parse(h, len, &pi, &why), 0);
	len = v2(h, 0x22, 0x11, body, 12);
	ck_assert_int_lt(proxy_parse(h, len, &pi, &why), 0);
	len = v2(h, 0x21, 0x12, body, 12);
	ck_assert_int_lt(proxy_parse(h, len, &pi, &why), 0);
	len = v2(h, 0x21, 0x31, body, 64);
	ck_assert_int_lt(proxy_parse(h, len, &pi, &why), 0);
	/* Addresses cut short. */
	len = v2(h, 0x21, 0x11, body, 11);
	ck_assert_int_lt(proxy_parse(h, len, &pi, &why), 0);
	len = v2(h, 0x21, 0x21, body, 35);
	ck_assert_int_lt(proxy_parse(h, len, &pi, &why), 0);
	/* A TLV that runs past the header, one cut short. */
	memcpy(body + 12, "\x01\x00\x09pop3", 7);
	len = v2(h, 0x21, 0x11, body, 19);
	ck_assert_int_lt(proxy_parse(h, len, &pi, &why), 0);
	len = v2(h, 0x21, 0x11, body, 14);
	ck_assert_int_lt(proxy_parse(h, len, &pi, &why), 0);
	/* A broken signature. */
	len = v2(h, 0x21, 0x11, body, 12);
	h[6] ^= 1;
	ck_assert_int_lt(proxy_parse(h, len, &pi, &why), 0);
	ck_assert_int_lt(proxy_need(h, 7, &why), 0);
	ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(v2_length_limit)
{
	unsigned char h[20];
	const char *why;

	memcpy(h, sig, 12);
	h[12] = 0x21;
	h[13] = 0x11;
	/* Just within, and one past, PROXY_V2_MAX. */
	h[14] = (unsigned char)((PROXY_V2_MAX - 16) >> 8);
	h[15] = (unsigned char)(PROXY_V2_MAX - 16);
	ck_assert_int_eq(proxy_need(h, 16, &why), PROXY_V2_MAX - 16);
	h[14] = (unsigned char)((PROXY_V2_MAX - 15) >> 8);
	h[15] = (unsigned char)(PROXY_V2_MAX - 15);
	ck_assert_int_lt(proxy_need(h, 16, &why), 0);
	h[14] = h[15] = 0xff;
	ck_assert_int_lt(proxy_need(h, 16, &why), 0);
}
END_TEST

/* Through a pipe, with POP3 bytes behind the header: the reader leaves
 * them unread. */
static int read_through_pipe(const void *data, size_t len, int close_after,
    unsigned char *buf, size_t *got, const char **why)
{
	struct timespec dl;
	int fds[2], r;

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(write(fds[1], data, len), (ssize_t)len);
	if (close_after)
		close(fds[1]);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_nsec += 200 * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	r = proxy_read(fds[0], &dl, buf, PROXY_V2_MAX, got, why);
	if (r == 1) {
		char rest[16];
		ssize_t n = read(fds[0], rest, sizeof(rest));

		ck_assert_int_eq(n, 6);
		ck_assert_int_eq(memcmp(rest, "CAPA\r\n", 6), 0);
	}
	close(fds[0]);
	if (!close_after)
		close(fds[1]);
	return r;
}

START_TEST(reader_takes_exactly_the_header)
{
	unsigned char buf[PROXY_V2_MAX], h[64];
	const char *why;
	const char *v1 = "PROXY UNKNOWN\r\nCAPA\r\n";
	const unsigned char a4[12] = { 192, 0, 2, 7, 198, 51, 100, 1, 0, 1,
	    0, 2 };
	size_t got, len;

	ck_assert_int_eq(read_through_pipe(v1, strlen(v1), 1, buf, &got,
	    &why), 1);
	ck_assert_uint_eq(got, 15);
	len = v2(h, 0x21, 0x11, a4, 12);
	memcpy(h + len, "CAPA\r\n", 6);
	ck_assert_int_eq(read_through_pipe(h, len + 6, 1, buf, &got, &why),
	    1);
	ck_assert_uint_eq(got, 28);
}
END_TEST

START_TEST(reader_truncated_slow_and_absent)
{
	unsigned char buf[PROXY_V2_MAX];
	const char *why;
	size_t got;

	/* Closed inside the header. */
	ck_assert_int_lt(read_through_pipe("PROXY TCP4 1.2.3.4", 18, 1, buf,
	    &got, &why), 0);
	ck_assert_ptr_nonnull(why);
	/* Stops sending inside it: the deadline. */
	ck_assert_int_eq(read_through_pipe("PROXY TCP4 1.2.3.4", 18, 0, buf,
	    &got, &why), 0);
	ck_assert_ptr_nonnull(strstr(why, "deadline"));
	/* Nothing at all. */
	ck_assert_int_eq(read_through_pipe("", 0, 0, buf, &got, &why), 0);
	/* A client's command where the header belongs. */
	ck_assert_int_lt(read_through_pipe("USER alice\r\nPASS x\r\n", 20, 1,
	    buf, &got, &why), 0);
}
END_TEST

START_TEST(cidr_lists)
{
	struct cidr l[8];
	size_t n;
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	ck_assert_int_eq(cidr_parse_list("127.0.0.0/8,10.1.2.3,2001:db8::/32",
	    l, 8, &n), 0);
	ck_assert_uint_eq(n, 3);
	memset(&ss, 0, sizeof(ss));
	s4->sin_family = AF_INET;
	inet_pton(AF_INET, "127.9.8.7", &s4->sin_addr);
	ck_assert_int_eq(cidr_match(l, n, &ss), 1);
	inet_pton(AF_INET, "10.1.2.3", &s4->sin_addr);
	ck_assert_int_eq(cidr_match(l, n, &ss), 1);
	inet_pton(AF_INET, "10.1.2.4", &s4->sin_addr);
	ck_assert_int_eq(cidr_match(l, n, &ss), 0);
	inet_pton(AF_INET, "128.0.0.1", &s4->sin_addr);
	ck_assert_int_eq(cidr_match(l, n, &ss), 0);
	memset(&ss, 0, sizeof(ss));
	s6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:ffff::1", &s6->sin6_addr);
	ck_assert_int_eq(cidr_match(l, n, &ss), 1);
	inet_pton(AF_INET6, "2001:db9::1", &s6->sin6_addr);
	ck_assert_int_eq(cidr_match(l, n, &ss), 0);
	/* A dual-stack socket's view of an IPv4 peer. */
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6->sin6_addr);
	ck_assert_int_eq(cidr_match(l, n, &ss), 1);
	inet_pton(AF_INET6, "::ffff:10.1.2.4", &s6->sin6_addr);
	ck_assert_int_eq(cidr_match(l, n, &ss), 0);
	/* Odd prefix lengths. */
	ck_assert_int_eq(cidr_parse_list("192.0.2.128/25", l, 8, &n), 0);
	memset(&ss, 0, sizeof(ss));
	s4->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.200", &s4->sin_addr);
	ck_assert_int_eq(cidr_match(l, n, &ss), 1);
	inet_pton(AF_INET, "192.0.2.127", &s4->sin_addr);
	ck_assert_int_eq(cidr_match(l, n, &ss), 0);
	ck_assert_int_eq(cidr_parse_list("0.0.0.0/0", l, 8, &n), 0);
	ck_assert_int_eq(cidr_match(l, n, &ss), 1);
}
END_TEST

static const char *const cidr_bad[] = {
	"", ",", "127.0.0.1,", ",127.0.0.1", "127.0.0.1/33", "::1/129",
	"10.0.0.1/8", "127.0.0.1/", "127.0.0.1/08", "127.0.0.1/-1",
	"127.0.0.1/+8", "localhost", "127.0.0.1 ", " 127.0.0.1", "127.1",
	"1,2,3,4,5,6,7,8,9",
};

START_TEST(cidr_bad_lists_refused)
{
	struct cidr l[8];
	size_t n;

	ck_assert_msg(cidr_parse_list(cidr_bad[_i], l, 8, &n) < 0,
	    "accepted '%s'", cidr_bad[_i]);
}
END_TEST

Suite *proxy_suite(void)
{
	Suite *s = suite_create("proxy");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, v1_tcp4_and_tcp6);
	tcase_add_test(tc, v1_unknown_is_local);
	tcase_add_loop_test(tc, v1_malformed_refused, 0,
	    (int)(sizeof(v1_bad) / sizeof(v1_bad[0])));
	tcase_add_test(tc, v1_length_limit);
	tcase_add_test(tc, v2_tcp4_tcp6_and_tlvs);
	tcase_add_test(tc, v2_local_and_unspec);
	tcase_add_test(tc, v2_malformed_refused);
	tcase_add_test(tc, v2_length_limit);
	tcase_add_test(tc, reader_takes_exactly_the_header);
	tcase_add_test(tc, reader_truncated_slow_and_absent);
	tcase_add_test(tc, cidr_lists);
	tcase_add_loop_test(tc, cidr_bad_lists_refused, 0,
	    (int)(sizeof(cidr_bad) / sizeof(cidr_bad[0])));
	suite_add_tcase(s, tc);
	return s;
}

/*
 * fuzz_proxy.c - the PROXY protocol parser (proxy.c) and the
 * --proxy-from list parser on arbitrary bytes.
 *
 * Properties checked (abort on failure):
 *  - proxy_need, asked as a reader asks it, never wants more than
 *    PROXY_V2_MAX bytes in all, nor a byte beyond the input it was shown
 *    complete;
 *  - a header proxy_parse accepts is one proxy_need called complete, a
 *    version 1 one is at most 107 bytes and ends in CRLF, and a non-local
 *    one carries an IPv4 or IPv6 client address;
 *  - proxy_parse reads nothing past the length it is given (the header is
 *    copied to a buffer of exactly that size, so ASan sees any overread);
 *  - an accepted --proxy-from list matches each of its own network
 *    addresses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void header(const uint8_t *data, size_t size)
{
	const char *why;
	size_t have = 0;
	struct proxy_info pi;
	unsigned char *copy;
	long n;

	for (;;) {
		n = proxy_need(data, have, &why);
		if (n <= 0)
			break;
		if (have + (size_t)n > PROXY_V2_MAX)
			abort();
		if (have + (size_t)n > size)
			return;		/* a reader would wait for more */
		have += (size_t)n;
	}
	if (n < 0)
		return;
	copy = malloc(have ? have : 1);
	if (!copy)
		abort();
	memcpy(copy, data, have);
	if (proxy_parse(copy, have, &pi, &why) == 0) {
		if (pi.version == 1 && (have > PROXY_V1_MAX ||
		    copy[have - 2] != '\r' || copy[have - 1] != '\n'))
			abort();
		if (!pi.local && pi.src.ss_family != AF_INET &&
		    pi.src.ss_family != AF_INET6)
			abort();
	} else if (!why)
		abort();
	free(copy);
}

static void cidrs(const uint8_t *data, size_t size)
{
	struct cidr list[8];
	struct sockaddr_storage ss;
	char text[256];
	size_t n;

	if (size >= sizeof(text))
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (strlen(text) != size || cidr_parse_list(text, list, 8, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		memset(&ss, 0, sizeof(ss));
		if (list[i].family == AF_INET) {
			struct sockaddr_in *s = (struct sockaddr_in *)&ss;

			s->sin_family = AF_INET;
			memcpy(&s->sin_addr, list[i].addr, 4);
		} else {
			struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

			s->sin6_family = AF_INET6;
			memcpy(&s->sin6_addr, list[i].addr, 16);
		}
		if (!cidr_match(list, n, &ss))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	header(data, size);
	cidrs(data, size);
	return 0;
}

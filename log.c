/*
 * log.c - logging to syslog (LOG_MAIL) or to standard error.
 *
 * Every line carries the client address, so an administrator can follow a
 * session.  Untrusted text (user names, command words) must go through
 * log_escape() before it reaches a log line: a client must never be able
 * to forge log lines or inject terminal control sequences.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

static int log_to_stderr;
static char log_client[128] = "pipe";
static void (*log_sink)(int prio, const char *text);

void log_set_sink(void (*fn)(int prio, const char *text))
{
	log_sink = fn;
}

void log_init(int use_stderr)
{
	log_to_stderr = use_stderr;
	if (!use_stderr)
		openlog("pop3d", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_client(const char *addr)
{
	log_escape(log_client, sizeof(log_client), addr, strlen(addr));
}

void log_escape(char *dst, size_t dstsize, const char *src, size_t srclen)
{
	size_t i, o = 0;

	if (dstsize == 0)
		return;
	for (i = 0; i < srclen && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];

		if (o + 1 >= dstsize)
			break;
		/* '%' too: the text may end up in a format somewhere. */
		dst[o++] = (char)((c < 0x20 || c >= 0x7f || c == '%') ?
		    '?' : c);
	}
	if (i < srclen && src[i] != '\0' && dstsize >= 4) {
		/* Truncated: say so, so nobody mistakes it for the whole. */
		if (o > dstsize - 4)
			o = dstsize - 4;
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

void log_msg(int prio, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);

	if (log_sink) {
		log_sink(prio, text);
	} else if (log_to_stderr) {
		/* One write per line so concurrent sessions do not interleave. */
		char line[1200];
		int n = snprintf(line, sizeof(line), "pop3d[%ld]: %s: %s\n",
		    (long)getpid(), log_client, text);

		if (n > 0) {
			size_t len = (size_t)n < sizeof(line) ?
			    (size_t)n : sizeof(line) - 1;
			ssize_t w = write(STDERR_FILENO, line, len);
			(void)w;	/* nowhere left to report a failure */
		}
	} else {
		syslog(prio, "%s: %s", log_client, text);
	}
}

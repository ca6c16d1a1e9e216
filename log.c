/*
 * log.c - logging to syslog (LOG_MAIL) or to standard error.
 *
 * Every line carries the client address, so an administrator can follow a
 * session.  Untrusted text (user names, command words) must go through
 * log_escape() before it reaches a log line: a client must never be able
 * to forge log lines or inject terminal control sequences.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

/* What descriptor 2 leads to; see log_probe_stderr(). */
enum stderr_kind {
	STDERR_CHOSEN,	/* a terminal, a file, a pipe: someone reads it */
	STDERR_SOCKET,	/* another socket (journald's stream, say) */
	STDERR_CLIENT	/* the client's connection, or nothing */
};

static enum stderr_kind stderr_kind = STDERR_CHOSEN;
static int log_to_stderr;
static int syslog_open;
static char log_client[128] = "pipe";
static void (*log_sink)(int prio, const char *text);

void log_set_sink(void (*fn)(int prio, const char *text))
{
	log_sink = fn;
}

static void open_syslog(void)
{
	if (!syslog_open)
		openlog("pop3d", LOG_PID | LOG_NDELAY, LOG_MAIL);
	syslog_open = 1;
}

/* Whether two descriptors are the same open object (one socket dup'ed
 * onto 0, 1 and 2 by the super-server). */
static int same_object(const struct stat *st, int fd)
{
	struct stat other;

	return fstat(fd, &other) == 0 && other.st_dev == st->st_dev &&
	    other.st_ino == st->st_ino;
}

int log_probe_stderr(void)
{
	struct stat st;
	int fd;

	/* Closed counts as the client's: nobody reads it, and the next
	 * file we open would become descriptor 2. */
	if (fstat(STDERR_FILENO, &st) < 0 || (S_ISSOCK(st.st_mode) &&
	    (same_object(&st, STDOUT_FILENO) ||
	    same_object(&st, STDIN_FILENO))))
		stderr_kind = STDERR_CLIENT;
	else if (S_ISSOCK(st.st_mode))
		stderr_kind = STDERR_SOCKET;
	else
		/* A terminal is shared with stdin and stdout when pop3d is
		 * tried by hand, and "2>&1 | less" shares a pipe: both are
		 * a person's choice, so only sockets are judged further. */
		stderr_kind = STDERR_CHOSEN;
	if (stderr_kind != STDERR_CLIENT)
		return 0;
	/* Not even a sanitizer or libc message may reach the client. */
	fd = open("/dev/null", O_WRONLY | O_NOCTTY);
	if (fd < 0 || (fd != STDERR_FILENO &&
	    dup2(fd, STDERR_FILENO) < 0)) {
		open_syslog();
		syslog(LOG_ERR, "standard error is the client connection and "
		    "cannot be pointed at /dev/null: %m");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fd != STDERR_FILENO)
		close(fd);
	return 0;
}

void log_init(int use_stderr)
{
	log_to_stderr = use_stderr && stderr_kind != STDERR_CLIENT;
	if (log_to_stderr)
		return;
	open_syslog();
	if (use_stderr)
		log_msg(LOG_WARNING, "-s ignored: standard error is the client "
		    "connection (as inetd and xinetd start servers); logging to "
		    "syslog");
}

void log_startup_error(const char *hint, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (stderr_kind == STDERR_CHOSEN) {
		fprintf(stderr, "pop3d: %s\n", text);
		if (hint)
			fprintf(stderr, "%s\n", hint);
		return;
	}
	/* The client's socket must get nothing; another socket is most
	 * likely journald's stream, which syslog reaches as well. */
	open_syslog();
	syslog(LOG_ERR, "%s: %s; not started", log_client, text);
}

void log_set_client(const char *addr)
{
	log_escape(log_client, sizeof(log_client), addr, strlen(addr));
}

/* Ends an escaped copy of o bytes in dst; cut: the source went on, and
 * the copy says so ("..."), so nobody mistakes it for the whole. */
static void end_escaped(char *dst, size_t dstsize, size_t o, int cut)
{
	if (cut && dstsize >= 4) {
		if (o > dstsize - 4)
			o = dstsize - 4;
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
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
	end_escaped(dst, dstsize, o, i < srclen && src[i] != '\0');
}

void log_escape_hex(char *dst, size_t dstsize, const char *src,
    size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (dstsize == 0)
		return;
	for (i = 0; i < srclen && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];
		int esc = c < 0x20 || c >= 0x7f || c == '%' || c == '\\';

		if (o + (esc ? 4 : 1) >= dstsize)
			break;
		if (!esc) {
			dst[o++] = (char)c;
			continue;
		}
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 0xf];
	}
	end_escaped(dst, dstsize, o, i < srclen && src[i] != '\0');
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

/*
 * netio.c - the client connection: buffered line input with an idle
 * timeout and a length limit, and buffered output.
 *
 * Output is queued and written when the buffer fills or when the session
 * is about to wait for input.  That gives PIPELINING (RFC 2449 section
 * 6.6) its point: a burst of commands is answered in one large write.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

int io_init(struct netio *io, int in_fd, int out_fd, int timeout)
{
	memset(io, 0, sizeof(*io));
	io->in_fd = in_fd;
	io->out_fd = out_fd;
	io->timeout = timeout;
	io->out = malloc(OUTPUT_BUFFER_SIZE);
	/* Into a pipe (inetd-style wrappers, tests), a larger pipe buffer
	 * means fewer context switches per RETR.  Anything else, or a
	 * refusal (the per-user pipe quota), leaves it as it is. */
	(void)fcntl(out_fd, F_SETPIPE_SZ, PIPE_BUFFER_SIZE);
	return io->out ? 0 : -1;
}

void io_free(struct netio *io)
{
	free(io->out);
	io->out = NULL;
	/* Pipelined input may hold a password: do not leave it around. */
	explicit_bzero(io->in, sizeof(io->in));
}

/* Writes everything, through TLS when it is on. */
static int write_all(struct netio *io, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n;

		if (io->tls) {
			int w = tls_write(io->tls, p, len > 65536 ? 65536 : len);

			if (w < 0)
				return -1;
			p += w;
			len -= (size_t)w;
			continue;
		}
		n = write(io->out_fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int io_flush(struct netio *io)
{
	if (io->failed)
		return -1;
	if (io->out_len > 0 && write_all(io, io->out, io->out_len)) {
		io->failed = 1;
		return -1;
	}
	io->out_len = 0;
	return 0;
}

int io_write(struct netio *io, const void *data, size_t len)
{
	const unsigned char *p = data;

	if (io->failed)
		return -1;
	if (len > OUTPUT_BUFFER_SIZE - io->out_len) {
		if (io_flush(io))
			return -1;
		/* Large blocks skip the copy: they are written directly. */
		if (len >= OUTPUT_BUFFER_SIZE) {
			if (write_all(io, p, len)) {
				io->failed = 1;
				return -1;
			}
			return 0;
		}
	}
	memcpy(io->out + io->out_len, p, len);
	io->out_len += len;
	return 0;
}

unsigned char *io_space(struct netio *io, size_t want)
{
	if (io->failed || want > OUTPUT_BUFFER_SIZE)
		return NULL;
	if (OUTPUT_BUFFER_SIZE - io->out_len < want && io_flush(io) < 0)
		return NULL;
	return io->out + io->out_len;
}

void io_commit(struct netio *io, size_t len)
{
	io->out_len += len;
}

int io_printf(struct netio *io, const char *fmt, ...)
{
	char buf[MAX_RESPONSE_LINE + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	/* Our own responses are bounded; truncate rather than overflow. */
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	return io_write(io, buf, (size_t)n);
}

int io_input_pending(const struct netio *io)
{
	return io->in_start < io->in_end;
}

void io_discard_input(struct netio *io)
{
	explicit_bzero(io->in, sizeof(io->in));
	io->in_start = io->in_end = 0;
}

int io_wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	struct timespec now;
	long ms;
	int r;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (deadline->tv_sec - now.tv_sec) * 1000L +
		    (deadline->tv_nsec - now.tv_nsec) / 1000000L;
		if (ms <= 0)
			return 0;
		r = poll(&pfd, 1, ms > 60000 ? 60000 : (int)ms);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* Waits for input until the deadline.  Returns 1 ready, 0 timeout, -1. */
static int wait_input(struct netio *io, const struct timespec *deadline)
{
	if (io->timeout <= 0)
		return 1;
	/* Records already decrypted are input the socket will not show. */
	if (io->tls && tls_pending(io->tls))
		return 1;
	return io_wait_fd(io->in_fd, POLLIN, deadline);
}

/* Reads more input into the buffer.  Returns bytes read, 0 EOF, -1, -2. */
static ssize_t fill(struct netio *io, const struct timespec *deadline)
{
	ssize_t n;
	int r;

	if (io->in_start > 0) {
		memmove(io->in, io->in + io->in_start,
		    io->in_end - io->in_start);
		io->in_end -= io->in_start;
		io->in_start = 0;
	}
	/* About to block: the client must first see our answers. */
	if (io_flush(io))
		return -1;
	r = wait_input(io, deadline);
	if (r == 0)
		return -2;
	if (r < 0)
		return -1;
	if (io->tls) {
		/* A clean close_notify or a dropped connection: both end
		 * the session like EOF (0). */
		n = tls_read(io->tls, io->in + io->in_end,
		    sizeof(io->in) - io->in_end);
	} else {
		do
			n = read(io->in_fd, io->in + io->in_end,
			    sizeof(io->in) - io->in_end);
		while (n < 0 && errno == EINTR);
	}
	if (n > 0) {
		io->in_end += (size_t)n;
		io->total_in += (uint64_t)n;
	}
	return n;
}

enum io_status io_read_line(struct netio *io, char *line, size_t size,
    size_t *len_r)
{
	struct timespec deadline;
	int toolong = 0;
	size_t scanned = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += io->timeout;

	for (;;) {
		unsigned char *start = io->in + io->in_start;
		size_t avail = io->in_end - io->in_start;
		unsigned char *nl = memchr(start + scanned, '\n',
		    avail - scanned);
		ssize_t n;

		if (nl) {
			size_t len = (size_t)(nl - start);

			io->in_start += len + 1;
			if (len > 0 && start[len - 1] == '\r')
				len--;
			/* The limit counts the CRLF, as RFC 2449 does; size
			 * has one more byte for the NUL. */
			if (toolong || len + 2 > size - 1) {
				explicit_bzero(start, len);
				return IO_TOOLONG;
			}
			memcpy(line, start, len);
			line[len] = '\0';
			explicit_bzero(start, len);
			*len_r = len;
			return IO_LINE;
		}
		scanned = avail;
		if (avail + 1 > size - 1) {
			/* Over the limit: drop what we have, keep reading to
			 * the end of the line so the session can go on. */
			explicit_bzero(start, avail);
			io->in_start = io->in_end = 0;
			scanned = 0;
			toolong = 1;
		}
		/* A bounded peer (before login) may not make us read on
		 * forever, even without ever ending a line. */
		if (io->max_in && io->total_in > io->max_in)
			return IO_LIMIT;
		n = fill(io, &deadline);
		if (n == -2)
			return IO_TIMEOUT;
		if (n < 0)
			return IO_ERROR;
		if (n == 0)
			return IO_EOF;
	}
}

/*
 * netio.c - the client connection: buffered line input with an idle
 * timeout and a length limit, and buffered output.
 *
 * Output is queued and written when the buffer fills or when the session
 * is about to wait for input.  That gives PIPELINING (RFC 2449 section
 * 6.6) its point: a burst of commands is answered in one large write.
 *
 * No wait is unbounded: a read waits for a line at most the idle timeout,
 * and a write that makes no progress for the idle timeout ends the
 * session ("client stopped reading").  Output never blocks in write(2):
 * on a socket each write is MSG_DONTWAIT, which changes nothing that the
 * socket's other users (inetd's copy, stdin when it is the same socket)
 * see; on anything else (a pipe, a terminal, a file) the descriptor is
 * made O_NONBLOCK, which is a property of the open file description and
 * therefore shared with whoever else holds it -- for a pipe from a
 * launcher or a shell that is a writer of our own output only, and the
 * flags are put back by io_free(), so a shell running more commands into
 * the same pipe after pop3d finds it as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

volatile sig_atomic_t io_interrupted;

/* The deadline seconds from now, or NULL (no deadline) for 0. */
static const struct timespec *deadline_in(struct timespec *ts, int seconds)
{
	if (seconds <= 0)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += seconds;
	return ts;
}

int io_init(struct netio *io, int in_fd, int out_fd, int timeout)
{
	struct stat st;
	int fl;

	memset(io, 0, sizeof(*io));
	io->in_fd = in_fd;
	io->out_fd = out_fd;
	io->timeout = timeout;
	io->out_flags = -1;
	/* See the top of the file: how output is kept from blocking. */
	if (fstat(out_fd, &st) < 0)
		return -1;
	if (S_ISSOCK(st.st_mode)) {
		io->out_sock = 1;
	} else {
		fl = fcntl(out_fd, F_GETFL);
		if (fl < 0)
			return -1;
		if (!(fl & O_NONBLOCK)) {
			if (fcntl(out_fd, F_SETFL, fl | O_NONBLOCK) < 0)
				return -1;
			io->out_flags = fl;
		}
	}
	io->out = malloc(OUTPUT_BUFFER_SIZE);
	/* Into a pipe (inetd-style wrappers, tests), a larger pipe buffer
	 * means fewer context switches per RETR.  Anything else, or a
	 * refusal (the per-user pipe quota), leaves it as it is. */
	(void)fcntl(out_fd, F_SETPIPE_SZ, PIPE_BUFFER_SIZE);
	if (!io->out) {
		io_free(io);
		return -1;
	}
	return 0;
}

void io_free(struct netio *io)
{
	free(io->out);
	io->out = NULL;
	/* The descriptor's flags as we found them (see the top). */
	if (io->out_flags >= 0 && fcntl(io->out_fd, F_SETFL, io->out_flags) < 0)
		log_msg(LOG_WARNING, "cannot restore the output's flags: %s",
		    strerror(errno));
	io->out_flags = -1;
	/* Pipelined input may hold a password: do not leave it around. */
	explicit_bzero(io->in, sizeof(io->in));
}

/* One write that does not block.  Returns the bytes written, or -1 with
 * errno (EAGAIN: nothing fits now). */
static ssize_t write_some(const struct netio *io, const unsigned char *p,
    size_t len)
{
	if (io->out_sock)
		return send(io->out_fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return write(io->out_fd, p, len);
}

/*
 * TLS record I/O (rbuf: read, wbuf: write) until the deadline.  With none
 * (timeout 0, the unit tests) it waits as long as it takes: tls.c's NULL
 * deadline means "do not wait", for the relay.
 */
static int tls_io(struct netio *io, void *rbuf, const void *wbuf,
    size_t len, const struct timespec *deadline)
{
	for (;;) {
		int n = rbuf ? tls_read(io->tls, rbuf, len, deadline) :
		    tls_write(io->tls, wbuf, len, deadline);
		short ev;

		if (n != TLS_AGAIN || deadline)
			return n;
		ev = tls_wants(io->tls);
		if (io_wait_fd(ev == POLLIN ? tls_in_fd(io->tls) :
		    tls_out_fd(io->tls), ev, NULL) < 0)
			return -1;
	}
}

/* The client has not taken a byte for the idle timeout: end it. */
static int stalled(struct netio *io)
{
	log_msg(LOG_NOTICE, "client stopped reading: no output taken for "
	    "%d seconds, session closed", io->timeout);
	io->stalled = 1;
	errno = ETIMEDOUT;
	return -1;
}

/*
 * Writes everything, through TLS when it is on.  Each wait for the client
 * to take more is bounded by the idle timeout, counted afresh after every
 * write that made progress: a slow reader is served, a stopped one is not
 * waited for (RFC 1939 section 3's autologout, applied to output).
 */
static int write_all(struct netio *io, const unsigned char *p, size_t len)
{
	struct timespec ts;
	const struct timespec *deadline = deadline_in(&ts, io->timeout);

	while (len > 0) {
		ssize_t n;
		int r;

		if (io->tls) {
			n = tls_io(io, NULL, p, len > 65536 ? 65536 : len,
			    deadline);
			if (n == TLS_AGAIN)
				return stalled(io);
			if (n < 0)
				return -1;
		} else {
			n = write_some(io, p, len);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					return -1;
				r = io_wait_fd(io->out_fd, POLLOUT, deadline);
				if (r == 0)
					return stalled(io);
				if (r < 0)
					return -1;
				continue;
			}
		}
		p += n;
		len -= (size_t)n;
		deadline = deadline_in(&ts, io->timeout);
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
			io->total_out += len;
			return 0;
		}
	}
	memcpy(io->out + io->out_len, p, len);
	io->out_len += len;
	io->total_out += len;
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
	io->total_out += len;
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

int io_wait_fds(struct pollfd *pfd, size_t n, const struct timespec *deadline)
{
	struct timespec now;
	long ms;
	int r;

	/* A descriptor with nothing to wait for would still report
	 * POLLHUP and make this spin: leave it out. */
	for (size_t i = 0; i < n; i++) {
		pfd[i].revents = 0;
		if (pfd[i].events == 0)
			pfd[i].fd = -1;
	}
	for (;;) {
		if (!deadline) {
			ms = -1;	/* timeout 0: the unit tests */
		} else {
			clock_gettime(CLOCK_MONOTONIC, &now);
			ms = (deadline->tv_sec - now.tv_sec) * 1000L +
			    (deadline->tv_nsec - now.tv_nsec) / 1000000L;
			if (ms <= 0)
				return 0;
			/* Not the whole wait at once: -t allows a day. */
			if (ms > 60000)
				ms = 60000;
		}
		r = poll(pfd, (nfds_t)n, (int)ms);
		if (r > 0)
			return 1;
		/* A terminating signal ends the wait: the session ends. */
		if (r < 0 && (errno != EINTR || io_interrupted))
			return -1;
	}
}

int io_wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	return io_wait_fds(&pfd, 1, deadline);
}

/* Waits for input until the deadline.  Returns 1 ready, 0 timeout, -1. */
static int wait_input(struct netio *io, const struct timespec *deadline)
{
	/* Records already decrypted are input the socket will not show. */
	if (io->tls && tls_pending(io->tls))
		return 1;
	return io_wait_fd(io->in_fd, POLLIN, io->timeout > 0 ? deadline :
	    NULL);
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
again:
	r = wait_input(io, deadline);
	if (r == 0)
		return -2;
	if (r < 0)
		return -1;
	if (io->tls) {
		/* A clean close_notify or a dropped connection: both end
		 * the session like EOF (0).  Half a record and then
		 * silence meets the same deadline as a silent client. */
		n = tls_io(io, io->in + io->in_end, NULL,
		    sizeof(io->in) - io->in_end, io->timeout > 0 ? deadline :
		    NULL);
		if (n == TLS_AGAIN)
			return -2;
	} else {
		do
			n = read(io->in_fd, io->in + io->in_end,
			    sizeof(io->in) - io->in_end);
		while (n < 0 && errno == EINTR);
		/* Input that is the output's descriptor (a terminal) is
		 * non-blocking too: then poll(2) decides. */
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			goto again;
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

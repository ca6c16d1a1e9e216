/*
 * bench/poploop.c - the client of bench/haproxy.sh: CLIENTS processes,
 * each running back-to-back POP3 sessions over TCP for SECONDS, and the
 * number of complete sessions they made.
 *
 *   poploop -c CLIENTS -t SECONDS -b SOURCE -p PORT -u USERPREFIX -w PASS
 *           -n MESSAGES
 *
 * Client i (from 1) logs in as USERPREFIX<i>, so that no two sessions
 * want the same maildrop at once (the second would get [IN-USE]).  A
 * session: connect from SOURCE (port chosen by the kernel) to
 * 127.0.0.1:PORT, the greeting, USER, PASS (which must say MESSAGES
 * messages), STAT (the same), QUIT, then the server's close: a session
 * counts once pop3d has finished it, not when QUIT was sent.  One command
 * at a time, as a mail client sends them.  Any other reply, a timeout
 * (30 s) or a connection error is an error, counted and the first of
 * each client shown on stderr.  A client starts no session after
 * SECONDS; the time is the wall-clock time until the last one ended.
 * Prints "sessions=N errors=E seconds=S".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

struct conn {
	int fd;
	char buf[4096];
	size_t len, off;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One reply line, without CRLF; -1 on EOF, error or an over-long line. */
static int read_line(struct conn *c, char *line, size_t size)
{
	size_t n = 0;

	for (;;) {
		while (c->off < c->len) {
			char ch = c->buf[c->off++];

			if (ch == '\n') {
				if (n && line[n - 1] == '\r')
					n--;
				line[n] = '\0';
				return 0;
			}
			if (n + 1 >= size)
				return -1;
			line[n++] = ch;
		}
		ssize_t r = read(c->fd, c->buf, sizeof(c->buf));

		if (r <= 0)
			return -1;
		c->len = (size_t)r;
		c->off = 0;
	}
}

static int send_line(struct conn *c, const char *fmt, const char *arg)
{
	char out[512];
	int n = snprintf(out, sizeof(out), fmt, arg);

	return n > 0 && (size_t)n < sizeof(out) &&
	    write(c->fd, out, (size_t)n) == n ? 0 : -1;
}

/* One session; 0 when every reply was the expected one, else -1 with
 * the reason in why. */
static int session(const struct sockaddr_in *src, const struct sockaddr_in *dst,
    const char *user, const char *pass, const char *want, char *why,
    size_t wsize)
{
	struct conn c = { .fd = -1 };
	struct timeval tv = { .tv_sec = 30 };
	char line[512];
	const int on = 1;
	int rc = -1;

	c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c.fd < 0) {
		snprintf(why, wsize, "socket: %s", strerror(errno));
		return -1;
	}
	/* The port is chosen at connect(), for this destination: a bind()
	 * that chose it would use up the source's ports much sooner. */
	setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (bind(c.fd, (const struct sockaddr *)src, sizeof(*src)) < 0 ||
	    connect(c.fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
		snprintf(why, wsize, "connect: %s", strerror(errno));
		goto out;
	}
#define EXPECT(prefix) do { \
	if (read_line(&c, line, sizeof(line)) < 0) { \
		snprintf(why, wsize, "connection closed waiting for '%s'", \
		    prefix); \
		goto out; \
	} \
	if (strncmp(line, prefix, strlen(prefix)) != 0) { \
		snprintf(why, wsize, "'%s', expected '%s'", line, prefix); \
		goto out; \
	} \
} while (0)
	EXPECT("+OK");
	if (send_line(&c, "USER %s\r\n", user) < 0)
		goto sendfail;
	EXPECT("+OK");
	if (send_line(&c, "PASS %s\r\n", pass) < 0)
		goto sendfail;
	{
		char w[64];

		snprintf(w, sizeof(w), "+OK maildrop has %s message", want);
		EXPECT(w);
	}
	if (send_line(&c, "STAT\r\n%s", "") < 0)
		goto sendfail;
	{
		char w[64];

		snprintf(w, sizeof(w), "+OK %s ", want);
		EXPECT(w);
	}
	if (send_line(&c, "QUIT\r\n%s", "") < 0)
		goto sendfail;
	EXPECT("+OK");
	/* The end of the session is the server's close. */
	if (read_line(&c, line, sizeof(line)) == 0) {
		snprintf(why, wsize, "'%s' after QUIT", line);
		goto out;
	}
	rc = 0;
	goto out;
sendfail:
	snprintf(why, wsize, "write: %s", strerror(errno));
out:
	close(c.fd);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: poploop -c CLIENTS -t SECONDS -b SOURCE "
	    "-p PORT -u USERPREFIX -w PASS -n MESSAGES\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int clients = 0, port = 0, opt, i, fds[2];
	double seconds = 0, t0, t1;
	const char *source = NULL, *prefix = NULL, *pass = NULL, *want = NULL;
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct sockaddr_in dst = { .sin_family = AF_INET };
	long total = 0, errors = 0;

	while ((opt = getopt(argc, argv, "c:t:b:p:u:w:n:")) != -1) {
		switch (opt) {
		case 'c': clients = atoi(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'b': source = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'u': prefix = optarg; break;
		case 'w': pass = optarg; break;
		case 'n': want = optarg; break;
		default: usage();
		}
	}
	if (clients < 1 || seconds <= 0 || !source || port < 1 ||
	    port > 65535 || !prefix || !pass || !want ||
	    inet_pton(AF_INET, source, &src.sin_addr) != 1)
		usage();
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	dst.sin_port = htons((unsigned short)port);
	if (pipe(fds) < 0) {
		perror("pipe");
		return 1;
	}
	t0 = now();
	for (i = 1; i <= clients; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			char user[128], why[600];
			long n = 0, e = 0;
			char res[64];
			int len;

			close(fds[0]);
			snprintf(user, sizeof(user), "%s%d", prefix, i);
			while (now() - t0 < seconds) {
				if (session(&src, &dst, user, pass, want, why,
				    sizeof(why)) == 0) {
					n++;
				} else {
					if (e++ == 0)
						fprintf(stderr, "poploop: "
						    "client %d: %s\n", i, why);
					/* no busy loop on a dead server */
					usleep(100000);
				}
			}
			len = snprintf(res, sizeof(res), "%ld %ld\n", n, e);
			if (write(fds[1], res, (size_t)len) != len)
				_exit(1);
			_exit(0);
		}
	}
	close(fds[1]);
	{
		FILE *f = fdopen(fds[0], "r");
		long n, e;

		while (f && fscanf(f, "%ld %ld", &n, &e) == 2) {
			total += n;
			errors += e;
		}
	}
	while (wait(NULL) > 0)
		;
	t1 = now();
	printf("sessions=%ld errors=%ld seconds=%.3f\n", total, errors, t1 - t0);
	return 0;
}

/*
 * check_netio.c - the deadlines of the buffered connection (netio.c): a
 * write the reader never takes ends by the idle timeout instead of
 * blocking, a slow reader is not cut off, output to a pipe is made
 * non-blocking only for the session and put back after it, and a socket's
 * flags are never touched.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "unit.h"

/* More than a pipe or a socket pair holds (1 MiB pipes at most here). */
#define FLOOD (4UL * 1024 * 1024)

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Writes FLOOD bytes to fd, nobody reading: returns io_flush()'s result
 * and the time it took; *stalled_r is the netio's verdict. */
static int flood(int fd, int timeout, double *took_r, int *stalled_r)
{
	struct netio io;
	struct timespec t0;
	char *buf = calloc(1, FLOOD);
	int r;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(io_init(&io, -1, fd, timeout), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = io_write(&io, buf, FLOOD);
	if (r == 0)
		r = io_flush(&io);
	*took_r = seconds_since(&t0);
	*stalled_r = io.stalled;
	io_free(&io);
	free(buf);
	return r;
}

START_TEST(netio_unread_pipe_ends_by_timeout)
{
	int p[2], stalled;
	double took;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(flood(p[1], 1, &took, &stalled), -1);
	ck_assert_int_eq(stalled, 1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert(took >= 0.9 && took < 5.0);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(netio_unread_socket_ends_by_timeout)
{
	int sv[2], stalled;
	double took;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(flood(sv[1], 1, &took, &stalled), -1);
	ck_assert_int_eq(stalled, 1);
	ck_assert(took >= 0.9 && took < 5.0);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* A reader taking a little every half second, 3 s in all with a 1 s
 * timeout: progress renews the deadline, so everything arrives. */
START_TEST(netio_slow_reader_is_served)
{
	int p[2], st, stalled;
	double took;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		static char sink[FLOOD / 5];
		size_t total = 0;
		ssize_t n;

		close(p[1]);
		for (int i = 0; i < 6; i++) {
			struct timespec nap = { 0, 500000000L };

			nanosleep(&nap, NULL);
			n = read(p[0], sink, sizeof(sink));
			if (n > 0)
				total += (size_t)n;
		}
		while ((n = read(p[0], sink, sizeof(sink))) > 0)
			total += (size_t)n;
		_exit(total == FLOOD ? 0 : 1);
	}
	close(p[0]);
	ck_assert_int_eq(flood(p[1], 1, &took, &stalled), 0);
	ck_assert_int_eq(stalled, 0);
	close(p[1]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

START_TEST(netio_pipe_flags_restored)
{
	struct netio io;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(io_init(&io, -1, p[1], 1), 0);
	ck_assert_int_ne(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0);
	io_free(&io);
	ck_assert_int_eq(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(netio_socket_flags_untouched)
{
	struct netio io;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(io_init(&io, sv[1], sv[1], 1), 0);
	ck_assert_int_eq(fcntl(sv[1], F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(io_write(&io, "+OK\r\n", 5), 0);
	ck_assert_int_eq(io_flush(&io), 0);
	io_free(&io);
	ck_assert_int_eq(fcntl(sv[1], F_GETFL) & O_NONBLOCK, 0);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

Suite *netio_suite(void)
{
	Suite *s = suite_create("netio");
	TCase *tc = tcase_create("deadlines");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, netio_unread_pipe_ends_by_timeout);
	tcase_add_test(tc, netio_unread_socket_ends_by_timeout);
	tcase_add_test(tc, netio_slow_reader_is_served);
	tcase_add_test(tc, netio_pipe_flags_restored);
	tcase_add_test(tc, netio_socket_flags_untouched);
	suite_add_tcase(s, tc);
	return s;
}

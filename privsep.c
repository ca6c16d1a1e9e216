/*
 * privsep.c - privilege separation in root mode, in popa3d's spirit.
 *
 * Started as root, pop3d forks before it reads a byte from the client.
 * The child, the pre-login process, chroots into an empty directory,
 * gives up root for an unprivileged account and speaks POP3 in the
 * AUTHORIZATION state; whatever a hostile client achieves there, it has
 * no root, no files and no password hashes.  It forwards USER/PASS, APOP
 * and SASL (AUTH PLAIN, LOGIN, CRAM-MD5: sasl.c) credentials over a
 * socketpair in a small, length-checked format; for APOP and CRAM-MD5
 * that is the client's digest of the parent's own timestamp, so this
 * process never sees a secret.
 *
 * The parent keeps root and does only this: it runs the authentication
 * back end (the password file, PAM or a checkpassword program: reading
 * /etc/shadow needs root), counts and delays failures, and answers one
 * byte.  After an accepted login the child passes the client input it
 * had already read (pipelined commands) and exits; the parent then
 * switches to the user's ids and serves the TRANSACTION state itself.
 *
 * Channel format (all lengths checked by the reader):
 *   request  kind(1: 'P', 'A', 'S', 'L' or 'C') ulen(1) user(ulen <= 128) slen(2, LE)
 *            secret(slen <= 255); the parent decides if the name is valid
 *   verdict  'Y' accepted, 'N' refused, 'L' refused and the limit is
 *            reached, 'E' system error
 *   handoff  (after 'Y') relay(1: 'R' or 'D') tls(1: enum tls_version,
 *            TLSV_NONE exactly when 'D') plen(2, LE)
 *            pending(plen <= INPUT_BUFFER_SIZE)
 *   end      (instead of a request: the session ended before a login)
 *            'E' end(1: enum session_end) tls(1: enum tls_version)
 *
 * The end message lets the parent log the one logout line of a session
 * that never logged in, with the reason only the pre-login process
 * knows; a process that dies without one still gets its line from the
 * parent (end=error, timeout or signal).  After a login the parent's own
 * session logs it, so no session has two.
 *
 * TLS: the pre-login process did the handshake, and a TLS session cannot
 * move to another process.  So with TLS on, the handoff says 'R' and the
 * pre-login process stays on as a relay: it decrypts for the parent over
 * a second socketpair and encrypts its answers, still unprivileged and
 * chrooted (Dovecot's login processes work this way).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

enum {
	V_YES = 'Y', V_NO = 'N', V_LIMIT = 'L', V_ERROR = 'E'
};

/* The end message's kind byte: no CRED_ value. */
#define CHAN_END 'E'

/* ------------------------------------------------ the pre-login side */

/* The pre-login process's login_checker: the parent checks (the
 * timestamp is the parent's own, it made it). */
static int privsep_ask(void *ctx, int kind, const char *user,
    const char *secret, const char *timestamp, struct pw_entry *e_r)
{
	int chan = *(const int *)ctx;
	unsigned char msg[1 + 1 + MAX_USER_ARG + 2 + MAX_PASSWORD];
	size_t ulen = strlen(user), slen = strlen(secret), o = 0;
	unsigned char verdict;
	int r;

	(void)timestamp;
	(void)e_r;	/* the parent keeps the account */
	if (ulen > MAX_USER_ARG || slen > MAX_PASSWORD)
		return 0;	/* cannot be right; the parent need not know */
	msg[o++] = (unsigned char)kind;
	msg[o++] = (unsigned char)ulen;
	/* Length-prefixed fields: the NULs do not go on the wire. */
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(msg + o, user, ulen);
	o += ulen;
	msg[o++] = (unsigned char)(slen & 0xff);
	msg[o++] = (unsigned char)(slen >> 8);
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(msg + o, secret, slen);
	o += slen;
	r = write_full(chan, msg, o);
	explicit_bzero(msg, sizeof(msg));
	if (r < 0 || read_full(chan, &verdict, 1) < 0)
		return -1;
	switch (verdict) {
	case V_YES:
		return 1;
	case V_NO:
		return 0;
	case V_LIMIT:
		return 2;
	default:
		return -1;
	}
}

/* The TLS session a handoff left to this (pre-login) process to relay. */
static void *relay_tls;

static int privsep_handoff(void *ctx, const void *pending, size_t len,
    void *tls)
{
	int chan = *(const int *)ctx;
	unsigned char hdr[4];

	if (len > INPUT_BUFFER_SIZE)
		return -1;
	hdr[0] = tls ? 'R' : 'D';
	hdr[1] = (unsigned char)tls_version(tls);
	hdr[2] = (unsigned char)(len & 0xff);
	hdr[3] = (unsigned char)(len >> 8);
	if (write_full(chan, hdr, 4) < 0 || write_full(chan, pending, len))
		return -1;
	relay_tls = tls;
	return 0;
}

/* The pre-login session ended without a login: the parent logs it.  A
 * parent that is gone cannot be told, and would not log anyway. */
static void privsep_end(void *ctx, const struct session_stats *st)
{
	int chan = *(const int *)ctx;
	unsigned char msg[3];

	msg[0] = CHAN_END;
	msg[1] = (unsigned char)st->end;
	msg[2] = (unsigned char)st->tls;
	(void)write_full(chan, msg, sizeof(msg));
}

/* The deadline seconds from now. */
static void deadline_in(struct timespec *ts, int seconds)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += seconds;
}

/* Bytes on their way from one side of the relay to the other. */
struct relay_buf {
	unsigned char data[16384];
	size_t off, len;	/* data[off..len) is still to be written */
};

/*
 * Copies between the client's TLS session and the parent's plain socket
 * until the parent closes its side and what it said has reached the
 * client.  The client's end of input is passed on as a half-close, so
 * the parent sees EOF as it would directly.
 *
 * Nothing here blocks: both sockets are non-blocking, each direction has
 * its own buffer, and the process waits in one poll(2) for whichever side
 * can move bytes.  So a client that does not read cannot stop the
 * commands it sends from reaching the parent, nor the other way round.
 * The wait is bounded: when nothing has moved for the idle timeout plus
 * PRIVSEP_GRACE, the relay gives up.  The parent meets its own idle
 * timeout first (it never waits longer than the idle timeout), so the
 * process that can say why the session ended is the one that logs it.
 */
static void relay(void *tls, int peer, int timeout)
{
	struct relay_buf up = { .len = 0 }, down = { .len = 0 };
	struct timespec deadline;
	int client_open = 1, peer_open = 1, fl;
	short want_in = POLLIN, want_out = 0;

	/* Our own socketpair: nobody else shares its flags. */
	fl = fcntl(peer, F_GETFL);
	if (fl < 0 || fcntl(peer, F_SETFL, fl | O_NONBLOCK) < 0) {
		log_msg(LOG_ERR, "relay: %s", strerror(errno));
		goto out;
	}
	deadline_in(&deadline, timeout + PRIVSEP_GRACE);
	for (;;) {
		struct pollfd pfd[3];
		int moved = 0, got, r;
		ssize_t n;

		/* The client's records, decrypted, into up. */
		if (client_open && up.len == 0) {
			got = tls_read(tls, up.data, sizeof(up.data), NULL);
			if (got > 0) {
				up.off = 0;
				up.len = (size_t)got;
				moved = 1;
			} else if (got == TLS_AGAIN) {
				want_in = tls_wants(tls);
			} else {
				client_open = 0;
				moved = 1;
				/* Only the parent's EOF follows; a failure to
				 * say it shows as the parent's idle timeout. */
				if (shutdown(peer, SHUT_WR) < 0)
					log_msg(LOG_NOTICE, "relay: shutdown: %s",
					    strerror(errno));
			}
		}
		/* up to the parent. */
		if (up.off < up.len) {
			n = send(peer, up.data + up.off, up.len - up.off,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0) {
				up.off += (size_t)n;
				if (up.off == up.len)
					up.off = up.len = 0;
				moved = 1;
			} else if (n < 0 && errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != EINTR) {
				break;	/* the parent is gone */
			}
		}
		/* The parent's answers into down. */
		if (peer_open && down.len == 0) {
			n = recv(peer, down.data, sizeof(down.data),
			    MSG_DONTWAIT);
			if (n > 0) {
				down.off = 0;
				down.len = (size_t)n;
				moved = 1;
			} else if (n == 0) {
				peer_open = 0;	/* the session is over */
				moved = 1;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR) {
				break;
			}
		}
		/* down, encrypted, to the client. */
		want_out = 0;
		if (down.off < down.len) {
			got = tls_write(tls, down.data + down.off,
			    down.len - down.off, NULL);
			if (got > 0) {
				down.off += (size_t)got;
				if (down.off == down.len)
					down.off = down.len = 0;
				moved = 1;
			} else if (got == TLS_AGAIN) {
				want_out = tls_wants(tls);
			} else {
				break;	/* the client is gone */
			}
		}
		if (!peer_open && down.len == 0)
			break;	/* all the parent said is delivered */
		if (moved) {
			deadline_in(&deadline, timeout + PRIVSEP_GRACE);
			continue;
		}
		/* Nothing moved: wait until a side can take or give. */
		pfd[0].fd = peer;
		pfd[0].events = (short)((peer_open && down.len == 0 ?
		    POLLIN : 0) | (up.off < up.len ? POLLOUT : 0));
		pfd[1].fd = tls_in_fd(tls);
		pfd[1].events = (short)(client_open && up.len == 0 ?
		    (want_in == POLLOUT ? 0 : POLLIN) : 0);
		pfd[2].fd = tls_out_fd(tls);
		pfd[2].events = (short)((want_out == POLLOUT ||
		    (client_open && up.len == 0 && want_in == POLLOUT)) ?
		    POLLOUT : 0);
		if (want_out == POLLIN)
			pfd[1].events |= POLLIN;
		r = io_wait_fds(pfd, 3, &deadline);
		if (r == 0) {
			log_msg(LOG_NOTICE, "TLS relay: nothing moved for %d "
			    "seconds; closed", timeout + PRIVSEP_GRACE);
			break;
		}
		if (r < 0) {
			log_msg(LOG_ERR, "relay: poll: %s", strerror(errno));
			break;
		}
	}
out:
	explicit_bzero(&up, sizeof(up));
	explicit_bzero(&down, sizeof(down));
	tls_close(tls);
}

/* Closes fd unless it is 0-2, keep or a socket (syslog's). */
static void close_if_other(int fd, int keep)
{
	struct stat st;

	if (fd > 2 && fd != keep && fstat(fd, &st) == 0 &&
	    !S_ISSOCK(st.st_mode))
		close(fd);
}

/*
 * Closes every descriptor but 0-2, the channel and sockets (syslog's).
 * /proc/self/fd lists the open ones; trying every number up to the limit
 * instead costs one fstat(2) each, 20,000 of them per session where
 * RLIMIT_NOFILE is 20,000.  That remains the way without /proc.
 */
static void close_other_files(int keep)
{
	long max = sysconf(_SC_OPEN_MAX);
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;

	if (dir) {
		/* Single-threaded; readdir_r() is deprecated in glibc. */
		/* cppcheck-suppress readdirCalled */
		while ((de = readdir(dir)) != NULL) {
			char *end;
			long fd;

			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;	/* "." and ".." */
			errno = 0;
			fd = strtol(de->d_name, &end, 10);
			if (errno || *end || fd > INT_MAX ||
			    fd == dirfd(dir))
				continue;
			close_if_other((int)fd, keep);
		}
		closedir(dir);
		return;
	}
	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 3; fd < max; fd++)
		close_if_other(fd, keep);
}

/* Becomes the pre-login process: no files, no root.  Returns 0 or -1. */
static int enter_prelogin(const struct config *cfg, uid_t uid, gid_t gid)
{
	if (chroot(cfg->privsep_dir) < 0 || chdir("/") < 0) {
		log_msg(LOG_ERR, "chroot to %s: %s", cfg->privsep_dir,
		    strerror(errno));
		return -1;
	}
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		log_msg(LOG_ERR, "cannot become %s: %s", cfg->privsep_user,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0 || getuid() == 0) {
		log_msg(LOG_CRIT, "pre-login process could regain root");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------- the root side */

/* The account and directory the pre-login process needs.  0 or -1. */
static int prelogin_identity(const struct config *cfg, uid_t *uid_r,
    gid_t *gid_r)
{
	struct passwd *pw = getpwnam(cfg->privsep_user);
	struct stat st;

	if (!pw) {
		log_msg(LOG_ERR, "privilege separation needs the account %s "
		    "(see the README); refusing to parse client input as "
		    "root", cfg->privsep_user);
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		log_msg(LOG_ERR, "account %s must not have uid or gid 0",
		    cfg->privsep_user);
		return -1;
	}
	/* An empty, root-owned directory nobody else may write: the
	 * pre-login process must find nothing there and plant nothing. */
	if (stat(cfg->privsep_dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		log_msg(LOG_ERR, "privilege separation needs the directory %s, "
		    "owned by root and writable only by root (mkdir -m 755 "
		    "%s, or chown root %s and chmod go-w %s)", cfg->privsep_dir,
		    cfg->privsep_dir, cfg->privsep_dir, cfg->privsep_dir);
		return -1;
	}
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 0;
}

int privsep_check(const struct config *cfg)
{
	uid_t uid;
	gid_t gid;

	return prelogin_identity(cfg, &uid, &gid);
}

/*
 * The exit status of the pre-login process, waited for at most seconds:
 * then it is killed (SIGKILL cannot be caught or ignored) and reaped, so
 * root never waits forever for an unprivileged process, and leaves no
 * zombie.  waitpid(2) has no timeout: WNOHANG, with sleeps that start
 * short (the usual exit takes a few milliseconds) and grow.
 */
static int reap(pid_t pid, int seconds)
{
	struct timespec deadline, now, nap = { 0, REAP_FIRST_NAP_NS };
	pid_t r;
	int st;

	deadline_in(&deadline, seconds);
	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "waitpid: %s", strerror(errno));
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline.tv_sec || (now.tv_sec ==
		    deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) {
			log_msg(LOG_ERR, "pre-login process did not exit "
			    "within %d seconds; killed", seconds);
			/* EPERM: after a login this process runs as the
			 * user and may not signal the TLS relay (the pop3d
			 * account).  The relay bounds its own waits, so it
			 * ends by itself (only its own account or root can
			 * stop it); we do not wait, and init reaps it. */
			if (kill(pid, SIGKILL) < 0 && errno != ESRCH) {
				log_msg(LOG_ERR, "kill: %s; not waiting for "
				    "it", strerror(errno));
				return 1;
			}
			/* It dies at once, stopped or not: wait for it. */
			while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
				;
			if (r < 0) {
				log_msg(LOG_ERR, "waitpid: %s", strerror(errno));
				return 1;
			}
			break;
		}
		/* An interrupted nap only means looking again sooner. */
		(void)nanosleep(&nap, NULL);
		if (nap.tv_nsec < REAP_MAX_NAP_NS)
			nap.tv_nsec *= 2;
	}
	if (WIFSIGNALED(st)) {
		log_msg(LOG_ERR, "pre-login process killed by signal %d",
		    WTERMSIG(st));
		return 1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* A malformed message means the pre-login process is not ours anymore. */
static int violation(pid_t pid, const char *what)
{
	log_msg(LOG_CRIT, "pre-login process broke the protocol (%s); "
	    "killed", what);
	if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
		log_msg(LOG_ERR, "kill: %s", strerror(errno));
	(void)reap(pid, PRIVSEP_GRACE);
	return 1;
}

/*
 * read_full() for the channel, bounded by the deadline: the pre-login
 * process is not trusted to ever write (or to write all it announced).
 * Returns 0, or -1 with errno (ETIMEDOUT at the deadline, EIO at EOF).
 */
static int chan_read(int chan, void *buf, size_t len,
    const struct timespec *deadline)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n;
		int r = io_wait_fd(chan, POLLIN, deadline);

		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (r < 0)
			return -1;
		n = read(chan, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* end of file first */
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads the rest of an end message into *st_r (its end and tls fields,
 * both checked).  Returns 2, or -1 (malformed). */
static int read_end(int chan, struct session_stats *st_r,
    const struct timespec *deadline)
{
	unsigned char b[2];

	if (chan_read(chan, b, 2, deadline) < 0 || b[0] >= SEND_COUNT ||
	    b[1] >= TLSV_COUNT)
		return -1;
	st_r->end = b[0];
	st_r->tls = b[1];
	return 2;
}

/* Reads one request by the deadline.  Returns 1 read, 2 an end message
 * (in *end_r), 0 the child is gone, -1 bad, -2 the deadline passed. */
static int read_request(int chan, int *kind_r, char *user, char *secret,
    struct session_stats *end_r, const struct timespec *deadline)
{
	unsigned char b[2];
	size_t ulen, slen;

	if (chan_read(chan, b, 1, deadline) < 0)
		return errno == ETIMEDOUT ? -2 : 0;
	*kind_r = b[0];
	if (*kind_r == CHAN_END)
		return read_end(chan, end_r, deadline);
	if ((*kind_r != CRED_PASS && *kind_r != CRED_APOP &&
	    *kind_r != CRED_PLAIN && *kind_r != CRED_LOGIN &&
	    *kind_r != CRED_CRAM) ||
	    chan_read(chan, b, 1, deadline) < 0)
		return -1;
	ulen = b[0];
	if (ulen > MAX_USER_ARG || chan_read(chan, user, ulen, deadline) < 0 ||
	    chan_read(chan, b, 2, deadline) < 0)
		return -1;
	user[ulen] = '\0';
	slen = (size_t)b[0] | (size_t)b[1] << 8;
	if (slen > MAX_PASSWORD || chan_read(chan, secret, slen, deadline) < 0)
		return -1;
	secret[slen] = '\0';
	/* An embedded NUL would make the checked string differ from the
	 * received one. */
	return strlen(user) == ulen && strlen(secret) == slen ? 1 : -1;
}

/*
 * The pre-login process went away before it said how its session ended,
 * or we were interrupted by a signal while we waited for it.  Signalled,
 * we pass the signal on (it may not have had it: kill(1) of our pid),
 * so its session ends and says so; whatever it managed to write before
 * it exited is still in the socket.  Logs the logout line and returns
 * the process's exit status.
 */
static int prelogin_gone(pid_t pid, int chan, int wait_s)
{
	struct session_stats end = { .end = SEND_ERROR };
	struct timespec now;
	unsigned char k;
	int status;

	if (io_interrupted) {
		end.end = SEND_SIGNAL;
		if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
			log_msg(LOG_ERR, "kill: %s", strerror(errno));
	}
	status = reap(pid, wait_s);
	deadline_in(&now, 0);
	if (chan_read(chan, &k, 1, &now) == 0 && k == CHAN_END)
		(void)read_end(chan, &end, &now);
	logout_log(&end);
	return status;
}

int privsep_run(const struct config *cfg, int in_fd, int out_fd)
{
	char ts[MAX_TIMESTAMP], user[MAX_USER_ARG + 1];
	char secret[MAX_PASSWORD + 1];
	unsigned char pending[INPUT_BUFFER_SIZE], b[4], verdict;
	struct pw_entry *pw;
	struct login_checker lc;
	struct timespec deadline;
	int sp[2], rp[2], kind, r, failures = 0, status, wait_s;
	uid_t uid;
	gid_t gid;
	pid_t pid, parent;
	size_t len;

	if (prelogin_identity(cfg, &uid, &gid) < 0)
		return 1;
	/* The parent makes the APOP timestamp: a compromised pre-login
	 * process must not choose it (replayed digests). */
	if (cfg->apop_file)
		make_apop_timestamp(cfg->hostname, ts, sizeof(ts));
	/* sp: credentials and handoff; rp: the TLS relay, if it comes to
	 * that. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rp) < 0) {
		log_msg(LOG_ERR, "socketpair: %s", strerror(errno));
		return 1;
	}
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		log_msg(LOG_ERR, "fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(sp[0]);
		close(rp[0]);
		close_other_files(sp[1]);
		if (enter_prelogin(cfg, uid, gid) < 0)
			_exit(1);
		/* Should the parent die before it (killed while root), so
		 * does this process, at once rather than at its own
		 * deadline.  Set after the change of ids, which clears it;
		 * a parent already gone shows as another parent pid.  (After
		 * a login the parent runs as the user, and the kernel's
		 * permission check drops the signal: then the relay's own
		 * deadline ends it.) */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
		    getppid() != parent)
			_exit(1);
		lc.check = privsep_ask;
		lc.handoff = privsep_handoff;
		lc.end = privsep_end;
		lc.ctx = &sp[1];
		status = session_run(cfg, in_fd, out_fd, &lc,
		    cfg->apop_file ? ts : NULL);
		close(sp[1]);
		if (relay_tls)
			relay(relay_tls, rp[1], cfg->timeout);
		_exit(status);
	}
	close(sp[1]);
	close(rp[1]);

	pw = malloc(sizeof(*pw));
	if (!pw)
		return violation(pid, "out of memory");
	/*
	 * Every wait for the pre-login process is bounded, by the idle
	 * timeout plus PRIVSEP_GRACE: a login request must come within that
	 * of the start or of the last answer, the handoff within that of
	 * the 'Y', and the exit within that of the end of its work.  The
	 * process bounds its own waits for the client by the idle timeout,
	 * so it ends by itself first and logs why; the parent's deadline is
	 * for a process that does not (stopped, or no longer ours).
	 */
	wait_s = cfg->timeout + PRIVSEP_GRACE;
	deadline_in(&deadline, wait_s);
	for (;;) {
		/* The logout line of a session that ends here, before a
		 * login: error unless the pre-login process says more. */
		struct session_stats end = { .end = SEND_ERROR };

		r = read_request(sp[0], &kind, user, secret, &end, &deadline);
		if (r == 2) {
			/* Ended before any login (QUIT, EOF, timeout, the
			 * failure limit...), and it said why. */
			status = reap(pid, wait_s);
			logout_log(&end);
			break;
		}
		if (r == 0) {
			status = prelogin_gone(pid, sp[0], wait_s);
			break;
		}
		if (r == -2) {
			log_msg(LOG_NOTICE, "no login request within %d "
			    "seconds; pre-login process killed", wait_s);
			if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
				log_msg(LOG_ERR, "kill: %s", strerror(errno));
			status = reap(pid, wait_s);
			end.end = SEND_TIMEOUT;
			logout_log(&end);
			break;
		}
		if (r < 0) {
			status = violation(pid, "malformed request");
			logout_log(&end);
			break;
		}
		r = auth_check_login(cfg, kind, user, secret,
		    cfg->apop_file ? ts : NULL, pw, &failures);
		explicit_bzero(secret, sizeof(secret));
		verdict = r == 1 ? V_YES : r == 2 ? V_LIMIT : r < 0 ? V_ERROR :
		    V_NO;
		/* One byte into a socketpair that holds nothing else of
		 * ours (the child reads each verdict before it asks again):
		 * this write cannot block. */
		if (write_full(sp[0], &verdict, 1) < 0) {
			status = prelogin_gone(pid, sp[0], wait_s);
			break;
		}
		deadline_in(&deadline, wait_s);
		if (verdict != V_YES)
			continue;
		/* Accepted: take over what the client already sent. */
		if (chan_read(sp[0], b, 4, &deadline) < 0 ||
		    (b[0] != 'R' && b[0] != 'D') || b[1] >= TLSV_COUNT ||
		    (b[0] == 'R') != (b[1] != TLSV_NONE)) {
			status = violation(pid, "no handoff");
			logout_log(&end);
			break;
		}
		len = (size_t)b[2] | (size_t)b[3] << 8;
		if (len > sizeof(pending) ||
		    chan_read(sp[0], pending, len, &deadline)) {
			status = violation(pid, "bad handoff");
			logout_log(&end);
			break;
		}
		close(sp[0]);
		sp[0] = -1;
		if (b[0] == 'R') {
			/* TLS: the session talks to the relay. */
			status = session_resume(cfg, rp[0], rp[0], pw, kind,
			    pending, len, b[1]);
			close(rp[0]);
			rp[0] = -1;
			/* The relay ends when it has delivered what the
			 * session said, or gives up on the client. */
			(void)reap(pid, wait_s);
		} else {
			(void)reap(pid, wait_s);
			status = session_resume(cfg, in_fd, out_fd, pw, kind,
			    pending, len, TLSV_NONE);
		}
		break;
	}
	if (sp[0] >= 0)
		close(sp[0]);
	if (rp[0] >= 0)
		close(rp[0]);
	explicit_bzero(pw, sizeof(*pw));
	free(pw);
	return status;
}

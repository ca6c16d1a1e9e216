/*
 * passdb_checkpassword.c - the checkpassword back end (--auth
 * checkpassword:PROGRAM), DJB's interface (cr.yp.to/checkpwd/
 * interface.html): PROGRAM reads "user\0password\0timestamp\0" on
 * descriptor 3 and exits 1 (wrong), 2 (misused) or 111 (temporary
 * problem), or accepts by running the program named by its remaining
 * arguments with the account's uid, gid, USER and HOME.
 *
 * That next program is pop3d itself, as "pop3d --checkpassword-reply"
 * (checkpassword_reply.c): it sends USER and HOME back over descriptor 4,
 * a SOCK_SEQPACKET socketpair whose pop3d end has SO_PASSCRED, so the
 * uid and gid come from the kernel's SCM_CREDENTIALS of that message,
 * never from text: a process of user A (ptraced by A, say) cannot claim
 * to be B.  The name is the one the program set (it may canonicalise),
 * checked like any user name.
 *
 * In root mode the program runs as root, a child of the privileged
 * parent.  So it must be trusted like the password file (trust.c: only
 * root can have written it or the directories on its way), and it sees
 * nothing of pop3d: its own process group, an environment of our making,
 * descriptors 0-2 on /dev/null, 3 and 4, no other descriptor (the client
 * connection least of all), SIGPIPE back to its default.  One deadline,
 * PASSDB_TIMEOUT, bounds the reply and the exit; past it the process
 * group is killed.
 *
 * The timestamp: pop3d has no APOP here (pop3d.c refuses --apop with this
 * back end), and qmail-popup, the interface's first caller, always sends
 * one, with PASS too.  So a non-empty one: the current time in decimal
 * seconds since the epoch, which a program that ignores it (checkpassword,
 * checkpw) ignores and one that logs it can log.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

/* The exit statuses of the interface. */
enum { CP_OK = 0, CP_WRONG = 1, CP_MISUSE = 2, CP_TEMP = 111 };

int checkpassword_message(char *buf, size_t size, const char *user,
    const char *password, const char *timestamp)
{
	size_t ul = strlen(user), pl = strlen(password), tl = strlen(timestamp);
	size_t len = ul + 1 + pl + 1 + tl + 1;

	/* Programs read no more than 512 bytes: a longer password would be
	 * cut where we cannot see, and checked as something else. */
	if (len > MAX_CHECKPASSWORD_INPUT || len > size)
		return -1;
	memcpy(buf, user, ul + 1);
	memcpy(buf + ul + 1, password, pl + 1);
	memcpy(buf + ul + 1 + pl + 1, timestamp, tl + 1);
	return (int)len;
}

/* The parse itself; checkpassword_parse_reply() empties r on failure. */
static int parse_reply(const void *buf, size_t len,
    struct checkpassword_reply *r, const char **why_r)
{
	const char *p = buf, *end = p + len, *v;
	size_t vlen;

	memset(r, 0, sizeof(*r));
	if (len == 0 || len > MAX_CHECKPASSWORD_REPLY) {
		*why_r = len ? "reply too long" : "empty reply";
		return -1;
	}
	/* With the last byte a NUL, every strlen() and strncmp() below
	 * stops inside the buffer. */
	if (p[len - 1] != '\0') {
		*why_r = "reply does not end with a NUL byte";
		return -1;
	}
	if (strncmp(p, "USER=", 5) != 0) {
		*why_r = "reply does not start with USER=";
		return -1;
	}
	v = p + 5;
	vlen = strlen(v);
	/* The name goes into paths (%u) and logs. */
	if (!auth_valid_username(v)) {
		*why_r = "USER in the reply is not a valid user name";
		return -1;
	}
	memcpy(r->user, v, vlen + 1);
	p = v + vlen + 1;
	if (p < end && strncmp(p, "USER=", 5) == 0) {
		*why_r = "USER twice in the reply";
		return -1;
	}
	if (p < end && strncmp(p, "HOME=", 5) == 0) {
		v = p + 5;
		vlen = strlen(v);
		if (v[0] != '/') {
			*why_r = "HOME in the reply is not an absolute path";
			return -1;
		}
		if (vlen >= sizeof(r->home)) {
			*why_r = "HOME in the reply is too long";
			return -1;
		}
		for (size_t i = 0; i < vlen; i++) {
			if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
				*why_r = "HOME in the reply has control "
				    "characters";
				return -1;
			}
		}
		memcpy(r->home, v, vlen + 1);
		p = v + vlen + 1;
		if (p < end && (strncmp(p, "HOME=", 5) == 0 ||
		    strncmp(p, "USER=", 5) == 0)) {
			*why_r = "a field twice in the reply";
			return -1;
		}
	}
	if (p != end) {
		*why_r = "unexpected data in the reply (only USER= and HOME=)";
		return -1;
	}
	return 0;
}

int checkpassword_parse_reply(const void *buf, size_t len,
    struct checkpassword_reply *r, const char **why_r)
{
	if (parse_reply(buf, len, r, why_r) == 0)
		return 0;
	/* Half a reply must not pass for an account. */
	memset(r, 0, sizeof(*r));
	return -1;
}

/* "NAME=value" into buf, or NULL if it does not fit (then left out). */
static char *env_entry(char *buf, size_t size, const char *name,
    const char *value)
{
	int n = snprintf(buf, size, "%s=%s", name, value);

	return n > 0 && (size_t)n < size ? buf : NULL;
}

/* Closes every descriptor from first up. */
static void close_from(int first)
{
	long max;

	if (close_range((unsigned)first, ~0U, 0) == 0)
		return;
	/* Kernels before 5.9: every number up to the limit. */
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > INT_MAX)
		max = 65536;
	for (long fd = first; fd < max; fd++)
		(void)close((int)fd);
}

/*
 * The child: becomes what the program may see, then runs it.  in_fd,
 * reply_fd and err_fd become 3, 4 and 5 (5 close-on-exec: it reports a
 * failed execve() to the parent as errno).  Never returns.
 */
static void run_program(const char *program, const char *self_exe,
    int in_fd, int reply_fd, int err_fd, char *const envp[])
{
	char *argv[4];
	sigset_t none;
	int null_fd, e, report = err_fd;

	argv[0] = (char *)program;
	argv[1] = (char *)self_exe;
	argv[2] = (char *)"--checkpassword-reply";
	argv[3] = NULL;
	/* Its own group: the deadline kills whatever it starts too. */
	if (setsid() < 0)
		goto fail;
	/* Should pop3d die while root, the check dies with it (the
	 * program's own change of ids clears this, as it should). */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Above 5 first: a dup2() onto one of our own would lose it. */
	in_fd = fcntl(in_fd, F_DUPFD_CLOEXEC, 6);
	reply_fd = fcntl(reply_fd, F_DUPFD_CLOEXEC, 6);
	err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, 6);
	if (in_fd < 0 || reply_fd < 0 || err_fd < 0 ||
	    dup2(in_fd, CHECKPASSWORD_FD_INPUT) < 0 ||
	    dup2(reply_fd, CHECKPASSWORD_FD_REPLY) < 0 ||
	    dup3(err_fd, 5, O_CLOEXEC) < 0)
		goto fail;
	report = 5;
	/* 0-2 are the client's connection (or the log): never the
	 * program's. */
	null_fd = open("/dev/null", O_RDWR | O_NOCTTY);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 ||
	    dup2(null_fd, 2) < 0)
		goto fail;
	close_from(6);
	/* An ignored signal stays ignored across execve(). */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(program, argv, envp);
fail:
	e = errno;
	/* A failed report leaves the parent seeing CP_TEMP alone. */
	if (write(report, &e, sizeof(e)) != (ssize_t)sizeof(e))
		_exit(CP_TEMP);
	_exit(CP_TEMP);
}

/*
 * Receives the reply until the program's side is closed or the deadline
 * passes.  Returns 1 (one message, its credentials in cred_r), 0 (none),
 * -1 (a bad one: why in *why_r).  The control buffer has room for the
 * credentials alone: descriptors a sender attached do not fit and are
 * never installed here (MSG_CTRUNC, refused).
 */
static int read_reply(int fd, const struct timespec *deadline,
    void *buf, size_t size, size_t *len_r, struct ucred *cred_r,
    const char **why_r)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	int got = 0, bad = 0;

	for (;;) {
		struct iovec iov = { buf, size };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.b, .msg_controllen = sizeof(ctl.b),
		};
		struct cmsghdr *c;
		ssize_t n;
		int r = io_wait_fd(fd, POLLIN, deadline);

		if (r <= 0)
			break;	/* the deadline (or a signal): reaped next */
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			break;
		}
		if (n == 0)
			break;	/* every holder of the other end is gone */
		if (got || bad) {
			*why_r = "more than one reply";
			bad = 1;
			continue;
		}
		if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
		    (size_t)n >= size) {
			*why_r = "reply too long, or with more than "
			    "credentials attached";
			bad = 1;
			continue;
		}
		c = CMSG_FIRSTHDR(&mh);
		if (!c || c->cmsg_level != SOL_SOCKET ||
		    c->cmsg_type != SCM_CREDENTIALS ||
		    c->cmsg_len != CMSG_LEN(sizeof(struct ucred))) {
			*why_r = "reply without the kernel's credentials";
			bad = 1;
			continue;
		}
		memcpy(cred_r, CMSG_DATA(c), sizeof(*cred_r));
		*len_r = (size_t)n;
		got = 1;
	}
	return bad ? -1 : got;
}

/* Runs the program for rq and waits for its verdict.  Returns a
 * passdb_verdict; the account in e_r on PASSDB_OK. */
static int run_check(const struct config *cfg,
    const struct passdb_request *rq, struct pw_entry *e_r,
    const char **why_r)
{
	static char reply[MAX_CHECKPASSWORD_REPLY + 1];
	static struct checkpassword_reply cr;
	char msg[MAX_CHECKPASSWORD_INPUT], stamp[32], what[PATH_MAX + 32];
	char e_remote[64], e_local[64];
	char *envp[8];
	const char *program = cfg->auth_arg, *bad_why = NULL;
	struct timespec deadline;
	struct ucred cred = { 0, (uid_t)-1, (gid_t)-1 };
	int in[2] = { -1, -1 }, rp[2] = { -1, -1 }, ep[2] = { -1, -1 };
	int len, st, got, e = 0, ne = 0, verdict = PASSDB_TEMP;
	size_t rlen = 0;
	pid_t pid;

	snprintf(stamp, sizeof(stamp), "%lld", (long long)time(NULL));
	len = checkpassword_message(msg, sizeof(msg), rq->user, rq->password,
	    stamp);
	if (len < 0) {
		/* Cannot be a password the program would check whole. */
		*why_r = "user name and password too long for checkpassword";
		return PASSDB_FAIL;
	}
	envp[ne++] = (char *)"PATH=" CHECKPASSWORD_PATH;
	envp[ne++] = (char *)"SERVICE=pop3";
	if (cfg->remote_ip) {
		/* ucspi-tcp's names, which checkpassword programs know. */
		envp[ne++] = (char *)"PROTO=TCP";
		envp[ne] = env_entry(e_remote, sizeof(e_remote), "TCPREMOTEIP",
		    cfg->remote_ip);
		ne += envp[ne] != NULL;
		if (cfg->local_ip) {
			envp[ne] = env_entry(e_local, sizeof(e_local),
			    "TCPLOCALIP", cfg->local_ip);
			ne += envp[ne] != NULL;
		}
	}
	envp[ne] = NULL;
	snprintf(what, sizeof(what), "checkpassword program %s", program);

	/* A pipe holds 64 KiB, 4 KiB at the least: the message (512 bytes
	 * at most) goes in whole before anyone reads, and never blocks. */
	if (pipe2(in, O_CLOEXEC) < 0 ||
	    write_full(in[1], msg, (size_t)len) < 0) {
		log_msg(LOG_ERR, "%s: cannot pass the credentials: %s", what,
		    strerror(errno));
		goto out;
	}
	explicit_bzero(msg, sizeof(msg));
	close(in[1]);
	in[1] = -1;
	/* SO_PASSCRED before anything can be sent: every message then
	 * carries its sender's ids. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rp) < 0 ||
	    setsockopt(rp[0], SOL_SOCKET, SO_PASSCRED, &(int){ 1 },
	    sizeof(int)) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		log_msg(LOG_ERR, "%s: %s", what, strerror(errno));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += PASSDB_TIMEOUT;
	pid = fork();
	if (pid < 0) {
		log_msg(LOG_ERR, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		run_program(program, cfg->self_exe, in[0], rp[1], ep[1], envp);
	close(in[0]);
	close(rp[1]);
	close(ep[1]);
	in[0] = rp[1] = ep[1] = -1;

	/* The execve() error, or end of file once it succeeded. */
	if (io_wait_fd(ep[0], POLLIN, &deadline) > 0 &&
	    read(ep[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
		log_msg(LOG_ERR, "cannot run %s: %s", what, strerror(e));
		(void)passdb_reap(pid, &deadline, what);
		goto out;
	}
	got = read_reply(rp[0], &deadline, reply, sizeof(reply), &rlen, &cred,
	    &bad_why);
	st = passdb_reap(pid, &deadline, what);
	if (st == -1)
		goto out;	/* killed at the deadline, logged */
	if (WIFSIGNALED(st)) {
		log_msg(LOG_ERR, "%s was killed by signal %d", what,
		    WTERMSIG(st));
		goto out;
	}
	switch (WEXITSTATUS(st)) {
	case CP_OK:
		break;
	case CP_WRONG:
		*why_r = "refused by the checkpassword program";
		verdict = PASSDB_FAIL;
		goto out;
	case CP_MISUSE:
		log_msg(LOG_ERR, "%s exited 2: misused or misconfigured",
		    what);
		goto out;
	case CP_TEMP:
		log_msg(LOG_ERR, "%s exited 111: a temporary problem", what);
		goto out;
	default:
		log_msg(LOG_ERR, "%s exited with status %d, which the "
		    "checkpassword interface does not define", what,
		    WEXITSTATUS(st));
		goto out;
	}
	if (got == 0) {
		log_msg(LOG_ERR, "%s exited 0 but did not run the reply "
		    "program (%s --checkpassword-reply) with the account's "
		    "ids", what, cfg->self_exe);
		goto out;
	}
	if (got < 0 ||
	    checkpassword_parse_reply(reply, rlen, &cr, &bad_why) < 0) {
		log_msg(LOG_ERR, "%s: %s", what, bad_why);
		goto out;
	}
	if (account_fill(e_r, cr.user, cred.uid, cred.gid, cr.home) < 0) {
		log_msg(LOG_ERR, "%s: account does not fit", what);
		goto out;
	}
	log_msg(LOG_INFO, "checkpassword: user=%s uid=%lu gid=%lu home=%s",
	    cr.user, (unsigned long)cred.uid, (unsigned long)cred.gid,
	    cr.home[0] ? cr.home : "(none)");
	verdict = PASSDB_OK;
out:
	explicit_bzero(msg, sizeof(msg));
	explicit_bzero(reply, sizeof(reply));
	explicit_bzero(&cr, sizeof(cr));
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (rp[i] >= 0)
			close(rp[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	return verdict;
}

static int cp_verify(const struct config *cfg,
    const struct passdb_request *rq, struct pw_entry *e_r, void *work,
    const char **why_r)
{
	char why[512];
	int fd;

	(void)work;
	/* APOP: no password to pass (pop3d.c refuses --apop anyway). */
	if (!rq->password)
		return PASSDB_FAIL;
	/* An invalid name: nothing to ask; auth.c evens out the time. */
	if (!rq->user[0])
		return PASSDB_FAIL;
	if (!cfg->auth_arg || !cfg->self_exe) {
		log_msg(LOG_ERR, "checkpassword: %s unknown",
		    cfg->auth_arg ? "pop3d's own path (the reply program) is" :
		    "no program");
		return PASSDB_TEMP;
	}
	/* In root mode it runs as root: as trusted as the password file.
	 * Checked at every login, as the file could change under a
	 * long-running super-server; the path is then used as checked,
	 * since only root can replace anything on it. */
	fd = trust_open(cfg->auth_arg, why, sizeof(why));
	if (fd < 0) {
		log_msg(LOG_ERR, "checkpassword program refused: %s", why);
		return PASSDB_TEMP;
	}
	close(fd);
	return run_check(cfg, rq, e_r, why_r);
}

static long long cp_even_out(const struct config *cfg,
    const struct passdb_request *rq, void *work, long long verify_ns)
{
	(void)cfg;
	(void)work;
	return passdb_even_out_default(rq, verify_ns, verify_ns, 1);
}

const struct passdb passdb_checkpassword = {
	.name = "checkpassword",
	.verify = cp_verify,
	.even_out = cp_even_out,
	.can_lookup = 0,
	.work_size = 0,
};

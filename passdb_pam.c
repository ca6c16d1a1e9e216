/*
 * passdb_pam.c - the PAM back end (--auth pam[:SERVICE]): the system's
 * own accounts, checked by the stack in /etc/pam.d/SERVICE, and their
 * uid, gid and home from NSS.
 *
 * Runs with the privileges pop3d was started with: root in root mode
 * (the privileged parent of privsep.c; pam_unix reads /etc/shadow
 * itself), the session's own account otherwise.  PAM modules are other
 * people's code that may block on the network (LDAP, RADIUS) or forever,
 * so each check runs in a child process in a process group of its own:
 * the parent waits PASSDB_TIMEOUT seconds for its answer, then kills the
 * whole group.  The child's answer is one fixed-size record over a pipe;
 * the parent checks its length and that every string in it ends inside
 * its field, and believes the rest, because the child is root's own code.
 *
 * The time of a failure is not this file's business: auth.c answers every
 * failure at a deadline, and even_out() adds the work pam_unix did not do
 * for an unknown user.  That is why PAM's own failure delay is replaced
 * by one that does nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "proto.h"

/* getpwnam_r's buffer when sysconf() does not say, and the most we grow
 * it to: an entry is a few hundred bytes, a megabyte is a broken NSS. */
#define PW_BUFFER_DEFAULT 16384L
#define PW_BUFFER_MAX (1024L * 1024)

/* What the child sends: always the whole record. */
struct pam_answer {
	int verdict;			/* PASSDB_OK, _FAIL, _TEMP */
	uid_t uid;
	gid_t gid;
	long long auth_ns;		/* what pam_authenticate() took */
	char why[96];			/* for the log; "" for none */
	char name[MAX_USER_NAME + 1];	/* the account PAM ended with */
	char home[MAX_PASSWD_LINE];
};

/* verify()'s work area (auth.c keeps it until the failure is logged):
 * the reason *why_r points to. */
struct pam_work {
	char why[128];
	long long auth_ns;	/* the child's pam_authenticate() time */
};

/* ----------------------------------------------- the conversation */

int passdb_pam_conv(int num_msg, const struct pam_message **msg,
    struct pam_response **resp, void *appdata_ptr)
{
	struct passdb_pam_conv_data *d = appdata_ptr;
	struct pam_response *r;
	char text[PAM_MAX_MSG_SIZE];
	int i, code = PAM_CONV_ERR;

	*resp = NULL;
	if (num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG || !msg || !d)
		return PAM_CONV_ERR;
	r = calloc((size_t)num_msg, sizeof(*r));
	if (!r)
		return PAM_BUF_ERR;
	for (i = 0; i < num_msg; i++) {
		const struct pam_message *m = msg[i];

		if (!m)
			goto fail;
		switch (m->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			/* The one question a POP3 client answered.  Every
			 * module of a stack may ask it (pam_unix, then
			 * pam_ldap without use_first_pass): each gets the
			 * same password.  An APOP login has none to give. */
			if (!d->password)
				goto fail;
			r[i].resp = strdup(d->password);
			if (!r[i].resp) {
				code = PAM_BUF_ERR;
				goto fail;
			}
			d->asked = 1;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			/* Meant for a person at a terminal; the
			 * administrator may want it ("password will expire
			 * in 3 days"). */
			log_escape(text, sizeof(text), m->msg ? m->msg : "",
			    m->msg ? strnlen(m->msg, PAM_MAX_MSG_SIZE) : 0);
			log_msg(m->msg_style == PAM_ERROR_MSG ? LOG_NOTICE :
			    LOG_INFO, "PAM says: %s", text);
			break;
		default:
			/* PAM_PROMPT_ECHO_ON (a one-time code, a user name
			 * again), PAM_BINARY_PROMPT, anything newer: a
			 * question POP3 has no way to put to the client. */
			d->refused = 1;
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < num_msg; i++) {
		if (r[i].resp) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
	return code;
}

/* ----------------------------------------------- PAM's answers */

int passdb_pam_verdict(int code, int asked)
{
	/*
	 * FAIL is an answer about this login: the password, the user or
	 * the account is not good enough, and asking again will not
	 * change that.  TEMP is "cannot tell": the stack, a module or
	 * what it asks (a directory, the shadow file) is broken or out of
	 * reach, and the client is told to come back ([SYS/TEMP]) rather
	 * than that its password is wrong.  A code this list does not
	 * know is TEMP too: better a logged "try later" than a login
	 * refused, or granted, by a guess.
	 */
	switch (code) {
	case PAM_SUCCESS:
		return PASSDB_OK;
	case PAM_AUTH_ERR:		/* wrong or locked password */
	case PAM_USER_UNKNOWN:
	case PAM_CRED_INSUFFICIENT:
	case PAM_MAXTRIES:
	case PAM_PERM_DENIED:		/* pam_access, pam_nologin, ... */
	case PAM_ACCT_EXPIRED:
	case PAM_NEW_AUTHTOK_REQD:	/* must change it: POP3 cannot */
	case PAM_AUTHTOK_EXPIRED:
		return PASSDB_FAIL;
	case PAM_CONV_ERR:
		/* After the password was taken, a module wanted more (a
		 * second factor) than POP3 can give: this account cannot
		 * log in here.  Before it, the stack never got to the
		 * password: a stack not made for pop3d. */
		return asked ? PASSDB_FAIL : PASSDB_TEMP;
	default:
		/* PAM_AUTHINFO_UNAVAIL (the directory is down),
		 * PAM_SYSTEM_ERR, PAM_BUF_ERR, PAM_ABORT, PAM_SERVICE_ERR,
		 * PAM_OPEN_ERR, PAM_SYMBOL_ERR (a broken stack), ... */
		return PASSDB_TEMP;
	}
}

/* ----------------------------------------------- the child */

/* pam_unix sleeps up to 2 s after a failure (pam_fail_delay): auth.c's
 * deadline already spaces failures out, and a random extra delay would
 * only make failures slower than the deadline says, and unequal. */
static void no_delay(int status, unsigned int usec, void *appdata)
{
	(void)status;
	(void)usec;
	(void)appdata;
}

/* The NSS account of name into a.  Returns PASSDB_OK, _FAIL or _TEMP,
 * with a->why set for the last two. */
static int nss_account(const char *name, struct pam_answer *a)
{
	struct passwd pw, *res = NULL;
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	char *buf = NULL;
	int r, verdict = PASSDB_TEMP;

	if (size <= 0)
		size = PW_BUFFER_DEFAULT;
	for (;;) {
		char *nbuf = realloc(buf, (size_t)size);

		if (!nbuf) {
			snprintf(a->why, sizeof(a->why), "out of memory");
			goto out;
		}
		buf = nbuf;
		r = getpwnam_r(name, &pw, buf, (size_t)size, &res);
		if (r != ERANGE || size >= PW_BUFFER_MAX)
			break;
		size *= 2;
	}
	if (r != 0) {
		snprintf(a->why, sizeof(a->why), "getpwnam_r: %s",
		    strerror(r));
		goto out;
	}
	if (!res) {
		/* PAM said yes to a name NSS has never heard of (a
		 * module's own user list): there is nobody to serve. */
		snprintf(a->why, sizeof(a->why), "PAM accepted an account "
		    "that NSS does not know");
		verdict = PASSDB_FAIL;
		goto out;
	}
	if (!pw.pw_dir || strlen(pw.pw_dir) >= sizeof(a->home) ||
	    strlen(name) + strlen(pw.pw_dir) + 2 > MAX_PASSWD_LINE) {
		snprintf(a->why, sizeof(a->why), "home directory too long");
		verdict = PASSDB_FAIL;
		goto out;
	}
	memcpy(a->home, pw.pw_dir, strlen(pw.pw_dir) + 1);
	a->uid = pw.pw_uid;
	a->gid = pw.pw_gid;
	verdict = PASSDB_OK;
out:
	free(buf);
	return verdict;
}

/* Sets a->why from a PAM failure at stage ("auth", "account"). */
static void pam_why(struct pam_answer *a, pam_handle_t *h, const char *stage,
    int code, const struct passdb_pam_conv_data *d)
{
	const char *text;

	switch (code) {
	case PAM_ACCT_EXPIRED:
		text = "account expired";
		break;
	case PAM_NEW_AUTHTOK_REQD:
	case PAM_AUTHTOK_EXPIRED:
		text = "password expired, a new one is required";
		break;
	case PAM_CONV_ERR:
		text = d->refused ? "the PAM stack asked a question other "
		    "than the password" : "the PAM stack asked for a "
		    "password that this login does not have";
		break;
	default:
		text = pam_strerror(h, code);
		break;
	}
	/* Debian's common-account turns pam_unix's own answer (expired,
	 * for one) into pam_deny's "Authentication failure"; the module
	 * logged the real reason to the auth log, so say where it is. */
	snprintf(a->why, sizeof(a->why), "%s: %s%s", stage, text ? text : "?",
	    code == PAM_AUTH_ERR && !strcmp(stage, "account") ?
	    " (the account stack refused it; the auth log says why)" : "");
}

/* The whole PAM transaction for rq, as decided in a. */
static void pam_check(const char *service, const struct passdb_request *rq,
    struct pam_answer *a)
{
	struct passdb_pam_conv_data d = { .password = rq->password };
	struct pam_conv conv = { passdb_pam_conv, &d };
	const void *item = NULL;
	pam_handle_t *h = NULL;
	int code;

	a->verdict = PASSDB_TEMP;
	/* An invalid name arrives as "", which no account has: PAM runs
	 * the same stack for it as for an unknown user. */
	code = pam_start(service, rq->user, &conv, &h);
	if (code != PAM_SUCCESS) {
		snprintf(a->why, sizeof(a->why), "pam_start: %s",
		    pam_strerror(h, code));
		return;
	}
	/* PAM_TTY too: pam_access and others refuse a login without one,
	 * and "pop3d" lets an access rule name the service. */
	if ((rq->remote_ip &&
	    (code = pam_set_item(h, PAM_RHOST, rq->remote_ip)) != PAM_SUCCESS) ||
	    (code = pam_set_item(h, PAM_RUSER, rq->user)) != PAM_SUCCESS ||
	    (code = pam_set_item(h, PAM_TTY, "pop3d")) != PAM_SUCCESS ||
	    (code = pam_set_item(h, PAM_FAIL_DELAY,
	    (const void *)no_delay)) != PAM_SUCCESS) {
		pam_why(a, h, "pam_set_item", code, &d);
		goto out;
	}
	/* APOP: auth.c checked the digest; only the account is asked,
	 * so that a locked or expired one is refused here too. */
	if (rq->password) {
		long long t = auth_now_ns();

		code = pam_authenticate(h, PAM_SILENT |
		    PAM_DISALLOW_NULL_AUTHTOK);
		a->auth_ns = auth_now_ns() - t;
		if (code != PAM_SUCCESS) {
			a->verdict = passdb_pam_verdict(code, d.asked);
			pam_why(a, h, "auth", code, &d);
			goto out;
		}
	}
	code = pam_acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (code != PAM_SUCCESS) {
		a->verdict = passdb_pam_verdict(code, d.asked);
		pam_why(a, h, "account", code, &d);
		goto out;
	}
	/* A module may have mapped the name (pam_ldap, pam_sss): the
	 * account to serve is the one PAM ended with. */
	code = pam_get_item(h, PAM_USER, &item);
	if (code != PAM_SUCCESS || !item) {
		pam_why(a, h, "pam_get_item", code, &d);
		goto out;
	}
	if (!auth_valid_username(item)) {
		a->verdict = PASSDB_FAIL;
		snprintf(a->why, sizeof(a->why), "PAM ended with an unusable "
		    "user name");
		goto out;
	}
	memcpy(a->name, item, strlen(item) + 1);
	a->verdict = nss_account(a->name, a);
	if (a->verdict == PASSDB_OK && !rq->user[0]) {
		/* Cannot happen with any real stack; never serve it. */
		a->verdict = PASSDB_FAIL;
		snprintf(a->why, sizeof(a->why), "invalid user name");
	}
out:
	/* Linux-PAM wipes and frees the conversation's responses itself
	 * (_pam_drop_reply); what it keeps (PAM_AUTHTOK) pam_end wipes. */
	pam_end(h, code);
}

/* Runs in the child: never returns. */
static void child_main(const char *service, const struct passdb_request *rq,
    int wfd, char *password)
{
	struct pam_answer *a = calloc(1, sizeof(*a));
	struct passdb_request crq = *rq;
	static const int sigs[] = { SIGTERM, SIGHUP, SIGINT };
	int null_fd, st = 1;

	/* Its own process group, so that the parent's kill at the
	 * deadline reaches whatever a module started (pam_exec). */
	if (setsid() < 0)
		_exit(1);
	/* pop3d's handlers only note a signal; this child should die. */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		(void)signal(sigs[i], SIG_DFL);
	/* Under a super-server 0 and 1 are the client's connection: no
	 * module and no program it starts may read or write it.  Nor may
	 * such a program keep any other descriptor of ours open; the
	 * modules themselves, in this process, keep them usable (syslog's
	 * socket). */
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0)
		_exit(1);
	(void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (a) {
		crq.password = password;
		pam_check(service, &crq, a);
		st = write_full(wfd, a, sizeof(*a)) < 0;
		explicit_bzero(a, sizeof(*a));
	}
	if (password)
		explicit_bzero(password, strlen(password));
	_exit(st);
}

/* Reads the child's answer until the deadline.  Returns 0 with a whole
 * record in a, or -1 (nothing usable: timed out, closed, short). */
static int read_answer(int fd, struct pam_answer *a,
    const struct timespec *deadline)
{
	unsigned char *p = (unsigned char *)a;
	size_t got = 0;

	while (got < sizeof(*a)) {
		ssize_t n;
		int r = io_wait_fd(fd, POLLIN, deadline);

		if (r <= 0)
			return -1;
		n = read(fd, p + got, sizeof(*a) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	/* Every string must end inside its own field. */
	if (!memchr(a->why, '\0', sizeof(a->why)) ||
	    !memchr(a->name, '\0', sizeof(a->name)) ||
	    !memchr(a->home, '\0', sizeof(a->home)))
		return -1;
	if (a->verdict != PASSDB_OK && a->verdict != PASSDB_FAIL &&
	    a->verdict != PASSDB_TEMP)
		return -1;
	return 0;
}

static int pam_verify(const struct config *cfg,
    const struct passdb_request *rq, struct pw_entry *e_r, void *work,
    const char **why_r)
{
	const char *service = cfg->auth_arg ? cfg->auth_arg :
	    DEFAULT_PAM_SERVICE;
	struct pam_work *w = work;
	struct pam_answer *a;
	struct timespec deadline;
	char *password = NULL, what[96];
	int pfd[2], st, ok, verdict = PASSDB_TEMP;
	pid_t pid;

	a = calloc(1, sizeof(*a));
	if (!a) {
		log_msg(LOG_ERR, "out of memory");
		return PASSDB_TEMP;
	}
	/* The child's own copy, which it wipes: the caller's stays the
	 * caller's to wipe. */
	if (rq->password && !(password = strdup(rq->password))) {
		log_msg(LOG_ERR, "out of memory");
		free(a);
		return PASSDB_TEMP;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		log_msg(LOG_ERR, "pipe: %s", strerror(errno));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += PASSDB_TIMEOUT;
	pid = fork();
	if (pid < 0) {
		log_msg(LOG_ERR, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		goto out;
	}
	if (pid == 0) {
		close(pfd[0]);
		child_main(service, rq, pfd[1], password);
	}
	close(pfd[1]);
	ok = read_answer(pfd[0], a, &deadline) == 0;
	close(pfd[0]);
	snprintf(what, sizeof(what), "PAM check (service %s)", service);
	st = passdb_reap(pid, &deadline, what);
	if (st == -1)
		goto out;	/* killed at the deadline, logged */
	if (!ok || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (WIFSIGNALED(st))
			log_msg(LOG_ERR, "%s killed by signal %d", what,
			    WTERMSIG(st));
		else
			log_msg(LOG_ERR, "%s ended without an answer", what);
		goto out;
	}
	verdict = a->verdict;
	w->auth_ns = a->auth_ns;
	snprintf(w->why, sizeof(w->why), "%s", a->why);
	if (verdict == PASSDB_TEMP) {
		log_msg(LOG_ERR, "%s cannot tell: %s", what, a->why);
	} else if (verdict == PASSDB_FAIL) {
		*why_r = w->why[0] ? w->why : NULL;
	} else if (account_fill(e_r, a->name, a->uid, a->gid, a->home) < 0) {
		/* nss_account() measured it: not from our child. */
		log_msg(LOG_ERR, "%s: account record too long", what);
		verdict = PASSDB_TEMP;
	}
out:
	if (password) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	explicit_bzero(a, sizeof(*a));
	free(a);
	return verdict;
}

static long long pam_even_out(const struct config *cfg,
    const struct passdb_request *rq, void *work, long long verify_ns)
{
	const struct pam_work *w = work;

	(void)cfg;
	/*
	 * What depends on the user is pam_authenticate(): pam_unix hashes
	 * for an account and not for an unknown name.  The fork, pam_start
	 * and the account stage cost the same for both, so only that part
	 * is evened out; evening out the whole (the longer of all of it and
	 * one hash) would leave a wrong password one fork-and-stack slower.
	 * And pam_unix hashes a wrong password twice (PAM_UNIX_WRONG_HASHES).
	 */
	return passdb_even_out_default(rq, verify_ns, w->auth_ns,
	    PAM_UNIX_WRONG_HASHES);
}

const struct passdb passdb_pam = {
	.name = "pam",
	.verify = pam_verify,
	.even_out = pam_even_out,
	.can_lookup = 1,
	.work_size = sizeof(struct pam_work),
};

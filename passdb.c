/*
 * passdb.c - the authentication interface's shared parts: choosing the
 * back end (--auth), the account record a back end fills, and what the
 * back ends that run other code (PAM, checkpassword) need alike: work
 * that evens out a failure's time, and a bounded wait for a child.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

int passdb_parse(struct config *cfg, const char *value, const char **why_r)
{
	if (!strcmp(value, "file")) {
		cfg->passdb = &passdb_file;
		cfg->auth_arg = NULL;
		return 0;
	}
	if (!strcmp(value, "pam") || !strncmp(value, "pam:", 4)) {
		const char *service = value[3] ? value + 4 : DEFAULT_PAM_SERVICE;

		/* A service name is a file name in /etc/pam.d. */
		if (!*service || strchr(service, '/') || service[0] == '.' ||
		    strlen(service) > 64) {
			*why_r = "the PAM service must be a name in /etc/pam.d";
			return -1;
		}
		cfg->passdb = &passdb_pam;
		cfg->auth_arg = service;
		return 0;
	}
	if (!strncmp(value, "checkpassword:", 14)) {
		if (value[14] != '/') {
			*why_r = "checkpassword needs the program's absolute path";
			return -1;
		}
		cfg->passdb = &passdb_checkpassword;
		cfg->auth_arg = value + 14;
		return 0;
	}
	*why_r = "--auth takes file, pam, pam:SERVICE or "
	    "checkpassword:PROGRAM";
	return -1;
}

int account_fill(struct pw_entry *e_r, const char *name, uid_t uid,
    gid_t gid, const char *home)
{
	size_t nlen = strlen(name), hlen = home ? strlen(home) : 0;

	memset(e_r, 0, sizeof(*e_r));
	if (nlen + 1 + hlen + 1 > sizeof(e_r->line))
		return -1;
	memcpy(e_r->line, name, nlen + 1);
	if (hlen)
		memcpy(e_r->line + nlen + 1, home, hlen + 1);
	e_r->name = e_r->line;
	e_r->home = e_r->line + nlen + 1;	/* "" when none */
	e_r->hash = "";
	e_r->mail = NULL;
	e_r->uid = uid;
	e_r->gid = gid;
	e_r->has_ids = 1;
	return 0;
}

long long passdb_even_out_default(const struct passdb_request *rq,
    long long verify_ns)
{
	long long t = auth_now_ns();

	(void)auth_check_hash(auth_dummy_hash,
	    rq->password ? rq->password : "");
	t = auth_now_ns() - t;
	return t > verify_ns ? t : verify_ns;
}

/* Has the CLOCK_MONOTONIC deadline passed? */
static int passed(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec || (now.tv_sec ==
	    deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

int passdb_reap(pid_t pid, const struct timespec *deadline,
    const char *what)
{
	struct timespec nap = { 0, REAP_FIRST_NAP_NS };
	pid_t r;
	int st;

	/* waitpid(2) has no timeout: WNOHANG, with naps that start short
	 * (a check takes milliseconds) and grow. */
	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR) {
			log_msg(LOG_ERR, "waitpid: %s", strerror(errno));
			return -1;
		}
		if (passed(deadline))
			break;
		(void)nanosleep(&nap, NULL);
		if (nap.tv_nsec < REAP_MAX_NAP_NS)
			nap.tv_nsec *= 2;
	}
	log_msg(LOG_ERR, "%s did not finish within %d seconds; killed", what,
	    PASSDB_TIMEOUT);
	/* The child made itself a process group: whatever it started goes
	 * too.  Root may signal it whatever ids it took. */
	(void)kill(-pid, SIGKILL);
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return -1;
}

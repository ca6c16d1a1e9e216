/*
 * passdb.c - the authentication interface's shared parts: choosing the
 * back end (--auth), the account record a back end fills, and what the
 * back ends that run other code (PAM, checkpassword) need alike: work
 * that evens out a failure's time, and a bounded wait for a child.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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
    long long verify_ns, long long varying_ns, int hashes)
{
	long long t = auth_now_ns();

	for (int i = 0; i < hashes; i++)
		(void)auth_check_hash(auth_dummy_hash,
		    rq->password ? rq->password : "");
	t = auth_now_ns() - t;
	/* The child's clock may have measured a little more than ours. */
	if (varying_ns < 0 || varying_ns > verify_ns)
		varying_ns = verify_ns;
	return verify_ns - varying_ns + (t > varying_ns ? t : varying_ns);
}

/* Has the CLOCK_MONOTONIC deadline passed? */
static int passed(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec || (now.tv_sec ==
	    deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* Adds the children of pid to tree[*n..], each stopped first. */
static void stop_children(pid_t pid, pid_t *tree, size_t *n)
{
	char path[64];
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	dir = opendir(path);
	if (!dir)
		return;
	/* Single-threaded; readdir_r() is deprecated in glibc. */
	/* cppcheck-suppress readdirCalled */
	while ((de = readdir(dir)) != NULL) {
		char file[96], *word = NULL, *end;
		size_t size = 0;
		long child;
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(file, sizeof(file), "%s/%.16s/children", path,
		    de->d_name);
		f = fopen(file, "re");
		if (!f)
			continue;
		/* "PID PID ... ": one word at a time. */
		while (*n < REAP_MAX_PROCS &&
		    getdelim(&word, &size, ' ', f) > 0) {
			errno = 0;
			child = strtol(word, &end, 10);
			if (errno || end == word || child <= 1)
				continue;
			(void)kill((pid_t)child, SIGSTOP);
			tree[(*n)++] = (pid_t)child;
		}
		free(word);
		fclose(f);
	}
	closedir(dir);
}

/*
 * Kills pid and what it started, wherever that went: pam_exec runs its
 * program in a session of its own (setsid), out of reach of a kill of
 * pid's process group.  The kernel lists a process's children
 * (/proc/PID/task/TID/children); each process is stopped before its list
 * is read, so that it can neither reap a child (whose pid could then be
 * reused) nor start another behind our back.  Then all are killed, the
 * last found first, each with its process group.  Beyond REAP_MAX_PROCS
 * the process group kill is all there is.
 */
static void kill_tree(pid_t pid)
{
	pid_t tree[REAP_MAX_PROCS];
	size_t n = 1, i;

	tree[0] = pid;
	(void)kill(pid, SIGSTOP);
	for (i = 0; i < n && n < REAP_MAX_PROCS; i++)
		stop_children(tree[i], tree, &n);
	while (n-- > 0) {
		(void)kill(-tree[n], SIGKILL);
		(void)kill(tree[n], SIGKILL);
	}
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
	 * too, and what left the group (kill_tree).  Root may signal it
	 * whatever ids it took. */
	kill_tree(pid);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return -1;
}

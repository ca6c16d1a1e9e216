/*
 * tests/seccomp-exec.c - runs a program under the seccomp filters a
 * systemd service's sandboxing directives stand for, so that
 * tests/e2e/units.sh can run pop3d as pop3d@.service would without
 * systemd as PID 1.  It only loads filters and execs; the capability
 * bounding set and no_new_privs come from setpriv(1) before it.
 *
 *   seccomp-exec [-a FILE] [-e ERRNO] [-f FAMILY,...] [-w] [-n] [-r]
 *                [-l] [-s] -- PROGRAM ARG...
 *
 *   -a FILE    SystemCallFilter= (an allow list): the system calls named
 *              in FILE, one a line, run; every other one fails with the
 *              errno of -e (SystemCallErrorNumber=, default EPERM).  Names
 *              this libseccomp does not know are skipped, as systemd
 *              skips them.  Calls of another architecture kill the process
 *              (SystemCallArchitectures=native).
 *   -f LIST    RestrictAddressFamilies=: socket(2) of any other family
 *              fails with EAFNOSUPPORT.
 *   -w         MemoryDenyWriteExecute=yes: no mapping both writable and
 *              executable, no mprotect(2) to executable, no SHM_EXEC.
 *   -n         RestrictNamespaces=yes: no unshare(2), setns(2), nor
 *              clone(2) with a CLONE_NEW* flag; clone3(2) says ENOSYS, so
 *              the C library falls back to clone(2).
 *   -r         RestrictRealtime=yes: no real-time scheduling policy.
 *   -l         LockPersonality=yes: personality(2) may name only the
 *              current personality.
 *   -s         RestrictSUIDSGID=yes: no set-user/group-ID bit set by
 *              chmod(2) and friends or given to a new file.
 *
 * Each directive is a filter of its own, loaded one after the other as
 * systemd does; the kernel runs them all and the strictest answer wins.
 * Exit status 127 when a filter cannot be built or loaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif
#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif

static void die(const char *what, int err)
{
	fprintf(stderr, "seccomp-exec: %s: %s\n", what, strerror(err));
	exit(127);
}

/* A filter whose calls run unless a rule says otherwise. */
static scmp_filter_ctx permissive(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	if (!ctx)
		die("seccomp_init", ENOMEM);
	return ctx;
}

static void load(scmp_filter_ctx ctx, const char *what)
{
	int r = seccomp_load(ctx);

	if (r < 0)
		die(what, -r);
	seccomp_release(ctx);
}

/* Adds a rule; a call this kernel's architecture lacks is no error. */
static void rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
    unsigned int n, const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name), r;

	if (nr == __NR_SCMP_ERROR)
		return;
	r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	if (r < 0 && r != -EOPNOTSUPP) {
		fprintf(stderr, "seccomp-exec: rule for %s: %s\n", name,
		    strerror(-r));
		exit(127);
	}
}

/* SystemCallFilter=: the calls named in file, the rest fail with err. */
static void allow_list(const char *file, int err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO((uint32_t)err));
	char line[128];
	FILE *f = fopen(file, "r");
	int n = 0;

	if (!ctx)
		die("seccomp_init", ENOMEM);
	if (!f)
		die(file, errno);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, " \t\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		rule(ctx, SCMP_ACT_ALLOW, line, 0, NULL);
		n++;
	}
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "seccomp-exec: %s names no system call\n",
		    file);
		exit(127);
	}
	load(ctx, "system call filter");
}

static const struct { const char *name; int af; } families[] = {
	{ "AF_UNIX", AF_UNIX }, { "AF_LOCAL", AF_LOCAL },
	{ "AF_INET", AF_INET }, { "AF_INET6", AF_INET6 },
	{ "AF_NETLINK", AF_NETLINK }, { "AF_PACKET", AF_PACKET },
};

/* RestrictAddressFamilies=: list is a comma-separated allow list. */
static void address_families(const char *list)
{
	unsigned char allowed[AF_MAX] = { 0 };
	scmp_filter_ctx ctx = permissive();
	char *copy = strdup(list), *tok, *save = NULL;
	const uint32_t refuse = SCMP_ACT_ERRNO(EAFNOSUPPORT);

	if (!copy)
		die("strdup", ENOMEM);
	for (tok = strtok_r(copy, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < sizeof(families) / sizeof(families[0]); i++)
			if (!strcmp(tok, families[i].name))
				break;
		if (i == sizeof(families) / sizeof(families[0])) {
			fprintf(stderr, "seccomp-exec: unknown address family "
			    "%s\n", tok);
			exit(127);
		}
		allowed[families[i].af] = 1;
	}
	free(copy);
	for (int af = 0; af < AF_MAX; af++) {
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)af);

		if (!allowed[af])
			rule(ctx, refuse, "socket", 1, &c);
	}
	{
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_GE, AF_MAX);

		rule(ctx, refuse, "socket", 1, &c);
	}
	load(ctx, "address family filter");
}

/* MemoryDenyWriteExecute=yes. */
static void deny_write_execute(void)
{
	scmp_filter_ctx ctx = permissive();
	const uint32_t no = SCMP_ACT_ERRNO(EPERM);
	struct scmp_arg_cmp wx = SCMP_A2(SCMP_CMP_MASKED_EQ,
	    PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC);
	struct scmp_arg_cmp x = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC,
	    PROT_EXEC);
	struct scmp_arg_cmp shm = SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_EXEC,
	    SHM_EXEC);

	rule(ctx, no, "mmap", 1, &wx);
	rule(ctx, no, "mmap2", 1, &wx);
	rule(ctx, no, "mprotect", 1, &x);
	rule(ctx, no, "pkey_mprotect", 1, &x);
	rule(ctx, no, "shmat", 1, &shm);
	load(ctx, "write-execute filter");
}

/* RestrictNamespaces=yes. */
static void no_namespaces(void)
{
	scmp_filter_ctx ctx = permissive();
	const uint32_t no = SCMP_ACT_ERRNO(EPERM);
	static const scmp_datum_t each[] = {
		CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
		CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWTIME
	};

	rule(ctx, no, "unshare", 0, NULL);
	rule(ctx, no, "setns", 0, NULL);
	/* clone3's flags are behind a pointer, out of a filter's reach. */
	rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
	for (size_t i = 0; i < sizeof(each) / sizeof(each[0]); i++) {
		/* x86-64 and most others: the flags are clone's first
		 * argument (s390 has them second: not supported here). */
		struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, each[i],
		    each[i]);

		rule(ctx, no, "clone", 1, &c);
	}
	load(ctx, "namespace filter");
}

/* RestrictRealtime=yes. */
static void no_realtime(void)
{
	scmp_filter_ctx ctx = permissive();
	static const scmp_datum_t rt[] = {
		SCHED_FIFO, SCHED_RR, SCHED_DEADLINE
	};
	const scmp_datum_t mask = 0xffffffffu & ~(scmp_datum_t)
	    SCHED_RESET_ON_FORK;

	for (size_t i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
		struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_MASKED_EQ, mask,
		    rt[i]);

		rule(ctx, SCMP_ACT_ERRNO(EPERM), "sched_setscheduler", 1, &c);
	}
	/* sched_setattr's policy is behind a pointer: refused outright. */
	rule(ctx, SCMP_ACT_ERRNO(EPERM), "sched_setattr", 0, NULL);
	load(ctx, "real-time filter");
}

/* LockPersonality=yes. */
static void lock_personality(void)
{
	scmp_filter_ctx ctx = permissive();
	int cur = personality(0xffffffff);
	struct scmp_arg_cmp c;

	if (cur < 0)
		die("personality", errno);
	c = (struct scmp_arg_cmp)SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)cur);
	rule(ctx, SCMP_ACT_ERRNO(EPERM), "personality", 1, &c);
	load(ctx, "personality filter");
}

/* RestrictSUIDSGID=yes: one rule per bit and per call shape. */
static void no_set_id_files(void)
{
	scmp_filter_ctx ctx = permissive();
	const uint32_t no = SCMP_ACT_ERRNO(EPERM);
	static const scmp_datum_t bits[] = { S_ISUID, S_ISGID };

	for (size_t i = 0; i < 2; i++) {
		const scmp_datum_t b = bits[i];
		struct scmp_arg_cmp m1 = SCMP_A1(SCMP_CMP_MASKED_EQ, b, b);
		struct scmp_arg_cmp m2 = SCMP_A2(SCMP_CMP_MASKED_EQ, b, b);
		struct scmp_arg_cmp creat1[2] = {
			SCMP_A1(SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT),
			SCMP_A2(SCMP_CMP_MASKED_EQ, b, b)
		};
		struct scmp_arg_cmp creat2[2] = {
			SCMP_A2(SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT),
			SCMP_A3(SCMP_CMP_MASKED_EQ, b, b)
		};

		rule(ctx, no, "chmod", 1, &m1);
		rule(ctx, no, "fchmod", 1, &m1);
		rule(ctx, no, "fchmodat", 1, &m2);
		rule(ctx, no, "creat", 1, &m1);
		rule(ctx, no, "mkdir", 1, &m1);
		rule(ctx, no, "mkdirat", 1, &m2);
		rule(ctx, no, "mknod", 1, &m1);
		rule(ctx, no, "mknodat", 1, &m2);
		rule(ctx, no, "open", 2, creat1);
		rule(ctx, no, "openat", 2, creat2);
		creat1[0] = (struct scmp_arg_cmp)SCMP_A1(SCMP_CMP_MASKED_EQ,
		    O_TMPFILE, O_TMPFILE);
		creat2[0] = (struct scmp_arg_cmp)SCMP_A2(SCMP_CMP_MASKED_EQ,
		    O_TMPFILE, O_TMPFILE);
		rule(ctx, no, "open", 2, creat1);
		rule(ctx, no, "openat", 2, creat2);
	}
	/* openat2's mode is behind a pointer. */
	rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "openat2", 0, NULL);
	load(ctx, "set-id file filter");
}

int main(int argc, char **argv)
{
	const char *calls = NULL, *fams = NULL;
	int err = EPERM, wx = 0, ns = 0, rt = 0, pers = 0, sid = 0, c;

	while ((c = getopt(argc, argv, "+a:e:f:wnrls")) != -1) {
		switch (c) {
		case 'a': calls = optarg; break;
		case 'e': err = atoi(optarg); break;
		case 'f': fams = optarg; break;
		case 'w': wx = 1; break;
		case 'n': ns = 1; break;
		case 'r': rt = 1; break;
		case 'l': pers = 1; break;
		case 's': sid = 1; break;
		default:
			fprintf(stderr, "usage: seccomp-exec [-a FILE] [-e ERRNO]"
			    " [-f FAMILIES] [-wnrls] -- PROGRAM ARG...\n");
			return 127;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "seccomp-exec: no program\n");
		return 127;
	}
	if (err <= 0 || err > 4095) {
		fprintf(stderr, "seccomp-exec: bad errno %d\n", err);
		return 127;
	}
	/* The most specific filters first: the allow list, which would
	 * refuse the calls the others need (personality(2) to query), last. */
	if (pers)
		lock_personality();
	if (fams)
		address_families(fams);
	if (wx)
		deny_write_execute();
	if (ns)
		no_namespaces();
	if (rt)
		no_realtime();
	if (sid)
		no_set_id_files();
	if (calls)
		allow_list(calls, err);
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "seccomp-exec: %s: %s\n", argv[optind],
	    strerror(errno));
	return 127;
}

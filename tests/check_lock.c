/*
 * check_lock.c - the stale dot-lock rules (dotlock_stale() in lock.c),
 * each both ways and at its boundary: too old or dated too far in the
 * future; empty or NUL-only and no longer fresh; made before the last
 * boot; naming a dead process; and what is never stale (anything but a
 * small regular file, a fresh lock of a live process, pids and boot times
 * over NFS).  Then the host name in the lock (several front ends on one
 * spool): a lock naming another host is judged by age alone, even on a
 * local file system, one naming ours and one naming none as before; the
 * strict reading of the content (dotlock_holder()), what we write
 * (dotlock_format(), dotlock_clean_host(), dotlock_hostname()).  Also
 * path_dir(), which names the directory the lock and its removal's fsync
 * live in.
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "unit.h"

/* A fixed "now", and a boot an hour before it. */
#define NOW ((time_t)1700000000)
#define BOOT (NOW - 3600)
#define LOCAL 1
#define NFS 0
/* The host the tests run on, and another front end on the same spool. */
#define OURS "front-a"
#define OTHER "front-b"

/* The lstat of a regular lock file of len bytes, last written at mtime. */
static struct stat lock_stat(time_t mtime, size_t len)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0644;
	st.st_size = (off_t)len;
	st.st_mtime = mtime;
	st.st_nlink = 1;
	return st;
}

/* The verdict on a lock holding text, written at mtime. */
static int verdict(const char *text, time_t mtime, time_t boot, int local)
{
	struct stat st = lock_stat(mtime, strlen(text));

	return dotlock_stale(&st, text, strlen(text), NOW, boot, local, OURS);
}

/* Our own pid as a lock holds it: a process that is certainly alive. */
static const char *live_pid(void)
{
	static char text[32];

	snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	return text;
}

/* The pid of a child that has exited and been reaped. */
static const char *dead_pid(void)
{
	static char text[32];
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	snprintf(text, sizeof(text), "%ld\n", (long)pid);
	return text;
}

/* ------------------------------------------------------- honoured */

START_TEST(fresh_lock_of_live_process_is_honoured)
{
	ck_assert_int_eq(verdict(live_pid(), NOW, BOOT, LOCAL),
	    DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict(live_pid(), NOW, BOOT, NFS), DOTLOCK_HONOUR);
}
END_TEST

START_TEST(not_a_regular_file_is_never_stale)
{
	struct stat st = lock_stat(NOW - 100000, 0);

	st.st_mode = S_IFDIR | 0755;
	ck_assert_int_eq(dotlock_stale(&st, "", 0, NOW, BOOT, LOCAL, OURS),
	    DOTLOCK_HONOUR);
	st.st_mode = S_IFLNK | 0777;
	ck_assert_int_eq(dotlock_stale(&st, "", 0, NOW, BOOT, LOCAL, OURS),
	    DOTLOCK_HONOUR);
	st.st_mode = S_IFIFO | 0644;
	ck_assert_int_eq(dotlock_stale(&st, "", 0, NOW, BOOT, LOCAL, OURS),
	    DOTLOCK_HONOUR);
}
END_TEST

START_TEST(large_file_is_never_stale)
{
	struct stat st = lock_stat(NOW - 100000, DOTLOCK_MAX_SIZE);

	ck_assert_int_eq(dotlock_stale(&st, "", 0, NOW, BOOT, LOCAL, OURS),
	    DOTLOCK_HONOUR);
	st.st_size = DOTLOCK_MAX_SIZE - 1;
	ck_assert_int_eq(dotlock_stale(&st, "", 0, NOW, BOOT, LOCAL, OURS),
	    DOTLOCK_OLD);
}
END_TEST

/* ---------------------------------------------------- (d) its age */

START_TEST(old_lock_is_stale_at_the_boundary)
{
	ck_assert_int_eq(verdict(live_pid(), NOW - DOTLOCK_STALE_SECONDS,
	    BOOT, LOCAL), DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict(live_pid(), NOW - DOTLOCK_STALE_SECONDS - 1,
	    BOOT, LOCAL), DOTLOCK_OLD);
}
END_TEST

START_TEST(old_lock_is_stale_over_nfs)
{
	ck_assert_int_eq(verdict(live_pid(), NOW - DOTLOCK_STALE_SECONDS,
	    0, NFS), DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict(live_pid(), NOW - DOTLOCK_STALE_SECONDS - 1,
	    0, NFS), DOTLOCK_OLD);
}
END_TEST

/* ------------------------------------------- (e) dated in the future */

START_TEST(far_future_lock_is_stale)
{
	/* A date far ahead is judged by its distance, so no clock error
	 * holds a maildrop for ever. */
	ck_assert_int_eq(verdict(live_pid(), NOW + DOTLOCK_STALE_SECONDS,
	    BOOT, LOCAL), DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict(live_pid(), NOW + DOTLOCK_STALE_SECONDS + 1,
	    BOOT, LOCAL), DOTLOCK_OLD);
	ck_assert_int_eq(verdict(live_pid(), NOW + DOTLOCK_STALE_SECONDS + 1,
	    0, NFS), DOTLOCK_OLD);
}
END_TEST

START_TEST(future_lock_is_judged_by_the_other_rules)
{
	/* Not trusted to be fresh, but a live holder still counts... */
	ck_assert_int_eq(verdict(live_pid(), NOW + 200, BOOT, LOCAL),
	    DOTLOCK_HONOUR);
	/* ...and a dead one does not. */
	ck_assert_int_eq(verdict(dead_pid(), NOW + 200, BOOT, LOCAL),
	    DOTLOCK_DEAD);
}
END_TEST

START_TEST(extreme_dates_do_not_overflow)
{
	ck_assert_int_eq(verdict(live_pid(), (time_t)INT64_MAX, BOOT, LOCAL),
	    DOTLOCK_OLD);
	ck_assert_int_eq(verdict(live_pid(), (time_t)INT64_MIN, BOOT, LOCAL),
	    DOTLOCK_OLD);
	ck_assert_int_eq(verdict("", (time_t)INT64_MAX, 0, NFS), DOTLOCK_OLD);
}
END_TEST

/* ------------------------------------------------ (c) no pid in it */

START_TEST(empty_lock_is_stale_after_grace)
{
	ck_assert_int_eq(verdict("", NOW - DOTLOCK_EMPTY_SECONDS, BOOT, LOCAL),
	    DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict("", NOW - DOTLOCK_EMPTY_SECONDS - 1, BOOT,
	    LOCAL), DOTLOCK_EMPTY);
	/* The same over NFS: the rule needs no pid and no boot time. */
	ck_assert_int_eq(verdict("", NOW - DOTLOCK_EMPTY_SECONDS, 0, NFS),
	    DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict("", NOW - DOTLOCK_EMPTY_SECONDS - 1, 0, NFS),
	    DOTLOCK_EMPTY);
}
END_TEST

START_TEST(nul_only_lock_is_empty)
{
	static const char zeros[8];
	struct stat st = lock_stat(NOW - DOTLOCK_EMPTY_SECONDS - 1,
	    sizeof(zeros));

	ck_assert_int_eq(dotlock_stale(&st, zeros, sizeof(zeros), NOW, 0, NFS,
	    OURS),
	    DOTLOCK_EMPTY);
	st.st_mtime = NOW - DOTLOCK_EMPTY_SECONDS;
	ck_assert_int_eq(dotlock_stale(&st, zeros, sizeof(zeros), NOW, 0, NFS,
	    OURS),
	    DOTLOCK_HONOUR);
}
END_TEST

START_TEST(lock_with_content_is_not_empty)
{
	/* A pid after zeros, or any other byte, is content. */
	static const char torn[] = { '\0', '\0', '1', '2', '\n' };
	struct stat st = lock_stat(NOW - 60, sizeof(torn));

	ck_assert_int_eq(dotlock_stale(&st, torn, sizeof(torn), NOW, 0, NFS,
	    OURS), DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict("x", NOW - 60, 0, NFS), DOTLOCK_HONOUR);
}
END_TEST

START_TEST(future_empty_lock_is_not_fresh)
{
	ck_assert_int_eq(verdict("", NOW + DOTLOCK_FUTURE_SECONDS, BOOT,
	    LOCAL), DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict("", NOW + DOTLOCK_FUTURE_SECONDS + 1, BOOT,
	    LOCAL), DOTLOCK_EMPTY);
}
END_TEST

/* --------------------------------------- (a) from before the last boot */

START_TEST(lock_before_boot_is_stale)
{
	time_t boot = NOW - 100;	/* a recent boot */

	ck_assert_int_eq(verdict(live_pid(), boot - DOTLOCK_BOOT_SLACK, boot,
	    LOCAL), DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict(live_pid(), boot - DOTLOCK_BOOT_SLACK - 1,
	    boot, LOCAL), DOTLOCK_BEFORE_BOOT);
	ck_assert_int_eq(verdict(live_pid(), boot + 1, boot, LOCAL),
	    DOTLOCK_HONOUR);
}
END_TEST

START_TEST(boot_rule_only_on_local_fs)
{
	time_t boot = NOW - 100;

	ck_assert_int_eq(verdict(live_pid(), boot - 50, boot, NFS),
	    DOTLOCK_HONOUR);
}
END_TEST

START_TEST(unknown_boot_time_is_no_rule)
{
	ck_assert_int_eq(verdict(live_pid(), NOW - 50, 0, LOCAL),
	    DOTLOCK_HONOUR);
}
END_TEST

/* ------------------------------------------------- (b) a dead holder */

START_TEST(dead_pid_is_stale_on_local_fs)
{
	const char *dead = dead_pid();

	ck_assert_int_eq(verdict(dead, NOW, BOOT, LOCAL), DOTLOCK_DEAD);
	ck_assert_int_eq(verdict(live_pid(), NOW, BOOT, LOCAL),
	    DOTLOCK_HONOUR);
}
END_TEST

START_TEST(dead_pid_means_nothing_over_nfs)
{
	ck_assert_int_eq(verdict(dead_pid(), NOW, 0, NFS), DOTLOCK_HONOUR);
}
END_TEST

START_TEST(pid_text_forms)
{
	char text[40];
	const char *dead = dead_pid();
	long pid = strtol(dead, NULL, 10);

	/* White space around the number is what writers emit. */
	snprintf(text, sizeof(text), "  %ld \r\n", pid);
	ck_assert_int_eq(verdict(text, NOW, BOOT, LOCAL), DOTLOCK_DEAD);
	snprintf(text, sizeof(text), "%ld", pid);
	ck_assert_int_eq(verdict(text, NOW, BOOT, LOCAL), DOTLOCK_DEAD);
	/* Anything else names no process: honoured until it is old. */
	snprintf(text, sizeof(text), "%ldx\n", pid);
	ck_assert_int_eq(verdict(text, NOW, BOOT, LOCAL), DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict("0\n", NOW, BOOT, LOCAL), DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict("-1\n", NOW, BOOT, LOCAL), DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict("99999999999999999999\n", NOW, BOOT, LOCAL),
	    DOTLOCK_HONOUR);
}
END_TEST

/* ------------------------------------ (f) the host named in the lock */

/* "PID HOST\n" for a pid that is alive or dead, as its holder wrote it. */
static const char *named(const char *pid_text, const char *host)
{
	static char text[DOTLOCK_MAX_SIZE];
	long pid = strtol(pid_text, NULL, 10);

	snprintf(text, sizeof(text), "%ld %s\n", pid, host);
	return text;
}

START_TEST(our_host_is_judged_by_pid_and_boot)
{
	time_t boot = NOW - 100;

	ck_assert_int_eq(verdict(named(live_pid(), OURS), NOW, BOOT, LOCAL),
	    DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict(named(dead_pid(), OURS), NOW, BOOT, LOCAL),
	    DOTLOCK_DEAD);
	ck_assert_int_eq(verdict(named(live_pid(), OURS),
	    boot - DOTLOCK_BOOT_SLACK - 1, boot, LOCAL), DOTLOCK_BEFORE_BOOT);
}
END_TEST

START_TEST(our_host_over_nfs_is_judged_by_age)
{
	/* As a pid alone always was: NFS gets the age rules only. */
	ck_assert_int_eq(verdict(named(dead_pid(), OURS), NOW, BOOT, NFS),
	    DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict(named(dead_pid(), OURS),
	    NOW - DOTLOCK_STALE_SECONDS - 1, BOOT, NFS), DOTLOCK_OLD);
}
END_TEST

START_TEST(other_host_dead_pid_is_honoured_on_local_fs)
{
	/* The pid is dead here; on its own machine it may be alive. */
	ck_assert_int_eq(verdict(named(dead_pid(), OTHER), NOW, BOOT, LOCAL),
	    DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict(named(dead_pid(), OTHER), NOW, BOOT, NFS),
	    DOTLOCK_HONOUR);
}
END_TEST

START_TEST(other_host_before_our_boot_is_honoured)
{
	/* We booted after it was made; its machine did not. */
	time_t boot = NOW - 100;

	ck_assert_int_eq(verdict(named(dead_pid(), OTHER), boot - 50, boot,
	    LOCAL), DOTLOCK_HONOUR);
}
END_TEST

START_TEST(other_host_old_lock_is_stale)
{
	const char *dead = named(dead_pid(), OTHER);

	ck_assert_int_eq(verdict(dead, NOW - DOTLOCK_STALE_SECONDS, BOOT,
	    LOCAL), DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict(dead, NOW - DOTLOCK_STALE_SECONDS - 1, BOOT,
	    LOCAL), DOTLOCK_OLD);
	ck_assert_int_eq(verdict(dead, NOW - DOTLOCK_STALE_SECONDS - 1, 0,
	    NFS), DOTLOCK_OLD);
	/* And far in the future, as every lock. */
	ck_assert_int_eq(verdict(dead, NOW + DOTLOCK_STALE_SECONDS + 1, BOOT,
	    LOCAL), DOTLOCK_OLD);
}
END_TEST

START_TEST(host_names_compare_exactly)
{
	/* Another case or a longer name is another host: the safe side. */
	ck_assert_int_eq(verdict(named(dead_pid(), "FRONT-A"), NOW, BOOT,
	    LOCAL), DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict(named(dead_pid(), OURS ".example.org"), NOW,
	    BOOT, LOCAL), DOTLOCK_HONOUR);
	ck_assert_int_eq(verdict(named(dead_pid(), "front"), NOW, BOOT,
	    LOCAL), DOTLOCK_HONOUR);
}
END_TEST

START_TEST(unknown_own_host_names_no_lock_ours)
{
	const char *dead = named(dead_pid(), OURS);
	struct stat st = lock_stat(NOW, strlen(dead));
	const char *alone = dead_pid();
	struct stat st2 = lock_stat(NOW, strlen(alone));

	ck_assert_int_eq(dotlock_stale(&st, dead, strlen(dead), NOW, BOOT,
	    LOCAL, ""), DOTLOCK_HONOUR);
	/* A pid alone is still judged. */
	ck_assert_int_eq(dotlock_stale(&st2, alone, strlen(alone), NOW, BOOT,
	    LOCAL, ""), DOTLOCK_DEAD);
}
END_TEST

START_TEST(pid_only_lock_is_judged_as_before)
{
	time_t boot = NOW - 100;

	/* Other MDAs and older pop3d: the pid and boot rules, local only. */
	ck_assert_int_eq(verdict(dead_pid(), NOW, BOOT, LOCAL), DOTLOCK_DEAD);
	ck_assert_int_eq(verdict(live_pid(), boot - DOTLOCK_BOOT_SLACK - 1,
	    boot, LOCAL), DOTLOCK_BEFORE_BOOT);
	ck_assert_int_eq(verdict(dead_pid(), NOW, BOOT, NFS), DOTLOCK_HONOUR);
	/* liblockfile's maillock() writes "0": no pid, the boot rule. */
	ck_assert_int_eq(verdict("0\n", boot - DOTLOCK_BOOT_SLACK - 1, boot,
	    LOCAL), DOTLOCK_BEFORE_BOOT);
	ck_assert_int_eq(verdict("0\n", NOW, BOOT, LOCAL), DOTLOCK_HONOUR);
}
END_TEST

START_TEST(dovecot_form_is_read_as_dovecot_does)
{
	char text[64];
	long dead = strtol(dead_pid(), NULL, 10);

	snprintf(text, sizeof(text), "%ld:%s", dead, OURS);
	ck_assert_int_eq(verdict(text, NOW, BOOT, LOCAL), DOTLOCK_DEAD);
	snprintf(text, sizeof(text), "%ld:%s", dead, OTHER);
	ck_assert_int_eq(verdict(text, NOW, BOOT, LOCAL), DOTLOCK_HONOUR);
}
END_TEST

START_TEST(garbled_host_is_judged_by_age_alone)
{
	/* Perhaps another host's lock in a form we do not know: neither
	 * the dead pid nor our boot counts; age does. */
	/* What follows the pid. */
	static const char *const garbled[] = {
		" fr ont-a\n", " front-a\x01\n", " front\x7f" "a\n",
		" fr\xc3\xb6nt\n", " front-a;rm\n", " front/a\n",
		" front-a x\n", " \x1b[2Jfront-a\n", ":\n",
		": front-a\n", "front-a\n", "\nfront-a\n",
	};
	long dead = strtol(dead_pid(), NULL, 10);
	time_t boot = NOW - 100;
	char text[64];

	for (size_t i = 0; i < sizeof(garbled) / sizeof(garbled[0]); i++) {
		snprintf(text, sizeof(text), "%ld%s", dead, garbled[i]);
		ck_assert_msg(verdict(text, NOW, BOOT, LOCAL) ==
		    DOTLOCK_HONOUR, "dead pid: %s", garbled[i]);
		ck_assert_msg(verdict(text, boot - 50, boot, LOCAL) ==
		    DOTLOCK_HONOUR, "before boot: %s", garbled[i]);
		ck_assert_msg(verdict(text, NOW - DOTLOCK_STALE_SECONDS - 1,
		    boot, LOCAL) == DOTLOCK_OLD, "old: %s", garbled[i]);
	}
}
END_TEST

START_TEST(nul_inside_content_is_garbled)
{
	char text[64];
	int n = snprintf(text, sizeof(text), "%s", named(dead_pid(), OURS));
	struct stat st = lock_stat(NOW, (size_t)n + 1);

	/* The NUL that a C reader would stop at is read as a byte. */
	text[n] = '\0';
	ck_assert_int_eq(dotlock_stale(&st, text, (size_t)n + 1, NOW, BOOT,
	    LOCAL, OURS), DOTLOCK_HONOUR);
	st.st_size = n;
	ck_assert_int_eq(dotlock_stale(&st, text, (size_t)n, NOW, BOOT,
	    LOCAL, OURS), DOTLOCK_DEAD);
}
END_TEST

/* dotlock_holder() on text, expecting kind, and pid and host if named. */
static void holds(const char *text, size_t len, int kind, pid_t pid,
    const char *host)
{
	char got[DOTLOCK_HOST_MAX + 1];
	pid_t got_pid = -1;

	memset(got, 'x', sizeof(got));
	ck_assert_msg(dotlock_holder(text, len, &got_pid, got) == kind,
	    "kind of \"%.*s\"", (int)len, text);
	ck_assert_msg(got_pid == pid, "pid of \"%.*s\": %ld", (int)len, text,
	    (long)got_pid);
	ck_assert_str_eq(got, host);
}

#define HOLDS(text, kind, pid, host) \
	holds(text, sizeof(text) - 1, kind, pid, host)

START_TEST(holder_forms)
{
	HOLDS("123", DOTLOCK_ANONYMOUS, 123, "");
	HOLDS("123\n", DOTLOCK_ANONYMOUS, 123, "");
	HOLDS(" \t123 \r\n", DOTLOCK_ANONYMOUS, 123, "");
	HOLDS("0\n", DOTLOCK_ANONYMOUS, 0, "");
	HOLDS("123 front-a\n", DOTLOCK_NAMED, 123, "front-a");
	HOLDS("123\tfront_a.example.org \r\n", DOTLOCK_NAMED, 123,
	    "front_a.example.org");
	HOLDS("  123  front-a  ", DOTLOCK_NAMED, 123, "front-a");
	HOLDS("123:front-a", DOTLOCK_NAMED, 123, "front-a");
	HOLDS("0000000123 x\n", DOTLOCK_NAMED, 123, "x");
	HOLDS("2147483647 x\n", DOTLOCK_NAMED, INT_MAX, "x");
}
END_TEST

START_TEST(holder_refuses_malformed)
{
	HOLDS("", DOTLOCK_UNREADABLE, 0, "");
	HOLDS(" \n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("x", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("-1\n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("+1\n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("0x10\n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("0 front-a\n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("2147483648\n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("00000000001\n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("99999999999999999999\n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("123 front a\n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("123 front-a\n\n456\n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("123:\n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("123::front-a\n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("123 \x80\n", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("123 \0front-a", DOTLOCK_UNREADABLE, 0, "");
	HOLDS("\0" "123\n", DOTLOCK_UNREADABLE, 0, "");
}
END_TEST

START_TEST(holder_host_is_bounded)
{
	char text[DOTLOCK_MAX_SIZE], host[DOTLOCK_HOST_MAX + 2];
	int n;

	memset(host, 'h', sizeof(host) - 1);
	host[DOTLOCK_HOST_MAX] = '\0';
	n = snprintf(text, sizeof(text), "%d %s\n", INT_MAX, host);
	holds(text, (size_t)n, DOTLOCK_NAMED, INT_MAX, host);
	/* One byte more: overlong, not cut short. */
	host[DOTLOCK_HOST_MAX] = 'h';
	host[DOTLOCK_HOST_MAX + 1] = '\0';
	n = snprintf(text, sizeof(text), "%d %s\n", INT_MAX, host);
	holds(text, (size_t)n, DOTLOCK_UNREADABLE, 0, "");
	/* Only len bytes are read: none past them, even without a NUL. */
	memset(text, '7', sizeof(text));
	holds(text, 10, DOTLOCK_UNREADABLE, 0, "");
	holds(text, 9, DOTLOCK_ANONYMOUS, 777777777, "");
}
END_TEST

START_TEST(our_longest_lock_is_judged)
{
	/* A 10-digit pid and a 64-byte host name: still a lock, so still
	 * judged (and broken when old), not "too large to be one". */
	char text[DOTLOCK_MAX_SIZE], host[DOTLOCK_HOST_MAX + 1];
	struct stat st;
	int n;

	memset(host, 'h', sizeof(host) - 1);
	host[DOTLOCK_HOST_MAX] = '\0';
	n = dotlock_format(text, sizeof(text), INT_MAX, host);
	ck_assert_int_eq(n, DOTLOCK_PID_DIGITS + 1 + DOTLOCK_HOST_MAX + 1);
	st = lock_stat(NOW - DOTLOCK_STALE_SECONDS - 1, (size_t)n);
	ck_assert_int_eq(dotlock_stale(&st, text, (size_t)n, NOW, BOOT, LOCAL,
	    OURS), DOTLOCK_OLD);
	st.st_mtime = NOW;
	ck_assert_int_eq(dotlock_stale(&st, text, (size_t)n, NOW, BOOT, LOCAL,
	    OURS), DOTLOCK_HONOUR);
}
END_TEST

START_TEST(format_writes_pid_then_host)
{
	char buf[DOTLOCK_MAX_SIZE];

	ck_assert_int_eq(dotlock_format(buf, sizeof(buf), 4242, OURS), 13);
	ck_assert_str_eq(buf, "4242 front-a\n");
	ck_assert_int_eq(dotlock_format(buf, sizeof(buf), 4242, ""), 5);
	ck_assert_str_eq(buf, "4242\n");
	/* What does not fit is refused, not cut. */
	ck_assert_int_eq(dotlock_format(buf, 13, 4242, OURS), -1);
	ck_assert_int_eq(dotlock_format(buf, 14, 4242, OURS), 13);
	holds(buf, 13, DOTLOCK_NAMED, 4242, OURS);
}
END_TEST

START_TEST(unclean_own_host_reads_back_as_ours)
{
	/* A host name with spaces, control bytes, a slash or 8-bit bytes
	 * (sethostname(2) takes any bytes) is written so that it reads back
	 * as one word, and is then taken for ours. */
	char host[DOTLOCK_HOST_MAX + 1] = "my host\x01/\xc3\xa9\t";
	char buf[DOTLOCK_MAX_SIZE], read_back[DOTLOCK_HOST_MAX + 1];
	pid_t pid;
	long dead = strtol(dead_pid(), NULL, 10);
	struct stat st;
	int n;

	dotlock_clean_host(host);
	ck_assert_str_eq(host, "my_host_____");
	n = dotlock_format(buf, sizeof(buf), (pid_t)dead, host);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(dotlock_holder(buf, (size_t)n, &pid, read_back),
	    DOTLOCK_NAMED);
	ck_assert_int_eq(pid, dead);
	ck_assert_str_eq(read_back, host);
	st = lock_stat(NOW, (size_t)n);
	ck_assert_int_eq(dotlock_stale(&st, buf, (size_t)n, NOW, BOOT, LOCAL,
	    "my_host_____"), DOTLOCK_DEAD);
}
END_TEST

START_TEST(own_hostname_is_gethostnames)
{
	char host[DOTLOCK_HOST_MAX + 1], want[DOTLOCK_HOST_MAX + 1];
	char buf[DOTLOCK_MAX_SIZE];
	struct stat st;
	int n;

	ck_assert_int_eq(gethostname(want, sizeof(want)), 0);
	dotlock_clean_host(want);
	dotlock_hostname(host);
	ck_assert_str_eq(host, want);
	/* Our own lock with a dead pid is ours, and dead (with no host
	 * name it is a pid alone, and dead all the same). */
	n = dotlock_format(buf, sizeof(buf),
	    (pid_t)strtol(dead_pid(), NULL, 10), host);
	ck_assert_int_gt(n, 0);
	st = lock_stat(NOW, (size_t)n);
	ck_assert_int_eq(dotlock_stale(&st, buf, (size_t)n, NOW, BOOT, LOCAL,
	    host), DOTLOCK_DEAD);
}
END_TEST

/* ------------------------------------------------------- path_dir */

START_TEST(path_dir_names_the_directory)
{
	char dir[16];

	ck_assert_int_eq(path_dir(dir, sizeof(dir), "/var/mail/alice"), 0);
	ck_assert_str_eq(dir, "/var/mail");
	ck_assert_int_eq(path_dir(dir, sizeof(dir), "/alice"), 0);
	ck_assert_str_eq(dir, "/");
	ck_assert_int_eq(path_dir(dir, sizeof(dir), "alice"), 0);
	ck_assert_str_eq(dir, ".");
	ck_assert_int_eq(path_dir(dir, sizeof(dir), "mail/alice"), 0);
	ck_assert_str_eq(dir, "mail");
	ck_assert_int_eq(path_dir(dir, sizeof(dir),
	    "/a/directory/too/long/x"), -1);
}
END_TEST

Suite *lock_suite(void)
{
	Suite *s = suite_create("lock");
	TCase *tc = tcase_create("dotlock_stale");

	tcase_add_test(tc, fresh_lock_of_live_process_is_honoured);
	tcase_add_test(tc, not_a_regular_file_is_never_stale);
	tcase_add_test(tc, large_file_is_never_stale);
	tcase_add_test(tc, old_lock_is_stale_at_the_boundary);
	tcase_add_test(tc, old_lock_is_stale_over_nfs);
	tcase_add_test(tc, far_future_lock_is_stale);
	tcase_add_test(tc, future_lock_is_judged_by_the_other_rules);
	tcase_add_test(tc, extreme_dates_do_not_overflow);
	tcase_add_test(tc, empty_lock_is_stale_after_grace);
	tcase_add_test(tc, nul_only_lock_is_empty);
	tcase_add_test(tc, lock_with_content_is_not_empty);
	tcase_add_test(tc, future_empty_lock_is_not_fresh);
	tcase_add_test(tc, lock_before_boot_is_stale);
	tcase_add_test(tc, boot_rule_only_on_local_fs);
	tcase_add_test(tc, unknown_boot_time_is_no_rule);
	tcase_add_test(tc, dead_pid_is_stale_on_local_fs);
	tcase_add_test(tc, dead_pid_means_nothing_over_nfs);
	tcase_add_test(tc, pid_text_forms);
	tcase_add_test(tc, our_host_is_judged_by_pid_and_boot);
	tcase_add_test(tc, our_host_over_nfs_is_judged_by_age);
	tcase_add_test(tc, other_host_dead_pid_is_honoured_on_local_fs);
	tcase_add_test(tc, other_host_before_our_boot_is_honoured);
	tcase_add_test(tc, other_host_old_lock_is_stale);
	tcase_add_test(tc, host_names_compare_exactly);
	tcase_add_test(tc, unknown_own_host_names_no_lock_ours);
	tcase_add_test(tc, pid_only_lock_is_judged_as_before);
	tcase_add_test(tc, dovecot_form_is_read_as_dovecot_does);
	tcase_add_test(tc, garbled_host_is_judged_by_age_alone);
	tcase_add_test(tc, nul_inside_content_is_garbled);
	tcase_add_test(tc, holder_forms);
	tcase_add_test(tc, holder_refuses_malformed);
	tcase_add_test(tc, holder_host_is_bounded);
	tcase_add_test(tc, our_longest_lock_is_judged);
	tcase_add_test(tc, format_writes_pid_then_host);
	tcase_add_test(tc, unclean_own_host_reads_back_as_ours);
	tcase_add_test(tc, own_hostname_is_gethostnames);
	tcase_add_test(tc, path_dir_names_the_directory);
	suite_add_tcase(s, tc);
	return s;
}

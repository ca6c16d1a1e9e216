/*
 * check_lock.c - the stale dot-lock rules (dotlock_stale() in lock.c),
 * each both ways and at its boundary: too old or dated too far in the
 * future; empty or NUL-only and no longer fresh; made before the last
 * boot; naming a dead process; and what is never stale (anything but a
 * small regular file, a fresh lock of a live process, pids and boot times
 * over NFS).  Also path_dir(), which names the directory the lock and its
 * removal's fsync live in.
 */
#include <check.h>
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

	return dotlock_stale(&st, text, strlen(text), NOW, boot, local);
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
	ck_assert_int_eq(dotlock_stale(&st, "", 0, NOW, BOOT, LOCAL),
	    DOTLOCK_HONOUR);
	st.st_mode = S_IFLNK | 0777;
	ck_assert_int_eq(dotlock_stale(&st, "", 0, NOW, BOOT, LOCAL),
	    DOTLOCK_HONOUR);
	st.st_mode = S_IFIFO | 0644;
	ck_assert_int_eq(dotlock_stale(&st, "", 0, NOW, BOOT, LOCAL),
	    DOTLOCK_HONOUR);
}
END_TEST

START_TEST(large_file_is_never_stale)
{
	struct stat st = lock_stat(NOW - 100000, DOTLOCK_MAX_SIZE);

	ck_assert_int_eq(dotlock_stale(&st, "", 0, NOW, BOOT, LOCAL),
	    DOTLOCK_HONOUR);
	st.st_size = DOTLOCK_MAX_SIZE - 1;
	ck_assert_int_eq(dotlock_stale(&st, "", 0, NOW, BOOT, LOCAL),
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

	ck_assert_int_eq(dotlock_stale(&st, zeros, sizeof(zeros), NOW, 0, NFS),
	    DOTLOCK_EMPTY);
	st.st_mtime = NOW - DOTLOCK_EMPTY_SECONDS;
	ck_assert_int_eq(dotlock_stale(&st, zeros, sizeof(zeros), NOW, 0, NFS),
	    DOTLOCK_HONOUR);
}
END_TEST

START_TEST(lock_with_content_is_not_empty)
{
	/* A pid after zeros, or any other byte, is content. */
	static const char torn[] = { '\0', '\0', '1', '2', '\n' };
	struct stat st = lock_stat(NOW - 60, sizeof(torn));

	ck_assert_int_eq(dotlock_stale(&st, torn, sizeof(torn), NOW, 0, NFS),
	    DOTLOCK_HONOUR);
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
	tcase_add_test(tc, path_dir_names_the_directory);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * check_spool.c - the maildrop's directory and the mail group (spool.c):
 * when spool_open() keeps the group as saved gid, when it drops it from
 * all three gids for good, and that a kept group is effective only
 * between spool_privileged(sp, 1) and spool_privileged(sp, 0).
 *
 * Every test that changes ids runs in a child forked here (not Check's
 * fork mode, which CK_FORK=no turns off), set up as a root-started
 * session leaves it: the user's gid as the only group, real and
 * effective gid, the mail group as saved gid, then the user's uid in all
 * three.  The child reports a failure through a pipe; the test process
 * keeps root.  Without root, or without a "mail" group and a "nobody"
 * user, those tests pass without checking anything.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"
#include "unit.h"

/* The session's ids, as session.c's become_user() leaves them. */
struct ids {
	uid_t uid;
	gid_t gid;
	gid_t mail;
};

/* The ids a test child takes, or 0 when the test cannot be run here. */
static int session_ids(struct ids *ids)
{
	const struct passwd *pw;
	const struct group *gr;

	if (geteuid() != 0)
		return 0;
	pw = getpwnam("nobody");
	gr = getgrnam("mail");
	if (!pw || !gr || pw->pw_uid == 0 || pw->pw_gid == gr->gr_gid)
		return 0;
	ids->uid = pw->pw_uid;
	ids->gid = pw->pw_gid;
	ids->mail = gr->gr_gid;
	return 1;
}

/* The child's end of the report pipe. */
static int report_fd = -1;

/* In the child: unless ok, reports what failed and ends the child. */
static void expect(int ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void expect(int ok, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int len;

	if (ok)
		return;
	va_start(ap, fmt);
	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (len > 0)
		(void)!write(report_fd, msg, strlen(msg));
	_exit(1);
}

/* In the child: the three gids must be r, e, s. */
static void expect_gids(gid_t r, gid_t e, gid_t s, const char *when)
{
	gid_t gr, ge, gs;

	expect(getresgid(&gr, &ge, &gs) == 0, "getresgid: %s",
	    strerror(errno));
	expect(gr == r && ge == e && gs == s, "%s: gids %lu/%lu/%lu, want "
	    "%lu/%lu/%lu", when, (unsigned long)gr, (unsigned long)ge,
	    (unsigned long)gs, (unsigned long)r, (unsigned long)e,
	    (unsigned long)s);
}

/* In the child: the mail group is gone from all three gids and from the
 * groups, and cannot be taken back. */
static void expect_dropped(const struct ids *ids, const char *when)
{
	gid_t groups[SPOOL_MAX_GROUPS];
	int n;

	expect_gids(ids->gid, ids->gid, ids->gid, when);
	errno = 0;
	expect(setegid(ids->mail) < 0 && errno == EPERM, "%s: setegid(mail) "
	    "did not fail with EPERM (%s)", when, strerror(errno));
	n = getgroups(SPOOL_MAX_GROUPS, groups);
	expect(n == 1 && groups[0] == ids->gid, "%s: %d supplementary "
	    "groups, want only the user's", when, n);
}

/* In the child: the mail group is kept as saved gid only. */
static void expect_kept(const struct ids *ids, const char *when)
{
	expect_gids(ids->gid, ids->gid, ids->mail, when);
}

typedef void (*child_fn)(const struct ids *ids, const char *arg);

/*
 * Runs fn(ids, arg) in a child that has become the user with the mail
 * group as saved gid (spool_set_group() told), and fails the test with
 * the child's report unless it exits 0.
 */
static void run_as_user(const struct ids *ids, child_fn fn, const char *arg)
{
	char msg[512];
	size_t got = 0;
	ssize_t n;
	int fds[2], wst;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		report_fd = fds[1];
		expect(setgroups(1, &ids->gid) == 0 &&
		    setresgid(ids->gid, ids->gid, ids->mail) == 0 &&
		    setresuid(ids->uid, ids->uid, ids->uid) == 0,
		    "cannot become uid %lu: %s", (unsigned long)ids->uid,
		    strerror(errno));
		spool_set_group(ids->mail);
		expect_kept(ids, "before spool_open");
		fn(ids, arg);
		_exit(0);
	}
	close(fds[1]);
	while (got + 1 < sizeof(msg) &&
	    (n = read(fds[0], msg + got, sizeof(msg) - 1 - got)) > 0)
		got += (size_t)n;
	msg[got] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &wst, 0), pid);
	ck_assert_msg(WIFEXITED(wst), "child killed by signal %d",
	    WIFSIGNALED(wst) ? WTERMSIG(wst) : 0);
	ck_assert_msg(WEXITSTATUS(wst) == 0, "in the child: %s",
	    got ? msg : "(no report)");
}

/* Makes dir/name a directory of uid:gid with mode; path_r gets its path. */
static void make_dir(char *path_r, size_t size, const char *dir,
    const char *name, uid_t uid, gid_t gid, mode_t mode)
{
	unit_path(path_r, size, dir, name);
	ck_assert_msg(mkdir(path_r, 0700) == 0, "mkdir %s: %s", path_r,
	    strerror(errno));
	ck_assert_int_eq(chown(path_r, uid, gid), 0);
	/* After chown, which clears the set-group-ID bit. */
	ck_assert_int_eq(chmod(path_r, mode), 0);
}

/* Whether dir/name exists (without following a link). */
static int exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	unit_path(path, sizeof(path), dir, name);
	return lstat(path, &st) == 0;
}

/* In the child: creates sp's name + suffix the way lock.c and journal.c
 * do (an *at() call on sp->dfd between spool_privileged(sp, 1) and
 * (sp, 0)); returns 0, or -1 with errno. */
static int create_name(const struct ids *ids, const struct spool *sp,
    const char *suffix)
{
	char name[MAX_PATH_LEN];
	int fd, saved;

	expect(spool_name(sp, suffix, name, sizeof(name), NULL, 0) == 0,
	    "spool_name");
	expect(spool_privileged(sp, 1) == 0, "spool_privileged(1) failed");
	if (sp->privileged)
		expect_gids(ids->gid, ids->mail, ids->mail,
		    "inside spool_privileged");
	fd = openat(sp->dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	saved = errno;
	expect(spool_privileged(sp, 0) == 0, "spool_privileged(0) failed");
	if (fd < 0) {
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

/* In the child: the same for removing a name. */
static int remove_name(const struct spool *sp, const char *suffix)
{
	char name[MAX_PATH_LEN];
	int r, saved;

	expect(spool_name(sp, suffix, name, sizeof(name), NULL, 0) == 0,
	    "spool_name");
	expect(spool_privileged(sp, 1) == 0, "spool_privileged(1) failed");
	r = unlinkat(sp->dfd, name, 0);
	saved = errno;
	expect(spool_privileged(sp, 0) == 0, "spool_privileged(0) failed");
	errno = saved;
	return r;
}

/* In the child: spool_open(arg) succeeds and drops the group for good;
 * no name can then be created with it. */
static void child_open_drops(const struct ids *ids, const char *mbox)
{
	struct spool sp;

	expect(spool_open(&sp, mbox) == 0, "spool_open %s: %s", mbox,
	    strerror(errno));
	expect(!sp.privileged, "spool marked privileged");
	expect_dropped(ids, "after spool_open");
	/* The name operations do not bring it back. */
	expect(spool_privileged(&sp, 1) == 0, "spool_privileged(1)");
	expect_dropped(ids, "inside spool_privileged");
	expect(spool_privileged(&sp, 0) == 0, "spool_privileged(0)");
	spool_close(&sp);
}

/* ------------------------------------------ (1) a directory the user writes */

/* In the child: the user writes the directory, so names are created
 * without the group, which is gone. */
static void child_writable(const struct ids *ids, const char *mbox)
{
	struct spool sp;

	child_open_drops(ids, mbox);
	expect(spool_open(&sp, mbox) == 0, "second spool_open: %s",
	    strerror(errno));
	expect(spool_can_create(&sp) == 1, "spool_can_create != 1");
	expect(create_name(ids, &sp, ".lock") == 0, "create: %s",
	    strerror(errno));
	expect_dropped(ids, "after a name operation");
	expect(remove_name(&sp, ".lock") == 0, "remove: %s", strerror(errno));
	spool_close(&sp);
}

START_TEST(writable_directory_drops_the_group)
{
	char dir[PATH_MAX], spool[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	make_dir(spool, sizeof(spool), dir, "home", ids.uid, ids.gid, 0755);
	unit_path(mbox, sizeof(mbox), spool, "mbox");
	run_as_user(&ids, child_writable, mbox);
}
END_TEST

START_TEST(root_mail_directory_writable_by_others_drops_the_group)
{
	/* Root's, the mail group's and writable by everyone (the user
	 * among them), not sticky: the group would add nothing. */
	char dir[PATH_MAX], spool[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	make_dir(spool, sizeof(spool), dir, "spool", 0, ids.mail, 02777);
	unit_path(mbox, sizeof(mbox), spool, "mbox");
	run_as_user(&ids, child_open_drops, mbox);
}
END_TEST

/* --------------------------- (2) a root:mail 2775 spool the user cannot write */

/* In the child: the group is kept as saved gid only, effective only
 * inside spool_privileged(), and names can be made and removed. */
static void child_debian_spool(const struct ids *ids, const char *mbox)
{
	struct spool sp;
	char name[MAX_PATH_LEN], to[MAX_PATH_LEN];
	int r, saved;

	expect(spool_open(&sp, mbox) == 0, "spool_open %s: %s", mbox,
	    strerror(errno));
	expect(sp.privileged, "spool not marked privileged");
	expect(sp.dfd >= 0, "no directory descriptor");
	expect_kept(ids, "after spool_open");
	expect(spool_can_create(&sp) == 1, "spool_can_create != 1");
	expect_kept(ids, "after spool_can_create");

	/* Without the group, the user cannot make a name there. */
	errno = 0;
	expect(openat(sp.dfd, "mbox.lock", O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600) < 0 && errno == EACCES, "created a name without "
	    "the group (%s)", strerror(errno));

	expect(create_name(ids, &sp, ".lock") == 0, "create: %s",
	    strerror(errno));
	expect_kept(ids, "after creating a name");
	expect(create_name(ids, &sp, ".pop3d-journal") == 0, "create: %s",
	    strerror(errno));

	/* A rename, as the journal is put in place. */
	expect(spool_name(&sp, ".pop3d-journal", name, sizeof(name), NULL,
	    0) == 0 && spool_name(&sp, ".renamed", to, sizeof(to), NULL,
	    0) == 0, "spool_name");
	expect(spool_privileged(&sp, 1) == 0, "spool_privileged(1)");
	r = renameat(sp.dfd, name, sp.dfd, to);
	saved = errno;
	expect(spool_privileged(&sp, 0) == 0, "spool_privileged(0)");
	expect(r == 0, "renameat: %s", strerror(saved));
	expect_kept(ids, "after a rename");

	expect(remove_name(&sp, ".lock") == 0, "remove: %s", strerror(errno));
	expect(remove_name(&sp, ".renamed") == 0, "remove: %s",
	    strerror(errno));
	expect_kept(ids, "after removing names");
	spool_close(&sp);
	expect_kept(ids, "after spool_close");
}

START_TEST(debian_spool_keeps_the_group_for_name_operations_only)
{
	char dir[PATH_MAX], spool[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	make_dir(spool, sizeof(spool), dir, "mail", 0, ids.mail, 02775);
	unit_path(mbox, sizeof(mbox), spool, "mbox");
	run_as_user(&ids, child_debian_spool, mbox);
	ck_assert(!exists(spool, "mbox.lock"));
	ck_assert(!exists(spool, "mbox.renamed"));
	ck_assert(!exists(spool, "mbox.pop3d-journal"));
}
END_TEST

START_TEST(link_in_a_root_only_directory_is_followed)
{
	/* Red Hat's /var/mail -> spool/mail: a link only root could
	 * have placed keeps the group. */
	char dir[PATH_MAX], spool[PATH_MAX], link[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));	/* root's, 0755 */
	make_dir(spool, sizeof(spool), dir, "spool", 0, ids.mail, 02775);
	unit_path(link, sizeof(link), dir, "mail");
	ck_assert_int_eq(symlink("spool", link), 0);
	unit_path(mbox, sizeof(mbox), link, "mbox");
	run_as_user(&ids, child_debian_spool, mbox);
}
END_TEST

/* ------------------------------------------- (3) a link the user planted */

/* In the child: the group is dropped and nothing can be created in the
 * directory the link leads to. */
static void child_planted_link(const struct ids *ids, const char *mbox)
{
	struct spool sp;

	expect(spool_open(&sp, mbox) == 0, "spool_open %s: %s", mbox,
	    strerror(errno));
	expect(!sp.privileged, "group trusted through a planted link");
	expect_dropped(ids, "after spool_open");
	expect(spool_can_create(&sp) == 0, "spool_can_create != 0");
	errno = 0;
	expect(create_name(ids, &sp, ".lock") < 0 && errno == EACCES,
	    "a name was created through the link (%s)", strerror(errno));
	expect_dropped(ids, "after a name operation");
	spool_close(&sp);
}

START_TEST(link_in_a_user_directory_drops_the_group)
{
	/* home is the user's; home/mail is a link the user made to a
	 * root:mail 2775 directory they cannot write. */
	char dir[PATH_MAX], home[PATH_MAX], target[PATH_MAX], link[PATH_MAX];
	char mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	make_dir(home, sizeof(home), dir, "home", ids.uid, ids.gid, 0755);
	make_dir(target, sizeof(target), dir, "target", 0, ids.mail, 02775);
	unit_path(link, sizeof(link), home, "mail");
	ck_assert_int_eq(symlink(target, link), 0);
	ck_assert_int_eq(lchown(link, ids.uid, ids.gid), 0);
	unit_path(mbox, sizeof(mbox), link, "mbox");
	run_as_user(&ids, child_planted_link, mbox);
	ck_assert(!exists(target, "mbox.lock"));
}
END_TEST

/* In the child: the spool at arg is checked and kept; the user then
 * moves it away and puts a link to arg's sibling "target" in its place.
 * Names must still land in the directory that was checked. */
static void child_swapped_after_check(const struct ids *ids,
    const char *mbox)
{
	char spool[PATH_MAX], moved[PATH_MAX], target[PATH_MAX];
	struct spool sp;

	expect(path_dir(spool, sizeof(spool), mbox) == 0, "path_dir");
	expect(snprintf(moved, sizeof(moved), "%s.old", spool) <
	    (int)sizeof(moved), "path too long");
	expect(path_dir(target, sizeof(target), spool) == 0, "path_dir");
	expect(strlen(target) + sizeof("/../target") < sizeof(target),
	    "path too long");
	strcat(target, "/../target");	/* NOLINT(*.strcat): checked */

	expect(spool_open(&sp, mbox) == 0, "spool_open %s: %s", mbox,
	    strerror(errno));
	expect(sp.privileged, "spool not marked privileged");
	expect(rename(spool, moved) == 0, "rename %s: %s", spool,
	    strerror(errno));
	expect(symlink(target, spool) == 0, "symlink: %s", strerror(errno));
	expect(create_name(ids, &sp, ".lock") == 0, "create: %s",
	    strerror(errno));
	expect_kept(ids, "after creating a name");
	spool_close(&sp);
}

START_TEST(link_swapped_in_after_the_check_moves_nothing)
{
	char dir[PATH_MAX], home[PATH_MAX], spool[PATH_MAX], target[PATH_MAX];
	char moved[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	make_dir(home, sizeof(home), dir, "home", ids.uid, ids.gid, 0755);
	make_dir(spool, sizeof(spool), home, "mail", 0, ids.mail, 02775);
	make_dir(target, sizeof(target), dir, "target", 0, ids.mail, 02775);
	unit_path(mbox, sizeof(mbox), spool, "mbox");
	run_as_user(&ids, child_swapped_after_check, mbox);
	unit_path(moved, sizeof(moved), home, "mail.old");
	ck_assert_msg(exists(moved, "mbox.lock"),
	    "the name is not in the directory that was checked");
	ck_assert_msg(!exists(target, "mbox.lock"),
	    "a name was created in the link's target");
}
END_TEST

/* --------------------------------- (4) world-writable, not sticky; others' */

START_TEST(world_writable_non_sticky_directory_drops_the_group)
{
	/* Writable by the group and by everyone, not sticky: anyone could
	 * replace names there, so the group is not used.  A world-writable
	 * directory the user cannot write must be theirs (0577; anyone
	 * else's lets them write as "other"), and spool.c refuses it by
	 * this rule (its log says so) before the ownership matters. */
	char dir[PATH_MAX], spool[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	make_dir(spool, sizeof(spool), dir, "mail", ids.uid, ids.mail, 00577);
	unit_path(mbox, sizeof(mbox), spool, "mbox");
	run_as_user(&ids, child_open_drops, mbox);
}
END_TEST

START_TEST(directory_of_another_user_drops_the_group)
{
	char dir[PATH_MAX], spool[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	make_dir(spool, sizeof(spool), dir, "mail", ids.uid + 1, ids.mail,
	    02775);
	unit_path(mbox, sizeof(mbox), spool, "mbox");
	run_as_user(&ids, child_open_drops, mbox);
}
END_TEST

START_TEST(directory_the_group_cannot_write_drops_the_group)
{
	char dir[PATH_MAX], spool[PATH_MAX], other[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	/* Another group's, and the mail group's without write. */
	make_dir(spool, sizeof(spool), dir, "root", 0, 0, 02775);
	make_dir(other, sizeof(other), dir, "mail", 0, ids.mail, 02755);
	unit_path(mbox, sizeof(mbox), spool, "mbox");
	run_as_user(&ids, child_open_drops, mbox);
	unit_path(mbox, sizeof(mbox), other, "mbox");
	run_as_user(&ids, child_open_drops, mbox);
}
END_TEST

/* ------------------------------------------------------ (5) error paths */

/* In the child: spool_open(arg) fails with the errno after the last '|'
 * of arg ("path|errno") and still drops the group. */
static void child_open_fails(const struct ids *ids, const char *arg)
{
	char mbox[PATH_MAX];
	const char *bar = strrchr(arg, '|');
	struct spool sp;
	int want, r;

	expect(bar && (size_t)(bar - arg) < sizeof(mbox), "bad argument");
	memcpy(mbox, arg, (size_t)(bar - arg));
	mbox[bar - arg] = '\0';
	want = atoi(bar + 1);
	errno = 0;
	r = spool_open(&sp, mbox);
	expect(r == -1 && errno == want, "spool_open %s: %d (%s), want -1 "
	    "(%s)", mbox, r, strerror(errno), strerror(want));
	expect(sp.dfd == -1 && !sp.privileged, "spool left open");
	expect_dropped(ids, "after a failed spool_open");
}

/* Runs child_open_fails on mbox, wanting errno want. */
static void expect_open_fails(const struct ids *ids, const char *mbox,
    int want)
{
	char arg[PATH_MAX + 16];

	ck_assert_int_lt(snprintf(arg, sizeof(arg), "%s|%d", mbox, want),
	    (int)sizeof(arg));
	run_as_user(ids, child_open_fails, arg);
}

START_TEST(missing_directory_fails_and_drops_the_group)
{
	char dir[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	unit_path(mbox, sizeof(mbox), dir, "nowhere/mbox");
	expect_open_fails(&ids, mbox, ENOENT);
}
END_TEST

START_TEST(file_for_a_directory_fails_and_drops_the_group)
{
	char dir[PATH_MAX], file[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	unit_path(file, sizeof(file), dir, "file");
	unit_write_str(file, "", 0644);
	unit_path(mbox, sizeof(mbox), file, "mbox");
	expect_open_fails(&ids, mbox, ENOTDIR);
}
END_TEST

START_TEST(unreadable_directory_fails_and_drops_the_group)
{
	char dir[PATH_MAX], spool[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	make_dir(spool, sizeof(spool), dir, "mail", 0, ids.mail, 02770);
	unit_path(mbox, sizeof(mbox), spool, "mbox");
	expect_open_fails(&ids, mbox, EACCES);
}
END_TEST

START_TEST(mbox_naming_a_directory_fails_and_drops_the_group)
{
	char dir[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	unit_path(mbox, sizeof(mbox), dir, "");
	expect_open_fails(&ids, mbox, EISDIR);
	unit_path(mbox, sizeof(mbox), dir, "..");
	expect_open_fails(&ids, mbox, EISDIR);
}
END_TEST

/* ------------------------------------------------ without the mail group */

START_TEST(spool_name_appends_the_suffix)
{
	char dir[PATH_MAX], mbox[PATH_MAX], name[16], path[PATH_MAX];
	struct spool sp;

	/* No group was set here: spool_open() has nothing to drop. */
	unit_tmpdir(dir, sizeof(dir));
	unit_path(mbox, sizeof(mbox), dir, "alice");
	ck_assert_int_eq(spool_open(&sp, mbox), 0);
	ck_assert(!sp.privileged);
	ck_assert_int_eq(spool_name(&sp, ".lock", name, sizeof(name), path,
	    sizeof(path)), 0);
	ck_assert_str_eq(name, "alice.lock");
	ck_assert_int_lt(snprintf(mbox, sizeof(mbox), "%s/alice.lock", dir),
	    (int)sizeof(mbox));
	ck_assert_str_eq(path, mbox);
	ck_assert_int_eq(spool_name(&sp, ".lock", name, sizeof(name), NULL,
	    0), 0);
	errno = 0;
	ck_assert_int_eq(spool_name(&sp, ".pop3d-journal", name, sizeof(name),
	    NULL, 0), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	spool_close(&sp);
	ck_assert_int_eq(sp.dfd, -1);
}
END_TEST

/* ------------------------------------------ the user's own directory */

/*
 * spool.c: "not needed (... or the group would not help): it is dropped
 * from all three gids".  A directory the user owns but cannot write is
 * one where the group cannot help: the owner's permission bits apply to
 * the owner, never the group's.  (It kept the group as saved gid until
 * group_needed() stopped accepting a user-owned directory.)
 */
START_TEST(user_owned_unwritable_directory_drops_the_group)
{
	char dir[PATH_MAX], spool[PATH_MAX], sticky[PATH_MAX], mbox[PATH_MAX];
	struct ids ids;

	if (!session_ids(&ids))
		return;
	unit_tmpdir(dir, sizeof(dir));
	make_dir(spool, sizeof(spool), dir, "mail", ids.uid, ids.mail, 02575);
	unit_path(mbox, sizeof(mbox), spool, "mbox");
	run_as_user(&ids, child_open_drops, mbox);
	/* World-writable but sticky: the same. */
	make_dir(sticky, sizeof(sticky), dir, "sticky", ids.uid, ids.mail,
	    01577);
	unit_path(mbox, sizeof(mbox), sticky, "mbox");
	run_as_user(&ids, child_open_drops, mbox);
}
END_TEST

Suite *spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("mail group");

	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, writable_directory_drops_the_group);
	tcase_add_test(tc,
	    root_mail_directory_writable_by_others_drops_the_group);
	tcase_add_test(tc,
	    debian_spool_keeps_the_group_for_name_operations_only);
	tcase_add_test(tc, link_in_a_root_only_directory_is_followed);
	tcase_add_test(tc, link_in_a_user_directory_drops_the_group);
	tcase_add_test(tc, link_swapped_in_after_the_check_moves_nothing);
	tcase_add_test(tc, world_writable_non_sticky_directory_drops_the_group);
	tcase_add_test(tc, directory_of_another_user_drops_the_group);
	tcase_add_test(tc, directory_the_group_cannot_write_drops_the_group);
	tcase_add_test(tc, missing_directory_fails_and_drops_the_group);
	tcase_add_test(tc, file_for_a_directory_fails_and_drops_the_group);
	tcase_add_test(tc, unreadable_directory_fails_and_drops_the_group);
	tcase_add_test(tc, mbox_naming_a_directory_fails_and_drops_the_group);
	tcase_add_test(tc, spool_name_appends_the_suffix);
	suite_add_tcase(s, tc);
	tcase_add_test(tc, user_owned_unwritable_directory_drops_the_group);
	return s;
}

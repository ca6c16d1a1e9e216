/*
 * check_trust.c - which configuration files pop3d believes
 * (trust_open_for, the rules in trust.c), and the password-file line
 * checker every reader shares (passwd_scan).  Files are made as root (the
 * unit tests run as root, as CI does); "nobody" stands for another local
 * account.  The pipe-mode rule is trust_open_for() with that account as
 * the one pop3d runs as.
 */
#include <check.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "unit.h"

static char why[1024];

/* A file to judge: dir/name, root's, with mode. */
static void make_file(char *path, size_t size, const char *dir, mode_t mode)
{
	unit_path(path, size, dir, "passwd");
	unit_write_str(path, "alice:$1$a$alice\n", mode);
}

static uid_t other_uid(void)
{
	const struct passwd *pw = getpwnam("nobody");

	ck_assert_msg(pw != NULL, "no account nobody");
	return pw->pw_uid;
}

/* Judged by root mode's rule; the descriptor, if any, is closed. */
static int root_trusts(const char *path)
{
	int fd = trust_open_for(path, (uid_t)-1, why, sizeof(why));

	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

static void assert_why_has(const char *text)
{
	ck_assert_msg(strstr(why, text) != NULL, "reason '%s' lacks '%s'", why,
	    text);
}

START_TEST(trust_root_file_in_root_directories)
{
	char dir[PATH_MAX], path[PATH_MAX];

	ck_assert_int_eq(getuid(), 0);
	unit_tmpdir(dir, sizeof(dir));
	make_file(path, sizeof(path), dir, 0644);
	ck_assert_msg(root_trusts(path), "refused: %s", why);
}
END_TEST

START_TEST(trust_refuses_group_or_world_writable_file)
{
	static const mode_t modes[] = { 0664, 0646, 0666, 0620 };
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	make_file(path, sizeof(path), dir, modes[_i]);
	ck_assert(!root_trusts(path));
	assert_why_has(path);
	assert_why_has("chmod go-w");
}
END_TEST

START_TEST(trust_refuses_file_not_owned_by_root)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	make_file(path, sizeof(path), dir, 0600);
	ck_assert_int_eq(chown(path, other_uid(), (gid_t)-1), 0);
	ck_assert(!root_trusts(path));
	assert_why_has("chown root");
}
END_TEST

START_TEST(trust_refuses_file_in_others_writable_directory)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	make_file(path, sizeof(path), dir, 0600);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert(!root_trusts(path));
	assert_why_has(dir);
	assert_why_has("chmod go-w");
	ck_assert_int_eq(chmod(dir, 0775), 0);
	ck_assert(!root_trusts(path));	/* the group, too */
}
END_TEST

START_TEST(trust_refuses_directory_owned_by_another_account)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	make_file(path, sizeof(path), dir, 0600);
	ck_assert_int_eq(chown(dir, other_uid(), (gid_t)-1), 0);
	ck_assert(!root_trusts(path));
	assert_why_has(dir);
	assert_why_has("owned by uid");
}
END_TEST

/* /tmp's rule: others may add names, not replace root's. */
START_TEST(trust_accepts_root_sticky_directory)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	make_file(path, sizeof(path), dir, 0600);
	ck_assert_int_eq(chmod(dir, 01777), 0);
	ck_assert_msg(root_trusts(path), "refused: %s", why);
}
END_TEST

START_TEST(trust_refuses_final_symbolic_link)
{
	char dir[PATH_MAX], path[PATH_MAX], link[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	make_file(path, sizeof(path), dir, 0600);
	unit_path(link, sizeof(link), dir, "link");
	ck_assert_int_eq(symlink("passwd", link), 0);
	ck_assert(!root_trusts(link));
	assert_why_has("symbolic link");
}
END_TEST

START_TEST(trust_follows_links_between_trusted_directories)
{
	char dir[PATH_MAX], sub[PATH_MAX], path[PATH_MAX], link[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(sub, sizeof(sub), dir, "real");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	make_file(path, sizeof(path), sub, 0600);
	unit_path(link, sizeof(link), dir, "etc");
	ck_assert_int_eq(symlink("real", link), 0);
	unit_path(path, sizeof(path), link, "passwd");
	ck_assert_msg(root_trusts(path), "refused: %s", why);
}
END_TEST

/* A root-owned link from a trusted directory into one others can write:
 * what counts is the directory the file is really in. */
START_TEST(trust_refuses_link_into_untrusted_directory)
{
	char dir[PATH_MAX], sub[PATH_MAX], path[PATH_MAX], link[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(sub, sizeof(sub), dir, "open");
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(chmod(sub, 0777), 0);
	make_file(path, sizeof(path), sub, 0600);
	unit_path(link, sizeof(link), dir, "etc");
	ck_assert_int_eq(symlink(sub, link), 0);
	unit_path(path, sizeof(path), link, "passwd");
	ck_assert(!root_trusts(path));
	assert_why_has(sub);
}
END_TEST

START_TEST(trust_refuses_fifo)
{
	char dir[PATH_MAX], path[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, sizeof(path), dir, "passwd");
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert(!root_trusts(path));	/* and does not hang */
	assert_why_has("not a regular file");
}
END_TEST

/* Pipe mode: the account pop3d runs as may own its files and their
 * directories; still nobody else may write them. */
START_TEST(trust_pipe_mode_accepts_own_files_only)
{
	char dir[PATH_MAX], path[PATH_MAX];
	uid_t me = other_uid();
	int fd;

	unit_tmpdir(dir, sizeof(dir));
	make_file(path, sizeof(path), dir, 0600);
	ck_assert_int_eq(chown(dir, me, (gid_t)-1), 0);
	ck_assert_int_eq(chown(path, me, (gid_t)-1), 0);
	fd = trust_open_for(path, me, why, sizeof(why));
	ck_assert_msg(fd >= 0, "refused: %s", why);
	close(fd);
	ck_assert_int_eq(chown(path, me + 1, (gid_t)-1), 0);
	ck_assert_int_lt(trust_open_for(path, me, why, sizeof(why)), 0);
	ck_assert_int_eq(chown(path, me, (gid_t)-1), 0);
	ck_assert_int_eq(chmod(path, 0660), 0);
	ck_assert_int_lt(trust_open_for(path, me, why, sizeof(why)), 0);
	assert_why_has("chmod go-w");
}
END_TEST

START_TEST(trust_relative_name_judges_current_directory)
{
	char dir[PATH_MAX], path[PATH_MAX], old[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	make_file(path, sizeof(path), dir, 0600);
	ck_assert_ptr_nonnull(getcwd(old, sizeof(old)));
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_msg(root_trusts("passwd"), "refused: %s", why);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert(!root_trusts("./passwd"));
	assert_why_has(dir);
	ck_assert_int_eq(chdir(old), 0);
}
END_TEST

/* --------------------------------------------------- the line checker */

struct seen {
	unsigned entries, notes;
	unsigned lineno[8];
	enum passwd_note kind[8];
	char why[8][64];
};

static void count_entry(void *arg, const char *line, const struct pw_entry *e)
{
	(void)line;
	(void)e;
	((struct seen *)arg)->entries++;
}

static void keep_note(void *arg, unsigned lineno, enum passwd_note kind,
    const char *text)
{
	struct seen *s = arg;

	ck_assert_uint_lt(s->notes, 8);
	s->lineno[s->notes] = lineno;
	s->kind[s->notes] = kind;
	snprintf(s->why[s->notes], sizeof(s->why[0]), "%s", text);
	s->notes++;
}

static void passwd_at(char *path, size_t size, const char *text, mode_t mode)
{
	char dir[PATH_MAX];

	unit_tmpdir(dir, sizeof(dir));
	unit_path(path, size, dir, "passwd");
	unit_write_str(path, text, mode);
}

/* The case: the user on line 2, a broken line 7 after it. */
START_TEST(scan_reports_malformed_line_after_the_user)
{
	struct seen s = { 0 };
	const struct passwd_visitor v = { count_entry, keep_note, &s };
	struct pw_entry *e = malloc(sizeof(*e));
	char path[PATH_MAX];

	ck_assert_ptr_nonnull(e);
	passwd_at(path, sizeof(path), "# users\nalice:$1$a$alice:10:10\n"
	    "bob:$1$b$bob\n#\n\ncarol:$1$c$c\ndave:$1$d$d:1x:10\n", 0600);
	ck_assert_int_eq(passwd_scan(path, &v), 0);
	ck_assert_uint_eq(s.entries, 3);
	ck_assert_uint_eq(s.notes, 1);
	ck_assert_uint_eq(s.lineno[0], 7);
	ck_assert_int_eq(s.kind[0], PASSWD_MALFORMED);
	ck_assert_str_eq(s.why[0], "bad uid field");
	/* The session reads the same way, and still finds alice. */
	ck_assert_int_eq(passwd_lookup(path, "alice", e, NULL), 1);
	ck_assert_uint_eq(e->lineno, 2);
	free(e);
}
END_TEST

START_TEST(scan_tells_every_kind_of_line_apart)
{
	struct seen s = { 0 };
	const struct passwd_visitor v = { count_entry, keep_note, &s };
	char path[PATH_MAX];

	passwd_at(path, sizeof(path), "nocolon\nfrank:{PLAIN}x\n"
	    "a/b:$1$a$a\nok:$1$o$o\n", 0600);
	ck_assert_int_eq(passwd_scan(path, &v), 0);
	ck_assert_uint_eq(s.entries, 2);	/* frank (locked) and ok */
	ck_assert_uint_eq(s.notes, 3);
	ck_assert_uint_eq(s.lineno[0], 1);
	ck_assert_int_eq(s.kind[0], PASSWD_MALFORMED);
	ck_assert_uint_eq(s.lineno[1], 2);
	ck_assert_int_eq(s.kind[1], PASSWD_LOCKED_SCHEME);
	ck_assert_uint_eq(s.lineno[2], 3);
	ck_assert_str_eq(s.why[2], "invalid user name");
}
END_TEST

/* The session's reader refuses what trust_open() refuses. */
START_TEST(lookup_refuses_writable_password_file)
{
	struct pw_entry *e = malloc(sizeof(*e));
	char path[PATH_MAX];

	ck_assert_ptr_nonnull(e);
	passwd_at(path, sizeof(path), "mallory:$1$m$m:1000:1000::::"
	    "mail=/var/mail/carol\n", 0666);
	ck_assert_int_eq(passwd_lookup(path, "mallory", e, NULL), -1);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(passwd_lookup(path, "mallory", e, NULL), 1);
	free(e);
}
END_TEST

Suite *trust_suite(void)
{
	Suite *s = suite_create("trust");
	TCase *tc;

	tc = tcase_create("trust_open");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, trust_root_file_in_root_directories);
	tcase_add_loop_test(tc, trust_refuses_group_or_world_writable_file, 0,
	    4);
	tcase_add_test(tc, trust_refuses_file_not_owned_by_root);
	tcase_add_test(tc, trust_refuses_file_in_others_writable_directory);
	tcase_add_test(tc, trust_refuses_directory_owned_by_another_account);
	tcase_add_test(tc, trust_accepts_root_sticky_directory);
	tcase_add_test(tc, trust_refuses_final_symbolic_link);
	tcase_add_test(tc, trust_follows_links_between_trusted_directories);
	tcase_add_test(tc, trust_refuses_link_into_untrusted_directory);
	tcase_add_test(tc, trust_refuses_fifo);
	tcase_add_test(tc, trust_pipe_mode_accepts_own_files_only);
	tcase_add_test(tc, trust_relative_name_judges_current_directory);
	suite_add_tcase(s, tc);

	tc = tcase_create("line_checker");
	tcase_add_unchecked_fixture(tc, unit_tmp_setup, unit_tmp_teardown);
	tcase_add_test(tc, scan_reports_malformed_line_after_the_user);
	tcase_add_test(tc, scan_tells_every_kind_of_line_apart);
	tcase_add_test(tc, lookup_refuses_writable_password_file);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * check_main.c - runs every unit-test suite of pop3d, and holds the
 * helpers the suites share (see unit.h).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "unit.h"

static char tmp_base[PATH_MAX];

void unit_tmp_setup(void)
{
	strcpy(tmp_base, "/tmp/pop3d-unit.XXXXXX");
	if (!mkdtemp(tmp_base)) {
		perror("mkdtemp");
		exit(1);
	}
	/* Session tests run as an unprivileged user, who must get in. */
	if (chmod(tmp_base, 0755) < 0) {
		perror("chmod");
		exit(1);
	}
}

static int rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

void unit_tmp_teardown(void)
{
	if (tmp_base[0])
		(void)nftw(tmp_base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmp_base[0] = '\0';
}

void unit_tmpdir(char *buf, size_t size)
{
	ck_assert_msg(tmp_base[0] != '\0', "no scratch base (fixture missing)");
	ck_assert_int_lt(snprintf(buf, size, "%s/t.XXXXXX", tmp_base),
	    (int)size);
	ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp: %s", strerror(errno));
	ck_assert_int_eq(chmod(buf, 0755), 0);
}

void unit_path(char *buf, size_t size, const char *dir, const char *name)
{
	ck_assert_int_lt(snprintf(buf, size, "%s/%s", dir, name), (int)size);
}

void unit_write_file(const char *path, const void *data, size_t len,
    mode_t mode)
{
	const char *p = data;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		ck_assert_msg(n > 0, "write %s: %s", path, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

void unit_write_str(const char *path, const char *text, mode_t mode)
{
	unit_write_file(path, text, strlen(text), mode);
}

char *unit_read_file(const char *path, size_t *len_r)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		ck_assert_msg(n > 0, "read %s: %s", path, strerror(errno));
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	if (len_r)
		*len_r = got;
	return buf;
}

/* Escapes bytes for a failure message, cut to a readable length. */
static void escape(char *dst, size_t size, const char *src, size_t len)
{
	size_t o = 0, i;

	for (i = 0; i < len && o + 8 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '\r')
			o += (size_t)snprintf(dst + o, size - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(dst + o, size - o, "\\n");
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x", c);
		else
			dst[o++] = (char)c;
	}
	if (i < len)
		o += (size_t)snprintf(dst + o, size - o, "...(%zu bytes)", len);
	dst[o] = '\0';
}

void unit_assert_bytes(const char *what, const char *got, size_t got_len,
    const char *want, size_t want_len)
{
	static char eg[1600], ew[1600];
	size_t i = 0;

	if (got_len == want_len && memcmp(got, want, got_len) == 0)
		return;
	while (i < got_len && i < want_len && got[i] == want[i])
		i++;
	/* Show the neighbourhood of the first difference. */
	{
		size_t from = i > 200 ? i - 200 : 0;

		escape(eg, sizeof(eg), got + from, got_len - from);
		escape(ew, sizeof(ew), want + from, want_len - from);
		ck_abort_msg("%s: differs at byte %zu (got %zu bytes, want "
		    "%zu) from byte %zu:\n got: %s\nwant: %s", what, i,
		    got_len, want_len, from, eg, ew);
	}
}

void unit_assert_same_index(const struct mbox_index *a,
    const struct mbox_index *b)
{
	ck_assert_uint_eq(a->count, b->count);
	ck_assert_uint_eq(a->scanned, b->scanned);
	for (size_t i = 0; i < a->count; i++) {
		const struct message *x = &a->msgs[i], *y = &b->msgs[i];

		ck_assert_uint_eq(x->from_off, y->from_off);
		ck_assert_uint_eq(x->data_off, y->data_off);
		ck_assert_uint_eq(x->data_len, y->data_len);
		ck_assert_uint_eq(x->size, y->size);
		ck_assert_mem_eq(x->hash, y->hash, 16);
		ck_assert_uint_eq(x->dup, y->dup);
		ck_assert_uint_eq(x->flags, y->flags);
	}
}

int main(void)
{
	SRunner *sr;
	int failed;

	log_init(1);
	sr = srunner_create(passwd_suite());
	srunner_add_suite(sr, apop_suite());
	srunner_add_suite(sr, sasl_suite());
	srunner_add_suite(sr, mbox_suite());
	srunner_add_suite(sr, uidlfmt_suite());
	srunner_add_suite(sr, utf8_suite());
	srunner_add_suite(sr, maildir_suite());
	srunner_add_suite(sr, maildir_cache_suite());
	srunner_add_suite(sr, session_suite());
	srunner_add_suite(sr, idxcache_suite());
	srunner_add_suite(sr, lock_suite());
	srunner_add_suite(sr, netio_suite());
	srunner_add_suite(sr, trust_suite());
	srunner_add_suite(sr, spool_suite());
	srunner_add_suite(sr, passdb_suite());
	srunner_add_suite(sr, pam_suite());
	srunner_add_suite(sr, checkpassword_suite());
	srunner_add_suite(sr, proxy_suite());
	srunner_add_suite(sr, config_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

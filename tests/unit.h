/*
 * unit.h - the Check suites of pop3d's unit tests, and the small helpers
 * they share (defined in check_main.c).
 */
#ifndef POP3D_UNIT_H
#define POP3D_UNIT_H

#include <check.h>
#include <stddef.h>
#include <sys/types.h>

Suite *passwd_suite(void);
Suite *apop_suite(void);
Suite *sasl_suite(void);
Suite *mbox_suite(void);
Suite *session_suite(void);
Suite *idxcache_suite(void);
Suite *lock_suite(void);
Suite *netio_suite(void);
Suite *trust_suite(void);
Suite *spool_suite(void);
Suite *passdb_suite(void);
Suite *pam_suite(void);
Suite *checkpassword_suite(void);
Suite *proxy_suite(void);
Suite *config_suite(void);
Suite *maildir_suite(void);
Suite *maildir_cache_suite(void);
Suite *uidlfmt_suite(void);
Suite *utf8_suite(void);

/*
 * Scratch space.  unit_tmp_setup/unit_tmp_teardown are an unchecked
 * fixture (they run in the runner process, once per TCase): a base
 * directory under /tmp that is removed with everything in it, even when
 * a test fails half-way.  unit_tmpdir makes a fresh directory (mode 0755)
 * inside it for one test.
 */
void unit_tmp_setup(void);
void unit_tmp_teardown(void);
void unit_tmpdir(char *buf, size_t size);

/* buf = dir "/" name; fails the test if it does not fit. */
void unit_path(char *buf, size_t size, const char *dir, const char *name);

/* Creates or replaces path with exactly len bytes, then sets mode. */
void unit_write_file(const char *path, const void *data, size_t len,
    mode_t mode);
/* Same for a NUL-terminated string. */
void unit_write_str(const char *path, const char *text, mode_t mode);

/* Reads a whole file into a NUL-terminated malloc'd buffer. */
char *unit_read_file(const char *path, size_t *len_r);

/* Fails the test, showing both byte strings escaped, unless they are
 * equal. */
void unit_assert_bytes(const char *what, const char *got, size_t got_len,
    const char *want, size_t want_len);
#define unit_assert_str(what, got, want) \
	unit_assert_bytes((what), (got), strlen(got), (want), strlen(want))

struct mbox_index;
/* Fails the test unless two indexes agree in every field (flags too). */
void unit_assert_same_index(const struct mbox_index *a,
    const struct mbox_index *b);

#endif

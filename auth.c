/*
 * auth.c - the login decision, the same for every back end: failure
 * answers, their deadline and limit, --first-uid, the log lines; crypt(3)
 * verification with libxcrypt; and APOP's shared secrets, which only the
 * APOP secrets file can verify (PAM and checkpassword see only a
 * password).
 *
 * Runs with the privileges pop3d was started with, before any switch to
 * the user: it must treat every byte from the client as hostile and must
 * not reveal, by answer or by timing, whether a user name exists.  So a
 * failed login is answered at a deadline that does not depend on the user
 * (README, "Equal answers, equal time"): the request time, plus the
 * growing delay, plus what the back end says a check costs, after the
 * same work for every user (passdb even_out()).
 */
#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <md5.h>

#include "proto.h"

const char auth_dummy_hash[] =
    "$y$j9T$F5Jx5fExrKuJdmBOQOuhA/$RT5Rqz7m4pRd0so/oOQ1jXSNgYYzA4TsUPgmK8MAjm4";

int auth_valid_username(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > MAX_USER_NAME)
		return 0;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* '/' would let %u climb out of the spool directory. */
		if (c <= 0x20 || c == 0x7f || c == ':' || c == '/')
			return 0;
	}
	/* Bytes above 0x7f only as UTF-8 (RFC 6856): never a NUL or '/'
	 * in disguise (an overlong form). */
	return utf8_valid(name, len);
}


/*
 * Compares len bytes in a time that depends on len only, as OpenSSL's
 * CRYPTO_memcmp() does: how long a comparison of hashes or digests takes
 * must not tell how many leading bytes were right.  The volatile reads
 * keep the compiler from ending the loop early.
 */
static int equal_ct(const void *a, const void *b, size_t len)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= (unsigned char)(x[i] ^ y[i]);
	return diff == 0;
}

int auth_check_hash(const char *hash, const char *password)
{
	struct crypt_data *cd;
	const char *out;
	size_t len;
	int ok = 0;

	/* crypt_data is about 32 KiB: too big for a careful stack. */
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return 0;
	out = crypt_rn(password, hash, cd, sizeof(*cd));
	if (out && out[0] != '*') {
		len = strlen(hash);
		if (strlen(out) == len && equal_ct(out, hash, len))
			ok = 1;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/* CLOCK_MONOTONIC now, in nanoseconds. */
long long auth_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ------------------------------------------------------------- APOP */

int apop_check_file(const char *file)
{
	struct stat st;
	int fd;

	fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		log_msg(LOG_ERR, "cannot open APOP secrets file %s: %s", file,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		log_msg(LOG_ERR, "APOP secrets file %s is not a regular file",
		    file);
		close(fd);
		return -1;
	}
	close(fd);
	/* Secrets are password equivalents (RFC 1939 section 13). */
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		log_msg(LOG_ERR, "APOP secrets file %s is accessible by group "
		    "or others; refusing to use it (chmod 600)", file);
		return -1;
	}
	return 0;
}

int apop_digest(const char *timestamp, const char *secret, char hex_r[33])
{
	static const char hexdigits[] = "0123456789abcdef";
	unsigned char md[MD5_DIGEST_LENGTH];
	size_t i;
	MD5_CTX ctx;

	/* RFC 1939 section 7: MD5 over the timestamp and the secret. */
	MD5Init(&ctx);
	MD5Update(&ctx, (const uint8_t *)timestamp, strlen(timestamp));
	MD5Update(&ctx, (const uint8_t *)secret, strlen(secret));
	MD5Final(md, &ctx);
	explicit_bzero(&ctx, sizeof(ctx));
	for (i = 0; i < 16; i++) {
		hex_r[2 * i] = hexdigits[md[i] >> 4];
		hex_r[2 * i + 1] = hexdigits[md[i] & 15];
	}
	hex_r[32] = '\0';
	explicit_bzero(md, sizeof(md));
	return 0;
}

/* Finds user's secret.  Returns 1 (copied to secret_r), 0, or -1. */
static int apop_secret(const char *file, const char *user, char *secret_r,
    size_t size)
{
	char buf[MAX_PASSWD_LINE + 2];
	size_t ulen = strlen(user), len;
	int found = 0, r;
	FILE *f;

	if (apop_check_file(file))
		return -1;
	f = fopen(file, "re");
	if (!f)
		return -1;
	/* To the end, as passwd_lookup() does: the time must not tell on
	 * which line the user is. */
	while ((r = conf_next_line(f, buf, sizeof(buf))) != 0) {
		if (r < 0)
			continue;	/* overlong: not a usable line */
		len = strlen(buf);
		if (found || buf[0] == '#' || strncmp(buf, user, ulen) ||
		    buf[ulen] != ':')
			continue;
		if (len - ulen - 1 >= size || buf[ulen + 1] == '\0')
			continue;
		strcpy(secret_r, buf + ulen + 1); /* NOLINT(*.strcpy) */
		found = 1;
	}
	explicit_bzero(buf, sizeof(buf));
	fclose(f);
	return found;
}

int apop_verify(const char *apop_file, const char *user,
    const char *timestamp, const char *digest)
{
	char secret[MAX_PASSWD_LINE], want[33], got[33];
	size_t i;
	int r, ok;

	if (strlen(digest) != 32)
		return 0;
	for (i = 0; i < 32; i++)
		got[i] = (char)tolower((unsigned char)digest[i]);
	got[32] = '\0';

	r = apop_secret(apop_file, user, secret, sizeof(secret));
	if (r < 0)
		return -1;
	if (r == 0)
		strcpy(secret, "\001no such user\001");
	/* The same digest work whether or not the user has a secret. */
	ok = apop_digest(timestamp, secret, want) == 0 &&
	    equal_ct(want, got, 32) && r == 1;
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(want, sizeof(want));
	return ok;
}

/* HMAC-MD5 (RFC 2104) of msg keyed with key, as RFC 2195 uses it. */
static void hmac_md5(const char *key, const char *msg, uint8_t out[16])
{
	uint8_t k[64], pad[64], inner[16];
	size_t klen = strlen(key), i;
	MD5_CTX ctx;

	memset(k, 0, sizeof(k));
	if (klen > sizeof(k)) {
		MD5Init(&ctx);
		MD5Update(&ctx, (const uint8_t *)key, klen);
		MD5Final(k, &ctx);
	} else {
		/* A key block, not a string: zero-padded, no NUL needed. */
		/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
		memcpy(k, key, klen);
	}
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	MD5Init(&ctx);
	MD5Update(&ctx, pad, 64);
	MD5Update(&ctx, (const uint8_t *)msg, strlen(msg));
	MD5Final(inner, &ctx);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	MD5Init(&ctx);
	MD5Update(&ctx, pad, 64);
	MD5Update(&ctx, inner, 16);
	MD5Final(out, &ctx);
	explicit_bzero(k, sizeof(k));
	explicit_bzero(pad, sizeof(pad));
	explicit_bzero(inner, sizeof(inner));
	explicit_bzero(&ctx, sizeof(ctx));
}

int cram_digest(const char *challenge, const char *secret, char hex_r[33])
{
	uint8_t mac[16];
	size_t i;

	hmac_md5(secret, challenge, mac);
	for (i = 0; i < 16; i++)
		snprintf(hex_r + 2 * i, 3, "%02x", mac[i]);
	explicit_bzero(mac, sizeof(mac));
	return 0;
}

int cram_verify(const char *apop_file, const char *user,
    const char *challenge, const char *digest)
{
	char secret[MAX_PASSWD_LINE], want[33];
	int r, ok;

	if (strlen(digest) != 32)
		return 0;
	r = apop_secret(apop_file, user, secret, sizeof(secret));
	if (r < 0)
		return -1;
	if (r == 0)
		strcpy(secret, "\001no such user\001");
	/* The same work whether or not the user has a secret. */
	ok = cram_digest(challenge, secret, want) == 0 &&
	    equal_ct(want, digest, 32) && r == 1;
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(want, sizeof(want));
	return ok;
}

int auth_apop(const char *apop_file, const char *passwd_file,
    const char *user, const char *timestamp, const char *digest,
    struct pw_entry *e_r, struct hash_costs *costs_r)
{
	int ok, r;

	ok = apop_verify(apop_file, user, timestamp, digest);
	if (ok < 0)
		return -1;
	/* Read whatever the digest: the hash costs, and the same work. */
	r = passwd_lookup(passwd_file, user, e_r, costs_r);
	if (r < 0)
		return -1;
	if (!ok)
		return 0;
	if (r == 0) {
		log_msg(LOG_WARNING, "APOP secret without a password file "
		    "entry for this user");
		return 0;
	}
	return e_r->locked ? 0 : 1;
}

/* ------------------------------------------------ the login decision */

long auth_fail_delay_ms(int failures)
{
	long ms = AUTH_FAIL_DELAY_MS;

	/* Doubles with every failure: guessing gets slower and slower. */
	while (--failures > 0 && ms < AUTH_FAIL_DELAY_MAX_MS)
		ms *= 2;
	return ms;
}

void auth_fail_deadline(const struct timespec *start, int failures,
    long long slow_ns, struct timespec *deadline_r)
{
	long long ns = (long long)auth_fail_delay_ms(failures) * 1000000LL +
	    (slow_ns > 0 ? slow_ns : 0) + start->tv_nsec;

	deadline_r->tv_sec = start->tv_sec + (time_t)(ns / 1000000000LL);
	deadline_r->tv_nsec = (long)(ns % 1000000000LL);
}

/*
 * Sleeps to the deadline, never waking sooner: an absolute
 * clock_nanosleep(2) returns at the deadline whatever interrupts it, and
 * at once if it has passed.  That is logged: the machine was too busy to
 * do the work in time, and this answer comes late.
 */
static void sleep_until(const struct timespec *deadline)
{
	struct timespec now;
	long long late;

	clock_gettime(CLOCK_MONOTONIC, &now);
	late = ((long long)now.tv_sec - deadline->tv_sec) * 1000000000LL +
	    (now.tv_nsec - deadline->tv_nsec);
	if (late > 0)
		log_msg(LOG_WARNING, "failed login: the work took %lld ms past "
		    "the answer's deadline (machine busy); answered late",
		    late / 1000000);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline,
	    NULL) == EINTR)
		;
}

/* What a failed login was, for the log line. */
static const char *kind_name(int kind)
{
	switch (kind) {
	case CRED_PASS:
		return "PASS";
	case CRED_PLAIN:
		return "AUTH PLAIN";
	case CRED_LOGIN:
		return "AUTH LOGIN";
	case CRED_CRAM:
		return "AUTH CRAM-MD5";
	default:
		return "APOP";
	}
}

/*
 * An account the back end accepted but that must never be served: uid 0,
 * or a system account below --first-uid.  Refused like a wrong password,
 * with the same work and the same time: a different answer would make
 * pop3d an oracle for the passwords of root and the system accounts.
 * Returns the reason, or NULL to serve it.
 */
static const char *refused_account(const struct config *cfg,
    const struct pw_entry *e, char *buf, size_t size)
{
	if (!e->has_ids)
		return NULL;	/* served as pop3d's own uid, checked there */
	if (e->uid == 0) {
		snprintf(buf, size, "account maps to uid 0");
		return buf;
	}
	if ((unsigned long)e->uid < cfg->first_uid) {
		snprintf(buf, size, "uid %lu is below --first-uid %lu",
		    (unsigned long)e->uid, cfg->first_uid);
		return buf;
	}
	return NULL;
}

int auth_check_login(const struct config *cfg, int kind, const char *user,
    const char *secret, const char *timestamp, struct pw_entry *e_r,
    int *failures)
{
	const struct passdb *db = cfg->passdb ? cfg->passdb : &passdb_file;
	char name[MAX_USER_NAME + 4], why_buf[96];
	struct passdb_request rq = {
		.kind = kind,
		/* An invalid name costs the same work and gets the same
		 * answer as an unknown one: "" is in no back end. */
		.user = auth_valid_username(user) ? user : "",
		.password = kind == CRED_APOP || kind == CRED_CRAM ? NULL :
		    secret,
		.remote_ip = cfg->remote_ip,
		.local_ip = cfg->local_ip,
	};
	const char *why = NULL;
	struct timespec start, deadline;
	long long slow, t0;
	void *work;
	int r, apop_ok = 1;

	if (*failures >= MAX_AUTH_FAILURES)
		return 2;	/* no more guesses in this session */
	/* The request's time, on this process's clock: in root mode the
	 * parent's, so the pre-login process cannot move the deadline. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	t0 = auth_now_ns();
	work = calloc(1, db->work_size ? db->work_size : 1);
	if (!work) {
		log_msg(LOG_ERR, "out of memory");
		return -1;
	}
	if (kind == CRED_APOP || kind == CRED_CRAM) {
		/* Only the secrets file can check a digest; the back end
		 * is asked for the account whatever the digest, for the
		 * same work.  CRAM-MD5's challenge is the APOP timestamp. */
		apop_ok = cfg->apop_file && timestamp && timestamp[0] &&
		    db->can_lookup ? (kind == CRED_APOP ?
		    apop_verify(cfg->apop_file, rq.user, timestamp, secret) :
		    cram_verify(cfg->apop_file, rq.user, timestamp, secret)) :
		    0;
		if (apop_ok < 0) {
			free(work);
			return -1;
		}
	}
	r = db->verify(cfg, &rq, e_r, work, &why);
	if (r == PASSDB_OK && !apop_ok) {
		r = PASSDB_FAIL;
		why = kind == CRED_APOP ? "wrong APOP digest" :
		    "wrong CRAM-MD5 digest";
	} else if (r != PASSDB_OK && (kind == CRED_APOP ||
	    kind == CRED_CRAM) && apop_ok &&
	    r == PASSDB_FAIL) {
		log_msg(LOG_WARNING, "APOP secret without a usable %s account "
		    "for this user", db->name);
	}
	if (r == PASSDB_OK)
		why = refused_account(cfg, e_r, why_buf, sizeof(why_buf));
	if (r == PASSDB_OK && !why) {
		free(work);
		return 1;	/* accepted, answered at once */
	}
	if (r == PASSDB_OK) {
		/* Nothing of the account may be used from here on. */
		explicit_bzero(e_r, sizeof(*e_r));
		r = PASSDB_FAIL;
	}
	if (r != PASSDB_FAIL) {
		/* The back end could not tell (logged): whoever asks. */
		free(work);
		return -1;
	}
	log_escape(name, sizeof(name), user, strlen(user));
	log_msg(LOG_NOTICE, "%s failed for user=%s auth=%s%s%s", kind_name(kind),
	    name, db->name, why ? ": " : "", why ? why : "");
	slow = db->even_out(cfg, &rq, work, auth_now_ns() - t0);
	explicit_bzero(work, db->work_size ? db->work_size : 1);
	free(work);
	auth_fail_deadline(&start, ++*failures, slow, &deadline);
	sleep_until(&deadline);
	return *failures >= MAX_AUTH_FAILURES ? 2 : 0;
}

int auth_local_check(void *ctx, int kind, const char *user,
    const char *secret, const char *timestamp, struct pw_entry *e_r)
{
	struct auth_local *al = ctx;

	return auth_check_login(al->cfg, kind, user, secret, timestamp, e_r,
	    &al->failures);
}

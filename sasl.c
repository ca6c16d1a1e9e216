/*
 * sasl.c - the SASL mechanisms of AUTH (RFC 5034) through GNU SASL: which
 * mechanisms are offered when, and one exchange's steps from the client's
 * base64 lines to the credentials the session's checker is asked about.
 *
 * Runs where the session runs: in root mode in the unprivileged, chrooted
 * pre-login process.  So no mechanism here ever holds a stored secret:
 * PLAIN and LOGIN pass the password the client sent to the checker (in
 * root mode the privileged parent), and CRAM-MD5 passes the client's
 * digest of the session's challenge, which only the parent can verify
 * (auth.c, cram_verify()).  GNU SASL is initialised once, before the
 * chroot and the seccomp filter (sasl_init()); after that it opens no
 * files: base64, PLAIN's parsing and SASLprep are computation only.
 */
#include <gsasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "proto.h"

static Gsasl *gsasl_ctx;

/* The draft-murchison-sasl-login challenges, as Outlook and Thunderbird
 * expect them (GNU SASL's own LOGIN server says "User Name"). */
#define LOGIN_USER_CHALLENGE	"Username:"
#define LOGIN_PASS_CHALLENGE	"Password:"

/* Each mechanism: its name and what it needs to be offered. */
static const struct sasl_mech mechs[] = {
	{ "PLAIN", CRED_PLAIN, SASL_NEEDS_PLAINTEXT },
	{ "LOGIN", CRED_LOGIN, SASL_NEEDS_PLAINTEXT },
	{ "CRAM-MD5", CRED_CRAM, SASL_NEEDS_CHALLENGE },
	{ NULL, 0, 0 }
};

/* GNU SASL's callback: PLAIN's credentials, parsed and SASLprep'ed by it,
 * go to the session's checker. */
static int gsasl_cb(Gsasl *ctx, Gsasl_session *gs, Gsasl_property prop)
{
	struct sasl_exchange *x = gsasl_session_hook_get(gs);
	const char *authid, *authzid, *pass;

	(void)ctx;
	if (prop != GSASL_VALIDATE_SIMPLE || !x)
		return GSASL_NO_CALLBACK;
	authid = gsasl_property_fast(gs, GSASL_AUTHID);
	authzid = gsasl_property_fast(gs, GSASL_AUTHZID);
	pass = gsasl_property_fast(gs, GSASL_PASSWORD);
	if (!authid || !pass || !*authid || !*pass ||
	    strlen(authid) > SASL_MAX_FIELD || strlen(pass) > SASL_MAX_FIELD) {
		x->status = SASL_MALFORMED;
		return GSASL_AUTHENTICATION_ERROR;
	}
	sasl_set_user(x, authid);
	/* Acting as another user (proxy login) is not offered. */
	if (authzid && *authzid && strcmp(authzid, authid)) {
		x->status = SASL_PROXY;
		return GSASL_AUTHENTICATION_ERROR;
	}
	x->result = x->check(x->check_ctx, x->mech->kind, x->user, pass);
	x->status = SASL_CHECKED;
	return x->result == 1 ? GSASL_OK : GSASL_AUTHENTICATION_ERROR;
}

int sasl_init(void)
{
	int r;

	if (gsasl_ctx)
		return 0;
	r = gsasl_init(&gsasl_ctx);
	if (r != GSASL_OK) {
		log_msg(LOG_ERR, "GNU SASL: %s", gsasl_strerror(r));
		gsasl_ctx = NULL;
		return -1;
	}
	gsasl_callback_set(gsasl_ctx, gsasl_cb);
	return 0;
}

const struct sasl_mech *sasl_find(const char *name)
{
	const struct sasl_mech *m;

	for (m = mechs; m->name; m++)
		if (!strcasecmp(m->name, name))
			return m;
	return NULL;
}

int sasl_offered(const struct sasl_mech *m, int plaintext_ok,
    int have_challenge)
{
	if (m->needs == SASL_NEEDS_PLAINTEXT)
		return plaintext_ok;
	return have_challenge;
}

size_t sasl_list(char *buf, size_t size, int plaintext_ok,
    int have_challenge)
{
	const struct sasl_mech *m;
	size_t o = 0;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	for (m = mechs; m->name; m++) {
		size_t len = strlen(m->name);

		if (!sasl_offered(m, plaintext_ok, have_challenge))
			continue;
		if (o + (o ? 1 : 0) + len >= size)
			break;
		if (o)
			buf[o++] = ' ';
		memcpy(buf + o, m->name, len + 1);
		o += len;
	}
	return o;
}

void sasl_set_user(struct sasl_exchange *x, const char *name)
{
	size_t len = strlen(name);

	if (len > MAX_USER_ARG)
		len = MAX_USER_ARG;
	memcpy(x->user, name, len);
	x->user[len] = '\0';
}

long sasl_decode(const char *in, char *out, size_t size)
{
	char *dec = NULL;
	size_t len = 0;

	/* RFC 5034 section 4: "=" is an empty response. */
	if (!strcmp(in, "="))
		return 0;
	if (!*in)
		return 0;	/* an empty line after "+ ": the same */
	if (gsasl_base64_from(in, strlen(in), &dec, &len) != GSASL_OK)
		return -1;
	if (len >= size) {
		explicit_bzero(dec, len);
		free(dec);
		return -1;
	}
	memcpy(out, dec, len);
	out[len] = '\0';
	explicit_bzero(dec, len);
	free(dec);
	return (long)len;
}

int sasl_encode(const char *in, char *out, size_t size)
{
	char *enc = NULL;
	size_t len = 0;
	int ok;

	if (gsasl_base64_to(in, strlen(in), &enc, &len) != GSASL_OK)
		return -1;
	ok = len < size;
	if (ok)
		memcpy(out, enc, len + 1);
	free(enc);
	return ok ? 0 : -1;
}

int sasl_start(struct sasl_exchange *x, const struct sasl_mech *m,
    const char *challenge, sasl_check_fn check, void *check_ctx)
{
	Gsasl_session *gs = NULL;

	memset(x, 0, sizeof(*x));
	x->mech = m;
	x->challenge = challenge;
	x->check = check;
	x->check_ctx = check_ctx;
	if (m->kind != CRED_PLAIN)
		return 0;
	if (sasl_init() < 0 ||
	    gsasl_server_start(gsasl_ctx, "PLAIN", &gs) != GSASL_OK)
		return -1;
	gsasl_session_hook_set(gs, x);
	x->gs = gs;
	return 0;
}

void sasl_finish(struct sasl_exchange *x)
{
	if (x->gs)
		gsasl_finish((Gsasl_session *)x->gs);
	x->gs = NULL;
	explicit_bzero(x->pass, sizeof(x->pass));
}

/* PLAIN: GNU SASL parses "[authzid] NUL authcid NUL passwd" (RFC 4616)
 * and calls gsasl_cb() with it. */
static enum sasl_status step_plain(struct sasl_exchange *x, const char *in,
    size_t len)
{
	char *out = NULL;
	size_t outlen = 0;
	int r;

	/* An empty response holds no credentials (GNU SASL would ask
	 * again). */
	if (len == 0)
		return SASL_MALFORMED;
	x->status = SASL_MALFORMED;
	r = gsasl_step((Gsasl_session *)x->gs, in, len, &out, &outlen);
	free(out);
	if (x->status == SASL_CHECKED || x->status == SASL_PROXY)
		return x->status;
	if (r == GSASL_MALLOC_ERROR)
		return SASL_ERROR;
	/* GSASL_MECHANISM_PARSE_ERROR, GSASL_SASLPREP_ERROR, or fields
	 * gsasl_cb() refused. */
	return SASL_MALFORMED;
}

/* LOGIN: the user name, then the password, each its own response. */
static enum sasl_status step_login(struct sasl_exchange *x, const char *in,
    size_t len, const char **challenge_r)
{
	if (x->step == 0) {
		x->step = 1;
		if (!in) {
			*challenge_r = LOGIN_USER_CHALLENGE;
			return SASL_MORE;
		}
	}
	if (x->step == 1) {
		if (len == 0 || strlen(in) != len || len > SASL_MAX_FIELD)
			return SASL_MALFORMED;
		sasl_set_user(x, in);
		x->step = 2;
		*challenge_r = LOGIN_PASS_CHALLENGE;
		return SASL_MORE;
	}
	if (len == 0 || strlen(in) != len || len > SASL_MAX_FIELD)
		return SASL_MALFORMED;
	memcpy(x->pass, in, len + 1);
	x->result = x->check(x->check_ctx, CRED_LOGIN, x->user, x->pass);
	explicit_bzero(x->pass, sizeof(x->pass));
	return SASL_CHECKED;
}

/* CRAM-MD5 (RFC 2195): the challenge, then "user SP digest", the digest
 * 32 lower-case hex digits of HMAC-MD5 keyed with the secret. */
static enum sasl_status step_cram(struct sasl_exchange *x, const char *in,
    size_t len, const char **challenge_r)
{
	const char *sp;
	size_t i, ulen;

	if (x->step == 0) {
		/* The mechanism begins with the server's challenge: an
		 * initial response cannot be an answer to it. */
		if (in)
			return SASL_MALFORMED;
		x->step = 1;
		*challenge_r = x->challenge;
		return SASL_MORE;
	}
	/* The last space: a user name may hold spaces, a digest not. */
	sp = len ? strrchr(in, ' ') : NULL;
	if (!sp || strlen(in) != len || sp == in || strlen(sp + 1) != 32 ||
	    (size_t)(sp - in) > SASL_MAX_FIELD)
		return SASL_MALFORMED;
	for (i = 1; i <= 32; i++)
		if (!strchr("0123456789abcdef", sp[i]))
			return SASL_MALFORMED;
	memcpy(x->pass, sp + 1, 33);
	ulen = (size_t)(sp - in) > MAX_USER_ARG ? MAX_USER_ARG :
	    (size_t)(sp - in);
	memcpy(x->user, in, ulen);
	x->user[ulen] = '\0';
	x->result = x->check(x->check_ctx, CRED_CRAM, x->user, x->pass);
	explicit_bzero(x->pass, sizeof(x->pass));
	return SASL_CHECKED;
}

enum sasl_status sasl_step(struct sasl_exchange *x, const char *in,
    char *challenge_r, size_t size)
{
	char buf[MAX_SASL_LINE];
	const char *challenge = "";
	enum sasl_status st;
	long len = 0;

	challenge_r[0] = '\0';
	if (in) {
		len = sasl_decode(in, buf, sizeof(buf));
		if (len < 0)
			return SASL_BAD_B64;
	}
	switch (x->mech->kind) {
	case CRED_PLAIN:
		if (!in) {
			/* The empty challenge: the client sends it all. */
			x->step = 1;
			return SASL_MORE;
		}
		st = step_plain(x, buf, (size_t)len);
		break;
	case CRED_LOGIN:
		st = step_login(x, in ? buf : NULL, (size_t)len, &challenge);
		break;
	default:
		st = step_cram(x, in ? buf : NULL, (size_t)len, &challenge);
		break;
	}
	explicit_bzero(buf, sizeof(buf));
	if (st == SASL_MORE && *challenge &&
	    sasl_encode(challenge, challenge_r, size) < 0)
		return SASL_ERROR;
	return st;
}

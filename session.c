/*
 * session.c - one POP3 session: the AUTHORIZATION and TRANSACTION states
 * of RFC 1939, their command tables, and every text the client can see.
 *
 * Starts with the privileges pop3d was given.  After a successful login
 * it switches to the user's ids (when started as root) before it touches
 * the maildrop, and never serves mail as uid 0.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

/* Every response text in one place.  Codes per RFC 2449 and RFC 3206. */
#define R_GREETING	"+OK POP3 server ready"
#define R_BYE		"+OK pop3d signing off"
#define R_USER_OK	"+OK send PASS"
#define R_AUTH_FAIL	"-ERR [AUTH] authentication failed"
#define R_AUTH_LIMIT	"-ERR [AUTH] too many failures, closing connection"
#define R_NEED_USER	"-ERR give USER first"
#define R_NO_APOP	"-ERR APOP not available"
#define R_IN_USE	"-ERR [IN-USE] maildrop is locked by another program"
#define R_SESSION_BUSY	"-ERR [IN-USE] another POP3 session is using " \
			"this maildrop"
#define R_SYS_PERM	"-ERR [SYS/PERM] maildrop cannot be served; " \
			"contact the administrator"
#define R_SYS_TEMP	"-ERR [SYS/TEMP] temporary failure, try again later"
#define R_CHANGED	"-ERR [SYS/TEMP] maildrop changed by another " \
			"program; closing, nothing deleted"
#define R_UPDATE_FAIL	"-ERR [SYS/TEMP] deleted messages not removed"
#define R_UNKNOWN	"-ERR unknown command"
#define R_WRONG_STATE	"-ERR command not valid in this state"
#define R_SYNTAX	"-ERR syntax error"
#define R_TOO_LONG	"-ERR line too long"
#define R_TOO_MANY_BAD	"-ERR too many bad commands, closing connection"
#define R_DELETED	"-ERR message already deleted"
#define R_GONE		"-ERR message was removed by another program"
#define R_BAD_LINES	"-ERR invalid line count"
#define R_NOOP		"+OK nothing done"
#define R_STLS_GO	"+OK begin TLS negotiation"
#define R_STLS_NONE	"-ERR STLS not available"
#define R_STLS_AGAIN	"-ERR TLS is already active"
#define R_STLS_UTF8	"-ERR STLS is not allowed after UTF8"
#define R_UTF8_OK	"+OK UTF-8 mode on; messages are sent unmodified"
#define R_UTF8_LATE	"-ERR UTF8 is allowed only before login"
#define R_UTF8_BAD_USER	"-ERR user name is not valid UTF-8 or not allowed"
#define R_UTF8_BAD_PASS	"-ERR password is not valid UTF-8 or not allowed"
#define R_NEED_TLS	"-ERR plaintext login only over TLS: use STLS first"
#define R_NO_PLAIN	"-ERR plaintext login is disabled; use APOP"
#define R_AUTH_MECH	"-ERR unsupported authentication mechanism"
#define R_AUTH_CANCEL	"-ERR authentication cancelled"
#define R_AUTH_B64	"-ERR invalid base64 in authentication data"
#define R_AUTH_SYNTAX_FMT "-ERR [AUTH] malformed %s credentials"
#define R_TOO_MUCH_INPUT "-ERR too much input before login, closing " \
			"connection"

enum state { ST_AUTH, ST_TRANS };

/* What a handler tells the loop. */
enum outcome {
	GO_ON,		/* command handled (success or -ERR) */
	BAD,		/* a bad command: counts toward the limit */
	END_OK,		/* end the session, exit status 0 */
	END_FAIL,	/* end the session, exit status 1 */
	END_HANDOFF	/* pre-login process: the login passed to the parent */
};

struct session {
	const struct config *cfg;
	struct netio io;
	enum state state;
	char user[MAX_USER_ARG + 1];	/* as given, cut to MAX_USER_ARG */
	int have_user;		/* a USER was accepted and PASS may follow */
	int utf8;		/* the client sent UTF8 (RFC 6856) */
	char timestamp[MAX_TIMESTAMP];	/* APOP, "" when off */
	const struct login_checker *lc;	/* who checks logins */
	int tls_relayed;	/* the client's TLS is relayed to us (privsep):
				 * its enum tls_version, TLSV_NONE if not */
	int dropped_privileges;
	int login_kind;		/* CRED_ of the accepted login, 0 before */
	struct pw_entry pw;
	struct maildrop md;
	struct session_stats st;	/* the counts for the logout line */
	int end;		/* an enum session_end, -1 not yet known */
	int proxy_logged;	/* a PROXY header from this peer was logged */
	int v2_sig_lines;	/* how many of the session's first lines are
				 * a PROXY v2 signature's; -1: they are not */
};

static enum outcome start_transaction(struct session *s);

struct command {
	const char *name;
	int min_args, max_args;	/* counted with the keyword */
	int takes_rest;		/* the one argument is the rest of the line */
	enum outcome (*handler)(struct session *s, int argc, char **argv);
};

static int reply(struct session *s, const char *text)
{
	return io_printf(&s->io, "%s\r\n", text);
}

/* The noun after a count the client reads: "1 message", "2 messages". */
static const char *messages(size_t n)
{
	return n == 1 ? "message" : "messages";
}

/* "+OK maildrop has N messages (M octets)": after login and RSET. */
static void reply_maildrop(struct session *s)
{
	io_printf(&s->io, "+OK maildrop has %zu %s (%llu octets)\r\n",
	    s->md.live_count, messages(s->md.live_count),
	    (unsigned long long)s->md.live_size);
}

/* ------------------------------------------------------- small parsers */

long parse_msgnum(const char *arg, size_t count, const char **why_r)
{
	unsigned long long v = 0;
	const char *p;

	if (*arg == '\0') {
		*why_r = "-ERR message number required";
		return -1;
	}
	for (p = arg; *p; p++) {
		if (*p < '0' || *p > '9') {
			*why_r = "-ERR invalid message number";
			return -1;
		}
		/* Stop before it can wrap into a valid-looking number. */
		if (v > (unsigned long long)MAX_MAILBOX_MESSAGES) {
			*why_r = "-ERR no such message";
			return -1;
		}
		v = v * 10 + (unsigned long long)(*p - '0');
	}
	if (v == 0) {
		*why_r = "-ERR messages are counted from 1";
		return -1;
	}
	if (v > count) {
		*why_r = "-ERR no such message";
		return -1;
	}
	return (long)(v - 1);
}

/* A non-negative decimal line count for TOP; huge values mean "all". */
static int parse_lines(const char *arg, long *lines_r)
{
	long v = 0;

	if (*arg == '\0')
		return -1;
	for (; *arg; arg++) {
		if (*arg < '0' || *arg > '9')
			return -1;
		if (v < 1000000000L)
			v = v * 10 + (*arg - '0');
	}
	*lines_r = v;
	return 0;
}

int expand_mailbox(const char *template, const struct pw_entry *e,
    char *buf, size_t size)
{
	size_t o = 0;
	const char *p, *add;

	for (p = template; *p; p++) {
		char one[2] = { *p, '\0' };

		add = one;
		if (*p == '%') {
			switch (p[1]) {
			case 'u':
				add = e->name;
				break;
			case 'h':
				if (!e->home[0])
					return -1;
				add = e->home;
				break;
			case '%':
				add = "%";
				break;
			default:
				return -1;	/* unknown escape: a config bug */
			}
			p++;
		}
		if (strlen(add) >= size - o)
			return -1;
		memcpy(buf + o, add, strlen(add));
		o += strlen(add);
	}
	if (o == 0)
		return -1;
	buf[o] = '\0';
	return 0;
}

/* Looks up a message argument that must name a live message. */
static long live_msg(struct session *s, const char *arg)
{
	const char *why;
	long n = parse_msgnum(arg, s->md.count, &why);

	if (n < 0) {
		reply(s, why);
		return -1;
	}
	if (maildrop_is_deleted(&s->md, (size_t)n)) {
		reply(s, R_DELETED);
		return -1;
	}
	return n;
}

/*
 * The client's input ended other than with a line (IO_EOF, IO_TIMEOUT,
 * IO_LIMIT, IO_ERROR): notes why, for the logout line, and ends the
 * session.  Wherever the session reads, it ends the same way.
 */
static enum outcome input_ended(struct session *s, enum io_status r)
{
	switch (r) {
	case IO_LIMIT:
		/* Only set before login (session_loop). */
		log_msg(LOG_NOTICE, "too much input before login (more than "
		    "%u bytes); closing the connection",
		    (unsigned)MAX_PRELOGIN_INPUT);
		reply(s, R_TOO_MUCH_INPUT);
		s->end = SEND_FLOOD;
		break;
	case IO_TIMEOUT:
		/* RFC 1939 section 3: close without a response and
		 * without UPDATE. */
		s->end = SEND_TIMEOUT;
		break;
	case IO_EOF:
		s->end = SEND_EOF;
		break;
	default:
		/* A stalled client is logged as such (netio.c). */
		if (io_interrupted) {
			s->end = SEND_SIGNAL;
		} else if (s->io.stalled) {
			s->end = SEND_STALLED;
		} else {
			log_msg(LOG_NOTICE, "connection error: %s",
			    strerror(errno));
			s->end = SEND_LOST;
		}
		break;
	}
	return END_OK;
}

/* ---------------------------------------------------------- login */

/*
 * Checks credentials through the session's checker: here, or through the
 * privileged parent when this is the pre-login process.  Failures are
 * counted and delayed by whoever checks.  Returns 1 (accepted; s->pw
 * filled unless the login is handed over), 0 (refused), 2 (refused, and
 * the failure limit is reached), -1 (system error).
 */
static int check_credentials(struct session *s, int kind, const char *user,
    const char *secret)
{
	if (!s->lc)
		return -1;
	return s->lc->check(s->lc->ctx, kind, user, secret, s->timestamp,
	    &s->pw);
}

/* After check_credentials(): the answer, and the login or the handoff. */
static enum outcome login_result(struct session *s, int kind, int r)
{
	switch (r) {
	case 1:
		break;
	case 0:
		reply(s, R_AUTH_FAIL);
		return GO_ON;
	case 2:
		/* Its own line: the failures it ends are logged each, but
		 * this is what a tool watching for guessers waits for. */
		log_msg(LOG_NOTICE, "too many authentication failures (%d); "
		    "closing the connection", MAX_AUTH_FAILURES);
		reply(s, R_AUTH_LIMIT);
		s->end = SEND_LIMIT;
		return END_OK;
	default:
		reply(s, R_SYS_TEMP);
		return GO_ON;
	}
	s->login_kind = kind;
	if (!s->lc || !s->lc->handoff)
		return start_transaction(s);
	/* The parent continues the session as the user; it needs what the
	 * client already sent behind the login (pipelining). */
	if (io_flush(&s->io) < 0 ||
	    s->lc->handoff(s->lc->ctx, s->io.in + s->io.in_start,
	    s->io.in_end - s->io.in_start, s->io.tls) < 0)
		return END_FAIL;
	return END_HANDOFF;
}

/* The gid of the configured mail group, or -1 for none (or if it is the
 * user's own group anyway). */
static gid_t privileged_group(const struct config *cfg, gid_t user_gid)
{
	struct group *gr;

	if (!cfg->mail_group || !*cfg->mail_group)
		return (gid_t)-1;
	gr = getgrnam(cfg->mail_group);
	if (!gr) {
		log_msg(LOG_WARNING, "mail group %s does not exist; lock files "
		    "in a group-writable spool cannot be created",
		    cfg->mail_group);
		return (gid_t)-1;
	}
	return gr->gr_gid == user_gid ? (gid_t)-1 : gr->gr_gid;
}

/* Switches to the entry's ids when we run as root.  Returns 0 or -1. */
static int become_user(struct session *s)
{
	const struct pw_entry *e = &s->pw;
	gid_t priv;

	if (geteuid() != 0) {
		/* Not root: we serve as whoever started us, and an entry
		 * that names other ids cannot be honoured. */
		if (e->has_ids && (e->uid != geteuid() || e->gid != getegid())) {
			log_msg(LOG_ERR, "user %s needs uid %lu but pop3d runs "
			    "as uid %lu", e->name, (unsigned long)e->uid,
			    (unsigned long)geteuid());
			return -1;
		}
		return 0;
	}
	if (!e->has_ids) {
		log_msg(LOG_ERR, "user %s has no uid/gid in the password file;"
		    " refusing to serve mail as root", e->name);
		return -1;
	}
	if (e->uid == 0) {
		log_msg(LOG_ERR, "user %s maps to uid 0; refused", e->name);
		return -1;
	}
	s->dropped_privileges = 1;
	/* The privileged group stays only as the saved set-group-ID, and
	 * only until the maildrop's directory is opened: spool_open()
	 * drops it for good unless that directory needs it, and then it is
	 * effective only around name operations there (spool.c). */
	priv = privileged_group(s->cfg, e->gid);
	if (setgroups(1, &e->gid) < 0 ||
	    setresgid(e->gid, e->gid, priv == (gid_t)-1 ? e->gid : priv) < 0 ||
	    setresuid(e->uid, e->uid, e->uid) < 0) {
		log_msg(LOG_ERR, "cannot switch to uid %lu: %s",
		    (unsigned long)e->uid, strerror(errno));
		return -1;
	}
	spool_set_group(priv);
	if (setuid(0) == 0 || geteuid() == 0) {
		log_msg(LOG_CRIT, "privileges could be regained; aborting");
		return -1;
	}
	return 0;
}

/* Opens the maildrop after a successful authentication. */
static enum outcome start_transaction(struct session *s)
{
	char path[MAX_PATH_LEN], cache[MAX_PATH_LEN], shown[MAX_PATH_LEN];
	char name[MAX_USER_NAME + 4];
	const char *template = s->pw.mail ? s->pw.mail :
	    s->cfg->mailbox_template;
	const struct maildrop_ops *ops = maildrop_select(template, &template);
	int r;

	log_escape(name, sizeof(name), s->pw.name, strlen(s->pw.name));
	if (become_user(s) < 0) {
		reply(s, R_SYS_PERM);
		return END_FAIL;
	}
	if (expand_mailbox(template, &s->pw, path, sizeof(path)) < 0) {
		log_msg(LOG_ERR, "bad mailbox path template for user %s",
		    name);
		reply(s, R_SYS_PERM);
		return s->dropped_privileges ? END_FAIL : GO_ON;
	}
	log_escape(shown, sizeof(shown), path, strlen(path));
	/* A mail= field or a %h with a relative home: see pop3d.c on why
	 * only a pipe session may use such a path. */
	if (path[0] != '/' && !s->cfg->relative_paths) {
		log_msg(LOG_ERR, "maildrop path %s of user %s is relative, "
		    "resolved against the launcher's working directory; "
		    "refused (make it absolute)", shown, name);
		reply(s, R_SYS_PERM);
		return s->dropped_privileges ? END_FAIL : GO_ON;
	}
	cache[0] = '\0';
	if (s->cfg->index_template && expand_mailbox(s->cfg->index_template,
	    &s->pw, cache, sizeof(cache)) < 0)
		log_msg(LOG_NOTICE, "index cache template gives no path for "
		    "user %s; not used", name);
	/* The mbox scan's UIDL rule (a Maildir's ids are its names). */
	mbox_set_uidl_format(s->cfg->uidl_format);
	r = maildrop_open(&s->md, ops, path, geteuid(),
	    cache[0] ? cache : NULL, s->cfg->client_workarounds);
	switch (r) {
	case MD_OK:
		break;
	case MD_LOCKED:
		reply(s, R_IN_USE);
		break;
	case MD_IN_USE:
		reply(s, R_SESSION_BUSY);
		break;
	case MD_BAD_FILE:
	case MD_NOT_MBOX:
	case MD_JOURNAL:
		reply(s, R_SYS_PERM);
		break;
	default:
		reply(s, R_SYS_TEMP);
		break;
	}
	if (r != MD_OK) {
		log_msg(LOG_NOTICE, "login of user=%s refused: maildrop %s "
		    "unavailable", name, shown);
		/* RFC 1939 lets us stay in AUTHORIZATION, but not after we
		 * gave up root for this user. */
		return s->dropped_privileges ? END_FAIL : GO_ON;
	}
	s->state = ST_TRANS;
	log_msg(LOG_INFO, "login: user=%s messages=%zu octets=%llu "
	    "maildrop=%s", name, s->md.live_count,
	    (unsigned long long)s->md.live_size, shown);
	reply_maildrop(s);
	return GO_ON;
}

/* May a password travel now?  RFC 2595 section 2.3, RFC 8314. */
static int plaintext_allowed(const struct session *s)
{
	switch (s->cfg->plaintext) {
	case PLAINTEXT_ALWAYS:
		return 1;
	case PLAINTEXT_TLS:
		return s->io.tls != NULL || s->tls_relayed;
	default:
		return 0;
	}
}

/* The refusal of a plaintext login, the same for every user name, and
 * logged: a client configured to send passwords in clear text is
 * something the administrator wants to hear of. */
static enum outcome refuse_plaintext(struct session *s, const char *cmd)
{
	int never = s->cfg->plaintext == PLAINTEXT_NEVER;

	log_msg(LOG_NOTICE, "%s refused: %s", cmd, never ?
	    "plaintext login is disabled" : "plaintext login only over TLS, "
	    "and TLS is not active");
	reply(s, never ? R_NO_PLAIN : R_NEED_TLS);
	return GO_ON;
}

/* Keeps a USER/APOP name as given (cut to MAX_USER_ARG) for the checker
 * and the logs; whether it is valid is the checker's business. */
static void set_user(struct session *s, const char *name)
{
	size_t len = strlen(name);

	if (len > MAX_USER_ARG)
		len = MAX_USER_ARG;
	memcpy(s->user, name, len);
	s->user[len] = '\0';
}

/*
 * A USER, APOP or AUTH LOGIN name made ready for the checker, into s->user.
 * Before UTF8 the name is kept as given and one with a byte above 0x7f
 * fails as today: as an unknown user would, at the checker (see
 * checked_user()).  After UTF8 (RFC 6856 section 2.2) it must be UTF-8
 * and is normalised with SASLprep as a query string, so that the NFC and
 * the NFD form of a name are the same user; a name that is not UTF-8,
 * that SASLprep refuses, or that is no user name once normalised (U+FF0F
 * FULLWIDTH SOLIDUS becomes '/') is refused here, logged with its bytes
 * escaped.  Returns 0, or -1 with the refusal logged.
 */
static int prepare_user(struct session *s, const char *cmd, const char *name)
{
	char prepped[MAX_USER_ARG + 1], esc[4 * MAX_USER_NAME + 4];
	enum utf8_prep r;

	if (!s->utf8) {
		set_user(s, name);
		return 0;
	}
	r = utf8_saslprep(name, 0, prepped, sizeof(prepped));
	if (r == UTF8_OK && auth_valid_username(prepped)) {
		set_user(s, prepped);
		return 0;
	}
	log_escape_hex(esc, sizeof(esc), name, strlen(name));
	log_msg(LOG_NOTICE, "%s refused for user=%s: %s", cmd, esc,
	    r == UTF8_INVALID ? "not valid UTF-8" : r == UTF8_OK ?
	    "not a valid user name after SASLprep" :
	    "refused by SASLprep");
	return -1;
}

/*
 * The name the checker is asked about.  Before UTF8 a name with bytes
 * above 0x7f is no user's, as pop3d always treated it (the user name
 * rules allowed only ASCII then): each such byte becomes a control byte,
 * which no user name may hold, so the name fails as an unknown one at the
 * same cost, and the checker's failure line reads as it always did (both
 * log as '?').  After UTF8 s->user is already normalised.
 */
static const char *checked_user(struct session *s)
{
	static char ascii[MAX_USER_ARG + 1];
	size_t i;

	if (s->utf8 || utf8_is_ascii(s->user))
		return s->user;
	for (i = 0; s->user[i]; i++) {
		ascii[i] = s->user[i];
		if ((unsigned char)ascii[i] >= 0x80)
			ascii[i] = '\x01';
	}
	ascii[i] = '\0';
	return ascii;
}

/* A PASS or AUTH LOGIN password after UTF8: UTF-8, SASLprep'ed as a query
 * string into out.  Before UTF8 it is copied as given (bytes, as
 * always).  Returns 0, or -1 with the refusal logged. */
static int prepare_secret(struct session *s, const char *cmd,
    const char *secret, char *out, size_t size)
{
	enum utf8_prep r;
	size_t len = strlen(secret);

	if (!s->utf8) {
		if (len >= size)
			len = size - 1;
		memcpy(out, secret, len);
		out[len] = '\0';
		return 0;
	}
	r = utf8_saslprep(secret, 0, out, size);
	if (r == UTF8_OK)
		return 0;
	log_msg(LOG_NOTICE, "%s refused: password %s", cmd,
	    r == UTF8_INVALID ? "not valid UTF-8" : "refused by SASLprep");
	return -1;
}

static enum outcome cmd_user(struct session *s, int argc, char **argv)
{
	(void)argc;
	if (!plaintext_allowed(s))
		return refuse_plaintext(s, "USER");
	/* A name that is no UTF-8 can be no user's: saying so tells
	 * nothing about which names exist. */
	if (prepare_user(s, "USER", argv[1]) < 0) {
		s->have_user = 0;
		reply(s, R_UTF8_BAD_USER);
		return BAD;
	}
	/* Every name gets the same +OK; PASS fails for bad ones, so USER
	 * never tells which names exist. */
	s->have_user = 1;
	reply(s, R_USER_OK);
	return GO_ON;
}

static enum outcome cmd_pass(struct session *s, int argc, char **argv)
{
	char pass[MAX_PASSWORD + 1];
	int r;

	(void)argc;
	if (!s->have_user) {
		reply(s, R_NEED_USER);
		return BAD;
	}
	s->have_user = 0;
	if (!plaintext_allowed(s)) {
		explicit_bzero(argv[1], strlen(argv[1]));
		return refuse_plaintext(s, "PASS");
	}
	/* An invalid password is a protocol error, not a guess: no
	 * stored password can be other than UTF-8 after UTF8. */
	if (prepare_secret(s, "PASS", argv[1], pass, sizeof(pass)) < 0) {
		explicit_bzero(argv[1], strlen(argv[1]));
		reply(s, R_UTF8_BAD_PASS);
		return BAD;
	}
	explicit_bzero(argv[1], strlen(argv[1]));
	r = check_credentials(s, CRED_PASS, checked_user(s), pass);
	explicit_bzero(pass, sizeof(pass));
	return login_result(s, CRED_PASS, r);
}

static enum outcome cmd_apop(struct session *s, int argc, char **argv)
{
	(void)argc;
	if (!s->timestamp[0]) {
		reply(s, R_NO_APOP);
		return BAD;
	}
	s->have_user = 0;
	if (prepare_user(s, "APOP", argv[1]) < 0) {
		reply(s, R_UTF8_BAD_USER);
		return BAD;
	}
	return login_result(s, CRED_APOP, check_credentials(s, CRED_APOP,
	    checked_user(s), argv[2]));
}

static enum outcome cmd_stls(struct session *s, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (!tls_available()) {
		reply(s, R_STLS_NONE);
		return GO_ON;
	}
	if (s->io.tls) {
		reply(s, R_STLS_AGAIN);
		return GO_ON;
	}
	/* RFC 6856 section 2.1: the client must not; the server may
	 * refuse, and does. */
	if (s->utf8) {
		reply(s, R_STLS_UTF8);
		return BAD;
	}
	reply(s, R_STLS_GO);
	if (io_flush(&s->io) < 0) {
		s->end = SEND_LOST;
		return END_OK;
	}
	/* RFC 2595 section 4: nothing the client sent before the handshake
	 * may count after it (command injection), and the session starts
	 * over: no pending USER. */
	io_discard_input(&s->io);
	s->have_user = 0;
	s->user[0] = '\0';
	s->io.tls = tls_accept(s->io.in_fd, s->io.out_fd, s->cfg->timeout);
	if (!s->io.tls) {
		s->end = SEND_TLS;
		return END_OK;	/* logged; the stream is unusable now */
	}
	return GO_ON;
}

/* The SASL exchange's question to the checker (sasl.c). */
static int sasl_check(void *ctx, int kind, const char *user,
    const char *secret)
{
	struct session *s = ctx;
	char pass[MAX_SASL_LINE + 1];
	int r;

	/* PLAIN's fields come SASLprep'ed by GNU SASL, in either mode (RFC
	 * 4616: they are UTF-8 by definition).  LOGIN's come raw: after
	 * UTF8 they get what USER and PASS get; before it, as always. */
	if (kind != CRED_LOGIN) {
		set_user(s, user);
		return check_credentials(s, kind, s->user, secret);
	}
	if (prepare_user(s, "AUTH LOGIN", user) < 0 ||
	    prepare_secret(s, "AUTH LOGIN", secret, pass, sizeof(pass)) < 0)
		return 0;
	r = check_credentials(s, kind, checked_user(s), pass);
	explicit_bzero(pass, sizeof(pass));
	return r;
}

/* The mechanisms offered now, for AUTH and CAPA alike. */
static size_t offered_mechs(const struct session *s, char *buf, size_t size)
{
	return sasl_list(buf, size, plaintext_allowed(s),
	    s->timestamp[0] != '\0');
}

/* Reads one SASL response line into line (MAX_SASL_LINE + 1 bytes).
 * Returns GO_ON with a line, else the outcome to return. */
static enum outcome read_response(struct session *s, const char *mech,
    char *line, size_t size)
{
	enum io_status r;
	size_t len;

	switch ((r = io_read_line(&s->io, line, size, &len))) {
	case IO_LINE:
		break;
	case IO_TOOLONG:
		log_msg(LOG_NOTICE, "AUTH %s failed: response too long", mech);
		reply(s, R_TOO_LONG);
		return BAD;
	default:
		return input_ended(s, r);
	}
	if (strlen(line) != len) {
		explicit_bzero(line, size);
		log_msg(LOG_NOTICE, "AUTH %s failed: invalid base64", mech);
		reply(s, R_AUTH_B64);
		return BAD;
	}
	return GO_ON;
}

/* Runs the exchange of mechanism m (RFC 5034): initial is the client's
 * initial response, or NULL; "*" cancels at any step. */
static enum outcome sasl_exchange_run(struct session *s,
    const struct sasl_mech *m, const char *initial)
{
	char line[MAX_SASL_LINE + 1], challenge[MAX_SASL_LINE];
	struct sasl_exchange *x;
	const char *in = initial;
	enum outcome o = GO_ON;
	char name[MAX_USER_NAME + 4];

	x = malloc(sizeof(*x));
	if (!x || sasl_start(x, m, s->timestamp, sasl_check, s) < 0) {
		free(x);
		reply(s, R_SYS_TEMP);
		return GO_ON;
	}
	for (;;) {
		enum sasl_status st;

		if (in && !strcmp(in, "*")) {
			/* The client's own choice, no guess: not a
			 * failure. */
			log_msg(LOG_INFO, "AUTH %s cancelled by the client",
			    m->name);
			reply(s, R_AUTH_CANCEL);
			break;
		}
		st = sasl_step(x, in, challenge, sizeof(challenge));
		if (in)
			explicit_bzero(line, sizeof(line));
		if (st == SASL_MORE) {
			io_printf(&s->io, "+ %s\r\n", challenge);
			o = read_response(s, m->name, line, sizeof(line));
			if (o != GO_ON)
				break;
			in = line;
			continue;
		}
		switch (st) {
		case SASL_CHECKED:
			o = login_result(s, m->kind, x->result);
			break;
		case SASL_BAD_B64:
			log_msg(LOG_NOTICE, "AUTH %s failed: invalid base64",
			    m->name);
			reply(s, R_AUTH_B64);
			o = BAD;
			break;
		case SASL_PROXY:
			log_escape(name, sizeof(name), x->user,
			    strlen(x->user));
			log_msg(LOG_NOTICE, "AUTH %s failed for user=%s: proxy "
			    "login (another authorization identity) not "
			    "offered", m->name, name);
			reply(s, R_AUTH_FAIL);
			break;
		case SASL_MALFORMED:
			log_msg(LOG_NOTICE, "AUTH %s failed: malformed "
			    "credentials", m->name);
			io_printf(&s->io, R_AUTH_SYNTAX_FMT "\r\n", m->name);
			break;
		default:
			reply(s, R_SYS_TEMP);
			break;
		}
		break;
	}
	explicit_bzero(line, sizeof(line));
	sasl_finish(x);
	explicit_bzero(x, sizeof(*x));
	free(x);
	return o;
}

static enum outcome cmd_auth(struct session *s, int argc, char **argv)
{
	const struct sasl_mech *m;
	char list[MAX_SASL_LINE];
	enum outcome o;

	s->have_user = 0;
	if (argc == 1) {
		/* Not in RFC 5034, but clients ask this way to list. */
		char *p = list, *sp;

		reply(s, "+OK mechanisms follow");
		offered_mechs(s, list, sizeof(list));
		while (*p) {
			sp = strchr(p, ' ');
			if (sp)
				*sp = '\0';
			reply(s, p);
			p = sp ? sp + 1 : p + strlen(p);
		}
		reply(s, ".");
		return GO_ON;
	}
	m = sasl_find(argv[1]);
	if (!m || (m->needs == SASL_NEEDS_CHALLENGE && !s->timestamp[0])) {
		char mech[32];

		/* Not a failure: clients try the mechanisms they know. */
		log_escape(mech, sizeof(mech), argv[1], strlen(argv[1]));
		log_msg(LOG_INFO, "AUTH mechanism %s not supported", mech);
		reply(s, R_AUTH_MECH);
		return GO_ON;
	}
	if (!sasl_offered(m, plaintext_allowed(s), s->timestamp[0] != '\0')) {
		char cmd[32];

		snprintf(cmd, sizeof(cmd), "AUTH %s", m->name);
		if (argc == 3)
			explicit_bzero(argv[2], strlen(argv[2]));
		return refuse_plaintext(s, cmd);
	}
	o = sasl_exchange_run(s, m, argc == 3 ? argv[2] : NULL);
	if (argc == 3)
		explicit_bzero(argv[2], strlen(argv[2]));
	return o;
}

/* --------------------------------------------------------- both states */

/* RFC 6856 section 2.1: UTF-8 mode, in the AUTHORIZATION state only.
 * The maildrop's messages are sent as they are stored in any mode, so
 * the mode changes what USER, PASS, APOP and AUTH LOGIN accept. */
static enum outcome cmd_utf8(struct session *s, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	if (s->state != ST_AUTH) {
		reply(s, R_UTF8_LATE);
		return BAD;
	}
	s->utf8 = 1;
	reply(s, R_UTF8_OK);
	return GO_ON;
}

static enum outcome cmd_capa(struct session *s, int argc, char **argv)
{
	/* Only what works now (RFC 2449 section 5, RFC 5034 section 3). */
	int plain = plaintext_allowed(s);
	char list[MAX_SASL_LINE];

	(void)argc;
	(void)argv;
	reply(s, "+OK capability list follows");
	reply(s, "TOP");
	reply(s, "UIDL");
	if (plain)
		reply(s, "USER");
	reply(s, "RESP-CODES");
	reply(s, "AUTH-RESP-CODE");
	reply(s, "PIPELINING");
	reply(s, "EXPIRE NEVER");
	/* In both states (RFC 6856 section 2); USER: UTF-8 names and
	 * passwords are accepted after UTF8. */
	reply(s, "UTF8 USER");
	if (offered_mechs(s, list, sizeof(list)) > 0)
		io_printf(&s->io, "SASL %s\r\n", list);
	if (s->state == ST_AUTH && tls_available() && !s->io.tls)
		reply(s, "STLS");
	/* Name the software only to users who logged in. */
	if (s->state == ST_TRANS)
		reply(s, "IMPLEMENTATION pop3d-" POP3D_VERSION);
	reply(s, ".");
	return GO_ON;
}

static enum outcome cmd_quit(struct session *s, int argc, char **argv)
{
	char name[MAX_USER_NAME + 4];
	uint64_t bytes;
	size_t deleted;
	int r;

	(void)argc;
	(void)argv;
	s->end = SEND_QUIT;
	if (s->state == ST_AUTH) {
		reply(s, R_BYE);
		return END_OK;
	}
	deleted = s->md.count - s->md.live_count;
	bytes = maildrop_deleted_size(&s->md);
	r = maildrop_update(&s->md);
	log_escape(name, sizeof(name), s->pw.name, strlen(s->pw.name));
	if (r != MD_OK) {
		log_msg(LOG_ERR, "user=%s: UPDATE failed, nothing deleted",
		    name);
		s->end = SEND_ERROR;
		reply(s, r == MD_LOCKED ? "-ERR [IN-USE] maildrop locked, "
		    "deleted messages not removed" : R_UPDATE_FAIL);
		return END_FAIL;
	}
	/* Only UPDATE removes mail: DELE marks are what the client wanted,
	 * these are what happened. */
	s->st.dele_n = deleted;
	s->st.dele_bytes = bytes;
	io_printf(&s->io, "%s (%zu %s left)\r\n", R_BYE, s->md.live_count,
	    messages(s->md.live_count));
	return END_OK;
}

/* ------------------------------------------------------- TRANSACTION */

static enum outcome cmd_stat(struct session *s, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	io_printf(&s->io, "+OK %zu %llu\r\n", s->md.live_count,
	    (unsigned long long)s->md.live_size);
	return GO_ON;
}

static void print_listing_line(struct session *s, size_t i, int uidl,
    const char *prefix)
{
	char uid[MAX_UID_LEN + 1];

	if (uidl) {
		maildrop_uid(&s->md, i, uid);
		io_printf(&s->io, "%s%zu %s\r\n", prefix, i + 1, uid);
	} else {
		io_printf(&s->io, "%s%zu %llu\r\n", prefix, i + 1,
		    (unsigned long long)maildrop_size(&s->md, i));
	}
}

static enum outcome list_or_uidl(struct session *s, int argc, char **argv,
    int uidl)
{
	size_t i;
	long n;

	if (argc == 2) {
		n = live_msg(s, argv[1]);
		if (n >= 0)
			print_listing_line(s, (size_t)n, uidl, "+OK ");
		return GO_ON;
	}
	if (uidl)
		reply(s, "+OK unique-id listing follows");
	else
		io_printf(&s->io, "+OK %zu %s (%llu octets)\r\n",
		    s->md.live_count, messages(s->md.live_count),
		    (unsigned long long)s->md.live_size);
	for (i = 0; i < s->md.count; i++)
		if (!maildrop_is_deleted(&s->md, i))
			print_listing_line(s, i, uidl, "");
	reply(s, ".");
	return GO_ON;
}

static enum outcome cmd_list(struct session *s, int argc, char **argv)
{
	return list_or_uidl(s, argc, argv, 0);
}

static enum outcome cmd_uidl(struct session *s, int argc, char **argv)
{
	return list_or_uidl(s, argc, argv, 1);
}

/* RETR and TOP: check, answer, stream, verify. */
static enum outcome send_message(struct session *s, long n, long lines)
{
	char name[MAX_USER_NAME + 4];
	uint64_t before;
	int r;

	log_escape(name, sizeof(name), s->pw.name, strlen(s->pw.name));
	r = maildrop_check(&s->md, (size_t)n);
	if (r == MD_LOCKED) {
		/* A delivery holds the mbox: nothing is wrong, just busy. */
		reply(s, R_IN_USE);
		return GO_ON;
	}
	if (r == MD_GONE) {
		/* Another program (an IMAP client, a second reader) removed
		 * it: that message is lost to us, the others are not. */
		reply(s, R_GONE);
		return GO_ON;
	}
	if (r != MD_OK) {
		log_msg(LOG_ERR, "user=%s: maildrop changed by another program "
		    "during the session; ending it, nothing deleted", name);
		s->end = SEND_CHANGED;
		reply(s, r == MD_CHANGED ? R_CHANGED : R_SYS_TEMP);
		return END_FAIL;
	}
	io_printf(&s->io, "+OK %llu octets\r\n",
	    (unsigned long long)maildrop_size(&s->md, (size_t)n));
	before = s->io.total_out;
	r = maildrop_send(&s->md, (size_t)n, lines, &s->io);
	if (r == MD_OK) {
		/* The body as the client got it (byte-stuffed), without
		 * the ".\r\n" that ends it. */
		uint64_t sent = s->io.total_out - before;

		sent = sent >= 3 ? sent - 3 : 0;
		if (lines < 0) {
			s->st.retr_n++;
			s->st.retr_bytes += sent;
		} else {
			s->st.top_n++;
			s->st.top_bytes += sent;
		}
		return GO_ON;
	}
	if (r == MD_NET) {
		log_msg(LOG_NOTICE, "user=%s: connection lost while message %ld "
		    "was sent; nothing deleted", name, n + 1);
		s->end = io_interrupted ? SEND_SIGNAL : s->io.stalled ?
		    SEND_STALLED : SEND_LOST;
	} else {
		log_msg(LOG_ERR, "user=%s: maildrop changed while message %ld "
		    "was sent; response cut, session ended", name, n + 1);
		s->end = SEND_CHANGED;
	}
	/* The terminator was not sent: the client must not take what it
	 * got as a message.  Nothing more can be said on this stream. */
	return END_FAIL;
}

static enum outcome cmd_retr(struct session *s, int argc, char **argv)
{
	long n;

	(void)argc;
	n = live_msg(s, argv[1]);
	return n < 0 ? GO_ON : send_message(s, n, -1);
}

static enum outcome cmd_top(struct session *s, int argc, char **argv)
{
	long n, lines;

	(void)argc;
	n = live_msg(s, argv[1]);
	if (n < 0)
		return GO_ON;
	if (parse_lines(argv[2], &lines) < 0) {
		reply(s, R_BAD_LINES);
		return GO_ON;
	}
	return send_message(s, n, lines);
}

static enum outcome cmd_dele(struct session *s, int argc, char **argv)
{
	long n;

	(void)argc;
	n = live_msg(s, argv[1]);
	if (n >= 0) {
		maildrop_mark(&s->md, (size_t)n);
		io_printf(&s->io, "+OK message %ld deleted\r\n", n + 1);
	}
	return GO_ON;
}

static enum outcome cmd_noop(struct session *s, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	reply(s, R_NOOP);
	return GO_ON;
}

static enum outcome cmd_rset(struct session *s, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	maildrop_unmark_all(&s->md);
	reply_maildrop(s);
	return GO_ON;
}

/* ------------------------------------------------------------ tables */

/* Arguments counted with the keyword; PASS takes the rest of the line
 * as its one argument (a password may contain spaces: RFC 1939 section
 * 7 lets the server treat them as part of it). */
static const struct command auth_commands[] = {
	{ "USER", 2, 2, 0, cmd_user },
	{ "PASS", 2, 2, 1, cmd_pass },
	{ "APOP", 3, 3, 0, cmd_apop },
	{ "AUTH", 1, 3, 0, cmd_auth },
	{ "STLS", 1, 1, 0, cmd_stls },
	{ "CAPA", 1, 1, 0, cmd_capa },
	{ "UTF8", 1, 1, 0, cmd_utf8 },
	{ "QUIT", 1, 1, 0, cmd_quit },
	{ NULL, 0, 0, 0, NULL }
};

static const struct command trans_commands[] = {
	{ "STAT", 1, 1, 0, cmd_stat },
	{ "LIST", 1, 2, 0, cmd_list },
	{ "RETR", 2, 2, 0, cmd_retr },
	{ "DELE", 2, 2, 0, cmd_dele },
	{ "NOOP", 1, 1, 0, cmd_noop },
	{ "RSET", 1, 1, 0, cmd_rset },
	{ "TOP", 3, 3, 0, cmd_top },
	{ "UIDL", 1, 2, 0, cmd_uidl },
	{ "CAPA", 1, 1, 0, cmd_capa },
	{ "UTF8", 1, 1, 0, cmd_utf8 },
	{ "QUIT", 1, 1, 0, cmd_quit },
	{ NULL, 0, 0, 0, NULL }
};

static const struct command *find_command(const struct command *table,
    const char *word)
{
	for (; table->name; table++)
		if (!strcasecmp(table->name, word))
			return table;
	return NULL;
}

#define MAX_ARGS 4

/*
 * The grammar of RFC 1939 section 3, for every command, in this one
 * place: "a keyword possibly followed by one or more arguments", each
 * "separated by a single SPACE character".  So a word is never empty: a
 * leading space, two spaces in a row and a trailing space all make an
 * empty word, and a tab or other control character is no separator and
 * no part of a keyword or argument.  Such a line is malformed, and
 * refused as a syntax error (as popa3d does; Dovecot is lenient), not
 * guessed at: a client that sends one is broken, and what it meant is
 * not ours to decide.  A PASS argument is the exception: everything
 * after the one space that follows the keyword, verbatim.
 */
static int well_formed_word(const char *w)
{
	if (*w == '\0')
		return 0;
	for (; *w; w++)
		if ((unsigned char)*w < 0x20 || *w == 0x7f)
			return 0;
	return 1;
}

/* A PROXY protocol header from a peer not in --proxy-from: logged once
 * per session, as fail2ban's filter expects, with the peer's own
 * address. */
static void proxy_refused(struct session *s)
{
	if (!s->proxy_logged)
		log_msg(LOG_NOTICE, "PROXY header refused: this peer is not "
		    "in --proxy-from");
	s->proxy_logged = 1;
}

/* Splits, checks and dispatches one command line. */
static enum outcome dispatch(struct session *s, char *line, size_t len)
{
	const struct command *table = s->state == ST_AUTH ?
	    auth_commands : trans_commands;
	const struct command *cmd;
	char *argv[MAX_ARGS + 1];
	int argc = 0;
	char *p = line;

	/* A version 2 header's signature, "\r\n\r\n\0\r\nQUIT\n", reads as
	 * two empty lines, a NUL and QUIT: bad commands, then the QUIT that
	 * ends the session, as the specification meant it to.  The first
	 * three as the session's first lines are no POP3 client's, so they
	 * are the mark of a v2 header and logged as one (below): without
	 * that, a balancer missing from --proxy-from that sends v2 would
	 * leave no hint why its clients are not served, and a forger no
	 * line for fail2ban, where a v1 header leaves both. */
	if (s->state == ST_AUTH && s->v2_sig_lines >= 0) {
		if (s->v2_sig_lines < 2 ? len == 0 :
		    len == 1 && line[0] == '\0')
			s->v2_sig_lines++;
		else
			s->v2_sig_lines = -1;
		if (s->v2_sig_lines == 3) {
			proxy_refused(s);
			s->v2_sig_lines = -1;
		}
	}
	/* A NUL inside the line would make the parsers see less than the
	 * client sent. */
	if (strlen(line) != len) {
		reply(s, R_SYNTAX);
		return BAD;
	}
	argv[argc++] = strsep(&p, " ");
	/* An empty line is no command at all (and a v2 signature's); a
	 * keyword that is not a well-formed word is a malformed line. */
	if ((*argv[0] || p) && !well_formed_word(argv[0])) {
		reply(s, R_SYNTAX);
		return BAD;
	}
	/* A PROXY protocol header where none is trusted: an attempt to be
	 * taken for another address (or a balancer not in --proxy-from).
	 * A bad command like any other. */
	if (s->state == ST_AUTH && !strcmp(argv[0], "PROXY")) {
		proxy_refused(s);
		reply(s, R_UNKNOWN);
		return BAD;
	}
	cmd = find_command(table, argv[0]);
	if (!cmd) {
		const struct command *other = s->state == ST_AUTH ?
		    trans_commands : auth_commands;

		reply(s, find_command(other, argv[0]) ? R_WRONG_STATE :
		    R_UNKNOWN);
		return BAD;
	}
	if (cmd->takes_rest) {
		/* Everything after "PASS " is the password, verbatim. */
		if (p && *p)
			argv[argc++] = p;
	} else {
		while (p) {
			char *word = strsep(&p, " ");

			if (!well_formed_word(word) || argc == MAX_ARGS) {
				argc = MAX_ARGS + 1;	/* refused below */
				break;
			}
			argv[argc++] = word;
		}
	}
	if (argc < cmd->min_args || argc > cmd->max_args) {
		reply(s, R_SYNTAX);
		return BAD;
	}
	argv[argc] = NULL;
	return cmd->handler(s, argc, argv);
}

void make_apop_timestamp(const char *hostname, char *buf, size_t size)
{
	unsigned int rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
		rnd = (unsigned int)clock();
	/* RFC 1939 section 7: msg-id syntax, different every time. */
	snprintf(buf, size, "<%ld.%u.%ld@%s>", (long)getpid(), rnd,
	    (long)time(NULL), hostname);
}

static struct session *session_new(const struct config *cfg, int in_fd,
    int out_fd)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s) {
		log_msg(LOG_ERR, "out of memory");
		return NULL;
	}
	if (io_init(&s->io, in_fd, out_fd, cfg->timeout) < 0) {
		log_msg(LOG_ERR, "cannot set up the connection: %s",
		    strerror(errno));
		free(s);
		return NULL;
	}
	s->cfg = cfg;
	s->lc = NULL;	/* a resumed session logs in no more */
	s->state = ST_AUTH;
	s->end = -1;
	return s;
}

/* The logout line, or whoever takes it instead (the pre-login process
 * sends it to the parent: privsep.c). */
static void report_end(const struct login_checker *lc,
    const struct session_stats *st)
{
	if (lc && lc->end)
		lc->end(lc->ctx, st);
	else
		logout_log(st);
}

/*
 * One line for every session's end, whatever ended it (logout.c): who,
 * what was retrieved and removed, and why.  Only QUIT's UPDATE removes
 * mail.  An end nobody noted is an error of ours if the exit status says
 * so, else the client's leaving.
 */
static void log_logout(struct session *s, int status)
{
	struct session_stats *st = &s->st;

	st->end = s->end >= 0 ? s->end : status ? SEND_ERROR : SEND_EOF;
	st->tls = s->io.tls ? tls_version(s->io.tls) : s->tls_relayed;
	if (s->state == ST_TRANS) {
		st->user = s->pw.name;
		st->auth = s->login_kind;
		st->left = s->md.count - st->dele_n;
	}
	report_end(s->lc, st);
}

/* The end by too many bad commands in a row.  Before login it is what a
 * scanner or a fuzzer does (fail2ban counts it); after login it is a
 * broken client of a user who knows the password, logged apart. */
static void bad_commands(struct session *s)
{
	char name[MAX_USER_NAME + 4];

	if (s->state == ST_AUTH) {
		log_msg(LOG_NOTICE, "too many bad commands before login (%d); "
		    "closing the connection", MAX_BAD_COMMANDS);
	} else {
		log_escape(name, sizeof(name), s->pw.name, strlen(s->pw.name));
		log_msg(LOG_NOTICE, "too many bad commands from user=%s (%d); "
		    "closing the connection", name, MAX_BAD_COMMANDS);
	}
	reply(s, R_TOO_MANY_BAD);
	s->end = SEND_BADCMD;
}

/* Reads and answers commands until the session ends; frees it. */
static int session_loop(struct session *s, enum outcome first)
{
	char line[MAX_COMMAND_LINE + 1];
	int bad = 0, status = 0, done = 0;
	enum outcome o = first;

	while (!done) {
		size_t len = 0;

		/* Bound what an unauthenticated peer may make us read. */
		s->io.max_in = s->state == ST_AUTH ? MAX_PRELOGIN_INPUT : 0;
		if (o == GO_ON || o == BAD) {
			enum io_status r = io_read_line(&s->io, line,
			    sizeof(line), &len);

			switch (r) {
			case IO_LINE:
				o = dispatch(s, line, len);
				break;
			case IO_TOOLONG:
				/* A line, if not one dispatch() sees: what
				 * follows is not the session's first lines. */
				s->v2_sig_lines = -1;
				reply(s, R_TOO_LONG);
				o = BAD;
				break;
			default:
				o = input_ended(s, r);
				break;
			}
			explicit_bzero(line, sizeof(line));
		}
		/* The client stopped reading: end here, without reading on
		 * in what it pipelined (a QUIT there must not UPDATE), and
		 * release the maildrop at once.  An ending the command chose
		 * stands (END_HANDOFF: the TLS session is the relay's). */
		if (s->io.stalled && (o == GO_ON || o == BAD)) {
			s->end = SEND_STALLED;
			o = END_OK;
		}

		switch (o) {
		case GO_ON:
			bad = 0;
			break;
		case BAD:
			if (++bad >= MAX_BAD_COMMANDS) {
				bad_commands(s);
				done = 1;
			}
			break;
		case END_OK:
		case END_HANDOFF:
			done = 1;
			break;
		case END_FAIL:
			status = 1;
			done = 1;
			break;
		}
		if (!done && o != GO_ON && o != BAD)
			o = GO_ON;
	}
	if (io_flush(&s->io) < 0 && status == 0 && s->io.failed)
		log_msg(LOG_NOTICE, "client connection lost");
	/* A pre-login process that handed the login over ends nothing: the
	 * session goes on in the parent, which logs its end.  And it keeps
	 * the TLS session: it relays for the parent (privsep.c). */
	if (o != END_HANDOFF) {
		log_logout(s, status);
		tls_close(s->io.tls);
	}
	s->io.tls = NULL;
	maildrop_close(&s->md);
	io_free(&s->io);
	explicit_bzero(s, sizeof(*s));
	free(s);
	return status;
}

int session_run(const struct config *cfg, int in_fd, int out_fd,
    const struct login_checker *lc, const char *timestamp)
{
	struct session *s = session_new(cfg, in_fd, out_fd);

	if (!s) {
		struct session_stats st = { .end = SEND_ERROR };

		report_end(lc, &st);
		return 1;
	}
	s->lc = lc;
	/* RFC 8314 section 3.1: on a POP3S port TLS comes first. */
	if (cfg->implicit_tls) {
		s->io.tls = tls_accept(in_fd, out_fd, cfg->timeout);
		if (!s->io.tls) {
			/* The client's failure, logged; not ours. */
			s->end = SEND_TLS;
			return session_loop(s, END_OK);
		}
	}
	if (timestamp) {
		snprintf(s->timestamp, sizeof(s->timestamp), "%s", timestamp);
		io_printf(&s->io, "%s %s\r\n", R_GREETING, s->timestamp);
	} else {
		reply(s, R_GREETING);
	}
	return session_loop(s, GO_ON);
}

int session_resume(const struct config *cfg, int in_fd, int out_fd,
    const struct pw_entry *pw, int kind, const void *pending, size_t len,
    int tls_relayed)
{
	struct session *s = session_new(cfg, in_fd, out_fd);

	if (!s || len > sizeof(s->io.in)) {
		struct session_stats st = { .user = pw->name, .auth = kind,
		    .tls = tls_relayed, .end = SEND_ERROR };

		if (s) {
			io_free(&s->io);
			free(s);
		}
		report_end(NULL, &st);
		return 1;
	}
	s->login_kind = kind;
	memcpy(s->io.in, pending, len);
	s->io.in_end = len;
	s->tls_relayed = tls_relayed;
	s->pw = *pw;
	/* The copied entry's strings must point into its own line. */
	s->pw.name = s->pw.line + (pw->name - pw->line);
	s->pw.home = pw->home[0] ? s->pw.line + (pw->home - pw->line) : "";
	s->pw.mail = pw->mail ? s->pw.line + (pw->mail - pw->line) : NULL;
	s->pw.hash = "";
	snprintf(s->user, sizeof(s->user), "%s", pw->name);
	return session_loop(s, start_transaction(s));
}

/*
 * proto.h - the declarations pop3d's modules share.
 *
 * Module map:
 *   pop3d.c    entry point, command line, privilege checks
 *   session.c  the POP3 state machine and its command tables
 *   privsep.c  root mode: the unprivileged pre-login process
 *   netio.c    buffered, time-limited line input and buffered output
 *   auth.c     the login decision for every back end: failure answers,
 *              their deadline and limit, --first-uid; crypt(3), APOP
 *   passdb.c   the authentication interface: --auth, the account record
 *   passdb_file.c  back end: pop3d's password file (--auth file)
 *   passdb_pam.c   back end: PAM (--auth pam[:SERVICE])
 *   passdb_checkpassword.c  back end: DJB's checkpassword interface
 *   maildrop.c the maildrop interface: back end choice, DELE marks
 *   maildrop_mbox.c     back end: mbox (over the five files below)
 *   maildrop_maildir.c  back end: Maildir
 *   maildir_cache.c     the Maildir's optional cache file (-I)
 *   mailbox.c  mbox scanning, checks, UPDATE
 *   msgstream.c  a stored message sent as RETR and TOP send it
 *   spool.c    the maildrop's directory and the mail group
 *   lock.c     dot-lock and fcntl locking of the mbox
 *   journal.c  crash-safe UPDATE: write-ahead journal and recovery
 *   idxcache.c optional on-disk cache of an mbox's index
 *   fullio.c   exact-length reads and writes, little-endian fields
 *   trust.c    whether a configuration file may be believed
 *   checkconfig.c  --check-config: a session's checks without a client
 *   log.c      syslog/stderr logging with escaping of untrusted text
 *   logout.c   the one line that ends every session: who, what, why
 *   utf8.c     RFC 6856 user names and passwords: UTF-8 validation,
 *              SASLprep (declared in utf8.h, which pop3passwd shares)
 */
#ifndef POP3D_PROTO_H
#define POP3D_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <stdio.h>
#include <time.h>
#include <sys/socket.h>

#include "params.h"
#include "utf8.h"

#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---------------------------------------------------------------- log.c */

/*
 * Looks at what standard error is, once, before anything is written: a
 * terminal, file or pipe someone chose (usable), another socket such as
 * journald's stream (usable for -s, but a start-up error goes to syslog),
 * or the client's connection itself, as xinetd and inetd leave it (also
 * when closed).  In the last case descriptor 2 is pointed at /dev/null,
 * so that no message, ours or a library's, ever reaches the client.
 * Returns 0, or -1 if that could not be done (the caller must not go on).
 */
int log_probe_stderr(void);

/*
 * Selects the log destination: syslog (LOG_MAIL), or standard error when
 * use_stderr is set and log_probe_stderr() found it not to be the client.
 */
void log_init(int use_stderr);

/*
 * Reports an error that stops pop3d before a session starts ("pop3d: "
 * and the text, and hint as a second line if not NULL) on standard error
 * when that is a place the administrator reads, else to syslog: never to
 * the client.
 */
void log_startup_error(const char *hint, const char *fmt, ...)
    ATTR_PRINTF(2, 3);

/* Sets the client address shown in every later log line ("pipe" if
 * unknown).  The string is copied and escaped. */
void log_set_client(const char *addr);

/* Sends every later log line to fn instead (NULL: back to the log), with
 * its priority and text only: --check-config prints them as problems. */
void log_set_sink(void (*fn)(int prio, const char *text));

/* Logs one line at a syslog priority.  Never pass a password. */
void log_msg(int prio, const char *fmt, ...) ATTR_PRINTF(2, 3);

/*
 * Copies at most srclen bytes of untrusted text into dst (of dstsize
 * bytes, at least 1), replacing control characters, 8-bit bytes and '%'
 * with '?', and truncating with "..." when it does not fit.  The result is
 * always NUL-terminated and safe for logs and response lines.
 */
void log_escape(char *dst, size_t dstsize, const char *src, size_t srclen);
/* The same, but every byte log_escape() makes a '?' (and '\\') is written
 * as \xNN: for input whose exact bytes matter, such as invalid UTF-8. */
void log_escape_hex(char *dst, size_t dstsize, const char *src,
    size_t srclen);

/* -------------------------------------------------------------- netio.c */

enum io_status {
	IO_LINE,	/* a complete line is in the caller's buffer */
	IO_EOF,		/* the client closed its side */
	IO_TIMEOUT,	/* no complete line within the idle timeout */
	IO_TOOLONG,	/* the line exceeded the limit; it was discarded */
	IO_LIMIT,	/* more than max_in bytes read in all */
	IO_ERROR	/* read or write failure */
};

struct netio {
	int in_fd, out_fd;
	int timeout;			/* seconds; 0 means none */
	unsigned char in[INPUT_BUFFER_SIZE];
	size_t in_start, in_end;	/* unread input is in[in_start..in_end) */
	unsigned char *out;		/* OUTPUT_BUFFER_SIZE bytes */
	size_t out_len;
	int failed;			/* a write failed: stop writing */
	int stalled;			/* ... because the client stopped
					 * reading for the idle timeout */
	int out_sock;			/* out_fd is a socket (MSG_DONTWAIT) */
	int out_flags;			/* out_fd's flags to restore, or -1 */
	void *tls;			/* the connection's SSL, or NULL */
	uint64_t total_in;		/* bytes read from in_fd so far */
	uint64_t total_out;		/* bytes given to io_write() and
					 * io_commit() (the logout line's
					 * counts) */
	uint64_t max_in;		/* 0, or the most input we accept */
};

/* Prepares buffered I/O on two descriptors; output to anything but a
 * socket is made non-blocking until io_free().  Returns 0, or -1 with
 * errno (ENOMEM, or out_fd unusable). */
int io_init(struct netio *io, int in_fd, int out_fd, int timeout);
void io_free(struct netio *io);

/*
 * Reads one line ended by LF (a CR before it is removed) into line, which
 * has room for size bytes; on IO_LINE the result is NUL-terminated and its
 * length is in *len_r.  A line that does not fit is read to its end and
 * thrown away (IO_TOOLONG).  Pending output is flushed before the call
 * blocks, so pipelined commands are answered in one batch.
 */
enum io_status io_read_line(struct netio *io, char *line, size_t size,
    size_t *len_r);

/* Returns non-zero if input is already buffered (pipelined commands). */
int io_input_pending(const struct netio *io);

/* Discards buffered input (used before a TLS upgrade in later work). */
void io_discard_input(struct netio *io);

/*
 * The number of a terminating signal (SIGTERM, SIGHUP, SIGINT) that
 * arrived, or 0: set by the handler pop3d.c installs; waits for the
 * client then give up (errno EINTR), so the session ends and logs why.
 */
extern volatile sig_atomic_t io_interrupted;

/* Queues output; returns 0, or -1 once any write has failed. */
int io_write(struct netio *io, const void *data, size_t len);
int io_printf(struct netio *io, const char *fmt, ...) ATTR_PRINTF(2, 3);
/* Room for want (<= OUTPUT_BUFFER_SIZE) bytes in the output buffer, to be
 * filled in place and then committed: no copy for converted output.
 * Returns NULL once a write has failed. */
unsigned char *io_space(struct netio *io, size_t want);
void io_commit(struct netio *io, size_t len);
/* Writes all queued output; returns 0 or -1. */
int io_flush(struct netio *io);
/* Waits until fd is ready for events (POLLIN, POLLOUT), at most until the
 * CLOCK_MONOTONIC deadline (NULL: no limit, for the unit tests' timeout
 * 0).  Returns 1 ready, 0 timed out, -1 error. */
int io_wait_fd(int fd, short events, const struct timespec *deadline);
/* The same for several descriptors (events 0: not waited for; the fd is
 * set to -1).  Returns 1 when any is ready, 0 timed out, -1 error. */
struct pollfd;
int io_wait_fds(struct pollfd *pfd, size_t n, const struct timespec *deadline);

/* -------------------------------------------------------------- trust.c */

/*
 * Opens path for reading if nobody but a trusted account can have written
 * it or can replace it (trust.c has the rules): the file and every
 * directory and link on the way from "/" are owned by root or by extra
 * (0 or (uid_t)-1: root alone); no directory is writable by group or
 * others unless sticky; the file is regular, not a symbolic link, and
 * writable by its owner only.  Returns the descriptor (O_CLOEXEC), or -1
 * with one sentence in why (size bytes) that names the file or directory
 * at fault and says how to fix it.
 */
int trust_open_for(const char *path, uid_t extra, char *why, size_t size);

/* trust_open_for() with the rule of this process: root alone when it runs
 * as root, else root or the account it runs as. */
int trust_open(const char *path, char *why, size_t size);

/* ---------------------------------------- auth.c and passdb_file.c */

/* The ways to log in with a secret (also the privsep channel's): USER/
 * PASS, APOP, AUTH PLAIN and AUTH LOGIN (checked as PASS, logged as what
 * they were), and AUTH CRAM-MD5 (the secret is the client's digest of the
 * session's challenge, checked against the APOP secrets file as APOP). */
enum {
	CRED_PASS = 'P', CRED_APOP = 'A', CRED_PLAIN = 'S', CRED_LOGIN = 'L',
	CRED_CRAM = 'C'
};

/* One parsed password-file entry.  The strings point into line[]. */
struct pw_entry {
	char line[MAX_PASSWD_LINE];
	const char *name;
	const char *hash;	/* crypt(3) string, scheme tag removed */
	int locked;		/* empty, '*' or '!' hash, or unusable scheme */
	int has_ids;		/* uid and gid fields were given */
	uid_t uid;
	gid_t gid;
	const char *home;	/* "" when absent */
	const char *mail;	/* mail= extra field, or NULL */
	unsigned lineno;
};

/*
 * Parses one line of a password file (without its newline) into e_r.
 * Returns 1 for an entry, 0 for a comment or blank line, -1 for a
 * malformed line (the reason is stored in *why_r).  An entry locked
 * because its scheme is unusable also gets a reason in *why_r (else
 * NULL), for the administrator.
 */
int passwd_parse_line(const char *line, unsigned lineno, struct pw_entry *e_r,
    const char **why_r);

/*
 * The distinct hash costs in use in a password file: one hash of each
 * (scheme and cost parameters as auth_hash_cost_key() tells them apart),
 * cut to MAX_CRYPT_STRING - 1 bytes, and what checking a password against
 * it took in this login (-1: not yet measured).  More than
 * MAX_HASH_CLASSES are not kept; overflow then says so.
 */
struct hash_costs {
	unsigned n;
	int overflow;
	size_t keylen[MAX_HASH_CLASSES];
	long long ns[MAX_HASH_CLASSES];
	long long other_ns;	/* an account's own check outside the kept
				 * classes; -1: none */
	char hash[MAX_HASH_CLASSES][MAX_CRYPT_STRING];
};

/*
 * The length of the prefix of a crypt(3) string that decides its cost:
 * "$y$j9T$", "$2b$12$", "$6$rounds=10000$", "$6$", "$1$", "_J9.."; 0 for
 * traditional DES.  Hashes with equal prefixes cost the same.
 */
size_t auth_hash_cost_key(const char *hash);

/* What passwd_scan() reports about one line (a warning in the log). */
enum passwd_note {
	PASSWD_MALFORMED,	/* skipped: nobody can log in with it */
	PASSWD_LOCKED_SCHEME	/* an entry, locked: its scheme is unusable */
};

/*
 * The visitor of passwd_scan(): entry() for every entry (line is the text
 * it was parsed from, e the parse, valid during the call only), note()
 * for every line that is malformed or locked, with its number and why.
 * Either may be NULL.
 */
struct passwd_visitor {
	void (*entry)(void *arg, const char *line, const struct pw_entry *e);
	void (*note)(void *arg, unsigned lineno, enum passwd_note kind,
	    const char *why);
	void *arg;
};

/*
 * Reads the whole password file, once it passed trust_open() (a file
 * others could write is refused: logged at LOG_ERR with how to fix it),
 * and shows each line to the visitor.  Returns 0, or -1 if the file is
 * refused or cannot be read (logged).
 */
int passwd_scan(const char *file, const struct passwd_visitor *v);

/*
 * Looks up user in the password file, reading all of it whatever line
 * the user is on.  Returns 1 if found (entry in e_r), 0 if not found, -1
 * if the file cannot be read (logged).  Malformed lines are skipped and
 * logged with their line numbers.  costs_r (may be NULL) receives the
 * hash costs in use, none measured yet.
 */
int passwd_lookup(const char *file, const char *user, struct pw_entry *e_r,
    struct hash_costs *costs_r);

/*
 * Checks password against hash with crypt_rn and a constant-time compare.
 * Returns 1 on a match, 0 otherwise.  Always does the hash work.
 */
int auth_check_hash(const char *hash, const char *password);

/*
 * The USER/PASS check: looks the user up (costs_r, not NULL, filled as by
 * passwd_lookup) and verifies the password, timing that check as the
 * cost of its class.  Unknown users and locked accounts get no hash work
 * here: a failure spends it all in auth_spend_fail_work().  Returns 1
 * (entry in e_r), 0 (bad credentials), -1 (system error).
 */
int auth_login(const char *passwd_file, const char *user,
    const char *password, struct pw_entry *e_r, struct hash_costs *costs_r);

/*
 * After a failure: checks password against one hash of every class not
 * yet measured (against a built-in yescrypt hash if the file has none),
 * so that every failure does the same hash work.  Returns the slowest
 * cost in nanoseconds.
 */
long long auth_spend_fail_work(struct hash_costs *costs,
    const char *password);

/* The delay after the n-th failed login, in milliseconds: doubles each
 * time, up to AUTH_FAIL_DELAY_MAX_MS. */
long auth_fail_delay_ms(int failures);

/* The CLOCK_MONOTONIC deadline of the answer to the n-th failed login:
 * its request time + the delay + the slowest hash cost. */
void auth_fail_deadline(const struct timespec *start, int failures,
    long long slow_ns, struct timespec *deadline_r);

struct config;
/*
 * The whole login decision for USER/PASS, AUTH PLAIN or AUTH LOGIN (kind
 * CRED_PASS, CRED_PLAIN, CRED_LOGIN: secret is the password) or APOP and
 * AUTH CRAM-MD5 (CRED_APOP, CRED_CRAM: secret is the digest, timestamp
 * the greeting's), whatever the back end (cfg->passdb):
 * invalid names cost the same as unknown ones; an account below
 * --first-uid (or uid 0) is refused like a wrong password; failures are
 * logged with the name escaped and the back end's name, counted in
 * *failures, and answered (this returns) at the deadline
 * auth_fail_deadline() gives from the time of the call, never sooner.
 * Returns 1 (the account in e_r; at once), 0 (refused), 2 (refused, and
 * the limit is reached: close), -1 (temporary or system error, logged).
 */
int auth_check_login(const struct config *cfg, int kind, const char *user,
    const char *secret, const char *timestamp, struct pw_entry *e_r,
    int *failures);

/*
 * How a session has its logins checked; session.c asks it and never knows
 * who answers.  check() returns as auth_check_login(); on 1 it has filled
 * e_r, unless handoff is set: then the session calls handoff() with the
 * client input it has read beyond the login and its TLS session (or
 * NULL), and ends: whoever checked serves the rest (privsep.c).  handoff
 * returns 0 or -1.  end, when set, receives the session's logout
 * statistics instead of the log when a session ends without a handoff:
 * the pre-login process reports its end to the parent, which logs it.
 */
struct session_stats;
struct login_checker {
	int (*check)(void *ctx, int kind, const char *user,
	    const char *secret, const char *timestamp, struct pw_entry *e_r);
	int (*handoff)(void *ctx, const void *pending, size_t len, void *tls);
	void *ctx;
	void (*end)(void *ctx, const struct session_stats *st);
};

/* The checker of a session that checks its own logins (no privilege
 * separation): auth_check_login() with its own failure count. */
struct auth_local {
	const struct config *cfg;
	int failures;
};
int auth_local_check(void *ctx, int kind, const char *user,
    const char *secret, const char *timestamp, struct pw_entry *e_r);

/*
 * Verifies an APOP digest against the secrets file: MD5(timestamp
 * secret) in hex, any case.  Reads the whole file whatever the user.
 * Returns 1 (right), 0 (wrong, or no secret for the user), -1 (file
 * unusable, logged).
 */
int apop_verify(const char *apop_file, const char *user,
    const char *timestamp, const char *digest);

/*
 * Verifies a CRAM-MD5 digest (RFC 2195) against the APOP secrets file:
 * HMAC-MD5 keyed with the user's secret over the challenge, 32 lower-case
 * hex digits.  Returns as apop_verify().
 */
int cram_verify(const char *apop_file, const char *user,
    const char *challenge, const char *digest);

/* Computes the CRAM-MD5 digest (lower-case hex) into hex_r[33]. */
int cram_digest(const char *challenge, const char *secret, char hex_r[33]);

/* Checks that the APOP secrets file exists, is a regular file and is not
 * readable by group or others.  Returns 0, or -1 with a message logged. */
int apop_check_file(const char *file);

/*
 * Verifies an APOP digest: MD5(timestamp secret) in lower-case hex, the
 * secret read from the secrets file.  Then fetches the passwd entry; the
 * password file is read whatever the digest, for costs_r (as by
 * passwd_lookup).  Returns 1 (entry in e_r), 0 (bad credentials), -1
 * (system error).
 */
int auth_apop(const char *apop_file, const char *passwd_file,
    const char *user, const char *timestamp, const char *digest,
    struct pw_entry *e_r, struct hash_costs *costs_r);

/* Computes the 32-hex-digit APOP digest into hex_r[33].  Returns 0/-1. */
int apop_digest(const char *timestamp, const char *secret, char hex_r[33]);

/*
 * Reads the next line of an administrator's file into buf (LF or CRLF
 * removed).  Returns 1 for a line, 0 at the end, -1 for a line too long
 * for buf or holding a NUL byte: that line is consumed whole and must be
 * skipped, so no part of it is ever mistaken for a line of its own.
 */
int conf_next_line(FILE *f, char *buf, size_t size);

/* A yescrypt hash of a password nobody knows, at libxcrypt's default cost
 * (Debian's for system accounts too): checked against after a failure
 * when nothing better is known, so that the work equals a real check. */
extern const char auth_dummy_hash[];

/* CLOCK_MONOTONIC now, in nanoseconds. */
long long auth_now_ns(void);

/* Returns non-zero if a user name is acceptable: 1..MAX_USER_NAME
 * bytes of printable ASCII or valid UTF-8 (utf8_valid()), no '/', ':',
 * space or control character, not "." or "..". */
int auth_valid_username(const char *name);

/* utf8_valid(), utf8_saslprep(): utf8.h */

/* ------------------------------------------------------------- passdb */

/*
 * The authentication interface ("passdb", as Dovecot calls it): verify a
 * user name and secret for a client address, and answer with the account
 * to serve.  Its back ends: the password file (passdb_file.c), PAM
 * (passdb_pam.c) and checkpassword (passdb_checkpassword.c).  auth.c
 * wraps every one in the same answers, deadline, failure limit and log
 * lines; nothing above it knows which back end it talks to.
 */
enum passdb_verdict { PASSDB_FAIL = 0, PASSDB_OK = 1, PASSDB_TEMP = -1 };

struct passdb_request {
	int kind;		/* CRED_PASS, CRED_PLAIN, CRED_APOP */
	const char *user;	/* valid (auth_valid_username), or "": an
				 * invalid name, which must fail like an
				 * unknown one, with the same work */
	const char *password;	/* NULL for APOP: auth.c checked the
				 * digest; only the account is wanted */
	const char *remote_ip;	/* the client's address; NULL: unknown */
	const char *local_ip;	/* ours; NULL: unknown */
};

struct passdb {
	const char *name;	/* "file", "pam", "checkpassword": for logs */
	/*
	 * Verifies rq, bounded by PASSDB_TIMEOUT seconds.  PASSDB_OK: the
	 * account is in e_r (name, and uid, gid, home when the back end
	 * knows them: account_fill()).  PASSDB_FAIL: wrong secret, unknown
	 * user, locked or expired account, with *why_r (may stay NULL) for
	 * the log.  PASSDB_TEMP: the back end could not tell (logged by
	 * it).  work is work_size zeroed bytes, kept for even_out().
	 */
	int (*verify)(const struct config *cfg,
	    const struct passdb_request *rq, struct pw_entry *e_r,
	    void *work, const char **why_r);
	/*
	 * After any failure (also of an account auth.c refused): does the
	 * work that makes a failure cost the same for every user, and
	 * returns the nanoseconds to add to the answer's deadline.
	 * verify_ns is what verify() took.
	 */
	long long (*even_out)(const struct config *cfg,
	    const struct passdb_request *rq, void *work, long long verify_ns);
	int can_lookup;		/* verify() works without a password (APOP) */
	size_t work_size;
};

extern const struct passdb passdb_file, passdb_pam, passdb_checkpassword;

/*
 * Parses an --auth value: "file", "pam", "pam:SERVICE" or
 * "checkpassword:PROGRAM" (an absolute path).  Sets cfg->passdb and
 * cfg->auth_arg.  Returns 0, or -1 with a reason in *why_r.
 */
int passdb_parse(struct config *cfg, const char *value, const char **why_r);

/*
 * Fills e_r with an account a back end found: name, uid, gid and home
 * (NULL or "": none), copied into e_r->line.  Returns 0, or -1 if they
 * do not fit (e_r is then empty).
 */
int account_fill(struct pw_entry *e_r, const char *name, uid_t uid,
    gid_t gid, const char *home);

/*
 * even_out() for a back end that cannot spend the work of every other
 * account (PAM, checkpassword): checks the password against
 * auth_dummy_hash, hashes times (what the back end spends on a wrong
 * password for a default account), and returns verify_ns with its part that depends on
 * the user (varying_ns, at most verify_ns: pam_authenticate() for PAM,
 * all of it for a checkpassword program, whose parts pop3d cannot see)
 * replaced by the longer of that part and the dummy check.  So an unknown
 * user, for which pam_unix hashes nothing, costs what a wrong password
 * for a default yescrypt account does.
 */
long long passdb_even_out_default(const struct passdb_request *rq,
    long long verify_ns, long long varying_ns, int hashes);

/*
 * Back ends that run programs or modules run them in a child process,
 * bounded by a deadline.  Waits for pid until the CLOCK_MONOTONIC
 * deadline, then kills its process group and pid with SIGKILL, and what
 * it started in other process groups too (found through /proc), and
 * reaps it.  Returns the wait status, or -1 if it had to be killed (logged
 * with what, the back end's words) or could not be waited for.
 */
int passdb_reap(pid_t pid, const struct timespec *deadline,
    const char *what);

/* passdb_pam.c's parts that need no PAM stack (the unit tests'). */
struct pam_message;
struct pam_response;
struct passdb_pam_conv_data {
	const char *password;	/* NULL: APOP, no password to give */
	int asked;		/* a module took the password */
	int refused;		/* a module asked something else */
};
/*
 * The PAM conversation (appdata_ptr: a struct passdb_pam_conv_data):
 * every PAM_PROMPT_ECHO_OFF gets a copy of the password; PAM_ERROR_MSG
 * and PAM_TEXT_INFO are logged, escaped, and get no text back; any other
 * question, an APOP login's password prompt, or a num_msg outside
 * 1..PAM_MAX_NUM_MSG fail with PAM_CONV_ERR (PAM_BUF_ERR without memory),
 * with nothing allocated left over and *resp NULL.
 */
int passdb_pam_conv(int num_msg, const struct pam_message **msg,
    struct pam_response **resp, void *appdata_ptr);
/* What a PAM result code says about a login: PASSDB_OK, PASSDB_FAIL (this
 * login is refused) or PASSDB_TEMP (cannot tell); asked: the password was
 * taken before the code came. */
int passdb_pam_verdict(int code, int asked);

/*
 * The checkpassword back end's two formats, apart for the unit tests.
 * checkpassword_message() lays "user\0password\0timestamp\0" into buf
 * (size bytes) as the program reads it on descriptor 3; returns its
 * length, or -1 if it would exceed MAX_CHECKPASSWORD_INPUT or size.
 * checkpassword_parse_reply() reads what the reply program sent:
 * "USER=name\0" then optionally "HOME=/dir\0", nothing else; returns 0
 * (r filled) or -1 with a reason in *why_r.
 */
enum { CHECKPASSWORD_FD_INPUT = 3, CHECKPASSWORD_FD_REPLY = 4 };
struct checkpassword_reply {
	char user[MAX_USER_NAME + 1];
	char home[MAX_PATH_LEN];	/* "" when none was given */
};
int checkpassword_message(char *buf, size_t size, const char *user,
    const char *password, const char *timestamp);
int checkpassword_parse_reply(const void *buf, size_t len,
    struct checkpassword_reply *r, const char **why_r);

/* checkpassword_reply.c: "pop3d --checkpassword-reply", the program a
 * checkpassword program runs once it accepted a login.  Returns the exit
 * status. */
int checkpassword_reply_main(void);

/* ----------------------------------------------------------- maildrop */

/*
 * The maildrop interface: what session.c does with a user's mail,
 * whatever its format.  Its back ends: mbox (maildrop_mbox.c, over
 * mailbox.c, lock.c, journal.c, idxcache.c and spool.c) and Maildir
 * (maildrop_maildir.c).  maildrop.c keeps what is the same for all (the
 * DELE marks and the counts); nothing above it knows which back end it
 * talks to.  Message numbers n are 0-based and below count.
 */
enum md_status {
	MD_OK = 0,
	MD_ERROR,	/* I/O or memory failure: [SYS/TEMP] */
	MD_NOT_MBOX,	/* not in the back end's format: [SYS/PERM] */
	MD_BAD_FILE,	/* link, not regular, wrong owner: [SYS/PERM] */
	MD_LOCKED,	/* another program holds the lock: [IN-USE] */
	MD_CHANGED,	/* rewritten behind our back: [SYS/TEMP] */
	MD_IN_USE,	/* another POP3 session has it: [IN-USE] */
	MD_JOURNAL,	/* damaged or foreign journal: [SYS/PERM] */
	MD_NET,		/* the client connection failed */
	MD_GONE		/* this message was removed by another program:
			 * -ERR for it, the session goes on */
};

struct maildrop_ops {
	const char *name;	/* "mbox", "maildir": for the logs */
	const char *prefix;	/* how a template names it: "maildir:" */
	int in_spool;		/* a file in a spool directory, which must
				 * take its lock and journal names */
	/* Opens and indexes the maildrop at path (a file or directory
	 * owned by owner), with the index cache file cache (NULL: none).
	 * MD_OK: *be_r and *count_r set.  Otherwise nothing is left open. */
	int (*open)(void **be_r, const char *path, uid_t owner,
	    const char *cache, unsigned workarounds, size_t *count_r);
	/* The octets RETR sends for message n, before byte-stuffing,
	 * with the --client-workarounds open() was given. */
	uint64_t (*size)(void *be, size_t n);
	/* Its UIDL, NUL-terminated, into buf (MAX_UID_LEN + 1 bytes). */
	void (*uid)(void *be, size_t n, char *buf);
	/* Before the "+OK" of RETR or TOP: may message n be sent?  MD_OK,
	 * MD_GONE, MD_LOCKED (busy: -ERR, go on), else end the session.
	 * May correct size(n). */
	int (*check)(void *be, size_t n);
	/* Sends message n (lines < 0) or its header and that many body
	 * lines, byte-stuffed, with the terminator only if it is verified
	 * unchanged.  MD_OK, MD_CHANGED, MD_ERROR or MD_NET. */
	int (*send)(void *be, size_t n, long lines, struct netio *io);
	/* Removes the messages whose deleted[n] is set (at least one),
	 * crash-safe.  Returns an md_status. */
	int (*update)(void *be, const unsigned char *deleted);
	void (*close)(void *be);	/* be may be NULL */
};

extern const struct maildrop_ops maildrop_mbox, maildrop_maildir;

struct maildrop {
	const struct maildrop_ops *ops;	/* NULL: none open */
	void *be;		/* the back end's state */
	size_t count;		/* messages, deleted ones included */
	size_t live_count;	/* not marked deleted */
	uint64_t live_size;	/* their total size */
	unsigned char *deleted;	/* count DELE marks */
};

/*
 * The back end a template (or a mail= field) names: "maildir:PATH" is a
 * Maildir, "mbox:PATH" and a plain path an mbox.  *path_r is the
 * template without its prefix.
 */
const struct maildrop_ops *maildrop_select(const char *template,
    const char **path_r);
/* Opens the maildrop at path with that back end: an md_status.  After a
 * failure md is closed (maildrop_close() is harmless on it). */
int maildrop_open(struct maildrop *md, const struct maildrop_ops *ops,
    const char *path, uid_t owner, const char *cache, unsigned workarounds);
uint64_t maildrop_size(const struct maildrop *md, size_t n);
void maildrop_uid(const struct maildrop *md, size_t n, char *buf);
int maildrop_is_deleted(const struct maildrop *md, size_t n);
/* DELE marks a message (O(1)); RSET unmarks them all. */
void maildrop_mark(struct maildrop *md, size_t n);
void maildrop_unmark_all(struct maildrop *md);
/* The total size of the marked messages. */
uint64_t maildrop_deleted_size(const struct maildrop *md);
/* ops->check and ops->send, keeping live_size right. */
int maildrop_check(struct maildrop *md, size_t n);
int maildrop_send(struct maildrop *md, size_t n, long lines,
    struct netio *io);
/* UPDATE: removes the marked messages; MD_OK at once if none. */
int maildrop_update(struct maildrop *md);
/* Closes whatever is open; md is zeroed (a zeroed md is closed). */
void maildrop_close(struct maildrop *md);

/* The Maildir back end's parts that need no Maildir (the unit tests'). */
/* A file name's base name, as long as the part before its first ':'. */
size_t maildir_base_len(const char *name);
/* The ",W=" size among the base name's fields (CRLF octets, as Dovecot
 * and Courier write it): 0 with *size_r, or -1 for none. */
int maildir_name_size(const char *name, size_t base_len, uint64_t *size_r);
/* The delivery time a name begins with ("1700000000."): 0, or -1. */
int maildir_name_time(const char *name, long long *time_r);
/*
 * The UIDL of a message whose base name is the base_len bytes at name,
 * into buf (MAX_UID_LEN + 1 bytes): the base name, each byte outside
 * 0x21-0x7E and each ' " + as "+XX" (Courier's rule); if that is longer
 * than MAX_UID_LEN,
 * its first 36 characters, "+-" and the base name's MD5 in 32 hex digits
 * (a mapped name never holds "+-": no literal name gives a hashed id).
 */
void maildir_uid(const char *name, size_t base_len, char *buf);
/* Checks a journal's len bytes at p (see maildrop_maildir.c) and calls
 * fn (if not NULL) for every base name in it.  Returns 0, or -1 if it is
 * damaged (or fn returned -1). */
int maildir_journal_parse(const unsigned char *p, size_t len,
    int (*fn)(void *ctx, const char *base, size_t base_len), void *ctx);
/*
 * Checks the len bytes at p as a courierpop3dsizelist (Courier's
 * "/2 NEXT UIDV" or "/3 NEXT UIDV", then "NAME SIZE N:UIDV" or
 * "NAME SIZE N:UIDV:UTF8" lines, see maildrop_maildir.c) and calls fn
 * (if not NULL) for every line's file name, N and UIDV.  Returns 0, or
 * -1 if a line is malformed (or fn returned -1), with the line's number
 * (from 1) in *line_r.
 */
int maildir_sizelist_parse(const unsigned char *p, size_t len,
    int (*fn)(void *ctx, const char *name, size_t name_len, uint64_t n,
    uint64_t uidv), void *ctx, size_t *line_r);
/* The UIDL Courier shows for a message its sizelist gives N and UIDV
 * (N not 0), "UID<N>-<UIDV>", or "UID<N>" for a UIDV of 0, into buf
 * (MAX_UID_LEN + 1 bytes: 44 at most). */
void maildir_courier_uid(uint64_t n, uint64_t uidv, char *buf);

/* ---------------------------------------------------------- msgstream.c */

/*
 * --client-workarounds (Dovecot's pop3_client_workarounds), bits of
 * struct config's client_workarounds:
 * WA_OUTLOOK_NO_NULS: a NUL byte of a message is sent as 0x80 (Outlook
 *   and Outlook Express hang at a NUL); sizes do not change.
 * WA_OE_NS_EOH: a message whose header no empty line ends (it ends
 *   inside its header) gets one, CRLF, after it (Outlook Express and
 *   Netscape Mail need to see the end of the header): 2 octets more.
 */
#define WA_OUTLOOK_NO_NULS	0x01
#define WA_OE_NS_EOH		0x02

/*
 * Sends len stored bytes of fd from off as RETR (body_lines < 0) or TOP
 * (the header, the blank line and body_lines body lines) sends them:
 * CRLF line ends (a missing final newline added), byte-stuffed, without
 * the terminator, with the WA_ workarounds wa.  buf has MBOX_BLOCK_SIZE
 * bytes; what names the file in the log.  Returns MD_OK, MD_CHANGED (the
 * file was shorter), MD_ERROR or MD_NET.
 */
int msg_stream(int fd, uint64_t off, uint64_t len, long body_lines,
    unsigned wa, unsigned char *buf, const char *what, struct netio *io);

/* Where a message's header ends, followed over its stored bytes block by
 * block (zeroed at the start): body is set once an empty line ("\n" or
 * "\r\n") has started.  The one rule for msgstream.c's RETR and sizes. */
struct eoh_scan {
	int mid_line;	/* the last block ended inside a line */
	int cr_start;	/* ... with a "\r" that starts a line */
	int body;	/* the header's empty line was seen */
};
void eoh_feed(struct eoh_scan *e, const unsigned char *p, size_t n);

/* The octets msg_stream() sends for a whole message (before stuffing),
 * counted over its stored bytes given block by block: zero a struct
 * msg_size, msg_size_add() every block in order, then msg_size_end()
 * with the WA_ workarounds the message will be sent with. */
struct msg_size {
	uint64_t size;
	int prev_cr;	/* the last block ended with CR */
	int last_nl;	/* ... with LF */
	int any;	/* a byte was seen */
	struct eoh_scan eoh;
};
void msg_size_add(struct msg_size *ms, const unsigned char *p, size_t n);
uint64_t msg_size_end(const struct msg_size *ms, unsigned wa);

/* -------------------------------------------------------------- spool.c */

/* The mbox's directory, opened once (spool.c); names in it are reached
 * only through dfd. */
struct spool {
	int dfd;			/* the directory, or -1 */
	int privileged;			/* its names need the mail group */
	char path[MAX_PATH_LEN];	/* the mbox's path, for the logs */
	char name[MAX_PATH_LEN];	/* the mbox's name in dfd */
};

/* The privileged group (Debian's "mail"), set once by a root-started
 * pop3d that keeps it as saved set-group-ID; -1 for none. */
void spool_set_group(gid_t gid);

/*
 * Opens the directory of the mbox at mbox (a path), with the user's rights, and
 * decides whether its names need the mail group: only when the user
 * cannot write it and the group can, it is owned by root, and
 * the path to it holds no symbolic link that anyone but root could have
 * placed.  Otherwise the group is dropped for good (spool_drop_group()).
 * Returns 0, -1 with errno (the directory's open), or -2 when the group
 * could not be dropped (logged): the session must end.
 */
int spool_open(struct spool *sp, const char *mbox);
/* Warns if the directory dir (described by st) is world-writable. */
void spool_warn_dir(const char *dir, const struct stat *st);
void spool_close(struct spool *sp);

/* Gives up the mail group in real, effective and saved gid and verifies
 * that it cannot be regained.  Returns 0, or -1 (logged): end the
 * session. */
int spool_drop_group(void);

/*
 * Whether UPDATE will be able to create its journal and dot-lock in the
 * directory, with the mail group if it needs it; tried, leaving nothing
 * behind.  Returns 1 yes, 0 no (logged: the directory, why, and what to
 * change), -1 could not tell (errno).
 */
int spool_can_create(const struct spool *sp);

/* spool_privileged(sp, 1) makes the mail group effective, if sp needs
 * it, for one name operation on sp->dfd; spool_privileged(sp, 0) ends
 * that at once (and exits the process if it cannot).  Returns 0 or -1
 * (logged; the operation then runs without the group). */
int spool_privileged(const struct spool *sp, int on);

/* name = the mbox's name + suffix (relative to sp->dfd) and, when path
 * is not NULL, path = its full path, for the logs.  0, or -1
 * (ENAMETOOLONG). */
int spool_name(const struct spool *sp, const char *suffix, char *name,
    size_t namesize, char *path, size_t pathsize);

/* ------------------------------------------------------------ mailbox.c */

#define MSG_DELETED	0x01
#define MSG_WIDE_UID	0x02	/* no popa3d header: 32-digit UID */
#define MSG_NO_FINAL_NL	0x04	/* last line lacks a newline */
#define MSG_HDR_UID	0x08	/* shown id from a header (--uidl-format) */

/* --uidl-format: where an mbox message's UIDL comes from.  POPA3D (the
 * default) is the hash rule of README's UIDL section; the others take
 * the id a previous server wrote into the message's header, and fall
 * back to the default rule where it is missing, malformed or taken. */
enum uidl_format { UIDL_POPA3D, UIDL_DOVECOT, UIDL_XUIDL };
#define MSG_NO_EOH	0x10	/* no empty line ends the header (the
				 * message ends inside it) */

/* Longest UID we print: RFC 1939's 70 (an mbox's are at most 32 hex
 * digits, '-', a decimal suffix; a Maildir's are its names). */
#define MAX_UID_LEN 70

struct message {
	uint64_t from_off;	/* offset of the From_ line */
	uint64_t data_off;	/* first byte after the From_ line */
	uint64_t data_len;	/* stored bytes of the message */
	uint64_t size;		/* octets RETR sends, CRLF line ends */
	unsigned char hash[16];	/* MD5 for the UID */
	uint32_t dup;		/* 0, or n for the suffix "-n" (n >= 2) */
	uint32_t flags;
};

struct mbox_index {
	struct message *msgs;
	size_t count, alloc;
	uint64_t scanned;	/* bytes covered by the index */
	/* Only with a header format (--uidl-format dovecot, x-uidl): per
	 * message, what its header says, whether usable or not (MSG_HDR_UID
	 * says whether it is shown): dovecot its X-UID value, x-uidl 1 + the
	 * offset of its X-UIDL id in ids (NUL-terminated); 0 for none. */
	uint32_t *hid;
	char *ids;
	size_t ids_len, ids_alloc;
	uint32_t uidvalidity;	/* dovecot: the first message's X-IMAPbase */
	uint32_t last_uid;	/* and its last used UID */
	int fmt;		/* enum uidl_format of the scan */
};

/*
 * Scans an mbox from offset 0 up to limit bytes (or to EOF if limit is
 * UINT64_MAX) and builds the index.  Returns MBOX_OK, MBOX_NOT_MBOX (does
 * not start with "From "), MBOX_CHANGED (fewer bytes than limit), or
 * MBOX_ERROR (I/O or memory; errno set).
 */
int mbox_scan(int fd, uint64_t limit, struct mbox_index *idx);
/* The same for the bytes from start (a From_ line: the first message
 * starts there) up to limit; offsets in idx are the file's. */
int mbox_scan_range(int fd, uint64_t start, uint64_t limit,
    struct mbox_index *idx);
/*
 * Do the From_ lines of the first, the last and about probes messages
 * between them (every count/probes-th from phase on) start where m says?
 * One small read each.  Returns 1 if they all do, 0 if not (or on a
 * read error).
 */
int mbox_from_lines_hold(int fd, const struct message *m, size_t count,
    size_t probes, size_t phase);
/* Sets the duplicate suffixes (dup) of messages whose UIDs are equal, in
 * file order; every dup must be 0 before.  Returns 0 or -1 (ENOMEM). */
int mbox_number_duplicates(struct mbox_index *idx);
/* Scans message n of idx again: MBOX_OK if it is still as indexed
 * (boundaries, size, hash, flags), MBOX_CHANGED, or MBOX_ERROR. */
int mbox_message_holds(int fd, const struct mbox_index *idx, size_t n);
/* Chooses the scan's inner loop: AVX2 where the CPU has it, unless
 * force_sse2 (for tests: both must give the same index).  mbox_scan()
 * calls it itself the first time. */
void mbox_scan_select(int force_sse2);
void mbox_index_free(struct mbox_index *idx);

/* Formats a message's default (popa3d-rule) UID into buf (MAX_UID_LEN + 1
 * bytes). */
void mbox_uid(const struct message *m, char *buf);
/* Formats message n's UIDL as shown: its header id when MSG_HDR_UID,
 * else mbox_uid()'s. */
void mbox_index_uid(const struct mbox_index *idx, size_t n, char *buf);
/* Chooses the UIDL format of the scans that follow (process-wide; the
 * session sets it before opening the maildrop).  Default UIDL_POPA3D. */
void mbox_set_uidl_format(enum uidl_format fmt);
enum uidl_format mbox_get_uidl_format(void);
/* "popa3d", "dovecot", "x-uidl"; and back (-1 for anything else). */
const char *uidl_format_name(enum uidl_format fmt);
int uidl_format_parse(const char *name);
/*
 * The header parsers, exposed for the unit tests.  line: one whole header
 * line, its name included, without its line end (len bytes).
 * mbox_parse_x_uid: an "X-UID:" line's value as Dovecot reads it (digits,
 * then only white space; 1..4294967295): the number, or 0 (malformed).
 * mbox_parse_x_imapbase: "X-IMAPbase: UIDVALIDITY [LASTUID [keywords]]":
 * 0 and the two numbers (UIDVALIDITY not 0; LASTUID 0 when missing), or
 * -1.  mbox_parse_x_uidl:
 * an "X-UIDL:" line's id, 1..70 bytes of 0x21..0x7E with only white space
 * around it: 0, *id_r and *idlen_r pointing into line; or -1.
 */
uint32_t mbox_parse_x_uid(const unsigned char *line, size_t len);
int mbox_parse_x_imapbase(const unsigned char *line, size_t len,
    uint32_t *validity_r, uint32_t *last_r);
int mbox_parse_x_uidl(const unsigned char *line, size_t len,
    const unsigned char **id_r, size_t *idlen_r);

/* mailbox.c's results: the interface's (md_status), under mbox names. */
enum mbox_status {
	MBOX_OK = MD_OK,
	MBOX_ERROR = MD_ERROR,
	MBOX_NOT_MBOX = MD_NOT_MBOX,
	MBOX_BAD_FILE = MD_BAD_FILE,
	MBOX_LOCKED = MD_LOCKED,
	MBOX_CHANGED = MD_CHANGED,
	MBOX_IN_USE = MD_IN_USE,
	MBOX_JOURNAL = MD_JOURNAL,
	MBOX_NET = MD_NET
};

struct mailbox {
	char path[MAX_PATH_LEN];
	struct spool sp;	/* its directory, open for the session */
	int fd;			/* -1 for a missing (empty) maildrop */
	int session_fd;		/* its session lock file, or -1 (lock.c) */
	struct mbox_index idx;
	dev_t dev;
	ino_t ino;
	/* Size and mtime when every indexed byte was last verified, and
	 * when the layout was (mailbox.c, check_unchanged). */
	uint64_t seen_size;
	int64_t seen_mtime_ns;
	uint64_t layout_size;
	int64_t layout_mtime_ns;
	unsigned char tail_sum[16];	/* XXH3-128 of the index's last bytes */
	unsigned char *buf;	/* MBOX_BLOCK_SIZE bytes for reading */
	size_t live_count;	/* messages not marked deleted */
	uint64_t live_size;	/* their total size */
	unsigned workarounds;	/* WA_ bits for mbox_send(), set by the
				 * caller after mbox_open() */
};

/* Opens the maildrop (no symlinks; a regular file owned by owner) and
 * indexes it under the locks.  A missing file is an empty maildrop. */
int mbox_open(struct mailbox *mb, const char *path, uid_t owner);
/* The same, with the index cache file `cache` (NULL: none; idxcache.c). */
int mbox_open_cached(struct mailbox *mb, const char *path, uid_t owner,
    const char *cache);

/*
 * Sends message n (0-based) to the client as a byte-stuffed multi-line
 * body with its terminator; the caller has sent the "+OK" line.  lines < 0
 * sends the whole message; otherwise the header, the blank line and that
 * many body lines (TOP).  The terminator is sent only if the mailbox is
 * verified unchanged after the body went out, so a client never accepts
 * data from a mailbox rewritten under it.  Returns MBOX_OK, MBOX_CHANGED
 * (the response was cut short), MBOX_ERROR or MBOX_NET.
 */
int mbox_send(struct mailbox *mb, size_t n, long lines, struct netio *io);

/* Verifies that the indexed bytes are unchanged (MBOX_OK/MBOX_CHANGED):
 * all of them, at a cost of the mbox's size when it changed. */
int mbox_check(struct mailbox *mb);
/* Verifies what sending message n relies on: the mbox's layout and that
 * message, at a cost of the message plus a constant (MBOX_OK,
 * MBOX_CHANGED, MBOX_LOCKED, MBOX_ERROR). */
int mbox_check_message(struct mailbox *mb, size_t n);

/* DELE marks a message; RSET unmarks them all. */
void mbox_mark_deleted(struct mailbox *mb, size_t n);
void mbox_unmark_all(struct mailbox *mb);

/* Removes the messages marked deleted, keeping everything else and any
 * mail appended since the scan.  Returns an mbox_status. */
int mbox_update(struct mailbox *mb);

void mbox_close(struct mailbox *mb);

/* ------------------------------------------------------------- fullio.c */

/* read(2)/write(2), and pread(2)/pwrite(2) at off, of exactly len bytes,
 * retried after short transfers and EINTR.  Return 0, or -1 with errno
 * (EIO: end of file). */
int read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
int pread_full(int fd, void *buf, size_t len, uint64_t off);
int pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
/* The directory part of path into buf ("." for a bare name, "/" for a
 * name in the root).  Returns 0, or -1 if it does not fit. */
int path_dir(char *buf, size_t size, const char *path);
/* 64-bit little-endian fields of the on-disk formats. */
void put_le64(unsigned char *p, uint64_t v);
uint64_t get_le64(const unsigned char *p);
/* A cache file replaced whole: replace_open() makes the new private
 * file FILE.PID.tmp (tmp, tmpsize bytes), O_EXCL and O_NOFOLLOW, and
 * returns its descriptor or -1; replace_commit() closes fd and, if ok,
 * renames tmp over file, else (or when that fails) removes tmp; 0 when
 * file was replaced.  Failures are logged at debug level naming what:
 * a cache that cannot be written only costs the work it would save. */
int replace_open(const char *file, char *tmp, size_t tmpsize,
    const char *what);
int replace_commit(int fd, int ok, const char *tmp, const char *file,
    const char *what);

/* ----------------------------------------------------------- idxcache.c */

/*
 * The optional on-disk index cache.  idxcache_load() fills idx from the
 * cache file if it was built from exactly the mbox that fstat showed as
 * mst (opened as mfd, under the locks); returns 0, or -1 (missing, stale
 * or damaged: scan).  idxcache_save() writes one after a scan that began
 * at scan_start, if the mbox was old enough then; failures are ignored.
 */
int idxcache_load(const char *file, int mfd, const struct stat *mst,
    struct mbox_index *idx);
void idxcache_save(const char *file, const struct stat *mst,
    time_t scan_start, const struct mbox_index *idx);

/* ------------------------------------------------------ maildir_cache.c */

/*
 * The Maildir cache file (maildir_cache.c has the format): the stamps of
 * cur/ and new/ as fstat gave them before the scan that built it, and one
 * record a message, in strictly ascending base name order.
 */
struct mdcache_dir {
	uint64_t dev, ino;
	int64_t mtime_ns, ctime_ns;
};
struct mdcache_entry {
	const char *name;	/* not NUL-terminated: name_len bytes */
	size_t name_len, base_len;
	int dir;		/* 0 cur/, 1 new/ */
	uint64_t ino, st_size;	/* the file as fstatat saw it */
	int64_t mtime_ns;
	uint64_t size;		/* its CRLF size: a hint, verified at RETR */
	long long time;		/* delivery time, for the order */
};
struct mdcache {
	struct mdcache_dir dirs[2];	/* cur/, new/ */
	int settled;	/* both ctimes CACHE_SETTLE_SECONDS old when taken,
			 * on a local file system */
	size_t count;
	struct mdcache_entry *e;	/* count entries (malloc'd) */
};
/* Checks the len bytes at p as a cache file and fills c, whose names
 * point into p: 0, or -1 with why in *why_r (c is then empty). */
int mdcache_parse(const unsigned char *p, size_t len, struct mdcache *c,
    const char **why_r);
/* The file for c (names valid as the parser wants them, base names
 * ascending) in a malloc'd *buf_r of *len_r bytes: 0, or -1 (errno). */
int mdcache_build(const struct mdcache *c, unsigned char **buf_r,
    size_t *len_r);
void mdcache_free(struct mdcache *c);
/*
 * Reads and parses the cache file, which must be a regular file of
 * owner's, not a link, of at most MAILDIR_CACHE_MAX bytes: 0 with c
 * filled and the file's bytes (which c's names point into) in a malloc'd
 * *raw_r of *len_r bytes; -1 (missing, or refused: logged) with nothing
 * allocated.
 */
int mdcache_load(const char *file, uid_t owner, struct mdcache *c,
    unsigned char **raw_r, size_t *len_r);
/* Writes len bytes to file under a temporary name (O_EXCL, O_NOFOLLOW),
 * renamed into place; failures are logged at debug and ignored. */
void mdcache_save(const char *file, const unsigned char *buf, size_t len);

/* --------------------------------------------------------------- lock.c */

struct mbox_lock {
	const struct spool *sp;	/* the directory of the mbox */
	char host[DOTLOCK_HOST_MAX + 1];	/* ours, as our lock names it */
	char dotlock[MAX_PATH_LEN];	/* PATH.lock, for the logs */
	char name[MAX_PATH_LEN];	/* its name in sp->dfd */
	int have_dotlock;
	int sync_removal;	/* the mbox was written: make unlock durable */
	int fd;			/* fcntl-locked descriptor, or -1 */
	int blocked;		/* termination signals are blocked */
	sigset_t block_mask, old_mask;
};

/*
 * Takes the dot-lock PATH.lock and an fcntl lock of the given type
 * (F_RDLCK or F_WRLCK) on fd, each waited for at most LOCK_WAIT_SECONDS.
 * fd may be -1 (no file yet).  Returns MBOX_OK, MBOX_LOCKED or MBOX_ERROR.
 */
int lock_mbox(struct mbox_lock *lk, const struct spool *sp, int fd,
    int type);
/* An fcntl lock alone, waited for at most LOCK_WAIT_SECONDS: MBOX_OK,
 * MBOX_LOCKED or MBOX_ERROR.  unlock_fcntl() releases it. */
int lock_fcntl(int fd, int type);
void unlock_fcntl(int fd);

/*
 * Whether fd's file system is this kernel's own (not NFS, CIFS, FUSE, a
 * cluster file system; unknown counts as not): pids and boot times in
 * locks there are this host's, and flock(2) is a lock of its own.
 */
int fs_is_local(int fd);

/* The session lock's file beside the mbox where flock(2) is not a lock
 * of its own (lock_session()).  No MDA or mail reader uses this name. */
#define SESSION_LOCK_SUFFIX ".pop3d-session"

/*
 * One POP3 session per maildrop, held until the process ends or *fd_r is
 * closed: flock(2) on the mbox mfd on a local file system (*fd_r = -1);
 * elsewhere an fcntl write lock on PATH.pop3d-session, created if need be
 * (with the mail group where the spool needs it), its descriptor in
 * *fd_r.  Never waits.  Returns MBOX_OK, MBOX_IN_USE, MBOX_BAD_FILE (a
 * session lock file that is not the user's, or cannot be created) or
 * MBOX_ERROR; each failure is logged.
 */
int lock_session(const struct spool *sp, int mfd, uid_t owner, int *fd_r);

/* Releases both locks and lets blocked signals through again.  With
 * lk->sync_removal set (by a caller that wrote the mbox), the dot-lock's
 * removal is made durable with a directory fsync. */
void unlock_mbox(struct mbox_lock *lk);

/* dotlock_stale()'s verdicts: honour the lock, or why it is stale. */
enum dotlock_verdict {
	DOTLOCK_HONOUR,
	DOTLOCK_OLD,		/* mtime more than DOTLOCK_STALE_SECONDS off */
	DOTLOCK_EMPTY,		/* no pid, older than DOTLOCK_EMPTY_SECONDS */
	DOTLOCK_BEFORE_BOOT,	/* local FS: made before the last boot */
	DOTLOCK_DEAD		/* local FS: its pid does not exist */
};

/*
 * Whether a dot-lock that someone else holds is stale, from its lstat(2)
 * st, its content (len bytes, not NUL-terminated), the time now, the
 * boot time (0: unknown), whether it lies on a local file system (pids
 * and the boot time mean nothing over NFS) and our host name as
 * dotlock_hostname() gives it ("" if none).  A lock naming another host,
 * or one whose content cannot be read (dotlock_holder()), goes stale by
 * age alone, on any file system.  Anything but a small regular file is
 * honoured.  Only the dead-pid rule makes a system call (kill(2) with
 * signal 0).  Returns an enum dotlock_verdict.
 */
int dotlock_stale(const struct stat *st, const char *content, size_t len,
    time_t now, time_t boot_time, int local_fs, const char *our_host);

/* What a dot-lock's content says about its holder. */
enum dotlock_holder {
	DOTLOCK_UNREADABLE,	/* not a form below: malformed, overlong */
	DOTLOCK_ANONYMOUS,	/* a pid alone (other MDAs, older pop3d), or
				 * "0", liblockfile's "no pid" */
	DOTLOCK_NAMED		/* a pid and the host name of its machine */
};

/*
 * Reads a dot-lock's content, untrusted (any user who could write the
 * spool may have made it): len bytes, not NUL-terminated, of the forms
 * "PID" and "PID HOST" (ours, pop3d's) or "PID:HOST" (Dovecot's), with
 * spaces, tabs, CR and LF allowed before and after.  PID is 1 to
 * DOTLOCK_PID_DIGITS decimal digits, at most INT_MAX; HOST is 1 to
 * DOTLOCK_HOST_MAX letters, digits, '.', '-' or '_'.  Sets *pid_r (0
 * unless a pid is named) and host_r, DOTLOCK_HOST_MAX + 1 bytes ("" unless
 * a host is named).  Returns an enum dotlock_holder.
 */
int dotlock_holder(const char *content, size_t len, pid_t *pid_r,
    char *host_r);

/*
 * Our host name as our dot-locks name it, in host_r (DOTLOCK_HOST_MAX + 1
 * bytes): gethostname(2)'s, through dotlock_clean_host(); "" if there is
 * none, and then our locks hold the pid alone.
 */
void dotlock_hostname(char *host_r);

/* Replaces each byte of the NUL-terminated host that dotlock_holder()
 * does not accept in a host name by '_', so that the name can be
 * written in a lock and read back. */
void dotlock_clean_host(char *host);

/* The content of our dot-lock, NUL-terminated, in buf (size bytes):
 * "PID HOST\n", or "PID\n" if host is "".  Returns its length, or -1 if
 * it does not fit. */
int dotlock_format(char *buf, size_t size, pid_t pid, const char *host);

/* ------------------------------------------------------------ journal.c */

/* A piece of the rewritten region: len bytes of fd at off. */
struct jsource {
	int fd;
	uint64_t off, len;
};

/*
 * Crash-safe rewrite of the mbox from offset w0 on: the file (of size
 * s_orig) becomes [0, w0) followed by the sources, in order.  Goes through
 * the journal MBOX.pop3d-journal (see docs/update-journal.md).  Called
 * with the locks held.  buf has MBOX_BLOCK_SIZE bytes.  Returns 0 or -1;
 * after -1 the mbox is in the state before or, via the journal at the
 * next open, after the rewrite.
 */
int journal_rewrite(const struct spool *sp, int mfd, uint64_t w0, uint64_t s_orig,
    const struct jsource *src, size_t nsrc, unsigned char *buf);

/*
 * Finishes an UPDATE a crash interrupted, keeping mail appended since.
 * Called at open, with the locks held.  Returns MBOX_OK (nothing to do,
 * or recovered), MBOX_JOURNAL (damaged or foreign journal: nothing
 * touched, administrator needed) or MBOX_ERROR.  Sets *wrote once it
 * may have written the mbox or renamed or removed the journal, so that
 * the caller makes the dot-lock's removal durable too.
 */
int journal_recover(const struct spool *sp, int mfd, unsigned char *buf,
    int *wrote);

/* ------------------------------------------------------------ session.c */

/* Where USER/PASS and AUTH PLAIN may be used (--plaintext-login). */
enum plaintext_policy { PLAINTEXT_NEVER, PLAINTEXT_TLS, PLAINTEXT_ALWAYS };

struct config {
	const struct passdb *passdb;	/* --auth: the back end */
	const char *auth_arg;		/* its PAM service or program */
	unsigned long first_uid;	/* --first-uid: lower uids refused */
	const char *remote_ip;		/* the client, NULL if unknown */
	const char *local_ip;		/* our address, NULL if unknown */
	const char *self_exe;		/* pop3d's own path (checkpassword's
					 * reply program), NULL if unknown */
	const char *passwd_file;
	const char *mailbox_template;
	const char *index_template;	/* NULL: no index cache */
	const char *apop_file;		/* NULL: APOP not offered */
	const char *hostname;
	const char *mail_group;		/* privileged group; "" for none */
	const char *privsep_user;	/* pre-login account (root mode) */
	const char *privsep_dir;	/* its empty chroot directory */
	const char *tls_cert, *tls_key;	/* NULL: no TLS */
	int implicit_tls;		/* --tls: handshake before greeting */
	enum plaintext_policy plaintext;
	enum uidl_format uidl_format;	/* --uidl-format (mbox maildrops) */
	int timeout;
	unsigned client_workarounds;	/* WA_ bits: --client-workarounds */
	const struct cidr *proxy_from;	/* --proxy-from: the balancers */
	size_t n_proxy_from;		/* 0: no PROXY header trusted */
	int relative_paths;		/* a relative maildrop path may be
					 * served (a pipe, not a super-server) */
};

/* --------------------------------------------------------------- proxy.c */

/* What a PROXY protocol header said.  local: use the connection's own
 * addresses (v2 LOCAL, a health check; v2 UNSPEC; v1 UNKNOWN); else src
 * is the client and dst the address it connected to. */
struct proxy_info {
	int version;			/* 1 or 2 */
	int local;
	struct sockaddr_storage src, dst;
};

/*
 * How many more bytes the header that starts buf (have bytes so far)
 * needs: > 0, 0 when it is complete (exactly have bytes), or -1 when it
 * cannot be a valid header (*why_r says why).  Never asks for a byte
 * beyond a valid header's end.
 */
long proxy_need(const unsigned char *buf, size_t have, const char **why_r);

/* Parses a complete header (len bytes, as proxy_need measured) into pi.
 * Returns 0, or -1 with *why_r. */
int proxy_parse(const unsigned char *buf, size_t len, struct proxy_info *pi,
    const char **why_r);

/*
 * Reads one header from fd into buf (size >= PROXY_V2_MAX) by the
 * deadline, exactly its bytes.  Returns 1 (*len_r bytes), 0 (deadline),
 * -1 (invalid, closed, error: *why_r).
 */
int proxy_read(int fd, const struct timespec *deadline, unsigned char *buf,
    size_t size, size_t *len_r, const char **why_r);

/* A network of --proxy-from. */
struct cidr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned bits;
};

/* Parses "CIDR[,CIDR...]" (an address alone is a /32 or /128; host bits
 * must be zero) into at most max entries.  Returns 0, or -1. */
int cidr_parse_list(const char *s, struct cidr *list, size_t max,
    size_t *n_r);

/* 1 if the address is in one of the networks (an IPv4-mapped IPv6
 * address as the IPv4 address it is), else 0. */
int cidr_match(const struct cidr *list, size_t n,
    const struct sockaddr_storage *ss);

/* ---------------------------------------- options.c and config.c */

/* Everything the command line and the configuration file set. */
struct options {
	struct config cfg;
	int use_stderr;			/* --stderr */
	int check_config;		/* --check-config */
	int plaintext;			/* --plaintext-login, -1: default */
	const char *config_file;	/* the file read; NULL: none */
	int config_given;		/* --config: the file must exist */
};

/*
 * Fills o (set to its defaults by the caller) from the configuration
 * file and then argv, which wins: --config FILE (must exist), else
 * $POP3D_CONFIG or DEFAULT_CONFIG_FILE (read when present).  Every
 * mistake ends pop3d with exit status 2, reported where the
 * administrator reads it (log_startup_error), a file's with FILE:LINE.
 * Returns 0, or 1 when --help or --version was answered (exit 0).
 */
int options_load(struct options *o, int argc, char **argv,
    const char *usage);

/* Where the setting of that long name came from: "default", "command
 * line" or "FILE:LINE", in buf. */
const char *options_source(const char *name, char *buf, size_t size);

/* The configuration file that was read, or NULL. */
const char *options_file(void);

/* The i-th --client-workarounds name (from 0) and its WA_ bit in
 * *bit_r, or NULL past the last. */
const char *options_workaround_name(size_t i, unsigned *bit_r);

/* Called for each "name = value" line (both NUL-terminated, trimmed);
 * returns 0, or -1 with the reason in why. */
typedef int config_line_fn(void *ctx, const char *name, const char *value,
    char *why, size_t size);

/*
 * Parses a configuration file's text in buf (len bytes, changed in
 * place: the names and values point into it, NUL-terminated there, so
 * buf[len] must be writable too: a last line without a newline ends at
 * it; config_read's buffer has that byte).  Blank lines and lines whose
 * first non-blank character is # are skipped; a line longer than
 * MAX_CONFIG_LINE, with a control character (DEL and NUL included),
 * without "=", with no name, or with a comment after its value (or for
 * its value) is refused.  Returns 0, or -1 with the reason in why and
 * its line number in *line_r (set for every line before fn is called).
 */
int config_parse(char *buf, size_t len, config_line_fn *fn, void *ctx,
    unsigned *line_r, char *why, size_t size);

/*
 * Reads the file at path through trust_open(), at most MAX_CONFIG_SIZE
 * bytes, into a new NUL-terminated buffer (*buf_r, *len_r).  Returns 1,
 * 0 when it does not exist and !must_exist, or -1 with the reason in
 * why (the file unsafe, unreadable, too large, or binary: a NUL byte,
 * reported as "PATH:LINE: ...").
 */
int config_read(const char *path, int must_exist, char **buf_r,
    size_t *len_r, char *why, size_t size);

/*
 * Expands the mailbox template for an entry (%u, %h, %%) into buf.
 * Returns 0, or -1 if the result is empty, too long or needs a missing
 * home directory.
 */
int expand_mailbox(const char *template, const struct pw_entry *e,
    char *buf, size_t size);

/*
 * Parses a message number argument: plain decimal, 1..count.  Returns the
 * 0-based index, or -1 with the client-visible reason in *why_r.
 */
long parse_msgnum(const char *arg, size_t count, const char **why_r);

/* Fills buf with a fresh RFC 1939 APOP timestamp <pid.random.time@host>. */
void make_apop_timestamp(const char *hostname, char *buf, size_t size);


/*
 * Runs one POP3 session on in_fd/out_fd and returns the exit status.
 * timestamp is the APOP timestamp for the greeting, or NULL.  Logins are
 * checked by lc: here (auth_local_check), or in the pre-login process of
 * privilege separation by the privileged parent, which then takes the
 * session over (privsep.c).
 */
int session_run(const struct config *cfg, int in_fd, int out_fd,
    const struct login_checker *lc, const char *timestamp);

/* Continues a session whose login (of kind, a CRED_ value) the
 * privileged parent accepted: pending holds the client input the
 * pre-login process had read beyond it; tls_relayed, an enum tls_version
 * other than TLSV_NONE, says the client's TLS session is relayed to
 * in/out_fd, and which version it is (for the logout line). */
int session_resume(const struct config *cfg, int in_fd, int out_fd,
    const struct pw_entry *pw, int kind, const void *pending, size_t len,
    int tls_relayed);

/* -------------------------------------------------------- checkconfig.c */

/*
 * --check-config: makes every check a session with these options would
 * make, without a client, and prints each problem as one "error: " or
 * "warning: " line on standard error, then the effective settings on
 * standard output.  Returns the exit status: 1 if any error was found,
 * else 0 (warnings alone do not fail).  use_stderr is --stderr's value,
 * shown with the settings.
 */
int checkconfig_run(const struct config *cfg, int use_stderr);

/* ------------------------------------------------------------- logout.c */

/* Why a session ended: the logout line's end= value (logout.c's table;
 * the privsep channel carries the number). */
enum session_end {
	SEND_QUIT,	/* "quit": QUIT, and UPDATE if logged in */
	SEND_EOF,	/* "eof": the client closed without QUIT */
	SEND_TIMEOUT,	/* "timeout": idle for the -t seconds */
	SEND_ERROR,	/* "error": ours (UPDATE, maildrop, memory...) */
	SEND_SIGNAL,	/* "signal": SIGTERM, SIGHUP, SIGINT */
	SEND_LIMIT,	/* "limit": too many failed logins */
	SEND_BADCMD,	/* "badcmd": too many bad commands */
	SEND_TLS,	/* "tls": the TLS handshake failed */
	SEND_STALLED,	/* "stalled": the client stopped reading */
	SEND_FLOOD,	/* "flood": too much input before login */
	SEND_CHANGED,	/* "changed": maildrop rewritten by another program */
	SEND_LOST,	/* "lost": the connection failed */
	SEND_PROXY,	/* "proxy": a trusted balancer's header was bad */
	SEND_COUNT
};

/* The TLS version, as tls_version() reports it and the channel sends. */
enum tls_version { TLSV_NONE, TLSV_1_2, TLSV_1_3, TLSV_OTHER, TLSV_COUNT };

/* What the logout line reports.  user NULL: no login (auth then 0). */
struct session_stats {
	const char *user;	/* the account, unescaped */
	int auth;		/* CRED_PASS, CRED_APOP, CRED_PLAIN or 0 */
	int tls;		/* enum tls_version */
	unsigned long retr_n, top_n, dele_n;
	uint64_t retr_bytes, top_bytes, dele_bytes;
	size_t left;		/* messages left in the maildrop */
	int end;		/* enum session_end */
};

/* Notes the session's start (CLOCK_MONOTONIC); called once in main, so
 * both processes of root mode measure from the connection's start. */
void logout_start(void);
/* Milliseconds since logout_start(). */
unsigned long long logout_elapsed_ms(void);
/*
 * Formats the logout line (without the client prefix) into buf:
 * "logout: user=U auth=A tls=T retr=N/B top=N/B dele=N/B left=N
 * time=S.MMMs end=E".  Out-of-range auth, tls or end values print as
 * "unknown".  Returns 0, or -1 if it did not fit (buf then holds a
 * truncated, NUL-terminated line).
 */
int logout_format(char *buf, size_t size, const struct session_stats *st,
    unsigned long long ms);
/* Logs the logout line: LOG_INFO for quit, else LOG_NOTICE. */
void logout_log(const struct session_stats *st);
/* The end= and tls= words, and the reverse of the first for tests. */
const char *logout_end_name(int end);
const char *logout_tls_name(int tls);

/* ---------------------------------------------------------------- tls.c */

/* Loads libssl, the certificate chain and key (refusing a key file group
 * or others can read), TLS 1.2 at least.  Must run before any chroot.
 * Returns 0, or -1 (logged). */
int tls_setup(const char *cert, const char *key);
/* After tls_setup(): when the server certificate stops being valid, in
 * seconds from now (negative: expired) and as "YYYY-MM-DD HH:MM:SS UTC"
 * in when (size bytes).  Returns 0, or -1 (logged). */
int tls_cert_expiry(long long *secs_left_r, char *when, size_t size);
/* Non-zero once tls_setup() succeeded. */
int tls_available(void);
/* The protocol version of a connection from tls_accept() (NULL:
 * TLSV_NONE), an enum tls_version. */
int tls_version(const void *tls);
/* Runs the server handshake on the connection within timeout seconds.
 * Returns the connection (for the calls below), or NULL (logged with the
 * client address). */
void *tls_accept(int in_fd, int out_fd, int timeout);
/* Sends close_notify (one try: no wait), restores the descriptors' flags
 * and frees the connection. */
void tls_close(void *tls);
/* Record I/O on a connection from tls_accept(), whose descriptors stay
 * non-blocking until tls_close().  tls_read() returns the bytes read, 0
 * at the end of the stream (close_notify or a dropped connection), or -1;
 * tls_write() the bytes written (at least 1, partial writes are on) or
 * -1.  Both wait for the socket until the CLOCK_MONOTONIC deadline and
 * then return TLS_AGAIN; with deadline NULL they do not wait at all, and
 * tls_wants() then says what to poll(2) for (POLLIN or POLLOUT) before
 * the same call is repeated (a write with the same bytes).
 * tls_pending() says whether decrypted input is waiting that poll(2) on
 * the socket would not show. */
#define TLS_AGAIN (-2)
int tls_read(void *tls, void *buf, size_t len,
    const struct timespec *deadline);
int tls_write(void *tls, const void *buf, size_t len,
    const struct timespec *deadline);
short tls_wants(const void *tls);
int tls_pending(void *tls);
/* The descriptors of the connection (for poll(2) in the relay). */
int tls_in_fd(const void *tls);
int tls_out_fd(const void *tls);

/* ------------------------------------------------------------ privsep.c */

/*
 * Root mode: forks the pre-login process (unprivileged account, empty
 * chroot), checks the credentials it forwards, and after a successful
 * login continues the session here with the user's ids.  Returns the
 * exit status.
 */
int privsep_run(const struct config *cfg, int in_fd, int out_fd);

/* Root mode: checks the account and the empty directory the pre-login
 * process needs (the check privsep_run() makes first).  Returns 0, or -1
 * (logged, with what to do). */
int privsep_check(const struct config *cfg);


/* ------------------------------------------------------------ sasl.c */

/* What a mechanism needs before AUTH offers it. */
enum {
	SASL_NEEDS_PLAINTEXT,	/* a password may travel (the -L policy) */
	SASL_NEEDS_CHALLENGE	/* the APOP secrets file (-a): CRAM-MD5 */
};

/* The longest authentication or authorization identity and password a
 * mechanism accepts (RFC 4616 section 2: at most 255 octets each). */
#define SASL_MAX_FIELD 255

struct sasl_mech {
	const char *name;	/* as AUTH and CAPA's SASL line name it */
	int kind;		/* the CRED_ of its logins */
	int needs;		/* SASL_NEEDS_ */
};

enum sasl_status {
	SASL_MORE,	/* send "+ " and the challenge, read a response */
	SASL_CHECKED,	/* credentials were checked: the result in ->result */
	SASL_BAD_B64,	/* the response is not strict base64 */
	SASL_MALFORMED,	/* decoded, but not what the mechanism expects */
	SASL_PROXY,	/* PLAIN with another authorization identity */
	SASL_ERROR	/* out of memory, or GNU SASL failed */
};

/* Asks whoever checks logins: returns as login_checker's check(). */
typedef int (*sasl_check_fn)(void *ctx, int kind, const char *user,
    const char *secret);

/* One AUTH exchange; the session owns it, sasl.c fills it. */
struct sasl_exchange {
	const struct sasl_mech *mech;
	void *gs;			/* GNU SASL's session (PLAIN) */
	const char *challenge;		/* CRAM-MD5's, the session's */
	sasl_check_fn check;
	void *check_ctx;
	int step;
	int status;			/* set by GNU SASL's callback */
	int result;			/* check()'s, after SASL_CHECKED */
	char user[MAX_USER_ARG + 1];	/* the identity, when known */
	char pass[SASL_MAX_FIELD + 1];	/* wiped after use */
};

/* Initialises GNU SASL; must run before the pre-login process chroots
 * and before any seccomp filter (it may load its configuration then, and
 * never afterwards).  Returns 0, or -1 logged. */
int sasl_init(void);

/* The mechanism of that name (any case), or NULL if pop3d has none. */
const struct sasl_mech *sasl_find(const char *name);

/* Is m offered now: plaintext_ok says a password may travel (policy and
 * TLS), have_challenge that the APOP secrets file is configured. */
int sasl_offered(const struct sasl_mech *m, int plaintext_ok,
    int have_challenge);

/* Writes the names of the mechanisms offered now, space-separated, into
 * buf (NUL-terminated; "" for none).  Returns the length. */
size_t sasl_list(char *buf, size_t size, int plaintext_ok,
    int have_challenge);

/* Strict base64 (RFC 4648, through GNU SASL) of a response line into out,
 * NUL-terminated; "=" is the empty response (RFC 5034).  Returns the
 * decoded length, or -1 (invalid, empty, or longer than size - 1). */
long sasl_decode(const char *in, char *out, size_t size);

/* Base64 of the string in into out.  Returns 0, or -1 (no room). */
int sasl_encode(const char *in, char *out, size_t size);

/* Keeps an identity as given, cut to MAX_USER_ARG, in x->user. */
void sasl_set_user(struct sasl_exchange *x, const char *name);

/* Begins an exchange of mechanism m; challenge is CRAM-MD5's (the
 * session's APOP timestamp).  Returns 0, or -1 (GNU SASL failed). */
int sasl_start(struct sasl_exchange *x, const struct sasl_mech *m,
    const char *challenge, sasl_check_fn check, void *check_ctx);

/*
 * One step: in is the client's base64 response (the initial response
 * first, if it gave one), or NULL when there is none yet.  On SASL_MORE
 * the challenge to send, base64, is in challenge_r ("" for an empty one).
 * The caller handles "*" (cancel) itself, before.
 */
enum sasl_status sasl_step(struct sasl_exchange *x, const char *in,
    char *challenge_r, size_t size);

/* Ends an exchange: GNU SASL's session freed, secrets wiped. */
void sasl_finish(struct sasl_exchange *x);

#endif

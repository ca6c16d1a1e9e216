/*
 * pop3passwd.c - the companion tool that adds, replaces and deletes
 * entries in a pop3d password file (SPEC section 3), hashing new
 * passwords with yescrypt through libxcrypt.
 *
 * It owns the rewrite of that file: the password is read from the
 * terminal or from standard input (never from argv) and wiped after use;
 * every line other than the user's own is copied byte for byte; the new
 * file is built beside the old one, synced, and renamed over it, so a
 * pop3d reading the file concurrently sees either the old or the new
 * version and a crash leaves one of the two.  Concurrent pop3passwd runs
 * are serialised by an flock(2) on FILE.lock.
 *
 * It usually runs as root on a root-owned file in a root-owned directory;
 * it trusts that directory and does not follow a symbolic link at FILE.
 * Every helper is static: the Makefile may link this file together with
 * the server's modules.
 */

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <crypt.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "params.h"
#include "utf8.h"

#define EXIT_USAGE	2

/* Mode of a password file we create: it holds hashes, so owner only. */
#define NEW_FILE_MODE	0600

/* uid_t and gid_t are 32 bits on Linux; (uid_t)-1 means "no id". */
#define MAX_ID		(UINT32_MAX - 1)

/* Largest buffer tried for one user or group entry (getpwnam_r): a
 * group with thousands of members fits; beyond, something is wrong. */
#define MAX_NSS_BUFFER	(1024UL * 1024)

/* Polling step while another pop3passwd holds the lock. */
#define LOCK_POLL_NS	(100L * 1000 * 1000)

/* Field positions, in Dovecot's passwd-file order. */
enum {
	F_NAME, F_HASH, F_UID, F_GID, F_GECOS, F_HOME, F_SHELL, F_EXTRA,
	NFIELDS
};

/* Extra fields: blank-separated key=value words, as pop3d splits them. */
#define EXTRA_BLANKS	" \t"
#define MAIL_KEY	"mail="
#define USERDB_PREFIX	"userdb_"

struct options {
	const char *file;
	const char *user;
	/* NULL keeps the field of an existing entry; "" clears it. */
	const char *uid;
	const char *gid;
	const char *home;
	const char *mail;
	int use_stdin;
	int delete;
};

/* Normalised -u and -g values live here, not in argv. */
static char uid_buf[16], gid_buf[16];

/* The signal that interrupted a terminal read, or 0. */
static volatile sig_atomic_t caught_signal;

/* Signals that must not leave the terminal silent or a temporary file. */
static const int guarded_signals[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP
};
#define NGUARDED (sizeof guarded_signals / sizeof guarded_signals[0])

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: pop3passwd [options] USER\n"
	    "Adds USER to a pop3d password file, or replaces USER's password,\n"
	    "with a yescrypt hash.  The password is read from the terminal\n"
	    "(twice, without echo) or, when standard input is not a terminal,\n"
	    "as one line from standard input.\n"
	    "\n"
	    "  -f, --file FILE    password file (default %s)\n"
	    "  -u, --uid USER     set the uid field: a number or a user name "
	    "(\"\" clears it)\n"
	    "  -g, --gid GROUP    set the gid field: a number or a group name "
	    "(\"\" clears it)\n"
	    "  -d, --home DIR     set the home field (\"\" clears it)\n"
	    "  -m, --mail PATH    set the mail=PATH extra field (\"\" removes it)\n"
	    "  -s, --stdin        read the password from standard input\n"
	    "  -D, --delete       remove USER's entry instead\n"
	    "  -h, --help         show this help and exit\n"
	    "  -V, --version      show the version and exit\n"
	    "\n"
	    "Exit status: 0 done, 1 error (file unchanged), 2 usage error.\n",
	    DEFAULT_PASSWD_FILE);
}

static void
usage_error(void)
{
	fprintf(stderr, "Try 'pop3passwd --help' for more information.\n");
	exit(EXIT_USAGE);
}

/*
 * A user name pop3d can look up: the rules of auth_valid_username(), and
 * no leading '#', because such a line is a comment to every reader.
 */
static int
valid_user(const char *name)
{
	size_t len = strlen(name);
	const char *p;

	if (len == 0 || len > MAX_USER_NAME)
		return 0;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    name[0] == '#')
		return 0;
	for (p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		/* 0x21..0x7e: printable ASCII without the space; above it
		 * only UTF-8, checked below. */
		if (c < 0x21 || c == 0x7f || c == ':' || c == '/')
			return 0;
	}
	return utf8_valid(name, len);
}

/*
 * The id of a user (group 0) or group (group 1) name, as chown(1) takes
 * names: through the system's databases (NSS), with the reentrant calls
 * and a buffer grown until the entry fits.  Returns 0 with *id_r set, -1
 * if there is no such name or the lookup failed (said with warnx).
 */
static int
lookup_id(const char *name, int group, unsigned long long *id_r)
{
	long hint = sysconf(group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 1024;
	int r;

	for (;;) {
		char *buf = malloc(size);
		struct passwd pw, *pwp = NULL;
		struct group gr, *grp = NULL;

		if (buf == NULL) {
			warnx("out of memory");
			return -1;
		}
		if (group)
			r = getgrnam_r(name, &gr, buf, size, &grp);
		else
			r = getpwnam_r(name, &pw, buf, size, &pwp);
		free(buf);
		if (r == ERANGE && size < MAX_NSS_BUFFER) {
			size *= 2;	/* a group with many members */
			continue;
		}
		if (r != 0) {
			warnx("cannot look up %s '%s': %s", group ? "group" :
			    "user", name, strerror(r));
			return -1;
		}
		if (group ? grp == NULL : pwp == NULL)
			return -1;	/* no such name: the caller says so */
		*id_r = group ? grp->gr_gid : pwp->pw_uid;
		return 0;
	}
}

/*
 * Parses a uid or gid: plain decimal digits, no sign, no blanks, at most
 * MAX_ID, or else a user (group 0) or group (group 1) name to look up.
 * Writes it back as a number without leading zeros so that the file
 * holds one spelling (pop3d's entries take numbers).  "" is kept: it
 * clears the field.
 */
static int
parse_id(const char *arg, int group, char *buf, size_t size,
    const char **out_r)
{
	unsigned long long v = 0;
	const char *p;

	if (*arg == '\0') {
		*out_r = arg;
		return 0;
	}
	if (strspn(arg, "0123456789") != strlen(arg)) {
		if (lookup_id(arg, group, &v) == -1 || v > MAX_ID)
			return -1;
	} else {
		for (p = arg; *p != '\0'; p++) {
			v = v * 10 + (unsigned)(*p - '0');
			if (v > MAX_ID)
				return -1;
		}
	}
	if ((size_t)snprintf(buf, size, "%llu", v) >= size)
		return -1;
	*out_r = buf;
	return 0;
}

/*
 * A field value must not split the line: no ':' (the field separator), no
 * control characters (a newline would start a new entry).  The mail path
 * is one space-separated extra field, so it cannot hold a blank either.
 */
static int
valid_field(const char *s, int allow_blank)
{
	for (; *s != '\0'; s++) {
		if (*s == ':' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
		if (!allow_blank && *s == ' ')
			return 0;
	}
	return 1;
}

static void
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "file",	required_argument,	NULL, 'f' },
		{ "uid",	required_argument,	NULL, 'u' },
		{ "gid",	required_argument,	NULL, 'g' },
		{ "home",	required_argument,	NULL, 'd' },
		{ "mail",	required_argument,	NULL, 'm' },
		{ "stdin",	no_argument,		NULL, 's' },
		{ "delete",	no_argument,		NULL, 'D' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	int c;

	memset(o, 0, sizeof *o);
	o->file = DEFAULT_PASSWD_FILE;

	while ((c = getopt_long(argc, argv, "f:u:g:d:m:sDhV", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'f':
			if (*optarg == '\0') {
				warnx("empty password file name");
				usage_error();
			}
			o->file = optarg;
			break;
		case 'u':
			if (parse_id(optarg, 0, uid_buf, sizeof uid_buf,
			    &o->uid) == -1) {
				warnx("bad uid '%s': want a user name or a "
				    "number from 1 to %lu", optarg,
				    (unsigned long)MAX_ID);
				usage_error();
			}
			/* pop3d never serves uid 0; such an entry is a trap. */
			if (strcmp(o->uid, "0") == 0) {
				warnx("uid 0 refused: pop3d never serves root");
				usage_error();
			}
			break;
		case 'g':
			if (parse_id(optarg, 1, gid_buf, sizeof gid_buf,
			    &o->gid) == -1) {
				warnx("bad gid '%s': want a group name or a "
				    "number from 0 to %lu", optarg,
				    (unsigned long)MAX_ID);
				usage_error();
			}
			break;
		case 'd':
			if (!valid_field(optarg, 1) ||
			    (*optarg != '\0' && *optarg != '/')) {
				warnx("bad home directory '%s': want an "
				    "absolute path without ':' or control "
				    "characters", optarg);
				usage_error();
			}
			o->home = optarg;
			break;
		case 'm':
			if (!valid_field(optarg, 0)) {
				warnx("bad mail path '%s': no ':', blanks or "
				    "control characters allowed", optarg);
				usage_error();
			}
			o->mail = optarg;
			break;
		case 's':
			o->use_stdin = 1;
			break;
		case 'D':
			o->delete = 1;
			break;
		case 'h':
			usage(stdout);
			exit(fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
		case 'V':
			printf("pop3passwd %s\n", POP3D_VERSION);
			exit(fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
		default:
			/* getopt_long has already said what was wrong. */
			usage_error();
		}
	}

	if (argc - optind != 1) {
		warnx(argc - optind == 0 ? "no user name given" :
		    "exactly one user name expected (passwords are never "
		    "taken from the command line)");
		usage_error();
	}
	o->user = argv[optind];
	/* A non-ASCII name is stored in the form pop3d normalises a login's
	 * name to after UTF8 (RFC 6856): SASLprep, as a stored string
	 * (RFC 3454 section 7: no unassigned code points). */
	if (!utf8_is_ascii(o->user)) {
		static char prepped[MAX_USER_NAME + 1];
		enum utf8_prep r = utf8_saslprep(o->user, 1, prepped,
		    sizeof(prepped));

		if (r != UTF8_OK) {
			warnx("bad user name: %s", r == UTF8_INVALID ?
			    "not valid UTF-8" : r == UTF8_TOOLONG ?
			    "too long" : "refused by SASLprep (RFC 4013)");
			usage_error();
		}
		if (strcmp(prepped, o->user) != 0)
			warnx("user name stored in its SASLprep form");
		o->user = prepped;
	}
	if (!valid_user(o->user)) {
		warnx("bad user name '%s': want 1 to %d printable characters "
		    "without ':', '/' or blanks, not '.', '..' or starting "
		    "with '#'", o->user, MAX_USER_NAME);
		usage_error();
	}
	if (o->delete && (o->uid != NULL || o->gid != NULL ||
	    o->home != NULL || o->mail != NULL || o->use_stdin)) {
		warnx("--delete takes no other option than --file");
		usage_error();
	}
}

static void
on_signal(int sig)
{
	caught_signal = sig;
}

/*
 * Reads one line from fd into buf, byte by byte so that nothing past the
 * newline is consumed and no copy of the password is left in a stdio
 * buffer.  The newline (and a CR before it, which no POP3 client can
 * send inside a password) is dropped.  Returns 0, or -1 with a message.
 */
static int
read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;
	int toolong = 0;
	ssize_t n;
	char c;

	for (;;) {
		n = read(fd, &c, 1);
		if (n == -1) {
			if (errno == EINTR && caught_signal == 0)
				continue;
			if (errno != EINTR)
				warn("cannot read the password");
			goto fail;
		}
		if (n == 0 || c == '\n')
			break;
		if (len + 1 < size)
			buf[len++] = c;
		else
			toolong = 1;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (toolong) {
		warnx("password too long: at most %zu characters", size - 1);
		goto fail;
	}
	if (memchr(buf, '\0', len) != NULL) {
		warnx("password contains a NUL byte");
		goto fail;
	}
	return 0;

fail:
	explicit_bzero(buf, size);
	return -1;
}

static int
tty_write(int fd, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;

	while (len > 0) {
		n = write(fd, s, len);
		if (n == -1) {
			if (errno == EINTR && caught_signal == 0)
				continue;
			if (errno != EINTR)
				warn("cannot write to /dev/tty");
			return -1;
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Asks twice on the controlling terminal with echo off.  A signal (^C,
 * ^Z, hangup) restores the terminal before the process acts on it: a
 * shell left without echo is the classic bug of password prompts.
 */
static int
read_password_tty(const char *user, char *pw, size_t size)
{
	struct sigaction sa, saved_sa[NGUARDED];
	struct termios saved, quiet;
	char *again = NULL;
	char prompt[MAX_USER_NAME + 32];
	size_t i;
	int fd, rc = -1, restore = 0;

	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1) {
		warn("cannot open /dev/tty (use --stdin to pipe the "
		    "password)");
		return -1;
	}
	if (tcgetattr(fd, &saved) == -1) {
		warn("/dev/tty");
		goto done;
	}
	if ((again = malloc(size)) == NULL) {
		warn("malloc");
		goto done;
	}

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the read must return so the terminal is restored. */
	sa.sa_flags = 0;
	for (i = 0; i < NGUARDED; i++) {
		sigaction(guarded_signals[i], NULL, &saved_sa[i]);
		/* A signal ignored by our parent (nohup, "&") stays ignored. */
		if (saved_sa[i].sa_handler != SIG_IGN)
			sigaction(guarded_signals[i], &sa, NULL);
	}

	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	/* TCSAFLUSH drops type-ahead, which was echoed before this point. */
	if (tcsetattr(fd, TCSAFLUSH, &quiet) == -1) {
		warn("cannot turn off echo on /dev/tty");
		goto restore_signals;
	}
	restore = 1;

	snprintf(prompt, sizeof prompt, "Password for %s: ", user);
	if (tty_write(fd, prompt) == -1 || read_line(fd, pw, size) == -1 ||
	    tty_write(fd, "\n") == -1)
		goto restore_tty;
	if (pw[0] == '\0') {
		/* Refused later with the stdin case; no need to ask again. */
		rc = 0;
		goto restore_tty;
	}
	if (tty_write(fd, "Retype password: ") == -1 ||
	    read_line(fd, again, size) == -1 || tty_write(fd, "\n") == -1)
		goto restore_tty;
	if (strcmp(pw, again) != 0) {
		warnx("passwords do not match; nothing changed");
		goto restore_tty;
	}
	rc = 0;

restore_tty:
	if (restore && tcsetattr(fd, TCSAFLUSH, &saved) == -1)
		warn("cannot restore /dev/tty");
restore_signals:
	for (i = 0; i < NGUARDED; i++)
		sigaction(guarded_signals[i], &saved_sa[i], NULL);
	if (caught_signal != 0) {
		/* Die (or stop) the way the user asked, terminal restored. */
		rc = -1;
		explicit_bzero(pw, size);
		explicit_bzero(again, size);
		tty_write(fd, "\n");
		raise(caught_signal);
		/* raise() returns when the signal only stopped us (SIGTSTP). */
		warnx("interrupted; nothing changed");
	}
done:
	if (again != NULL) {
		explicit_bzero(again, size);
		free(again);
	}
	if (rc == -1)
		explicit_bzero(pw, size);
	close(fd);
	return rc;
}

static int
read_password(const struct options *o, char *pw, size_t size)
{
	if (o->use_stdin || !isatty(STDIN_FILENO)) {
		if (read_line(STDIN_FILENO, pw, size) == -1)
			return -1;
	} else if (read_password_tty(o->user, pw, size) == -1)
		return -1;
	if (pw[0] == '\0') {
		warnx("empty password refused");
		return -1;
	}
	/* After UTF8 pop3d SASLpreps PASS's argument (a query string, RFC
	 * 6856 section 2.2): a non-ASCII password is hashed in that form,
	 * so its NFC and NFD spellings both match. */
	if (!utf8_is_ascii(pw)) {
		char prepped[MAX_PASSWORD + 1];
		enum utf8_prep r = utf8_saslprep(pw, 0, prepped,
		    sizeof(prepped));

		if (r != UTF8_OK) {
			warnx("password refused: %s", r == UTF8_INVALID ?
			    "not valid UTF-8" : r == UTF8_TOOLONG ?
			    "too long" : "refused by SASLprep (RFC 4013)");
			explicit_bzero(pw, size);
			return -1;
		}
		if (strlen(prepped) >= size) {
			explicit_bzero(prepped, sizeof(prepped));
			warnx("password refused: too long");
			return -1;
		}
		memcpy(pw, prepped, strlen(prepped) + 1);
		explicit_bzero(prepped, sizeof(prepped));
	}
	return 0;
}

/*
 * Hashes pw with yescrypt at libxcrypt's default cost.  The crypt_data
 * is on the heap (it is 32 KiB) and wiped: it held the password.
 */
static int
make_hash(const char *pw, char *hash_r, size_t size)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *h;
	int rc = -1;

	/* No random bytes given: libxcrypt reads them from the kernel. */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting,
	    (int)sizeof setting) == NULL || setting[0] == '*') {
		warn("cannot make a yescrypt salt");
		return -1;
	}
	if ((cd = calloc(1, sizeof *cd)) == NULL) {
		warn("calloc");
		return -1;
	}
	errno = 0;
	h = crypt_rn(pw, setting, cd, (int)sizeof *cd);
	if (h == NULL || h[0] == '*') {
		warn("cannot hash the password");
		goto done;
	}
	if (strlen(h) >= size || strncmp(h, "$y$", 3) != 0) {
		warnx("unexpected hash from libxcrypt");
		goto done;
	}
	memcpy(hash_r, h, strlen(h) + 1);
	rc = 0;
done:
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return rc;
}

/* Appends a space-separated token to out[*len_r]. */
static void
add_token(char *out, size_t *len_r, const char *a, size_t alen,
    const char *b, size_t blen)
{
	if (*len_r > 0)
		out[(*len_r)++] = ' ';
	memcpy(out + *len_r, a, alen);
	*len_r += alen;
	memcpy(out + *len_r, b, blen);
	*len_r += blen;
	out[*len_r] = '\0';
}

/* Is this extra-field token a maildrop path (Dovecot may add userdb_)? */
static int
is_mail_token(const char *p, size_t len)
{
	size_t klen = strlen(MAIL_KEY), plen = strlen(USERDB_PREFIX);

	if (len >= plen && memcmp(p, USERDB_PREFIX, plen) == 0) {
		p += plen;
		len -= plen;
	}
	return len >= klen && memcmp(p, MAIL_KEY, klen) == 0;
}

/*
 * Returns a new extra-fields string: the first mail= token replaced by
 * mail=PATH (later ones dropped, so no other one can win), or mail=PATH
 * appended; an empty PATH removes them all.  Other tokens keep their
 * order, joined by single spaces.  NULL on allocation failure.
 */
static char *
set_mail(const char *extra, const char *path)
{
	size_t klen = strlen(MAIL_KEY), plen = strlen(path), len = 0, tlen;
	const char *p, *q;
	char *out;
	int done = plen == 0;

	if ((out = malloc(strlen(extra) + klen + plen + 2)) == NULL)
		return NULL;
	out[0] = '\0';
	for (p = extra; *p != '\0'; p = q) {
		p += strspn(p, EXTRA_BLANKS);
		if (*p == '\0')
			break;
		tlen = strcspn(p, EXTRA_BLANKS);
		q = p + tlen;
		if (is_mail_token(p, tlen)) {
			if (!done)
				add_token(out, &len, MAIL_KEY, klen, path, plen);
			done = 1;
			continue;
		}
		add_token(out, &len, p, tlen, "", 0);
	}
	if (!done)
		add_token(out, &len, MAIL_KEY, klen, path, plen);
	return out;
}

/*
 * Builds the user's new line (without newline).  old, when not NULL, is
 * the existing entry (NUL-terminated, newline removed, modified here):
 * its fields are kept unless an option overrides them.  Everything after
 * the seventh ':' is the extra field, kept verbatim.
 */
static char *
make_line(const struct options *o, const char *hash, char *old)
{
	const char *f[NFIELDS];
	char *extra = NULL, *line = NULL, *p;
	size_t len, i, n = F_HASH + 1;

	for (i = 0; i < NFIELDS; i++)
		f[i] = "";
	if (old != NULL) {
		for (n = 1, p = old, f[0] = old; n < NFIELDS; n++) {
			if ((p = strchr(p, ':')) == NULL)
				break;
			*p++ = '\0';
			f[n] = p;
		}
	}
	f[F_NAME] = o->user;
	f[F_HASH] = hash;
	if (o->uid != NULL)
		f[F_UID] = o->uid;
	if (o->gid != NULL)
		f[F_GID] = o->gid;
	if (o->home != NULL)
		f[F_HOME] = o->home;
	if (o->mail != NULL) {
		if ((extra = set_mail(f[F_EXTRA], o->mail)) == NULL) {
			warn("malloc");
			return NULL;
		}
		f[F_EXTRA] = extra;
	}
	if (o->uid != NULL || o->gid != NULL || o->home != NULL ||
	    o->mail != NULL) {
		/*
		 * Options may fill fields past the old end or empty the last
		 * ones: write up to the last non-empty field.
		 */
		for (n = NFIELDS; n > F_HASH + 1 && *f[n - 1] == '\0'; n--)
			;
	}
	/* pop3d skips an entry with one id and not the other. */
	if ((o->uid != NULL || o->gid != NULL) &&
	    (*f[F_UID] == '\0') != (*f[F_GID] == '\0')) {
		warnx("the entry for %s would have a %s but no %s: give -u and "
		    "-g together", o->user, *f[F_UID] ? "uid" : "gid",
		    *f[F_UID] ? "gid" : "uid");
		goto done;
	}

	for (len = 0, i = 0; i < n; i++)
		len += strlen(f[i]) + 1;
	/* The server reads lines into MAX_PASSWD_LINE bytes with the NUL. */
	if (len + 1 > MAX_PASSWD_LINE) {
		warnx("entry for %s would be longer than %d bytes", o->user,
		    MAX_PASSWD_LINE - 2);
		goto done;
	}
	if ((line = malloc(len)) == NULL) {
		warn("malloc");
		goto done;
	}
	line[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(line, ":"); /* NOLINT(*.strcpy) */
		strcat(line, f[i]); /* NOLINT(*.strcpy) */
	}
done:
	free(extra);
	return line;
}

/* Waits a bounded time for the exclusive lock on fd. */
static int
lock_wait(int fd, const char *path)
{
	struct timespec pause = { 0, LOCK_POLL_NS };
	long tries = LOCK_WAIT_SECONDS * (1000000000L / LOCK_POLL_NS);

	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			warn("cannot lock %s", path);
			return -1;
		}
		if (--tries <= 0) {
			warnx("%s is held by another pop3passwd; try again "
			    "later", path);
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	return 0;
}

/*
 * Gives the temporary file the original's owner, group and mode (0600
 * for a new file).  chown before chmod: chown may clear mode bits.
 */
static int
copy_attributes(int tmpfd, const char *tmppath, const struct stat *orig)
{
	struct stat st;

	if (orig == NULL) {
		/* mkstemp already made it 0600; say so rather than rely on it. */
		if (fchmod(tmpfd, NEW_FILE_MODE) == -1) {
			warn("chmod %s", tmppath);
			return -1;
		}
		return 0;
	}
	if (fstat(tmpfd, &st) == -1) {
		warn("stat %s", tmppath);
		return -1;
	}
	if ((st.st_uid != orig->st_uid || st.st_gid != orig->st_gid) &&
	    fchown(tmpfd, orig->st_uid, orig->st_gid) == -1) {
		warn("cannot give %s the owner and group of the original",
		    tmppath);
		return -1;
	}
	if (fchmod(tmpfd, orig->st_mode & 07777) == -1) {
		warn("chmod %s", tmppath);
		return -1;
	}
	return 0;
}

/*
 * Copies in to out with the user's entry replaced (hash != NULL) or
 * removed (hash == NULL); appends the entry if it was missing.  Returns
 * 0, or -1 with a message.
 */
static int
copy_entries(const struct options *o, const char *hash, FILE *in, FILE *out)
{
	size_t cap = 0, ulen = strlen(o->user);
	char *line = NULL, *entry = NULL;
	unsigned long lineno = 0;
	int found = 0, ends_nl = 1, rc = -1;
	ssize_t n;

	while (in != NULL && (n = getline(&line, &cap, in)) != -1) {
		lineno++;
		ends_nl = line[n - 1] == '\n';
		if ((size_t)n > ulen && memcmp(line, o->user, ulen) == 0 &&
		    line[ulen] == ':') {
			if (hash == NULL) {
				found = 1;
				continue;
			}
			if (!found) {
				found = 1;
				if (ends_nl)
					line[n - 1] = '\0';
				if ((entry = make_line(o, hash, line)) == NULL)
					goto done;
				if (fprintf(out, "%s\n", entry) < 0)
					goto write_error;
				continue;
			}
			warnx("%s:%lu: another entry for %s left as it is",
			    o->file, lineno, o->user);
		}
		if (fwrite(line, 1, (size_t)n, out) != (size_t)n)
			goto write_error;
	}
	if (in != NULL && ferror(in)) {
		warn("cannot read %s", o->file);
		goto done;
	}
	if (!found) {
		if (hash == NULL) {
			warnx("no entry for %s in %s", o->user, o->file);
			goto done;
		}
		if ((entry = make_line(o, hash, NULL)) == NULL)
			goto done;
		/* A last line without newline must not swallow ours. */
		if (fprintf(out, "%s%s\n", ends_nl ? "" : "\n", entry) < 0)
			goto write_error;
	}
	rc = 0;
	goto done;

write_error:
	warn("cannot write the new password file");
done:
	free(entry);
	free(line);
	return rc;
}

/* Makes the rename durable: the directory entry is what changed. */
static int
sync_dir(const char *file)
{
	char *copy, *dir;
	int fd, rc = -1;

	if ((copy = strdup(file)) == NULL) {
		warn("strdup");
		return -1;
	}
	dir = dirname(copy);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		warn("%s updated, but cannot open %s to sync it", file, dir);
	else if (fsync(fd) == -1)
		warn("%s updated, but cannot sync %s", file, dir);
	else
		rc = 0;
	if (fd != -1)
		close(fd);
	free(copy);
	return rc;
}

/*
 * The rewrite: lock, copy to FILE.XXXXXX with the change, sync, rename
 * over FILE, sync the directory.  On failure the original is untouched
 * and the temporary file removed.
 */
static int
update_file(const struct options *o, const char *hash)
{
	char *lockpath = NULL, *tmppath = NULL;
	FILE *in = NULL, *out = NULL;
	struct stat st;
	sigset_t guard, saved_mask;
	int lockfd = -1, infd = -1, tmpfd = -1, rc = -1;
	int created = 0, renamed = 0;
	size_t i;

	if (asprintf(&lockpath, "%s.lock", o->file) == -1) {
		warn("asprintf");
		lockpath = NULL;
		goto unlocked;
	}
	if (asprintf(&tmppath, "%s.XXXXXX", o->file) == -1) {
		warn("asprintf");
		tmppath = NULL;
		goto unlocked;
	}
	/* The lock file stays: removing it would race with a waiter. */
	if ((lockfd = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, NEW_FILE_MODE)) == -1) {
		warn("cannot open lock file %s", lockpath);
		goto unlocked;
	}
	if (lock_wait(lockfd, lockpath) == -1)
		goto unlocked;

	/* Read only after locking, so no concurrent change is lost. */
	if ((infd = open(o->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		/* A missing file is created when adding, an error otherwise. */
		if (errno == ELOOP) {
			warnx("%s is a symbolic link; give the real path",
			    o->file);
			goto unlocked;
		}
		if (errno != ENOENT || hash == NULL) {
			warn("cannot open %s", o->file);
			goto unlocked;
		}
	} else {
		if (fstat(infd, &st) == -1) {
			warn("stat %s", o->file);
			goto unlocked;
		}
		if (!S_ISREG(st.st_mode)) {
			warnx("%s is not a regular file", o->file);
			goto unlocked;
		}
		if ((in = fdopen(infd, "r")) == NULL) {
			warn("fdopen");
			goto unlocked;
		}
		infd = -1;
	}

	/* From here a signal would leave FILE.XXXXXX behind: hold it off. */
	sigemptyset(&guard);
	for (i = 0; i < NGUARDED; i++)
		sigaddset(&guard, guarded_signals[i]);
	sigprocmask(SIG_BLOCK, &guard, &saved_mask);

	if ((tmpfd = mkstemp(tmppath)) == -1) {
		warn("cannot create a temporary file beside %s", o->file);
		goto unblock;
	}
	created = 1;
	if (copy_attributes(tmpfd, tmppath, in != NULL ? &st : NULL) == -1)
		goto unblock;
	if ((out = fdopen(tmpfd, "w")) == NULL) {
		warn("fdopen");
		goto unblock;
	}
	if (copy_entries(o, hash, in, out) == -1)
		goto unblock;
	if (fflush(out) == EOF || fsync(tmpfd) == -1) {
		warn("cannot write %s", tmppath);
		goto unblock;
	}
	if (fclose(out) == EOF) {
		out = NULL;
		tmpfd = -1;
		warn("cannot write %s", tmppath);
		goto unblock;
	}
	out = NULL;
	tmpfd = -1;
	if (rename(tmppath, o->file) == -1) {
		warn("cannot rename %s to %s", tmppath, o->file);
		goto unblock;
	}
	renamed = 1;
	if (sync_dir(o->file) == -1)
		goto unblock;
	rc = 0;

unblock:
	if (out != NULL)
		fclose(out);
	else if (tmpfd != -1)
		close(tmpfd);
	if (created && !renamed && unlink(tmppath) == -1)
		warn("cannot remove %s", tmppath);
	sigprocmask(SIG_SETMASK, &saved_mask, NULL);
unlocked:
	if (in != NULL)
		fclose(in);
	if (infd != -1)
		close(infd);
	/* Closing the lock file releases the flock. */
	if (lockfd != -1)
		close(lockfd);
	free(tmppath);
	free(lockpath);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options o;
	char pw[MAX_PASSWORD + 1];
	char hash[CRYPT_OUTPUT_SIZE];
	int status = EXIT_FAILURE;

	parse_options(argc, argv, &o);

	if (!o.delete) {
		if (read_password(&o, pw, sizeof pw) == -1)
			goto done;
		if (make_hash(pw, hash, sizeof hash) == -1)
			goto done;
		/* The hash is all we need from here on. */
		explicit_bzero(pw, sizeof pw);
	}
	/* hash is set whenever it is passed (not with -D). */
	/* cppcheck-suppress legacyUninitvar */
	if (update_file(&o, o.delete ? NULL : hash) == -1)
		goto done;
	status = EXIT_SUCCESS;
done:
	explicit_bzero(pw, sizeof pw);
	return status;
}

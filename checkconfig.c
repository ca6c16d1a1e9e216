/*
 * checkconfig.c - pop3d --check-config: what a session with the same
 * options would find wrong, found before a client does.
 *
 * It calls the checks the session itself makes (trust_open() through
 * passwd_scan(), apop_check_file(), tls_setup(), privsep_check(),
 * expand_mailbox(), spool_warn_dir()), with the log diverted here: what
 * they log at LOG_ERR or worse becomes an "error: " line, LOG_WARNING a
 * "warning: " line.  What no session checks as a whole, because it only
 * ever sees one user, is added here: every line of the password file, the
 * maildrop template, each maildrop's directory, the certificate's end of
 * validity; and for the back ends that are not pop3d's own file, what
 * makes them fail at every login: a PAM service file that is missing, a
 * checkpassword program anyone but root could have replaced.
 *
 * Runs with the privileges it was started with and changes none: as root
 * it judges by root mode's rules, as another account by pipe mode's.
 * It reads the configuration files and stats directories; it writes
 * nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "proto.h"

/* A certificate that ends sooner than this is worth a warning. */
#define CERT_WARN_DAYS 14
/* Distinct maildrop directories remembered, so each is reported once. */
#define MAX_SEEN_DIRS 64
/* The longest suffix pop3d adds to a maildrop's name (lock.c, journal.c:
 * ".pop3d-journal" and the temporary names made beside it). */
#define LONGEST_SUFFIX ".pop3d-journal.XXXXXX"

static unsigned n_errors, n_warnings;

static void problem(int is_error, const char *fmt, ...) ATTR_PRINTF(2, 3);

static void problem(int is_error, const char *fmt, ...)
{
	char text[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", is_error ? "error" : "warning", text);
	if (is_error)
		n_errors++;
	else
		n_warnings++;
}

/* What the reused checks log: their errors and warnings are ours. */
static void sink(int prio, const char *text)
{
	if (prio <= LOG_ERR)
		problem(1, "%s", text);
	else if (prio == LOG_WARNING)
		problem(0, "%s", text);
	/* Notices and information describe a session, not a problem. */
}

/* Does template use escape c (not as part of "%%")? */
static int uses(const char *template, char c)
{
	const char *p;

	for (p = strchr(template, '%'); p && p[1]; p = strchr(p + 2, '%'))
		if (p[1] == c)
			return 1;
	return 0;
}

/* The password file's walk: what check_entry() needs and has seen. */
struct scan {
	const struct config *cfg;
	int root;			/* judged by root mode's rules */
	gid_t mail_gid;			/* (gid_t)-1: no mail group */
	unsigned entries;
	char seen[MAX_SEEN_DIRS][MAX_PATH_LEN];
	unsigned n_seen;
	struct name_at { char name[MAX_USER_NAME + 1]; unsigned lineno; }
	    *names;
	size_t n_names, alloc_names;
};

static void note_line(void *arg, unsigned lineno, enum passwd_note kind,
    const char *why)
{
	const struct scan *sc = arg;

	if (kind == PASSWD_MALFORMED)
		problem(1, "password file %s line %u: %s; the line is skipped, "
		    "nobody can log in with it: correct it, or comment it out "
		    "with '#'", sc->cfg->passwd_file, lineno, why);
	else
		problem(0, "password file %s line %u: %s; use a crypt(3) hash "
		    "(pop3passwd makes one)", sc->cfg->passwd_file, lineno,
		    why);
}

/* Has dir been looked at already?  Remembers it if not (and if room). */
static int seen_dir(struct scan *sc, const char *dir)
{
	for (unsigned i = 0; i < sc->n_seen; i++)
		if (!strcmp(sc->seen[i], dir))
			return 1;
	if (sc->n_seen < MAX_SEEN_DIRS)
		snprintf(sc->seen[sc->n_seen++], MAX_PATH_LEN, "%s", dir);
	return 0;
}

/* Could the session of entry e create names in dir (st)?  As root mode
 * runs it: the entry's uid and gid, and the mail group for lock files. */
static int user_can_create(const struct scan *sc, const struct pw_entry *e,
    const char *dir, const struct stat *st)
{
	mode_t need;

	if (!sc->root)
		/* AT_EACCESS: our own effective ids are the session's. */
		return faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0;
	/* The kernel looks at one class only: owner, else group, else
	 * others. */
	if (st->st_uid == e->uid)
		need = S_IWUSR | S_IXUSR;
	else if (st->st_gid == e->gid || (sc->mail_gid != (gid_t)-1 &&
	    st->st_gid == sc->mail_gid))
		need = S_IWGRP | S_IXGRP;
	else
		need = S_IWOTH | S_IXOTH;
	return (st->st_mode & need) == need;
}

/* The maildrop of entry e: its template, name and directory. */
static void check_maildrop(struct scan *sc, const struct pw_entry *e)
{
	const char *template = e->mail ? e->mail : sc->cfg->mailbox_template;
	const struct maildrop_ops *ops = maildrop_select(template, &template);
	char path[MAX_PATH_LEN], dir[MAX_PATH_LEN];
	const char *base;
	struct stat st;

	if (expand_mailbox(template, e, path, sizeof(path)) < 0) {
		problem(1, "user %s (password file %s line %u): the maildrop "
		    "template %s gives no path (%s): %s", e->name,
		    sc->cfg->passwd_file, e->lineno, template,
		    uses(template, 'h') && !e->home[0] ? "it uses %h and the "
		    "entry has no home directory" : "too long", uses(template,
		    'h') && !e->home[0] ? "give the entry a home field" :
		    "shorten the template");
		return;
	}
	/* The checks below are of a file in a spool directory, which must
	 * take its lock and journal names; a Maildir keeps its own. */
	if (!ops->in_spool)
		return;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (strlen(path) + sizeof(LONGEST_SUFFIX) > MAX_PATH_LEN ||
	    strlen(base) + sizeof(LONGEST_SUFFIX) - 1 > NAME_MAX) {
		problem(1, "maildrop %s of user %s: too long for its lock and "
		    "journal names (%s.lock, %s.pop3d-journal): use a shorter "
		    "path", path, e->name, path, path);
		return;
	}
	if (path_dir(dir, sizeof(dir), path) < 0 || seen_dir(sc, dir))
		return;
	if (stat(dir, &st) < 0) {
		if (errno == ENOENT)
			problem(1, "maildrop directory %s (of user %s, from "
			    "%s) does not exist: create it, e.g. like Debian's "
			    "/var/mail: install -d -m 2775 -o root -g mail %s",
			    dir, e->name, template, dir);
		else
			problem(1, "maildrop directory %s (of user %s): %s",
			    dir, e->name, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		problem(1, "maildrop directory %s (of user %s) is not a "
		    "directory: fix the template %s", dir, e->name, template);
		return;
	}
	/* The session's own warning about a world-writable spool. */
	spool_warn_dir(dir, &st);
	if ((sc->root && !e->has_ids) || (e->has_ids && (e->uid == 0 ||
	    (unsigned long)e->uid < sc->cfg->first_uid)))
		return;		/* refused anyway; said in check_entry() */
	if (!user_can_create(sc, e, dir, &st))
		problem(1, "user %s cannot create %s.lock and %s.pop3d-journal "
		    "in %s (owner uid %lu, group gid %lu, mode %04o): make the "
		    "directory group mail and mode 2775 (and keep -g mail), or "
		    "let the user write it", e->name, path, path, dir,
		    (unsigned long)st.st_uid, (unsigned long)st.st_gid,
		    (unsigned)(st.st_mode & 07777));
}

static void check_entry(void *arg, const char *line, const struct pw_entry *e)
{
	struct scan *sc = arg;
	struct name_at *n;

	(void)line;
	sc->entries++;
	if (sc->root && !e->has_ids)
		problem(0, "password file %s line %u: user %s has no uid:gid; "
		    "started as root, pop3d refuses to serve it: add them",
		    sc->cfg->passwd_file, e->lineno, e->name);
	else if (e->has_ids && e->uid == 0)
		problem(0, "password file %s line %u: user %s maps to uid 0, "
		    "which pop3d never serves: give it its own uid",
		    sc->cfg->passwd_file, e->lineno, e->name);
	else if (e->has_ids && (unsigned long)e->uid < sc->cfg->first_uid)
		problem(0, "password file %s line %u: user %s has uid %lu, "
		    "below --first-uid %lu: every login is refused as a wrong "
		    "password; give it a normal uid, or lower --first-uid",
		    sc->cfg->passwd_file, e->lineno, e->name,
		    (unsigned long)e->uid, sc->cfg->first_uid);
	else if (!sc->root && e->has_ids && e->uid != geteuid())
		problem(0, "password file %s line %u: user %s needs uid %lu, "
		    "but pop3d runs as uid %lu and cannot serve it",
		    sc->cfg->passwd_file, e->lineno, e->name,
		    (unsigned long)e->uid, (unsigned long)geteuid());
	check_maildrop(sc, e);
	/* Names, for the duplicates once the whole file is read. */
	if (sc->n_names == sc->alloc_names) {
		size_t a = sc->alloc_names ? 2 * sc->alloc_names : 64;
		struct name_at *p;

		if (a > SIZE_MAX / sizeof(*p))
			return;
		p = realloc(sc->names, a * sizeof(*p));
		if (!p)
			return;	/* only the duplicates check is lost */
		sc->names = p;
		sc->alloc_names = a;
	}
	n = &sc->names[sc->n_names++];
	/* Valid names are at most MAX_USER_NAME bytes (passwd_parse_line). */
	snprintf(n->name, sizeof(n->name), "%s", e->name);
	n->lineno = e->lineno;
}

static int by_name_then_line(const void *a, const void *b)
{
	const struct name_at *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->lineno > y->lineno) - (x->lineno < y->lineno);
}

static void check_duplicates(struct scan *sc)
{
	qsort(sc->names, sc->n_names, sizeof(*sc->names), by_name_then_line);
	for (size_t i = 1; i < sc->n_names; i++)
		if (!strcmp(sc->names[i].name, sc->names[i - 1].name))
			problem(0, "password file %s line %u: user %s again "
			    "(first on line %u, which wins): remove one",
			    sc->cfg->passwd_file, sc->names[i].lineno,
			    sc->names[i].name, sc->names[i - 1].lineno);
}

/* The template itself: one maildrop per user, and a fixed place. */
static void check_template(const char *what, const char *option,
    const char *template, int root)
{
	if (!uses(template, 'u') && !uses(template, 'h'))
		problem(1, "%s template %s (%s) has no %%u (nor %%h): every "
		    "user would get the same file; use e.g. /var/mail/%%u",
		    what, template, option);
	if (template[0] != '/' && strncmp(template, "%h", 2))
		problem(root, "%s template %s (%s) is relative: it depends on "
		    "the directory pop3d is started in (xinetd and systemd "
		    "start it in /); make it absolute", what, template,
		    option);
}

static unsigned check_passwd(const struct config *cfg, int root)
{
	struct scan *sc = calloc(1, sizeof(*sc));
	const struct passwd_visitor v = { check_entry, note_line, sc };
	struct group *gr;
	unsigned entries;

	if (!sc) {
		problem(1, "out of memory");
		return 0;
	}
	sc->cfg = cfg;
	sc->root = root;
	sc->mail_gid = (gid_t)-1;
	if (root && cfg->mail_group[0]) {
		gr = getgrnam(cfg->mail_group);
		if (gr)
			sc->mail_gid = gr->gr_gid;
		else
			problem(0, "mail group %s (-g) does not exist: lock "
			    "files in a group-writable spool cannot be "
			    "created; create the group or give -g none",
			    cfg->mail_group);
	}
	if (passwd_scan(cfg->passwd_file, &v) == 0) {
		check_duplicates(sc);
		if (sc->entries == 0)
			problem(0, "password file %s has no entries: nobody "
			    "can log in (add some with pop3passwd)",
			    cfg->passwd_file);
	}
	entries = sc->entries;
	free(sc->names);
	free(sc);
	return entries;
}

static void check_tls(const struct config *cfg)
{
	long long left;
	char when[64];

	if (tls_setup(cfg->tls_cert, cfg->tls_key) < 0) {
		problem(1, "TLS certificate %s (-c) with key %s (-k) is not "
		    "usable (see above): fix them, or leave TLS off",
		    cfg->tls_cert, cfg->tls_key);
		return;
	}
	if (tls_cert_expiry(&left, when, sizeof(when)) < 0)
		return;
	if (left <= 0)
		problem(1, "TLS certificate %s (-c) expired on %s: clients "
		    "will refuse it; renew it", cfg->tls_cert, when);
	else if (left < (long long)CERT_WARN_DAYS * 86400)
		problem(0, "TLS certificate %s (-c) expires within %d days, "
		    "on %s (in %lld hours): renew it", cfg->tls_cert,
		    CERT_WARN_DAYS, when, left / 3600);
}

/*
 * --auth pam: Linux-PAM reads /etc/pam.d/SERVICE, and for a service
 * without a file falls back to /etc/pam.d/other, which on Debian denies
 * everything (pam_deny): every login would fail, as a wrong password, and
 * nothing else would say why.
 */
static void check_pam(const struct config *cfg, int root)
{
	char path[MAX_PATH_LEN];
	struct stat st;

	snprintf(path, sizeof(path), "/etc/pam.d/%s", cfg->auth_arg);
	if (stat(path, &st) < 0)
		problem(0, "PAM service %s (--auth): %s: %s; PAM then uses "
		    "/etc/pam.d/other, which denies every login on Debian: "
		    "install pop3d's pam.d/pop3d there (make install does), or "
		    "name a service that exists", cfg->auth_arg, path,
		    strerror(errno));
	else if (!S_ISREG(st.st_mode))
		problem(0, "PAM service %s (--auth): %s is not a regular file",
		    cfg->auth_arg, path);
	/* pam_unix reads /etc/shadow only as root; otherwise it asks its
	 * helper unix_chkpwd, which checks the caller's own password only. */
	if (!root)
		problem(0, "--auth pam without root: PAM (pam_unix) can check "
		    "only the password of the account pop3d runs as (uid %lu); "
		    "start pop3d as root (xinetd, systemd) to serve the other "
		    "users", (unsigned long)geteuid());
}

/*
 * --auth checkpassword: the program decides who logs in as whom, and runs
 * as root in root mode, so the session holds it to the password file's
 * rules (trust_open(): root alone in root mode): whoever could replace it
 * could log in as anyone, or run code as root.  The same call here, so
 * the check and the session cannot disagree.
 */
static void check_checkpassword(const struct config *cfg)
{
	const char *prog = cfg->auth_arg;
	char why[512];
	struct stat st;
	int fd;

	fd = trust_open(prog, why, sizeof(why));
	if (fd < 0) {
		problem(1, "checkpassword program %s (--auth): %s", prog, why);
		return;
	}
	if (fstat(fd, &st) == 0 && !(st.st_mode & (S_IXUSR | S_IXGRP |
	    S_IXOTH)))
		problem(1, "checkpassword program %s (--auth) is not "
		    "executable (mode %04o): chmod 755 %s", prog,
		    (unsigned)(st.st_mode & 07777), prog);
	else if (faccessat(AT_FDCWD, prog, X_OK, AT_EACCESS) < 0)
		problem(1, "checkpassword program %s (--auth) cannot be run by "
		    "uid %lu: %s", prog, (unsigned long)geteuid(),
		    strerror(errno));
	close(fd);
}

/* One line of the settings: name, value, and where it was set unless
 * it is the default. */
static void setting(const char *name, const char *fmt, ...)
    ATTR_PRINTF(2, 3);
static void setting(const char *name, const char *fmt, ...)
{
	char value[2 * PATH_MAX], src[PATH_MAX + 32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	options_source(name, src, sizeof(src));
	if (!strcmp(src, "default"))
		printf("  %-16s %s\n", name, value);
	else
		printf("  %-16s %s  [%s]\n", name, value, src);
}

/* --proxy-from as the networks it parsed to, in its own syntax (an
 * address alone is shown as its /32 or /128): what is trusted, exactly. */
static void proxy_from_setting(const struct config *cfg)
{
	char list[MAX_PROXY_FROM * (INET6_ADDRSTRLEN + 5)];
	char net[INET6_ADDRSTRLEN];
	size_t used = 0;

	if (!cfg->n_proxy_from) {
		setting("proxy-from", "none (no PROXY header trusted)");
		return;
	}
	list[0] = '\0';
	for (size_t i = 0; i < cfg->n_proxy_from; i++) {
		const struct cidr *c = &cfg->proxy_from[i];
		int n;

		if (!inet_ntop(c->family, c->addr, net, sizeof(net)))
			strcpy(net, "?");
		n = snprintf(list + used, sizeof(list) - used, "%s%s/%u",
		    i ? "," : "", net, c->bits);
		if (n < 0 || (size_t)n >= sizeof(list) - used)
			break;
		used += (size_t)n;
	}
	setting("proxy-from", "%s", list);
}

/* --client-workarounds as the names it set, in its own syntax. */
static void workarounds_setting(const struct config *cfg)
{
	char list[128];
	const char *name;
	size_t used = 0;
	unsigned bit;

	list[0] = '\0';
	for (size_t i = 0; (name = options_workaround_name(i, &bit)); i++) {
		int n;

		if (!(cfg->client_workarounds & bit))
			continue;
		n = snprintf(list + used, sizeof(list) - used, "%s%s",
		    used ? "," : "", name);
		if (n < 0 || (size_t)n >= sizeof(list) - used)
			break;
		used += (size_t)n;
	}
	setting("client-workarounds", "%s", used ? list : "none");
}

static void print_settings(const struct config *cfg, int use_stderr,
    int root, unsigned entries)
{
	static const char *const policy[] = { "never", "tls", "always" };
	const struct passdb *db = cfg->passdb ? cfg->passdb : &passdb_file;
	const char *file = options_file();

	printf("pop3d %s: the settings a session would use\n",
	    POP3D_VERSION);
	printf("  %-16s %s\n", "config", file ? file :
	    "none (no configuration file read)");
	if (root)
		printf("  %-16s root: pre-login as %s in %s, mail served as "
		    "each user\n", "mode", cfg->privsep_user,
		    cfg->privsep_dir);
	else
		printf("  %-16s pipe: runs as uid %lu\n", "mode",
		    (unsigned long)geteuid());
	if (db == &passdb_pam)
		setting("auth", "pam (service %s)", cfg->auth_arg);
	else if (db == &passdb_checkpassword)
		setting("auth", "checkpassword (program %s)", cfg->auth_arg);
	else
		setting("auth", "file");
	setting("first-uid", "%lu", cfg->first_uid);
	if (db == &passdb_file)
		setting("passwd", "%s (%u entr%s)", cfg->passwd_file, entries,
		    entries == 1 ? "y" : "ies");
	setting("mailbox", "%s", cfg->mailbox_template);
	setting("index-cache", "%s", cfg->index_template ?
	    cfg->index_template : "none");
	setting("uidl-format", "%s", uidl_format_name(cfg->uidl_format));
	setting("apop", "%s", cfg->apop_file ? cfg->apop_file :
	    "none (APOP not offered)");
	setting("tls-cert", "%s", cfg->tls_cert ? cfg->tls_cert :
	    "none (no TLS)");
	setting("tls-key", "%s", cfg->tls_key ? cfg->tls_key : "none");
	setting("tls", "%s", cfg->implicit_tls ?
	    "implicit (handshake first)" : cfg->tls_cert ? "STLS" : "off");
	setting("plaintext-login", "%s", policy[cfg->plaintext]);
	setting("mail-group", "%s", cfg->mail_group[0] ? cfg->mail_group :
	    "none");
	setting("timeout", "%d s", cfg->timeout);
	setting("hostname", "%s", cfg->hostname);
	proxy_from_setting(cfg);
	workarounds_setting(cfg);
	if (root) {
		setting("privsep-user", "%s", cfg->privsep_user);
		setting("privsep-dir", "%s", cfg->privsep_dir);
	}
	/* A setting like the others (the file can say it): shown, though
	 * --check-config itself prints to the terminal either way. */
	setting("stderr", "%s", use_stderr ? "yes" : "no");
	printf("%u error%s, %u warning%s\n", n_errors, n_errors == 1 ? "" :
	    "s", n_warnings, n_warnings == 1 ? "" : "s");
}

int checkconfig_run(const struct config *cfg, int use_stderr)
{
	const struct passdb *db = cfg->passdb ? cfg->passdb : &passdb_file;
	int root = geteuid() == 0;
	unsigned entries = 0;

	n_errors = n_warnings = 0;
	log_set_sink(sink);
	{
		const char *path;

		(void)maildrop_select(cfg->mailbox_template, &path);
		check_template("mailbox", "-m", path, root);
	}
	if (cfg->index_template)
		check_template("index cache", "-I", cfg->index_template, root);
	/* The password file is read only by its own back end; with PAM
	 * or checkpassword a stale one is no problem of the session's. */
	if (db == &passdb_pam)
		check_pam(cfg, root);
	else if (db == &passdb_checkpassword)
		check_checkpassword(cfg);
	else
		entries = check_passwd(cfg, root);
	if (cfg->apop_file)
		(void)apop_check_file(cfg->apop_file);
	if (cfg->tls_cert)
		check_tls(cfg);
	if (root)
		(void)privsep_check(cfg);
	log_set_sink(NULL);
	fflush(stderr);
	print_settings(cfg, use_stderr, root, entries);
	return n_errors ? 1 : 0;
}

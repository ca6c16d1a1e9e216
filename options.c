/*
 * options.c - every setting of pop3d, once: its long name (the same on
 * the command line and in the configuration file), its short option, and
 * the one function that checks and sets its value.  The command line and
 * /etc/pop3d/pop3d.conf (config.c) both go through that table, so a value
 * refused in one is refused in the other with the same words, and no
 * setting can exist in one place only.
 *
 * Precedence: built-in defaults, then the file, then the command line
 * (whatever the order of the arguments): what a launcher's line says wins
 * over the file every service shares.  Where each setting came from is
 * kept for --check-config and for the messages about settings that do not
 * fit together.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

enum arg_kind { ARG_NONE, ARG_VALUE };
/* Where a setting may be given: both, or the command line only (what
 * selects the file, and what is an action rather than a setting). */
enum where { ANYWHERE, CMDLINE_ONLY };

typedef int setter_fn(struct options *o, const char *v, char *why,
    size_t size);

struct option_def {
	const char *name;
	int short_opt;		/* 0: long only */
	enum arg_kind arg;
	enum where where;
	/* A file name or template (set NULL): whether "none" sets it to
	 * NULL (settings off by default, which a file line may say so
	 * explicitly), where it goes in struct config (a const char *), and
	 * what an empty one is called in the refusal. */
	int none_is_off;
	setter_fn *set;		/* NULL: a file name or template */
	size_t field;
	const char *what;
};
#define PATH(member, name, none) .none_is_off = (none), .set = NULL, \
	.field = offsetof(struct config, member), .what = (name)
#define FN(setter) .set = (setter)

/* Values that are file names or templates: present, or the setting is
 * meaningless (an empty -p would open the current directory). */
static int need_value(const char *v, const char *what, char *why,
    size_t size)
{
	if (*v)
		return 0;
	snprintf(why, size, "empty %s", what);
	return -1;
}

/* A file name or template: present, or the setting is meaningless (an
 * empty -p would open the current directory). */
static int set_path(struct options *o, const struct option_def *d,
    const char *v, char *why, size_t size)
{
	const char **dst = (const char **)(void *)((char *)&o->cfg + d->field);

	if (need_value(v, d->what, why, size) < 0)
		return -1;
	*dst = d->none_is_off && !strcmp(v, "none") ? NULL : v;
	return 0;
}

static int set_timeout(struct options *o, const char *v, char *why,
    size_t size)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 1 || n > MAX_TIMEOUT ||
	    v[0] < '0' || v[0] > '9') {
		snprintf(why, size, "invalid timeout (1 to 86400 seconds): "
		    "'%s'", v);
		return -1;
	}
	o->cfg.timeout = (int)n;
	return 0;
}

static int set_hostname(struct options *o, const char *v, char *why,
    size_t size)
{
	if (!*v || strlen(v) > MAX_HOSTNAME || strpbrk(v, " <>\r\n\t")) {
		snprintf(why, size, "invalid host name '%s'", v);
		return -1;
	}
	o->cfg.hostname = v;
	return 0;
}

/* A setter_fn like the others, which write their reason in why. */
static int set_mail_group(struct options *o, const char *v, char *why,
    size_t size)
{
	/* No group file entry has these; a line copied with its comment
	 * or a list ("mail, users") would otherwise be looked up as one
	 * name and only fail, less clearly, at the first session. */
	if (strpbrk(v, ": \t,")) {
		snprintf(why, size, "invalid group name '%s'", v);
		return -1;
	}
	/* "" or "none": never use a privileged group. */
	o->cfg.mail_group = strcmp(v, "none") ? v : "";
	return 0;
}

/* A switch in the file: yes or no, spelt as administrators spell them
 * elsewhere in /etc.  On the command line a switch is "yes". */
static int parse_bool(const char *v, int *r, char *why, size_t size)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(v, yes[i])) {
			*r = 1;
			return 0;
		}
		if (!strcmp(v, no[i])) {
			*r = 0;
			return 0;
		}
	}
	snprintf(why, size, "expected yes or no, not '%s'", v);
	return -1;
}

static int set_tls(struct options *o, const char *v, char *why, size_t size)
{
	return parse_bool(v, &o->cfg.implicit_tls, why, size);
}

static int set_plaintext(struct options *o, const char *v, char *why,
    size_t size)
{
	if (!strcmp(v, "never"))
		o->plaintext = PLAINTEXT_NEVER;
	else if (!strcmp(v, "tls"))
		o->plaintext = PLAINTEXT_TLS;
	else if (!strcmp(v, "always"))
		o->plaintext = PLAINTEXT_ALWAYS;
	else {
		snprintf(why, size, "--plaintext-login takes never, tls or "
		    "always, not '%s'", v);
		return -1;
	}
	return 0;
}

static int set_uidl_format(struct options *o, const char *v, char *why,
    size_t size)
{
	int f = uidl_format_parse(v);

	if (f < 0) {
		snprintf(why, size, "--uidl-format takes popa3d, dovecot or "
		    "x-uidl, not '%s'", v);
		return -1;
	}
	o->cfg.uidl_format = (enum uidl_format)f;
	return 0;
}

static int set_privsep_dir(struct options *o, const char *v, char *why,
    size_t size)
{
	if (v[0] != '/') {
		snprintf(why, size, "privilege separation directory must be "
		    "absolute: '%s'", v);
		return -1;
	}
	o->cfg.privsep_dir = v;
	return 0;
}

static int set_stderr(struct options *o, const char *v, char *why,
    size_t size)
{
	return parse_bool(v, &o->use_stderr, why, size);
}

static int set_auth(struct options *o, const char *v, char *why, size_t size)
{
	const char *msg;

	if (passdb_parse(&o->cfg, v, &msg) < 0) {
		snprintf(why, size, "%s '%s'", msg, v);
		return -1;
	}
	return 0;
}

static int set_first_uid(struct options *o, const char *v, char *why,
    size_t size)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	/* (uid_t)-1 is no account; nothing at or above it. */
	if (errno || end == v || *end || v[0] < '0' || v[0] > '9' ||
	    n > 0xfffffffeUL) {
		snprintf(why, size, "invalid --first-uid (a uid from 0 to "
		    "4294967294): '%s'", v);
		return -1;
	}
	o->cfg.first_uid = n;
	return 0;
}

static int set_proxy_from(struct options *o, const char *v, char *why,
    size_t size)
{
	static struct cidr nets[MAX_PROXY_FROM];
	size_t n;

	if (!strcmp(v, "none")) {
		o->cfg.proxy_from = NULL;
		o->cfg.n_proxy_from = 0;
		return 0;
	}
	if (cidr_parse_list(v, nets, MAX_PROXY_FROM, &n) < 0) {
		snprintf(why, size, "invalid --proxy-from (at most %d IPv4 or "
		    "IPv6 networks, ADDRESS[/BITS] with the host bits zero, "
		    "comma-separated): '%s'", MAX_PROXY_FROM, v);
		return -1;
	}
	o->cfg.proxy_from = nets;
	o->cfg.n_proxy_from = n;
	return 0;
}

/* The --client-workarounds names, Dovecot's (pop3_client_workarounds). */
static const struct {
	const char *name;
	unsigned bit;
} workarounds[] = {
	{ "outlook-no-nuls", WA_OUTLOOK_NO_NULS },
	{ "oe-ns-eoh", WA_OE_NS_EOH },
};

const char *options_workaround_name(size_t i, unsigned *bit_r)
{
	if (i >= sizeof(workarounds) / sizeof(workarounds[0]))
		return NULL;
	*bit_r = workarounds[i].bit;
	return workarounds[i].name;
}

/* "none", or names from workarounds[] separated by commas, each once at
 * most (a repeat is harmless but a sign of a mangled line). */
static int set_client_workarounds(struct options *o, const char *v,
    char *why, size_t size)
{
	unsigned bits = 0;
	const char *p = v;

	if (strcmp(v, "none")) {
		for (;;) {
			size_t len = strcspn(p, ","), i;

			for (i = 0; i < sizeof(workarounds) /
			    sizeof(workarounds[0]); i++)
				if (strlen(workarounds[i].name) == len &&
				    !strncmp(p, workarounds[i].name, len))
					break;
			if (i == sizeof(workarounds) / sizeof(workarounds[0]) ||
			    (bits & workarounds[i].bit)) {
				snprintf(why, size, "invalid "
				    "--client-workarounds (none, or a "
				    "comma-separated list of outlook-no-nuls "
				    "and oe-ns-eoh): '%s'", v);
				return -1;
			}
			bits |= workarounds[i].bit;
			if (p[len] == '\0')
				break;
			p += len + 1;
		}
	}
	o->cfg.client_workarounds = bits;
	return 0;
}

static int set_config(struct options *o, const char *v, char *why,
    size_t size)
{
	if (need_value(v, "configuration file name", why, size) < 0)
		return -1;
	o->config_file = v;
	o->config_given = 1;
	return 0;
}

/* NOLINTNEXTLINE(readability-non-const-parameter): setter_fn's type */
static int set_check_config(struct options *o, const char *v, char *why,
    size_t size)
{
	(void)v;
	(void)why;
	(void)size;
	o->check_config = 1;
	return 0;
}

/* Order: as --help and --check-config list them.  "help" and "version"
 * are handled before anything is read. */
static const struct option_def defs[] = {
	{ "config", 0, ARG_VALUE, CMDLINE_ONLY, FN(set_config) },
	{ "auth", 0, ARG_VALUE, ANYWHERE, FN(set_auth) },
	{ "first-uid", 0, ARG_VALUE, ANYWHERE, FN(set_first_uid) },
	{ "passwd", 'p', ARG_VALUE, ANYWHERE,
	    PATH(passwd_file, "password file name", 0) },
	{ "mailbox", 'm', ARG_VALUE, ANYWHERE,
	    PATH(mailbox_template, "mailbox template", 0) },
	{ "index-cache", 'I', ARG_VALUE, ANYWHERE,
	    PATH(index_template, "index cache template", 1) },
	{ "uidl-format", 0, ARG_VALUE, ANYWHERE, FN(set_uidl_format) },
	{ "timeout", 't', ARG_VALUE, ANYWHERE, FN(set_timeout) },
	{ "apop", 'a', ARG_VALUE, ANYWHERE,
	    PATH(apop_file, "APOP file name", 1) },
	{ "hostname", 'n', ARG_VALUE, ANYWHERE, FN(set_hostname) },
	{ "mail-group", 'g', ARG_VALUE, ANYWHERE, FN(set_mail_group) },
	{ "tls-cert", 'c', ARG_VALUE, ANYWHERE,
	    PATH(tls_cert, "TLS certificate file name", 0) },
	{ "tls-key", 'k', ARG_VALUE, ANYWHERE,
	    PATH(tls_key, "TLS key file name", 0) },
	{ "tls", 'S', ARG_NONE, ANYWHERE, FN(set_tls) },
	{ "plaintext-login", 'L', ARG_VALUE, ANYWHERE, FN(set_plaintext) },
	{ "privsep-user", 'U', ARG_VALUE, ANYWHERE,
	    PATH(privsep_user, "privilege separation account", 0) },
	{ "privsep-dir", 'C', ARG_VALUE, ANYWHERE, FN(set_privsep_dir) },
	{ "stderr", 's', ARG_NONE, ANYWHERE, FN(set_stderr) },
	{ "proxy-from", 0, ARG_VALUE, ANYWHERE, FN(set_proxy_from) },
	{ "client-workarounds", 0, ARG_VALUE, ANYWHERE,
	    FN(set_client_workarounds) },
	{ "check-config", 0, ARG_NONE, CMDLINE_ONLY, FN(set_check_config) },
};
#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

static int apply(struct options *o, const struct option_def *d,
    const char *v, char *why, size_t size)
{
	return d->set ? d->set(o, v, why, size) : set_path(o, d, v, why, size);
}
enum { OPT_HELP = 'h', OPT_VERSION = 'V', OPT_LONG_BASE = 256 };

/* Where each setting came from: 0 default, 1 the command line, else the
 * file's line number + 1. */
static unsigned source_line[N_DEFS];
static const char *source_file;
/* The file's text: the values point into it for the process's life. */
static char *config_text;

static const struct option_def *find_def(const char *name)
{
	for (size_t i = 0; i < N_DEFS; i++)
		if (!strcmp(defs[i].name, name))
			return &defs[i];
	return NULL;
}

const char *options_source(const char *name, char *buf, size_t size)
{
	const struct option_def *d = find_def(name);
	unsigned s = d ? source_line[d - defs] : 0;

	if (s == 0)
		snprintf(buf, size, "default");
	else if (s == 1)
		snprintf(buf, size, "command line");
	else
		snprintf(buf, size, "%s:%u", source_file, s - 1);
	return buf;
}

const char *options_file(void)
{
	return source_file;
}

/* A mistake in the settings: "pop3d: WHAT", exit status 2, written where
 * the administrator reads it (log_startup_error). */
static void option_error(const char *hint, const char *fmt, ...)
    ATTR_PRINTF(2, 3);
static void option_error(const char *hint, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_startup_error(hint, "%s", text);
	exit(2);
}

static const char cmdline_hint[] = "Try 'pop3d --help' for more information.";

/* " (tls at /etc/pop3d/pop3d.conf:4)" for a setting from the file, ""
 * for one from the command line: says which line to change. */
static const char *from_file(const char *name, char *buf, size_t size)
{
	const struct option_def *d = find_def(name);
	unsigned s = d ? source_line[d - defs] : 0;

	if (s < 2)
		return "";
	snprintf(buf, size, " (%s at %s:%u)", name, source_file, s - 1);
	return buf;
}

struct file_ctx {
	struct options *o;
	const unsigned *line;
};

static int file_setting(void *ctx, const char *name, const char *value,
    char *why, size_t size)
{
	struct file_ctx *fc = ctx;
	const struct option_def *d = find_def(name);
	size_t i;

	if (!d || d->where == CMDLINE_ONLY) {
		snprintf(why, size, "unknown setting '%s'%s", name,
		    d ? " (a command-line option only)" : "");
		return -1;
	}
	i = (size_t)(d - defs);
	if (source_line[i] >= 2) {
		snprintf(why, size, "'%s' is already set on line %u", name,
		    source_line[i] - 1);
		return -1;
	}
	if (apply(fc->o, d, value, why, size) < 0)
		return -1;
	source_line[i] = *fc->line + 1;
	return 0;
}

static void read_file(struct options *o)
{
	char why[512];
	size_t len;
	unsigned line = 0;
	struct file_ctx fc = { o, &line };
	int r;

	r = config_read(o->config_file, o->config_given, &config_text, &len,
	    why, sizeof(why));
	if (r < 0)
		option_error(NULL, "configuration file: %s", why);
	if (r == 0) {
		o->config_file = NULL;
		return;
	}
	source_file = o->config_file;
	if (config_parse(config_text, len, file_setting, &fc, &line, why,
	    sizeof(why)) < 0)
		option_error(NULL, "%s:%u: %s", o->config_file, line, why);
}

/* A relative maildrop path is resolved against the working directory,
 * which under a super-server is the launcher's (/ for xinetd and
 * systemd): a mistake that would serve every user an empty maildrop.
 * From a shell pipe it is the directory the user chose, as for any
 * command (SPEC 7: -m 'mail/%u').  So relative paths are refused when
 * standard input is a socket, that is when a super-server started us. */
static int relative_paths_allowed(void)
{
	struct stat st;

	return fstat(STDIN_FILENO, &st) == 0 && !S_ISSOCK(st.st_mode);
}

/*
 * A path template may use only %u, %h and %%.  "%%u" and "%%h" are
 * refused too: they give a literal "%u" file name, never wanted, but what
 * a line copied from a systemd unit (where % must be doubled) into xinetd
 * or a shell gives; every user would be served that one missing file.
 */
static void check_template(const char *what, const char *name,
    const char *template)
{
	char src[PATH_MAX];
	const char *p;

	for (p = strchr(template, '%'); p; p = strchr(p + 2, '%')) {
		if (p[1] != 'u' && p[1] != 'h' && p[1] != '%')
			option_error(cmdline_hint, "%s template may use only "
			    "%%u, %%h and %%%%: '%s'%s", what, template,
			    from_file(name, src, sizeof(src)));
		if (p[1] == '%' && (p[2] == 'u' || p[2] == 'h'))
			option_error(cmdline_hint, "%s template has %%%%%c, a "
			    "literal %%%c (only systemd units double the "
			    "%%): '%s'%s", what, p[2], p[2], template,
			    from_file(name, src, sizeof(src)));
	}
}

/* The settings that only mean something together. */
static void check_together(struct options *o)
{
	struct config *cfg = &o->cfg;
	char a[PATH_MAX], b[PATH_MAX];
	const char *path;

	if (!cfg->tls_cert != !cfg->tls_key)
		option_error(cmdline_hint, "--tls-cert and --tls-key go "
		    "together%s%s", from_file("tls-cert", a, sizeof(a)),
		    from_file("tls-key", b, sizeof(b)));
	if (cfg->implicit_tls && !cfg->tls_cert)
		option_error(cmdline_hint, "--tls needs --tls-cert and "
		    "--tls-key%s", from_file("tls", a, sizeof(a)));
	/* A digest proves a secret only the APOP file has; the account it
	 * logs in to must then come from the back end without a password,
	 * which a checkpassword program cannot give. */
	if (cfg->apop_file && !cfg->passdb->can_lookup)
		option_error(cmdline_hint, "--apop cannot be used with --auth "
		    "'checkpassword'%s%s", from_file("apop", a, sizeof(a)),
		    from_file("auth", b, sizeof(b)));
	/* Default: with a certificate, no password travels in clear text;
	 * without one, there is no other way, and a pipe is local. */
	cfg->plaintext = o->plaintext >= 0 ?
	    (enum plaintext_policy)o->plaintext :
	    cfg->tls_cert ? PLAINTEXT_TLS : PLAINTEXT_ALWAYS;
	/* "maildir:PATH": the rules are the path's. */
	(void)maildrop_select(cfg->mailbox_template, &path);
	check_template("mailbox", "mailbox", path);
	cfg->relative_paths = relative_paths_allowed();
	if (!cfg->relative_paths && path[0] != '/' &&
	    strncmp(path, "%h", 2) != 0)
		option_error(cmdline_hint, "started by a super-server, the "
		    "mailbox template must be an absolute path (or start with "
		    "%%h): '%s'%s", cfg->mailbox_template,
		    from_file("mailbox", a, sizeof(a)));
	if (cfg->index_template)
		check_template("index cache", "index-cache",
		    cfg->index_template);
}

/* The option getopt_long found, by its return value. */
static int def_index(int c)
{
	if (c >= OPT_LONG_BASE && (size_t)(c - OPT_LONG_BASE) < N_DEFS)
		return c - OPT_LONG_BASE;
	for (size_t i = 0; i < N_DEFS; i++)
		if (defs[i].short_opt && defs[i].short_opt == c)
			return (int)i;
	return -1;
}

/* The option named in a getopt error: "-x" inside a cluster such as -Zq
 * (where argv[optind - 1] would be wrong), else the argument itself. */
static const char *bad_option(char **argv, char buf[3])
{
	if (optopt && strncmp(argv[optind - 1], "--", 2)) {
		buf[0] = '-';
		buf[1] = (char)optopt;
		buf[2] = '\0';
		return buf;
	}
	return argv[optind - 1];
}

int options_load(struct options *o, int argc, char **argv,
    const char *usage)
{
	static struct option longopts[N_DEFS + 3];
	/* static: an error exit leaves them reachable, not leaked. */
	static int *which;
	static char **vals;
	char shortopts[2 * N_DEFS + 4], why[512], opt[3];
	size_t n = 0, ns = 0;
	int c;
	const char *env;

	shortopts[ns++] = ':';
	for (size_t i = 0; i < N_DEFS; i++) {
		longopts[n].name = defs[i].name;
		longopts[n].has_arg = defs[i].arg == ARG_VALUE ?
		    required_argument : no_argument;
		longopts[n].flag = NULL;
		longopts[n].val = OPT_LONG_BASE + (int)i;
		n++;
		if (defs[i].short_opt) {
			shortopts[ns++] = (char)defs[i].short_opt;
			if (defs[i].arg == ARG_VALUE)
				shortopts[ns++] = ':';
		}
	}
	longopts[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	longopts[n++] = (struct option){ "version", no_argument, NULL,
	    OPT_VERSION };
	longopts[n] = (struct option){ NULL, 0, NULL, 0 };
	shortopts[ns++] = 'h';
	shortopts[ns++] = 'V';
	shortopts[ns] = '\0';

	/* At most one option per argument. */
	which = calloc((size_t)argc + 1, sizeof(*which));
	vals = calloc((size_t)argc + 1, sizeof(*vals));
	if (!which || !vals)
		option_error(NULL, "out of memory");
	n = 0;
	opterr = 0;	/* our own messages, with exit status 2 */
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		int i;

		if (c == OPT_HELP) {
			fputs(usage, stdout);
			free(which);
			free(vals);
			return 1;
		}
		if (c == OPT_VERSION) {
			printf("pop3d %s\n", POP3D_VERSION);
			free(which);
			free(vals);
			return 1;
		}
		if (c == ':')
			option_error(cmdline_hint, "option needs a value: '%s'",
			    bad_option(argv, opt));
		i = def_index(c);
		if (i < 0)
			option_error(cmdline_hint, "unknown option '%s'",
			    bad_option(argv, opt));
		which[n] = i;
		vals[n] = defs[i].arg == ARG_VALUE ? optarg : NULL;
		n++;
		/* The file to read is known before the file is read. */
		if (defs[i].set == set_config && set_config(o, optarg, why,
		    sizeof(why)) < 0)
			option_error(cmdline_hint, "%s", why);
	}
	if (optind < argc)
		option_error(cmdline_hint, "unexpected argument '%s'",
		    argv[optind]);

	if (!o->config_given) {
		env = getenv("POP3D_CONFIG");
		o->config_file = env && *env ? env : DEFAULT_CONFIG_FILE;
	}
	read_file(o);

	for (size_t k = 0; k < n; k++) {
		const struct option_def *d = &defs[which[k]];

		if (apply(o, d, vals[k] ? vals[k] : "yes", why, sizeof(why)) < 0)
			option_error(cmdline_hint, "%s", why);
		source_line[which[k]] = 1;
	}
	free(which);
	free(vals);
	check_together(o);
	return 0;
}

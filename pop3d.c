/*
 * pop3d.c - entry point: the command line, the environment a session
 * starts in (signals, client address, logging), then one session on
 * standard input and output.
 *
 * Started by a super-server (often as root) or from a shell pipe.  Option
 * errors are reported on standard error with exit status 2 before a byte
 * goes to the client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "proto.h"

static const char usage_text[] =
    "Usage: pop3d [options]\n"
    "POP3 server for mbox maildrops; speaks POP3 on standard input and "
    "output.\n"
    "\n"
    "  -p, --passwd FILE       password file (default "
    DEFAULT_PASSWD_FILE ")\n"
    "  -m, --mailbox TEMPLATE  maildrop path; %u user name, %h home "
    "directory,\n"
    "                          %% a percent sign (default "
    DEFAULT_MAILBOX_TEMPLATE ")\n"
    "  -I, --index-cache TEMPLATE\n"
    "                          keep each maildrop's index in this file "
    "(%u, %h, %%;\n"
    "                          e.g. %h/.pop3d-index); default: none\n"
    "  -t, --timeout SECONDS   idle autologout (default 600, at least 1)\n"
    "  -a, --apop FILE         APOP secrets file (user:secret lines, mode "
    "0600);\n"
    "                          APOP is offered only with it\n"
    "  -n, --hostname NAME     name in the greeting (default: "
    "gethostname)\n"
    "  -g, --mail-group GROUP  group kept (as root) for lock files in a "
    "group-writable\n"
    "                          spool (default " DEFAULT_MAIL_GROUP
    "; \"none\" disables)\n"
    "  -c, --tls-cert FILE     TLS certificate chain (PEM); offers STLS\n"
    "  -k, --tls-key FILE      its private key (PEM, mode 0600)\n"
    "  -S, --tls               implicit TLS (port 995): handshake before "
    "the greeting\n"
    "  -L, --plaintext-login never|tls|always\n"
    "                          where USER/PASS and AUTH PLAIN may be used "
    "(default:\n"
    "                          tls with a certificate, else always)\n"
    "  -U, --privsep-user NAME account of the pre-login process when "
    "started as root\n"
    "                          (default " DEFAULT_PRIVSEP_USER ")\n"
    "  -C, --privsep-dir DIR   its empty chroot directory (default "
    DEFAULT_PRIVSEP_DIR ")\n"
    "  -s, --stderr            log to standard error instead of syslog\n"
    "      --check-config      check what a session with these options "
    "would use\n"
    "                          (password file, maildrops, TLS, privilege "
    "separation),\n"
    "                          print problems and settings; exit 1 on any "
    "error\n"
    "  -h, --help              show this help and exit\n"
    "  -V, --version           show the version and exit\n";

/* Reports a command-line mistake: "pop3d: WHAT 'ARG'", exit status 2. */
static void usage_error(const char *what, const char *arg)
{
	if (arg)
		fprintf(stderr, "pop3d: %s '%s'\n", what, arg);
	else
		fprintf(stderr, "pop3d: %s\n", what);
	fprintf(stderr, "Try 'pop3d --help' for more information.\n");
	exit(2);
}

/* A path template may use only %u, %h and %%. */
static void check_template(const char *what, const char *template)
{
	char msg[64];
	const char *p;

	for (p = strchr(template, '%'); p; p = strchr(p + 2, '%'))
		if (p[1] != 'u' && p[1] != 'h' && p[1] != '%') {
			snprintf(msg, sizeof(msg), "%s template may use only "
			    "%%u, %%h and %%%%:", what);
			usage_error(msg, template);
		}
}

/* The client's address: the socket peer, or what the launcher tells. */
static void find_client(void)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "";
	const char *env;

	if (getpeername(STDIN_FILENO, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET,
			    &((struct sockaddr_in *)&ss)->sin_addr, addr,
			    sizeof(addr));
		else if (ss.ss_family == AF_INET6) {
			const struct in6_addr *a6 =
			    &((struct sockaddr_in6 *)&ss)->sin6_addr;

			/* A dual-stack socket (systemd's ListenStream=110)
			 * shows IPv4 clients as ::ffff:a.b.c.d; log them as
			 * the IPv4 address they are. */
			if (IN6_IS_ADDR_V4MAPPED(a6))
				inet_ntop(AF_INET, &a6->s6_addr[12], addr,
				    sizeof(addr));
			else
				inet_ntop(AF_INET6, a6, addr, sizeof(addr));
		}
		else if (ss.ss_family == AF_UNIX)
			strcpy(addr, "local");
		if (addr[0]) {
			log_set_client(addr);
			return;
		}
	}
	env = getenv("REMOTE_HOST");
	if (!env || !*env)
		env = getenv("TCPREMOTEIP");
	log_set_client(env && *env ? env : "pipe");
}

/*
 * On a TCP connection, makes a vanished peer show: keepalive probes while
 * the connection is idle, and TCP_USER_TIMEOUT for data that is never
 * acknowledged (params.h has the values and why).  Anything but TCP (a
 * pipe, a UNIX socket) is left alone.  A refusal is logged and the session
 * goes on: its own deadlines still hold.
 */
static void tune_tcp(int fd, int timeout)
{
	const int on = 1, idle = TCP_KEEPALIVE_IDLE,
	    interval = TCP_KEEPALIVE_INTERVAL, count = TCP_KEEPALIVE_COUNT;
	const unsigned int user_ms = (unsigned int)(timeout + PRIVSEP_GRACE) *
	    1000U;
	const struct {
		int level, name;
		const void *value;
		socklen_t len;
		const char *what;
	} opts[] = {
		{ SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on), "SO_KEEPALIVE" },
		{ IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle),
		    "TCP_KEEPIDLE" },
		{ IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval),
		    "TCP_KEEPINTVL" },
		{ IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count),
		    "TCP_KEEPCNT" },
		{ IPPROTO_TCP, TCP_USER_TIMEOUT, &user_ms, sizeof(user_ms),
		    "TCP_USER_TIMEOUT" },
	};
	int proto = 0;
	socklen_t len = sizeof(proto);

	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0) {
		/* ENOTSOCK: a pipe or a file; anything else: a socket
		 * that will not say, which we leave as it is too. */
		if (errno != ENOTSOCK && errno != ENOPROTOOPT &&
		    errno != EOPNOTSUPP)
			log_msg(LOG_WARNING, "getsockopt: %s", strerror(errno));
		return;
	}
	if (proto != IPPROTO_TCP)
		return;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (setsockopt(fd, opts[i].level, opts[i].name, opts[i].value,
		    opts[i].len) < 0 && errno != EOPNOTSUPP &&
		    errno != ENOPROTOOPT)
			log_msg(LOG_WARNING, "setsockopt %s: %s", opts[i].what,
			    strerror(errno));
}

/* Long options without a short form: values no character takes. */
enum { OPT_CHECK_CONFIG = 256 };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "passwd", required_argument, NULL, 'p' },
		{ "mailbox", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "apop", required_argument, NULL, 'a' },
		{ "hostname", required_argument, NULL, 'n' },
		{ "mail-group", required_argument, NULL, 'g' },
		{ "index-cache", required_argument, NULL, 'I' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "tls", no_argument, NULL, 'S' },
		{ "plaintext-login", required_argument, NULL, 'L' },
		{ "privsep-user", required_argument, NULL, 'U' },
		{ "privsep-dir", required_argument, NULL, 'C' },
		{ "stderr", no_argument, NULL, 's' },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct config cfg = {
		.passwd_file = DEFAULT_PASSWD_FILE,
		.mailbox_template = DEFAULT_MAILBOX_TEMPLATE,
		.timeout = DEFAULT_TIMEOUT,
		.mail_group = DEFAULT_MAIL_GROUP,
		.privsep_user = DEFAULT_PRIVSEP_USER,
		.privsep_dir = DEFAULT_PRIVSEP_DIR,
	};
	char host[MAX_HOSTNAME + 1], ts[MAX_TIMESTAMP];
	char *end;
	long v;
	int c, use_stderr = 0, plaintext = -1, check_config = 0;

	opterr = 0;	/* our own messages, with exit status 2 */
	while ((c = getopt_long(argc, argv, ":p:m:I:t:a:n:g:c:k:SL:U:C:shV", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!*optarg)
				usage_error("empty password file name", NULL);
			cfg.passwd_file = optarg;
			break;
		case 'm':
			if (!*optarg)
				usage_error("empty mailbox template", NULL);
			cfg.mailbox_template = optarg;
			break;
		case 'I':
			if (!*optarg)
				usage_error("empty index cache template", NULL);
			cfg.index_template = optarg;
			break;
		case 't':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 ||
			    v > MAX_TIMEOUT || optarg[0] == '+' ||
			    optarg[0] == ' ')
				usage_error("invalid timeout (1 to 86400 "
				    "seconds):", optarg);
			cfg.timeout = (int)v;
			break;
		case 'a':
			if (!*optarg)
				usage_error("empty APOP file name", NULL);
			cfg.apop_file = optarg;
			break;
		case 'n':
			if (!*optarg || strlen(optarg) > MAX_HOSTNAME ||
			    strpbrk(optarg, " <>\r\n\t"))
				usage_error("invalid host name", optarg);
			cfg.hostname = optarg;
			break;
		case 'g':
			/* "" or "none": never use a privileged group. */
			cfg.mail_group = strcmp(optarg, "none") ? optarg : "";
			break;
		case 'c':
			cfg.tls_cert = optarg;
			break;
		case 'k':
			cfg.tls_key = optarg;
			break;
		case 'S':
			cfg.implicit_tls = 1;
			break;
		case 'L':
			if (!strcmp(optarg, "never"))
				plaintext = PLAINTEXT_NEVER;
			else if (!strcmp(optarg, "tls"))
				plaintext = PLAINTEXT_TLS;
			else if (!strcmp(optarg, "always"))
				plaintext = PLAINTEXT_ALWAYS;
			else
				usage_error("--plaintext-login takes never, tls "
				    "or always, not", optarg);
			break;
		case 'U':
			if (!*optarg)
				usage_error("empty privilege separation account",
				    NULL);
			cfg.privsep_user = optarg;
			break;
		case 'C':
			if (optarg[0] != '/')
				usage_error("privilege separation directory must "
				    "be absolute:", optarg);
			cfg.privsep_dir = optarg;
			break;
		case 's':
			use_stderr = 1;
			break;
		case OPT_CHECK_CONFIG:
			check_config = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("pop3d %s\n", POP3D_VERSION);
			return 0;
		case ':':
			if (optopt && strncmp(argv[optind - 1], "--", 2)) {
				char opt[3] = { '-', (char)optopt, '\0' };

				usage_error("option needs a value:", opt);
			}
			usage_error("option needs a value:",
			    argv[optind - 1]);
			break;
		default:
			/* optopt names a short option inside a cluster such
			 * as -Zq, where argv[optind - 1] would be wrong. */
			if (optopt && strncmp(argv[optind - 1], "--", 2)) {
				char opt[3] = { '-', (char)optopt, '\0' };

				usage_error("unknown option", opt);
			}
			usage_error("unknown option", argv[optind - 1]);
			break;
		}
	}
	if (optind < argc)
		usage_error("unexpected argument", argv[optind]);
	if (!cfg.tls_cert != !cfg.tls_key)
		usage_error("--tls-cert and --tls-key go together", NULL);
	if (cfg.implicit_tls && !cfg.tls_cert)
		usage_error("--tls needs --tls-cert and --tls-key", NULL);
	/* Default: with a certificate, no password travels in clear text;
	 * without one, there is no other way, and a pipe is local. */
	cfg.plaintext = plaintext >= 0 ? (enum plaintext_policy)plaintext :
	    cfg.tls_cert ? PLAINTEXT_TLS : PLAINTEXT_ALWAYS;
	check_template("mailbox", cfg.mailbox_template);
	if (cfg.index_template)
		check_template("index cache", cfg.index_template);

	if (!cfg.hostname) {
		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		cfg.hostname = host;
	}

	/* No client: the checks print to the terminal, not the log. */
	if (check_config)
		return checkconfig_run(&cfg);

	log_init(use_stderr);
	find_client();
	/* A vanished client must show up as a write error, not a kill. */
	signal(SIGPIPE, SIG_IGN);
	/* Output is on the same connection when it is a socket. */
	tune_tcp(STDIN_FILENO, cfg.timeout);

	/* Loaded now, as root in root mode: the key is root's alone. */
	if (cfg.tls_cert && tls_setup(cfg.tls_cert, cfg.tls_key) < 0) {
		fprintf(stderr, "pop3d: unusable TLS certificate or key\n");
		return 1;
	}
	if (cfg.apop_file && apop_check_file(cfg.apop_file) < 0) {
		fprintf(stderr, "pop3d: unusable APOP secrets file %s\n",
		    cfg.apop_file);
		return 1;
	}
	/* As root, untrusted input is parsed only by an unprivileged,
	 * chrooted process (privsep.c). */
	if (geteuid() == 0)
		return privsep_run(&cfg, STDIN_FILENO, STDOUT_FILENO);
	if (cfg.apop_file)
		make_apop_timestamp(cfg.hostname, ts, sizeof(ts));
	return session_run(&cfg, STDIN_FILENO, STDOUT_FILENO, -1,
	    cfg.apop_file ? ts : NULL);
}

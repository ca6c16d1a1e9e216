/*
 * pop3d.c - entry point: the command line, the environment a session
 * starts in (signals, client address, logging), then one session on
 * standard input and output.
 *
 * Started by a super-server (often as root) or from a shell pipe.  Option
 * errors end pop3d with exit status 2 before a byte goes to the client;
 * they are reported on standard error, or in syslog where standard error
 * is the client's connection (inetd, xinetd) or another socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

static const char usage_text[] =
    "Usage: pop3d [options]\n"
    "POP3 server for mbox maildrops; speaks POP3 on standard input and "
    "output.\n"
    "\n"
    "      --config FILE       settings file, name = value lines with the "
    "long option\n"
    "                          names (default " DEFAULT_CONFIG_FILE
    ", read\n"
    "                          when present); the command line wins over "
    "it\n"
    "      --auth file|pam[:SERVICE]|checkpassword:PROGRAM\n"
    "                          where accounts are checked: pop3d's password "
    "file\n"
    "                          (default), PAM (service " DEFAULT_PAM_SERVICE
    " by default:\n"
    "                          system accounts), or a checkpassword program\n"
    "      --first-uid N       never serve accounts with a lower uid "
    "(default 1000)\n"
    "  -p, --passwd FILE       password file for --auth file (default "
    DEFAULT_PASSWD_FILE ")\n"
    "  -m, --mailbox TEMPLATE  maildrop path; %u user name, %h home "
    "directory,\n"
    "                          %% a percent sign (default "
    DEFAULT_MAILBOX_TEMPLATE ");\n"
    "                          maildir:TEMPLATE serves a Maildir\n"
    "  -I, --index-cache TEMPLATE\n"
    "                          keep each maildrop's index in this file "
    "(%u, %h, %%;\n"
    "                          e.g. %h/.pop3d-index); default: none\n"
    "      --uidl-format popa3d|dovecot|x-uidl\n"
    "                          mbox UIDLs: popa3d's hash (default), or the "
    "ids\n"
    "                          Dovecot (X-UID) or qpopper/mailutils "
    "(X-UIDL) wrote\n"
    "  -t, --timeout SECONDS   idle autologout (default 600, at least 1)\n"
    "  -a, --apop FILE         APOP secrets file (user:secret lines, mode "
    "0600);\n"
    "                          APOP is offered only with it\n"
    "  -n, --hostname NAME     host name in the APOP timestamp of the "
    "greeting\n"
    "                          (with -a; default: gethostname)\n"
    "  -g, --mail-group GROUP  group kept (as root) for lock files in a "
    "group-writable\n"
    "                          spool (default " DEFAULT_MAIL_GROUP
    "; \"none\" disables)\n"
    "  -c, --tls-cert FILE     TLS certificate chain (PEM); offers STLS\n"
    "  -k, --tls-key FILE      its private key (PEM, mode 0600)\n"
    "  -S, --tls               implicit TLS (port 995): handshake before "
    "the greeting\n"
    "  -L, --plaintext-login never|tls|always\n"
    "                          where USER/PASS, AUTH PLAIN and LOGIN may be "
    "used\n"
    "                          (default: tls with a certificate, else "
    "always)\n"
    "  -U, --privsep-user NAME account of the pre-login process when "
    "started as root\n"
    "                          (default " DEFAULT_PRIVSEP_USER ")\n"
    "  -C, --privsep-dir DIR   its empty chroot directory\n"
    "                          (default " DEFAULT_PRIVSEP_DIR ")\n"
    "  -s, --stderr            log to standard error instead of syslog\n"
    "      --proxy-from CIDR[,CIDR...]\n"
    "                          load balancers (HAProxy) whose connections "
    "start with\n"
    "                          a PROXY protocol header naming the client "
    "(default:\n"
    "                          none, every header refused)\n"
    "      --client-workarounds NAME[,NAME...]\n"
    "                          Dovecot's client workarounds: "
    "outlook-no-nuls (a NUL\n"
    "                          is sent as 0x80), oe-ns-eoh (a message "
    "ending inside\n"
    "                          its header gets the empty line after it; "
    "default none)\n"
    "      --check-config      check what a session with these options "
    "would use\n"
    "                          (password file, maildrops, TLS, privilege "
    "separation),\n"
    "                          print problems and settings; exit 1 on any "
    "error\n"
    "  -h, --help              show this help and exit\n"
    "  -V, --version           show the version and exit\n";

/* A terminating signal: noted, so the session's wait for the client
 * gives up and the session ends through its own exit, logging why. */
static void on_signal(int sig)
{
	io_interrupted = sig;
}

/* Installs on_signal without SA_RESTART: poll(2) must return EINTR. */
static void catch_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGHUP, SIGINT };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			log_msg(LOG_WARNING, "sigaction %d: %s", sigs[i],
			    strerror(errno));
}

/* An IPv4 or IPv6 socket address as text ("" for anything else).  A
 * dual-stack socket (systemd's ListenStream=110) shows IPv4 clients as
 * ::ffff:a.b.c.d: they are shown as the IPv4 address they are. */
static void address_text(const struct sockaddr_storage *ss, char *buf,
    size_t size)
{
	buf[0] = '\0';
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
		    buf, (socklen_t)size);
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)ss)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6))
			inet_ntop(AF_INET, &a6->s6_addr[12], buf,
			    (socklen_t)size);
		else
			inet_ntop(AF_INET6, a6, buf, (socklen_t)size);
	}
}

/*
 * The client's address: the socket peer, or what the launcher tells; it
 * goes into every log line, and to the authentication back end (PAM_RHOST,
 * TCPREMOTEIP) with our own address when they are IP addresses.
 */
static void find_client(struct config *cfg)
{
	static char remote[INET6_ADDRSTRLEN], local[INET6_ADDRSTRLEN];
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);
	const char *env;

	if (getpeername(STDIN_FILENO, (struct sockaddr *)&ss, &len) == 0) {
		address_text(&ss, remote, sizeof(remote));
		if (remote[0]) {
			cfg->remote_ip = remote;
			memset(&ss, 0, sizeof(ss));
			len = sizeof(ss);
			if (getsockname(STDIN_FILENO, (struct sockaddr *)&ss,
			    &len) == 0) {
				address_text(&ss, local, sizeof(local));
				if (local[0])
					cfg->local_ip = local;
			}
			log_set_client(remote);
			return;
		}
		if (ss.ss_family == AF_UNIX) {
			log_set_client("local");
			return;
		}
	}
	/* A pipe: a launcher such as tcpserver may say who it is. */
	env = getenv("REMOTE_HOST");
	if (!env || !*env)
		env = getenv("TCPREMOTEIP");
	log_set_client(env && *env ? env : "pipe");
}

/*
 * The PROXY protocol header of a connection from a trusted balancer
 * (--proxy-from): read before anything else, before a TLS handshake too,
 * as HAProxy sends it; the address it carries becomes the client's for
 * every log line and for the authentication back ends.  A peer outside
 * the list is served as itself (a header it sends is a bad command:
 * session.c).  Read as root in root mode: the bytes come from a balancer
 * the administrator named, the reader is bounded (PROXY_V2_MAX, a
 * deadline of PROXY_HEADER_TIMEOUT) and fuzzed, and the address must be
 * known to the privileged parent, which logs and authenticates.
 * Returns 0 (go on), -1 (end the connection, for the reason in *end_r:
 * a refused header, logged, or a signal).
 */
static int proxy_header(struct config *cfg, enum session_end *end_r)
{
	static char remote[INET6_ADDRSTRLEN], local[INET6_ADDRSTRLEN];
	struct sockaddr_storage peer = { 0 };
	socklen_t len = sizeof(peer);
	unsigned char buf[PROXY_V2_MAX];
	struct proxy_info pi;
	struct timespec dl;
	const char *why;
	size_t n;
	int r;

	/* A connection reset before we look (a balancer's bare TCP health
	 * check connects and resets at once) has no peer any more: there
	 * is no one to serve, and going on would take the header's bytes
	 * for POP3 or TLS and log a failure fail2ban counts. */
	if (getpeername(STDIN_FILENO, (struct sockaddr *)&peer, &len) < 0) {
		if (errno != ENOTCONN)
			return 0;	/* a pipe: no balancer */
		*end_r = SEND_LOST;
		return -1;
	}
	if (!cidr_match(cfg->proxy_from, cfg->n_proxy_from, &peer))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += PROXY_HEADER_TIMEOUT;
	*end_r = SEND_PROXY;
	r = proxy_read(STDIN_FILENO, &dl, buf, sizeof(buf), &n, &why);
	/* SIGTERM (the service stopped) ends the wait as it ends any other:
	 * the balancer did nothing wrong, and "Interrupted system call" is
	 * no header's fault. */
	if (r != 1 && io_interrupted) {
		*end_r = SEND_SIGNAL;
		return -1;
	}
	if (r == 1 && proxy_parse(buf, n, &pi, &why) == 0) {
		explicit_bzero(buf, sizeof(buf));
		/* LOCAL (a health check) or UNKNOWN: the balancer itself. */
		if (pi.local)
			return 0;
		address_text(&pi.src, remote, sizeof(remote));
		address_text(&pi.dst, local, sizeof(local));
		if (!remote[0] || !local[0]) {
			why = "no address in it";
		} else {
			cfg->remote_ip = remote;
			cfg->local_ip = local;
			log_set_client(remote);
			return 0;
		}
	}
	/* Not "PROXY header refused:", the words fail2ban matches: the
	 * address here is the balancer's, and banning it would lock out
	 * every client behind it. */
	log_msg(LOG_NOTICE, "bad PROXY header from the balancer: %s; closing "
	    "the connection", why ? why : "unreadable");
	return -1;
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

/*
 * pop3d's own path, which a checkpassword program runs as its next
 * program: the running binary, not argv[0], which a launcher may set to
 * anything.  NULL if /proc cannot tell (then checkpassword logins fail,
 * logged).
 */
static const char *self_path(void)
{
	static char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

	/* " (deleted)": replaced since it started (an upgrade); that path
	 * now names another binary or none. */
	if (n <= 0 || (size_t)n >= sizeof(path) - 1 || path[0] != '/')
		return NULL;
	path[n] = '\0';
	if (n > 10 && !strcmp(path + n - 10, " (deleted)"))
		return NULL;
	return path;
}

int main(int argc, char **argv)
{
	struct options o = {
		.cfg = {
			.passdb = &passdb_file,
			.first_uid = DEFAULT_FIRST_UID,
			.passwd_file = DEFAULT_PASSWD_FILE,
			.mailbox_template = DEFAULT_MAILBOX_TEMPLATE,
			.timeout = DEFAULT_TIMEOUT,
			.mail_group = DEFAULT_MAIL_GROUP,
			.privsep_user = DEFAULT_PRIVSEP_USER,
			.privsep_dir = DEFAULT_PRIVSEP_DIR,
		},
		.plaintext = -1,
	};
	char host[MAX_HOSTNAME + 1], ts[MAX_TIMESTAMP];
	struct auth_local al = { NULL, 0 };
	enum session_end proxy_end;
	const struct login_checker lc = { auth_local_check, NULL, &al, NULL };
	/* The reply program a checkpassword program runs, as the user it
	 * chose: nothing of the server's set-up, no other option. */
	if (argc == 2 && !strcmp(argv[1], "--checkpassword-reply"))
		return checkpassword_reply_main();
	/* Before any message: under inetd standard error is the client. */
	if (log_probe_stderr() < 0)
		return 1;
	find_client(&o.cfg);
	o.cfg.self_exe = self_path();
	if (options_load(&o, argc, argv, usage_text))
		return 0;

	if (!o.cfg.hostname) {
		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		o.cfg.hostname = host;
	}

	/* No client: the checks print to the terminal, not the log. */
	if (o.check_config)
		return checkconfig_run(&o.cfg, o.use_stderr);

	log_init(o.use_stderr);
	/* The session's duration counts from here, in both processes of
	 * root mode. */
	logout_start();
	/* A vanished client must show up as a write error, not a kill. */
	signal(SIGPIPE, SIG_IGN);
	catch_signals();
	/* Output is on the same connection when it is a socket. */
	tune_tcp(STDIN_FILENO, o.cfg.timeout);
	if (o.cfg.n_proxy_from && proxy_header(&o.cfg, &proxy_end) < 0) {
		const struct session_stats st = { .end = proxy_end };

		logout_log(&st);
		return 0;
	}

	/* Loaded now, as root in root mode: the key is root's alone. */
	if (o.cfg.tls_cert && tls_setup(o.cfg.tls_cert, o.cfg.tls_key) < 0) {
		log_startup_error(NULL, "unusable TLS certificate or key");
		return 1;
	}
	if (o.cfg.apop_file && apop_check_file(o.cfg.apop_file) < 0) {
		log_startup_error(NULL, "unusable APOP secrets file %s",
		    o.cfg.apop_file);
		return 1;
	}
	/* GNU SASL before the pre-login process's chroot: whatever it
	 * would read, it reads now (sasl.c). */
	if (sasl_init() < 0) {
		log_startup_error(NULL, "GNU SASL cannot be initialised");
		return 1;
	}
	/* As root, untrusted input is parsed only by an unprivileged,
	 * chrooted process (privsep.c). */
	if (geteuid() == 0)
		return privsep_run(&o.cfg, STDIN_FILENO, STDOUT_FILENO);
	if (o.cfg.apop_file)
		make_apop_timestamp(o.cfg.hostname, ts, sizeof(ts));
	al.cfg = &o.cfg;
	return session_run(&o.cfg, STDIN_FILENO, STDOUT_FILENO, &lc,
	    o.cfg.apop_file ? ts : NULL);
}

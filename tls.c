/*
 * tls.c - TLS with OpenSSL 3: the server context (certificate, key,
 * protocol floor), the handshake on the client connection, and record
 * I/O for netio.c and the relay in privsep.c.  No other file calls
 * OpenSSL.
 *
 * libssl is loaded with dlopen(3) by tls_setup(), that is only when a
 * certificate is configured.  Mapping and relocating libssl and libcrypto
 * costs about a millisecond per process, more than the rest of a short
 * plain-text session besides crypt(3), and a process started per
 * connection pays it every time.  The library is the same one the linker
 * would have named (soname libssl.so.3, found the same way), every
 * function is looked up with its OpenSSL 3 symbol version, its type is
 * checked against OpenSSL's own prototype at compile time, and the table
 * of function pointers is made read-only once filled, as RELRO does for
 * the GOT.  dlvsym() on libssl's handle also finds the libcrypto
 * functions we need (ERR_*, X509_*, ASN1_*): a handle's lookup scope
 * includes the libraries it depends on, and libcrypto's symbols carry the
 * same version.  Plain-text sessions have no OpenSSL in their address space.
 *
 * The context is made by the process that starts as root, before any
 * fork, chroot or privilege drop, because the key file is readable by
 * root only (and the library could not be loaded inside the chroot).
 * The handshake and all record I/O happen in the process that talks to
 * the client.
 *
 * From the handshake to tls_close() the connection's descriptors are
 * non-blocking, and every SSL_read()/SSL_write() that wants the socket
 * waits in poll(2) against a deadline: a client that sends half a record
 * and falls silent, or stops reading, cannot hold the process inside
 * OpenSSL.  The flags are put back at tls_close(); the socket is the
 * connection's alone (the super-server closed its copy).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proto.h"

/* The library and the symbol version of the ABI our headers describe. */
#define LIBSSL_SONAME	"libssl.so.3"
#define LIBSSL_VERSION	"OPENSSL_3.0.0"

/* One pointer per OpenSSL function we call, typed from its prototype. */
#define SSL_FUNCTIONS(X) \
	X(TLS_server_method) X(SSL_CTX_new) X(SSL_CTX_free) \
	X(SSL_CTX_ctrl) X(SSL_CTX_set_options) \
	X(SSL_CTX_use_certificate_chain_file) X(SSL_CTX_use_PrivateKey_file) \
	X(SSL_CTX_check_private_key) X(SSL_new) X(SSL_free) X(SSL_set_rfd) \
	X(SSL_set_wfd) X(SSL_accept) X(SSL_get_error) X(SSL_get_version) \
	X(SSL_get_current_cipher) X(SSL_CIPHER_get_name) X(SSL_shutdown) \
	X(SSL_read) X(SSL_write) X(SSL_pending) X(ERR_get_error) \
	X(ERR_peek_error) X(ERR_error_string_n) X(ERR_clear_error) \
	X(SSL_CTX_get0_certificate) X(X509_get0_notAfter) \
	X(ASN1_TIME_diff) X(ASN1_TIME_to_tm)

struct ssl_api {
/* name is a declarator here, which parentheses cannot enclose. */
/* NOLINTNEXTLINE(bugprone-macro-parentheses) */
#define DECLARE_POINTER(name) __typeof__(&name) name;
	SSL_FUNCTIONS(DECLARE_POINTER)
#undef DECLARE_POINTER
};

/* Filled once by load_libssl(), then read-only; NULL before. */
static const struct ssl_api *ssl_api;
/* libssl's handle: never closed (OpenSSL marks itself NODELETE). */
static void *ssl_lib;

/* Loads libssl and fills the table.  Returns 0, or -1 (logged). */
static int load_libssl(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t size = page > 0 && (size_t)page >= sizeof(struct ssl_api) ?
	    (size_t)page : sizeof(struct ssl_api);
	struct ssl_api *api;
	void *lib;

	if (ssl_api)
		return 0;
	lib = dlopen(LIBSSL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		log_msg(LOG_ERR, "cannot load %s: %s", LIBSSL_SONAME,
		    dlerror());
		return -1;
	}
	ssl_lib = lib;
	/* A page of its own, so that it can be made read-only. */
	api = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    /* cppcheck-suppress invalidFunctionArg ; no fd: MAP_ANONYMOUS */
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (api == MAP_FAILED) {
		log_msg(LOG_ERR, "mmap: %s", strerror(errno));
		return -1;
	}
	/* POSIX lets a dlsym() result be converted to a function pointer. */
#define LOOK_UP(name) \
	api->name = (__typeof__(api->name))dlvsym(lib, #name, \
	    LIBSSL_VERSION); \
	if (!api->name) { \
		log_msg(LOG_ERR, "%s: no %s@%s", LIBSSL_SONAME, #name, \
		    LIBSSL_VERSION); \
		munmap(api, size); \
		return -1; \
	}
	SSL_FUNCTIONS(LOOK_UP)
#undef LOOK_UP
	if (mprotect(api, size, PROT_READ) < 0) {
		log_msg(LOG_ERR, "mprotect: %s", strerror(errno));
		munmap(api, size);
		return -1;
	}
	ssl_api = api;
	return 0;
}

static SSL_CTX *tls_ctx;

/* One client connection: the SSL object and its descriptors. */
struct tls_conn {
	SSL *ssl;
	int in_fd, out_fd;
	int fl_in, fl_out;	/* their flags before the handshake */
	short wants;		/* POLLIN/POLLOUT after TLS_AGAIN */
};

/* Logs OpenSSL's error queue (one line per entry) and clears it. */
static void log_openssl_at(int prio, const char *what)
{
	unsigned long e;
	char buf[256];
	int any = 0;

	while ((e = ssl_api->ERR_get_error()) != 0) {
		ssl_api->ERR_error_string_n(e, buf, sizeof(buf));
		log_msg(prio, "%s: %s", what, buf);
		any = 1;
	}
	if (!any)
		log_msg(prio, "%s failed", what);
}

/*
 * A failed handshake is one line, "TLS handshake failed: why", whatever
 * OpenSSL's error queue holds: fail2ban counts lines, and one client's
 * one failure must count once.  why NULL: the queue's entries, joined.
 */
static void handshake_failed(const char *why)
{
	char text[512], one[256];
	size_t o = 0;
	unsigned long e;

	text[0] = '\0';
	while ((e = ssl_api->ERR_get_error()) != 0) {
		int n;

		ssl_api->ERR_error_string_n(e, one, sizeof(one));
		n = snprintf(text + o, sizeof(text) - o, "%s%s",
		    o ? "; " : "", one);
		if (n < 0 || (size_t)n >= sizeof(text) - o) {
			/* Full: the rest is dropped, the queue emptied. */
			ssl_api->ERR_clear_error();
			break;
		}
		o += (size_t)n;
	}
	log_msg(LOG_NOTICE, "TLS handshake failed: %s", why ? why :
	    text[0] ? text : "connection closed or reset");
}

static void log_openssl(const char *what)
{
	log_openssl_at(LOG_ERR, what);
}

/*
 * The peer closed the TCP connection without a TLS close_notify: OpenSSL
 * 3 reports that as an SSL_ERROR_SSL with this reason (1.1 said
 * SSL_ERROR_SYSCALL with errno 0).  Many clients leave so; for POP3 it is
 * the end of the client's stream like any other, since a command cut off
 * by it is never run and nothing is deleted without QUIT.
 */
static int unexpected_eof(void)
{
	unsigned long e = ssl_api->ERR_peek_error();

	return ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/* The key is a secret: refuse a file others can read (or a link). */
static int key_file_ok(const char *file)
{
	struct stat st;
	int fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		log_msg(LOG_ERR, "cannot open TLS key %s: %s", file,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_msg(LOG_ERR, "TLS key %s is not a regular file", file);
		close(fd);
		return -1;
	}
	close(fd);
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		log_msg(LOG_ERR, "TLS key %s is accessible by group or others;"
		    " refusing it (chmod 600)", file);
		return -1;
	}
	return 0;
}

int tls_setup(const char *cert, const char *key)
{
	SSL_CTX *ctx;

	if (key_file_ok(key) < 0 || load_libssl() < 0)
		return -1;
	ctx = ssl_api->SSL_CTX_new(ssl_api->TLS_server_method());
	if (!ctx) {
		log_openssl("SSL_CTX_new");
		return -1;
	}
	/* RFC 8314 section 4.1: TLS 1.2 or later.  Cipher suites come from
	 * the system's OpenSSL policy (/etc/ssl/openssl.cnf). */
	/* SSL_CTX_set_min_proto_version(), SSL_CTX_set_session_cache_mode()
	 * and SSL_CTX_set_mode() are macros for these SSL_CTX_ctrl() calls. */
	if (!ssl_api->SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION,
	    TLS1_2_VERSION, NULL) ||
	    ssl_api->SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    ssl_api->SSL_CTX_use_PrivateKey_file(ctx, key,
	    SSL_FILETYPE_PEM) != 1 ||
	    ssl_api->SSL_CTX_check_private_key(ctx) != 1) {
		log_openssl("TLS certificate/key");
		ssl_api->SSL_CTX_free(ctx);
		return -1;
	}
	/* No renegotiation, no compression, one session per process. */
	ssl_api->SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	ssl_api->SSL_CTX_ctrl(ctx, SSL_CTRL_SET_SESS_CACHE_MODE,
	    SSL_SESS_CACHE_OFF, NULL);
	ssl_api->SSL_CTX_ctrl(ctx, SSL_CTRL_MODE,
	    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER,
	    NULL);
	tls_ctx = ctx;
	return 0;
}

int tls_cert_expiry(long long *secs_left_r, char *when, size_t size)
{
	const ASN1_TIME *end;
	struct tm tm;
	X509 *cert;
	int days, secs;

	if (!tls_ctx)
		return -1;
	cert = ssl_api->SSL_CTX_get0_certificate(tls_ctx);
	end = cert ? ssl_api->X509_get0_notAfter(cert) : NULL;
	/* NULL as the start: from now. */
	if (!end || !ssl_api->ASN1_TIME_diff(&days, &secs, NULL, end) ||
	    !ssl_api->ASN1_TIME_to_tm(end, &tm) ||
	    strftime(when, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
		log_openssl("certificate end of validity");
		return -1;
	}
	*secs_left_r = (long long)days * 86400 + secs;
	return 0;
}

int tls_available(void)
{
	return tls_ctx != NULL;
}

/* Puts the descriptors' flags back and frees the connection. */
static void conn_free(struct tls_conn *c)
{
	ssl_api->SSL_free(c->ssl);
	ssl_api->ERR_clear_error();
	/* Failing here leaves a non-blocking socket that only this
	 * process, now done with it, still uses: worth a line, no more. */
	if (fcntl(c->in_fd, F_SETFL, c->fl_in) < 0 ||
	    fcntl(c->out_fd, F_SETFL, c->fl_out) < 0)
		log_msg(LOG_WARNING, "cannot restore the socket's flags: %s",
		    strerror(errno));
	explicit_bzero(c, sizeof(*c));
	free(c);
}

/*
 * One SSL_read() (rbuf) or SSL_write() (wbuf) of up to len bytes, waiting
 * for the socket as OpenSSL asks until the deadline (NULL: no waiting).
 * Returns bytes, 0 (end of stream, reads only), -1, or TLS_AGAIN.
 */
static int conn_io(struct tls_conn *c, void *rbuf, const void *wbuf,
    size_t len, const struct timespec *deadline)
{
	int n = len > INT_MAX ? INT_MAX : (int)len;

	for (;;) {
		int r, fd;

		/* SSL_get_error() reads the error queue: it must hold
		 * nothing older than this call. */
		ssl_api->ERR_clear_error();
		r = rbuf ? ssl_api->SSL_read(c->ssl, rbuf, n) :
		    ssl_api->SSL_write(c->ssl, wbuf, n);
		if (r > 0)
			return r;
		switch (ssl_api->SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			c->wants = POLLIN;
			fd = c->in_fd;
			break;
		case SSL_ERROR_WANT_WRITE:
			c->wants = POLLOUT;
			fd = c->out_fd;
			break;
		case SSL_ERROR_ZERO_RETURN:
		case SSL_ERROR_SYSCALL:
			/* A clean close_notify or a dropped connection:
			 * both end the stream like EOF. */
			ssl_api->ERR_clear_error();
			return rbuf ? 0 : -1;
		case SSL_ERROR_SSL:
			if (rbuf && unexpected_eof()) {
				ssl_api->ERR_clear_error();
				return 0;
			}
			/* A bad record: the client's fault, said by
			 * OpenSSL; errno tells nothing here. */
			log_openssl_at(LOG_NOTICE, "TLS");
			errno = EPROTO;
			return -1;
		default:
			ssl_api->ERR_clear_error();
			errno = EPROTO;
			return -1;
		}
		if (!deadline)
			return TLS_AGAIN;
		r = io_wait_fd(fd, c->wants, deadline);
		if (r == 0)
			return TLS_AGAIN;
		if (r < 0)
			return -1;
	}
}

void *tls_accept(int in_fd, int out_fd, int timeout)
{
	struct timespec deadline;
	struct tls_conn *c;
	int r;

	if (!tls_ctx)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_msg(LOG_ERR, "out of memory");
		return NULL;
	}
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	c->ssl = ssl_api->SSL_new(tls_ctx);
	if (!c->ssl || !ssl_api->SSL_set_rfd(c->ssl, in_fd) ||
	    !ssl_api->SSL_set_wfd(c->ssl, out_fd)) {
		log_openssl("SSL_new");
		ssl_api->SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	/* Non-blocking from now to tls_close(), so that every wait is one
	 * of ours, with a deadline (see the top). */
	c->fl_in = fcntl(in_fd, F_GETFL);
	c->fl_out = fcntl(out_fd, F_GETFL);
	if (c->fl_in < 0 || c->fl_out < 0 ||
	    fcntl(in_fd, F_SETFL, c->fl_in | O_NONBLOCK) < 0 ||
	    fcntl(out_fd, F_SETFL, c->fl_out | O_NONBLOCK) < 0) {
		log_msg(LOG_ERR, "TLS: cannot make the socket non-blocking: "
		    "%s", strerror(errno));
		ssl_api->SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout;
	for (;;) {
		r = ssl_api->SSL_accept(c->ssl);
		if (r == 1)
			break;
		switch (ssl_api->SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			if (io_wait_fd(in_fd, POLLIN, &deadline) > 0)
				continue;
			handshake_failed("timed out");
			goto fail;
		case SSL_ERROR_WANT_WRITE:
			if (io_wait_fd(out_fd, POLLOUT, &deadline) > 0)
				continue;
			handshake_failed("timed out");
			goto fail;
		default:
			handshake_failed(NULL);
			goto fail;
		}
	}
	/* RFC 8314 section 4.1: the version and cipher, in the logs. */
	log_msg(LOG_INFO, "TLS: %s %s", ssl_api->SSL_get_version(c->ssl),
	    ssl_api->SSL_CIPHER_get_name(
	    ssl_api->SSL_get_current_cipher(c->ssl)));
	return c;
fail:
	conn_free(c);
	return NULL;
}

int tls_version(const void *tls)
{
	const struct tls_conn *c = tls;
	const char *v;

	if (!c)
		return TLSV_NONE;
	v = ssl_api->SSL_get_version(c->ssl);
	/* tls_setup() allows nothing older than TLS 1.2. */
	if (v && !strcmp(v, "TLSv1.3"))
		return TLSV_1_3;
	if (v && !strcmp(v, "TLSv1.2"))
		return TLSV_1_2;
	return TLSV_OTHER;
}

void tls_close(void *tls)
{
	struct tls_conn *c = tls;

	if (!c)
		return;
	/* RFC 8314 section 3.4: close_notify before closing.  One try on
	 * the non-blocking socket: a client that does not read it is not
	 * waited for. */
	ssl_api->ERR_clear_error();
	(void)ssl_api->SSL_shutdown(c->ssl);
	conn_free(c);
}

int tls_read(void *tls, void *buf, size_t len,
    const struct timespec *deadline)
{
	return conn_io(tls, buf, NULL, len, deadline);
}

int tls_write(void *tls, const void *buf, size_t len,
    const struct timespec *deadline)
{
	return conn_io(tls, NULL, buf, len, deadline);
}

short tls_wants(const void *tls)
{
	return ((const struct tls_conn *)tls)->wants;
}

int tls_pending(void *tls)
{
	return ssl_api->SSL_pending(((struct tls_conn *)tls)->ssl) > 0;
}

int tls_in_fd(const void *tls)
{
	return ((const struct tls_conn *)tls)->in_fd;
}

int tls_out_fd(const void *tls)
{
	return ((const struct tls_conn *)tls)->out_fd;
}

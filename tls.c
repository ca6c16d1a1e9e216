/*
 * tls.c - TLS with OpenSSL 3: the server context (certificate, key,
 * protocol floor) and the handshake on the client connection.
 *
 * The context is made by the process that starts as root, before any
 * fork or privilege drop, because the key file is readable by root only.
 * The handshake and all record I/O happen in the process that talks to
 * the client; netio.c calls SSL_read/SSL_write through the SSL object.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proto.h"

static SSL_CTX *tls_ctx;

/* Logs OpenSSL's error queue (one line per entry) and clears it. */
static void log_openssl(const char *what)
{
	unsigned long e;
	char buf[256];
	int any = 0;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_msg(LOG_ERR, "%s: %s", what, buf);
		any = 1;
	}
	if (!any)
		log_msg(LOG_ERR, "%s failed", what);
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

	if (key_file_ok(key) < 0)
		return -1;
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		log_openssl("SSL_CTX_new");
		return -1;
	}
	/* RFC 8314 section 4.1: TLS 1.2 or later.  Cipher suites come from
	 * the system's OpenSSL policy (/etc/ssl/openssl.cnf). */
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		log_openssl("TLS certificate/key");
		SSL_CTX_free(ctx);
		return -1;
	}
	/* No renegotiation, no compression, one session per process. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	tls_ctx = ctx;
	return 0;
}

int tls_available(void)
{
	return tls_ctx != NULL;
}

/* Waits until fd is ready for the direction OpenSSL asked for. */
static int wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	struct timespec now;
	long ms;
	int r;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (deadline->tv_sec - now.tv_sec) * 1000L +
		    (deadline->tv_nsec - now.tv_nsec) / 1000000L;
		if (ms <= 0)
			return 0;
		r = poll(&pfd, 1, ms > 60000 ? 60000 : (int)ms);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

void *tls_accept(int in_fd, int out_fd, int timeout)
{
	struct timespec deadline;
	SSL *ssl;
	int r, fl_in, fl_out;

	if (!tls_ctx)
		return NULL;
	ssl = SSL_new(tls_ctx);
	if (!ssl || !SSL_set_rfd(ssl, in_fd) || !SSL_set_wfd(ssl, out_fd)) {
		log_openssl("SSL_new");
		SSL_free(ssl);
		return NULL;
	}
	/* Non-blocking during the handshake, so a silent client meets the
	 * idle timeout instead of holding the process forever. */
	fl_in = fcntl(in_fd, F_GETFL);
	fl_out = fcntl(out_fd, F_GETFL);
	if (fl_in < 0 || fl_out < 0 ||
	    fcntl(in_fd, F_SETFL, fl_in | O_NONBLOCK) < 0 ||
	    fcntl(out_fd, F_SETFL, fl_out | O_NONBLOCK) < 0) {
		SSL_free(ssl);
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout;
	for (;;) {
		r = SSL_accept(ssl);
		if (r == 1)
			break;
		switch (SSL_get_error(ssl, r)) {
		case SSL_ERROR_WANT_READ:
			if (wait_fd(in_fd, POLLIN, &deadline) > 0)
				continue;
			log_msg(LOG_NOTICE, "TLS handshake timed out");
			goto fail;
		case SSL_ERROR_WANT_WRITE:
			if (wait_fd(out_fd, POLLOUT, &deadline) > 0)
				continue;
			log_msg(LOG_NOTICE, "TLS handshake timed out");
			goto fail;
		default:
			log_openssl("TLS handshake");
			goto fail;
		}
	}
	fcntl(in_fd, F_SETFL, fl_in);
	fcntl(out_fd, F_SETFL, fl_out);
	/* RFC 8314 section 4.1: the version and cipher, in the logs. */
	log_msg(LOG_INFO, "TLS: %s %s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl));
	return ssl;
fail:
	ERR_clear_error();
	fcntl(in_fd, F_SETFL, fl_in);
	fcntl(out_fd, F_SETFL, fl_out);
	SSL_free(ssl);
	return NULL;
}

void tls_close(void *ssl)
{
	if (!ssl)
		return;
	/* RFC 8314 section 3.4: close_notify before closing. */
	(void)SSL_shutdown(ssl);
	SSL_free(ssl);
	ERR_clear_error();
}

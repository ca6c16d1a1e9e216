/*
 * logout.c - the one line that ends every session, whatever ended it:
 * who logged in and how, over which TLS version, what was retrieved and
 * removed, how long it took and why it ended.  A fixed set of key=value
 * fields, always in the same order, so that log tools can split it
 * without knowing which kind of end they look at (pop3d(8), LOGGING).
 *
 * Runs wherever the session ends: in the session process, or in root
 * mode in the privileged parent for the end of a pre-login process
 * (privsep.c), which then reports only what that process told it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "proto.h"

static const char *const end_names[SEND_COUNT] = {
	[SEND_QUIT] = "quit",
	[SEND_EOF] = "eof",
	[SEND_TIMEOUT] = "timeout",
	[SEND_ERROR] = "error",
	[SEND_SIGNAL] = "signal",
	[SEND_LIMIT] = "limit",
	[SEND_BADCMD] = "badcmd",
	[SEND_TLS] = "tls",
	[SEND_STALLED] = "stalled",
	[SEND_FLOOD] = "flood",
	[SEND_CHANGED] = "changed",
	[SEND_LOST] = "lost",
	[SEND_PROXY] = "proxy",
};

static const char *const tls_names[TLSV_COUNT] = {
	[TLSV_NONE] = "none",
	[TLSV_1_2] = "TLSv1.2",
	[TLSV_1_3] = "TLSv1.3",
	[TLSV_OTHER] = "other",
};

static struct timespec started;

void logout_start(void)
{
	clock_gettime(CLOCK_MONOTONIC, &started);
}

unsigned long long logout_elapsed_ms(void)
{
	struct timespec now;
	long long ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = ((long long)now.tv_sec - started.tv_sec) * 1000000000LL +
	    (now.tv_nsec - started.tv_nsec);
	return ns > 0 ? (unsigned long long)ns / 1000000ULL : 0;
}

/* The values come from our own code or, in root mode, from the channel:
 * an index out of range must not read outside the tables. */
const char *logout_end_name(int end)
{
	return end >= 0 && end < SEND_COUNT && end_names[end] ?
	    end_names[end] : "unknown";
}

const char *logout_tls_name(int tls)
{
	return tls >= 0 && tls < TLSV_COUNT ? tls_names[tls] : "unknown";
}

static const char *auth_name(const struct session_stats *st)
{
	if (!st->user)
		return "none";
	switch (st->auth) {
	case CRED_PASS:
		return "pass";
	case CRED_APOP:
		return "apop";
	case CRED_PLAIN:
		return "plain";
	case CRED_LOGIN:
		return "login";
	case CRED_CRAM:
		return "cram-md5";
	default:
		return "unknown";
	}
}

int logout_format(char *buf, size_t size, const struct session_stats *st,
    unsigned long long ms)
{
	char name[MAX_USER_NAME + 4];
	int n;

	if (size == 0)
		return -1;
	/* Account names are the back end's, but escaped all the same: a
	 * checkpassword program's USER is its word, not ours. */
	if (st->user)
		log_escape(name, sizeof(name), st->user, strlen(st->user));
	else
		snprintf(name, sizeof(name), "none");
	n = snprintf(buf, size, "logout: user=%s auth=%s tls=%s "
	    "retr=%lu/%" PRIu64 " top=%lu/%" PRIu64 " dele=%lu/%" PRIu64
	    " left=%zu time=%llu.%03llus end=%s", name, auth_name(st),
	    logout_tls_name(st->tls), st->retr_n, st->retr_bytes, st->top_n,
	    st->top_bytes, st->dele_n, st->dele_bytes, st->left,
	    ms / 1000ULL, ms % 1000ULL, logout_end_name(st->end));
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

void logout_log(const struct session_stats *st)
{
	char line[512];

	/* Longer than any line the fields can make (MAX_USER_NAME is
	 * far below it): a failure here is a bug, but the line still
	 * goes out, cut. */
	(void)logout_format(line, sizeof(line), st, logout_elapsed_ms());
	log_msg(st->end == SEND_QUIT ? LOG_INFO : LOG_NOTICE, "%s", line);
}

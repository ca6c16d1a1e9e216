/*
 * passdb_checkpassword.c - the checkpassword back end.
 * Not built yet: every login is a temporary failure.
 */
#include <syslog.h>

#include "proto.h"

static int cp_verify(const struct config *cfg,
    const struct passdb_request *rq, struct pw_entry *e_r, void *work,
    const char **why_r)
{
	(void)cfg; (void)rq; (void)e_r; (void)work; (void)why_r;
	log_msg(LOG_ERR, "--auth checkpassword is not built yet");
	return PASSDB_TEMP;
}

static long long cp_even_out(const struct config *cfg,
    const struct passdb_request *rq, void *work, long long verify_ns)
{
	(void)cfg;
	(void)work;
	return passdb_even_out_default(rq, verify_ns);
}

const struct passdb passdb_checkpassword = {
	.name = "checkpassword",
	.verify = cp_verify,
	.even_out = cp_even_out,
	.can_lookup = 0,
	.work_size = 0,
};

/*
 * maildrop.c - the maildrop interface: which back end a template names,
 * and what is the same for every back end (the DELE marks, the counts
 * that STAT, LIST and the logout line show).
 *
 * session.c talks to a maildrop through these calls only; the formats
 * live behind struct maildrop_ops (maildrop_mbox.c, maildrop_maildir.c).
 * Runs with the user's ids, like everything that touches mail.
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "proto.h"

/* The back ends a template may name by prefix, and the default one (no
 * prefix: a plain path is an mbox, as it always was). */
static const struct maildrop_ops *const prefixed[] = {
	&maildrop_maildir,
	&maildrop_mbox,
};

const struct maildrop_ops *maildrop_select(const char *template,
    const char **path_r)
{
	size_t i;

	for (i = 0; i < sizeof(prefixed) / sizeof(prefixed[0]); i++) {
		size_t len = strlen(prefixed[i]->prefix);

		if (!strncmp(template, prefixed[i]->prefix, len)) {
			*path_r = template + len;
			return prefixed[i];
		}
	}
	*path_r = template;
	return &maildrop_mbox;
}

int maildrop_open(struct maildrop *md, const struct maildrop_ops *ops,
    const char *path, uid_t owner, const char *cache, unsigned workarounds)
{
	size_t i, count = 0;
	int r;

	memset(md, 0, sizeof(*md));
	r = ops->open(&md->be, path, owner, cache, workarounds, &count);
	if (r != MD_OK)
		return r;
	md->ops = ops;
	md->count = count;
	/* One mark a message: calloc's multiplication is checked. */
	md->deleted = calloc(count ? count : 1, 1);
	if (!md->deleted) {
		log_msg(LOG_ERR, "out of memory for %zu messages", count);
		maildrop_close(md);
		return MD_ERROR;
	}
	md->live_count = count;
	for (i = 0; i < count; i++)
		md->live_size += ops->size(md->be, i);
	return MD_OK;
}

uint64_t maildrop_size(const struct maildrop *md, size_t n)
{
	return md->ops->size(md->be, n);
}

void maildrop_uid(const struct maildrop *md, size_t n, char *buf)
{
	md->ops->uid(md->be, n, buf);
}

int maildrop_is_deleted(const struct maildrop *md, size_t n)
{
	return md->deleted[n];
}

void maildrop_mark(struct maildrop *md, size_t n)
{
	/* O(1): a client may DELE every one of 100,000 messages. */
	if (!md->deleted[n]) {
		md->deleted[n] = 1;
		md->live_count--;
		md->live_size -= maildrop_size(md, n);
	}
}

void maildrop_unmark_all(struct maildrop *md)
{
	size_t i;

	memset(md->deleted, 0, md->count);
	md->live_count = md->count;
	md->live_size = 0;
	for (i = 0; i < md->count; i++)
		md->live_size += maildrop_size(md, i);
}

uint64_t maildrop_deleted_size(const struct maildrop *md)
{
	uint64_t bytes = 0;
	size_t i;

	for (i = 0; i < md->count; i++)
		if (md->deleted[i])
			bytes += maildrop_size(md, i);
	return bytes;
}

int maildrop_check(struct maildrop *md, size_t n)
{
	uint64_t before = maildrop_size(md, n);
	int r = md->ops->check(md->be, n);

	/* A back end may learn a message's exact size only now (a Maildir
	 * name's W= field, verified against the file): the counts follow.
	 * Only a live message is sent, so it is in live_size. */
	md->live_size = md->live_size - before + maildrop_size(md, n);
	return r;
}

int maildrop_send(struct maildrop *md, size_t n, long lines,
    struct netio *io)
{
	return md->ops->send(md->be, n, lines, io);
}

int maildrop_update(struct maildrop *md)
{
	if (md->live_count == md->count)
		return MD_OK;	/* nothing deleted: never write */
	return md->ops->update(md->be, md->deleted);
}

void maildrop_close(struct maildrop *md)
{
	if (md->ops)
		md->ops->close(md->be);
	free(md->deleted);
	memset(md, 0, sizeof(*md));
}

/*
 * maildrop_mbox.c - the mbox back end of the maildrop interface: a thin
 * adapter over mailbox.c (scanning, streaming, UPDATE), which with
 * lock.c, journal.c, idxcache.c and spool.c does the work.  Nothing here
 * changes what they do; it only gives them the interface's shape.
 */
#include <stdlib.h>
#include <syslog.h>

#include "proto.h"

static int mbox_be_open(void **be_r, const char *path, uid_t owner,
    const char *cache, unsigned workarounds, size_t *count_r)
{
	struct mailbox *mb = calloc(1, sizeof(*mb));
	int r;

	*be_r = NULL;
	if (!mb) {
		log_msg(LOG_ERR, "out of memory");
		return MD_ERROR;
	}
	r = mbox_open_cached(mb, path, owner, cache);
	if (r != MBOX_OK) {
		/* mbox_open_cached() closed what it had opened. */
		mbox_close(mb);
		free(mb);
		return r;
	}
	mb->workarounds = workarounds;
	*be_r = mb;
	*count_r = mb->idx.count;
	return MD_OK;
}

/* The index (and its cache, idxcache.c) holds the size without any
 * workaround and whether the header ends: the same whatever the setting,
 * so a cache written under one setting serves another. */
static uint64_t mbox_be_size(void *be, size_t n)
{
	const struct mailbox *mb = be;
	const struct message *m = &mb->idx.msgs[n];

	return m->size + ((mb->workarounds & WA_OE_NS_EOH) &&
	    (m->flags & MSG_NO_EOH) ? 2 : 0);
}

static void mbox_be_uid(void *be, size_t n, char *buf)
{
	const struct mailbox *mb = be;

	mbox_index_uid(&mb->idx, n, buf);
}

static int mbox_be_check(void *be, size_t n)
{
	return mbox_check_message(be, n);
}

static int mbox_be_send(void *be, size_t n, long lines, struct netio *io)
{
	return mbox_send(be, n, lines, io);
}

static int mbox_be_update(void *be, const unsigned char *deleted)
{
	struct mailbox *mb = be;
	size_t i;

	/* The marks are the interface's (maildrop.c); mailbox.c reads its
	 * own flags. */
	for (i = 0; i < mb->idx.count; i++)
		if (deleted[i])
			mbox_mark_deleted(mb, i);
	return mbox_update(mb);
}

static void mbox_be_close(void *be)
{
	if (be) {
		mbox_close(be);
		free(be);
	}
}

const struct maildrop_ops maildrop_mbox = {
	.name = "mbox",
	.prefix = "mbox:",
	.in_spool = 1,
	.open = mbox_be_open,
	.size = mbox_be_size,
	.uid = mbox_be_uid,
	.check = mbox_be_check,
	.send = mbox_be_send,
	.update = mbox_be_update,
	.close = mbox_be_close,
};

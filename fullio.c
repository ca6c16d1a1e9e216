/*
 * fullio.c - reads and writes of an exact length (the loops around
 * read(2)/write(2) and pread(2)/pwrite(2): short transfers, EINTR), for
 * the privilege-separation channel, the journal and the index cache; the
 * directory part of a path; the little-endian fields of the on-disk
 * formats; and the replacing of a cache file whole.  (The directory fsync that makes a name durable is an fsync(2)
 * of the spool directory's descriptor: spool.c.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "proto.h"

/* The one loop: reads into rbuf or writes wbuf (the other is NULL), at
 * off when positioned, else at the file position. */
static int transfer(int fd, void *rbuf, const void *wbuf, size_t len,
    int positioned, uint64_t off)
{
	unsigned char *r = rbuf;
	const unsigned char *w = wbuf;

	while (len > 0) {
		ssize_t n;

		if (r)
			n = positioned ? pread(fd, r, len, (off_t)off) :
			    read(fd, r, len);
		else
			n = positioned ? pwrite(fd, w, len, (off_t)off) :
			    write(fd, w, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* end of file first */
			return -1;
		}
		if (r)
			r += n;
		else
			w += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int read_full(int fd, void *buf, size_t len)
{
	return transfer(fd, buf, NULL, len, 0, 0);
}

int write_full(int fd, const void *buf, size_t len)
{
	return transfer(fd, NULL, buf, len, 0, 0);
}

int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	return transfer(fd, buf, NULL, len, 1, off);
}

int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	return transfer(fd, NULL, buf, len, 1, off);
}

int path_dir(char *buf, size_t size, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t len;

	if (!slash) {
		if (size < 2)
			return -1;
		strcpy(buf, ".");	/* NOLINT(*.strcpy) */
		return 0;
	}
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= size)
		return -1;
	memcpy(buf, path, len);
	buf[len] = '\0';
	return 0;
}

void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int replace_open(const char *file, char *tmp, size_t tmpsize,
    const char *what)
{
	int fd;

	if ((size_t)snprintf(tmp, tmpsize, "%s.%ld.tmp", file,
	    (long)getpid()) >= tmpsize)
		return -1;
	(void)unlink(tmp);	/* a crashed session's */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0)
		log_msg(LOG_DEBUG, "cannot write %s %s: %s", what, tmp,
		    strerror(errno));
	return fd;
}

int replace_commit(int fd, int ok, const char *tmp, const char *file,
    const char *what)
{
	/* No fsync: a cache torn by a crash fails its checksum. */
	if (close(fd) < 0 || !ok || rename(tmp, file) < 0) {
		log_msg(LOG_DEBUG, "cannot write %s %s: %s", what, file,
		    strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

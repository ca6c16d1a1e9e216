/*
 * config.c - reads pop3d's configuration file (/etc/pop3d/pop3d.conf):
 * "name = value" lines, whole-line "#" comments, blank lines.  It knows
 * nothing of the names; options.c gives every line to the same setter the
 * command line uses.
 *
 * The file decides who logs in and which files are served, so it is
 * opened through trust_open() like the password file: nobody but root
 * (pipe mode: or the running account) can have written it or replaced
 * it.  Its size and its lines are bounded, and a byte that cannot be in
 * a setting (NUL, a control character) is refused with the line, never
 * skipped: a setting that is silently not what the file seems to say is
 * the mistake this file must not allow.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trims blanks at both ends of [*s, *e). */
static void trim(char **s, char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

int config_parse(char *buf, size_t len, config_line_fn *fn, void *ctx,
    unsigned *line_r, char *why, size_t size)
{
	char *p = buf, *end = buf + len;
	unsigned line = 0;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *le = nl ? nl : end, *name, *name_end, *eq, *val, *q;

		*line_r = ++line;
		if (le > p && le[-1] == '\r')
			le--;	/* a file edited on Windows: CRLF */
		if ((size_t)(le - p) > MAX_CONFIG_LINE) {
			snprintf(why, size, "line longer than %d bytes",
			    MAX_CONFIG_LINE);
			return -1;
		}
		/* DEL (0x7f) too: an editor shows it no more than the
		 * others.  Tabs are blanks; 8-bit bytes are text (UTF-8
		 * file names). */
		for (q = p; q < le; q++)
			if (((unsigned char)*q < 0x20 && *q != '\t') ||
			    *q == 0x7f) {
				snprintf(why, size, "control character 0x%02x "
				    "in the line", (unsigned char)*q);
				return -1;
			}
		name = p;
		name_end = le;
		trim(&name, &name_end);
		p = nl ? nl + 1 : end;
		if (name == name_end || *name == '#')
			continue;
		eq = memchr(name, '=', (size_t)(name_end - name));
		if (!eq) {
			snprintf(why, size, "expected 'name = value'");
			return -1;
		}
		val = eq + 1;
		q = name_end;
		trim(&val, &q);
		name_end = eq;
		trim(&name, &name_end);
		if (name == name_end) {
			snprintf(why, size, "no name before '='");
			return -1;
		}
		/* "timeout = 60  # one minute" would make a path setting
		 * end in a comment: comments take whole lines only.  A '#'
		 * that starts the value follows the blanks trimmed after
		 * the '=': "apop = # none" is a comment too, not a file
		 * named "# none". */
		for (char *h = val; h < q; h++)
			if (*h == '#' && (h == val || is_blank(h[-1]))) {
				snprintf(why, size, "a comment after a value "
				    "(comments take whole lines, starting "
				    "with #)");
				return -1;
			}
		*name_end = '\0';
		*q = '\0';
		if (fn(ctx, name, val, why, size) < 0)
			return -1;
	}
	return 0;
}

int config_read(const char *path, int must_exist, char **buf_r,
    size_t *len_r, char *why, size_t size)
{
	struct stat st;
	char *buf, *nul;
	size_t len = 0;
	int fd;

	*buf_r = NULL;
	*len_r = 0;
	/* Only a file that is not there at all may be absent: a directory
	 * on the way that cannot be read, or a dangling link, is no reason
	 * to serve without the settings it may hold. */
	if (!must_exist && lstat(path, &st) < 0 && errno == ENOENT)
		return 0;
	fd = trust_open(path, why, size);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		snprintf(why, size, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (st.st_size > (off_t)MAX_CONFIG_SIZE) {
		snprintf(why, size, "%s: larger than %d bytes", path,
		    MAX_CONFIG_SIZE);
		close(fd);
		return -1;
	}
	buf = malloc(MAX_CONFIG_SIZE + 1);
	if (!buf) {
		snprintf(why, size, "%s: out of memory", path);
		close(fd);
		return -1;
	}
	/* Read to the end, bounded: the file may grow after fstat. */
	for (;;) {
		ssize_t n = read(fd, buf + len, MAX_CONFIG_SIZE + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, size, "%s: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > (size_t)MAX_CONFIG_SIZE) {
			snprintf(why, size, "%s: larger than %d bytes", path,
			    MAX_CONFIG_SIZE);
			free(buf);
			close(fd);
			return -1;
		}
	}
	close(fd);
	nul = memchr(buf, '\0', len);
	if (nul) {
		/* Where it is: an editor may not show it at all. */
		unsigned line = 1;

		for (const char *c = buf; c < nul; c++)
			line += *c == '\n';
		snprintf(why, size, "%s:%u: a NUL byte (not a text file)",
		    path, line);
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	*buf_r = buf;
	*len_r = len;
	return 1;
}

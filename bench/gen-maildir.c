/*
 * bench/gen-maildir.c - splits an mbox made by bench/gen-mbox.c into a
 * Maildir, for bench/maildir.sh.
 *
 *   gen-maildir MBOX MAILDIR
 *
 * MAILDIR/{cur,new,tmp} are created; message i (from 0) of MBOX becomes
 * cur/T.MuPp.mx.example.org[,S=s,W=w]:2,FLAGS where T = 1700000000 + i
 * (ten digits: every server orders the files alike), u and p vary with i,
 * and the file holds the message without its From_ line and without the
 * empty separator line after it (gen-mbox writes no body line starting
 * with "From ", so the split is exact).  Odd i get ",S=<file size>,W=<size
 * with CRLF line ends>" as Dovecot's deliver writes them; even i get no
 * size in the name (as qmail, procmail or Courier's maildrop write them),
 * so a server must read the file to learn its POP3 size.  FLAGS is "S"
 * (seen), "FS" for every tenth: POP3 sessions retrieving them do not
 * rename them to add \Seen.  Prints "messages=N octets=O" (O: the sum of
 * the CRLF sizes, what STAT must say).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "gen-maildir: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: gen-maildir MBOX MAILDIR\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0)
		die(argv[1]);
	size_t len = (size_t)st.st_size;
	const char *m = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : "";
	if (m == MAP_FAILED)
		die("mmap");
	char path[4096];
	const char *sub[] = { "", "/cur", "/new", "/tmp" };
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s%s", argv[2], sub[i]);
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			die(path);
	}
	snprintf(path, sizeof path, "%s/cur", argv[2]);
	int cur = open(path, O_RDONLY | O_DIRECTORY);
	if (cur < 0)
		die("cur");
	unsigned long long n = 0, octets = 0;
	size_t p = 0;
	while (p < len) {
		if (len - p < 5 || memcmp(m + p, "From ", 5) != 0) {
			fprintf(stderr, "gen-maildir: no From_ line at offset %zu\n", p);
			return 1;
		}
		const char *nl = memchr(m + p, '\n', len - p);
		if (!nl)
			break;
		size_t start = (size_t)(nl - m) + 1, end = start;
		/* the next "\nFrom " or the end; the message ends before the
		   separator's "\n" */
		for (;;) {
			const char *q = memmem(m + end, len - end, "\nFrom ", 6);
			if (!q) { end = len; break; }
			end = (size_t)(q - m) + 1;
			break;
		}
		size_t next = end;
		if (end > start && m[end - 1] == '\n' && end - 1 > start && m[end - 2] == '\n')
			end--;	/* the empty separator line */
		size_t size = end - start, lines = 0;
		for (const char *c = m + start; (c = memchr(c, '\n', (size_t)(m + end - c))); c++)
			lines++;
		char name[256];
		int k = snprintf(name, sizeof name, "%llu.M%lluP%llu.mx.example.org",
				 1700000000ULL + n, (n * 7919) % 1000000, 1000 + (n * 31) % 30000);
		if (n % 2)
			k += snprintf(name + k, sizeof name - k, ",S=%zu,W=%zu", size, size + lines);
		snprintf(name + k, sizeof name - k, ":2,%s", n % 10 == 3 ? "FS" : "S");
		int out = openat(cur, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (out < 0)
			die(name);
		for (size_t off = start; off < end;) {
			ssize_t w = write(out, m + off, end - off);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				die(name);
			}
			off += (size_t)w;
		}
		if (close(out) != 0)
			die(name);
		octets += size + lines;
		n++;
		p = next;
	}
	printf("messages=%llu octets=%llu\n", n, octets);
	return 0;
}

/*
 * bench/lsstat.c - the floor of bench/maildir.sh: lists each directory
 * given (a Maildir's cur/, new/) and stats every file in it, as a Maildir
 * server must at least do to answer STAT when the sizes are in the names.
 *
 *   lsstat [-w] DIR...
 *
 * opendir/readdir, then fstatat(dirfd, name) for every entry not starting
 * with "."; prints "files=N bytes=B" (B: the sum of st_size).  -w: also
 * reads every file whose name has no ",W=" and counts its lines, the
 * least a server does to learn the POP3 size of such a file; prints
 * "read=R lines=L" too.  Exits 1 when a directory or file cannot be read.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned long long files = 0, bytes = 0, nread = 0, lines = 0;
	int rd = 0, i = 1;
	static char buf[1 << 16];
	if (argc > 1 && strcmp(argv[1], "-w") == 0) {
		rd = 1;
		i++;
	}
	for (; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (!d) {
			perror(argv[i]);
			return 1;
		}
		int fd = dirfd(d);
		struct dirent *e;
		while ((e = readdir(d))) {
			struct stat st;
			if (e->d_name[0] == '.')
				continue;
			if (fstatat(fd, e->d_name, &st, 0) != 0) {
				perror(e->d_name);
				return 1;
			}
			files++;
			bytes += (unsigned long long)st.st_size;
			if (rd && !strstr(e->d_name, ",W=")) {
				int f = openat(fd, e->d_name, O_RDONLY);
				ssize_t n;
				if (f < 0) {
					perror(e->d_name);
					return 1;
				}
				while ((n = read(f, buf, sizeof buf)) > 0)
					for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))); p++)
						lines++;
				close(f);
				nread++;
			}
		}
		closedir(d);
	}
	if (rd)
		printf("files=%llu bytes=%llu read=%llu lines=%llu\n", files, bytes, nread, lines);
	else
		printf("files=%llu bytes=%llu\n", files, bytes);
	return 0;
}

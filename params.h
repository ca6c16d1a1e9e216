/*
 * params.h - every limit, default path and timeout of pop3d, with the
 * reason for its value.  Nothing else in the tree should carry a magic
 * number that a reader might want to tune.
 */
#ifndef POP3D_PARAMS_H
#define POP3D_PARAMS_H

#define POP3D_VERSION "0.1.0"

/* Defaults for the command line (SPEC section 2). */
/* The configuration file, read when present (options.c); --config or the
 * environment variable POP3D_CONFIG names another. */
#define DEFAULT_CONFIG_FILE "/etc/pop3d/pop3d.conf"
/* Its bounds: far above any real file (every setting, commented, is
 * under 8 KiB: 256 KiB), and a line holds a path of MAX_PATH_LEN. */
#define MAX_CONFIG_SIZE 262144
#define MAX_CONFIG_LINE 4352
/* PROXY protocol headers (proxy.c): version 1's limit is the
 * specification's (107 bytes with CRLF); version 2 has none of its own
 * beyond 16 + 65535, so ours is what HAProxy sends with every TLV it
 * knows (addresses, ALPN, authority, unique ID up to 128, the TLS
 * details) with room to spare. */
/* --proxy-from: networks in the list (a site lists its balancers). */
#define MAX_PROXY_FROM 32
/* Seconds a trusted balancer has to send its header: it sends it with
 * the connection, so this only bounds a broken or hostile one. */
#define PROXY_HEADER_TIMEOUT 5
#define PROXY_V1_MAX 107
#define PROXY_V2_MAX 2048
#define DEFAULT_PASSWD_FILE "/etc/pop3d/passwd"
#define DEFAULT_MAILBOX_TEMPLATE "/var/mail/%u"
/* Debian's spool /var/mail is root:mail 2775: lock files need "mail". */
#define DEFAULT_MAIL_GROUP "mail"
/* RFC 1939 section 3: an autologout timer must be at least 10 minutes. */
#define DEFAULT_TIMEOUT 600
/* Upper bound for -t: a day; longer is a configuration mistake. */
#define MAX_TIMEOUT 86400
/*
 * Every wait is bounded (README, "Every wait is bounded").  A process
 * that waits for another process which itself waits for the client (the
 * privsep parent for the pre-login process, the TLS relay for the
 * parent) waits this much longer than the idle timeout, so the one that
 * faces the client runs into its deadline first and logs why.
 */
#define PRIVSEP_GRACE 2
/* Reaping a child: first nap between waitpid(WNOHANG) looks, doubled up
 * to the second value (1 ms, 64 ms). */
#define REAP_FIRST_NAP_NS 1000000L
#define REAP_MAX_NAP_NS 64000000L
/* A child killed at its deadline: how many processes of what it started
 * are looked for (pam_exec's program, a shell's pipeline: a handful). */
#define REAP_MAX_PROCS 64
/*
 * TCP (pop3d.c): keepalive probes after this many idle seconds, this many
 * seconds apart, this many unanswered before the peer counts as gone; and
 * TCP_USER_TIMEOUT, how long sent data may stay unacknowledged, is the
 * idle timeout plus PRIVSEP_GRACE, so pop3d's own deadline (which logs
 * why) comes first, while the kernel's bounds what pop3d no longer sees:
 * bytes still queued in the socket after the session ended.
 */
#define TCP_KEEPALIVE_IDLE 60
#define TCP_KEEPALIVE_INTERVAL 10
#define TCP_KEEPALIVE_COUNT 6

/*
 * RFC 2449 section 4: a command line is at most 255 octets including the
 * CRLF.  We accept exactly that and no more.
 */
#define MAX_COMMAND_LINE 255
/* RFC 2449 section 4: a response line is at most 512 octets with CRLF. */
#define MAX_RESPONSE_LINE 512
/* RFC 1939 allows 40 characters an argument; user names stay far below. */
#define MAX_USER_NAME 64
/* What is kept of a USER argument: longer than any valid name, so an
 * overlong one still shows as such (truncated with "...") in the logs. */
#define MAX_USER_ARG (2UL * MAX_USER_NAME)
/* Room for a long passphrase, still bounded by the command line. */
#define MAX_PASSWORD (MAX_COMMAND_LINE)
/* An AUTH PLAIN response line: base64 of 3 fields of 255 octets, with
 * room to spare (RFC 5034 section 4 lets it exceed the command limit). */
#define MAX_SASL_LINE 2048
/* Bad commands in a row before we decide the peer is not a POP3 client. */
#define MAX_BAD_COMMANDS 10
/* Failed logins in one session; then the connection is closed. */
/* --auth pam: the PAM service name by default (/etc/pam.d/pop3d). */
#define DEFAULT_PAM_SERVICE "pop3d"

/* The hashes pam_unix computes for a wrong password of an account: two
 * with Debian 12's Linux-PAM 1.5.2 (strace shows two 16 MiB yescrypt
 * allocations in pam_authenticate()), none for an unknown user.  A PAM
 * failure does that many checks of auth_dummy_hash, so that an unknown
 * user's answer is not one hash sooner (tests/e2e/timing-auth.sh). */
#define PAM_UNIX_WRONG_HASHES 2

/* --first-uid: Debian's first uid of a normal account (adduser.conf's
 * FIRST_UID); system accounts below it are never served. */
#define DEFAULT_FIRST_UID 1000

/* The longest a back end may take to verify one login (PAM modules asking
 * a directory, a checkpassword program): then it is killed and the client
 * told [SYS/TEMP].  Far above a real check, far below the idle timeout. */
#define PASSDB_TIMEOUT 15

/* The most a checkpassword reply may say (USER=, HOME=). */
#define MAX_CHECKPASSWORD_REPLY 4096
/* The checkpassword interface: at most 512 bytes on descriptor 3
 * (cr.yp.to/checkpwd/interface.html); programs may read no more. */
#define MAX_CHECKPASSWORD_INPUT 512
/* The only search path a checkpassword program gets: the system's own
 * directories, none an administrator's or a user's. */
#define CHECKPASSWORD_PATH "/usr/bin:/bin"

#define MAX_AUTH_FAILURES 3
/* Delay after the first failed login, in milliseconds; it doubles with
 * every further failure (slows online guessing), and stops doubling once
 * it reaches the second value.  The README states the first one. */
#define AUTH_FAIL_DELAY_MS 500
#define AUTH_FAIL_DELAY_MAX_MS 60000
/*
 * A failed login is answered at its request time + the delay + the cost
 * of the slowest hash in use (README, "Equal answers, equal time"), and
 * spends one hash of each distinct scheme and cost of the password file
 * to learn that cost.  This many are kept: eight yescrypt-class hashes
 * still fit in the first delay.  A file with more logs a warning.
 */
#define MAX_HASH_CLASSES 8
/* libxcrypt's CRYPT_OUTPUT_SIZE: no setting it accepts is longer, so a
 * hash cut to this length still costs what the whole one does. */
#define MAX_CRYPT_STRING 384
/* Input an unauthenticated client may send: ample for any real login,
 * including pipelined commands, and a bound on work for a stranger. */
#define MAX_PRELOGIN_INPUT 16384
/* Room for an APOP timestamp: <pid.random.time@host>. */
#define MAX_TIMESTAMP (MAX_HOSTNAME + 64)

/*
 * Privilege separation (root mode): the pre-login process runs as this
 * account, chrooted into this empty directory.  The directory is pop3d's
 * own (Debian has no /var/empty): make install and the Debian package
 * create it (Makefile PRIVSEP_DIR, which must equal this); the account is
 * created by the package or the administrator (see the README).  pop3d
 * refuses to run as root without them rather than parse untrusted input
 * as root.
 */
#define DEFAULT_PRIVSEP_USER "pop3d"
#define DEFAULT_PRIVSEP_DIR "/var/lib/pop3d/empty"

/* Buffered I/O.  Large output writes amortise system calls on RETR:
 * 256 KiB writes into a 1 MiB pipe took RETR of a 1 GB mbox from about
 * 1.3 s to about 1.0 s against 64 KiB into the default 64 KiB pipe. */
#define INPUT_BUFFER_SIZE 4096
#define OUTPUT_BUFFER_SIZE 262144
/* Asked for when the output is a pipe (F_SETPIPE_SZ; the default
 * /proc/sys/fs/pipe-max-size allows it without privileges). */
#define PIPE_BUFFER_SIZE (1024 * 1024)

/*
 * Mailbox scanning reads the file in large blocks: memchr over big blocks
 * is far cheaper than per-line reads.  A line longer than the block is
 * handled in fragments, so no line length limit is imposed on mail.
 */
#define MBOX_BLOCK_SIZE (1024UL * 1024)

/*
 * The largest Maildir UPDATE journal recovery reads into memory: a base
 * name is at most NAME_MAX (255) bytes and typically under 80, so 64 MiB
 * holds the deletions of far more than a million messages.  A larger
 * file is no journal of ours, and is not allocated for.
 */
#define MAILDIR_JOURNAL_MAX (64UL * 1024 * 1024)
/*
 * The largest courierpop3dsizelist (Courier's record of its POP3 ids,
 * read to show them) read into memory: a line is a file name of at most
 * NAME_MAX (255) bytes and under 70 more, typically under 130 in all, so
 * 8 MiB holds tens of thousands of messages.  A larger file is ignored
 * (logged): its messages get base-name ids, and nothing is allocated.
 */
#define COURIER_SIZELIST_MAX (8UL * 1024 * 1024)
/*
 * TOP reads its first block of a message this large, then doubles the
 * block: TOP n 0 of a 10 kB message needs its header, not all of it, and
 * copying whole messages out of the page cache made TOP of every message
 * cost twice the login scan.
 */
#define TOP_FIRST_BLOCK 4096UL
/* Bytes of a line we must see before classifying it (header names). */
#define MBOX_LINE_PEEK 64
/*
 * --uidl-format dovecot and x-uidl: the longest header line whose id is
 * read ("X-UIDL: " and RFC 1939's 70 characters, "X-IMAPbase: " and two
 * 10-digit numbers, with room for white space).  A longer X-UID: or
 * X-UIDL: line is malformed and ignored; of an X-IMAPbase: line (its
 * keyword list can be long) only this much is read, the numbers being
 * first.  The scan copies at most this many bytes of such a line.
 */
#define HDR_ID_LINE_MAX 256
/*
 * After mail arrived, RETR and TOP check that the indexed bytes are still
 * in place without reading them all (mailbox.c, layout_holds): this many
 * bytes before the end of the index are hashed (a rewrite that inserts or
 * removes bytes anywhere before moves them all; 64 KiB makes a
 * coincidental match of shifted text, which would need the tail to repeat
 * itself exactly, hopeless), and this many From_ lines probed.
 */
#define MBOX_TAIL_CHECK (64UL * 1024)
#define CHECK_PROBES 64
/* Enough for any mailbox a POP3 client will ever page through. */
#define MAX_MAILBOX_MESSAGES 10000000

/*
 * UPDATE moves the kept mail in place, with a checkpoint (two fsyncs)
 * whenever the copy catches up with mail that is not yet durably moved;
 * when a rewrite would need more than MIN + (bytes moved / BYTES) of
 * them, it journals the moved bytes instead (docs/update-journal.md).
 */
#define JOURNAL_CHECKPOINTS_MIN 16
#define JOURNAL_CHECKPOINT_BYTES (4UL * 1024 * 1024)
/*
 * What a journal checks before recovery applies it (journal.c): the unit
 * a power cut leaves whole (a disk sector; writes of the rewrite end on
 * its boundaries), and how much of the kept prefix before the rewrite
 * is compared.  Recovery neither reads nor writes the prefix, so a change
 * of its length shows anyway (every later byte moves); the tail catches a
 * replaced file whose later bytes happen to match, without reading a
 * gigabyte of kept mail at every QUIT.
 */
#define JOURNAL_SECTOR 512
#define JOURNAL_PREFIX_CHECK (64UL * 1024)

/* The index cache (idxcache.c): only an mbox unchanged for this long is
 * cached, and this many of its From_ lines are checked at load. */
#define CACHE_SETTLE_SECONDS 2
#define CACHE_PROBES 64
/* Of those messages, this many bytes' worth are scanned again and must
 * give the cached records: a small part of the scan the cache saves. */
#define CACHE_VERIFY_BYTES (4UL * 1024 * 1024)
/* Records read or written at a time (56 bytes each). */
#define CACHE_BLOCK_RECORDS 1024
/*
 * The Maildir cache (maildir_cache.c): at most this many messages (ten
 * times a 100,000-message Maildir, and a tenth of MAX_MAILBOX_MESSAGES:
 * a larger Maildir is scanned at every login), and a file no larger than
 * that many records of 44 bytes with names of 84 bytes on average (the
 * names Dovecot and Courier write are 40 to 80 bytes with their flags),
 * 128 MiB: what is read into memory at login is bounded by this, not by
 * what the user's file says.  A larger Maildir gets no cache (logged).
 */
#define MAILDIR_CACHE_MAX_MESSAGES 1000000
#define MAILDIR_CACHE_MAX (128UL * 1024 * 1024)

/* Password and secrets files: a line longer than this is malformed. */
#define MAX_PASSWD_LINE 4096
/* Paths built from the mailbox template. */
#define MAX_PATH_LEN 4096

/* Symbolic links followed on the way to a spool directory that needs the
 * mail group (spool.c; only root's): /var/mail -> spool/mail takes one. */
#define SPOOL_MAX_LINKS 8
/* Supplementary groups a session may have when it drops the mail group:
 * root mode leaves one (the user's gid), pipe mode whatever it was given. */
#define SPOOL_MAX_GROUPS 64

/* Dot-lock and fcntl lock waits (bounded, then [IN-USE]/[SYS/TEMP]). */
#define LOCK_WAIT_SECONDS 20
/* A dot-lock not touched for this long is stale (Postfix uses 500 s);
 * one dated this far in the future too (a clock error, not a holder). */
#define DOTLOCK_STALE_SECONDS 300
/* An empty or NUL-only dot-lock older than this is stale: what a power
 * cut leaves when the pid never reached the disk.  Writers that create
 * the file first and write the pid after do so within milliseconds. */
#define DOTLOCK_EMPTY_SECONDS 10
/* A dot-lock dated more than this in the future is not trusted to be
 * fresh (clocks of NFS clients and server differ by seconds, not more). */
#define DOTLOCK_FUTURE_SECONDS 60
/* The boot time is computed from two clocks read one after the other
 * (CLOCK_REALTIME - CLOCK_BOOTTIME), whole seconds: this much slack. */
#define DOTLOCK_BOOT_SLACK 2
/* A dot-lock's pid has at most this many digits (INT_MAX has 10). */
#define DOTLOCK_PID_DIGITS 10
/* The longest host name a dot-lock holds: Linux's HOST_NAME_MAX, the
 * most gethostname(2) returns (lock.c checks that they agree). */
#define DOTLOCK_HOST_MAX 64
/* A lock file this large or larger is not a dot-lock: never removed.
 * Ours, "PID HOSTNAME\n", is at most 10 + 1 + 64 + 1 = 76 bytes. */
#define DOTLOCK_MAX_SIZE 128

/* Greeting host name is truncated to keep the greeting under 512 bytes. */
#define MAX_HOSTNAME 200

#endif

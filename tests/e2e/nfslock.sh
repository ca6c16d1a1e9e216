#!/usr/bin/env bash
# tests/e2e/nfslock.sh - the session lock (one POP3 session per maildrop,
# lock.c lock_session()) on a file system that is not local.  There is no
# NFS here: tests/fsshim.c, preloaded, makes fstatfs(2) report
# NFS_SUPER_MAGIC for files under $NFS, a directory of the local disk, so
# pop3d takes its NFS path on a file system whose locks behave locally.
#  (1) with the shim: a session in TRANSACTION has created
#      MBOX.pop3d-session (the user's, 0600) and holds an fcntl write lock
#      on it (F_GETLK from another process, /proc/locks), and no lock of
#      any kind on the mbox: an MDA's fcntl lock and even an flock on the
#      mbox are granted meanwhile; a second session gets -ERR [IN-USE] at
#      once; DELE+QUIT works; the file stays (never unlinked) and the next
#      session uses it again;
#  (2) with the shim, refused without being followed, changed or
#      removed: a symlink at the name (to a file of the user's, and
#      dangling), a file of another user, a FIFO, a second hard link; and
#      a directory the user cannot write (no file to lock: refused, with
#      the log line saying why, rather than an flock that over NFS would
#      block deliveries);
#  (3) without the shim, as before: an flock on the mbox, no
#      MBOX.pop3d-session, a second session -ERR [IN-USE];
#  (4) root mode, a spool made like Debian's /var/mail (root:mail 2775):
#      the session creates MBOX.pop3d-session with the mail group, owned by
#      the user, mode 0600, and DELE+QUIT works.
. "$(dirname "$0")/../lib.sh"

cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d

if ! cc -shared -fPIC -O1 -o "$T/fsshim.so" "$TOP/tests/fsshim.c" -ldl 2>"$T/shim.err"; then
	fail fsshim-build "$(tr '\n' ' ' <"$T/shim.err")"
	exit 0
fi
SHIM_ASAN="${ASAN_OPTIONS}:verify_asan_link_order=0"

# ------------------------------------------------------------- helpers

now_ms() { date +%s%3N; }

# The directory that looks like NFS, as the kernel names it (fsshim
# compares /proc/self/fd links with it).
NFS=$(realpath "$T")/nfs
LOCAL=$T/local
mkdir "$NFS" "$LOCAL"
own "$NFS" "$LOCAL"
# ON_NFS: the prefix that runs a command with the shim.
ON_NFS=(env ASAN_OPTIONS="$SHIM_ASAN" LD_PRELOAD="$T/fsshim.so" FSSHIM_NFS_DIR="$NFS")

# mbox FILE: a fresh maildrop of two messages, the session user's.
mbox() {
	rm -f "$1"
	printf '%s\n' "$FROM" 'Subject: one' '' 'body one' '' "$FROM" 'Subject: two' '' 'body two' >"$1"
	own "$1"; chmod 600 "$1"
}

# session NAME DIR USER [PREFIX...]: a USER/PASS/QUIT session on DIR/USER,
# timed (ms in $T/NAME.ms).
session() {
	local name=$1 dir=$2 user=$3 t0; shift 3
	t0=$(now_ms)
	crlf "USER $user" 'PASS secret' QUIT | timeout 60 "${RUNAS[@]}" "$@" "$POP3D" -s -p "$T/passwd" -m "$dir/%u" \
		>"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
	echo $(( $(now_ms) - t0 )) >"$T/$name.ms"
}

# locks_on FILE: the locks /proc/locks lists on FILE's inode, as
# "TYPE MODE" words ("POSIX WRITE", "FLOCK WRITE"), sorted, on one line;
# waiters ("->") left out.
locks_on() {
	local ino; ino=$(stat -c %i "$1") || return
	awk -v ino="$ino" '$2 != "->" { n = split($6, d, ":"); if (d[n] == ino) print $2, $4 }' /proc/locks |
		sort | tr '\n' ';'
}

# getlk FILE: what F_GETLK says of a write lock on FILE, from this process:
# "W PID", "R PID" or "U 0" (unlocked).
getlk() {
	python3 -c '
import fcntl, os, struct, sys
fmt = "hhqqi4x"
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOFOLLOW)
r = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(fmt, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
t, _, _, _, pid = struct.unpack(fmt, r)
print({fcntl.F_WRLCK: "W", fcntl.F_RDLCK: "R"}.get(t, "U"), pid)' "$1"
}

# trylock FILE KIND: "ok" if a non-blocking lock of KIND (lockf: an MDA's
# fcntl write lock, as procmail and Postfix take; flock) on FILE is
# granted at once, "busy" if not.
trylock() {
	python3 -c '
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOFOLLOW)
try:
    if sys.argv[2] == "lockf":
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("ok")
except OSError:
    print("busy")' "$1" "$2"
}

# fp FILE: what must not change about a file that is refused.
fp() { stat -c '%i %h %U %a %s %Y' "$1" 2>/dev/null || echo missing; }

# refused NAME USER: session NAME of USER (on $NFS, with the shim) was
# refused with -ERR [SYS/PERM] and a log line matching ERE $3.
refused() {
	session "$1" "$NFS" "$2" "${ON_NFS[@]}"
	answer_is "$1-refused" "$1" 3 '-ERR \[SYS/PERM\]*'
	log_has "$1-logged" "$1" "$3"
	survived "$1" 0 1
}

# --------------------------------------------------------------- setup

H=$(mkhash secret)
USERS="alice sym dangle foreign fifo hardlink local"
for u in $USERS; do printf '%s:%s\n' "$u" "$H"; done >"$T/passwd"
own "$T/passwd"
for u in alice sym dangle foreign fifo hardlink; do mbox "$NFS/$u"; done
mbox "$LOCAL/local"

# ----------------------------------- (1) the session lock file, with the shim

M=$NFS/alice S=$NFS/alice.pop3d-session
fifo_start a "${RUNAS[@]}" "${ON_NFS[@]}" "$POP3D" -s -p "$T/passwd" -m "$NFS/%u"
send 'USER alice' 'PASS secret'
if await a 3; then
	answer_is nfs-login a 3 '+OK maildrop has 2 messages*'
	if [ -f "$S" ] && [ ! -L "$S" ]; then pass nfs-session-file-created
	else fail nfs-session-file-created "no regular file at $S: $(ls -la "$NFS" | tr '\n' ' ')"; fi
	equal nfs-session-file-identity "$TEST_USER 600 1" "$(stat -c '%U %a %h' "$S" 2>/dev/null)"
	S_INO=$(stat -c %i "$S" 2>/dev/null)
	# Another process sees the session's write lock on the file...
	read -r kind holder <<<"$(getlk "$S" 2>&1)"
	if [ "$kind" = W ] && [ "$(cat "/proc/$holder/comm" 2>/dev/null)" = pop3d ]; then
		pass "nfs-session-file-fcntl-locked (pid $holder)"
	else
		fail nfs-session-file-fcntl-locked "F_GETLK says '$kind $holder'"
	fi
	equal nfs-session-file-proc-locks "POSIX WRITE;" "$(locks_on "$S")"
	# ...and nothing on the mbox: no flock (which NFS would make a
	# whole-file fcntl lock) and no fcntl lock outside the scan.
	equal nfs-mbox-not-locked "" "$(locks_on "$M")"
	equal nfs-mda-lockf-granted ok "$(trylock "$M" lockf)"
	equal nfs-mbox-flock-granted ok "$(trylock "$M" flock)"
	# A second session is refused at once, not after the 20 s wait of
	# a lock held by an MDA.
	session nfs-second "$NFS" alice "${ON_NFS[@]}"
	answer_is nfs-second-in-use nfs-second 3 '-ERR \[IN-USE\] another POP3 session*'
	ms=$(cat "$T/nfs-second.ms")
	if [ "$ms" -lt 5000 ]; then pass "nfs-second-at-once (${ms} ms)"
	else fail nfs-second-at-once "refused after $ms ms"; fi
	log_has nfs-second-logged nfs-second 'in use by another POP3 session \(fcntl lock on .*alice\.pop3d-session\)'
	exited nfs-second
	send 'DELE 1' QUIT
	await a 5
else
	fail nfs-login "no answer to PASS: $(cat "$T/a.out" "$T/a.err" | tr '\n' ' ')"
fi
finish a
exited a
answer_is nfs-quit a 5 '+OK*'
equal nfs-dele-applied 1 "$(grep -c '^From ' "$M")"
# Never unlinked, and not left locked.
equal nfs-session-file-kept "${S_INO:-?}" "$(stat -c %i "$S" 2>/dev/null)"
equal nfs-session-file-unlocked "" "$(locks_on "$S")"
session nfs-again "$NFS" alice "${ON_NFS[@]}"
answer_is nfs-again-login nfs-again 3 '+OK maildrop has 1 message*'
equal nfs-again-same-file "${S_INO:-?}" "$(stat -c %i "$S" 2>/dev/null)"
exited nfs-again

# ------------------------------- (2) what is refused at the session lock name

# A symlink to a file of the user's: not followed, the file untouched.
printf 'precious\n' >"$T/target"; own "$T/target"
ln -s "$T/target" "$NFS/sym.pop3d-session"
TARGET_FP=$(fp "$T/target")
refused nfs-symlink sym 'sym\.pop3d-session is a symbolic link, not followed'
equal nfs-symlink-target-untouched "$TARGET_FP" "$(fp "$T/target")"
equal nfs-symlink-kept "$T/target" "$(readlink "$NFS/sym.pop3d-session")"
# A dangling one: nothing created where it points.
ln -s "$T/nowhere" "$NFS/dangle.pop3d-session"
refused nfs-dangling dangle 'dangle\.pop3d-session is a symbolic link'
if [ -e "$T/nowhere" ] || [ -L "$T/nowhere" ]; then fail nfs-dangling-not-created "$T/nowhere exists"
else pass nfs-dangling-not-created; fi
# Another user's file (root's here, or the test user's when not root).
: >"$NFS/foreign.pop3d-session"; chmod 666 "$NFS/foreign.pop3d-session"
if [ "$(id -u)" = 0 ]; then
	FOREIGN_FP=$(fp "$NFS/foreign.pop3d-session")
	refused nfs-foreign foreign 'foreign\.pop3d-session is not a regular file of uid [0-9]+ .*owner uid 0'
	equal nfs-foreign-untouched "$FOREIGN_FP" "$(fp "$NFS/foreign.pop3d-session")"
else
	echo "SKIP nfs-foreign: needs root to plant another user's file"
fi
# A FIFO: refused, and the open does not hang.
mkfifo "$NFS/fifo.pop3d-session"; own "$NFS/fifo.pop3d-session"
refused nfs-fifo fifo 'fifo\.pop3d-session is not a regular file'
if [ -p "$NFS/fifo.pop3d-session" ]; then pass nfs-fifo-kept; else fail nfs-fifo-kept "the FIFO is gone"; fi
# A second name of another file of the user's.
printf 'other\n' >"$T/other"; own "$T/other"
ln "$T/other" "$NFS/hardlink.pop3d-session"
OTHER_FP=$(fp "$T/other")
refused nfs-hardlink hardlink 'hardlink\.pop3d-session is not a regular file of uid [0-9]+ with one name .*2 links'
equal nfs-hardlink-untouched "$OTHER_FP" "$(fp "$T/other")"
# A directory the user cannot write: refused, saying so, no flock taken
# instead.
if [ "$(id -u)" = 0 ]; then
	RO=$(realpath "$T")/nfs/ro
	mkdir "$RO"; chmod 755 "$RO"
	mbox "$RO/alice"
	session nfs-readonly "$RO" alice "${ON_NFS[@]}"
	answer_is nfs-readonly-refused nfs-readonly 3 '-ERR \[SYS/PERM\]*'
	log_has nfs-readonly-logged nfs-readonly 'cannot open or create its session lock .*alice\.pop3d-session: Permission denied; login refused'
	survived nfs-readonly 0 1
else
	echo "SKIP nfs-readonly: needs root for a directory the session cannot write"
fi

# ------------------------------------------ (3) without the shim: flock, as before

L=$LOCAL/local
fifo_start l "${RUNAS[@]}" "$POP3D" -s -p "$T/passwd" -m "$LOCAL/%u"
send 'USER local' 'PASS secret'
if await l 3; then
	answer_is local-login l 3 '+OK maildrop has 2 messages*'
	equal local-mbox-flocked "FLOCK WRITE;" "$(locks_on "$L")"
	equal local-mbox-flock-busy busy "$(trylock "$L" flock)"
	equal local-mda-lockf-granted ok "$(trylock "$L" lockf)"
	if [ -e "$L.pop3d-session" ]; then fail local-no-session-file "$L.pop3d-session exists"
	else pass local-no-session-file; fi
	session local-second "$LOCAL" local
	answer_is local-second-in-use local-second 3 '-ERR \[IN-USE\] another POP3 session*'
	send QUIT
	await l 4
else
	fail local-login "no answer to PASS: $(cat "$T/l.out" "$T/l.err" | tr '\n' ' ')"
fi
finish l
exited l

# ------------------------ (4) root mode, a stock spool: made with the mail group

if [ "$(id -u)" != 0 ]; then
	echo "SKIP nfs-spool: needs root"
	exit 0
fi
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c); lib.sh gave $T to nobody.  LeakSanitizer cannot
# attach once the session is the user's (rootmode.sh).
chown root:root "$T"
useradd -M -d /nonexistent -s /usr/sbin/nologin pop3duser1
U1=$(id -u pop3duser1); G1=$(id -g pop3duser1)
printf 'pop3duser1:%s:%s:%s::/nonexistent\n' "$H" "$U1" "$G1" >"$T/rpasswd"
chmod 600 "$T/rpasswd"
SP=$NFS/spool
install -d -m 2775 -o root -g mail "$SP"
printf '%s\n' "$FROM" 'Subject: one' '' 'body one' '' "$FROM" 'Subject: two' '' 'body two' >"$SP/pop3duser1"
chown pop3duser1:mail "$SP/pop3duser1"; chmod 660 "$SP/pop3duser1"
crlf 'USER pop3duser1' 'PASS secret' 'DELE 1' QUIT |
	env ASAN_OPTIONS="$SHIM_ASAN:detect_leaks=0" LD_PRELOAD="$T/fsshim.so" FSSHIM_NFS_DIR="$NFS" \
		timeout 60 "$POP3D" -s -p "$T/rpasswd" -m "$SP/%u" >"$T/spool.out" 2>"$T/spool.err"
echo $? >"$T/spool.rc"
answer_is nfs-spool-login spool 3 '+OK maildrop has 2 messages*'
answer_is nfs-spool-quit spool 5 '+OK*'
equal nfs-spool-dele-applied 1 "$(grep -c '^From ' "$SP/pop3duser1")"
equal nfs-spool-session-file "pop3duser1:mail 600 regular empty file" \
	"$(stat -c '%U:%G %a %F' "$SP/pop3duser1.pop3d-session" 2>/dev/null)"
exited spool

#!/usr/bin/env bash
# tests/e2e/locks.sh - the dot-lock MBOX.lock against power cuts and other
# local users (lock.c; the rules themselves are unit-tested in
# tests/check_lock.c):
#  (a) a lock made before the last boot is broken (the boot faked with a
#      time namespace: unshare --time --boottime);
#  (b) a lock naming a dead process is broken; one naming a live process
#      is waited for, then -ERR [IN-USE], the lock untouched;
#  (c) an empty or NUL-only lock older than 10 s is broken; a fresh empty
#      one is honoured while it is fresh;
#  (d) a file at the lock name owned by another user (neither the mailbox
#      owner nor root) is removed and logged, a symlink there too (never
#      followed); in a sticky spool, where it cannot be removed, the login
#      still works on the fcntl lock alone, and a world-writable spool is
#      warned about;
#  (e) durability, seen with strace: the pid is fsynced before the link
#      that puts the lock in place (O_TMPFILE path, and the named-file path
#      forced by failing the O_TMPFILE file's linkat), and after an UPDATE the lock's removal is
#      followed by a directory fsync, after a read-only session not;
#  (f) several front ends on one spool, each session in a UTS namespace
#      of its own with its own host name (unshare --uts): a lock naming
#      another host with a pid that does not exist here is honoured even
#      on this local file system (then -ERR [IN-USE], the lock untouched);
#      the same lock naming the session's own host is broken as dead; and
#      the lock a session holds reads "PID HOSTNAME" (seen while an fcntl
#      lock of another process keeps the session waiting under it).
# The cases that wait run in the background while the others run.
. "$(dirname "$0")/../lib.sh"

# The binary under test is copied, so a rebuild during the run cannot mix
# two versions.
cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d

command -v strace >/dev/null 2>&1 ||
	sh "$(dirname "$0")/../apt-install.sh" strace >"$T/apt.log" 2>&1 ||
	fail deps-strace "cannot install strace: $(tail -3 "$T/apt.log")"

# ------------------------------------------------------------- helpers

now_ms() { date +%s%3N; }
skip() { echo "SKIP $1: $2"; }

# mbox USER [DIR]: a fresh maildrop of two messages for USER in DIR
# (default $T/mail), owned by the session user.
mbox() {
	local f=${2:-$T/mail}/$1
	rm -f "$f" "$f".lock*
	printf '%s\n' "$FROM" 'Subject: one' '' 'body one' '' "$FROM" 'Subject: two' '' 'body two' >"$f"
	own "$f"; chmod 600 "$f"
}

# session NAME USER [PREFIX...]: a USER/PASS/QUIT session (PREFIX runs
# before the session user's identity is taken: unshare, strace), timed;
# the time in ms in $T/NAME.ms.
session() {
	local name=$1 user=$2 t0; shift 2
	t0=$(now_ms)
	crlf "USER $user" 'PASS secret' QUIT | timeout 90 "$@" "${RUNAS[@]}" "$POP3D" "${POP[@]}" \
		>"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
	echo $(( $(now_ms) - t0 )) >"$T/$name.ms"
}

# logged_in NAME [MAX_MS]: session NAME got its maildrop, within MAX_MS
# (default 5000) if given.
logged_in() {
	local l ms max=${2:-5000}
	l=$(line "$1" 3); ms=$(cat "$T/$1.ms")
	case $l in
	'+OK maildrop has '*)
		if [ "$ms" -lt "$max" ]; then pass "$1 (${ms} ms)"
		else fail "$1" "logged in after $ms ms, expected < $max"; fi ;;
	*) fail "$1" "third line '$l' after $ms ms; log: $(tail -n 2 "$T/$1.err" | tr '\n' ' ')" ;;
	esac
}

# logs CHECK NAME REGEX: session NAME's log matches REGEX.
logs() {
	if grep -qE "$3" "$T/$2.err"; then pass "$1"
	else fail "$1" "no log line matching '$3'; log: $(tail -n 3 "$T/$2.err" | tr '\n' ' ')"; fi
}

# gone CHECK FILE / there CHECK FILE: FILE was removed / is still there.
gone() { if [ -e "$2" ] || [ -L "$2" ]; then fail "$1" "$2 still there"; else pass "$1"; fi; }

# --------------------------------------------------------------- setup

H=$(mkhash secret)
USERS="dead live boot empty nul fresh foreign symlink sticky trace named ro
	otherhost samehost writer"
for u in $USERS; do printf '%s:%s\n' "$u" "$H"; done >"$T/passwd"
mkdir "$T/mail"
own "$T/passwd" "$T/mail"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")
for u in $USERS; do mbox "$u"; done

# A process that stays alive for the whole run: its pid is a live holder.
sleep 1000 & HOLDER=$!
trap 'kill "$HOLDER" 2>/dev/null; rm -rf "$T"' EXIT

# --------------------------------- (b, long) a live holder is waited for

echo "$HOLDER" >"$T/mail/live.lock"; own "$T/mail/live.lock"
LIVE_FP=$(stat -c '%i %s %.9Y' "$T/mail/live.lock")
session live-lock live &
LIVE_JOB=$!

# ----------------------------- (c, long) a fresh empty lock is honoured

# Honoured while it is fresh, so the login waits; once it is older than
# 10 s it is stale and broken, well before the 20 s wait ends.
: >"$T/mail/fresh.lock"; own "$T/mail/fresh.lock"
session fresh-empty-lock fresh &
FRESH_JOB=$!

# ------------------------ (f, long) another front end's lock is honoured

# Two front ends are two UTS namespaces with their own host names; the
# spool is this one local directory, where pids would count.
HOST_A=pop3d-front-a HOST_B=pop3d-front-b
# as_host NAME: a session() prefix that runs the session in a UTS
# namespace of its own whose host name is NAME.
# shellcheck disable=SC2016 # the inner sh expands $1 and $@
as_host() { AS_HOST=(unshare --uts -- sh -c 'hostname "$1" && shift && exec "$@"' sh "$1"); }
if [ "$(id -u)" != 0 ]; then
	UTS_SKIP="needs root for unshare --uts"
elif [ "$(unshare --uts -- sh -c "hostname $HOST_A && hostname" 2>/dev/null)" != "$HOST_A" ]; then
	UTS_SKIP="unshare --uts or hostname is not allowed here"
elif [ "$(hostname)" = "$HOST_A" ] || [ "$(hostname)" = "$HOST_B" ]; then
	UTS_SKIP="this machine is called $(hostname) itself"
else
	UTS_SKIP=
fi
# A pid no process has here: a child that has been reaped.
sleep 0 & GONE=$!; wait "$GONE"
if [ -n "$UTS_SKIP" ]; then
	skip other-host-lock "$UTS_SKIP"
elif kill -0 "$GONE" 2>/dev/null; then
	skip other-host-lock "pid $GONE was reused at once"
else
	printf '%s %s\n' "$GONE" "$HOST_B" >"$T/mail/otherhost.lock"; own "$T/mail/otherhost.lock"
	OTHER_FP=$(stat -c '%i %s %.9Y' "$T/mail/otherhost.lock")
	as_host "$HOST_A"
	session other-host-lock otherhost "${AS_HOST[@]}" &
	OTHER_JOB=$!
fi

# ------------------------------------------- (b) a dead holder is broken

sleep 0 & dead=$!; wait "$dead"
echo "$dead" >"$T/mail/dead.lock"; own "$T/mail/dead.lock"
session dead-pid-lock dead
logged_in dead-pid-lock
gone dead-pid-lock-removed "$T/mail/dead.lock"
logs dead-pid-lock-logged dead-pid-lock "removed stale lock .*dead\.lock \(its holder is dead"

# ---------------------------------------- (c) an empty or zeroed lock

: >"$T/mail/empty.lock"; own "$T/mail/empty.lock"
touch -d '30 seconds ago' "$T/mail/empty.lock"
session empty-old-lock empty
logged_in empty-old-lock
gone empty-old-lock-removed "$T/mail/empty.lock"
logs empty-old-lock-logged empty-old-lock "removed stale lock .*empty\.lock \(empty"

head -c 16 /dev/zero >"$T/mail/nul.lock"; own "$T/mail/nul.lock"
touch -d '30 seconds ago' "$T/mail/nul.lock"
session nul-old-lock nul
logged_in nul-old-lock
gone nul-old-lock-removed "$T/mail/nul.lock"

# --------------------------------------- (a) a lock from before the boot

# The lock names a live process and is a minute old: honoured by every
# other rule.  In a time namespace whose boot time is 30 s ago, it was
# made before the boot.
UPTIME=$(cut -d. -f1 /proc/uptime)
if [ "$(id -u)" != 0 ]; then
	skip lock-before-boot "needs root for unshare --time"
elif [ "$UPTIME" -lt 120 ]; then
	skip lock-before-boot "the host booted $UPTIME s ago"
elif ! unshare --time --boottime "-$((UPTIME - 30))" true 2>/dev/null; then
	skip lock-before-boot "unshare --time is not supported here"
else
	echo "$HOLDER" >"$T/mail/boot.lock"; own "$T/mail/boot.lock"
	touch -d '60 seconds ago' "$T/mail/boot.lock"
	session lock-before-boot boot unshare --time --boottime "-$((UPTIME - 30))"
	logged_in lock-before-boot
	gone lock-before-boot-removed "$T/mail/boot.lock"
	logs lock-before-boot-logged lock-before-boot "removed stale lock .*boot\.lock \(made before the last boot"
fi

# --------------------------------------------- (d) another user's file

if [ "$(id -u)" != 0 ]; then
	skip foreign-lock "needs root to plant another user's file"
else
	id pop3dlock >/dev/null 2>&1 ||
		useradd --system --no-create-home --shell /usr/sbin/nologin pop3dlock ||
		fail foreign-user "cannot create the user pop3dlock"
	FOREIGN_UID=$(id -u pop3dlock)

	# A fresh lock naming a live process: honoured if it were the
	# owner's; another user's is removed at once.
	echo 1 >"$T/mail/foreign.lock"; chown pop3dlock "$T/mail/foreign.lock"
	session foreign-lock foreign
	logged_in foreign-lock
	gone foreign-lock-removed "$T/mail/foreign.lock"
	logs foreign-lock-logged foreign-lock "removed .*foreign\.lock: owned by uid $FOREIGN_UID"

	# A symlink there: removed, never followed.
	echo target >"$T/target"; chmod 644 "$T/target"
	TARGET_FP=$(stat -c '%i %s %.9Y' "$T/target")
	ln -s "$T/target" "$T/mail/symlink.lock"
	chown -h pop3dlock "$T/mail/symlink.lock"
	session foreign-symlink-lock symlink
	logged_in foreign-symlink-lock
	gone foreign-symlink-lock-removed "$T/mail/symlink.lock"
	equal foreign-symlink-target-untouched "$TARGET_FP" "$(stat -c '%i %s %.9Y' "$T/target")"

	# A sticky, world-writable spool (mode 1777 like some old /var/mail):
	# the session user cannot remove another user's file, so it logs in
	# on the fcntl lock alone, deletes a message, and leaves the file.
	mkdir "$T/sticky"; chmod 1777 "$T/sticky"
	mbox sticky "$T/sticky"
	echo 1 >"$T/sticky/sticky.lock"; chown pop3dlock "$T/sticky/sticky.lock"
	STICKY_FP=$(stat -c '%i %s %.9Y' "$T/sticky/sticky.lock")
	t0=$(now_ms)
	crlf 'USER sticky' 'PASS secret' 'DELE 1' QUIT |
		timeout 90 "${RUNAS[@]}" "$POP3D" -s -p "$T/passwd" -m "$T/sticky/%u" \
		>"$T/sticky-spool.out" 2>"$T/sticky-spool.err"
	echo $? >"$T/sticky-spool.rc"; echo $(( $(now_ms) - t0 )) >"$T/sticky-spool.ms"
	logged_in sticky-spool
	equal sticky-spool-update "+OK pop3d signing off (1 message left)" "$(line sticky-spool 5)"
	equal sticky-spool-foreign-left "$STICKY_FP" "$(stat -c '%i %s %.9Y' "$T/sticky/sticky.lock" 2>&1)"
	logs sticky-spool-logged sticky-spool "ignoring .*sticky\.lock: owned by uid $FOREIGN_UID.*fcntl lock alone"
	logs sticky-spool-world-writable-warned sticky-spool "spool directory .*/sticky is world-writable"
	if grep -q "world-writable" "$T/dead-pid-lock.err"; then fail spool-not-world-writable-quiet "warned about $T/mail (mode $(stat -c %a "$T/mail"))"
	else pass spool-not-world-writable-quiet; fi
fi

# ------------------------------------------ (f) several front ends

if [ -n "$UTS_SKIP" ]; then
	skip same-host-dead-lock "$UTS_SKIP"
	skip lock-names-host-content "$UTS_SKIP"
else
	# The same lock as host B's, but naming the session's own host: its
	# pid is judged, and it is dead.
	sleep 0 & dead=$!; wait "$dead"
	printf '%s %s\n' "$dead" "$HOST_A" >"$T/mail/samehost.lock"; own "$T/mail/samehost.lock"
	as_host "$HOST_A"
	session same-host-dead-lock samehost "${AS_HOST[@]}"
	logged_in same-host-dead-lock
	gone same-host-dead-lock-removed "$T/mail/samehost.lock"
	logs same-host-dead-lock-logged same-host-dead-lock "removed stale lock .*samehost\.lock \(its holder is dead; pid $dead, host $HOST_A\)"

	# What pop3d itself writes.  Another process holds an fcntl lock on
	# the mbox (struct flock as on amd64 and arm64: two shorts, padding,
	# two 64-bit offsets, the pid), so the session waits for it with its
	# dot-lock in place, and the file at the lock name can be read.
	perl -MFcntl -e '
		open(my $fh, "+<", $ARGV[0]) or die "open $ARGV[0]: $!\n";
		fcntl($fh, F_SETLK, pack("s s x4 q q i x4", F_WRLCK, SEEK_SET, 0, 0, 0))
			or die "fcntl: $!\n";
		open(my $r, ">", $ARGV[1]) or die; close $r;
		for (1 .. 150) { last if -e $ARGV[2]; select(undef, undef, undef, 0.1) }' \
		"$T/mail/writer" "$T/writer.held" "$T/writer.release" 2>"$T/writer-holder.err" &
	HOLDER_JOB=$!
	for _ in $(seq 50); do [ -e "$T/writer.held" ] && break; sleep 0.1; done
	as_host "$HOST_B"
	session lock-names-host writer "${AS_HOST[@]}" &
	WRITER_JOB=$!
	for _ in $(seq 100); do [ -s "$T/mail/writer.lock" ] && break; sleep 0.1; done
	content=$(od -An -c "$T/mail/writer.lock" 2>&1 | tr -s ' \n' ' ')
	holder=$(sed -n 's/^\([0-9]*\) .*/\1/p' "$T/mail/writer.lock" 2>/dev/null)
	comm=$(cat "/proc/${holder:-0}/comm" 2>/dev/null)
	touch "$T/writer.release"
	wait "$HOLDER_JOB"; wait "$WRITER_JOB"
	if [ ! -e "$T/writer.held" ]; then
		fail lock-names-host-content "the fcntl holder did not start: $(cat "$T/writer-holder.err")"
	elif [ -n "$holder" ] &&
	     [ "$content" = "$(printf '%s %s\n' "$holder" "$HOST_B" | od -An -c | tr -s ' \n' ' ')" ] &&
	     [ "$comm" = pop3d ]; then
		pass "lock-names-host-content ($content)"
	else
		fail lock-names-host-content "lock content '$content', pid '$holder' is '$comm', expected 'PID $HOST_B\\n' of pop3d"
	fi
	logged_in lock-names-host 20000
fi

# ------------------------------------------------- (e) durability

# trace NAME USER COMMANDS [STRACE ARGS...]: a session (COMMANDS split at
# '|') under strace of the calls that matter, descriptors shown as paths.
trace() {
	local name=$1 user=$2 cmds=$3 c; shift 3
	IFS='|' read -r -a c <<<"$cmds"
	# LeakSanitizer cannot run under ptrace.
	crlf "${c[@]}" | ASAN_OPTIONS=detect_leaks=0:exitcode=99 timeout 90 strace -f -qq -y -o "$T/$name.trace" \
		-e trace=fsync,fdatasync,link,linkat,unlink,unlinkat "$@" \
		"${RUNAS[@]}" "$POP3D" "${POP[@]}" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
# order NAME LOCK: session NAME's traced calls, one letter each: D a
# successful fsync of the lock's directory, P of any other file, L a
# successful link of LOCK into place, U its successful removal, o the rest.
order() {
	perl -ne '
		BEGIN { ($lock, $dir) = (shift, shift); ($base = $lock) =~ s|.*/|| }
		# The lock by path, or by name on the spool directory'"'"'s fd.
		sub is_lock { $_[0] =~ /"\Q$lock\E"/ || $_[0] =~ /\d+<\Q$dir\E>, "\Q$base\E"(,|$)/ }
		next unless /^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)/;
		($f, $a, $r) = ($1, $2, $3);
		if ($f =~ /^f(data)?sync$/ && $r == 0) { print $a =~ /^\d+<\Q$dir\E>$/ ? "D" : "P" }
		elsif ($f =~ /^link/ && $r == 0 && is_lock($a)) { print "L" }
		elsif ($f =~ /^unlink/ && $r == 0 && is_lock($a)) { print "U" }
		else { print "o" }' "$2" "$(dirname "$2")" "$T/$1.trace"
}
# pid_first CHECK SEQUENCE: every link of the lock right after an fsync of
# a file (its pid), and at least one link.
pid_first() {
	case $2 in
	*L*) if printf '%s' "$2" | grep -qE '(^|[^P])L'; then fail "$1" "calls: $2"
	     else pass "$1"; fi ;;
	*) fail "$1" "no link of the lock in the trace: $2" ;;
	esac
}

if ! strace -f -qq -o /dev/null true 2>/dev/null; then
	skip durability "strace cannot trace here"
else
	# An UPDATE: the lock taken at login and at QUIT, the mbox written.
	trace lock-durable-update trace 'USER trace|PASS secret|DELE 1|QUIT'
	seq=$(order lock-durable-update "$T/mail/trace.lock")
	echo "lock-durable-update calls: $seq"
	equal lock-durable-update-ran "+OK pop3d signing off (1 message left)" "$(line lock-durable-update 5)"
	pid_first pid-fsynced-before-link "$seq"
	# The last removal (after the UPDATE) is followed by an fsync of the
	# directory; the first one (after the login's scan) is not.
	case $seq in
	*UD) pass removal-fsynced-after-update ;;
	*) fail removal-fsynced-after-update "calls: $seq" ;;
	esac
	if printf '%s' "$seq" | grep -qE '^[^U]*U([^D]|$)'; then pass scan-removal-not-fsynced
	else fail scan-removal-not-fsynced "calls: $seq"; fi

	# A read-only session: no directory fsync at all.
	trace lock-durable-readonly ro 'USER ro|PASS secret|QUIT'
	seq=$(order lock-durable-readonly "$T/mail/ro.lock")
	case $seq in
	*D*) fail readonly-removal-not-fsynced "calls: $seq" ;;
	*U*) pass readonly-removal-not-fsynced ;;
	*) fail readonly-removal-not-fsynced "no removal of the lock: $seq" ;;
	esac

	# The named-file path (NFS, no O_TMPFILE): the O_TMPFILE file's
	# linkat made to fail (the 1st and 3rd linkat: login, then QUIT; the
	# 2nd and 4th are the named file's), so the lock is a uniquely named
	# file linked to the lock name.
	trace lock-durable-named named 'USER named|PASS secret|DELE 1|QUIT' -e inject=linkat:error=ENOENT:when=1..3+2
	seq=$(order lock-durable-named "$T/mail/named.lock")
	if grep -qE '^[0-9]+ +link(at\([0-9]+<[^>]*>, |\()"[^"]*named\.lock\.[^"]*", ' "$T/lock-durable-named.trace"; then
		pid_first named-pid-fsynced-before-link "$seq"
	else
		fail named-pid-fsynced-before-link "link(2) not used: $seq"
	fi
	case $seq in
	*UD) pass named-removal-fsynced-after-update ;;
	*) fail named-removal-fsynced-after-update "calls: $seq" ;;
	esac
fi

# -------------------------------------------- the background cases

wait "$FRESH_JOB"
logged_in fresh-empty-lock 19000
ms=$(cat "$T/fresh-empty-lock.ms")
if [ "$ms" -ge $(( (10 - 1) * 1000 )) ]; then pass "fresh-empty-lock-honoured-while-fresh (${ms} ms)"
else fail fresh-empty-lock-honoured-while-fresh "broken after $ms ms, before it was 10 s old"; fi

wait "$LIVE_JOB"
l=$(line live-lock 3); ms=$(cat "$T/live-lock.ms")
case $l in
'-ERR [IN-USE]'*)
	if [ "$ms" -ge 15000 ]; then pass "live-lock-waited (${ms} ms: $l)"
	else fail live-lock-waited "answered after only $ms ms: $l"; fi ;;
*) fail live-lock-waited "third line '$l' after $ms ms" ;;
esac
equal live-lock-untouched "$LIVE_FP" "$(stat -c '%i %s %.9Y' "$T/mail/live.lock" 2>&1)"

if [ -n "${OTHER_JOB:-}" ]; then
	wait "$OTHER_JOB"
	l=$(line other-host-lock 3); ms=$(cat "$T/other-host-lock.ms")
	case $l in
	'-ERR [IN-USE]'*)
		if [ "$ms" -ge 15000 ]; then pass "other-host-lock-honoured (${ms} ms: $l)"
		else fail other-host-lock-honoured "answered after only $ms ms: $l"; fi ;;
	*) fail other-host-lock-honoured "third line '$l' after $ms ms; log: $(tail -n 2 "$T/other-host-lock.err" | tr '\n' ' ')" ;;
	esac
	equal other-host-lock-untouched "$OTHER_FP" "$(stat -c '%i %s %.9Y' "$T/mail/otherhost.lock" 2>&1)"
fi
for n in $(ls "$T" | sed -n 's/\.rc$//p'); do
	survived "$n" 0
done

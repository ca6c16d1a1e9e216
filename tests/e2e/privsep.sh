#!/usr/bin/env bash
# tests/e2e/privsep.sh - privilege separation in root mode (SPEC section 6:
# "untrusted input before login should be parsed without root privileges").
# pop3d is started as root (not through run_pop3d) and driven through a
# fifo, one step at a time.  In AUTHORIZATION:
#  - the pre-login process (pop3d's child) has the pop3d account's ids in
#    every Uid/Gid field, no supplementary groups, no capabilities; its
#    root and working directory are /var/lib/pop3d/empty; it holds no files beyond
#    stdin/stdout/stderr and sockets (the channel to the parent);
#  - it cannot open the password file (0600 root): the path does not exist
#    in its root, and the pop3d account could not read it anyway;
#  - the parent keeps uid 0 (it checks the passwords).
# After PASS the pre-login process is gone and the session runs with the
# user's ids; commands sent in the same write as PASS, or many kilobytes of
# them, are all answered (the handoff of already-read input).  A pre-login
# process killed with SIGKILL makes the parent exit, without a crash.
# Failed logins in root mode are limited and logged escaped by the parent.
. "$(dirname "$0")/../lib.sh"
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c), and lib.sh gives $T to nobody: root's again.
[ "$(id -u)" = 0 ] && chown root:root "$T"

if [ "$(id -u)" != 0 ]; then
	echo "privsep.sh needs root; skipped"
	exit 0
fi

cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
# After the switch to the user's ids pop3d is non-dumpable, so
# LeakSanitizer cannot attach to it at exit; leaks are checked by the
# unprivileged suites (hostile.sh).
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"

DRIVEN=
cleanup() {
	exec 7>&- 2>/dev/null
	if [ -n "$DRIVEN" ]; then
		for c in $(pgrep -P "$DRIVEN"); do kill -KILL "$c" 2>/dev/null; done
		kill -KILL "$DRIVEN" 2>/dev/null
		wait "$DRIVEN" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# ------------------------------------------------------------- helpers

start() {
	local name=$1; shift
	rm -f "$T/$name.fifo"; mkfifo "$T/$name.fifo"
	# Two inherited descriptors of a regular file, a low and a high one,
	# which the pre-login process must close.
	( exec 5<"$PW" 250<"$PW"
	  exec "$POP3D" "$@" <"$T/$name.fifo" >"$T/$name.out" 2>"$T/$name.err" ) &
	DRIVEN=$!
	exec 7>"$T/$name.fifo"
}
# send, await, finish: lib.sh.  After finish, DRIVEN= keeps cleanup()
# from killing a pid that may have been reused.
field() { awk -v k="$2:" '$1 == k { $1 = ""; print }' "$1" | xargs; }
# prelogin: the pids of pop3d's children, once there is one (2 s at most).
prelogin() {
	local kids _
	for _ in $(seq 40); do
		kids=$(pgrep -P "$DRIVEN" | xargs)
		[ -n "$kids" ] && break
		sleep 0.05
	done
	echo "$kids"
}

# --------------------------------------------------------------- setup

if ! getent passwd pop3d >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pop3d
fi
[ -d /var/lib/pop3d/empty ] || install -d -m 755 -o root -g root /var/lib/pop3d/empty
useradd -M -d /nonexistent -s /usr/sbin/nologin pop3dpriv
PU=$(id -u pop3d) PG=$(id -g pop3d)
UU=$(id -u pop3dpriv) UG=$(id -g pop3dpriv)
MAILGID=$(getent group mail | cut -d: -f3)

H=$(mkhash secret)
PW=$T/passwd
printf 'pop3dpriv:%s:%s:%s::/nonexistent\n' "$H" "$UU" "$UG" >"$PW"
chown root:root "$PW"; chmod 600 "$PW"
mkdir "$T/mail"
printf '%s\nSubject: one\n\nHello.\n\n%s\nSubject: two\n\nBye.\n' "$FROM" "$FROM" >"$T/mail/pop3dpriv"
chown -R "$UU:$UG" "$T/mail"; chmod 600 "$T/mail/pop3dpriv"
SUM=$(sha256sum <"$T/mail/pop3dpriv")
POP=(-s -p "$PW" -m "$T/mail/%u")
GREET='+OK POP3 server ready'
LOGIN='+OK maildrop has 2 messages (46 octets)'

# --------------------------------------- the pre-login process, then login

start main "${POP[@]}"
if await main 1; then pass "main-greeting"; else fail "main-greeting" "no greeting"; fi
CHILD=$(prelogin)
if [ -z "$CHILD" ] || [ "${CHILD// /}" != "$CHILD" ] || [ ! -r "/proc/$CHILD/status" ]; then
	fail "main-prelogin-found" "children of pop3d $DRIVEN: '$CHILD'"
	CHILD=
else
	pass "main-prelogin-found"
	cat "/proc/$CHILD/status" >"$T/child.status"
	equal prelogin-uid-all-four "$PU $PU $PU $PU" "$(field "$T/child.status" Uid)"
	equal prelogin-gid-all-four "$PG $PG $PG $PG" "$(field "$T/child.status" Gid)"
	equal prelogin-no-groups "" "$(field "$T/child.status" Groups)"
	equal prelogin-no-capabilities "0000000000000000 0000000000000000 0000000000000000" \
		"$(field "$T/child.status" CapEff) $(field "$T/child.status" CapPrm) $(field "$T/child.status" CapAmb)"
	equal prelogin-root-is-privsep-dir /var/lib/pop3d/empty "$(readlink "/proc/$CHILD/root")"
	equal prelogin-cwd-is-privsep-dir /var/lib/pop3d/empty "$(readlink "/proc/$CHILD/cwd")"
	# Open descriptors: 0, 1, 2, then only sockets.
	others=$(cd "/proc/$CHILD/fd" && for fd in *; do
		[ "$fd" -le 2 ] && continue
		t=$(readlink "$fd"); case $t in socket:*) ;; *) printf '%s->%s ' "$fd" "$t" ;; esac
	done)
	nsock=$(cd "/proc/$CHILD/fd" && for fd in *; do [ "$fd" -gt 2 ] && readlink "$fd"; done | grep -c '^socket:')
	if [ -z "$others" ] && [ "$nsock" -ge 1 ] && [ "$nsock" -le 2 ]; then
		pass "prelogin-fds-only-stdio-and-sockets ($nsock socket(s))"
	else
		fail "prelogin-fds-only-stdio-and-sockets" "non-socket fds: '${others}', $nsock sockets"
	fi
	# The password file, as the pre-login process would look for it.
	if [ -e "/proc/$CHILD/root$PW" ]; then fail "prelogin-passwd-not-in-its-root" "/proc/$CHILD/root$PW exists"
	else pass "prelogin-passwd-not-in-its-root"; fi
	if setpriv --reuid="$PU" --regid="$PG" --clear-groups cat "$PW" >/dev/null 2>"$T/cat.err"; then
		fail "prelogin-account-cannot-read-passwd" "the pop3d account read $PW"
	elif grep -q 'Permission denied' "$T/cat.err"; then
		pass "prelogin-account-cannot-read-passwd"
	else
		fail "prelogin-account-cannot-read-passwd" "unexpected error: $(cat "$T/cat.err")"
	fi
	# Nor /etc/shadow (with the password file back end as with every
	# other: tests/e2e/pam.sh, checkpassword.sh).
	if [ -e "/proc/$CHILD/root/etc/shadow" ]; then fail "prelogin-no-shadow-in-its-root" "/proc/$CHILD/root/etc/shadow exists"
	else pass "prelogin-no-shadow-in-its-root"; fi
	if setpriv --reuid="$PU" --regid="$PG" --clear-groups cat /etc/shadow >/dev/null 2>&1; then
		fail "prelogin-account-cannot-read-shadow" "the pop3d account read /etc/shadow"
	else
		pass "prelogin-account-cannot-read-shadow"
	fi
	equal parent-root-in-authorization "0 0 0 0" "$(field "/proc/$DRIVEN/status" Uid)"
fi
# Login, with STAT and NOOP in the same write as PASS.
send 'USER pop3dpriv'
await main 2
printf 'PASS secret\r\nSTAT\r\nNOOP\r\n' >&7
if await main 5; then pass "main-pipelined-after-pass-answered"
else fail "main-pipelined-after-pass-answered" "$(tr '\r\n' ' |' <"$T/main.out")"; fi
if [ -n "$CHILD" ] && [ -e "/proc/$CHILD" ] && ! grep -q '^State:.*zombie' "/proc/$CHILD/status" 2>/dev/null; then
	fail "prelogin-gone-after-login" "pid $CHILD still runs"
else
	pass "prelogin-gone-after-login"
fi
equal main-no-children "" "$(pgrep -P "$DRIVEN" | xargs)"
cat "/proc/$DRIVEN/status" >"$T/parent.status" 2>/dev/null
equal session-uid-all-four "$UU $UU $UU $UU" "$(field "$T/parent.status" Uid)"
equal session-gid-real-effective-fs "$UG $UG $UG" "$(awk '$1 == "Gid:" { print $2, $3, $5 }' "$T/parent.status")"
g=$(awk '$1 == "Gid:" { print $4 }' "$T/parent.status")
if [ "$g" = "$UG" ] || [ "$g" = "$MAILGID" ]; then pass "session-saved-gid ($g)"
else fail "session-saved-gid" "saved gid $g, expected $UG or mail ($MAILGID)"; fi
equal session-groups-only-user-gid "$UG" "$(field "$T/parent.status" Groups)"
equal session-no-capabilities "0000000000000000 0000000000000000" \
	"$(field "$T/parent.status" CapEff) $(field "$T/parent.status" CapPrm)"
send 'LIST' QUIT
finish main
DRIVEN=
survived main 0
transcript main "$GREET" '+OK send PASS' "$LOGIN" '+OK 2 46' '+OK nothing done' \
	'+OK 2 messages (46 octets)' '1 24' '2 22' . '+OK pop3d signing off (2 messages left)'
equal main-maildrop-untouched "$SUM" "$(sha256sum <"$T/mail/pop3dpriv")"

# A whole session in one burst, with 1,000 NOOPs (6 KB, more than the
# pre-login process's 4 KiB input buffer) behind PASS: every one answered.
{ crlf 'USER pop3dpriv' 'PASS secret'; perl -e 'print "NOOP\r\n" x 1000'; crlf QUIT; } >"$T/burst.in"
"$POP3D" "${POP[@]}" <"$T/burst.in" >"$T/burst.out" 2>"$T/burst.err"; echo $? >"$T/burst.rc"
survived burst 0
{ crlf "$GREET" '+OK send PASS' "$LOGIN"; perl -e 'print "+OK nothing done\r\n" x 1000'
  crlf '+OK pop3d signing off (2 messages left)'; } >"$T/burst.exp"
same burst-handoff-transcript "$T/burst.exp" "$T/burst.out"

# Hostile input for the pre-login process: a megabyte of random bytes, then
# 10,000 unknown commands; the session ends, nothing crashes.
perl -e 'srand(7); print pack("C*", map { int rand 256 } 1 .. 1048576)' >"$T/random.in"
"$POP3D" "${POP[@]}" <"$T/random.in" >"$T/random.out" 2>"$T/random.err"; echo $? >"$T/random.rc"
survived random 0
perl -e 'print "XYZZY\r\n" x 10000' | "$POP3D" "${POP[@]}" >"$T/bad.out" 2>"$T/bad.err"; echo $? >"$T/bad.rc"
survived bad 0
if [ "$(tail -n 1 "$T/bad.out")" = $'-ERR too many bad commands, closing connection\r' ]; then pass "bad-closed"
else fail "bad-closed" "last answer: $(tail -n 1 "$T/bad.out" | cat -v)"; fi

# Failed logins in root mode: counted and delayed by the parent, the third
# closes the connection; the user names reach the log escaped (a control
# character in an AUTH LOGIN user name: USER refuses one as a syntax
# error, SASLprep an AUTH PLAIN identity with one).
{ printf 'USER pop3dpriv\r\nPASS wrong\r\nUSER %%s%%n\r\nPASS wrong\r\n'
  printf 'AUTH LOGIN %s\r\n%s\r\nCAPA\r\n' "$(printf 'x\033[2Jy' | base64 -w0)" "$(printf wrong | base64 -w0)"; } >"$T/fails.in"
"$POP3D" "${POP[@]}" <"$T/fails.in" >"$T/fails.out" 2>"$T/fails.err"; echo $? >"$T/fails.rc"
survived fails 0
transcript fails "$GREET" '+OK send PASS' '-ERR [AUTH] authentication failed' '+OK send PASS' \
	'-ERR [AUTH] authentication failed' '+ UGFzc3dvcmQ6' '-ERR [AUTH] too many failures, closing connection'
if perl -ne 'exit 1 if /[^\x20-\x7e\n]/' "$T/fails.err"; then pass "fails-log-no-raw-control-chars"
else fail "fails-log-no-raw-control-chars" "$(grep -a 'user=' "$T/fails.err" | cat -v | tr '\n' '|')"; fi
if grep -q 'PASS failed for user=pop3dpriv auth=file' "$T/fails.err" && grep -q 'PASS failed for user=?s?n auth=file' "$T/fails.err"; then
	pass "fails-logged-by-parent"
else
	fail "fails-logged-by-parent" "$(grep -a 'user=' "$T/fails.err" | cat -v | tr '\n' '|')"
fi
equal fails-maildrop-untouched "$SUM" "$(sha256sum <"$T/mail/pop3dpriv")"

# The failure's deadline is kept by the parent: under strace, the root
# process (the one that forks the pre-login process) sleeps with an absolute
# clock_nanosleep before it writes the verdict 'N', and the -ERR comes
# after, from the pre-login process.
if command -v strace >/dev/null 2>&1; then
	printf 'USER pop3dpriv\r\nPASS wrong\r\nQUIT\r\n' |
		strace -f -qq -s 64 -o "$T/deadline.trace" -e trace=clock_nanosleep,write,clone,clone3 \
		"$POP3D" "${POP[@]}" >"$T/deadline.out" 2>"$T/deadline.err"
	if perl -ne '
		my ($pid) = /^(\d+)/ or next;
		$root //= $pid if /clone3?\(/;
		next unless defined $root;
		$sleep = 1 if $pid == $root && /clock_nanosleep\(CLOCK_MONOTONIC, TIMER_ABSTIME,/;
		$verdict = 1 if $pid == $root && $sleep && /write\(\d+, "N", 1\)/;
		if (/write\(\d+, ".*-ERR \[AUTH\]/) { $found = 1; exit($verdict && $pid != $root ? 0 : 1) }
		END { exit 1 unless $found }' "$T/deadline.trace"; then
		pass "fails-deadline-slept-by-parent"
	else
		fail "fails-deadline-slept-by-parent" "$(grep -E 'nanosleep|"N"|ERR' "$T/deadline.trace" | head -n 4 | tr '\n' '|')"
	fi
else
	pass "fails-deadline-slept-by-parent (skipped: no strace)"
fi

# The pre-login process killed by SIGKILL in AUTHORIZATION: the parent
# notices and exits; it neither crashes nor hangs.
start kill "${POP[@]}"
await kill 1
send 'USER pop3dpriv'
await kill 2
CHILD=$(prelogin)
if [ -n "$CHILD" ] && [ "${CHILD// /}" = "$CHILD" ]; then
	kill -KILL "$CHILD"
	for _ in $(seq 100); do kill -0 "$DRIVEN" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$DRIVEN" 2>/dev/null; then fail "kill-parent-exits" "pop3d $DRIVEN still runs 5 s later"
	else pass "kill-parent-exits"; fi
else
	fail "kill-parent-exits" "no pre-login process found"
fi
finish kill
DRIVEN=
survived kill 0 1
equal kill-maildrop-untouched "$SUM" "$(sha256sum <"$T/mail/pop3dpriv")"
exit 0

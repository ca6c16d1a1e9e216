#!/usr/bin/env bash
# tests/e2e/pam.sh - --auth pam with the real Linux-PAM and pam_unix,
# pop3d started as root (privilege separation on), against system
# accounts made with useradd and chpasswd:
#  - yescrypt and sha512-crypt passwords log in; a wrong password, an
#    unknown user, an invalid name, a locked and an expired account, and
#    an account below --first-uid get the same -ERR [AUTH] answer, and
#    the log says why, naming auth=pam; a lowered --first-uid serves it;
#  - the Debian spool: the default -m /var/mail/%u, mailbox USER:mail
#    0660; DELE 1 + QUIT removes exactly that message, from a pipe and
#    through xinetd;
#  - pam_exec sees PAM_RHOST (a 127.0.0.2 client of xinetd), PAM_RUSER,
#    PAM_TTY "pop3d" and PAM_USER, and runs as root (the parent), while
#    the pre-login process has no root and cannot reach /etc/shadow;
#  - a module that hangs is killed, with its process group, at
#    PASSDB_TIMEOUT (15 s): -ERR [SYS/TEMP] and a log line.
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP pam.sh needs root (pam_unix reads /etc/shadow as root)"
	exit 0
fi
# Started as root, pop3d refuses files in a directory another account
# owns (trust.c), and lib.sh gives $T to nobody: root's again.
chown root:root "$T"
cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
# After the switch to the user's ids pop3d is non-dumpable, so
# LeakSanitizer cannot attach to it at exit; leaks are checked by the
# unprivileged suites.
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"

SVC=pop3d-e2e-pam-$$
SVC_EXEC=pop3d-e2e-pamexec-$$
SVC_HANG=pop3d-e2e-pamhang-$$
SVC_UNIX=pop3d-e2e-pamunix-$$
UY=pop3dpamy UX=pop3dpam6 UL=pop3dpaml UE=pop3dpame ULOW=pop3dpamlow
USERS=("$UY" "$UX" "$UL" "$UE" "$ULOW")
# A sleep no other program runs: the hang test's module.
HANG_SECS=1000.$$
PIDS=()
DRIVEN=
cleanup() {
	local p u
	exec 7>&- 2>/dev/null
	if [ -n "$DRIVEN" ]; then
		for p in $(pgrep -P "$DRIVEN"); do kill -KILL "$p" 2>/dev/null; done
		kill -KILL "$DRIVEN" 2>/dev/null
	fi
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for p in $(pgrep -x -f "sleep $HANG_SECS"); do kill -KILL "$p" 2>/dev/null; done
	rm -f "/etc/pam.d/$SVC" "/etc/pam.d/$SVC_EXEC" "/etc/pam.d/$SVC_HANG" "/etc/pam.d/$SVC_UNIX"
	for u in "${USERS[@]}"; do
		rm -f "/var/mail/$u" "/var/mail/$u.lock"
		id "$u" >/dev/null 2>&1 && flock /run/lock/pop3d-e2e-users.lock userdel "$u"
	done
	rm -rf "$T"
}
trap cleanup EXIT

need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	sh "$TOP/tests/apt-install.sh" "$2" >/dev/null 2>&1
	command -v "$1" >/dev/null 2>&1
}
wait_listening() {
	local _
	for _ in $(seq 100); do listening "$1" && return 0; sleep 0.05; done
	return 1
}
# pop NAME ARGS...: pop3d as root, stdin the session; lib.sh's files.
pop() {
	local name=$1; shift
	"$POP3D" -s "$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
# login NAME USER PASSWORD ARGS...: USER, PASS, STAT, QUIT.
login() {
	local name=$1 u=$2 p=$3; shift 3
	crlf "USER $u" "PASS $p" STAT QUIT | pop "$name" "$@"
}
field() { awk -v k="$2:" '$1 == k { $1 = ""; print }' "$1" | xargs; }
# tcp NAME SOURCE PORT CMD...: a client bound to SOURCE (a loopback
# address) sends the commands to 127.0.0.1:PORT and reads until the end.
tcp() {
	local name=$1 src=$2 port=$3; shift 3
	crlf "$@" | python3 -c '
import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
s.settimeout(30)
s.connect(("127.0.0.1", int(sys.argv[2])))
s.sendall(sys.stdin.buffer.read())
got = b""
try:
    while True:
        c = s.recv(65536)
        if not c:
            break
        got += c
except OSError:
    pass
sys.stdout.buffer.write(got)' "$src" "$port" >"$T/$name.out" 2>"$T/$name.err"
}

# --------------------------------------------------------------- setup

if ! getent passwd pop3d >/dev/null || [ ! -d /var/lib/pop3d/empty ]; then
	fail setup-privsep-account "no pop3d account or /var/lib/pop3d/empty (tests/setup-deps.sh makes them)"
	exit 0
fi
PU=$(id -u pop3d)
for u in "$UY" "$UX" "$UL" "$UE"; do
	useradd -M -d /nonexistent -s /usr/sbin/nologin "$u"
done
# A normal (not --system) account with a uid below 1000, as an older
# system may have: the first uid free as user and group id from 500.
LOWUID=
for i in $(seq 500 999); do
	if ! getent passwd "$i" >/dev/null && ! getent group "$i" >/dev/null; then LOWUID=$i; break; fi
done
# (useradd warns that the uid is below UID_MIN: that is the point.)
useradd -M -d /nonexistent -s /usr/sbin/nologin -u "$LOWUID" "$ULOW" 2>"$T/useradd-low.err"
echo "$UY:Yes-crypt-pw1" | chpasswd -c YESCRYPT
echo "$UX:Sha-512-pw2" | chpasswd -c SHA512
echo "$UL:Locked-pw3" | chpasswd -c YESCRYPT
echo "$UE:Expired-pw4" | chpasswd -c YESCRYPT
echo "$ULOW:Low-uid-pw5" | chpasswd -c YESCRYPT
passwd -l "$UL" >/dev/null
chage -E 0 "$UE"
shadow_of() { awk -F: -v u="$1" '$1 == u { print substr($2, 1, 3) }' /etc/shadow; }
equal shadow-yescrypt '$y$' "$(shadow_of "$UY")"
equal shadow-sha512 '$6$' "$(shadow_of "$UX")"
equal shadow-locked '!$y' "$(shadow_of "$UL")"
equal low-uid-account "$LOWUID" "$(id -u "$ULOW" 2>/dev/null)"

# The test services: the repository's file, and two with pam_exec first.
install -m 644 "$TOP/pam.d/pop3d" "/etc/pam.d/$SVC"
cat >"$T/pamexec.sh" <<EOF
#!/bin/sh
echo "\$PAM_RHOST \$PAM_RUSER \$PAM_TTY \$PAM_USER \$(id -u)" >>"$T/pamexec.seen"
EOF
chmod 755 "$T/pamexec.sh"
{ echo "auth optional pam_exec.so quiet $T/pamexec.sh"; cat "$TOP/pam.d/pop3d"; } >"/etc/pam.d/$SVC_EXEC"
{ echo "auth required pam_exec.so quiet /bin/sleep $HANG_SECS"; cat "$TOP/pam.d/pop3d"; } >"/etc/pam.d/$SVC_HANG"
# pam_unix alone, its result codes as they are.
printf 'auth required pam_unix.so\naccount required pam_unix.so\n' >"/etc/pam.d/$SVC_UNIX"
chmod 644 "/etc/pam.d/$SVC_EXEC" "/etc/pam.d/$SVC_HANG" "/etc/pam.d/$SVC_UNIX"

# The spool as Debian ships it: /var/mail root:mail 2775, mailboxes
# USER:mail 0660.
[ -d /var/mail ] || install -d -o root -g mail -m 2775 /var/mail
perl -e '
	my $from = "From sender\@example.org Mon Jan  1 10:00:00 2024\n";
	print $from, "Subject: one\n\nfirst body\n\n";
	print $from, "Subject: two\n\nsecond body\n\n";
	print $from, "Subject: three\n\nthird body\n";' >"$T/mbox"
# What must be left after DELE 1: from the second From_ line on.
perl -0777 -ne 'print /\n\n(From .*)\z/s' "$T/mbox" >"$T/after-dele1"
put_mbox() { install -o "$1" -g mail -m 660 "$T/mbox" "/var/mail/$1"; }
for u in "${USERS[@]}"; do put_mbox "$u"; done
A=(--auth "pam:$SVC")
OK3='+OK maildrop has 3 messages*'
NO='-ERR \[AUTH\] authentication failed'

# ------------------------------------------ logins from a pipe, as root

login good-yescrypt "$UY" Yes-crypt-pw1 "${A[@]}"
answer_is good-yescrypt-login good-yescrypt 3 "$OK3"
survived good-yescrypt 0
log_has good-yescrypt-logged good-yescrypt "login: user=$UY .*maildrop=/var/mail/$UY"
login good-sha512 "$UX" Sha-512-pw2 "${A[@]}"
answer_is good-sha512-login good-sha512 3 "$OK3"

login wrong "$UY" not-the-password "${A[@]}"
answer_is wrong-password-refused wrong 3 "$NO"
log_has wrong-password-logged wrong "PASS failed for user=$UY auth=pam: auth: "
login unknown pop3dpamnobody whatever "${A[@]}"
answer_is unknown-user-refused unknown 3 "$NO"
log_has unknown-user-logged unknown "PASS failed for user=pop3dpamnobody auth=pam"
login invalid 'a/../b' whatever "${A[@]}"
answer_is invalid-name-refused invalid 3 "$NO"
survived invalid 0
login locked "$UL" Locked-pw3 "${A[@]}"
answer_is locked-refused locked 3 "$NO"
log_has locked-logged locked "PASS failed for user=$UL auth=pam: auth: "
login expired "$UE" Expired-pw4 "${A[@]}"
answer_is expired-refused expired 3 "$NO"
# Debian's common-account hides pam_unix's code behind pam_deny's: the
# log says the account stage refused it (the password was right) ...
log_has expired-logged-account-stage expired "PASS failed for user=$UE auth=pam: account: .*the account stack refused it"
# ... and with pam_unix's own answer, that the account expired.
login expired2 "$UE" Expired-pw4 --auth "pam:$SVC_UNIX"
answer_is expired-refused-pam-unix-stack expired2 3 "$NO"
log_has expired-logged-why expired2 "PASS failed for user=$UE auth=pam: account: account expired"
login lowuid "$ULOW" Low-uid-pw5 "${A[@]}"
answer_is low-uid-refused lowuid 3 "$NO"
log_has low-uid-logged-why lowuid "PASS failed for user=$ULOW auth=pam: uid $LOWUID is below --first-uid 1000"
login lowuid-allowed "$ULOW" Low-uid-pw5 "${A[@]}" --first-uid "$LOWUID"
answer_is low-uid-served-with-lower-first-uid lowuid-allowed 3 "$OK3"
# A failure costs at least the first delay (auth.c's deadline), not
# pam_unix's own random 2 s: PAM_FAIL_DELAY is ours.
start=$(date +%s%N)
login timed "$UY" wrong-again "${A[@]}"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$ms" -ge 500 ] && [ "$ms" -lt 1900 ]; then pass "failure-time-is-pop3d-deadline (${ms} ms)"
else fail failure-time-is-pop3d-deadline "a failed login took $ms ms"; fi

# DELE 1 + QUIT on the default maildrop /var/mail/%u.
crlf "USER $UY" 'PASS Yes-crypt-pw1' 'DELE 1' QUIT | pop dele "${A[@]}"
answer_is dele-login dele 3 "$OK3"
answer_is dele-quit dele 5 '+OK*'
same dele-removed-exactly-message-1 "$T/after-dele1" "/var/mail/$UY"
equal dele-mailbox-owner-mode "$UY:mail 660" "$(stat -c '%U:%G %a' "/var/mail/$UY")"

# ---------------------------- the pre-login process: no root, no shadow

fifo_start pre "$POP3D" -s "${A[@]}"
if await pre 1; then pass pre-greeting; else fail pre-greeting "no greeting"; fi
CHILD=
for _ in $(seq 40); do CHILD=$(pgrep -P "$DRIVEN" | xargs); [ -n "$CHILD" ] && break; sleep 0.05; done
if [ -z "$CHILD" ] || [ "${CHILD// /}" != "$CHILD" ]; then
	fail pre-login-found "children of pop3d $DRIVEN: '$CHILD'"
else
	cat "/proc/$CHILD/status" >"$T/child.status"
	equal pre-login-uid-pop3d "$PU $PU $PU $PU" "$(field "$T/child.status" Uid)"
	equal pre-login-no-capabilities "0000000000000000 0000000000000000" \
		"$(field "$T/child.status" CapEff) $(field "$T/child.status" CapPrm)"
	equal pre-login-root-is-privsep-dir /var/lib/pop3d/empty "$(readlink "/proc/$CHILD/root")"
	if [ -e "/proc/$CHILD/root/etc/shadow" ]; then fail pre-login-no-shadow-in-root "/etc/shadow inside its root"
	else pass pre-login-no-shadow-in-root; fi
	if setpriv --reuid=pop3d --regid="$(id -g pop3d)" --clear-groups cat /etc/shadow >/dev/null 2>&1; then
		fail pre-login-account-cannot-read-shadow "the pop3d account read /etc/shadow"
	else pass pre-login-account-cannot-read-shadow; fi
	# No descriptor beyond 0-2 (the test's fifo and files) is a file
	# (/etc/shadow, ...): sockets and pipes only.
	files=$(cd "/proc/$CHILD/fd" && for fd in *; do [ "$fd" -gt 2 ] && readlink "$fd"; done | grep -vE '^(socket|pipe):|^/dev/null$' | xargs)
	equal pre-login-no-files-open "" "$files"
	equal pre-login-parent-is-root "0 0 0 0" "$(field "/proc/$DRIVEN/status" Uid)"
fi
send "USER $UX" 'PASS Sha-512-pw2'
if await pre 3; then answer_is pre-then-login pre 3 "$OK3"; else fail pre-then-login "no answer: $(tail -n 2 "$T/pre.err" | tr '\n' ' ')"; fi
send QUIT
finish pre
DRIVEN=
survived pre 0

# ------------------------------------------------- xinetd, in root mode

if ! need xinetd xinetd; then
	fail xinetd-installed "xinetd is missing and could not be installed"
else
	XPORT=$(free_port 21700 21749)
	EPORT=$(free_port $((XPORT + 1)) 21749)
	mkdir -p "$T/sbin"
	cat >"$T/sbin/pop3d" <<EOF
#!/bin/sh
"$POP3D" -s "\$@" 2>>"$T/xinetd-pop3d.log"
echo "exit \$?" >>"$T/xinetd-exits"
EOF
	chmod 755 "$T/sbin/pop3d"
	service() {	# NAME PORT PAM-SERVICE
		printf 'service %s\n{\n\ttype = UNLISTED\n\tsocket_type = stream\n\tprotocol = tcp\n\twait = no\n\tuser = root\n' "$1"
		printf '\tport = %s\n\tbind = 127.0.0.1\n\tserver = %s\n\tserver_args = --auth pam:%s\n' "$2" "$T/sbin/pop3d" "$3"
		printf '\tenv = ASAN_OPTIONS=%s UBSAN_OPTIONS=%s\n}\n' "$ASAN_OPTIONS" "$UBSAN_OPTIONS"
	}
	{
		printf 'defaults\n{\n\tlog_type = FILE %s\n}\n' "$T/xinetd.log"
		service pop3pam "$XPORT" "$SVC"
		service pop3pamexec "$EPORT" "$SVC_EXEC"
	} >"$T/xinetd.conf"
	xinetd -dontfork -filelog "$T/xinetd-daemon.log" -f "$T/xinetd.conf" \
		-pidfile "$T/xinetd.pid" 2>"$T/xinetd.err" &
	PIDS+=("$!")
	if wait_listening "$XPORT" && wait_listening "$EPORT"; then
		pass "xinetd-listens ($XPORT, $EPORT)"
		put_mbox "$UX"
		tcp xdele 127.0.0.1 "$XPORT" "USER $UX" 'PASS Sha-512-pw2' 'DELE 1' QUIT
		answer_is xinetd-login xdele 3 "$OK3"
		answer_is xinetd-quit xdele 5 '+OK*'
		same xinetd-dele-removed-exactly-message-1 "$T/after-dele1" "/var/mail/$UX"
		if grep -q "127\.0\.0\.1: login: user=$UX " "$T/xinetd-pop3d.log"; then pass xinetd-log-client
		else fail xinetd-log-client "$(tail -n 3 "$T/xinetd-pop3d.log" 2>/dev/null | tr '\n' ' ')"; fi

		# pam_exec: what PAM knew, from a client at 127.0.0.2.
		put_mbox "$UY"
		rm -f "$T/pamexec.seen"
		tcp xexec 127.0.0.2 "$EPORT" "USER $UY" 'PASS Yes-crypt-pw1' STAT QUIT
		answer_is pam-exec-login xexec 3 "$OK3"
		equal pam-exec-items "127.0.0.2 $UY pop3d $UY 0" "$(cat "$T/pamexec.seen" 2>/dev/null)"
		rm -f "$T/pamexec.seen"
		tcp xexec2 127.0.0.2 "$EPORT" "USER $UY" 'PASS wrong-one' QUIT
		answer_is pam-exec-wrong-refused xexec2 3 "$NO"
		equal pam-exec-items-on-failure "127.0.0.2 $UY pop3d $UY 0" "$(cat "$T/pamexec.seen" 2>/dev/null)"
		for _ in $(seq 40); do [ "$(grep -c '^exit ' "$T/xinetd-exits" 2>/dev/null)" -ge 3 ] && break; sleep 0.05; done
		equal xinetd-pop3d-exits "exit 0 exit 0 exit 0" "$(xargs <"$T/xinetd-exits" 2>/dev/null)"
	else
		fail xinetd-listens "$(cat "$T/xinetd.err" "$T/xinetd-daemon.log" 2>/dev/null | tail -n 5 | tr '\n' ' ')"
	fi
fi

# ---------------------------------------------- a module that hangs

start=$(date +%s)
login hang "$UY" Yes-crypt-pw1 --auth "pam:$SVC_HANG"
secs=$(( $(date +%s) - start ))
answer_is hang-temp-failure hang 3 '-ERR \[SYS/TEMP\]*'
log_has hang-logged-killed hang "PAM check \(service $SVC_HANG\) did not finish within 15 seconds; killed"
if [ "$secs" -ge 14 ] && [ "$secs" -le 20 ]; then pass "hang-bounded (${secs} s)"
else fail hang-bounded "took $secs s"; fi
sleep 0.2
equal hang-no-sleep-left "" "$(pgrep -x -f "/bin/sleep $HANG_SECS" | xargs)"

# ---------------------------------------------------------- sanitizers

hit=$(grep -h -m1 -aE "$SAN_RE" "$T"/*.err "$T/xinetd-pop3d.log" 2>/dev/null | head -n 1)
if [ -z "$hit" ]; then pass no-sanitizer-report; else fail no-sanitizer-report "$hit"; fi
exit 0

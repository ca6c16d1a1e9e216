#!/usr/bin/env bash
# tests/e2e/maildir-rootmode.sh - pop3d started as root (as inetd starts
# it; privilege separation) serving a Maildir in the user's home, owned
# by the user: the session runs as the user (all four uids), login moves
# new/ to cur/, RETR is byte for byte, DELE + QUIT removes exactly that
# file, and nothing in the Maildir belongs to root afterwards (the session
# lock, the moved files; the journal UPDATE writes, caught by killing
# pop3d right after it is created, with tests/faultshim.c).  As rootmode.sh
# does it for an mbox spool.
. "$(dirname "$0")/../lib.sh"
if [ "$(id -u)" != 0 ]; then
	echo "maildir-rootmode.sh needs root; skipped"
	exit 0
fi
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c), and lib.sh gives $T to nobody: root's again.
chown root:root "$T"
cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
# After the switch to the user's ids pop3d is non-dumpable, so
# LeakSanitizer cannot attach to it at exit (see rootmode.sh).
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"

pop() {
	local name=$1; shift
	"$POP3D" "$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}

useradd -M -d /nonexistent -s /usr/sbin/nologin pop3duser1
U1=$(id -u pop3duser1); G1=$(id -g pop3duser1)
HOME1=$T/home/pop3duser1
MD=$HOME1/Maildir
H=$(mkhash secret)
printf 'pop3duser1:%s:%s:%s::%s\n' "$H" "$U1" "$G1" "$HOME1" >"$T/passwd"
chmod 600 "$T/passwd"
POP=(-s -p "$T/passwd" -m 'maildir:%h/Maildir')
LOGIN=('USER pop3duser1' 'PASS secret')

N1=1700000001.M1P1.host
N2=1700000002.M2P2.host
N3=1700000003.M3P3.host
fresh() {
	rm -rf "$T/home"
	mkdir -p "$MD/cur" "$MD/new" "$MD/tmp"
	printf 'Subject: one\n\nbody one\n.dot line\n' >"$MD/cur/$N1:2,S"
	printf 'Subject: two\r\n\r\ncrlf\r\n' >"$MD/cur/$N2:2,"
	printf 'Subject: three\n\nnew mail\n' >"$MD/new/$N3"
	chmod 755 "$T/home"
	chmod -R go-w "$HOME1"
	chown -R "$U1:$G1" "$HOME1"
}
# crlf_of FILE: what RETR sends after "+OK": CRLF line ends, stuffed, ".".
crlf_of() { perl -0777 -pe 's/\r?\n/\r\n/g; $_ .= "\r\n" unless /\r\n\z/; s/^\./../mg; $_ .= ".\r\n"' "$1"; }
# not_users: entries under the home not owned by the user, one a line.
not_users() { find "$HOME1" ! -user "$U1" -printf '%P %u:%g\n'; find "$HOME1" ! -group "$G1" -printf '%P %u:%g\n'; }

# ------------------------------------------ a session as the user

fresh
cp "$MD/cur/$N1:2,S" "$T/m1"
fifo_start s1 "$POP3D" "${POP[@]}"
send "${LOGIN[@]}"
if await s1 3; then
	answer_is login-as-root-started s1 3 '+OK maildrop has 3 messages*'
	equal session-uid-all-four "$U1 $U1 $U1 $U1" "$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "/proc/$DRIVEN/status")"
	equal session-no-capabilities "0000000000000000" "$(awk '$1 == "CapPrm:" { print $2 }' "/proc/$DRIVEN/status")"
else
	fail login-as-root-started "no answer to PASS: $(cat "$T/s1.out" "$T/s1.err" | tr '\n' ' ')"
fi
send "RETR 1" "DELE 1" QUIT
await s1 $((3 + 1 + 5 + 2))
finish s1
equal session-exit-status 0 "$(cat "$T/s1.rc")"
# The size: what is sent less the final ".\r\n" and the one stuffed dot.
{ printf '+OK %s octets\r\n' "$(($(crlf_of "$T/m1" | wc -c) - 3 - 1))"; crlf_of "$T/m1"; } >"$T/r1.exp"
sed -n '4,9p' "$T/s1.out" >"$T/r1.got"
same retr-byte-exact "$T/r1.exp" "$T/r1.got"
equal quit-after-dele "+OK pop3d signing off (2 messages left)" "$(line s1 11)"
(cd "$MD" && find cur new tmp -type f | sort) >"$T/s1.files"
printf '%s\n' "cur/$N2:2," "cur/$N3:2," >"$T/s1.want"
same dele-removes-exactly-that "$T/s1.want" "$T/s1.files"
check session-lock-made sh -c "[ -e '$MD/pop3d-session' ]"
equal nothing-of-root-in-maildir "" "$(not_users | sort -u | tr '\n' ';')"
if grep -qE "$SAN_RE" "$T/s1.err"; then fail s1-sanitizer "$(grep -m1 -E "$SAN_RE" "$T/s1.err")"; else pass s1-sanitizer; fi

# --------------------------- the journal UPDATE writes is the user's

# FAULT_AT counts file operations (tests/faultshim.c); the kill right
# after each, one run per operation, leaves whatever UPDATE had made so
# far, the journal among it at some point.
FAULT_ASAN="${ASAN_OPTIONS}:verify_asan_link_order=0"
cc -shared -fPIC -O1 -o "$T/faultshim.so" "$TOP/tests/faultshim.c" -ldl
fresh
crlf "${LOGIN[@]}" "DELE 1" "DELE 3" QUIT >"$T/kill.in"
env ASAN_OPTIONS="$FAULT_ASAN" LD_PRELOAD="$T/faultshim.so" FAULT_AT=0 \
	FAULT_COUNT_FILE="$T/kill.count" "$POP3D" "${POP[@]}" <"$T/kill.in" >/dev/null 2>&1
total=$(tr -dc 0-9 <"$T/kill.count")
rootowned=0 journals=0
for n in $(seq 1 "${total:-0}"); do
	fresh
	env ASAN_OPTIONS="$FAULT_ASAN" LD_PRELOAD="$T/faultshim.so" FAULT_AT="$n" FAULT_WHEN=after \
		"$POP3D" "${POP[@]}" <"$T/kill.in" >/dev/null 2>&1
	ls -A "$MD" | grep -q '^pop3d-journal' && journals=$((journals + 1))
	bad=$(not_users | sort -u | tr '\n' ';')
	[ -n "$bad" ] && { rootowned=$((rootowned + 1)); echo "kill after operation $n: $bad"; }
done 2>/dev/null
check kill-runs-saw-the-journal sh -c "[ $journals -gt 0 ]"
equal kill-at-every-step-nothing-of-root 0 "$rootowned"
# After the last kill, the next login (as root-started) recovers as the
# user too.
crlf "${LOGIN[@]}" STAT QUIT | pop rec "${POP[@]}"
equal recovered-no-journal "" "$(ls -A "$MD" | grep '^pop3d-journal')"
equal recovered-nothing-of-root "" "$(not_users | sort -u | tr '\n' ';')"
exit 0

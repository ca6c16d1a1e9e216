#!/usr/bin/env bash
# tests/e2e/logging.sh - what users and administrators read: "1 message",
# not "1 messages", wherever a count is shown; AUTH PLAIN failures logged
# as AUTH PLAIN; plaintext refusals logged; and one logout line for every
# way a session ends (QUIT, end of file, idle timeout, too many failed
# logins, too many bad commands, a signal), with why.
. "$(dirname "$0")/../lib.sh"

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
mkdir "$T/mail"
own "$T/passwd" "$T/mail"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")
M1=$'From a@example.org Mon Jan  1 10:00:00 2024\nSubject: one\n\nbody\n'
M2=$'\nFrom a@example.org Mon Jan  1 10:00:00 2024\nSubject: two\n\nbody\n'
# mail N: alice's maildrop with N messages (0, 1 or 2).
mail() {
	case $1 in
	0) : ;;
	1) printf '%s' "$M1" ;;
	2) printf '%s%s' "$M1" "$M2" ;;
	esac >"$T/mail/alice"
	own "$T/mail/alice"; chmod 600 "$T/mail/alice"
}
S1=22	# "Subject: one\r\n\r\nbody\r\n"
# logged CHECK NAME TEXT: session NAME's log has a line containing TEXT.
logged() {
	if grep -qF -- "$3" "$T/$2.err"; then pass "$1"
	else fail "$1" "no log line with '$3': $(tr '\n' '|' <"$T/$2.err" | tail -c 300)"; fi
}
# line NAME N: line N of session NAME's output, without the CR.

# ------------------------------------------------------------ plurals
mail 1
crlf 'USER alice' 'PASS secret' LIST 'DELE 1' RSET QUIT | pop one "${POP[@]}"
exited one
equal one-greeting "+OK maildrop has 1 message ($S1 octets)" "$(line one 3)"
equal one-list "+OK 1 message ($S1 octets)" "$(line one 4)"
equal one-rset "+OK maildrop has 1 message ($S1 octets)" "$(line one 8)"
equal one-quit "+OK pop3d signing off (1 message left)" "$(line one 9)"
mail 2
crlf 'USER alice' 'PASS secret' 'DELE 1' LIST QUIT | pop two "${POP[@]}"
equal two-greeting "+OK maildrop has 2 messages ($((2 * S1)) octets)" "$(line two 3)"
equal two-list-after-dele "+OK 1 message ($S1 octets)" "$(line two 5)"
equal two-quit "+OK pop3d signing off (1 message left)" "$(line two 8)"
mail 0
crlf 'USER alice' 'PASS secret' LIST QUIT | pop zero "${POP[@]}"
equal zero-greeting "+OK maildrop has 0 messages (0 octets)" "$(line zero 3)"
equal zero-quit "+OK pop3d signing off (0 messages left)" "$(line zero 6)"

# ------------------------------------------------ what the log says
mail 2
# A failed AUTH PLAIN is an AUTH PLAIN failure, not a PASS one.
crlf "AUTH PLAIN $(printf '\0alice\0wrong' | base64)" QUIT | pop plain-fail "${POP[@]}"
logged auth-plain-failure-logged plain-fail 'AUTH PLAIN failed for user=alice'
if grep -q 'PASS failed' "$T/plain-fail.err"; then fail auth-plain-not-pass "logged as PASS"
else pass auth-plain-not-pass; fi

# Plaintext logins refused without TLS are logged, each command by name.
crlf 'USER alice' 'PASS secret' "AUTH PLAIN $(printf '\0alice\0secret' | base64)" QUIT |
	pop refuse-tls "${POP[@]}" -L tls
logged user-refusal-logged refuse-tls 'USER refused: plaintext login only over TLS'
logged plain-refusal-logged refuse-tls 'AUTH PLAIN refused: plaintext login only over TLS'
crlf 'USER alice' QUIT | pop refuse-never "${POP[@]}" -L never
logged never-refusal-logged refuse-never 'USER refused: plaintext login is disabled'

# One logout line for every end, with why.
crlf 'USER alice' 'PASS secret' 'RETR 1' 'DELE 2' QUIT | pop end-quit "${POP[@]}"
logged logout-quit end-quit 'logout: user=alice auth=pass tls=none retr=1/22 top=0/0 dele=1/22 left=1 time='
logged logout-quit-why end-quit ' end=quit'
mail 2
crlf 'USER alice' 'PASS secret' 'RETR 1' 'DELE 2' | pop end-eof "${POP[@]}"
logged logout-eof end-eof 'logout: user=alice auth=pass tls=none retr=1/22 top=0/0 dele=0/0 left=2 time='
logged logout-eof-why end-eof ' end=eof'
crlf 'USER alice' | pop end-eof-auth "${POP[@]}"
logged logout-eof-before-login end-eof-auth 'logout: user=none auth=none tls=none retr=0/0 top=0/0 dele=0/0 left=0 time='
logged logout-eof-before-login-why end-eof-auth ' end=eof'
{ crlf 'USER alice' 'PASS secret'; sleep 2; } | pop end-timeout "${POP[@]}" -t 1
logged logout-timeout end-timeout 'logout: user=alice auth=pass tls=none retr=0/0 top=0/0 dele=0/0 left=2 time='
logged logout-timeout-why end-timeout ' end=timeout'
for i in 1 2 3 4 5 6 7 8 9 10; do crlf BOGUS; done | pop end-bad "${POP[@]}"
logged logout-bad-commands end-bad 'too many bad commands before login (10); closing the connection'
logged logout-bad-commands-why end-bad ' end=badcmd'
crlf 'USER alice' 'PASS a' 'USER alice' 'PASS b' 'USER alice' 'PASS c' | pop end-fail "${POP[@]}"
logged logout-auth-failures end-fail 'too many authentication failures (3); closing the connection'
logged logout-auth-failures-why end-fail ' end=limit'

# A signal (SIGTERM from the super-server or systemd) while the session
# waits for the client: the session ends through its exit and logs.
{ crlf 'USER alice' 'PASS secret'; sleep 3; } | pop end-signal "${POP[@]}" &
bg=$!
pid=
for _ in $(seq 1 50); do
	pid=$(sed -n 's/^pop3d\[\([0-9]*\)\]: .*login: user=alice.*/\1/p' "$T/end-signal.err" 2>/dev/null | head -n 1)
	[ -n "$pid" ] && break
	sleep 0.1
done
if [ -n "$pid" ]; then
	kill -TERM "$pid"
	wait "$bg"
	logged logout-signal end-signal ' end=signal'
	exited end-signal
else
	wait "$bg"
	fail logout-signal "the session never logged in: $(tr '\n' '|' <"$T/end-signal.err")"
fi

#!/usr/bin/env bash
# tests/e2e/fail2ban.sh - the shipped fail2ban filter against real pop3d
# lines: every kind of failure (wrong password, unknown user, a locked
# entry, PAM-locked and expired accounts, AUTH PLAIN and malformed SASL,
# APOP, plaintext logins refused by -L tls, the failure limit, too many
# bad commands, a failed TLS handshake, root mode; the PROXY header line
# of issue 15 as a synthetic line) matches with the client's address, each
# from its own address; successful logins and logout lines never match;
# user names that name another address never match it.  Then a real ban:
# fail2ban-server with a private configuration, a polling jail on a test
# log and an action that writes the banned address to a file bans exactly
# the address that failed maxretry times.
. "$(dirname "$0")/../lib.sh"

command -v fail2ban-regex >/dev/null 2>&1 || sh "$TOP/tests/apt-install.sh" fail2ban >/dev/null 2>&1
if ! command -v fail2ban-regex >/dev/null 2>&1 || ! command -v fail2ban-server >/dev/null 2>&1; then
	fail fail2ban-installed "fail2ban-regex or fail2ban-server missing"
	exit 0
fi
F2B_PID=
cleanup() {
	[ -n "$F2B_PID" ] && fail2ban-client -c "$T/f2b" -s "$T/f2b.sock" stop >/dev/null 2>&1
	[ -n "$F2B_PID" ] && kill "$F2B_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# The filter as shipped, beside fail2ban's own common.conf it includes.
mkdir -p "$T/f2b/filter.d" "$T/f2b/action.d" "$T/f2b/jail.d"
cp /etc/fail2ban/filter.d/common.conf "$T/f2b/filter.d/"
cp "$TOP/fail2ban/filter.d/pop3d.conf" "$T/f2b/filter.d/pop3d.conf"
FILTER=$T/f2b/filter.d/pop3d.conf

H=$(mkhash secret)
{ printf 'alice:%s\n' "$H"; printf 'locked:!%s\n' "$H"; } >"$T/passwd"
printf 'alice:apopsecret\n' >"$T/apop"; chmod 600 "$T/apop"
mkdir "$T/mail"; : >"$T/mail/alice"; chmod 600 "$T/mail/alice" "$T/passwd"
own "$T/passwd" "$T/mail" "$T/mail/alice" "$T/apop"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-keyout "$T/key.pem" -out "$T/cert.pem" >"$T/req.log" 2>&1 || fail cert-made "$(tail -n 1 "$T/req.log")"
chmod 600 "$T/key.pem"; own "$T/key.pem" "$T/cert.pem"

: >"$T/all.err"
# as ADDR NAME ARGS...: a pipe session from client ADDR (TCPREMOTEIP);
# its log is appended to all.err.
as() {
	local addr=$1 name=$2; shift 2
	TCPREMOTEIP=$addr run_pop3d "$@" >"$T/$name.out" 2>"$T/$name.err"
	cat "$T/$name.err" >>"$T/all.err"
}
b64() { printf "$1" | base64 -w0; }

crlf 'USER alice' 'PASS wrong' QUIT | as 10.9.0.1 wrongpass "${POP[@]}"
crlf 'USER nosuchuser' 'PASS secret' QUIT | as 10.9.0.2 unknown "${POP[@]}"
crlf 'USER locked' 'PASS secret' QUIT | as 10.9.0.3 lockedentry "${POP[@]}"
crlf "AUTH PLAIN $(b64 '\0alice\0wrong')" QUIT | as 10.9.0.4 plainwrong "${POP[@]}"
crlf 'AUTH PLAIN !!!!' QUIT | as 10.9.0.5 plainb64 "${POP[@]}"
crlf "AUTH PLAIN $(b64 'alice')" QUIT | as 10.9.0.6 plainsyntax "${POP[@]}"
crlf 'APOP alice 0123456789abcdef0123456789abcdef' QUIT | as 10.9.0.7 apop "${POP[@]}" -a "$T/apop"
crlf 'USER alice' 'PASS secret' QUIT | as 10.9.0.8 plaintext-user "${POP[@]}" -L tls -c "$T/cert.pem" -k "$T/key.pem"
crlf "AUTH PLAIN $(b64 '\0alice\0secret')" QUIT | as 10.9.0.9 plaintext-auth "${POP[@]}" -L tls -c "$T/cert.pem" -k "$T/key.pem"
crlf 'USER alice' 'PASS a' 'USER alice' 'PASS b' 'USER alice' 'PASS c' | as 10.9.0.10 limit "${POP[@]}"
for _ in $(seq 10); do crlf BOGUS; done | as 10.9.0.11 badcmds "${POP[@]}"
crlf 'USER alice' | as 10.9.0.12 tlsfail "${POP[@]}" -S -c "$T/cert.pem" -k "$T/key.pem"
crlf 'AUTH LOGIN' "$(b64 alice)" "$(b64 wrong)" QUIT | as 10.9.0.13 loginwrong "${POP[@]}"
crlf 'AUTH CRAM-MD5' "$(b64 'alice 0123')" QUIT | as 10.9.0.14 crammalformed "${POP[@]}" -a "$T/apop"
# What must never match: a good login, its logout, the client's own
# cancel and an unknown mechanism; and names that name other addresses.
crlf 'USER alice' 'PASS secret' 'STAT' QUIT | as 10.9.0.20 good "${POP[@]}"
crlf 'AUTH PLAIN' '*' 'AUTH LOGIN' '*' 'AUTH CRAM-MD5' QUIT | as 10.9.0.21 cancel "${POP[@]}"
crlf 'USER 10.9.9.1:' 'PASS x' "AUTH PLAIN $(b64 '\0x from 10.9.9.2\0y')" \
	"AUTH PLAIN $(b64 '\010.9.9.3: PASS failed for user=z auth=file\0y')" | as 10.9.0.30 hostile "${POP[@]}"
# Root mode: the check in the parent, the limit in the pre-login process.
ROOT=no
if [ "$(id -u)" = 0 ] && id pop3d >/dev/null 2>&1 && [ -d /var/empty ]; then
	ROOT=yes
	mkdir "$T/rt"; chown root:root "$T" "$T/rt"
	printf 'alice:%s:65534:65534::/nonexistent\n' "$H" >"$T/rt/passwd"; chmod 600 "$T/rt/passwd"
	crlf 'USER alice' 'PASS a' 'USER alice' 'PASS b' 'USER alice' 'PASS c' |
		TCPREMOTEIP=10.9.0.40 "$POP3D" -s -p "$T/rt/passwd" -m "$T/mail/%u" >"$T/root.out" 2>"$T/root.err"
	cat "$T/root.err" >>"$T/all.err"
	# PAM: a locked and an expired system account (pam_unix).
	for u in pop3df2block pop3df2bexp; do
		useradd -M -d /nonexistent -s /usr/sbin/nologin "$u"
		echo "$u:secret" | chpasswd
	done
	usermod -L pop3df2block; chage -E 0 pop3df2bexp
	crlf 'USER pop3df2block' 'PASS secret' QUIT | TCPREMOTEIP=10.9.0.41 "$POP3D" -s --auth pam -m "$T/mail/%u" >"$T/pamlock.out" 2>"$T/pamlock.err"
	crlf 'USER pop3df2bexp' 'PASS secret' QUIT | TCPREMOTEIP=10.9.0.42 "$POP3D" -s --auth pam -m "$T/mail/%u" >"$T/pamexp.out" 2>"$T/pamexp.err"
	cat "$T/pamlock.err" "$T/pamexp.err" >>"$T/all.err"
fi
# Issue 15's PROXY protocol is not built yet: its line, as it will be.
printf 'pop3d[4242]: 10.9.0.50: PROXY header refused: no PROXY signature\n' >>"$T/all.err"

# As syslog writes them to /var/log/mail.log: the traditional format and
# Debian 12's rsyslog default (RFC 3339), alternately.
awk '/^pop3d\[[0-9]+\]: / { print (NR % 2 ? "Dec  3 12:00:00 mailhost " : "2024-12-03T12:00:00.123456+00:00 mailhost ") $0 }' \
	"$T/all.err" >"$T/mail.log"
fail2ban-regex -r -o '<ip>|<msg>' "$T/mail.log" "$FILTER" >"$T/matches" 2>"$T/regex.err" ||
	fail fail2ban-regex-runs "$(tail -n 2 "$T/regex.err" | tr '\n' ' ')"

# matched CHECK ADDR TEXT: a line from ADDR containing TEXT matched, for
# ADDR.
matched() {
	if grep -qF -- "$2|" "$T/matches" && grep -F -- "$2|" "$T/matches" | grep -qF -- ": $2: $3"; then pass "$1"
	else fail "$1" "no match for $2 with '$3'; its lines: $(grep -F ": $2: " "$T/mail.log" | cut -c1-160 | tr '\n' '|')"; fi
}
matched f2b-wrong-password 10.9.0.1 'PASS failed for user=alice auth=file'
matched f2b-unknown-user 10.9.0.2 'PASS failed for user=nosuchuser auth=file'
matched f2b-locked-entry 10.9.0.3 'PASS failed for user=locked auth=file'
matched f2b-auth-plain 10.9.0.4 'AUTH PLAIN failed for user=alice'
matched f2b-sasl-base64 10.9.0.5 'AUTH PLAIN failed: invalid base64'
matched f2b-sasl-malformed 10.9.0.6 'AUTH PLAIN failed: malformed credentials'
matched f2b-apop 10.9.0.7 'APOP failed for user=alice'
matched f2b-auth-login 10.9.0.13 'AUTH LOGIN failed for user=alice auth=file'
matched f2b-sasl-cram-malformed 10.9.0.14 'AUTH CRAM-MD5 failed: malformed credentials'
# (PASS after a refused USER is "give USER first": nothing to refuse.)
matched f2b-plaintext-user 10.9.0.8 'USER refused: plaintext login'
matched f2b-plaintext-auth 10.9.0.9 'AUTH PLAIN refused: plaintext login'
matched f2b-limit 10.9.0.10 'too many authentication failures'
matched f2b-bad-commands 10.9.0.11 'too many bad commands before login'
matched f2b-tls-handshake 10.9.0.12 'TLS handshake failed'
matched f2b-proxy-header 10.9.0.50 'PROXY header refused: '
if [ "$ROOT" = yes ]; then
	matched f2b-root-wrong-password 10.9.0.40 'PASS failed for user=alice'
	matched f2b-root-limit 10.9.0.40 'too many authentication failures'
	matched f2b-pam-locked 10.9.0.41 'PASS failed for user=pop3df2block auth=pam'
	matched f2b-pam-expired 10.9.0.42 'PASS failed for user=pop3df2bexp auth=pam'
else
	echo "root mode and PAM lines need root and the account pop3d; skipped"
fi
equal f2b-failures-counted-once-limit-session 4 "$(grep -c '^10\.9\.0\.10|' "$T/matches")"
equal f2b-no-match-good-login "" "$(grep '^10\.9\.0\.20|' "$T/matches")"
equal f2b-no-match-cancel-or-mechanism "" "$(grep '^10\.9\.0\.21|' "$T/matches")"
equal f2b-no-match-logout-line "" "$(grep -F ': logout: ' "$T/matches")"
equal f2b-no-match-login-line "" "$(grep -F ': login: ' "$T/matches")"
equal f2b-no-injected-address "" "$(grep '^10\.9\.9\.' "$T/matches")"
# The hostile session's own failures are its address's.
equal f2b-hostile-names-match-sender 3 "$(grep -c '^10\.9\.0\.30|' "$T/matches")"
# Every matched line's address is the CLIENT field of that line.
equal f2b-address-is-client-field "" "$(awk -F'|' '{ if (index($2, "]: " $1 ": ") == 0) print }' "$T/matches")"
# The logout lines are there to be missed.
if grep -q 'logout: ' "$T/mail.log"; then pass f2b-logout-lines-present; else fail f2b-logout-lines-present "no logout line in the input"; fi

# ------------------------------------------------ a real ban
# fail2ban-server on a private directory: the jail on a test log,
# backend polling, an action that appends the banned address to a file.
cat >"$T/f2b/fail2ban.conf" <<EOF2
[Definition]
loglevel = INFO
logtarget = $T/f2b.log
socket = $T/f2b.sock
pidfile = $T/f2b.pid
dbfile = :memory:
EOF2
cat >"$T/f2b/action.d/record.conf" <<EOF2
[Definition]
actionstart =
actionstop =
actioncheck =
actionban = echo <ip> >> $T/banned
actionunban =
EOF2
cat >"$T/f2b/jail.conf" <<EOF2
[DEFAULT]
[pop3d]
enabled = true
filter = pop3d
backend = polling
logpath = $T/live.log
maxretry = 3
findtime = 1h
bantime = 1h
action = record
EOF2
: >"$T/live.log"; : >"$T/banned"
fail2ban-server -c "$T/f2b" -s "$T/f2b.sock" -p "$T/f2b.pid" -x -f >"$T/f2b.out" 2>&1 &
F2B_PID=$!
up=no
for _ in $(seq 100); do
	fail2ban-client -c "$T/f2b" -s "$T/f2b.sock" status pop3d >/dev/null 2>&1 && { up=yes; break; }
	sleep 0.1
done
if [ "$up" = yes ]; then
	pass f2b-server-started
	# Date as syslog writes it now; maxretry 3 failures from 10.9.1.1,
	# 2 from 10.9.1.2 and a good login from 10.9.1.3.
	live() { sed "s/^/$(date '+%b %e %H:%M:%S') mailhost /" "$1" >>"$T/live.log"; }
	crlf 'USER alice' 'PASS x' 'USER alice' 'PASS y' QUIT | as 10.9.1.2 live2 "${POP[@]}"
	live "$T/live2.err"
	crlf 'USER alice' 'PASS secret' QUIT | as 10.9.1.3 live3 "${POP[@]}"
	live "$T/live3.err"
	crlf 'USER alice' 'PASS x' 'USER alice' 'PASS y' | as 10.9.1.1 live1a "${POP[@]}"
	live "$T/live1a.err"
	crlf 'USER alice' 'PASS z' QUIT | as 10.9.1.1 live1b "${POP[@]}"
	live "$T/live1b.err"
	for _ in $(seq 100); do [ -s "$T/banned" ] && break; sleep 0.1; done
	sleep 1.5	# a second poll: nobody else may be banned
	equal f2b-bans-exactly-the-failing-address "10.9.1.1" "$(sort -u "$T/banned" | xargs)"
	case $(fail2ban-client -c "$T/f2b" -s "$T/f2b.sock" status pop3d 2>&1) in
	*"Banned IP list:"*10.9.1.1*) pass f2b-status-lists-ban ;;
	*) fail f2b-status-lists-ban "$(fail2ban-client -c "$T/f2b" -s "$T/f2b.sock" status pop3d 2>&1 | tr '\n' ' ')" ;;
	esac
	fail2ban-client -c "$T/f2b" -s "$T/f2b.sock" stop >/dev/null 2>&1
	wait "$F2B_PID" 2>/dev/null
	F2B_PID=
else
	fail f2b-server-started "$(tail -n 5 "$T/f2b.out" "$T/f2b.log" 2>/dev/null | tr '\n' ' ')"
fi
exit 0

#!/usr/bin/env bash
# tests/e2e/logout.sh - exactly one logout line at every end of a session,
# in the fixed format of pop3d(8) LOGGING:
#   logout: user=U auth=A tls=T retr=N/B top=N/B dele=N/B left=N time=S.MMMs end=E
# QUIT after RETR, TOP and DELE (exact counts and bytes), end of file, the
# idle timeout, the failure limit, too many bad commands, a signal, a
# failed and a working TLS session (its version), and in root mode a
# session that never logged in, one that did, one at the failure limit and
# one that timed out before a login: one line each, from one process.
. "$(dirname "$0")/../lib.sh"

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
mkdir "$T/mail"
own "$T/passwd" "$T/mail"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")
FROM='From a@example.org Mon Jan  1 10:00:00 2024'
# Sizes as sent (CRLF): 22, 26 and 32 octets; TOP 2 0 sends 16.
mail() {
	printf '%s\nSubject: one\n\nbody\n\n%s\nSubject: two\n\nbody two\n\n%s\nSubject: three\n\nline1\nline2\n' \
		"$FROM" "$FROM" "$FROM" >"$T/mail/alice"
	own "$T/mail/alice"; chmod 600 "$T/mail/alice"
}
# logout_is CHECK NAME ERE: NAME's log has exactly one logout line, and
# it matches ^...logout: ERE$ (the time field is checked for its form).
T_RE='time=[0-9]+\.[0-9]{3}s'
logout_is() {
	local n got
	n=$(grep -c 'logout: ' "$T/$2.err")
	got=$(grep 'logout: ' "$T/$2.err" | head -n 1)
	if [ "$n" != 1 ]; then fail "$1" "$n logout lines: $(grep 'logout: ' "$T/$2.err" | tr '\n' '|')"
	elif printf '%s\n' "$got" | grep -qE "^pop3d\[[0-9]+\]: [^ ]+: logout: $3\$"; then pass "$1"
	else fail "$1" "got '$got', expected 'logout: $3'"; fi
}
NONE="user=none auth=none tls=none retr=0/0 top=0/0 dele=0/0 left=0 $T_RE"

# ------------------------------------------------ unprivileged sessions
mail
crlf 'USER alice' 'PASS secret' 'RETR 1' 'RETR 3' 'TOP 2 0' 'DELE 1' 'DELE 3' QUIT | pop quit "${POP[@]}"
exited quit
logout_is logout-quit-counts quit "user=alice auth=pass tls=none retr=2/54 top=1/16 dele=2/54 left=1 $T_RE end=quit"

mail
crlf 'USER alice' 'PASS secret' 'RETR 2' 'DELE 1' | pop eof "${POP[@]}"
logout_is logout-eof-nothing-deleted eof "user=alice auth=pass tls=none retr=1/26 top=0/0 dele=0/0 left=3 $T_RE end=eof"

crlf "AUTH PLAIN $(printf '\0alice\0secret' | base64)" 'TOP 1 1' QUIT | pop plain "${POP[@]}"
logout_is logout-auth-plain plain "user=alice auth=plain tls=none retr=0/0 top=1/22 dele=0/0 left=3 $T_RE end=quit"

crlf QUIT | pop quit-auth "${POP[@]}"
logout_is logout-quit-before-login quit-auth "$NONE end=quit"

{ crlf 'USER alice' 'PASS secret'; sleep 2.5; } | pop timeout "${POP[@]}" -t 1
logout_is logout-idle-timeout timeout "user=alice auth=pass tls=none retr=0/0 top=0/0 dele=0/0 left=3 time=1\.[0-9]{3}s end=timeout"

crlf 'USER alice' 'PASS a' 'USER alice' 'PASS b' 'USER alice' 'PASS c' 'USER alice' | pop limit "${POP[@]}"
logout_is logout-failure-limit limit "$NONE end=limit"

for _ in $(seq 10); do crlf BOGUS; done | pop bad "${POP[@]}"
logout_is logout-bad-commands bad "$NONE end=badcmd"

# SIGTERM while the session waits for the client.
fifo_start sig "${RUNAS[@]}" "$POP3D" "${POP[@]}"
send 'USER alice' 'PASS secret'
# (the fifo stays open until the signal has had time to arrive)
if await sig 3; then kill -TERM "$DRIVEN"; sleep 0.5; fi
finish sig
logout_is logout-signal sig "user=alice auth=pass tls=none retr=0/0 top=0/0 dele=0/0 left=3 $T_RE end=signal"

# ------------------------------------------------ TLS
if openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-keyout "$T/key.pem" -out "$T/cert.pem" >"$T/req.log" 2>&1; then
	chmod 600 "$T/key.pem"; own "$T/key.pem" "$T/cert.pem"
	# tls_run NAME MODE ARGS...: pop3d on one end of a socket pair; the
	# other end does a TLS login (MODE ok) or sends plain text (bad).
	tls_run() {
		local name=$1 mode=$2; shift 2
		python3 - "$mode" "$T/cert.pem" "$@" >"$T/$name.out" 2>"$T/$name.err" <<'PY'
import socket, ssl, subprocess, sys
mode, ca, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
a, b = socket.socketpair()
p = subprocess.Popen(cmd, stdin=b, stdout=b, stderr=sys.stderr)
b.close()
a.settimeout(20)
if mode == "bad":
    a.sendall(b"USER alice\r\n")
    a.shutdown(socket.SHUT_WR)
    while a.recv(4096):
        pass
else:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    s = ctx.wrap_socket(a, server_hostname="localhost")
    f = s.makefile("rwb")
    f.readline()
    for c in (b"USER alice", b"PASS secret", b"RETR 1", b"QUIT"):
        f.write(c + b"\r\n"); f.flush()
    while f.readline():
        pass
sys.exit(p.wait())
PY
		echo $? >"$T/$name.rc"
	}
	mail
	tls_run tls-ok ok "${RUNAS[@]}" "$POP3D" "${POP[@]}" -S -c "$T/cert.pem" -k "$T/key.pem"
	logout_is logout-tls-version tls-ok "user=alice auth=pass tls=TLSv1\.3 retr=1/22 top=0/0 dele=0/0 left=3 $T_RE end=quit"
	tls_run tls-bad bad "${RUNAS[@]}" "$POP3D" "${POP[@]}" -S -c "$T/cert.pem" -k "$T/key.pem"
	logout_is logout-tls-handshake-failed tls-bad "$NONE end=tls"
	log_has tls-handshake-failure-one-line tls-bad ': TLS handshake failed: '
	equal tls-handshake-failure-exactly-one 1 "$(grep -c 'TLS handshake' "$T/tls-bad.err")"
else
	fail cert-made "openssl req: $(tail -n 2 "$T/req.log" | tr '\n' ' ')"
fi

# ------------------------------------------------ root mode
# pop3d started as root: the pre-login process (account pop3d, chroot
# /var/empty) and the privileged parent; one line per session.
if [ "$(id -u)" = 0 ] && id pop3d >/dev/null 2>&1 && [ -d /var/empty ]; then
	useradd -M -d /nonexistent -s /usr/sbin/nologin pop3dlogout1
	RT=$T/rt; mkdir "$RT"; chown root:root "$T" "$RT"
	printf 'pop3dlogout1:%s:%s:%s::/nonexistent\n' "$H" "$(id -u pop3dlogout1)" "$(id -g pop3dlogout1)" >"$RT/passwd"
	chmod 600 "$RT/passwd"
	mkdir "$RT/mail"; chmod 755 "$RT/mail"
	mail; mv "$T/mail/alice" "$RT/mail/pop3dlogout1"; chown pop3dlogout1 "$RT/mail/pop3dlogout1"
	chmod 777 "$RT/mail"	# the user's lock and journal; test only
	RPOP=(-s -g none -p "$RT/passwd" -m "$RT/mail/%u")
	rpop() { local name=$1; shift; "$POP3D" "$@" >"$T/$name.out" 2>"$T/$name.err"; echo $? >"$T/$name.rc"; }
	crlf QUIT | rpop root-nologin "${RPOP[@]}"
	logout_is logout-root-no-login root-nologin "$NONE end=quit"
	crlf 'USER pop3dlogout1' 'PASS secret' 'RETR 1' 'DELE 2' QUIT | rpop root-login "${RPOP[@]}"
	logout_is logout-root-login root-login "user=pop3dlogout1 auth=pass tls=none retr=1/22 top=0/0 dele=1/26 left=2 $T_RE end=quit"
	crlf 'USER x' 'PASS a' 'USER x' 'PASS b' 'USER x' 'PASS c' | rpop root-limit "${RPOP[@]}"
	logout_is logout-root-limit root-limit "$NONE end=limit"
	{ crlf 'USER x'; sleep 2.5; } | rpop root-timeout "${RPOP[@]}" -t 1
	logout_is logout-root-prelogin-timeout root-timeout "$NONE end=timeout"
	crlf 'USER pop3dlogout1' 'PASS secret' | rpop root-eof "${RPOP[@]}"
	logout_is logout-root-eof-after-login root-eof "user=pop3dlogout1 auth=pass tls=none retr=0/0 top=0/0 dele=0/0 left=2 $T_RE end=eof"
	# The pre-login process's line comes from the parent (its pid is
	# the one of the first line), not from the process itself.
	first=$(sed -n '1s/^pop3d\[\([0-9]*\)\].*/\1/p' "$T/root-limit.err")
	lpid=$(sed -n 's/^pop3d\[\([0-9]*\)\]: .*logout: .*/\1/p' "$T/root-limit.err")
	fpid=$(sed -n 's/^pop3d\[\([0-9]*\)\]: .*PASS failed.*/\1/p' "$T/root-limit.err" | head -n 1)
	if [ -n "$lpid" ] && [ "$lpid" = "$fpid" ]; then pass logout-root-by-parent
	else fail logout-root-by-parent "logout from pid $lpid, checks in $fpid (first line $first)"; fi
else
	echo "root mode checks need root, the account pop3d and /var/empty; skipped"
fi
exit 0

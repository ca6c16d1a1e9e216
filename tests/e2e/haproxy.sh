#!/usr/bin/env bash
# tests/e2e/haproxy.sh - pop3d behind a real HAProxy (issue 15), as the
# README's "Scaling out" section sets it up: HAProxy in TCP mode, run here
# in the foreground with the README's own block (tests/haproxy-config.sh:
# only addresses, ports and the check interval changed), in front of two
# pop3d hosts A ("mx1") and B ("mx2"), each a UTS namespace of its own
# with its host name when unshare --uts works here, each with a POP3 and a
# POP3S listener under systemd-socket-activate (--accept --inetd, as
# pop3d.socket), pop3d started as root (privilege separation, the real
# deployment) with proxy-from = 127.0.0.1 in its settings file, one spool
# for both.  Besides the README's frontends the test's HAProxy has one
# port per host: A reached with send-proxy (version 1), B with
# send-proxy-v2, so that a session goes where the check needs it.
# Clients connect from loopback addresses other than HAProxy's own
# (127.0.0.2 and up); HAProxy reaches pop3d from 127.0.0.1.  Checked:
#  - HAProxy's health checks (a POP3 session ending with QUIT, through
#    the PROXY header: v1, and v2's LOCAL) find every server up; each is
#    logged under the balancer's address, never as a failure, never as a
#    bad header;
#  - the README's frontends spread sessions over both hosts, POP3 and
#    POP3S; a session reaches the host its port names (the APOP timestamp
#    in the greeting carries the host name);
#  - the log lines (TLS, login, logout, failures) name the client's
#    address, never 127.0.0.1; fail2ban-regex with the shipped filter
#    finds the wrong passwords of the clients that sent them, through v1
#    and v2, a forged PROXY line sent straight to pop3d by the address
#    that sent it (not the one it names), and nothing else;
#  - a second session for a user through the other host while the first
#    is in TRANSACTION gets -ERR [IN-USE];
#  - DELE + QUIT through both hosts while procmail delivers into the same
#    mbox loses nothing: every delivery present once, every deletion gone;
#  - implicit TLS passes through HAProxy (openssl s_client logs in);
#  - every pop3d exited 0 (1 where root mode refused a busy maildrop)
#    without a sanitizer report, and nothing the test started is left
#    running when it is done.
# KEEP_T=DIR copies the scratch directory (logs, HAProxy's configuration)
# to DIR at exit, for a look after a failure.
. "$(dirname "$0")/../lib.sh"
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c), and lib.sh gives $T to nobody: root's again.
[ "$(id -u)" = 0 ] && chown root:root "$T"

# A copy: a rebuild during the run must not mix two binaries.
cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
SAN_RE='runtime error|AddressSanitizer|LeakSanitizer'
# After the switch to the user's ids pop3d is non-dumpable, so
# LeakSanitizer cannot attach to it at exit ("fatal error", status 99).
# Leaks are checked by the unprivileged suites; all else stays on here.
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "${KEEP_T:-}" ] && cp -a "$T" "$KEEP_T"; rm -rf "$T"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then
	echo "haproxy.sh needs root (pop3d in root mode, unshare, packages); skipped"
	exit 0
fi

# need COMMAND PACKAGE: installs PACKAGE when COMMAND is missing.  No
# service may start from it (the system's haproxy is never used here):
# a policy-rc.d that forbids starts, while none is there.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	local own=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own=1
	fi
	sh "$TOP/tests/apt-install.sh" "$2" >/dev/null 2>&1
	[ -n "$own" ] && rm -f /usr/sbin/policy-rc.d
	command -v "$1" >/dev/null 2>&1
}
for dep in haproxy:haproxy systemd-socket-activate:systemd fail2ban-regex:fail2ban \
	procmail:procmail openssl:openssl python3:python3; do
	if ! need "${dep%%:*}" "${dep#*:}"; then
		fail "deps-${dep%%:*}" "${dep%%:*} missing and apt-get could not install ${dep#*:}"
		exit 0
	fi
done
HAPROXY=$(command -v haproxy)

# Ports come from 21750-21799, each one found free and above the last;
# another test run may take one between that look and the bind, so a
# server counts as up only once the port listens with its own socket.
NEXT_PORT=21750
# port VAR: the next free port, in VAR.
port() {
	local p
	p=$(free_port "$NEXT_PORT" 21799) || { fail free-ports "no free port left in $NEXT_PORT-21799"; exit 0; }
	NEXT_PORT=$((p + 1))
	printf -v "$1" '%s' "$p"
}
# ours PID PORT: 127.0.0.1:PORT listens, and every socket listening
# there is PID's (two listeners would share the connections).
ours() {
	local hex inodes i fd mine=" "
	hex=$(printf '%04X' "$2")
	inodes=$(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' /proc/net/tcp)
	[ -n "$inodes" ] || return 1
	for fd in /proc/"$1"/fd/*; do mine="$mine$(readlink "$fd" 2>/dev/null) "; done
	for i in $inodes; do
		case $mine in *" socket:[$i] "*) ;; *) return 1 ;; esac
	done
}
# up PID PORT...: 0 once PID listens on every PORT (5 s at most), 1 if
# it died first (a port taken meanwhile) or did not get there.
up() {
	local pid=$1 _ p all; shift
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 1
		all=1
		for p in "$@"; do ours "$pid" "$p" || { all=; break; }; done
		[ -n "$all" ] && return 0
		sleep 0.05
	done
	return 1
}
# log_has CHECK FILE REGEX: a line of FILE matches REGEX.
log_has() {
	if grep -qE -- "$3" "$2" 2>/dev/null; then pass "$1"
	else fail "$1" "no line matching '$3' in $(basename "$2"): $(tail -n 3 "$2" 2>/dev/null | tr '\n' ' ' | cut -c1-300)"; fi
}

# --------------------------------------------------------------- setup

U=pop3dhaproxy
useradd -M -d /nonexistent -s /usr/sbin/nologin "$U"
UID_=$(id -u "$U"); GID_=$(id -g "$U")
H=$(mkhash secret)
mkdir -p "$T/etc/pop3d" "$T/spool" "$T/sbin" "$T/msgs"
printf '%s:%s:%s:%s::/nonexistent\n' "$U" "$H" "$UID_" "$GID_" >"$T/etc/pop3d/passwd"
# APOP secrets, for the greeting's timestamp only: it names the host
# (gethostname in its UTS namespace), so a greeting shows who answered.
printf '%s:apopsecret\n' "$U" >"$T/etc/pop3d/apop"
chmod 600 "$T/etc/pop3d/passwd" "$T/etc/pop3d/apop"
# The spool as Debian ships /var/mail: root:mail 2775, mailbox USER:mail 0660.
chown root:mail "$T/spool"; chmod 2775 "$T/spool"
MBOX=$T/spool/$U
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=localhost -keyout "$T/etc/pop3d/key.pem" -out "$T/etc/pop3d/cert.pem" >"$T/req.log" 2>&1
chmod 600 "$T/etc/pop3d/key.pem"
# The settings both hosts share, as /etc/pop3d/pop3d.conf would hold
# them; the POP3S listeners read the certificate from a second file (a
# certificate in the first would make port 110 refuse USER before STLS).
printf '%s\n' "passwd = $T/etc/pop3d/passwd" "mailbox = $T/spool/%u" \
	"apop = $T/etc/pop3d/apop" "proxy-from = 127.0.0.1" >"$T/etc/pop3d/pop3d.conf"
{ cat "$T/etc/pop3d/pop3d.conf"; printf '%s\n' "tls-cert = $T/etc/pop3d/cert.pem" \
	"tls-key = $T/etc/pop3d/key.pem"; } >"$T/etc/pop3d/pop3s.conf"
chmod 644 "$T/etc/pop3d/pop3d.conf" "$T/etc/pop3d/pop3s.conf"

# The messages: msgs/ID with its From_ line, stored in the mbox followed
# by one empty line (procmail adds it too).  No body line starts with
# "From ", so no quoting changes a delivery.
mkmsg() {
	printf 'From %s@example.org Mon Jan  1 10:00:00 2024\nMessage-ID: <%s@haproxy.test>\nSubject: message %s\n\n' "$1" "$1" "$1"
	perl -e 'print map { "line $_ of $ARGV[0] " . ("y" x ($_ * 7 % 90)) . "\n" } 1 .. 5 + length($ARGV[0]) * 3' "$1"
}
INITIAL=(i-1 i-2 i-3 i-4)
N_DELIVER=40
for id in "${INITIAL[@]}" $(seq -f 'd-%.0f' 1 "$N_DELIVER"); do mkmsg "$id" >"$T/msgs/$id"; done
for id in "${INITIAL[@]}"; do cat "$T/msgs/$id"; echo; done >"$MBOX"
chown "$U:mail" "$MBOX"; chmod 660 "$MBOX"

# The client: one session from SRC to 127.0.0.1:PORT, a command at a
# time (a reply, and a multi-line body where one follows), every line
# received on stdout.  "@touch FILE" and "@wait FILE" order two
# sessions.  Python because the client's own address must be chosen
# (bash's /dev/tcp cannot bind).
cat >"$T/pop.py" <<'EOF'
import os, socket, sys, time
src, port, cmds = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
s = socket.socket()
s.bind((src, 0))
s.settimeout(30)
s.connect(("127.0.0.1", port))
f = s.makefile("rb")
out = sys.stdout.buffer
def line():
    l = f.readline()
    out.write(l)
    out.flush()
    return l
line()
for c in cmds:
    if c.startswith("@touch "):
        open(c[7:], "w").close()
        continue
    if c.startswith("@wait "):
        for _ in range(600):
            if os.path.exists(c[6:]):
                break
            time.sleep(0.05)
        continue
    s.sendall(c.encode() + b"\r\n")
    r = line()
    if not r:
        break
    w = c.upper().split()
    if r.startswith(b"+OK") and (w[0] in ("RETR", "TOP", "CAPA") or (w[0] in ("UIDL", "LIST") and len(w) == 1)):
        while True:
            l = line()
            if not l or l == b".\r\n":
                break
EOF
# pop NAME SRC PORT CMD...: a session, its lines in $T/NAME.out.
pop() {
	local name=$1 src=$2 port=$3; shift 3
	timeout 60 python3 "$T/pop.py" "$src" "$port" "$@" >"$T/$name.out" 2>"$T/$name.err"
}

# One UTS namespace per host, so that each pop3d sees its own host name.
if unshare --uts true 2>/dev/null; then
	HOST_A=mx1 HOST_B=mx2
else
	HOST_A=$(hostname) HOST_B=$(hostname)
	echo "note: unshare --uts does not work here; both hosts run with the host name $HOST_A"
fi

# listener NAME HOST PORT CONF: systemd-socket-activate on
# 127.0.0.1:PORT, in HOST's UTS namespace, running pop3d with the
# settings file CONF (and --tls for a POP3S one: NAME ending in "s").
# pop3d logs to $T/NAME.log (-s: the wrapper keeps stderr off the client
# socket) and the wrapper records each exit status in $T/NAME.exits.
listener() {
	local name=$1 host=$2 var=$3 conf=$4 tls='' port try
	case $name in *s) tls=--tls ;; esac
	cat >"$T/sbin/$name" <<EOF
#!/bin/sh
"$POP3D" -s --config "$conf" $tls 2>>"$T/$name.log"
echo "exit \$? \$\$" >>"$T/$name.exits"
EOF
	chmod 755 "$T/sbin/$name"
	: >"$T/$name.log"
	for try in 1 2 3 4 5; do
		port port
		if [ "$HOST_A" != "$HOST_B" ]; then
			# shellcheck disable=SC2016 # expanded by that sh
			unshare --uts sh -c 'hostname "$1" && shift && exec "$@"' sh "$host" \
				systemd-socket-activate --accept --inetd -E ASAN_OPTIONS -E UBSAN_OPTIONS \
				-l "127.0.0.1:$port" "$T/sbin/$name" 2>"$T/$name.sa" &
		else
			systemd-socket-activate --accept --inetd -E ASAN_OPTIONS -E UBSAN_OPTIONS \
				-l "127.0.0.1:$port" "$T/sbin/$name" 2>"$T/$name.sa" &
		fi
		PIDS+=("$!")
		if up "$!" "$port"; then
			printf -v "$var" '%s' "$port"
			return 0
		fi
		kill "$!" 2>/dev/null
	done
	fail "listener-$name" "no listener after $try tries, the last on 127.0.0.1:$port: $(tail -n 2 "$T/$name.sa" | tr '\n' ' ')"
	exit 0
}

listener a "$HOST_A" PA "$T/etc/pop3d/pop3d.conf"
listener as "$HOST_A" PAS "$T/etc/pop3d/pop3s.conf"
listener b "$HOST_B" PB "$T/etc/pop3d/pop3d.conf"
listener bs "$HOST_B" PBS "$T/etc/pop3d/pop3s.conf"
LOGS=("$T/a.log" "$T/as.log" "$T/b.log" "$T/bs.log")

# ------------------------------------------------------------- HAProxy
# The README's block, and around it what only a test needs: a global
# section (log to standard output, a stats socket for the server states)
# and a port per host.  Checks every second, so that enough of them run.
# The per-host ports share the README's health check; A's speaks the
# PROXY protocol's version 1, B's version 2.
perhost() {
	cat <<EOF

listen via-$1
    bind 127.0.0.1:$2
    option tcp-check
    tcp-check expect string +OK
    tcp-check send QUIT\\r\\n
    tcp-check expect string +OK
    server $3 127.0.0.1:$4 $5 check inter 1s
EOF
}
# haproxy_config: $T/haproxy.cfg on four new ports F110, F995, VA, VB.
haproxy_config() {
	port F110; port F995; port VA; port VB
	if ! BIND_110=127.0.0.1:$F110 BIND_995=127.0.0.1:$F995 MX1_110=127.0.0.1:$PA MX2_110=127.0.0.1:$PB \
		MX1_995=127.0.0.1:$PAS MX2_995=127.0.0.1:$PBS CHECK_INTER=1s \
		bash "$TOP/tests/haproxy-config.sh" "$TOP/README.md" >"$T/readme.cfg" 2>"$T/readme.err"; then
		fail readme-haproxy-config "$(cat "$T/readme.err")"
		exit 0
	fi
	{
		# noreuseport: a port another HAProxy holds is a failure to
		# bind, not a port shared with it (SO_REUSEPORT, the default).
		printf 'global\n    log stdout format raw local0\n    stats socket %s mode 600 level admin\n    noreuseport\n\n' "$T/haproxy.sock"
		cat "$T/readme.cfg"
		perhost a "$VA" mx1 "$PA" send-proxy
		perhost b "$VB" mx2 "$PB" send-proxy-v2
	} >"$T/haproxy.cfg"
}
haproxy_config
pass readme-haproxy-config
# As the README says to install it: after Debian's own haproxy.cfg (its
# global section, and a defaults section for HTTP that the block's own
# replaces), the block as written is valid, without a warning.
if [ -f /etc/haproxy/haproxy.cfg ]; then
	{ cat /etc/haproxy/haproxy.cfg; echo; awk '
		/^    # pop3d behind HAProxy/ { on = 1 }
		on && /^[^ ]/ { exit }
		on { sub(/^    /, ""); print }' "$TOP/README.md"; } >"$T/debian.cfg"
	if "$HAPROXY" -c -f "$T/debian.cfg" >"$T/debian-c.out" 2>&1 && ! grep -q WARNING "$T/debian-c.out"; then
		pass readme-block-valid-after-debian-config
	else
		fail readme-block-valid-after-debian-config "$(tail -n 3 "$T/debian-c.out" | tr '\n' ' ')"
	fi
else
	echo "note: no /etc/haproxy/haproxy.cfg (Debian's) to append the README's block to"
fi
if ! "$HAPROXY" -c -f "$T/haproxy.cfg" >"$T/haproxy-c.out" 2>&1; then
	fail haproxy-config-valid "$(tail -n 3 "$T/haproxy-c.out" | tr '\n' ' ')"
	exit 0
fi
pass haproxy-config-valid
# -db: in the foreground, no daemon, so its pid is ours to stop.  A port
# taken meanwhile makes it exit: new ports, a new try.
for try in 1 2 3 4 5; do
	"$HAPROXY" -db -f "$T/haproxy.cfg" >"$T/haproxy.out" 2>&1 &
	HAPID=$!
	PIDS+=("$HAPID")
	up "$HAPID" "$F110" "$F995" "$VA" "$VB" && break
	kill "$HAPID" 2>/dev/null
	if [ "$try" = 5 ]; then
		fail haproxy-listens "not listening after 5 tries: $(tail -n 3 "$T/haproxy.out" | tr '\n' ' ')"
		exit 0
	fi
	haproxy_config
done
pass haproxy-listens

# servers_state: "backend/server status check_status" for each server,
# from HAProxy's stats (CSV: pxname, svname, ..., status is field 18,
# check_status field 37).
servers_state() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show stat\n")
d = b""
while True:
    c = s.recv(65536)
    if not c: break
    d += c
for l in d.decode().splitlines():
    f = l.split(",")
    if len(f) > 37 and not l.startswith("#") and f[1] not in ("FRONTEND", "BACKEND"):
        print(f"{f[0]}/{f[1]} {f[17]} {f[36]}")' "$T/haproxy.sock" 2>/dev/null
}
# Every server UP after a passed check (L7OK: the greeting and QUIT's
# +OK seen), within 15 s.
want="pop3/mx1 UP L7OK|pop3/mx2 UP L7OK|pop3s/mx1 UP L7OK|pop3s/mx2 UP L7OK|via-a/mx1 UP L7OK|via-b/mx2 UP L7OK"
for _ in $(seq 150); do
	got=$(servers_state | sort | paste -sd'|')
	[ "$got" = "$want" ] && break
	sleep 0.1
done
equal haproxy-health-checks-pass "$want" "$got"

# --------------------------------------------------- the README's ports
# Four POP3 sessions in a row through port 110 and two POP3S ones
# through 995: leastconn over idle servers takes turns, so both hosts
# serve some of each.
for i in 1 2 3 4; do
	pop rr$i 127.0.0.2 "$F110" "USER $U" 'PASS secret' STAT QUIT
	case $(line rr$i 3) in
	'+OK maildrop has 4 messages'*) pass "readme-pop3-session-$i" ;;
	*) fail "readme-pop3-session-$i" "login answered '$(line rr$i 3)' (greeting '$(line rr$i 1)')" ;;
	esac
done
for h in a b; do
	log_has "readme-pop3-reaches-host-$h" "$T/$h.log" "^pop3d\[[0-9]+\]: 127\.0\.0\.2: login: user=$U "
done
for i in 1 2; do
	crlf "USER $U" 'PASS secret' STAT QUIT | timeout 30 openssl s_client -quiet -bind "127.0.0.$((2 + i * 9))" \
		-connect "127.0.0.1:$F995" -servername localhost -CAfile "$T/etc/pop3d/cert.pem" \
		-verify_return_error >"$T/tls$i.out" 2>"$T/tls$i.err"
	case $(line tls$i 3) in
	'+OK maildrop has 4 messages'*) pass "readme-pop3s-session-$i" ;;
	*) fail "readme-pop3s-session-$i" "login answered '$(line tls$i 3)'; $(tail -n 2 "$T/tls$i.err" | tr '\n' ' ')" ;;
	esac
done
# 127.0.0.11 and 127.0.0.20, whichever host each reached: the handshake
# and the login under the client's address, and each host had one.
for c in 11 20; do
	if grep -hqE "^pop3d\[[0-9]+\]: 127\.0\.0\.$c: TLS: TLSv1\.[23] " "$T/as.log" "$T/bs.log" &&
		grep -hqE "^pop3d\[[0-9]+\]: 127\.0\.0\.$c: login: user=$U " "$T/as.log" "$T/bs.log"; then
		pass "readme-pop3s-logs-client-127.0.0.$c"
	else
		fail "readme-pop3s-logs-client-127.0.0.$c" "$(grep -h "127\.0\.0\.$c:" "$T/as.log" "$T/bs.log" | head -n 3 | tr '\n' ' ')"
	fi
done
for h in as bs; do
	log_has "readme-pop3s-reaches-host-$h" "$T/$h.log" "^pop3d\[[0-9]+\]: 127\.0\.0\.(11|20): login: user=$U "
done

# ------------------------------------------------------ a port per host
pop va 127.0.0.5 "$VA" "USER $U" 'PASS secret' STAT QUIT
pop vb 127.0.0.6 "$VB" "USER $U" 'PASS secret' STAT QUIT
answer_is greeting-via-a-names-host-a va 1 "+OK *<*@$HOST_A>*"
answer_is greeting-via-b-names-host-b vb 1 "+OK *<*@$HOST_B>*"
answer_is login-through-v1 va 3 '+OK maildrop has 4 messages*'
answer_is login-through-v2 vb 3 '+OK maildrop has 4 messages*'
log_has v1-login-logs-client "$T/a.log" "^pop3d\[[0-9]+\]: 127\.0\.0\.5: login: user=$U "
log_has v1-logout-logs-client "$T/a.log" "^pop3d\[[0-9]+\]: 127\.0\.0\.5: logout: user=$U .* end=quit"
log_has v2-login-logs-client "$T/b.log" "^pop3d\[[0-9]+\]: 127\.0\.0\.6: login: user=$U "
log_has v2-logout-logs-client "$T/b.log" "^pop3d\[[0-9]+\]: 127\.0\.0\.6: logout: user=$U .* end=quit"

# Wrong passwords through each version of the header.
pop bad1 127.0.0.7 "$VA" "USER $U" 'PASS wrong' QUIT
pop bad2 127.0.0.8 "$VB" "USER $U" 'PASS wrong' QUIT
answer_is wrong-password-v1-refused bad1 3 '-ERR \[AUTH\]*'
answer_is wrong-password-v2-refused bad2 3 '-ERR \[AUTH\]*'
log_has wrong-password-v1-logs-client "$T/a.log" "^pop3d\[[0-9]+\]: 127\.0\.0\.7: PASS failed for user=$U "
log_has wrong-password-v2-logs-client "$T/b.log" "^pop3d\[[0-9]+\]: 127\.0\.0\.8: PASS failed for user=$U "

# Past the balancer, straight to host A: a PROXY line naming another
# address is a bad command from the sender's own address.
pop forged 127.0.0.12 "$PA" 'PROXY TCP4 198.51.100.7 127.0.0.1 40000 110' QUIT
answer_is forged-proxy-line-refused forged 2 '-ERR*'
log_has forged-proxy-line-logged "$T/a.log" \
	"^pop3d\[[0-9]+\]: 127\.0\.0\.12: PROXY header refused: this peer is not in --proxy-from"
if grep -q '198\.51\.100\.7' "${LOGS[@]}"; then
	fail forged-address-never-used "$(grep -h '198\.51\.100\.7' "${LOGS[@]}" | head -n 2 | tr '\n' ' ')"
else
	pass forged-address-never-used
fi

# ---------------------------------------------- one session per maildrop
# Host A's session holds the maildrop in TRANSACTION while one through
# host B tries to log in.
pop inuse1 127.0.0.9 "$VA" "USER $U" 'PASS secret' STAT "@touch $T/inuse1.in" "@wait $T/inuse2.done" QUIT &
S1=$!
for _ in $(seq 400); do [ -e "$T/inuse1.in" ] && break; sleep 0.05; done
pop inuse2 127.0.0.10 "$VB" "USER $U" 'PASS secret' QUIT
touch "$T/inuse2.done"
wait "$S1"
answer_is in-use-first-logged-in inuse1 3 '+OK maildrop has 4 messages*'
answer_is in-use-second-host-refused inuse2 3 '-ERR \[IN-USE\]*'
answer_is in-use-first-quits inuse1 5 '+OK*'
log_has in-use-logged-with-client "$T/b.log" "^pop3d\[[0-9]+\]: 127\.0\.0\.10: "

# ------------------------------------- DELE + QUIT beside a delivery
# procmail (its dot-lock and fcntl lock; setgid mail, as Debian installs
# it, for the lock in the root:mail spool) delivers as the mailbox's
# owner while sessions through both hosts delete.
cat >"$T/procmailrc" <<EOF
LOCKSLEEP=1
:0:
$MBOX
EOF
chmod 644 "$T/procmailrc"
: >"$T/delivered"; : >"$T/deleted"; : >"$T/problems"
( for i in $(seq "$N_DELIVER"); do
	if setpriv --reuid="$UID_" --regid="$GID_" --clear-groups timeout 60 \
		procmail -m "$T/procmailrc" <"$T/msgs/d-$i" 2>>"$T/procmail.err"; then
		echo "d-$i" >>"$T/delivered"
	else
		echo "procmail delivery of d-$i failed" >>"$T/problems"
	fi
	# Spread over several seconds, so that many sessions run beside.
	sleep "0.$((1 + RANDOM % 2))"
  done ) &
DELIVERY=$!
PIDS+=("$DELIVERY")
# session K PORT SRC: login, TOP N 0 (to learn which message N is), DELE
# N, QUIT; the Message-ID goes to $T/deleted when DELE and QUIT said +OK.
# A maildrop busy with procmail's lock for longer than pop3d waits
# ([IN-USE]) deletes nothing and is allowed.
session() {
	local k=$1 port=$2 src=$3 n=$((1 + RANDOM % 3))
	pop "del$k" "$src" "$port" "USER $U" 'PASS secret' "TOP $n 0" "DELE $n" QUIT
	perl -e '
		my ($out, $deleted, $problems, $k) = @ARGV;
		open(O, "<", $out) or die; my @l = map { s/\r\n\z//r } <O>; close O;
		open(P, ">>", $problems) or die;
		my $bad = sub { print P "session $k: @_\n"; exit 0 };
		$bad->("no greeting") unless ($l[0] // "") =~ /^\+OK/;
		my $login = $l[2] // "<EOF>";
		exit 0 if $login =~ /^-ERR \[IN-USE\]/;
		$bad->("login: $login") unless $login =~ /^\+OK maildrop has/;
		my $i = 3;
		$bad->("TOP: " . ($l[$i] // "<EOF>")) unless ($l[$i++] // "") =~ /^\+OK/;
		my $id;
		while ($i < @l && $l[$i] ne ".") { $id = $1 if $l[$i] =~ /^Message-ID: <([^@>]+)\@/; $i++ }
		$i++;
		$bad->("TOP without a Message-ID") unless defined $id;
		$bad->("DELE: " . ($l[$i] // "<EOF>")) unless ($l[$i++] // "") =~ /^\+OK/;
		my $q = $l[$i] // "<EOF>";
		if ($q =~ /^\+OK pop3d signing off/) {
			open(D, ">>", $deleted) or die; print D "$id\n"; close D;
		} elsif ($q !~ /^-ERR \[(IN-USE|SYS\/TEMP)\]/) {
			$bad->("QUIT: $q");
		}' "$T/del$k.out" "$T/deleted" "$T/problems" "$k"
}
k=0
START=$SECONDS
while kill -0 "$DELIVERY" 2>/dev/null; do
	k=$((k + 1))
	if [ $((k % 2)) = 1 ]; then session "$k" "$VA" 127.0.0.13; else session "$k" "$VB" 127.0.0.14; fi
	if [ $((SECONDS - START)) -gt 120 ]; then
		echo "deliveries still running after 120 s" >>"$T/problems"
		kill "$DELIVERY" 2>/dev/null
		break
	fi
done
wait "$DELIVERY" 2>/dev/null
# Two more with nothing delivering beside them, one through each host.
k=$((k + 1)); session "$k" "$VA" 127.0.0.13
k=$((k + 1)); session "$k" "$VB" 127.0.0.14
if [ -s "$T/problems" ]; then
	fail delivery-beside-sessions "$(wc -l <"$T/problems") problem(s), first: $(head -n 3 "$T/problems" | tr '\n' ';')"
else
	pass "delivery-beside-sessions ($k sessions, $(wc -l <"$T/delivered") deliveries, $(wc -l <"$T/deleted") deletions)"
fi
for h in a b; do
	c=$(grep -cE "^pop3d\[[0-9]+\]: 127\.0\.0\.1[34]: logout: user=$U .*dele=1/" "$T/$h.log")
	if [ "$c" -gt 0 ]; then pass "host-$h-deleted ($c sessions)"; else fail "host-$h-deleted" "no session through host $h deleted a message"; fi
done
# The mbox is a concatenation of stored messages, each once, exactly the
# initial and delivered ones less the deleted ones.
verdict=$(perl -e '
	my ($mbox, $msgs, $delivered, $deleted, @initial) = @ARGV;
	open(F, "<", $mbox) or die; binmode F; local $/; my $d = <F>; close F;
	my (%want, %gone, %seen, @err);
	$want{$_} = 1 for @initial;
	open(L, "<", $delivered) or die; { local $/ = "\n"; while (<L>) { chomp; $want{$_} = 1 } } close L;
	open(L, "<", $deleted) or die; { local $/ = "\n"; while (<L>) { chomp; push @err, "$_ deleted twice" if $gone{$_}++ } } close L;
	my $pos = 0;
	while ($pos < length $d) {
		if (substr($d, $pos, 5) ne "From ") { push @err, "no From_ line at offset $pos"; last }
		my ($id) = substr($d, $pos, 300) =~ /\nMessage-ID: <([^@>]+)\@/;
		if (!defined $id || !-e "$msgs/$id") { push @err, "unknown message at offset $pos"; last }
		open(M, "<", "$msgs/$id") or die; my $s = <M> . "\n"; close M;
		if (substr($d, $pos, length $s) ne $s) { push @err, "message $id at offset $pos differs from what was delivered"; last }
		push @err, "$id present twice" if $seen{$id}++;
		$pos += length $s;
	}
	for my $id (sort keys %want) {
		if ($gone{$id}) { push @err, "$id deleted but still present" if $seen{$id} }
		else { push @err, "$id delivered but missing" unless $seen{$id} }
	}
	for my $id (sort keys %seen) { push @err, "$id present but never delivered" unless $want{$id} }
	print @err ? scalar(@err) . " error(s): " . join("; ", @err[0 .. ($#err < 4 ? $#err : 4)]) : "ok " . scalar(keys %seen);
' "$MBOX" "$T/msgs" "$T/delivered" "$T/deleted" "${INITIAL[@]}")
case $verdict in
ok*) pass "mbox-exact (${verdict#ok } messages: every delivery once, every deletion gone)" ;;
*) fail mbox-exact "$verdict" ;;
esac
equal all-deliveries-made "$N_DELIVER" "$(wc -l <"$T/delivered")"

# ------------------------------------------------------------- the logs
# Health checks ran against every listener, each a session of the
# balancer's own (LOCAL, or version 1 naming 127.0.0.1) ending with QUIT.
for h in a as b bs; do
	c=$(grep -cE '^pop3d\[[0-9]+\]: 127\.0\.0\.1: logout: user=none .* end=quit$' "$T/$h.log")
	if [ "$c" -ge 2 ]; then pass "health-checks-logged-host-$h ($c)"
	else fail "health-checks-logged-host-$h" "$c health-check sessions in $h.log: $(tail -n 2 "$T/$h.log" | tr '\n' ' ')"; fi
done
# Nothing from the balancer but those: every line under 127.0.0.1 is a
# health check's (its TLS line, its logout), every header was good, and
# every connection had its peer's address (none logged as "pipe").
other=$(grep -hE '^pop3d\[[0-9]+\]: 127\.0\.0\.1: ' "${LOGS[@]}" |
	grep -vE ': 127\.0\.0\.1: (logout: user=none auth=none .* end=quit|TLS: TLSv1\.[23] .*)$' | head -n 3)
equal balancer-logs-only-health-checks "" "$other"
equal no-bad-proxy-header "" "$(grep -h 'bad PROXY header' "${LOGS[@]}" | head -n 3)"
equal no-connection-without-address "" "$(grep -hE '^pop3d\[[0-9]+\]: pipe: ' "${LOGS[@]}" | head -n 3)"

# fail2ban's view: the four logs as a mail.log would hold them (each
# host's lines under its name), through the shipped filter.
mkdir -p "$T/f2b/filter.d"
cp /etc/fail2ban/filter.d/common.conf "$T/f2b/filter.d/"
cp "$TOP/fail2ban/filter.d/pop3d.conf" "$T/f2b/filter.d/pop3d.conf"
for h in a as b bs; do
	case $h in a*) n=$HOST_A ;; *) n=$HOST_B ;; esac
	sed -n "s/^pop3d\[/Dec  3 12:00:00 $n &/p" "$T/$h.log"
done >"$T/mail.log"
if fail2ban-regex -o '<ip>|<msg>' "$T/mail.log" "$T/f2b/filter.d/pop3d.conf" >"$T/matches" 2>"$T/regex.err"; then
	pass fail2ban-regex-runs
else
	fail fail2ban-regex-runs "$(tail -n 2 "$T/regex.err" | tr '\n' ' ')"
fi
matched() {
	if grep -F -- "$2|" "$T/matches" | grep -qF -- ": $2: $3"; then pass "$1"
	else fail "$1" "no match for $2 with '$3'; its lines: $(grep -F ": $2: " "$T/mail.log" | cut -c1-160 | tr '\n' '|')"; fi
}
matched f2b-wrong-password-through-v1 127.0.0.7 "PASS failed for user=$U"
matched f2b-wrong-password-through-v2 127.0.0.8 "PASS failed for user=$U"
matched f2b-forged-proxy-line 127.0.0.12 'PROXY header refused: '
equal f2b-nothing-for-the-balancer "" "$(grep '^127\.0\.0\.1|' "$T/matches" | head -n 3)"
# And nothing else at all: health checks, logins, logouts, TLS lines,
# the busy maildrop and the deliveries' sessions are no failures.
equal f2b-only-the-failing-clients "127.0.0.12 127.0.0.7 127.0.0.8" "$(cut -d'|' -f1 "$T/matches" | LC_ALL=C sort -u | xargs)"
# What makes the last checks mean something: the balancer's lines are
# in the input.
if grep -q ': 127\.0\.0\.1: ' "$T/mail.log"; then pass f2b-input-has-balancer-lines
else fail f2b-input-has-balancer-lines "no line from 127.0.0.1 in the logs"; fi

# ------------------------------------------------------- the processes
# Status 0, but 1 for a login refused for want of its maildrop (the
# busy one above): in root mode that ends the session, since it has
# given up root for that user (session.c).
exits=$(cat "$T"/*.exits 2>/dev/null | grep -c '^exit ')
ones=$(cat "$T"/*.exits 2>/dev/null | grep -c '^exit 1 ')
bad=$(cat "$T"/*.exits 2>/dev/null | grep -vE '^exit [01] ' | head -n 3 | tr '\n' ' ')
refused=$(cat "${LOGS[@]}" | grep -cE '^pop3d\[[0-9]+\]: [0-9.]+: login of user=[^ ]+ refused: maildrop .* unavailable$')
if [ "$exits" -gt 20 ] && [ -z "$bad" ] && [ "$ones" = "$refused" ] && [ "$refused" -ge 1 ]; then
	pass "pop3d-exit-status ($exits sessions; status 1 for the $ones refused for a busy maildrop)"
else
	fail pop3d-exit-status "$exits exits recorded; $ones with status 1 for $refused logins refused for the maildrop; others: $bad"
fi
hit=$(grep -h -m1 -E "$SAN_RE" "${LOGS[@]}" | head -n 1)
equal no-sanitizer-report "" "$hit"

# Everything this test started stops: HAProxy, the launchers, and every
# pop3d they started (each runs from $T).
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
PIDS=()
for _ in $(seq 40); do pgrep -f "$T/" >/dev/null || break; sleep 0.05; done
equal nothing-left-running "" "$(pgrep -af "$T/" | head -n 3)"
exit 0

#!/usr/bin/env bash
# tests/e2e/proxy.sh - --proxy-from and the PROXY protocol (proxy.c,
# pop3d.c's proxy_header, session.c) through real TCP connections: pop3d
# under systemd-socket-activate --accept --inetd on free 127.0.0.1 ports,
# as pop3d.socket runs it, and clients (python3, tests' client.py below)
# that bind their source address to 127.0.0.x, so that one machine has
# a listed balancer (127.0.0.1, and 127.0.1.0/24) and a peer that is not
# (127.0.0.2):
#  - from a balancer: version 1 TCP4, TCP6 (and an IPv4-mapped TCP6),
#    version 2 TCP4 and TCP6, with TLVs, at the length limits: the
#    header's client address in every line of the session (login,
#    logout, PASS failed); LOCAL, UNSPEC and UNKNOWN (with addresses or
#    not) served as the balancer; the header followed at once by POP3
#    commands in the same packet, which are still served (the reader takes
#    exactly the header); a second header later is a bad command;
#  - from a balancer, refused with no greeting, "bad PROXY header from
#    the balancer: WHY" and end=proxy: malformed headers of each kind,
#    truncated ones then closed, silent and slow ones (ended by the 5 s
#    deadline, dribbling included), over-long ones (v1 108 bytes, v2 past
#    2048), POP3 first, garbage, a TLS ClientHello;
#  - from a peer not listed: a forged v1 or v2 header is a bad command,
#    never trusted, logged once as "PROXY header refused" with the peer's
#    own address; fail2ban's filter (fail2ban-regex) matches that address
#    and never the forged one, nor the balancer's for its bad headers;
#    the peer is greeted at once;
#  - a dual-stack listener (the balancer as ::ffff:127.0.0.1) and ::1;
#  - root mode (privsep): the header's address in a checkpassword
#    program's TCPREMOTEIP and TCPLOCALIP, in the failure lines and the
#    failure limit's, per connection; --tls with the header before the
#    handshake, and a balancer that sends none;
#  - no sanitizer report from any pop3d (exit status 98/99, or a report
#    in its log).
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "proxy.sh needs root (setpriv, root mode, test accounts); skipped"
	exit 0
fi
# Root mode trusts files (the password file, the checkpassword program)
# only where root alone writes: lib.sh gave $T to nobody.  The session
# files of the unprivileged server are in $T/nr, nobody's.
chown root:root "$T"
cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
SAN_RE='runtime error|AddressSanitizer|LeakSanitizer'

PIDS=()
PXUSER=pop3dproxy
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	flock /run/lock/pop3d-e2e-users.lock userdel "$PXUSER" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	sh "$TOP/tests/apt-install.sh" "$2" >/dev/null 2>&1
	command -v "$1" >/dev/null 2>&1
}
if ! need systemd-socket-activate systemd; then
	fail systemd-socket-activate-installed "missing and apt-get could not install systemd"
	exit 0
fi

# ------------------------------------------------------------ the client
# client.py HOST PORT SRC STEPS [CAFILE]: connects to HOST:PORT from the
# address SRC (any port), then runs STEPS, a Python list: bytes are sent
# (one send each, so a header and commands in one item arrive together),
# a number is a pause (which ends early, at once, when the server
# closes), 'shut' half-closes, 'reset' resets the connection and ends,
# 'greet' waits for the first line, 'tls'
# wraps the socket in TLS (CAFILE) and does the handshake.  Then reads to
# the end.  Prints what it received; on stderr "elapsed S" (connect to
# the server's close) and any error.  v2(...) and tlv(...) build version
# 2 headers.  client.py len - - STEPS prints how many bytes STEPS sends.
cat >"$T/client.py" <<'EOF'
import select, socket, ssl, struct, sys, time

SIG = b'\r\n\r\n\x00\r\nQUIT\n'

def v2(cmd=1, fam=0x11, src='203.0.113.7', dst='127.0.0.1', sport=40000,
       dport=110, tlvs=b'', ver=2, body=None, length=None):
    if body is None:
        af = {1: socket.AF_INET, 2: socket.AF_INET6}.get(fam >> 4)
        body = (socket.inet_pton(af, src) + socket.inet_pton(af, dst) +
                struct.pack('!HH', sport, dport)) if af else b''
    body += tlvs
    return SIG + bytes([ver << 4 | cmd, fam]) + \
        struct.pack('!H', len(body) if length is None else length) + body

def tlv(t, v):
    return bytes([t]) + struct.pack('!H', len(v)) + v

host, port, src, prog = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
steps = eval(prog, {'v2': v2, 'tlv': tlv, 'SIG': SIG})
if host == 'len':
    # The bytes STEPS would send, for the checks of lengths at the limits.
    print(sum(len(st) for st in steps if isinstance(st, bytes)))
    sys.exit(0)
port = int(port)
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
s = socket.socket(fam)
s.bind((src, 0))
s.settimeout(20)
t0 = time.monotonic()
s.connect((host, port))
out = b''
closed = None
try:
    for st in steps:
        if isinstance(st, bytes):
            s.sendall(st)
        elif isinstance(st, (int, float)):
            # A pause that sees the server's close when it comes.
            end = time.monotonic() + st
            while closed is None and time.monotonic() < end:
                r, _, _ = select.select([s], [], [], end - time.monotonic())
                if r:
                    c = s.recv(65536)
                    if not c:
                        closed = time.monotonic()
                    out += c
            if closed is not None:
                break
        elif st == 'shut':
            s.shutdown(socket.SHUT_WR)
        elif st == 'greet':
            while b'\r\n' not in out:
                c = s.recv(4096)
                if not c:
                    closed = time.monotonic()
                    break
                out += c
        elif st == 'reset':
            # A bare TCP health check: connect, then reset at once.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack('ii', 1, 0))
            s.close()
            sys.stderr.write('elapsed 0.000\n')
            sys.exit(0)
        elif st == 'tls':
            ctx = ssl.create_default_context(cafile=sys.argv[5])
            s = ctx.wrap_socket(s, server_hostname='localhost')
except (OSError, ValueError) as e:
    sys.stderr.write('error %s\n' % e)
while closed is None:
    try:
        c = s.recv(65536)
    except (OSError, ValueError) as e:
        sys.stderr.write('error %s\n' % e)
        c = b''
    if not c:
        closed = time.monotonic()
    out += c
sys.stderr.write('elapsed %.3f\n' % (closed - t0))
sys.stdout.buffer.write(out)
EOF

wait_listening() {
	local _
	for _ in $(seq 100); do listening "$1" && return 0; sleep 0.05; done
	return 1
}

# serve NAME HOST PORT MODE ARGS...: systemd-socket-activate on HOST:PORT
# running pop3d -s ARGS for each connection, as nobody (MODE nr, through
# setpriv) or as root (MODE rt, root mode); each pop3d's log goes to
# $T/logs/NAME/PID.log and its exit status, once it ended, to PID.rc.
serve() {
	local name=$1 host=$2 port=$3 mode=$4 run=
	shift 4
	mkdir -p "$T/logs/$name" "$T/sbin"
	[ "$mode" = nr ] && run='setpriv --reuid=nobody --regid=nogroup --clear-groups'
	cat >"$T/sbin/$name" <<EOF
#!/bin/sh
$run "$POP3D" -s "\$@" 2>"$T/logs/$name/\$\$.log"
echo \$? >"$T/logs/$name/\$\$.rc.new" && mv "$T/logs/$name/\$\$.rc.new" "$T/logs/$name/\$\$.rc"
EOF
	chmod 755 "$T/sbin/$name"
	# -E: the sanitizer options, and POP3D_CONFIG (lib.sh's, naming no
	# file), so that the machine's /etc/pop3d/pop3d.conf is not read.
	systemd-socket-activate --accept --inetd -E ASAN_OPTIONS -E UBSAN_OPTIONS \
		-E POP3D_CONFIG -l "$host:$port" "$T/sbin/$name" "$@" 2>"$T/sa-$name.log" &
	PIDS+=("$!")
	if wait_listening "$port"; then pass "$name-listens ($host:$port)"
	else fail "$name-listens" "nothing on $host:$port: $(tail -n 3 "$T/sa-$name.log" | tr '\n' ' ')"; return 1; fi
}

# conn CHECK SERVER SRC STEPS [CAFILE]: one connection to SERVER (serve's
# NAME) from SRC; what the client received in $T/CHECK.out, its stderr
# in $T/CHECK.client; then waits for that connection's pop3d to end and
# moves its log and status to $T/CHECK.err and $T/CHECK.rc (lib.sh's
# exited and log_has read them).  Connections are made one at a time, so
# the one pop3d that ends is this one's.
declare -A SHOST SPORT
conn() {
	local name=$1 srv=$2 src=$3 steps=$4 ca=${5:-} d=$T/logs/$2 _ f
	local -a rcs=()
	timeout 60 python3 "$T/client.py" "${SHOST[$srv]}" "${SPORT[$srv]}" "$src" "$steps" ${ca:+"$ca"} \
		>"$T/$name.out" 2>"$T/$name.client"
	for _ in $(seq 300); do
		rcs=()
		for f in "$d"/*.rc; do [ -e "$f" ] && rcs+=("$f"); done
		[ "${#rcs[@]}" -ge 1 ] && break
		sleep 0.05
	done
	if [ "${#rcs[@]}" != 1 ]; then
		echo none >"$T/$name.rc"; : >"$T/$name.err"
		fail "$name-one-pop3d" "${#rcs[@]} pop3d exits seen after the connection (want 1)"
		return
	fi
	mv "${rcs[0]%.rc}.log" "$T/$name.err"
	mv "${rcs[0]}" "$T/$name.rc"
}
# elapsed NAME: seconds from the connection to the server's close.
elapsed() { sed -n 's/^elapsed //p' "$T/$1.client"; }

# only_from CHECK NAME ADDR: every log line of NAME (there is one at
# least) is "pop3d[PID]: ADDR: ...".
only_from() {
	local other
	other=$(grep -vE "^pop3d\[[0-9]+\]: ${3//./\\.}: " "$T/$2.err" | head -n 2 | tr '\n' '|')
	if [ ! -s "$T/$2.err" ]; then fail "$1" "no log lines"
	elif [ -n "$other" ]; then fail "$1" "lines not from $3: $other"
	else pass "$1"; fi
}
# nowhere CHECK NAME TEXT: no log line of NAME holds TEXT.
nowhere() {
	if grep -qF -- "$3" "$T/$2.err"; then fail "$1" "'$3' in the log: $(grep -m1 -F -- "$3" "$T/$2.err")"
	else pass "$1"; fi
}

# --------------------------------------------------------------- setup

H=$(mkhash secret)
mkdir -p "$T/nr/mail" "$T/msg"
printf 'alice:%s\n' "$H" >"$T/nr/passwd"
printf 'Subject: through the balancer\n\nhello\n' >"$T/msg/01"
mbox_of_messages
OCTETS=$(perl -0777 -ne 's/\n/\r\n/g; $_ .= "\r\n" unless /\r\n\z/; print length' "$T/msg/01")
chmod 600 "$T/nr/passwd"
chown -R nobody:nogroup "$T/nr"
put_mbox() { cp "$T/orig.mbox" "$T/nr/mail/alice"; chown nobody:nogroup "$T/nr/mail/alice"; chmod 600 "$T/nr/mail/alice"; }
put_mbox

P=$(free_port 21800 21849) || { fail free-port "none in 21800-21849"; exit 0; }
SHOST[nr]=127.0.0.1 SPORT[nr]=$P
# The balancers: 127.0.0.1 alone, and a whole network where 127.0.1.5 is.
serve nr 127.0.0.1 "$P" nr -p "$T/nr/passwd" -m "$T/nr/mail/%u" \
	--proxy-from 192.0.2.0/24,127.0.0.1,127.0.1.0/24,2001:db8::/32 || exit 0

# What a full session answers: a wrong password, the right one, STAT,
# QUIT; it fails once (a PASS failed line) and logs in.
LOGIN=$'USER alice\r\nPASS wrong\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nQUIT\r\n'
LOGIN_PY="b'USER alice\\r\\nPASS wrong\\r\\nUSER alice\\r\\nPASS secret\\r\\nSTAT\\r\\nQUIT\\r\\n'"
crlf '+OK POP3 server ready' '+OK send PASS' '-ERR [AUTH] authentication failed' '+OK send PASS' \
	"+OK maildrop has 1 message ($OCTETS octets)" "+OK 1 $OCTETS" '+OK pop3d signing off (1 message left)' >"$T/login.exp"
# Check it against a pipe session, so that the expected replies are
# pop3d's own and not this script's guess.
printf '%s' "$LOGIN" | pop pipe-reference -p "$T/nr/passwd" -m "$T/nr/mail/%u"
same login-reference-is-pop3ds "$T/login.exp" "$T/pipe-reference.out"
put_mbox

# served CHECK SRC HEADER ADDR: from SRC, HEADER (a Python expression)
# and the session in the same packet; the session is served byte for
# byte, pop3d ends cleanly, and every line it logs names ADDR: the
# login, the PASS failure and the logout.
served() {
	local name=$1 src=$2 hdr=$3 addr=$4 a
	put_mbox
	conn "$name" nr "$src" "[$hdr + $LOGIN_PY]"
	exited "$name"
	same "$name-session-served" "$T/login.exp" "$T/$name.out"
	a=${addr//./\\.}
	log_has "$name-login-names-client" "$name" "^pop3d\[[0-9]+\]: $a: login: user=alice messages=1 "
	log_has "$name-failure-names-client" "$name" "^pop3d\[[0-9]+\]: $a: PASS failed for user=alice auth=file: "
	log_has "$name-logout-names-client" "$name" "^pop3d\[[0-9]+\]: $a: logout: user=alice .* end=quit$"
	only_from "$name-every-line-names-client" "$name" "$addr"
}

# ------------------------------------------- the client's address used

served v1-tcp4 127.0.0.1 "b'PROXY TCP4 203.0.113.7 127.0.0.1 40001 110\r\n'" 203.0.113.7
served v1-tcp6 127.0.0.1 "b'PROXY TCP6 2001:db8::7 2001:db8::1 40002 110\r\n'" 2001:db8::7
# An IPv4 client behind a dual-stack balancer: shown as the IPv4 address
# it is, like a dual-stack socket's peers.
served v1-tcp6-v4-mapped 127.0.0.1 "b'PROXY TCP6 ::ffff:198.51.100.23 ::ffff:127.0.0.1 40003 110\r\n'" 198.51.100.23
served v1-tcp4-max-port 127.0.0.1 "b'PROXY TCP4 203.0.113.8 127.0.0.1 65535 0\r\n'" 203.0.113.8
served v2-tcp4 127.0.0.1 "v2(src='198.51.100.4')" 198.51.100.4
served v2-tcp6 127.0.0.1 "v2(fam=0x21, src='2001:db8:0:1::9', dst='2001:db8::1')" 2001:db8:0:1::9
# HAProxy's TLVs: ALPN, authority, unique ID, the SSL one with its own
# sub-TLVs, and a NOOP: skipped, the address used.
served v2-tlvs 127.0.0.1 "v2(src='192.0.2.44', tlvs=tlv(1, b'pop3') + tlv(2, b'mail.example.org') + tlv(5, b'unique-id-0123456789') + tlv(0x20, b'\x07\0\0\0\0' + tlv(0x21, b'TLSv1.3') + tlv(0x22, b'CN=client')) + tlv(4, b'\0' * 10) + tlv(0xe0, b''))" 192.0.2.44
# A balancer in a listed network, not a single address.
served v2-from-listed-network 127.0.1.5 "v2(src='198.51.100.5')" 198.51.100.5
# The largest headers allowed: version 1, 107 bytes with its CRLF;
# version 2, 2048 in all (a NOOP TLV fills it).
# Lengths at the limits, checked here so that the checks below test what
# they say (bytes: what client.py sends).
bytes_is() { equal "$1" "$2" "$(python3 "$T/client.py" len - - "[$3]")"; }
V1_107="b'PROXY TCP6 2001:0db8:0000:0000:0000:0000:0000:0107 0000:0000:0000:0000:0000:ffff:198.51.100.255 40107 110\r\n'"
V1_108="b'PROXY TCP6 2001:0db8:0000:0000:0000:0000:0000:0107 0000:0000:0000:0000:0000:ffff:198.51.100.255 40107 1100\r\n'"
V2_2048="v2(src='192.0.2.48', tlvs=tlv(4, b'\0' * (2048 - 16 - 12 - 3)))"
V2_2049="v2(src='192.0.2.49', tlvs=tlv(4, b'\0' * (2049 - 16 - 12 - 3)))"
bytes_is v1-107-is-107-bytes 107 "$V1_107"
bytes_is v1-108-is-108-bytes 108 "$V1_108"
bytes_is v2-2048-is-2048-bytes 2048 "$V2_2048"
bytes_is v2-2049-is-2049-bytes 2049 "$V2_2049"
served v1-107-bytes 127.0.0.1 "$V1_107" 2001:db8::107
served v2-2048-bytes 127.0.0.1 "$V2_2048" 192.0.2.48

# The balancer itself: LOCAL (its health checks), UNSPEC, UNKNOWN; any
# addresses after them ignored, as the specification says.
served v2-local 127.0.0.1 "v2(cmd=0, fam=0)" 127.0.0.1
served v2-local-with-addresses 127.0.0.1 "v2(cmd=0, src='203.0.113.11')" 127.0.0.1
nowhere v2-local-addresses-ignored v2-local-with-addresses 203.0.113.11
served v2-unspec 127.0.0.1 "v2(cmd=1, fam=0)" 127.0.0.1
served v1-unknown 127.0.0.1 "b'PROXY UNKNOWN\r\n'" 127.0.0.1
served v1-unknown-with-addresses 127.0.0.1 "b'PROXY UNKNOWN 203.0.113.12 127.0.0.1 40012 110\r\n'" 127.0.0.1
nowhere v1-unknown-addresses-ignored v1-unknown-with-addresses 203.0.113.12
# 107 bytes exactly, UNKNOWN and padding: still one header.
V1_UNKNOWN_107="b'PROXY UNKNOWN ' + b'x' * (107 - 16) + b'\r\n'"
bytes_is v1-unknown-107-is-107-bytes 107 "$V1_UNKNOWN_107"
served v1-unknown-107-bytes 127.0.0.1 "$V1_UNKNOWN_107" 127.0.0.1

# The failure limit: counted for that client's connection and logged
# with its address, as fail2ban's line for a guesser.
conn v1-limit nr 127.0.0.1 "[b'PROXY TCP4 203.0.113.16 127.0.0.1 40016 110\r\nUSER alice\r\nPASS a\r\nUSER alice\r\nPASS b\r\nUSER alice\r\nPASS c\r\nUSER alice\r\n']"
exited v1-limit
equal v1-limit-failures-name-client 3 "$(grep -cE '^pop3d\[[0-9]+\]: 203\.0\.113\.16: PASS failed for user=alice ' "$T/v1-limit.err")"
log_has v1-limit-line-names-client v1-limit '^pop3d\[[0-9]+\]: 203\.0\.113\.16: too many authentication failures \(3\); closing the connection$'
log_has v1-limit-logout-end-limit v1-limit '^pop3d\[[0-9]+\]: 203\.0\.113\.16: logout: user=none .* end=limit$'
only_from v1-limit-every-line-names-client v1-limit 203.0.113.16

# The header alone first, the session after the greeting: the same.
put_mbox
conn header-then-greeting nr 127.0.0.1 "[b'PROXY TCP4 203.0.113.13 127.0.0.1 40013 110\r\n', 'greet', $LOGIN_PY]"
exited header-then-greeting
same header-then-greeting-served "$T/login.exp" "$T/header-then-greeting.out"
only_from header-then-greeting-names-client header-then-greeting 203.0.113.13
# A second header, later, is a command like any PROXY line after the
# first: refused, and it changes nothing.
put_mbox
conn second-header nr 127.0.0.1 "[b'PROXY TCP4 203.0.113.14 127.0.0.1 40014 110\r\nPROXY TCP4 203.0.113.15 127.0.0.1 40015 110\r\nUSER alice\r\nPASS secret\r\nQUIT\r\n']"
exited second-header
answer_is second-header-bad-command second-header 2 '-ERR unknown command'
answer_is second-header-then-login second-header 4 '+OK maildrop has 1 message*'
only_from second-header-first-address-kept second-header 203.0.113.14
nowhere second-header-not-used second-header 203.0.113.15

# ---------------------------------- a balancer's bad header: refused
# badhdr CHECK STEPS WHY: from the balancer 127.0.0.1, STEPS; pop3d sends
# nothing at all (no greeting), logs exactly the refusal with WHY and a
# logout line with end=proxy, both with the balancer's address, and ends
# with status 0.
badhdr() {
	local name=$1 want
	conn "$name" nr 127.0.0.1 "$2"
	exited "$name"
	if [ -s "$T/$name.out" ]; then fail "$name-no-greeting" "the client got: $(head -c 100 "$T/$name.out" | tr -d '\r' | tr '\n' '|')"
	else pass "$name-no-greeting"; fi
	want="bad PROXY header from the balancer: $3; closing the connection"
	if [ "$(sed -n 1p "$T/$name.err" | sed -E 's/^pop3d\[[0-9]+\]: 127\.0\.0\.1: //')" = "$want" ]; then pass "$name-refusal-logged"
	else fail "$name-refusal-logged" "expected '$want', log: $(head -n 2 "$T/$name.err" | tr '\n' '|')"; fi
	if sed -n 2p "$T/$name.err" | grep -qE '^pop3d\[[0-9]+\]: 127\.0\.0\.1: logout: user=none auth=none .* end=proxy$' &&
		[ "$(wc -l <"$T/$name.err")" = 2 ]; then pass "$name-logout-end-proxy"
	else fail "$name-logout-end-proxy" "log: $(tr '\n' '|' <"$T/$name.err" | cut -c1-300)"; fi
}
NOTPP='not a PROXY protocol header'
# Not a header at all.
badhdr pop3-first "[b'USER alice\r\nPASS secret\r\nQUIT\r\n']" "$NOTPP"
badhdr pop3-first-capa "[b'CAPA\r\n']" "$NOTPP"
badhdr lowercase "[b'proxy TCP4 203.0.113.7 127.0.0.1 40001 110\r\n']" "$NOTPP"
badhdr prefix-without-space "[b'PROXY\r\nUSER alice\r\n']" "$NOTPP"
badhdr garbage-zeros "[b'\0' * 32]" "$NOTPP"
badhdr garbage-random "[bytes([0x8f, 0x1c, 0xa3, 0x51, 0x00, 0xfe, 0x7b, 0x22, 0x90, 0x0d, 0x0a, 0x42, 0xc4, 0x3e, 0x19, 0x77])]" "$NOTPP"
badhdr garbage-http "[b'GET / HTTP/1.1\r\nHost: mail.example.org\r\n\r\n']" "$NOTPP"
# A balancer sending TLS without a header (send-proxy forgotten).
badhdr tls-clienthello "[bytes.fromhex('16030100f4010000f00303') + bytes(32) + b'\x20' + bytes(32)]" "$NOTPP"
badhdr v2-bad-signature "[SIG[:11] + b'\r' + bytes([0x21, 0x11, 0, 12]) + bytes(12)]" "$NOTPP"
# Version 1, malformed.
badhdr v1-lf-only "[b'PROXY TCP4 203.0.113.7 127.0.0.1 40001 110\n']" 'version 1 header does not end in CRLF'
badhdr v1-lf-early "[b'PROXY TCP4\nUSER alice\r\n']" 'version 1 header: a line feed before its end'
badhdr v1-tcp5 "[b'PROXY TCP5 203.0.113.7 127.0.0.1 40001 110\r\n']" 'version 1 header: protocol is not TCP4, TCP6 or UNKNOWN'
badhdr v1-udp4 "[b'PROXY UDP4 203.0.113.7 127.0.0.1 40001 110\r\n']" 'version 1 header: protocol is not TCP4, TCP6 or UNKNOWN'
badhdr v1-unknownx "[b'PROXY UNKNOWNX\r\n']" 'version 1 header: protocol is not TCP4, TCP6 or UNKNOWN'
badhdr v1-bad-address "[b'PROXY TCP4 203.0.113.256 127.0.0.1 40001 110\r\n']" 'version 1 header: a bad address'
badhdr v1-family-mismatch "[b'PROXY TCP4 2001:db8::7 127.0.0.1 40001 110\r\n']" 'version 1 header: a bad address'
badhdr v1-tcp6-with-ipv4 "[b'PROXY TCP6 203.0.113.7 127.0.0.1 40001 110\r\n']" 'version 1 header: a bad address'
badhdr v1-host-name "[b'PROXY TCP4 client.example.org 127.0.0.1 40001 110\r\n']" 'version 1 header: a bad address'
badhdr v1-port-65536 "[b'PROXY TCP4 203.0.113.7 127.0.0.1 65536 110\r\n']" 'version 1 header: a bad port'
badhdr v1-port-leading-zero "[b'PROXY TCP4 203.0.113.7 127.0.0.1 40001 0110\r\n']" 'version 1 header: a bad port'
badhdr v1-port-sign "[b'PROXY TCP4 203.0.113.7 127.0.0.1 +4000 110\r\n']" 'version 1 header: a bad port'
badhdr v1-extra-field "[b'PROXY TCP4 203.0.113.7 127.0.0.1 40001 110 x\r\n']" "version 1 header: not 'PROXY TCPn SRC DST SPORT DPORT'"
badhdr v1-missing-field "[b'PROXY TCP4 203.0.113.7 127.0.0.1 40001\r\n']" "version 1 header: not 'PROXY TCPn SRC DST SPORT DPORT'"
badhdr v1-trailing-space "[b'PROXY TCP4 203.0.113.7 127.0.0.1 40001 110 \r\n']" "version 1 header: not 'PROXY TCPn SRC DST SPORT DPORT'"
badhdr v1-double-space "[b'PROXY TCP4 203.0.113.7  127.0.0.1 40001 110\r\n']" "version 1 header: not 'PROXY TCPn SRC DST SPORT DPORT'"
badhdr v1-nul "[b'PROXY TCP4 203.0.113.7\x00127.0.0.1 40001 110\r\n']" 'version 1 header has a control or 8-bit byte'
badhdr v1-8bit "[b'PROXY TCP4 203.0.113.7 127.0.0.1 40001 110\xe9\r\n']" 'version 1 header has a control or 8-bit byte'
badhdr v1-cr-inside "[b'PROXY TCP4 203.0.113.7\r127.0.0.1 40001 110\r\n']" 'version 1 header has a control or 8-bit byte'
# Version 1, over the limit: 108 bytes with the CRLF, and a line that
# never ends (refused at 107 bytes, not at the deadline).
badhdr v1-108-bytes "[$V1_108]" 'version 1 header longer than 107 bytes'
badhdr v1-endless "[b'PROXY TCP4 ' + b'1' * 4000]" 'version 1 header longer than 107 bytes'
# Version 2, malformed.
badhdr v2-version-1 "[v2(ver=1)]" 'version 2 header: unknown version'
badhdr v2-version-3 "[v2(ver=3)]" 'version 2 header: unknown version'
badhdr v2-command-2 "[v2(cmd=2)]" 'version 2 header: unknown command'
badhdr v2-command-15 "[v2(cmd=15)]" 'version 2 header: unknown command'
badhdr v2-udp4 "[v2(fam=0x12)]" 'version 2 header: not TCP over IPv4 or IPv6'
badhdr v2-udp6 "[v2(fam=0x22, src='2001:db8::7', dst='2001:db8::1')]" 'version 2 header: not TCP over IPv4 or IPv6'
badhdr v2-unix "[v2(fam=0x31, body=bytes(216))]" 'version 2 header: not TCP over IPv4 or IPv6'
badhdr v2-tcp4-short "[v2(body=bytes(8))]" 'version 2 header: addresses cut short'
badhdr v2-tcp6-short "[v2(fam=0x21, body=bytes(12))]" 'version 2 header: addresses cut short'
badhdr v2-tlv-past-end "[v2(tlvs=b'\x04\x00\x10abc')]" 'version 2 header: a TLV runs past the header'
badhdr v2-tlv-cut-short "[v2(tlvs=tlv(1, b'pop3') + b'\x04\x00')]" 'version 2 header: a TLV cut short'
# Version 2, over the limit: one byte past 2048, the length field 2048
# (2064 in all), and the largest length there is.
badhdr v2-2049-bytes "[$V2_2049]" 'version 2 header longer than the limit'
badhdr v2-length-2048 "[v2(body=bytes(2048))]" 'version 2 header longer than the limit'
badhdr v2-length-65535 "[v2(length=65535)]" 'version 2 header longer than the limit'
# Cut short, then closed by the balancer.
badhdr closed-at-once "['shut']" 'connection closed before a PROXY protocol header'
badhdr v1-truncated-closed "[b'PROXY TCP4 203.0.113.7', 'shut']" 'connection closed inside the PROXY protocol header'
badhdr v2-truncated-closed "[v2()[:20], 'shut']" 'connection closed inside the PROXY protocol header'
badhdr v2-signature-only-closed "[SIG, 'shut']" 'connection closed inside the PROXY protocol header'

# Silent, or slow: the deadline (5 s from the connection, not from the
# last byte) ends it.  Between 5 s and 7 s: not a benchmark, a bound.
took() {
	local t; t=$(elapsed "$2")
	if [ -n "$t" ] && perl -e 'exit !($ARGV[0] >= 5 && $ARGV[0] < 7)' "$t"; then pass "$1 ($t s)"
	else fail "$1" "ended after '${t:-?}' s, expected 5 to 7; client: $(tr '\n' ' ' <"$T/$2.client")"; fi
}
# A client that waits for the greeting, as a POP3 client does.
badhdr silent "[20]" 'no PROXY protocol header before the deadline'
took silent-ended-by-deadline silent
badhdr v1-slow "[b'PROXY TCP4 203.0.113.7 ', 20]" 'PROXY protocol header not complete before the deadline'
took v1-slow-ended-by-deadline v1-slow
badhdr v2-slow "[v2()[:14], 20]" 'PROXY protocol header not complete before the deadline'
took v2-slow-ended-by-deadline v2-slow
# One byte every 0.4 s of a valid header (19 s for all of it): each
# byte is in time, the header is not.
badhdr v1-dribble "[x for c in b'PROXY TCP4 203.0.113.7 127.0.0.1 40001 110\r\n' for x in (bytes([c]), 0.4)]" \
	'PROXY protocol header not complete before the deadline'
took v1-dribble-ended-by-deadline v1-dribble

# A signal while the header is awaited (systemd stopping the service,
# say): the session ends as a signal ends one anywhere else, end=signal
# and nothing else logged, at once; no bad header blamed on the
# balancer.  The pop3d is the child of its wrapper, whose pid names the
# log.
( sleep 1
  for f in "$T/logs/nr"/*.log; do
	pkill -TERM -P "$(basename "$f" .log)"
  done ) &
KP=$!
conn term-during-header nr 127.0.0.1 "[20]"
wait "$KP"
exited term-during-header
equal term-during-header-no-greeting "" "$(cat "$T/term-during-header.out")"
if [ "$(wc -l <"$T/term-during-header.err")" = 1 ] &&
	grep -qE '^pop3d\[[0-9]+\]: 127\.0\.0\.1: logout: user=none auth=none .* end=signal$' "$T/term-during-header.err"; then
	pass term-during-header-end-signal
else
	fail term-during-header-end-signal "log: $(tr '\n' '|' <"$T/term-during-header.err")"
fi
t=$(elapsed term-during-header)
if [ -n "$t" ] && perl -e 'exit !($ARGV[0] < 4)' "$t"; then pass "term-during-header-at-once ($t s)"
else fail term-during-header-at-once "ended after $t s"; fi

# -------------------------------------------- a peer not in the list
# 127.0.0.2 is no balancer: what it sends is a client's.  A forged v1
# header is a bad command (twice here: logged once), the session goes on
# as 127.0.0.2's.
put_mbox
conn forged-v1 nr 127.0.0.2 "[b'PROXY TCP4 203.0.113.66 127.0.0.1 40066 110\r\nPROXY TCP4 203.0.113.66 127.0.0.1 40066 110\r\nUSER alice\r\nPASS secret\r\nQUIT\r\n']"
exited forged-v1
crlf '+OK POP3 server ready' '-ERR unknown command' '-ERR unknown command' '+OK send PASS' \
	"+OK maildrop has 1 message ($OCTETS octets)" '+OK pop3d signing off (1 message left)' >"$T/forged-v1.exp"
same forged-v1-bad-command "$T/forged-v1.exp" "$T/forged-v1.out"
equal forged-v1-refusal-logged-once 1 "$(grep -cE '^pop3d\[[0-9]+\]: 127\.0\.0\.2: PROXY header refused: this peer is not in --proxy-from$' "$T/forged-v1.err")"
log_has forged-v1-login-as-peer forged-v1 '^pop3d\[[0-9]+\]: 127\.0\.0\.2: login: user=alice '
only_from forged-v1-every-line-names-peer forged-v1 127.0.0.2
nowhere forged-v1-address-unused forged-v1 203.0.113.66
# A forged v2 header: its signature's lines are bad commands and its
# QUIT ends the session, as the signature was made to; logged once.
put_mbox
conn forged-v2 nr 127.0.0.2 "[v2(src='203.0.113.67') + b'USER alice\r\nPASS secret\r\nQUIT\r\n']"
exited forged-v2
answer_is forged-v2-greeted forged-v2 1 '+OK POP3 server ready'
equal forged-v2-no-login "" "$(grep -a 'maildrop has' "$T/forged-v2.out")"
equal forged-v2-refusal-logged-once 1 "$(grep -cE '^pop3d\[[0-9]+\]: 127\.0\.0\.2: PROXY header refused: this peer is not in --proxy-from$' "$T/forged-v2.err")"
only_from forged-v2-every-line-names-peer forged-v2 127.0.0.2
nowhere forged-v2-address-unused forged-v2 203.0.113.67
# The v2 signature from a peer that then sends nothing: logged at once.
conn forged-v2-sig-only nr 127.0.0.2 "[SIG, 'shut']"
exited forged-v2-sig-only
log_has forged-v2-sig-only-refusal forged-v2-sig-only '^pop3d\[[0-9]+\]: 127\.0\.0\.2: PROXY header refused: '
# Two empty lines and a NUL that are not the session's first lines: no
# header, nothing logged (the mark is the signature, not those lines).
conn empty-lines-later nr 127.0.0.2 "[b'NOOP\r\n\r\n\r\n\x00\r\nQUIT\r\n']"
exited empty-lines-later
equal empty-lines-later-not-a-header "" "$(grep 'PROXY' "$T/empty-lines-later.err")"
# A peer not listed is greeted at once: it is not made to send a header
# (within 3 s, against the 5 s a balancer is given).
conn peer-greeted-at-once nr 127.0.0.2 "['greet', b'QUIT\r\n']"
exited peer-greeted-at-once
answer_is peer-greeted-at-once-greeting peer-greeted-at-once 1 '+OK POP3 server ready'
t=$(elapsed peer-greeted-at-once)
if [ -n "$t" ] && perl -e 'exit !($ARGV[0] < 3)' "$t"; then pass "peer-greeted-at-once-fast ($t s)"
else fail peer-greeted-at-once-fast "$t s"; fi
# A forged header with no login after it: the client address is still
# 127.0.0.2's (the failures it then makes are its own).
conn forged-v1-guess nr 127.0.0.2 "[b'PROXY TCP4 203.0.113.68 127.0.0.1 40068 110\r\nUSER alice\r\nPASS guess\r\nQUIT\r\n']"
exited forged-v1-guess
log_has forged-v1-guess-failure-is-peers forged-v1-guess '^pop3d\[[0-9]+\]: 127\.0\.0\.2: PASS failed for user=alice '
nowhere forged-v1-guess-address-unused forged-v1-guess 203.0.113.68

# ------------------------------------------------- fail2ban's filter
# The logs above as syslog writes them to /var/log/mail.log; the shipped
# filter must ban the forging peer and the clients behind the balancer
# that failed, never a forged address nor the balancer for its bad headers.
if need fail2ban-regex fail2ban; then
	mkdir -p "$T/f2b/filter.d"
	cp /etc/fail2ban/filter.d/common.conf "$T/f2b/filter.d/"
	cp "$TOP/fail2ban/filter.d/pop3d.conf" "$T/f2b/filter.d/pop3d.conf"
	cat "$T"/*.err | awk '/^pop3d\[[0-9]+\]: / { print "Dec  3 12:00:00 mailhost " $0 }' >"$T/mail.log"
	if fail2ban-regex -r -o '<ip>|<msg>' "$T/mail.log" "$T/f2b/filter.d/pop3d.conf" >"$T/matches" 2>"$T/regex.err"; then
		pass fail2ban-regex-runs
	else
		fail fail2ban-regex-runs "$(tail -n 2 "$T/regex.err" | tr '\n' ' ')"
	fi
	check f2b-log-has-bad-headers grep -q 'bad PROXY header from the balancer' "$T/mail.log"
	equal f2b-peer-matched-per-forged-connection 4 "$(grep -c '^127\.0\.0\.2|.*: PROXY header refused: ' "$T/matches")"
	check f2b-peer-failure-matched grep -q '^127\.0\.0\.2|.*PASS failed for user=alice' "$T/matches"
	equal f2b-forged-addresses-never "" "$(grep -E '^203\.0\.113\.6[678]\|' "$T/matches")"
	# (The balancer's own sessions, LOCAL and UNKNOWN, fail logins as
	# itself, and those are matched: they are its.)
	equal f2b-balancer-bad-headers-never 0 "$(grep -c 'bad PROXY header' "$T/matches")"
	check f2b-client-behind-balancer-v1 grep -q '^203\.0\.113\.7|.*: 203\.0\.113\.7: PASS failed for user=alice' "$T/matches"
	check f2b-client-behind-balancer-v2-ipv6 grep -q '^2001:db8:0:1::9|.*PASS failed for user=alice' "$T/matches"
	check f2b-limit-behind-balancer grep -q '^203\.0\.113\.16|.*: too many authentication failures' "$T/matches"
else
	fail fail2ban-installed "fail2ban-regex missing and apt-get could not install fail2ban"
fi

# ------------------------------------ dual-stack and IPv6 listeners
# pop3d.socket's ListenStream=110 is dual-stack: the balancer arrives as
# ::ffff:127.0.0.1 and is the listed 127.0.0.1.
P6=$(free_port $((P + 1)) 21849)
SHOST[ds]=127.0.0.1 SPORT[ds]=$P6
if serve ds "[::ffff:127.0.0.1]" "$P6" nr -p "$T/nr/passwd" -m "$T/nr/mail/%u" --proxy-from 127.0.0.1; then
	put_mbox
	conn ds-balancer ds 127.0.0.1 "[b'PROXY TCP4 203.0.113.30 127.0.0.1 40030 110\r\n' + $LOGIN_PY]"
	exited ds-balancer
	same ds-balancer-served "$T/login.exp" "$T/ds-balancer.out"
	only_from ds-balancer-names-client ds-balancer 203.0.113.30
	conn ds-peer ds 127.0.0.2 "[b'PROXY TCP4 203.0.113.31 127.0.0.1 40031 110\r\nQUIT\r\n']"
	exited ds-peer
	log_has ds-peer-refused ds-peer '^pop3d\[[0-9]+\]: 127\.0\.0\.2: PROXY header refused: '
	nowhere ds-peer-address-unused ds-peer 203.0.113.31
fi
if ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128'; then
	P7=$(free_port $((P6 + 1)) 21849)
	SHOST[v6]=::1 SPORT[v6]=$P7
	if serve v6 "[::1]" "$P7" nr -p "$T/nr/passwd" -m "$T/nr/mail/%u" --proxy-from ::1/128; then
		put_mbox
		conn v6-balancer v6 ::1 "[v2(fam=0x21, src='2001:db8::31', dst='2001:db8::1') + $LOGIN_PY]"
		exited v6-balancer
		same v6-balancer-served "$T/login.exp" "$T/v6-balancer.out"
		only_from v6-balancer-names-client v6-balancer 2001:db8::31
		conn v6-bad v6 ::1 "[b'USER alice\r\n']"
		exited v6-bad
		log_has v6-bad-refused v6-bad "^pop3d\[[0-9]+\]: ::1: bad PROXY header from the balancer: $NOTPP; "
	fi
else
	echo "no ::1 on lo: the IPv6 listener is not tested"
fi

# ------------------------------------------------------------ root mode
# pop3d started as root: the header is read before the privilege
# separation, and the address reaches the privileged parent, which
# authenticates and logs.  After the switch to the user's ids pop3d is
# non-dumpable: LeakSanitizer cannot attach at exit (see privsep.sh).
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"
if ! getent passwd pop3d >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pop3d
fi
[ -d /var/lib/pop3d/empty ] || install -d -m 755 -o root -g root /var/lib/pop3d/empty
useradd -M -d "$T/home/$PXUSER" -s /usr/sbin/nologin "$PXUSER"
PU=$(id -u "$PXUSER") PG=$(id -g "$PXUSER")
install -d -m 755 "$T/home" "$T/bin" "$T/rt"
install -d -m 755 -o "$PU" -g "$PG" "$T/home/$PXUSER"
install -d -m 1777 "$T/seen"
rt_mbox() {
	cp "$T/orig.mbox" "$T/home/$PXUSER/mbox"
	chown "$PU:$PG" "$T/home/$PXUSER/mbox"; chmod 600 "$T/home/$PXUSER/mbox"
}
rt_mbox
# A checkpassword program that writes its environment down (one line
# per run, in $T/seen/env) and accepts $PXUSER with pw-good.
cat >"$T/bin/cprecord" <<EOF
#!/usr/bin/perl
use strict;
use warnings;
use POSIX ();
my \$in = "";
if (open(my \$fd3, "<&=", 3)) { local \$/; \$in = <\$fd3> // ""; }
my (\$user, \$pass) = split /\\0/, \$in;
if (open(my \$f, ">>", "$T/seen/env")) {
	print \$f join(" ", map { "\$_=\$ENV{\$_}" } sort grep { /^TCP|^PROTO\$/ } keys %ENV), "\\n";
}
exit 1 unless (\$user // "") eq "$PXUSER" && (\$pass // "") eq "pw-good";
my @pw = getpwnam(\$user) or exit 111;
POSIX::setgid(\$pw[3]) or exit 111;
\$) = "\$pw[3] \$pw[3]";
POSIX::setuid(\$pw[2]) or exit 111;
@ENV{qw(USER HOME SHELL)} = (\$pw[0], \$pw[7], \$pw[8]);
exec { \$ARGV[0] } @ARGV;
exit 111;
EOF
chmod 755 "$T/bin/cprecord"
seen_env() { sed -n "${1}p" "$T/seen/env" 2>/dev/null; }
RP=$(free_port $((${P7:-$P6} + 1)) 21849)
SHOST[rt]=127.0.0.1 SPORT[rt]=$RP
RLOGIN_PY="b'USER $PXUSER\\r\\nPASS wrong\\r\\nUSER $PXUSER\\r\\nPASS pw-good\\r\\nSTAT\\r\\nQUIT\\r\\n'"
if serve rt 127.0.0.1 "$RP" rt --auth "checkpassword:$T/bin/cprecord" -m '%h/mbox' --proxy-from 127.0.0.1; then
	conn rt-v1 rt 127.0.0.1 "[b'PROXY TCP4 203.0.113.80 192.0.2.110 40080 110\r\n' + $RLOGIN_PY]"
	exited rt-v1
	answer_is rt-v1-login rt-v1 5 '+OK maildrop has 1 message*'
	equal rt-v1-failed-check-sees-client "PROTO=TCP TCPLOCALIP=192.0.2.110 TCPREMOTEIP=203.0.113.80" "$(seen_env 1)"
	equal rt-v1-login-check-sees-client "PROTO=TCP TCPLOCALIP=192.0.2.110 TCPREMOTEIP=203.0.113.80" "$(seen_env 2)"
	log_has rt-v1-failure-names-client rt-v1 "^pop3d\[[0-9]+\]: 203\.0\.113\.80: PASS failed for user=$PXUSER auth=checkpassword"
	log_has rt-v1-login-names-client rt-v1 "^pop3d\[[0-9]+\]: 203\.0\.113\.80: login: user=$PXUSER "
	log_has rt-v1-logout-names-client rt-v1 "^pop3d\[[0-9]+\]: 203\.0\.113\.80: logout: user=$PXUSER .* end=quit$"
	only_from rt-v1-every-line-names-client rt-v1 203.0.113.80
	rt_mbox
	conn rt-v2-tcp6 rt 127.0.0.1 "[v2(fam=0x21, src='2001:db8::80', dst='2001:db8::110') + $RLOGIN_PY]"
	exited rt-v2-tcp6
	answer_is rt-v2-tcp6-login rt-v2-tcp6 5 '+OK maildrop has 1 message*'
	equal rt-v2-tcp6-check-sees-client "PROTO=TCP TCPLOCALIP=2001:db8::110 TCPREMOTEIP=2001:db8::80" "$(seen_env 4)"
	only_from rt-v2-tcp6-every-line-names-client rt-v2-tcp6 2001:db8::80
	# The failure limit, counted for the connection of that client and
	# logged with its address; the next client's first try is its own.
	conn rt-limit rt 127.0.0.1 "[v2(src='203.0.113.81') + b'USER $PXUSER\r\nPASS a\r\nUSER $PXUSER\r\nPASS b\r\nUSER $PXUSER\r\nPASS c\r\nUSER $PXUSER\r\n']"
	exited rt-limit
	equal rt-limit-failures-name-client 3 "$(grep -cE "^pop3d\[[0-9]+\]: 203\.0\.113\.81: PASS failed for user=$PXUSER " "$T/rt-limit.err")"
	log_has rt-limit-line-names-client rt-limit '^pop3d\[[0-9]+\]: 203\.0\.113\.81: too many authentication failures \(3\); closing the connection$'
	only_from rt-limit-every-line-names-client rt-limit 203.0.113.81
	equal rt-limit-checks-see-client "TCPREMOTEIP=203.0.113.81 TCPREMOTEIP=203.0.113.81 TCPREMOTEIP=203.0.113.81" \
		"$(sed -n 5,7p "$T/seen/env" | grep -o 'TCPREMOTEIP=[^ ]*' | xargs)"
	rt_mbox
	conn rt-next-client rt 127.0.0.1 "[v2(src='203.0.113.82') + b'USER $PXUSER\r\nPASS pw-good\r\nQUIT\r\n']"
	exited rt-next-client
	answer_is rt-next-client-served rt-next-client 3 '+OK maildrop has 1 message*'
	only_from rt-next-client-names-itself rt-next-client 203.0.113.82
	# LOCAL: the balancer's own address for the program; a forging peer
	# is itself.
	conn rt-local rt 127.0.0.1 "[v2(cmd=0, src='203.0.113.83') + b'USER $PXUSER\r\nPASS wrong\r\nQUIT\r\n']"
	exited rt-local
	equal rt-local-check-sees-balancer "PROTO=TCP TCPLOCALIP=127.0.0.1 TCPREMOTEIP=127.0.0.1" "$(seen_env 9)"
	conn rt-forged rt 127.0.0.2 "[b'PROXY TCP4 203.0.113.84 192.0.2.110 40084 110\r\nUSER $PXUSER\r\nPASS wrong\r\nQUIT\r\n']"
	exited rt-forged
	equal rt-forged-check-sees-peer "PROTO=TCP TCPLOCALIP=127.0.0.1 TCPREMOTEIP=127.0.0.2" "$(seen_env 10)"
	log_has rt-forged-refusal rt-forged '^pop3d\[[0-9]+\]: 127\.0\.0\.2: PROXY header refused: this peer is not in --proxy-from$'
	nowhere rt-forged-address-unused rt-forged 203.0.113.84
	# A bad header in root mode: refused before the greeting, and no
	# program runs.
	n=$(wc -l <"$T/seen/env")
	conn rt-bad rt 127.0.0.1 "[b'PROXY TCP4 203.0.113.85 192.0.2.110 40085\r\nUSER $PXUSER\r\nPASS pw-good\r\n']"
	exited rt-bad
	equal rt-bad-no-greeting "" "$(cat "$T/rt-bad.out")"
	log_has rt-bad-refused rt-bad "^pop3d\[[0-9]+\]: 127\.0\.0\.1: bad PROXY header from the balancer: version 1 header: not 'PROXY TCPn SRC DST SPORT DPORT'; closing the connection$"
	log_has rt-bad-end-proxy rt-bad '^pop3d\[[0-9]+\]: 127\.0\.0\.1: logout: .* end=proxy$'
	equal rt-bad-no-program-run "$n" "$(wc -l <"$T/seen/env")"
	conn rt-slow rt 127.0.0.1 "[b'PROXY TCP4 ', 20]"
	exited rt-slow
	took rt-slow-ended-by-deadline rt-slow
	log_has rt-slow-refused rt-slow 'bad PROXY header from the balancer: PROXY protocol header not complete before the deadline; '
fi

# --tls (port 995): the header comes first, on the raw connection, then
# the handshake; the file back end, root mode.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=localhost -keyout "$T/rt/key.pem" -out "$T/rt/cert.pem" >"$T/req.log" 2>&1
chmod 600 "$T/rt/key.pem"
printf '%s:%s:%s:%s::%s\n' "$PXUSER" "$H" "$PU" "$PG" "$T/home/$PXUSER" >"$T/rt/passwd"
chmod 600 "$T/rt/passwd"
TP=$(free_port $((RP + 1)) 21849)
SHOST[tls]=127.0.0.1 SPORT[tls]=$TP
TLOGIN_PY="b'USER $PXUSER\\r\\nPASS wrong\\r\\nUSER $PXUSER\\r\\nPASS secret\\r\\nSTAT\\r\\nQUIT\\r\\n'"
if serve tls 127.0.0.1 "$TP" rt --tls -c "$T/rt/cert.pem" -k "$T/rt/key.pem" -p "$T/rt/passwd" \
	-m '%h/mbox' --proxy-from 127.0.0.1; then
	for v in v1 v2; do
		rt_mbox
		case $v in
		v1) hdr="b'PROXY TCP4 203.0.113.90 127.0.0.1 40090 995\r\n'" a=203.0.113.90 ;;
		v2) hdr="v2(fam=0x21, src='2001:db8::90', dst='2001:db8::995', dport=995)" a=2001:db8::90 ;;
		esac
		conn "tls-$v" tls 127.0.0.1 "[$hdr, 'tls', $TLOGIN_PY]" "$T/rt/cert.pem"
		exited "tls-$v"
		answer_is "tls-$v-greeting" "tls-$v" 1 '+OK POP3 server ready*'
		answer_is "tls-$v-login" "tls-$v" 5 '+OK maildrop has 1 message*'
		log_has "tls-$v-login-names-client" "tls-$v" "^pop3d\[[0-9]+\]: ${a//./\\.}: login: user=$PXUSER .*"
		log_has "tls-$v-failure-names-client" "tls-$v" "^pop3d\[[0-9]+\]: ${a//./\\.}: PASS failed for user=$PXUSER auth=file"
		log_has "tls-$v-logout-tls" "tls-$v" "^pop3d\[[0-9]+\]: ${a//./\\.}: logout: user=$PXUSER .*tls=TLSv1\.[23] .*end=quit$"
		only_from "tls-$v-every-line-names-client" "tls-$v" "$a"
	done
	# A balancer that sends no header: its ClientHello is refused, no
	# handshake (the client sees the connection closed).
	conn tls-no-header tls 127.0.0.1 "['tls', b'QUIT\r\n']" "$T/rt/cert.pem"
	exited tls-no-header
	equal tls-no-header-nothing-served "" "$(cat "$T/tls-no-header.out")"
	check tls-no-header-handshake-failed grep -q '^error ' "$T/tls-no-header.client"
	log_has tls-no-header-refused tls-no-header "^pop3d\[[0-9]+\]: 127\.0\.0\.1: bad PROXY header from the balancer: $NOTPP; closing the connection$"
	# A balancer's bare TCP check (connect, reset): nothing to serve and
	# nothing fail2ban counts, whether the reset comes before pop3d looks
	# at its peer (end=lost) or after (a bad header, not matched).  It
	# was served as a client without a header, its reset logged as a
	# failed TLS handshake.
	conn tls-reset tls 127.0.0.1 "['reset']"
	nowhere tls-reset-no-handshake-failure tls-reset "TLS handshake failed"
	log_has tls-reset-ends-lost-or-proxy tls-reset '^pop3d\[[0-9]+\]: [^ ]+: logout: user=none .*end=(lost|proxy)$'
	# A header, then no TLS: the failed handshake is the client's, and
	# fail2ban's line names it.
	conn tls-plain-after-header tls 127.0.0.1 "[b'PROXY TCP4 203.0.113.91 127.0.0.1 40091 995\r\nUSER $PXUSER\r\n']"
	survived tls-plain-after-header 0 1
	log_has tls-plain-after-header-names-client tls-plain-after-header '^pop3d\[[0-9]+\]: 203\.0\.113\.91: TLS handshake failed'
	only_from tls-plain-after-header-every-line tls-plain-after-header 203.0.113.91
fi

# -------------------------------------------------------- sanitizers
# Every pop3d's status and log were checked one by one (exited); and
# none is left unaccounted for.
left=$(find "$T/logs" -name '*.rc' | wc -l)
equal every-pop3d-checked 0 "$left"
hit=$(grep -l -aE "$SAN_RE" "$T"/*.err 2>/dev/null | head -n 3 | tr '\n' ' ')
equal no-sanitizer-report "" "$hit"
exit 0

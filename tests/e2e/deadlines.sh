#!/usr/bin/env bash
# tests/e2e/deadlines.sh - every wait is bounded (README, "Every wait is
# bounded"): a client that stops reading, sends half a TLS record, or
# stops in the middle of RETR cannot hold pop3d's processes or the
# maildrop's lock beyond the idle timeout (-t 2 here), in both ways pop3d
# runs:
#  - non-root ("pipe mode": the session keeps the identity it started
#    with; pop3d runs as nobody), over TCP and over pipes;
#  - root mode: the privsep parent, the pre-login process and the TLS relay
#    (privsep.c) must all be gone after the deadline, with no zombie.
# The network runs on 127.0.0.1 through a small python3 launcher (the
# accepted socket becomes pop3d's stdin and stdout, as with inetd) on a
# port the kernel picks; it records each session's pid, exit status and
# run time, and reads the TCP options pop3d set on the socket (keepalive,
# TCP_USER_TIMEOUT).  The clients are python3 too: they set a small
# SO_RCVBUF and then stop reading.
# Cases: (a) a CAPA flood before login, unread (non-root and root); (b)
# half a TLS record, then silence; (c) a TLS client that stops reading in
# the middle of RETR of an 8 MB message (non-root and root), then the owner
# logs in again; (d) the same in plain text over TCP and over a pipe; (e)
# root mode: no process left, and the parent's own deadlines when its
# child does not end (a pre-login process or a relay stopped with SIGSTOP);
# (f) the keepalive options on the socket, and none tried on a pipe.
. "$(dirname "$0")/../lib.sh"
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c), and lib.sh gives $T to nobody: root's again.
[ "$(id -u)" = 0 ] && chown root:root "$T"

if [ "$(id -u)" != 0 ]; then
	echo "deadlines.sh needs root (root-mode sessions, session users); skipped"
	exit 0
fi

cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
PY=/usr/bin/python3
TMO=2		# pop3d -t: the idle timeout under test
GRACE=2		# params.h PRIVSEP_GRACE
# How long a session may take to end once its client has stalled: the
# timeout (twice in root mode: the parent's, then the relay's), the
# grace, and room for a loaded machine running sanitizer builds.
LIMIT=$((2 * TMO + GRACE + 3))
PIDS=()
cleanup() {
	local p f
	exec 8>&- 9<&- 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	# Sessions the old code leaves hanging: only those we started.
	for f in "$T"/L/*/c*.pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f")
		pkill -KILL -s "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

for c in "$PY" openssl setpriv pgrep; do
	command -v "$c" >/dev/null || { fail "deps-$(basename "$c")" "not installed"; exit 0; }
done

# ------------------------------------------------------------ accounts

getent passwd pop3d >/dev/null ||
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pop3d
[ -d /var/lib/pop3d/empty ] || install -d -m 755 -o root -g root /var/lib/pop3d/empty
useradd -M -d /nonexistent -s /usr/sbin/nologin pop3ddl
RU=$(id -u pop3ddl) RG=$(id -g pop3ddl)

# --------------------------------------------- certificate and maildrops

mkdir -p "$T/nr/mail" "$T/rt/mail" "$T/L"
if ! openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-keyout "$T/key.pem" -out "$T/cert.pem" >"$T/req.log" 2>&1; then
	fail cert-made "openssl req: $(tail -n 2 "$T/req.log" | tr '\n' ' ')"
	exit 0
fi
chmod 644 "$T/cert.pem"
for d in nr rt; do install -m 600 "$T/key.pem" "$T/$d/key.pem"; done
chown nobody:nogroup "$T/nr/key.pem"

# One 8 MB message (more than any socket or pipe buffer holds) and a small.
perl -e 'print "From a\@example.org Mon Jan  1 10:00:00 2024\nSubject: big\n\n";
	print "x" x 75, "\n" for 1 .. 110000;
	print "\nFrom b\@example.org Mon Jan  1 10:00:00 2024\nSubject: small\n\nhi\n"' >"$T/orig.mbox"
H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/nr/passwd"
printf 'alice:%s:%s:%s::/nonexistent\n' "$H" "$RU" "$RG" >"$T/rt/passwd"
chmod 600 "$T/nr/passwd" "$T/rt/passwd"
chown nobody:nogroup "$T/nr" "$T/nr/passwd" "$T/nr/mail"
chown "$RU:$RG" "$T/rt/mail"

# ------------------------------------------------------------- launcher
# launcher.py PORTFILE DIR CMD...: accepts on 127.0.0.1 (a port the kernel
# picks, written to PORTFILE) and runs CMD with the socket as stdin and
# stdout.  Connection N: DIR/cN.pid, DIR/cN.err (stderr), DIR/cN.opts (the
# socket's options one second in), DIR/cN.rc ("STATUS SECONDS" at exit).
cat >"$T/launcher.py" <<'EOF'
import os, socket, subprocess, sys, threading, time
portfile, d, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(16)
with open(portfile + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)

def put(name, text):
    with open(name + ".tmp", "w") as f:
        f.write(text)
    os.rename(name + ".tmp", name)

def watch(i, c, p, t0):
    time.sleep(1)
    T = socket.IPPROTO_TCP
    try:
        put("%s/c%d.opts" % (d, i), "keepalive=%d idle=%d intvl=%d cnt=%d user_timeout=%d\n" % (
            c.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            c.getsockopt(T, socket.TCP_KEEPIDLE), c.getsockopt(T, socket.TCP_KEEPINTVL),
            c.getsockopt(T, socket.TCP_KEEPCNT), c.getsockopt(T, socket.TCP_USER_TIMEOUT)))
    except OSError as e:
        put("%s/c%d.opts" % (d, i), "error %s\n" % e)
    c.close()	# pop3d holds the connection alone from now on
    rc = p.wait()
    put("%s/c%d.rc" % (d, i), "%d %.2f\n" % (rc, time.monotonic() - t0))

n = 0
while True:
    c, _ = ls.accept()
    n += 1
    err = open("%s/c%d.err" % (d, n), "w")
    t0 = time.monotonic()
    # A small send buffer, as on a busy host: a few hundred kB of
    # answers fill it (loopback would otherwise grow it to megabytes).
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    # Its own session: pop3d's children keep its session id (pgrep -s).
    p = subprocess.Popen(cmd, stdin=c.fileno(), stdout=c.fileno(), stderr=err,
                         start_new_session=True)
    err.close()
    put("%s/c%d.pid" % (d, n), str(p.pid))
    threading.Thread(target=watch, args=(n, c, p, t0), daemon=True).start()
EOF

# client.py MODE PORT TLS SECONDS: the misbehaving clients (MODE flood,
# half, retr, idle) stall, then stay connected for SECONDS; MODE login logs in
# and prints the answer to PASS (or "no answer: ...").
cat >"$T/client.py" <<'EOF'
import socket, ssl, sys, time
mode, port, tls, linger = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "tls", float(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def connect(rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(8)
    s.connect(("127.0.0.1", port))
    return s

if mode == "flood":
    # 16 KB of CAPA, never read: pop3d's answers fill every buffer.
    s = connect(4096)
    try:
        s.sendall(b"CAPA\r\n" * 2700)
    except OSError:
        pass
    time.sleep(linger)
elif mode == "half":
    # A whole handshake, then the first half of a record, then silence.
    s = connect()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            s.sendall(out.read())
            inc.write(s.recv(65536))
    s.sendall(out.read())
    obj.write(b"CAPA\r\n")
    rec = out.read()
    s.sendall(rec[: len(rec) // 2])
    time.sleep(linger)
elif mode == "retr":
    # Logs in, starts RETR 1 and stops reading after 100 kB of it.
    s = connect(4096)
    if tls:
        s = ctx.wrap_socket(s, server_hostname="localhost")
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"USER alice\r\nPASS secret\r\n")
    f.readline()
    print(f.readline().decode().strip(), flush=True)
    s.sendall(b"RETR 1\r\n")
    f.read(100000)
    print("stopped reading", flush=True)
    time.sleep(linger)
elif mode == "idle":
    # Logs in, then says nothing more.
    s = connect()
    if tls:
        s = ctx.wrap_socket(s, server_hostname="localhost")
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"USER alice\r\nPASS secret\r\n")
    f.readline()
    print(f.readline().decode().strip(), flush=True)
    time.sleep(linger)
elif mode == "login":
    try:
        s = connect()
        if tls:
            s = ctx.wrap_socket(s, server_hostname="localhost")
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"USER alice\r\nPASS secret\r\n")
        f.readline()
        print(f.readline().decode().strip())
        s.sendall(b"QUIT\r\n")
        f.readline()
    except OSError as e:
        print("no answer: %s" % e)
EOF

# listener NAME ROOT|NOBODY ARGS...: a launcher running pop3d ARGS; PORT_NAME.
listener() {
	local name=$1 who=$2 i; shift 2
	local run=("$POP3D")
	[ "$who" = nobody ] && run=("${RUNAS[@]}" "$POP3D")
	mkdir -p "$T/L/$name"
	"$PY" "$T/launcher.py" "$T/L/$name/port" "$T/L/$name" "${run[@]}" -s -t "$TMO" "$@" \
		2>"$T/L/$name/launcher.err" &
	PIDS+=("$!")
	for i in $(seq 100); do [ -s "$T/L/$name/port" ] && break; sleep 0.05; done
	if [ ! -s "$T/L/$name/port" ]; then
		fail "listener-$name" "no port: $(tail -n 2 "$T/L/$name/launcher.err" | tr '\n' ' ')"
		exit 0
	fi
	printf -v "PORT_$name" %s "$(cat "$T/L/$name/port")"
}
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"	# root mode: non-dumpable
listener nr nobody -p "$T/nr/passwd" -m "$T/nr/mail/%u"
listener nrs nobody -p "$T/nr/passwd" -m "$T/nr/mail/%u" -c "$T/cert.pem" -k "$T/nr/key.pem" -S
listener rt root -p "$T/rt/passwd" -m "$T/rt/mail/%u"
listener rts root -p "$T/rt/passwd" -m "$T/rt/mail/%u" -c "$T/cert.pem" -k "$T/rt/key.pem" -S

# ------------------------------------------------------------- helpers

# client MODE LISTENER [TLS]: starts a client in the background; CONN is
# the launcher's number for its connection, CPID the client's pid.
client() {
	local mode=$1 l=$2 tls=${3:-plain} port
	port=PORT_$l
	CONN=$(( $(ls "$T/L/$l" | grep -c '\.pid$') + 1 ))
	"$PY" "$T/client.py" "$mode" "${!port}" "$tls" 60 >"$T/L/$l/client$CONN.out" 2>&1 &
	CPID=$!
	PIDS+=("$CPID")
	for _ in $(seq 100); do [ -s "$T/L/$l/c$CONN.pid" ] && break; sleep 0.05; done
}

# ended NAME LISTENER: connection CONN's pop3d exited within LIMIT seconds,
# without a sanitizer report; in root mode, no process of its session (the
# pre-login process, the relay) is left either, unless ONLY is "parent".
# The client stays connected (stop_client ends it): a client that closes
# would end the old code's sessions too.
ended() {
	local name=$1 l=$2 dir=$T/L/$2 pid left only=${3:-all}
	pid=$(cat "$dir/c$CONN.pid" 2>/dev/null)
	for _ in $(seq $((LIMIT * 10))); do
		[ -f "$dir/c$CONN.rc" ] && break
		sleep 0.1
	done
	if [ ! -f "$dir/c$CONN.rc" ]; then
		fail "$name-ended" "pop3d (pid $pid) still running ${LIMIT} s after the client stalled; log: $(tail -n 2 "$dir/c$CONN.err" | tr '\n' ' ')"
	elif grep -qaE "$SAN_RE" "$dir/c$CONN.err"; then
		fail "$name-ended" "sanitizer report: $(grep -a -m1 -E "$SAN_RE" "$dir/c$CONN.err")"
	else
		pass "$name-ended (status, seconds: $(cat "$dir/c$CONN.rc"))"
	fi
	if { [ "$l" = rt ] || [ "$l" = rts ]; } && [ "$only" = all ]; then
		# A child killed as its parent exits takes a moment to go.
		for _ in $(seq 20); do
			left=$(ps -o pid=,stat=,user=,args= -s "$pid" 2>/dev/null | tr -s ' ' | tr '\n' ';')
			[ -z "$left" ] && break
			sleep 0.1
		done
		if [ ! -f "$dir/c$CONN.rc" ]; then fail "$name-no-process-left" "the parent (pid $pid) is still there"
		elif [ -n "$left" ]; then fail "$name-no-process-left" "still there: $left"
		else pass "$name-no-process-left"; fi
	fi
}
stop_client() { kill "$CPID" 2>/dev/null; wait "$CPID" 2>/dev/null; }

# logged NAME LISTENER REGEX: connection CONN's log has a matching line.
logged() {
	if grep -qaE -- "$3" "$T/L/$2/c$CONN.err"; then pass "$1"
	else fail "$1" "no log line matching '$3': $(tr '\n' ' ' <"$T/L/$2/c$CONN.err" | cut -c1-300)"; fi
}

# relogin NAME LISTENER [TLS]: the owner logs in again while the stalled
# client is still connected: the lock is free.  (Held, the login would
# wait LOCK_WAIT_SECONDS for it, past the client's 8 s, and fail.)
relogin() {
	local got port=PORT_$2
	got=$(timeout 15 "$PY" "$T/client.py" login "${!port}" "${3:-plain}" 0)
	case $got in
	"+OK maildrop has 2 messages"*) pass "$1-owner-logs-in-again" ;;
	*) fail "$1-owner-logs-in-again" "PASS answered '$got'" ;;
	esac
}

# ---------------------------------------- (a) a CAPA flood, never read

client flood nr
ended flood-nonroot nr
logged flood-nonroot-logged nr 'client stopped reading'
stop_client

client flood rt
ended flood-root rt
logged flood-root-logged rt 'client stopped reading'
stop_client

# ---------------------------------------------- (b) half a TLS record

client half nrs tls
ended tls-half-record nrs
logged tls-half-record-logged nrs 'logout: .* end=timeout$'
stop_client

# ------------------------------- (c) TLS: stops reading in mid-RETR

fresh_mbox nr
client retr nrs tls
ended tls-retr-stall-nonroot nrs
logged tls-retr-stall-nonroot-logged nrs 'client stopped reading'
relogin tls-retr-stall-nonroot nrs tls
same tls-retr-stall-nonroot-mbox-unchanged "$T/orig.mbox" "$T/nr/mail/alice"
stop_client

fresh_mbox rt
client retr rts tls
ended tls-retr-stall-root rts
logged tls-retr-stall-root-logged rts 'client stopped reading'
relogin tls-retr-stall-root rts tls
stop_client

# ---------------------------- (d) plain text: stops reading in mid-RETR

fresh_mbox nr
client retr nr
ended plain-retr-stall-tcp nr
logged plain-retr-stall-tcp-logged nr 'client stopped reading'
relogin plain-retr-stall-tcp nr
stop_client

fresh_mbox rt
client retr rt
ended plain-retr-stall-root rt
relogin plain-retr-stall-root rt
stop_client

# Over pipes, as from a shell or an inetd-style wrapper: the 1 MiB pipe
# fills, nobody reads it.
fresh_mbox nr
mkfifo "$T/in.fifo" "$T/out.fifo"
chown nobody:nogroup "$T/in.fifo" "$T/out.fifo"
start=$SECONDS
( "${RUNAS[@]}" "$POP3D" -s -t "$TMO" -p "$T/nr/passwd" -m "$T/nr/mail/%u" \
	<"$T/in.fifo" >"$T/out.fifo" 2>"$T/pipe.err"; echo $? >"$T/pipe.rc" ) &
PIDS+=("$!")
PIPEPID=$!
exec 8>"$T/in.fifo" 9<"$T/out.fifo"
crlf 'USER alice' 'PASS secret' 'RETR 1' >&8
for _ in $(seq $((LIMIT * 10))); do [ -f "$T/pipe.rc" ] && break; sleep 0.1; done
if [ -f "$T/pipe.rc" ]; then
	pass "plain-retr-stall-pipe-ended (status $(cat "$T/pipe.rc"), about $((SECONDS - start)) s)"
else
	fail plain-retr-stall-pipe-ended "pop3d still writing into a full pipe ${LIMIT} s after the reader stopped"
fi
if grep -q 'client stopped reading' "$T/pipe.err"; then pass plain-retr-stall-pipe-logged
else fail plain-retr-stall-pipe-logged "log: $(tr '\n' ' ' <"$T/pipe.err" | cut -c1-300)"; fi
got=$(crlf 'USER alice' 'PASS secret' 'QUIT' | timeout 10 "${RUNAS[@]}" "$POP3D" -s -t "$TMO" \
	-p "$T/nr/passwd" -m "$T/nr/mail/%u" 2>"$T/pipe2.err" | sed -n 3p | tr -d '\r')
case $got in
"+OK maildrop has 2 messages"*) pass plain-retr-stall-pipe-owner-logs-in-again ;;
*) fail plain-retr-stall-pipe-owner-logs-in-again "PASS answered '$got'" ;;
esac
exec 8>&- 9<&-
kill "$PIPEPID" 2>/dev/null; wait "$PIPEPID" 2>/dev/null
# (f) on a pipe, no socket option is tried, and nothing is logged about it.
if grep -qE 'sockopt' "$T/pipe.err" "$T/pipe2.err"; then
	fail pipe-no-sockopt-noise "$(grep -h sockopt "$T/pipe.err" "$T/pipe2.err" | head -n 1)"
else
	pass pipe-no-sockopt-noise
fi

# ----------- (e) root mode: the parent's deadlines when a child does not end

# A pre-login process that never asks (stopped): the parent kills and
# reaps it after the idle timeout plus the grace, and exits.
client flood rt
for _ in $(seq 50); do
	kid=$(pgrep -P "$(cat "$T/L/rt/c$CONN.pid")" | head -n 1)
	[ -n "$kid" ] && break
	sleep 0.05
done
[ -n "$kid" ] && kill -STOP "$kid"
ended root-prelogin-stopped rt
logged root-prelogin-stopped-logged rt 'no login request within|did not exit within'
stop_client

# A TLS relay that stops after the login: the session meets its idle
# timeout, and the parent does not wait for the relay forever.  It runs as
# the user by then and may not kill the relay (the pop3d account): it logs
# that and exits; init reaps the relay, whose own waits are bounded (only
# its own account or root can stop it, as here).
fresh_mbox rt
client idle rts tls
for _ in $(seq 100); do
	grep -q '^+OK' "$T/L/rts/client$CONN.out" 2>/dev/null && break
	sleep 0.05
done
kid=$(pgrep -P "$(cat "$T/L/rts/c$CONN.pid")" | head -n 1)
if [ -n "$kid" ] && kill -STOP "$kid"; then
	: # the relay is stopped; the session cannot end through it
	ended root-relay-stopped rts parent
	logged root-relay-stopped-logged rts 'did not exit within.*'
	kill -KILL "$kid" 2>/dev/null
else
	fail root-relay-stopped "no relay process after the login: $(cat "$T/L/rts/client$CONN.out")"
fi
stop_client

# ------------------------------------------- (f) keepalive on the socket

want="keepalive=1 idle=60 intvl=10 cnt=6 user_timeout=$(( (TMO + GRACE) * 1000 ))"
for l in nr rt; do
	equal "keepalive-$l" "$want" "$(cat "$T/L/$l/c1.opts" 2>/dev/null)"
done

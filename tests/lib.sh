# tests/lib.sh - helpers for the end-to-end tests.  Sourced by every
# tests/e2e/*.sh script, which runs with BIN set to the directory holding
# the sanitizer builds of pop3d and pop3passwd.  Each check prints one
# "PASS name" or "FAIL name: reason" line; tests/e2e.sh counts them.
set -u
: "${BIN:?BIN must name the directory of the binaries under test}"
POP3D="$BIN/pop3d"
POP3PASSWD="$BIN/pop3passwd"
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}"
# The machine's own /etc/pop3d/pop3d.conf (an installed package's) must not
# change what the tests run: pop3d reads none unless a test says which.
export POP3D_CONFIG="${POP3D_CONFIG_FOR_TESTS:-/nonexistent/pop3d-e2e.conf}"

# A fresh scratch directory per script, removed at exit.
T=$(mktemp -d /tmp/pop3d-e2e.XXXXXX)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT

# When the tests run as root (as CI does), pop3d runs as "nobody": a
# session in pipe mode keeps the identity it was started with, and root
# itself is never served.  Files a session must own go through own().
RUNAS=()
TEST_USER=$(id -un)
if [ "$(id -u)" = 0 ]; then
	RUNAS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	TEST_USER=nobody
	chown nobody:nogroup "$T"
fi
own() { if [ "$(id -u)" = 0 ]; then chown nobody:nogroup "$@"; fi; }

# tests/e2e.sh runs scripts side by side, and useradd refuses to run while
# another holds /etc/passwd's lock ("cannot lock /etc/passwd"), or races
# one that creates the same user: every script's useradd goes through one
# lock, and a user that appeared meanwhile is not an error.  A mail user
# (created without -r/--system) must be a normal account, uid 1000 or
# more, for pop3d's --first-uid default: one an older test run made as a
# system account is made again.
useradd() {
	local name=${*: -1} system=0 a
	for a in "$@"; do
		case $a in -r|--system) system=1 ;; esac
	done
	flock /run/lock/pop3d-e2e-users.lock sh -c '
		name=$1 system=$2; shift 2
		if uid=$(id -u "$name" 2>/dev/null); then
			[ "$system" = 1 ] || [ "$uid" -ge 1000 ] && exit 0
			userdel "$name" || exit 1
		fi
		exec useradd "$@"' sh "$name" "$system" "$@"
}

# run_pop3d ARGS...: the binary under test, as the session user.
run_pop3d() { "${RUNAS[@]}" "$POP3D" "$@"; }

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# equal NAME EXPECTED ACTUAL: PASS if the two strings are the same.
equal() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi; }

# check NAME COMMAND...: PASS if the command succeeds.
check() {
	local name=$1; shift
	if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

# Writes CRLF-terminated lines: crlf 'USER a' 'PASS b'
crlf() { local l; for l in "$@"; do printf '%s\r\n' "$l"; done; }

# mkhash PASSWORD [SETTING]: a crypt(3) hash made by libxcrypt through
# Perl's crypt() (Debian's perl links libcrypt).  The default setting is
# sha512-crypt with a fixed salt; pass '$y$j9T$...' etc. for others.
mkhash() {
	perl -e 'print crypt($ARGV[0], $ARGV[1] // q{$6$saltsalt$})' "$1" "${2:-\$6\$saltsalt\$}"
}

# ------------------------------------------------ session helpers
# Shared by the e2e scripts; a script may define its own variant after
# sourcing this file.

SAN_RE='runtime error|AddressSanitizer|LeakSanitizer'

# pop NAME ARGS...: one pop3d session reading the caller's stdin; stdout in
# $T/NAME.out, stderr in $T/NAME.err, exit status in $T/NAME.rc.
pop() {
	local name=$1; shift
	run_pop3d "$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}

# exited NAME [STATUS]: the session ended with STATUS (default 0) and
# without any sanitizer report (exit status 98/99 or text on stderr).
exited() {
	local name=$1 want=${2:-0} rc
	rc=$(cat "$T/$name.rc" 2>/dev/null || echo none)
	if [ "$rc" = 98 ] || [ "$rc" = 99 ] || grep -qE "$SAN_RE" "$T/$name.err"; then
		fail "$name-exit" "sanitizer report (exit status $rc): $(grep -m1 -E "$SAN_RE" "$T/$name.err")"
	elif [ "$rc" != "$want" ]; then
		fail "$name-exit" "exit status $rc, expected $want; stderr: $(tail -n 2 "$T/$name.err" | tr '\n' ' ')"
	else
		pass "$name-exit"
	fi
}

# survived NAME STATUS...: the session NAME was not killed by a signal,
# left no sanitizer report, and its exit status is one of those given.
survived() {
	local name=$1 rc ok=no s; shift
	rc=$(cat "$T/$name.rc" 2>/dev/null || echo none)
	for s in "$@"; do [ "$rc" = "$s" ] && ok=yes; done
	if [ "$rc" = 98 ] || [ "$rc" = 99 ] || grep -qaE "$SAN_RE" "$T/$name.err"; then
		fail "$name-exit" "sanitizer report (status $rc): $(grep -a -m1 -E "$SAN_RE" "$T/$name.err")"
	elif [ "$rc" = none ] || [ "$rc" -gt 128 ]; then
		fail "$name-exit" "status $rc (signal $((${rc/none/0} - 128)))"
	elif [ "$ok" = no ]; then
		fail "$name-exit" "status $rc, expected one of: $*; log: $(tail -n 2 "$T/$name.err" | tr '\n' ' ')"
	else
		pass "$name-exit"
	fi
}

# firstdiff EXPECTED ACTUAL: where two files first differ, on one line.
firstdiff() {
	perl -e '
		open(A, "<", $ARGV[0]) or die; open(B, "<", $ARGV[1]) or die;
		binmode A; binmode B;
		for (my $n = 1;; $n++) {
			my ($x, $y) = (scalar <A>, scalar <B>);
			last if !defined $x && !defined $y;
			next if defined $x && defined $y && $x eq $y;
			for ($x, $y) {
				$_ = "<EOF>", next unless defined;
				s/([^\x20-\x7e])/sprintf("\\x%02x", ord $1)/ge;
				$_ = substr($_, 0, 150);
			}
			print "line $n: expected \"$x\", got \"$y\"";
			last;
		}' "$1" "$2"
}

# same CHECK EXPECTED ACTUAL: the two files are byte-identical.
same() {
	if cmp -s "$2" "$3"; then pass "$1"; else fail "$1" "$(firstdiff "$2" "$3")"; fi
}

# transcript NAME LINE...: session NAME wrote exactly these lines, each
# ended by CRLF.
transcript() {
	local name=$1; shift
	crlf "$@" >"$T/$name.exp"
	same "$name-transcript" "$T/$name.exp" "$T/$name.out"
}

# mbox_of_messages: $T/orig.mbox from the stored messages in $T/msg/NN:
# a From_ line before each, an empty line after each but the last.
FROM='From sender@example.org Mon Jan  1 10:00:00 2024'
mbox_of_messages() {
	local f last
	last=$(ls "$T/msg" | tail -n 1)
	for f in "$T"/msg/*; do
		printf '%s\n' "$FROM"
		cat "$f"
		[ "${f##*/}" = "$last" ] || printf '\n'
	done >"$T/orig.mbox"
}

# expect_messages: from the stored messages in $T/msg/NN (no From_ line),
# writes what a client must receive: $T/exp/crlf/NN as pop3d sends it
# (CRLF line ends, a final CRLF added, before byte-stuffing) and
# $T/exp/lf/NN the same with LF line ends, for clients that write LF.
expect_messages() {
	local f
	mkdir -p "$T/exp/crlf" "$T/exp/lf"
	for f in "$T"/msg/*; do
		perl -0777 -pe 's/\n/\r\n/g; $_ .= "\r\n" if length && !/\r\n\z/' "$f" >"$T/exp/crlf/${f##*/}"
		perl -0777 -pe '$_ .= "\n" if length && !/\n\z/' "$f" >"$T/exp/lf/${f##*/}"
	done
}

# ------------------------------------------------ step-by-step sessions
# A session driven one command at a time: fifo_start NAME CMD... runs the
# command line CMD (exec'd, so DRIVEN is its pid: pop3d's, through
# setpriv) reading a fifo that fd 7 writes to, stdout in $T/NAME.out and
# stderr in $T/NAME.err; send LINE... writes commands; await NAME N
# [TRIES] waits until N reply lines have arrived (pop3d flushes whenever
# its input runs dry; TRIES x 50 ms, default 200); finish NAME closes the
# fifo and records the exit status in $T/NAME.rc (DRIVEN keeps the pid).
fifo_start() {
	local name=$1; shift
	rm -f "$T/$name.fifo"
	mkfifo "$T/$name.fifo"
	( exec "$@" <"$T/$name.fifo" >"$T/$name.out" 2>"$T/$name.err" ) &
	DRIVEN=$!
	exec 7>"$T/$name.fifo"
}
send() { crlf "$@" >&7; }
await() {
	local _
	for _ in $(seq "${3:-200}"); do
		[ "$(wc -l <"$T/$1.out")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
finish() { exec 7>&-; wait "$DRIVEN" 2>/dev/null; echo $? >"$T/$1.rc"; }

# fresh_mbox MODE: a new copy of $T/orig.mbox as MODE's maildrop
# $T/MODE/mail/alice, for the scripts that run a non-root ("nr", as
# nobody) and a root-mode ("rt", as $RU:$RG) server side by side.
fresh_mbox() {
	local m=$T/$1/mail/alice
	rm -f "$m" "$m.lock"
	cp "$T/orig.mbox" "$m"
	chmod 600 "$m"
	if [ "$1" = nr ]; then chown nobody:nogroup "$m"; else chown "$RU:$RG" "$m"; fi
}

# ------------------------------------------------ syslog, for root tests
# glibc's syslog(3) writes to /dev/log, which a test cannot take over on
# the host (other programs log there, or it does not exist).  As root, a
# command can get a /dev/log of its own in a private mount namespace: a
# tmpfs over /dev with the usual device nodes and our listener's socket.
#
# syslog_listen NAME: a datagram listener at $T/NAME.sock that appends each
# message to $T/NAME.log, one a line; its pid in SYSLOG_PID.  Returns 1 if
# it did not start.
syslog_listen() {
	rm -f "$T/$1.sock" "$T/$1.log.ready"
	make_with_devlog
	python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "ab", buffering=0) as f:
    open(sys.argv[2] + ".ready", "w").close()
    while True:
        f.write(s.recv(65536).rstrip(b"\0").replace(b"\n", b" ") + b"\n")' \
		"$T/$1.sock" "$T/$1.log" 2>"$T/$1.listener.err" &
	SYSLOG_PID=$!
	local _
	for _ in $(seq 100); do [ -e "$T/$1.log.ready" ] && return 0; sleep 0.02; done
	return 1
}
# $T/with-devlog SOCKET CMD... (made by syslog_listen, a file so that
# any program can run it): CMD, exec'd, in a private mount namespace whose
# /dev/log is SOCKET.  Root only; status 125 if the namespace could not be
# made.  with_devlog is the same as a shell function.
make_with_devlog() {
	cat >"$T/with-devlog" <<'EOS'
#!/usr/bin/env bash
exec unshare -m --propagation private bash -c '
	sock=$1 d=$2; shift 2
	mkdir -p "$d" && mount -t tmpfs -o mode=755 pop3d-test-dev "$d" || exit 125
	for n in null zero full random urandom tty; do
		[ -e "/dev/$n" ] && cp -a "/dev/$n" "$d/"
	done
	ln -s /proc/self/fd "$d/fd"; mkdir "$d/pts" "$d/shm"
	touch "$d/log" && mount --bind "$sock" "$d/log" && mount --move "$d" /dev || exit 125
	exec "$@"' with-devlog "$1" "$(dirname "$1")/dev.$$" "${@:2}"
EOS
	chmod 755 "$T/with-devlog"
}
with_devlog() { "$T/with-devlog" "$@"; }
# inetd_run INPUT CMD...: CMD with one end of a socket pair as its
# descriptors 0, 1 and 2, as inetd and xinetd start a server; INPUT's
# bytes are sent, then the client half-closes.  Prints the exit status on
# one line, then every byte the client received (Python repr).
inetd_run() {
	python3 -c '
import socket, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen(sys.argv[2:], stdin=b, stdout=b, stderr=b)
b.close()
a.sendall(open(sys.argv[1], "rb").read())
a.shutdown(socket.SHUT_WR)
a.settimeout(20)
got = b""
while True:
    try:
        c = a.recv(65536)
    except OSError:
        break
    if not c:
        break
    got += c
print(p.wait())
print(repr(got))' "$@"
}

# ------------------------------------------------ transcripts and logs
# Session NAME's answers are in $T/NAME.out, its log in $T/NAME.err.

# line NAME N: line N of NAME's answers, without the CR.
line() { sed -n "${2}p" "$T/$1.out" | tr -d '\r'; }
# answer_is CHECK NAME N PATTERN: line N of session NAME matches the glob.
answer_is() {
	local got; got=$(line "$2" "$3")
	# shellcheck disable=SC2254
	case $got in $4) pass "$1" ;; *) fail "$1" "line $3: '$got'; log: $(tail -n 2 "$T/$2.err" | tr '\n' ' ')" ;; esac
}
# log_has CHECK NAME ERE: NAME's log has a line matching ERE.
log_has() {
	if grep -qE -- "$3" "$T/$2.err"; then pass "$1"
	else fail "$1" "no log line matching '$3': $(tr '\n' ' ' <"$T/$2.err" | cut -c1-300)"; fi
}

# ------------------------------------------------ ports
# Each script searches its own range (tests/e2e.sh runs two at a time).

# listening PORT: something listens on 127.0.0.1:PORT or *:PORT (IPv4/6).
listening() {
	local hex; hex=$(printf '%04X' "$1")
	awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# free_port FROM TO: the first port in the range nothing uses.
free_port() {
	local p hex
	for p in $(seq "$1" "$2"); do
		hex=$(printf '%04X' "$p")
		awk -v p=":$hex" 'substr($2, length($2) - 4) == p || substr($3, length($3) - 4) == p { f = 1 } END { exit f }' \
			/proc/net/tcp /proc/net/tcp6 2>/dev/null && { echo "$p"; return 0; }
	done
	return 1
}

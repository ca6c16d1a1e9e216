#!/usr/bin/env bash
# bench/haproxy.sh - sessions per second through HAProxy (issue 15): part
# of `make bench` (run by bench/run.sh after its own report), or alone as
# `make bench-haproxy`.  Must run as root.  Not part of `make check`.
#
# Parameters (environment or make variables):
#   BENCH_HAPROXY_CLIENTS  client loops running side by side            [4]
#   BENCH_HAPROXY_SECONDS  length of one measurement, in seconds       [10]
#   BENCH_RUNS             measurements of each path (median)           [5]
#   BENCH_WORKDIR          scratch space              [/var/tmp/pop3d-bench]
#
# The set-up is the README's "Scaling out": two pop3d front ends A and B,
# each systemd-socket-activate --accept --inetd (pop3d.socket's way) on a
# loopback port of its own, pop3d started as root (privilege separation)
# with proxy-from = 127.0.0.1, one spool; HAProxy in the foreground with
# the README's block (tests/haproxy-config.sh, only addresses and ports
# changed; POP3S listeners too, so that its health checks pass), once as
# written (two front ends) and once with mx2's lines left out (one).
# Three paths, measured in turn in each run so that a drift of the
# machine touches all three alike:
#   direct  the clients connect to front end A themselves (from
#           127.0.0.2, not a balancer: no PROXY header);
#   one     through HAProxy to A alone (the header, HAProxy's relay);
#   two     through HAProxy to A and B.
# A session is login (sha512-crypt), STAT, QUIT on a 10-message maildrop,
# counted when pop3d has closed the connection (bench/poploop.c); client
# i uses maildrop i, so no session waits for another's lock.  Writes
# bench/results/haproxy.csv and the section "Sessions per second through
# HAProxy" of bench/RESULTS.md (replaced, or added after the rest), and
# prints the table.
set -euo pipefail
export LC_ALL=C

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$TOP/bench
CLIENTS=${BENCH_HAPROXY_CLIENTS:-4}
SECS=${BENCH_HAPROXY_SECONDS:-10}
RUNS=${BENCH_RUNS:-5}
W=${BENCH_WORKDIR:-/var/tmp/pop3d-bench}/haproxy
BUSER=pop3dbench	# bench/run.sh's account, made here when missing
BPASS='Bench-pw-5e81c'
NMSG=10
prog=bench/haproxy.sh
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }
say() { printf '%s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (pop3d in root mode, as its launchers start it)"
[[ $CLIENTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_HAPROXY_CLIENTS must be a positive integer"
[[ $SECS =~ ^[1-9][0-9]*$ ]] || die "BENCH_HAPROXY_SECONDS must be a positive integer"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
START=$EPOCHSECONDS

# ------------------------------------------------------------ packages
need=()
command -v haproxy >/dev/null || need+=(haproxy)
command -v systemd-socket-activate >/dev/null || need+=(systemd)
command -v openssl >/dev/null || need+=(openssl)
command -v cc >/dev/null || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
	# No service may start from them: this HAProxy is the benchmark's.
	own_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	say "installing ${need[*]}"
	sh "$TOP/tests/apt-install.sh" "${need[@]}" || { [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d; die "installing ${need[*]} failed"; }
	[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
fi
HAPROXY_VERSION=$(haproxy -v | awk 'NR == 1 { print $3 }')

# ------------------------------------------------------------ build
say "building pop3d (make pop3d) and bench/poploop"
make -C "$TOP" --no-print-directory pop3d >&2 || die "make pop3d failed"
rm -rf "$W"
mkdir -p "$W/bin" "$W/etc" "$W/spool" "$W/mbox"
chmod 755 "$W" "$W/bin" "$W/etc"
cc -O2 -Wall -D_GNU_SOURCE -o "$W/bin/poploop" "$B/poploop.c" || die "cannot build poploop"
cc -O2 -Wall -o "$W/bin/gen-mbox" "$B/gen-mbox.c" -lm || die "cannot build gen-mbox"
# A copy: a rebuild while this runs must not change the binary measured.
install -m 755 "$TOP/pop3d" "$W/bin/pop3d"

# ------------------------------------------------------------ accounts
if ! getent passwd "$BUSER" >/dev/null; then
	useradd --system --user-group --create-home --home-dir /var/lib/pop3dbench \
		--shell /usr/sbin/nologin --comment 'pop3d benchmark' "$BUSER" || die "useradd $BUSER failed"
fi
BUID=$(id -u "$BUSER") BGID=$(id -g "$BUSER")
if ! getent passwd pop3d >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pop3d
fi
[ -d /var/lib/pop3d/empty ] || install -d -m 755 -o root -g root /var/lib/pop3d/empty
# The password file of root mode: one virtual user per client loop, all
# the bench account's, each with its own maildrop; sha512-crypt as
# bench/run.sh's sessions (5000 rounds, the default).
HASH=$(perl -e 'print crypt($ARGV[0], q{$6$haproxybench$})' "$BPASS")
for i in $(seq "$CLIENTS"); do
	printf 'hb%s:%s:%s:%s::/nonexistent\n' "$i" "$HASH" "$BUID" "$BGID"
done >"$W/etc/passwd"
chmod 600 "$W/etc/passwd"
chown "$BUID:$BGID" "$W/spool"
chmod 700 "$W/spool"
"$W/bin/gen-mbox" "$NMSG" 10240 1 "$W/mbox/small.mbox" || die "gen-mbox failed"
for i in $(seq "$CLIENTS"); do
	install -o "$BUID" -g "$BGID" -m 600 "$W/mbox/small.mbox" "$W/spool/hb$i"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=localhost -keyout "$W/etc/key.pem" -out "$W/etc/cert.pem" >"$W/req.log" 2>&1 ||
	die "openssl req failed: $(tail -n 2 "$W/req.log")"
chmod 600 "$W/etc/key.pem"
# first-uid: the bench account is a system account (below 1000), which
# pop3d refuses to serve unless told.
printf '%s\n' "passwd = $W/etc/passwd" "mailbox = $W/spool/%u" "proxy-from = 127.0.0.1" \
	"first-uid = $BUID" >"$W/etc/pop3d.conf"
{ cat "$W/etc/pop3d.conf"; printf '%s\n' "tls-cert = $W/etc/cert.pem" "tls-key = $W/etc/key.pem"; } >"$W/etc/pop3s.conf"
chmod 644 "$W/etc/pop3d.conf" "$W/etc/pop3s.conf"

# ------------------------------------------------------------ servers
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
listening() {
	local hex; hex=$(printf '%04X' "$1")
	awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' /proc/net/tcp
}
used=" "
# free_port VAR: a loopback port nothing uses, nor one given out before,
# in VAR (not printed: a command substitution's subshell would forget
# what it gave out).
free_port() {
	local p hex
	for p in $(seq 21900 21999); do
		case $used in *" $p "*) continue ;; esac
		hex=$(printf '%04X' "$p")
		if awk -v p=":$hex" 'substr($2, length($2) - 4) == p || substr($3, length($3) - 4) == p { f = 1 } END { exit f }' \
			/proc/net/tcp /proc/net/tcp6 2>/dev/null; then
			used="$used$p "
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free port in 21900-21999"
}
wait_listening() {
	local _
	for _ in $(seq 200); do listening "$1" && return 0; sleep 0.05; done
	die "nothing listens on 127.0.0.1:$1"
}
# listener NAME PORT CONF [--tls]: a front end's socket; pop3d's log (-s)
# and the launcher's lines in $W/NAME.log.
listener() {
	systemd-socket-activate --accept --inetd -l "127.0.0.1:$2" \
		"$W/bin/pop3d" -s --config "$3" "${@:4}" 2>>"$W/$1.log" &
	PIDS+=("$!")
	wait_listening "$2"
	still_running "$!" "$1"
}
# still_running PID NAME: a port taken by someone else since free_port
# looked makes the launcher or HAProxy exit at once, while the port
# listens all the same: dead by now means the port was not ours.
still_running() {
	sleep 0.2
	kill -0 "$1" 2>/dev/null || die "$2 did not start (port taken meanwhile?): $(tail -n 2 "$W/$2".{log,out} 2>/dev/null | tr '\n' ' ')"
}
free_port PA; free_port PB; free_port PAS; free_port PBS
listener a "$PA" "$W/etc/pop3d.conf"
listener b "$PB" "$W/etc/pop3d.conf"
listener as "$PAS" "$W/etc/pop3s.conf" --tls
listener bs "$PBS" "$W/etc/pop3s.conf" --tls

# haproxy NAME ONE_SERVER: the README's block on two free ports; its pop3
# frontend's port in HPORT.
haproxy_start() {
	local f110 f995
	free_port f110; free_port f995
	{
		# noreuseport: a port another HAProxy holds must fail to
		# bind, not be shared with it (SO_REUSEPORT, the default).
		printf 'global\n    stats socket %s mode 600 level admin\n    noreuseport\n\n' "$W/$1.sock"
		BIND_110=127.0.0.1:$f110 BIND_995=127.0.0.1:$f995 MX1_110=127.0.0.1:$PA MX2_110=127.0.0.1:$PB \
			MX1_995=127.0.0.1:$PAS MX2_995=127.0.0.1:$PBS ONE_SERVER=$2 \
			bash "$TOP/tests/haproxy-config.sh" "$TOP/README.md" || die "tests/haproxy-config.sh failed"
	} >"$W/$1.cfg"
	haproxy -c -f "$W/$1.cfg" >"$W/$1.check" 2>&1 || die "haproxy -c $W/$1.cfg: $(tail -n 3 "$W/$1.check")"
	haproxy -db -f "$W/$1.cfg" >"$W/$1.out" 2>&1 &
	PIDS+=("$!")
	wait_listening "$f110"
	still_running "$!" "$1"
	HPORT=$f110
}
haproxy_start one 1
PONE=$HPORT
haproxy_start two 0
PTWO=$HPORT

# ------------------------------------------------------------ runs
RAW=$W/raw
: >"$RAW"
# logins NAME: the logins of the benchmark's clients in NAME's log.
logins() { grep -cE '^pop3d\[[0-9]+\]: 127\.0\.0\.2: login: user=hb' "$W/$1.log" || true; }
# measure PATH PORT: one measurement; a row in $RAW: path, run, sessions,
# errors, seconds, and the sessions each front end logged for it.
measure() {
	local path=$1 port=$2 out a0 b0
	a0=$(logins a) b0=$(logins b)
	out=$("$W/bin/poploop" -c "$CLIENTS" -t "$SECS" -b 127.0.0.2 -p "$port" -u hb -w "$BPASS" -n "$NMSG" 2>>"$W/poploop.err") ||
		die "poploop failed: $(tail -n 2 "$W/poploop.err")"
	local n e s
	n=$(sed -n 's/.*sessions=\([0-9]*\).*/\1/p' <<<"$out")
	e=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$out")
	s=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$path" "$r" "$n" "$e" "$s" $(($(logins a) - a0)) $(($(logins b) - b0)) >>"$RAW"
	printf '  run %s  %-7s %6d sessions %3d errors in %6.2f s: %7.1f sessions/s\n' "$r" "$path" "$n" "$e" "$s" \
		"$(awk -v n="$n" -v s="$s" 'BEGIN { print n / s }')" >&2
}
say "sessions per second: $CLIENTS client loops, $SECS s a measurement, $RUNS runs"
# up NAME: how many of that HAProxy's servers are up after a passed
# check (L7OK: the greeting and QUIT's +OK seen), from its stats socket.
up() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show stat\n")
d = b""
while True:
    c = s.recv(65536)
    if not c: break
    d += c
print(sum(1 for l in d.decode().splitlines()
          if not l.startswith("#") and len(l.split(",")) > 37
          and l.split(",")[1] not in ("FRONTEND", "BACKEND")
          and l.split(",")[17] == "UP" and l.split(",")[36] == "L7OK"))' "$W/$1.sock" 2>/dev/null || echo 0
}
# Health checks first (the README's interval is 10 s, the first ones
# come within it): one HAProxy has 2 servers, the other 4.
for _ in $(seq 300); do
	st=$(($(up one) + $(up two)))
	[ "$st" = 6 ] && break
	sleep 0.1
done
[ "$st" = 6 ] || die "HAProxy's health checks did not pass for every server ($st of 6 up): $(tail -n 3 "$W/two.out")"
for r in $(seq "$RUNS"); do
	measure direct "$PA"
	measure one "$PONE"
	measure two "$PTWO"
done
cleanup
PIDS=()
trap - EXIT

# ------------------------------------------------------------ report
ELAPSED=$((EPOCHSECONDS - START))
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
MACHINE="$(nproc) CPUs ($cpu), $mem RAM, Linux $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
POP3D_REV=$(git -C "$TOP" describe --always --dirty 2>/dev/null || echo '?')
mkdir -p "$B/results"
# Per path: the median rate of the runs, its min and max, the sessions,
# errors, and the share front end A logged.
awk -F'\t' -v csv="$B/results/haproxy.csv" -v md="$W/table.md" -v txt="$W/table.txt" \
	-v clients="$CLIENTS" -v secs="$SECS" '
function median(p,    k, i, j, t, a) {
	k = cnt[p]
	for (i = 1; i <= k; i++) a[i] = rate[p, i]
	for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	lo[p] = a[1]; hi[p] = a[k]
	return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
{ p = $1; i = ++cnt[p]; rate[p, i] = $3 / $5; n[p] += $3; e[p] += $4; A[p] += $6; Bn[p] += $7 }
END {
	label["direct"] = "direct to front end A (no balancer)"
	label["one"] = "through HAProxy, one front end"
	label["two"] = "through HAProxy, two front ends"
	print "path,clients,seconds,runs,sessions_per_s_median,sessions_per_s_min,sessions_per_s_max,ratio_to_direct,sessions,errors,sessions_front_end_a,sessions_front_end_b" > csv
	print "| path | sessions/s (median) | min | max | vs direct | sessions | errors | on A / on B |" > md
	print "|---|--:|--:|--:|--:|--:|--:|--:|" > md
	printf "%-38s %10s %8s %8s %8s %9s %7s  %s\n", "path", "sess/s", "min", "max", "/direct", "sessions", "errors", "on A / on B" > txt
	split("direct one two", order, " ")
	for (j = 1; j <= 3; j++) m[order[j]] = cnt[order[j]] ? median(order[j]) : ""
	for (j = 1; j <= 3; j++) {
		p = order[j]
		if (!cnt[p]) continue
		r = (m["direct"] > 0) ? sprintf("%.2f", m[p] / m["direct"]) : "-"
		printf "%s,%d,%d,%d,%.1f,%.1f,%.1f,%s,%d,%d,%d,%d\n", p, clients, secs, cnt[p], m[p], lo[p], hi[p], r, n[p], e[p], A[p], Bn[p] > csv
		printf "| %s | %.1f | %.1f | %.1f | %s | %d | %d | %d / %d |\n", label[p], m[p], lo[p], hi[p], r, n[p], e[p], A[p], Bn[p] > md
		printf "%-38s %10.1f %8.1f %8.1f %8s %9d %7d  %d / %d\n", label[p], m[p], lo[p], hi[p], r, n[p], e[p], A[p], Bn[p] > txt
	}
}' "$RAW"

SECTION=$W/section.md
{
	echo '<!-- bench/haproxy.sh: begin (this section is rewritten by it) -->'
	echo '## Sessions per second through HAProxy'
	echo
	echo "Made by \`make bench\` (bench/haproxy.sh; alone: \`make bench-haproxy\`) on $DATE, pop3d $POP3D_REV, HAProxy $HAPROXY_VERSION."
	echo
	echo "- Machine: $MACHINE."
	echo "- Parameters: BENCH_HAPROXY_CLIENTS=$CLIENTS BENCH_HAPROXY_SECONDS=$SECS BENCH_RUNS=$RUNS; this part took $((ELAPSED / 60)) min $((ELAPSED % 60)) s."
	echo
	cat <<'EOF'
A session is a login (USER, PASS with a sha512-crypt hash), STAT and QUIT
on a 10-message maildrop, counted once pop3d has closed the connection
(`bench/poploop.c`, one command at a time); the client loops run side by
side, each on a maildrop of its own, from 127.0.0.2.  The front ends are
pop3d (`make pop3d`) under `systemd-socket-activate --accept --inetd`, the
way `pop3d.socket` runs it, started as root (privilege separation), with
`proxy-from = 127.0.0.1`; HAProxy runs the README's configuration ("Scaling
out"), with mx2's lines left out for one front end.  Each run measures the
three paths in turn; the rate is the median of the runs, min and max are
the runs' extremes, "on A / on B" counts the logins each front end logged.
All of it shares one machine's CPUs: a second front end here adds no CPU,
so these rows measure what the balancer costs, not how far two hosts scale.

EOF
	cat "$W/table.md"
	echo
	echo "The numbers: [results/haproxy.csv](results/haproxy.csv)."
	echo '<!-- bench/haproxy.sh: end -->'
} >"$SECTION"
# The section replaces the one there, or is added at the end.
RES=$B/RESULTS.md
if [ -f "$RES" ] && grep -q '^<!-- bench/haproxy.sh: begin' "$RES"; then
	awk -v sec="$SECTION" '
		/^<!-- bench\/haproxy.sh: begin/ { while ((getline l < sec) > 0) print l; skip = 1; next }
		/^<!-- bench\/haproxy.sh: end/ { skip = 0; next }
		!skip' "$RES" >"$RES.new"
	mv "$RES.new" "$RES"
else
	{ [ -f "$RES" ] && cat "$RES" && echo; cat "$SECTION"; } >"$RES.new"
	mv "$RES.new" "$RES"
fi

cat "$W/table.txt"
say "CSV: $B/results/haproxy.csv; report: $RES (section \"Sessions per second through HAProxy\"); took $((ELAPSED / 60)) min $((ELAPSED % 60)) s"
if awk -F'\t' '$4 > 0 { f = 1 } END { exit !f }' "$RAW"; then
	say "some sessions FAILED (see $W/poploop.err)"
	exit 1
fi

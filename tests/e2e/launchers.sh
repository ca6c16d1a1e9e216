#!/usr/bin/env bash
# tests/e2e/launchers.sh - pop3d under real super-servers (SPEC section 7):
#  (a) a private xinetd running the project's xinetd.d/pop3 (paths
#      substituted, moved to 127.0.0.1 and a high port, the settings
#      from a file in the scratch directory: --config added to
#      server_args, as the shipped entry reads /etc/pop3d/pop3d.conf): a
#      session byte for byte, the client address in the log, a second
#      connection while a first is open, the per-source limit; the same
#      file with only its port changed is refused (another port needs
#      type = UNLISTED, as the file and pop3d.8 say); xinetd.d/pop3s the
#      same way, a session over implicit TLS with the certificate named
#      in the settings file;
#  (b) systemd-socket-activate --inetd --accept (what pop3d.socket with
#      Accept=yes does), pop3d with only --config: one pop3d per
#      connection, the client address in the log, two connections in
#      sequence;
#  (c) systemd-analyze verify on the units as "make install" installs
#      them, and the xinetd entries and units so installed carry no
#      settings, only what differs between 110 and 995 (--tls);
#  (d) errors under xinetd, where descriptor 2 is the client's socket: a
#      bad option, an unusable TLS key and -s must write nothing to the
#      client and reach syslog, here a listener behind a private /dev/log
#      (tests/lib.sh, with_devlog).
# pop3d is started as root, as the launchers do, and serves the system
# user pop3dlaunch (created when missing) from a Debian-like spool.  Every
# pop3d runs through a wrapper that logs to a file (-s) and records its
# exit status, so sanitizer reports are seen.
. "$(dirname "$0")/../lib.sh"
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c), and lib.sh gives $T to nobody: root's again.
[ "$(id -u)" = 0 ] && chown root:root "$T"

cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
SAN_RE='runtime error|AddressSanitizer|LeakSanitizer'
# Started as root, pop3d drops to the user's ids and so becomes
# non-dumpable: LeakSanitizer can then not attach to it at exit ("fatal
# error", status 99).  Leaks are checked by the unprivileged suites; here
# every other sanitizer check stays on.
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then
	echo "launchers.sh needs root (pop3d is started as root by super-servers); skipped"
	exit 0
fi

# need COMMAND PACKAGE: installs PACKAGE when COMMAND is missing.
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

# tcp_session NAME PORT CMD...: connects, sends the commands (pipelined),
# reads until the server closes; the bytes received in $T/NAME.out.
tcp_session() {
	local name=$1 port=$2 fd
	shift 2
	if ! exec {fd}<>"/dev/tcp/127.0.0.1/$port"; then
		: >"$T/$name.out"; return 1
	fi
	crlf "$@" >&$fd
	timeout 15 cat <&$fd >"$T/$name.out"
	exec {fd}>&-
}
# log_has CHECK FILE REGEX: a line of FILE matches REGEX.
log_has() {
	if grep -qE -- "$3" "$2" 2>/dev/null; then pass "$1"
	else fail "$1" "no line matching '$3' in $(basename "$2"): $(tail -n 3 "$2" 2>/dev/null | tr '\n' ' ')"; fi
}
# no_sanitizer CHECK FILE...: no sanitizer report in the logs.
no_sanitizer() {
	local name=$1 hit; shift
	hit=$(grep -h -m1 -E "$SAN_RE" "$@" 2>/dev/null | head -n 1)
	if [ -z "$hit" ]; then pass "$name"; else fail "$name" "$hit"; fi
}
# statuses_ok CHECK FILE N: FILE records at least N pop3d exits, all 0.
statuses_ok() {
	local n bad
	n=$(grep -c '^exit ' "$2" 2>/dev/null); n=${n:-0}
	bad=$(grep '^exit ' "$2" 2>/dev/null | grep -v '^exit 0 ' | head -n 3 | tr '\n' ' ')
	if [ "$n" -ge "$3" ] && [ -z "$bad" ]; then pass "$1 ($n sessions)"
	else fail "$1" "$n exits recorded (want >= $3); non-zero: $bad"; fi
}

# --------------------------------------------------------------- setup

H=$(mkhash secret)
U=pop3dlaunch
useradd -M -d /nonexistent -s /usr/sbin/nologin "$U"
UID_=$(id -u "$U"); GID_=$(id -g "$U")
mkdir -p "$T/etc/pop3d" "$T/spool" "$T/sbin"
printf '%s:%s:%s:%s::/nonexistent\n' "$U" "$H" "$UID_" "$GID_" >"$T/etc/pop3d/passwd"
chmod 600 "$T/etc/pop3d/passwd"
# The spool as Debian ships /var/mail: root:mail 2775, mailbox USER:mail 0660.
chown root:mail "$T/spool"; chmod 2775 "$T/spool"
MB=$T/spool/$U
perl -e '
	my $from = "From sender\@example.org Mon Jan  1 10:00:00 2024\n";
	print $from, "Message-ID: <one\@example.org>\nSubject: one\n\nbody one\n\n";
	print $from, "Message-ID: <two\@example.org>\nSubject: two\n\n.dot line\n>From quoted\n",
		join("", map { "line $_ " . ("x" x 100) . "\n" } 1 .. 300), "\n";
	print $from, "Message-ID: <three\@example.org>\nSubject: three\n\nlast\n";' >"$T/mbox"
# What RETR 2 must send after its status line.
perl -e '
	open(F, "<", $ARGV[0]) or die; local $/; my $d = <F>;
	my @m = split /\n\n(?=From )/, $d;
	my @l = split /\n/, $m[1]; shift @l;
	s/^\./../ for @l;
	print map({ "$_\r\n" } @l), ".\r\n";' "$T/mbox" >"$T/retr2.want"
put_mbox() { cp "$T/mbox" "$MB"; chown "$U:mail" "$MB"; chmod 660 "$MB"; }
put_mbox
# The settings every launcher here gets, as the shipped ones get theirs
# from /etc/pop3d/pop3d.conf.  In $T, root's all the way down from /, as
# pop3d requires of the file when started as root (trust_open).
printf '%s\n' "passwd = $T/etc/pop3d/passwd" "mailbox = $T/spool/%u" >"$T/pop3d.conf"
chmod 644 "$T/pop3d.conf"

# wrapper FILE LOG EXITS: runs pop3d (-s) with the launcher's arguments,
# its log appended to LOG, its exit status and pid to EXITS.  Not exec'd,
# so the status is seen; the connection stays pop3d's stdin and stdout.
wrapper() {
	cat >"$1" <<EOF
#!/bin/sh
echo "env ASAN_OPTIONS=\${ASAN_OPTIONS:-} UBSAN_OPTIONS=\${UBSAN_OPTIONS:-}" >>"$3.env"
"$POP3D" -s "\$@" 2>>"$2"
echo "exit \$? \$\$" >>"$3"
EOF
	chmod 755 "$1"
}

SESSION=("USER $U" 'PASS secret' STAT 'RETR 2' QUIT)
# The same session through a pipe (pop3d started as root): the reference.
crlf "${SESSION[@]}" | "$POP3D" -s -p "$T/etc/pop3d/passwd" -m "$T/spool/%u" >"$T/pipe.out" 2>"$T/pipe.err"
case $(line pipe 3) in
'+OK maildrop has 3 messages'*) pass pipe-reference-session ;;
*) fail pipe-reference-session "third line '$(line pipe 3)'; $(head -n 2 "$T/pipe.err" | tr '\n' ' ')" ;;
esac

# check_session PREFIX NAME: the socket session NAME against the reference.
check_session() {
	local p=$1 n=$2
	case $(line "$n" 3) in
	'+OK maildrop has 3 messages'*) pass "$p-login" ;;
	*) fail "$p-login" "third line '$(line "$n" 3)' (first: '$(line "$n" 1)')" ;;
	esac
	equal "$p-stat" "+OK $(line pipe 4 | cut -d' ' -f2-)" "$(line "$n" 4)"
	# RETR 2: status line, then exactly the stored message.
	perl -e '
		open(F, "<", $ARGV[0]) or die; binmode F; local $/; my $d = <F>;
		my @r = split /(?<=\r\n)/, $d;
		splice(@r, 0, 5);	# greeting, USER, PASS, STAT, RETR status
		my $o = ""; for (@r) { $o .= $_; last if $_ eq ".\r\n"; }
		print $o;' "$T/$n.out" >"$T/$n.retr2"
	if cmp -s "$T/$n.retr2" "$T/retr2.want"; then pass "$p-retr-byte-exact"
	else fail "$p-retr-byte-exact" "$(cmp "$T/$n.retr2" "$T/retr2.want" 2>&1 | head -n 1)"; fi
	if cmp -s "$T/$n.out" "$T/pipe.out"; then pass "$p-transcript-equals-pipe-session"
	else fail "$p-transcript-equals-pipe-session" "$(cmp "$T/$n.out" "$T/pipe.out" 2>&1 | head -n 1)"; fi
	case $(tail -n 1 "$T/$n.out" | tr -d '\r') in
	'+OK'*) pass "$p-quit" ;;
	*) fail "$p-quit" "last line '$(tail -n 1 "$T/$n.out" | tr -d '\r')'" ;;
	esac
}

# ------------------------------------------------------------ (a) xinetd

# xinetd_conf ENTRY SBIN PORT SETTINGS LOG: a private xinetd
# configuration of the project's ENTRY (xinetd.d/pop3 or pop3s): its own
# log to LOG, with the exits and durations, and no includedir; the
# server in SBIN; on PORT on the loopback; --config SETTINGS added to
# server_args (a line made for it if the entry has none); the sanitizer
# options passed on (xinetd clears the environment).
xinetd_conf() {
	local entry=$1 sbin=$2 port=$3 conf=$4 log=$5
	printf 'defaults\n{\n\tlog_type = FILE %s\n\tlog_on_success = PID HOST EXIT DURATION\n\tlog_on_failure = HOST\n}\n\n' "$log"
	sed -e "s,@SBINDIR@,$sbin,g" -e "s,@SYSCONFDIR@,$T/etc,g" \
	    -e "/^[[:space:]]*port[[:space:]]*=/d" \
	    -e "s,^\([[:space:]]*log_type[[:space:]]*=\).*,\1 FILE $log," \
	    -e "/^}/i\\
	type		= UNLISTED\\
	port		= $port\\
	bind		= 127.0.0.1\\
	env		= ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS" \
	    "$entry" | awk -v a="--config $conf" '
		/^[ \t]*server_args[ \t]*=/ { $0 = $0 " " a; n = 1 }
		/^}/ && !n { print "\tserver_args\t= " a }
		{ print }'
}

if ! need xinetd xinetd; then
	fail xinetd-installed "xinetd is missing and apt-get could not install it"
else
	pass xinetd-installed
	XPORT=$(free_port 21110 21149)
	wrapper "$T/sbin/pop3d" "$T/xinetd-pop3d.log" "$T/xinetd-exits"
	xinetd_conf "$TOP/xinetd.d/pop3" "$T/sbin" "$XPORT" "$T/pop3d.conf" "$T/xinetd.log" >"$T/xinetd.conf"
	# -filelog: xinetd's own messages (configuration errors) in a file.
	xinetd -dontfork -filelog "$T/xinetd-daemon.log" -f "$T/xinetd.conf" \
		-pidfile "$T/xinetd.pid" 2>"$T/xinetd.err" &
	XPID=$!
	PIDS+=("$XPID")
	if ! wait_listening "$XPORT"; then
		fail xinetd-listens "nothing listens on 127.0.0.1:$XPORT: $(cat "$T/xinetd.err" "$T/xinetd.log" 2>/dev/null | tail -n 5 | tr '\n' ' ')"
	else
		pass "xinetd-listens (port $XPORT)"
		# Every attribute of the project's file accepted, none ignored.
		bad=$(grep -E 'ERROR|WARNING|bad |unknown' "$T/xinetd-daemon.log" "$T/xinetd.err" | head -n 3 | tr '\n' ' ')
		if [ -z "$bad" ] && grep -q 'Started working: 1 available service' "$T/xinetd-daemon.log"; then
			pass xinetd-config-accepted
		else
			fail xinetd-config-accepted "${bad:-no 'Started working: 1 available service' line}"
		fi
		# Connections in this part stay far below cps (20 a second).
		tcp_session x1 "$XPORT" "${SESSION[@]}"
		check_session xinetd x1
		log_has xinetd-log-client-address "$T/xinetd-pop3d.log" "^pop3d\[[0-9]+\]: 127\.0\.0\.1: login: user=$U "
		if grep -q ': pipe: ' "$T/xinetd-pop3d.log"; then fail xinetd-log-not-pipe "$(grep -m1 ': pipe: ' "$T/xinetd-pop3d.log")"
		else pass xinetd-log-not-pipe; fi
		log_has xinetd-sanitizer-env-passed "$T/xinetd-exits.env" "ASAN_OPTIONS=$ASAN_OPTIONS"

		# A second connection while a first one is open (idle, before
		# login): the second logs in and ends; then the first does.
		exec {A}<>"/dev/tcp/127.0.0.1/$XPORT"
		greet=''; IFS= read -r -t 10 -u "$A" greet
		case $greet in '+OK'*) pass xinetd-first-connection-greeted ;;
		*) fail xinetd-first-connection-greeted "got '$greet'" ;; esac
		tcp_session x2 "$XPORT" "USER $U" 'PASS secret' STAT QUIT
		case $(line x2 3) in
		'+OK maildrop has 3 messages'*) pass xinetd-concurrent-second-login ;;
		*) fail xinetd-concurrent-second-login "third line '$(line x2 3)'" ;;
		esac
		crlf "USER $U" 'PASS secret' STAT QUIT >&$A
		timeout 10 cat <&$A >"$T/x1b.out"; exec {A}>&-
		case $(line x1b 2) in
		'+OK maildrop has 3 messages'*) pass xinetd-first-connection-after-second ;;
		*) fail xinetd-first-connection-after-second "answered '$(line x1b 2)'" ;;
		esac

		# per_source = 5: five idle connections are served (greeted), a
		# sixth from the same address is closed at once, unserved.
		sleep 1.1	# a new cps second
		FDS=() ok=0
		for _ in 1 2 3 4 5; do
			exec {fd}<>"/dev/tcp/127.0.0.1/$XPORT" && FDS+=("$fd")
			greet=''; IFS= read -r -t 10 -u "$fd" greet
			case $greet in '+OK'*) ok=$((ok + 1)) ;; esac
		done
		equal xinetd-five-from-one-source "5" "$ok"
		got=x
		if exec {fd}<>"/dev/tcp/127.0.0.1/$XPORT"; then
			got=$(timeout 5 cat <&$fd | head -c 200 | tr -d '\r\n'; echo "rc=${PIPESTATUS[0]}")
			exec {fd}>&-
		fi
		# rc 0: cat saw EOF (closed), 124: still open after 5 s.
		equal xinetd-sixth-from-one-source-refused "rc=0" "$got"
		for fd in "${FDS[@]}"; do exec {fd}>&-; done
		for _ in $(seq 40); do grep -q 'per_source' "$T/xinetd.log" 2>/dev/null && break; sleep 0.05; done
		log_has xinetd-logs-per-source-limit "$T/xinetd.log" 'FAIL: pop3 per_source_limit from=127\.0\.0\.1'
		# The five idle pop3d processes end at EOF.
		for _ in $(seq 100); do
			[ "$(grep -c '^exit ' "$T/xinetd-exits" 2>/dev/null)" -ge 8 ] && break
			sleep 0.05
		done
		statuses_ok xinetd-pop3d-exit-status "$T/xinetd-exits" 8
		no_sanitizer xinetd-no-sanitizer-report "$T/xinetd-pop3d.log"
	fi
	kill "$XPID" 2>/dev/null; wait "$XPID" 2>/dev/null
	[ -s "$T/xinetd.pid" ] && kill -0 "$(cat "$T/xinetd.pid")" 2>/dev/null && kill "$(cat "$T/xinetd.pid")"
	if listening "$XPORT"; then fail xinetd-stopped "port $XPORT still listening"; else pass xinetd-stopped; fi

	# What xinetd.d/pop3 and pop3d.8 say: another port than the one
	# /etc/services gives "pop3" needs "type = UNLISTED" beside "port".
	# The project's file with its port changed and nothing else: refused.
	UPORT=$(free_port $((XPORT + 1)) 21149)
	sed -e "s,@SBINDIR@,$T/sbin,g" -e "s,@SYSCONFDIR@,$T/etc,g" \
	    -e "s,^\([[:space:]]*port[[:space:]]*=\).*,\1 $UPORT," \
	    -e "s,^\([[:space:]]*log_type[[:space:]]*=\).*,\1 FILE $T/xinetd-u.log," \
	    -e "/^}/i\\
	bind		= 127.0.0.1" "$TOP/xinetd.d/pop3" >"$T/xinetd-u.conf"
	xinetd -dontfork -filelog "$T/xinetd-u-daemon.log" -f "$T/xinetd-u.conf" \
		-pidfile "$T/xinetd-u.pid" 2>"$T/xinetd-u.err" &
	UPID=$!
	PIDS+=("$UPID")
	for _ in $(seq 100); do grep -q 'Started working' "$T/xinetd-u-daemon.log" 2>/dev/null && break; sleep 0.05; done
	if grep -q "ERROR: Service pop3 expects port 110, not $UPORT" "$T/xinetd-u-daemon.log" &&
		grep -q 'Started working: 0 available services' "$T/xinetd-u-daemon.log" && ! listening "$UPORT"; then
		pass xinetd-other-port-needs-unlisted
	else
		fail xinetd-other-port-needs-unlisted "without type = UNLISTED: $(tr '\n' ' ' <"$T/xinetd-u-daemon.log" | cut -c1-300)"
	fi
	kill "$UPID" 2>/dev/null; wait "$UPID" 2>/dev/null

	# xinetd.d/pop3s: the same settings and the certificate, the entry's
	# own --tls.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=localhost -keyout "$T/etc/pop3d/key.pem" -out "$T/etc/pop3d/cert.pem" \
		>"$T/req-s.log" 2>&1
	chmod 600 "$T/etc/pop3d/key.pem"
	{ cat "$T/pop3d.conf"; printf '%s\n' "tls-cert = $T/etc/pop3d/cert.pem" \
		"tls-key = $T/etc/pop3d/key.pem"; } >"$T/pop3s.conf"
	chmod 644 "$T/pop3s.conf"
	put_mbox
	mkdir -p "$T/sbin-s"
	wrapper "$T/sbin-s/pop3d" "$T/xs-pop3d.log" "$T/xs-exits"
	SXPORT=$(free_port $((UPORT + 1)) 21149)
	xinetd_conf "$TOP/xinetd.d/pop3s" "$T/sbin-s" "$SXPORT" "$T/pop3s.conf" "$T/xs.log" >"$T/xs.conf"
	xinetd -dontfork -filelog "$T/xs-daemon.log" -f "$T/xs.conf" -pidfile "$T/xs.pid" 2>"$T/xs.err" &
	SXPID=$!
	PIDS+=("$SXPID")
	if wait_listening "$SXPORT"; then
		crlf "${SESSION[@]}" | timeout 15 openssl s_client -quiet -CAfile "$T/etc/pop3d/cert.pem" \
			-verify_return_error -connect "127.0.0.1:$SXPORT" >"$T/xs1.out" 2>"$T/xs1.err"
		check_session xinetd-pop3s xs1
		log_has xinetd-pop3s-log-tls "$T/xs-pop3d.log" "^pop3d\[[0-9]+\]: 127\.0\.0\.1: TLS"
		for _ in $(seq 100); do [ -s "$T/xs-exits" ] && break; sleep 0.05; done
		statuses_ok xinetd-pop3s-pop3d-exit-status "$T/xs-exits" 1
		no_sanitizer xinetd-pop3s-no-sanitizer-report "$T/xs-pop3d.log"
	else
		fail xinetd-pop3s-listens "nothing listens on 127.0.0.1:$SXPORT: $(tail -n 3 "$T/xs-daemon.log" "$T/xs.err" 2>/dev/null | tr '\n' ' ')"
	fi
	kill "$SXPID" 2>/dev/null; wait "$SXPID" 2>/dev/null
fi

# ------------------------------------------ (b) systemd-socket-activate

put_mbox
if ! need systemd-socket-activate systemd; then
	fail systemd-socket-activate-installed "missing and apt-get could not install systemd"
else
	SPORT=$(free_port 21150 21199)
	wrapper "$T/sbin/pop3d-sa" "$T/sa-pop3d.log" "$T/sa-exits"
	# --accept: one process per connection, as Accept=yes; --inetd: the
	# connection is stdin and stdout.  -E passes the sanitizer options on.
	systemd-socket-activate --accept --inetd -E ASAN_OPTIONS -E UBSAN_OPTIONS \
		-l "127.0.0.1:$SPORT" "$T/sbin/pop3d-sa" --config "$T/pop3d.conf" \
		2>"$T/sa.log" &
	SAPID=$!
	PIDS+=("$SAPID")
	if ! wait_listening "$SPORT"; then
		fail socket-activate-listens "nothing listens on 127.0.0.1:$SPORT: $(tail -n 3 "$T/sa.log" | tr '\n' ' ')"
	else
		pass "socket-activate-listens (port $SPORT)"
		tcp_session s1 "$SPORT" "${SESSION[@]}"
		check_session socket-activate s1
		log_has socket-activate-log-client-address "$T/sa-pop3d.log" "^pop3d\[[0-9]+\]: 127\.0\.0\.1: login: user=$U "
		# The second connection deletes a message: a separate process,
		# which also sees the first one's lock gone.
		tcp_session s2 "$SPORT" "USER $U" 'PASS secret' 'DELE 1' QUIT
		case "$(line s2 3) | $(line s2 5)" in
		'+OK maildrop has 3 messages'*' | +OK'*) pass socket-activate-second-connection ;;
		*) fail socket-activate-second-connection "answers '$(line s2 3)' / '$(line s2 5)'" ;;
		esac
		perl -e 'local $/; my $d = <STDIN>; my @m = split /(?<=\n\n)(?=From )/, $d; shift @m; print @m' <"$T/mbox" >"$T/mbox.after1"
		if cmp -s "$MB" "$T/mbox.after1"; then pass socket-activate-dele-applied
		else fail socket-activate-dele-applied "the mbox is not the original without message 1"; fi
		for _ in $(seq 100); do
			[ "$(grep -c '^exit ' "$T/sa-exits" 2>/dev/null)" -ge 2 ] && break
			sleep 0.05
		done
		npid=$(grep -oE '^pop3d\[[0-9]+\]' "$T/sa-pop3d.log" | sort -u | wc -l)
		nspawn=$(grep -c '^Spawned ' "$T/sa.log")
		if [ "$npid" = 2 ] && [ "$nspawn" = 2 ]; then pass socket-activate-one-process-per-connection
		else fail socket-activate-one-process-per-connection "$npid pop3d pids in the log, $nspawn spawns"; fi
		statuses_ok socket-activate-pop3d-exit-status "$T/sa-exits" 2
		log_has socket-activate-sanitizer-env-passed "$T/sa-exits.env" "ASAN_OPTIONS=$ASAN_OPTIONS"
		no_sanitizer socket-activate-no-sanitizer-report "$T/sa-pop3d.log"
	fi
	kill "$SAPID" 2>/dev/null; wait "$SAPID" 2>/dev/null

	# pop3d.socket's ListenStream=110 is a dual-stack IPv6 socket: IPv4
	# clients arrive as ::ffff:a.b.c.d.  The same on loopback: a socket
	# bound to [::ffff:127.0.0.1]; the log must still name 127.0.0.1.
	SPORT6=$(free_port $((SPORT + 1)) 21199)
	wrapper "$T/sbin/pop3d-sa6" "$T/sa6-pop3d.log" "$T/sa6-exits"
	systemd-socket-activate --accept --inetd -E ASAN_OPTIONS -E UBSAN_OPTIONS \
		-l "[::ffff:127.0.0.1]:$SPORT6" "$T/sbin/pop3d-sa6" --config "$T/pop3d.conf" \
		2>"$T/sa6.log" &
	SA6PID=$!
	PIDS+=("$SA6PID")
	if wait_listening "$SPORT6"; then
		tcp_session s6 "$SPORT6" "USER $U" 'PASS secret' QUIT
		answer=$(line s6 3)
		case $answer in
		'+OK maildrop has'*)
			if grep -qE "^pop3d\[[0-9]+\]: 127\.0\.0\.1: login: user=$U " "$T/sa6-pop3d.log"; then
				pass dual-stack-socket-logs-ipv4-address
			else
				fail dual-stack-socket-logs-ipv4-address "an IPv4 client of a dual-stack socket is logged as: $(grep -m1 'login:' "$T/sa6-pop3d.log")"
			fi ;;
		*) fail dual-stack-socket-logs-ipv4-address "login answered '$answer'" ;;
		esac
	else
		fail dual-stack-socket-logs-ipv4-address "nothing listens on [::ffff:127.0.0.1]:$SPORT6: $(tail -n 2 "$T/sa6.log" | tr '\n' ' ')"
	fi
	kill "$SA6PID" 2>/dev/null; wait "$SA6PID" 2>/dev/null
fi

# ------------------------------------------- (c) systemd-analyze verify

# The units as "make install" installs them, built from a copy of the
# tree (parallel builds in $TOP must not interfere).
mkdir -p "$T/src"
( cd "$TOP" && cp -r ./*.c ./*.h Makefile xinetd.d systemd pam.d fail2ban etc ./*.8 "$T/src/" )
if ! make -s -C "$T/src" install DESTDIR="$T/root" PREFIX=/usr SYSCONFDIR=/etc \
	SYSTEMDUNITDIR=/lib/systemd/system >"$T/install.log" 2>&1; then
	fail units-installed "make install failed: $(tail -n 3 "$T/install.log" | tr '\n' ' ')"
elif ! command -v systemd-analyze >/dev/null; then
	fail systemd-analyze-verify "systemd-analyze missing"
else
	pass units-installed
	# --root: the units, ExecStart and the man page are looked up in the
	# installed tree; the targets the units refer to come from the host.
	mkdir -p "$T/root/lib/systemd/system"
	cp -an /lib/systemd/system/. "$T/root/lib/systemd/system/" 2>/dev/null
	MANPATH=$T/root/usr/share/man systemd-analyze verify --root="$T/root" \
		pop3d.socket pop3d@.service pop3s.socket pop3s@.service >"$T/verify.out" 2>&1
	rc=$?
	if [ "$rc" = 0 ] && [ ! -s "$T/verify.out" ]; then pass systemd-analyze-verify
	else fail systemd-analyze-verify "status $rc: $(head -n 4 "$T/verify.out" | tr '\n' ' ')"; fi
fi
if [ -f "$T/root/etc/xinetd.d/pop3" ]; then
	# The installed service files carry no settings (they are in
	# /etc/pop3d/pop3d.conf, installed beside them), only what differs
	# between port 110 and port 995: --tls.
	X=$T/root/etc/xinetd.d
	equal installed-xinetd-pop3-no-server-args "" "$(awk '$1 == "server_args"' "$X/pop3")"
	equal installed-xinetd-pop3s-server-args-only-tls "--tls" \
		"$(awk '$1 == "server_args" { $1 = $2 = ""; print }' "$X/pop3s" | xargs)"
	# entry FILE: the entry's attributes, without comments, the name,
	# the port and server_args.
	entry() {
		grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$1" |
			grep -v -E '^(service |[[:space:]]*(port|server_args)[[:space:]]*=)' | tr -s ' \t' ' '
	}
	if diff <(entry "$X/pop3") <(entry "$X/pop3s") >"$T/xinetd.diff"; then
		pass installed-xinetd-entries-differ-only-in-tls
	else
		fail installed-xinetd-entries-differ-only-in-tls "$(grep '^[<>]' "$T/xinetd.diff" | head -n 3 | tr '\n' ' ')"
	fi
	equal installed-pop3d-unit-execstart /usr/sbin/pop3d \
		"$(sed -n 's/^ExecStart=//p' "$T/root/lib/systemd/system/pop3d@.service")"
	equal installed-pop3s-unit-execstart "/usr/sbin/pop3d --tls" \
		"$(sed -n 's/^ExecStart=//p' "$T/root/lib/systemd/system/pop3s@.service")"
	if cmp -s "$TOP/etc/pop3d.conf" "$T/root/etc/pop3d/pop3d.conf"; then pass installed-settings-file
	else fail installed-settings-file "$T/root/etc/pop3d/pop3d.conf is not etc/pop3d.conf"; fi
fi

# ------------------------------------- (d) errors under xinetd, to syslog

put_mbox
if ! command -v xinetd >/dev/null; then
	fail xinetd-errors "xinetd is missing"
elif ! syslog_listen xsys || ! with_devlog "$T/xsys.sock" true; then
	echo "note: no private mount namespace or syslog listener here; (d) not run"
else
	SYSLOG_L=$SYSLOG_PID
	PIDS+=("$SYSLOG_L")
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=localhost -keyout "$T/key.pem" -out "$T/cert.pem" >"$T/req.log" 2>&1
	chmod 640 "$T/key.pem"	# group-readable: refused
	# The sanitizers' reports to files: descriptor 2 is the client here.
	XENV="ASAN_OPTIONS=$ASAN_OPTIONS:log_path=$T/xe-asan UBSAN_OPTIONS=$UBSAN_OPTIONS:log_path=$T/xe-ubsan"
	EPORT=$(free_port 21200 21249)
	# service NAME PORT ARGS: one pop3d service, started directly by
	# xinetd (no wrapper: the socket is its descriptors 0, 1 and 2).
	service() {
		printf 'service %s\n{\n\ttype = UNLISTED\n\tsocket_type = stream\n\tprotocol = tcp\n\twait = no\n\tuser = root\n\tbind = 127.0.0.1\n\tport = %s\n\tserver = %s\n\tserver_args = %s\n\tenv = %s\n}\n' \
			"$1" "$2" "$POP3D" "$3" "$XENV"
	}
	{
		printf 'defaults\n{\n\tlog_type = FILE %s\n\tlog_on_success = PID HOST EXIT\n\tlog_on_failure = HOST\n}\n' "$T/xe.log"
		service pop3-badopt "$EPORT" "--no-such-option -p $T/etc/pop3d/passwd -m $T/spool/%u"
		service pop3-badkey "$((EPORT + 1))" "-c $T/cert.pem -k $T/key.pem -p $T/etc/pop3d/passwd -m $T/spool/%u"
		service pop3-stderr "$((EPORT + 2))" "-s -p $T/etc/pop3d/passwd -m $T/spool/%u"
	} >"$T/xe.conf"
	"$T/with-devlog" "$T/xsys.sock" xinetd -dontfork -filelog "$T/xe-daemon.log" -f "$T/xe.conf" \
		-pidfile "$T/xe.pid" 2>"$T/xe.err" &
	EPID=$!
	PIDS+=("$EPID")
	if ! wait_listening "$((EPORT + 2))"; then
		fail xinetd-errors-listens "nothing on 127.0.0.1:$((EPORT + 2)): $(tail -n 3 "$T/xe.err" "$T/xe-daemon.log" 2>/dev/null | tr '\n' ' ')"
	else
		# syslogged CHECK REGEX: a message matching REGEX reached syslog.
		syslogged() {
			local _
			for _ in $(seq 100); do grep -qE -- "$2" "$T/xsys.log" && break; sleep 0.02; done
			log_has "$1" "$T/xsys.log" "$2"
		}
		tcp_session xe1 "$EPORT" CAPA QUIT 2>/dev/null	# reset: pop3d reads nothing
		equal xinetd-bad-option-client-gets-nothing 0 "$(wc -c <"$T/xe1.out")"
		syslogged xinetd-bad-option-in-syslog "pop3d\[[0-9]+\]: 127\.0\.0\.1: unknown option '--no-such-option'; not started"
		tcp_session xe2 "$((EPORT + 1))" CAPA QUIT 2>/dev/null
		equal xinetd-bad-tls-key-client-gets-nothing 0 "$(wc -c <"$T/xe2.out")"
		syslogged xinetd-bad-tls-key-reason-in-syslog "127\.0\.0\.1: TLS key $T/key\.pem is accessible by group or others"
		syslogged xinetd-bad-tls-key-in-syslog "127\.0\.0\.1: unusable TLS certificate or key; not started"
		# -s with the client as standard error: the session as from a
		# pipe, byte for byte, and its log in syslog.
		tcp_session xe3 "$((EPORT + 2))" "${SESSION[@]}"
		if cmp -s "$T/xe3.out" "$T/pipe.out"; then pass xinetd-stderr-option-client-gets-pop3-only
		else fail xinetd-stderr-option-client-gets-pop3-only "$(cmp "$T/xe3.out" "$T/pipe.out" 2>&1 | head -n 1): $(head -c 150 "$T/xe3.out" | tr '\r\n' '  ')"; fi
		syslogged xinetd-stderr-option-login-in-syslog "127\.0\.0\.1: login: user=$U messages=3 octets=[0-9]+ maildrop=$T/spool/$U\$"
		for _ in $(seq 100); do [ "$(grep -c 'EXIT: pop3' "$T/xe.log" 2>/dev/null)" -ge 3 ] && break; sleep 0.05; done
		log_has xinetd-bad-option-exit-status-2 "$T/xe.log" 'EXIT: pop3-badopt status=2'
		log_has xinetd-bad-tls-key-exit-status-1 "$T/xe.log" 'EXIT: pop3-badkey status=1'
		log_has xinetd-stderr-option-exit-status-0 "$T/xe.log" 'EXIT: pop3-stderr status=0'
		no_sanitizer xinetd-errors-no-sanitizer-report "$T"/xe-asan* "$T"/xe-ubsan*
	fi
	kill "$EPID" 2>/dev/null; wait "$EPID" 2>/dev/null
	[ -s "$T/xe.pid" ] && kill -0 "$(cat "$T/xe.pid")" 2>/dev/null && kill "$(cat "$T/xe.pid")"
	kill "$SYSLOG_L" 2>/dev/null
fi
exit 0

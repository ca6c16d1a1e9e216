#!/usr/bin/env bash
# tests/e2e/units.sh - root mode under the sandbox of the shipped units
# (systemd/pop3d@.service, systemd/pop3s@.service), applied for real.
#
# systemd is not PID 1 where the tests run, so the unit cannot be started
# by systemd itself; systemd-socket-activate starts one pop3d per
# connection as pop3d.socket would, and every pop3d is started through
# the unit's own sandbox, read from the unit file at run time:
#  - CapabilityBoundingSet= and NoNewPrivileges= by setpriv(1);
#  - SystemCallFilter= (the groups expanded by `systemd-analyze
#    syscall-filter`, @default added to an allow list as systemd adds it,
#    ProtectClock=/ProtectKernelModules=/ProtectKernelLogs=/
#    ProtectHostname=/PrivateDevices= taking away the calls they take
#    away), SystemCallErrorNumber=, SystemCallArchitectures=,
#    RestrictAddressFamilies=, MemoryDenyWriteExecute=,
#    RestrictNamespaces=, RestrictRealtime=, LockPersonality= and
#    RestrictSUIDSGID= by tests/seccomp-exec.c (libseccomp);
#  - UMask= by the shell;
#  - ExecStart='s own arguments, with --config added: the settings come
#    from a file in the scratch directory, as the shipped units take
#    theirs from /etc/pop3d/pop3d.conf (with "stderr = yes": the log to
#    a file instead of syslog).
# Not applied: what needs a mount namespace (ProtectSystem=,
# ReadWritePaths=, ProtectHome=, PrivateTmp=, PrivateDevices='s /dev,
# ProtectKernelTunables=, ProtectControlGroups=, ProtectProc=): they hide
# files, not privileges, and the scratch directory lives in /tmp.  A
# [Service] directive this script does not know fails the test, so new
# hardening is either applied here or listed as not applied.
#
# Checked, through the sandbox, with the real binary started as root:
#  - the units carry no settings, only what differs between them:
#    pop3d@.service starts pop3d with no options, pop3s@.service with
#    --tls alone, and their [Service] sections are otherwise the same;
#  - the sandbox is in place (/proc: bounding set, NoNewPrivs, seccomp);
#  - a whole root-mode session: greeting, USER/PASS against a password
#    file, LIST, RETR byte for byte, DELE, QUIT, the UPDATE on disk; the
#    same with "auth = pam" in the file (system accounts); a login
#    through SASL (AUTH PLAIN refused, AUTH LOGIN: GNU SASL in the
#    filtered pre-login process);
#  - a pre-login process that stops answering (SIGSTOP) is killed by the
#    root parent at its deadline (that needs CAP_KILL), not left behind;
#  - a pre-login process whose root parent is killed ends at once (its
#    parent-death signal, which needs CAP_KILL too);
#  - the same session over implicit TLS with pop3s@.service, the
#    certificate and key named in the file.
. "$(dirname "$0")/../lib.sh"
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c), and lib.sh gives $T to nobody: root's again.
[ "$(id -u)" = 0 ] && chown root:root "$T"

cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
# pop3d drops to the user's ids and becomes non-dumpable: LeakSanitizer
# cannot attach to it then (as in rootmode.sh).
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"
# UNITS_DIR: the units under test (default: the tree's own).
UNITS_DIR=${UNITS_DIR:-$TOP/systemd}

PIDS=() LEFT=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	# A stopped pre-login process left by a failed check.
	for p in ${LEFT[@]+"${LEFT[@]}"}; do kill -KILL "$p" 2>/dev/null; done
	rm -f "/etc/pam.d/pop3d-e2e-units-$$"
	rm -rf "$T"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ]; then
	echo "units.sh needs root (the units start pop3d as root); skipped"
	exit 0
fi

# ------------------------------------------------------------ tools

missing=()
command -v setpriv >/dev/null || missing+=(util-linux)
command -v systemd-analyze >/dev/null && command -v systemd-socket-activate >/dev/null ||
	missing+=(systemd)
command -v openssl >/dev/null || missing+=(openssl)
command -v pgrep >/dev/null || missing+=(procps)
pkg-config --exists libseccomp 2>/dev/null || missing+=(libseccomp-dev)
[ "${#missing[@]}" = 0 ] || sh "$TOP/tests/apt-install.sh" "${missing[@]}" ||
	echo "could not install ${missing[*]}"
SE=$T/seccomp-exec
# shellcheck disable=SC2046 # pkg-config prints several words
if cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -o "$SE" "$TOP/tests/seccomp-exec.c" \
	$(pkg-config --cflags --libs libseccomp 2>/dev/null || echo -lseccomp) 2>"$T/se-cc.err"; then
	pass seccomp-loader-built
else
	fail seccomp-loader-built "$(head -n 3 "$T/se-cc.err" | tr '\n' ' ')"
	exit 0
fi

# systemd's system call groups, one file each, as this systemd defines
# them: the unit's @groups mean exactly what they mean to systemd.
mkdir "$T/groups"
systemd-analyze syscall-filter 2>/dev/null | awk -v d="$T/groups" '
	/^@/ { g = d "/" $1; printf "" > g; next }
	/^    [@a-z0-9_]/ && g != "" { print $1 > g }
	/^[^ @]/ { g = "" }'
if [ -s "$T/groups/@system-service" ] && [ -s "$T/groups/@default" ]; then
	pass "syscall-groups-from-systemd-analyze ($(ls "$T/groups" | wc -l) groups)"
else
	fail syscall-groups-from-systemd-analyze "no @system-service from systemd-analyze syscall-filter"
	exit 0
fi
# expand NAME...: the system calls the names stand for, groups expanded.
expand() {
	local n
	for n in "$@"; do
		case $n in
		@*)
			if [ -f "$T/groups/$n" ]; then
				# shellcheck disable=SC2046 # one name a line
				expand $(cat "$T/groups/$n")
			else
				echo "UNKNOWN-GROUP:$n"
			fi ;;
		*) echo "$n" ;;
		esac
	done
}

# ------------------------------------------------ the unit's sandbox

# sandbox UNIT LAUNCHER: reads UNIT's [Service] section and writes the
# script LAUNCHER, which runs "$@" (pop3d and its arguments) in the same
# sandbox; the unit's ExecStart arguments in LAUNCHER.args.  Returns 1
# with the reason in SANDBOX_ERR for what it cannot apply.
sandbox() {
	local unit=$1 out=$2 key val k w first=1 mode='' errno_name='' arch='' \
		fams='' umask=0022 nnp=no caps='' flags=() exec='' capset='' v line section=''
	local -A allow=() deny=()
	SANDBOX_ERR=''
	while IFS= read -r line; do
		case $line in
		'['*) section=$line; continue ;;
		'#'* | ';'* | '') continue ;;
		esac
		[ "$section" = '[Service]' ] || continue
		key=${line%%=*} val=${line#*=}
		case $key in
		CapabilityBoundingSet)
			case $val in '~'*) SANDBOX_ERR="CapabilityBoundingSet=~ is not supported here"; return 1 ;; esac
			[ -z "$val" ] && caps=''
			caps="$caps $val" ;;
		NoNewPrivileges) nnp=$val ;;
		SystemCallFilter)
			if [ -z "$val" ]; then allow=(); deny=(); mode=''; first=1; continue; fi
			case $val in *:*) SANDBOX_ERR="SystemCallFilter= with :errno is not supported here"; return 1 ;; esac
			if [ "$first" = 1 ]; then
				first=0
				case $val in '~'*) mode=deny ;; *) mode=allow
					# As systemd: an allow list always includes @default.
					for k in $(expand @default); do allow[$k]=1; done ;;
				esac
			fi
			case $val in
			'~'*) for k in $(expand ${val#\~}); do deny[$k]=1; unset "allow[$k]"; done ;;
			*) for k in $(expand $val); do allow[$k]=1; unset "deny[$k]"; done ;;
			esac ;;
		SystemCallErrorNumber) errno_name=$val ;;
		SystemCallArchitectures) arch=$val ;;
		RestrictAddressFamilies)
			case $val in '~'* | none) SANDBOX_ERR="RestrictAddressFamilies=$val is not supported here"; return 1 ;; esac
			fams="$fams $val" ;;
		MemoryDenyWriteExecute) [ "$val" = yes ] && flags+=(-w) ;;
		RestrictNamespaces)
			case $val in yes) flags+=(-n) ;; no) ;; *) SANDBOX_ERR="RestrictNamespaces=$val is not supported here"; return 1 ;; esac ;;
		RestrictRealtime) [ "$val" = yes ] && flags+=(-r) ;;
		LockPersonality) [ "$val" = yes ] && flags+=(-l) ;;
		RestrictSUIDSGID) [ "$val" = yes ] && flags+=(-s) ;;
		# The system calls these take away, as systemd does.
		ProtectClock) [ "$val" = yes ] && for k in $(expand @clock); do deny[$k]=1; done ;;
		ProtectKernelModules) [ "$val" = yes ] && for k in $(expand @module); do deny[$k]=1; done ;;
		ProtectKernelLogs) [ "$val" = yes ] && deny[syslog]=1 ;;
		ProtectHostname) [ "$val" = yes ] && { deny[sethostname]=1; deny[setdomainname]=1; } ;;
		PrivateDevices) [ "$val" = yes ] && for k in $(expand @raw-io); do deny[$k]=1; done ;;
		UMask) umask=$val ;;
		ExecStart) exec=$val ;;
		StandardInput | StandardOutput)
			[ "$val" = socket ] || { SANDBOX_ERR="$key=$val: the launch here gives the socket"; return 1; } ;;
		StandardError) ;;	# here: a file (pop3d -s)
		# Mount-namespace directives: not applied (see the top).
		ProtectSystem | ReadWritePaths | ProtectHome | PrivateTmp | ProtectKernelTunables | \
		ProtectControlGroups | ProtectProc) ;;
		*) SANDBOX_ERR="unknown directive $key= (apply it in units.sh or list it as not applied)"; return 1 ;;
		esac
	done <"$unit"
	[ "$nnp" = yes ] || { SANDBOX_ERR="NoNewPrivileges=yes missing"; return 1; }
	[ "$arch" = native ] || { SANDBOX_ERR="SystemCallArchitectures=native expected, got '$arch'"; return 1; }
	[ "$mode" = allow ] || { SANDBOX_ERR="SystemCallFilter= must be an allow list here"; return 1; }
	for k in "${!allow[@]}" "${!deny[@]}"; do
		case $k in UNKNOWN-GROUP:*) SANDBOX_ERR="systemd knows no group ${k#*:}"; return 1 ;; esac
	done
	for k in "${!deny[@]}"; do unset "allow[$k]"; done
	printf '%s\n' "${!allow[@]}" | sort >"$out.calls"
	# Without SystemCallErrorNumber= systemd kills the process (0 here).
	v=0
	if [ -n "$errno_name" ]; then
		v=$(perl -MErrno -e 'my $f = Errno->can($ARGV[0]); print $f ? $f->() : ""' "$errno_name")
		[ -n "$v" ] || { SANDBOX_ERR="unknown errno $errno_name"; return 1; }
	fi
	# setpriv's names: CAP_SETUID -> setuid.
	capset=-all
	for w in $caps; do capset="$capset,+$(printf '%s' "${w#CAP_}" | tr '[:upper:]' '[:lower:]')"; done
	fams=$(echo $fams | tr ' ' ',')
	case $exec in @SBINDIR@/pop3d | @SBINDIR@/pop3d\ *) ;; *) SANDBOX_ERR="ExecStart= does not start @SBINDIR@/pop3d: $exec"; return 1 ;; esac
	# The arguments as systemd passes them (%% is %), as they are: the
	# checks below hold them to --tls or nothing.
	exec=${exec#@SBINDIR@/pop3d}
	printf '%s\n' "${exec# }" | sed -e 's/%%/%/g' >"$out.args"
	cat >"$out" <<EOF
#!/bin/sh
# The sandbox of $(basename "$unit"), for "\$@".
umask $umask
exec setpriv --no-new-privs --bounding-set=$capset --inh-caps=-all -- \\
	"$SE" -a "$out.calls" -e $v ${fams:+-f $fams} ${flags[*]} -- "\$@"
EOF
	chmod 755 "$out"
	echo "$capset" >"$out.capset"
}

# ------------------------------------------------------------- setup

U=pop3dunit
useradd -M -d /nonexistent -s /usr/sbin/nologin "$U"
# The pre-login process's account and directory (as tests/setup-deps.sh).
getent passwd pop3d >/dev/null || useradd --system --no-create-home --home-dir /nonexistent \
	--shell /usr/sbin/nologin pop3d
[ -d /var/lib/pop3d/empty ] || install -d -m 755 -o root -g root /var/lib/pop3d/empty
UID_U=$(id -u "$U") GID_U=$(id -g "$U")
mkdir -p "$T/etc/pop3d" "$T/spool"
chown root:mail "$T/spool"; chmod 2775 "$T/spool"
printf '%s:%s:%s:%s::/nonexistent\n' "$U" "$(mkhash secret)" "$UID_U" "$GID_U" >"$T/etc/pop3d/passwd"
chmod 600 "$T/etc/pop3d/passwd"
MB=$T/spool/$U
msg() { printf 'From s@example.org Mon Jan  1 10:00:00 2024\nMessage-ID: <%s@example.org>\nSubject: %s\n\n%s\n.dot\n\n' "$1" "$1" "$2"; }
{ msg one "body one"; msg two "body two"; msg three "body three"; } >"$T/mbox"
{ msg two "body two"; msg three "body three"; } >"$T/mbox.after"
# What RETR 1 sends after its status line: CRLF, byte-stuffed, the dot.
printf 'Message-ID: <one@example.org>\r\nSubject: one\r\n\r\nbody one\r\n..dot\r\n.\r\n' >"$T/retr1.want"
put_mbox() { cp "$T/mbox" "$MB"; chown "$U:mail" "$MB"; chmod 660 "$MB"; }
put_mbox
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-keyout "$T/etc/pop3d/key.pem" -out "$T/etc/pop3d/cert.pem" >"$T/req.log" 2>&1
chmod 600 "$T/etc/pop3d/key.pem"
# settings FILE LINE...: a settings file of these lines, what the units
# would read in /etc/pop3d/pop3d.conf.  In $T, root's all the way down
# from /, as pop3d requires of it when started as root (trust_open).
settings() {
	local f=$1; shift
	printf '%s\n' "# $(basename "$f"), written by tests/e2e/units.sh" "$@" >"$f"
	chmod 644 "$f"
}
SETTINGS=("passwd = $T/etc/pop3d/passwd" "mailbox = $T/spool/%u" "stderr = yes")
settings "$T/pop3d.conf" "${SETTINGS[@]}"
# Port 995 needs the certificate and key, and only there: on port 110
# they would make USER/PASS wait for STLS.
settings "$T/pop3s.conf" "${SETTINGS[@]}" "tls-cert = $T/etc/pop3d/cert.pem" \
	"tls-key = $T/etc/pop3d/key.pem"

# ------------------------------------ the units carry no settings

# Every setting is in pop3d.conf, shared by both units and xinetd; the
# units hold only what differs between them, --tls for port 995.
equal pop3d-unit-execstart-no-options "@SBINDIR@/pop3d" \
	"$(sed -n 's/^ExecStart=//p' "$UNITS_DIR/pop3d@.service" | xargs)"
equal pop3s-unit-execstart-only-tls "@SBINDIR@/pop3d --tls" \
	"$(sed -n 's/^ExecStart=//p' "$UNITS_DIR/pop3s@.service" | xargs)"
# service_lines UNIT: the [Service] directives other than ExecStart=.
service_lines() {
	sed -n '/^\[Service\]/,/^\[/p' "$1" | grep -v -e '^#' -e '^$' -e '^\[' -e '^ExecStart='
}
if diff <(service_lines "$UNITS_DIR/pop3d@.service") <(service_lines "$UNITS_DIR/pop3s@.service") >"$T/units.diff"; then
	pass units-same-service-but-execstart
else
	fail units-same-service-but-execstart "$(grep '^[<>]' "$T/units.diff" | head -n 3 | tr '\n' ' ')"
fi
for u in pop3d@.service pop3s@.service; do
	if grep -q '^#.*@SYSCONFDIR@/pop3d/pop3d\.conf' "$UNITS_DIR/$u"; then pass "$u-names-settings-file"
	else fail "$u-names-settings-file" "no comment naming @SYSCONFDIR@/pop3d/pop3d.conf"; fi
done

# serve NAME UNIT PORT SETTINGS EXTRA...: systemd-socket-activate on
# 127.0.0.1:PORT starting, per connection, pop3d in UNIT's sandbox with
# the unit's arguments, --config SETTINGS and EXTRA; pop3d's log in
# $T/NAME.log, each launch's pid (its child is pop3d) in $T/NAME.pids,
# exit statuses in $T/NAME.exits.
serve() {
	local name=$1 unit=$2 port=$3 conf=$4 _; shift 4
	if ! sandbox "$unit" "$T/$name.sandbox"; then
		fail "$name-sandbox-from-unit" "$SANDBOX_ERR"
		return 1
	fi
	pass "$name-sandbox-from-unit ($(wc -l <"$T/$name.sandbox.calls") calls, bounding set $(cat "$T/$name.sandbox.capset"))"
	# shellcheck disable=SC2016 # expanded by the launch script
	{
		printf '#!/bin/sh\necho $$ >>"%s"\n' "$T/$name.pids"
		printf '"%s" "%s" %s --config "%s"' "$T/$name.sandbox" "$POP3D" \
			"$(cat "$T/$name.sandbox.args")" "$conf"
		printf ' %s' "$@"
		printf ' 2>>"%s"\necho "exit $?" >>"%s"\n' "$T/$name.log" "$T/$name.exits"
	} >"$T/$name.run"
	chmod 755 "$T/$name.run"
	systemd-socket-activate --accept --inetd -E ASAN_OPTIONS -E UBSAN_OPTIONS \
		-l "127.0.0.1:$port" "$T/$name.run" 2>"$T/$name.sa.log" &
	PIDS+=("$!")
	for _ in $(seq 100); do listening "$port" && return 0; sleep 0.05; done
	fail "$name-listens" "nothing listens on 127.0.0.1:$port: $(tail -n 2 "$T/$name.sa.log" | tr '\n' ' ')"
	return 1
}

# tcp_session NAME PORT CMD...: pipelined commands, read until closed.
tcp_session() {
	local name=$1 port=$2 fd
	shift 2
	if ! exec {fd}<>"/dev/tcp/127.0.0.1/$port"; then : >"$T/$name.out"; return 1; fi
	crlf "$@" >&$fd
	timeout 15 cat <&$fd >"$T/$name.out"
	exec {fd}>&-
}
# exits_ok CHECK NAME N: N launches of NAME ended with status 0 and no
# sanitizer report.
exits_ok() {
	local _ bad
	for _ in $(seq 100); do
		[ "$(grep -c '^exit ' "$T/$2.exits" 2>/dev/null)" -ge "$3" ] && break
		sleep 0.05
	done
	bad=$(grep -v '^exit 0$' "$T/$2.exits" 2>/dev/null | head -n 1)
	if [ "$(grep -c '^exit 0$' "$T/$2.exits" 2>/dev/null)" = "$3" ] && [ -z "$bad" ] &&
		! grep -qE "$SAN_RE" "$T/$2.log"; then
		pass "$1"
	else
		fail "$1" "exits: $(tr '\n' ' ' <"$T/$2.exits" 2>/dev/null); log: $(tail -n 3 "$T/$2.log" | tr '\n' ' ')"
	fi
}
# session_checks PREFIX NAME: the transcript of USER, PASS, LIST, RETR 1,
# DELE 1, QUIT in $T/NAME.out (after the greeting).
session_checks() {
	local p=$1 n=$2
	case $(line "$n" 1) in
	'+OK'*) pass "$p-greeting" ;;
	*) fail "$p-greeting" "first line '$(line "$n" 1)'; log: $(tail -n 2 "$T/$p.log" | tr '\n' ' ')" ;;
	esac
	case $(line "$n" 3) in
	'+OK maildrop has 3 messages'*) pass "$p-login" ;;
	*) fail "$p-login" "PASS answered '$(line "$n" 3)'" ;;
	esac
	# LIST: a status line, then messages 1 to 3 with sizes, then the dot.
	case $(sed -n '4,8p' "$T/$n.out" | tr -d '\r' | tr '\n' '|') in
	'+OK'*'|1 '[0-9]*'|2 '[0-9]*'|3 '[0-9]*'|.|') pass "$p-list" ;;
	*) fail "$p-list" "$(sed -n '4,8p' "$T/$n.out" | tr -d '\r' | tr '\n' '|')" ;;
	esac
	perl -e '
		open(F, "<", $ARGV[0]) or die; binmode F; local $/; my @r = split /(?<=\r\n)/, <F>;
		my $i = 0; $i++ while $i < @r && $r[$i] !~ /^\+OK \d+ octets/;
		my $o = ""; for (@r[$i + 1 .. $#r]) { $o .= $_; last if $_ eq ".\r\n"; } print $o;' \
		"$T/$n.out" >"$T/$n.retr1"
	same "$p-retr-byte-exact" "$T/retr1.want" "$T/$n.retr1"
	case $(tail -n 1 "$T/$n.out" | tr -d '\r') in
	'+OK'*) pass "$p-quit" ;;
	*) fail "$p-quit" "last line '$(tail -n 1 "$T/$n.out" | tr -d '\r')'" ;;
	esac
	if cmp -s "$MB" "$T/mbox.after"; then pass "$p-dele-applied"
	else fail "$p-dele-applied" "the mbox is not messages 2 and 3"; fi
}

SESSION=("USER $U" 'PASS secret' LIST 'RETR 1' 'DELE 1' QUIT)

# ------------------------------------ pop3d@.service: a whole session

P1=$(free_port 21600 21649)
if serve pop3d "$UNITS_DIR/pop3d@.service" "$P1" "$T/pop3d.conf"; then
	tcp_session s1 "$P1" "${SESSION[@]}"
	session_checks pop3d s1
	exits_ok pop3d-exit-status pop3d 1
	if grep -qE "^pop3d\[[0-9]+\]: 127\.0\.0\.1: login: user=$U " "$T/pop3d.log"; then pass pop3d-log-login
	else fail pop3d-log-login "$(tail -n 3 "$T/pop3d.log" | tr '\n' ' ')"; fi
	# SASL through GNU SASL in the sandboxed, chrooted pre-login
	# process: AUTH PLAIN refused, then AUTH LOGIN's two challenges and
	# the login.
	put_mbox
	tcp_session s1sasl "$P1" "AUTH PLAIN $(printf '\0%s\0wrong' "$U" | base64 -w0)" 'AUTH LOGIN' \
		"$(printf %s "$U" | base64)" "$(printf secret | base64)" STAT QUIT
	equal pop3d-sasl-plain-refused '-ERR [AUTH] authentication failed' "$(line s1sasl 2)"
	equal pop3d-sasl-login-challenges '+ VXNlcm5hbWU6|+ UGFzc3dvcmQ6' "$(line s1sasl 3)|$(line s1sasl 4)"
	case $(line s1sasl 5) in
	'+OK maildrop has 3 messages'*) pass pop3d-sasl-login ;;
	*) fail pop3d-sasl-login "answered '$(line s1sasl 5)'; log: $(tail -n 3 "$T/pop3d.log" | tr '\n' ' ')" ;;
	esac
	exits_ok pop3d-sasl-exit-status pop3d 2
fi
put_mbox

# ---------------- pop3d@.service with auth = pam: system accounts
# The README's first set-up: the unit as shipped, "auth = pam" in the
# settings file (a PAM service of our own here), PAM in the unit's
# sandbox (bounding set, system call filter, address families),
# pam_unix reading /etc/shadow as the privileged parent.
PAMSVC=pop3d-e2e-units-$$
cp "$TOP/pam.d/pop3d" "/etc/pam.d/$PAMSVC"
echo "$U:pamsecret" | chpasswd -c YESCRYPT
settings "$T/pam.conf" "auth = pam:$PAMSVC" "mailbox = $T/spool/%u" "stderr = yes"
P4=$(free_port $((P1 + 1)) 21649)
if serve pampop "$UNITS_DIR/pop3d@.service" "$P4" "$T/pam.conf"; then
	tcp_session s4 "$P4" "USER $U" 'PASS pamsecret' LIST 'RETR 1' 'DELE 1' QUIT
	session_checks pampop s4
	exits_ok pampop-exit-status pampop 1
	if grep -qE "^pop3d\[[0-9]+\]: 127\.0\.0\.1: login: user=$U " "$T/pampop.log"; then pass pampop-log-login
	else fail pampop-log-login "$(tail -n 3 "$T/pampop.log" | tr '\n' ' ')"; fi
	tcp_session s5 "$P4" "USER $U" 'PASS secret' QUIT
	case $(line s5 3) in
	'-ERR [AUTH] authentication failed') pass pampop-file-password-not-accepted ;;
	*) fail pampop-file-password-not-accepted "PASS answered '$(line s5 3)'" ;;
	esac
	if grep -q "PASS failed for user=$U auth=pam" "$T/pampop.log"; then pass pampop-failure-logged
	else fail pampop-failure-logged "$(tail -n 3 "$T/pampop.log" | tr '\n' ' ')"; fi
fi
put_mbox

# ------------------- pop3d@.service: the sandbox and a stopped child

# -t 1: the parent's deadline for a login request is 1 + 2 seconds.
P2=$(free_port $((P4 + 1)) 21649)
if serve kill "$UNITS_DIR/pop3d@.service" "$P2" "$T/pop3d.conf" -t 1; then
	exec {K}<>"/dev/tcp/127.0.0.1/$P2"
	greet=''; IFS= read -r -t 10 -u "$K" greet
	case $greet in '+OK'*) pass kill-greeting ;; *) fail kill-greeting "got '$greet': $(tail -n 2 "$T/kill.log" | tr '\n' ' ')" ;; esac
	# The launch's child is pop3d (the root parent), and its child the
	# pre-login process.
	parent='' kid=''
	[ -s "$T/kill.pids" ] && parent=$(pgrep -P "$(head -n 1 "$T/kill.pids")" | head -n 1)
	[ -n "$parent" ] && kid=$(pgrep -P "$parent" | head -n 1)
	if [ -n "$parent" ] && st=$(cat "/proc/$parent/status" 2>/dev/null); then
		# The bounding set the unit names, as /proc prints it.
		want=$(setpriv --bounding-set="$(cat "$T/kill.sandbox.capset")" grep '^CapBnd:' /proc/self/status | awk '{ print $2 }')
		equal sandbox-bounding-set "$want" "$(awk '$1 == "CapBnd:" { print $2 }' <<<"$st")"
		equal sandbox-no-new-privs 1 "$(awk '$1 == "NoNewPrivs:" { print $2 }' <<<"$st")"
		equal sandbox-seccomp-filter 2 "$(awk '$1 == "Seccomp:" { print $2 }' <<<"$st")"
		nf=$(awk '$1 == "Seccomp_filters:" { print $2 }' <<<"$st")
		if [ "${nf:-0}" -ge 2 ]; then pass "sandbox-seccomp-filters ($nf)"
		else fail sandbox-seccomp-filters "Seccomp_filters: '${nf:-none}'"; fi
		equal sandbox-parent-runs-as-root 0 "$(awk '$1 == "Uid:" { print $3 }' <<<"$st")"
	else
		fail sandbox-applied "no pop3d process under $(head -n 1 "$T/kill.pids" 2>/dev/null)"
	fi
	if [ -n "$kid" ] && kill -STOP "$kid"; then
		LEFT+=("$kid")
		# The parent kills it after 3 s and ends the connection.
		timeout 10 cat <&$K >/dev/null
		for _ in $(seq 40); do kill -0 "$kid" 2>/dev/null || break; sleep 0.05; done
		if kill -0 "$kid" 2>/dev/null; then fail stopped-child-killed "pid $kid still there: $(tail -n 3 "$T/kill.log" | tr '\n' ' ')"
		else pass stopped-child-killed; fi
		if grep -q 'no login request within 3 seconds; pre-login process killed' "$T/kill.log" &&
			grep -q 'pre-login process killed by signal 9' "$T/kill.log" &&
			! grep -q 'kill: ' "$T/kill.log"; then
			pass stopped-child-killed-by-parent
		else
			fail stopped-child-killed-by-parent "$(tr '\n' ' ' <"$T/kill.log" | cut -c1-300)"
		fi
	else
		fail stopped-child-killed "no pre-login process under pop3d ${parent:-?}"
	fi
	exec {K}>&-

	# The parent dies (killed) before any login: the pre-login process
	# gets its parent-death signal, which the kernel sends only with the
	# dying parent's permission to signal it (CAP_KILL again).
	: >"$T/kill.pids"
	exec {K}<>"/dev/tcp/127.0.0.1/$P2"
	greet=''; IFS= read -r -t 10 -u "$K" greet
	parent='' kid=''
	[ -s "$T/kill.pids" ] && parent=$(pgrep -P "$(head -n 1 "$T/kill.pids")" | head -n 1)
	[ -n "$parent" ] && kid=$(pgrep -P "$parent" | head -n 1)
	if [ -n "$kid" ] && kill -KILL "$parent"; then
		for _ in $(seq 40); do kill -0 "$kid" 2>/dev/null || break; sleep 0.05; done
		if kill -0 "$kid" 2>/dev/null; then
			LEFT+=("$kid")
			fail parent-death-ends-child "pre-login process $kid outlived its parent"
		else
			pass parent-death-ends-child
		fi
	else
		fail parent-death-ends-child "no pre-login process under pop3d ${parent:-?} (greeting '$greet')"
	fi
	exec {K}>&-
fi

# ----------------------------- pop3s@.service: the session over TLS

P3=$(free_port $((P2 + 1)) 21649)
if serve pop3s "$UNITS_DIR/pop3s@.service" "$P3" "$T/pop3s.conf"; then
	crlf "${SESSION[@]}" | timeout 15 openssl s_client -quiet -CAfile "$T/etc/pop3d/cert.pem" \
		-verify_return_error -connect "127.0.0.1:$P3" >"$T/s3.out" 2>"$T/s3.err"
	session_checks pop3s s3
	exits_ok pop3s-exit-status pop3s 1
fi
exit 0

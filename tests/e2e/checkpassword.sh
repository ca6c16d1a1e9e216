#!/usr/bin/env bash
# tests/e2e/checkpassword.sh - --auth checkpassword:PROGRAM (DJB's
# interface; passdb_checkpassword.c).  As root:
#  - Debian's checkpw (password in ~/Maildir/.password) for a real account,
#    root mode from a pipe: a good password serves and updates its mbox, a
#    bad one is -ERR [AUTH] with auth=checkpassword in the log;
#  - a test program (perl) that checks what it is given (the bytes on
#    descriptor 3, its environment, its descriptors: 0-2 /dev/null,
#    nothing beyond 4) and behaves by user name: accepts, exits 1, 2, 111,
#    hangs (killed at PASSDB_TIMEOUT, no process left), exits 0 without
#    the reply program, lies about the account (the kernel's uid wins),
#    replies with an invalid name, or stays root (refused like uid 0);
#  - over TCP the program sees TCPREMOTEIP, TCPLOCALIP and PROTO=TCP;
#  - an untrusted program (directory writable by others, group-writable
#    file) is refused, [SYS/TEMP];
#  - the pre-login process has no root and no way to /etc/shadow;
#  - plain mode (pop3d as nobody): the program runs as nobody and a good
#    login serves nobody's maildrop.
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP checkpassword.sh needs root"
	exit 0
fi
# Root mode trusts a program only where root alone writes: lib.sh gave $T
# to nobody.
chown root:root "$T"
cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
# After the switch to the user's ids pop3d is non-dumpable: LeakSanitizer
# cannot attach at exit (see privsep.sh).
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"

USERS=(pop3dcpreal pop3dcpa pop3dcpb)
DRIVEN=
cleanup() {
	exec 7>&- 2>/dev/null
	if [ -n "$DRIVEN" ]; then
		for c in $(pgrep -P "$DRIVEN"); do kill -KILL "$c" 2>/dev/null; done
		kill -KILL "$DRIVEN" 2>/dev/null
		wait "$DRIVEN" 2>/dev/null
	fi
	# A hang left behind would be a failure already reported; its pids
	# are the ones the program wrote down, still under its name (not a
	# pid reused since).
	for f in "$T"/seen/*.pid; do
		[ -e "$f" ] || continue
		p=$(cat "$f")
		grep -qa '^cptest-hang' "/proc/$p/cmdline" 2>/dev/null && kill -KILL "$p"
	done
	# Through lib.sh's lock: other scripts' useradd runs meanwhile.
	for u in "${USERS[@]}"; do
		flock /run/lock/pop3d-e2e-users.lock userdel "$u" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

# ------------------------------------------------------------- setup

if ! getent passwd pop3d >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pop3d
fi
[ -d /var/lib/pop3d/empty ] || install -d -m 755 -o root -g root /var/lib/pop3d/empty
command -v checkpw >/dev/null || sh "$TOP/tests/apt-install.sh" checkpw
CHECKPW=$(command -v checkpw)

install -d -m 755 "$T/home" "$T/bin"
install -d -m 1777 "$T/seen"
for u in "${USERS[@]}"; do
	useradd -M -d "$T/home/$u" -s /usr/sbin/nologin "$u"
	install -d -m 755 -o "$u" -g "$(id -g "$u")" "$T/home/$u"
	printf '%s\nSubject: for %s\n\nHello.\n' "$FROM" "$u" >"$T/home/$u/mbox"
	chown "$u:$(id -g "$u")" "$T/home/$u/mbox"; chmod 600 "$T/home/$u/mbox"
done
AU=$(id -u pop3dcpa) AG=$(id -g pop3dcpa)
BU=$(id -u pop3dcpb)
# checkpw: the plain password in ~/Maildir/.password, the user's alone.
install -d -m 700 -o pop3dcpreal -g "$(id -g pop3dcpreal)" "$T/home/pop3dcpreal/Maildir"
echo 'real-secret' >"$T/home/pop3dcpreal/Maildir/.password"
chown pop3dcpreal: "$T/home/pop3dcpreal/Maildir/.password"
chmod 600 "$T/home/pop3dcpreal/Maildir/.password"

# The test program.  It records what it saw in $T/seen/USER (the input
# escaped, the environment, its ids, its descriptors) and writes
# $T/seen/FDLEAK if it could reach any descriptor it should not.
cat >"$T/bin/cptest" <<'EOF'
#!/usr/bin/perl
use strict;
use warnings;
use POSIX ();
my $seen = $ENV{CPTEST_SEEN} // "SEEN";
# Descriptors first, before this program opens any of its own.
my @open = grep { -e "/proc/self/fd/$_" } 0 .. 1023;
my @null = map { readlink("/proc/self/fd/$_") // "closed" } 0 .. 2;
my $in = "";
if (open(my $fd3, "<&=", 3)) { local $/; $in = <$fd3> // ""; close $fd3; }
my ($user) = split /\0/, $in;
$user //= "";
(my $tag = $user) =~ s/[^a-z0-9]/_/g;
sub note {
	open(my $f, ">>", "$seen/$tag") or return;
	print $f @_, "\n";
}
(my $esc = $in) =~ s/([^\x21-\x7e])/sprintf("\\x%02x", ord $1)/ge;
note("input=$esc");
note("env=", join(" ", map { "$_=$ENV{$_}" } sort grep { $_ ne "CPTEST_SEEN" } keys %ENV));
note("uid=$< euid=$> gid=", (split / /, $()[0]);
note("fds=@open null=@null");
if ("@open" ne "0 1 2 3 4" || grep { $_ ne "/dev/null" } @null) {
	open(my $m, ">>", "$seen/FDLEAK");
	print $m "$user: fds @open, 0-2 @null\n";
}
my (undef, $pass) = split /\0/, $in;
$pass //= "";
sub become {
	my ($name) = @_;
	my @pw = getpwnam($name) or exit 111;
	POSIX::setgid($pw[3]) or exit 111;
	$) = "$pw[3] $pw[3]";
	POSIX::setuid($pw[2]) or exit 111;
	return @pw;
}
sub reply { exec { $ARGV[0] } @ARGV; exit 111; }
if ($user eq "pop3dcpa") {
	exit 1 unless $pass eq "pw-a";
	my @pw = become("pop3dcpa");
	@ENV{qw(USER HOME SHELL)} = ($pw[0], $pw[7], $pw[8]);
	reply();
}
exit 2 if $user eq "misuse";
exit 111 if $user eq "temp";
exit 0 if $user eq "noreply";
exit 7 if $user eq "seven";
if ($user eq "hang") {
	# And a grandchild, which the deadline must take too.
	my $kid = fork;
	if (defined $kid && $kid == 0) { $0 = "cptest-hang-kid"; sleep 1 while 1; }
	if (open(my $p, ">", "$seen/hang.pid")) { print $p "$$\n"; }
	if (open(my $p, ">", "$seen/hangkid.pid")) { print $p "$kid\n"; }
	$0 = "cptest-hang";
	sleep 1 while 1;
}
if ($user eq "liar") {
	# Runs the reply as A, says it is B.
	become("pop3dcpa");
	my @b = getpwnam("pop3dcpb");
	@ENV{qw(USER HOME)} = ($b[0], $b[7]);
	reply();
}
if ($user eq "badname") {
	become("pop3dcpa");
	@ENV{qw(USER HOME)} = ("a/b", "/tmp");
	reply();
}
if ($user eq "staysroot") {
	@ENV{qw(USER HOME)} = ("root", "/root");
	reply();
}
if ($user eq "nobody") {
	# Plain mode: pop3d runs as nobody, and so does this.
	exit 1 unless $pass eq "pw-plain";
	@ENV{qw(USER HOME)} = ("nobody", $ENV{CPTEST_PLAIN_HOME} // "/nonexistent");
	reply();
}
exit 1;
EOF
# The environment is pop3d's to make: the program finds its record
# directory compiled in, not through a variable pop3d would drop.
sed -i "s|\\\$ENV{CPTEST_SEEN} // \"SEEN\"|\"$T/seen\"|; s|\\\$ENV{CPTEST_PLAIN_HOME} // \"/nonexistent\"|\"$T/plain\"|" "$T/bin/cptest"
chmod 755 "$T/bin/cptest"
PROG=$T/bin/cptest

# Root mode from a pipe: pop3d is root here, not run_pop3d's nobody.
rpop() {
	local name=$1; shift
	"$POP3D" -s "$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
CP=(--auth "checkpassword:$PROG" -m '%h/mbox')
seen() { cat "$T/seen/$1" 2>/dev/null; }
GOOD_ENV='env=PATH=/usr/bin:/bin SERVICE=pop3'

# ------------------------------------------------------ Debian's checkpw

crlf 'USER pop3dcpreal' 'PASS real-secret' STAT 'DELE 1' QUIT | rpop real --auth "checkpassword:$CHECKPW" -m '%h/mbox'
survived real 0
answer_is real-login real 3 '+OK maildrop has 1 message*'
answer_is real-stat real 4 '+OK 1 *'
answer_is real-quit real 6 '+OK*'
equal real-message-deleted 0 "$(stat -c %s "$T/home/pop3dcpreal/mbox")"
log_has real-log real "checkpassword: user=pop3dcpreal uid=$(id -u pop3dcpreal) "

crlf 'USER pop3dcpreal' 'PASS wrong' QUIT | rpop realbad --auth "checkpassword:$CHECKPW" -m '%h/mbox'
survived realbad 0
answer_is realbad-refused realbad 3 '-ERR [[]AUTH] authentication failed'
log_has realbad-log realbad 'PASS failed for user=pop3dcpreal auth=checkpassword'

# ------------------------------------------------------ the test program

crlf 'USER pop3dcpa' 'PASS pw-a' STAT 'DELE 1' QUIT | rpop good "${CP[@]}"
survived good 0
answer_is good-login good 3 '+OK maildrop has 1 message*'
answer_is good-quit good 6 '+OK*'
equal good-message-deleted 0 "$(stat -c %s "$T/home/pop3dcpa/mbox")"
log_has good-log-ids good "checkpassword: user=pop3dcpa uid=$AU gid=$AG home=$T/home/pop3dcpa"
# What it was given: exactly "user\0password\0timestamp\0", the time now.
in=$(seen pop3dcpa | sed -n 's/^input=//p' | head -n 1)
ts=${in#pop3dcpa\\x00pw-a\\x00}; ts=${ts%\\x00}
now=$(date +%s)
if [[ $in == "pop3dcpa\\x00pw-a\\x00${ts}\\x00" && $ts =~ ^[0-9]+$ ]] && [ $((now - ts)) -ge 0 ] && [ $((now - ts)) -le 60 ]; then
	pass "fd3-exact-bytes"
else
	fail "fd3-exact-bytes" "got '$in' at $now"
fi
equal pipe-env "$GOOD_ENV" "$(seen pop3dcpa | grep '^env=' | head -n 1)"
equal program-runs-as-root "uid=0 euid=0 gid=0" "$(seen pop3dcpa | grep '^uid=' | head -n 1)"
equal program-fds "fds=0 1 2 3 4 null=/dev/null /dev/null /dev/null" "$(seen pop3dcpa | grep '^fds=' | head -n 1)"

crlf 'USER pop3dcpa' 'PASS nope' QUIT | rpop wrong "${CP[@]}"
survived wrong 0
answer_is exit1-auth wrong 3 '-ERR [[]AUTH] authentication failed'
log_has exit1-log wrong 'PASS failed for user=pop3dcpa auth=checkpassword: refused by the checkpassword program'

for c in misuse:2 temp:111 seven:7 noreply:0; do
	u=${c%%:*}
	crlf "USER $u" 'PASS x' QUIT | rpop "$u" "${CP[@]}"
	survived "$u" 0
	answer_is "$u-sys-temp" "$u" 3 '-ERR [[]SYS/TEMP]*'
done
log_has misuse-log misuse 'exited 2: misused or misconfigured'
log_has temp-log temp 'exited 111: a temporary problem'
log_has seven-log seven 'exited with status 7, which the checkpassword interface does not define'
log_has noreply-log noreply 'exited 0 but did not run the reply program'

# The kernel's uid, not the reply's words: the session is A's.
crlf 'USER liar' 'PASS x' QUIT | rpop liar "${CP[@]}"
survived liar 0 1
log_has liar-uid-from-kernel liar "checkpassword: user=pop3dcpb uid=$AU gid=$AG "
if grep -q "uid=$BU" "$T/liar.err"; then fail "liar-never-b" "$(grep "uid=$BU" "$T/liar.err")"; else pass "liar-never-b"; fi
equal liar-b-mbox-untouched "$(printf '%s\nSubject: for pop3dcpb\n\nHello.\n' "$FROM" | wc -c)" "$(stat -c %s "$T/home/pop3dcpb/mbox")"

crlf 'USER badname' 'PASS x' QUIT | rpop badname "${CP[@]}"
survived badname 0
answer_is badname-sys-temp badname 3 '-ERR [[]SYS/TEMP]*'
log_has badname-log badname 'USER in the reply is not a valid user name'

crlf 'USER staysroot' 'PASS x' QUIT | rpop staysroot "${CP[@]}"
survived staysroot 0
answer_is staysroot-refused staysroot 3 '-ERR [[]AUTH] authentication failed'
log_has staysroot-log staysroot 'auth=checkpassword: account maps to uid 0'

# An invalid name never reaches the program.
crlf 'USER a/b' 'PASS x' QUIT | rpop invalid "${CP[@]}"
survived invalid 0
answer_is invalid-refused invalid 3 '-ERR [[]AUTH] authentication failed'
if [ -e "$T/seen/a_b" ]; then fail "invalid-not-run" "the program saw it"; else pass "invalid-not-run"; fi

# -------------------------------------------------------------- over TCP
# One connection on an ephemeral loopback port, pop3d on its accepted
# socket as a super-server would start it.
tcp_run() {
	local name=$1 input=$2; shift 2
	python3 -c '
import socket, subprocess, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname())
s, _ = l.accept(); l.close()
with open(sys.argv[2], "wb") as err:
    p = subprocess.Popen(sys.argv[4:], stdin=s, stdout=s, stderr=err)
s.close()
c.sendall(sys.argv[3].encode().replace(b"|", b"\r\n"))
c.shutdown(socket.SHUT_WR)
c.settimeout(30)
got = b""
while True:
    try:
        d = c.recv(65536)
    except OSError:
        break
    if not d:
        break
    got += d
open(sys.argv[1], "wb").write(got)
sys.exit(p.wait())' "$T/$name.out" "$T/$name.err" "$input" "$POP3D" -s "$@"
	echo $? >"$T/$name.rc"
}
rm -f "$T/seen/pop3dcpa"
printf '%s\nSubject: again\n\nHi.\n' "$FROM" >"$T/home/pop3dcpa/mbox"
tcp_run tcp 'USER pop3dcpa|PASS pw-a|STAT|QUIT|' "${CP[@]}"
survived tcp 0
answer_is tcp-login tcp 3 '+OK maildrop has 1 message*'
equal tcp-env "env=PATH=/usr/bin:/bin PROTO=TCP SERVICE=pop3 TCPLOCALIP=127.0.0.1 TCPREMOTEIP=127.0.0.1" \
	"$(seen pop3dcpa | grep '^env=' | head -n 1)"
equal tcp-fds "fds=0 1 2 3 4 null=/dev/null /dev/null /dev/null" "$(seen pop3dcpa | grep '^fds=' | head -n 1)"

# ------------------------------------------------------------ untrusted

install -d -m 777 "$T/open"
cp "$PROG" "$T/open/cptest"; chmod 755 "$T/open/cptest"
crlf 'USER pop3dcpa' 'PASS pw-a' QUIT | rpop opendir --auth "checkpassword:$T/open/cptest" -m '%h/mbox'
survived opendir 0
answer_is opendir-sys-temp opendir 3 '-ERR [[]SYS/TEMP]*'
log_has opendir-log opendir "checkpassword program refused: directory $T/open on the way to $T/open/cptest is writable by group or others"
cp "$PROG" "$T/bin/cptest-gw"; chmod 775 "$T/bin/cptest-gw"
crlf 'USER pop3dcpa' 'PASS pw-a' QUIT | rpop gw --auth "checkpassword:$T/bin/cptest-gw" -m '%h/mbox'
survived gw 0
answer_is gw-sys-temp gw 3 '-ERR [[]SYS/TEMP]*'
log_has gw-log gw "checkpassword program refused: $T/bin/cptest-gw is writable by group or others"

# ----------------------------------------------- the pre-login process

rm -f "$T/pl.fifo"; mkfifo "$T/pl.fifo"
( exec "$POP3D" -s "${CP[@]}" <"$T/pl.fifo" >"$T/pl.out" 2>"$T/pl.err" ) &
DRIVEN=$!
exec 7>"$T/pl.fifo"
await pl 1
CHILD=
for _ in $(seq 40); do CHILD=$(pgrep -P "$DRIVEN" | xargs); [ -n "$CHILD" ] && break; sleep 0.05; done
if [ -n "$CHILD" ] && [ "${CHILD// /}" = "$CHILD" ] && [ -r "/proc/$CHILD/status" ]; then
	PU=$(id -u pop3d)
	equal prelogin-uid "$PU $PU $PU $PU" "$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "/proc/$CHILD/status")"
	equal prelogin-root /var/lib/pop3d/empty "$(readlink "/proc/$CHILD/root")"
	if [ -e "/proc/$CHILD/root/etc/shadow" ]; then fail "prelogin-no-shadow-in-root" "exists"
	else pass "prelogin-no-shadow-in-root"; fi
	if setpriv --reuid="$PU" --regid="$(id -g pop3d)" --clear-groups cat /etc/shadow >/dev/null 2>&1; then
		fail "prelogin-account-cannot-read-shadow" "it could"
	else
		pass "prelogin-account-cannot-read-shadow"
	fi
else
	fail "prelogin-found" "children of $DRIVEN: '$CHILD'"
fi
send QUIT
finish pl
DRIVEN=
survived pl 0

# ------------------------------------------------------------ plain mode

install -d -m 755 -o nobody -g nogroup "$T/plain"
printf '%s\nSubject: plain\n\nHi.\n' "$FROM" >"$T/plain/nobody"
chown nobody:nogroup "$T/plain/nobody"; chmod 600 "$T/plain/nobody"
crlf 'USER nobody' 'PASS pw-plain' STAT 'DELE 1' QUIT | pop plain -s --auth "checkpassword:$PROG" -m '%h/%u'
survived plain 0
answer_is plain-login plain 3 '+OK maildrop has 1 message*'
equal plain-message-deleted 0 "$(stat -c %s "$T/plain/nobody")"
NU=$(id -u nobody)
equal plain-program-as-nobody "uid=$NU euid=$NU gid=$(id -g nobody)" "$(seen nobody | grep '^uid=' | head -n 1)"
log_has plain-log plain "checkpassword: user=nobody uid=$NU "
crlf 'USER nobody' 'PASS nope' QUIT | pop plainbad -s --auth "checkpassword:$PROG" -m '%h/%u'
survived plainbad 0
answer_is plainbad-auth plainbad 3 '-ERR [[]AUTH] authentication failed'

# ------------------------------------------- the hang: PASSDB_TIMEOUT

start=$(date +%s)
crlf 'USER hang' 'PASS x' QUIT | rpop hang "${CP[@]}"
took=$(($(date +%s) - start))
survived hang 0
answer_is hang-sys-temp hang 3 '-ERR [[]SYS/TEMP]*'
log_has hang-log hang 'checkpassword program .* did not finish within 15 seconds; killed'
if [ "$took" -ge 14 ] && [ "$took" -le 25 ]; then pass "hang-deadline (${took}s)"; else fail "hang-deadline" "took ${took}s"; fi
left=
for f in hang hangkid; do
	p=$(cat "$T/seen/$f.pid" 2>/dev/null)
	[ -n "$p" ] && [ -e "/proc/$p" ] && ! grep -q '^State:.*zombie' "/proc/$p/status" 2>/dev/null && left="$left $p"
done
if [ -z "$left" ]; then pass "hang-no-process-left"; else fail "hang-no-process-left" "still running:$left"; fi

# --------------------------------------------------------------- overall

if [ -e "$T/seen/FDLEAK" ]; then fail "no-fd-leak" "$(cat "$T/seen/FDLEAK")"; else pass "no-fd-leak"; fi

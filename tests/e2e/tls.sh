#!/usr/bin/env bash
# tests/e2e/tls.sh - TLS (STLS, RFC 2595; implicit TLS, RFC 8314), SASL
# AUTH PLAIN (RFC 5034, 4616) and the --plaintext-login policy, through
# loopback listeners, in both ways pop3d runs:
#  - non-root: socat runs the ASan pop3d as nobody (as clients.sh does);
#  - root mode: socat runs it as root, so the pre-login process (pop3d
#    account, chrooted) does the handshake and, after login, relays the
#    TLS session for the user's process (privsep.c); the passwd entry
#    carries the uid/gid of the system user pop3dtls, which owns the mbox.
# Each mode has a STLS listener and an implicit-TLS (-S) listener; the
# arguments of each listener are read from a file at every connection, so
# the policy can change between checks.
# Covered: openssl s_client (-starttls pop3 and implicit, TLS 1.2 and 1.3),
# python3 poplib (stls() and POP3_SSL, CA + hostname check), curl (pop3s://
# and pop3:// --ssl-reqd), fetchmail (ssl and STLS), mpop (STLS and
# implicit) with byte-exact delivery, keep and delete; the CAPA and login
# policy before and after STLS (-L tls/always/never, no certificate); the
# RFC 2595 plaintext injection behind STLS; AUTH PLAIN good and bad; a
# failed handshake (plain text on a TLS port, a TLS 1.1 client), logged with
# the client address; the option checks (-S without a certificate, a key
# file readable by the group); in root mode, the ids of the relay and the
# session process.  No session may end with a sanitizer report.
. "$(dirname "$0")/../lib.sh"
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c), and lib.sh gives $T to nobody: root's again.
[ "$(id -u)" = 0 ] && chown root:root "$T"

if [ "$(id -u)" != 0 ]; then
	echo "tls.sh needs root (root-mode listeners, session users); skipped"
	exit 0
fi

cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
SAN_RE='runtime error|AddressSanitizer|LeakSanitizer'
PY=/usr/bin/python3
LPIDS=()
cleanup() {
	local p
	for p in "${LPIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${LPIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# ------------------------------------------------------- dependencies

need=()
for c in socat:socat ss:iproute2 openssl:openssl curl:curl fetchmail:fetchmail mpop:mpop; do
	command -v "${c%%:*}" >/dev/null || need+=("${c#*:}")
done
[ -x "$PY" ] || need+=(python3)
if [ "${#need[@]}" -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >"$T/apt.log" 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 &&
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >"$T/apt.log" 2>&1; }
fi
for c in socat ss openssl "$PY"; do
	if ! command -v "$c" >/dev/null; then
		fail "deps-$(basename "$c")" "not installed: $(tail -n 1 "$T/apt.log" 2>/dev/null)"
		exit 0
	fi
done
have() {	# have CLIENT: installed, else one FAIL line
	if command -v "$1" >/dev/null 2>&1; then return 0; fi
	fail "$1-installed" "not installed (apt-get install $1)"
	return 1
}

# ------------------------------------------------------------ accounts

getent passwd pop3d >/dev/null ||
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pop3d
[ -d /var/lib/pop3d/empty ] || install -d -m 755 -o root -g root /var/lib/pop3d/empty
useradd -M -d /nonexistent -s /usr/sbin/nologin pop3dtls
RU=$(id -u pop3dtls) RG=$(id -g pop3dtls)

# ------------------------------------------------------- certificates
# A self-signed certificate for localhost and 127.0.0.1; it is its own CA
# for the clients.  The key: 0600, owned by the user pop3d starts as.

mkdir "$T/nr" "$T/rt"
if ! openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	-keyout "$T/key.pem" -out "$T/cert.pem" >"$T/req.log" 2>&1; then
	fail cert-made "openssl req: $(tail -n 2 "$T/req.log" | tr '\n' ' ')"
	exit 0
fi
CA=$T/cert.pem
chmod 644 "$CA"
for d in nr rt; do install -m 600 "$T/key.pem" "$T/$d/key.pem"; done
rm -f "$T/key.pem"
chown nobody:nogroup "$T/nr/key.pem"

# ------------------------------------------------------- the messages

mkdir "$T/msg"
perl -e '
	my $dir = shift;
	my $big = "From: Big <big\@example.org>\nSubject: big\nMessage-ID: <big\@example.org>\n\n";
	my $s = 11;
	while (length $big < 300 * 1024) {
		$s = ($s * 1103515245 + 12345) % 2147483648;
		my $line = ($s % 9 == 0 ? "." : "") . chr(33 + $s % 90) x ($s % 150);
		$line = "." if $s % 53 == 0;
		$line = "" if $s % 17 == 0;
		$big .= "$line\n";
	}
	my @m = (
		"From: Alice <alice\@example.org>\nTo: Bob <bob\@example.org>\nSubject: plain\nMessage-ID: <plain\@example.org>\n\nHello, Bob.\n",
		"From: a\@example.org\nSubject: dots\nMessage-ID: <dots\@example.org>\n\n.\n..\n...\n.leading dot\ntext\n.\nend.\n",
		"From: a\@example.org\nSubject: quoting\nMessage-ID: <quoting\@example.org>\n\n>From the quoted line\nFromage is no separator\n",
		"From: a\@example.org\nSubject: empty body\nMessage-ID: <empty\@example.org>\n\n",
		"From: a\@example.org\nSubject: long line\nMessage-ID: <long\@example.org>\n\n" . join("", map { chr(48 + $_ % 75) } 0 .. 5999) . "\nshort\n",
		"From: j\@example.org\nSubject: utf-8\nMessage-ID: <utf8\@example.org>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe \xe6\x97\xa5\xe6\x9c\xac\nLatin-1: \xe9\xff\n",
		$big,
		"From: a\@example.org\nSubject: last\nMessage-ID: <last\@example.org>\n\nline\nno newline at the end",
	);
	for my $i (0 .. $#m) {
		open(F, ">", sprintf("%s/%02d", $dir, $i + 1)) or die; binmode F;
		print F $m[$i]; close F;
	}' "$T/msg"
N=$(ls "$T/msg" | wc -l)
expect_messages
OCTETS=$(cat "$T"/exp/crlf/* | wc -c)
LOGIN="+OK maildrop has $N messages ($OCTETS octets)"
mbox_of_messages

# Per mode: password file, APOP secrets (0600), spool.
H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/nr/passwd"
printf 'alice:%s:%s:%s::/nonexistent\n' "$H" "$RU" "$RG" >"$T/rt/passwd"
for d in nr rt; do
	printf 'alice:apopsecret\n' >"$T/$d/apop"
	chmod 600 "$T/$d/passwd" "$T/$d/apop"
	mkdir "$T/$d/mail"
done
chown nobody:nogroup "$T/nr" "$T/nr/passwd" "$T/nr/apop" "$T/nr/mail"
chown "$RU:$RG" "$T/rt/mail"

# ----------------------------------------------------------- listeners
# listener NAME MODE: socat on a free port in 21300-21399 running wrap.NAME
# for each connection; PORT_NAME is set.  The arguments of pop3d are the
# lines of args.NAME.  Every session's start and exit status go to
# sessions.PHASE, its stderr to log.PHASE.

printf '%s\n' "$(declare -p RUNAS)" >"$T/runas"
echo setup >"$T/phase"
NEXTPORT=21300
listener() {
	local name=$1 mode=$2 p pid
	{
		echo '#!/usr/bin/env bash'
		if [ "$mode" = nr ]; then
			echo ". '$T/runas'"
		else
			# Root mode: after the switch to the user's ids pop3d is
			# non-dumpable and LeakSanitizer cannot attach.
			echo 'RUNAS=(); export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"'
		fi
		cat <<EOF
phase=\$(cat "$T/phase")
echo start >>"$T/sessions.\$phase"
mapfile -t args <"$T/args.$name"
"\${RUNAS[@]}" "$POP3D" -s -t 30 "\${args[@]}" 2>>"$T/log.\$phase"
echo "exit \$?" >>"$T/sessions.\$phase"
EOF
	} >"$T/wrap.$name"
	chmod 755 "$T/wrap.$name"
	: >"$T/args.$name"
	for p in $(seq "$NEXTPORT" 21399); do
		[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] || continue
		socat TCP-LISTEN:"$p",bind=127.0.0.1,reuseaddr,fork EXEC:"$T/wrap.$name",nofork 2>>"$T/socat.log" &
		pid=$!
		for _ in $(seq 50); do
			[ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null && [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then
			LPIDS+=("$pid")
			printf -v "PORT_$name" %s "$p"
			NEXTPORT=$((p + 1))
			pass "listener-$name (127.0.0.1:$p)"
			return 0
		fi
		kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	done
	fail "listener-$name" "no free port in 21300-21399: $(tail -n 1 "$T/socat.log" 2>/dev/null)"
	return 1
}
PORT_nr='' PORT_nrs='' PORT_rt='' PORT_rts=''
listener nr nr && listener nrs nr && listener rt rt && listener rts rt || exit 0

# config MODE [EXTRA...]: the arguments of MODE's two listeners from now
# on: the base ones, the certificate and key unless EXTRA starts with
# "nocert", then EXTRA.  The implicit-TLS listener also gets -S.
config() {
	local mode=$1 cert=yes; shift
	if [ "${1:-}" = nocert ]; then cert=no; shift; fi
	{
		printf '%s\n' -p "$T/$mode/passwd" -m "$T/$mode/mail/%u"
		[ "$cert" = yes ] && printf '%s\n' -c "$CA" -k "$T/$mode/key.pem"
		[ "$#" -gt 0 ] && printf '%s\n' "$@"
	} >"$T/args.$mode"
	{ cat "$T/args.$mode"; echo -S; } >"$T/args.${mode}s"
}

# phase NAME: the sessions from now on are logged as NAME's.
phase() { echo "$1" >"$T/phase"; : >"$T/sessions.$1"; : >"$T/log.$1"; }

# settled NAME [STATUS...]: every session of NAME has ended, with one of
# STATUS (default 0) and without a sanitizer report or signal.
settled() {
	local name=$1 i starts ends bad; shift
	local ok=" ${*:-0} "
	for i in $(seq 300); do
		starts=$(grep -c '^start' "$T/sessions.$name")
		ends=$(grep -c '^exit' "$T/sessions.$name")
		[ "$starts" = "$ends" ] && break
		sleep 0.1
	done
	bad=$(grep '^exit' "$T/sessions.$name" | while read -r _ st; do
		case $ok in *" $st "*) ;; *) echo "$st" ;; esac; done | sort | uniq -c | xargs)
	if [ "$starts" != "$ends" ]; then
		fail "$name-sessions" "$((starts - ends)) of $starts sessions still running after 30 s"
	elif grep -qaE "$SAN_RE" "$T/log.$name"; then
		fail "$name-sessions" "sanitizer report: $(grep -a -m1 -E "$SAN_RE" "$T/log.$name")"
	elif [ -n "$bad" ]; then
		fail "$name-sessions" "exit status (count status): $bad, expected $(echo $ok); log: $(tail -n 2 "$T/log.$name" | tr '\n' ' ')"
	elif [ "$starts" = 0 ]; then
		fail "$name-sessions" "the client never connected"
	else
		pass "$name-sessions ($starts, exit $(echo $ok | sed 's/ / or /g'))"
	fi
}

log_has() {
	if grep -qaE -- "$3" "$T/log.$2"; then pass "$1"
	else fail "$1" "no log line matching '$3': $(tr '\n' ' ' <"$T/log.$2" | cut -c1-300)"; fi
}

# kept NAME MODE / emptied NAME MODE: the maildrop after keep / delete mode.
kept() { same "$1-mbox-unchanged" "$T/orig.mbox" "$T/$2/mail/alice"; }
emptied() {
	local m=$T/$2/mail/alice
	if [ -f "$m" ] && [ ! -s "$m" ]; then pass "$1-mbox-empty"
	elif [ -f "$m" ]; then fail "$1-mbox-empty" "$(stat -c %s "$m") bytes left"
	else fail "$1-mbox-empty" "the mbox is gone"; fi
}

# compare NAME KIND DIR: DIR/01..NN equal exp/KIND/01..NN; one line for
# all messages (the first difference), one for the count.
compare() {
	local name=$1 kind=$2 dir=$3 n got bad=
	got=$(ls "$dir" 2>/dev/null | wc -l)
	if [ "$got" = 0 ]; then fail "$name-msgs" "no message delivered"; return; fi
	for n in $(seq -f %02g "$N"); do
		if ! cmp -s "$T/exp/$kind/$n" "$dir/$n"; then
			bad="message $n: $(firstdiff "$T/exp/$kind/$n" "$dir/$n" 2>&1)"
			break
		fi
	done
	if [ -z "$bad" ]; then pass "$name-msgs-byte-exact"; else fail "$name-msgs-byte-exact" "$bad"; fi
	equal "$name-count" "$N" "$got"
}

# strip_added FILE PATTERN...: see clients.sh.
strip_added() {
	perl -e '
		my ($file, @pat) = @ARGV;
		open(F, "<", $file) or die "$file: $!"; binmode F; local $/; my $d = <F>; close F;
		for my $p (@pat) {
			$d =~ s/\A$p[^\n]*\n(?:[ \t][^\n]*\n)*//m or exit 1;
		}
		open(F, ">", $file) or die; binmode F; print F $d; close F;' "$@"
}

cat >"$T/mda" <<'EOF'
#!/bin/sh
n=$(ls "$1" | wc -l)
exec cat >"$1/$(printf %02d $((n + 1)))"
EOF
chmod 755 "$T/mda"

# ------------------------------------------------- the dialogue client
# conv.py PORT CA STEP...: one POP3 session, printing every line the
# server sends (without its CRLF).  A STEP is a command line, sent and
# answered (multi-line answers read to the "."), or:
#   @TLS            implicit TLS: the handshake before the greeting
#   @STLS           STLS, and the handshake if the answer is +OK
#   @STLSPIPE:L|L   "STLS" and the lines L in ONE write, then the handshake
#   @APOP USER SECRET  APOP with the digest of the greeting's timestamp
#   @EOF            read to the end of the stream, then print <EOF>
#   @WAIT FILE      create FILE.ready, then wait (20 s at most) for FILE
# The TLS client checks the certificate against CA and the name localhost.
# Errors print "<EOF>" (closed) or "<ERROR ...>" and end the dialogue.
cat >"$T/conv.py" <<'EOF'
import hashlib, re, socket, ssl, sys
port, ca, steps = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
ctx = ssl.create_default_context(cafile=ca)
sock = socket.create_connection(("127.0.0.1", port), timeout=20)
f = sock.makefile("rb")
greeting = b""
def out(s):
    sys.stdout.write(s + "\n"); sys.stdout.flush()
class Closed(Exception): pass
def line():
    l = f.readline()
    if not l:
        raise Closed()
    out(l.decode("latin-1").rstrip("\r\n"))
    return l
def wrap():
    global sock, f
    sock = ctx.wrap_socket(sock, server_hostname="localhost")
    f = sock.makefile("rb")
def answer(cmd):
    first = line()
    w = cmd.split()
    multi = bool(w) and first.startswith(b"+OK") and (
        w[0].upper() in ("CAPA", "RETR", "TOP") or
        (w[0].upper() in ("AUTH", "LIST", "UIDL") and len(w) == 1))
    while multi and line() != b".\r\n":
        pass
def send(s):
    sock.sendall(s.encode("latin-1"))
try:
    if steps and steps[0] == "@TLS":
        wrap(); steps = steps[1:]
    greeting = line()
    for st in steps:
        if st == "@STLS":
            send("STLS\r\n")
            if line().startswith(b"+OK"):
                wrap()
        elif st.startswith("@STLSPIPE:"):
            send("STLS\r\n" + "".join(l + "\r\n" for l in st[10:].split("|")))
            if line().startswith(b"+OK"):
                wrap()
        elif st.startswith("@APOP "):
            _, user, secret = st.split()
            ts = re.search(rb"<[^>]*>", greeting).group(0)
            send("APOP %s %s\r\n" % (user, hashlib.md5(ts + secret.encode()).hexdigest()))
            line()
        elif st.startswith("@WAIT "):
            import os, time
            open(st[6:] + ".ready", "w").close()
            for _ in range(200):
                if os.path.exists(st[6:]):
                    break
                time.sleep(0.1)
        elif st == "@EOF":
            while True:
                line()
        else:
            send(st + "\r\n")
            answer(st)
except Closed:
    out("<EOF>")
except (ssl.SSLError, OSError) as e:
    out("<ERROR %s>" % e.__class__.__name__)
EOF

# conv NAME PORT EXPECT -- STEP...: a dialogue as its own phase; its
# transcript must be EXPECT's lines (one argument a line; "*" at the end
# of a line matches any rest of it).  EXPECT ends at "--".
conv() {
	local name=$1 port=$2 exp=() st=(); shift 2
	while [ "$#" -gt 0 ] && [ "$1" != -- ]; do exp+=("$1"); shift; done
	shift
	phase "$name"
	timeout 40 "$PY" "$T/conv.py" "$port" "$CA" "$@" >"$T/$name.out" 2>"$T/$name.pyerr"
	settled "$name" ${CONV_STATUS:-0}
	printf '%s\n' "${exp[@]}" >"$T/$name.exp"
	if perl -e '
		open(E, "<", $ARGV[0]) or die; open(G, "<", $ARGV[1]) or die;
		my @e = <E>; my @g = <G>; chomp(@e, @g);
		for my $i (0 .. ($#e > $#g ? $#e : $#g)) {
			my ($x, $y) = ($e[$i], $g[$i]);
			my $ok = defined $x && defined $y &&
			    ($x =~ /^(.*)\*$/s ? index($y, $1) == 0 : $x eq $y);
			next if $ok;
			print "line ", $i + 1, ": expected \"", $x // "<nothing>", "\", got \"", $y // "<nothing>", "\"\n";
			exit 1;
		}' "$T/$name.exp" "$T/$name.out" >"$T/$name.diff"; then
		pass "$name"
	else
		fail "$name" "$(cat "$T/$name.diff") $(tail -n 1 "$T/$name.pyerr")"
	fi
}

b64() { printf "$1" | base64 -w0; }
GOOD=$(b64 'alice\0alice\0secret')
GOODZ=$(b64 '\0alice\0secret')
WRONG=$(b64 'alice\0alice\0wrong')
GREET='+OK POP3 server ready'
BYE='+OK pop3d signing off'
NEED_TLS='-ERR plaintext login only over TLS: use STLS first'
NO_PLAIN='-ERR plaintext login is disabled; use APOP'
STLS_GO='+OK begin TLS negotiation'
WRONG_STATE='-ERR command not valid in this state'
CAPA_HEAD=('+OK capability list follows' TOP UIDL)
CAPA_MID=(RESP-CODES AUTH-RESP-CODE PIPELINING 'EXPIRE NEVER' 'UTF8 USER')

# s_client SESSION OUT ARGS...: openssl s_client -quiet with the command
# lines of SESSION's input file fed slowly enough and then kept open until
# the server closes (-quiet implies -ign_eof); OUT gets what it prints.
s_client() {
	local in=$1 out=$2; shift 2
	timeout 30 openssl s_client -quiet -CAfile "$CA" -verify_return_error \
		-verify_hostname localhost "$@" <"$in" >"$out" 2>"$out.err"
}

# retr_split OUT DIR: the s_client output of USER, PASS, STAT, RETR 1..N,
# QUIT: the messages (dot-unstuffed, CRLF kept) to DIR/NN; prints the
# other lines (greeting removed) one per line, CR removed.
retr_split() {
	perl -e '
		my ($out, $dir, $n) = @ARGV;
		open(F, "<", $out) or die; binmode F; my @l = <F>; close F;
		shift @l if @l && $l[0] =~ /^\+OK POP3 server ready/;
		my @other;
		push @other, shift @l for 1 .. 3;
		for my $i (1 .. $n) {
			my $st = shift @l; last unless defined $st;
			push @other, $st;
			last unless $st =~ /^\+OK/;
			open(M, ">", sprintf("%s/%02d", $dir, $i)) or die; binmode M;
			while (defined(my $x = shift @l)) {
				last if $x eq ".\r\n";
				$x =~ s/^\.//;
				print M $x;
			}
			close M;
		}
		push @other, @l;
		for (@other) { s/\r?\n\z//; print "$_\n" }' "$1" "$2" "$N"
}

# ======================================================================
# Everything below runs once per mode: nr (pop3d as nobody) and rt (pop3d
# started as root: privilege separation and the TLS relay).

suite() {
	local M=$1 P=$2 PS=$3 name x i

	# ------------------------------------------------ openssl s_client
	# STLS and implicit TLS; STAT, RETR of every message byte-exact.
	config "$M"
	{ crlf 'USER alice' 'PASS secret' STAT; for i in $(seq "$N"); do crlf "RETR $i"; done; crlf QUIT; } >"$T/retr.in"
	for x in stls:"-starttls pop3 -connect 127.0.0.1:$P" implicit:"-connect 127.0.0.1:$PS"; do
		name=$M-sclient-${x%%:*}
		fresh_mbox "$M"; phase "$name"; mkdir "$T/$name"
		# shellcheck disable=SC2086
		s_client "$T/retr.in" "$T/$name.out" ${x#*:}
		settled "$name"
		retr_split "$T/$name.out" "$T/$name" >"$T/$name.rest"
		compare "$name" crlf "$T/$name"
		equal "$name-dialogue" "+OK send PASS|$LOGIN|+OK $N $OCTETS|$BYE ($N messages left)" \
			"$(grep -v '^+OK [0-9]* octets$' "$T/$name.rest" | paste -sd'|')"
		kept "$name" "$M"
		log_has "$name-logs-tls-version" "$name" 'TLS: TLSv1\.[23] '
	done

	# TLS 1.2 and TLS 1.3 each work, and the log names the version.
	crlf 'USER alice' 'PASS secret' STAT QUIT >"$T/stat.in"
	for v in 1_2 1_3; do
		name=$M-tls${v/_/}
		fresh_mbox "$M"; phase "$name"
		s_client "$T/stat.in" "$T/$name.out" -connect "127.0.0.1:$PS" "-tls$v"
		settled "$name"
		equal "$name-session" "$GREET|+OK send PASS|$LOGIN|+OK $N $OCTETS|$BYE ($N messages left)" \
			"$(tr -d '\r' <"$T/$name.out" | paste -sd'|')"
		log_has "$name-logged" "$name" "127\.0\.0\.1: TLS: TLSv${v/_/.} "
	done

	# ------------------------------------------------- python3 poplib
	# stls() then login (keep), POP3_SSL (delete); the context checks the
	# certificate against the CA and the name localhost (DNS SAN).
	cat >"$T/popclient.py" <<'EOF'
import os, poplib, ssl, sys
poplib._MAXLINE = 1 << 20
port, ca, out, how = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
if how == "stls":
    p = poplib.POP3("localhost", port, timeout=30)
    before = p.capa()
    assert "STLS" in before and "USER" not in before and "SASL" not in before, before
    p.stls(context=ctx)
    after = p.capa()
    assert "STLS" not in after and "USER" in after and after.get("SASL") == ["PLAIN", "LOGIN"], after
else:
    p = poplib.POP3_SSL("localhost", port, context=ctx, timeout=30)
p.user("alice")
p.pass_("secret")
count, _ = p.stat()
for i in range(1, count + 1):
    _, lines, _ = p.retr(i)
    with open(os.path.join(out, "%02d" % i), "wb") as f:
        f.write(b"".join(l + b"\r\n" for l in lines))
    if how != "stls":
        p.dele(i)
print(p.quit().decode())
EOF
	for x in stls:"$P" ssl:"$PS"; do
		name=$M-poplib-${x%%:*}
		fresh_mbox "$M"; phase "$name"; mkdir "$T/$name"
		timeout 40 "$PY" "$T/popclient.py" "${x#*:}" "$CA" "$T/$name" "${x%%:*}" >"$T/$name.out" 2>&1 ||
			fail "$name-run" "$(tail -n 1 "$T/$name.out")"
		settled "$name"
		compare "$name" crlf "$T/$name"
		if [ "${x%%:*}" = stls ]; then kept "$name" "$M"; else emptied "$name" "$M"; fi
	done

	# ------------------------------------------------------------ curl
	# pop3s:// (keep; all messages over one connection) and pop3://
	# --ssl-reqd (STLS; RETR and DELE each message, one session).
	if have curl; then
		name=$M-curl-pop3s
		fresh_mbox "$M"; phase "$name"; mkdir "$T/$name"
		args=()
		for n in $(seq -f %02g "$N"); do args+=("pop3s://127.0.0.1:$PS/$((10#$n))" -o "$T/$name/$n"); done
		curl -sS --max-time 30 --cacert "$CA" --user alice:secret "${args[@]}" 2>"$T/$name.err" ||
			fail "$name-run" "$(tail -n 1 "$T/$name.err")"
		settled "$name"
		compare "$name" crlf "$T/$name"
		kept "$name" "$M"

		name=$M-curl-stls
		fresh_mbox "$M"; phase "$name"; mkdir "$T/$name"
		args=()
		for n in $(seq -f %02g "$N"); do
			args+=(--ssl-reqd --cacert "$CA" --user alice:secret "pop3://127.0.0.1:$P/$((10#$n))" -o "$T/$name/$n" --next
			       --ssl-reqd --cacert "$CA" --user alice:secret -X DELE -I "pop3://127.0.0.1:$P/$((10#$n))" --next)
		done
		unset 'args[${#args[@]}-1]'
		curl -sS --max-time 30 "${args[@]}" >"$T/$name.out" 2>"$T/$name.err" ||
			fail "$name-run" "$(tail -n 1 "$T/$name.err")"
		settled "$name"
		compare "$name" crlf "$T/$name"
		emptied "$name" "$M"
		log_has "$name-used-stls" "$name" 'TLS: TLSv1\.[23] '
	fi

	# ------------------------------------------------------- fetchmail
	# "ssl" (implicit, keep) and STLS ("sslproto tls1.2+" without "ssl":
	# STLS required; delete), certificate checked against the CA and the
	# poll name localhost.  What fetchmail changes: see clients.sh.
	if have fetchmail; then
		for x in "ssl:$PS:keep:ssl sslproto tls1.2+" "stls:$P:no keep:sslproto tls1.2+"; do
			IFS=: read -r kind port keep opts <<<"$x"
			name=$M-fetchmail-$kind
			fresh_mbox "$M"; phase "$name"; mkdir "$T/$name" "$T/$name.home"
			cat >"$T/$name.rc" <<EOF
set no syslog
set no bouncemail
poll localhost proto pop3 port $port timeout 30 auth password
    user "alice" there with password "secret" is "root" here
    options fetchall $keep $opts sslcertck sslcertfile "$CA"
    mda "$T/mda $T/$name"
EOF
			chmod 600 "$T/$name.rc"
			FETCHMAILHOME=$T/$name.home timeout 40 fetchmail -f "$T/$name.rc" --nodetach -d0 >"$T/$name.out" 2>&1
			rc=$?
			[ "$rc" = 0 ] || fail "$name-run" "exit status $rc: $(grep -v 'root is discouraged' "$T/$name.out" | tail -n 2 | tr '\n' ' ')"
			settled "$name"
			for f in "$T/$name"/*; do
				[ -f "$f" ] && strip_added "$f" 'Received: from localhost '
			done
			compare "$name" lf "$T/$name"
			if [ "$kind" = ssl ]; then kept "$name" "$M"; else emptied "$name" "$M"; fi
			log_has "$name-used-tls" "$name" 'TLS: TLSv1\.[23] '
		done
	fi

	# ------------------------------------------------------------ mpop
	# STLS with SASL PLAIN (keep), implicit TLS with USER/PASS (delete),
	# --tls-trust-file the CA.  What mpop changes: see clients.sh.
	if have mpop; then
		for x in stls:"$P":on:on:plain implicit:"$PS":off:off:user; do
			IFS=: read -r kind port starttls keep auth <<<"$x"
			name=$M-mpop-$kind
			fresh_mbox "$M"; phase "$name"; mkdir "$T/$name" "$T/$name.home"
			HOME=$T/$name.home timeout 40 mpop --host=localhost --port="$port" --timeout=30 \
				--tls=on --tls-starttls="$starttls" --tls-trust-file="$CA" \
				--auth="$auth" --user=alice --passwordeval='echo secret' \
				--only-new=off --keep="$keep" --uidls-file="$T/$name.uidls" \
				--delivery=mda,"$T/mda $T/$name" >"$T/$name.out" 2>&1
			rc=$?
			[ "$rc" = 0 ] || fail "$name-run" "exit status $rc: $(tail -n 2 "$T/$name.out" | tr '\n' ' ')"
			settled "$name"
			for f in "$T/$name"/*; do
				[ -f "$f" ] && strip_added "$f" 'Received: from localhost '
			done
			compare "$name" lf "$T/$name"
			if [ "$keep" = on ]; then kept "$name" "$M"; else emptied "$name" "$M"; fi
		done
	fi

	# ---------------------------------------------------------- policy
	fresh_mbox "$M"
	config "$M"		# certificate, default policy (tls)

	# Over clear: STLS offered, USER and SASL PLAIN and LOGIN neither
	# offered nor accepted; bare AUTH lists no mechanism.
	conv "$M-clear-default" "$P" "$GREET" "${CAPA_HEAD[@]}" "${CAPA_MID[@]}" STLS . \
		"$NEED_TLS" '-ERR give USER first' "$NEED_TLS" "$NEED_TLS" "$NEED_TLS" "$NEED_TLS" \
		'+OK mechanisms follow' . "$BYE" \
		-- CAPA 'USER alice' 'PASS secret' "AUTH PLAIN $GOOD" 'AUTH PLAIN' 'AUTH LOGIN' \
		"AUTH LOGIN $(b64 alice)" AUTH QUIT
	# After STLS: USER and SASL PLAIN, no STLS; STLS again refused; login;
	# in TRANSACTION: STLS and AUTH refused.
	conv "$M-stls-capa" "$P" "$GREET" "$STLS_GO" "${CAPA_HEAD[@]}" USER "${CAPA_MID[@]}" 'SASL PLAIN LOGIN' . \
		'-ERR TLS is already active' '+OK mechanisms follow' PLAIN LOGIN . '+OK send PASS' "$LOGIN" \
		"$WRONG_STATE" "$WRONG_STATE" "$BYE ($N messages left)" \
		-- @STLS CAPA STLS AUTH 'USER alice' 'PASS secret' STLS "AUTH PLAIN $GOOD" QUIT
	# RFC 5034 section 3: SASL stays in CAPA after login (and USER, as
	# the channel is still TLS); no STLS there.
	conv "$M-capa-in-transaction-over-tls" "$P" "$GREET" "$STLS_GO" "$LOGIN" \
		"${CAPA_HEAD[@]}" USER "${CAPA_MID[@]}" 'SASL PLAIN LOGIN' 'IMPLEMENTATION pop3d-*' . "$BYE ($N messages left)" \
		-- @STLS "AUTH PLAIN $GOOD" CAPA QUIT
	# Implicit TLS: the same list, STLS refused.
	conv "$M-implicit-capa" "$PS" "$GREET" "${CAPA_HEAD[@]}" USER "${CAPA_MID[@]}" 'SASL PLAIN LOGIN' . \
		'-ERR TLS is already active' "$BYE" -- @TLS CAPA STLS QUIT

	# RFC 2595 section 4: commands pipelined behind STLS are discarded.
	# The first answer over TLS is the one to our own QUIT.
	conv "$M-stls-injection-capa" "$P" "$GREET" "$STLS_GO" "$BYE" '<EOF>' \
		-- '@STLSPIPE:CAPA' QUIT @EOF
	config "$M" -L always
	conv "$M-stls-injection-login" "$P" "$GREET" "$STLS_GO" "$WRONG_STATE" '-ERR give USER first' "$BYE" '<EOF>' \
		-- '@STLSPIPE:USER alice|PASS secret' STAT 'PASS secret' QUIT @EOF
	# A USER given before STLS is forgotten (RFC 2595 section 4).
	conv "$M-stls-forgets-user" "$P" "$GREET" '+OK send PASS' "$STLS_GO" '-ERR give USER first' "$BYE" \
		-- 'USER alice' @STLS 'PASS secret' QUIT

	# -L always: plaintext logins over clear; CAPA has USER, SASL and
	# STLS; STLS in TRANSACTION refused, CAPA there without STLS.
	conv "$M-always-clear" "$P" "$GREET" "${CAPA_HEAD[@]}" USER "${CAPA_MID[@]}" 'SASL PLAIN LOGIN' STLS . \
		'+OK send PASS' "$LOGIN" "$WRONG_STATE" "${CAPA_HEAD[@]}" USER "${CAPA_MID[@]}" 'SASL PLAIN LOGIN' 'IMPLEMENTATION pop3d-*' . \
		"$BYE ($N messages left)" \
		-- CAPA 'USER alice' 'PASS secret' STLS CAPA QUIT
	conv "$M-always-clear-auth-plain" "$P" "$GREET" "$LOGIN" "$BYE ($N messages left)" \
		-- "AUTH PLAIN $GOOD" QUIT

	# -L never (with APOP): no USER/PLAIN/LOGIN over clear nor over TLS;
	# APOP works over both, and CRAM-MD5 (no password travels) is offered.
	config "$M" -L never -a "$T/$M/apop"
	conv "$M-never-clear" "$P" "$GREET <*" "${CAPA_HEAD[@]}" "${CAPA_MID[@]}" 'SASL CRAM-MD5' STLS . \
		"$NO_PLAIN" "$NO_PLAIN" "$LOGIN" "$BYE ($N messages left)" \
		-- CAPA 'USER alice' "AUTH PLAIN $GOOD" '@APOP alice apopsecret' QUIT
	conv "$M-never-tls" "$P" "$GREET <*" "$STLS_GO" "${CAPA_HEAD[@]}" "${CAPA_MID[@]}" 'SASL CRAM-MD5' . \
		"$NO_PLAIN" "$NO_PLAIN" '+OK mechanisms follow' CRAM-MD5 . "$LOGIN" "$BYE ($N messages left)" \
		-- @STLS CAPA 'USER alice' "AUTH PLAIN $GOOD" AUTH '@APOP alice apopsecret' QUIT
	conv "$M-never-implicit-apop" "$PS" "$GREET <*" "$NO_PLAIN" "$LOGIN" "$BYE ($N messages left)" \
		-- @TLS 'USER alice' '@APOP alice apopsecret' QUIT

	# No certificate: no STLS in CAPA, STLS refused; plaintext allowed.
	config "$M" nocert
	conv "$M-nocert" "$P" "$GREET" "${CAPA_HEAD[@]}" USER "${CAPA_MID[@]}" 'SASL PLAIN LOGIN' . \
		'-ERR STLS not available' '+OK send PASS' "$LOGIN" "$BYE ($N messages left)" \
		-- CAPA STLS 'USER alice' 'PASS secret' QUIT

	# ------------------------------------------------------ AUTH PLAIN
	config "$M"
	conv "$M-auth-plain-ir" "$P" "$GREET" "$STLS_GO" "$LOGIN" "$BYE ($N messages left)" \
		-- @STLS "AUTH PLAIN $GOOD" QUIT
	conv "$M-auth-login" "$P" "$GREET" "$STLS_GO" '+ VXNlcm5hbWU6' '+ UGFzc3dvcmQ6' "$LOGIN" "$BYE ($N messages left)" \
		-- @STLS 'AUTH LOGIN' "$(b64 alice)" "$(b64 secret)" QUIT
	conv "$M-auth-plain-continuation" "$P" "$GREET" "$STLS_GO" '+ ' "$LOGIN" "$WRONG_STATE" "$BYE ($N messages left)" \
		-- @STLS 'AUTH plain' "$GOODZ" "AUTH PLAIN $GOOD" QUIT
	conv "$M-auth-plain-wrong-password" "$P" "$GREET" "$STLS_GO" '-ERR [AUTH] authentication failed' "$LOGIN" "$BYE ($N messages left)" \
		-- @STLS "AUTH PLAIN $WRONG" "AUTH PLAIN $GOOD" QUIT
	conv "$M-auth-plain-errors" "$P" "$GREET" "$STLS_GO" \
		'+ ' '-ERR authentication cancelled' \
		'-ERR authentication cancelled' \
		'-ERR invalid base64*' '-ERR invalid base64*' '-ERR invalid base64*' '-ERR invalid base64*' \
		'+ ' '-ERR invalid base64*' \
		'-ERR [AUTH] malformed PLAIN credentials' '-ERR [AUTH] malformed PLAIN credentials' \
		'-ERR [AUTH] malformed PLAIN credentials' '-ERR [AUTH] malformed PLAIN credentials' \
		'-ERR [AUTH] malformed PLAIN credentials' '-ERR [AUTH] malformed PLAIN credentials' \
		'-ERR [AUTH] authentication failed' \
		'-ERR unsupported authentication mechanism' '-ERR unsupported authentication mechanism' \
		"$LOGIN" "$BYE ($N messages left)" \
		-- @STLS 'AUTH PLAIN' '*' 'AUTH PLAIN *' \
		'AUTH PLAIN =AAA' 'AUTH PLAIN AAA=BBB' 'AUTH PLAIN YWxp!2U=' 'AUTH PLAIN AAAA=' \
		'AUTH PLAIN' 'AA=A' \
		"AUTH PLAIN $(b64 'alice\0secret')" "AUTH PLAIN $(b64 '\0alice\0secret\0x')" \
		"AUTH PLAIN $(b64 'alice\0alice\0')" "AUTH PLAIN $(b64 '\0\0secret')" \
		'AUTH PLAIN =' "AUTH PLAIN $(b64 'alicesecret')" \
		"AUTH PLAIN $(b64 'bob\0alice\0secret')" \
		'AUTH CRAM-MD5' 'AUTH DIGEST-MD5' \
		"AUTH PLAIN $GOOD" QUIT

	# ------------------------------------------------- failed handshakes
	# Plain text on the implicit-TLS port: no POP3 answer, the failure
	# logged with the client address, exit without a sanitizer report.
	name=$M-handshake-plaintext
	phase "$name"
	timeout 20 "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"USER alice\r\nPASS secret\r\nCAPA\r\n")
d = b""
while True:
    try:
        c = s.recv(4096)
    except OSError:
        break
    if not c:
        break
    d += c
sys.stdout.write(repr(d))' "$PS" >"$T/$name.out" 2>&1
	settled "$name" 0 1
	if grep -q 'OK' "$T/$name.out"; then fail "$name-no-pop3-answer" "got $(head -c 200 "$T/$name.out")"
	else pass "$name-no-pop3-answer"; fi
	log_has "$name-logged-with-address" "$name" '127\.0\.0\.1: TLS handshake'
	# A TLS 1.1 client (the client side allowed by lowering its security
	# level): refused, logged.
	name=$M-handshake-tls11
	phase "$name"
	timeout 20 openssl s_client -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -connect "127.0.0.1:$PS" \
		</dev/null >"$T/$name.out" 2>&1
	if grep -q 'no protocols available' "$T/$name.out"; then
		echo "note: this OpenSSL refuses TLS 1.1 on the client side; $name not run"
	else
		settled "$name" 0 1
		if grep -q '^+OK' "$T/$name.out"; then fail "$name-refused" "TLS 1.1 session got a greeting"
		else pass "$name-refused"; fi
		log_has "$name-logged-with-address" "$name" '127\.0\.0\.1: TLS handshake'
	fi
	# A client that logs in over TLS and then closes the TCP connection
	# without a close_notify (OpenSSL 3: "unexpected eof while reading"),
	# as many do: a client leaving, logged as such, never as a connection
	# error (once "connection error: Success"); nothing deleted.
	name=$M-tls-eof-without-close-notify
	fresh_mbox "$M"; config "$M"; phase "$name"
	timeout 20 "$PY" -c '
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s = ctx.wrap_socket(raw, server_hostname="localhost")
f = s.makefile("rb")
print(f.readline())
for c in (b"USER alice", b"PASS secret", b"DELE 1"):
    s.sendall(c + b"\r\n"); print(f.readline())
# TCP FIN with no TLS close_notify before it.
raw.shutdown(socket.SHUT_RDWR)
raw.close()' "$PS" "$CA" >"$T/$name.out" 2>&1
	settled "$name"
	if grep -q 'message 1 deleted' "$T/$name.out"; then pass "$name-logged-in"
	else fail "$name-logged-in" "client saw: $(tr '\n' ' ' <"$T/$name.out" | cut -c1-200)"; fi
	if grep -qa 'connection error' "$T/log.$name"; then
		fail "$name-not-an-error" "$(grep -a -m1 'connection error' "$T/log.$name")"
	else
		pass "$name-not-an-error"
	fi
	log_has "$name-logged-as-leaving" "$name" '127\.0\.0\.1: logout: user=alice auth=pass tls=TLSv1\.[23] retr=0/0 top=0/0 dele=0/0 left=8 time=[0-9]+\.[0-9]{3}s end=eof$'
	kept "$name" "$M"

	# Plain text after STLS's +OK: the same.
	name=$M-stls-handshake-plaintext
	phase "$name"
	timeout 20 "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
f = s.makefile("rb")
f.readline()
s.sendall(b"STLS\r\n")
print(f.readline())
s.sendall(b"CAPA\r\n")
print(f.read())' "$P" >"$T/$name.out" 2>&1
	settled "$name" 0 1
	if [ "$(grep -c OK "$T/$name.out")" = 1 ]; then pass "$name-no-pop3-answer"
	else fail "$name-no-pop3-answer" "got $(head -c 200 "$T/$name.out")"; fi
	log_has "$name-logged-with-address" "$name" '127\.0\.0\.1: TLS handshake'
}

suite nr "$PORT_nr" "$PORT_nrs"
suite rt "$PORT_rt" "$PORT_rts"

# Root mode, logged in over STLS: the session runs as the user (pop3dtls)
# and the relay, the former pre-login process, as the pop3d account,
# chrooted in /var/lib/pop3d/empty, without capabilities; never root.
config rt
fresh_mbox rt
name=rt-relay-identity
phase "$name"
timeout 40 "$PY" "$T/conv.py" "$PORT_rt" "$CA" @STLS 'USER alice' 'PASS secret' "@WAIT $T/$name.go" STAT QUIT \
	>"$T/$name.out" 2>"$T/$name.pyerr" &
CPID=$!
for _ in $(seq 200); do [ -e "$T/$name.go.ready" ] && break; sleep 0.1; done
PU=$(id -u pop3d)
pids=" $(pgrep -xf "$POP3D .*" | xargs) "
procs=$(for p in $pids; do
	pp=$(awk '$1 == "PPid:" { print $2 }' "/proc/$p/status")
	case $pids in *" $pp "*) role=relay ;; *) role=session ;; esac
	printf '%s:%s:%s:%s\n' "$role" "$(awk '$1 == "Uid:" { print $2 "/" $3 "/" $4 "/" $5 }' "/proc/$p/status")" \
		"$(awk '$1 == "CapEff:" { print $2 }' "/proc/$p/status")" "$(readlink "/proc/$p/root")"
done | sort | xargs)
equal "$name-processes" "relay:$PU/$PU/$PU/$PU:0000000000000000:/var/lib/pop3d/empty session:$RU/$RU/$RU/$RU:0000000000000000:/" "$procs"
touch "$T/$name.go"
wait "$CPID"
settled "$name"
equal "$name-session" "$GREET|$STLS_GO|+OK send PASS|$LOGIN|+OK $N $OCTETS|$BYE ($N messages left)" \
	"$(paste -sd'|' "$T/$name.out")"

# --------------------------------------------------------- option checks
# -S without a certificate: exit status 2, nothing on stdout.  A key
# readable by the group: exit status 1, a message, nothing on stdout; in
# both modes (the key owned by the user pop3d starts as).
opt() {	# opt NAME STATUS STDERR-PATTERN RUNNER ARGS...
	local name=$1 want=$2 pat=$3 rc; shift 3
	crlf CAPA QUIT | "$@" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	if grep -qaE "$SAN_RE" "$T/$name.err"; then
		fail "$name" "sanitizer report: $(grep -a -m1 -E "$SAN_RE" "$T/$name.err")"
	elif [ "$rc" != "$want" ]; then
		fail "$name" "exit status $rc, expected $want: $(head -c 300 "$T/$name.err")"
	elif [ -s "$T/$name.out" ]; then
		fail "$name" "wrote to stdout: $(head -c 100 "$T/$name.out" | cat -v)"
	elif ! grep -qaE -- "$pat" "$T/$name.err"; then
		fail "$name" "no message matching '$pat': $(head -c 300 "$T/$name.err")"
	else
		pass "$name"
	fi
}
opt opt-tls-without-cert 2 'tls' run_pop3d -s -S -p "$T/nr/passwd" -m "$T/nr/mail/%u"
opt opt-cert-without-key 2 'tls' run_pop3d -s -c "$CA" -p "$T/nr/passwd" -m "$T/nr/mail/%u"
chmod 640 "$T/nr/key.pem" "$T/rt/key.pem"
opt opt-key-0640-nonroot 1 'key.*(group|others)' run_pop3d -s -c "$CA" -k "$T/nr/key.pem" -p "$T/nr/passwd" -m "$T/nr/mail/%u"
ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
opt opt-key-0640-root 1 'key.*(group|others)' "$POP3D" -s -c "$CA" -k "$T/rt/key.pem" -p "$T/rt/passwd" -m "$T/rt/mail/%u"
chmod 600 "$T/nr/key.pem" "$T/rt/key.pem"

# ------------------------------------------ libssl only with a certificate
# tls.c loads libssl at run time, and only when a certificate is
# configured: a plain-text pop3d must not map it (that costs every short
# session about a millisecond), one with a certificate must map it before
# the pre-login process is chrooted.  Root mode, as inetd starts it.
maps_of() {	# maps_of NAME ARGS...: pop3d's mappings while it waits for input
	local name=$1 pid; shift
	mkfifo "$T/$name.fifo"
	"$POP3D" "$@" <"$T/$name.fifo" >"$T/$name.out" 2>"$T/$name.err" &
	pid=$!
	exec 9>"$T/$name.fifo"
	# The greeting is flushed when pop3d starts to wait for a command.
	for _ in $(seq 200); do [ -s "$T/$name.out" ] && break; sleep 0.05; done
	cat "/proc/$pid/maps" >"$T/$name.maps" 2>/dev/null
	crlf QUIT >&9
	exec 9>&-
	wait "$pid"
}
maps_of libssl-plain -s -p "$T/rt/passwd" -m "$T/rt/mail/%u"
if ! grep -q '^+OK' "$T/libssl-plain.out"; then
	fail libssl-not-loaded-without-cert "no greeting: $(head -c 300 "$T/libssl-plain.err")"
elif grep -q 'libssl\.so' "$T/libssl-plain.maps"; then
	fail libssl-not-loaded-without-cert "libssl is mapped"
else
	pass libssl-not-loaded-without-cert
fi
maps_of libssl-cert -s -c "$CA" -k "$T/rt/key.pem" -p "$T/rt/passwd" -m "$T/rt/mail/%u"
if grep -q '^+OK' "$T/libssl-cert.out" && grep -q 'libssl\.so\.3' "$T/libssl-cert.maps"; then
	pass libssl-loaded-with-cert
else
	fail libssl-loaded-with-cert "greeting or libssl mapping missing: $(head -c 300 "$T/libssl-cert.err")"
fi
exit 0

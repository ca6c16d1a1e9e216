#!/usr/bin/env bash
# tests/e2e/clients.sh - real POP3 clients against pop3d on a loopback
# listener: python3's poplib, curl, fetchmail, mpop, getmail6 and Perl's
# Net::POP3 each fetch every message of a varied mbox (dot lines, >From
# lines, an empty body, a 10 KB line, 8-bit bytes, MIME, 2 MB, no final
# newline), once keeping the mail and once deleting it.  Every delivered
# message must equal the stored one byte for byte, apart from the line ends
# and the header fields that the client itself documentedly adds (see each
# client's section).  After keep mode the mbox is unchanged byte for byte;
# after delete mode it still exists and is empty.  No session may end with
# a sanitizer report or a non-zero status.
#
# The listener is socat (one pop3d per connection, the socket on its stdin
# and stdout, as under inetd) on 127.0.0.1 at a free port in 21200-21299.
# Runs as root (as CI does); the sessions run as the maildrop's owner.
. "$(dirname "$0")/../lib.sh"

# The binary under test is copied, so a rebuild during the run cannot mix
# two versions.
if ! cp "$POP3D" "$T/pop3d" || ! chmod 755 "$T/pop3d"; then
	fail copy-pop3d "cannot copy $POP3D"
	exit 0
fi
POP3D=$T/pop3d

SAN_RE='runtime error|AddressSanitizer|LeakSanitizer'
LPID=
trap '[ -n "$LPID" ] && kill "$LPID" 2>/dev/null; rm -rf "$T"' EXIT

# ------------------------------------------------------- dependencies

# Debian's python3 for poplib, not whatever python3 comes first in PATH
# (a pyenv shim, say).
PY=/usr/bin/python3
need=()
command -v socat >/dev/null || need+=(socat)
command -v ss >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
command -v fetchmail >/dev/null || need+=(fetchmail)
command -v mpop >/dev/null || need+=(mpop)
command -v getmail >/dev/null || need+=(getmail6)
[ -x "$PY" ] || need+=(python3)
perl -MNet::POP3 -e 1 2>/dev/null || need+=(perl)
if [ "${#need[@]}" -gt 0 ] && [ "$(id -u)" = 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >"$T/apt.log" 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 &&
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >"$T/apt.log" 2>&1; }
fi
if ! command -v socat >/dev/null; then
	fail deps-socat "socat not installed (apt-get install socat)"
	exit 0
fi
have() {	# have CLIENT PACKAGE TEST...: TEST succeeds, else one FAIL line
	local c=$1 pkg=$2; shift 2
	if "$@" >/dev/null 2>&1; then return 0; fi
	fail "$c-installed" "not installed (apt-get install $pkg): $(tail -n 1 "$T/apt.log" 2>/dev/null)"
	return 1
}

# ------------------------------------------------------------- helpers

# firstdiff EXPECTED ACTUAL: where two files first differ, on one line.
firstdiff() {
	perl -e '
		open(A, "<", $ARGV[0]) or die; open(B, "<", $ARGV[1]) or do { print "$ARGV[1]: $!"; exit };
		binmode A; binmode B;
		for (my $n = 1;; $n++) {
			my ($x, $y) = (scalar <A>, scalar <B>);
			last if !defined $x && !defined $y;
			next if defined $x && defined $y && $x eq $y;
			my $k = 0;
			$k++ while defined $x && defined $y && $k < length $x && substr($x, $k, 1) eq substr($y, $k, 1);
			my $at = $k > 40 ? $k - 40 : 0;
			for ($x, $y) {
				$_ = "<EOF>", next unless defined;
				$_ = substr($_, $at, 100);
				s/([^\x20-\x7e])/sprintf("\\x%02x", ord $1)/ge;
			}
			print "line $n", ($at ? " from byte $at" : ""), ": expected \"$x\", got \"$y\"";
			last;
		}' "$1" "$2"
}

# same CHECK EXPECTED ACTUAL: the two files are byte-identical.
same() {
	if cmp -s "$2" "$3"; then pass "$1"; else fail "$1" "$(firstdiff "$2" "$3")"; fi
}

# --------------------------------------------------------- the messages
# Twelve stored messages, LF line ends; the last has no final newline.

mkdir "$T/msg"
perl -e '
	my $dir = shift;
	# 2 MB of pseudo-random lines: dot-stuffed ones, lone dots, >From
	# lines, empty lines (never followed by "From ").
	my $big = "From: Big <big\@example.org>\nTo: alice\@example.org\nSubject: two megabytes\nMessage-ID: <big\@example.org>\n\n";
	my $s = 7;
	while (length $big < 2 * 1024 * 1024) {
		$s = ($s * 1103515245 + 12345) % 2147483648;
		my $line = ($s % 9 == 0 ? "." : "") . chr(33 + $s % 90) x ($s % 200);
		$line = "." if $s % 53 == 0;
		$line = ">From here" if $s % 61 == 0;
		$line = "" if $s % 17 == 0;
		$big .= "$line\n";
	}
	my @m = (
		"From: Alice <alice\@example.org>\nTo: Bob <bob\@example.org>\nSubject: plain\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <plain\@example.org>\n\nHello, Bob.\n",
		"From: a\@example.org\nSubject: dots\nMessage-ID: <dots\@example.org>\n\n.\n..\n...\n.leading dot\n .space then dot\ntext\n.\nend.\n",
		"From: a\@example.org\nSubject: quoting\nMessage-ID: <quoting\@example.org>\n\n>From the quoted line\n>>From twice quoted\nFrom unquoted, after a non-blank line\n From with a leading space\nFromage is no separator\n",
		"From: a\@example.org\nSubject: empty body\nMessage-ID: <empty\@example.org>\n\n",
		"From: a\@example.org\nSubject: long line\nMessage-ID: <long\@example.org>\n\n" . join("", map { chr(48 + $_ % 75) } 0 .. 10239) . "\nshort\n",
		"From: =?UTF-8?Q?J=C3=BCrgen?= <j\@example.org>\nSubject: utf-8\nMessage-ID: <utf8\@example.org>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe, na\xc3\xafve caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\nLatin-1 bytes: \xe9\xe8\xff\n",
		"From: a\@example.org\nSubject: multipart\nMessage-ID: <mime\@example.org>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=-=b0und=-=\"\n\nThis is a MIME message.\n\n--=-=b0und=-=\nContent-Type: text/plain; charset=us-ascii\n\nThe text part.\n.\n--=-=b0und=-=\nContent-Type: application/octet-stream; name=\"x.bin\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"x.bin\"\n\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\nOTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ubw==\n--=-=b0und=-=--\n\nEpilogue.\n",
		$big,
		"From: a\@example.org\nSubject: folded\n header continuation\n\tand a tab\nX-Empty:\nMessage-ID: <folded\@example.org>\n\nline with trailing spaces   \n\ttab-led line\n",
		"From: a\@example.org\nSubject: trailing blank lines\nMessage-ID: <blanks\@example.org>\n\nlast text\n\n\n",
		"From: a\@example.org\nSubject: status\nMessage-ID: <status\@example.org>\nStatus: RO\nX-Status: A\n\nread before\n",
		"From: a\@example.org\nSubject: last\nMessage-ID: <last\@example.org>\n\nline\nno newline at the end",
	);
	for my $i (0 .. $#m) {
		open(F, ">", sprintf("%s/%02d", $dir, $i + 1)) or die; binmode F;
		print F $m[$i]; close F;
	}' "$T/msg"
N=$(ls "$T/msg" | wc -l)

# The expected bytes of each message (lib.sh: expect_messages).
expect_messages

# LIST's answer: "N SIZE" lines, SIZE the octets of exp/crlf/N.
for n in $(seq "$N"); do echo "$n $(stat -c %s "$T/exp/crlf/$(printf %02d "$n")")"; done >"$T/exp.list"

# The mbox (lib.sh).
mbox_of_messages

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
mkdir "$T/mail"
own "$T/passwd" "$T/mail"
MBOX=$T/mail/alice

# fresh_mbox: a new copy of the maildrop for the next client.
fresh_mbox() {
	rm -f "$MBOX" "$MBOX.lock"
	cp "$T/orig.mbox" "$MBOX"
	chmod 600 "$MBOX"
	own "$MBOX"
}

# ----------------------------------------------------------- listener
# The wrapper runs one session on the accepted socket as the session user,
# stderr to a log per phase (never to the socket), and records when each
# session starts and with which status it ends.

printf '%s\n' "$(declare -p RUNAS)" >"$T/runas"
cat >"$T/wrap" <<EOF
#!/usr/bin/env bash
. "$T/runas"
phase=\$(cat "$T/phase")
echo start >>"$T/sessions.\$phase"
"\${RUNAS[@]}" "$POP3D" -s -t 60 -p "$T/passwd" -m "$T/mail/%u" 2>>"$T/log.\$phase"
echo "exit \$?" >>"$T/sessions.\$phase"
EOF
chmod 755 "$T/wrap"
echo setup >"$T/phase"

PORT=
for p in $(seq 21200 21299); do
	[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] || continue
	socat TCP-LISTEN:"$p",bind=127.0.0.1,reuseaddr,fork EXEC:"$T/wrap",nofork 2>>"$T/socat.log" &
	LPID=$!
	for _ in $(seq 50); do
		[ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && break
		kill -0 "$LPID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$LPID" 2>/dev/null && [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then
		PORT=$p
		break
	fi
	kill "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null; LPID=
done
if [ -z "$PORT" ]; then
	fail listener "no free port in 21200-21299 for socat: $(tail -n 1 "$T/socat.log" 2>/dev/null)"
	exit 0
fi
pass "listener (127.0.0.1:$PORT)"

# phase NAME: the sessions from now on are logged as NAME's.
phase() { echo "$1" >"$T/phase"; : >"$T/sessions.$1"; : >"$T/log.$1"; }

# settled NAME: every session of NAME has ended (the next client must not
# meet a session lock), and none with a sanitizer report or non-zero
# status.  At least one session must have run.
settled() {
	local name=$1 i starts ends bad
	for i in $(seq 300); do
		starts=$(grep -c '^start' "$T/sessions.$name")
		ends=$(grep -c '^exit' "$T/sessions.$name")
		[ "$starts" = "$ends" ] && break
		sleep 0.1
	done
	bad=$(grep '^exit' "$T/sessions.$name" | grep -vc '^exit 0$')
	if [ "$starts" != "$ends" ]; then
		fail "$name-sessions" "$((starts - ends)) of $starts sessions still running after 30 s"
	elif grep -qE "$SAN_RE" "$T/log.$name"; then
		fail "$name-sessions" "sanitizer report: $(grep -m1 -E "$SAN_RE" "$T/log.$name")"
	elif [ "$bad" -gt 0 ]; then
		fail "$name-sessions" "$bad of $starts sessions exited non-zero: $(grep '^exit' "$T/sessions.$name" | grep -v '^exit 0$' | sort | uniq -c | tr '\n' ' '); log: $(tail -n 2 "$T/log.$name" | tr '\n' ' ')"
	elif [ "$starts" = 0 ]; then
		fail "$name-sessions" "the client never connected"
	else
		pass "$name-sessions ($starts, all exit 0)"
	fi
}

# kept NAME / emptied NAME: the maildrop after keep mode / delete mode.
kept() { same "$1-mbox-unchanged" "$T/orig.mbox" "$MBOX"; }
emptied() {
	if [ -f "$MBOX" ] && [ ! -s "$MBOX" ]; then pass "$1-mbox-empty"
	elif [ -f "$MBOX" ]; then fail "$1-mbox-empty" "$(stat -c %s "$MBOX") bytes left"
	else fail "$1-mbox-empty" "the mbox is gone"; fi
}

# compare NAME KIND DIR: DIR/01..NN equal exp/KIND/01..NN, and DIR holds
# nothing else.
compare() {
	local name=$1 kind=$2 dir=$3 n got
	got=$(ls "$dir" 2>/dev/null | wc -l)
	if [ "$got" = 0 ]; then fail "$name-msgs" "no message delivered"; return; fi
	for n in $(seq -f %02g "$N"); do
		same "$name-msg-$n" "$T/exp/$kind/$n" "$dir/$n"
	done
	if [ "$got" = "$N" ]; then pass "$name-count"
	else fail "$name-count" "$got messages delivered, expected $N"; fi
}

# mda DIR: a delivery command writing each message it is given on stdin to
# DIR/01, DIR/02, ... in the order of delivery.
cat >"$T/mda" <<'EOF'
#!/bin/sh
n=$(ls "$1" | wc -l)
exec cat >"$1/$(printf %02d $((n + 1)))"
EOF
chmod 755 "$T/mda"

# strip_added FILE PATTERN...: removes from the top of FILE the header
# fields (with their continuation lines) that the client prepended, one per
# PATTERN, in that order; if one is missing, FILE is left as it is (and the
# comparison shows the difference).
strip_added() {
	perl -e '
		my ($file, @pat) = @ARGV;
		open(F, "<", $file) or die "$file: $!"; binmode F; local $/; my $d = <F>; close F;
		for my $p (@pat) {
			$d =~ s/\A$p[^\n]*\n(?:[ \t][^\n]*\n)*//m or exit 1;
		}
		open(F, ">", $file) or die; binmode F; print F $d; close F;' "$@"
}

# ------------------------------------------------------ python3 poplib
# poplib.retr() returns the lines without their CRLF and with the dot
# stuffing removed; they are joined again with CRLF, so every byte is
# compared.  poplib refuses lines over 2048 octets (_MAXLINE) as a guard;
# the 10 KB line needs it raised.  Also: LIST sizes equal the octets
# delivered, and UIDL equals a pipe session's UIDL.

if have poplib python3 "$PY" -c 'import poplib'; then
	cat >"$T/popclient.py" <<'EOF'
import os, poplib, sys
poplib._MAXLINE = 1 << 20
port, out, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
p = poplib.POP3("127.0.0.1", port, timeout=30)
p.user("alice")
p.pass_("secret")
count, _ = p.stat()
with open(os.path.join(out, "..", os.path.basename(out) + ".uidl"), "wb") as f:
    f.write(b"".join(l + b"\n" for l in p.uidl()[1]))
with open(os.path.join(out, "..", os.path.basename(out) + ".list"), "wb") as f:
    f.write(b"".join(l + b"\n" for l in p.list()[1]))
for i in range(1, count + 1):
    _, lines, _ = p.retr(i)
    with open(os.path.join(out, "%02d" % i), "wb") as f:
        f.write(b"".join(l + b"\r\n" for l in lines))
if mode == "delete":
    for i in range(1, count + 1):
        p.dele(i)
print(p.quit().decode())
EOF
	for mode in keep delete; do
		name=poplib-$mode
		fresh_mbox; phase "$name"; mkdir "$T/$name"
		"$PY" "$T/popclient.py" "$PORT" "$T/$name" "$mode" >"$T/$name.out" 2>&1 ||
			fail "$name-run" "$(tail -n 1 "$T/$name.out")"
		settled "$name"
		compare "$name" crlf "$T/$name"
		if [ "$mode" = keep ]; then kept "$name"; else emptied "$name"; fi
		# LIST n size == the octets of message n as delivered.
		same "$name-list-sizes" "$T/exp.list" "$T/$name.list"
	done
	# UIDL through poplib equals UIDL through a pipe session.
	fresh_mbox
	crlf 'USER alice' 'PASS secret' UIDL QUIT |
		run_pop3d -s -p "$T/passwd" -m "$T/mail/%u" 2>"$T/pipe.err" |
		perl -ne 'print if /^\d+ \S+\r\n\z/' | tr -d '\r' >"$T/pipe.uidl"
	if grep -qE "$SAN_RE" "$T/pipe.err"; then
		fail poplib-uidl-equals-pipe "sanitizer report: $(grep -m1 -E "$SAN_RE" "$T/pipe.err")"
	elif [ "$(wc -l <"$T/pipe.uidl")" = "$N" ]; then
		same poplib-uidl-equals-pipe "$T/pipe.uidl" "$T/poplib-keep.uidl"
	else
		fail poplib-uidl-equals-pipe "the pipe session listed $(wc -l <"$T/pipe.uidl") ids: $(tr '\n' ' ' <"$T/pipe.err")"
	fi
fi

# ---------------------------------------------------------------- curl
# curl pop3://HOST:PORT/N sends RETR N and writes the message as received,
# CRLF line ends kept, dot stuffing and the final ".\r\n" removed: compared
# with exp/crlf as is.  Keep mode: one curl (one session) per message.
# Delete mode: one curl whose transfers share one connection, hence one
# session (--next keeps the connection): RETR N (-o file) and then
# "DELE N" as a custom request without a body (-X DELE -I), for every N;
# the session's QUIT then applies the deletions.

if have curl curl command -v curl; then
	URL=pop3://127.0.0.1:$PORT
	name=curl-keep
	fresh_mbox; phase "$name"; mkdir "$T/$name"
	for n in $(seq -f %02g "$N"); do
		curl -sS --max-time 30 --user alice:secret "$URL/$((10#$n))" -o "$T/$name/$n" 2>>"$T/$name.err" ||
			fail "$name-run-$n" "$(tail -n 1 "$T/$name.err")"
	done
	settled "$name"
	compare "$name" crlf "$T/$name"
	kept "$name"

	name=curl-delete
	fresh_mbox; phase "$name"; mkdir "$T/$name"
	args=()
	for n in $(seq -f %02g "$N"); do
		args+=(--user alice:secret "$URL/$((10#$n))" -o "$T/$name/$n" --next
		       --user alice:secret -X DELE -I "$URL/$((10#$n))" --next)
	done
	unset 'args[${#args[@]}-1]'
	curl -sS --max-time 60 "${args[@]}" >"$T/$name.out" 2>"$T/$name.err" ||
		fail "$name-run" "$(tail -n 1 "$T/$name.err")"
	settled "$name"
	compare "$name" crlf "$T/$name"
	emptied "$name"
	if [ "$(grep -c '^start' "$T/sessions.$name")" = 1 ]; then pass "$name-one-session"
	else fail "$name-one-session" "curl used $(grep -c '^start' "$T/sessions.$name") sessions"; fi
fi

# ----------------------------------------------------------- fetchmail
# fetchmail (no daemon, no TLS, fetchall) hands each message to an MDA
# that writes it to its own file (FETCHMAILHOME keeps its files in $T).
# What it changes: line ends become LF (compared with exp/lf), and it
# prepends "Received: from 127.0.0.1 [127.0.0.1]\n\tby HOST with POP3
# (fetchmail-VERSION)\n\tfor <root@localhost> (single-drop); DATE", which
# is stripped; Status/X-Status and the rest are left alone.  And it
# cuts lines longer than 8191 octets (readbody() in its transact.c reads
# into an 8 KB buffer): each 8191-octet piece is followed by a NUL, one
# stray byte and a line end.  The normaliser rejoins exactly that pattern,
# so the 10 KB line is still compared.  Headers are not rewritten: the test
# addresses are all qualified.

if have fetchmail fetchmail command -v fetchmail; then
	for mode in keep delete; do
		name=fetchmail-$mode
		fresh_mbox; phase "$name"; mkdir "$T/$name" "$T/$name.home"
		keep=keep; [ "$mode" = delete ] && keep="no keep"
		cat >"$T/$name.rc" <<EOF
set no syslog
set no bouncemail
poll 127.0.0.1 proto pop3 port $PORT timeout 30 auth password
    user "alice" there with password "secret" is "root" here
    options fetchall $keep sslproto '' no sslcertck
    mda "$T/mda $T/$name"
EOF
		chmod 600 "$T/$name.rc"
		FETCHMAILHOME=$T/$name.home fetchmail -f "$T/$name.rc" --nodetach -d0 >"$T/$name.out" 2>&1
		rc=$?
		[ "$rc" = 0 ] || fail "$name-run" "exit status $rc: $(grep -v 'root is discouraged' "$T/$name.out" | tail -n 2 | tr '\n' ' ')"
		settled "$name"
		for f in "$T/$name"/*; do
			[ -f "$f" ] || continue
			strip_added "$f" 'Received: from 127\.0\.0\.1 '
			perl -0777 -i -pe 's/^([^\n]{8191})\0[^\n]\n/$1/mg' "$f"
		done
		compare "$name" lf "$T/$name"
		if [ "$mode" = keep ]; then kept "$name"; else emptied "$name"; fi
	done
fi

# ---------------------------------------------------------------- mpop
# mpop (no configuration file: HOME is a scratch directory; no TLS; USER/
# PASS) delivers each message to an MDA that writes it to its own file;
# --only-new=off fetches every message whatever its UIDL file says.
# What it changes: line ends become LF (compared with exp/lf), and it
# prepends "Received: from 127.0.0.1 (localhost [127.0.0.1])\n\tby HOST
# (mpop-VERSION) with POP3\n\tfor <USER>; DATE" (--received-header, on by
# default), which is stripped.  Nothing else.

if have mpop mpop command -v mpop; then
	for mode in keep delete; do
		name=mpop-$mode
		fresh_mbox; phase "$name"; mkdir "$T/$name" "$T/$name.home"
		keep=on; [ "$mode" = delete ] && keep=off
		HOME=$T/$name.home mpop --host=127.0.0.1 --port="$PORT" --timeout=30 \
			--tls=off --auth=user --user=alice --passwordeval='echo secret' \
			--only-new=off --keep="$keep" --uidls-file="$T/$name.uidls" \
			--delivery=mda,"$T/mda $T/$name" >"$T/$name.out" 2>&1
		rc=$?
		[ "$rc" = 0 ] || fail "$name-run" "exit status $rc: $(tail -n 2 "$T/$name.out" | tr '\n' ' ')"
		settled "$name"
		for f in "$T/$name"/*; do
			[ -f "$f" ] && strip_added "$f" 'Received: from 127\.0\.0\.1 '
		done
		compare "$name" lf "$T/$name"
		if [ "$mode" = keep ]; then kept "$name"; else emptied "$name"; fi
	done
fi

# ------------------------------------------------------------- getmail6
# getmail (SimplePOP3Retriever, no TLS; read_all fetches every message
# whatever its oldmail file says) delivers into a Maildir; the files are
# taken in delivery order (the "Q<count>" part of getmail's file names).
# Run as the session user: getmail refuses to deliver as root.  What it
# changes: line ends become LF (compared with exp/lf), and it prepends
# three fields, which are stripped: "Return-Path: <unknown>",
# "Delivered-To: unknown" and "Received: from 127.0.0.1 (127.0.0.1:PORT)
# by HOST with POP3 getmail6\n  msgid:UIDL; DATE".  And its rewrite of
# the header through Python's email package turns a field with an empty
# value ("X-Empty:") into "X-Empty: " with a space; the normaliser takes
# that space away again, in the header only.  Nothing else.

if have getmail getmail6 command -v getmail; then
	for mode in keep delete; do
		name=getmail-$mode
		fresh_mbox; phase "$name"; mkdir -p "$T/$name" "$T/$name.dir/Maildir/"{cur,new,tmp}
		delete=false; [ "$mode" = delete ] && delete=true
		cat >"$T/$name.dir/getmailrc" <<EOF
[retriever]
type = SimplePOP3Retriever
server = 127.0.0.1
port = $PORT
username = alice
password = secret
timeout = 30

[destination]
type = Maildir
path = $T/$name.dir/Maildir/

[options]
read_all = true
delete = $delete
verbose = 0
message_log_syslog = false
EOF
		own -R "$T/$name.dir"
		"${RUNAS[@]}" getmail --getmaildir "$T/$name.dir" --rcfile getmailrc >"$T/$name.out" 2>&1
		rc=$?
		[ "$rc" = 0 ] || fail "$name-run" "exit status $rc: $(tail -n 2 "$T/$name.out" | tr '\n' ' ')"
		settled "$name"
		i=0
		for f in $(ls "$T/$name.dir/Maildir/new" | perl -ne 'print "$1 $_" if /Q(\d+)/' | sort -n | cut -d' ' -f2); do
			i=$((i + 1))
			cp "$T/$name.dir/Maildir/new/$f" "$T/$name/$(printf %02d "$i")"
		done
		for f in "$T/$name"/*; do
			[ -f "$f" ] || continue
			strip_added "$f" 'Return-Path: <unknown>$' 'Delivered-To: unknown$' 'Received: from 127\.0\.0\.1 \(127\.0\.0\.1:\d+\) by \S+ with POP3 getmail6'
			perl -0777 -i -pe 'my ($h, $b) = /\A(.*?\n)(\n.*)\z/s or next; $h =~ s/^([^\s:]+): \n/$1:\n/mg; $_ = $h . $b' "$f"
		done
		compare "$name" lf "$T/$name"
		if [ "$mode" = keep ]; then kept "$name"; else emptied "$name"; fi
	done
fi

# ----------------------------------------------------------- Net::POP3
# Perl's Net::POP3 (core libnet): login (USER/PASS), list, get each
# message, delete in delete mode, quit.  get() returns the lines with the
# dot stuffing removed and every CRLF turned into "\n" (Net::Cmd's
# getline): joined, they are compared with exp/lf.  Also: list() sizes.

if have netpop3 perl perl -MNet::POP3 -e 1; then
	cat >"$T/netpop3.pl" <<'EOF'
use strict; use warnings; use Net::POP3;
my ($port, $out, $mode) = @ARGV;
my $pop = Net::POP3->new("127.0.0.1", Port => $port, Timeout => 30) or die "connect: $@\n";
my $count = $pop->login("alice", "secret");
defined $count or die "login: ", $pop->message;
my $list = $pop->list or die "list: ", $pop->message;
open(L, ">", "$out.list") or die; print L "$_ $list->{$_}\n" for sort { $a <=> $b } keys %$list; close L;
for my $n (1 .. $count) {
	my $lines = $pop->get($n) or die "get $n: ", $pop->message;
	open(F, ">", sprintf("%s/%02d", $out, $n)) or die; binmode F; print F @$lines; close F;
	if ($mode eq "delete") { $pop->delete($n) or die "delete $n: ", $pop->message; }
}
$pop->quit or die "quit: ", $pop->message;
EOF
	for mode in keep delete; do
		name=netpop3-$mode
		fresh_mbox; phase "$name"; mkdir "$T/$name"
		perl "$T/netpop3.pl" "$PORT" "$T/$name" "$mode" >"$T/$name.out" 2>&1 ||
			fail "$name-run" "$(tail -n 1 "$T/$name.out")"
		settled "$name"
		compare "$name" lf "$T/$name"
		if [ "$mode" = keep ]; then kept "$name"; else emptied "$name"; fi
		same "$name-list-sizes" "$T/exp.list" "$T/$name.list"
	done
fi

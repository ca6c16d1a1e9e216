#!/usr/bin/env bash
# tests/e2e/hostile.sh - hostile clients end to end (SPEC sections 5, 6):
# random bytes with NUL and 0xFF, 1 MB lines with and without a newline,
# 10,000 invalid commands, format strings and control characters in user
# names (and in REMOTE_HOST), 300-byte user names and passwords, USER/PASS
# repeated, the failure limit and its growing delay, more than 16 KiB of
# input before login, a whole session written one byte at a time, a client
# that closes in the middle of a 20 MB RETR, clients idle past the timeout.
#
# Every session runs through run_pop3d (pipe mode, LeakSanitizer on) against
# a fresh maildrop of its own, which must be byte-identical afterwards, with
# no lock or journal left beside it.  pop3d must never die by a signal or a
# sanitizer (exit status 98/99, report on stderr), must answer the next
# valid command while the session is open, and must never write a control
# character, a raw overlong user name or a password to its log.
. "$(dirname "$0")/../lib.sh"

# ------------------------------------------------------------- helpers

H=$(mkhash secret)
cat >"$T/passwd" <<EOF
alice:$H
bob:$H
EOF
own "$T/passwd"

M1=$'Message-ID: <h1@example.org>\nSubject: one\n\nHello.\n'
M2=$'Message-ID: <h2@example.org>\nSubject: two\n\nline 1\n.dot line\n'
M3=$'Delivered-To: alice@example.org\nSubject: three\n\nbody\n'
# Sizes as RETR sends them (CRLF).
size_of() { printf '%s' "$1" | perl -0777 -ne 'print length($_) + tr/\n//'; }
TOTAL=$(($(size_of "$M1") + $(size_of "$M2") + $(size_of "$M3")))

GREET='+OK POP3 server ready'
SENDPASS='+OK send PASS'
LOGIN="+OK maildrop has 3 messages ($TOTAL octets)"
BYE='+OK pop3d signing off'
BYE3="$BYE (3 messages left)"
NOOP='+OK nothing done'
AUTHFAIL='-ERR [AUTH] authentication failed'
AUTHLIMIT='-ERR [AUTH] too many failures, closing connection'
TOOMANY='-ERR too many bad commands, closing connection'
TOOMUCH='-ERR too much input before login, closing connection'
TOOLONG='-ERR line too long'
SYNTAX='-ERR syntax error'
UNKNOWN='-ERR unknown command'
WRONG='-ERR command not valid in this state'
CAPA_AUTH=('+OK capability list follows' TOP UIDL USER RESP-CODES AUTH-RESP-CODE PIPELINING 'EXPIRE NEVER' 'UTF8 USER' 'SASL PLAIN LOGIN' .)

# fresh NAME: a maildrop directory of its own for session NAME, with the
# three-message mbox; its sha256 is kept in $T/NAME.sum.
fresh() {
	mkdir -p "$T/$1.d"
	printf '%s\n%s\n%s\n%s\n%s\n%s' "$FROM" "$M1" "$FROM" "$M2" "$FROM" "$M3" >"$T/$1.d/alice"
	own "$T/$1.d" "$T/$1.d/alice"
	sha256sum <"$T/$1.d/alice" >"$T/$1.sum"
}
# sess NAME [ARGS...]: a session on maildrop NAME reading stdin (lib's pop).
sess() { local n=$1; shift; pop "$n" -s -p "$T/passwd" -m "$T/$n.d/%u" "$@"; }
# timed NAME [ARGS...]: sess, and how long pop3d ran in $T/NAME.ms.
timed() {
	local s; s=$(date +%s%N)
	sess "$@"
	echo $((($(date +%s%N) - s) / 1000000)) >"$T/$1.ms"
}

# intact NAME: the maildrop is byte-identical; no lock or journal beside it.
intact() {
	local left
	left=$(find "$T/$1.d" -mindepth 1 ! -name alice -printf '%f ')
	if ! sha256sum <"$T/$1.d/alice" | cmp -s - "$T/$1.sum"; then
		fail "$1-maildrop-untouched" "sha256 changed"
	elif [ -n "$left" ]; then
		fail "$1-maildrop-untouched" "left beside it: $left"
	else
		pass "$1-maildrop-untouched"
	fi
}
# tail_is NAME LINE...: the session's last answers were these lines.
tail_is() {
	local name=$1; shift
	crlf "$@" >"$T/$name.tailexp"
	tail -n $# "$T/$name.out" >"$T/$name.tailgot"
	same "$name-last-answers" "$T/$name.tailexp" "$T/$name.tailgot"
}
# log_clean NAME: every log line is printable ASCII, and no user= field is
# longer than 100 characters.
log_clean() {
	local bad
	bad=$(perl -ne 'print "line $.: raw byte\n" if /[^\x20-\x7e\n]/;
		print "line $.: user= field of ", length($1), " chars\n" if /user=(\S*)/ && length($1) > 100' \
		"$T/$1.err" | head -n 3 | tr '\n' ' ')
	if [ -z "$bad" ]; then pass "$1-log-clean"; else fail "$1-log-clean" "$bad"; fi
}
# log_has CHECK NAME FIXED-STRING: some log line of NAME contains it.
log_has() {
	if grep -aqF -- "$3" "$T/$2.err"; then pass "$1"
	else fail "$1" "no log line containing '$3'; log: $(tr '\n' '|' <"$T/$2.err" | cut -c1-300 | cat -v)"; fi
}
# no_secret CHECK NAME TEXT: TEXT (a password) is not in the log.
no_secret() {
	if grep -aqF -- "$3" "$T/$2.err"; then fail "$1" "the password reached the log"
	else pass "$1"; fi
}
# faster CHECK NAME MS: pop3d ran for less than MS milliseconds.
faster() {
	local ms; ms=$(cat "$T/$2.ms")
	if [ "$ms" -lt "$3" ]; then pass "$1 (${ms} ms)"
	else fail "$1" "pop3d ran ${ms} ms, expected under $3 ms"; fi
}
# std NAME [STATUS...]: the checks every hostile session gets.
std() {
	local n=$1; shift
	survived "$n" "${@:-0}"
	intact "$n"
	log_clean "$n"
}

# randlines SEED N: N lines of pseudo-random bytes, each 100-200 bytes with
# at least one NUL and one 0xFF and no LF, each ended by CRLF.
randlines() {
	perl -e 'srand($ARGV[0]);
		for (1 .. $ARGV[1]) {
			my $s = join "", map { chr(int rand 256) } 1 .. 100 + int rand 100;
			$s =~ tr/\n/\x00/;
			substr($s, int rand length $s, 0) = "\x00";
			substr($s, int rand length $s, 0) = "\xff";
			print $s, "\r\n";
		}' "$1" "$2"
}
# randblob SEED BYTES: raw pseudo-random bytes, newlines included.
randblob() {
	perl -e 'srand($ARGV[0]); my $n = $ARGV[1];
		while ($n > 0) { my $k = $n < 65536 ? $n : 65536;
			print pack("C*", map { int rand 256 } 1 .. $k); $n -= $k }' "$1" "$2"
}

# ------------------------------------ slow sessions, in the background
# Failed logins cost 0.5 s, 1 s, 2 s; idle timeouts a few seconds.

# Format strings and control characters in user names, two failures (the
# third would close), then CAPA is still answered.  REMOTE_HOST carries an
# escape sequence too (the client address of a pipe session).  A USER
# argument cannot hold a control character (the grammar refuses it,
# grammar.sh), nor can an AUTH PLAIN identity (SASLprep, in GNU SASL,
# refuses it); an AUTH LOGIN user name, taken as sent, can.
fresh names1
b64() { printf '%s' "$1" | base64 -w0; }
login_lines() { printf 'AUTH LOGIN %s\r\n%s\r\n' "$(b64 "$1")" "$(b64 "$2")"; }
{ printf 'USER %s\r\nPASS Pw-%%s-Secret-XYZ\r\n' '%s%n%x%p%s%n'
  login_lines $'\033[31mevil\033[0m' wrong
  crlf CAPA QUIT; } | REMOTE_HOST=$'10.0.0.1\e]0;pwned\a' sess names1 &
fresh names2
{ login_lines $'a\007b\177c\377d\te' wrong
  printf 'USER %s\r\nPASS wrong\r\n' "$(printf 'n%.0s' {1..240})"
  crlf CAPA QUIT; } | sess names2 &

# 300-byte user names and passwords: too long for a command line (RFC
# 2449: 255 octets), so they are refused as lines and the session goes on;
# a 248-byte wrong password fits and is refused as a password.
LONGU=$(printf 'u%.0s' {1..300}) LONGP=$(printf 'p%.0s' {1..300})
FITP=Q$(printf 'p%.0s' {1..247})
fresh long300
crlf "USER $LONGU" 'PASS secret' 'USER alice' "PASS $LONGP" "PASS $FITP" \
	'USER alice' 'PASS secret' NOOP QUIT | sess long300 &

# The failure limit and the growing delay, in lockstep: every PASS is sent
# after the previous answer arrived (pipelined answers are only flushed
# when the input runs dry), and the time each answer took is recorded.
fresh delay
perl -MIPC::Open2 -MTime::HiRes=time -e '
	my ($out, $ms) = @ARGV;
	my $pid = open2(my $r, my $w, @ARGV[2 .. $#ARGV]);
	open(my $o, ">", $out) or die; open(my $m, ">", $ms) or die;
	binmode $r; select((select($w), $| = 1)[0]);
	print $o scalar <$r>;
	for my $i (1 .. 4) {
		print $w "USER alice\r\n";
		my $l = <$r>; last unless defined $l; print $o $l;
		my $t = time; print $w "PASS wrong$i\r\n";
		$l = <$r>; last unless defined $l; print $o $l;
		printf $m "%d\n", (time - $t) * 1000;
	}
	close $w; print $o $_ while <$r>;
	waitpid($pid, 0); print STDERR "RC=", $? >> 8, " SIG=", $? & 127, "\n";
' "$T/delay.out" "$T/delay.gaps" "${RUNAS[@]}" "$POP3D" -s -p "$T/passwd" \
	-m "$T/delay.d/%u" 2>"$T/delay.err" &

# Idle past the timeout (-t 1): in AUTHORIZATION after USER, in
# TRANSACTION after DELE (no UPDATE), and a client that drips one byte
# every 0.3 s without ever ending the line.
fresh idle1
(crlf 'USER alice'; sleep 3) | timed idle1 -t 1 &
fresh idle2
(crlf 'USER alice' 'PASS secret' 'DELE 1' 'DELE 2'; sleep 3) | timed idle2 -t 1 &
fresh drip
(crlf 'USER alice' 'PASS secret'
 for _ in $(seq 12); do printf X; sleep 0.3; done) | timed drip -t 1 &

# Input before login without a newline is bounded too: 100 KB, then the
# client keeps the connection open for 3 s.
fresh unterminated
(perl -e 'print "A" x 100000'; sleep 3) | timed unterminated -t 30 &

# A client that closes in the middle of a 20 MB RETR (after a DELE): it
# reads 4 KB and goes away.
fresh midretr
{
	printf '%s\n' "$FROM"
	perl -e 'print "Subject: big\n\n"; print "x" x 70, " line $_\n" for 1 .. 260000'
	printf '\n%s\n%s\n%s\n%s' "$FROM" "$M2" "$FROM" "$M3"
} >"$T/midretr.d/alice"
sha256sum <"$T/midretr.d/alice" >"$T/midretr.sum"
(
	(crlf 'USER alice' 'PASS secret' 'DELE 2' 'RETR 1'; sleep 2) |
		run_pop3d -s -p "$T/passwd" -m "$T/midretr.d/%u" 2>"$T/midretr.err" |
		head -c 4096 >"$T/midretr.out"
	echo "${PIPESTATUS[1]}" >"$T/midretr.rc"
) &

# ------------------------------------------- fast sessions, in sequence

# Random bytes with NUL and 0xFF, nine lines (one short of the bad-command
# limit), then a valid command: in AUTHORIZATION and in TRANSACTION.
fresh rand-auth
{ randlines 1 9; crlf CAPA QUIT; } | sess rand-auth
std rand-auth
transcript rand-auth "$GREET" "$SYNTAX" "$SYNTAX" "$SYNTAX" "$SYNTAX" "$SYNTAX" \
	"$SYNTAX" "$SYNTAX" "$SYNTAX" "$SYNTAX" "${CAPA_AUTH[@]}" "$BYE"

fresh rand-trans
{ crlf 'USER alice' 'PASS secret'; randlines 2 9; crlf NOOP QUIT; } | sess rand-trans
std rand-trans
transcript rand-trans "$GREET" "$SENDPASS" "$LOGIN" "$SYNTAX" "$SYNTAX" "$SYNTAX" \
	"$SYNTAX" "$SYNTAX" "$SYNTAX" "$SYNTAX" "$SYNTAX" "$SYNTAX" "$NOOP" "$BYE3"

# A megabyte of raw random bytes: the session ends (bad commands, or too
# much input before login), nothing else happens.
fresh blob-auth
randblob 3 1048576 | sess blob-auth
std blob-auth
last=$(tail -n 1 "$T/blob-auth.out" | tr -d '\r')
if [ "$last" = "$TOOMANY" ] || [ "$last" = "$TOOMUCH" ]; then pass "blob-auth-closed"
else fail "blob-auth-closed" "last answer '$last'"; fi

fresh blob-trans
{ crlf 'USER alice' 'PASS secret'; randblob 4 1048576; } | sess blob-trans
std blob-trans
tail_is blob-trans "$TOOMANY"

# A 1 MB line without a newline, then EOF: in both states.
# Before login the 16 KiB input bound ends it early, newline or not.
fresh mb-eof-auth
perl -e 'print "A" x 1048576' | sess mb-eof-auth
std mb-eof-auth
transcript mb-eof-auth "$GREET" "$TOOMUCH"

fresh mb-eof-trans
{ crlf 'USER alice' 'PASS secret'; perl -e 'print "A" x 1048576'; } | sess mb-eof-trans
std mb-eof-trans
transcript mb-eof-trans "$GREET" "$SENDPASS" "$LOGIN"

# A 1 MB line with its newline in TRANSACTION: "line too long", the session
# goes on.
fresh mb-trans
{ crlf 'USER alice' 'PASS secret'; perl -e 'print "A" x 1048576, "\r\n"'; crlf NOOP QUIT; } |
	sess mb-trans
std mb-trans
transcript mb-trans "$GREET" "$SENDPASS" "$LOGIN" "$TOOLONG" "$NOOP" "$BYE3"

# ... and before login: a megabyte is far beyond the 16 KiB a stranger may
# send (MAX_PRELOGIN_INPUT), so the session must end there.
fresh mb-auth
{ perl -e 'print "A" x 1048576, "\r\n"'; crlf CAPA QUIT; } | sess mb-auth
std mb-auth
tail_is mb-auth "$TOOMUCH"
if grep -q '^+OK capability' "$T/mb-auth.out"; then fail "mb-auth-capa-not-answered" "CAPA after the 1 MB line was answered"
else pass "mb-auth-capa-not-answered"; fi

# 10,000 invalid commands in AUTHORIZATION: the tenth bad one in a row
# ends the session; nothing after it is answered.
fresh bad-auth
perl -e 'print "XYZZY\r\n" x 10000' | sess bad-auth
std bad-auth
transcript bad-auth "$GREET" "$UNKNOWN" "$UNKNOWN" "$UNKNOWN" "$UNKNOWN" "$UNKNOWN" \
	"$UNKNOWN" "$UNKNOWN" "$UNKNOWN" "$UNKNOWN" "$UNKNOWN" "$TOOMANY"

# 10,008 invalid commands of nine kinds in TRANSACTION, a NOOP after every
# nine: every one answered, the session stays open.
fresh bad-trans
BADCMDS=(XYZZY 'USER alice' 'STAT 1' 'LIST 1 2' '' 'PASS x' $'NO\x01OP' '%s%n%x' RETR)
BADREPL=("$UNKNOWN" "$WRONG" "$SYNTAX" "$SYNTAX" "$UNKNOWN" "$WRONG" "$SYNTAX" "$UNKNOWN" "$SYNTAX")
{ crlf 'USER alice' 'PASS secret'
  for _ in $(seq 1112); do crlf "${BADCMDS[@]}" NOOP; done
  crlf QUIT; } >"$T/bad-trans.in"
{ crlf "$GREET" "$SENDPASS" "$LOGIN"
  for _ in $(seq 1112); do crlf "${BADREPL[@]}" "$NOOP"; done
  crlf "$BYE3"; } >"$T/bad-trans.exp"
sess bad-trans <"$T/bad-trans.in"
std bad-trans
same bad-trans-transcript "$T/bad-trans.exp" "$T/bad-trans.out"
# A NUL inside a command is refused as a whole (the parser must not see
# less than was sent).
fresh nul
printf 'NOOP\0 junk\r\nUSER alice\r\nPASS secret\r\nNO\0OP\r\nDELE 1\0\r\nNOOP\r\nQUIT\r\n' | sess nul
std nul
transcript nul "$GREET" "$SYNTAX" "$SENDPASS" "$LOGIN" "$SYNTAX" "$SYNTAX" "$NOOP" "$BYE3"

# USER/PASS repeated: the last USER counts; PASS without USER, and PASS
# after a failed PASS, need a new USER; 500 USERs then a good login.
fresh repeat1
crlf 'USER bob' 'USER nosuchuser' 'USER alice' 'PASS secret' 'USER alice' 'PASS secret' \
	NOOP QUIT | sess repeat1
std repeat1
transcript repeat1 "$GREET" "$SENDPASS" "$SENDPASS" "$SENDPASS" "$LOGIN" "$WRONG" "$WRONG" \
	"$NOOP" "$BYE3"

fresh repeat2
{ crlf 'PASS secret' 'PASS secret' 'PASS secret' 'PASS secret' 'PASS secret' CAPA
  perl -e 'print "USER alice\r\n" x 500'; crlf 'PASS secret' NOOP QUIT; } | sess repeat2
std repeat2
{ crlf "$GREET"; for _ in 1 2 3 4 5; do crlf '-ERR give USER first'; done
  crlf "${CAPA_AUTH[@]}"; for _ in $(seq 500); do crlf "$SENDPASS"; done
  crlf "$LOGIN" "$NOOP" "$BYE3"; } >"$T/repeat2.exp"
same repeat2-transcript "$T/repeat2.exp" "$T/repeat2.out"

# More than 16 KiB before login, in valid commands (8 octets each): the
# commands within the bound are answered (pop3d reads ahead at most one
# 4 KiB buffer past it), then the session ends.
fresh prelogin
perl -e 'print "USER x\r\n" x 2700' | sess prelogin
std prelogin
n_ok=$(grep -c "^$SENDPASS"$'\r'"\$" "$T/prelogin.out")
if [ "$n_ok" -ge 2048 ] && [ "$n_ok" -le 2560 ]; then pass "prelogin-answered-within-bound ($n_ok)"
else fail prelogin-answered-within-bound "$n_ok commands answered, expected 2048..2560"; fi
tail_is prelogin "$TOOMUCH"

# A whole session written one byte at a time (1 ms apart) gets exactly the
# answers of the same session written at once.  It includes an overlong
# line, a bare LF and a CR LF split across writes.
SPLIT=$(crlf 'USER alice' 'PASS secret' STAT LIST UIDL 'RETR 2' 'TOP 1 0' \
	"XX$(printf 'y%.0s' {1..300})" NOOP CAPA; printf 'NOOP\nRSET\r\nQUIT\r\n')
fresh whole
printf '%s' "$SPLIT" | sess whole
std whole
fresh bytewise
printf '%s' "$SPLIT" | perl -e '$| = 1; local $/; my $s = <STDIN>;
	for my $c (split //, $s) { syswrite STDOUT, $c; select undef, undef, undef, 0.001 }' |
	sess bytewise
std bytewise
same bytewise-same-transcript "$T/whole.out" "$T/bytewise.out"
if [ "$(wc -l <"$T/whole.out")" -gt 30 ]; then pass "bytewise-reference-complete"
else fail "bytewise-reference-complete" "only $(wc -l <"$T/whole.out") lines"; fi

# ------------------------------------------- the background sessions

wait

std names1
transcript names1 "$GREET" "$SENDPASS" "$AUTHFAIL" "+ UGFzc3dvcmQ6" "$AUTHFAIL" "${CAPA_AUTH[@]}" "$BYE"
log_has names1-log-format-string-escaped names1 'PASS failed for user=?s?n?x?p?s?n'
log_has names1-log-control-chars-escaped names1 'AUTH LOGIN failed for user=?[31mevil?[0m'
log_has names1-log-client-escaped names1 ': 10.0.0.1?]0;pwned?: PASS failed'
no_secret names1-password-not-logged names1 'Pw-%s-Secret-XYZ'

std names2
transcript names2 "$GREET" "+ UGFzc3dvcmQ6" "$AUTHFAIL" "$SENDPASS" "$AUTHFAIL" "${CAPA_AUTH[@]}" "$BYE"
log_has names2-log-high-bytes-escaped names2 'AUTH LOGIN failed for user=a?b?c?d?e'
# The 240-character name: cut (with "...") well before 100 characters.
if grep -aqE 'user=n{20,97}\.\.\. auth=file' "$T/names2.err"; then pass "names2-log-overlong-name-truncated"
else fail "names2-log-overlong-name-truncated" "no 'user=nnn...' line (at most 100 chars); log: $(grep -a 'user=' "$T/names2.err" | tr '\n' '|' | cat -v)"; fi

std long300
transcript long300 "$GREET" "$TOOLONG" '-ERR give USER first' "$SENDPASS" "$TOOLONG" \
	"$AUTHFAIL" "$SENDPASS" "$LOGIN" "$NOOP" "$BYE3"
no_secret long300-password-not-logged long300 "$FITP"

# delay: the third failure closes the connection; every delay longer than
# the one before (0.5 s, 1 s, 2 s).
rc=$(sed -n 's/^RC=\([0-9]*\) SIG=\([0-9]*\)$/\1 \2/p' "$T/delay.err")
if [ "$rc" = "0 0" ] && ! grep -qaE "$SAN_RE" "$T/delay.err"; then pass "delay-exit"
else fail "delay-exit" "status/signal '$rc'; $(grep -a -m1 -E "$SAN_RE" "$T/delay.err")"; fi
intact delay
transcript delay "$GREET" "$SENDPASS" "$AUTHFAIL" "$SENDPASS" "$AUTHFAIL" "$SENDPASS" "$AUTHLIMIT"
mapfile -t gaps <"$T/delay.gaps"
d1=${gaps[0]:-} d2=${gaps[1]:-} d3=${gaps[2]:-}
if [ -n "${d3:-}" ] && [ "$d1" -lt "$d2" ] && [ "$d2" -lt "$d3" ] && [ "$d1" -ge 250 ]; then
	pass "delay-grows (${d1} ms, ${d2} ms, ${d3} ms)"
else
	fail "delay-grows" "answers after: $(tr '\n' ' ' <"$T/delay.gaps")ms"
fi

for n in idle1 idle2 drip; do std "$n"; done
transcript idle1 "$GREET" "$SENDPASS"
faster idle1-closed-at-timeout idle1 2500
transcript idle2 "$GREET" "$SENDPASS" "$LOGIN" '+OK message 1 deleted' '+OK message 2 deleted'
faster idle2-closed-at-timeout idle2 2500
transcript drip "$GREET" "$SENDPASS" "$LOGIN"
faster drip-closed-at-timeout drip 2500

# unterminated: pop3d should close once the bound is passed, long before
# the client goes away after 3 s.
std unterminated
tail_is unterminated "$TOOMUCH"
faster unterminated-closed-before-eof unterminated 2500

survived midretr 0 1
intact midretr
log_clean midretr
if head -n 6 "$T/midretr.out" | grep -q '^+OK [0-9]* octets'; then pass "midretr-retr-started"
else fail "midretr-retr-started" "$(head -c 300 "$T/midretr.out" | cat -v)"; fi
# The next session finds all three messages and no session lock.
crlf 'USER alice' 'PASS secret' STAT QUIT | pop midretr-after -s -p "$T/passwd" -m "$T/midretr.d/%u"
survived midretr-after 0
if sed -n 3p "$T/midretr-after.out" | grep -q '^+OK maildrop has 3 messages'; then pass "midretr-nothing-deleted"
else fail "midretr-nothing-deleted" "$(sed -n 3p "$T/midretr-after.out")"; fi
intact midretr
exit 0

#!/usr/bin/env bash
# tests/e2e/session.sh - the POP3 state machine end to end: every command
# in both states, argument checking, the exact STAT/LIST/UIDL/CAPA output,
# failed logins, line limits, bad-command limits, bare LF, pipelining, the
# idle timeout, EOF without QUIT, and the maildrops pop3d must refuse.
# Whole sessions are piped into the real binary and every reply is compared
# byte for byte (CR kept).
. "$(dirname "$0")/../lib.sh"

# ------------------------------------------------------------- helpers

# fingerprint FILE: content hash, size, mode, owner, inode and mtime (ns).
# (Not following a symlink; content only for regular files.)
fingerprint() {
	local sum=nonregular
	if [ -f "$1" ] && [ ! -L "$1" ]; then sum=$(sha256sum <"$1"); fi
	printf '%s %s\n' "$sum" "$(stat -c '%F %s %a %U:%G %i %.9Y' "$1")"
}

# untouched CHECK FILE FINGERPRINT: FILE still has that fingerprint.
untouched() {
	local now
	now=$(fingerprint "$2")
	if [ "$now" = "$3" ]; then pass "$1"; else fail "$1" "was '$3', now '$now'"; fi
}

# no_locks CHECK DIR: no dot-lock or lock temporary file left in DIR.
no_locks() {
	local left
	left=$(find "$2" -name '*.lock*' | tr '\n' ' ')
	if [ -z "$left" ]; then pass "$1"; else fail "$1" "left behind: $left"; fi
}

# crlf_size TEXT: octets TEXT takes with every LF sent as CRLF.
crlf_size() { printf '%s' "$1" | perl -0777 -ne 'print length($_) + tr/\n//'; }

# popa3d_uid TEXT: popa3d 1.0.3's UID for a message whose hashed header
# lines are TEXT: MD5, first 8 bytes printed as two little-endian words.
popa3d_uid() {
	printf '%s' "$1" | perl -MDigest::MD5=md5 -0777 -ne \
		'my @b = unpack("C16", md5($_)); printf "%02x" x 8, @b[3,2,1,0,7,6,5,4]'
}

# ------------------------------------------------------------ fixtures

H=$(mkhash secret)
H2=$(mkhash 'two words')
mkdir -p "$T/mail" "$T/special" "$T/home/dave"
cat >"$T/passwd" <<EOF
# pop3d test users

alice:$H
bob:$H2
locked:*$H
banged:!$H
empty:
carol:$H::::/nonexistent::mail=$T/special/carol-box
dave:$H::::$T/home/dave
EOF
own "$T/passwd" "$T/mail" "$T/special" "$T/home" "$T/home/dave"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")
VERSION=$("$POP3D" --version | awk '{print $2}')

M1=$'Received: from mx.example.org by mail.example.org; Mon, 1 Jan 2024 10:00:00 +0000\nDate: Mon, 1 Jan 2024 09:59:00 +0000\nMessage-ID: <m1@example.org>\nSubject: one\n\nHello.\n'
M2=$'Message-ID: <m2@example.org>\nSubject: two\n\nline 1\n.dot line\n\nline 3\n'
M3=$'Delivered-To: alice@example.org\nSubject: three\n\nbody\n'
S1=$(crlf_size "$M1") S2=$(crlf_size "$M2") S3=$(crlf_size "$M3")
TOTAL=$((S1 + S2 + S3))
U1=$(popa3d_uid $'Received: from mx.example.org by mail.example.org; Mon, 1 Jan 2024 10:00:00 +0000\n')
U2=$(popa3d_uid $'Message-ID: <m2@example.org>\n')
U3=$(popa3d_uid $'Delivered-To: alice@example.org\n')

# mkmbox FILE: the three-message maildrop, LF line ends, owned by the user.
mkmbox() {
	printf '%s\n%s\n%s\n%s\n%s\n%s\n' "$FROM" "$M1" "$FROM" "$M2" "$FROM" "$M3" >"$1"
	own "$1"
	touch -d '2001-02-03 04:05:06' "$1"
}
mkmbox "$T/mail/alice"
ALICE0=$(fingerprint "$T/mail/alice")

GREET='+OK POP3 server ready'
WRONG='-ERR command not valid in this state'
BYE='+OK pop3d signing off'
LOGIN="+OK maildrop has 3 messages ($TOTAL octets)"
CAPA_AUTH=('+OK capability list follows' TOP UIDL USER RESP-CODES AUTH-RESP-CODE PIPELINING 'EXPIRE NEVER' 'UTF8 USER' 'SASL PLAIN LOGIN')
CAPA_TRANS=("${CAPA_AUTH[@]}" "IMPLEMENTATION pop3d-$VERSION")

# --------------------------------------- slow sessions, in the background
# Failed logins cost a second each and the idle timeout a few seconds: run
# them while the rest of the script goes on, check them at the end.

# Wrong password, unknown user, locked account: the same answer each time;
# the third failure closes the connection (what follows is never answered).
crlf 'USER alice' 'PASS wrong' 'USER nosuchuser' 'PASS secret' \
	'USER locked' 'PASS secret' 'USER alice' 'PASS secret' STAT |
	pop authfail "${POP[@]}" &
# Other locked forms (!, empty hash), then a good login still works.  Its
# own maildrop: the failures delay that login into the tests below, and
# one POP3 session per maildrop would refuse theirs.
mkdir "$T/locked"; own "$T/locked"; mkmbox "$T/locked/alice"
crlf 'USER banged' 'PASS secret' 'USER empty' 'PASS ' 'PASS x' 'USER alice' 'PASS secret' STAT QUIT |
	pop locked -s -p "$T/passwd" -m "$T/locked/%u" &
# Idle timeout in AUTHORIZATION: USER, then silence with the pipe open.
# Each records how long pop3d itself ran.
(crlf 'USER alice'; sleep 3) | {
	start=$(date +%s%N)
	pop idle -t 1 "${POP[@]}"
	echo $((($(date +%s%N) - start) / 1000000)) >"$T/idle.ms"
} &
# Idle timeout in TRANSACTION after DELE: no UPDATE.
mkdir "$T/idle2"; own "$T/idle2"; mkmbox "$T/idle2/alice"
IDLE2=$(fingerprint "$T/idle2/alice")
(crlf 'USER alice' 'PASS secret' 'DELE 1' 'DELE 2'; sleep 3) | {
	start=$(date +%s%N)
	pop idle2 -t 1 -s -p "$T/passwd" -m "$T/idle2/%u"
	echo $((($(date +%s%N) - start) / 1000000)) >"$T/idle2.ms"
} &

# ------------------------------------------------ AUTHORIZATION state

crlf CAPA STAT LIST 'LIST 1' 'RETR 1' 'DELE 1' NOOP CAPA RSET 'TOP 1 1' UIDL \
	'UIDL 1' 'PASS secret' 'APOP alice 0123456789abcdef0123456789abcdef' CAPA \
	XYZZ 'USER' QUIT NOOP | pop auth-state "${POP[@]}"
exited auth-state
transcript auth-state "$GREET" "${CAPA_AUTH[@]}" . \
	"$WRONG" "$WRONG" "$WRONG" "$WRONG" "$WRONG" "$WRONG" "${CAPA_AUTH[@]}" . \
	"$WRONG" "$WRONG" "$WRONG" "$WRONG" \
	'-ERR give USER first' '-ERR APOP not available' "${CAPA_AUTH[@]}" . \
	'-ERR unknown command' '-ERR syntax error' "$BYE"
untouched auth-state-maildrop-untouched "$T/mail/alice" "$ALICE0"

# Case-insensitive keywords, a password with a space, QUIT in AUTHORIZATION
# after a successful USER.
crlf 'user bob' 'pass two words' 'stat' 'Quit' | pop case-pass "${POP[@]}" -m "$T/mail/alice"
exited case-pass
transcript case-pass "$GREET" '+OK send PASS' "$LOGIN" "+OK 3 $TOTAL" "$BYE (3 messages left)"

crlf 'USER alice' 'qUiT' 'STAT' | pop quit-auth "${POP[@]}"
exited quit-auth
transcript quit-auth "$GREET" '+OK send PASS' "$BYE"

# ---------------------------------------------------- TRANSACTION state

crlf 'USER alice' 'PASS secret' STAT LIST 'LIST 1' 'LIST 2' 'LIST 3' UIDL \
	'UIDL 1' 'UIDL 2' 'UIDL 3' CAPA NOOP QUIT | pop listings "${POP[@]}"
exited listings
transcript listings "$GREET" '+OK send PASS' "$LOGIN" \
	"+OK 3 $TOTAL" \
	"+OK 3 messages ($TOTAL octets)" "1 $S1" "2 $S2" "3 $S3" . \
	"+OK 1 $S1" "+OK 2 $S2" "+OK 3 $S3" \
	'+OK unique-id listing follows' "1 $U1" "2 $U2" "3 $U3" . \
	"+OK 1 $U1" "+OK 2 $U2" "+OK 3 $U3" \
	"${CAPA_TRANS[@]}" . '+OK nothing done' "$BYE (3 messages left)"
untouched listings-no-write "$T/mail/alice" "$ALICE0"

# Every command in lower/mixed case.
crlf 'USER alice' 'PASS secret' 'stat' 'list 3' 'Uidl 3' 'retr 3' 'tOp 3 0' \
	'dele 3' 'noop' 'rset' 'capa' 'quit' | pop lower "${POP[@]}"
exited lower
transcript lower "$GREET" '+OK send PASS' "$LOGIN" "+OK 3 $TOTAL" "+OK 3 $S3" \
	"+OK 3 $U3" "+OK $S3 octets" 'Delivered-To: alice@example.org' 'Subject: three' '' body . \
	"+OK $S3 octets" 'Delivered-To: alice@example.org' 'Subject: three' '' . \
	'+OK message 3 deleted' '+OK nothing done' "$LOGIN" "${CAPA_TRANS[@]}" . "$BYE (3 messages left)"

# Commands of the other state (AUTH is one now), unknown and obsolete ones.
crlf 'USER alice' 'PASS secret' 'USER alice' 'PASS secret' 'APOP alice 0123456789abcdef0123456789abcdef' \
	'AUTH PLAIN' LAST FOO NOOP 'CAPA x' 'NOOP x' 'STAT 1' 'RSET 1' 'QUIT x' QUIT | pop wrong-state "${POP[@]}"
exited wrong-state
transcript wrong-state "$GREET" '+OK send PASS' "$LOGIN" "$WRONG" "$WRONG" "$WRONG" \
	"$WRONG" '-ERR unknown command' '-ERR unknown command' '+OK nothing done' \
	'-ERR syntax error' '-ERR syntax error' '-ERR syntax error' '-ERR syntax error' \
	'-ERR syntax error' "$BYE (3 messages left)"

# Strict message numbers, for every command that takes one.
numreply() {
	case $1 in
	0) echo '-ERR messages are counted from 1' ;;
	99999999999999999999|4294967297|4) echo '-ERR no such message' ;;
	*) echo '-ERR invalid message number' ;;
	esac
}
cmds=() replies=()
for c in LIST RETR DELE UIDL TOP; do
	for n in 0 -1 +1 1a 99999999999999999999 4294967297 4; do
		if [ "$c" = TOP ]; then cmds+=("TOP $n 1"); else cmds+=("$c $n"); fi
		replies+=("$(numreply "$n")")
	done
	cmds+=(NOOP); replies+=('+OK nothing done')
done
# Missing and extra arguments, bad TOP line counts.
cmds+=(RETR DELE TOP 'TOP 1' 'LIST 1 2' 'UIDL 1 2' 'RETR 1 2' 'DELE 1 2' 'TOP 1 1 1')
for i in 1 2 3 4 5 6 7 8 9; do replies+=('-ERR syntax error'); done
cmds+=(NOOP 'TOP 1 -1' 'TOP 1 x' 'TOP 1 +1' 'TOP 1 1x' STAT)
replies+=('+OK nothing done' '-ERR invalid line count' '-ERR invalid line count' '-ERR invalid line count' \
	'-ERR invalid line count' "+OK 3 $TOTAL")
crlf 'USER alice' 'PASS secret' "${cmds[@]}" QUIT | pop msgnum "${POP[@]}"
exited msgnum
transcript msgnum "$GREET" '+OK send PASS' "$LOGIN" "${replies[@]}" "$BYE (3 messages left)"
untouched msgnum-no-write "$T/mail/alice" "$ALICE0"

# Deleted messages: gone from STAT/LIST/UIDL, -ERR for every command that
# names them, back after RSET; RSET + QUIT writes nothing.
crlf 'USER alice' 'PASS secret' 'DELE 2' STAT LIST UIDL 'LIST 2' 'RETR 2' 'TOP 2 0' \
	'UIDL 2' 'DELE 2' 'LIST 1' 'DELE 3' STAT RSET STAT 'LIST 2' 'UIDL 2' QUIT | pop deleted "${POP[@]}"
exited deleted
DEL='-ERR message already deleted'
transcript deleted "$GREET" '+OK send PASS' "$LOGIN" '+OK message 2 deleted' \
	"+OK 2 $((S1 + S3))" "+OK 2 messages ($((S1 + S3)) octets)" "1 $S1" "3 $S3" . \
	'+OK unique-id listing follows' "1 $U1" "3 $U3" . \
	"$DEL" "$DEL" "$DEL" "$DEL" "$DEL" "+OK 1 $S1" '+OK message 3 deleted' "+OK 1 $S1" \
	"$LOGIN" "+OK 3 $TOTAL" "+OK 2 $S2" "+OK 2 $U2" "$BYE (3 messages left)"
untouched deleted-rset-no-write "$T/mail/alice" "$ALICE0"

# EOF without QUIT after DELE: nothing deleted, nothing written, no lock.
crlf 'USER alice' 'PASS secret' 'DELE 1' 'DELE 2' 'DELE 3' | pop eof "${POP[@]}"
exited eof
transcript eof "$GREET" '+OK send PASS' "$LOGIN" '+OK message 1 deleted' \
	'+OK message 2 deleted' '+OK message 3 deleted'
untouched eof-nothing-deleted "$T/mail/alice" "$ALICE0"
no_locks eof-no-lock-left "$T/mail"

# ------------------------------------------------------ line handling

# Bare LF ends a command line as CRLF does (mixed in one session).
printf 'USER alice\nPASS secret\r\nSTAT\nLIST 2\nQUIT\n' | pop bare-lf "${POP[@]}"
exited bare-lf
transcript bare-lf "$GREET" '+OK send PASS' "$LOGIN" "+OK 3 $TOTAL" "+OK 2 $S2" "$BYE (3 messages left)"

# RFC 2449: 255 octets with CRLF are accepted; longer lines get one -ERR,
# their rest is discarded and never taken as a command; the session goes on.
A248=$(printf 'a%.0s' $(seq 248))
X300=$(printf 'X%.0s' $(seq 300))
X5000=$(printf 'X%.0s' $(seq 5000))
{
	crlf "USER $A248"		# 255 octets with CRLF
	printf 'USER %s\n' "$A248"	# 254 octets with a bare LF
	crlf "USER ${A248}a"		# 256 octets
	crlf CAPA "$X300" CAPA
	crlf "${X300}QUIT"		# a command hidden past the limit
	crlf "$X5000" CAPA		# longer than the input buffer
	printf 'NO\0OP\r\n'		# NUL inside the line
	crlf 'USER alice' 'PASS secret' STAT QUIT
} | pop longline "${POP[@]}"
exited longline
transcript longline "$GREET" '+OK send PASS' '+OK send PASS' '-ERR line too long' \
	"${CAPA_AUTH[@]}" . '-ERR line too long' "${CAPA_AUTH[@]}" . \
	'-ERR line too long' '-ERR line too long' "${CAPA_AUTH[@]}" . \
	'-ERR syntax error' '+OK send PASS' "$LOGIN" "+OK 3 $TOTAL" "$BYE (3 messages left)"

# Too many bad commands in a row end the session; a good one resets the
# count.
bad9=(); for i in 1 2 3 4 5 6 7 8 9; do bad9+=(FOO); done
err9=(); for i in 1 2 3 4 5 6 7 8 9; do err9+=('-ERR unknown command'); done
crlf "${bad9[@]}" CAPA 'USER alice' 'PASS secret' "${bad9[@]}" NOOP "${bad9[@]}" STAT QUIT |
	pop bad-reset "${POP[@]}"
exited bad-reset
transcript bad-reset "$GREET" "${err9[@]}" "${CAPA_AUTH[@]}" . '+OK send PASS' "$LOGIN" \
	"${err9[@]}" '+OK nothing done' "${err9[@]}" "+OK 3 $TOTAL" "$BYE (3 messages left)"

crlf 'USER alice' 'PASS secret' 'DELE 1' "${bad9[@]}" 'RETR' QUIT STAT | pop bad-limit "${POP[@]}"
exited bad-limit
transcript bad-limit "$GREET" '+OK send PASS' "$LOGIN" '+OK message 1 deleted' "${err9[@]}" \
	'-ERR syntax error' '-ERR too many bad commands, closing connection'
untouched bad-limit-no-update "$T/mail/alice" "$ALICE0"

# ----------------------------------------------------------- pipelining

# 50 commands in one write; every answer, in order.
cmds=('USER alice' 'PASS secret') replies=('+OK send PASS' "$LOGIN")
for i in $(seq 0 11); do
	case $((i % 4)) in
	0) cmds+=(STAT "LIST $((i % 3 + 1))" 'TOP 3 0' NOOP)
	   s=S$((i % 3 + 1))
	   replies+=("+OK 3 $TOTAL" "+OK $((i % 3 + 1)) ${!s}" \
		"+OK $S3 octets" 'Delivered-To: alice@example.org' 'Subject: three' '' . '+OK nothing done') ;;
	1) cmds+=('UIDL 2' 'DELE 1' RSET 'RETR 3')
	   replies+=("+OK 2 $U2" '+OK message 1 deleted' "$LOGIN" \
		"+OK $S3 octets" 'Delivered-To: alice@example.org' 'Subject: three' '' body .) ;;
	2) cmds+=(LIST 'LIST 9' CAPA FOO)
	   replies+=("+OK 3 messages ($TOTAL octets)" "1 $S1" "2 $S2" "3 $S3" . \
		'-ERR no such message' "${CAPA_TRANS[@]}" . '-ERR unknown command') ;;
	3) cmds+=(UIDL NOOP 'LIST 3' 'UIDL 1')
	   replies+=('+OK unique-id listing follows' "1 $U1" "2 $U2" "3 $U3" . '+OK nothing done' "+OK 3 $S3" "+OK 1 $U1") ;;
	esac
done
cmds+=(QUIT) replies+=("$BYE (3 messages left)")
printf '%s\r\n' "${cmds[@]}" | pop pipeline "${POP[@]}"
exited pipeline
transcript pipeline "$GREET" "${replies[@]}"

# A long burst (many input buffers' worth, lines split across reads).
{
	crlf 'USER alice' 'PASS secret'
	for i in $(seq 1000); do printf 'STAT\r\nLIST %d\r\nNOOP\r\n' $((i % 3 + 1)); done
	crlf QUIT
} | pop burst "${POP[@]}"
exited burst
replies=()
for i in $(seq 1000); do
	n=$((i % 3 + 1)); s=S$n
	replies+=("+OK 3 $TOTAL" "+OK $n ${!s}" '+OK nothing done')
done
transcript burst "$GREET" '+OK send PASS' "$LOGIN" "${replies[@]}" "$BYE (3 messages left)"

# ---------------------------------------------------------- maildrops

# A missing maildrop is empty, and reading never creates it.
EMPTY_CMDS=(STAT LIST UIDL 'RETR 1' 'TOP 1 0' 'LIST 1' 'UIDL 1' 'DELE 1' RSET NOOP QUIT)
EMPTY_REPLIES=('+OK maildrop has 0 messages (0 octets)' '+OK 0 0' \
	'+OK 0 messages (0 octets)' . '+OK unique-id listing follows' . \
	'-ERR no such message' '-ERR no such message' '-ERR no such message' '-ERR no such message' \
	'-ERR no such message' '+OK maildrop has 0 messages (0 octets)' '+OK nothing done' "$BYE (0 messages left)")
crlf 'USER alice' 'PASS secret' "${EMPTY_CMDS[@]}" | pop missing -s -p "$T/passwd" -m "$T/mail/none-%u"
exited missing
transcript missing "$GREET" '+OK send PASS' "${EMPTY_REPLIES[@]}"
if [ ! -e "$T/mail/none-alice" ]; then pass missing-not-created
else fail missing-not-created "$T/mail/none-alice exists after the session"; fi
no_locks missing-no-lock-left "$T/mail"

# The login line names the maildrop, so a wrong path shows in the log.
if grep -qE "^pop3d\[[0-9]+\]: pipe: login: user=alice messages=0 octets=0 maildrop=$T/mail/none-alice\$" "$T/missing.err"; then
	pass login-log-names-maildrop
else
	fail login-log-names-maildrop "login line: $(grep -m1 'login:' "$T/missing.err")"
fi

# A maildrop whose directory does not exist is a wrong path (a typo in -m)
# or a spool not mounted, not an empty maildrop: [SYS/TEMP], logged with
# the path, and nothing created.
TEMP='-ERR [SYS/TEMP] temporary failure, try again later'
PERM='-ERR [SYS/PERM] maildrop cannot be served; contact the administrator'
crlf 'USER alice' 'PASS secret' STAT QUIT | pop missing-dir -s -p "$T/passwd" -m "$T/no-such-dir/%u"
exited missing-dir
transcript missing-dir "$GREET" '+OK send PASS' "$TEMP" "$WRONG" "$BYE"
if grep -qF "maildrop $T/no-such-dir/alice: its directory $T/no-such-dir does not exist" "$T/missing-dir.err"; then
	pass missing-dir-logged
else
	fail missing-dir-logged "log: $(head -c 300 "$T/missing-dir.err")"
fi
if [ -e "$T/no-such-dir" ]; then fail missing-dir-not-created "$T/no-such-dir exists"
else pass missing-dir-not-created; fi

# A spool directory where the session cannot create the journal and the
# dot-lock (Debian's /var/mail, root:mail 2775, from a pipe as a user
# outside the mail group): deletions could never be applied, so every
# delete-mode client would download the same mail again at every session.
# Found at login: [SYS/PERM], logged with the directory, nothing left in
# it, the mbox untouched.  A missing mbox there is still an empty maildrop
# (nothing to delete).
if [ "$(id -u)" = 0 ] && getent group mail >/dev/null; then
	mkdir "$T/rospool"; chown root:mail "$T/rospool"; chmod 2775 "$T/rospool"
	mkmbox "$T/rospool/alice"; chgrp mail "$T/rospool/alice"; chmod 660 "$T/rospool/alice"
	RO0=$(fingerprint "$T/rospool/alice")
	crlf 'USER alice' 'PASS secret' STAT 'DELE 1' QUIT | pop spool-readonly -s -p "$T/passwd" -m "$T/rospool/%u"
	exited spool-readonly
	transcript spool-readonly "$GREET" '+OK send PASS' "$PERM" "$WRONG" "$WRONG" "$BYE"
	if grep -qF "maildrop $T/rospool/alice: no file can be created in its directory $T/rospool (Permission denied)" "$T/spool-readonly.err"; then
		pass spool-readonly-logged
	else
		fail spool-readonly-logged "log: $(head -c 300 "$T/spool-readonly.err")"
	fi
	untouched spool-readonly-mbox-untouched "$T/rospool/alice" "$RO0"
	equal spool-readonly-nothing-left "alice" "$(ls -A "$T/rospool" | xargs)"
	crlf 'USER bob' 'PASS two words' STAT QUIT | pop spool-readonly-empty -s -p "$T/passwd" -m "$T/rospool/%u"
	exited spool-readonly-empty
	transcript spool-readonly-empty "$GREET" '+OK send PASS' '+OK maildrop has 0 messages (0 octets)' '+OK 0 0' "$BYE (0 messages left)"
else
	pass "spool-readonly (skipped: needs root and a mail group)"
fi

# An empty file is an empty maildrop too, and is not written.
: >"$T/mail/empty-alice"; own "$T/mail/empty-alice"; touch -d '2001-02-03 04:05:06' "$T/mail/empty-alice"
EMPTY0=$(fingerprint "$T/mail/empty-alice")
crlf 'USER alice' 'PASS secret' "${EMPTY_CMDS[@]}" | pop empty-file -s -p "$T/passwd" -m "$T/mail/empty-%u"
exited empty-file
transcript empty-file "$GREET" '+OK send PASS' "${EMPTY_REPLIES[@]}"
untouched empty-file-untouched "$T/mail/empty-alice" "$EMPTY0"

# Maildrops pop3d must refuse with [SYS/PERM], touching nothing; the
# session stays in AUTHORIZATION (no privileges were given up).
refused() {	# refused NAME FILE-TO-WATCH
	local name=$1 watch=$2 before
	before=$(fingerprint "$watch")
	crlf 'USER alice' 'PASS secret' STAT QUIT | pop "$name" -s -p "$T/passwd" -m "$T/bad/%u"
	exited "$name"
	transcript "$name" "$GREET" '+OK send PASS' "$PERM" "$WRONG" "$BYE"
	untouched "$name-untouched" "$watch" "$before"
}
mkdir "$T/bad"; own "$T/bad"
mkmbox "$T/target"
ln -s "$T/target" "$T/bad/alice"
refused refuse-symlink "$T/target"
rm "$T/bad/alice"

mkdir "$T/bad/alice"; own "$T/bad/alice"
touch -d '2001-02-03 04:05:06' "$T/bad/alice"
refused refuse-directory "$T/bad/alice"
rmdir "$T/bad/alice"

printf 'Subject: no From_ line\n\nbody\n' >"$T/bad/alice"; own "$T/bad/alice"
refused refuse-not-mbox "$T/bad/alice"
printf '\n%s\n%s\n' "$FROM" "$M1" >"$T/bad/alice"; own "$T/bad/alice"
refused refuse-leading-blank "$T/bad/alice"
rm "$T/bad/alice"

mkfifo "$T/bad/alice"; own "$T/bad/alice"
refused refuse-fifo "$T/bad/alice"
rm "$T/bad/alice"

if [ "$(id -u)" = 0 ]; then
	mkmbox "$T/bad/alice"; chown root:root "$T/bad/alice"; chmod 666 "$T/bad/alice"
	refused refuse-other-owner "$T/bad/alice"
	chmod 600 "$T/bad/alice"
	refused refuse-other-owner-unreadable "$T/bad/alice"
	rm "$T/bad/alice"
else
	pass "refuse-other-owner (skipped: needs root to make a file of another user)"
fi

# mail= in the password file overrides the template; %h is the home.
printf '%s\n%s\n' "$FROM" "$M2" >"$T/special/carol-box"; own "$T/special/carol-box"
crlf 'USER carol' 'PASS secret' STAT 'UIDL 1' QUIT | pop mail-field "${POP[@]}"
exited mail-field
transcript mail-field "$GREET" '+OK send PASS' "+OK maildrop has 1 message ($S2 octets)" \
	"+OK 1 $S2" "+OK 1 $U2" "$BYE (1 message left)"

printf '%s\n%s\n' "$FROM" "$M3" >"$T/home/dave/mbox"; own "$T/home/dave/mbox"
crlf 'USER dave' 'PASS secret' STAT QUIT | pop home-template -s -p "$T/passwd" -m '%h/mbox'
exited home-template
transcript home-template "$GREET" '+OK send PASS' "+OK maildrop has 1 message ($S3 octets)" \
	"+OK 1 $S3" "$BYE (1 message left)"

mkdir "$T/pct%dir"; own "$T/pct%dir"
printf '%s\n%s\n' "$FROM" "$M1" >"$T/pct%dir/alice"; own "$T/pct%dir/alice"
crlf 'USER alice' 'PASS secret' STAT QUIT | pop percent-template -s -p "$T/passwd" -m "$T/pct%%dir/%u"
exited percent-template
transcript percent-template "$GREET" '+OK send PASS' "+OK maildrop has 1 message ($S1 octets)" \
	"+OK 1 $S1" "$BYE (1 message left)"

# ---------------------------------------------------------------- APOP

printf 'alice:apop-secret-1234\n' >"$T/apop"; chmod 600 "$T/apop"; own "$T/apop"
# apop NAME SECRET-FOR-DIGEST: an APOP login driven through a fifo, since
# the digest depends on the greeting's timestamp.
apop() {
	local name=$1 secret=$2 pid ts digest i
	mkfifo "$T/$name.fifo"
	run_pop3d "${POP[@]}" -a "$T/apop" -n pop.example.org <"$T/$name.fifo" \
		>"$T/$name.out" 2>"$T/$name.err" &
	pid=$!
	exec 7>"$T/$name.fifo"
	for i in $(seq 200); do grep -q $'\r$' "$T/$name.out" && break; sleep 0.05; done
	ts=$(grep -o '<[^>]*>' "$T/$name.out" | head -n 1)
	digest=$(printf '%s%s' "$ts" "$secret" | md5sum | cut -c1-32)
	crlf CAPA "APOP alice $digest" STAT QUIT >&7
	exec 7>&-
	wait "$pid"; echo $? >"$T/$name.rc"
	sed -i "1s/<[^>]*>/<TS>/" "$T/$name.out"
}
apop apop-ok apop-secret-1234 &
p1=$!
apop apop-wrong not-the-secret &
p2=$!
wait "$p1" "$p2"
exited apop-ok
# With the APOP secrets file CRAM-MD5 is offered too (sasl.sh tests it).
CAPA_APOP=("${CAPA_AUTH[@]}"); CAPA_APOP[${#CAPA_APOP[@]}-1]='SASL PLAIN LOGIN CRAM-MD5'
transcript apop-ok "$GREET <TS>" "${CAPA_APOP[@]}" . "$LOGIN" "+OK 3 $TOTAL" "$BYE (3 messages left)"
exited apop-wrong
transcript apop-wrong "$GREET <TS>" "${CAPA_APOP[@]}" . '-ERR [AUTH] authentication failed' "$WRONG" "$BYE"

# ------------------------------------------- the background sessions

wait
exited authfail
transcript authfail "$GREET" '+OK send PASS' '-ERR [AUTH] authentication failed' \
	'+OK send PASS' '-ERR [AUTH] authentication failed' \
	'+OK send PASS' '-ERR [AUTH] too many failures, closing connection'
exited locked
transcript locked "$GREET" '+OK send PASS' '-ERR [AUTH] authentication failed' \
	'+OK send PASS' '-ERR syntax error' '-ERR [AUTH] authentication failed' \
	'+OK send PASS' "$LOGIN" "+OK 3 $TOTAL" "$BYE (3 messages left)"

exited idle
transcript idle "$GREET" '+OK send PASS'
exited idle2
transcript idle2 "$GREET" '+OK send PASS' "$LOGIN" '+OK message 1 deleted' '+OK message 2 deleted'
untouched idle2-no-update "$T/idle2/alice" "$IDLE2"
no_locks idle2-no-lock-left "$T/idle2"
# pop3d itself left after about 1 s, while the client held the pipe open
# for 3 s.
for n in idle idle2; do
	ms=$(cat "$T/$n.ms")
	if [ "$ms" -ge 900 ] && [ "$ms" -lt 2500 ]; then pass "$n-ended-by-timeout"
	else fail "$n-ended-by-timeout" "pop3d ran ${ms} ms with -t 1 (client idle for 3 s)"; fi
done

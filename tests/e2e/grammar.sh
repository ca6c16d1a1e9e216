#!/usr/bin/env bash
# tests/e2e/grammar.sh - the command grammar of RFC 1939 section 3: a
# keyword, then each argument after exactly one space.  Two spaces, a
# leading or trailing space, a tab as separator are refused with
# "-ERR syntax error" (as popa3d does), in both states, for every
# command; keywords stay case-insensitive, arguments of 40 characters are
# served, PASS takes the rest of the line after its one space verbatim
# (spaces included), so existing passwords with spaces keep working.
. "$(dirname "$0")/../lib.sh"

H=$(mkhash secret)
H2=$(mkhash ' two  words ')
mkdir -p "$T/mail"
U40=abcdefghijabcdefghijabcdefghijabcdefghij
cat >"$T/passwd" <<PW
alice:$H
bob:$H2
$U40:$H
PW
M1=$'Subject: one\n\nbody\n'
# mkbox USER: USER's maildrop, one message, afresh.
mkbox() {
	printf 'From a@b Mon Jan  1 10:00:00 2024\n%s' "$M1" >"$T/mail/$1"
	own "$T/mail/$1"
}
own "$T/passwd" "$T/mail"
mkbox alice; mkbox bob; mkbox "$U40"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")
S1=$(printf '%s' "$M1" | perl -0777 -ne 'print length($_) + tr/\n//')
GREET='+OK POP3 server ready'
BYE='+OK pop3d signing off'
LOGIN="+OK maildrop has 1 message ($S1 octets)"
SYN='-ERR syntax error'
TAB=$'\t'

# trans NAME LINE EXPECTED: LINE sent after a login; EXPECTED its reply.
trans() {
	mkbox alice
	crlf 'USER alice' 'PASS secret' "$2" NOOP QUIT | pop "$1" "${POP[@]}"
	exited "$1"
	transcript "$1" "$GREET" '+OK send PASS' "$LOGIN" "$3" \
		'+OK nothing done' "$BYE (1 message left)"
}
# auth NAME LINE EXPECTED: LINE sent first, before any login.
auth() {
	crlf "$2" QUIT | pop "$1" "${POP[@]}"
	exited "$1"
	transcript "$1" "$GREET" "$3" "$BYE"
}

# ------------------------------------- separators refused, every command
for c in 'RETR 1' 'DELE 1' 'LIST 1' 'UIDL 1' 'TOP 1 0'; do
	n=$(echo "$c" | tr 'A-Z ' 'a-z-')
	trans "$n-two-spaces" "${c/ /  }" "$SYN"
	trans "$n-leading-space" " $c" "$SYN"
	trans "$n-trailing-space" "$c " "$SYN"
	trans "$n-tab" "${c/ /$TAB}" "$SYN"
	trans "$n-trailing-tab" "$c$TAB" "$SYN"
done
trans top-two-spaces-second 'TOP 1  0' "$SYN"
trans top-tab-second "TOP 1${TAB}0" "$SYN"
for c in STAT LIST UIDL NOOP RSET CAPA; do
	n=$(echo "$c" | tr 'A-Z' 'a-z')
	trans "$n-trailing-space" "$c " "$SYN"
	trans "$n-leading-space" " $c" "$SYN"
	trans "$n-trailing-tab" "$c$TAB" "$SYN"
done
auth user-two-spaces 'USER  alice' "$SYN"
auth user-trailing-space 'USER alice ' "$SYN"
auth user-leading-space ' USER alice' "$SYN"
auth user-tab "USER${TAB}alice" "$SYN"
auth user-escape $'USER al\033[2Jice' "$SYN"
auth user-del $'USER al\177ice' "$SYN"
auth apop-two-spaces 'APOP alice  0123456789abcdef0123456789abcdef' "$SYN"
auth apop-trailing-space 'APOP alice 0123456789abcdef0123456789abcdef ' "$SYN"
auth auth-two-spaces 'AUTH  PLAIN' "$SYN"
auth auth-trailing-space 'AUTH PLAIN ' "$SYN"
auth capa-trailing-space-auth 'CAPA ' "$SYN"
auth stls-trailing-space 'STLS ' "$SYN"
auth quit-trailing-space-auth 'QUIT ' "$SYN"
auth pass-tab "PASS${TAB}secret" "$SYN"
auth pass-leading-space ' PASS secret' "$SYN"
auth pass-empty 'PASS ' "$SYN"
# QUIT with a trailing space must not end the session.
crlf 'USER alice' 'PASS secret' 'DELE 1' 'QUIT ' QUIT | pop quit-trailing-space "${POP[@]}"
exited quit-trailing-space
transcript quit-trailing-space "$GREET" '+OK send PASS' "$LOGIN" \
	'+OK message 1 deleted' "$SYN" "$BYE (0 messages left)"
# Unknown keywords stay unknown, whatever follows them.
auth unknown-keyword 'XYZZ 1' '-ERR unknown command'
trans unknown-keyword-two-spaces 'XYZZ  1' '-ERR unknown command'

# ------------------------------------------------- what is still served
trans retr-one-space 'LIST 1' "+OK 1 $S1"
trans top-lower-case 'top 1 0' "+OK $S1 octets"$'\r\nSubject: one\r\n\r\n.'
# A 40-character argument (RFC 1939's limit) is served.
crlf "USER $U40" 'PASS secret' QUIT | pop arg-40 "${POP[@]}"
exited arg-40
transcript arg-40 "$GREET" '+OK send PASS' "$LOGIN" "$BYE (1 message left)"
# PASS: the rest of the line after its one space, verbatim: a password
# with a leading, a double and a trailing space logs in...
crlf 'USER bob' 'PASS  two  words ' QUIT | pop pass-spaces "${POP[@]}"
exited pass-spaces
transcript pass-spaces "$GREET" '+OK send PASS' "$LOGIN" "$BYE (1 message left)"
# ...and the same words without those spaces are another password.
crlf 'USER bob' 'PASS two words' QUIT | pop pass-spaces-differ "${POP[@]}"
exited pass-spaces-differ
transcript pass-spaces-differ "$GREET" '+OK send PASS' \
	'-ERR [AUTH] authentication failed' "$BYE"

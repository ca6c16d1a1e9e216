#!/usr/bin/env bash
# tests/e2e/utf8.sh - RFC 6856 UTF-8 mode, sessions piped into pop3d:
#  - CAPA lists "UTF8 USER" before and after UTF8 and after login; UTF8
#    is +OK in the AUTHORIZATION state and refused in TRANSACTION;
#  - "jürgen" stored in NFC logs in after UTF8 with USER in NFC and in
#    NFD form, with a password given in NFD for one stored in NFC, and
#    with AUTH PLAIN and AUTH LOGIN in NFD form;
#  - after UTF8, invalid UTF-8 user names (overlong, lone continuation,
#    surrogate, above U+10FFFF, truncated) and passwords are refused with
#    -ERR and logged with their bytes escaped; a name with U+FF0F
#    FULLWIDTH SOLIDUS, which SASLprep makes a '/', is refused and no
#    maildrop path is tried;
#  - before UTF8, a non-ASCII USER name fails as an unknown user would,
#    as it always did; STLS after UTF8 is refused.
. "$(dirname "$0")/../lib.sh"

NFC=$'j\xc3\xbcrgen'
NFD=$'ju\xcc\x88rgen'
PW_NFC=$'p\xc3\xa4sswort'
PW_NFD=$'pa\xcc\x88sswort'
mkdir -p "$T/mail"
{
	printf 'alice:%s\n' "$(mkhash secret)"
	printf '%s:%s\n' "$NFC" "$(mkhash geheim)"
	printf 'anna:%s\n' "$(mkhash "$PW_NFC")"
} >"$T/passwd"
chmod 600 "$T/passwd"
MSG=$'From a@b Sat Jan  1 00:00:00 2000\nSubject: gr\xc3\xbc\xc3\x9fe\n\nbody\n'
for u in alice "$NFC" anna; do printf '%s' "$MSG" >"$T/mail/$u"; done
own "$T/passwd" "$T/mail" "$T/mail/"*
POP=(-s -p "$T/passwd" -m "$T/mail/%u")
b64() { printf '%s' "$1" | base64 -w0; }
has_line() { # CHECK NAME LINE: session NAME's answers have exactly LINE.
	if tr -d '\r' <"$T/$2.out" | grep -qxF -- "$3"; then pass "$1"
	else fail "$1" "no line '$3' in: $(tr -d '\r' <"$T/$2.out" | tr '\n' '|')"; fi
}
no_line() {
	if tr -d '\r' <"$T/$2.out" | grep -qxF -- "$3"; then fail "$1" "line '$3' present"
	else pass "$1"; fi
}

# --- CAPA and the UTF8 command
crlf CAPA UTF8 CAPA 'USER alice' 'PASS secret' CAPA UTF8 QUIT | pop capa "${POP[@]}"
exited capa
CAPA_N=$(tr -d '\r' <"$T/capa.out" | grep -cx 'UTF8 USER')
equal capa-utf8-user-in-every-capa 3 "$CAPA_N"
has_line utf8-ok capa '+OK UTF-8 mode on; messages are sent unmodified'
answer_is utf8-in-transaction-refused capa "$(($(wc -l <"$T/capa.out") - 1))" '-ERR UTF8 is allowed only before login'
no_line no-lang capa LANG

# --- NFC and NFD names, after UTF8
crlf UTF8 "USER $NFC" 'PASS geheim' STAT QUIT | pop nfc "${POP[@]}"
exited nfc
answer_is nfc-login nfc 4 '+OK maildrop has 1 message*'
crlf UTF8 "USER $NFD" 'PASS geheim' STAT QUIT | pop nfd "${POP[@]}"
exited nfd
answer_is nfd-login nfd 4 '+OK maildrop has 1 message*'
log_has nfd-logged-normalised nfd 'login: user=j\?\?rgen .*maildrop=.*/mail/j..rgen$'
crlf UTF8 'USER anna' "PASS $PW_NFD" QUIT | pop pwnfd "${POP[@]}"
exited pwnfd
answer_is password-nfd-matches-nfc pwnfd 4 '+OK maildrop has 1 message*'
crlf UTF8 'RETR 1' "USER $NFC" 'PASS geheim' 'RETR 1' QUIT | pop retr "${POP[@]}"
if grep -qaF $'gr\xc3\xbc\xc3\x9fe' "$T/retr.out"; then pass retr-unmodified; else fail retr-unmodified "8-bit header not sent as stored"; fi

# --- AUTH PLAIN (SASLprep'ed by GNU SASL) and AUTH LOGIN after UTF8
crlf UTF8 "AUTH PLAIN $(printf '\0%s\0geheim' "$NFD" | base64 -w0)" QUIT | pop plain "${POP[@]}"
exited plain
answer_is auth-plain-nfd plain 3 '+OK maildrop has 1 message*'
crlf UTF8 'AUTH LOGIN' "$(b64 "$NFD")" "$(b64 geheim)" QUIT | pop login "${POP[@]}"
exited login
answer_is auth-login-nfd login 5 '+OK maildrop has 1 message*'

# --- invalid UTF-8 after UTF8: refused, not counted as a login failure
BAD_USERS=($'j\xc0\xbcrgen' $'j\xbcrgen' $'j\xed\xa0\x80rgen' $'j\xf4\x90\x80\x80rgen' $'jrgen\xe2\x82')
BAD_NAMES=(overlong continuation surrogate above-10ffff truncated)
{ crlf UTF8; for u in "${BAD_USERS[@]}"; do crlf "USER $u" 'PASS geheim'; done; crlf QUIT; } | pop invalid "${POP[@]}"
exited invalid
for i in 0 1 2 3 4; do
	answer_is "invalid-${BAD_NAMES[$i]}-refused" invalid $((3 + 2 * i)) '-ERR user name is not valid UTF-8 or not allowed'
	answer_is "invalid-${BAD_NAMES[$i]}-no-pass" invalid $((4 + 2 * i)) '-ERR give USER first'
done
log_has invalid-logged-escaped invalid 'USER refused for user=j\\xc0\\xbcrgen: not valid UTF-8'
if grep -q 'authentication failed\|auth=file' "$T/invalid.err"; then fail invalid-no-login-attempt "$(grep -m1 auth "$T/invalid.err")"; else pass invalid-no-login-attempt; fi
crlf UTF8 'USER anna' $'PASS p\xc3sswort' QUIT | pop badpass "${POP[@]}"
exited badpass
answer_is invalid-password-refused badpass 4 '-ERR password is not valid UTF-8 or not allowed'

# --- U+FF0F FULLWIDTH SOLIDUS: NFKC makes it '/'
mkdir -p "$T/mail/a"; printf '%s' "$MSG" >"$T/mail/a/b"; own "$T/mail/a" "$T/mail/a/b"
printf 'a\xef\xbc\x8fb:%s\n' "$(mkhash geheim)" >>"$T/passwd"
crlf UTF8 $'USER a\xef\xbc\x8fb' 'PASS geheim' STAT QUIT | pop solidus "${POP[@]}"
exited solidus
answer_is fullwidth-solidus-refused solidus 3 '-ERR user name is not valid UTF-8 or not allowed'
answer_is fullwidth-solidus-no-login solidus 5 '-ERR*'
log_has fullwidth-solidus-logged solidus 'not a valid user name after SASLprep'
if grep -q "$T/mail/a/b\|mail/a/" "$T/solidus.err"; then fail fullwidth-solidus-no-path "a path with '/' was tried"; else pass fullwidth-solidus-no-path; fi
crlf UTF8 "AUTH PLAIN $(printf '\0a\357\274\217b\0geheim' | base64 -w0)" QUIT | pop solidus-plain "${POP[@]}"
answer_is fullwidth-solidus-auth-plain-refused solidus-plain 3 '-ERR*'

# --- before UTF8: as always, a non-ASCII USER name is no user's
crlf "USER $NFC" 'PASS geheim' QUIT | pop before "${POP[@]}"
exited before
answer_is before-utf8-user-ok before 2 '+OK send PASS'
answer_is before-utf8-login-fails before 3 '-ERR ?AUTH? authentication failed'
log_has before-utf8-logged-as-always before 'PASS failed for user=j\?\?rgen auth=file'

# --- STLS after UTF8 (RFC 6856 section 2.1)
crlf UTF8 STLS QUIT | pop stls "${POP[@]}"
answer_is stls-after-utf8-refused stls 3 '-ERR*'

# --- pop3passwd stores a name in its SASLprep form, refuses what is not UTF-8
P=$T/pw2
printf 'geheim\n' | "$POP3PASSWD" -f "$P" --stdin "$NFD" 2>"$T/pw2.err"
equal pop3passwd-nfd-accepted 0 "$?"
equal pop3passwd-stores-nfc "$NFC" "$(cut -d: -f1 "$P" 2>/dev/null)"
printf 'geheim\n' | "$POP3PASSWD" -f "$P" --stdin $'a\xef\xbc\x8fb' 2>/dev/null
equal pop3passwd-fullwidth-solidus-refused 2 "$?"
printf 'geheim\n' | "$POP3PASSWD" -f "$P" --stdin $'a\xc0\xafb' 2>/dev/null
equal pop3passwd-overlong-refused 2 "$?"
if grep -qF $'a\xef\xbc\x8fb' "$P" || grep -q '^a/' "$P"; then fail pop3passwd-refused-not-written "$(cat "$P")"; else pass pop3passwd-refused-not-written; fi
printf '%s\n' "$PW_NFD" | "$POP3PASSWD" -f "$P" --stdin anna 2>/dev/null
own "$P"; chmod 600 "$P"
crlf UTF8 'USER anna' "PASS $PW_NFC" QUIT | pop pw2 -s -p "$P" -m "$T/mail/%u"
answer_is pop3passwd-password-prepped pw2 4 '+OK maildrop has 1 message*'

# --- root mode: the pre-login process normalises, the root parent checks
# (tests/e2e/rootmode.sh has the rest of root mode)
if [ "$(id -u)" != 0 ]; then
	echo "root mode part needs root; skipped"
	exit 0
fi
chown root:root "$T"
cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d"
useradd -M -d /nonexistent -s /usr/sbin/nologin pop3dutf8
UU=$(id -u pop3dutf8) GU=$(id -g pop3dutf8)
R=$T/root
mkdir -p "$R/spool"; chown root:mail "$R/spool"; chmod 2775 "$R/spool"
printf '%s:%s:%s:%s::/nonexistent\n' "$NFC" "$(mkhash geheim)" "$UU" "$GU" >"$R/passwd"
chmod 600 "$R/passwd"
printf '%s' "$MSG" >"$R/spool/$NFC"; chown pop3dutf8:mail "$R/spool/$NFC"; chmod 660 "$R/spool/$NFC"
rootpop() {
	local name=$1
	ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0" "$T/pop3d" -s -p "$R/passwd" -m "$R/spool/%u" \
		>"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
crlf UTF8 "USER $NFD" 'PASS geheim' STAT QUIT | rootpop root-nfd
exited root-nfd
answer_is root-nfd-login root-nfd 4 '+OK maildrop has 1 message*'
crlf UTF8 "AUTH PLAIN $(printf '\0%s\0geheim' "$NFD" | base64 -w0)" QUIT | rootpop root-plain
answer_is root-auth-plain-nfd root-plain 3 '+OK maildrop has 1 message*'
crlf UTF8 $'USER j\xc0\xbcrgen' $'USER a\xef\xbc\x8fb' "USER $NFC" 'PASS geheim' QUIT | rootpop root-invalid
answer_is root-overlong-refused root-invalid 3 '-ERR user name is not valid UTF-8 or not allowed'
answer_is root-fullwidth-solidus-refused root-invalid 4 '-ERR user name is not valid UTF-8 or not allowed'
answer_is root-login-after-refusals root-invalid 6 '+OK maildrop has 1 message*'
crlf "USER $NFC" 'PASS geheim' QUIT | rootpop root-before
answer_is root-before-utf8-fails root-before 3 '-ERR ?AUTH? authentication failed'
log_has root-before-utf8-logged-as-always root-before 'PASS failed for user=j\?\?rgen auth=file'

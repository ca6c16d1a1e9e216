#!/usr/bin/env bash
# tests/e2e/backends.sh - the promises auth.c makes for every back end
# (README, "Set-up": "Whichever answers, the rest is the same"), checked
# for --auth file, --auth pam and --auth checkpassword side by side, in
# root mode (pop3d started as root: privilege separation):
#  - a wrong password, an unknown user and an invalid name get the same
#    answer, "-ERR [AUTH] authentication failed";
#  - the third failure of a session ends it with the limit's answer, and
#    the logout line says why;
#  - every failure is logged with the back end's name (auth=NAME);
#  - a back end that cannot tell gives [SYS/TEMP], not [AUTH], and the
#    session stays usable (for checkpassword: exit 111; PAM: a service
#    whose stack cannot load);
#  - the right password logs in, for each;
#  - the same through SASL: AUTH PLAIN and AUTH LOGIN (sasl.c) refused
#    with a wrong password or an unknown user, logged as such with the
#    back end's name, and AUTH LOGIN with the right one logs in.
. "$(dirname "$0")/../lib.sh"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP backends.sh: needs root"
	exit 0
fi
chown root:root "$T"
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"

U=pop3dback
SVC=pop3d-e2e-backends-$$
BROKEN=pop3d-e2e-broken-$$
cleanup() {
	rm -f "/etc/pam.d/$SVC" "/etc/pam.d/$BROKEN"
	rm -rf "$T"
}
trap cleanup EXIT
useradd -M -d /nonexistent -s /usr/sbin/nologin "$U" || { fail account "cannot create $U"; exit 0; }
echo "$U:secret" | chpasswd -c YESCRYPT
UU=$(id -u "$U") UG=$(id -g "$U")
cp "$TOP/pam.d/pop3d" "/etc/pam.d/$SVC"
# A stack that cannot work: a module that does not exist.
printf 'auth required pam_pop3d_e2e_missing.so\naccount required pam_permit.so\n' >"/etc/pam.d/$BROKEN"
printf '%s:%s:%s:%s::/nonexistent\n' "$U" "$(mkhash secret)" "$UU" "$UG" >"$T/passwd"
chmod 600 "$T/passwd"
# The checkpassword program: right for U with "secret", 111 for "tempfail".
cat >"$T/cp.pl" <<PERL
#!/usr/bin/perl
use strict;
use warnings;
use POSIX ();
open(my \$in, '<&=', 3) or exit 111;
local \$/;
my (\$user, \$pass) = split /\0/, (<\$in> // '');
exit 111 if defined \$user && \$user eq 'tempfail';
exit 1 unless defined \$user && \$user eq '$U' && defined \$pass && \$pass eq 'secret';
\$ENV{USER} = '$U';
\$ENV{HOME} = '/nonexistent';
POSIX::setgid($UG); POSIX::setuid($UU);
exec @ARGV or exit 111;
PERL
chmod 755 "$T/cp.pl"
mkdir "$T/mail"
printf 'From a@b Mon Jan  1 10:00:00 2024\nSubject: x\n\nhello\n' >"$T/mail/$U"
chown "$UU:$UG" "$T/mail" "$T/mail/$U"; chmod 600 "$T/mail/$U"

declare -A ARGS=(
	[file]="--auth file -p $T/passwd"
	[pam]="--auth pam:$SVC"
	[checkpassword]="--auth checkpassword:$T/cp.pl"
)
AUTHFAIL='-ERR \[AUTH\] authentication failed'
LIMIT='-ERR \[AUTH\] too many failures, closing connection'
for b in file pam checkpassword; do
	# shellcheck disable=SC2086 # the back end's arguments, split
	crlf "USER $U" 'PASS wrong' 'USER nosuchuser' 'PASS wrong' 'USER x/../y' 'PASS wrong' CAPA |
		"$POP3D" -s -m "$T/mail/%u" ${ARGS[$b]} >"$T/$b-fail.out" 2>"$T/$b-fail.err"
	answer_is "$b-wrong-password" "$b-fail" 3 "$AUTHFAIL"
	answer_is "$b-unknown-user" "$b-fail" 5 "$AUTHFAIL"
	answer_is "$b-invalid-name-third-failure-limit" "$b-fail" 7 "$LIMIT"
	equal "$b-closed-after-limit" 7 "$(wc -l <"$T/$b-fail.out")"
	log_has "$b-logged-wrong" "$b-fail" "PASS failed for user=$U auth=$b"
	log_has "$b-logged-unknown" "$b-fail" "PASS failed for user=nosuchuser auth=$b"
	log_has "$b-logout-why" "$b-fail" 'logout: user=none auth=none .* end=limit$'
	if grep -qaE "$SAN_RE" "$T/$b-fail.err"; then fail "$b-fail-sanitizer" "$(grep -a -m1 -E "$SAN_RE" "$T/$b-fail.err")"; else pass "$b-fail-sanitizer"; fi
	# shellcheck disable=SC2086
	crlf "USER $U" 'PASS secret' STAT QUIT |
		"$POP3D" -s -m "$T/mail/%u" ${ARGS[$b]} >"$T/$b-ok.out" 2>"$T/$b-ok.err"
	answer_is "$b-right-password" "$b-ok" 3 '+OK maildrop has 1 message (*'
	log_has "$b-login-logged" "$b-ok" "login: user=$U messages=1 "
	# shellcheck disable=SC2086
	crlf "AUTH PLAIN $(printf '\0%s\0wrong' "$U" | base64 -w0)" 'AUTH LOGIN' "$(printf nosuchuser | base64)" \
		"$(printf wrong | base64)" "AUTH LOGIN $(printf %s "$U" | base64)" "$(printf secret | base64)" STAT QUIT |
		"$POP3D" -s -m "$T/mail/%u" ${ARGS[$b]} >"$T/$b-sasl.out" 2>"$T/$b-sasl.err"
	answer_is "$b-sasl-plain-wrong-password" "$b-sasl" 2 "$AUTHFAIL"
	answer_is "$b-sasl-login-user-challenge" "$b-sasl" 3 '+ VXNlcm5hbWU6'
	answer_is "$b-sasl-login-password-challenge" "$b-sasl" 4 '+ UGFzc3dvcmQ6'
	answer_is "$b-sasl-login-unknown-user" "$b-sasl" 5 "$AUTHFAIL"
	answer_is "$b-sasl-login-right-password" "$b-sasl" 7 '+OK maildrop has 1 message (*'
	log_has "$b-sasl-plain-logged" "$b-sasl" "AUTH PLAIN failed for user=$U auth=$b"
	log_has "$b-sasl-login-logged" "$b-sasl" "AUTH LOGIN failed for user=nosuchuser auth=$b"
	log_has "$b-sasl-logout-auth-login" "$b-sasl" "logout: user=$U auth=login "
	if grep -qaE "$SAN_RE" "$T/$b-sasl.err"; then fail "$b-sasl-sanitizer" "$(grep -a -m1 -E "$SAN_RE" "$T/$b-sasl.err")"; else pass "$b-sasl-sanitizer"; fi
done
# Cannot tell: [SYS/TEMP], the session goes on, nothing counted.
crlf 'USER tempfail' 'PASS x' "USER $U" 'PASS secret' QUIT |
	"$POP3D" -s -m "$T/mail/%u" --auth "checkpassword:$T/cp.pl" >"$T/cp-temp.out" 2>"$T/cp-temp.err"
answer_is checkpassword-111-sys-temp cp-temp 3 '-ERR \[SYS/TEMP\]*'
answer_is checkpassword-after-temp-login cp-temp 5 '+OK maildrop has 1 message (*'
crlf "USER $U" 'PASS secret' QUIT |
	"$POP3D" -s -m "$T/mail/%u" --auth "pam:$BROKEN" >"$T/pam-temp.out" 2>"$T/pam-temp.err"
answer_is pam-broken-stack-sys-temp pam-temp 3 '-ERR \[SYS/TEMP\]*'
answer_is pam-broken-stack-session-goes-on pam-temp 4 '+OK*'
exit 0

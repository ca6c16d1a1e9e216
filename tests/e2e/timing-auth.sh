#!/usr/bin/env bash
# tests/e2e/timing-auth.sh - for every authentication back end, a failed
# login of an unknown user is answered after the same time as a wrong
# password for a real account (README, "Equal answers, equal time").
# Benchmark-style, as timing.sh: the series are measured in one run,
# interleaved, and compared with each other, never with an absolute time.
#
# pop3d runs as root (privilege separation, as under xinetd or systemd),
# so the back ends run in the privileged parent:
#   file           pop3d's password file, the account's hash yescrypt;
#   pam            a test PAM service (common-auth, common-account: pam_unix)
#                  on a real account whose password chpasswd made yescrypt;
#                  pam_unix hashes nothing for an unknown user;
#   checkpassword  a checkpassword program (cp-timing.pl, made
#                  here) that, like a real one, hashes the password of a
#                  known account (yescrypt, as /etc/shadow holds it) and
#                  exits 1 at once for an unknown one.
# For each, the series "unknown" (no such user) and "wrong" (the account,
# a wrong password); each login is one session, timed from PASS sent to
# the -ERR [AUTH] received.  Rounds run one session of each series, in
# random order, STAGGER s apart.  The check is the issue's: the medians
# within 10% of each other, and, for file and pam, as timing.sh checks
# the file back end alone, the paired difference within max(15% of the
# work beyond the delay, 8 ms).  A check that fails in the first run is measured again,
# and fails only if it fails in the second run too.
. "$(dirname "$0")/../lib.sh"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP timing-auth: needs root (PAM reads /etc/shadow)"
	exit 0
fi
chown root:root "$T"
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"

ROUNDS=${ROUNDS:-15}
STAGGER=${STAGGER:-0.1}
DELAY=$(sed -n 's/^#define AUTH_FAIL_DELAY_MS \([0-9]*\).*/\1/p' "$TOP/params.h")
DELAY=${DELAY:-500}
U=pop3dtiming
SERVICE=pop3d-e2e-timing-$$
cleanup() {
	rm -f "/etc/pam.d/$SERVICE" "/var/mail/$U"
	rm -rf "$T"
}
trap cleanup EXIT

useradd -M -d /nonexistent -s /usr/sbin/nologin "$U" ||
	{ fail account "cannot create $U"; exit 0; }
echo "$U:secret" | chpasswd -c YESCRYPT
if getent shadow "$U" | cut -d: -f2 | grep -q '^\$y\$'; then pass "account-yescrypt ($U)"
else fail account-yescrypt "$(getent shadow "$U" | cut -d: -f2 | cut -c1-8)"; fi
UID_=$(id -u "$U"); GID_=$(id -g "$U")
HASH=$(getent shadow "$U" | cut -d: -f2)

cp "$TOP/pam.d/pop3d" "/etc/pam.d/$SERVICE"
chmod 644 "/etc/pam.d/$SERVICE"

# The password file: the same hash as /etc/shadow.
printf '%s:%s:%s:%s::/nonexistent:\n' "$U" "$HASH" "$UID_" "$GID_" >"$T/passwd"
chmod 600 "$T/passwd"

# The checkpassword program: the account's hash checked as a real program
# checks /etc/shadow; the next program run on success (not reached here).
cat >"$T/cp-timing.pl" <<PERL
#!/usr/bin/perl
use strict;
use warnings;
open(my \$in, '<&=', 3) or exit 111;
local \$/;
my \$data = <\$in> // '';
my (\$user, \$pass) = split /\0/, \$data;
exit 1 unless defined \$user && \$user eq '$U';
exit 1 unless crypt(\$pass // '', '$HASH') eq '$HASH';
exec @ARGV or exit 111;
PERL
chmod 755 "$T/cp-timing.pl"

declare -A ARGS=(
	[file]="--auth file -p $T/passwd"
	[pam]="--auth pam:$SERVICE"
	[checkpassword]="--auth checkpassword:$T/cp-timing.pl"
)
read -r -a BACKENDS <<<"${TIMING_BACKENDS:-file pam checkpassword}"



series=()
for b in "${BACKENDS[@]}"; do
	series+=("$b-unknown:nosuchuser:wrongpw:${ARGS[$b]}" "$b-wrong:$U:wrongpw:${ARGS[$b]}")
done
run() {
	perl "$TOP/tests/timing.pl" "$ROUNDS" "$STAGGER" "${series[@]}" -- \
		"$POP3D" -s -m "$T/%u" >"$T/$1.raw" 2>"$T/$1.err"
}
sessions() {
	local errors
	errors=$(grep -c ERROR "$T/$1.raw")
	if grep -qaE "$SAN_RE" "$T/$1.err"; then
		fail "$1-sessions" "sanitizer: $(grep -a -m1 -E "$SAN_RE" "$T/$1.err")"
	elif [ "$errors" != 0 ] || [ "$(wc -l <"$T/$1.raw")" != $((ROUNDS * ${#series[@]})) ]; then
		fail "$1-sessions" "$errors errors; $(grep -m 3 ERROR "$T/$1.raw" | tr '\n' ' '); $(grep -v 'failed for user' "$T/$1.err" | grep -m 3 . | tr '\n' ' ')"
	else
		pass "$1-sessions ($ROUNDS rounds of ${#series[@]}, $((SECONDS - start)) s)"
	fi
}
# verdict RUN BACKEND: the medians within 10%, and for file and pam the
# paired difference within the margin.  Not for checkpassword: pop3d sees
# the program as one run, so what it spends beyond one hash on a known
# account (here a second of Perl's start-up work, about 10 ms) shows; the
# README says so.
verdict() {
	local r strict=1
	[ "$2" = checkpassword ] && strict=0
	r=$(perl "$TOP/tests/timing-compare.pl" "$T/$1.raw" "$DELAY" "$2-unknown" "$2-wrong") || { echo "no medians"; return 1; }
	set -- "$@" $r
	echo "unknown $3 ms, wrong password $4 ms, paired difference $5 ms (margin $6), 10% $7 ms"
	perl -e 'exit(abs($ARGV[0] - $ARGV[1]) <= $ARGV[4] && (!$ARGV[5] || abs($ARGV[2]) <= $ARGV[3]) ? 0 : 1)' -- "$3" "$4" "$5" "$6" "$7" "$strict"
}

start=$SECONDS
run run1
sessions run1
again=no
for b in "${BACKENDS[@]}"; do
	verdict run1 "$b" >/dev/null || again=yes
done
if [ "$again" = yes ]; then
	start=$SECONDS
	run run2
	sessions run2
fi
for b in "${BACKENDS[@]}"; do
	if v1=$(verdict run1 "$b"); then
		pass "$b-unknown-vs-wrong ($v1)"
	elif [ "$again" = yes ] && v2=$(verdict run2 "$b"); then
		pass "$b-unknown-vs-wrong (second run: $v2; first run: $v1)"
	else
		fail "$b-unknown-vs-wrong" "first run: $v1; second run: ${v2:-}"
	fi
done
# Every failure was logged by the back end that answered it.
for b in "${BACKENDS[@]}"; do
	if grep -q "PASS failed for user=nosuchuser auth=$b" "$T/run1.err"; then pass "$b-failure-logged"
	else fail "$b-failure-logged" "no 'PASS failed for user=nosuchuser auth=$b' line"; fi
done
exit 0

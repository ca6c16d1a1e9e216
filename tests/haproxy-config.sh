#!/usr/bin/env bash
# tests/haproxy-config.sh README - prints the HAProxy configuration that
# the README's "Scaling out" section shows, moved onto the loopback for a
# test or a benchmark, so that what the README says to install is what
# runs (tests/e2e/haproxy.sh, bench/haproxy.sh).  The block is the
# README's indented code block whose first line is
# "# pop3d behind HAProxy"; only these words change, each exactly once:
#
#   bind :110            -> bind $BIND_110        (an ADDR:PORT)
#   bind :995            -> bind $BIND_995
#   192.0.2.11:110 ...   -> $MX1_110, $MX2_110, $MX1_995, $MX2_995
#   inter 10s (twice)    -> inter $CHECK_INTER    (only if it is set)
#
# With ONE_SERVER=1 the lines of the second server (mx2) are left out:
# the same set-up with one front end.  Exits 1, saying why, when the block
# is missing or a word is not there exactly as often as above: a README
# that changed under the test must make it fail, not run something else.
set -u
readme=${1:?usage: haproxy-config.sh README.md}
: "${BIND_110:?} ${BIND_995:?} ${MX1_110:?} ${MX2_110:?} ${MX1_995:?} ${MX2_995:?}"

block=$(awk '
	/^    # pop3d behind HAProxy/ { on = 1 }
	on && /^[^ ]/ { exit }
	on { sub(/^    /, ""); print }' "$readme")
[ -n "$block" ] || { echo "haproxy-config.sh: no block starting '# pop3d behind HAProxy' in $readme" >&2; exit 1; }

# swap FROM TO COUNT: replaces the literal word FROM, which must occur
# COUNT times (perl: no regex, no shell quoting inside the text).
swap() {
	local n
	n=$(printf '%s\n' "$block" | FROM=$1 perl -ne '$n += () = /\Q$ENV{FROM}\E/g; END { print $n + 0 }')
	if [ "$n" != "$3" ]; then
		echo "haproxy-config.sh: '$1' occurs $n times in the README's block, expected $3" >&2
		exit 1
	fi
	block=$(printf '%s\n' "$block" | FROM=$1 TO=$2 perl -pe 's/\Q$ENV{FROM}\E/$ENV{TO}/g')
}
swap 'bind :110' "bind $BIND_110" 1
swap 'bind :995' "bind $BIND_995" 1
swap '192.0.2.11:110' "$MX1_110" 1
swap '192.0.2.12:110' "$MX2_110" 1
swap '192.0.2.11:995' "$MX1_995" 1
swap '192.0.2.12:995' "$MX2_995" 1
[ -n "${CHECK_INTER:-}" ] && swap 'inter 10s' "inter $CHECK_INTER" 2
if [ "${ONE_SERVER:-0}" = 1 ]; then
	block=$(printf '%s\n' "$block" | grep -v '^[[:space:]]*server mx2 ')
fi
if printf '%s\n' "$block" | grep -q '192\.0\.2\.'; then
	echo "haproxy-config.sh: an address of the README's example is left: $(printf '%s\n' "$block" | grep -m1 '192\.0\.2\.')" >&2
	exit 1
fi
printf '%s\n' "$block"

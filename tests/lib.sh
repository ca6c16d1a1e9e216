# tests/lib.sh - helpers for the end-to-end tests.  Sourced by every
# tests/e2e/*.sh script, which runs with BIN set to the directory holding
# the sanitizer builds of pop3d and pop3passwd.  Each check prints one
# "PASS name" or "FAIL name: reason" line; tests/e2e.sh counts them.
set -u
: "${BIN:?BIN must name the directory of the binaries under test}"
POP3D="$BIN/pop3d"
POP3PASSWD="$BIN/pop3passwd"
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}"

# A fresh scratch directory per script, removed at exit.
T=$(mktemp -d /tmp/pop3d-e2e.XXXXXX)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT

# When the tests run as root (as CI does), pop3d runs as "nobody": a
# session in pipe mode keeps the identity it was started with, and root
# itself is never served.  Files a session must own go through own().
RUNAS=()
TEST_USER=$(id -un)
if [ "$(id -u)" = 0 ]; then
	RUNAS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	TEST_USER=nobody
	chown nobody:nogroup "$T"
fi
own() { if [ "$(id -u)" = 0 ]; then chown nobody:nogroup "$@"; fi; }

# run_pop3d ARGS...: the binary under test, as the session user.
run_pop3d() { "${RUNAS[@]}" "$POP3D" "$@"; }

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# check NAME COMMAND...: PASS if the command succeeds.
check() {
	local name=$1; shift
	if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

# Writes CRLF-terminated lines: crlf 'USER a' 'PASS b'
crlf() { local l; for l in "$@"; do printf '%s\r\n' "$l"; done; }

# mkhash PASSWORD [SETTING]: a crypt(3) hash made by libxcrypt through
# Perl's crypt() (Debian's perl links libcrypt).  The default setting is
# sha512-crypt with a fixed salt; pass '$y$j9T$...' etc. for others.
mkhash() {
	perl -e 'print crypt($ARGV[0], $ARGV[1] // q{$6$saltsalt$})' "$1" "${2:-\$6\$saltsalt\$}"
}

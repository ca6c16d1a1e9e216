#!/bin/sh
# tests/unpack-deb.sh PKG: prints the directory holding Debian package
# PKG unpacked (dpkg-deb -x), not installed, downloading it when this
# machine has no copy of the candidate version yet.  For peers the tests
# run beside others that conflict with them: courier-pop, dovecot-pop3d
# and popa3d all provide and conflict with pop3-server, so installing one
# (another test, a benchmark) removes the other -- an installed binary can
# vanish in the middle of a test.  An unpacked copy cannot.  Its shared
# libraries must be installed by the caller (they do not conflict).
# Cached in /var/cache/pop3d-tests, one unpacker at a time.
set -eu
pkg=${1:?usage: unpack-deb.sh PKG}
CACHE=/var/cache/pop3d-tests
mkdir -p "$CACHE"
if [ -z "${POP3D_UNPACK_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
	POP3D_UNPACK_LOCKED=1 exec flock "$CACHE/.lock" sh "$0" "$@"
fi
ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2; exit }')
case $ver in "" | "(none)")
	apt-get update -q >/dev/null 2>&1 || :
	ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2; exit }') ;;
esac
case $ver in "" | "(none)") echo "unpack-deb.sh: no candidate version of $pkg" >&2; exit 1 ;; esac
dir=$CACHE/$pkg-$(printf '%s' "$ver" | tr -c 'A-Za-z0-9.+~-' '_')
if [ ! -e "$dir/.done" ]; then
	rm -rf "$dir" "$dir.deb"
	mkdir -p "$dir.deb"
	chmod 777 "$dir.deb"	# apt-get download runs as _apt
	(cd "$dir.deb" && apt-get download -q "$pkg=$ver" >/dev/null 2>&1) ||
		{ apt-get update -q >/dev/null 2>&1 && (cd "$dir.deb" && apt-get download -q "$pkg=$ver" >/dev/null); } ||
		{ echo "unpack-deb.sh: apt-get download $pkg=$ver failed" >&2; exit 1; }
	dpkg-deb -x "$dir.deb"/*.deb "$dir"
	rm -rf "$dir.deb"
	chmod -R go+rX "$dir"
	chmod 755 "$dir"
	: >"$dir/.done"
fi
printf '%s\n' "$dir"

#!/bin/sh
# tests/apt-install.sh PKG...: installs Debian packages for the build, the
# tests or the fuzzers, as root or through sudo; if the package lists are
# stale, updates them once and tries again.  Used by tests/setup-deps.sh
# and fuzz/setup-deps.sh, which decide what is missing.
set -eu

# Test scripts run side by side (tests/e2e.sh): one installer at a time,
# and apt waits for a lock someone else holds instead of failing.
if [ -z "${POP3D_APT_LOCKED:-}" ] && command -v flock >/dev/null 2>&1 &&
    [ -w /run/lock ]; then
	POP3D_APT_LOCKED=1 exec flock /run/lock/pop3d-apt.lock sh "$0" "$@"
fi

echo "pop3d: installing missing packages: $*" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "pop3d: please install as root: apt-get install $*" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -o DPkg::Lock::Timeout=300 -y -q "$@" >/dev/null 2>&1 || {
	$SUDO apt-get update -o DPkg::Lock::Timeout=300 -q >/dev/null
	$SUDO apt-get install -o DPkg::Lock::Timeout=300 -y -q "$@" >/dev/null
}

#!/bin/sh
# Installs what pop3d needs to build and test, from Debian's packages,
# only when something is missing.  Used by `make check` and `make demo`.
set -eu

# Build: compiler, pkg-config, libxcrypt, libmd (MD5), libxxhash (journal
# and index cache checksums), OpenSSL 3 (headers; libssl3 is loaded at run
# time for TLS), GNU SASL (AUTH's mechanisms: sasl.c), Check.
# Tests: perl (crypt(3) hashes), util-linux (setpriv), procps, time, and
# gsasl (GNU SASL's client: tests/e2e/sasl.sh answers CRAM-MD5 with it).
PKGS="gcc make pkg-config libcrypt-dev libmd-dev libxxhash-dev libssl-dev libpam0g-dev libgsasl-dev check libsubunit-dev \
perl util-linux procps time gsasl"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
# shellcheck disable=SC2086 # a list of package names
[ -z "$missing" ] || sh "$(dirname "$0")/apt-install.sh" $missing

# Root mode (privilege separation) needs an unprivileged account and an
# empty directory; the tests and the demo run as root, so create them
# here, saying so.  (make install creates only the directory, the Debian
# package both: see the README.)
if [ "$(id -u)" -eq 0 ]; then
	if ! getent passwd pop3d >/dev/null; then
		echo "pop3d: creating the system account pop3d (pre-login process)" >&2
		useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin pop3d
	fi
	if [ ! -d /var/lib/pop3d/empty ]; then
		echo "pop3d: creating the empty directory /var/lib/pop3d/empty" >&2
		install -d -m 755 -o root -g root /var/lib/pop3d/empty
	fi
fi

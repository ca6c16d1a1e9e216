#!/usr/bin/env bash
# tests/deb.sh - the Debian package (make deb-check; slow, so not part of
# make check).  As root:
#  - builds it with dpkg-buildpackage -us -uc -b from a clean copy of HEAD
#    (git archive: uncommitted files stay out; DEB_WORKTREE=1 copies the
#    work tree's tracked and untracked, not ignored files instead), with
#    the build dependencies installed when missing;
#  - lintian reports no error on the .deb, the .changes and the .buildinfo
#    (warnings are printed; debian/README.source justifies those left);
#  - installs it (apt-get install ./pop3d_*.deb): the pop3d account, the
#    empty directory /var/lib/pop3d/empty, the conffiles registered (the
#    settings file /etc/pop3d/pop3d.conf among them, with "auth = pam"
#    active), the xinetd files disabled, pop3d.socket enabled (its wants
#    symlink: systemd is not PID 1 here), pop3s.socket and the template
#    services not;
#  - the installed service files carry no settings: pop3d@.service and
#    xinetd's pop3 start pop3d with no options, pop3s@.service and
#    xinetd's pop3s with --tls alone;
#  - a real session (USER, PASS, STAT, RETR, DELE, QUIT) of a system user
#    made here (uid 1000 or more, its password set with chpasswd and
#    checked through PAM), with mail in /var/mail/USER, through
#    systemd-socket-activate on a free loopback port running the installed
#    pop3d@.service's ExecStart= command line, and through the installed
#    xinetd file, enabled in a private copy (free port, 127.0.0.1,
#    UNLISTED): pop3d with no options and no POP3D_CONFIG, so with only
#    /etc/pop3d/pop3d.conf; then port 995 as README.Debian says: a
#    certificate named in /etc/pop3d/pop3d.conf, the same session over
#    implicit TLS through pop3s@.service's command line;
#  - apt-get purge removes every file dpkg -L listed, the conffiles,
#    /etc/pop3d/pop3d.conf (changed by then, as an administrator would),
#    /var/lib/pop3d, /etc/pop3d and the account (when the package made
#    it: an account that existed before is the administrator's and is
#    kept).
# A pop3d package installed before the test is saved with dpkg-repack and
# installed again at the end; without dpkg-repack the test refuses to run.
# Prints PASS/FAIL lines and a final "N passed, N failed" line.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
# lib.sh's helpers (free_port, listening, crlf, the users lock), with the
# installed binaries as the ones under test.
BIN=/usr/sbin
# shellcheck source=tests/lib.sh
. "$TOP/tests/lib.sh"
[ "$(id -u)" = 0 ] && chown root:root "$T"

NPASS=0 NFAIL=0
pass() { echo "PASS $1"; NPASS=$((NPASS + 1)); }
fail() { echo "FAIL $1: $2"; NFAIL=$((NFAIL + 1)); }
note() { echo "note: $*"; }
summary() { echo "$NPASS passed, $NFAIL failed"; }

if [ "$(id -u)" != 0 ]; then
	echo "tests/deb.sh installs and purges a package: run it as root; skipped"
	summary
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=300 -y -q)
U=pop3ddeb
# The port 995 test's certificate and key: names of the test's own, so
# that an administrator's /etc/pop3d/cert.pem (kept when a package
# installed before is purged) is never touched.
CERT=/etc/pop3d/$U-test-cert.pem KEY=/etc/pop3d/$U-test-key.pem
PIDS=()
SAVED=''	# the .deb of a pop3d package installed before the test
OURS=no		# our package is installed (so cleanup purges it)

# What exists that the package also makes, kept as it was (set below).
HAD_ACCOUNT=no HAD_PRIVSEP=no SAVED_PW='' SAVED_GR=''
restore_state() {
	local name pw uid gid gecos home shell
	if [ -n "$SAVED_PW" ] && ! getent passwd pop3d >/dev/null; then
		IFS=: read -r name pw uid gid gecos home shell <<<"$SAVED_PW"
		if [ -n "$SAVED_GR" ] && ! getent group "$gid" >/dev/null; then
			groupadd --system -g "$gid" "${SAVED_GR%%:*}" ||
				echo "FAIL restore-account: groupadd ${SAVED_GR%%:*}"
		fi
		useradd --system --no-create-home -u "$uid" -g "$gid" -c "$gecos" \
			-d "$home" -s "$shell" "$name" || echo "FAIL restore-account: useradd $name"
	fi
	if [ "$HAD_PRIVSEP" = yes ] && [ ! -d /var/lib/pop3d/empty ]; then
		install -d -m 755 -o root -g root /var/lib/pop3d/empty
	fi
	if [ -n "$SAVED" ] && ! dpkg-query -W -f='${Status}' pop3d 2>/dev/null | grep -q 'ok installed'; then
		dpkg -i "$SAVED" >/dev/null 2>&1 || echo "FAIL restore-saved-package: dpkg -i $SAVED failed"
	fi
}
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if [ "$OURS" = yes ]; then "${APT[@]}" purge pop3d >/dev/null 2>&1; fi
	restore_state
	userdel "$U" 2>/dev/null
	rm -f "/var/mail/$U" "/var/mail/$U.lock" "$CERT" "$KEY"
	rm -rf "$T"
}
trap cleanup EXIT

# ------------------------------------------------ the state before

if dpkg-query -W -f='${Status}' pop3d 2>/dev/null | grep -q 'ok installed'; then
	command -v dpkg-repack >/dev/null || sh "$TOP/tests/apt-install.sh" dpkg-repack >/dev/null 2>&1
	if ! command -v dpkg-repack >/dev/null; then
		echo "a pop3d package is installed and dpkg-repack is missing: not replacing it; skipped"
		summary
		exit 0
	fi
	mkdir -p "$T/saved"
	if ! (cd "$T/saved" && dpkg-repack pop3d >"$T/repack.log" 2>&1); then
		echo "could not save the installed pop3d package (dpkg-repack: $(tail -n 1 "$T/repack.log")); skipped"
		summary
		exit 0
	fi
	SAVED=$(ls "$T"/saved/pop3d_*.deb)
	note "the installed pop3d $(dpkg-query -W -f='${Version}' pop3d) is saved as $SAVED and installed again at the end"
	"${APT[@]}" purge pop3d >/dev/null 2>&1 || { fail purge-installed-package "apt-get purge pop3d failed"; exit 1; }
fi
# An account made before (tests/setup-deps.sh makes one for make check,
# so CI always has it) is taken away for the test and made again at the
# end, with its ids: otherwise the package's own account making and
# purging would never be tested there.  One in use is left alone, and
# the package must then keep it.

if getent passwd pop3d >/dev/null; then
	if pgrep -u pop3d >/dev/null 2>&1; then
		HAD_ACCOUNT=yes
	else
		SAVED_PW=$(getent passwd pop3d) SAVED_GR=$(getent group pop3d)
		if userdel pop3d 2>"$T/userdel.err"; then
			getent group pop3d >/dev/null && groupdel pop3d 2>/dev/null
			note "the account pop3d made before the test is removed for it and made again at the end ($SAVED_PW)"
		else
			HAD_ACCOUNT=yes SAVED_PW='' SAVED_GR=''
			note "could not remove the account pop3d for the test: $(cat "$T/userdel.err")"
		fi
	fi
fi
[ -d /var/lib/pop3d/empty ] && HAD_PRIVSEP=yes
[ "$HAD_ACCOUNT" = yes ] && note "the account pop3d exists before the test: the package must keep it at purge"

# ------------------------------------------------ build

SRC=$T/build/pop3d
mkdir -p "$SRC"
git -C "$TOP" status --porcelain --ignored >"$T/tree.before" 2>&1
if [ -n "${DEB_WORKTREE:-}" ]; then
	# shellcheck disable=SC2016 # expanded by that sh
	(cd "$TOP" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -C "$SRC" -xf -
	note "built from the work tree (DEB_WORKTREE), not from HEAD"
else
	git -C "$TOP" archive HEAD | tar -C "$SRC" -xf -
fi
check tree-has-debian test -f "$SRC/debian/control"
if ! (cd "$SRC" && dpkg-checkbuilddeps) >/dev/null 2>&1; then
	note "installing the build dependencies"
	sh "$TOP/tests/apt-install.sh" dpkg-dev >/dev/null 2>&1
	(cd "$SRC" && "${APT[@]}" build-dep ./) >"$T/build-dep.log" 2>&1 ||
		fail build-deps "apt-get build-dep: $(tail -n 2 "$T/build-dep.log" | tr '\n' ' ')"
fi
command -v lintian >/dev/null || sh "$TOP/tests/apt-install.sh" lintian >/dev/null 2>&1
(cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1
rc=$?
equal dpkg-buildpackage-status 0 "$rc"
[ "$rc" = 0 ] || { tail -n 15 "$T/build.log"; exit 1; }
DEB=$(echo "$T"/build/pop3d_*_*.deb)
CHANGES=$(echo "$T"/build/pop3d_*.changes)
BUILDINFO=$(echo "$T"/build/pop3d_*.buildinfo)
# -Werror and the hardening flags reached the compiler.
if grep -E '^(cc|gcc) .*-Werror' "$T/build.log" | grep -q -- '-fstack-protector-strong' &&
	grep -E '^(cc|gcc) ' "$T/build.log" | grep -q -- '-D_FORTIFY_SOURCE=2' &&
	grep -E '^(cc|gcc) ' "$T/build.log" | grep -q -- '-Wl,-z,now'; then
	pass build-flags-hardened-and-werror
else
	fail build-flags-hardened-and-werror "$(grep -m1 -E '^(cc|gcc) ' "$T/build.log")"
fi
# The build happened in the copy: the work tree is as it was.
git -C "$TOP" status --porcelain --ignored >"$T/tree.after" 2>&1
if cmp -s "$T/tree.before" "$T/tree.after"; then pass build-leaves-work-tree-alone
else fail build-leaves-work-tree-alone "$(diff "$T/tree.before" "$T/tree.after" | grep '^[<>]' | head -n 3 | tr '
' ' ')"; fi

# ------------------------------------------------ lintian

lintian --allow-root "$DEB" "$CHANGES" "$BUILDINFO" >"$T/lintian.log" 2>&1
errors=$(grep -c '^E: ' "$T/lintian.log")
equal lintian-no-errors 0 "$errors"
[ "$errors" = 0 ] || grep '^E: ' "$T/lintian.log" | head -n 10
grep '^W: ' "$T/lintian.log" | sed 's/^/lintian: /'
if grep -q '^W: ' "$T/lintian.log"; then note "lintian warnings above: each must be justified in debian/README.source"; fi

# ------------------------------------------------ contents

dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's,^\.,,; s,/$,,' >"$T/contents"
missing=''
# Every file in /etc is a conffile.
EXPECT_CONFFILES=(/etc/pam.d/pop3d /etc/pop3d/pop3d.conf /etc/xinetd.d/pop3 /etc/xinetd.d/pop3s
	/etc/fail2ban/filter.d/pop3d.conf /etc/fail2ban/jail.d/pop3d.conf)
for f in /usr/sbin/pop3d /usr/sbin/pop3passwd /usr/share/man/man8/pop3d.8.gz \
	/usr/share/man/man8/pop3passwd.8.gz "${EXPECT_CONFFILES[@]}" \
	/lib/systemd/system/pop3d.socket /lib/systemd/system/pop3d@.service \
	/lib/systemd/system/pop3s.socket /lib/systemd/system/pop3s@.service \
	/var/lib/pop3d/empty /usr/share/doc/pop3d/README.Debian /usr/share/doc/pop3d/copyright; do
	grep -qxF "$f" "$T/contents" || missing="$missing $f"
done
equal package-contents "" "$missing"
equal package-version-is-pop3d-version \
	"$(sed -n 's/^#define POP3D_VERSION "\(.*\)"/\1/p' "$SRC/params.h")" \
	"$(dpkg-deb -f "$DEB" Version)"

# ------------------------------------------------ install

"${APT[@]}" install "$DEB" >"$T/install.log" 2>&1
rc=$?
equal apt-install-status 0 "$rc"
[ "$rc" = 0 ] || { tail -n 10 "$T/install.log"; exit 1; }
OURS=yes
dpkg -L pop3d | sort >"$T/listed"
if grep -q 'POP3S on port 995 (pop3s.socket) is not enabled' "$T/install.log"; then pass postinst-says-995-not-enabled
else fail postinst-says-995-not-enabled "no such message: $(grep -m2 pop3d: "$T/install.log" | tr '\n' ' ')"; fi

acct=$(getent passwd pop3d)
case $acct in
pop3d:x:*:*:*:/nonexistent:/usr/sbin/nologin) pass "account-pop3d ($acct)" ;;
*) fail account-pop3d "getent passwd pop3d: '$acct'" ;;
esac
uid=$(id -u pop3d 2>/dev/null || echo none)
if [ "$uid" != none ] && [ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ]; then pass account-pop3d-is-system
else fail account-pop3d-is-system "uid $uid"; fi
equal privsep-dir "root:root 755 0" \
	"$(stat -c '%U:%G %a' /var/lib/pop3d/empty 2>&1) $(find /var/lib/pop3d/empty -mindepth 1 2>/dev/null | wc -l)"

dpkg-query -W -f='${Conffiles}\n' pop3d | awk 'NF { print $1 }' | sort >"$T/conffiles"
equal conffiles-registered "$(printf '%s\n' "${EXPECT_CONFFILES[@]}" | sort | xargs)" "$(xargs <"$T/conffiles")"
for x in pop3 pop3s; do
	equal "xinetd-$x-disabled" "disable = yes" \
		"$(awk '$1 == "disable" { print $1, $2, $3 }' "/etc/xinetd.d/$x")"
done

# The settings: the package's file selects PAM (the system's accounts),
# and it is what an installed pop3d with no options reads.
C=/etc/pop3d/pop3d.conf
equal settings-file-owner-mode "root:root 644" "$(stat -c '%U:%G %a' "$C" 2>&1)"
equal settings-file-auth-pam "auth = pam" "$(grep -E '^[[:space:]]*auth[[:space:]]*=' "$C")"
env -u POP3D_CONFIG /usr/sbin/pop3d --check-config >"$T/cc.out" 2>"$T/cc.err"
rc=$?
equal check-config-status 0 "$rc"
[ "$rc" = 0 ] || sed 's/^/check-config: /' "$T/cc.err" | head -n 5
if grep -qE "^ +auth +pam .*\[$C:[0-9]+\]\$" "$T/cc.out" && grep -qE "^ +config +$C\$" "$T/cc.out"; then
	pass check-config-auth-pam-from-settings-file
else
	fail check-config-auth-pam-from-settings-file "$(grep -E '^ +(config|auth) ' "$T/cc.out" | tr '\n' '|')"
fi
# The service files carry no settings, only port 995's --tls.
equal unit-pop3d-execstart /usr/sbin/pop3d "$(sed -n 's/^ExecStart=//p' /lib/systemd/system/pop3d@.service)"
equal unit-pop3s-execstart "/usr/sbin/pop3d --tls" "$(sed -n 's/^ExecStart=//p' /lib/systemd/system/pop3s@.service)"
equal xinetd-pop3-no-server-args "" "$(awk '$1 == "server_args"' /etc/xinetd.d/pop3)"
equal xinetd-pop3s-server-args "--tls" "$(awk '$1 == "server_args" { $1 = $2 = ""; print }' /etc/xinetd.d/pop3s | xargs)"

W=/etc/systemd/system/sockets.target.wants
equal pop3d-socket-enabled /lib/systemd/system/pop3d.socket "$(readlink "$W/pop3d.socket")"
if [ -e "$W/pop3s.socket" ] || [ -L "$W/pop3s.socket" ]; then fail pop3s-socket-not-enabled "$W/pop3s.socket exists"
else pass pop3s-socket-not-enabled; fi
stray=$(find /etc/systemd/system -name 'pop3d@*' -o -name 'pop3s@*' 2>/dev/null | tr '\n' ' ')
equal templates-not-enabled "" "$stray"
if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify /lib/systemd/system/pop3d.socket /lib/systemd/system/pop3s.socket 2>&1 |
		grep -v -e 'Failed to connect' -e 'Failed to setup' -e '^$' | grep -i -e pop3 | head -n 3)
	equal units-verify "" "$out"
fi

equal installed-version "pop3d $(dpkg-deb -f "$DEB" Version)" "$(/usr/sbin/pop3d --version 2>&1 | head -n 1 | awk '{ print $1, $2 }')"

# ------------------------------------------------ a real session

if ! command -v chpasswd >/dev/null || ! command -v systemd-socket-activate >/dev/null; then
	sh "$TOP/tests/apt-install.sh" passwd systemd >/dev/null 2>&1
fi
useradd -M -d /nonexistent -s /usr/sbin/nologin "$U"
echo "$U:deb-secret" | chpasswd
# A normal account, as the package serves (first-uid 1000).
uid_u=$(id -u "$U" 2>/dev/null || echo none)
if [ "$uid_u" != none ] && [ "$uid_u" -ge 1000 ]; then pass "test-user-normal-account (uid $uid_u)"
else fail test-user-normal-account "uid $uid_u"; fi
MB=/var/mail/$U
FROM='From sender@example.org Mon Jan  1 10:00:00 2024'
put_mbox() {
	printf '%s\nSubject: one\n\nfirst body\n\n%s\nSubject: two\n\nsecond body\n' "$FROM" "$FROM" >"$MB"
	chown "$U:mail" "$MB"; chmod 660 "$MB"
}
SESSION=("USER $U" 'PASS deb-secret' STAT 'RETR 1' 'DELE 1' QUIT)

# tcp_session NAME PORT: the session, pipelined; the answers in $T/NAME.out.
tcp_session() {
	local fd
	if ! exec {fd}<>"/dev/tcp/127.0.0.1/$2"; then : >"$T/$1.out"; return 1; fi
	crlf "${SESSION[@]}" >&$fd
	timeout 20 cat <&$fd >"$T/$1.out"
	exec {fd}>&-
}
# check_session PREFIX NAME: every answer +OK, RETR 1 the first message,
# and DELE 1 applied at QUIT.
check_session() {
	local n
	n=$(grep -c '^+OK' "$T/$2.out")
	if [ "$n" -ge 7 ] && ! grep -q '^-ERR' "$T/$2.out"; then pass "$1-session-ok"
	else fail "$1-session-ok" "$(tr -d '\r' <"$T/$2.out" | tr '\n' '|' | cut -c1-300)"; fi
	answer_is "$1-stat" "$2" 4 '+OK 2 *'
	if tr -d '\r' <"$T/$2.out" | grep -qx 'first body'; then pass "$1-retr"
	else fail "$1-retr" "no 'first body' line"; fi
	if [ "$(grep -c '^From ' "$MB")" = 1 ] && grep -qx 'second body' "$MB"; then pass "$1-dele-applied"
	else fail "$1-dele-applied" "$(grep -c '^From ' "$MB") messages left"; fi
}
wait_listening() {
	local _
	for _ in $(seq 100); do listening "$1" && return 0; sleep 0.05; done
	return 1
}

# unit_words UNIT: the installed UNIT's ExecStart= (the last one), %%
# unescaped, as words in the array "words".
unit_words() {
	local line
	line=$(sed -n 's/^ExecStart=//p' "$1" | tail -n 1)
	read -r -a words <<<"${line//%%/%}"
}
# Everything below runs the installed pop3d as the launchers would, with
# the environment lib.sh gives the tests (POP3D_CONFIG naming no file)
# taken away: the settings are /etc/pop3d/pop3d.conf's alone.

# systemd: the installed pop3d@.service's command line.
unit_words /lib/systemd/system/pop3d@.service
put_mbox
SPORT=$(free_port 22110 22149)
env -u POP3D_CONFIG systemd-socket-activate --accept --inetd -l "127.0.0.1:$SPORT" "${words[@]}" 2>"$T/sa.log" &
PIDS+=("$!")
if wait_listening "$SPORT"; then
	tcp_session sa "$SPORT"
	check_session socket-activate sa
else
	fail socket-activate-listens "nothing on 127.0.0.1:$SPORT: $(tail -n 2 "$T/sa.log" | tr '\n' ' ')"
fi

# xinetd: the installed file, enabled, in a private configuration.
command -v xinetd >/dev/null || sh "$TOP/tests/apt-install.sh" xinetd >/dev/null 2>&1
if ! command -v xinetd >/dev/null; then
	fail xinetd-installed "xinetd is missing and could not be installed"
else
	XPORT=$(free_port 22150 22199)
	# The installed entry as an administrator enables it, moved to a
	# free loopback port; its server and (absent) server_args as they are.
	{
		printf 'defaults\n{\n\tlog_type = FILE %s\n}\n\n' "$T/xinetd.log"
		sed -e 's/^\([[:space:]]*disable[[:space:]]*=\).*/\1 no/' \
		    -e '/^[[:space:]]*port[[:space:]]*=/d' \
		    -e "s,^\([[:space:]]*log_type[[:space:]]*=\).*,\1 FILE $T/xinetd.log," \
		    -e "/^}/i\\
	type		= UNLISTED\\
	port		= $XPORT\\
	bind		= 127.0.0.1" /etc/xinetd.d/pop3
	} >"$T/xinetd.conf"
	env -u POP3D_CONFIG xinetd -dontfork -filelog "$T/xinetd-daemon.log" -f "$T/xinetd.conf" \
		-pidfile "$T/xinetd.pid" 2>"$T/xinetd.err" &
	PIDS+=("$!")
	put_mbox
	if wait_listening "$XPORT"; then
		tcp_session xi "$XPORT"
		check_session xinetd xi
	else
		fail xinetd-listens "nothing on 127.0.0.1:$XPORT: $(tail -n 3 "$T/xinetd-daemon.log" "$T/xinetd.err" 2>/dev/null | tr '\n' ' ')"
	fi
fi
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
PIDS=()

# Port 995, as README.Debian says: a certificate and its key named in
# /etc/pop3d/pop3d.conf (the commented tls-cert/tls-key lines made
# active), then pop3s@.service, which adds --tls.
command -v openssl >/dev/null || sh "$TOP/tests/apt-install.sh" openssl >/dev/null 2>&1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=localhost -keyout "$KEY" -out "$CERT" >"$T/req.log" 2>&1
chmod 600 "$KEY"
# As README.Debian says: two lines added to the file.
printf 'tls-cert = %s\ntls-key = %s\n' "$CERT" "$KEY" >>"$C"
equal settings-file-tls-lines "tls-cert = $CERT|tls-key = $KEY|" \
	"$(grep -E '^tls-(cert|key) = ' "$C" | tr '\n' '|')"
env -u POP3D_CONFIG /usr/sbin/pop3d --check-config --tls >"$T/cc-tls.out" 2>"$T/cc-tls.err"
equal check-config-tls-status 0 "$?"
unit_words /lib/systemd/system/pop3s@.service
put_mbox
TPORT=$(free_port 22200 22249)
env -u POP3D_CONFIG systemd-socket-activate --accept --inetd -l "127.0.0.1:$TPORT" "${words[@]}" 2>"$T/tls-sa.log" &
PIDS+=("$!")
if wait_listening "$TPORT"; then
	crlf "${SESSION[@]}" | timeout 20 openssl s_client -quiet -CAfile "$CERT" -verify_return_error \
		-connect "127.0.0.1:$TPORT" >"$T/tls.out" 2>"$T/tls.err"
	check_session pop3s-socket-activate tls
else
	fail pop3s-socket-activate-listens "nothing on 127.0.0.1:$TPORT: $(tail -n 2 "$T/tls-sa.log" | tr '\n' ' ')"
fi
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
PIDS=()
# The administrator's files go before the purge, which keeps /etc/pop3d
# while they are there.
rm -f "$CERT" "$KEY"

# ------------------------------------------------ purge

# Directories that others own or that existed before stay; every file and
# every directory only the package made must go.
"${APT[@]}" purge pop3d >"$T/purge.log" 2>&1
rc=$?
equal apt-purge-status 0 "$rc"
OURS=no
left=''
while read -r p; do
	[ "$p" = /. ] && continue
	[ -e "$p" ] || [ -L "$p" ] || continue
	if [ -d "$p" ]; then	# a directory, or a link to one (/lib)
		dpkg -S "$p" >/dev/null 2>&1 && continue
		[ -n "$(ls -A "$p" 2>/dev/null)" ] && [ "$p" != /var/lib/pop3d ] && [ "$p" != /etc/pop3d ] && continue
	fi
	left="$left $p"
done <"$T/listed"
equal purge-removes-package-files "" "$left"
left=''
while read -r p; do [ -e "$p" ] && left="$left $p"; done <"$T/conffiles"
equal purge-removes-conffiles "" "$left"
if [ -e "$C" ]; then fail purge-removes-settings-file "$C is left"; else pass purge-removes-settings-file; fi
for d in /var/lib/pop3d /etc/pop3d; do
	if [ -e "$d" ]; then fail "purge-removes-$d" "$(ls -A "$d" | head -n 3 | xargs)"; else pass "purge-removes-$d"; fi
done
if [ -L "$W/pop3d.socket" ] || [ -e /var/lib/systemd/deb-systemd-helper-enabled/pop3d.socket.dsh-also ]; then
	fail purge-removes-socket-enablement "$(ls -l "$W/pop3d.socket" 2>&1)"
else
	pass purge-removes-socket-enablement
fi
if [ "$HAD_ACCOUNT" = yes ]; then
	if getent passwd pop3d >/dev/null; then pass purge-keeps-existing-account
	else fail purge-keeps-existing-account "the account made before the package is gone"; fi
else
	if getent passwd pop3d >/dev/null || getent group pop3d >/dev/null; then
		fail purge-removes-account "$(getent passwd pop3d) $(getent group pop3d)"
	else
		pass purge-removes-account
	fi
fi
summary
[ "$NFAIL" = 0 ]

#!/usr/bin/env bash
# tests/popa3d-oracle.sh - ask Debian's popa3d 1.0.3 what it says about an
# mbox, so the end-to-end tests can hold pop3d's UIDL (and LIST) to it.
#
#   tests/popa3d-oracle.sh [--uidl] MBOXFILE   "N UID" lines, as popa3d sends
#   tests/popa3d-oracle.sh --list MBOXFILE     "N SIZE" lines, likewise
#
# Prints the listing without CRs, without the "+OK" line and without the
# final "."; an empty maildrop prints nothing.  Exits non-zero with a message
# on stderr if anything fails.  Must run as root.
#
# How: popa3d is run in its default inetd mode with the POP3 session on its
# stdin and the replies read from its stdout; no network listener is started.
# It authenticates through PAM (pam_unix, /etc/shadow), drops to its own
# "popa3d" user for the protocol work and to the mailbox owner for the
# maildrop, which is /var/mail/USER.  So the script keeps a dedicated system
# account (ORACLE_USER) with a known password, copies the given mbox to that
# account's spool file (the caller's file is never handed to popa3d), and
# removes the copy afterwards.  The account is kept for later runs.  Calls
# are serialized with a lock file because they share the one spool file.
set -euo pipefail

ORACLE_USER=pop3doracle
ORACLE_PASS='Oracle-pw-7f3a1c'
ORACLE_HOME=/var/lib/pop3doracle
POPA3D=/usr/sbin/popa3d
SPOOL=/var/mail/$ORACLE_USER
LOCKFILE=/run/lock/popa3d-oracle.lock
TIMEOUT=30	# seconds for one popa3d session; a real one takes milliseconds

prog=${0##*/}
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }
usage() { die "usage: $prog [--uidl|--list] MBOXFILE"; }

mode=UIDL
case "${1-}" in
--list) mode=LIST; shift ;;
--uidl) mode=UIDL; shift ;;
--*) usage ;;
esac
[ $# -eq 1 ] || usage
mbox=$1
[ -f "$mbox" ] || die "$mbox: not a regular file"
[ -r "$mbox" ] || die "$mbox: not readable"
[ "$(id -u)" -eq 0 ] || die "must be run as root (popa3d authenticates via PAM/shadow)"

# Installs popa3d when missing.  Debian's postinst would start a standalone
# daemon on port 110 (popa3d/standalone defaults to true); a temporary
# policy-rc.d forbids that when the system has none of its own.
ensure_popa3d() {
	[ -x "$POPA3D" ] && return 0
	command -v apt-get >/dev/null || die "popa3d is missing and apt-get is not available"
	local own_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	local rc=0
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y popa3d >&2; then
		apt-get update >&2 && apt-get install -y popa3d >&2 || rc=$?
	fi
	if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
	[ "$rc" -eq 0 ] || die "apt-get install -y popa3d failed"
	[ -x "$POPA3D" ] || die "popa3d installed but $POPA3D is missing"
}

# Creates the oracle account when missing, and (re)sets its password only
# when /etc/shadow does not already hold a hash of ORACLE_PASS.
ensure_account() {
	if ! getent passwd "$ORACLE_USER" >/dev/null; then
		useradd --system --user-group --create-home --home-dir "$ORACLE_HOME" \
			--shell /usr/sbin/nologin --comment 'popa3d test oracle' \
			"$ORACLE_USER" || die "useradd $ORACLE_USER failed"
	fi
	local hash
	hash=$(getent shadow "$ORACLE_USER" | cut -d: -f2) || hash=
	if [ -z "$hash" ] || ! perl -e 'exit(crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? 0 : 1)' \
			"$ORACLE_PASS" "$hash" 2>/dev/null; then
		printf '%s:%s\n' "$ORACLE_USER" "$ORACLE_PASS" | chpasswd ||
			die "chpasswd for $ORACLE_USER failed"
	fi
}

ensure_popa3d
exec 9>"$LOCKFILE" || die "cannot open $LOCKFILE"
flock -w 120 9 || die "timed out waiting for $LOCKFILE"
ensure_account

out=$(mktemp /tmp/popa3d-oracle.XXXXXX)
cleanup() { rm -f "$SPOOL" "$out"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# install(1) unlinks any old spool file first, so a stale file or link from
# an interrupted run is replaced, never written through.
install -o "$ORACLE_USER" -g mail -m 0660 "$mbox" "$SPOOL" ||
	die "cannot copy $mbox to $SPOOL"
# popa3d sleeps for a second after reading a maildrop modified within the
# current second (so a later change is sure to move its mtime); an old mtime
# keeps each call fast.  The timestamp plays no part in UIDL or LIST.
touch -d '2000-01-01 00:00:00 UTC' "$SPOOL" || die "cannot set the mtime of $SPOOL"

# popa3d reads both LF and CRLF commands; send CRLF as a real client would.
rc=0
printf '%s\r\n' "USER $ORACLE_USER" "PASS $ORACLE_PASS" "$mode" QUIT |
	(cd / && timeout "$TIMEOUT" "$POPA3D") >"$out" 2>&1 || rc=$?

# Expected: greeting, USER, PASS and the command's "+OK" lines, the listing,
# ".", then QUIT's "+OK".  Anything else is reported with the transcript.
if ! awk -v want="$mode" '
	{ sub(/\r$/, "") }
	NR <= 4 { if ($0 !~ /^\+OK/) { err = "reply " NR " is not +OK: " $0; exit 1 } next }
	!done && $0 == "." { done = 1; next }
	!done {
		if ($0 !~ /^[0-9]+ [!-~]+$/) { err = "malformed " want " line: " $0; exit 1 }
		line[++n] = $0; next
	}
	done && !quit { if ($0 !~ /^\+OK/) { err = "QUIT reply is not +OK: " $0; exit 1 } quit = 1; next }
	{ err = "unexpected trailing output: " $0; exit 1 }
	END {
		if (err != "") { print err > "/dev/stderr"; exit 1 }
		if (!quit) { print "session ended early (" NR " lines)" > "/dev/stderr"; exit 1 }
		for (i = 1; i <= n; i++) print line[i]
	}' "$out"; then
	{
		echo "$prog: popa3d (exit status $rc) did not give a $mode listing for $mbox; transcript:"
		sed 's/\r$//; s/^/  | /' "$out"
	} >&2
	exit 1
fi
[ "$rc" -eq 0 ] || die "popa3d exited with status $rc"

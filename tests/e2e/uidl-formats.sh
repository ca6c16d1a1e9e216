#!/usr/bin/env bash
# tests/e2e/uidl-formats.sh - --uidl-format dovecot and x-uidl on mbox
# maildrops: the ids Dovecot's mbox driver (X-IMAPbase/X-UID) and qpopper
# or mailutils (X-UIDL) wrote into the file are shown; messages without a
# usable header, malformed headers, headers in the body and ids another
# message already shows fall back to the default (popa3d) id; the index
# cache never serves one format's ids to another; --check-config shows the
# setting and a bad value is refused like any other.
#
# The malformed and edge cases are written here as Dovecot's mbox driver
# reads them (X-IMAPbase: UIDVALIDITY LASTUID [keywords] in the first
# message, X-UID: N increasing).  Then Dovecot itself (its pop3 binary,
# from Debian's dovecot-pop3d unpacked, with dovecot-core's libraries)
# writes the headers into an mbox over three sessions with new mail and
# a deletion between them, and its whole UIDL listing must be pop3d's.
. "$(dirname "$0")/../lib.sh"

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
mkdir "$T/mail"
own "$T/passwd" "$T/mail"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")
MBOX=$T/mail/alice

# uidl NAME ARGS...: UIDL of alice's maildrop as it is, with ARGS; the
# listing as "N UID" lines in $T/NAME.uidl.
uidl() {
	local name=$1; shift
	crlf 'USER alice' 'PASS secret' UIDL QUIT | pop "$name" "${POP[@]}" "$@"
	exited "$name"
	perl -ne 's/\r\n\z/\n/; next if $. <= 4; last if $_ eq ".\n"; print' \
		"$T/$name.out" >"$T/$name.uidl"
}
# put FILE: FILE becomes alice's maildrop.
put() { cp "$1" "$MBOX"; own "$MBOX"; }
# msg N HEADER...: a message of the test mbox, with a Message-ID of its
# own (so no two messages share a default id) and a body.
msg() {
	local n=$1; shift
	printf 'From sender@example.org Mon Jan  1 10:00:0%d 2024\n' "$((n % 10))"
	printf 'Received: from mx by host; Mon, 1 Jan 2024 10:00:00 +0000 (%d)\n' "$n"
	printf 'Message-ID: <m%d@example.org>\n' "$n"
	local h; for h in "$@"; do printf '%s\n' "$h"; done
	printf 'Subject: message %d\n\nbody of %d\n\n' "$n" "$n"
}
# want NAME EDITS...: the popa3d listing $T/NAME.uidl with the lines
# "N ID" of EDITS replacing those of the same numbers, into $T/NAME.want.
want() {
	local name=$1; shift
	perl -e 'my %r = map { split / /, $_, 2 } @ARGV[1..$#ARGV];
		open(F, "<", $ARGV[0]) or die;
		while (<F>) { my ($n) = /^(\d+) /; print exists $r{$n} ? "$n $r{$n}\n" : $_ }' \
		"$T/$name.uidl" "$@" >"$T/$name.want"
}

# ------------------------------------------------------------ dovecot

# UIDVALIDITY 1700000000 = 0x6553f100, last UID 5.
{
	msg 1 'X-IMAPbase: 1700000000 0000000005 $Junk NonJunk' 'X-UID: 1' 'Status: RO'
	msg 2 'X-UID: 2' 'X-Keywords: $Junk'
	msg 3                                   # no X-UID: Dovecot gives it 6
	msg 4 'X-UID: 4'                        # below 6: Dovecot reassigns
	msg 5 'X-UID:   9  '                    # above: kept (next is 10)
	msg 6 'X-UID: 9x'                       # malformed
	msg 7 'X-UID: 11' ' folded'             # folded: malformed
	msg 8 'X-UID: 12' 'X-UID: 13'           # the first counts
	msg 9 'x-uid: 14'                       # names are case-insensitive
	msg 10 'X-UID: 99999999999'             # over 32 bits
	msg 11 'X-UID: 0'                       # not above the previous one
	msg 12 'X-UID: 13'                      # not above 14
	printf 'From sender@example.org Mon Jan  1 10:00:00 2024\nMessage-ID: <m13@example.org>\n\nX-UID: 20\n\n'
	msg 14 'X-UID: 4294967295'
} >"$T/dovecot.mbox"
put "$T/dovecot.mbox"
uidl dovecot-default
uidl dovecot-fmt --uidl-format dovecot
want dovecot-default 1 000000016553f100 2 000000026553f100 5 000000096553f100 \
	8 0000000c6553f100 9 0000000e6553f100 14 ffffffff6553f100
same dovecot-x-uid-ids "$T/dovecot-default.want" "$T/dovecot-fmt.uidl"

# Without X-IMAPbase in the first message there is no UIDVALIDITY: every
# message falls back.  X-IMAPbase in a later message does not count.
{
	msg 1 'X-UID: 1'
	msg 2 'X-IMAPbase: 1700000000 5' 'X-UID: 2'
} >"$T/nobase.mbox"
put "$T/nobase.mbox"
uidl nobase-default
uidl nobase-fmt --uidl-format dovecot
same dovecot-no-imapbase-falls-back "$T/nobase-default.uidl" "$T/nobase-fmt.uidl"
{ msg 1 'X-IMAPbase: 0 5' 'X-UID: 1'; msg 2 'X-UID: 2'; } >"$T/zerobase.mbox"
put "$T/zerobase.mbox"
uidl zerobase-default
uidl zerobase-fmt --uidl-format dovecot
same dovecot-uidvalidity-0-falls-back "$T/zerobase-default.uidl" "$T/zerobase-fmt.uidl"

# --uidl-format popa3d is the default, the same ids.
put "$T/dovecot.mbox"
uidl dovecot-popa3d --uidl-format popa3d
same popa3d-format-is-the-default "$T/dovecot-default.uidl" "$T/dovecot-popa3d.uidl"

# ------------------------------------------------- Dovecot, live

# dc_pop3 NAME COMMAND...: one pre-authenticated session of Dovecot's
# pop3 on $T/dc/inbox as the test user, output in $T/NAME.out.
dc_pop3() {
	local name=$1; shift
	crlf "$@" | (cd / && "${RUNAS[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		LC_ALL=C USER="$TEST_USER" HOME="$T/dc/home" "$DC_POP3" -c "$T/dc/dovecot.conf") \
		>"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
dovecot_live() {
	if [ ! -e /usr/lib/dovecot/libdovecot-storage.so.0 ] && [ "$(id -u)" = 0 ]; then
		# As bench/run.sh: dovecot-core's daemon must not start.
		local own_policy=
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod 755 /usr/sbin/policy-rc.d; own_policy=1
		fi
		sh "$TOP/tests/apt-install.sh" dovecot-core >/dev/null 2>&1
		systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
		[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
	fi
	[ -e /usr/lib/dovecot/libdovecot-storage.so.0 ] || return 1
	# dovecot-pop3d conflicts with popa3d (uidl-popa3d.sh installs it):
	# always the unpacked copy, which nothing can remove mid-test.
	local dir
	dir=$(sh "$TOP/tests/unpack-deb.sh" dovecot-pop3d 2>/dev/null) || return 1
	DC_POP3=$dir/usr/lib/dovecot/pop3
	[ -x "$DC_POP3" ] || return 1
	return 0
}
# dc_compare NAME: Dovecot's UIDL of the inbox as it is, and pop3d's
# with --uidl-format dovecot on the same bytes: identical.
dc_compare() {
	local name=$1
	dc_pop3 "dc-$name" UIDL QUIT
	perl -ne 's/\r\n\z/\n/; next if $. == 1; last if $_ eq ".\n"; print' \
		"$T/dc-$name.out" >"$T/dc-$name.uidl"
	put "$T/dc/inbox"
	uidl "pop3d-$name" --uidl-format dovecot
	if [ "$(cat "$T/dc-$name.rc")" = 0 ] && [ -s "$T/dc-$name.uidl" ]; then
		same "dovecot-live-$name-same-uidl" "$T/dc-$name.uidl" "$T/pop3d-$name.uidl"
	else
		fail "dovecot-live-$name-same-uidl" "Dovecot's session failed: $(head -c 300 "$T/dc-$name.err")"
	fi
}
if dovecot_live; then
	mkdir -p "$T/dc/home/mail" "$T/dc/index"
	{
		echo 'protocols = pop3'
		echo 'ssl = no'
		echo "mail_location = mbox:$T/dc/home/mail:INBOX=$T/dc/inbox:INDEX=$T/dc/index"
		echo 'log_path = /dev/stderr'
		echo '# X-UID and X-IMAPbase written into the mbox at once.'
		echo 'mbox_lazy_writes = no'
		echo 'pop3_uidl_format = %08Xu%08Xv'
	} >"$T/dc/dovecot.conf"
	chmod 644 "$T/dc/dovecot.conf"
	{ for n in 1 2 3 4 5; do msg "$n"; done; } >"$T/dc/inbox"
	own -R "$T/dc"
	dc_compare first
	check dovecot-live-wrote-x-uid grep -q '^X-UID: 5' "$T/dc/inbox"
	# New mail (no X-UID yet): Dovecot gives it the next UIDs.
	{ printf '\n'; msg 6; msg 7; } >>"$T/dc/inbox"
	dc_compare new-mail
	# A deletion (Dovecot moves X-IMAPbase to the new first message),
	# then more mail.
	dc_pop3 dc-dele "DELE 1" QUIT
	check dovecot-live-dele-ok grep -q "^+OK" <(sed -n 2p "$T/dc-dele.out")
	{ printf '\n'; msg 8; } >>"$T/dc/inbox"
	dc_compare after-dele
	check dovecot-live-ids-kept grep -q '^6 00000007' "$T/dc-after-dele.uidl"
else
	# As root (CI) the test sets Dovecot up itself: not being able to is
	# a failure, not a reason to compare nothing.
	if [ "$(id -u)" = 0 ]; then
		fail dovecot-live "Dovecot's pop3 could not be set up (dovecot-core, tests/unpack-deb.sh dovecot-pop3d)"
	else
		echo "NOTE dovecot-live: needs root to install dovecot-core; skipped"
	fi
fi

# ------------------------------------------------------------- x-uidl

LONG70=$(printf 'L%.0s' $(seq 70))
LONG71=$(printf 'L%.0s' $(seq 71))
{
	msg 1 'X-UIDL: 1a2b3c4d5e6f'                     # qpopper's hex ids
	msg 2 'X-UIDL: 1a2b3c4d5e6f'                     # taken: falls back
	msg 3                                            # none: falls back
	msg 4 'X-UIDL: has space'                        # malformed
	msg 5 "X-UIDL: $LONG71"                          # too long
	msg 6 "X-UIDL: $LONG70"                          # 70: fine
	printf 'From sender@example.org Mon Jan  1 10:00:00 2024\nMessage-ID: <m7@example.org>\n\nX-UIDL: in-the-body\n\n'
	msg 8 'x-uidl:    <mailutils.8@host>   '         # any case, spaces
	msg 9 'X-UIDL: folded' '	continued'             # folded: malformed
	msg 10 "$(printf 'X-UIDL: ctl\001char')"         # control character
	msg 11 'X-UIDL: a b' 'X-UIDL: second-ok'         # first well-formed
	msg 12 'X-UIDL:'                                 # empty
	msg 13 'X-UIDL: 1a2b3c4d5e6f'                    # taken again
} >"$T/xuidl.mbox"
# CRLF line ends read the same.
sed 's/$/\r/' "$T/xuidl.mbox" >"$T/xuidl-crlf.mbox"
put "$T/xuidl.mbox"
uidl xuidl-default
uidl xuidl-fmt --uidl-format x-uidl
want xuidl-default 1 1a2b3c4d5e6f 6 "$LONG70" 8 '<mailutils.8@host>' 11 second-ok
same x-uidl-ids "$T/xuidl-default.want" "$T/xuidl-fmt.uidl"
ids_unique() {
	if [ -z "$(cut -d' ' -f2 "$2" | sort | uniq -d)" ]; then pass "$1"
	else fail "$1" "repeated: $(cut -d' ' -f2 "$2" | sort | uniq -d | tr '\n' ' ')"; fi
}
ids_unique x-uidl-ids-unique "$T/xuidl-fmt.uidl"
put "$T/xuidl-crlf.mbox"
uidl xuidl-crlf-default
uidl xuidl-crlf-fmt --uidl-format x-uidl
want xuidl-crlf-default 1 1a2b3c4d5e6f 6 "$LONG70" 8 '<mailutils.8@host>' 11 second-ok
same x-uidl-ids-crlf "$T/xuidl-crlf-default.want" "$T/xuidl-crlf-fmt.uidl"

# An X-UIDL id that is another message's default id: the default keeps
# it, the header id gives way (and its message shows its default id).
M3=$(sed -n 's/^3 //p' "$T/xuidl-default.uidl")
{ cat "$T/xuidl.mbox"; msg 14 "X-UIDL: $M3"; } >"$T/xclash.mbox"
put "$T/xclash.mbox"
uidl xclash-default
uidl xclash-fmt --uidl-format x-uidl
want xclash-default 1 1a2b3c4d5e6f 6 "$LONG70" 8 '<mailutils.8@host>' 11 second-ok
same x-uidl-default-id-wins "$T/xclash-default.want" "$T/xclash-fmt.uidl"
ids_unique x-uidl-clash-unique "$T/xclash-fmt.uidl"
if grep -q 'would show another message' "$T/xclash-fmt.err"; then pass x-uidl-clash-logged
else fail x-uidl-clash-logged "no log line: $(tail -n 3 "$T/xclash-fmt.err" | tr '\n' ' ')"; fi
if [ "$(grep -c 'would show another message' "$T/xclash-fmt.err")" = 1 ]; then
	pass x-uidl-clash-logged-once
else fail x-uidl-clash-logged-once "$(grep -c 'would show another message' "$T/xclash-fmt.err") lines"; fi

# The ids survive a session that deletes a message (RETR/DELE checks
# rescan with the same format) and a new session.
put "$T/xuidl.mbox"
crlf 'USER alice' 'PASS secret' 'RETR 6' 'DELE 2' QUIT |
	pop xuidl-dele "${POP[@]}" --uidl-format x-uidl
exited xuidl-dele
uidl xuidl-after --uidl-format x-uidl
grep -v '^2 ' "$T/xuidl-fmt.uidl" | awk '{ print NR, $2 }' >"$T/xuidl-after.want"
same x-uidl-ids-after-dele "$T/xuidl-after.want" "$T/xuidl-after.uidl"

# ------------------------------------------------------ the index cache

# A cache written with one format never serves another's ids.  The cache
# is written only for an mbox whose ctime is CACHE_SETTLE_SECONDS old.
put "$T/dovecot.mbox"
sleep 3
uidl cache-popa3d -I "$T/mail/%u.idx"
check cache-written test -s "$T/mail/alice.idx"
uidl cache-dovecot -I "$T/mail/%u.idx" --uidl-format dovecot
same cache-not-used-for-dovecot "$T/dovecot-default.want" "$T/cache-dovecot.uidl"
uidl cache-popa3d-again -I "$T/mail/%u.idx"
same cache-popa3d-still "$T/dovecot-default.uidl" "$T/cache-popa3d-again.uidl"

# ------------------------------------------------- the setting itself

CONFD=$(mktemp -d /tmp/pop3d-uidlfmt-conf.XXXXXX)
chmod 755 "$CONFD"
trap 'rm -rf "$T" "$CONFD"' EXIT
"$POP3D" --check-config -p "$T/passwd" -m "$T/mail/%u" --uidl-format dovecot \
	>"$T/cc.out" 2>"$T/cc.err"
if grep -Eq '^  uidl-format +dovecot +\[command line\]$' "$T/cc.out"; then pass check-config-shows-command-line
else fail check-config-shows-command-line "$(grep uidl "$T/cc.out")"; fi
"$POP3D" --check-config -p "$T/passwd" -m "$T/mail/%u" >"$T/cc-def.out" 2>"$T/cc-def.err"
if grep -Eq '^  uidl-format +popa3d$' "$T/cc-def.out"; then pass check-config-shows-default
else fail check-config-shows-default "$(grep uidl "$T/cc-def.out")"; fi
if [ "$(id -u)" = 0 ]; then
	printf 'uidl-format = x-uidl\n' >"$CONFD/pop3d.conf"
	"$POP3D" --check-config --config "$CONFD/pop3d.conf" -p "$T/passwd" \
		-m "$T/mail/%u" >"$T/cc-file.out" 2>"$T/cc-file.err"
	if grep -Eq "^  uidl-format +x-uidl +\[$CONFD/pop3d.conf:1\]$" "$T/cc-file.out"; then
		pass check-config-shows-file
	else fail check-config-shows-file "$(grep uidl "$T/cc-file.out") $(head -n 2 "$T/cc-file.err")"; fi
	printf '# bad\nuidl-format = qpopper\n' >"$CONFD/bad.conf"
	crlf QUIT | pop bad-file --config "$CONFD/bad.conf" "${POP[@]}"
	equal bad-file-status 2 "$(cat "$T/bad-file.rc")"
	equal bad-file-message "pop3d: $CONFD/bad.conf:2: --uidl-format takes popa3d, dovecot or x-uidl, not 'qpopper'" \
		"$(head -n 1 "$T/bad-file.err")"
	check bad-file-nothing-to-client test ! -s "$T/bad-file.out"
fi
crlf QUIT | pop bad-cmdline "${POP[@]}" --uidl-format Dovecot
equal bad-cmdline-status 2 "$(cat "$T/bad-cmdline.rc")"
equal bad-cmdline-message "pop3d: --uidl-format takes popa3d, dovecot or x-uidl, not 'Dovecot'" \
	"$(head -n 1 "$T/bad-cmdline.err")"
check bad-cmdline-nothing-to-client test ! -s "$T/bad-cmdline.out"
if "$POP3D" --help | grep -q -- '--uidl-format popa3d|dovecot|x-uidl'; then pass help-lists-it
else fail help-lists-it "not in --help"; fi

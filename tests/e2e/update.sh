#!/usr/bin/env bash
# tests/e2e/update.sh - what UPDATE leaves on disk: exactly the original
# minus the deleted messages (byte compare), the same inode, owner and mode,
# no write at all when nothing is deleted, mail appended during a session
# kept, and a mailbox rewritten behind pop3d's back never damaged: the
# session ends with [SYS/TEMP] and nothing deleted.  Sessions that must see
# a change between two commands are driven step by step through a fifo.
. "$(dirname "$0")/../lib.sh"

# ------------------------------------------------------------- helpers

# fingerprint FILE: content hash, size, mode, owner, inode and mtime (ns).
fingerprint() { printf '%s %s\n' "$(sha256sum <"$1")" "$(stat -c '%s %a %U:%G %i %.9Y' "$1")"; }
# identity FILE: what UPDATE must keep: inode, mode, owner and group.
identity() { stat -c 'inode %i mode %a owner %U:%G' "$1"; }

# equal CHECK A B: two strings are equal.

# no_locks CHECK: no dot-lock or lock temporary file left in the spool.
no_locks() {
	local left
	left=$(find "$T/mail" -name '*.lock*' | tr '\n' ' ')
	if [ -z "$left" ]; then pass "$1"; else fail "$1" "left behind: $left"; fi
}

# start NAME ARGS...: a step-by-step pop3d session as the session user
# (lib.sh: fifo_start, send, await, finish).
start() { local name=$1; shift; fifo_start "$name" "${RUNAS[@]}" "$POP3D" "$@"; }

# poke FILE OLD NEW: replaces the first OLD in FILE by NEW (same length),
# in place, as a program rewriting a header would.
poke() {
	perl -e '
		my ($f, $old, $new) = @ARGV;
		open(F, "+<", $f) or die "$f: $!"; binmode F;
		local $/; my $d = <F>;
		my $at = index($d, $old); die "$old not in $f" if $at < 0;
		seek(F, $at, 0); print F $new; close F or die;' "$@"
}

# --------------------------------------------------------------- setup

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
mkdir "$T/mail" "$T/p"
own "$T/passwd" "$T/mail"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")
MBOX=$T/mail/alice
GREET='+OK POP3 server ready'
BYE='+OK pop3d signing off'
CHANGED='-ERR [SYS/TEMP] maildrop changed by another program; closing, nothing deleted'

# Parts: each message as stored, with its From_ line and the empty line
# after it.  Part 3 is 2.5 MB, so UPDATE moves data across its 1 MiB
# blocks; part 6 is the mail that arrives during a session.
perl -e '
	my $dir = shift;
	my $from = "From sender\@example.org Mon Jan  1 10:00:00 2024\n";
	my @m = (
		"Message-ID: <one\@example.org>\nSubject: one\n\nbody one\n",
		"Received: from a by b; Mon, 1 Jan 2024 10:00:00 +0000\nSubject: two\n\n.dot\n>From quoted\n",
		"Subject: three (big)\n\n" . join("", map { "line $_ " . ("x" x 200) . "\n" } 1 .. 12000),
		"Date: Mon, 1 Jan 2024 10:00:00 +0000\nSubject: four\n\nfirst\nFrom inside the body, after a non-blank line\n",
		"Message-ID: <five\@example.org>\nSubject: five\n\nlast\n\n",
		"Message-ID: <six\@example.org>\nSubject: six (new mail)\n\n" . ("n" x 1500000) . "\n",
	);
	for my $i (0 .. $#m) {
		open(F, ">", "$dir/" . ($i + 1)) or die; print F $from, $m[$i], "\n"; close F;
	}' "$T/p"
# parts N...: the named parts, concatenated.
parts() { local n; for n in "$@"; do cat "$T/p/$n"; done; }
# fresh [MODE]: the original five-message maildrop, with an old mtime.
fresh() {
	rm -f "$MBOX"
	parts 1 2 3 4 5 >"$MBOX"
	own "$MBOX"; chmod "${1:-600}" "$MBOX"
	touch -d '2001-02-03 04:05:06' "$MBOX"
}
fresh
# The octets of parts 1-5 as POP3 sends them: no From_ line, no separator.
SIZE5=$(for n in 1 2 3 4 5; do sed '1d;$d' "$T/p/$n"; done | perl -0777 -ne 'print length($_) + tr/\n//')
LOGIN="+OK maildrop has 5 messages ($SIZE5 octets)"

# ------------------------------------------------------ deletions

# dele NAME MODE DELE-NUMBERS -- KEPT-PARTS: deletes the messages and QUITs;
# the file must then hold exactly the kept parts, same inode/mode/owner.
dele() {
	local name=$1 mode=$2 n id cmds=() replies=() left
	shift 2
	while [ "$1" != -- ]; do cmds+=("DELE $1"); replies+=("+OK message $1 deleted"); shift; done
	shift
	fresh "$mode"
	id=$(identity "$MBOX")
	crlf 'USER alice' 'PASS secret' "${cmds[@]}" QUIT | pop "$name" "${POP[@]}"
	exited "$name"
	left=$((5 - ${#cmds[@]}))
	transcript "$name" "$GREET" '+OK send PASS' "$LOGIN" "${replies[@]}" \
		"$BYE ($left message$([ "$left" = 1 ] || echo s) left)"
	parts "$@" >"$T/$name.want"
	same "$name-content" "$T/$name.want" "$MBOX"
	equal "$name-same-file" "$id" "$(identity "$MBOX")"
	no_locks "$name-no-lock-left"
}
dele dele-first 600 1 -- 2 3 4 5
dele dele-last 600 5 -- 1 2 3 4
dele dele-middle 660 2 4 -- 1 3 5
dele dele-big 600 3 -- 1 2 4 5
dele dele-all-but-last 660 4 3 2 1 -- 5

fresh 660
id=$(identity "$MBOX")
crlf 'USER alice' 'PASS secret' 'DELE 1' 'DELE 2' 'DELE 3' 'DELE 4' 'DELE 5' STAT QUIT | pop dele-all "${POP[@]}"
exited dele-all
transcript dele-all "$GREET" '+OK send PASS' "$LOGIN" '+OK message 1 deleted' '+OK message 2 deleted' \
	'+OK message 3 deleted' '+OK message 4 deleted' '+OK message 5 deleted' '+OK 0 0' "$BYE (0 messages left)"
if [ -f "$MBOX" ] && [ ! -s "$MBOX" ]; then pass dele-all-empty-file
else fail dele-all-empty-file "$(ls -l "$MBOX" 2>&1)"; fi
equal dele-all-same-file "$id" "$(identity "$MBOX" 2>&1)"

# Nothing deleted: the file is not written at all (same mtime to the ns).
fresh
ORIG=$(fingerprint "$MBOX")
crlf 'USER alice' 'PASS secret' 'DELE 1' 'DELE 3' RSET QUIT | pop rset "${POP[@]}"
exited rset
transcript rset "$GREET" '+OK send PASS' "$LOGIN" '+OK message 1 deleted' '+OK message 3 deleted' \
	"$LOGIN" "$BYE (5 messages left)"
equal rset-not-written "$ORIG" "$(fingerprint "$MBOX")"

crlf 'USER alice' 'PASS secret' 'RETR 1' 'TOP 2 0' LIST UIDL QUIT | pop no-dele "${POP[@]}"
exited no-dele
equal no-dele-not-written "$ORIG" "$(fingerprint "$MBOX")"
no_locks no-dele-no-lock-left

# A stale dot-lock (its holder is dead) does not stop the session and is
# removed.
fresh
sleep 0 & dead=$!; wait "$dead"
echo "$dead" >"$MBOX.lock"; own "$MBOX.lock"
crlf 'USER alice' 'PASS secret' 'DELE 1' QUIT | pop stale-lock "${POP[@]}"
exited stale-lock
transcript stale-lock "$GREET" '+OK send PASS' "$LOGIN" '+OK message 1 deleted' "$BYE (4 messages left)"
parts 2 3 4 5 >"$T/want"
same stale-lock-content "$T/want" "$MBOX"
no_locks stale-lock-removed

# ----------------------------------------- changes during a session

# New mail appended during the session: not shown, kept by UPDATE.
fresh
start append "${POP[@]}"
send 'USER alice' 'PASS secret' STAT
await append 4
cat "$T/p/6" >>"$MBOX"
send STAT 'LIST 6' 'DELE 1' QUIT
finish append
exited append
transcript append "$GREET" '+OK send PASS' "$LOGIN" "+OK 5 $SIZE5" "+OK 5 $SIZE5" \
	'-ERR no such message' '+OK message 1 deleted' "$BYE (4 messages left)"
parts 2 3 4 5 6 >"$T/want"
same append-kept "$T/want" "$MBOX"

# Appended while the session had deleted a message in the middle.
fresh
start append2 "${POP[@]}"
send 'USER alice' 'PASS secret' 'DELE 4' 'DELE 2'
await append2 5
cat "$T/p/6" >>"$MBOX"
send 'RETR 1' QUIT
finish append2
exited append2
parts 1 3 5 6 >"$T/want"
same append2-kept "$T/want" "$MBOX"

# rewritten NAME CHANGE COMMAND: after DELE 2 the file is changed by
# CHANGE (a shell command); COMMAND must get REPLY and end the session
# with exit status 1, and nothing is deleted (the file is as CHANGE left it).
rewritten() {
	local name=$1 change=$2 cmd=$3 reply=$4
	fresh
	start "$name" "${POP[@]}"
	send 'USER alice' 'PASS secret' 'DELE 2'
	await "$name" 4
	eval "$change"
	cp "$MBOX" "$T/$name.want"
	send "$cmd" STAT QUIT
	finish "$name"
	exited "$name" 1
	transcript "$name" "$GREET" '+OK send PASS' "$LOGIN" '+OK message 2 deleted' "$reply"
	same "$name-nothing-deleted" "$T/$name.want" "$MBOX"
	no_locks "$name-no-lock-left"
}
# A hashed header of message 1 changed in place (same size).
rewritten rewrite-retr 'poke "$MBOX" "<one@" "<One@"' 'RETR 1' "$CHANGED"
rewritten rewrite-top 'poke "$MBOX" "<five@" "<fivE@"' 'TOP 1 0' "$CHANGED"
# The file cut short.
rewritten truncate-retr 'truncate -s 3000 "$MBOX"' 'RETR 3' "$CHANGED"
rewritten truncate-retr-first 'truncate -s 3000 "$MBOX"' 'RETR 1' "$CHANGED"
# A mail reader removed message 1 itself, rewriting the file in place.
rewritten reader-rewrite 'parts 2 3 4 5 >"$MBOX"' 'RETR 4' "$CHANGED"
# The same at QUIT: UPDATE refuses, nothing is removed.
rewritten rewrite-quit 'poke "$MBOX" "<one@" "<One@"' QUIT '-ERR [SYS/TEMP] deleted messages not removed'
rewritten truncate-quit 'truncate -s 3000 "$MBOX"' QUIT '-ERR [SYS/TEMP] deleted messages not removed'
rewritten reader-rewrite-quit 'parts 2 3 4 5 >"$MBOX"' QUIT '-ERR [SYS/TEMP] deleted messages not removed'
# A new file renamed over the maildrop: the new file is never touched.
rewritten replaced-quit 'parts 1 3 >"$MBOX.new"; own "$MBOX.new"; mv "$MBOX.new" "$MBOX"' QUIT \
	'-ERR [SYS/TEMP] deleted messages not removed'


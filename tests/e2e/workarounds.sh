#!/usr/bin/env bash
# tests/e2e/workarounds.sh - --client-workarounds (Dovecot's
# pop3_client_workarounds): outlook-no-nuls sends a NUL as 0x80,
# oe-ns-eoh sends an empty line after the header of a message that ends
# inside it.  For an mbox and a Maildir, with and without each: RETR's
# bytes and LIST's, STAT's and RETR's sizes exactly what a perl model of
# the rule gives (computed here, independently of pop3d), TOP 0 and TOP
# 1; the index cache written under one setting serving another; the
# Maildir ",W=" size not trusted when oe-ns-eoh needs the header's end;
# --check-config showing the setting; bad names refused on the command
# line and in the file.
. "$(dirname "$0")/../lib.sh"

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
own "$T/passwd"
FROM='From sender@example.org Mon Jan  1 10:00:00 2024'

# The messages, as stored: NULs in header and body; a header no empty
# line ends (in the mbox the separator follows it: not part of it); one
# that ends in the middle of a header line; an ordinary one with a dot
# line; an empty line first (an empty header: it does end).
printf 'Subject: nul\0here\n\nab\0cd\n\0\n.dot\0\nlast\n' >"$T/m1"
printf 'Subject: no end\nX-Header: yes\n' >"$T/m2"
printf 'Subject: cut short' >"$T/m3"
printf 'Subject: plain\n\n.dot\nbody\n' >"$T/m4"
printf '\nno header at all\n' >"$T/m5"
NMSG=5

# model FILE NULS EOH WHAT: what pop3d must send for the stored message
# FILE with outlook-no-nuls (NULS=1) and oe-ns-eoh (EOH=1): WHAT is
# "size" (the octets before byte-stuffing), "retr" or "top N" (the bytes
# on the wire, stuffed, without the terminator).
cat >"$T/model.pl" <<'PL'
use strict;
my ($file, $nuls, $eoh, $what, $n) = @ARGV;
open(my $f, '<:raw', $file) or die; local $/; my $m = <$f>; $m = '' unless defined $m;
# The header ends at the first empty line, if there is one.
my $ends = $m =~ /\A\r?\n/ || $m =~ /\n\r?\n/;
$m =~ s/\0/\x80/g if $nuls;
my @lines = $m =~ /([^\n]*\n|[^\n]+\z)/g;
$_ = ($_ =~ /\n\z/ ? $_ : "$_\n") for @lines;	# a last line gets its newline
s/(?<!\r)\n\z/\r\n/ for @lines;
if ($what eq 'top') {
	my ($i, @out) = (0);
	for (; $i < @lines; $i++) { push @out, $lines[$i]; last if $lines[$i] eq "\r\n" }
	$i++;
	push @out, @lines[$i .. ($i + $n - 1 < $#lines ? $i + $n - 1 : $#lines)] if $i <= $#lines;
	@lines = @out;
}
my $w = join('', @lines) . ($eoh && !$ends ? "\r\n" : '');
if ($what eq 'size') { print length($w); exit }
$w =~ s/^\./../mg;
print $w;
PL
model() { perl "$T/model.pl" "$@"; }

# The mbox of the messages; the Maildir of the same, in cur/, m2 named
# with a ",W=" size (the CRLF size without workarounds, as Dovecot
# writes it) that oe-ns-eoh must not trust.
mkdir -p "$T/mail"
for i in $(seq $NMSG); do printf '%s\n' "$FROM"; cat "$T/m$i"; [ "$i" = 3 ] && echo; echo; done >"$T/mail/alice"
W2=$(model "$T/m2" 0 0 size)
mkdir -p "$T/md/alice/cur" "$T/md/alice/new" "$T/md/alice/tmp"
for i in $(seq $NMSG); do
	name=170000000$i.M${i}P$i.host
	[ "$i" = 2 ] && name="$name,W=$W2"
	cp "$T/m$i" "$T/md/alice/cur/$name:2,"
done
chmod -R go-w "$T/md"
own "$T/mail" "$T/mail/alice"; own -R "$T/md"

# session NAME ARGS...: LIST, STAT, then RETR, TOP 0, TOP 1 of every
# message; QUIT.
session() {
	local name=$1; shift
	{ crlf 'USER alice' 'PASS secret' LIST STAT
	  for i in $(seq $NMSG); do crlf "RETR $i" "TOP $i 0" "TOP $i 1"; done
	  crlf QUIT; } | pop "$name" -s -p "$T/passwd" "$@"
	exited "$name"
}
# expect NAME NULS EOH: what session NAME must have sent.
expect() {
	local name=$1 nuls=$2 eoh=$3 i total=0 s
	for i in $(seq $NMSG); do total=$((total + $(model "$T/m$i" "$nuls" "$eoh" size))); done
	{ printf '+OK POP3 server ready\r\n+OK send PASS\r\n'
	  printf '+OK maildrop has %d messages (%d octets)\r\n' $NMSG $total
	  printf '+OK %d messages (%d octets)\r\n' $NMSG $total
	  for i in $(seq $NMSG); do printf '%d %d\r\n' "$i" "$(model "$T/m$i" "$nuls" "$eoh" size)"; done
	  printf '.\r\n+OK %d %d\r\n' $NMSG $total
	  for i in $(seq $NMSG); do
		s=$(model "$T/m$i" "$nuls" "$eoh" size)
		printf '+OK %d octets\r\n' "$s"; model "$T/m$i" "$nuls" "$eoh" retr; printf '.\r\n'
		printf '+OK %d octets\r\n' "$s"; model "$T/m$i" "$nuls" "$eoh" top 0; printf '.\r\n'
		printf '+OK %d octets\r\n' "$s"; model "$T/m$i" "$nuls" "$eoh" top 1; printf '.\r\n'
	  done
	  printf '+OK pop3d signing off (%d messages left)\r\n' $NMSG; } >"$T/$name.exp"
	same "$name-bytes" "$T/$name.exp" "$T/$name.out"
}

# The model itself, on two cases worked out by hand.
equal model-nul-to-0x80 "$(printf 'a\x80b\r\n' | od -An -tx1)" "$(printf 'a\0b\n' >"$T/x"; model "$T/x" 1 0 retr | od -An -tx1)"
equal model-eoh-added "$(printf 'S: x\r\n\r\n' | od -An -tx1)" "$(printf 'S: x' >"$T/x"; model "$T/x" 0 1 retr | od -An -tx1)"

for fmt in mbox maildir; do
	if [ $fmt = mbox ]; then M=(-m "$T/mail/%u"); else M=(-m "maildir:$T/md/%u"); fi
	session "$fmt-none" "${M[@]}"
	expect "$fmt-none" 0 0
	session "$fmt-nuls" "${M[@]}" --client-workarounds outlook-no-nuls
	expect "$fmt-nuls" 1 0
	session "$fmt-eoh" "${M[@]}" --client-workarounds oe-ns-eoh
	expect "$fmt-eoh" 0 1
	session "$fmt-both" "${M[@]}" --client-workarounds outlook-no-nuls,oe-ns-eoh
	expect "$fmt-both" 1 1
	session "$fmt-both-reversed" "${M[@]}" --client-workarounds oe-ns-eoh,outlook-no-nuls
	expect "$fmt-both-reversed" 1 1
	session "$fmt-explicit-none" "${M[@]}" --client-workarounds none
	expect "$fmt-explicit-none" 0 0
done
# The workaround changes what the test sees: without it, no 0x80 and
# no added line (the checks above could not pass by accident).
differ() { if cmp -s "$2" "$3"; then fail "$1" "same output"; else pass "$1"; fi; }
differ nuls-differ-from-none "$T/mbox-none.out" "$T/mbox-nuls.out"
differ eoh-differs-from-none "$T/maildir-none.out" "$T/maildir-eoh.out"
nuls() { tr -cd '\000' <"$1" | wc -c; }
equal no-nul-sent-with-nuls 0 "$(nuls "$T/maildir-nuls.out")"
# m1 has 4 NULs: RETR sends 4, TOP 0 one (the header's), TOP 1 two.
equal nuls-sent-without $((4 + 1 + 2)) "$(nuls "$T/maildir-none.out")"
# m2's LIST size: 2 octets more than its ",W=" with oe-ns-eoh.
equal maildir-w-size-not-trusted "2 $((W2 + 2))" "$(tr -d '\r' <"$T/maildir-eoh.out" | grep -a -m1 '^2 ')"

# The index cache: written without the workaround (the mbox's ctime must
# be CACHE_SETTLE_SECONDS old), then read with it and without.
sleep 3
session cache-write -m "$T/mail/%u" -I "$T/mail/%u.idx"
expect cache-write 0 0
check cache-written test -s "$T/mail/alice.idx"
session cache-eoh -m "$T/mail/%u" -I "$T/mail/%u.idx" --client-workarounds oe-ns-eoh
expect cache-eoh 0 1
check cache-eoh-read-from-cache grep -q 'index read from cache' "$T/cache-eoh.err"
session cache-none-again -m "$T/mail/%u" -I "$T/mail/%u.idx"
expect cache-none-again 0 0

# The configuration file and --check-config.  As root, pop3d reads a
# configuration file only in directories only root can write.
if [ "$(id -u)" = 0 ]; then chown root:root "$T"; fi
mkdir -m 755 "$T/etc"
printf 'client-workarounds = oe-ns-eoh,outlook-no-nuls\n' >"$T/etc/wa.conf"
POP3D_CONFIG="$T/etc/wa.conf" session file-both -m "$T/mail/%u"
expect file-both 1 1
cc_show() {
	local name=$1; shift
	"$POP3D" --check-config -p "$T/passwd" -m "$T/mail/%u" "$@" >"$T/$name.out" 2>"$T/$name.err"
	grep -E '^  client-workarounds ' "$T/$name.out" | sed 's/  */ /g'
}
equal check-config-default ' client-workarounds none' "$(cc_show cc-default)"
equal check-config-cmdline ' client-workarounds outlook-no-nuls,oe-ns-eoh [command line]' \
	"$(cc_show cc-cmdline --client-workarounds oe-ns-eoh,outlook-no-nuls)"
equal check-config-file " client-workarounds outlook-no-nuls,oe-ns-eoh [$T/etc/wa.conf:1]" \
	"$(POP3D_CONFIG="$T/etc/wa.conf" cc_show cc-file)"

# Bad names: refused, exit status 2, with the option's usual words.
bad() {
	local name=$1 value=$2
	"$POP3D" -s -p "$T/passwd" -m "$T/mail/%u" --client-workarounds "$value" </dev/null >"$T/$name.out" 2>"$T/$name.err"
	equal "$name-exit-2" 2 $?
	check "$name-says-why" grep -qF "invalid --client-workarounds (none, or a comma-separated list of outlook-no-nuls and oe-ns-eoh): '$value'" "$T/$name.err"
}
bad bad-name outlook
bad bad-empty ''
bad bad-trailing-comma 'oe-ns-eoh,'
bad bad-space 'oe-ns-eoh, outlook-no-nuls'
bad bad-twice 'oe-ns-eoh,oe-ns-eoh'
bad bad-case 'OE-NS-EOH'
bad bad-none-and-name 'none,oe-ns-eoh'
printf 'client-workarounds = outlook\n' >"$T/etc/bad.conf"
POP3D_CONFIG="$T/etc/bad.conf" "$POP3D" -s -p "$T/passwd" -m "$T/mail/%u" </dev/null >"$T/badfile.out" 2>"$T/badfile.err"
equal bad-file-exit-2 2 $?
check bad-file-says-line grep -qF "$T/etc/bad.conf:1: invalid --client-workarounds" "$T/badfile.err"

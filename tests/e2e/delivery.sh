#!/usr/bin/env bash
# tests/e2e/delivery.sh - real delivery agents beside POP3 sessions.
# procmail (as the MDA, with its dot-lock and fcntl lock) and dotlockfile
# (liblockfile's dot-lock + a plain append) deliver numbered messages into
# the maildrop in two loops while POP3 sessions run beside them: login,
# UIDL, RETR, DELE, QUIT.  Afterwards every delivered message is in the
# mbox exactly once, byte for byte, unless a session deleted it, and every
# deleted one is gone.  Runs as root (as CI does); deliveries and sessions
# run as the maildrop's owner.
. "$(dirname "$0")/../lib.sh"

# The binary under test is copied, so a rebuild during the run cannot mix
# two versions.
cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d

N_PROCMAIL=${N_PROCMAIL:-150}
N_DOTLOCK=${N_DOTLOCK:-100}

# ------------------------------------------------------- dependencies

if ! command -v procmail >/dev/null || ! command -v dotlockfile >/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q procmail liblockfile-bin >"$T/apt.log" 2>&1 ||
			{ apt-get update -q >/dev/null 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -q procmail liblockfile-bin >"$T/apt.log" 2>&1; }
	fi
fi
for tool in procmail dotlockfile; do
	if ! command -v "$tool" >/dev/null; then
		fail "deps-$tool" "$tool not installed (apt-get install procmail liblockfile-bin)"
		exit 0
	fi
done

# --------------------------------------------------------------- setup

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
mkdir "$T/mail" "$T/msgs"
own "$T/passwd" "$T/mail"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")
MBOX=$T/mail/alice

# as_owner CMD...: runs CMD as the maildrop owner (the session user).
as_owner() { "${RUNAS[@]}" "$@"; }

# Each message as delivered (msgs/ID, with its From_ line); stored in the
# mbox followed by one empty line (procmail adds it; the dotlockfile loop
# appends it itself).  Bodies vary in length, never start a line with
# "From " (so procmail's >From quoting never applies) and some lines start
# with "." (byte-stuffed in RETR).
perl -e '
	my ($dir, $np, $nd) = @ARGV;
	my @ids = ((map { "i-$_" } 1 .. 8), (map { "p-$_" } 1 .. $np), (map { "d-$_" } 1 .. $nd));
	my $seed = 12345;
	sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed % $_[0]; }
	for my $id (@ids) {
		my ($kind) = $id =~ /^(\w)/;
		my $t = "From $kind-agent\@example.org Mon Jan  1 10:00:00 2024\n"
		    . "Received: from mx.example.org by pop.example.org; id $id\n"
		    . "Message-ID: <$id\@delivery.test>\n"
		    . "Subject: message $id\n\n";
		my $lines = 1 + rnd(40);
		for my $l (1 .. $lines) {
			my $w = rnd(7) == 0 ? ".dot line $l of $id" : "line $l of $id " . ("z" x rnd(300));
			$t .= "$w\n";
		}
		open(F, ">", "$dir/$id") or die; print F $t; close F;
	}' "$T/msgs" "$N_PROCMAIL" "$N_DOTLOCK"
# stored ID...: the messages as the mbox holds them.
stored() { local id; for id in "$@"; do cat "$T/msgs/$id"; echo; done; }
INITIAL=(i-1 i-2 i-3 i-4 i-5 i-6 i-7 i-8)
reset_mbox() {
	rm -f "$MBOX" "$MBOX".lock*
	stored "${INITIAL[@]}" >"$MBOX"
	own "$MBOX"; chmod 600 "$MBOX"
}

# procmail's rcfile: one recipe with a local lockfile (":0:" -> MBOX.lock,
# procmail's NFS-safe link(2) dot-lock) delivering to the mbox; procmail
# also takes an fcntl lock on the file while it writes (both checked
# below).  LOCKSLEEP=1 keeps the retries short.
cat >"$T/procmailrc" <<EOF
MAILDIR=$T
LOCKSLEEP=1
LOCKTIMEOUT=1024
:0:
$MBOX
EOF
own "$T/procmailrc"; chmod 644 "$T/procmailrc"

# deliver_procmail ID: one delivery by its own procmail run.
deliver_procmail() { as_owner timeout 60 procmail -m "$T/procmailrc" <"$T/msgs/$1" 2>>"$T/procmail.err"; }
# deliver_dotlock ID: dotlockfile -l, append, dotlockfile -u.
deliver_dotlock() {
	as_owner dotlockfile -l -r 60 -i 1 "$MBOX.lock" 2>>"$T/dotlock.err" || return 1
	stored "$1" | as_owner sh -c 'cat >>"$1"' sh "$MBOX" || { as_owner dotlockfile -u "$MBOX.lock"; return 1; }
	as_owner dotlockfile -u "$MBOX.lock"
}

# ------------------------------- the MDAs really take the locks

# procmail waits for a dot-lock another program holds.
reset_mbox
before=$(sha256sum <"$MBOX")
as_owner dotlockfile -l -r 0 "$MBOX.lock"
deliver_procmail p-1 &
pm=$!
sleep 1.5
if [ "$(sha256sum <"$MBOX")" = "$before" ] && kill -0 "$pm" 2>/dev/null; then
	as_owner dotlockfile -u "$MBOX.lock"
	wait "$pm"
	if grep -q '<p-1@delivery.test>' "$MBOX"; then pass procmail-honours-dotlock
	else fail procmail-honours-dotlock "procmail did not deliver after the lock was released"; fi
else
	as_owner dotlockfile -u "$MBOX.lock"
	wait "$pm"
	fail procmail-honours-dotlock "procmail wrote the mbox while MBOX.lock was held"
fi

# procmail waits for an fcntl write lock on the mbox (as pop3d holds one).
reset_mbox
before=$(sha256sum <"$MBOX")
# struct flock as on Linux LP64 (x86_64, aarch64): type, whence, start, len, pid.
as_owner perl -e '
	use Fcntl qw(F_SETLKW F_WRLCK SEEK_SET);
	open(my $f, "+<", $ARGV[0]) or die "$ARGV[0]: $!";
	my $fl = pack("s s x4 q q i x4", F_WRLCK, SEEK_SET, 0, 0, 0);
	fcntl($f, F_SETLKW, $fl) or die "fcntl: $!";
	open(my $g, ">", $ARGV[1]) or die; close $g;
	select(undef, undef, undef, 1.5);' "$MBOX" "$T/mail/locked" &
holder=$!
for _ in $(seq 100); do [ -e "$T/mail/locked" ] && break; sleep 0.02; done
deliver_procmail p-1 &
pm=$!
sleep 0.8
mid=$(sha256sum <"$MBOX")
wait "$holder"; wait "$pm"
rm -f "$T/mail/locked"
if [ "$mid" != "$before" ]; then fail procmail-honours-fcntl "procmail wrote the mbox under another process's fcntl lock"
elif ! grep -q '<p-1@delivery.test>' "$MBOX"; then fail procmail-honours-fcntl "procmail did not deliver after the fcntl lock was released"
else pass procmail-honours-fcntl; fi

# ------------------------------------- deliveries beside POP3 sessions

reset_mbox
: >"$T/delivered"; : >"$T/deleted"; : >"$T/problems"

( for i in $(seq "$N_PROCMAIL"); do
	if deliver_procmail "p-$i"; then echo "p-$i" >>"$T/delivered"
	else echo "procmail delivery of p-$i failed (status $?)" >>"$T/problems"; fi
  done ) &
PM_LOOP=$!
( for i in $(seq "$N_DOTLOCK"); do
	if deliver_dotlock "d-$i"; then echo "d-$i" >>"$T/delivered"
	else echo "dotlockfile delivery of d-$i failed" >>"$T/problems"; fi
	sleep "0.0$((RANDOM % 5))"
  done ) &
DL_LOOP=$!

# session K A B: login, UIDL, RETR A and B, DELE A and B, QUIT; the
# transcript is checked and the Message-IDs of the messages actually
# removed (DELE +OK and QUIT +OK) are added to $T/deleted.
session() {
	local k=$1 a=$2 b=$3
	crlf 'USER alice' 'PASS secret' UIDL "RETR $a" "RETR $b" "DELE $a" "DELE $b" QUIT |
		run_pop3d "${POP[@]}" >"$T/s$k.out" 2>"$T/s$k.err"
	echo $? >"$T/s$k.rc"
	perl -e '
		my ($out, $msgs, $a, $b, $deleted, $problems, $k, $rc) = @ARGV;
		open(O, "<", $out) or die; binmode O; my @l = <O>; close O;
		open(P, ">>", $problems) or die;
		my $bad = sub { print P "session $k: @_\n"; };
		$bad->("exit status $rc") if $rc != 0;
		my $i = 0;
		my $next = sub { my $x = $l[$i++]; defined $x or return undef; $x =~ s/\r\n\z// or $bad->("line without CRLF: $x"); $x };
		my $multi = sub { my @r; while (defined(my $x = $next->())) { return \@r if $x eq "."; $x =~ s/^\.//; push @r, $x; } $bad->("multi-line response not terminated"); \@r };
		$next->() =~ /^\+OK/ or $bad->("no greeting");
		$next->() =~ /^\+OK/ or $bad->("USER refused");
		my $login = $next->() // "";
		if ($login !~ /^\+OK maildrop has (\d+) messages?/) {
			# A busy maildrop is allowed ([IN-USE]); nothing is deleted.
			$bad->("login: $login") unless $login =~ /^-ERR \[IN-USE\]/;
			exit 0;
		}
		my $n = $1;
		$next->() =~ /^\+OK/ or $bad->("UIDL refused");
		my $u = $multi->();
		my %uid; $uid{(split / /, $_)[1]}++ for @$u;
		$bad->("UIDL lists " . scalar(@$u) . " of $n messages") if @$u != $n;
		$bad->("UIDL ids not unique") if grep { $_ > 1 } values %uid;
		my %id;
		for my $m ($a, $b) {
			my $r = $next->();
			if ($m > $n) { $r =~ /^-ERR/ or $bad->("RETR $m of $n: $r"); next; }
			if ($r !~ /^\+OK/) { $bad->("RETR $m: $r"); next; }
			my $text = join("", map { "$_\n" } @{$multi->()});
			my ($mid) = $text =~ /^Message-ID: <([^@>]+)\@/m;
			if (!defined $mid) { $bad->("RETR $m: no Message-ID"); next; }
			open(M, "<", "$msgs/$mid") or do { $bad->("RETR $m: unknown id $mid"); next; };
			local $/; my $want = <M>; close M; $want =~ s/^From [^\n]*\n//;
			$bad->("RETR $m ($mid) differs from what was delivered") if $text ne $want;
			$id{$m} = $mid;
		}
		my @gone;
		for my $m ($a, $b) {
			my $r = $next->() // "";
			if ($m > $n) { $r =~ /^-ERR/ or $bad->("DELE $m of $n: $r"); next; }
			if ($r =~ /^\+OK/) { push @gone, $id{$m} if defined $id{$m}; }
			else { $bad->("DELE $m: $r"); }
		}
		my $q = $next->() // "<EOF>";
		if ($q =~ /^\+OK pop3d signing off/) {
			open(D, ">>", $deleted) or die; print D "$_\n" for @gone; close D;
		} elsif ($q !~ /^-ERR \[(IN-USE|SYS\/TEMP)\]/) {
			$bad->("QUIT: $q");
		}
	' "$T/s$k.out" "$T/msgs" "$a" "$b" "$T/deleted" "$T/problems" "$k" "$(cat "$T/s$k.rc")"
	if grep -qE "$SAN_RE" "$T/s$k.err"; then
		echo "session $k: sanitizer report: $(grep -m1 -E "$SAN_RE" "$T/s$k.err")" >>"$T/problems"
	fi
}

START=$SECONDS
k=0
while kill -0 "$PM_LOOP" 2>/dev/null || kill -0 "$DL_LOOP" 2>/dev/null; do
	k=$((k + 1))
	a=$((1 + RANDOM % 6))
	session "$k" "$a" "$((a + 1 + RANDOM % 3))"
	sleep "0.0$((RANDOM % 10))"
	if [ $((SECONDS - START)) -gt 120 ]; then
		echo "deliveries still running after 120 s" >>"$T/problems"
		kill "$PM_LOOP" "$DL_LOOP" 2>/dev/null
		break
	fi
done
wait "$PM_LOOP" "$DL_LOOP" 2>/dev/null
# Two more sessions with nothing delivering beside them.
k=$((k + 1)); session "$k" 1 3
k=$((k + 1)); session "$k" 2 4
SESSIONS=$k

if [ -s "$T/problems" ]; then
	fail delivery-runs "$(wc -l <"$T/problems") problem(s), first: $(head -n 3 "$T/problems" | tr '\n' ';')"
else
	pass "delivery-runs ($SESSIONS sessions, $(wc -l <"$T/delivered") deliveries, $(wc -l <"$T/deleted") deletions, $((SECONDS - START)) s)"
fi
if [ "$(wc -l <"$T/deleted")" -gt 0 ]; then pass sessions-deleted-something
else fail sessions-deleted-something "no session removed any message"; fi

# The mbox is exactly a concatenation of stored messages (each starting
# with its From_ line and ending with the empty separator line), each
# message present once; the set is initial + delivered - deleted.
verdict=$(perl -e '
	my ($mbox, $msgs, $delivered, $deleted, @initial) = @ARGV;
	open(F, "<", $mbox) or die; binmode F; local $/; my $d = <F>; close F;
	my (%want, %gone, %seen, @err);
	$want{$_} = 1 for @initial;
	open(L, "<", $delivered) or die; { local $/ = "\n"; while (<L>) { chomp; $want{$_} = 1; } } close L;
	open(L, "<", $deleted) or die; { local $/ = "\n"; while (<L>) { chomp; push @err, "$_ deleted twice" if $gone{$_}++; } } close L;
	my $pos = 0;
	while ($pos < length $d) {
		if (substr($d, $pos, 5) ne "From ") { push @err, "no From_ line at offset $pos"; last; }
		my ($id) = substr($d, $pos, 400) =~ /\nMessage-ID: <([^@>]+)\@/;
		if (!defined $id || !-e "$msgs/$id") { push @err, "unknown message at offset $pos"; last; }
		open(M, "<", "$msgs/$id") or die; my $s = <M> . "\n"; close M;
		if (substr($d, $pos, length $s) ne $s) { push @err, "message $id at offset $pos differs from what was delivered"; last; }
		push @err, "$id present twice" if $seen{$id}++;
		$pos += length $s;
	}
	for my $id (sort keys %want) {
		if ($gone{$id}) { push @err, "$id deleted but still present" if $seen{$id}; }
		else { push @err, "$id delivered but missing" unless $seen{$id}; }
	}
	for my $id (sort keys %seen) { push @err, "$id present but never delivered" unless $want{$id}; }
	for my $id (sort keys %gone) { push @err, "$id deleted but never delivered" unless $want{$id}; }
	print @err ? scalar(@err) . " error(s): " . join("; ", @err[0 .. ($#err < 4 ? $#err : 4)]) : "ok " . scalar(keys %seen);
' "$MBOX" "$T/msgs" "$T/delivered" "$T/deleted" "${INITIAL[@]}")
case $verdict in
ok*) pass "mbox-exact (${verdict#ok } messages: every delivery once, every deletion gone)" ;;
*) fail mbox-exact "$verdict" ;;
esac

left=$(find "$T/mail" -name '*.lock*' -o -name '*pop3d-journal*' | tr '\n' ' ')
if [ -z "$left" ]; then pass no-locks-left; else fail no-locks-left "left behind: $left"; fi
if [ -s "$T/procmail.err" ] && grep -v "Couldn't chdir" "$T/procmail.err" | grep -q .; then
	fail procmail-quiet "$(grep -v "Couldn't chdir" "$T/procmail.err" | head -n 2 | tr '\n' ' ')"
else
	pass procmail-quiet
fi
exit 0

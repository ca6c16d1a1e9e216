#!/usr/bin/env bash
# tests/e2e/maildir-delivery.sh - real delivery agents into a Maildir
# beside POP3 sessions.  procmail (a "Maildir/" destination: the trailing
# slash makes it a Maildir delivery, through tmp/ and a rename into new/)
# and courier-maildrop's maildrop (`to "Maildir/"`) deliver numbered
# messages in two loops while sessions run against the same Maildir:
# login (new/ moved to cur/), UIDL, RETR, DELE, QUIT.  Afterwards every
# delivered message is in cur/ or new/ exactly once, byte for byte, unless
# a session deleted it, and every deleted one is gone.  Runs as root (as
# CI does); deliveries and sessions run as the maildrop's owner.
. "$(dirname "$0")/../lib.sh"

# The binary under test is copied, so a rebuild during the run cannot mix
# two versions.
cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d

N_PROCMAIL=${N_PROCMAIL:-250}
N_MAILDROP=${N_MAILDROP:-250}

# ------------------------------------------------------- dependencies

missing=()
command -v procmail >/dev/null || missing+=(procmail)
command -v maildrop >/dev/null || missing+=(maildrop)
[ ${#missing[@]} -eq 0 ] || sh "$TOP/tests/apt-install.sh" "${missing[@]}" >"$T/apt.log" 2>&1
for tool in procmail maildrop; do
	if ! command -v "$tool" >/dev/null; then
		fail "deps-$tool" "$tool not installed (apt-get install procmail maildrop)"
		exit 0
	fi
done

# --------------------------------------------------------------- setup

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
mkdir -p "$T/alice/Maildir/cur" "$T/alice/Maildir/new" "$T/alice/Maildir/tmp" "$T/msgs"
chmod -R 700 "$T/alice"
own -R "$T/passwd" "$T/alice"
MD=$T/alice/Maildir
POP=(-s -p "$T/passwd" -m "maildir:$T/%u/Maildir")

as_owner() { "${RUNAS[@]}" "$@"; }

# Each message as delivered (msgs/ID, no From_ line: neither agent adds
# one to a Maildir delivery, so the stored file is the message itself).
# Bodies vary in length and some lines start with "." (byte-stuffed in
# RETR).
perl -e '
	my ($dir, $np, $nd) = @ARGV;
	my @ids = ((map { "i-$_" } 1 .. 8), (map { "p-$_" } 1 .. $np), (map { "m-$_" } 1 .. $nd));
	my $seed = 4242;
	sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed % $_[0]; }
	for my $id (@ids) {
		my $t = "Received: from mx.example.org by pop.example.org; id $id\n"
		    . "Message-ID: <$id\@delivery.test>\n"
		    . "Subject: message $id\n\n";
		for my $l (1 .. 1 + rnd(40)) {
			$t .= (rnd(7) == 0 ? ".dot line $l of $id" : "line $l of $id " . ("z" x rnd(300))) . "\n";
		}
		open(F, ">", "$dir/$id") or die; print F $t; close F;
	}' "$T/msgs" "$N_PROCMAIL" "$N_MAILDROP"
INITIAL=(i-1 i-2 i-3 i-4 i-5 i-6 i-7 i-8)
n=1
for id in "${INITIAL[@]}"; do
	cp "$T/msgs/$id" "$MD/cur/170000000$n.I$n.host:2,S"
	n=$((n + 1))
done
own -R "$MD"

# procmail: a destination ending in "/" is a Maildir (tmp/, then a
# rename into new/); no lockfile, as a Maildir needs none.
cat >"$T/procmailrc" <<EOF2
MAILDIR=$T
:0
$MD/
EOF2
# maildrop: a filter file must be the user's and not group- or world-
# writable, or maildrop refuses it.
printf 'to "%s/"\n' "$MD" >"$T/mailfilter"
chmod 600 "$T/mailfilter"
own "$T/procmailrc" "$T/mailfilter"

deliver_procmail() { as_owner timeout 60 procmail -m "$T/procmailrc" <"$T/msgs/$1" 2>>"$T/procmail.err"; }
deliver_maildrop() { as_owner timeout 60 maildrop "$T/mailfilter" <"$T/msgs/$1" 2>>"$T/maildrop.err"; }

# Both agents really write a Maildir: one file in new/, byte for byte.
for a in procmail maildrop; do
	before=$(ls "$MD/new" | wc -l)
	"deliver_$a" i-1
	after=$(find "$MD/new" -type f -newer "$T/procmailrc" -print0 | xargs -0 grep -l '<i-1@delivery.test>' | head -1)
	if [ "$(ls "$MD/new" | wc -l)" = $((before + 1)) ] && [ -n "$after" ] && cmp -s "$after" "$T/msgs/i-1" &&
		[ -z "$(ls "$MD/tmp")" ]; then
		pass "$a-delivers-into-new"
	else
		fail "$a-delivers-into-new" "new/: $(ls "$MD/new" | tr '\n' ' ') tmp/: $(ls "$MD/tmp" | tr '\n' ' ')"
	fi
	rm -f "$MD"/new/*
done

# ------------------------------------- deliveries beside POP3 sessions

: >"$T/delivered"; : >"$T/deleted"; : >"$T/problems"

( for i in $(seq "$N_PROCMAIL"); do
	if deliver_procmail "p-$i"; then echo "p-$i" >>"$T/delivered"
	else echo "procmail delivery of p-$i failed (status $?)" >>"$T/problems"; fi
  done ) &
PM_LOOP=$!
( for i in $(seq "$N_MAILDROP"); do
	if deliver_maildrop "m-$i"; then echo "m-$i" >>"$T/delivered"
	else echo "maildrop delivery of m-$i failed (status $?)" >>"$T/problems"; fi
	sleep "0.0$((RANDOM % 5))"
  done ) &
MD_LOOP=$!

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
while kill -0 "$PM_LOOP" 2>/dev/null || kill -0 "$MD_LOOP" 2>/dev/null; do
	k=$((k + 1))
	a=$((1 + RANDOM % 6))
	session "$k" "$a" "$((a + 1 + RANDOM % 3))"
	sleep "0.0$((RANDOM % 10))"
	if [ $((SECONDS - START)) -gt 90 ]; then
		echo "deliveries still running after 90 s" >>"$T/problems"
		kill "$PM_LOOP" "$MD_LOOP" 2>/dev/null
		break
	fi
done
wait "$PM_LOOP" "$MD_LOOP" 2>/dev/null
# Two more sessions with nothing delivering beside them: what arrived
# after the last one is moved to cur/ and served.
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
for a in p m; do
	if grep -q "^$a-" "$T/deleted"; then pass "deleted-some-$a"
	else fail "deleted-some-$a" "no session removed a message of this agent"; fi
done

# Every file in cur/ and new/ is one delivered message, byte for byte,
# each present once; the set is initial + delivered - deleted.  new/ is
# empty: the last session moved everything to cur/.
verdict=$(perl -e '
	my ($md, $msgs, $delivered, $deleted, @initial) = @ARGV;
	my (%want, %gone, %seen, @err);
	$want{$_} = 1 for @initial;
	open(L, "<", $delivered) or die; while (<L>) { chomp; $want{$_} = 1; } close L;
	open(L, "<", $deleted) or die; while (<L>) { chomp; push @err, "$_ deleted twice" if $gone{$_}++; } close L;
	for my $sub ("cur", "new") {
		opendir(D, "$md/$sub") or die; my @f = grep { !/^\./ } readdir D; closedir D;
		push @err, "new/ not empty after the last session: @f" if $sub eq "new" && @f;
		for my $f (@f) {
			open(F, "<", "$md/$sub/$f") or die; binmode F; local $/; my $d = <F>; close F;
			my ($id) = $d =~ /^Message-ID: <([^@>]+)\@/m;
			if (!defined $id || !-e "$msgs/$id") { push @err, "unknown file $sub/$f"; next; }
			open(M, "<", "$msgs/$id") or die; my $s = <M>; close M;
			push @err, "$sub/$f ($id) differs from what was delivered" if $d ne $s;
			push @err, "$id present twice" if $seen{$id}++;
		}
	}
	for my $id (sort keys %want) {
		if ($gone{$id}) { push @err, "$id deleted but still present" if $seen{$id}; }
		else { push @err, "$id delivered but missing" unless $seen{$id}; }
	}
	for my $id (sort keys %seen) { push @err, "$id present but never delivered" unless $want{$id}; }
	for my $id (sort keys %gone) { push @err, "$id deleted but never delivered" unless $want{$id}; }
	print @err ? scalar(@err) . " error(s): " . join("; ", @err[0 .. ($#err < 4 ? $#err : 4)]) : "ok " . scalar(keys %seen);
' "$MD" "$T/msgs" "$T/delivered" "$T/deleted" "${INITIAL[@]}")
case $verdict in
ok*) pass "maildir-exact (${verdict#ok } messages: every delivery once, every deletion gone)" ;;
*) fail maildir-exact "$verdict" ;;
esac

left=$(ls -A "$MD/tmp"; ls -A "$MD" | grep -E '^pop3d-journal')
if [ -z "$left" ]; then pass no-tmp-or-journal-left; else fail no-tmp-or-journal-left "left behind: $(echo $left)"; fi
# (procmail notes that it cannot chdir to nobody's home, /nonexistent.)
for a in procmail maildrop; do
	if grep -v "Couldn't chdir" "$T/$a.err" | grep -q .; then
		fail "$a-quiet" "$(grep -v "Couldn't chdir" "$T/$a.err" | head -n 2 | tr '\n' ' ')"
	else
		pass "$a-quiet"
	fi
done
exit 0

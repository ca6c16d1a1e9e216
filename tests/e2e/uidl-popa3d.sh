#!/usr/bin/env bash
# tests/e2e/uidl-popa3d.sh - UIDL compatibility with popa3d 1.0.3 and UIDL
# persistence.  Every tests/mbox-samples/*.mbox must give the recorded
# NAME.popa3d-uidl listing, except where pop3d extends popa3d's rule
# (duplicates: a -2, -3 suffix; no hashed header: a 32-hex-digit id).  As
# root, the live oracle (tests/popa3d-oracle.sh, Debian's popa3d) is asked
# about a generated mbox of 200 varied messages.  Ids must survive new
# sessions, deletion of other messages, new mail and Status: headers.
. "$(dirname "$0")/../lib.sh"

# ------------------------------------------------------------- helpers

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
mkdir "$T/mail"
own "$T/passwd" "$T/mail"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")
MBOX=$T/mail/alice

# uidl NAME FILE: runs UIDL on a copy of FILE as alice's maildrop and
# writes the listing as "N UID" lines (no CR, no "+OK", no ".") to
# $T/NAME.uidl; checks the session (exit status, sanitizers, the shape of
# the whole transcript).
uidl() {
	local name=$1
	cp "$2" "$MBOX"; own "$MBOX"
	uidl_here "$name"
}
# uidl_here NAME: the same on the maildrop as it is.
uidl_here() {
	local name=$1
	crlf 'USER alice' 'PASS secret' UIDL QUIT | pop "$name" "${POP[@]}"
	exited "$name"
	if perl -ne '
		BEGIN { $ok = 1 }
		$ok = 0 unless s/\r\n\z/\n/;
		if ($. <= 3) { $ok = 0 unless /^\+OK/; next }
		if ($. == 4) { $ok = 0 unless /^\+OK unique-id listing follows$/; next }
		if (!$done) { if ($_ eq ".\n") { $done = 1 } else { print } next }
		$ok = 0 if $quit++ || !/^\+OK/;
		END { exit(($ok && $quit) ? 0 : 1) }' "$T/$name.out" >"$T/$name.uidl"; then
		pass "$name-session"
	else fail "$name-session" "malformed transcript: $(head -c 300 "$T/$name.out" | tr '\r\n' '  ')"; fi
}

# ids_ok CHECK FILE: every id in the listing is 1-70 characters in
# 0x21-0x7E and unique, and messages are numbered 1..n.
ids_ok() {
	local why
	why=$(perl -ne '
		chomp; my ($n, $id, $extra) = split / /, $_, 3;
		$why ||= "line $.: bad number $n" if $n ne $.;
		$why ||= "line $.: text after the id" if defined $extra;
		$why ||= "line $.: bad id \"$id\"" unless defined $id && $id =~ /^[\x21-\x7e]{1,70}$/;
		$why ||= "line $.: id $id also on line $seen{$id}" if $seen{$id};
		$seen{$id} //= $.;
		END { print $why // "" }' "$2")
	if [ -z "$why" ]; then pass "$1"; else fail "$1" "$why"; fi
}

# ----------------------------------------------- the recorded samples

SAMPLES=$TOP/tests/mbox-samples
for f in "$SAMPLES"/*.mbox; do
	name=$(basename "$f" .mbox)
	uidl "sample-$name" "$f"
	ids_ok "sample-$name-ids-valid" "$T/sample-$name.uidl"
	case $name in
	duplicates)
		# popa3d's ids, with -k added to the k-th copy of an id.
		awk '{ k = ++seen[$2]; print $1, (k > 1 ? $2 "-" k : $2) }' \
			"$SAMPLES/$name.popa3d-uidl" >"$T/want"
		same "sample-$name-suffixed" "$T/want" "$T/sample-$name.uidl" ;;
	no-stable-headers)
		if [ "$(wc -l <"$T/sample-$name.uidl")" = "$(wc -l <"$SAMPLES/$name.popa3d-uidl")" ] &&
			! grep -qvE '^[0-9]+ [0-9a-f]{32}$' "$T/sample-$name.uidl"; then
			pass "sample-$name-wide-ids"
		else
			fail "sample-$name-wide-ids" "expected one 32-hex-digit id a message: $(tr '\n' ' ' <"$T/sample-$name.uidl")"
		fi
		# A mail reader's Status:/X-Status: lines do not change them.
		perl -pe 'if (/^From /) { $_ .= "Status: RO\nX-Status: A\n" }' "$f" >"$T/status.mbox"
		uidl "sample-$name-status" "$T/status.mbox"
		same "sample-$name-status-same-ids" "$T/sample-$name.uidl" "$T/sample-$name-status.uidl" ;;
	*)
		same "sample-$name-equals-popa3d" "$SAMPLES/$name.popa3d-uidl" "$T/sample-$name.uidl" ;;
	esac
done

# ------------------------------------------- a generated, varied mbox
# 200 messages from a fixed pseudo-random sequence: Received (0-3, folded
# with spaces or tabs), Date, Message-ID, Delivered-To, X-Delivery-ID
# present or not, before or after the first Received, in any letter case
# and spacing; near-miss header names; Status lines; CRLF messages; some
# messages without any hashed header and some delivered twice (popa3d's
# ids collide for those).
perl -e '
	my ($out, $count, $seed) = @ARGV;
	my $s = $seed;
	sub r { $s = ($s * 1103515245 + 12345) % 2147483648; return ($s >> 8) % $_[0]; }
	sub pick { return $_[r(scalar @_)]; }
	sub name { my $n = shift; my $v = r(6);
		return $n if $v < 3; return lc $n if $v == 3; return uc $n if $v == 4;
		return join "", map { r(2) ? uc : lc } split //, $n; }
	sub sp { return pick(" ", " ", " ", "", "  ", "\t"); }
	sub fold { my $v = shift; return $v unless r(4) == 0;
		$v =~ s/ /"\n" . pick(" ", "\t", "    ") /e; return $v; }
	open(M, ">", $out) or die; binmode M;
	my $prev;
	for my $i (1 .. $count) {
		my $msg;
		if ($prev && r(30) == 0) {
			$msg = $prev;			# delivered twice
		} elsif (r(25) == 0) {
			$msg = "From: X <x\@example.org>\nSubject: nothing hashed $i\n\nbody $i\n";
		} else {
			my @rcv = map { name("Received:") . sp() . fold("from h$i-$_.example.org by mx.example.net id Q$i$_; Mon, 1 Jan 2024 10:" . sprintf("%02d", r(60)) . ":00 +0000") . "\n" } 1 .. pick(0, 1, 1, 1, 2, 3);
			my @other;
			push @other, name("Date:") . sp() . "Mon, 1 Jan 2024 09:" . sprintf("%02d", r(60)) . ":00 +0000\n" if r(10) < 7;
			push @other, pick("Message-ID:", "Message-Id:", "message-id:", "MESSAGE-ID:", "Message-ID:") . sp() . fold("<id$i." . r(100000) . "\@example.org>") . "\n" if r(10) < 7;
			push @other, name("Delivered-To:") . sp() . "user$i\@example.org\n" for 1 .. pick(0, 0, 1, 2);
			push @other, pick("X-Delivery-ID:", "x-delivery-id:", "X-DELIVERY-ID:", "X-Delivery-Id:") . sp() . "D$i\n" if r(8) == 0;
			push @other, pick("Received-SPF: pass\n", "X-Received: by 10.0.0.$i\n", "Resent-Date: Tue, 2 Jan 2024\n", "Resent-Message-ID: <r$i\@x>\n", "In-Reply-To: <p$i\@x>\n", "Date-Received: $i\n", "Delivered-Top: no\n") for 1 .. r(3);
			push @other, "Status: RO\n" if r(5) == 0;
			push @other, "X-Status: A\n" if r(8) == 0;
			push @other, "Subject: message $i\n", "From: Sender <s$i\@example.org>\n";
			# Shuffle, then put the Received block at a random place.
			for (my $j = $#other; $j > 0; $j--) { my $k = r($j + 1); @other[$j, $k] = @other[$k, $j]; }
			my $at = r(@other + 1);
			my @h = (@other[0 .. $at - 1], @rcv, @other[$at .. $#other]);
			my @body = map { pick("text $i\n", ".dot\n", ">From quoted\n", "\n", "Received: in the body\n", "Message-ID: <body\@x>\n") } 1 .. r(6);
			push @body, "last line\n";
			$msg = join("", @h) . "\n" . join("", @body);
			$msg =~ s/\n/\r\n/g if r(20) == 0;
		}
		print M "From sender\@example.org Mon Jan  1 10:00:00 2024\n", $msg, "\n";
		$prev = $msg;
	}' "$T/gen.mbox" 200 4242
uidl gen "$T/gen.mbox"
ids_ok gen-ids-valid "$T/gen.uidl"
if [ "$(wc -l <"$T/gen.uidl")" = 200 ]; then pass gen-200-messages
else fail gen-200-messages "UIDL lists $(wc -l <"$T/gen.uidl") messages"; fi

if [ "$(id -u)" != 0 ]; then
	pass "oracle-gen (skipped: the popa3d oracle needs root)"
elif "$TOP/tests/popa3d-oracle.sh" --uidl "$T/gen.mbox" >"$T/oracle.uidl" 2>"$T/oracle.err"; then
	# Compare every id popa3d gives to one message only.
	why=$(awk '
		NR == FNR { id[$1] = $2; n[$2]++; next }
		{ mine[$1] = $2 }
		END {
			for (i in id) if (n[id[i]] == 1) {
				compared++
				if (mine[i] != id[i] && !bad) bad = "message " i ": popa3d " id[i] ", pop3d " mine[i]
			}
			if (length(id) != length(mine)) bad = "popa3d lists " length(id) " messages, pop3d " length(mine)
			if (compared < 150) bad = bad " (only " compared " ids compared)"
			print bad
		}' "$T/oracle.uidl" "$T/gen.uidl")
	if [ -z "$why" ]; then pass oracle-gen-equal; else fail oracle-gen-equal "$why"; fi
	# Where popa3d's ids collide, pop3d's are the documented extension.
	why=$(awk '
		NR == FNR { id[$1] = $2; n[$2]++; next }
		n[id[$1]] > 1 {
			if (id[$1] == "d98c1dd404b2008f") {	# MD5 of nothing: no hashed header
				wide = $2; sub(/-[0-9]+$/, "", wide)
				if (length(wide) != 32 || wide !~ /^[0-9a-f]+$/) bad = bad " " $1 ":" $2
			}
			else if ($2 != id[$1] && index($2, id[$1] "-") != 1) bad = bad " " $1 ":" $2
		}
		END { print bad }' "$T/oracle.uidl" "$T/gen.uidl")
	if [ -z "$why" ]; then pass oracle-gen-collisions-extended
	else fail oracle-gen-collisions-extended "neither popa3d id nor its extension:$why"; fi
else
	fail oracle-gen-equal "tests/popa3d-oracle.sh failed: $(tail -n 3 "$T/oracle.err" | tr '\n' ' ')"
fi

# --------------------------------------------------------- persistence

# ids FILE: the ids of a listing, one a line.
ids() { cut -d' ' -f2 "$1"; }

cp "$T/gen.mbox" "$MBOX"; own "$MBOX"
uidl_here again
same uidl-stable-across-sessions "$T/gen.uidl" "$T/again.uidl"

# Delete a message whose id has no copy (a copy's suffix would move), QUIT.
victim=$(awk '{ b = $2; sub(/-[0-9]+$/, "", b); base[NR] = b; n[b]++ }
	END { for (i = 10; i <= NR; i++) if (n[base[i]] == 1) { print i; exit } }' "$T/gen.uidl")
crlf 'USER alice' 'PASS secret' "DELE $victim" QUIT | pop dele "${POP[@]}"
exited dele
uidl_here after-dele
ids "$T/gen.uidl" | sed "${victim}d" >"$T/want"
ids "$T/after-dele.uidl" >"$T/got"
same "uidl-stable-after-dele-$victim" "$T/want" "$T/got"

# New mail: three new messages, one of them a second delivery of message 1.
cp "$MBOX" "$T/before-append"
{
	printf 'From new@example.org Tue Jan  2 10:00:00 2024\nReceived: from new by mx; Tue, 2 Jan 2024\nSubject: new 1\n\nnew\n\n'
	sed -n '1,/^$/p' "$T/gen.mbox"	# message 1 (its header) delivered again
	printf 'again\n\n'
	printf 'From new@example.org Tue Jan  2 10:00:00 2024\nSubject: new without hashed headers\n\nnew 3\n\n'
} >>"$MBOX"
uidl_here after-append
ids "$T/after-dele.uidl" >"$T/want"
ids "$T/after-append.uidl" | head -n "$(wc -l <"$T/want")" >"$T/got"
same uidl-stable-after-new-mail "$T/want" "$T/got"
ids_ok uidl-after-new-mail-ids-valid "$T/after-append.uidl"

# A mail reader adds or changes Status:, X-Status:, X-Keywords: and
# Content-Length: lines (ids must not move, wide ids included).
perl -pe '
	if (/^From /) { $n++; $hdr = 1; print; $_ = ""; }
	if ($hdr && $n % 3 == 1) { $_ = "Status: RO\nX-Status: AF\n" . $_; $hdr = 0 }
	elsif ($hdr && $n % 3 == 2) { $_ = "X-Keywords: junk\nContent-Length: 42\n" . $_; $hdr = 0 }
	else { $hdr = 0 }
	s/^Status: RO$/Status: O/;' "$MBOX" >"$T/status.mbox"
cp "$T/status.mbox" "$MBOX"; own "$MBOX"
uidl_here after-status
same uidl-stable-after-status-headers "$T/after-append.uidl" "$T/after-status.uidl"

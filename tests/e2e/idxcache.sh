#!/usr/bin/env bash
# tests/e2e/idxcache.sh - the optional index cache (-I/--index-cache):
# written after a scan of a settled mbox, read back by the next session
# with identical answers, never used once the mbox changed in any way,
# ignored (and replaced) when damaged, never followed through a symlink.
. "$(dirname "$0")/../lib.sh"

H=$(mkhash secret)
printf 'ann:%s\n' "$H" >"$T/passwd"
mkdir "$T/mail" "$T/home"
own "$T/passwd" "$T/mail" "$T/home"
POP=(-s -p "$T/passwd" -m "$T/mail/%u" -I "$T/home/%u.idx")
IDX=$T/home/ann.idx
MB=$T/mail/ann

# A mailbox with every kind of message the index records: duplicates
# (UID suffixes), no popa3d header (wide UIDs), bare LF and CRLF lines, no
# final newline.
mkmbox() {
	perl -e '
		my $n = shift;
		for my $i (1 .. $n) {
			print "From a\@example.org Mon Jan  1 10:00:00 2024\n";
			print $i % 3 ? "Message-ID: <m$i\@example.org>\n" : "X-Other: $i\n";
			print "Subject: same\n\nbody $i\r\nline two\n\n";
		}
		print "From a\@example.org Mon Jan  1 10:00:00 2024\nSubject: same\n\nbody\n\n" x 2;
		print "From a\@example.org Mon Jan  1 10:00:00 2024\nSubject: last\n\nno newline";' "$1"
}
# put FILE: a fresh maildrop, its ctime pushed CACHE_SETTLE_SECONDS (2)
# into the past by waiting.
put() { cp "$1" "$MB"; own "$MB"; chmod 600 "$MB"; sleep 2.2; }
ALL=('USER ann' 'PASS secret' STAT LIST UIDL 'TOP 1 0' 'RETR 4' 'LIST 9' 'UIDL 9')
session() { crlf "${ALL[@]}" QUIT | pop "$1" "${POP[@]}"; }
hit() { grep -q 'index read from cache' "$T/$1.err"; }

mkmbox 40 >"$T/m1"
put "$T/m1"
session first
exited first
check cache-written test -s "$IDX"
if hit first; then fail first-scanned "the first session claims a cache hit"; else pass first-scanned; fi
session second
exited second
if hit second; then pass second-uses-cache; else fail second-uses-cache "no cache hit: $(tail -n 3 "$T/second.err" | tr '\n' ' ')"; fi
if cmp -s "$T/first.out" "$T/second.out"; then pass cached-answers-identical
else fail cached-answers-identical "$(diff "$T/first.out" "$T/second.out" | head -n 4 | tr '\n' ' ')"; fi
equal cache-mode "600 $TEST_USER" "$(stat -c '%a %U' "$IDX")"

# A fresh mbox (changed less than 2 s before the scan) is not cached.
rm -f "$IDX"
cp "$T/m1" "$MB"; own "$MB"
session fresh
check fresh-not-cached test ! -e "$IDX"

# Every change to the mbox makes the cache stale: the session scans and
# its answers are those of a fresh scan.  Each case: change, session,
# compare with a session without the cache.
stale_case() {
	local name=$1
	put "$T/m1"
	session "$name-warm"
	session "$name-warm2"
	hit "$name-warm2" || { fail "$name" "setup: no cache hit"; return; }
	shift
	"$@"
	session "$name-after"
	crlf "${ALL[@]}" QUIT | pop "$name-plain" -s -p "$T/passwd" -m "$T/mail/%u"
	if hit "$name-after"; then fail "$name" "the stale cache was used"
	elif ! cmp -s "$T/$name-after.out" "$T/$name-plain.out"; then fail "$name" "answers differ from a plain scan"
	else pass "$name"; fi
}
append() { mkmbox 1 >>"$MB"; }
# Same size, same mtime, one byte changed in the middle: only the ctime
# (and the cache's probes, if it lands on a From_ line) can tell.
sameinplace() {
	local mt; mt=$(stat -c %y "$MB")
	perl -e 'open(F, "+<", $ARGV[0]) or die; seek(F, 300, 0); print F "X"; close F' "$MB"
	touch -d "$mt" "$MB"
}
samefrom() {
	local mt; mt=$(stat -c %y "$MB")
	perl -e 'open(F, "+<", $ARGV[0]) or die; local $/; my $d = <F>; my $p = index($d, "\nFrom ", 1000); seek(F, $p + 1, 0); print F "Xrom "; close F' "$MB"
	touch -d "$mt" "$MB"
}
replaced() { mkmbox 39 >"$T/m2"; perl -e 'print "x" x 60' >>"$T/m2"; cp "$T/m2" "$MB"; }
touched() { touch "$MB"; }
stale_case stale-append append
stale_case stale-same-size-edit sameinplace
stale_case stale-from-line-edit samefrom
stale_case stale-rewritten replaced
stale_case stale-touched touched

# DELE + QUIT rewrites the mbox: the next session must not use the cache.
put "$T/m1"
session dele-warm
crlf 'USER ann' 'PASS secret' 'DELE 2' 'DELE 5' QUIT | pop dele "${POP[@]}"
session dele-after
crlf "${ALL[@]}" QUIT | pop dele-plain -s -p "$T/passwd" -m "$T/mail/%u"
if hit dele-after; then fail after-update-not-cached "the cache was used after UPDATE"
elif cmp -s "$T/dele-after.out" "$T/dele-plain.out"; then pass after-update-not-cached
else fail after-update-not-cached "answers differ from a plain scan"; fi

# A damaged cache (a flipped byte, cut short, garbage) is not used, the
# session answers as without it, and a later session writes a good one.
damaged_case() {
	local name=$1
	put "$T/m1"
	session "$name-warm"
	shift
	"$@"
	session "$name-after"
	exited "$name-after"
	if hit "$name-after"; then fail "$name" "the damaged cache was used"
	elif ! cmp -s "$T/$name-after.out" "$T/$name-warm.out"; then fail "$name" "answers differ"
	else pass "$name"; fi
	session "$name-again"
	if hit "$name-again"; then pass "$name-rewritten"; else fail "$name-rewritten" "no good cache written after the damaged one"; fi
}
flipbyte() { perl -e 'open(F, "+<", $ARGV[0]) or die; seek(F, 200, 0); read(F, my $c, 1); seek(F, 200, 0); print F chr(ord($c) ^ 1); close F' "$IDX"; }
cutshort() { truncate -s 500 "$IDX"; }
garbage() { head -c 5696 /dev/urandom >"$IDX"; own "$IDX"; }
emptyfile() { : >"$IDX"; }
damaged_case damaged-flipped flipbyte
damaged_case damaged-cut cutshort
damaged_case damaged-garbage garbage
damaged_case damaged-empty emptyfile

# A cache forged by its owner (resealed, so the checksum holds) with sizes
# that do not add up to the mbox's bytes: refused, the mbox scanned, and
# LIST shows the true sizes.  The old shape check let a size reach twice
# the stored bytes.
if cc -O1 -o "$T/icforge" "$TOP/tests/icforge.c" -lxxhash 2>"$T/icforge.err"; then
	put "$T/m1"
	session forge-warm
	crlf 'USER ann' 'PASS secret' 'LIST 2' QUIT | pop forge-true -s -p "$T/passwd" -m "$T/mail/%u"
	true_size=$(sed -n 's/^+OK 2 \([0-9]*\)\r$/\1/p' "$T/forge-true.out")
	for forged in $((true_size + 1)) $((2 * true_size - 20)); do
		session "forge-$forged-ok"
		"${RUNAS[@]}" "$T/icforge" "$IDX" 1 24 8 "$forged"
		crlf 'USER ann' 'PASS secret' 'LIST 2' QUIT | pop "forge-$forged" "${POP[@]}"
		if hit "forge-$forged"; then fail "forged-size-$forged-refused" "the forged cache was used"
		else pass "forged-size-$forged-refused"; fi
		equal "forged-size-$forged-list-true" "+OK 2 $true_size" "$(sed -n '4p' "$T/forge-$forged.out" | tr -d '\r')"
	done
else
	fail forged-size "cannot build tests/icforge.c: $(head -n 2 "$T/icforge.err" | tr '\n' ' ')"
fi

# A cache owned by someone else, or a symlink, is not read.
if [ "$(id -u)" = 0 ]; then
	put "$T/m1"
	session owner-warm
	chown root "$IDX"
	session owner-after
	if hit owner-after; then fail foreign-owner-ignored "a root-owned cache was used"; else pass foreign-owner-ignored; fi
fi
put "$T/m1"
session link-warm
mv "$IDX" "$T/home/real.idx"
ln -s "$T/home/real.idx" "$IDX"
session link-after
if hit link-after; then fail symlink-ignored "the cache was read through a symlink"; else pass symlink-ignored; fi
check symlink-target-kept test -s "$T/home/real.idx"
rm -f "$IDX"

# An index directory the user cannot write: sessions work, no cache.
chmod 555 "$T/home"
put "$T/m1"
session nodir
exited nodir
if grep -q '^+OK' "$T/nodir.out" && [ ! -e "$IDX" ]; then pass unwritable-dir-ok; else fail unwritable-dir-ok "$(head -n 3 "$T/nodir.out" | tr '\n' ' ')"; fi
chmod 755 "$T/home"

# Template checks.
run_pop3d -s -p "$T/passwd" -I '' </dev/null >"$T/empty.out" 2>&1
equal empty-template-refused 2 "$?"
run_pop3d -s -p "$T/passwd" -I '/x/%z' </dev/null >"$T/badt.out" 2>&1
equal bad-template-refused 2 "$?"

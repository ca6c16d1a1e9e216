#!/usr/bin/env bash
# tests/e2e/maildir-idxcache.sh - the index cache (-I) for a Maildir:
# a login after the first reads no message file (strace), and once cur/
# and new/ settled not even the directories (no getdents64 on cur/),
# with STAT, LIST and UIDL those of a session without the cache; a file
# changed in place behind the cache's back (same size, same mtime) is
# still sent byte for byte, its wrong size logged and corrected; new mail
# shows at the next login; a message removed by another program answers
# -ERR; a damaged, forged, foreign or symlinked cache file is ignored,
# logged; the directory fast path waits for the settle time, is never
# taken on NFS, and an unchanged Maildir's cache is not rewritten.
. "$(dirname "$0")/../lib.sh"

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
mkdir "$T/home"
own "$T/passwd" "$T/home"
MD=$T/alice/Maildir
IDX=$T/home/alice.mdidx
POP=(-s -p "$T/passwd" -m "maildir:$T/%u/Maildir")
CPOP=("${POP[@]}" -I "$T/home/%u.mdidx")
LOGIN=('USER alice' 'PASS secret')
FAST='message list read from the index cache'

command -v strace >/dev/null 2>&1 ||
	sh "$TOP/tests/apt-install.sh" strace >"$T/apt.log" 2>&1 ||
	fail deps-strace "cannot install strace: $(tail -3 "$T/apt.log" | tr '\n' ' ')"
if ! cc -O1 -o "$T/mdcreseal" "$TOP/tests/mdcreseal.c" -lxxhash 2>"$T/reseal.err"; then
	fail mdcreseal-build "$(tr '\n' ' ' <"$T/reseal.err")"
	exit 0
fi
reseal() { "${RUNAS[@]}" "$T/mdcreseal" "$IDX"; }

# expected FILE K: what pop3d must send after "+OK" for FILE (as
# maildir.sh computes it): K -1 the whole message, "size" its octets.
expected() {
	perl -e '
		my ($file, $k) = @ARGV;
		open(F, "<", $file) or die "$file: $!"; binmode F; binmode STDOUT;
		local $/; my $d = <F>;
		my @l = $d =~ /[^\n]*\n|[^\n]+\z/g;
		for (@l) { s/\r?\n\z//; $_ .= "\r\n" }
		if ($k eq "size") { my $n = 0; $n += length for @l; print $n; exit }
		for (@l) { s/^\./../; print }
		print ".\r\n";' "$@"
}

# fresh: 30 messages in cur/ without a ,W= size (LF, CRLF, no final
# newline, dot lines), one with a right ,W=, and three in new/.
name_of() { printf '%d.M%dP%d.host' $((1700000000 + $1)) "$1" "$1"; }
fresh() {
	local i f
	rm -rf "$T/alice"
	mkdir -p "$MD/cur" "$MD/new" "$MD/tmp"
	for i in $(seq 1 30); do
		f=$MD/cur/$(name_of "$i"):2,S
		case $((i % 4)) in
		0) printf 'Subject: m%d\n\nline one\nline two\n' "$i" >"$f" ;;
		1) printf 'Subject: m%d\r\n\r\ncrlf one\r\nline\r\n' "$i" >"$f" ;;
		2) printf 'Subject: m%d\n\n.dot\nno final newline' "$i" >"$f" ;;
		3) printf 'Subject: m%d\n\n%s\n' "$i" "$(head -c $((i * 40)) /dev/zero | tr '\0' x)" >"$f" ;;
		esac
	done
	printf 'Subject: m31\n\nwith a size\n' >"$T/m31"
	mv "$T/m31" "$MD/cur/$(name_of 31),W=$(expected "$T/m31" size):2,S"
	for i in 32 33 34; do printf 'Subject: m%d\n\nnew mail\n' "$i" >"$MD/new/$(name_of "$i")"; done
	chmod -R go-w "$T/alice"
	own -R "$T/alice"
}
settle() { sleep 2.2; }

# look NAME ARGS...: STAT, LIST, UIDL.
look() { local n=$1; shift; crlf "${LOGIN[@]}" STAT LIST UIDL QUIT | pop "$n" "$@"; }
# traced NAME ARGS...: login and STAT under strace: the files opened and
# the directories listed, each with the path of its directory (-y).
traced() {
	local n=$1; shift
	crlf "${LOGIN[@]}" STAT QUIT |
		env ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" strace -f -qq -y -e trace=openat,openat2,getdents64 -o "$T/$n.strace" \
			"${RUNAS[@]}" "$POP3D" "$@" >"$T/$n.out" 2>"$T/$n.err"
	echo $? >"$T/$n.rc"
}
# The message files a traced session opened (by a directory descriptor
# of cur/ or new/, or by a path in them; "." is the readdir's own open).
opened_messages() {
	grep -cE "openat2?\([0-9]+<[^>]*/Maildir/(cur|new)>, \"[^.\"]|\"[^\"]*/Maildir/(cur|new)/[^\"]" "$T/$1.strace"
}
listed_cur() { grep -cE "getdents64\([0-9]+<[^>]*/Maildir/cur>" "$T/$1.strace"; }
fast() { grep -q "$FAST" "$T/$1.err"; }
# same_answers CHECK A B: sessions A and B answered alike.
same_answers() {
	if cmp -s "$T/$2.out" "$T/$3.out"; then pass "$1"
	else fail "$1" "$(diff "$T/$2.out" "$T/$3.out" | head -n 4 | tr '\n' ' ')"; fi
}
stamp_of() { stat -c '%i %.9Y' "$1" 2>/dev/null; }

# ------------------------------------------- first, second, third login

fresh
look first "${CPOP[@]}"
exited first
check cache-written test -s "$IDX"
equal cache-mode "600 $TEST_USER" "$(stat -c '%a %U' "$IDX")"
look plain "${POP[@]}"
same_answers first-answers-as-without-cache plain first
equal all-messages "+OK maildrop has 34 messages" "$(line plain 3 | sed 's/ (.*//')"

# The detector works: without the cache, login counts the sizes.
traced control "${POP[@]}"
exited control
n=$(opened_messages control)
if [ "$n" -ge 30 ]; then pass strace-sees-message-opens
else fail strace-sees-message-opens "only $n message files opened without the cache"; fi

# Second login: the directories changed at the first (new/ moved to
# cur/), so they are read, but no message file is.
settle
traced second "${CPOP[@]}"
exited second
equal second-opens-no-message 0 "$(opened_messages second)"
if fast second; then fail second-scans "fast path taken though cur/ changed after the cache's stamps"
else pass second-scans; fi
equal second-stat "$(line plain 3)" "$(line second 3)"

# Third login: nothing changed since the second's settled stamps: no
# readdir of cur/ either.
before=$(stamp_of "$IDX")
traced third "${CPOP[@]}"
exited third
if fast third; then pass third-fast-path; else fail third-fast-path "no fast path: $(tail -n 3 "$T/third.err" | tr '\n' ' ')"; fi
equal third-lists-no-cur 0 "$(listed_cur third)"
equal third-opens-no-message 0 "$(opened_messages third)"
equal third-stat "$(line plain 3)" "$(line third 3)"
equal unchanged-cache-not-rewritten "$before" "$(stamp_of "$IDX")"
look fourth "${CPOP[@]}"
if fast fourth; then pass fourth-fast-path; else fail fourth-fast-path "no fast path"; fi
look plain2 "${POP[@]}"
same_answers fast-path-stat-list-uidl-as-without-cache plain2 fourth

# --------------------------------- changed in place behind the cache's back

# Message 4 (LF line ends): "one\n" becomes "on\r\n", same size, same
# inode, the mtime set back: the cache's key still matches, its size is
# one octet too large.
f=$(ls "$MD"/cur/"$(name_of 4)":*)
mt=$(stat -c %y "$f")
perl -e 'open(F, "+<", $ARGV[0]) or die; local $/; my $d = <F>; $d =~ s/one\n/on\r\n/ or die; seek(F, 0, 0); print F $d; close F' "$f"
touch -d "$mt" "$f"
equal inplace-key-kept "$mt" "$(stat -c %y "$f")"
true_size=$(expected "$f" size)
crlf "${LOGIN[@]}" 'LIST 4' 'RETR 4' 'LIST 4' QUIT | pop inplace "${CPOP[@]}"
exited inplace
if fast inplace; then pass inplace-fast-path; else fail inplace-fast-path "no fast path"; fi
equal inplace-list-before-is-cached "+OK 4 $((true_size + 1))" "$(line inplace 4)"
{ printf '+OK %s octets\r\n' "$true_size"; expected "$f" -1; } >"$T/inplace.exp"
head -c "$(wc -c <"$T/inplace.exp")" <(tail -n +5 "$T/inplace.out") >"$T/inplace.got"
same inplace-retr-byte-exact "$T/inplace.exp" "$T/inplace.got"
log_has inplace-wrong-size-logged inplace "is $true_size octets, not the $((true_size + 1)) the index cache says"
equal inplace-list-after-corrected "+OK 4 $true_size" "$(tail -n 2 "$T/inplace.out" | head -n 1 | tr -d '\r')"

# The session that found the cached size wrong wrote the cache again: the
# next login shows the counted size, and logs nothing about it.
crlf "${LOGIN[@]}" 'LIST 4' QUIT | pop inplace-next "${CPOP[@]}"
equal inplace-next-login-counted-size "+OK 4 $true_size" "$(line inplace-next 4)"
if grep -q 'the index cache says' "$T/inplace-next.err"; then fail inplace-next-nothing-logged "logged again"
else pass inplace-next-nothing-logged; fi

# ------------------------------------------------------------- new mail

printf 'Subject: late\n\nlate mail\n' >"$MD/new/$(name_of 40)"
own "$MD/new/$(name_of 40)"
look late "${CPOP[@]}"
exited late
if fast late; then fail late-scans "fast path taken after a delivery"; else pass late-scans; fi
equal late-mail-counted "+OK maildrop has 35 messages" "$(line late 3 | sed 's/ (.*//')"
check late-mail-listed grep -q "^35 $(name_of 40)" "$T/late.out"
look late-plain "${POP[@]}"
same_answers late-as-without-cache late-plain late

# ------------------------------------------- removed by another program

settle
look warm "${CPOP[@]}"
look warm2 "${CPOP[@]}"
g=$(ls "$MD"/cur/"$(name_of 6)":*)
fifo_start gone "${RUNAS[@]}" "$POP3D" "${CPOP[@]}"
send "${LOGIN[@]}" STAT
await gone 4
rm "$g"
send "RETR 6" "LIST 7" QUIT
await gone 7
finish gone
exited gone
if fast gone; then pass gone-fast-path; else fail gone-fast-path "no fast path"; fi
equal gone-answers-err "-ERR message was removed by another program" "$(line gone 5)"
check gone-session-goes-on sh -c "grep -q '^+OK 7 ' '$T/gone.out'"

# The same from a cache that still lists the file, with the stamps cur/
# has now (forged: only the owner can write it): -ERR, no crash.
settle
look warm3 "${CPOP[@]}"
h=$(ls "$MD"/cur/"$(name_of 8)":*)
cp "$IDX" "$T/idx.keep"
rm "$h"
perl -e '
	my ($file, $dev, $ino, $m, $c) = @ARGV;
	open(F, "+<", $file) or die; binmode F;
	seek(F, 16, 0);
	print F pack("Q<Q<q<q<", $dev, $ino, $m, $c); close F' \
	"$IDX" $(stat -c '%d %i' "$MD/cur") \
	"$(stat -c '%.9Y' "$MD/cur" | tr -d .)" "$(stat -c '%.9Z' "$MD/cur" | tr -d .)"
reseal
settle
# (Message 6 is gone: the eighth file is message 7.)
crlf "${LOGIN[@]}" STAT 'RETR 7' 'RETR 8' QUIT | pop forged-gone "${CPOP[@]}"
exited forged-gone
if fast forged-gone; then pass forged-gone-fast-path; else fail forged-gone-fast-path "no fast path: $(tail -n 3 "$T/forged-gone.err" | tr '\n' ' ')"; fi
equal forged-gone-answers-err "-ERR message was removed by another program" "$(line forged-gone 5)"
answer_is forged-gone-next-served forged-gone 6 '+OK * octets'

# ------------------------------------------ damaged and foreign caches

fresh
look d-plain "${POP[@]}"
look d-warm "${CPOP[@]}"
cp "$IDX" "$T/good.idx"
# damaged_case NAME FUNCTION: the cache after FUNCTION is not used
# (logged), the session answers as without it, and writes a good one.
damaged_case() {
	local name=$1
	cp "$T/good.idx" "$IDX"; own "$IDX"
	"$2"
	look "$name" "${CPOP[@]}"
	exited "$name"
	log_has "$name-ignored-logged" "$name" "Maildir cache .* not used"
	same_answers "$name-answers-as-without" d-plain "$name"
}
flipbyte() { perl -e 'open(F, "+<", $ARGV[0]) or die; seek(F, 300, 0); read(F, my $c, 1); seek(F, 300, 0); print F chr(ord($c) ^ 4); close F' "$IDX"; }
cutshort() { truncate -s 200 "$IDX"; }
garbage() { head -c 3000 /dev/urandom >"$IDX"; }
emptyfile() { : >"$IDX"; }
badmagic() { printf 'POP3DMC9' | dd of="$IDX" conv=notrunc status=none; }
# Resealed, so the checksum holds: record 0's size below its stored
# bytes, a name with '/', and a count of 2^32.
forged_size() { perl -e 'open(F, "+<", $ARGV[0]) or die; seek(F, 104 + 24, 0); print F pack("Q<", 0); close F' "$IDX"; reseal; }
forged_name() { perl -e 'open(F, "+<", $ARGV[0]) or die; seek(F, 104 + 44 + 3, 0); print F "/"; close F' "$IDX"; reseal; }
forged_count() { perl -e 'open(F, "+<", $ARGV[0]) or die; seek(F, 80, 0); print F pack("Q<", 1 << 32); close F' "$IDX"; reseal; }
damaged_case damaged-flipped flipbyte
damaged_case damaged-cut cutshort
damaged_case damaged-garbage garbage
damaged_case damaged-empty emptyfile
damaged_case damaged-magic badmagic
damaged_case forged-size forged_size
damaged_case forged-name forged_name
damaged_case forged-count forged_count
log_has forged-size-why forged-size "bad record"
log_has forged-count-why forged-count "too many records"

# A symlink is not followed, and its target not written.
cp "$T/good.idx" "$T/target.idx"; own "$T/target.idx"
rm -f "$IDX"; ln -s "$T/target.idx" "$IDX"
look symlink "${CPOP[@]}"
exited symlink
log_has symlink-ignored-logged symlink "Maildir cache .* not used: Too many levels of symbolic links"
same_answers symlink-answers-as-without d-plain symlink
check symlink-target-untouched cmp -s "$T/good.idx" "$T/target.idx"
check symlink-replaced-by-file test -f "$IDX" -a ! -L "$IDX"

# A file of another user's (root's, when the test runs as root).
if [ "$(id -u)" = 0 ]; then
	cp "$T/good.idx" "$IDX"; chown root:root "$IDX"; chmod 644 "$IDX"
	look foreign "${CPOP[@]}"
	exited foreign
	log_has foreign-ignored-logged foreign "Maildir cache .* not used: not a regular file of the user's"
	same_answers foreign-answers-as-without d-plain foreign
else
	pass foreign-ignored-logged-skipped-not-root
fi

# ------------------------------------------------- the settle time

# cur/ created (changed) just now: the cache written at once is not
# trusted for the list, even though no name changed since.
rm -rf "$T/alice"
mkdir -p "$MD/cur" "$MD/new" "$MD/tmp"
for i in 1 2 3; do printf 'Subject: s%d\n\nsettle\n' "$i" >"$MD/cur/$(name_of "$i"):2,"; done
chmod -R go-w "$T/alice"; own -R "$T/alice"
# The check means something only if s1 began within 2 s of cur/'s last
# change: on a machine too loaded for that, cur/ is changed again (a
# dot file made and removed) and the pair run again.
for try in 1 2 3; do
	rm -f "$IDX"
	touch "$MD/cur/.poke"; rm "$MD/cur/.poke"
	t0=$(date +%s)
	look s1 "${CPOP[@]}"
	look s2 "${CPOP[@]}"
	[ $((t0 - $(stat -c %Z "$MD/cur"))) -lt 2 ] && break
done
if fast s2; then fail unsettled-no-fast-path "fast path taken with cur/ changed under 2 s before the scan"
else pass unsettled-no-fast-path; fi
settle
look s3 "${CPOP[@]}"
if fast s3; then fail unsettled-cache-not-trusted-later "fast path from a cache written unsettled"
else pass unsettled-cache-not-trusted-later; fi
look s4 "${CPOP[@]}"
if fast s4; then pass settled-cache-fast-path; else fail settled-cache-fast-path "no fast path after the settle time"; fi
same_answers settle-answers s1 s4

# ------------------------------------------------------------- NFS

# On a file system that is not local (tests/fsshim.c makes fstatfs say
# NFS), the directory stamps are never trusted; sizes still are hints.
if cc -shared -fPIC -O1 -o "$T/fsshim.so" "$TOP/tests/fsshim.c" -ldl 2>"$T/shim.err"; then
	cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d"
	ON_NFS=(env ASAN_OPTIONS="${ASAN_OPTIONS}:verify_asan_link_order=0" LD_PRELOAD="$T/fsshim.so" FSSHIM_NFS_DIR="$(realpath "$T")/alice")
	nfs() { crlf "${LOGIN[@]}" STAT LIST UIDL QUIT | "${RUNAS[@]}" "${ON_NFS[@]}" "$T/pop3d" "${CPOP[@]}" >"$T/$1.out" 2>"$T/$1.err"; echo $? >"$T/$1.rc"; }
	nfs nfs1
	settle
	nfs nfs2
	nfs nfs3
	exited nfs3
	if fast nfs1 || fast nfs2 || fast nfs3; then fail nfs-no-fast-path "fast path taken on NFS"
	else pass nfs-no-fast-path; fi
	same_answers nfs-answers s1 nfs3
else
	fail fsshim-build "$(tr '\n' ' ' <"$T/shim.err")"
fi

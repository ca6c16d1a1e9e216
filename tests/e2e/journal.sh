#!/usr/bin/env bash
# tests/e2e/journal.sh - the journal is tied to the bytes it was written
# for (docs/update-journal.md, "Recovery"):
#  (a) an UPDATE killed with its journal in place, then the mbox replaced
#      (emptied in place and refilled with new mail: same inode, same
#      birth time; or removed and created anew): the next login applies
#      nothing, keeps the journal and the new mail, answers [SYS/PERM];
#  (b) the same, but a mail reader edited the mbox in place (a Status:
#      line added before or inside the rewritten region);
#  (c) the mbox's file system mounted on another device number after the
#      crash (st_dev changes across a reboot): recovery still finishes;
#  (d) files at the journal names that are not the user's own (another
#      uid, a symbolic link, a FIFO) are never acted on and lock nobody
#      out; an UPDATE never replaces them;
#  (e) a journal in the older format is refused with advice.
# Each series runs for both journal kinds (2 moves, 1 data).
. "$(dirname "$0")/../lib.sh"

cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
SUPPORT_ROOT=0
[ "$(id -u)" = 0 ] && SUPPORT_ROOT=1

H=$(mkhash secret)
for u in alice bob; do printf '%s:%s\n' "$u" "$H"; done >"$T/passwd"
mkdir "$T/mail" "$T/p" "$T/f"
own "$T/passwd" "$T/mail" "$T/f"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")

# Parts: six messages; in $T/p/big3 message 3 is 5 MB (kind 1 when
# message 1 is deleted: a small deletion early in a big mbox).
perl -e '
	my $dir = shift;
	my $from = "From sender\@example.org Mon Jan  1 10:00:00 2024\n";
	for my $i (1 .. 6) {
		open(F, ">", "$dir/$i") or die;
		print F $from, "Message-ID: <m$i\@example.org>\nSubject: $i\n\n",
		    ("body $i " x 40), "\n\n";
		close F;
	}
	open(F, ">", "$dir/big3") or die;
	print F $from, "Message-ID: <m3\@example.org>\nSubject: 3 (5 MB)\n\n";
	print F "line $_ " . ("x" x 200) . "\n" for 1 .. 25000;
	print F "\n"; close F;
	open(F, ">", "$dir/new") or die;
	print F "From mda\@example.org Tue Jan  2 10:00:00 2024\n",
	    "Message-ID: <new\@example.org>\nSubject: delivered after the crash\n\n",
	    ("new mail " x 8000), "\n\n";
	close F;' "$T/p"
parts() { local n; for n in "$@"; do cat "$T/p/$n"; done; }
put() { rm -f "$2"; cp "$1" "$2"; own "$2"; chmod 600 "$2"; }
fingerprint() { printf '%s %s\n' "$(sha256sum <"$1")" "$(stat -c '%s %i' "$1")"; }

# The series' mailboxes: KIND_CMDS are the DELEs, KIND_BEFORE/AFTER the
# mbox before and after that UPDATE.
parts 1 2 3 4 5 6 >"$T/moves.before"; parts 1 3 5 6 >"$T/moves.after"
parts 1 2 big3 4 5 6 >"$T/data.before"; parts 2 big3 4 5 6 >"$T/data.after"
declare -A CMDS=([moves]='DELE 2|DELE 4' [data]='DELE 1') KINDNO=([moves]=2 [data]=1)

FAULT_ASAN="${ASAN_OPTIONS}:verify_asan_link_order=0"
cc -shared -fPIC -O1 -o "$T/faultshim.so" "$TOP/tests/faultshim.c" -ldl 2>"$T/shim.err" ||
	fail shim-builds "$(head -n 3 "$T/shim.err" | tr '\n' ' ')"

# session NAME USER MAILDIR CMD...: USER/PASS, CMDs, as the session user.
session() {
	local name=$1 user=$2 dir=$3
	shift 3
	crlf "USER $user" 'PASS secret' "$@" | "${RUNAS[@]}" timeout 20 "$POP3D" -s \
		-p "$T/passwd" -m "$dir/%u" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}

# crash NAME KIND DIR: the KIND series' UPDATE on DIR/alice, SIGKILLed
# right after the rename that puts the journal in place (the mbox not yet
# written), or, with CRASH_AT=mid, at the first write to the mbox after
# that -- a half-done rewrite.  Leaves DIR/alice.pop3d-journal.
crash() {
	local name=$1 kind=$2 dir=$3 n IFS='|' cmds
	read -r -a cmds <<<"${CMDS[$kind]}"
	put "$T/$kind.before" "$dir/alice"
	rm -f "$T/f/$name.trace"
	crlf 'USER alice' 'PASS secret' "${cmds[@]}" QUIT |
		"${RUNAS[@]}" env ASAN_OPTIONS="$FAULT_ASAN" LD_PRELOAD="$T/faultshim.so" \
			FAULT_AT=0 FAULT_TRACE_FILE="$T/f/$name.trace" \
			"$POP3D" -s -p "$T/passwd" -m "$dir/%u" >/dev/null 2>&1
	n=$(grep -m1 -nE "^[0-9]+ rename(at2?)? .* -> .*alice\.pop3d-journal\$" "$T/f/$name.trace" | cut -d' ' -f1 | cut -d: -f2)
	if [ "${CRASH_AT:-rename}" = mid ] && [ -n "$n" ]; then
		n=$(awk -v r="$n" '$1 > r && $2 ~ /^pwrite/ { print $1; exit }' "$T/f/$name.trace")
	fi
	put "$T/$kind.before" "$dir/alice"
	[ -n "$n" ] || { echo "no journal rename seen"; return 1; }
	crlf 'USER alice' 'PASS secret' "${cmds[@]}" QUIT |
		"${RUNAS[@]}" env ASAN_OPTIONS="$FAULT_ASAN" LD_PRELOAD="$T/faultshim.so" \
			FAULT_AT="$n" FAULT_WHEN=after "$POP3D" -s -p "$T/passwd" -m "$dir/%u" \
			>/dev/null 2>&1
	[ -s "$dir/alice.pop3d-journal" ] || { echo "no journal after the kill at call $n"; return 1; }
	[ "$(od -An -tu1 -j80 -N1 "$dir/alice.pop3d-journal" | tr -d ' ')" = "${KINDNO[$kind]}" ] ||
		echo "note: journal kind $(od -An -tu1 -j80 -N1 "$dir/alice.pop3d-journal") for the $kind series" >&2
	return 0
}

# refused NAME: the login was refused with [SYS/PERM], the mbox and the
# journal are as they were before it, and the log says why.
refused() {
	local name=$1 mb=$2 fpm=$3 fpj=$4
	case $(line "$name" 3) in
	'-ERR [SYS/PERM]'*) pass "$name-refused" ;;
	*) fail "$name-refused" "third line: '$(line "$name" 3)'" ;;
	esac
	equal "$name-mbox-untouched" "$fpm" "$(fingerprint "$mb")"
	equal "$name-journal-kept" "$fpj" "$(fingerprint "$mb.pop3d-journal" 2>&1)"
	if grep -q 'does not match maildrop.*nothing was applied' "$T/$name.err"; then
		pass "$name-logged"
	else
		fail "$name-logged" "log: $(grep -m1 journal "$T/$name.err")"
	fi
}

# ------------------------------ (a), (b): the mbox changed after the crash

for kind in moves data; do
	MB=$T/mail/alice
	# (a) emptied in place and refilled: same inode, same birth time.
	if err=$(crash "replace-$kind" "$kind" "$T/mail" 2>&1); then
		ino=$(stat -c %i "$MB")
		{ cat "$T/p/new"; cat "$T/$kind.before"; } >"$T/refill"
		perl -e 'open(F, "+<", $ARGV[0]) or die; truncate(F, 0); open(N, "<", $ARGV[1]) or die;
			local $/; print F <N>; close F' "$MB" "$T/refill"
		equal "replace-in-place-$kind-same-inode" "$ino" "$(stat -c %i "$MB")"
		fpm=$(fingerprint "$MB"); fpj=$(fingerprint "$MB.pop3d-journal")
		session "replace-in-place-$kind" alice "$T/mail" LIST QUIT
		refused "replace-in-place-$kind" "$MB" "$fpm" "$fpj"
		cmp -s "$MB" "$T/refill" && pass "replace-in-place-$kind-new-mail-kept" ||
			fail "replace-in-place-$kind-new-mail-kept" "the mbox changed"
		# Removed and created anew, with new mail at least as long.
		rm -f "$MB"; cp "$T/refill" "$MB"; own "$MB"; chmod 600 "$MB"
		fpm=$(fingerprint "$MB")
		session "recreated-$kind" alice "$T/mail" LIST QUIT
		refused "recreated-$kind" "$MB" "$fpm" "$fpj"
	else
		fail "replace-in-place-$kind" "$err"
	fi
	rm -f "$MB".pop3d-journal*

	# (b) a mail reader adds a Status: line in place, in the kept prefix
	# (message 1, kind moves) or inside the rewritten region (message 5).
	for where in 1 5; do
		[ "$kind" = data ] && [ "$where" = 1 ] && continue	# w0 = 0: no prefix
		if err=$(crash "edit-$kind-$where" "$kind" "$T/mail" 2>&1); then
			perl -e 'my ($f, $n) = @ARGV; open(F, "+<", $f) or die; local $/; my $s = <F>;
				my $i = 0; $s =~ s/^(Subject: \Q$n\E\b.*\n)/$1Status: RO\n/m or die "no message $n";
				seek(F, 0, 0); print F $s; close F' "$MB" "$where"
			fpm=$(fingerprint "$MB"); fpj=$(fingerprint "$MB.pop3d-journal")
			session "edited-msg$where-$kind" alice "$T/mail" LIST QUIT
			refused "edited-msg$where-$kind" "$MB" "$fpm" "$fpj"
		else
			fail "edited-msg$where-$kind" "$err"
		fi
		rm -f "$MB".pop3d-journal*
	done

	# A real crash state with mail delivered after it still recovers, and
	# the new mail is kept exactly once (the checks do not refuse it).
	for at in rename mid; do
		if err=$(CRASH_AT=$at crash "recover-$kind-$at" "$kind" "$T/mail" 2>&1); then
			cat "$T/p/new" >>"$MB"
			session "recover-$kind-$at" alice "$T/mail" QUIT
			case $(line "recover-$kind-$at" 3) in
			'+OK maildrop has '*) pass "recover-$kind-$at-login" ;;
			*) fail "recover-$kind-$at-login" "third line: '$(line "recover-$kind-$at" 3)'" ;;
			esac
			cmp -s "$MB" <(cat "$T/$kind.after" "$T/p/new") && pass "recover-$kind-$at-after-state" ||
				fail "recover-$kind-$at-after-state" "the mbox is neither after-QUIT plus the new mail"
			[ ! -e "$MB.pop3d-journal" ] && pass "recover-$kind-$at-journal-gone" ||
				fail "recover-$kind-$at-journal-gone" "journal left"
		else
			fail "recover-$kind-$at" "$err"
		fi
		rm -f "$MB".pop3d-journal*
	done
done

# A login that finishes an UPDATE wrote the mbox: like QUIT's UPDATE, it
# makes the dot-lock's removal durable (an fsync of the directory after
# the unlink), so a power cut cannot bring back a lock on a mailbox that
# was already rewritten.
command -v strace >/dev/null 2>&1 ||
	sh "$TOP/tests/apt-install.sh" strace >"$T/apt.log" 2>&1 ||
	fail deps-strace "cannot install strace: $(tail -3 "$T/apt.log")"
if strace -f -qq -o /dev/null true 2>/dev/null; then
	MB=$T/mail/alice
	if err=$(CRASH_AT=mid crash recover-lock moves "$T/mail" 2>&1); then
		crlf 'USER alice' 'PASS secret' QUIT |
			ASAN_OPTIONS=detect_leaks=0:exitcode=99 timeout 60 strace -f -qq -y \
			-o "$T/recover-lock.trace" -e trace=fsync,unlink,unlinkat \
			"${RUNAS[@]}" "$POP3D" -s -p "$T/passwd" -m "$T/mail/%u" \
			>"$T/recover-lock.out" 2>"$T/recover-lock.err"
		# U: the lock's unlink, D: an fsync of the spool directory.
		seq=$(perl -ne 'BEGIN { ($l, $d) = (shift, shift) }
			next unless /^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)/;
			my ($f, $a, $r) = ($1, $2, $3);
			($b = $l) =~ s|.*/||;	# the name, relative to the spool directory fd
			if ($f =~ /^unlink/ && $r == 0 && ($a =~ /"\Q$l\E"/ || $a =~ /^\d+<\Q$d\E>, "\Q$b\E"/)) { print "U" }
			elsif ($f eq "fsync" && $r == 0 && $a =~ /^\d+<\Q$d\E>$/) { print "D" }' \
			"$MB.lock" "$T/mail" "$T/recover-lock.trace")
		case $(line recover-lock 3) in
		'+OK maildrop has '*) pass recover-lock-login ;;
		*) fail recover-lock-login "third line: '$(line recover-lock 3)'" ;;
		esac
		case $seq in
		*UD) pass recovery-lock-removal-fsynced ;;
		*) fail recovery-lock-removal-fsynced "unlink/fsync order: '$seq'" ;;
		esac
	else
		fail recover-lock "$err"
	fi
	rm -f "$MB".pop3d-journal*
else
	echo "SKIP recovery-lock-removal-fsynced: strace cannot trace here"
fi

# ------------------------------- (c) another device number after a reboot

if [ "$SUPPORT_ROOT" = 1 ]; then
	IMG=$T/fs.img
	truncate -s 64M "$IMG"
	if mkfs.ext4 -q -F "$IMG" 2>"$T/mkfs.err" && mkdir "$T/mnt" && L1=$(losetup -f --show "$IMG" 2>"$T/losetup.err"); then
		mount "$L1" "$T/mnt" && mkdir "$T/mnt/mail" && chown nobody:nogroup "$T/mnt/mail"
		for kind in moves data; do
			CRASH_AT=mid crash "dev-$kind" "$kind" "$T/mnt/mail" >"$T/dev-$kind.crash" 2>&1
			dev1=$(stat -c %d "$T/mnt/mail/alice")
			umount "$T/mnt"
			# Hold the first loop device so the image comes back on
			# another one: a different st_dev, the same inodes.
			L2=$(losetup -f --show "$IMG")
			losetup -d "$L1"
			mount "$L2" "$T/mnt"
			L1=$L2
			dev2=$(stat -c %d "$T/mnt/mail/alice")
			if [ "$dev1" != "$dev2" ] && [ -s "$T/mnt/mail/alice.pop3d-journal" ]; then
				session "dev-$kind" alice "$T/mnt/mail" QUIT
				case $(line "dev-$kind" 3) in
				'+OK maildrop has '*) pass "new-st_dev-$kind-recovered" ;;
				*) fail "new-st_dev-$kind-recovered" "third line: '$(line "dev-$kind" 3)' ($(grep -m1 journal "$T/dev-$kind.err"))" ;;
				esac
				cmp -s "$T/mnt/mail/alice" "$T/$kind.after" && pass "new-st_dev-$kind-after-state" ||
					fail "new-st_dev-$kind-after-state" "not the mailbox after QUIT"
			else
				fail "new-st_dev-$kind" "set-up: st_dev $dev1 -> $dev2, journal: $(ls "$T/mnt/mail"); $(cat "$T/dev-$kind.crash")"
			fi
			rm -f "$T/mnt/mail/alice".pop3d-journal*
		done
		umount "$T/mnt"; losetup -d "$L1"
	else
		fail new-st_dev "cannot set up an ext4 image on a loop device: $(cat "$T/mkfs.err" "$T/losetup.err" 2>/dev/null | head -2)"
	fi
fi

# --------------------------- (d) files at the journal names that are not ours

MB=$T/mail/bob
STRANGER=4242
plant() {	# plant NAME KIND: a file at NAME that bob did not make
	rm -rf "$1"
	case $2 in
	foreign) head -c 4096 /dev/urandom >"$1"; chown "$STRANGER:$STRANGER" "$1"; chmod 600 "$1" ;;
	symlink) ln -s "$T/mail/alice" "$1" ;;
	fifo) mkfifo "$1"; own "$1" ;;
	esac
}
if [ "$SUPPORT_ROOT" = 1 ]; then
	for what in foreign symlink fifo; do
		for name in pop3d-journal pop3d-journal.new; do
			put "$T/moves.before" "$MB"
			put "$T/moves.before" "$T/mail/alice"
			plant "$MB.$name" "$what"
			fpp=$(stat -c '%F %u %i %s' "$MB.$name")
			session "$what-$name-login" bob "$T/mail" STAT QUIT
			case $(line "$what-$name-login" 3) in
			'+OK maildrop has 6 messages'*) pass "$what-$name-login-ok" ;;
			*) fail "$what-$name-login-ok" "third line: '$(line "$what-$name-login" 3)' (status $(cat "$T/$what-$name-login.rc"))" ;;
			esac
			grep -q "ignoring $MB.$name: not a regular file of uid" "$T/$what-$name-login.err" &&
				pass "$what-$name-logged" ||
				fail "$what-$name-logged" "$(head -c 300 "$T/$what-$name-login.err")"
			# A deleting session: the deletion cannot go through a
			# name that is not ours, and neither that file nor the
			# mbox changes.
			session "$what-$name-dele" bob "$T/mail" 'DELE 2' QUIT
			equal "$what-$name-left-alone" "$fpp" "$(stat -c '%F %u %i %s' "$MB.$name")"
			if [ "$name" = pop3d-journal.new ] || [ "$what" != foreign ]; then
				:	# bob's own journal may still take its place
			fi
			cmp -s "$T/mail/alice" "$T/moves.before" && pass "$what-$name-target-untouched" ||
				fail "$what-$name-target-untouched" "alice's mbox changed"
			case $(line "$what-$name-dele" 5) in
			'+OK'*) cmp -s "$MB" <(parts 1 3 4 5 6) && pass "$what-$name-update" ||
				fail "$what-$name-update" "QUIT said +OK but the mbox is not the after-state" ;;
			'-ERR [SYS/'*) cmp -s "$MB" "$T/moves.before" && pass "$what-$name-update-refused-cleanly" ||
				fail "$what-$name-update-refused-cleanly" "QUIT failed and the mbox changed" ;;
			*) fail "$what-$name-update" "QUIT answered '$(line "$what-$name-dele" 5)'" ;;
			esac
			rm -rf "$MB".pop3d-journal*
		done
	done
fi

# --------------------------------------------- (e) the older journal format

put "$T/moves.before" "$MB"
{ printf 'POP3DJN2'; head -c 200 /dev/zero; } >"$MB.pop3d-journal"; own "$MB.pop3d-journal"; chmod 600 "$MB.pop3d-journal"
fpm=$(fingerprint "$MB")
session old-format bob "$T/mail" QUIT
case $(line old-format 3) in
'-ERR [SYS/PERM]'*) pass old-format-refused ;;
*) fail old-format-refused "third line: '$(line old-format 3)'" ;;
esac
equal old-format-mbox-untouched "$fpm" "$(fingerprint "$MB")"
grep -q 'format of an older pop3d' "$T/old-format.err" && pass old-format-logged ||
	fail old-format-logged "$(grep -m1 journal "$T/old-format.err")"
rm -f "$MB.pop3d-journal"

for f in "$T"/*.err; do
	if grep -qE "$SAN_RE" "$f"; then fail "sanitizer-$(basename "$f" .err)" "$(grep -m1 -E "$SAN_RE" "$f")"; fi
done

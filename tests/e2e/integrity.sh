#!/usr/bin/env bash
# tests/e2e/integrity.sh - locking and crash safety (SPEC section 4).
#  (a) fault injection over every step of a session that deletes mail:
#      tests/faultshim.c, preloaded, SIGKILLs pop3d at its Nth
#      write/pwrite/ftruncate/fsync/rename/unlink/link (before or after
#      the call), N = 1..K; the next session must then find the mbox byte
#      for byte as before QUIT or as after it -- also when an MDA delivered
#      new mail between the crash and that session;
#  (b) random SIGKILLs during UPDATE of a ~200 MB mbox;
#  (c) one POP3 session per maildrop: a second login gets [IN-USE]; the
#      lock dies with the first session however it ends;
#  (d) stale dot-locks are broken quickly; a live one is waited for;
#  (e) no write at all when nothing was deleted; UPDATE keeps the inode,
#      mode, owner and group;
#  (f) a damaged or foreign journal is refused with [SYS/PERM] and left
#      alone.
# The on-disk names: dot-lock MBOX.lock (temporary MBOX.lock.*), journal
# MBOX.pop3d-journal (written as MBOX.pop3d-journal.new, then renamed).
. "$(dirname "$0")/../lib.sh"
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c), and lib.sh gives $T to nobody: root's again.
[ "$(id -u)" = 0 ] && chown root:root "$T"

# The binary under test is copied, so a rebuild during the run cannot mix
# two versions.
cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d

# The MDA of the delivery-after-crash series and the lock tests: Debian's
# dotlockfile (liblockfile-bin), installed when missing.
command -v dotlockfile >/dev/null 2>&1 ||
	sh "$(dirname "$0")/../apt-install.sh" liblockfile-bin >"$T/apt.log" 2>&1 ||
	fail deps-dotlockfile "cannot install liblockfile-bin: $(tail -3 "$T/apt.log")"

# ------------------------------------------------------------- helpers

# line NAME N: line N of session NAME's output, without CR.
# sanitizer NAME: the sanitizer report of session NAME, if any.
sanitizer() { grep -m1 -E "$SAN_RE" "$T/$1.err" 2>/dev/null; }

# fingerprint FILE: content hash, size, mode, owner, inode, mtime and ctime (ns).
fingerprint() { printf '%s %s\n' "$(sha256sum <"$1")" "$(stat -c '%s %a %U:%G %i %.9Y %.9Z' "$1")"; }
identity() { stat -c 'inode %i mode %a owner %U:%G' "$1"; }
sha() { sha256sum <"$1" | cut -c1-64; }
now_ms() { date +%s%3N; }

# leftovers MBOX: lock and journal files of MBOX still in the spool.
leftovers() { find "$(dirname "$1")" \( -name "$(basename "$1").lock*" -o -name "$(basename "$1").pop3d-journal*" \) -printf '%f ' ; }
no_locks() {
	local left; left=$(leftovers "$2")
	if [ -z "$left" ]; then pass "$1"; else fail "$1" "left behind: $left"; fi
}

# start NAME ARGS...: a step-by-step pop3d session as the session user
# (lib.sh: fifo_start, send, await, finish); DRIVEN is pop3d's own pid.
start() { local name=$1; shift; fifo_start "$name" "${RUNAS[@]}" "$POP3D" "$@"; }

# --------------------------------------------------------------- setup

H=$(mkhash secret)
USERS="alice bob carol dave erin big conc stale ident"
for u in $USERS; do printf '%s:%s\n' "$u" "$H"; done >"$T/passwd"
mkdir "$T/mail" "$T/p" "$T/pb" "$T/f"
own "$T/passwd" "$T/mail" "$T/f"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")
GREET='+OK POP3 server ready'

# Parts: each message as stored (From_ line, text, separator line).
# $T/p: six small messages and a seventh, the mail delivered later;
# $T/pb: the same with message 3 at 5 MB.
perl -e '
	my ($dir, $big) = @ARGV;
	my $from = "From sender\@example.org Mon Jan  1 10:00:00 2024\n";
	my @m = (
		"Message-ID: <one\@example.org>\nSubject: one\n\nbody one\n",
		"Received: from a by b; Mon, 1 Jan 2024 10:00:00 +0000\nSubject: two\n\n.dot\n>From quoted\n",
		"Message-ID: <three\@example.org>\nSubject: three\n\n" .
		    ($big ? join("", map { "line $_ " . ("x" x 200) . "\n" } 1 .. 25000) : "short three\n"),
		"Date: Mon, 1 Jan 2024 10:00:00 +0000\nSubject: four\n\nfirst\nFrom inside the body\n",
		"Message-ID: <five\@example.org>\nSubject: five\n\n" . ("y" x 3000) . "\n",
		"Message-ID: <six\@example.org>\nSubject: six\n\nlast\n",
		"Message-ID: <seven\@example.org>\nSubject: seven (new mail)\n\n" . ("n" x 70000) . "\n",
	);
	for my $i (0 .. $#m) {
		open(F, ">", "$dir/" . ($i + 1)) or die; print F $from, $m[$i], "\n"; close F;
	}' "$T/p" 0
cp "$T/p"/* "$T/pb"/
perl -e '
	open(F, ">", $ARGV[0]) or die;
	print F "From sender\@example.org Mon Jan  1 10:00:00 2024\nMessage-ID: <three\@example.org>\nSubject: three (5 MB)\n\n";
	print F "line $_ " . ("x" x 200) . "\n" for 1 .. 25000;
	print F "\n"; close F;' "$T/pb/3"
# parts DIR N...: the named parts of DIR, concatenated.
parts() { local d=$1 n; shift; for n in "$@"; do cat "$d/$n"; done; }

# put FILE MBOX [MODE [GROUP]]: a fresh maildrop with FILE's contents.
put() {
	rm -f "$2"
	cp "$1" "$2"
	own "$2"; chmod "${3:-600}" "$2"
	[ -n "${4:-}" ] && chgrp "$4" "$2"
	touch -d '2001-02-03 04:05:06' "$2"
}

# login_ok NAME USER: a USER/PASS/QUIT session; sets LOGIN_LINE.
login_ok() {
	crlf "USER $2" 'PASS secret' QUIT | pop "$1" "${POP[@]}"
	LOGIN_LINE=$(line "$1" 3)
	case $LOGIN_LINE in '+OK maildrop has '*) return 0 ;; *) return 1 ;; esac
}

# deliver_new FILE MBOX: an MDA's delivery under liblockfile's dot-lock
# (-p: a lock holding a dead pid is stale, as by pop3d's own rule).
deliver_new() {
	"${RUNAS[@]}" dotlockfile -l -p -r 3 -i 1 "$2.lock" sh -c 'cat "$1" >>"$2"' sh "$1" "$2"
}

# ------------------------------------------- the fault-injection shim

FAULT_OK=0
if cc -shared -fPIC -O1 -o "$T/faultshim.so" "$TOP/tests/faultshim.c" -ldl 2>"$T/shim-cc.err"; then
	pass shim-builds
else
	fail shim-builds "$(head -n 3 "$T/shim-cc.err" | tr '\n' ' ')"
fi
FAULT_POP3D=$POP3D
FAULT_ASAN="${ASAN_OPTIONS}:verify_asan_link_order=0"

# fault_session NAME USER N WHEN CMD...: a session (CMD lines) under the
# shim, SIGKILLed at the Nth counted call (N=0: never); $T/f/NAME.count
# holds the number of calls made, $T/f/NAME.trace one line per call.
fault_session() {
	local name=$1 user=$2 n=$3 when=$4
	shift 4
	rm -f "$T/f/$name.count" "$T/f/$name.trace"
	( crlf "USER $user" 'PASS secret' "$@" |
		"${RUNAS[@]}" env ASAN_OPTIONS="$FAULT_ASAN" LD_PRELOAD="$T/faultshim.so" \
			FAULT_AT="$n" FAULT_WHEN="$when" FAULT_COUNT_FILE="$T/f/$name.count" \
			FAULT_TRACE_FILE="$T/f/$name.trace" \
			"$FAULT_POP3D" "${POP[@]}" >"$T/$name.out" 2>"$T/$name.err"
	  echo $? >"$T/$name.rc" ) 2>/dev/null
}
count_of() { tr -dc 0-9 <"$T/f/$1.count" 2>/dev/null || echo 0; }

# journal_kind FILE: the kind field of a journal (1 data, 2 moves).
journal_kind() { od -An -tu1 -j80 -N1 "$1" 2>/dev/null | tr -d ' '; }
# expect_kind NAME USER BEFORE KIND CMD...: the UPDATE of the mbox BEFORE
# by a session of CMDs must write a journal of KIND -- seen in a session
# killed right after the rename that puts the journal in place.
expect_kind() {
	local name=$1 user=$2 before=$3 kind=$4 mb=$T/mail/$2 jn
	shift 4
	put "$before" "$mb"
	fault_session "$name-trace" "$user" 0 after "$@"
	jn=$(grep -m1 -E "^[0-9]+ rename(at2?)? .* -> .*$user\.pop3d-journal\$" "$T/f/$name-trace.trace" | cut -d' ' -f1)
	put "$before" "$mb"
	[ -n "$jn" ] && fault_session "$name-jkind" "$user" "$jn" after "$@"
	equal "$name-journal-kind" "$kind" "$(journal_kind "$mb.pop3d-journal")"
	rm -f "$mb".lock* "$mb".pop3d-journal*
}

# Does preloading work with the sanitizer build?  Else a plain build.
if [ -e "$T/faultshim.so" ]; then
	parts "$T/p" 1 2 >"$T/probe.mbox"; put "$T/probe.mbox" "$T/mail/alice"
	fault_session probe alice 0 before 'DELE 1' QUIT
	if [ "${FAULT_PLAIN:-0}" != 1 ] && [ "$(cat "$T/probe.rc")" = 0 ] && [ "$(count_of probe)" -gt 0 ]; then
		FAULT_OK=1
		pass "shim-preload-asan ($(count_of probe) calls counted)"
	else
		# FAULT_PLAIN=1 forces this path.  Every server source, no sanitizers.
		( cd "$TOP" && cc -std=c11 -D_GNU_SOURCE -O1 -o "$T/pop3d-plain" $(ls ./*.c | grep -v pop3passwd) \
			$(pkg-config --cflags --libs libcrypt libcrypto) ) 2>"$T/plain-cc.err"
		FAULT_POP3D=$T/pop3d-plain
		fault_session probe alice 0 before 'DELE 1' QUIT
		if [ "$(cat "$T/probe.rc")" = 0 ] && [ "$(count_of probe)" -gt 0 ]; then
			FAULT_OK=1
			pass "shim-preload-plain-build ($(count_of probe) calls counted; the sanitizer build is not used for fault runs)"
		else
			fail shim-preload "the shim counted no calls (status $(cat "$T/probe.rc")): $(head -n 2 "$T/probe.err" "$T/plain-cc.err" | tr '\n' ' ')"
		fi
	fi
fi

# ------------------------------------- (a) a SIGKILL at every step

# fault_series LABEL USER PARTSDIR WHEN APPEND: N = 1..K over the session
# USER/PASS/DELE 2/DELE 4/QUIT on parts 1-6; after each kill (and, with
# APPEND=1, a delivery of part 7 by an MDA) a plain login must find the
# before- or the after-state, byte for byte, same inode, no journal or
# lock left.  One PASS/FAIL line per series; the first failing N named.
fault_series() {
	local label=$1 user=$2 pd=$3 when=$4 app=$5 mb=$T/mail/$2 k n got ino why
	local nfail=0 first='' notkilled=0 cmds=()
	# FS_ALL, FS_KEEP, FS_DELE: other parts, kept parts and DELEs.
	local all=${FS_ALL:-1 2 3 4 5 6} keep=${FS_KEEP:-1 3 5 6} dele=${FS_DELE:-2 4}
	for n in $dele; do cmds+=("DELE $n"); done
	cmds+=(QUIT)
	# shellcheck disable=SC2086 # lists of part numbers
	parts "$pd" $all >"$T/$label.before"
	# shellcheck disable=SC2086
	parts "$pd" $keep >"$T/$label.after"
	local want_b want_a
	if [ "$app" = 1 ]; then
		want_b=$(cat "$T/$label.before" "$pd/${FS_NEW:-7}" | sha256sum | cut -c1-64)
		want_a=$(cat "$T/$label.after" "$pd/${FS_NEW:-7}" | sha256sum | cut -c1-64)
	else
		want_b=$(sha "$T/$label.before"); want_a=$(sha "$T/$label.after")
	fi
	# K: the calls of an undisturbed run, which must give the after-state.
	put "$T/$label.before" "$mb"
	fault_session "$label-k" "$user" 0 "$when" "${cmds[@]}"
	k=$(count_of "$label-k")
	if [ "$(cat "$T/$label-k.rc")" != 0 ] || ! cmp -s "$mb" "$T/$label.after"; then
		fail "$label" "the undisturbed run did not give the after-state (status $(cat "$T/$label-k.rc"), $(line "$label-k" 6))"
		return
	fi
	for n in $(seq "$k"); do
		put "$T/$label.before" "$mb"
		ino=$(stat -c %i "$mb")
		fault_session "$label-run" "$user" "$n" "$when" "${cmds[@]}"
		[ "$(cat "$T/$label-run.rc")" = 137 ] || notkilled=$((notkilled + 1))
		why=''
		if [ "$app" = 1 ] && ! deliver_new "$pd/${FS_NEW:-7}" "$mb" 2>"$T/$label-mda.err"; then
			why="the MDA could not deliver after the kill: $(head -n 1 "$T/$label-mda.err")"
		fi
		if [ -z "$why" ]; then
			login_ok "$label-rec" "$user"
			got=$(sha "$mb")
			if [ "$(cat "$T/$label-rec.rc")" != 0 ] || [ -n "$(sanitizer "$label-rec")" ]; then
				why="recovery session: status $(cat "$T/$label-rec.rc") $(sanitizer "$label-rec")"
			elif [ "${LOGIN_LINE#+OK maildrop has }" = "$LOGIN_LINE" ]; then
				why="recovery login answered: $LOGIN_LINE"
			elif [ "$got" != "$want_b" ] && [ "$got" != "$want_a" ]; then
				why="mbox is neither the before- nor the after-state ($(stat -c %s "$mb") bytes; before $(stat -c %s "$T/$label.before"), after $(stat -c %s "$T/$label.after")$([ "$app" = 1 ] && echo ", each + $(stat -c %s "$pd/${FS_NEW:-7}") new"))"
			elif [ "$(stat -c %i "$mb")" != "$ino" ]; then
				why="the mbox has a new inode"
			elif [ -e "$mb.lock" ] || [ -n "$(find "$T/mail" -name "$user.pop3d-journal*")" ]; then
				why="left behind after recovery: $(leftovers "$mb")"
			fi
		fi
		if [ -n "$(find "$T/mail" -name "$user.lock.*")" ]; then
			TMPLEFT=$((TMPLEFT + 1))
			[ -n "$TMPFIRST" ] || TMPFIRST="$label N=$n ($(sed -n "${n}s/^[0-9]* //p" "$T/f/$label-run.trace")): $(leftovers "$mb")"
		fi
		if [ -n "$why" ]; then
			nfail=$((nfail + 1))
			[ -n "$first" ] || first="N=$n ($(sed -n "${n}s/^[0-9]* //p" "$T/f/$label-run.trace")): $why"
		fi
		rm -f "$mb".lock* "$mb".pop3d-journal*
	done
	TMPRUNS=$((TMPRUNS + k))
	if [ "$nfail" = 0 ]; then pass "$label-all-N ($k runs)"
	else fail "$label-all-N" "$nfail of $k runs failed; first at $first"; fi
	[ "$notkilled" = 0 ] || echo "note: $label: $notkilled of $k runs were not killed (fewer calls than measured)"
}

TMPLEFT=0 TMPFIRST='' TMPRUNS=0
if [ "$FAULT_OK" = 1 ]; then
	# DELE 2 and 4 of the small parts moves little: the moves kind; with
	# a 5 MB message 3 moved back by a few hundred bytes, the data kind.
	parts "$T/p" 1 2 3 4 5 6 >"$T/kind-small"
	parts "$T/pb" 1 2 3 4 5 6 >"$T/kind-5mb"
	expect_kind kind-small alice "$T/kind-small" 2 'DELE 2' 'DELE 4' QUIT
	expect_kind kind-5mb alice "$T/kind-5mb" 1 'DELE 2' 'DELE 4' QUIT
	fault_series fault-before alice "$T/p" before 0
	fault_series fault-after alice "$T/p" after 0
	fault_series fault-5mb-before alice "$T/pb" before 0
	fault_series fault-5mb-after alice "$T/pb" after 0
	fault_series fault-newmail-before alice "$T/p" before 1
	fault_series fault-newmail-after alice "$T/p" after 1
	fault_series fault-5mb-newmail-after alice "$T/pb" after 1
	# 60 messages of random sizes (a few hundred bytes to 300 KB), a
	# random half deleted: batches of several pieces and checkpoints.
	mkdir "$T/pr"
	perl -e '
		srand(7); my $dir = shift; my @keep; my @dele;
		for my $i (1 .. 61) {
			my $n = int(rand(3) < 1 ? rand(300000) : rand(3000));
			open(F, ">", "$dir/$i") or die;
			print F "From r\@example.org Mon Jan  1 10:00:00 2024\nMessage-ID: <r$i\@example.org>\n\n", "z" x $n, "\n\n";
			close F;
			next if $i == 61;
			if (rand(2) < 1) { push @dele, $i } else { push @keep, $i }
		}
		open(F, ">", "$dir/list") or die; print F "@keep\n@dele\n"; close F;' "$T/pr"
	FS_ALL="$(seq -s ' ' 60)" FS_KEEP=$(sed -n 1p "$T/pr/list") FS_DELE=$(sed -n 2p "$T/pr/list")
	FS_NEW=61
	# shellcheck disable=SC2086 # lists of part numbers
	parts "$T/pr" $FS_ALL >"$T/pr/before"
	mapfile -t rcmds < <(printf 'DELE %s\n' $FS_DELE)
	expect_kind kind-random alice "$T/pr/before" 2 "${rcmds[@]}" QUIT
	fault_series fault-random-after alice "$T/pr" after 1
	unset FS_ALL FS_KEEP FS_DELE FS_NEW
	# A killed process's temporary lock file (MBOX.lock.*) is litter the
	# next session should clear too.
	if [ "$TMPLEFT" = 0 ]; then pass "fault-no-lock-temp-left ($TMPRUNS runs)"
	else fail fault-no-lock-temp-left "$TMPLEFT of $TMPRUNS runs left a MBOX.lock.* file after the recovery session; first: $TMPFIRST"; fi
fi

# ------------------------- (a2) many deletion patterns, undisturbed

# 25 mailboxes of random shape (tiny to 1.5 MB messages; runs of kept and
# deleted ones), random deletions (from one message to all but one): the
# UPDATE must give exactly the kept messages, whichever journal it takes.
mkdir "$T/pat"
bad=0 first='' kinds=''
for seed in $(seq 25); do
	perl -e '
		my ($seed, $dir) = @ARGV; srand($seed);
		my $n = 1 + int(rand(400)); my $pdel = rand(1);
		open(A, ">", "$dir/before") or die; open(K, ">", "$dir/after") or die;
		open(C, ">", "$dir/cmds") or die;
		print C "USER bob\r\nPASS secret\r\n";
		my $kept = 0;
		for my $i (1 .. $n) {
			my $r = rand(10);
			my $len = $r < 6 ? int(rand(500)) : $r < 9 ? int(rand(20000)) : int(rand(1500000));
			my $m = "From p\@example.org Mon Jan  1 10:00:00 2024\nSubject: p$i\n\n" . ("q" x $len) . "\n\n";
			print A $m;
			if (rand(1) < $pdel && !($i == $n && $kept == 0)) { print C "DELE $i\r\n" } else { print K $m; $kept++ }
		}
		print C "QUIT\r\n";' "$seed" "$T/pat"
	put "$T/pat/before" "$T/mail/bob"
	"${RUNAS[@]}" "$POP3D" "${POP[@]}" <"$T/pat/cmds" >"$T/pat.out" 2>"$T/pat.err"
	if ! cmp -s "$T/mail/bob" "$T/pat/after" || [ -n "$(leftovers "$T/mail/bob")" ]; then
		bad=$((bad + 1))
		[ -n "$first" ] || first="seed $seed: $(stat -c %s "$T/mail/bob") bytes, want $(stat -c %s "$T/pat/after"); $(tail -n 1 "$T/pat.out")"
	fi
done
if [ "$bad" = 0 ]; then pass "update-patterns (25 random mailboxes and deletions)"
else fail update-patterns "$bad of 25 wrong; first: $first"; fi

# ------------------------- (d, long) a live dot-lock is waited for, bounded

# In the background: a fresh dot-lock held by a live process for longer
# than pop3d waits (LOCK_WAIT_SECONDS): the login gets [IN-USE] (or
# [SYS/TEMP]) after a bounded wait, the lock and the mbox untouched.
parts "$T/p" 1 2 3 >"$T/three"
put "$T/three" "$T/mail/carol"
sleep 1000 & HOLDER=$!
echo "$HOLDER" >"$T/mail/carol.lock"; own "$T/mail/carol.lock"
CAROL_LOCK=$(fingerprint "$T/mail/carol.lock")
CAROL_FP=$(fingerprint "$T/mail/carol")
( t0=$(now_ms); crlf 'USER carol' 'PASS secret' QUIT | timeout 60 "${RUNAS[@]}" "$POP3D" "${POP[@]}" \
	>"$T/livelock.out" 2>"$T/livelock.err"; echo $? >"$T/livelock.rc"; echo $(( $(now_ms) - t0 )) >"$T/livelock.ms" ) &
LIVELOCK=$!

# ------------------------------------- (b) random SIGKILLs on 200 MB

# 2000 messages of ~100 KB; DELE of some, then QUIT, SIGKILL after a
# random delay; a plain login after each must find the before- or
# after-state.  Two deletion patterns, one for each kind of journal
# (docs/update-journal.md): DELE 2, 5, 9 moves nearly everything a little
# way, so the moved bytes are journaled ("data"); DELE of every odd message
# moves half the mail far back, in place, with checkpoints ("moves").
BIG=$T/mail/big
# big_mbox SKIP...: the mbox without the messages numbered SKIP.
big_mbox() {
	perl -e '
		my %skip = map { $_ => 1 } @ARGV;
		my $body = join("", map { "body line $_ " . ("b" x 90) . "\n" } 1 .. 1000);
		for my $i (1 .. 2000) {
			next if $skip{$i};
			print "From big\@example.org Mon Jan  1 10:00:00 2024\nMessage-ID: <big-$i\@example.org>\nSubject: big $i\n\n$body\n";
		}' "$@"
}
big_mbox >"$T/big.before"
BIG_B=$(sha "$T/big.before")

# big_session NAME DELAY_MS: the session (DELE of $BIG_DELE), QUIT,
# SIGKILL after DELAY_MS (-1: no kill).  Sets UPDATE_MS to the time from
# QUIT to exit.
big_session() {
	local name=$1 delay=$2 t0 n
	put "$T/big.before" "$BIG"
	start "$name" "${POP[@]}"
	send 'USER big' 'PASS secret'
	for n in $BIG_DELE; do send "DELE $n"; done
	await "$name" $((3 + $(wc -w <<<"$BIG_DELE"))) 1200
	t0=$(now_ms)
	send QUIT
	if [ "$delay" -ge 0 ]; then
		sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
		kill -KILL "$DRIVEN" 2>/dev/null
	fi
	finish "$name"
	UPDATE_MS=$(( $(now_ms) - t0 ))
}

# big_trials LABEL KIND DELE...: the undisturbed UPDATE, which must use a
# journal of KIND (seen in a session killed right after the journal's
# rename, when the shim works), then 10 random kills.
big_trials() {
	local label=$1 kind=$2 trial delay rc got st why bad=0 first='' states='' jn
	shift 2
	BIG_DELE="$*"
	BIG_A=$(big_mbox "$@" | sha256sum | cut -c1-64)
	big_session "$label-measure" -1
	if [ "$(sha "$BIG")" = "$BIG_A" ]; then pass "$label-update-undisturbed (${UPDATE_MS} ms from QUIT to exit)"
	else fail "$label-update-undisturbed" "not the after-state; QUIT answered: $(tail -n 1 "$T/$label-measure.out")"; fi
	if [ "$FAULT_OK" = 1 ]; then
		local cmds=() n
		for n in "$@"; do cmds+=("DELE $n"); done
		expect_kind "$label" big "$T/big.before" "$kind" "${cmds[@]}" QUIT
	fi
	# The kill delays are spread over the measured UPDATE time (at least
	# 0-300 ms), so they land in every part of it.
	MAXDELAY=$(( UPDATE_MS > 300 ? UPDATE_MS : 300 ))
	for trial in $(seq 10); do
		delay=$(( RANDOM % (MAXDELAY + 1) ))
		big_session big-kill "$delay"
		rc=$(cat "$T/big-kill.rc")
		login_ok big-rec big
		got=$(sha "$BIG")
		if [ "$got" = "$BIG_B" ]; then st=before; elif [ "$got" = "$BIG_A" ]; then st=after; else st=BAD; fi
		states="$states ${delay}ms:$st"
		why=''
		if [ "$st" = BAD ]; then why="neither before nor after ($(stat -c %s "$BIG") bytes)"
		elif [ "${LOGIN_LINE#+OK maildrop has }" = "$LOGIN_LINE" ]; then why="recovery login answered: $LOGIN_LINE"
		elif [ -e "$BIG.lock" ] || [ -n "$(find "$T/mail" -name 'big.pop3d-journal*')" ]; then why="left: $(leftovers "$BIG")"
		fi
		if [ -n "$why" ]; then bad=$((bad + 1)); [ -n "$first" ] || first="trial $trial (kill after $delay ms, status $rc): $why"; fi
		rm -f "$BIG".lock* "$BIG".pop3d-journal*
	done
	if [ "$bad" = 0 ]; then pass "$label-random-kill (10 trials, delay ms:state$states)"
	else fail "$label-random-kill" "$bad of 10 trials failed; first: $first; all:$states"; fi
}
big_trials big-data 1 2 5 9
big_trials big-moves 2 $(seq 1 2 1999)
rm -f "$BIG" "$T/big.before"

# ------------------------------------------ (c) one session per maildrop

CONC=$T/mail/conc
# conc HOW: session 1 logs in; a second login is refused with [IN-USE]
# (except for HOW=timeout, which ends on its own within 1 s); session 1
# ends by HOW; then a login succeeds at once and no lock is left.
conc() {
	local how=$1 t0 ms
	put "$T/three" "$CONC"
	if [ "$how" = timeout ]; then start "conc-$how" -t 1 "${POP[@]}"; else start "conc-$how" "${POP[@]}"; fi
	send 'USER conc' 'PASS secret'
	await "conc-$how" 3
	if [ "$how" != timeout ]; then
		crlf 'USER conc' 'PASS secret' QUIT | timeout 40 "${RUNAS[@]}" "$POP3D" "${POP[@]}" >"$T/conc2-$how.out" 2>"$T/conc2-$how.err"
		case $(line "conc2-$how" 3) in
		'-ERR [IN-USE]'*) pass "second-session-in-use-$how" ;;
		*) fail "second-session-in-use-$how" "third line: '$(line "conc2-$how" 3)'" ;;
		esac
	fi
	case $how in
	quit) send QUIT; finish "conc-$how" ;;
	eof) finish "conc-$how" ;;
	timeout)
		for _ in $(seq 100); do kill -0 "$DRIVEN" 2>/dev/null || break; sleep 0.05; done
		if kill -0 "$DRIVEN" 2>/dev/null; then
			fail "idle-timeout-ends-session" "still running 5 s after a 1 s idle timeout"
			kill -KILL "$DRIVEN"
		fi
		finish "conc-$how" ;;
	term) kill -TERM "$DRIVEN"; finish "conc-$how" ;;
	kill) kill -KILL "$DRIVEN"; finish "conc-$how" ;;
	esac
	no_locks "no-locks-after-$how" "$CONC"
	t0=$(now_ms)
	if login_ok "conc3-$how" conc; then
		ms=$(( $(now_ms) - t0 ))
		if [ "$ms" -lt 2000 ]; then pass "login-after-$how (${ms} ms)"
		else fail "login-after-$how" "took $ms ms"; fi
	else
		fail "login-after-$how" "answered: $LOGIN_LINE"
	fi
	if [ "$(sha "$CONC")" = "$(sha "$T/three")" ]; then pass "nothing-deleted-after-$how"
	else fail "nothing-deleted-after-$how" "the mbox changed"; fi
}
for how in quit eof timeout term kill; do conc "$how"; done

# ------------------------------------------------ (d) stale dot-locks

STALE=$T/mail/stale
# stale_login CHECK: a login despite the lock at $STALE.lock takes < 5 s,
# and the stale lock is gone afterwards.
stale_login() {
	local t0 ms
	t0=$(now_ms)
	if login_ok "$1" stale; then
		ms=$(( $(now_ms) - t0 ))
		if [ "$ms" -lt 5000 ]; then pass "$1 (${ms} ms)"; else fail "$1" "took $ms ms"; fi
	else
		fail "$1" "answered: $LOGIN_LINE"
	fi
	no_locks "$1-removed" "$STALE"
}
put "$T/three" "$STALE"
sleep 0 & dead=$!; wait "$dead"
echo "$dead" >"$STALE.lock"; own "$STALE.lock"
stale_login stale-lock-dead-pid

sleep 1000 & live=$!
echo "$live" >"$STALE.lock"; own "$STALE.lock"
touch -d '10 minutes ago' "$STALE.lock"
stale_login stale-lock-old-mtime
kill "$live"; wait "$live" 2>/dev/null

# An MDA's fresh dot-lock held for 2 s: the login waits for it, then works.
rm -f "$STALE.lock"
"${RUNAS[@]}" dotlockfile -l -p -r 0 "$STALE.lock" sleep 2 &
mda=$!
for _ in $(seq 100); do [ -e "$STALE.lock" ] && break; sleep 0.02; done
t0=$(now_ms)
if login_ok held-lock-waited stale; then
	ms=$(( $(now_ms) - t0 ))
	if [ "$ms" -ge 1000 ] && [ "$ms" -lt 10000 ]; then pass "held-lock-waited (${ms} ms)"
	else fail held-lock-waited "login after $ms ms (the lock was held for 2 s)"; fi
else
	fail held-lock-waited "answered: $LOGIN_LINE"
fi
wait "$mda"

# The background case: a live lock held throughout.
wait "$LIVELOCK"
ll=$(line livelock 3)
case $ll in
'-ERR [IN-USE]'* | '-ERR [SYS/TEMP]'*)
	ms=$(cat "$T/livelock.ms")
	if [ "$ms" -ge 5000 ] && [ "$ms" -le 40000 ]; then pass "live-lock-bounded-wait (${ms} ms: $ll)"
	else fail live-lock-bounded-wait "answered after $ms ms: $ll"; fi ;;
*) fail live-lock-bounded-wait "third line: '$ll' (status $(cat "$T/livelock.rc"))" ;;
esac
equal live-lock-untouched "$CAROL_LOCK" "$(fingerprint "$T/mail/carol.lock" 2>&1)"
equal live-lock-mbox-untouched "$CAROL_FP" "$(fingerprint "$T/mail/carol")"
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null
rm -f "$T/mail/carol.lock"

# ------------------------------- (e) no write without deletions; identity

ID=$T/mail/ident
put "$T/three" "$ID"
fp=$(fingerprint "$ID")
crlf 'USER ident' 'PASS secret' LIST UIDL 'RETR 1' 'TOP 2 1' QUIT | pop nowrite-read "${POP[@]}"
equal nowrite-read-only "$fp" "$(fingerprint "$ID")"
crlf 'USER ident' 'PASS secret' 'DELE 1' 'DELE 3' RSET QUIT | pop nowrite-rset "${POP[@]}"
equal nowrite-dele-rset "$fp" "$(fingerprint "$ID")"
crlf 'USER ident' 'PASS secret' 'DELE 1' 'DELE 2' | pop nowrite-eof "${POP[@]}"
equal nowrite-dele-eof "$fp" "$(fingerprint "$ID")"
no_locks nowrite-no-locks "$ID"

# identity_kept NAME MODE GROUP: DELE 2 + QUIT keeps inode, mode, owner, group.
identity_kept() {
	put "$T/three" "$ID" "$2" "$3"
	local before; before=$(identity "$ID")
	crlf 'USER ident' 'PASS secret' 'DELE 2' QUIT | pop "$1" "${POP[@]}"
	parts "$T/p" 1 3 >"$T/want"
	if ! cmp -s "$T/want" "$ID"; then fail "$1" "content wrong after UPDATE; QUIT answered: $(line "$1" 5)"
	else equal "$1" "$before" "$(identity "$ID")"; fi
}
identity_kept identity-0600 600 ''
if getent group mail >/dev/null && [ "$(id -u)" = 0 ]; then
	identity_kept identity-0660-mail 660 mail
else
	identity_kept identity-0660 660 ''
fi
no_locks identity-no-locks "$ID"

# ---------------------------------- (f) damaged and foreign journals

MB=$T/mail/dave
put "$T/three" "$MB"
head -c 300 /dev/urandom >"$MB.pop3d-journal"; own "$MB.pop3d-journal"; chmod 600 "$MB.pop3d-journal"
fpm=$(fingerprint "$MB"); fpj=$(fingerprint "$MB.pop3d-journal")
login_ok damaged-journal dave
case $LOGIN_LINE in
'-ERR [SYS/PERM]'*) pass damaged-journal-refused ;;
*) fail damaged-journal-refused "third line: '$LOGIN_LINE'" ;;
esac
equal damaged-journal-mbox-unchanged "$fpm" "$(fingerprint "$MB")"
equal damaged-journal-kept "$fpj" "$(fingerprint "$MB.pop3d-journal" 2>&1)"
# A DELE session is refused as well and deletes nothing.
crlf 'USER dave' 'PASS secret' 'DELE 1' QUIT | pop damaged-journal-dele "${POP[@]}"
equal damaged-journal-dele-unchanged "$fpm" "$(fingerprint "$MB")"
rm -f "$MB.pop3d-journal"

# A real journal: erin's session killed right after the rename that puts
# erin.pop3d-journal in place; copied next to dave's mbox it is foreign.
EM=$T/mail/erin
if [ "$FAULT_OK" = 1 ]; then
	parts "$T/p" 1 2 3 4 5 6 >"$T/six"
	put "$T/six" "$EM"
	fault_session journal-trace erin 0 after 'DELE 2' 'DELE 4' QUIT
	jn=$(grep -m1 -E "^[0-9]+ rename(at2?)? .* -> .*erin\.pop3d-journal\$" "$T/f/journal-trace.trace" | cut -d' ' -f1)
	if [ -z "$jn" ]; then
		fail foreign-journal "no rename to erin.pop3d-journal among UPDATE's calls: $(cut -d' ' -f2- "$T/f/journal-trace.trace" | grep -vE '^write fd=[12]' | tr '\n' ';' | cut -c1-400)"
	else
		put "$T/six" "$EM"
		fault_session journal-make erin "$jn" after 'DELE 2' 'DELE 4' QUIT
		if [ ! -s "$EM.pop3d-journal" ]; then
			fail foreign-journal "no erin.pop3d-journal after a kill at call $jn"
		else
			cp "$EM.pop3d-journal" "$T/erin.journal"
			put "$T/three" "$MB"
			cp "$EM.pop3d-journal" "$MB.pop3d-journal"; own "$MB.pop3d-journal"; chmod 600 "$MB.pop3d-journal"
			fpm=$(fingerprint "$MB"); fpj=$(fingerprint "$MB.pop3d-journal")
			login_ok foreign-journal dave
			case $LOGIN_LINE in
			'-ERR [SYS/PERM]'*) pass foreign-journal-refused ;;
			*) fail foreign-journal-refused "third line: '$LOGIN_LINE'" ;;
			esac
			equal foreign-journal-mbox-unchanged "$fpm" "$(fingerprint "$MB")"
			equal foreign-journal-kept "$fpj" "$(fingerprint "$MB.pop3d-journal" 2>&1)"
			rm -f "$MB.pop3d-journal"
			# The same journal cut short, in its own place: damaged.
			put "$T/three" "$MB"
			head -c "$(( $(stat -c %s "$T/erin.journal") / 2 ))" "$T/erin.journal" >"$MB.pop3d-journal"
			own "$MB.pop3d-journal"; chmod 600 "$MB.pop3d-journal"
			fpm=$(fingerprint "$MB")
			login_ok truncated-journal dave
			case $LOGIN_LINE in
			'-ERR [SYS/PERM]'*) pass truncated-journal-refused ;;
			*) fail truncated-journal-refused "third line: '$LOGIN_LINE'" ;;
			esac
			equal truncated-journal-mbox-unchanged "$fpm" "$(fingerprint "$MB")"
			rm -f "$MB.pop3d-journal"
			# erin's own journal still recovers her mbox.
			if login_ok journal-own-recovery erin && { cmp -s "$EM" "$T/six" || cmp -s "$EM" <(parts "$T/p" 1 3 5 6); }; then
				pass journal-own-recovery
			else
				fail journal-own-recovery "login: '$LOGIN_LINE', or the mbox is neither before nor after"
			fi
		fi
	fi
fi
# ------------------------------------------- (g) a stock Debian spool

# /var/mail as Debian ships it: root:mail 2775, the mailbox USER:mail 0660.
# pop3d is started as root (the inetd case) and serves the entry's
# uid/gid; only the mail group lets it create MBOX.lock and the journal.
if [ "$(id -u)" = 0 ] && getent group mail >/dev/null; then
	# LeakSanitizer cannot attach to a process that switched to another
	# uid (it is no longer dumpable, as it must be): no leak check here.
	FAULT_ASAN="$FAULT_ASAN:detect_leaks=0"
	SP=$T/spool
	mkdir "$SP"; chown root:mail "$SP"; chmod 2775 "$SP"
	printf 'deb:%s:%s:%s::/nonexistent\n' "$H" "$(id -u nobody)" "$(id -g nobody)" >"$T/passwd-deb"
	DEB=(-s -p "$T/passwd-deb" -m "$SP/%u")
	DM=$SP/deb
	put "$T/six" "$DM" 660 mail
	before=$(identity "$DM")
	# A delivery agent's lock held for 2 s is waited for ...
	dotlockfile -l -p -r 0 "$DM.lock" sleep 2 &
	mda=$!
	for _ in $(seq 100); do [ -e "$DM.lock" ] && break; sleep 0.02; done
	t0=$(now_ms)
	( crlf 'USER deb' 'PASS secret' 'DELE 2' 'DELE 4' QUIT |
		env ASAN_OPTIONS="$FAULT_ASAN" LD_PRELOAD="$T/faultshim.so" FAULT_AT=0 \
			FAULT_TRACE_FILE="$T/f/debian.trace" "$FAULT_POP3D" "${DEB[@]}" >"$T/debian.out" 2>"$T/debian.err"
	  echo $? >"$T/debian.rc" )
	ms=$(( $(now_ms) - t0 ))
	wait "$mda"
	equal debian-spool-exit-status 0 "$(cat "$T/debian.rc")"
	case $(line debian 3) in
	'+OK maildrop has 6 messages'*) pass debian-spool-login ;;
	*) fail debian-spool-login "third line: '$(line debian 3)'; $(grep -v '^pop3d.*login' "$T/debian.err" | head -n 2 | tr '\n' ' ')" ;;
	esac
	if [ "$ms" -ge 1000 ]; then pass "debian-spool-waits-for-mda-lock (${ms} ms)"
	else fail debian-spool-waits-for-mda-lock "the session ended after $ms ms while the MDA held $DM.lock for 2 s"; fi
	if cmp -s "$DM" <(parts "$T/p" 1 3 5 6); then pass debian-spool-update
	else fail debian-spool-update "QUIT answered '$(line debian 6)'; the mbox is not the after-state"; fi
	equal debian-spool-identity "$before" "$(identity "$DM")"
	# ... and pop3d's own dot-lock and journal were made in the spool.
	if grep -qE "^[0-9]+ link(at)? .* -> ($DM|deb)\.lock\$" "$T/f/debian.trace"; then pass debian-spool-dotlock-taken
	else fail debian-spool-dotlock-taken "no link(2)/linkat(2) to $DM.lock among the calls"; fi
	if grep -qE "^[0-9]+ rename(at2?)? .* -> ($DM|deb)\.pop3d-journal\$" "$T/f/debian.trace"; then pass debian-spool-journal-written
	else fail debian-spool-journal-written "no journal renamed into place in the spool"; fi
	no_locks debian-spool-no-locks "$DM"
	# A crash mid-UPDATE in the spool is recovered by the next session.
	jn=$(grep -m1 -E "^[0-9]+ rename(at2?)? .* -> ($DM|deb)\.pop3d-journal\$" "$T/f/debian.trace" | cut -d' ' -f1)
	if [ -n "$jn" ]; then
		put "$T/six" "$DM" 660 mail
		before=$(identity "$DM")
		( crlf 'USER deb' 'PASS secret' 'DELE 2' 'DELE 4' QUIT |
			env ASAN_OPTIONS="$FAULT_ASAN" LD_PRELOAD="$T/faultshim.so" FAULT_AT="$((jn + 2))" FAULT_WHEN=after \
				"$FAULT_POP3D" "${DEB[@]}" >"$T/debian-kill.out" 2>"$T/debian-kill.err" ) 2>/dev/null
		crlf 'USER deb' 'PASS secret' QUIT | "$POP3D" "${DEB[@]}" >"$T/debian-rec.out" 2>"$T/debian-rec.err"
		if { cmp -s "$DM" "$T/six" || cmp -s "$DM" <(parts "$T/p" 1 3 5 6); } &&
		   [ -z "$(leftovers "$DM" | sed 's/deb\.lock\.[^ ]* //g')" ]; then
			pass debian-spool-recovery
		else
			fail debian-spool-recovery "login '$(line debian-rec 3)'; left: $(leftovers "$DM"); $(cmp "$DM" "$T/six" 2>&1 | head -n 1)"
		fi
		equal debian-spool-recovery-identity "$before" "$(identity "$DM")"
	fi
fi
exit 0

#!/usr/bin/env bash
# tests/e2e/maildir-powercut.sh - power cuts at every point of a Maildir
# session's file operations: the moves of new/ to cur/ at login, the
# UPDATE (journal written, synced, renamed into place, the Maildir synced;
# files unlinked, cur/ and new/ synced; journal removed) and the session
# lock.  tests/e2e/maildir.sh kills the process after each operation, but
# a kill keeps the page cache; a power cut also loses every directory entry
# not yet fsynced, which is what this models.  Each series:
#  (a) records a real session -- login, DELEs, QUIT through a pipe -- with
#      tests/powercut-rec.c preloaded in tree mode (the Maildir and cur/,
#      new/, tmp/);
#  (b) hands the recording to tests/powercut-maildir.py, which builds,
#      after each operation, the states a power cut could leave (per
#      directory: none, some or all of the name operations since its last
#      fsync; file contents as of their fsync or later), writes each as
#      the Maildir and logs in: the messages must be exactly those before
#      the session or exactly those after (never a mix, never an undeleted
#      message lost), UIDL must list them, QUIT must answer +OK, and no
#      pop3d-journal or pop3d-journal.tmp may be left.
# Series: deletions from cur/ and of a message moved from new/ at login;
# every message deleted; and recovery itself: an UPDATE killed after its
# first unlink (tests/faultshim.c), then the recovering login recorded and
# cut the same way, where only the after set will do.  One PASS/FAIL line per series; failing states
# are kept in build/powercut-maildir/SERIES/.  POWERCUT_SEED=N repeats a
# run's sample.  The halves-* series (and POWERCUT_RENAME_HALVES=1 for
# all) model a rename between directories as two independent directory
# changes (a file system without a journal), where a rename from new/ to
# cur/ could lose the message; the others model it as atomic, as ext4,
# xfs and btrfs make it.  Login's move is a link, an fsync of cur/ and an
# unlink, safe under both.
# Run alone: bash tests/e2e/maildir-powercut.sh build/asan.
if [ -z "${BIN:-}" ] && [ -n "${1:-}" ]; then BIN=$(cd "$1" && pwd); export BIN; fi
. "$(dirname "$0")/../lib.sh"

cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
PY="$TOP/tests/powercut-maildir.py"
KEEP="$TOP/build/powercut-maildir"
mkdir -p "$KEEP"
REC="$KEEP/powercut-rec.so"
FAULT=$T/faultshim.so
if cc -shared -fPIC -O1 -Wall -o "$REC" "$TOP/tests/powercut-rec.c" -ldl 2>"$T/rec-cc.err" &&
	cc -shared -fPIC -O1 -o "$FAULT" "$TOP/tests/faultshim.c" -ldl 2>>"$T/rec-cc.err"; then
	pass recorder-builds
else
	fail recorder-builds "$(head -n 3 "$T/rec-cc.err" | tr '\n' ' ')"
	exit 0
fi
command -v python3 >/dev/null || { fail python3 "python3 is needed"; exit 0; }
PRELOAD_ASAN="${ASAN_OPTIONS}:verify_asan_link_order=0"
: "${POWERCUT_SEED:=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
export POWERCUT_SEED
echo "maildir-powercut: POWERCUT_SEED=$POWERCUT_SEED"

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
own "$T/passwd"
MD=$T/alice/Maildir
POP=(-s -p "$T/passwd" -m "maildir:$T/%u/Maildir")

# fresh: four messages in cur/ (flags or none), two in new/; a file in
# tmp/ that is never served.  Delivery times order them 1..6.
fresh() {
	rm -rf "$T/alice"
	mkdir -p "$MD/cur" "$MD/new" "$MD/tmp"
	printf 'Subject: one\n\nbody one\n' >"$MD/cur/1700000001.M1P1.host:2,S"
	printf 'Subject: two\n\nbody two\n' >"$MD/cur/1700000002.M2P2.host:2,"
	printf 'Subject: three\n\nbody three\n' >"$MD/cur/1700000003.M3P3.host:2,RS"
	printf 'Subject: four\n\nbody four\n' >"$MD/cur/1700000004.M4P4.host,S=27:2,"
	printf 'Subject: five\n\nnew five\n' >"$MD/new/1700000005.M5P5.host"
	printf 'Subject: six\n\nnew six\n' >"$MD/new/1700000006.M6P6.host"
	printf 'Subject: tmp\n\nnot delivered yet\n' >"$MD/tmp/1700000007.T.host"
	chmod -R go-w "$T/alice"
	chmod 700 "$MD" "$MD/cur" "$MD/new" "$MD/tmp"
	own -R "$T/alice"
}

# series NAME DELE...: record the session, check it deleted what it was
# asked to, enumerate the power cuts.  RECOVER=N: the Maildir is first
# left by an UPDATE of those DELEs killed after its first unlink, and the
# session recorded is the next login (USER, PASS, QUIT: the recovery); N
# messages are deleted in the end.
series() {
	local name=$1 want=3 d expect=either
	shift
	fresh
	if [ -n "${RECOVER:-}" ]; then
		crashed "$name" "$@" || return
		expect=after
		set --
	fi
	LOG=$T/$name.log
	: >"$LOG"; own "$LOG"
	python3 "$PY" snap "$MD" "$T/$name.snap"
	fifo_start "$name" "${RUNAS[@]}" env ASAN_OPTIONS="$PRELOAD_ASAN" \
		LD_PRELOAD="$REC" POWERCUT_LOG="$LOG" POWERCUT_DIR="$MD" POWERCUT_TREE=1 \
		"$POP3D" "${POP[@]}"
	send 'USER alice' 'PASS secret'
	await "$name" 3
	for d in "$@"; do
		send "DELE $d"; want=$((want + 1)); await "$name" "$want"
	done
	# Everything before is the session, not the UPDATE: only the
	# messages as before may come back from a cut there.
	echo 'mark quit' >>"$LOG"
	send QUIT
	finish "$name"
	exited "$name"
	python3 "$PY" snap "$MD" "$T/$name.after"
	cp "$LOG" "$KEEP/$name.log"	# to read when a state fails
	# The recording itself must have done its job (or the enumeration
	# below compares against a wrong "after").
	local n
	n=$(find "$MD/cur" "$MD/new" -type f | wc -l)
	equal "$name-recorded-deleted" $((6 - ${RECOVER:-$#})) "$n"
	# An unsupported record means the model would be guessing.
	if grep -q unsupported "$LOG"; then
		fail "$name-recorded-supported" "$(grep -m1 unsupported "$LOG")"
	fi
	python3 "$PY" run --log "$LOG" --snap "$T/$name.snap" --maildir "$MD" \
		--after-snap "$T/$name.after" --series "$name" --keep "$KEEP" \
		--expect "$expect" -- \
		"${RUNAS[@]}" "$POP3D" "${POP[@]}" >"$T/$name.py.out" 2>"$T/$name.py.err"
	cat "$T/$name.py.out"
	grep -qE "^(PASS|FAIL) $name-" "$T/$name.py.out" ||
		fail "$name-enumerate" "powercut-maildir.py stopped: $(tail -n 3 "$T/$name.py.err" | tr '\n' ' ')"
}

# crashed NAME DELE...: the UPDATE of those DELEs killed (SIGKILL: the
# page cache survives, so what it left is taken as durable) right after
# its first unlink of a message, found by a counting run.
crashed() {
	local name=$1 at
	shift
	local in=("USER alice" "PASS secret") d
	for d in "$@"; do in+=("DELE $d"); done
	in+=(QUIT)
	crlf "${in[@]}" | "${RUNAS[@]}" env ASAN_OPTIONS="$PRELOAD_ASAN" \
		LD_PRELOAD="$FAULT" FAULT_AT=0 FAULT_TRACE_FILE="$T/$name.trace" \
		"$POP3D" "${POP[@]}" >/dev/null 2>&1
	# A message's cur/ name has a ':'; the login's unlinks of new/ names
	# (the second half of its moves) have none.
	at=$(awk '$2 == "unlinkat" && $3 ~ /^[0-9][^:]*:/ { print $1; exit }' "$T/$name.trace")
	fresh
	if [ -z "$at" ]; then
		fail "$name-crash" "no unlink of a message in the trace"
		return 1
	fi
	crlf "${in[@]}" | "${RUNAS[@]}" env ASAN_OPTIONS="$PRELOAD_ASAN" \
		LD_PRELOAD="$FAULT" FAULT_AT="$at" FAULT_WHEN=after \
		"$POP3D" "${POP[@]}" >/dev/null 2>&1
	sync
	check "$name-crashed-with-journal" test -e "$MD/pop3d-journal"
}

# Message 5 was in new/: moved to cur/ at login (linked into cur/, cur/
# fsynced, unlinked from new/), then deleted.
series dele-cur-and-moved 2 5
series dele-all 1 2 3 4 5 6
# The same with the move's two directory changes surviving a cut each on
# its own (a file system that does not journal directories): a rename
# could lose the message there, the link + fsync + unlink cannot.
POWERCUT_RENAME_HALVES=1 series halves-dele-cur-and-moved 2 5
# Recovery: the crash left message 1 deleted, 2, 5 and 6 still to go.
RECOVER=4 series recovery-dele-some 1 2 5 6

#!/usr/bin/env bash
# tests/e2e/rootmode.sh - pop3d started as root, as inetd starts it (SPEC
# section 6), serving the system users pop3duser1 and pop3duser2 (created
# when missing) from a spool made like Debian's /var/mail (root:mail 2775,
# mailboxes USER:mail 0660):
#  - a session runs as the user: /proc/PID/status shows the user's uid in
#    all four fields, its gid (the saved gid may be the mail group, which
#    -g keeps for lock files; with -g none all four), only its gid as
#    supplementary group, and no capabilities -- so setuid(0) is impossible;
#  - DELE+QUIT works; the dot-lock and the journal UPDATE creates belong to
#    the user (caught by killing pop3d right after creating each, with the
#    LD_PRELOAD shim tests/faultshim.c);
#  - refused, with -ERR [AUTH] as a wrong password, a log line, and no
#    maildrop opened (inotifywait on the spool): an entry with uid 0, a
#    system account below --first-uid (not before the failure delay; with
#    --first-uid lowered it logs in); with -ERR [SYS/PERM]: an entry
#    without uid/gid;
#  - one user cannot read another's mail: mail= naming another user's mbox,
#    a symlink in the spool, user names with "/" or "..";
#  - a password file another user can write (owns it, or mode 0666) is
#    refused with a log line that says how to fix it: the line that user
#    added to get pop3duser1's mail gives no login and opens no maildrop;
# Not lib.sh's run_pop3d (which runs pop3d as nobody): pop3d runs as root.
. "$(dirname "$0")/../lib.sh"
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c), and lib.sh gives $T to nobody: root's again.
[ "$(id -u)" = 0 ] && chown root:root "$T"

cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
SAN_RE='runtime error|AddressSanitizer|LeakSanitizer'
# After the switch to the user's ids pop3d is non-dumpable, so
# LeakSanitizer cannot attach to it at exit ("fatal error", status 99).
# Leaks are checked by the unprivileged suites; all else stays on here.
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"

if [ "$(id -u)" != 0 ]; then
	echo "rootmode.sh needs root; skipped"
	exit 0
fi

PIDS=()
cleanup() {
	local p
	exec 7>&- 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	apt-get install -y -q "$2" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$2" >/dev/null 2>&1; }
	command -v "$1" >/dev/null 2>&1
}

# ------------------------------------------------------------- helpers

pop() {
	local name=$1; shift
	"$POP3D" "$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
fingerprint() { printf '%s %s\n' "$(sha256sum <"$1")" "$(stat -c '%s %a %U:%G %i %.9Y' "$1")"; }
no_sanitizer() {
	local hit; hit=$(grep -h -m1 -E "$SAN_RE" "$T"/*.err 2>/dev/null | head -n 1)
	if [ -z "$hit" ]; then pass "$1"; else fail "$1" "$hit"; fi
}

# start NAME ARGS...: a step-by-step session of pop3d started as root
# (lib.sh: fifo_start, send, await, finish); DRIVEN is pop3d's pid.
start() { local name=$1; shift; fifo_start "$name" "$POP3D" "$@"; }

# ids_check NAME PID UID GID SAVEDGIDS: /proc/PID/status of a session.
ids_check() {
	local st=$T/$1.status uidl gidl groups cape capp g want_g
	cat "/proc/$2/status" >"$st" 2>/dev/null || { fail "$1-ids" "no /proc/$2/status"; return; }
	uidl=$(awk '$1 == "Uid:" { print $2, $3, $4, $5 }' "$st")
	gidl=$(awk '$1 == "Gid:" { print $2, $3, $5 }' "$st")	# real, effective, fs
	g=$(awk '$1 == "Gid:" { print $4 }' "$st")			# saved
	groups=$(awk '$1 == "Groups:" { $1 = ""; print }' "$st" | xargs)
	cape=$(awk '$1 == "CapEff:" { print $2 }' "$st")
	capp=$(awk '$1 == "CapPrm:" { print $2 }' "$st")
	equal "$1-uid-all-four" "$3 $3 $3 $3" "$uidl"
	equal "$1-gid-real-effective-fs" "$4 $4 $4" "$gidl"
	want_g=no
	for x in $5; do [ "$g" = "$x" ] && want_g=yes; done
	if [ "$want_g" = yes ]; then pass "$1-saved-gid ($g)"
	else fail "$1-saved-gid" "saved gid $g, expected one of: $5"; fi
	equal "$1-groups-only-user-gid" "$4" "$groups"
	equal "$1-no-capabilities" "0000000000000000 0000000000000000" "$cape $capp"
}

# --------------------------------------------------------------- setup

need inotifywait inotify-tools || echo "inotifywait missing; the no-maildrop-opened checks will fail"
for u in pop3duser1 pop3duser2; do
	useradd -M -d /nonexistent -s /usr/sbin/nologin "$u"
done
U1=$(id -u pop3duser1); G1=$(id -g pop3duser1)
U2=$(id -u pop3duser2); G2=$(id -g pop3duser2)
# A system account (useradd --system: a uid below 1000), for --first-uid.
useradd --system -M -d /nonexistent -s /usr/sbin/nologin pop3dsys1
US=$(id -u pop3dsys1); GS=$(id -g pop3dsys1)
MAILGID=$(getent group mail | cut -d: -f3)
H=$(mkhash secret)
SP=$T/spool
mkdir "$SP"; chown root:mail "$SP"; chmod 2775 "$SP"
{
	printf 'pop3duser1:%s:%s:%s::/nonexistent\n' "$H" "$U1" "$G1"
	printf 'pop3duser2:%s:%s:%s::/nonexistent\n' "$H" "$U2" "$G2"
	printf 'root2:%s:0:0::/root\n' "$H"
	printf 'noids:%s\n' "$H"
	printf 'pop3dsys1:%s:%s:%s::/nonexistent\n' "$H" "$US" "$GS"
	printf 'thief:%s:%s:%s::/nonexistent::mail=%s/pop3duser1\n' "$H" "$U2" "$G2" "$SP"
} >"$T/passwd"
chown root:root "$T/passwd"; chmod 600 "$T/passwd"
POP=(-s -p "$T/passwd" -m "$SP/%u")

msg() { printf 'From s@example.org Mon Jan  1 10:00:00 2024\nMessage-ID: <%s@example.org>\nSubject: %s\n\nbody %s\n\n' "$1" "$1" "$1"; }
{ msg one; msg two; msg three; } >"$T/u1.mbox"
{ msg two; msg three; } >"$T/u1.after"
{ msg four; msg five; } >"$T/u2.mbox"
# put FILE USER: USER's maildrop, USER:mail 0660, as on Debian.
put() { rm -f "$SP/$2"; cp "$1" "$SP/$2"; chown "$2:mail" "$SP/$2"; chmod 660 "$SP/$2"; }
put "$T/u1.mbox" pop3duser1
put "$T/u2.mbox" pop3duser2
put "$T/u2.mbox" pop3dsys1
cp "$T/u1.mbox" "$SP/root2"; chown root:mail "$SP/root2"; chmod 660 "$SP/root2"
cp "$T/u1.mbox" "$SP/noids"; chown root:mail "$SP/noids"; chmod 660 "$SP/noids"

# Every open/read/write/create in the spool, as "EVENTS NAME" lines.
INOTIFY=0
if command -v inotifywait >/dev/null; then
	inotifywait -m -e open,access,modify,create,attrib,moved_to,delete --format '%e %f' \
		-o "$T/spool.events" "$SP" 2>"$T/inotify.err" &
	PIDS+=("$!")
	for _ in $(seq 100); do grep -q 'Watches established' "$T/inotify.err" && break; sleep 0.05; done
	grep -q 'Watches established' "$T/inotify.err" && INOTIFY=1
fi
# events_mark: the number of events so far; touched NAME MARK: the events
# naming maildrop NAME (or its lock/journal) since MARK.
events_mark() { sleep 0.2; wc -l <"$T/spool.events" 2>/dev/null || echo 0; }
touched() { sleep 0.2; tail -n "+$(( $2 + 1 ))" "$T/spool.events" | awk -v n="$1" '$2 == n || index($2, n ".") == 1' | tr '\n' ';'; }

# ---------------------------------------- the session runs as the user

m=$(events_mark)
start s1 "${POP[@]}"
send 'USER pop3duser1' 'PASS secret'
if await s1 3; then
	answer_is login-as-root-started s1 3 '+OK maildrop has 3 messages*'
	ids_check session "$DRIVEN" "$U1" "$G1" "$G1 $MAILGID"
	send STAT
	await s1 4
	answer_is session-stat s1 4 '+OK 3 *'
else
	fail login-as-root-started "no answer to PASS: $(cat "$T/s1.out" "$T/s1.err" | tr '\n' ' ')"
fi
send QUIT
finish s1
equal session-exit-status 0 "$(cat "$T/s1.rc")"
log_has session-log-login s1 "^pop3d\[$DRIVEN\]: pipe: login: user=pop3duser1 messages=3 "
if [ "$INOTIFY" = 1 ]; then
	# The control for the "no maildrop opened" checks below.
	case $(touched pop3duser1 "$m") in
	*OPEN*) pass inotify-sees-maildrop-open ;;
	*) fail inotify-sees-maildrop-open "no OPEN event for pop3duser1: $(tail -n 3 "$T/spool.events" | tr '\n' ';')" ;;
	esac
else
	fail inotify-sees-maildrop-open "inotifywait is not available"
fi

# With -g none no group is kept at all: every gid field is the user's.
# Without the group the spool is not writable, and a maildrop there could
# never have its deletions applied: refused at login (below); here the
# maildrop is in a directory of the user's own.
mkdir "$T/own1"; chown "$U1:$G1" "$T/own1"
start s1g -g none "${POP[@]}" -m "$T/own1/%u"
send 'USER pop3duser1' 'PASS secret'
if await s1g 3; then
	ids_check session-g-none "$DRIVEN" "$U1" "$G1" "$G1"
else
	fail session-g-none "no answer to PASS: $(cat "$T/s1g.out" "$T/s1g.err" | tr '\n' ' ')"
fi
send QUIT
finish s1g

# -g none in the Debian spool: the journal and dot-lock could not be made,
# so the login is refused with [SYS/PERM] (logged), not served until a QUIT
# that can only fail.
crlf 'USER pop3duser1' 'PASS secret' STAT QUIT | pop gnone-spool -g none "${POP[@]}"
answer_is gnone-spool-refused gnone-spool 3 '-ERR \[SYS/PERM\] *'
log_has gnone-spool-logged gnone-spool "no file can be created in its directory $SP \\(Permission denied\\)"

# --------------------------------------------- UPDATE as the user

crlf 'USER pop3duser1' 'PASS secret' 'DELE 1' QUIT | pop dele "${POP[@]}"
answer_is dele-quit dele 5 '+OK*'
if cmp -s "$SP/pop3duser1" "$T/u1.after"; then pass dele-applied
else fail dele-applied "the mbox is not messages 2 and 3"; fi
equal dele-mbox-identity "pop3duser1:mail 660" "$(stat -c '%U:%G %a' "$SP/pop3duser1")"
equal dele-exit-status 0 "$(cat "$T/dele.rc")"
left=$(find "$SP" -name 'pop3duser1.*' -printf '%f ')
equal dele-no-leftovers "" "$left"

# The dot-lock and the journal: pop3d is killed right after creating each
# (tests/faultshim.c), so they can be inspected.
FAULT_OK=0
if cc -shared -fPIC -O1 -o "$T/faultshim.so" "$TOP/tests/faultshim.c" -ldl 2>"$T/shim-cc.err"; then
	FAULT_POP3D=$POP3D
	FAULT_ASAN="${ASAN_OPTIONS}:verify_asan_link_order=0"
	# shim_session NAME N: USER/PASS/DELE 1/QUIT for pop3duser1, killed
	# after the Nth counted call (0: never); trace in $T/NAME.trace.
	shim_session() {
		rm -f "$T/$1.trace"
		( crlf 'USER pop3duser1' 'PASS secret' 'DELE 1' QUIT |
			env ASAN_OPTIONS="$FAULT_ASAN" LD_PRELOAD="$T/faultshim.so" FAULT_AT="$2" \
				FAULT_WHEN=after FAULT_TRACE_FILE="$T/$1.trace" \
				"$FAULT_POP3D" "${POP[@]}" >"$T/$1.out" 2>"$T/$1.shimerr"
		  echo $? >"$T/$1.rc" ) 2>/dev/null
	}
	put "$T/u1.mbox" pop3duser1
	shim_session trace 0
	if [ "$(cat "$T/trace.rc")" != 0 ] || [ ! -s "$T/trace.trace" ]; then
		# The sanitizer build would not take the preload: a plain build.
		( cd "$TOP" && cc -std=c11 -D_GNU_SOURCE -O1 -o "$T/pop3d-plain" $(ls ./*.c | grep -v pop3passwd) \
			$(pkg-config --cflags --libs libcrypt libcrypto) ) 2>"$T/plain-cc.err"
		FAULT_POP3D=$T/pop3d-plain
		put "$T/u1.mbox" pop3duser1
		shim_session trace 0
	fi
	if [ "$(cat "$T/trace.rc")" = 0 ] && [ -s "$T/trace.trace" ]; then
		FAULT_OK=1
		pass "shim-trace ($(wc -l <"$T/trace.trace") calls)"
	else
		fail shim-trace "no trace (status $(cat "$T/trace.rc")): $(head -n 2 "$T/trace.shimerr" | tr '\n' ' ')"
	fi
else
	fail shim-builds "$(head -n 3 "$T/shim-cc.err" | tr '\n' ' ')"
fi
if [ "$FAULT_OK" = 1 ]; then
	MB1=$SP/pop3duser1
	# kill_after CHECK REGEX FILE: kills after the first call matching
	# REGEX, then FILE must exist and belong to pop3duser1.
	kill_after() {
		local n
		n=$(grep -m1 -E "$2" "$T/trace.trace" | cut -d' ' -f1)
		if [ -z "$n" ]; then
			fail "$1" "no call matching '$2' in the trace: $(cut -d' ' -f2- "$T/trace.trace" | grep -v 'fd=[12]' | tr '\n' ';' | cut -c1-300)"
			return
		fi
		put "$T/u1.mbox" pop3duser1
		shim_session "$1" "$n"
		if [ ! -e "$3" ]; then
			fail "$1" "$(basename "$3") does not exist after a kill at call $n (status $(cat "$T/$1.rc"))"
		else
			equal "$1" "pop3duser1 $U1" "$(stat -c '%U %u' "$3")"
		fi
		# The next session cleans up: the lock is stale, the journal
		# is recovered.
		crlf 'USER pop3duser1' 'PASS secret' QUIT | pop "$1-next" "${POP[@]}"
		answer_is "$1-next-login" "$1-next" 3 '+OK maildrop has *'
		rm -f "$MB1".lock* "$MB1".pop3d-journal*
	}
	# The names are relative to the spool directory's descriptor
	# (spool.c); a full path would do too.
	kill_after dotlock-owned-by-user "^[0-9]+ link(at)? .* -> ($MB1|pop3duser1)\.lock\$" "$MB1.lock"
	kill_after journal-owned-by-user "^[0-9]+ rename(at2?)? .* -> ($MB1|pop3duser1)\.pop3d-journal\$" "$MB1.pop3d-journal"
fi
put "$T/u1.mbox" pop3duser1
FP1=$(fingerprint "$SP/pop3duser1")

# ----------------------------------------------- refused entries

# uid 0: refused as a wrong password is (no oracle for root's password),
# before any maildrop is touched.
m=$(events_mark)
crlf 'USER root2' 'PASS secret' STAT QUIT | pop root2 "${POP[@]}"
answer_is uid0-refused root2 3 '-ERR \[AUTH\] authentication failed'
log_has uid0-log-line root2 'PASS failed for user=root2 auth=file: account maps to uid 0'
if grep -q 'login: user=root2' "$T/root2.err"; then fail uid0-never-served "$(grep -m1 'login:' "$T/root2.err")"; else pass uid0-never-served; fi
answer_is uid0-still-unauthenticated root2 4 '-ERR command not valid in this state'
t=$(touched root2 "$m")
if [ "$INOTIFY" = 1 ] && [ -z "$t" ]; then pass uid0-no-maildrop-opened
else fail uid0-no-maildrop-opened "spool events for root2: ${t:-(no inotify)}"; fi

# A system account (uid below --first-uid, 1000 by default) with the right
# password: refused exactly as a wrong password is -- the same answer, not
# sooner than the failure delay, counted, logged with the uid -- and no
# maildrop touched; with --first-uid lowered to its uid it logs in.
ms_now() { date +%s%3N; }
m=$(events_mark)
t0=$(ms_now)
crlf 'USER pop3dsys1' 'PASS secret' QUIT | pop lowuid "${POP[@]}"
el=$(( $(ms_now) - t0 ))
answer_is first-uid-refused lowuid 3 '-ERR \[AUTH\] authentication failed'
log_has first-uid-log-line lowuid "PASS failed for user=pop3dsys1 auth=file: uid $US is below --first-uid 1000"
if grep -q 'login: user=pop3dsys1' "$T/lowuid.err"; then fail first-uid-never-served "$(grep -m1 'login:' "$T/lowuid.err")"; else pass first-uid-never-served; fi
if [ "$el" -ge 500 ]; then pass "first-uid-refusal-takes-the-failure-delay (${el} ms)"
else fail first-uid-refusal-takes-the-failure-delay "answered within $el ms, before the 500 ms delay (AUTH_FAIL_DELAY_MS)"; fi
t=$(touched pop3dsys1 "$m")
if [ "$INOTIFY" = 1 ] && [ -z "$t" ]; then pass first-uid-no-maildrop-opened
else fail first-uid-no-maildrop-opened "spool events for pop3dsys1: ${t:-(no inotify)}"; fi
# A wrong password for the same account: the same answer, at no other
# kind of time (both wait for the delay; timing.sh measures closer).
t0=$(ms_now)
crlf 'USER pop3dsys1' 'PASS wrong' QUIT | pop lowuid-wrong "${POP[@]}"
el2=$(( $(ms_now) - t0 ))
answer_is first-uid-wrong-password-same-answer lowuid-wrong 3 '-ERR \[AUTH\] authentication failed'
if [ "$el2" -ge 500 ]; then pass "first-uid-wrong-password-takes-the-delay (${el2} ms)"
else fail first-uid-wrong-password-takes-the-delay "answered within $el2 ms"; fi
# Two refusals and a wrong password are three failures: the limit.
crlf 'USER pop3dsys1' 'PASS secret' 'USER pop3dsys1' 'PASS secret' 'USER pop3dsys1' 'PASS wrong' 'USER pop3duser1' 'PASS secret' | pop lowuid-limit "${POP[@]}"
if grep -q 'login: user=pop3duser1' "$T/lowuid-limit.err"; then fail first-uid-refusals-count-as-failures "a fourth login was accepted after three failures"
else pass first-uid-refusals-count-as-failures; fi
crlf 'USER pop3dsys1' 'PASS secret' STAT QUIT | pop lowuid-lowered "${POP[@]}" --first-uid "$US"
answer_is first-uid-lowered-logs-in lowuid-lowered 3 '+OK maildrop has 2 messages*'
log_has first-uid-lowered-login-line lowuid-lowered 'login: user=pop3dsys1 '

# No uid/gid while running as root: refused, with a clear log line.
m=$(events_mark)
crlf 'USER noids' 'PASS secret' STAT QUIT | pop noids "${POP[@]}"
answer_is no-ids-refused noids 3 '-ERR \[SYS/PERM\]*'
log_has no-ids-log-line noids 'user noids has no uid/gid in the password file'
t=$(touched noids "$m")
if [ "$INOTIFY" = 1 ] && [ -z "$t" ]; then pass no-ids-no-maildrop-opened
else fail no-ids-no-maildrop-opened "spool events for noids: ${t:-(no inotify)}"; fi

# ------------------------------------- one user cannot read another's mail

# mail= pointing at pop3duser1's mbox, served as pop3duser2: the owner check.
crlf 'USER thief' 'PASS secret' 'RETR 1' 'DELE 1' QUIT | pop thief "${POP[@]}"
answer_is other-users-mbox-refused thief 3 '-ERR \[SYS/PERM\]*'
# (In a Debian spool the file's mode already stops it: 0660, group mail,
# which the session does not have when it opens the maildrop.)
log_has other-users-mbox-log-line thief "cannot open maildrop $SP/pop3duser1: Permission denied"
if grep -q 'Subject: one' "$T/thief.out"; then fail other-users-mail-not-sent "message text was sent"; else pass other-users-mail-not-sent; fi
equal other-users-mbox-unchanged "$FP1" "$(fingerprint "$SP/pop3duser1")"
# A mode that lets everybody in (0666): the owner check alone refuses.
chmod 666 "$SP/pop3duser1"
FP1W=$(fingerprint "$SP/pop3duser1")
crlf 'USER thief' 'PASS secret' 'RETR 1' 'DELE 1' QUIT | pop thief-0666 "${POP[@]}"
answer_is other-users-mbox-0666-refused thief-0666 3 '-ERR \[SYS/PERM\]*'
log_has other-users-mbox-0666-owner-check thief-0666 "maildrop $SP/pop3duser1 is not a regular file owned by uid $U2"
equal other-users-mbox-0666-unchanged "$FP1W" "$(fingerprint "$SP/pop3duser1")"
chmod 660 "$SP/pop3duser1"

# User names that would leave the spool through %u: never served.
NAMES=('/' '..' '../pop3duser1' 'pop3duser1/' './pop3duser1' '../spool/pop3duser1')
# (In parallel: each failure costs pop3d's failure delay, 0.5 s and more.)
i=0 NPIDS=()
for n in "${NAMES[@]}"; do
	i=$((i + 1))
	( crlf "USER $n" 'PASS secret' STAT QUIT | pop "name$i" "${POP[@]}" ) &
	NPIDS+=("$!")
done
wait "${NPIDS[@]}"
i=0 bad=''
for n in "${NAMES[@]}"; do
	i=$((i + 1))
	case $(line "name$i" 3) in
	'-ERR [AUTH]'*) ;;
	*) bad="$bad '$n' -> '$(line "name$i" 3)';" ;;
	esac
	grep -q 'login:' "$T/name$i.err" && bad="$bad '$n' logged in;"
done
if [ -z "$bad" ]; then pass "path-user-names-auth-refused (${#NAMES[@]} names)"
else fail path-user-names-auth-refused "$bad"; fi
equal path-user-names-mbox-unchanged "$FP1" "$(fingerprint "$SP/pop3duser1")"

# A symlink in the spool, to another user's mbox and to the user's own.
mv "$SP/pop3duser2" "$SP/pop3duser2.real"
ln -s pop3duser1 "$SP/pop3duser2"
crlf 'USER pop3duser2' 'PASS secret' 'RETR 1' 'DELE 1' QUIT | pop symlink-other "${POP[@]}"
answer_is symlink-to-other-refused symlink-other 3 '-ERR \[SYS/PERM\]*'
log_has symlink-to-other-not-followed symlink-other "cannot open maildrop $SP/pop3duser2: Too many levels of symbolic links"
equal symlink-to-other-mbox-unchanged "$FP1" "$(fingerprint "$SP/pop3duser1")"
rm "$SP/pop3duser2"
ln -s pop3duser2.real "$SP/pop3duser2"
FP2=$(fingerprint "$SP/pop3duser2.real")
crlf 'USER pop3duser2' 'PASS secret' 'DELE 1' QUIT | pop symlink-own "${POP[@]}"
answer_is symlink-to-own-refused symlink-own 3 '-ERR \[SYS/PERM\]*'
log_has symlink-to-own-not-followed symlink-own "cannot open maildrop $SP/pop3duser2: Too many levels of symbolic links"
equal symlink-to-own-mbox-unchanged "$FP2" "$(fingerprint "$SP/pop3duser2.real")"
rm "$SP/pop3duser2"
mv "$SP/pop3duser2.real" "$SP/pop3duser2"
crlf 'USER pop3duser2' 'PASS secret' 'RETR 1' QUIT | pop u2 "${POP[@]}"
answer_is second-user-served-own-mbox u2 3 '+OK maildrop has 2 messages*'
if grep -q 'Subject: four' "$T/u2.out"; then pass second-user-reads-own-mail; else fail second-user-reads-own-mail "RETR 1 answered '$(line u2 4)'"; fi

# ------------------------- a password file others can write is not believed
# (issue 12) pop3duser2 ("mallory") can write the password file, and adds
# a line that gives a password she knows pop3duser1's uid and maildrop.
# Whether she owns the file or its mode lets her in, pop3d must refuse
# the file, say how to fix it, and open no maildrop.
mallory_line() { printf 'mallory:%s:%s:%s::/nonexistent::mail=%s/pop3duser1\n' "$H" "$U1" "$G1" "$SP"; }
FP1=$(fingerprint "$SP/pop3duser1")
for how in owner mode; do
	{ cat "$T/passwd"; mallory_line; } >"$T/passwd-$how"
	chmod 600 "$T/passwd-$how"
	if [ "$how" = owner ]; then chown pop3duser2 "$T/passwd-$how"; else chmod 666 "$T/passwd-$how"; fi
	m=$(events_mark)
	crlf 'USER mallory' 'PASS secret' 'RETR 1' 'DELE 1' QUIT |
		pop "mallory-$how" -s -p "$T/passwd-$how" -m "$SP/%u"
	answer_is "writable-passwd-$how-mallory-refused" "mallory-$how" 3 '-ERR*'
	if grep -q 'login: user=mallory' "$T/mallory-$how.err"; then
		fail "writable-passwd-$how-mallory-not-logged-in" "$(grep -m1 'login:' "$T/mallory-$how.err")"
	else pass "writable-passwd-$how-mallory-not-logged-in"; fi
	if grep -q 'Subject: one' "$T/mallory-$how.out"; then
		fail "writable-passwd-$how-carols-mail-not-sent" "pop3duser1's message was sent"
	else pass "writable-passwd-$how-carols-mail-not-sent"; fi
	t=$(touched pop3duser1 "$m")
	if [ "$INOTIFY" = 1 ] && [ -z "$t" ]; then pass "writable-passwd-$how-carols-maildrop-not-opened"
	else fail "writable-passwd-$how-carols-maildrop-not-opened" "spool events: ${t:-(no inotify)}"; fi
	equal "writable-passwd-$how-carols-mbox-unchanged" "$FP1" "$(fingerprint "$SP/pop3duser1")"
done
log_has writable-passwd-owner-log-says-fix mallory-owner "refusing password file $T/passwd-owner: .*owned by uid $U2, not root.*chown root $T/passwd-owner"
log_has writable-passwd-mode-log-says-fix mallory-mode "refusing password file $T/passwd-mode: .*writable by group or others \(mode 0666\): chmod go-w $T/passwd-mode"

no_sanitizer no-sanitizer-report
exit 0

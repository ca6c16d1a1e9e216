#!/usr/bin/env bash
# tests/e2e/mailgid.sh - the mail group (-g, default "mail") in root mode
# (spool.c), with the system users pop3duser1 and pop3duser2:
#  (1) not needed (-m '%h/mbox', a directory the user owns): once logged
#      in, /proc/PID/status of the session shows the user's gid in all
#      four Gid: fields and as the only group -- no mail gid anywhere, so
#      nothing in the session can turn it on again; DELE+QUIT still works;
#  (2) needed (a spool made like Debian's /var/mail: root:mail 2775,
#      mailboxes USER:mail 0660): the lock and the journal are made and
#      DELE+QUIT applies; under strace, every call made while the mail
#      group is effective is a name operation (openat, linkat, unlinkat,
#      renameat) on the spool directory's descriptor for the user's own
#      lock or journal names -- no read of mail, no path from "/"; and
#      during a RETR of a 2 MB message that the client does not read, the
#      effective gid is the user's;
#  (3) a spool directory inside a directory the user owns, swapped for a
#      symlink to another spool between login and QUIT: the UPDATE still
#      happens in the spool that was checked at login, and the other one is
#      untouched (its planted PATH.lock of another user not removed, no
#      lock or journal made there); a symlink already there at login makes
#      pop3d drop the group (logged) rather than follow it, and refuse the
#      login, as for any spool it cannot write.
# Not lib.sh's run_pop3d (which runs pop3d as nobody): pop3d runs as root.
. "$(dirname "$0")/../lib.sh"
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c), and lib.sh gives $T to nobody: root's again.
[ "$(id -u)" = 0 ] && chown root:root "$T"

cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
# Non-dumpable after the switch to the user: LeakSanitizer cannot attach
# (see rootmode.sh); the unprivileged suites check leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"

if [ "$(id -u)" != 0 ]; then
	echo "mailgid.sh needs root; skipped"
	exit 0
fi
command -v strace >/dev/null 2>&1 ||
	sh "$(dirname "$0")/../apt-install.sh" strace >"$T/apt.log" 2>&1 ||
	fail deps-strace "cannot install strace: $(tail -3 "$T/apt.log")"

READER=
cleanup() {
	exec 7>&- 8<&- 2>/dev/null
	[ -n "$READER" ] && kill "$READER" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap 'cp -r "$T" "$KEEP"; cleanup' EXIT

# ------------------------------------------------------------- helpers

# gids PID: "real effective saved fs | groups" of a process.
gids() {
	awk '$1 == "Gid:" { g = $2 " " $3 " " $4 " " $5 }
	     $1 == "Groups:" { $1 = ""; s = $0 }
	     END { sub(/^ +/, "", s); print g " | " s }' "/proc/$1/status" 2>/dev/null
}
# as_user1 CMD...: what pop3duser1 itself can do.
as_user1() { setpriv --reuid="$U1" --regid="$G1" --clear-groups "$@"; }
# listing DIR: names, owners and inodes, to see that nothing changed.
listing() { find "$1" -mindepth 1 -printf '%f %u %i\n' | sort | tr '\n' ';'; }

# --------------------------------------------------------------- setup

for u in pop3duser1 pop3duser2; do
	useradd -M -d /nonexistent -s /usr/sbin/nologin "$u"
done
U1=$(id -u pop3duser1); G1=$(id -g pop3duser1)
U2=$(id -u pop3duser2); G2=$(id -g pop3duser2)
MAILGID=$(getent group mail | cut -d: -f3)
H=$(mkhash secret)
HOME1=$T/home1
install -d -m 755 -o pop3duser1 -g pop3duser1 "$HOME1"
{
	printf 'pop3duser1:%s:%s:%s::%s\n' "$H" "$U1" "$G1" "$HOME1"
	printf 'pop3duser2:%s:%s:%s::/nonexistent\n' "$H" "$U2" "$G2"
} >"$T/passwd"
chmod 600 "$T/passwd"

msg() { printf 'From s@example.org Mon Jan  1 10:00:00 2024\nMessage-ID: <%s@example.org>\nSubject: %s\n\nbody %s\n\n' "$1" "$1" "$1"; }
{ msg one; msg two; msg three; } >"$T/small.mbox"
{ msg two; msg three; } >"$T/small.after"
# A spool made like Debian's.
spool() { install -d -m 2775 -o root -g mail "$1"; }
# put FILE PATH USER MODE: a maildrop.
put() { rm -f "$2"; cp "$1" "$2"; chown "$3:mail" "$2"; chmod "$4" "$2"; }

# ------------------------- (1) %h/mbox: the mail group is dropped for good

put "$T/small.mbox" "$HOME1/mbox" pop3duser1 600
fifo_start home "$POP3D" -s -p "$T/passwd" -m '%h/mbox'
send 'USER pop3duser1' 'PASS secret'
if await home 3; then
	answer_is home-login home 3 '+OK maildrop has 3 messages*'
	equal home-no-mail-gid "$G1 $G1 $G1 $G1 | $G1" "$(gids "$DRIVEN")"
	send 'DELE 1' QUIT
	await home 5
else
	fail home-login "no answer to PASS: $(cat "$T/home.out" "$T/home.err" | tr '\n' ' ')"
fi
finish home
answer_is home-quit home 5 '+OK*'
if cmp -s "$HOME1/mbox" "$T/small.after"; then pass home-dele-applied
else fail home-dele-applied "the mbox is not messages 2 and 3"; fi
equal home-no-leftovers "" "$(find "$HOME1" -name 'mbox.*' -printf '%f ')"

# ----------------- (2) a stock spool: the group only around name operations

SP=$T/spool
spool "$SP"
put "$T/small.mbox" "$SP/pop3duser1" pop3duser1 660
POP=(-s -p "$T/passwd" -m "$SP/%u")
crlf 'USER pop3duser1' 'PASS secret' 'RETR 1' 'DELE 1' QUIT |
	strace -f -qq -o "$T/spool.strace" -e trace=setresgid,setregid,setgid,open,openat,link,linkat,unlink,unlinkat,rename,renameat,renameat2,read,pread64 \
		"$POP3D" "${POP[@]}" >"$T/spool.out" 2>"$T/spool.err"
echo $? >"$T/spool.rc"
answer_is spool-quit spool "$(wc -l <"$T/spool.out")" '+OK*'
if cmp -s "$SP/pop3duser1" "$T/small.after"; then pass spool-dele-applied
else fail spool-dele-applied "the mbox is not messages 2 and 3"; fi
equal spool-mbox-identity "pop3duser1:mail 660" "$(stat -c '%U:%G %a' "$SP/pop3duser1")"
equal spool-no-leftovers "" "$(find "$SP" -name 'pop3duser1.*' -printf '%f ')"
# Per process, the effective gid as the setresgid family leaves it, and
# every traced call made while it is the mail group.
awk -v mail="$MAILGID" '
	/resumed>/ { next }
	{ pid = $1; call = $0; sub(/^[0-9]+ +/, "", call) }
	call ~ /^(setresgid|setregid|setgid)\(/ {
		a = call; sub(/^[a-z]+\(/, "", a); sub(/\).*/, "", a)
		n = split(a, f, /, */)
		e = call ~ /^setresgid/ ? f[2] : call ~ /^setregid/ ? f[2] : f[1]
		if (call ~ /= 0$/ && e != "-1") egid[pid] = e
		next
	}
	egid[pid] == mail { print call }' "$T/spool.strace" >"$T/spool.raised"
bad=$(grep -vE '^(openat\([0-9]+, "(\.|pop3duser1\.[^"/]*)", |linkat\((AT_FDCWD, "/proc/self/fd/[0-9]+"|[0-9]+, "pop3duser1\.lock\.[^"/]*"), [0-9]+, "pop3duser1\.lock", |unlinkat\([0-9]+, "pop3duser1\.[^"/]*", 0\)|renameat2?\([0-9]+, "pop3duser1\.pop3d-journal\.new", [0-9]+, "pop3duser1\.pop3d-journal")' "$T/spool.raised" | head -n 3 | tr '\n' ';')
if [ ! -s "$T/spool.strace" ]; then fail spool-group-only-for-names "no strace output"
elif [ -z "$bad" ]; then pass "spool-group-only-for-names ($(wc -l <"$T/spool.raised") calls with it)"
else fail spool-group-only-for-names "with the mail group effective: $bad"; fi
# The control: the group is used at all, for the lock and the journal.
if grep -qE '^linkat\(.* "pop3duser1\.lock"' "$T/spool.raised" &&
	grep -qE '^renameat2?\(.*"pop3duser1\.pop3d-journal"' "$T/spool.raised"; then
	pass spool-group-used-for-lock-and-journal
else
	fail spool-group-used-for-lock-and-journal "raised: $(tr '\n' ';' <"$T/spool.raised" | cut -c1-300)"
fi

# RETR of a message larger than a pipe holds, to a client that does not
# read: while pop3d waits to write it, the group is not effective.
{ printf 'From s@example.org Mon Jan  1 10:00:00 2024\nSubject: big\n\n'
  head -c 2000000 /dev/zero | tr '\0' 'x' | fold -w 76; printf '\n\n'; msg two; } >"$T/big.mbox"
put "$T/big.mbox" "$SP/pop3duser1" pop3duser1 660
mkfifo "$T/retr.in" "$T/retr.out"
( exec "$POP3D" "${POP[@]}" <"$T/retr.in" >"$T/retr.out" 2>"$T/retr.err" ) &
RPID=$!
exec 7>"$T/retr.in" 8<"$T/retr.out"
crlf 'USER pop3duser1' 'PASS secret' 'RETR 1' >&7
wrote=0
for _ in $(seq 100); do
	wrote=$(awk '$1 == "wchar:" { print $2 }' "/proc/$RPID/io" 2>/dev/null || echo 0)
	[ "${wrote:-0}" -ge 65536 ] && break
	sleep 0.05
done
if [ "${wrote:-0}" -ge 65536 ]; then
	g=$(gids "$RPID")
	case $g in
	"$G1 $G1 "*" $G1 | $G1") pass "retr-effective-gid-is-users ($g)" ;;
	*) fail retr-effective-gid-is-users "gids during RETR: $g" ;;
	esac
else
	fail retr-effective-gid-is-users "pop3d wrote only ${wrote:-0} bytes"
fi
cat <&8 >"$T/retr.outfile" &
READER=$!
crlf 'DELE 1' QUIT >&7
exec 7>&-
wait "$RPID"
echo $? >"$T/retr.rc"
wait "$READER"; READER=
exec 8<&-
equal retr-session-exit 0 "$(cat "$T/retr.rc")"
equal retr-dele-applied "$(msg two | sha256sum)" "$(sha256sum <"$SP/pop3duser1")"

# ------------- (3) a component the user owns, swapped for a symlink

# The spool pop3d must use: inside pop3duser1's home, made by root.
install -d -m 755 -o pop3duser1 -g pop3duser1 "$HOME1/box"
spool "$HOME1/box/spool"
put "$T/small.mbox" "$HOME1/box/spool/pop3duser1" pop3duser1 660
# Another spool, with a file at pop3duser1's lock name that pop3duser2
# owns: a session that took its lock there would remove it (a foreign
# lock) with the group.
VIC=$T/victim
spool "$VIC"
put "$T/small.mbox" "$VIC/pop3duser2" pop3duser2 660
printf '%s\n' "$$" >"$VIC/pop3duser1.lock"; chown pop3duser2:mail "$VIC/pop3duser1.lock"
put "$T/small.mbox" "$VIC/pop3duser1" pop3duser1 660
VIC_BEFORE=$(listing "$VIC")
VIC_MBOX=$(sha256sum <"$VIC/pop3duser1")
POPH=(-s -p "$T/passwd" -m '%h/box/spool/%u')

fifo_start swap "$POP3D" "${POPH[@]}"
send 'USER pop3duser1' 'PASS secret'
if await swap 3; then
	answer_is swap-login swap 3 '+OK maildrop has 3 messages*'
	# What pop3duser1 can do to a directory of theirs: move the spool's
	# parent away and put a symlink to the other spool in its place.
	as_user1 mv "$HOME1/box" "$HOME1/box.real"
	as_user1 mkdir "$HOME1/box"
	as_user1 ln -s "$VIC" "$HOME1/box/spool"
	check swap-path-redirected test "$(readlink -f "$HOME1/box/spool")" = "$VIC"
	send 'DELE 1' QUIT
	await swap 5
else
	fail swap-login "no answer to PASS: $(cat "$T/swap.out" "$T/swap.err" | tr '\n' ' ')"
fi
finish swap
answer_is swap-quit swap 5 '+OK*'
equal swap-other-spool-untouched "$VIC_BEFORE" "$(listing "$VIC")"
equal swap-other-mbox-untouched "$VIC_MBOX" "$(sha256sum <"$VIC/pop3duser1")"
if cmp -s "$HOME1/box.real/spool/pop3duser1" "$T/small.after"; then pass swap-update-in-checked-spool
else fail swap-update-in-checked-spool "the mbox served is not messages 2 and 3"; fi
equal swap-no-leftovers "" "$(find "$HOME1/box.real/spool" -name 'pop3duser1.*' -printf '%f ')"

# The symlink already in place at login: the group is not trusted to it,
# and without it the spool cannot take a lock or journal, so the login is
# refused (rather than a session that could never delete).
crlf 'USER pop3duser1' 'PASS secret' STAT QUIT |
	"$POP3D" "${POPH[@]}" >"$T/link.out" 2>"$T/link.err"
answer_is link-login-refused link 3 '-ERR \[SYS/PERM\]*'
log_has link-logged link "spool directory $HOME1/box/spool cannot be trusted with the mail group"
equal link-other-spool-untouched "$VIC_BEFORE" "$(listing "$VIC")"

if grep -h -m1 -E "$SAN_RE" "$T"/*.err >"$T/san" 2>/dev/null; then fail no-sanitizer-report "$(head -n 1 "$T/san")"
else pass no-sanitizer-report; fi
exit 0

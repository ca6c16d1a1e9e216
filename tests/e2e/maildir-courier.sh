#!/usr/bin/env bash
# tests/e2e/maildir-courier.sh - UIDL on a Maildir equal to Debian's
# courier-pop (its courierpop3d, run here on the same Maildir), and kept
# while a mail reader renames files to change flags during a session (the
# renames mutt makes: cur/NAME:2, to cur/NAME:2,S, then :2,RS).
#
# How courierpop3d is run: courierpop3login authenticates (through
# courier-authdaemon) and execs courierpop3d with AUTHENTICATED set, the
# user's home as the working directory and the Maildir as its argument,
# as the user; this test does the same itself, with no authdaemon, no
# couriertcpd and no configuration.
#
# What Courier shows (found by running it): a message its
# courierpop3dsizelist records with uid 0 has the "version 0" UIDL, the
# base name (before ":") with bytes outside 0x21-0x7E and ' " + written
# +XX; that is the UIDL clients of older Courier versions have seen, and
# the one a site migrating from them needs.  A message Courier sees for
# the first time (no sizelist, or not in it) gets a new "UID<n>-<uidv>"
# instead, recorded in the sizelist: pop3d reads that file (never writes
# it) and shows the same ids, checked below with a sizelist Courier wrote
# itself.
. "$(dirname "$0")/../lib.sh"

# courierpop3d from courier-pop unpacked, not installed: courier-pop
# conflicts with popa3d (uidl-popa3d.sh, make bench), whose installation
# would remove an installed copy in the middle of this test.  Its
# libraries are installed (they conflict with nothing).
need=()
for p in courier-authlib libcourier-unicode4 libidn12; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
[ ${#need[@]} -eq 0 ] || sh "$TOP/tests/apt-install.sh" "${need[@]}" >"$T/apt.log" 2>&1
if CP=$(sh "$TOP/tests/unpack-deb.sh" courier-pop 2>"$T/unpack.err"); then
	COURIER=$CP/usr/lib/courier/courier/courierpop3d
else
	COURIER=/nonexistent
fi
if [ ! -x "$COURIER" ] || ldd "$COURIER" | grep -q 'not found'; then
	fail deps-courier-pop "no usable courierpop3d: $(cat "$T/unpack.err" "$T/apt.log" 2>/dev/null | tail -n 3 | tr '\n' ' ') $(ldd "$COURIER" 2>&1 | grep 'not found' | tr '\n' ' ')"
	exit 0
fi

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
own "$T/passwd"
HOME_A=$T/alice
MD=$HOME_A/Maildir
POP=(-s -p "$T/passwd" -m "maildir:$T/%u/Maildir")
LOGIN=('USER alice' 'PASS secret')

# courier CMD...: one courierpop3d session on $MD, as the user, the
# commands CRLF-ended on its input; its answers (CR removed) on stdout.
courier() {
	crlf "$@" | "${RUNAS[@]}" env -i PATH=/usr/bin:/bin AUTHENTICATED="$TEST_USER" \
		TCPREMOTEIP=127.0.0.1 sh -c 'cd "$1" && exec "$2" Maildir' sh "$HOME_A" "$COURIER" \
		2>"$T/courier.err" | tr -d '\r'
}
# uidl_list: from a transcript on stdin (one UIDL listing, no other
# line of the form "N ID"), the lines of the listing.
uidl_list() { grep -E '^[0-9]+ [^ ]+$'; }

# Names as the agents that deliver into Maildirs make them (qmail, with
# its \057-style escapes; Courier's maildrop, ,S=; Dovecot, ,S= and ,W=;
# procmail), others using every printable character a file name can hold
# but "/" (impossible) and ":" (the flags), and some with bytes outside
# 0x21-0x7E, which both servers escape.
NAMES=(
	'1700000001.12345.mx.example.org'
	'1700000002.M790418P3646V000000000000FE00I0000000000A72703_0.mx,S=42'
	'1700000003.M1P2.mx,S=17,W=18'
	'1700000004.3630_0.vm'
	'1700000005.V801I2a7M3.mx\057sub\072x'
	'1700000006.!#$&()*,-.;<=>?@[]^_`{|}~x'
	'1700000007.%41%'
	'1700000008.a'
	'1700000009.a+b+2B'
	"1700000010.q\"d'e"
	$'1700000011.sp ace\tand\xc3\xa9\x7f'
)

fresh() {
	rm -rf "$HOME_A"
	mkdir -p "$MD/cur" "$MD/new" "$MD/tmp"
	local n=0 b
	for b in "${NAMES[@]}"; do
		n=$((n + 1))
		printf 'Subject: m%s\n\nbody %s\n' "$n" "$n" >"$MD/cur/$b:2,"
	done
	chmod -R go-w "$HOME_A"
	own -R "$HOME_A"
}
# sizelist: a courierpop3dsizelist recording every message with uid 0,
# as Courier reads it ("/2 NEXTUID UIDVALIDITY", then "NAME SIZE
# UID:UIDV"), so that it shows the version 0 UIDLs.
sizelist() {
	{
		echo "/2 1 1000"
		(cd "$MD/cur" && for f in *; do printf '%s %s 0:0\n' "$f" "$(wc -c <"$f")"; done)
	} >"$MD/courierpop3dsizelist"
	own "$MD/courierpop3dsizelist"
}

# -------------------------------------- a Maildir Courier saw first

fresh
courier UIDL QUIT | uidl_list >"$T/fresh.courier"
if [ "$(wc -l <"$T/fresh.courier")" = "${#NAMES[@]}" ] && ! grep -qv '^[0-9]* UID[0-9]*-[0-9]*$' "$T/fresh.courier"; then
	pass courier-new-messages-get-uid-n-uidv
else
	fail courier-new-messages-get-uid-n-uidv "Courier's UIDLs on a fresh Maildir: $(tr '\n' ' ' <"$T/fresh.courier" | cut -c1-300)"
fi
SL=$MD/courierpop3dsizelist
check courier-wrote-sizelist test -s "$SL"
cp "$SL" "$T/sizelist.courier"

# pop3d on the Maildir Courier left: the same list, numbers, order and
# ids (every name starts with its own delivery time, so both servers
# order alike), and the sizelist untouched.
crlf "${LOGIN[@]}" UIDL QUIT | pop seen "${POP[@]}"
exited seen
tr -d '\r' <"$T/seen.out" | uidl_list >"$T/seen.pop3d"
equal seen-pop3d-lists-all "${#NAMES[@]}" "$(wc -l <"$T/seen.pop3d")"
same uidl-equals-courier-sizelist-ids "$T/fresh.courier" "$T/seen.pop3d"
same pop3d-leaves-sizelist-unchanged "$T/sizelist.courier" "$SL"
# Flags changed since Courier listed the files (a mail reader read
# them): still matched, by base name, by both servers.
for b in "${NAMES[@]:0:3}"; do
	mv "$MD/cur/$b:2," "$MD/cur/$b:2,S"
done
crlf "${LOGIN[@]}" UIDL QUIT | pop seen2 "${POP[@]}"
tr -d '\r' <"$T/seen2.out" | uidl_list >"$T/seen2.pop3d"
same uidl-sizelist-ids-after-flag-renames "$T/fresh.courier" "$T/seen2.pop3d"
courier UIDL QUIT | uidl_list >"$T/seen2.courier"
same courier-agrees-after-pop3d "$T/fresh.courier" "$T/seen2.courier"

# A sizelist pop3d cannot take whole is not used at all: a line
# appended that Courier never writes, then one of another owner's.
# Either way pop3d shows the base-name ids, those it shows with no
# sizelist (which are not Courier's here: the check can fail).
cp "$T/sizelist.courier" "$SL"
own "$SL"
printf 'garbage\n' >>"$SL"
crlf "${LOGIN[@]}" UIDL QUIT | pop damaged "${POP[@]}"
exited damaged
tr -d '\r' <"$T/damaged.out" | uidl_list >"$T/damaged.pop3d"
check damaged-sizelist-logged grep -q 'courierpop3dsizelist line 13 is malformed' "$T/damaged.err"
mv "$SL" "$T/sizelist.damaged"
crlf "${LOGIN[@]}" UIDL QUIT | pop nolist "${POP[@]}"
tr -d '\r' <"$T/nolist.out" | uidl_list >"$T/nolist.pop3d"
check no-sizelist-base-names sh -c "! grep -q ' UID' '$T/nolist.pop3d' && test \$(wc -l <'$T/nolist.pop3d') = ${#NAMES[@]}"
same damaged-sizelist-ignored-whole "$T/nolist.pop3d" "$T/damaged.pop3d"
if [ "$(id -u)" = 0 ]; then
	cp "$T/sizelist.courier" "$SL"	# root's, not the user's
	crlf "${LOGIN[@]}" UIDL QUIT | pop foreign "${POP[@]}"
	tr -d '\r' <"$T/foreign.out" | uidl_list >"$T/foreign.pop3d"
	same foreign-sizelist-ignored "$T/nolist.pop3d" "$T/foreign.pop3d"
	check foreign-sizelist-logged grep -q 'courierpop3dsizelist is not a regular file of uid' "$T/foreign.err"
fi

# --------------------------------------------- version 0 UIDLs

fresh
sizelist
courier UIDL QUIT | uidl_list >"$T/v0.courier"
crlf "${LOGIN[@]}" UIDL QUIT | pop v0 "${POP[@]}"
exited v0
tr -d '\r' <"$T/v0.out" | uidl_list >"$T/v0.pop3d"
# pop3d's order is delivery time then name, Courier's its own: compared
# as sets of ids, and each list must be complete.
cut -d' ' -f2 "$T/v0.courier" | sort >"$T/v0.c"
cut -d' ' -f2 "$T/v0.pop3d" | sort >"$T/v0.p"
equal courier-lists-all "${#NAMES[@]}" "$(wc -l <"$T/v0.c")"
equal pop3d-lists-all "${#NAMES[@]}" "$(wc -l <"$T/v0.p")"
check courier-ids-are-base-names grep -qx '1700000004.3630_0.vm' "$T/v0.c"
same uidl-equals-courier "$T/v0.c" "$T/v0.p"

# The same on the files after the renames mutt makes during a pop3d
# session: read (:2,S), then replied (:2,RS); pop3d's UIDLs before,
# during and after, and Courier's after, all the same.
fresh
sizelist
fifo_start mutt "${RUNAS[@]}" "$POP3D" "${POP[@]}"
send "${LOGIN[@]}" UIDL
await mutt $((4 + ${#NAMES[@]} + 1))
for b in "${NAMES[@]:0:4}"; do
	mv "$MD/cur/$b:2," "$MD/cur/$b:2,S"
done
send UIDL "RETR 1"
await mutt $((4 + 2 * (${#NAMES[@]} + 2)))
for b in "${NAMES[@]:0:4}"; do
	mv "$MD/cur/$b:2,S" "$MD/cur/$b:2,RS"
done
send UIDL "RETR 2" QUIT
await mutt $((4 + 3 * (${#NAMES[@]} + 2) + 8))
finish mutt
exited mutt
tr -d '\r' <"$T/mutt.out" | awk '/^\+OK unique-id/ {n++; on=1; next} on && /^\.$/ {on=0} on {print > (t "/mutt.u" n)}' t="$T"
for n in 1 2 3; do
	same "uidl-during-mutt-renames-$n" "$T/v0.pop3d" "$T/mutt.u$n"
done
check mutt-renames-happened sh -c "ls '$MD/cur' | grep -c ':2,RS\$' | grep -qx 4"
crlf "${LOGIN[@]}" UIDL QUIT | pop mutt2 "${POP[@]}"
tr -d '\r' <"$T/mutt2.out" | uidl_list >"$T/mutt2.pop3d"
same uidl-after-mutt-renames "$T/v0.pop3d" "$T/mutt2.pop3d"
courier UIDL QUIT | uidl_list | cut -d' ' -f2 | sort >"$T/mutt2.c"
same courier-agrees-after-renames "$T/v0.c" "$T/mutt2.c"

# Courier does not shorten a long name; pop3d keeps RFC 1939's limit of
# 70 characters (see maildir_uid), so such names are not compared.
echo "NOTE: names whose UIDL would exceed 70 characters are shortened by pop3d (RFC 1939) and not by Courier; not compared here."
exit 0

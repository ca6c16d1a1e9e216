#!/usr/bin/env bash
# tests/e2e/maildir-mutt.sh - a real mail reader on the Maildir a POP3
# session serves: Debian's mutt, run in a pseudo-terminal (script(1)) as
# the user, flags every message, marks it read and syncs, which renames the
# files in cur/ (":2," -> ":2,FS") and moves new/ mail to cur/ itself.
#  - during a session: the UIDLs and sizes the session shows do not
#    change, RETR sends each message byte for byte from its renamed file,
#    and DELE + QUIT removes the renamed file;
#  - between sessions: the next session's UIDL list is the one before,
#    less the deleted message;
#  - mail mutt moved from new/ before pop3d saw it keeps the id pop3d
#    would have given it (the base name).
. "$(dirname "$0")/../lib.sh"

command -v mutt >/dev/null || sh "$TOP/tests/apt-install.sh" mutt >"$T/apt.log" 2>&1
if ! command -v mutt >/dev/null; then
	fail mutt-installed "$(tail -n 3 "$T/apt.log" | tr '\n' ' ')"
	exit 0
fi
command -v script >/dev/null || { fail script-installed "script(1) (bsdutils) is needed"; exit 0; }

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
own "$T/passwd"
MD=$T/alice/Maildir
POP=(-s -p "$T/passwd" -m "maildir:$T/%u/Maildir")
LOGIN=('USER alice' 'PASS secret')

fresh() {
	rm -rf "$T/alice"
	mkdir -p "$MD/cur" "$MD/new" "$MD/tmp"
	printf 'From: a@example.org\nSubject: one\n\nbody one\n' >"$MD/cur/1700000001.M1P1.host:2,"
	printf 'From: a@example.org\r\nSubject: two\r\n\r\ncrlf\r\n' >"$MD/cur/1700000002.M2P2.host,S=54:2,S"
	printf 'From: a@example.org\nSubject: three\n\n.dot\nno newline' >"$MD/cur/1700000003.M3P3.host:2,R"
	printf 'From: a@example.org\nSubject: four\n\nnew four\n' >"$MD/new/1700000004.M4P4.host"
	printf 'From: a@example.org\nSubject: five\n\nnew five\n' >"$MD/new/1700000005.M5P5.host"
	chmod -R go-w "$T/alice"
	own -R "$T/alice"
}

cat >"$T/muttrc" <<EOF
set mbox_type=Maildir
set folder=$MD
set spoolfile=$MD
set move=no
set mark_old=no
set wait_key=no
set quit=yes
set beep=no
EOF
own "$T/muttrc"

# mutt_flag_all: mutt flags every message and marks it read, then syncs
# and quits.  A pseudo-terminal, since mutt will not run without one.
mutt_flag_all() {
	local keys='<tag-pattern>~A<enter><tag-prefix><flag-message><tag-prefix><clear-flag>N<tag-prefix><clear-flag>O<sync-mailbox><quit>'
	(cd "$T" && "${RUNAS[@]}" env -i HOME="$T" TERM=xterm PATH=/usr/bin:/bin \
		timeout 30 script -qec "mutt -n -F '$T/muttrc' -f '$MD' -e 'push \"$keys\"'" /dev/null \
		>"$T/mutt.tty" 2>&1)
}

# uidl_of NAME: the "N ID" lines of the first UIDL listing in a transcript.
uidl_of() { awk '/^\+OK unique-id/ { on = 1; next } on && /^\.\r?$/ { exit } on' "$T/$1.out" | tr -d '\r'; }

# --------------------------------------------------- during a session
fresh
crlf "${LOGIN[@]}" UIDL LIST QUIT | pop before "${POP[@]}"
uidl_of before >"$T/before.uidl"
equal before-five "5" "$(wc -l <"$T/before.uidl")"

fifo_start during "${RUNAS[@]}" "$POP3D" "${POP[@]}"
send "${LOGIN[@]}" UIDL LIST
await during 17
if mutt_flag_all; then pass mutt-ran; else fail mutt-ran "mutt exited $? ($(tail -c 300 "$T/mutt.tty" | tr -cd '[:print:]'))"; fi
# Every name now carries F and S (flags sorted: "FS", "FRS").
equal mutt-renamed-every-file "5 0" "$(ls "$MD/cur" | wc -l) $(ls "$MD/cur" | grep -cv ':2,[A-Z]*F[A-Z]*S')"
equal mutt-left-new-empty "" "$(ls "$MD/new")"
send UIDL LIST "RETR 1" "RETR 2" "RETR 3" "RETR 4" "RETR 5" "DELE 1" QUIT
finish during
exited during
# The session's second UIDL and LIST are its first ones.
sed -n '4,10p' "$T/during.out" >"$T/during.uidl1"
sed -n '18,24p' "$T/during.out" >"$T/during.uidl2"
same uidl-unchanged-during-mutt "$T/during.uidl1" "$T/during.uidl2"
sed -n '11,17p' "$T/during.out" >"$T/during.list1"
sed -n '25,31p' "$T/during.out" >"$T/during.list2"
same list-unchanged-during-mutt "$T/during.list1" "$T/during.list2"
uidl=$(tr -d '\r' <"$T/during.uidl1" | sed -n '2,6p' | cut -d' ' -f2 | paste -sd' ')
equal uidl-base-names "1700000001.M1P1.host 1700000002.M2P2.host,S=54 1700000003.M3P3.host 1700000004.M4P4.host 1700000005.M5P5.host" "$uidl"

# RETR n from the file mutt renamed: CRLF, dot-stuffed, a final newline.
expect_retr() {
	perl -e '
		open(F, "<", $ARGV[0]) or die; binmode F; binmode STDOUT;
		local $/; my $d = <F>;
		my @l = $d =~ /[^\n]*\n|[^\n]+\z/g;
		my $n = 0;
		for (@l) { s/\r?\n\z//; $_ .= "\r\n"; $n += length; }
		print "+OK $n octets\r\n";
		for (@l) { s/^\./../; print }
		print ".\r\n";' "$1"
}
perl -e '
	binmode STDIN; local $/; my $t = <STDIN>;
	my @a = split /(?=^\+OK \d+ octets\r\n)/m, $t;
	shift @a;
	for my $i (0 .. $#a) {
		my ($m) = $a[$i] =~ /\A(.*?\r\n\.\r\n)/s;
		open(O, ">", "$ARGV[0]/got.$i") or die; binmode O; print O $m; close O;
	}' "$T" <"$T/during.out"
# Message 1's file is gone after the QUIT: its expected bytes are those
# the Maildir had, which mutt changed only in name.
printf 'From: a@example.org\nSubject: one\n\nbody one\n' >"$T/m1"
expect_retr "$T/m1" >"$T/want.0"
i=1
for b in 1700000002.M2P2.host 1700000003.M3P3.host 1700000004.M4P4.host 1700000005.M5P5.host; do
	expect_retr "$(ls -d "$MD/cur/$b"* | head -1)" >"$T/want.$i"
	i=$((i + 1))
done
for i in 0 1 2 3 4; do
	same "retr-$((i + 1))-byte-exact-after-rename" "$T/want.$i" "$T/got.$i"
done
equal dele-after-rename "+OK pop3d signing off (4 messages left)" "$(tail -n 1 "$T/during.out" | tr -d '\r')"
check dele-removed-renamed-file sh -c "! ls '$MD/cur/1700000001.M1P1.host'* >/dev/null 2>&1"
equal others-kept "4" "$(ls "$MD/cur" | wc -l)"

# ----------------------------------------------- the next session
crlf "${LOGIN[@]}" UIDL QUIT | pop next "${POP[@]}"
uidl_of next | cut -d' ' -f2 >"$T/next.ids"
sed -n '2,5p' "$T/before.uidl" | cut -d' ' -f2 >"$T/before.ids.less1"
same next-session-uidls-kept "$T/before.ids.less1" "$T/next.ids"

# ------------------------------------- mutt first, then pop3d
# mutt moves new/ mail to cur/ with its own flags before pop3d ever saw
# it: the ids are still the base names a session would have shown.
fresh
if mutt_flag_all; then pass mutt-first-ran; else fail mutt-first-ran "mutt exited $?"; fi
crlf "${LOGIN[@]}" UIDL QUIT | pop mutt-first "${POP[@]}"
uidl_of mutt-first >"$T/mutt-first.uidl"
same mutt-first-uidls-as-before "$T/before.uidl" "$T/mutt-first.uidl"

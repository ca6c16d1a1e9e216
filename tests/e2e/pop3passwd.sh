. "$(dirname "$0")/../lib.sh"
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c), and lib.sh gives $T to nobody: root's again.
[ "$(id -u)" = 0 ] && chown root:root "$T"
# tests/e2e/pop3passwd.sh - the password-file tool: adding, replacing and
# deleting entries, what it keeps untouched, what it refuses, and the
# terminal prompt.  One behaviour per check.

PW=$T/passwd

# verify PASSWORD HASH: libxcrypt (through Debian's perl) accepts it.
verify() {
	[ "$(perl -e 'print crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? "ok" : "bad"' "$1" "$2")" = ok ]
}
field() {	# field FILE USER N
	awk -F: -v u="$2" -v n="$3" '$1 == u { print $n; exit }' "$1"
}
mode_of() { stat -c %a "$1"; }
no_temp_files() { ! ls "$1".?????? >/dev/null 2>&1; }
# The file with USER's line replaced by a marker: what must not change.
others() { awk -F: -v u="$2" '$1 == u { print "@ENTRY@"; next } { print }' "$1"; }

# A file with everything a real one may hold, in an order that must stay.
fixture() {
	printf '%s\n' \
	    '# pop3d users' \
	    '' \
	    'bob:$6$saltsalt$abc:1000:1000:Bob:/home/bob:/bin/sh' \
	    'alice:{CRYPT}$6$old$hash:1001:1002:Alice A:/home/alice:/bin/false:mail=/var/mail/a quota=1G' \
	    'this line is malformed' \
	    '   # indented comment  ' \
	    'alicex:$1$x$y' \
	    'carol:!locked::' \
	    > "$1"
	printf 'crlf:$1$x$y\r\n' >> "$1"
	printf 'last:$1$x$y:5:5' >> "$1"	# no final newline
}

# --- options and refusals ----------------------------------------------

out=$("$POP3PASSWD" --help); rc=$?
check help_exits_zero test "$rc" -eq 0
missing=
for o in --file --uid --gid --home --mail --stdin --delete --help --version \
    -f -u -g -d -m -s -D -h -V; do
	printf '%s\n' "$out" | grep -q -- "$o" || missing="$missing $o"
done
if [ -z "$missing" ]; then pass help_lists_every_option; else fail help_lists_every_option "missing:$missing"; fi

"$POP3PASSWD" --version | grep -q '^pop3passwd '
check version_prints_name test "${PIPESTATUS[0]}" -eq 0

fixture "$PW"; cp "$PW" "$T/orig"

"$POP3PASSWD" -f "$PW" --bogus alice </dev/null 2>"$T/err"; rc=$?
check unknown_option_exits_2 test "$rc" -eq 2
check unknown_option_says_why grep -q bogus "$T/err"

# No way to pass a password on the command line.
for o in --password --passwd --pass -p; do
	echo secret | "$POP3PASSWD" -f "$PW" "$o" secret alice 2>/dev/null; rc=$?
	check "no_password_option_${o//-/}" test "$rc" -eq 2
done
echo secret | "$POP3PASSWD" -f "$PW" alice secret 2>"$T/err"; rc=$?
check password_operand_refused test "$rc" -eq 2
check password_operand_file_unchanged cmp -s "$PW" "$T/orig"

"$POP3PASSWD" -f "$PW" </dev/null 2>/dev/null; rc=$?
check missing_user_exits_2 test "$rc" -eq 2

i=0
for u in 'a:b' '../x' '' '.' '..' 'a/b' 'a b' '#alice' "$(printf 'a\tb')" \
    "$(printf 'x%.0s' $(seq 65))" "$(printf 'caf\303')" "$(printf 'a\357\274\217b')"; do
	i=$((i + 1))
	echo secret | "$POP3PASSWD" -f "$PW" -s -- "$u" 2>/dev/null; rc=$?
	if [ "$rc" -eq 2 ] && cmp -s "$PW" "$T/orig"; then
		pass "bad_user_name_refused_$i"
	else
		fail "bad_user_name_refused_$i" "'$u': exit $rc or file changed"
	fi
done
echo secret | "$POP3PASSWD" -f "$PW" -s "$(printf 'x%.0s' $(seq 64))" 2>/dev/null
check user_name_of_64_accepted test $? -eq 0
cp "$T/orig" "$PW"

i=0
for a in '-u -1' '-u abc' '-u 0' '-u 4294967295' '-u 1x' '-g +5' '-g 99999999999' \
    '-d relative/home' '-d /a:b' '-m /a:b' '-m /with space'; do
	i=$((i + 1))
	# shellcheck disable=SC2086
	echo secret | "$POP3PASSWD" -f "$PW" -s ${a%% *} "${a#* }" alice 2>/dev/null; rc=$?
	if [ "$rc" -eq 2 ] && cmp -s "$PW" "$T/orig"; then
		pass "bad_value_refused_$i"
	else
		fail "bad_value_refused_$i" "'$a': exit $rc or file changed"
	fi
done

"$POP3PASSWD" -f "$PW" -D -u 5 alice 2>/dev/null; rc=$?
check delete_with_field_options_exits_2 test "$rc" -eq 2

printf '\n' | "$POP3PASSWD" -f "$PW" alice 2>"$T/err"; rc=$?
check empty_password_refused test "$rc" -eq 1
check empty_password_says_why grep -q 'empty password' "$T/err"
check empty_password_file_unchanged cmp -s "$PW" "$T/orig"

"$POP3PASSWD" -f "$PW" alice </dev/null 2>/dev/null; rc=$?
check no_input_refused test "$rc" -eq 1
check no_input_file_unchanged cmp -s "$PW" "$T/orig"

printf 'x%.0s' $(seq 300) | "$POP3PASSWD" -f "$PW" alice 2>/dev/null; rc=$?
check overlong_password_refused test "$rc" -eq 1
check overlong_password_file_unchanged cmp -s "$PW" "$T/orig"

# --- adding --------------------------------------------------------------

NEW=$T/new/passwd
mkdir "$T/new"
printf 'first secret\n' | "$POP3PASSWD" -f "$NEW" newuser; rc=$?
check add_to_missing_file_succeeds test "$rc" -eq 0
h=$(field "$NEW" newuser 2)
case $h in '$y$'*) pass add_hash_is_yescrypt ;; *) fail add_hash_is_yescrypt "hash '$h'" ;; esac
check add_hash_verifies verify 'first secret' "$h"
check add_hash_rejects_other_password eval '! verify "first secreT" "$h"'
check add_line_is_name_and_hash test "$(cat "$NEW")" = "newuser:$h"
check new_file_mode_0600 test "$(mode_of "$NEW")" = 600

printf 'no-newline' | "$POP3PASSWD" -f "$NEW" -s second
check add_password_without_newline verify no-newline "$(field "$NEW" second 2)"
printf 'crlf-pass\r\n' | "$POP3PASSWD" -f "$NEW" third
check add_password_strips_crlf verify crlf-pass "$(field "$NEW" third 2)"
check add_appends_in_order test "$(cut -d: -f1 "$NEW" | tr '\n' ' ')" = "newuser second third "

# Only one line of standard input is the password.
printf 'line-one\nline-two\n' | "$POP3PASSWD" -f "$NEW" fourth
check add_reads_only_first_line verify line-one "$(field "$NEW" fourth 2)"

cp "$T/orig" "$PW"
printf 'dpw\n' | "$POP3PASSWD" -f "$PW" -u 2000 -g 2001 -d /home/dave -m /srv/mail/dave dave
h=$(field "$PW" dave 2)
check add_with_fields_line test "$(grep '^dave:' "$PW")" = "dave:$h:2000:2001::/home/dave::mail=/srv/mail/dave"
check add_after_unterminated_last_line test "$(tail -n 2 "$PW" | head -n 1)" = 'last:$1$x$y:5:5'
check add_keeps_all_other_lines cmp -s <(head -c "$(stat -c %s "$T/orig")" "$PW") "$T/orig"

# -u and -g take user and group names too, written as their numbers.
cp "$T/orig" "$PW"
printf 'npw\n' | "$POP3PASSWD" -f "$PW" -u nobody -g nogroup nina; rc=$?
check add_names_succeeds test "$rc" -eq 0
check add_names_written_as_ids test "$(grep '^nina:' "$PW" | cut -d: -f3-4)" = "$(id -u nobody):$(getent group nogroup | cut -d: -f3)"
printf 'npw\n' | "$POP3PASSWD" -f "$PW" --uid=nobody --gid=nogroup nina; rc=$?
check replace_long_names_succeeds test "$rc" -eq 0
cp "$PW" "$T/before"
for a in '-u no-such-user-pop3d' '-g no-such-group-pop3d' '-u root'; do
	# shellcheck disable=SC2086
	printf 'x\n' | "$POP3PASSWD" -f "$PW" ${a%% *} "${a#* }" -g 0 nina 2>"$T/err"; rc=$?
	if [ "$rc" -eq 2 ] && cmp -s "$PW" "$T/before"; then pass "bad_name_refused_${a#* }"
	else fail "bad_name_refused_${a#* }" "'$a': exit $rc or file changed"; fi
done
printf 'x\n' | "$POP3PASSWD" -f "$PW" -u no-such-user-pop3d -g 0 nina 2>"$T/err"
check unknown_name_says_why grep -q "bad uid 'no-such-user-pop3d': want a user name or a number" "$T/err"

# pop3d skips an entry with a uid and no gid: refuse to write one.
cp "$PW" "$T/before"
printf 'epw\n' | "$POP3PASSWD" -f "$PW" -u 3000 erin 2>"$T/err"; rc=$?
check add_uid_without_gid_refused test "$rc" -eq 1
check add_uid_without_gid_says_why grep -q 'together' "$T/err"
check add_uid_without_gid_file_unchanged cmp -s "$PW" "$T/before"
check add_uid_without_gid_no_temp_file no_temp_files "$PW"

# --- replacing -----------------------------------------------------------

cp "$T/orig" "$PW"
printf 'new alice\n' | "$POP3PASSWD" -f "$PW" alice; rc=$?
check replace_succeeds test "$rc" -eq 0
check replace_hash_verifies verify 'new alice' "$(field "$PW" alice 2)"
check replace_keeps_other_fields test "$(grep '^alice:' "$PW" | cut -d: -f3-)" = '1001:1002:Alice A:/home/alice:/bin/false:mail=/var/mail/a quota=1G'
check replace_keeps_other_lines_byte_for_byte cmp -s <(others "$PW" alice) <(others "$T/orig" alice)
check replace_keeps_line_count test "$(wc -l < "$PW")" -eq "$(wc -l < "$T/orig")"
check replace_keeps_missing_final_newline test "$(tail -c 1 "$PW" | od -An -c | tr -d ' ')" = 5
check replace_does_not_touch_prefix_user test "$(grep '^alicex:' "$PW")" = 'alicex:$1$x$y'

printf 'b2\n' | "$POP3PASSWD" -f "$PW" -u 4000 -g 4001 -d /srv/alice -m /srv/mail/alice alice
check replace_options_set_fields test "$(grep '^alice:' "$PW" | cut -d: -f3-)" = '4000:4001:Alice A:/srv/alice:/bin/false:mail=/srv/mail/alice quota=1G'
check replace_options_keep_other_lines cmp -s <(others "$PW" alice) <(others "$T/orig" alice)

printf 'b2b\n' | "$POP3PASSWD" -f "$PW" -u 4010 alice
check replace_uid_alone_keeps_gid test "$(grep '^alice:' "$PW" | cut -d: -f3-4)" = '4010:4001'
cp "$PW" "$T/before"
printf 'b2c\n' | "$POP3PASSWD" -f "$PW" -g '' alice 2>/dev/null; rc=$?
check replace_clearing_gid_alone_refused test "$rc" -eq 1
check replace_clearing_gid_alone_file_unchanged cmp -s "$PW" "$T/before"

printf 'b3\n' | "$POP3PASSWD" --file "$PW" --mail '' --uid '' --gid '' alice
check replace_empty_values_clear_fields test "$(grep '^alice:' "$PW" | cut -d: -f3-)" = '::Alice A:/srv/alice:/bin/false:quota=1G'

printf 'b4\n' | "$POP3PASSWD" --file "$PW" --home /h last
check replace_unterminated_last_line test "$(tail -n 1 "$PW")" = "last:$(field "$PW" last 2):5:5::/h"
check replace_unterminated_keeps_others cmp -s <(sed -e '/^alice:/d' -e '/^last:/d' "$PW") <(sed -e '/^alice:/d' -e '/^last:/d' "$T/orig")

# -m replaces a userdb_mail= word too, and splits at tabs like pop3d.
printf 'm:$1$a$b:1:1::/h::quota=1\tuserdb_mail=/old  other=x\n' > "$T/mail"
printf 'mpw\n' | "$POP3PASSWD" -f "$T/mail" -m /new m
check mail_replaces_userdb_mail test "$(cut -d: -f8- "$T/mail")" = 'quota=1 mail=/new other=x'

# A second entry for the same user is dead (the first wins); it stays.
printf 'dup:$1$a$b\ndup:$1$c$d\n' > "$T/dup"
printf 'dpw\n' | "$POP3PASSWD" -f "$T/dup" dup 2>"$T/err"
check replace_first_of_duplicates verify dpw "$(field "$T/dup" dup 2)"
check replace_keeps_later_duplicate test "$(sed -n 2p "$T/dup")" = 'dup:$1$c$d'
check replace_warns_about_duplicate grep -q 'another entry' "$T/err"

# --- deleting ------------------------------------------------------------

cp "$T/orig" "$PW"
"$POP3PASSWD" -f "$PW" -D alice; rc=$?
check delete_succeeds test "$rc" -eq 0
check delete_removes_only_that_line cmp -s "$PW" <(sed '/^alice:/d' "$T/orig")
"$POP3PASSWD" -f "$PW" --delete crlf
check delete_crlf_line cmp -s "$PW" <(sed -e '/^alice:/d' -e '/^crlf:/d' "$T/orig")

cp "$PW" "$T/before"
"$POP3PASSWD" -f "$PW" -D nosuchuser 2>"$T/err"; rc=$?
check delete_unknown_user_exits_1 test "$rc" -eq 1
check delete_unknown_user_says_why grep -q nosuchuser "$T/err"
check delete_unknown_user_file_unchanged cmp -s "$PW" "$T/before"
"$POP3PASSWD" -f "$T/absent" -D alice 2>/dev/null; rc=$?
check delete_from_missing_file_exits_1 test "$rc" -eq 1
check delete_from_missing_file_creates_nothing test ! -e "$T/absent"

# --- the file as a file ---------------------------------------------------

cp "$T/orig" "$PW"
chmod 0640 "$PW"
if [ "$(id -u)" -eq 0 ]; then chgrp mail "$PW"; fi
ino=$(stat -c %i "$PW")
printf 'm\n' | "$POP3PASSWD" -f "$PW" alice
check mode_0640_kept test "$(mode_of "$PW")" = 640
if [ "$(id -u)" -eq 0 ]; then
	check group_kept_as_root test "$(stat -c %G "$PW")" = mail
fi
check file_replaced_by_rename test "$(stat -c %i "$PW")" != "$ino"
check no_temp_file_left no_temp_files "$PW"

ln -s "$PW" "$T/link"
cp "$PW" "$T/before"
printf 'x\n' | "$POP3PASSWD" -f "$T/link" alice 2>"$T/err"; rc=$?
check symlink_refused test "$rc" -eq 1
check symlink_target_unchanged cmp -s "$PW" "$T/before"
check symlink_still_symlink test -L "$T/link"

mkdir "$T/notfile"
printf 'x\n' | "$POP3PASSWD" -f "$T/notfile" alice 2>/dev/null; rc=$?
check directory_refused test "$rc" -eq 1

"$POP3PASSWD" -f "$PW" -D nosuchuser 2>/dev/null
check no_temp_file_after_failure no_temp_files "$PW"

# Concurrent runs must not lose each other's entries.
: > "$T/conc"
pids=
for i in 1 2 3 4 5 6 7 8; do
	printf 'pw%s\n' "$i" | "$POP3PASSWD" -f "$T/conc" "user$i" &
	pids="$pids $!"
done
ok=1
for p in $pids; do wait "$p" || ok=0; done
check concurrent_runs_succeed test "$ok" -eq 1
check concurrent_runs_keep_every_entry test "$(cut -d: -f1 "$T/conc" | sort | tr '\n' ' ')" = "user1 user2 user3 user4 user5 user6 user7 user8 "
check concurrent_entry_verifies verify pw5 "$(field "$T/conc" user5 2)"

# --- what pop3d makes of it ----------------------------------------------

# The entry written here is one the server accepts (and the right
# password is the only one it accepts).
if [ -x "$POP3D" ]; then
	mkdir "$T/srv"
	: > "$T/srv/box"
	if [ "$(id -u)" -eq 0 ]; then
		ids='-u 65534 -g 65534'
		# The user's own directory: one where QUIT could delete.
		chown 65534:65534 "$T/srv" "$T/srv/box"
	else
		ids=
	fi
	# shellcheck disable=SC2086
	printf 'srv pw\n' | "$POP3PASSWD" -f "$T/srv.passwd" $ids -m "$T/srv/box" srvuser
	crlf 'USER srvuser' 'PASS srv pw' 'STAT' 'QUIT' |
	    "$POP3D" -s -p "$T/srv.passwd" > "$T/srv/out" 2>"$T/srv/err"
	check pop3d_accepts_entry grep -q "^+OK 0 0" "$T/srv/out"
	crlf 'USER srvuser' 'PASS srv pW' 'STAT' 'QUIT' |
	    "$POP3D" -s -p "$T/srv.passwd" > "$T/srv/out" 2>"$T/srv/err"
	check pop3d_refuses_other_password eval '! grep -q "^+OK 0 0" "$T/srv/out"'
else
	pass pop3d_interop_skipped_no_pop3d_binary
fi

# --- the terminal --------------------------------------------------------

# tty_run CMD: runs CMD under script(1) on a fresh pseudo-terminal; then
# tty_type waits for TEXT in the transcript and types LINE.  The prompt
# is written only once echo is off, so waiting for it keeps the typed
# password out of the transcript.
tty_run() {
	rm -f "$T/tty.in" "$T/tty.out"
	mkfifo "$T/tty.in"
	script -qefc "$1" /dev/null < "$T/tty.in" > "$T/tty.out" 2>&1 &
	tty_pid=$!
	exec 3> "$T/tty.in"
}
tty_type() {
	local i
	for i in $(seq 100); do
		grep -q -- "$1" "$T/tty.out" 2>/dev/null && break
		sleep 0.1
	done
	printf '%s' "$2" >&3
}
tty_end() { exec 3>&-; wait "$tty_pid"; }

if command -v script >/dev/null 2>&1; then
	cp "$T/orig" "$PW"
	tty_run "$POP3PASSWD -f $PW ttyuser"
	tty_type 'Password for ttyuser' $'tty secret\n'
	tty_type 'Retype' $'tty secret\n'
	tty_end; rc=$?
	check tty_add_succeeds test "$rc" -eq 0
	check tty_hash_verifies verify 'tty secret' "$(field "$PW" ttyuser 2)"
	check tty_password_not_echoed eval '! grep -q "tty secret" "$T/tty.out"'

	cp "$PW" "$T/before"
	tty_run "$POP3PASSWD -f $PW ttyuser"
	tty_type 'Password for ttyuser' $'one\n'
	tty_type 'Retype' $'two\n'
	tty_end; rc=$?
	check tty_mismatch_exits_1 test "$rc" -eq 1
	check tty_mismatch_says_why grep -q 'do not match' "$T/tty.out"
	check tty_mismatch_file_unchanged cmp -s "$PW" "$T/before"

	# ^C at the prompt: the tool dies, and echo is back on afterwards.
	# perl survives the ^C to report (system() ignores SIGINT while it
	# waits) and gives the tool the default disposition, which a job
	# started with "&" would otherwise lack.
	tty_run "perl -e '\$SIG{INT} = \"DEFAULT\"; system(@ARGV); print \"status=\$?\\n\"; system(qw(stty -a))' $POP3PASSWD -f $PW ttyuser"
	tty_type 'Password for ttyuser' $'\003'
	tty_end
	check tty_interrupt_kills grep -q 'status=2[^0-9]' "$T/tty.out"
	check tty_interrupt_restores_echo grep -qE '(^|[ ])echo([ ]|$)' "$T/tty.out"
	check tty_interrupt_file_unchanged cmp -s "$PW" "$T/before"
	check tty_interrupt_no_temp_file no_temp_files "$PW"

	# -s reads standard input even when it is the terminal.
	tty_run "$POP3PASSWD -s -f $PW ttyuser"
	printf 'from stdin\n' >&3
	tty_end; rc=$?
	check tty_stdin_option_reads_stdin verify 'from stdin' "$(field "$PW" ttyuser 2)"
else
	pass "tty_tests_skipped_script_missing"
fi

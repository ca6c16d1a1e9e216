#!/usr/bin/env bash
# tests/e2e/options.sh - the command line: --help and --version, every kind
# of bad option (exit status 2, a message on stderr, nothing at all for the
# client on stdout) -- --first-uid and --auth values among them, and --apop
# with --auth checkpassword --, -n in the APOP greeting, and -a's refusal of a secrets
# file others can read (exit status 1, nothing on stdout).
. "$(dirname "$0")/../lib.sh"

# ------------------------------------------------------------- helpers

# sanitizer_ok NAME: no sanitizer exit status (98/99) or report on stderr.
sanitizer_ok() {
	local rc
	rc=$(cat "$T/$1.rc")
	[ "$rc" != 98 ] && [ "$rc" != 99 ] && ! grep -qE "$SAN_RE" "$T/$1.err"
}

# exited NAME [STATUS]: the run ended with STATUS (default 0) and without
# any sanitizer report.
exited() {
	local name=$1 want=${2:-0} rc
	rc=$(cat "$T/$name.rc")
	if ! sanitizer_ok "$name"; then
		fail "$name-exit" "sanitizer report (exit status $rc): $(grep -m1 -E "$SAN_RE" "$T/$name.err")"
	elif [ "$rc" != "$want" ]; then
		fail "$name-exit" "exit status $rc, expected $want; stderr: $(head -n 2 "$T/$name.err" | tr '\n' ' ')"
	else
		pass "$name-exit"
	fi
}

# show FILE: the first bytes of a file, on one line, escaped.
show() { head -c 200 "$1" | perl -0777 -pe 's/([^\x20-\x7e])/sprintf("\\x%02x", ord $1)/ge'; }

# client input for every run: a server that wrongly started would answer.
client() { crlf CAPA QUIT; }

# usage_error NAME ARGS...: pop3d refuses ARGS with exit status 2, a
# "pop3d: ..." message on stderr and not one byte on stdout.
usage_error() {
	local name=$1 rc; shift
	client | pop "$name" "$@"
	rc=$(cat "$T/$name.rc")
	if ! sanitizer_ok "$name"; then
		fail "$name" "sanitizer report (exit status $rc): $(grep -m1 -E "$SAN_RE" "$T/$name.err")"
	elif [ "$rc" != 2 ]; then
		fail "$name" "exit status $rc, expected 2 for: $*"
	elif [ -s "$T/$name.out" ]; then
		fail "$name" "wrote to stdout: $(show "$T/$name.out")"
	elif ! grep -q '^pop3d: ' "$T/$name.err"; then
		fail "$name" "no 'pop3d: ...' message on stderr: $(show "$T/$name.err")"
	else
		pass "$name"
	fi
}

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
mkdir "$T/mail"
own "$T/passwd" "$T/mail"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")

# ------------------------------------------------------ help and version

for opt in --help -h; do
	pop "help$opt" "$opt" </dev/null
	exited "help$opt"
	missing=
	for o in '-p, --passwd' '-m, --mailbox' '-t, --timeout' '-a, --apop' \
		'-n, --hostname' '-s, --stderr' '-h, --help' '-V, --version'; do
		grep -qF -- "$o" "$T/help$opt.out" || missing="$missing '$o'"
	done
	if [ -n "$missing" ]; then fail "help$opt-lists-options" "not listed:$missing"
	elif [ -s "$T/help$opt.err" ]; then fail "help$opt-lists-options" "stderr: $(show "$T/help$opt.err")"
	else pass "help$opt-lists-options"; fi
done
if cmp -s "$T/help--help.out" "$T/help-h.out"; then pass help-short-equals-long
else fail help-short-equals-long "-h and --help print different texts"; fi

for opt in --version -V; do
	pop "version$opt" "$opt" </dev/null
	exited "version$opt"
	if [ "$(wc -l <"$T/version$opt.out")" = 1 ] &&
		grep -qE '^pop3d [0-9]+\.[0-9]+\.[0-9]+$' "$T/version$opt.out" &&
		[ ! -s "$T/version$opt.err" ]; then
		pass "version$opt-text"
	else
		fail "version$opt-text" "stdout '$(show "$T/version$opt.out")' stderr '$(show "$T/version$opt.err")'"
	fi
done

# ------------------------------------------------------------ bad usage

usage_error unknown-long "${POP[@]}" --bogus
usage_error unknown-short "${POP[@]}" -x
usage_error unknown-after-valid -s -x
usage_error help-with-value --help=yes
usage_error missing-value-p -p
usage_error missing-value-passwd --passwd
usage_error missing-value-m "${POP[@]}" -m
usage_error missing-value-t "${POP[@]}" -t
usage_error missing-value-timeout "${POP[@]}" --timeout
usage_error missing-value-a "${POP[@]}" -a
usage_error missing-value-n "${POP[@]}" -n
usage_error timeout-0 "${POP[@]}" -t 0
usage_error timeout-minus-1 "${POP[@]}" -t -1
usage_error timeout-abc "${POP[@]}" -t abc
usage_error timeout-99999999 "${POP[@]}" -t 99999999
usage_error timeout-86401 "${POP[@]}" -t 86401
usage_error timeout-overflow "${POP[@]}" -t 99999999999999999999999
usage_error timeout-empty "${POP[@]}" -t ''
usage_error timeout-trailing-junk "${POP[@]}" -t 10s
usage_error timeout-plus "${POP[@]}" -t +10
usage_error timeout-space "${POP[@]}" -t ' 10'
usage_error timeout-long-eq-0 "${POP[@]}" --timeout=0
usage_error unexpected-argument "${POP[@]}" extra
usage_error unexpected-argument-first extra "${POP[@]}"
usage_error empty-passwd "${POP[@]}" -p ''
usage_error empty-mailbox "${POP[@]}" -m ''
usage_error mailbox-bad-escape "${POP[@]}" -m "$T/mail/%x"
usage_error mailbox-trailing-percent "${POP[@]}" -m "$T/mail/%u%"
usage_error hostname-empty "${POP[@]}" -n ''
usage_error hostname-space "${POP[@]}" -n 'a b'
usage_error hostname-angle "${POP[@]}" -n 'a>b'
usage_error hostname-too-long "${POP[@]}" -n "$(printf 'h%.0s' $(seq 300))"
usage_error empty-apop "${POP[@]}" -a ''
# "%%u" is what a systemd unit needs for %u; on pop3d's own command line
# (xinetd, a shell) it would name one literal "%u" file for every user.
usage_error mailbox-doubled-percent-u "${POP[@]}" -m "$T/mail/%%u"
usage_error mailbox-doubled-percent-h "${POP[@]}" -m '%%h/mbox'
# --first-uid: a uid, 0 to 4294967294 ((uid_t)-1 is no account).
usage_error first-uid-empty "${POP[@]}" --first-uid ''
usage_error first-uid-minus-1 "${POP[@]}" --first-uid -1
usage_error first-uid-4294967295 "${POP[@]}" --first-uid 4294967295
usage_error first-uid-overflow "${POP[@]}" --first-uid 99999999999999999999999
usage_error first-uid-abc "${POP[@]}" --first-uid abc
usage_error first-uid-trailing-junk "${POP[@]}" --first-uid 12x
usage_error first-uid-plus "${POP[@]}" --first-uid +12
usage_error first-uid-space "${POP[@]}" --first-uid ' 12'
usage_error missing-value-first-uid "${POP[@]}" --first-uid
grep -q "invalid --first-uid (a uid from 0 to 4294967294): '12x'" "$T/first-uid-trailing-junk.err" &&
	pass first-uid-message || fail first-uid-message "$(show "$T/first-uid-trailing-junk.err")"
# Accepted: the bounds, and the session then runs as before.
for v in 0 4294967294 1000; do
	client | pop "first-uid-$v" "${POP[@]}" --first-uid "$v"
	exited "first-uid-$v"
	answer_is "first-uid-$v-greets" "first-uid-$v" 1 '+OK*'
done

# --auth: file, pam, pam:SERVICE (a name in /etc/pam.d), or
# checkpassword:PROGRAM (an absolute path); APOP cannot go with
# checkpassword (no account without a password).
usage_error auth-bogus "${POP[@]}" --auth bogus
usage_error auth-empty "${POP[@]}" --auth ''
usage_error auth-pam-empty-service "${POP[@]}" --auth pam:
usage_error auth-pam-dotdot "${POP[@]}" --auth pam:../x
usage_error auth-pam-slash "${POP[@]}" --auth pam:a/b
usage_error auth-checkpassword-relative "${POP[@]}" --auth checkpassword:relative
usage_error auth-checkpassword-empty "${POP[@]}" --auth checkpassword:
usage_error auth-checkpassword-bare "${POP[@]}" --auth checkpassword
usage_error missing-value-auth "${POP[@]}" --auth
grep -q "the PAM service must be a name in /etc/pam.d 'pam:../x'" "$T/auth-pam-dotdot.err" &&
	pass auth-pam-message || fail auth-pam-message "$(show "$T/auth-pam-dotdot.err")"
grep -q "checkpassword needs the program's absolute path 'checkpassword:relative'" "$T/auth-checkpassword-relative.err" &&
	pass auth-checkpassword-message || fail auth-checkpassword-message "$(show "$T/auth-checkpassword-relative.err")"
printf 'alice:s3cret\n' >"$T/apop-cp"; chmod 600 "$T/apop-cp"; own "$T/apop-cp"
usage_error apop-with-checkpassword "${POP[@]}" --apop "$T/apop-cp" --auth checkpassword:/bin/true
usage_error apop-with-checkpassword-any-order "${POP[@]}" --auth checkpassword:/bin/true -a "$T/apop-cp"
grep -q -- "--apop cannot be used with --auth 'checkpassword'" "$T/apop-with-checkpassword.err" &&
	pass apop-with-checkpassword-message || fail apop-with-checkpassword-message "$(show "$T/apop-with-checkpassword.err")"
for v in file pam pam:other checkpassword:/bin/true; do
	n=auth-${v//[:\/]/-}
	client | pop "$n" "${POP[@]}" --auth "$v"
	exited "$n"
	answer_is "$n-greets" "$n" 1 '+OK*'
done

# Values at the edges of what is allowed are accepted.
for t in 1 86400; do
	client | pop "timeout-$t" "${POP[@]}" -t "$t"
	exited "timeout-$t"
	if cmp -s "$T/timeout-$t.out" <(crlf '+OK POP3 server ready' '+OK capability list follows' \
		TOP UIDL USER RESP-CODES AUTH-RESP-CODE PIPELINING 'EXPIRE NEVER' 'UTF8 USER' 'SASL PLAIN LOGIN' . '+OK pop3d signing off'); then
		pass "timeout-$t-session"
	else
		fail "timeout-$t-session" "output: $(show "$T/timeout-$t.out")"
	fi
done
client | pop long-forms --stderr --passwd="$T/passwd" --mailbox="$T/mail/%u" \
	--timeout=30 --hostname=long.example.org
exited long-forms
if head -n 1 "$T/long-forms.out" | grep -q $'^+OK POP3 server ready\r$'; then pass long-forms-greeting
else fail long-forms-greeting "output: $(show "$T/long-forms.out")"; fi

# ------------------------------------------------------------- -n / -a

printf 'alice:apop-secret\n' >"$T/apop"; chmod 600 "$T/apop"; own "$T/apop"
TS_RE='^\+OK [ -~]*<[0-9]+\.[0-9]+\.[0-9]+@mail\.example\.org>'$'\r''$'
for i in 1 2; do
	client | pop "apop-greeting-$i" "${POP[@]}" -a "$T/apop" -n mail.example.org
	exited "apop-greeting-$i"
done
if head -n 1 "$T/apop-greeting-1.out" | grep -qE "$TS_RE"; then pass greeting-timestamp-hostname
else fail greeting-timestamp-hostname "greeting: $(head -n 1 "$T/apop-greeting-1.out" | show /dev/stdin)"; fi
if [ "$(head -n 1 "$T/apop-greeting-1.out")" != "$(head -n 1 "$T/apop-greeting-2.out")" ]; then
	pass greeting-timestamp-differs
else
	fail greeting-timestamp-differs "two greetings are identical: $(head -n 1 "$T/apop-greeting-1.out")"
fi
client | pop apop-greeting-long "${POP[@]}" --apop "$T/apop" --hostname pop.example.net
exited apop-greeting-long
if head -n 1 "$T/apop-greeting-long.out" | grep -qE '<[0-9.]+@pop\.example\.net>'$'\r''$'; then
	pass greeting-timestamp-long-hostname
else
	fail greeting-timestamp-long-hostname "greeting: $(head -n 1 "$T/apop-greeting-long.out" | show /dev/stdin)"
fi
# Without -a the greeting has no timestamp (RFC 2449: clients look for it).
client | pop no-apop-greeting "${POP[@]}" -n mail.example.org
exited no-apop-greeting
if [ "$(head -n 1 "$T/no-apop-greeting.out")" = $'+OK POP3 server ready\r' ]; then pass greeting-without-apop
else fail greeting-without-apop "greeting: $(head -n 1 "$T/no-apop-greeting.out" | show /dev/stdin)"; fi

# apop_refused NAME FILE: pop3d refuses the secrets file: exit status 1, a
# message on stderr, nothing on stdout.
apop_refused() {
	local name=$1 rc; shift
	client | pop "$name" "${POP[@]}" -a "$1"
	rc=$(cat "$T/$name.rc")
	if ! sanitizer_ok "$name"; then
		fail "$name" "sanitizer report (exit status $rc): $(grep -m1 -E "$SAN_RE" "$T/$name.err")"
	elif [ "$rc" != 1 ]; then fail "$name" "exit status $rc, expected 1"
	elif [ -s "$T/$name.out" ]; then fail "$name" "wrote to stdout: $(show "$T/$name.out")"
	elif [ ! -s "$T/$name.err" ]; then fail "$name" "no message on stderr"
	else pass "$name"; fi
}
for mode in 640 604 660 620; do
	cp "$T/apop" "$T/apop-$mode"; chmod "$mode" "$T/apop-$mode"; own "$T/apop-$mode"
	apop_refused "apop-mode-$mode" "$T/apop-$mode"
done
apop_refused apop-missing "$T/no-such-apop-file"
mkdir "$T/apop-dir"; chmod 700 "$T/apop-dir"; own "$T/apop-dir"
apop_refused apop-directory "$T/apop-dir"
ln -s "$T/apop" "$T/apop-link"
apop_refused apop-symlink "$T/apop-link"

# ------------------------------------- errors where the administrator looks
# Under inetd and xinetd the connection is descriptors 0, 1 and 2: an error
# written to standard error would go to the client, in clear text, and
# nowhere else.  inetd_run (tests/lib.sh) starts pop3d that way on a socket
# pair: the client must receive nothing at all, and, when this runs as
# root, the message must reach syslog (a /dev/log of the test's own, see
# with_devlog in tests/lib.sh).
printf 'alice:%s\n' "$H" >"$T/passwd-world"; chmod 644 "$T/passwd-world"; own "$T/passwd-world"
cp "$T/apop" "$T/apop-0644"; chmod 644 "$T/apop-0644"; own "$T/apop-0644"
client >"$T/client.in"
crlf 'USER alice' 'PASS secret' STAT QUIT >"$T/login.in"
SYSLOG=no
if [ "$(id -u)" = 0 ] && syslog_listen sys; then
	if with_devlog "$T/sys.sock" true; then SYSLOG=yes
	else kill "$SYSLOG_PID"; echo "note: no private mount namespace here; syslog receipt not checked"; fi
fi
# inetd NAME INPUT ARGS...: pop3d ARGS started inetd-style, with the
# client's input from INPUT; $T/NAME.rc and $T/NAME.got (what the client
# received, Python repr).
inetd() {
	local name=$1 in=$2; shift 2
	if [ "$SYSLOG" = yes ]; then
		inetd_run "$in" "$T/with-devlog" "$T/sys.sock" "${RUNAS[@]}" "$POP3D" "$@"
	else
		inetd_run "$in" "${RUNAS[@]}" "$POP3D" "$@"
	fi >"$T/$name.res" 2>"$T/$name.err"
	sed -n 1p "$T/$name.res" >"$T/$name.rc"
	sed -n 2p "$T/$name.res" >"$T/$name.got"
}
# syslogged CHECK REGEX: a message matching REGEX reached syslog.
syslogged() {
	[ "$SYSLOG" = yes ] || return 0
	local _
	for _ in $(seq 50); do grep -qE -- "$2" "$T/sys.log" && break; sleep 0.02; done
	if grep -qE -- "$2" "$T/sys.log"; then pass "$1"
	else fail "$1" "no syslog message matching '$2': $(tail -n 3 "$T/sys.log" | tr '\n' ' ')"; fi
}
# silent NAME STATUS: the run ended with STATUS and the client got nothing.
silent() {
	equal "$1-exit-status" "$2" "$(cat "$T/$1.rc")"
	equal "$1-client-got-nothing" "b''" "$(cat "$T/$1.got")"
}
inetd inetd-bad-option "$T/client.in" "${POP[@]}" --bogus
silent inetd-bad-option 2
syslogged inetd-bad-option-syslog "pop3d\[[0-9]+\]: local: unknown option '--bogus'; not started"
inetd inetd-bad-apop "$T/client.in" "${POP[@]}" -a "$T/apop-0644"
silent inetd-bad-apop 1
syslogged inetd-bad-apop-syslog "pop3d\[[0-9]+\]: local: unusable APOP secrets file $T/apop-0644; not started"
# A relative template is resolved against the launcher's directory (/
# under xinetd and systemd): refused when a super-server starts pop3d ...
inetd inetd-relative-mailbox "$T/client.in" -p "$T/passwd" -m 'mail/%u'
silent inetd-relative-mailbox 2
syslogged inetd-relative-mailbox-syslog "local: started by a super-server, the mailbox template must be an absolute path .*'mail/%u'"
# A relative mail= path in the password file: the same reason, found at
# login: [SYS/PERM], logged.
printf 'rel:%s::::/nonexistent::mail=mail/rel\n' "$H" >"$T/passwd-rel"; own "$T/passwd-rel"
crlf 'USER rel' 'PASS secret' QUIT >"$T/rel-login.in"
inetd inetd-relative-mail-field "$T/rel-login.in" -p "$T/passwd-rel" -m "$T/mail/%u"
equal inetd-relative-mail-field-refused \
	"b'+OK POP3 server ready\\r\\n+OK send PASS\\r\\n-ERR [SYS/PERM] maildrop cannot be served; contact the administrator\\r\\n+OK pop3d signing off\\r\\n'" \
	"$(cat "$T/inetd-relative-mail-field.got")"
syslogged inetd-relative-mail-field-syslog "local: maildrop path mail/rel of user rel is relative"
# ... and served from a shell pipe, relative to the directory it runs in.
cp "$T/login.in" "$T/rel.in"
printf 'From a@example.org Mon Jan  1 10:00:00 2024\nSubject: x\n\nbody\n' >"$T/mail/alice"; own "$T/mail/alice"
( cd "$T" && pop pipe-relative-mailbox -s -p "$T/passwd" -m 'mail/%u' <"$T/rel.in" )
exited pipe-relative-mailbox
if grep -q '^+OK maildrop has 1 message ' "$T/pipe-relative-mailbox.out"; then pass pipe-relative-mailbox-served
else fail pipe-relative-mailbox-served "$(show "$T/pipe-relative-mailbox.out")"; fi
# -s asks for the log on standard error; when that is the client, the log
# goes to syslog instead, and the client sees only POP3.
inetd inetd-stderr-session "$T/login.in" -s "${POP[@]}"
equal inetd-stderr-session-exit-status 0 "$(cat "$T/inetd-stderr-session.rc")"
equal inetd-stderr-session-client-got-pop3-only \
	"b'+OK POP3 server ready\\r\\n+OK send PASS\\r\\n+OK maildrop has 1 message (20 octets)\\r\\n+OK 1 20\\r\\n+OK pop3d signing off (1 message left)\\r\\n'" \
	"$(cat "$T/inetd-stderr-session.got")"
syslogged inetd-stderr-session-login-syslog "pop3d\[[0-9]+\]: local: login: user=alice messages=1 octets=20 maildrop=$T/mail/alice\$"
syslogged inetd-stderr-session-s-ignored-syslog "local: -s ignored: standard error is the client connection"
[ "$SYSLOG" = yes ] && kill "$SYSLOG_PID"
exit 0

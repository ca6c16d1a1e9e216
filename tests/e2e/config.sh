#!/usr/bin/env bash
# tests/e2e/config.sh - the configuration file (options.c, config.c),
# through the real binary:
#  - every setting options.c allows in the file takes effect: one file per
#    setting, seen in --check-config with its [FILE:LINE]; all of them in
#    one file, LF and CRLF; a real pipe session (as nobody) whose password
#    file and maildrop come from the file alone, RETR byte for byte; the
#    timeout, APOP file, host name and plaintext policy seen in sessions;
#  - the command line wins for each setting, before or after --config;
#  - every kind of mistake: exit status 2, "pop3d: FILE:LINE: reason",
#    not one byte for the client; a bad value refused with the command
#    line's own words; the settings that only go together;
#  - --config, POP3D_CONFIG and the default /etc/pop3d/pop3d.conf (in a
#    private mount namespace over /etc), which one is read and when;
#  - started as root, files others could have written or swapped: refused
#    with what to fix, no session;
#  - started as inetd does (standard error the client's socket): the
#    message in syslog, nothing for the client;
#  - the shipped etc/pop3d.conf: it parses, it names every setting, and
#    its commented lines, uncommented, are the defaults.
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "config.sh needs root (root-mode trust rules, chown, syslog); skipped"
	exit 0
fi
# Root mode's rules: everything on the way to root's files is root's.
chown root:root "$T"
command -v openssl >/dev/null || sh "$TOP/tests/apt-install.sh" openssl
getent passwd pop3d >/dev/null ||
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pop3d

NU=$(id -u nobody) NG=$(id -g nobody)
H=$(mkhash secret)
# param NAME: a numeric #define of params.h, evaluated.
param() {
	perl -ne 'if (/^#define '"$1"' (\(?[\d\sUL*+()]+\)?)\s*$/) { (my $e = $1) =~ s/(\d+)UL?/$1/g; print eval($e), "\n" }' "$TOP/params.h"
}
MAXLINE=$(param MAX_CONFIG_LINE)
MAXSIZE=$(param MAX_CONFIG_SIZE)
check params-found test -n "$MAXLINE" -a -n "$MAXSIZE"

# Root's files, for --check-config as root: $T/etc (root, 755).
mkdir -m 755 "$T/etc" "$T/empty" "$T/empty2"
mkdir -m 2775 "$T/spool"; chgrp mail "$T/spool"
printf 'alice:%s:%s:%s::/nonexistent\n' "$H" "$NU" "$NG" >"$T/etc/passwd"
printf 'alice:%s:%s:%s::/nonexistent\nbob:%s:%s:%s::/nonexistent\n' "$H" "$NU" "$NG" "$H" "$NU" "$NG" >"$T/etc/passwd2"
printf 'alice:apop-secret\n' >"$T/etc/apop"
printf 'bob:apop-secret\n' >"$T/etc/apop2"
chmod 600 "$T/etc/passwd" "$T/etc/passwd2" "$T/etc/apop" "$T/etc/apop2"
cert() {	# cert NAME: a self-signed EC certificate and its key
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-days 90 -subj /CN=localhost -keyout "$T/etc/$1.key" \
		-out "$T/etc/$1.pem" >/dev/null 2>&1
	chmod 600 "$T/etc/$1.key"
}
cert good
cert other

# A pipe session's files, nobody's: $T/nr.
mkdir -m 755 "$T/nr" "$T/nr/mail"
printf 'alice:%s\n' "$H" >"$T/nr/passwd"
printf 'alice:apop-secret\n' >"$T/nr/apop"; chmod 600 "$T/nr/apop"
mkdir "$T/msg"
printf 'Subject: from the configuration file\nX-Bytes: tab\there, 8-bit \303\251\n\n.a dot line\nFrom inside\nlast line\n' >"$T/msg/01"
mbox_of_messages
cp "$T/orig.mbox" "$T/nr/mail/alice"; chmod 600 "$T/nr/mail/alice"
chown -R nobody:nogroup "$T/nr"
crlf CAPA QUIT >"$T/client.in"

# ------------------------------------------------------------- helpers

# show FILE: its first bytes on one line, escaped.
show() { head -c 300 "$1" | perl -0777 -pe 's/([^\x20-\x7e])/sprintf("\\x%02x", ord $1)/ge'; }
san() { grep -qaE "$SAN_RE" "$T/$1.err" || [ "$(cat "$T/$1.rc")" = 98 ] || [ "$(cat "$T/$1.rc")" = 99 ]; }

# cc NAME ARGS...: pop3d --check-config ARGS as root, stdout, stderr and
# status in $T/NAME.{out,err,rc}.  ran NAME: it ran to its report (status
# 0, or 1 for problems it found: a missing PAM service, say), sanitizers
# silent.
cc() {
	local name=$1; shift
	"$POP3D" --check-config "$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
ran() {
	local rc; rc=$(cat "$T/$1.rc")
	if san "$1"; then fail "$1-ran" "sanitizer report: $(grep -a -m1 -E "$SAN_RE" "$T/$1.err")"
	elif [ "$rc" != 0 ] && [ "$rc" != 1 ]; then fail "$1-ran" "exit status $rc; stderr: $(show "$T/$1.err")"
	else pass "$1-ran"; fi
}
# The line --check-config prints for a setting: name, value, and the
# source unless it is the default.
setting_line() {
	if [ -n "${3:-}" ]; then printf '  %-16s %s  [%s]' "$1" "$2" "$3"
	else printf '  %-16s %s' "$1" "$2"; fi
}
# shows CHECK NAME SETTING VALUE [SOURCE]: cc NAME printed that line.
shows() {
	local want; want=$(setting_line "$3" "$4" "${5:-}")
	if grep -Fxq -- "$want" "$T/$2.out"; then pass "$1"
	else fail "$1" "expected '$want', got '$(grep -E "^  $3 " "$T/$2.out")'"; fi
}

# refused CHECK FILE FIRST-LINE [ARGS...]: pop3d --config FILE ARGS as
# nobody, given a client's commands: exit status 2, nothing at all on
# stdout (the client), and FIRST-LINE, exactly, first on stderr.
refused() {
	local name=$1 file=$2 want=$3; shift 3
	run_pop3d --config "$file" "$@" <"$T/client.in" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
	refusal "$name" "$want"
}
# refusal NAME FIRST-LINE: the last run NAME was refused so.
refusal() {
	local name=$1 want=$2 rc got
	rc=$(cat "$T/$name.rc")
	got=$(head -n 1 "$T/$name.err")
	if san "$name"; then fail "$name" "sanitizer report (status $rc): $(grep -a -m1 -E "$SAN_RE" "$T/$name.err")"
	elif [ "$rc" != 2 ]; then fail "$name" "exit status $rc, expected 2; stderr: $(show "$T/$name.err")"
	elif [ -s "$T/$name.out" ]; then fail "$name" "the client got: $(show "$T/$name.out")"
	elif [ "$got" != "$want" ]; then fail "$name" "expected '$want', got '$got'"
	else pass "$name"; fi
}
# refusal_says NAME TEXT...: as refusal, but the message need only hold
# each TEXT (trust.c's reasons, long and checked word for word elsewhere).
refusal_says() {
	local name=$1 rc t; shift
	rc=$(cat "$T/$name.rc")
	if san "$name"; then fail "$name" "sanitizer report (status $rc)"; return; fi
	if [ "$rc" != 2 ]; then fail "$name" "exit status $rc, expected 2; stderr: $(show "$T/$name.err")"; return; fi
	if [ -s "$T/$name.out" ]; then fail "$name" "the client got: $(show "$T/$name.out")"; return; fi
	if ! head -n 1 "$T/$name.err" | grep -q '^pop3d: '; then fail "$name" "no 'pop3d: ' message: $(show "$T/$name.err")"; return; fi
	for t in "$@"; do
		if ! grep -qF -- "$t" "$T/$name.err"; then fail "$name" "message lacks '$t': $(show "$T/$name.err")"; return; fi
	done
	pass "$name"
}

# conf_file FILE LINE...: FILE, root's and 0644, with the lines given
# after a preamble of three (a comment, a blank line, the valid setting
# $PRE, first-uid unless changed): the first line given is line 4.
PRE='first-uid = 1000'
conf_file() {
	local f=$1; shift
	{ printf '# %s\n\n%s\n' "${f##*/}" "$PRE"; printf '%s\n' "$@"; } >"$f"
	chmod 644 "$f"
}
# bad_line CHECK LINE REASON: LINE, on line 4, refused with
# "pop3d: FILE:4: REASON".
bad_line() {
	local f=$T/etc/$1.conf
	conf_file "$f" "$2" 'timeout = 60'
	refused "$1" "$f" "pop3d: $f:4: $3"
}
# cl_reason NAME ARGS...: the reason pop3d gives for ARGS on the command
# line (its first stderr line without "pop3d: "); "" unless that is a
# refusal with exit status 2.
cl_reason() {
	local name=$1; shift
	run_pop3d "$@" <"$T/client.in" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
	[ "$(cat "$T/$name.rc")" = 2 ] && ! [ -s "$T/$name.out" ] &&
		head -n 1 "$T/$name.err" | sed -n 's/^pop3d: //p'
}
# bad_value CHECK NAME VALUE: "NAME = VALUE" on line 4 is refused with the
# words the command line's --NAME=VALUE is refused with.
bad_value() {
	local reason PRE='first-uid = 1000'
	[ "$2" = first-uid ] && PRE='timeout = 60'
	reason=$(cl_reason "$1-cl" "--$2=$3")
	if [ -z "$reason" ]; then
		fail "$1" "--$2='$3' on the command line was not refused: status $(cat "$T/$1-cl.rc"), $(show "$T/$1-cl.err")"
		return
	fi
	bad_line "$1" "$2 = $3" "$reason"
}

# The short letter of a long option, from options.c's table.
perl -ne 'print "$1 $2\n" if /^\t\{ "([a-z-]+)", \x27(.)\x27,/' "$TOP/options.c" >"$T/shorts"
short_of() { awk -v n="$1" '$1 == n { print $2 }' "$T/shorts"; }
check short-letters-found test "$(wc -l <"$T/shorts")" -ge 10

# ------------------------------------- every setting, from the file
# name|value in the file|as --check-config shows it|value on the command
# line ("-": a switch)|as shown then.  Every setting options.c allows in
# the file is here (checked below), each with a value other than its
# default.
OPTS=(
	"auth|pam:pop3d-e2e-conf|pam (service pop3d-e2e-conf)|pam:other|pam (service other)"
	"first-uid|1234|1234|77|77"
	"passwd|$T/etc/passwd|$T/etc/passwd (1 entry)|$T/etc/passwd2|$T/etc/passwd2 (2 entries)"
	"mailbox|$T/spool/%u|$T/spool/%u|$T/spool/cl-%u|$T/spool/cl-%u"
	"index-cache|$T/spool/%u.idx|$T/spool/%u.idx|$T/spool/%u.cl|$T/spool/%u.cl"
	"uidl-format|dovecot|dovecot|x-uidl|x-uidl"
	"timeout|42|42 s|77|77 s"
	"apop|$T/etc/apop|$T/etc/apop|$T/etc/apop2|$T/etc/apop2"
	"hostname|conf.example.org|conf.example.org|cl.example.org|cl.example.org"
	"mail-group|none|none|nogroup|nogroup"
	"tls-cert|$T/etc/good.pem|$T/etc/good.pem|$T/etc/other.pem|$T/etc/other.pem"
	"tls-key|$T/etc/good.key|$T/etc/good.key|$T/etc/other.key|$T/etc/other.key"
	"tls|yes|implicit (handshake first)|-|implicit (handshake first)"
	"plaintext-login|never|never|always|always"
	"privsep-user|nobody|nobody|pop3d|pop3d"
	"privsep-dir|$T/empty|$T/empty|$T/empty2|$T/empty2"
	"stderr|yes|yes|-|yes"
	# Shown as networks: an address alone is its /32 or /128.
	"proxy-from|10.0.0.0/8,192.0.2.1,2001:db8::/32|10.0.0.0/8,192.0.2.1/32,2001:db8::/32|127.0.0.1|127.0.0.1/32"
	# Shown in the order of the table, whatever the order given.
	"client-workarounds|oe-ns-eoh|oe-ns-eoh|oe-ns-eoh,outlook-no-nuls|outlook-no-nuls,oe-ns-eoh"
)
perl -ne 'print "$1\n" if /^\t\{ "([a-z-]+)", .*\bANYWHERE\b/' "$TOP/options.c" | sort >"$T/settable"
printf '%s\n' "${OPTS[@]}" | cut -d'|' -f1 | sort >"$T/tested"
check settable-list-found test "$(wc -l <"$T/settable")" -ge 10
same every-settable-option-tested "$T/settable" "$T/tested"

# What a setting needs beside it in the same file (the TLS ones go
# together).
extras() {
	case $1 in
	tls-cert) echo "tls-key = $T/etc/good.key" ;;
	tls-key) echo "tls-cert = $T/etc/good.pem" ;;
	tls) echo "tls-cert = $T/etc/good.pem"; echo "tls-key = $T/etc/good.key" ;;
	esac
}

# One file per setting, on a different line each time.
i=0
for o in "${OPTS[@]}"; do
	IFS='|' read -r n fv fshow _ _ <<<"$o"
	i=$((i + 1))
	f=$T/etc/one-$n.conf
	{ for k in $(seq "$i"); do echo "# padding $k"; done; echo "$n = $fv"; extras "$n"; } >"$f"
	cc "one-$n" --config "$f"
	ran "one-$n"
	shows "file-sets-$n" "one-$n" "$n" "$fshow" "$f:$((i + 1))"
	shows "file-named-$n" "one-$n" config "$f"
done
# The words for "none" and the switches' spellings.
conf_file "$T/etc/none.conf" 'index-cache = none' 'apop = none' 'mail-group ='
cc none-words --config "$T/etc/none.conf"
shows index-cache-none-from-file none-words index-cache none "$T/etc/none.conf:4"
shows apop-none-from-file none-words apop 'none (APOP not offered)' "$T/etc/none.conf:5"
shows mail-group-empty-from-file none-words mail-group none "$T/etc/none.conf:6"
for v in yes true on 1 no false off 0; do
	case $v in yes|true|on|1) tshow='implicit (handshake first)' sshow=yes ;; *) tshow=STLS sshow=no ;; esac
	conf_file "$T/etc/bool-$v.conf" "tls = $v" "stderr = $v" "tls-cert = $T/etc/good.pem" "tls-key = $T/etc/good.key"
	cc "bool-$v" --config "$T/etc/bool-$v.conf"
	ran "bool-$v"
	shows "tls-$v-from-file" "bool-$v" tls "$tshow" "$T/etc/bool-$v.conf:4"
	shows "stderr-$v-from-file" "bool-$v" stderr "$sshow" "$T/etc/bool-$v.conf:5"
done

# All of them in one file, between comments and blank lines (auth = file:
# the password file is shown only with its back end), with LF and CRLF.
declare -A at=()
{
	echo '# every setting at once'
	k=1
	for o in "${OPTS[@]}"; do
		IFS='|' read -r n fv _ _ _ <<<"$o"
		[ "$n" = auth ] && fv='file'
		if [ $((k % 3)) = 0 ]; then echo; k=$((k + 1)); fi
		if [ $((k % 4)) = 0 ]; then echo "  # about $n"; k=$((k + 1)); fi
		echo "$n = $fv"
		k=$((k + 1)); at[$n]=$k
	done
} >"$T/etc/all.conf"
perl -pe 's/\n/\r\n/' "$T/etc/all.conf" >"$T/etc/all-crlf.conf"
chmod 644 "$T/etc/all.conf" "$T/etc/all-crlf.conf"
for f in all all-crlf; do
	cc "$f" --config "$T/etc/$f.conf"
	ran "$f"
	for o in "${OPTS[@]}"; do
		IFS='|' read -r n _ fshow _ _ <<<"$o"
		[ "$n" = auth ] && fshow='file'
		shows "$f-sets-$n" "$f" "$n" "$fshow" "$T/etc/$f.conf:${at[$n]}"
	done
done

# ------------------------------------------ a session from the file only
# Pipe mode as nobody: the command line names the file and nothing else
# (POP3D_CONFIG, from tests/lib.sh, names no file); the password file,
# the maildrop and logging to stderr all come from it.
cat >"$T/nr/pop3d.conf" <<EOF
# a pipe session's settings, nobody's own file
passwd = $T/nr/passwd
mailbox = $T/nr/mail/%u
stderr = yes
EOF
chown nobody:nogroup "$T/nr/pop3d.conf"
OCTETS=$(perl -0777 -ne 's/\n/\r\n/g; $_ .= "\r\n" unless /\r\n\z/; print length' "$T/msg/01")
{
	crlf '+OK POP3 server ready' '+OK send PASS' "+OK maildrop has 1 message ($OCTETS octets)" "+OK $OCTETS octets"
	perl -0777 -pe 's/\n/\r\n/g; $_ .= "\r\n" unless /\r\n\z/; s/^\./../mg' "$T/msg/01"
	crlf . '+OK pop3d signing off (1 message left)'
} >"$T/session.exp"
crlf 'USER alice' 'PASS secret' 'RETR 1' QUIT >"$T/session.in"
pop file-session --config "$T/nr/pop3d.conf" <"$T/session.in"
exited file-session
same file-session-transcript "$T/session.exp" "$T/file-session.out"
log_has file-session-stderr-from-file file-session "login: user=alice messages=1 octets=$OCTETS maildrop=$T/nr/mail/alice\$"
# The same file through POP3D_CONFIG, no argument at all.
POP3D_CONFIG=$T/nr/pop3d.conf pop env-session <"$T/session.in"
exited env-session
same env-session-transcript "$T/session.exp" "$T/env-session.out"
# Without it, the same command has no such account: the file decided.
pop no-file-session -s <"$T/session.in"
if [ "$(line no-file-session 3)" != "+OK maildrop has 1 message ($OCTETS octets)" ]; then pass no-file-no-login
else fail no-file-no-login "logged in without the file"; fi
# A file of exactly MAX_CONFIG_SIZE bytes is read to its end: the
# settings on its last lines serve the session.
perl -e '
	my ($size, $tail) = @ARGV;
	my $r = $size - length($tail);
	while ($r >= 100) { print "#", "x" x 98, "\n"; $r -= 100 }
	print $r >= 2 ? "#" . ("x" x ($r - 2)) . "\n" : $r == 1 ? "\n" : "";
	print $tail' "$MAXSIZE" "$(cat "$T/nr/pop3d.conf")"$'\n' >"$T/nr/big.conf"
chown nobody:nogroup "$T/nr/big.conf"
equal max-size-file-is-max-size "$MAXSIZE" "$(stat -c %s "$T/nr/big.conf")"
pop max-size-session --config "$T/nr/big.conf" <"$T/session.in"
exited max-size-session
same max-size-session-transcript "$T/session.exp" "$T/max-size-session.out"

# Each of these changes what a session does, not only what
# --check-config prints.
{ cat "$T/nr/pop3d.conf"; echo 'timeout = 1'; } >"$T/nr/t1.conf"
{ cat "$T/nr/pop3d.conf"; echo "apop = $T/nr/apop"; echo 'hostname = conf.example.org'; } >"$T/nr/apop.conf"
{ cat "$T/nr/pop3d.conf"; echo 'plaintext-login = never'; } >"$T/nr/never.conf"
chown nobody:nogroup "$T/nr/"*.conf
{ crlf CAPA; sleep 4; } | pop timeout-from-file --config "$T/nr/t1.conf"
exited timeout-from-file
log_has timeout-from-file-ends-session timeout-from-file 'logout: .* end=timeout'
pop apop-from-file --config "$T/nr/apop.conf" <"$T/client.in"
exited apop-from-file
answer_is apop-and-hostname-from-file apop-from-file 1 '+OK *<*@conf.example.org>'
pop never-from-file --config "$T/nr/never.conf" <"$T/session.in"
exited never-from-file
answer_is plaintext-never-from-file never-from-file 2 '-ERR*'

# -------------------------------------------- the command line wins
# Each setting in a file and on the command line, the option after
# --config (long, with =) and before it (the short letter if any): the
# command line's value, "[command line]".  A switch in the file is "no".
for o in "${OPTS[@]}"; do
	IFS='|' read -r n fv _ cv cshow <<<"$o"
	f=$T/etc/cl-$n.conf
	[ "$cv" = - ] && fv=no
	{ echo "# $n, here and on the command line"; echo "$n = $fv"; extras "$n"; } >"$f"
	s=$(short_of "$n")
	if [ "$cv" = - ]; then
		late=("--$n"); early=("-${s:-"-$n"}")
	else
		late=("--$n=$cv")
		if [ -n "$s" ]; then early=("-$s" "$cv"); else early=("--$n" "$cv"); fi
	fi
	cc "cl-after-$n" --config "$f" "${late[@]}"
	cc "cl-before-$n" "${early[@]}" --config "$f"
	for w in after before; do
		ran "cl-$w-$n"
		shows "command-line-wins-$w-$n" "cl-$w-$n" "$n" "$cshow" "command line"
	done
done
# The file's other settings still count.
shows command-line-leaves-the-rest cl-after-tls tls-cert "$T/etc/good.pem" "$T/etc/cl-tls.conf:3"
# A mistake in the file is one even where the command line sets the same
# thing: the file is shared by every launcher, and one of them may not.
conf_file "$T/etc/bad-timeout.conf" 'timeout = abc'
refused bad-file-value-despite-command-line "$T/etc/bad-timeout.conf" \
	"pop3d: $T/etc/bad-timeout.conf:4: invalid timeout (1 to 86400 seconds): 'abc'" -t 5

# ---------------------------------------------------- every mistake
bad_line unknown-name 'bogus = 1' "unknown setting 'bogus'"
bad_line unknown-short-name "p = $T/nr/passwd" "unknown setting 'p'"
bad_line unknown-help 'help = yes' "unknown setting 'help'"
bad_line unknown-case 'Timeout = 5' "unknown setting 'Timeout'"
bad_line unknown-dashes '--timeout = 5' "unknown setting '--timeout'"
bad_line unknown-spaced 'first uid = 5' "unknown setting 'first uid'"
bad_line command-line-only-config "config = $T/etc/none.conf" "unknown setting 'config' (a command-line option only)"
bad_line command-line-only-check-config 'check-config = yes' "unknown setting 'check-config' (a command-line option only)"
bad_line missing-equals 'timeout 60' "expected 'name = value'"
bad_line missing-equals-switch 'tls' "expected 'name = value'"
bad_line no-name '= 60' "no name before '='"
bad_line trailing-comment 'timeout = 60 # one minute' 'a comment after a value (comments take whole lines, starting with #)'
bad_line trailing-comment-tab "passwd = $T/nr/passwd"$'\t#' 'a comment after a value (comments take whole lines, starting with #)'
bad_line comment-as-value 'apop = # none' 'a comment after a value (comments take whole lines, starting with #)'
bad_line control-escape $'hostname = a\x1bb' 'control character 0x1b in the line'
bad_line control-cr-inside $'timeout = 6\r0' 'control character 0x0d in the line'
bad_line control-del $'hostname = ab\x7f' 'control character 0x7f in the line'
# Given twice: refused on the second line, naming the first.
bad_line duplicate 'first-uid = 1000' "'first-uid' is already set on line 3"
conf_file "$T/etc/dup-far.conf" 'timeout = 5' '' '# again' 'timeout = 6'
refused duplicate-far "$T/etc/dup-far.conf" "pop3d: $T/etc/dup-far.conf:7: 'timeout' is already set on line 4"
# Lines: MAX_CONFIG_LINE bytes are one, a byte more is refused.
perl -e 'print "# x\n\n", "#" x $ARGV[0], "\ntimeout = 60\n"' "$MAXLINE" >"$T/etc/line-max.conf"
perl -e 'print "# x\n\nfirst-uid = 1000\n", "#" x ($ARGV[0] + 1), "\ntimeout = 60\n"' "$MAXLINE" >"$T/etc/line-over.conf"
chmod 644 "$T/etc/line-max.conf" "$T/etc/line-over.conf"
cc line-max --config "$T/etc/line-max.conf"
ran line-max
shows line-max-read-on line-max timeout '60 s' "$T/etc/line-max.conf:4"
refused line-too-long "$T/etc/line-over.conf" "pop3d: $T/etc/line-over.conf:4: line longer than $MAXLINE bytes"
# A NUL byte: not a text file, and the administrator is told where.
printf '# x\n\nfirst-uid = 1000\ntimeout = 6\0\ntimeout = 60\n' >"$T/etc/nul.conf"; chmod 644 "$T/etc/nul.conf"
refused nul-byte "$T/etc/nul.conf" "pop3d: configuration file: $T/etc/nul.conf:4: a NUL byte (not a text file)"
# Too large: refused before a line is read, so no line to name.
perl -e 'print "#" . ("x" x 98) . "\n" for 1 .. int($ARGV[0] / 100) + 1' "$MAXSIZE" >"$T/etc/big.conf"; chmod 644 "$T/etc/big.conf"
refused too-large "$T/etc/big.conf" "pop3d: configuration file: $T/etc/big.conf: larger than $MAXSIZE bytes"
# Nothing after a refused line is used: the first mistake is the one named.
conf_file "$T/etc/two-errors.conf" 'bogus = 1' 'timeout = abc'
refused first-mistake-named "$T/etc/two-errors.conf" "pop3d: $T/etc/two-errors.conf:4: unknown setting 'bogus'"

# Every value a setter refuses, in the command line's words.
bad_value timeout-0 timeout 0
bad_value timeout-86401 timeout 86401
bad_value timeout-abc timeout abc
bad_value timeout-minus timeout -1
bad_value timeout-plus timeout +10
bad_value timeout-unit timeout '10 s'
bad_value timeout-empty timeout ''
bad_value first-uid-minus first-uid -1
bad_value first-uid-4294967295 first-uid 4294967295
bad_value first-uid-abc first-uid abc
bad_value first-uid-empty first-uid ''
bad_value auth-bogus auth bogus
bad_value auth-empty auth ''
bad_value auth-pam-dotdot auth pam:../x
bad_value auth-pam-empty auth pam:
bad_value auth-checkpassword-relative auth checkpassword:relative
bad_value auth-checkpassword-bare auth checkpassword
bad_value plaintext-sometimes plaintext-login sometimes
bad_value plaintext-case plaintext-login TLS
bad_value plaintext-empty plaintext-login ''
bad_value privsep-dir-relative privsep-dir relative/dir
bad_value privsep-dir-empty privsep-dir ''
bad_value hostname-space hostname 'a b'
bad_value hostname-angle hostname 'a>b'
bad_value hostname-too-long hostname "$(printf 'h%.0s' $(seq 300))"
bad_value hostname-empty hostname ''
for n in passwd mailbox index-cache apop tls-cert tls-key privsep-user; do
	bad_value "$n-empty" "$n" ''
done
bad_value proxy-from-host-bits proxy-from 10.0.0.1/8
bad_value proxy-from-host-bits-ipv6 proxy-from 2001:db8::1/32
bad_value proxy-from-33-bits proxy-from 10.0.0.0/33
bad_value proxy-from-129-bits proxy-from 2001:db8::/129
bad_value proxy-from-no-bits proxy-from 10.0.0.0/
bad_value proxy-from-leading-zero-bits proxy-from 10.0.0.0/08
bad_value proxy-from-signed-bits proxy-from 10.0.0.0/+8
bad_value proxy-from-host-name proxy-from localhost
bad_value proxy-from-short-ipv4 proxy-from 10.1
bad_value proxy-from-space proxy-from '10.0.0.0/8, 192.0.2.1'
bad_value proxy-from-empty-item proxy-from '10.0.0.0/8,,192.0.2.1'
bad_value proxy-from-trailing-comma proxy-from '10.0.0.0/8,'
bad_value proxy-from-empty proxy-from ''
# MAX_PROXY_FROM networks are taken, one more is refused.
MAXPF=$(param MAX_PROXY_FROM)
check max-proxy-from-found test -n "$MAXPF"
PF_MAX=$(for k in $(seq "$MAXPF"); do printf '10.0.%d.0/24,' "$k"; done | sed 's/,$//')
conf_file "$T/etc/pf-max.conf" "proxy-from = $PF_MAX"
cc pf-max --config "$T/etc/pf-max.conf"
ran pf-max
shows proxy-from-max-networks pf-max proxy-from "$PF_MAX" "$T/etc/pf-max.conf:4"
bad_value proxy-from-too-many proxy-from "$PF_MAX,10.1.0.0/16"
# "none", the default, said in the file.
conf_file "$T/etc/pf-none.conf" 'proxy-from = none'
cc pf-none --config "$T/etc/pf-none.conf"
ran pf-none
shows proxy-from-none-from-file pf-none proxy-from 'none (no PROXY header trusted)' "$T/etc/pf-none.conf:4"
# The switches take a value only in the file.
for n in tls stderr; do
	for v in maybe 2 'yes please'; do
		bad_line "$n-${v// /-}" "$n = $v" "expected yes or no, not '$v'"
	done
	bad_line "$n-empty" "$n =" "expected yes or no, not ''"
done

# The settings that go together, or are checked once all are known:
# the message names the file's line of each one involved.
f=$T/etc/together.conf
conf_file "$f" 'tls = yes'
refused tls-without-cert "$f" "pop3d: --tls needs --tls-cert and --tls-key (tls at $f:4)"
conf_file "$f" "tls-cert = $T/etc/good.pem"
refused cert-without-key "$f" "pop3d: --tls-cert and --tls-key go together (tls-cert at $f:4)"
conf_file "$f" "tls-key = $T/etc/good.key"
refused key-without-cert "$f" "pop3d: --tls-cert and --tls-key go together (tls-key at $f:4)"
conf_file "$f" "apop = $T/nr/apop" 'auth = checkpassword:/bin/true'
refused apop-with-checkpassword "$f" "pop3d: --apop cannot be used with --auth 'checkpassword' (apop at $f:4) (auth at $f:5)"
# One from the file, one from the command line: only the file's is a line.
conf_file "$f" "tls-cert = $T/etc/good.pem"
refused cert-in-file-tls-on-command-line "$f" "pop3d: --tls-cert and --tls-key go together (tls-cert at $f:4)" --tls
conf_file "$f" 'timeout = 60'
refused command-line-mistake-not-the-files "$f" "pop3d: --tls needs --tls-cert and --tls-key" --tls
# Templates: the command line's words, and the file's line.
for c in "mailbox|$T/nr/mail/%x" "mailbox|$T/nr/mail/%%u" "mailbox|$T/nr/mail/%u%" "index-cache|%h/%x"; do
	IFS='|' read -r n v <<<"$c"
	k=template-$n-${v##*/}; k=${k//%/pct}
	reason=$(cl_reason "$k-cl" "--$n=$v")
	conf_file "$f" "$n = $v"
	if [ -n "$reason" ]; then refused "$k" "$f" "pop3d: $reason ($n at $f:4)"
	else fail "$k" "--$n=$v was not refused on the command line"; fi
done

# ----------------------------------------- which file: --config, $POP3D_CONFIG
run_pop3d --config "$T/etc/missing.conf" <"$T/client.in" >"$T/config-missing.out" 2>"$T/config-missing.err"
echo $? >"$T/config-missing.rc"
refusal_says config-missing "$T/etc/missing.conf" 'No such file or directory'
run_pop3d --config '' <"$T/client.in" >"$T/config-empty.out" 2>"$T/config-empty.err"
echo $? >"$T/config-empty.rc"
refusal config-empty "pop3d: empty configuration file name"
run_pop3d --config <"$T/client.in" >"$T/config-no-value.out" 2>"$T/config-no-value.err"
echo $? >"$T/config-no-value.rc"
refusal config-no-value "pop3d: option needs a value: '--config'"
run_pop3d --config "$T/etc" <"$T/client.in" >"$T/config-directory.out" 2>"$T/config-directory.err"
echo $? >"$T/config-directory.rc"
refusal_says config-directory "$T/etc"
# A missing POP3D_CONFIG file is no file: served as without one.
POP3D_CONFIG=$T/etc/missing.conf pop env-missing -s -p "$T/nr/passwd" -m "$T/nr/mail/%u" <"$T/session.in"
exited env-missing
same env-missing-served "$T/session.exp" "$T/env-missing.out"
POP3D_CONFIG=$T/etc/missing.conf cc env-missing-cc
ran env-missing-cc
shows env-missing-no-file env-missing-cc config 'none (no configuration file read)'
# Present, it is read; --config wins over it, and then it is not read at
# all (not even its mistakes).
conf_file "$T/etc/env.conf" 'timeout = 11'
conf_file "$T/etc/given.conf" 'timeout = 22'
POP3D_CONFIG=$T/etc/env.conf cc env-read
shows env-file-named env-read config "$T/etc/env.conf"
shows env-file-read env-read timeout '11 s' "$T/etc/env.conf:4"
POP3D_CONFIG=$T/etc/env.conf cc env-and-config --config "$T/etc/given.conf"
shows config-beats-env-named env-and-config config "$T/etc/given.conf"
shows config-beats-env-value env-and-config timeout '22 s' "$T/etc/given.conf:4"
POP3D_CONFIG=$T/etc/two-errors.conf cc env-broken-config-given --config "$T/etc/given.conf"
ran env-broken-config-given
POP3D_CONFIG=$T/etc/two-errors.conf run_pop3d <"$T/client.in" >"$T/env-broken.out" 2>"$T/env-broken.err"
echo $? >"$T/env-broken.rc"
refusal env-broken "pop3d: $T/etc/two-errors.conf:4: unknown setting 'bogus'"

# --help and --version answer before any file is read: a broken file
# hides neither.
for o in --help --version; do
	POP3D_CONFIG=$T/etc/two-errors.conf pop "broken-env$o" "$o" </dev/null
	exited "broken-env$o"
	[ -s "$T/broken-env$o.out" ] && pass "broken-env$o-answered" || fail "broken-env$o-answered" "nothing on stdout"
done

# The default, /etc/pop3d/pop3d.conf: in a private mount namespace, /etc
# is an overlay of the real one (which stays as it is), with SRC as its
# pop3d/pop3d.conf, mode MODE ("none": no such file).
# with_etc SRC MODE CMD...: CMD there; status 125 if that failed.
with_etc() {
	local src=$1 mode=$2; shift 2
	rm -rf "$T/ov"; mkdir -p "$T/ov/up" "$T/ov/work"
	unshare -m --propagation private bash -c '
		src=$1 mode=$2 ov=$3; shift 3
		mount -t overlay pop3d-test-etc -o "lowerdir=/etc,upperdir=$ov/up,workdir=$ov/work" /etc 2>/dev/null || exit 125
		# Only ever inside the overlay: the real /etc is not touched.
		[ "$(stat -f -c %T /etc)" = overlayfs ] || exit 125
		rm -rf /etc/pop3d
		if [ "$src" != none ]; then
			mkdir -m 755 /etc/pop3d && cp "$src" /etc/pop3d/pop3d.conf &&
				chmod "$mode" /etc/pop3d/pop3d.conf || exit 125
		fi
		exec "$@"' with-etc "$src" "$mode" "$T/ov" "$@"
}
D=/etc/pop3d/pop3d.conf
if with_etc none 644 true; then
	conf_file "$T/etc/default.conf" 'timeout = 33'
	with_etc "$T/etc/default.conf" 644 env -u POP3D_CONFIG "$POP3D" --check-config >"$T/default.out" 2>"$T/default.err"
	echo $? >"$T/default.rc"
	ran default
	shows default-file-named default config "$D"
	shows default-file-read default timeout '33 s' "$D:4"
	with_etc "$T/etc/default.conf" 644 env POP3D_CONFIG= "$POP3D" --check-config >"$T/default-empty-env.out" 2>"$T/default-empty-env.err"
	echo $? >"$T/default-empty-env.rc"
	shows empty-env-means-default default-empty-env timeout '33 s' "$D:4"
	with_etc none 644 env -u POP3D_CONFIG "$POP3D" --check-config >"$T/default-none.out" 2>"$T/default-none.err"
	echo $? >"$T/default-none.rc"
	ran default-none
	shows default-absent-no-file default-none config 'none (no configuration file read)'
	with_etc "$T/etc/default.conf" 644 env POP3D_CONFIG="$T/etc/env.conf" "$POP3D" --check-config >"$T/default-env.out" 2>"$T/default-env.err"
	echo $? >"$T/default-env.rc"
	shows env-instead-of-default default-env timeout '11 s' "$T/etc/env.conf:4"
	with_etc "$T/etc/default.conf" 644 env -u POP3D_CONFIG "$POP3D" --check-config --config "$T/etc/given.conf" >"$T/default-config.out" 2>"$T/default-config.err"
	echo $? >"$T/default-config.rc"
	shows config-instead-of-default default-config timeout '22 s' "$T/etc/given.conf:4"
	# A real session, as nobody, from the default file alone.
	with_etc "$T/nr/pop3d.conf" 644 env -u POP3D_CONFIG "${RUNAS[@]}" "$POP3D" <"$T/session.in" >"$T/default-session.out" 2>"$T/default-session.err"
	echo $? >"$T/default-session.rc"
	exited default-session
	same default-session-transcript "$T/session.exp" "$T/default-session.out"
	# Present but writable by others: refused, not skipped.
	with_etc "$T/etc/default.conf" 666 env -u POP3D_CONFIG "$POP3D" <"$T/client.in" >"$T/default-hostile.out" 2>"$T/default-hostile.err"
	echo $? >"$T/default-hostile.rc"
	refusal_says default-hostile "$D is writable by group or others (mode 0666): chmod go-w $D"
else
	echo "note: no overlay mount over /etc here; the default file is not checked"
fi

# ------------------------------------------- files others could change
# Started as root (root mode), from a pipe.  The same settings in a file
# root alone can write serve the session; anywhere else they are refused,
# with what to fix, before the client gets a byte.
printf 'privsep-dir = %s\nstderr = yes\n' "$T/empty" >"$T/root.conf-text"
root_run() {	# root_run NAME FILE: pop3d --config FILE as root
	"$POP3D" --config "$2" <"$T/client.in" >"$T/$1.out" 2>"$T/$1.err"
	echo $? >"$T/$1.rc"
}
cp "$T/root.conf-text" "$T/etc/root.conf"; chmod 644 "$T/etc/root.conf"
root_run root-good "$T/etc/root.conf"
exited root-good
answer_is root-good-served root-good 1 '+OK POP3 server ready'
F=$T/etc/h-owner.conf
cp "$T/root.conf-text" "$F"; chmod 644 "$F"; chown nobody "$F"
root_run hostile-owner "$F"
refusal_says hostile-owner "$F is owned by uid $NU" "chown root $F"
for m in 664 646 666 620; do
	F=$T/etc/h-$m.conf
	cp "$T/root.conf-text" "$F"; chmod "$m" "$F"
	root_run "hostile-mode-$m" "$F"
	refusal_says "hostile-mode-$m" "$F is writable by group or others (mode 0$m): chmod go-w $F"
done
mkdir -m 755 "$T/nbdir"; chown nobody:nogroup "$T/nbdir"
F=$T/nbdir/pop3d.conf
cp "$T/root.conf-text" "$F"; chmod 644 "$F"
root_run hostile-dir-owner "$F"
refusal_says hostile-dir-owner "directory $T/nbdir on the way to $F is owned by uid $NU" "chown root $T/nbdir, or move the file"
mkdir -m 775 "$T/gwdir"; chgrp nogroup "$T/gwdir"
F=$T/gwdir/pop3d.conf
cp "$T/root.conf-text" "$F"; chmod 644 "$F"
root_run hostile-dir-group-writable "$F"
refusal_says hostile-dir-group-writable "directory $T/gwdir on the way to $F is writable by group or others (mode 0775)" "chmod go-w $T/gwdir"
# Links another user placed: the file named through one, or a directory.
F=$T/etc/h-link.conf
ln -s root.conf "$F"; chown -h nobody:nogroup "$F"
root_run hostile-final-link "$F"
refusal_says hostile-final-link "$F is a symbolic link; name the file itself"
ln -s etc "$T/lnkdir"; chown -h nobody:nogroup "$T/lnkdir"
F=$T/lnkdir/root.conf
root_run hostile-dir-link "$F"
refusal_says hostile-dir-link "symbolic link $T/lnkdir on the way to $F is owned by uid $NU" "chown -h root $T/lnkdir"
# The file POP3D_CONFIG names is judged the same way.
POP3D_CONFIG=$T/etc/h-666.conf "$POP3D" <"$T/client.in" >"$T/hostile-env.out" 2>"$T/hostile-env.err"
echo $? >"$T/hostile-env.rc"
refusal_says hostile-env "chmod go-w $T/etc/h-666.conf"
# --check-config stops there too (status 2, not a list of problems).
"$POP3D" --check-config --config "$T/etc/h-666.conf" >"$T/hostile-cc.out" 2>"$T/hostile-cc.err"
echo $? >"$T/hostile-cc.rc"
refusal_says hostile-cc "chmod go-w $T/etc/h-666.conf"
# Pipe mode: the running account's own file or root's, nobody else's.
F=$T/etc/h-daemon.conf
cp "$T/nr/pop3d.conf" "$F"; chmod 644 "$F"; chown daemon "$F"
run_pop3d --config "$F" <"$T/client.in" >"$T/hostile-pipe.out" 2>"$T/hostile-pipe.err"
echo $? >"$T/hostile-pipe.rc"
refusal_says hostile-pipe "$F is owned by uid $(id -u daemon)" "chown root $F"

# ------------------------------------------- started by a super-server
# As options.sh does: a socket pair as descriptors 0, 1 and 2, and a
# /dev/log of the test's own (with_devlog, tests/lib.sh).  The client
# must get nothing, the message must reach syslog.
SYSLOG=no
if syslog_listen sys; then
	if with_devlog "$T/sys.sock" true; then SYSLOG=yes
	else kill "$SYSLOG_PID"; echo "note: no private mount namespace here; syslog receipt not checked"; fi
fi
inetd() {	# inetd NAME INPUT ARGS...: $T/NAME.rc, $T/NAME.got
	local name=$1 in=$2; shift 2
	if [ "$SYSLOG" = yes ]; then
		inetd_run "$in" "$T/with-devlog" "$T/sys.sock" "${RUNAS[@]}" "$POP3D" "$@"
	else
		inetd_run "$in" "${RUNAS[@]}" "$POP3D" "$@"
	fi >"$T/$name.res" 2>"$T/$name.err"
	sed -n 1p "$T/$name.res" >"$T/$name.rc"
	sed -n 2p "$T/$name.res" >"$T/$name.got"
}
silent() {	# silent NAME: status 2, the client got nothing
	equal "$1-exit-status" 2 "$(cat "$T/$1.rc")"
	equal "$1-client-got-nothing" "b''" "$(cat "$T/$1.got")"
}
syslogged() {	# syslogged CHECK TEXT: a syslog line ends with TEXT
	[ "$SYSLOG" = yes ] || return 0
	local _
	for _ in $(seq 50); do grep -qF -- "$2" "$T/sys.log" && break; sleep 0.02; done
	if grep -qE -- "pop3d\[[0-9]+\]: local: " "$T/sys.log" && grep -qF -- "$2" "$T/sys.log"; then pass "$1"
	else fail "$1" "no syslog line with '$2': $(tail -n 3 "$T/sys.log" | tr '\n' ' ')"; fi
}
inetd inetd-bad-line "$T/client.in" --config "$T/etc/unknown-name.conf"
silent inetd-bad-line
syslogged inetd-bad-line-syslog "local: $T/etc/unknown-name.conf:4: unknown setting 'bogus'; not started"
inetd inetd-bad-value "$T/client.in" --config "$T/etc/timeout-abc.conf"
silent inetd-bad-value
syslogged inetd-bad-value-syslog "local: $T/etc/timeout-abc.conf:4: invalid timeout (1 to 86400 seconds): 'abc'; not started"
inetd inetd-nul "$T/client.in" --config "$T/etc/nul.conf"
silent inetd-nul
syslogged inetd-nul-syslog "local: configuration file: $T/etc/nul.conf:4: a NUL byte (not a text file); not started"
inetd inetd-hostile "$T/client.in" --config "$T/etc/h-666.conf"
silent inetd-hostile
syslogged inetd-hostile-syslog "chmod go-w $T/etc/h-666.conf; not started"
inetd inetd-missing "$T/client.in" --config "$T/etc/missing.conf"
silent inetd-missing
syslogged inetd-missing-syslog "$T/etc/missing.conf: No such file or directory; not started"
conf_file "$T/etc/inetd-tls.conf" 'tls = yes'
inetd inetd-together "$T/client.in" --config "$T/etc/inetd-tls.conf"
silent inetd-together
syslogged inetd-together-syslog "local: --tls needs --tls-cert and --tls-key (tls at $T/etc/inetd-tls.conf:4); not started"
# A relative template is refused under a super-server: in the file too.
conf_file "$T/etc/inetd-rel.conf" "passwd = $T/nr/passwd" 'mailbox = mail/%u'
inetd inetd-relative-mailbox "$T/client.in" --config "$T/etc/inetd-rel.conf"
silent inetd-relative-mailbox
syslogged inetd-relative-mailbox-syslog "'mail/%u' (mailbox at $T/etc/inetd-rel.conf:5); not started"
# Through POP3D_CONFIG as well (xinetd's env =, a unit's Environment=).
POP3D_CONFIG=$T/etc/unknown-name.conf inetd inetd-env "$T/client.in"
silent inetd-env
# And a good file serves the session, its log in syslog.
conf_file "$T/etc/inetd-good.conf" "passwd = $T/nr/passwd" "mailbox = $T/nr/mail/%u"
inetd inetd-good "$T/session.in" --config "$T/etc/inetd-good.conf"
equal inetd-good-exit-status 0 "$(cat "$T/inetd-good.rc")"
equal inetd-good-served "$(python3 -c 'import sys; print(repr(open(sys.argv[1], "rb").read()))' "$T/session.exp")" \
	"$(cat "$T/inetd-good.got")"
syslogged inetd-good-login-syslog "local: login: user=alice messages=1 octets=$OCTETS maildrop=$T/nr/mail/alice"
[ "$SYSLOG" = yes ] && kill "$SYSLOG_PID"

# ------------------------------------------------ the shipped file
# etc/pop3d.conf as installed: root's, 0644.
SHIPPED=$T/etc/shipped.conf
cp "$TOP/etc/pop3d.conf" "$SHIPPED"; chmod 644 "$SHIPPED"
cc shipped --config "$SHIPPED"
ran shipped
shows shipped-read shipped config "$SHIPPED"
if grep -q '  \[' "$T/shipped.out"; then fail shipped-sets-nothing "$(grep '  \[' "$T/shipped.out" | head -n 3 | tr '\n' ' ')"
else pass shipped-sets-nothing; fi
# It names every setting, as a commented "name = " line.
missing=
while read -r n; do
	grep -qE "^#[[:space:]]*$n = " "$SHIPPED" || missing="$missing $n"
done <"$T/settable"
equal shipped-names-every-setting "" "$missing"
# Its "#name = value" lines are the defaults: uncommented, the file still
# parses, each is read from its line, and every value shown is the one
# shown without any file.
UNC=$T/etc/uncommented.conf
sed -E 's/^#([a-z][a-z-]* = )/\1/' "$SHIPPED" >"$UNC"; chmod 644 "$UNC"
grep -nE '^[a-z][a-z-]* = ' "$UNC" >"$T/uncommented.lines"
check shipped-has-default-lines test "$(wc -l <"$T/uncommented.lines")" -ge 10
cc uncommented --config "$UNC"
ran uncommented
while IFS=: read -r l text; do
	k=${text%% = *}
	if grep -qE "^  $k +.*  \[$UNC:$l\]\$" "$T/uncommented.out"; then pass "uncommented-$k-read"
	else fail "uncommented-$k-read" "line $l not shown as the source of $k: $(grep -E "^  $k " "$T/uncommented.out")"; fi
done <"$T/uncommented.lines"
cc no-file
ran no-file
shows no-file-read-none no-file config 'none (no configuration file read)'
# The values, without the source column and the config line.
values() { grep -v '^  config ' "$T/$1.out" | sed -E 's/  \[[^]]*\]$//'; }
values no-file >"$T/no-file.values"
values uncommented >"$T/uncommented.values"
same uncommented-values-are-the-defaults "$T/no-file.values" "$T/uncommented.values"
exit 0

#!/usr/bin/env bash
# tests/e2e/checkconfig.sh - pop3d --check-config, the real binary with a
# session's options and no client:
#  - a clean configuration: exit status 0, no "error:" line, the settings;
#  - root mode (started as root): each problem on its own "error:" line
#    naming the file (and the line) and what to do, exit status 1: a
#    group/world-writable password file, one in a directory others can
#    write, one not owned by root, a malformed line 7 after the user's
#    entry on line 2, a template without %u, a missing maildrop
#    directory, a key that does not match the certificate, an expired
#    certificate, a privsep directory others can write;
#  - a certificate that expires in 3 days: a "warning:" line, exit 0;
#  - pipe mode (run as nobody): the user's own files are trusted, files
#    others can write are not;
#  - the back ends: a missing PAM service file (warning), PAM in pipe mode
#    (warning), a checkpassword program missing, not executable, not
#    root's or writable by others (errors); --first-uid in the settings
#    and entries below it (warning).
# Certificates are made here with openssl (EC keys: fast); the expired
# one by `openssl ca -startdate/-enddate` with dates in the past.
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "checkconfig.sh needs root (root-mode rules, chown); skipped"
	exit 0
fi
# Root mode's rules: everything on the way to the files is root's.
chown root:root "$T"
command -v openssl >/dev/null || sh "$TOP/tests/apt-install.sh" openssl
getent passwd pop3d >/dev/null ||
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pop3d

NU=$(id -u nobody) NG=$(id -g nobody)
H=$(mkhash secret)
mkdir -m 755 "$T/etc" "$T/empty"
mkdir -m 2775 "$T/spool"; chgrp mail "$T/spool"
good_passwd() {	# good_passwd FILE: alice on line 2, root's, 0600
	{ echo '# pop3d users'; printf 'alice:%s:%s:%s::/nonexistent\n' "$H" "$NU" "$NG"; } >"$1"
	chown root:root "$1"; chmod 600 "$1"
}
good_passwd "$T/etc/passwd"
BASE=(-p "$T/etc/passwd" -m "$T/spool/%u" -C "$T/empty")

# cc NAME ARGS...: pop3d --check-config ARGS as root; stdout, stderr and
# the exit status in $T/NAME.{out,err,rc}.
cc() {
	local name=$1; shift
	LAST=$name
	"$POP3D" --check-config "$@" >"$T/$name.out" 2>"$T/$name.err"
	echo $? >"$T/$name.rc"
}
# reports CHECK STATUS KIND REGEX: the last cc ended with STATUS and one
# KIND ("error" or "warning") line matches REGEX.
reports() {
	local rc f=$T/$LAST; rc=$(cat "$f.rc")
	if [ "$rc" = 98 ] || [ "$rc" = 99 ] || grep -qE "$SAN_RE" "$f.err"; then
		fail "$1" "sanitizer report: $(grep -m1 -E "$SAN_RE" "$f.err")"
	elif [ "$rc" != "$2" ]; then
		fail "$1" "exit status $rc, expected $2; stderr: $(head -c 400 "$f.err" | tr '\n' ' ')"
	elif ! grep -qE -- "^$3: $4" "$f.err"; then
		fail "$1" "no '$3:' line matching '$4'; stderr: $(head -c 400 "$f.err" | tr '\n' ' ')"
	else
		pass "$1"
	fi
}
no_errors() {	# no_errors NAME: not one "error:" line
	if grep -q '^error:' "$T/$1.err"; then fail "$1-no-error-lines" "$(grep -m1 '^error:' "$T/$1.err")"
	else pass "$1-no-error-lines"; fi
}

# ------------------------------------------------------------ certificates

cert() {	# cert NAME DAYS: a self-signed EC certificate and its key
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-days "$2" -subj /CN=localhost -keyout "$T/etc/$1.key" \
		-out "$T/etc/$1.pem" >/dev/null 2>&1
	chmod 600 "$T/etc/$1.key"
}
cert good 90
cert other 90
cert soon 3
mkdir "$T/ca"; : >"$T/ca/index.txt"; echo 01 >"$T/ca/serial"
cat >"$T/ca.cnf" <<EOF
[ca]
default_ca = d
[d]
database = $T/ca/index.txt
new_certs_dir = $T/ca
serial = $T/ca/serial
default_md = sha256
policy = p
[p]
commonName = supplied
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
	-keyout "$T/etc/old.key" -out "$T/old.csr" >/dev/null 2>&1
openssl ca -batch -config "$T/ca.cnf" -selfsign -keyfile "$T/etc/old.key" -in "$T/old.csr" \
	-out "$T/etc/old.pem" -startdate 20200101000000Z -enddate 20200201000000Z >/dev/null 2>&1
chmod 600 "$T/etc/old.key"
for c in good other soon old; do
	[ -s "$T/etc/$c.pem" ] || fail "cert-$c-made" "openssl made no certificate"
done

# ------------------------------------------------------------ clean

cc clean "${BASE[@]}" -c "$T/etc/good.pem" -k "$T/etc/good.key"
equal clean-exit-status 0 "$(cat "$T/clean.rc")"
no_errors clean
if grep -q "passwd .*$T/etc/passwd (1 entry)" "$T/clean.out" &&
	grep -q "mailbox .*$T/spool/%u" "$T/clean.out" &&
	grep -q 'mode .*root' "$T/clean.out"; then pass clean-prints-settings
else fail clean-prints-settings "$(tr '\n' ' ' <"$T/clean.out")"; fi
# Every setting is shown, -s too (a configuration file can set it).
grep -qx '  stderr           no' "$T/clean.out" && pass clean-shows-stderr ||
	fail clean-shows-stderr "$(grep '^  stderr' "$T/clean.out")"
cc clean-s "${BASE[@]}" -s
grep -qx '  stderr           yes  \[command line\]' "$T/clean-s.out" && pass stderr-shown-with-source ||
	fail stderr-shown-with-source "$(grep '^  stderr' "$T/clean-s.out")"

# ------------------------------------------- part A: files others can write

chmod 664 "$T/etc/passwd"
cc group-writable "${BASE[@]}"
reports passwd-group-writable 1 error "refusing password file $T/etc/passwd: .*writable by group or others.*chmod go-w $T/etc/passwd"
chmod 606 "$T/etc/passwd"
cc world-writable "${BASE[@]}"
reports passwd-world-writable 1 error "refusing password file $T/etc/passwd: .*chmod go-w"
chmod 600 "$T/etc/passwd"

mkdir -m 755 "$T/open"; chmod 777 "$T/open"; good_passwd "$T/open/passwd"
cc open-dir -p "$T/open/passwd" -m "$T/spool/%u" -C "$T/empty"
reports passwd-in-others-writable-dir 1 error "refusing password file $T/open/passwd: directory $T/open .*chmod go-w $T/open"

chown nobody "$T/etc/passwd"
cc not-root "${BASE[@]}"
reports passwd-not-root-owned 1 error "refusing password file $T/etc/passwd: .*owned by uid $NU, not root.*chown root $T/etc/passwd"
good_passwd "$T/etc/passwd"

# ------------------------------------------- part B: the other checks

{ cat "$T/etc/passwd"; printf 'bob:%s:%s:%s\n' "$H" "$NU" "$NG"; echo '#'; echo; echo '# more'
  printf 'dave:%s:1x:%s\n' "$H" "$NG"; } >"$T/etc/passwd7"
chmod 600 "$T/etc/passwd7"
cc line7 -p "$T/etc/passwd7" -m "$T/spool/%u" -C "$T/empty"
reports malformed-line-7-after-user 1 error "password file $T/etc/passwd7 line 7: bad uid field"
n=$(grep -c '^error:' "$T/line7.err")
equal malformed-line-7-only-error 1 "$n"

cc no-u -p "$T/etc/passwd" -m "$T/spool/shared" -C "$T/empty"
reports template-without-u 1 error "mailbox template $T/spool/shared \(-m\) has no %u"

cc no-dir -p "$T/etc/passwd" -m "$T/nospool/%u" -C "$T/empty"
reports maildrop-dir-missing 1 error "maildrop directory $T/nospool \(of user alice, from $T/nospool/%u\) does not exist: create it"

mkdir -m 755 "$T/rootonly"
cc no-create -p "$T/etc/passwd" -m "$T/rootonly/%u" -C "$T/empty"
reports maildrop-dir-not-writable-by-user 1 error "user alice cannot create $T/rootonly/alice.lock"

cc mismatch "${BASE[@]}" -c "$T/etc/good.pem" -k "$T/etc/other.key"
reports key-cert-mismatch 1 error "TLS certificate $T/etc/good.pem \(-c\) with key $T/etc/other.key \(-k\) is not usable"
if grep -qiE '^error: .*(key values mismatch|private key)' "$T/mismatch.err"; then pass key-cert-mismatch-says-why
else fail key-cert-mismatch-says-why "$(tr '\n' ' ' <"$T/mismatch.err")"; fi

chmod 640 "$T/etc/good.key"
cc key-readable "${BASE[@]}" -c "$T/etc/good.pem" -k "$T/etc/good.key"
reports key-readable-by-group 1 error "TLS key $T/etc/good.key is accessible by group or others.*chmod 600"
chmod 600 "$T/etc/good.key"

cc expired "${BASE[@]}" -c "$T/etc/old.pem" -k "$T/etc/old.key"
reports cert-expired 1 error "TLS certificate $T/etc/old.pem \(-c\) expired on 2020-02-01 00:00:00 UTC"

cc soon "${BASE[@]}" -c "$T/etc/soon.pem" -k "$T/etc/soon.key"
reports cert-expires-in-3-days-warns 0 warning "TLS certificate $T/etc/soon.pem \(-c\) expires within 14 days"
no_errors soon

chmod 777 "$T/empty"
cc privsep-dir "${BASE[@]}"
reports privsep-dir-writable 1 error "privilege separation needs the directory $T/empty, owned by root and writable only by root"
chmod 755 "$T/empty"

cc no-account "${BASE[@]}" -U pop3d-no-such-account
reports privsep-account-missing 1 error 'privilege separation needs the account pop3d-no-such-account'

# Several problems at once: each on its own line.
chmod 666 "$T/etc/passwd"
cc many -p "$T/etc/passwd" -m "$T/spool/shared" -C "$T/empty" -c "$T/etc/old.pem" -k "$T/etc/old.key"
equal several-problems-one-line-each 3 "$(grep -c '^error:' "$T/many.err")"
chmod 600 "$T/etc/passwd"

# ------------------------------------------------------------- pipe mode
# As nobody: nobody's own files and directories are trusted too (nobody
# could edit them anyway); still nobody else may write them.

mkdir -m 755 "$T/nb" "$T/nb/mail"; chown nobody "$T/nb" "$T/nb/mail"
good_passwd "$T/nb/passwd"; chown nobody "$T/nb/passwd"
"${RUNAS[@]}" "$POP3D" --check-config -p "$T/nb/passwd" -m "$T/nb/mail/%u" >"$T/pipe.out" 2>"$T/pipe.err"
echo $? >"$T/pipe.rc"
equal pipe-mode-own-files-exit-0 0 "$(cat "$T/pipe.rc")"
no_errors pipe
grep -q 'mode .*pipe' "$T/pipe.out" && pass pipe-mode-said || fail pipe-mode-said "$(tr '\n' ' ' <"$T/pipe.out")"
chmod 620 "$T/nb/passwd"
"${RUNAS[@]}" "$POP3D" --check-config -p "$T/nb/passwd" -m "$T/nb/mail/%u" >"$T/pipe-w.out" 2>"$T/pipe-w.err"
echo $? >"$T/pipe-w.rc"
LAST=pipe-w
reports pipe-mode-group-writable-refused 1 error "refusing password file $T/nb/passwd: .*chmod go-w"

# And the session itself refuses what the check refuses (pipe mode).
crlf 'USER alice' 'PASS secret' QUIT | "${RUNAS[@]}" "$POP3D" -s -p "$T/nb/passwd" -m "$T/nb/mail/%u" >"$T/pipe-s.out" 2>"$T/pipe-s.err"
case $(sed -n 3p "$T/pipe-s.out" | tr -d '\r') in
'-ERR [SYS/TEMP]'*) pass pipe-session-refuses-writable-passwd ;;
*) fail pipe-session-refuses-writable-passwd "PASS answered '$(sed -n 3p "$T/pipe-s.out")'" ;;
esac
# ------------------------------------------------------------ back ends
# --auth pam: a service without its /etc/pam.d file falls back to
# "other" (Debian: deny) -- a warning; the password file is not read (a
# missing one is no error then).  Pipe mode: PAM checks only pop3d's own
# account.  --auth checkpassword: the program under trust.c's rules, root
# alone trusted; not executable is an error too.  --first-uid: shown, and
# password-file entries below it are warned about.

cc pam-missing -p "$T/etc/no-such-passwd" -m "$T/spool/%u" -C "$T/empty" --auth pam:pop3d-no-such-service
reports pam-service-missing-warns 0 warning "PAM service pop3d-no-such-service \(--auth\): /etc/pam.d/pop3d-no-such-service: .*/etc/pam.d/other, which denies"
no_errors pam-missing
if grep -q 'auth .*pam (service pop3d-no-such-service)' "$T/pam-missing.out" &&
	grep -q 'first-uid .*1000' "$T/pam-missing.out" && ! grep -q '^  passwd ' "$T/pam-missing.out"; then
	pass pam-settings-name-service-and-first-uid
else fail pam-settings-name-service-and-first-uid "$(tr '\n' ' ' <"$T/pam-missing.out")"; fi
if grep -q 'no-such-passwd' "$T/pam-missing.err"; then fail pam-skips-password-file "$(grep -m1 no-such-passwd "$T/pam-missing.err")"
else pass pam-skips-password-file; fi

# /etc/pam.d/other is on every Debian system: a service file that exists.
cc pam-other "${BASE[@]}" --auth pam:other
equal pam-service-present-exit-0 0 "$(cat "$T/pam-other.rc")"
if grep -q 'PAM' "$T/pam-other.err"; then fail pam-service-present-no-warning "$(grep -m1 PAM "$T/pam-other.err")"
else pass pam-service-present-no-warning; fi

"${RUNAS[@]}" "$POP3D" --check-config -m "$T/nb/mail/%u" --auth pam:other >"$T/pam-pipe.out" 2>"$T/pam-pipe.err"
echo $? >"$T/pam-pipe.rc"
LAST=pam-pipe
reports pam-pipe-mode-own-account-only-warns 0 warning "--auth pam without root: PAM \(pam_unix\) can check only the password of the account pop3d runs as \(uid $NU\)"

mkdir -m 755 "$T/bin"
printf '#!/bin/sh\nexit 1\n' >"$T/bin/cp"; chown root:root "$T/bin/cp"; chmod 755 "$T/bin/cp"
cc cp-good -p "$T/etc/no-such-passwd" -m "$T/spool/%u" -C "$T/empty" --auth "checkpassword:$T/bin/cp"
equal checkpassword-good-exit-0 0 "$(cat "$T/cp-good.rc")"
no_errors cp-good
if grep -q "auth .*checkpassword (program $T/bin/cp)" "$T/cp-good.out"; then pass checkpassword-settings-name-program
else fail checkpassword-settings-name-program "$(tr '\n' ' ' <"$T/cp-good.out")"; fi

cc cp-missing "${BASE[@]}" --auth "checkpassword:$T/bin/nothing"
reports checkpassword-missing 1 error "checkpassword program $T/bin/nothing \(--auth\): cannot open $T/bin/nothing"
chmod 644 "$T/bin/cp"
cc cp-noexec "${BASE[@]}" --auth "checkpassword:$T/bin/cp"
reports checkpassword-not-executable 1 error "checkpassword program $T/bin/cp \(--auth\) is not executable \(mode 0644\): chmod 755"
chmod 775 "$T/bin/cp"
cc cp-groupw "${BASE[@]}" --auth "checkpassword:$T/bin/cp"
reports checkpassword-group-writable 1 error "checkpassword program $T/bin/cp \(--auth\): .*writable by group or others.*chmod go-w $T/bin/cp"
chmod 755 "$T/bin/cp"; chown nobody "$T/bin/cp"
cc cp-notroot "${BASE[@]}" --auth "checkpassword:$T/bin/cp"
reports checkpassword-not-root-owned 1 error "checkpassword program $T/bin/cp \(--auth\): .*owned by uid $NU, not root"
chown root "$T/bin/cp"; chmod 777 "$T/bin"
cc cp-opendir "${BASE[@]}" --auth "checkpassword:$T/bin/cp"
reports checkpassword-in-others-writable-dir 1 error "checkpassword program $T/bin/cp \(--auth\): directory $T/bin .*chmod go-w $T/bin"
chmod 755 "$T/bin"

{ cat "$T/etc/passwd"; printf 'sys:%s:500:500::/nonexistent\n' "$H"; } >"$T/etc/passwd-low"
chmod 600 "$T/etc/passwd-low"
cc low-uid -p "$T/etc/passwd-low" -m "$T/spool/%u" -C "$T/empty"
reports first-uid-entry-below-warns 0 warning "password file $T/etc/passwd-low line 3: user sys has uid 500, below --first-uid 1000"
if grep -q 'auth .*file' "$T/low-uid.out" && grep -q 'first-uid .*1000' "$T/low-uid.out"; then pass file-settings-name-auth
else fail file-settings-name-auth "$(tr '\n' ' ' <"$T/low-uid.out")"; fi
cc low-uid-lowered -p "$T/etc/passwd-low" -m "$T/spool/%u" -C "$T/empty" --first-uid 500
equal first-uid-lowered-exit-0 0 "$(cat "$T/low-uid-lowered.rc")"
if grep -q 'first-uid' "$T/low-uid-lowered.err"; then fail first-uid-lowered-no-warning "$(grep -m1 first-uid "$T/low-uid-lowered.err")"
else pass first-uid-lowered-no-warning; fi
grep -q 'first-uid .*500' "$T/low-uid-lowered.out" && pass first-uid-lowered-shown ||
	fail first-uid-lowered-shown "$(tr '\n' ' ' <"$T/low-uid-lowered.out")"
exit 0

#!/usr/bin/env bash
# tests/e2e/sasl.sh - AUTH PLAIN, LOGIN and CRAM-MD5 (sasl.c, through GNU
# SASL) on a loopback listener, systemd-socket-activate --accept --inetd
# as pop3d.socket starts pop3d, in pipe mode (as nobody) and in root mode
# (privilege separation: the exchange in the chrooted pre-login process,
# the check and CRAM-MD5's secret in the root parent).  In each mode:
#  - curl logs in and lists with --login-options AUTH=PLAIN, AUTH=LOGIN
#    and AUTH=CRAM-MD5, and is refused with a wrong password;
#  - GNU SASL's own client (gsasl) answers the CRAM-MD5 challenge;
#  - python3's poplib drives each exchange by hand: initial responses
#    (RFC 5034, "=" empty), the continuation, "*" cancelling at every step
#    of every mechanism (not counted as a failure), bad base64 at every
#    step, a wrong password and an unknown user (each logged with
#    "AUTH MECH failed for user=... auth=file"), an over-long response,
#    the failure limit across mechanisms, and the logout line's auth=;
#  - bare AUTH and CAPA's SASL line list the same mechanisms, those
#    allowed now: PLAIN LOGIN CRAM-MD5 with the secrets file, no
#    CRAM-MD5 without it, only CRAM-MD5 with -L never;
#  - CRAM-MD5's challenge is the greeting's timestamp, new per session.
# Root mode also: strace shows the pre-login process opens no file after
# its chroot (GNU SASL was initialised before).
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] && chown root:root "$T"

cp "$POP3D" "$T/pop3d" && chmod 755 "$T/pop3d" && POP3D=$T/pop3d
PY=/usr/bin/python3
LPID=
trap '[ -n "$LPID" ] && kill "$LPID" 2>/dev/null; rm -rf "$T"' EXIT

for dep in systemd-socket-activate:systemd curl:curl gsasl:gsasl strace:strace; do
	c=${dep%%:*}
	if ! command -v "$c" >/dev/null && [ "$(id -u)" = 0 ]; then
		sh "$TOP/tests/apt-install.sh" "${dep#*:}" >/dev/null 2>&1
	fi
	command -v "$c" >/dev/null || { fail "deps-$c" "not installed (apt-get install ${dep#*:})"; exit 0; }
done

H=$(mkhash secret)
DELAY=$(sed -n 's/^#define AUTH_FAIL_DELAY_MS \([0-9]*\).*/\1/p' "$TOP/params.h")
b64() { printf "$1" | base64 -w0; }
MSG=$'From a@b Sat Jan  1 00:00:00 2000\nSubject: one\n\nbody\n'
SIZE=22	# as LIST counts it: the message without its From line, CRLF

# setup MODE: the password file, the APOP (CRAM-MD5) secrets, the mbox.
setup() {
	local d=$T/$1
	mkdir -p "$d/mail"
	if [ "$1" = root ]; then
		printf 'alice:%s:65534:65534::/nonexistent\n' "$H" >"$d/passwd"
	else
		printf 'alice:%s\n' "$H" >"$d/passwd"
	fi
	printf 'alice:apopsecret\n' >"$d/apop"
	chmod 600 "$d/passwd" "$d/apop"
	printf '%s' "$MSG" >"$d/mail/alice"
	chown nobody:nogroup "$d/mail" "$d/mail/alice"
	[ "$1" = pipe ] && chown nobody:nogroup "$d" "$d/passwd" "$d/apop"
}

# listen MODE ARGS...: a listener on a free port ($PORT) running pop3d
# (as nobody in pipe mode, as root in root mode) with the mode's files and
# ARGS; the log in $T/MODE.log.
listen() {
	local mode=$1 _; shift
	stop
	PORT=$(free_port 21850 21899) || { fail "$mode-port" "no free port in 21850-21899"; return 1; }
	local run=()
	[ "$mode" = pipe ] && run=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	systemd-socket-activate --accept --inetd -E ASAN_OPTIONS -E UBSAN_OPTIONS \
		-l "127.0.0.1:$PORT" "${run[@]}" "$POP3D" -s -p "$T/$mode/passwd" \
		-m "$T/$mode/mail/%u" "$@" 2>>"$T/$mode.log" &
	LPID=$!
	for _ in $(seq 100); do listening "$PORT" && return 0; sleep 0.05; done
	fail "$mode-listens" "nothing listens on $PORT: $(tail -n 3 "$T/$mode.log")"
	return 1
}
stop() { [ -n "$LPID" ] && { kill "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null; }; LPID=; }

# converse NAME CMD...: poplib sends each command and prints each answer
# line (CAPA and bare AUTH: the whole list).  "@CRAM USER SECRET" answers
# the last CRAM-MD5 challenge; "@LONG" sends a 3000-byte response.
converse() {
	local name=$1; shift
	timeout 30 "$PY" - "$PORT" "$@" >"$T/$name.out" 2>&1 <<'EOF'
import base64, hmac, poplib, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=20)
print(p.getwelcome().decode())
last = ""
for cmd in sys.argv[2:]:
    if cmd.startswith("@CRAM "):
        _, user, secret = cmd.split(" ")
        chal = base64.b64decode(last[2:])
        dig = hmac.new(secret.encode(), chal, "md5").hexdigest()
        cmd = base64.b64encode(f"{user} {dig}".encode()).decode()
    elif cmd == "@LONG":
        cmd = "A" * 3000
    try:
        if cmd in ("CAPA", "AUTH"):
            resp, lines, _ = p._longcmd(cmd)
            print(resp.decode())
            for l in lines:
                print(l.decode())
            print(".")
            continue
        p._putcmd(cmd)
        line, _ = p._getline()
        last = line.decode()
        print(last)
    except (EOFError, OSError, poplib.error_proto) as e:
        print("closed:", e)
        break
EOF
}

# expect NAME LINE...: the conversation's answers, line by line (globs:
# a literal [ is written \[).
expect() {
	local name=$1 i=1 want got; shift
	for want in "$@"; do
		got=$(sed -n "${i}p" "$T/$name.out")
		# shellcheck disable=SC2254
		case $got in $want) ;; *) fail "$name" "line $i: expected '$want', got '$got'; log: $(tail -n 2 "$T/$MODE.log" | tr '\n' ' ')"; return ;; esac
		i=$((i + 1))
	done
	if [ "$(wc -l <"$T/$name.out")" -ne $((i - 1)) ]; then
		fail "$name" "$(wc -l <"$T/$name.out") lines, expected $((i - 1)): $(tr '\n' '|' <"$T/$name.out")"
	else pass "$name"; fi
}
logged() {	# logged NAME ERE: the mode's log has a matching line
	if grep -qE -- "$2" "$T/$MODE.log"; then pass "$1"; else fail "$1" "no log line '$2': $(tail -n 3 "$T/$MODE.log" | tr '\n' ' ')"; fi
}
mark() { MARK=$(wc -l <"$T/$MODE.log"); }
nolog() {	# nolog NAME ERE: no log line since mark matches
	local l; l=$(tail -n +$((MARK + 1)) "$T/$MODE.log" | grep -m1 -E -- "$2")
	if [ -n "$l" ]; then fail "$1" "log line '$l'"; else pass "$1"; fi
}

GREET='+OK POP3 server ready <*>'
GREET0='+OK POP3 server ready'
LOGIN='+OK maildrop has 1 message (* octets)'
FAIL='-ERR \[AUTH\] authentication failed'
CANCEL='-ERR authentication cancelled'
B64='-ERR invalid base64 in authentication data'
BYE='+OK pop3d signing off*'
U=VXNlcm5hbWU6 P=UGFzc3dvcmQ6
GOOD=$(b64 '\0alice\0secret')
A=$(b64 alice) S=$(b64 secret)

for MODE in pipe root; do
	if [ "$MODE" = root ] && { [ "$(id -u)" != 0 ] || ! id pop3d >/dev/null 2>&1 || [ ! -d /var/lib/pop3d/empty ]; }; then
		fail root-mode-available "needs root, the pop3d account and /var/lib/pop3d/empty (tests/setup-deps.sh)"
		continue
	fi
	setup "$MODE"
	M=$MODE
	listen "$MODE" -a "$T/$MODE/apop" || continue

	# ---------------------------------------------------------- curl
	for mech in PLAIN LOGIN CRAM-MD5; do
		p=secret; [ "$mech" = CRAM-MD5 ] && p=apopsecret
		out=$(timeout 20 curl -s "pop3://127.0.0.1:$PORT/" --login-options "AUTH=$mech" -u "alice:$p" 2>&1 | tr -d '\r')
		if [ "$out" = "1 $SIZE" ]; then pass "$M-curl-$mech"; else fail "$M-curl-$mech" "got '$out'"; fi
		timeout 20 curl -s "pop3://127.0.0.1:$PORT/" --login-options "AUTH=$mech" -u "alice:wrong" >/dev/null 2>&1
		rc=$?
		if [ "$rc" = 67 ]; then pass "$M-curl-$mech-wrong-password-refused"; else fail "$M-curl-$mech-wrong-password-refused" "curl exit $rc, not 67 (login denied)"; fi
	done
	logged "$M-curl-cram-logout-auth" 'logout: user=alice .*auth=cram-md5'
	logged "$M-curl-login-logout-auth" 'logout: user=alice .*auth=login'
	logged "$M-wrong-login-logged" 'AUTH LOGIN failed for user=alice auth=file'
	logged "$M-wrong-cram-logged" 'AUTH CRAM-MD5 failed for user=alice auth=file: wrong CRAM-MD5 digest'

	# ---------------------------------------- gsasl's CRAM-MD5 client
	converse "$M-gsasl-chal" 'AUTH CRAM-MD5' '*'
	chal=$(sed -n '2s/^+ //p' "$T/$M-gsasl-chal.out")
	resp=$(printf '%s\n' "$chal" | timeout 10 gsasl --client --mechanism CRAM-MD5 \
		--authentication-id alice --password apopsecret --quiet 2>/dev/null | sed '/^$/d' | tail -n 1)
	want=$(printf '%s' "$chal" | base64 -d | "$PY" -c 'import hmac,sys; print(hmac.new(b"apopsecret", sys.stdin.buffer.read(), "md5").hexdigest())')
	if [ "$(printf '%s' "$resp" | base64 -d 2>/dev/null)" = "alice $want" ]; then pass "$M-gsasl-cram-response"
	else fail "$M-gsasl-cram-response" "gsasl answered '$resp' to '$chal'"; fi
	# The challenge is the greeting's timestamp (which gsasl answered).
	ts=$(sed -n '1s/.*\(<.*>\).*/\1/p' "$T/$M-gsasl-chal.out")
	equal "$M-cram-challenge-is-the-timestamp" "$ts" "$(printf '%s' "$chal" | base64 -d)"
	converse "$M-chal2" 'AUTH CRAM-MD5' '*'
	chal2=$(sed -n '2s/^+ //p' "$T/$M-chal2.out")
	if [ -n "$chal2" ] && [ "$chal2" != "$chal" ]; then pass "$M-cram-challenge-new-per-session"
	else fail "$M-cram-challenge-new-per-session" "'$chal' then '$chal2'"; fi

	# ------------------------------------------------ by hand: logins
	converse "$M-plain-ir" "AUTH PLAIN $GOOD" QUIT
	expect "$M-plain-ir" "$GREET" "$LOGIN" "$BYE"
	converse "$M-plain-continued" 'AUTH PLAIN' "$GOOD" QUIT
	expect "$M-plain-continued" "$GREET" '+ ' "$LOGIN" "$BYE"
	converse "$M-login-steps" 'AUTH LOGIN' "$A" "$S" QUIT
	expect "$M-login-steps" "$GREET" "+ $U" "+ $P" "$LOGIN" "$BYE"
	converse "$M-login-ir" "AUTH login $A" "$S" QUIT
	expect "$M-login-ir" "$GREET" "+ $P" "$LOGIN" "$BYE"
	converse "$M-cram" 'AUTH CRAM-MD5' '@CRAM alice apopsecret' QUIT
	expect "$M-cram" "$GREET" '+ *' "$LOGIN" "$BYE"

	# ----------------------------------- cancel at every step: no failure
	mark
	converse "$M-cancel" 'AUTH PLAIN *' 'AUTH PLAIN' '*' 'AUTH LOGIN *' 'AUTH LOGIN' '*' \
		'AUTH LOGIN' "$A" '*' "AUTH LOGIN $A" '*' 'AUTH CRAM-MD5' '*' 'AUTH CRAM-MD5 *' \
		"AUTH PLAIN $GOOD" QUIT
	expect "$M-cancel" "$GREET" "$CANCEL" '+ ' "$CANCEL" "$CANCEL" "+ $U" "$CANCEL" \
		"+ $U" "+ $P" "$CANCEL" "+ $P" "$CANCEL" '+ *' "$CANCEL" "$CANCEL" "$LOGIN" "$BYE"
	nolog "$M-cancel-not-a-failure" 'failed|too many'
	logged "$M-cancel-logged" 'AUTH LOGIN cancelled by the client'

	# --------------------------------------- bad base64 at every step
	converse "$M-badb64" 'AUTH PLAIN !!!!' 'AUTH PLAIN' 'YWI' 'AUTH LOGIN =A==' 'AUTH LOGIN' 'a b' \
		"AUTH LOGIN $A" 'YQ==YQ==' 'AUTH CRAM-MD5' '####' "AUTH PLAIN $GOOD" QUIT
	expect "$M-badb64" "$GREET" "$B64" '+ ' "$B64" "$B64" "+ $U" "$B64" "+ $P" "$B64" '+ *' "$B64" "$LOGIN" "$BYE"
	logged "$M-badb64-logged" 'AUTH CRAM-MD5 failed: invalid base64'

	# ----------------------------- malformed, empty, the listing, long
	converse "$M-malformed" 'AUTH PLAIN =' "AUTH PLAIN $(b64 'bob\0alice\0secret')" 'AUTH LOGIN =' \
		'AUTH LOGIN' "$A" '' "AUTH CRAM-MD5 $(b64 'alice x')" 'AUTH CRAM-MD5' "$(b64 'alice 0123')" \
		'AUTH LOGIN' '@LONG' "AUTH PLAIN $GOOD" QUIT
	expect "$M-malformed" "$GREET" '-ERR \[AUTH\] malformed PLAIN credentials' "$FAIL" \
		'-ERR \[AUTH\] malformed LOGIN credentials' "+ $U" "+ $P" '-ERR \[AUTH\] malformed LOGIN credentials' \
		'-ERR \[AUTH\] malformed CRAM-MD5 credentials' '+ *' '-ERR \[AUTH\] malformed CRAM-MD5 credentials' \
		"+ $U" '-ERR line too long' "$LOGIN" "$BYE"
	logged "$M-proxy-login-logged" 'AUTH PLAIN failed for user=alice: proxy login'
	logged "$M-too-long-logged" 'AUTH LOGIN failed: response too long'

	converse "$M-list" CAPA AUTH QUIT
	expect "$M-list" "$GREET" '+OK capability list follows' TOP UIDL USER RESP-CODES AUTH-RESP-CODE \
		PIPELINING 'EXPIRE NEVER' 'UTF8 USER' 'SASL PLAIN LOGIN CRAM-MD5' . '+OK mechanisms follow' PLAIN LOGIN CRAM-MD5 . "$BYE"

	# --------------------- wrong password, unknown user, the limit
	converse "$M-wrong" "AUTH PLAIN $(b64 '\0alice\0nope')" 'AUTH LOGIN' "$(b64 nobody-here)" "$S" \
		'AUTH CRAM-MD5' '@CRAM alice wrong' QUIT
	expect "$M-wrong" "$GREET" "$FAIL" "+ $U" "+ $P" "$FAIL" '+ *' \
		'-ERR \[AUTH\] too many failures, closing connection' 'closed:*'
	logged "$M-unknown-user-logged" 'AUTH LOGIN failed for user=nobody-here auth=file'
	logged "$M-limit-logged" 'too many authentication failures'
	converse "$M-cram-unknown" 'AUTH CRAM-MD5' '@CRAM carol apopsecret' QUIT
	expect "$M-cram-unknown" "$GREET" '+ *' "$FAIL" "$BYE"
	# The failure's answer waits for its deadline (AUTH_FAIL_DELAY_MS),
	# as for PASS: for each mechanism, the session with one failure
	# takes at least the delay.
	for m in "PLAIN $(b64 '\0alice\0wrong')" "LOGIN $A $(b64 wrong)" 'CRAM-MD5 @CRAM alice wrong'; do
		set -- $m
		t0=$(date +%s%N)
		if [ "$1" = PLAIN ]; then converse "$M-delay-$1" "AUTH PLAIN $2" QUIT
		elif [ "$1" = LOGIN ]; then converse "$M-delay-$1" 'AUTH LOGIN' "$2" "$3" QUIT
		else converse "$M-delay-$1" 'AUTH CRAM-MD5' "$2 $3 $4" QUIT; fi
		el=$((($(date +%s%N) - t0) / 1000000))
		if grep -qF -- '-ERR [AUTH] authentication failed' "$T/$M-delay-$1.out" && [ "$el" -ge "$DELAY" ]; then
			pass "$M-$1-failure-delayed"
		else fail "$M-$1-failure-delayed" "$el ms (delay $DELAY ms): $(tr '\n' '|' <"$T/$M-delay-$1.out")"; fi
	done

	# --------------------------------- other policies: what is offered
	listen "$MODE" || continue
	converse "$M-no-secrets" CAPA AUTH 'AUTH CRAM-MD5' QUIT
	expect "$M-no-secrets" "$GREET0" '+OK capability list follows' TOP UIDL USER RESP-CODES AUTH-RESP-CODE \
		PIPELINING 'EXPIRE NEVER' 'UTF8 USER' 'SASL PLAIN LOGIN' . '+OK mechanisms follow' PLAIN LOGIN . \
		'-ERR unsupported authentication mechanism' "$BYE"
	listen "$MODE" -L never -a "$T/$MODE/apop" || continue
	converse "$M-never" CAPA AUTH "AUTH LOGIN $A" 'AUTH CRAM-MD5' '@CRAM alice apopsecret' QUIT
	expect "$M-never" "$GREET" '+OK capability list follows' TOP UIDL RESP-CODES AUTH-RESP-CODE \
		PIPELINING 'EXPIRE NEVER' 'UTF8 USER' 'SASL CRAM-MD5' . '+OK mechanisms follow' CRAM-MD5 . \
		'-ERR plaintext login is disabled; use APOP' '+ *' "$LOGIN" "$BYE"
	logged "$M-never-refusal-logged" 'AUTH LOGIN refused: plaintext login is disabled'
	listen "$MODE" -L never || continue
	converse "$M-never-none" CAPA AUTH QUIT
	expect "$M-never-none" "$GREET0" '+OK capability list follows' TOP UIDL RESP-CODES AUTH-RESP-CODE \
		PIPELINING 'EXPIRE NEVER' 'UTF8 USER' . '+OK mechanisms follow' . "$BYE"
	stop

	if grep -qE "$SAN_RE" "$T/$MODE.log"; then fail "$M-no-sanitizer-report" "$(grep -m1 -E "$SAN_RE" "$T/$MODE.log")"
	else pass "$M-no-sanitizer-report"; fi
done

# ------------------------------- root mode: no file after the chroot
if [ "$(id -u)" = 0 ] && id pop3d >/dev/null 2>&1; then
	MODE=root
	crlf 'AUTH CRAM-MD5' '' "AUTH LOGIN $A" "$S" QUIT >"$T/strace.in"
	strace -f -qq -e trace=chroot,open,openat,execve -o "$T/strace.out" \
		"$POP3D" -s -p "$T/root/passwd" -m "$T/root/mail/%u" -a "$T/root/apop" \
		<"$T/strace.in" >"$T/strace.ans" 2>"$T/strace.err"
	if grep -q '+OK maildrop has 1 message' "$T/strace.ans"; then pass root-strace-login
	else fail root-strace-login "$(tr '\r\n' '  ' <"$T/strace.ans")"; fi
	# The pre-login process: the pid that chrooted.  After its chroot it
	# may open nothing (GNU SASL, libc and the checker's channel alike).
	pre=$(awk '/chroot\(/ { print $1; exit }' "$T/strace.out")
	after=$(awk -v p="$pre" '$1 == p && seen && /open/ { print } $1 == p && /chroot\(/ { seen = 1 }' "$T/strace.out")
	if [ -z "$pre" ]; then fail root-strace-prelogin-found "no chroot in $(head -c 300 "$T/strace.out")"
	elif [ -n "$after" ]; then fail root-strace-no-open-after-chroot "$(printf '%s' "$after" | head -n 3 | tr '\n' ' ')"
	else pass root-strace-no-open-after-chroot; fi
fi

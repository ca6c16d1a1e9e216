#!/usr/bin/env bash
# tests/e2e/demo.sh - the README's first command, "make demo", up to its
# pipe session (DEMO_PIPE_ONLY=1): run in a copy of the tree with the
# binaries under test, as CI runs it (root, where the demo user is mapped
# to nobody and privilege separation is on), it must log alice in and
# retrieve message 1.  (The loopback listener after it runs until Ctrl-C.)
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] && chown root:root "$T"
export ASAN_OPTIONS="${ASAN_OPTIONS}:detect_leaks=0"
mkdir "$T/src"
( cd "$TOP" && cp -r demo "$T/src/" ) && rm -rf "$T/src/demo/run"
cp "$POP3D" "$T/src/pop3d"; cp "$POP3PASSWD" "$T/src/pop3passwd"
( cd "$T/src" && DEMO_PIPE_ONLY=1 sh demo/run-demo.sh ) >"$T/demo.out" 2>"$T/demo.err"
equal demo-exit-status 0 "$?"
if grep -q '^+OK maildrop has 3 messages' "$T/demo.out"; then pass demo-login
else fail demo-login "$(grep -a -m 3 -E '^[-+]|refus' "$T/demo.out" "$T/demo.err" | tr '\n' ' ')"; fi
if grep -q '^+OK pop3d signing off' "$T/demo.out" && grep -q 'logout: user=alice auth=pass tls=none retr=1/' "$T/demo.err"; then pass demo-retrieved
else fail demo-retrieved "$(tail -n 2 "$T/demo.err" | tr '\n' ' ')"; fi
if grep -qaE "$SAN_RE" "$T/demo.err"; then fail demo-sanitizer "$(grep -a -m1 -E "$SAN_RE" "$T/demo.err")"; else pass demo-sanitizer; fi
# The command the README prints works as printed.
cmd=$(grep -m1 "^    printf 'USER alice" -A1 "$TOP/README.md" | tr -d '\n' | sed 's/|[[:space:]]*/| /')
( cd "$T/src" && eval "$cmd" ) >"$T/readme.out" 2>"$T/readme.err"
if grep -q '^+OK maildrop has 3 messages' "$T/readme.out"; then pass readme-demo-command
else fail readme-demo-command "'$cmd': $(head -c 300 "$T/readme.err")"; fi
exit 0

#!/usr/bin/env bash
# Runs every end-to-end script in tests/e2e/ against the binaries in $1 and
# prints the totals as "N passed, N failed".
set -u
BIN=$(cd "${1:?usage: e2e.sh BINDIR}" && pwd)
export BIN
cd "$(dirname "$0")/.."
passed=0 failed=0
for t in tests/e2e/*.sh; do
	out=$(bash "$t" 2>&1)
	rc=$?
	printf '%s\n' "$out" | grep -E '^(PASS|FAIL) ' | sed "s|^|$(basename "$t" .sh): |"
	p=$(printf '%s\n' "$out" | grep -c '^PASS ')
	f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
	if [ "$rc" -ne 0 ]; then
		echo "$(basename "$t" .sh): FAIL script exited with status $rc"
		printf '%s\n' "$out" | grep -vE '^(PASS|FAIL) ' | tail -20
		f=$((f + 1))
	elif [ "$f" -gt 0 ]; then
		printf '%s\n' "$out" | grep -vE '^(PASS|FAIL) ' | tail -20
	fi
	passed=$((passed + p)); failed=$((failed + f))
done
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

#!/usr/bin/env bash
# Runs every end-to-end script in tests/e2e/ against the binaries in $1 and
# prints the totals as "N passed, N failed".
#
# The scripts run E2E_JOBS at a time (default 2): most of their time is
# spent waiting on deadlines and timeouts, not computing.  They share
# nothing but the machine: each has its own scratch directory and finds
# free ports at run time; tests/lib.sh serialises the creation of system
# users and tests/apt-install.sh that of packages.  Scripts named in
# SERIAL (timing.sh compares response times) run alone, after the rest.
# Each script's lines are printed when it ends, with its duration.
set -u
BIN=$(cd "${1:?usage: e2e.sh BINDIR}" && pwd)
export BIN
cd "$(dirname "$0")/.."
JOBS=${E2E_JOBS:-2}
SERIAL=" timing timing-auth "
OUT=$(mktemp -d /tmp/pop3d-e2e-run.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

run_one() {
	local t=$1 name start rc
	name=$(basename "$t" .sh)
	start=$(date +%s)
	bash "$t" >"$OUT/$name.out" 2>&1
	rc=$?
	echo "$rc $(($(date +%s) - start))" >"$OUT/$name.rc"
}

passed=0 failed=0
report() {
	local name=$1 rc secs out p f
	read -r rc secs <"$OUT/$name.rc"
	out=$(cat "$OUT/$name.out")
	printf '%s\n' "$out" | grep -E '^(PASS|FAIL) ' | sed "s|^|$name: |"
	p=$(printf '%s\n' "$out" | grep -c '^PASS ')
	f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
	if [ "$rc" -ne 0 ]; then
		echo "$name: FAIL script exited with status $rc"
		printf '%s\n' "$out" | grep -vE '^(PASS|FAIL) ' | tail -20
		f=$((f + 1))
	elif [ "$f" -gt 0 ]; then
		printf '%s\n' "$out" | grep -vE '^(PASS|FAIL) ' | tail -20
	fi
	echo "$name: $p passed, $f failed, $secs s"
	passed=$((passed + p)); failed=$((failed + f))
}

# Reports the scripts that ended, in the order they end.
declare -A running=()
reap() {
	local n
	for n in "${!running[@]}"; do
		if [ -e "$OUT/$n.rc" ]; then
			wait "${running[$n]}" 2>/dev/null
			unset "running[$n]"
			report "$n"
		fi
	done
}

serial=()
for t in tests/e2e/*.sh; do
	name=$(basename "$t" .sh)
	case $SERIAL in *" $name "*) serial+=("$t"); continue ;; esac
	while [ "${#running[@]}" -ge "$JOBS" ]; do
		wait -n 2>/dev/null || true
		reap
	done
	run_one "$t" &
	running[$name]=$!
done
while [ "${#running[@]}" -gt 0 ]; do
	wait -n 2>/dev/null || true
	reap
done
for t in "${serial[@]}"; do
	run_one "$t"
	report "$(basename "$t" .sh)"
done
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

#!/bin/sh
# fuzz/run.sh MODE SECONDS NAME...  - runs the libFuzzer harnesses built
# in build/fuzz (by make fuzz / make fuzz-check) and prints one summary
# line each: executions, rate, coverage, corpus size, memory.
#
#   fuzz   fuzzes each harness for SECONDS over fuzz/corpus/NAME; new
#          inputs are kept in build/fuzz/corpus-NAME (so the repository
#          stays clean and later runs go on from there), crashes, leaks
#          and timeouts in build/fuzz/artifacts/NAME-*.
#   check  runs every committed input of fuzz/corpus/NAME (regression
#          tests), then fuzzes from there for SECONDS with a fixed seed,
#          new inputs thrown away.
# Exits non-zero if any harness found something; its log is printed.
set -u

mode=$1
secs=$2
shift 2
dir=build/fuzz
mkdir -p "$dir/artifacts"
failed=0

for name in "$@"; do
	bin=$dir/fuzz_$name
	corpus=fuzz/corpus/$name
	log=$dir/$name.log
	set -- -timeout=10 -max_total_time="$secs" -print_final_stats=1 \
	    -dict=fuzz/$name.dict -artifact_prefix="$dir/artifacts/$name-"
	[ "$name" = passwd ] && set -- "$@" -max_len=16384
	# libFuzzer checks -max_total_time only between inputs and -timeout
	# only per input: a harness that slows down input after input runs
	# past both, so the whole run has a hard bound of its own.
	bound=$((secs * 2 + 300))
	if [ "$mode" = fuzz ]; then
		work=$dir/corpus-$name
		mkdir -p "$work"
		timeout -k 10 "$bound" "$bin" "$@" "$work" "$corpus" >"$log" 2>&1
		r=$?
	else
		work=$(mktemp -d)
		timeout -k 10 "$bound" "$bin" "$@" -seed=1 "$work" "$corpus" \
		    >"$log" 2>&1
		r=$?
		rm -rf "$work"
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	cov=$(printf '%s\n' "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(printf '%s\n' "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	if [ "$r" -eq 0 ]; then
		printf 'fuzz_%-8s ok: %s execs in %ss (%s/s), cov %s ft %s, ' \
		    "$name" "${execs:-?}" "$secs" "${rate:-?}" "${cov:-?}" \
		    "${ft:-?}"
		printf 'corpus %s, rss %s MB\n' "${corp:-?}" "${rss:-?}"
	else
		failed=1
		[ "$r" -eq 124 ] && echo "fuzz_$name did not finish in" \
		    "${bound}s" >&2
		echo "fuzz_$name FAILED (exit $r); log $log:" >&2
		grep -v -e '^INFO:' -e '^#' "$log" | head -n 60 >&2
		ls "$dir/artifacts/$name-"* 2>/dev/null | sed 's/^/  input: /' >&2
	fi
done
exit $failed

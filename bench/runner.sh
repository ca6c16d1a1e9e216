#!/usr/bin/env bash
# bench/runner.sh - the inner loop of bench/run.sh: runs one measurement of a
# POP3 server, already under the identity and environment the server needs
# (run.sh starts it through setpriv and env -i), so that neither setpriv,
# env nor this shell's start-up is inside the timed interval.
#
#   runner.sh time   CMDFILE -- SERVER ARGS...   one session: cat CMDFILE |
#                    server | cat >/dev/null; prints the elapsed microseconds
#   runner.sh tiny   CMDFILE COUNT -- SERVER...  COUNT back-to-back sessions,
#                    each with the (small) command file as a here-string (a
#                    pipe since bash 5.1: Dovecot's stdin must be pollable)
#                    and the output to /dev/null; prints elapsed microseconds
#   runner.sh verify CMDFILE LOGFILE RSSFILE CHECKER -- SERVER...  one
#                    session whose replies go to CHECKER (bench/pop3check with
#                    its options), under /usr/bin/time -f %M (the peak RSS in
#                    KiB goes to RSSFILE); the server's stderr goes to LOGFILE
#
# The timed sessions send the server's stderr to /dev/null.
set -u
mode=$1 cmd=$2
shift 2
us() { local t=${1/./}; echo $((10#$t)); }
case $mode in
time)
	[ "$1" = -- ] && shift
	t0=$EPOCHREALTIME
	cat "$cmd" | "$@" 2>/dev/null | cat >/dev/null
	t1=$EPOCHREALTIME
	echo $(($(us "$t1") - $(us "$t0")))
	;;
tiny)
	count=$1
	shift 2
	input=$(cat "$cmd")$'\n'
	t0=$EPOCHREALTIME
	for ((i = 0; i < count; i++)); do
		"$@" <<<"$input" >/dev/null 2>&1
	done
	t1=$EPOCHREALTIME
	echo $(($(us "$t1") - $(us "$t0")))
	;;
verify)
	log=$1 rss=$2 checker=$3
	shift 4
	# shellcheck disable=SC2086 # CHECKER is a command with options
	cat "$cmd" | /usr/bin/time -f %M -o "$rss" "$@" 2>"$log" | $checker "$cmd"
	;;
*)
	echo "runner.sh: unknown mode $mode" >&2
	exit 2
	;;
esac

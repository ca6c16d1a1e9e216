#!/usr/bin/env bash
# tests/e2e/timing.sh - a wrong password, an unknown user and a locked
# account take the same time (SPEC section 6: "Unknown users cost the same
# crypt(3) time as known ones"; section 5: "the same answer, after the same
# time").  Benchmark-style: the series are measured in one run, interleaved,
# and compared with each other, never with an absolute time.
#
# Each login is one session: USER, PASS (a wrong password), QUIT.  The time
# is taken from PASS sent to the -ERR [AUTH] answer received, by a Perl
# client (IPC::Open2, Time::HiRes).  Every round runs one session of each
# series, in random order, started STAGGER (0.15) s apart: their failure
# delays overlap, their hash computations do not (a small machine would
# otherwise time CPU contention); ROUNDS (default 30) rounds a run.  The answer includes the fixed
# delay after a first failure (AUTH_FAIL_DELAY_MS in params.h); the medians
# are compared on the work beyond it:
#   |median_a - median_b| <= max(15% of the larger work, 8 ms)
# (8 ms: the jitter of medians of 30 sessions on a small 2-CPU machine;
# a missing dummy hash for unknown users costs a yescrypt, about 15 ms).
# Runs: sha512-crypt ($6$, rounds=5000) and yescrypt ($y$), all users of a
# run with the same scheme.  A control run shows that the measurement sees
# a difference where there is one: a user whose hash costs 200,000 rounds
# against an unknown user (the dummy hash is the file's first usable one).
. "$(dirname "$0")/../lib.sh"

ROUNDS=${ROUNDS:-30}
STAGGER=${STAGGER:-0.15}
DELAY=$(sed -n 's/^#define AUTH_FAIL_DELAY_MS \([0-9]*\).*/\1/p' "$TOP/params.h")
DELAY=${DELAY:-500}
mkdir "$T/mail"
own "$T/mail"

cat >"$T/timing.pl" <<'EOF'
# timing.pl ROUNDS STAGGER LABEL:USER:PASSWORD... -- COMMAND...: prints, per
# series, "LABEL MEDIAN_MS COUNT ERRORS".
use strict;
use warnings;
use IPC::Open2;
use POSIX ();
use List::Util qw(shuffle);
use Time::HiRes qw(time);

my $rounds = shift @ARGV;
my $stagger = shift @ARGV;
my @series;
push @series, [split /:/, shift(@ARGV), 3] while @ARGV && $ARGV[0] ne '--';
shift @ARGV;
my @cmd = @ARGV;

# One session; the milliseconds PASS took, or a negative error code.
sub login {
	my ($user, $pw) = @_;
	my $pid = open2(my $r, my $w, @cmd);
	binmode $r;
	select((select($w), $| = 1)[0]);
	my $l = <$r>;
	return -1 unless defined $l && $l =~ /^\+OK/;
	print $w "USER $user\r\n";
	$l = <$r>;
	return -1 unless defined $l && $l =~ /^\+OK/;
	my $t = time;
	print $w "PASS $pw\r\n";
	$l = <$r>;
	my $ms = (time - $t) * 1000;
	return -2 unless defined $l && $l =~ /^-ERR \[AUTH\] /;
	print $w "QUIT\r\n";
	1 while <$r>;
	close $w;
	close $r;
	waitpid($pid, 0);
	return $? ? -3 : $ms;
}

my (@ms, @err);
for my $round (1 .. $rounds) {
	my %kids;
	my $k = 0;
	for my $i (shuffle(0 .. $#series)) {
		my $wait = $stagger * $k++;
		pipe(my $from, my $to) or die;
		my $pid = fork;
		die unless defined $pid;
		if (!$pid) {
			close $from;
			select undef, undef, undef, $wait;
			my $v = login(@{$series[$i]}[1, 2]);
			syswrite $to, "$v\n";
			POSIX::_exit(0);
		}
		close $to;
		$kids{$i} = [$pid, $from];
	}
	for my $i (keys %kids) {
		my ($pid, $from) = @{$kids{$i}};
		my $v = <$from>;
		waitpid($pid, 0);
		$v = -4 unless defined $v;
		if ($v < 0) { $err[$i]++ } else { push @{$ms[$i]}, $v + 0 }
	}
}
for my $i (0 .. $#series) {
	my @v = sort { $a <=> $b } @{$ms[$i] || []};
	my $med = !@v ? -1 : @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
	printf "%s %.2f %d %d\n", $series[$i][0], $med, scalar @v, $err[$i] || 0;
}
EOF

# measure RUN SERIES...: the medians of one run in $T/RUN.res.
measure() {
	local run=$1; shift
	perl "$T/timing.pl" "$ROUNDS" "$STAGGER" "$@" -- "${RUNAS[@]}" "$POP3D" -s \
		-p "$T/$run.passwd" -m "$T/mail/%u" >"$T/$run.res" 2>>"$T/$run.err"
}
med() { awk -v l="$2" '$1 == l { print $2 }' "$T/$1.res"; }

# all_ran RUN: every session of every series got its -ERR [AUTH] and ended
# well; no sanitizer report.
all_ran() {
	local bad
	bad=$(awk -v n="$ROUNDS" '$3 != n || $4 != 0 { printf "%s: %d measured, %d errors; ", $1, $3, $4 }' "$T/$1.res")
	if grep -qaE "$SAN_RE" "$T/$1.err"; then
		fail "$1-sessions" "sanitizer: $(grep -a -m1 -E "$SAN_RE" "$T/$1.err")"
	elif [ -n "$bad" ] || [ ! -s "$T/$1.res" ]; then
		fail "$1-sessions" "${bad:-no results}"
	else
		pass "$1-sessions ($ROUNDS rounds)"
	fi
}

# alike CHECK RUN A B: the two series' medians agree within the margin.
alike() {
	local a b
	a=$(med "$2" "$3") b=$(med "$2" "$4")
	if [ -z "$a" ] || [ -z "$b" ]; then fail "$1" "no medians"; return; fi
	if perl -e 'my ($a, $b, $d) = @ARGV;
		my $work = ($a > $b ? $a : $b) - $d;
		my $m = 0.15 * $work; $m = 8 if $m < 8;
		exit(abs($a - $b) <= $m ? 0 : 1)' "$a" "$b" "$DELAY"; then
		pass "$1 ($3 ${a} ms, $4 ${b} ms)"
	else
		fail "$1" "$3 ${a} ms, $4 ${b} ms: differ by more than max(15% of the work beyond the ${DELAY} ms delay, 8 ms)"
	fi
}

# passwd_file RUN SETTING: five users with the same scheme and cost (a salt
# each), a locked account; all with password "secret".
passwd_file() {
	local u i=0
	: >"$T/$1.passwd"
	for u in alice bob carol dave erin; do
		i=$((i + 1))
		printf '%s:%s\n' "$u" "$(mkhash secret "${2/SALT/Salt${i}xyzSalt${i}xyz}")" >>"$T/$1.passwd"
	done
	printf 'locked:*%s\n' "$(mkhash secret "${2/SALT/LockedSaltLocked}")" >>"$T/$1.passwd"
	own "$T/$1.passwd"
}

for run in sha512 yescrypt; do
	case $run in
	sha512) setting='$6$rounds=5000$SALT$' prefix='$6$rounds=5000$' ;;
	yescrypt) setting='$y$j9T$SALT$' prefix='$y$j9T$' ;;
	esac
	passwd_file "$run" "$setting"
	if [ "$(grep -c -F ":$prefix" "$T/$run.passwd")" != 5 ]; then
		fail "$run-hashes" "could not make $run hashes: $(head -n 2 "$T/$run.passwd" | tr '\n' ' ')"
		continue
	fi
	measure "$run" unknown:nosuchuser:wrongpw wrong:carol:wrongpw locked:locked:wrongpw
	all_ran "$run"
	alike "$run-unknown-vs-wrong-password" "$run" unknown wrong
	alike "$run-locked-vs-wrong-password" "$run" locked wrong
	alike "$run-unknown-vs-locked" "$run" unknown locked
done

# Control: a real difference (a 200,000-round hash against the dummy's
# 5,000 rounds) is seen, so the checks above can fail.
cp "$T/sha512.passwd" "$T/control.passwd"
printf 'slow:%s\n' "$(mkhash secret '$6$rounds=200000$SlowSaltSlowSalt$')" >>"$T/control.passwd"
own "$T/control.passwd"
ROUNDS=${CONTROL_ROUNDS:-8} measure control unknown:nosuchuser:wrongpw slow:slow:wrongpw
u=$(med control unknown) s=$(med control slow)
if [ -n "$u" ] && [ -n "$s" ] && perl -e 'exit($ARGV[1] - $ARGV[0] > 15 ? 0 : 1)' "$u" "$s"; then
	pass "control-difference-detected (unknown $u ms, 200000-round user $s ms)"
else
	fail "control-difference-detected" "unknown ${u:-?} ms, 200000-round user ${s:-?} ms: the measurement cannot see a hash-cost difference"
fi
exit 0

# tests/timing.pl - the client of tests/e2e/timing.sh and timing-auth.sh.
# timing.pl ROUNDS STAGGER LABEL:USER:PASSWORD:ARGS... -- COMMAND...: one
# session per series and round, COMMAND followed by the series' ARGS
# (split at spaces); prints "ROUND LABEL MS" or "ROUND LABEL ERROR CODE".
use strict;
use warnings;
use IPC::Open2;
use POSIX ();
use List::Util qw(shuffle);
use Time::HiRes qw(time);

my $rounds = shift @ARGV;
my $stagger = shift @ARGV;
my @series;
push @series, [split /:/, shift(@ARGV), 4] while @ARGV && $ARGV[0] ne '--';
shift @ARGV;
my @cmd = @ARGV;

sub login {
	my ($user, $pw, $args) = @_;
	my $pid = open2(my $r, my $w, @cmd, split(/ /, $args));
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

$| = 1;
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
			my $v = login(@{$series[$i]}[1, 2, 3]);
			syswrite $to, "$v\n";
			POSIX::_exit(0);
		}
		close $to;
		$kids{$i} = [$pid, $from];
	}
	for my $i (sort keys %kids) {
		my ($pid, $from) = @{$kids{$i}};
		my $v = <$from>;
		waitpid($pid, 0);
		$v = -4 unless defined $v;
		chomp $v;
		if ($v < 0) { print "$round $series[$i][0] ERROR $v\n" }
		else { printf "%d %s %.3f\n", $round, $series[$i][0], $v }
	}
}

# tests/timing-compare.pl - the medians of tests/timing.pl's output.
# timing-compare.pl RAW DELAY A B: prints "MEDIAN_A MEDIAN_B PAIRED_DIFF
# MARGIN TENTH": the medians, the median over the rounds that measured
# both of (A - B), max(15% of the larger median beyond DELAY, 8 ms), and
# 10% of the larger median.
use strict;
use warnings;
my ($raw, $delay, $la, $lb) = @ARGV;
my %v;
open(my $f, '<', $raw) or die "$raw: $!";
while (<$f>) {
	my ($round, $label, $ms) = split;
	$v{$label}{$round} = $ms if $ms ne 'ERROR';
}
sub median {
	my @s = sort { $a <=> $b } @_;
	return undef unless @s;
	return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}
my @both = grep { exists $v{$lb}{$_} } keys %{$v{$la} || {}};
exit 1 unless @both;
my $ma = median(values %{$v{$la}});
my $mb = median(values %{$v{$lb}});
my $md = median(map { $v{$la}{$_} - $v{$lb}{$_} } @both);
my $big = $ma > $mb ? $ma : $mb;
my $margin = 0.15 * ($big - $delay);
$margin = 8 if $margin < 8;
printf "%.2f %.2f %.2f %.2f %.2f\n", $ma, $mb, $md, $margin, 0.10 * $big;

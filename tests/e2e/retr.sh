#!/usr/bin/env bash
# tests/e2e/retr.sh - RETR and TOP byte for byte against the stored
# messages, for an LF mbox and a CRLF mbox: dot lines, >From quoting,
# "From " inside a body, empty bodies, header-only and empty messages, long
# lines, 8-bit bytes and NUL, a last message without a final newline.  The
# expected bytes are computed independently from the message files: CRLF
# line ends, byte-stuffing, ".\r\n".  LIST sizes must equal the unstuffed
# octet counts.  A 50 MB message is streamed exactly with a small RSS.
. "$(dirname "$0")/../lib.sh"

# ------------------------------------------------------------- helpers

# expected FILE K: what pop3d must send after "+OK" for the stored message
# in FILE: every line with CRLF (a missing final newline added), for K >= 0
# only the header, the blank line and K body lines (TOP), byte-stuffed, then
# ".\r\n".  With K = size, prints the unstuffed octet count of the whole
# message instead (its LIST size).
expected() {
	perl -e '
		my ($file, $k) = @ARGV;
		open(F, "<", $file) or die "$file: $!"; binmode F; binmode STDOUT;
		local $/; my $d = <F>;
		my @l = $d =~ /[^\n]*\n|[^\n]+\z/g;
		my $blank;
		for my $i (0 .. $#l) {
			$blank = $i if !defined $blank && $l[$i] =~ /^\r?\n\z/;
			$l[$i] =~ s/\r?\n\z//;
			$l[$i] .= "\r\n";
		}
		if ($k eq "size") { my $n = 0; $n += length for @l; print $n; exit }
		splice(@l, $blank + 1 + $k) if $k >= 0 && defined $blank && $blank + 1 + $k < @l;
		s/^\./../ for @l;
		print @l, ".\r\n";' "$@"
}

# split_responses OUT DIR CMD...: cuts the transcript OUT of a session that
# sent CMD... after the greeting into DIR/I.status (the first line of the
# I-th response) and DIR/I.data (the rest of a multi-line response).
split_responses() {
	perl -e '
		my ($out, $dir, @cmds) = @ARGV;
		open(F, "<", $out) or die; binmode F;
		local $/ = "\r\n";
		my $greeting = <F>;
		my $i = 0;
		for my $c (@cmds) {
			$i++;
			my $st = <F>;
			last unless defined $st;
			open(S, ">", "$dir/$i.status") or die; binmode S; print S $st; close S;
			open(D, ">", "$dir/$i.data") or die; binmode D;
			if ($st =~ /^\+OK/ && $c =~ /^(RETR |TOP |LIST$|UIDL$|CAPA$)/i) {
				while (defined(my $l = <F>)) { print D $l; last if $l eq ".\r\n"; }
			}
			close D;
		}' "$@"
}

# status_is CHECK FILE REGEX: the status line in FILE matches REGEX.
status_is() {
	if [ -f "$2" ] && grep -qE "$3" "$2"; then pass "$1"
	else fail "$1" "status line '$(tr -d '\r\n' <"$2" 2>/dev/null)' does not match /$3/"; fi
}

H=$(mkhash secret)
printf 'alice:%s\n' "$H" >"$T/passwd"
mkdir "$T/mail"
own "$T/passwd" "$T/mail"
POP=(-s -p "$T/passwd" -m "$T/mail/%u")

# --------------------------------------------------------- the messages

mkdir -p "$T/lf" "$T/crlf"
perl -e '
	my $dir = shift;
	my @m = (
		"Message-ID: <dots\@example.org>\nSubject: dots\n\n.\n..\n...\n.leading dot\n .space then dot\ntext\n.\nend.\n",
		"Date: Mon, 1 Jan 2024 10:00:00 +0000\nSubject: quoting\n\n>From the quoted line\n>>From twice quoted\nFrom unquoted, after a non-blank line\n From with a leading space\nFromage is no separator\n",
		"Subject: empty body\n\n",
		"Subject: header only\nX-Note: no blank line, no body\n",
		"Subject: long lines\n\n" . ("L" x 102400) . "\n." . ("D" x 102399) . "\nshort\n",
		"Subject: trailing blank lines\n\nlast text\n\n\n",
		"Subject: mixed line ends\r\nX-A: b\n\r\nbody crlf\r\nbody lf\n",
		"Subject: bytes\n\nnul\0byte \xff\xfe high\n\ttab line\n",
		"",
		"Subject: top\nX-More: header\n\nb1\n.b2\n\nb4\n",
		"Subject: last\n\nline\nno newline at the end",
	);
	for my $i (0 .. $#m) {
		open(F, ">", sprintf("%s/%02d", $dir, $i + 1)) or die; binmode F;
		print F $m[$i]; close F;
	}' "$T/lf"
msgs=("$T"/lf/*)
N=${#msgs[@]}
# The CRLF copies: every LF becomes CRLF (lines already CRLF stay so).
for f in "$T"/lf/*; do perl -0777 -pe 's/\r?\n/\r\n/g' "$f" >"$T/crlf/${f##*/}"; done

# mkmbox DIR EOL: the mbox of DIR's messages, each after a From_ line and
# followed by the separating empty line (none after the last message, which
# has no final newline).
mkmbox() {
	local f
	for f in "$1"/*; do
		printf '%s%s' "$FROM" "$2"
		cat "$f"
		[ "${f##*/}" = "$(printf '%02d' "$N")" ] || printf '%s' "$2"
	done
}
mkmbox "$T/lf" $'\n' >"$T/mail/alice"
mkmbox "$T/crlf" $'\r\n' >"$T/mail/crlfuser"
printf 'crlfuser:%s\n' "$H" >>"$T/passwd"
own "$T/mail/alice" "$T/mail/crlfuser"

# ------------------------------------------------- RETR / TOP / LIST

for kind in lf crlf; do
	user=alice; [ "$kind" = crlf ] && user=crlfuser
	cmds=(STAT LIST)
	for n in $(seq "$N"); do cmds+=("LIST $n" "RETR $n" "TOP $n 0" "TOP $n 1" "TOP $n 1000"); done
	cmds+=(QUIT)
	crlf "USER $user" 'PASS secret' "${cmds[@]}" | pop "$kind" "${POP[@]}"
	exited "$kind"
	mkdir "$T/$kind.r"
	split_responses "$T/$kind.out" "$T/$kind.r" "USER $user" 'PASS secret' "${cmds[@]}"
	r=$T/$kind.r
	total=0
	i=4	# responses 1-2 are USER/PASS, 3 STAT, 4 LIST
	for n in $(seq "$N"); do
		msg=$T/$kind/$(printf '%02d' "$n")
		size=$(expected "$msg" size)
		total=$((total + size))
		status_is "$kind-list-$n-size" "$r/$((i + 1)).status" "^\+OK $n $size"$'\r$'
		status_is "$kind-retr-$n-ok" "$r/$((i + 2)).status" '^\+OK'
		expected "$msg" -1 >"$T/exp"
		same "$kind-retr-$n-bytes" "$T/exp" "$r/$((i + 2)).data"
		for k in 0 1 1000; do
			j=$((i + 3 + (k == 0 ? 0 : k == 1 ? 1 : 2)))
			expected "$msg" "$k" >"$T/exp"
			if grep -q '^+OK' "$r/$j.status" 2>/dev/null; then
				same "$kind-top-$n-$k" "$T/exp" "$r/$j.data"
			else
				fail "$kind-top-$n-$k" "reply: $(tr -d '\r\n' <"$r/$j.status" 2>/dev/null)"
			fi
		done
		i=$((i + 5))
	done
	status_is "$kind-stat-total" "$r/3.status" "^\+OK $N $total"$'\r$'
	status_is "$kind-list-total" "$r/4.status" '^\+OK'
	# LIST without argument: the same sizes, in order.
	for n in $(seq "$N"); do echo "$n $(expected "$T/$kind/$(printf '%02d' "$n")" size)"; done |
		sed 's/$/\r/' >"$T/exp"
	echo $'.\r' >>"$T/exp"
	same "$kind-list-all" "$T/exp" "$r/4.data"
done

# The same messages give the same bytes whichever line ends they are stored
# with (message 7 mixes both and is the same in either file already).
if cmp -s <(sed -n '/^+OK 1 /,$p' "$T/lf.out") <(sed -n '/^+OK 1 /,$p' "$T/crlf.out"); then
	pass lf-crlf-same-output
else
	fail lf-crlf-same-output "the LF and CRLF maildrops gave different transcripts"
fi

# -------------------------- CRLF straddling pop3d's 1 MiB read blocks
# mbox_send reads 1 MiB (MBOX_BLOCK_SIZE) blocks from the message start.
# Message 1: its header ends exactly so that the blank line's CR is the
# last byte of the first block and its LF the first of the next.  Message
# 2: a header line's own CRLF is split that way.
perl -e '
	my ($dir, $from) = @ARGV;
	my $B = 1024 * 1024;
	my @m = (
		"X-Big: " . ("a" x ($B - 10)) . "\r\n" . "\r\nbody 1\r\n.body 2\r\n",
		"X-Big: " . ("b" x ($B - 8)) . "\r\n" . "X-After: 1\r\n\r\nbody 1\r\nbody 2\r\n",
	);
	open(M, ">", "$dir/mail/bigcr") or die; binmode M;
	for my $i (0, 1) {
		open(F, ">", "$dir/big$i") or die; binmode F; print F $m[$i]; close F;
		print M "$from\r\n", $m[$i], "\r\n";
	}' "$T" "$FROM"
printf 'bigcr:%s\n' "$H" >>"$T/passwd"
own "$T/mail/bigcr"
cmds=('RETR 1' 'TOP 1 0' 'TOP 1 1' 'RETR 2' 'TOP 2 0' QUIT)
crlf 'USER bigcr' 'PASS secret' "${cmds[@]}" | pop bigcr "${POP[@]}"
exited bigcr
mkdir "$T/bigcr.r"
split_responses "$T/bigcr.out" "$T/bigcr.r" 'USER bigcr' 'PASS secret' "${cmds[@]}"
expected "$T/big0" -1 >"$T/exp"; same straddle-blank-retr "$T/exp" "$T/bigcr.r/3.data"
expected "$T/big0" 0 >"$T/exp"; same straddle-blank-top-0 "$T/exp" "$T/bigcr.r/4.data"
expected "$T/big0" 1 >"$T/exp"; same straddle-blank-top-1 "$T/exp" "$T/bigcr.r/5.data"
expected "$T/big1" -1 >"$T/exp"; same straddle-crlf-retr "$T/exp" "$T/bigcr.r/6.data"
expected "$T/big1" 0 >"$T/exp"; same straddle-crlf-top-0 "$T/exp" "$T/bigcr.r/7.data"

# ----------------------------------------------------- a 50 MB message
# Varied lines: dot lines, CRLF lines, and lines over 1 MiB (longer than
# pop3d's scan and read blocks).  Streamed exactly, with a small RSS.
perl -e '
	my $file = shift;
	open(F, ">", $file) or die; binmode F;
	print F "Subject: fifty megabytes\nMessage-ID: <big\@example.org>\n\n";
	my ($n, $i, $s) = (0, 0, 1);
	while ($n < 50 * 1024 * 1024) {
		$s = ($s * 1103515245 + 12345) % 2147483648;
		my $len = $i % 997 == 0 ? 1500000 + $s % 300000 : $s % 300;
		my $line = ($s % 5 == 0 ? "." : "") . chr(65 + $i % 26) x $len;
		$line = "From the middle of a line" if $s % 101 == 0;
		$line .= $s % 7 == 0 ? "\r\n" : "\n";
		print F $line;
		$n += length $line;
		$i++;
	}
	close F;' "$T/fifty"
{ printf '%s\n' "$FROM"; cat "$T/fifty"; } >"$T/mail/fifty"
printf 'fifty:%s\n' "$H" >>"$T/passwd"
own "$T/mail/fifty"
if ! command -v /usr/bin/time >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y time >/dev/null 2>&1
fi
TIME=(); [ -x /usr/bin/time ] && TIME=(/usr/bin/time -f %M -o "$T/fifty.rss")
crlf 'USER fifty' 'PASS secret' 'LIST 1' 'RETR 1' QUIT |
	"${TIME[@]}" "${RUNAS[@]}" "$POP3D" "${POP[@]}" >"$T/fifty.out" 2>"$T/fifty.err"
echo $? >"$T/fifty.rc"
exited fifty
mkdir "$T/fifty.r"
split_responses "$T/fifty.out" "$T/fifty.r" 'USER fifty' 'PASS secret' 'LIST 1' 'RETR 1' QUIT
status_is fifty-list-size "$T/fifty.r/3.status" "^\+OK 1 $(expected "$T/fifty" size)"$'\r$'
expected "$T/fifty" -1 >"$T/exp"
same fifty-retr-bytes "$T/exp" "$T/fifty.r/4.data"
status_is fifty-quit "$T/fifty.r/5.status" '^\+OK'
rm -f "$T/exp" "$T/fifty.out" "$T/fifty.r/4.data"
# Measured: about 14 MB under ASan whether or not a message is sent; a
# server holding the message in memory would need more than 50 MB.
if [ -s "$T/fifty.rss" ]; then
	rss=$(tail -n 1 "$T/fifty.rss")
	if [ "$rss" -lt 32768 ]; then pass "fifty-max-rss-small (${rss} KB)"
	else fail fifty-max-rss-small "max RSS ${rss} KB for a 50 MB message (bound 32768 KB)"; fi
else
	fail fifty-max-rss-small "/usr/bin/time is missing (install package 'time')"
fi

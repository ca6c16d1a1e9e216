#!/usr/bin/env bash
# tests/e2e/docs.sh - the documentation cannot drift from the code: every
# option the parser in options.c takes is in --help, in the SYNOPSIS and
# OPTIONS of pop3d.8 and in the README, with the same long name, and none
# of them lists an option the parser lacks -- the long-only ones (--auth,
# --first-uid, --check-config) too; the --auth back ends and the PAM
# service file are in the man page and the README; the limits the README states
# (buffer sizes, the failed-login delay and limit, input bounds) are the
# values in params.h, and so are the configuration file's line and size
# bounds in both, and the PROXY protocol's; the pop3d(8) section
# etc/pop3d.conf refers to exists, and so do the README sections its
# option list names.
. "$(dirname "$0")/../lib.sh"

# ------------------------------------------------------------ options
# The parser is options.c's table (every setting, with its short letter
# or 0) and the --help and --version entries added to it there: "x long"
# lines, "- long" for an option without a letter.
perl -0777 -ne '
	while (/^\t\{ "([a-z-]+)", (?:\x27(.)\x27|0), /mg) { print defined $2 ? "$2 $1\n" : "- $1\n" }
	my %letter; $letter{$1} = $2 while /(OPT_\w+) = \x27(.)\x27/g;
	while (/\(struct option\)\{ "([a-z-]+)", \w+, NULL,\s*(OPT_\w+) \}/g) { print "$letter{$2} $1\n" if $letter{$2} }
' "$TOP/options.c" >"$T/parser.table"
grep -v '^- ' "$T/parser.table" | cut -d' ' -f1 | sort -u >"$T/parser.short"
grep -v '^- ' "$T/parser.table" | sort -u >"$T/parser.pairs"
"$POP3D" --help >"$T/help.txt"
perl -ne 'print "$1 $2\n" while /(?:^|\s|\/ )-(\w), --([a-z-]+)/g' "$T/help.txt" | sort -u >"$T/help.pairs"
perl -ne 'print "$1 $2\n" if /^\.BR \\-(\w) ", " \\-\\-([a-z\\-]+)/' "$TOP/pop3d.8" |
	sed 's/\\//g' | sort -u >"$T/man.pairs"
# Long options (\-\-name) are taken out first: their letters are no
# short options.
sed -n '/^\.SH SYNOPSIS/,/^\.SH /p' "$TOP/pop3d.8" |
	perl -ne 's/\\-\\-[a-z\\-]+//g; print "$1\n" while /\\-(\w)/g' | sort -u >"$T/synopsis.short"
sed -n '/^## Running it/,/^An unknown option/p' "$TOP/README.md" |
	perl -ne 'print "$1 $2\n" while /-(\w), --([a-z-]+)/g' | sort -u >"$T/readme.pairs"

# Long-only options (no short letter): "name" lines in each source.
sed -n 's/^- //p' "$T/parser.table" | sort -u >"$T/parser.longonly"
perl -ne 'print "$1\n" if /^\s+--([a-z-]+)/' "$T/help.txt" | sort -u >"$T/help.longonly"
# An entry's tag is the line after .TP: a ".B \-\-name" line in an
# entry's text (--proxy-from's mentions --tls so) is a reference, no entry.
sed -n '/^\.SH OPTIONS/,/^\.SH /p' "$TOP/pop3d.8" |
	perl -ne 'print "$1\n" if $tp && /^\.BR? \\-\\-([a-z\\-]+)/; $tp = /^\.TP/' | sed 's/\\//g' | sort -u >"$T/man.longonly"
sed -n '/^\.SH SYNOPSIS/,/^\.SH /p' "$TOP/pop3d.8" |
	perl -ne 'print "$1\n" while /\\-\\-([a-z\\-]+)/g' | sed 's/\\//g' | sort -u >"$T/synopsis.longonly"
# In the README's option list: a --name at the start of its line.
sed -n '/^## Running it/,/^An unknown option/p' "$TOP/README.md" |
	perl -ne 'print "$1\n" if /^\s+--([a-z-]+)/' | sort -u >"$T/readme.longonly"

check parser-has-options test -s "$T/parser.short"
check parser-has-long-only-options grep -qx auth "$T/parser.longonly"
same options-help-long-only-matches-parser "$T/parser.longonly" "$T/help.longonly"
same options-man-long-only-match-parser "$T/parser.longonly" "$T/man.longonly"
same options-synopsis-long-only-matches-parser "$T/parser.longonly" "$T/synopsis.longonly"
same options-readme-long-only-matches-parser "$T/parser.longonly" "$T/readme.longonly"
# The back ends, the PAM service and the reply program a checkpassword
# program runs: named in the man page and the README.
for w in 'auth file' 'auth pam' 'checkpassword:' '/etc/pam.d/pop3d' 'checkpassword-reply' 'first-uid'; do
	check "man-says-${w//[^a-z]/-}" grep -qF -- "$(printf '%s' "$w" | sed 's/-/\\-/g')" "$TOP/pop3d.8"
	check "readme-says-${w//[^a-z]/-}" grep -qF -- "$w" "$TOP/README.md"
done
cut -d' ' -f1 "$T/parser.pairs" | sort -u >"$T/parser.longs"
same options-every-short-has-a-long "$T/parser.short" "$T/parser.longs"
same options-help-matches-parser "$T/parser.pairs" "$T/help.pairs"
same options-man-options-match-parser "$T/parser.pairs" "$T/man.pairs"
same options-synopsis-matches-parser "$T/parser.short" "$T/synopsis.short"
same options-readme-matches-parser "$T/parser.pairs" "$T/readme.pairs"
# -n only goes into the APOP timestamp (session.c, make_apop_timestamp).
check help-hostname-says-apop grep -q -- '-n, --hostname NAME *host name in the APOP timestamp' "$T/help.txt"

# ------------------------------------------------- limits in the README
# param NAME: the value of a numeric #define in params.h (an expression
# of numbers, as "(1024UL * 1024)", is evaluated).
param() {
	perl -ne 'if (/^#define '"$1"' (\(?[\d\sUL*+()]+\)?)\s*$/) { (my $e = $1) =~ s/(\d+)UL?/$1/g; print eval($e), "\n" }' "$TOP/params.h"
}
README=$TOP/README.md
# has CHECK TEXT: the README states TEXT (line breaks count as spaces).
has() {
	if tr '\n' ' ' <"$README" | tr -s ' ' | grep -qF -- "$2"; then pass "$1"
	else fail "$1" "README does not say '$2'"; fi
}
# Every "N KiB ... buffer" in the README names OUTPUT_BUFFER_SIZE.
out_kib=$(( $(param OUTPUT_BUFFER_SIZE) / 1024 ))
has readme-output-buffer-bounded "output is a fixed $out_kib KiB buffer"
has readme-output-buffer-performance "$out_kib KiB output buffer"
others=$(tr '\n' ' ' <"$README" | perl -ne 'while (/(\d+) KiB (?:output )?buffer/g) { print "$1 " if $1 != '"$out_kib"' }')
equal readme-no-other-output-buffer-size "" "$others"
# The failed-login delay: AUTH_FAIL_DELAY_MS, doubling, MAX_AUTH_FAILURES.
ms=$(param AUTH_FAIL_DELAY_MS)
secs() { perl -e 'my $s = $ARGV[0] / 1000; print "$s s"' "$1"; }
has readme-delay-table "delay that doubles ($(secs "$ms"), $(secs $((2 * ms))), $(secs $((4 * ms)))"
has readme-delay-passwd "a delay of $ms ms (\`AUTH_FAIL_DELAY_MS\` in params.h) that doubles"
nth=$(perl -e 'print qw(zeroth first second third fourth fifth)[$ARGV[0]]' "$(param MAX_AUTH_FAILURES)")
has readme-failure-limit "the $nth failure closes the connection"
if tr '\n' ' ' <"$README" | tr -s ' ' | grep -qi 'one-second delay'; then fail readme-no-old-delay "still says one-second delay"
else pass readme-no-old-delay; fi
check man-delay grep -qF "answers failures at their deadline ($(secs "$ms")," "$TOP/pop3d.8"
has readme-command-line "Command lines $(param MAX_COMMAND_LINE) octets"
has readme-bad-commands "$(param MAX_BAD_COMMANDS) bad commands in a row"
has readme-prelogin-input "at most $(( $(param MAX_PRELOGIN_INPUT) / 1024 )) KiB of input before login"
has readme-block-size "streamed in $(( $(param MBOX_BLOCK_SIZE) / 1048576 )) MiB blocks"
# The configuration file's bounds (params.h) where both state them.
cfg_line=$(param MAX_CONFIG_LINE) cfg_kib=$(( $(param MAX_CONFIG_SIZE) / 1024 ))
has readme-config-line "a line over $cfg_line bytes"
has readme-config-size "a file over $cfg_kib KiB"
check man-config-line grep -qF "a line longer than $cfg_line bytes" "$TOP/pop3d.8"
check man-config-size grep -qF "a file larger than $cfg_kib KiB" "$TOP/pop3d.8"
# The section of pop3d(8) the shipped etc/pop3d.conf sends the
# administrator to exists.
sec=$(perl -ne 'print "$1\n" if /pop3d\(8\), section ([A-Z][A-Z ]*[A-Z])/' "$TOP/etc/pop3d.conf")
if [ -n "$sec" ] && grep -qxF ".SH $sec" "$TOP/pop3d.8"; then pass shipped-conf-man-section-exists
else fail shipped-conf-man-section-exists "etc/pop3d.conf names section '$sec', not in pop3d.8"; fi
# The README's option list sends the reader to sections by name, ("Set-up"):
# each is a heading of the README.
sed -n '/^## Running it/,/^An unknown option/p' "$TOP/README.md" |
	perl -ne 'print "$1\n" while /\("([A-Z][^"]*)"\)/g' | sort -u >"$T/readme.refs"
check readme-option-list-has-section-names test -s "$T/readme.refs"
missing=
while read -r r; do
	grep -qE "^#{2,3} $(printf '%s' "$r" | sed 's/[][\.*^$]/\\&/g')" "$TOP/README.md" || missing="$missing '$r'"
done <"$T/readme.refs"
equal readme-option-list-sections-exist "" "$missing"
# The PROXY protocol's bounds (params.h) where the README and pop3d.8
# state them.
pf=$(param MAX_PROXY_FROM) pt=$(param PROXY_HEADER_TIMEOUT)
p1=$(param PROXY_V1_MAX) p2=$(param PROXY_V2_MAX)
has readme-proxy-from-max "(\`--proxy-from\` networks, at most $pf)"
has readme-proxy-deadline "must begin with a header within $pt seconds"
has readme-proxy-lengths "(version 1: $p1 bytes, version 2: $p2)"
man_has() {
	if tr '\n' ' ' <"$TOP/pop3d.8" | tr -s ' ' | grep -qF -- "$2"; then pass "$1"
	else fail "$1" "pop3d.8 does not say '$2'"; fi
}
man_has man-proxy-from-max "or single addresses, at most $pf, host bits zero"
man_has man-proxy-deadline "must begin with a header, within $pt seconds"
man_has man-proxy-lengths "(version 1: $p1 bytes, version 2: $p2)"

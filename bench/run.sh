#!/usr/bin/env bash
# bench/run.sh - `make bench`: pop3d against Debian's popa3d and Dovecot's
# pop3 on generated mboxes, with the physical floor of the same files.
# Must run as root.  Not part of `make check`.
#
# Parameters (environment or make variables):
#   BENCH_SIZES     comma list of small (10 messages), medium (10,000,
#                   100 MB), large (100,000, BENCH_LARGE_MB)  [small,medium,large]
#   BENCH_LARGE_MB  size of the large mbox in MiB                    [1024]
#   BENCH_BIGMSG_MB size of the single-message mbox (memory goal)
#                   [1024 when large is benchmarked, else 100]
#   BENCH_RUNS      timed runs per scenario and server (median)       [5]
#   BENCH_SLOW_S    a scenario whose runs take longer than this many seconds
#                   stops after 3 timed runs (the median of 3)        [5]
#   BENCH_TINY      sessions in the tiny-sessions scenario            [500]
#   BENCH_SEED      seed of the mbox generator                        [1]
#   BENCH_WORKDIR   scratch space, several GB                [/var/tmp/pop3d-bench]
#
# What it does (details in bench/RESULTS.md, which it rewrites):
# - installs what is missing: popa3d, dovecot-core, gnuplot-nox, time; the
#   Dovecot pop3 binary is taken from the dovecot-pop3d .deb (apt-get
#   download + dpkg-deb -x into the work directory) because Debian's
#   dovecot-pop3d and popa3d conflict and cannot be installed together.
#   Package scripts are kept from starting daemons by a temporary
#   /usr/sbin/policy-rc.d (exit 101) when the system has none.
# - creates the account pop3dbench (shadow password, sha512-crypt) whose
#   maildrop each server reads; each server gets its own byte-identical copy
#   of the generated mbox, restored (cp + sync, not timed) before every run
#   that writes, and whenever a run changed it.
# - for every size and scenario: one verification run whose replies are
#   checked by bench/pop3check (every terminator, counts, sizes, a hash of
#   the RETR bytes that must agree across servers, and the maildrop left
#   by DELE), run under /usr/bin/time -f %M for the peak RSS; then
#   BENCH_RUNS timed runs (median).
# - writes bench/results/latest.csv, bench/results/ratios.png and
#   bench/RESULTS.md, and prints the table.
# - then runs bench/haproxy.sh (sessions per second through HAProxy) and
#   bench/maildir.sh (Maildirs, against Dovecot and Courier), which add
#   their sections to bench/RESULTS.md.
set -euo pipefail
export LC_ALL=C

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$TOP/bench
SIZES=${BENCH_SIZES:-small,medium,large}
LARGE_MB=${BENCH_LARGE_MB:-1024}
RUNS=${BENCH_RUNS:-5}
SLOW_S=${BENCH_SLOW_S:-5}
TINY=${BENCH_TINY:-500}
SEED=${BENCH_SEED:-1}
W=${BENCH_WORKDIR:-/var/tmp/pop3d-bench}
case ",$SIZES," in *,large,*) BIGMSG_MB=${BENCH_BIGMSG_MB:-1024} ;; *) BIGMSG_MB=${BENCH_BIGMSG_MB:-100} ;; esac

BUSER=pop3dbench
BPASS='Bench-pw-5e81c'
BHOME=/var/lib/pop3dbench
POPA3D=/usr/sbin/popa3d
SPOOL=/var/mail/$BUSER
POP3D=$TOP/pop3d
MTIME='2024-01-01 00:00:00 UTC'	# every copy's mtime: popa3d sleeps a second on a fresh one

prog=bench/run.sh
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }
say() { printf '%s\n' "$*" >&2; }
note() { printf '  %s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (popa3d authenticates through PAM and shadow)"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ $SLOW_S =~ ^[0-9]+$ ]] || die "BENCH_SLOW_S must be a whole number of seconds"
[[ $TINY =~ ^[1-9][0-9]*$ ]] || die "BENCH_TINY must be a positive integer"
[[ $LARGE_MB =~ ^[1-9][0-9]*$ ]] || die "BENCH_LARGE_MB must be a positive integer"
[[ $BIGMSG_MB =~ ^[1-9][0-9]*$ ]] || die "BENCH_BIGMSG_MB must be a positive integer"
IFS=, read -r -a SIZE_LIST <<<"$SIZES"
for z in "${SIZE_LIST[@]}"; do
	case $z in small | medium | large) ;; *) die "BENCH_SIZES: unknown size '$z' (small, medium, large)" ;; esac
done
START=$EPOCHSECONDS

# ------------------------------------------------------------ packages
apt_install() {
	command -v apt-get >/dev/null || die "missing $* and apt-get is not available"
	local own_policy='' rc=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	say "installing $*"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q "$@" >&2; then
		{ apt-get update -q >&2 && apt-get install -y -q "$@" >&2; } || rc=$?
	fi
	[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
	[ "$rc" -eq 0 ] || die "apt-get install $* failed"
}

need=()
[ -x "$POPA3D" ] || need+=(popa3d)
[ -e /usr/lib/dovecot/libdovecot-storage.so.0 ] || need+=(dovecot-core)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
[ -x /usr/bin/time ] || need+=(time)
command -v setpriv >/dev/null || need+=(util-linux)
command -v cc >/dev/null || need+=(gcc libc6-dev)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
[ -x "$POPA3D" ] || die "$POPA3D is missing after installing popa3d"
# dovecot-core would start a daemon where no policy-rc.d stopped it: the
# benchmark runs the pop3 binary alone, so keep the service off.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
	systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
fi

mkdir -p "$W"
chmod 755 "$W"
# The Dovecot pop3 binary: the installed one, else the .deb unpacked here.
if [ -x /usr/lib/dovecot/pop3 ]; then
	DC_POP3=/usr/lib/dovecot/pop3
else
	DC_POP3=$W/dovecot-pop3d/usr/lib/dovecot/pop3
	if [ ! -x "$DC_POP3" ]; then
		say "unpacking dovecot-pop3d (it conflicts with popa3d, so it is not installed)"
		rm -rf "$W/deb" "$W/dovecot-pop3d"
		mkdir -p "$W/deb"
		chmod 777 "$W/deb"	# apt-get download runs as _apt
		(cd "$W/deb" && apt-get download -q dovecot-pop3d >&2) ||
			{ apt-get update -q >&2 && (cd "$W/deb" && apt-get download -q dovecot-pop3d >&2); } ||
			die "apt-get download dovecot-pop3d failed"
		dpkg-deb -x "$W"/deb/dovecot-pop3d_*.deb "$W/dovecot-pop3d" || die "dpkg-deb -x failed"
		rm -rf "$W/deb"
		[ -x "$DC_POP3" ] || die "no pop3 binary in the dovecot-pop3d package"
	fi
	chmod 755 "$W/dovecot-pop3d"
fi
DC_VERSION=$(dpkg-query -W -f '${Version}' dovecot-core 2>/dev/null || echo '?')
POPA3D_VERSION=$(dpkg-query -W -f '${Version}' popa3d 2>/dev/null || echo '?')

# ------------------------------------------------------------ disk space
size_count() { case $1 in small) echo 10 ;; medium) echo 10000 ;; large) echo 100000 ;; esac; }
size_mb() { case $1 in small) echo 1 ;; medium) echo 100 ;; large) echo "$LARGE_MB" ;; esac; }
size_bytes() { case $1 in small) echo $((10 * 10240)) ;; medium) echo $((100 << 20)) ;; large) echo $((LARGE_MB << 20)) ;; esac; }
sum=0 max=$BIGMSG_MB
for z in "${SIZE_LIST[@]}"; do
	m=$(size_mb "$z")
	sum=$((sum + m))
	[ "$m" -gt "$max" ] && max=$m
done
# The generated masters stay (cached for the next run); pop3d's and
# Dovecot's copies, Dovecot's warm snapshot and its index live only while
# their size is measured, and popa3d's copy lives in /var/mail.
want=$((sum + BIGMSG_MB + 4 * max + 512))
avail=$(df -Pm "$W" | awk 'NR == 2 { print $4 }')
[ "$avail" -ge "$want" ] ||
	die "$W has $avail MB free; this run needs about $want MB (BENCH_WORKDIR elsewhere, or smaller BENCH_LARGE_MB / BENCH_BIGMSG_MB / BENCH_SIZES)"
spool_dev=$(stat -c %d /var/mail) work_dev=$(stat -c %d "$W")
if [ "$spool_dev" != "$work_dev" ]; then
	avail=$(df -Pm /var/mail | awk 'NR == 2 { print $4 }')
	[ "$avail" -ge $((max + 64)) ] || die "/var/mail has $avail MB free; popa3d's copy needs $((max + 64)) MB"
fi

# ------------------------------------------------------------ build
say "building pop3d (make pop3d) and the bench tools"
make -C "$TOP" --no-print-directory pop3d >&2 || die "make pop3d failed"
mkdir -p "$W/bin"
cc -O2 -Wall -o "$W/bin/gen-mbox" "$B/gen-mbox.c" -lm || die "cannot build gen-mbox"
cc -O2 -Wall -D_GNU_SOURCE -o "$W/bin/pop3check" "$B/pop3check.c" || die "cannot build pop3check"
install -m 755 "$B/runner.sh" "$W/bin/runner.sh"
chmod 755 "$W/bin"

# ------------------------------------------------------------ accounts
if ! getent passwd "$BUSER" >/dev/null; then
	useradd --system --user-group --create-home --home-dir "$BHOME" \
		--shell /usr/sbin/nologin --comment 'pop3d benchmark' "$BUSER" ||
		die "useradd $BUSER failed"
fi
BUID=$(id -u "$BUSER") BGID=$(id -g "$BUSER")
# pop3d's root mode needs its privilege-separation account and directory.
if ! getent passwd pop3d >/dev/null; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pop3d
fi
[ -d /var/lib/pop3d/empty ] || install -d -m 755 -o root -g root /var/lib/pop3d/empty

P3=$W/pop3d DC=$W/dovecot
rm -rf "$P3" "$DC"
install -d -m 755 -o "$BUID" -g "$BGID" "$P3" "$DC" "$DC/home"
# Root mode's password file lives in a directory of root's: pop3d started
# as root refuses one in a directory another account could swap it from
# (trust.c), which the user's own $P3 is.
P3_ROOT=$W/pop3d-root
rm -rf "$P3_ROOT"
install -d -m 755 -o root -g root "$P3_ROOT"
P3_MBOX=$P3/mbox DC_INBOX=$DC/inbox DC_INDEX=$DC/index
DC_WARM_INBOX=$DC/warm-inbox DC_WARM_INDEX=$DC/warm-index

# set_scheme SHA512|YESCRYPT: the shadow hash popa3d checks, and the same
# hash string in pop3d's password files.
set_scheme() {
	printf '%s:%s\n' "$BUSER" "$BPASS" | chpasswd -c "$1" || die "chpasswd -c $1 failed"
	local hash
	hash=$(getent shadow "$BUSER" | cut -d: -f2)
	printf '%s:%s\n' "$BUSER" "$hash" >"$P3/passwd"
	chown "$BUID:$BGID" "$P3/passwd"
	chmod 600 "$P3/passwd"
	printf '%s:%s:%s:%s::%s\n' "$BUSER" "$hash" "$BUID" "$BGID" "$P3" >"$P3_ROOT/passwd"
	chmod 600 "$P3_ROOT/passwd"
}
set_scheme SHA512

cat >"$DC/dovecot.conf" <<EOF
# Written by bench/run.sh.  Dovecot's defaults otherwise (pop3_uidl_format
# %08Xu%08Xv, mbox_lazy_writes, dotlock+fcntl write locks, mail_fsync
# optimized, flag updates on).
protocols = pop3
ssl = no
mail_location = mbox:$DC/home/mail:INBOX=$DC_INBOX:INDEX=$DC_INDEX
log_path = /dev/stderr
EOF
chmod 644 "$DC/dovecot.conf"

# ------------------------------------------------------------ servers
# srv NAME: the server's command line in SRV, and the identity it runs
# under in PRE.  pop3d runs as the bench user (as a pipe session does; its
# root mode with privilege separation is pop3d-root); popa3d must start as
# root (PAM, then its own privilege separation); Dovecot's pop3 runs
# pre-authenticated as the user, as its master would start it.
srv() {
	PRE=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C USER="$BUSER" HOME="$DC/home")
	case $1 in
	pop3d)
		PRE=(setpriv --reuid="$BUID" --regid="$BGID" --clear-groups "${PRE[@]}")
		SRV=("$POP3D" -s -p "$P3/passwd" -m "$P3_MBOX") ;;
	# --first-uid: the bench account is a system account, below the
	# default 1000 that root mode refuses to serve.
	pop3d-root) SRV=("$POP3D" -s -p "$P3_ROOT/passwd" -m "$P3_MBOX" --first-uid "$BUID") ;;
	pop3d-cache)
		PRE=(setpriv --reuid="$BUID" --regid="$BGID" --clear-groups "${PRE[@]}")
		SRV=("$POP3D" -s -p "$P3/passwd" -m "$P3_MBOX" -I "$P3/index") ;;
	popa3d) SRV=("$POPA3D") ;;
	dovecot-cold | dovecot-warm)
		PRE=(setpriv --reuid="$BUID" --regid="$BGID" --clear-groups "${PRE[@]}")
		SRV=("$DC_POP3" -c "$DC/dovecot.conf") ;;
	esac
}
is_dovecot() { [[ $1 == dovecot-* ]]; }
# runner SERVER MODE ARGS...: bench/runner.sh as the server's identity.
runner() {
	local s=$1
	shift
	srv "$s"
	(cd / && "${PRE[@]}" bash "$W/bin/runner.sh" "$@" -- "${SRV[@]}")
}

# ------------------------------------------------------------ copies
# restore SRC DST [OWNER MODE]: DST becomes a byte-identical copy of SRC with
# SRC's mtime, on disk (synced, so no write-back of the copy lands in a
# timed run); DST keeps its inode when it exists.
restore() {
	local src=$1 dst=$2
	if [ -e "$dst" ]; then
		cp --reflink=never --preserve=timestamps "$src" "$dst"
	else
		install -o "${3:-$BUID}" -g "${4:-$BGID}" -m "${5:-600}" "$src" "$dst"
		touch -r "$src" "$dst"
	fi
	sync "$dst"
}
sig() { stat -c '%s %Y' "$1" 2>/dev/null || echo none; }
# csig: what pop3d's index cache is keyed on, for its copy.
csig() { stat -c '%d %i %s %.9Y %.9Z' "$P3_MBOX" 2>/dev/null || echo none; }
P3_CACHED=none

DC_STATE=none	# what Dovecot's inbox and index are: none, cold, warm
# prep SERVER SCENARIO: the server's maildrop as the next run must find it.
prep() {
	local s=$1 c=$2 writes=
	case $c in dele_*) writes=1 ;; esac
	case $s in
	pop3d | pop3d-root | pop3d-cache)
		if [ -n "$writes" ] || [ "$(sig "$P3_MBOX")" != "$(sig "$MASTER")" ]; then
			restore "$MASTER" "$P3_MBOX"
		fi
		rm -f "$P3_MBOX.pop3d-journal"
		# The warm index cache: one earlier session on this very copy,
		# which caches only an mbox whose ctime is 2 s old (not timed).
		if [ "$s" = pop3d-cache ] && [ "$(csig)" != "$P3_CACHED" ]; then
			sleep 2.1
			runner pop3d-cache verify "$(cmdfile pop3d check)" "$RES/server2.log" /dev/null "$W/bin/pop3check" >/dev/null 2>&1 ||
				note "pop3d's cache warm-up session failed: $(head -c 300 "$RES/server2.log")"
			[ -s "$P3/index" ] || note "pop3d's cache warm-up wrote no cache"
			# on disk before the timed run, like the copies (an
			# fsync in that run would otherwise also wait for it)
			sync "$P3/index" 2>/dev/null || sync
			P3_CACHED=$(csig)
		fi ;;
	popa3d)
		if [ -n "$writes" ] || [ "$(sig "$SPOOL")" != "$(sig "$MASTER")" ]; then
			restore "$MASTER" "$SPOOL" "$BUID" mail 660
		fi ;;
	dovecot-cold)
		# no index, and the mbox as delivered (Dovecot adds X-IMAPbase,
		# X-UID and Content-Length headers to it on its first sync)
		restore "$MASTER" "$DC_INBOX"
		rm -rf "$DC_INDEX"
		DC_STATE=cold ;;
	dovecot-warm)
		# the mbox and index as one earlier session left them
		if [ -n "$writes" ] || [ "$DC_STATE" != warm ] ||
			[ "$(sig "$DC_INBOX")" != "$(sig "$DC_WARM_INBOX")" ]; then
			restore "$DC_WARM_INBOX" "$DC_INBOX"
			rm -rf "$DC_INDEX"
			cp -a "$DC_WARM_INDEX" "$DC_INDEX"
			sync -f "$DC_INDEX"
		fi
		DC_STATE=warm ;;
	esac
}

# ------------------------------------------------------------ scripts
# mkcmds DIR N: the command files of every scenario for N messages: NAME
# (pop3d, popa3d: USER/PASS first), NAME.pre (Dovecot, already logged in),
# and NAME.v/NAME.v.pre for the verification run (STAT and LIST first).
mkcmds() {
	local d=$1 n=$2 c
	mkdir -p "$d"
	body() {
		case $1 in
		stat) printf 'STAT\r\n' ;;
		uidl) printf 'UIDL\r\n' ;;
		list) printf 'LIST\r\n' ;;
		top) seq -f 'TOP %.0f 0' 1 "$n" | sed 's/$/\r/' ;;
		retr) seq -f 'RETR %.0f' 1 "$n" | sed 's/$/\r/' ;;
		dele_all) seq -f 'DELE %.0f' 1 "$n" | sed 's/$/\r/' ;;
		dele_half) seq -f 'DELE %.0f' 1 2 "$n" | sed 's/$/\r/' ;;
		esac
		printf 'QUIT\r\n'
	}
	for c in stat uidl list top retr dele_all dele_half; do
		body "$c" >"$d/$c.pre"
		{ printf 'STAT\r\nLIST\r\n'; body "$c"; } >"$d/$c.v.pre"
		{ printf 'USER %s\r\nPASS %s\r\n' "$BUSER" "$BPASS"; cat "$d/$c.pre"; } >"$d/$c"
		{ printf 'USER %s\r\nPASS %s\r\n' "$BUSER" "$BPASS"; cat "$d/$c.v.pre"; } >"$d/$c.v"
	done
	printf 'STAT\r\nQUIT\r\n' >"$d/check.pre"
	{ printf 'USER %s\r\nPASS %s\r\n' "$BUSER" "$BPASS"; cat "$d/check.pre"; } >"$d/check"
	chmod -R a+rX "$d"
}
cmdfile() { # SERVER NAME
	if is_dovecot "$1"; then echo "$CMDS/$2.pre"; else echo "$CMDS/$2"; fi
}

# ------------------------------------------------------------ results
RES=$W/results
mkdir -p "$RES"
RAW=$RES/raw.tsv
: >"$RAW"
chmod 777 "$RES"
LOG=$RES/verify.log
: >"$LOG"
chmod 666 "$LOG"

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
secs() { if [[ $1 =~ ^[0-9.]+$ ]]; then awk -v u="$1" 'BEGIN { printf "%.6f", u / 1e6 }'; else echo nan; fi; }

# verify SERVER SCENARIO: one checked run; sets VSTAT (N/octets), VHASH,
# VRSS (its peak RSS) and VOK (empty when the run failed, with the reason
# in the log).
verify() {
	local s=$1 c=$2 f out rc=0 chk="$W/bin/pop3check" n_cmds greet=1 why=
	is_dovecot "$s" && chk="$chk -n" && greet=0
	f=$(cmdfile "$s" "$c.v")
	prep "$s" "$c"
	rm -f "$RES/server.log" "$RES/server2.log" "$RES/rss"
	out=$(runner "$s" verify "$f" "$RES/server.log" "$RES/rss" "$chk" 2>&1) || rc=$?
	VRSS=$(tail -n 1 "$RES/rss" 2>/dev/null) || VRSS=
	[[ $VRSS =~ ^[0-9]+$ ]] || VRSS=nan
	n_cmds=$(wc -l <"$f")
	VOK='' VSTAT='' VHASH=''
	local kv replies=0 err=0 stat='' list=0 uidl=0 top=0 retr=0 retr_octets=0 size_mismatch=0 hash=''
	if [ "$rc" -ne 0 ] || [[ $out != replies=* ]]; then
		why="checker: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
	else
		for kv in $out; do
			case ${kv%%=*} in
			replies | err | stat | list | uidl | top | retr | retr_octets | size_mismatch | hash)
				printf -v "${kv%%=*}" '%s' "${kv#*=}" ;;
			esac
		done
		local n=${stat%%/*}
		if [ "$replies" -ne $((n_cmds + greet)) ]; then why="$replies replies to $n_cmds commands"
		elif [ "$err" -ne 0 ]; then why="$err -ERR replies"
		elif [ "$n" != "$NMSG" ]; then why="STAT says $n messages, the mbox has $NMSG"
		elif [ -n "$REF_OCTETS" ] && [ "${stat#*/}" != "$REF_OCTETS" ]; then
			why="STAT octets ${stat#*/}, another server said $REF_OCTETS"
		else
			case $c in
			uidl) [ "$uidl" -eq 1 ] || why="no UIDL listing" ;;
			list) [ "$list" -eq 2 ] || why="no LIST listing" ;;
			top) [ "$top" -eq "$NMSG" ] || why="$top TOP replies for $NMSG messages" ;;
			retr)
				if [ "$retr" -ne "$NMSG" ]; then why="$retr RETR replies for $NMSG messages"
				elif [ "$size_mismatch" -ne 0 ]; then why="$size_mismatch messages differ from their LIST size"
				elif [ "$retr_octets" != "${stat#*/}" ]; then why="RETR sent $retr_octets octets, STAT said ${stat#*/}"
				elif [ -n "$REF_HASH" ] && [ "$hash" != "$REF_HASH" ]; then why="RETR bytes differ from another server's (hash $hash, $REF_HASH)"
				fi ;;
			dele_all | dele_half)
				# the maildrop the QUIT left, as the same server sees it
				local left want
				[ "$c" = dele_all ] && want=0 || want=$((NMSG / 2))
				[ "$s" = popa3d ] && touch -d "$MTIME" "$SPOOL"
				left=$(runner "$s" verify "$(cmdfile "$s" check)" "$RES/server2.log" /dev/null "$chk" 2>&1 || true)
				left=${left#*stat=}
				left=${left%%/*}
				[ "$left" = "$want" ] || why="after QUIT the maildrop has '$left' messages, expected $want" ;;
			esac
		fi
	fi
	if [ -n "$why" ]; then
		note "VERIFY FAILED: $s $c ($ZNAME): $why"
		{
			echo "== $ZNAME $c $s: FAILED: $why"
			echo "-- server stderr:"; head -n 20 "$RES/server.log" 2>/dev/null
		} >>"$LOG"
		return
	fi
	echo "== $ZNAME $c $s: ok: $out" >>"$LOG"
	VOK=1 VSTAT=$stat VHASH=$hash
}

# measure SERVER SCENARIO: the verification run (which gives the peak RSS
# too), then the timed runs; appends a row to the raw results.
measure() {
	local s=$1 c=$2 f i t times=() med rss status=ok
	verify "$s" "$c"
	rss=$VRSS
	if [ -z "$VOK" ]; then
		status=FAIL
	else
		if [ -z "$REF_OCTETS" ]; then
			REF_OCTETS=${VSTAT#*/}
			printf 'meta\t%s\toctets\t%s\n' "$ZNAME" "$REF_OCTETS" >>"$RAW"
		fi
		[ "$c" = retr ] && [ -z "$REF_HASH" ] && REF_HASH=$VHASH
	fi
	f=$(cmdfile "$s" "$c")
	for ((i = 0; i < RUNS; i++)); do
		prep "$s" "$c"
		t=$(runner "$s" time "$f") || t=
		[[ $t =~ ^[0-9]+$ ]] || { status=FAIL; break; }
		times+=("$t")
		# slow scenarios (a Dovecot cold start on a large mbox): 3 runs
		[ ${#times[@]} -ge 3 ] && [ "$t" -gt $((SLOW_S * 1000000)) ] && break
	done
	med=nan
	[ ${#times[@]} -gt 0 ] && med=$(printf '%s\n' "${times[@]}" | median)
	printf 'time\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ZNAME" "$c" "$s" "$(secs "$med")" "$rss" "$status" "${#times[@]}" >>"$RAW"
	note "$(printf '%-10s %-14s %10.1f ms  %8s KiB  %d runs  %s' "$c" "$s" "$(awk -v u="$med" 'BEGIN { print u / 1000 }')" "$rss" "${#times[@]}" "$status")"
}

# floors FILE: reading it once, and pushing it through a pipe.
floors() {
	local f=$1 i a=() b=() t0 t1
	for ((i = 0; i < RUNS; i++)); do
		t0=$EPOCHREALTIME; cat "$f" >/dev/null; t1=$EPOCHREALTIME
		a+=($((${t1/./} - ${t0/./})))
		t0=$EPOCHREALTIME; cat "$f" | cat >/dev/null; t1=$EPOCHREALTIME
		b+=($((${t1/./} - ${t0/./})))
	done
	printf 'floor\t%s\tread\t%s\n' "$ZNAME" "$(secs "$(printf '%s\n' "${a[@]}" | median)")" >>"$RAW"
	printf 'floor\t%s\tpipe\t%s\n' "$ZNAME" "$(secs "$(printf '%s\n' "${b[@]}" | median)")" >>"$RAW"
	note "floors: cat FILE >/dev/null $(printf '%s\n' "${a[@]}" | median) us, cat FILE | cat >/dev/null $(printf '%s\n' "${b[@]}" | median) us"
}

# tiny NAME SERVER...: TINY back-to-back login+STAT+QUIT sessions on the
# small mbox, median of RUNS.
tiny() {
	local name=$1 s t i times=() med status
	shift
	for s in "$@"; do
		prep "$s" stat
		times=()
		status=ok
		for ((i = 0; i < RUNS; i++)); do
			t=$(runner "$s" tiny "$(cmdfile "$s" stat)" "$TINY") || t=
			[[ $t =~ ^[0-9]+$ ]] || { status=FAIL; break; }
			times+=("$t")
			[ ${#times[@]} -ge 3 ] && [ "$t" -gt $((SLOW_S * 1000000)) ] && break
		done
		med=nan
		[ ${#times[@]} -gt 0 ] && med=$(printf '%s\n' "${times[@]}" | median)
		printf 'time\t%s\t%s\t%s\t%s\tnan\t%s\t%s\n' small "$name" "$s" "$(secs "$med")" "$status" "${#times[@]}" >>"$RAW"
		note "$(printf '%-14s %-14s %10.1f ms  %d runs' "$name" "$s" "$(awk -v u="$med" 'BEGIN { print u / 1000 }')" "${#times[@]}")"
	done
}

# setup_size NAME COUNT MEAN [-x]: generate (or reuse) the master mbox, and
# lay out the copies and command files for it.
setup_size() {
	ZNAME=$1
	local count=$2 mean=$3 exact=${4:-}
	MASTER=$W/mbox/$ZNAME.mbox
	mkdir -p "$W/mbox"
	local params
	params="$count $mean $SEED $exact $(sha1sum "$B/gen-mbox.c" | cut -c1-12)"
	if [ ! -f "$MASTER" ] || [ "$(cat "$MASTER.params" 2>/dev/null)" != "$params" ]; then
		say "generating $ZNAME mbox: $count messages, mean $mean bytes"
		"$W/bin/gen-mbox" $exact "$count" "$mean" "$SEED" "$MASTER" || die "gen-mbox failed"
		echo "$params" >"$MASTER.params"
	fi
	chmod 644 "$MASTER"
	touch -d "$MTIME" "$MASTER"
	NMSG=$count
	CMDS=$W/cmds/$ZNAME
	rm -rf "$CMDS"
	mkcmds "$CMDS" "$count"
	rm -f "$P3_MBOX" "$DC_INBOX" "$DC_WARM_INBOX" "$SPOOL" "$P3/index"
	rm -rf "$DC_INDEX" "$DC_WARM_INDEX"
	P3_CACHED=none
	restore "$MASTER" "$P3_MBOX"
	restore "$MASTER" "$SPOOL" "$BUID" mail 660
	# Dovecot's warm state: the mbox and index after one session.
	restore "$MASTER" "$DC_INBOX"
	rm -f "$RES/server.log"
	runner dovecot-warm verify "$CMDS/check.pre" "$RES/server.log" /dev/null "$W/bin/pop3check -n" >/dev/null 2>&1 ||
		note "Dovecot's warm-up session failed: $(head -c 300 "$RES/server.log")"
	cp --reflink=never --preserve=timestamps "$DC_INBOX" "$DC_WARM_INBOX"
	cp -a "$DC_INDEX" "$DC_WARM_INDEX" 2>/dev/null || install -d -o "$BUID" -g "$BGID" "$DC_WARM_INDEX"
	sync -f "$DC_INBOX"
	DC_STATE=warm
	REF_OCTETS='' REF_HASH=''
	printf 'meta\t%s\tmessages\t%s\n' "$ZNAME" "$count" >>"$RAW"
	printf 'meta\t%s\tbytes\t%s\n' "$ZNAME" "$(stat -c %s "$MASTER")" >>"$RAW"
}
cleanup_size() {
	rm -f "$P3/index" "$P3_MBOX" "$DC_INBOX" "$DC_WARM_INBOX" "$SPOOL" "$P3_MBOX.lock" "$DC_INBOX.lock"
	rm -rf "$DC_INDEX" "$DC_WARM_INDEX"
}
trap 'rm -f "$SPOOL"' EXIT

SERVERS=(pop3d popa3d dovecot-cold dovecot-warm)
SCENARIOS=(stat uidl list top retr dele_all dele_half)

say "pop3d benchmark: sizes $SIZES, $RUNS runs, large $LARGE_MB MB, single message $BIGMSG_MB MB, work directory $W"
for z in "${SIZE_LIST[@]}"; do
	n=$(size_count "$z")
	setup_size "$z" "$n" $(($(size_bytes "$z") / n))
	say "== $z: $n messages, $(stat -c %s "$MASTER") bytes"
	floors "$MASTER"
	for c in "${SCENARIOS[@]}"; do
		for s in "${SERVERS[@]}"; do
			measure "$s" "$c"
		done
		if [ "$c" = stat ]; then
			measure pop3d-root stat
		fi
		measure pop3d-cache "$c"
	done
	cleanup_size
done

# Tiny sessions, on the small mbox.
n=$(size_count small)
setup_size small "$n" $(($(size_bytes small) / n))
say "== $TINY tiny sessions (login+STAT+QUIT on the small mbox)"
tiny tiny pop3d popa3d dovecot-warm pop3d-root
set_scheme YESCRYPT
tiny tiny_yescrypt pop3d popa3d
set_scheme SHA512
cleanup_size

# One message of BIGMSG_MB: memory must not grow with message size.
setup_size bigmsg 1 $((BIGMSG_MB << 20)) -x
say "== one message of $BIGMSG_MB MB"
floors "$MASTER"
for s in "${SERVERS[@]}"; do
	measure "$s" retr
done
cleanup_size
rm -f "$W/mbox/bigmsg.mbox"	# cheap to make again, and large

# ------------------------------------------------------------ report
ELAPSED=$((EPOCHSECONDS - START))
mkdir -p "$B/results"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
MACHINE="$(nproc) CPUs ($cpu), $mem RAM, Linux $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
POP3D_REV=$(git -C "$TOP" describe --always --dirty 2>/dev/null || echo '?')

awk -F'\t' -v csv="$B/results/latest.csv" -v dat="$RES/ratios.dat" \
	-v md="$RES/table.md" -v goals="$RES/goals.md" -v tiny="$TINY" \
	-v bigmb="$BIGMSG_MB" -v txt="$RES/table.txt" -f "$B/report.awk" "$RAW"

plot_size=$(awk -F'\t' '$1 == "plotsize" { print $2 }' "$RES/ratios.dat.meta" 2>/dev/null || echo '?')
gnuplot <<EOF || note "gnuplot failed; no PNG"
set terminal pngcairo size 1280,720 font "DejaVu Sans,10"
set output "$B/results/ratios.png"
set title "pop3d's time over its peers' (median of $RUNS runs, $plot_size mbox; lower is better; red bars: the goals)\n$MACHINE, $DATE"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set ylabel "pop3d / peer (log scale)"
set grid ytics mytics
set key top left
set bmargin 11
set rmargin 12
set xtics rotate by -30 font ",9" nomirror
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 1.5 lc rgb "#444444" back
plot "$RES/ratios.dat" using 2:xtic(1) title "pop3d / best peer" lc rgb "#1f77b4", \\
     "" using 3 title "pop3d / popa3d" lc rgb "#ff7f0e", \\
     "" using 0:4:(0.42) with xerrorbars pt 0 lw 4 lc rgb "#d62728" title "goal (at most)", \\
     "" using (\$0-0.17):2:(sprintf("%.2f", \$2)) with labels offset 0,0.6 font ",8" notitle, \\
     "" using (\$0+0.17):3:(sprintf("%.2f", \$3)) with labels offset 0,0.6 font ",8" notitle
EOF

{
	echo "# pop3d benchmark results"
	echo
	echo "Made by \`make bench\` (bench/run.sh) on $DATE, pop3d $POP3D_REV."
	echo
	echo "- Machine: $MACHINE."
	echo "- Peers: popa3d $POPA3D_VERSION, Dovecot $DC_VERSION (Debian packages)."
	echo "- Parameters: BENCH_SIZES=$SIZES BENCH_LARGE_MB=$LARGE_MB BENCH_BIGMSG_MB=$BIGMSG_MB BENCH_RUNS=$RUNS BENCH_SLOW_S=$SLOW_S BENCH_TINY=$TINY BENCH_SEED=$SEED; the whole run took $((ELAPSED / 60)) min $((ELAPSED % 60)) s."
	echo
	cat <<'EOF'
Times are medians of the timed runs (BENCH_RUNS of them, or 3 where a run
takes longer than BENCH_SLOW_S seconds), in milliseconds, of one session each
(`cat COMMANDS | server | cat > /dev/null`: the commands come from a file,
the replies go to a consumer as fast as cat); "tiny" rows are the time of
all the back-to-back sessions together.  "best" is the fastest of popa3d,
Dovecot cold and Dovecot warm; the ratios are pop3d's time over the peer's
(lower is better); "floor" is `cat FILE > /dev/null` (reading the mbox
once), or `cat FILE | cat > /dev/null` (pushing it through a pipe) for the
RETR rows.  RSS is the peak resident set size (`/usr/bin/time -f %M`, in
the verification run, whose replies bench/pop3check checks) in MiB.

How each server runs (all over pipes, one process per session, page cache
warm and equal for all; each on its own byte-identical copy of the mbox,
restored before every run that writes):

- **pop3d**: the optimised build (`make pop3d`),
  `pop3d -s -p PASSWD -m COPY` as the mailbox owner (setpriv), so without
  privilege separation; the "root/privsep" rows start it as root (the inetd
  case: pre-login process chrooted to /var/lib/pop3d/empty, then the switch to the
  user).  Its UPDATE is journaled and fsynced.  The "warm index cache"
  rows add `-I FILE` (the optional index cache, off by default): before
  them one untimed session on the same copy of the mbox, 2 s after the
  copy was made, wrote the cache, as a client's earlier poll would have
  (Dovecot warm's counterpart).  Writing runs restore the copy and warm
  the cache again before each run.
- **popa3d**: Debian's `/usr/sbin/popa3d` in inetd mode, started as root,
  authenticating through PAM/shadow (the account `pop3dbench`), serving
  `/var/mail/pop3dbench`.
- **Dovecot**: its `pop3` binary, `pop3 -c CONF`, pre-authenticated (the
  environment gives USER and HOME; no login, no password check), as the
  user, `mail_location = mbox:...:INBOX=COPY:INDEX=DIR`, defaults
  otherwise.  Debian's dovecot-pop3d conflicts with popa3d, so unless it
  is installed the binary is unpacked from its .deb into the work
  directory (with dovecot-core installed for the libraries); the commands
  reach it through a pipe because it refuses a regular file on stdin.
  *cold*: no index, and the mbox as delivered; Dovecot then writes
  X-IMAPbase/X-UID/Content-Length headers into it on its first sync,
  which is part of its cold cost.  *warm*: the mbox and index as an
  earlier session left them.
- Passwords: the same sha512-crypt hash for pop3d and popa3d (the shadow
  entry, copied to pop3d's password file); the yescrypt row uses
  `chpasswd -c YESCRYPT`'s hash for both.  Dovecot's tiny sessions are
  pre-authenticated (no hash at all), so they are shown but not counted
  as a peer for that row.

EOF
	cat "$RES/table.md"
	echo
	cat "$RES/goals.md"
	echo
	cat "$B/profile-notes.md"
	echo
	cat <<'EOF'
Notes:

- Compare ratios within one run: on a small virtual machine the same
  command varies from run to run (pushing 1 GB through `cat | cat` took
  between 0.3 s and 1.6 s in a row), which the medians only damp.
- The memory goal compares pop3d's largest peak RSS on the goal mbox with
  its largest on the small one, per message; the RSS of a process includes
  its shared libraries (libc, libcrypt, libmd, libxxhash), a few MB.
- pop3d's row is the working tree named above, built with the Makefile's
  optimisation flags.
EOF
	echo
	echo "The chart: [results/ratios.png](results/ratios.png); the numbers: [results/latest.csv](results/latest.csv)."
} >"$B/RESULTS.md"

cat "$RES/table.txt"
echo
cat "$RES/goals.md"
echo
say "CSV: $B/results/latest.csv; chart: $B/results/ratios.png; report: $B/RESULTS.md"
say "verification log: $LOG; bench took $((ELAPSED / 60)) min $((ELAPSED % 60)) s"
# Sessions per second through HAProxy: its own script (also `make
# bench-haproxy`), which adds its section to the RESULTS.md just written.
say "== sessions per second through HAProxy (bench/haproxy.sh)"
ha=0
bash "$B/haproxy.sh" || ha=$?
# Maildirs against Dovecot and Courier: its own script too (also `make
# bench-maildir`), adding its section.
say "== Maildir (bench/maildir.sh)"
md=0
bash "$B/maildir.sh" || md=$?
if grep -q 'FAILED' "$LOG"; then
	say "some verification runs FAILED (see $LOG)"
	exit 1
fi
[ "$ha" -eq 0 ] || { say "bench/haproxy.sh failed (status $ha)"; exit 1; }
[ "$md" -eq 0 ] || { say "bench/maildir.sh failed (status $md)"; exit 1; }

#!/usr/bin/env bash
# bench/maildir.sh - pop3d on a Maildir against Dovecot's pop3 and
# Courier's courierpop3d, with the floor of listing and stat'ing the files
# (issue 16): part of `make bench` (run by bench/run.sh at its end), or
# alone as `make bench-maildir`.  Must run as root.  Not part of `make check`.
#
# Parameters (environment or make variables):
#   BENCH_MAILDIR_SIZES  comma list of message counts       [10000,100000]
#                        (200 makes a quick self-test)
#   BENCH_MAILDIR_MEAN   mean message size in bytes                 [8192]
#   BENCH_RUNS           timed runs per scenario and server (median)   [5]
#   BENCH_SLOW_S         a scenario whose runs take longer than this many
#                        seconds stops after 3 timed runs              [5]
#   BENCH_SEED           seed of the generator                         [1]
#   BENCH_WORKDIR        scratch space, several GB  [/var/tmp/pop3d-bench]
#                        (this script uses its maildir/ subdirectory)
#   BENCH_MAILDIR_LOOPFS yes: the servers' copies live on an ext4 made for
#                        the run in an image file under BENCH_WORKDIR,
#                        loop-mounted without "discard"; no: in the bench
#                        account's home as it is; auto: yes when that home's
#                        file system is mounted with "discard"          [auto]
#                        (there every unlink waits for the device's
#                        discard: ~2.5 ms a file on the virtual disk this was
#                        written on, two minutes for any server's DELE of
#                        50,000 files, which then measures only the disk)
#
# The Maildirs: bench/gen-mbox.c's messages (lognormal sizes around the
# mean, clipped to [700 B, 64 x mean]; folded headers, MIME, base64
# attachments, dot lines), split into files by bench/gen-maildir.c, all in
# cur/ with ":2,S" (":2,FS" for every tenth: already seen, so retrieving
# them renames nothing), named T.MuPp.mx.example.org with T increasing:
# every second file has ",S=size,W=crlf-size" in its name as Dovecot's
# deliver writes it, the others have no size (qmail, procmail, maildrop),
# so a server must read those to learn their POP3 size.  Owned by the
# bench account pop3dbench (bench/run.sh's, made here when missing).
#
# The servers, each on its own copy (cp -a, synced, not timed; restored
# before every run that writes, i.e. DELE, and whenever a run changed it):
#   pop3d         pop3d -s -p PASSWD -m maildir:COPY as the user (setpriv),
#                 over a pipe, like bench/run.sh's pop3d rows
#   pop3d-cache   the same with -I FILE, warm: one untimed session (STAT,
#                 LIST, UIDL) first, and again after every restore
#   dovecot-cold  Dovecot's pop3 -c CONF, pre-authenticated (USER, HOME),
#                 mail_location = maildir:~/Maildir:INDEX=~/index:CONTROL=~/index,
#                 ~/index removed before every run
#   dovecot-warm  the same, with the index an untimed session (STAT, LIST,
#                 UIDL) built; writing runs restore the Maildir and index
#                 saved after that session
#   courier-cold  courierpop3d COPY, pre-authenticated (AUTHENTICATED,
#                 as courierpop3login execs it), its courierpop3dsizelist
#                 removed before every run
#   courier-warm  the same with the sizelist an untimed session wrote
#                 (what every later session of a Courier user finds)
# Scenarios: login+STAT, UIDL, RETR of every message, DELE of every second
# message + QUIT.  Each server and scenario: one verification run (bench/
# pop3check: every reply well formed, STAT's count and octets those the
# generator computed, a UIDL line per message, RETR sizes equal to LIST's
# and their total to STAT's, the same messages' bytes as pop3d's in any
# order, and after DELE the messages left), under /usr/bin/time -f %M for
# the peak RSS; then BENCH_RUNS timed runs (median; wall time of `cat CMDS
# | server | cat >/dev/null`, as bench/runner.sh measures).  A server whose
# answers fail the check is timed all the same, with FAIL and the reason
# in its row.  The floors (bench/lsstat.c, median of BENCH_RUNS): listing
# cur/ and new/ and stat'ing every file; and that plus reading the files
# without ,W= (what STAT needs at least with no index); and pop3d's login
# alone (USER, PASS, QUIT on an empty Maildir), which its rows include and
# the pre-authenticated peers' do not.
# Writes bench/results/maildir.csv and the section "Maildir" of
# bench/RESULTS.md (replaced, or added after the rest), and prints the
# table and the issue's three goals.
set -euo pipefail
export LC_ALL=C

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$TOP/bench
SIZES=${BENCH_MAILDIR_SIZES:-10000,100000}
MEAN=${BENCH_MAILDIR_MEAN:-8192}
RUNS=${BENCH_RUNS:-5}
SLOW_S=${BENCH_SLOW_S:-5}
SEED=${BENCH_SEED:-1}
BASE=${BENCH_WORKDIR:-/var/tmp/pop3d-bench}
W=$BASE/maildir
BUSER=pop3dbench
BPASS='Bench-pw-5e81c'
BHOME=/var/lib/pop3dbench
prog=bench/maildir.sh
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }
say() { printf '%s\n' "$*" >&2; }
note() { printf '  %s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (the servers run as the bench account)"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
[[ $SLOW_S =~ ^[0-9]+$ ]] || die "BENCH_SLOW_S must be a whole number of seconds"
[[ $MEAN =~ ^[1-9][0-9]*$ ]] || die "BENCH_MAILDIR_MEAN must be a positive integer"
IFS=, read -r -a SIZE_LIST <<<"$SIZES"
[ ${#SIZE_LIST[@]} -gt 0 ] || die "BENCH_MAILDIR_SIZES is empty"
for z in "${SIZE_LIST[@]}"; do
	[[ $z =~ ^[1-9][0-9]*$ ]] && [ "$z" -ge 2 ] || die "BENCH_MAILDIR_SIZES: '$z' is not a message count of at least 2"
done
START=$EPOCHSECONDS

# ------------------------------------------------------------ packages
# Debian's dovecot-pop3d and courier-pop both conflict with popa3d (all
# provide pop3-server), which bench/run.sh installs: their binaries are
# unpacked from the .debs (apt-get download, dpkg-deb -x), with the
# libraries they need installed; no package script starts a daemon (a
# temporary /usr/sbin/policy-rc.d when the system has none).
apt_install() {
	local own_policy=''
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	say "installing $*"
	sh "$TOP/tests/apt-install.sh" "$@" || { [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d; die "installing $* failed"; }
	[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
	return 0
}
need=()
libs=$(ldconfig -p)	# (not piped into grep -q: pipefail and SIGPIPE)
[ -e /usr/lib/dovecot/libdovecot-storage.so.0 ] || need+=(dovecot-core)
[[ $libs == *'libcourierauth.so.0 '* ]] || [ -e /usr/lib/x86_64-linux-gnu/courier-authlib/libcourierauth.so.0 ] ||
	need+=(courier-authlib)
[[ $libs == *'libidn.so.12 '* ]] || need+=(libidn12)
[[ $libs == *'libcourier-unicode.so.4 '* ]] || need+=(libcourier-unicode4)
[ -x /usr/bin/time ] || need+=(time)
command -v setpriv >/dev/null || need+=(util-linux)
command -v cc >/dev/null || need+=(gcc libc6-dev)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
	systemctl disable --now dovecot.service dovecot.socket courier-authdaemon.service >/dev/null 2>&1 || true
fi
mkdir -p "$BASE" "$W"
chmod 755 "$BASE" "$W"
# unpack PACKAGE DIR: the .deb's files in DIR (kept for the next run).
unpack() {
	local pkg=$1 dir=$2
	rm -rf "$W/deb" "$dir"
	mkdir -p "$W/deb"
	chmod 777 "$W/deb"	# apt-get download runs as _apt
	say "unpacking $pkg (it conflicts with popa3d, so it is not installed)"
	(cd "$W/deb" && apt-get download -q "$pkg" >&2) ||
		{ apt-get update -q >&2 && (cd "$W/deb" && apt-get download -q "$pkg" >&2); } ||
		die "apt-get download $pkg failed"
	dpkg-deb -x "$W"/deb/"$pkg"_*.deb "$dir" || die "dpkg-deb -x $pkg failed"
	rm -rf "$W/deb"
	chmod 755 "$dir"
}
# Always the unpacked binaries, even where the packages are installed:
# an installed one can vanish in the middle of a run (other work on the
# machine installing popa3d removes courier-pop and dovecot-pop3d, which
# happened while this script was written).
DC_POP3=$BASE/dovecot-pop3d/usr/lib/dovecot/pop3	# bench/run.sh's place
[ -x "$DC_POP3" ] || unpack dovecot-pop3d "$BASE/dovecot-pop3d"
[ -x "$DC_POP3" ] || die "no pop3 binary in the dovecot-pop3d package"
COURIER=$BASE/courier-pop/usr/lib/courier/courier/courierpop3d
[ -x "$COURIER" ] || unpack courier-pop "$BASE/courier-pop"
[ -x "$COURIER" ] || die "no courierpop3d in the courier-pop package"
[[ $(ldd "$COURIER") != *'not found'* ]] || die "courierpop3d lacks libraries: $(ldd "$COURIER" | grep 'not found' | tr '\n' ' ')"
DC_VERSION=$(dpkg-query -W -f '${Version}' dovecot-core 2>/dev/null || echo '?')
COURIER_VERSION=$(apt-cache policy courier-pop 2>/dev/null | awk '/Candidate:/ { print $2; exit }')
[ -n "$COURIER_VERSION" ] || COURIER_VERSION='?'

# ------------------------------------------------------------ build
say "building pop3d (make pop3d) and the bench tools"
make -C "$TOP" --no-print-directory pop3d >&2 || die "make pop3d failed"
mkdir -p "$W/bin"
chmod 755 "$W/bin"
# A copy: a rebuild while this runs must not change the binary measured.
install -m 755 "$TOP/pop3d" "$W/bin/pop3d"
cc -O2 -Wall -o "$W/bin/gen-mbox" "$B/gen-mbox.c" -lm || die "cannot build gen-mbox"
cc -O2 -Wall -D_GNU_SOURCE -o "$W/bin/gen-maildir" "$B/gen-maildir.c" || die "cannot build gen-maildir"
cc -O2 -Wall -D_GNU_SOURCE -o "$W/bin/lsstat" "$B/lsstat.c" || die "cannot build lsstat"
cc -O2 -Wall -D_GNU_SOURCE -o "$W/bin/pop3check" "$B/pop3check.c" || die "cannot build pop3check"
install -m 755 "$B/runner.sh" "$W/bin/runner.sh"
POP3D=$W/bin/pop3d

# ------------------------------------------------------------ account
if ! getent passwd "$BUSER" >/dev/null; then
	useradd --system --user-group --create-home --home-dir "$BHOME" \
		--shell /usr/sbin/nologin --comment 'pop3d benchmark' "$BUSER" ||
		die "useradd $BUSER failed"
fi
BUID=$(id -u "$BUSER") BGID=$(id -g "$BUSER")
# The Maildirs live in the bench account's home (its own subdirectory,
# which this script owns).
H=$BHOME/maildir-bench
LOOPFS=${BENCH_MAILDIR_LOOPFS:-auto}
mountpoint -q "$H" && { umount "$H" || die "cannot unmount $H (a previous run's)"; }
rm -rf "$H"
install -d -m 755 -o "$BUID" -g "$BGID" "$BHOME" "$H"
if [ "$LOOPFS" = auto ]; then
	case ,$(findmnt -no OPTIONS -T "$H"), in *,discard,*) LOOPFS=yes ;; *) LOOPFS=no ;; esac
fi
FSNOTE="the bench account's home ($(findmnt -no FSTYPE,OPTIONS -T "$H" | tr -s ' ' ' '))"
if [ "$LOOPFS" = yes ]; then
	# 8 copies (6 servers, 2 warm snapshots) of the largest Maildir, with
	# ext4's block rounding, and room: a sparse image.
	max=0
	for z in "${SIZE_LIST[@]}"; do [ "$z" -gt "$max" ] && max=$z; done
	img_mb=$((max * (MEAN + 4096) * 10 / 1048576 + 512))
	rm -f "$W/fs.img"
	truncate -s "${img_mb}M" "$W/fs.img"
	mkfs.ext4 -q -F -N $((max * 10 + 100000)) "$W/fs.img" || die "mkfs.ext4 $W/fs.img failed"
	mount -o loop,nodiscard "$W/fs.img" "$H" || die "cannot loop-mount $W/fs.img on $H"
	chown "$BUID:$BGID" "$H"
	chmod 755 "$H"
	FSNOTE="an ext4 made for the run (${img_mb} MB image file on the host's $(findmnt -no FSTYPE -T "$W"), loop-mounted with $(findmnt -no OPTIONS "$H"))"
	trap 'umount "$H" 2>/dev/null; rm -f "$W/fs.img"' EXIT
fi
install -d -m 755 -o root -g root "$W/etc"
# sha512-crypt, 5000 rounds (the default), as bench/run.sh's sessions.
HASH=$(perl -e 'print crypt($ARGV[0], q{$6$maildirbench$})' "$BPASS")
printf '%s:%s\n' "$BUSER" "$HASH" >"$H/passwd"
chown "$BUID:$BGID" "$H/passwd"
chmod 600 "$H/passwd"
cat >"$W/etc/dovecot.conf" <<'EOF'
# Written by bench/maildir.sh.  Dovecot's defaults otherwise
# (pop3_uidl_format %08Xu%08Xv, flag updates on, mail_fsync optimized).
protocols = pop3
ssl = no
mail_location = maildir:~/Maildir:INDEX=~/index:CONTROL=~/index
log_path = /dev/stderr
EOF
chmod 644 "$W/etc/dovecot.conf"
SERVERS=(pop3d pop3d-cache dovecot-cold dovecot-warm courier-cold courier-warm)
for s in "${SERVERS[@]}"; do install -d -m 700 -o "$BUID" -g "$BGID" "$H/$s"; done
install -d -m 700 -o "$BUID" -g "$BGID" "$H/snap"

# ------------------------------------------------------------ servers
# srv SERVER: its command line in SRV, as the user (PRE).
srv() {
	PRE=(setpriv --reuid="$BUID" --regid="$BGID" --clear-groups
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C USER="$BUSER" HOME="$H/$1")
	case $1 in
	pop3d) SRV=("$POP3D" -s -p "$H/passwd" -m "maildir:$H/$1/Maildir") ;;
	pop3d-cache) SRV=("$POP3D" -s -p "$H/passwd" -m "maildir:$H/$1/Maildir" -I "$H/$1/pop3d-index") ;;
	dovecot-*) SRV=("$DC_POP3" -c "$W/etc/dovecot.conf") ;;
	courier-*)
		PRE+=(AUTHENTICATED="$BUSER" TCPREMOTEIP=127.0.0.1)
		SRV=("$COURIER" "$H/$1/Maildir") ;;
	esac
}
greets() { [[ $1 != dovecot-* ]]; }	# Dovecot's pre-authenticated pop3 sends none
logs_in() { [[ $1 == pop3d* ]]; }	# the others are pre-authenticated
runner() {
	local s=$1
	shift
	srv "$s"
	(cd / && "${PRE[@]}" bash "$W/bin/runner.sh" "$@" -- "${SRV[@]}")
}

# ------------------------------------------------------------ copies
# copy SRC DST: DST becomes a copy of the directory SRC (cp -a), on disk.
copy() {
	rm -rf "$2"
	cp -a "$1" "$2"
	sync -f "$2"
}
# warmup SERVER: one untimed session that leaves the server's warm state.
warmup() {
	rm -f "$RES/warm.log"
	runner "$1" verify "$(cmdfile "$1" warm)" "$RES/warm.log" /dev/null "$W/bin/pop3check$(greets "$1" || printf %s " -n")" >/dev/null 2>&1 ||
		note "$1's warm-up session failed: $(head -c 300 "$RES/warm.log")"
}
# warm_cache: pop3d-cache's warm state after its copy was made: the index
# cache trusts a directory's stamps only once they are
# CACHE_SETTLE_SECONDS (params.h, 2) old, and a copy made a moment ago is
# newer, so the warm-up session waits that long first -- the state any
# Maildir is in that changed more than two seconds before the login.
# (Dovecot's warm copy keeps working through cp -a, which keeps the
# directory mtimes it compares; pop3d's cache names inodes and ctimes,
# which no copy keeps.)
warm_cache() {
	sleep 3
	warmup pop3d-cache
}
# restore SERVER: the server's state before a run: its copy as it starts
# out (the master's, or the warm snapshot), its index or sizelist as its
# kind wants.
restore() {
	local s=$1 d=$H/$1
	case $s in
	pop3d | dovecot-cold | courier-cold) copy "$MASTER" "$d/Maildir" ;;
	pop3d-cache)
		copy "$MASTER" "$d/Maildir"
		rm -f "$d/pop3d-index"
		warm_cache ;;
	dovecot-warm)
		copy "$H/snap/$s/Maildir" "$d/Maildir"
		copy "$H/snap/$s/index" "$d/index" ;;
	courier-warm) copy "$H/snap/$s/Maildir" "$d/Maildir" ;;
	esac
	DIRTY[$s]=
}
# prep SERVER SCENARIO: before a run.
prep() {
	local s=$1 c=$2
	if [ "$c" = dele_half ] || [ -n "${DIRTY[$s]:-}" ]; then restore "$s"; fi
	case $s in
	dovecot-cold) rm -rf "$H/$s/index" ;;
	courier-cold) rm -f "$H/$s/Maildir/courierpop3dsizelist" ;;
	esac
	[ "$c" = dele_half ] && DIRTY[$s]=1
	return 0
}
declare -A DIRTY

# ------------------------------------------------------------ commands
mkcmds() { # DIR COUNT
	local d=$1 n=$2 c
	rm -rf "$d"
	mkdir -p "$d"
	body() {
		case $1 in
		stat) printf 'STAT\r\n' ;;
		uidl) printf 'UIDL\r\n' ;;
		retr) seq -f 'RETR %.0f' 1 "$n" | sed 's/$/\r/' ;;
		dele_half) seq -f 'DELE %.0f' 1 2 "$n" | sed 's/$/\r/' ;;
		warm) printf 'STAT\r\nLIST\r\nUIDL\r\n' ;;
		check) printf 'STAT\r\n' ;;
		esac
		printf 'QUIT\r\n'
	}
	for c in stat uidl retr dele_half warm check; do
		body "$c" >"$d/$c.pre"
		{ printf 'STAT\r\nLIST\r\n'; body "$c"; } >"$d/$c.v.pre"
		{ printf 'USER %s\r\nPASS %s\r\n' "$BUSER" "$BPASS"; cat "$d/$c.pre"; } >"$d/$c"
		{ printf 'USER %s\r\nPASS %s\r\n' "$BUSER" "$BPASS"; cat "$d/$c.v.pre"; } >"$d/$c.v"
	done
	printf 'USER %s\r\nPASS %s\r\nQUIT\r\n' "$BUSER" "$BPASS" >"$d/login"
	chmod -R a+rX "$d"
}
cmdfile() { # SERVER NAME
	if logs_in "$1"; then echo "$CMDS/$2"; else echo "$CMDS/$2.pre"; fi
}

# ------------------------------------------------------------ results
RES=$W/results
rm -rf "$RES"
mkdir -p "$RES"
chmod 777 "$RES"
RAW=$RES/raw.tsv
: >"$RAW"
LOG=$RES/verify.log
: >"$LOG"
chmod 666 "$LOG"
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# verify SERVER SCENARIO: one checked run; VOK empty when it failed (the
# reason in VWHY and the log), VRSS its peak RSS in KiB.
verify() {
	local s=$1 c=$2 f out rc=0 chk="$W/bin/pop3check" n_cmds greet=1 why=
	greets "$s" || { chk="$chk -n"; greet=0; }
	f=$(cmdfile "$s" "$c.v")
	prep "$s" "$c"
	rm -f "$RES/server.log" "$RES/server2.log" "$RES/rss"
	out=$(runner "$s" verify "$f" "$RES/server.log" "$RES/rss" "$chk" 2>&1) || rc=$?
	VRSS=$(tail -n 1 "$RES/rss" 2>/dev/null) || VRSS=
	[[ $VRSS =~ ^[0-9]+$ ]] || VRSS=nan
	n_cmds=$(wc -l <"$f")
	VOK='' VWHY=''
	local kv replies=0 err=0 stat='' uidl_lines=0 retr=0 retr_octets=0 size_mismatch=0 mhash=''
	if [ "$rc" -ne 0 ] || [[ $out != replies=* ]]; then
		why="checker: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
	else
		for kv in $out; do
			case ${kv%%=*} in
			replies | err | stat | uidl_lines | retr | retr_octets | size_mismatch | mhash)
				printf -v "${kv%%=*}" '%s' "${kv#*=}" ;;
			esac
		done
		local n=${stat%%/*}
		if [ "$replies" -ne $((n_cmds + greet)) ]; then why="$replies replies to $n_cmds commands"
		elif [ "$err" -ne 0 ]; then why="$err -ERR replies"
		elif [ "$n" != "$NMSG" ]; then why="STAT says $n messages, the Maildir has $NMSG"
		elif [ "${stat#*/}" != "$OCTETS" ]; then why="STAT says ${stat#*/} octets, the messages have $OCTETS"
		else
			case $c in
			uidl) [ "$uidl_lines" -eq "$NMSG" ] || why="$uidl_lines UIDL lines for $NMSG messages" ;;
			retr)
				if [ "$retr" -ne "$NMSG" ]; then why="$retr RETR replies for $NMSG messages"
				elif [ "$size_mismatch" -ne 0 ]; then why="$size_mismatch messages differ from their LIST size"
				elif [ "$retr_octets" != "$OCTETS" ]; then why="RETR sent $retr_octets octets, STAT said $OCTETS"
				elif [ -n "$REF_MHASH" ] && [ "$mhash" != "$REF_MHASH" ]; then why="RETR bytes differ from pop3d's (hash $mhash, $REF_MHASH)"
				fi ;;
			dele_half)
				local left
				left=$(runner "$s" verify "$(cmdfile "$s" check)" "$RES/server2.log" /dev/null "$chk" 2>&1 || true)
				left=${left#*stat=}
				left=${left%%/*}
				[ "$left" = $((NMSG / 2)) ] || why="after QUIT the Maildir has '$left' messages, expected $((NMSG / 2))" ;;
			esac
		fi
	fi
	if [ -n "$why" ]; then
		note "VERIFY FAILED: $s $c ($NMSG): $why"
		{
			echo "== $NMSG $c $s: FAILED: $why"
			echo "-- server stderr:"; head -n 20 "$RES/server.log" 2>/dev/null
		} >>"$LOG"
		VWHY=$why
		return
	fi
	echo "== $NMSG $c $s: ok: $out" >>"$LOG"
	VOK=1
	[ "$c" = retr ] && [ -z "$REF_MHASH" ] && REF_MHASH=$mhash
	return 0
}

ms() { awk -v u="$1" 'BEGIN { if (u == "nan") print "nan"; else printf "%.1f", u / 1000 }'; }
# measure SERVER SCENARIO: the verification run, then the timed runs; a
# row in the raw results: size, scenario, server, median us, runs, RSS
# KiB, status, every run's us.
measure() {
	local s=$1 c=$2 f i t times=() med status=ok
	verify "$s" "$c"
	[ -n "$VOK" ] || status="FAIL: $VWHY"
	f=$(cmdfile "$s" "$c")
	for ((i = 0; i < RUNS; i++)); do
		prep "$s" "$c"
		t=$(runner "$s" time "$f") || t=
		[[ $t =~ ^[0-9]+$ ]] || { status="FAIL: a timed run failed"; break; }
		times+=("$t")
		[ ${#times[@]} -ge 3 ] && [ "$t" -gt $((SLOW_S * 1000000)) ] && break
	done
	# runner.sh's timed runs do not look at the server's exit status: a
	# binary gone meanwhile would time its absence.
	srv "$s"
	[ -x "${SRV[0]}" ] || status="FAIL: ${SRV[0]} vanished during the runs"
	med=nan
	[ ${#times[@]} -gt 0 ] && med=$(printf '%s\n' "${times[@]}" | median)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$NMSG" "$c" "$s" "$med" "${#times[@]}" "$VRSS" "$status" "${times[*]}" >>"$RAW"
	note "$(printf '%-10s %-13s %10s ms  %8s KiB  %d runs  %s' "$c" "$s" "$(ms "$med")" "$VRSS" "${#times[@]}" "$status")"
}
# floor NAME ARGS...: lsstat ARGS, timed as a server is, median of RUNS.
floor() {
	local name=$1 i t0 t1 times=() out
	shift
	out=$("$W/bin/lsstat" "$@") || die "lsstat $* failed"
	for ((i = 0; i < RUNS; i++)); do
		t0=$EPOCHREALTIME
		"$W/bin/lsstat" "$@" >/dev/null
		t1=$EPOCHREALTIME
		times+=($((10#${t1/./} - 10#${t0/./})))
	done
	local med
	med=$(printf '%s\n' "${times[@]}" | median)
	printf '%s\t%s\tfloor\t%s\t%s\tnan\tok\t%s\n' "$NMSG" "$name" "$med" "${#times[@]}" "${times[*]}" >>"$RAW"
	note "$(printf '%-10s %-13s %10s ms  (%s)' "$name" floor "$(ms "$med")" "$out")"
}

# login_floor: pop3d's login alone (USER, PASS with the sha512-crypt
# hash, QUIT) on an empty Maildir, timed as the sessions are: what pop3d's
# rows pay that the pre-authenticated peers' do not.
login_floor() {
	local i t times=() med
	rm -rf "$H/empty"
	install -d -m 700 -o "$BUID" -g "$BGID" "$H/empty" "$H/empty/Maildir" "$H/empty/Maildir/cur" "$H/empty/Maildir/new" "$H/empty/Maildir/tmp"
	srv pop3d
	for ((i = 0; i < RUNS; i++)); do
		t=$(cd / && "${PRE[@]}" bash "$W/bin/runner.sh" time "$CMDS/login" -- "$POP3D" -s -p "$H/passwd" -m "maildir:$H/empty/Maildir") || t=
		[[ $t =~ ^[0-9]+$ ]] && times+=("$t")
	done
	med=nan
	[ ${#times[@]} -gt 0 ] && med=$(printf '%s\n' "${times[@]}" | median)
	printf '%s\t%s\tfloor\t%s\t%s\tnan\tok\t%s\n' "$NMSG" login "$med" "${#times[@]}" "${times[*]}" >>"$RAW"
	note "$(printf '%-10s %-13s %10s ms  (pop3d: USER, PASS, QUIT on an empty Maildir)' login floor "$(ms "$med")")"
}

# ------------------------------------------------------------ runs
SCENARIOS=(stat uidl retr dele_half)
say "Maildir benchmark: sizes $SIZES, mean $MEAN bytes, $RUNS runs, work directory $W, Maildirs in $H"
for z in "${SIZE_LIST[@]}"; do
	NMSG=$z
	MASTER=$W/master/$z/Maildir
	params="$z $MEAN $SEED $(cat "$B/gen-mbox.c" "$B/gen-maildir.c" | sha1sum | cut -c1-12)"
	if [ ! -d "$MASTER/cur" ] || [ "$(cat "$W/master/$z/params" 2>/dev/null)" != "$params" ]; then
		say "generating the $z-message Maildir (mean $MEAN bytes)"
		rm -rf "$W/master/$z"
		mkdir -p "$W/master/$z"
		"$W/bin/gen-mbox" "$z" "$MEAN" "$SEED" "$W/master/$z/tmp.mbox" >/dev/null || die "gen-mbox failed"
		"$W/bin/gen-maildir" "$W/master/$z/tmp.mbox" "$MASTER" >"$W/master/$z/counts" || die "gen-maildir failed"
		rm -f "$W/master/$z/tmp.mbox"
		chown -R "$BUID:$BGID" "$MASTER"
		echo "$params" >"$W/master/$z/params"
	fi
	OCTETS=$(sed -n 's/.*octets=\([0-9]*\).*/\1/p' "$W/master/$z/counts")
	[ "$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' "$W/master/$z/counts")" = "$z" ] || die "the master Maildir of $z has another count"
	BYTES=$(du -sb "$MASTER/cur" | cut -f1)
	printf 'meta\t%s\toctets\t%s\n' "$z" "$OCTETS" >>"$RAW"
	CMDS=$W/cmds/$z
	mkcmds "$CMDS" "$z"
	REF_MHASH=''
	say "== $z messages, $OCTETS octets (CRLF), $BYTES bytes in cur/"
	t0=$EPOCHSECONDS
	# Each server's copy; the warm states and their snapshots.
	for s in pop3d pop3d-cache dovecot-cold dovecot-warm courier-cold courier-warm; do
		copy "$MASTER" "$H/$s/Maildir"
		rm -rf "$H/$s/index" "$H/$s/pop3d-index"
		DIRTY[$s]=
	done
	warm_cache
	for s in dovecot-warm courier-warm; do
		warmup "$s"
		rm -rf "$H/snap/$s"
		mkdir -p "$H/snap/$s"
		cp -a "$H/$s/Maildir" "$H/snap/$s/Maildir"
		[ -d "$H/$s/index" ] && cp -a "$H/$s/index" "$H/snap/$s/index"
		chown "$BUID:$BGID" "$H/snap/$s"
	done
	if [ -e "$H/pop3d-cache/pop3d-index" ]; then
		printf 'meta\t%s\tcache\tyes\n' "$z" >>"$RAW"
	else
		printf 'meta\t%s\tcache\tno\n' "$z" >>"$RAW"
		note "pop3d wrote no index cache for the Maildir (-I is ignored for Maildirs): pop3d-cache measures pop3d without one"
	fi
	[ -s "$H/courier-warm/Maildir/courierpop3dsizelist" ] || note "Courier's warm-up session wrote no courierpop3dsizelist"
	[ -d "$H/dovecot-warm/index" ] || note "Dovecot's warm-up session wrote no index"
	sync
	note "copies made in $((EPOCHSECONDS - t0)) s"
	# The page and dentry caches hold every copy now (just written).
	floor stat "$H/pop3d/Maildir/cur" "$H/pop3d/Maildir/new"
	login_floor
	floor stat+read_no_w -w "$H/pop3d/Maildir/cur" "$H/pop3d/Maildir/new"
	for c in "${SCENARIOS[@]}"; do
		for s in "${SERVERS[@]}"; do
			measure "$s" "$c"
		done
	done
	for s in "${SERVERS[@]}"; do rm -rf "$H/$s/Maildir" "$H/$s/index" "$H/$s/pop3d-index"; done
	rm -rf "$H/snap/"*
done
if [ "$LOOPFS" = yes ]; then
	umount "$H" || note "cannot unmount $H"
	rm -f "$W/fs.img"
	trap - EXIT
fi
rm -rf "$H"

# ------------------------------------------------------------ report
ELAPSED=$((EPOCHSECONDS - START))
mkdir -p "$B/results"
cpu=$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }')
[ -n "$cpu" ] || cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
MACHINE="$(nproc) CPUs ($cpu), $mem RAM, Linux $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
POP3D_REV=$(git -C "$TOP" describe --always --dirty 2>/dev/null || echo '?')

awk -F'\t' -v csv="$B/results/maildir.csv" -v md="$RES/table.md" -v txt="$RES/table.txt" -v goals="$RES/goals.md" '
function ms(u) { return (u == "nan") ? "nan" : sprintf("%.1f", u / 1000) }
function mib(k) { return (k == "nan") ? "-" : sprintf("%.1f", k / 1024) }
$1 == "meta" { if ($3 == "cache" && $4 == "no") nocache = nocache (nocache ? ", " : "") $2; next }
{
	z = $1; c = $2; s = $3
	if (!(z in seen)) { seen[z] = 1; zs[++nz] = z }
	t[z, c, s] = $4; runs[z, c, s] = $5; rss[z, c, s] = $6; st[z, c, s] = $7
	if (s != "floor") { if (!((c, s) in have)) { have[c, s] = 1 } }
	line[++nl] = $0
}
END {
	print "messages,scenario,server,median_ms,runs,peak_rss_kib,status,runs_ms" > csv
	for (i = 1; i <= nl; i++) {
		split(line[i], f, "\t")
		nr = split(f[8], rr, " "); all = ""
		for (j = 1; j <= nr; j++) all = all (j > 1 ? " " : "") ms(rr[j])
		st8 = f[7]; gsub(/"/, "\"\"", st8)
		printf "%s,%s,%s,%s,%s,%s,\"%s\",\"%s\"\n", f[1], f[2], f[3], ms(f[4]), f[5], f[6], st8, all > csv
	}
	ns = split("pop3d pop3d-cache dovecot-cold dovecot-warm courier-cold courier-warm", S, " ")
	nc = split("stat uidl retr dele_half", C, " ")
	label["stat"] = "login+STAT"; label["uidl"] = "UIDL"; label["retr"] = "RETR all"; label["dele_half"] = "DELE half+QUIT"
	hdr = "| messages | scenario |"; sep = "|--:|---|"
	thdr = sprintf("%-9s %-15s", "messages", "scenario")
	for (k = 1; k <= ns; k++) { hdr = hdr " " S[k] " |"; sep = sep "--:|"; thdr = thdr sprintf(" %13s", S[k]) }
	print hdr > md; print sep > md; print thdr > txt
	for (i = 1; i <= nz; i++) {
		z = zs[i]
		for (j = 1; j <= nc; j++) {
			c = C[j]; row = "| " z " | " label[c] " |"; trow = sprintf("%-9s %-15s", z, label[c])
			for (k = 1; k <= ns; k++) {
				s = S[k]; v = ((z, c, s) in t) ? ms(t[z, c, s]) : "-"
				if ((z, c, s) in st && st[z, c, s] != "ok") v = v " FAIL"
				row = row " " v " |"; trow = trow sprintf(" %13s", v)
			}
			print row > md; print trow > txt
		}
		row = "| " z " | peak RSS MiB (RETR) |"; trow = sprintf("%-9s %-15s", z, "RSS MiB (RETR)")
		for (k = 1; k <= ns; k++) { v = ((z, "retr", S[k]) in rss) ? mib(rss[z, "retr", S[k]]) : "-"; row = row " " v " |"; trow = trow sprintf(" %13s", v) }
		print row > md; print trow > txt
		printf "| %s | floor: list+stat | %s ms |\n", z, ms(t[z, "stat", "floor"]) > md
		printf "| %s | floor: list+stat, read files without W= | %s ms |\n", z, ms(t[z, "stat+read_no_w", "floor"]) > md
		printf "| %s | pop3d login alone (empty Maildir) | %s ms |\n", z, ms(t[z, "login", "floor"]) > md
		printf "%-9s %-15s %13s   (list+stat+read files without ,W=: %s; pop3d login alone: %s)\n", z, "floor list+stat", ms(t[z, "stat", "floor"]), ms(t[z, "stat+read_no_w", "floor"]), ms(t[z, "login", "floor"]) > txt
	}
	# failures
	nf = 0
	for (i = 1; i <= nl; i++) { split(line[i], f, "\t"); if (f[7] != "ok") fails[++nf] = f[1] " " f[2] " " f[3] ": " f[7] }
	# goals
	print "### Goals (issue 16)" > goals
	print "" > goals
	ga = gb = gc = "MET"
	for (i = 1; i <= nz; i++) {
		z = zs[i]
		fl = t[z, "stat", "floor"]; p = t[z, "stat", "pop3d"]
		r = (fl > 0 && p != "nan") ? p / fl : -1
		ok = (r >= 0 && r <= 1.5 && st[z, "stat", "pop3d"] == "ok")
		if (!ok) ga = "MISSED"
		ares[i] = sprintf("%s messages: pop3d %s ms, floor %s ms: %.2fx (goal at most 1.5x%s); the login alone takes pop3d %s ms, the floor with the files without W= read is %s ms", z, ms(p), ms(fl), r, ok ? "" : sprintf("; %.2fx too slow, %s ms over", r / 1.5, ms(p - 1.5 * fl)), ms(t[z, "login", "floor"]), ms(t[z, "stat+read_no_w", "floor"]))
		for (j = 1; j <= 2; j++) {
			c = (j == 1) ? "stat" : "uidl"
			p = t[z, c, "pop3d-cache"]; d = t[z, c, "dovecot-warm"]
			ok = (p != "nan" && d != "nan" && p <= d && st[z, c, "pop3d-cache"] == "ok")
			if (!ok) gb = "MISSED"
			bres[i, j] = sprintf("%s messages, %s: pop3d with cache %s ms, Dovecot warm %s ms: %.2fx%s", z, label[c], ms(p), ms(d), (d > 0) ? p / d : -1, ok ? "" : sprintf(" (%s ms over)", ms(p - d)))
		}
		# Like with like: each without its index, each with it.  (The
		# scan at login is part of the DELE run, so pop3d without its
		# cache against Dovecot with its index compares the scans.)
		for (j = 1; j <= 2; j++) {
			ps = (j == 1) ? "pop3d" : "pop3d-cache"; ds = (j == 1) ? "dovecot-cold" : "dovecot-warm"
			p = t[z, "dele_half", ps]; d = t[z, "dele_half", ds]
			ok = (p != "nan" && d != "nan" && p <= d && st[z, "dele_half", ps] == "ok")
			if (!ok) gc = "MISSED"
			cres[i, j] = sprintf("%s messages: %s %s ms, Dovecot %s %s ms: %.2fx%s", z, (j == 1) ? "pop3d without its cache" : "pop3d with its cache", ms(p), (j == 1) ? "cold" : "warm", ms(d), (d > 0) ? p / d : -1, ok ? "" : sprintf(" (%s ms over)", ms(p - d)))
		}
		p = t[z, "dele_half", "pop3d"]; d = t[z, "dele_half", "dovecot-warm"]
		cres[i, 3] = sprintf("%s messages, for the record: pop3d without its cache %s ms against Dovecot warm %s ms: %.2fx", z, ms(p), ms(d), (d > 0) ? p / d : -1)
	}
	printf "- (a) pop3d cold login+STAT at most 1.5x the list+stat floor: **%s**\n", ga > goals
	for (i = 1; i <= nz; i++) printf "  - %s\n", ares[i] > goals
	printf "- (b) pop3d with the index cache, login+STAT and UIDL, at most Dovecot warm: **%s**%s\n", gb, (nocache != "") ? " (but without a cache: see the last line)" : "" > goals
	for (i = 1; i <= nz; i++) for (j = 1; j <= 2; j++) printf "  - %s\n", bres[i, j] > goals
	if (nocache != "")
		printf "  - pop3d wrote no index cache for these Maildirs (%s messages): its -I is ignored for Maildirs so far, and these rows are pop3d without a cache; the goal is not evaluated with a cache yet\n", nocache > goals
	printf "- (c) pop3d DELE half + QUIT at most Dovecot (cold against cold, with index against warm): **%s**\n", gc > goals
	for (i = 1; i <= nz; i++) for (j = 1; j <= 3; j++) printf "  - %s\n", cres[i, j] > goals
	if (nf) {
		print "" > goals
		print "Verification failures (those rows are timed all the same, marked FAIL):" > goals
		for (i = 1; i <= nf; i++) print "- " fails[i] > goals
	}
}' "$RAW"

SECTION=$RES/section.md
{
	echo '<!-- bench/maildir.sh: begin (this section is rewritten by it) -->'
	echo '## Maildir'
	echo
	echo "Made by \`make bench\` (bench/maildir.sh; alone: \`make bench-maildir\`) on $DATE, pop3d $POP3D_REV."
	echo
	echo "- Machine: $MACHINE."
	echo "- Peers: Dovecot $DC_VERSION (its pop3 binary), Courier courier-pop $COURIER_VERSION (courierpop3d), Debian packages."
	echo "- Parameters: BENCH_MAILDIR_SIZES=$SIZES BENCH_MAILDIR_MEAN=$MEAN BENCH_RUNS=$RUNS BENCH_SLOW_S=$SLOW_S BENCH_SEED=$SEED; this part took $((ELAPSED / 60)) min $((ELAPSED % 60)) s."
	echo
	cat <<'EOF'
Times are medians of the timed runs (BENCH_RUNS, or 3 where a run took
longer than BENCH_SLOW_S seconds), wall time in milliseconds of one
session each (`cat COMMANDS | server | cat > /dev/null`, as the mbox rows
above), on a machine shared with other work: compare within one run.
Every server runs as the user over pipes, page and dentry caches warm
(each copy was just written), each on its own copy of the Maildir
(`cp -a`, synced, restored before every DELE run and after anything that
changed it; not timed), the copies on FSNOTE_HERE.

- The Maildirs: bench/gen-mbox.c's messages (mean BENCH_MAILDIR_MEAN
  bytes, lognormal, 700 B to 64x the mean; MIME, attachments, dot lines)
  split into files by bench/gen-maildir.c, all in `cur/` with `:2,S`
  (`:2,FS` for every tenth), names `T.MuPp.mx.example.org` with T
  increasing; every second name carries `,S=size,W=crlf-size` (as
  Dovecot's deliver writes them), the others no size (qmail, procmail,
  maildrop), which a server must read to learn their POP3 size.
- **pop3d**: `pop3d -s -p PASSWD -m maildir:COPY` (USER/PASS,
  sha512-crypt, inside the timed session).  **pop3d-cache** adds
  `-I FILE`, warm: one untimed session (STAT, LIST, UIDL) first and after
  every restore.  Until the index cache learns Maildirs, pop3d ignores
  `-I` for them, and this row measures plain pop3d again.
- **Dovecot**: `pop3 -c CONF`, pre-authenticated (USER and HOME in the
  environment; no login inside the timed session),
  `mail_location = maildir:~/Maildir:INDEX=~/index:CONTROL=~/index`.
  *cold*: `~/index` (index, cache and dovecot-uidlist) removed before
  every run; *warm*: the index an untimed session (STAT, LIST, UIDL)
  built, its Maildir and index restored together for DELE runs.
- **Courier**: `courierpop3d MAILDIR` pre-authenticated
  (`AUTHENTICATED=user`, as courierpop3login execs it).  *cold*: its
  `courierpop3dsizelist` removed before every run (Courier reads every
  file then, and writes the list); *warm*: the list an untimed first
  session wrote (what every later session of a Courier user finds).
- Floors (bench/lsstat.c, as the servers are timed): listing `cur/` and
  `new/` and `fstatat` on every file; and the same plus reading the files
  whose names have no `,W=` (the least STAT needs without an index).
  "pop3d login alone": USER, PASS (sha512-crypt), QUIT on an empty
  Maildir, which pop3d's rows include and the pre-authenticated peers'
  do not.
- Verification (once per server and scenario, before the timed runs;
  bench/pop3check): every reply well formed, STAT's count and octets those
  the generator computed, one UIDL line per message, every RETR as long as
  LIST said and all together as long as STAT said, the same messages'
  bytes as pop3d's (a hash independent of the order), and after DELE half
  + QUIT half the messages left.  A row that failed it says FAIL.  Peak
  RSS (`/usr/bin/time -f %M`) is that of the verification run.

EOF
	cat "$RES/table.md"
	echo
	cat "$RES/goals.md"
	echo
	echo "The numbers, every run: [results/maildir.csv](results/maildir.csv)."
	echo '<!-- bench/maildir.sh: end -->'
} >"$SECTION.tmp"
# The file system, put in with awk (it may hold any character).
awk -v fs="$FSNOTE" '{ i = index($0, "FSNOTE_HERE"); if (i) $0 = substr($0, 1, i - 1) fs substr($0, i + 11); print }' "$SECTION.tmp" >"$SECTION"
OUT=$B/RESULTS.md
if [ -f "$OUT" ] && grep -q '^<!-- bench/maildir.sh: begin' "$OUT"; then
	awk -v sec="$SECTION" '
		/^<!-- bench\/maildir.sh: begin/ { while ((getline l < sec) > 0) print l; skip = 1; next }
		/^<!-- bench\/maildir.sh: end/ { skip = 0; next }
		!skip' "$OUT" >"$OUT.new"
	mv "$OUT.new" "$OUT"
else
	{ [ -f "$OUT" ] && cat "$OUT" && echo; cat "$SECTION"; } >"$OUT.new"
	mv "$OUT.new" "$OUT"
fi

cat "$RES/table.txt"
echo
cat "$RES/goals.md"
say "CSV: $B/results/maildir.csv; report: $OUT (section \"Maildir\"); verification log: $LOG; took $((ELAPSED / 60)) min $((ELAPSED % 60)) s"
if grep -q 'FAILED' "$LOG"; then
	say "some verification runs FAILED (see $LOG)"
	exit 1
fi

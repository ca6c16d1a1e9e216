#!/usr/bin/env bash
# tests/e2e/install.sh - "make install" and "make uninstall" (SPEC section
# 7) with DESTDIR and unusual PREFIX, SBINDIR, MANDIR, SYSCONFDIR and
# SYSTEMDUNITDIR, under umask 077: every file lands under DESTDIR where
# expected with the expected mode; @SBINDIR@ and @SYSCONFDIR@ are
# substituted in the xinetd file and the service unit; the PAM service
# file lands in SYSCONFDIR/pam.d, the fail2ban filter and jail in
# SYSCONFDIR/fail2ban/filter.d and jail.d (the jail disabled); the
# settings file etc/pop3d.conf lands as SYSCONFDIR/pop3d/pop3d.conf (0644),
# a second install keeps one the administrator changed and says so, and
# uninstall keeps a changed one and removes an unchanged one; the service
# files pass no settings, and name that file with --config only where it
# is not the one pop3d reads by default (another SYSCONFDIR); both man
# pages render without warnings; uninstall removes exactly what install
# put there; the privilege separation directory is made (mode 755, empty)
# at the path pop3d is compiled with, and removed by uninstall; nothing is
# created outside DESTDIR.  The build runs in a copy of
# the tree, so parallel builds in the work tree do not interfere.
. "$(dirname "$0")/../lib.sh"
# Started as root, pop3d refuses a password file in a directory another
# account owns (trust.c), and lib.sh gives $T to nobody: root's again.
[ "$(id -u)" = 0 ] && chown root:root "$T"

need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	apt-get install -y -q "$2" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$2" >/dev/null 2>&1; }
	command -v "$1" >/dev/null 2>&1
}
need man man-db || echo "man is missing; the man page checks will fail"
need groff groff-base || true
need lexgrog man-db || true


SRC=$T/src
mkdir -p "$SRC"
( cd "$TOP" && cp -r ./*.c ./*.h Makefile xinetd.d systemd pam.d fail2ban etc ./*.8 "$SRC/" ) ||
	fail copy-tree "could not copy the source tree"

D=$T/dest
PFX=/opt/pop3d-e2e-prefix
SBIN=$PFX/daemons
MAN=$PFX/docs/man
ETC=/srv/pop3d-e2e-conf
UNITS=$PFX/units/system
VARS=(DESTDIR="$D" PREFIX="$PFX" SBINDIR="$SBIN" MANDIR="$MAN" SYSCONFDIR="$ETC" SYSTEMDUNITDIR="$UNITS")
# name DESTDIR-relative path and mode of every installed file.
FILES=(
	"$SBIN/pop3d 755"
	"$SBIN/pop3passwd 755"
	"$MAN/man8/pop3d.8 644"
	"$MAN/man8/pop3passwd.8 644"
	"$ETC/xinetd.d/pop3 644"
	"$ETC/xinetd.d/pop3s 644"
	"$ETC/pam.d/pop3d 644"
	"$ETC/pop3d/pop3d.conf 644"
	"$ETC/fail2ban/filter.d/pop3d.conf 644"
	"$ETC/fail2ban/jail.d/pop3d.conf 644"
	"$UNITS/pop3d.socket 644"
	"$UNITS/pop3d@.service 644"
	"$UNITS/pop3s.socket 644"
	"$UNITS/pop3s@.service 644"
)
# The chroot of the pre-login process: params.h's path, not PREFIX's.
PRIVSEP=/var/lib/pop3d/empty
OUTSIDE=("$PFX" "$ETC")
pre_existing=''
for p in "${OUTSIDE[@]}"; do [ -e "$p" ] && pre_existing="$pre_existing $p"; done

# Files already in the target directories must survive both targets.
DIRS=("$SBIN" "$MAN/man8" "$ETC/xinetd.d" "$ETC/pam.d" "$ETC/pop3d" "$ETC/fail2ban/filter.d" "$ETC/fail2ban/jail.d" "$UNITS")
for d in "${DIRS[@]}"; do mkdir -p "$D$d"; echo keep >"$D$d/sentinel"; done

touch "$T/stamp"
sleep 1	# so that -newer tells files made from now on
( umask 077; make -C "$SRC" install "${VARS[@]}" ) >"$T/install.log" 2>&1
rc=$?
equal make-install-status 0 "$rc"
[ "$rc" = 0 ] || sed -n '1,10p' "$T/install.log"

# ------------------------------------------------ what landed where

bad=''
for f in "${FILES[@]}"; do
	path=${f% *} mode=${f##* }
	if [ ! -f "$D$path" ]; then bad="$bad missing $path;"
	elif [ "$(stat -c %a "$D$path")" != "$mode" ]; then bad="$bad $path has mode $(stat -c %a "$D$path"), not $mode;"
	fi
done
if [ -z "$bad" ]; then pass "installed-files-and-modes (${#FILES[@]} files)"; else fail installed-files-and-modes "$bad"; fi

want=$( { for f in "${FILES[@]}"; do echo "${f% *}"; done
	  for d in "${DIRS[@]}"; do echo "$d/sentinel"; done; } | sort)
got=$(cd "$D" && find . \( -type f -o -type l \) | sed 's,^\.,,' | sort)
if [ "$want" = "$got" ]; then pass installed-nothing-else
else fail installed-nothing-else "unexpected: $(comm -13 <(echo "$want") <(echo "$got") | tr '\n' ' ')"; fi

# The privilege separation directory, where pop3d looks for it.
equal privsep-dir-is-compiled-default "$PRIVSEP" \
	"$(sed -n 's/^#define DEFAULT_PRIVSEP_DIR "\(.*\)"$/\1/p' "$SRC/params.h")"
equal privsep-dir-in-makefile "PRIVSEP_DIR = $PRIVSEP" "$(grep '^PRIVSEP_DIR *=' "$SRC/Makefile")"
equal privsep-dir-installed "755 0" \
	"$(stat -c %a "$D$PRIVSEP" 2>&1) $(find "$D$PRIVSEP" -mindepth 1 2>/dev/null | wc -l)"

# The installed programs are working builds of this tree.
if "$D$SBIN/pop3d" --version >"$T/v.out" 2>&1 && [ -s "$T/v.out" ]; then pass installed-pop3d-runs
else fail installed-pop3d-runs "$(head -n 2 "$T/v.out")"; fi
if "$D$SBIN/pop3passwd" --version >"$T/vp.out" 2>&1 && [ -s "$T/vp.out" ]; then pass installed-pop3passwd-runs
else fail installed-pop3passwd-runs "$(head -n 2 "$T/vp.out")"; fi

# ------------------------------------------------ substitutions

left=$(grep -l '@[A-Z_]*@' "$D$ETC/xinetd.d/pop3" "$D$UNITS/pop3d@.service" "$D$UNITS/pop3d.socket" "$D$ETC/xinetd.d/pop3s" "$D$UNITS/pop3s@.service" 2>/dev/null | tr '\n' ' ')
equal no-placeholder-left "" "$left"
X=$D$ETC/xinetd.d/pop3
XS=$D$ETC/xinetd.d/pop3s
S=$D$UNITS/pop3d@.service
SS=$D$UNITS/pop3s@.service
equal xinetd-server-path "$SBIN/pop3d" "$(awk '$1 == "server" && $2 == "=" { print $3 }' "$X")"
# pop3d reads the settings file at the compiled path, the Makefile's
# CONFIG_DEFAULT; elsewhere (SYSCONFDIR here) the service files name it,
# and carry nothing else but pop3s's --tls.
equal config-default-is-compiled-default "$(sed -n 's/^#define DEFAULT_CONFIG_FILE "\(.*\)"$/\1/p' "$SRC/params.h")" \
	"$(sed -n 's/^CONFIG_DEFAULT *= *//p' "$SRC/Makefile")"
CONF=$ETC/pop3d/pop3d.conf
equal xinetd-pop3-server-args "--config $CONF" "$(awk '$1 == "server_args" { $1 = $2 = ""; print }' "$X" | xargs)"
equal xinetd-pop3s-server-args "--tls --config $CONF" "$(awk '$1 == "server_args" { $1 = $2 = ""; print }' "$XS" | xargs)"
equal service-execstart "$SBIN/pop3d --config $CONF" "$(sed -n 's/^ExecStart=//p' "$S")"
equal pop3s-service-execstart "$SBIN/pop3d --config $CONF --tls" "$(sed -n 's/^ExecStart=//p' "$SS")"
# The installed settings file is the one the comments point to.
for f in "$X" "$XS" "$S" "$SS"; do
	if grep -q "^#.*$CONF" "$f"; then pass "names-settings-file-$(basename "$f")"
	else fail "names-settings-file-$(basename "$f")" "no comment names $CONF"; fi
done
# Apart from the substitutions (and that --config), the installed files
# are the sources.
sub() { sed -e "s,@SBINDIR@,$SBIN,g" -e "s,@SYSCONFDIR@,$ETC,g" "$1"; }
unconf() { sed -e "s, --config $CONF,," -e '/^[[:space:]]*server_args[[:space:]]*=[[:space:]]*$/d' "$1"; }
if cmp -s <(sub "$SRC/xinetd.d/pop3") <(unconf "$X") && cmp -s <(sub "$SRC/xinetd.d/pop3s") <(unconf "$XS"); then
	pass xinetd-files-as-source
else
	fail xinetd-files-as-source "differ beyond the substitutions"
fi
if cmp -s <(sub "$SRC/systemd/pop3d@.service") <(unconf "$S") && cmp -s <(sub "$SRC/systemd/pop3s@.service") <(unconf "$SS"); then
	pass service-units-as-source
else
	fail service-units-as-source "differ beyond the substitutions"
fi
if cmp -s "$SRC/etc/pop3d.conf" "$D$CONF"; then pass settings-file-as-source; else fail settings-file-as-source "differs from etc/pop3d.conf"; fi
if cmp -s "$SRC/pam.d/pop3d" "$D$ETC/pam.d/pop3d"; then pass pam-file-as-source; else fail pam-file-as-source "differs from the source"; fi
# Debian style: the system's stacks, included; nothing of its own.
equal pam-file-includes "@include common-auth @include common-account" "$(grep -v '^#' "$D$ETC/pam.d/pop3d" | xargs)"
if cmp -s "$SRC/fail2ban/filter.d/pop3d.conf" "$D$ETC/fail2ban/filter.d/pop3d.conf" &&
   cmp -s "$SRC/fail2ban/jail.d/pop3d.conf" "$D$ETC/fail2ban/jail.d/pop3d.conf"; then
	pass fail2ban-files-as-source
else
	fail fail2ban-files-as-source "differ from the sources"
fi
# The jail ships disabled: installing pop3d must not start banning.
equal fail2ban-jail-disabled "enabled = false" "$(grep -E '^enabled[[:space:]]*=' "$D$ETC/fail2ban/jail.d/pop3d.conf" | tr -s ' \t' ' ')"
if cmp -s "$SRC/systemd/pop3d.socket" "$D$UNITS/pop3d.socket"; then pass socket-unit-as-source; else fail socket-unit-as-source "differs from the source"; fi
if cmp -s "$SRC/pop3d.8" "$D$MAN/man8/pop3d.8" && cmp -s "$SRC/pop3passwd.8" "$D$MAN/man8/pop3passwd.8"; then
	pass man-pages-as-source
else
	fail man-pages-as-source "differ from the sources"
fi

# ------------------------------------------------ man pages

for page in pop3d pop3passwd; do
	f=$D$MAN/man8/$page.8
	warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
	equal "man-$page-no-warnings" "" "$warn"
	out=$(MANWIDTH=80 man -l "$f" 2>/dev/null | sed 's/.\x08//g')
	case $out in *NAME*"$page"*SYNOPSIS*) pass "man-$page-renders" ;;
	*) fail "man-$page-renders" "$(printf '%s' "$out" | head -n 5 | tr '\n' ' ')" ;; esac
	# The NAME line is what mandb/apropos index.
	if command -v lexgrog >/dev/null; then
		case $(lexgrog "$f" 2>&1) in *": \"$page - "*) pass "man-$page-whatis" ;;
		*) fail "man-$page-whatis" "$(lexgrog "$f" 2>&1)" ;; esac
	fi
	# "man PAGE" finds it in the installed hierarchy.
	if [ "$(man -M "$D$MAN" -w "$page" 2>/dev/null)" = "$f" ]; then pass "man-$page-found-in-mandir"
	else fail "man-$page-found-in-mandir" "man -M $D$MAN -w $page: $(man -M "$D$MAN" -w "$page" 2>&1)"; fi
done

# pop3d.socket and pop3d@.service name pop3d(8) as their documentation:
# its DEPLOYMENT section must cover them, as it covers xinetd.
out=$(MANWIDTH=200 man -l "$D$MAN/man8/pop3d.8" 2>/dev/null | sed 's/.\x08//g')
case $out in
*pop3d.socket*'pop3d@.service'* | *'pop3d@.service'*pop3d.socket*) pass man-pop3d-documents-systemd-units ;;
*) fail man-pop3d-documents-systemd-units "pop3d(8) does not mention pop3d.socket and pop3d@.service, though both units name it in Documentation=" ;;
esac

# ------------------------------------------------ reinstall, uninstall

# The administrator's settings survive a new make install, which says
# that it kept them.
echo "timeout = 300" >>"$D$CONF"
cp "$D$CONF" "$T/changed.conf"
( umask 077; make -C "$SRC" install "${VARS[@]}" ) >"$T/install2.log" 2>&1
equal make-install-again-status 0 "$?"
if cmp -s "$T/changed.conf" "$D$CONF"; then pass reinstall-keeps-changed-settings
else fail reinstall-keeps-changed-settings "$D$CONF was replaced"; fi
if grep -q "$CONF exists: kept" "$T/install2.log"; then pass reinstall-says-settings-kept
else fail reinstall-says-settings-kept "$(grep pop3d.conf "$T/install2.log" | head -n 2 | tr '\n' ' ')"; fi

make -C "$SRC" uninstall "${VARS[@]}" >"$T/uninstall.log" 2>&1
equal make-uninstall-status 0 "$?"
left=''
for f in "${FILES[@]}"; do
	[ "${f% *}" = "$CONF" ] && continue
	[ -e "$D${f% *}" ] && left="$left ${f% *}"
done
equal uninstall-removes-every-file "" "$left"
if cmp -s "$T/changed.conf" "$D$CONF"; then pass uninstall-keeps-changed-settings
else fail uninstall-keeps-changed-settings "$D$CONF is gone or changed"; fi
if grep -q "$CONF differs from etc/pop3d.conf: kept" "$T/uninstall.log"; then pass uninstall-says-settings-kept
else fail uninstall-says-settings-kept "$(grep pop3d.conf "$T/uninstall.log" | head -n 2 | tr '\n' ' ')"; fi
got=$(cd "$D" && find . \( -type f -o -type l \) | sed 's,^\.,,' | sort)
want=$( { for d in "${DIRS[@]}"; do echo "$d/sentinel"; done; echo "$ETC/pop3d/pop3d.conf"; } | sort)
equal uninstall-keeps-other-files "$(echo $want)" "$(echo $got)"
if [ -e "$D$PRIVSEP" ] || [ -e "$D${PRIVSEP%/*}" ]; then fail uninstall-removes-privsep-dir "$D$PRIVSEP is left"
else pass uninstall-removes-privsep-dir; fi
# Settings as installed are removed: the changed file put back as it was.
cp "$SRC/etc/pop3d.conf" "$D$CONF"
make -C "$SRC" uninstall "${VARS[@]}" >"$T/uninstall2.log" 2>&1
equal make-uninstall-again-status 0 "$?"
if [ -e "$D$CONF" ]; then fail uninstall-removes-unchanged-settings "$D$CONF is left"
else pass uninstall-removes-unchanged-settings; fi

# ------------------------------------------------ nothing outside DESTDIR

created=''
for p in "${OUTSIDE[@]}"; do
	case " $pre_existing " in *" $p "*) ;; *) [ -e "$p" ] && created="$created $p" ;; esac
done
equal nothing-at-unprefixed-paths "" "$created"
# Files named like ours, made since the start, anywhere they could land.
stray=$(find /usr /etc /lib /opt /srv /var /root -xdev -newer "$T/stamp" \
	\( -name pop3d -o -name pop3passwd -o -name pop3d.8 -o -name pop3passwd.8 \
	   -o -name pop3 -o -name pop3d.socket -o -name 'pop3d@.service' \
	   -o -name pop3s -o -name pop3s.socket -o -name 'pop3s@.service' \
	   -o -path '*/pam.d/pop3d' -o -path '*/fail2ban/*/pop3d.conf' -o -path '*/pop3d/pop3d.conf' \) \
	! -path "$T/*" -print 2>/dev/null | head -n 5 | tr '\n' ' ')
equal nothing-installed-outside-destdir "" "$stray"
# The work tree was not built in.
if [ -n "$(find "$TOP" -maxdepth 1 -newer "$T/stamp" \( -name pop3d -o -name pop3passwd \) 2>/dev/null)" ]; then
	echo "note: $TOP/pop3d or pop3passwd changed during the run (another build?)"
fi

# ------------------------------------------------ the defaults

# DESTDIR alone: PREFIX /usr/local, the configuration in /etc, the units in
# PREFIX/lib/systemd/system (a directory systemd reads).  Under umask 077
# the directories made are still 755, the files 755/644.
D2=$T/dest2
( umask 077; make -C "$SRC" install DESTDIR="$D2" ) >"$T/install3.log" 2>&1
equal make-install-defaults-status 0 "$?"
equal install-default-directories-755 "" "$(find "$D2" -mindepth 1 -type d ! -perm 755 -printf '%P(%m) ')"
equal install-default-file-modes "755 755 644 644 644 644 644 644 644 644 644" "$(cd "$D2" && stat -c %a usr/local/sbin/pop3d usr/local/sbin/pop3passwd \
	usr/local/share/man/man8/pop3d.8 usr/local/share/man/man8/pop3passwd.8 etc/xinetd.d/pop3 \
	usr/local/lib/systemd/system/pop3d.socket usr/local/lib/systemd/system/pop3d@.service etc/pam.d/pop3d \
	etc/fail2ban/filter.d/pop3d.conf etc/fail2ban/jail.d/pop3d.conf etc/pop3d/pop3d.conf 2>&1 | xargs)"
got=$(cd "$D2" && find . -type f | sed 's,^\.,,' | sort | tr '\n' ' ')
equal install-default-layout "/etc/fail2ban/filter.d/pop3d.conf /etc/fail2ban/jail.d/pop3d.conf /etc/pam.d/pop3d /etc/pop3d/pop3d.conf /etc/xinetd.d/pop3 /etc/xinetd.d/pop3s /usr/local/lib/systemd/system/pop3d.socket /usr/local/lib/systemd/system/pop3d@.service /usr/local/lib/systemd/system/pop3s.socket /usr/local/lib/systemd/system/pop3s@.service /usr/local/sbin/pop3d /usr/local/sbin/pop3passwd /usr/local/share/man/man8/pop3d.8 /usr/local/share/man/man8/pop3passwd.8 " "$got"
equal install-default-server-path "/usr/local/sbin/pop3d" "$(awk '$1 == "server" && $2 == "=" { print $3 }' "$D2/etc/xinetd.d/pop3")"
# In /etc, pop3d finds the settings by itself: the service files are the
# sources, paths substituted, with no --config.
equal install-default-xinetd-pop3-no-server-args "" "$(awk '$1 == "server_args"' "$D2/etc/xinetd.d/pop3")"
equal install-default-xinetd-pop3s-server-args "--tls" "$(awk '$1 == "server_args" { $1 = $2 = ""; print }' "$D2/etc/xinetd.d/pop3s" | xargs)"
equal install-default-execstart "/usr/local/sbin/pop3d" "$(sed -n 's/^ExecStart=//p' "$D2/usr/local/lib/systemd/system/pop3d@.service")"
equal install-default-pop3s-execstart "/usr/local/sbin/pop3d --tls" "$(sed -n 's/^ExecStart=//p' "$D2/usr/local/lib/systemd/system/pop3s@.service")"
make -C "$SRC" uninstall DESTDIR="$D2" >"$T/uninstall3.log" 2>&1
equal uninstall-defaults-removes-all "" "$(cd "$D2" && find . -type f | tr '\n' ' ')"
exit 0

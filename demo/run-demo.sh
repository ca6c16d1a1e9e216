#!/bin/sh
# make demo: a demo user "alice" (password "secret") with a demo maildrop,
# served through a pipe and then on 127.0.0.1:${DEMO_PORT:-11110}.
# DEMO_PIPE_ONLY=1 stops after the pipe session.
set -eu
cd "$(dirname "$0")/.."
RUN=demo/run
PORT=${DEMO_PORT:-11110}

rm -rf "$RUN"
mkdir -p "$RUN/mail"
cp demo/alice.mbox "$RUN/mail/alice.mbox"
# pop3d never serves mail as root: run as root, the demo user is mapped
# to "nobody", who then owns the demo maildrop and its directory (the
# lock files go there).  The password file stays in a directory only root
# can write: started as root, pop3d refuses one that another account
# could replace.
IDS=""
if [ "$(id -u)" -eq 0 ]; then
	IDS="-u $(id -u nobody) -g $(id -g nobody)"
	chown nobody "$RUN/mail" "$RUN/mail/alice.mbox"
fi
chmod 600 "$RUN/mail/alice.mbox"
# shellcheck disable=SC2086
printf 'secret\n' | ./pop3passwd --stdin -f "$RUN/passwd" $IDS alice

cat <<TXT
== pop3d demo ==
Password file: $RUN/passwd (user alice, password secret)
Maildrop:      $RUN/mail/alice.mbox

A session through a pipe:
  printf 'USER alice\\r\\nPASS secret\\r\\nLIST\\r\\nRETR 1\\r\\nQUIT\\r\\n' | ./pop3d -s -p $RUN/passwd -m '$RUN/mail/%u.mbox'

TXT
printf 'USER alice\r\nPASS secret\r\nLIST\r\nRETR 1\r\nQUIT\r\n' |
    ./pop3d -s -p "$RUN/passwd" -m "$RUN/mail/%u.mbox"

[ "${DEMO_PIPE_ONLY:-0}" = 1 ] && exit 0

if ! command -v socat >/dev/null 2>&1; then
	echo "installing socat for the loopback listener" >&2
	if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO=sudo; fi
	$SUDO apt-get install -y -q socat >/dev/null 2>&1 || {
		$SUDO apt-get update -q >/dev/null
		$SUDO apt-get install -y -q socat >/dev/null
	}
fi
cat <<TXT

Now serving on 127.0.0.1:$PORT (Ctrl-C stops it).  Try:
  curl -s --user alice:secret pop3://127.0.0.1:$PORT/1
  python3 -c 'import poplib; p=poplib.POP3("127.0.0.1",$PORT); p.user("alice"); p.pass_("secret"); print(p.stat()); p.quit()'
TXT
# nofork: each connection's socket becomes pop3d's stdin and stdout, as
# under inetd, so pop3d sees the client's address.  An absolute maildrop
# path: started on a socket, pop3d refuses a relative one (the pipe above
# may use one).
exec socat TCP-LISTEN:"$PORT",bind=127.0.0.1,reuseaddr,fork \
    EXEC:"./pop3d -s -p $RUN/passwd -m $(pwd)/$RUN/mail/%u.mbox",nofork

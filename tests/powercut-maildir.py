#!/usr/bin/env python3
"""tests/powercut-maildir.py - power-cut states of a recorded Maildir
session (login, DELEs, UPDATE), and the next login run on each of them.
Used by tests/e2e/maildir-powercut.sh; python3 standard library only.

  powercut-maildir.py snap MAILDIR OUT.json
      The regular files of MAILDIR and of its subdirectories ("cur/NAME"),
      with inode numbers and contents: the durable state the recording
      starts from.
  powercut-maildir.py run --log LOG --snap SNAP --maildir DIR
          --after-snap SNAP2 --series NAME [--keep DIR] [--expect after]
          -- LOGIN COMMAND...
      Replays the records of LOG (tests/powercut-rec.c, POWERCUT_TREE=1)
      over SNAP and, after each record (a cut point), builds the crash
      states the model below allows, writes each as DIR and runs a login
      on it (USER, PASS, UIDL, QUIT on stdin).  Then the messages on disk
      (base name -> contents, whichever of cur/ and new/ holds them) must
      be exactly those of SNAP (before) or of SNAP2 (the recording's end:
      after), UIDL must list exactly those base names, the QUIT must answer
      +OK, and no pop3d-journal or pop3d-journal.tmp may be left.  Before
      the "mark quit" record only before will do; once every state of a
      cut gave after, no later state may give before.  With --expect
      after (a recorded recovery: SNAP is what an interrupted UPDATE left)
      only after will do, at every cut.

The power-cut model, per directory (the Maildir, cur/, new/, tmp/): a
directory's entries are durable as of its last fsync; of the name
operations on it since, a prefix survives, in order -- none (the worst
case), all, or any number between, independently of the other
directories.  A rename from new/ to cur/ (login moves new mail, without
fsync) is one operation in both directories, atomic as journalling file
systems make it (ext4, xfs, btrfs log it in one transaction): a state has
it in both or in neither, and an fsync of either directory makes it, and
what came before it in the other one, durable.  POWERCUT_RENAME_HALVES=1
models it as two independent halves instead (the entry gone from new/,
the entry made in cur/, each durable only with its own directory's fsync:
a file system without a journal), where an unsynced move can lose the
message or leave it twice.  File contents and sizes are as in
tests/powercut.py (its Obj: any version since the last fsync, per 512-byte
sector).  A file no durable name refers to is gone.  The choices are
enumerated when there are at most POWERCUT_ALL (64) combinations, else the
extremes (nothing survives, everything survives) and POWERCUT_SAMPLE (20)
drawn with a generator seeded by POWERCUT_SEED, the series and the cut.
"""
import hashlib
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import powercut  # noqa: E402  (its Obj: the file contents model)

ALL_LIMIT = powercut.env_int('POWERCUT_ALL', 64)
SAMPLE = powercut.env_int('POWERCUT_SAMPLE', 20)
SUBDIRS = ('cur', 'new', 'tmp')
HALVES = os.environ.get('POWERCUT_RENAME_HALVES', '') not in ('', '0')
JOURNALS = ('pop3d-journal', 'pop3d-journal.tmp')


def split(name):
    """'cur/x' -> ('cur', 'x'); 'x' -> ('', 'x')."""
    d, _, b = name.rpartition('/')
    return d, b


class Dir:
    def __init__(self):
        self.durable = {}
        self.live = {}
        self.pending = []

    def op(self, o):
        self.pending.append(o)
        apply_op(self.live, o)

    def sync(self):
        self.durable = dict(self.live)
        self.pending = []

    def sync_through(self, token):
        """The pending operations up to the half of rename token made
        durable (an fsync of the other directory committed it)."""
        for k, o in enumerate(self.pending):
            if len(o) > 3 and o[3] == token or len(o) == 3 and \
                    o[0] == 'del' and o[2] == token:
                for x in self.pending[:k + 1]:
                    apply_op(self.durable, x)
                del self.pending[:k + 1]
                return


def apply_op(m, o):
    if o[0] == 'set':
        m[o[1]] = o[2]
    elif o[0] == 'del':
        m.pop(o[1], None)
    elif o[0] == 'rename':
        if o[1] in m:
            m[o[2]] = m.pop(o[1])


class Replay:
    def __init__(self, snap):
        self.objs = {}
        self.ino = {}
        self.dirs = {d: Dir() for d in ('',) + SUBDIRS}
        self.tokens = 0
        self.xdir = {}       # rename token -> (source dir, target dir)
        for name, e in sorted(snap.items()):
            o = powercut.Obj(bytes.fromhex(e['hex']), name)
            self.objs[o.id] = o
            self.ino[e['ino']] = o.id
            d, b = split(name)
            self.dirs[d].durable[b] = o.id
            self.dirs[d].live[b] = o.id

    def obj(self, ino):
        if ino not in self.ino:
            raise SystemExit('powercut-maildir.py: unknown inode %d' % ino)
        return self.objs[self.ino[ino]]

    def new(self, ino, label):
        o = powercut.Obj(b'', label)
        self.objs[o.id] = o
        self.ino[ino] = o.id
        return o

    def apply(self, r):
        op = r['op']
        if op == 'create':
            o = self.new(int(r['ino']), r['name'])
            d, b = split(r['name'])
            self.dirs[d].op(('set', b, o.id))
        elif op == 'trunc':
            self.obj(int(r['ino'])).trunc(int(r['len']))
        elif op == 'write':
            self.obj(int(r['ino'])).write(int(r['off']),
                                          bytes.fromhex(r['data']))
        elif op == 'fsync':
            self.obj(int(r['ino'])).fsync()
        elif op == 'dirsync':
            dn = r.get('dir', '')
            for o in self.dirs[dn].pending:
                t = o[3] if len(o) > 3 else (o[2] if o[0] == 'del' and
                                             len(o) == 3 else None)
                if t is not None:
                    a, b = self.xdir[t]
                    self.dirs[b if a == dn else a].sync_through(t)
            self.dirs[dn].sync()
        elif op == 'rename':
            fd, fb = split(r['from'])
            td, tb = split(r['to'])
            if fd == td:
                self.dirs[fd].op(('rename', fb, tb))
            else:
                # Two halves, each durable with its own directory only.
                i = self.dirs[fd].live.get(fb)
                if i is None:
                    raise SystemExit('powercut-maildir.py: rename of an '
                                     'unknown name %s' % r['from'])
                if HALVES:
                    self.dirs[fd].op(('del', fb))
                    self.dirs[td].op(('set', tb, i))
                else:
                    # One operation in both: a token ties the halves.
                    self.tokens += 1
                    t = self.tokens
                    self.xdir[t] = (fd, td)
                    self.dirs[fd].op(('del', fb, t))
                    self.dirs[td].op(('set', tb, i, t))
        elif op == 'link':
            o = self.obj(int(r['ino']))
            d, b = split(r['to'])
            self.dirs[d].op(('set', b, o.id))
        elif op == 'unlink':
            d, b = split(r['name'])
            self.dirs[d].op(('del', b))
        else:
            raise SystemExit('powercut-maildir.py: cannot model record %r'
                             % r)

    def space(self):
        """(dims, build): one dimension per directory with pending name
        operations (how many survive) and per file with unsynced data
        (size, sectors, as tests/powercut.py); build(choice) gives
        {path: bytes}."""
        dims = []
        dlay = []
        for dn in sorted(self.dirs):
            d = self.dirs[dn]
            if d.pending:
                dlay.append((dn, len(dims)))
                dims.append((len(d.pending) + 1, len(d.pending)))
        ids = set()
        for d in self.dirs.values():
            ids.update(d.durable.values())
            ids.update(o[2] for o in d.pending if o[0] == 'set')
        layout = []
        for i in sorted(ids):
            sizes, ls, secs = self.objs[i].dims()
            start = len(dims)
            dims.append((len(sizes), ls))
            for _, seen, latest in secs:
                dims.append((len(seen), latest))
            layout.append((i, start, secs))
        snap = {dn: (dict(d.durable), list(d.pending))
                for dn, d in self.dirs.items()}
        objs = self.objs

        # Where each rename token sits: (dir, index in its pending list).
        where = {}
        for dn, (_, pending) in snap.items():
            for k, o in enumerate(pending):
                t = o[3] if len(o) > 3 else (o[2] if o[0] == 'del' and
                                             len(o) == 3 else None)
                if t is not None:
                    where.setdefault(t, []).append((dn, k))

        def valid(choice):
            """An atomic rename is in both directories' prefixes or in
            neither."""
            at = dict(dlay)
            for halves in where.values():
                if len({k < (choice[at[dn]] if dn in at else 0)
                        for dn, k in halves}) > 1:
                    return False
            return True

        def build(choice):
            at = dict(dlay)
            content = {}
            for i, start, secs in layout:
                sec = {j: choice[start + 1 + k]
                       for k, (j, _, _) in enumerate(secs)}
                content[i] = objs[i].content(choice[start], sec)
            out = {}
            for dn, (durable, pending) in snap.items():
                m = dict(durable)
                for o in pending[:choice[at[dn]] if dn in at else 0]:
                    apply_op(m, o)
                for b, i in m.items():
                    out[(dn + '/' if dn else '') + b] = Data(content[i], i)
            return out
        return dims, build, valid


class Data(bytes):
    """A file's contents in a state, with the object (inode) it is: two
    names of one object are materialised as hard links, as a move by
    link + unlink leaves them."""
    def __new__(cls, data, oid):
        o = super().__new__(cls, data)
        o.oid = oid
        return o


def linked(state):
    """{name: first name of the same object}, for the state's key."""
    first = {}
    out = {}
    for n, d in sorted(state.items()):
        out[n] = first.setdefault(getattr(d, 'oid', n), n)
    return out


def write_tree(top, state, create):
    """Writes state's files under top, names of one object hard links;
    create(path, data) makes a first name."""
    for n, first in sorted(linked(state).items()):
        p = os.path.join(top, n)
        if first != n:
            os.link(os.path.join(top, first), p)
        else:
            create(p, state[n])


def choices(dims, rng):
    total = 1
    for n, _ in dims:
        total *= n
    if total <= ALL_LIMIT:
        return list(itertools.product(*[range(n) for n, _ in dims])), total
    zero = tuple(0 for _ in dims)
    latest = tuple(l for _, l in dims)
    out = [zero, latest]
    seen = set(out)
    tries = 0
    while len(out) < SAMPLE + 2 and tries < SAMPLE * 20:
        tries += 1
        c = tuple(rng.randrange(n) for n, _ in dims)
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out, total


def messages(files):
    """{base name: contents} of the files in cur/ and new/."""
    out = {}
    for p, data in files.items():
        d, b = split(p)
        if d in ('cur', 'new'):
            out.setdefault(b.split(':', 1)[0], []).append(data)
    return out


def read_tree(top):
    files = {}
    for dn in ('',) + SUBDIRS:
        d = os.path.join(top, dn)
        if not os.path.isdir(d):
            continue
        for n in os.listdir(d):
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, 'rb') as f:
                    files[(dn + '/' if dn else '') + n] = f.read()
    return files


class Runner:
    def __init__(self, a):
        self.a = a
        self.top = a.maildir
        st = os.stat(self.top)
        self.uid, self.gid = st.st_uid, st.st_gid
        self.session = ('USER %s\r\nPASS %s\r\nUIDL\r\nQUIT\r\n' %
                        (a.user, a.password)).encode()

    def materialise(self, state):
        shutil.rmtree(self.top)
        os.mkdir(self.top, 0o700)
        os.chown(self.top, self.uid, self.gid)
        for dn in SUBDIRS:
            p = os.path.join(self.top, dn)
            os.mkdir(p, 0o700)
            os.chown(p, self.uid, self.gid)
        def create(p, data):
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.close(fd)
            os.chown(p, self.uid, self.gid)
        write_tree(self.top, state, create)

    def login(self):
        p = subprocess.run(self.a.cmd, input=self.session,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        return p.returncode, p.stdout, p.stderr


def check_state(run, state, exp):
    run.materialise(state)
    rc, out, err = run.login()
    lines = out.split(b'\r\n')
    errs = err.decode('latin-1').strip().replace('\n', ' | ')[-500:]
    if powercut.SAN_RE.search(err) or rc in (98, 99):
        return 'bad', 'sanitizer report (status %d): %s' % (rc, errs)
    if len(lines) < 3 or not lines[2].startswith(b'+OK maildrop has'):
        return 'bad', 'login answered %r; log: %s' % (
            lines[2] if len(lines) > 2 else b'', errs)
    # UIDL: "+OK", "N UID" lines, "."; then QUIT's answer.
    uids = set()
    k = 4
    while k < len(lines) and lines[k] != b'.':
        uids.add(lines[k].split(b' ', 1)[1].decode('latin-1'))
        k += 1
    quit_ok = k + 1 < len(lines) and lines[k + 1].startswith(b'+OK')
    if rc != 0 or not quit_ok:
        return 'bad', 'QUIT failed (status %d): %r; log: %s' % (
            rc, lines[k + 1:k + 2], errs)
    files = read_tree(run.top)
    left = [j for j in JOURNALS if j in files]
    if left:
        return 'bad', 'left after the login: %s' % ' '.join(left)
    msgs = messages(files)
    dups = sorted(b for b, v in msgs.items() if len(v) > 1)
    if dups:
        return 'bad', 'a message in two files after the login: %s' % (
            ' '.join(dups))
    got = {b: v[0] for b, v in msgs.items()}
    if uids != set(got):
        return 'bad', 'UIDL %s, but on disk %s' % (sorted(uids),
                                                   sorted(got))
    for outcome in ('before', 'after'):
        if got == exp[outcome]:
            return outcome, ''
    lost = sorted(set(exp['after']) - set(got))
    extra = sorted(set(got) - set(exp['before']))
    changed = sorted(b for b in got if b in exp['before'] and
                     got[b] != exp['before'][b])
    return 'bad', ('messages neither before nor after: %s; undeleted '
                   'lost: %s; unknown: %s; contents changed: %s' % (
                       sorted(got), lost, extra, changed))


def keep_state(keepdir, series, idx, state, info):
    if not keepdir:
        return None
    d = os.path.join(keepdir, series, 'state-%04d' % idx)
    for dn in SUBDIRS:
        os.makedirs(os.path.join(d, 'Maildir', dn), exist_ok=True)
    def create(p, data):
        with open(p, 'wb') as f:
            f.write(data)
    write_tree(os.path.join(d, 'Maildir'), state, create)
    with open(os.path.join(d, 'info.txt'), 'w') as f:
        f.write(info + '\n')
    return d


def load_snap(path):
    with open(path) as f:
        return json.load(f)


def cmd_run(a):
    seed = os.environ.get('POWERCUT_SEED') or str(
        int.from_bytes(os.urandom(4), 'little'))
    series = a.series
    snap = load_snap(a.snap)
    exp = {
        'before': {b: v[0] for b, v in messages(
            {n: bytes.fromhex(e['hex']) for n, e in snap.items()}).items()},
        'after': {b: v[0] for b, v in messages(
            {n: bytes.fromhex(e['hex'])
             for n, e in load_snap(a.after_snap).items()}).items()},
    }
    if exp['before'] == exp['after']:
        print('FAIL %s-states: the recording deleted nothing' % series)
        return 1
    recs = powercut.parse_log(a.log)
    rp = Replay(snap)
    run = Runner(a)
    if a.keep:
        shutil.rmtree(os.path.join(a.keep, series), ignore_errors=True)
    print('powercut-maildir %s: seed %s, %d records' % (series, seed,
                                                         len(recs)))
    t0 = time.time()
    cache = {}
    failures = []
    reported = set()
    counts = {'before': 0, 'after': 0, 'bad': 0}
    quit_seen = False
    committed = None
    n_states = n_cuts = 0
    cut = 0
    i = 0
    last = None
    while True:
        dims, build, valid = rp.space()
        rng = random.Random('%s/%s/%d' % (seed, series, cut))
        chs = [c for c in choices(dims, rng)[0] if valid(c)]
        allowed = {'after'} if a.expect == 'after' else (
            {'before', 'after'} if quit_seen else {'before'})
        seen_here = set()
        for ch in chs:
            state = build(ch)
            n_states += 1
            links = linked(state)
            key = hashlib.sha256(repr(sorted(
                (n, hashlib.sha256(d).hexdigest(), links[n])
                for n, d in state.items())).encode()).hexdigest()
            if key not in cache:
                cache[key] = check_state(run, state, exp)
            outcome, detail = cache[key]
            if outcome != 'bad' and outcome not in allowed:
                outcome, detail = 'bad', 'messages are %s; allowed here: %s' % (
                    outcome, '/'.join(sorted(allowed)))
            if outcome == 'before' and committed is not None:
                outcome, detail = 'bad', ('messages are before, but every '
                                          'state of cut %d gave after' %
                                          committed)
            counts[outcome] += 1
            seen_here.add(outcome)
            if outcome == 'bad' and (key, detail) not in reported:
                reported.add((key, detail))
                info = 'series %s seed %s cut %d (after %s) choice %s\n%s' % (
                    series, seed, cut, last, ch, detail)
                w = keep_state(a.keep, series, len(failures), state, info) \
                    if len(failures) < 20 else None
                failures.append((cut, last, detail, w))
        if committed is None and seen_here == {'after'}:
            committed = cut
        n_cuts += 1
        while i < len(recs) and recs[i]['op'] == 'mark':
            if recs[i].get('args') == ['quit']:
                quit_seen = True
            i += 1
        if i >= len(recs):
            break
        rp.apply(recs[i])
        last = powercut.describe(recs[i])
        i += 1
        cut += 1
    summary = ('%d states (%d unique) at %d cut points: %d before, %d after;'
               ' %.1f s; seed %s' % (n_states, len(cache), n_cuts,
                                     counts['before'], counts['after'],
                                     time.time() - t0, seed))
    if failures:
        c, l, d, w = failures[0]
        print('FAIL %s-states: %d of %d unique states failed; %s; first: '
              'cut %d (after %s): %s%s' % (series, len(failures), len(cache),
                                           summary, c, l, d,
                                           ' (kept in %s)' % w if w else ''))
        for c, l, d, _ in failures[1:6]:
            print('  also cut %d (after %s): %s' % (c, l, d[:200]))
        return 1
    if not counts['after'] or committed is None or (
            a.expect == 'either' and not counts['before']):
        print('FAIL %s-states: never both outcomes (%s)' % (series, summary))
        return 1
    print('PASS %s-%d-states (%s)' % (series, len(cache), summary))
    return 0


def cmd_snap(top, out):
    snap = {}
    for dn in ('',) + SUBDIRS:
        d = os.path.join(top, dn)
        for n in sorted(os.listdir(d)):
            p = os.path.join(d, n)
            st = os.lstat(p)
            if not os.path.isfile(p) or os.path.islink(p):
                continue
            with open(p, 'rb') as f:
                snap[(dn + '/' if dn else '') + n] = {
                    'ino': st.st_ino, 'hex': f.read().hex()}
    with open(out, 'w') as f:
        json.dump(snap, f)
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == 'snap':
        return cmd_snap(argv[2], argv[3])
    if len(argv) >= 2 and argv[1] == 'run':
        import argparse
        ap = argparse.ArgumentParser(prog='powercut-maildir.py run')
        for o in ('log', 'snap', 'maildir', 'after-snap', 'series'):
            ap.add_argument('--' + o, required=True)
        ap.add_argument('--keep')
        ap.add_argument('--expect', choices=('either', 'after'),
                        default='either')
        ap.add_argument('--user', default='alice')
        ap.add_argument('--password', default='secret')
        ap.add_argument('cmd', nargs='+')
        return cmd_run(ap.parse_args(argv[2:]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))

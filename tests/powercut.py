#!/usr/bin/env python3
"""tests/powercut.py - power-cut states of a recorded UPDATE (or recovery),
and recovery run on each of them.  Used by tests/e2e/powercut.sh; python3
standard library only.

  powercut.py snap DIR OUT.json
      The regular files of DIR (name, inode number, contents): the durable
      state the recording starts from.
  powercut.py deliver LOG MBOX FILE
      An MDA's delivery during the recording: FILE appended to MBOX and
      fsynced, and an "ext-append" record added to LOG.
  powercut.py run --log LOG --snap SNAP --dir DIR --mbox NAME
          --before FILE --after FILE --series NAME [--keep DIR]
          [--expect either|after] [--kind 1|2] [--user U --password P]
          -- LOGIN COMMAND...
      Replays the records of LOG (tests/powercut-rec.c) over the state of
      SNAP and, after each record (a cut point), builds crash states the
      model below allows, writes each into DIR -- the recording's own
      spool directory, so that the mbox is the very inode (and birth
      time) the journal was written for: it is rewritten in place, never
      replaced -- and runs a login (LOGIN COMMAND, a POP3 session on
      stdin) on it.  Each state must give the mbox BEFORE or AFTER (plus
      the mail delivered so far), byte for byte, with no journal or lock
      left; a second login must change nothing.  Before the "mark quit"
      record only BEFORE will do; with --expect after only AFTER.  A cut
      at which every state gave AFTER commits: no later state may give
      BEFORE.  Failing states are kept under --keep.

The power-cut model (docs/update-journal.md, "Which fsync makes which step
durable"):
  - a file's contents and size are durable as of its last fsync (or
    fdatasync).  Of the writes since, each 512-byte sector (by file
    offset) holds any one of the versions it had since that fsync --
    never a torn sector -- independently of the other sectors; the size
    is any one of the sizes the file had since that fsync.  A truncation
    also zeroes the cut bytes in the versions, as a file system writing
    back the zeroed tail of a partial block before the new size would
    (ext4 can); POWERCUT_TRUNC_ZERO=0 models a truncation that changes
    the size only;
  - names (create, rename, link, unlink) are durable after an fsync of
    the directory.  Before it, a prefix of the name operations since the
    last directory fsync is durable, in order: a later name operation is
    never durable without the earlier ones;
  - a file without a durable name is gone.
Each cut point's choices (how many name operations; per file, the size
and each sector's version) are enumerated when there are at most
POWERCUT_ALL (16; POWERCUT_FULL=1: 4096) combinations, else the four
extremes (nothing, everything, names only, data only) and a sample of
POWERCUT_SAMPLE (10; POWERCUT_FULL=1: 300) drawn with a generator seeded
by POWERCUT_SEED (printed; random when unset), the series and the cut.

A state whose MBOX.lock holds no pid (a power cut before the pid written
into the lock reached the disk: empty or NUL bytes) is run as it is: its
files are dated before this boot, as every file a power cut left is, and
pop3d must take such a lock for stale at once.  POWERCUT_LOCK_STATES=0
checks those states with the lock removed instead (to look at the mail
outcome alone).
"""
import hashlib
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

SECTOR = 512
SAN_RE = re.compile(rb'runtime error|AddressSanitizer|LeakSanitizer')


def env_int(name, default):
    v = os.environ.get(name, '')
    return int(v) if v.strip() else default


FULL = os.environ.get('POWERCUT_FULL', '') not in ('', '0')
ALL_LIMIT = env_int('POWERCUT_ALL', 4096 if FULL else 16)
SAMPLE = env_int('POWERCUT_SAMPLE', 300 if FULL else 10)
TRUNC_ZERO = os.environ.get('POWERCUT_TRUNC_ZERO', '1') not in ('', '0')
LOCK_STATES = os.environ.get('POWERCUT_LOCK_STATES', '1') not in ('', '0')
# A minute before this machine booted (CLOCK_REALTIME - CLOCK_BOOTTIME).
PRE_BOOT = (time.clock_gettime(time.CLOCK_REALTIME) -
            time.clock_gettime(time.CLOCK_BOOTTIME) - 60)


# ------------------------------------------------------------ the model

class Obj:
    """A file (an inode): its versions since its last fsync, oldest first;
    versions[0] is durable.  A version is (size, data), data possibly
    longer than size (bytes a truncation cut, still on disk)."""
    count = 0

    def __init__(self, data=b'', label=''):
        Obj.count += 1
        self.id = Obj.count
        self.label = label
        self.versions = [(len(data), bytes(data))]
        self.gen = 0
        self.cache = None

    def cur(self):
        return self.versions[-1]

    def write(self, off, b):
        size, data = self.cur()
        d = bytearray(data)
        if len(d) < off:
            d.extend(b'\0' * (off - len(d)))
        if off > size:
            d[size:off] = b'\0' * (off - size)
        d[off:off + len(b)] = b
        self.versions.append((max(size, off + len(b)), bytes(d)))
        self.gen += 1

    def trunc(self, n):
        size, data = self.cur()
        d = bytearray(data)
        if n > size:
            if len(d) < n:
                d.extend(b'\0' * (n - len(d)))
            d[size:n] = b'\0' * (n - size)
        elif TRUNC_ZERO:
            del d[n:]
        self.versions.append((n, bytes(d)))
        self.gen += 1

    def fsync(self):
        self.versions = [self.versions[-1]]
        self.gen += 1

    def dims(self):
        """(sizes, latest size index, [(sector, contents, latest)])."""
        if self.cache and self.cache[0] == self.gen:
            return self.cache[1]
        sizes = []
        for s, _ in self.versions:
            if s not in sizes:
                sizes.append(s)
        latest_size = sizes.index(self.cur()[0])
        secs = []
        if len(self.versions) > 1:
            top = max(len(d) for _, d in self.versions)
            for j in range((top + SECTOR - 1) // SECTOR):
                seen = []
                for _, d in self.versions:
                    c = d[j * SECTOR:(j + 1) * SECTOR]
                    c = c + b'\0' * (SECTOR - len(c))
                    if c not in seen:
                        seen.append(c)
                if len(seen) > 1:
                    last = self.cur()[1][j * SECTOR:(j + 1) * SECTOR]
                    last = last + b'\0' * (SECTOR - len(last))
                    secs.append((j, seen, seen.index(last)))
        r = (sizes, latest_size, secs)
        self.cache = (self.gen, r)
        return r

    def content(self, size_i, sec_choice):
        """The file for one choice: sec_choice maps sector -> content
        index; other sectors have one content only."""
        sizes, _, secs = self.dims()
        size = sizes[size_i]
        if len(self.versions) == 1:
            return self.versions[0][1][:size]
        d = bytearray(self.versions[0][1])
        top = max(len(x) for _, x in self.versions)
        d.extend(b'\0' * (top - len(d)))
        for j, seen, _ in secs:
            d[j * SECTOR:(j + 1) * SECTOR] = seen[sec_choice[j]]
        d = d[:size]
        if len(d) < size:
            d.extend(b'\0' * (size - len(d)))
        return bytes(d)


def apply_name(m, op):
    kind = op[0]
    if kind == 'set':
        m[op[1]] = op[2]
    elif kind == 'rename':
        if op[1] in m:
            m[op[2]] = m.pop(op[1])
    elif kind == 'del':
        m.pop(op[1], None)


def parse_log(path):
    recs = []
    with open(path, 'rb') as f:
        for raw in f:
            raw = raw.strip()
            if not raw or raw.startswith(b'#'):
                continue
            words = raw.decode('ascii').split(' ')
            fields = {}
            op = None
            for w in words:
                if '=' in w:
                    k, v = w.split('=', 1)
                    fields[k] = v
                elif op is None:
                    op = w
                else:
                    fields.setdefault('args', []).append(w)
            fields['op'] = op
            recs.append(fields)
    # The recorder splits long writes into consecutive records, all but
    # the last marked more=1: join them back, one call, one cut point.
    out = []
    for r in recs:
        p = out[-1] if out else None
        if p and p['op'] == 'write' and p.get('more') == '1':
            p['data'] += r['data']
            p['len'] = str(int(p['len']) + int(r['len']))
            p['more'] = r.get('more', '0')
            continue
        out.append(r)
    return out


class Replay:
    """The file system as the records leave it, with what is durable."""

    def __init__(self, snap):
        self.objs = {}
        self.ino = {}
        self.durable = {}
        self.live = {}
        self.pending = []
        for name, e in sorted(snap.items()):
            o = Obj(bytes.fromhex(e['hex']), name)
            self.objs[o.id] = o
            self.ino[e['ino']] = o.id
            self.durable[name] = o.id
        self.live = dict(self.durable)

    def new(self, ino, label):
        o = Obj(b'', label)
        self.objs[o.id] = o
        self.ino[ino] = o.id      # an inode number may be reused
        return o

    def obj(self, ino):
        if ino not in self.ino:
            raise SystemExit('powercut.py: record for unknown inode %d' % ino)
        return self.objs[self.ino[ino]]

    def name_op(self, op):
        self.pending.append(op)
        apply_name(self.live, op)

    def apply(self, r):
        op = r['op']
        if op == 'create':
            o = self.new(int(r['ino']), r['name'])
            self.name_op(('set', r['name'], o.id))
        elif op == 'tmpfile':
            self.new(int(r['ino']), 'O_TMPFILE')
        elif op == 'trunc':
            self.obj(int(r['ino'])).trunc(int(r['len']))
        elif op == 'write':
            self.obj(int(r['ino'])).write(int(r['off']),
                                          bytes.fromhex(r['data']))
        elif op == 'fsync':
            self.obj(int(r['ino'])).fsync()
        elif op == 'dirsync':
            self.durable = dict(self.live)
            self.pending = []
        elif op == 'rename':
            self.name_op(('rename', r['from'], r['to']))
        elif op == 'link':
            o = self.obj(int(r['ino']))
            self.name_op(('set', r['to'], o.id))
        elif op == 'unlink':
            self.name_op(('del', r['name']))
        elif op == 'ext-append':
            # A delivery made durable by its MDA (data and name).
            o = self.objs[self.live[r['name']]]
            o.write(o.cur()[0], bytes.fromhex(r['data']))
            o.fsync()
        else:
            raise SystemExit('powercut.py: cannot model record %r' % r)

    def space(self):
        """The choices at this cut: a list of (n, latest) dimensions and
        a function from a choice vector to {name: bytes}."""
        ids = set(self.durable.values())
        for op in self.pending:
            if op[0] == 'set':
                ids.add(op[2])
        ids = sorted(ids)
        dims = [(len(self.pending) + 1, len(self.pending))]
        layout = []
        for i in ids:
            o = self.objs[i]
            sizes, ls, secs = o.dims()
            start = len(dims)
            dims.append((len(sizes), ls))
            for _, seen, latest in secs:
                dims.append((len(seen), latest))
            layout.append((i, start, secs))
        durable = dict(self.durable)
        pending = list(self.pending)
        objs = self.objs

        def build(choice):
            m = dict(durable)
            for op in pending[:choice[0]]:
                apply_name(m, op)
            content = {}
            for i, start, secs in layout:
                sec = {j: choice[start + 1 + k]
                       for k, (j, _, _) in enumerate(secs)}
                content[i] = objs[i].content(choice[start], sec)
            return {name: content[i] for name, i in m.items()}
        return dims, build


def choices(dims, rng):
    total = 1
    for n, _ in dims:
        total *= n
    if total <= ALL_LIMIT:
        return list(itertools.product(*[range(n) for n, _ in dims])), total
    zero = tuple(0 for _ in dims)
    latest = tuple(l for _, l in dims)
    out = [zero, latest, (latest[0],) + zero[1:], (0,) + latest[1:]]
    seen = set(out)
    tries = 0
    while len(out) < SAMPLE + 4 and tries < SAMPLE * 20:
        tries += 1
        # Half the samples lean towards one end, so that the few
        # unsynced sectors that matter are often all old or all new.
        bias = rng.random()
        c = tuple(rng.randrange(n) if rng.random() < 0.5 else
                  (l if rng.random() < bias else 0) for n, l in dims)
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out, total


# ------------------------------------------------------------- running

class Runner:
    def __init__(self, a):
        self.a = a
        self.dir = a.dir
        self.mbox = a.mbox
        st = os.stat(os.path.join(self.dir, self.mbox))
        self.uid, self.gid, self.mbox_ino = st.st_uid, st.st_gid, st.st_ino
        self.session = ('USER %s\r\nPASS %s\r\nQUIT\r\n' %
                        (a.user, a.password)).encode()

    def materialise(self, state):
        path = os.path.join(self.dir, self.mbox)
        if state.get(self.mbox) is None:
            raise SystemExit('powercut.py: a state without the mbox')
        for n in os.listdir(self.dir):
            if n != self.mbox:
                os.unlink(os.path.join(self.dir, n))
        fd = os.open(path, os.O_WRONLY)
        try:
            data = state[self.mbox]
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)
        if os.stat(path).st_ino != self.mbox_ino:
            raise SystemExit('powercut.py: the mbox changed inode')
        for n, data in state.items():
            if n == self.mbox:
                continue
            p = os.path.join(self.dir, n)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.close(fd)
            os.chown(p, self.uid, self.gid)
            # Written before the power cut, so before this boot: what
            # makes a dot-lock left without its pid stale at once.
            os.utime(p, (PRE_BOOT, PRE_BOOT))

    def login(self, timeout=120):
        t = time.time()
        p = subprocess.run(self.a.cmd, input=self.session,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        return p.returncode, p.stdout, p.stderr, time.time() - t

    def mbox_bytes(self):
        with open(os.path.join(self.dir, self.mbox), 'rb') as f:
            return f.read()

    def others(self):
        return sorted(n for n in os.listdir(self.dir) if n != self.mbox)


def reply3(out):
    lines = out.split(b'\r\n')
    return lines[2].decode('latin-1') if len(lines) > 2 else '<none>'


def check_state(run, state, exp):
    """Materialise state, log in twice.  Returns (outcome, detail):
    outcome 'before', 'after' or 'bad'."""
    run.materialise(state)
    rc, out, err, _ = run.login()
    r3 = reply3(out)
    if SAN_RE.search(err) or rc in (98, 99):
        return 'bad', 'sanitizer report (status %d): %s' % (
            rc, err.decode('latin-1')[-400:])
    if not r3.startswith('+OK maildrop has'):
        return 'bad', 'login answered %r; log: %s' % (
            r3, err.decode('latin-1').strip().replace('\n', ' | ')[-600:])
    if rc != 0:
        return 'bad', 'exit status %d' % rc
    mb = run.mbox_bytes()
    if mb == exp['before']:
        outcome = 'before'
    elif mb == exp['after']:
        outcome = 'after'
    else:
        return 'bad', 'mailbox is neither before nor after: %s' % (
            firstdiff(exp['after'], mb) if abs(len(mb) - len(exp['after'])) <
            abs(len(mb) - len(exp['before'])) else
            firstdiff(exp['before'], mb))
    left = run.others()
    if left:
        return 'bad', 'left behind after recovery: %s' % ' '.join(left)
    # A second login: recovery is finished (with nothing to recover, the
    # first login wrote nothing and the second would repeat it).
    if not FULL and not any('.pop3d-journal' in n for n in state):
        return outcome, ''
    rc2, out2, err2, _ = run.login()
    if not reply3(out2).startswith('+OK maildrop has') or rc2 != 0:
        return 'bad', 'second login: %r (status %d)' % (reply3(out2), rc2)
    if run.mbox_bytes() != mb or run.others():
        return 'bad', 'the second login changed the spool'
    return outcome, ''


def firstdiff(a, b):
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return ('(%d bytes, expected %d) first difference at offset %d: '
            'expected %r, got %r' % (len(b), len(a), n, a[n:n + 24],
                                     b[n:n + 24]))


def is_lock_state(state, mbox):
    lk = state.get(mbox + '.lock')
    return lk is not None and not re.match(rb'\s*[1-9][0-9]*\n?$', lk)


def keep_state(keepdir, series, idx, state, info):
    if not keepdir:
        return None
    d = os.path.join(keepdir, series, 'state-%04d' % idx)
    os.makedirs(d, exist_ok=True)
    for n, data in state.items():
        with open(os.path.join(d, n), 'wb') as f:
            f.write(data)
    with open(os.path.join(d, 'info.txt'), 'w') as f:
        f.write(info + '\n')
    return d


def journal_kinds(recs):
    """The kinds of the journals the recording wrote (header offset 80)."""
    kinds = []
    names = {}
    for r in recs:
        if r['op'] == 'create':
            names[r['ino']] = r['name']
        if (r['op'] == 'write' and r['off'] == '0' and int(r['len']) >= 84
                and names.get(r['ino'], '').endswith('.pop3d-journal.new')):
            b = bytes.fromhex(r['data'][:168])
            if b[:8] == b'POP3DJN3':
                kinds.append(int.from_bytes(b[80:84], 'little'))
    return kinds


def cmd_run(a):
    seed = os.environ.get('POWERCUT_SEED') or str(
        int.from_bytes(os.urandom(4), 'little'))
    series = a.series
    with open(a.snap) as f:
        snap = json.load(f)
    recs = parse_log(a.log)
    with open(a.before, 'rb') as f:
        before = f.read()
    with open(a.after, 'rb') as f:
        after = f.read()
    rp = Replay(snap)
    run = Runner(a)
    if a.keep:
        shutil.rmtree(os.path.join(a.keep, series), ignore_errors=True)
    kinds = journal_kinds(recs)
    print('powercut %s: seed %s, %d records, journal kinds written: %s%s' % (
        series, seed, len(recs), ','.join(map(str, kinds)) or 'none',
        ' (POWERCUT_FULL)' if FULL else ''))
    t0 = time.time()
    cache = {}
    appended = b''
    quit_seen = a.expect == 'after'
    reported = set()
    lock_cuts = set()
    last_rec = -1
    n_states = n_cuts = n_lock = n_lock_run = 0
    outcomes_total = {'before': 0, 'after': 0, 'bad': 0}
    failures = []
    committed = None
    lock_fail = []
    fresh_cut = None
    cut = 0
    ops = recs
    i = 0
    while True:
        # Cut point `cut`: after the first `cut` records.
        dims, build = rp.space()
        rng = random.Random('%s/%s/%d' % (seed, series, cut))
        chs, total = choices(dims, rng)
        allowed = {'before'} if not quit_seen else (
            {'after'} if a.expect == 'after' else {'before', 'after'})
        exp = {'before': before + appended, 'after': after + appended}
        seen_here = set()
        for ch in chs:
            state = build(ch)
            n_states += 1
            lock = is_lock_state(state, a.mbox)
            run_as_is = lock and LOCK_STATES
            if lock:
                n_lock += 1
                lock_cuts.add(cut)
                if not run_as_is:
                    state = dict(state)
                    del state[a.mbox + '.lock']
            key = hashlib.sha256(repr(sorted(
                (n, hashlib.sha256(d).hexdigest())
                for n, d in state.items())).encode() + exp['before'] +
                exp['after']).hexdigest()
            if key not in cache:
                if run_as_is:
                    n_lock_run += 1
                cache[key] = check_state(run, state, exp)
            outcome, detail = cache[key]
            if outcome != 'bad' and outcome not in allowed:
                detail = 'mailbox is %s, allowed here: %s' % (
                    outcome, '/'.join(sorted(allowed)))
                outcome = 'bad'
            if (outcome == 'before' and committed is not None and
                    a.expect == 'either'):
                detail = ('mailbox is before, but every state of cut %d '
                          'gave after' % committed)
                outcome = 'bad'
            outcomes_total[outcome] += 1
            seen_here.add(outcome)
            if outcome == 'bad' and (key, detail) not in reported:
                reported.add((key, detail))
                info = ('series %s seed %s cut %d (after record %d: %s) '
                        'choice %s%s\n%s' % (
                            series, seed, cut, cut,
                            describe(ops[last_rec]) if last_rec >= 0 else
                            'none', ch, ' LOCK-STATE' if lock else '',
                            detail))
                nk = len(failures) + len(lock_fail)
                where = keep_state(a.keep, series, nk, state, info) \
                    if nk < 20 else None
                (lock_fail if run_as_is else failures).append(
                    (cut, detail, where))
            if (fresh_cut is None and quit_seen and
                    ch == tuple(l for _, l in dims) and
                    (a.mbox + '.pop3d-journal') in state and
                    state[a.mbox] not in (exp['before'], exp['after'])):
                fresh_cut = (cut, state, exp)
        if committed is None and seen_here == {'after'}:
            committed = cut
        n_cuts += 1
        if i >= len(ops):
            break
        # Advance to the next cut point: marks are not operations.
        while i < len(ops) and ops[i]['op'] == 'mark':
            if ops[i].get('args') == ['quit']:
                quit_seen = True
            i += 1
        if i >= len(ops):
            break
        r = ops[i]
        rp.apply(r)
        last_rec = i
        if r['op'] == 'ext-append' and r['name'] == a.mbox:
            appended += bytes.fromhex(r['data'])
        i += 1
        cut += 1
    dt = time.time() - t0
    unique = len(cache)
    summary = ('%d states (%d unique) at %d cut points: %d before, %d '
               'after; %d lock states; %.1f s; seed %s' % (
                   n_states, unique, n_cuts, outcomes_total['before'],
                   outcomes_total['after'], n_lock, dt, seed))
    ok = True
    if a.kind and (not kinds or kinds[0] != a.kind):
        print('FAIL %s-kind: expected journal kind %d, the recording wrote %s'
              % (series, a.kind, kinds))
        ok = False
    elif a.kind:
        print('PASS %s-kind-%d' % (series, a.kind))
    if failures:
        c, d, w = failures[0]
        print('FAIL %s-states: %d of %d unique states failed; %s; first: '
              'cut %d: %s%s' % (series, len(failures), unique, summary, c, d,
                                ' (kept in %s)' % w if w else ''))
        for c, d, w in failures[1:6]:
            print('  also cut %d: %s' % (c, d[:200]))
        ok = False
    else:
        print('PASS %s-%d-states (%s)' % (series, unique, summary))
    if n_lock:
        if LOCK_STATES:
            if lock_fail:
                print('FAIL %s-lock-states: %d of %d run as they are failed '
                      '(an MBOX.lock without a pid blocks the login): %s' % (
                          series, len(lock_fail), n_lock_run,
                          lock_fail[0][1][:300]))
                ok = False
            else:
                print('PASS %s-lock-states (%d run as they are)' % (
                    series, n_lock_run))
        else:
            print('NOTE %s: %d states at %d cut points (%s) leave '
                  'MBOX.lock without a pid (empty or NUL bytes); checked '
                  'with that lock removed; POWERCUT_LOCK_STATES=1 runs them '
                  'as they are' % (series, n_lock, len(lock_cuts),
                                   ranges(sorted(lock_cuts))))
    # A fresh copy of the mbox (another inode) with the journal: refused.
    if fresh_cut is None:
        print('FAIL %s-fresh-copy-refused: no state with the journal in '
              'place and the mbox mid-rewrite' % series)
        ok = False
    else:
        c, state, exp = fresh_cut
        if is_lock_state(state, a.mbox):
            state = dict(state)
            del state[a.mbox + '.lock']
        run.materialise(state)
        path = os.path.join(a.dir, a.mbox)
        tmp = os.path.join(a.dir, '.copy')
        shutil.copyfile(path, tmp)
        os.chown(tmp, run.uid, run.gid)
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
        rc, out, err, _ = run.login()
        r3 = reply3(out)
        if (r3.startswith('-ERR [SYS/PERM]') and
                run.mbox_bytes() == state[a.mbox] and
                (a.mbox + '.pop3d-journal') in os.listdir(a.dir)):
            print('PASS %s-fresh-copy-refused (cut %d)' % (series, c))
        else:
            print('FAIL %s-fresh-copy-refused: cut %d: login answered %r'
                  % (series, c, r3))
            ok = False
    return 0 if ok else 1


def ranges(xs):
    out = []
    for x in xs:
        if out and out[-1][1] == x - 1:
            out[-1][1] = x
        else:
            out.append([x, x])
    return ','.join('%d' % a if a == b else '%d-%d' % (a, b) for a, b in out)


def describe(r):
    d = dict(r)
    d.pop('more', None)
    if 'data' in d:
        d['data'] = '%d bytes' % (len(d['data']) // 2)
    return ' '.join('%s=%s' % kv for kv in d.items() if kv[0] != 'op') + \
        ' (%s)' % r['op']


def cmd_snap(d, out):
    snap = {}
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        st = os.lstat(p)
        if not os.path.isfile(p) or os.path.islink(p):
            continue
        with open(p, 'rb') as f:
            snap[n] = {'ino': st.st_ino, 'hex': f.read().hex()}
    with open(out, 'w') as f:
        json.dump(snap, f)
    return 0


def cmd_deliver(log, mbox, src):
    with open(src, 'rb') as f:
        data = f.read()
    fd = os.open(mbox, os.O_WRONLY | os.O_APPEND)
    os.write(fd, data)
    os.fsync(fd)
    os.close(fd)
    with open(log, 'a') as f:
        f.write('ext-append name=%s data=%s\n' % (os.path.basename(mbox),
                                                   data.hex()))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == 'snap':
        return cmd_snap(argv[2], argv[3])
    if len(argv) >= 5 and argv[1] == 'deliver':
        return cmd_deliver(argv[2], argv[3], argv[4])
    if len(argv) >= 2 and argv[1] == 'run':
        import argparse
        ap = argparse.ArgumentParser(prog='powercut.py run')
        for o in ('log', 'snap', 'dir', 'mbox', 'before', 'after', 'series'):
            ap.add_argument('--' + o, required=True)
        ap.add_argument('--keep')
        ap.add_argument('--expect', choices=('either', 'after'),
                        default='either')
        ap.add_argument('--kind', type=int, default=0)
        ap.add_argument('--user', default='alice')
        ap.add_argument('--password', default='secret')
        ap.add_argument('cmd', nargs='+')
        return cmd_run(ap.parse_args(argv[2:]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))

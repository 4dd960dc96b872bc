"""Shared plumbing of the benchmark: timed processes, alternation, page cache, machine facts.

Every figure the benchmark reports comes from `timed()` (one process, its wall time and
its own resource usage from wait4) or `timed_group()` (several processes started together,
e.g. one copy per node), run through `alternate()`, which interleaves the contenders
within every repetition so that all of them see the same machine load and cache state.
"""

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time

MB = 1000 * 1000          # throughput is reported in MB/s (10^6 bytes), as disks are
MiB = 1024 * 1024

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
EMULATOR = os.path.join(SOURCE, 'tests', 'emulator')


def log(msg):
    """Progress goes to standard error, so standard output carries only the table."""
    print('bench: %s' % msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --- processes -----------------------------------------------------------------------------

class Run:
    """What one timed run produced."""

    def __init__(self, wall, rc=0, stdout='', stderr='', maxrss_kib=0, cpu=0.0, extra=None):
        self.wall = wall                # seconds
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.maxrss_kib = maxrss_kib    # largest peak RSS (VmHWM) among the processes
        self.cpu = cpu                  # user + system seconds of the processes
        self.extra = extra or {}

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise BenchError('expected JSON, got (exit %d):\n%s\n%s'
                             % (self.rc, self.stdout[-2000:], self.stderr[-2000:]))


def _spawn(argv, env=None, cwd=None, stdout_path=None):
    out = open(stdout_path, 'wb') if stdout_path else subprocess.PIPE
    try:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    finally:
        if stdout_path:
            out.close()


def _reap(procs, timeout):
    """Waits for every process with wait4, so each one's own rusage is known."""
    deadline = time.monotonic() + timeout
    usage = {}
    outs = {p.pid: [b'', b''] for p in procs}
    pending = {p.pid: p for p in procs}
    # Drain pipes in threads so a chatty process cannot block on a full pipe.

    def drain(p):
        if p.stdout is not None:
            outs[p.pid][0] = p.stdout.read()
        outs[p.pid][1] = p.stderr.read()
    threads = [threading.Thread(target=drain, args=(p,), daemon=True) for p in procs]
    for t in threads:
        t.start()
    hwm = {p.pid: 0 for p in procs}
    while pending:
        # Only these pids: the emulated nodes and agents are children of this process too.
        for pid in list(pending):
            # VmHWM, polled: wait4's ru_maxrss would include this Python process's own RSS,
            # which a child inherits at fork and keeps across exec.
            v = proc_status(pid, 'VmHWM')
            if v:
                hwm[pid] = max(hwm[pid], v)
            got, status, ru = os.wait4(pid, os.WNOHANG)
            if got == pid:
                pending.pop(pid).returncode = os.waitstatus_to_exitcode(status)
                usage[pid] = ru
        if not pending:
            break
        if time.monotonic() > deadline:
            for p in pending.values():
                p.kill()
            raise BenchError('timed out after %.0f s: %s' % (
                timeout, ' | '.join(' '.join(p.args) for p in pending.values())))
        time.sleep(0.002)
    for t in threads:
        t.join()
    return usage, outs, hwm


def failure(argv, rc, text):
    """One line first (what failed and why), then the whole output for the log."""
    lines = [l for l in text.strip().splitlines() if l.strip()]
    why = next((l for l in lines if ': ' in l), lines[0] if lines else 'no output')
    words = [os.path.basename(argv[0])] + [a for a in argv[1:4] if not a.startswith('/')]
    return '%s failed (exit %d): %s\n%s' % (' '.join(words), rc, why.strip(), text[-3000:])


def timed(argv, env=None, cwd=None, timeout=1800, check=True):
    """Runs one command; its wall time, peak RSS and CPU time (from wait4)."""
    t0 = time.monotonic()
    p = _spawn(argv, env, cwd)
    usage, outs, hwm = _reap([p], timeout)
    wall = time.monotonic() - t0
    ru = usage[p.pid]
    r = Run(wall, p.returncode, outs[p.pid][0].decode(errors='replace'),
            outs[p.pid][1].decode(errors='replace'), hwm[p.pid], ru.ru_utime + ru.ru_stime)
    if check and r.rc != 0:
        raise BenchError(failure(argv, r.rc, r.stderr or r.stdout))
    return r


def timed_group(argvs, then=None, env=None, timeout=1800):
    """Starts every command at once, waits for all, then runs `then` (e.g. sync); the
    wall time covers all of it."""
    t0 = time.monotonic()
    procs = [_spawn(a, env) for a in argvs]
    usage, outs, hwm = _reap(procs, timeout)
    bad = [p for p in procs if p.returncode != 0]
    if bad:
        p = bad[0]
        raise BenchError(failure(p.args, p.returncode, outs[p.pid][1].decode(errors='replace')))
    cpu = sum(u.ru_utime + u.ru_stime for u in usage.values())
    rss = max(hwm.values())
    if then:
        r = timed(then, env)
        cpu += r.cpu
    return Run(time.monotonic() - t0, 0, '', '', rss, cpu)


def proc_status(pid, key):
    """A field of /proc/<pid>/status in KiB (VmHWM, VmRSS), or None."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu(pid):
    """User + system CPU seconds of a running process."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    except (OSError, IndexError, ValueError):
        return 0.0


def reset_peak_rss(pid):
    """Linux resets VmHWM to the current RSS on `5` in clear_refs (ours to write: we own it)."""
    try:
        with open('/proc/%d/clear_refs' % pid, 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


# --- page cache ----------------------------------------------------------------------------

def evict(paths):
    """Writes dirty pages back, then drops the page cache of every file under `paths`
    (posix_fadvise DONTNEED: only our files, not the whole machine's cache)."""
    os.sync()
    n = 0
    for top in paths:
        if not os.path.exists(top):
            continue
        for root, _dirs, files in os.walk(top):
            for name in files:
                try:
                    fd = os.open(os.path.join(root, name), os.O_RDONLY | os.O_NOFOLLOW)
                except OSError:
                    continue
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    n += 1
                finally:
                    os.close(fd)
    return n


# --- alternation ---------------------------------------------------------------------------

def alternate(contenders, reps, before_each=None, label=''):
    """Runs every contender once per repetition, in an order rotated each repetition so
    that none always goes first (or last, after the others warmed something).

    contenders: list of (name, fn); fn() returns a Run (or raises BenchError, recorded).
    before_each(name): called untimed before every run (sync, cache eviction, resets).
    Returns {name: [Run, ...]}."""
    out = {name: [] for name, _ in contenders}
    for rep in range(reps):
        k = rep % len(contenders)
        order = contenders[k:] + contenders[:k]
        for name, fn in order:
            if before_each:
                before_each(name)
            r = fn()
            out[name].append(r)
            log('%s rep %d/%d %-28s %7.2f s' % (label, rep + 1, reps, name, r.wall))
    return out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# --- machine -------------------------------------------------------------------------------

def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ''


def machine(work_dir):
    cpu_model = ''
    for line in _read('/proc/cpuinfo').splitlines():
        if line.startswith('model name'):
            cpu_model = line.split(':', 1)[1].strip()
            break
    mem = re.search(r'MemTotal:\s+(\d+)', _read('/proc/meminfo'))
    st = os.statvfs(work_dir)
    dev, fstype = '', ''
    best = ''
    for line in _read('/proc/mounts').splitlines():
        parts = line.split()
        if len(parts) >= 3 and work_dir.startswith(parts[1]) and len(parts[1]) >= len(best):
            best, dev, fstype = parts[1], parts[0], parts[2]
    rotational = _read('/sys/block/%s/queue/rotational' % os.path.basename(dev)).strip()
    load = _read('/proc/loadavg').split()[:3]
    return {
        'cores': os.cpu_count(), 'cpu': cpu_model,
        'memory_bytes': int(mem.group(1)) * 1024 if mem else None,
        'disk': {'device': dev, 'filesystem': fstype, 'mount': best,
                 'size_bytes': st.f_blocks * st.f_frsize, 'free_bytes': st.f_bavail * st.f_frsize,
                 'rotational': {'0': False, '1': True}.get(rotational)},
        'kernel': platform.release(), 'python': platform.python_version(),
        'loadavg_at_start': [float(x) for x in load] if load else None,
    }


def commit():
    try:
        return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=SOURCE, capture_output=True,
                              text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def tool_version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)


def tree_bytes(paths, skip=('schema.cql', 'manifest.json')):
    """Bytes and files under `paths`, as ScyllaDB's snapshot files (not its two extras)."""
    total = files = 0
    for top in paths:
        for root, _dirs, names in os.walk(top):
            for name in names:
                if name in skip:
                    continue
                total += os.lstat(os.path.join(root, name)).st_size
                files += 1
    return total, files

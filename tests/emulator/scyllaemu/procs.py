"""Process hygiene for the launcher: is a pid alive, is it ours, die with the parent."""

import ctypes
import os
import signal
import socket

# Loaded in the parent: a preexec_fn should do as little as possible after fork().
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def pid_alive(pid):
    """True for a running process (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\x00', b' ').decode(errors='replace')
    except OSError:
        return ''


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def die_with_parent():
    """preexec_fn: ask Linux to SIGTERM the child when the launching thread dies."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def tcp_accepts(address, port, timeout=0.2):
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False

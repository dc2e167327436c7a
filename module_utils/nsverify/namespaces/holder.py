"""The holder: the one small process that keeps a named PID or time namespace usable.

A PID namespace whose init has exited can no longer get processes, and a time namespace
has effect only on processes in it, so `nsv-holder` (an exec'd `python3 -I -S -c`) stays
PID 1 of the new PID namespace, lives in every new namespace, reaps orphans and sleeps.
It is known by its host PID and start time, checked against its command line before it
is killed, by PID, never by name.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from ansible.module_utils.nsverify import procfs

HOLDER_ARGV0 = "nsv-holder"

HOLDER_CODE = r"""
import os, signal
def reap(*_):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
def stop(*_):
    os._exit(0)
signal.signal(signal.SIGCHLD, reap)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
try:
    with open("/proc/self/comm", "w") as fh:
        fh.write("nsv-holder")
except OSError:
    pass
reap()
while True:
    signal.pause()
"""


def holder_argv(name):
    return [HOLDER_ARGV0, "-I", "-S", "-c", HOLDER_CODE, name]


def holder_python():
    return os.path.realpath(sys.executable) if sys.executable else "/usr/bin/python3"


def exec_holder(name, python, exec_w):
    """In a forked child: become the holder. Only the exec pipe crosses exec (it closes there,
    telling the module that the holder started); no inherited fd may keep Ansible's pipes
    open. If exec fails, say why through the exec pipe. Never returns."""
    try:
        os.closerange(3, exec_w)
        os.closerange(exec_w + 1, min(os.sysconf("SC_OPEN_MAX"), 1 << 16))
        os.execv(python, holder_argv(name))
    except BaseException as exc:
        try:
            os.write(exec_w, ("exec %s: %s" % (python, exc)).encode()[:500])
        finally:
            os._exit(127)


def read_holder_identity(pid, proc="/proc"):
    """{'starttime', 'state', 'argv'} of a process, or None when it does not exist."""
    try:
        stat = procfs.read_stat(pid, proc)
        argv = procfs.read_argv(pid, proc)
    except (OSError, ValueError):
        return None
    return {"starttime": stat["starttime"], "state": stat["state"], "argv": argv}


def holder_alive(holder, name, proc="/proc"):
    """True when the process recorded in `holder` still runs and is ours: same start time,
    command line `nsv-holder ... <name>`, not a zombie. Guards against PID reuse."""
    if not holder or not holder.get("pid"):
        return False
    ident = read_holder_identity(holder["pid"], proc)
    if ident is None or ident["state"] in ("Z", "X"):
        return False
    if ident["starttime"] != holder.get("starttime"):
        return False
    argv = ident["argv"]
    return bool(argv) and argv[0] == HOLDER_ARGV0 and argv[-1] == name


def find_untracked_holders(name, proc="/proc", known=()):
    """Host PIDs of holders of `name` that state.json does not name: a module killed between
    starting the holder and recording it leaves one. Matched on the exact command line (our
    program text and the name), so no foreign process can match."""
    return find_untracked_holders_of([name], proc, known).get(name, [])


def find_untracked_holders_of(names, proc="/proc", known=()):
    """find_untracked_holders() for many names in one walk of /proc: {name: [holder]} for the
    names that have any."""
    want = dict((("\0".join(holder_argv(n)) + "\0").encode(), n) for n in names)
    known = set(known)
    found = {}
    for entry in os.listdir(proc):
        if not entry.isdigit() or int(entry) in known:
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as fh:
                name = want.get(fh.read())
            if name is None:
                continue
            stat = procfs.read_stat(entry, proc)
        except (OSError, ValueError):
            continue
        if stat["state"] not in ("Z", "X"):
            found.setdefault(name, []).append({"pid": int(entry), "starttime": stat["starttime"]})
    return found


def stop_holder(holder, name, proc="/proc", timeout=5.0):
    """SIGKILL the holder if it is still ours; wait until it is gone or a zombie (its parent,
    the host's init, reaps it). Return True when a process was killed."""
    if not holder_alive(holder, name, proc):
        return False
    try:
        os.kill(holder["pid"], signal.SIGKILL)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and holder_alive(holder, name, proc):
        time.sleep(0.02)
    return True


def kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

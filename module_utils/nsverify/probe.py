"""Run a function in a forked child inside new or joined namespaces.

The calling process never changes namespace: a child is forked, joins the
namespaces in `join` (setns), unshares `unshare`, optionally has its uid/gid
maps written by the parent, runs `fn`, and sends back a JSON result through a
pipe. PID and time namespaces apply to children only (pid_for_children,
time_for_children), so for those the child forks once more and `fn` runs in the
grandchild (PID 1 of a new PID namespace). The child is always reaped; on a
timeout it is killed, and the grandchild dies with it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
import traceback

from ansible.module_utils.nsverify import catalog, syscalls

DEFAULT_TIMEOUT = 20.0


def _result(ok, value=None, stage=None, err=None, error=None, timed_out=False):
    return {
        "ok": ok,
        "value": value,
        "stage": stage,
        "errno": err,
        "errname": syscalls.errno_name(err),
        "error": error,
        "timed_out": timed_out,
    }


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_until_eof(fd, deadline):
    """Read `fd` until EOF; None when the monotonic `deadline` passes first."""
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def format_id_map(entries):
    """[(inside, outside, count), ...] -> the text the kernel expects in uid_map/gid_map."""
    return "".join("%d %d %d\n" % tuple(int(x) for x in e) for e in entries)


def write_id_maps(pid, uid_map=None, gid_map=None, setgroups=None, proc="/proc"):
    """Write uid_map/gid_map of `pid` (user_namespaces(7)); setgroups first, as the kernel requires."""
    base = os.path.join(proc, str(pid))
    if setgroups is not None:
        try:
            with open(os.path.join(base, "setgroups"), "w") as fh:
                fh.write(setgroups)
        except FileNotFoundError:  # kernels before 3.19 have no setgroups file
            pass
    if uid_map:
        with open(os.path.join(base, "uid_map"), "w") as fh:
            fh.write(format_id_map(uid_map))
    if gid_map:
        with open(os.path.join(base, "gid_map"), "w") as fh:
            fh.write(format_id_map(gid_map))


def _needs_fork(unshare_flags, join):
    children_only = catalog.CLONE_NEWPID | catalog.CLONE_NEWTIME
    return bool(unshare_flags & children_only) or any(t in ("pid", "time") for t in join)


def run(
    fn,
    args=(),
    kwargs=None,
    unshare=0,
    join=None,
    uid_map=None,
    gid_map=None,
    setgroups=None,
    setup=None,
    fork=None,
    timeout=DEFAULT_TIMEOUT,
):
    """Run `fn(*args, **kwargs)` in a forked child and return a result dict.

    unshare: CLONE_NEW* flags for unshare(2).
    join: {type_name: path} of namespace files to setns(2) into, in catalog.JOIN_ORDER.
    uid_map/gid_map: [(inside, outside, count)], written by this (parent) process after the
      child unshared its user namespace, since only a process with CAP_SETUID in the parent
      namespace may map other ids than its own.
    setgroups: 'deny' or 'allow' written before gid_map; default 'deny' when not root.
    setup: callable run in the child after unshare and before the PID-namespace fork
      (e.g. writing /proc/self/timens_offsets, which must precede the first process).
    fork: force (True) or avoid (False) the extra fork; default: when pid/time is involved.

    Returns {ok, value, stage, errno, errname, error, timed_out}; `stage` names the step that
    failed: open, setns, unshare, id_map, setup, run, timeout.
    """
    join = dict(join or {})
    kwargs = kwargs or {}
    if fork is None:
        fork = _needs_fork(unshare, join)
    maps_wanted = bool(unshare & catalog.CLONE_NEWUSER) and bool(uid_map or gid_map)
    if setgroups is None and gid_map and os.geteuid() != 0:
        setgroups = "deny"

    rfd, wfd = os.pipe()
    ready_r = ready_w = go_r = go_w = None
    if maps_wanted:
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()

    pid = os.fork()
    if pid == 0:  # child
        stage = "open"
        try:
            os.close(rfd)
            if maps_wanted:
                os.close(ready_r)
                os.close(go_w)
            fds = {}
            for name in join:
                catalog.get(name)
                fds[name] = os.open(join[name], os.O_RDONLY)
            stage = "setns"
            for name in catalog.JOIN_ORDER:
                if name in fds:
                    syscalls.setns(fds[name], catalog.get(name).flag)
                    os.close(fds[name])
            stage = "unshare"
            if unshare:
                syscalls.unshare(unshare)
            if maps_wanted:
                stage = "id_map"
                os.write(ready_w, b"r")
                if os.read(go_r, 1) != b"g":
                    os._exit(3)
            if setup is not None:
                stage = "setup"
                setup()
            stage = "run"
            if fork:
                gpid = os.fork()
                if gpid == 0:
                    try:
                        syscalls.set_pdeathsig(signal.SIGKILL)
                        value = fn(*args, **kwargs)
                        payload = _result(True, value)
                    except OSError as exc:
                        payload = _result(False, stage="run", err=exc.errno, error=str(exc))
                    except BaseException:  # report anything, never hang the parent
                        payload = _result(False, stage="run", error=traceback.format_exc())
                    try:
                        _write_all(wfd, json.dumps(payload).encode())
                    finally:
                        os._exit(0)
                os.close(wfd)
                os.waitpid(gpid, 0)
                os._exit(0)
            value = fn(*args, **kwargs)
            payload = _result(True, value)
        except OSError as exc:
            payload = _result(False, stage=stage, err=exc.errno, error=str(exc))
        except BaseException:
            payload = _result(False, stage=stage, error=traceback.format_exc())
        try:
            _write_all(wfd, json.dumps(payload).encode())
        finally:
            os._exit(0)

    # parent
    os.close(wfd)
    deadline = time.monotonic() + timeout
    map_failure = None
    data = None
    try:
        if maps_wanted:
            os.close(ready_w)
            os.close(go_r)
            ready, _, _ = select.select([ready_r], [], [], max(0.0, deadline - time.monotonic()))
            if ready and os.read(ready_r, 1) == b"r":
                try:
                    write_id_maps(pid, uid_map, gid_map, setgroups)
                    os.write(go_w, b"g")
                except OSError as exc:
                    map_failure = _result(False, stage="id_map", err=exc.errno, error="writing uid/gid map: %s" % exc)
                    os.write(go_w, b"x")
            # else: the child failed before unsharing; its result arrives on rfd
        data = read_until_eof(rfd, deadline)
    finally:
        for fd in (rfd, ready_r, go_w):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if data is None:  # timed out or failed: never leave the child behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.waitpid(pid, 0)

    if map_failure is not None:
        return map_failure
    if data is None:
        return _result(False, stage="timeout", error="probe did not answer within %.1fs" % timeout, timed_out=True)
    if not data:
        return _result(False, stage="run", error="probe child exited without a result")
    try:
        return json.loads(data.decode())
    except ValueError:
        return _result(False, stage="run", error="probe child sent unreadable result: %r" % data[:200])


class ProbeError(Exception):
    def __init__(self, result):
        self.result = result
        msg = result.get("error") or "probe failed"
        Exception.__init__(self, "%s (stage %s, %s)" % (msg, result.get("stage"), result.get("errname")))


def run_checked(fn, *args, **options):
    """Like run(), but return the value or raise ProbeError."""
    res = run(fn, args=args, **options)
    if not res["ok"]:
        raise ProbeError(res)
    return res["value"]

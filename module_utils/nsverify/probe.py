"""Children in new or joined namespaces: the one spawn protocol, and run() on top of it.

The calling process never changes namespace. Every child that enters namespaces -- a
one-shot probe, a held probe that waits while the host looks, the creator of a named
namespace, the container's init, an exec into a container -- is started by spawn() and
talks to its parent through one protocol:

    parent                                   child (what spawn() does before child_fn)
    spawn(child_fn, ...) ──fork──> [setsid] [stdio] [close fds] [detach: fork, exit]
                                   write itself into join_cgroups
                                   setns(join...)            stage open, setns
                                   unshare(unshare)          stage unshare
      writes uid_map/gid_map <──── {"maps": pid}             stage id_map (CLONE_NEWUSER)
                             ────> {"maps": "ok"}
                                   write timens_offsets      stage time_offsets
                                   setup()                   stage setup
                                   [fork: pid/time apply to children only; the
                                    grandchild runs child_fn, dies with its parent]
      handle.pid <──────────────── {"pid": host pid of the process running child_fn}
                                   child_fn(chan, *args)     stage run
      handle.recv() <───────────── chan.send({...}) / chan.ready(value)
      handle.send({...}) ────────> chan.recv()
      handle.recv() <───────────── {"result": return value}
                                   or {"error": msg, "stage": s, "errno": n, "errname": "E..."}

Messages are JSON objects, one a line. The "pid" and "maps" messages (reserved: a child
sends neither alone) are handled inside recv(); every other message reaches the caller. A
step that fails sends the "error" message naming its stage and the child exits. The child is
always reaped: the handle is a context manager whose exit closes the pipes, waits a moment
and kills what did not end.

A held probe (the inside keeps its state while the host looks):

    def inside(chan, name):                # in the child
        syscalls.sethostname(name)
        chan.ready(os.getpid())            # -> the parent's recv(): {"ready": pid}
        chan.recv()                        # until the parent says go
        return os.uname().nodename         # -> {"result": ...}
    with probe.spawn(inside, args=("nsv-x",), unshare=catalog.CLONE_NEWUTS) as child:
        host_view = look(child.recv()["ready"]); child.send({"go": True})
        res = probe.outcome(child)         # {ok, value, stage, errno, errname, error, timed_out}
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
# How long close() lets a child that has done its work exit by itself before killing it.
CLOSE_GRACE = 5.0


class SpawnError(Exception):
    """The protocol broke: a message that is no JSON object."""


class SpawnTimeout(SpawnError):
    """The child sent nothing within the time allowed."""


# ---------------------------------------------------------------- small writers and readers
def write_all(fd, data):
    """Write all of `data` (bytes) to `fd`: os.write may write less than asked on a pipe."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_until_eof(fd, deadline):
    """Read `fd` until EOF; None when the monotonic `deadline` passes first."""
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def format_id_map(entries):
    """[{inside, outside, count}] or [(inside, outside, count)] -> the text of uid_map/gid_map."""
    rows = [(e["inside"], e["outside"], e["count"]) if isinstance(e, dict) else e for e in entries]
    return "".join("%d %d %d\n" % tuple(int(x) for x in row) for row in rows)


def write_id_maps(pid, uid_map=None, gid_map=None, setgroups=None, proc="/proc"):
    """Write uid_map/gid_map of `pid` (user_namespaces(7)); setgroups first, as the kernel requires."""
    base = os.path.join(proc, str(pid))
    if setgroups is not None:
        try:
            with open(os.path.join(base, "setgroups"), "w") as fh:
                fh.write(setgroups)
        except FileNotFoundError:  # kernels before 3.19 have no setgroups file
            pass
    for fname, entries in (("uid_map", uid_map), ("gid_map", gid_map)):
        if entries:
            with open(os.path.join(base, fname), "w") as fh:
                fh.write(format_id_map(entries))


def format_timens_offsets(offsets):
    """{'monotonic': s, 'boottime': s} -> 'boottime s 0\\nmonotonic s 0\\n' (seconds may be
    fractional: the nanoseconds field is filled from the fraction)."""
    parts = [(clock,) + divmod(offsets[clock], 1) for clock in sorted(offsets)]
    return "".join("%s %d %d\n" % (clock, whole, round(frac * 1e9)) for clock, whole, frac in parts)


def write_timens_offsets(offsets, pid="self", proc="/proc"):
    """Write /proc/<pid>/timens_offsets in one write (time_namespaces(7)): after unshare of a
    time namespace and before its first process exists, or the kernel says EACCES."""
    fd = os.open(os.path.join(proc, str(pid), "timens_offsets"), os.O_WRONLY)
    try:
        write_all(fd, format_timens_offsets(offsets).encode())
    finally:
        os.close(fd)


# ---------------------------------------------------------------- JSON lines over a pipe
class _LineReader:
    def __init__(self, fd):
        self.fd, self.buf = fd, b""

    def next(self, deadline):
        """The next message; None at EOF; SpawnTimeout after the monotonic `deadline`."""
        while b"\n" not in self.buf:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _unused, _unused = select.select([self.fd], [], [], remaining)
            if not ready:
                if remaining is not None and time.monotonic() >= deadline:
                    raise SpawnTimeout("no message from the child in time")
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                if self.buf:
                    raise SpawnError("the child sent an unfinished message: %r" % self.buf[:200])
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            msg = json.loads(line.decode())
        except ValueError:
            raise SpawnError("the child sent unreadable data: %r" % line[:200])
        if not isinstance(msg, dict):
            raise SpawnError("the child sent %r, not a JSON object" % (msg,))
        return msg


def _send(fd, obj):
    write_all(fd, (json.dumps(obj) + "\n").encode())


def error_message(exc, stage):
    """The protocol's error message for an exception raised at `stage`."""
    err = getattr(exc, "errno", None) if isinstance(exc, OSError) else None
    text = str(exc) if isinstance(exc, OSError) else traceback.format_exc()
    return {"error": text, "stage": stage, "errno": err, "errname": syscalls.errno_name(err)}


class Channel:
    """The child's end: send() to the parent, recv() from it."""

    def __init__(self, up_w, down_r):
        self.up_w, self.down_r = up_w, down_r
        self._reader = _LineReader(down_r)

    def send(self, obj):
        _send(self.up_w, obj)

    def ready(self, value=None):
        """Tell the parent this child is set up: its recv() returns {"ready": value}."""
        self.send({"ready": value})

    def recv(self, timeout=None):
        """The parent's next message (None when the parent closed its end)."""
        return self._reader.next(None if timeout is None else time.monotonic() + timeout)

    def request_maps(self, pid=None):
        """Ask the parent to write the uid/gid maps given to spawn() for `pid` (None: the
        process running child_fn, as the host sees it); raises OSError when it could not."""
        self.send({"maps": pid})
        answer = self.recv()
        if not answer or answer.get("maps") != "ok":
            raise OSError((answer or {}).get("errno") or 0, "the parent could not write the uid/gid maps")

    def fds(self):
        return (self.up_w, self.down_r)

    def close(self):
        for fd in self.fds():
            _close_quietly(fd)


def _close_quietly(fd):
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


# ---------------------------------------------------------------- the parent's handle
class Spawned:
    """The parent's end of a spawned child.

    pid        the process running child_fn as this process sees it (known at once without
               fork/detach, else from the child's first message, which recv() reads)
    child_pid  the direct child, which close()/wait() reap
    recv(timeout=None) -> the next message, None at EOF; raises SpawnTimeout (default: what
               is left of spawn's timeout). Map requests are answered here.
    send(obj), poll() -> exit code or None, wait() -> exit code (128+N for signal N),
    kill(), close(); as a context manager: kill on an exception, then close.
    """

    def __init__(self, child_pid, up_r, down_w, options):
        self.child_pid = child_pid
        self.pid = None if options["fork"] or options["detach"] else child_pid
        self.returncode = None
        self._up_r, self._down_w = up_r, down_w
        self._reader = _LineReader(up_r)
        self._options = options
        self.timeout = options["timeout"]
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout
        self.map_failure = None

    def recv(self, timeout=None):
        deadline = self.deadline if timeout is None else time.monotonic() + timeout
        while True:
            msg = self._reader.next(deadline)
            if msg is None or ("pid" not in msg and "maps" not in msg) or len(msg) != 1:
                return msg
            if "pid" in msg:
                self.pid = msg["pid"]
            elif not self._write_maps(msg["maps"] or self.pid):
                return self.map_failure

    def _write_maps(self, pid):
        o = self._options
        try:
            write_id_maps(pid, o["uid_map"], o["gid_map"], o["setgroups"], o["proc"])
        except OSError as exc:
            self.map_failure = dict(error_message(exc, "id_map"), error="writing uid/gid map: %s" % exc)
            self.send({"maps": "failed", "errno": exc.errno})
            return False
        self.send({"maps": "ok"})
        return True

    def send(self, obj):
        _send(self._down_w, obj)

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.child_pid, os.WNOHANG)
            if pid:
                self.returncode = exit_code(status)
        return self.returncode

    def wait(self):
        if self.returncode is None:
            _unused, status = os.waitpid(self.child_pid, 0)
            self.returncode = exit_code(status)
        return self.returncode

    def kill(self):
        """SIGKILL the direct child and, unless detached, the process running child_fn."""
        targets = [self.child_pid] if self.returncode is None else []
        if self.pid and self.pid != self.child_pid and not self._options["detach"]:
            targets.append(self.pid)
        for pid in targets:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self, grace=CLOSE_GRACE):
        """Close the pipes (the child's recv() sees EOF), let the child end within `grace`
        seconds, then kill it; always reaped."""
        for fd in (self._up_r, self._down_w):
            _close_quietly(fd)
        self._up_r = self._down_w = None
        until = time.monotonic() + grace
        delay = 0.001
        while self.poll() is None and time.monotonic() < until:
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        if self.returncode is None:
            self.kill()
            self.wait()
        return self.returncode

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.kill()
        self.close()
        return False


def exit_code(status):
    """A waitpid status -> the exit code, or 128+N when the process died of signal N."""
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


# ---------------------------------------------------------------- spawn
def needs_fork(unshare_flags, join):
    """PID and time namespaces apply to children only (pid_for_children, time_for_children)."""
    children_only = catalog.CLONE_NEWPID | catalog.CLONE_NEWTIME
    names = [t for t, _unused in _join_pairs(join)]
    return bool(unshare_flags & children_only) or any(t in ("pid", "time") for t in names)


def _join_pairs(join):
    """{type: path or fd} in catalog.JOIN_ORDER, or [(type, path or fd)] in the given order."""
    if not join:
        return []
    if isinstance(join, dict):
        order = list(catalog.JOIN_ORDER)
        return [(t, join[t]) for t in sorted(join, key=lambda t: order.index(t) if t in order else len(order))]
    return list(join)


def spawn(
    child_fn,
    args=(),
    kwargs=None,
    unshare=0,
    join=None,
    join_cgroups=(),
    uid_map=None,
    gid_map=None,
    setgroups=None,
    time_offsets=None,
    setup=None,
    fork=None,
    setsid=False,
    detach=False,
    stdio=None,
    keep_fds=None,
    pdeathsig=None,
    proc="/proc",
    timeout=DEFAULT_TIMEOUT,
):
    """Fork a child that enters namespaces and runs child_fn(chan, *args, **kwargs); return
    the parent's handle (Spawned). The steps, in order (see the module docstring):

    setsid: a new session.  stdio: a file for stdout/stderr (stdin /dev/null).  keep_fds: if
      given, every other fd above 2 is closed.  detach: fork once more and let the direct
      child exit: the long-lived child is nobody's child (the container's init).
    pdeathsig: a signal the child gets when the caller dies (not with detach).
    join_cgroups: open cgroup.procs fds the child writes itself into before any namespace.
    join: {type: path or fd} entered with setns(2) in catalog.JOIN_ORDER, or a list of
      (type, path or fd) pairs entered in that order; fds given here and in join_cgroups
      are closed in the caller once the child has its copies.  unshare: CLONE_NEW* flags.
    uid_map/gid_map: [{inside, outside, count}] or [(inside, outside, count)], written by the
      parent (only a process with CAP_SETUID in the parent user namespace may map other ids
      than its own) after unshare with CLONE_NEWUSER, and when the child calls
      chan.request_maps().  setgroups: 'deny'/'allow' first; 'deny' when not root.
    time_offsets: {clock: seconds} for /proc/self/timens_offsets.  setup: a callable, last.
    fork: run child_fn in a grandchild (default: when pid or time is unshared or joined).
    timeout: seconds for recv() without its own timeout.
    """
    if fork is None:
        fork = needs_fork(unshare, join)
    if setgroups is None and gid_map and os.geteuid() != 0:
        setgroups = "deny"
    options = dict(
        fork=fork, detach=detach, uid_map=uid_map, gid_map=gid_map, setgroups=setgroups, proc=proc, timeout=timeout
    )
    # Load the C library here, once: left to the child, ctypes.util.find_library would run
    # `ldconfig -p` in every child (about 15 ms of a container start), and never for the parent.
    syscalls.libc()
    up_r, up_w = os.pipe()
    down_r, down_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(up_r)
        os.close(down_w)
        chan = Channel(up_w, down_r)
        maps = bool(unshare & catalog.CLONE_NEWUSER) and bool(uid_map or gid_map)
        steps = dict(join=join, join_cgroups=join_cgroups, unshare=unshare, maps=maps, time_offsets=time_offsets)
        steps["setup"] = setup
        process = dict(setsid=setsid, stdio=stdio, keep_fds=keep_fds, detach=detach, pdeathsig=pdeathsig)
        _child(chan, child_fn, args, kwargs or {}, process, steps, fork)
    os.close(up_w)
    os.close(down_r)
    for fd in list(join_cgroups) + [v for _unused, v in _join_pairs(join) if isinstance(v, int)]:
        os.close(fd)  # the child has its copies
    return Spawned(pid, up_r, down_w, options)


def _detach_stdio(path):
    devnull = os.open(os.devnull, os.O_RDWR)
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(devnull)
    os.close(out)


def close_fds_except(keep):
    """Close every fd above 2 except those in `keep`."""
    keep = sorted(set(k for k in keep if k is not None and k > 2))
    low = 3
    for k in keep:
        if low < k:
            os.closerange(low, k)
        low = k + 1
    os.closerange(low, 65536)


def _become_process(chan, process, keep):
    """setsid, stdio, fds, detach, pdeathsig -- before any namespace is touched."""
    if process["setsid"]:
        os.setsid()
    if process["stdio"]:
        _detach_stdio(process["stdio"])
    if process["keep_fds"] is not None:
        close_fds_except(list(process["keep_fds"]) + list(chan.fds()) + keep)
    if process["detach"] and os.fork() != 0:
        os._exit(0)
    if process["pdeathsig"]:
        syscalls.set_pdeathsig(process["pdeathsig"])


def _enter(chan, steps):
    """Join cgroups and namespaces, unshare, maps, offsets, setup. A failure is reported with
    the stage it happened at, and the child exits."""
    stage = "cgroup"
    try:
        for fd in steps["join_cgroups"]:
            os.write(fd, b"0")
            os.close(fd)
        stage = "open"
        fds = []
        for name, where in _join_pairs(steps["join"]):
            catalog.get(name)
            fds.append((name, where if isinstance(where, int) else os.open(where, os.O_RDONLY)))
        stage = "setns"
        for name, fd in fds:
            syscalls.setns(fd, catalog.get(name).flag)
            os.close(fd)
        stage = "unshare"
        if steps["unshare"]:
            syscalls.unshare(steps["unshare"])
        if steps["maps"]:
            stage = "id_map"
            try:
                chan.request_maps(os.getpid())
            except OSError:
                os._exit(3)  # the parent reports the failure it saw
        if steps["time_offsets"]:
            stage = "time_offsets"
            write_timens_offsets(steps["time_offsets"])
        if steps["setup"] is not None:
            stage = "setup"
            steps["setup"]()
    except BaseException as exc:
        try:
            chan.send(error_message(exc, stage))
        finally:
            os._exit(1)


def _child(chan, child_fn, args, kwargs, process, steps, fork):
    """The direct child (and, with detach, its child). Never returns."""
    try:
        keep = list(steps["join_cgroups"]) + [v for _unused, v in _join_pairs(steps["join"]) if isinstance(v, int)]
        _become_process(chan, process, keep)
        if not fork:
            chan.send({"pid": os.getpid()})
    except BaseException as exc:  # report anything, never leave the parent waiting
        try:
            chan.send(error_message(exc, "spawn"))
        finally:
            os._exit(1)
    _enter(chan, steps)
    if fork:
        try:
            _fork_runner(chan, child_fn, args, kwargs, process["detach"])
        except BaseException as exc:
            try:
                chan.send(error_message(exc, "run"))
            finally:
                os._exit(1)
    _run_fn(chan, child_fn, args, kwargs)


def _fork_runner(chan, child_fn, args, kwargs, detach):
    """Fork the process that runs child_fn; report its pid first. Never returns."""
    sync_r, sync_w = os.pipe()
    gpid = os.fork()
    if gpid == 0:
        os.close(sync_w)
        if not detach:
            syscalls.set_pdeathsig(signal.SIGKILL)
        os.read(sync_r, 1)  # EOF once the parent has sent our pid: it comes first
        os.close(sync_r)
        _run_fn(chan, child_fn, args, kwargs)
    os.close(sync_r)
    chan.send({"pid": gpid})
    os.close(sync_w)
    if detach:
        os._exit(0)
    chan.close()
    _unused, status = os.waitpid(gpid, 0)
    os._exit(exit_code(status))


def _run_fn(chan, child_fn, args, kwargs):
    """Run child_fn, send its result or error. Never returns."""
    try:
        msg = {"result": child_fn(chan, *args, **kwargs)}
        line = json.dumps(msg)
    except BaseException as exc:
        line = json.dumps(error_message(exc, "run"))
    try:
        write_all(chan.up_w, (line + "\n").encode())
    finally:
        os._exit(0)


# ---------------------------------------------------------------- run: one function, one result
def result(ok, value=None, stage=None, err=None, error=None, timed_out=False):
    """The result dict of run(): {ok, value, stage, errno, errname, error, timed_out}."""
    return {
        "ok": ok,
        "value": value,
        "stage": stage,
        "errno": err,
        "errname": syscalls.errno_name(err),
        "error": error,
        "timed_out": timed_out,
    }


def outcome(child, timeout=None):
    """Read `child`'s messages up to its result or error and return them as a run() result;
    other messages (ready, ...) are skipped. A timeout kills the child."""
    try:
        while True:
            msg = child.recv(timeout)
            if msg is None:
                return result(False, stage="run", error="probe child exited without a result")
            if "result" in msg:
                return result(True, msg["result"])
            if "error" in msg:
                return result(False, stage=msg.get("stage"), err=msg.get("errno"), error=msg["error"])
    except SpawnTimeout:
        child.kill()
        limit = timeout if timeout is not None else child.timeout
        return result(False, stage="timeout", error="probe did not answer within %.1fs" % limit, timed_out=True)
    except SpawnError as exc:
        return result(False, stage="run", error="probe child sent unreadable result: %s" % exc)


def _call(chan, fn, args, kwargs):
    return fn(*args, **kwargs)


def run(fn, args=(), kwargs=None, timeout=DEFAULT_TIMEOUT, **options):
    """Run `fn(*args, **kwargs)` in a spawned child and return a result dict; `options` are
    spawn()'s (unshare, join, uid_map, gid_map, setgroups, time_offsets, setup, fork, ...).

    Returns {ok, value, stage, errno, errname, error, timed_out}; `stage` names the step that
    failed: open, setns, unshare, id_map, time_offsets, setup, run, timeout. The child is
    reaped before this returns.
    """
    with spawn(_call, args=(fn, tuple(args), kwargs or {}), timeout=timeout, **options) as child:
        return outcome(child)


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

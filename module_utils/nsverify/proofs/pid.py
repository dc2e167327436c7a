"""PID proof (NS-PID-001..004).

001: the first process is PID 1 inside and has another PID outside (NSpid, read by the host).
002: the inside sees only its own processes: a sentinel process the host keeps outside,
     with a unique comm, must not appear in a /proc mounted for the inside's PID namespace.
003: a grandchild made an orphan is re-parented to the inside PID 1, which reaps it (no zombie).
004: with several processes inside, the host kills the inside PID 1; every process inside ends.
003/004 need an inside PID 1 that is ours (fresh target); for a joined namespace its PID 1
is someone else's process, so they are skipped rather than leave a zombie or kill it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time

from ansible.module_utils.nsverify import catalog, inspect, procfs, syscalls
from ansible.module_utils.nsverify.proofs import base

TYPE = "pid"
CONTROL_IDS = ("NS-PID-001", "NS-PID-002", "NS-PID-003", "NS-PID-004")
SLEEPERS = 3


def _set_comm(name):
    with open("/proc/self/comm", "w") as fh:
        fh.write(name)


def list_processes(proc="/proc"):
    out = []
    for entry in os.listdir(proc):
        if entry.isdigit():
            comm = procfs.read_comm(entry, proc)
            if comm is not None:
                out.append([int(entry), comm])
    return sorted(out)


def _wait_parent_gone(parent, seconds=5.0):
    """Until getppid() is no longer `parent`: poll(2) on a pidfd of the parent (readable once it
    has exited, after its children were re-parented), growing short sleeps without one."""
    fd = None
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(parent)
        except OSError:
            fd = None
    deadline = time.monotonic() + seconds
    delay = 0.0005
    try:
        while os.getppid() == parent and time.monotonic() < deadline:
            if fd is not None:
                select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            else:
                time.sleep(delay)
                delay = min(delay * 2, 0.01)
    finally:
        if fd is not None:
            os.close(fd)


def _orphan_test():
    """Make a grandchild an orphan; report its parent before and after; reap it as PID 1.
    No fixed sleep: the orphan stays until PID 1 has read its report (the go pipe), then exits,
    and PID 1 waits for it with a blocking waitpid (ECHILD when it was not re-parented to us)."""
    r, w = os.pipe()
    seen_r, seen_w = os.pipe()
    go_r, go_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        os.close(go_w)
        grandchild = os.fork()
        if grandchild == 0:
            parent = os.getppid()
            os.write(seen_w, b"s")  # the parent exits only after we saw it alive
            _wait_parent_gone(parent)
            os.write(
                w,
                json.dumps({"orphan_pid": os.getpid(), "parent_before": parent, "parent_after": os.getppid()}).encode(),
            )
            os.close(w)
            os.read(go_r, 1)  # stay until the inside PID 1 has looked at us (or is gone: EOF)
            os._exit(0)
        os.read(seen_r, 1)
        os._exit(0)
    os.close(w)
    os.close(go_r)
    os.close(seen_r)
    os.close(seen_w)
    os.waitpid(child, 0)
    data = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    report = json.loads(data.decode())
    orphan = report["orphan_pid"]
    os.write(go_w, b"g")
    os.close(go_w)
    try:
        pid, _unused = os.waitpid(orphan, 0)
        reaped = pid == orphan
    except ChildProcessError:
        reaped = False  # not our child: it was not re-parented to us
    report["reaped_by_pid1"] = reaped
    report["left_in_proc"] = os.path.exists("/proc/%d" % orphan)
    report["state_after"] = procfs.read_state(orphan)
    return report


def _inside(rendezvous, sentinel_comm, init_token, own_init):
    # /proc is still the host's mount here, so /proc/self names us by our host PID.
    host_pid = int(os.readlink("/proc/self"))
    inside_pid = os.getpid()
    _set_comm(init_token)
    sleepers = []
    if own_init:
        r, w = os.pipe()
        for _unused in range(SLEEPERS):
            kid = os.fork()
            if kid == 0:
                os.close(r)
                os.write(w, ("%s\n" % os.readlink("/proc/self")).encode())
                os.close(w)
                while True:
                    signal.pause()
            sleepers.append(kid)
        os.close(w)
        data = b""
        while data.count(b"\n") < SLEEPERS:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
        os.close(r)
        sleeper_host_pids = [int(x) for x in data.split()]
    else:
        sleeper_host_pids = []
    # A /proc for this PID namespace, in our private mount namespace only.
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
    syscalls.mount("proc", "/proc", "proc", syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC)
    visible = list_processes()
    orphan = _orphan_test() if own_init else None
    data = {
        "host_pid": host_pid,
        "inside_pid": inside_pid,
        "init_comm": init_token,
        "pid1_exists_inside": os.path.isdir("/proc/1"),
        "visible_count": len(visible),
        "visible_sample": visible[:12],
        "sentinel_seen": [p for p, c in visible if c == sentinel_comm],
        "sleepers_inside": sleepers,
        "sleepers_host": sleeper_host_pids,
        "orphan": orphan,
    }
    rendezvous(data)
    return data


class _Sentinel:
    """A process of ours outside the namespace under test, with a unique comm."""

    def __init__(self, comm):
        self.comm = comm
        ready_r, ready_w = os.pipe()
        self._hold_r, self._hold_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.close(ready_r)
                os.close(self._hold_w)
                syscalls.set_pdeathsig(signal.SIGKILL)
                _set_comm(comm)
                os.write(ready_w, b"r")
                os.read(self._hold_r, 1)
            finally:
                os._exit(0)
        os.close(ready_w)
        os.close(self._hold_r)
        os.read(ready_r, 1)
        os.close(ready_r)

    def stop(self):
        os.close(self._hold_w)
        os.waitpid(self.pid, 0)


def _wait_gone(pids, seconds=5.0):
    deadline = time.monotonic() + seconds
    states = {}
    delay = 0.0005
    while time.monotonic() < deadline:
        states = dict((p, procfs.read_state(p)) for p in pids)
        if all(s in (None, "Z", "X") for s in states.values()):
            break
        time.sleep(delay)  # the kernel ends the namespace's processes within a few ms
        delay = min(delay * 2, 0.02)
    return states


def _observe(ctx, sentinel, tok, own_init, engine_nspid):
    """Run the inside; the host looks at the inside's PID 1 and, for our own init, kills it."""

    def host_look(data):
        seen = dict(data)
        hp = data["host_pid"]
        seen["host_view"] = {
            "nspid": inspect.read_nspid(hp),
            "comm": procfs.read_comm(hp),
            "engine_nspid": engine_nspid,
            "sentinel_host_pid": sentinel.pid,
        }
        if own_init:
            # NS-PID-004: end the inside's PID 1 from outside; every process inside must go.
            before = dict((p, procfs.read_state(p)) for p in data["sleepers_host"])
            os.kill(hp, signal.SIGKILL)
            after = _wait_gone([hp] + data["sleepers_host"])
            seen["kill"] = {"killed_host_pid": hp, "sleepers_before": before, "states_after": after}
        return seen

    res, host = base.held(
        _inside,
        host_look,
        args=(sentinel.comm, "nsv-init-%s" % tok[:6], own_init),
        **ctx.options_for(TYPE, extra_unshare=catalog.CLONE_NEWNS),
    )
    if host is None:
        base.require_ok(res, "PID probe")
        raise base.ProbeFailed(res, "PID probe never reached its rendezvous")
    if not own_init:
        base.require_ok(res, "PID probe")
    return host


def _check_pid1(ctx, host, own_init, engine_nspid):
    view = host["host_view"]
    nspid = view["nspid"]
    ok1 = (
        view["comm"] == host["init_comm"]
        and len(nspid) > len(engine_nspid)
        and nspid[-1] == host["inside_pid"]
        and nspid[0] != nspid[-1]
        and host["pid1_exists_inside"]
    )
    if own_init:
        ok1 = ok1 and host["inside_pid"] == 1
    evidence = {
        "inside_pid": host["inside_pid"],
        "host_pid": host["host_pid"],
        "nspid_seen_by_host": nspid,
        "engine_nspid": engine_nspid,
        "comm_seen_by_host": view["comm"],
        "expected_comm": host["init_comm"],
    }
    ctx.add(base.check("NS-PID-001", ok1, evidence))


def _check_own_init(ctx, host):
    """NS-PID-003 (the orphan is reaped by our PID 1) and NS-PID-004 (killing it ends all)."""
    orphan = host["orphan"] or {}
    ok3 = (
        orphan.get("parent_after") == 1
        and orphan.get("parent_before") not in (None, 1)
        and orphan.get("reaped_by_pid1") is True
        and not orphan.get("left_in_proc")
    )
    ctx.add(base.check("NS-PID-003", ok3, orphan))
    kill = host["kill"]
    ok4 = (
        len(host["sleepers_host"]) == SLEEPERS
        and all(s is not None and s not in ("Z", "X") for s in kill["sleepers_before"].values())
        and all(s in (None, "Z", "X") for s in kill["states_after"].values())
    )
    evidence = dict(kill, sleepers_inside=host["sleepers_inside"], sleepers_host=host["sleepers_host"])
    ctx.add(base.check("NS-PID-004", ok4, evidence))


def prove(ctx):
    own_init = ctx.target.fresh
    tok = base.token()
    sentinel = _Sentinel("nsv-sent-%s" % tok[:6])
    engine_nspid = inspect.read_nspid("self")
    try:
        host = _observe(ctx, sentinel, tok, own_init, engine_nspid)
    finally:
        sentinel.stop()
    _check_pid1(ctx, host, own_init, engine_nspid)
    evidence = {
        "sentinel_comm": sentinel.comm,
        "sentinel_host_pid": sentinel.pid,
        "sentinel_seen_inside_as": host["sentinel_seen"],
        "visible_count": host["visible_count"],
        "visible_sample": host["visible_sample"],
    }
    ctx.add(base.check("NS-PID-002", not host["sentinel_seen"], evidence))
    if not own_init:
        reason = (
            "the target's PID 1 is not ours: proving reaping or killing it would leave a zombie in, or end, the target"
        )
        ctx.add(base.skip("NS-PID-003", reason))
        ctx.add(base.skip("NS-PID-004", reason))
        return
    _check_own_init(ctx, host)

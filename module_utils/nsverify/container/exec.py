"""Run commands inside a running container, the way its workload runs.

One exec session serves them: probe.spawn starts a child that joins the container's cgroups, then
every namespace of its init but the user namespace (catalog.JOIN_ORDER; pid and time apply to its
children), and waits on a socket for commands. For each command it forks a child that joins the
user namespace (if asked: the container's other namespaces belong to the host's user namespace),
leads its own session, takes the workload's privileges and execs the command with its output on
two pipes whose write ends the caller sent along with the request (SCM_RIGHTS).

Why a session: a write to cgroup.procs takes cgroup_threadgroup_rwsem for writing, a percpu rwsem
whose writer waits for an RCU grace period when it has not been taken for a while (10-30 ms here);
the session pays it once, its children are born in the cgroups. exec_in() without a session open
starts one for the one command, as before; `with session(running):` makes every exec_in into that
container (the same init: pid and start time) go through one session.

    caller                                    session (probe.spawn child, fork=False)
    exec_in ── socket: {"run": argv, "user": bool} + 2 fds ──> fork ─> command child: [setns user]
                                                                setsid, stdio, oom_score_adj,
                                                                privileges, seccomp, execve
            ── {"kill": true} on timeout ──────────────────> SIGKILL the command child (unreaped)
            <── {"exit": rc, "failure": join error or None} ── waitpid (woken by SIGCHLD)
    close   ── EOF ────────────────────────────────────────> exits (killing a command still running)

The session counts against the pids limit like the one-shot spawn child did while it waited: at most
two processes of ours in the container's cgroups at a time (the session and one command).
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import select
import signal
import socket
import time

from ansible.module_utils.nsverify import catalog, cgroups, probe, procfs, seccomp, syscalls
from ansible.module_utils.nsverify.container import init, state
from ansible.module_utils.nsverify.container.config import ContainerError

# After the command's own process exited, how long to drain output that background jobs
# left inside may still be writing (they keep the pipes open: no EOF to wait for).
DRAIN = 0.2
# How long the session may take to report a killed command's end before it is killed itself.
KILL_GRACE = 5.0
_FD_ROOM = socket.CMSG_SPACE(4 * array.array("i").itemsize)
_CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0)
# open sessions: (init pid, init start time) -> Session
_OPEN = {}


# ---------------------------------------------------------------- JSON lines (and fds) over a socket
class _Lines:
    """JSON lines over a stream socket; fds that came with them (SCM_RIGHTS) are kept in `fds`."""

    def __init__(self, sock):
        self.sock, self.buf, self.fds = sock, b"", []

    def has_line(self):
        return b"\n" in self.buf

    def fill(self):
        """One read; False at EOF. Unix stream sockets never merge data past a segment that carried fds."""
        try:
            data, ancillary, _unused, _unused = self.sock.recvmsg(65536, _FD_ROOM, _CLOEXEC)
        except ConnectionResetError:  # the peer died with our data unread
            return False
        for level, kind, raw in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(raw[: len(raw) - len(raw) % fds.itemsize])
                self.fds.extend(fds)
        self.buf += data
        return bool(data)

    def next(self, deadline=None):
        """The next message; None at EOF or when the monotonic `deadline` passed."""
        while not self.has_line():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and (remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]):
                return None
            if not self.fill():
                return None
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line.decode())

    def send(self, obj, fds=()):
        data = (json.dumps(obj) + "\n").encode()
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        sent = self.sock.sendmsg([data], ancillary)
        if sent < len(data):
            self.sock.sendall(data[sent:])


# ---------------------------------------------------------------- the session (spawn's child)
def _command(status_w, user_fd, argv, out_w, err_w, oom_adj, config, seccomp_filter):
    """The command child: the user namespace, its own session, stdio on the pipes, privileges down, exec."""
    try:
        if user_fd is not None:
            syscalls.setns(user_fd, catalog.get("user").flag)
    except BaseException as exc:
        os.write(status_w, ("setns(user): %s" % exc).encode())
        os._exit(1)
    try:
        syscalls.set_pdeathsig(signal.SIGKILL)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # Its own session and process group: otherwise it shares the session's (the caller's: the Ansible
        # worker's) group, and `kill -9 0` inside kills the host's processes of that group -- a PID namespace
        # does not stop a signal sent to a process group.
        os.setsid()
        os.chdir("/")
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        probe.close_fds_except([status_w])  # close-on-exec: EOF for the session once execve succeeded
        init.set_oom_score_adj(oom_adj)
        init.become_workload(config, user_fd is not None, seccomp_filter)
        os.execve(argv[0], argv, init.ENV)
    except BaseException as exc:
        os.write(2, ("nsverify exec: %s\n" % exc).encode())
    os._exit(127)


def _read_to_eof(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _drain_nonblocking(fd):
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _fork_command(msg, fds, user_fd, spec):
    """Fork the command child; (pid, failure text) -- pid None when it could not be forked or joined."""
    out_w, err_w = fds
    status_r, status_w = os.pipe()  # both close-on-exec (PEP 446)
    try:
        pid = os.fork()
    except OSError as exc:  # EAGAIN at the pids limit: the one-shot exec reported it as a join failure
        for fd in (out_w, err_w, status_r, status_w):
            os.close(fd)
        return None, "fork: %s" % exc
    if pid == 0:
        os.close(status_r)
        _command(status_w, user_fd if msg.get("user") else None, msg["run"], out_w, err_w, *spec)
    for fd in (out_w, err_w, status_w):
        os.close(fd)
    failure = _read_to_eof(status_r).decode(errors="replace") or None  # EOF: execve or exit
    os.close(status_r)
    return pid, failure


def _await_command(lines, wake_r, pid):
    """Wait for the command child's end, killing it when the caller asks; its exit code."""
    while True:
        ready = [] if lines.has_line() else select.select([lines.sock, wake_r], [], [])[0]
        if wake_r in ready:
            _drain_nonblocking(wake_r)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return probe.exit_code(status)
        if lines.has_line() or lines.sock in ready:
            if not lines.has_line() and not lines.fill():
                os.kill(pid, signal.SIGKILL)  # the caller is gone
                os.waitpid(pid, 0)
                os._exit(0)
            if lines.has_line() and (lines.next() or {}).get("kill"):
                os.kill(pid, signal.SIGKILL)  # not reaped yet: the pid is still this child's


def _serve(chan, sock_fd, user_fd, oom_adj, config, seccomp_filter):
    """The session: report ready, then run the commands the caller sends until it closes the socket.
    Everything used here was imported before the namespaces were joined: an import now would read the
    container's files."""
    lines = _Lines(socket.socket(fileno=sock_fd))
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_unused: None)  # a handler, so that the wakeup fd is written
    signal.set_wakeup_fd(wake_w)
    chan.ready(os.getpid())  # the channel stays open: its EOF tells the caller this process is exiting
    spec = (oom_adj, config, seccomp_filter)
    while True:
        msg = lines.next()
        if msg is None:
            os._exit(0)
        if "run" not in msg:
            continue
        fds, lines.fds = lines.fds[:2], lines.fds[2:]
        pid, failure = _fork_command(msg, fds, user_fd, spec)
        rc = 126 if pid is None else _await_command(lines, wake_r, pid)
        lines.send({"exit": rc, "failure": failure})


# ---------------------------------------------------------------- the caller's side
def _open_joins(running):
    """Open the namespace files and cgroup.procs files now, then check init is still the same
    process (PID reuse): the open fds then surely belong to this container. The user namespace's
    fd comes apart: the command child joins it."""
    pid = running["init_pid"]
    types = [t for t in catalog.JOIN_ORDER if t in running["namespaces"] and t != "user"]
    ns_fds, cg_fds, user_fd = [], [], None
    try:
        for t in types:
            ns_fds.append((t, os.open(procfs.ns_path(pid, t), os.O_RDONLY)))
        if "user" in running["namespaces"]:
            user_fd = os.open(procfs.ns_path(pid, "user"), os.O_RDONLY)
        cg = running.get("cgroups") or {}
        cg_fds = cgroups.open_procs_files(cg) + cgroups.open_procs_files(cg, payload=True)
        if not state.init_alive(running):
            raise ContainerError("container %s stopped while joining it" % running.get("name"))
    except BaseException:
        for fd in [fd for _unused, fd in ns_fds] + cg_fds + [user_fd]:
            if fd is not None:
                os.close(fd)
        raise
    return ns_fds, cg_fds, user_fd


def _collect(out_r, err_r, timeout, limit, exit_fd, exited):
    """Read both pipes until the command's process exited (then drain briefly) or the timeout.
    exited() -> True once the end was reported; exit_fd is readable when it may have been. A command
    that closed its output goes on being waited for, up to the timeout."""
    bufs = {out_r: [], err_r: []}
    open_fds = [out_r, err_r]
    deadline = time.monotonic() + timeout
    exited_at = None
    timed_out = False
    while open_fds or exited_at is None:
        now = time.monotonic()
        if now > deadline:
            timed_out = True
            break
        if exited_at is not None and now - exited_at > DRAIN:
            break
        watch = open_fds + ([exit_fd] if exited_at is None else [])
        ready, _unused, _unused = select.select(watch, [], [], 0.05)
        if exit_fd in ready and exited():
            exited_at = time.monotonic()
        for fd in ready:
            if fd == exit_fd:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.remove(fd)
            elif sum(len(c) for c in bufs[fd]) < limit:
                bufs[fd].append(chunk)
    return b"".join(bufs[out_r]), b"".join(bufs[err_r]), timed_out


def _key(running):
    return (running.get("init_pid"), running.get("init_starttime"))


class Session:
    """The caller's end of an exec session into one running container; started at the first command,
    started again when it died (the OOM killer may choose it: it is in the container's memory cgroup)."""

    def __init__(self, running):
        self.running = running
        self.child = None
        self.lines = None
        self.reply = None

    def _start(self, timeout):
        """Spawn the session; None, or the error it reported while joining."""
        running = self.running
        oom_adj = init.workload_oom_score_adj(running["init_pid"])
        # the filter is built here: in the session, which joined the memory cgroup, it may not fit
        spec = (oom_adj, running["config"], seccomp.filter_for(running["config"]))
        ns_fds, cg_fds, user_fd = _open_joins(running)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            child = probe.spawn(
                _serve,
                args=(theirs.fileno(), user_fd) + spec,
                join=ns_fds,
                join_cgroups=cg_fds,
                fork=False,
                keep_fds=[theirs.fileno(), user_fd],
                stdio=os.devnull,
                pdeathsig=signal.SIGKILL,
                timeout=timeout,
            )
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
            if user_fd is not None:
                os.close(user_fd)
        try:
            msg = child.recv()
        except probe.SpawnError as exc:
            msg = {"error": str(exc)}
        if not msg or "ready" not in msg:
            child.close()
            mine.close()
            return (msg or {}).get("error") or "the exec session ended before it was ready"
        self.child, self.lines = child, _Lines(mine)
        return None

    def _alive(self):
        if self.child is not None and self.child.poll() is not None:
            self._drop()
        return self.child is not None

    def _drop(self):
        """Close the socket (the session exits) and reap it: at the EOF of its channel it is exiting, so a
        blocking wait is short (Spawned.close alone would poll in growing sleeps: ~5 ms per one-shot exec)."""
        if self.child is not None:
            self.lines.sock.close()
            try:
                while self.child.recv(timeout=KILL_GRACE) is not None:
                    pass
                self.child.wait()
            except probe.SpawnError:
                self.child.kill()
            self.child.close()
        self.child = self.lines = None

    def _exited(self):
        """Read the session's report of the command's end, if there is one; True once it is here."""
        if self.reply is None:
            if not self.lines.has_line() and not self.lines.fill():
                self.reply = {"exit": None}  # the session died
            elif self.lines.has_line():
                self.reply = self.lines.next()
        return self.reply is not None

    def _finish(self, timed_out):
        """The command's exit code: asks the session to kill it on a timeout; the session's own
        exit code when it died (and it is started again at the next command)."""
        if timed_out and self.reply is None:
            with contextlib.suppress(OSError):
                self.lines.send({"kill": True})
        deadline = time.monotonic() + KILL_GRACE
        while self.reply is None and time.monotonic() < deadline:
            if self.lines.has_line() or select.select([self.lines.sock], [], [], deadline - time.monotonic())[0]:
                self._exited()
        reply, self.reply = self.reply or {"exit": None}, None
        if reply.get("exit") is None:  # the session died (SIGKILL from the OOM killer: 137, as it was)
            self.child.kill()
            rc = self.child.wait()
            self._drop()
            return (rc, None) if rc >= 128 else (126, "the exec session ended with exit code %d" % rc)
        return reply["exit"], reply.get("failure")

    def exec_in(self, argv, timeout=30.0, limit=1 << 20, join_user=True):
        """Like exec_in(): {'rc', 'stdout', 'stderr', 'timed_out'}."""
        if not state.init_alive(self.running):
            raise ContainerError("container %s is not running" % self.running.get("name"))
        if not self._alive():
            failure = self._start(timeout)
            if failure:
                return _result(126, b"", b"", False, failure)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.lines.send({"run": list(argv), "user": join_user}, fds=[out_w, err_w])
            sent = True
        except OSError:  # the session died since _alive() looked
            sent = False
        finally:
            os.close(out_w)
            os.close(err_w)
        try:
            if sent:
                stdout, stderr, timed_out = _collect(out_r, err_r, timeout, limit, self.lines.sock, self._exited)
            else:
                stdout, stderr, timed_out = b"", b"", False
        finally:
            os.close(out_r)
            os.close(err_r)
        rc, failure = self._finish(timed_out)
        return _result(rc, stdout, stderr, timed_out, failure)

    def close(self):
        self._drop()

    def __enter__(self):
        return self

    def __exit__(self, *_unused):
        self.close()
        return False


def _result(rc, stdout, stderr, timed_out, failure):
    if failure:
        rc = 126
        stderr += ("nsverify exec: joining the container failed: %s\n" % failure.strip()).encode()
    return {
        "rc": rc,
        "stdout": stdout.decode(errors="replace"),
        "stderr": stderr.decode(errors="replace"),
        "timed_out": timed_out,
    }


@contextlib.contextmanager
def session(running):
    """Within it, every exec_in into this running container goes through one exec session (one
    cgroup migration instead of one per command). Nested uses share the outer session."""
    key = _key(running)
    if key in _OPEN:
        yield _OPEN[key]
        return
    _OPEN[key] = opened = Session(running)
    try:
        yield opened
    finally:
        del _OPEN[key]
        opened.close()


def exec_in(running, argv, timeout=30.0, limit=1 << 20, join_user=True):
    """Run `argv` inside a running container: join its cgroups, then setns into every
    namespace of its init, fork, drop capabilities like the workload, exec. Returns
    {'rc', 'stdout', 'stderr', 'timed_out'}; rc is 128+N when the command died of signal N,
    126 when joining the container failed. Goes through the session open for this container
    (session()), else through one of its own."""
    if not state.init_alive(running):
        raise ContainerError("container %s is not running" % running.get("name"))
    opened = _OPEN.get(_key(running))
    if opened is not None:
        return opened.exec_in(argv, timeout, limit, join_user)
    with Session(running) as one:
        return one.exec_in(argv, timeout, limit, join_user)

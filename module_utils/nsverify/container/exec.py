"""Run a command inside a running container, the way its workload runs.

probe.spawn joins the container's cgroups, then every namespace of its init (catalog.JOIN_ORDER,
the user namespace last: the container's other namespaces belong to the host's user
namespace), forks (pid and time apply to children), and the grandchild takes the workload's
privileges and execs the command with its output on two pipes.
"""

from __future__ import annotations

import os
import select
import time

from ansible.module_utils.nsverify import catalog, cgroups, probe, procfs, seccomp
from ansible.module_utils.nsverify.container import init, state
from ansible.module_utils.nsverify.container.config import ContainerError

# After the command's own process exited, how long to drain output that background jobs
# left inside may still be writing (they keep the pipes open: no EOF to wait for).
DRAIN = 0.2


def _command(chan, argv, out_w, err_w, oom_adj, config, in_user_namespace, seccomp_filter):
    """In the container (spawn's grandchild): its own session, stdio on the pipes, privileges down, exec."""
    try:
        # Its own session and process group: otherwise it shares the caller's (the Ansible worker's) group,
        # and `kill -9 0` inside kills the host's processes of that group -- a PID namespace does not stop
        # a signal sent to a process group.
        os.setsid()
        os.chdir("/")
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        probe.close_fds_except([])
        init.set_oom_score_adj(oom_adj)
        init.become_workload(config, in_user_namespace, seccomp_filter)
        os.execve(argv[0], argv, init.ENV)
    except BaseException as exc:
        os.write(2, ("nsverify exec: %s\n" % exc).encode())
    os._exit(127)


def _open_joins(running, join_user):
    """Open the namespace files and cgroup.procs files now, then check init is still the same
    process (PID reuse): the open fds then surely belong to this container."""
    pid = running["init_pid"]
    types = [t for t in catalog.JOIN_ORDER if t in running["namespaces"] and t != "user"]
    if join_user and "user" in running["namespaces"]:
        types.append("user")
    ns_fds, cg_fds = [], []
    try:
        for t in types:
            ns_fds.append((t, os.open(procfs.ns_path(pid, t), os.O_RDONLY)))
        cg = running.get("cgroups") or {}
        cg_fds = cgroups.open_procs_files(cg) + cgroups.open_procs_files(cg, payload=True)
        if not state.init_alive(running):
            raise ContainerError("container %s stopped while joining it" % running.get("name"))
    except BaseException:
        for fd in [fd for _unused, fd in ns_fds] + cg_fds:
            os.close(fd)
        raise
    return ns_fds, cg_fds


def _collect(child, out_r, err_r, timeout, limit):
    """Read both pipes until the command's process exited (then drain briefly) or the timeout."""
    bufs = {out_r: [], err_r: []}
    open_fds = [out_r, err_r]
    deadline = time.monotonic() + timeout
    exited_at = None
    timed_out = False
    while open_fds:
        now = time.monotonic()
        if now > deadline:
            timed_out = True
            break
        if exited_at is None and child.poll() is not None:
            exited_at = now
        if exited_at is not None and now - exited_at > DRAIN:
            break
        ready, _unused, _unused = select.select(open_fds, [], [], 0.05)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.remove(fd)
            elif sum(len(c) for c in bufs[fd]) < limit:
                bufs[fd].append(chunk)
    return b"".join(bufs[out_r]), b"".join(bufs[err_r]), timed_out


def _join_failure(child):
    """The error the spawned child reported when it could not join (None when it did)."""
    try:
        msg = child.recv(timeout=1.0)
    except probe.SpawnError:
        return None
    return msg.get("error") if msg and "error" in msg else None


def exec_in(running, argv, timeout=30.0, limit=1 << 20, join_user=True):
    """Run `argv` inside a running container: join its cgroups, then setns into every
    namespace of its init, fork, drop capabilities like the workload, exec. Returns
    {'rc', 'stdout', 'stderr', 'timed_out'}; rc is 128+N when the command died of signal N,
    126 when joining the container failed."""
    if not state.init_alive(running):
        raise ContainerError("container %s is not running" % running.get("name"))
    oom_adj = init.workload_oom_score_adj(running["init_pid"])
    ns_fds, cg_fds = _open_joins(running, join_user)
    in_user = any(t == "user" for t, _unused in ns_fds)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        child = probe.spawn(
            _command,
            # the filter is built here: in the child, which joined the memory cgroup, it may not fit
            args=(argv, out_w, err_w, oom_adj, running["config"], in_user, seccomp.filter_for(running["config"])),
            join=ns_fds,
            join_cgroups=cg_fds,
            fork=True,
            timeout=timeout,
        )
    finally:
        os.close(out_w)
        os.close(err_w)
    with child:
        try:
            stdout, stderr, timed_out = _collect(child, out_r, err_r, timeout, limit)
        finally:
            os.close(out_r)
            os.close(err_r)
        if timed_out:
            child.kill()
        rc = child.wait()
        failure = _join_failure(child) if rc == 1 and not timed_out else None
    if failure:
        rc = 126
        stderr += ("nsverify exec: joining the container failed: %s\n" % failure.strip()).encode()
    return {
        "rc": rc,
        "stdout": stdout.decode(errors="replace"),
        "stderr": stderr.decode(errors="replace"),
        "timed_out": timed_out,
    }

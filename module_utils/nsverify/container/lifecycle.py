"""Start, stop and remove a container, and the plan between them (like namespaces.py):

    examine(name)                      what exists now (read-only)
    decide(want_state, config, exam)   the plan: action, changed, before/after (no change made)
    act(plan, ...)                     carry it out, return what the module reports

How a container starts (the caller never changes namespace), with probe.spawn:

    caller ──spawn──> A: setsid, console as stdio, other fds closed, fork, exit  (detach: the
                      └─> B: join cgroups, unshare mnt uts ipc net     container is nobody's
                             cgroup pid [time], offsets, fork, exit    child and holds none of
                             └─> C = PID 1 inside (init.init_main)     the caller's pipes)
    The caller learns C's host pid, answers its uid/gid map request (user namespace), and
    waits for C's ready message; then it adds the veth and writes the state file.
"""

from __future__ import annotations

import os
import select
import signal
import time

from ansible.module_utils.nsverify import catalog, cgroups, faults, inspect, probe, procfs, syscalls
from ansible.module_utils.nsverify.container import addresses, init, limits, network, orphans, pod, state, summary
from ansible.module_utils.nsverify.container import config as config_room
from ansible.module_utils.nsverify.container.config import ContainerError

WANT_STATES = ("started", "stopped", "absent")


class ConfigConflict(ContainerError):
    """The name runs with another config."""


# ---------------------------------------------------------------- plan
def examine(name, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """What exists of container `name`: status() and the leftovers on the host."""
    st = state.status(name, run_dir, data_dir)
    return {
        "status": st,
        "word": state.state_word(st),
        "leftovers": state.leftovers(name, run_dir, data_dir),
        "limits_drift": limits.drift(st["state"]) if st["running"] else {},
        "pod_stale": pod.stale(st["state"], run_dir, data_dir) if st["running"] else None,
        "pod_members": pod.members(name, run_dir, data_dir),
    }


def decide(want_state, config, exam):
    """{'action': none|start|restore_limits|stop|remove, 'changed', 'before', 'after', 'reason'}.
    Raise ConfigConflict when the name runs with another config than `config`."""
    st, left, before = exam["status"], exam["leftovers"], exam["word"]
    plan = {"want": want_state, "before": before, "config": config}
    if want_state == "started":
        if st["running"]:
            running_hash = st["state"].get("config_hash")
            want_hash = config_room.config_hash(config)
            if running_hash != want_hash:
                raise ConfigConflict(
                    "container %s is already running with another config (hash %s, requested "
                    "%s): stop it first (state=stopped or absent) or choose another name"
                    % (config["name"], running_hash, want_hash),
                    running_config=st["state"].get("config"),
                    requested_config=config,
                )
            if exam.get("pod_stale"):
                # the member still holds the namespaces of a pod that is gone: join the pod as it runs now
                return dict(plan, action="start", changed=True, after="running", reason=exam["pod_stale"])
            if exam.get("limits_drift"):
                return dict(
                    plan,
                    action="restore_limits",
                    changed=True,
                    after="running",
                    reason="cgroup limits changed from outside: %s" % limits.describe(exam["limits_drift"]),
                )
            return dict(plan, action="none", changed=False, after="running", reason="running as configured")
        return dict(plan, action="start", changed=True, after="running", reason="not running")
    if want_state not in WANT_STATES:
        raise ContainerError("state %r must be one of %s" % (want_state, ", ".join(WANT_STATES)))
    changed = st["running"] or bool(left.get("cgroups") or left.get("veth") or left.get("run_dir"))
    if want_state == "absent":
        changed = changed or bool(left.get("data_dir"))
        after = "absent"
    else:
        after = "stopped" if st["exists"] else "absent"
    action = ("remove" if want_state == "absent" else "stop") if changed else "none"
    out = dict(plan, action=action, changed=changed, after=after, reason="running" if st["running"] else "leftovers")
    if exam.get("pod_members") and changed:
        out["pod_members"] = exam["pod_members"]  # stop() stops them first (container/pod.py)
        out["reason"] += "; its pod members %s are stopped first" % ", ".join(exam["pod_members"])
    return out


def report(running_state):
    """What the module returns of a running container."""
    return {
        "container": running_state,
        "summary": summary.describe(running_state),
        "summary_lines": summary.summary_lines(running_state),
    }


def act(plan, name, stop_timeout=10, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """Carry out decide()'s plan; returns the module's result keys (container, summary,
    summary_lines, removed, state)."""
    out = {}
    if plan["want"] == "started":
        if plan["action"] == "start":
            if plan["before"] != "absent":
                stop(name, stop_timeout, run_dir, data_dir)  # clear a dead run's remnants
            start(plan["config"], run_dir, data_dir)
        elif plan["action"] == "restore_limits":
            out["restored_limits"] = limits.restore(state.status(name, run_dir, data_dir)["state"])
        out.update(report(state.status(name, run_dir, data_dir)["state"]))
    elif plan["action"] == "remove":
        out["removed"] = remove(name, stop_timeout, run_dir, data_dir)
    elif plan["action"] == "stop":
        out["removed"] = stop(name, stop_timeout, run_dir, data_dir)
    out["state"] = state.state_word(state.status(name, run_dir, data_dir))
    return out


# ---------------------------------------------------------------- refusals
def _nothing():
    return None


def refused_types(types, proc="/proc"):
    """unshare(2) of several types fails with one errno for all: try each type alone in a
    throwaway child to name the one(s) the kernel refuses. {type: {errno, errname, limit}}."""
    out = {}
    for t in types:
        res = probe.run(_nothing, unshare=catalog.get(t).flag, fork=False, timeout=10)
        if not res["ok"] and res["stage"] == "unshare":
            limit = procfs.read_sysctl(catalog.get(t).limit_sysctl, os.path.join(proc, "sys"))
            out[t] = {"errno": res["errno"], "errname": res["errname"], "limit": limit}
    return out


POLICY_HINT = (
    "; look at the policy that denies it (an LSM such as AppArmor or SELinux, a seccomp filter, "
    "a container runtime around this host)"
)


def explain_refusal(refused, err=None):
    """Words for people: which type, which errno, what to look at (catalog.errno_meaning)."""
    if not refused:
        return (
            "the kernel refused the namespaces (%s) but each type alone was allowed: a limit was reached "
            "while starting (retry) or a policy refuses the combination" % (syscalls.errno_name(err) or err)
        )
    parts = []
    for t, why in sorted(refused.items()):
        info = catalog.get(t)
        hint = catalog.errno_meaning(why["errno"], t, why["limit"])
        if catalog.verdict_for_errno(why["errno"], "unshare") == "denied":
            hint += POLICY_HINT
        if t in ("ipc", "cgroup"):
            hint += "; or start without it (busybox_container namespaces / busybox_container_namespaces without %s)" % t
        name = why["errname"] or str(why["errno"])
        parts.append("a new %s namespace (%s) with %s: %s" % (t, info.flag_name, name, hint))
    return "the kernel refuses " + "; ".join(parts)


# ---------------------------------------------------------------- start
def _prepare_dirs(config, p):
    for d in (p["run"], p["merged"], p["data"], p["upper"], p["work"]):
        for attempt in range(5):
            try:
                os.makedirs(d, mode=0o700, exist_ok=True)
                break
            except FileNotFoundError:
                # another container's stop pruned the empty containers/ dir between makedirs' mkdirs
                if attempt == 4:
                    raise
    # the upper dir's mode is the container's / mode: root inside a user namespace is
    # an unprivileged host uid and must be able to traverse it
    os.chmod(p["merged"], 0o755)
    os.chmod(p["upper"], 0o755)
    state.write_json(p["config"], {"config": config, "config_hash": config_room.config_hash(config)})


def _launch(config, p, cg, timeout, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """Spawn init (see the module docstring); returns (init pid or None, its first message, the pod record of
    state.json or None). A pod member joins the first container's namespaces (pod.open_joins)."""
    pod_fds, first, joined = pod.open_joins(config, run_dir, data_dir) if config.get("pod") else ([], None, {})
    cgroup_fds = cgroups.open_procs_files(cg)
    payload_fds = cgroups.open_procs_files(cg, payload=True)
    user = config.get("user") or {}
    try:
        child = probe.spawn(
            init.init_main,
            args=(config, p, payload_fds),
            # the user namespace comes last, made by init once the root is built (see init_main)
            unshare=catalog.flags_for(config_room.unshare_types(config)),
            join=pod_fds or None,
            join_cgroups=cgroup_fds,
            uid_map=user.get("uid_map"),
            gid_map=user.get("gid_map"),
            time_offsets=config.get("time_offsets"),
            fork=True,
            setsid=True,
            detach=True,
            stdio=p["console"],
            keep_fds=payload_fds,
            timeout=timeout,
        )
    finally:
        for fd in payload_fds:
            os.close(fd)
    with child:
        try:
            msg = child.recv()
        except probe.SpawnError:
            msg = None
        return child.pid, msg, first and pod.record(first, config_room.pod_share(config), joined)


def _check_report(name, config, msg, timeout):
    if msg and msg.get("stage") == "unshare" and msg.get("errno"):
        types = config_room.unshare_types(config)
        refused = refused_types(types)
        raise ContainerError(
            "container %s did not start: %s (unshare of %s: %s)"
            % (name, explain_refusal(refused, msg["errno"]), " ".join(types), msg.get("error")),
            report=msg,
            refused=refused,
        )
    if msg and msg.get("stage") == "id_map":
        raise ContainerError("writing the uid/gid maps of %s failed: %s" % (name, msg.get("error")), report=msg)
    if not msg or "ready" not in msg:
        raise ContainerError(
            "container %s did not start: %s"
            % (name, (msg or {}).get("error") or "no report from init within %ds" % timeout),
            report=msg,
        )


def _running_state(config, p, cg, init_pid, joined_pod=None):
    st = state.read_stat(init_pid)
    types = config_room.namespace_types(config)
    out = {
        "name": config["name"],
        "status": "running",
        "init_pid": init_pid,
        "init_starttime": st["starttime"] if st else None,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": config,
        "config_hash": config_room.config_hash(config),
        "namespaces": inspect.read_ns_inodes(init_pid, types=types),
        "host_namespaces": inspect.read_ns_inodes("self", types=types),
        "overlay": {"lower": config["rootfs"], "upper": p["upper"], "work": p["work"], "merged": p["merged"]},
        "cgroups": {
            "dirs": cg["dirs"],
            "limits": cg["limits"],
            "init_dirs": cg["init_dirs"],
            "payload_dirs": cg["payload_dirs"],
            "paths": {c: cg[c] for c in cgroups.CONTROLLERS},
            "v2": cg["v2"],
        },
        "veth": config["veth"],
        "paths": p,
    }
    if joined_pod:
        out["pod"] = joined_pod
    return out


def start(config, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR, timeout=30.0):
    """Start the container described by `config` (from normalize()); return its state.
    On any failure everything made so far is removed and ContainerError raised."""
    name = config["name"]
    # before anything is made: others' links and networks; held until config.json records this start's /30
    lock = addresses.claim(config, run_dir, data_dir)
    p = state.paths(name, run_dir, data_dir)
    made_run = not os.path.isdir(p["run"])
    made_data = not os.path.isdir(p["data"])
    cg = None
    init_pid = None
    made_veth = False
    try:
        try:
            _prepare_dirs(config, p)
        finally:
            lock.release()
        faults.point("container:dirs")
        try:
            cg = cgroups.create(name, memory=config["memory"], cpus=config["cpus"], pids=config["pids"])
        except cgroups.CgroupError as exc:
            raise ContainerError(str(exc))
        faults.point("container:cgroups")
        init_pid, msg, joined_pod = _launch(config, p, cg, timeout, run_dir, data_dir)
        faults.point("container:launched")
        _check_report(name, config, msg, timeout)
        faults.point("container:ready")
        if config["veth"]:
            made_veth = True  # preflight saw no such link: whatever has this name now is ours
            network.setup_veth(config["veth"], init_pid)
            faults.point("container:veth")
        running = _running_state(config, p, cg, init_pid, joined_pod)
        state.write_json(p["state"], running)
        faults.point("container:state")
        return running
    except BaseException as exc:
        if init_pid:
            kill_and_wait(init_pid, state.read_stat(init_pid), 0.5)
        if made_veth and network.link_exists(config["veth"]["host"]):
            network.delete_link(config["veth"]["host"])
        if cg:
            cgroups.remove(cg)
        state.remove_tree(p["run"] if made_run else None)
        if made_data:
            state.remove_tree(p["data"])
        state.prune_parents(run_dir, data_dir)
        if isinstance(exc, ContainerError):
            raise
        raise ContainerError("container %s did not start: %s: %s" % (name, type(exc).__name__, exc))


# ---------------------------------------------------------------- stop, remove
def open_pidfd(pid, stat):
    """A pidfd of `pid` when it is still the process `stat` describes (same start time), else
    None: Python < 3.9, a kernel before 5.3, or the process already gone or its pid reused."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    now = state.read_stat(pid)  # read after the open: the fd holds the process it names
    if not now or now["starttime"] != stat["starttime"]:
        os.close(fd)
        return None
    return fd


def wait_gone(gone, pidfd, timeout):
    """Wait up to `timeout` for gone() to be true: poll(2) on the pidfd (readable once the
    process has exited, no sleep ticks), or short growing sleeps without one."""
    deadline = time.monotonic() + timeout
    poller = None
    if pidfd is not None:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
    delay = 0.001
    while not gone():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if poller is not None:
            poller.poll(max(1, int(left * 1000)))
        else:
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
    return True


def kill_and_wait(pid, stat, timeout):
    """SIGTERM, wait up to `timeout`, then SIGKILL; True when the process is gone."""
    if not stat:
        return True

    def gone():
        now = state.read_stat(pid)
        return not now or now["starttime"] != stat["starttime"] or now["state"] in ("Z", "X")

    pidfd = open_pidfd(pid, stat)
    try:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            if gone():
                return True
            try:
                if pidfd is not None:
                    signal.pidfd_send_signal(pidfd, sig)
                else:
                    os.kill(pid, sig)
            except ProcessLookupError:
                return True
            if wait_gone(gone, pidfd, wait):
                return True
        return gone()
    finally:
        if pidfd is not None:
            os.close(pidfd)


def stop(name, timeout=10.0, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """Stop init (SIGTERM, SIGKILL after `timeout`), remove cgroups, veth and runtime files;
    keep the upper layer and config. Returns what was removed."""
    p = state.paths(name, run_dir, data_dir)
    running = state.read_json(p["state"]) or {}
    removed = {"init_pid": None, "cgroups": [], "veth": None, "run_dir": None}
    members = pod.members(name, run_dir, data_dir)
    for member in members:  # they live in this container's namespaces: stopped first (container/pod.py)
        stop(member, timeout, run_dir, data_dir)
    if members:
        removed["pod_members"] = members
    if state.init_alive(running):
        if not kill_and_wait(running["init_pid"], state.read_stat(running["init_pid"]), timeout):
            raise ContainerError("init %d of %s did not die after SIGKILL" % (running["init_pid"], name))
        removed["init_pid"] = running["init_pid"]
    faults.point("container:stopping")
    cg_dirs = (running.get("cgroups") or {}).get("dirs")
    if cg_dirs is None:  # no state: find them by name
        cg_dirs = cgroups.with_children(state.named_cgroups(name))
    # an init no state records (a start killed before state.json) lives on in the cgroups made for it alone
    killed = orphans.kill_in_cgroups(cg_dirs)
    if killed:
        removed["orphans"] = killed
    saved = (state.read_json(p["config"]) or {}).get("config") or {}
    veth = (running.get("config") or {}).get("veth") or saved.get("veth")
    if veth and network.remove_veth(veth):
        removed["veth"] = veth["host"]
    left = cgroups.remove({"dirs": cg_dirs})
    if left:
        raise ContainerError("cgroups of %s still busy: %s" % (name, ", ".join(left)), cgroups=left)
    removed["cgroups"] = cg_dirs
    if os.path.isdir(p["run"]):
        state.remove_tree(p["run"])
        removed["run_dir"] = p["run"]
    state.prune_parents(run_dir, data_dir)
    return removed


def remove(name, timeout=10.0, run_dir=state.RUN_DIR, data_dir=state.DATA_DIR):
    """stop() and also delete the upper layer and config."""
    removed = stop(name, timeout, run_dir, data_dir)
    p = state.paths(name, run_dir, data_dir)
    removed["data_dir"] = p["data"] if os.path.isdir(p["data"]) else None
    state.remove_tree(p["data"])
    state.prune_parents(run_dir, data_dir)
    return removed

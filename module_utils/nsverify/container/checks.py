"""Isolation checks of a running BusyBox container: controls NS-CTR-001..011.

Each check looks from the host and from inside (exec with setns into every
namespace of the init) and returns the control record of controls.record ({id, title,
namespace, source, status: pass|fail|skip, evidence[, reason]}). A check passes only on
what it saw, never on what was configured.
"""

from __future__ import annotations

import errno
import os
import signal
import time

from ansible.module_utils.nsverify import catalog, cgroups, controls, inspect, probe, procfs, seccomp
from ansible.module_utils.nsverify.container import config as config_room
from ansible.module_utils.nsverify.container import exec as exec_room
from ansible.module_utils.nsverify.container import init, pod
from ansible.module_utils.nsverify.container import state as state_room
from ansible.module_utils.nsverify.container.config import ContainerError

# mounts the container makes for itself; anything else inside came from somewhere else
CONTAINER_MOUNTS = {
    "/",
    "/proc",
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/sys",
    "/dev",
    "/dev/pts",
    "/dev/shm",
}


def _check(control_id, ok, evidence, skip_reason=None):
    """The control record (controls.record) of one check; a skip keeps its reason in the
    evidence too, where earlier readers found it."""
    status = "skip" if skip_reason else ("pass" if ok else "fail")
    if skip_reason:
        evidence = dict(evidence or {}, reason=skip_reason)
    return controls.record(control_id, status, evidence, reason=skip_reason)


def _sh(state, cmd, timeout=30.0):
    return exec_room.exec_in(state, ["/bin/sh", "-c", cmd], timeout=timeout)


def host_pids_in_pidns(pid_inode, proc="/proc"):
    """{host pid: inside pid} of every process whose PID namespace has inode `pid_inode`."""
    out = {}
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            if os.stat(procfs.ns_path(entry, "pid", proc)).st_ino != pid_inode:
                continue
            nspid = inspect.read_nspid(entry, proc)
        except OSError:
            continue
        if nspid:
            out[int(entry)] = nspid[-1]
    return out


def parse_ps(text):
    """busybox `ps -o pid,ppid,comm` -> [(pid, ppid, comm)] in output order."""
    rows = []
    for line in text.splitlines()[1:]:
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0].isdigit():
            rows.append((int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else ""))
    return rows


def check_pid(state):
    res = exec_room.exec_in(state, ["/bin/ps", "-o", "pid,ppid,comm"])
    rows = parse_ps(res["stdout"])
    inside = {r[0] for r in rows if r[2] != "ps"}
    seen_from_host = host_pids_in_pidns(state["namespaces"]["pid"])
    init_nspid = inspect.read_nspid(state["init_pid"])
    host_total = len([e for e in os.listdir("/proc") if e.isdigit()])
    # a pod member sharing pid is not PID 1: the pod's first container's init is, in a namespace it shares
    # with that peer and not with the host
    shared = pod.sharing(state, "pid")
    # PID 1 first; every pid ps shows (but ps itself) is one the host sees in the container's
    # PID namespace; far fewer than the host's processes
    ok = (
        res["rc"] == 0
        and bool(rows)
        and rows[0][0] == 1
        and (init_nspid[-1:] == [1] if not shared else shared["ok"])
        and init_nspid[0] == state["init_pid"]
        and inside <= set(seen_from_host.values())
        and len(rows) < host_total
    )
    evidence = {
        "ps_inside": rows,
        "init_nspid": init_nspid,
        "host_view": sorted(seen_from_host.items()),
        "host_process_count": host_total,
    }
    if shared:
        evidence["pod"] = shared
    return _check("NS-CTR-001", ok, evidence)


def check_uts(state):
    res = exec_room.exec_in(state, ["/bin/hostname"])
    inside = res["stdout"].strip()
    host = os.uname().nodename
    want = state["config"]["hostname"]
    shared = pod.sharing(state, "uts")
    if shared:  # the pod's hostname as its first container sees it now
        first = pod.peer(state)["state"]
        want = exec_room.exec_in(first, ["/bin/hostname"])["stdout"].strip() if first else None
    ok = (
        res["rc"] == 0
        and inside == want
        and host != inside
        and state["namespaces"]["uts"] != inspect.read_ns_inodes("self", types=["uts"])["uts"]
        and (not shared or shared["ok"])
    )
    evidence = {"inside": inside, "host": host, "expected": want}
    if shared:
        evidence["pod"] = shared
    return _check("NS-CTR-002", ok, evidence)


def check_net(state):
    res = exec_room.exec_in(state, ["/bin/ls", "/sys/class/net"])
    inside = sorted(res["stdout"].split())
    want = ["lo"]
    veth = state.get("veth")
    shared = pod.sharing(state, "net")
    if shared:  # the pod's network: its first container's veth
        veth = (pod.peer(state)["state"] or {}).get("veth")
    if veth:
        want.append(veth["container"])
    host_links = sorted(os.listdir("/sys/class/net"))
    ok = res["rc"] == 0 and inside == sorted(want) and (not veth or veth["container"] not in host_links)
    evidence = {"inside": inside, "expected": sorted(want), "host_links": host_links}
    if shared:
        evidence["pod"] = shared
        ok = ok and shared["ok"]
    if veth and ok:
        # outside the container's user namespace (if any): root mapped inside holds no NET_RAW
        # over the network namespace, which the host's user namespace owns
        ping = exec_room.exec_in(
            state, ["/bin/ping", "-c", "1", "-W", "2", veth["host_address"].split("/")[0]], join_user=False
        )
        evidence["ping_host_end"] = {"rc": ping["rc"], "stdout": ping["stdout"][-300:]}
        ok = ping["rc"] == 0
    return _check("NS-CTR-003", ok, evidence)


def mount_points(mountinfo_text):
    return [(m["mount_point"], m["fstype"], m["super_options"]) for m in procfs.parse_mountinfo(mountinfo_text)]


def check_mnt(state):
    res = exec_room.exec_in(state, ["/bin/cat", "/proc/self/mountinfo"])
    points = mount_points(res["stdout"])
    root = [p for p in points if p[0] == "/"]
    foreign = sorted({p[0] for p in points} - CONTAINER_MOUNTS)
    host_points = mount_points(procfs.read_text("/proc/self/mountinfo") or "")
    merged = state["overlay"]["merged"]
    leaked = [p for p in host_points if p[0].startswith(merged)]
    ok = (
        res["rc"] == 0
        and len(root) == 1
        and root[0][1] == "overlay"
        and "lowerdir=%s" % state["overlay"]["lower"] in root[0][2]
        and not foreign
        and not leaked
    )
    return _check(
        "NS-CTR-004",
        ok,
        {
            "root": root,
            "mounts_inside": [p[0] for p in points],
            "foreign_inside": foreign,
            "container_mounts_on_host": leaked,
        },
    )


def check_sys_readonly(state):
    write = _sh(state, "echo x > /sys/kernel/uevent_helper")
    remount = exec_room.exec_in(state, ["/bin/mount", "-o", "remount,rw", "/sys"])
    ok = write["rc"] != 0 and remount["rc"] != 0
    return _check("NS-CTR-005", ok, {"write": write, "remount_rw": remount})


# Children of the fork bomb sleep far longer than any check runs, so that every one of them is
# still alive (and counted) when the kernel refuses the next fork, however slow the CPU is.
BOMB_SLEEP = 3600


def parse_flat_keyed(text):
    """cgroup flat-keyed text ("max 3\n") -> {key: int}; unreadable values are left out."""
    out = {}
    for line in (text or "").splitlines():
        k, _unused, v = line.partition(" ")
        if v.strip().isdigit():
            out[k] = int(v)
    return out


def _int_or_none(text):
    return int(text) if text and text.isdigit() else None


def kill_inside(state, inside_pids, patience=10.0):
    """SIGKILL exactly the given processes of the container (PIDs as seen inside), found on the
    host through NSpid, and wait until init has reaped them. Returns {'killed', 'left'}."""
    wanted = set(inside_pids)
    host_of = {ins: host for host, ins in host_pids_in_pidns(state["namespaces"]["pid"]).items() if ins in wanted}
    killed = []
    for ins in sorted(host_of):
        try:
            os.kill(host_of[ins], signal.SIGKILL)
            killed.append(ins)
        except ProcessLookupError:
            pass
    # a zombie keeps its /proc entry until init reaps it; growing sleeps from 1 ms (init reaps within
    # a millisecond or two; a fixed 50 ms tick was most of this check's time)
    deadline = time.monotonic() + patience
    left = sorted(host_of)
    delay = 0.001
    while left and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
        left = [ins for ins in left if os.path.exists("/proc/%d" % host_of[ins])]
    return {"killed": killed, "left": left}


def fork_bomb(state, count):
    """From inside (exec path: cgroups, namespaces, reduced privileges), fork up to `count`
    long-lived children, printing each PID; busybox sh gives up at the first refused fork.
    While the children live, read what the pids controller says; then kill exactly them.
    Works with or without a pids limit (then nothing stops it: the negative case)."""
    spec = (state.get("cgroups") or {}).get("paths", {}).get("pids")
    cg = spec["path"] if spec else None

    def read(fname):
        return cgroups.read_value(os.path.join(cg, fname)) if cg else None

    events_before = parse_flat_keyed(read("pids.events")).get("max")
    # the children's output goes to /dev/null: holding the exec's pipes open they made it wait out its
    # whole drain time (exec.DRAIN) after the shell had ended
    script = "i=0; while [ $i -lt %d ]; do sleep %d >/dev/null 2>&1 & echo $!; i=$((i+1)); done" % (
        count,
        BOMB_SLEEP,
    )
    bomb = _sh(state, script, timeout=120)
    children = [int(x) for x in bomb["stdout"].split() if x.isdigit()]
    try:
        seen = {
            "pids_max": read("pids.max"),
            "current_with_children": _int_or_none(read("pids.current")),
            "peak": _int_or_none(read("pids.peak")),
            "events_max_before": events_before,
            "events_max_after": parse_flat_keyed(read("pids.events")).get("max"),
        }
    finally:
        cleanup = kill_inside(state, children)
    seen.update(
        {
            "attempted": count,
            "forked": len(children),
            "rc": bomb["rc"],
            "stderr": bomb["stderr"][-300:],
            "timed_out": bomb["timed_out"],
            "eagain": "can't fork" in bomb["stderr"] and os.strerror(errno.EAGAIN) in bomb["stderr"],
            "killed": len(cleanup["killed"]),
            "left_alive": cleanup["left"],
            "current_after_cleanup": _int_or_none(read("pids.current")),
        }
    )
    return seen


def judge_fork_bomb(seen, limit):
    """The limit held when the kernel said so: the fork failed with EAGAIN before the bomb was
    done, the pids controller counted the refusal (pids.events max), its high-water mark reached
    the limit (pids.peak, where the kernel has it) and the count never went above it."""
    before, after = seen.get("events_max_before"), seen.get("events_max_after")
    peak = seen.get("peak")
    current = seen.get("current_with_children")
    return bool(
        seen["eagain"]
        and seen["rc"] != 0
        and seen["forked"] < seen["attempted"]
        and before is not None
        and after is not None
        and after > before
        and (peak is None or peak >= limit)
        and current is not None
        and current <= limit
    )


def check_pids_limit(state, limit=None):
    """`limit` defaults to the configured one; a test may pass a would-be limit for a container
    that has none, to show this check fails when nothing enforces it."""
    limit = limit or state["config"].get("pids")
    if not limit:
        return _check("NS-CTR-006", False, {}, skip_reason="no pids limit configured")
    seen = fork_bomb(state, limit * 2)
    seen["limit"] = limit
    return _check("NS-CTR-006", judge_fork_bomb(seen, limit), seen)


def oom_kills(spec):
    if spec["version"] == 1:
        text = cgroups.read_value(os.path.join(spec["path"], "memory.oom_control")) or ""
    else:
        text = cgroups.read_value(os.path.join(spec["path"], "memory.events")) or ""
    for line in text.splitlines():
        k, _unused, v = line.partition(" ")
        if k == "oom_kill":
            return int(v)
    return None


def check_memory_limit(state):
    limit = state["config"].get("memory")
    if not limit:
        return _check("NS-CTR-007", False, {}, skip_reason="no memory limit configured")
    spec = state["cgroups"]["paths"]["memory"]
    before = oom_kills(spec)
    mib = limit * 2 // (1024 * 1024) + 1
    hog = exec_room.exec_in(state, ["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=%dM" % mib, "count=1"])
    after = oom_kills(spec)
    alive = state_room.init_alive(state)
    ok = hog["rc"] == 128 + 9 and alive and before is not None and after is not None and after > before
    return _check(
        "NS-CTR-007",
        ok,
        {
            "limit": limit,
            "allocated_mib": mib,
            "rc": hog["rc"],
            "oom_kill_before": before,
            "oom_kill_after": after,
            "init_alive": alive,
        },
    )


def check_orphan(state, patience=5.0):
    """An orphan inside (its parent shell exits at once) is re-parented to init (PPid 1 inside) and,
    once it dies, reaped by init. The orphan lives until this check kills it from the host (through
    NSpid), so reading its parent never races its end however slow the host is, and no fixed sleep
    waits for it to end by itself; a zombie keeps its /proc entry, so gone means init reaped it."""
    spawn = _sh(state, "sleep %d >/dev/null 2>&1 & echo $!" % BOMB_SLEEP)
    orphan = int(spawn["stdout"].strip() or 0)
    parent = exec_room.exec_in(state, ["/bin/cat", "/proc/%d/stat" % orphan])
    ppid = procfs.parse_stat(parent["stdout"])["ppid"] if parent["rc"] == 0 else None
    # PID 1 reaps; in a pod's shared PID namespace an exec's orphan goes to the pod's PID 1 (the first
    # container's init, as in a Kubernetes pod), the workload's to the member's init (their subreaper)
    reapers = {1, inspect.read_nspid(state["init_pid"])[-1]}
    cleanup = kill_inside(state, [orphan], patience) if orphan > 1 else {"killed": [], "left": []}
    later = exec_room.exec_in(state, ["/bin/cat", "/proc/%d/stat" % orphan])
    gone = later["rc"] != 0 and not cleanup["left"]
    ok = orphan > 1 and ppid in reapers and cleanup["killed"] == [orphan] and gone
    return _check(
        "NS-CTR-008",
        ok,
        {
            "orphan_pid_inside": orphan,
            "ppid_while_running": ppid,
            "reapers_inside": sorted(reapers),
            "killed_from_host": cleanup["killed"] == [orphan],
            "gone_after_exit": gone,
            "later_stat": later["stdout"][:200],
        },
    )


def escape_attempt(marker, workdir="/dev/shm/nsv-escape"):
    """The classic chroot escape: chroot into a subdirectory while keeping the cwd outside it,
    climb with chdir(".."), chroot("."). Returns what the process sees afterwards."""
    os.chdir("/")
    os.makedirs(workdir, exist_ok=True)
    os.chroot(workdir)
    for _unused in range(64):
        os.chdir("..")
    os.chroot(".")
    st = os.stat("/")
    return {
        "marker_visible": os.path.exists(marker),
        "root": [st.st_dev, st.st_ino],
        "listing": sorted(os.listdir("/"))[:40],
    }


def escape_inside(state, marker):
    keep = state["config"]["capabilities"]
    init.drop_privileges(keep)
    return escape_attempt(marker)


def escape_plain_chroot(scratch, marker):
    os.chroot(scratch)
    return escape_attempt(marker, "/inner")


def check_chroot_escape(state):
    marker = os.path.join(state["paths"]["run"], "host-marker")
    scratch = os.path.join(state["paths"]["run"], "escape-scratch")
    with open(marker, "w") as fh:
        fh.write("only on the host\n")
    host_root = os.stat("/")
    # the user namespace (if any) is left out: probe joins it first, and the container's other
    # namespaces belong to the host's user namespace; the attempt keeps the workload's caps
    join = {t: procfs.ns_path(state["init_pid"], t) for t in state["namespaces"] if t != "user"}
    try:
        inside = probe.run(escape_inside, args=(state, marker), join=join, timeout=20)
        # control: the same attempt from a plain chroot must escape, or this check could
        # not tell a broken container from a working one
        os.makedirs(os.path.join(scratch, "inner"), exist_ok=True)
        control = probe.run(escape_plain_chroot, args=(scratch, marker), unshare=catalog.CLONE_NEWNS, timeout=20)
    finally:
        os.unlink(marker)
        state_room.remove_tree(scratch)
    v = inside.get("value") or {}
    c = control.get("value") or {}
    ok = (
        inside["ok"]
        and not v.get("marker_visible")
        and v.get("root") != [host_root.st_dev, host_root.st_ino]
        and control["ok"]
        and bool(c.get("marker_visible"))
    )
    return _check(
        "NS-CTR-009",
        ok,
        {"inside": inside, "plain_chroot_control": control, "host_root": [host_root.st_dev, host_root.st_ino]},
    )


STATUS_FIELDS = ("CapBnd", "CapEff", "CapPrm", "NoNewPrivs", "Seccomp", "Seccomp_filters")


def _status_fields(text):
    """The capability lines of /proc/<pid>/status text that check_caps reads."""
    return {
        k: " ".join(procfs.parse_status_field(text, k) or [])
        for k in STATUS_FIELDS
        if procfs.parse_status_field(text, k)
    }


def check_caps(state):
    keep = config_room.cap_numbers(state["config"]["capabilities"])
    want = 0
    for c in keep:
        want |= 1 << c
    res = exec_room.exec_in(state, ["/bin/cat", "/proc/self/status"])
    st = _status_fields(res["stdout"])
    # the workload itself: init's child, read from the host
    try:
        with open("/proc/%d/task/%d/children" % (state["init_pid"], state["init_pid"])) as fh:
            kids = [int(x) for x in fh.read().split()]
        with open("/proc/%d/status" % kids[0]) as fh:
            wl = _status_fields(fh.read())
    except (OSError, IndexError, ValueError):
        wl = {}
    sys_admin = 1 << config_room.CAPABILITIES.index("SYS_ADMIN")
    # the seccomp profile in force: Seccomp 2 (filter) for the default profile, 0 when unconfined was asked for
    profile = seccomp.profile_of(state["config"])
    want_seccomp = str(seccomp.expected_mode(profile))

    def good(s):
        try:
            bnd = int(s["CapBnd"], 16)
            eff = int(s["CapEff"], 16)
        except (KeyError, ValueError):
            return False
        caps_ok = bnd & ~want == 0 and eff & ~want == 0 and not bnd & sys_admin
        return caps_ok and s.get("NoNewPrivs") == "1" and s.get("Seccomp") == want_seccomp

    ok = res["rc"] == 0 and good(st) and good(wl)
    pick = STATUS_FIELDS
    return _check(
        "NS-CTR-010",
        ok,
        {
            "expected_mask": "%016x" % want,
            "seccomp_profile": profile,
            "expected_seccomp": want_seccomp,
            "exec": {k: st.get(k) for k in pick},
            "workload": {k: wl.get(k) for k in pick},
        },
    )


def check_namespaces(state):
    now = inspect.read_ns_inodes(state["init_pid"], types=list(state["namespaces"]))
    host = inspect.read_ns_inodes("self", types=list(state["namespaces"]))
    per_type = {
        t: {
            "container": now[t],
            "host": host[t],
            "isolated": now[t] is not None and host[t] is not None and now[t] != host[t],
        }
        for t in now
    }
    for t in per_type:  # a pod member's joined types: shared with the pod peer, never with the host
        shared = pod.sharing(state, t)
        if shared:
            per_type[t].update(pod_peer=shared["pod_peer"], peer=shared["peer_inode"], verdict=shared["verdict"])
            per_type[t]["isolated"] = per_type[t]["isolated"] and shared["ok"]
    ok = all(v["isolated"] for v in per_type.values()) and now == state["namespaces"]
    return _check("NS-CTR-011", ok, per_type)


CHECKS = (
    ("NS-CTR-001", check_pid),
    ("NS-CTR-002", check_uts),
    ("NS-CTR-003", check_net),
    ("NS-CTR-004", check_mnt),
    ("NS-CTR-005", check_sys_readonly),
    ("NS-CTR-006", check_pids_limit),
    ("NS-CTR-007", check_memory_limit),
    ("NS-CTR-008", check_orphan),
    ("NS-CTR-009", check_chroot_escape),
    ("NS-CTR-010", check_caps),
    ("NS-CTR-011", check_namespaces),
)
CHECK_IDS = tuple(c for c, _unused in CHECKS)


def run(state, ids=None):
    """Run the selected checks (default all) against a running container's state."""
    if not state_room.init_alive(state):
        raise ContainerError("container %s is not running" % (state or {}).get("name"))
    out = []
    # one exec session for every command of every check: one cgroup migration, not one per command
    with exec_room.session(state):
        for cid, fn in CHECKS:
            if ids and cid not in ids:
                continue
            try:
                out.append(fn(state))
            except (OSError, ValueError, KeyError, ContainerError) as exc:
                out.append(_check(cid, False, {"error": "%s: %s" % (type(exc).__name__, exc)}))
    return out


def summarize(checks):
    s = {"passed": [], "failed": [], "skipped": []}
    for c in checks:
        s[{"pass": "passed", "fail": "failed", "skip": "skipped"}[c["status"]]].append(c["id"])
    return s

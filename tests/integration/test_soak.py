"""Soak (issue 10): cycles of container start/verify/stop, of named namespace create/verify/remove, and proof
runs (namespace_verify target=pid) against a running container's init, with a host snapshot identical before
and after: mounts, links, netns, /run/nsverify, /var/lib/nsverify, nsv cgroups, nsv processes, zombies,
keyrings (/proc/keys), SysV IPC (/proc/sysvipc/*) and the target's filesystem (the container's upper layer).

NSV_SOAK_CYCLES cycles each (10 here in the suite; `make soak` runs 100). With NSV_CONCURRENT_DEV=1 (other
people's containers and namespaces on the same host) the snapshot keeps only what carries this run's tag,
and keyrings and SysV IPC, which carry no name, are left out."""

import os
import time
from pathlib import Path

import busybox_container
import busybox_container_verify
import namespace as namespace_module
import namespace_verify
import pytest
from conftest import run_module_main

from ansible.module_utils.nsverify import container, procfs, rootfs

CYCLES = int(os.environ.get("NSV_SOAK_CYCLES", "10"))
TAG = "soak%d" % (os.getpid() % 100000)
CONCURRENT = bool(os.environ.get("NSV_CONCURRENT_DEV"))
MY_COMM = Path("/proc/self/comm").read_text().strip()

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers and named namespaces need root")


def tree(top):
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        out += [os.path.join(dirpath, n) for n in sorted(dirnames + filenames)]
    return sorted(out)


def target_fs(upper, lower):
    """The container's filesystem as it sees it, where it differs from its image: every path of the upper
    layer that is new or whose type, mode or owner differs from the lower one's (a directory the overlay only
    copied up, unchanged, is not a change of the container's files)."""
    out = []
    for path in tree(upper):
        rel = os.path.relpath(path, upper)
        st = os.lstat(path)
        try:
            lo = os.lstat(os.path.join(lower, rel))
        except OSError:
            out.append("new " + rel)
            continue
        if (st.st_mode, st.st_uid, st.st_gid) != (lo.st_mode, lo.st_uid, lo.st_gid) or not os.path.isdir(path):
            out.append("changed " + rel)
    return sorted(out)


def read_lines(path):
    try:
        return sorted(
            Path(path).read_text().splitlines()[1:] if "sysvipc" in path else Path(path).read_text().splitlines()
        )
    except OSError:
        return []


def processes():
    """(pid, comm, state, cgroup) of the nsv processes and of every zombie."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            st = procfs.read_stat(int(pid))
            st["comm"] = Path("/proc/%s/comm" % pid).read_text().strip()
            cg = Path("/proc/%s/cgroup" % pid).read_text()
        except (OSError, ValueError, IndexError):
            continue
        if st["state"] == "Z" and (st["ppid"] == os.getpid() or st["comm"] == MY_COMM):
            continue  # a fork of this test not reaped yet (probe.spawn's, subprocess'): reaped, not leaked
        if st["comm"].startswith("nsv") or st["state"] == "Z" or "nsv-" in cg:
            out.append("%s %s %s %s" % (pid, st["comm"], st["state"], " ".join(sorted(cg.split()))))
    return sorted(out)


def snapshot(upper=None, lower=None):
    snap = {
        "mounts": sorted("%s %s" % (m["mount_point"], m["fstype"]) for m in procfs.read_mountinfo()),
        "links": sorted(os.listdir("/sys/class/net")),
        "netns": sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else [],
        "run": tree("/run/nsverify"),
        "lib": [  # the image, and the running target's upper layer ("target" below), left out
            p
            for p in tree("/var/lib/nsverify")
            if not p.startswith("/var/lib/nsverify/rootfs") and not (upper and p.startswith(upper + os.sep))
        ],
        "cgroups": sorted(
            os.path.join(dp, d) for top in ("/sys/fs/cgroup",) for dp, dns, _ in os.walk(top) for d in dns if "nsv" in d
        ),
        "processes": processes(),
        "keys": read_lines("/proc/keys"),
        "ipc": [line for f in ("msg", "sem", "shm") for line in read_lines("/proc/sysvipc/%s" % f)],
        "target": target_fs(upper, lower) if upper else [],
    }
    if CONCURRENT:
        snap = {k: [e for e in v if TAG in e] for k, v in snap.items() if k not in ("keys", "ipc")}
        snap["target"] = target_fs(upper, lower) if upper else []
    return snap


def reaped(entry):
    """A process entry that was already a zombie: its going is the host's init catching up on an earlier
    test's orphan, not something this test did."""
    return entry.split(" ", 3)[2:3] == ["Z"]


def diff(before, after):
    out = {}
    for k in before:
        gone = sorted(e for e in set(before[k]) - set(after[k]) if not (k == "processes" and reaped(e)))
        new = sorted(set(after[k]) - set(before[k]))
        if gone or new:
            out[k] = {"gone": gone, "new": new}
    return out


def settled(before, upper=None, lower=None, patience=10.0):
    """diff(before, now), after up to `patience` s for orphaned inits to be reaped by the host's init (it reaps
    late: a stopped container's init is its child, not ours) -- a zombie that stays is a leak."""
    deadline = time.monotonic() + patience
    while True:
        changes = diff(before, snapshot(upper, lower))
        if not changes or time.monotonic() > deadline:
            return changes
        time.sleep(0.2)


@pytest.fixture(scope="module")
def rootfs_path():
    return rootfs.build()["path"]


def test_container_cycles_leave_the_host_as_found(rootfs_path):
    name = "%s-c" % TAG
    args = {"name": name, "rootfs": rootfs_path, "veth": True, "pids": 64, "memory": "64M", "cpus": 0.5}
    before = snapshot()
    try:
        for i in range(CYCLES):
            res = run_module_main(busybox_container, args)
            assert res["changed"] and not res.get("failed"), (i, res)
            ver = run_module_main(busybox_container_verify, {"name": name})
            assert not ver.get("failed"), (i, ver)
            res = run_module_main(busybox_container, {"name": name, "state": "stopped"})
            assert res["changed"] and not res.get("failed"), (i, res)
        assert run_module_main(busybox_container, {"name": name, "state": "absent"})["changed"]
    finally:
        container.remove(name)
    assert settled(before) == {}


def test_named_namespace_cycles_leave_the_host_as_found():
    name = "%s-n" % TAG
    args = {"name": name, "types": ["uts", "ipc", "net", "pid", "mnt"], "hostname": "nsvsoak"}
    before = snapshot()
    try:
        for i in range(CYCLES):
            res = run_module_main(namespace_module, args)
            assert res["changed"] and not res.get("failed"), (i, res)
            ver = run_module_main(namespace_verify, {"target": "named", "name": name, "types": args["types"]})
            assert not ver.get("failed"), (i, ver)
            res = run_module_main(namespace_module, {"name": name, "state": "absent"})
            assert res["changed"] and not res.get("failed"), (i, res)
    finally:
        run_module_main(namespace_module, {"name": name, "state": "absent"})
    assert settled(before) == {}


def test_proof_runs_against_a_container_leave_it_and_the_host_as_found(rootfs_path):
    name = "%s-p" % TAG
    res = run_module_main(busybox_container, {"name": name, "rootfs": rootfs_path, "veth": True})
    assert not res.get("failed"), res
    upper = res["container"]["overlay"]["upper"]
    proof = {  # as the busybox_container role's proofs: the types it has its own of, its veth expected
        "target": "pid",
        "pid": res["container"]["init_pid"],
        "types": list(res["container"]["namespaces"]),
        "expected_interfaces": [res["container"]["veth"]["container"]],
    }
    try:
        before = snapshot(upper, rootfs_path)
        for i in range(CYCLES):
            ver = run_module_main(namespace_verify, proof)
            assert not ver.get("failed"), (i, ver)
        after = settled(before, upper, rootfs_path)
    finally:
        container.remove(name)
    assert after == {}

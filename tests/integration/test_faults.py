"""The fault suite (issue 10): the module process is killed with SIGKILL at named stages (NSV_FAULT_STAGE,
module_utils/nsverify/faults.py) and after chosen delays, for busybox_container and for namespace; after
each kill a rerun converges, and state=absent leaves nothing of that container or namespace on the host
(cgroups, links, run and data dirs, mounts, processes). The playbook too: ansible-playbook of
playbooks/container.yml, its whole process group SIGKILLed after chosen delays or while the busybox_container
module runs; a rerun converges and playbooks/teardown.yml (for that name) leaves the host as found."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import busybox_container
import namespace as namespace_module
import pytest
from conftest import run_module_main

from ansible.module_utils.nsverify import container, faults, procfs

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = "%d" % (os.getpid() % 100000)
NS_TYPES = ["uts", "ipc", "net", "pid"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers and named namespaces need root")

RUNNER = r"""
import contextlib, io, json, sys
import ansible.module_utils
ansible.module_utils.__path__.append(sys.argv[1] + "/module_utils")
sys.path.insert(0, sys.argv[1] + "/library")
from ansible.module_utils.testing import patch_module_args
module = __import__(sys.argv[2])
with patch_module_args(json.loads(sys.argv[3])):
    module.main()
"""

CONTAINER_STAGES = [s for s in faults.STAGES if s.startswith("container:") and s != "container:stopping"]
NS_STAGES = [s for s in faults.STAGES if s.startswith("namespace:")]
DELAYS = [0.0, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8, 1.2]


def killed_run(module, args, stage=None, delay=None):
    """Run `module` in a python of its own; SIGKILLed at `stage` (by itself) or after `delay` seconds."""
    env = dict(os.environ)
    if stage:
        env[faults.ENV] = stage
    argv = [sys.executable, "-c", RUNNER, str(ROOT), module, json.dumps(args)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if delay is not None:
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    rc = proc.wait(timeout=120)
    if stage:
        assert rc == -signal.SIGKILL, "stage %s was not reached (rc %s)" % (stage, rc)


def processes_of(cgroup_name):
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                text = Path("/proc/%s/cgroup" % pid).read_text()
            except OSError:
                continue
            if "/%s\n" % cgroup_name in text or "/%s/" % cgroup_name in text:
                out.append(pid)
    return out


def container_traces(name):
    traces = container.leftovers(name)
    links = [n for n in container.veth_names(name) if container.link_exists(n)]
    if links:
        traces["links"] = links
    procs = processes_of("nsv-%s" % name)
    if procs:
        traces["processes"] = procs
    return traces


def namespace_traces(name):
    base = "/run/nsverify/ns/%s" % name
    traces = {}
    mounts = [m["mount_point"] for m in procfs.read_mountinfo() if m["mount_point"].startswith(base)]
    if mounts:
        traces["mounts"] = mounts
    if os.path.lexists(base):
        traces["dir"] = base
    return traces


POINTS = [("stage", s) for s in CONTAINER_STAGES + ["container:stopping"]] + [("delay", d) for d in DELAYS]


@pytest.mark.parametrize("kind,point", POINTS, ids=["%s-%s" % p for p in POINTS])
def test_container_killed_then_rerun_converges_and_teardown_is_clean(rootfs_path, kind, point):
    name = "flt%s-%s" % (SUFFIX, str(POINTS.index((kind, point))))
    args = {"name": name, "rootfs": rootfs_path, "veth": True, "pids": 64, "memory": "64M"}
    try:
        if point == "container:stopping":
            assert run_module_main(busybox_container, args)["changed"]
            killed_run("busybox_container", dict(args, state="absent"), stage=point)
        else:
            killed_run("busybox_container", args, **{kind: point})
        again = run_module_main(busybox_container, args)
        assert not again.get("failed") and again["state"] == "running", again
        assert not run_module_main(busybox_container, args)["changed"]
        gone = run_module_main(busybox_container, {"name": name, "state": "absent"})
        assert not gone.get("failed"), gone
        assert container_traces(name) == {}
    finally:
        container.remove(name)


NS_POINTS = [("stage", s) for s in NS_STAGES] + [("delay", d) for d in DELAYS]


@pytest.mark.parametrize("kind,point", NS_POINTS, ids=["%s-%s" % p for p in NS_POINTS])
def test_namespace_killed_then_rerun_converges_and_teardown_is_clean(kind, point):
    name = "nsvflt%s-%d" % (SUFFIX, NS_POINTS.index((kind, point)))
    args = {"name": name, "types": NS_TYPES, "hostname": "nsvfault"}
    try:
        killed_run("namespace", args, **{kind: point})
        again = run_module_main(namespace_module, args)
        assert not again.get("failed"), again
        assert not run_module_main(namespace_module, args)["changed"]
        gone = run_module_main(namespace_module, {"name": name, "state": "absent"})
        assert not gone.get("failed"), gone
        assert namespace_traces(name) == {}
    finally:
        run_module_main(namespace_module, {"name": name, "state": "absent"})


# ---------------------------------------------------------------- the playbook

# Fixed delays only while the play surely still runs (a warm container.yml takes ~4.5 s on a quiet 2-core
# host); the later points are anchored on the module itself: busybox_container appearing (the start), and
# busybox_container running while the container is already up (its checks and proofs run in the same call).
PLAYBOOK_POINTS = [("delay", d) for d in (0.5, 1.0, 2.0, 3.0)] + [("module", d) for d in (0.0, 0.2, 0.5)]
PLAYBOOK_POINTS += [("verify", 0.0)]
MODULE_OF_KIND = {"module": "busybox_container", "verify": "busybox_container"}


def ansible_env(tmp):
    """Ansible's writes (home, local and remote temp: a killed module leaves its AnsiballZ dir) under `tmp`."""
    return dict(
        os.environ,
        ANSIBLE_HOME=str(tmp / "home"),
        ANSIBLE_LOCAL_TEMP=str(tmp / "local"),
        ANSIBLE_REMOTE_TMP=str(tmp / "remote"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
    )


def playbook_argv(name, playbook="container.yml", *extra):
    exe = ROOT / ".venv" / "bin" / "ansible-playbook"
    argv = [str(exe) if exe.exists() else "ansible-playbook", str(ROOT / "playbooks" / playbook)]
    return argv + ["-e", "busybox_container_name=%s" % name] + list(extra)


def stat_of(pid):
    """(ppid, starttime, state) of `pid`, None when it is gone."""
    try:
        fields = Path("/proc/%s/stat" % pid).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[19]), fields[0]


def alive(pid, started):
    st = stat_of(pid)
    return bool(st) and st[1] == started and st[2] not in ("Z", "X")


def descendants(root):
    """{pid: starttime} of `root` and every process below it (by parent links)."""
    parents = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        st = stat_of(pid)
        if st:
            parents[int(pid)] = st
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in parents and pid not in out:
            out[pid] = parents[pid][1]
            todo += [p for p, st in parents.items() if st[0] == pid]
    return out


def module_running(root, module="busybox_container"):
    wanted = ("AnsiballZ_%s.py" % module).encode()
    for pid in descendants(root):
        try:
            if wanted in Path("/proc/%d/cmdline" % pid).read_bytes():
                return True
        except OSError:
            continue
    return False


def signal_if_same(pid, started, sig):
    """Signal `pid` only while it is the process first seen (same start time: no reused PID is hit)."""
    if (stat_of(pid) or (0, None))[1] == started:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_tree(root):
    """SIGKILL the playbook and everything it started that is still below it. Its process group is not enough:
    Ansible's workers setsid() (each leads a session of its own), so a kill of the group leaves them and the
    module's python running. Each process is stopped first (a stopped process forks no more and its children
    stay its own), the tree walked again until it holds nothing new, then all are killed at once. The
    container's init, once its start detached it (probe.spawn: setsid, double fork), is no longer below."""
    seen = {}
    while True:
        new = {p: t for p, t in descendants(root).items() if p not in seen}
        if not new:
            break
        for pid in new:
            signal_if_same(pid, new[pid], signal.SIGSTOP)
        seen.update(new)
    for pid, started in seen.items():
        signal_if_same(pid, started, signal.SIGKILL)
    return seen


def killed_playbook(argv, env, kind, point, timeout=300, name=None):
    """Start the playbook; SIGKILL its whole tree `point` s after its start (delay), after the
    busybox_container module appeared in it (module) or, in that module, once container `name` runs
    (verify: the checks are running). True when it was killed before it finished."""
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + timeout
    if kind in MODULE_OF_KIND:
        module = MODULE_OF_KIND[kind]
        while not module_running(proc.pid, module) or (kind == "verify" and not container.status(name)["running"]):
            assert proc.poll() is None, "the playbook ended before %s ran (rc %s)" % (module, proc.returncode)
            assert time.monotonic() < deadline, "%s never ran" % module
            time.sleep(0.005)
    time.sleep(point)
    finished = proc.poll() is not None
    killed = kill_tree(proc.pid) if not finished else {}
    proc.wait(timeout=60)
    left = []
    for _ in range(200):  # SIGKILL is delivered at once; the dying take a moment to exit
        left = [p for p, t in killed.items() if alive(p, t)]
        if not left:
            break
        time.sleep(0.05)
    assert not left, "processes of the killed playbook survived: %s" % left
    return not finished


def recap(stdout):
    found = re.findall(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", stdout)
    return [int(x) for x in found[-1]] if found else None


@pytest.mark.parametrize("kind,point", PLAYBOOK_POINTS, ids=["%s-%s" % p for p in PLAYBOOK_POINTS])
def test_playbook_killed_then_rerun_converges_and_teardown_is_clean(rootfs_path, tmp_path, kind, point):
    name = "nsvsx%s-pb%d" % (SUFFIX, PLAYBOOK_POINTS.index((kind, point)))
    env = ansible_env(tmp_path)
    argv = playbook_argv(name)
    try:
        assert container_traces(name) == {}
        assert killed_playbook(argv, env, kind, point, name=name), "the playbook finished before the kill"
        again = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stdout[-3000:]
        assert recap(again.stdout)[3] == 0
        assert container.status(name)["running"]
        down = subprocess.run(
            playbook_argv(name, "teardown.yml", "-e", json.dumps({"nsverify_teardown_names": [name]})),
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert down.returncode == 0, down.stdout[-3000:]
        assert container_traces(name) == {}
    finally:
        container.remove(name)


BATCH_POINTS = [("stage", "namespace:mounted")] + [("delay", d) for d in (0.2, 0.4, 0.6, 0.8, 1.2)]


@pytest.mark.parametrize("kind,point", BATCH_POINTS, ids=["%s-%s" % p for p in BATCH_POINTS])
def test_names_batch_killed_then_rerun_converges_and_absent_is_clean(kind, point):
    # namespace:mounted: the first name's bind mounts are made by the batch creator, its state file not yet
    # written; the creator (PR_SET_PDEATHSIG) dies with the module, whatever name it was making.
    names = ["nsvnbflt%s-%d-%02d" % (SUFFIX, BATCH_POINTS.index((kind, point)), i) for i in range(20)]
    args = {"names": names, "types": ["net", "uts"], "hostname": "nsvfault"}
    try:
        killed_run("namespace", args, **{kind: point})
        again = run_module_main(namespace_module, args)
        assert not again.get("failed"), again
        inodes = [e["namespaces"]["net"]["inode"] for e in again["named"]]
        assert len(set(inodes)) == 20 and all(inodes)
        assert not run_module_main(namespace_module, args)["changed"]
        gone = run_module_main(namespace_module, {"names": names, "state": "absent"})
        assert not gone.get("failed"), gone
        assert [n for n in names if namespace_traces(n + "/")] == []
    finally:
        run_module_main(namespace_module, {"names": names, "state": "absent"})

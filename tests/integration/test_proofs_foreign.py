"""namespace_verify against foreign workloads (issue 9): per-type results name the real reason.

Every process a test starts is killed by PID by that test."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
from test_namespace_inspect import busybox_rootfs

from ansible.module_utils.nsverify import proofs
from ansible.module_utils.nsverify.proofs import base

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to join foreign namespaces")


def _descendant(pid, depth):
    """The process `depth` levels of first children below pid (unshare --fork, bwrap's init)."""
    for _ in range(400):
        cur, ok = pid, True
        for _ in range(depth):
            try:
                with open("/proc/%d/task/%d/children" % (cur, cur)) as fh:
                    kids = fh.read().split()
            except OSError:
                kids = []
            if not kids:
                ok = False
                break
            cur = int(kids[0])
        if ok:
            return cur
        time.sleep(0.01)
    raise AssertionError("no child of %d appeared" % pid)


@pytest.fixture
def started():
    """Start argv; return the process `depth` first-children below it. Teardown kills by PID the
    whole chain it found, deepest first (unshare --fork and bwrap leave their child running when
    only they are killed), then the started process."""
    procs, chains = [], []

    def start(argv, depth):
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        chain = [proc.pid]
        for _ in range(depth):
            chain.append(_descendant(chain[-1], 1))
        chains.append(chain)
        return chain[-1]

    yield start
    for chain in chains:
        for pid in reversed(chain[1:]):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    for proc in procs:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _run(types, pid):
    out = proofs.run(types, base.make_target("pid", pid=pid, types=types))
    return out, out["results"]


def test_root_mapped_user_namespace_is_a_named_finding(started):
    pid = started(["unshare", "--user", "--map-root-user", "sleep", "300"], 0)
    out, res = _run(["user"], pid)
    user = res["user"]
    assert user["status"] == "failed", json.dumps(user, indent=1)
    assert "own user namespace, but uid 0 inside is uid 0 on the host" in user["reason"]
    assert user["findings"][0]["id"] == "root-mapped-to-host-root" and user["findings"][0]["severity"] == "high"
    assert user["sharing"]["status"] == "own"
    assert all(c["tests"] == "target" for c in user["checks"])


def test_bwrap_unshare_all_as_root(started):
    pid = started(
        ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "sleep", "300"], 1
    )
    types = ["uts", "ipc", "pid", "net", "user"]
    out, res = _run(types, pid)
    for t in ("uts", "ipc", "pid", "net"):
        assert res[t]["status"] == "passed", json.dumps(out["table"], indent=1)
        assert res[t]["sharing"]["status"] == "own"
    assert "uid 0 inside is uid 0 on the host" in res["user"]["reason"]
    assert [c["tests"] for c in res["net"]["checks"]] == ["target", "target", "kernel"]


def test_own_time_namespace_with_a_zero_boottime_offset_is_not_a_failure(started):
    pid = started(["unshare", "--fork", "--time", "--monotonic", "1000", "sleep", "300"], 1)
    out, res = _run(["time"], pid)
    t = res["time"]
    assert t["status"] == "passed", json.dumps(t, indent=1)
    assert [c["status"] for c in t["checks"]] == ["pass", "skip"]
    assert "own time namespace, boottime offset is zero" in t["checks"][1]["reason"]


def test_own_time_namespace_with_zero_offsets_is_skipped_with_that_reason(started):
    pid = started(["unshare", "--fork", "--time", "sleep", "300"], 1)
    out, res = _run(["time"], pid)
    assert res["time"]["status"] == "skipped" and "offsets are zero" in res["time"]["reason"], res["time"]


@pytest.mark.parametrize("type_name", ["mnt", "net"])
def test_target_sharing_the_hosts_namespace_never_passes(started, type_name):
    pid = started(["unshare", "--uts", "sleep", "300"], 0)  # own uts only: mnt and net are the host's
    out, res = _run([type_name], pid)
    r = res[type_name]
    assert r["status"] == "failed" and r["reason"].startswith("shares the "), json.dumps(r, indent=1)
    assert "%s namespace (inode %d)" % (type_name, r["sharing"]["inode"]) in r["reason"]
    kernel = [c["id"] for c in r["checks"] if c["tests"] == "kernel"]
    assert kernel == (
        ["NS-MNT-002", "NS-MNT-003", "NS-MNT-004", "NS-MNT-005"] if type_name == "mnt" else ["NS-NET-003"]
    )
    row = [x for x in out["table"] if x["type"] == type_name][0]
    assert "propagation ok" not in row["evidence"]
    assert out["reference"]["inodes"][type_name] == r["sharing"]["reference_inode"]


def test_process_of_the_projects_own_kind_of_sandbox_all_own(started):
    """unshare with every type but user and cgroup: each owned type passes, the shared ones fail by name."""
    pid = started(
        ["unshare", "--uts", "--ipc", "--net", "--mount", "--pid", "--fork", "--mount-proc", "sleep", "300"], 1
    )
    out, res = _run(["uts", "ipc", "net", "mnt", "pid", "user", "cgroup"], pid)
    for t in ("uts", "ipc", "net", "mnt", "pid"):
        assert res[t]["status"] == "passed", json.dumps(out["table"], indent=1)
    for t in ("user", "cgroup"):
        assert res[t]["status"] == "failed" and res[t]["reason"].startswith("shares the "), res[t]["reason"]


def _busybox_bundle(where):
    """An OCI bundle around a static BusyBox rootfs (test_namespace_inspect's builder, as its crun test uses)."""
    busybox_rootfs(where)
    config = {
        "ociVersion": "1.0.0",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["sleep", "300"], "cwd": "/",
                    "env": ["PATH=/bin"]},
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "nsv-h11-crun",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": t} for t in ("mount", "uts", "ipc", "pid", "network", "cgroup")]},
    }  # fmt: skip
    (where / "config.json").write_text(json.dumps(config))


def test_crun_container_own_types_pass_and_the_shared_user_namespace_fails_by_name(tmp_path):
    if not shutil.which("crun"):
        pytest.skip("crun is not installed (apt-get install crun)")
    _busybox_bundle(tmp_path)
    name = "nsv-h11-crun-%d" % os.getpid()
    # crun 1.8 refuses this hybrid cgroup host unless it runs without the cgroup2 mount (see test_namespace_inspect)
    run = "umount /sys/fs/cgroup/unified 2>/dev/null; exec crun run -d %s" % name
    pid = None
    try:
        with open(tmp_path / "crun.log", "w") as log:
            p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", run], cwd=tmp_path,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=60)  # fmt: skip
        assert p.returncode == 0, (tmp_path / "crun.log").read_text()
        state = json.loads(subprocess.run(["crun", "state", name], capture_output=True, text=True, check=True).stdout)
        pid = state["pid"]
        # mnt left out: its proof makes /tmp/nsv-mnt-* in the target's tree, and this rootfs is read-only
        # (EROFS: the mnt type fails with "proof error ... Read-only file system", a known limitation)
        types = ["uts", "ipc", "pid", "net", "user", "cgroup"]
        out = proofs.run(types, base.make_target("pid", pid=pid, types=types))
        res = out["results"]
        for t in ("uts", "ipc", "pid", "net", "cgroup"):
            assert res[t]["status"] == "passed" and res[t]["sharing"]["status"] == "own", json.dumps(out["table"])
        assert res["user"]["status"] == "failed"
        assert res["user"]["reason"] == "shares the host's user namespace (inode %d)" % res["user"]["sharing"]["inode"]
    finally:
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        subprocess.run(["crun", "delete", "-f", name], capture_output=True)

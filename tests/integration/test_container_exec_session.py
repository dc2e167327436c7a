"""The exec session (container/exec.py): one child that joined the container's cgroups and namespaces once
and forks every command of a `with exec_room.session(state):` block, for real.

Each command must run where a one-shot exec runs: in the container's cgroups (v1 memory payload, pids,
cpu, the unified one) and namespaces, in its own process group, so that `kill -9 0` inside cannot reach
the caller; the session survives such a command, a timeout and its own death (started again)."""

import os
import signal
from pathlib import Path

import busybox_container
import pytest
from conftest import container_name_fixture, run_module_main, run_worker

from ansible.module_utils.nsverify import cgroups, container
from ansible.module_utils.nsverify.container import checks
from ansible.module_utils.nsverify.container import exec as exec_room

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


name = container_name_fixture("nsvcs")


def start(name, rootfs_path, **extra):
    res = run_module_main(busybox_container, dict({"name": name, "rootfs": rootfs_path, "pids": 32}, **extra))
    assert not res.get("failed"), res.get("msg")
    return res["container"]


def _cgroup_dirs(st):
    """The directory of every hierarchy a command of the container ends in: init's, the payload's last."""
    cg = st["cgroups"]
    dirs = {}
    for d in cg["init_dirs"] + cg.get("payload_dirs", []):
        dirs[Path(d).relative_to("/sys/fs/cgroup").parts[0]] = d
    return dirs


def _where(host_pid):
    """{hierarchy: directory} of a host process, and its namespace links."""
    where = {}
    for line in Path("/proc/%d/cgroup" % host_pid).read_text().splitlines():
        _unused, controllers, path = line.split(":", 2)
        where[controllers or "unified"] = path
    ns = {t: os.readlink("/proc/%d/ns/%s" % (host_pid, t)) for t in ("mnt", "uts", "ipc", "net", "cgroup", "pid")}
    return where, ns


def _in_container(st, host_pid):
    """True when the host process sits in every cgroup.procs of the container and in its namespaces."""
    for d in _cgroup_dirs(st).values():
        if str(host_pid) not in Path(d, "cgroup.procs").read_text().split():
            return False
    _unused, ns = _where(host_pid)
    init_ns = {t: os.readlink("/proc/%d/ns/%s" % (st["init_pid"], t)) for t in ns}
    return ns == init_ns


def test_every_command_of_a_session_runs_in_the_container_s_cgroups_and_namespaces(name, rootfs_path):
    st = start(name, rootfs_path)
    with exec_room.session(st) as opened:
        seen = []
        for _unused in range(3):
            # a child left behind lives where the command ran (forked there); the host finds it through NSpid
            res = exec_room.exec_in(st, ["/bin/sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"])
            assert res["rc"] == 0, res
            inside = int(res["stdout"])
            host = {i: h for h, i in checks.host_pids_in_pidns(st["namespaces"]["pid"]).items()}
            assert inside in host, "the command's child is not in the container's PID namespace"
            seen.append((host[inside], opened.child.pid))
        try:
            assert len({session for _unused, session in seen}) == 1  # one session served the three
            for host_pid, _unused in seen:
                assert _in_container(st, host_pid), _where(host_pid)
            session_pid = seen[0][1]
            # the session itself is in the cgroups (so its children are born there) and not in the pid namespace
            assert all(
                str(session_pid) in Path(d, "cgroup.procs").read_text().split() for d in _cgroup_dirs(st).values()
            )
            assert os.readlink("/proc/%d/ns/pid" % session_pid) == os.readlink("/proc/self/ns/pid")
        finally:
            left = checks.host_pids_in_pidns(st["namespaces"]["pid"])
            checks.kill_inside(st, [left[host_pid] for host_pid, _unused in seen])
    assert opened.child is None  # closed with the block


def test_a_session_s_commands_have_the_workload_s_privileges_and_the_limit(name, rootfs_path):
    st = start(name, rootfs_path)
    with exec_room.session(st):
        (caps,) = checks.run(st, ["NS-CTR-010"])
        (pids,) = checks.run(st, ["NS-CTR-006"])
    assert caps["status"] == "pass", caps
    assert pids["status"] == "pass" and pids["evidence"]["current_with_children"] <= 32, pids


WORKER = r"""  # after conftest.WORKER_PREAMBLE (imports, `container`, `sibling`)
from ansible.module_utils.nsverify.container import exec as exec_room
st = container.status(sys.argv[3])["state"]
with exec_room.session(st) as opened:
    killer = exec_room.exec_in(st, ["/bin/sh", "-c", "kill -9 0; echo after"])
    session_after_kill = opened.child.pid
    alive = os.waitpid(sibling, os.WNOHANG) == (0, 0)
    later = exec_room.exec_in(st, ["/bin/echo", "still"])
    same_session = opened.child.pid == session_after_kill
os.kill(sibling, 9)
os.waitpid(sibling, 0)
print(json.dumps({"exec": killer, "later": later, "sibling_alive": alive, "same_session": same_session}))
"""


def test_kill_0_from_a_session_s_command_reaches_neither_the_caller_nor_the_session(name, rootfs_path, tmp_path):
    start(name, rootfs_path)
    out = run_worker(WORKER, tmp_path, name)  # its own session: never pytest's process group
    assert out["sibling_alive"] and out["same_session"]
    assert out["exec"]["rc"] == 137 and "after" not in out["exec"]["stdout"]  # it killed its own group
    assert out["later"]["rc"] == 0 and out["later"]["stdout"] == "still\n"


@pytest.mark.parametrize("in_session", [False, True], ids=["one-shot", "session"])
def test_a_command_over_its_timeout_is_killed_and_the_next_one_runs(name, rootfs_path, in_session):
    st = start(name, rootfs_path)
    before = set(checks.host_pids_in_pidns(st["namespaces"]["pid"]))  # init and the workload's
    with exec_room.session(st) if in_session else _nothing():
        slow = exec_room.exec_in(st, ["/bin/sh", "-c", "echo begun; exec sleep 600"], timeout=0.5)
        quick = exec_room.exec_in(st, ["/bin/echo", "next"])
    assert slow["timed_out"] and slow["rc"] == 128 + signal.SIGKILL and slow["stdout"] == "begun\n", slow
    assert quick["rc"] == 0 and quick["stdout"] == "next\n" and not quick["timed_out"]
    assert set(checks.host_pids_in_pidns(st["namespaces"]["pid"])) == before  # the sleep is gone


def test_a_command_that_closes_its_output_is_still_waited_for(name, rootfs_path):
    st = start(name, rootfs_path)
    res = exec_room.exec_in(st, ["/bin/sh", "-c", "exec >&- 2>&-; sleep 0.3; exit 7"])
    assert res["rc"] == 7 and not res["timed_out"], res


def test_a_session_that_died_is_started_again(name, rootfs_path):
    st = start(name, rootfs_path)
    with exec_room.session(st) as opened:
        assert exec_room.exec_in(st, ["/bin/true"])["rc"] == 0
        first = opened.child.pid
        os.kill(first, signal.SIGKILL)
        opened.child.wait()
        res = exec_room.exec_in(st, ["/bin/echo", "again"])
        assert res["rc"] == 0 and res["stdout"] == "again\n", res
        assert opened.child.pid != first


def test_joining_that_fails_gives_126_with_the_reason(name, rootfs_path, monkeypatch):
    st = start(name, rootfs_path)
    # a cgroup.procs fd that cannot be written: the session's write into it fails (EBADF)
    monkeypatch.setattr(cgroups, "open_procs_files", lambda cg, payload=False: [os.open(os.devnull, os.O_RDONLY)])
    for ctx in (_nothing(), exec_room.session(st)):
        with ctx:
            res = exec_room.exec_in(st, ["/bin/true"])
        assert res["rc"] == 126 and "joining the container failed" in res["stderr"], res
        assert "Bad file descriptor" in res["stderr"], res


def test_exec_into_a_container_that_stopped_during_a_session_is_refused(name, rootfs_path):
    st = start(name, rootfs_path)
    with exec_room.session(st):
        assert exec_room.exec_in(st, ["/bin/true"])["rc"] == 0
        run_module_main(busybox_container, {"name": name, "state": "stopped"})
        with pytest.raises(container.ContainerError, match="not running"):
            exec_room.exec_in(st, ["/bin/true"])


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *_unused):
        return False

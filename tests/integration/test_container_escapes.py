"""The four escapes of issue 10 from inside the default container (no user namespace), and rootfs=/, for real.

Each test does what the attacker did and asserts the host kept its own: limits, keys, processes, files. On the
code before the seccomp profile, exec's own session and safepath, every one of them fails. Everything a test
plants on the host (a key, a directory standing for a host directory) is its own and removed after.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import busybox_container
import busybox_container_exec
import pytest
from conftest import run_module_main

from ansible.module_utils.nsverify import container, rootfs

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = "%d" % (os.getpid() % 100000)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture(scope="module")
def rootfs_path():
    return rootfs.build()["path"]


_COUNTER = [0]


@pytest.fixture()
def name():
    _COUNTER[0] += 1
    n = "esc%s-%d" % (SUFFIX, _COUNTER[0])
    yield n
    container.remove(n)
    assert container.leftovers(n) == {}


def start(name, rootfs_path, **extra):
    res = run_module_main(busybox_container, dict({"name": name, "rootfs": rootfs_path}, **extra))
    assert not res.get("failed"), res.get("msg")
    return res["container"]


def sh(name, script, timeout=30):
    return run_module_main(busybox_container_exec, {"name": name, "cmd": script, "timeout": timeout})


# ---------------------------------------------------------------- escape 3: kill -9 0 from exec

WORKER = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import ansible.module_utils
ansible.module_utils.__path__.append(sys.argv[2])
from ansible.module_utils.nsverify import container
sibling = os.fork()  # another process of the worker's group, like Ansible's forks
if sibling == 0:
    time.sleep(60)
    os._exit(0)
res = container.exec_in(container.status(sys.argv[3])["state"], ["/bin/sh", "-c", "kill -9 0; echo after"])
alive = os.waitpid(sibling, os.WNOHANG) == (0, 0)
os.kill(sibling, 9)
os.waitpid(sibling, 0)
print(json.dumps({"exec": res, "sibling_alive": alive}))
"""


def test_kill_0_from_exec_reaches_only_the_exec_s_own_group(name, rootfs_path, tmp_path):
    start(name, rootfs_path)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    import ansible

    ansible_parent = str(Path(ansible.__file__).resolve().parents[1])
    # its own session: whatever the exec reaches, it is never pytest's process group
    proc = subprocess.run(
        [sys.executable, str(script), ansible_parent, str(ROOT / "module_utils"), name],
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )
    assert proc.returncode == 0, "the worker died (%d): %s" % (proc.returncode, proc.stderr[-2000:])
    out = json.loads(proc.stdout)
    assert out["sibling_alive"]
    assert out["exec"]["rc"] == 137  # the exec'd shell killed its own group, itself included


def test_exec_runs_in_its_own_session_inside(name, rootfs_path):
    state = start(name, rootfs_path)
    res = container.exec_in(state, ["/bin/sh", "-c", "cut -d' ' -f6 /proc/self/stat; echo $$"])
    sid, pid = res["stdout"].split()
    assert sid == pid  # the shell leads its own session (and so its own process group)


# ---------------------------------------------------------------- escape 4: a link planted in the upper layer


def test_link_to_a_host_directory_in_place_of_etc_is_not_written_through(name, rootfs_path, tmp_path):
    host_dir = tmp_path / "host-etc"
    host_dir.mkdir()
    (host_dir / "keep").write_text("host\n")
    start(name, rootfs_path)
    sh(name, "rm -rf /etc && ln -s %s /etc" % host_dir)
    run_module_main(busybox_container, {"name": name, "state": "stopped"})
    res = run_module_main(busybox_container, {"name": name, "rootfs": rootfs_path})
    assert sorted(os.listdir(host_dir)) == ["keep"] and (host_dir / "keep").read_text() == "host\n"
    if res.get("failed"):  # the link resolves inside the container, where that directory does not exist
        assert "cannot write etc/hostname inside" in res["msg"], res["msg"]


def test_link_to_a_host_file_in_place_of_etc_hostname_is_replaced(name, rootfs_path, tmp_path):
    host_file = tmp_path / "hostname"
    host_file.write_text("the-host\n")
    start(name, rootfs_path, hostname="esc-box")
    sh(name, "ln -sf %s /etc/hostname && ln -sf %s /etc/hosts" % (host_file, host_file))
    run_module_main(busybox_container, {"name": name, "state": "stopped"})
    start(name, rootfs_path, hostname="esc-box")
    assert host_file.read_text() == "the-host\n"
    assert sh(name, "test -L /etc/hostname || cat /etc/hostname")["stdout_lines"] == ["esc-box"]


# ---------------------------------------------------------------- the rootfs itself


@pytest.mark.parametrize("kind", ["slash", "link-to-slash"])
def test_rootfs_that_is_the_host_s_root_is_refused(name, tmp_path, kind):
    path = "/"
    if kind == "link-to-slash":
        (tmp_path / "root").symlink_to("/")
        path = str(tmp_path / "root")
    res = run_module_main(busybox_container, {"name": name, "rootfs": path})
    assert res.get("failed") and "host's /" in res["msg"], res["msg"]
    assert container.leftovers(name) == {}


def test_rootfs_outside_the_image_directory_is_refused(name, rootfs_path, tmp_path):
    (tmp_path / "elsewhere").symlink_to(rootfs_path)
    assert (
        run_module_main(busybox_container, {"name": name, "rootfs": str(tmp_path / "elsewhere")}).get("failed") is None
    )
    subprocess.run(["cp", "-a", rootfs_path, str(tmp_path / "copy")], check=True)
    res = run_module_main(busybox_container, {"name": name + "x", "rootfs": str(tmp_path / "copy")})
    try:
        assert res.get("failed") and "outside" in res["msg"] and "rootfs_base" in res["msg"], res["msg"]
    finally:
        container.remove(name + "x")

"""busybox_container_info through its entry point: every container or one by name, running / stopped /
absent, never changed (also in check mode), a bad name fails with what to do; ansible-doc renders.
The engine's container.status and container.list_names are replaced by a table of cases here: the
engine itself is tested in the container tests, and a real container goes through the module in
tests/integration/test_container_playbook.py (container.yml, report.yml and teardown.yml use it)."""

import os
import subprocess
from pathlib import Path

import busybox_container_info
import pytest
from conftest import run_module_main

from ansible.module_utils.nsverify import container

ROOT = Path(__file__).resolve().parents[2]

STATE = {"name": "box", "status": "running", "init_pid": 4242, "init_starttime": 99, "config": {"hostname": "b"}}
ENGINE = {
    "box": {"name": "box", "exists": True, "running": True, "state": STATE, "config": {"hostname": "b"}},
    "old": {"name": "old", "exists": True, "running": False, "state": dict(STATE, init_pid=7), "config": {"x": 1}},
    "gone": {"name": "gone", "exists": False, "running": False, "state": None, "config": None},
}


@pytest.fixture
def engine(monkeypatch):
    monkeypatch.setattr(container, "status", lambda name, *a, **k: dict(ENGINE[name]))
    monkeypatch.setattr(container, "list_names", lambda *a, **k: ["box", "old"])


@pytest.mark.parametrize("check", [False, True], ids=["real", "check-mode"])
def test_every_container_with_status_and_state(engine, check):
    res = run_module_main(busybox_container_info, {}, check=check)
    assert res["changed"] is False and res["names"] == ["box", "old"] and "container" not in res
    box, old = res["containers"]
    assert box["status"] == "running" and box["running"] is True and box["init_pid"] == 4242
    # a stopped container: its files are there, its recorded init is not (no stale pid is returned)
    assert old == {"name": "old", "status": "stopped", "running": False, "config": {"x": 1}}


@pytest.mark.parametrize(
    "name,status,names",
    [("box", "running", ["box"]), ("old", "stopped", ["old"]), ("gone", "absent", [])],
    ids=["running", "stopped", "absent"],
)
def test_one_container_by_name(engine, name, status, names):
    res = run_module_main(busybox_container_info, {"name": name})
    assert res["changed"] is False and res["container"]["status"] == status and res["names"] == names
    assert res["container"]["running"] is (status == "running")


@pytest.mark.parametrize("name", ["Box", "../etc", "x" * 40], ids=["upper-case", "path", "too-long"])
def test_bad_name_fails_with_what_to_do(engine, name):
    res = run_module_main(busybox_container_info, {"name": name})
    assert res["failed"] and "container name" in res["msg"] and "started with" in res["msg"]


def test_real_engine_reads_this_host():
    res = run_module_main(busybox_container_info, {"name": "nsv-h3-none"})
    assert res["container"] == {"name": "nsv-h3-none", "status": "absent", "running": False, "config": {}}
    assert res["names"] == []


def test_ansible_doc_renders():
    out = subprocess.run(
        ["ansible-doc", "-M", str(ROOT / "library"), "busybox_container_info"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
    )
    assert out.returncode == 0 and "RETURN VALUES" in out.stdout and "containers" in out.stdout, out.stderr

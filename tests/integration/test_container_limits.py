"""Cgroup limits enforced by the lifecycle (issue 10, escape 1): a rerun reads the limits back; one changed
from the host (as a workload in a child user namespace could) makes the rerun changed and writes it again."""

import json
import os

import busybox_container
import pytest
from conftest import run_module_main

from ansible.module_utils.nsverify import cgroups, container, rootfs

NAME = "lim%d" % (os.getpid() % 100000)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture()
def running():
    args = {"name": NAME, "rootfs": rootfs.build()["path"], "pids": 64, "memory": "64M", "cpus": 0.5}
    res = run_module_main(busybox_container, args)
    assert res["changed"] and not res.get("failed"), res
    yield args, res["container"]
    container.remove(NAME)
    assert container.leftovers(NAME) == {}


def limit_file(ctr, fname):
    return next(p for p in ctr["cgroups"]["limits"] if os.path.basename(p) == fname)


def test_tampered_limits_are_changed_and_restored(running):
    args, ctr = running
    pids_max = limit_file(ctr, "pids.max")
    assert not run_module_main(busybox_container, args)["changed"]
    with open(pids_max, "w") as fh:
        fh.write("100000")
    check = run_module_main(busybox_container, args, check=True)
    assert check["changed"] and cgroups.read_value(pids_max) == "100000"  # check mode writes nothing
    res = run_module_main(busybox_container, args)
    assert res["changed"] and not res.get("failed"), res
    assert res["restored_limits"] == {pids_max: {"want": "64", "now": "100000"}}
    assert "cgroup limits changed from outside" in json.dumps(res.get("warnings")), res
    assert cgroups.read_value(pids_max) == "64"
    assert res["container"]["init_pid"] == ctr["init_pid"]  # restored in place, not restarted
    assert not run_module_main(busybox_container, args)["changed"]


def test_every_limit_is_restored(running):
    args, ctr = running
    for path in ctr["cgroups"]["limits"]:
        fname = os.path.basename(path)
        value = {"pids.max": "max", "cpu.cfs_quota_us": "-1", "cpu.max": "max 100000"}.get(fname, str(1 << 30))
        try:
            with open(path, "w") as fh:
                fh.write(value)
        except OSError:
            pass  # e.g. memory.limit_in_bytes above memsw: the order the kernel wants
    res = run_module_main(busybox_container, args)
    assert res["changed"] and res["restored_limits"], res
    assert container.limits.drift(container.status(NAME)["state"]) == {}

"""Issue 10, the gaps after the first round, for real on this host. Every name carries the tag sx.

- The workload audit (namespace_inspect) reports the nsverify container's workload -- its seccomp mode and
  filter count, its capabilities -- not its unfiltered init."""

import os
from pathlib import Path

import busybox_container
import namespace_inspect
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
    n = "nsvsx%s-%d" % (SUFFIX, _COUNTER[0])
    yield n
    container.remove(n)
    assert container.leftovers(n) == {}


def start(name, rootfs_path, **extra):
    return run_module_main(busybox_container, dict({"name": name, "rootfs": rootfs_path}, **extra))


def traces(name):
    """What of container `name` is on the host: leftovers (cgroups, veth, run and data dirs), its links."""
    out = container.leftovers(name)
    links = [n for n in container.veth_names(name) if container.link_exists(n)]
    if links:
        out["links"] = links
    return out


# ---------------------------------------------------------------- the workload audit


@pytest.mark.parametrize("profile,mode,filters", [("default", "filter", 1), ("unconfined", "disabled", 0)])
def test_inspect_reports_the_nsverify_workload_s_seccomp(name, rootfs_path, profile, mode, filters):
    res = start(name, rootfs_path, seccomp=profile)
    assert not res.get("failed"), res.get("msg")
    init_pid = res["container"]["init_pid"]
    out = run_module_main(namespace_inspect, {"containers": [name], "runtimes": ["nsverify"]})
    (target,) = [t for t in out["targets"] if t["name"] == "nsverify:%s" % name]
    # the workload (init's first child), not nsv-init: init is never filtered and keeps the caller's capabilities
    assert target["init_pid"] == init_pid and target["pid"] != init_pid and target["ppid"] == init_pid
    assert target["security"]["seccomp"] == {"mode": mode, "filters": filters}
    assert target["security"]["no_new_privs"] is True
    assert "sys_admin" not in target["capabilities"]["effective"]
    with open("/proc/%d/status" % target["pid"]) as fh:  # what the kernel says of that process
        assert "Seccomp:\t%d\n" % (2 if filters else 0) in fh.read()

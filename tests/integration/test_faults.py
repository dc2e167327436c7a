"""The fault suite (issue 10): the module process is killed with SIGKILL at named stages (NSV_FAULT_STAGE,
module_utils/nsverify/faults.py) and after chosen delays, for busybox_container and for namespace; after
each kill a rerun converges, and state=absent leaves nothing of that container or namespace on the host
(cgroups, links, run and data dirs, mounts, processes)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import busybox_container
import namespace as namespace_module
import pytest
from conftest import run_module_main

from ansible.module_utils.nsverify import container, faults, procfs, rootfs

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


@pytest.fixture(scope="module")
def rootfs_path():
    return rootfs.build()["path"]


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

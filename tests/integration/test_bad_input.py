"""The bad-input table (issue 10): invalid values for every module argument; each fails the task with a message
that says what was wrong (the expected words below), never a traceback, and changes nothing on the host (the
soak's host snapshot, before and after)."""

import json
import os

import busybox_container
import busybox_container_exec
import busybox_container_info
import busybox_container_verify
import busybox_rootfs
import namespace as namespace_module
import namespace_facts
import namespace_inspect
import namespace_verify
import nsverify_report
import nsverify_sysctl
import pytest
from conftest import run_module_main
from test_soak import settled, snapshot

from ansible.module_utils.nsverify import container, rootfs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the modules act as root")

NAME = "bad%d" % (os.getpid() % 100000)
ROOTFS = "<rootfs>"
PID = "<init pid>"

CTR = busybox_container
BAD = [
    # busybox_container
    (CTR, {"name": "../containers/x", "rootfs": ROOTFS}, "name"),
    (CTR, {"name": "", "rootfs": ROOTFS}, "name"),
    (CTR, {"name": "UPPER", "rootfs": ROOTFS}, "name"),
    (CTR, {"name": "x" * 80, "rootfs": ROOTFS}, "name"),
    (CTR, {"name": NAME, "rootfs": "/"}, "rootfs"),
    (CTR, {"name": NAME, "rootfs": "/nonexistent-nsv"}, "does not exist"),
    (CTR, {"name": NAME, "rootfs": "/etc"}, "rootfs"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "hostname": "bad_host!"}, "not a valid host name"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "hostname": "h" * 70}, "1 to 64 characters"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "memory": "3M"}, "floor"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "memory": "-5M"}, "memory"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "memory": "lots"}, "is not a size"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "cpus": "nan"}, "finite number"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "cpus": "inf"}, "finite number"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "cpus": 0}, "at least"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "pids": 1}, "below"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "pids": "many"}, "pids"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "veth": True, "veth_host_name": "eth0"}, "must start with 'nsv'"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "veth": True, "veth_host_name": "nsv-far-too-long0"}, "1 to 15"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "veth": True, "veth_host_name": "lo"}, "must start with 'nsv'"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "veth": True, "network": "10.213.0.0/24"}, "private IPv4 /30"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "veth": True, "network": "8.8.8.0/30"}, "private IPv4 /30"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "veth": True, "network": "10.213.0.1/30"}, "not a valid network"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "veth": True, "network": "nonsense"}, "not a valid network"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "command": ["sh"]}, "absolute path"),
    (CTR, {"name": NAME + "-c", "rootfs": ROOTFS, "command": ["/nonexistent"]}, "/nonexistent: not found"),
    (CTR, {"name": NAME + "-c", "rootfs": ROOTFS, "command": ["/etc/passwd"]}, "/etc/passwd is not executable"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "capabilities": ["CAP_FLY"]}, "unknown capability"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "time_offsets": {"monotonic": "abc"}}, "monotonic"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "time_offsets": {"realtime": 5}}, "realtime"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "time_offsets": {"monotonic": 1.5}}, "whole number"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "time_offsets": {"monotonic": 10**30}}, "monotonic"),
    (
        CTR,
        {"name": NAME, "rootfs": ROOTFS, "uid_map": [{"inside": 0, "outside": 100000, "count": 65536}]},
        "user_namespace",
    ),
    (
        CTR,
        {
            "name": NAME,
            "rootfs": ROOTFS,
            "user_namespace": True,
            "uid_map": [{"inside": 1, "outside": 100000, "count": 10}],
        },
        "map id 0",
    ),
    (
        CTR,
        {
            "name": NAME,
            "rootfs": ROOTFS,
            "user_namespace": True,
            "uid_map": [{"inside": 0, "outside": 100000, "count": 0}],
        },
        "count",
    ),
    (
        CTR,
        {
            "name": NAME,
            "rootfs": ROOTFS,
            "user_namespace": True,
            "uid_map": [{"inside": 0, "outside": 100000, "count": 10}, {"inside": 5, "outside": 200000, "count": 10}],
        },
        "overlap",
    ),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "namespaces": ["mnt", "uts"]}, "must include"),
    (CTR, {"name": NAME, "rootfs": ROOTFS, "seccomp": "loose"}, "seccomp"),
    (CTR, {"name": NAME, "state": "paused"}, "state"),
    (CTR, {"name": NAME, "state": "started"}, "rootfs"),
    # busybox_container_exec, _verify, _info
    (busybox_container_exec, {"name": "../containers/x", "argv": ["true"]}, "name"),
    (busybox_container_exec, {"name": NAME + "-none", "argv": ["/bin/true"]}, "not running"),
    (busybox_container_exec, {"name": NAME, "argv": []}, "argv"),
    (busybox_container_exec, {"name": NAME, "argv": ["/bin/true"], "timeout": 0}, "timeout"),
    (busybox_container_exec, {"name": NAME, "argv": ["/bin/true"], "timeout": -1}, "timeout"),
    (busybox_container_exec, {"name": NAME, "argv": ["/bin/true"], "cmd": "true"}, "mutually exclusive"),
    (busybox_container_verify, {"name": "../x"}, "name"),
    (busybox_container_verify, {"name": NAME, "checks": ["NS-FOO-001"]}, "NS-FOO-001"),
    (busybox_container_info, {"name": "../x"}, "name"),
    # busybox_rootfs
    (busybox_rootfs, {"base": "/tmp/nsvbad-rootfs", "hostname": "bad_host!"}, "not a valid host name"),
    (busybox_rootfs, {"base": "/tmp/nsvbad-rootfs", "binary": "/nonexistent-nsv"}, "nonexistent-nsv"),
    (busybox_rootfs, {"base": "/tmp/nsvbad-rootfs", "binary": "/bin/bash"}, "dynamically linked"),
    # namespace
    (namespace_module, {"name": "../x", "types": ["uts"]}, "name"),
    (namespace_module, {"name": NAME, "types": ["uts"], "hostname": "bad_host!"}, "not a valid host name"),
    (namespace_module, {"name": NAME, "types": ["bogus"]}, "bogus"),
    (namespace_module, {"name": NAME, "types": ["time"], "monotonic_offset": 10**20}, "monotonic"),
    (
        namespace_module,
        {"name": NAME, "types": ["user"], "uid_map": [{"inside": 0, "outside": 0, "count": -1}]},
        "count",
    ),
    (namespace_module, {"name": NAME, "types": ["mnt"], "mount_propagation": "weird"}, "mount_propagation"),
    # namespace_verify
    (namespace_verify, {"target": "pid", "pid": 2}, "kernel thread"),
    (namespace_verify, {"target": "pid", "pid": 999999999}, "999999999"),
    (namespace_verify, {"target": "pid"}, "pid"),
    (namespace_verify, {"target": "named", "name": "../x"}, "name"),
    (namespace_verify, {"target": "named", "name": NAME + "-none"}, NAME + "-none"),
    (namespace_verify, {"types": ["bogus"]}, "bogus"),
    (namespace_verify, {"types": ["time"], "time_offsets": {"monotonic": "abc"}}, "monotonic"),
    (namespace_verify, {"types": ["time"], "time_offsets": {"monotonic": 1.5}}, "whole number"),
    (namespace_verify, {"timeout": 0}, "timeout"),
    # namespace_facts, namespace_inspect
    (namespace_facts, {"types": ["bogus"]}, "bogus"),
    (namespace_inspect, {"max_targets": 0}, "max_targets"),
    # nsverify_report
    (nsverify_report, {"hosts": {}, "dest": "/tmp/nsvbad-report", "basename": "../../x"}, "plain file name"),
    (nsverify_report, {"hosts": {"h": "garbage"}, "dest": "/tmp/nsvbad-report"}, "must be a mapping"),
    (nsverify_report, {"hosts": {}, "dest": "/tmp/nsvbad-report", "mode": "999"}, "mode"),
    (nsverify_report, {"hosts": {}, "dest": "/tmp/nsvbad-report", "today": "yesterday"}, "today"),
    # nsverify_sysctl
    (nsverify_sysctl, {"settings": {"user.max_user_namespaces": "abc"}}, "user.max_user_namespaces"),
    (nsverify_sysctl, {"settings": {"kernel.nsv_no_such_key": 1}}, "nsv_no_such_key"),
]


@pytest.fixture(scope="module")
def running():
    path = rootfs.build()["path"]
    res = run_module_main(busybox_container, {"name": NAME, "rootfs": path})
    assert not res.get("failed"), res
    yield path, res["container"]["init_pid"]
    container.remove(NAME)


def fill(value, path, pid):
    if value == ROOTFS:
        return path
    if value == PID:
        return pid
    return value


@pytest.mark.parametrize("module,args,words", BAD, ids=["%02d-%s" % (i, b[0].__name__) for i, b in enumerate(BAD)])
def test_bad_input_fails_clearly_and_changes_nothing(running, module, args, words):
    path, pid = running
    args = {k: fill(v, path, pid) for k, v in args.items()}
    before = snapshot()
    res = run_module_main(module, args)
    text = json.dumps(res)
    assert res.get("failed") is True, res
    assert "Traceback" not in text and "exception" not in res, res
    assert words.lower() in res["msg"].lower(), res["msg"]
    # a refused start's init may be a zombie for a moment: the host's init reaps it, and settled() waits up to
    # 10 s for that (a zombie that stays, or anything else left, is a change)
    assert settled(before) == {}

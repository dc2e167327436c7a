"""An unprivileged caller (uid 65534 through setpriv) gets one clear `denied` naming what is missing from
busybox_container (started, absent), _exec and _verify, and the root-owned container is left as it was."""

import json
import os
import shutil
import subprocess
import sys

import busybox_container
import pytest
from conftest import closed_to_others, run_module_main
from test_faults import ROOT, RUNNER

from ansible.module_utils.nsverify import container, rootfs

NAME = "rl%d" % (os.getpid() % 100000)

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop to uid 65534 with setpriv"
    ),
    pytest.mark.skipif(bool(closed_to_others()), reason=closed_to_others() or "-"),
]


def as_nobody(module, args):
    argv = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--"]
    argv += [sys.executable, "-c", RUNNER, str(ROOT), module, json.dumps(args)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/")
    assert "Traceback" not in res.stderr, res.stderr
    return json.loads(res.stdout[res.stdout.index("{") :])


@pytest.fixture(scope="module")
def running():
    path = rootfs.build()["path"]
    res = run_module_main(busybox_container, {"name": NAME, "rootfs": path})
    assert not res.get("failed"), res
    yield path, res["container"]
    container.remove(NAME)


@pytest.mark.parametrize(
    "module,extra",
    [
        ("busybox_container", {"state": "started", "rootfs": "<rootfs>"}),
        ("busybox_container", {"state": "absent"}),
        ("busybox_container_exec", {"argv": ["/bin/true"]}),
        ("busybox_container_verify", {}),
    ],
    ids=["started", "absent", "exec", "verify"],
)
def test_unprivileged_caller_is_denied_clearly(running, module, extra):
    path, ctr = running
    args = dict({k: (path if v == "<rootfs>" else v) for k, v in extra.items()}, name=NAME)
    res = as_nobody(module, args)
    assert res["failed"] and res["msg"].startswith("denied: ") and "needs root" in res["msg"], res
    assert "uid 65534" in res["msg"] and "become: true" in res["msg"]
    st = container.status(NAME)
    assert st["running"] and st["state"]["init_pid"] == ctr["init_pid"]

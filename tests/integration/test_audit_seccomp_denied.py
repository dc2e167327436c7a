"""Issue 12, for real: the audit's `denied` for the user type names the cause its evidence shows. This kernel
(mainline, no Debian patch) has no kernel.unprivileged_userns_clone, so the cause made real here is a seccomp
filter: the project's own workload profile (seccomp.install, which refuses unshare(2) of namespace flags with
EPERM) installed in a python of its own, which then audits, as root and as uid 65534 (setpriv). Without the
filter the same audit is `supported` (the control case). The Debian switch is made real by the molecule guest
nsv-userns (molecule/default/vars/expectations.yml asserts its words); tests/unit/test_audit_userns_cause.py
covers every branch on injected /proc/sys roots."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import closed_to_others

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = r"""
import json, sys
import ansible.module_utils
ansible.module_utils.__path__.append(sys.argv[1] + "/module_utils")
from ansible.module_utils.nsverify import audit, seccomp
if sys.argv[2] == "filtered":
    seccomp.install()
facts = audit.audit(types=["uts", "user"])
print(json.dumps({"types": facts["types"], "policy": facts["userns_policy"], "euid": facts["privilege"]["euid"]}))
"""

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root (and setpriv to drop to uid 65534)"
)
NOBODY = pytest.param(
    ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--"],
    marks=pytest.mark.skipif(bool(closed_to_others()), reason=closed_to_others() or "-"),
)


def _audit(mode, prefix=()):
    argv = [*prefix, sys.executable, "-c", SCRIPT, str(ROOT), mode]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-3000:]
    return json.loads(res.stdout)


@pytest.mark.parametrize("prefix", [(), NOBODY], ids=["root", "uid-65534"])
def test_user_namespace_refused_by_a_seccomp_filter_names_the_filter(prefix):
    out = _audit("filtered", prefix)
    user = out["types"]["user"]
    assert user["verdict"] == "denied", user
    assert user["evidence"]["probe"]["errname"] == "EPERM"
    assert "the seccomp filter this process runs under refuses it (Seccomp: 2" in user["reason"], user["reason"]
    assert "LSM" not in user["reason"] and "unprivileged_userns_clone=0" not in user["reason"]
    assert user["evidence"]["policy"]["seccomp"]["mode"] == 2
    assert any("seccomp filter" in n for n in out["policy"]["notes"])
    # uts without a user namespace: EPERM too, and (unprivileged) the retry through a user namespace is refused
    uts = out["types"]["uts"]
    assert uts["verdict"] == "denied" and "the seccomp filter" in uts["reason"], uts["reason"]
    assert ("an unprivileged caller needs a user namespace" in uts["reason"]) == bool(prefix)


@pytest.mark.parametrize("prefix", [(), NOBODY], ids=["root", "uid-65534"])
def test_without_the_filter_the_same_audit_is_supported(prefix):
    out = _audit("plain", prefix)
    assert out["euid"] == (65534 if prefix else 0)
    assert {t: v["verdict"] for t, v in out["types"].items()} == {"uts": "supported", "user": "supported"}
    assert out["policy"]["seccomp"] == {"mode": 0, "filters": 0}

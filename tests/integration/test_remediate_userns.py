"""nsverify_sysctl for real, inside a throwaway user namespace (`unshare -Ur`): the user.max_*_namespaces
limits are per user namespace, so the module changes and restores them there without touching the
host's. Check mode, the change, the audit's new verdict (time limit-zero), a second run with changed=0,
state absent restoring the found value, and the audit's verdict back to supported. The sysctl.d file
and the record live in a temporary directory."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import contextlib, io, json, sys
root, conf, record = sys.argv[1:4]
import ansible.module_utils
ansible.module_utils.__path__.append(root + "/module_utils")
sys.path.insert(0, root + "/library")
from ansible.module_utils.testing import patch_module_args
from ansible.module_utils.nsverify import audit, procfs
import nsverify_sysctl

def module(check=False, diff=False, **args):
    args = dict(args, path=conf, record=record, _ansible_check_mode=check, _ansible_diff=diff)
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        try:
            nsverify_sysctl.main()
        except SystemExit:
            pass
    return json.loads(out.getvalue())

def state(label):
    facts = audit.audit(types=["uts", "time"])
    return {
        "label": label,
        "limits": {t: procfs.read_sysctl("user.max_%s_namespaces" % t) for t in ("uts", "time", "net")},
        "verdicts": {t: facts["types"][t]["verdict"] for t in ("uts", "time")},
    }

policy = dict(profile="container-host", settings={"user.max_time_namespaces": 0})
steps = [state("before")]
steps.append(dict(state("after check mode"), result=module(check=True, diff=True, **policy)))
steps.append(dict(result=module(**policy), label="apply"))
steps[-1].update(state("after apply"))
steps.append(dict(result=module(**policy), label="again"))
steps.append(dict(result=module(state="absent"), label="absent"))
steps[-1].update(state("after absent"))
print(json.dumps(steps))
"""


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    if not shutil.which("unshare"):
        pytest.skip("util-linux unshare is not installed")
    tmp = tmp_path_factory.mktemp("nsv-remediate")
    conf, record = tmp / "sysctl.d" / "60-nsverify.conf", tmp / "state" / "remediate-original.json"
    host_before = Path("/proc/sys/user/max_time_namespaces").read_text()
    proc = subprocess.run(
        ["unshare", "-Ur", sys.executable, "-c", CHILD, str(ROOT), str(conf), str(record)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0 and "unshare failed" in proc.stderr:
        pytest.skip("cannot create a user namespace here: %s" % proc.stderr.strip())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert Path("/proc/sys/user/max_time_namespaces").read_text() == host_before, "the host's limit changed"
    return {s["label"]: s for s in json.loads(proc.stdout.strip().splitlines()[-1])}, conf, record


def test_check_mode_reports_the_change_and_changes_nothing(steps):
    by, conf, _ = steps
    before, checked = by["before"], by["after check mode"]
    assert checked["result"]["changed"] is True and checked["result"]["written"] == []
    assert checked["limits"] == before["limits"] and before["limits"]["time"] > 0
    assert checked["verdicts"] == {"uts": "supported", "time": "supported"}
    assert "user.max_time_namespaces = 0" in checked["result"]["diff"][0]["after"]


def test_apply_sets_only_the_named_limit_and_the_audit_sees_limit_zero(steps):
    by, _, _ = steps
    applied = by["after apply"]
    assert applied["result"]["changed"] is True and applied["result"]["written"] == ["user.max_time_namespaces"]
    assert applied["limits"]["time"] == 0
    assert applied["limits"]["net"] == by["before"]["limits"]["net"]  # above the profile's minimum: untouched
    assert applied["verdicts"] == {"uts": "supported", "time": "limit-zero"}
    assert applied["result"]["record"] == {"user.max_time_namespaces": by["before"]["limits"]["time"]}


def test_second_run_changes_nothing(steps):
    by, _, _ = steps
    assert by["again"]["result"]["changed"] is False and by["again"]["result"]["written"] == []


def test_absent_restores_the_found_value_and_removes_the_files(steps):
    by, conf, record = steps
    gone = by["after absent"]
    assert gone["result"]["changed"] is True
    assert gone["limits"] == by["before"]["limits"]
    assert gone["verdicts"] == {"uts": "supported", "time": "supported"}
    assert not conf.exists() and not record.exists()


# ---------------------------------------------------------------- the role, by ansible-playbook in a user namespace

PLAY = r"""
set -e
pb() { "$PLAYBOOK" "$ROOT/playbooks/remediate.yml" -e "@$VARS" "$@"; }
echo "=== limit";   cat /proc/sys/user/max_time_namespaces
echo "=== check";   pb --check --diff
echo "=== apply";   pb
echo "=== again";   pb
echo "=== limit";   cat /proc/sys/user/max_time_namespaces
echo "=== absent";  pb -e nsverify_remediate_state=absent
echo "=== limit";   cat /proc/sys/user/max_time_namespaces
"""


def _recaps(stdout):
    out = {}
    for block in stdout.split("=== ")[1:]:
        label, _, body = block.partition("\n")
        m = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", body)
        out.setdefault(label.strip(), []).append(
            dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups()))) if m else body.strip()
        )
    return out


def test_the_role_by_playbook_in_a_user_namespace(tmp_path):
    if not shutil.which("unshare"):
        pytest.skip("util-linux unshare is not installed")
    variables = tmp_path / "vars.json"
    variables.write_text(
        json.dumps(
            {
                "nsverify_remediate_profile": "container-host",
                "nsverify_remediate_settings": {"user.max_time_namespaces": 0},
                "nsverify_remediate_sysctl_file": str(tmp_path / "sysctl.d" / "60-nsverify.conf"),
                "nsverify_remediate_record": str(tmp_path / "state" / "remediate-original.json"),
            }
        )
    )
    exe = ROOT / ".venv" / "bin" / "ansible-playbook"
    env = dict(
        os.environ,
        ROOT=str(ROOT),
        VARS=str(variables),
        PLAYBOOK=str(exe) if exe.exists() else "ansible-playbook",
        ANSIBLE_HOME=str(tmp_path / "ansible"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
    )
    host_before = Path("/proc/sys/user/max_time_namespaces").read_text()
    proc = subprocess.run(["unshare", "-Ur", "sh", "-c", PLAY], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert Path("/proc/sys/user/max_time_namespaces").read_text() == host_before
    runs = _recaps(proc.stdout)
    assert runs["check"][0]["changed"] == 1 and runs["check"][0]["failed"] == 0
    assert runs["apply"][0]["changed"] == 1
    assert runs["again"][0]["changed"] == 0
    found = runs["limit"][0]
    assert int(found) > 0 and runs["limit"] == [found, "0", found]  # set, then restored to what it was
    assert runs["absent"][0]["changed"] == 1
    apply_text = proc.stdout.split("=== apply")[1].split("=== again")[0]
    assert "time=limit-zero" in apply_text and "uts=supported" in apply_text
    assert "time=supported" in proc.stdout.split("=== absent")[1]
    assert not (tmp_path / "sysctl.d" / "60-nsverify.conf").exists()

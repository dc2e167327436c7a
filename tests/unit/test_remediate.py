"""Remediation on a sysctl tree in a temporary directory (the readers and writers take the root as a
parameter): policy validation, the check/real/again triad, minimums, absent sysctls, untouched ones,
the record of originals and state absent; the module through its main()."""

import json
import os

import nsverify_sysctl
import pytest
from conftest import run_module_main

from ansible.module_utils.nsverify import catalog, procfs, remediate

ORIGINAL = {"user.max_%s_namespaces" % t: 63000 for t in catalog.TYPE_NAMES}


@pytest.fixture
def host(tmp_path):
    sys_root = tmp_path / "proc-sys"
    values = dict(ORIGINAL, **{"kernel.unprivileged_userns_clone": 1, "kernel.pid_max": 4194304})
    for name, value in values.items():
        path = sys_root.joinpath(*name.split("."))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("%d\n" % value)
    return {
        "sys": str(sys_root),
        "conf": str(tmp_path / "etc" / "sysctl.d" / "60-nsverify.conf"),
        "record": str(tmp_path / "var" / "remediate-original.json"),
    }


def live(host, name):
    with open(procfs.sysctl_path(name, host["sys"])) as fh:
        return int(fh.read())


def run(host, pol, profile=None, check=False):
    p = remediate.plan(pol, host["sys"], host["conf"], host["record"], profile)
    if not check and p["changed"]:
        remediate.apply(p, host["sys"])
    return p


BAD_POLICIES = [
    ({"kernel.pid_max": 1}, "not a namespace sysctl this tool manages: kernel.pid_max"),
    ({"user.max_time_namespaces": -1}, "must be an integer >= 0"),
    ({"user.max_time_namespaces": "0"}, "expected an integer"),
    ({"user.max_time_namespaces": True}, "expected an integer"),
    ({"user.max_time_namespaces": {"min": 1, "value": 2}}, "exactly one of min or value"),
    ({"kernel.unprivileged_userns_clone": 2}, "is a switch: give value 0 or 1"),
    ({"kernel.unprivileged_userns_clone": {"min": 0}}, "is a switch"),
]


@pytest.mark.parametrize("settings,words", BAD_POLICIES, ids=[w for _, w in BAD_POLICIES])
def test_bad_policies_are_refused_with_the_reason(settings, words):
    with pytest.raises(remediate.RemediateError, match=words.replace("(", r"\(")):
        remediate.policy(None, settings)


def test_unknown_profile():
    with pytest.raises(remediate.RemediateError, match="baseline, container-host, strict"):
        remediate.policy("lax")


def test_profile_policy_with_overrides():
    pol = remediate.policy(
        "strict", {"user.max_time_namespaces": 0, "kernel.apparmor_restrict_unprivileged_userns": None}
    )
    assert pol["user.max_time_namespaces"] == {"value": 0}
    assert pol["user.max_net_namespaces"] == {"min": 15000}
    assert pol["kernel.unprivileged_userns_clone"] == {"value": 0}
    assert "kernel.apparmor_restrict_unprivileged_userns" not in pol


def test_check_then_real_then_again(host):
    pol = remediate.policy("strict", {"user.max_time_namespaces": 0})
    checked = run(host, pol, "strict", check=True)
    assert checked["changed"] and live(host, "user.max_time_namespaces") == 63000
    assert remediate.read_file(host["conf"]) is None and remediate.read_record(host["record"]) == {}
    assert checked["absent"] == ["kernel.apparmor_restrict_unprivileged_userns"]

    real = run(host, pol, "strict")
    assert real["changed"]
    assert live(host, "user.max_time_namespaces") == 0 and live(host, "kernel.unprivileged_userns_clone") == 0
    assert live(host, "user.max_net_namespaces") == 63000  # above the minimum: left alone
    assert live(host, "kernel.pid_max") == 4194304  # not named: never touched
    conf = remediate.read_file(host["conf"]).splitlines()
    assert [line for line in conf if not line.startswith("#")] == [
        "user.max_time_namespaces = 0",
        "kernel.unprivileged_userns_clone = 0",
    ]
    assert remediate.read_record(host["record"]) == {
        "user.max_time_namespaces": 63000,
        "kernel.unprivileged_userns_clone": 1,
    }

    again = run(host, pol, "strict")
    assert not again["changed"] and not any(s["change"] for s in again["settings"].values())


def test_a_minimum_raises_a_lower_value_and_the_record_keeps_the_first_original(host):
    run(host, remediate.policy(None, {"user.max_user_namespaces": 0}))
    run(host, remediate.policy(None, {"user.max_user_namespaces": {"min": 100000}}))
    assert live(host, "user.max_user_namespaces") == 100000
    assert remediate.read_record(host["record"]) == {"user.max_user_namespaces": 63000}
    assert "user.max_user_namespaces = 100000" in remediate.read_file(host["conf"])


def test_absent_restores_the_recorded_values_and_removes_both_files(host):
    run(host, remediate.policy("strict", {"user.max_time_namespaces": 0, "user.max_pid_namespaces": {"min": 70000}}))
    assert live(host, "user.max_pid_namespaces") == 70000
    p = remediate.plan_absent(host["sys"], host["conf"], host["record"])
    assert p["changed"] and p["settings"]["user.max_time_namespaces"] == {"current": 0, "target": 63000, "change": True}
    remediate.apply(p, host["sys"])
    assert {n: live(host, n) for n in ORIGINAL} == ORIGINAL
    assert live(host, "kernel.unprivileged_userns_clone") == 1
    assert remediate.read_file(host["conf"]) is None and remediate.read_record(host["record"]) == {}
    assert not remediate.plan_absent(host["sys"], host["conf"], host["record"])["changed"]


def test_a_policy_already_met_writes_nothing(host):
    p = run(host, remediate.policy("container-host"))
    assert not p["changed"] and remediate.read_file(host["conf"]) is None


@pytest.mark.parametrize(
    "text,words", [("{", "cannot be read"), ('{"schema": "x"}', "not an nsverify remediation record")]
)
def test_a_corrupt_record_is_named(host, text, words):
    path = host["record"]

    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        fh.write(text)
    with pytest.raises(remediate.RemediateError, match=words) as err:
        remediate.plan_absent(host["sys"], host["conf"], path)
    assert path in str(err.value)


def _args(host, **kw):
    return dict({"path": host["conf"], "record": host["record"], "sysctl_root": host["sys"]}, **kw)


def test_module_check_diff_real_again_absent(host):
    args = _args(host, profile="strict", settings={"user.max_time_namespaces": 0})
    checked = run_module_main(nsverify_sysctl, args, check=True, diff=True)
    assert checked["changed"] and checked["written"] == [] and live(host, "user.max_time_namespaces") == 63000
    file_diff, live_diff = checked["diff"]
    assert "user.max_time_namespaces = 0" in file_diff["after"] and file_diff["before"] == ""
    assert "user.max_time_namespaces = 63000" in live_diff["before"]
    real = run_module_main(nsverify_sysctl, args)
    assert real["changed"] and real["written"] == ["user.max_time_namespaces", "kernel.unprivileged_userns_clone"]
    assert real["absent"] == ["kernel.apparmor_restrict_unprivileged_userns"]
    again = run_module_main(nsverify_sysctl, args, diff=True)
    assert again["changed"] is False and "diff" not in again
    gone = run_module_main(nsverify_sysctl, _args(host, state="absent"))
    assert gone["changed"] and live(host, "user.max_time_namespaces") == 63000


def test_module_refuses_a_foreign_sysctl(host):
    res = run_module_main(nsverify_sysctl, _args(host, settings={"net.ipv4.ip_forward": 1}))
    assert res["failed"] and "net.ipv4.ip_forward" in res["msg"] and "allowed:" in res["msg"]
    assert json.dumps(res).count("Traceback") == 0

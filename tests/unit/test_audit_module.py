"""library/namespace_facts.py through its entry point (no subprocess): argument handling and failures."""

import json
import os

import namespace_facts
import pytest
from ansible.module_utils.testing import patch_module_args


def run_main(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            namespace_facts.main()
    return info.value.code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "args,message",
    [
        ({"types": ["netns"]}, "types: unknown namespace type(s) 'netns'"),
        ({"types": []}, "types: give at least one"),
        ({"release": "6.x"}, "release: malformed kernel release '6.x'"),
        ({"release": "abc"}, "release: malformed kernel release 'abc'"),
        ({"release": "6"}, "release: malformed kernel release '6'"),
    ],
    ids=["unknown-type", "no-types", "release-6.x", "release-abc", "release-6"],
)
def test_bad_arguments_fail_cleanly(capsys, args, message):
    code, result = run_main(args, capsys)
    assert code == 1 and result["failed"] is True and result["msg"].startswith(message)
    assert "exception" not in result


def test_static_audit_returns_facts_unchanged(capsys):
    code, result = run_main({"probe": False, "types": ["time", "net"]}, capsys)
    facts = result["ansible_facts"]["nsverify"]
    assert code == 0 and result["changed"] is False
    assert facts["mode"] == "static" and list(facts["types"]) == ["net", "time"]
    assert facts["kernel"]["release"] == os.uname().release


def test_offline_release_is_not_probed(capsys):
    code, result = run_main({"release": "4.4.0-210-generic", "types": ["cgroup"]}, capsys)
    facts = result["ansible_facts"]["nsverify"]
    assert facts["mode"] == "offline" and facts["types"]["cgroup"]["verdict"] == "kernel-too-old"
    assert facts["types"]["cgroup"]["evidence"]["probe"] == {"attempted": False}


def test_argument_spec_defaults():
    with patch_module_args({}):
        module = namespace_facts.build_module()
    assert module.params == {
        "types": ["mnt", "uts", "ipc", "pid", "net", "user", "cgroup", "time"],
        "probe": True,
        "release": None,
    }
    assert module.check_mode is False and module.supports_check_mode is True

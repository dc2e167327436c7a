"""nsverify_report module through its entry point: the triad (check mode, real, again), waiver
file errors, diff, fail_on_failed. Inputs are SAMPLE results in the documented shapes (see
tests/unit/test_report.py); the real modules' output goes through it in test_report_playbook.py.
"""

import json
import os
import sys
from pathlib import Path

import nsverify_report
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible.module_utils.nsverify import catalog, controls

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_report_samples import sample_facts, sample_proofs, sample_type  # noqa: E402


def run_module(capsys, **args):
    args.setdefault("_ansible_check_mode", False)
    args.setdefault("_ansible_diff", False)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            nsverify_report.main()
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def fleet(time_verdict="supported"):
    return {
        "web1": {"facts": sample_facts(time=sample_type("time", time_verdict)), "proofs": sample_proofs()},
        "db1": {"facts": sample_facts(), "proofs": sample_proofs()},
    }


def test_triad_check_mode_then_real_then_unchanged(tmp_path, capsys):
    dest = tmp_path / "reports"
    res = run_module(capsys, hosts=fleet(), dest=str(dest), _ansible_check_mode=True)
    assert res["changed"] is True and not dest.exists()

    res = run_module(capsys, hosts=fleet(), dest=str(dest))
    assert res["changed"] is True
    assert sorted(os.listdir(dest)) == ["nsverify-report.html", "nsverify-report.json", "nsverify-report.md"]
    assert oct(os.stat(dest / "nsverify-report.json").st_mode & 0o777) == "0o644"
    data = json.loads((dest / "nsverify-report.json").read_text())
    assert data["hosts"]["web1"]["summary_line"] == res["hosts"]["web1"]["summary_line"]
    first_generated = data["generated"]
    mtimes = {p: os.stat(dest / p).st_mtime_ns for p in os.listdir(dest)}

    # Same outcome with different volatile evidence: not changed, files untouched.
    hosts = fleet()
    hosts["web1"]["proofs"]["pid"]["checks"][0]["evidence"] = {"host_pid": 12345}
    res = run_module(capsys, hosts=hosts, dest=str(dest))
    assert res["changed"] is False and res["generated"] == first_generated
    assert {p: os.stat(dest / p).st_mtime_ns for p in os.listdir(dest)} == mtimes


def test_changed_outcome_rewrites_and_diff_shows_summary_lines(tmp_path, capsys):
    run_module(capsys, hosts=fleet(), dest=str(tmp_path))
    res = run_module(capsys, hosts=fleet("not-built"), dest=str(tmp_path), _ansible_diff=True)
    assert res["changed"] is True
    assert res["hosts"]["web1"]["failed"] == ["NS-KRN-008"]
    assert "web1: Count: " in res["diff"]["before"] and "Failed: 0" in res["diff"]["before"]
    assert "Failed: 1" in res["diff"]["after"]
    data = json.loads((tmp_path / "nsverify-report.json").read_text())
    assert data["summary"]["fail"] == 1


def test_removed_view_is_rewritten(tmp_path, capsys):
    run_module(capsys, hosts=fleet(), dest=str(tmp_path))
    (tmp_path / "nsverify-report.html").unlink()
    assert run_module(capsys, hosts=fleet(), dest=str(tmp_path))["changed"] is True
    assert (tmp_path / "nsverify-report.html").exists()


def test_waiver_file_applies_and_expired_is_flagged(tmp_path, capsys):
    waivers = tmp_path / "waivers.yml"
    waivers.write_text(
        "waivers:\n"
        "  - control: NS-KRN-008\n    justification: kernel upgrade planned\n    hosts: web*\n"
        "    expires: 2026-12-31\n"
        "  - control: NS-KRN-008\n    justification: old exception\n    hosts: db*\n"
        "    expires: 2020-01-01\n"
    )
    hosts = fleet("not-built")
    hosts["db1"]["facts"] = sample_facts(time=sample_type("time", "not-built"))
    res = run_module(capsys, hosts=hosts, dest=str(tmp_path / "r"), waivers=str(waivers), today="2026-11-23")
    assert res["hosts"]["web1"]["waived"] == ["NS-KRN-008"] and res["hosts"]["web1"]["failed"] == []
    assert res["hosts"]["db1"]["failed"] == ["NS-KRN-008"] and res["hosts"]["db1"]["expired_waivers"] == ["NS-KRN-008"]
    assert res["summary_line"].endswith("Waived: 1")


@pytest.mark.parametrize(
    "content,words",
    [
        ("waivers:\n  - control: NS-KRN-008\n", "missing 'justification'"),
        ("waivers:\n  - control: NS-NOPE-001\n    justification: x\n", "unknown control id 'NS-NOPE-001'"),
        ("waivers: [\n", "not valid YAML/JSON"),
        (
            '{"waivers": [{"control": "NS-KRN-001", "justification": "json works", "expires": "someday"}]}',
            "bad 'expires'",
        ),
    ],
    ids=["no-justification", "unknown-id", "broken-yaml", "json-bad-date"],
)
def test_bad_waiver_file_fails_clearly_and_writes_nothing(tmp_path, capsys, content, words):
    waivers = tmp_path / "waivers.yml"
    waivers.write_text(content)
    res = run_module(capsys, hosts=fleet(), dest=str(tmp_path / "r"), waivers=str(waivers))
    assert res["failed"] is True and words in res["msg"] and str(waivers) in res["msg"]
    assert not (tmp_path / "r").exists()


def test_missing_waiver_file_fails_clearly(tmp_path, capsys):
    res = run_module(capsys, hosts=fleet(), dest=str(tmp_path), waivers=str(tmp_path / "nope.yml"))
    assert res["failed"] is True and "cannot read the waiver file" in res["msg"]


def test_fail_on_failed_names_the_controls_after_writing(tmp_path, capsys):
    res = run_module(capsys, hosts=fleet("denied"), dest=str(tmp_path), fail_on_failed=True)
    assert res["failed"] is True and "web1: NS-KRN-008" in res["msg"]
    assert (tmp_path / "nsverify-report.json").exists()


def test_host_without_inputs_is_reported_with_skips(tmp_path, capsys):
    res = run_module(
        capsys,
        hosts={"gone": {}, "ok": {"facts": sample_facts(), "proofs": sample_proofs()}},
        dest=str(tmp_path),
        formats=["html"],
    )
    n = len(controls.for_source("audit")) + len(controls.for_source("proof"))
    assert res["hosts"]["gone"]["summary"] == {"count": n, "pass": 0, "fail": 0, "skip": n, "waived": 0}
    assert sorted(os.listdir(tmp_path)) == ["nsverify-report.html", "nsverify-report.json"]


@pytest.mark.parametrize(
    "args,words",
    [
        ({"hosts": {"h": "not a dict"}}, "each value must be a mapping"),
        ({"today": "tomorrow"}, "today:"),
        ({"mode": "rw-r--r--"}, "octal"),
        ({"min_headroom": -1}, "min_headroom"),
    ],
    ids=["host-not-mapping", "bad-today", "bad-mode", "negative-headroom"],
)
def test_bad_arguments_fail_with_the_fix(tmp_path, capsys, args, words):
    base = {"hosts": fleet(), "dest": str(tmp_path / "r")}
    base.update(args)
    res = run_module(capsys, **base)
    assert res["failed"] is True and words in res["msg"]
    assert not (tmp_path / "r").exists()


def test_every_type_in_the_sample_matches_the_catalogue():
    # guards the samples themselves: they must keep following the catalogue
    assert set(sample_facts()["types"]) == set(catalog.TYPE_NAMES)

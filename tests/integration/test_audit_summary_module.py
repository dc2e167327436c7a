"""nsverify_audit_summary through its entry point: the triad (check mode writes nothing, real, again
unchanged), a changed fleet rewrites, bad input fails with what to fix, and ansible-doc renders."""

import os
import subprocess
import sys
from pathlib import Path

import nsverify_audit_summary
import pytest
from conftest import run_module_main

from ansible.module_utils.nsverify import report

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "unit"))
from test_report_samples import sample_facts, sample_type  # noqa: E402


def test_triad_check_then_real_then_unchanged(tmp_path):
    dest = tmp_path / "summary.md"
    hosts = {"web1": sample_facts(), "nsv-down": None}
    res = run_module_main(nsverify_audit_summary, {"hosts": hosts, "dest": str(dest)}, check=True)
    assert res["changed"] is True and not dest.exists()
    assert res["lines"] == report.render_audit_summary(hosts).splitlines()

    res = run_module_main(nsverify_audit_summary, {"hosts": hosts, "dest": str(dest)})
    assert res["changed"] is True and dest.read_text() == report.render_audit_summary(hosts)
    assert oct(dest.stat().st_mode & 0o777) == "0o644"
    mtime = dest.stat().st_mtime_ns

    res = run_module_main(nsverify_audit_summary, {"hosts": hosts, "dest": str(dest)})
    assert res["changed"] is False and dest.stat().st_mtime_ns == mtime


def test_a_changed_verdict_rewrites_and_diff_shows_it(tmp_path):
    dest = tmp_path / "summary.md"
    run_module_main(nsverify_audit_summary, {"hosts": {"h": sample_facts()}, "dest": str(dest)})
    hosts = {"h": sample_facts(time=sample_type("time", "denied"))}
    res = run_module_main(nsverify_audit_summary, {"hosts": hosts, "dest": str(dest)}, diff=True)
    line = "- h time (NS-KRN-008): denied"
    assert res["changed"] is True and line in res["diff"]["after"] and line not in res["diff"]["before"]
    assert line in dest.read_text()


@pytest.mark.parametrize(
    "args,words",
    [
        ({"hosts": {"h": "oops"}}, "mapping), empty or null; not so for h"),
        ({"hosts": {}, "mode": "rw"}, "octal string"),
    ],
    ids=["host-not-a-mapping", "bad-mode"],
)
def test_bad_input_fails_with_what_to_fix(tmp_path, args, words):
    res = run_module_main(nsverify_audit_summary, dict(args, dest=str(tmp_path / "s.md")))
    assert res["failed"] and words in res["msg"] and not (tmp_path / "s.md").exists()


@pytest.mark.parametrize("check", [False, True], ids=["real", "check-mode"])
def test_without_dest_it_only_renders(check):
    hosts = {"web1": sample_facts()}
    res = run_module_main(nsverify_audit_summary, {"hosts": hosts}, check=check)
    assert res["changed"] is False and "path" not in res
    assert res["lines"] == report.render_audit_summary(hosts).splitlines()


def test_missing_directory_fails_with_advice(tmp_path):
    res = run_module_main(nsverify_audit_summary, {"hosts": {}, "dest": str(tmp_path / "no" / "s.md")})
    assert res["failed"] and "create its directory" in res["msg"]


def test_ansible_doc_renders():
    out = subprocess.run(
        ["ansible-doc", "-M", str(ROOT / "library"), "nsverify_audit_summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
    )
    assert out.returncode == 0 and "RETURN VALUES" in out.stdout and "lines" in out.stdout, out.stderr

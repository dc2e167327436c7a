"""nsverify_audit_summary through its entry point: the triad (check mode writes nothing, real, again
unchanged), a changed fleet rewrites, bad input fails with what to fix, and ansible-doc renders."""

import json
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


NICE_JSON = (
    "import json, sys\n"
    "from ansible.plugins.filter.core import to_nice_json\n"
    "sys.stdout.write(to_nice_json(json.load(sys.stdin), sort_keys=True) + '\\n')\n"
)


def _nice_json(facts):
    """What the role's old per-host `copy` task wrote: Ansible's own to_nice_json filter and a newline. In a
    child Python: importing the controller's filter plugins here would change how every later in-process module
    run of this pytest process reports its warnings (ansible-core 2.19 routes them to the controller's Display)."""
    res = subprocess.run(
        [sys.executable, "-c", NICE_JSON], input=json.dumps(facts), capture_output=True, text=True, check=True
    )
    return res.stdout


def test_host_dir_triad_writes_every_host_s_json_as_the_copy_task_did(tmp_path):
    out = tmp_path / "audit"  # missing: the module creates it
    hosts = {"web1": sample_facts(), "web2": sample_facts(time=sample_type("time", "denied"))}
    args = {"hosts": hosts, "dest": str(out / "summary.md"), "host_dir": str(out)}
    res = run_module_main(nsverify_audit_summary, args, check=True)
    assert res["changed"] is True and res["hosts_written"] == ["web1", "web2"] and not out.exists()

    res = run_module_main(nsverify_audit_summary, args)
    assert res["changed"] is True and res["hosts_written"] == ["web1", "web2"]
    assert sorted(p.name for p in out.iterdir()) == ["summary.md", "web1.json", "web2.json"]
    for host, facts in hosts.items():
        path = out / ("%s.json" % host)
        assert path.read_text() == _nice_json(facts)  # byte for byte the old format (docs/FLEET.md)
        assert oct(path.stat().st_mode & 0o777) == "0o644"
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    res = run_module_main(nsverify_audit_summary, args)
    assert res["changed"] is False and res["hosts_written"] == []
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes


def test_host_dir_rewrites_only_the_changed_host_and_keeps_a_host_without_facts(tmp_path):
    hosts = {"a": sample_facts(), "b": sample_facts(), "down": sample_facts()}
    run_module_main(nsverify_audit_summary, {"hosts": hosts, "host_dir": str(tmp_path)})
    kept = (tmp_path / "down.json").read_text()
    mtime_a = (tmp_path / "a.json").stat().st_mtime_ns
    changed = dict(hosts, b=sample_facts(time=sample_type("time", "denied")), down=None)
    res = run_module_main(nsverify_audit_summary, {"hosts": changed, "host_dir": str(tmp_path)}, diff=True)
    assert res["changed"] is True and res["hosts_written"] == ["b"]
    assert [d["after_header"] for d in res["diff"]] == [str(tmp_path / "b.json")]
    assert '"denied"' in res["diff"][0]["after"] and '"denied"' not in res["diff"][0]["before"]
    assert (tmp_path / "b.json").read_text() == _nice_json(changed["b"])
    assert (tmp_path / "down.json").read_text() == kept  # unreachable this run: the earlier file stays
    assert (tmp_path / "a.json").stat().st_mtime_ns == mtime_a


def test_host_dir_mode_change_rewrites(tmp_path):
    hosts = {"a": sample_facts()}
    run_module_main(nsverify_audit_summary, {"hosts": hosts, "host_dir": str(tmp_path)})
    res = run_module_main(nsverify_audit_summary, {"hosts": hosts, "host_dir": str(tmp_path), "mode": "0600"})
    assert res["changed"] is True and oct((tmp_path / "a.json").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("host", ["../escape", ".hidden"], ids=["slash", "leading-dot"])
def test_host_name_that_cannot_be_a_file_name_fails_naming_it(tmp_path, host):
    res = run_module_main(nsverify_audit_summary, {"hosts": {host: sample_facts()}, "host_dir": str(tmp_path / "d")})
    assert res["failed"] and repr(host) in res["msg"] and "rename the inventory host" in res["msg"]
    assert not (tmp_path / "d").exists() and not (tmp_path / "escape.json").exists()

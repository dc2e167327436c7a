"""The playbooks are lists of roles: each role checks its variables against meta/argument_specs.yml
before doing anything, and the short playbooks keep their documented behaviour (cheap cases here; the
full runs are in test_container_playbook.py, test_report_playbook.py, test_namespace_facts_playbook.py)."""

import os
import re
from pathlib import Path

import pytest
import yaml
from conftest import run_playbook

ROOT = Path(__file__).resolve().parents[2]


def playbook(tmp, name, *extra):
    return run_playbook(tmp, name, *extra, timeout=300)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "playbooks").glob("*.yml")))
def test_every_playbook_is_a_list_of_roles(name):
    plays = yaml.safe_load((ROOT / "playbooks" / name).read_text())
    for play in plays:
        assert play.get("roles") and not any(k in play for k in ("tasks", "pre_tasks", "post_tasks")), name


@pytest.mark.parametrize(
    "name,extra,words",
    [
        ("verify.yml", ["-e", "nsverify_verify_target=bogus"], "nsverify_verify_target"),
        ("audit.yml", ["-e", '{"nsverify_audit_types": ["mnt", "nsvbogus"]}'], "nsverify_audit_types"),
        ("namespaces.yml", ["-e", "nsverify_namespaces_state=gone"], "nsverify_namespaces_state"),
        ("report.yml", ["-e", '{"nsverify_report_formats": ["pdf"]}'], "nsverify_report_formats"),
    ],
    ids=["verify-target", "audit-types", "namespaces-state", "report-formats"],
)
def test_a_bad_variable_stops_the_role_before_it_acts(tmp_path, name, extra, words):
    res = playbook(tmp_path, name, *extra)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "Validating arguments against arg spec" in out and words in out and "must be one" in out, out[-3000:]


@pytest.mark.skipif(os.geteuid() != 0, reason="busybox_container state absent needs root")
def test_teardown_of_a_name_nsverify_does_not_know_changes_nothing(tmp_path):
    res = playbook(tmp_path, "teardown.yml", "-e", '{"nsverify_teardown_names": ["nsv-h3-none"]}')
    assert res.returncode == 0, res.stdout[-3000:]
    assert re.search(r"localhost\s+:\s+ok=\d+\s+changed=0\s", res.stdout), res.stdout[-3000:]

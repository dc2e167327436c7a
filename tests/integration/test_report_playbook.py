"""playbooks/report.yml for real on this host: the real audit and the real proofs, rendered into a
tmp dir, with waivers; a second run with the same outcome is changed=0; check mode writes
nothing; a bad waiver file stops the play with a clear message.

The container is left out (nsverify_report_container_name=""): container checks are proven by the
container's own tests; the report's handling of them runs on captured results in
tests/unit/test_report_captured.py.
"""

import json
import os
import re
from pathlib import Path

import pytest
from conftest import run_playbook

from ansible.module_utils.nsverify import catalog, controls, report

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "report.yml"
SUMMARY_RE = re.compile(r"localhost: (Count: \d+, Passed: \d+, Failed: \d+, Skipped: \d+, Waived: \d+)")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the proofs create namespaces of every type: needs root")


def playbook(tmp, *extra):
    return run_playbook(
        tmp,
        "report.yml",
        "-e",
        "nsverify_report_container_name=''",
        *extra,
    )


def recap(stdout):
    m = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", stdout)
    assert m, stdout[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups())))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real runs with the same inputs: a forced NS-KRN-010 failure (min headroom beyond any real
    limit) covered by a valid waiver, and an expired waiver for NS-KRN-008."""
    tmp = tmp_path_factory.mktemp("report")
    waivers = tmp / "waivers.yml"
    waivers.write_text(
        "waivers:\n"
        "  - control: NS-KRN-010\n"
        "    justification: test fleet runs at a deliberately impossible headroom target\n"
        "    hosts: [localhost]\n"
        "    expires: 2099-12-31\n"
        "  - control: NS-KRN-008\n"
        "    justification: an exception that ran out\n"
        "    expires: 2020-01-01\n"
    )
    args = [
        "-e",
        "nsverify_report_dir=%s" % (tmp / "reports"),
        "-e",
        "nsverify_report_waivers=%s" % waivers,
        "-e",
        "nsverify_report_min_headroom=1000000000",
    ]
    first = playbook(tmp, *args)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    json_path = tmp / "reports" / "nsverify-report.json"
    data = json.loads(json_path.read_text())
    mtime = json_path.stat().st_mtime_ns
    second = playbook(tmp, *args)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    return {
        "tmp": tmp,
        "first": first,
        "second": second,
        "data": data,
        "mtime": mtime,
        "data2": json.loads(json_path.read_text()),
        "mtime2": json_path.stat().st_mtime_ns,
    }


def test_report_files_are_written_and_summary_printed(runs):
    reports = runs["tmp"] / "reports"
    assert sorted(os.listdir(reports)) == [
        "hosts",  # the fleet merge's per-host files (docs/FLEET.md)
        "nsverify-report.html",
        "nsverify-report.json",
        "nsverify-report.junit.xml",
        "nsverify-report.md",
        "nsverify-report.sarif",
    ]
    host = runs["data"]["hosts"]["localhost"]
    printed = SUMMARY_RE.findall(runs["first"].stdout)
    assert printed == [host["summary_line"]]
    assert recap(runs["first"].stdout)["changed"] == 1
    # the files on disk are the last run's: workloads of other tools may come or go between the two runs
    last = runs["data2"]["hosts"]["localhost"]["summary_line"]
    assert last in (reports / "nsverify-report.html").read_text()
    assert last in (reports / "nsverify-report.md").read_text()


def test_audit_controls_are_the_mapped_real_verdicts(runs):
    entries = {e["id"]: e for e in runs["data"]["hosts"]["localhost"]["controls"]}
    for name in catalog.TYPE_NAMES:
        entry = entries[controls.audit_control(name).id]
        assert entry["evidence"]["verdict"] in catalog.VERDICTS
        assert entry["status"] == report.VERDICT_STATUS[entry["evidence"]["verdict"]]
        assert entry["evidence"]["evidence"]["probe"]["attempted"] is True  # the kernel was exercised


def test_every_proof_control_carries_a_real_result(runs):
    entries = {e["id"]: e for e in runs["data"]["hosts"]["localhost"]["controls"]}
    for control in controls.for_source("proof"):
        entry = entries[control.id]
        assert entry["status"] in ("pass", "fail", "skip"), entry
        if entry["status"] != "skip":
            assert entry["evidence"], entry  # what was done and seen, from the real proof
    assert not [c for c in entries if c.startswith("NS-CTR-")]  # container left out


def test_waiver_turns_the_real_failure_into_waived_and_flags_the_expired_one(runs):
    host = runs["data"]["hosts"]["localhost"]
    entries = {e["id"]: e for e in host["controls"]}
    headroom = entries["NS-KRN-010"]
    assert headroom["status"] == "waived"
    assert headroom["reason"].startswith("headroom below 1000000000")
    assert headroom["waiver"]["justification"].startswith("test fleet")
    assert [w["control"] for w in host["waivers"]["expired"]] == ["NS-KRN-008"]
    assert entries["NS-KRN-008"]["waiver_expired"]["expires"] == "2020-01-01"
    assert host["summary"]["waived"] == 1
    assert host["summary_line"].endswith("Waived: 1")


def test_second_run_is_unchanged_when_the_outcome_is(runs):
    """changed only when the outcome (statuses, waivers) changes: the same outcome leaves the files and
    their generation time alone; a proof flipping between the runs must show as changed."""
    same = runs["data"]["outcome_digest"] == runs["data2"]["outcome_digest"]
    changed = recap(runs["second"].stdout)["changed"]
    if same:
        assert changed == 0
        assert runs["mtime2"] == runs["mtime"]
        assert runs["data2"]["generated"] == runs["data"]["generated"]
    else:
        assert changed == 1 and runs["mtime2"] != runs["mtime"]
    assert SUMMARY_RE.findall(runs["second"].stdout) == [runs["data2"]["hosts"]["localhost"]["summary_line"]]


REPORT_ONLY = ["--skip-tags", "audit,verify,container,workloads"]


def test_check_mode_reports_changed_and_writes_nothing(tmp_path):
    res = playbook(tmp_path, "--check", "-e", "nsverify_report_dir=%s" % (tmp_path / "reports"), *REPORT_ONLY)
    assert res.returncode == 0, res.stdout[-3000:]
    assert recap(res.stdout)["changed"] == 1
    assert not (tmp_path / "reports").exists()


def test_bad_waiver_file_stops_the_play_with_a_clear_message(tmp_path):
    waivers = tmp_path / "waivers.yml"
    waivers.write_text("waivers:\n  - control: NS-KRN-404\n  - control: NS-KRN-001\n")
    res = playbook(
        tmp_path,
        "-e",
        "nsverify_report_dir=%s" % (tmp_path / "reports"),
        "-e",
        "nsverify_report_waivers=%s" % waivers,
        *REPORT_ONLY,
    )
    assert res.returncode != 0
    assert "unknown control id 'NS-KRN-404'" in res.stdout
    assert "waiver #2 (NS-KRN-001): missing 'justification'" in res.stdout
    assert not (tmp_path / "reports").exists()


def test_gate_fails_the_host_after_writing_and_printing(tmp_path):
    """A real failure of the real audit (headroom target beyond any limit) with the gate on: the report
    is written and the summary printed, then the host fails naming the control."""
    res = playbook(
        tmp_path,
        "-e",
        "nsverify_report_dir=%s" % (tmp_path / "reports"),
        "-e",
        "nsverify_report_min_headroom=1000000000",
        "-e",
        "nsverify_report_fail_on_failed=true",
        "--skip-tags",
        "verify,container",
    )
    assert res.returncode != 0
    assert recap(res.stdout)["failed"] == 1
    assert "localhost: failed controls NS-KRN-010" in res.stdout
    assert SUMMARY_RE.search(res.stdout)
    data = json.loads((tmp_path / "reports" / "nsverify-report.json").read_text())
    assert data["hosts"]["localhost"]["summary"]["fail"] >= 1


@pytest.fixture
def running_container():
    """A BusyBox container of our own (container engine), removed afterwards with everything it made;
    a rootfs built for it is removed too."""
    from ansible.module_utils.nsverify import container, rootfs

    try:
        info = rootfs.query_binary(rootfs.DEFAULT_BINARY)
    except Exception as exc:  # busybox-static missing
        pytest.skip("no static busybox to build a rootfs from: %s" % exc)
    path = rootfs.rootfs_path(info["version"])
    built = not rootfs.looks_like_rootfs(path)
    if built:
        path = rootfs.build()["path"]
    name = "nsvrp%d" % os.getpid()
    container.start(container.normalize(name, path))
    try:
        yield name
    finally:
        container.remove(name)
        assert container.leftovers(name) == {}
        if built:
            rootfs.remove(path)


def test_container_checks_of_a_running_container_join_the_report(tmp_path, running_container):
    res = playbook(
        tmp_path,
        "-e",
        "nsverify_report_dir=%s" % (tmp_path / "reports"),
        "-e",
        "nsverify_report_container_name=%s" % running_container,
        "--skip-tags",
        "audit,verify",
    )
    assert res.returncode == 0, res.stdout[-4000:]
    entries = {
        e["id"]: e
        for e in json.loads((tmp_path / "reports" / "nsverify-report.json").read_text())["hosts"]["localhost"][
            "controls"
        ]
    }
    ctr = [c.id for c in controls.for_source("container")]
    assert all(entries[c]["source"] == "container" for c in ctr)
    ran = [c for c in ctr if entries[c]["status"] != "skip"]
    assert "NS-CTR-011" in ran and "NS-CTR-001" in ran  # real checks against the real container
    assert entries["NS-CTR-011"]["evidence"]


def test_a_container_that_does_not_run_stays_out_of_the_report(tmp_path):
    """busybox_container_info answers absent: no container check runs and no NS-CTR control is reported;
    with nsverify_report_workloads=false no workload is inspected and no NS-WKL control is reported."""
    res = playbook(
        tmp_path,
        "-e",
        "nsverify_report_dir=%s" % (tmp_path / "reports"),
        "-e",
        "nsverify_report_container_name=nsv-h3-absent",
        "-e",
        "nsverify_report_workloads=false",
        "--skip-tags",
        "audit,verify",
    )
    assert res.returncode == 0, res.stdout[-4000:]
    assert "Look for the running BusyBox container" in res.stdout
    data = json.loads((tmp_path / "reports" / "nsverify-report.json").read_text())
    sources = {e["source"] for e in data["hosts"]["localhost"]["controls"]}
    assert "container" not in sources and "workload" not in sources
    assert data["hosts"]["localhost"]["inputs"]["container"] is False
    assert data["hosts"]["localhost"]["inputs"]["workloads"] is False


def test_workload_controls_name_every_discovered_workload(tmp_path, running_container):
    """report.yml inspects the workloads of the host (namespace_inspect, discovery on): each NS-WKL control is
    one record naming every workload it judged, our running container among them with its real verdict."""
    res = playbook(
        tmp_path,
        "-e",
        "nsverify_report_dir=%s" % (tmp_path / "reports"),
        "--skip-tags",
        "audit,verify,container",
    )
    assert res.returncode == 0, res.stdout[-4000:]
    assert "NS-WKL-001..012 | INSPECT" in res.stdout
    host = json.loads((tmp_path / "reports" / "nsverify-report.json").read_text())["hosts"]["localhost"]
    assert host["inputs"]["workloads"] is True
    entries = {e["id"]: e for e in host["controls"] if e["source"] == "workload"}
    assert sorted(entries) == sorted(c.id for c in controls.for_source("workload"))
    ours = "nsverify:%s" % running_container
    for cid, entry in entries.items():
        rows = {w["name"]: w for w in entry["workloads"]}
        assert ours in rows, (cid, entry["reason"])
        assert rows[ours]["runtime"] == "nsverify" and rows[ours]["status"] in ("pass", "fail")
        assert ours in entry["reason"] and ours in entry["evidence"]["workloads"]
        assert entry["status"] == ("fail" if any(w["status"] == "fail" for w in rows.values()) else "pass")
    # the container has its own net, pid, ipc, uts, mnt and cgroup namespaces: NS-WKL-001..006 pass for it
    for cid in ("NS-WKL-001", "NS-WKL-002", "NS-WKL-003", "NS-WKL-004", "NS-WKL-005", "NS-WKL-006"):
        row = {w["name"]: w for w in entries[cid]["workloads"]}[ours]
        assert row["status"] == "pass", (cid, row)
    # no user namespace by default: its root is the host's root (NS-WKL-007 fails naming the reason)
    row = {w["name"]: w for w in entries["NS-WKL-007"]["workloads"]}[ours]
    assert row["status"] == "fail" and "host's user namespace" in row["reason"]

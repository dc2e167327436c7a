"""docs/FLEET.md, what can be shown on one machine: playbooks/audit.yml, unchanged, over an inventory of many
local aliases with forks and `strategy: free`, and run as two job slices (disjoint --limit halves, as AWX job
slicing runs them) into one audit directory. Each run writes the JSON of exactly the hosts it saw; nothing
fails because a host of the other slice is missing. playbooks/report.yml run the same way (two --limit slices
into one report directory) writes each host's inputs to <dir>/hosts/<host>.json and renders one fleet report
with the hosts of both slices; a rerun with the same outcome is changed=0."""

import json
import os
import re
from pathlib import Path

import pytest
from conftest import run_playbook

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ["nsv-h4-fleet-%02d" % i for i in range(1, 9)]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the audit as root on local aliases needs root")


def _inventory(path):
    lines = [
        "all:",
        "  vars:",
        "    ansible_connection: local",
        '    ansible_python_interpreter: "{{ ansible_playbook_python }}"',
    ]
    lines += ["  children:", "    fleet:", "      hosts:"] + ["        %s:" % h for h in HOSTS]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_play(base, playbook, *extra, strategy=None):
    """ansible-playbook playbooks/<playbook> over the fleet inventory: (stdout, {host: failed=N}, {host: changed})."""
    env = {"ANSIBLE_STRATEGY": strategy} if strategy else None  # the play itself stays as it is
    proc = run_playbook(base, playbook, "-i", str(base / "fleet.yml"), *extra, timeout=400, env=env)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    rows = re.findall(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=0\s+(failed=\d+)", proc.stdout, re.M)
    return proc.stdout, {h: f for h, _, f in rows}, {h: int(c) for h, c, _ in rows}


def run_audit(base, out_dir, *extra, strategy=None):
    stdout, recap, _ = run_play(base, "audit.yml", "-e", "nsverify_audit_dir=%s" % out_dir, *extra, strategy=strategy)
    return stdout, recap


def _summary_hosts(out_dir):
    text = (out_dir / "summary.md").read_text()
    return sorted(set(re.findall(r"^\| (nsv-h4-fleet-\d\d) \| \S", text, re.M)))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tmp_path_factory.mktemp("nsv-fleet")
    _inventory(base / "fleet.yml")
    return base


def test_forks_and_strategy_free_audit_every_alias(base):
    out = base / "free"
    stdout, recap = run_audit(base, out, "--forks", "8", strategy="free")
    assert sorted(recap) == HOSTS and set(recap.values()) == {"failed=0"}
    verdicts = {}
    for host in HOSTS:
        facts = json.loads((out / ("%s.json" % host)).read_text())
        verdicts[host] = {t: v["verdict"] for t, v in facts["types"].items()}
    assert len(verdicts[HOSTS[0]]) == 8 and verdicts[HOSTS[0]]["mnt"] == "supported"
    assert all(v == verdicts[HOSTS[0]] for v in verdicts.values())  # one kernel behind every alias
    # the summary is rendered once (run_once) from the hosts whose facts exist by then; under `free` that can
    # be fewer than all (docs/FLEET.md): the per-host JSON is the complete record
    summary = _summary_hosts(out)
    print("strategy free: summary.md lists %d of %d hosts" % (len(summary), len(HOSTS)))
    assert set(summary) <= set(HOSTS)


def test_job_slices_write_their_own_hosts_and_keep_the_others(base):
    out = base / "sliced"
    first, second = HOSTS[:4], HOSTS[4:]
    _, recap1 = run_audit(base, out, "--limit", ",".join(first), "--forks", "4")
    assert sorted(recap1) == first and set(recap1.values()) == {"failed=0"}
    assert sorted(p.stem for p in out.glob("*.json")) == first
    assert _summary_hosts(out) == first  # a slice's summary covers the slice: it never sees the others
    mtimes = {h: (out / ("%s.json" % h)).stat().st_mtime_ns for h in first}

    _, recap2 = run_audit(base, out, "--limit", ",".join(second), "--forks", "4")
    assert sorted(recap2) == second and set(recap2.values()) == {"failed=0"}
    assert sorted(p.stem for p in out.glob("*.json")) == HOSTS  # both slices' hosts are there
    assert {h: (out / ("%s.json" % h)).stat().st_mtime_ns for h in first} == mtimes  # slice 2 left slice 1 alone
    assert _summary_hosts(out) == second


def run_report(base, out_dir, hosts):
    # the real audit per host; proofs, container and workloads left out (the same for every alias, and slow)
    return run_play(
        base,
        "report.yml",
        "-e",
        "nsverify_report_dir=%s" % out_dir,
        "-e",
        "nsverify_report_container_name=",
        "--skip-tags",
        "verify,container,workloads",
        "--limit",
        ",".join(hosts),
        "--forks",
        "4",
    )


def test_report_slices_merge_into_one_fleet_report(base):
    out = base / "report"
    first, second = HOSTS[:4], HOSTS[4:]
    _, recap1, _ = run_report(base, out, first)
    assert sorted(recap1) == first and set(recap1.values()) == {"failed=0"}
    assert sorted(json.loads((out / "nsverify-report.json").read_text())["hosts"]) == first
    audited = {h: json.loads((out / "hosts" / ("%s.json" % h)).read_text())["audited"] for h in first}

    stdout, recap2, _ = run_report(base, out, second)
    assert sorted(recap2) == second and set(recap2.values()) == {"failed=0"}
    data = json.loads((out / "nsverify-report.json").read_text())
    assert sorted(data["hosts"]) == HOSTS  # both slices in one report
    assert data["merge"]["this_run"] == second and data["merge"]["from_files"] == first
    assert sorted(p.stem for p in (out / "hosts").glob("*.json")) == HOSTS
    for h in first:  # slice 2 took slice 1's hosts from their files, as they were audited then
        assert data["hosts"][h]["audited"] == audited[h]
        assert data["hosts"][h]["inputs"]["audit"] is True
        assert data["hosts"][h]["summary_line"] == data["hosts"][HOSTS[-1]]["summary_line"]  # one kernel
    fleet = re.search(r"fleet: (Count: (\d+), .*?)\s\|", stdout)
    assert fleet and int(fleet.group(2)) == sum(r["summary"]["count"] for r in data["hosts"].values())
    for name in ("nsverify-report.md", "nsverify-report.html", "nsverify-report.junit.xml", "nsverify-report.sarif"):
        text = (out / name).read_text()
        assert all(h in text for h in HOSTS) or name.endswith(".sarif"), name

    _, recap3, changed3 = run_report(base, out, second)
    assert set(recap3.values()) == {"failed=0"} and set(changed3.values()) == {0}  # same outcome: changed=0

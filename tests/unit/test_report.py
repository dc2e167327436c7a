"""Report engine: control evaluation, waivers, summary line, renderers.

Inputs here are SAMPLE results: hand-written dicts that follow the documented shapes of
namespace_facts (ansible_facts.nsverify) and namespace_verify (proofs) exactly. The same
engine is run on results captured from the real modules in test_report_captured.py and in
tests/integration/test_report_playbook.py.
"""

import copy
import datetime
import json
import re

import pytest
from test_report_samples import sample_facts, sample_proofs, sample_type

from ansible.module_utils.nsverify import catalog, controls, report

TODAY = datetime.date(2026, 11, 23)


def by_id(entries):
    return {e["id"]: e for e in entries}


# ------------------------------------------------------------ audit verdicts -> statuses

VERDICT_CASES = [
    ("supported", "pass"),
    ("kernel-too-old", "skip"),
    ("not-built", "fail"),
    ("limit-zero", "fail"),
    ("denied", "fail"),
    ("unknown", "fail"),
    ("something-new", "fail"),
]


def test_every_catalog_verdict_has_a_status():
    assert sorted(report.VERDICT_STATUS) == sorted(catalog.VERDICTS)


@pytest.mark.parametrize("verdict,status", VERDICT_CASES, ids=[v for v, _ in VERDICT_CASES])
@pytest.mark.parametrize("ns", ["time", "user"])
def test_audit_verdict_maps_to_status(verdict, status, ns):
    facts = sample_facts(**{ns: sample_type(ns, verdict)})
    entries = by_id(report.evaluate_audit(facts))
    entry = entries[controls.audit_control(ns).id]
    assert entry["status"] == status
    assert entry["namespace"] == ns and entry["source"] == "audit"
    assert entry["evidence"]["verdict"] == verdict
    others = [e for i, e in entries.items() if i.startswith("NS-KRN-00") and i != entry["id"] and i != "NS-KRN-009"]
    assert all(e["status"] == "pass" for e in others)


def test_contradiction_is_kept_in_reason_and_evidence():
    facts = sample_facts(time=sample_type("time", "supported", contradiction="release 5.4 < 5.6 but probe worked"))
    entry = by_id(report.evaluate_audit(facts))["NS-KRN-008"]
    assert entry["status"] == "pass"
    assert "contradiction: release 5.4" in entry["reason"]
    assert entry["evidence"]["contradiction"].startswith("release 5.4")


@pytest.mark.parametrize(
    "mode,note",
    [("live", False), ("static", True), ("offline", True), (None, False)],
    ids=["live", "static", "offline", "unset"],
)
def test_audit_mode_without_probes_is_said_next_to_the_verdict(mode, note):
    facts = sample_facts()
    facts["mode"] = mode
    entry = by_id(report.evaluate_audit(facts))["NS-KRN-001"]
    assert entry["status"] == "pass"
    assert ("no namespace was created" in entry["reason"]) == note


def test_audit_records_take_the_control_id_the_audit_gave(monkeypatch):
    """The audit names each fact's control; the report keeps that ID instead of looking it up again."""

    def no_lookup(name):
        raise AssertionError("looked up the control of %s again" % name)

    facts = sample_facts()
    monkeypatch.setattr(controls, "audit_control", no_lookup)
    entries = by_id(report.evaluate_audit(facts))
    assert [e["id"] for e in entries.values()][:8] == ["NS-KRN-00%d" % i for i in range(1, 9)]
    assert all("control_id" not in e["evidence"] for e in entries.values())


def test_every_entry_is_the_one_control_record():
    rep = report.evaluate_host("h", sample_facts(), sample_proofs(), [{"id": "NS-CTR-001", "status": "pass"}])
    for e in rep["controls"]:
        assert e == controls.record(e["id"], e["status"], e["evidence"], e["reason"]), e["id"]


def test_whole_ansible_facts_are_unwrapped():
    wrapped = {"nsverify": sample_facts(time=sample_type("time", "denied"))}
    assert by_id(report.evaluate_audit(wrapped))["NS-KRN-008"]["status"] == "fail"


@pytest.mark.parametrize("facts", [None, {}], ids=["none", "empty"])
def test_missing_audit_facts_skip_every_audit_control_with_reason(facts):
    entries = report.evaluate_audit(facts)
    assert [e["id"] for e in entries] == [c.id for c in controls.for_source("audit")]
    assert {e["status"] for e in entries} == {"skip"}
    assert all("no audit facts" in e["reason"] for e in entries)


def test_type_missing_from_facts_is_skipped_not_passed():
    facts = sample_facts()
    del facts["types"]["cgroup"]
    assert by_id(report.evaluate_audit(facts))["NS-KRN-007"]["status"] == "skip"


POLICY_CASES = [
    ("reported", {"unprivileged_userns_clone": 1}, "pass"),
    ("can-create-and-use", {"unprivileged_can_create": True, "unprivileged_can_use_capabilities": True}, "pass"),
    (
        "cannot-create-is-still-known",
        {
            "unprivileged_can_create": False,
            "unprivileged_userns_clone": 0,
            "notes": ["kernel.unprivileged_userns_clone=0"],
        },
        "pass",
    ),
    ("undetermined", {"unprivileged_can_create": None}, "fail"),
    ("missing", None, "fail"),
    ("empty", {}, "fail"),
    ("unknown-verdict", {"verdict": "unknown", "reason": "sysctl unreadable"}, "fail"),
    ("known-false", {"known": False}, "fail"),
]


@pytest.mark.parametrize("policy,status", [(p, s) for _, p, s in POLICY_CASES], ids=[i for i, _, _ in POLICY_CASES])
def test_userns_policy_control(policy, status):
    facts = sample_facts()
    facts["userns_policy"] = policy
    entry = by_id(report.evaluate_audit(facts))["NS-KRN-009"]
    assert entry["status"] == status
    if policy and policy.get("unprivileged_can_create") is False:
        assert entry["reason"].startswith("unprivileged users cannot create user namespaces")
        assert "kernel.unprivileged_userns_clone=0" in entry["reason"]


def test_real_audit_of_this_host_maps_every_verdict():
    """The audit engine for real on this kernel (no Ansible), evaluated: each NS-KRN-00N status is the
    mapping of the verdict the audit found, with the audit's evidence attached."""
    from ansible.module_utils.nsverify import audit

    facts = audit.audit()
    entries = by_id(report.evaluate_audit(facts))
    for name in catalog.TYPE_NAMES:
        entry = entries[controls.audit_control(name).id]
        verdict = facts["types"][name]["verdict"]
        assert entry["status"] == report.VERDICT_STATUS[verdict], (name, verdict)
        assert entry["evidence"]["evidence"] == facts["types"][name]["evidence"]
    headroom = entries["NS-KRN-010"]
    limits = {n for n, t in facts["types"].items() if t["limit"] is not None}
    assert set(headroom["evidence"]["types"]) == limits
    short = [
        n
        for n in limits
        if facts["types"][n]["count"] is not None and facts["types"][n]["limit"] - facts["types"][n]["count"] < 1
    ]
    assert headroom["status"] == ("skip" if not limits else "fail" if short else "pass")
    assert entries["NS-KRN-009"]["status"] in ("pass", "fail")


HEADROOM_CASES = [
    # id, {type: (count, limit)}, min_headroom, status
    ("plenty", {"net": (3, 63000)}, 1, "pass"),
    ("at-limit", {"net": (63000, 63000)}, 1, "fail"),
    ("limit-zero", {"time": (0, 0)}, 1, "fail"),
    ("one-left-min-1", {"pid": (9, 10)}, 1, "pass"),
    ("one-left-min-2", {"pid": (9, 10)}, 2, "fail"),
    ("count-unknown", {"net": (None, 63000)}, 1, "pass"),
    ("no-limits-reported", {}, 1, "skip"),
]


@pytest.mark.parametrize("table,minimum,status", [c[1:] for c in HEADROOM_CASES], ids=[c[0] for c in HEADROOM_CASES])
def test_headroom_control(table, minimum, status):
    facts = sample_facts(**{n: sample_type(n, count=None, limit=None) for n in catalog.TYPE_NAMES})
    for name, (count, limit) in table.items():
        facts["types"][name] = sample_type(name, count=count, limit=limit)
    entry = by_id(report.evaluate_audit(facts, min_headroom=minimum))["NS-KRN-010"]
    assert entry["status"] == status
    assert entry["evidence"]["min_headroom"] == minimum
    for name, (_count, limit) in table.items():
        assert entry["evidence"]["types"][name]["limit"] == limit


# ------------------------------------------------------------ proofs


def test_proof_checks_map_one_to_one():
    proofs = sample_proofs()
    proofs["pid"]["checks"][1]["status"] = "fail"
    proofs["pid"]["status"] = "failed"
    entries = by_id(report.evaluate_proofs(proofs))
    assert set(entries) == {c.id for c in controls.for_source("proof")}
    assert entries["NS-PID-002"]["status"] == "fail"
    assert entries["NS-PID-002"]["evidence"] == {"seen": "pid"}
    assert sum(e["status"] == "pass" for e in entries.values()) == len(entries) - 1


def test_skipped_type_skips_its_controls_with_the_verdict():
    proofs = sample_proofs()
    proofs["time"] = {
        "status": "skipped",
        "checks": [],
        "verdict": "kernel-too-old",
        "reason": "kernel 5.4 is below 5.6",
    }
    entries = by_id(report.evaluate_proofs(proofs))
    for cid in ("NS-TIME-001", "NS-TIME-002"):
        assert entries[cid]["status"] == "skip"
        assert entries[cid]["reason"] == "kernel-too-old: kernel 5.4 is below 5.6"
        assert entries[cid]["evidence"]["verdict"] == "kernel-too-old"


PROOF_EDGE_CASES = [
    ("type-not-requested", lambda p: p.pop("net"), "NS-NET-001", "skip", "not verified"),
    ("check-not-run", lambda p: p["net"]["checks"].pop(0), "NS-NET-001", "skip", "did not run"),
    ("unknown-status", lambda p: p["uts"]["checks"][0].update(status="ok"), "NS-UTS-001", "fail", "unrecognised"),
]


@pytest.mark.parametrize(
    "mutate,cid,status,words", [c[1:] for c in PROOF_EDGE_CASES], ids=[c[0] for c in PROOF_EDGE_CASES]
)
def test_proof_edge_cases(mutate, cid, status, words):
    proofs = sample_proofs()
    mutate(proofs)
    entry = by_id(report.evaluate_proofs(proofs))[cid]
    assert entry["status"] == status and words in entry["reason"]


def test_check_not_in_catalogue_is_kept_not_dropped():
    proofs = sample_proofs()
    proofs["net"]["checks"].append(
        {"id": "NS-NET-099", "title": "future check", "status": "fail", "evidence": {"x": 1}}
    )
    entry = by_id(report.evaluate_proofs(proofs))["NS-NET-099"]
    assert entry["status"] == "fail" and entry["namespace"] == "net" and entry["title"] == "future check"


def test_no_proof_results_skips_every_proof_control():
    entries = report.evaluate_proofs(None)
    assert len(entries) == len(controls.for_source("proof"))
    assert {e["status"] for e in entries} == {"skip"}


CONTAINER_CASES = [
    ("absent", None, 0),
    ("empty-dict", {}, 0),
    ("list", [{"id": "NS-CTR-001", "title": "t", "status": "pass", "evidence": {}}], 11),
    ("dict-with-checks", {"checks": [{"id": "NS-CTR-002", "status": "fail", "evidence": {}}]}, 11),
]


@pytest.mark.parametrize("container,count", [c[1:] for c in CONTAINER_CASES], ids=[c[0] for c in CONTAINER_CASES])
def test_container_controls_only_when_given(container, count):
    entries = report.evaluate_container(container)
    assert len(entries) == count
    if count:
        assert {e["source"] for e in entries} == {"container"}
        statuses = {e["id"]: e["status"] for e in entries}
        given = report.container_checks(container)[0]
        assert statuses[given["id"]] == given["status"]
        assert sum(s == "skip" for s in statuses.values()) == 10


# ------------------------------------------------------------ waivers


def test_valid_waivers_are_normalised():
    data = {
        "waivers": [
            {
                "control": "NS-KRN-008",
                "justification": "  old kernels until Q3  ",
                "hosts": "web*",
                "expires": datetime.date(2027, 1, 31),
            },
            {
                "control": "NS-NET-003",
                "justification": "no veth module",
                "hosts": ["db1", "db2"],
                "expires": "2027-02-01",
            },
            {"id": "NS-USER-003", "justification": "accepted"},
        ]
    }
    waivers = report.parse_waivers(data)
    assert waivers == [
        {"control": "NS-KRN-008", "justification": "old kernels until Q3", "hosts": ["web*"], "expires": "2027-01-31"},
        {"control": "NS-NET-003", "justification": "no veth module", "hosts": ["db1", "db2"], "expires": "2027-02-01"},
        {"control": "NS-USER-003", "justification": "accepted", "hosts": ["*"], "expires": None},
    ]
    assert report.parse_waivers([data["waivers"][2]]) == waivers[2:]
    assert report.parse_waivers(None) == [] and report.parse_waivers({"waivers": None}) == []


INVALID_WAIVERS = [
    ("no-justification", [{"control": "NS-KRN-008"}], "missing 'justification'"),
    ("blank-justification", [{"control": "NS-KRN-008", "justification": "   "}], "missing 'justification'"),
    ("unknown-control", [{"control": "NS-FOO-001", "justification": "x"}], "unknown control id 'NS-FOO-001'"),
    ("no-control", [{"justification": "x"}], "missing 'control'"),
    ("bad-date", [{"control": "NS-KRN-008", "justification": "x", "expires": "next year"}], "bad 'expires'"),
    ("impossible-date", [{"control": "NS-KRN-008", "justification": "x", "expires": "2027-02-30"}], "bad 'expires'"),
    ("typo-key", [{"control": "NS-KRN-008", "justification": "x", "expire": "2027-01-01"}], "unknown key(s) 'expire'"),
    ("bad-hosts", [{"control": "NS-KRN-008", "justification": "x", "hosts": []}], "'hosts' must be"),
    ("not-a-mapping", ["NS-KRN-008"], "expected a mapping"),
    ("not-a-list", {"waivers": "NS-KRN-008"}, "expected a list"),
    ("top-level-typo", {"waiver": []}, "unknown top-level key(s) 'waiver'"),
]


@pytest.mark.parametrize("data,message", [c[1:] for c in INVALID_WAIVERS], ids=[c[0] for c in INVALID_WAIVERS])
def test_invalid_waivers_are_rejected_with_a_clear_error(data, message):
    with pytest.raises(report.WaiverError) as err:
        report.parse_waivers(data)
    assert message in str(err.value)


def test_all_waiver_problems_are_reported_at_once():
    with pytest.raises(report.WaiverError) as err:
        report.parse_waivers([{"control": "NS-X"}, {"control": "NS-KRN-001", "justification": ""}])
    text = str(err.value)
    assert "waiver #1 (NS-X)" in text and "waiver #2 (NS-KRN-001)" in text


FAIL_TIME = sample_facts(time=sample_type("time", "not-built"))

WAIVER_CASES = [
    # id, waiver, host, expected NS-KRN-008 status, expected notes key
    ("applies", {"control": "NS-KRN-008", "justification": "j"}, "web1", "waived", "applied"),
    (
        "host-pattern-matches",
        {"control": "NS-KRN-008", "justification": "j", "hosts": "web*"},
        "web1",
        "waived",
        "applied",
    ),
    ("host-pattern-other", {"control": "NS-KRN-008", "justification": "j", "hosts": "db*"}, "web1", "fail", None),
    (
        "expires-today-still-valid",
        {"control": "NS-KRN-008", "justification": "j", "expires": "2026-11-23"},
        "web1",
        "waived",
        "applied",
    ),
    (
        "expired-yesterday",
        {"control": "NS-KRN-008", "justification": "j", "expires": "2026-11-22"},
        "web1",
        "fail",
        "expired",
    ),
    ("other-control", {"control": "NS-KRN-007", "justification": "j"}, "web1", "fail", "unused"),
]


@pytest.mark.parametrize("waiver,host,status,note", [c[1:] for c in WAIVER_CASES], ids=[c[0] for c in WAIVER_CASES])
def test_waiver_application(waiver, host, status, note):
    waivers = report.parse_waivers([waiver])
    rep = report.evaluate_host(host, copy.deepcopy(FAIL_TIME), sample_proofs(), waivers=waivers, today=TODAY)
    entry = by_id(rep["controls"])["NS-KRN-008"]
    assert entry["status"] == status
    for key in ("applied", "expired", "unused"):
        assert bool(rep["waivers"][key]) == (key == note), key
    if status == "waived":
        assert entry["waiver"]["justification"] == "j"
        assert entry["reason"].startswith("not-built")  # the original failure stays visible
    if note == "expired":
        assert entry["waiver_expired"]["expires"] == "2026-11-22"
        assert rep["summary"]["fail"] == 1 and rep["summary"]["waived"] == 0


def test_waiver_never_hides_a_pass():
    waivers = report.parse_waivers([{"control": "NS-KRN-001", "justification": "j"}])
    rep = report.evaluate_host("h", sample_facts(), sample_proofs(), waivers=waivers, today=TODAY)
    assert by_id(rep["controls"])["NS-KRN-001"]["status"] == "pass"
    assert rep["waivers"]["unused"][0]["status"] == "pass"


# ------------------------------------------------------------ summary


def test_summary_line_format():
    counts = {"count": 40, "pass": 30, "fail": 2, "skip": 7, "waived": 1}
    assert report.summary_line(counts) == "Count: 40, Passed: 30, Failed: 2, Skipped: 7, Waived: 1"


def test_host_summary_counts_every_control_once():
    facts = sample_facts(time=sample_type("time", "not-built"), cgroup=sample_type("cgroup", "kernel-too-old"))
    proofs = sample_proofs()
    proofs["time"] = {"status": "skipped", "checks": [], "verdict": "not-built", "reason": "no /proc/self/ns/time"}
    waivers = report.parse_waivers([{"control": "NS-KRN-008", "justification": "j"}])
    rep = report.evaluate_host("h", facts, proofs, waivers=waivers, today=TODAY)
    s = rep["summary"]
    n_controls = len(controls.for_source("audit")) + len(controls.for_source("proof"))
    assert s == {"count": n_controls, "pass": n_controls - 4, "fail": 0, "skip": 3, "waived": 1}
    assert rep["summary_line"] == "Count: %d, Passed: %d, Failed: 0, Skipped: 3, Waived: 1" % (
        n_controls,
        n_controls - 4,
    )


def test_fleet_summary_adds_hosts():
    rep = report.build_report(
        {
            "a": {"facts": sample_facts(), "proofs": sample_proofs()},
            "b": {"facts": FAIL_TIME, "proofs": sample_proofs("fail")},
        },
        today=TODAY,
    )
    assert rep["summary"]["count"] == rep["hosts"]["a"]["summary"]["count"] * 2
    assert rep["summary"]["fail"] == 1 + len(controls.for_source("proof"))
    assert rep["summary_line"].startswith("Count: %d, " % rep["summary"]["count"])
    assert [h for h, _ in report.failures(rep)].count("b") == rep["summary"]["fail"]


def test_json_controls_carry_the_documented_fields():
    rep = report.build_report({"a": {"facts": sample_facts(), "proofs": sample_proofs()}}, today=TODAY)
    data = json.loads(report.render_json(rep))
    assert data["schema"] == "nsverify-report/1"
    for entry in data["hosts"]["a"]["controls"]:
        assert {"id", "title", "namespace", "source", "status", "evidence", "reason"} <= set(entry)
        assert entry["status"] in controls.STATUSES


# ------------------------------------------------------------ outcome digest (decides `changed`)


def _rep(facts=None, proofs=None, waivers=(), generated="t1"):
    return report.build_report(
        {"a": {"facts": facts or sample_facts(), "proofs": proofs or sample_proofs()}},
        waivers=waivers,
        today=TODAY,
        generated=generated,
    )


def test_digest_ignores_generation_time_and_volatile_evidence():
    proofs = sample_proofs()
    proofs["pid"]["checks"][0]["evidence"] = {"host_pid": 4242, "inode": 4026532000}
    assert _rep(generated="t1")["outcome_digest"] == _rep(proofs=proofs, generated="t2")["outcome_digest"]


def test_digest_changes_with_a_status_or_a_waiver():
    base = _rep()["outcome_digest"]
    other = report.build_report(
        {"a": {"facts": sample_facts(), "proofs": sample_proofs()}}, today=TODAY, generated="t1", min_headroom=5
    )
    assert other["outcome_digest"] != base  # a different judgement is a different report
    assert _rep(facts=FAIL_TIME)["outcome_digest"] != base
    waivers = report.parse_waivers([{"control": "NS-KRN-008", "justification": "j"}])
    assert _rep(facts=FAIL_TIME, waivers=waivers)["outcome_digest"] != _rep(facts=FAIL_TIME)["outcome_digest"]


# ------------------------------------------------------------ renderers

EVIL = '<script>alert("x")</script>'


def _evil_report():
    facts = sample_facts(time=sample_type("time", "denied", evidence={"config_line": EVIL}))
    facts["types"]["time"]["reason"] = EVIL
    waivers = report.parse_waivers([{"control": "NS-KRN-008", "justification": EVIL, "hosts": "*"}])
    return report.build_report(
        {
            "evil<img src=x onerror=alert(1)>": {"facts": facts, "proofs": sample_proofs()},
            "b": {"facts": FAIL_TIME, "proofs": sample_proofs()},
        },
        waivers=waivers,
        today=TODAY,
        title="t " + EVIL,
        generated=EVIL,
    )


def test_html_escapes_evidence_reasons_titles_and_host_names():
    page = report.render_html(_evil_report())
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "evil&lt;img src=x onerror=alert(1)&gt;" in page


def test_html_is_self_contained():
    page = report.render_html(_evil_report())
    assert not re.search(r"<(link|script|img|iframe)\b", page, re.I)
    assert not re.search(r"(src|href)\s*=\s*\"(https?:)?//", page, re.I)
    assert "url(" not in page and "@import" not in page
    assert "<style>" in page


def test_html_carries_summary_matrix_and_folded_evidence():
    rep = _rep(facts=FAIL_TIME)
    page = report.render_html(rep)
    assert rep["summary_line"] in page and rep["hosts"]["a"]["summary_line"] in page
    assert 'class="matrix"' in page
    assert page.count("<details>") == rep["summary"]["count"]
    assert 'class="badge fail" href="#host-0-NS-KRN-008"' in page
    assert 'id="host-0-NS-KRN-008"' in page


def test_markdown_escapes_and_summarises():
    rep = _evil_report()
    text = report.render_markdown(rep)
    assert "<script" not in text and "&lt;script&gt;" in text
    assert rep["summary_line"] in text
    for host in rep["hosts"].values():
        assert host["summary_line"] in text
    table_rows = [line for line in text.splitlines() if line.startswith("| NS-KRN-008 ")]
    assert len(table_rows) == 1 and table_rows[0].count("|") == 5  # id, title, two hosts


def test_example_waiver_file_is_valid():
    from pathlib import Path

    import yaml

    path = Path(__file__).resolve().parents[2] / "playbooks" / "templates" / "report_waivers.example.yml"
    waivers = report.parse_waivers(yaml.safe_load(path.read_text()))
    assert [w["control"] for w in waivers] == ["NS-KRN-008", "NS-KRN-006"]
    assert waivers[0]["expires"] == "2027-09-30" and waivers[1]["hosts"] == ["db01", "db02"]


def test_markdown_evidence_stays_valid_json():
    rep = _evil_report()
    text = report.render_markdown(rep)
    spans = re.findall(r"  - evidence: `(.*)`$", text, re.M)
    assert spans
    decoded = [json.loads(span) for span in spans]  # every span is valid JSON
    lines = [d["evidence"].get("config_line") for d in decoded if "evidence" in d]
    assert EVIL in lines  # the tag survives as data, never as markup


@pytest.mark.parametrize(
    "n_hosts,compact",
    [(2, False), (report.COMPACT_MATRIX_HOSTS, False), (report.COMPACT_MATRIX_HOSTS + 1, True)],
    ids=["two", "at-threshold", "above-threshold"],
)
def test_matrix_turns_compact_for_large_fleets(n_hosts, compact):
    hosts = {"h%02d" % i: {"facts": sample_facts(), "proofs": sample_proofs()} for i in range(n_hosts)}
    hosts["h00"]["facts"] = FAIL_TIME
    page = report.render_html(report.build_report(hosts, today=TODAY))
    assert ('class="matrix compact"' in page) == compact
    # either way every host x control cell is there and the failure links to its evidence row
    assert page.count('href="#host-0-NS-KRN-008"') >= 1
    assert 'id="host-0-NS-KRN-008"' in page
    cells = page.count('class="sq ') if compact else page.count('<td class="s">')
    per_host = len(controls.for_source("audit")) + len(controls.for_source("proof"))
    assert cells == n_hosts * per_host

"""JUnit XML of a report, for CI test dashboards (Jenkins, GitLab, junitparser, xunitparser).

One <testsuite> per host (name = host), one <testcase> per control (classname nsverify.<host>.<source>,
name "<id> <title>"); a failed control is a <failure> whose message is the reason and whose text holds
the severity, evidence and remediation; a skipped control is <skipped> with its reason; a waived control
passes with the waiver in <system-out>. Takes the report that report_policy.enrich returns (severity and
remediation on each control); a plain build_report dict works too, without them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

# XML 1.0 forbids most control characters even as character references: evidence can hold any byte.
_XML_BAD = dict.fromkeys(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D))


def _text(value):
    return str(value if value is not None else "").translate(_XML_BAD)


def _detail(entry):
    lines = ["%s %s" % (entry["id"], entry["title"]), "status: %s" % entry["status"]]
    if entry.get("severity"):
        lines.append("severity: %s" % entry["severity"])
    lines.append("reason: %s" % entry.get("reason"))
    drift = entry.get("drift")
    if drift:
        lines.append("drift: %s (baseline status %s)" % (drift["state"], drift.get("before")))
    fix = entry.get("fix") or (entry.get("remediation") or {}).get("default")
    if fix:
        lines.append("remediation: %s" % fix)
    lines.append("evidence:")
    lines.append(json.dumps(entry.get("evidence"), indent=2, sort_keys=True, default=str))
    return "\n".join(lines)


def _testcase(suite, host, entry):
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "classname": "nsverify.%s.%s" % (host, entry.get("source") or "other"),
            "name": _text("%s %s" % (entry["id"], entry["title"])),
            "time": "0",
        },
    )
    status = entry["status"]
    if status == "fail":
        failure = ET.SubElement(
            case,
            "failure",
            {"message": _text(entry.get("reason")), "type": _text(entry.get("severity") or "fail")},
        )
        failure.text = _text(_detail(entry))
    elif status == "skip":
        ET.SubElement(case, "skipped", {"message": _text(entry.get("reason"))})
    elif status == "waived":
        waiver = entry.get("waiver") or {}
        out = ET.SubElement(case, "system-out")
        out.text = _text(
            "waived: %s%s\n%s"
            % (
                waiver.get("justification"),
                " (until %s)" % waiver["expires"] if waiver.get("expires") else "",
                _detail(entry),
            )
        )
    elif (entry.get("drift") or {}).get("state") not in (None, "unchanged", "new"):
        # a pass or skip that changed since the baseline (fixed, changed evidence) says so
        out = ET.SubElement(case, "system-out")
        out.text = _text("drift: %s (baseline status %s)" % (entry["drift"]["state"], entry["drift"].get("before")))
    return case


def _drift_counts(report, host):
    counts = (((report.get("drift") or {}).get("hosts") or {}).get(host) or {}).get("counts") or {}
    return ", ".join("%s %d" % (k, n) for k, n in counts.items() if n)


def render_junit(report):
    """The report as a JUnit XML document (str, UTF-8 declared)."""
    counts = report["summary"]
    root = ET.Element(
        "testsuites",
        {
            "name": _text(report.get("title") or "nsverify"),
            "tests": str(counts["count"]),
            "failures": str(counts["fail"]),
            "errors": "0",
            "skipped": str(counts["skip"]),
            "time": "0",
        },
    )
    for host, r in report["hosts"].items():
        s = r["summary"]
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": _text(host),
                "tests": str(s["count"]),
                "failures": str(s["fail"]),
                "errors": "0",
                "skipped": str(s["skip"]),
                "time": "0",
                "timestamp": _text(report.get("generated") or report.get("date")),
                "hostname": _text(host),
            },
        )
        for entry in r["controls"]:
            _testcase(suite, host, entry)
        # Host facts as suite output, not <properties>: xunitparser merges every suite's properties into
        # one mapping and refuses a name twice.
        facts = (
            ("kernel", r.get("kernel")),
            ("audited", r.get("audited")),
            ("stale", (r.get("stale") or {}).get("reason")),
            ("summary", r.get("summary_line")),
            ("profile", (report.get("profile") or {}).get("name")),
            ("schema", report.get("schema")),
            ("drift", _drift_counts(report, host)),
        )
        ET.SubElement(suite, "system-out").text = _text("\n".join("%s: %s" % (k, v) for k, v in facts if v))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

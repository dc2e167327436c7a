"""SARIF 2.1.0 of a report, for code-scanning dashboards.

One run, tool nsverify; one rule per control of the catalogue that the report evaluated (short
description = title, full description = rationale, help = remediation, defaultConfiguration.level from
the severity, properties.security-severity for dashboards that sort by it); one result per failing
control and host (message = host, id and reason; level from the control's severity in the report's
profile; a logical location host/control; the report file as the artifact). Waived, passed and skipped
controls give no result.
"""

from __future__ import annotations

import json

from ansible.module_utils.nsverify import control_data

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}


def level(severity):
    return LEVELS.get(severity, "warning")


def _help_markdown(help_lines, refs):
    links = ["[%s](%s)" % (r["id"], r["url"]) if r.get("url") else r["id"] for r in refs]
    return "\n\n".join(help_lines + (["References: " + ", ".join(links)] if links else []))


def _rule(entry):
    data = control_data.CATALOGUE.get(entry["id"], {})
    sev = data.get("severity") or entry.get("severity") or "medium"
    remediation = data.get("remediation") or entry.get("remediation") or {"default": entry.get("fix") or ""}
    help_lines = [remediation.get("default", "")] + [
        "%s: %s" % (d, remediation[d]) for d in control_data.DISTROS if d in remediation
    ]
    refs = data.get("references") or []
    rule = {
        "id": entry["id"],
        "name": entry["id"].replace("-", ""),
        "shortDescription": {"text": entry["title"]},
        "fullDescription": {"text": data.get("rationale") or entry["title"]},
        "help": {"text": "\n".join(help_lines), "markdown": _help_markdown(help_lines, refs)},
        "defaultConfiguration": {"level": level(sev)},
        "properties": {
            "severity": sev,
            "security-severity": SECURITY_SEVERITY.get(sev, "5.5"),
            "tags": ["security", "namespaces", entry.get("source") or "other"],
            "evaluated_from": data.get("evaluated_from") or entry.get("source") or "",
            "references": [r["id"] for r in refs],
        },
    }
    url = next((r["url"] for r in refs if r.get("url")), None)
    if url:
        rule["helpUri"] = url
    return rule


def _result(host, entry, rule_index, artifact_uri, stale=None):
    sev = entry.get("severity") or "medium"
    props = {"host": host, "severity": sev, "status": entry["status"], "evidence": entry.get("evidence")}
    if entry.get("drift"):
        props["drift"] = entry["drift"]["state"]
    if stale:  # a failure last seen on a host whose file is older than the max age: not current
        props["stale"] = stale
    return {
        "ruleId": entry["id"],
        "ruleIndex": rule_index,
        "level": level(sev),
        "message": {"text": "%s: %s %s -- %s" % (host, entry["id"], entry["title"], entry.get("reason") or "failed")},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": artifact_uri}},
                "logicalLocations": [
                    {"name": entry["id"], "fullyQualifiedName": "%s/%s" % (host, entry["id"]), "kind": "object"}
                ],
            }
        ],
        "partialFingerprints": {"nsverifyHostControl/v1": "%s/%s" % (host, entry["id"])},
        "properties": props,
    }


def build_sarif(report, artifact_uri="nsverify-report.json"):
    """The SARIF log (a dict) of an enriched report."""
    rules, index = [], {}
    for r in report["hosts"].values():
        for e in r["controls"]:
            if e["id"] not in index:
                index[e["id"]] = len(rules)
                rules.append(_rule(e))
    results = [
        _result(host, e, index[e["id"]], artifact_uri, (r.get("stale") or {}).get("reason"))
        for host, r in report["hosts"].items()
        for e in r["controls"]
        if e["status"] == "fail"
    ]
    run = {
        "tool": {"driver": {"name": "nsverify", "rules": rules}},
        "automationDetails": {"id": "nsverify/%s/" % ((report.get("profile") or {}).get("name") or "all")},
        "results": results,
        "properties": {
            "summary": report.get("summary_line"),
            "schema": report.get("schema"),
            "drift": (report.get("drift") or {}).get("counts"),
            "gate": (report.get("gate") or {}).get("message"),
            "staleHosts": (report.get("merge") or {}).get("stale") or [],
        },
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(report, artifact_uri="nsverify-report.json"):
    return json.dumps(build_sarif(report, artifact_uri), indent=2, sort_keys=True, default=str) + "\n"

"""What the catalogue data means for a report: profiles, severities, remediation and the exit gate.

enrich(report, profile) takes the dict report.build_report returns, keeps the controls the profile
selects, adds to every control record its severity (the profile's override or the catalogue's),
rationale, evaluated_from, remediation and references, and recomputes the summaries; the result is
the nsverify-report/2 shape that schemas/nsverify-report-2.schema.json describes.

gate(report, fail_on, fail_on_new) decides whether a run fails: any control of severity fail_on or
worse whose status is fail (waived ones never count), or with fail_on_new only those that the drift
comparison marks new-failure.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json

from ansible.module_utils.nsverify import control_data, drift

SCHEMA = "nsverify-report/2"
GATE_LEVELS = ("none",) + control_data.SEVERITIES
UNKNOWN_SEVERITY = "medium"
_STATUS_KEYS = ("count", "pass", "fail", "skip", "waived")


class PolicyError(ValueError):
    """A profile, severity or gate setting that does not exist; the message lists the valid ones."""


def profile(name):
    """The profile dict of `name`; None or "" means every control at its catalogue severity."""
    if not name:
        return None
    try:
        return control_data.PROFILES[name]
    except KeyError:
        raise PolicyError(
            "unknown profile %r; choose one of %s (module_utils/nsverify/control_data.py PROFILES)"
            % (name, ", ".join(control_data.PROFILES))
        )


def selects(prof, control_id):
    return prof is None or any(fnmatch.fnmatchcase(control_id, p) for p in prof["controls"])


def severity(control_id, prof=None):
    if prof and control_id in prof["severity"]:
        return prof["severity"][control_id]
    data = control_data.CATALOGUE.get(control_id)
    return data["severity"] if data else UNKNOWN_SEVERITY


def at_least(sev, threshold):
    """True when severity `sev` is `threshold` or worse; threshold "none" is never reached."""
    if threshold == "none":
        return False
    return control_data.SEVERITY_RANK[sev] >= control_data.SEVERITY_RANK[threshold]


def distro_key(osinfo):
    """debian, ubuntu, rhel7 or None from os-release's ID and VERSION_ID ({"id", "version_id"}) or Ansible's
    facts ({"distribution", "distribution_major_version"})."""
    osinfo = osinfo if isinstance(osinfo, dict) else {}
    ident = str(osinfo.get("id") or osinfo.get("distribution") or "").lower()
    version = str(osinfo.get("version_id") or osinfo.get("distribution_major_version") or "")
    ident = {"red hat enterprise linux": "rhel", "redhat": "rhel", "oraclelinux": "ol"}.get(ident, ident)
    if ident == "ubuntu":
        return "ubuntu"
    if ident == "debian":
        return "debian"
    if ident in ("rhel", "centos", "ol", "scientific") and version.split(".", 1)[0] == "7":
        return "rhel7"
    return None


def remediation_text(control_id, distro=None):
    """The remediation for `distro` where the catalogue has one, followed by the general text."""
    data = control_data.CATALOGUE.get(control_id)
    if not data:
        return "not in the control catalogue: see the check that produced it"
    rem = data["remediation"]
    if distro and distro in rem:
        return "%s %s" % (rem[distro], rem["default"])
    return rem["default"]


def _annotate(entry, prof, distro):
    data = control_data.CATALOGUE.get(entry["id"])
    entry["severity"] = severity(entry["id"], prof)
    entry["fix"] = remediation_text(entry["id"], distro)
    if data:
        entry["rationale"] = data["rationale"]
        entry["evaluated_from"] = data["evaluated_from"]
        entry["remediation"] = dict(data["remediation"])
        entry["references"] = [dict(r) for r in data["references"]]
    else:
        entry["rationale"] = "a check the control catalogue does not know"
        entry["evaluated_from"] = entry.get("source") or "unknown"
        entry["remediation"] = {"default": remediation_text(entry["id"])}
        entry["references"] = []
    return entry


def summarize(entries):
    counts = dict.fromkeys(_STATUS_KEYS, 0)
    counts["count"] = len(entries)
    for e in entries:
        counts[e["status"]] += 1
    return counts


def summary_line(counts):
    return "Count: %d, Passed: %d, Failed: %d, Skipped: %d, Waived: %d" % tuple(counts[k] for k in _STATUS_KEYS)


def severity_counts(entries, status="fail"):
    out = dict.fromkeys(control_data.SEVERITIES, 0)
    for e in entries:
        if e["status"] == status:
            out[e["severity"]] += 1
    return out


def enrich(report, profile_name=None, distros=None):
    """A copy of `report` for the profile, with catalogue data on each control (schema nsverify-report/2).

    distros: optional {host: os info} (see distro_key); each control's `fix` is then the remediation for
    that host's distribution."""
    prof = profile(profile_name)
    out = copy.deepcopy(report)
    total = dict.fromkeys(_STATUS_KEYS, 0)
    for host, r in out["hosts"].items():
        distro = distro_key((distros or {}).get(host))
        r["distribution"] = distro
        r["controls"] = [_annotate(e, prof, distro) for e in r["controls"] if selects(prof, e["id"])]
        r["summary"] = summarize(r["controls"])
        r["summary_line"] = summary_line(r["summary"])
        r["failed_by_severity"] = severity_counts(r["controls"])
        for k in _STATUS_KEYS:
            total[k] += r["summary"][k]
    out["report_schema_1_digest"] = report.get("outcome_digest")
    out["schema"] = SCHEMA
    out["profile"] = {
        "name": profile_name or None,
        "description": prof["description"] if prof else "every control of the catalogue at its own severity",
    }
    out["summary"] = total
    out["summary_line"] = summary_line(total)
    out["outcome_digest"] = outcome_digest(out)
    return out


def outcome_digest(report):
    """sha256 over hosts, control ids, statuses, severities, waivers, profile and options; not the evidence,
    not the generation time, and not the drift (against the previous report a rerun would otherwise
    always differ from the report it compares with)."""
    outcome = {
        "schema": SCHEMA,
        "title": report.get("title"),
        "waivers": report.get("waivers"),
        "options": report.get("options"),
        "profile": (report.get("profile") or {}).get("name"),
        "hosts": {
            name: [
                [e["id"], e["status"], e.get("severity"), e.get("waiver"), e.get("waiver_expired")]
                for e in r["controls"]
            ]
            for name, r in report["hosts"].items()
        },
        "stale": sorted(name for name, r in report["hosts"].items() if r.get("stale")),
    }
    return hashlib.sha256(json.dumps(outcome, sort_keys=True, default=str).encode()).hexdigest()


def _check_level(name, value):
    if value not in GATE_LEVELS:
        raise PolicyError("%s=%r is not a severity; choose one of %s" % (name, value, ", ".join(GATE_LEVELS)))


def gate(report, fail_on="none", fail_on_new=False):
    """{failed, fail_on, fail_on_new, causes: [{host, id, severity, title}], message} for an enriched report.

    fail_on: a severity (the control's or worse fails the run) or "none". fail_on_new: only controls the
    drift comparison marks new-failure count (with fail_on "none" any severity); without drift data
    (no baseline yet) nothing is new.
    """
    _check_level("fail_on", fail_on)
    threshold = fail_on if not (fail_on_new and fail_on == "none") else "info"
    causes = []
    for host, r in report["hosts"].items():
        for e in r["controls"]:
            if e["status"] != "fail" or not at_least(e.get("severity", UNKNOWN_SEVERITY), threshold):
                continue
            if fail_on_new and (e.get("drift") or {}).get("state") != "new-failure":
                continue
            causes.append({"host": host, "id": e["id"], "severity": e.get("severity"), "title": e["title"]})
    what = "new failures" if fail_on_new else "failed controls"
    if fail_on != "none":
        what += " of severity %s or worse" % fail_on
    if causes:
        message = "%s (%d): %s" % (
            what,
            len(causes),
            ", ".join("%s %s (%s)" % (c["host"], c["id"], c["severity"]) for c in causes),
        )
    else:
        message = "no %s" % what
    gated = fail_on != "none" or fail_on_new
    if fail_on_new and "drift" not in report:  # the first report of a directory: it becomes the baseline
        message = "no baseline to compare with yet (this report becomes the baseline): no new failures"
    return {
        "failed": bool(causes) and gated,
        "fail_on": fail_on,
        "fail_on_new": bool(fail_on_new),
        "causes": causes if gated else [],
        "message": message if gated else "gate off (fail_on=none)",
    }


def compose(
    report,
    profile_name=None,
    distros=None,
    baseline=None,
    baseline_name=None,
    fail_on="none",
    fail_on_new=False,
    baseline_option=None,
):
    """The published report: enrich(report, profile), drift against `baseline` (a loaded report, or None),
    the gate's verdict under "gate", and the outcome digest over all of it (not the drift).

    baseline_option is the baseline the user named (it joins the options, and so the digest); the
    report found in the directory is not an option: a rerun compares with it and stays unchanged."""
    _check_level("fail_on", fail_on)
    out = enrich(report, profile_name, distros)
    out.setdefault("options", {}).update(
        {
            "profile": profile_name or None,
            "fail_on": fail_on,
            "fail_on_new": bool(fail_on_new),
            "baseline": baseline_option,
        }
    )
    if baseline is not None:
        drift.compare(out, baseline, baseline_name)
    out["gate"] = gate(out, fail_on, fail_on_new)
    out["outcome_digest"] = outcome_digest(out)
    return out

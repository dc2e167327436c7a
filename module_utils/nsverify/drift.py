"""Drift: what changed since a baseline report, per host and control.

States (for each control of the current report):
  new-failure      fails now; passed, was skipped, waived or absent in the baseline
  still-failing    fails now and failed then
  fixed            does not fail now, failed then
  changed-evidence same outcome, but a stable fact changed: the kernel release, a verdict, a limit,
                   a sysctl value, a config line, an errno, a policy switch
  unchanged        same outcome and the same stable facts
  new              not failing and not in the baseline (a new host or a new control)
Controls of the baseline that the current report no longer has are listed per host as `gone`.

Evidence also holds what changes on every run (PIDs, inode numbers, namespace counts, ping times);
only the keys in STABLE_KEYS are compared, so a rerun on an unchanged host is `unchanged`.
"""

from __future__ import annotations

import json

STATES = ("new-failure", "still-failing", "fixed", "changed-evidence", "unchanged", "new")
STABLE_KEYS = frozenset(
    (
        "verdict",
        "limit",
        "value",
        "release",
        "line",
        "option",
        "errname",
        "present",
        "setns_supported",
        "unprivileged_userns_clone",
        "apparmor_restrict_unprivileged_userns",
        "max_user_namespaces",
        "unprivileged_can_create",
        "unprivileged_can_use_capabilities",
        "audit_mode",
        "min_headroom",
        "type_status",
        "sysctl",
    )
)
KNOWN_SCHEMAS = ("nsverify-report/1", "nsverify-report/2")


class BaselineError(ValueError):
    """A baseline file that is not a usable nsverify report; the message names the file."""


def parse_baseline(text, name="baseline"):
    """The report dict in `text` (a JSON report of nsverify_report), or BaselineError naming `name`."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BaselineError(
            "baseline %s is not valid JSON (%s); give a JSON report written by nsverify_report" % (name, exc)
        )
    if not isinstance(data, dict) or data.get("schema") not in KNOWN_SCHEMAS:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise BaselineError(
            "baseline %s is not an nsverify report (schema %r, expected one of %s)"
            % (name, found, ", ".join(KNOWN_SCHEMAS))
        )
    hosts = data.get("hosts")
    if not isinstance(hosts, dict) or not all(
        isinstance(r, dict) and isinstance(r.get("controls"), list) for r in hosts.values()
    ):
        raise BaselineError("baseline %s: 'hosts' must map each host to a report with a 'controls' list" % name)
    for host, r in hosts.items():
        for e in r["controls"]:
            if not isinstance(e, dict) or not isinstance(e.get("id"), str) or "status" not in e:
                raise BaselineError("baseline %s: host %s has a control without id or status: %r" % (name, host, e))
    return data


def load_baseline(path):
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise BaselineError("baseline %s cannot be read: %s" % (path, exc.strerror or exc))
    except UnicodeDecodeError as exc:
        raise BaselineError("baseline %s is not UTF-8 text (%s)" % (path, exc))
    return parse_baseline(text, path)


def stable_facts(evidence, prefix=""):
    """{dotted.path: value} of the scalar evidence under STABLE_KEYS (lists are not walked: they hold PIDs)."""
    out = {}
    if isinstance(evidence, dict):
        for key in sorted(evidence, key=str):
            value = evidence[key]
            path = "%s%s" % (prefix, key)
            if isinstance(value, dict):
                out.update(stable_facts(value, path + "."))
            elif key in STABLE_KEYS and not isinstance(value, list):
                out[path] = value
    return out


def _changes(before, after, kernel_before, kernel_after):
    changes = []
    if kernel_before != kernel_after:
        changes.append({"fact": "kernel", "before": kernel_before, "after": kernel_after})
    old, new = stable_facts(before.get("evidence")), stable_facts(after.get("evidence"))
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            changes.append({"fact": key, "before": old.get(key), "after": new.get(key)})
    return changes


def classify(before, after, kernel_before=None, kernel_after=None):
    """{state, before, after[, changes]} for one control; before is None when the baseline lacks it."""
    failing = after["status"] == "fail"
    was = before["status"] if before else None
    out = {"before": was, "after": after["status"]}
    if before is None:
        out["state"] = "new-failure" if failing else "new"
    elif failing:
        out["state"] = "still-failing" if was == "fail" else "new-failure"
    elif was == "fail":
        out["state"] = "fixed"
    else:
        changes = _changes(before, after, kernel_before, kernel_after) if was == after["status"] else []
        if was != after["status"]:
            changes = [{"fact": "status", "before": was, "after": after["status"]}]
        out["state"] = "changed-evidence" if changes else "unchanged"
        if changes:
            out["changes"] = changes
    return out


def compare(report, baseline, baseline_name=None):
    """Mark every control of `report` (in place) with its drift and return the drift summary.

    The summary {baseline, baseline_date, counts: {state: n}, hosts: {host: {counts, gone}}} is also
    stored as report["drift"]; each control gets report-level entry["drift"] = classify(...).
    """
    counts = dict.fromkeys(STATES, 0)
    hosts = {}
    for host, r in report["hosts"].items():
        old = (baseline.get("hosts") or {}).get(host)
        old_by_id = {e["id"]: e for e in (old or {}).get("controls", [])}
        host_counts = dict.fromkeys(STATES, 0)
        for e in r["controls"]:
            e["drift"] = classify(old_by_id.get(e["id"]), e, (old or {}).get("kernel"), r.get("kernel"))
            host_counts[e["drift"]["state"]] += 1
            counts[e["drift"]["state"]] += 1
        current = {e["id"] for e in r["controls"]}
        hosts[host] = {
            "in_baseline": old is not None,
            "counts": host_counts,
            "gone": sorted(i for i in old_by_id if i not in current),
        }
    summary = {
        "baseline": baseline_name,
        "baseline_date": baseline.get("generated") or baseline.get("date"),
        "baseline_schema": baseline.get("schema"),
        "counts": counts,
        "hosts": hosts,
        "hosts_gone": sorted(h for h in baseline.get("hosts") or {} if h not in report["hosts"]),
    }
    report["drift"] = summary
    return summary


def summary_line(drift):
    """One line: `Drift against FILE: new-failure 1, fixed 2, ...` (states with a count only)."""
    parts = ["%s %d" % (s, drift["counts"][s]) for s in STATES if drift["counts"][s]]
    return "Drift against %s: %s" % (drift.get("baseline") or "the baseline", ", ".join(parts) or "nothing")

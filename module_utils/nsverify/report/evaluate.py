"""Evaluation: the control catalogue judged against one host's inputs, one control record each.

Every entry is a `controls.record` (id, title, namespace, source, status, evidence, reason); the
audit facts and the proof and container checks already name their control ID, and the report
takes that ID as given and indexes the records by it.
"""

from __future__ import annotations

import datetime
import hashlib
import json

from ansible.module_utils.nsverify import catalog, controls
from ansible.module_utils.nsverify.report import waivers as waiver_room
from ansible.module_utils.nsverify.report import workloads as workload_room

SCHEMA = "nsverify-report/1"

VERDICT_STATUS = {
    "supported": "pass",
    "kernel-too-old": "skip",
    "not-built": "fail",
    "denied": "fail",
    "limit-zero": "fail",
    "unknown": "fail",
}

SOURCES = ("audit", "proof", "container", "workload")
SOURCE_TITLES = {
    "audit": "Kernel audit",
    "proof": "Isolation proofs",
    "container": "BusyBox container",
    "workload": "Workloads",
}
CHECK_STATUSES = ("pass", "fail", "skip")
_CHECK_REASON = {"pass": "proven: see the evidence", "fail": "failed: see the evidence", "skip": "skipped"}


def _without_id(data, *also):
    # the record carries the ID itself; the evidence keeps everything else the source said
    return {k: v for k, v in data.items() if k not in ("control_id",) + also}


# ---------------------------------------------------------------- the kernel audit


def _audit_type_record(name, fact, mode):
    # The fact names its own control (audit.py sets control_id); the catalogue lookup is only for
    # facts written by an older audit that did not.
    control_id = fact.get("control_id") or controls.audit_control(name).id
    verdict = fact.get("verdict")
    status = VERDICT_STATUS.get(verdict, "fail")
    reason = "%s: %s" % (verdict, fact.get("reason") or "no reason given")
    if verdict not in VERDICT_STATUS:
        reason = "unrecognised audit verdict %r (expected one of %s)" % (verdict, ", ".join(catalog.VERDICTS))
    evidence = _without_id(fact)
    if fact.get("contradiction"):
        reason += " (contradiction: %s)" % fact["contradiction"]
    if mode in ("static", "offline"):
        # the verdict then rests on release, config and /proc only: say so next to it
        reason += " [audit mode %s: no namespace was created]" % mode
        evidence["audit_mode"] = mode
    return controls.record(control_id, status, evidence, reason)


def evaluate_audit(facts, min_headroom=1):
    """Records for NS-KRN-001..010 from ansible_facts.nsverify."""
    if not isinstance(facts, dict) or not facts:
        reason = "no audit facts for this host (unreachable, or the audit did not run)"
        return [controls.record(c.id, "skip", {}, reason) for c in controls.for_source("audit")]
    if "types" not in facts and isinstance(facts.get("nsverify"), dict):  # whole ansible_facts passed
        facts = facts["nsverify"]
    types = facts.get("types") or {}
    out = []
    for name in catalog.TYPE_NAMES:
        fact = types.get(name)
        if isinstance(fact, dict):
            out.append(_audit_type_record(name, fact, facts.get("mode")))
        else:
            reason = "the audit did not report the %s namespace" % name
            out.append(controls.record(controls.audit_control(name).id, "skip", {}, reason))
    out.append(_evaluate_policy(facts.get("userns_policy")))
    out.append(_evaluate_headroom(types, min_headroom, facts.get("headroom")))
    return out


def _policy_text(policy):
    parts = []
    if "unprivileged_can_create" in policy:
        can = policy["unprivileged_can_create"]
        use = policy.get("unprivileged_can_use_capabilities")
        text = "unprivileged users %s create user namespaces" % ("can" if can else "cannot")
        if can and use is not None:
            text += " and %s use capabilities inside" % ("can" if use else "cannot")
        parts.append(text)
    parts.extend(str(n) for n in policy.get("notes") or [])
    if not parts:
        parts.append(str(policy.get("summary") or policy.get("reason") or "policy reported"))
    return "; ".join(parts)


def _evaluate_policy(policy):
    if not isinstance(policy, dict) or not policy:
        return controls.record(
            "NS-KRN-009", "fail", {}, "the audit did not report the unprivileged user-namespace policy"
        )
    control_id = policy.get("control_id") or "NS-KRN-009"
    evidence = _without_id(policy)
    if policy.get("verdict") == "unknown" or policy.get("known") is False:
        reason = "unprivileged user-namespace policy could not be determined: %s" % (
            policy.get("reason") or "no reason given"
        )
        return controls.record(control_id, "fail", evidence, reason)
    if "unprivileged_can_create" in policy and policy["unprivileged_can_create"] is None:
        reason = "whether an unprivileged user may create a user namespace could not be determined"
        return controls.record(control_id, "fail", evidence, reason)
    return controls.record(control_id, "pass", evidence, _policy_text(policy))


def _headroom_table(types, min_headroom):
    table, short = {}, []
    for name in catalog.TYPE_NAMES:
        fact = types.get(name) or {}
        count, limit = fact.get("count"), fact.get("limit")
        if not isinstance(limit, int) or isinstance(limit, bool):
            continue
        row = {"count": count, "limit": limit, "headroom": (limit - count) if isinstance(count, int) else None}
        table[name] = row
        if row["headroom"] is not None and row["headroom"] < min_headroom:
            short.append("%s %d/%d" % (name, count, limit))
    return table, short


def _evaluate_headroom(types, min_headroom, audit_headroom=None):
    table, short = _headroom_table(types, min_headroom)
    evidence = {"min_headroom": min_headroom, "types": table}
    control_id = "NS-KRN-010"
    if isinstance(audit_headroom, dict):  # the audit's own caveats (lower bounds, per-user-namespace limits)
        control_id = audit_headroom.get("control_id") or control_id
        evidence.update(_without_id(audit_headroom, "types"))
    if not table:
        reason = "no user.max_*_namespaces limits reported (they exist from kernel 4.9)"
        return controls.record(control_id, "skip", evidence, reason)
    if short:
        reason = "headroom below %d for %s (count/limit)" % (min_headroom, ", ".join(short))
        return controls.record(control_id, "fail", evidence, reason)
    known = [n for n in table if table[n]["headroom"] is not None]
    least = min(known, key=lambda n: table[n]["headroom"]) if known else None
    reason = "every reported type is below its limit"
    if least:
        reason += "; least headroom: %s %d of %d" % (least, table[least]["headroom"], table[least]["limit"])
    return controls.record(control_id, "pass", evidence, reason)


# ---------------------------------------------------------------- proofs and container checks


def _check_record(check, source="proof", fallback_namespace=None):
    """A proof's or container check's own record, re-checked: its status must be one the report
    knows, and a check the catalogue does not know is kept (never drop evidence)."""
    status = check.get("status")
    evidence = check.get("evidence") if isinstance(check.get("evidence"), dict) else {"value": check.get("evidence")}
    if status in CHECK_STATUSES:
        reason = check.get("reason") or _CHECK_REASON[status]
    else:
        reason = "unrecognised check status %r (expected pass, fail or skip): treated as fail" % (status,)
        status = "fail"
    if check.get("id") in controls.CONTROLS:
        return controls.record(check["id"], status, evidence, reason)
    control = controls.Control(
        check.get("id") or "UNKNOWN", source, fallback_namespace, check.get("title") or "(not in the control catalogue)"
    )
    return controls.uncatalogued_record(control, status, evidence, reason)


def index_checks(checks):
    """({id: check} of the catalogued checks, [the others]) of a list of check records."""
    by_id, extra = {}, []
    for check in checks or []:
        if isinstance(check, dict) and check.get("id") in controls.CONTROLS:
            by_id[check["id"]] = check
        elif isinstance(check, dict):
            extra.append(check)
    return by_id, extra


def _unproven_record(control, name, type_result):
    if not isinstance(type_result, dict):
        return controls.record(control.id, "skip", {}, "the %s namespace was not verified (not requested)" % name)
    if type_result.get("status") == "skipped":
        verdict = type_result.get("verdict")
        reason = "%s%s" % ("%s: " % verdict if verdict else "", type_result.get("reason") or "proof skipped")
        return controls.record(control.id, "skip", {"verdict": verdict, "type_status": "skipped"}, reason)
    evidence = {"type_status": type_result.get("status")}
    return controls.record(control.id, "skip", evidence, "the %s proof did not run this check" % name)


def evaluate_proofs(results):
    """Records for the proof controls from namespace_verify `proofs`."""
    if not isinstance(results, dict) or not results:
        reason = "no proof results for this host (namespace_verify did not run)"
        return [controls.record(c.id, "skip", {}, reason) for c in controls.for_source("proof")]
    out = []
    for name in catalog.TYPE_NAMES:
        type_result = results.get(name)
        by_id, extra = index_checks(type_result.get("checks") if isinstance(type_result, dict) else None)
        for control in controls.for_namespace(name, "proof"):
            if control.id in by_id:
                out.append(_check_record(by_id[control.id]))
            else:
                out.append(_unproven_record(control, name, type_result))
        out.extend(_check_record(check, "proof", name) for check in extra)
    return out


def container_checks(container):
    """The list of container checks in `container` (a list, or a mapping holding it under checks
    or results); None when there is none (the container is an optional input)."""
    if isinstance(container, list):
        return container
    if isinstance(container, dict):
        for key in ("checks", "results"):
            if isinstance(container.get(key), list):
                return container[key]
    return None


def evaluate_container(container):
    """Records for NS-CTR-* from the container checks; [] when there are none (optional input)."""
    checks = container_checks(container)
    if checks is None:
        return []
    by_id, extra = index_checks(checks)
    out = []
    for control in controls.for_source("container"):
        if control.id in by_id:
            out.append(_check_record(by_id[control.id], "container"))
        else:
            out.append(controls.record(control.id, "skip", {}, "the container checks did not include this control"))
    out.extend(_check_record(check, "container") for check in extra)
    return out


# ---------------------------------------------------------------- hosts and the fleet

_ORDER = {cid: i for i, cid in enumerate(controls.CONTROLS)}


def catalogue_order(entry):
    """Catalogue order within each source; checks unknown to the catalogue after their source's."""
    source = SOURCES.index(entry["source"]) if entry["source"] in SOURCES else len(SOURCES)
    return (source, _ORDER.get(entry["id"], len(_ORDER)), entry["id"])


def summarize(entries):
    counts = {"count": len(entries), "pass": 0, "fail": 0, "skip": 0, "waived": 0}
    for e in entries:
        counts[e["status"]] += 1
    return counts


def summary_line(counts):
    return "Count: %d, Passed: %d, Failed: %d, Skipped: %d, Waived: %d" % (
        counts["count"],
        counts["pass"],
        counts["fail"],
        counts["skip"],
        counts["waived"],
    )


def evaluate_host(
    host, facts=None, proofs=None, container=None, waivers=(), today=None, min_headroom=1, workloads=None
):
    """The report of one host: controls (in catalogue order), summary and waiver notes.

    workloads: the host's namespace_inspect result (optional; NS-WKL-* only when given)."""
    today = today or datetime.date.today()
    entries = evaluate_audit(facts, min_headroom) + evaluate_proofs(proofs) + evaluate_container(container)
    entries += workload_room.evaluate_workloads(workloads)
    entries.sort(key=catalogue_order)
    notes = waiver_room.apply_waivers(entries, list(waivers), host, today)
    counts = summarize(entries)
    kernel = (facts or {}).get("kernel") or {} if isinstance(facts, dict) else {}
    return {
        "host": host,
        "kernel": kernel.get("release"),
        "inputs": {
            "audit": bool(facts),
            "proofs": bool(proofs),
            "container": container_checks(container) is not None,
            "workloads": workload_room.inspected_targets(workloads) is not None,
        },
        "controls": entries,
        "summary": counts,
        "summary_line": summary_line(counts),
        "waivers": notes,
    }


def build_report(
    hosts, waivers=(), today=None, generated=None, title="nsverify compliance report", min_headroom=1, merged=None
):
    """hosts: {name: {"facts", "proofs", "container", "workloads"[, "audited", "stale"]}} -> the fleet report dict.

    merged: the fleet merge's summary (report.hostfiles.merge: this_run, from_files, stale, max_age), kept
    under "merge"."""
    today = today or datetime.date.today()
    waivers = list(waivers)
    host_reports = {}
    for name in sorted(hosts):
        data = hosts[name] or {}
        host_reports[name] = evaluate_host(
            name,
            data.get("facts"),
            data.get("proofs"),
            data.get("container"),
            waivers,
            today,
            min_headroom,
            workloads=data.get("workloads"),
        )
        for key in ("audited", "run", "stale"):  # when the inputs were gathered, and whether too long ago (merge)
            if data.get(key) is not None:
                host_reports[name][key] = data[key]
    total = {"count": 0, "pass": 0, "fail": 0, "skip": 0, "waived": 0}
    for r in host_reports.values():
        for k in total:
            total[k] += r["summary"][k]
    report = {
        "schema": SCHEMA,
        "title": title,
        "generated": generated,
        "date": today.isoformat(),
        "waivers": waivers,
        "options": {"min_headroom": min_headroom},
        "hosts": host_reports,
        "summary": total,
        "summary_line": summary_line(total),
    }
    if merged is not None:
        report["merge"] = merged
    report["outcome_digest"] = outcome_digest(report)
    return report


def outcome_digest(report):
    """sha256 over what a reader acts on: hosts, control ids, statuses, waivers and the options that
    judge them (not the generation time, not the evidence)."""
    outcome = {
        "schema": SCHEMA,
        "title": report.get("title"),
        "waivers": report.get("waivers"),
        "options": report.get("options"),
        "hosts": {
            name: [[e["id"], e["status"], e.get("waiver"), e.get("waiver_expired")] for e in r["controls"]]
            for name, r in report["hosts"].items()
        },
        "stale": sorted(name for name, r in report["hosts"].items() if r.get("stale")),
    }
    return hashlib.sha256(json.dumps(outcome, sort_keys=True, default=str).encode()).hexdigest()


def failures(report):
    """[(host, entry)] of every failed control, for error messages and summaries."""
    return [(h, e) for h, r in report["hosts"].items() for e in r["controls"] if e["status"] == "fail"]


def control_rows(report):
    """Union of control ids over the fleet, in catalogue order then extras, with title and source."""
    seen = {}
    for r in report["hosts"].values():
        for e in r["controls"]:
            seen.setdefault(e["id"], e)
    return sorted(seen.values(), key=catalogue_order)


def records_by_id(host_report):
    """{control id: record} of one host's report: the index the views look cells up in."""
    return {e["id"]: e for e in host_report["controls"]}

"""Compliance reports: evaluate the control catalogue against audit facts and proof results,
apply waivers, and render machine JSON, Markdown and a self-contained HTML page.

Inputs per host (all plain data, as the modules return them):
  facts      ansible_facts.nsverify of namespace_facts (the kernel audit)
  proofs     `proofs` of namespace_verify: {type: {status, checks: [...], verdict, reason}}
  container  optional container checks: a list of {id, title, status, evidence}, or a dict
             holding such a list under "checks" (NS-CTR-* controls)

Verdict -> status mapping for the audit controls NS-KRN-001..008 (one per type):
  supported       pass  the kernel created one just now
  kernel-too-old  skip  not applicable: the type does not exist in this kernel release, no setting
                        can change that; the report says so instead of failing the host
  not-built       fail  new enough but compiled out: a kernel rebuild or another kernel fixes it
  denied          fail  policy (LSM, sysctl, seccomp, no privilege) stops creation
  limit-zero      fail  user.max_<type>_namespaces is 0
  unknown         fail  not proven to work is not compliant
NS-KRN-009 passes when the audit reports the unprivileged user-namespace policy, NS-KRN-010
fails when a type's headroom (limit - count) is below `min_headroom`.

Waivers turn a `fail` into `waived`; they never change `pass` or `skip` (such a waiver is
listed as unused). A waiver is valid through its expiry date; from the next day on it does not
apply and is flagged as expired on every host it matches.

Idempotence: `outcome_digest()` hashes what a compliance reader acts on (hosts, control ids,
statuses, waivers) and leaves out the generation time and the volatile evidence (PIDs, inode
numbers). A writer rewrites the files only when that digest changes.
"""

from __future__ import annotations

import datetime
import fnmatch
import hashlib
import html
import json
import re

from ansible.module_utils.nsverify import catalog, controls

SCHEMA = "nsverify-report/1"

VERDICT_STATUS = {
    "supported": "pass",
    "kernel-too-old": "skip",
    "not-built": "fail",
    "denied": "fail",
    "limit-zero": "fail",
    "unknown": "fail",
}

SOURCES = ("audit", "proof", "container")
SOURCE_TITLES = {"audit": "Kernel audit", "proof": "Isolation proofs", "container": "BusyBox container"}
CHECK_STATUSES = ("pass", "fail", "skip")
_CHECK_REASON = {"pass": "proven: see the evidence", "fail": "failed: see the evidence", "skip": "skipped"}
WAIVER_KEYS = ("control", "justification", "hosts", "expires")


class WaiverError(ValueError):
    """A waiver file that cannot be used; the message lists every problem found."""


# ---------------------------------------------------------------- waivers


def parse_date(value):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", value.strip()):
        return datetime.date(*(int(p) for p in value.strip().split("-")))
    raise ValueError("expected a date YYYY-MM-DD, got %r" % (value,))


def parse_waivers(data):
    """Validate waiver data (the loaded YAML/JSON) and return a list of waiver dicts.

    Accepts {"waivers": [...]} or a bare list. Each entry: control (a known control id),
    justification (non-empty text), optional hosts (an fnmatch pattern or a list of them,
    default every host), optional expires (YYYY-MM-DD, valid through that day).
    Raises WaiverError naming every bad entry and how to fix it.
    """
    if data is None:
        return []
    if isinstance(data, dict):
        unknown_top = sorted(k for k in data if k != "waivers")
        if unknown_top:
            raise WaiverError(
                "waiver file: unknown top-level key(s) %s; put the entries in a list "
                "under 'waivers:'" % ", ".join(repr(k) for k in unknown_top)
            )
        data = data.get("waivers") or []
    if not isinstance(data, list):
        raise WaiverError(
            "waiver file: expected a list of waivers (or a mapping with key 'waivers'), got %s" % type(data).__name__
        )
    problems = []
    waivers = []
    for index, entry in enumerate(data):
        where = "waiver #%d" % (index + 1)
        if not isinstance(entry, dict):
            problems.append("%s: expected a mapping with control and justification, got %r" % (where, entry))
            continue
        control_id = entry.get("control", entry.get("id"))
        if control_id is not None:
            where = "waiver #%d (%s)" % (index + 1, control_id)
        extra = sorted(k for k in entry if k not in WAIVER_KEYS and k != "id")
        if extra:
            problems.append(
                "%s: unknown key(s) %s; allowed: %s"
                % (where, ", ".join(repr(k) for k in extra), ", ".join(WAIVER_KEYS))
            )
        if not control_id:
            problems.append("%s: missing 'control' (a control id such as NS-KRN-008)" % where)
        elif control_id not in controls.CONTROLS:
            problems.append(
                "%s: unknown control id %r; valid ids are listed in "
                "module_utils/nsverify/controls.py (e.g. NS-KRN-008, NS-PID-001)" % (where, control_id)
            )
        justification = entry.get("justification")
        if not isinstance(justification, str) or not justification.strip():
            problems.append(
                "%s: missing 'justification': every waiver needs a written reason "
                "(who accepted the risk and why)" % where
            )
        hosts = entry.get("hosts", "*")
        if isinstance(hosts, str):
            hosts = [hosts]
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
            problems.append("%s: 'hosts' must be a host pattern or a list of patterns" % where)
            hosts = []
        expires = entry.get("expires")
        if expires is not None:
            try:
                expires = parse_date(expires)
            except ValueError as exc:
                problems.append("%s: bad 'expires': %s" % (where, exc))
                expires = None
        waivers.append(
            {
                "control": control_id,
                "justification": justification.strip() if isinstance(justification, str) else justification,
                "hosts": hosts,
                "expires": expires.isoformat() if expires else None,
            }
        )
    if problems:
        raise WaiverError("invalid waivers: " + "; ".join(problems))
    return waivers


def waiver_matches(waiver, control_id, host):
    return waiver["control"] == control_id and any(fnmatch.fnmatchcase(host, p) for p in waiver["hosts"])


def waiver_expired(waiver, today):
    return waiver["expires"] is not None and parse_date(waiver["expires"]) < today


# ---------------------------------------------------------------- evaluation


def _entry(control, status, reason, evidence):
    return {
        "id": control.id,
        "title": control.title,
        "namespace": control.namespace,
        "source": control.source,
        "status": status,
        "reason": reason,
        "evidence": evidence,
    }


def evaluate_audit(facts, min_headroom=1):
    """Entries for NS-KRN-001..010 from ansible_facts.nsverify."""
    out = []
    audit_controls = controls.for_source("audit")
    if not isinstance(facts, dict) or not facts:
        for c in audit_controls:
            out.append(_entry(c, "skip", "no audit facts for this host (unreachable, or the audit did not run)", {}))
        return out
    if "types" not in facts and isinstance(facts.get("nsverify"), dict):  # whole ansible_facts passed
        facts = facts["nsverify"]
    types = facts.get("types") or {}
    mode = facts.get("mode")
    for name in catalog.TYPE_NAMES:
        control = controls.audit_control(name)
        fact = types.get(name)
        if not isinstance(fact, dict):
            out.append(_entry(control, "skip", "the audit did not report the %s namespace" % name, {}))
            continue
        verdict = fact.get("verdict")
        status = VERDICT_STATUS.get(verdict, "fail")
        reason = "%s: %s" % (verdict, fact.get("reason") or "no reason given")
        if verdict not in VERDICT_STATUS:
            reason = "unrecognised audit verdict %r (expected one of %s)" % (verdict, ", ".join(catalog.VERDICTS))
        evidence = {k: v for k, v in fact.items() if k != "control_id"}
        if fact.get("contradiction"):
            reason += " (contradiction: %s)" % fact["contradiction"]
        if mode in ("static", "offline"):
            # the verdict then rests on release, config and /proc only: say so next to it
            reason += " [audit mode %s: no namespace was created]" % mode
            evidence["audit_mode"] = mode
        out.append(_entry(control, status, reason, evidence))
    out.append(_evaluate_policy(facts.get("userns_policy")))
    out.append(_evaluate_headroom(types, min_headroom, facts.get("headroom")))
    return out


def _evaluate_policy(policy):
    control = controls.get("NS-KRN-009")
    if not isinstance(policy, dict) or not policy:
        return _entry(control, "fail", "the audit did not report the unprivileged user-namespace policy", {})
    evidence = {k: v for k, v in policy.items() if k != "control_id"}
    if policy.get("verdict") == "unknown" or policy.get("known") is False:
        return _entry(
            control,
            "fail",
            "unprivileged user-namespace policy could not be determined: %s"
            % (policy.get("reason") or "no reason given"),
            evidence,
        )
    if "unprivileged_can_create" in policy and policy["unprivileged_can_create"] is None:
        return _entry(
            control,
            "fail",
            "whether an unprivileged user may create a user namespace could not be determined",
            evidence,
        )
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
    return _entry(control, "pass", "; ".join(parts), evidence)


def _evaluate_headroom(types, min_headroom, audit_headroom=None):
    control = controls.get("NS-KRN-010")
    table = {}
    short = []
    for name in catalog.TYPE_NAMES:
        fact = types.get(name) or {}
        count, limit = fact.get("count"), fact.get("limit")
        if not isinstance(limit, int) or isinstance(limit, bool):
            continue
        row = {"count": count, "limit": limit, "headroom": (limit - count) if isinstance(count, int) else None}
        table[name] = row
        if row["headroom"] is not None and row["headroom"] < min_headroom:
            short.append("%s %d/%d" % (name, count, limit))
    evidence = {"min_headroom": min_headroom, "types": table}
    if isinstance(audit_headroom, dict):  # the audit's own caveats (lower bounds, per-user-namespace limits)
        evidence.update({k: v for k, v in audit_headroom.items() if k not in ("types", "control_id")})
    if not table:
        return _entry(
            control, "skip", "no user.max_*_namespaces limits reported (they exist from kernel 4.9)", evidence
        )
    if short:
        return _entry(
            control, "fail", "headroom below %d for %s (count/limit)" % (min_headroom, ", ".join(short)), evidence
        )
    known = [n for n in table if table[n]["headroom"] is not None]
    least = min(known, key=lambda n: table[n]["headroom"]) if known else None
    reason = "every reported type is below its limit"
    if least:
        reason += "; least headroom: %s %d of %d" % (least, table[least]["headroom"], table[least]["limit"])
    return _entry(control, "pass", reason, evidence)


def _check_entry(control, check, fallback_namespace=None, source="proof"):
    status = check.get("status")
    evidence = check.get("evidence") if isinstance(check.get("evidence"), dict) else {"value": check.get("evidence")}
    if status in CHECK_STATUSES:
        reason = check.get("reason") or _CHECK_REASON[status]
    else:
        reason = "unrecognised check status %r (expected pass, fail or skip): treated as fail" % (status,)
        status = "fail"
    if control is None:  # a check the catalogue does not know yet: keep it, never drop evidence
        control = controls.Control(
            check.get("id") or "UNKNOWN",
            source,
            fallback_namespace,
            check.get("title") or "(not in the control catalogue)",
        )
    return _entry(control, status, reason, evidence)


def evaluate_proofs(results):
    """Entries for the proof controls from namespace_verify `results`."""
    out = []
    if not isinstance(results, dict) or not results:
        for c in controls.for_source("proof"):
            out.append(_entry(c, "skip", "no proof results for this host (namespace_verify did not run)", {}))
        return out
    for name in catalog.TYPE_NAMES:
        type_result = results.get(name)
        checks = {}
        extra = []
        if isinstance(type_result, dict):
            for check in type_result.get("checks") or []:
                if isinstance(check, dict) and check.get("id") in controls.CONTROLS:
                    checks[check["id"]] = check
                elif isinstance(check, dict):
                    extra.append(check)
        for control in controls.for_namespace(name, "proof"):
            if control.id in checks:
                out.append(_check_entry(control, checks[control.id]))
            elif not isinstance(type_result, dict):
                out.append(_entry(control, "skip", "the %s namespace was not verified (not requested)" % name, {}))
            elif type_result.get("status") == "skipped":
                verdict = type_result.get("verdict")
                out.append(
                    _entry(
                        control,
                        "skip",
                        "%s%s" % ("%s: " % verdict if verdict else "", type_result.get("reason") or "proof skipped"),
                        {"verdict": verdict, "type_status": "skipped"},
                    )
                )
            else:
                out.append(
                    _entry(
                        control,
                        "skip",
                        "the %s proof did not run this check" % name,
                        {"type_status": type_result.get("status")},
                    )
                )
        for check in extra:
            out.append(_check_entry(None, check, name))
    return out


def _container_checks(container):
    if isinstance(container, list):
        return container
    if isinstance(container, dict):
        for key in ("checks", "results"):
            if isinstance(container.get(key), list):
                return container[key]
    return None


def evaluate_container(container):
    """Entries for NS-CTR-* from the container checks; [] when there are none (optional input)."""
    checks = _container_checks(container)
    if checks is None:
        return []
    by_id = {}
    extra = []
    for check in checks:
        if isinstance(check, dict) and check.get("id") in controls.CONTROLS:
            by_id[check["id"]] = check
        elif isinstance(check, dict):
            extra.append(check)
    out = []
    for control in controls.for_source("container"):
        if control.id in by_id:
            out.append(_check_entry(control, by_id[control.id], source="container"))
        else:
            out.append(_entry(control, "skip", "the container checks did not include this control", {}))
    for check in extra:
        out.append(_check_entry(None, check, None, source="container"))
    return out


_ORDER = {cid: i for i, cid in enumerate(controls.CONTROLS)}


def _catalogue_order(entry):
    """Catalogue order within each source; checks unknown to the catalogue after their source's."""
    source = SOURCES.index(entry["source"]) if entry["source"] in SOURCES else len(SOURCES)
    return (source, _ORDER.get(entry["id"], len(_ORDER)), entry["id"])


def apply_waivers(entries, waivers, host, today):
    """Turn matching fails into waived; return {applied, expired, unused} waiver notes."""
    notes = {"applied": [], "expired": [], "unused": []}
    for entry in entries:
        matching = [w for w in waivers if waiver_matches(w, entry["id"], host)]
        if not matching:
            continue
        valid = [w for w in matching if not waiver_expired(w, today)]
        expired = [w for w in matching if waiver_expired(w, today)]
        for w in expired:
            entry["waiver_expired"] = dict(w)
            notes["expired"].append(dict(w))
        if not valid:
            continue
        waiver = valid[0]
        if entry["status"] == "fail":
            entry["status"] = "waived"
            entry["waiver"] = dict(waiver)
            notes["applied"].append(dict(waiver))
        else:
            notes["unused"].append(dict(waiver, status=entry["status"]))
    return notes


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


def evaluate_host(host, facts=None, proofs=None, container=None, waivers=(), today=None, min_headroom=1):
    """The report of one host: controls (in catalogue order), summary and waiver notes."""
    today = today or datetime.date.today()
    entries = evaluate_audit(facts, min_headroom) + evaluate_proofs(proofs) + evaluate_container(container)
    entries.sort(key=_catalogue_order)
    notes = apply_waivers(entries, list(waivers), host, today)
    counts = summarize(entries)
    kernel = (facts or {}).get("kernel") or {} if isinstance(facts, dict) else {}
    return {
        "host": host,
        "kernel": kernel.get("release"),
        "inputs": {"audit": bool(facts), "proofs": bool(proofs), "container": _container_checks(container) is not None},
        "controls": entries,
        "summary": counts,
        "summary_line": summary_line(counts),
        "waivers": notes,
    }


def build_report(hosts, waivers=(), today=None, generated=None, title="nsverify compliance report", min_headroom=1):
    """hosts: {name: {"facts", "proofs", "container"}} -> the fleet report dict."""
    today = today or datetime.date.today()
    waivers = list(waivers)
    host_reports = {}
    for name in sorted(hosts):
        data = hosts[name] or {}
        host_reports[name] = evaluate_host(
            name, data.get("facts"), data.get("proofs"), data.get("container"), waivers, today, min_headroom
        )
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
    }
    return hashlib.sha256(json.dumps(outcome, sort_keys=True, default=str).encode()).hexdigest()


def failures(report):
    """[(host, entry)] of every failed control, for error messages and summaries."""
    return [(h, e) for h, r in report["hosts"].items() for e in r["controls"] if e["status"] == "fail"]


# ---------------------------------------------------------------- renderers


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"


def _control_rows(report):
    """Union of control ids over the fleet, in catalogue order then extras, with title and source."""
    seen = {}
    for r in report["hosts"].values():
        for e in r["controls"]:
            seen.setdefault(e["id"], e)
    return sorted(seen.values(), key=_catalogue_order)


def _md(text):
    return (
        str(text if text is not None else "")
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )


def _md_json(value):
    # JSON escapes keep the text valid JSON while no renderer can see a tag or end the code span.
    text = json.dumps(value, sort_keys=True, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("`", "\\u0060")


_MD_STATUS = {"pass": "PASS", "fail": "**FAIL**", "skip": "skip", "waived": "_waived_"}


def render_markdown(report):
    hosts = list(report["hosts"])
    lines = ["# %s" % _md(report["title"]), ""]
    lines.append("Generated %s. Fleet: %s" % (_md(report.get("generated") or report["date"]), report["summary_line"]))
    lines += ["", "| Host | Kernel | Summary |", "|---|---|---|"]
    for h in hosts:
        r = report["hosts"][h]
        lines.append("| %s | %s | %s |" % (_md(h), _md(r["kernel"] or "?"), r["summary_line"]))
    lines += [
        "",
        "## Matrix",
        "",
        "| Control | Title | " + " | ".join(_md(h) for h in hosts) + " |",
        "|---|---|" + "---|" * len(hosts),
    ]
    for row in _control_rows(report):
        cells = []
        for h in hosts:
            e = next((x for x in report["hosts"][h]["controls"] if x["id"] == row["id"]), None)
            cells.append(_MD_STATUS[e["status"]] if e else "-")
        lines.append("| %s | %s | %s |" % (row["id"], _md(row["title"]), " | ".join(cells)))
    for h in hosts:
        r = report["hosts"][h]
        lines += ["", "## %s" % _md(h), "", r["summary_line"], ""]
        notable = [e for e in r["controls"] if e["status"] in ("fail", "waived")]
        if not notable:
            lines.append("No failed or waived controls.")
        for e in notable:
            lines.append("- **%s** %s: %s -- %s" % (e["id"], e["status"].upper(), _md(e["title"]), _md(e["reason"])))
            if e.get("waiver"):
                lines.append(
                    "  - waiver: %s%s"
                    % (
                        _md(e["waiver"]["justification"]),
                        " (expires %s)" % e["waiver"]["expires"] if e["waiver"]["expires"] else "",
                    )
                )
            lines.append("  - evidence: `%s`" % _md_json(e["evidence"]))
        for w in r["waivers"]["expired"]:
            lines.append(
                "- expired waiver for %s (expired %s): %s" % (w["control"], w["expires"], _md(w["justification"]))
            )
    return "\n".join(lines) + "\n"


_CSS = """
:root{--pass:#1a7f37;--pass-bg:#dafbe1;--fail:#b42318;--fail-bg:#fee4e2;--skip:#57606a;--skip-bg:#eaeef2;
--waived:#9a6700;--waived-bg:#fff4c2;--line:#d0d7de}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1f2328;
background:#f6f8fa}
header{background:#1f2328;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header .meta{color:#c9d1d9;font-size:13px}
main{padding:20px 28px;max-width:1600px}
.fleet{font:600 16px ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;margin:0 0 18px;
padding:12px 16px;background:#fff;border:1px solid var(--line);border-left:6px solid var(--pass);border-radius:6px}
.fleet.bad{border-left-color:var(--fail)}
section.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:14px 18px;margin:0 0 20px}
h2{font-size:18px;margin:0 0 10px}
h3{font-size:14px;margin:16px 0 6px;color:#57606a;text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600;position:sticky;top:0}
td.id,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;white-space:nowrap}
.scroll{overflow-x:auto}
.matrix td.id{position:sticky;left:0;background:#fff}
.compact th.v{vertical-align:bottom;padding:4px 1px;font:11px ui-monospace,Menlo,Consolas,"DejaVu Sans Mono",monospace}
.compact th.v span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}
.compact td.c{padding:2px 1px;text-align:center}
.sq{display:inline-block;width:18px;height:18px;line-height:18px;border-radius:3px;font-size:10px;font-weight:700;
text-decoration:none}
.matrix td.s{text-align:center;width:1%;white-space:nowrap}
.matrix th.h{text-align:center;white-space:nowrap}
.badge{display:inline-block;min-width:58px;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;
text-align:center;text-decoration:none;white-space:nowrap}
.pass{color:var(--pass);background:var(--pass-bg)}
.fail{color:var(--fail);background:var(--fail-bg)}
.skip{color:var(--skip);background:var(--skip-bg)}
.waived{color:var(--waived);background:var(--waived-bg)}
.none{color:#8c959f}
.zero{color:#8c959f;background:transparent;border:1px solid var(--line)}
.overview{margin:-8px 0 18px;color:#57606a}
.attention{list-style:none;margin:6px 0 12px;padding:8px 12px;border:1px solid var(--line);border-radius:6px;
  background:#fffbfa}
.attention li{margin:2px 0}
.counts{white-space:nowrap}
.counts span{margin-right:6px}
tr.grp td{background:#f6f8fa;font-weight:600;color:#57606a}
details summary{cursor:pointer;color:#0969da}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:4px;padding:8px;overflow:auto;max-height:360px;
margin:6px 0;font-size:12px;white-space:pre-wrap;word-break:break-word}
.note{font-size:12px;color:#57606a}
.warn{color:var(--fail);font-weight:600}
.legend span{margin-right:10px}
"""

_LABEL = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP", "waived": "WAIVED"}


def _e(text):
    return html.escape(str(text if text is not None else ""), quote=True)


def _badge(status, href=None, title=None):
    attrs = ' title="%s"' % _e(title) if title else ""
    if href:
        return '<a class="badge %s" href="%s"%s>%s</a>' % (status, _e(href), attrs, _LABEL[status])
    return '<span class="badge %s"%s>%s</span>' % (status, attrs, _LABEL[status])


def _counts_html(counts):
    return '<span class="counts">%s</span>' % "".join(
        '<span class="badge %s">%d %s</span>' % (k if counts[k] else "zero", counts[k], _LABEL[k])
        for k in ("pass", "fail", "waived", "skip")
    )


def _host_state(r):
    """One word per host for the overview: what a reader must look at first."""
    if not r["inputs"]["audit"] and not r["inputs"]["proofs"]:
        return "skip", "NO DATA"
    if r["summary"]["fail"]:
        return "fail", "FAILING"
    if r["summary"]["waived"]:
        return "waived", "WAIVED"
    return "pass", "OK"


# Above this many hosts the matrix turns: hosts become rows and controls narrow columns, so that a
# fleet fits the page width instead of growing a column per host.
COMPACT_MATRIX_HOSTS = 8
_LETTER = {"pass": "P", "fail": "F", "skip": "S", "waived": "W"}


def _cell(report, host, control_id):
    return next((x for x in report["hosts"][host]["controls"] if x["id"] == control_id), None)


def _matrix_html(report, hosts, anchors):
    rows = _control_rows(report)
    legend = " ".join(_badge(s) for s in ("pass", "fail", "waived", "skip"))
    out = [
        '<section class="card"><h2>Fleet matrix</h2><p class="legend note">%s &nbsp; each cell links to the '
        "host's evidence; hover for the reason</p><div class=\"scroll\">" % legend
    ]
    if len(hosts) <= COMPACT_MATRIX_HOSTS:
        out.append(
            '<table class="matrix"><tr><th>Control</th><th>Title</th>%s</tr>'
            % "".join('<th class="h"><a href="#%s">%s</a></th>' % (anchors[h], _e(h)) for h in hosts)
        )
        group = None
        for row in rows:
            if row["source"] != group:
                group = row["source"]
                out.append(
                    '<tr class="grp"><td colspan="%d">%s</td></tr>'
                    % (2 + len(hosts), _e(SOURCE_TITLES.get(group, group)))
                )
            cells = []
            for h in hosts:
                e = _cell(report, h, row["id"])
                if e is None:
                    cells.append('<td class="s none" title="not evaluated on this host">&ndash;</td>')
                else:
                    cells.append(
                        '<td class="s">%s</td>' % _badge(e["status"], "#%s-%s" % (anchors[h], e["id"]), e["reason"])
                    )
            out.append(
                '<tr><td class="id">%s</td><td>%s</td>%s</tr>' % (_e(row["id"]), _e(row["title"]), "".join(cells))
            )
    else:
        out.append(
            '<table class="matrix compact"><tr><th>Host</th>%s</tr>'
            % "".join(
                '<th class="v" title="%s"><span>%s</span></th>' % (_e(row["title"]), _e(row["id"])) for row in rows
            )
        )
        for h in hosts:
            cells = []
            for row in rows:
                e = _cell(report, h, row["id"])
                if e is None:
                    cells.append('<td class="c none" title="not evaluated on this host">&middot;</td>')
                else:
                    cells.append(
                        '<td class="c"><a class="sq %s" href="#%s-%s" title="%s: %s">%s</a></td>'
                        % (e["status"], anchors[h], _e(e["id"]), _e(e["id"]), _e(e["reason"]), _LETTER[e["status"]])
                    )
            out.append('<tr><td class="id"><a href="#%s">%s</a></td>%s</tr>' % (anchors[h], _e(h), "".join(cells)))
    out.append("</table></div></section>")
    return "\n".join(out)


def render_html(report):
    hosts = list(report["hosts"])
    anchors = {h: "host-%d" % i for i, h in enumerate(hosts)}
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        "<title>%s</title><style>%s</style></head><body>" % (_e(report["title"]), _CSS),
    ]
    out.append(
        "<header><h1>%s</h1><div class=\"meta\">Generated %s &middot; %d host(s) &middot; "
        "schema %s &middot; outcome %s</div></header><main>"
        % (
            _e(report["title"]),
            _e(report.get("generated") or report["date"]),
            len(hosts),
            _e(report["schema"]),
            _e(report["outcome_digest"][:12]),
        )
    )
    bad = report["summary"]["fail"] > 0
    out.append('<p class="fleet%s">%s</p>' % (" bad" if bad else "", _e(report["summary_line"])))
    states = [_host_state(report["hosts"][h])[1] for h in hosts]
    expired = sum(1 for h in hosts if report["hosts"][h]["waivers"]["expired"])
    out.append(
        '<p class="overview">%d host(s): %s%s</p>'
        % (
            len(hosts),
            ", ".join(
                "%d %s" % (states.count(w), w.lower())
                for w in ("FAILING", "NO DATA", "WAIVED", "OK")
                if states.count(w)
            ),
            "; %d with expired waivers" % expired if expired else "",
        )
    )

    out.append(
        '<section class="card"><h2>Hosts</h2><table><tr><th>Host</th><th>State</th><th>Kernel</th>'
        "<th>Summary</th><th>Counts</th><th>Notes</th></tr>"
    )
    for h in hosts:
        r = report["hosts"][h]
        notes = []
        missing = [k for k, v in r["inputs"].items() if not v and k != "container"]
        if missing:
            notes.append('<span class="warn">missing: %s</span>' % _e(", ".join(missing)))
        if r["waivers"]["expired"]:
            notes.append('<span class="warn">%d expired waiver(s)</span>' % len(r["waivers"]["expired"]))
        cls, word = _host_state(r)
        out.append(
            '<tr><td><a href="#%s">%s</a></td><td><span class="badge %s">%s</span></td><td class="mono">%s</td>'
            '<td class="mono">%s</td><td>%s</td><td>%s</td></tr>'
            % (
                anchors[h],
                _e(h),
                cls,
                word,
                _e(r["kernel"] or "?"),
                _e(r["summary_line"]),
                _counts_html(r["summary"]),
                " ".join(notes),
            )
        )
    out.append("</table></section>")

    out.append(_matrix_html(report, hosts, anchors))

    for h in hosts:
        r = report["hosts"][h]
        out.append(
            '<section class="card" id="%s"><h2>%s</h2><p class="mono">%s &nbsp; kernel %s</p>'
            % (anchors[h], _e(h), _e(r["summary_line"]), _e(r["kernel"] or "?"))
        )
        for w in r["waivers"]["expired"]:
            out.append(
                '<p class="warn">Expired waiver for %s (expired %s, no longer applied): %s</p>'
                % (_e(w["control"]), _e(w["expires"]), _e(w["justification"]))
            )
        notable = [e for e in r["controls"] if e["status"] in ("fail", "waived")]
        if notable:
            out.append(
                '<ul class="attention">%s</ul>'
                % "".join(
                    '<li>%s <a class="mono" href="#%s-%s">%s</a> %s &mdash; <span class="note">%s</span></li>'
                    % (_badge(e["status"]), anchors[h], _e(e["id"]), _e(e["id"]), _e(e["title"]), _e(e["reason"]))
                    for e in notable
                )
            )
        group = None
        out.append("<table><tr><th>Control</th><th>Status</th><th>Title and evidence</th></tr>")
        for e in r["controls"]:
            if e["source"] != group:
                group = e["source"]
                out.append('<tr class="grp"><td colspan="3">%s</td></tr>' % _e(SOURCE_TITLES.get(group, group)))
            extra = ""
            if e.get("waiver"):
                extra += '<div class="note">Waived: %s%s</div>' % (
                    _e(e["waiver"]["justification"]),
                    " (until %s)" % _e(e["waiver"]["expires"]) if e["waiver"]["expires"] else "",
                )
            if e.get("waiver_expired"):
                extra += '<div class="note warn">Waiver expired %s</div>' % _e(e["waiver_expired"]["expires"])
            evidence = json.dumps(e["evidence"], indent=2, sort_keys=True, default=str)
            out.append(
                '<tr id="%s-%s"><td class="id">%s</td><td>%s</td><td><div>%s</div><div class="note">%s</div>%s'
                "<details><summary>evidence</summary><pre>%s</pre></details></td></tr>"
                % (
                    anchors[h],
                    _e(e["id"]),
                    _e(e["id"]),
                    _badge(e["status"]),
                    _e(e["title"]),
                    _e(e["reason"]),
                    extra,
                    _e(evidence),
                )
            )
        out.append("</table></section>")
    out.append(
        '<p class="note">nsverify &middot; statuses: pass, fail, skip (not applicable or not run), waived '
        "(a failed control with a written, unexpired waiver).</p></main></body></html>\n"
    )
    return "\n".join(out)


RENDERERS = {"json": render_json, "html": render_html, "markdown": render_markdown}
EXTENSIONS = {"json": "json", "html": "html", "markdown": "md"}

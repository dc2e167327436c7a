"""Waivers: a written justification that turns a failed control into `waived` on the hosts it
matches, valid through its expiry date. A waiver never changes a pass or a skip (it is then listed
as unused); an expired one no longer applies and is flagged on every host it matches.
"""

from __future__ import annotations

import datetime
import fnmatch
import re

from ansible.module_utils.nsverify import controls

WAIVER_KEYS = ("control", "justification", "hosts", "expires")


class WaiverError(ValueError):
    """A waiver file that cannot be used; the message lists every problem found."""


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

"""Bring a host's namespace sysctls to a profile's policy, idempotently, and undo it.

The policy names sysctls from a fixed set (MANAGED): user.max_<type>_namespaces (each type), and the
user-namespace policy switches kernel.unprivileged_userns_clone (Debian's patch) and
kernel.apparmor_restrict_unprivileged_userns (Ubuntu's AppArmor); nothing else is ever touched. A spec
is {"min": N} (raise to N when below, leave a higher value alone) or {"value": N} (exactly N, 0 turns a
type off). A sysctl this kernel lacks is reported as absent and left out.

state=present: every named sysctl that must change is written now (/proc/sys) and persisted in ONE file
(default /etc/sysctl.d/60-nsverify.conf) that holds the settings this tool made; the value found before
the first change is recorded (default /var/lib/nsverify/remediate-original.json) and never overwritten.
A second run finds nothing to do. state=absent writes the recorded values back, removes the file and the
record. plan() decides; apply() acts (the module runs it only outside check mode).
"""

from __future__ import annotations

import json
import os

from ansible.module_utils.nsverify import catalog, control_data, fileio, procfs

SYSCTL_FILE = control_data.SYSCTL_FILE
RECORD_FILE = "/var/lib/nsverify/remediate-original.json"
RECORD_SCHEMA = "nsverify-remediate-original/1"
LIMITS = tuple(catalog.get(t).limit_sysctl for t in catalog.TYPE_NAMES)
SWITCHES = ("kernel.unprivileged_userns_clone", "kernel.apparmor_restrict_unprivileged_userns")
MANAGED = LIMITS + SWITCHES
_SWITCH_VALUES = (0, 1)


class RemediateError(ValueError):
    """A policy or state file that cannot be used; the message says what and how to fix it."""


def _spec(name, spec):
    if isinstance(spec, bool) or not isinstance(spec, (int, dict)):
        raise RemediateError("%s: expected an integer or {min: N} / {value: N}, got %r" % (name, spec))
    spec = {"value": spec} if isinstance(spec, int) else dict(spec)
    if len(spec) != 1 or next(iter(spec)) not in ("min", "value"):
        raise RemediateError("%s: give exactly one of min or value, got %r" % (name, spec))
    (kind, number) = next(iter(spec.items()))
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise RemediateError("%s: %s must be an integer >= 0, got %r" % (name, kind, number))
    if name in SWITCHES and (kind != "value" or number not in _SWITCH_VALUES):
        raise RemediateError("%s is a switch: give value 0 or 1, got %r" % (name, spec))
    return spec


def policy(profile=None, settings=None):
    """{sysctl: spec} of a profile (control_data.PROFILES) with `settings` on top ({name: spec}; a spec
    of None drops the profile's entry). Unknown names are refused: only MANAGED sysctls are touched."""
    out = {}
    if profile:
        if profile not in control_data.PROFILES:
            raise RemediateError("unknown profile %r; choose one of %s" % (profile, ", ".join(control_data.PROFILES)))
        out.update(control_data.PROFILES[profile]["sysctl"])
    for name, spec in (settings or {}).items():
        if spec is None:
            out.pop(name, None)
        else:
            out[name] = spec
    unknown = sorted(n for n in out if n not in MANAGED)
    if unknown:
        raise RemediateError(
            "not a namespace sysctl this tool manages: %s; allowed: %s" % (", ".join(unknown), ", ".join(MANAGED))
        )
    return {name: _spec(name, out[name]) for name in MANAGED if name in out}


def read_record(path):
    """{name: original value} recorded when first changed; {} when there is no record."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RemediateError("record %s cannot be read (%s); move it away to start over" % (path, exc))
    if not isinstance(data, dict) or data.get("schema") != RECORD_SCHEMA or not isinstance(data.get("values"), dict):
        raise RemediateError("record %s is not an nsverify remediation record (schema %s)" % (path, RECORD_SCHEMA))
    return data["values"]


def read_file(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def render_conf(targets, profile=None, record=RECORD_FILE):
    lines = [
        "# Managed by nsverify_remediate%s: namespace sysctls, applied at boot by systemd-sysctl."
        % (" (profile %s)" % profile if profile else ""),
        "# Do not edit: rerun the role. state=absent removes this file and restores the values in %s." % record,
    ]
    lines += ["%s = %d" % (name, targets[name]) for name in MANAGED if name in targets]
    return "\n".join(lines) + "\n"


def _target(spec, current):
    if "value" in spec:
        return spec["value"]
    return max(current, spec["min"])


def plan(pol, sys="/proc/sys", conf=SYSCTL_FILE, record=RECORD_FILE, profile=None):
    """What present would do: {settings: {name: {current, target, change}}, absent: [...], file: {before,
    after}, record: {...}, changed}. A sysctl enters the file when it must change now or was changed
    before (it is in the record)."""
    recorded = read_record(record)
    settings, absent, targets = {}, [], {}
    for name, spec in pol.items():
        current = procfs.read_sysctl(name, sys)
        if current is None:
            absent.append(name)
            continue
        target = _target(spec, current)
        settings[name] = {"current": current, "target": target, "spec": spec, "change": current != target}
        if current != target or name in recorded:
            targets[name] = target
    before = read_file(conf)
    after = render_conf(targets, profile, record) if targets else None
    new_record = dict(recorded)
    for name, s in settings.items():
        if s["change"] and name not in new_record:
            new_record[name] = s["current"]
    changed = any(s["change"] for s in settings.values()) or before != after
    return {
        "state": "present",
        "settings": settings,
        "absent": absent,
        "file": {"path": conf, "before": before, "after": after},
        "record": {"path": record, "before": recorded, "after": new_record},
        "changed": changed,
    }


def plan_absent(sys="/proc/sys", conf=SYSCTL_FILE, record=RECORD_FILE):
    """What absent would do: restore each recorded value that differs now, remove the file and record."""
    recorded = read_record(record)
    settings = {}
    for name, original in recorded.items():
        if name not in MANAGED:
            raise RemediateError("record %s names %s, which this tool does not manage" % (record, name))
        current = procfs.read_sysctl(name, sys)
        if current is not None:
            settings[name] = {"current": current, "target": original, "change": current != original}
    before = read_file(conf)
    changed = before is not None or bool(recorded) or any(s["change"] for s in settings.values())
    return {
        "state": "absent",
        "settings": settings,
        "absent": [],
        "file": {"path": conf, "before": before, "after": None},
        "record": {"path": record, "before": recorded, "after": {}},
        "changed": changed,
    }


def _write_atomic(path, text, mode):
    fileio.write_atomic(path, text, mode, make_dirs=True)


def write_sysctl(name, value, sys="/proc/sys"):
    try:
        with open(procfs.sysctl_path(name, sys), "w") as fh:
            fh.write("%d\n" % value)
    except OSError as exc:
        raise RemediateError(
            "cannot set %s=%d: %s (needs root in the sysctl's namespace; a read-only /proc/sys in a container "
            "cannot be changed from inside)" % (name, value, exc.strerror or exc)
        )


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def apply(p, sys="/proc/sys"):
    """Carry out a plan of plan() or plan_absent(); returns the names written now."""
    written = []
    if p["state"] == "present" and p["record"]["after"] != p["record"]["before"]:
        # the originals go to disk before anything changes: an interrupted run can still be undone
        record = {"schema": RECORD_SCHEMA, "file": p["file"]["path"], "values": p["record"]["after"]}
        _write_atomic(p["record"]["path"], json.dumps(record, indent=2, sort_keys=True) + "\n", 0o600)
    for name, s in p["settings"].items():
        if s["change"]:
            write_sysctl(name, s["target"], sys)
            written.append(name)
    if p["file"]["after"] is None:
        _remove(p["file"]["path"])
    elif p["file"]["after"] != p["file"]["before"]:
        _write_atomic(p["file"]["path"], p["file"]["after"], 0o644)
    if p["state"] == "absent":
        _remove(p["record"]["path"])
    return written


def diff(p):
    """Ansible diff: the file, and the live values as 'name = value' lines."""
    live_before = "".join("%s = %d\n" % (n, s["current"]) for n, s in p["settings"].items())
    live_after = "".join("%s = %d\n" % (n, s["target"]) for n, s in p["settings"].items())
    return [
        {
            "before_header": p["file"]["path"],
            "after_header": p["file"]["path"],
            "before": p["file"]["before"] or "",
            "after": p["file"]["after"] or "",
        },
        {"before_header": "live sysctls", "after_header": "live sysctls", "before": live_before, "after": live_after},
    ]

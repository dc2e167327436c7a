"""The fleet merge: one file per host, written by whichever run saw the host, and a fleet report rendered
from all of them (issue 14: job slices, --limit runs, runs on different days audit a fleet in parts).

Each run writes `<dest>/hosts/<host>.json` for every host whose inputs it gathered (atomically, through
fileio.write_atomic): schema nsverify-host/1, the host's name, when its inputs were gathered (`audited`)
and the inputs themselves (facts, proofs, container, workloads, distribution). The fleet report is then
evaluated from every host file in that directory, this run's hosts taking their fresh inputs; waivers,
profile and options judge every host alike at render time.

A host whose file is older than `max_age` is listed as stale (in the report and in its host entry), not
merged as if it were current. A file in the directory that is not a host file of ours (not JSON, another
schema, a host name that is not its file name, inputs of the wrong shape) stops the report with a
HostFileError naming the file and how to fix it.
"""

from __future__ import annotations

import datetime
import json
import os
import re

from ansible.module_utils.nsverify import fileio, validate
from ansible.module_utils.nsverify.report import inputs

HOST_SCHEMA = "nsverify-host/1"
HOSTS_SUBDIR = "hosts"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_AGE_RE = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")


class HostFileError(ValueError):
    """A host file that is not one of ours or is damaged; the message names the file and the fix."""


def parse_max_age(value):
    """Seconds from 7d, 36h, 90m, 3600s, 2w or a plain number of seconds; None for no limit (empty or 0)."""
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, bool):
        raise ValueError("max_age %r is not a duration; give for example 7d, 36h, 90m or seconds" % (value,))
    m = _AGE_RE.match(str(value))
    if not m:
        raise ValueError(
            "max_age %r is not a duration; give a whole number with an optional unit s, m, h, d or w "
            "(7d, 36h, 90m), or 0 for no limit" % (value,)
        )
    seconds = int(m.group(1)) * _UNITS[m.group(2) or "s"]
    return seconds or None


def format_age(seconds):
    """4d 3h, 2h 5m, 40s: an age for people."""
    seconds = int(seconds)
    for unit, size, sub, subsize in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if seconds >= size:
            rest = (seconds % size) // subsize
            return "%d%s%s" % (seconds // size, unit, " %d%s" % (rest, sub) if rest else "")
    return "%ds" % seconds


def parse_time(text):
    return datetime.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)


def hosts_dir(dest):
    return os.path.join(dest, HOSTS_SUBDIR)


def host_path(directory, host):
    """directory/<host>.json; a host name that cannot be a file name is refused (names it)."""
    validate.basename(str(host), "host name")
    if str(host).startswith("."):
        raise validate.InvalidInput("host name %r cannot be a host file name (it starts with '.')" % (host,))
    return os.path.join(directory, "%s.json" % host)


def host_document(host, data, audited):
    """The nsverify-host/1 document of one host's inputs gathered at `audited` (a UTC time string)."""
    return {
        "schema": HOST_SCHEMA,
        "host": host,
        "audited": audited,
        "input": {k: (data or {}).get(k) for k in inputs.INPUT_KEYS},
    }


def render_host(doc):
    return json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n"


def write_host_files(directory, hosts, audited, mode=0o644):
    """Write the file of every host in {host: data} that has inputs; the paths written, by host."""
    written = {}
    for host in sorted(hosts):
        if not hosts[host]:  # not gathered this run (unreachable, failed early): keep what an earlier run wrote
            continue
        path = host_path(directory, host)
        fileio.write_atomic(path, render_host(host_document(host, hosts[host], audited)), mode, make_dirs=True)
        written[host] = path
    return written


def _fix(path):
    host = os.path.basename(path)[: -len(".json")]
    return (
        "remove it, or rerun the report on that host (ansible-playbook playbooks/report.yml --limit %s) to write "
        "it again" % host
    )


def parse_host_file(text, path):
    """The document in `text` read from `path`, or HostFileError naming the file, the problem and the fix."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise HostFileError("host file %s is not valid JSON (%s); %s" % (path, exc, _fix(path)))
    if not isinstance(doc, dict) or doc.get("schema") != HOST_SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else "a JSON %s" % type(doc).__name__
        raise HostFileError(
            "host file %s is not an nsverify host file (schema %r, expected %r); move it out of %s (only "
            "nsverify_report writes there), or remove it" % (path, found, HOST_SCHEMA, os.path.dirname(path))
        )
    stem = os.path.basename(path)[: -len(".json")]
    if doc.get("host") != stem:
        raise HostFileError(
            "host file %s holds host %r, not %r (its file name); %s" % (path, doc.get("host"), stem, _fix(path))
        )
    try:
        parse_time(doc.get("audited") or "")
    except (TypeError, ValueError):
        raise HostFileError(
            "host file %s: audited %r is not a UTC time (%s); %s" % (path, doc.get("audited"), TIME_FORMAT, _fix(path))
        )
    if not isinstance(doc.get("input"), dict):
        raise HostFileError("host file %s has no 'input' mapping; %s" % (path, _fix(path)))
    try:
        inputs.check_host(stem, doc["input"])
    except inputs.InputError as exc:
        raise HostFileError("host file %s: %s; %s" % (path, exc, _fix(path)))
    return doc


def read_host_files(directory):
    """{host: document} of every <host>.json in `directory` (temporary .nsv-* files and others ignored)."""
    if not os.path.isdir(directory):
        return {}
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") or not name.endswith(".json"):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise HostFileError("host file %s cannot be read (%s); %s" % (path, why, _fix(path)))
        doc = parse_host_file(text, path)
        out[doc["host"]] = doc
    return out


def merge(current, stored, now, max_age=None):
    """(hosts for build_report, merge summary) from this run's {host: data} and the stored documents.

    A host this run gathered takes its fresh inputs (audited now); any other host takes its file's inputs
    and audit time, and is stale when that is more than max_age seconds before now."""
    now_text = now.strftime(TIME_FORMAT)
    hosts, this_run, from_files, stale = {}, [], [], []
    for host in sorted(set(current) | set(stored)):
        data = current.get(host)
        if data:
            hosts[host] = dict(data, audited=now_text)
            this_run.append(host)
            continue
        doc = stored.get(host)
        if doc is None:  # in the play, not gathered, never written: its controls are skipped with the reason
            hosts[host] = {}
            this_run.append(host)
            continue
        entry = dict(doc["input"], audited=doc["audited"])
        age = (now - parse_time(doc["audited"])).total_seconds()
        from_files.append(host)
        if max_age is not None and age > max_age:
            entry["stale"] = {
                "audited": doc["audited"],
                "age": format_age(age),
                "age_seconds": int(age),
                "max_age": format_age(max_age),
                "reason": "last audited %s (%s ago, more than the max age %s): rerun the report on this host"
                % (doc["audited"], format_age(age), format_age(max_age)),
            }
            stale.append(host)
        hosts[host] = entry
    summary = {
        "this_run": this_run,
        "from_files": from_files,
        "stale": stale,
        "max_age": format_age(max_age) if max_age else None,
    }
    return hosts, summary


def stale_line(merged):
    """One line naming the stale hosts, or '' when there are none."""
    if not merged or not merged.get("stale"):
        return ""
    return "stale (older than %s, not current): %s" % (merged["max_age"], ", ".join(merged["stale"]))

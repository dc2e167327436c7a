"""The kernel audit's per-host files on the controller: `<dir>/<host>.json`, one per host of the play, written in
one step by nsverify_audit_summary (which already holds every host's facts) instead of one delegated `copy` task
per host (issue 13: that task was 55 % of a fleet audit's time).

The text is what the role's `copy` task wrote before, byte for byte (`to_nice_json(sort_keys=true)` and a
newline: four-space indent, sorted keys, ASCII escapes), so readers of the files (docs/FLEET.md, the tests) see
no difference. A file is rewritten only when its text or mode differs; a host without facts this run
(unreachable, failed) keeps the file an earlier run wrote, as a skipped `copy` did.
"""

from __future__ import annotations

import json
import os

from ansible.module_utils.nsverify import fileio
from ansible.module_utils.nsverify.report import files, hostfiles


def host_text(facts):
    """A host's file: its ansible_facts.nsverify as Ansible's to_nice_json(sort_keys=true) renders it, and a newline."""
    return json.dumps(facts, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


def plan(directory, hosts, mode):
    """The files to write: [{host, path, before, after}] for each host with facts whose file's text or mode
    differs, in host order. A host name that cannot be a file name raises validate.InvalidInput naming it."""
    changes = []
    for host in sorted(hosts, key=str):
        facts = hosts[host]
        if not facts:  # not audited this run: keep what an earlier run wrote
            continue
        path = hostfiles.host_path(directory, host)
        after = host_text(facts)
        before = files.read_text(path)
        if before == after and os.stat(path).st_mode & 0o7777 == mode:
            continue
        changes.append({"host": host, "path": path, "before": before, "after": after})
    return changes


def write(changes, mode):
    """Write each planned file atomically (the directory is created when missing)."""
    for change in changes:
        fileio.write_atomic(change["path"], change["after"], mode, make_dirs=True)


def diffs(changes):
    """Ansible diff entries, one per file."""
    return [
        {"before": c["before"] or "", "after": c["after"], "before_header": c["path"], "after_header": c["path"]}
        for c in changes
    ]

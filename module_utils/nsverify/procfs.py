"""Parsers for /proc text, by the kernel's grammar (proc(5)). One home for each format.

Parsers take text and return data; readers take the path root (proc="/proc") so tests
can point them at captured trees.
"""

from __future__ import annotations

import os
import re

from ansible.module_utils.nsverify import catalog

_OCTAL_RE = re.compile(r"\\([0-7]{3})")


def unescape(field):
    """mountinfo octal-escapes space, tab, newline and backslash as \\ooo."""
    return _OCTAL_RE.sub(lambda m: chr(int(m.group(1), 8)), field)


def _propagation(optional):
    # mount_namespaces(7): "shared:N" and "master:N" may both be present (a shared slave);
    # no tag at all means private.
    kinds = [t.split(":")[0] for t in optional]
    if "unbindable" in kinds:
        return "unbindable"
    if "shared" in kinds:
        return "shared"
    if "master" in kinds:
        return "slave"
    return "private"


def parse_mountinfo(text):
    """/proc/<pid>/mountinfo -> [{mount_id, parent_id, major_minor, root, mount_point, options,
    optional, propagation, fstype, source, super_options}].

    A variable number of optional fields (shared:N, master:N, propagate_from:N, unbindable)
    ends at the '-' separator; paths are octal-escaped. Lines that do not follow the
    grammar are skipped.
    """
    mounts = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 10 or "-" not in f[6:]:
            continue
        sep = f.index("-", 6)
        if len(f) < sep + 3:
            continue
        try:
            mount_id, parent_id = int(f[0]), int(f[1])
        except ValueError:
            continue
        optional = f[6:sep]
        mounts.append(
            {
                "mount_id": mount_id,
                "parent_id": parent_id,
                "major_minor": f[2],
                "root": unescape(f[3]),
                "mount_point": unescape(f[4]),
                "options": f[5],
                "optional": optional,
                "propagation": _propagation(optional),
                "fstype": f[sep + 1],
                "source": unescape(f[sep + 2]),
                "super_options": f[sep + 3] if len(f) > sep + 3 else "",
            }
        )
    return mounts


def read_mountinfo(pid="self", proc="/proc"):
    with open(os.path.join(proc, str(pid), "mountinfo")) as fh:
        return parse_mountinfo(fh.read())


def parse_id_map(text):
    """uid_map/gid_map text -> [[inside, outside, count], ...]; malformed lines are skipped."""
    out = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            out.append([int(p) for p in parts])
    return out


def parse_stat(text):
    """/proc/<pid>/stat -> {'state', 'ppid', 'starttime'} (starttime None when the text is cut short).

    comm (field 2) may hold spaces and ')', so the fields are counted from the last ')'.
    """
    rest = text[text.rindex(")") + 2 :].split()
    return {"state": rest[0], "ppid": int(rest[1]), "starttime": int(rest[19]) if len(rest) > 19 else None}


def ns_path(pid, type_name, proc="/proc"):
    """/proc/<pid>/ns/<entry> of a namespace type: the one place that spells these paths.
    `pid` may be a number, "self" or "thread-self"."""
    return os.path.join(proc, str(pid), "ns", catalog.get(type_name).proc_entry)

"""Compare the namespaces of processes: /proc/<pid>/ns/* inodes and NSpid."""

from __future__ import annotations

import os
import re

from ansible.module_utils.nsverify import catalog

_NS_LINK_RE = re.compile(r"^([a-z_]+):\[(\d+)\]$")


def parse_ns_link(target):
    """'net:[4026531833]' -> ('net', 4026531833); ValueError otherwise."""
    m = _NS_LINK_RE.match(target or "")
    if not m:
        raise ValueError("not a namespace link target: %r" % (target,))
    return m.group(1), int(m.group(2))


def ns_inode(path):
    """Inode of a namespace file: a /proc/<pid>/ns/* link or a bind mount of one."""
    return os.stat(path).st_ino


def read_ns_inodes(pid="self", proc="/proc", types=None):
    """{type: inode or None} for a process. None where the entry is missing or unreadable
    (this host's PID 1 has links that read as empty even for root)."""
    out = {}
    for name in types or catalog.TYPE_NAMES:
        entry = catalog.get(name).proc_entry
        try:
            _, ino = parse_ns_link(os.readlink(os.path.join(proc, str(pid), "ns", entry)))
        except (OSError, ValueError):
            ino = None
        out[name] = ino
    return out


def parse_status_nspid(text):
    """The NSpid line of /proc/<pid>/status as a list of ints (outermost first), or []."""
    for line in text.splitlines():
        if line.startswith("NSpid:"):
            return [int(x) for x in line.split()[1:]]
    return []


def read_nspid(pid="self", proc="/proc"):
    with open(os.path.join(proc, str(pid), "status")) as fh:
        return parse_status_nspid(fh.read())


def compare(pid, reference="self", proc="/proc", types=None):
    """{type: {'inode', 'reference_inode', 'isolated'}} comparing `pid` with `reference`."""
    mine = read_ns_inodes(pid, proc, types)
    ref = read_ns_inodes(reference, proc, types)
    out = {}
    for name in mine:
        a, b = mine[name], ref[name]
        out[name] = {
            "inode": a,
            "reference_inode": b,
            "isolated": None if a is None or b is None else a != b,
        }
    return out

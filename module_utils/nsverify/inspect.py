"""Compare the namespaces of processes: /proc/<pid>/ns/* inodes and NSpid."""

from __future__ import annotations

import os

from ansible.module_utils.nsverify import catalog, procfs

# The /proc formats live in procfs; these names stay for callers that know them from here.
parse_ns_link = procfs.parse_ns_link
parse_status_nspid = procfs.parse_status_nspid


def ns_inode(path):
    """Inode of a namespace file: a /proc/<pid>/ns/* link or a bind mount of one."""
    return os.stat(path).st_ino


def read_ns_inodes(pid="self", proc="/proc", types=None):
    """{type: inode or None} for a process. None where the entry is missing or unreadable
    (this host's PID 1 has links that read as empty even for root)."""
    return {name: procfs.ns_link_inode(procfs.ns_path(pid, name, proc)) for name in types or catalog.TYPE_NAMES}


def read_nspid(pid="self", proc="/proc"):
    with open(os.path.join(proc, str(pid), "status")) as fh:
        return procfs.parse_status_nspid(fh.read())


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

"""Parsers for /proc text, by the kernel's grammar (proc(5)). One home for each format.

Parsers take text and return data; readers take the path root (proc="/proc") so tests
can point them at captured trees.
"""

from __future__ import annotations

import os
import re
import socket
import struct

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


# ---------------------------------------------------------------- namespace links
_NS_LINK_RE = re.compile(r"^([a-z_]+):\[(\d+)\]$")


def parse_ns_link(target):
    """'net:[4026531833]' (readlink of /proc/<pid>/ns/<entry>) -> ('net', 4026531833); ValueError otherwise."""
    m = _NS_LINK_RE.match(target or "")
    if not m:
        raise ValueError("not a namespace link target: %r" % (target,))
    return m.group(1), int(m.group(2))


def ns_link_inode(path):
    """Inode named by a namespace link, or None when it cannot be read (a process gone, another
    user's process, this machine's PID 1) or is no namespace link."""
    try:
        return parse_ns_link(os.readlink(path))[1]
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- plain files: text, numbers, sysctls
def read_text(path):
    """The text of a /proc or /sys file, or None when it cannot be read."""
    try:
        with open(path, errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def read_int(path):
    """A file holding one integer (a sysctl), or None when absent, unreadable or not a number."""
    text = read_text(path)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def sysctl_path(name, sys="/proc/sys"):
    """'user.max_net_namespaces' -> /proc/sys/user/max_net_namespaces (sysctl(8) names)."""
    return os.path.join(sys, *name.split("."))


def read_sysctl(name, sys="/proc/sys"):
    """An integer sysctl, or None when this kernel has no such file (user.max_*_namespaces: < 4.9)."""
    return read_int(sysctl_path(name, sys))


# ---------------------------------------------------------------- /proc/cmdline, /proc/<pid>/{status,cmdline}
def parse_cmdline(text):
    """Kernel command line (/proc/cmdline) -> {key: value} (value True for bare flags); after
    '--' the words belong to init and are ignored."""
    out = {}
    for word in (text or "").split():
        if word == "--":
            break
        key, sep, value = word.partition("=")
        out[key] = value if sep else True
    return out


def parse_status_field(text, field):
    """The words after `field:` in /proc/<pid>/status, or None when the line is absent."""
    prefix = field + ":"
    for line in (text or "").splitlines():
        if line.startswith(prefix):
            return line[len(prefix) :].split()
    return None


def parse_cap_eff(status_text):
    """CapEff of /proc/<pid>/status as an int bit mask, or None."""
    words = parse_status_field(status_text, "CapEff")
    return int(words[0], 16) if words else None


def parse_status_nspid(text):
    """The NSpid line of /proc/<pid>/status as a list of ints (outermost first), or []."""
    return [int(x) for x in parse_status_field(text, "NSpid") or []]


def parse_argv(data):
    """/proc/<pid>/cmdline bytes (NUL-separated) -> argv."""
    return [a.decode(errors="replace") for a in data.split(b"\0") if a]


def read_argv(pid, proc="/proc"):
    """argv of a process; OSError when it is gone."""
    with open(os.path.join(proc, str(pid), "cmdline"), "rb") as fh:
        return parse_argv(fh.read())


def read_stat(pid, proc="/proc"):
    """parse_stat of /proc/<pid>/stat; OSError when the process is gone."""
    with open(os.path.join(proc, str(pid), "stat")) as fh:
        return parse_stat(fh.read())


# The initial user namespace maps the whole 32-bit range onto itself (user_namespaces(7)).
INITIAL_ID_MAP = [[0, 0, 4294967295]]


def is_initial_id_map(entries):
    """True for the map of the initial user namespace (parse_id_map's lists, or tuples)."""
    return [list(e) for e in entries] == INITIAL_ID_MAP


def parse_timens_offsets(text):
    """/proc/<pid>/timens_offsets -> {'monotonic': seconds (float), 'boottime': ...}.
    Lines are '<clock> <secs> <nanosecs>'; the clock may be written as a name or its id."""
    names = {"1": "monotonic", "7": "boottime"}
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) == 3:
            out[names.get(f[0], f[0])] = int(f[1]) + int(f[2]) / 1e9
    return out


# ---------------------------------------------------------------- /proc/<pid>/{cgroup,comm,uid_map,status}
def parse_cgroup(text):
    """/proc/<pid>/cgroup -> [{'id': int, 'controllers': str, 'path': str}]; v2 is '0::<path>'
    (the path may hold ':', so a line splits at its first two only)."""
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[0].isdigit():
            out.append({"id": int(parts[0]), "controllers": parts[1], "path": parts[2]})
    return out


def read_cgroup(pid="self", proc="/proc"):
    with open(os.path.join(proc, str(pid), "cgroup")) as fh:
        return parse_cgroup(fh.read())


def read_comm(pid, proc="/proc"):
    """The command name of a process, or None when it is gone."""
    try:
        with open(os.path.join(proc, str(pid), "comm")) as fh:
            return fh.read().strip()
    except OSError:
        return None


def read_state(pid, proc="/proc"):
    """The state letter of a process (R, S, Z, ...), or None when it is gone."""
    try:
        return read_stat(pid, proc)["state"]
    except (OSError, ValueError):
        return None


def read_id_map(pid="self", which="uid_map", proc="/proc"):
    """parse_id_map of /proc/<pid>/uid_map (or gid_map)."""
    with open(os.path.join(proc, str(pid), which)) as fh:
        return parse_id_map(fh.read())


def parse_status_ids(text):
    """{'Uid': [real, effective, saved, fs], 'Gid': [...], 'CapEff': hex} from /proc/<pid>/status."""
    out = {}
    for key in ("Uid", "Gid"):
        words = parse_status_field(text, key)
        if words is not None:
            out[key] = [int(x) for x in words]
    cap = parse_status_field(text, "CapEff")
    if cap is not None:
        out["CapEff"] = " ".join(cap)
    return out


def read_status_ids(pid="self", proc="/proc"):
    with open(os.path.join(proc, str(pid), "status")) as fh:
        return parse_status_ids(fh.read())


# ---------------------------------------------------------------- /proc/sysvipc, /proc/<pid>/net/tcp
def parse_sysvipc_keys(text):
    """Keys (ints) listed in a /proc/sysvipc/{shm,sem,msg} table (the first line is its header)."""
    keys = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if f and f[0].lstrip("-").isdigit():
            keys.append(int(f[0]))
    return keys


def read_sysvipc_keys(kind, proc="/proc"):
    with open(os.path.join(proc, "sysvipc", kind)) as fh:
        return parse_sysvipc_keys(fh.read())


def _hex_ipv4(text):
    """/proc/net/tcp writes IPv4 addresses as the raw 32-bit value in host byte order."""
    return socket.inet_ntoa(struct.pack("<I", int(text, 16)))


def parse_net_tcp(text):
    """Rows of /proc/net/tcp: [{local, local_port, remote, remote_port, state, uid, inode}]."""
    rows = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or ":" not in f[1]:
            continue
        laddr, lport = f[1].split(":")
        raddr, rport = f[2].split(":")
        rows.append(
            {
                "local": _hex_ipv4(laddr),
                "local_port": int(lport, 16),
                "remote": _hex_ipv4(raddr),
                "remote_port": int(rport, 16),
                "state": f[3].upper(),
                "uid": int(f[7]),
                "inode": int(f[9]),
            }
        )
    return rows


def read_net_tcp(pid="self", proc="/proc"):
    """/proc/<pid>/net/tcp: the TCP sockets of the network namespace `pid` is in."""
    with open(os.path.join(proc, str(pid), "net", "tcp")) as fh:
        return parse_net_tcp(fh.read())

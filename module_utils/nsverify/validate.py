"""The one room for input rules: names, host and interface names, networks, id maps, time
offsets, limits and output paths. Every module and engine room validates through here, so a
rule is written once and a bad value gets the same clear message wherever it is given.

Each validator returns the canonical value or raises InvalidInput (a ValueError) whose message
says what was wrong and how to fix it; nothing here touches the host.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import time

from ansible.module_utils.nsverify import kernel


class InvalidInput(ValueError):
    """A value a caller gave that cannot be used; the message names the option and the fix."""


# ---------------------------------------------------------------- names of things we make
# One grammar for every name that becomes a path component, a cgroup or part of an interface
# name: a letter or digit first (never '-', which tools read as an option, nor '.', so no '.'
# or '..'), then letters, digits, '_', '.', '-'. Policies differ only in length and case.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NAME_MAX = 64
CONTAINER_NAME_MAX = 32


def name(value, what="name", max_len=NAME_MAX, lowercase=False):
    """A name that is safe as one path component; returns it unchanged."""
    if not isinstance(value, str) or not value:
        raise InvalidInput("%s must be a non-empty string of letters, digits, '_', '.' and '-'" % what)
    if len(value) > max_len:
        raise InvalidInput("%s %r is %d characters long; at most %d are allowed" % (what, value, len(value), max_len))
    if lowercase and value != value.lower():
        raise InvalidInput("%s %r must be lower case (it names cgroups and files)" % (what, value))
    if not _NAME_RE.match(value):
        bad = sorted(set(c for c in value if not re.match(r"[A-Za-z0-9_.-]", c)))
        if bad:
            why = "contains %s" % ", ".join(repr(c) for c in bad)
        else:
            why = "starts with %r" % value[0]
        raise InvalidInput(
            "%s %r %s: use only letters, digits, '_', '.' and '-', starting with a letter or digit "
            "(no '/', no '..')" % (what, value, why)
        )
    return value


def container_name(value):
    return name(value, "container name", CONTAINER_NAME_MAX, lowercase=True)


# A pod (like Kubernetes'): members join the first container's namespaces of these types; each member
# keeps its own mnt (its root), cgroup (its limits), user and time namespaces.
POD_SHARE_TYPES = ("uts", "ipc", "pid", "net")  # the catalogue's order
POD_SHARE_DEFAULT = ("uts", "ipc", "net")


def pod(value, share=None, member=None):
    """The pod a container joins: {'name', 'share': types in the catalogue's order}, or None without one.
    `member` is the joining container's own name (a container cannot be its own pod)."""
    if value in (None, ""):
        if share:
            raise InvalidInput(
                "pod_share %s needs pod: name the running nsverify container whose namespaces to join"
                % ", ".join(str(t) for t in share)
            )
        return None
    name(value, "pod", CONTAINER_NAME_MAX, lowercase=True)
    if member is not None and value == member:
        raise InvalidInput(
            "pod %r is this container itself: a container cannot join its own namespaces; name the first "
            "container of the pod (started without pod)" % value
        )
    share = list(POD_SHARE_DEFAULT if share is None else share)
    if not share:
        raise InvalidInput(
            "pod_share is empty: a pod member shares at least one of %s with the first container; leave pod "
            "out for a container of its own" % ", ".join(POD_SHARE_TYPES)
        )
    unknown = sorted(set(str(t) for t in share if t not in POD_SHARE_TYPES))
    if unknown:
        raise InvalidInput(
            "pod_share %s: cannot be shared in a pod; choose from %s (mnt, cgroup, user and time stay each "
            "member's own: its root, its cgroup limits, its id maps and clocks)"
            % (", ".join(repr(t) for t in unknown), ", ".join(POD_SHARE_TYPES))
        )
    return {"name": value, "share": [t for t in POD_SHARE_TYPES if t in share]}


# ---------------------------------------------------------------- hostnames, interfaces, networks
HOST_NAME_MAX = 64  # sethostname(2)
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def hostname(value, what="hostname"):
    """An RFC 1123 host name of at most HOST_NAME_MAX bytes."""
    if not isinstance(value, str) or not value or len(value.encode()) > HOST_NAME_MAX:
        raise InvalidInput("%s %r must be 1 to %d characters (HOST_NAME_MAX)" % (what, value, HOST_NAME_MAX))
    if not all(_LABEL_RE.match(label) for label in value.split(".")):
        raise InvalidInput(
            "%s %r is not a valid host name: use letters, digits and '-' in dot-separated labels, "
            "no label starting or ending with '-'" % (what, value)
        )
    return value


IFNAME_MAX = 15  # IFNAMSIZ - 1
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def ifname(value, what="interface name", prefix="nsv"):
    """A network interface name we may create: at most 15 characters, our prefix first."""
    if not isinstance(value, str) or not value or len(value) > IFNAME_MAX:
        raise InvalidInput("%s %r must be 1 to %d characters (IFNAMSIZ - 1)" % (what, value, IFNAME_MAX))
    if prefix and not value.startswith(prefix):
        raise InvalidInput("%s %r must start with %r (everything nsverify makes carries it)" % (what, value, prefix))
    if not _IFNAME_RE.match(value) or value in (".", ".."):
        raise InvalidInput("%s %r may use only letters, digits, '_', '.' and '-'" % (what, value))
    return value


def network30(value, what="network"):
    """A private IPv4 /30 -> (network, host address/30, container address/30)."""
    try:
        net = ipaddress.ip_network(value, strict=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("%s %r is not a valid network: %s (e.g. 10.213.0.0/30)" % (what, value, exc))
    if net.version != 4 or net.prefixlen != 30 or not net.is_private:
        raise InvalidInput("%s %r must be a private IPv4 /30, e.g. 10.213.0.0/30" % (what, value))
    hosts = list(net.hosts())
    return str(net), "%s/30" % hosts[0], "%s/30" % hosts[1]


# ---------------------------------------------------------------- integers
def integer(value, what, minimum=None, maximum=None):
    """An integer given as int or decimal string; bools, fractions and words are refused."""
    if isinstance(value, bool):
        raise InvalidInput("%s must be an integer, got %r" % (what, value))
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise InvalidInput("%s must be a whole number, got %r" % (what, value))
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if not re.match(r"^[+-]?\d+$", text):
            raise InvalidInput("%s must be an integer, got %r" % (what, value))
        value = int(text)
    elif not isinstance(value, int):
        raise InvalidInput("%s must be an integer, got %r" % (what, value))
    if minimum is not None and value < minimum:
        raise InvalidInput("%s %d is below the minimum %d" % (what, value, minimum))
    if maximum is not None and value > maximum:
        raise InvalidInput("%s %d is above the maximum %d" % (what, value, maximum))
    return value


# ---------------------------------------------------------------- uid/gid maps
# One shape everywhere: a list of {inside, outside, count}. The older list form
# [[inside, outside, count], ...] is still accepted, with a deprecation message.
MAX_ID = 4294967294  # (uid_t)-1 is not an id
ID_MAP_KEYS = ("inside", "outside", "count")
ID_MAP_LIST_DEPRECATION = (
    "%s given as [inside, outside, count] lists is deprecated: use a list of {inside, outside, count} "
    "mappings (the same shape in every nsverify module)"
)


def id_map_line_limit(release=None):
    """Lines a uid_map/gid_map may hold: 340 from 4.15, 5 before (user_namespaces(7))."""
    release = release or kernel.running_release()
    return 340 if kernel.at_least(release, (4, 15, 0)) else 5


def id_map(entries, what="uid_map", release=None, warnings=None):
    """Validate a map; return it as a list of {inside, outside, count} sorted by inside.

    A list-shaped line is accepted and a deprecation message appended to `warnings` (a list)."""
    if not isinstance(entries, (list, tuple)) or not entries:
        raise InvalidInput("%s is empty: give at least one {inside, outside, count}" % what)
    limit = id_map_line_limit(release)
    if len(entries) > limit:
        raise InvalidInput(
            "%s has %d lines; this kernel (%s) accepts at most %d"
            % (what, len(entries), release or kernel.running_release(), limit)
        )
    out = []
    listed = False
    for i, e in enumerate(entries):
        line = "%s line %d" % (what, i + 1)
        if isinstance(e, dict):
            unknown = sorted(set(e) - set(ID_MAP_KEYS))
            missing = [k for k in ID_MAP_KEYS if k not in e]
            if unknown or missing:
                raise InvalidInput(
                    "%s must have exactly inside, outside and count (%s)"
                    % (
                        line,
                        "; ".join(
                            filter(
                                None,
                                [
                                    "missing " + ", ".join(missing) if missing else "",
                                    "unknown " + ", ".join(unknown) if unknown else "",
                                ],
                            )
                        ),
                    )
                )
            raw = [e[k] for k in ID_MAP_KEYS]
        elif isinstance(e, (list, tuple)) and len(e) == 3:
            listed = True
            raw = list(e)
        else:
            raise InvalidInput(
                "%s must be {inside, outside, count} (or the deprecated [inside, outside, count] list), got %r"
                % (line, e)
            )
        inside, outside = (integer(v, "%s %s" % (line, k), minimum=0) for k, v in zip(ID_MAP_KEYS[:2], raw[:2]))
        count = integer(raw[2], "%s count" % line)
        if count < 1:
            raise InvalidInput("%s count %d is below the minimum 1: count must be at least 1" % (line, count))
        for label, start in (("inside", inside), ("outside", outside)):
            if start + count - 1 > MAX_ID:
                raise InvalidInput(
                    "%s: %s range %d..%d is out of range; ids go from 0 to %d"
                    % (line, label, start, start + count - 1, MAX_ID)
                )
        out.append({"inside": inside, "outside": outside, "count": count})
    for label in ("inside", "outside"):
        ranges = sorted((e[label], e[label] + e["count"] - 1) for e in out)
        for (a_lo, a_hi), (b_lo, b_hi) in zip(ranges, ranges[1:]):
            if b_lo <= a_hi:
                raise InvalidInput(
                    "%s: %s ranges %d..%d and %d..%d overlap; the kernel refuses overlapping lines "
                    "(user_namespaces(7))" % (what, label, a_lo, a_hi, b_lo, b_hi)
                )
    if listed and warnings is not None:
        warnings.append(ID_MAP_LIST_DEPRECATION % what)
    return sorted(out, key=lambda e: e["inside"])


def id_map_lines(entries):
    """[{inside, outside, count}] -> [(inside, outside, count)], the order the kernel reads."""
    return [(e["inside"], e["outside"], e["count"]) for e in entries]


def maps_root(entries):
    """True when the map gives the namespace a uid (or gid) 0."""
    return any(e["inside"] <= 0 < e["inside"] + e["count"] for e in entries)


# ---------------------------------------------------------------- time namespace offsets
CLOCKS = ("monotonic", "boottime")
KTIME_SEC_MAX = 9223372036854775807 // 1000000000


def read_clocks():
    return {"monotonic": time.clock_gettime(time.CLOCK_MONOTONIC), "boottime": time.clock_gettime(time.CLOCK_BOOTTIME)}


def time_offset(value, clock, now=None):
    """An offset in whole seconds that keeps `clock` within 0..KTIME_SEC_MAX/2, the kernel's bounds
    for /proc/<pid>/timens_offsets (time_namespaces(7)): outside them the write fails with ERANGE."""
    if clock not in CLOCKS:
        raise InvalidInput(
            "time offset clock %r must be one of %s (only monotonic and boottime have offsets, "
            "time_namespaces(7))" % (clock, ", ".join(CLOCKS))
        )
    value = integer(value, "%s offset" % clock)
    now = read_clocks()[clock] if now is None else now
    if now + value < 0:
        raise InvalidInput(
            "%s offset %d would put the %s clock before zero (it reads %d s now); use at least %d"
            % (clock, value, clock, int(now), -int(now))
        )
    if now + value > KTIME_SEC_MAX // 2:
        raise InvalidInput(
            "%s offset %d is too large: the clock may not pass %d s (time_namespaces(7))"
            % (clock, value, KTIME_SEC_MAX // 2)
        )
    return value


def time_offsets(offsets, clocks=None):
    """{clock: seconds} -> the same, validated; None or {} stays None."""
    if not offsets:
        return None
    if not isinstance(offsets, dict):
        raise InvalidInput("time offsets must be a mapping of %s to seconds, got %r" % (" and ".join(CLOCKS), offsets))
    clocks = clocks or read_clocks()
    return {c: time_offset(offsets[c], c, clocks.get(c)) for c in sorted(offsets, key=str)}


# ---------------------------------------------------------------- resource limits
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}


def size(value, what="memory"):
    """'64M', '1g', 65536 -> bytes; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput("%s must be a size such as 64M, got %r" % (what, value))
    if isinstance(value, int):
        n = value
    else:
        # a fraction with a unit ("1.5G") as the container's memory option always took it
        m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$", str(value))
        if not m or m.group(2).lower() not in _UNITS:
            raise InvalidInput("%s %r is not a size: use bytes or a number with K, M or G (e.g. 64M)" % (what, value))
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise InvalidInput("%s must be positive, got %r" % (what, value))
    return n


def cpus(value, minimum=0.01):
    """A CPU share such as 0.5 (half a CPU); finite and at least `minimum`."""
    if value is None or value == "":
        return None
    try:
        n = float(value)
    except (TypeError, ValueError):
        raise InvalidInput("cpus %r must be a number of CPUs such as 0.5" % (value,))
    if isinstance(value, bool) or not math.isfinite(n):
        raise InvalidInput("cpus %r must be a finite number of CPUs such as 0.5" % (value,))
    if n < minimum:
        raise InvalidInput("cpus %r must be at least %s" % (value, minimum))
    return n


# ---------------------------------------------------------------- output paths
def basename(value, what="basename"):
    """A file name (one path component) for files we write under a directory the user chose."""
    if not isinstance(value, str) or not value or "/" in value or "\0" in value or value in (".", ".."):
        raise InvalidInput(
            "%s %r must be a plain file name without '/' (the files are written inside dest)" % (what, value)
        )
    return value


def path_inside(directory, *parts):
    """directory/parts..., refusing anything that would resolve outside `directory`."""
    base = os.path.realpath(directory)
    target = os.path.realpath(os.path.join(base, *parts))
    if target != base and not target.startswith(base + os.sep):
        raise InvalidInput("%s resolves outside %s" % (os.path.join(directory, *parts), directory))
    return target

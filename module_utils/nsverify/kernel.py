"""Kernel release parsing, version comparison and kernel config reading."""

from __future__ import annotations

import gzip
import os
import re
from collections import namedtuple

# Every real release string starts with MAJOR.MINOR, most with .PATCH; the rest is
# distribution decoration: "-25-amd64", "-362.8.1.el9_3.x86_64", "-fc-v657", "+".
_RELEASE_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(.*)$")

KernelRelease = namedtuple("KernelRelease", ["major", "minor", "patch", "suffix", "raw"])


def parse_release(release):
    """Parse a `uname -r` string; raise ValueError with the fix when it is not one."""
    if not isinstance(release, str) or not release.strip():
        raise ValueError("kernel release must be a non-empty string such as '6.1.0-25-amd64'")
    text = release.strip()
    m = _RELEASE_RE.match(text)
    if not m:
        raise ValueError(
            "malformed kernel release %r: expected MAJOR.MINOR[.PATCH][suffix] as printed by "
            "'uname -r', e.g. '4.19.0-25-amd64' or '5.14.0-362.8.1.el9_3.x86_64'" % release
        )
    suffix = m.group(4)
    if suffix and suffix[0] not in "-+_.~":
        raise ValueError(
            "malformed kernel release %r: after MAJOR.MINOR[.PATCH] expected '-', '+', '_' or "
            "'.' but found %r" % (release, suffix[0])
        )
    major, minor = int(m.group(1)), int(m.group(2))
    patch = int(m.group(3)) if m.group(3) is not None else 0
    if major < 2 or major > 99 or minor > 999 or patch > 99999:
        raise ValueError(
            "malformed kernel release %r: version %d.%d.%d is out of range" % (release, major, minor, patch)
        )
    return KernelRelease(major, minor, patch, suffix, text)


def version_tuple(release):
    """(major, minor, patch) of a KernelRelease or release string."""
    if isinstance(release, str):
        release = parse_release(release)
    return (release.major, release.minor, release.patch)


def at_least(release, version):
    """True when `release` (string or KernelRelease) is >= `version` (tuple)."""
    return version_tuple(release) >= tuple(version)


def running_release():
    return os.uname().release


_CONFIG_SET_RE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_CONFIG_UNSET_RE = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def parse_config(text):
    """Parse kernel .config text into {option: value}; unset options map to 'n'."""
    options = {}
    for line in text.splitlines():
        line = line.strip()
        m = _CONFIG_SET_RE.match(line)
        if m:
            options[m.group(1)] = m.group(2).strip('"')
            continue
        m = _CONFIG_UNSET_RE.match(line)
        if m:
            options[m.group(1)] = "n"
    return options


def config_sources(release, proc="/proc", boot="/boot"):
    """Candidate config files, most authoritative first."""
    return [os.path.join(proc, "config.gz"), os.path.join(boot, "config-%s" % release)]


def read_config(release=None, proc="/proc", boot="/boot"):
    """Return (path, {option: value}) of the first readable kernel config, or (None, {})."""
    release = release or running_release()
    for path in config_sources(release, proc, boot):
        try:
            if path.endswith(".gz"):
                with gzip.open(path, "rt", errors="replace") as fh:
                    text = fh.read()
            else:
                with open(path, errors="replace") as fh:
                    text = fh.read()
        except (OSError, EOFError):
            continue
        return path, parse_config(text)
    return None, {}


def config_line(options, option):
    """The config line as the kernel writes it, for evidence."""
    if option is None or option not in options:
        return None
    value = options[option]
    if value == "n":
        return "# %s is not set" % option
    return "%s=%s" % (option, value)

"""A named namespace's config: which types, and the options that fit them (validate room).

build_config() gives the normalized config that idempotence compares; errors raise
ValueError (validate.InvalidInput) naming the option and the fix.
"""

from __future__ import annotations

from ansible.module_utils.nsverify import catalog, kernel, syscalls, validate

NAME_MAX = validate.NAME_MAX

# Default map: root inside is uid/gid 100000 outside, 65536 ids, the range useradd(8)
# hands out first in /etc/subuid; above every id a Debian/RHEL account gets (< 65534,
# nobody = 65534), so no real user owns a file the namespace's root creates.
DEFAULT_ID_MAP = ({"inside": 0, "outside": 100000, "count": 65536},)

# Types whose namespace needs a living process, not just a bind mount.
HOLDER_TYPES = ("pid", "time")

PROPAGATIONS = {"private": syscalls.MS_PRIVATE, "slave": syscalls.MS_SLAVE}
DEFAULT_PROPAGATION = "private"  # as unshare(1) --mount does by default


class NamespaceError(Exception):
    """A failure with evidence for fail_json."""

    def __init__(self, msg, **evidence):
        Exception.__init__(self, msg)
        self.msg = msg
        self.evidence = evidence


class ConfigConflict(NamespaceError):
    pass


# ---------------------------------------------------------------- validation


def validate_name(name):
    """Return `name` or raise ValueError (validate.InvalidInput) saying what a valid name looks like."""
    return validate.name(name, "name", NAME_MAX)


def build_config(
    types,
    hostname=None,
    uid_map=None,
    gid_map=None,
    monotonic_offset=None,
    boottime_offset=None,
    propagation=None,
    release=None,
    clocks=None,
):
    """The normalized config of a named namespace, the thing idempotence compares.
    Raise ValueError for any option that does not fit the chosen types."""
    if not types:
        raise ValueError("types is empty: choose one or more of %s" % ", ".join(catalog.TYPE_NAMES))
    types = catalog.validate_names(types)
    problems = []
    if hostname is not None and "uts" not in types:
        problems.append("hostname needs 'uts' in types")
    if (uid_map or gid_map) and "user" not in types:
        problems.append("uid_map/gid_map need 'user' in types")
    if (monotonic_offset is not None or boottime_offset is not None) and "time" not in types:
        problems.append("monotonic_offset/boottime_offset need 'time' in types")
    if propagation is not None and "mnt" not in types:
        problems.append("mount_propagation needs 'mnt' in types")
    if problems:
        raise ValueError("; ".join(problems) + " (types: %s)" % ", ".join(types))
    config = {"types": types}
    if "uts" in types:
        config["hostname"] = None if hostname is None else validate.hostname(hostname)
    if "user" in types:
        config["uid_map"] = validate.id_map(uid_map or list(DEFAULT_ID_MAP), "uid_map", release)
        config["gid_map"] = validate.id_map(gid_map or uid_map or list(DEFAULT_ID_MAP), "gid_map", release)
    if "time" in types:
        clocks = clocks or validate.read_clocks()
        config["monotonic_offset"] = validate.time_offset(monotonic_offset or 0, "monotonic", clocks["monotonic"])
        config["boottime_offset"] = validate.time_offset(boottime_offset or 0, "boottime", clocks["boottime"])
    if "mnt" in types:
        propagation = propagation or DEFAULT_PROPAGATION
        if propagation not in PROPAGATIONS:
            raise ValueError("mount_propagation must be one of %s" % ", ".join(PROPAGATIONS))
        config["mount_propagation"] = propagation
    return config


def join_warnings(types, release=None):
    """Messages for types this kernel can create but not join with setns(2) (nsenter): a time
    namespace before 5.8, pid/mnt/user before 3.8 (setns(2), catalog.setns_since)."""
    release = release or kernel.running_release()
    out = []
    for t in catalog.validate_names(types):
        since = catalog.get(t).setns_since
        if not kernel.at_least(release, since):
            out.append(
                "kernel %s cannot join a %s namespace with setns(2) (needs %s): the named "
                "namespace is made, but nsenter --%s into it fails"
                % (release, t, catalog.version_string(since), catalog.get(t).unshare_option)
            )
    return out


def needs_holder(types):
    return any(t in HOLDER_TYPES for t in types)

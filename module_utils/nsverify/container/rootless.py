"""Callers without root: the container engine needs it (overlay and pivot_root in new mount namespaces without
a user namespace of the caller's, cgroups under /sys/fs/cgroup, veths, /run/nsverify and /var/lib/nsverify owned
by root). An unprivileged caller gets one clear `denied` naming what is missing, instead of a PermissionError on
/run/nsverify, an exec told a running container "is not running", or an absent told "cgroups still busy"."""

from __future__ import annotations

import os

from ansible.module_utils.nsverify import validate
from ansible.module_utils.nsverify.container import config, state


def denied(action, name):
    """The message for a non-root caller, or None for root."""
    if os.geteuid() == 0:
        return None
    return (
        "denied: %s of container %s needs root (uid 0 with CAP_SYS_ADMIN and CAP_NET_ADMIN: the container's "
        "state under /run/nsverify and /var/lib/nsverify is root's, its cgroups and veth are made by root); this "
        "task runs as uid %d: run it with become: true. Rootless containers (a user namespace of an unprivileged "
        "user, without the cgroup limits it may not set) are not supported yet" % (action, name, os.geteuid())
    )


def require_running(action, name):
    """The state of container `name` for an `action` that needs it running (exec, verify): the name
    validated, a non-root caller denied, a container that is not running refused, each with what to do."""
    try:
        validate.container_name(name)
    except validate.InvalidInput as exc:
        raise config.ContainerError(str(exc)) from None
    refused = denied(action, name)
    if refused:
        raise config.ContainerError(refused)
    st = state.status(name)
    if not st["running"]:
        raise config.ContainerError("container %s is not running: start it with busybox_container first" % name)
    return st
